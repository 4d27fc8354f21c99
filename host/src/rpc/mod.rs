//! Procedure calls between processes: a client calls
//! [`Client::call`]`(method_id, request, timeout)` and gets the bytes the
//! server's handler for that method returned.
//!
//! # Over mailboxes
//!
//! The server owns an [`Inbox`] named NAME (`/dev/shm/kipc.NAME`). Each
//! client creates its own reply inbox named `NAME.reply.<pid>.<n>` and sends
//! requests ([`frame`]) carrying that name and a correlation id; the server
//! runs the handler and sends the response into the named reply mailbox.
//! The client matches responses by correlation id and discards stale ones
//! (the late answer to an earlier call that timed out), so one server serves
//! any number of clients, each with its own mailbox, interleaved.
//!
//! The server accepts only reply addresses of the form
//! `NAME.reply.<sender's pid>.<n>`: a client cannot make the server write
//! into an unrelated mailbox.
//!
//! # Failures
//!
//! | what happens                      | what the caller sees / what is cleaned up |
//! |-----------------------------------|-------------------------------------------|
//! | no reply before the timeout       | [`RpcError::Timeout`]; a late reply is discarded by the next call |
//! | server's inbox removed (server dropped, `kipc mbox rm`) | [`RpcError::ServerDead`] at the next call, or within ~50 ms of a waiting one |
//! | server process died               | [`RpcError::ServerDead`] within ~50 ms once its pid is known (from any earlier reply, or [`Client::ping`]); before that, `Timeout` |
//! | unknown method                    | [`RpcError::MethodNotFound`]              |
//! | request over the inbox's message size | [`RpcError::RequestTooLarge`], nothing sent |
//! | garbage on either side            | the server drops requests it cannot decode (no address to answer); the client reports [`RpcError::Malformed`] for a reply it cannot decode |
//! | handler returns an error          | [`RpcError::Remote`] with its message     |
//! | client dropped                    | its reply mailbox is unlinked             |
//! | client killed mid-call            | the server's reply goes nowhere harmful: it notices the sender's pid is dead and unlinks the reply mailbox; stale ones are also pruned when the server starts and when it idles ([`prune_stale_replies`], `kipc ls --prune`) |
//! | reply mailbox full or gone        | the reply is dropped after [`REPLY_WAIT`]; the server keeps serving |
//!
//! # Other transports
//!
//! [`Transport`] is the client's view of one connection (send a frame,
//! receive a frame); [`Server::dispatch`] turns a request frame into a
//! response frame without touching any transport. A stream-socket transport
//! implements `Transport` with an empty reply address and calls `dispatch`
//! on its server side.
//!
//! # Examples
//!
//! ```
//! use kipc_host::rpc::{Client, Server};
//! use std::time::Duration;
//! let name = format!("doc-rpc-{}", std::process::id());
//! let server = Server::new(&name)?
//!     .handle(1, |req: &[u8]| Ok(req.iter().rev().copied().collect()));
//! let mut client = Client::connect(&name)?;
//! let t = std::thread::spawn(move || server.serve_n(1));
//! let reply = client.call(1, b"abc", Duration::from_secs(5))?;
//! assert_eq!(reply, b"cba");
//! t.join().unwrap()?;
//! # Ok::<(), kipc_host::rpc::RpcError>(())
//! ```

pub mod frame;
pub mod socket;

use core::fmt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::liveness::pid_alive;
use crate::mailbox::{Inbox, Mailbox, MailboxConfig, MailboxSet, Selector};
use crate::shm::ShmSegment;
use crate::Error;
use frame::{status, Frame, FrameError, FrameKind, HEADER_LEN};

/// The method every [`Server`] answers by itself with its pid (4 bytes,
/// little-endian); see [`Client::ping`].
pub const METHOD_PING: u32 = u32::MAX;

/// How long the server waits for room in a client's reply mailbox before it
/// drops the reply.
pub const REPLY_WAIT: Duration = Duration::from_millis(100);

/// How often a waiting client checks that the server is still there.
const CHECK_SLICE: Duration = Duration::from_millis(50);

/// How long an idle server waits between prunes of stale reply mailboxes.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// The server inbox [`Server::new`] creates: 64 messages of up to 64 KiB.
pub const DEFAULT_CONFIG: MailboxConfig = MailboxConfig::new(64, 64 << 10);

/// Slots of a client's reply mailbox (one call at a time, plus stale replies).
const REPLY_SLOTS: u32 = 8;

/// Everything a call (or serving) can fail with.
///
/// This is deliberately not folded into [`Error`]: most of its variants are
/// answers from the *remote* side (no such method, the handler's own error
/// message, a request the server could not decode) that a caller handles
/// differently from local failures, and the local ones arrive wrapped as
/// [`RpcError::Transport`] with the ordinary host [`Error`] inside, so
/// `PeerDead`, `Timeout` and the rest are still matched in one place.
/// [`frame::FrameError`] likewise stays a small `Copy` type of pure decoding
/// outcomes (no object names), reported to callers as [`RpcError::Malformed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// No reply within the timeout.
    Timeout,
    /// The server is gone: its inbox was removed, or its process exited.
    ServerDead,
    /// The server has no handler for this method.
    MethodNotFound(u32),
    /// The request does not fit the server's inbox (or a frame).
    RequestTooLarge {
        /// Bytes of the encoded request frame.
        len: usize,
        /// The largest frame accepted.
        max: usize,
    },
    /// A frame could not be decoded, or the server said our request could
    /// not be.
    Malformed(String),
    /// The handler failed; its message.
    Remote(String),
    /// The transport failed (a system call, a name, a corrupt mailbox).
    Transport(Error),
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::Timeout => f.write_str("rpc timed out"),
            RpcError::ServerDead => f.write_str("rpc server is gone"),
            RpcError::MethodNotFound(m) => write!(f, "rpc server has no method {m}"),
            RpcError::RequestTooLarge { len, max } => {
                write!(f, "rpc request of {len} bytes exceeds the server's {max}")
            }
            RpcError::Malformed(why) => write!(f, "malformed rpc frame: {why}"),
            RpcError::Remote(msg) => write!(f, "rpc handler failed: {msg}"),
            RpcError::Transport(e) => write!(f, "rpc transport: {e}"),
        }
    }
}

impl std::error::Error for RpcError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RpcError::Transport(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for RpcError {
    fn from(e: Error) -> Self {
        match e {
            Error::Timeout => RpcError::Timeout,
            other => RpcError::Transport(other),
        }
    }
}

impl From<FrameError> for RpcError {
    fn from(e: FrameError) -> Self {
        RpcError::Malformed(e.to_string())
    }
}

/// A client's connection to one server: frames out, frames back.
///
/// Object-safe, so a [`Client`] holds a `Box<dyn Transport>`; implement it
/// for a Unix stream socket (length-prefixed frames, empty reply address) to
/// run the same calls over sockets.
pub trait Transport: fmt::Debug + Send {
    /// Sends one encoded request frame, waiting for room at most until
    /// `deadline` (`None`: forever).
    ///
    /// # Errors
    ///
    /// [`RpcError::Timeout`], [`RpcError::ServerDead`],
    /// [`RpcError::RequestTooLarge`], [`RpcError::Transport`].
    fn send_frame(&mut self, frame: &[u8], deadline: Option<Instant>) -> Result<(), RpcError>;

    /// Receives one frame into `buf` (replacing its contents), waiting at
    /// most until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`send_frame`](Self::send_frame).
    fn recv_frame(&mut self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> Result<(), RpcError>;

    /// The address requests carry for the response (empty for a
    /// connection, where the response comes back the same way).
    fn reply_address(&self) -> &[u8];

    /// The largest frame [`send_frame`](Self::send_frame) accepts.
    fn max_frame(&self) -> usize;
}

/// The name of the `n`th reply mailbox of process `pid` for server `server`.
fn reply_name(server: &str, pid: u32, n: u32) -> String {
    format!("{server}.reply.{pid}.{n}")
}

/// If `name` is an RPC reply mailbox (`SERVER.reply.<pid>.<n>`), the server
/// name and the pid of the client that owns it.
///
/// # Examples
///
/// ```
/// use kipc_host::rpc::reply_owner;
/// assert_eq!(reply_owner("calc.reply.42.0"), Some(("calc", 42)));
/// assert_eq!(reply_owner("calc"), None);
/// assert_eq!(reply_owner("calc.reply.x.0"), None);
/// ```
pub fn reply_owner(name: &str) -> Option<(&str, u32)> {
    let (rest, n) = name.rsplit_once('.')?;
    let (rest, pid) = rest.rsplit_once('.')?;
    let server = rest.strip_suffix(".reply")?;
    if server.is_empty() || n.parse::<u32>().is_err() {
        return None;
    }
    Some((server, pid.parse().ok()?))
}

/// Whether `pid` is a process that exists (a pid of 0 or above `i32::MAX`
/// does not).
fn alive(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(|p| p > 0 && pid_alive(p))
}

/// Unlinks the reply mailboxes of server `server` whose client process has
/// exited; returns how many. (`kill(pid, 0)`: a reused pid keeps a stale
/// mailbox until that process exits too.)
///
/// # Errors
///
/// [`RpcError::Transport`] if `/dev/shm` cannot be listed.
pub fn prune_stale_replies(server: &str) -> Result<usize, RpcError> {
    let mut removed = 0;
    for entry in ShmSegment::list()? {
        let stale = reply_owner(&entry.name).is_some_and(|(s, pid)| s == server && !alive(pid));
        if stale && ShmSegment::unlink(&entry.name).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// [`Transport`] over mailboxes: requests into the server's named inbox,
/// responses into our own reply inbox.
#[derive(Debug)]
pub struct MailboxTransport {
    server: Mailbox,
    reply: Inbox,
    reply_addr: String,
    /// The server's pid, once a reply told us (the sender pid of replies).
    server_pid: Option<u32>,
    buf: Vec<u8>,
}

impl MailboxTransport {
    /// Opens server `name`'s inbox and creates our reply inbox
    /// `NAME.reply.<pid>.<n>`, sized for the server's messages.
    ///
    /// # Errors
    ///
    /// [`RpcError::ServerDead`] if there is no inbox called `name`;
    /// [`RpcError::Transport`] otherwise (an invalid name: `name` plus the
    /// reply suffix must stay within 200 bytes).
    pub fn connect(name: &str) -> Result<Self, RpcError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let server = match Mailbox::open(name) {
            Ok(m) => m,
            Err(e) if e.errno() == Some(rustix::io::Errno::NOENT) => {
                return Err(RpcError::ServerDead)
            }
            Err(e) => return Err(e.into()),
        };
        let max = server.max_msg() as u32;
        let me = std::process::id();
        let mut tries = 0;
        let (reply, reply_addr) = loop {
            let addr = reply_name(name, me, NEXT.fetch_add(1, Ordering::Relaxed));
            match Inbox::create(&addr, MailboxConfig::new(REPLY_SLOTS, max)) {
                Ok(inbox) => break (inbox, addr),
                // Left by an earlier process with our pid: try the next n.
                Err(e) if e.errno() == Some(rustix::io::Errno::EXIST) && tries < 16 => {
                    tries += 1;
                }
                Err(e) => return Err(e.into()),
            }
        };
        Ok(Self {
            server,
            reply,
            reply_addr,
            server_pid: None,
            buf: vec![0; max as usize],
        })
    }

    /// The server's pid, if a reply has told us.
    pub fn server_pid(&self) -> Option<u32> {
        self.server_pid
    }

    /// `ServerDead` if the server's inbox was unlinked or its known pid is
    /// dead.
    fn check_server(&self) -> Result<(), RpcError> {
        if self.server.is_unlinked() || self.server_pid.is_some_and(|p| !alive(p)) {
            return Err(RpcError::ServerDead);
        }
        Ok(())
    }
}

impl Transport for MailboxTransport {
    fn send_frame(&mut self, frame: &[u8], deadline: Option<Instant>) -> Result<(), RpcError> {
        if frame.len() > self.server.max_msg() {
            return Err(RpcError::RequestTooLarge {
                len: frame.len(),
                max: self.server.max_msg(),
            });
        }
        loop {
            self.check_server()?;
            let slice = Instant::now() + CHECK_SLICE;
            let until = deadline.map_or(slice, |d| d.min(slice));
            match self.server.send_deadline(frame, 0, 1, Some(until)) {
                Ok(()) => return Ok(()),
                Err(Error::Timeout) if deadline.is_none_or(|d| Instant::now() < d) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn recv_frame(&mut self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> Result<(), RpcError> {
        loop {
            let slice = Instant::now() + CHECK_SLICE;
            let until = deadline.map_or(slice, |d| d.min(slice));
            match self
                .reply
                .recv_deadline(Selector::Any, &mut self.buf, Some(until))
            {
                Ok(got) => {
                    buf.clear();
                    buf.extend_from_slice(self.buf.get(..got.len).unwrap_or_default());
                    if got.sender_pid != 0 && got.sender_pid != std::process::id() {
                        self.server_pid = Some(got.sender_pid);
                    }
                    return Ok(());
                }
                Err(Error::Timeout) => {
                    self.check_server()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(RpcError::Timeout);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn reply_address(&self) -> &[u8] {
        self.reply_addr.as_bytes()
    }

    fn max_frame(&self) -> usize {
        self.server.max_msg()
    }
}

/// The calling side. See the [module documentation](self).
#[derive(Debug)]
pub struct Client {
    transport: Box<dyn Transport>,
    next: u64,
    out: Vec<u8>,
    inc: Vec<u8>,
}

impl Client {
    /// Connects to the server whose inbox is called `name` (see
    /// [`MailboxTransport::connect`]). Does not wait for the server to
    /// answer; use [`ping`](Self::ping) for that.
    ///
    /// # Errors
    ///
    /// As [`MailboxTransport::connect`].
    pub fn connect(name: &str) -> Result<Self, RpcError> {
        Ok(Self::with_transport(Box::new(MailboxTransport::connect(
            name,
        )?)))
    }

    /// A client over any transport.
    pub fn with_transport(transport: Box<dyn Transport>) -> Self {
        Self {
            transport,
            next: 1,
            out: Vec::new(),
            inc: Vec::new(),
        }
    }

    /// Calls `method` with `request`, waiting up to `timeout` for the reply
    /// whose correlation id matches (others are stale and discarded).
    ///
    /// # Errors
    ///
    /// Every [`RpcError`]; see the table in the [module documentation](self).
    pub fn call(
        &mut self,
        method: u32,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, RpcError> {
        let deadline = Instant::now().checked_add(timeout);
        let correlation = self.next;
        self.next = self.next.wrapping_add(1);
        let frame = Frame::request(method, correlation, self.transport.reply_address(), request);
        let max = self.transport.max_frame();
        if frame.encoded_len() > max {
            return Err(RpcError::RequestTooLarge {
                len: frame.encoded_len(),
                max,
            });
        }
        frame
            .encode(&mut self.out)
            .map_err(|_| RpcError::RequestTooLarge {
                len: frame.encoded_len(),
                max,
            })?;
        self.transport.send_frame(&self.out, deadline)?;
        loop {
            self.transport.recv_frame(&mut self.inc, deadline)?;
            let reply = Frame::decode(&self.inc)?;
            if reply.correlation != correlation || reply.kind == FrameKind::Request {
                continue; // stale (an earlier call timed out) or not for us
            }
            return match reply.kind {
                FrameKind::Response => Ok(reply.payload.to_vec()),
                _ => Err(remote_error(&reply, max)),
            };
        }
    }

    /// Asks the server for its pid ([`METHOD_PING`]); after this, a dead
    /// server is reported as [`RpcError::ServerDead`] instead of a timeout.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call); [`RpcError::Malformed`] if the answer is not
    /// 4 bytes.
    pub fn ping(&mut self, timeout: Duration) -> Result<u32, RpcError> {
        let r = self.call(METHOD_PING, &[], timeout)?;
        let b: [u8; 4] = r
            .as_slice()
            .try_into()
            .map_err(|_| RpcError::Malformed("ping answer is not 4 bytes".into()))?;
        Ok(u32::from_le_bytes(b))
    }
}

/// The error an error frame stands for.
fn remote_error(f: &Frame<'_>, max: usize) -> RpcError {
    let text = String::from_utf8_lossy(f.payload).into_owned();
    match f.status {
        status::METHOD_NOT_FOUND => RpcError::MethodNotFound(f.method),
        status::REQUEST_TOO_LARGE => RpcError::RequestTooLarge {
            len: f.payload.len(),
            max,
        },
        status::MALFORMED => RpcError::Malformed(text),
        status::RESPONSE_TOO_LARGE => RpcError::Remote(format!("response too large: {text}")),
        _ => RpcError::Remote(text),
    }
}

/// A method handler: request bytes in, response bytes (or an error) out.
pub type Handler = Box<dyn Fn(&[u8]) -> Result<Vec<u8>, RpcError> + Send + Sync>;

/// Counters of a [`Server`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// Requests answered (responses and error frames sent).
    pub answered: u64,
    /// Requests dropped: undecodable, or with an unacceptable reply address.
    pub dropped_requests: u64,
    /// Replies that could not be delivered (client gone or not reading).
    pub dropped_replies: u64,
    /// Reply mailboxes of dead clients removed.
    pub pruned: u64,
}

/// The serving side. See the [module documentation](self).
///
/// All serving methods take `&self`; several threads may serve one inbox.
pub struct Server {
    inbox: Inbox,
    handlers: HashMap<u32, Handler>,
    replies: Mutex<MailboxSet>,
    answered: AtomicU64,
    dropped_requests: AtomicU64,
    dropped_replies: AtomicU64,
    pruned: AtomicU64,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut methods: Vec<_> = self.handlers.keys().collect();
        methods.sort_unstable();
        f.debug_struct("Server")
            .field("inbox", &self.inbox.address())
            .field("methods", &methods)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Server {
    /// Creates the server's inbox `name` with [`DEFAULT_CONFIG`], after
    /// pruning stale reply mailboxes a previous server left.
    ///
    /// # Errors
    ///
    /// As [`Inbox::create`] (`EEXIST` if a server, or a leftover, has the
    /// name: remove it with `kipc mbox rm`).
    pub fn new(name: &str) -> Result<Self, RpcError> {
        Self::with_config(name, DEFAULT_CONFIG)
    }

    /// [`new`](Self::new) with an inbox geometry of your choice; its
    /// `max_msg` bounds request frames (and reply mailboxes).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_config(name: &str, config: MailboxConfig) -> Result<Self, RpcError> {
        let _ = prune_stale_replies(name);
        Ok(Self {
            inbox: Inbox::create(name, config)?,
            handlers: HashMap::new(),
            replies: Mutex::new(MailboxSet::new()),
            answered: AtomicU64::new(0),
            dropped_requests: AtomicU64::new(0),
            dropped_replies: AtomicU64::new(0),
            pruned: AtomicU64::new(0),
        })
    }

    /// Registers `handler` for `method` (replacing an earlier one).
    /// [`METHOD_PING`] is answered by the server itself.
    pub fn handle<F>(mut self, method: u32, handler: F) -> Self
    where
        F: Fn(&[u8]) -> Result<Vec<u8>, RpcError> + Send + Sync + 'static,
    {
        self.handlers.insert(method, Box::new(handler));
        self
    }

    /// The inbox's name.
    pub fn name(&self) -> &str {
        self.inbox.address()
    }

    /// The counters so far.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            answered: self.answered.load(Ordering::Relaxed),
            dropped_requests: self.dropped_requests.load(Ordering::Relaxed),
            dropped_replies: self.dropped_replies.load(Ordering::Relaxed),
            pruned: self.pruned.load(Ordering::Relaxed),
        }
    }

    /// Turns one request frame into `(reply address, response frame)`,
    /// running the handler. `None` for bytes that are not a decodable
    /// request (there is nobody to answer). Transport-free: a socket server
    /// calls this too.
    pub fn dispatch(&self, request: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let req = Frame::decode(request).ok()?;
        if req.kind != FrameKind::Request {
            return None;
        }
        let mut out = Vec::new();
        let (method, corr) = (req.method, req.correlation);
        let encoded = match self.handlers.get(&method) {
            _ if method == METHOD_PING => {
                Frame::response(method, corr, &std::process::id().to_le_bytes()).encode(&mut out)
            }
            None => Frame::error(method, corr, status::METHOD_NOT_FOUND, b"no such method")
                .encode(&mut out),
            Some(h) => match h(req.payload) {
                Ok(resp) => Frame::response(method, corr, &resp).encode(&mut out),
                Err(e) => {
                    let msg = match e {
                        RpcError::Remote(m) => m,
                        other => other.to_string(),
                    };
                    Frame::error(method, corr, status::REMOTE, msg.as_bytes()).encode(&mut out)
                }
            },
        };
        if encoded.is_err() {
            let _ = Frame::error(
                method,
                corr,
                status::RESPONSE_TOO_LARGE,
                b"response exceeds a frame",
            )
            .encode(&mut out);
        }
        Some((req.reply_to.to_vec(), out))
    }

    /// Receives and answers one request, waiting until `deadline`; `Ok(false)`
    /// if none came.
    ///
    /// # Errors
    ///
    /// [`RpcError::Transport`] if the inbox fails (corrupt).
    pub fn serve_one(&self, deadline: Option<Instant>) -> Result<bool, RpcError> {
        let mut buf = vec![0u8; self.inbox.max_msg()];
        self.serve_one_into(&mut buf, deadline)
    }

    fn serve_one_into(&self, buf: &mut [u8], deadline: Option<Instant>) -> Result<bool, RpcError> {
        let got = match self.inbox.recv_deadline(Selector::Any, buf, deadline) {
            Ok(got) => got,
            Err(Error::Timeout) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let request = buf.get(..got.len).unwrap_or_default();
        let Some((reply_to, response)) = self.dispatch(request) else {
            self.dropped_requests.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        };
        // Only `NAME.reply.<sender pid>.<n>` is an acceptable address.
        let addr = std::str::from_utf8(&reply_to).ok().filter(|a| {
            reply_owner(a).is_some_and(|(s, pid)| s == self.name() && pid == got.sender_pid)
        });
        let Some(addr) = addr else {
            self.dropped_requests.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        };
        let sent = {
            let mut set = self.replies.lock().unwrap_or_else(|p| p.into_inner());
            let r = set.get(addr).and_then(|mb| {
                if response.len() > mb.max_msg() {
                    let mut small = Vec::new();
                    let f = Frame::decode(&response).ok();
                    let (m, c) = f.map_or((0, 0), |f| (f.method, f.correlation));
                    let _ = Frame::error(
                        m,
                        c,
                        status::RESPONSE_TOO_LARGE,
                        b"response exceeds the reply mailbox",
                    )
                    .encode(&mut small);
                    mb.send_timeout(&small, 0, 2, REPLY_WAIT)
                } else {
                    mb.send_timeout(&response, 0, 2, REPLY_WAIT)
                }
            });
            if r.is_err() {
                set.forget(addr);
            }
            r
        };
        match sent {
            Ok(()) => {
                self.answered.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.dropped_replies.fetch_add(1, Ordering::Relaxed);
            }
        }
        // A client that died mid-call will never read or remove its mailbox.
        if !alive(got.sender_pid) {
            self.replies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .forget(addr);
            if Mailbox::unlink(addr).is_ok() {
                self.pruned.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(true)
    }

    /// Serves until `stop` is set or `deadline` passes (checking the flag
    /// every 100 ms); returns how many requests were handled. Prunes stale
    /// reply mailboxes when idle.
    ///
    /// # Errors
    ///
    /// As [`serve_one`](Self::serve_one).
    pub fn serve_until(
        &self,
        stop: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<u64, RpcError> {
        self.serve_loop(None, Some(stop), deadline)
    }

    /// Serves exactly `count` requests (waiting as long as it takes).
    ///
    /// # Errors
    ///
    /// As [`serve_one`](Self::serve_one).
    pub fn serve_n(&self, count: u64) -> Result<u64, RpcError> {
        self.serve_loop(Some(count), None, None)
    }

    /// Serves forever (returns only on an error).
    ///
    /// # Errors
    ///
    /// As [`serve_one`](Self::serve_one).
    pub fn serve(&self) -> Result<(), RpcError> {
        self.serve_loop(None, None, None).map(drop)
    }

    fn serve_loop(
        &self,
        count: Option<u64>,
        stop: Option<&AtomicBool>,
        deadline: Option<Instant>,
    ) -> Result<u64, RpcError> {
        let mut buf = vec![0u8; self.inbox.max_msg().max(HEADER_LEN)];
        let mut handled = 0u64;
        let mut last_prune = Instant::now();
        while count.is_none_or(|c| handled < c) {
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                break;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                break;
            }
            let slice = now + Duration::from_millis(100);
            let until = deadline.map_or(slice, |d| d.min(slice));
            if self.serve_one_into(&mut buf, Some(until))? {
                handled += 1;
            } else if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = Instant::now();
                if let Ok(n) = prune_stale_replies(self.name()) {
                    self.pruned.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }
        Ok(handled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn unique(tag: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "unit-rpc-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn echo_server(name: &str) -> Arc<Server> {
        Arc::new(
            Server::new(name)
                .unwrap()
                .handle(1, |r: &[u8]| Ok(r.to_vec()))
                .handle(2, |_: &[u8]| Err(RpcError::Remote("nope".into()))),
        )
    }

    #[test]
    fn call_errors_are_distinguished() {
        let name = unique("errors");
        let server = echo_server(&name);
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&server), Arc::clone(&stop));
        let t = std::thread::spawn(move || s.serve_until(&st, None));
        let mut c = Client::connect(&name).unwrap();
        let t5 = Duration::from_secs(5);
        assert_eq!(c.call(1, b"hi", t5).unwrap(), b"hi");
        assert_eq!(c.call(9, b"", t5), Err(RpcError::MethodNotFound(9)));
        assert_eq!(c.call(2, b"", t5), Err(RpcError::Remote("nope".into())));
        assert_eq!(c.ping(t5).unwrap(), std::process::id());
        let big = vec![0u8; DEFAULT_CONFIG.max_msg as usize];
        assert!(matches!(
            c.call(1, &big, t5),
            Err(RpcError::RequestTooLarge { .. })
        ));
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap().unwrap();
        // Nobody serves now: a timeout, then (inbox removed) ServerDead.
        assert_eq!(
            c.call(1, b"x", Duration::from_millis(30)),
            Err(RpcError::Timeout)
        );
        drop(server);
        assert_eq!(c.call(1, b"x", t5), Err(RpcError::ServerDead));
        assert!(matches!(Client::connect(&name), Err(RpcError::ServerDead)));
    }

    #[test]
    fn stale_reply_of_a_timed_out_call_is_discarded() {
        let name = unique("stale");
        let server = echo_server(&name);
        let mut c = Client::connect(&name).unwrap();
        // Times out: nobody serves yet; the request stays queued.
        assert_eq!(
            c.call(1, b"old", Duration::from_millis(10)),
            Err(RpcError::Timeout)
        );
        let s = Arc::clone(&server);
        let t = std::thread::spawn(move || s.serve_n(2));
        assert_eq!(c.call(1, b"new", Duration::from_secs(5)).unwrap(), b"new");
        t.join().unwrap().unwrap();
    }

    #[test]
    fn dropped_client_removes_its_reply_mailbox() {
        let name = unique("drop");
        let _server = echo_server(&name);
        let c = Client::connect(&name).unwrap();
        let addr = format!("{name}.reply.{}.", std::process::id());
        let has = || {
            ShmSegment::list()
                .unwrap()
                .iter()
                .any(|e| e.name.starts_with(&addr))
        };
        assert!(has());
        drop(c);
        assert!(!has());
    }

    #[test]
    fn requests_with_foreign_reply_addresses_are_dropped() {
        let name = unique("foreign");
        let server = echo_server(&name);
        let victim = unique("victim");
        let v = Inbox::create(&victim, MailboxConfig::new(2, 256)).unwrap();
        let mut out = Vec::new();
        Frame::request(1, 1, victim.as_bytes(), b"x")
            .encode(&mut out)
            .unwrap();
        server.inbox.send(&out, 0, 1).unwrap();
        server.inbox.send(b"garbage", 0, 1).unwrap();
        assert_eq!(server.serve_n(2).unwrap(), 2);
        assert_eq!(server.stats().dropped_requests, 2);
        assert!(v.is_empty());
    }
}
