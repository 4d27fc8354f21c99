//! loom models of the MPMC ring (`kipc_core::mpmc`), both forms, checking the
//! real code through `kipc_core::sync`:
//!
//! - the typed Vyukov ring with two producers and one consumer, and with one
//!   producer and two consumers (capacity 2, so positions wrap): every item
//!   comes out exactly once, in order per producer;
//! - the typed batch operations with two producers;
//! - linearizability of the typed ring (issue 18): two threads on a
//!   capacity-2 ring each push one item and then pop one, and the pop is never
//!   `None` (the thread's own item is in the ring), even when the other
//!   thread's claim ahead of it is unpublished; the mirror image, each pop
//!   then push on a full ring, where the push is never `Full`; and the same
//!   for the batch calls; the non-waiting pop in that race reports `Busy`,
//!   never `Empty`;
//! - the region form's lanes with two producers and one consumer, and two
//!   consumers racing for one lane's messages (claim by CAS after the copy):
//!   exactly once, FIFO per lane; and two threads that each send on their
//!   own lane and then receive never get `Empty` (linearizable across lanes);
//! - the lanes' publication stamp: two consumers race for the messages of a
//!   one-slot lane, which they may take by the slot's stamp before the
//!   producer's `tail` store (or find by `tail` alone), while the producer
//!   reuses the slot for the next message: each message is taken once,
//!   whole and in order, a stamp from the other lap never matches, and a
//!   `tail` behind `head` reads as empty, never `Corrupt`.
//!
//! `--cfg kipc_loom_weaken="mpmc"` weakens the typed ring's `SYNC: publish
//! slot` Release store to Relaxed, which the typed models must catch;
//! `--cfg kipc_loom_weaken="mpmc_linear"` turns off the typed ring's full and
//! empty checks (a slot that is behind reads as full or empty at once, the
//! behaviour before issue 18), which the linearizability models must catch;
//! `--cfg kipc_loom_weaken="mpmc_lanes"` turns off the lanes' second read of
//! the tails before `Empty`, which the cross-lane model must catch, and
//! weakens the lanes' stamp store to Relaxed, which the stamp model must
//! catch (a consumer that takes a message by its stamp then reads a stale
//! length).
#![cfg(kipc_loom)]

use kipc_core::mpmc::{region_size, NoWait, Region, Ring};
use kipc_core::Error;
use loom::sync::Arc;
use loom::thread;

/// Item `i` of producer `p`: the producer in the high byte.
fn item(p: u32, i: u32) -> u32 {
    p << 8 | i
}

/// Checks that `got` holds every item of `pushed` exactly once and nothing
/// else, and that each producer's items come out in the order it pushed them.
fn assert_exactly_once_fifo(got: &[u32], pushed: &[u32]) {
    let mut a = got.to_vec();
    let mut b = pushed.to_vec();
    a.sort();
    b.sort();
    assert_eq!(a, b, "got {got:?}, pushed {pushed:?}");
    for p in 0..2 {
        let mine: Vec<u32> = got.iter().copied().filter(|v| v >> 8 == p).collect();
        assert!(mine.is_sorted(), "producer {p} out of order in {got:?}");
    }
}

#[test]
fn typed_two_producers_one_consumer_exactly_once_fifo_per_producer() {
    // No thread spins: producers try each push once (capacity 2, four
    // pushes: some may find the ring full), the consumer tries two pops
    // while they run, and the rest is drained after the joins. Whatever was
    // pushed must come out exactly once, in order per producer.
    loom::model(|| {
        let ring = Arc::new(Ring::<u32, 2>::new());
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let ring = ring.clone();
                thread::spawn(move || {
                    (0..2)
                        .map(|i| item(p, i))
                        .filter(|&v| ring.push(v).is_ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let consumer = {
            let ring = ring.clone();
            thread::spawn(move || (0..2).filter_map(|_| ring.pop()).collect::<Vec<_>>())
        };
        let mut pushed = Vec::new();
        for p in producers {
            pushed.extend(p.join().unwrap());
        }
        let mut got = consumer.join().unwrap();
        got.extend(std::iter::from_fn(|| ring.pop()));
        assert_exactly_once_fifo(&got, &pushed);
    });
}

#[test]
fn typed_one_producer_two_consumers_exactly_once_in_order() {
    loom::model(|| {
        let ring = Arc::new(Ring::<u32, 2>::new());
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || {
                (0..3)
                    .map(|i| item(0, i))
                    .filter(|&v| ring.push(v).is_ok())
                    .collect::<Vec<_>>()
            })
        };
        let other = {
            let ring = ring.clone();
            thread::spawn(move || (0..2).filter_map(|_| ring.pop()).collect::<Vec<_>>())
        };
        let mut got: Vec<u32> = (0..2).filter_map(|_| ring.pop()).collect();
        let theirs = other.join().unwrap();
        let pushed = producer.join().unwrap();
        // One producer: each consumer's pops are in position order.
        assert!(got.is_sorted(), "{got:?}");
        assert!(theirs.is_sorted(), "{theirs:?}");
        got.extend(theirs);
        got.extend(std::iter::from_fn(|| ring.pop()));
        got.sort();
        assert_exactly_once_fifo(&got, &pushed);
    });
}

#[test]
fn typed_batches_from_two_producers_stay_contiguous() {
    loom::model(|| {
        let ring = Arc::new(Ring::<u32, 4>::new());
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let items = [item(p, 0), item(p, 1)];
                    let mut sent = 0;
                    while sent < 2 {
                        match ring.push_slice(&items[sent..]) {
                            0 => thread::yield_now(),
                            n => sent += n,
                        }
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        let mut out = [u32::MAX; 3];
        while got.len() < 4 {
            match ring.pop_slice(&mut out) {
                0 => thread::yield_now(),
                n => got.extend_from_slice(&out[..n]),
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        let all: Vec<u32> = (0..2).flat_map(|p| [item(p, 0), item(p, 1)]).collect();
        assert_exactly_once_fifo(&got, &all);
    });
}

#[test]
fn typed_pop_right_after_own_push_is_never_none() {
    // Issue 18's minimized failure: thread 1 claims position 0, thread 0
    // pushes into position 1 and pops; position 0 is still unpublished, but
    // the ring holds thread 0's item, so `None` would not be linearizable.
    loom::model(|| {
        let ring = Arc::new(Ring::<u32, 2>::new());
        let other = {
            let ring = ring.clone();
            thread::spawn(move || {
                ring.push(item(1, 0)).unwrap();
                ring.pop()
            })
        };
        ring.push(item(0, 0)).unwrap();
        let mine = ring.pop();
        let theirs = other.join().unwrap();
        assert!(mine.is_some(), "pop after own push was None");
        assert!(theirs.is_some(), "pop after own push was None");
        assert_exactly_once_fifo(&[mine.unwrap(), theirs.unwrap()], &[item(0, 0), item(1, 0)]);
        assert_eq!(ring.pop(), None);
    });
}

#[test]
fn typed_push_right_after_own_pop_is_never_full() {
    // The mirror image: a full capacity-2 ring, each thread pops one item
    // and then pushes one. After its own pop the ring has a free slot, even
    // if the other thread is still reading out the slot the push lands in.
    loom::model(|| {
        let ring = Arc::new(Ring::<u32, 2>::new());
        ring.push(item(0, 0)).unwrap();
        ring.push(item(0, 1)).unwrap();
        let other = {
            let ring = ring.clone();
            thread::spawn(move || {
                let got = ring.pop();
                (got, ring.push(item(1, 0)).is_ok())
            })
        };
        let mine = ring.pop();
        let pushed = ring.push(item(1, 1)).is_ok();
        let (theirs, their_push) = other.join().unwrap();
        assert!(pushed && their_push, "push after own pop was Full");
        let mut got = vec![mine.unwrap(), theirs.unwrap()];
        got.extend(std::iter::from_fn(|| ring.pop()));
        got.sort();
        assert_eq!(got, [item(0, 0), item(0, 1), item(1, 0), item(1, 1)]);
    });
}

#[test]
fn typed_batch_calls_right_after_own_batch_never_see_empty_or_full() {
    // Both checks for the batch calls: each thread pushes a one-item slice
    // then pops into a one-item slice (never 0), on a capacity-2 ring that
    // starts full after each thread's first pop (never Full for the push).
    loom::model(|| {
        let ring = Arc::new(Ring::<u32, 2>::new());
        let run = |ring: &Ring<u32, 2>, p: u32| {
            let mut out = [u32::MAX; 1];
            assert_eq!(ring.push_slice(&[item(p, 0)]), 1, "push_slice");
            assert_eq!(ring.pop_slice(&mut out), 1, "pop_slice after own push");
            assert_eq!(
                ring.push_slice(&[item(p, 1)]),
                1,
                "push_slice after own pop"
            );
            out[0]
        };
        let other = {
            let ring = ring.clone();
            thread::spawn(move || run(&ring, 1))
        };
        let mut got = vec![run(&ring, 0), other.join().unwrap()];
        got.extend(std::iter::from_fn(|| ring.pop()));
        got.sort();
        assert_eq!(got, [item(0, 0), item(0, 1), item(1, 0), item(1, 1)]);
    });
}

#[test]
fn typed_no_wait_pop_after_own_push_is_busy_never_empty() {
    // The non-waiting pop in the same race: it may report the other
    // thread's unpublished claim as `Busy`, never as `Empty`, and once that
    // thread has finished its push a waiting pop finds every item.
    loom::model(|| {
        let ring = Arc::new(Ring::<u32, 2>::new());
        let other = {
            let ring = ring.clone();
            thread::spawn(move || ring.push(item(1, 0)).unwrap())
        };
        ring.push(item(0, 0)).unwrap();
        let first = ring.pop_no_wait();
        assert!(
            !matches!(first, Err(NoWait::Empty(()))),
            "pop_no_wait after own push was Empty"
        );
        other.join().unwrap();
        let mut got: Vec<u32> = first.ok().into_iter().collect();
        got.extend(std::iter::from_fn(|| ring.pop()));
        got.sort();
        assert_eq!(got, [item(0, 0), item(1, 0)]);
    });
}

/// One 128-byte, 128-aligned chunk of region memory.
#[derive(Clone, Copy)]
#[repr(C, align(128))]
struct Chunk([u8; 128]);

struct Shared {
    region: Region,
    /// Owns the bytes under `region`; declared after it so it outlives it.
    _mem: Box<[Chunk]>,
}

impl Shared {
    fn new(lanes: u32, slots: u32, slot_size: u32) -> Arc<Self> {
        let len = region_size(lanes, slots, slot_size).unwrap();
        let mut mem = vec![Chunk([0; 128]); len.div_ceil(128)].into_boxed_slice();
        // SAFETY: `mem` is 128-aligned, at least `len` bytes, and its heap
        // allocation lives in `Shared` as long as `region`.
        let region = unsafe { Region::init(mem.as_mut_ptr().cast(), len, lanes, slots, slot_size) };
        Arc::new(Self {
            region: region.unwrap(),
            _mem: mem,
        })
    }
}

/// Message `i` of producer `p`: `i + 1` bytes (the length word changes from
/// lap to lap), the first naming the producer.
fn message(p: u8, i: u8) -> Vec<u8> {
    let mut m = vec![i; usize::from(i) + 1];
    m[0] = p << 4 | i;
    m
}

/// Decodes `message(p, i)` back into `item(p, i)`, checking its length.
fn decode(msg: &[u8]) -> u32 {
    assert!(!msg.is_empty(), "an empty message was received");
    let (p, i) = (msg[0] >> 4, msg[0] & 0xf);
    assert_eq!(msg.len(), usize::from(i) + 1, "length of {msg:?}");
    item(u32::from(p), u32::from(i))
}

#[test]
fn region_two_producer_lanes_one_consumer_exactly_once_fifo_per_lane() {
    // Each producer claims a lane and sends two messages (a lane holds two);
    // the consumer tries two receives meanwhile and drains the rest after
    // the joins; once both lanes are closed it gets `PeerDead`.
    loom::model(|| {
        let s = Shared::new(2, 2, 4);
        let producers: Vec<_> = (0..2u8)
            .map(|p| {
                let s = s.clone();
                thread::spawn(move || {
                    let mut tx = s.region.producer(u32::from(p) + 1).unwrap();
                    for i in 0..2 {
                        tx.try_send(&message(p, i)).unwrap();
                    }
                    // Kept open until both have sent: a lane closed early
                    // would be claimed (full) by the other producer.
                    tx
                })
            })
            .collect();
        let mut rx = s.region.consumer(100).unwrap();
        let mut buf = [0u8; 4];
        let mut got = Vec::new();
        let mut recv = |got: &mut Vec<u32>| match rx.try_recv(&mut buf) {
            Ok((n, _lane)) => {
                got.push(decode(&buf[..n]));
                true
            }
            // `PeerDead` is a snapshot: one producer may have closed its
            // lane before the other claimed one.
            Err(Error::Empty | Error::PeerDead) => false,
            Err(e) => panic!("recv: {e}"),
        };
        for _ in 0..2 {
            recv(&mut got);
        }
        let senders: Vec<_> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        while recv(&mut got) {}
        let all: Vec<u32> = (0..2).flat_map(|p| [item(p, 0), item(p, 1)]).collect();
        assert_exactly_once_fifo(&got, &all);
        assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
        drop(senders);
        assert_eq!(rx.try_recv(&mut buf), Err(Error::PeerDead));
    });
}

#[test]
fn region_two_consumers_racing_on_one_lane_take_each_message_once() {
    // Two consumers race (one receive each) for one lane's two messages
    // (copy, then claim with a CAS on `head`): the loser of a race must
    // discard its copy and take the next message, or report empty.
    loom::model(|| {
        let s = Shared::new(1, 2, 4);
        let producer = {
            let s = s.clone();
            thread::spawn(move || {
                let mut tx = s.region.producer(1).unwrap();
                for i in 0..2 {
                    tx.try_send(&message(0, i)).unwrap();
                }
            })
        };
        let consume = |s: Arc<Shared>, id: u32, tries: usize| {
            let mut rx = s.region.consumer(id).unwrap();
            let mut buf = [0u8; 4];
            let mut mine = Vec::new();
            for _ in 0..tries {
                match rx.try_recv(&mut buf) {
                    Ok((n, _)) => mine.push(decode(&buf[..n])),
                    Err(Error::Empty | Error::PeerDead) => {}
                    Err(e) => panic!("recv: {e}"),
                }
            }
            mine
        };
        let other = {
            let s = s.clone();
            thread::spawn(move || consume(s, 200, 1))
        };
        let mut got = consume(s.clone(), 100, 1);
        let theirs = other.join().unwrap();
        producer.join().unwrap();
        assert!(got.is_sorted() && theirs.is_sorted(), "{got:?} {theirs:?}");
        got.extend(theirs);
        got.extend(consume(s.clone(), 300, 2));
        got.sort();
        assert_exactly_once_fifo(&got, &[item(0, 0), item(0, 1)]);
    });
}

#[test]
fn region_receive_right_after_own_send_is_never_empty_across_lanes() {
    // Issue 18's push-then-pop model for the lanes: two threads, each with
    // its own lane and its own consumer, send one message and then receive
    // one. Each consumer's scan starts at the *other* thread's lane, so a
    // scan can find that lane empty (its message not yet sent), then find
    // its own lane empty too (the other thread took its message meanwhile)
    // although the other message is by then queued: `Empty` there would
    // not be linearizable. The second read of the tails must catch it.
    loom::model(|| {
        let s = Shared::new(2, 2, 4);
        // Lanes 0 and 1 go to producers 1 and 2; consumer records 0 and 1
        // (scan cursors 0 and 1) to consumers 100 and 200.
        let tx0 = s.region.producer(1).unwrap();
        let tx1 = s.region.producer(2).unwrap();
        let rx0 = s.region.consumer(100).unwrap();
        let rx1 = s.region.consumer(200).unwrap();
        assert_eq!((tx0.lane(), tx1.lane()), (0, 1));
        let run = |mut tx: kipc_core::mpmc::RegionProducer,
                   mut rx: kipc_core::mpmc::RegionConsumer,
                   p: u8| {
            tx.try_send(&message(p, 0)).unwrap();
            let mut buf = [0u8; 4];
            let got = match rx.try_recv(&mut buf) {
                Ok((n, _lane)) => decode(&buf[..n]),
                Err(e) => panic!("receive right after own send: {e}"),
            };
            (got, tx, rx)
        };
        // Thread 0 sends on lane 0 and scans from lane 1; thread 1 the reverse.
        let other = thread::spawn(move || run(tx1, rx0, 1));
        let (mine, _tx0, _rx1) = run(tx0, rx1, 0);
        let (theirs, _tx1, _rx0) = other.join().unwrap();
        assert_exactly_once_fifo(&[mine, theirs], &[item(0, 0), item(1, 0)]);
    });
}

#[test]
fn region_two_consumers_racing_for_stamped_messages_in_a_one_slot_lane_take_each_once() {
    // One lane of one slot: the producer sends message 0, then message 1
    // into the same slot once a consumer has taken message 0 (a second try
    // may find the lane full). Each consumer tries one receive. A consumer
    // can find message 0 by its stamp before the producer has stored
    // `tail` (then `tail` is one behind `head`, which must read as empty),
    // can lose the claim after copying, or can hold a stale `head` while the
    // slot carries the other lap's stamp. Whatever the interleaving, every
    // message sent is received exactly once, with its own length, in order.
    loom::model(|| {
        let s = Shared::new(1, 1, 4);
        let mut tx = s.region.producer(1).unwrap();
        let producer = thread::spawn(move || {
            let mut sent = Vec::new();
            for i in 0..2 {
                match tx.try_send(&message(0, i)) {
                    Ok(()) => sent.push(item(0, u32::from(i))),
                    Err(Error::Full) => break,
                    Err(e) => panic!("send: {e}"),
                }
            }
            (sent, tx)
        });
        let consume = |s: &Shared, id: u32, tries: usize| {
            let mut rx = s.region.consumer(id).unwrap();
            let mut buf = [0u8; 4];
            let mut mine = Vec::new();
            for _ in 0..tries {
                match rx.try_recv(&mut buf) {
                    Ok((n, _)) => mine.push(decode(&buf[..n])),
                    Err(Error::Empty) => {}
                    Err(e) => panic!("recv: {e}"),
                }
            }
            mine
        };
        let other = {
            let s = s.clone();
            thread::spawn(move || consume(&s, 200, 1))
        };
        let mut got = consume(&s, 100, 1);
        let theirs = other.join().unwrap();
        let (sent, tx) = producer.join().unwrap();
        got.extend(theirs);
        got.sort();
        got.extend(consume(&s, 300, 2));
        // Everything sent was taken exactly once (no copy from the other
        // lap, no message twice, none lost), each with its own length.
        assert_eq!(got, sent, "received {got:?}, sent {sent:?}");
        drop(tx);
    });
}
