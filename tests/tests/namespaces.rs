//! Peers in another pid namespace (as in containers that share /dev/shm but
//! not pids), started with `unshare --pid --fork`: a live peer inside is never
//! reclaimed or reported dead, a killed one is, from either side, for an SPSC
//! ring, an MPMC ring and a mailbox.
//!
//! Needs root (CI runs as root) and util-linux's `unshare`; without them each
//! test says so and passes vacuously, as the socat/python tests do.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kipc_host::mailbox::{Mailbox, MailboxConfig};
use kipc_host::ring::{RingConfig, Role, ShmRing};
use kipc_host::Error;

const RING_PEER: &str = env!("CARGO_BIN_EXE_kipc-ring-peer");
const MBOX_PEER: &str = env!("CARGO_BIN_EXE_kipc-mbox-peer");

/// The pid a process started by `unshare --pid --fork` has inside.
const INNER_PID: u32 = 1;

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "ns-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether this machine can make pid namespaces.
fn namespaces_available() -> bool {
    let ok = Command::new("unshare")
        .args(["--pid", "--fork", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: `unshare --pid --fork` is not available here (needs root)");
    }
    ok
}

/// A peer in its own pid namespace; killed (with its namespace) on drop.
struct NsPeer {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl NsPeer {
    /// Starts `bin args..` as pid 1 of a new pid namespace and waits for its
    /// first line when `ready` is set.
    fn start(bin: &str, args: &[&str], ready: bool) -> Self {
        let mut child = Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", bin])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn unshare");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut peer = NsPeer { child, out };
        if ready {
            let mut line = String::new();
            peer.out.read_line(&mut line).expect("read ready");
            assert_eq!(line.trim(), "ready", "peer did not start");
        }
        peer
    }

    /// SIGKILLs the peer (`--kill-child` takes the namespace down with it)
    /// and reaps it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NsPeer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Unlinks a named object when the test ends, however it ends.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = ShmRing::unlink(&self.0);
    }
}

/// Polls `f` until it is true or `limit` passes; returns how long it took.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

fn live_producer_inside_is_kept_then_reclaimed(config: RingConfig) {
    if !namespaces_available() {
        return;
    }
    let name = unique("prod");
    let _unlink = Unlink(name.clone());
    let ring = ShmRing::create(&name, config).unwrap();
    let mut peer = NsPeer::start(RING_PEER, &["produce-forever", &name, "7"], true);
    // Let it fill the ring and block: it is alive, just waiting.
    std::thread::sleep(Duration::from_millis(100));
    let owners = ring.owners();
    let producer = owners
        .iter()
        .find(|o| o.role == Role::Producer)
        .expect("the producer is recorded");
    assert_eq!(producer.pid, INNER_PID, "the pid number is the namespace's");
    assert!(
        producer.alive,
        "a live producer in another namespace: {owners:?}"
    );
    assert!(!ring.is_stale());
    // Never taken over, never marked dead by a waiting consumer.
    assert_eq!(ring.sender().unwrap_err(), Error::Busy);
    let mut rx = ring.receiver().unwrap();
    let mut buf = [0u8; 256];
    for _ in 0..3 {
        assert!(!ring.reap(Role::Consumer));
        rx.recv_timeout(&mut buf, Duration::from_secs(5))
            .expect("messages keep coming from the live producer");
    }
    peer.kill();
    // Dead now: the receiver drains, then gets PeerDead; the side can be
    // taken over.
    let start = Instant::now();
    loop {
        match rx.recv_timeout(&mut buf, Duration::from_secs(5)) {
            Ok(_) => continue,
            Err(Error::PeerDead) => break,
            Err(e) => panic!("after the kill: {e}"),
        }
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        ring.sender().is_ok(),
        "the dead producer's side is reclaimed"
    );
}

#[test]
fn spsc_producer_in_another_pid_namespace_is_never_judged_dead_until_killed() {
    live_producer_inside_is_kept_then_reclaimed(RingConfig::spsc(8, 64));
}

#[test]
fn mpmc_producer_in_another_pid_namespace_is_never_judged_dead_until_killed() {
    live_producer_inside_is_kept_then_reclaimed(RingConfig::mpmc(1, 8, 64));
}

#[test]
fn spsc_consumer_in_another_pid_namespace_is_never_judged_dead_until_killed() {
    if !namespaces_available() {
        return;
    }
    let name = unique("cons");
    let _unlink = Unlink(name.clone());
    let ring = ShmRing::create(&name, RingConfig::spsc(4, 64)).unwrap();
    let mut tx = ring.sender().unwrap();
    let mut peer = NsPeer::start(RING_PEER, &["consume-until-gone", &name], false);
    // Wait until it has claimed the consumer side.
    within(Duration::from_secs(5), || {
        ring.owners().iter().any(|o| o.role == Role::Consumer)
    })
    .expect("the consumer attaches");
    let consumer = ring
        .owners()
        .into_iter()
        .find(|o| o.role == Role::Consumer)
        .unwrap();
    assert_eq!(consumer.pid, INNER_PID);
    assert!(consumer.alive);
    assert_eq!(ring.receiver().unwrap_err(), Error::Busy);
    assert!(!ring.reap(Role::Producer), "a live consumer is not marked");
    let mut buf = [0u8; kipc_tests::ring_payload::MAX_LEN];
    let n = kipc_tests::ring_payload::encode(9, 0, &mut buf);
    let msg = &buf[..n];
    tx.send_timeout(msg, Duration::from_secs(5)).unwrap();
    peer.kill();
    // The producer fills the ring and then learns of the death.
    let took = within(Duration::from_secs(5), || {
        matches!(
            tx.send_timeout(msg, Duration::from_millis(200)),
            Err(Error::PeerDead)
        )
    });
    assert!(took.is_some(), "PeerDead after the consumer was killed");
    assert!(
        ring.receiver().is_ok(),
        "the dead consumer's side is reclaimed"
    );
}

#[test]
fn mailbox_owner_in_another_pid_namespace_is_alive_until_killed() {
    if !namespaces_available() {
        return;
    }
    let name = unique("mbox");
    let _unlink = Unlink(name.clone());
    let mb = Mailbox::create(&name, MailboxConfig::new(4, 256)).unwrap();
    let mut peer = NsPeer::start(MBOX_PEER, &["send-forever", &name, "3"], true);
    std::thread::sleep(Duration::from_millis(50));
    // The sender inside is pid 1 there; outside, pid 1 is someone else
    // entirely, so only the lock can tell.
    assert!(mb.owner_locks().is_alive(INNER_PID));
    assert_eq!(mb.recover(), 0, "a live sender's slot is never freed");
    let mut buf = [0u8; 256];
    mb.recv_timeout(&mut buf, Duration::from_secs(5)).unwrap();
    peer.kill();
    within(Duration::from_secs(1), || {
        !mb.owner_locks().is_alive(INNER_PID)
    })
    .expect("the killed sender's lock is gone");
}
