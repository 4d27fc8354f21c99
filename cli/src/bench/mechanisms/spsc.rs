//! `kipc-spsc-spin` and `kipc-spsc-block`: two kipc SPSC region rings (one
//! each way) in one sealed memfd mapping shared by the two processes.
//!
//! | offset      | what                                  |
//! |-------------|---------------------------------------|
//! | 0           | ring parent -> peer (`Region::init`)  |
//! | `stride`    | ring peer -> parent                   |
//!
//! `stride` is `region_size(slots, slot_size)` rounded up to a page.
//!
//! - spin: busy-poll `try_send`/`try_recv` (a pause hint per turn);
//! - block: [`kipc_host::futex::wait_until`] on the ring's doorbells (spin
//!   256 turns, yielding every 32, then sleep on a shared futex), and
//!   [`kipc_host::futex::ring`] after every send and receive, which makes a
//!   `FUTEX_WAKE` only when the other side announced that it sleeps.
//!
//! This uses the core region form directly rather than `kipc_host::ring`'s
//! `ShmRing` (not merged when the bench was written); the fast path is the
//! same code.
#![allow(unsafe_code)]

use std::io;

use kipc_core::doorbell::Doorbell;
use kipc_core::spsc::{region_size, Region};
use kipc_core::Error as CoreError;
use kipc_host::futex;
use kipc_host::memfd::MemfdSegment;

use super::{other, Driver};
use crate::bench::harness::{ChildCtx, ParentCtx, Peer, Spin};
use crate::bench::protocol::Channel;

/// Most bytes of slots per ring, so large messages get fewer slots.
const RING_BUDGET: usize = 8 << 20;

/// Slots per ring for messages of `slot_size` bytes: a power of two in
/// `2..=256`.
pub fn slots_for(slot_size: usize) -> u32 {
    let fit = (RING_BUDGET / (slot_size + 8)).clamp(2, 256);
    1 << (usize::BITS - 1 - fit.leading_zeros())
}

fn page_round(n: usize) -> usize {
    n.div_ceil(4096) * 4096
}

/// One end of a ring pair, whatever the ring.
pub trait Ends {
    /// Non-blocking send.
    fn try_send(&mut self, msg: &[u8]) -> Result<(), CoreError>;
    /// Non-blocking receive.
    fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, CoreError>;
}

/// The doorbells of both rings as seen from one side.
#[derive(Debug, Clone, Copy)]
pub struct Bells<'a> {
    /// Outgoing ring's `not_full`: we wait on it when it is full.
    pub tx_not_full: &'a Doorbell,
    /// Outgoing ring's `not_empty`: we ring it after sending.
    pub tx_not_empty: &'a Doorbell,
    /// Incoming ring's `not_empty`: we wait on it when it is empty.
    pub rx_not_empty: &'a Doorbell,
    /// Incoming ring's `not_full`: we ring it after receiving.
    pub rx_not_full: &'a Doorbell,
}

/// A [`Channel`] over a pair of rings.
pub struct RingChannel<'a, E> {
    /// The two ends.
    pub ends: E,
    /// The doorbells.
    pub bells: Bells<'a>,
    /// Spin-then-futex instead of busy-polling.
    pub blocking: bool,
    /// Spin turns before sleeping (blocking only). The default (256 turns,
    /// a `sched_yield` every 32) is also the best measured with both
    /// processes on one core: the yields hand the CPU to the peer, which
    /// answers within the spin; sleeping at once costs a futex wake more.
    pub spin_iters: u32,
    /// The other process.
    pub peer: &'a Peer,
}

impl<E: Ends> Channel for RingChannel<'_, E> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        if !self.blocking {
            let mut spin = Spin::new(self.peer);
            loop {
                match self.ends.try_send(msg) {
                    Ok(()) => return Ok(()),
                    Err(CoreError::Full) => spin.tick()?,
                    Err(e) => return Err(other("ring send", e)),
                }
            }
        }
        let ends = &mut self.ends;
        let peer = self.peer;
        futex::wait_until(
            self.bells.tx_not_full,
            self.spin_iters,
            None,
            &|| peer.alive(),
            || match ends.try_send(msg) {
                Err(CoreError::Full) => None,
                r => Some(r),
            },
        )
        .map_err(|e| other("ring send", e))?
        .map_err(|e| other("ring send", e))?;
        futex::ring(self.bells.tx_not_empty);
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.blocking {
            let mut spin = Spin::new(self.peer);
            loop {
                match self.ends.try_recv(buf) {
                    Ok(n) => return Ok(n),
                    Err(CoreError::Empty) => spin.tick()?,
                    Err(e) => return Err(other("ring receive", e)),
                }
            }
        }
        let ends = &mut self.ends;
        let peer = self.peer;
        let n = futex::wait_until(
            self.bells.rx_not_empty,
            self.spin_iters,
            None,
            &|| peer.alive(),
            || match ends.try_recv(buf) {
                Err(CoreError::Empty) => None,
                r => Some(r),
            },
        )
        .map_err(|e| other("ring receive", e))?
        .map_err(|e| other("ring receive", e))?;
        futex::ring(self.bells.rx_not_full);
        Ok(n)
    }
}

struct SpscEnds<'a> {
    tx: kipc_core::spsc::RegionProducer<'a>,
    rx: kipc_core::spsc::RegionConsumer<'a>,
}

impl Ends for SpscEnds<'_> {
    #[inline]
    fn try_send(&mut self, msg: &[u8]) -> Result<(), CoreError> {
        self.tx.try_send(msg)
    }
    #[inline]
    fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, CoreError> {
        self.rx.try_recv(buf)
    }
}

fn geometry(size: usize) -> io::Result<(u32, u32, usize)> {
    let slot_size = u32::try_from(size).map_err(|_| other("ring", "message too large"))?;
    let slots = slots_for(size);
    let stride = page_round(region_size(slots, slot_size).map_err(|e| other("ring geometry", e))?);
    Ok((slots, slot_size, stride))
}

fn channel<'a>(
    out: &'a Region,
    inc: &'a Region,
    blocking: bool,
    peer: &'a Peer,
) -> io::Result<RingChannel<'a, SpscEnds<'a>>> {
    let tx = out.producer().map_err(|e| other("ring producer", e))?;
    let rx = inc.consumer().map_err(|e| other("ring consumer", e))?;
    Ok(RingChannel {
        ends: SpscEnds { tx, rx },
        bells: Bells {
            tx_not_full: out.not_full(),
            tx_not_empty: out.not_empty(),
            rx_not_empty: inc.not_empty(),
            rx_not_full: inc.not_full(),
        },
        blocking,
        spin_iters: futex::DEFAULT_SPIN_ITERS,
        peer,
    })
}

/// Parent side.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>, blocking: bool) -> io::Result<()> {
    let (slots, slot_size, stride) = geometry(ctx.mech.ack_len(ctx.size))?;
    let seg = MemfdSegment::create("bench-spsc", 2 * stride).map_err(|e| other("memfd", e))?;
    let base = seg.as_ptr();
    // SAFETY: both halves lie inside the mapping (2 * stride bytes), are
    // page-aligned, and live as long as `seg`, which outlives the regions
    // (declared after it, dropped before it); nothing else here touches them.
    let (a, b) = unsafe {
        (
            Region::init(base, stride, slots, slot_size),
            Region::init(base.add(stride), stride, slots, slot_size),
        )
    };
    let (a, b) = (
        a.map_err(|e| other("ring init", e))?,
        b.map_err(|e| other("ring init", e))?,
    );
    let peer = ctx.spawn(&[seg.fd()], &[])?;
    let mut ch = channel(&a, &b, blocking, &peer)?;
    drive(&mut ch)
}

/// Peer side.
pub fn child(mut ctx: ChildCtx, drive: Driver<'_>, blocking: bool) -> io::Result<()> {
    let (_, _, stride) = geometry(ctx.size.max(crate::bench::protocol::ACK_FULL))?;
    let seg = MemfdSegment::from_fd(ctx.take_fd(0)?, 2 * stride).map_err(|e| other("memfd", e))?;
    let base = seg.as_ptr();
    // SAFETY: as in `parent`: in bounds, aligned, outlived by `seg`; the bytes
    // are only accessed through the regions, which check every field.
    let (a, b) = unsafe {
        (
            Region::attach(base, stride),
            Region::attach(base.add(stride), stride),
        )
    };
    let (a, b) = (
        a.map_err(|e| other("ring attach", e))?,
        b.map_err(|e| other("ring attach", e))?,
    );
    let mut ch = channel(&b, &a, blocking, &ctx.peer)?;
    drive(&mut ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_counts_are_powers_of_two_within_budget() {
        assert_eq!(slots_for(64), 256);
        assert_eq!(slots_for(1 << 20), 4);
        assert_eq!(slots_for(RING_BUDGET), 2);
        for s in [1, 24, 1000, 65536, 1 << 20] {
            assert!(slots_for(s).is_power_of_two());
        }
    }
}
