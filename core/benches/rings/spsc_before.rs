//! The typed SPSC ring as it was before issue 14 item 3 (`core/src/spsc/ring.rs`
//! at commit 3b1cd11): handles hold a `&[Slot<T>]` and take the capacity from
//! its length. Kept only so `rings.rs` can measure a changed ring against the
//! old one in one interleaved pass; not part of the library. While the ring's
//! code is unchanged, `before14` against `kipc` is a control: two copies of
//! the same code, so any gap between them is code placement or noise.
#![allow(dead_code)]

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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

const PUBLISH_ORDER: Ordering = Ordering::Release;

#[inline(always)]
const fn distance(head: u32, tail: u32) -> u32 {
    tail.wrapping_sub(head)
}

type Slot<T> = UnsafeCell<MaybeUninit<T>>;

#[repr(C)]
struct Indices {
    tail: CachePadded<AtomicU32>,
    head: CachePadded<AtomicU32>,
    split_taken: AtomicBool,
}

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

const fn new_slots<T, const N: usize>() -> [Slot<T>; N] {
    [const { UnsafeCell::new(MaybeUninit::uninit()) }; N]
}

impl<T, const N: usize> Ring<T, N> {
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

    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    pub fn split(&mut self) -> (Producer<'_, T>, Consumer<'_, T>) {
        self.handles()
    }

    pub fn try_split(&self) -> Option<(Producer<'_, T>, Consumer<'_, T>)> {
        self.indices
            .split_taken
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        Some(self.handles())
    }

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

#[inline(always)]
fn slot_at<T>(slots: &[Slot<T>], pos: u32) -> &Slot<T> {
    debug_assert!(slots.len().is_power_of_two());
    let index = pos as usize & (slots.len() - 1);
    // SAFETY: `slots.len()` is a power of two (checked when the ring was
    // built), so masking with `len - 1` yields an index below `len`.
    unsafe { slots.get_unchecked(index) }
}

#[inline(always)]
fn cap_of<T>(slots: &[Slot<T>]) -> u32 {
    slots.len() as u32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    Full(T),
}

impl<T> PushError<T> {
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

impl<T: fmt::Debug> std::error::Error for PushError<T> {}

pub struct Producer<'a, T> {
    indices: &'a Indices,
    slots: &'a [Slot<T>],
    tail: u32,
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
        self.indices.tail.store(self.tail, PUBLISH_ORDER);
        Ok(())
    }

    #[inline]
    pub fn len(&self) -> usize {
        distance(self.indices.head.load(Ordering::Acquire), self.tail) as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    #[inline]
    pub fn free_len(&self) -> usize {
        self.capacity() - self.len()
    }

    #[inline]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

impl<T: Copy> Producer<'_, T> {
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
        self.indices.tail.store(self.tail, PUBLISH_ORDER);
        n as usize
    }
}

pub struct Consumer<'a, T> {
    indices: &'a Indices,
    slots: &'a [Slot<T>],
    head: u32,
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

    #[inline(always)]
    fn advance(&mut self, n: u32) {
        self.head = self.head.wrapping_add(n);
        // SYNC: consume slot. Release: our reads of the slots come before the
        // producer's Acquire load of `head` and its next write to them.
        self.indices.head.store(self.head, Ordering::Release);
    }

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

    #[inline]
    pub fn len(&self) -> usize {
        distance(self.head, self.indices.tail.load(Ordering::Acquire)) as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

impl<T: Copy> Consumer<'_, T> {
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
