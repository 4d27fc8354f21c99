//! The region form of the MPMC ring: per-producer lanes in shared memory.
//! Documented on [`Region`].

use core::fmt;
use core::mem::{align_of, size_of};
use core::ptr;

use core::num::NonZeroU32;

use crate::doorbell::Doorbell;
use crate::queue::{Consumer, Owner, Producer, Queue, Role};
use crate::region::{self, Kind, Prologue, RegionFlags, SlotWriter, TypeTag};
use crate::sync::{AtomicU32, AtomicU64, CachePadded, Ordering};
use crate::Error;

/// Most lanes (producers at once) a region can hold.
pub const MAX_LANES: u32 = 64;

/// Most consumers that can be attached to one region at once.
pub const MAX_CONSUMERS: usize = 16;

/// Bound on a consumer's retries on one lane. Each retry means another
/// consumer claimed a message (progress), so an honest system never gets
/// near it; a peer rewriting `head` in a loop does, and gets `Corrupt`.
const RETRY_LIMIT: u32 = 1 << 20;

/// Whether a receive that found every lane empty re-reads the tails to make
/// sure they were empty at one instant ([`RegionConsumer::try_recv`]).
/// `--cfg kipc_loom_weaken="mpmc_lanes"` turns that off (and weakens the
/// stamp store, [`STAMP_ORDER`]), which must make the push-then-receive
/// model in `loom-tests/tests/mpmc.rs` fail (never used in a real build).
const ALL_LANES_AT_ONCE: bool = !cfg!(kipc_loom_weaken = "mpmc_lanes");

/// Lane `state`: a producer owns the lane (or is claiming it).
const LIVE: u32 = 0;
/// Lane `state`: the last producer closed the lane cleanly (also: never used).
const CLOSED: u32 = 1;
/// Lane `state`: the host marked the owner dead.
const DEAD: u32 = 2;

/// Bits of a lane's `state` word that hold the state (`LIVE`, `CLOSED`,
/// `DEAD`; 3 is corruption); the rest is a generation every claim bumps, so
/// a word read before a verdict no longer matches after a new claim.
const STATE_MASK: u32 = 0b11;

/// The state bits of a lane's `state` word.
#[inline(always)]
const fn state_of(word: u32) -> u32 {
    word & STATE_MASK
}

/// `consumers_state`: consumers are (or may come) attached.
const CONSUMERS_OPEN: u32 = 0;
/// `consumers_state`: the host declared the consumer side dead.
const CONSUMERS_DEAD: u32 = 2;

/// Bits of `consumers_state` that hold the state; the rest is a generation
/// every consumer attach bumps, so a death verdict reached before an attach
/// (a CAS from the word read before it) cannot land after it.
const CONSUMERS_STATE_MASK: u32 = 0b11;

/// Read-mostly header words (the first two 128-byte lines since the prologue
/// grew to 32 bytes).
#[repr(C)]
struct Meta {
    prologue: Prologue,
    lanes: AtomicU32,
    slots_per_lane: AtomicU32,
    slot_size: AtomicU32,
    stride: AtomicU32,
    total_len: AtomicU64,
    /// 1 once any producer has claimed a lane (0 or 1).
    producer_seen: AtomicU32,
    /// 1 once any consumer has attached (0 or 1).
    consumer_seen: AtomicU32,
    /// [`CONSUMERS_OPEN`] or [`CONSUMERS_DEAD`]; anything else reads as dead.
    consumers_state: AtomicU32,
    reserved: AtomicU32,
    /// Ids of attached consumers; 0 = free record.
    consumer_ids: [AtomicU32; MAX_CONSUMERS],
}

#[repr(C)]
struct Header {
    meta: CachePadded<Meta>,
    not_empty: CachePadded<Doorbell>,
    not_full: CachePadded<Doorbell>,
}

/// Producer-written half of a lane record.
#[repr(C)]
struct LaneProducerSide {
    /// Next position the producer will publish; `tail - head` is in `0..=S`.
    tail: AtomicU64,
    /// Id of the owning producer; 0 = free.
    owner: AtomicU32,
    /// `generation << 2 | state`, the state [`LIVE`], [`CLOSED`] or
    /// [`DEAD`]. Every claim and reclaim starts a new generation right after
    /// the `owner` CAS; a handle remembers the word its claim produced, and
    /// any other value means the lane was marked, closed or claimed again
    /// since, even by the same id.
    state: AtomicU32,
    /// A count of claims (wrapping), for inspection only.
    epoch: AtomicU32,
    /// 0; keeps the record free of implicit padding.
    reserved: AtomicU32,
}

/// Consumer-written half of a lane record.
#[repr(C)]
struct LaneConsumerSide {
    /// Next position a consumer will claim (CAS `h -> h + 1`).
    head: AtomicU64,
}

#[repr(C)]
struct Lane {
    prod: CachePadded<LaneProducerSide>,
    cons: CachePadded<LaneConsumerSide>,
}

/// The words at the start of every slot; the payload follows them.
#[repr(C)]
struct SlotHeader {
    /// [`stamp_of`]`(p)` once position `p` is published in this slot; 0 in
    /// a fresh region.
    stamp: AtomicU32,
    /// Payload length in bytes, `0..=slot_size` when honest.
    len: AtomicU32,
}

/// Alignment (and stride granule) of every slot: a cache line, so a message
/// of up to 56 bytes shares one line with its stamp and length.
const SLOT_ALIGN: usize = if align_of::<SlotHeader>() > 64 {
    align_of::<SlotHeader>()
} else {
    64
};

/// Where a slot's payload starts: right after the stamp and length (8 in
/// normal builds).
const PAYLOAD_OFFSET: usize = size_of::<SlotHeader>();

/// The stamp that says position `pos` is published: `pos + 1`, truncated
/// to 32 bits. A slot is reused every `S <= 2^31` positions, so the stamp it
/// holds from an earlier (or later) lap never equals this one.
#[inline(always)]
const fn stamp_of(pos: u64) -> u32 {
    pos.wrapping_add(1) as u32
}

/// How many messages a lane holds, from a `head` and a `tail` read in that
/// order, or `None` if the pair is out of range. `tail` up to `S` behind
/// `head` counts as 0: consumers took messages by their stamps before the
/// producer stored the `tail` that covers them (or the producer died in
/// between).
#[inline(always)]
fn queued(head: u64, tail: u64, slots: u64) -> Option<u64> {
    let used = tail.wrapping_sub(head);
    if used <= slots {
        Some(used)
    } else if head.wrapping_sub(tail) <= slots {
        Some(0)
    } else {
        None
    }
}

/// The ordering of the stamp store that publishes a slot: Release, or
/// Relaxed under `--cfg kipc_loom_weaken="mpmc_lanes"`, which the stamp
/// model in `loom-tests/tests/mpmc.rs` must catch (never in a real build).
const STAMP_ORDER: Ordering = if cfg!(kipc_loom_weaken = "mpmc_lanes") {
    Ordering::Relaxed
} else {
    Ordering::Release
};

/// Geometry validated and copied out of the header; the only bounds ever used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    lanes: u32,
    slots: u32,
    slot_size: u32,
    stride: usize,
    lanes_off: usize,
    slots_off: usize,
    total: usize,
}

fn geometry(lanes: u32, slots: u32, slot_size: u32) -> Result<Geometry, Error> {
    if lanes == 0 || lanes > MAX_LANES {
        return Err(Error::InvalidGeometry {
            what: "lanes must be in 1..=64",
        });
    }
    if !slots.is_power_of_two() {
        return Err(Error::InvalidGeometry {
            what: "slots_per_lane must be a non-zero power of two",
        });
    }
    if slot_size == 0 {
        return Err(Error::InvalidGeometry {
            what: "slot_size must be at least 1",
        });
    }
    let overflow = Error::InvalidGeometry {
        what: "region size overflows",
    };
    let stride = PAYLOAD_OFFSET
        .checked_add(slot_size as usize)
        .and_then(|n| region::round_up(n, SLOT_ALIGN))
        .filter(|&n| u32::try_from(n).is_ok())
        .ok_or(overflow)?;
    let lanes_off = size_of::<Header>();
    let slots_off = (lanes as usize)
        .checked_mul(size_of::<Lane>())
        .and_then(|n| n.checked_add(lanes_off))
        .ok_or(overflow)?;
    let total = (lanes as usize)
        .checked_mul(slots as usize)
        .and_then(|n| n.checked_mul(stride))
        .and_then(|n| n.checked_add(slots_off))
        .filter(|&n| u64::try_from(n).is_ok())
        .ok_or(overflow)?;
    Ok(Geometry {
        lanes,
        slots,
        slot_size,
        stride,
        lanes_off,
        slots_off,
        total,
    })
}

/// Bytes a region of `lanes` lanes, `slots_per_lane` slots each, and messages
/// of up to `slot_size` bytes needs.
///
/// # Errors
///
/// [`Error::InvalidGeometry`] if `lanes` is not in `1..=64`, `slots_per_lane`
/// is not a power of two, `slot_size` is 0, or the size overflows.
///
/// # Examples
///
/// ```
/// use kipc_core::mpmc;
/// let len = mpmc::region_size(4, 64, 256).unwrap();
/// assert!(len >= 4 * 64 * 256);
/// assert!(mpmc::region_size(0, 64, 256).is_err());
/// assert!(mpmc::region_size(4, 48, 256).is_err());
/// ```
pub fn region_size(lanes: u32, slots_per_lane: u32, slot_size: u32) -> Result<usize, Error> {
    geometry(lanes, slots_per_lane, slot_size).map(|g| g.total)
}

/// What a lane's `state` word says (see [`Region::lane_state`]).
///
/// # Examples
///
/// ```
/// # #[repr(C, align(128))] struct Mem([u8; 4096]);
/// # let mut mem = Box::new(Mem([0; 4096]));
/// use kipc_core::mpmc::{LaneState, Region};
/// // SAFETY: `mem` is aligned, large enough and outlives the region.
/// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 64) }.unwrap();
/// assert_eq!(region.lane_state(0), Ok(LaneState::Closed));
/// let p = region.producer(7).unwrap();
/// assert_eq!(region.lane_state(p.lane()), Ok(LaneState::Live));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneState {
    /// Owned by a producer (or being claimed by one): `state == 0`.
    Live,
    /// Closed cleanly, or never used: `state == 1`. Its owner is 0.
    Closed,
    /// Marked dead by the host: `state == 2`. Claimable only through
    /// [`Region::reclaim_lane`].
    Dead,
}

/// The shared-memory MPMC ring: `L` per-producer lanes, each a
/// single-producer multi-consumer ring of `S` byte slots.
///
/// `Region` is a raw base pointer plus geometry copied (and validated) at
/// [`init`](Self::init)/[`attach`](Self::attach); later writes to the header's
/// geometry by a peer cannot enlarge the bounds this process uses. Cloning a
/// `Region` copies the handle, not the memory.
///
/// # Why lanes
///
/// A Vyukov ring (the typed [`Ring`](super::Ring)) lets a producer claim a
/// slot and publish it later; if that producer's process dies in between,
/// every consumer waits on that slot forever. Here each producer process owns
/// a lane, and only it ever writes that lane's slots and `tail`; a dead
/// producer stops only its own lane, whose published messages stay
/// receivable, and the host can [`mark_lane_dead`](Self::mark_lane_dead) and
/// [`reclaim_lane`](Self::reclaim_lane) it for a restarted producer. Consumers
/// claim messages with a CAS on the lane's `head` *after* copying them out,
/// so a consumer that dies holds nothing.
///
/// # Protocol
///
/// - **Claim a lane** ([`producer`](Self::producer)): CAS `owner: 0 -> id`,
///   then `epoch.fetch_add(1)` (a count of claims), then CAS `state` to a new
///   generation in state LIVE (the handle keeps that word), set
///   `producer_seen`, read `tail` and `head`
///   (checked: `tail - head <= S`). The new owner continues at the lane's
///   `tail`, so a lane closed by one producer and claimed by the next keeps
///   FIFO order. [`reclaim_lane`](Self::reclaim_lane) does the same after
///   its CAS `owner: dead_id -> new_id`: owner CAS, then the new generation.
/// - **Send** ([`RegionProducer::try_send`]): check the lane is still ours
///   (`owner == id` and `state` == the handle's word; Relaxed loads of one
///   cache line), else `InUse`; if the cached `head` says full,
///   re-read `head` (Acquire; SYNC: release slot) and check `tail - head <=
///   S`; write the length word (Release; SYNC: slot reuse) and the payload
///   (raw copy) into slot `tail & (S-1)`; store the slot's `stamp = tail +
///   1` (truncated to 32 bits; Release; SYNC: publish slot), then `tail + 1`
///   (Release; SYNC: publish slot), in that order. A batch
///   ([`send_many`](RegionProducer::send_many)) stamps each slot and then
///   stores `tail` once.
/// - **Receive** ([`RegionConsumer::try_recv`]): scan lanes round-robin from
///   a per-consumer cursor. On a lane: load `head` = `h`, then the stamp of
///   slot `h & (S-1)` (Acquire; SYNC: publish slot). If it is `h + 1`,
///   position `h` is published and `tail` is not read (the producer's line
///   stays with the producer). Otherwise load `tail` (Acquire; SYNC: publish
///   slot): `tail` equal to `h`, or up to `S` behind it (consumers took
///   messages by their stamps before the producer stored `tail`): empty, next
///   lane; any other `tail - h > S`: re-read `head`, and if it did not move
///   the lane is `Corrupt`. Then read the length, copy the payload into the
///   caller's buffer, then CAS `head: h -> h + 1` (AcqRel; SYNC: release
///   slot). The CAS alone decides who takes a message, by stamp or by
///   `tail` alike: a stale `h` (others took it) may match a stamp and be
///   copied, but its CAS fails, and the producer rewrites slot `h` only
///   after `head` passed `h`, so a successful CAS means the copy was of
///   position `h`'s message and nobody else took it. A failed
///   CAS means another consumer took the message: discard the copy and retry
///   with the new head. Only after a successful CAS is the copy trusted; a
///   length over `slot_size` is `Corrupt` only then (the bad message is
///   consumed so the lane can move on). A length that does not fit the
///   caller's buffer (read with Acquire; SYNC: slot reuse) is checked against
///   an unchanged `head` and reported as `TooLarge` with the
///   message left in place. A scan that found every lane empty re-reads
///   every `tail` (Acquire) when there are several lanes, and reports
///   `Empty` only if their sum is unchanged (otherwise it scans again), so
///   `Empty` means all lanes were empty at one instant during the call (a
///   message stamped but not yet covered by `tail` is a send still in
///   progress, which may or may not be seen).
/// - **Claim a lane after a death**: the new owner's first step after the
///   new generation moves `tail` past every slot already stamped for this
///   lap (a predecessor that died between a stamp and its `tail` store),
///   so it never overwrites a published message.
/// - **Close** (dropping a [`RegionProducer`]): if `owner == id`, CAS
///   `state` from the handle's word (or that generation marked dead) to the
///   same generation CLOSED, then CAS `owner: id -> 0` (SYNC: lane close).
/// - **Mark dead** (the host): read `state`, then `owner`; judge the owner;
///   CAS `state` from the word read to the same generation DEAD. A claim in
///   between changed the generation, so the verdict cannot land on it.
///   Published
///   messages stay receivable; the lane is free for the next producer.
/// - **Waiting** is the host's job: after a successful send it rings
///   [`not_empty`](Self::not_empty), after a successful receive
///   [`not_full`](Self::not_full) (see [`crate::doorbell`]).
///   [`mark_lane_dead`](Self::mark_lane_dead) and
///   [`mark_consumers_dead`](Self::mark_consumers_dead) ring both bells for
///   everyone.
///
/// Order: FIFO per lane (so per producer); no order across lanes.
///
/// `PeerDead` rules. A consumer gets `PeerDead` when every lane is empty, no
/// lane is live-owned (`owner != 0 && state != Dead`), and `producer_seen` is
/// set; it is a snapshot (a producer attaching later revives the region). A
/// producer gets `PeerDead` once `consumers_state` is not `OPEN`, i.e. after
/// [`mark_consumers_dead`](Self::mark_consumers_dead) (attaching a consumer
/// reopens it). A producer gets `InUse` once its lane is marked dead or has
/// been claimed or reclaimed since its own claim, by another id or the same
/// one (the `epoch` differs).
///
/// # Layout
///
/// Offsets for a 64-bit or 32-bit build (all fields fixed-width, little- or
/// big-endian as the host). `S` = slots per lane, `L` = lanes.
///
/// | offset                  | field                   | writer                | meaning                                  |
/// |-------------------------|-------------------------|-----------------------|------------------------------------------|
/// | 0                       | prologue (32 B)         | creator, magic last   | magic, version, kind = mpmc, flags, type tag |
/// | 32                      | `lanes: u32`            | creator               | `L`, 1..=64                              |
/// | 36                      | `slots_per_lane: u32`   | creator               | `S`, a power of two                      |
/// | 40                      | `slot_size: u32`        | creator               | largest payload in bytes                 |
/// | 44                      | `stride: u32`           | creator               | bytes per slot, `round_up(8 + slot_size, 64)` |
/// | 48                      | `total_len: u64`        | creator               | bytes the layout spans                   |
/// | 56                      | `producer_seen: u32`    | producers             | 1 once any producer claimed a lane       |
/// | 60                      | `consumer_seen: u32`    | consumers             | 1 once any consumer attached             |
/// | 64                      | `consumers_state: u32`  | host, consumers       | bits 0..2: 0 open, 2 dead (producers get `PeerDead`); bits 2..: generation bumped by each attach |
/// | 68                      | reserved `u32`          | -                     | 0                                        |
/// | 72                      | `consumer_ids: [u32; 16]` | consumers (CAS)     | ids of attached consumers, 0 = free      |
/// | 256                     | `not_empty: u32`        | producers' hosts, consumers wait | doorbell                      |
/// | 384                     | `not_full: u32`         | consumers' hosts, producers wait | doorbell                      |
/// | 512 + 256 i             | lane i `tail: u64`      | lane owner            | next position to publish                 |
/// | 512 + 256 i + 8         | lane i `owner: u32`     | producers (CAS), host | owner id, 0 = free                       |
/// | 512 + 256 i + 12        | lane i `state: u32`     | owner, host           | bits 0..2: 0 live, 1 closed, 2 dead; bits 2..: claim generation |
/// | 512 + 256 i + 16        | lane i `epoch: u32`     | claimer (RMW after owner CAS) | count of claims, wrapping (informational) |
/// | 512 + 256 i + 20        | lane i reserved `u32`   | -                     | 0                                        |
/// | 512 + 256 i + 128       | lane i `head: u64`      | consumers (CAS)       | next position to claim                   |
/// | 512 + 256 L + (i S + j) stride | slot j of lane i (below) | lane owner | message |
///
/// Every slot starts on a 64-byte line (`512 + 256 L` and the stride are
/// multiples of 64):
///
/// | slot offset | field         | writer                  | meaning                                       |
/// |-------------|---------------|-------------------------|-----------------------------------------------|
/// | 0           | `stamp: u32`  | lane owner, Release, last | `p + 1` (truncated to 32 bits) once position `p` is published here; 0 in a fresh region |
/// | 4           | `len: u32`    | lane owner, Release, first | the message's length, `<= slot_size`        |
/// | 8           | payload       | lane owner              | `slot_size` bytes                             |
///
/// So a message of up to 56 bytes shares one cache line with its stamp and
/// length, a 64-byte message takes the two lines of one 128-byte-aligned
/// pair (its stride is 128), and a consumer that finds the stamp it
/// expects has the message without touching the producer's `tail` line.
/// The price is memory for tiny slots (a 1-byte slot takes 64 bytes). A
/// slot is reused every `S <= 2^31` positions, so a stamp from another lap
/// never equals the one the current lap expects; a fresh slot's 0 could
/// only match position `2^32 - 1`, which an honest producer reaches only
/// after writing every slot. A forged stamp is like a forged `tail`: it can
/// make a consumer read a slot early (torn bytes, still length-checked and
/// still claimed by the CAS on `head`), nothing more.
///
/// # Crashes
///
/// - Creator dies before `publish`: magic stays 0, attach says `Uninitialized`.
/// - Producer dies while claiming (after the owner CAS): the lane reads owned,
///   the host sees the id's process gone and marks it dead; nothing else waits.
/// - Producer dies while writing a slot: neither its stamp nor `tail` was
///   written, so no consumer reads the half-written slot; the next owner
///   overwrites it.
/// - Producer dies between a stamp and `tail`: the message is complete and
///   consumers take it by its stamp (then see `tail` behind `head`, which
///   reads as empty); the next owner finds the slot at `tail` stamped for
///   this lap and moves `tail` past it before sending.
/// - Producer dies after storing `tail`: the message is complete and receivable.
/// - Producer dies while closing: `state = CLOSED` with its owner still set
///   reads as live until the host marks it dead; messages stay receivable.
/// - Producer dies between the owner CAS and the new generation: the lane
///   reads owned (live or closed) with the previous generation; no handle
///   holds the new one, and the host marks it dead (from either state) and
///   reclaims it as above.
/// - A handle outlives its claim (the host reclaimed the lane, possibly for
///   the same id, or it was closed and claimed again): its word no longer
///   matches, so it gets `InUse` on every send and its drop leaves the lane
///   alone; it never publishes with its out-of-date private `tail`. The check
///   is a guard, not a lock: a send already past it when the lane is
///   reclaimed races as before (the host reclaims only lanes of exited
///   processes), and a word repeats only after 2^30 claims of one lane.
/// - Consumer dies before its CAS: it claimed nothing; the message stays for
///   others. After its CAS: that one message is gone (at-most-once for a
///   consumer that dies mid-receive). Its `consumer_ids` record stays until
///   the host calls [`evict_consumer`](Self::evict_consumer).
///
/// # Safety of the handle
///
/// All shared words are atomics; payload bytes are moved only with raw
/// copies into/out of private buffers; every index read from the region is
/// range-checked against the private geometry before it addresses memory.
///
/// # Examples
///
/// ```
/// # #[repr(C, align(128))] struct Mem([u8; 4096]);
/// # let mut mem = Box::new(Mem([0; 4096]));
/// use kipc_core::mpmc::Region;
/// // SAFETY: `mem` is aligned, large enough and outlives the region.
/// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 64) }.unwrap();
/// let mut p = region.producer(100).unwrap();
/// let mut c = region.consumer(200).unwrap();
/// p.try_send(b"hello").unwrap();
/// let mut buf = [0u8; 64];
/// let (n, lane) = c.try_recv(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"hello");
/// assert_eq!(lane, p.lane());
/// ```
#[derive(Clone)]
pub struct Region {
    base: *mut u8,
    geo: Geometry,
    /// The message type recorded in the prologue, copied at init/attach.
    tag: TypeTag,
}

// SAFETY: `Region` is a pointer to memory whose every shared word is an
// atomic and whose payload bytes are only moved by raw copies; the `init` /
// `attach` contract keeps it valid wherever the handle goes.
unsafe impl Send for Region {}
// SAFETY: as for `Send`: `&Region` methods only perform atomic operations and
// raw copies, which are safe to run from several threads at once.
unsafe impl Sync for Region {}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpmc::Region")
            .field("base", &self.base)
            .field("lanes", &self.geo.lanes)
            .field("slots_per_lane", &self.geo.slots)
            .field("slot_size", &self.geo.slot_size)
            .field("len", &self.geo.total)
            .finish()
    }
}

impl Region {
    /// Writes a fresh MPMC layout over `len` bytes at `base` and publishes it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidGeometry`] (see [`region_size`]),
    /// [`Error::Misaligned`] if `base` is not 128-byte aligned,
    /// [`Error::RegionTooSmall`] if `len < region_size(..)`.
    ///
    /// # Safety
    ///
    /// `base` must be valid for reads and writes of `len` bytes for as long as
    /// the returned `Region`, its clones and its handles live, and no one else
    /// may use those bytes until `init` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 64) }.unwrap();
    /// assert_eq!(region.lanes(), 2);
    /// // SAFETY: as above.
    /// let small = unsafe { Region::init(mem.0.as_mut_ptr(), 256, 2, 4, 64) };
    /// assert!(small.is_err());
    /// ```
    pub unsafe fn init(
        base: *mut u8,
        len: usize,
        lanes: u32,
        slots_per_lane: u32,
        slot_size: u32,
    ) -> Result<Region, Error> {
        // SAFETY: forwarded from our caller.
        unsafe {
            Self::init_typed(
                base,
                len,
                lanes,
                slots_per_lane,
                slot_size,
                TypeTag::UNTYPED,
            )
        }
    }

    /// As [`init`](Self::init), recording `tag` (what one message is) in the
    /// prologue for attachers to read with [`type_tag`](Self::type_tag).
    ///
    /// # Errors
    ///
    /// As [`init`](Self::init); [`Error::InvalidGeometry`] if
    /// [`TypeTag::check`] rejects `tag` for `slot_size`.
    ///
    /// # Safety
    ///
    /// As [`init`](Self::init).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::{mpmc::Region, region::TypeTag};
    /// let tag = TypeTag::new(4, 4, 99);
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// unsafe { Region::init_typed(mem.0.as_mut_ptr(), 4096, 2, 4, 4, tag) }.unwrap();
    /// // SAFETY: as above.
    /// let r = unsafe { Region::attach(mem.0.as_mut_ptr(), 4096) }.unwrap();
    /// assert_eq!(r.type_tag(), tag);
    /// ```
    pub unsafe fn init_typed(
        base: *mut u8,
        len: usize,
        lanes: u32,
        slots_per_lane: u32,
        slot_size: u32,
        tag: TypeTag,
    ) -> Result<Region, Error> {
        // SAFETY: forwarded from our caller.
        unsafe {
            Self::init_with(
                base,
                len,
                lanes,
                slots_per_lane,
                slot_size,
                tag,
                RegionFlags::empty(),
            )
        }
    }

    /// As [`init_typed`](Self::init_typed), recording `flags` (what the
    /// creator promises about every user of the region) in the prologue.
    ///
    /// # Errors
    ///
    /// As [`init_typed`](Self::init_typed).
    ///
    /// # Safety
    ///
    /// As [`init`](Self::init).
    pub unsafe fn init_with(
        base: *mut u8,
        len: usize,
        lanes: u32,
        slots_per_lane: u32,
        slot_size: u32,
        tag: TypeTag,
        flags: RegionFlags,
    ) -> Result<Region, Error> {
        let geo = geometry(lanes, slots_per_lane, slot_size)?;
        tag.check(slot_size)?;
        // SAFETY: the caller's promise: `len` bytes at `base`, ours alone.
        unsafe { region::init_memory(base, len, geo.total)? };
        let header = Header {
            meta: CachePadded::new(Meta {
                prologue: Prologue::unpublished(Kind::Mpmc, tag, flags),
                lanes: AtomicU32::new(lanes),
                slots_per_lane: AtomicU32::new(slots_per_lane),
                slot_size: AtomicU32::new(slot_size),
                // `geometry` checked that stride fits in u32.
                stride: AtomicU32::new(geo.stride as u32),
                total_len: AtomicU64::new(geo.total as u64),
                producer_seen: AtomicU32::new(0),
                consumer_seen: AtomicU32::new(0),
                consumers_state: AtomicU32::new(CONSUMERS_OPEN),
                reserved: AtomicU32::new(0),
                consumer_ids: core::array::from_fn(|_| AtomicU32::new(0)),
            }),
            not_empty: CachePadded::new(Doorbell::new()),
            not_full: CachePadded::new(Doorbell::new()),
        };
        // SAFETY: `check_memory` showed `base` is 128-byte aligned and `len`
        // covers the whole layout; the caller gives us exclusive write access.
        unsafe { ptr::write(base.cast::<Header>(), header) };
        let region = Region { base, geo, tag };
        for lane in 0..lanes {
            let record = Lane {
                prod: CachePadded::new(LaneProducerSide {
                    tail: AtomicU64::new(0),
                    owner: AtomicU32::new(0),
                    state: AtomicU32::new(CLOSED),
                    epoch: AtomicU32::new(0),
                    reserved: AtomicU32::new(0),
                }),
                cons: CachePadded::new(LaneConsumerSide {
                    head: AtomicU64::new(0),
                }),
            };
            // SAFETY: `lane < lanes`, so the record lies inside the checked
            // layout, at a multiple of 128 from an aligned base.
            unsafe { ptr::write(region.lane_ptr(lane), record) };
            for index in 0..slots_per_lane {
                let slot = SlotHeader {
                    stamp: AtomicU32::new(0),
                    len: AtomicU32::new(0),
                };
                // SAFETY: `lane < lanes` and `index < slots_per_lane`, so the
                // slot lies inside the layout, at a multiple of SLOT_ALIGN.
                unsafe { ptr::write(region.slot_ptr(lane, index).cast::<SlotHeader>(), slot) };
            }
        }
        region.meta().prologue.publish();
        Ok(region)
    }

    /// Attaches to an MPMC layout that [`init`](Self::init) wrote (possibly
    /// in another process), validating everything it will rely on.
    ///
    /// # Errors
    ///
    /// [`Error::Misaligned`], [`Error::RegionTooSmall`] (for the header, or
    /// for the layout the header describes), [`Error::Uninitialized`] if the
    /// magic is still 0, [`Error::BadLayout`] for a wrong magic, version or
    /// kind, or geometry that is invalid or contradicts itself.
    ///
    /// # Safety
    ///
    /// `base` must be valid for reads and writes of `len` bytes for as long as
    /// the returned `Region`, its clones and its handles live. The bytes may
    /// be written concurrently by other processes (that is the point).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::{mpmc::Region, Error};
    /// let base = mem.0.as_mut_ptr();
    /// // SAFETY: `mem` is aligned, large enough and outlives both handles.
    /// assert_eq!(unsafe { Region::attach(base, 4096) }.unwrap_err(), Error::Uninitialized);
    /// // SAFETY: as above.
    /// let created = unsafe { Region::init(base, 4096, 2, 4, 64) }.unwrap();
    /// // SAFETY: as above.
    /// let attached = unsafe { Region::attach(base, 4096) }.unwrap();
    /// assert_eq!(attached.slot_size(), 64);
    /// # drop(created);
    /// ```
    pub unsafe fn attach(base: *mut u8, len: usize) -> Result<Region, Error> {
        // SAFETY: the caller promises `len` readable bytes for as long as the
        // region lives; Header is atomics only and starts with the prologue.
        let header: &Header = unsafe { region::attach_header(base, len, Kind::Mpmc)? };
        let meta = &header.meta;
        let geo = geometry(
            meta.lanes.load(Ordering::Relaxed),
            meta.slots_per_lane.load(Ordering::Relaxed),
            meta.slot_size.load(Ordering::Relaxed),
        )
        .map_err(|e| match e {
            Error::InvalidGeometry { what } => Error::BadLayout { what },
            other => other,
        })?;
        if meta.stride.load(Ordering::Relaxed) as usize != geo.stride {
            return Err(Error::BadLayout {
                what: "stride disagrees with slot_size",
            });
        }
        region::check_recorded_total(meta.total_len.load(Ordering::Relaxed), geo.total, base, len)?;
        let tag = meta.prologue.type_tag(geo.slot_size)?;
        Ok(Region { base, geo, tag })
    }

    /// The message type the creator recorded ([`TypeTag::UNTYPED`] for a
    /// ring of bytes), as read at init or attach.
    pub fn type_tag(&self) -> TypeTag {
        self.tag
    }

    // ---- addressing (private geometry only) ----

    fn lane_ptr(&self, lane: u32) -> *mut Lane {
        debug_assert!(lane < self.geo.lanes);
        self.base
            .wrapping_add(self.geo.lanes_off + lane as usize * size_of::<Lane>())
            .cast()
    }

    fn slot_ptr(&self, lane: u32, index: u32) -> *mut u8 {
        debug_assert!(lane < self.geo.lanes && index < self.geo.slots);
        let n = lane as usize * self.geo.slots as usize + index as usize;
        self.base
            .wrapping_add(self.geo.slots_off + n * self.geo.stride)
    }

    fn header(&self) -> &Header {
        // SAFETY: init/attach checked alignment and that `len` covers the
        // header; the caller keeps it mapped; all fields are atomics.
        unsafe { &*self.base.cast::<Header>() }
    }

    fn meta(&self) -> &Meta {
        &self.header().meta
    }

    fn lane(&self, lane: u32) -> &Lane {
        // SAFETY: callers pass `lane < geo.lanes`, so the record is inside the
        // checked layout and aligned; it consists of atomics only.
        unsafe { &*self.lane_ptr(lane) }
    }

    fn slot_header(&self, lane: u32, index: u32) -> &SlotHeader {
        // SAFETY: callers pass in-range `lane`/`index`, so the slot header is
        // inside the checked layout and aligned; it consists of atomics only.
        unsafe { &*self.slot_ptr(lane, index).cast::<SlotHeader>() }
    }

    fn payload(&self, lane: u32, index: u32) -> *mut u8 {
        self.slot_ptr(lane, index).wrapping_add(PAYLOAD_OFFSET)
    }

    fn checked_lane(&self, lane: u32) -> Result<&Lane, Error> {
        if lane >= self.geo.lanes {
            return Err(Error::InvalidGeometry {
                what: "lane index out of range",
            });
        }
        Ok(self.lane(lane))
    }

    // ---- geometry ----

    /// Number of lanes.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// # use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 3, 2, 16) }.unwrap();
    /// assert_eq!((region.lanes(), region.slots_per_lane(), region.slot_size()), (3, 2, 16));
    /// ```
    pub fn lanes(&self) -> u32 {
        self.geo.lanes
    }

    /// Slots in each lane. See [`lanes`](Self::lanes) for an example.
    pub fn slots_per_lane(&self) -> u32 {
        self.geo.slots
    }

    /// Largest message in bytes. See [`lanes`](Self::lanes) for an example.
    pub fn slot_size(&self) -> u32 {
        self.geo.slot_size
    }

    /// Messages currently in all lanes: approximate while peers run, and
    /// each lane's count is clamped to `0..=slots_per_lane`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// # use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 16) }.unwrap();
    /// let mut a = region.producer(1).unwrap();
    /// let mut b = region.producer(2).unwrap();
    /// a.try_send(b"x").unwrap();
    /// b.try_send(b"y").unwrap();
    /// assert_eq!(region.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        let slots = u64::from(self.geo.slots);
        (0..self.geo.lanes)
            .map(|i| {
                let lane = self.lane(i);
                let head = lane.cons.head.load(Ordering::Relaxed);
                let tail = lane.prod.tail.load(Ordering::Relaxed);
                queued(head, tail, slots).unwrap_or(slots) as usize
            })
            .fold(0usize, usize::saturating_add)
    }

    /// `true` if [`len`](Self::len) is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// # use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 16) }.unwrap();
    /// assert!(region.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The doorbell consumers sleep on; the host rings it after each
    /// successful send.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// # use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 16) }.unwrap();
    /// let mut c = region.consumer(9).unwrap();
    /// let ticket = region.not_empty().poll(|| c.try_recv(&mut [0; 16]).ok());
    /// assert!(ticket.is_err()); // nothing to receive: the host would sleep
    /// assert!(region.not_empty().ring().sleepers()); // a sender's host wakes it
    /// ```
    pub fn not_empty(&self) -> &Doorbell {
        &self.header().not_empty
    }

    /// The doorbell producers sleep on; the host rings it after each
    /// successful receive.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// # use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 1, 16) }.unwrap();
    /// let mut p = region.producer(1).unwrap();
    /// p.try_send(b"a").unwrap();
    /// assert!(region.not_full().poll(|| p.try_send(b"b").ok()).is_err());
    /// assert!(region.not_full().ring().sleepers());
    /// ```
    pub fn not_full(&self) -> &Doorbell {
        &self.header().not_full
    }

    // ---- endpoints ----

    /// Claims a free lane for producer `id` (the host passes its pid).
    ///
    /// # Errors
    ///
    /// [`Error::NoFreeLane`] if every lane is owned (or marked dead);
    /// [`Error::Corrupt`] if the only free lanes have out-of-range indices;
    /// [`Error::InvalidGeometry`] if `id` is 0 (0 means "free").
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::{mpmc::Region, Error};
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 4, 16) }.unwrap();
    /// let p = region.producer(42).unwrap();
    /// assert_eq!(region.lane_owner(p.lane()), Ok(42));
    /// assert_eq!(region.producer(43).unwrap_err(), Error::NoFreeLane);
    /// drop(p);
    /// assert!(region.producer(43).is_ok());
    /// ```
    pub fn producer(&self, id: u32) -> Result<RegionProducer, Error> {
        if id == 0 {
            return Err(Error::InvalidGeometry {
                what: "producer id must not be 0",
            });
        }
        let mut first_err = None;
        for lane in 0..self.geo.lanes {
            let owner = &self.lane(lane).prod.owner;
            if owner.load(Ordering::Relaxed) != 0 {
                continue;
            }
            // SYNC: lane close. Acquire pairs with the Release close of the
            // previous owner, so its last `tail` is visible to us.
            if owner
                .compare_exchange(0, id, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            match self.open_lane(lane, id) {
                Ok(p) => return Ok(p),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(Error::NoFreeLane))
    }

    /// Second half of claiming a lane whose `owner` we just set to `id`:
    /// bumps the claim generation, then marks the lane live.
    fn open_lane(&self, lane: u32, id: u32) -> Result<RegionProducer, Error> {
        let record = &self.lane(lane).prod;
        // Only the winner of the owner CAS bumps, so the value we produce is
        // ours; a stale handle (even with our id) holds an older one.
        record.epoch.fetch_add(1, Ordering::Relaxed);
        // A new generation, live: the word our handle checks on every send.
        let mut w = record.state.load(Ordering::Relaxed);
        let epoch = loop {
            let next = (w & !STATE_MASK).wrapping_add(STATE_MASK + 1) | LIVE;
            // SYNC: lane close. Release: pairs with the Acquire loads of
            // `state` in `any_live_lane` and the reapers.
            match record
                .state
                .compare_exchange_weak(w, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break next,
                Err(now) => w = now,
            }
        };
        self.meta().producer_seen.store(1, Ordering::Relaxed);
        let tail = self.finish_publication(lane);
        let mut producer = RegionProducer {
            region: self.clone(),
            lane,
            id,
            epoch,
            tail,
            head_cache: tail.wrapping_sub(u64::from(self.geo.slots)),
        };
        // On error `producer` is dropped, which closes the lane again.
        producer.refresh_head()?;
        Ok(producer)
    }

    /// The lane's `tail` for a new owner: a predecessor that died between
    /// its stamps and its `tail` store published those positions already
    /// (consumers may have taken them), so move `tail` past every position
    /// stamped for this lap rather than overwrite those messages. At most
    /// `S` steps; a stamp from an earlier lap never matches (`stamp_of`).
    fn finish_publication(&self, lane: u32) -> u64 {
        let record = &self.lane(lane).prod;
        let slots = u64::from(self.geo.slots);
        let start = record.tail.load(Ordering::Relaxed);
        let mut tail = start;
        while tail.wrapping_sub(start) < slots
            // SYNC: publish slot.
            && self
                .slot_header(lane, (tail & (slots - 1)) as u32)
                .stamp
                .load(Ordering::Acquire)
                == stamp_of(tail)
        {
            tail = tail.wrapping_add(1);
        }
        if tail != start {
            // SYNC: publish slot.
            record.tail.store(tail, Ordering::Release);
        }
        tail
    }

    /// Attaches consumer `id` (the host passes its pid), recording it in the
    /// header so the host can tell whether anyone still consumes. Attaching
    /// reopens a consumer side that was marked dead.
    ///
    /// # Errors
    ///
    /// [`Error::InUse`] if all [`MAX_CONSUMERS`] records are taken;
    /// [`Error::InvalidGeometry`] if `id` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// # use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 4, 16) }.unwrap();
    /// let c = region.consumer(5).unwrap();
    /// assert!(region.consumer_ids().contains(&5));
    /// drop(c);
    /// assert!(!region.consumer_ids().contains(&5));
    /// ```
    pub fn consumer(&self, id: u32) -> Result<RegionConsumer, Error> {
        if id == 0 {
            return Err(Error::InvalidGeometry {
                what: "consumer id must not be 0",
            });
        }
        let meta = self.meta();
        for (record, word) in meta.consumer_ids.iter().enumerate() {
            if word
                .compare_exchange(0, id, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                meta.consumer_seen.store(1, Ordering::Relaxed);
                // A new generation, open: a verdict on the consumers seen
                // before this attach no longer applies.
                let mut w = meta.consumers_state.load(Ordering::Relaxed);
                loop {
                    let next = (w & !CONSUMERS_STATE_MASK).wrapping_add(CONSUMERS_STATE_MASK + 1)
                        | CONSUMERS_OPEN;
                    match meta.consumers_state.compare_exchange_weak(
                        w,
                        next,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(now) => w = now,
                    }
                }
                return Ok(RegionConsumer {
                    region: self.clone(),
                    id,
                    record,
                    cursor: record as u32 % self.geo.lanes,
                });
            }
        }
        Err(Error::InUse)
    }

    // ---- host inspection and recovery ----

    /// The id owning `lane`, 0 if free.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidGeometry`] if `lane >= lanes()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// # use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 16) }.unwrap();
    /// assert_eq!(region.lane_owner(1), Ok(0));
    /// assert!(region.lane_owner(2).is_err());
    /// ```
    pub fn lane_owner(&self, lane: u32) -> Result<u32, Error> {
        Ok(self.checked_lane(lane)?.prod.owner.load(Ordering::Acquire))
    }

    /// The state word of `lane`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidGeometry`] if `lane >= lanes()`; [`Error::Corrupt`] if
    /// the word holds a value no party writes.
    ///
    /// # Examples
    ///
    /// See [`LaneState`].
    pub fn lane_state(&self, lane: u32) -> Result<LaneState, Error> {
        match state_of(self.checked_lane(lane)?.prod.state.load(Ordering::Acquire)) {
            LIVE => Ok(LaneState::Live),
            CLOSED => Ok(LaneState::Closed),
            DEAD => Ok(LaneState::Dead),
            _ => Err(Error::Corrupt {
                what: "lane state bits are not 0, 1 or 2",
            }),
        }
    }

    /// Host: marks `lane` dead (its owner's process exited) and rings both
    /// doorbells for everyone. The lane's published messages stay
    /// receivable; a producer still holding it gets [`Error::InUse`]. Check
    /// [`lane_owner`](Self::lane_owner) first: this does not compare the owner.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidGeometry`] if `lane >= lanes()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::mpmc::{LaneState, Region};
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 16) }.unwrap();
    /// let p = region.producer(7).unwrap();
    /// let lane = p.lane();
    /// std::mem::forget(p); // the producer "dies"
    /// region.mark_lane_dead(lane).unwrap();
    /// assert_eq!(region.lane_state(lane), Ok(LaneState::Dead));
    /// ```
    pub fn mark_lane_dead(&self, lane: u32) -> Result<(), Error> {
        // SYNC: lane close. Pairs with the Acquire loads in `any_live_lane`.
        let _ = self.checked_lane(lane)?.prod.state.fetch_update(
            Ordering::AcqRel,
            Ordering::Relaxed,
            |w| Some((w & !STATE_MASK) | DEAD),
        );
        self.not_empty().ring_all();
        self.not_full().ring_all();
        Ok(())
    }

    /// Host: hands a lane marked dead with owner `dead_id` to a restarted
    /// producer `new_id`, which continues at the lane's `tail` (messages the
    /// dead producer published stay receivable, in order, before the new ones).
    ///
    /// # Errors
    ///
    /// [`Error::InUse`] if the lane is not marked dead or is not owned by
    /// `dead_id`; [`Error::InvalidGeometry`] for a bad lane or `new_id == 0`;
    /// [`Error::Corrupt`] if the lane's indices are out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 4, 16) }.unwrap();
    /// let mut old = region.producer(7).unwrap();
    /// old.try_send(b"one").unwrap();
    /// std::mem::forget(old); // dies
    /// region.mark_lane_dead(0).unwrap();
    /// let mut new = region.reclaim_lane(0, 7, 8).unwrap();
    /// new.try_send(b"two").unwrap();
    /// let mut c = region.consumer(1).unwrap();
    /// let mut buf = [0; 16];
    /// assert_eq!(c.try_recv(&mut buf).map(|(n, _)| buf[..n].to_vec()), Ok(b"one".to_vec()));
    /// assert_eq!(c.try_recv(&mut buf).map(|(n, _)| buf[..n].to_vec()), Ok(b"two".to_vec()));
    /// ```
    pub fn reclaim_lane(
        &self,
        lane: u32,
        dead_id: u32,
        new_id: u32,
    ) -> Result<RegionProducer, Error> {
        let record = &self.checked_lane(lane)?.prod;
        if new_id == 0 {
            return Err(Error::InvalidGeometry {
                what: "producer id must not be 0",
            });
        }
        if state_of(record.state.load(Ordering::Acquire)) != DEAD {
            return Err(Error::InUse);
        }
        record
            .owner
            .compare_exchange(dead_id, new_id, Ordering::AcqRel, Ordering::Relaxed)
            .map_err(|_| Error::InUse)?;
        self.open_lane(lane, new_id)
    }

    /// The consumer records: ids of attached consumers, 0 for free records.
    ///
    /// # Examples
    ///
    /// See [`consumer`](Self::consumer).
    pub fn consumer_ids(&self) -> [u32; MAX_CONSUMERS] {
        let ids = &self.meta().consumer_ids;
        core::array::from_fn(|i| ids[i].load(Ordering::Relaxed))
    }

    /// Host: frees every consumer record holding `id` (a consumer process
    /// that died). Returns how many were freed.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// # use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 4, 16) }.unwrap();
    /// std::mem::forget(region.consumer(33).unwrap()); // dies
    /// assert_eq!(region.evict_consumer(33), 1);
    /// assert_eq!(region.evict_consumer(33), 0);
    /// ```
    pub fn evict_consumer(&self, id: u32) -> usize {
        if id == 0 {
            return 0;
        }
        self.meta()
            .consumer_ids
            .iter()
            .filter(|w| {
                w.compare_exchange(id, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            })
            .count()
    }

    /// Host: declares that nobody consumes any more (the last consumer
    /// process died or left); producers then get [`Error::PeerDead`]. Rings
    /// both doorbells for everyone.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::{mpmc::Region, Error};
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 4, 16) }.unwrap();
    /// let mut p = region.producer(1).unwrap();
    /// region.mark_consumers_dead();
    /// assert_eq!(p.try_send(b"x"), Err(Error::PeerDead));
    /// ```
    pub fn mark_consumers_dead(&self) {
        let state = &self.meta().consumers_state;
        let _ = state.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
            Some((w & !CONSUMERS_STATE_MASK) | CONSUMERS_DEAD)
        });
        self.not_empty().ring_all();
        self.not_full().ring_all();
    }

    /// Marks the consumer side dead if its word is still `seen` (read before
    /// the verdict on the consumers; an attach since bumped it).
    fn mark_consumers_dead_from(&self, seen: u32) -> bool {
        let dead = (seen & !CONSUMERS_STATE_MASK) | CONSUMERS_DEAD;
        let marked = self
            .meta()
            .consumers_state
            .compare_exchange(seen, dead, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if marked {
            self.not_empty().ring_all();
            self.not_full().ring_all();
        }
        marked
    }

    /// The wrapping sum of every lane's `tail` (Acquire; SYNC: publish slot).
    fn tail_sum(&self) -> u64 {
        (0..self.geo.lanes).fold(0u64, |sum, i| {
            sum.wrapping_add(self.lane(i).prod.tail.load(Ordering::Acquire))
        })
    }

    /// `true` if some lane is owned and not marked dead.
    fn any_live_lane(&self) -> bool {
        (0..self.geo.lanes).any(|i| {
            let record = &self.lane(i).prod;
            // SYNC: lane close. Pairs with the Release stores in
            // `RegionProducer::drop` and `mark_lane_dead`.
            let state = record.state.load(Ordering::Acquire);
            let owner = record.owner.load(Ordering::Acquire);
            owner != 0 && state_of(state) != DEAD
        })
    }

    /// Takes the message at the head of `lane` into `buf`. On `Empty`, adds
    /// the `tail` that showed the lane empty to `tails` (wrapping).
    #[inline]
    fn recv_lane(&self, lane: u32, buf: &mut [u8], tails: &mut u64) -> Result<usize, Error> {
        let record = self.lane(lane);
        let slots = u64::from(self.geo.slots);
        let max = self.geo.slot_size as usize;
        let mut head = record.cons.head.load(Ordering::Acquire);
        for _ in 0..RETRY_LIMIT {
            let index = (head & (slots - 1)) as u32;
            // SYNC: publish slot. Pairs with the producer's Release store of
            // the stamp: a match means position `head` is published and its
            // length and payload are visible, without reading `tail` (whose
            // line the producer writes on every send). A stamp from another
            // lap never matches (see `stamp_of`).
            let stamped =
                self.slot_header(lane, index).stamp.load(Ordering::Acquire) == stamp_of(head);
            if !stamped {
                // SYNC: publish slot. Pairs with the producer's Release store of `tail`.
                let tail = record.prod.tail.load(Ordering::Acquire);
                match queued(head, tail, slots) {
                    Some(0) => {
                        *tails = tails.wrapping_add(tail);
                        return Err(Error::Empty);
                    }
                    Some(_) => {}
                    None => {
                        // `head` was read before `tail` and may be stale;
                        // only a head that did not move proves the pair
                        // inconsistent.
                        let now = record.cons.head.load(Ordering::Acquire);
                        if now == head {
                            return Err(Error::Corrupt {
                                what: "lane tail is not within one lap of head",
                            });
                        }
                        head = now;
                        continue;
                    }
                }
            }
            // SYNC: slot reuse. Pairs with the Release store in `write_slot`.
            let len = self.slot_header(lane, index).len.load(Ordering::Acquire) as usize;
            if len > max {
                // No honest producer writes this; it is final only if the
                // claim succeeds (then the bad message is consumed).
                match record.cons.head.compare_exchange(
                    head,
                    head.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        return Err(Error::Corrupt {
                            what: "message length exceeds slot size",
                        })
                    }
                    Err(now) => {
                        head = now;
                        continue;
                    }
                }
            }
            let Some(dst) = buf.get_mut(..len) else {
                // Leave the message in place, but report only a length that
                // belongs to position `head`.
                // `len` was an Acquire load (SYNC: slot reuse): had it come from
                // a later lap, the producer's head load that allowed the reuse
                // happens before this one, which then cannot return `head`.
                let now = record.cons.head.load(Ordering::Relaxed);
                if now == head {
                    return Err(Error::TooLarge {
                        len,
                        max: buf.len(),
                    });
                }
                head = now;
                continue;
            };
            // SAFETY: the payload of an in-range slot spans `slot_size >= len`
            // bytes inside the checked layout.
            unsafe { region::copy_from_shared(self.payload(lane, index), dst) };
            // SYNC: release slot. Pairs with the producer's Acquire load of
            // `head` in `refresh_head`: our copy happens before it reuses the slot.
            match record.cons.head.compare_exchange(
                head,
                head.wrapping_add(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(len),
                // Another consumer took it: discard the copy.
                Err(now) => head = now,
            }
        }
        Err(Error::Corrupt {
            what: "lane head kept moving",
        })
    }
}

/// A producer's hold on one lane of a [`Region`]. Dropping it (or
/// [`close`](Self::close)) closes the lane cleanly: its published messages
/// stay receivable and the lane becomes free for the next producer.
///
/// # Examples
///
/// ```
/// # #[repr(C, align(128))] struct Mem([u8; 4096]);
/// # let mut mem = Box::new(Mem([0; 4096]));
/// use kipc_core::mpmc::{LaneState, Region};
/// // SAFETY: `mem` is aligned, large enough and outlives the region.
/// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 4, 16) }.unwrap();
/// let mut p = region.producer(3).unwrap();
/// p.try_send(b"kept").unwrap();
/// p.close();
/// assert_eq!(region.lane_state(0), Ok(LaneState::Closed));
/// assert_eq!(region.len(), 1);
/// ```
#[derive(Debug)]
pub struct RegionProducer {
    region: Region,
    lane: u32,
    id: u32,
    /// The lane's `state` word as our claim left it; another value there
    /// means the lane was marked dead, closed or claimed again since.
    epoch: u32,
    /// Our `tail`: the truth for this lane while we own it.
    tail: u64,
    /// Last `head` we read; `tail - head_cache` is in `0..=S`.
    head_cache: u64,
}

impl RegionProducer {
    /// The lane this producer owns.
    ///
    /// # Examples
    ///
    /// See [`Region::producer`].
    pub fn lane(&self) -> u32 {
        self.lane
    }

    /// The id this producer claimed its lane with.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// # use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 4, 16) }.unwrap();
    /// assert_eq!(region.producer(12).unwrap().id(), 12);
    /// ```
    pub fn id(&self) -> u32 {
        self.id
    }

    fn record(&self) -> &Lane {
        self.region.lane(self.lane)
    }

    /// Re-reads `head`; returns the number of free slots.
    fn refresh_head(&mut self) -> Result<u64, Error> {
        let slots = u64::from(self.region.geo.slots);
        // SYNC: release slot. Pairs with the consumers' AcqRel CAS on `head`.
        let head = self.record().cons.head.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        if used > slots {
            return Err(Error::Corrupt {
                what: "lane head is not within one lap of tail",
            });
        }
        self.head_cache = head;
        Ok(slots - used)
    }

    /// Free slots in our lane, re-reading `head` only when the cached copy
    /// shows fewer than `wanted`.
    fn free_slots(&mut self, wanted: u64) -> Result<u64, Error> {
        let slots = u64::from(self.region.geo.slots);
        let used = self.tail.wrapping_sub(self.head_cache);
        if used < slots && slots - used >= wanted {
            return Ok(slots - used);
        }
        self.refresh_head()
    }

    fn check_alive(&self) -> Result<(), Error> {
        let consumers = self.region.meta().consumers_state.load(Ordering::Relaxed);
        if consumers & CONSUMERS_STATE_MASK != CONSUMERS_OPEN {
            return Err(Error::PeerDead);
        }
        // A lane marked dead, reclaimed or claimed again no longer holds
        // our word.
        if !self.owns_lane() {
            return Err(Error::InUse);
        }
        Ok(())
    }

    /// `owner` is our id and `state` still the word our claim produced
    /// (same generation, live).
    fn owns_lane(&self) -> bool {
        let record = &self.record().prod;
        record.owner.load(Ordering::Relaxed) == self.id
            && record.state.load(Ordering::Relaxed) == self.epoch
    }

    fn check_len(&self, msg: &[u8]) -> Result<(), Error> {
        let max = self.region.geo.slot_size as usize;
        if msg.len() > max {
            return Err(Error::TooLarge {
                len: msg.len(),
                max,
            });
        }
        Ok(())
    }

    /// The slot index of position `pos` in our lane.
    #[inline(always)]
    fn index(&self, pos: u64) -> u32 {
        (pos & (u64::from(self.region.geo.slots) - 1)) as u32
    }

    /// Writes `msg` (already length-checked) into the slot of position `pos`
    /// and stamps it.
    fn write_slot(&self, pos: u64, msg: &[u8]) {
        let index = self.index(pos);
        // `msg.len() <= slot_size`, a u32.
        self.write_len(index, msg.len() as u32);
        // SAFETY: the payload of an in-range slot spans `slot_size >=
        // msg.len()` bytes inside the checked layout.
        unsafe { region::copy_to_shared(msg, self.region.payload(self.lane, index)) };
        self.stamp(pos);
    }

    /// Stores the length word of slot `index`, the first write to a slot we
    /// may reuse.
    #[inline(always)]
    fn write_len(&self, index: u32, len: u32) {
        // SYNC: slot reuse. Release orders our last `head` load (the one that
        // let us reuse this slot) before the length; pairs with the consumer's
        // Acquire load of `len` in `recv_lane`.
        self.region
            .slot_header(self.lane, index)
            .len
            .store(len, Ordering::Release);
    }

    /// Publishes position `pos` by its slot's stamp, once its length and
    /// payload are written: consumers may take it from here on, before
    /// [`publish`](Self::publish) moves `tail`.
    #[inline(always)]
    fn stamp(&self, pos: u64) {
        // SYNC: publish slot. Release: the length and payload are visible to
        // a consumer that loads this stamp with Acquire. It shares the
        // payload's line, so a polling consumer finds the message in the
        // line it reads.
        self.region
            .slot_header(self.lane, self.index(pos))
            .stamp
            .store(stamp_of(pos), STAMP_ORDER);
    }

    /// Moves `tail` past `count` stamped positions.
    fn publish(&mut self, count: u64) {
        self.tail = self.tail.wrapping_add(count);
        // SYNC: publish slot. Pairs with the consumer's Acquire load of `tail`.
        self.record().prod.tail.store(self.tail, Ordering::Release);
    }

    /// Sends one message of `0..=slot_size` bytes without waiting. The host
    /// then rings [`Region::not_empty`].
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if `msg` exceeds the slot size; [`Error::PeerDead`]
    /// if the consumer side was marked dead; [`Error::InUse`] if this lane was
    /// marked dead, or claimed or reclaimed since this handle's claim (even
    /// by the same id); [`Error::Full`] if the lane has
    /// no free slot; [`Error::Corrupt`] if a peer put the lane's `head` out of
    /// range.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::{mpmc::Region, Error};
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 2, 4) }.unwrap();
    /// let mut p = region.producer(1).unwrap();
    /// assert_eq!(p.try_send(b"toolong"), Err(Error::TooLarge { len: 7, max: 4 }));
    /// p.try_send(b"a").unwrap();
    /// p.try_send(b"").unwrap();
    /// assert_eq!(p.try_send(b"b"), Err(Error::Full));
    /// ```
    #[inline]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), Error> {
        self.check_len(msg)?;
        self.check_alive()?;
        if self.free_slots(1)? == 0 {
            return Err(Error::Full);
        }
        self.write_slot(self.tail, msg);
        self.publish(1);
        Ok(())
    }

    /// Sends a `len`-byte message written in place by `fill` (called only
    /// once a slot is reserved). Bytes `fill` leaves unwritten hold what the
    /// slot held before.
    ///
    /// # Errors
    ///
    /// As [`try_send`](Self::try_send); `fill` is not called on error.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 4, 16) }.unwrap();
    /// let mut p = region.producer(1).unwrap();
    /// p.try_send_with(3, |w| w.write_at(0, b"abc").unwrap()).unwrap();
    /// let mut buf = [0; 16];
    /// assert_eq!(region.consumer(2).unwrap().try_recv(&mut buf), Ok((3, 0)));
    /// assert_eq!(&buf[..3], b"abc");
    /// ```
    pub fn try_send_with(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut SlotWriter<'_>),
    ) -> Result<(), Error> {
        let max = self.region.geo.slot_size as usize;
        if len > max {
            return Err(Error::TooLarge { len, max });
        }
        self.check_alive()?;
        if self.free_slots(1)? == 0 {
            return Err(Error::Full);
        }
        let index = self.index(self.tail);
        // `len <= slot_size`, a u32.
        self.write_len(index, len as u32);
        // SAFETY: the payload of an in-range slot spans `slot_size >= len`
        // bytes inside the checked layout; the slot is free (behind `head`
        // by a lap) and only this producer writes it until its stamp.
        let mut writer = unsafe { SlotWriter::new(self.region.payload(self.lane, index), len) };
        fill(&mut writer);
        self.stamp(self.tail);
        self.publish(1);
        Ok(())
    }

    /// Sends the leading messages of `msgs` that fit, publishing them all
    /// with one store. Returns how many were sent; stops before a message
    /// that is too large.
    ///
    /// # Errors
    ///
    /// As [`try_send`](Self::try_send), when not even the first message could
    /// be sent (`Full`, `TooLarge`, ...). `Ok(0)` only for an empty `msgs`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::{mpmc::Region, Error};
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 4, 8) }.unwrap();
    /// let mut p = region.producer(1).unwrap();
    /// assert_eq!(p.send_many(&[b"a", b"b", b"c"]), Ok(3));
    /// assert_eq!(p.send_many(&[b"d", b"e"]), Ok(1));
    /// assert_eq!(p.send_many(&[b"f"]), Err(Error::Full));
    /// ```
    pub fn send_many(&mut self, msgs: &[&[u8]]) -> Result<usize, Error> {
        if msgs.is_empty() {
            return Ok(0);
        }
        self.check_alive()?;
        let wanted = u64::try_from(msgs.len()).unwrap_or(u64::MAX);
        let free = usize::try_from(self.free_slots(wanted)?).unwrap_or(usize::MAX);
        let mut sent = 0usize;
        for msg in msgs.iter().take(free) {
            if let Err(e) = self.check_len(msg) {
                if sent == 0 {
                    return Err(e);
                }
                break;
            }
            self.write_slot(self.tail.wrapping_add(sent as u64), msg);
            sent += 1;
        }
        if sent == 0 {
            return Err(Error::Full);
        }
        self.publish(sent as u64);
        Ok(sent)
    }

    /// Closes the lane cleanly (the same as dropping the producer).
    ///
    /// # Examples
    ///
    /// See [`RegionProducer`].
    pub fn close(self) {}
}

impl Drop for RegionProducer {
    fn drop(&mut self) {
        let record = &self.record().prod;
        if record.owner.load(Ordering::Relaxed) != self.id {
            return;
        }
        let generation = self.epoch & !STATE_MASK;
        let closed = generation | CLOSED;
        // SYNC: lane close. Release: whoever sees the lane closed (a consumer
        // deciding `PeerDead`, the next owner) sees our last `tail`. Ours to
        // close only while the word is our claim's (live, or marked dead
        // while we still held it); a lane reclaimed or claimed again since
        // has another generation.
        let ours = record
            .state
            .compare_exchange(self.epoch, closed, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
            || record
                .state
                .compare_exchange(
                    generation | DEAD,
                    closed,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok();
        if ours {
            let _ = record
                .owner
                .compare_exchange(self.id, 0, Ordering::Release, Ordering::Relaxed);
        }
    }
}

/// A consumer of a [`Region`]: receives from every lane, round-robin.
/// Dropping it frees its consumer record.
///
/// # Examples
///
/// ```
/// # #[repr(C, align(128))] struct Mem([u8; 4096]);
/// # let mut mem = Box::new(Mem([0; 4096]));
/// use kipc_core::{mpmc::Region, Error};
/// // SAFETY: `mem` is aligned, large enough and outlives the region.
/// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 16) }.unwrap();
/// let mut c = region.consumer(1).unwrap();
/// assert_eq!(c.try_recv(&mut [0; 16]), Err(Error::Empty));
/// ```
#[derive(Debug)]
pub struct RegionConsumer {
    region: Region,
    id: u32,
    /// Index of our record in `consumer_ids`.
    record: usize,
    /// Lane the next scan starts at; always `< lanes`.
    cursor: u32,
}

impl RegionConsumer {
    /// The id this consumer attached with.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// # use kipc_core::mpmc::Region;
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 1, 4, 16) }.unwrap();
    /// assert_eq!(region.consumer(4).unwrap().id(), 4);
    /// ```
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Receives one message into `buf` without waiting; returns its length
    /// and the lane it came from. Lanes are scanned round-robin from a
    /// per-consumer cursor, so a busy lane cannot starve the others. The host
    /// then rings [`Region::not_full`].
    ///
    /// # Errors
    ///
    /// - [`Error::Empty`]: every lane was empty at one instant during the
    ///   call (so never right after this thread's own completed send, unless
    ///   another consumer took that message);
    /// - [`Error::PeerDead`]: no lane holds a message, no lane is live-owned,
    ///   and some producer has attached before (see [`Region`]);
    /// - [`Error::TooLarge`]: the next message on a lane is longer than `buf`
    ///   (`max` is `buf.len()`); it is left in place and the next call
    ///   starts at that lane;
    /// - [`Error::Corrupt`]: a peer broke a lane's indices or a message's
    ///   length. The next call starts at the following lane, so the other
    ///   lanes keep flowing.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::{mpmc::Region, Error};
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 16) }.unwrap();
    /// let mut p = region.producer(1).unwrap();
    /// let mut c = region.consumer(2).unwrap();
    /// p.try_send(b"four").unwrap();
    /// assert_eq!(c.try_recv(&mut [0; 2]), Err(Error::TooLarge { len: 4, max: 2 }));
    /// let mut buf = [0; 16];
    /// assert_eq!(c.try_recv(&mut buf), Ok((4, p.lane())));
    /// drop(p);
    /// assert_eq!(c.try_recv(&mut buf), Err(Error::PeerDead));
    /// ```
    #[inline]
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<(usize, u32), Error> {
        let mut tails = 0u64;
        if let Some(result) = self.scan(buf, &mut tails) {
            return result;
        }
        if self.region.geo.lanes > 1 && ALL_LANES_AT_ONCE {
            if let Some(result) = self.confirm_empty(buf, tails) {
                return result;
            }
        }
        let meta = self.region.meta();
        if meta.producer_seen.load(Ordering::Relaxed) == 0 || self.region.any_live_lane() {
            return Err(Error::Empty);
        }
        // No lane is owned: every `tail` was final when its lane closed, and
        // the Acquire loads in `any_live_lane` made it visible. Look once more.
        if let Some(result) = self.scan(buf, &mut 0) {
            return result;
        }
        Err(Error::PeerDead)
    }

    /// After a scan that found every lane empty (with `tails` the sum of the
    /// tails it saw), makes `Empty` mean "all lanes empty at one instant":
    /// re-reads every `tail`; if their sum is unchanged, no `tail` moved
    /// (honest tails only grow), so at the instant between the two reads
    /// each lane's `head` equalled its `tail` (it was at least the `head`
    /// the scan saw, which equalled that `tail`, and never exceeds it), and
    /// `None` is returned. Otherwise a message was published meanwhile:
    /// scan again and return what it finds. A lane scanned early could
    /// otherwise be refilled while a message in a lane scanned later is
    /// taken by another consumer, and a receive right after the caller's own
    /// send would report `Empty` with that send still queued.
    ///
    /// Gives up after [`RETRY_LIMIT`] rescans (each means another consumer
    /// took a message that arrived meanwhile, or a peer keeps rewriting a
    /// `tail`) and then lets `Empty` stand, so the call always returns.
    fn confirm_empty(
        &mut self,
        buf: &mut [u8],
        mut tails: u64,
    ) -> Option<Result<(usize, u32), Error>> {
        for _ in 0..RETRY_LIMIT {
            if self.region.tail_sum() == tails {
                return None;
            }
            tails = 0;
            if let Some(result) = self.scan(buf, &mut tails) {
                return Some(result);
            }
        }
        None
    }

    /// Length of the next message [`try_recv`](Self::try_recv) would
    /// look at (another consumer may take it first).
    ///
    /// # Errors
    ///
    /// [`Error::Empty`]; [`Error::Corrupt`] for a length above the slot
    /// size or a lane's indices out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// use kipc_core::{mpmc::Region, Error};
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let region = unsafe { Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 16) }.unwrap();
    /// let mut c = region.consumer(1).unwrap();
    /// assert_eq!(c.peek_len(), Err(Error::Empty));
    /// region.producer(2).unwrap().try_send(b"four").unwrap();
    /// assert_eq!(c.peek_len(), Ok(4));
    /// ```
    pub fn peek_len(&mut self) -> Result<usize, Error> {
        let lanes = self.region.geo.lanes;
        let slots = u64::from(self.region.geo.slots);
        let mut lane = self.cursor;
        for _ in 0..lanes {
            let this = lane;
            lane = self.next_lane(lane);
            let record = self.region.lane(this);
            let head = record.cons.head.load(Ordering::Acquire);
            let index = (head & (slots - 1)) as u32;
            // SYNC: publish slot (as in `recv_lane`).
            let stamp = self
                .region
                .slot_header(this, index)
                .stamp
                .load(Ordering::Acquire);
            if stamp != stamp_of(head) {
                // SYNC: publish slot.
                let tail = record.prod.tail.load(Ordering::Acquire);
                match queued(head, tail, slots) {
                    Some(0) => continue,
                    Some(_) => {}
                    None => {
                        return Err(Error::Corrupt {
                            what: "lane tail is not within one lap of head",
                        })
                    }
                }
            }
            // SYNC: slot reuse.
            let len = self
                .region
                .slot_header(this, index)
                .len
                .load(Ordering::Acquire);
            if len > self.region.geo.slot_size {
                return Err(Error::Corrupt {
                    what: "message length exceeds slot size",
                });
            }
            return Ok(len as usize);
        }
        Err(Error::Empty)
    }

    /// The lane after `lane` (`< lanes`), round-robin. A compare rather than
    /// `%`: this runs on every poll of an empty ring, where a division is a
    /// noticeable part of the loop.
    #[inline(always)]
    fn next_lane(&self, lane: u32) -> u32 {
        debug_assert!(lane < self.region.geo.lanes);
        if lane + 1 >= self.region.geo.lanes {
            0
        } else {
            lane + 1
        }
    }

    /// Looks at every lane once from the cursor and takes the first message
    /// found; `None` if every lane was empty when looked at. `tails` gets
    /// the sum of the `tail`s that showed the lanes empty.
    #[inline]
    fn scan(&mut self, buf: &mut [u8], tails: &mut u64) -> Option<Result<(usize, u32), Error>> {
        let mut lane = self.cursor;
        for _ in 0..self.region.geo.lanes {
            match self.region.recv_lane(lane, buf, tails) {
                Err(Error::Empty) => lane = self.next_lane(lane),
                Err(e @ Error::TooLarge { .. }) => {
                    self.cursor = lane;
                    return Some(Err(e));
                }
                result => {
                    self.cursor = self.next_lane(lane);
                    return Some(result.map(|n| (n, lane)));
                }
            }
        }
        None
    }
}

impl Drop for RegionConsumer {
    fn drop(&mut self) {
        if let Some(word) = self.region.meta().consumer_ids.get(self.record) {
            let _ = word.compare_exchange(self.id, 0, Ordering::Release, Ordering::Relaxed);
        }
    }
}

impl Region {
    /// Marks `lane` dead if its owner is still `owner` and its state word is
    /// still `seen`, read before the owner was judged dead: live, or closed
    /// by an owner that died while claiming or closing the lane. Every claim
    /// changes the word's generation, so a verdict on an old owner never
    /// lands on a newer claim.
    fn mark_lane_dead_from(&self, lane: u32, owner: u32, seen: u32) -> bool {
        let record = &self.lane(lane).prod;
        if state_of(seen) == DEAD || record.owner.load(Ordering::Acquire) != owner {
            return false;
        }
        // SYNC: lane close. A CAS from the word seen, so a close, a mark or a
        // new claim in between is never overwritten.
        record
            .state
            .compare_exchange(
                seen,
                (seen & !STATE_MASK) | DEAD,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Marks dead every owned lane (live, or closed by an owner that died
    /// while claiming or closing it) whose owner (not `me`) `alive` says has
    /// exited; returns whether it marked any.
    fn reap_lanes(&self, me: u32, alive: &mut dyn FnMut(NonZeroU32) -> bool) -> bool {
        let mut marked = false;
        for lane in 0..self.geo.lanes {
            let record = &self.lane(lane).prod;
            // State word first, owner second (see `mark_lane_dead_from`).
            let seen = record.state.load(Ordering::Acquire);
            let Some(owner) = NonZeroU32::new(record.owner.load(Ordering::Acquire)) else {
                continue;
            };
            if owner.get() == me || state_of(seen) == DEAD {
                continue;
            }
            if !alive(owner) && self.mark_lane_dead_from(lane, owner.get(), seen) {
                marked = true;
            }
        }
        if marked {
            self.not_empty().ring_all();
            self.not_full().ring_all();
        }
        marked
    }
}

impl Queue for Region {
    type Producer = RegionProducer;
    type Consumer = RegionConsumer;

    fn kind(&self) -> Kind {
        Kind::Mpmc
    }

    /// Claims a free lane; when none is free, marks dead and reclaims a lane
    /// whose owner has exited (its published messages stay receivable).
    fn claim_producer(
        &self,
        id: u32,
        alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<RegionProducer, Error> {
        match self.producer(id) {
            Err(Error::NoFreeLane) => {}
            other => return other,
        }
        for lane in 0..self.geo.lanes {
            let record = &self.lane(lane).prod;
            let seen = record.state.load(Ordering::Acquire);
            let Some(owner) = NonZeroU32::new(record.owner.load(Ordering::Acquire)) else {
                continue;
            };
            if owner.get() == id || alive(owner) {
                continue;
            }
            if state_of(seen) != DEAD && !self.mark_lane_dead_from(lane, owner.get(), seen) {
                continue;
            }
            if let Ok(p) = self.reclaim_lane(lane, owner.get(), id) {
                return Ok(p);
            }
        }
        // A lane may have been closed meanwhile.
        self.producer(id)
    }

    /// Takes a free consumer record; when none is free, evicts records of
    /// exited consumers and tries once more.
    fn claim_consumer(
        &self,
        id: u32,
        alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<RegionConsumer, Error> {
        match self.consumer(id) {
            Err(Error::InUse) => {}
            other => return other,
        }
        for other in self.consumer_ids() {
            match NonZeroU32::new(other) {
                Some(o) if other != id && !alive(o) => {
                    self.evict_consumer(other);
                }
                _ => {}
            }
        }
        self.consumer(id)
    }

    /// A waiting consumer marks the lanes of exited producers dead (it gets
    /// [`Error::PeerDead`] once every lane is empty and none is owned by a
    /// live producer); a waiting producer whose recorded consumers have all
    /// exited evicts them and marks the consumer side dead (its sends get
    /// [`Error::PeerDead`] until a consumer attaches).
    fn reap(&self, waiter: Role, me: u32, alive: &mut dyn FnMut(NonZeroU32) -> bool) -> bool {
        match waiter {
            Role::Consumer => self.reap_lanes(me, alive),
            Role::Producer => {
                // The word before the ids: see `mark_consumers_dead_from`.
                let seen = self.meta().consumers_state.load(Ordering::Acquire);
                let ids = self.consumer_ids();
                let mut recorded = ids.iter().filter_map(|&i| NonZeroU32::new(i)).peekable();
                if recorded.peek().is_none() || seen & CONSUMERS_STATE_MASK != CONSUMERS_OPEN {
                    return false;
                }
                let mut all_dead = true;
                for id in recorded {
                    if id.get() == me || alive(id) {
                        all_dead = false;
                        break;
                    }
                }
                if !all_dead {
                    return false;
                }
                for id in ids {
                    self.evict_consumer(id);
                }
                self.mark_consumers_dead_from(seen)
            }
        }
    }

    fn owners(&self, f: &mut dyn FnMut(Owner)) {
        for lane in 0..self.geo.lanes {
            let record = &self.lane(lane).prod;
            if let Some(id) = NonZeroU32::new(record.owner.load(Ordering::Acquire)) {
                f(Owner {
                    role: Role::Producer,
                    lane: Some(lane),
                    id,
                    marked_dead: state_of(record.state.load(Ordering::Acquire)) == DEAD,
                });
            }
        }
        let dead = self.meta().consumers_state.load(Ordering::Relaxed) & CONSUMERS_STATE_MASK
            != CONSUMERS_OPEN;
        for id in self.consumer_ids().into_iter().filter_map(NonZeroU32::new) {
            f(Owner {
                role: Role::Consumer,
                lane: None,
                id,
                marked_dead: dead,
            });
        }
    }

    fn not_empty(&self) -> &Doorbell {
        Region::not_empty(self)
    }

    fn not_full(&self) -> &Doorbell {
        Region::not_full(self)
    }

    fn capacity(&self) -> usize {
        self.geo.lanes as usize * self.geo.slots as usize
    }

    fn max_msg(&self) -> usize {
        self.geo.slot_size as usize
    }

    fn len(&self) -> usize {
        Region::len(self)
    }

    fn byte_len(&self) -> usize {
        self.geo.total
    }
}

impl Producer for RegionProducer {
    #[inline]
    fn try_send(&mut self, msg: &[u8]) -> Result<(), Error> {
        RegionProducer::try_send(self, msg)
    }

    fn try_send_with<F: FnOnce(&mut SlotWriter<'_>)>(
        &mut self,
        len: usize,
        fill: F,
    ) -> Result<(), Error> {
        RegionProducer::try_send_with(self, len, fill)
    }

    fn id(&self) -> u32 {
        self.id
    }

    fn max_msg(&self) -> usize {
        self.region.geo.slot_size as usize
    }
}

impl Consumer for RegionConsumer {
    #[inline]
    fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        RegionConsumer::try_recv(self, buf).map(|(len, _lane)| len)
    }

    fn peek_len(&mut self) -> Result<usize, Error> {
        RegionConsumer::peek_len(self)
    }

    fn id(&self) -> u32 {
        self.id
    }

    fn max_msg(&self) -> usize {
        self.region.geo.slot_size as usize
    }
}

#[cfg(all(test, not(kipc_loom)))]
mod tests;
