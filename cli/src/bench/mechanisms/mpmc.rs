//! `kipc-mpmc`: two kipc MPMC region rings (one lane each, one each way) in
//! one sealed memfd mapping, with the same spin-then-futex waits as
//! `kipc-spsc-block` (see [`spsc`](super::spsc)). One producer and one
//! consumer per ring: this prices the multi-producer machinery (lane scan,
//! consumer records) against the SPSC ring, not contention.
#![allow(unsafe_code)]

use std::io;

use kipc_core::mpmc::{region_size, Region, RegionConsumer, RegionProducer};
use kipc_core::Error as CoreError;
use kipc_host::memfd::MemfdSegment;

use super::spsc::{slots_for, Bells, Ends, RingChannel};
use super::{other, Driver};
use crate::bench::harness::{ChildCtx, ParentCtx, Peer};

struct MpmcEnds {
    tx: RegionProducer,
    rx: RegionConsumer,
}

impl Ends for MpmcEnds {
    #[inline]
    fn try_send(&mut self, msg: &[u8]) -> Result<(), CoreError> {
        self.tx.try_send(msg)
    }
    #[inline]
    fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, CoreError> {
        self.rx.try_recv(buf).map(|(n, _lane)| n)
    }
}

fn geometry(size: usize) -> io::Result<(u32, u32, usize)> {
    let slot_size = u32::try_from(size).map_err(|_| other("ring", "message too large"))?;
    let slots = slots_for(size);
    let len = region_size(1, slots, slot_size).map_err(|e| other("mpmc geometry", e))?;
    Ok((slots, slot_size, len.div_ceil(4096) * 4096))
}

fn channel<'a>(
    out: &'a Region,
    inc: &'a Region,
    peer: &'a Peer,
) -> io::Result<RingChannel<'a, MpmcEnds>> {
    let id = std::process::id();
    let tx = out.producer(id).map_err(|e| other("mpmc producer", e))?;
    let rx = inc.consumer(id).map_err(|e| other("mpmc consumer", e))?;
    Ok(RingChannel {
        ends: MpmcEnds { tx, rx },
        bells: Bells {
            tx_not_full: out.not_full(),
            tx_not_empty: out.not_empty(),
            rx_not_empty: inc.not_empty(),
            rx_not_full: inc.not_full(),
        },
        blocking: true,
        spin_iters: kipc_host::futex::DEFAULT_SPIN_ITERS,
        peer,
    })
}

/// Parent side.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let (slots, slot_size, stride) = geometry(ctx.mech.ack_len(ctx.size))?;
    let seg = MemfdSegment::create("bench-mpmc", 2 * stride).map_err(|e| other("memfd", e))?;
    let base = seg.as_ptr();
    // SAFETY: both halves lie inside the 2 * stride byte mapping, are
    // page-aligned, and `seg` outlives the regions and their handles (all
    // dropped at the end of this function, before `seg`).
    let (a, b) = unsafe {
        (
            Region::init(base, stride, 1, slots, slot_size),
            Region::init(base.add(stride), stride, 1, slots, slot_size),
        )
    };
    let (a, b) = (
        a.map_err(|e| other("mpmc init", e))?,
        b.map_err(|e| other("mpmc init", e))?,
    );
    let peer = ctx.spawn(&[seg.fd()], &[])?;
    let mut ch = channel(&a, &b, &peer)?;
    drive(&mut ch)
}

/// Peer side.
pub fn child(mut ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let (_, _, stride) = geometry(ctx.size.max(crate::bench::protocol::ACK_FULL))?;
    let seg = MemfdSegment::from_fd(ctx.take_fd(0)?, 2 * stride).map_err(|e| other("memfd", e))?;
    let base = seg.as_ptr();
    // SAFETY: as in `parent`; the regions check every header field.
    let (a, b) = unsafe {
        (
            Region::attach(base, stride),
            Region::attach(base.add(stride), stride),
        )
    };
    let (a, b) = (
        a.map_err(|e| other("mpmc attach", e))?,
        b.map_err(|e| other("mpmc attach", e))?,
    );
    let mut ch = channel(&b, &a, &ctx.peer)?;
    drive(&mut ch)
}
