//! RPC over a stream socket: the same [`Client`] calls and [`Server`]
//! handlers as over mailboxes, carried by a Unix stream connection (or TCP:
//! any stream [`Addr`] works).
//!
//! # Wire protocol
//!
//! Every message is one RPC [`frame`](super::frame) inside one
//! length-prefixed [`FramedStream`] frame (u32 little-endian length, then the
//! bytes). Requests carry an empty reply address: the response comes back
//! on the same connection.
//!
//! 1. On accepting a connection the server sends a *greeting*: a response
//!    frame for [`METHOD_PING`] with correlation 0 and an 8-byte payload,
//!    the server's pid and its largest accepted request frame (both u32
//!    little-endian). The client reads it in [`SocketTransport::connect`], so
//!    a server that turns the connection away (full, uid not allowed) is
//!    seen at connect time, and oversized requests are refused locally.
//! 2. The client sends request frames; the server answers each with a
//!    response or error frame carrying the same correlation id, in order.
//!    One connection carries one call at a time; concurrency comes from
//!    many connections, each served by its own thread.
//!
//! # Failures
//!
//! | what happens                          | what the caller sees / what is cleaned up |
//! |---------------------------------------|-------------------------------------------|
//! | no server at the address              | [`RpcError::ServerDead`] from `connect`    |
//! | server full / uid not allowed         | [`RpcError::Transport`] (`ECONNREFUSED`, "closed before its greeting") from `connect` |
//! | no reply before the timeout           | [`RpcError::Timeout`]; a late reply is discarded by the next call (correlation ids) |
//! | server process died or closed the connection | [`RpcError::ServerDead`] at once (end of file / `EPIPE`), also for a call already waiting |
//! | request frame above the server's limit | [`RpcError::RequestTooLarge`], nothing sent |
//! | timeout in the middle of a frame       | the connection is unusable: later calls fail with [`RpcError::Transport`]; connect again |
//! | client killed mid-call                 | its connection closes; the server's reply fails with `EPIPE`, is counted in [`SocketServerStats::dropped_replies`], and the connection's thread ends; the others keep being served |
//! | an undecodable frame (bad magic, kind, lengths) | the server answers with a [`status::MALFORMED`] error frame and keeps the connection |
//! | a length prefix above the server's limit | the server answers with a [`status::REQUEST_TOO_LARGE`] error frame (correlation 0) and closes the connection |
//! | a peer that closes mid-frame           | the server closes that connection ([`SocketServerStats::broken`]) |
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use kipc_host::rpc::socket::{SocketServer, SocketServerOptions};
//! use kipc_host::rpc::{Client, Server};
//! let path = std::env::temp_dir().join(format!("doc-rpc-sock-{}", std::process::id()));
//! let server = Server::for_sockets()?.handle(1, |r: &[u8]| Ok(r.iter().rev().copied().collect()));
//! let options = SocketServerOptions { max_requests: Some(1), ..Default::default() };
//! let listener = SocketServer::bind_unix(&path, options)?;
//! std::thread::scope(|s| {
//!     let t = s.spawn(|| listener.serve(&server));
//!     // Connecting waits for the serving thread's greeting.
//!     let mut client = Client::connect_unix(&path)?;
//!     assert_eq!(client.call(1, b"abc", Duration::from_secs(5))?, b"cba");
//!     assert_eq!(t.join().unwrap()?.answered, 1);
//!     Ok::<(), kipc_host::rpc::RpcError>(())
//! })?;
//! # Ok::<(), kipc_host::rpc::RpcError>(())
//! ```

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::sockopt::Timeout as Which;

use super::frame::{status, Frame, FrameKind, HEADER_LEN, MAX_PAYLOAD, MAX_REPLY_ADDR};
use super::{Client, RpcError, Server, Transport, METHOD_PING};
use crate::mailbox::{Inbox, Mailbox, MailboxConfig};
use crate::socket::{
    wait_for, Addr, Connection, FramedStream, ServerOptions, SocketKind, StreamSocket,
};
use crate::Error;

/// The largest request frame a [`SocketServer`] accepts by default (the
/// same 64 KiB as a mailbox server's [`DEFAULT_CONFIG`](super::DEFAULT_CONFIG)).
pub const DEFAULT_MAX_REQUEST: usize = 64 << 10;

/// How long [`SocketTransport::connect`] waits for the connection and the
/// server's greeting.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server waits for a client to take a reply (the socket's
/// send buffer to drain) before it drops the reply and the connection.
pub const SOCKET_REPLY_WAIT: Duration = Duration::from_secs(1);

/// Once a frame's first byte is readable, how long its reader gives the
/// rest of it (at least; a client also waits up to its own deadline).
pub const FRAME_WAIT: Duration = Duration::from_secs(5);

/// How often waiting server threads check the stop conditions.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// The largest frame a client accepts from the server: a full payload and
/// reply address plus the header.
const MAX_RESPONSE: usize = HEADER_LEN + MAX_REPLY_ADDR + MAX_PAYLOAD;

/// Bytes of the greeting payload: pid and max request, u32 LE each.
const GREETING_LEN: usize = 8;

/// `SO_RCVTIMEO`/`SO_SNDTIMEO` on `fd` for what is left until `deadline`,
/// at least `floor` (`None`: wait forever).
fn set_timeout(
    fd: BorrowedFd<'_>,
    which: Which,
    deadline: Option<Instant>,
    floor: Duration,
) -> Result<(), RpcError> {
    let t = deadline.map(|d| {
        d.saturating_duration_since(Instant::now())
            .max(floor)
            .max(Duration::from_millis(1))
    });
    match rustix::net::sockopt::set_socket_timeout(fd, which, t) {
        Ok(()) => Ok(()),
        // A timeout too large for the kernel: wait forever instead.
        Err(Errno::DOM) => rustix::net::sockopt::set_socket_timeout(fd, which, None)
            .map_err(|e| RpcError::Transport(Error::sys("setsockopt(SO_*TIMEO)", "rpc socket", e))),
        Err(e) => Err(RpcError::Transport(Error::sys(
            "setsockopt(SO_*TIMEO)",
            "rpc socket",
            e,
        ))),
    }
}

/// Whether `errno` means the peer is gone.
fn peer_gone(errno: Errno) -> bool {
    matches!(
        errno,
        Errno::PIPE
            | Errno::CONNRESET
            | Errno::NOTCONN
            | Errno::CONNREFUSED
            | Errno::NOENT
            | Errno::CONNABORTED
    )
}

/// The [`RpcError`] a client-side socket error stands for.
fn client_error(e: Error, addr: &str) -> RpcError {
    match e {
        Error::Timeout => RpcError::Timeout,
        Error::FrameTruncated { .. } => RpcError::ServerDead,
        Error::Poisoned => poisoned(addr),
        h if h.errno().is_some_and(peer_gone) => RpcError::ServerDead,
        h if is_transport(&h) => RpcError::Transport(h),
        other => RpcError::Malformed(other.to_string()),
    }
}

/// Whether a socket error is a plain host failure (a system call, a bad
/// argument, ...), as opposed to a timeout or a socket-level problem (a bad
/// address or frame, truncated data, a protocol violation).
fn is_transport(e: &Error) -> bool {
    !matches!(
        e,
        Error::Timeout
            | Error::BadAddr { .. }
            | Error::WrongKind { .. }
            | Error::InvalidFrame { .. }
            | Error::FrameTruncated { .. }
            | Error::Poisoned
            | Error::MessageTruncated { .. }
            | Error::ControlTruncated { .. }
            | Error::TooManyFds { .. }
            | Error::Protocol(_)
            | Error::Io { .. }
    )
}

/// The error of a connection left mid-frame by an earlier failure.
fn poisoned(addr: &str) -> RpcError {
    RpcError::Transport(Error::InvalidArgument {
        object: format!("rpc connection to {addr}"),
        reason: "unusable after a timeout or error in the middle of a frame; connect again",
    })
}

/// [`Transport`] over one stream connection (Unix or TCP): frames are
/// length-prefixed ([`FramedStream`]), the reply address is empty, deadlines
/// become `poll` timeouts and `SO_RCVTIMEO`/`SO_SNDTIMEO`.
///
/// See the [module documentation](self) for the protocol and its failures.
#[derive(Debug)]
pub struct SocketTransport {
    sock: StreamSocket,
    addr: String,
    server_pid: u32,
    max_request: usize,
    poisoned: bool,
}

impl SocketTransport {
    /// Connects to the RPC server at `addr` and reads its greeting, waiting
    /// at most [`CONNECT_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// As [`connect_timeout`](Self::connect_timeout).
    pub fn connect(addr: &Addr) -> Result<Self, RpcError> {
        Self::connect_timeout(addr, CONNECT_TIMEOUT)
    }

    /// Connects to the RPC server at `addr` and reads its greeting, waiting
    /// at most `timeout` for both.
    ///
    /// # Errors
    ///
    /// [`RpcError::ServerDead`] if nobody listens there (`ENOENT`,
    /// `ECONNREFUSED`); [`RpcError::Transport`] with `ECONNREFUSED` if the
    /// server closed the connection without a greeting (it is full, or our
    /// uid is not allowed); [`RpcError::Timeout`]; [`RpcError::Malformed`]
    /// for a greeting that is not one; [`RpcError::Transport`] otherwise.
    pub fn connect_timeout(addr: &Addr, timeout: Duration) -> Result<Self, RpcError> {
        let name = addr.to_string();
        let deadline = Instant::now().checked_add(timeout);
        let sock =
            StreamSocket::connect_timeout(addr, timeout).map_err(|e| client_error(e, &name))?;
        Self::handshake(sock, name, deadline)
    }

    /// Uses an already connected stream (a `socketpair` end, a descriptor
    /// from a parent) and reads the server's greeting, waiting at most
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// As [`connect_timeout`](Self::connect_timeout).
    pub fn from_stream(sock: StreamSocket, timeout: Duration) -> Result<Self, RpcError> {
        Self::handshake(
            sock,
            "rpc stream".to_string(),
            Instant::now().checked_add(timeout),
        )
    }

    fn handshake(
        sock: StreamSocket,
        addr: String,
        deadline: Option<Instant>,
    ) -> Result<Self, RpcError> {
        let mut t = Self {
            sock,
            addr,
            server_pid: 0,
            max_request: 0,
            poisoned: false,
        };
        let mut buf = Vec::new();
        match t.recv_frame(&mut buf, deadline) {
            Ok(()) => {}
            Err(RpcError::ServerDead) => {
                return Err(RpcError::Transport(Error::Sys {
                    call: "connect",
                    object: format!(
                        "rpc server {} (closed before its greeting: full, or our uid is not allowed)",
                        t.addr
                    ),
                    errno: Errno::CONNREFUSED,
                }));
            }
            Err(e) => return Err(e),
        }
        let f = Frame::decode(&buf)?;
        let ok = f.kind == FrameKind::Response && f.method == METHOD_PING && f.correlation == 0;
        let p: [u8; GREETING_LEN] = f
            .payload
            .try_into()
            .ok()
            .filter(|_| ok)
            .ok_or_else(|| RpcError::Malformed("the server's greeting is not one".into()))?;
        let [a, b, c, d, e, g, h, i] = p;
        t.server_pid = u32::from_le_bytes([a, b, c, d]);
        t.max_request = u32::from_le_bytes([e, g, h, i]) as usize;
        if t.max_request < HEADER_LEN {
            return Err(RpcError::Malformed(format!(
                "the server's greeting announces requests of at most {} bytes",
                t.max_request
            )));
        }
        Ok(t)
    }

    /// The server's pid, from its greeting (as the server reported it; over
    /// TCP it may be another host's).
    pub fn server_pid(&self) -> u32 {
        self.server_pid
    }

    /// The address connected to (as text), for messages.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Transport for SocketTransport {
    fn send_frame(&mut self, frame: &[u8], deadline: Option<Instant>) -> Result<(), RpcError> {
        if self.poisoned {
            return Err(poisoned(&self.addr));
        }
        if frame.len() > self.max_request {
            return Err(RpcError::RequestTooLarge {
                len: frame.len(),
                max: self.max_request,
            });
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(RpcError::Timeout);
        }
        set_timeout(self.sock.as_fd(), Which::Send, deadline, Duration::ZERO)?;
        let mut tx = FramedStream::with_max_frame(&self.sock, self.max_request);
        let r = tx.send_frame(frame);
        // Any failed write may have sent part of the frame.
        self.poisoned |= tx.is_poisoned();
        r.map_err(|e| client_error(e, &self.addr))
    }

    fn recv_frame(&mut self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> Result<(), RpcError> {
        if self.poisoned {
            return Err(poisoned(&self.addr));
        }
        // Wait for the first byte (or end of file) without touching the
        // framing, so a timeout here leaves the connection usable.
        wait_for(self.sock.as_fd(), PollFlags::IN, deadline)
            .map_err(|e| client_error(e, &self.addr))?;
        set_timeout(self.sock.as_fd(), Which::Recv, deadline, FRAME_WAIT)?;
        let mut rx = FramedStream::with_max_frame(&self.sock, MAX_RESPONSE);
        let r = rx.recv_frame();
        self.poisoned |= rx.is_poisoned();
        match r {
            Ok(Some(bytes)) => {
                *buf = bytes;
                Ok(())
            }
            Ok(None) => Err(RpcError::ServerDead),
            Err(e) => Err(client_error(e, &self.addr)),
        }
    }

    fn reply_address(&self) -> &[u8] {
        &[]
    }

    fn max_frame(&self) -> usize {
        self.max_request
    }
}

impl Client {
    /// Connects to the RPC server listening on the Unix socket file `path`
    /// (see [`SocketTransport::connect`]).
    ///
    /// # Errors
    ///
    /// As [`SocketTransport::connect`].
    pub fn connect_unix(path: impl AsRef<Path>) -> Result<Self, RpcError> {
        Self::connect_addr(&Addr::Unix(path.as_ref().to_path_buf()))
    }

    /// Connects to the RPC server at a stream address (`unix:PATH`,
    /// `unix-abstract:NAME`, `tcp:HOST:PORT`; see [`SocketTransport::connect`]).
    ///
    /// # Errors
    ///
    /// As [`SocketTransport::connect`].
    pub fn connect_addr(addr: &Addr) -> Result<Self, RpcError> {
        Ok(Self::with_transport(Box::new(SocketTransport::connect(
            addr,
        )?)))
    }
}

impl Server {
    /// A server for sockets only: it has handlers but no mailbox address
    /// (its inbox is a one-slot mailbox whose name is removed at once, so
    /// no mailbox client can reach it). Serve it with a [`SocketServer`].
    ///
    /// # Errors
    ///
    /// [`RpcError::Transport`] if the (tiny) inbox cannot be created.
    pub fn for_sockets() -> Result<Self, RpcError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let mut tries = 0;
        loop {
            let name = format!(
                "rpc-sock.{}.{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            match Inbox::create(&name, MailboxConfig::new(1, HEADER_LEN as u32)) {
                Ok(inbox) => {
                    let _ = Mailbox::unlink(&name);
                    return Ok(Self {
                        inbox,
                        handlers: Default::default(),
                        replies: Mutex::new(crate::mailbox::MailboxSet::new()),
                        answered: AtomicU64::new(0),
                        dropped_requests: AtomicU64::new(0),
                        dropped_replies: AtomicU64::new(0),
                        pruned: AtomicU64::new(0),
                    });
                }
                Err(e) if e.errno() == Some(Errno::EXIST) && tries < 16 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// How a [`SocketServer`] admits connections and when it stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketServerOptions {
    /// Most connections served at once (at least 1); more are accepted and
    /// closed at once (their clients see an error from `connect`).
    pub max_connections: usize,
    /// If set, only peers with one of these uids are admitted (Unix sockets
    /// only).
    pub allowed_uids: Option<Vec<u32>>,
    /// The largest request frame accepted (header included); announced in
    /// the greeting, so clients refuse larger requests themselves.
    pub max_request: usize,
    /// Stop after answering this many requests (`None`: no limit).
    pub max_requests: Option<u64>,
    /// Stop at this instant (`None`: no limit).
    pub deadline: Option<Instant>,
}

impl Default for SocketServerOptions {
    /// 64 connections, any uid, requests up to [`DEFAULT_MAX_REQUEST`], no
    /// stop condition.
    fn default() -> Self {
        Self {
            max_connections: 64,
            allowed_uids: None,
            max_request: DEFAULT_MAX_REQUEST,
            max_requests: None,
            deadline: None,
        }
    }
}

/// Counters of a [`SocketServer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SocketServerStats {
    /// Connections admitted.
    pub connections: u64,
    /// Connections turned away (over `max_connections`, uid not allowed).
    pub rejected: u64,
    /// Requests answered with a response or error frame.
    pub answered: u64,
    /// Frames that were not decodable requests (answered with
    /// [`status::MALFORMED`]; included in `answered`).
    pub malformed: u64,
    /// Connections closed for announcing a frame above `max_request`.
    pub too_large: u64,
    /// Replies that could not be delivered (client gone or not reading);
    /// their connections were closed.
    pub dropped_replies: u64,
    /// Connections closed for a broken frame (peer closed or stalled
    /// mid-frame, a read error).
    pub broken: u64,
}

/// Serves a [`Server`]'s handlers on a listening stream socket: one thread
/// per connection, at most [`SocketServerOptions::max_connections`] at once.
/// See the [module documentation](self).
#[derive(Debug)]
pub struct SocketServer {
    listener: crate::socket::Server,
    options: SocketServerOptions,
    done: AtomicBool,
    connections: AtomicU64,
    answered: AtomicU64,
    malformed: AtomicU64,
    too_large: AtomicU64,
    dropped_replies: AtomicU64,
    broken: AtomicU64,
}

impl SocketServer {
    /// Binds and listens on the Unix socket file `path` (removed again when
    /// the server is dropped; an existing file fails with `EADDRINUSE`).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn bind_unix(
        path: impl AsRef<Path>,
        options: SocketServerOptions,
    ) -> Result<Self, RpcError> {
        Self::bind(&Addr::Unix(path.as_ref().to_path_buf()), options)
    }

    /// Binds and listens on a stream address (`unix:`, `unix-abstract:`,
    /// `tcp:`).
    ///
    /// # Errors
    ///
    /// [`RpcError::Transport`]: from `socket`, `bind` (`EADDRINUSE`) or
    /// `listen`; `InvalidArgument` for `max_connections == 0`, a
    /// `max_request` below the frame header or above a frame, `allowed_uids`
    /// on TCP, or a datagram address.
    pub fn bind(addr: &Addr, options: SocketServerOptions) -> Result<Self, RpcError> {
        if options.max_request < HEADER_LEN || options.max_request > MAX_RESPONSE {
            return Err(RpcError::Transport(Error::InvalidArgument {
                object: format!("rpc server at {addr}"),
                reason: "max_request must hold a frame header and at most a full frame",
            }));
        }
        let listen = ServerOptions {
            max_connections: options.max_connections,
            allowed_uids: options.allowed_uids.clone(),
            ..ServerOptions::default()
        };
        let listener =
            crate::socket::Server::bind(addr, SocketKind::Stream, listen).map_err(|e| match e {
                h if is_transport(&h) => RpcError::Transport(h),
                other => RpcError::Transport(Error::InvalidArgument {
                    object: format!("rpc server at {addr}: {other}"),
                    reason: "not a stream address",
                }),
            })?;
        Ok(Self {
            listener,
            options,
            done: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            too_large: AtomicU64::new(0),
            dropped_replies: AtomicU64::new(0),
            broken: AtomicU64::new(0),
        })
    }

    /// The bound address (with the real port for `tcp:…:0`).
    pub fn local_addr(&self) -> &Addr {
        self.listener.local_addr()
    }

    /// Connections being served now.
    pub fn live_connections(&self) -> usize {
        self.listener.live_connections()
    }

    /// The counters so far.
    pub fn stats(&self) -> SocketServerStats {
        SocketServerStats {
            connections: self.connections.load(Ordering::Relaxed),
            rejected: self.listener.rejected(),
            answered: self.answered.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            too_large: self.too_large.load(Ordering::Relaxed),
            dropped_replies: self.dropped_replies.load(Ordering::Relaxed),
            broken: self.broken.load(Ordering::Relaxed),
        }
    }

    /// Serves `rpc`'s handlers until the options' `max_requests` or
    /// `deadline` is reached (or forever); returns the counters. Every
    /// connection is closed before it returns.
    ///
    /// # Errors
    ///
    /// As [`serve_until`](Self::serve_until).
    pub fn serve(&self, rpc: &Server) -> Result<SocketServerStats, RpcError> {
        self.serve_until(rpc, &AtomicBool::new(false))
    }

    /// [`serve`](Self::serve), also stopping when `stop` is set (checked
    /// every 100 ms by every thread).
    ///
    /// # Errors
    ///
    /// [`RpcError::Transport`] if `accept` fails (`EMFILE`, ...); the
    /// connections being served are closed first.
    pub fn serve_until(
        &self,
        rpc: &Server,
        stop: &AtomicBool,
    ) -> Result<SocketServerStats, RpcError> {
        self.done.store(false, Ordering::Relaxed);
        let stopping = || {
            self.done.load(Ordering::Relaxed)
                || stop.load(Ordering::Relaxed)
                || self.options.deadline.is_some_and(|d| Instant::now() >= d)
        };
        let result = std::thread::scope(|s| {
            while !stopping() {
                match self.listener.accept_timeout(POLL_SLICE) {
                    Ok(conn) => {
                        self.connections.fetch_add(1, Ordering::Relaxed);
                        let stopping = &stopping;
                        s.spawn(move || self.serve_connection(&conn, rpc, stopping));
                    }
                    Err(Error::Timeout) => {}
                    Err(h) if h.errno() == Some(Errno::INTR) => {}
                    Err(e) => {
                        self.done.store(true, Ordering::Relaxed);
                        return Err(match e {
                            h if is_transport(&h) => RpcError::Transport(h),
                            other => RpcError::Malformed(other.to_string()),
                        });
                    }
                }
            }
            Ok(())
        });
        result.map(|()| self.stats())
    }

    /// Counts one answered request; sets `done` at `max_requests`.
    fn count_answer(&self) {
        let n = self.answered.fetch_add(1, Ordering::Relaxed) + 1;
        if self.options.max_requests.is_some_and(|m| n >= m) {
            self.done.store(true, Ordering::Relaxed);
        }
    }

    /// Sends one frame on `conn`, waiting at most [`SOCKET_REPLY_WAIT`].
    fn reply(conn: &Connection, frame: &[u8]) -> bool {
        let until = Instant::now().checked_add(SOCKET_REPLY_WAIT);
        set_timeout(conn.as_fd(), Which::Send, until, Duration::ZERO).is_ok()
            && FramedStream::with_max_frame(conn, MAX_RESPONSE)
                .send_frame(frame)
                .is_ok()
    }

    /// Serves one connection until it closes, breaks, or `stopping()`.
    fn serve_connection(&self, conn: &Connection, rpc: &Server, stopping: &dyn Fn() -> bool) {
        let mut hello = Vec::new();
        let mut greeting = [0u8; GREETING_LEN];
        greeting[..4].copy_from_slice(&std::process::id().to_le_bytes());
        greeting[4..].copy_from_slice(&(self.options.max_request as u32).to_le_bytes());
        if Frame::response(METHOD_PING, 0, &greeting)
            .encode(&mut hello)
            .is_err()
            || !Self::reply(conn, &hello)
        {
            self.broken.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut out = Vec::new();
        while !stopping() {
            match wait_for(
                conn.as_fd(),
                PollFlags::IN,
                Instant::now().checked_add(POLL_SLICE),
            ) {
                Ok(()) => {}
                Err(Error::Timeout) => continue,
                Err(_) => {
                    self.broken.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            if set_timeout(
                conn.as_fd(),
                Which::Recv,
                Instant::now().checked_add(FRAME_WAIT),
                Duration::ZERO,
            )
            .is_err()
            {
                self.broken.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let mut rx = FramedStream::with_max_frame(conn, self.options.max_request);
            let request = match rx.recv_frame() {
                Ok(Some(r)) => r,
                Ok(None) => return, // closed between frames
                Err(Error::Timeout) if !rx.is_poisoned() => continue,
                Err(Error::InvalidFrame { len, max }) => {
                    self.too_large.fetch_add(1, Ordering::Relaxed);
                    let msg = format!("request frame of {len} bytes exceeds the server's {max}");
                    out.clear();
                    if Frame::error(0, 0, status::REQUEST_TOO_LARGE, msg.as_bytes())
                        .encode(&mut out)
                        .is_ok()
                    {
                        let _ = Self::reply(conn, &out);
                    }
                    return;
                }
                Err(_) => {
                    self.broken.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            let response = match rpc.dispatch(&request) {
                Some((_reply_to, response)) => response,
                None => {
                    self.malformed.fetch_add(1, Ordering::Relaxed);
                    malformed_reply(&request)
                }
            };
            if Self::reply(conn, &response) {
                self.count_answer();
            } else {
                // The client died mid-call or stopped reading.
                self.dropped_replies.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// The [`status::MALFORMED`] error frame answering bytes that are not a
/// decodable request, with the method and correlation id of its header
/// where it has them (and starts with the frame magic).
fn malformed_reply(request: &[u8]) -> Vec<u8> {
    let why = match Frame::decode(request) {
        Ok(f) => format!("expected a request frame, got {:?}", f.kind),
        Err(e) => e.to_string(),
    };
    // Header fields are trusted only behind the right magic.
    let kipc = request.get(..2) == Some(&super::frame::MAGIC.to_le_bytes()[..]);
    let field = |r: core::ops::Range<usize>| request.get(r).filter(|_| kipc).map(<[u8]>::to_vec);
    let method = field(4..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes);
    let corr = field(8..16)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    let mut out = Vec::new();
    let _ = Frame::error(method, corr, status::MALFORMED, why.as_bytes()).encode(&mut out);
    out
}

/// Binds `addr`, then serves `rpc` on it (see [`SocketServer::serve_until`]).
///
/// # Errors
///
/// As [`SocketServer::bind`] and [`SocketServer::serve_until`].
pub fn serve_unix(
    path: impl AsRef<Path>,
    rpc: &Server,
    options: SocketServerOptions,
    stop: &AtomicBool,
) -> Result<SocketServerStats, RpcError> {
    SocketServer::bind_unix(path, options)?.serve_until(rpc, stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Stops a `serve_until` loop however the test body leaves it: a failed
    /// assertion would otherwise leave `thread::scope` waiting for the server
    /// thread for ever.
    struct StopOnDrop<'a>(&'a AtomicBool);

    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    fn path(tag: &str) -> std::path::PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        std::env::temp_dir().join(format!(
            "unit-rpc-sock-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn echo() -> Server {
        Server::for_sockets()
            .unwrap()
            .handle(1, |r: &[u8]| Ok(r.to_vec()))
            .handle(2, |_: &[u8]| Err(RpcError::Remote("nope".into())))
            .handle(3, |r: &[u8]| {
                std::thread::sleep(Duration::from_millis(200));
                Ok(r.to_vec())
            })
    }

    #[test]
    fn calls_errors_and_stale_replies_over_a_unix_socket() {
        let p = path("errors");
        let rpc = echo();
        let opts = SocketServerOptions {
            max_request: 256,
            ..Default::default()
        };
        let srv = SocketServer::bind_unix(&p, opts).unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let t = s.spawn(|| srv.serve_until(&rpc, &stop));
            let _stop = StopOnDrop(&stop);
            let mut c = Client::connect_unix(&p).unwrap();
            let t5 = Duration::from_secs(5);
            assert_eq!(c.call(1, b"hi", t5).unwrap(), b"hi");
            assert_eq!(c.call(9, b"", t5), Err(RpcError::MethodNotFound(9)));
            assert_eq!(c.call(2, b"", t5), Err(RpcError::Remote("nope".into())));
            assert_eq!(c.ping(t5).unwrap(), std::process::id());
            let big = vec![0u8; 300];
            assert!(matches!(
                c.call(1, &big, t5),
                Err(RpcError::RequestTooLarge { max: 256, .. })
            ));
            // A timed-out call's late reply is discarded by the next call.
            assert_eq!(
                c.call(3, b"old", Duration::from_millis(20)),
                Err(RpcError::Timeout)
            );
            assert_eq!(c.call(1, b"new", t5).unwrap(), b"new");
            stop.store(true, Ordering::Relaxed);
            let stats = t.join().unwrap().unwrap();
            assert_eq!(stats.answered, 6, "{stats:?}");
            // The server closed our connection on the way out.
            assert_eq!(c.call(1, b"x", t5), Err(RpcError::ServerDead));
        });
        drop(srv);
        assert!(!p.exists());
        assert!(matches!(
            Client::connect_unix(&p),
            Err(RpcError::ServerDead)
        ));
    }

    #[test]
    fn garbage_gets_a_malformed_reply_and_the_connection_survives() {
        let p = path("garbage");
        let rpc = echo();
        let srv = SocketServer::bind_unix(&p, SocketServerOptions::default()).unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let t = s.spawn(|| srv.serve_until(&rpc, &stop));
            let _stop = StopOnDrop(&stop);
            let sock = StreamSocket::connect(&Addr::Unix(p.clone())).unwrap();
            let mut f = FramedStream::new(&sock);
            let hello = f.recv_frame().unwrap().unwrap();
            assert_eq!(Frame::decode(&hello).unwrap().method, METHOD_PING);
            f.send_frame(b"definitely not a frame").unwrap();
            let r = f.recv_frame().unwrap().unwrap();
            let r = Frame::decode(&r).unwrap();
            assert_eq!((r.kind, r.status), (FrameKind::Error, status::MALFORMED));
            // Then a valid request on the same connection.
            let mut req = Vec::new();
            Frame::request(1, 5, b"", b"ok").encode(&mut req).unwrap();
            f.send_frame(&req).unwrap();
            let r = f.recv_frame().unwrap().unwrap();
            assert_eq!(Frame::decode(&r).unwrap(), Frame::response(1, 5, b"ok"));
            // A hostile length: an error frame, then end of file.
            (&sock).write_all(&u32::MAX.to_le_bytes()).unwrap();
            let mut f = FramedStream::new(&sock);
            let r = f.recv_frame().unwrap().unwrap();
            assert_eq!(Frame::decode(&r).unwrap().status, status::REQUEST_TOO_LARGE);
            assert_eq!(f.recv_frame().unwrap(), None);
            stop.store(true, Ordering::Relaxed);
            let stats = t.join().unwrap().unwrap();
            assert_eq!(
                (stats.malformed, stats.too_large, stats.answered),
                (1, 1, 2),
                "{stats:?}"
            );
        });
    }
}
