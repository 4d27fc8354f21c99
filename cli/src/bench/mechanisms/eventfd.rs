//! `eventfd`: two eventfds (one each way), inherited by the peer. A message
//! is one 8-byte `write` of the tag and one blocking `read`; the size is
//! fixed at 8 bytes. Ping-pong only: an eventfd is a counter, not a queue.
//!
//! An eventfd never reports that the other side is gone, so the parent runs
//! a watchdog thread on the peer's pidfd that, if the peer dies, writes a
//! value no message uses into the parent's own incoming eventfd.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::event::{eventfd, EventfdFlags};

use super::Driver;
use crate::bench::harness::{ChildCtx, ParentCtx};
use crate::bench::protocol::Channel;

/// Written by the watchdog when the peer has died.
const DEAD: u64 = 0xdead;

struct EventfdChannel<'a> {
    tx: &'a OwnedFd,
    rx: &'a OwnedFd,
}

impl Channel for EventfdChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        rustix::io::write(self.tx, &u64::from(msg[0]).to_ne_bytes())?;
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut v = [0u8; 8];
        loop {
            match rustix::io::read(self.rx, &mut v) {
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let v = u64::from_ne_bytes(v);
        if v >= DEAD {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "peer process died",
            ));
        }
        buf[0] = v as u8;
        Ok(buf.len())
    }
}

/// Parent side.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let to_peer = eventfd(0, EventfdFlags::CLOEXEC)?;
    let from_peer = eventfd(0, EventfdFlags::CLOEXEC)?;
    let peer = ctx.spawn(&[to_peer.as_fd(), from_peer.as_fd()], &[])?;
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                if peer.wait_exit(Duration::from_millis(50)) {
                    if !done.load(Ordering::Acquire) {
                        let _ = rustix::io::write(&from_peer, &DEAD.to_ne_bytes());
                    }
                    return;
                }
            }
        });
        let r = drive(&mut EventfdChannel {
            tx: &to_peer,
            rx: &from_peer,
        });
        done.store(true, Ordering::Release);
        r
    })
}

/// Peer side.
pub fn child(mut ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let rx = ctx.take_fd(0)?;
    let tx = ctx.take_fd(1)?;
    drive(&mut EventfdChannel { tx: &tx, rx: &rx })
}
