//! The only place `libc` is used: system calls that rustix does not offer.
//!
//! Each function is a thin, typed wrapper that turns `-1`/`errno` into a
//! [`rustix::io::Errno`]; the safe layers above live in the public modules.
//!
//! Nothing here names a module above `sys`: where a call needs something
//! from above (the signal handler's recorder), it is handed down as a value.
#![allow(unsafe_code)]

pub(crate) mod mq;
pub(crate) mod ofd;
pub(crate) mod signal;
pub(crate) mod sock;
pub(crate) mod sysv;

use rustix::io::Errno;

/// The calling thread's `errno` as a rustix [`Errno`].
fn last_errno() -> Errno {
    let raw = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    Errno::from_raw_os_error(raw)
}
