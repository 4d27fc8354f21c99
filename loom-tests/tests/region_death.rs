//! loom models of the death paths of the region forms: a watchdog thread
//! (standing in for the host's pidfd monitor) marks a peer dead while the
//! other side sleeps on its doorbell. The sleeper must wake and return what
//! was published, then `PeerDead`; never hang (loom reports a hang as a
//! deadlock) and never lose a published message.
#![cfg(kipc_loom)]

use kipc_core::{mpmc, spsc, Error};
use kipc_loom_tests::Futex;
use loom::sync::Arc;
use loom::thread;

/// One 128-byte, 128-aligned chunk of region memory.
#[derive(Clone, Copy)]
#[repr(C, align(128))]
struct Chunk([u8; 128]);

/// Zeroed, 128-aligned heap memory of at least `len` bytes.
fn memory(len: usize) -> Box<[Chunk]> {
    vec![Chunk([0; 128]); len.div_ceil(128)].into_boxed_slice()
}

struct Spsc {
    region: spsc::Region,
    futex: Futex,
    /// Owns the bytes under `region`; declared after it so it outlives it.
    _mem: Box<[Chunk]>,
}

impl Spsc {
    fn new(slots: u32, slot_size: u32) -> Arc<Self> {
        let len = spsc::region_size(slots, slot_size).unwrap();
        let mut mem = memory(len);
        // SAFETY: `mem` is 128-aligned, at least `len` bytes, and its heap
        // allocation lives in `Spsc` as long as `region`.
        let region = unsafe { spsc::Region::init(mem.as_mut_ptr().cast(), len, slots, slot_size) };
        Arc::new(Self {
            region: region.unwrap(),
            futex: Futex::new(),
            _mem: mem,
        })
    }

    /// What the host does on a pidfd event: mark, then wake both bells.
    fn producer_died(&self) {
        self.region.mark_producer_dead();
        self.futex.wake(self.region.not_empty().word());
        self.futex.wake(self.region.not_full().word());
    }

    fn consumer_died(&self) {
        self.region.mark_consumer_dead();
        self.futex.wake(self.region.not_empty().word());
        self.futex.wake(self.region.not_full().word());
    }
}

#[test]
fn spsc_consumer_gets_the_last_message_then_peer_dead() {
    // Producer sends one message and dies; the watchdog sees the death (joins
    // it) and marks it dead; the consumer, asleep or not, must receive the
    // message and then `PeerDead`. Reading the state word after `tail` would
    // lose the message here.
    loom::model(|| {
        let s = Spsc::new(2, 4);
        let producer = {
            let s = s.clone();
            thread::spawn(move || {
                let mut tx = s.region.producer(1).unwrap();
                tx.try_send(b"last").unwrap();
                if s.region.not_empty().ring().sleepers() {
                    s.futex.wake(s.region.not_empty().word());
                }
                // The process dies: no destructor runs, the claim stays.
                core::mem::forget(tx);
            })
        };
        let watchdog = {
            let s = s.clone();
            thread::spawn(move || {
                producer.join().unwrap();
                s.producer_died();
            })
        };
        let mut rx = s.region.consumer(2).unwrap();
        let bell = s.region.not_empty();
        let mut buf = [0u8; 4];
        let mut got = Vec::new();
        loop {
            match bell.poll(|| match rx.try_recv(&mut buf) {
                Err(Error::Empty) => None,
                other => Some(other),
            }) {
                Ok(Ok(n)) => got.push(buf[..n].to_vec()),
                Ok(Err(Error::PeerDead)) => break,
                Ok(Err(e)) => panic!("recv: {e}"),
                Err(ticket) => s.futex.wait(bell.word(), ticket),
            }
        }
        assert_eq!(got, [b"last".to_vec()]);
        watchdog.join().unwrap();
    });
}

#[test]
fn spsc_producer_blocked_on_full_ring_gets_peer_dead() {
    // The ring is full and the producer sleeps on `not_full`; the consumer
    // "dies" without receiving (the watchdog marks it dead). The producer
    // must wake with `PeerDead`.
    loom::model(|| {
        let s = Spsc::new(2, 4);
        let watchdog = {
            let s = s.clone();
            thread::spawn(move || s.consumer_died())
        };
        let mut tx = s.region.producer(1).unwrap();
        let bell = s.region.not_full();
        let mut sent = 0;
        let result = loop {
            match bell.poll(|| match tx.try_send(b"x") {
                Err(Error::Full) => None,
                other => Some(other),
            }) {
                Ok(Ok(())) => sent += 1,
                Ok(Err(e)) => break e,
                Err(ticket) => s.futex.wait(bell.word(), ticket),
            }
        };
        assert_eq!(result, Error::PeerDead);
        assert!(sent <= 2, "sent {sent} into a ring of 2");
        watchdog.join().unwrap();
    });
}

struct Mpmc {
    region: mpmc::Region,
    futex: Futex,
    _mem: Box<[Chunk]>,
}

impl Mpmc {
    fn new(lanes: u32, slots: u32, slot_size: u32) -> Arc<Self> {
        let len = mpmc::region_size(lanes, slots, slot_size).unwrap();
        let mut mem = memory(len);
        // SAFETY: as in `Spsc::new`.
        let region =
            unsafe { mpmc::Region::init(mem.as_mut_ptr().cast(), len, lanes, slots, slot_size) };
        Arc::new(Self {
            region: region.unwrap(),
            futex: Futex::new(),
            _mem: mem,
        })
    }
}

#[test]
fn mpmc_consumer_gets_the_dead_lanes_message_then_peer_dead() {
    // One producer claims a lane, sends one message and dies without closing
    // the lane (its handle is leaked, as a killed process leaves it); the
    // watchdog marks the lane dead. The consumer must receive the message,
    // then `PeerDead`.
    loom::model(|| {
        let s = Mpmc::new(1, 2, 4);
        // Claimed before the threads start, as a producer that attached
        // earlier; the consumer's `PeerDead` needs `producer_seen`.
        let mut tx = s.region.producer(7).unwrap();
        let lane = tx.lane();
        let producer = {
            let s = s.clone();
            thread::spawn(move || {
                tx.try_send(b"last").unwrap();
                if s.region.not_empty().ring().sleepers() {
                    s.futex.wake(s.region.not_empty().word());
                }
                // Dies: no close.
                std::mem::forget(tx);
            })
        };
        let watchdog = {
            let s = s.clone();
            thread::spawn(move || {
                producer.join().unwrap();
                s.region.mark_lane_dead(lane).unwrap();
                s.futex.wake(s.region.not_empty().word());
            })
        };
        let mut rx = s.region.consumer(1).unwrap();
        let bell = s.region.not_empty();
        let mut buf = [0u8; 4];
        let mut got = Vec::new();
        loop {
            match bell.poll(|| match rx.try_recv(&mut buf) {
                Err(Error::Empty) => None,
                other => Some(other),
            }) {
                Ok(Ok((n, from))) => {
                    assert_eq!(from, lane);
                    got.push(buf[..n].to_vec());
                }
                Ok(Err(Error::PeerDead)) => break,
                Ok(Err(e)) => panic!("recv: {e}"),
                Err(ticket) => s.futex.wait(bell.word(), ticket),
            }
        }
        assert_eq!(got, [b"last".to_vec()]);
        watchdog.join().unwrap();
    });
}

#[test]
fn spsc_death_verdict_on_an_old_owner_never_marks_a_new_claim() {
    // A reaper judges consumer 100 dead (a stale verdict: 100 in fact left
    // cleanly) while 100 releases the side and 300 claims it. Whatever the
    // interleaving, 300's claim must stay attached and usable: the mark is a
    // CAS from the state word read before the owner, and every claim bumps
    // the word's generation.
    use kipc_core::queue::{Queue, Role};
    loom::model(|| {
        let s = Spsc::new(2, 4);
        let old = s.region.consumer(100).unwrap();
        let reaper = {
            let s = s.clone();
            thread::spawn(move || {
                s.region.reap(Role::Producer, 1, &mut |id| id.get() != 100);
            })
        };
        drop(old);
        let claimed = s.region.consumer(300);
        reaper.join().unwrap();
        let mut rx = claimed.unwrap();
        assert_eq!(
            s.region.consumer_endpoint().state(),
            Ok(spsc::EndpointState::Attached)
        );
        assert_eq!(rx.try_recv(&mut [0; 4]), Err(Error::Empty));
        let mut tx = s.region.producer(1).unwrap();
        assert_eq!(tx.try_send(b"ok"), Ok(()));
    });
}
