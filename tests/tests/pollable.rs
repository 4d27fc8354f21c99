//! Wake descriptors with real processes: a pollable endpoint in this process
//! waits with `poll(2)` on its descriptor while a peer process (the
//! `kipc-ring-peer` / `kipc-mbox-peer` binaries) sends or receives, for every
//! ring kind and both backings. A lost wake-up shows up as a `poll` that
//! times out, which fails the test with the message count it stopped at.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, BorrowedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kipc_core::queue::Role;
use kipc_host::mailbox::{Mailbox, MailboxConfig};
use kipc_host::ring::RingConfig;
use kipc_host::Error;
use kipc_tests::ring_payload::{decode, encode, Tally, MAX_LEN};
use kipc_tests::shm::{RingTarget, ShmName};
use kipc_tests::{mbox_payload, ChildGuard};
use rustix::event::{poll, PollFd, PollFlags, Timespec};

const RING_PEER: &str = env!("CARGO_BIN_EXE_kipc-ring-peer");
const MBOX_PEER: &str = env!("CARGO_BIN_EXE_kipc-mbox-peer");
const COUNT: u64 = 20_000;
/// Far longer than any wake-up takes: reaching it means one was lost.
const LOST_WAKE: Duration = Duration::from_secs(10);

/// Waits until `fd` is readable; `false` if `within` passed first.
fn readable(fd: BorrowedFd<'_>, within: Duration) -> bool {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let t = Timespec::try_from(within).unwrap();
    loop {
        match poll(&mut fds, Some(&t)) {
            Ok(n) => return n == 1,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}

/// Spawns the ring peer with `args`, the memfd (if any) inherited.
fn ring_peer(t: &RingTarget, args: &[&str]) -> ChildGuard {
    let mut cmd = t.command(RING_PEER);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    ChildGuard::spawn(&mut cmd).unwrap()
}

fn receive_all_by_polling(config: RingConfig, named: bool) {
    let t = RingTarget::new(config, named);
    let mut rx = t.ring.receiver().unwrap().into_pollable().unwrap();
    let child = ring_peer(&t, &["produce", &t.arg, "4", &COUNT.to_string()]);
    let mut tally = Tally::default();
    let mut buf = [0u8; MAX_LEN];
    let mut waits = 0u64;
    while tally.count < COUNT {
        match rx.try_recv(&mut buf) {
            Ok(n) => {
                let (tag, seq) = decode(&buf[..n]).unwrap();
                assert_eq!(tag, 4);
                tally.add(seq).unwrap();
            }
            Err(Error::Empty) => {
                waits += 1;
                assert!(
                    readable(rx.as_fd(), LOST_WAKE),
                    "lost wake-up after {} messages",
                    tally.count
                );
            }
            Err(e) => panic!("after {} messages: {e}", tally.count),
        }
    }
    let (count, sum, sum_sq) = Tally::expected(COUNT);
    assert_eq!((tally.count, tally.sum, tally.sum_sq), (count, sum, sum_sq));
    assert!(child.into_inner().wait().unwrap().success());
    eprintln!("{COUNT} messages, {waits} waits on the descriptor");
}

fn send_all_by_polling(config: RingConfig, named: bool) {
    let t = RingTarget::new(config, named);
    let mut tx = t.ring.sender().unwrap().into_pollable().unwrap();
    let child = ring_peer(&t, &["consume", &t.arg, &COUNT.to_string()]);
    let mut buf = [0u8; MAX_LEN];
    let mut waits = 0u64;
    let mut seq = 0;
    while seq < COUNT {
        let n = encode(8, seq, &mut buf);
        match tx.try_send(&buf[..n]) {
            Ok(()) => seq += 1,
            Err(Error::Full) => {
                waits += 1;
                assert!(
                    readable(tx.as_fd(), LOST_WAKE),
                    "lost wake-up after {seq} messages"
                );
            }
            Err(e) => panic!("after {seq} messages: {e}"),
        }
    }
    let out = child.into_inner().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (count, sum, sum_sq) = Tally::expected(COUNT);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(&format!("tally 8 {count} {sum} {sum_sq}")),
        "{stdout}"
    );
    assert!(waits > 0, "a 4-slot ring must fill up at least once");
}

#[test]
fn spsc_named_receiver() {
    receive_all_by_polling(RingConfig::spsc(8, MAX_LEN as u32), true);
}

#[test]
fn spsc_memfd_receiver() {
    receive_all_by_polling(RingConfig::spsc(8, MAX_LEN as u32), false);
}

#[test]
fn mpmc_named_receiver() {
    receive_all_by_polling(RingConfig::mpmc(2, 8, MAX_LEN as u32), true);
}

#[test]
fn mpmc_memfd_receiver() {
    receive_all_by_polling(RingConfig::mpmc(2, 8, MAX_LEN as u32), false);
}

#[test]
fn spsc_named_sender() {
    send_all_by_polling(RingConfig::spsc(4, MAX_LEN as u32), true);
}

#[test]
fn spsc_memfd_sender() {
    send_all_by_polling(RingConfig::spsc(4, MAX_LEN as u32), false);
}

#[test]
fn mpmc_named_sender() {
    send_all_by_polling(RingConfig::mpmc(1, 4, MAX_LEN as u32), true);
}

#[test]
fn mpmc_memfd_sender() {
    send_all_by_polling(RingConfig::mpmc(1, 4, MAX_LEN as u32), false);
}

#[test]
fn a_killed_producer_is_reported_to_a_polling_receiver() {
    let t = RingTarget::new(RingConfig::spsc(8, MAX_LEN as u32), true);
    let mut rx = t.ring.receiver().unwrap().into_pollable().unwrap();
    let mut child = ring_peer(&t, &["produce-forever", &t.arg, "2"]);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    let mut buf = [0u8; MAX_LEN];
    // What it sent before dying is delivered, then PeerDead; an event loop
    // with a timeout gets there by trying again after each timeout.
    let r = loop {
        match rx.try_recv(&mut buf) {
            Ok(_) => continue,
            Err(Error::Empty) => {
                assert!(killed.elapsed() < LOST_WAKE, "death never reported");
                readable(rx.as_fd(), Duration::from_millis(20));
            }
            other => break other,
        }
    };
    assert_eq!(r, Err(Error::PeerDead));
    eprintln!("PeerDead {:?} after the kill", killed.elapsed());
}

#[test]
fn a_futex_sleeper_and_a_polling_receiver_share_one_stream() {
    // Two consumers of one MPMC ring, one blocked on the futex and one
    // polling its descriptor: together they get every message once.
    let t = RingTarget::new(RingConfig::mpmc(1, 8, MAX_LEN as u32), true);
    let mut sleeper = t.ring.receiver().unwrap();
    let mut poller = t.ring.receiver().unwrap().into_pollable().unwrap();
    let child = ring_peer(&t, &["produce", &t.arg, "6", &COUNT.to_string()]);
    let sleeper = std::thread::spawn(move || {
        let mut buf = [0u8; MAX_LEN];
        let mut seqs = Vec::new();
        // Ends when the producer has exited and the ring is drained.
        while let Ok(n) = sleeper.recv_timeout(&mut buf, LOST_WAKE) {
            seqs.push(decode(&buf[..n]).unwrap().1);
        }
        seqs
    });
    let mut mine = Vec::new();
    let mut buf = [0u8; MAX_LEN];
    let started = Instant::now();
    loop {
        match poller.try_recv(&mut buf) {
            Ok(n) => mine.push(decode(&buf[..n]).unwrap().1),
            Err(Error::Empty) => {
                // The producer's exit ends the loop (PeerDead); a producer
                // that never came must fail the test, not hang it.
                assert!(started.elapsed() < 6 * LOST_WAKE, "the stream never ended");
                readable(poller.as_fd(), Duration::from_millis(50));
            }
            Err(Error::PeerDead) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(child.into_inner().wait().unwrap().success());
    let theirs = sleeper.join().unwrap();
    let mut all: Vec<u64> = mine.iter().chain(&theirs).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..COUNT).collect::<Vec<_>>(),
        "every message exactly once"
    );
    eprintln!("poller {} / sleeper {}", mine.len(), theirs.len());
}

#[test]
fn a_mailbox_receiver_polls_with_priorities() {
    let name = ShmName::new("poll-mbox");
    let mb = Mailbox::create(&name.0, MailboxConfig::new(8, 64)).unwrap();
    let wake = mb.wake_fd(Role::Consumer).unwrap();
    let mut cmd = Command::new(MBOX_PEER);
    cmd.args(["send", &name.0, "5", &COUNT.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = ChildGuard::spawn(&mut cmd).unwrap();
    let mut buf = [0u8; 64];
    let mut got = 0u64;
    while got < COUNT {
        match mb.try_or_arm(&wake, || mb.try_recv(&mut buf)) {
            Ok(r) => {
                let (tag, _seq, prio) = mbox_payload::check(&buf[..r.len]).unwrap();
                assert_eq!((tag, prio), (5, r.prio));
                got += 1;
            }
            Err(Error::Empty) => assert!(
                readable(wake.as_fd(), LOST_WAKE),
                "lost wake-up after {got} messages"
            ),
            Err(e) => panic!("after {got}: {e}"),
        }
    }
    assert!(child.into_inner().wait().unwrap().success());
}

#[test]
fn a_mailbox_sender_polls_for_room() {
    let name = ShmName::new("poll-mbox-tx");
    let mb = Mailbox::create(&name.0, MailboxConfig::new(2, 64)).unwrap();
    let mut tx = mb.sender().unwrap().into_pollable().unwrap();
    let mut cmd = Command::new(MBOX_PEER);
    cmd.args(["recv", &name.0])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = ChildGuard::spawn(&mut cmd).unwrap();
    let mut buf = [0u8; 64];
    let mut rng = mbox_payload::Rng::new(1);
    let mut seq = 0u64;
    while seq < COUNT {
        let len = mbox_payload::MIN_LEN + (rng.next() as usize % (64 - mbox_payload::MIN_LEN));
        // Tag 0: an owned sender sends with type 0 and priority 0, which
        // the peer checks against the payload.
        mbox_payload::encode(0, seq, 0, &mut buf[..len]);
        match tx.try_send(&buf[..len]) {
            Ok(()) => seq += 1,
            Err(Error::Full) => assert!(
                readable(tx.as_fd(), LOST_WAKE),
                "lost wake-up after {seq} messages"
            ),
            Err(e) => panic!("after {seq}: {e}"),
        }
    }
    tx.get_mut()
        .send_timeout(mbox_payload::STOP, LOST_WAKE)
        .unwrap();
    let out = child.into_inner().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
