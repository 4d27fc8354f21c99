//! Shared pieces of kipc's loom models. The models themselves live in
//! `tests/`; everything here and there only builds with
//! `RUSTFLAGS="--cfg kipc_loom"` (see the README for the exact command).
//!
//! The main piece is `Futex`, a stand-in for Linux's futex built from loom's
//! mutex and condition variable, so that a doorbell protocol with a lost
//! wake-up shows up as a deadlock that loom reports.
#![cfg(kipc_loom)]

use kipc_core::sync::{AtomicU32, Ordering};
use loom::sync::{Condvar, Mutex};

/// A futex built from loom primitives.
///
/// Like the kernel's, [`wait`](Futex::wait) compares the word with the
/// expected value *under the same lock* that [`wake`](Futex::wake) takes, so
/// a change made before a wake can never slip between a waiter's comparison
/// and its sleep. One table serves every word (the kernel hashes addresses to
/// buckets; a single bucket is the worst case of that and still correct).
#[derive(Debug, Default)]
pub struct Futex {
    lock: Mutex<()>,
    cond: Condvar,
}

impl Futex {
    /// A futex table with nobody waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// `futex_wait(word, expected)`: sleeps until woken if `word` still
    /// holds `expected`; returns at once otherwise. Like the real call it may
    /// return spuriously, so callers loop.
    pub fn wait(&self, word: &AtomicU32, expected: u32) {
        let guard = self.lock.lock().unwrap();
        if word.load(Ordering::Relaxed) != expected {
            return;
        }
        drop(self.cond.wait(guard).unwrap());
    }

    /// `futex_wake(word, all)`: wakes every sleeper.
    pub fn wake(&self, _word: &AtomicU32) {
        let _guard = self.lock.lock().unwrap();
        self.cond.notify_all();
    }
}
