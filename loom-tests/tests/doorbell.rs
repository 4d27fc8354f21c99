//! loom models of the doorbell protocol (`kipc_core::doorbell`): a waiter that
//! finds nothing announces itself, re-checks and sleeps on the futex stand-in;
//! a notifier publishes and rings. A lost wake-up leaves a waiter asleep
//! forever, which loom reports as a deadlock.
#![cfg(kipc_loom)]

use kipc_core::doorbell::Doorbell;
use kipc_core::sync::{AtomicU32, Ordering};
use kipc_loom_tests::Futex;
use loom::sync::Arc;
use loom::thread;

struct Shared {
    bell: Doorbell,
    futex: Futex,
    /// Items published (the "tail"): written by producers, Release.
    published: AtomicU32,
    /// Items taken (the "head"): CAS by consumers.
    taken: AtomicU32,
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            bell: Doorbell::new(),
            futex: Futex::new(),
            published: AtomicU32::new(0),
            taken: AtomicU32::new(0),
        })
    }

    fn publish(&self) {
        self.published.fetch_add(1, Ordering::Release);
        if self.bell.ring().sleepers() {
            self.futex.wake(self.bell.word());
        }
    }

    /// Takes one item if there is one. A lost CAS means another consumer
    /// took an item, not that none is left: retry rather than report empty
    /// (reporting empty there sends a consumer to sleep next to an item,
    /// which this very model caught in an earlier draft).
    fn try_take(&self) -> Option<()> {
        let mut taken = self.taken.load(Ordering::Relaxed);
        loop {
            if self.published.load(Ordering::Acquire) == taken {
                return None;
            }
            match self
                .taken
                .compare_exchange(taken, taken + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(()),
                Err(now) => taken = now,
            }
        }
    }

    /// The host's blocking receive, reduced to its protocol.
    fn take_blocking(&self) {
        loop {
            match self.bell.poll(|| self.try_take()) {
                Ok(()) => return,
                Err(ticket) => self.futex.wait(self.bell.word(), ticket),
            }
        }
    }
}

#[test]
fn one_waiter_never_misses_the_wake() {
    loom::model(|| {
        let s = Shared::new();
        let p = {
            let s = s.clone();
            thread::spawn(move || s.publish())
        };
        s.take_blocking();
        p.join().unwrap();
    });
}

#[test]
fn two_waiters_two_items_both_wake() {
    loom::model(|| {
        let s = Shared::new();
        let c = {
            let s = s.clone();
            thread::spawn(move || s.take_blocking())
        };
        let p = {
            let s = s.clone();
            thread::spawn(move || {
                s.publish();
                s.publish();
            })
        };
        s.take_blocking();
        c.join().unwrap();
        p.join().unwrap();
        assert_eq!(s.taken.load(Ordering::Relaxed), 2);
    });
}

#[test]
fn ring_all_wakes_a_waiter_for_a_dead_peer() {
    // The watchdog: marks the peer dead and rings everyone. The waiter's
    // condition includes "peer dead", so it must return rather than sleep.
    loom::model(|| {
        let s = Shared::new();
        let dead = Arc::new(AtomicU32::new(0));
        let w = {
            let (s, dead) = (s.clone(), dead.clone());
            thread::spawn(move || {
                dead.store(1, Ordering::Release);
                if s.bell.ring_all().sleepers() {
                    s.futex.wake(s.bell.word());
                }
            })
        };
        loop {
            let r = s.bell.poll(|| {
                if s.try_take().is_some() {
                    Some(true)
                } else if dead.load(Ordering::Acquire) == 1 {
                    Some(false)
                } else {
                    None
                }
            });
            match r {
                Ok(got) => {
                    assert!(!got, "nothing was ever published");
                    break;
                }
                Err(ticket) => s.futex.wait(s.bell.word(), ticket),
            }
        }
        w.join().unwrap();
    });
}

/// The event-loop waiter's half of the protocol (`Doorbell::arm`): try, arm,
/// try again, and on failure return "would block" to the caller's loop. The
/// descriptor is a counter standing in for a readable fd; the notifier
/// writes it when its ring reports an armed waiter. The property: a waiter
/// that returned "would block" always finds its descriptor made readable by
/// the publish it missed.
fn try_or_arm(s: &Shared) -> bool {
    if s.try_take().is_some() {
        return true;
    }
    s.bell.arm();
    s.try_take().is_some()
}

#[test]
fn an_armed_waiter_that_would_block_is_always_notified() {
    loom::model(|| {
        let s = Shared::new();
        let readable = Arc::new(AtomicU32::new(0));
        let p = {
            let (s, readable) = (s.clone(), readable.clone());
            thread::spawn(move || {
                s.published.fetch_add(1, Ordering::Release);
                if s.bell.ring().armed() {
                    readable.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let got = try_or_arm(&s);
        p.join().unwrap();
        assert!(
            got || readable.load(Ordering::Relaxed) > 0,
            "returned would-block, and the publish after it never made the descriptor readable"
        );
    });
}

#[test]
fn a_futex_sleeper_and_an_armed_waiter_are_both_woken() {
    loom::model(|| {
        let s = Shared::new();
        let readable = Arc::new(AtomicU32::new(0));
        let sleeper = {
            let s = s.clone();
            thread::spawn(move || s.take_blocking())
        };
        let p = {
            let (s, readable) = (s.clone(), readable.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    s.published.fetch_add(1, Ordering::Release);
                    let wake = s.bell.ring();
                    if wake.sleepers() {
                        s.futex.wake(s.bell.word());
                    }
                    if wake.armed() {
                        readable.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        let got = try_or_arm(&s);
        // The sleeper must return (loom reports a deadlock otherwise) ...
        sleeper.join().unwrap();
        p.join().unwrap();
        // ... and the armed waiter either took an item or was notified.
        assert!(got || readable.load(Ordering::Relaxed) > 0);
    });
}

/// A `ring_all` nobody follows with a wake-up (the core marking a peer dead
/// inside a claim, say) must not make the next publish forget an armed
/// waiter: the waiter returned would-block before the publish, so only a
/// notification gets it going again.
#[test]
fn a_ring_all_in_between_does_not_forget_an_armed_waiter() {
    loom::model(|| {
        let s = Shared::new();
        let readable = Arc::new(AtomicU32::new(0));
        let other = {
            let s = s.clone();
            thread::spawn(move || {
                let _ = s.bell.ring_all();
            })
        };
        let got = try_or_arm(&s);
        other.join().unwrap();
        // The publish comes after the waiter's would-block (and after the
        // unrelated ring_all, in either order with the arm).
        s.published.fetch_add(1, Ordering::Release);
        if s.bell.ring().armed() {
            readable.fetch_add(1, Ordering::Relaxed);
        }
        assert!(
            got || readable.load(Ordering::Relaxed) > 0,
            "an armed waiter was forgotten"
        );
    });
}
