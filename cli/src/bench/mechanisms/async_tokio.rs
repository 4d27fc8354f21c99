//! `kipc-spsc-async` and `tokio-unix-stream` (cargo feature `tokio`, on by
//! default): what a tokio user would measure.
//!
//! - `kipc-spsc-async`: two SPSC [`ShmRing`]s (one each way, anonymous
//!   memfds the peer receives) through kipc-host's
//!   [`AsyncSender`]/[`AsyncReceiver`]: spin 256 turns (yielding every 32),
//!   then arm the wake descriptor and wait in tokio's reactor (epoll);
//! - `tokio-unix-stream`: a `socketpair` as tokio's `UnixStream`
//!   (`write_all`/`read_exact`), the thing a tokio user would pick instead.
//!
//! Each process runs a current_thread runtime. The bench protocol is
//! synchronous, so each send or receive first makes one plain try (what
//! awaiting an endpoint future that is ready at its first poll costs inside
//! a task) and otherwise `block_on`s the async call, which spins, arms and
//! parks the thread in tokio's driver as a waiting task would. Entering
//! `block_on` costs about 280 ns on this machine, which a task awaiting in
//! a loop does not pay; without the first try the round trip is about
//! 0.4 us longer. `tokio-unix-stream` gets the same first try (tokio's
//! `try_write`/`try_read`; the rest of a partial message through
//! `write_all`/`read_exact` in `block_on`).

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream as StdUnixStream;

use kipc_core::queue::AnyRing;
use kipc_host::ring::{RingConfig, ShmRing};
use kipc_host::tokio::{AsyncReceiver, AsyncSender};
use kipc_host::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::runtime::Runtime;

use super::ring::slots_for;
use super::{other, Driver};
use crate::bench::harness::{ChildCtx, ParentCtx, Peer};
use crate::bench::protocol::Channel;

fn runtime() -> io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// A [`Channel`] over a pair of rings with async endpoints.
struct AsyncRingChannel<'a> {
    rt: Runtime,
    tx: AsyncSender<AnyRing>,
    rx: AsyncReceiver<AnyRing>,
    peer: &'a Peer,
}

impl AsyncRingChannel<'_> {
    /// A dead peer is reported as the harness reports it everywhere.
    fn failed(&self, what: &str, e: Error) -> io::Error {
        match e {
            Error::PeerDead => self.peer.dead_error(),
            e => other(what, e),
        }
    }
}

impl Channel for AsyncRingChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let r = match self.tx.try_send(msg) {
            Err(Error::Full) => self.rt.block_on(self.tx.send(msg)),
            r => r,
        };
        r.map_err(|e| self.failed("async ring send", e))
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = match self.rx.try_recv(buf) {
            Err(Error::Empty) => self.rt.block_on(self.rx.recv(buf)),
            r => r,
        };
        r.map_err(|e| self.failed("async ring receive", e))
    }
}

/// Makes the async channel over `out` (we send) and `inc` (we receive).
fn ring_channel<'a>(
    out: &ShmRing,
    inc: &ShmRing,
    peer: &'a Peer,
) -> io::Result<AsyncRingChannel<'a>> {
    let rt = runtime()?;
    let _in_rt = rt.enter();
    let tx = out.sender().map_err(|e| other("ring sender", e))?;
    let rx = inc.receiver().map_err(|e| other("ring receiver", e))?;
    let tx = AsyncSender::new(tx).map_err(|e| other("async ring sender", e))?;
    let rx = AsyncReceiver::new(rx).map_err(|e| other("async ring receiver", e))?;
    drop(_in_rt);
    Ok(AsyncRingChannel { rt, tx, rx, peer })
}

/// Parent side of `kipc-spsc-async`: creates both rings and hands them to
/// the peer.
pub fn parent_ring(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let size = ctx.mech.ack_len(ctx.size);
    let slot_size = u32::try_from(size).map_err(|_| other("ring", "message too large"))?;
    let config = RingConfig::spsc(slots_for(size), slot_size);
    let out = ShmRing::create_anonymous(config).map_err(|e| other("ring", e))?;
    let inc = ShmRing::create_anonymous(config).map_err(|e| other("ring", e))?;
    let peer = ctx.spawn(&[out.fd(), inc.fd()], &[])?;
    drive(&mut ring_channel(&out, &inc, &peer)?)
}

/// Peer side of `kipc-spsc-async`.
pub fn child_ring(mut ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let inc = ShmRing::from_fd(ctx.take_fd(0)?).map_err(|e| other("ring", e))?;
    let out = ShmRing::from_fd(ctx.take_fd(1)?).map_err(|e| other("ring", e))?;
    drive(&mut ring_channel(&out, &inc, &ctx.peer)?)
}

/// A [`Channel`] over tokio's `UnixStream`: `size`-byte messages back to
/// back, as `unix-stream`.
struct TokioStreamChannel {
    rt: Runtime,
    stream: UnixStream,
}

impl TokioStreamChannel {
    fn new(fd: OwnedFd) -> io::Result<Self> {
        let rt = runtime()?;
        let std = StdUnixStream::from(fd);
        std.set_nonblocking(true)?;
        let stream = {
            let _in_rt = rt.enter();
            UnixStream::from_std(std)?
        };
        Ok(Self { rt, stream })
    }
}

impl Channel for TokioStreamChannel {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let done = match self.stream.try_write(msg) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        match msg.get(done..) {
            Some(rest) if !rest.is_empty() => self.rt.block_on(self.stream.write_all(rest)),
            _ => Ok(()),
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let eof = || io::Error::new(io::ErrorKind::BrokenPipe, "peer closed its end");
        let done = match self.stream.try_read(buf) {
            Ok(0) if !buf.is_empty() => return Err(eof()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        let len = buf.len();
        if let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
            self.rt
                .block_on(self.stream.read_exact(rest))
                .map_err(|e| match e.kind() {
                    io::ErrorKind::UnexpectedEof => eof(),
                    _ => e,
                })?;
        }
        Ok(len)
    }
}

/// Parent side of `tokio-unix-stream`.
pub fn parent_stream(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let (mine, theirs) = StdUnixStream::pair()?;
    let _peer = ctx.spawn(&[std::os::fd::AsFd::as_fd(&theirs)], &[])?;
    drop(theirs);
    drive(&mut TokioStreamChannel::new(mine.into())?)
}

/// Peer side of `tokio-unix-stream`.
pub fn child_stream(mut ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    drive(&mut TokioStreamChannel::new(ctx.take_fd(0)?)?)
}
