//! Helpers for this crate's concurrent tests, so that no test can hang.
//!
//! A test whose threads wait for each other (a consumer spinning on `Empty`
//! for a producer, a scope waiting for a helper that loops until told to
//! stop) hangs for ever if one of them panics and the others keep waiting.
//! Each such thread, and the scope's own closure, holds a [`PanicFlag`]
//! guard: when it unwinds, the guard raises a shared flag, and every wait
//! step ([`PanicFlag::wait`]) and helper loop ([`PanicFlag::raised`]) checks
//! it and stops. The scope then ends and the first panic fails the test.

use crate::sync::{AtomicBool, Ordering};

/// A flag that any participant of a concurrent test raises by panicking.
#[derive(Debug, Default)]
pub(crate) struct PanicFlag(AtomicBool);

impl PanicFlag {
    /// A lowered flag.
    pub(crate) fn new() -> Self {
        Self(AtomicBool::new(false))
    }

    /// A guard that raises the flag if it is dropped while its thread
    /// unwinds (and only then: a thread that finishes its share normally does
    /// not stop the others).
    pub(crate) fn guard(&self) -> PanicGuard<'_> {
        PanicGuard(self)
    }

    /// Whether a participant has panicked.
    pub(crate) fn raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// One step of a wait for a peer: panics (ending this thread too) if a
    /// participant has panicked, else yields.
    pub(crate) fn wait(&self) {
        assert!(
            !self.raised(),
            "stopping: another thread of this test panicked"
        );
        std::thread::yield_now();
    }

    /// Raises the flag (to stop helpers whose loop watches it).
    pub(crate) fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Raises its [`PanicFlag`] when dropped during a panic.
#[derive(Debug)]
pub(crate) struct PanicGuard<'a>(&'a PanicFlag);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.raise();
        }
    }
}

/// Raises its [`PanicFlag`] when dropped, however its scope is left: the
/// guard for a helper that runs until told to stop.
#[derive(Debug)]
pub(crate) struct StopOnDrop<'a>(pub(crate) &'a PanicFlag);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.raise();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panicking peer stops a waiter instead of leaving it spinning: the
    /// waiter's own `wait` panics, and the scope ends.
    #[test]
    fn a_panicking_thread_stops_its_waiting_peer() {
        let flag = PanicFlag::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::thread::scope(|s| {
                s.spawn(|| loop {
                    flag.wait();
                });
                let _g = flag.guard();
                panic!("assertion failed in the test body");
            })
        }));
        assert!(r.is_err());
        assert!(flag.raised());
    }

    #[test]
    fn a_thread_that_returns_normally_does_not_raise_the_flag() {
        let flag = PanicFlag::new();
        std::thread::scope(|s| {
            s.spawn(|| drop(flag.guard()));
        });
        assert!(!flag.raised());
        drop(StopOnDrop(&flag));
        assert!(flag.raised());
    }
}
