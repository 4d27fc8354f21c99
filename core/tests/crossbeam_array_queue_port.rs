//! crossbeam-queue 0.3.14's `tests/array_queue.rs`, ported to
//! [`kipc_core::mpmc::Ring`]: the same tests, in the same order, with the same
//! assertions; only the API calls are adapted. Where kipc's ring cannot keep
//! a test's premise the test says so:
//!
//! - capacities are a const generic power of two `>= 2`, fixed at compile
//!   time: `ArrayQueue::new(1)` becomes `Ring<_, 2>`, 3 becomes 4, 50 becomes
//!   64, 1000 becomes 1024; `capacity` checks 2, 4 and 8 instead of `1..10`;
//!   `zero_capacity` (a runtime panic in crossbeam) is a compile error here
//!   and is not ported;
//! - no `push_mut`/`pop_mut` (`exclusive_reference` uses `push`/`pop`), no
//!   `IntoIterator` (`into_iter` drains with `pop`);
//! - no `force_push`: [`force_push`] below builds it from `push` and `pop`.
//!   It is two operations rather than one atomic replace, so under contention
//!   it may displace more than one item; it returns every displaced item, and
//!   the tests count each exactly as crossbeam counts its one;
//! - threads: `std::thread::scope` instead of crossbeam-utils' scope, and
//!   every spin loop calls [`common::Abort::spin`] so that a failed assertion
//!   in one thread stops the others instead of hanging the test;
//! - counts: the defaults are a tenth of crossbeam's (a debug-build `cargo
//!   test` on a 2-core machine); `KIPC_PEER_TESTS_FULL=1` runs crossbeam's.
//!
//! `linearizable` is the test issue 18 found failing: a `pop` right after a
//! thread's own `push` returned `None` while another producer's claim ahead
//! of it was unpublished. The loom models in `loom-tests/tests/mpmc.rs` check
//! the same property exhaustively on a small ring.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::scope;

use common::{count, Abort, Rng};
use kipc_core::mpmc::{PushError, Ring};

/// crossbeam's `force_push`, from kipc's calls: push; while the ring is full,
/// pop its oldest item (to be handed back) and try again. Returns the items
/// displaced (crossbeam's returns at most one).
fn force_push<T, const N: usize>(q: &Ring<T, N>, mut value: T) -> Vec<T> {
    let mut displaced = Vec::new();
    loop {
        match q.push(value) {
            Ok(()) => return displaced,
            Err(PushError::Full(v)) => value = v,
        }
        displaced.extend(q.pop());
    }
}

#[test]
fn smoke() {
    // crossbeam: capacity 1.
    let q = Ring::<i32, 2>::new();

    q.push(7).unwrap();
    assert_eq!(q.pop(), Some(7));

    q.push(8).unwrap();
    assert_eq!(q.pop(), Some(8));
    assert!(q.pop().is_none());
}

#[test]
fn capacity() {
    // crossbeam: every capacity in 1..10.
    assert_eq!(Ring::<i32, 2>::new().capacity(), 2);
    assert_eq!(Ring::<i32, 4>::new().capacity(), 4);
    assert_eq!(Ring::<i32, 8>::new().capacity(), 8);
}

#[test]
fn len_empty_full() {
    let q = Ring::<(), 2>::new();

    assert_eq!(q.len(), 0);
    assert!(q.is_empty());
    assert!(!q.is_full());

    q.push(()).unwrap();

    assert_eq!(q.len(), 1);
    assert!(!q.is_empty());
    assert!(!q.is_full());

    q.push(()).unwrap();

    assert_eq!(q.len(), 2);
    assert!(!q.is_empty());
    assert!(q.is_full());

    q.pop().unwrap();

    assert_eq!(q.len(), 1);
    assert!(!q.is_empty());
    assert!(!q.is_full());
}

#[test]
fn exclusive_reference() {
    // crossbeam: `push_mut`/`pop_mut` through `&mut`; kipc has only the
    // shared-reference calls.
    let q = Ring::<(), 2>::new();

    assert_eq!(q.len(), 0);
    assert!(q.is_empty());

    q.push(()).unwrap();

    assert_eq!(q.len(), 1);
    assert!(!q.is_empty());
    assert!(!q.is_full());

    q.push(()).unwrap();

    assert_eq!(q.len(), 2);
    assert!(!q.is_empty());
    assert!(q.is_full());

    q.pop().unwrap();

    assert_eq!(q.len(), 1);
    assert!(!q.is_empty());
    assert!(!q.is_full());

    q.pop().unwrap();

    assert_eq!(q.len(), 0);
}

#[test]
fn len() {
    let count = count(2_500, 25_000);
    // crossbeam: 1000.
    const CAP: usize = 1024;
    const ITERS: usize = CAP / 20;

    let q = Box::new(Ring::<usize, CAP>::new());
    let abort = Abort::new();
    assert_eq!(q.len(), 0);

    for _ in 0..CAP / 10 {
        for i in 0..ITERS {
            q.push(i).unwrap();
            assert_eq!(q.len(), i + 1);
        }

        for i in 0..ITERS {
            q.pop().unwrap();
            assert_eq!(q.len(), ITERS - i - 1);
        }
    }
    assert_eq!(q.len(), 0);

    for i in 0..CAP {
        q.push(i).unwrap();
        assert_eq!(q.len(), i + 1);
    }

    for _ in 0..CAP {
        q.pop().unwrap();
    }
    assert_eq!(q.len(), 0);

    scope(|scope| {
        scope.spawn(|| {
            let _g = abort.guard();
            let mut turns = 0;
            for i in 0..count {
                loop {
                    if let Some(x) = q.pop() {
                        assert_eq!(x, i);
                        break;
                    }
                    abort.spin(&mut turns);
                }
                let len = q.len();
                assert!(len <= CAP);
            }
        });

        scope.spawn(|| {
            let _g = abort.guard();
            let mut turns = 0;
            for i in 0..count {
                while q.push(i).is_err() {
                    abort.spin(&mut turns);
                }
                let len = q.len();
                assert!(len <= CAP);
            }
        });
    });
    assert_eq!(q.len(), 0);
}

#[test]
fn spsc() {
    let count = count(10_000, 100_000);

    // crossbeam: capacity 3.
    let q = Ring::<usize, 4>::new();
    let abort = Abort::new();

    scope(|scope| {
        scope.spawn(|| {
            let _g = abort.guard();
            let mut turns = 0;
            for i in 0..count {
                loop {
                    if let Some(x) = q.pop() {
                        assert_eq!(x, i);
                        break;
                    }
                    abort.spin(&mut turns);
                }
            }
            assert!(q.pop().is_none());
        });

        scope.spawn(|| {
            let _g = abort.guard();
            let mut turns = 0;
            for i in 0..count {
                while q.push(i).is_err() {
                    abort.spin(&mut turns);
                }
            }
        });
    });
}

#[test]
fn spsc_ring_buffer() {
    let count = count(10_000, 100_000);

    let t = AtomicUsize::new(1);
    // crossbeam: capacity 3.
    let q = Ring::<usize, 4>::new();
    let v = (0..count).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>();
    let abort = Abort::new();

    scope(|scope| {
        scope.spawn(|| {
            let _g = abort.guard();
            let mut turns = 0;
            loop {
                match t.load(Ordering::SeqCst) {
                    0 if q.is_empty() => break,

                    _ => {
                        while let Some(n) = q.pop() {
                            v[n].fetch_add(1, Ordering::SeqCst);
                        }
                        abort.spin(&mut turns);
                    }
                }
            }
        });

        scope.spawn(|| {
            let _g = abort.guard();
            for i in 0..count {
                for n in force_push(&q, i) {
                    v[n].fetch_add(1, Ordering::SeqCst);
                }
            }

            t.fetch_sub(1, Ordering::SeqCst);
        });
    });

    for c in v {
        assert_eq!(c.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn mpmc() {
    let count = count(2_500, 25_000);
    const THREADS: usize = 4;

    // crossbeam: capacity 3.
    let q = Ring::<usize, 4>::new();
    let v = (0..count).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>();
    let abort = Abort::new();

    scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let _g = abort.guard();
                let mut turns = 0;
                for _ in 0..count {
                    let n = loop {
                        if let Some(x) = q.pop() {
                            break x;
                        }
                        abort.spin(&mut turns);
                    };
                    v[n].fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        for _ in 0..THREADS {
            scope.spawn(|| {
                let _g = abort.guard();
                let mut turns = 0;
                for i in 0..count {
                    while q.push(i).is_err() {
                        abort.spin(&mut turns);
                    }
                }
            });
        }
    });

    for c in v {
        assert_eq!(c.load(Ordering::SeqCst), THREADS);
    }
}

#[test]
fn mpmc_ring_buffer() {
    let count = count(2_500, 25_000);
    const THREADS: usize = 4;

    let t = AtomicUsize::new(THREADS);
    // crossbeam: capacity 3.
    let q = Ring::<usize, 4>::new();
    let v = (0..count).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>();
    let abort = Abort::new();

    scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let _g = abort.guard();
                let mut turns = 0;
                loop {
                    match t.load(Ordering::SeqCst) {
                        0 if q.is_empty() => break,

                        _ => {
                            while let Some(n) = q.pop() {
                                v[n].fetch_add(1, Ordering::SeqCst);
                            }
                            abort.spin(&mut turns);
                        }
                    }
                }
            });
        }

        for _ in 0..THREADS {
            scope.spawn(|| {
                let _g = abort.guard();
                for i in 0..count {
                    for n in force_push(&q, i) {
                        v[n].fetch_add(1, Ordering::SeqCst);
                    }
                }

                t.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });

    for c in v {
        assert_eq!(c.load(Ordering::SeqCst), THREADS);
    }
}

#[test]
fn drops() {
    let runs: usize = count(20, 100);
    let steps: usize = 10_000;
    let additional: usize = 50;

    static DROPS: AtomicUsize = AtomicUsize::new(0);

    #[derive(Debug, PartialEq)]
    struct DropCounter;

    impl Drop for DropCounter {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }

    let mut rng = Rng::new(0x5eed_a77a_e000_0018);

    for _ in 0..runs {
        let steps = rng.gen_range(0..steps);
        let additional = rng.gen_range(0..additional);

        DROPS.store(0, Ordering::SeqCst);
        // crossbeam: capacity 50.
        let q = Ring::<DropCounter, 64>::new();
        let abort = Abort::new();

        scope(|scope| {
            scope.spawn(|| {
                let _g = abort.guard();
                let mut turns = 0;
                for _ in 0..steps {
                    while q.pop().is_none() {
                        abort.spin(&mut turns);
                    }
                }
            });

            scope.spawn(|| {
                let _g = abort.guard();
                let mut turns = 0;
                for _ in 0..steps {
                    while q.push(DropCounter).is_err() {
                        DROPS.fetch_sub(1, Ordering::SeqCst);
                        abort.spin(&mut turns);
                    }
                }
            });
        });

        for _ in 0..additional {
            q.push(DropCounter).unwrap();
        }

        assert_eq!(DROPS.load(Ordering::SeqCst), steps);
        drop(q);
        assert_eq!(DROPS.load(Ordering::SeqCst), steps + additional);
    }
}

#[test]
fn linearizable() {
    let count = count(25_000, 25_000);
    const THREADS: usize = 4;

    let q = Ring::<i32, THREADS>::new();
    let abort = Abort::new();

    scope(|scope| {
        for _ in 0..THREADS / 2 {
            scope.spawn(|| {
                let _g = abort.guard();
                let mut turns = 0;
                for _ in 0..count {
                    while q.push(0).is_err() {
                        abort.spin(&mut turns);
                    }
                    q.pop().unwrap();
                }
            });

            scope.spawn(|| {
                let _g = abort.guard();
                for _ in 0..count {
                    if force_push(&q, 0).is_empty() {
                        q.pop().unwrap();
                    }
                }
            });
        }
    });
}

#[test]
fn into_iter() {
    // crossbeam: `q.into_iter()`; kipc's ring has no `IntoIterator`.
    let q = Ring::<i32, 128>::new();
    for i in 0..100 {
        q.push(i).unwrap();
    }
    for (i, j) in std::iter::from_fn(|| q.pop()).enumerate() {
        assert_eq!(i as i32, j);
    }
}
