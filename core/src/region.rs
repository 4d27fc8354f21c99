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
//! | 12     | `flags`   | creator, before `magic`    | reserved, 0                      |
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
//! behaviour. Payload bytes are copied with [`copy_from_shared`] into private
//! memory before anything looks at them.

use core::marker::PhantomData;

use crate::sync::{AtomicU32, Ordering};
use crate::Error;

/// `b"KIPC"` read as a little-endian `u32`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"KIPC");

/// Version of every region layout in this crate; bumped on any layout change.
///
/// 2: an SPSC endpoint's state word carries a claim generation
/// ([`crate::spsc::Endpoint`]).
pub const LAYOUT_VERSION: u32 = 2;

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

/// The first 16 bytes of every region. See the [module documentation](self).
#[derive(Debug)]
#[repr(C)]
pub struct Prologue {
    magic: AtomicU32,
    version: AtomicU32,
    kind: AtomicU32,
    flags: AtomicU32,
}

impl Prologue {
    /// A prologue for `kind` with a zero magic: not yet published.
    pub(crate) fn unpublished(kind: Kind) -> Self {
        Self {
            magic: AtomicU32::new(0),
            version: AtomicU32::new(LAYOUT_VERSION),
            kind: AtomicU32::new(kind.to_u32()),
            flags: AtomicU32::new(0),
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
        Ok(())
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
/// the slot) before trusting it. No reference into the shared bytes is formed.
///
/// # Safety
///
/// `src` must be valid for reads of `dst.len()` bytes.
#[inline]
pub(crate) unsafe fn copy_from_shared(src: *const u8, dst: &mut [u8]) {
    // SAFETY: the caller guarantees `src` is readable for `dst.len()` bytes;
    // `dst` is private memory, so the ranges cannot overlap.
    unsafe { core::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) }
}

/// Copies `src` into shared memory at `dst`.
///
/// # Safety
///
/// `dst` must be valid for writes of `src.len()` bytes.
#[inline]
pub(crate) unsafe fn copy_to_shared(src: &[u8], dst: *mut u8) {
    // SAFETY: the caller guarantees `dst` is writable for `src.len()` bytes;
    // `src` is private memory, so the ranges cannot overlap.
    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) }
}

#[cfg(all(test, not(kipc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn prologue_is_sixteen_bytes() {
        assert_eq!(core::mem::size_of::<Prologue>(), 16);
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
        let p = Prologue::unpublished(Kind::Spsc);
        assert_eq!(p.validate(Kind::Spsc), Err(Error::Uninitialized));
        p.publish();
        assert_eq!(p.validate(Kind::Spsc), Ok(()));
        assert!(matches!(
            p.validate(Kind::Mpmc),
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

    #[test]
    fn round_up_handles_overflow() {
        assert_eq!(round_up(0, 8), Some(0));
        assert_eq!(round_up(9, 8), Some(16));
        assert_eq!(round_up(usize::MAX, 8), None);
    }
}
