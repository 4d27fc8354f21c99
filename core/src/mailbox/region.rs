//! The mailbox's region form. See the [module documentation](super) for the
//! layout, the protocol and the crash analysis.

use core::mem::size_of;
use core::ptr::{self, NonNull};

use super::{Geometry, Received, Selector};
use crate::doorbell::Doorbell;
use crate::region::{
    attach_header, check_recorded_total, copy_from_shared, init_memory, round_up, Kind, Prologue,
    RegionFlags, SlotWriter, TypeTag,
};
use crate::sync::{fence, AtomicU32, AtomicU64, CachePadded, Ordering};
use crate::Error;

/// Largest slot count of a mailbox.
pub const MAX_SLOTS: u32 = 1 << 16;

/// Largest message of a mailbox in bytes (16 MiB; lengths are 30-bit fields
/// of the state word).
pub const MAX_MSG: u32 = 1 << 24;

/// Slot states (bits 0..2 of a state word).
const FREE: u64 = 0;
pub(super) const WRITING: u64 = 1;
pub(super) const READY: u64 = 2;
pub(super) const READING: u64 = 3;
const STATE_MASK: u64 = 3;
/// `len` occupies bits 2..32.
const LEN_SHIFT: u32 = 2;
const LEN_MASK: u64 = (1 << 30) - 1;
/// `owner` occupies bits 32..64.
const OWNER_SHIFT: u32 = 32;

/// Alignment of the metadata and payload arrays.
const ARRAY_ALIGN: usize = 128;
/// Alignment of each payload.
const PAYLOAD_ALIGN: usize = 8;

/// Where the state words start.
pub(super) const HEADER_SIZE: usize = size_of::<Header>();

/// `true` unless `--cfg kipc_loom_weaken="mailbox"`: a receive whose best
/// candidate took its `seq` after the receive's snapshot of the counter
/// rescans (see "Order" in the [module documentation](super)). The weakened
/// build skips that rescan, which must make the straddle model in
/// `loom-tests/tests/mailbox.rs` fail.
const KEEP_SEND_ORDER: bool = !cfg!(kipc_loom_weaken = "mailbox");

/// Packs a state word. `len <= MAX_MSG < 2^30`; `owner` is the owner id of
/// a WRITING or READING word, the tag (low 32 bits of `seq`) of a READY one,
/// 0 in a FREE one.
#[inline(always)]
pub(super) const fn pack(state: u64, len: u32, owner: u32) -> u64 {
    debug_assert!(state <= STATE_MASK && len as u64 <= LEN_MASK);
    state | (len as u64) << LEN_SHIFT | (owner as u64) << OWNER_SHIFT
}

/// The state bits of a word: always one of the four states.
#[inline(always)]
const fn state_of(word: u64) -> u64 {
    word & STATE_MASK
}

/// The `len` field of a word, in `0..2^30` (not yet checked against `max_msg`).
#[inline(always)]
const fn len_of(word: u64) -> u32 {
    ((word >> LEN_SHIFT) & LEN_MASK) as u32
}

/// The `owner` field of a word (the tag of a READY word).
#[inline(always)]
const fn owner_of(word: u64) -> u32 {
    (word >> OWNER_SHIFT) as u32
}

/// The region header. See the [module documentation](super).
#[repr(C)]
struct Header {
    prologue: Prologue,
    /// `1..=MAX_SLOTS`.
    slot_count: AtomicU32,
    /// `1..=MAX_MSG`.
    max_msg: AtomicU32,
    /// `0..=slot_count * max_msg`.
    byte_budget: AtomicU64,
    /// `round_up(max_msg, PAYLOAD_ALIGN)`.
    payload_stride: AtomicU32,
    /// `HEADER_SIZE`.
    states_offset: AtomicU32,
    /// Offset of `meta[0]`.
    meta_offset: AtomicU32,
    /// Offset of `payload[0]`.
    payload_offset: AtomicU32,
    /// Whole layout in bytes.
    total_len: AtomicU64,
    /// Senders: where to start looking for a FREE slot (any value; taken
    /// modulo the slot count).
    hint: CachePadded<AtomicU32>,
    /// Senders: the next send sequence number (`fetch_add` at commit,
    /// Release); receivers snapshot it (Acquire) to keep per-sender order.
    seq: CachePadded<AtomicU64>,
    not_empty: CachePadded<Doorbell>,
    not_full: CachePadded<Doorbell>,
}

/// One slot's metadata, written by its sender while the slot is WRITING.
#[repr(C)]
struct Meta {
    /// Priority; a correct sender writes `0..=255`.
    prio: AtomicU32,
    /// The sender's owner id.
    sender: AtomicU32,
    /// Message type.
    mtype: AtomicU64,
    /// Global send sequence number (FIFO key within a priority).
    seq: AtomicU64,
}

/// A checked geometry and the offsets it implies, in private memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// `1..=MAX_SLOTS`.
    slots: u32,
    /// `1..=MAX_MSG`.
    max_msg: u32,
    /// `0..=slots * max_msg`.
    budget: u64,
    /// `round_up(max_msg, PAYLOAD_ALIGN)`.
    stride: u32,
    /// Offset of `meta[0]`; below `payload`.
    meta: usize,
    /// Offset of `payload[0]`; `payload + slots * stride == total`.
    payload: usize,
    /// Whole layout in bytes.
    total: usize,
}

impl Layout {
    /// Checks a geometry and computes the offsets; `Err` names the problem.
    fn new(g: Geometry) -> Result<Self, &'static str> {
        if g.slots == 0 || g.slots > MAX_SLOTS {
            return Err("slot count must be in 1..=MAX_SLOTS");
        }
        if g.max_msg == 0 || g.max_msg > MAX_MSG {
            return Err("max message size must be in 1..=MAX_MSG");
        }
        if g.byte_budget > u64::from(g.slots) * u64::from(g.max_msg) {
            return Err("byte budget exceeds slots * max_msg");
        }
        // `max_msg <= 2^24`, so the stride fits `u32` and every `usize`.
        let stride = round_up(g.max_msg as usize, PAYLOAD_ALIGN).ok_or("stride overflows")?;
        let n = g.slots as usize;
        // `n <= 2^16` and the element sizes are small: these fit even a
        // 32-bit `usize`.
        let meta = round_up(HEADER_SIZE + n * size_of::<AtomicU64>(), ARRAY_ALIGN)
            .ok_or("layout overflows")?;
        let payload =
            round_up(meta + n * size_of::<Meta>(), ARRAY_ALIGN).ok_or("layout overflows")?;
        let total = (payload as u64)
            .checked_add(u64::from(g.slots) * stride as u64)
            .ok_or("region size overflows u64")?;
        let total = usize::try_from(total).map_err(|_| "region larger than the address space")?;
        Ok(Self {
            slots: g.slots,
            max_msg: g.max_msg,
            budget: g.byte_budget,
            stride: stride as u32,
            meta,
            payload,
            total,
        })
    }

    /// `true` if the byte budget can bind (it is below `slots * max_msg`).
    #[inline(always)]
    fn budget_binds(&self) -> bool {
        self.budget < u64::from(self.slots) * u64::from(self.max_msg)
    }

    /// The largest message a send accepts: `min(max_msg, budget)`.
    #[inline(always)]
    fn send_max(&self) -> usize {
        self.budget.min(u64::from(self.max_msg)) as usize
    }
}

/// Bytes of memory a mailbox of `slots` slots of up to `max_msg` bytes needs
/// (the byte budget does not change it).
///
/// # Errors
///
/// [`Error::InvalidGeometry`] if `slots` is not in `1..=MAX_SLOTS`, `max_msg`
/// not in `1..=MAX_MSG`, or the total does not fit the address space.
///
/// # Examples
///
/// ```
/// use kipc_core::mailbox::region_size;
/// // header 640, 4 state words (padded to 768), 4 x 24 bytes of metadata
/// // (padded to 896), 4 payloads of 64 bytes.
/// assert_eq!(region_size(4, 60), Ok(896 + 4 * 64));
/// assert!(region_size(0, 60).is_err());
/// ```
pub fn region_size(slots: u32, max_msg: u32) -> Result<usize, Error> {
    Layout::new(Geometry::new(slots, max_msg))
        .map(|l| l.total)
        .map_err(|what| Error::InvalidGeometry { what })
}

/// A handle on a mailbox in (possibly shared) memory.
///
/// Holds only a pointer and the geometry copied out when it was created. Any
/// number of threads and processes may send and receive through it at once;
/// each passes an opaque owner id (the host uses its pid) so that
/// [`recover`](Region::recover) can undo the half-done steps of a dead one.
/// See the [module documentation](super).
///
/// # Examples
///
/// ```
/// use kipc_core::{Error, mailbox::{Geometry, Region, Selector}};
/// #[repr(C, align(128))]
/// struct Buf([u8; 2048]);
/// let mut buf = Buf([0; 2048]);
/// // SAFETY: `buf` outlives the region and is only used through it.
/// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 16)) }.unwrap();
/// r.try_send(b"a", 0, 1, 1).unwrap();
/// r.try_send(b"b", 0, 2, 1).unwrap();
/// let mut out = [0u8; 16];
/// assert_eq!(r.try_recv(Selector::Exact(2), 9, &mut out).unwrap().mtype, 2);
/// assert_eq!(r.try_recv(Selector::Exact(2), 9, &mut out), Err(Error::Empty));
/// ```
#[derive(Debug, Clone)]
pub struct Region {
    header: NonNull<Header>,
    layout: Layout,
    /// The message type recorded in the prologue, copied at init/attach.
    tag: TypeTag,
}

// SAFETY: the region is only ever accessed through atomics and raw byte
// copies, which any thread may do; the memory's validity for the Region's
// lifetime is the `init`/`attach` caller's promise, independent of threads.
unsafe impl Send for Region {}
// SAFETY: as for `Send`; every operation takes `&self` and coordinates with
// the others only through CAS on the shared state words.
unsafe impl Sync for Region {}

/// A READY slot a receive's scan found, with the word it was seen in.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    index: u32,
    word: u64,
    len: u32,
    prio: u8,
    mtype: u64,
    seq: u64,
}

impl Candidate {
    /// `true` if `self` is to be received before `other` under `sel`.
    #[inline]
    fn before(&self, other: &Candidate, sel: Selector) -> bool {
        if let Selector::LowestAtMost(_) = sel {
            if self.mtype != other.mtype {
                return self.mtype < other.mtype;
            }
        }
        if self.prio != other.prio {
            return self.prio > other.prio;
        }
        self.seq < other.seq
    }
}

impl Region {
    /// Writes a fresh, empty mailbox of the given geometry at `base` and
    /// publishes it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidGeometry`] (see [`region_size`]; also a byte budget
    /// above `slots * max_msg`), [`Error::Misaligned`] if `base` is not
    /// aligned to [`REGION_ALIGN`](crate::region::REGION_ALIGN),
    /// [`Error::RegionTooSmall`] if `len` is below the layout's size.
    ///
    /// # Safety
    ///
    /// `base` must be valid for reads and writes of `len` bytes for as long as
    /// the returned `Region` (and every [`SendSlot`] from it) lives, and
    /// nothing else in this process may access those bytes during this call.
    /// Other processes may attach only after it returns (they see
    /// [`Error::Uninitialized`] before).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::{Error, mailbox::{Geometry, Region}};
    /// #[repr(C, align(128))]
    /// struct Buf([u8; 2048]);
    /// let mut buf = Buf([0; 2048]);
    /// // SAFETY: `buf` outlives the region and is only used through it.
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 100)) }.unwrap();
    /// assert_eq!((r.capacity(), r.max_msg()), (4, 100));
    /// let too_big = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(64, 100)) };
    /// assert!(matches!(too_big, Err(Error::RegionTooSmall { .. })));
    /// ```
    pub unsafe fn init(base: *mut u8, len: usize, geometry: Geometry) -> Result<Self, Error> {
        // SAFETY: forwarded from our caller.
        unsafe { Self::init_typed(base, len, geometry, TypeTag::UNTYPED) }
    }

    /// As [`init`](Self::init), recording `tag` (what one message is) in the
    /// prologue for attachers to read with [`type_tag`](Self::type_tag).
    ///
    /// # Errors
    ///
    /// As [`init`](Self::init); [`Error::InvalidGeometry`] if
    /// [`TypeTag::check`] rejects `tag` for the geometry's `max_msg`.
    ///
    /// # Safety
    ///
    /// As [`init`](Self::init).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::{mailbox::{Geometry, Region}, region::TypeTag};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let tag = TypeTag::new(8, 8, 5);
    /// // SAFETY: `buf` outlives the region and is only used through it.
    /// unsafe { Region::init_typed(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 8), tag) }.unwrap();
    /// let r = unsafe { Region::attach(buf.0.as_mut_ptr(), 2048) }.unwrap();
    /// assert_eq!(r.type_tag(), tag);
    /// ```
    pub unsafe fn init_typed(
        base: *mut u8,
        len: usize,
        geometry: Geometry,
        tag: TypeTag,
    ) -> Result<Self, Error> {
        // SAFETY: forwarded from our caller.
        unsafe { Self::init_with(base, len, geometry, tag, RegionFlags::empty()) }
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
        geometry: Geometry,
        tag: TypeTag,
        flags: RegionFlags,
    ) -> Result<Self, Error> {
        let layout = Layout::new(geometry).map_err(|what| Error::InvalidGeometry { what })?;
        tag.check(layout.max_msg)?;
        // SAFETY: the caller's promise: `len` bytes at `base`, ours alone.
        unsafe { init_memory(base, len, layout.total)? };
        // The offsets are below `total`'s parts computed from `n <= 2^16`
        // small elements, so they fit `u32` (checked by `Layout::new`'s
        // construction: `meta` and `payload` are at most a few MiB).
        let header = Header {
            prologue: Prologue::unpublished(Kind::Mailbox, tag, flags),
            slot_count: AtomicU32::new(layout.slots),
            max_msg: AtomicU32::new(layout.max_msg),
            byte_budget: AtomicU64::new(layout.budget),
            payload_stride: AtomicU32::new(layout.stride),
            states_offset: AtomicU32::new(HEADER_SIZE as u32),
            meta_offset: AtomicU32::new(layout.meta as u32),
            payload_offset: AtomicU32::new(layout.payload as u32),
            total_len: AtomicU64::new(layout.total as u64),
            hint: CachePadded::new(AtomicU32::new(0)),
            seq: CachePadded::new(AtomicU64::new(0)),
            not_empty: CachePadded::new(Doorbell::new()),
            not_full: CachePadded::new(Doorbell::new()),
        };
        // SAFETY: `check_memory` proved `base` is 128-aligned (Header's
        // alignment) and `len >= total >= HEADER_SIZE`; the caller gives us
        // exclusive access. `ptr::write` constructs the atomics in place
        // (which loom needs) without reading the old bytes.
        unsafe { ptr::write(base.cast::<Header>(), header) };
        let region = Region {
            // SAFETY: `check_memory` rejected a null `base`.
            header: unsafe { NonNull::new_unchecked(base.cast::<Header>()) },
            layout,
            tag,
        };
        for i in 0..layout.slots {
            // SAFETY: `state_ptr`/`meta_ptr` are in bounds and aligned (see
            // their docs); we have exclusive access during `init`.
            unsafe { ptr::write(region.state_ptr(i), AtomicU64::new(pack(FREE, 0, 0))) };
            let meta = Meta {
                prio: AtomicU32::new(0),
                sender: AtomicU32::new(0),
                mtype: AtomicU64::new(0),
                seq: AtomicU64::new(0),
            };
            // SAFETY: as above.
            unsafe { ptr::write(region.meta_ptr(i), meta) };
        }
        region.header().prologue.publish();
        Ok(region)
    }

    /// Attaches to a mailbox another party initialised at `base`, checking
    /// every header field.
    ///
    /// # Errors
    ///
    /// [`Error::Misaligned`], [`Error::RegionTooSmall`] (for the header or
    /// for the recorded geometry), [`Error::Uninitialized`] (magic still 0:
    /// retry later), [`Error::BadLayout`] (wrong magic, version or kind,
    /// geometry out of range or self-contradictory).
    ///
    /// # Safety
    ///
    /// `base` must be valid for reads and writes of `len` bytes for as long as
    /// the returned `Region` (and every [`SendSlot`] from it) lives. The
    /// bytes may hold anything (another process may write them at any time),
    /// but this process must access them only through kipc.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::{Error, mailbox::{Geometry, Region}};
    /// #[repr(C, align(128))]
    /// struct Buf([u8; 2048]);
    /// let mut buf = Buf([0; 2048]);
    /// // SAFETY: `buf` outlives the regions and is only used through them.
    /// let zeroed = unsafe { Region::attach(buf.0.as_mut_ptr(), 2048) };
    /// assert_eq!(zeroed.unwrap_err(), Error::Uninitialized);
    /// unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(2, 8)) }.unwrap();
    /// let r = unsafe { Region::attach(buf.0.as_mut_ptr(), 2048) }.unwrap();
    /// assert_eq!(r.capacity(), 2);
    /// ```
    pub unsafe fn attach(base: *mut u8, len: usize) -> Result<Self, Error> {
        // SAFETY: the caller promises `len` readable bytes for as long as the
        // region lives; Header is atomics only and starts with the prologue.
        let header: &Header = unsafe { attach_header(base, len, Kind::Mailbox)? };
        let bad = |what| Error::BadLayout { what };
        let geometry = Geometry {
            slots: header.slot_count.load(Ordering::Relaxed),
            max_msg: header.max_msg.load(Ordering::Relaxed),
            byte_budget: header.byte_budget.load(Ordering::Relaxed),
        };
        let layout = Layout::new(geometry).map_err(bad)?;
        if header.payload_stride.load(Ordering::Relaxed) as usize != layout.stride as usize {
            return Err(bad("payload stride does not match max_msg"));
        }
        if header.states_offset.load(Ordering::Relaxed) as usize != HEADER_SIZE
            || header.meta_offset.load(Ordering::Relaxed) as usize != layout.meta
            || header.payload_offset.load(Ordering::Relaxed) as usize != layout.payload
        {
            return Err(bad("array offsets do not match the layout version"));
        }
        check_recorded_total(
            header.total_len.load(Ordering::Relaxed),
            layout.total,
            base,
            len,
        )?;
        let tag = header.prologue.type_tag(layout.max_msg)?;
        Ok(Region {
            // SAFETY: `check_memory` rejected a null `base`.
            header: unsafe { NonNull::new_unchecked(base.cast::<Header>()) },
            layout,
            tag,
        })
    }

    /// The message type the creator recorded ([`TypeTag::UNTYPED`] for a
    /// mailbox of bytes), as read at init or attach.
    pub fn type_tag(&self) -> TypeTag {
        self.tag
    }

    #[inline(always)]
    fn header(&self) -> &Header {
        // SAFETY: `init`/`attach` checked alignment and size, and their caller
        // promised the memory stays valid while `self` lives.
        unsafe { self.header.as_ref() }
    }

    #[inline(always)]
    fn base(&self) -> *mut u8 {
        self.header.as_ptr().cast::<u8>()
    }

    /// Pointer to slot `i`'s state word: in bounds and 8-aligned for
    /// `i < slots` (`HEADER_SIZE` is a multiple of 128).
    #[inline(always)]
    fn state_ptr(&self, i: u32) -> *mut AtomicU64 {
        debug_assert!(i < self.layout.slots);
        let offset = HEADER_SIZE + i as usize * size_of::<AtomicU64>();
        // SAFETY: `offset + 8 <= meta <= total <= len`, so the result stays
        // inside the memory `init`/`attach` checked.
        unsafe { self.base().add(offset).cast::<AtomicU64>() }
    }

    /// Pointer to slot `i`'s metadata: in bounds and aligned for
    /// `i < slots` (`meta` is a multiple of 128, `Meta`'s size of 8).
    #[inline(always)]
    fn meta_ptr(&self, i: u32) -> *mut Meta {
        debug_assert!(i < self.layout.slots);
        let offset = self.layout.meta + i as usize * size_of::<Meta>();
        // SAFETY: `offset + size_of::<Meta>() <= payload <= total <= len`.
        unsafe { self.base().add(offset).cast::<Meta>() }
    }

    /// Slot `i`'s state word.
    #[inline(always)]
    fn state(&self, i: u32) -> &AtomicU64 {
        // SAFETY: in bounds and aligned (`state_ptr`); an atomic accepts every
        // bit pattern and the memory lives as long as `self`.
        unsafe { &*self.state_ptr(i) }
    }

    /// Slot `i`'s metadata.
    #[inline(always)]
    fn meta(&self, i: u32) -> &Meta {
        // SAFETY: as for `state`: `Meta` is four atomics.
        unsafe { &*self.meta_ptr(i) }
    }

    /// Start of slot `i`'s payload, valid for `stride >= max_msg` bytes.
    #[inline(always)]
    fn payload(&self, i: u32) -> *mut u8 {
        debug_assert!(i < self.layout.slots);
        // `i < slots`, so this is at most `total - stride`: no overflow.
        let offset = self.layout.payload + i as usize * self.layout.stride as usize;
        // SAFETY: `offset + stride <= total <= len`.
        unsafe { self.base().add(offset) }
    }

    /// Sum of `len` over the slots that are not FREE (saturating: a peer may
    /// write any lengths). `order` applies to each load.
    fn claimed_bytes(&self, order: Ordering) -> u64 {
        (0..self.layout.slots)
            .map(|i| self.state(i).load(order))
            .filter(|&w| state_of(w) != FREE)
            .fold(0u64, |sum, w| sum.saturating_add(u64::from(len_of(w))))
    }

    /// Claims a FREE slot for a `len`-byte message from `owner` and, if the
    /// byte budget binds, checks it. Returns the slot's index and the
    /// WRITING word it now holds.
    fn claim(&self, len: usize, owner: u32) -> Result<(u32, u64), Error> {
        let layout = self.layout;
        let max = layout.send_max();
        if len > max {
            return Err(Error::TooLarge { len, max });
        }
        // `len <= max_msg <= MAX_MSG < 2^30`.
        let writing = pack(WRITING, len as u32, owner);
        let n = layout.slots;
        let start = self.header().hint.load(Ordering::Relaxed) % n;
        for k in 0..n {
            // `start, k < n <= 2^16`: no overflow.
            let i = (start + k) % n;
            let state = self.state(i);
            let seen = state.load(Ordering::Relaxed);
            if state_of(seen) != FREE {
                continue;
            }
            // SYNC: free slot. Acquire: the last receiver's copy out of this
            // payload finished before we write it.
            if state
                .compare_exchange(seen, writing, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            self.header()
                .hint
                .store(i.wrapping_add(1), Ordering::Relaxed);
            if layout.budget_binds() {
                // Two senders that claim at once each fence, then sum: with
                // SeqCst fences at least one of them sees the other's claim,
                // so the budget is never exceeded (both may see it and both
                // give up: a spurious `Full`, never an over-admission).
                // `crate::sync::fence` *is* loom's fence under `kipc_loom`; it is
                // a plain re-export, so clippy cannot tell it from the banned
                // `core` path.
                #[allow(clippy::disallowed_methods)]
                fence(Ordering::SeqCst);
                if self.claimed_bytes(Ordering::Relaxed) > layout.budget {
                    // Ours again to give back; if recovery took it, it is
                    // FREE already.
                    let _ =
                        state.compare_exchange(writing, FREE, Ordering::Release, Ordering::Relaxed);
                    return Err(Error::Full);
                }
            }
            return Ok((i, writing));
        }
        Err(Error::Full)
    }

    /// Sends `msg` with priority `prio` and type `mtype`, as `owner` (an
    /// opaque id [`recover`](Self::recover) asks about if the send is left
    /// half done).
    ///
    /// After `Ok`, the host rings [`not_empty`](Self::not_empty) and wakes the
    /// waiters its [`Wake`](crate::doorbell::Wake) names.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if `msg` is longer than `max_msg` (or than the byte
    /// budget); [`Error::Full`] if no slot is free or the message would take
    /// the payload bytes in flight above the budget (may be spurious while
    /// other sends race); [`Error::Corrupt`] if the slot was taken from us
    /// by [`recover`](Self::recover) while we wrote it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::{Error, mailbox::{Geometry, Region}};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(2, 8)) }.unwrap();
    /// assert_eq!(r.try_send(b"too long!", 0, 0, 1), Err(Error::TooLarge { len: 9, max: 8 }));
    /// r.try_send(b"one", 0, 0, 1).unwrap();
    /// r.try_send(b"two", 0, 0, 1).unwrap();
    /// assert_eq!(r.try_send(b"three", 0, 0, 1), Err(Error::Full));
    /// ```
    pub fn try_send(&self, msg: &[u8], prio: u8, mtype: u64, owner: u32) -> Result<(), Error> {
        let mut slot = self.begin_send(msg.len(), owner)?;
        // `msg.len()` is the slot's length, so this cannot fail.
        slot.write_at(0, msg)?;
        slot.commit(prio, mtype)
    }

    /// Claims a slot for a `len`-byte message from `owner`, to be written in
    /// place with [`SendSlot::write_at`] and published with
    /// [`SendSlot::commit`]. Dropping the [`SendSlot`] without committing
    /// frees the slot; a process that dies before committing leaves it for
    /// [`recover`](Self::recover).
    ///
    /// # Errors
    ///
    /// As [`try_send`](Self::try_send): [`Error::TooLarge`], [`Error::Full`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region, Selector};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(2, 8)) }.unwrap();
    /// let mut slot = r.begin_send(6, 1).unwrap();
    /// slot.write_at(0, b"abc").unwrap();
    /// slot.write_at(3, b"def").unwrap();
    /// assert_eq!(r.len(), 0); // not visible until committed
    /// slot.commit(3, 0).unwrap();
    /// let mut out = [0; 8];
    /// let got = r.try_recv(Selector::Any, 2, &mut out).unwrap();
    /// assert_eq!(&out[..got.len], b"abcdef");
    /// ```
    pub fn begin_send(&self, len: usize, owner: u32) -> Result<SendSlot<'_>, Error> {
        let (index, writing) = self.claim(len, owner)?;
        Ok(SendSlot {
            region: self,
            index,
            writing,
            len,
        })
    }

    /// Finds the READY slot `sel` takes first. See "Order" in the module
    /// docs: the scan is repeated while its best candidate took its `seq`
    /// after the scan began and senders took numbers during the scan, since
    /// an older message of the same sender may then sit in a slot the scan
    /// had already passed.
    ///
    /// `consume`: free a READY slot that fails validation (a receive) or
    /// only report it (a peek, which changes nothing).
    fn pick(&self, sel: Selector, consume: bool) -> Result<Candidate, Error> {
        let counter = &self.header().seq;
        // SYNC: send order. Acquire: a send that took a number below `snap`
        // happens-before this load, and so does every message its sender
        // published before it; the scan below sees them.
        let mut snap = counter.load(Ordering::Acquire);
        loop {
            let best = self.scan(sel, consume)?.ok_or(Error::Empty)?;
            if !KEEP_SEND_ORDER || best.seq < snap {
                return Ok(best);
            }
            // `best` took its number at or after `snap`: a sender may have
            // published an older message into a slot the scan had passed.
            // SYNC: send order. The scan acquired `best`'s READY word, which
            // its sender stored after its `fetch_add`, so an honest `best`
            // makes this load read more than `snap`. If nobody took a number
            // (only a peer's made-up `seq` gets here), there is nothing newer
            // to look for and, on fixed bytes, a rescan would loop for ever.
            let now = counter.load(Ordering::Acquire);
            if now == snap {
                return Ok(best);
            }
            // Sends progressed: rescan with a fresh snapshot.
            snap = now;
        }
    }

    /// One pass over the state words: the first READY slot in `sel`'s order,
    /// or `None`. A READY slot that fails validation (a `len` above
    /// `max_msg`, a priority above 255: only a faulty or hostile peer writes
    /// those) is freed here and reported as [`Error::Corrupt`], once, by the
    /// receive whose CAS freed it; it never wedges the mailbox. Without
    /// `consume` (a peek) such a slot is reported and left for the next
    /// receive.
    fn scan(&self, sel: Selector, consume: bool) -> Result<Option<Candidate>, Error> {
        let max_msg = self.layout.max_msg;
        let mut best: Option<Candidate> = None;
        for index in 0..self.layout.slots {
            // SYNC: publish message. Acquire: a READY word makes the
            // sender's metadata and payload visible.
            let word = self.state(index).load(Ordering::Acquire);
            if state_of(word) != READY {
                continue;
            }
            let meta = self.meta(index);
            let len = len_of(word);
            let prio = meta.prio.load(Ordering::Relaxed);
            let invalid = if len > max_msg {
                Some("ready slot's length exceeds max_msg")
            } else if prio > u32::from(u8::MAX) {
                Some("ready slot's priority exceeds 255")
            } else {
                None
            };
            if let Some(what) = invalid {
                if !consume {
                    return Err(Error::Corrupt { what });
                }
                // Consume it: the CAS fails only if someone else changed the
                // word (another receiver freed or took it), and then it is
                // theirs to report. Release: as any free (`SYNC: free slot`).
                if self
                    .state(index)
                    .compare_exchange(word, FREE, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
                {
                    return Err(Error::Corrupt { what });
                }
                continue;
            }
            let mtype = meta.mtype.load(Ordering::Relaxed);
            if !sel.matches(mtype) {
                continue;
            }
            let cand = Candidate {
                index,
                word,
                len,
                // Checked `<= 255` above.
                prio: prio as u8,
                mtype,
                seq: meta.seq.load(Ordering::Relaxed),
            };
            if best.is_none_or(|b| cand.before(&b, sel)) {
                best = Some(cand);
            }
        }
        Ok(best)
    }

    /// Receives the first message `selector` accepts (highest priority, then
    /// oldest; see [`Selector`]) into `buf`, as `owner` (an opaque id
    /// [`recover`](Self::recover) asks about if the receive is left half
    /// done).
    ///
    /// After `Ok`, the host rings [`not_full`](Self::not_full) and wakes the
    /// waiters its [`Wake`](crate::doorbell::Wake) names. Costs a scan of every state word
    /// (O(slots)).
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if no message matches; [`Error::TooLarge`] (`len` =
    /// the message's length, `max` = `buf.len()`) if the chosen message does
    /// not fit `buf`: it stays queued; [`Error::Corrupt`] if a peer wrote an
    /// impossible length or priority, or recovery took the message from us
    /// while we copied it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::{Error, mailbox::{Geometry, Region, Selector}};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 16)) }.unwrap();
    /// r.try_send(b"type 5", 0, 5, 1).unwrap();
    /// r.try_send(b"type 3", 0, 3, 1).unwrap();
    /// let mut out = [0u8; 16];
    /// // SysV msgrcv(msgtyp = -4): lowest type <= 4.
    /// assert_eq!(r.try_recv(Selector::LowestAtMost(4), 2, &mut out).unwrap().mtype, 3);
    /// assert_eq!(r.try_recv(Selector::LowestAtMost(4), 2, &mut out), Err(Error::Empty));
    /// assert_eq!(r.try_recv(Selector::Any, 2, &mut [0; 2]), Err(Error::TooLarge { len: 6, max: 2 }));
    /// assert_eq!(r.try_recv(Selector::Any, 2, &mut out).unwrap().len, 6);
    /// ```
    pub fn try_recv(
        &self,
        selector: Selector,
        owner: u32,
        buf: &mut [u8],
    ) -> Result<Received, Error> {
        loop {
            let cand = self.pick(selector, true)?;
            let len = cand.len as usize;
            if len > buf.len() {
                return Err(Error::TooLarge {
                    len,
                    max: buf.len(),
                });
            }
            let state = self.state(cand.index);
            let reading = pack(READING, cand.len, owner);
            // SYNC: publish message. Acquire on success, as in `pick`
            // (the word may have been re-published since we scanned).
            if state
                .compare_exchange(cand.word, reading, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                // Someone else changed the word: they progressed; rescan.
                continue;
            }
            // The slot is ours. ABA: between the scan and the CAS, another
            // receiver may have taken the scanned message and a sender
            // refilled the slot with a newer one of the same length. The
            // READY word's tag (low half of `seq`) makes that CAS fail unless
            // exactly a multiple of 2^32 sends happened in between (or a peer
            // forged the tag); then the full `seq` differs: taking that newer
            // message now could jump ahead of older ones from the same sender
            // and priority, so put it back and rescan.
            let meta = self.meta(cand.index);
            let seq = meta.seq.load(Ordering::Relaxed);
            if seq != cand.seq {
                // Back with the tag of the message actually there (truncation
                // intended). SYNC: publish message. Release: a receiver that
                // takes it later acquires through us the sender's publish we
                // acquired.
                let ready = pack(READY, cand.len, seq as u32);
                if state
                    .compare_exchange(reading, ready, Ordering::Release, Ordering::Relaxed)
                    .is_err()
                {
                    return Err(Error::Corrupt {
                        what: "slot was recovered while its receiver read it",
                    });
                }
                continue;
            }
            let prio = meta.prio.load(Ordering::Relaxed);
            let mtype = meta.mtype.load(Ordering::Relaxed);
            let sender = meta.sender.load(Ordering::Relaxed);
            // SAFETY: the payload area holds `stride >= max_msg >= len` bytes
            // (`pick` checked `len`) and `buf` has at least `len`.
            unsafe { copy_from_shared(self.payload(cand.index), &mut buf[..len]) };
            // SYNC: free slot. Release: our copy above finishes before the
            // next sender's claim (Acquire) lets it write the payload.
            if state
                .compare_exchange(reading, FREE, Ordering::Release, Ordering::Relaxed)
                .is_err()
            {
                return Err(Error::Corrupt {
                    what: "slot was recovered while its receiver read it",
                });
            }
            let prio = u8::try_from(prio).map_err(|_| Error::Corrupt {
                what: "received message's priority exceeds 255",
            })?;
            return Ok(Received {
                len,
                prio,
                mtype,
                sender,
            });
        }
    }

    /// Undoes the half-done steps of dead owners: a WRITING slot whose owner
    /// `is_dead` becomes FREE (the message never existed), a READING slot
    /// becomes READY again with its priority and place (it is redelivered:
    /// at-least-once across a receiver's death). Returns how many slots it
    /// changed. The host calls it when a blocking wait times out or
    /// periodically, then rings both doorbells if it returned non-zero.
    ///
    /// `is_dead` must say `true` only for owners that will never touch the
    /// region again; see "Crashes" in the [module documentation](super).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(2, 8)) }.unwrap();
    /// let slot = r.begin_send(4, 77).unwrap();
    /// core::mem::forget(slot); // process 77 died mid-send
    /// assert_eq!(r.bytes_in_use(), 4);
    /// assert_eq!(r.recover(|owner| owner == 78), 0);
    /// assert_eq!(r.recover(|owner| owner == 77), 1);
    /// assert_eq!((r.len(), r.bytes_in_use()), (0, 0));
    /// ```
    pub fn recover(&self, mut is_dead: impl FnMut(u32) -> bool) -> usize {
        let mut recovered = 0;
        for i in 0..self.layout.slots {
            let state = self.state(i);
            let word = state.load(Ordering::Acquire);
            let next = match state_of(word) {
                WRITING => pack(FREE, 0, 0),
                // `len_of < 2^30` fits the field; `scan` checks it again. The
                // tag is the message's own (truncation intended), as its
                // sender published it.
                READING => pack(
                    READY,
                    len_of(word),
                    self.meta(i).seq.load(Ordering::Relaxed) as u32,
                ),
                _ => continue,
            };
            if !is_dead(owner_of(word)) {
                continue;
            }
            // SYNC: publish message / free slot. An RMW, so a READY it writes
            // continues the release sequence of the original sender's publish.
            if state
                .compare_exchange(word, next, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                recovered += 1;
            }
        }
        recovered
    }

    /// Number of messages ready to receive (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 8)) }.unwrap();
    /// r.try_send(b"x", 0, 0, 1).unwrap();
    /// assert_eq!(r.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        (0..self.layout.slots)
            .filter(|&i| state_of(self.state(i).load(Ordering::Relaxed)) == READY)
            .count()
    }

    /// `true` if no message is ready (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 8)) }.unwrap();
    /// assert!(r.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Payload bytes held by slots that are not free (being written, ready or
    /// being read): what counts against the byte budget. A snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 8)) }.unwrap();
    /// r.try_send(b"abc", 0, 0, 1).unwrap();
    /// assert_eq!(r.bytes_in_use(), 3);
    /// ```
    pub fn bytes_in_use(&self) -> u64 {
        self.claimed_bytes(Ordering::Relaxed)
    }

    /// Number of slots (the capacity in messages).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(5, 8)) }.unwrap();
    /// assert_eq!(r.capacity(), 5);
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.layout.slots as usize
    }

    /// Largest message in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 8)) }.unwrap();
    /// assert_eq!(r.max_msg(), 8);
    /// ```
    #[inline]
    pub fn max_msg(&self) -> usize {
        self.layout.max_msg as usize
    }

    /// Payload bytes allowed in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let g = Geometry::new(4, 8).with_byte_budget(20);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, g) }.unwrap();
    /// assert_eq!(r.byte_budget(), 20);
    /// ```
    #[inline]
    pub fn byte_budget(&self) -> u64 {
        self.layout.budget
    }

    /// The geometry the region was created with.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 8)) }.unwrap();
    /// assert_eq!(r.geometry(), Geometry::new(4, 8));
    /// ```
    pub fn geometry(&self) -> Geometry {
        Geometry {
            slots: self.layout.slots,
            max_msg: self.layout.max_msg,
            byte_budget: self.layout.budget,
        }
    }

    /// Bytes the layout occupies ([`region_size`] of its geometry).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{region_size, Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 8)) }.unwrap();
    /// assert_eq!(r.byte_len(), region_size(4, 8).unwrap());
    /// ```
    #[inline]
    pub fn byte_len(&self) -> usize {
        self.layout.total
    }

    /// The doorbell receivers sleep on; rung by the host after each send.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 8)) }.unwrap();
    /// assert!(!r.not_empty().ring().any()); // nobody sleeps: no wake-up needed
    /// ```
    #[inline]
    pub fn not_empty(&self) -> &Doorbell {
        &self.header().not_empty
    }

    /// The doorbell senders sleep on; rung by the host after each receive
    /// (and after a [`recover`](Self::recover) that freed slots).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 8)) }.unwrap();
    /// assert!(!r.not_full().ring().any());
    /// ```
    #[inline]
    pub fn not_full(&self) -> &Doorbell {
        &self.header().not_full
    }
}

/// A claimed slot being written in place; see [`Region::begin_send`].
/// Hands out no reference into shared memory: bytes go in through
/// [`write_at`](SendSlot::write_at). Bytes never written hold whatever the
/// slot held before. Dropping it without [`commit`](SendSlot::commit) frees
/// the slot.
///
/// # Examples
///
/// ```
/// # use kipc_core::mailbox::{Geometry, Region};
/// # #[repr(C, align(128))] struct Buf([u8; 2048]);
/// # let mut buf = Buf([0; 2048]);
/// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(1, 8)) }.unwrap();
/// let slot = r.begin_send(3, 1).unwrap();
/// assert_eq!(slot.len(), 3);
/// drop(slot); // abandoned: the slot is free again
/// assert!(r.begin_send(8, 1).is_ok());
/// ```
#[derive(Debug)]
pub struct SendSlot<'a> {
    region: &'a Region,
    /// `< slots`.
    index: u32,
    /// The WRITING word we put in the slot's state.
    writing: u64,
    /// Message length, `<= max_msg`.
    len: usize,
}

impl SendSlot<'_> {
    /// The slot's payload as a [`SlotWriter`] (for the [`Queue`](crate::queue::Queue)
    /// form of write-in-place).
    pub(crate) fn writer(&mut self) -> SlotWriter<'_> {
        // SAFETY: the payload spans `max_msg >= len` bytes inside the layout,
        // and our WRITING word keeps every correct party out of it.
        unsafe { SlotWriter::new(self.region.payload(self.index), self.len) }
    }

    /// Length of the message being written.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// # let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(1, 8)) }.unwrap();
    /// assert_eq!(r.begin_send(0, 1).unwrap().len(), 0);
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Copies `bytes` into the message at `offset`.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] (`len` = end of the write, `max` = message length)
    /// if the write would go past the message's end; nothing is written.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::{Error, mailbox::{Geometry, Region}};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// # let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(1, 8)) }.unwrap();
    /// let mut slot = r.begin_send(2, 1).unwrap();
    /// assert_eq!(slot.write_at(1, b"ab"), Err(Error::TooLarge { len: 3, max: 2 }));
    /// assert_eq!(slot.write_at(0, b"ab"), Ok(()));
    /// ```
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<(), Error> {
        self.writer().write_at(offset, bytes)
    }

    /// Publishes the message with priority `prio` and type `mtype`.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if [`Region::recover`] took the slot from us (we
    /// were wrongly judged dead); the message is not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::{Geometry, Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// # let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(1, 8)) }.unwrap();
    /// r.begin_send(0, 1).unwrap().commit(9, 1).unwrap();
    /// assert_eq!(r.len(), 1);
    /// ```
    pub fn commit(self, prio: u8, mtype: u64) -> Result<(), Error> {
        let (region, index, writing) = (self.region, self.index, self.writing);
        core::mem::forget(self);
        let header = region.header();
        let meta = region.meta(index);
        // SYNC: send order. Release: our earlier publishes happen-before a
        // receive whose snapshot (Acquire) reads this number or a later one
        // (the `fetch_add`s form one release sequence).
        let seq = header.seq.fetch_add(1, Ordering::Release);
        meta.prio.store(u32::from(prio), Ordering::Relaxed);
        meta.sender.store(owner_of(writing), Ordering::Relaxed);
        meta.mtype.store(mtype, Ordering::Relaxed);
        meta.seq.store(seq, Ordering::Relaxed);
        // The tag (low half of `seq`, truncation intended) makes each
        // publish's word differ from the last one in this slot, so a
        // receiver's CAS on a word it scanned fails if the slot was refilled.
        let ready = pack(READY, len_of(writing), seq as u32);
        // SYNC: publish message. Release: payload and metadata are visible
        // to a receiver that loads READY with Acquire.
        region
            .state(index)
            .compare_exchange(writing, ready, Ordering::Release, Ordering::Relaxed)
            .map(drop)
            .map_err(|_| Error::Corrupt {
                what: "slot was recovered while its sender wrote it",
            })
    }
}

impl Drop for SendSlot<'_> {
    fn drop(&mut self) {
        // Abandoned: free the slot unless recovery already did.
        let _ = self.region.state(self.index).compare_exchange(
            self.writing,
            FREE,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }
}

impl Region {
    /// Length of the message `sel` would take next; [`Error::Corrupt`] if
    /// the scan meets a READY slot that fails validation, which a peek
    /// leaves for the next receive to free.
    pub(super) fn peek_len(&self, sel: Selector) -> Result<usize, Error> {
        self.pick(sel, false).map(|c| c.len as usize)
    }

    /// Calls `f(role, owner)` for every slot a sender is writing (producer)
    /// or a receiver is reading (consumer).
    pub(super) fn busy_owners(&self, mut f: impl FnMut(bool, u32)) {
        for i in 0..self.layout.slots {
            let word = self.state(i).load(Ordering::Relaxed);
            match state_of(word) {
                WRITING => f(true, owner_of(word)),
                READING => f(false, owner_of(word)),
                _ => {}
            }
        }
    }
}

/// Offsets and encodings the unit tests poke at.
#[cfg(all(test, not(kipc_loom)))]
pub(super) mod testing {
    use super::HEADER_SIZE;

    /// Offset of `meta[i].prio` given the meta array offset.
    pub(crate) fn meta_offset(region: &super::Region) -> usize {
        region.layout.meta
    }

    /// Size of one metadata record.
    pub(crate) const META_SIZE: usize = core::mem::size_of::<super::Meta>();

    #[test]
    fn header_layout_is_pinned() {
        use super::Header;
        use core::mem::offset_of;
        assert_eq!(HEADER_SIZE, 640);
        assert_eq!(core::mem::align_of::<Header>(), 128);
        assert_eq!(offset_of!(Header, slot_count), 32);
        assert_eq!(offset_of!(Header, max_msg), 36);
        assert_eq!(offset_of!(Header, byte_budget), 40);
        assert_eq!(offset_of!(Header, payload_stride), 48);
        assert_eq!(offset_of!(Header, states_offset), 52);
        assert_eq!(offset_of!(Header, meta_offset), 56);
        assert_eq!(offset_of!(Header, payload_offset), 60);
        assert_eq!(offset_of!(Header, total_len), 64);
        assert_eq!(offset_of!(Header, hint), 128);
        assert_eq!(offset_of!(Header, seq), 256);
        assert_eq!(offset_of!(Header, not_empty), 384);
        assert_eq!(offset_of!(Header, not_full), 512);
        assert_eq!(META_SIZE, 24);
    }
}
