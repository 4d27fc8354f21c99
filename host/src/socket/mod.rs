//! Sockets: Unix domain (path and Linux abstract namespace) and inet (TCP and
//! UDP over IPv4 and IPv6) behind one API, with what the raw calls make hard.
//!
//! - [`addr`]: [`Addr`], parsed from `unix:PATH`, `unix-abstract:NAME`,
//!   `tcp:HOST:PORT` and `udp:HOST:PORT` (IPv6 as `tcp:[::1]:PORT`);
//! - [`stream`]: [`StreamSocket`] (`Read`/`Write`, Unix or TCP);
//! - [`message`]: [`DatagramSocket`] (Unix or UDP) and [`SeqpacketSocket`]
//!   (Unix), messages with `try_`, blocking and `_timeout` forms, and
//!   [`socketpair`];
//! - [`unix`] and [`inet`]: what is particular to each address family
//!   (socket files, the abstract namespace, autobind; IPv6-only binding);
//! - [`server`]: [`Server`], bind + listen + accept with a bounded number of
//!   live connections and an optional uid allow-list;
//! - [`frame`]: [`FramedStream`], length-prefixed messages over a byte stream;
//! - [`fdpass`]: descriptor passing (`SCM_RIGHTS`) that never leaks, and
//!   handing a memfd-backed [`ShmRing`](crate::ring::ShmRing) to a peer;
//! - [`cred`]: peer credentials (`SO_PEERCRED`, `SCM_CREDENTIALS`).
//!
//! Every descriptor is an [`OwnedFd`] created with `SOCK_CLOEXEC`; received
//! descriptors are made `CLOEXEC` by `MSG_CMSG_CLOEXEC`. Every socket type is
//! [`AsFd`], so it fits epoll, mio and tokio.
//!
//! Input from the peer (frame lengths, control messages, datagram sizes) is
//! checked and turned into a [`SocketError`], never a panic.
//!
//! # Errors
//!
//! This module has its own [`SocketError`], which wraps the crate's
//! [`Error`](crate::Error) for failed system calls and adds the
//! socket-specific cases (bad address, bad frame, truncated control data).

pub mod addr;
pub mod cred;
pub mod fdpass;
pub mod frame;
pub mod inet;
pub mod message;
pub mod server;
pub mod stream;
pub mod unix;

use core::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

pub use addr::Addr;
pub use cred::{peer_credentials, recv_with_creds, set_pass_credentials, Cred};
pub use fdpass::{
    recv_ring, recv_ring_timeout, recv_with_fds, recv_with_fds_timeout, send_ring, send_with_fds,
    SCM_MAX_FD,
};
pub use frame::{FramedStream, DEFAULT_MAX_FRAME};
pub use message::{socketpair, DatagramSocket, SeqpacketSocket};
pub use server::{Connection, Server, ServerOptions};
pub use stream::StreamSocket;

use crate::Error;

/// A `Result` whose error is [`SocketError`].
pub type Result<T, E = SocketError> = core::result::Result<T, E>;

/// Everything that can go wrong with a kipc socket.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketError {
    /// A host error: a failed system call ([`Error::Sys`]), a bad argument, ...
    Host(Error),
    /// An address string could not be parsed.
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
        kind: SocketKind,
    },
    /// A frame header announced more than the maximum frame size; the stream
    /// is poisoned.
    InvalidFrame {
        /// The announced length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The peer closed the stream in the middle of a frame; the stream is
    /// poisoned.
    Truncated {
        /// Bytes the frame (header + payload) should have had.
        expected: usize,
        /// Bytes that arrived before end of file.
        got: usize,
    },
    /// An earlier framing error left the stream at an unknown position.
    Poisoned,
    /// A message did not fit the buffer and its tail was discarded
    /// (`MSG_TRUNC`); the buffer holds its first `capacity` bytes.
    MessageTruncated {
        /// The message's real length (where the kernel does not report it,
        /// as for [`recv_with_fds`], `capacity + 1`: "more than fits").
        len: usize,
        /// The buffer's length.
        capacity: usize,
    },
    /// The control data did not fit (`MSG_CTRUNC`), or more descriptors
    /// arrived than asked for; every descriptor that arrived was closed.
    ControlTruncated {
        /// Descriptors that arrived (and were closed).
        received: usize,
        /// The most the caller accepted.
        max: usize,
    },
    /// More descriptors than one message can carry.
    TooManyFds {
        /// Descriptors given.
        count: usize,
        /// The limit ([`SCM_MAX_FD`]).
        max: usize,
    },
    /// The peer sent something that is not what the protocol expects.
    Protocol(&'static str),
    /// A wait ran out of time.
    Timeout,
    /// An I/O error without an errno (from a `Read`/`Write` implementation
    /// that is not a socket).
    Io {
        /// Its kind.
        kind: std::io::ErrorKind,
        /// Its message.
        message: String,
    },
}

impl SocketError {
    /// A [`SocketError::Host`] wrapping [`Error::Sys`] for `call` on `object`.
    pub(crate) fn sys(call: &'static str, object: impl fmt::Display, errno: Errno) -> Self {
        SocketError::Host(Error::Sys {
            call,
            object: object.to_string(),
            errno,
        })
    }

    /// The kernel's errno, if this error is a failed system call.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            SocketError::Host(e) => e.errno(),
            _ => None,
        }
    }
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::Host(e) => fmt::Display::fmt(e, f),
            SocketError::BadAddr { input, reason } => {
                write!(f, "bad socket address {input:?}: {reason}")
            }
            SocketError::WrongKind { addr, kind } => {
                write!(f, "{addr}: {} sockets are not possible here", kind.name())
            }
            SocketError::InvalidFrame { len, max } => {
                write!(f, "frame of {len} bytes exceeds the {max}-byte maximum")
            }
            SocketError::Truncated { expected, got } => write!(
                f,
                "peer closed mid-frame: got {got} of {expected} bytes"
            ),
            SocketError::Poisoned => {
                f.write_str("stream is poisoned by an earlier framing error")
            }
            SocketError::MessageTruncated { len, capacity } => write!(
                f,
                "message of {len} bytes truncated to the {capacity}-byte buffer"
            ),
            SocketError::ControlTruncated { received, max } => write!(
                f,
                "control data truncated ({received} descriptors arrived, at most {max} wanted; all closed)"
            ),
            SocketError::TooManyFds { count, max } => {
                write!(f, "{count} descriptors exceed the limit of {max}")
            }
            SocketError::Protocol(what) => write!(f, "protocol error: {what}"),
            SocketError::Timeout => f.write_str("timed out"),
            SocketError::Io { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for SocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SocketError::Host(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for SocketError {
    fn from(e: Error) -> Self {
        match e {
            Error::Timeout => SocketError::Timeout,
            other => SocketError::Host(other),
        }
    }
}

impl From<std::io::Error> for SocketError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => return SocketError::Timeout,
            _ => {}
        }
        match e.raw_os_error() {
            Some(raw) => SocketError::sys("i/o", "stream", Errno::from_raw_os_error(raw)),
            None => SocketError::Io {
                kind: e.kind(),
                message: e.to_string(),
            },
        }
    }
}

impl From<SocketError> for std::io::Error {
    fn from(e: SocketError) -> Self {
        use std::io::ErrorKind;
        let kind = match &e {
            SocketError::Host(h) => match h.errno() {
                Some(errno) => errno.kind(),
                None => ErrorKind::Other,
            },
            SocketError::Timeout => ErrorKind::TimedOut,
            SocketError::Truncated { .. } => ErrorKind::UnexpectedEof,
            SocketError::Io { kind, .. } => *kind,
            SocketError::BadAddr { .. }
            | SocketError::WrongKind { .. }
            | SocketError::TooManyFds { .. } => ErrorKind::InvalidInput,
            _ => ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, e)
    }
}

/// The socket types kipc offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// `SOCK_STREAM`: a reliable byte stream (Unix or TCP).
    Stream,
    /// `SOCK_DGRAM`: unreliable (for UDP), bounded messages (Unix or UDP).
    Datagram,
    /// `SOCK_SEQPACKET`: reliable, ordered, connected messages (Unix only).
    Seqpacket,
}

impl SocketKind {
    /// The short name used on the command line: `stream`, `dgram`, `seqpacket`.
    pub fn name(self) -> &'static str {
        match self {
            SocketKind::Stream => "stream",
            SocketKind::Datagram => "dgram",
            SocketKind::Seqpacket => "seqpacket",
        }
    }

    pub(crate) fn raw(self) -> SocketType {
        match self {
            SocketKind::Stream => SocketType::STREAM,
            SocketKind::Datagram => SocketType::DGRAM,
            SocketKind::Seqpacket => SocketType::SEQPACKET,
        }
    }
}

impl fmt::Display for SocketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for SocketKind {
    type Err = SocketError;

    /// Parses `stream`, `dgram` (or `datagram`) and `seqpacket`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "stream" => Ok(SocketKind::Stream),
            "dgram" | "datagram" => Ok(SocketKind::Datagram),
            "seqpacket" => Ok(SocketKind::Seqpacket),
            _ => Err(SocketError::BadAddr {
                input: s.to_string(),
                reason: "socket type must be stream, dgram or seqpacket",
            }),
        }
    }
}

/// `socket(family, kind | SOCK_CLOEXEC, 0)`.
pub(crate) fn new_socket(family: AddressFamily, kind: SocketKind, what: &str) -> Result<OwnedFd> {
    rustix::net::socket_with(family, kind.raw(), SocketFlags::CLOEXEC, None)
        .map_err(|e| SocketError::sys("socket", what, e))
}

/// A deadline `timeout` from now (`None` if it does not fit an `Instant`,
/// which then means "wait forever").
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Waits until `fd` has one of `events` (or an error/hang-up), or until
/// `deadline` passes (`Err(Timeout)`); `None` waits forever. `EINTR` restarts.
pub(crate) fn wait_for(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    deadline: Option<Instant>,
) -> Result<()> {
    loop {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(SocketError::Timeout);
                }
                Some(
                    rustix::time::Timespec::try_from(left).unwrap_or(rustix::time::Timespec {
                        tv_sec: i64::MAX,
                        tv_nsec: 0,
                    }),
                )
            }
        };
        let mut fds = [PollFd::new(&fd, events)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(0) => continue, // re-check the deadline
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(SocketError::sys("poll", "socket", e)),
        }
    }
}

/// How a message operation waits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Do not wait: `EAGAIN` is returned as [`SocketError::Host`] with
    /// `Errno::AGAIN`.
    Never,
    /// Block until done.
    Forever,
    /// Wait until the instant.
    Until(Instant),
}

impl Wait {
    pub(crate) fn timeout(t: Duration) -> Self {
        match deadline(t) {
            Some(d) => Wait::Until(d),
            None => Wait::Forever,
        }
    }
}

/// Runs `op` (a non-blocking attempt) under the waiting policy `wait`:
/// `Never` returns `EAGAIN` as is; the others poll `fd` for `events` and retry.
pub(crate) fn with_wait<T>(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    wait: Wait,
    mut op: impl FnMut() -> Result<T>,
) -> Result<T> {
    loop {
        match op() {
            Err(e) if e.errno() == Some(Errno::AGAIN) => match wait {
                Wait::Never => return Err(e),
                Wait::Forever => wait_for(fd, events, None)?,
                Wait::Until(d) => wait_for(fd, events, Some(d))?,
            },
            Err(e) if e.errno() == Some(Errno::INTR) => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests;
