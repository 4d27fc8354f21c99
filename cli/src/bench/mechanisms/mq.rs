//! `posix-mq`: two POSIX message queues (one each way), created by the
//! parent under a per-run name and unlinked as soon as the peer has opened
//! them. Each side sends with `mq_timedsend` and receives with
//! `mq_timedreceive` in 100 ms slices, checking between slices that the
//! other process lives (a queue never reports that its peer is gone).
//!
//! Message size is capped by `/proc/sys/fs/mqueue/msgsize_max` (8192 by
//! default); a larger size fails that row with the kernel's `EINVAL`.

use std::io;
use std::time::Duration;

use super::sys::Mq;
use super::Driver;
use crate::bench::harness::{ChildCtx, ParentCtx, Peer};
use crate::bench::protocol::Channel;

const SLICE: Duration = Duration::from_millis(100);

/// Queue depth: 10 is the default `msg_max` an unprivileged user may ask for.
const DEPTH: usize = 10;

struct MqChannel<'a> {
    tx: Mq,
    rx: Mq,
    peer: &'a Peer,
}

impl MqChannel<'_> {
    fn retry<T>(&self, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        loop {
            match op() {
                Err(e)
                    if e.kind() == io::ErrorKind::TimedOut
                        || e.kind() == io::ErrorKind::Interrupted =>
                {
                    if !self.peer.alive() {
                        return Err(self.peer.dead_error());
                    }
                }
                r => return r,
            }
        }
    }
}

impl Channel for MqChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.retry(|| self.tx.send(msg, SLICE))
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // mq_receive wants room for the queue's largest message.
        self.retry(|| self.rx.recv(buf, SLICE))
    }
}

/// Unlinks both names on drop (after a failure as after success).
struct Names([String; 2]);

impl Drop for Names {
    fn drop(&mut self) {
        for n in &self.0 {
            Mq::unlink(n);
        }
    }
}

/// Parent side.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let msgsize = ctx.mech.ack_len(ctx.size);
    let base = format!("/kipc-bench.{}", std::process::id());
    let names = Names([format!("{base}.to-peer"), format!("{base}.from-peer")]);
    for n in &names.0 {
        Mq::unlink(n); // a stale queue from a killed run with our pid
    }
    let open = |n: &str| {
        Mq::open(n, Some((DEPTH, msgsize)))
            .map_err(|e| io::Error::new(e.kind(), format!("mq_open({n}, msgsize {msgsize}): {e}")))
    };
    let tx = open(&names.0[0])?;
    let rx = open(&names.0[1])?;
    let peer = ctx.spawn(&[], &[base])?;
    let mut ch = MqChannel {
        tx,
        rx,
        peer: &peer,
    };
    let mut names = Some(names);
    drive(&mut UnlinkAfterFirstRecv {
        ch: &mut ch,
        names: &mut names,
    })
}

/// Unlinks the names once the peer's `READY` shows it has opened them.
struct UnlinkAfterFirstRecv<'a, 'b> {
    ch: &'a mut MqChannel<'b>,
    names: &'a mut Option<Names>,
}

impl Channel for UnlinkAfterFirstRecv<'_, '_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.ch.send(msg)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.ch.recv(buf)?;
        self.names.take();
        Ok(n)
    }
}

/// Peer side.
pub fn child(ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let base = ctx.extra(0)?;
    let rx = Mq::open(&format!("{base}.to-peer"), None)?;
    let tx = Mq::open(&format!("{base}.from-peer"), None)?;
    drive(&mut MqChannel {
        tx,
        rx,
        peer: &ctx.peer,
    })
}
