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
//! returned; 3b. `seq` is behind: position `t - N` has not released the
//! slot: its item is still there, or a consumer has claimed it and is still
//! reading it out (or its producer, a lap behind, has not even published
//! it); look again up to `PATIENCE` times (see "What the checks cost"),
//! then tell "full" from "a peer mid-operation" by the counters (step 4);
//! 3c. `seq` is ahead: our `t` is stale, reload `tail` and retry. 4. (the *full check*, as in
//! crossbeam's `ArrayQueue`) a SeqCst fence, then load `head`: if
//! `head + N == t` the ring is full at that instant, return
//! [`PushError::Full`]; otherwise a consumer is mid-read of the slot (or `t`
//! is stale): spin with the shim's hint, reload `tail` and retry from 2.
//!
//! **pop** mirrors it: load `head` = `h`; load `seq` (Acquire, pairs with the
//! producer's publish); equal to `base(h) + 1`: CAS `head: h -> h + 1`, read
//! the value, store `seq = base(h) + N` (Release: release slot); ahead: stale
//! `h`, reload; behind: look again up to `PATIENCE` times (see "What the
//! checks cost"), then the *empty check*: SeqCst fence, load `tail`; if
//! `tail == h` the ring is empty at that instant, return `None`; otherwise the
//! producer of position `h` has claimed it and not yet published (or `h` is
//! stale): spin, reload `head`, retry.
//!
//! **Why the checks make the ring linearizable.** `head` and `tail` only grow
//! and `head <= tail <= head + N` at every instant. When pop's empty check
//! reads `tail == h`, `head` is at least `h` (we read `h` earlier and it only
//! grows) and at most `tail`, so `head == tail == h`: the ring is empty at the
//! instant of that load, which lies inside the call. The fence, together with
//! the SeqCst CASes on `head` and `tail`, places that load in the single total
//! order of those operations, so "the instant" is one all threads agree on
//! (crossbeam-queue's `ArrayQueue` makes the same argument). A thread that
//! has just pushed therefore never pops `None` while its item is in the ring,
//! even if another producer's claim ahead of it is still unpublished: it
//! waits for that producer instead. Symmetrically, a push that returns
//! [`PushError::Full`] saw `tail == head + N` at one instant. The CASes are
//! SeqCst for this reason only; all data is handed over through `seq`.
//!
//! **What the checks cost.** A pop that finds the head slot unpublished, and
//! a push that finds the tail slot not yet released, now load the other
//! side's counter (`tail` resp. `head`) after a fence; the successful paths
//! are unchanged. Loading `tail` takes the producers' cache line, which their
//! next CAS must take back: with a consumer polling an empty ring, one more
//! cache-line transfer per item, which in the single-item 1p1c benchmark
//! (`core/benches/rings.rs`; row `before18` is the ring as it was before, in
//! the same rounds) cost well over half the throughput. So a pop first looks
//! at the unpublished slot again up to `PATIENCE` (32) times with the spin
//! hint, and only then reads `tail` (and waits as long again before reading
//! it again): a pop on an empty ring takes 32 spin hints longer to return
//! `None` than before. A push on a full ring does the same before it reads
//! `head`: without that, a producer retrying on a full ring read the
//! consumer's line on every try, so the consumer's next CAS on `head` (the
//! side a full ring waits for) missed. Waiting inside the call has a price
//! of its own: a caller that backs off after so many failed calls (yields
//! the CPU, say) now spins `PATIENCE + 1` hints per failed call, so it backs
//! off later; with a much larger `PATIENCE` (4096) the single-item benchmark
//! on a loaded 2-core machine fell to a third of `before18`. With 32 on both
//! sides it measured 0.7-0.9x `before18` there (medians of interleaved
//! runs; the machine's noise is about as large); the one-item calls cannot
//! both report full/empty linearizably and never look at the other side's
//! counter. Not reading `tail` at all would need the claim to be
//! visible in the slot; a claim mark set with a CAS before the CAS on `tail`
//! was tried and measured slower still (the producer then stalls on a locked
//! instruction on the line the consumer is polling).
//!
//! **Batches** ([`Ring::push_slice`], [`Ring::pop_slice`], `T: Copy`): scan
//! the `seq` words from `t` forward for the longest run of `k` slots that are
//! free for their positions, claim the whole run with *one* CAS
//! `tail: t -> t + k`, then write and publish each slot. A `seq` value names
//! its position uniquely, so slots seen free before the CAS stay free: only
//! the producer that claims their position writes them, and that is us once
//! the CAS succeeds. Consumers do the same with `head`. One contended CAS
//! then covers `k` items. Only an empty run (`k == 0`) goes through the full
//! (resp. empty) check, so a batch call returns 0 only if the ring was full
//! (resp. empty) at an instant during the call, with the same waiting as the
//! single calls; a run of `k >= 1` is taken as found, without waiting for
//! the in-flight peer at its end (that would only hold back items that can
//! move now).
//!
//! # Progress: not lock-free in the strict sense
//!
//! A producer that is preempted, stopped or killed between its successful
//! CAS on `tail` and its store to `seq` leaves a claimed, unpublished slot.
//! Every consumer that reaches that slot waits (spinning with the shim's
//! hint) until the producer resumes, even though later slots may already be
//! published; likewise a stalled consumer makes producers one lap later wait
//! for its slot. Before issue 18 those callers returned `None`/`Full` at once
//! instead; either way they could not get past the stalled slot, so waiting
//! costs no progress that existed before, and it is what makes `None` mean
//! "empty". The ring is therefore *blocking* in the progress-theory sense
//! (heapless deprecated its MPMC queue for exactly this reason). In practice
//! the window is a handful of instructions, but a thread can be descheduled
//! inside it. Within one process this is an acceptable trade; across
//! processes, where the stalled party may be dead, it is not, which is why
//! the region form uses per-producer lanes.
//!
//! Where waiting for another thread is not allowed, most of all in an
//! interrupt or signal handler that may have interrupted the very producer
//! it would wait for, use [`Ring::push_no_wait`] and [`Ring::pop_no_wait`]:
//! they never wait for a peer, and report a peer mid-operation as
//! [`NoWait::Busy`] rather than as full or empty.
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

/// Whether the full and empty checks run (see the module documentation).
/// `--cfg kipc_loom_weaken="mpmc_linear"` turns them off, restoring the old
/// "behind means full/empty" shortcut, which must make the linearizability
/// models in `loom-tests/tests/mpmc.rs` fail (never used in a real build).
const CHECK_IN_FLIGHT: bool = !cfg!(kipc_loom_weaken = "mpmc_linear");

/// How many times a pop looks again at an unpublished head slot (and a push
/// at a tail slot not yet released), with the spin hint, before the empty
/// check reads `tail` (the full check `head`). 0 under loom: each look is
/// a yield there, which multiplies the interleavings of every waiting loop
/// past loom's branch limit; the looks only delay the check, they decide
/// nothing.
#[cfg(not(kipc_loom))]
const PATIENCE: u32 = 32;
#[cfg(kipc_loom)]
const PATIENCE: u32 = 0;

/// Ordering of the CASes on `head` and `tail`: SeqCst, so that the full and
/// empty checks' fence-then-load sees them in one total order.
const CLAIM_ORDER: Ordering = Ordering::SeqCst;

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

/// The error of [`Ring::push_no_wait`] (`T` the rejected value) and
/// [`Ring::pop_no_wait`] (`T = ()`): why the call returned without waiting.
///
/// # Examples
///
/// ```
/// use kipc_core::mpmc::{NoWait, Ring};
/// let ring = Ring::<u8, 2>::new();
/// assert_eq!(ring.pop_no_wait(), Err(NoWait::Empty(())));
/// ring.push_no_wait(1).unwrap();
/// ring.push_no_wait(2).unwrap();
/// assert_eq!(ring.push_no_wait(3), Err(NoWait::Full(3)));
/// assert_eq!(NoWait::Full(3).into_inner(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoWait<T> {
    /// Push only: the ring was full at an instant during the call.
    Full(T),
    /// Pop only: the ring was empty at an instant during the call.
    Empty(T),
    /// The slot the call needs is held by a peer mid-operation: a producer
    /// that has claimed the head slot but not yet published it (pop), or a
    /// consumer still reading out the slot the tail needs (push). The ring
    /// was neither empty nor full; retrying after that peer runs succeeds.
    Busy(T),
}

impl<T> NoWait<T> {
    /// Returns the value handed back (the rejected item of a push).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::NoWait;
    /// assert_eq!(NoWait::Busy('x').into_inner(), 'x');
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            NoWait::Full(v) | NoWait::Empty(v) | NoWait::Busy(v) => v,
        }
    }
}

impl<T> fmt::Display for NoWait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoWait::Full(_) => "ring is full",
            NoWait::Empty(_) => "ring is empty",
            NoWait::Busy(_) => "a peer is mid-operation on the slot needed",
        })
    }
}

impl<T: fmt::Debug> core::error::Error for NoWait<T> {}

/// What a claim scan ([`Ring::claim_push`], [`Ring::claim_pop`]) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// The caller owns positions `start..start + len` (`len >= 1`).
    Run { start: u64, len: u64 },
    /// Full (push) or empty (pop) at an instant during the scan.
    None,
    /// A peer is mid-operation on the first slot (only when not waiting).
    Busy,
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

    /// Claims up to `want` (`1..=N`) consecutive positions for pushing, with
    /// one CAS on `tail`: the run of slots found free from the tail on (at
    /// least one), or [`Claim::None`] if the ring was full at an instant
    /// during the call. If the tail slot is still being read out by a
    /// consumer, waits for it (`WAIT`) or returns [`Claim::Busy`].
    #[inline(always)]
    fn claim_push<const WAIT: bool>(&self, want: u64) -> Claim {
        debug_assert!(want >= 1 && want <= N as u64);
        let mut tail = self.tail.load(Ordering::Relaxed);
        let mut polls = 0u32;
        loop {
            // Count the slots free for positions tail, tail+1, ...
            let mut run = 0u64;
            let mut first = 0i64;
            while run < want {
                let (slot, base) = self.slot(tail.wrapping_add(run));
                // SYNC: release slot. Pairs with the consumer's Release store of `seq`.
                let seq = slot.seq.load(Ordering::Acquire);
                let d = Self::diff(seq, base);
                if run == 0 {
                    first = d;
                }
                if d != 0 {
                    break;
                }
                run += 1;
            }
            if run == 0 {
                if first > 0 {
                    // `seq` ahead: our `tail` is stale.
                    crate::sync::spin_loop();
                    tail = self.tail.load(Ordering::Relaxed);
                    continue;
                }
                // `seq` behind: the slot still holds position `tail - N`'s
                // item, or a consumer is reading it out. Full check: is
                // `tail - N` the head, so that nobody has claimed it?
                if !CHECK_IN_FLIGHT {
                    // Weakened build only: the shortcut before issue 18.
                    return Claim::None;
                }
                if polls < PATIENCE {
                    // Look at the slot a few more times first: reading `head`
                    // takes the consumers' cache line, which their next CAS
                    // must then take back (and on a full ring the consumer is
                    // the side everyone waits for).
                    polls += 1;
                    crate::sync::spin_loop();
                    tail = self.tail.load(Ordering::Relaxed);
                    continue;
                }
                crate::sync::fence(Ordering::SeqCst);
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(N as u64) == tail {
                    // `tail == head + N` at the instant of that load.
                    return Claim::None;
                }
                // A consumer is mid-read there, or `tail` is stale.
                let now = self.tail.load(Ordering::Relaxed);
                if now == tail {
                    if !WAIT {
                        return Claim::Busy;
                    }
                    crate::sync::spin_loop();
                }
                // Patience again before the next read of `head`.
                polls = 0;
                tail = now;
                continue;
            }
            match self.tail.compare_exchange_weak(
                tail,
                tail.wrapping_add(run),
                CLAIM_ORDER,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Claim::Run {
                        start: tail,
                        len: run,
                    }
                }
                // Another producer moved `tail`; rescan from theirs.
                Err(t) => tail = t,
            }
        }
    }

    /// Claims up to `want` (`1..=N`) consecutive positions for popping, with
    /// one CAS on `head`: the run of published items from the head on (at
    /// least one), or [`Claim::None`] if the ring was empty at an instant
    /// during the call. If the producer of the head item has claimed its slot
    /// but not yet published it, waits for it (`WAIT`) or returns
    /// [`Claim::Busy`].
    #[inline(always)]
    fn claim_pop<const WAIT: bool>(&self, want: u64) -> Claim {
        debug_assert!(want >= 1 && want <= N as u64);
        let mut head = self.head.load(Ordering::Relaxed);
        let mut polls = 0u32;
        loop {
            let mut run = 0u64;
            let mut first = 0i64;
            while run < want {
                let (slot, base) = self.slot(head.wrapping_add(run));
                // SYNC: publish slot. Pairs with the producer's Release store of `seq`.
                let seq = slot.seq.load(Ordering::Acquire);
                let d = Self::diff(seq, base.wrapping_add(1));
                if run == 0 {
                    first = d;
                }
                if d != 0 {
                    break;
                }
                run += 1;
            }
            if run == 0 {
                if first > 0 {
                    // `seq` ahead: our `head` is stale.
                    crate::sync::spin_loop();
                    head = self.head.load(Ordering::Relaxed);
                    continue;
                }
                // Position `head` is not published. Empty check: has any
                // producer claimed it?
                if !CHECK_IN_FLIGHT {
                    // Weakened build only: the shortcut before issue 18.
                    return Claim::None;
                }
                if polls < PATIENCE {
                    // Look at the slot a few more times first: reading `tail`
                    // takes the producers' cache line, which their next CAS
                    // must then take back.
                    polls += 1;
                    crate::sync::spin_loop();
                    head = self.head.load(Ordering::Relaxed);
                    continue;
                }
                crate::sync::fence(Ordering::SeqCst);
                let tail = self.tail.load(Ordering::Relaxed);
                if tail == head {
                    // `head == tail` at the instant of that load.
                    return Claim::None;
                }
                // Its producer is mid-push, or `head` is stale.
                let now = self.head.load(Ordering::Relaxed);
                if now == head {
                    if !WAIT {
                        return Claim::Busy;
                    }
                    crate::sync::spin_loop();
                }
                // Patience again before the next read of `tail`.
                polls = 0;
                head = now;
                continue;
            }
            match self.head.compare_exchange_weak(
                head,
                head.wrapping_add(run),
                CLAIM_ORDER,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Claim::Run {
                        start: head,
                        len: run,
                    }
                }
                Err(h) => head = h,
            }
        }
    }

    /// Writes `value` into the slot of `pos` and publishes it.
    ///
    /// # Safety
    ///
    /// The caller's claim CAS took position `pos`, and it has not been
    /// published yet.
    #[inline(always)]
    unsafe fn publish(&self, pos: u64, value: T) {
        let (slot, base) = self.slot(pos);
        // SAFETY: the caller claimed `pos` and the scan saw its slot free for
        // it: no other producer writes this slot and no consumer reads it
        // until we publish `seq` below.
        slot.value
            .with_mut(|p| unsafe { p.write(MaybeUninit::new(value)) });
        // SYNC: publish slot. Pairs with the Acquire loads in `claim_pop`.
        slot.seq.store(base.wrapping_add(1), PUBLISH_ORDER);
    }

    /// Reads the value of `pos` out of its slot and releases the slot to
    /// the producer of `pos + N`.
    ///
    /// # Safety
    ///
    /// The caller's claim CAS took position `pos` after seeing it published,
    /// and it has not been taken yet.
    #[inline(always)]
    unsafe fn take(&self, pos: u64) -> T {
        let (slot, base) = self.slot(pos);
        // SAFETY: the scan saw `seq == base + 1` (Acquire), so the value of
        // `pos` is initialised and visible; the caller's CAS made it the only
        // reader.
        let value = slot.value.with(|p| unsafe { p.read().assume_init() });
        // SYNC: release slot. Pairs with the Acquire loads in `claim_push`.
        slot.seq
            .store(base.wrapping_add(N as u64), Ordering::Release);
        value
    }

    /// Pushes `value` at the tail.
    ///
    /// Linearizable: it fails only if the ring was full at some instant
    /// during the call. If a consumer has claimed the slot it needs and is
    /// still reading it out, it waits (spinning) for that consumer; see
    /// "Progress" in the [module documentation](self), and
    /// [`Ring::push_no_wait`] for a variant that never waits.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] with the value if the ring was full.
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
        match self.claim_push::<true>(1) {
            Claim::Run { start, .. } => {
                // SAFETY: `claim_push` just took position `start` for us.
                unsafe { self.publish(start, value) };
                Ok(())
            }
            // (`Busy` cannot come back from a waiting claim.)
            Claim::None | Claim::Busy => Err(PushError::Full(value)),
        }
    }

    /// Pops the item at the head, or `None` if the ring is empty.
    ///
    /// Linearizable: it returns `None` only if the ring was empty at some
    /// instant during the call. If the producer of the head item has claimed
    /// its slot but not yet published it, it waits (spinning) for that
    /// producer; see "Progress" in the [module documentation](self), and
    /// [`Ring::pop_no_wait`] for a variant that never waits.
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
        match self.claim_pop::<true>(1) {
            // SAFETY: `claim_pop` just took the published position `start`.
            Claim::Run { start, .. } => Some(unsafe { self.take(start) }),
            Claim::None | Claim::Busy => None,
        }
    }

    /// Pushes `value` at the tail without ever waiting for another thread:
    /// for interrupt and signal handlers, which may have interrupted the
    /// very consumer a waiting [`push`](Ring::push) would wait for.
    ///
    /// Lock-free for the caller in the sense that it returns after a bounded
    /// number of steps unless other producers keep succeeding.
    ///
    /// # Errors
    ///
    /// - [`NoWait::Full`] with the value if the ring was full at some instant
    ///   during the call;
    /// - [`NoWait::Busy`] with the value if a consumer is still reading out
    ///   the slot this push needs (the ring is not full: it has a free slot
    ///   a moment later).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::{NoWait, Ring};
    /// let ring = Ring::<u8, 2>::new();
    /// assert_eq!(ring.push_no_wait(1), Ok(()));
    /// assert_eq!(ring.push_no_wait(2), Ok(()));
    /// assert_eq!(ring.push_no_wait(3), Err(NoWait::Full(3)));
    /// ```
    pub fn push_no_wait(&self, value: T) -> Result<(), NoWait<T>> {
        match self.claim_push::<false>(1) {
            Claim::Run { start, .. } => {
                // SAFETY: `claim_push` just took position `start` for us.
                unsafe { self.publish(start, value) };
                Ok(())
            }
            Claim::None => Err(NoWait::Full(value)),
            Claim::Busy => Err(NoWait::Busy(value)),
        }
    }

    /// Pops the item at the head without ever waiting for another thread:
    /// for interrupt and signal handlers, which may have interrupted the
    /// very producer a waiting [`pop`](Ring::pop) would wait for.
    ///
    /// # Errors
    ///
    /// - [`NoWait::Empty`] if the ring was empty at some instant during the
    ///   call;
    /// - [`NoWait::Busy`] if the producer of the head item has claimed its
    ///   slot but not yet published it (the ring is not empty).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::mpmc::{NoWait, Ring};
    /// let ring = Ring::<u8, 2>::new();
    /// assert_eq!(ring.pop_no_wait(), Err(NoWait::Empty(())));
    /// ring.push(5).unwrap();
    /// assert_eq!(ring.pop_no_wait(), Ok(5));
    /// ```
    pub fn pop_no_wait(&self) -> Result<T, NoWait<()>> {
        match self.claim_pop::<false>(1) {
            // SAFETY: `claim_pop` just took the published position `start`.
            Claim::Run { start, .. } => Ok(unsafe { self.take(start) }),
            Claim::None => Err(NoWait::Empty(())),
            Claim::Busy => Err(NoWait::Busy(())),
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
    /// Pushes a leading run of `items` with one CAS on the tail for the whole
    /// run, and returns its length: 0 only if `items` is empty or the ring
    /// was full at some instant during the call (like [`push`](Ring::push),
    /// it waits for a consumer still reading out the tail slot). Otherwise
    /// the run is the free slots found from the tail on, `1..=items.len()`
    /// of them; it may stop short of the free space at a slot a consumer is
    /// still reading out, since waiting there would only delay items that
    /// could go now. The run is contiguous, so another producer's items never
    /// interleave with it.
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
        match self.claim_push::<true>(want) {
            Claim::Run { start, len } => {
                for (i, item) in items.iter().take(len as usize).enumerate() {
                    // SAFETY: `claim_push` took positions `start..start + len`.
                    unsafe { self.publish(start.wrapping_add(i as u64), *item) };
                }
                len as usize
            }
            Claim::None | Claim::Busy => 0,
        }
    }

    /// Pops a run of consecutive items (in ring order) into the front of
    /// `out` with one CAS on the head for the whole run, and returns its
    /// length: 0 only if `out` is empty or the ring was empty at some instant
    /// during the call (like [`pop`](Ring::pop), it waits for a producer
    /// that has claimed the head slot but not yet published it). Otherwise
    /// the run is the published items found from the head on,
    /// `1..=out.len()` of them; it stops at the first item whose producer
    /// has not finished, rather than waiting for it.
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
        match self.claim_pop::<true>(want) {
            Claim::Run { start, len } => {
                for (i, dst) in out.iter_mut().take(len as usize).enumerate() {
                    // SAFETY: `claim_pop` took the published positions
                    // `start..start + len`.
                    *dst = unsafe { self.take(start.wrapping_add(i as u64)) };
                }
                len as usize
            }
            Claim::None | Claim::Busy => 0,
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
