//! `signal`: a queued real-time signal each way (`sigqueue` with the tag
//! as the value, `sigtimedwait` to take it, both through
//! [`kipc_host::signals`]). Both processes block the signal, so it is never
//! delivered to a handler, only queued; the value is the message (4 bytes).
//! Ping-pong only: a signal queue is bounded by `RLIMIT_SIGPENDING` and not
//! meant to stream.
//!
//! The wait is in 100 ms slices with a liveness check between them.

use std::io;
use std::time::Duration;

use kipc_core::signal::{SigSet, Signal};
use kipc_host::signals;
use kipc_host::Error;
use rustix::io::Errno;

use super::Driver;
use crate::bench::harness::{ChildCtx, ParentCtx, Peer};
use crate::bench::protocol::Channel;

/// The real-time signal the bench uses: the C library's `SIGRTMIN + 3`.
fn bench_signal() -> io::Result<Signal> {
    signals::rt(3).ok_or_else(|| io::Error::other("no SIGRTMIN+3 on this system"))
}

/// `sigtimedwait({sig}, timeout)`: the queued value, or `None` on timeout
/// or an interruption.
fn wait_signal(sig: Signal, timeout: Duration) -> io::Result<Option<u8>> {
    match signals::sigtimedwait(SigSet::from(sig), timeout) {
        // The value is the tag byte the sender queued.
        Ok(got) => Ok(got.map(|info| info.value as u8)),
        Err(e) if e.errno() == Some(Errno::INTR) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Blocks `sig` in the calling thread (threads it creates inherit that, and
/// so does an `exec`ed child), so it stays queued for [`wait_signal`].
/// Returns whether it was blocked before.
fn block_signal(sig: Signal) -> io::Result<bool> {
    let old = signals::block(SigSet::from(sig)).map_err(io::Error::from)?;
    Ok(old.contains(sig))
}

struct SignalChannel<'a> {
    sig: Signal,
    peer: &'a Peer,
}

impl Channel for SignalChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        signals::sigqueue(self.peer.pid(), self.sig, usize::from(msg[0])).map_err(Error::into)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(v) = wait_signal(self.sig, Duration::from_millis(100))? {
                buf[0] = v;
                return Ok(buf.len());
            }
            if !self.peer.alive() {
                return Err(self.peer.dead_error());
            }
        }
    }
}

/// Parent side: the signal is blocked before the peer starts (it inherits
/// the mask) and unblocked afterwards, once nothing can still be queued.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let sig = bench_signal()?;
    let was_blocked = block_signal(sig)?;
    let r = (|| {
        let peer = ctx.spawn(&[], &[])?;
        let r = drive(&mut SignalChannel { sig, peer: &peer });
        peer.wait_exit(Duration::from_secs(2));
        // Drain anything a dying peer queued, so unblocking cannot kill us.
        while let Ok(Some(_)) = wait_signal(sig, Duration::ZERO) {}
        r
    })();
    if !was_blocked {
        let _ = signals::unblock(SigSet::from(sig));
    }
    r
}

/// Peer side.
pub fn child(ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let sig = bench_signal()?;
    block_signal(sig)?;
    drive(&mut SignalChannel {
        sig,
        peer: &ctx.peer,
    })
}
