//! The typed, in-process form: [`Ring<T, N>`] and its two handles.

use core::fmt;
use core::mem::MaybeUninit;

use super::distance;
use crate::sync::{const_fn, AtomicBool, AtomicU32, CachePadded, Ordering, UnsafeCell};

/// One slot: initialised exactly when its position is in `head..tail`.
type Slot<T> = UnsafeCell<MaybeUninit<T>>;

/// The shared index words of a typed ring.
#[repr(C)]
struct Indices {
    /// Written only by the producer: position of the next slot to fill.
    /// Wraps; `tail.wrapping_sub(head)` is always in `0..=N`.
    tail: CachePadded<AtomicU32>,
    /// Written only by the consumer: position of the next slot to empty.
    /// Wraps; trails `tail` by at most `N`.
    head: CachePadded<AtomicU32>,
    /// Set once by [`Ring::try_split`]; never cleared.
    split_taken: AtomicBool,
}

/// A bounded single-producer single-consumer ring holding up to `N` items of
/// type `T`, with no heap.
///
/// `N` must be a power of two no larger than 2^31 (checked at compile time).
/// [`new`](Ring::new) is `const`, so a ring can be a `static`; the ring itself
/// only hands out one [`Producer`] and one [`Consumer`], through
/// [`split`](Ring::split) (`&mut self`) or [`try_split`](Ring::try_split)
/// (`&self`, at most once, for statics). Items still queued when the ring is
/// dropped are dropped with it.
///
/// # Examples
///
/// ```
/// use kipc_core::spsc::Ring;
///
/// static RING: Ring<u32, 4> = Ring::new();
/// let (mut tx, mut rx) = RING.try_split().unwrap();
/// assert!(RING.try_split().is_none());
///
/// std::thread::scope(|s| {
///     s.spawn(move || for i in 0..100 { while tx.push(i).is_err() {} });
///     for i in 0..100 {
///         loop {
///             if let Some(v) = rx.pop() { assert_eq!(v, i); break; }
///         }
///     }
/// });
/// ```
#[repr(C)]
pub struct Ring<T, const N: usize> {
    indices: Indices,
    slots: [Slot<T>; N],
}

// SAFETY: the ring moves `T`s from the producer's thread to the consumer's (so
// `T: Send` is needed) but never shares a `&T` between threads except through
// `Consumer::peek`, which borrows the one consumer. Slot accesses are ordered by
// the `SYNC: publish slot` / `SYNC: consume slot` pairs, and `try_split` hands
// out at most one handle per side.
unsafe impl<T: Send, const N: usize> Sync for Ring<T, N> {}

#[cfg(not(kipc_loom))]
const fn new_slots<T, const N: usize>() -> [Slot<T>; N] {
    [const { UnsafeCell::new(MaybeUninit::uninit()) }; N]
}

#[cfg(kipc_loom)]
fn new_slots<T, const N: usize>() -> [Slot<T>; N] {
    core::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit()))
}

impl<T, const N: usize> Ring<T, N> {
    const_fn! {
        /// An empty ring. `const` (except under `cfg(kipc_loom)`), so it can
        /// initialise a `static`.
        ///
        /// # Examples
        ///
        /// ```
        /// use kipc_core::spsc::Ring;
        /// static RING: Ring<u8, 8> = Ring::new();
        /// assert_eq!(RING.capacity(), 8);
        /// ```
        ///
        /// A capacity that is not a power of two does not compile:
        ///
        /// ```compile_fail
        /// let ring = kipc_core::spsc::Ring::<u8, 3>::new();
        /// ```
        pub fn new() -> Self {
            const {
                assert!(
                    N.is_power_of_two() && N <= 1 << 31,
                    "ring capacity must be a power of two no larger than 2^31"
                )
            };
            Self {
                indices: Indices {
                    tail: CachePadded::new(AtomicU32::new(0)),
                    head: CachePadded::new(AtomicU32::new(0)),
                    split_taken: AtomicBool::new(false),
                },
                slots: new_slots::<T, N>(),
            }
        }
    }

    /// The number of items the ring holds when full (`N`).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = kipc_core::spsc::Ring::<u64, 16>::new();
    /// assert_eq!(ring.capacity(), 16);
    /// ```
    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Splits the ring into its producer and consumer handles.
    ///
    /// Taking `&mut self` proves no other handle exists, so this always
    /// succeeds, and may be called again once the previous handles are gone
    /// (items queued meanwhile stay queued).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<char, 2>::new();
    /// let (mut tx, mut rx) = ring.split();
    /// tx.push('a').unwrap();
    /// assert_eq!(rx.pop(), Some('a'));
    /// ```
    pub fn split(&mut self) -> (Producer<'_, T>, Consumer<'_, T>) {
        self.handles()
    }

    /// Splits a shared ring (a `static`, say) into its handles, once.
    ///
    /// Returns `None` if the handles were already taken by an earlier call;
    /// they are never given out twice, even after being dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::spsc::Ring;
    /// static RING: Ring<i32, 2> = Ring::new();
    /// let (tx, rx) = RING.try_split().expect("first call succeeds");
    /// assert!(RING.try_split().is_none());
    /// # drop((tx, rx));
    /// ```
    pub fn try_split(&self) -> Option<(Producer<'_, T>, Consumer<'_, T>)> {
        self.indices
            .split_taken
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        Some(self.handles())
    }

    /// Creates the handles; the caller guarantees there is no other pair.
    fn handles(&self) -> (Producer<'_, T>, Consumer<'_, T>) {
        let tail = self.indices.tail.load(Ordering::Acquire);
        let head = self.indices.head.load(Ordering::Acquire);
        let producer = Producer {
            indices: &self.indices,
            slots: &self.slots,
            tail,
            head_cache: head,
        };
        let consumer = Consumer {
            indices: &self.indices,
            slots: &self.slots,
            head,
            tail_cache: tail,
        };
        (producer, consumer)
    }
}

impl<T, const N: usize> Default for Ring<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> fmt::Debug for Ring<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &N)
            .field("tail", &self.indices.tail.load(Ordering::Relaxed))
            .field("head", &self.indices.head.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T, const N: usize> Drop for Ring<T, N> {
    fn drop(&mut self) {
        if !core::mem::needs_drop::<T>() {
            return;
        }
        // `&mut self`: every handle is gone and everything they did happens
        // before this point.
        let tail = self.indices.tail.load(Ordering::Relaxed);
        let mut head = self.indices.head.load(Ordering::Relaxed);
        while head != tail {
            let slot = slot_at(&self.slots, head);
            slot.with_mut(|p| {
                // SAFETY: positions in `head..tail` hold initialised items
                // that nobody else can reach any more; each is dropped once.
                unsafe { (*p).assume_init_drop() }
            });
            head = head.wrapping_add(1);
        }
    }
}

/// The slot of position `pos`.
#[inline(always)]
fn slot_at<T>(slots: &[Slot<T>], pos: u32) -> &Slot<T> {
    debug_assert!(slots.len().is_power_of_two());
    let index = pos as usize & (slots.len() - 1);
    // SAFETY: `slots.len()` is a power of two (checked when the ring was
    // built), so masking with `len - 1` yields an index below `len`.
    unsafe { slots.get_unchecked(index) }
}

/// Capacity of a slot slice as a position distance (`N <= 2^31` fits).
#[inline(always)]
fn cap_of<T>(slots: &[Slot<T>]) -> u32 {
    slots.len() as u32
}

/// Why [`Producer::push`] failed; gives the item back.
///
/// # Examples
///
/// ```
/// use kipc_core::spsc::{PushError, Ring};
/// let mut ring = Ring::<&str, 1>::new();
/// let (mut tx, _rx) = ring.split();
/// tx.push("a").unwrap();
/// let err = tx.push("b").unwrap_err();
/// assert_eq!(err, PushError::Full("b"));
/// assert_eq!(err.to_string(), "full ring");
/// assert_eq!(err.into_inner(), "b");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// The ring had no free slot; here is the item that did not fit.
    Full(T),
}

impl<T> PushError<T> {
    /// The item that could not be pushed.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = kipc_core::spsc::PushError::Full(7);
    /// assert_eq!(err.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(v) => v,
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("full ring"),
        }
    }
}

impl<T: fmt::Debug> core::error::Error for PushError<T> {}

/// The writing end of a [`Ring`]. Not generic over the capacity.
///
/// # Examples
///
/// ```
/// let mut ring = kipc_core::spsc::Ring::<u8, 4>::new();
/// let (mut tx, _rx) = ring.split();
/// assert_eq!(tx.push_slice(&[1, 2, 3]), 3);
/// assert_eq!((tx.len(), tx.free_len(), tx.capacity()), (3, 1, 4));
/// ```
pub struct Producer<'a, T> {
    indices: &'a Indices,
    slots: &'a [Slot<T>],
    /// Private copy of the shared `tail` (this handle is its only writer).
    tail: u32,
    /// Last `head` read from the ring; may lag the real one, which only makes
    /// the ring look fuller. Invariant: `tail - head_cache` in `0..=capacity`.
    head_cache: u32,
}

// SAFETY: the producer owns the right to write slots at `tail`; moving it to
// another thread moves `T`s there, hence `T: Send`.
unsafe impl<T: Send> Send for Producer<'_, T> {}

impl<T> fmt::Debug for Producer<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

impl<T> Producer<'_, T> {
    /// Number of free slots, refreshing the cached `head` only when the
    /// cache shows fewer than `wanted`.
    #[inline(always)]
    fn free_at_least(&mut self, wanted: u32) -> u32 {
        let cap = cap_of(self.slots);
        let mut free = cap - distance(self.head_cache, self.tail);
        if free < wanted {
            // SYNC: consume slot. Acquire: the consumer finished reading
            // every slot before `head` before we may overwrite it.
            self.head_cache = self.indices.head.load(Ordering::Acquire);
            free = cap - distance(self.head_cache, self.tail);
        }
        free
    }

    /// Appends `value`, or gives it back in [`PushError::Full`] if the ring
    /// has no free slot.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] when the ring holds `capacity` items.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::spsc::{PushError, Ring};
    /// let mut ring = Ring::<String, 1>::new();
    /// let (mut tx, mut rx) = ring.split();
    /// assert_eq!(tx.push("one".into()), Ok(()));
    /// assert_eq!(tx.push("two".into()), Err(PushError::Full("two".into())));
    /// assert_eq!(rx.pop().as_deref(), Some("one"));
    /// ```
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        if self.free_at_least(1) == 0 {
            return Err(PushError::Full(value));
        }
        slot_at(self.slots, self.tail).with_mut(|p| {
            // SAFETY: the slot at `tail` is outside `head..tail`, so it is
            // uninitialised and the consumer no longer reads it (SYNC: consume
            // slot); only this producer writes there.
            unsafe { p.write(MaybeUninit::new(value)) }
        });
        self.tail = self.tail.wrapping_add(1);
        // SYNC: publish slot. Release: the slot's contents become visible to
        // the consumer's Acquire load of `tail`.
        self.indices.tail.store(self.tail, super::PUBLISH_ORDER);
        Ok(())
    }

    /// Number of items in the ring (reads the consumer's current `head`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u8, 2>::new();
    /// let (mut tx, mut rx) = ring.split();
    /// tx.push(1).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// rx.pop();
    /// assert_eq!(tx.len(), 0);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        distance(self.indices.head.load(Ordering::Acquire), self.tail) as usize
    }

    /// `true` if the ring holds no item.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u8, 2>::new();
    /// let (tx, _rx) = ring.split();
    /// assert!(tx.is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if the ring holds `capacity` items.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u8, 1>::new();
    /// let (mut tx, _rx) = ring.split();
    /// tx.push(0).unwrap();
    /// assert!(tx.is_full());
    /// ```
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// Number of free slots (`capacity - len`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u8, 4>::new();
    /// let (mut tx, _rx) = ring.split();
    /// tx.push(0).unwrap();
    /// assert_eq!(tx.free_len(), 3);
    /// ```
    #[inline]
    pub fn free_len(&self) -> usize {
        self.capacity() - self.len()
    }

    /// The ring's capacity `N`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u8, 8>::new();
    /// assert_eq!(ring.split().0.capacity(), 8);
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

impl<T: Copy> Producer<'_, T> {
    /// Appends as many items from the front of `items` as fit, with one
    /// Release store for the whole batch; returns how many were appended.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u16, 4>::new();
    /// let (mut tx, mut rx) = ring.split();
    /// assert_eq!(tx.push_slice(&[1, 2, 3, 4, 5, 6]), 4);
    /// let mut out = [0; 4];
    /// assert_eq!(rx.pop_slice(&mut out), 4);
    /// assert_eq!(out, [1, 2, 3, 4]);
    /// ```
    #[inline]
    pub fn push_slice(&mut self, items: &[T]) -> usize {
        let wanted = items.len().min(self.capacity()) as u32;
        let n = self.free_at_least(wanted).min(wanted);
        if n == 0 {
            return 0;
        }
        let mut pos = self.tail;
        for &item in &items[..n as usize] {
            slot_at(self.slots, pos).with_mut(|p| {
                // SAFETY: `pos` is in `tail..tail + n`, all free slots (see
                // `push`); only this producer writes them.
                unsafe { p.write(MaybeUninit::new(item)) }
            });
            pos = pos.wrapping_add(1);
        }
        self.tail = pos;
        // SYNC: publish slot. One Release store publishes the whole batch.
        self.indices.tail.store(self.tail, super::PUBLISH_ORDER);
        n as usize
    }
}

/// The reading end of a [`Ring`]. Not generic over the capacity.
///
/// # Examples
///
/// ```
/// let mut ring = kipc_core::spsc::Ring::<u8, 4>::new();
/// let (mut tx, mut rx) = ring.split();
/// tx.push(9).unwrap();
/// assert_eq!(rx.peek(), Some(&9));
/// assert_eq!(rx.pop(), Some(9));
/// assert!(rx.is_empty());
/// ```
pub struct Consumer<'a, T> {
    indices: &'a Indices,
    slots: &'a [Slot<T>],
    /// Private copy of the shared `head` (this handle is its only writer).
    head: u32,
    /// Last `tail` read from the ring; may lag the real one, which only makes
    /// the ring look emptier. Invariant: `tail_cache - head` in `0..=capacity`.
    tail_cache: u32,
}

// SAFETY: the consumer owns the right to take items at `head`; moving it to
// another thread moves `T`s there, hence `T: Send`.
unsafe impl<T: Send> Send for Consumer<'_, T> {}

impl<T> fmt::Debug for Consumer<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity())
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl<T> Consumer<'_, T> {
    /// Number of items ready, refreshing the cached `tail` only when the
    /// cache shows fewer than `wanted`.
    #[inline(always)]
    fn ready_at_least(&mut self, wanted: u32) -> u32 {
        let mut ready = distance(self.head, self.tail_cache);
        if ready < wanted {
            // SYNC: publish slot. Acquire: the producer's writes to every
            // slot before `tail` are visible.
            self.tail_cache = self.indices.tail.load(Ordering::Acquire);
            ready = distance(self.head, self.tail_cache);
        }
        ready
    }

    /// Releases the slots before `head` to the producer.
    #[inline(always)]
    fn advance(&mut self, n: u32) {
        self.head = self.head.wrapping_add(n);
        // SYNC: consume slot. Release: our reads of the slots come before the
        // producer's Acquire load of `head` and its next write to them.
        self.indices.head.store(self.head, Ordering::Release);
    }

    /// Removes and returns the oldest item, or `None` if the ring is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u8, 2>::new();
    /// let (mut tx, mut rx) = ring.split();
    /// assert_eq!(rx.pop(), None);
    /// tx.push(1).unwrap();
    /// tx.push(2).unwrap();
    /// assert_eq!((rx.pop(), rx.pop(), rx.pop()), (Some(1), Some(2), None));
    /// ```
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.ready_at_least(1) == 0 {
            return None;
        }
        let value = slot_at(self.slots, self.head).with(|p| {
            // SAFETY: `head` is in `head..tail`, so the producer initialised
            // the slot and published it (SYNC: publish slot); we move the item
            // out once and then advance `head`, so it is never read again.
            unsafe { p.read().assume_init() }
        });
        self.advance(1);
        Some(value)
    }

    /// The oldest item without removing it, or `None` if the ring is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u8, 2>::new();
    /// let (mut tx, mut rx) = ring.split();
    /// assert_eq!(rx.peek(), None);
    /// tx.push(5).unwrap();
    /// assert_eq!(rx.peek(), Some(&5));
    /// assert_eq!(rx.pop(), Some(5));
    /// ```
    #[inline]
    pub fn peek(&mut self) -> Option<&T> {
        if self.ready_at_least(1) == 0 {
            return None;
        }
        let slot = slot_at(self.slots, self.head);
        slot.with(|p| {
            // SAFETY: as in `pop`, the slot is initialised and published; the
            // returned borrow of `self` keeps `head` (and so the producer)
            // away from it while the reference lives.
            Some(unsafe { (*p).assume_init_ref() })
        })
    }

    /// Number of items ready (reads the producer's current `tail`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u8, 2>::new();
    /// let (mut tx, rx) = ring.split();
    /// tx.push(1).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        distance(self.head, self.indices.tail.load(Ordering::Acquire)) as usize
    }

    /// `true` if no item is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u8, 2>::new();
    /// let (_tx, rx) = ring.split();
    /// assert!(rx.is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ring's capacity `N`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u8, 8>::new();
    /// assert_eq!(ring.split().1.capacity(), 8);
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

impl<T: Copy> Consumer<'_, T> {
    /// Moves as many of the oldest items as fit into the front of `out`, with
    /// one Release store for the whole batch; returns how many were moved.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = kipc_core::spsc::Ring::<u8, 4>::new();
    /// let (mut tx, mut rx) = ring.split();
    /// tx.push_slice(&[1, 2, 3]);
    /// let mut out = [0; 2];
    /// assert_eq!(rx.pop_slice(&mut out), 2);
    /// assert_eq!(out, [1, 2]);
    /// assert_eq!(rx.pop_slice(&mut out), 1);
    /// assert_eq!(out[0], 3);
    /// ```
    #[inline]
    pub fn pop_slice(&mut self, out: &mut [T]) -> usize {
        let wanted = out.len().min(self.capacity()) as u32;
        let n = self.ready_at_least(wanted).min(wanted);
        if n == 0 {
            return 0;
        }
        let mut pos = self.head;
        for dst in &mut out[..n as usize] {
            *dst = slot_at(self.slots, pos).with(|p| {
                // SAFETY: `pos` is in `head..tail`: initialised and published
                // (SYNC: publish slot); `T: Copy`, so reading leaves nothing to
                // drop.
                unsafe { p.read().assume_init() }
            });
            pos = pos.wrapping_add(1);
        }
        self.advance(n);
        n as usize
    }
}

#[cfg(all(test, not(kipc_loom)))]
mod tests {
    use super::*;
    use crate::sync::AtomicUsize as StdAtomicUsize;
    use std::vec::Vec;

    #[test]
    fn push_fails_when_full_and_returns_item() {
        let mut ring = Ring::<u32, 2>::new();
        let (mut tx, _rx) = ring.split();
        tx.push(1).unwrap();
        tx.push(2).unwrap();
        assert_eq!(tx.push(3), Err(PushError::Full(3)));
        assert!(tx.is_full());
        assert_eq!(tx.free_len(), 0);
    }

    #[test]
    fn pop_returns_items_in_order_across_many_wraps() {
        let mut ring = Ring::<u32, 4>::new();
        let (mut tx, mut rx) = ring.split();
        for i in 0..1000 {
            tx.push(i).unwrap();
            if i % 3 == 0 {
                tx.push(i + 100_000).unwrap();
                assert_eq!(rx.pop(), Some(i));
                assert_eq!(rx.pop(), Some(i + 100_000));
            } else {
                assert_eq!(rx.pop(), Some(i));
            }
        }
        assert_eq!(rx.pop(), None);
    }

    #[test]
    fn positions_wrap_past_u32_max() {
        let mut ring = Ring::<u64, 4>::new();
        ring.indices.tail.store(u32::MAX - 1, Ordering::Relaxed);
        ring.indices.head.store(u32::MAX - 1, Ordering::Relaxed);
        let (mut tx, mut rx) = ring.split();
        assert_eq!(tx.push_slice(&[1, 2, 3, 4, 5]), 4);
        assert!(tx.is_full());
        assert_eq!(rx.len(), 4);
        let mut out = [0; 3];
        assert_eq!(rx.pop_slice(&mut out), 3);
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(tx.push_slice(&[6, 7, 8]), 3);
        let mut out = [0; 8];
        assert_eq!(rx.pop_slice(&mut out), 4);
        assert_eq!(&out[..4], &[4, 6, 7, 8]);
    }

    #[test]
    fn batch_ops_cross_the_end_of_the_slot_array() {
        let mut ring = Ring::<u8, 8>::new();
        let (mut tx, mut rx) = ring.split();
        let mut next_in = 0u8;
        let mut next_out = 0u8;
        for round in 0..200usize {
            let batch: Vec<u8> = (0..(round % 7 + 1) as u8)
                .map(|k| next_in.wrapping_add(k))
                .collect();
            let pushed = tx.push_slice(&batch);
            next_in = next_in.wrapping_add(pushed as u8);
            let mut out = [0u8; 5];
            let popped = rx.pop_slice(&mut out[..round % 5 + 1]);
            for &v in &out[..popped] {
                assert_eq!(v, next_out);
                next_out = next_out.wrapping_add(1);
            }
        }
    }

    #[test]
    fn peek_shows_oldest_without_removing() {
        let mut ring = Ring::<u8, 2>::new();
        let (mut tx, mut rx) = ring.split();
        tx.push(1).unwrap();
        tx.push(2).unwrap();
        assert_eq!(rx.peek(), Some(&1));
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.pop(), Some(1));
        assert_eq!(rx.peek(), Some(&2));
    }

    #[test]
    fn try_split_hands_out_handles_only_once() {
        let ring = Ring::<u8, 2>::new();
        assert!(ring.try_split().is_some());
        assert!(ring.try_split().is_none());
    }

    #[test]
    fn resplit_keeps_queued_items() {
        let mut ring = Ring::<u8, 4>::new();
        ring.split().0.push_slice(&[1, 2, 3]);
        let (_tx, mut rx) = ring.split();
        assert_eq!(rx.pop(), Some(1));
        assert_eq!(rx.len(), 2);
    }

    struct Counted<'a>(&'a StdAtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn dropping_the_ring_drops_queued_items_exactly_once() {
        let drops = StdAtomicUsize::new(0);
        {
            let mut ring = Ring::<Counted<'_>, 4>::new();
            let (mut tx, mut rx) = ring.split();
            for _ in 0..4 {
                assert!(tx.push(Counted(&drops)).is_ok());
            }
            drop(rx.pop());
            drop(rx.pop());
            assert!(tx.push(Counted(&drops)).is_ok());
            assert_eq!(drops.load(Ordering::Relaxed), 2);
        }
        assert_eq!(drops.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn zero_sized_items_are_counted() {
        let mut ring = Ring::<(), 2>::new();
        let (mut tx, mut rx) = ring.split();
        tx.push(()).unwrap();
        tx.push(()).unwrap();
        assert!(tx.push(()).is_err());
        assert_eq!(rx.pop(), Some(()));
    }

    #[test]
    fn two_threads_move_a_million_u64_in_order() {
        const COUNT: u64 = 1_000_000;
        static RING: Ring<u64, 1024> = Ring::new();
        let (mut tx, mut rx) = RING.try_split().unwrap();
        // If either side panics, the other stops waiting for it.
        let flag = &crate::test_util::PanicFlag::new();
        std::thread::scope(|s| {
            s.spawn(move || {
                let _g = flag.guard();
                let mut i = 0;
                while i < COUNT {
                    if tx.push(i).is_ok() {
                        i += 1;
                    } else {
                        flag.wait();
                    }
                }
            });
            s.spawn(move || {
                let _g = flag.guard();
                let mut expected = 0;
                while expected < COUNT {
                    match rx.pop() {
                        Some(v) => {
                            assert_eq!(v, expected);
                            expected += 1;
                        }
                        None => flag.wait(),
                    }
                }
                assert_eq!(rx.pop(), None);
            });
        });
    }

    #[test]
    fn two_threads_move_batches_in_order() {
        const COUNT: u64 = 200_000;
        let mut ring = Ring::<u64, 64>::new();
        let (mut tx, mut rx) = ring.split();
        // If the consumer (this thread) fails, the producer stops.
        let flag = &crate::test_util::PanicFlag::new();
        std::thread::scope(|s| {
            s.spawn(move || {
                let _g = flag.guard();
                let mut next = 0;
                while next < COUNT {
                    let batch: [u64; 13] = core::array::from_fn(|k| next + k as u64);
                    let take = ((COUNT - next) as usize).min(13);
                    let n = tx.push_slice(&batch[..take]);
                    if n == 0 {
                        flag.wait();
                    }
                    next += n as u64;
                }
            });
            let _g = flag.guard();
            let mut expected = 0;
            let mut out = [0u64; 17];
            while expected < COUNT {
                let n = rx.pop_slice(&mut out);
                if n == 0 {
                    flag.wait();
                }
                for &v in &out[..n] {
                    assert_eq!(v, expected);
                    expected += 1;
                }
            }
        });
    }
}
