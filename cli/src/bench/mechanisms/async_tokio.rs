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
//! synchronous, so each send or receive runs the async call as a task
//! would ([`run`]): its first poll in the runtime's context (all that
//! awaiting a future that is ready at once costs in a task, about 12 ns
//! here), and only if that is pending, `block_on`, which parks the thread
//! in tokio's driver as a waiting task's runtime does. A `block_on` per
//! call would add about 280 ns of runtime entry to every call, which a task
//! awaiting in a loop does not pay. Both rows are run the same way.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::task::{Context, Poll, Waker};

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

/// Runs `fut` to completion on `rt` as a task would (see the module docs).
fn run<F: Future>(rt: &Runtime, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    {
        let _in_rt = rt.enter();
        if let Poll::Ready(v) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return v;
        }
    }
    // Pending: `block_on` polls it again at once with a real waker, which
    // replaces the no-op one wherever the first poll registered it.
    rt.block_on(fut)
}

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
        let r = run(&self.rt, self.tx.send(msg));
        r.map_err(|e| self.failed("async ring send", e))
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = run(&self.rt, self.rx.recv(buf));
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
        run(&self.rt, self.stream.write_all(msg))
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        run(&self.rt, self.stream.read_exact(buf)).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                io::Error::new(io::ErrorKind::BrokenPipe, "peer closed its end")
            }
            _ => e,
        })
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
