//! [`Server`]: the BSD server pattern (`socket`, `bind`, `listen`, `accept`)
//! with a bound on live connections and an optional uid allow-list.
//!
//! # The connection bound
//!
//! A server holds at most [`ServerOptions::max_connections`] live
//! [`Connection`]s (each frees its place when dropped). A connection that
//! arrives while the server is full is **accepted and closed at once**: the
//! client reads end of file (or `ECONNRESET`) instead of hanging in the
//! kernel backlog, and the backlog never fills with connections nobody will
//! serve. Connections already accepted are unaffected and keep being
//! served. [`Server::rejected`] counts the connections turned away.
//!
//! With [`ServerOptions::allowed_uids`] (Unix sockets only), a connection
//! whose peer's uid (`SO_PEERCRED`) is not in the list is likewise closed at
//! once.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::SocketFlags;

use super::cred::{peer_credentials, Cred};
use super::message::{seq_recv, seq_send};
use super::stream::{read_fd, write_fd};
use super::unix::SocketFile;
use super::{new_socket, wait_for, Addr, SocketKind, Wait};
use crate::{Error, Result};

/// How a [`Server`] admits connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Most live connections at once (at least 1); more are accepted and
    /// closed at once.
    pub max_connections: usize,
    /// If set, only peers with one of these uids are admitted (Unix sockets
    /// only: `Server::bind` rejects it for TCP).
    pub allowed_uids: Option<Vec<u32>>,
    /// The `listen` backlog.
    pub backlog: i32,
}

impl Default for ServerOptions {
    /// 64 connections, any uid, a backlog of 128.
    fn default() -> Self {
        Self {
            max_connections: 64,
            allowed_uids: None,
            backlog: 128,
        }
    }
}

/// A listening stream or seqpacket socket that hands out at most
/// `max_connections` live [`Connection`]s.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use kipc_host::socket::{Addr, Server, ServerOptions, SocketKind, StreamSocket};
/// let server = Server::bind(&"tcp:127.0.0.1:0".parse()?, SocketKind::Stream, ServerOptions::default())?;
/// let mut client = StreamSocket::connect(server.local_addr())?;
/// let mut conn = server.accept()?;
/// client.write_all(b"hi").unwrap();
/// let mut buf = [0; 2];
/// conn.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"hi");
/// # Ok::<(), kipc_host::Error>(())
/// ```
#[derive(Debug)]
pub struct Server {
    fd: OwnedFd,
    kind: SocketKind,
    addr: Addr,
    options: ServerOptions,
    live: Arc<AtomicUsize>,
    rejected: AtomicU64,
    _file: Option<SocketFile>,
}

impl Server {
    /// `socket` + `bind(addr)` + `listen(backlog)`. The listening socket is
    /// non-blocking (accepting waits with `poll`). A socket file it creates is
    /// removed when the server is dropped; an existing file fails with
    /// `EADDRINUSE`. For TCP, port 0 picks a free port: see
    /// [`local_addr`](Self::local_addr).
    ///
    /// # Errors
    ///
    /// [`Error::WrongKind`] for datagram sockets or a `udp:`/seqpacket
    /// mismatch; [`Error::InvalidArgument`] for
    /// `max_connections == 0` or `allowed_uids` on TCP; from `socket`, `bind`
    /// or `listen`.
    pub fn bind(addr: &Addr, kind: SocketKind, options: ServerOptions) -> Result<Self> {
        addr.check_kind(kind)?;
        if kind == SocketKind::Datagram {
            return Err(Error::WrongKind {
                addr: addr.to_string(),
                kind,
            });
        }
        if options.max_connections == 0 {
            return Err(Error::InvalidArgument {
                object: format!("server at {addr}"),
                reason: "max_connections must be at least 1",
            });
        }
        if options.allowed_uids.is_some() && !addr.is_unix() {
            return Err(Error::InvalidArgument {
                object: format!("server at {addr}"),
                reason: "allowed_uids needs a Unix socket (inet peers have no credentials)",
            });
        }
        let what = addr.to_string();
        let fd = new_socket(addr.family(), kind, &what)?;
        super::inet::prepare(fd.as_fd(), addr, true)?;
        let file = super::unix::bind(&fd, addr)?;
        rustix::net::listen(&fd, options.backlog).map_err(|e| Error::sys("listen", &what, e))?;
        rustix::io::ioctl_fionbio(&fd, true).map_err(|e| Error::sys("ioctl(FIONBIO)", &what, e))?;
        let bound = rustix::net::getsockname(&fd)
            .ok()
            .and_then(|a| Addr::from_any(&a, kind))
            .unwrap_or_else(|| addr.clone());
        Ok(Self {
            fd,
            kind,
            addr: bound,
            options,
            live: Arc::new(AtomicUsize::new(0)),
            rejected: AtomicU64::new(0),
            _file: file,
        })
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> &Addr {
        &self.addr
    }

    /// Stream or seqpacket.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// Connections accepted and not yet dropped.
    pub fn live_connections(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Connections turned away so far (over the bound, or uid not allowed).
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// `accept4(SOCK_CLOEXEC)` without waiting: the next admitted connection,
    /// or `None` when none is pending. Pending connections that cannot be
    /// admitted (server full, uid not allowed) are closed on the way.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `accept4` (`EMFILE`, ...).
    pub fn try_accept(&self) -> Result<Option<Connection>> {
        loop {
            let fd = match rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC) {
                Ok(fd) => fd,
                Err(Errno::AGAIN) => return Ok(None),
                // The client gave up before we got to it; try the next one.
                Err(Errno::INTR) | Err(Errno::CONNABORTED) => continue,
                Err(e) => return Err(Error::sys("accept4", &self.addr, e)),
            };
            if self.live.load(Ordering::Acquire) >= self.options.max_connections {
                self.reject(fd);
                continue;
            }
            let cred = if self.addr.is_unix() {
                peer_credentials(&fd).ok()
            } else {
                None
            };
            if let Some(allowed) = &self.options.allowed_uids {
                if !cred.is_some_and(|c| allowed.contains(&c.uid)) {
                    self.reject(fd);
                    continue;
                }
            }
            self.live.fetch_add(1, Ordering::AcqRel);
            return Ok(Some(Connection {
                fd,
                kind: self.kind,
                cred,
                _slot: Slot(Arc::clone(&self.live)),
            }));
        }
    }

    fn reject(&self, fd: OwnedFd) {
        drop(fd);
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits for the next admitted connection (see [`try_accept`](Self::try_accept)).
    ///
    /// # Errors
    ///
    /// As [`try_accept`](Self::try_accept).
    pub fn accept(&self) -> Result<Connection> {
        self.accept_wait(Wait::Forever)
    }

    /// Waits at most `timeout` for the next admitted connection.
    ///
    /// # Errors
    ///
    /// As [`try_accept`](Self::try_accept); [`Error::Timeout`].
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Connection> {
        self.accept_wait(Wait::timeout(timeout))
    }

    fn accept_wait(&self, wait: Wait) -> Result<Connection> {
        loop {
            if let Some(c) = self.try_accept()? {
                return Ok(c);
            }
            match wait {
                Wait::Never => return Err(Error::Timeout),
                Wait::Forever => wait_for(self.fd.as_fd(), PollFlags::IN, None)?,
                Wait::Until(d) => wait_for(self.fd.as_fd(), PollFlags::IN, Some(d))?,
            }
        }
    }
}

impl AsFd for Server {
    /// The listening socket: readable when a connection is pending.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Frees a place in its server's connection count when dropped.
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection accepted by a [`Server`]; dropping it closes it and frees its
/// place.
///
/// [`Read`]/[`Write`] work on both kinds (on seqpacket, one call is one
/// message); [`send`](Self::send)/[`recv`](Self::recv) are message calls with
/// `try_` and `_timeout` forms for seqpacket connections.
#[derive(Debug)]
pub struct Connection {
    fd: OwnedFd,
    kind: SocketKind,
    cred: Option<Cred>,
    _slot: Slot,
}

impl Connection {
    /// Stream or seqpacket.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// The peer's credentials as of `connect` (`SO_PEERCRED`); `None` for
    /// TCP.
    pub fn peer_credentials(&self) -> Option<Cred> {
        self.cred
    }

    /// `getpeername`: the peer's address (`None` for unnamed Unix clients).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `getpeername`.
    pub fn peer_addr(&self) -> Result<Option<Addr>> {
        let a = rustix::net::getpeername(&self.fd)
            .map_err(|e| Error::sys("getpeername", "connection", e))?;
        Ok(a.and_then(|a| Addr::from_any(&a, self.kind)))
    }

    /// Sends one message (seqpacket) or all of `msg` (stream), blocking.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `send` (`EPIPE` when the peer is gone).
    pub fn send(&self, msg: &[u8]) -> Result<usize> {
        self.send_wait(msg, Wait::Forever)
    }

    /// [`send`](Self::send) without waiting (seqpacket: `EAGAIN` when full;
    /// stream: as many bytes as fit).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn try_send(&self, msg: &[u8]) -> Result<usize> {
        self.send_wait(msg, Wait::Never)
    }

    /// [`send`](Self::send) waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); [`Error::Timeout`].
    pub fn send_timeout(&self, msg: &[u8], timeout: Duration) -> Result<usize> {
        self.send_wait(msg, Wait::timeout(timeout))
    }

    fn send_wait(&self, msg: &[u8], wait: Wait) -> Result<usize> {
        match self.kind {
            SocketKind::Seqpacket => seq_send(self.fd.as_fd(), msg, wait),
            _ => {
                let mut done = 0;
                while done < msg.len() {
                    let r = super::with_wait(self.fd.as_fd(), PollFlags::OUT, wait, || {
                        rustix::net::send(
                            &self.fd,
                            &msg[done..],
                            rustix::net::SendFlags::NOSIGNAL | rustix::net::SendFlags::DONTWAIT,
                        )
                        .map_err(|e| Error::sys("send", "connection", e))
                    });
                    match r {
                        Ok(n) => done += n,
                        Err(e) if done > 0 && e.errno() == Some(Errno::AGAIN) => break,
                        Err(e) => return Err(e),
                    }
                }
                Ok(done)
            }
        }
    }

    /// Receives one message (seqpacket) or what bytes are there (stream),
    /// blocking; 0 means end of file.
    ///
    /// # Errors
    ///
    /// [`Error::MessageTruncated`] for a seqpacket message longer than
    /// `buf`; [`Error::Sys`] from `recv`.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        self.recv_wait(buf, Wait::Forever)
    }

    /// [`recv`](Self::recv) without waiting (`EAGAIN` when nothing is there).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<usize> {
        self.recv_wait(buf, Wait::Never)
    }

    /// [`recv`](Self::recv) waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); [`Error::Timeout`].
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        self.recv_wait(buf, Wait::timeout(timeout))
    }

    fn recv_wait(&self, buf: &mut [u8], wait: Wait) -> Result<usize> {
        match self.kind {
            SocketKind::Seqpacket => seq_recv(self.fd.as_fd(), buf, wait),
            _ => super::with_wait(self.fd.as_fd(), PollFlags::IN, wait, || {
                rustix::net::recv(&self.fd, &mut *buf, rustix::net::RecvFlags::DONTWAIT)
                    .map(|(n, _)| n)
                    .map_err(|e| Error::sys("recv", "connection", e))
            }),
        }
    }

    /// `shutdown(how)`.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `shutdown`.
    pub fn shutdown(&self, how: Shutdown) -> Result<()> {
        let how = match how {
            Shutdown::Read => rustix::net::Shutdown::Read,
            Shutdown::Write => rustix::net::Shutdown::Write,
            Shutdown::Both => rustix::net::Shutdown::Both,
        };
        rustix::net::shutdown(&self.fd, how).map_err(|e| Error::sys("shutdown", "connection", e))
    }
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_fd(self.fd.as_fd(), buf)
    }
}

impl Read for &Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_fd(self.fd.as_fd(), buf)
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_fd(self.fd.as_fd(), buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_fd(self.fd.as_fd(), buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
