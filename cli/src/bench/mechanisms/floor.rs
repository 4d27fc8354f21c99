//! `floor` and `futex`: one 32-bit word in a shared memfd page, bounced
//! between the two processes.
//!
//! The word holds `counter << 8 | tag`; every write increments the counter,
//! so "the word differs from what I last saw" means "the peer wrote". The
//! sides strictly alternate: a message is answered by a reply, or, for
//! `DATA`, by a bare acknowledgement (tag 0) written by the receiver, so the
//! one word also works as a one-slot stream.
//!
//! - `floor` busy-polls: two processes bouncing one cache line, the lowest
//!   round trip any shared-memory transport can reach on this machine.
//! - `futex` never spins: the waiter sleeps at once with `FUTEX_WAIT` and
//!   every write is followed by a `FUTEX_WAKE` (a "bare" ping-pong, no
//!   waiter flag).
#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use kipc_host::futex::{self, WaitOutcome};
use kipc_host::memfd::MemfdSegment;

use super::{other, Driver};
use crate::bench::harness::{ChildCtx, ParentCtx, Peer, Spin};
use crate::bench::protocol::{Channel, DATA};

/// Bytes of the segment: one page.
const SEG_LEN: usize = 4096;

/// How the waiting side waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Busy-poll the word.
    Spin,
    /// Sleep on the word with a futex at once.
    Futex,
}

/// The word at the start of `seg`.
fn word(seg: &MemfdSegment) -> &AtomicU32 {
    // SAFETY: the mapping is page-aligned, at least SEG_LEN bytes (checked at
    // create/from_fd), lives as long as `seg`, and offset 0 is only ever
    // accessed atomically, by both processes.
    unsafe { &*seg.as_ptr().cast::<AtomicU32>() }
}

struct WordChannel<'a> {
    word: &'a AtomicU32,
    /// The last value we saw or wrote.
    cur: u32,
    /// We sent `DATA` and its acknowledgement has not been seen.
    awaiting_ack: bool,
    wait: Wait,
    peer: &'a Peer,
}

impl WordChannel<'_> {
    fn put(&mut self, tag: u8) {
        self.cur = ((self.cur >> 8).wrapping_add(1) << 8) | u32::from(tag);
        self.word.store(self.cur, Ordering::Release);
        if self.wait == Wait::Futex {
            futex::wake(self.word, 1);
        }
    }

    fn wait_change(&mut self) -> io::Result<u32> {
        let mut spin = Spin::new(self.peer);
        loop {
            let v = self.word.load(Ordering::Acquire);
            if v != self.cur {
                self.cur = v;
                return Ok(v);
            }
            match self.wait {
                Wait::Spin => spin.tick()?,
                Wait::Futex => {
                    let r = futex::wait(self.word, v, Some(Duration::from_millis(100)))
                        .map_err(|e| other("futex wait", e))?;
                    if r == WaitOutcome::TimedOut && !self.peer.alive() {
                        return Err(self.peer.dead_error());
                    }
                }
            }
        }
    }

    fn settle(&mut self) -> io::Result<()> {
        if self.awaiting_ack {
            self.wait_change()?;
            self.awaiting_ack = false;
        }
        Ok(())
    }
}

impl Channel for WordChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.settle()?;
        let tag = msg[0];
        self.put(tag);
        self.awaiting_ack = tag == DATA;
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.settle()?;
        let tag = (self.wait_change()? & 0xff) as u8;
        if tag == DATA {
            self.put(0);
        }
        buf[0] = tag;
        Ok(buf.len())
    }
}

/// Parent side.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>, wait: Wait) -> io::Result<()> {
    let seg = MemfdSegment::create("bench-word", SEG_LEN).map_err(|e| other("memfd", e))?;
    let peer = ctx.spawn(&[seg.fd()], &[])?;
    let mut ch = WordChannel {
        word: word(&seg),
        cur: 0,
        awaiting_ack: false,
        wait,
        peer: &peer,
    };
    drive(&mut ch)
}

/// Peer side.
pub fn child(mut ctx: ChildCtx, drive: Driver<'_>, wait: Wait) -> io::Result<()> {
    let seg = MemfdSegment::from_fd(ctx.take_fd(0)?, SEG_LEN).map_err(|e| other("memfd", e))?;
    let mut ch = WordChannel {
        word: word(&seg),
        cur: 0,
        awaiting_ack: false,
        wait,
        peer: &ctx.peer,
    };
    drive(&mut ch)
}
