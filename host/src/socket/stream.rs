//! [`StreamSocket`]: a connected byte stream (Unix `SOCK_STREAM` or TCP) with
//! `Read` and `Write`.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{SendFlags, SocketFlags, SocketType};

use super::cred::{peer_credentials, Cred};
use super::{deadline, new_socket, wait_for, Addr, SocketKind};
use crate::{Error, Result};

/// A connected stream socket: Unix (`unix:`, `unix-abstract:`) or TCP.
///
/// Implements [`Read`] and [`Write`] (also through `&StreamSocket`, so one
/// thread may read while another writes). Writes use `MSG_NOSIGNAL`: a
/// closed peer gives `EPIPE`, never `SIGPIPE`. Interrupted calls (`EINTR`)
/// are restarted.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use kipc_host::socket::StreamSocket;
/// let (mut a, mut b) = StreamSocket::pair()?;
/// a.write_all(b"ping")?;
/// let mut buf = [0; 4];
/// b.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StreamSocket {
    fd: OwnedFd,
}

impl StreamSocket {
    /// `socket(family, SOCK_STREAM | SOCK_CLOEXEC)` + `connect(addr)`:
    /// connects to a stream server, waiting as long as the kernel does.
    ///
    /// # Errors
    ///
    /// [`Error::WrongKind`] for a `udp:` address; [`Error::Sys`]
    /// from `socket` or `connect` (`ECONNREFUSED`, `ENOENT` for a missing
    /// socket file, ...).
    pub fn connect(addr: &Addr) -> Result<Self> {
        addr.check_kind(SocketKind::Stream)?;
        let fd = new_socket(addr.family(), SocketKind::Stream, &addr.to_string())?;
        super::unix::connect(&fd, addr)?;
        Ok(Self { fd })
    }

    /// `connect(addr)` on a non-blocking socket, waiting at most `timeout`
    /// for it to complete (a Unix server whose backlog is full is retried
    /// until then).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect); [`Error::Timeout`] when time runs
    /// out.
    pub fn connect_timeout(addr: &Addr, timeout: Duration) -> Result<Self> {
        addr.check_kind(SocketKind::Stream)?;
        let until = deadline(timeout);
        let what = addr.to_string();
        loop {
            let fd = rustix::net::socket_with(
                addr.family(),
                SocketType::STREAM,
                SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
                None,
            )
            .map_err(|e| Error::sys("socket", &what, e))?;
            match super::unix::connect(&fd, addr) {
                Ok(()) => return Self::from_nonblocking(fd),
                Err(e) if e.errno() == Some(Errno::INPROGRESS) => {
                    wait_for(fd.as_fd(), PollFlags::OUT, until)?;
                    match rustix::net::sockopt::socket_error(&fd) {
                        Ok(Ok(())) => return Self::from_nonblocking(fd),
                        Ok(Err(errno)) | Err(errno) => {
                            return Err(Error::sys("connect", &what, errno))
                        }
                    }
                }
                // A Unix listener with a full backlog: try again shortly.
                Err(e) if e.errno() == Some(Errno::AGAIN) => {
                    if until.is_some_and(|d| std::time::Instant::now() >= d) {
                        return Err(Error::Timeout);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn from_nonblocking(fd: OwnedFd) -> Result<Self> {
        let s = Self { fd };
        s.set_nonblocking(false)?;
        Ok(s)
    }

    /// `socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)`: two connected ends.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `socketpair`.
    pub fn pair() -> Result<(Self, Self)> {
        let (a, b) = super::socketpair(SocketKind::Stream)?;
        Ok((Self { fd: a }, Self { fd: b }))
    }

    /// Wraps a connected stream socket descriptor (from `accept`, a parent
    /// process, ...). Nothing is checked.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self { fd }
    }

    /// Gives back the descriptor.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// `shutdown(fd, how)`: ends reading, writing or both; the peer reads
    /// end of file once its buffered data is consumed.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `shutdown` (`ENOTCONN`).
    pub fn shutdown(&self, how: Shutdown) -> Result<()> {
        let how = match how {
            Shutdown::Read => rustix::net::Shutdown::Read,
            Shutdown::Write => rustix::net::Shutdown::Write,
            Shutdown::Both => rustix::net::Shutdown::Both,
        };
        rustix::net::shutdown(&self.fd, how).map_err(|e| Error::sys("shutdown", "stream socket", e))
    }

    /// `setsockopt(SO_RCVTIMEO)`: reads give up after `timeout` with
    /// [`io::ErrorKind::WouldBlock`] (`None`: wait forever).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `setsockopt` (`EDOM` for a huge timeout).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        rustix::net::sockopt::set_socket_timeout(
            &self.fd,
            rustix::net::sockopt::Timeout::Recv,
            timeout,
        )
        .map_err(|e| Error::sys("setsockopt(SO_RCVTIMEO)", "stream socket", e))
    }

    /// `setsockopt(SO_SNDTIMEO)`: writes give up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `setsockopt`.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        rustix::net::sockopt::set_socket_timeout(
            &self.fd,
            rustix::net::sockopt::Timeout::Send,
            timeout,
        )
        .map_err(|e| Error::sys("setsockopt(SO_SNDTIMEO)", "stream socket", e))
    }

    /// `ioctl(FIONBIO)`: in non-blocking mode reads and writes that would
    /// wait fail with [`io::ErrorKind::WouldBlock`].
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `ioctl`.
    pub fn set_nonblocking(&self, on: bool) -> Result<()> {
        rustix::io::ioctl_fionbio(&self.fd, on)
            .map_err(|e| Error::sys("ioctl(FIONBIO)", "stream socket", e))
    }

    /// `getsockname`: our address (`None` for an unnamed Unix socket).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `getsockname`.
    pub fn local_addr(&self) -> Result<Option<Addr>> {
        let a = rustix::net::getsockname(&self.fd)
            .map_err(|e| Error::sys("getsockname", "stream socket", e))?;
        Ok(Addr::from_any(&a, SocketKind::Stream))
    }

    /// `getpeername`: the peer's address (`None` for an unnamed Unix socket).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `getpeername` (`ENOTCONN`).
    pub fn peer_addr(&self) -> Result<Option<Addr>> {
        let a = rustix::net::getpeername(&self.fd)
            .map_err(|e| Error::sys("getpeername", "stream socket", e))?;
        Ok(a.and_then(|a| Addr::from_any(&a, SocketKind::Stream)))
    }

    /// `getsockopt(SO_PEERCRED)`: the peer process's pid, uid and gid as of
    /// `connect` (Unix sockets only).
    ///
    /// # Errors
    ///
    /// See [`peer_credentials`].
    pub fn peer_credentials(&self) -> Result<Cred> {
        peer_credentials(&self.fd)
    }
}

/// `read(2)` with `EINTR` restarted.
pub(crate) fn read_fd(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Err(Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// `send(2)` with `MSG_NOSIGNAL` and `EINTR` restarted.
pub(crate) fn write_fd(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    loop {
        match rustix::net::send(fd, buf, SendFlags::NOSIGNAL) {
            Err(Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

impl Read for StreamSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_fd(self.fd.as_fd(), buf)
    }
}

impl Read for &StreamSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_fd(self.fd.as_fd(), buf)
    }
}

impl Write for StreamSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_fd(self.fd.as_fd(), buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &StreamSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_fd(self.fd.as_fd(), buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for StreamSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<StreamSocket> for OwnedFd {
    fn from(s: StreamSocket) -> OwnedFd {
        s.fd
    }
}
