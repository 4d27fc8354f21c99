//! Two "hosts" on one machine: network namespaces A and B joined by a veth
//! pair (10.213.N.1 and 10.213.N.2), so the bridges' Zenoh traffic really
//! crosses a network link and nothing else; /dev/shm is shared, as it is
//! between a host's processes. Without root or `ip` (a developer machine)
//! the same tests run over loopback in this namespace; under CI (`CI` set)
//! that fallback is refused, so CI always runs the real thing.
//!
//! Each bridge is a `kipc-bridge` process (killed on drop); producers and
//! consumers are threads of this test on the local rings, as the
//! applications on each host would be.

use std::io::{BufRead, BufReader, Read};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kipc_host::mailbox::{Mailbox, MailboxConfig};
use kipc_host::ring::{RingConfig, ShmRing};
use kipc_host::rpc::Server;
use kipc_host::Error;
use kipc_tests::shm::ShmName;
use kipc_tests::ChildGuard;

const BRIDGE: &str = env!("CARGO_BIN_EXE_kipc-bridge");

/// Zenoh's default batch size and data-priority transmission queue length
/// (batches), from its DEFAULT_CONFIG.json5.
const BATCH: u64 = 65_535;
const TX_BATCHES: u64 = 2;
/// The socket buffers both bridges ask for on their endpoints
/// (`#so_sndbuf=..;so_rcvbuf=..`); the kernel doubles them.
const SOCKBUF: u64 = 131_072;
/// The most 8-byte messages a killed sending bridge may lose: its
/// transmission queue, counted as if messages took no framing, plus the one
/// in hand.
const OUT_WINDOW: u64 = TX_BATCHES * BATCH / 8 + 1;
/// The most a killed receiving bridge may lose: everything between the two
/// bridges when the link breaks (the sender's transmission queue and socket
/// send buffer, the receiver's socket receive buffer and the batch being
/// decoded), its subscriber queue, and one message in hand on each side.
const IN_WINDOW: u64 =
    (TX_BATCHES * BATCH + 4 * SOCKBUF + BATCH) / 8 + kipc_bridge::SUBSCRIBER_QUEUE as u64 + 2;

fn run(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Two network namespaces and the link between them, removed on drop; or,
/// without the privileges for that, loopback.
struct Hosts {
    /// `ip netns exec NS` prefixes for host A and host B (empty: loopback).
    a: Vec<String>,
    b: Vec<String>,
    /// Host A's address as host B reaches it.
    addr_a: String,
    /// Host B's address as host A reaches it.
    addr_b: String,
    names: Option<(String, String)>,
}

impl Hosts {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        // Names unique per process and test; the addresses need not be:
        // each pair of namespaces sees only its own link.
        let id = format!("{}x{n}", std::process::id());
        let (ns_a, ns_b) = (format!("kipc-a-{id}"), format!("kipc-b-{id}"));
        let (va, vb) = (format!("kva{id}"), format!("kvb{id}"));
        let subnet = "10.213.0.".to_string();
        let root = rustix::process::geteuid().is_root();
        let ok = root
            && run("ip", &["netns", "add", &ns_a])
            && run("ip", &["netns", "add", &ns_b])
            && run(
                "ip",
                &[
                    "link", "add", &va, "netns", &ns_a, "type", "veth", "peer", "name", &vb,
                    "netns", &ns_b,
                ],
            )
            && run(
                "ip",
                &[
                    "-n",
                    &ns_a,
                    "addr",
                    "add",
                    &format!("{subnet}1/24"),
                    "dev",
                    &va,
                ],
            )
            && run(
                "ip",
                &[
                    "-n",
                    &ns_b,
                    "addr",
                    "add",
                    &format!("{subnet}2/24"),
                    "dev",
                    &vb,
                ],
            )
            && run("ip", &["-n", &ns_a, "link", "set", &va, "up"])
            && run("ip", &["-n", &ns_b, "link", "set", &vb, "up"])
            && run("ip", &["-n", &ns_a, "link", "set", "lo", "up"])
            && run("ip", &["-n", &ns_b, "link", "set", "lo", "up"]);
        if ok {
            let exec = |ns: &str| vec!["ip".into(), "netns".into(), "exec".into(), ns.to_string()];
            return Hosts {
                a: exec(&ns_a),
                b: exec(&ns_b),
                addr_a: format!("{subnet}1"),
                addr_b: format!("{subnet}2"),
                names: Some((ns_a, ns_b)),
            };
        }
        let _ = run("ip", &["netns", "del", &ns_a]);
        let _ = run("ip", &["netns", "del", &ns_b]);
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the two-namespace tests (root and iproute2 needed)"
        );
        eprintln!("no network namespaces here (not root, or no `ip`): using loopback");
        Hosts {
            a: Vec::new(),
            b: Vec::new(),
            addr_a: "127.0.0.1".into(),
            addr_b: "127.0.0.1".into(),
            names: None,
        }
    }

    /// A command run on host A or B.
    fn cmd(&self, on_a: bool, program: &str) -> Command {
        let prefix = if on_a { &self.a } else { &self.b };
        match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if let Some((a, b)) = &self.names {
            let _ = run("ip", &["netns", "del", a]);
            let _ = run("ip", &["netns", "del", b]);
        }
    }
}

/// A port for this test (namespaces have their own port spaces; loopback
/// runs need distinct ones).
fn port() -> u16 {
    static N: AtomicU32 = AtomicU32::new(0);
    20000 + ((std::process::id() * 7 + N.fetch_add(1, Ordering::Relaxed) * 131) % 20000) as u16
}

/// Starts a bridge on host A or B and waits for its `ready` line.
fn bridge(hosts: &Hosts, on_a: bool, args: &[&str]) -> (ChildGuard, BufReader<ChildStdout>) {
    let mut cmd = hosts.cmd(on_a, BRIDGE);
    cmd.args(args)
        .arg("--no-multicast")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = ChildGuard::spawn(&mut cmd).expect("spawn kipc-bridge");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read ready");
    assert_eq!(line.trim(), "ready", "bridge {args:?} did not start");
    (child, out)
}

/// Sets a flag on drop, so helper threads stop when an assertion fails.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Sends seqs `0..n` (8 bytes each, little-endian) into ring `name`,
/// waiting for room, until done or `stop`.
fn produce(name: String, n: u64, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let ring = ShmRing::open(&name).unwrap();
        let mut tx = ring.sender().unwrap();
        let mut seq = 0;
        while seq < n && !stop.load(Ordering::Relaxed) {
            match tx.send_timeout(&seq.to_le_bytes(), Duration::from_millis(100)) {
                Ok(()) => seq += 1,
                Err(Error::Timeout) => {}
                // The bridge draining the ring was killed; its restart
                // claims the consumer side again.
                Err(Error::PeerDead) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("send {seq}: {e}"),
            }
        }
        seq
    })
}

/// What a consumer saw: seqs must increase (no reordering, no duplicate);
/// gaps are losses.
#[derive(Debug, Default)]
struct Seen {
    count: u64,
    last: Option<u64>,
    lost: u64,
}

impl Seen {
    fn add(&mut self, seq: u64) {
        if let Some(last) = self.last {
            assert!(
                seq > last,
                "seq {seq} after {last}: reordered or duplicated"
            );
            self.lost += seq - last - 1;
        } else {
            self.lost += seq;
        }
        self.last = Some(seq);
        self.count += 1;
    }
}

/// Receives from ring `name` until seq `last` arrives or nothing came for
/// `idle`.
fn consume(name: &str, last: u64, idle: Duration) -> Seen {
    let ring = ShmRing::open(name).unwrap();
    let mut rx = ring.receiver().unwrap();
    let mut seen = Seen::default();
    let mut buf = [0u8; 64];
    loop {
        match rx.recv_timeout(&mut buf, idle) {
            Ok(8) => {
                let seq = u64::from_le_bytes(buf[..8].try_into().unwrap());
                seen.add(seq);
                if seq == last {
                    return seen;
                }
            }
            Ok(n) => panic!("a {n}-byte message"),
            Err(Error::Timeout) => return seen,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn a_million_messages_cross_from_host_a_to_host_b_in_order_none_lost() {
    const N: u64 = 1_000_000;
    let hosts = Hosts::new();
    let (ra, rb) = (ShmName::new("bridge-a"), ShmName::new("bridge-b"));
    ShmRing::create(&ra.0, RingConfig::spsc(4096, 64)).unwrap();
    ShmRing::create(&rb.0, RingConfig::spsc(4096, 64)).unwrap();
    let key = format!("kipc/test/{}", ra.0);
    let listen = format!("tcp/{}:{}", hosts.addr_a, port());
    let (_out, _) = bridge(
        &hosts,
        true,
        &["--listen", &listen, "out", &ra.0, "--key", &key],
    );
    let (_in, _) = bridge(
        &hosts,
        false,
        &["--connect", &listen, "in", &rb.0, "--key", &key],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let _guard = StopOnDrop(Arc::clone(&stop));
    let t0 = Instant::now();
    let producer = produce(ra.0.clone(), N, Arc::clone(&stop));
    let seen = consume(&rb.0, N - 1, Duration::from_secs(30));
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(producer.join().unwrap(), N);
    assert_eq!((seen.count, seen.lost), (N, 0), "{seen:?}");
    eprintln!(
        "{N} messages A -> B in {secs:.1} s ({:.0} msgs/s)",
        N as f64 / secs
    );
}

/// Kills the sending (`kill_out`) or the receiving bridge a third of the
/// way into a stream, restarts it, and returns (received, lost).
fn kill_and_restart(kill_out: bool) -> (u64, u64) {
    const N: u64 = 300_000;
    let hosts = Hosts::new();
    let (ra, rb) = (ShmName::new("bridge-ka"), ShmName::new("bridge-kb"));
    ShmRing::create(&ra.0, RingConfig::spsc(1024, 64)).unwrap();
    ShmRing::create(&rb.0, RingConfig::spsc(1024, 64)).unwrap();
    let key = format!("kipc/test/{}", ra.0);
    let addr = format!("tcp/{}:{}", hosts.addr_a, port());
    let listen = format!("{addr}#so_sndbuf={SOCKBUF};so_rcvbuf={SOCKBUF}");
    let out_args = [
        "--listen",
        listen.as_str(),
        "out",
        ra.0.as_str(),
        "--key",
        key.as_str(),
    ];
    let connect = format!("{addr}#so_sndbuf={SOCKBUF};so_rcvbuf={SOCKBUF}");
    let in_args = [
        "--connect",
        connect.as_str(),
        "in",
        rb.0.as_str(),
        "--key",
        key.as_str(),
    ];
    let mut out = Some(bridge(&hosts, true, &out_args));
    let mut inb = Some(bridge(&hosts, false, &in_args));
    let stop = Arc::new(AtomicBool::new(false));
    let _guard = StopOnDrop(Arc::clone(&stop));
    let producer = produce(ra.0.clone(), N, Arc::clone(&stop));

    let ring_b = ShmRing::open(&rb.0).unwrap();
    let mut rx = ring_b.receiver().unwrap();
    let mut seen = Seen::default();
    let mut buf = [0u8; 64];
    let mut recv = |seen: &mut Seen, until: u64| -> bool {
        loop {
            match rx.recv_timeout(&mut buf, Duration::from_secs(30)) {
                Ok(_) => {
                    let seq = u64::from_le_bytes(buf[..8].try_into().unwrap());
                    seen.add(seq);
                    if seq >= until {
                        return true;
                    }
                }
                Err(Error::Timeout) => return false,
                Err(e) => panic!("{e}"),
            }
        }
    };
    assert!(recv(&mut seen, N / 3));
    if kill_out {
        drop(out.take());
        out = Some(bridge(&hosts, true, &out_args));
    } else {
        drop(inb.take());
        inb = Some(bridge(&hosts, false, &in_args));
    }
    assert!(
        recv(&mut seen, N - 1),
        "the stream did not resume: {seen:?}"
    );
    assert_eq!(producer.join().unwrap(), N);
    drop((out, inb));
    // Every message was received or lost, never twice (`Seen::add` checks
    // order and duplicates).
    assert_eq!(seen.count + seen.lost, N);
    eprintln!(
        "{N} 8-byte messages, {} bridge killed and restarted: {} received, {} lost, 0 duplicated",
        if kill_out { "sending" } else { "receiving" },
        seen.count,
        seen.lost
    );
    (seen.count, seen.lost)
}

#[test]
fn killing_the_sending_bridge_loses_only_its_queue_and_never_duplicates() {
    let (_, lost) = kill_and_restart(true);
    // The documented window: what the killed bridge had taken from the ring
    // and Zenoh had not sent (its transmission queue).
    assert!(lost <= OUT_WINDOW, "lost {lost}, window {OUT_WINDOW}");
}

#[test]
fn killing_the_receiving_bridge_loses_only_its_queues_and_never_duplicates() {
    let (_, lost) = kill_and_restart(false);
    // The documented window: the subscriber queue, Zenoh's receive batch
    // and the socket's receive buffer of the killed bridge.
    assert!(lost <= IN_WINDOW, "lost {lost}, window {IN_WINDOW}");
}

#[test]
fn mailbox_priorities_and_types_cross_with_the_message() {
    let hosts = Hosts::new();
    let (ma, mb) = (ShmName::new("bridge-ma"), ShmName::new("bridge-mb"));
    let a = Mailbox::create(&ma.0, MailboxConfig::new(64, 64)).unwrap();
    let b = Mailbox::create(&mb.0, MailboxConfig::new(64, 64)).unwrap();
    let key = format!("kipc/test/{}", ma.0);
    let listen = format!("tcp/{}:{}", hosts.addr_a, port());
    let (_out, _) = bridge(
        &hosts,
        true,
        &[
            "--listen",
            &listen,
            "out",
            &ma.0,
            "--mailbox",
            "--key",
            &key,
        ],
    );
    let (_in, _) = bridge(
        &hosts,
        false,
        &[
            "--connect",
            &listen,
            "in",
            &mb.0,
            "--mailbox",
            "--key",
            &key,
        ],
    );
    for (i, prio) in [0u8, 7, 200, 64].into_iter().enumerate() {
        a.send(format!("msg{i}").as_bytes(), prio, 1000 + i as u64)
            .unwrap();
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 4 {
        let r = b.recv_timeout(&mut buf, Duration::from_secs(30)).unwrap();
        got.push((
            String::from_utf8(buf[..r.len].to_vec()).unwrap(),
            r.prio,
            r.mtype,
        ));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("msg0".to_string(), 0, 1000),
            ("msg1".to_string(), 7, 1001),
            ("msg2".to_string(), 200, 1002),
            ("msg3".to_string(), 64, 1003),
        ]
    );
}

#[test]
fn a_remote_call_is_answered_and_a_dead_server_is_reported() {
    let hosts = Hosts::new();
    let name = ShmName::new("bridge-rpc");
    let server = Server::new(&name.0)
        .unwrap()
        .handle(1, |req: &[u8]| Ok(req.iter().rev().copied().collect()));
    let stop = Arc::new(AtomicBool::new(false));
    let guard = StopOnDrop(Arc::clone(&stop));
    let s = Arc::clone(&stop);
    let serving = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let _ = server.serve_one(Some(Instant::now() + Duration::from_millis(50)));
        }
        // `server` drops here: its inbox is removed, the server is gone.
    });
    let key = format!("kipc/rpc/{}", name.0);
    let listen = format!("tcp/{}:{}", hosts.addr_a, port());
    let (_serve, _) = bridge(
        &hosts,
        true,
        &["--listen", &listen, "rpc", "serve", &name.0, "--key", &key],
    );
    let call = |payload: &str| {
        let out = hosts
            .cmd(false, BRIDGE)
            .args([
                "--connect",
                &listen,
                "--no-multicast",
                "rpc",
                "call",
                "--key",
                &key,
                "1",
                payload,
            ])
            .args(["--timeout-ms", "5000"])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, stdout, stderr) = call("abc");
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "cba");
    drop(guard);
    serving.join().unwrap();
    let (ok, _, stderr) = call("abc");
    assert!(!ok);
    assert!(stderr.contains("server dead"), "{stderr}");
    // Nobody serving the key at all is the same error, not a hang.
    let (ok, _, stderr) = {
        let out = hosts
            .cmd(false, BRIDGE)
            .args([
                "--connect",
                &listen,
                "--no-multicast",
                "rpc",
                "call",
                "--key",
                "kipc/rpc/nobody",
                "1",
                "x",
            ])
            .output()
            .unwrap();
        (
            out.status.success(),
            (),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert!(!ok);
    assert!(stderr.contains("server dead"), "{stderr}");
}

/// The Python Zenoh package (`eclipse-zenoh` from PyPI), if this machine has
/// it; CI installs it and must not skip.
fn python_zenoh() -> bool {
    let ok = run("python3", &["-c", "import zenoh"]);
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "CI must have eclipse-zenoh"
    );
    if !ok {
        eprintln!("skipped: python3 -c 'import zenoh' fails (pip install eclipse-zenoh)");
    }
    ok
}

const PY_SUB: &str = r#"
import sys, time, zenoh
listen, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
conf = zenoh.Config()
conf.insert_json5("listen/endpoints", '["%s"]' % listen)
conf.insert_json5("scouting/multicast/enabled", "false")
conf.insert_json5("transport/shared_memory/enabled", "false")
s = zenoh.open(conf)
sub = s.declare_subscriber(key)
print("ready", flush=True)
for _ in range(n):
    sample = sub.recv()
    print(sample.payload.to_bytes().hex(), flush=True)
s.close()
"#;

const PY_PUB: &str = r#"
import sys, time, zenoh
connect, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
conf = zenoh.Config()
conf.insert_json5("connect/endpoints", '["%s"]' % connect)
conf.insert_json5("scouting/multicast/enabled", "false")
conf.insert_json5("transport/shared_memory/enabled", "false")
s = zenoh.open(conf)
pub = s.declare_publisher(key)
deadline = time.time() + 20
while not pub.matching_status.matching and time.time() < deadline:
    time.sleep(0.05)
for i in range(n):
    pub.put(bytes([i % 256]) * (i % 50 + 1))
time.sleep(1)
s.close()
"#;

#[test]
fn a_python_zenoh_peer_reads_and_writes_kipc_rings_byte_for_byte() {
    if !python_zenoh() {
        return;
    }
    const N: usize = 200;
    let hosts = Hosts::new();
    let msg = |i: usize| vec![(i % 256) as u8; i % 50 + 1];

    // kipc ring on A -> out bridge -> Python subscriber on B.
    let ra = ShmName::new("bridge-py-a");
    ShmRing::create(&ra.0, RingConfig::spsc(256, 64)).unwrap();
    let key = format!("kipc/py/{}", ra.0);
    let listen_b = format!("tcp/{}:{}", hosts.addr_b, port());
    let mut py = ChildGuard::new(
        hosts
            .cmd(false, "python3")
            .args(["-c", PY_SUB, &listen_b, &key, &N.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut py_out = BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    py_out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let (_out, _) = bridge(
        &hosts,
        true,
        &["--connect", &listen_b, "out", &ra.0, "--key", &key],
    );
    let ring = ShmRing::open(&ra.0).unwrap();
    let mut tx = ring.sender().unwrap();
    for i in 0..N {
        tx.send_timeout(&msg(i), Duration::from_secs(10)).unwrap();
    }
    let mut text = String::new();
    py_out.read_to_string(&mut text).unwrap();
    let got: Vec<&str> = text.lines().collect();
    let want: Vec<String> = (0..N)
        .map(|i| msg(i).iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    assert_eq!(got, want, "Python received other bytes");

    // Python publisher on A -> in bridge on B -> kipc ring on B.
    let rb = ShmName::new("bridge-py-b");
    ShmRing::create(&rb.0, RingConfig::spsc(256, 64)).unwrap();
    let key = format!("kipc/py/{}", rb.0);
    let listen_b = format!("tcp/{}:{}", hosts.addr_b, port());
    let (_in, _) = bridge(
        &hosts,
        false,
        &["--listen", &listen_b, "in", &rb.0, "--key", &key],
    );
    let _pub = ChildGuard::new(
        hosts
            .cmd(true, "python3")
            .args(["-c", PY_PUB, &listen_b, &key, &N.to_string()])
            .spawn()
            .unwrap(),
    );
    let ring = ShmRing::open(&rb.0).unwrap();
    let mut rx = ring.receiver().unwrap();
    let mut buf = [0u8; 64];
    for i in 0..N {
        let n = rx.recv_timeout(&mut buf, Duration::from_secs(30)).unwrap();
        assert_eq!(&buf[..n], &msg(i)[..], "message {i}");
    }
}

#[test]
fn best_effort_drops_and_counts_what_finds_the_ring_full() {
    const N: u64 = 1000;
    let hosts = Hosts::new();
    let (ra, rb) = (ShmName::new("bridge-be-a"), ShmName::new("bridge-be-b"));
    ShmRing::create(&ra.0, RingConfig::spsc(1024, 64)).unwrap();
    // Nobody reads ring B: after 16 messages every sample finds it full.
    ShmRing::create(&rb.0, RingConfig::spsc(16, 64)).unwrap();
    let key = format!("kipc/test/{}", ra.0);
    let listen = format!("tcp/{}:{}", hosts.addr_b, port());
    let count = N.to_string();
    let (mut inb, mut in_out) = bridge(
        &hosts,
        false,
        &[
            "--listen",
            &listen,
            "in",
            &rb.0,
            "--key",
            &key,
            "--best-effort",
            "--count",
            &count,
        ],
    );
    let (_out, _) = bridge(
        &hosts,
        true,
        &["--connect", &listen, "out", &ra.0, "--key", &key],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let _guard = StopOnDrop(Arc::clone(&stop));
    assert_eq!(produce(ra.0.clone(), N, stop).join().unwrap(), N);
    // The receiving bridge exits after N samples and reports its counts.
    let mut report = String::new();
    in_out.read_to_string(&mut report).unwrap();
    assert!(inb.wait().unwrap().success());
    assert_eq!(report.trim(), format!("moved 16 dropped {}", N - 16));
    // What was kept is the first 16, in order.
    let ring = ShmRing::open(&rb.0).unwrap();
    let mut rx = ring.receiver().unwrap();
    let mut buf = [0u8; 64];
    for seq in 0..16u64 {
        assert_eq!(rx.try_recv(&mut buf), Ok(8));
        assert_eq!(u64::from_le_bytes(buf[..8].try_into().unwrap()), seq);
    }
    assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
}
