//! The region form: an SPSC ring of byte messages laid over caller memory,
//! shared with an untrusted peer.
//!
//! # Layout
//!
//! Offsets are for normal builds (under `cfg(kipc_loom)` the atomics are
//! loom's and larger; the order is the same). The base is 128-byte aligned.
//!
//! | offset | field              | written by                  | meaning                                        |
//! |--------|--------------------|-----------------------------|------------------------------------------------|
//! | 0      | prologue (32 B)    | creator (magic last)        | [`region::Prologue`](crate::region): magic, version, kind = spsc, type tag |
//! | 32     | `slot_count`       | creator                     | capacity, a power of two in `1..=2^31`         |
//! | 36     | `slot_size`        | creator                     | largest payload, `1..=MAX_SLOT_SIZE` bytes     |
//! | 40     | `slot_stride`      | creator                     | `round_up(8 + slot_size, 64)`                  |
//! | 44     | `slots_offset`     | creator                     | 640, where slot 0 starts                       |
//! | 48     | `total_len_lo/hi`  | creator                     | whole layout in bytes, a `u64` as two `u32`s   |
//! | 56     | producer `owner`   | host (claim/release)        | opaque id (a pid), 0 = none                    |
//! | 60     | producer `state`   | host                        | 0 attached/unknown, 1 closed, 2 dead           |
//! | 64     | consumer `owner`   | host (claim/release)        | as for the producer                            |
//! | 68     | consumer `state`   | host                        | as for the producer                            |
//! | 128    | `tail`             | producer, Release           | next position to fill (wrapping `u32`)         |
//! | 256    | `head`             | consumer, Release           | next position to empty (wrapping `u32`)        |
//! | 384    | `not_empty`        | producer rings, consumer waits | [`Doorbell`]                                |
//! | 512    | `not_full`         | consumer rings, producer waits | [`Doorbell`]                                |
//! | 640    | slots              | producer                    | `slot_count` x `slot_stride` bytes             |
//!
//! A slot starts on a 64-byte line (640 and the stride are multiples of 64):
//!
//! | slot offset | field     | written by          | meaning                                         |
//! |-------------|-----------|---------------------|-------------------------------------------------|
//! | 0           | `stamp`   | producer, Release   | `p + 1` (wrapping) once position `p` is published there; 0 in a fresh region |
//! | 4           | `len`     | producer, Relaxed   | the message's length, `<= slot_size`            |
//! | 8           | payload   | producer            | `slot_size` bytes                               |
//!
//! So a message of up to 56 bytes shares one cache line with its stamp and
//! length, and a consumer that finds the stamp it expects has the message
//! without touching the producer's `tail` line: one line moves per message
//! instead of two. The price is memory for tiny slots (a 1-byte slot takes
//! 64 bytes). A slot is reused every `slot_count` positions, and
//! `slot_count <= 2^31`, so the stamp a slot holds from an earlier lap never
//! equals the one the current lap expects. Positions start at 0 when a
//! region is initialised, so a fresh slot's stamp (0) could only match
//! position `u32::MAX`, which a correct producer reaches only after filling
//! every slot at least once. Every field is a fixed-width integer.
//!
//! # Protocol
//!
//! Sending (the producer, which alone writes `tail` and the slots):
//! 1. check the message fits a slot and the consumer is not marked dead;
//! 2. if its cached `head` says full, load `head` (Acquire, `SYNC: consume
//!    slot`), check `tail - head <= slot_count` (else [`Error::Corrupt`]);
//! 3. copy the payload into slot `tail & (slot_count - 1)`, store its length;
//! 4. store the slot's `stamp = tail + 1` (Release, `SYNC: publish slot`),
//!    then `tail + 1` (Release, `SYNC: publish slot`), in that order, so a
//!    consumer that sees a stamp also sees every earlier `tail`;
//! 5. the host calls [`Region::not_empty`]`.ring()` and wakes the waiters the
//!    returned [`Wake`](crate::doorbell::Wake) names (futex sleepers, armed
//!    descriptors).
//!
//! Receiving (the consumer, which alone writes `head`):
//! 1. if its cached `tail` says empty, load the producer's `state` (Acquire,
//!    `SYNC: mark dead`), then the `stamp` of slot `head` (Acquire, `SYNC:
//!    publish slot`): if it is `head + 1` the message is there (the `tail`
//!    line is not read). Otherwise load `tail` (Acquire, `SYNC: publish
//!    slot`) and check `tail - head <= slot_count`, where `tail == head - 1`
//!    also counts as empty (the producer stamped the slot we just took and
//!    has not stored `tail` yet; or died in between); if still empty return
//!    [`Error::Empty`], or [`Error::PeerDead`] when the producer was marked
//!    dead;
//! 2. read the slot's length word once, check it is `<= slot_size`, copy the
//!    payload out with [`copy_from_shared`](crate::region) into the caller's
//!    buffer (never a `&[u8]` into shared memory);
//! 3. store `head + 1` (Release, `SYNC: consume slot`);
//! 4. the host calls [`Region::not_full`]`.ring()` and wakes if asked.
//!
//! Each side keeps its own position in private memory and never re-reads it
//! from the region, so a peer scribbling on *our* index cannot mislead us; it
//! can only scribble on *its* index, which we range-check on every read. A
//! forged stamp is like a forged `tail`: it can make the consumer read a
//! slot early (torn bytes, still length-checked), nothing more. Every
//! length is checked against the slot before use and all arithmetic wraps, so
//! a hostile peer gets at worst [`Error::Corrupt`], garbage payload bytes (a
//! torn copy of what it wrote) or a ring that looks full or empty: never an
//! out-of-bounds access, a panic or a loop. Geometry is copied out at attach,
//! so rewriting it later changes nothing.
//!
//! # Crashes
//!
//! - Producer dies before step 4: neither the stamp nor `tail` was written,
//!   so the half-written slot is invisible; a new producer
//!   ([`Endpoint::reclaim`]) overwrites it. No torn message is ever
//!   delivered.
//! - Producer dies between the stamp and `tail` in step 4: the message is
//!   complete and the consumer takes it by its stamp (then sees `tail` one
//!   behind `head`, which reads as empty); a new producer that finds the
//!   slot at `tail` stamped `tail + 1` finishes the publication (stores
//!   `tail + 1`) before it sends, so it never overwrites that message.
//! - Producer dies after step 4: the message is complete and is delivered.
//! - Consumer dies before step 3: `head` was not advanced, the message stays
//!   queued and a new consumer receives it again (at-least-once across a
//!   consumer's death).
//! - `tail`, `head` and the stamps are single aligned `u32` stores, so they
//!   are never torn.
//! - The host learns of a death (a pidfd) and calls
//!   [`Region::mark_producer_dead`] or [`Region::mark_consumer_dead`]: the
//!   state word becomes 2 and both doorbells change, so sleepers wake and see
//!   [`Error::PeerDead`] (a consumer only after draining what was published).
//! - Endpoint ownership is a CAS on the `owner` word, so two processes cannot
//!   both claim a side; a dead owner's side is taken over with
//!   [`Endpoint::reclaim`]. Nothing here is a lock: no dead holder can wedge
//!   the living.

use core::mem::size_of;
use core::num::NonZeroU32;
use core::ptr::{self, NonNull};

use super::distance;
use crate::doorbell::Doorbell;
use crate::queue::{Consumer, Owner, Producer, Queue, Role};
pub use crate::region::SlotWriter;
use crate::region::{
    attach_header, check_recorded_total, copy_from_shared, copy_to_shared, init_memory, round_up,
    Kind, Prologue, RegionFlags, TypeTag,
};
use crate::sync::{AtomicU32, CachePadded, Ordering};
use crate::Error;

/// Largest slot count of a region (positions are `u32`).
pub const MAX_SLOTS: u32 = 1 << 31;

/// Largest payload of one slot in bytes (1 GiB).
pub const MAX_SLOT_SIZE: u32 = 1 << 30;

/// Endpoint `state`: attached (or never closed).
const STATE_ATTACHED: u32 = 0;
/// Endpoint `state`: released cleanly.
const STATE_CLOSED: u32 = 1;
/// Endpoint `state`: marked dead by the host.
const STATE_DEAD: u32 = 2;

/// Bytes of a slot's stamp word and of its length word (4 each in normal
/// builds).
const LEN_WORD: usize = size_of::<AtomicU32>();

/// Where a slot's payload starts: after the stamp and the length.
const PAYLOAD: usize = 2 * LEN_WORD;

/// Alignment of every slot: a cache line, so a small message, its stamp and
/// its length share one line.
const SLOT_ALIGN: usize = if core::mem::align_of::<AtomicU32>() > 64 {
    core::mem::align_of::<AtomicU32>()
} else {
    64
};

/// Where slot 0 starts.
const HEADER_SIZE: usize = size_of::<Header>();

/// The region header. See the [module documentation](self).
#[repr(C)]
struct Header {
    prologue: Prologue,
    /// Capacity: a power of two in `1..=MAX_SLOTS`.
    slot_count: AtomicU32,
    /// Largest payload: `1..=MAX_SLOT_SIZE`.
    slot_size: AtomicU32,
    /// Bytes from one slot to the next: `slot_stride(slot_size)`.
    slot_stride: AtomicU32,
    /// Offset of slot 0: `HEADER_SIZE`.
    slots_offset: AtomicU32,
    /// Low half of the layout's total length in bytes.
    total_len_lo: AtomicU32,
    /// High half of the layout's total length in bytes.
    total_len_hi: AtomicU32,
    producer: Endpoint,
    consumer: Endpoint,
    /// Producer-written: next position to fill. Wraps; a correct producer
    /// keeps `tail - head` in `0..=slot_count`.
    tail: CachePadded<AtomicU32>,
    /// Consumer-written: next position to empty. Wraps; trails `tail`.
    head: CachePadded<AtomicU32>,
    not_empty: CachePadded<Doorbell>,
    not_full: CachePadded<Doorbell>,
}

/// One side's record in the header: who owns it, whether it is alive, and
/// the generation of its current claim.
///
/// The `state` word packs the side's state (bits 0..2: 0 attached, 1 closed,
/// 2 dead; 3 is corruption) and a claim generation (bits 2..32) that every
/// claim and reclaim bumps. A handle remembers the word its claim produced
/// and checks it on every operation, so a handle whose side was reclaimed
/// (or marked dead) is refused with [`Error::InUse`]. Marking a side dead is
/// a compare-and-swap from a word read *before* the owner was judged dead,
/// so a verdict on an old owner can never land on a newer claim.
///
/// Claiming happens in [`Region::producer`]/[`Region::consumer`] (and, with
/// reclaim of dead owners, through [`Queue`](crate::queue::Queue)); this type
/// only reports.
///
/// The per-operation check is a guard, not a lock: an operation that passed
/// it a moment before a take-over still completes. That window never opens
/// in kipc-host, because a side is taken over only from an owner that the
/// kernel says is dead ([`Queue::claim_producer`](crate::queue::Queue::claim_producer)'s
/// oracle is an owner lock the kernel drops at exit), and a dead process runs
/// no operation; a handle is made stale only by a take-over, so a live
/// handle is never stale there. An embedded user that judges liveness by
/// other means must give the same guarantee (judge dead only what can no
/// longer run).
///
/// # Examples
///
/// ```
/// # use kipc_core::spsc::{region_size, Region, EndpointState};
/// # #[repr(C, align(128))] struct Buf([u8; 2048]);
/// # let mut buf = Buf([0; 2048]);
/// # let region = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
/// let tx = region.producer(1234).unwrap();
/// let ep = region.producer_endpoint();
/// assert_eq!(ep.owner().map(|id| id.get()), Some(1234));
/// assert_eq!(ep.state(), Ok(EndpointState::Attached));
/// drop(tx);
/// assert_eq!(ep.state(), Ok(EndpointState::Closed));
/// ```
#[derive(Debug)]
#[repr(C)]
pub struct Endpoint {
    /// Opaque owner id (the host stores a pid); 0 = none.
    owner: AtomicU32,
    /// `generation << 2 | state`; see the type's documentation.
    state: AtomicU32,
}

/// What an [`Endpoint`]'s state word says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointState {
    /// Attached, alive as far as anyone knows (also the state of a fresh
    /// region).
    Attached,
    /// Released cleanly by its owner.
    Closed,
    /// Marked dead by the host.
    Dead,
}

/// Bits of the state word that hold the state; the rest is the generation.
const STATE_MASK: u32 = 0b11;

/// The state word of the claim after the one `word` records.
#[inline]
const fn next_claim(word: u32) -> u32 {
    (word & !STATE_MASK).wrapping_add(STATE_MASK + 1) | STATE_ATTACHED
}

impl Endpoint {
    fn new() -> Self {
        Self {
            owner: AtomicU32::new(0),
            state: AtomicU32::new(STATE_ATTACHED),
        }
    }

    /// Takes the free side for `id`; returns the claim's state word.
    fn claim(&self, id: u32) -> Result<u32, Error> {
        self.owner
            .compare_exchange(0, id, Ordering::AcqRel, Ordering::Relaxed)
            .map_err(|_| Error::InUse)?;
        Ok(self.bump())
    }

    /// Takes the side over from `dead` (judged dead by the caller after it
    /// read `seen` from the state word); returns the new claim's word.
    fn reclaim(&self, dead: u32, new: u32, seen: u32) -> Result<u32, Error> {
        // Mark the old claim dead first (a CAS from the word read before the
        // verdict), so a peer that looks now sees the death, not a vacancy.
        let _ = self.mark_dead_from(seen);
        self.owner
            .compare_exchange(dead, new, Ordering::AcqRel, Ordering::Relaxed)
            .map_err(|_| Error::InUse)?;
        Ok(self.bump())
    }

    /// Starts a new generation in state "attached"; only the winner of the
    /// `owner` CAS calls it, so the value it produces is that claim's.
    fn bump(&self) -> u32 {
        let mut word = self.state.load(Ordering::Relaxed);
        loop {
            let next = next_claim(word);
            // SYNC: mark dead. Release: a peer that sees the new generation
            // also sees the new owner.
            match self
                .state
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(now) => word = now,
            }
        }
    }

    /// Gives up the claim whose word is `token`: state closed, owner none.
    /// Does nothing if the side was reclaimed or claimed again since.
    fn release(&self, id: u32, token: u32) {
        let closed = (token & !STATE_MASK) | STATE_CLOSED;
        let ours = self
            .state
            .compare_exchange(token, closed, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
            // Marked dead while we still held it (a wrong verdict, or a race
            // with our exit): still ours to free.
            || self.state.load(Ordering::Acquire) == (token & !STATE_MASK) | STATE_DEAD;
        if ours {
            let _ = self
                .owner
                .compare_exchange(id, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Whether the claim whose word is `token` still holds the side.
    #[inline(always)]
    fn holds(&self, token: u32) -> bool {
        self.state.load(Ordering::Relaxed) == token
    }

    /// The current owner id, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// # let region = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// assert_eq!(region.consumer_endpoint().owner(), None);
    /// ```
    pub fn owner(&self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.owner.load(Ordering::Acquire))
    }

    /// The side's state.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if the word holds no valid state.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::{Region, EndpointState};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// # let region = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// region.mark_consumer_dead();
    /// assert_eq!(region.consumer_endpoint().state(), Ok(EndpointState::Dead));
    /// ```
    pub fn state(&self) -> Result<EndpointState, Error> {
        // SYNC: mark dead. Acquire: pairs with the Release CAS in
        // `mark_dead_from`; see `RegionConsumer::refill` for why it matters.
        decode_state(self.state.load(Ordering::Acquire))
    }

    /// The raw state word (generation and state), for a later
    /// [`mark_dead_from`](Self::mark_dead_from).
    fn word(&self) -> u32 {
        // SYNC: mark dead.
        self.state.load(Ordering::Acquire)
    }

    /// Marks the claim recorded in `seen` dead, if it is still the current
    /// one and attached. Returns whether this call marked it.
    fn mark_dead_from(&self, seen: u32) -> bool {
        if seen & STATE_MASK != STATE_ATTACHED {
            return false;
        }
        let dead = (seen & !STATE_MASK) | STATE_DEAD;
        // `--cfg kipc_loom_weaken="claim"`: a blind store, as kipc once did,
        // which must make the loom model of a stale verdict fail.
        #[cfg(kipc_loom_weaken = "claim")]
        {
            self.state.store(dead, Ordering::Release);
            true
        }
        // SYNC: mark dead. Release: pairs with the Acquire in `state`.
        #[cfg(not(kipc_loom_weaken = "claim"))]
        self.state
            .compare_exchange(seen, dead, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }
}

fn decode_state(word: u32) -> Result<EndpointState, Error> {
    match word & STATE_MASK {
        STATE_ATTACHED => Ok(EndpointState::Attached),
        STATE_CLOSED => Ok(EndpointState::Closed),
        STATE_DEAD => Ok(EndpointState::Dead),
        _ => Err(Error::Corrupt {
            what: "endpoint state word holds no valid state",
        }),
    }
}

/// The geometry of a region, checked, in private memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    /// Capacity, a power of two in `1..=MAX_SLOTS`.
    slots: u32,
    /// Largest payload, `1..=MAX_SLOT_SIZE`.
    slot_size: u32,
    /// `slot_stride(slot_size)`.
    stride: u32,
    /// `HEADER_SIZE + slots * stride`, which fits `usize`.
    total: usize,
}

impl Geometry {
    /// Checks the arguments and computes the layout; `Err` names the problem.
    fn new(slots: u32, slot_size: u32) -> Result<Self, &'static str> {
        // A `u32` power of two is at most 2^31 = MAX_SLOTS.
        if !slots.is_power_of_two() {
            return Err("slot count must be a nonzero power of two");
        }
        if slot_size == 0 || slot_size > MAX_SLOT_SIZE {
            return Err("slot size must be in 1..=MAX_SLOT_SIZE");
        }
        // `slot_size <= 2^30`, so this fits even a 32-bit `usize`.
        let stride = round_up(PAYLOAD + slot_size as usize, SLOT_ALIGN)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or("slot stride exceeds u32")?;
        let total = u64::from(slots)
            .checked_mul(u64::from(stride))
            .and_then(|n| n.checked_add(HEADER_SIZE as u64))
            .ok_or("region size overflows u64")?;
        let total = usize::try_from(total).map_err(|_| "region larger than the address space")?;
        Ok(Self {
            slots,
            slot_size,
            stride,
            total,
        })
    }

    #[inline(always)]
    fn mask(&self) -> u32 {
        self.slots - 1
    }
}

/// Bytes of memory a region of `slots` slots of `slot_size` bytes needs.
///
/// # Errors
///
/// [`Error::InvalidGeometry`] if `slots` is not a power of two in
/// `1..=MAX_SLOTS`, `slot_size` is not in `1..=MAX_SLOT_SIZE`, or the total
/// does not fit the address space.
///
/// # Examples
///
/// ```
/// use kipc_core::spsc::region_size;
/// assert_eq!(region_size(4, 56), Ok(640 + 4 * 64));
/// assert_eq!(region_size(4, 64), Ok(640 + 4 * 128));
/// assert!(region_size(3, 60).is_err());
/// ```
pub fn region_size(slots: u32, slot_size: u32) -> Result<usize, Error> {
    Geometry::new(slots, slot_size)
        .map(|g| g.total)
        .map_err(|what| Error::InvalidGeometry { what })
}

/// A handle on an SPSC ring in (possibly shared) memory.
///
/// Holds only a pointer and the geometry copied out when it was created, so a
/// peer rewriting the header's geometry later cannot widen any bound. Create
/// one with [`init`](Region::init) (the creator) or [`attach`](Region::attach)
/// (everyone else), then take a [`producer`](Region::producer) or a
/// [`consumer`](Region::consumer). See the [`spsc` module
/// documentation](crate::spsc) for the layout and the protocol.
///
/// # Examples
///
/// ```
/// use kipc_core::spsc::{region_size, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 4096]);
/// let mut buf = Buf([0; 4096]);
/// let len = region_size(8, 32).unwrap();
/// // SAFETY: `buf` outlives both regions and is only used through them.
/// let creator = unsafe { Region::init(buf.0.as_mut_ptr(), len, 8, 32) }.unwrap();
/// let peer = unsafe { Region::attach(buf.0.as_mut_ptr(), len) }.unwrap();
///
/// creator.producer(1).unwrap().try_send(b"hello").unwrap();
/// let _wake_needed = creator.not_empty().ring();
/// let mut out = [0u8; 32];
/// let n = peer.consumer(2).unwrap().try_recv(&mut out).unwrap();
/// assert_eq!(&out[..n], b"hello");
/// ```
#[derive(Debug, Clone)]
pub struct Region {
    header: NonNull<Header>,
    geo: Geometry,
    /// The message type recorded in the prologue, copied at init/attach.
    tag: TypeTag,
}

// SAFETY: the region is only ever accessed through atomics and raw byte
// copies, which any thread may do; the memory's validity for the Region's
// lifetime is the `init`/`attach` caller's promise, independent of threads.
unsafe impl Send for Region {}
// SAFETY: as for `Send`; the handles' exclusivity is enforced by the claim
// on each side's `Endpoint` (a CAS in shared memory), not by `&mut`.
unsafe impl Sync for Region {}

impl Region {
    /// Writes a fresh, empty ring of `slots` slots of `slot_size` bytes at
    /// `base` and publishes it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidGeometry`] (see [`region_size`]),
    /// [`Error::Misaligned`] if `base` is not aligned to
    /// [`REGION_ALIGN`](crate::region::REGION_ALIGN), [`Error::RegionTooSmall`]
    /// if `len < region_size(slots, slot_size)`.
    ///
    /// # Safety
    ///
    /// `base` must be valid for reads and writes of `len` bytes for as long as
    /// the returned `Region` and every handle taken from it live, and nothing
    /// else in this process may access those bytes during this call. Other
    /// processes may attach only after it returns (they see
    /// [`Error::Uninitialized`] before).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::{Error, spsc::Region};
    /// #[repr(C, align(128))]
    /// struct Buf([u8; 1024]);
    /// let mut buf = Buf([0; 1024]);
    /// // SAFETY: `buf` outlives the region and is only used through it.
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 1024, 2, 100) }.unwrap();
    /// assert_eq!((r.capacity(), r.slot_size()), (2, 100));
    /// let too_big = unsafe { Region::init(buf.0.as_mut_ptr(), 1024, 64, 100) };
    /// assert!(matches!(too_big, Err(Error::RegionTooSmall { .. })));
    /// ```
    pub unsafe fn init(
        base: *mut u8,
        len: usize,
        slots: u32,
        slot_size: u32,
    ) -> Result<Self, Error> {
        // SAFETY: forwarded from our caller.
        unsafe { Self::init_typed(base, len, slots, slot_size, TypeTag::UNTYPED) }
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
    /// use kipc_core::{region::TypeTag, spsc::Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 1024]);
    /// # let mut buf = Buf([0; 1024]);
    /// let tag = TypeTag::new(8, 8, 7);
    /// // SAFETY: `buf` outlives the region and is only used through it.
    /// unsafe { Region::init_typed(buf.0.as_mut_ptr(), 1024, 2, 8, tag) }.unwrap();
    /// let r = unsafe { Region::attach(buf.0.as_mut_ptr(), 1024) }.unwrap();
    /// assert_eq!(r.type_tag(), tag);
    /// ```
    pub unsafe fn init_typed(
        base: *mut u8,
        len: usize,
        slots: u32,
        slot_size: u32,
        tag: TypeTag,
    ) -> Result<Self, Error> {
        // SAFETY: forwarded from our caller.
        unsafe { Self::init_with(base, len, slots, slot_size, tag, RegionFlags::empty()) }
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
        slots: u32,
        slot_size: u32,
        tag: TypeTag,
        flags: RegionFlags,
    ) -> Result<Self, Error> {
        let geo =
            Geometry::new(slots, slot_size).map_err(|what| Error::InvalidGeometry { what })?;
        tag.check(geo.slot_size)?;
        // SAFETY: the caller's promise: `len` bytes at `base`, ours alone.
        unsafe { init_memory(base, len, geo.total)? };
        let total = geo.total as u64;
        let header = Header {
            prologue: Prologue::unpublished(Kind::Spsc, tag, flags),
            slot_count: AtomicU32::new(geo.slots),
            slot_size: AtomicU32::new(geo.slot_size),
            slot_stride: AtomicU32::new(geo.stride),
            slots_offset: AtomicU32::new(HEADER_SIZE as u32),
            total_len_lo: AtomicU32::new(total as u32),
            total_len_hi: AtomicU32::new((total >> 32) as u32),
            producer: Endpoint::new(),
            consumer: Endpoint::new(),
            tail: CachePadded::new(AtomicU32::new(0)),
            head: CachePadded::new(AtomicU32::new(0)),
            not_empty: CachePadded::new(Doorbell::new()),
            not_full: CachePadded::new(Doorbell::new()),
        };
        // SAFETY: `check_memory` proved `base` is 128-aligned (Header's
        // alignment) and `len >= geo.total >= HEADER_SIZE`; the caller gives
        // us exclusive access. `ptr::write` constructs the atomics in place
        // (which loom needs) without reading the old bytes.
        unsafe { ptr::write(base.cast::<Header>(), header) };
        let region = Region {
            // SAFETY: `init_memory` rejected a null `base`.
            header: unsafe { NonNull::new_unchecked(base.cast::<Header>()) },
            geo,
            tag,
        };
        for index in 0..geo.slots {
            let stamp = region.slot(index).cast::<AtomicU32>();
            // SAFETY: `slot` stays inside the checked `geo.total` bytes and is
            // aligned for the stamp and length words (HEADER_SIZE and the
            // stride are multiples of SLOT_ALIGN, PAYLOAD >= 2 words).
            unsafe {
                ptr::write(stamp, AtomicU32::new(0));
                ptr::write(stamp.add(1), AtomicU32::new(0));
            }
        }
        region.header().prologue.publish();
        Ok(region)
    }

    /// Attaches to a ring another party initialised at `base`, checking every
    /// header field.
    ///
    /// # Errors
    ///
    /// [`Error::Misaligned`], [`Error::RegionTooSmall`] (for the header or for
    /// the recorded geometry), [`Error::Uninitialized`] (magic still 0: retry
    /// later), [`Error::BadLayout`] (wrong magic, version or kind, geometry out
    /// of range or self-contradictory), [`Error::Corrupt`] (`tail` more than
    /// `slot_count` ahead of `head`).
    ///
    /// # Safety
    ///
    /// `base` must be valid for reads and writes of `len` bytes for as long as
    /// the returned `Region` and every handle taken from it live. The bytes
    /// may hold anything (another process may write them at any time), but
    /// this process must access them only through kipc.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::{Error, spsc::Region};
    /// #[repr(C, align(128))]
    /// struct Buf([u8; 1024]);
    /// let mut buf = Buf([0; 1024]);
    /// // SAFETY: `buf` outlives the region and is only used through it.
    /// let zeroed = unsafe { Region::attach(buf.0.as_mut_ptr(), 1024) };
    /// assert_eq!(zeroed.unwrap_err(), Error::Uninitialized);
    /// unsafe { Region::init(buf.0.as_mut_ptr(), 1024, 2, 8) }.unwrap();
    /// let r = unsafe { Region::attach(buf.0.as_mut_ptr(), 1024) }.unwrap();
    /// assert_eq!(r.capacity(), 2);
    /// ```
    pub unsafe fn attach(base: *mut u8, len: usize) -> Result<Self, Error> {
        // SAFETY: the caller promises `len` readable bytes for as long as the
        // region lives; Header is atomics only and starts with the prologue.
        let header: &Header = unsafe { attach_header(base, len, Kind::Spsc)? };
        let bad = |what| Error::BadLayout { what };
        let geo = Geometry::new(
            header.slot_count.load(Ordering::Relaxed),
            header.slot_size.load(Ordering::Relaxed),
        )
        .map_err(bad)?;
        if header.slot_stride.load(Ordering::Relaxed) != geo.stride {
            return Err(bad("slot stride does not match slot size"));
        }
        if header.slots_offset.load(Ordering::Relaxed) as usize != HEADER_SIZE {
            return Err(bad("slots offset does not match the layout version"));
        }
        let recorded = u64::from(header.total_len_lo.load(Ordering::Relaxed))
            | u64::from(header.total_len_hi.load(Ordering::Relaxed)) << 32;
        check_recorded_total(recorded, geo.total, base, len)?;
        let head = header.head.load(Ordering::Acquire);
        let tail = header.tail.load(Ordering::Acquire);
        check_queued(head, tail, geo.slots)?;
        let tag = header.prologue.type_tag(geo.slot_size)?;
        Ok(Region {
            // SAFETY: `attach_header` rejected a null `base`.
            header: unsafe { NonNull::new_unchecked(base.cast::<Header>()) },
            geo,
            tag,
        })
    }

    /// The message type the creator recorded ([`TypeTag::UNTYPED`] for a
    /// ring of bytes), as read at init or attach.
    pub fn type_tag(&self) -> TypeTag {
        self.tag
    }

    #[inline(always)]
    fn header(&self) -> &Header {
        // SAFETY: `init`/`attach` checked alignment and size, and their caller
        // promised the memory stays valid while `self` lives.
        unsafe { self.header.as_ref() }
    }

    /// Start of the slot holding position `pos`.
    #[inline(always)]
    fn slot(&self, pos: u32) -> *mut u8 {
        let index = (pos & self.geo.mask()) as usize;
        // `index < slots`, so this is below `geo.total - HEADER_SIZE`, which
        // fits `usize`: no overflow.
        let offset = HEADER_SIZE + index * self.geo.stride as usize;
        debug_assert!(offset + self.geo.stride as usize <= self.geo.total);
        // SAFETY: `offset + stride <= geo.total <= len`, so the result stays
        // inside the memory `init`/`attach` checked.
        unsafe { self.header.as_ptr().cast::<u8>().add(offset) }
    }

    /// The stamp word at the start of a slot returned by [`Self::slot`].
    #[inline(always)]
    fn stamp_word(&self, slot: *mut u8) -> &AtomicU32 {
        // SAFETY: `slot` is in bounds and SLOT_ALIGN-aligned (see `slot`); an
        // AtomicU32 accepts every bit pattern and lives as long as `self`.
        unsafe { &*slot.cast::<AtomicU32>() }
    }

    /// The length word after the stamp of a slot returned by [`Self::slot`].
    #[inline(always)]
    fn len_word(&self, slot: *mut u8) -> &AtomicU32 {
        // SAFETY: `slot + LEN_WORD` is in bounds (the stride holds PAYLOAD
        // bytes and more) and aligned for an AtomicU32 (SLOT_ALIGN is a
        // multiple of its alignment, LEN_WORD its size); every bit pattern
        // is valid and it lives as long as `self`.
        unsafe { &*slot.add(LEN_WORD).cast::<AtomicU32>() }
    }

    /// Number of slots (the capacity in messages).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// assert_eq!(r.capacity(), 4);
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.geo.slots as usize
    }

    /// Largest message in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// assert_eq!(r.slot_size(), 64);
    /// ```
    #[inline]
    pub fn slot_size(&self) -> usize {
        self.geo.slot_size as usize
    }

    /// Bytes the layout occupies ([`region_size`] of its geometry).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::{region_size, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// assert_eq!(r.byte_len(), region_size(4, 64).unwrap());
    /// ```
    #[inline]
    pub fn byte_len(&self) -> usize {
        self.geo.total
    }

    /// The doorbell consumers sleep on; the producer side rings it after
    /// each successful send.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// assert!(!r.not_empty().ring().any()); // nobody sleeps: no wake-up needed
    /// ```
    #[inline]
    pub fn not_empty(&self) -> &Doorbell {
        &self.header().not_empty
    }

    /// The doorbell producers sleep on; the consumer side rings it after
    /// each successful receive.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// assert!(!r.not_full().ring().any());
    /// ```
    #[inline]
    pub fn not_full(&self) -> &Doorbell {
        &self.header().not_full
    }

    /// The producer side's owner and state record.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// assert_eq!(r.producer_endpoint().owner(), None);
    /// ```
    #[inline]
    pub fn producer_endpoint(&self) -> &Endpoint {
        &self.header().producer
    }

    /// The consumer side's owner and state record.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// assert_eq!(r.consumer_endpoint().owner(), None);
    /// ```
    #[inline]
    pub fn consumer_endpoint(&self) -> &Endpoint {
        &self.header().consumer
    }

    /// Marks the producer's current claim dead (its process exited) and
    /// changes both doorbell words. The caller must then wake every sleeper
    /// on both words: consumers get [`Error::PeerDead`] once the ring is
    /// drained. A host that judged a particular owner dead uses
    /// [`Queue::reap`](crate::queue::Queue::reap) instead, which cannot mark
    /// a newer claim.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::{Error, spsc::Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// let mut tx = r.producer(1).unwrap();
    /// tx.try_send(b"last").unwrap();
    /// r.mark_producer_dead();
    /// let mut rx = r.consumer(2).unwrap();
    /// assert_eq!(rx.try_recv(&mut [0; 64]), Ok(4));
    /// assert_eq!(rx.try_recv(&mut [0; 64]), Err(Error::PeerDead));
    /// assert_eq!(tx.try_send(b"x"), Err(Error::InUse)); // a dead claim is refused
    /// ```
    pub fn mark_producer_dead(&self) {
        let ep = &self.header().producer;
        ep.mark_dead_from(ep.word());
        self.ring_all();
    }

    /// Marks the consumer's current claim dead and changes both doorbell
    /// words; the caller must then wake every sleeper on both. Sends fail
    /// with [`Error::PeerDead`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::{Error, spsc::Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// r.mark_consumer_dead();
    /// assert_eq!(r.producer(1).unwrap().try_send(b"x"), Err(Error::PeerDead));
    /// ```
    pub fn mark_consumer_dead(&self) {
        let ep = &self.header().consumer;
        ep.mark_dead_from(ep.word());
        self.ring_all();
    }

    fn ring_all(&self) {
        self.not_empty().ring_all();
        self.not_full().ring_all();
    }

    fn endpoint(&self, role: Role) -> &Endpoint {
        match role {
            Role::Producer => &self.header().producer,
            Role::Consumer => &self.header().consumer,
        }
    }

    /// Claims `role`'s side for `id`, taking it over from an owner that
    /// `alive` says has exited; returns the claim's state word.
    fn claim_side(
        &self,
        role: Role,
        id: u32,
        alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<u32, Error> {
        if id == 0 {
            return Err(Error::InvalidGeometry {
                what: "owner id must not be 0",
            });
        }
        let ep = self.endpoint(role);
        // A few rounds: the owner may release or die between our reads.
        for _ in 0..4 {
            match ep.claim(id) {
                Ok(token) => return Ok(token),
                Err(Error::InUse) => {}
                Err(e) => return Err(e),
            }
            // The word before the owner: see `Endpoint`'s documentation.
            let seen = ep.word();
            match ep.owner() {
                None => continue,
                Some(owner) if owner.get() != id && !alive(owner) => {
                    match ep.reclaim(owner.get(), id, seen) {
                        Ok(token) => {
                            self.ring_all();
                            return Ok(token);
                        }
                        Err(_) => continue,
                    }
                }
                Some(_) => break,
            }
        }
        Err(Error::InUse)
    }

    /// Claims the producer side for `id` (an opaque non-zero owner id; the
    /// host uses a pid) and returns its handle. Dropping the handle releases
    /// the side.
    ///
    /// # Errors
    ///
    /// [`Error::InUse`] if the side has an owner (this call never judges an
    /// owner dead; [`Queue::claim_producer`](crate::queue::Queue::claim_producer)
    /// takes over from dead ones); [`Error::InvalidGeometry`] for id 0;
    /// [`Error::Corrupt`] if `tail` is more than `slot_count` ahead of `head`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::{Error, spsc::Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// let tx = r.producer(1).unwrap();
    /// assert_eq!(r.producer(2).unwrap_err(), Error::InUse);
    /// drop(tx);
    /// assert!(r.producer(2).is_ok());
    /// ```
    pub fn producer(&self, id: u32) -> Result<RegionProducer, Error> {
        self.claim_producer_with(id, &mut |_| true)
    }

    fn claim_producer_with(
        &self,
        id: u32,
        alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<RegionProducer, Error> {
        let token = self.claim_side(Role::Producer, id, alive)?;
        // From here on, dropping `tx` releases the claim.
        let mut tx = RegionProducer {
            region: self.clone(),
            id,
            token,
            tail: 0,
            head_cache: 0,
        };
        let header = self.header();
        let mut tail = header.tail.load(Ordering::Acquire);
        // A predecessor that died between its stamp and its `tail` store
        // published position `tail` already (the consumer may have taken
        // it): finish that publication rather than overwrite the message.
        // An earlier lap's stamp is never `tail + 1` (module docs).
        // SYNC: publish slot.
        if self.stamp_word(self.slot(tail)).load(Ordering::Acquire) == tail.wrapping_add(1) {
            tail = tail.wrapping_add(1);
            // SYNC: publish slot.
            header.tail.store(tail, Ordering::Release);
        }
        // SYNC: consume slot.
        let head = header.head.load(Ordering::Acquire);
        check_used(head, tail, self.geo.slots)?;
        tx.tail = tail;
        tx.head_cache = head;
        Ok(tx)
    }

    /// Claims the consumer side for `id` and returns its handle, as
    /// [`producer`](Self::producer) does for the other side.
    ///
    /// # Errors
    ///
    /// As [`producer`](Self::producer).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::{Error, spsc::Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// let rx = r.consumer(1).unwrap();
    /// assert_eq!(r.consumer(2).unwrap_err(), Error::InUse);
    /// assert_eq!(rx.len(), Ok(0));
    /// ```
    pub fn consumer(&self, id: u32) -> Result<RegionConsumer, Error> {
        self.claim_consumer_with(id, &mut |_| true)
    }

    fn claim_consumer_with(
        &self,
        id: u32,
        alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<RegionConsumer, Error> {
        let token = self.claim_side(Role::Consumer, id, alive)?;
        let mut rx = RegionConsumer {
            region: self.clone(),
            id,
            token,
            head: 0,
            tail_cache: 0,
        };
        let header = self.header();
        let head = header.head.load(Ordering::Acquire);
        // SYNC: publish slot.
        let tail = header.tail.load(Ordering::Acquire);
        let queued = check_queued(head, tail, self.geo.slots)?;
        rx.head = head;
        rx.tail_cache = head.wrapping_add(queued);
        Ok(rx)
    }

    /// Marks `peer`'s side dead if its owner (not `me`) has exited according
    /// to `alive`; returns whether it marked it (then the doorbells changed).
    fn reap_side(&self, peer: Role, me: u32, alive: &mut dyn FnMut(NonZeroU32) -> bool) -> bool {
        let ep = self.endpoint(peer);
        // Word first, owner second: a reclaim in between changes the word,
        // so the CAS below fails instead of marking the new owner.
        let seen = ep.word();
        if seen & STATE_MASK != STATE_ATTACHED {
            return false;
        }
        match ep.owner() {
            Some(owner) if owner.get() != me && !alive(owner) => {
                let marked = ep.mark_dead_from(seen);
                if marked {
                    self.ring_all();
                }
                marked
            }
            _ => false,
        }
    }
}
/// What a receive reports for a message whose length word exceeds the slot.
const BAD_LENGTH: Error = Error::Corrupt {
    what: "message length exceeds the slot size",
};

/// Checks that `tail` is at most `slots` ahead of `head`; returns the count.
#[inline(always)]
fn check_used(head: u32, tail: u32, slots: u32) -> Result<u32, Error> {
    let used = distance(head, tail);
    if used > slots {
        return Err(Error::Corrupt {
            what: "tail is not within slot_count positions after head",
        });
    }
    Ok(used)
}

/// As [`check_used`] for a reader of the shared `tail` other than the
/// producer: `tail == head - 1` counts as 0 queued (the consumer took a
/// message by its stamp before the producer stored the matching `tail`).
#[inline(always)]
fn check_queued(head: u32, tail: u32, slots: u32) -> Result<u32, Error> {
    if tail == head.wrapping_sub(1) {
        return Ok(0);
    }
    check_used(head, tail, slots)
}

/// The sending end of a [`Region`]. Keeps its `tail` and a cached `head` in
/// private memory.
///
/// After a successful send, the host calls
/// [`region.not_empty().ring()`](Region::not_empty) and wakes the waiters the
/// returned [`Wake`](crate::doorbell::Wake) names.
///
/// # Examples
///
/// ```
/// # use kipc_core::{Error, spsc::Region};
/// # #[repr(C, align(128))] struct Buf([u8; 2048]);
/// # let mut buf = Buf([0; 2048]);
/// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 2, 64) }.unwrap();
/// let mut tx = r.producer(1).unwrap();
/// tx.try_send(b"a").unwrap();
/// tx.try_send(b"b").unwrap();
/// assert_eq!(tx.try_send(b"c"), Err(Error::Full));
/// ```
#[derive(Debug)]
pub struct RegionProducer {
    region: Region,
    /// The owner id this handle claimed the side with.
    id: u32,
    /// The producer endpoint's state word our claim produced.
    token: u32,
    /// Private copy of the shared `tail`; only this handle advances it.
    tail: u32,
    /// Last `head` read and checked: `tail - head_cache` in `0..=slot_count`.
    head_cache: u32,
}

impl Drop for RegionProducer {
    fn drop(&mut self) {
        self.region.header().producer.release(self.id, self.token);
        self.region.ring_all();
    }
}

impl RegionProducer {
    /// Checks that a message of `len` bytes can go in now; returns its slot.
    #[inline]
    fn reserve(&mut self, len: usize) -> Result<*mut u8, Error> {
        let region = &self.region;
        let geo = region.geo;
        if len > geo.slot_size as usize {
            return Err(Error::TooLarge {
                len,
                max: geo.slot_size as usize,
            });
        }
        let header = region.header();
        if !header.producer.holds(self.token) {
            return Err(Error::InUse);
        }
        let consumer_state = header.consumer.state.load(Ordering::Relaxed);
        if decode_state(consumer_state)? == EndpointState::Dead {
            return Err(Error::PeerDead);
        }
        if distance(self.head_cache, self.tail) >= geo.slots {
            // SYNC: consume slot. Acquire: the consumer's copies out of the
            // slots before `head` finished before we overwrite them.
            let head = region.header().head.load(Ordering::Acquire);
            let used = check_used(head, self.tail, geo.slots)?;
            self.head_cache = head;
            if used == geo.slots {
                return Err(Error::Full);
            }
        }
        Ok(self.region.slot(self.tail))
    }

    /// Publishes the slot reserved by [`Self::reserve`] with `len` bytes.
    #[inline]
    fn commit(&mut self, slot: *mut u8, len: usize) {
        // `len <= slot_size <= MAX_SLOT_SIZE` (checked in `reserve`).
        self.region
            .len_word(slot)
            .store(len as u32, Ordering::Relaxed);
        self.tail = self.tail.wrapping_add(1);
        // SYNC: publish slot. Release: the payload and length word (and every
        // earlier `tail` store) are visible to a consumer that loads this
        // stamp with Acquire. Stamp first: it shares the payload's line, so
        // a polling consumer finds the message in the line it is reading.
        self.region
            .stamp_word(slot)
            .store(self.tail, super::PUBLISH_ORDER);
        // SYNC: publish slot. Release: the payload and length word are
        // visible to a consumer that loads this `tail` with Acquire.
        self.region
            .header()
            .tail
            .store(self.tail, super::PUBLISH_ORDER);
    }

    /// Sends `msg` (0..=`slot_size` bytes) if a slot is free.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if `msg` exceeds the slot size; [`Error::PeerDead`]
    /// if the consumer is marked dead; [`Error::Full`]; [`Error::Corrupt`] if
    /// `head` (written by the peer) is out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::{Error, spsc::Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 8) }.unwrap();
    /// let mut tx = r.producer(1).unwrap();
    /// assert_eq!(tx.try_send(b"fits"), Ok(()));
    /// assert_eq!(tx.try_send(b"too long!"), Err(Error::TooLarge { len: 9, max: 8 }));
    /// ```
    #[inline]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), Error> {
        let slot = self.reserve(msg.len())?;
        // SAFETY: the payload area `slot + PAYLOAD .. + slot_size` is inside
        // the region and `msg.len() <= slot_size`; the slot is free (not in
        // `head..tail`), so no correct consumer reads it now.
        unsafe { copy_to_shared(msg, slot.add(PAYLOAD)) };
        self.commit(slot, msg.len());
        Ok(())
    }

    /// Sends a `len`-byte message written in place by `fill`, without an
    /// intermediate buffer. Bytes `fill` does not write hold whatever the
    /// slot held before. If `fill` panics nothing is sent.
    ///
    /// # Errors
    ///
    /// As [`try_send`](Self::try_send); `fill` is not called on error.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 16) }.unwrap();
    /// let mut tx = r.producer(1).unwrap();
    /// tx.try_send_with(6, |w| {
    ///     w.write_at(0, b"abc").unwrap();
    ///     w.write_at(3, b"def").unwrap();
    ///     assert!(w.write_at(4, b"xyz").is_err());
    /// })
    /// .unwrap();
    /// let mut out = [0; 16];
    /// let n = r.consumer(2).unwrap().try_recv(&mut out).unwrap();
    /// assert_eq!(&out[..n], b"abcdef");
    /// ```
    pub fn try_send_with(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut SlotWriter<'_>),
    ) -> Result<(), Error> {
        let slot = self.reserve(len)?;
        // SAFETY: the payload area starts PAYLOAD bytes into the reserved
        // slot, inside the region, and spans `slot_size >= len` bytes that no
        // correct consumer reads until `commit`.
        let mut writer = unsafe { SlotWriter::new(slot.add(PAYLOAD), len) };
        fill(&mut writer);
        self.commit(slot, len);
        Ok(())
    }

    /// Number of queued messages.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if `head` (written by the peer) is out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 16) }.unwrap();
    /// let mut tx = r.producer(1).unwrap();
    /// tx.try_send(b"").unwrap();
    /// assert_eq!(tx.len(), Ok(1));
    /// ```
    pub fn len(&self) -> Result<usize, Error> {
        let head = self.region.header().head.load(Ordering::Acquire);
        check_used(head, self.tail, self.region.geo.slots).map(|n| n as usize)
    }

    /// `true` if no message is queued.
    ///
    /// # Errors
    ///
    /// As [`len`](Self::len).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 16) }.unwrap();
    /// assert_eq!(r.producer(1).unwrap().is_empty(), Ok(true));
    /// ```
    pub fn is_empty(&self) -> Result<bool, Error> {
        self.len().map(|n| n == 0)
    }

    /// Number of slots.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 16) }.unwrap();
    /// assert_eq!(r.producer(1).unwrap().capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.region.capacity()
    }

    /// Largest message in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 16) }.unwrap();
    /// assert_eq!(r.producer(1).unwrap().slot_size(), 16);
    /// ```
    pub fn slot_size(&self) -> usize {
        self.region.slot_size()
    }
}

/// The receiving end of a [`Region`]. Keeps its `head` and a cached `tail`
/// in private memory.
///
/// After a successful receive, the host calls
/// [`region.not_full().ring()`](Region::not_full) and wakes the waiters the
/// returned [`Wake`](crate::doorbell::Wake) names.
///
/// # Examples
///
/// ```
/// # use kipc_core::{Error, spsc::Region};
/// # #[repr(C, align(128))] struct Buf([u8; 2048]);
/// # let mut buf = Buf([0; 2048]);
/// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
/// let mut rx = r.consumer(2).unwrap();
/// assert_eq!(rx.try_recv(&mut [0; 64]), Err(Error::Empty));
/// ```
#[derive(Debug)]
pub struct RegionConsumer {
    region: Region,
    /// The owner id this handle claimed the side with.
    id: u32,
    /// The consumer endpoint's state word our claim produced.
    token: u32,
    /// Private copy of the shared `head`; only this handle advances it.
    head: u32,
    /// Positions before this one are known published (by `tail` read and
    /// checked, or by a slot's stamp): `tail_cache - head` in
    /// `0..=slot_count`.
    tail_cache: u32,
}

impl Drop for RegionConsumer {
    fn drop(&mut self) {
        self.region.header().consumer.release(self.id, self.token);
        self.region.ring_all();
    }
}

impl RegionConsumer {
    /// Looks for the next message after the cache said empty: the stamp of
    /// slot `head` first, then `tail`.
    #[inline]
    fn refill(&mut self) -> Result<(), Error> {
        let header = self.region.header();
        // Read the producer's state *before* the stamp and `tail` (all
        // Acquire): if it says dead, what we read next is at least what the
        // host saw when it marked the death, so nothing published is skipped.
        let dead = header.producer.state()? == EndpointState::Dead;
        let slot = self.region.slot(self.head);
        // SYNC: publish slot. Acquire: the payload and length word of that
        // slot are visible; the producer's `tail` line is not touched.
        if self.region.stamp_word(slot).load(Ordering::Acquire) == self.head.wrapping_add(1) {
            self.tail_cache = self.head.wrapping_add(1);
            return Ok(());
        }
        self.refill_from_tail(dead)
    }

    /// Re-reads `tail` after the stamp said "not yet".
    #[cold]
    fn refill_from_tail(&mut self, dead: bool) -> Result<(), Error> {
        // SYNC: publish slot. Acquire: the payload and length word of every
        // slot before `tail` are visible.
        let tail = self.region.header().tail.load(Ordering::Acquire);
        let ready = check_queued(self.head, tail, self.region.geo.slots)?;
        self.tail_cache = self.head.wrapping_add(ready);
        match (ready, dead) {
            (0, true) => Err(Error::PeerDead),
            (0, false) => Err(Error::Empty),
            _ => Ok(()),
        }
    }

    /// The oldest message's slot and checked length.
    #[inline]
    fn front(&mut self) -> Result<(*mut u8, usize), Error> {
        if !self.region.header().consumer.holds(self.token) {
            return Err(Error::InUse);
        }
        if self.head == self.tail_cache {
            self.refill()?;
        }
        let slot = self.region.slot(self.head);
        // Read once into a local: the peer may change the word meanwhile.
        let len = self.region.len_word(slot).load(Ordering::Relaxed);
        if len > self.region.geo.slot_size {
            return Err(BAD_LENGTH);
        }
        Ok((slot, len as usize))
    }

    /// Moves past the oldest message (received, or consumed as corrupt).
    #[inline]
    fn advance(&mut self) {
        self.head = self.head.wrapping_add(1);
        // SYNC: consume slot. Release: our copy out of the slot comes before
        // the producer's Acquire load of `head` and its next write there.
        self.region
            .header()
            .head
            .store(self.head, Ordering::Release);
    }

    /// Receives the oldest message into `buf`; returns its length.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`]; [`Error::PeerDead`] when empty and the producer is
    /// marked dead (queued messages are delivered first);
    /// [`Error::TooLarge`] `{ len, max: buf.len() }` if `buf` is too small
    /// (the message stays queued); [`Error::Corrupt`] if `tail` (written by
    /// the peer) is out of range, or if the message's length word is: that
    /// message is then consumed, so the next receive goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::{Error, spsc::Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// r.producer(1).unwrap().try_send(b"hello").unwrap();
    /// let mut rx = r.consumer(2).unwrap();
    /// assert_eq!(rx.try_recv(&mut [0; 2]), Err(Error::TooLarge { len: 5, max: 2 }));
    /// let mut out = [0; 8];
    /// assert_eq!(rx.try_recv(&mut out), Ok(5));
    /// assert_eq!(&out[..5], b"hello");
    /// ```
    #[inline]
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let (slot, len) = match self.front() {
            Ok(front) => front,
            Err(BAD_LENGTH) => {
                // Consume the bad message, so the next receive goes on.
                self.advance();
                return Err(BAD_LENGTH);
            }
            Err(e) => return Err(e),
        };
        let Some(dst) = buf.get_mut(..len) else {
            return Err(Error::TooLarge {
                len,
                max: buf.len(),
            });
        };
        // SAFETY: `len <= slot_size`, so the source lies in the slot's payload
        // area inside the region; `dst` is private memory.
        unsafe { copy_from_shared(slot.add(PAYLOAD), dst) };
        self.advance();
        Ok(len)
    }

    /// Length of the oldest message, without receiving it.
    ///
    /// # Errors
    ///
    /// As [`try_recv`](Self::try_recv), except `TooLarge`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::{Error, spsc::Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// let mut rx = r.consumer(2).unwrap();
    /// assert_eq!(rx.peek_len(), Err(Error::Empty));
    /// r.producer(1).unwrap().try_send(b"abc").unwrap();
    /// assert_eq!(rx.peek_len(), Ok(3));
    /// ```
    pub fn peek_len(&mut self) -> Result<usize, Error> {
        self.front().map(|(_, len)| len)
    }

    /// Number of queued messages.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if `tail` (written by the peer) is out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// r.producer(1).unwrap().try_send(b"abc").unwrap();
    /// assert_eq!(r.consumer(2).unwrap().len(), Ok(1));
    /// ```
    pub fn len(&self) -> Result<usize, Error> {
        let tail = self.region.header().tail.load(Ordering::Acquire);
        check_queued(self.head, tail, self.region.geo.slots).map(|n| n as usize)
    }

    /// `true` if no message is queued.
    ///
    /// # Errors
    ///
    /// As [`len`](Self::len).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// assert_eq!(r.consumer(2).unwrap().is_empty(), Ok(true));
    /// ```
    pub fn is_empty(&self) -> Result<bool, Error> {
        self.len().map(|n| n == 0)
    }

    /// Number of slots.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// assert_eq!(r.consumer(2).unwrap().capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.region.capacity()
    }

    /// Largest message in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
    /// assert_eq!(r.consumer(2).unwrap().slot_size(), 64);
    /// ```
    pub fn slot_size(&self) -> usize {
        self.region.slot_size()
    }
}

impl Queue for Region {
    type Producer = RegionProducer;
    type Consumer = RegionConsumer;

    fn kind(&self) -> Kind {
        Kind::Spsc
    }

    fn claim_producer(
        &self,
        id: u32,
        alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<RegionProducer, Error> {
        self.claim_producer_with(id, alive)
    }

    fn claim_consumer(
        &self,
        id: u32,
        alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<RegionConsumer, Error> {
        self.claim_consumer_with(id, alive)
    }

    /// Marks the peer side dead if its owner has exited. A producer then
    /// gets [`Error::PeerDead`] from every send; a consumer gets it once the
    /// ring is drained. A side released cleanly is not dead: a new peer may
    /// still attach.
    fn reap(&self, waiter: Role, me: u32, alive: &mut dyn FnMut(NonZeroU32) -> bool) -> bool {
        self.reap_side(waiter.peer(), me, alive)
    }

    fn owners(&self, f: &mut dyn FnMut(Owner)) {
        for role in [Role::Producer, Role::Consumer] {
            let ep = self.endpoint(role);
            if let Some(id) = ep.owner() {
                f(Owner {
                    role,
                    lane: None,
                    id,
                    marked_dead: ep.state() == Ok(EndpointState::Dead),
                });
            }
        }
    }

    fn not_empty(&self) -> &Doorbell {
        Region::not_empty(self)
    }

    fn not_full(&self) -> &Doorbell {
        Region::not_full(self)
    }

    fn capacity(&self) -> usize {
        Region::capacity(self)
    }

    fn max_msg(&self) -> usize {
        self.slot_size()
    }

    fn len(&self) -> usize {
        let header = self.header();
        let head = header.head.load(Ordering::Acquire);
        let tail = header.tail.load(Ordering::Acquire);
        check_queued(head, tail, self.geo.slots).map_or(0, |n| n as usize)
    }

    fn byte_len(&self) -> usize {
        Region::byte_len(self)
    }
}

impl Producer for RegionProducer {
    #[inline]
    fn try_send(&mut self, msg: &[u8]) -> Result<(), Error> {
        RegionProducer::try_send(self, msg)
    }

    #[inline]
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
        self.slot_size()
    }
}

impl Consumer for RegionConsumer {
    #[inline]
    fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        RegionConsumer::try_recv(self, buf)
    }

    fn peek_len(&mut self) -> Result<usize, Error> {
        RegionConsumer::peek_len(self)
    }

    fn id(&self) -> u32 {
        self.id
    }

    fn max_msg(&self) -> usize {
        self.slot_size()
    }
}

#[cfg(all(test, not(kipc_loom)))]
mod tests {
    use super::*;
    use crate::queue::assume_alive;
    use core::mem::offset_of;
    use std::vec::Vec;

    /// 128-aligned heap memory for a region.
    struct Mem {
        words: Vec<CachePadded<[u8; 128]>>,
    }

    impl Mem {
        fn new(len: usize) -> Self {
            let words = (0..len.div_ceil(128))
                .map(|_| CachePadded::new([0u8; 128]))
                .collect();
            Mem { words }
        }
        fn base(&mut self) -> *mut u8 {
            self.words.as_mut_ptr().cast()
        }
        fn len(&self) -> usize {
            self.words.len() * 128
        }
        /// Writes a `u32` at a byte offset, as a hostile peer would.
        fn poke(&mut self, offset: usize, v: u32) {
            let p = self.base().wrapping_add(offset).cast::<AtomicU32>();
            // SAFETY: test memory, in bounds and aligned; atomics tolerate any
            // concurrent access.
            unsafe { &*p }.store(v, Ordering::Relaxed);
        }
    }

    fn fresh(slots: u32, slot_size: u32) -> (Mem, Region) {
        let len = region_size(slots, slot_size).unwrap();
        let mut mem = Mem::new(len);
        // SAFETY: `mem` is returned with the region and outlives it in every
        // test (declared first, dropped last).
        let r = unsafe { Region::init(mem.base(), mem.len(), slots, slot_size) }.unwrap();
        (mem, r)
    }

    fn attach(mem: &mut Mem) -> Result<Region, Error> {
        // SAFETY: test memory outlives the returned region.
        unsafe { Region::attach(mem.base(), mem.len()) }
    }

    const TAIL: usize = 128;
    const HEAD: usize = 256;

    #[test]
    fn header_layout_is_pinned() {
        assert_eq!(HEADER_SIZE, 640);
        assert_eq!(core::mem::align_of::<Header>(), 128);
        assert_eq!(offset_of!(Header, slot_count), 32);
        assert_eq!(offset_of!(Header, slot_size), 36);
        assert_eq!(offset_of!(Header, slot_stride), 40);
        assert_eq!(offset_of!(Header, slots_offset), 44);
        assert_eq!(offset_of!(Header, total_len_lo), 48);
        assert_eq!(offset_of!(Header, total_len_hi), 52);
        assert_eq!(offset_of!(Header, producer), 56);
        assert_eq!(offset_of!(Header, consumer), 64);
        assert_eq!(offset_of!(Header, tail), TAIL);
        assert_eq!(offset_of!(Header, head), HEAD);
        assert_eq!(offset_of!(Header, not_empty), 384);
        assert_eq!(offset_of!(Header, not_full), 512);
        assert_eq!(size_of::<Endpoint>(), 8);
        assert_eq!((LEN_WORD, PAYLOAD, SLOT_ALIGN), (4, 8, 64));
    }

    #[test]
    fn region_size_rejects_bad_geometry() {
        for (slots, size) in [
            (0, 8),
            (3, 8),
            (u32::MAX, 8),
            (4, 0),
            (4, MAX_SLOT_SIZE + 1),
        ] {
            assert!(
                matches!(region_size(slots, size), Err(Error::InvalidGeometry { .. })),
                "{slots} x {size}"
            );
        }
        assert_eq!(region_size(1, 1), Ok(640 + 64));
        assert_eq!(region_size(2, 56), Ok(640 + 2 * 64));
        assert_eq!(region_size(2, 57), Ok(640 + 2 * 128));
    }

    #[test]
    fn init_rejects_misaligned_and_short_memory() {
        let mut mem = Mem::new(4096);
        let base = mem.base();
        // SAFETY: in bounds of `mem`, which outlives the call.
        let r = unsafe { Region::init(base.wrapping_add(8), 4000, 2, 8) };
        assert_eq!(r.unwrap_err(), Error::Misaligned { align: 128 });
        // SAFETY: as above.
        let r = unsafe { Region::init(base, 100, 2, 8) };
        assert!(matches!(r, Err(Error::RegionTooSmall { got: 100, .. })));
        // SAFETY: null is rejected before any access.
        let r = unsafe { Region::init(ptr::null_mut(), 4096, 2, 8) };
        assert!(matches!(r, Err(Error::Misaligned { .. })));
    }

    #[test]
    fn attach_reports_zeroed_memory_as_uninitialized() {
        let mut mem = Mem::new(4096);
        assert_eq!(attach(&mut mem).unwrap_err(), Error::Uninitialized);
    }

    #[test]
    fn attach_rejects_garbage_without_panicking() {
        let mut mem = Mem::new(4096);
        let mut x: u32 = 0x1234_5678;
        for round in 0..2000 {
            for word in 0..(4096 / 4) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                mem.poke(word * 4, x);
            }
            if round % 2 == 0 {
                // Make it past the prologue checks now and then.
                mem.poke(0, crate::region::MAGIC);
                mem.poke(4, crate::region::LAYOUT_VERSION);
                mem.poke(8, Kind::Spsc.to_u32());
            }
            if let Ok(r) = attach(&mut mem) {
                // Whatever attached must behave: errors, never a panic.
                let _ = r.consumer(2).map(|mut rx| rx.try_recv(&mut [0; 64]));
                let _ = r.producer(1).map(|mut tx| tx.try_send(b"x"));
            }
        }
    }

    #[test]
    fn attach_rejects_each_inconsistent_header_field() {
        let mut mem = fresh(4, 16).0;
        assert!(attach(&mut mem).is_ok());
        let cases: [(usize, u32, &str); 11] = [
            (0, 0xdead_beef, "magic"),
            (4, 99, "version"),
            (8, Kind::Mpmc.to_u32(), "kind"),
            (16, 17, "type size above the slot size"),
            (20, 3, "type alignment"),
            (24, 1, "fingerprint of an untyped ring"),
            (32, 3, "slot count"),
            (36, 0, "slot size"),
            (40, 16, "stride"),
            (44, 641, "slots offset"),
            (48, 1, "total length"),
        ];
        for (offset, value, what) in cases {
            let mut mem = fresh(4, 16).0;
            mem.poke(offset, value);
            assert!(
                matches!(attach(&mut mem), Err(Error::BadLayout { .. })),
                "{what}"
            );
        }
    }

    #[test]
    fn typed_init_records_the_tag_for_attachers() {
        let mut mem = Mem::new(4096);
        let tag = TypeTag::new(12, 4, 0xabcd_0123_4567_89ef);
        // SAFETY: `mem` outlives the region and is only used through it.
        let r = unsafe { Region::init_typed(mem.base(), 4096, 4, 16, tag) }.unwrap();
        assert_eq!(r.type_tag(), tag);
        assert_eq!(attach(&mut mem).unwrap().type_tag(), tag);
        // A type larger than the slot, or with a bad alignment, is refused.
        for bad in [TypeTag::new(17, 1, 1), TypeTag::new(8, 6, 1)] {
            let mut mem = Mem::new(4096);
            // SAFETY: as above.
            let r = unsafe { Region::init_typed(mem.base(), 4096, 4, 16, bad) };
            assert!(matches!(r, Err(Error::InvalidGeometry { .. })), "{bad:?}");
        }
    }

    #[test]
    fn attach_rejects_truncated_memory() {
        let mut mem = fresh(8, 64).0;
        let needed = region_size(8, 64).unwrap();
        // SAFETY: a shorter view of live memory.
        let r = unsafe { Region::attach(mem.base(), needed - 1) };
        assert_eq!(
            r.unwrap_err(),
            Error::RegionTooSmall {
                needed,
                got: needed - 1
            }
        );
        // SAFETY: as above.
        let r = unsafe { Region::attach(mem.base(), 16) };
        assert!(matches!(r, Err(Error::RegionTooSmall { .. })));
    }

    #[test]
    fn attach_rejects_misaligned_memory() {
        let mut mem = fresh(2, 8).0;
        // SAFETY: in bounds of live memory; rejected before any access.
        let r = unsafe { Region::attach(mem.base().wrapping_add(4), 600) };
        assert_eq!(r.unwrap_err(), Error::Misaligned { align: 128 });
    }

    #[test]
    fn attach_rejects_tail_beyond_capacity() {
        let mut mem = fresh(4, 16).0;
        mem.poke(TAIL, 5);
        assert!(matches!(attach(&mut mem), Err(Error::Corrupt { .. })));
        mem.poke(TAIL, 4);
        assert!(attach(&mut mem).is_ok());
        mem.poke(HEAD, 6); // head two ahead of tail
        assert!(matches!(attach(&mut mem), Err(Error::Corrupt { .. })));
        mem.poke(HEAD, 5); // one ahead: a send between stamp and `tail`
        assert!(attach(&mut mem).is_ok());
    }

    #[test]
    fn geometry_rewritten_after_attach_changes_nothing() {
        let (mut mem, r) = fresh(2, 8);
        mem.poke(32, 1 << 20);
        mem.poke(36, 1 << 20);
        mem.poke(16, 8);
        assert_eq!((r.capacity(), r.slot_size()), (2, 8));
        assert_eq!(r.type_tag(), TypeTag::UNTYPED);
        let mut tx = r.producer(1).unwrap();
        assert_eq!(
            tx.try_send(&[0; 9]),
            Err(Error::TooLarge { len: 9, max: 8 })
        );
        tx.try_send(&[1; 8]).unwrap();
        tx.try_send(&[2; 8]).unwrap();
        assert_eq!(tx.try_send(&[3; 8]), Err(Error::Full));
    }

    #[test]
    fn send_and_recv_round_trip_through_wrap_around() {
        let (_mem, r) = fresh(4, 32);
        let mut tx = r.producer(1).unwrap();
        let mut rx = r.consumer(2).unwrap();
        let mut out = [0u8; 32];
        for i in 0u32..1000 {
            let msg = i.to_le_bytes();
            let n = (i % 5) as usize;
            tx.try_send(&msg[..n]).unwrap();
            assert_eq!(rx.peek_len(), Ok(n));
            assert_eq!(rx.try_recv(&mut out), Ok(n));
            assert_eq!(&out[..n], &msg[..n]);
        }
        assert_eq!(rx.try_recv(&mut out), Err(Error::Empty));
    }

    #[test]
    fn positions_wrap_past_u32_max() {
        let mut mem = fresh(4, 8).0;
        mem.poke(TAIL, u32::MAX - 1);
        mem.poke(HEAD, u32::MAX - 1);
        let r = attach(&mut mem).unwrap();
        let mut tx = r.producer(1).unwrap();
        let mut rx = r.consumer(2).unwrap();
        for i in 0u8..4 {
            tx.try_send(&[i]).unwrap();
        }
        assert_eq!(tx.try_send(&[9]), Err(Error::Full));
        let mut out = [0u8; 8];
        for i in 0u8..4 {
            assert_eq!(rx.try_recv(&mut out), Ok(1));
            assert_eq!(out[0], i);
        }
        assert_eq!(rx.try_recv(&mut out), Err(Error::Empty));
    }

    #[test]
    fn recv_into_small_buffer_leaves_message_queued() {
        let (_mem, r) = fresh(2, 16);
        r.producer(1).unwrap().try_send(b"0123456789").unwrap();
        let mut rx = r.consumer(2).unwrap();
        assert_eq!(
            rx.try_recv(&mut [0; 4]),
            Err(Error::TooLarge { len: 10, max: 4 })
        );
        assert_eq!(rx.len(), Ok(1));
        assert_eq!(rx.try_recv(&mut [0; 10]), Ok(10));
    }

    #[test]
    fn recv_reports_corrupt_length_and_consumes_the_bad_message() {
        let (mut mem, r) = fresh(2, 16);
        let mut tx = r.producer(1).unwrap();
        tx.try_send(b"ok").unwrap();
        tx.try_send(b"next").unwrap();
        mem.poke(HEADER_SIZE + LEN_WORD, u32::MAX);
        let mut rx = r.consumer(2).unwrap();
        // A peek reports it and leaves it; a receive reports it once and
        // consumes it, so the ring is not wedged.
        assert!(matches!(rx.peek_len(), Err(Error::Corrupt { .. })));
        assert!(matches!(rx.peek_len(), Err(Error::Corrupt { .. })));
        assert!(matches!(
            rx.try_recv(&mut [0; 64]),
            Err(Error::Corrupt { .. })
        ));
        let mut buf = [0; 64];
        assert_eq!(rx.try_recv(&mut buf), Ok(4));
        assert_eq!(&buf[..4], b"next");
        assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
        // 17 is one past the slot: never read past it.
        tx.try_send(b"x").unwrap();
        mem.poke(HEADER_SIZE + LEN_WORD, 17);
        assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn consumer_takes_a_stamped_message_before_tail_moves() {
        let (mut mem, r) = fresh(4, 8);
        let mut tx = r.producer(1).unwrap();
        let mut rx = r.consumer(2).unwrap();
        tx.try_send(b"one").unwrap();
        // As if the producer had stamped the slot and not yet stored `tail`.
        mem.poke(TAIL, 0);
        let mut out = [0; 8];
        assert_eq!(rx.try_recv(&mut out), Ok(3));
        assert_eq!(&out[..3], b"one");
        // `tail` one behind `head` is empty, not corrupt, for every reader.
        assert_eq!(rx.try_recv(&mut out), Err(Error::Empty));
        assert_eq!(rx.len(), Ok(0));
        assert_eq!(Queue::len(&r), 0);
        assert!(attach(&mut mem).is_ok());
        // The producer dies there: the consumer drains, then sees PeerDead.
        r.mark_producer_dead();
        assert_eq!(rx.try_recv(&mut out), Err(Error::PeerDead));
        // Its successor finishes the publication instead of overwriting it.
        drop(tx);
        let mut tx = r.producer(3).unwrap();
        assert_eq!(tx.len(), Ok(0));
        tx.try_send(b"two").unwrap();
        assert_eq!(rx.try_recv(&mut out), Ok(3));
        assert_eq!(&out[..3], b"two");
        assert_eq!(rx.try_recv(&mut out), Err(Error::Empty));
    }

    #[test]
    fn a_stamp_from_an_earlier_lap_is_not_a_message() {
        let (mut mem, r) = fresh(2, 8);
        let mut tx = r.producer(1).unwrap();
        let mut rx = r.consumer(2).unwrap();
        let mut out = [0; 8];
        for lap in 0u8..5 {
            tx.try_send(&[lap]).unwrap();
            tx.try_send(&[lap, lap]).unwrap();
            assert_eq!(rx.try_recv(&mut out), Ok(1));
            assert_eq!(rx.try_recv(&mut out), Ok(2));
            assert_eq!(rx.try_recv(&mut out), Err(Error::Empty));
        }
        // Slot 0 holds the stamp of position 8 (9); `head` is 10.
        mem.poke(HEADER_SIZE, 9);
        assert_eq!(rx.try_recv(&mut out), Err(Error::Empty));
    }

    #[test]
    fn a_forged_stamp_reads_early_but_stays_length_checked() {
        let (mut mem, r) = fresh(2, 8);
        let mut rx = r.consumer(2).unwrap();
        mem.poke(HEADER_SIZE, 1); // "position 0 is published"
        mem.poke(HEADER_SIZE + LEN_WORD, 1000);
        assert!(matches!(
            rx.try_recv(&mut [0; 64]),
            Err(Error::Corrupt { .. })
        ));
        // The bad message was consumed; `tail` (0) is now one behind: empty.
        assert_eq!(rx.try_recv(&mut [0; 64]), Err(Error::Empty));
        mem.poke(HEADER_SIZE + 64, 2);
        mem.poke(HEADER_SIZE + 64 + LEN_WORD, 8);
        assert_eq!(rx.try_recv(&mut [0; 64]), Ok(8));
        // Now `tail` is two behind `head`: a peer lied, and we say so.
        assert!(matches!(
            rx.try_recv(&mut [0; 64]),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn peer_scribbling_tail_is_reported_as_corrupt() {
        let (mut mem, r) = fresh(4, 8);
        let mut rx = r.consumer(2).unwrap();
        // (`u32::MAX`, one behind `head`, reads as empty: see `check_queued`.)
        for bad in [5, 1000, u32::MAX - 1] {
            mem.poke(TAIL, bad);
            assert!(
                matches!(rx.try_recv(&mut [0; 8]), Err(Error::Corrupt { .. })),
                "tail {bad}"
            );
            assert!(matches!(rx.len(), Err(Error::Corrupt { .. })));
        }
        mem.poke(TAIL, 0);
        assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
    }

    #[test]
    fn peer_scribbling_head_is_reported_as_corrupt() {
        let (mut mem, r) = fresh(2, 8);
        let mut tx = r.producer(1).unwrap();
        tx.try_send(b"a").unwrap();
        tx.try_send(b"b").unwrap();
        for bad in [3, 0x8000_0000, u32::MAX - 5] {
            mem.poke(HEAD, bad);
            assert!(
                matches!(tx.try_send(b"c"), Err(Error::Corrupt { .. })),
                "head {bad}"
            );
        }
        mem.poke(HEAD, 1);
        assert_eq!(tx.try_send(b"c"), Ok(()));
    }

    #[test]
    fn scribbling_our_own_index_does_not_mislead_us() {
        let (mut mem, r) = fresh(4, 8);
        let mut tx = r.producer(1).unwrap();
        let mut rx = r.consumer(2).unwrap();
        tx.try_send(b"1").unwrap();
        // The consumer rewrites the producer's tail: the producer keeps its
        // own copy and the next publish repairs it.
        mem.poke(TAIL, 3);
        tx.try_send(b"2").unwrap();
        let mut out = [0; 8];
        assert_eq!(rx.try_recv(&mut out), Ok(1));
        assert_eq!(rx.try_recv(&mut out), Ok(1));
        assert_eq!(out[0], b'2');
        assert_eq!(rx.try_recv(&mut out), Err(Error::Empty));
    }

    #[test]
    fn bad_endpoint_state_is_corrupt() {
        let (mut mem, r) = fresh(2, 8);
        mem.poke(68, 7); // the consumer's state word
        assert!(matches!(
            r.producer(1).unwrap().try_send(b"x"),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            r.consumer_endpoint().state(),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn dead_producer_messages_are_delivered_before_peer_dead() {
        let (_mem, r) = fresh(4, 8);
        let mut tx = r.producer(1).unwrap();
        tx.try_send(b"a").unwrap();
        tx.try_send(b"b").unwrap();
        let before = r.not_empty().word().load(Ordering::Relaxed);
        r.mark_producer_dead();
        assert_ne!(r.not_empty().word().load(Ordering::Relaxed), before);
        let mut rx = r.consumer(2).unwrap();
        assert_eq!(rx.try_recv(&mut [0; 8]), Ok(1));
        assert_eq!(rx.try_recv(&mut [0; 8]), Ok(1));
        assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::PeerDead));
        assert_eq!(rx.peek_len(), Err(Error::PeerDead));
    }

    #[test]
    fn send_to_dead_consumer_fails_and_reclaim_revives_the_side() {
        let (_mem, r) = fresh(4, 8);
        let old_rx = r.consumer(100).unwrap();
        let mut tx = r.producer(1).unwrap();
        // The host judged 100 dead: the mark lands on 100's claim.
        assert!(r.reap(Role::Producer, 1, &mut |id| id.get() != 100));
        assert_eq!(tx.try_send(b"x"), Err(Error::PeerDead));
        // A live owner is never taken over; a dead one is.
        assert_eq!(
            r.claim_consumer(200, &mut assume_alive).unwrap_err(),
            Error::InUse
        );
        let mut rx = r.claim_consumer(200, &mut |id| id.get() != 100).unwrap();
        assert_eq!(tx.try_send(b"x"), Ok(()));
        assert_eq!(rx.try_recv(&mut [0; 8]), Ok(1));
        // The old handle is stale: refused, and dropping it frees nothing.
        let mut old_rx = old_rx;
        assert_eq!(old_rx.try_recv(&mut [0; 8]), Err(Error::InUse));
        drop(old_rx);
        assert_eq!(r.consumer_endpoint().owner().map(|o| o.get()), Some(200));
        drop(rx);
        assert_eq!(r.consumer_endpoint().state(), Ok(EndpointState::Closed));
        assert_eq!(r.consumer_endpoint().owner(), None);
        let _again = r.consumer(100).unwrap();
        assert_eq!(r.consumer_endpoint().state(), Ok(EndpointState::Attached));
    }

    #[test]
    fn a_death_verdict_on_an_old_owner_never_marks_a_newer_claim() {
        let (_mem, r) = fresh(4, 8);
        let ep = r.consumer_endpoint();
        let first = r.consumer(100).unwrap();
        // A reaper reads the word, then (slowly) judges 100 dead...
        let seen = ep.word();
        // ...meanwhile 100 leaves cleanly and 300 claims the side.
        drop(first);
        let _live = r.consumer(300).unwrap();
        assert!(!ep.mark_dead_from(seen));
        assert_eq!(ep.state(), Ok(EndpointState::Attached));
        assert!(!r.reap(Role::Producer, 1, &mut |id| id.get() != 100));
        assert_eq!(ep.state(), Ok(EndpointState::Attached));
    }

    #[test]
    fn handles_are_exclusive_per_region() {
        let (_mem, r) = fresh(2, 8);
        let tx = r.producer(1).unwrap();
        let rx = r.consumer(2).unwrap();
        let clone = r.clone();
        assert_eq!(r.producer(1).unwrap_err(), Error::InUse);
        assert_eq!(clone.producer(3).unwrap_err(), Error::InUse);
        assert_eq!(r.consumer(2).unwrap_err(), Error::InUse);
        drop((tx, rx));
        assert!(r.producer(1).is_ok());
        assert!(r.consumer(2).is_ok());
    }

    #[test]
    fn send_with_writes_in_place_and_checks_bounds() {
        let (_mem, r) = fresh(2, 8);
        let mut tx = r.producer(1).unwrap();
        assert_eq!(
            tx.try_send_with(9, |_| unreachable!()),
            Err(Error::TooLarge { len: 9, max: 8 })
        );
        tx.try_send_with(8, |w| {
            assert!(w.write_at(usize::MAX, b"x").is_err());
            assert!(w.write_at(8, b"x").is_err());
            assert_eq!(w.write_at(8, b""), Ok(()));
            w.write_at(0, b"abcdefgh").unwrap();
        })
        .unwrap();
        let mut out = [0; 8];
        assert_eq!(r.consumer(2).unwrap().try_recv(&mut out), Ok(8));
        assert_eq!(&out, b"abcdefgh");
    }

    #[test]
    fn thread_pair_moves_sequenced_messages_through_the_region() {
        const COUNT: u64 = 200_000;
        let (_mem, r) = fresh(64, 24);
        // If either side panics, the other stops waiting for it.
        let flag = crate::test_util::PanicFlag::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                let _g = flag.guard();
                let mut tx = r.producer(1).unwrap();
                let mut seq = 0u64;
                while seq < COUNT {
                    let mut msg = [0u8; 24];
                    msg[..8].copy_from_slice(&seq.to_le_bytes());
                    let len = 8 + (seq % 17) as usize;
                    msg[8..len].fill(seq as u8);
                    match tx.try_send(&msg[..len]) {
                        Ok(()) => seq += 1,
                        Err(Error::Full) => flag.wait(),
                        Err(e) => panic!("{e}"),
                    }
                }
            });
            s.spawn(|| {
                let _g = flag.guard();
                let mut rx = r.consumer(2).unwrap();
                let mut expected = 0u64;
                let mut buf = [0u8; 24];
                while expected < COUNT {
                    match rx.try_recv(&mut buf) {
                        Ok(len) => {
                            assert_eq!(len, 8 + (expected % 17) as usize);
                            assert_eq!(buf[..8], expected.to_le_bytes());
                            assert!(buf[8..len].iter().all(|&b| b == expected as u8));
                            expected += 1;
                        }
                        Err(Error::Empty) => flag.wait(),
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        });
    }

    /// A peer scribbling on the index and length words while we send and
    /// receive gets errors back, never a panic or a hang.
    ///
    /// Both sides attach before the scribbler starts (an attach during the
    /// scribbling may rightly say `Corrupt`, which once panicked here and left
    /// the scope waiting for a scribbler that was never told to stop), and the
    /// scribbler is stopped by a guard however the body leaves.
    #[test]
    fn hostile_peer_scribbling_concurrently_never_panics_the_consumer() {
        let (mut mem, r) = fresh(8, 16);
        let base = mem.base() as usize;
        let len = mem.len();
        let mut rx = r.consumer(2).unwrap();
        let mut tx = r.producer(1).unwrap();
        let stop = crate::test_util::PanicFlag::new();
        std::thread::scope(|s| {
            let _stop = crate::test_util::StopOnDrop(&stop);
            s.spawn(|| {
                let mut x: u32 = 1;
                while !stop.raised() {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    // Scribble on tail, head and slot stamp and length
                    // words only (the header geometry is cached anyway).
                    let offset = match x % 4 {
                        0 => TAIL,
                        1 => HEAD,
                        2 => HEADER_SIZE + (x as usize % 8) * 64,
                        _ => HEADER_SIZE + (x as usize % 8) * 64 + LEN_WORD,
                    };
                    assert!(offset < len);
                    let p = (base + offset) as *const AtomicU32;
                    // SAFETY: in bounds, aligned, and the memory outlives the scope.
                    unsafe { &*p }.store(x >> 3, Ordering::Relaxed);
                }
            });
            let mut buf = [0u8; 16];
            for _ in 0..100_000 {
                let _ = tx.try_send(b"payload");
                let _ = rx.try_recv(&mut buf);
                let _ = rx.peek_len();
            }
        });
    }
}
