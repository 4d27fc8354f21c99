//! Helpers shared by the peer-suite ports (`rtrb_port.rs`,
//! `crossbeam_array_queue_port.rs`) and `typed_ring_values.rs`.
//!
//! The peers' tests spin (`while q.push(i).is_err() {}`) with no way out: if
//! one thread's assertion fails, its peer spins forever and the test hangs
//! instead of failing. Here every spin loop calls [`Abort::spin`], and every
//! spawned thread holds an [`Abort::guard`] that raises the flag when the
//! thread unwinds, so a failure anywhere stops every thread of the test.
#![allow(dead_code, clippy::disallowed_types, clippy::disallowed_methods)]

use std::sync::atomic::{AtomicBool, Ordering};

/// A flag raised by a panicking thread; spinning threads then give up.
#[derive(Debug, Default)]
pub struct Abort(AtomicBool);

impl Abort {
    /// A lowered flag.
    pub const fn new() -> Self {
        Self(AtomicBool::new(false))
    }

    /// One turn of a spin loop: a pause hint, the CPU to others now and then
    /// (a 2-core machine runs more threads than cores), and a panic if
    /// another thread of the test has failed.
    pub fn spin(&self, turns: &mut u32) {
        std::hint::spin_loop();
        *turns = turns.wrapping_add(1);
        if *turns % 64 == 0 {
            std::thread::yield_now();
        }
        assert!(
            !self.0.load(Ordering::Relaxed),
            "another thread of this test failed"
        );
    }

    /// A guard for a spawned thread: raises the flag if the thread unwinds.
    pub fn guard(&self) -> AbortOnUnwind<'_> {
        AbortOnUnwind(self)
    }
}

/// Raises its [`Abort`] flag when dropped during a panic.
#[derive(Debug)]
pub struct AbortOnUnwind<'a>(&'a Abort);

impl Drop for AbortOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0 .0.store(true, Ordering::Relaxed);
        }
    }
}

/// `count`, or `full` when `KIPC_PEER_TESTS_FULL=1` (the peers' own counts;
/// the defaults keep a debug-build `cargo test` to a few seconds per test).
pub fn count(count: usize, full: usize) -> usize {
    if std::env::var_os("KIPC_PEER_TESTS_FULL").is_some_and(|v| v == "1") {
        full
    } else {
        count
    }
}

/// A small xorshift generator (the peers use `rand`, which kipc does not
/// depend on); seeded per test so a failure can be replayed.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// A number in `range` (`range.start < range.end`).
    pub fn gen_range(&mut self, range: std::ops::Range<usize>) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        range.start + (self.0 % (range.end - range.start) as u64) as usize
    }
}
