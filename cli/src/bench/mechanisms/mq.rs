//! `posix-mq`: two POSIX message queues (one each way, [`kipc_host::mq`]),
//! created by the parent under a per-run name and unlinked as soon as the
//! peer has opened them. Each side sends with `mq_timedsend` and receives
//! with `mq_timedreceive` in 100 ms slices, checking between slices that the
//! other process lives (a queue never reports that its peer is gone).
//!
//! Message size is capped by `/proc/sys/fs/mqueue/msgsize_max` (8192 by
//! default); a larger size fails that row with the kernel's `EINVAL`.

use std::io;
use std::time::Duration;

use kipc_host::mq::MessageQueue;
use kipc_host::Error;

use super::Driver;
use crate::bench::harness::{ChildCtx, ParentCtx, Peer};
use crate::bench::protocol::Channel;

const SLICE: Duration = Duration::from_millis(100);

/// Queue depth: 10 is the default `msg_max` an unprivileged user may ask for.
const DEPTH: usize = 10;

/// Every message is sent at this priority (so the queues are FIFO).
const PRIORITY: u32 = 0;

struct MqChannel<'a> {
    tx: MessageQueue,
    rx: MessageQueue,
    peer: &'a Peer,
}

impl MqChannel<'_> {
    /// Repeats `op` (a wait of one slice) until it does not time out,
    /// checking between slices that the peer lives.
    fn retry<T>(&self, mut op: impl FnMut() -> kipc_host::Result<T>) -> io::Result<T> {
        loop {
            match op() {
                Err(Error::Timeout) => {
                    if !self.peer.alive() {
                        return Err(self.peer.dead_error());
                    }
                }
                r => return r.map_err(io::Error::from),
            }
        }
    }
}

impl Channel for MqChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.retry(|| self.tx.send_timeout(msg, PRIORITY, SLICE))
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // mq_receive wants room for the queue's largest message.
        self.retry(|| self.rx.recv_timeout(buf, SLICE).map(|r| r.len))
    }
}

/// Unlinks both names on drop (after a failure as after success).
struct Names([String; 2]);

impl Drop for Names {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = MessageQueue::unlink(n);
        }
    }
}

/// Parent side.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let msgsize = ctx.mech.ack_len(ctx.size);
    let base = format!("bench.{}", std::process::id());
    let names = Names([format!("{base}.to-peer"), format!("{base}.from-peer")]);
    for n in &names.0 {
        let _ = MessageQueue::unlink(n); // a stale queue from a killed run with our pid
    }
    let open = |n: &str| {
        MessageQueue::create(n, DEPTH, msgsize).map_err(|e| {
            let e = io::Error::from(e);
            io::Error::new(e.kind(), format!("{e} (msgsize {msgsize})"))
        })
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
    let rx = MessageQueue::open(&format!("{base}.to-peer"))?;
    let tx = MessageQueue::open(&format!("{base}.from-peer"))?;
    drive(&mut MqChannel {
        tx,
        rx,
        peer: &ctx.peer,
    })
}
