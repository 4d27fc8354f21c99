//! `signal`: a queued real-time signal each way (`sigqueue` with the tag
//! as the value, `sigtimedwait` to take it). Both processes block the
//! signal, so it is never delivered to a handler, only queued; the value is
//! the message (4 bytes). Ping-pong only: a signal queue is bounded by
//! `RLIMIT_SIGPENDING` and not meant to stream.
//!
//! The wait is in 100 ms slices with a liveness check between them.

use std::io;
use std::time::Duration;

use super::sys::{bench_signal, block_signal, queue_signal, restore_mask, wait_signal};
use super::Driver;
use crate::bench::harness::{ChildCtx, ParentCtx, Peer};
use crate::bench::protocol::Channel;

struct SignalChannel<'a> {
    sig: i32,
    peer: &'a Peer,
}

impl Channel for SignalChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        queue_signal(self.peer.pid(), self.sig, msg[0])
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
    let sig = bench_signal();
    let old = block_signal(sig)?;
    let r = (|| {
        let peer = ctx.spawn(&[], &[])?;
        let r = drive(&mut SignalChannel { sig, peer: &peer });
        peer.wait_exit(Duration::from_secs(2));
        // Drain anything a dying peer queued, so unblocking cannot kill us.
        while let Ok(Some(_)) = wait_signal(sig, Duration::ZERO) {}
        r
    })();
    restore_mask(&old);
    r
}

/// Peer side.
pub fn child(ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let sig = bench_signal();
    block_signal(sig)?;
    drive(&mut SignalChannel {
        sig,
        peer: &ctx.peer,
    })
}
