//! A bounded single-producer single-consumer ring (Lamport's queue with
//! cached indices, as in rtrb and Rigtorp's `SPSCQueue`).
//!
//! Two forms share one algorithm:
//!
//! - [`Ring<T, N>`]: typed and in-process, usable as a `static`, split into a
//!   [`Producer`] and a [`Consumer`];
//! - [`Region`]: a `#[repr(C)]` header and byte slots laid over caller memory
//!   (what `kipc-host` maps between processes), with [`RegionProducer`] and
//!   [`RegionConsumer`] handles. The peer is untrusted.
//!
//! # The algorithm
//!
//! Two `u32` positions count items forever and wrap: the producer-owned
//! `tail` (next slot to fill) and the consumer-owned `head` (next slot to
//! empty). The slot of a position is `pos & (capacity - 1)`; capacity is a
//! power of two no larger than 2^31, so `tail.wrapping_sub(head)` is always in
//! `0..=capacity` and tells "full" from "empty" without a spare slot. 32-bit
//! positions keep the ring usable on MCUs without 64-bit atomics; SPSC needs
//! only loads and stores, never a read-modify-write.
//!
//! - Producer: write the slot at `tail`, then store `tail + 1` with Release
//!   (`SYNC: publish slot`). The consumer's Acquire load of `tail` makes the
//!   slot's contents visible.
//! - Consumer: read the slot at `head`, then store `head + 1` with Release
//!   (`SYNC: consume slot`). The producer's Acquire load of `head` orders its
//!   next write into that slot after the consumer's read.
//!
//! `tail` and `head` sit on separate 128-byte lines. Each handle keeps its own
//! position in private memory (it is the only writer) and a private *cached*
//! copy of the other side's position, re-read only when the cache says the
//! ring is full (producer) or empty (consumer). In steady state a push or a
//! pop touches the shared index lines once per refill instead of once per
//! item, which is where the speed comes from.
//!
//! Both sides are wait-free: every operation finishes in a bounded number of
//! steps whatever the other side does (a stalled or dead peer only makes the
//! ring look full or empty).
//!
//! See [`region`](Region) for the shared-memory layout, its protocol and the
//! crash analysis.

mod region;
mod ring;

pub use region::{
    region_size, Endpoint, EndpointState, Region, RegionConsumer, RegionProducer, SlotWriter,
    MAX_SLOTS, MAX_SLOT_SIZE,
};
pub use ring::{Consumer, Producer, PushError, Ring};

/// Ordering of the producer's `SYNC: publish slot` stores: of `tail` (both
/// forms) and of a region slot's stamp. `--cfg kipc_loom_weaken="spsc"` weakens it to `Relaxed`, which must
/// make `loom-tests/tests/spsc.rs` fail (the models' proof of teeth; never
/// used in a real build).
#[cfg(not(kipc_loom_weaken = "spsc"))]
const PUBLISH_ORDER: crate::sync::Ordering = crate::sync::Ordering::Release;
#[cfg(kipc_loom_weaken = "spsc")]
const PUBLISH_ORDER: crate::sync::Ordering = crate::sync::Ordering::Relaxed;

/// Number of items between `head` and `tail`: `tail - head`, wrapping.
///
/// For trusted indices the result is in `0..=capacity`; region code checks it
/// against the capacity because a peer may have written either index.
#[inline(always)]
const fn distance(head: u32, tail: u32) -> u32 {
    tail.wrapping_sub(head)
}
