//! What a user moving real values through kipc's typed rings would check
//! beyond the peers' suites (`rtrb_port.rs`, `crossbeam_array_queue_port.rs`):
//! heap-owning values (`String`, `Box`) cross between threads intact and in
//! order, and every value is dropped exactly once, also after the positions
//! have wrapped around the ring many times.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::scope;

use common::{count, Abort};
use kipc_core::{mpmc, spsc};

/// The `i`-th heap value: a `String` whose length varies with `i` (so a
/// mixed-up or torn value shows) and a `Box` holding `i`.
fn value(i: usize) -> (String, Box<usize>) {
    (format!("item {i} {}", "x".repeat(i % 17)), Box::new(i))
}

#[test]
fn spsc_moves_strings_and_boxes_between_threads_in_order() {
    let n = count(5_000, 200_000);
    let mut ring = spsc::Ring::<(String, Box<usize>), 8>::new();
    let (mut tx, mut rx) = ring.split();
    let abort = Abort::new();
    scope(|s| {
        let abort = &abort;
        s.spawn(move || {
            let _g = abort.guard();
            let mut turns = 0;
            for i in 0..n {
                let mut v = value(i);
                while let Err(e) = tx.push(v) {
                    v = e.into_inner();
                    abort.spin(&mut turns);
                }
            }
        });
        let _g = abort.guard();
        let mut turns = 0;
        for i in 0..n {
            let got = loop {
                match rx.pop() {
                    Some(v) => break v,
                    None => abort.spin(&mut turns),
                }
            };
            assert_eq!(got, value(i), "item {i}");
        }
        assert_eq!(rx.pop(), None);
    });
}

#[test]
fn mpmc_moves_strings_and_boxes_between_threads_in_order() {
    // Two producers, one consumer: each producer's values arrive intact and
    // in the order it pushed them.
    let n = count(3_000, 100_000);
    let ring = mpmc::Ring::<(usize, String, Box<usize>), 8>::new();
    let abort = Abort::new();
    scope(|s| {
        for p in 0..2 {
            let (ring, abort) = (&ring, &abort);
            s.spawn(move || {
                let _g = abort.guard();
                let mut turns = 0;
                for i in 0..n {
                    let (text, boxed) = value(i);
                    let mut v = (p, text, boxed);
                    while let Err(e) = ring.push(v) {
                        v = e.into_inner();
                        abort.spin(&mut turns);
                    }
                }
            });
        }
        let _g = abort.guard();
        let mut turns = 0;
        let mut next = [0usize; 2];
        while next != [n, n] {
            match ring.pop() {
                Some((p, text, boxed)) => {
                    let i = next[p];
                    assert_eq!((text, boxed), value(i), "producer {p}, item {i}");
                    next[p] += 1;
                }
                None => abort.spin(&mut turns),
            }
        }
        assert_eq!(ring.pop(), None);
    });
}

/// Counts live values: `new` increments, `drop` decrements.
struct Live<'a>(&'a AtomicUsize, Box<usize>);

impl<'a> Live<'a> {
    fn new(live: &'a AtomicUsize, i: usize) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Self(live, Box::new(i))
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn spsc_drops_every_value_exactly_once_after_wrapping_around() {
    let live = AtomicUsize::new(0);
    for left in [0, 1, 3, 4] {
        let mut ring = spsc::Ring::<Live<'_>, 4>::new();
        {
            let (mut tx, mut rx) = ring.split();
            // 1000 laps of the 4 slots, two values in flight at a time.
            for i in 0..4000 {
                assert!(tx.push(Live::new(&live, i)).is_ok());
                if i > 0 {
                    assert_eq!(*rx.pop().unwrap().1, i - 1);
                }
            }
            drop(rx.pop());
            // A rejected push drops nothing twice: the value comes back.
            for i in 0..left {
                assert!(tx.push(Live::new(&live, i)).is_ok());
            }
            if left == 4 {
                let back = tx.push(Live::new(&live, 99)).unwrap_err().into_inner();
                assert_eq!(*back.1, 99);
            }
        }
        assert_eq!(live.load(Ordering::SeqCst), left, "left {left}");
        drop(ring);
        assert_eq!(live.load(Ordering::SeqCst), 0, "after dropping the ring");
    }
}

#[test]
fn mpmc_drops_every_value_exactly_once_after_wrapping_around() {
    let live = AtomicUsize::new(0);
    for left in [0, 1, 3, 4] {
        let ring = mpmc::Ring::<Live<'_>, 4>::new();
        for i in 0..4000 {
            assert!(ring.push(Live::new(&live, i)).is_ok());
            if i > 0 {
                assert_eq!(*ring.pop().unwrap().1, i - 1);
            }
        }
        drop(ring.pop());
        for i in 0..left {
            assert!(ring.push(Live::new(&live, i)).is_ok());
        }
        if left == 4 {
            let back = ring.push(Live::new(&live, 99)).unwrap_err().into_inner();
            assert_eq!(*back.1, 99);
            let back = ring.push_no_wait(Live::new(&live, 98)).unwrap_err();
            assert_eq!(*back.into_inner().1, 98);
        }
        assert_eq!(live.load(Ordering::SeqCst), left, "left {left}");
        drop(ring);
        assert_eq!(live.load(Ordering::SeqCst), 0, "after dropping the ring");
    }
}

#[test]
fn mpmc_drops_every_value_exactly_once_with_threads_across_laps() {
    // Two producers and two consumers over many laps of a small ring; the
    // consumers stop early and leave values in the ring, which dropping the
    // ring must drop. Live count: 0 at the end.
    let live = AtomicUsize::new(0);
    let n = count(2_000, 50_000);
    {
        let ring = mpmc::Ring::<Live<'_>, 8>::new();
        let popped = AtomicUsize::new(0);
        let abort = Abort::new();
        scope(|s| {
            for _ in 0..2 {
                let (ring, abort, live) = (&ring, &abort, &live);
                s.spawn(move || {
                    let _g = abort.guard();
                    let mut turns = 0;
                    for i in 0..n {
                        let mut v = Live::new(live, i);
                        while let Err(e) = ring.push(v) {
                            v = e.into_inner();
                            abort.spin(&mut turns);
                        }
                    }
                });
            }
            for _ in 0..2 {
                let (ring, abort, popped) = (&ring, &abort, &popped);
                s.spawn(move || {
                    let _g = abort.guard();
                    let mut turns = 0;
                    // Together the consumers take all but at most 8.
                    while popped.load(Ordering::SeqCst) < 2 * n - 8 {
                        match ring.pop() {
                            Some(v) => {
                                popped.fetch_add(1, Ordering::SeqCst);
                                drop(v);
                            }
                            None => abort.spin(&mut turns),
                        }
                    }
                });
            }
        });
        let taken = popped.load(Ordering::SeqCst);
        assert_eq!(live.load(Ordering::SeqCst), 2 * n - taken);
        assert_eq!(ring.len(), 2 * n - taken);
    }
    assert_eq!(live.load(Ordering::SeqCst), 0);
}
