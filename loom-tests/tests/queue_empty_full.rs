//! loom models of what `Empty` and `Full` mean for every queue laid over a
//! region (`kipc_core::queue`, "What `Empty` and `Full` mean"), written once
//! over the `Queue` trait and run for the SPSC ring, the MPMC lanes (one
//! lane) and the mailbox, on the real code:
//!
//! - a receive that begins after a send completed (the sender then raised a
//!   flag with Release, the receiver read it with Acquire before the call)
//!   never returns `Empty`;
//! - on a full queue, a send that begins after a receive completed never
//!   returns `Full`.
//!
//! Both follow from each kind re-reading the other side's index (or the slot
//! states) before reporting `Empty` or `Full`; a consumer that trusted a
//! cached `tail`, or a producer a cached `head`, would fail them. The
//! cross-lane case (several lanes, where one scan is not one instant) is
//! modelled in `mpmc.rs`, with teeth under `kipc_loom_weaken="mpmc_lanes"`.
#![cfg(kipc_loom)]

use kipc_core::queue::{assume_alive, Consumer, Producer, Queue};
use kipc_core::sync::{AtomicU32, CachePadded, Ordering};
use kipc_core::{mailbox, mpmc, spsc, Error};
use loom::sync::Arc;
use loom::thread;

/// Slots of every queue in these models.
const SLOTS: u32 = 2;
/// Largest message.
const MAX: u32 = 4;

/// A queue, the memory under it (declared after it, so it outlives it) and
/// the models' flag.
struct Shared<Q> {
    queue: Q,
    _mem: Vec<CachePadded<[u8; 128]>>,
    /// Raised (Release) by the peer thread once its operation returned.
    done: AtomicU32,
}

/// Memory for `len` bytes, 128-aligned.
fn memory(len: usize) -> Vec<CachePadded<[u8; 128]>> {
    (0..len.div_ceil(128))
        .map(|_| CachePadded::new([0u8; 128]))
        .collect()
}

fn shared<Q>(len: usize, init: impl FnOnce(*mut u8, usize) -> Q) -> Arc<Shared<Q>> {
    let mut mem = memory(len);
    let base = mem.as_mut_ptr().cast::<u8>();
    let queue = init(base, mem.len() * 128);
    Arc::new(Shared {
        queue,
        _mem: mem,
        done: AtomicU32::new(0),
    })
}

fn spsc_queue() -> Arc<Shared<spsc::Region>> {
    let len = spsc::region_size(SLOTS, MAX).unwrap();
    // SAFETY: the memory is 128-aligned, `len` bytes long, and lives in
    // `Shared` (its heap buffer never moves) as long as the queue.
    shared(len, |base, len| {
        unsafe { spsc::Region::init(base, len, SLOTS, MAX) }.unwrap()
    })
}

fn mpmc_queue() -> Arc<Shared<mpmc::Region>> {
    let len = mpmc::region_size(1, SLOTS, MAX).unwrap();
    // SAFETY: as in `spsc_queue`.
    shared(len, |base, len| {
        unsafe { mpmc::Region::init(base, len, 1, SLOTS, MAX) }.unwrap()
    })
}

fn mailbox_queue() -> Arc<Shared<mailbox::Region>> {
    let len = mailbox::region_size(SLOTS, MAX).unwrap();
    // SAFETY: as in `spsc_queue`.
    shared(len, |base, len| {
        unsafe { mailbox::Region::init(base, len, mailbox::Geometry::new(SLOTS, MAX)) }.unwrap()
    })
}

/// A sender thread sends one message and raises the flag; the receiver
/// reads the flag, then receives: if the flag was up, the message is there.
fn receive_after_a_completed_send_is_not_empty<Q: Queue + 'static>(s: Arc<Shared<Q>>)
where
    Q::Producer: 'static,
{
    let mut tx = s.queue.claim_producer(1, &mut assume_alive).unwrap();
    let mut rx = s.queue.claim_consumer(2, &mut assume_alive).unwrap();
    let sender = {
        let s = s.clone();
        thread::spawn(move || {
            tx.try_send(b"m").unwrap();
            // SYNC: model flag. The send happens-before the receiver's check.
            s.done.store(1, Ordering::Release);
            tx
        })
    };
    let mut buf = [0u8; MAX as usize];
    // SYNC: model flag.
    let sent = s.done.load(Ordering::Acquire) == 1;
    match rx.try_recv(&mut buf) {
        Ok(n) => assert_eq!(&buf[..n], b"m"),
        Err(Error::Empty) => assert!(!sent, "Empty after a completed send"),
        Err(e) => panic!("receive: {e}"),
    }
    let _tx = sender.join().unwrap();
}

/// The dual on a full queue: a receiver thread takes one message and raises
/// the flag; the sender reads the flag, then sends: if the flag was up, a
/// slot is free.
fn send_after_a_completed_receive_is_not_full<Q: Queue + 'static>(s: Arc<Shared<Q>>)
where
    Q::Consumer: 'static,
{
    let mut tx = s.queue.claim_producer(1, &mut assume_alive).unwrap();
    let mut rx = s.queue.claim_consumer(2, &mut assume_alive).unwrap();
    for _ in 0..s.queue.capacity() {
        tx.try_send(b"f").unwrap();
    }
    assert_eq!(tx.try_send(b"x"), Err(Error::Full));
    let receiver = {
        let s = s.clone();
        thread::spawn(move || {
            let mut buf = [0u8; MAX as usize];
            assert_eq!(rx.try_recv(&mut buf), Ok(1));
            // SYNC: model flag. The receive happens-before the sender's check.
            s.done.store(1, Ordering::Release);
            rx
        })
    };
    // SYNC: model flag.
    let received = s.done.load(Ordering::Acquire) == 1;
    match tx.try_send(b"n") {
        Ok(()) => {}
        Err(Error::Full) => assert!(!received, "Full after a completed receive"),
        Err(e) => panic!("send: {e}"),
    }
    let _rx = receiver.join().unwrap();
}

#[test]
fn spsc_receive_after_a_completed_send_is_not_empty() {
    loom::model(|| receive_after_a_completed_send_is_not_empty(spsc_queue()));
}

#[test]
fn spsc_send_after_a_completed_receive_is_not_full() {
    loom::model(|| send_after_a_completed_receive_is_not_full(spsc_queue()));
}

#[test]
fn mpmc_receive_after_a_completed_send_is_not_empty() {
    loom::model(|| receive_after_a_completed_send_is_not_empty(mpmc_queue()));
}

#[test]
fn mpmc_send_after_a_completed_receive_is_not_full() {
    loom::model(|| send_after_a_completed_receive_is_not_full(mpmc_queue()));
}

#[test]
fn mailbox_receive_after_a_completed_send_is_not_empty() {
    loom::model(|| receive_after_a_completed_send_is_not_empty(mailbox_queue()));
}

#[test]
fn mailbox_send_after_a_completed_receive_is_not_full() {
    loom::model(|| send_after_a_completed_receive_is_not_full(mailbox_queue()));
}
