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
//! [`AsFd`](std::os::fd::AsFd), so it fits epoll, mio and tokio.
//!
//! Input from the peer (frame lengths, control messages, datagram sizes) is
//! checked and turned into an [`Error`], never a panic.
//!
//! # Errors
//!
//! Every function returns the crate's [`Result`]: failed system
//! calls are [`Error::Sys`], waits that run out of time
//! [`Error::Timeout`], and the socket-specific cases
//! have their own variants ([`Error::BadAddr`],
//! [`Error::InvalidFrame`],
//! [`Error::ControlTruncated`], ...).

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

use crate::{Error, Result};

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
    type Err = Error;

    /// Parses `stream`, `dgram` (or `datagram`) and `seqpacket`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "stream" => Ok(SocketKind::Stream),
            "dgram" | "datagram" => Ok(SocketKind::Datagram),
            "seqpacket" => Ok(SocketKind::Seqpacket),
            _ => Err(Error::BadAddr {
                input: s.to_string(),
                reason: "socket type must be stream, dgram or seqpacket",
            }),
        }
    }
}

/// `socket(family, kind | SOCK_CLOEXEC, 0)`.
pub(crate) fn new_socket(family: AddressFamily, kind: SocketKind, what: &str) -> Result<OwnedFd> {
    rustix::net::socket_with(family, kind.raw(), SocketFlags::CLOEXEC, None)
        .map_err(|e| Error::sys("socket", what, e))
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
                    return Err(Error::Timeout);
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
            Err(e) => return Err(Error::sys("poll", "socket", e)),
        }
    }
}

/// How a message operation waits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Do not wait: `EAGAIN` is returned as [`Error::Sys`] with
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
