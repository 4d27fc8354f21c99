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
        if self.bell.ring() {
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
                if s.bell.ring_all() {
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
