//! Procedure calls across Zenoh, with kipc's frames and errors.
//!
//! - [`serve`]: a Zenoh queryable on a key; each query's payload is a kipc
//!   request frame ([`kipc_host::rpc::frame`]), which the bridge passes to
//!   the local RPC server NAME as a [`Client`] call and answers with the
//!   response or error frame the server's answer gives.
//! - [`ZenohTransport`]: a [`Transport`] that sends each request frame as a
//!   Zenoh query, so `Client::with_transport(Box::new(ZenohTransport::new(..)))`
//!   calls a remote server exactly as [`Client::connect`] calls a local one.
//!
//! Errors map one to one: method not found, request too large, malformed
//! and handler errors come back as error frames; a local server that is
//! gone is a Zenoh error reply [`SERVER_DEAD`], seen by the caller as
//! [`RpcError::ServerDead`], and so is a key nobody serves (the query ends
//! before its timeout with no reply); a reply that does not come within the
//! caller's timeout is [`RpcError::Timeout`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kipc_host::rpc::frame::{self, status, Frame, FrameKind};
use kipc_host::rpc::{Client, RpcError, Transport};
use zenoh::handlers::FifoChannelHandler;
use zenoh::query::Reply;
use zenoh::Wait;

use crate::Result;

/// The error reply of a serving bridge whose local server is gone.
pub const SERVER_DEAD: &str = "kipc: server dead";
/// The error reply of a serving bridge whose local call timed out.
pub const TIMEOUT: &str = "kipc: timeout";

/// How long one wait for a query lasts before [`serve`] re-checks `stop`.
const POLL: Duration = Duration::from_millis(50);

/// The longest a call may wait when the caller gives no deadline.
const NO_DEADLINE: Duration = Duration::from_secs(3600);

/// Serves the local RPC server `name` on `key` until `stop` is set; each
/// local call waits at most `call_timeout`. Calls `ready` once the
/// queryable is declared.
///
/// # Errors
///
/// Zenoh declaring the queryable.
pub fn serve(
    session: &zenoh::Session,
    key: &str,
    name: &str,
    call_timeout: Duration,
    stop: &AtomicBool,
    ready: impl FnOnce(),
) -> Result<u64> {
    let queryable = session.declare_queryable(key.to_owned()).wait()?;
    ready();
    let mut client: Option<Client> = None;
    let mut served = 0;
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let query = match queryable.recv_timeout(POLL) {
            Ok(Some(q)) => q,
            Ok(None) => continue,
            Err(_) => break,
        };
        let bytes = query.payload().map(|p| p.to_bytes().into_owned());
        let answer = answer(&mut client, name, bytes.as_deref(), call_timeout, &mut out);
        let sent = match answer {
            Answer::Frame => query.reply(query.key_expr().clone(), out.clone()).wait(),
            Answer::Error(msg) => query.reply_err(msg).wait(),
        };
        if sent.is_ok() {
            served += 1;
        }
    }
    Ok(served)
}

/// What a query is answered with.
enum Answer {
    /// The frame in `out`.
    Frame,
    /// A Zenoh error reply with this text.
    Error(String),
}

/// Runs one request against the local server, (re)connecting as needed.
fn answer(
    client: &mut Option<Client>,
    name: &str,
    request: Option<&[u8]>,
    call_timeout: Duration,
    out: &mut Vec<u8>,
) -> Answer {
    let Some(request) = request else {
        return Answer::Error("kipc: malformed: query without payload".into());
    };
    let req = match Frame::decode(request) {
        Ok(f) if f.kind == FrameKind::Request => f,
        Ok(_) => return Answer::Error("kipc: malformed: not a request frame".into()),
        Err(e) => return Answer::Error(format!("kipc: malformed: {e}")),
    };
    let c = match client {
        Some(c) => c,
        None => match Client::connect(name) {
            Ok(c) => client.insert(c),
            Err(RpcError::ServerDead) => return Answer::Error(SERVER_DEAD.into()),
            Err(e) => return Answer::Error(format!("kipc: {e}")),
        },
    };
    let result = c.call(req.method, req.payload, call_timeout);
    let reply = match &result {
        Ok(payload) => Frame::response(req.method, req.correlation, payload),
        Err(RpcError::MethodNotFound(m)) => {
            Frame::error(*m, req.correlation, status::METHOD_NOT_FOUND, b"")
        }
        Err(RpcError::RequestTooLarge { .. }) => {
            Frame::error(req.method, req.correlation, status::REQUEST_TOO_LARGE, b"")
        }
        Err(RpcError::Malformed(m)) => {
            Frame::error(req.method, req.correlation, status::MALFORMED, m.as_bytes())
        }
        Err(RpcError::Remote(m)) => {
            Frame::error(req.method, req.correlation, status::REMOTE, m.as_bytes())
        }
        Err(RpcError::ServerDead) => {
            *client = None;
            return Answer::Error(SERVER_DEAD.into());
        }
        Err(RpcError::Timeout) => return Answer::Error(TIMEOUT.into()),
        Err(e @ RpcError::Transport(_)) => {
            *client = None;
            return Answer::Error(format!("kipc: {e}"));
        }
    };
    match reply.encode(out) {
        Ok(()) => Answer::Frame,
        Err(e) => Answer::Error(format!("kipc: malformed: {e}")),
    }
}

/// A [`Transport`] over Zenoh queries: each request frame is one query on
/// the key, answered by a serving bridge ([`serve`]).
///
/// # Examples
///
/// ```no_run
/// use kipc_bridge::rpc::ZenohTransport;
/// use kipc_host::rpc::Client;
/// use std::time::Duration;
/// use zenoh::Wait;
/// let session = zenoh::open(zenoh::Config::default()).wait()?;
/// let mut client = Client::with_transport(Box::new(ZenohTransport::new(session, "calc")));
/// let reply = client.call(1, b"2+2", Duration::from_secs(1))?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub struct ZenohTransport {
    session: zenoh::Session,
    key: String,
    /// The replies of the query in flight, and its deadline.
    pending: Option<(FifoChannelHandler<Reply>, Instant)>,
}

impl std::fmt::Debug for ZenohTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZenohTransport")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ZenohTransport {
    /// Calls go to whoever serves `key` on `session`.
    pub fn new(session: zenoh::Session, key: impl Into<String>) -> Self {
        Self {
            session,
            key: key.into(),
            pending: None,
        }
    }
}

/// The caller's error for a serving bridge's error reply.
fn reply_error(text: &str) -> RpcError {
    match text {
        SERVER_DEAD => RpcError::ServerDead,
        TIMEOUT => RpcError::Timeout,
        other => RpcError::Malformed(other.to_owned()),
    }
}

impl Transport for ZenohTransport {
    fn send_frame(&mut self, frame: &[u8], deadline: Option<Instant>) -> Result<(), RpcError> {
        let now = Instant::now();
        let deadline = deadline.unwrap_or(now + NO_DEADLINE);
        let replies = self
            .session
            .get(self.key.as_str())
            .payload(frame.to_vec())
            .timeout(deadline.saturating_duration_since(now))
            .wait()
            .map_err(|e| RpcError::Malformed(format!("zenoh query: {e}")))?;
        self.pending = Some((replies, deadline));
        Ok(())
    }

    fn recv_frame(&mut self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> Result<(), RpcError> {
        let Some((replies, query_deadline)) = self.pending.take() else {
            return Err(RpcError::Malformed("no request in flight".into()));
        };
        let deadline = deadline.map_or(query_deadline, |d| d.min(query_deadline));
        match replies.recv_deadline(deadline) {
            Ok(Some(reply)) => match reply.result() {
                Ok(sample) => {
                    buf.clear();
                    buf.extend_from_slice(&sample.payload().to_bytes());
                    Ok(())
                }
                Err(err) => Err(reply_error(&String::from_utf8_lossy(
                    &err.payload().to_bytes(),
                ))),
            },
            Ok(None) => Err(RpcError::Timeout),
            // The query ended with no reply. Before its deadline that means
            // nobody serves the key; at the deadline, a timeout.
            Err(_) if Instant::now() + Duration::from_millis(5) < deadline => {
                Err(RpcError::ServerDead)
            }
            Err(_) => Err(RpcError::Timeout),
        }
    }

    fn reply_address(&self) -> &[u8] {
        b""
    }

    fn max_frame(&self) -> usize {
        frame::HEADER_LEN + frame::MAX_PAYLOAD
    }
}
