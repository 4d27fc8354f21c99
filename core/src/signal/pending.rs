//! Lock-free raising: what an interrupt or a real signal handler may call.
//!
//! A handler may not take a lock (the thread it interrupted may hold it) or
//! allocate. So raising goes into two structures that need neither, and the
//! owner of the [`Process`](super::Process) state moves what was raised into
//! it later ([`Process::absorb`](super::Process::absorb)):
//!
//! - [`AtomicPending`]: one 64-bit word; raising a signal is one `fetch_or`,
//!   so repeated standard signals coalesce for free (rule 3), and the owner
//!   takes a deliverable one (`pending & !blocked`, rule 10 order) with one
//!   `fetch_and`.
//! - [`RaiseQueue`]: a bounded multi-producer queue of [`SigInfo`] for
//!   real-time instances (rule 4), which must not coalesce. It is Dmitry
//!   Vyukov's bounded MPMC array queue
//!   (<https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue>)
//!   with crossbeam's lap stamps. A full queue makes `push` fail at once with
//!   [`SigError::Again`] (`EAGAIN`, like `sigqueue` past `RLIMIT_SIGPENDING`).
//!
//! [`SignalInbox`] puts the two together.
//!
//! # Progress
//!
//! `AtomicPending` is wait-free for raisers. `RaiseQueue::push` is lock-free
//! (a CAS loop that fails only when another producer succeeded); it never
//! waits for a consumer. A producer interrupted between claiming a slot and
//! publishing it (say, by a signal handler that then pushes too) makes the
//! queue look empty from that slot on until it resumes: nothing is lost, and
//! nobody blocks, but the consumer sees later items late. Across processes a
//! dead producer would hide everything after its slot for good, which is why
//! this queue is for one process's own handlers, not for shared memory.
//!
//! The slot contents are atomics too, written `Relaxed` before the stamp's
//! `Release` store, so the module has no `unsafe` and loom checks it whole.

use super::{SigError, SigInfo, SigSet, Signal};
use crate::sync::{const_fn, AtomicU64, CachePadded, Ordering};

/// A set of pending signals that anyone may add to without locking.
///
/// # Examples
///
/// ```
/// use kipc_core::signal::{AtomicPending, SigSet, Signal};
/// let p = AtomicPending::new();
/// assert!(p.raise(Signal::USR1));
/// assert!(!p.raise(Signal::USR1)); // coalesced
/// p.raise(Signal::HUP);
/// let blocked = SigSet::from(Signal::HUP);
/// assert_eq!(p.take(blocked), Some(Signal::USR1));
/// assert_eq!(p.take(blocked), None); // HUP is blocked: it stays pending
/// assert_eq!(p.load(), SigSet::from(Signal::HUP));
/// ```
#[derive(Debug, Default)]
pub struct AtomicPending {
    /// Bit `n - 1` set: signal `n` is pending. Raisers only set bits; takers
    /// only clear them.
    word: AtomicU64,
}

impl AtomicPending {
    const_fn! {
        /// An empty set.
        pub fn new() -> AtomicPending {
            AtomicPending { word: AtomicU64::new(0) }
        }
    }

    /// Marks `sig` pending. Returns `true` if it was not pending before
    /// (`false`: it coalesced with a pending instance). Wait-free; safe in a
    /// signal handler.
    pub fn raise(&self, sig: Signal) -> bool {
        // SYNC: raise. Release so whatever the raiser wrote before raising is
        // visible to the thread that takes the signal.
        self.word.fetch_or(sig.bit(), Ordering::Release) & sig.bit() == 0
    }

    /// A snapshot of the pending set.
    pub fn load(&self) -> SigSet {
        // SYNC: raise
        SigSet::from_bits(self.word.load(Ordering::Acquire))
    }

    /// Takes the pending signal not in `blocked` that rule 10 delivers first
    /// (synchronous signals, then the lowest number), or `None` if every
    /// pending signal is blocked. Signals in `blocked` are never taken.
    pub fn take(&self, blocked: SigSet) -> Option<Signal> {
        loop {
            let sig = self.load().difference(blocked).next_for_delivery()?;
            // SYNC: raise. Only takers clear bits, so with one taker the bit is
            // still set; with several, another may have won: look again.
            let old = self.word.fetch_and(!sig.bit(), Ordering::AcqRel);
            if old & sig.bit() != 0 {
                return Some(sig);
            }
        }
    }

    /// Takes every pending signal in `set` at once and returns them.
    pub fn take_set(&self, set: SigSet) -> SigSet {
        // SYNC: raise
        let old = self.word.fetch_and(!set.bits(), Ordering::AcqRel);
        SigSet::from_bits(old).intersection(set)
    }
}

/// One slot of a [`RaiseQueue`].
#[derive(Debug)]
struct Slot {
    /// Lap stamp: `2 * lap` when free for the producer of lap `lap`,
    /// `2 * lap + 1` once that producer published, where `lap = position / N`.
    stamp: AtomicU64,
    /// `si_value`.
    value: AtomicU64,
    /// `si_pid << 32 | si_uid`.
    sender: AtomicU64,
    /// `si_signo` in bits 0..8, `si_code` (as `u32`) in bits 32..64.
    meta: AtomicU64,
}

impl Slot {
    const_fn! {
        fn new() -> Slot {
            Slot {
                stamp: AtomicU64::new(0),
                value: AtomicU64::new(0),
                sender: AtomicU64::new(0),
                meta: AtomicU64::new(0),
            }
        }
    }
}

/// A bounded lock-free FIFO of signal instances with their info, for
/// real-time signals raised from handler context. `N` must be a power of two.
/// See the [`signal` module documentation](crate::signal).
///
/// # Examples
///
/// ```
/// use kipc_core::signal::{RaiseQueue, SigError, SigInfo, Sender, Signal};
/// let q: RaiseQueue<2> = RaiseQueue::new();
/// let rt = Signal::RTMIN;
/// q.push(SigInfo::queued(rt, Sender::new(1, 0), 10)).unwrap();
/// q.push(SigInfo::queued(rt, Sender::new(1, 0), 11)).unwrap();
/// assert_eq!(q.push(SigInfo::queued(rt, Sender::new(1, 0), 12)), Err(SigError::Again));
/// assert_eq!(q.pop().map(|i| i.value), Some(10));
/// assert_eq!(q.pop().map(|i| i.value), Some(11));
/// assert_eq!(q.pop(), None);
/// ```
#[derive(Debug)]
pub struct RaiseQueue<const N: usize> {
    /// Next position a producer claims; only grows (by CAS).
    tail: CachePadded<AtomicU64>,
    /// Next position a consumer takes; only grows (by CAS).
    head: CachePadded<AtomicU64>,
    /// Position `p` lives in slot `p % N`.
    slots: [Slot; N],
}

impl<const N: usize> Default for RaiseQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RaiseQueue<N> {
    const CAPACITY_OK: () = assert!(
        N.is_power_of_two(),
        "RaiseQueue capacity must be a power of two"
    );

    /// An empty queue.
    #[cfg(not(kipc_loom))]
    pub const fn new() -> Self {
        let () = Self::CAPACITY_OK;
        RaiseQueue {
            tail: CachePadded::new(AtomicU64::new(0)),
            head: CachePadded::new(AtomicU64::new(0)),
            slots: [const { Slot::new() }; N],
        }
    }

    /// An empty queue.
    #[cfg(kipc_loom)]
    pub fn new() -> Self {
        let () = Self::CAPACITY_OK;
        RaiseQueue {
            tail: CachePadded::new(AtomicU64::new(0)),
            head: CachePadded::new(AtomicU64::new(0)),
            slots: core::array::from_fn(|_| Slot::new()),
        }
    }

    /// The slot and lap of position `pos`.
    fn locate(&self, pos: u64) -> (&Slot, u64) {
        let n = N as u64;
        // `pos % n < n == slots.len()`, so the index is in range.
        (&self.slots[(pos % n) as usize], pos / n)
    }

    /// Appends `info`. Lock-free and allocation-free: safe in a signal handler.
    ///
    /// # Errors
    ///
    /// [`SigError::Again`] if the queue is full; nothing is queued.
    pub fn push(&self, info: SigInfo) -> Result<(), SigError> {
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            let (slot, lap) = self.locate(pos);
            // SYNC: slot free. Acquire: the consumer of the previous lap has
            // finished reading this slot before we overwrite it.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == 2 * lap {
                // The slot is free for this lap: claim position `pos`.
                match self.tail.compare_exchange_weak(
                    pos,
                    pos + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.value.store(info.value, Ordering::Relaxed);
                        let sender = (u64::from(info.pid) << 32) | u64::from(info.uid);
                        slot.sender.store(sender, Ordering::Relaxed);
                        let meta =
                            u64::from(info.signo.number()) | (u64::from(info.code as u32) << 32);
                        slot.meta.store(meta, Ordering::Relaxed);
                        // SYNC: publish slot
                        slot.stamp.store(2 * lap + 1, Ordering::Release);
                        return Ok(());
                    }
                    // Another producer claimed it; try where the tail is now.
                    Err(now) => pos = now,
                }
            } else if stamp < 2 * lap {
                // The slot still holds (or is being given) the previous lap's
                // item, and `pos` was the tail: the queue is full.
                return Err(SigError::Again);
            } else {
                // Another producer already used this lap: our `pos` is stale.
                crate::sync::spin_loop();
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Removes the oldest published item, or `None` if there is none (or the
    /// oldest claimed slot is not yet published).
    pub fn pop(&self) -> Option<SigInfo> {
        let mut pos = self.head.load(Ordering::Relaxed);
        loop {
            let (slot, lap) = self.locate(pos);
            // SYNC: publish slot
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == 2 * lap + 1 {
                match self.head.compare_exchange_weak(
                    pos,
                    pos + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let value = slot.value.load(Ordering::Relaxed);
                        let sender = slot.sender.load(Ordering::Relaxed);
                        let meta = slot.meta.load(Ordering::Relaxed);
                        // SYNC: slot free
                        slot.stamp.store(2 * (lap + 1), Ordering::Release);
                        // Only `push` writes `meta`, always from a valid Signal.
                        let signo = Signal::new((meta & 0xff) as u32).unwrap_or(Signal::RTMIN);
                        return Some(SigInfo {
                            signo,
                            code: (meta >> 32) as u32 as i32,
                            pid: (sender >> 32) as u32,
                            uid: sender as u32,
                            value,
                        });
                    }
                    Err(now) => pos = now,
                }
            } else if stamp < 2 * lap + 1 {
                return None;
            } else {
                crate::sync::spin_loop();
                pos = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// The capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }
}

/// Where a signal handler raises signals for a [`Process`](super::Process):
/// standard signals into an [`AtomicPending`] (they coalesce), real-time ones
/// with their info into a [`RaiseQueue`] of `N` (they queue).
///
/// # Examples
///
/// ```
/// use kipc_core::signal::{SignalInbox, SigInfo, Sender, Signal};
/// let inbox: SignalInbox<4> = SignalInbox::new();
/// inbox.raise(SigInfo::user(Signal::USR1, Sender::new(9, 0))).unwrap();
/// inbox.raise(SigInfo::queued(Signal::RTMIN, Sender::new(9, 0), 5)).unwrap();
/// assert!(inbox.standard.load().contains(Signal::USR1));
/// assert_eq!(inbox.realtime.pop().map(|i| i.value), Some(5));
/// ```
#[derive(Debug, Default)]
pub struct SignalInbox<const N: usize> {
    /// Raised standard signals (their sender info is not kept).
    pub standard: AtomicPending,
    /// Raised real-time instances, oldest first.
    pub realtime: RaiseQueue<N>,
}

impl<const N: usize> SignalInbox<N> {
    /// An empty inbox.
    #[cfg(not(kipc_loom))]
    pub const fn new() -> Self {
        SignalInbox {
            standard: AtomicPending::new(),
            realtime: RaiseQueue::new(),
        }
    }

    /// An empty inbox.
    #[cfg(kipc_loom)]
    pub fn new() -> Self {
        SignalInbox {
            standard: AtomicPending::new(),
            realtime: RaiseQueue::new(),
        }
    }

    /// Raises `info.signo`. Lock-free and allocation-free.
    ///
    /// # Errors
    ///
    /// [`SigError::Again`] if a real-time signal finds the queue full.
    pub fn raise(&self, info: SigInfo) -> Result<(), SigError> {
        if info.signo.is_realtime() {
            self.realtime.push(info)
        } else {
            self.standard.raise(info.signo);
            Ok(())
        }
    }
}
