//! rtrb 0.4.1's `tests/` ported to [`kipc_core::spsc::Ring`]: every test
//! whose premise kipc's SPSC ring shares, with rtrb's assertions; only the
//! API calls are adapted:
//!
//! | rtrb                               | kipc                                   |
//! |------------------------------------|----------------------------------------|
//! | `RingBuffer::new(n)` -> `(p, c)`   | `Ring::<T, N>::new()`, `ring.split()`  |
//! | `p.buffer().capacity()`            | `p.capacity()`                         |
//! | `p.slots()` / `c.slots()`          | `p.free_len()` / `c.len()`             |
//! | `c.pop()`, `c.peek()`: `Result`    | `Option` (`Err(Empty)` is `None`)      |
//! | `p.write(buf)` / `c.read(buf)`     | `p.push_slice(buf)` / `c.pop_slice(buf)` |
//! | `push_partial_slice` / `pop_partial_slice` | `push_slice` / `pop_slice` (a count, not two slices) |
//!
//! Where semantics legitimately differ:
//!
//! - the capacity is a const generic power of two, at most 2^31, checked at
//!   compile time: `capacity` checks 1, 2, 4 and 8 instead of `0..10`;
//!   rtrb's 3 becomes 4, 50 becomes 64, and `usize::MAX / 2` (for a
//!   zero-sized type) becomes 2^31. A capacity of 0, and rtrb's runtime panic
//!   for an excessive one, are compile errors here, so `zero_capacity` and
//!   `zero_sized_type_and_excessive_capacity` are not ported;
//! - kipc's ring is `no_std`, so it has no `std::io::Write`/`Read`;
//!   `write_and_read.rs` runs on `push_slice`/`pop_slice`, which have the
//!   same partial-transfer semantics, and its `WouldBlock` errors become a
//!   count of 0;
//! - not ported, for want of the API: `no_race_with_is_abandoned` (no
//!   `is_abandoned`), and all of `chunks.rs` except `push_pop_partial_slice`
//!   (no `write_chunk`/`read_chunk`); `trait_impls` keeps the checks kipc has
//!   a counterpart for (its `Debug` names, and `Display` text "full ring"
//!   where rtrb says "full ring buffer"; handles are not `PartialEq`);
//! - threads are scoped (kipc's handles borrow the ring), and spin loops call
//!   [`common::Abort::spin`] so a failed assertion cannot hang the test;
//!   counts are a tenth of rtrb's unless `KIPC_PEER_TESTS_FULL=1`.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{count, Abort, Rng};
use kipc_core::spsc::Ring;

// ------------------------------------------------------------- tests/lib.rs

#[test]
fn capacity() {
    fn check<const N: usize>() {
        let mut ring = Ring::<i32, N>::new();
        let (p, c) = ring.split();
        assert_eq!(p.capacity(), N);
        assert_eq!(c.capacity(), N);
    }
    check::<1>();
    check::<2>();
    check::<4>();
    check::<8>();
}

#[test]
fn zero_sized_type() {
    struct ZeroSized;
    assert_eq!(std::mem::size_of::<ZeroSized>(), 0);

    let mut ring = Ring::<ZeroSized, 1>::new();
    let (mut p, mut c) = ring.split();
    assert_eq!(p.capacity(), 1);
    assert_eq!(p.free_len(), 1);
    assert_eq!(c.len(), 0);
    assert!(p.push(ZeroSized).is_ok());
    assert_eq!(p.free_len(), 0);
    assert_eq!(c.len(), 1);
    assert!(p.push(ZeroSized).is_err());
    assert!(c.peek().is_some());
    assert!(c.pop().is_some());
    assert_eq!(c.len(), 0);
    assert!(c.peek().is_none());
}

#[test]
fn zero_sized_type_and_enormous_capacity() {
    struct ZeroSized;
    assert_eq!(std::mem::size_of::<ZeroSized>(), 0);

    // rtrb: `usize::MAX / 2`; kipc's largest capacity is 2^31.
    const BIG: usize = 1 << 31;
    let mut ring = Ring::<ZeroSized, BIG>::new();
    let (mut p, mut c) = ring.split();
    assert_eq!(p.capacity(), BIG);
    assert_eq!(p.free_len(), BIG);
    assert_eq!(c.len(), 0);
    assert!(p.push(ZeroSized).is_ok());
    assert_eq!(c.len(), 1);
    assert_eq!(p.free_len(), BIG - 1);
    assert!(c.pop().is_some());
    assert!(c.is_empty());
}

#[test]
fn parallel() {
    let count = count(10_000, 100_000);
    // rtrb: capacity 3.
    let mut ring = Ring::<usize, 4>::new();
    let (mut p, mut c) = ring.split();
    let abort = Abort::new();
    std::thread::scope(|s| {
        let abort = &abort;
        let pop_thread = s.spawn(move || {
            let _g = abort.guard();
            let mut turns = 0;
            for i in 0..count {
                loop {
                    if let Some(x) = c.pop() {
                        assert_eq!(x, i);
                        break;
                    }
                    abort.spin(&mut turns);
                }
            }
            assert!(c.pop().is_none());
        });
        let push_thread = s.spawn(move || {
            let _g = abort.guard();
            let mut turns = 0;
            for i in 0..count {
                while p.push(i).is_err() {
                    abort.spin(&mut turns);
                }
            }
        });
        push_thread.join().unwrap();
        pop_thread.join().unwrap();
    });
}

#[test]
fn drops() {
    let runs = count(20, 100);

    static DROPS: AtomicUsize = AtomicUsize::new(0);

    #[derive(Debug, PartialEq)]
    struct DropCounter;

    impl Drop for DropCounter {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }

    let mut rng = Rng::new(0x5eed_0000_7172_0041);

    for _ in 0..runs {
        let steps = rng.gen_range(0..10_000);
        let additional = rng.gen_range(0..50);

        DROPS.store(0, Ordering::SeqCst);
        // rtrb: capacity 50.
        let mut ring = Ring::<DropCounter, 64>::new();
        let abort = Abort::new();
        {
            let (mut p, mut c) = ring.split();
            let mut p = std::thread::scope(|s| {
                let abort = &abort;
                let pop_thread = s.spawn(move || {
                    let _g = abort.guard();
                    let mut turns = 0;
                    for _ in 0..steps {
                        while c.pop().is_none() {
                            abort.spin(&mut turns);
                        }
                    }
                });
                let push_thread = s.spawn(move || {
                    let _g = abort.guard();
                    let mut turns = 0;
                    for _ in 0..steps {
                        while p.push(DropCounter).is_err() {
                            DROPS.fetch_sub(1, Ordering::SeqCst);
                            abort.spin(&mut turns);
                        }
                    }
                    p
                });
                let p = push_thread.join().unwrap();
                pop_thread.join().unwrap();
                p
            });

            for _ in 0..additional {
                p.push(DropCounter).unwrap();
            }
        }

        assert_eq!(DROPS.load(Ordering::SeqCst), steps);
        // rtrb drops the producer; kipc's items live in the ring.
        drop(ring);
        assert_eq!(DROPS.load(Ordering::SeqCst), steps + additional);
    }
}

#[test]
fn trait_impls() {
    // rtrb: capacity 0 (the ring is full from the start); here 1, filled.
    let mut ring = Ring::<u8, 1>::new();
    assert!(format!("{:?}", ring).starts_with("Ring {"));
    let (mut p, mut c) = ring.split();
    p.push(0).unwrap();

    assert!(format!("{:?}", p).starts_with("Producer {"));
    assert!(format!("{:?}", c).starts_with("Consumer {"));

    // rtrb: "Full(_)", "full ring buffer".
    assert_eq!(format!("{:?}", p.push(42).unwrap_err()), "Full(42)");
    assert_eq!(p.push(42).unwrap_err().to_string(), "full ring");
    assert_eq!(c.pop(), Some(0));
    // rtrb: `Err(Empty)`, "empty ring buffer".
    assert_eq!(c.pop(), None);
    assert_eq!(c.peek(), None);
}

// ---------------------------------------------------- tests/write_and_read.rs

#[test]
fn write_and_read() {
    let mut ring = Ring::<u8, 2>::new();
    let (mut p, mut c) = ring.split();
    assert_eq!(p.push_slice(&[10, 11]), 2);
    // (rtrb: `flush` does nothing; kipc has none.)

    {
        let mut buf = [0];
        assert_eq!(c.pop_slice(&mut buf), 1);
        assert_eq!(buf, [10]);
    }

    assert_eq!(p.push_slice(&[12, 99]), 1);

    {
        let mut buf = [0, 0];
        assert_eq!(c.pop_slice(&mut buf), 2);
        assert_eq!(buf, [11, 12]);
    }

    assert_eq!(p.push_slice(&[13, 14]), 2);

    {
        let mut buf = [0];
        assert_eq!(c.pop_slice(&mut buf), 1);
        assert_eq!(buf, [13]);
    }

    {
        let mut buf = [20, 21];
        assert_eq!(c.pop_slice(&mut buf), 1);
        assert_eq!(buf, [14, 21]);
    }
}

#[test]
fn write_empty_buf() {
    let mut ring = Ring::<u8, 2>::new();
    let (mut p, _c) = ring.split();
    assert_eq!(p.push_slice(&[]), 0);
}

#[test]
fn read_empty_buf() {
    let mut ring = Ring::<u8, 2>::new();
    let (mut p, mut c) = ring.split();
    assert_eq!(p.push(99), Ok(()));
    assert_eq!(c.pop_slice(&mut []), 0);
}

#[test]
fn write_error() {
    let mut ring = Ring::<u8, 1>::new();
    let (mut p, _c) = ring.split();
    assert_eq!(p.push(10), Ok(()));
    // rtrb: `Err(WouldBlock)`.
    assert_eq!(p.push_slice(&[99]), 0);
}

#[test]
fn read_error() {
    let mut ring = Ring::<u8, 1>::new();
    let (_p, mut c) = ring.split();
    let mut buf = [0];
    // rtrb: `Err(WouldBlock)`.
    assert_eq!(c.pop_slice(&mut buf), 0);
}

// ------------------------------------------------------------ tests/chunks.rs

#[test]
fn push_pop_partial_slice() {
    let mut buf = [0; 16];
    let mut ring = Ring::<u8, 8>::new();
    let (mut p, mut c) = ring.split();

    // rtrb's `(pushed, rest)` slices are `items.split_at(n)` here.
    let items = [1, 2, 3];
    let n = p.push_slice(&items);
    let (pushed, rest) = items.split_at(n);
    assert_eq!(pushed, [1, 2, 3]);
    assert_eq!(rest.len(), 0);
    let items = [4, 5];
    let n = p.push_slice(&items);
    assert_eq!(&items[..n], &[4, 5]);

    let buf_len = buf.len();
    let n = c.pop_slice(&mut buf);
    let (popped, unused) = buf.split_at(n);
    assert_eq!(popped, &[1, 2, 3, 4, 5]);
    assert_eq!(unused.len(), buf_len - popped.len());
    let n = p.push_slice(popped);
    assert_eq!(n, 5);

    let items = [1, 2, 3, 4, 5];
    let n = p.push_slice(&items);
    let (pushed, rest) = items.split_at(n);
    assert_eq!(pushed, &[1, 2, 3]);
    assert_eq!(rest, &[4, 5]);

    let n = c.pop_slice(&mut buf);
    let (popped, unused) = buf.split_at(n);
    assert_eq!(popped, &[1, 2, 3, 4, 5, 1, 2, 3]);
    assert_eq!(unused.len(), buf_len - popped.len());
    let n = p.push_slice(popped);
    assert_eq!(n, 8);

    let mut short_buf = [0; 3];
    let n = c.pop_slice(&mut short_buf);
    let (popped, unused) = short_buf.split_at(n);
    assert_eq!(unused.len(), 0);
    assert_eq!(popped, &[1, 2, 3]);
}
