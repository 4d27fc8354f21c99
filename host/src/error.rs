//! The crate's error type.
//!
//! Every variant that concerns an object names it, so `Display` prints one
//! line saying which object failed and why, e.g.
//! `shm segment "jobs": mode 0666 is group- or world-writable`.

use core::fmt;

use rustix::io::Errno;

/// A `Result` whose error is the host [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in kipc-host.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The queue has no room for the message now.
    Full,
    /// The queue holds no message now.
    Empty,
    /// The side, lane or record asked for is held by a live owner (or this
    /// handle's claim was taken over since it was made).
    Busy,
    /// A message is longer than the object accepts, or than the buffer given
    /// for it (the message then stays queued).
    TooLarge {
        /// Length of the message in bytes.
        len: usize,
        /// Largest length accepted.
        max: usize,
    },
    /// A peer wrote something the protocol cannot produce (an index out of
    /// range, a length larger than its slot, ...). A bad message is consumed,
    /// so the next call goes on.
    Corrupt {
        /// Which check failed.
        what: &'static str,
    },
    /// Any other error from the no_std core: a region whose layout or
    /// geometry is unusable (`BadLayout`, `InvalidGeometry`,
    /// `RegionTooSmall`, `Misaligned`).
    Core(kipc_core::Error),
    /// A system call failed.
    Sys {
        /// The call that failed (`"shm_open"`, `"mmap"`, ...).
        call: &'static str,
        /// The object it was about (`shm segment "jobs"`), or empty.
        object: String,
        /// What the kernel said.
        errno: Errno,
    },
    /// A kipc object name is unusable.
    InvalidName {
        /// The rejected name (lossily printable).
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An argument other than a name is unusable (a zero size, a bad pid, ...).
    InvalidArgument {
        /// The object the argument was for.
        object: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The object exists but belongs to another user.
    NotOwner {
        /// The object.
        object: String,
        /// Its owner's uid.
        owner: u32,
        /// Our effective uid.
        euid: u32,
    },
    /// The object's permission bits let other users write it.
    BadMode {
        /// The object.
        object: String,
        /// Its permission bits (`st_mode & 0o7777`).
        mode: u32,
    },
    /// The object is smaller than needed.
    SizeMismatch {
        /// The object.
        object: String,
        /// The size needed, in bytes (a minimum).
        expected: u64,
        /// The size found, in bytes.
        actual: u64,
    },
    /// A memfd received from a peer lacks the seals that make mapping it safe.
    NotSealed {
        /// The object.
        object: String,
        /// The seals it has (`F_SEAL_*` bits).
        seals: u32,
    },
    /// A byte range falls outside a segment.
    OutOfRange {
        /// The object.
        object: String,
        /// Start of the requested range.
        offset: usize,
        /// Length of the requested range.
        len: usize,
        /// The segment's size.
        size: usize,
    },
    /// A typed queue holds another message type than the one asked for
    /// (`open_typed`, `send_value`, `recv_value`; see `crate::typed`), or a
    /// received message's length is not the type's size. Nothing was sent,
    /// and nothing was reinterpreted (a message of the wrong length was
    /// consumed).
    TypeMismatch {
        /// The type the caller asked for.
        expected: kipc_core::region::TypeTag,
        /// What the queue's header records, or (for a received message of
        /// the wrong length) its length as `size` with `align` and
        /// `fingerprint` 0.
        found: kipc_core::region::TypeTag,
    },
    /// A wait ran out of time.
    Timeout,
    /// The peer process we were waiting on has exited.
    PeerDead,
    /// The object exists but its creator has not finished initialising it.
    NotReady,
    /// A lock is held by someone else (an advisory file lock, a pid lock
    /// file whose owner is alive).
    Locked {
        /// The object (`lock file /run/x.pid`).
        object: String,
        /// The holder's pid, when known.
        holder: Option<i32>,
    },
    /// A socket address string could not be parsed or used.
    BadAddr {
        /// The rejected input.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The socket type does not fit the address (`tcp:` with datagrams, ...).
    WrongKind {
        /// The address.
        addr: String,
        /// The requested kind.
        kind: crate::socket::SocketKind,
    },
    /// A frame header announced more than the maximum frame size; the framed
    /// stream is poisoned.
    InvalidFrame {
        /// The announced length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The peer closed a framed stream in the middle of a frame; the stream
    /// is poisoned.
    FrameTruncated {
        /// Bytes the frame (header + payload) should have had.
        expected: usize,
        /// Bytes that arrived before end of file.
        got: usize,
    },
    /// An earlier framing error left a framed stream at an unknown position.
    Poisoned,
    /// A socket message did not fit the buffer and its tail was discarded
    /// (`MSG_TRUNC`); the buffer holds its first `capacity` bytes.
    MessageTruncated {
        /// The message's real length (where the kernel does not report it,
        /// as for [`recv_with_fds`](crate::socket::recv_with_fds),
        /// `capacity + 1`: "more than fits").
        len: usize,
        /// The buffer's length.
        capacity: usize,
    },
    /// A socket message's control data did not fit (`MSG_CTRUNC`), or more
    /// descriptors arrived than asked for; every descriptor that arrived was
    /// closed.
    ControlTruncated {
        /// Descriptors that arrived (and were closed).
        received: usize,
        /// The most the caller accepted.
        max: usize,
    },
    /// More descriptors than one socket message can carry.
    TooManyFds {
        /// Descriptors given.
        count: usize,
        /// The limit ([`SCM_MAX_FD`](crate::socket::SCM_MAX_FD)).
        max: usize,
    },
    /// A socket peer sent something that is not what the protocol expects.
    Protocol(&'static str),
    /// An I/O error without an errno (from a `Read`/`Write` implementation
    /// that is not a socket).
    Io {
        /// Its kind.
        kind: std::io::ErrorKind,
        /// Its message.
        message: String,
    },
}

impl Error {
    /// A [`Error::Sys`] for `call` on `object`.
    pub(crate) fn sys(call: &'static str, object: impl fmt::Display, errno: Errno) -> Self {
        Error::Sys {
            call,
            object: object.to_string(),
            errno,
        }
    }

    /// The kernel's errno, if this error is a failed system call.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full => f.write_str("queue is full"),
            Error::Empty => f.write_str("queue is empty"),
            Error::Busy => f.write_str("held by another live owner"),
            Error::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the maximum of {max}")
            }
            Error::Corrupt { what } => write!(f, "peer corrupted the region: {what}"),
            Error::Core(e) => fmt::Display::fmt(e, f),
            Error::Sys {
                call,
                object,
                errno,
            } => {
                if object.is_empty() {
                    write!(f, "{call} failed: {errno}")
                } else {
                    write!(f, "{object}: {call} failed: {errno}")
                }
            }
            Error::InvalidName { name, reason } => {
                write!(f, "invalid kipc name {name:?}: {reason}")
            }
            Error::InvalidArgument { object, reason } => write!(f, "{object}: {reason}"),
            Error::NotOwner {
                object,
                owner,
                euid,
            } => write!(f, "{object}: owned by uid {owner}, not by us (uid {euid})"),
            Error::BadMode { object, mode } => {
                write!(f, "{object}: mode {mode:04o} is group- or world-writable")
            }
            Error::SizeMismatch {
                object,
                expected,
                actual,
            } => write!(
                f,
                "{object}: size is {actual} bytes, need at least {expected}"
            ),
            Error::NotSealed { object, seals } => write!(
                f,
                "{object}: memfd lacks F_SEAL_SHRINK|F_SEAL_GROW (seals {seals:#x})"
            ),
            Error::OutOfRange {
                object,
                offset,
                len,
                size,
            } => write!(
                f,
                "{object}: range {offset}+{len} lies outside its {size} bytes"
            ),
            Error::TypeMismatch { expected, found } => {
                f.write_str("message type mismatch: expected ")?;
                describe_type(f, expected)?;
                f.write_str(", found ")?;
                describe_type(f, found)
            }
            Error::Timeout => f.write_str("timed out"),
            Error::PeerDead => f.write_str("peer process is dead"),
            Error::NotReady => f.write_str("object is not initialised yet"),
            Error::Locked {
                object,
                holder: Some(pid),
            } => write!(f, "{object}: locked by pid {pid}"),
            Error::Locked {
                object,
                holder: None,
            } => write!(f, "{object}: locked by another holder"),
            Error::BadAddr { input, reason } => {
                write!(f, "bad socket address {input:?}: {reason}")
            }
            Error::WrongKind { addr, kind } => {
                write!(f, "{addr}: {} sockets are not possible here", kind.name())
            }
            Error::InvalidFrame { len, max } => write!(
                f,
                "framed stream: frame of {len} bytes exceeds the {max}-byte maximum"
            ),
            Error::FrameTruncated { expected, got } => write!(
                f,
                "framed stream: peer closed mid-frame: got {got} of {expected} bytes"
            ),
            Error::Poisoned => {
                f.write_str("framed stream: poisoned by an earlier framing error")
            }
            Error::MessageTruncated { len, capacity } => write!(
                f,
                "socket message of {len} bytes truncated to the {capacity}-byte buffer"
            ),
            Error::ControlTruncated { received, max } => write!(
                f,
                "socket control data truncated ({received} descriptors arrived, at most {max} wanted; all closed)"
            ),
            Error::TooManyFds { count, max } => {
                write!(f, "socket message: {count} descriptors exceed the limit of {max}")
            }
            Error::Protocol(what) => write!(f, "socket peer: protocol error: {what}"),
            Error::Io { message, .. } => write!(f, "i/o: {message}"),
        }
    }
}

/// `TypeMismatch`'s words for one side: untyped bytes, a bare message
/// length, or a type's size, alignment and fingerprint.
fn describe_type(f: &mut fmt::Formatter<'_>, t: &kipc_core::region::TypeTag) -> fmt::Result {
    if !t.is_typed() {
        f.write_str("untyped bytes")
    } else if t.align == 0 {
        write!(f, "a message of {} bytes", t.size)
    } else {
        write!(
            f,
            "a {}-byte type (align {}, fingerprint {:#018x})",
            t.size, t.align, t.fingerprint
        )
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Core(e) => Some(e),
            Error::Sys { errno, .. } => Some(errno),
            _ => None,
        }
    }
}

/// The one place where core errors become host errors: the outcomes a user
/// acts on get their own variants, layout problems stay [`Error::Core`].
impl From<kipc_core::Error> for Error {
    fn from(e: kipc_core::Error) -> Self {
        use kipc_core::Error as E;
        match e {
            E::Full => Error::Full,
            E::Empty => Error::Empty,
            E::InUse | E::NoFreeLane => Error::Busy,
            E::PeerDead => Error::PeerDead,
            E::TooLarge { len, max } => Error::TooLarge { len, max },
            E::Corrupt { what } => Error::Corrupt { what },
            E::Uninitialized => Error::NotReady,
            other => Error::Core(other),
        }
    }
}

impl From<Errno> for Error {
    fn from(errno: Errno) -> Self {
        Error::Sys {
            call: "system call",
            object: String::new(),
            errno,
        }
    }
}

impl From<std::io::Error> for Error {
    /// `WouldBlock` and `TimedOut` become [`Error::Timeout`], errors with an
    /// errno [`Error::Sys`], the rest [`Error::Io`].
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => return Error::Timeout,
            _ => {}
        }
        match e.raw_os_error() {
            Some(raw) => Error::sys("i/o", "stream", Errno::from_raw_os_error(raw)),
            None => Error::Io {
                kind: e.kind(),
                message: e.to_string(),
            },
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        use std::io::ErrorKind;
        let kind = match &e {
            Error::Sys { errno, .. } => errno.kind(),
            Error::Timeout => ErrorKind::TimedOut,
            Error::Locked { .. } | Error::Full | Error::Empty => ErrorKind::WouldBlock,
            Error::Busy => ErrorKind::AddrInUse,
            Error::PeerDead => ErrorKind::BrokenPipe,
            Error::NotOwner { .. } | Error::BadMode { .. } => ErrorKind::PermissionDenied,
            Error::FrameTruncated { .. } => ErrorKind::UnexpectedEof,
            Error::Io { kind, .. } => *kind,
            Error::InvalidName { .. }
            | Error::InvalidArgument { .. }
            | Error::OutOfRange { .. }
            | Error::BadAddr { .. }
            | Error::WrongKind { .. }
            | Error::TooManyFds { .. }
            | Error::TypeMismatch { .. } => ErrorKind::InvalidInput,
            _ => ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_object_and_cause_on_one_line() {
        let e = Error::sys("shm_open", "shm segment \"x\"", Errno::EXIST);
        let s = e.to_string();
        assert!(s.starts_with("shm segment \"x\": shm_open failed"), "{s}");
        assert!(!s.contains('\n'));
        let e = Error::BadMode {
            object: "o".into(),
            mode: 0o666,
        };
        assert_eq!(e.to_string(), "o: mode 0666 is group- or world-writable");
    }

    #[test]
    fn core_errors_map_to_flat_variants_in_one_place() {
        assert_eq!(
            Error::from(kipc_core::Error::Uninitialized),
            Error::NotReady
        );
        assert_eq!(Error::from(kipc_core::Error::Full), Error::Full);
        assert_eq!(Error::from(kipc_core::Error::NoFreeLane), Error::Busy);
        assert_eq!(Error::from(kipc_core::Error::InUse), Error::Busy);
        assert_eq!(Error::from(kipc_core::Error::PeerDead), Error::PeerDead);
        assert_eq!(
            Error::from(kipc_core::Error::Corrupt { what: "x" }),
            Error::Corrupt { what: "x" }
        );
        let layout = kipc_core::Error::BadLayout { what: "y" };
        assert_eq!(Error::from(layout), Error::Core(layout));
    }

    #[test]
    fn type_mismatch_names_both_types() {
        use kipc_core::region::TypeTag;
        let e = Error::TypeMismatch {
            expected: TypeTag::new(16, 8, 0xab),
            found: TypeTag::UNTYPED,
        };
        assert_eq!(
            e.to_string(),
            "message type mismatch: expected a 16-byte type (align 8, fingerprint \
             0x00000000000000ab), found untyped bytes"
        );
        let e = Error::TypeMismatch {
            expected: TypeTag::new(16, 8, 0xab),
            found: TypeTag::new(3, 0, 0),
        };
        assert!(e.to_string().ends_with("found a message of 3 bytes"), "{e}");
        let io: std::io::Error = e.into();
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    }

    #[test]
    fn errno_is_recoverable_from_sys_errors() {
        assert_eq!(Error::from(Errno::NOENT).errno(), Some(Errno::NOENT));
        assert_eq!(Error::Timeout.errno(), None);
    }

    #[test]
    fn io_errors_round_trip_with_sensible_kinds() {
        use std::io::ErrorKind;
        let kind = |e: Error| std::io::Error::from(e).kind();
        assert_eq!(kind(Error::Timeout), ErrorKind::TimedOut);
        assert_eq!(
            kind(Error::FrameTruncated {
                expected: 8,
                got: 3
            }),
            ErrorKind::UnexpectedEof
        );
        assert_eq!(kind(Error::Poisoned), ErrorKind::InvalidData);
        assert_eq!(kind(Error::from(Errno::PIPE)), ErrorKind::BrokenPipe);
        let e = std::io::Error::from(ErrorKind::TimedOut);
        assert_eq!(Error::from(e), Error::Timeout);
        let e = std::io::Error::from_raw_os_error(Errno::CONNRESET.raw_os_error());
        assert_eq!(Error::from(e).errno(), Some(Errno::CONNRESET));
        let e = std::io::Error::other("boom");
        assert!(matches!(
            Error::from(e),
            Error::Io {
                kind: ErrorKind::Other,
                ..
            }
        ));
    }
}
