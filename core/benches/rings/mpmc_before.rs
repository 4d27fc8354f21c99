//! The typed MPMC ring as it was before issue 18 (commit d7eef5e of
//! `core/src/mpmc.rs`): `pop` returns `None` at once when the head slot is
//! claimed but not yet published, `push` reports full while the slot behind it
//! is still being read. Kept only so `rings.rs` can measure the old and the
//! new ring side by side in one interleaved pass; not part of the library.
#![allow(dead_code)]

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};

#[repr(C, align(128))]
struct CachePadded<T>(T);
impl<T> CachePadded<T> {
    const fn new(v: T) -> Self {
        Self(v)
    }
}
impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

struct UnsafeCell<T>(std::cell::UnsafeCell<T>);
impl<T> UnsafeCell<T> {
    const fn new(v: T) -> Self {
        Self(std::cell::UnsafeCell::new(v))
    }
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    #[inline(always)]
    fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$attr])* $vis const fn $($rest)*
    };
}

/// The ring was full.
pub enum PushError<T> {
    /// The rejected value.
    Full(T),
}

/// One slot: its sequence word and the value.
struct Slot<T> {
    /// A lap base `b` (empty for the position `b + index`), `b + 1` (full);
    /// see the [module documentation](self).
    seq: AtomicU64,
    value: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Slot<T> {
    const_fn! {
        fn new() -> Self {
            Self {
                seq: AtomicU64::new(0),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            }
        }
    }
}

const fn new_slots<T, const N: usize>() -> [Slot<T>; N] {
    [const { Slot::new() }; N]
}

/// A bounded multi-producer multi-consumer ring of `N` items (Vyukov's
/// algorithm). See the [module documentation](self) for the algorithm and its
/// progress guarantee (blocking, not lock-free, if a thread stalls
/// mid-operation).
///
/// `N` must be a power of two in `2..=2^31`; anything else fails to compile.
/// Share it by reference (`&Ring`, a `static`, an `Arc`): every method takes
/// `&self`.
///
/// # Examples
///
/// ```
/// use kipc_core::mpmc::Ring;
/// static RING: Ring<u64, 8> = Ring::new();
/// std::thread::scope(|s| {
///     s.spawn(|| RING.push(1).unwrap());
///     s.spawn(|| RING.push(2).unwrap());
/// });
/// let mut got = [RING.pop().unwrap(), RING.pop().unwrap()];
/// got.sort();
/// assert_eq!(got, [1, 2]);
/// assert_eq!(RING.pop(), None);
/// ```
pub struct Ring<T, const N: usize> {
    /// Next position a consumer will claim. Only grows (wrapping at 2^64).
    head: CachePadded<AtomicU64>,
    /// Next position a producer will claim. Only grows; `tail - head` is in
    /// `0..=N` at every instant.
    tail: CachePadded<AtomicU64>,
    slots: [Slot<T>; N],
}

// SAFETY: a value is written by exactly one producer (the one whose CAS
// claimed its position) and read by exactly one consumer (likewise), with the
// hand-over ordered by the slot's `seq` Release/Acquire pair; so sharing the
// ring only moves `T`s between threads, which `T: Send` permits.
unsafe impl<T: Send, const N: usize> Sync for Ring<T, N> {}

impl<T, const N: usize> Default for Ring<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> Ring<T, N> {
    const MASK: u64 = N as u64 - 1;

    const_fn! {
        /// An empty ring. `const`, so it can initialise a `static`.
        ///
        /// # Examples
        ///
        /// ```
        /// use kipc_core::mpmc::Ring;
        /// static RING: Ring<u32, 4> = Ring::new();
        /// assert!(RING.is_empty());
        /// assert_eq!(RING.capacity(), 4);
        /// ```
        pub fn new() -> Self {
            const { assert!(N.is_power_of_two() && N >= 2 && N <= 1 << 31) };
            Self {
                head: CachePadded::new(AtomicU64::new(0)),
                tail: CachePadded::new(AtomicU64::new(0)),
                slots: new_slots(),
            }
        }
    }

    /// The slot of position `pos` and `pos`'s lap base.
    #[inline(always)]
    fn slot(&self, pos: u64) -> (&Slot<T>, u64) {
        let index = (pos & Self::MASK) as usize;
        debug_assert!(index < N);
        (&self.slots[index], pos & !Self::MASK)
    }

    /// Signed distance `a - b` of two sequence values (wrapping).
    #[inline(always)]
    fn diff(a: u64, b: u64) -> i64 {
        a.wrapping_sub(b) as i64
    }

    /// Pushes `value` at the tail.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] with the value if no slot is free (including a
    /// slot whose consumer has claimed it but not finished reading it).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::{PushError, Ring};
    /// let ring = Ring::<char, 2>::new();
    /// assert_eq!(ring.push('a'), Ok(()));
    /// assert_eq!(ring.push('b'), Ok(()));
    /// assert_eq!(ring.push('c'), Err(PushError::Full('c')));
    /// ```
    pub fn push(&self, value: T) -> Result<(), PushError<T>> {
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let (slot, base) = self.slot(tail);
            // SYNC: release slot. Pairs with the consumer's Release store of `seq`.
            let seq = slot.seq.load(Ordering::Acquire);
            let d = Self::diff(seq, base);
            if d == 0 {
                // Free for position `tail`: claim it.
                match self.tail.compare_exchange_weak(
                    tail,
                    tail.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: our CAS claimed position `tail`; no other
                        // producer writes this slot and no consumer reads it
                        // until we publish `seq` below.
                        slot.value
                            .with_mut(|p| unsafe { p.write(MaybeUninit::new(value)) });
                        // SYNC: publish slot. Pairs with the Acquire load in `pop`.
                        slot.seq.store(base.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    // Another producer claimed `tail`; retry with theirs.
                    Err(t) => tail = t,
                }
            } else if d < 0 {
                // The previous lap's item is still there (or being read).
                return Err(PushError::Full(value));
            } else {
                // Our `tail` is stale.
                std::hint::spin_loop();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Pops the item at the head, or `None` if the ring is empty (or the
    /// producer of the head item has claimed but not yet published it).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::Ring;
    /// let ring = Ring::<u8, 4>::new();
    /// assert_eq!(ring.pop(), None);
    /// ring.push(7).unwrap();
    /// assert_eq!(ring.pop(), Some(7));
    /// ```
    pub fn pop(&self) -> Option<T> {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let (slot, base) = self.slot(head);
            // SYNC: publish slot. Pairs with the producer's Release store of `seq`.
            let seq = slot.seq.load(Ordering::Acquire);
            let d = Self::diff(seq, base.wrapping_add(1));
            if d == 0 {
                match self.head.compare_exchange_weak(
                    head,
                    head.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: `seq == base + 1` (Acquire) means the value
                        // of position `head` is initialised and visible; our
                        // CAS made us its only reader.
                        let value = slot.value.with(|p| unsafe { p.read().assume_init() });
                        // SYNC: release slot. Pairs with the Acquire load in `push`.
                        slot.seq
                            .store(base.wrapping_add(N as u64), Ordering::Release);
                        return Some(value);
                    }
                    Err(h) => head = h,
                }
            } else if d < 0 {
                return None;
            } else {
                std::hint::spin_loop();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Number of items in the ring. Approximate while other threads operate
    /// on it; always in `0..=N`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::Ring;
    /// let ring = Ring::<u8, 4>::new();
    /// ring.push(1).unwrap();
    /// assert_eq!(ring.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        // Head first: head <= tail at every instant and tail only grows, so the
        // difference cannot go negative; a stale head can only overcount.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        tail.wrapping_sub(head).min(N as u64) as usize
    }

    /// `true` if the ring holds no item (approximate under concurrency).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::Ring;
    /// let ring = Ring::<u8, 2>::new();
    /// assert!(ring.is_empty());
    /// ring.push(1).unwrap();
    /// assert!(!ring.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if every slot is taken (approximate under concurrency).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::Ring;
    /// let ring = Ring::<u8, 2>::new();
    /// ring.push(1).unwrap();
    /// assert!(!ring.is_full());
    /// ring.push(2).unwrap();
    /// assert!(ring.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// The number of slots, `N`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::Ring;
    /// assert_eq!(Ring::<u8, 16>::new().capacity(), 16);
    /// ```
    pub const fn capacity(&self) -> usize {
        N
    }
}

impl<T: Copy, const N: usize> Ring<T, N> {
    /// Pushes as many leading items of `items` as there are free slots, with
    /// one CAS on the tail for the whole run. Returns how many were pushed
    /// (0 if the ring is full or `items` is empty). The run is contiguous, so
    /// another producer's items never interleave with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::Ring;
    /// let ring = Ring::<u32, 4>::new();
    /// assert_eq!(ring.push_slice(&[1, 2, 3]), 3);
    /// assert_eq!(ring.push_slice(&[4, 5, 6]), 1);
    /// assert_eq!(ring.push_slice(&[7]), 0);
    /// assert_eq!(ring.len(), 4);
    /// ```
    pub fn push_slice(&self, items: &[T]) -> usize {
        let want = items.len().min(N) as u64;
        if want == 0 {
            return 0;
        }
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            // Count the slots free for positions tail, tail+1, ...
            let mut run = 0u64;
            let mut first_diff = 0i64;
            while run < want {
                let pos = tail.wrapping_add(run);
                let (slot, base) = self.slot(pos);
                // SYNC: release slot. Pairs with the consumer's Release store of `seq`.
                let seq = slot.seq.load(Ordering::Acquire);
                let d = Self::diff(seq, base);
                if run == 0 {
                    first_diff = d;
                }
                if d != 0 {
                    break;
                }
                run += 1;
            }
            if run == 0 {
                if first_diff < 0 {
                    return 0;
                }
                std::hint::spin_loop();
                tail = self.tail.load(Ordering::Relaxed);
                continue;
            }
            match self.tail.compare_exchange_weak(
                tail,
                tail.wrapping_add(run),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    for (i, item) in items.iter().take(run as usize).enumerate() {
                        let (slot, base) = self.slot(tail.wrapping_add(i as u64));
                        // SAFETY: our CAS claimed this position and we saw its
                        // slot free for it; nobody else touches the value until
                        // we publish `seq`.
                        slot.value
                            .with_mut(|p| unsafe { p.write(MaybeUninit::new(*item)) });
                        // SYNC: publish slot. Pairs with the Acquire loads in `pop`/`pop_slice`.
                        slot.seq.store(base.wrapping_add(1), Ordering::Release);
                    }
                    return run as usize;
                }
                Err(t) => tail = t,
            }
        }
    }

    /// Pops up to `out.len()` items into the front of `out`, with one CAS on
    /// the head for the whole run. Returns how many were popped (0 if the ring
    /// is empty). The items are consecutive in ring order.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::Ring;
    /// let ring = Ring::<u32, 8>::new();
    /// ring.push_slice(&[1, 2, 3]);
    /// let mut out = [0; 8];
    /// assert_eq!(ring.pop_slice(&mut out), 3);
    /// assert_eq!(out[..3], [1, 2, 3]);
    /// assert_eq!(ring.pop_slice(&mut out), 0);
    /// ```
    pub fn pop_slice(&self, out: &mut [T]) -> usize {
        let want = out.len().min(N) as u64;
        if want == 0 {
            return 0;
        }
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let mut run = 0u64;
            let mut first_diff = 0i64;
            while run < want {
                let pos = head.wrapping_add(run);
                let (slot, base) = self.slot(pos);
                // SYNC: publish slot. Pairs with the producer's Release store of `seq`.
                let seq = slot.seq.load(Ordering::Acquire);
                let d = Self::diff(seq, base.wrapping_add(1));
                if run == 0 {
                    first_diff = d;
                }
                if d != 0 {
                    break;
                }
                run += 1;
            }
            if run == 0 {
                if first_diff < 0 {
                    return 0;
                }
                std::hint::spin_loop();
                head = self.head.load(Ordering::Relaxed);
                continue;
            }
            match self.head.compare_exchange_weak(
                head,
                head.wrapping_add(run),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    for (i, dst) in out.iter_mut().take(run as usize).enumerate() {
                        let (slot, base) = self.slot(head.wrapping_add(i as u64));
                        // SAFETY: we saw `seq == base + 1` (Acquire), so the
                        // value is initialised, and our CAS made us its only reader.
                        *dst = slot.value.with(|p| unsafe { p.read().assume_init() });
                        // SYNC: release slot. Pairs with the Acquire loads in `push`/`push_slice`.
                        slot.seq
                            .store(base.wrapping_add(N as u64), Ordering::Release);
                    }
                    return run as usize;
                }
                Err(h) => head = h,
            }
        }
    }
}
