//! Message sockets: [`DatagramSocket`] (Unix `SOCK_DGRAM` or UDP) and
//! [`SeqpacketSocket`] (Unix `SOCK_SEQPACKET`), plus [`socketpair`].
//!
//! Each send carries one message and each receive returns one whole message.
//! A message longer than the receive buffer is an error
//! ([`Error::MessageTruncated`], with its real length): the kernel
//! discards the tail, and silently returning a prefix would hide that.
//!
//! Every operation comes in three forms: `try_` (never waits: `EAGAIN` is
//! returned as [`Error::Sys`]), blocking, and `_timeout`
//! ([`Error::Timeout`] when it runs out). They all make non-blocking
//! calls (`MSG_DONTWAIT`) and wait with `poll`, so the socket itself stays in
//! blocking mode for anyone who shares it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::PollFlags;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags};

use super::cred::{peer_credentials, Cred};
use super::unix::SocketFile;
use super::{new_socket, with_wait, Addr, SocketKind, Wait};
use crate::{Error, Result};

/// `socketpair(AF_UNIX, kind | SOCK_CLOEXEC)`: two connected Unix sockets.
///
/// # Errors
///
/// [`Error::Sys`] from `socketpair`.
///
/// # Examples
///
/// ```
/// use kipc_host::socket::{socketpair, SeqpacketSocket, SocketKind};
/// let (a, b) = socketpair(SocketKind::Seqpacket)?;
/// let (a, b) = (SeqpacketSocket::from_fd(a), SeqpacketSocket::from_fd(b));
/// a.send(b"one")?;
/// let mut buf = [0; 8];
/// assert_eq!(b.recv(&mut buf)?, 3);
/// # Ok::<(), kipc_host::Error>(())
/// ```
pub fn socketpair(kind: SocketKind) -> Result<(OwnedFd, OwnedFd)> {
    rustix::net::socketpair(AddressFamily::UNIX, kind.raw(), SocketFlags::CLOEXEC, None)
        .map_err(|e| Error::sys("socketpair", format!("unix {kind} pair"), e))
}

const SEND: SendFlags = SendFlags::NOSIGNAL.union(SendFlags::DONTWAIT);
const RECV: RecvFlags = RecvFlags::DONTWAIT.union(RecvFlags::TRUNC);

fn send_on(
    fd: BorrowedFd<'_>,
    msg: &[u8],
    to: Option<&Addr>,
    wait: Wait,
    what: &str,
) -> Result<usize> {
    let raw = to.map(Addr::to_raw).transpose()?;
    with_wait(fd, PollFlags::OUT, wait, || {
        let r = match &raw {
            None => rustix::net::send(fd, msg, SEND),
            Some(super::addr::RawAddr::Unix(a)) => rustix::net::sendto(fd, msg, SEND, a),
            Some(super::addr::RawAddr::Inet(a)) => rustix::net::sendto(fd, msg, SEND, a),
        };
        r.map_err(|e| Error::sys("send", what, e))
    })
}

fn recv_on(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    wait: Wait,
    kind: SocketKind,
    what: &str,
) -> Result<(usize, Option<Addr>)> {
    let capacity = buf.len();
    let (len, from) = with_wait(fd, PollFlags::IN, wait, || {
        let (_, len, from) =
            rustix::net::recvfrom(fd, &mut *buf, RECV).map_err(|e| Error::sys("recv", what, e))?;
        Ok((len, from))
    })?;
    if len > capacity {
        return Err(Error::MessageTruncated { len, capacity });
    }
    Ok((len, from.and_then(|a| Addr::from_any(&a, kind))))
}

/// A datagram socket: Unix (`unix:`, `unix-abstract:`) or UDP (`udp:`).
///
/// # Examples
///
/// ```
/// use kipc_host::socket::{Addr, DatagramSocket};
/// let server = DatagramSocket::bind(&"udp:127.0.0.1:0".parse()?)?;
/// let addr = server.local_addr()?.unwrap();
/// let client = DatagramSocket::connect(&addr)?;
/// client.send(b"hello")?;
/// let mut buf = [0; 64];
/// let (n, from) = server.recv_from(&mut buf)?;
/// assert_eq!(&buf[..n], b"hello");
/// server.send_to(b"back", &from.unwrap())?;
/// assert_eq!(client.recv(&mut buf)?, 4);
/// # Ok::<(), kipc_host::Error>(())
/// ```
#[derive(Debug)]
pub struct DatagramSocket {
    fd: OwnedFd,
    _file: Option<SocketFile>,
}

impl DatagramSocket {
    /// `socket(family, SOCK_DGRAM | SOCK_CLOEXEC)` + `bind(addr)`. A socket
    /// file it creates is removed again when the socket is dropped; an
    /// existing file makes it fail with `EADDRINUSE`. Port 0 picks a free port
    /// (see [`local_addr`](Self::local_addr)).
    ///
    /// # Errors
    ///
    /// [`Error::WrongKind`] for `tcp:`; [`Error::Sys`] from
    /// `socket`, `setsockopt` or `bind`.
    pub fn bind(addr: &Addr) -> Result<Self> {
        addr.check_kind(SocketKind::Datagram)?;
        let fd = new_socket(addr.family(), SocketKind::Datagram, &addr.to_string())?;
        super::inet::prepare(fd.as_fd(), addr, false)?;
        let file = super::unix::bind(&fd, addr)?;
        Ok(Self { fd, _file: file })
    }

    /// A socket connected to `peer` and able to receive its replies: a Unix
    /// one is autobound to a unique abstract name, a UDP one bound to an
    /// ephemeral port; then `connect(peer)`, so [`send`](Self::send) goes
    /// there and only its datagrams are received.
    ///
    /// # Errors
    ///
    /// [`Error::WrongKind`] for `tcp:`; [`Error::Sys`] from
    /// `socket`, `bind` or `connect`.
    pub fn connect(peer: &Addr) -> Result<Self> {
        addr_kind(peer)?;
        let fd = new_socket(peer.family(), SocketKind::Datagram, &peer.to_string())?;
        match peer {
            Addr::Udp(a) => {
                super::inet::prepare(fd.as_fd(), peer, false)?;
                rustix::net::bind(&fd, &super::inet::any_port_for(a))
                    .map_err(|e| Error::sys("bind", peer, e))?;
            }
            _ => super::unix::autobind(fd.as_fd())?,
        }
        super::unix::connect(&fd, peer)?;
        Ok(Self { fd, _file: None })
    }

    /// An unbound socket of `peer`'s family, for [`send_to`](Self::send_to)
    /// without wanting replies.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `socket`.
    pub fn unbound(like: &Addr) -> Result<Self> {
        addr_kind(like)?;
        let fd = new_socket(like.family(), SocketKind::Datagram, &like.to_string())?;
        Ok(Self { fd, _file: None })
    }

    /// A connected pair of Unix datagram sockets (`socketpair`).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `socketpair`.
    pub fn pair() -> Result<(Self, Self)> {
        let (a, b) = socketpair(SocketKind::Datagram)?;
        Ok((Self::from_fd(a), Self::from_fd(b)))
    }

    /// Wraps a datagram socket descriptor. Nothing is checked.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self { fd, _file: None }
    }

    /// `send(msg)` to the connected peer, blocking while its queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `send` (`EMSGSIZE` for a datagram too
    /// large, `ECONNREFUSED`, `EDESTADDRREQ` if not connected).
    pub fn send(&self, msg: &[u8]) -> Result<usize> {
        send_on(self.fd.as_fd(), msg, None, Wait::Forever, "datagram socket")
    }

    /// `send(msg, MSG_DONTWAIT)`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); `EAGAIN` when the peer's queue is full.
    pub fn try_send(&self, msg: &[u8]) -> Result<usize> {
        send_on(self.fd.as_fd(), msg, None, Wait::Never, "datagram socket")
    }

    /// `send(msg)`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); [`Error::Timeout`].
    pub fn send_timeout(&self, msg: &[u8], timeout: Duration) -> Result<usize> {
        send_on(
            self.fd.as_fd(),
            msg,
            None,
            Wait::timeout(timeout),
            "datagram socket",
        )
    }

    /// `sendto(msg, to)`, blocking while the receiver's queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `sendto` (`ENOENT`/`ECONNREFUSED` when
    /// nobody is bound at `to`, `EMSGSIZE`).
    pub fn send_to(&self, msg: &[u8], to: &Addr) -> Result<usize> {
        send_on(
            self.fd.as_fd(),
            msg,
            Some(to),
            Wait::Forever,
            "datagram socket",
        )
    }

    /// `sendto(msg, to)`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// As [`send_to`](Self::send_to); [`Error::Timeout`].
    pub fn send_to_timeout(&self, msg: &[u8], to: &Addr, timeout: Duration) -> Result<usize> {
        send_on(
            self.fd.as_fd(),
            msg,
            Some(to),
            Wait::timeout(timeout),
            "datagram socket",
        )
    }

    /// `recv(buf)`: waits for one datagram and returns its length.
    ///
    /// # Errors
    ///
    /// [`Error::MessageTruncated`] if it was longer than `buf`;
    /// [`Error::Sys`] from `recv`.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        self.recv_from(buf).map(|(n, _)| n)
    }

    /// `recv(buf, MSG_DONTWAIT)`.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); `EAGAIN` when nothing is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<usize> {
        self.try_recv_from(buf).map(|(n, _)| n)
    }

    /// `recv(buf)`, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); [`Error::Timeout`].
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        self.recv_from_timeout(buf, timeout).map(|(n, _)| n)
    }

    /// `recvfrom(buf)`: one datagram and its sender's address (`None` for an
    /// unnamed Unix sender, which cannot be replied to).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, Option<Addr>)> {
        recv_on(
            self.fd.as_fd(),
            buf,
            Wait::Forever,
            SocketKind::Datagram,
            "datagram socket",
        )
    }

    /// `recvfrom(buf, MSG_DONTWAIT)`.
    ///
    /// # Errors
    ///
    /// As [`try_recv`](Self::try_recv).
    pub fn try_recv_from(&self, buf: &mut [u8]) -> Result<(usize, Option<Addr>)> {
        recv_on(
            self.fd.as_fd(),
            buf,
            Wait::Never,
            SocketKind::Datagram,
            "datagram socket",
        )
    }

    /// `recvfrom(buf)`, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout).
    pub fn recv_from_timeout(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<(usize, Option<Addr>)> {
        recv_on(
            self.fd.as_fd(),
            buf,
            Wait::timeout(timeout),
            SocketKind::Datagram,
            "datagram socket",
        )
    }

    /// `getsockname`: our address (after binding to port 0, the real port;
    /// `None` if unnamed).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `getsockname`.
    pub fn local_addr(&self) -> Result<Option<Addr>> {
        let a = rustix::net::getsockname(&self.fd)
            .map_err(|e| Error::sys("getsockname", "datagram socket", e))?;
        Ok(Addr::from_any(&a, SocketKind::Datagram))
    }

    /// `setsockopt(SO_RCVBUF)`: asks for a receive buffer of `bytes` (the
    /// kernel doubles it and applies its limits).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `setsockopt`.
    pub fn set_recv_buffer_size(&self, bytes: usize) -> Result<()> {
        rustix::net::sockopt::set_socket_recv_buffer_size(&self.fd, bytes)
            .map_err(|e| Error::sys("setsockopt(SO_RCVBUF)", "datagram socket", e))
    }
}

fn addr_kind(addr: &Addr) -> Result<()> {
    addr.check_kind(SocketKind::Datagram)
}

impl AsFd for DatagramSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A connected Unix `SOCK_SEQPACKET` socket: reliable, ordered messages with
/// their boundaries kept.
///
/// A receive of 0 bytes means end of file (or an empty message, which this
/// type never sends: [`send`](Self::send) rejects it).
#[derive(Debug)]
pub struct SeqpacketSocket {
    fd: OwnedFd,
}

impl SeqpacketSocket {
    /// `socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)` + `connect(addr)`.
    ///
    /// # Errors
    ///
    /// [`Error::WrongKind`] for `tcp:`/`udp:`; [`Error::Sys`]
    /// from `socket` or `connect`.
    pub fn connect(addr: &Addr) -> Result<Self> {
        addr.check_kind(SocketKind::Seqpacket)?;
        let fd = new_socket(addr.family(), SocketKind::Seqpacket, &addr.to_string())?;
        super::unix::connect(&fd, addr)?;
        Ok(Self { fd })
    }

    /// A connected pair (`socketpair`).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `socketpair`.
    pub fn pair() -> Result<(Self, Self)> {
        let (a, b) = socketpair(SocketKind::Seqpacket)?;
        Ok((Self::from_fd(a), Self::from_fd(b)))
    }

    /// Wraps a connected seqpacket socket descriptor. Nothing is checked.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self { fd }
    }

    /// Gives back the descriptor.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// `send(msg)`: one message, blocking while the peer's queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`]: `EINVAL` here for an empty message (it would
    /// read as end of file), `EPIPE` if the peer is gone, `EMSGSIZE`.
    pub fn send(&self, msg: &[u8]) -> Result<usize> {
        seq_send(self.fd.as_fd(), msg, Wait::Forever)
    }

    /// `send(msg, MSG_DONTWAIT)`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); `EAGAIN` when the queue is full.
    pub fn try_send(&self, msg: &[u8]) -> Result<usize> {
        seq_send(self.fd.as_fd(), msg, Wait::Never)
    }

    /// `send(msg)`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); [`Error::Timeout`].
    pub fn send_timeout(&self, msg: &[u8], timeout: Duration) -> Result<usize> {
        seq_send(self.fd.as_fd(), msg, Wait::timeout(timeout))
    }

    /// `recv(buf)`: one message (0: end of file).
    ///
    /// # Errors
    ///
    /// [`Error::MessageTruncated`] if it was longer than `buf`;
    /// [`Error::Sys`] from `recv`.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        recv_on(
            self.fd.as_fd(),
            buf,
            Wait::Forever,
            SocketKind::Seqpacket,
            "seqpacket socket",
        )
        .map(|r| r.0)
    }

    /// `recv(buf, MSG_DONTWAIT)`.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); `EAGAIN` when nothing is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<usize> {
        recv_on(
            self.fd.as_fd(),
            buf,
            Wait::Never,
            SocketKind::Seqpacket,
            "seqpacket socket",
        )
        .map(|r| r.0)
    }

    /// `recv(buf)`, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); [`Error::Timeout`].
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        recv_on(
            self.fd.as_fd(),
            buf,
            Wait::timeout(timeout),
            SocketKind::Seqpacket,
            "seqpacket socket",
        )
        .map(|r| r.0)
    }

    /// `shutdown(SHUT_WR)`: the peer reads end of file after our messages.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `shutdown`.
    pub fn shutdown_write(&self) -> Result<()> {
        rustix::net::shutdown(&self.fd, rustix::net::Shutdown::Write)
            .map_err(|e| Error::sys("shutdown", "seqpacket socket", e))
    }

    /// `getsockopt(SO_PEERCRED)`.
    ///
    /// # Errors
    ///
    /// See [`peer_credentials`].
    pub fn peer_credentials(&self) -> Result<Cred> {
        peer_credentials(&self.fd)
    }
}

pub(crate) fn seq_send(fd: BorrowedFd<'_>, msg: &[u8], wait: Wait) -> Result<usize> {
    if msg.is_empty() {
        return Err(Error::sys(
            "send",
            "seqpacket socket (empty message)",
            rustix::io::Errno::INVAL,
        ));
    }
    send_on(fd, msg, None, wait, "seqpacket socket")
}

pub(crate) fn seq_recv(fd: BorrowedFd<'_>, buf: &mut [u8], wait: Wait) -> Result<usize> {
    recv_on(fd, buf, wait, SocketKind::Seqpacket, "seqpacket socket").map(|r| r.0)
}

impl AsFd for SeqpacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<SeqpacketSocket> for OwnedFd {
    fn from(s: SeqpacketSocket) -> OwnedFd {
        s.fd
    }
}
