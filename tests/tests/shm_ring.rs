//! `ShmRing` between real processes: the peer is `kipc-ring-peer`, spawned
//! from this test. Every message carries a producer tag, a sequence number and
//! a checksum (`kipc_tests::ring_payload`), so loss, duplication, reordering
//! and torn payloads are all caught.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kipc_host::ring::{RingConfig, Role, ShmRing};
use kipc_host::Error;
use kipc_tests::ring_payload::{decode, encode, Tally, MAX_LEN};
use kipc_tests::ChildGuard;

const PEER: &str = env!("CARGO_BIN_EXE_kipc-ring-peer");

/// A unique ring name, unlinked again when dropped.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        Name(format!(
            "test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = ShmRing::unlink(&self.0);
    }
}

fn peer(args: &[&str]) -> Command {
    let mut cmd = Command::new(PEER);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Waits for the `ready` line of a `produce-forever` peer.
fn wait_ready(child: &mut Child) {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "peer did not start");
}

/// Runs a consuming peer to completion and parses its tallies.
fn tallies(child: ChildGuard) -> Vec<(u32, u64, u128, u128)> {
    let out = child.into_inner().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "peer failed: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&"tally")).then(|| {
                (
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                    f[4].parse().unwrap(),
                )
            })
        })
        .collect()
}

/// Receives until `PeerDead`, checking that seqs of `tag` run 0, 1, 2, ...
/// Returns how many arrived and when the last one did.
fn drain_until_dead(rx: &mut kipc_host::ring::Receiver, tag: u32) -> (u64, Instant) {
    let mut buf = [0u8; MAX_LEN];
    let mut next = 0u64;
    let mut last = Instant::now();
    loop {
        match rx.recv_timeout(&mut buf, Duration::from_secs(10)) {
            Ok(n) => {
                let (t, seq) = decode(&buf[..n]).expect("torn or corrupt message");
                assert_eq!((t, seq), (tag, next), "lost, duplicated or reordered");
                next += 1;
                last = Instant::now();
            }
            Err(Error::PeerDead) => return (next, last),
            Err(e) => panic!("unexpected {e} after {next} messages"),
        }
    }
}

#[test]
fn million_messages_cross_two_processes_intact_and_in_order() {
    const COUNT: u64 = 1_000_000;
    let name = Name::new("million");
    let ring = ShmRing::create(&name.0, RingConfig::spsc(1024, MAX_LEN as u32)).unwrap();
    let mut rx = ring.receiver().unwrap();
    let mut child =
        ChildGuard::spawn(&mut peer(&["produce", &name.0, "7", &COUNT.to_string()])).unwrap();
    let mut buf = [0u8; MAX_LEN];
    let mut tally = Tally::default();
    let start = Instant::now();
    for i in 0..COUNT {
        let n = rx
            .recv_timeout(&mut buf, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("recv {i}: {e}"));
        let (tag, seq) = decode(&buf[..n]).unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!((tag, seq), (7, i), "lost, duplicated or reordered");
        tally.add(seq).unwrap();
    }
    let elapsed = start.elapsed();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        (tally.count, tally.sum, tally.sum_sq),
        Tally::expected(COUNT)
    );
    // The producer exited cleanly: nothing more, and it is not reported dead
    // (it released its side), so the wait times out.
    assert_eq!(
        rx.recv_timeout(&mut buf, Duration::from_millis(50)),
        Err(Error::Timeout)
    );
    eprintln!("1M messages in {elapsed:?}");
}

#[test]
fn killed_producer_leaves_whole_messages_then_peer_dead() {
    let mut latencies = Vec::new();
    for round in 0..10u32 {
        let name = Name::new("kill");
        let ring = ShmRing::create(&name.0, RingConfig::spsc(256, MAX_LEN as u32)).unwrap();
        let mut rx = ring.receiver().unwrap();
        let mut child = ChildGuard::spawn(&mut peer(&["produce-forever", &name.0, "3"])).unwrap();
        wait_ready(&mut child);
        // Let it run into a full ring sometimes, and be mid-send other times.
        std::thread::sleep(Duration::from_millis(u64::from(round % 4) * 5));
        child.kill().unwrap();
        let killed = Instant::now();
        let (received, last) = drain_until_dead(&mut rx, 3);
        let dead_at = Instant::now();
        latencies.push((
            dead_at.duration_since(killed),
            dead_at.duration_since(last),
            received,
        ));
        child.wait().unwrap();
    }
    for (i, (since_kill, since_last, n)) in latencies.iter().enumerate() {
        eprintln!(
            "round {i}: {n} messages drained; PeerDead {since_kill:?} after SIGKILL, \
             {since_last:?} after the last message"
        );
    }
}

#[test]
fn ring_whose_producer_died_is_reclaimed_and_keeps_its_messages() {
    let name = Name::new("reclaim");
    let ring = ShmRing::create(&name.0, RingConfig::spsc(64, MAX_LEN as u32)).unwrap();
    let mut child = ChildGuard::spawn(&mut peer(&["produce-forever", &name.0, "5"])).unwrap();
    wait_ready(&mut child);
    // While the producer lives, its side is taken.
    assert_eq!(ring.sender().unwrap_err(), Error::Busy);
    let info = ring.info();
    assert_eq!(info.attached.len(), 1);
    assert_eq!(info.attached[0].role, Role::Producer);
    assert_eq!(info.attached[0].pid, child.id());
    assert!(info.attached[0].alive);
    // Wait for the ring to fill, then kill the producer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ring.queued() != 64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ring.is_stale());
    // Reclaim through another open of the name, as a restarted process would.
    let again = ShmRing::open(&name.0).unwrap();
    let mut tx = again.sender().expect("dead producer's side is reclaimed");
    assert_eq!(again.info().attached[0].pid, std::process::id());
    let mut rx = ring.receiver().unwrap();
    let mut buf = [0u8; MAX_LEN];
    for seq in 0..64 {
        let n = rx.try_recv(&mut buf).unwrap();
        assert_eq!(decode(&buf[..n]), Ok((5, seq)));
    }
    let n = encode(6, 0, &mut buf);
    tx.send(&buf[..n]).unwrap();
    let n = rx.recv_timeout(&mut buf, Duration::from_secs(1)).unwrap();
    assert_eq!(decode(&buf[..n]), Ok((6, 0)));
}

#[test]
fn killed_consumer_makes_a_blocked_sender_return_peer_dead() {
    let name = Name::new("deadrx");
    let ring = ShmRing::create(&name.0, RingConfig::spsc(4, MAX_LEN as u32)).unwrap();
    let mut tx = ring.sender().unwrap();
    let mut child = ChildGuard::spawn(&mut peer(&["consume", &name.0, "1000000"])).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ring.info().attached.len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    let mut buf = [0u8; MAX_LEN];
    let n = encode(1, 0, &mut buf);
    let killed = Instant::now();
    let r = loop {
        match tx.send_timeout(&buf[..n], Duration::from_secs(10)) {
            Ok(()) => continue,
            other => break other,
        }
    };
    assert_eq!(r, Err(Error::PeerDead));
    eprintln!("sender saw PeerDead {:?} after SIGKILL", killed.elapsed());
    child.wait().unwrap();
}

#[test]
fn memfd_ring_is_shared_with_a_child_by_descriptor() {
    let ring = ShmRing::create_anonymous(RingConfig::spsc(16, MAX_LEN as u32)).unwrap();
    let raw = ring.fd().as_raw_fd();
    let mut cmd = peer(&["consume", &format!("fd:{raw}"), "1000"]);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // one async-signal-safe fcntl call on a descriptor that stays open.
    unsafe {
        cmd.pre_exec(move || {
            let fd = BorrowedFd::borrow_raw(raw);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            Ok(())
        })
    };
    let child = ChildGuard::spawn(&mut cmd).unwrap();
    let mut tx = ring.sender().unwrap();
    let mut buf = [0u8; MAX_LEN];
    for seq in 0..1000 {
        let n = encode(9, seq, &mut buf);
        tx.send_timeout(&buf[..n], Duration::from_secs(30)).unwrap();
    }
    let t = tallies(child);
    let (count, sum, sum_sq) = Tally::expected(1000);
    assert_eq!(t, vec![(9, count, sum, sum_sq)]);
}

#[test]
fn mpmc_two_producer_and_two_consumer_processes() {
    const PER_PRODUCER: u64 = 200_000;
    let name = Name::new("mpmc");
    let ring = ShmRing::create(&name.0, RingConfig::mpmc(4, 256, MAX_LEN as u32)).unwrap();
    // Hold a lane so consumers cannot see "every producer gone" before both
    // producer processes have attached and finished.
    let guard = ring.sender().unwrap();
    let consumers: Vec<ChildGuard> = (0..2)
        .map(|_| ChildGuard::spawn(&mut peer(&["consume-until-gone", &name.0])).unwrap())
        .collect();
    let mut producers: Vec<ChildGuard> = [1u32, 2]
        .iter()
        .map(|tag| {
            ChildGuard::spawn(&mut peer(&[
                "produce",
                &name.0,
                &tag.to_string(),
                &PER_PRODUCER.to_string(),
            ]))
            .unwrap()
        })
        .collect();
    for p in &mut producers {
        let status = p.wait().unwrap();
        assert!(status.success(), "producer failed");
    }
    drop(guard);
    let mut totals = std::collections::BTreeMap::<u32, (u64, u128, u128)>::new();
    let mut per_consumer = Vec::new();
    for c in consumers {
        let t = tallies(c);
        per_consumer.push(t.iter().map(|x| x.1).sum::<u64>());
        for (tag, count, sum, sum_sq) in t {
            let e = totals.entry(tag).or_default();
            e.0 += count;
            e.1 += sum;
            e.2 += sum_sq;
        }
    }
    let expected = Tally::expected(PER_PRODUCER);
    assert_eq!(totals.get(&1), Some(&expected));
    assert_eq!(totals.get(&2), Some(&expected));
    assert_eq!(totals.len(), 2);
    eprintln!("messages per consumer: {per_consumer:?}");
}
