//! The typed MPMC ring as it is on main after issue 18's linearizable pop/push
//! (commit ba69269 of `core/src/mpmc.rs`: PATIENCE spins, then the empty/full
//! check reads the other side's counter). Kept only so `rings.rs` can measure
//! changes to the ring against it in one interleaved pass (rows `main18*`);
//! not part of the library. The module documentation of that commit explains
//! the protocol.
#![allow(dead_code)]

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::atomic::{fence, AtomicU64, Ordering};

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

const PUBLISH_ORDER: Ordering = Ordering::Release;
const CHECK_IN_FLIGHT: bool = true;
const PATIENCE: u32 = 32;
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

impl<T: fmt::Debug> std::error::Error for PushError<T> {}

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

impl<T: fmt::Debug> std::error::Error for NoWait<T> {}

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
                    std::hint::spin_loop();
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
                    std::hint::spin_loop();
                    tail = self.tail.load(Ordering::Relaxed);
                    continue;
                }
                fence(Ordering::SeqCst);
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
                    std::hint::spin_loop();
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
                    std::hint::spin_loop();
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
                    std::hint::spin_loop();
                    head = self.head.load(Ordering::Relaxed);
                    continue;
                }
                fence(Ordering::SeqCst);
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
                    std::hint::spin_loop();
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
