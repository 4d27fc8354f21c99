//! [`SigSet`]: a set of signals in one 64-bit word (`sigset_t` on Linux).

use super::Signal;
use core::fmt;
use core::ops::{BitAnd, BitOr, Not, Sub};

/// A set of signals: bit `n - 1` stands for signal `n`.
///
/// Every `u64` is a valid set, so a set read from shared memory needs no check.
///
/// # Examples
///
/// ```
/// use kipc_core::signal::{SigSet, Signal};
/// let a = SigSet::EMPTY.with(Signal::USR1).with(Signal::TERM);
/// let b = SigSet::from_signals(&[Signal::TERM, Signal::HUP]);
/// assert_eq!(a.intersection(b), SigSet::from_signals(&[Signal::TERM]));
/// assert_eq!(a.union(b).len(), 3);
/// assert!(a.difference(b).contains(Signal::USR1));
/// assert!(!a.complement().contains(Signal::USR1));
/// let order: Vec<Signal> = a.union(b).iter().collect();
/// assert_eq!(order, [Signal::HUP, Signal::USR1, Signal::TERM]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SigSet(u64);

impl SigSet {
    /// No signal.
    pub const EMPTY: SigSet = SigSet(0);
    /// All 64 signals.
    pub const FULL: SigSet = SigSet(u64::MAX);
    /// SIGKILL and SIGSTOP, which no mask may contain (rule 7).
    pub const UNCATCHABLE: SigSet = SigSet(Signal::KILL.bit() | Signal::STOP.bit());
    /// Linux's `SYNCHRONOUS_MASK`: SEGV, BUS, ILL, TRAP, FPE, SYS (rule 10).
    pub const SYNCHRONOUS: SigSet = SigSet(
        Signal::SEGV.bit()
            | Signal::BUS.bit()
            | Signal::ILL.bit()
            | Signal::TRAP.bit()
            | Signal::FPE.bit()
            | Signal::SYS.bit(),
    );
    /// The stop signals: SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU (rule 8).
    pub const STOP_SIGNALS: SigSet =
        SigSet(Signal::STOP.bit() | Signal::TSTP.bit() | Signal::TTIN.bit() | Signal::TTOU.bit());
    /// The standard signals, `1..=31`.
    pub const STANDARD: SigSet = SigSet((1u64 << (Signal::RTMIN.number() - 1)) - 1);
    /// The real-time signals, `SIGRTMIN..=SIGRTMAX`.
    pub const REALTIME: SigSet = SigSet(!Self::STANDARD.0);

    /// The set whose bit `n - 1` is set for each signal `n`.
    pub const fn from_bits(bits: u64) -> SigSet {
        SigSet(bits)
    }

    /// The raw word (bit `n - 1` for signal `n`), as in the kernel's `sigset_t`.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The set holding exactly `signals`.
    pub const fn from_signals(signals: &[Signal]) -> SigSet {
        let mut bits = 0;
        let mut i = 0;
        while i < signals.len() {
            bits |= signals[i].bit();
            i += 1;
        }
        SigSet(bits)
    }

    /// This set plus `sig`.
    #[must_use]
    pub const fn with(self, sig: Signal) -> SigSet {
        SigSet(self.0 | sig.bit())
    }

    /// This set minus `sig`.
    #[must_use]
    pub const fn without(self, sig: Signal) -> SigSet {
        SigSet(self.0 & !sig.bit())
    }

    /// Adds `sig`; returns whether it was absent.
    pub fn insert(&mut self, sig: Signal) -> bool {
        let was = self.contains(sig);
        self.0 |= sig.bit();
        !was
    }

    /// Removes `sig`; returns whether it was present.
    pub fn remove(&mut self, sig: Signal) -> bool {
        let was = self.contains(sig);
        self.0 &= !sig.bit();
        was
    }

    /// Whether `sig` is in the set.
    pub const fn contains(self, sig: Signal) -> bool {
        self.0 & sig.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many signals the set holds.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Signals in either set.
    #[must_use]
    pub const fn union(self, other: SigSet) -> SigSet {
        SigSet(self.0 | other.0)
    }

    /// Signals in both sets.
    #[must_use]
    pub const fn intersection(self, other: SigSet) -> SigSet {
        SigSet(self.0 & other.0)
    }

    /// Signals in `self` but not in `other`.
    #[must_use]
    pub const fn difference(self, other: SigSet) -> SigSet {
        SigSet(self.0 & !other.0)
    }

    /// Signals not in `self`.
    #[must_use]
    pub const fn complement(self) -> SigSet {
        SigSet(!self.0)
    }

    /// The lowest-numbered signal in the set.
    pub const fn lowest(self) -> Option<Signal> {
        if self.0 == 0 {
            None
        } else {
            Signal::new(self.0.trailing_zeros() + 1)
        }
    }

    /// The signal Linux's `next_signal()` would deliver from this set of
    /// deliverable signals (rule 10): the lowest-numbered synchronous one
    /// ([`SigSet::SYNCHRONOUS`]) if any, else the lowest-numbered one.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::signal::{SigSet, Signal};
    /// let s = SigSet::from_signals(&[Signal::HUP, Signal::SEGV, Signal::rt(0).unwrap()]);
    /// assert_eq!(s.next_for_delivery(), Some(Signal::SEGV));
    /// assert_eq!(s.without(Signal::SEGV).next_for_delivery(), Some(Signal::HUP));
    /// ```
    pub const fn next_for_delivery(self) -> Option<Signal> {
        let sync = self.intersection(Self::SYNCHRONOUS);
        if sync.is_empty() {
            self.lowest()
        } else {
            sync.lowest()
        }
    }

    /// The signals in ascending order.
    pub fn iter(self) -> Iter {
        Iter(self.0)
    }
}

/// Ascending iterator over a [`SigSet`].
#[derive(Clone, Debug)]
pub struct Iter(u64);

impl Iterator for Iter {
    type Item = Signal;
    fn next(&mut self) -> Option<Signal> {
        let sig = SigSet(self.0).lowest()?;
        self.0 &= !sig.bit();
        Some(sig)
    }
}

impl IntoIterator for SigSet {
    type Item = Signal;
    type IntoIter = Iter;
    fn into_iter(self) -> Iter {
        self.iter()
    }
}

impl FromIterator<Signal> for SigSet {
    fn from_iter<I: IntoIterator<Item = Signal>>(iter: I) -> SigSet {
        iter.into_iter().fold(SigSet::EMPTY, SigSet::with)
    }
}

impl From<Signal> for SigSet {
    fn from(sig: Signal) -> SigSet {
        SigSet::EMPTY.with(sig)
    }
}

impl BitOr for SigSet {
    type Output = SigSet;
    fn bitor(self, rhs: SigSet) -> SigSet {
        self.union(rhs)
    }
}

impl BitAnd for SigSet {
    type Output = SigSet;
    fn bitand(self, rhs: SigSet) -> SigSet {
        self.intersection(rhs)
    }
}

impl Sub for SigSet {
    type Output = SigSet;
    fn sub(self, rhs: SigSet) -> SigSet {
        self.difference(rhs)
    }
}

impl Not for SigSet {
    type Output = SigSet;
    fn not(self) -> SigSet {
        self.complement()
    }
}

impl fmt::Debug for SigSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Name(Signal);
        impl fmt::Debug for Name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        f.debug_set().entries(self.iter().map(Name)).finish()
    }
}
