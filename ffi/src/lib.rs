//! # kipc-ffi: the C ABI of kipc
//!
//! Two levels, one header (`ffi/include/kipc.h`, generated from this crate by
//! cbindgen; see `ffi/tests/header.rs`):
//!
//! - **core level, no OS**: SPSC and MPMC rings and mailboxes laid over
//!   memory the caller owns (a static array, a kernel page, a shared
//!   mapping), and the POSIX signal state machine. Handles live in
//!   caller-provided storage (`kipc_spsc_producer_t`, ...), so nothing here
//!   allocates. With the default `host` feature off this crate is `#![no_std]`
//!   and builds as a freestanding static library.
//! - **host level** (feature `host`, default): Linux objects from kipc-host:
//!   named and memfd rings (`kipc_ring_*`; typed rings, whose header records
//!   the message type, with `kipc_ring_create_typed`/`kipc_ring_open_typed`),
//!   named mailboxes (`kipc_mbox_create`, ...), real signals
//!   (`kipc_signals_*`).
//!
//! # Conventions (all functions)
//!
//! - Every function returns `0` on success or a negative `KIPC_E*` code (the
//!   Linux errno values, defined in the header so freestanding C needs no
//!   `<errno.h>`); [`kipc_strerror`] names it. Results come back through
//!   out-pointers.
//! - A NULL or misaligned pointer gives `-KIPC_EFAULT`, a handle that was never
//!   attached (or was detached) `-KIPC_EBADF`, a bad value `-KIPC_EINVAL`:
//!   never undefined behaviour, as long as pointers that are non-NULL point to
//!   memory of the size the call documents.
//! - No panic crosses the boundary: with `host`, every body runs under
//!   `catch_unwind` and a panic becomes `-KIPC_ENOTRECOVERABLE`; without it the
//!   bodies are written not to panic (and the panic handler, which would be a
//!   kipc bug, spins).
//! - No function keeps a pointer the caller passed after it returns, except
//!   the ring memory given to an `attach` (used until `detach`) and the handle
//!   storage itself.
//! - Handle storage holds no pointer into itself: attached storage may be
//!   moved with `memcpy` (use only the new copy afterwards). Core-level
//!   SPSC handles claim their side in the ring, so of two copies the one
//!   left behind is refused (`-KIPC_EBUSY`) once the other detaches. Using
//!   storage that was never zeroed or attached is undefined, as in C.
//!
//! # Examples
//!
//! The functions are plain `extern "C"` items, callable from Rust too. An
//! SPSC ring over memory the caller owns, as a C program (or a kernel) would
//! use it:
//!
//! ```
//! use core::ffi::{c_void, CStr};
//! use kipc_ffi::*;
//!
//! #[repr(C, align(128))]
//! struct Mem([u8; 4096]);
//! let mut mem = Mem([0; 4096]);
//! let (base, len) = (mem.0.as_mut_ptr().cast::<c_void>(), mem.0.len());
//! // SAFETY (every call below): the pointers are valid for the sizes given,
//! // `mem` outlives the handles, and the handle storage is zeroed as C's
//! // `= {0}` would be (every bit pattern is valid storage).
//! unsafe {
//!     let mut needed = 0usize;
//!     assert_eq!(kipc_spsc_region_size(8, 64, &mut needed), 0);
//!     assert!(needed <= len);
//!     assert_eq!(kipc_spsc_init(base, len, 8, 64), 0);
//!     let mut tx: kipc_spsc_producer_t = core::mem::zeroed();
//!     let mut rx: kipc_spsc_consumer_t = core::mem::zeroed();
//!     assert_eq!(kipc_spsc_producer_attach(&mut tx, base, len), 0);
//!     assert_eq!(kipc_spsc_consumer_attach(&mut rx, base, len), 0);
//!
//!     assert_eq!(kipc_spsc_try_push(&mut tx, b"hi".as_ptr().cast(), 2), 0);
//!     let (mut buf, mut n) = ([0u8; 64], 0usize);
//!     assert_eq!(kipc_spsc_try_pop(&mut rx, buf.as_mut_ptr().cast(), 64, &mut n), 0);
//!     assert_eq!(&buf[..n], b"hi");
//!
//!     // Errors are negative codes that kipc_strerror names.
//!     let rc = kipc_spsc_try_pop(&mut rx, buf.as_mut_ptr().cast(), 64, &mut n);
//!     assert_eq!(rc, -KIPC_EAGAIN);
//!     let text = CStr::from_ptr(kipc_strerror(rc)).to_str().unwrap();
//!     assert!(text.starts_with("would block"));
//!
//!     assert_eq!(kipc_spsc_producer_detach(&mut tx), 0);
//!     assert_eq!(kipc_spsc_consumer_detach(&mut rx), 0);
//! }
//! ```
#![cfg_attr(not(feature = "host"), no_std)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]
// Library code handles every error; tests may unwrap (clippy.toml allows it
// in `#[cfg(test)]` code).
#![deny(clippy::unwrap_used, clippy::expect_used)]
// The C names (`kipc_spsc_producer_t`) are the API; they are spelled the C way
// in Rust too so that the header and the source can be grepped together.
#![allow(non_camel_case_types)]

mod boundary;
pub mod doorbell;
pub mod error;
pub mod mailbox;
#[cfg(feature = "host")]
pub mod mailbox_host;
pub mod mpmc;
#[cfg(feature = "host")]
pub mod ring;
#[cfg(feature = "host")]
pub mod signals;
pub mod sigstate;
pub mod spsc;
#[cfg(feature = "host")]
pub mod typed;
#[cfg(feature = "host")]
mod wake;

pub use doorbell::*;
pub use error::*;
pub use mailbox::*;
#[cfg(feature = "host")]
pub use mailbox_host::*;
pub use mpmc::*;
#[cfg(feature = "host")]
pub use ring::*;
#[cfg(feature = "host")]
pub use signals::*;
pub use sigstate::*;
pub use spsc::*;
#[cfg(feature = "host")]
pub use typed::*;

// Version macros. cbindgen copies these literals into kipc.h (it cannot
// expand `env!`); the assertions below fail the build when they differ from
// the crate version in Cargo.toml, so the header cannot drift either (the
// header test then asks for a regeneration).

/// The major version of the kipc.h a program was compiled with; compare
/// `KIPC_VERSION_MAJOR.MINOR.PATCH` with the string kipc_version() returns
/// to check the library loaded at run time.
pub const KIPC_VERSION_MAJOR: u32 = 0;
/// The minor version of the kipc.h a program was compiled with. While the
/// major version is 0 a new minor version may change the ABI (Cargo's semver
/// rules), so the shared library's soname carries it: libkipc.so.0.MINOR.
pub const KIPC_VERSION_MINOR: u32 = 1;
/// The patch version of the kipc.h a program was compiled with.
pub const KIPC_VERSION_PATCH: u32 = 0;

/// A decimal version component at compile time (`"12"` -> 12); anything
/// else fails the build.
const fn version_part(s: &str) -> u32 {
    let bytes = s.as_bytes();
    assert!(!bytes.is_empty(), "empty version component");
    let mut n: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let d = bytes[i];
        assert!(d.is_ascii_digit(), "version component is not a number");
        n = n * 10 + (d - b'0') as u32;
        i += 1;
    }
    n
}

const _: () = assert!(
    KIPC_VERSION_MAJOR == version_part(env!("CARGO_PKG_VERSION_MAJOR")),
    "KIPC_VERSION_MAJOR differs from Cargo.toml's version: update it"
);
const _: () = assert!(
    KIPC_VERSION_MINOR == version_part(env!("CARGO_PKG_VERSION_MINOR")),
    "KIPC_VERSION_MINOR differs from Cargo.toml's version: update it"
);
const _: () = assert!(
    KIPC_VERSION_PATCH == version_part(env!("CARGO_PKG_VERSION_PATCH")),
    "KIPC_VERSION_PATCH differs from Cargo.toml's version: update it"
);

/// Without std there is no unwinding runtime to catch a panic: a panic here
/// is a kipc bug (the bodies are written not to panic), and spinning is the
/// only thing a freestanding library can do that never returns garbage. Not
/// compiled into test builds, which link std.
#[cfg(all(not(feature = "host"), not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
