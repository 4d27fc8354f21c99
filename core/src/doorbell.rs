//! Doorbells: how a side that found nothing to do goes to sleep without ever
//! missing the wake-up.
//!
//! The core never sleeps. Each queue exposes one [`Doorbell`] per direction
//! ("not empty" for consumers, "not full" for producers); a host sleeps on its
//! 32-bit [`word`](Doorbell::word) with a futex, an embedded user with whatever
//! its kernel offers.
//!
//! # The word
//!
//! | bits  | meaning                                                      |
//! |-------|--------------------------------------------------------------|
//! | 0     | `SLEEPERS`: somebody may be asleep (or about to sleep) on it  |
//! | 1     | `ARMED`: somebody waits on a wake descriptor (an fd the host   |
//! |       | makes readable), not on the word                              |
//! | 2..32 | a sequence number, bumped each time waiters are woken         |
//!
//! # Protocol
//!
//! Waiter ([`Doorbell::poll`], then the host's sleep):
//! 1. try the operation; done if it succeeds;
//! 2. announce: `fetch_or(SLEEPERS, AcqRel)`; the returned value with the bit
//!    set is the *ticket*;
//! 3. try the operation again; done if it succeeds;
//! 4. sleep until the word differs from the ticket (`futex_wait(word, ticket)`),
//!    then start over.
//!
//! A waiter that returns to an event loop instead of sleeping
//! ([`Doorbell::arm`]) follows the same steps with `ARMED` in place of
//! `SLEEPERS`, and in step 4 waits for its descriptor to become readable.
//!
//! Notifier ([`Doorbell::ring`], after publishing with a Release store):
//! 1. read the word with an RMW (`fetch_add(0, AcqRel)`);
//! 2. if neither `SLEEPERS` nor `ARMED` is set, stop: nobody waits, and no
//!    syscall is made;
//! 3. otherwise clear both bits and add 4 in one RMW, and tell the host
//!    which kinds of waiter to wake ([`Wake`]): every sleeper on the word
//!    (a futex wake) and/or every armed descriptor.
//!
//! # Why no wake-up is lost
//!
//! Both sides touch the word only with read-modify-writes, and all RMWs of one
//! location are totally ordered. If the waiter's announce comes first, the
//! notifier's read sees `SLEEPERS` and wakes; the waiter either is already
//! asleep (woken) or has not slept yet, and then its `futex_wait` finds the word
//! changed (the notifier bumped the sequence) and returns at once. If the
//! notifier's read comes first, the waiter's announce reads from it, and since
//! both are `AcqRel` the announce synchronises with it: the waiter's re-check
//! in step 3 sees everything published before the notifier rang. No `SeqCst`
//! is needed, which is also what lets loom check the protocol exactly
//! (`loom-tests/tests/doorbell.rs`).
//!
//! # Asymmetric mode: a plain load on the notifier's fast path
//!
//! The RMW in notifier step 1 is what lets both sides order themselves with
//! no fence, but it is a locked instruction on every publish: it waits for
//! the store that published the message to leave the store buffer, which in
//! a ping-pong means waiting for the cache-line transfer to the peer. When
//! waiting is rare, a host can move that cost to the waiter instead:
//!
//! - waiter ([`Doorbell::poll_heavy`]; [`Doorbell::arm`] followed by the
//!   barrier): after its announce and before its re-check, it issues a
//!   *heavy barrier*: one that makes every thread of every process that may
//!   notify execute a full memory barrier (Linux:
//!   `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, with the notifying
//!   processes registered);
//! - notifier ([`Doorbell::ring_light`]): a compiler barrier and a plain
//!   load of the word; the RMWs of step 3 are unchanged.
//!
//! Why no wake-up is lost: the heavy barrier runs on the notifier's thread
//! at some point of its program. If that point is before the notifier's
//! load, the load comes after the waiter's announce (which precedes the
//! barrier) and sees its flag, or a later word (the flags cleared and the
//! sequence bumped by another notifier, which then wakes the waiter, or
//! whose bump makes its `futex_wait` on the ticket return at once). If it
//! is after the publishing store, that store is visible before the barrier
//! returns, so the waiter's re-check sees the message. One of the two
//! always holds; the plain load a failed `fetch_update` makes in step 3 is
//! covered by the same argument. This is the scheme of Linux's
//! `membarrier(2)` page and of folly's asymmetric fences. loom cannot model
//! a barrier run on another thread, so the loom models check the symmetric
//! protocol; `kipc_host::barrier`'s test runs this one with two threads
//! sleeping on real futexes, and the host's process tests use it on every
//! queue they create.
//!
//! Both sides must agree: a notifier may use `ring_light` only on a bell
//! whose every waiter issues the heavy barrier. Regions record that promise
//! at creation ([`RegionFlags::FENCED_WAITERS`](crate::region::RegionFlags)),
//! and a host that cannot issue the barrier must refuse to wait on such a
//! region. A notifier may always use [`ring`](Doorbell::ring) instead.
//!
//! The sequence bump matters when several waiters share a bell: without it a
//! second waiter could set the bit again after the notifier cleared it, and a
//! first waiter that had not yet slept would find its old ticket valid and sleep
//! through a message.
//!
//! A peer can write anything into the word. The worst it can do is cause a
//! spurious wake-up or make a waiter sleep until its timeout; hosts therefore
//! always sleep with a timeout or a liveness check.

use crate::sync::{const_fn, AtomicU32, Ordering};

/// Bit 0 of the doorbell word: a waiter announced itself.
const SLEEPERS: u32 = 1;
/// Bit 1 of the doorbell word: a waiter armed a wake descriptor.
const ARMED: u32 = 2;
/// What the notifier adds to the word when it wakes sleepers.
const SEQ_STEP: u32 = 4;

/// Which waiters a [`Doorbell::ring`] found, and the host must wake.
///
/// # Examples
///
/// ```
/// use kipc_core::doorbell::Doorbell;
/// let bell = Doorbell::new();
/// bell.arm();
/// let wake = bell.ring();
/// assert!(wake.armed() && !wake.sleepers());
/// assert!(!bell.ring().any());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wake(u32);

impl Wake {
    /// Somebody may sleep on the word: wake every sleeper (`FUTEX_WAKE`).
    #[inline]
    pub const fn sleepers(self) -> bool {
        self.0 & SLEEPERS != 0
    }

    /// Somebody armed a wake descriptor: make every armed descriptor
    /// readable.
    #[inline]
    pub const fn armed(self) -> bool {
        self.0 & ARMED != 0
    }

    /// Either kind of waiter.
    #[inline]
    pub const fn any(self) -> bool {
        self.0 != 0
    }
}

/// Ordering of the waiter's announce. `--cfg kipc_loom_weaken="doorbell"`
/// weakens it to `Relaxed`, which must make `loom-tests/tests/doorbell.rs` fail
/// (the models' proof of teeth; never used in a real build).
#[cfg(not(kipc_loom_weaken = "doorbell"))]
const ANNOUNCE_ORDER: Ordering = Ordering::AcqRel;
#[cfg(kipc_loom_weaken = "doorbell")]
const ANNOUNCE_ORDER: Ordering = Ordering::Relaxed;

/// A 32-bit word to sleep on and the protocol to do it safely.
/// See the [module documentation](self).
///
/// # Examples
///
/// ```
/// use kipc_core::doorbell::Doorbell;
/// let bell = Doorbell::new();
/// // Nobody waits: ringing needs no wake-up.
/// assert!(!bell.ring().any());
/// // A waiter announces itself (the operation still fails) ...
/// let ticket = bell.poll(|| None::<()>).unwrap_err();
/// assert_eq!(bell.word().load(core::sync::atomic::Ordering::Relaxed), ticket);
/// // ... so the next ring asks the host to wake it, and changes the word.
/// assert!(bell.ring().sleepers());
/// assert_ne!(bell.word().load(core::sync::atomic::Ordering::Relaxed), ticket);
/// ```
#[derive(Debug)]
#[repr(C)]
pub struct Doorbell {
    word: AtomicU32,
}

impl Default for Doorbell {
    fn default() -> Self {
        Self::new()
    }
}

impl Doorbell {
    const_fn! {
        /// A doorbell with no sleepers.
        pub fn new() -> Self {
            Self { word: AtomicU32::new(0) }
        }
    }

    /// The word to pass to `futex_wait`/`futex_wake` (or an equivalent).
    #[inline]
    pub fn word(&self) -> &AtomicU32 {
        &self.word
    }

    /// Waiter steps 1-3: tries `op`, announces a sleeper, tries `op` again.
    ///
    /// Returns `Ok` with the operation's result if either try succeeds, or
    /// `Err(ticket)`: sleep until the word is no longer `ticket`, then call
    /// `poll` again.
    #[inline]
    pub fn poll<T>(&self, mut op: impl FnMut() -> Option<T>) -> Result<T, u32> {
        if let Some(v) = op() {
            return Ok(v);
        }
        // SYNC: doorbell. The announce RMW is totally ordered with `ring`'s RMWs.
        let ticket = self.word.fetch_or(SLEEPERS, ANNOUNCE_ORDER) | SLEEPERS;
        match op() {
            Some(v) => Ok(v),
            None => Err(ticket),
        }
    }

    /// [`poll`](Self::poll) for a bell in asymmetric mode (module docs):
    /// runs `heavy_barrier` between the announce and the re-try. The barrier
    /// must make every notifying thread execute a full memory barrier (on
    /// Linux, `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::doorbell::Doorbell;
    /// let bell = Doorbell::new();
    /// let mut barriers = 0;
    /// let ticket = bell.poll_heavy(|| None::<()>, || barriers += 1).unwrap_err();
    /// assert_eq!(barriers, 1);
    /// assert!(bell.ring_light().sleepers());
    /// assert_ne!(bell.word().load(core::sync::atomic::Ordering::Relaxed), ticket);
    /// ```
    #[inline]
    pub fn poll_heavy<T>(
        &self,
        mut op: impl FnMut() -> Option<T>,
        heavy_barrier: impl FnOnce(),
    ) -> Result<T, u32> {
        if let Some(v) = op() {
            return Ok(v);
        }
        // SYNC: doorbell. As in `poll`; the barrier below pairs with the
        // notifier's compiler barrier in `ring_light`.
        let ticket = self.word.fetch_or(SLEEPERS, ANNOUNCE_ORDER) | SLEEPERS;
        heavy_barrier();
        match op() {
            Some(v) => Ok(v),
            None => Err(ticket),
        }
    }

    /// Event-loop waiter, step 2: announces a waiter on a wake descriptor.
    /// The caller has just failed its operation; it must try once more
    /// after this call, and if that fails too, wait until its descriptor is
    /// readable. The next [`ring`](Self::ring) reports [`Wake::armed`].
    #[inline]
    pub fn arm(&self) {
        // SYNC: doorbell. Same argument as the announce in `poll`.
        self.word.fetch_or(ARMED, ANNOUNCE_ORDER);
    }

    /// Notifier: call after publishing. Returns which waiters the host must
    /// wake: sleepers on [`word`](Self::word) and/or armed descriptors.
    /// Both flags are cleared, so each announce asks for one wake-up.
    #[inline]
    #[must_use = "a ring that found waiters must be followed by waking them"]
    pub fn ring(&self) -> Wake {
        // SYNC: doorbell. An RMW, not a load: see "Why no wake-up is lost".
        let seen = self.word.fetch_add(0, Ordering::AcqRel);
        if seen & (SLEEPERS | ARMED) == 0 {
            return Wake(0);
        }
        self.clear_and_bump()
    }

    /// [`ring`](Self::ring) for a bell in asymmetric mode (module docs): a
    /// plain load instead of an RMW when nobody waits. Use it only on a bell
    /// whose every waiter runs a heavy barrier between announcing and
    /// re-checking ([`poll_heavy`](Self::poll_heavy), or [`arm`](Self::arm)
    /// then the barrier); otherwise a wake-up can be lost.
    #[inline]
    #[must_use = "a ring that found waiters must be followed by waking them"]
    pub fn ring_light(&self) -> Wake {
        // SYNC: doorbell, asymmetric mode. The compiler barrier keeps the
        // caller's publishing store before this load in program order; the
        // waiter's heavy barrier orders them for the CPU.
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        if self.word.load(Ordering::Relaxed) & (SLEEPERS | ARMED) == 0 {
            return Wake(0);
        }
        self.clear_and_bump()
    }

    /// Notifier step 3, once a waiter was seen: clear both flags, bump the
    /// sequence, report which waiters to wake.
    #[inline]
    fn clear_and_bump(&self) -> Wake {
        match self
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
                (w & (SLEEPERS | ARMED) != 0)
                    .then(|| (w & !(SLEEPERS | ARMED)).wrapping_add(SEQ_STEP))
            }) {
            Ok(prev) => Wake(prev & (SLEEPERS | ARMED)),
            // Another notifier cleared the flags and wakes those waiters.
            Err(_) => Wake(0),
        }
    }

    /// Changes the word unconditionally and asks for every sleeper to be
    /// woken (and every armed descriptor, if one was armed). Used when a
    /// peer is marked dead or an object is closed, so waiters re-check
    /// their state. The core calls it itself where it marks a peer dead, and
    /// the host may or may not follow with a wake-up, so it leaves both
    /// flags set: a waiter that announced itself is still reported by the
    /// next [`ring`](Self::ring) (at worst one spurious wake-up), never
    /// forgotten.
    #[inline]
    pub fn ring_all(&self) -> Wake {
        let prev = self
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
                Some(w.wrapping_add(SEQ_STEP))
            })
            .unwrap_or_else(|w| w);
        Wake(SLEEPERS | (prev & ARMED))
    }
}

#[cfg(all(test, not(kipc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn ring_without_sleepers_requests_no_wake() {
        let bell = Doorbell::new();
        assert!(!bell.ring().any());
        assert_eq!(bell.word().load(Ordering::Relaxed), 0);
    }

    #[test]
    fn poll_returns_first_success_without_announcing() {
        let bell = Doorbell::new();
        assert_eq!(bell.poll(|| Some(7)), Ok(7));
        assert_eq!(bell.word().load(Ordering::Relaxed) & SLEEPERS, 0);
    }

    #[test]
    fn poll_succeeding_on_recheck_still_returns_value() {
        let bell = Doorbell::new();
        let mut tries = 0;
        let r = bell.poll(|| {
            tries += 1;
            (tries == 2).then_some("late")
        });
        assert_eq!(r, Ok("late"));
    }

    #[test]
    fn ring_after_announce_changes_word_and_clears_flag() {
        let bell = Doorbell::new();
        let ticket = bell.poll(|| None::<()>).unwrap_err();
        let wake = bell.ring();
        assert!(wake.sleepers() && !wake.armed());
        let now = bell.word().load(Ordering::Relaxed);
        assert_ne!(now, ticket);
        assert_eq!(now & SLEEPERS, 0);
        // A second ring finds nobody.
        assert!(!bell.ring().any());
    }

    #[test]
    fn second_waiter_cannot_revive_first_waiters_ticket() {
        let bell = Doorbell::new();
        let first = bell.poll(|| None::<()>).unwrap_err();
        assert!(bell.ring().sleepers());
        let second = bell.poll(|| None::<()>).unwrap_err();
        assert_ne!(
            first, second,
            "sequence must move so the stale ticket fails"
        );
    }

    #[test]
    fn ring_all_always_changes_the_word() {
        let bell = Doorbell::new();
        let before = bell.word().load(Ordering::Relaxed);
        let wake = bell.ring_all();
        assert!(wake.sleepers() && !wake.armed());
        assert_ne!(bell.word().load(Ordering::Relaxed), before);
    }

    #[test]
    fn arm_is_reported_once_and_alongside_sleepers() {
        let bell = Doorbell::new();
        bell.arm();
        let _ticket = bell.poll(|| None::<()>).unwrap_err();
        let wake = bell.ring();
        assert!(wake.armed() && wake.sleepers());
        assert_eq!(bell.word().load(Ordering::Relaxed) & (SLEEPERS | ARMED), 0);
        assert!(!bell.ring().any());
        bell.arm();
        assert!(bell.ring_all().armed(), "ring_all reports an armed waiter");
        // ... and leaves it announced, for hosts that do not follow a
        // core-internal ring_all with a wake-up: the next ring reports it.
        assert!(
            bell.ring().armed(),
            "ring_all must not forget an armed waiter"
        );
        assert!(!bell.ring().any());
    }
}
