//! The one place kipc-core gets its atomics, cells, fences and spin hints.
//!
//! Normally these are `core`'s own types. Built with `RUSTFLAGS="--cfg kipc_loom"`
//! they are [loom]'s, so the loom models in `loom-tests/` explore every
//! interleaving of the *real* ring, doorbell and signal code rather than of a
//! copy. The cfg is prefixed (`kipc_loom`, not `loom`) so that it does not flip
//! dependencies that react to a plain `cfg(loom)`.
//!
//! `core/clippy.toml` forbids naming `core::sync::atomic`, `core::cell::UnsafeCell`
//! or `core::hint::spin_loop` anywhere else in the crate.
//!
//! Other crates (the host's futex calls, for instance) name these types through
//! this module too, so a doorbell word handed to `futex(2)` is the same type the
//! core wrote it with.
//!
//! [loom]: https://docs.rs/loom
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

/// Defines a function that is `const` in normal builds and plain under loom,
/// whose atomics and cells have no `const` constructors.
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(kipc_loom))]
        $(#[$attr])* $vis const fn $($rest)*
        #[cfg(kipc_loom)]
        $(#[$attr])* $vis fn $($rest)*
    };
}
pub(crate) use const_fn;

#[cfg(not(kipc_loom))]
use core::sync::atomic as imp;
#[cfg(kipc_loom)]
use loom::sync::atomic as imp;

pub use imp::Ordering;

/// An atomic fence (loom's under `cfg(kipc_loom)`). A wrapper rather than a
/// re-export so that `core/clippy.toml` can forbid the raw one elsewhere.
#[inline(always)]
pub fn fence(order: Ordering) {
    imp::fence(order);
}

/// Declares a transparent newtype over the platform (or loom) atomic.
///
/// The newtypes exist so that `core/clippy.toml` can forbid the raw
/// `core::sync::atomic` types everywhere in the crate (a plain re-export would
/// be the same type, and clippy could not tell the two apart). They `Deref` to
/// the wrapped atomic, so every method (`load`, `fetch_add`, ...) is the real
/// one, and `&AtomicU32` derefs to the `&core::sync::atomic::AtomicU32` that
/// `futex(2)` wrappers such as rustix's take.
macro_rules! atomic_newtype {
    ($(#[$doc:meta])* $name:ident($prim:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        #[repr(transparent)]
        pub struct $name(imp::$name);

        impl $name {
            const_fn! {
                /// A new atomic holding `v`.
                #[inline(always)]
                pub fn new(v: $prim) -> Self {
                    Self(imp::$name::new(v))
                }
            }
        }

        impl core::ops::Deref for $name {
            type Target = imp::$name;
            #[inline(always)]
            fn deref(&self) -> &imp::$name {
                &self.0
            }
        }
    };
}

atomic_newtype!(
    /// An `AtomicBool` (loom's under `cfg(kipc_loom)`).
    AtomicBool(bool)
);
atomic_newtype!(
    /// An `AtomicU32` (loom's under `cfg(kipc_loom)`); doorbell words are these.
    AtomicU32(u32)
);
atomic_newtype!(
    /// An `AtomicU64` (loom's under `cfg(kipc_loom)`).
    AtomicU64(u64)
);
atomic_newtype!(
    /// An `AtomicUsize` (loom's under `cfg(kipc_loom)`).
    AtomicUsize(usize)
);

/// A hint that the caller is spinning; under loom, a yield so the model can
/// schedule the thread being waited for.
#[inline(always)]
pub fn spin_loop() {
    #[cfg(not(kipc_loom))]
    core::hint::spin_loop();
    #[cfg(kipc_loom)]
    loom::thread::yield_now();
}

/// An `UnsafeCell` with loom's closure-based access API.
///
/// Under `cfg(kipc_loom)` it is `loom::cell::UnsafeCell`, which checks every
/// access for data races; otherwise it is a zero-cost wrapper around
/// `core::cell::UnsafeCell`.
#[cfg(not(kipc_loom))]
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

#[cfg(not(kipc_loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    #[inline(always)]
    pub const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }
}

#[cfg(not(kipc_loom))]
impl<T: ?Sized> UnsafeCell<T> {
    /// Calls `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable raw pointer to the contents.
    #[inline(always)]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(kipc_loom)]
pub use loom::cell::UnsafeCell;

/// Aligns and pads a value to 128 bytes: two 64-byte lines, because x86-64's
/// adjacent-line prefetcher pulls cache lines in pairs. Keeping a producer-owned
/// word and a consumer-owned word in different `CachePadded`s stops the two
/// cores from stealing one line back and forth (false sharing).
#[derive(Debug, Default)]
#[repr(C, align(128))]
pub struct CachePadded<T>(pub T);

impl<T> CachePadded<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Self(value)
    }
}

impl<T> core::ops::Deref for CachePadded<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Copies `len` bytes out of shared memory at `src` into private memory at
/// `dst`, as relaxed atomic loads: a racing writer in another thread or
/// process makes the copy torn, never undefined behaviour.
///
/// This is the load half of RFC 3301's `AtomicPerByte`, built the way the
/// `atomic-memcpy` crate builds it: the bytes before the first 8-byte boundary
/// of `src` are loaded as `AtomicU8`/`AtomicU16`/`AtomicU32` (whichever the
/// address allows), the aligned middle as `AtomicU64` words (plain `mov`s on
/// x86-64 and aarch64), the tail like the head. Access sizes are chosen by the
/// *absolute* address, so two copies of the same byte range always use the
/// same sizes. What the current memory model still calls a race is a racing
/// writer and reader that split the partial word at a range's end
/// differently (both accesses atomic, of different sizes); that needs a copy
/// racing a write of a different length, which only a misbehaving peer or a
/// copy that is about to be discarded (a losing MPMC consumer) does, and
/// RFC 3301's per-byte semantics define it.
///
/// Under `cfg(kipc_loom)` this is a plain copy: loom cannot model atomics laid
/// over raw bytes, and the models never race on payload bytes.
///
/// # Safety
///
/// `src` must be valid for reads and `dst` valid for writes of `len` bytes;
/// every access to `src..src+len` that may race with this one must be atomic
/// (another of these copies, or an atomic of the shim); `dst` must not be
/// accessed by anyone else during the call. Atomics are interior mutability,
/// so `src` must not be derived from a shared reference to plain bytes
/// (`&[u8]`): derive it from a `*mut u8` (a mapping, an `UnsafeCell`).
#[inline]
pub unsafe fn atomic_load_bytes(src: *const u8, dst: *mut u8, len: usize) {
    #[cfg(not(kipc_loom))]
    // SAFETY: forwarded from this function's contract.
    unsafe {
        per_word::load(src, dst, len)
    };
    #[cfg(kipc_loom)]
    // SAFETY: forwarded from this function's contract; the models never race
    // on payload bytes, so a plain copy is the same operation there.
    unsafe {
        core::ptr::copy_nonoverlapping(src, dst, len)
    };
}

/// Copies `len` bytes from private memory at `src` into shared memory at
/// `dst`, as relaxed atomic stores (the store half of
/// [`atomic_load_bytes`]; same access sizes, same caveats).
///
/// # Safety
///
/// `src` must be valid for reads and `dst` valid for writes of `len` bytes;
/// every access to `dst..dst+len` that may race with this one must be atomic;
/// `src` must not be written by anyone else during the call.
#[inline]
pub unsafe fn atomic_store_bytes(src: *const u8, dst: *mut u8, len: usize) {
    #[cfg(not(kipc_loom))]
    // SAFETY: forwarded from this function's contract.
    unsafe {
        per_word::store(src, dst, len)
    };
    #[cfg(kipc_loom)]
    // SAFETY: forwarded from this function's contract; see `atomic_load_bytes`.
    unsafe {
        core::ptr::copy_nonoverlapping(src, dst, len)
    };
}

/// Copies `len` bytes out of shared memory at `src` into private memory at
/// `dst` using *only* whole, aligned word loads (`AtomicU64`, or `AtomicU32`
/// where 64-bit atomics are missing): the partial words at either end of the
/// range are loaded whole and only the wanted bytes kept.
///
/// When every copy in or out of an area uses these word forms, all accesses
/// to it are the same aligned words with the same size, so even a copy
/// racing a write of a different length (a losing MPMC consumer, a
/// misbehaving peer) is a race between same-size atomics, which Rust's
/// memory model allows, rather than a mixed-size one, which it does not
/// (Miri reports the latter).
///
/// The price is in the store half: a partial word is loaded before it is
/// stored, and when the peer's core holds that cache line the load stalls
/// the writer for a whole line transfer before its later stores (the
/// publishing index) can retire. On the `kipc bench` SPSC spin row (64-byte
/// messages and small acknowledgements, payloads 4 bytes into a word) that
/// made a round trip 1.6-1.9x slower, so the region forms use the
/// byte-precise [`atomic_load_bytes`]/[`atomic_store_bytes`] instead.
///
/// Under `cfg(kipc_loom)` this is a plain copy, as [`atomic_load_bytes`].
///
/// # Safety
///
/// As [`atomic_load_bytes`], and in addition the aligned words that overlap
/// `src..src+len` must be readable, inside the same allocation, and written
/// only by whole-word atomic stores (this function's counterpart) when they
/// may race with this load.
#[inline]
pub unsafe fn atomic_load_words(src: *const u8, dst: *mut u8, len: usize) {
    #[cfg(not(kipc_loom))]
    // SAFETY: forwarded from this function's contract.
    unsafe {
        per_word::load_words(src, dst, len)
    };
    #[cfg(kipc_loom)]
    // SAFETY: forwarded from this function's contract; see `atomic_load_bytes`.
    unsafe {
        core::ptr::copy_nonoverlapping(src, dst, len)
    };
}

/// Copies `len` bytes from private memory at `src` into shared memory at
/// `dst` using only whole, aligned word stores: a partial word at either end
/// is loaded, the new bytes merged in, and stored whole (the store half of
/// [`atomic_load_words`]).
///
/// The load and store of a partial word are not one atomic step: a byte
/// outside the range in that word that someone else writes in between is
/// overwritten with the value loaded. In a region slot only the slot's one
/// writer writes any byte of its payload words, so nothing is lost.
///
/// # Safety
///
/// As [`atomic_store_bytes`], and in addition the aligned words that overlap
/// `dst..dst+len` must be readable and writable, inside the same allocation,
/// and nobody else may write their bytes outside the range during the call.
#[inline]
pub unsafe fn atomic_store_words(src: *const u8, dst: *mut u8, len: usize) {
    #[cfg(not(kipc_loom))]
    // SAFETY: forwarded from this function's contract.
    unsafe {
        per_word::store_words(src, dst, len)
    };
    #[cfg(kipc_loom)]
    // SAFETY: forwarded from this function's contract; see `atomic_load_bytes`.
    unsafe {
        core::ptr::copy_nonoverlapping(src, dst, len)
    };
}

/// The per-word copies behind [`atomic_load_bytes`] and
/// [`atomic_store_bytes`] (and their whole-word
/// forms).
#[cfg(not(kipc_loom))]
mod per_word {
    use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU8, Ordering::Relaxed};

    /// The widest atomic every target we build for has, and its size.
    #[cfg(target_has_atomic = "64")]
    type Word = core::sync::atomic::AtomicU64;
    #[cfg(target_has_atomic = "64")]
    type Prim = u64;
    #[cfg(not(target_has_atomic = "64"))]
    type Word = AtomicU32;
    #[cfg(not(target_has_atomic = "64"))]
    type Prim = u32;
    const W: usize = core::mem::size_of::<Prim>();

    /// Loads the head or tail piece at `s + i` whose size `n` (1, 2 or 4)
    /// the absolute address allows, and stores it unaligned at `d + i`.
    ///
    /// # Safety
    ///
    /// `s + i .. s + i + n` readable and `n`-aligned; `d + i ..` writable.
    #[inline(always)]
    unsafe fn load_piece(s: *const u8, d: *mut u8, i: usize, n: usize) {
        // SAFETY: (all three arms) the caller guarantees `s + i` is readable
        // for `n` bytes and aligned to `n`, which is what each atomic type
        // needs; `d + i` is private and written unaligned.
        unsafe {
            match n {
                1 => *d.add(i) = (*s.add(i).cast::<AtomicU8>()).load(Relaxed),
                2 => d
                    .add(i)
                    .cast::<u16>()
                    .write_unaligned((*s.add(i).cast::<AtomicU16>()).load(Relaxed)),
                _ => d
                    .add(i)
                    .cast::<u32>()
                    .write_unaligned((*s.add(i).cast::<AtomicU32>()).load(Relaxed)),
            }
        }
    }

    /// The store counterpart of [`load_piece`].
    ///
    /// # Safety
    ///
    /// `d + i .. d + i + n` writable and `n`-aligned; `s + i ..` readable.
    #[inline(always)]
    unsafe fn store_piece(s: *const u8, d: *mut u8, i: usize, n: usize) {
        // SAFETY: (all three arms) the caller guarantees `d + i` is writable
        // for `n` bytes and aligned to `n`; `s + i` is private, read unaligned.
        unsafe {
            match n {
                1 => (*d.add(i).cast::<AtomicU8>()).store(*s.add(i), Relaxed),
                2 => (*d.add(i).cast::<AtomicU16>())
                    .store(s.add(i).cast::<u16>().read_unaligned(), Relaxed),
                _ => (*d.add(i).cast::<AtomicU32>())
                    .store(s.add(i).cast::<u32>().read_unaligned(), Relaxed),
            }
        }
    }

    /// The largest piece (1, 2 or 4 bytes) that starts at `addr`, fits in
    /// `left` bytes and does not cross the next `W` boundary.
    #[inline(always)]
    fn piece(addr: usize, left: usize) -> usize {
        let mut n = 4;
        while n > 1 && (addr % n != 0 || n > left) {
            n /= 2;
        }
        n
    }

    /// See [`super::atomic_load_bytes`].
    ///
    /// # Safety
    ///
    /// As [`super::atomic_load_bytes`].
    #[inline]
    pub(super) unsafe fn load(s: *const u8, d: *mut u8, len: usize) {
        let mut i = 0;
        // Head: up to the first W-aligned address of the shared side.
        while i < len && (s as usize + i) % W != 0 {
            let n = piece(s as usize + i, len - i);
            // SAFETY: `i + n <= len`, and `piece` chose an `n`-aligned address.
            unsafe { load_piece(s, d, i, n) };
            i += n;
        }
        // Body: whole aligned words, four a round (atomic loads cannot be
        // merged or vectorised, so unrolling is what keeps the loop cheap).
        while len - i >= 4 * W {
            // SAFETY: `s + i` is W-aligned (the head loop ended there) and
            // `i + 4W <= len`; `d + i` is private and written unaligned.
            unsafe {
                let a: Prim = (*s.add(i).cast::<Word>()).load(Relaxed);
                let b: Prim = (*s.add(i + W).cast::<Word>()).load(Relaxed);
                let c: Prim = (*s.add(i + 2 * W).cast::<Word>()).load(Relaxed);
                let e: Prim = (*s.add(i + 3 * W).cast::<Word>()).load(Relaxed);
                d.add(i).cast::<Prim>().write_unaligned(a);
                d.add(i + W).cast::<Prim>().write_unaligned(b);
                d.add(i + 2 * W).cast::<Prim>().write_unaligned(c);
                d.add(i + 3 * W).cast::<Prim>().write_unaligned(e);
            }
            i += 4 * W;
        }
        while len - i >= W {
            // SAFETY: `s + i` is W-aligned (the head loop ended there) and
            // `i + W <= len`; `d + i` is private and written unaligned.
            unsafe {
                let w: Prim = (*s.add(i).cast::<Word>()).load(Relaxed);
                d.add(i).cast::<Prim>().write_unaligned(w);
            }
            i += W;
        }
        // Tail: what is left of the last, partial word.
        while i < len {
            let n = piece(s as usize + i, len - i);
            // SAFETY: as for the head.
            unsafe { load_piece(s, d, i, n) };
            i += n;
        }
    }

    /// See [`super::atomic_store_bytes`].
    ///
    /// # Safety
    ///
    /// As [`super::atomic_store_bytes`].
    #[inline]
    pub(super) unsafe fn store(s: *const u8, d: *mut u8, len: usize) {
        let mut i = 0;
        while i < len && (d as usize + i) % W != 0 {
            let n = piece(d as usize + i, len - i);
            // SAFETY: `i + n <= len`, and `piece` chose an `n`-aligned address.
            unsafe { store_piece(s, d, i, n) };
            i += n;
        }
        while len - i >= 4 * W {
            // SAFETY: `d + i` is W-aligned and `i + 4W <= len`; `s + i` is
            // private and read unaligned.
            unsafe {
                let a = s.add(i).cast::<Prim>().read_unaligned();
                let b = s.add(i + W).cast::<Prim>().read_unaligned();
                let c = s.add(i + 2 * W).cast::<Prim>().read_unaligned();
                let e = s.add(i + 3 * W).cast::<Prim>().read_unaligned();
                (*d.add(i).cast::<Word>()).store(a, Relaxed);
                (*d.add(i + W).cast::<Word>()).store(b, Relaxed);
                (*d.add(i + 2 * W).cast::<Word>()).store(c, Relaxed);
                (*d.add(i + 3 * W).cast::<Word>()).store(e, Relaxed);
            }
            i += 4 * W;
        }
        while len - i >= W {
            // SAFETY: `d + i` is W-aligned and `i + W <= len`; `s + i` is
            // private and read unaligned.
            unsafe {
                let w = s.add(i).cast::<Prim>().read_unaligned();
                (*d.add(i).cast::<Word>()).store(w, Relaxed);
            }
            i += W;
        }
        while i < len {
            let n = piece(d as usize + i, len - i);
            // SAFETY: as for the head.
            unsafe { store_piece(s, d, i, n) };
            i += n;
        }
    }

    /// Where a piece of `m` bytes at byte `k` of an `n`-byte little value
    /// sits, in bits: values are built so that a piece read natively from
    /// memory and shifted by this lands where a whole-word load would put it.
    #[inline(always)]
    const fn piece_shift(k: usize, m: usize, n: usize) -> u32 {
        if cfg!(target_endian = "little") {
            (8 * k) as u32
        } else {
            (8 * (n - m - k)) as u32
        }
    }

    /// The `n < W` private bytes at `p` as a value whose bytes sit where a
    /// native load of them would put them, read in 4-, 2- and 1-byte pieces
    /// (no stack buffer, no `memcpy` call).
    ///
    /// # Safety
    ///
    /// `p` readable for `n` bytes.
    #[inline(always)]
    unsafe fn read_priv(p: *const u8, n: usize) -> Prim {
        let mut v: Prim = 0;
        let mut k = 0;
        // SAFETY: (all three) `k + piece <= n`, inside the caller's range.
        unsafe {
            if W > 4 && n & 4 != 0 {
                v |= (p.add(k).cast::<u32>().read_unaligned() as Prim) << piece_shift(k, 4, n);
                k += 4;
            }
            if n & 2 != 0 {
                v |= (p.add(k).cast::<u16>().read_unaligned() as Prim) << piece_shift(k, 2, n);
                k += 2;
            }
            if n & 1 != 0 {
                v |= (*p.add(k) as Prim) << piece_shift(k, 1, n);
            }
        }
        v
    }

    /// The inverse of [`read_priv`]: writes the `n < W` bytes of `v` to `p`.
    ///
    /// # Safety
    ///
    /// `p` writable for `n` bytes.
    #[inline(always)]
    unsafe fn write_priv(p: *mut u8, v: Prim, n: usize) {
        let mut k = 0;
        // SAFETY: (all three) `k + piece <= n`, inside the caller's range.
        unsafe {
            if W > 4 && n & 4 != 0 {
                p.add(k)
                    .cast::<u32>()
                    .write_unaligned((v >> piece_shift(k, 4, n)) as u32);
                k += 4;
            }
            if n & 2 != 0 {
                p.add(k)
                    .cast::<u16>()
                    .write_unaligned((v >> piece_shift(k, 2, n)) as u16);
                k += 2;
            }
            if n & 1 != 0 {
                *p.add(k) = (v >> piece_shift(k, 1, n)) as u8;
            }
        }
    }

    /// Shift that moves an `n`-byte value (as [`read_priv`] builds it) to
    /// bytes `off..off + n` of a word.
    #[inline(always)]
    const fn place_shift(off: usize, n: usize) -> u32 {
        if cfg!(target_endian = "little") {
            (8 * off) as u32
        } else {
            (8 * (W - n - off)) as u32
        }
    }

    /// Mask of bytes `off..off + n` (`n < W`) of a word.
    #[inline(always)]
    const fn mask(off: usize, n: usize) -> Prim {
        (((1 as Prim) << (8 * n)) - 1) << place_shift(off, n)
    }

    /// Loads the whole aligned word at `w` and writes its bytes
    /// `off..off + n` (`n < W`) to private `d`.
    ///
    /// # Safety
    ///
    /// `w` aligned, readable, written only atomically; `d` writable for `n`.
    #[inline(always)]
    unsafe fn load_partial(w: *const u8, off: usize, d: *mut u8, n: usize) {
        // SAFETY: the caller's contract.
        unsafe {
            let word: Prim = (*w.cast::<Word>()).load(Relaxed);
            write_priv(d, word >> place_shift(off, n), n);
        }
    }

    /// Merges private `s[..n]` into bytes `off..off + n` (`n < W`) of the
    /// aligned word at `w`: a relaxed load, then a relaxed store of the whole
    /// word. (A `fetch_and` instead of the load measured slower still.)
    ///
    /// # Safety
    ///
    /// `w` aligned, readable and writable, its other bytes written by nobody
    /// else meanwhile; `s` readable for `n`.
    #[inline(always)]
    unsafe fn store_partial(s: *const u8, w: *mut u8, off: usize, n: usize) {
        // SAFETY: the caller's contract.
        unsafe {
            let word = &*w.cast::<Word>();
            let m = mask(off, n);
            let old: Prim = word.load(Relaxed);
            word.store(
                (old & !m) | (read_priv(s, n) << place_shift(off, n)),
                Relaxed,
            );
        }
    }

    /// See [`super::atomic_load_words`].
    ///
    /// # Safety
    ///
    /// As [`super::atomic_load_words`].
    #[inline]
    pub(super) unsafe fn load_words(s: *const u8, d: *mut u8, len: usize) {
        let mut i = 0;
        let off = s as usize % W;
        if off != 0 && len != 0 {
            let n = (W - off).min(len);
            // SAFETY: the aligned word holding `s` is readable and in the same
            // allocation (the caller's contract); `d..d+n` is private.
            unsafe { load_partial(s.wrapping_sub(off), off, d, n) };
            i = n;
        }
        // Four words a round, then single words: the loads cannot be merged
        // (they are atomics), so unrolling is what keeps the loop cheap.
        while len - i >= 4 * W {
            // SAFETY: `s + i` is W-aligned and `i + 4W <= len`; `d + i` is
            // private and written unaligned.
            unsafe {
                let a: Prim = (*s.add(i).cast::<Word>()).load(Relaxed);
                let b: Prim = (*s.add(i + W).cast::<Word>()).load(Relaxed);
                let c: Prim = (*s.add(i + 2 * W).cast::<Word>()).load(Relaxed);
                let e: Prim = (*s.add(i + 3 * W).cast::<Word>()).load(Relaxed);
                d.add(i).cast::<Prim>().write_unaligned(a);
                d.add(i + W).cast::<Prim>().write_unaligned(b);
                d.add(i + 2 * W).cast::<Prim>().write_unaligned(c);
                d.add(i + 3 * W).cast::<Prim>().write_unaligned(e);
            }
            i += 4 * W;
        }
        while len - i >= W {
            // SAFETY: as above, one word.
            unsafe {
                let w: Prim = (*s.add(i).cast::<Word>()).load(Relaxed);
                d.add(i).cast::<Prim>().write_unaligned(w);
            }
            i += W;
        }
        if i < len {
            // SAFETY: `s + i` is W-aligned; the word is readable and in the
            // same allocation (the caller's contract); `len - i < W` bytes of
            // it go to private `d + i`.
            unsafe { load_partial(s.add(i), 0, d.add(i), len - i) };
        }
    }

    /// See [`super::atomic_store_words`].
    ///
    /// # Safety
    ///
    /// As [`super::atomic_store_words`].
    #[inline]
    pub(super) unsafe fn store_words(s: *const u8, d: *mut u8, len: usize) {
        // The partial words are merged after the whole ones, so the whole
        // words' stores are already under way when a merge's load waits for
        // its cache line.
        let off = d as usize % W;
        let head = if off != 0 && len != 0 {
            (W - off).min(len)
        } else {
            0
        };
        let mut i = head;
        while len - i >= 4 * W {
            // SAFETY: `d + i` is W-aligned and `i + 4W <= len`; `s + i` is
            // private and read unaligned.
            unsafe {
                let a = s.add(i).cast::<Prim>().read_unaligned();
                let b = s.add(i + W).cast::<Prim>().read_unaligned();
                let c = s.add(i + 2 * W).cast::<Prim>().read_unaligned();
                let e = s.add(i + 3 * W).cast::<Prim>().read_unaligned();
                (*d.add(i).cast::<Word>()).store(a, Relaxed);
                (*d.add(i + W).cast::<Word>()).store(b, Relaxed);
                (*d.add(i + 2 * W).cast::<Word>()).store(c, Relaxed);
                (*d.add(i + 3 * W).cast::<Word>()).store(e, Relaxed);
            }
            i += 4 * W;
        }
        while len - i >= W {
            // SAFETY: as above, one word.
            unsafe {
                let w = s.add(i).cast::<Prim>().read_unaligned();
                (*d.add(i).cast::<Word>()).store(w, Relaxed);
            }
            i += W;
        }
        if i < len {
            // SAFETY: `d + i` is W-aligned; the word is ours to rewrite (the
            // caller's contract); `len - i < W` private bytes are merged in.
            unsafe { store_partial(s.add(i), d.add(i), 0, len - i) };
        }
        if head != 0 {
            // SAFETY: the aligned word holding `d` is readable, writable and
            // in the same allocation, and nobody else writes its other bytes
            // now (the caller's contract); `s..s+head` is private.
            unsafe { store_partial(s, d.wrapping_sub(off), off, head) };
        }
    }
}

/// A short spin lock, for state that several CPUs or threads of one address
/// space change under `&mut` (never for memory shared across processes: a
/// holder that dies would wedge the peer).
///
/// Normally it is [`spin::mutex::SpinMutex`]: a test-and-test-and-set lock
/// whose waiters spin with `core::hint::spin_loop`, no OS needed. Under
/// `cfg(kipc_loom)` it is `loom::sync::Mutex`, so loom schedules the lock
/// itself (a waiter blocks until the holder releases) rather than exploring
/// every turn of a spin loop built on atomics it cannot see. The two have the
/// same contract for the code above them (mutual exclusion; the release of
/// one holder happens-before the acquire of the next), which is what the
/// models check that code against; `spin`'s own correctness is its crate's
/// to test.
///
/// It is not reentrant, and waiting for it is not interrupt-safe: code that
/// can interrupt a holder on the same CPU (a signal handler, an interrupt)
/// must use [`try_lock`](Self::try_lock) or a lock-free path instead.
#[derive(Debug, Default)]
pub struct SpinMutex<T> {
    #[cfg(not(kipc_loom))]
    inner: spin::mutex::SpinMutex<T>,
    #[cfg(kipc_loom)]
    inner: loom::sync::Mutex<T>,
}

/// Holds a [`SpinMutex`] locked; releases it when dropped.
#[derive(Debug)]
pub struct SpinMutexGuard<'a, T> {
    #[cfg(not(kipc_loom))]
    inner: spin::mutex::SpinMutexGuard<'a, T>,
    #[cfg(kipc_loom)]
    inner: loom::sync::MutexGuard<'a, T>,
}

impl<T> SpinMutex<T> {
    const_fn! {
        /// An unlocked mutex holding `value`.
        #[inline(always)]
        pub fn new(value: T) -> Self {
            #[cfg(not(kipc_loom))]
            let inner = spin::mutex::SpinMutex::new(value);
            #[cfg(kipc_loom)]
            let inner = loom::sync::Mutex::new(value);
            Self { inner }
        }
    }

    /// Takes the lock, spinning until it is free.
    #[inline]
    pub fn lock(&self) -> SpinMutexGuard<'_, T> {
        #[cfg(not(kipc_loom))]
        let inner = self.inner.lock();
        // A model that panics while holding the lock has failed already, so
        // poisoning tells nothing more.
        #[cfg(kipc_loom)]
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        SpinMutexGuard { inner }
    }

    /// Takes the lock if it is free, without waiting.
    #[inline]
    pub fn try_lock(&self) -> Option<SpinMutexGuard<'_, T>> {
        #[cfg(not(kipc_loom))]
        let inner = self.inner.try_lock()?;
        #[cfg(kipc_loom)]
        // Poisoned: a model thread panicked holding it, so the model failed.
        let inner = self.inner.try_lock().ok()?;
        Some(SpinMutexGuard { inner })
    }

    /// The value, through exclusive access (no locking needed).
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        #[cfg(not(kipc_loom))]
        let v = self.inner.get_mut();
        #[cfg(kipc_loom)]
        let v = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        v
    }
}

impl<T> core::ops::Deref for SpinMutexGuard<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> core::ops::DerefMut for SpinMutexGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}
