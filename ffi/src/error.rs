//! Error codes: every function returns `0` or one of these, negated.
//!
//! The values are Linux's errno numbers, so a host program can compare them
//! with `-EAGAIN` directly; they are defined here (and in the header) so a
//! freestanding program needs no `<errno.h>`.
//!
//! | kipc-core error      | code                    |
//! |----------------------|-------------------------|
//! | `Full`, `Empty`      | `-KIPC_EAGAIN`          |
//! | `Uninitialized`      | `-KIPC_EAGAIN` (retry the attach) |
//! | `TooLarge`           | `-KIPC_EMSGSIZE`        |
//! | `RegionTooSmall`     | `-KIPC_ENOBUFS`         |
//! | `Misaligned`         | `-KIPC_EFAULT`          |
//! | `InvalidGeometry`    | `-KIPC_EINVAL`          |
//! | `BadLayout`          | `-KIPC_EPROTO`          |
//! | `Corrupt`            | `-KIPC_EBADMSG`         |
//! | `PeerDead`           | `-KIPC_EPIPE`           |
//! | `NoFreeLane`         | `-KIPC_EUSERS`          |
//! | `InUse`              | `-KIPC_EBUSY`           |

use core::ffi::{c_char, c_int};

/// Operation would block: the ring is full (push) or empty (pop), or the
/// region is not initialised yet (attach: retry shortly).
pub const KIPC_EAGAIN: c_int = 11;
/// Message larger than a slot (push), or larger than the buffer (pop: the
/// needed size is written to `*len`, the message stays queued).
pub const KIPC_EMSGSIZE: c_int = 90;
/// The memory given to init/attach is smaller than the layout needs.
pub const KIPC_ENOBUFS: c_int = 105;
/// A pointer argument is NULL or not aligned as the function requires.
pub const KIPC_EFAULT: c_int = 14;
/// A value argument is out of range (slot count not a power of two, ...).
pub const KIPC_EINVAL: c_int = 22;
/// The memory does not hold a kipc object of the expected kind and version.
pub const KIPC_EPROTO: c_int = 71;
/// The peer broke the protocol (an index or length out of range); treat the
/// ring as lost.
pub const KIPC_EBADMSG: c_int = 74;
/// The other side is marked dead and nothing is left to receive.
pub const KIPC_EPIPE: c_int = 32;
/// Every producer lane of an MPMC ring is taken.
pub const KIPC_EUSERS: c_int = 87;
/// The endpoint is already attached by another owner.
pub const KIPC_EBUSY: c_int = 16;
/// The handle was never attached, or was detached.
pub const KIPC_EBADF: c_int = 9;
/// A wait ran out of time.
pub const KIPC_ETIMEDOUT: c_int = 110;
/// The operation is not supported by this object or build.
pub const KIPC_ENOTSUP: c_int = 95;
/// Internal error: kipc panicked (a bug; please report it). The handle
/// should not be used again.
pub const KIPC_ENOTRECOVERABLE: c_int = 131;
/// Any other failure (a future kipc-core error this build does not know).
pub const KIPC_EIO: c_int = 5;
/// Host level: the object belongs to another user, or its mode lets other
/// users write it.
pub const KIPC_EACCES: c_int = 13;
/// No such thread (signal state) or process (host signals).
pub const KIPC_ESRCH: c_int = 3;
/// Host level: no object of that name.
pub const KIPC_ENOENT: c_int = 2;
/// Host level: an object of that name already exists.
pub const KIPC_EEXIST: c_int = 17;
/// Host level: a typed ring records another message type (size, alignment
/// or fingerprint) than the one asked for, or is untyped
/// (`kipc_ring_open_typed`). Linux's `EPROTOTYPE` ("wrong type").
pub const KIPC_ETYPE: c_int = 91;

/// An error on its way to C: always a negative code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Code(pub(crate) c_int);

impl Code {
    pub(crate) const FAULT: Code = Code(-KIPC_EFAULT);
    pub(crate) const BADF: Code = Code(-KIPC_EBADF);
    pub(crate) const MSGSIZE: Code = Code(-KIPC_EMSGSIZE);
}

impl From<kipc_core::Error> for Code {
    fn from(e: kipc_core::Error) -> Self {
        use kipc_core::Error as E;
        Code(-match e {
            E::Full | E::Empty | E::Uninitialized => KIPC_EAGAIN,
            E::TooLarge { .. } => KIPC_EMSGSIZE,
            E::RegionTooSmall { .. } => KIPC_ENOBUFS,
            E::Misaligned { .. } => KIPC_EFAULT,
            E::InvalidGeometry { .. } => KIPC_EINVAL,
            E::BadLayout { .. } => KIPC_EPROTO,
            E::Corrupt { .. } => KIPC_EBADMSG,
            E::PeerDead => KIPC_EPIPE,
            E::NoFreeLane => KIPC_EUSERS,
            E::InUse => KIPC_EBUSY,
            _ => KIPC_EIO,
        })
    }
}

/// A static, NUL-terminated description of an error code.
///
/// Accepts the code as returned (negative) or its absolute value; `0` is
/// "success"; unknown codes give "unknown error". The string is static: never
/// free it. Thread-safe; never fails.
#[no_mangle]
pub extern "C" fn kipc_strerror(code: c_int) -> *const c_char {
    let s: &'static core::ffi::CStr = match code.unsigned_abs() {
        0 => c"success",
        11 => c"would block: ring full or empty, or region not initialised yet",
        90 => c"message too large for the slot or the buffer",
        105 => c"memory region too small for the layout",
        14 => c"bad address: NULL or misaligned pointer",
        22 => c"invalid argument",
        71 => c"not a kipc object of the expected kind and layout version",
        74 => c"peer corrupted the shared region",
        32 => c"peer is dead",
        87 => c"every producer lane is taken",
        16 => c"endpoint already attached by another owner",
        9 => c"handle not attached (or detached)",
        110 => c"timed out",
        95 => c"operation not supported",
        131 => c"internal error in kipc (a bug)",
        5 => c"I/O or unknown kipc error",
        // Host-level system call failures pass the kernel's errno through.
        1 => c"operation not permitted",
        2 => c"no such object",
        12 => c"out of memory",
        13 => c"permission denied",
        3 => c"no such thread or process",
        17 => c"object already exists",
        36 => c"name too long",
        91 => c"message type does not match the one the ring records",
        _ => c"unknown error",
    };
    s.as_ptr()
}

/// The library version, a static NUL-terminated string such as `"0.1.0"`.
/// Thread-safe; never fails.
#[no_mangle]
pub extern "C" fn kipc_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ffi::CStr;

    fn text(code: c_int) -> &'static str {
        // SAFETY: kipc_strerror returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(kipc_strerror(code)) }
            .to_str()
            .unwrap()
    }

    #[test]
    fn strerror_accepts_negative_and_positive_codes() {
        assert_eq!(text(-KIPC_EAGAIN), text(KIPC_EAGAIN));
        assert_eq!(text(0), "success");
        assert_eq!(text(i32::MIN), "unknown error");
        assert_eq!(text(12345), "unknown error");
    }

    #[test]
    fn every_core_error_maps_to_a_distinct_named_code() {
        use kipc_core::Error as E;
        for e in [
            E::Full,
            E::TooLarge { len: 1, max: 0 },
            E::RegionTooSmall { needed: 1, got: 0 },
            E::Misaligned { align: 128 },
            E::InvalidGeometry { what: "" },
            E::BadLayout { what: "" },
            E::Corrupt { what: "" },
            E::PeerDead,
            E::NoFreeLane,
            E::InUse,
        ] {
            let Code(c) = Code::from(e);
            assert!(c < 0, "{e:?}");
            assert_ne!(text(c), "unknown error", "{e:?}");
        }
    }

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: kipc_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(kipc_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
