//! A bounded multi-producer multi-consumer ring, in two forms.
//!
//! - [`Ring<T, N>`]: typed, in-process, usable as a `static`. It is Dmitry
//!   Vyukov's bounded MPMC queue (a sequence number per slot), the design of
//!   crossbeam-queue's `ArrayQueue` and DPDK's `rte_ring`.
//! - [`Region`]: the shared-memory form, where producers are untrusted
//!   processes that may die at any instruction. It does **not** use Vyukov
//!   claims across processes (see "Progress" below); it gives each producer
//!   its own lane instead, as iceoryx2 does. See [`Region`] for its protocol
//!   and layout.
//!
//! # The typed ring: algorithm
//!
//! References: D. Vyukov, "Bounded MPMC queue" (1024cores.net, 2010);
//! crossbeam-queue `src/array_queue.rs`; DPDK `rte_ring`.
//!
//! Producers share one position counter `tail`, consumers one counter `head`
//! (each on its own 128-byte line). Both are `u64` and only ever grow
//! (wrapping is unreachable: 2^64 operations at 10^9/s take 580 years, so
//! the ABA problem a 32-bit counter would have after a few tens of seconds of
//! a stalled thread cannot happen). Position `p` lives in slot `p & (N - 1)`;
//! call `base(p) = p & !(N - 1)` the first position of `p`'s lap. Each slot
//! carries a `seq` word:
//!
//! | `seq` of slot `p & (N-1)` | meaning                                          |
//! |---------------------------|--------------------------------------------------|
//! | `base(p)`                 | empty, ready for the producer of position `p`    |
//! | `base(p) + 1`             | holds the item of position `p`                   |
//! | `base(p) + N`             | consumed; empty for position `p + N`             |
//!
//! (Storing the lap base rather than Vyukov's absolute position lets every
//! slot start at 0, which is what makes `new` a `const fn` for any `N`.)
//!
//! **push**: 1. load `tail` (Relaxed), call it `t`; 2. load the slot's `seq`
//! (Acquire, pairs with the consumer's release of the slot) and compare it
//! with `base(t)` as a signed difference; 3a. equal: the slot is free for
//! position `t`, so try to claim it with a CAS `tail: t -> t + 1`; on success
//! write the value and store `seq = base(t) + 1` (Release: publish slot); on
//! failure another producer claimed `t`: retry from 2 with the tail the CAS
//! returned; 3b. `seq` is behind: the slot still holds (or is being read out
//! of) the item from the previous lap, so the ring is full: return
//! [`PushError::Full`]; 3c. `seq` is ahead: our `t` is stale, reload `tail`
//! and retry.
//!
//! **pop** mirrors it: load `head` = `h`; load `seq` (Acquire, pairs with the
//! producer's publish); equal to `base(h) + 1`: CAS `head: h -> h + 1`, read
//! the value, store `seq = base(h) + N` (Release: release slot); behind:
//! empty (or the producer of `h` has not finished), return `None`; ahead:
//! stale `h`, reload.
//!
//! Every retry means another thread's CAS succeeded, so the loops make
//! system-wide progress; the CASes themselves are Relaxed because all data
//! is handed over through `seq`.
//!
//! **Batches** ([`Ring::push_slice`], [`Ring::pop_slice`], `T: Copy`): scan
//! the `seq` words from `t` forward for the longest run of `k` slots that are
//! free for their positions, claim the whole run with *one* CAS
//! `tail: t -> t + k`, then write and publish each slot. A `seq` value names
//! its position uniquely, so slots seen free before the CAS stay free: only
//! the producer that claims their position writes them, and that is us once
//! the CAS succeeds. Consumers do the same with `head`. One contended CAS
//! then covers `k` items.
//!
//! # Progress: not lock-free in the strict sense
//!
//! A producer that is preempted, stopped or killed between its successful
//! CAS on `tail` and its store to `seq` leaves a claimed, unpublished slot.
//! Every consumer that reaches that slot sees "empty" and stays there until
//! the producer resumes, even though later slots may already be published;
//! likewise a stalled consumer makes its slot look full to producers one lap
//! later. The ring is therefore *blocking* in the progress-theory sense
//! (heapless deprecated its MPMC queue for exactly this reason). In practice
//! the window is a handful of instructions, but a thread can be descheduled
//! inside it. Within one process this is an acceptable trade; across
//! processes, where the stalled party may be dead, it is not, which is why
//! the region form uses per-producer lanes.
//!
//! # Ordering
//!
//! Items from one producer thread come out in the order it pushed them
//! (positions are claimed in program order). Items from different producers
//! are ordered by their `tail` claims.

mod lanes;

pub use lanes::{
    region_size, LaneState, Region, RegionConsumer, RegionProducer, MAX_CONSUMERS, MAX_LANES,
};

use core::fmt;
use core::mem::MaybeUninit;

use crate::sync::{const_fn, AtomicU64, CachePadded, Ordering, UnsafeCell};

/// Ordering of the typed ring's `SYNC: publish slot` store of `seq`.
/// `--cfg kipc_loom_weaken="mpmc"` weakens it to `Relaxed`, which must make
/// `loom-tests/tests/mpmc.rs` fail (the models' proof of teeth; never used in
/// a real build).
#[cfg(not(kipc_loom_weaken = "mpmc"))]
const PUBLISH_ORDER: Ordering = Ordering::Release;
#[cfg(kipc_loom_weaken = "mpmc")]
const PUBLISH_ORDER: Ordering = Ordering::Relaxed;

/// The error of [`Ring::push`]: the ring was full. Holds the rejected value.
///
/// # Examples
///
/// ```
/// use kipc_core::mpmc::{PushError, Ring};
/// let ring = Ring::<u8, 2>::new();
/// ring.push(1).unwrap();
/// ring.push(2).unwrap();
/// let err = ring.push(3).unwrap_err();
/// assert_eq!(err, PushError::Full(3));
/// assert_eq!(err.into_inner(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// No slot was free; the value is handed back.
    Full(T),
}

impl<T> PushError<T> {
    /// Returns the value that could not be pushed.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::PushError;
    /// assert_eq!(PushError::Full("x").into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(v) => v,
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ring is full")
    }
}

impl<T: fmt::Debug> core::error::Error for PushError<T> {}

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

#[cfg(not(kipc_loom))]
const fn new_slots<T, const N: usize>() -> [Slot<T>; N] {
    [const { Slot::new() }; N]
}

#[cfg(kipc_loom)]
fn new_slots<T, const N: usize>() -> [Slot<T>; N] {
    core::array::from_fn(|_| Slot::new())
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

impl<T, const N: usize> fmt::Debug for Ring<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpmc::Ring")
            .field("capacity", &N)
            .field("len", &self.len())
            .finish()
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
                        slot.seq.store(base.wrapping_add(1), PUBLISH_ORDER);
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
                crate::sync::spin_loop();
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
                crate::sync::spin_loop();
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
                crate::sync::spin_loop();
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
                        slot.seq.store(base.wrapping_add(1), PUBLISH_ORDER);
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
                crate::sync::spin_loop();
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

impl<T, const N: usize> Drop for Ring<T, N> {
    fn drop(&mut self) {
        if !core::mem::needs_drop::<T>() {
            return;
        }
        // `&mut self`: every push and pop has returned, so every position in
        // `head..tail` holds a published, unconsumed value.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut pos = head;
        while pos != tail {
            let (slot, _) = self.slot(pos);
            // SAFETY: position `pos` is in `head..tail`, so its value is
            // initialised and nobody else can read it any more.
            slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            pos = pos.wrapping_add(1);
        }
    }
}

#[cfg(all(test, not(kipc_loom)))]
mod tests {
    use super::*;
    use crate::sync::AtomicUsize as StdAtomicUsize;
    use std::vec::Vec;

    #[test]
    fn fills_to_capacity_then_rejects_and_hands_value_back() {
        let ring = Ring::<u32, 4>::new();
        for i in 0..4 {
            ring.push(i).unwrap();
        }
        assert!(ring.is_full());
        assert_eq!(ring.push(9), Err(PushError::Full(9)));
        for i in 0..4 {
            assert_eq!(ring.pop(), Some(i));
        }
        assert_eq!(ring.pop(), None);
    }

    #[test]
    fn wraps_around_many_laps_in_fifo_order() {
        let ring = Ring::<u64, 2>::new();
        for i in 0..1000u64 {
            ring.push(i).unwrap();
            ring.push(i + 1_000_000).unwrap();
            assert_eq!(ring.pop(), Some(i));
            assert_eq!(ring.pop(), Some(i + 1_000_000));
        }
        assert!(ring.is_empty());
    }

    #[test]
    fn drop_drops_remaining_items_exactly_once() {
        static DROPS: StdAtomicUsize = StdAtomicUsize::new(0);
        struct D;
        impl Drop for D {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::Relaxed);
            }
        }
        {
            let ring = Ring::<D, 8>::new();
            for _ in 0..5 {
                assert!(ring.push(D).is_ok());
            }
            drop(ring.pop());
        }
        assert_eq!(DROPS.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn batches_mix_with_single_operations_in_order() {
        let ring = Ring::<u32, 8>::new();
        assert_eq!(ring.push_slice(&[]), 0);
        assert_eq!(ring.push_slice(&[1, 2, 3]), 3);
        ring.push(4).unwrap();
        assert_eq!(ring.push_slice(&[5, 6, 7, 8, 9, 10]), 4);
        assert_eq!(ring.pop(), Some(1));
        let mut out = [0u32; 3];
        assert_eq!(ring.pop_slice(&mut out), 3);
        assert_eq!(out, [2, 3, 4]);
        assert_eq!(ring.push_slice(&[11, 12, 13, 14]), 4);
        let mut all = [0u32; 16];
        assert_eq!(ring.pop_slice(&mut all), 8);
        assert_eq!(all[..8], [5, 6, 7, 8, 11, 12, 13, 14]);
        assert_eq!(ring.pop_slice(&mut all), 0);
    }

    /// Runs `producers` x `consumers` threads moving `per_producer` items each,
    /// tagged `(producer << 32) | seq`; checks exactly-once and per-producer FIFO.
    fn stress(batch: bool) {
        const P: u64 = 2;
        const C: usize = 2;
        const PER: u64 = 200_000;
        static RING: Ring<u64, 64> = Ring::new();
        static RING_B: Ring<u64, 64> = Ring::new();
        let ring: &'static Ring<u64, 64> = if batch { &RING_B } else { &RING };
        let done = StdAtomicUsize::new(0);
        // A failed assertion in one thread must fail the test, not hang its peers.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let results: Vec<Vec<u64>> = std::thread::scope(|s| {
            for p in 0..P {
                s.spawn(move || {
                    let deadline = deadline;
                    let mut i = 0;
                    while i < PER {
                        if batch {
                            let mut chunk = [0u64; 16];
                            let k = (PER - i).min(16) as usize;
                            for (j, c) in chunk[..k].iter_mut().enumerate() {
                                *c = (p << 32) | (i + j as u64);
                            }
                            let n = ring.push_slice(&chunk[..k]);
                            i += n as u64;
                            if n == 0 {
                                assert!(std::time::Instant::now() < deadline, "stalled");
                                std::thread::yield_now();
                            }
                        } else if ring.push((p << 32) | i).is_ok() {
                            i += 1;
                        } else {
                            assert!(std::time::Instant::now() < deadline, "stalled");
                            std::thread::yield_now();
                        }
                    }
                });
            }
            let handles: Vec<_> = (0..C)
                .map(|_| {
                    let done = &done;
                    s.spawn(move || {
                        let mut got = Vec::new();
                        let mut last = [None::<u64>; P as usize];
                        while done.load(Ordering::Relaxed) < (P * PER) as usize {
                            let mut buf = [0u64; 16];
                            let n = if batch {
                                ring.pop_slice(&mut buf)
                            } else {
                                match ring.pop() {
                                    Some(v) => {
                                        buf[0] = v;
                                        1
                                    }
                                    None => 0,
                                }
                            };
                            if n == 0 {
                                assert!(std::time::Instant::now() < deadline, "stalled");
                                std::thread::yield_now();
                            }
                            for &v in &buf[..n] {
                                let (p, seq) = ((v >> 32) as usize, v & 0xffff_ffff);
                                if let Some(prev) = last[p] {
                                    assert!(seq > prev, "producer {p} out of order");
                                }
                                last[p] = Some(seq);
                                got.push(v);
                            }
                            done.fetch_add(n, Ordering::Relaxed);
                        }
                        got
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<u64> = results.into_iter().flatten().collect();
        all.sort_unstable();
        let expected: Vec<u64> = (0..P)
            .flat_map(|p| (0..PER).map(move |i| (p << 32) | i))
            .collect();
        assert_eq!(all, expected, "every item exactly once");
    }

    #[test]
    fn two_producers_two_consumers_deliver_exactly_once_in_producer_order() {
        stress(false);
    }

    #[test]
    fn batched_producers_and_consumers_deliver_exactly_once_in_producer_order() {
        stress(true);
    }
}
