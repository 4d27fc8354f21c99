//! loom models of the SPSC ring (`kipc_core::spsc`), both forms, checking the
//! real code through `kipc_core::sync`:
//!
//! - the typed ring wrapping around (capacity 2, three items), with `peek`;
//! - the typed batch operations (`push_slice`/`pop_slice`) across the end of
//!   the slot array;
//! - the region form over an aligned heap buffer, messages of different
//!   lengths wrapping around;
//! - the region form's readers of `tail` while the consumer takes messages
//!   by their stamps ahead of the producer's `tail` store;
//! - the region form with both sides blocking on their doorbells (the futex
//!   stand-in): a lost wake-up is a deadlock loom reports.
//!
//! `--cfg kipc_loom_weaken="spsc"` weakens the `SYNC: publish slot` Release
//! store to Relaxed, which these models must catch (a manual check, not CI).
#![cfg(kipc_loom)]

use kipc_core::queue::Queue;
use kipc_core::spsc::{region_size, Region, RegionConsumer, RegionProducer, Ring};
use kipc_core::Error;
use kipc_loom_tests::Futex;
use loom::sync::Arc;
use loom::thread;

/// One 128-byte, 128-aligned chunk of region memory.
#[derive(Clone, Copy)]
#[repr(C, align(128))]
struct Chunk([u8; 128]);

/// A region-form ring over a private aligned heap buffer, plus the futex
/// stand-in its sleepers use.
struct Shared {
    region: Region,
    futex: Futex,
    /// Owns the bytes under `region`; declared after it so it outlives it.
    _mem: Box<[Chunk]>,
}

impl Shared {
    /// A fresh region of `slots` slots of `slot_size` bytes. Sized with
    /// `region_size`, since loom's atomics make the header larger.
    fn new(slots: u32, slot_size: u32) -> Arc<Self> {
        let len = region_size(slots, slot_size).unwrap();
        let mut mem = vec![Chunk([0; 128]); len.div_ceil(128)].into_boxed_slice();
        // SAFETY: `mem` is 128-aligned, at least `len` bytes, and lives (in
        // `Shared`, never moved out of its heap allocation) as long as `region`.
        let region = unsafe { Region::init(mem.as_mut_ptr().cast(), len, slots, slot_size) };
        Arc::new(Self {
            region: region.unwrap(),
            futex: Futex::new(),
            _mem: mem,
        })
    }

    /// The host's blocking send: try, announce on `not_full`, re-try, sleep.
    fn send_blocking(&self, tx: &mut RegionProducer, msg: &[u8]) -> Result<(), Error> {
        let bell = self.region.not_full();
        loop {
            match bell.poll(|| match tx.try_send(msg) {
                Err(Error::Full) => None,
                other => Some(other),
            }) {
                Ok(result) => {
                    if result.is_ok() && self.region.not_empty().ring().sleepers() {
                        self.futex.wake(self.region.not_empty().word());
                    }
                    return result;
                }
                Err(ticket) => self.futex.wait(bell.word(), ticket),
            }
        }
    }

    /// The host's blocking receive: try, announce on `not_empty`, re-try, sleep.
    fn recv_blocking(&self, rx: &mut RegionConsumer, buf: &mut [u8]) -> Result<usize, Error> {
        let bell = self.region.not_empty();
        loop {
            match bell.poll(|| match rx.try_recv(buf) {
                Err(Error::Empty) => None,
                other => Some(other),
            }) {
                Ok(result) => {
                    if result.is_ok() && self.region.not_full().ring().sleepers() {
                        self.futex.wake(self.region.not_full().word());
                    }
                    return result;
                }
                Err(ticket) => self.futex.wait(bell.word(), ticket),
            }
        }
    }
}

/// Message `i` of a model: `i + 1` bytes of value `0x10 + i`, so both the
/// length word and the payload differ from the previous lap's.
fn message(i: u8) -> Vec<u8> {
    vec![0x10 + i; usize::from(i) + 1]
}

/// A typed ring for one loom iteration. The handles borrow it and must move
/// into a spawned (`'static`) thread, so it is leaked: a few hundred bytes
/// per iteration.
fn leaked_ring<const N: usize>() -> &'static Ring<u32, N> {
    Box::leak(Box::new(Ring::new()))
}

#[test]
fn typed_items_wrap_around_in_order() {
    loom::model(|| {
        let ring = leaked_ring::<2>();
        let (mut tx, mut rx) = ring.try_split().unwrap();
        let producer = thread::spawn(move || {
            for i in 0..3 {
                while tx.push(i).is_err() {
                    thread::yield_now();
                }
            }
        });
        let mut next = 0;
        while next < 3 {
            // `peek` then `pop` must agree: both read the slot at `head`.
            match rx.peek().copied() {
                Some(v) => {
                    assert_eq!(v, next);
                    assert_eq!(rx.pop(), Some(v));
                    next += 1;
                }
                None => thread::yield_now(),
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.pop(), None);
    });
}

#[test]
fn typed_batches_cross_the_end_of_the_slots() {
    loom::model(|| {
        let ring = leaked_ring::<2>();
        let (mut tx, mut rx) = ring.try_split().unwrap();
        let producer = thread::spawn(move || {
            let items = [0, 1, 2];
            let mut sent = 0;
            while sent < items.len() {
                match tx.push_slice(&items[sent..]) {
                    0 => thread::yield_now(),
                    n => sent += n,
                }
            }
        });
        let mut next = 0;
        let mut out = [u32::MAX; 2];
        while next < 3 {
            match rx.pop_slice(&mut out) {
                0 => thread::yield_now(),
                n => {
                    for &v in &out[..n] {
                        assert_eq!(v, next);
                        next += 1;
                    }
                }
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.pop(), None);
    });
}

#[test]
fn region_messages_wrap_around_with_their_lengths() {
    loom::model(|| {
        let s = Shared::new(2, 4);
        let producer = {
            let s = s.clone();
            thread::spawn(move || {
                let mut tx = s.region.producer(1).unwrap();
                for i in 0..3 {
                    loop {
                        match tx.try_send(&message(i)) {
                            Ok(()) => break,
                            Err(Error::Full) => thread::yield_now(),
                            Err(e) => panic!("send {i}: {e}"),
                        }
                    }
                }
            })
        };
        let mut rx = s.region.consumer(2).unwrap();
        let mut buf = [0u8; 4];
        let mut next = 0;
        while next < 3 {
            match rx.try_recv(&mut buf) {
                Ok(n) => {
                    assert_eq!(&buf[..n], &message(next)[..], "message {next}");
                    next += 1;
                }
                Err(Error::Empty) => thread::yield_now(),
                Err(e) => panic!("recv {next}: {e}"),
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
    });
}

#[test]
fn region_readers_of_tail_accept_a_message_taken_by_its_stamp() {
    // The consumer can take a message by its stamp before the producer has
    // stored the matching `tail`: every reader of `tail` must then see an
    // empty ring (`tail` one behind `head`), not `Corrupt`.
    loom::model(|| {
        let s = Shared::new(2, 4);
        let producer = {
            let s = s.clone();
            thread::spawn(move || {
                let mut tx = s.region.producer(1).unwrap();
                for i in 0..2 {
                    tx.try_send(&message(i)).unwrap();
                }
            })
        };
        let mut rx = s.region.consumer(2).unwrap();
        let mut buf = [0u8; 4];
        let mut next = 0;
        while next < 2 {
            match rx.try_recv(&mut buf) {
                Ok(n) => {
                    assert_eq!(&buf[..n], &message(next)[..], "message {next}");
                    next += 1;
                }
                Err(Error::Empty) => thread::yield_now(),
                Err(e) => panic!("recv {next}: {e}"),
            }
            let queued = rx.len().expect("len never Corrupt");
            assert!(queued <= 2 - usize::from(next), "{queued} queued");
            assert!(Queue::len(&s.region) <= 2);
        }
        producer.join().unwrap();
        assert_eq!(rx.len(), Ok(0));
    });
}

#[test]
fn region_sides_sleep_on_doorbells_without_losing_a_wake_up() {
    // Capacity 2, three messages: the consumer sleeps on `not_empty` when it
    // runs ahead, the producer on `not_full` when it does.
    loom::model(|| {
        let s = Shared::new(2, 4);
        let producer = {
            let s = s.clone();
            thread::spawn(move || {
                let mut tx = s.region.producer(1).unwrap();
                for i in 0..3 {
                    s.send_blocking(&mut tx, &message(i)).unwrap();
                }
            })
        };
        let mut rx = s.region.consumer(2).unwrap();
        let mut buf = [0u8; 4];
        for i in 0..3 {
            let n = s.recv_blocking(&mut rx, &mut buf).unwrap();
            assert_eq!(&buf[..n], &message(i)[..], "message {i}");
        }
        producer.join().unwrap();
    });
}
