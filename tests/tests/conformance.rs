//! One conformance suite for every shared-memory queue kind (SPSC ring, MPMC
//! lanes, mailbox) on every backing (memory of this process, a named POSIX
//! segment, a sealed memfd), written once against the core's
//! [`Queue`] trait (and, for the host backings, the host's owned
//! endpoints), so kinds and backings cannot drift apart.
//!
//! Each `conformance!` line below instantiates every test for one (kind,
//! backing) pair; a test that does not apply to a kind says so in its
//! assertions (a mailbox has no exclusive sides and no `PeerDead`).

use std::fs::File;
use std::num::NonZeroU32;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use kipc_core::mailbox;
use kipc_core::queue::{assume_alive, AnyRing, Consumer, Producer, Queue, Role};
use kipc_core::{mpmc, spsc, Error};
use kipc_host::endpoint::{QueueLayout, ShmQueue};
use kipc_host::mailbox::MailboxConfig;
use kipc_host::ring::RingConfig;

/// Slots per producer in every case.
const SLOTS: u32 = 4;
/// Largest message in every case.
const MAX: usize = 24;

/// Which queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Spsc,
    Mpmc,
    Mailbox,
}

impl Kind {
    /// Whether a producer or consumer side belongs to one owner at a time.
    fn exclusive(self) -> bool {
        self != Kind::Mailbox
    }
}

/// 128-byte aligned memory of this process.
struct Local {
    blocks: Vec<Block>,
}

#[repr(C, align(128))]
#[derive(Clone, Copy)]
struct Block([u8; 128]);

impl Local {
    fn new(len: usize) -> Self {
        Self {
            blocks: vec![Block([0; 128]); len.div_ceil(128)],
        }
    }

    fn base(&mut self) -> *mut u8 {
        self.blocks.as_mut_ptr().cast()
    }

    fn len(&self) -> usize {
        self.blocks.len() * 128
    }
}

/// Where a case's memory lives, kept alive for the case.
enum Backing<S> {
    Local(Box<Local>),
    Named(S, String),
    Memfd(S),
}

/// One queue under test.
struct Case<Q: QueueLayout> {
    kind: Kind,
    queue: Q,
    backing: Backing<ShmQueue<Q>>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    format!(
        "conf-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl<Q: QueueLayout> Drop for Case<Q> {
    fn drop(&mut self) {
        if let Backing::Named(_, name) = &self.backing {
            let _ = ShmQueue::<Q>::unlink(name);
        }
    }
}

impl<Q: QueueLayout> Case<Q> {
    fn host(kind: Kind, config: Q::Config, named: bool) -> Self {
        let (shm, backing) = if named {
            let name = unique_name();
            let shm = ShmQueue::<Q>::create(&name, config).expect("create named");
            (shm.clone(), Backing::Named(shm, name))
        } else {
            let shm = ShmQueue::<Q>::create_anonymous(config).expect("create memfd");
            (shm.clone(), Backing::Memfd(shm))
        };
        Case {
            kind,
            // SAFETY: the case keeps `shm` (in `backing`) as long as the
            // queue and every handle the tests claim from it.
            queue: unsafe { shm.raw_queue() }.clone(),
            backing,
        }
    }

    /// The host endpoint, for host backings.
    fn shm(&self) -> Option<&ShmQueue<Q>> {
        match &self.backing {
            Backing::Local(_) => None,
            Backing::Named(s, _) | Backing::Memfd(s) => Some(s),
        }
    }

    /// Overwrites `bytes.len()` bytes at `offset` as a hostile peer would.
    fn scribble(&mut self, offset: usize, bytes: &[u8]) {
        match &mut self.backing {
            Backing::Local(mem) => {
                let end = (offset + bytes.len()).min(mem.len());
                let base = mem.base();
                for (i, &b) in bytes[..end.saturating_sub(offset)].iter().enumerate() {
                    // SAFETY: in bounds of the live buffer; the queue reads
                    // these bytes only through atomics and raw copies.
                    unsafe { base.add(offset + i).write_volatile(b) };
                }
            }
            Backing::Named(s, _) | Backing::Memfd(s) => {
                let file = File::from(s.fd().try_clone_to_owned().expect("dup"));
                let end = (offset + bytes.len()).min(s.size());
                file.write_all_at(&bytes[..end.saturating_sub(offset)], offset as u64)
                    .expect("pwrite");
            }
        }
    }

    fn byte_len(&self) -> usize {
        self.queue.byte_len()
    }
}

fn ring_config(kind: Kind) -> RingConfig {
    match kind {
        Kind::Spsc => RingConfig::spsc(SLOTS, MAX as u32),
        _ => RingConfig::mpmc(1, SLOTS, MAX as u32),
    }
}

fn ring_local(kind: Kind) -> Case<AnyRing> {
    let c = ring_config(kind);
    let mut mem = Box::new(Local::new(c.region_size().expect("size")));
    let (base, len) = (mem.base(), mem.len());
    // SAFETY: `mem` is aligned, `len` bytes long, and lives in the case as
    // long as the queue and every handle (the tests drop handles first).
    let queue = unsafe {
        match kind {
            Kind::Spsc => AnyRing::Spsc(spsc::Region::init(base, len, SLOTS, MAX as u32).unwrap()),
            _ => AnyRing::Mpmc(mpmc::Region::init(base, len, 1, SLOTS, MAX as u32).unwrap()),
        }
    };
    Case {
        kind,
        queue,
        backing: Backing::Local(mem),
    }
}

fn mailbox_local(_: Kind) -> Case<mailbox::Region> {
    let g = mailbox::Geometry::new(SLOTS, MAX as u32);
    let mut mem = Box::new(Local::new(mailbox::region_size(SLOTS, MAX as u32).unwrap()));
    let (base, len) = (mem.base(), mem.len());
    // SAFETY: as in `ring_local`.
    let queue = unsafe { mailbox::Region::init(base, len, g) }.unwrap();
    Case {
        kind: Kind::Mailbox,
        queue,
        backing: Backing::Local(mem),
    }
}

fn ring_named(kind: Kind) -> Case<AnyRing> {
    Case::host(kind, ring_config(kind), true)
}

fn ring_memfd(kind: Kind) -> Case<AnyRing> {
    Case::host(kind, ring_config(kind), false)
}

fn mailbox_named(_: Kind) -> Case<mailbox::Region> {
    Case::host(Kind::Mailbox, MailboxConfig::new(SLOTS, MAX as u32), true)
}

fn mailbox_memfd(_: Kind) -> Case<mailbox::Region> {
    Case::host(Kind::Mailbox, MailboxConfig::new(SLOTS, MAX as u32), false)
}

/// A verdict that `dead` has exited and everyone else lives.
fn all_but(dead: u32) -> impl FnMut(NonZeroU32) -> bool {
    move |id| id.get() != dead
}

fn msg(i: u32) -> Vec<u8> {
    let n = (i as usize * 7) % (MAX + 1);
    (0..n).map(|k| (i as u8).wrapping_add(k as u8)).collect()
}

// ---- the tests, generic over the queue ----

fn fifo_order_and_wrap_around<Q: QueueLayout>(c: Case<Q>) {
    let mut tx = c.queue.claim_producer(1, &mut assume_alive).unwrap();
    let mut rx = c.queue.claim_consumer(2, &mut assume_alive).unwrap();
    let mut buf = [0u8; MAX];
    let (mut sent, mut got) = (0u32, 0u32);
    // Fill, drain half, refill: positions wrap several times.
    for round in 0..12 {
        while tx.try_send(&msg(sent)).is_ok() {
            sent += 1;
        }
        let take = if round % 2 == 0 { 2 } else { SLOTS };
        for _ in 0..take {
            match rx.try_recv(&mut buf) {
                Ok(n) => {
                    assert_eq!(&buf[..n], &msg(got)[..], "message {got}");
                    got += 1;
                }
                Err(e) => {
                    assert_eq!(e, Error::Empty);
                    break;
                }
            }
        }
    }
    while let Ok(n) = rx.try_recv(&mut buf) {
        assert_eq!(&buf[..n], &msg(got)[..]);
        got += 1;
    }
    assert_eq!(got, sent);
    assert!(sent > 3 * SLOTS);
    assert_eq!(c.queue.len(), 0);
}

fn full_at_capacity_and_len_counts<Q: QueueLayout>(c: Case<Q>) {
    let mut tx = c.queue.claim_producer(1, &mut assume_alive).unwrap();
    for i in 0..SLOTS {
        tx.try_send(&msg(i)).unwrap();
        assert_eq!(c.queue.len(), i as usize + 1);
    }
    assert_eq!(tx.try_send(b"x"), Err(Error::Full));
    let mut rx = c.queue.claim_consumer(2, &mut assume_alive).unwrap();
    assert_eq!(rx.try_recv(&mut [0; MAX]), Ok(msg(0).len()));
    assert_eq!(tx.try_send(b"x"), Ok(()));
    assert_eq!(c.queue.max_msg(), MAX);
    assert!(c.queue.capacity() >= SLOTS as usize);
}

fn too_large_is_refused_and_nothing_is_lost<Q: QueueLayout>(c: Case<Q>) {
    let mut tx = c.queue.claim_producer(1, &mut assume_alive).unwrap();
    let mut rx = c.queue.claim_consumer(2, &mut assume_alive).unwrap();
    assert_eq!(
        tx.try_send(&[0; MAX + 1]),
        Err(Error::TooLarge {
            len: MAX + 1,
            max: MAX
        })
    );
    let mut called = false;
    assert!(tx.try_send_with(MAX + 1, |_| called = true).is_err());
    assert!(!called, "fill must not run when nothing is sent");
    tx.try_send(b"twelve bytes").unwrap();
    assert_eq!(rx.peek_len(), Ok(12));
    assert_eq!(
        rx.try_recv(&mut [0; 4]),
        Err(Error::TooLarge { len: 12, max: 4 })
    );
    let mut buf = [0; MAX];
    assert_eq!(rx.try_recv(&mut buf), Ok(12));
    assert_eq!(&buf[..12], b"twelve bytes");
    assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
}

fn zero_length_and_in_place_messages<Q: QueueLayout>(c: Case<Q>) {
    let mut tx = c.queue.claim_producer(1, &mut assume_alive).unwrap();
    let mut rx = c.queue.claim_consumer(2, &mut assume_alive).unwrap();
    tx.try_send(b"").unwrap();
    tx.try_send_with(6, |w| {
        w.write_at(0, b"abc").unwrap();
        w.write_at(3, b"def").unwrap();
        assert!(w.write_at(5, b"xy").is_err());
    })
    .unwrap();
    assert_eq!(rx.try_recv(&mut []), Ok(0));
    let mut buf = [0; MAX];
    assert_eq!(rx.try_recv(&mut buf), Ok(6));
    assert_eq!(&buf[..6], b"abcdef");
}

fn a_dead_consumer_is_reported_to_the_producer<Q: QueueLayout>(c: Case<Q>) {
    let mut tx = c.queue.claim_producer(1, &mut assume_alive).unwrap();
    let rx = c.queue.claim_consumer(2, &mut assume_alive).unwrap();
    tx.try_send(b"before").unwrap();
    // A live consumer is never judged dead.
    assert!(!c.queue.reap(Role::Producer, 1, &mut assume_alive));
    let changed = c.queue.reap(Role::Producer, 1, &mut all_but(2));
    if c.kind == Kind::Mailbox {
        // Anonymous peers: nothing to mark (the consumer holds no slot).
        assert!(!changed);
        assert_eq!(tx.try_send(b"after"), Ok(()));
    } else {
        assert!(changed);
        assert_eq!(tx.try_send(b"after"), Err(Error::PeerDead));
    }
    drop(rx);
}

fn a_dead_producer_is_reported_after_the_drain<Q: QueueLayout>(c: Case<Q>) {
    let mut tx = c.queue.claim_producer(1, &mut assume_alive).unwrap();
    let mut rx = c.queue.claim_consumer(2, &mut assume_alive).unwrap();
    tx.try_send(b"last words").unwrap();
    assert!(!c.queue.reap(Role::Consumer, 2, &mut assume_alive));
    let changed = c.queue.reap(Role::Consumer, 2, &mut all_but(1));
    let mut buf = [0; MAX];
    assert_eq!(rx.try_recv(&mut buf), Ok(10), "published messages survive");
    if c.kind == Kind::Mailbox {
        assert!(!changed);
        assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
    } else {
        assert!(changed);
        assert_eq!(rx.try_recv(&mut buf), Err(Error::PeerDead));
    }
    drop(tx);
}

fn a_stale_handle_is_refused_after_its_side_is_taken_over<Q: QueueLayout>(c: Case<Q>) {
    let mut old = c.queue.claim_producer(100, &mut assume_alive).unwrap();
    old.try_send(b"kept").unwrap();
    if !c.kind.exclusive() {
        // Any number of mailbox senders: nothing to take over.
        let mut other = c.queue.claim_producer(200, &mut assume_alive).unwrap();
        other.try_send(b"too").unwrap();
        return;
    }
    // Live owner: refused, whatever the id.
    assert!(c.queue.claim_producer(200, &mut assume_alive).is_err());
    // Dead owner: taken over; its published message stays queued.
    let mut new = c.queue.claim_producer(200, &mut all_but(100)).unwrap();
    assert_eq!(old.try_send(b"stale"), Err(Error::InUse));
    new.try_send(b"new").unwrap();
    drop(old); // a stale handle releases nothing
    assert!(c.queue.claim_producer(300, &mut assume_alive).is_err());
    let mut rx = c.queue.claim_consumer(2, &mut assume_alive).unwrap();
    let mut buf = [0; MAX];
    assert_eq!(rx.try_recv(&mut buf), Ok(4));
    assert_eq!(&buf[..4], b"kept");
    assert_eq!(rx.try_recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"new");
}

fn a_bad_message_is_consumed_not_wedged<Q: QueueLayout>(mut c: Case<Q>) {
    let mut tx = c.queue.claim_producer(1, &mut assume_alive).unwrap();
    let mut rx = c.queue.claim_consumer(2, &mut assume_alive).unwrap();
    tx.try_send(b"one").unwrap();
    tx.try_send(b"two").unwrap();
    // Find the length of "one" and overwrite it with an impossible value, as
    // a hostile producer would: the first 32-bit word equal to 3 after the
    // header that, rewritten, makes the queue report Corrupt.
    let mut buf = [0; MAX];
    let len = c.byte_len();
    let mut poisoned = false;
    for off in (0..len).step_by(4) {
        let word = read_word(&c, off);
        if word != 3 && !(c.kind == Kind::Mailbox && word >> 2 == 3 && word & 3 == 2) {
            continue;
        }
        let bad = if c.kind == Kind::Mailbox {
            // State word: READY with a length far above max_msg.
            (1u32 << 29) << 2 | 2
        } else {
            1 << 20
        };
        c.scribble(off, &bad.to_le_bytes());
        match rx.peek_len() {
            Err(Error::Corrupt { .. }) => {
                poisoned = true;
                break;
            }
            _ => c.scribble(off, &word.to_le_bytes()),
        }
    }
    assert!(poisoned, "found no length word to poison");
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupt { .. })));
    // Consumed: the next receive goes on with the next message.
    assert_eq!(rx.try_recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"two");
    assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
}

/// Reads a little-endian word of the case's memory.
fn read_word<Q: QueueLayout>(c: &Case<Q>, off: usize) -> u32 {
    let mut b = [0u8; 4];
    match &c.backing {
        Backing::Local(mem) => {
            let base = mem.blocks.as_ptr().cast::<u8>();
            for (i, v) in b.iter_mut().enumerate() {
                // SAFETY: `off + 4 <= byte_len <= mem.len()`; a volatile read
                // of bytes the queue writes only atomically.
                *v = unsafe { base.add(off + i).read_volatile() };
            }
        }
        Backing::Named(s, _) | Backing::Memfd(s) => {
            let file = File::from(s.fd().try_clone_to_owned().expect("dup"));
            file.read_exact_at(&mut b, off as u64).expect("pread");
        }
    }
    u32::from_le_bytes(b)
}

fn hostile_bytes_everywhere_never_panic_or_hang<Q: QueueLayout>(mut c: Case<Q>) {
    let len = c.byte_len();
    for pattern in [0x00u8, 0xff, 0x5a, 0x80] {
        let mut tx = c.queue.claim_producer(1, &mut assume_alive).ok();
        let mut rx = c.queue.claim_consumer(2, &mut assume_alive).ok();
        // Everything after the prologue, header and slots alike.
        c.scribble(16, &vec![pattern; len - 16]);
        let mut buf = [0u8; MAX];
        for i in 0..64u32 {
            if let Some(tx) = tx.as_mut() {
                let _ = tx.try_send(&msg(i));
                let _ = tx.try_send_with(3, |w| {
                    let _ = w.write_at(0, b"abc");
                });
            }
            if let Some(rx) = rx.as_mut() {
                let _ = rx.try_recv(&mut buf);
                let _ = rx.peek_len();
            }
            let _ = c.queue.len();
            let _ = c.queue.reap(Role::Consumer, 2, &mut all_but(7));
            let _ = c.queue.reap(Role::Producer, 1, &mut all_but(7));
            c.queue.owners(&mut |_| {});
        }
        drop((tx, rx));
        // Claims on scribbled sides may be refused; they must not panic.
        let _ = c.queue.claim_producer(5, &mut |_| false);
        let _ = c.queue.claim_consumer(6, &mut |_| false);
    }
}

fn a_blocked_receiver_is_woken_by_a_sender<Q: QueueLayout>(c: Case<Q>) {
    let Some(shm) = c.shm() else {
        // No host to sleep with: the doorbell protocol itself.
        let bell = c.queue.not_empty();
        assert!(bell.poll(|| None::<()>).is_err(), "announce");
        assert!(
            bell.ring().sleepers(),
            "a ring after an announce asks for a wake-up"
        );
        assert!(!bell.ring().any(), "and only once");
        return;
    };
    let mut rx = shm.receiver().unwrap();
    let mut tx = shm.sender().unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Stops the sender if the receiver's assertions fail.
        let guard = StopOnDrop(&stop);
        let stop = &stop;
        s.spawn(move || {
            for i in 0..200u32 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if i % 50 == 0 {
                    // Let the receiver fall asleep on the futex.
                    std::thread::sleep(Duration::from_millis(30));
                }
                tx.send_timeout(&i.to_le_bytes(), Duration::from_secs(10))
                    .unwrap();
            }
        });
        let mut buf = [0u8; MAX];
        for i in 0..200u32 {
            let n = rx.recv_timeout(&mut buf, Duration::from_secs(10)).unwrap();
            assert_eq!(&buf[..n], &i.to_le_bytes());
        }
        drop(guard);
    });
}

fn an_owned_receiver_outlives_its_queue_value<Q: QueueLayout>(c: Case<Q>) {
    let Some(shm) = c.shm() else {
        return;
    };
    let shm = shm.clone();
    let mut tx = shm.sender().unwrap();
    let mut rx = shm.receiver().unwrap();
    drop(shm);
    drop(c); // the case's ShmQueue, and the name of a named queue, are gone
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; MAX];
        let n = rx.recv_timeout(&mut buf, Duration::from_secs(10))?;
        Ok::<_, kipc_host::Error>(buf[..n].to_vec())
    });
    tx.send(b"still mapped").unwrap();
    assert_eq!(t.join().unwrap().unwrap(), b"still mapped");
}

/// Raises a stop flag when dropped: the thread that asserts holds it, so a
/// failed assertion there stops its peer thread instead of leaving it spinning.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Messages moved by the two `..._instant` tests below.
const RACE_MSGS: u32 = 3000;

/// Lets the peer thread run: a pause most of the time, a yield now and then
/// (two cores are shared by many processes here).
fn back_off(turn: &mut u32) {
    *turn = turn.wrapping_add(1);
    if *turn % 64 == 0 {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// `Empty` (see "What `Empty` and `Full` mean" in `kipc_core::queue`): a
/// receive that began after `s` sends had completed, with this thread the
/// only receiver and `got` messages taken so far, finds one whenever
/// `s > got`, and `len()` counts at least `s - got`. A producer thread
/// publishes how many of its sends have returned `Ok`; the receiver checks
/// every `Empty` against the count it read before the call.
fn empty_only_when_every_completed_send_was_received<Q: QueueLayout>(c: Case<Q>) {
    let mut tx = c.queue.claim_producer(1, &mut assume_alive).unwrap();
    let mut rx = c.queue.claim_consumer(2, &mut assume_alive).unwrap();
    let sent = AtomicU32::new(0);
    let stop = AtomicBool::new(false);
    let empties = std::thread::scope(|s| {
        let guard = StopOnDrop(&stop);
        let (sent, stop) = (&sent, &stop);
        s.spawn(move || {
            let mut turn = 0;
            for i in 0..RACE_MSGS {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    match tx.try_send(&msg(i)) {
                        Ok(()) => break,
                        Err(Error::Full) => back_off(&mut turn),
                        Err(e) => panic!("send {i}: {e}"),
                    }
                }
                // Release: the send happens-before whoever reads this count.
                sent.store(i + 1, Ordering::Release);
            }
        });
        let mut buf = [0u8; MAX];
        let (mut got, mut empties, mut turn) = (0u32, 0u32, 0u32);
        while got < RACE_MSGS {
            let done = sent.load(Ordering::Acquire);
            // A receive may complete before the sender's `try_send` has
            // returned (an SPSC message is published by its slot stamp,
            // before `tail` moves), so `got` can run one ahead of `done`.
            let pending = done.saturating_sub(got);
            let len = c.queue.len();
            assert!(
                len >= pending as usize,
                "len() {len} with {pending} completed sends not yet received"
            );
            match rx.try_recv(&mut buf) {
                Ok(n) => {
                    assert_eq!(&buf[..n], &msg(got)[..], "message {got}");
                    got += 1;
                }
                Err(Error::Empty) => {
                    assert_eq!(
                        pending, 0,
                        "Empty although {pending} sends had completed before the receive began"
                    );
                    empties += 1;
                    back_off(&mut turn);
                }
                Err(e) => panic!("receive {got}: {e}"),
            }
        }
        drop(guard);
        empties
    });
    // The check above ran on at least some `Empty`s (the receiver spins
    // faster than the sender), so it could have failed.
    assert!(empties > 0, "the receiver never found the queue empty");
}

/// `Full`, the dual: a send that began after `r` receives had completed,
/// with this thread the only sender and `i` messages sent so far, returns
/// `Full` only if `i - r` messages fill the queue. A consumer thread
/// publishes how many receives have returned `Ok`.
fn full_only_when_no_completed_receive_left_room<Q: QueueLayout>(c: Case<Q>) {
    let mut tx = c.queue.claim_producer(1, &mut assume_alive).unwrap();
    let mut rx = c.queue.claim_consumer(2, &mut assume_alive).unwrap();
    let capacity = c.queue.capacity() as u32;
    let received = AtomicU32::new(0);
    let stop = AtomicBool::new(false);
    let fulls = std::thread::scope(|s| {
        let guard = StopOnDrop(&stop);
        let (received, stop) = (&received, &stop);
        s.spawn(move || {
            let mut buf = [0u8; MAX];
            let mut turn = 0;
            for i in 0..RACE_MSGS {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    match rx.try_recv(&mut buf) {
                        Ok(n) => {
                            assert_eq!(&buf[..n], &msg(i)[..], "message {i}");
                            break;
                        }
                        Err(Error::Empty) => back_off(&mut turn),
                        Err(e) => panic!("receive {i}: {e}"),
                    }
                }
                // Release: the receive (the slot freed) happens-before
                // whoever reads this count.
                received.store(i + 1, Ordering::Release);
            }
        });
        let (mut i, mut fulls, mut turn) = (0u32, 0u32, 0u32);
        while i < RACE_MSGS {
            let done = received.load(Ordering::Acquire);
            match tx.try_send(&msg(i)) {
                Ok(()) => i += 1,
                Err(Error::Full) => {
                    assert!(
                        i - done >= capacity,
                        "Full with {} of {capacity} slots used before the send began",
                        i - done
                    );
                    fulls += 1;
                    back_off(&mut turn);
                }
                Err(e) => panic!("send {i}: {e}"),
            }
        }
        drop(guard);
        fulls
    });
    assert!(fulls > 0, "the sender never found the queue full");
}

macro_rules! conformance {
    ($name:ident, $make:expr, $kind:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn fifo_order_and_wrap_around() {
                super::fifo_order_and_wrap_around($make($kind));
            }
            #[test]
            fn full_at_capacity_and_len_counts() {
                super::full_at_capacity_and_len_counts($make($kind));
            }
            #[test]
            fn too_large_is_refused_and_nothing_is_lost() {
                super::too_large_is_refused_and_nothing_is_lost($make($kind));
            }
            #[test]
            fn zero_length_and_in_place_messages() {
                super::zero_length_and_in_place_messages($make($kind));
            }
            #[test]
            fn a_dead_consumer_is_reported_to_the_producer() {
                super::a_dead_consumer_is_reported_to_the_producer($make($kind));
            }
            #[test]
            fn a_dead_producer_is_reported_after_the_drain() {
                super::a_dead_producer_is_reported_after_the_drain($make($kind));
            }
            #[test]
            fn a_stale_handle_is_refused_after_its_side_is_taken_over() {
                super::a_stale_handle_is_refused_after_its_side_is_taken_over($make($kind));
            }
            #[test]
            fn a_bad_message_is_consumed_not_wedged() {
                super::a_bad_message_is_consumed_not_wedged($make($kind));
            }
            #[test]
            fn hostile_bytes_everywhere_never_panic_or_hang() {
                super::hostile_bytes_everywhere_never_panic_or_hang($make($kind));
            }
            #[test]
            fn a_blocked_receiver_is_woken_by_a_sender() {
                super::a_blocked_receiver_is_woken_by_a_sender($make($kind));
            }
            #[test]
            fn an_owned_receiver_outlives_its_queue_value() {
                super::an_owned_receiver_outlives_its_queue_value($make($kind));
            }
            #[test]
            fn empty_only_when_every_completed_send_was_received() {
                super::empty_only_when_every_completed_send_was_received($make($kind));
            }
            #[test]
            fn full_only_when_no_completed_receive_left_room() {
                super::full_only_when_no_completed_receive_left_room($make($kind));
            }
        }
    };
}

conformance!(spsc_local, ring_local, Kind::Spsc);
conformance!(spsc_named, ring_named, Kind::Spsc);
conformance!(spsc_memfd, ring_memfd, Kind::Spsc);
conformance!(mpmc_local, ring_local, Kind::Mpmc);
conformance!(mpmc_named, ring_named, Kind::Mpmc);
conformance!(mpmc_memfd, ring_memfd, Kind::Mpmc);
conformance!(mailbox_local, mailbox_local, Kind::Mailbox);
conformance!(mailbox_named, mailbox_named, Kind::Mailbox);
conformance!(mailbox_memfd, mailbox_memfd, Kind::Mailbox);

/// Init hands out zeroed memory: an in-place message whose writer leaves
/// bytes unwritten delivers zeros there, never what the memory held before
/// init (uninitialised or stale bytes), for every kind.
#[test]
fn init_zeroes_what_it_hands_out() {
    fn check<Q: QueueLayout>(q: &Q) {
        let mut tx = q.claim_producer(1, &mut assume_alive).unwrap();
        let mut rx = q.claim_consumer(2, &mut assume_alive).unwrap();
        tx.try_send_with(MAX, |w| w.write_at(0, b"x").unwrap())
            .unwrap();
        let mut buf = [0xEEu8; MAX];
        assert_eq!(rx.try_recv(&mut buf), Ok(MAX));
        assert_eq!(buf[0], b'x');
        assert!(buf[1..].iter().all(|&b| b == 0), "{buf:?}");
    }
    for kind in [Kind::Spsc, Kind::Mpmc] {
        let c = ring_config(kind);
        let mut mem = Local::new(c.region_size().unwrap());
        let (base, len) = (mem.base(), mem.len());
        // SAFETY: `mem` is ours, in bounds, and not yet a region.
        unsafe { base.write_bytes(0xAA, len) };
        // SAFETY: `mem` outlives the queue and its handles (this scope).
        let q = unsafe {
            match kind {
                Kind::Spsc => {
                    AnyRing::Spsc(spsc::Region::init(base, len, SLOTS, MAX as u32).unwrap())
                }
                _ => AnyRing::Mpmc(mpmc::Region::init(base, len, 1, SLOTS, MAX as u32).unwrap()),
            }
        };
        check(&q);
    }
    let mut mem = Local::new(mailbox::region_size(SLOTS, MAX as u32).unwrap());
    let (base, len) = (mem.base(), mem.len());
    // SAFETY: as above.
    unsafe { base.write_bytes(0xAA, len) };
    // SAFETY: as above.
    let q = unsafe { mailbox::Region::init(base, len, mailbox::Geometry::new(SLOTS, MAX as u32)) }
        .unwrap();
    check(&q);
}

/// An MPMC ring of two lanes on each backing (the suite above uses one).
fn two_lanes(backing: &str) -> Case<AnyRing> {
    let config = RingConfig::mpmc(2, SLOTS, MAX as u32);
    match backing {
        "named" => Case::host(Kind::Mpmc, config, true),
        "memfd" => Case::host(Kind::Mpmc, config, false),
        _ => {
            let mut mem = Box::new(Local::new(config.region_size().expect("size")));
            let (base, len) = (mem.base(), mem.len());
            // SAFETY: as in `ring_local`.
            let region = unsafe { mpmc::Region::init(base, len, 2, SLOTS, MAX as u32) }.unwrap();
            Case {
                kind: Kind::Mpmc,
                queue: AnyRing::Mpmc(region),
                backing: Backing::Local(mem),
            }
        }
    }
}

/// crossbeam-queue's `linearizable` test on the lanes: two threads, each
/// with its own lane and consumer, repeatedly send one message and then
/// receive one. The queue holds the thread's own message (or the other's)
/// when its receive begins, so `Empty` would mean the receive was not
/// linearizable (a scan that saw one lane empty before a message arrived
/// and the other after its message was taken).
fn receive_after_own_send_is_never_empty_across_lanes(c: Case<AnyRing>) {
    const ROUNDS: u32 = 200_000;
    let stop = AtomicBool::new(false);
    let run = |mut tx: kipc_core::queue::AnyProducer,
               mut rx: kipc_core::queue::AnyConsumer,
               stop: &AtomicBool| {
        let _guard = StopOnDrop(stop);
        let mut buf = [0u8; MAX];
        for i in 0..ROUNDS {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            tx.try_send(&i.to_le_bytes()).unwrap();
            match rx.try_recv(&mut buf) {
                Ok(n) => assert_eq!(n, 4),
                Err(e) => panic!("round {i}: receive right after own send: {e}"),
            }
        }
    };
    let (tx0, tx1) = (
        c.queue.claim_producer(1, &mut assume_alive).unwrap(),
        c.queue.claim_producer(2, &mut assume_alive).unwrap(),
    );
    let (rx0, rx1) = (
        c.queue.claim_consumer(3, &mut assume_alive).unwrap(),
        c.queue.claim_consumer(4, &mut assume_alive).unwrap(),
    );
    std::thread::scope(|s| {
        let stop = &stop;
        s.spawn(move || run(tx1, rx0, stop));
        run(tx0, rx1, stop);
    });
    assert_eq!(c.queue.len(), 0, "every message received once");
}

#[test]
fn mpmc_two_lanes_local_receive_after_own_send_is_never_empty() {
    receive_after_own_send_is_never_empty_across_lanes(two_lanes("local"));
}

#[test]
fn mpmc_two_lanes_named_receive_after_own_send_is_never_empty() {
    receive_after_own_send_is_never_empty_across_lanes(two_lanes("named"));
}

#[test]
fn mpmc_two_lanes_memfd_receive_after_own_send_is_never_empty() {
    receive_after_own_send_is_never_empty_across_lanes(two_lanes("memfd"));
}
