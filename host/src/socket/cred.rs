//! Peer credentials: who is on the other end of a Unix socket.
//!
//! - connected stream and seqpacket sockets: `SO_PEERCRED` gives the peer's
//!   pid, uid and gid as of `connect` (or `socketpair`);
//! - datagram sockets: with `SO_PASSCRED` set on the receiver, the kernel
//!   attaches the sender's credentials (`SCM_CREDENTIALS`) to each datagram.
//!
//! The kernel vouches for these values: a process can only claim its own
//! pid and ids (root may claim others). A pid the reader cannot see (another
//! pid namespace) is reported as 0.

use std::os::fd::AsFd;

use rustix::io::Errno;
use rustix::net::AddressFamily;

use crate::sys::sock::{self, RawCred};
use crate::{Error, Result};

/// A peer process's identity as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cred {
    /// Process id (0 if the peer's pid is not visible in our pid namespace).
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl From<RawCred> for Cred {
    fn from(c: RawCred) -> Self {
        Self {
            pid: c.pid,
            uid: c.uid,
            gid: c.gid,
        }
    }
}

fn require_unix(fd: impl AsFd, call: &'static str) -> Result<()> {
    let a = rustix::net::getsockname(fd.as_fd()).map_err(|e| Error::sys("getsockname", call, e))?;
    if a.address_family() == AddressFamily::UNIX {
        Ok(())
    } else {
        Err(Error::sys(
            call,
            "inet socket (Unix sockets only)",
            Errno::OPNOTSUPP,
        ))
    }
}

/// `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)`: the credentials of the process
/// that connected (or created the socketpair) at the other end.
///
/// # Errors
///
/// [`Error::Sys`] with `EOPNOTSUPP` for a non-Unix socket, `ENOTCONN`
/// for an unconnected one, or another errno from `getsockopt`.
///
/// # Examples
///
/// ```
/// use kipc_host::socket::{peer_credentials, StreamSocket};
/// let (a, _b) = StreamSocket::pair()?;
/// let c = peer_credentials(&a)?;
/// assert_eq!(c.pid, std::process::id() as i32);
/// # Ok::<(), kipc_host::Error>(())
/// ```
pub fn peer_credentials(sock: impl AsFd) -> Result<Cred> {
    let fd = sock.as_fd();
    require_unix(fd, "getsockopt(SO_PEERCRED)")?;
    let c =
        sock::peercred(fd).map_err(|e| Error::sys("getsockopt(SO_PEERCRED)", "unix socket", e))?;
    // An unconnected socket reports pid 0 and uid/gid -1: no peer.
    if c.pid == 0 && c.uid == u32::MAX && c.gid == u32::MAX {
        return Err(Error::sys(
            "getsockopt(SO_PEERCRED)",
            "unix socket",
            Errno::NOTCONN,
        ));
    }
    Ok(c.into())
}

/// `setsockopt(SO_PASSCRED, on)`: with it, every datagram received carries
/// its sender's credentials (see [`recv_with_creds`]). Set it before the
/// peer sends.
///
/// # Errors
///
/// [`Error::Sys`] from `setsockopt`.
pub fn set_pass_credentials(sock: impl AsFd, on: bool) -> Result<()> {
    rustix::net::sockopt::set_socket_passcred(sock.as_fd(), on)
        .map_err(|e| Error::sys("setsockopt(SO_PASSCRED)", "unix socket", e))
}

/// `recvmsg` keeping `SCM_CREDENTIALS`: one message and the credentials the
/// kernel attached to it (`None` if `SO_PASSCRED` was off when it was sent).
/// Blocks according to the socket's mode. Descriptors sent along are closed.
///
/// # Errors
///
/// [`Error::MessageTruncated`] if the message was longer than `buf`;
/// [`Error::Sys`] from `recvmsg`.
///
/// # Examples
///
/// ```
/// use kipc_host::socket::{recv_with_creds, set_pass_credentials, DatagramSocket};
/// let (a, b) = DatagramSocket::pair()?;
/// set_pass_credentials(&b, true)?;
/// a.send(b"who")?;
/// let mut buf = [0; 8];
/// let (n, cred) = recv_with_creds(&b, &mut buf)?;
/// assert_eq!(n, 3);
/// assert_eq!(cred.unwrap().pid, std::process::id() as i32);
/// # Ok::<(), kipc_host::Error>(())
/// ```
pub fn recv_with_creds(sock: impl AsFd, buf: &mut [u8]) -> Result<(usize, Option<Cred>)> {
    let fd = sock.as_fd();
    let m = loop {
        match sock::recvmsg_creds(fd, buf, 0) {
            Err(Errno::INTR) => continue,
            r => break r.map_err(|e| Error::sys("recvmsg", "unix socket", e))?,
        }
    };
    drop(m.fds);
    if m.len > buf.len() {
        return Err(Error::MessageTruncated {
            len: m.len,
            capacity: buf.len(),
        });
    }
    Ok((m.copied, m.cred.map(Cred::from)))
}
