//! What every region-form object (SPSC ring, MPMC ring, mailbox) has in common:
//! the prologue at offset 0, the checks on the memory it is laid over, and the
//! raw byte copies in and out of shared slots.
//!
//! # Prologue (offset 0 of every region)
//!
//! | offset | field     | written by                 | meaning                          |
//! |--------|-----------|----------------------------|----------------------------------|
//! | 0      | `magic`   | creator, last, Release     | [`MAGIC`] once the layout is whole |
//! | 4      | `version` | creator, before `magic`    | [`LAYOUT_VERSION`]               |
//! | 8      | `kind`    | creator, before `magic`    | a [`Kind`] as `u32`              |
//! | 12     | `flags`   | creator, before `magic`    | [`RegionFlags`]; unknown bits are refused |
//! | 16     | `elem_size`  | creator, before `magic` | a typed queue's message size in bytes; 0 = untyped |
//! | 20     | `elem_align` | creator, before `magic` | its alignment (a power of two); 0 when untyped |
//! | 24     | `fingerprint_lo/hi` | creator, before `magic` | its 64-bit type fingerprint as two `u32`s; 0 when untyped |
//!
//! The last three words are the [`TypeTag`]: what the creator said one message
//! is (see `kipc_host::typed`). The core only records and reports it (every
//! layout's `init_typed` writes it, `attach` checks that it is either all zero
//! or a size that fits a slot with a power-of-two alignment); comparing it
//! with the type a user expects is the host's job. A peer can rewrite it like
//! any other word, so it is data: a handle copies it once at attach.
//!
//! The creator writes the whole layout, then stores `magic` with Release; an
//! attacher loads it with Acquire, so a zero magic means "not ready yet"
//! ([`Error::Uninitialized`]) and a non-zero one means every other header
//! field is written. A peer can of course rewrite any of it later, which is why
//! every operation re-checks the indices it reads.
//!
//! # Shared-memory rules
//!
//! Everything in a region is a fixed-width integer (no `usize`, `bool`, enum or
//! pointer) accessed atomically, so a 32-bit and a 64-bit process can share one,
//! and any bit pattern a peer writes is a value to check rather than undefined
//! behaviour. Payload bytes are copied with `copy_from_shared` into private
//! memory before anything looks at them, and written with `copy_to_shared`;
//! both copy as relaxed atomics ([`crate::sync::atomic_load_bytes`]: 8-byte
//! words, with 4-, 2- and 1-byte pieces at the ends), so a peer racing the
//! copy yields torn bytes for validation to judge, not a data race.

use core::marker::PhantomData;

use crate::sync::{AtomicU32, Ordering};
use crate::Error;

/// `b"KIPC"` read as a little-endian `u32`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"KIPC");

/// Version of every region layout in this crate; bumped on any layout change.
///
/// 2: an SPSC endpoint's state word carries a claim generation
/// ([`crate::spsc::Endpoint`]).
/// 3: the prologue grew to 32 bytes to carry a [`TypeTag`] (every header
/// field after it moved by 16 bytes; the MPMC header is 512 bytes).
/// 4: an SPSC slot starts with a publication stamp and is a whole number of
/// 64-byte lines (`[stamp][len][payload]`, [`crate::spsc::Region`]).
/// 5: an MPMC slot does the same (`[stamp][len][payload]`, stride a multiple
/// of 64, [`crate::mpmc::Region`]), and the prologue's `flags` word carries
/// [`RegionFlags`] (a peer of version 4 would not honour
/// [`RegionFlags::FENCED_WAITERS`]).
pub const LAYOUT_VERSION: u32 = 5;

bitflags::bitflags! {
    /// What the creator promised about every user of a region, recorded in
    /// the prologue's `flags` word; attach refuses unknown bits, and a host
    /// reads them once when it opens the region ([`probe_flags`]). A peer
    /// can rewrite the word like any other: a process that opens the region
    /// later may then wait in the other mode, which costs at worst a
    /// wake-up the waiter's timeout makes up for, as a peer scribbling on a
    /// doorbell word already can.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::region::{probe_flags, RegionFlags, TypeTag};
    /// use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// let flags = RegionFlags::FENCED_WAITERS;
    /// // SAFETY: `buf` outlives the region and is only used through it.
    /// unsafe { Region::init_with(buf.0.as_mut_ptr(), 2048, 4, 8, TypeTag::UNTYPED, flags) }?;
    /// assert_eq!(unsafe { probe_flags(buf.0.as_ptr(), 2048) }, Ok(flags));
    /// # Ok::<(), kipc_core::Error>(())
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RegionFlags: u32 {
        /// Every waiter on this region's doorbells issues a process-wide
        /// memory barrier (on Linux, `membarrier(GLOBAL_EXPEDITED)`)
        /// between announcing itself and re-checking, so notifiers may use
        /// [`Doorbell::ring_light`](crate::doorbell::Doorbell::ring_light):
        /// a plain load instead of a read-modify-write on the fast path.
        /// See "Asymmetric mode" in [`crate::doorbell`].
        const FENCED_WAITERS = 1;
    }
}

/// Alignment every region base must have (the index words sit on their own
/// 128-byte lines).
pub const REGION_ALIGN: usize = 128;

/// What a region holds, as stored in the prologue's `kind` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A single-producer single-consumer ring ([`crate::spsc::Region`]).
    Spsc,
    /// A multi-producer multi-consumer ring ([`crate::mpmc::Region`]).
    Mpmc,
    /// A mailbox.
    Mailbox,
}

impl Kind {
    /// The value stored in the prologue.
    pub const fn to_u32(self) -> u32 {
        match self {
            Kind::Spsc => 1,
            Kind::Mpmc => 2,
            Kind::Mailbox => 3,
        }
    }

    /// Decodes a stored value; `None` for anything else.
    pub const fn from_u32(v: u32) -> Option<Kind> {
        match v {
            1 => Some(Kind::Spsc),
            2 => Some(Kind::Mpmc),
            3 => Some(Kind::Mailbox),
            _ => None,
        }
    }

    /// A short lowercase name (`"spsc"`, `"mpmc"`, `"mailbox"`).
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Spsc => "spsc",
            Kind::Mpmc => "mpmc",
            Kind::Mailbox => "mailbox",
        }
    }
}

/// What one message of a typed queue is, as its creator recorded it in the
/// prologue: size, alignment and a 64-bit fingerprint of the type.
///
/// [`TypeTag::UNTYPED`] (all zero) marks a queue of plain bytes. The core
/// never interprets the fingerprint; two tags name the same message type when
/// they are equal.
///
/// # Examples
///
/// ```
/// use kipc_core::region::TypeTag;
/// let tag = TypeTag::new(16, 8, 0xfeed);
/// assert!(tag.is_typed() && !TypeTag::UNTYPED.is_typed());
/// assert_eq!(tag.check(64), Ok(()));
/// assert!(tag.check(8).is_err()); // a 16-byte message in an 8-byte slot
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TypeTag {
    /// Bytes of one message (`size_of::<T>()`); 0 = untyped.
    pub size: u32,
    /// Alignment of the type (`align_of::<T>()`); 0 when untyped.
    pub align: u32,
    /// The creator's fingerprint of the type; 0 when untyped.
    pub fingerprint: u64,
}

impl TypeTag {
    /// The tag of a queue of plain bytes.
    pub const UNTYPED: TypeTag = TypeTag {
        size: 0,
        align: 0,
        fingerprint: 0,
    };

    /// A tag with these fields (checked by [`check`](Self::check), not here).
    pub const fn new(size: u32, align: u32, fingerprint: u64) -> Self {
        Self {
            size,
            align,
            fingerprint,
        }
    }

    /// `false` for [`TypeTag::UNTYPED`].
    pub const fn is_typed(&self) -> bool {
        self.size != 0
    }

    /// Checks that the tag can describe messages in slots of `max_msg` bytes:
    /// either all zero (untyped), or a size in `1..=max_msg` with a
    /// power-of-two alignment of at most 4096.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidGeometry`] naming what is wrong (`init_typed` returns
    /// it; `attach` reports the same check as [`Error::BadLayout`]).
    pub const fn check(&self, max_msg: u32) -> Result<(), Error> {
        if self.size == 0 {
            if self.align == 0 && self.fingerprint == 0 {
                return Ok(());
            }
            return Err(Error::InvalidGeometry {
                what: "an untyped tag (size 0) must be all zero",
            });
        }
        if self.size > max_msg {
            return Err(Error::InvalidGeometry {
                what: "the message type is larger than a slot",
            });
        }
        if !self.align.is_power_of_two() || self.align > 4096 {
            return Err(Error::InvalidGeometry {
                what: "the message type's alignment is not a power of two <= 4096",
            });
        }
        Ok(())
    }
}

/// The first 32 bytes of every region. See the [module documentation](self).
#[derive(Debug)]
#[repr(C)]
pub struct Prologue {
    magic: AtomicU32,
    version: AtomicU32,
    kind: AtomicU32,
    flags: AtomicU32,
    elem_size: AtomicU32,
    elem_align: AtomicU32,
    fingerprint_lo: AtomicU32,
    fingerprint_hi: AtomicU32,
}

impl Prologue {
    /// A prologue for `kind` of messages `tag` with a zero magic: not yet
    /// published.
    pub(crate) fn unpublished(kind: Kind, tag: TypeTag, flags: RegionFlags) -> Self {
        Self {
            magic: AtomicU32::new(0),
            version: AtomicU32::new(LAYOUT_VERSION),
            kind: AtomicU32::new(kind.to_u32()),
            flags: AtomicU32::new(flags.bits()),
            elem_size: AtomicU32::new(tag.size),
            elem_align: AtomicU32::new(tag.align),
            fingerprint_lo: AtomicU32::new(tag.fingerprint as u32),
            fingerprint_hi: AtomicU32::new((tag.fingerprint >> 32) as u32),
        }
    }

    /// The recorded type tag, checked against slots of `max_msg` bytes (the
    /// attacher's step after its geometry checks).
    ///
    /// # Errors
    ///
    /// [`Error::BadLayout`] if [`TypeTag::check`] fails.
    pub(crate) fn type_tag(&self, max_msg: u32) -> Result<TypeTag, Error> {
        let tag = self.raw_type_tag();
        match tag.check(max_msg) {
            Ok(()) => Ok(tag),
            Err(_) => Err(Error::BadLayout {
                what: "recorded message type does not fit the layout",
            }),
        }
    }

    /// The recorded flags, refusing bits this build does not know (a
    /// promise it could not keep).
    ///
    /// # Errors
    ///
    /// [`Error::BadLayout`] for an unknown bit.
    pub(crate) fn flags(&self) -> Result<RegionFlags, Error> {
        RegionFlags::from_bits(self.flags.load(Ordering::Relaxed)).ok_or(Error::BadLayout {
            what: "unknown region flags",
        })
    }

    /// The recorded type tag as it is, unchecked.
    fn raw_type_tag(&self) -> TypeTag {
        TypeTag {
            size: self.elem_size.load(Ordering::Relaxed),
            align: self.elem_align.load(Ordering::Relaxed),
            fingerprint: u64::from(self.fingerprint_lo.load(Ordering::Relaxed))
                | u64::from(self.fingerprint_hi.load(Ordering::Relaxed)) << 32,
        }
    }

    /// Creator's last step: makes the fully written layout visible.
    pub(crate) fn publish(&self) {
        // SYNC: region publish. Pairs with the Acquire load in `validate`.
        self.magic.store(MAGIC, Ordering::Release);
    }

    /// Attacher's first step: checks magic, version and kind.
    pub(crate) fn validate(&self, expected: Kind) -> Result<(), Error> {
        let found = self.kind()?;
        if found != expected {
            return Err(Error::BadLayout {
                what: "region holds a different kind of object",
            });
        }
        self.flags().map(drop)
    }

    /// Reads the kind of a published region, checking magic and version.
    pub(crate) fn kind(&self) -> Result<Kind, Error> {
        // SYNC: region publish.
        match self.magic.load(Ordering::Acquire) {
            0 => return Err(Error::Uninitialized),
            MAGIC => {}
            _ => {
                return Err(Error::BadLayout {
                    what: "bad magic number",
                })
            }
        }
        if self.version.load(Ordering::Relaxed) != LAYOUT_VERSION {
            return Err(Error::BadLayout {
                what: "unsupported layout version",
            });
        }
        Kind::from_u32(self.kind.load(Ordering::Relaxed)).ok_or(Error::BadLayout {
            what: "unknown object kind",
        })
    }
}

/// Reads the kind of the object in a region without attaching to it (what
/// `kipc ls` uses to describe a segment).
///
/// # Errors
///
/// [`Error::RegionTooSmall`], [`Error::Misaligned`], [`Error::Uninitialized`]
/// or [`Error::BadLayout`].
///
/// # Safety
///
/// `base` must be valid for reads of `len` bytes for the duration of the call.
pub unsafe fn probe_kind(base: *const u8, len: usize) -> Result<Kind, Error> {
    check_memory(base, len, core::mem::size_of::<Prologue>())?;
    // SAFETY: `check_memory` verified that `base` is aligned and `len` covers a
    // Prologue; the caller promises the bytes are readable; every bit pattern is
    // a valid Prologue (four atomics).
    let prologue = unsafe { &*base.cast::<Prologue>() };
    prologue.kind()
}

/// Reads the kind and the recorded [`TypeTag`] of the object in a region
/// without attaching to it (what `kipc ls` shows). The tag is as the creator
/// (or a peer since) wrote it, unchecked: treat it as data.
///
/// # Errors
///
/// As [`probe_kind`].
///
/// # Safety
///
/// `base` must be valid for reads of `len` bytes for the duration of the call.
///
/// # Examples
///
/// ```
/// use kipc_core::region::{probe_type, Kind, TypeTag};
/// # #[repr(C, align(128))] struct Buf([u8; 2048]);
/// # let mut buf = Buf([0; 2048]);
/// let tag = TypeTag::new(8, 8, 42);
/// unsafe { kipc_core::spsc::Region::init_typed(buf.0.as_mut_ptr(), 2048, 4, 8, tag) }.unwrap();
/// let got = unsafe { probe_type(buf.0.as_ptr(), 2048) };
/// assert_eq!(got, Ok((Kind::Spsc, tag)));
/// ```
pub unsafe fn probe_type(base: *const u8, len: usize) -> Result<(Kind, TypeTag), Error> {
    check_memory(base, len, core::mem::size_of::<Prologue>())?;
    // SAFETY: as in `probe_kind`.
    let prologue = unsafe { &*base.cast::<Prologue>() };
    Ok((prologue.kind()?, prologue.raw_type_tag()))
}

/// Reads the [`RegionFlags`] of the object in a region without attaching to
/// it (what a host checks before it decides how to wait on the region's
/// doorbells). As data a peer can rewrite, it is read once.
///
/// # Errors
///
/// As [`probe_kind`], and [`Error::BadLayout`] for unknown flag bits.
///
/// # Safety
///
/// `base` must be valid for reads of `len` bytes for the duration of the call.
pub unsafe fn probe_flags(base: *const u8, len: usize) -> Result<RegionFlags, Error> {
    check_memory(base, len, core::mem::size_of::<Prologue>())?;
    // SAFETY: as in `probe_kind`.
    let prologue = unsafe { &*base.cast::<Prologue>() };
    prologue.kind()?;
    prologue.flags()
}

/// The creator's first step, shared by every layout: checks the memory can
/// hold `total` bytes and zeroes them, so no byte handed out later (a slot's
/// unwritten tail, padding) is uninitialised or left over from before.
///
/// # Safety
///
/// `base` must be valid for writes of `len` bytes, and nothing else may access
/// them during the call.
pub(crate) unsafe fn init_memory(base: *mut u8, len: usize, total: usize) -> Result<(), Error> {
    check_memory(base, len, total)?;
    // SAFETY: `check_memory` proved `len >= total`; the caller gives us
    // exclusive write access to those bytes.
    unsafe { core::ptr::write_bytes(base, 0, total) };
    Ok(())
}

/// The attacher's first step, shared by every layout: checks that the memory
/// holds a whole `H` (a header whose first field is a [`Prologue`]) and that
/// the prologue is published, of the current version and of `kind`.
///
/// # Safety
///
/// `base` must be valid for reads of `len` bytes for `'a`; `H` must be a
/// `#[repr(C)]` struct of atomics (every bit pattern valid) starting with a
/// [`Prologue`].
pub(crate) unsafe fn attach_header<'a, H>(
    base: *mut u8,
    len: usize,
    kind: Kind,
) -> Result<&'a H, Error> {
    check_memory(base, len, core::mem::size_of::<H>())?;
    // SAFETY: aligned (REGION_ALIGN covers every header), non-null and `len`
    // covers an `H` (checked above); the caller promises the bytes stay
    // readable for 'a and that every bit pattern is a valid `H`.
    let header = unsafe { &*base.cast::<H>() };
    // SAFETY: `H` starts with a Prologue (the caller's promise), which the
    // checked length covers.
    let prologue = unsafe { &*base.cast::<Prologue>() };
    prologue.validate(kind)?;
    Ok(header)
}

/// The attacher's last step, shared by every layout: the total length the
/// creator recorded must be the one the (checked) geometry implies, and the
/// memory must cover it.
pub(crate) fn check_recorded_total(
    recorded: u64,
    computed: usize,
    base: *const u8,
    len: usize,
) -> Result<(), Error> {
    if recorded != computed as u64 {
        return Err(Error::BadLayout {
            what: "recorded length does not match the geometry",
        });
    }
    check_memory(base, len, computed)
}

/// Write access to one reserved slot's payload, for the `try_send_with`
/// (write in place) of every region form. Hands out no reference into shared
/// memory: bytes go in through [`write_at`](SlotWriter::write_at).
///
/// # Examples
///
/// ```
/// # use kipc_core::spsc::Region;
/// # #[repr(C, align(128))] struct Buf([u8; 2048]);
/// # let mut buf = Buf([0; 2048]);
/// # let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 16) }.unwrap();
/// r.producer(1).unwrap().try_send_with(4, |w| {
///     assert_eq!(w.len(), 4);
///     w.write_at(0, &7u32.to_le_bytes()).unwrap();
/// }).unwrap();
/// ```
#[derive(Debug)]
pub struct SlotWriter<'a> {
    /// Start of the payload bytes, valid for `len` bytes of writes.
    payload: *mut u8,
    /// Length of the message being written (`<= slot_size`).
    len: usize,
    _slot: PhantomData<&'a mut [u8]>,
}

impl SlotWriter<'_> {
    /// A writer for `len` bytes at `payload`.
    ///
    /// # Safety
    ///
    /// `payload` must be valid for writes of `len` bytes for the writer's
    /// lifetime, reserved for the writer's sender.
    pub(crate) unsafe fn new(payload: *mut u8, len: usize) -> Self {
        Self {
            payload,
            len,
            _slot: PhantomData,
        }
    }
}

impl SlotWriter<'_> {
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
    /// # use kipc_core::{Error, spsc::Region};
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// # let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 16) }.unwrap();
    /// r.producer(1).unwrap().try_send_with(2, |w| {
    ///     assert_eq!(w.write_at(1, b"ab"), Err(Error::TooLarge { len: 3, max: 2 }));
    ///     assert_eq!(w.write_at(0, b"ab"), Ok(()));
    /// }).unwrap();
    /// ```
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<(), Error> {
        match offset.checked_add(bytes.len()) {
            Some(end) if end <= self.len => {}
            end => {
                return Err(Error::TooLarge {
                    len: end.unwrap_or(usize::MAX),
                    max: self.len,
                })
            }
        }
        // SAFETY: `offset + bytes.len() <= len <= slot_size`, so the
        // destination lies in the reserved slot's payload area.
        unsafe { copy_to_shared(bytes, self.payload.add(offset)) };
        Ok(())
    }

    /// Length of the message being written.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// # let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 16) }.unwrap();
    /// r.producer(1).unwrap().try_send_with(3, |w| assert_eq!(w.len(), 3)).unwrap();
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` for a zero-length message.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::spsc::Region;
    /// # #[repr(C, align(128))] struct Buf([u8; 2048]);
    /// # let mut buf = Buf([0; 2048]);
    /// # let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, 4, 16) }.unwrap();
    /// r.producer(1).unwrap().try_send_with(0, |w| assert!(w.is_empty())).unwrap();
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Checks that `len` bytes at `base` can hold `needed` bytes of a layout.
pub(crate) fn check_memory(base: *const u8, len: usize, needed: usize) -> Result<(), Error> {
    if base.is_null() || (base as usize) % REGION_ALIGN != 0 {
        return Err(Error::Misaligned {
            align: REGION_ALIGN,
        });
    }
    if len < needed {
        return Err(Error::RegionTooSmall { needed, got: len });
    }
    Ok(())
}

/// Rounds `n` up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) const fn round_up(n: usize, align: usize) -> Option<usize> {
    match n.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

/// Copies `dst.len()` bytes out of shared memory at `src`.
///
/// The peer may be writing those bytes at the same moment, so the copy may be
/// torn; callers validate what they copied (and re-check the index that owns
/// the slot) before trusting it. No reference into the shared bytes is formed,
/// and every access to them is a relaxed atomic load
/// ([`crate::sync::atomic_load_bytes`]), so a racing peer is not a data race.
///
/// One gap remains against the letter of Rust's memory model: a copy racing a
/// write of a *different* length (only a losing MPMC consumer's discarded
/// copy does that among honest parties) can meet the writer's 4-byte tail
/// piece with an 8-byte load, or the reverse: both atomic, but of different
/// sizes, which the model (and Miri) does not define. The whole-word forms
/// ([`crate::sync::atomic_load_words`]) close it at a cost measured there.
///
/// # Safety
///
/// `src` must be valid for reads of `dst.len()` bytes.
#[inline]
pub(crate) unsafe fn copy_from_shared(src: *const u8, dst: &mut [u8]) {
    // SAFETY: the caller guarantees `src` is readable for `dst.len()` bytes;
    // `dst` is private memory, exclusively borrowed; racing writes to `src`
    // are atomic (`copy_to_shared`).
    unsafe { crate::sync::atomic_load_bytes(src, dst.as_mut_ptr(), dst.len()) }
}

/// Copies `src` into shared memory at `dst`, as relaxed atomic stores
/// ([`crate::sync::atomic_store_bytes`]); bytes outside the range are never
/// written, not even rewritten.
///
/// # Safety
///
/// `dst` must be valid for writes of `src.len()` bytes.
#[inline]
pub(crate) unsafe fn copy_to_shared(src: &[u8], dst: *mut u8) {
    // SAFETY: the caller guarantees `dst` is writable for `src.len()` bytes;
    // `src` is private memory, borrowed shared, so nobody writes it.
    unsafe { crate::sync::atomic_store_bytes(src.as_ptr(), dst, src.len()) }
}

#[cfg(all(test, not(kipc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn prologue_is_thirty_two_bytes() {
        assert_eq!(core::mem::size_of::<Prologue>(), 32);
    }

    #[test]
    fn type_tag_is_recorded_and_checked() {
        let tag = TypeTag::new(12, 4, 0x0123_4567_89ab_cdef);
        let p = Prologue::unpublished(Kind::Spsc, tag, RegionFlags::empty());
        assert_eq!(p.type_tag(12), Ok(tag));
        assert!(matches!(p.type_tag(11), Err(Error::BadLayout { .. })));
        let untyped = Prologue::unpublished(Kind::Spsc, TypeTag::UNTYPED, RegionFlags::empty());
        assert_eq!(untyped.type_tag(1), Ok(TypeTag::UNTYPED));
        for bad in [
            TypeTag::new(0, 4, 0),
            TypeTag::new(0, 0, 9),
            TypeTag::new(8, 3, 1),
            TypeTag::new(8, 0, 1),
            TypeTag::new(8, 8192, 1),
        ] {
            assert!(bad.check(64).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kind_round_trips_and_rejects_unknown() {
        for k in [Kind::Spsc, Kind::Mpmc, Kind::Mailbox] {
            assert_eq!(Kind::from_u32(k.to_u32()), Some(k));
        }
        assert_eq!(Kind::from_u32(0), None);
        assert_eq!(Kind::from_u32(u32::MAX), None);
    }

    #[test]
    fn unpublished_prologue_reads_as_uninitialized() {
        let p = Prologue::unpublished(Kind::Spsc, TypeTag::UNTYPED, RegionFlags::empty());
        assert_eq!(p.validate(Kind::Spsc), Err(Error::Uninitialized));
        p.publish();
        assert_eq!(p.validate(Kind::Spsc), Ok(()));
        assert!(matches!(
            p.validate(Kind::Mpmc),
            Err(Error::BadLayout { .. })
        ));
    }

    #[test]
    fn flags_are_recorded_and_unknown_bits_refused() {
        let p = Prologue::unpublished(Kind::Spsc, TypeTag::UNTYPED, RegionFlags::FENCED_WAITERS);
        p.publish();
        assert_eq!(p.flags(), Ok(RegionFlags::FENCED_WAITERS));
        assert_eq!(p.validate(Kind::Spsc), Ok(()));
        // A bit this build does not know is a promise it cannot keep.
        p.flags.store(
            RegionFlags::FENCED_WAITERS.bits() | 1 << 7,
            Ordering::Relaxed,
        );
        assert!(matches!(p.flags(), Err(Error::BadLayout { .. })));
        assert!(matches!(
            p.validate(Kind::Spsc),
            Err(Error::BadLayout { .. })
        ));
    }

    #[test]
    fn check_memory_rejects_small_and_misaligned() {
        #[repr(align(128))]
        struct Buf([u8; 256]);
        let b = Buf([0; 256]);
        let p = b.0.as_ptr();
        assert_eq!(check_memory(p, 256, 256), Ok(()));
        assert_eq!(
            check_memory(p, 100, 256),
            Err(Error::RegionTooSmall {
                needed: 256,
                got: 100
            })
        );
        assert_eq!(
            check_memory(p.wrapping_add(8), 200, 16),
            Err(Error::Misaligned {
                align: REGION_ALIGN
            })
        );
        assert_eq!(
            check_memory(core::ptr::null(), 200, 16),
            Err(Error::Misaligned {
                align: REGION_ALIGN
            })
        );
    }

    /// The two pairs of copies under test: the byte-precise ones the regions
    /// and `Mapping::read`/`write` use, and the whole-word ones.
    type Load = unsafe fn(*const u8, *mut u8, usize);
    type Store = unsafe fn(*const u8, *mut u8, usize);
    const COPIES: [(&str, Load, Store); 2] = [
        (
            "words",
            crate::sync::atomic_load_words,
            crate::sync::atomic_store_words,
        ),
        (
            "bytes",
            crate::sync::atomic_load_bytes,
            crate::sync::atomic_store_bytes,
        ),
    ];

    /// Every (source offset, destination offset, length) combination around
    /// a few words copies exactly the bytes asked for, both ways, and changes
    /// nothing outside them.
    #[test]
    fn shared_copies_move_exact_bytes_at_every_alignment() {
        #[repr(align(8))]
        struct Words([u8; 64]);
        let pattern: [u8; 64] = core::array::from_fn(|i| i as u8 ^ 0x5a);
        for (name, load, store) in COPIES {
            for off in 0..9 {
                for len in 0..40 {
                    let mut shared = Words([0xee; 64]);
                    // SAFETY: `off + len <= 48 < 64`, inside `shared`, whose
                    // words nobody else touches.
                    unsafe { store(pattern.as_ptr(), shared.0.as_mut_ptr().add(off), len) };
                    let at = (name, off, len);
                    assert!(shared.0[..off].iter().all(|&b| b == 0xee), "{at:?}");
                    assert_eq!(&shared.0[off..off + len], &pattern[..len], "{at:?}");
                    assert!(shared.0[off + len..].iter().all(|&b| b == 0xee), "{at:?}");
                    for doff in 0..3 {
                        let mut out = [0x11u8; 48];
                        // SAFETY: as above; `out` has room for `doff + len`.
                        unsafe {
                            load(
                                shared.0.as_mut_ptr().add(off),
                                out.as_mut_ptr().add(doff),
                                len,
                            )
                        };
                        assert!(out[..doff].iter().all(|&b| b == 0x11), "{at:?}");
                        assert_eq!(&out[doff..doff + len], &pattern[..len], "{at:?}");
                        assert!(out[doff + len..].iter().all(|&b| b == 0x11), "{at:?}");
                    }
                }
            }
        }
        // The region helpers copy the same bytes.
        let mut shared = Words([0; 64]);
        let mut out = [0u8; 13];
        // SAFETY: inside `shared`.
        unsafe {
            copy_to_shared(&pattern[..13], shared.0.as_mut_ptr().add(4));
            copy_from_shared(shared.0.as_mut_ptr().add(4), &mut out);
        }
        assert_eq!(out, pattern[..13]);
    }

    /// A writer thread keeps rewriting shared bytes while a reader copies
    /// them: each byte read is one that was written (a torn copy, never other
    /// bytes), and the race is not undefined behaviour. Under Miri
    /// (`cargo +nightly miri test -p kipc-core --lib shared_copy_racing`)
    /// these reported a data race while the region copies were
    /// `copy_nonoverlapping`.
    ///
    /// `(load, store, writer lengths, reader length)`: the region helpers
    /// race on one range (a peer rewriting the slot we copy); the whole-word
    /// forms also with different lengths (what a losing MPMC consumer meets),
    /// which the byte-precise forms turn into a mixed-size race Miri rejects.
    fn race(load: Load, store: Store, lens: [usize; 2], read: usize) {
        extern crate std;
        #[repr(align(8))]
        struct Shared(crate::sync::UnsafeCell<[u8; 48]>);
        // SAFETY: every access to the bytes goes through the atomic copies.
        unsafe impl Sync for Shared {}
        impl Shared {
            fn ptr(&self) -> *mut u8 {
                self.0.with_mut(|p| p.cast::<u8>())
            }
        }
        let shared = Shared(crate::sync::UnsafeCell::new([0xaa; 48]));
        let stop = crate::test_util::PanicFlag::new();
        let rounds = if cfg!(miri) { 30 } else { 20_000 };
        std::thread::scope(|s| {
            let _stop = crate::test_util::StopOnDrop(&stop);
            s.spawn(|| {
                let ptr = shared.ptr().wrapping_add(4);
                let (a, b) = ([0xaau8; 44], [0x55u8; 44]);
                let mut flip = false;
                while !stop.raised() {
                    let msg = if flip { &a[..lens[0]] } else { &b[..lens[1]] };
                    // SAFETY: `ptr + 44` is the end of `shared`, valid for the
                    // scope; only this thread writes.
                    unsafe { store(msg.as_ptr(), ptr, msg.len()) };
                    flip = !flip;
                }
            });
            let ptr = shared.ptr().wrapping_add(4);
            for _ in 0..rounds {
                let mut out = [0u8; 44];
                // SAFETY: as above.
                unsafe { load(ptr, out.as_mut_ptr(), read) };
                let out = &out[..read];
                assert!(out.iter().all(|&b| b == 0xaa || b == 0x55), "{out:?}");
            }
        });
    }

    #[test]
    fn shared_copy_racing_a_writer_reads_only_written_bytes() {
        /// The region helpers, in the `Load`/`Store` shape.
        unsafe fn load(src: *const u8, dst: *mut u8, len: usize) {
            // SAFETY: forwarded; `dst` is the test's private buffer.
            unsafe { copy_from_shared(src, core::slice::from_raw_parts_mut(dst, len)) }
        }
        /// See `load`.
        unsafe fn store(src: *const u8, dst: *mut u8, len: usize) {
            // SAFETY: forwarded; `src` is the test's private message.
            unsafe { copy_to_shared(core::slice::from_raw_parts(src, len), dst) }
        }
        race(load, store, [43, 43], 43);
    }

    #[test]
    fn shared_copy_racing_a_writer_of_other_lengths_in_whole_words() {
        race(
            crate::sync::atomic_load_words,
            crate::sync::atomic_store_words,
            [44, 11],
            21,
        );
    }

    #[test]
    fn round_up_handles_overflow() {
        assert_eq!(round_up(0, 8), Some(0));
        assert_eq!(round_up(9, 8), Some(16));
        assert_eq!(round_up(usize::MAX, 8), None);
    }
}
