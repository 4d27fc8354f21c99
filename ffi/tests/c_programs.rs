//! Compiles the C examples and C tests with
//! `cc -std=c11 -Wall -Wextra -Werror -pedantic -I ffi/include`, links each
//! against the staticlib and against the cdylib that `cargo test` built for
//! this crate, runs them and checks their output; then runs them again under
//! valgrind memcheck when valgrind is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>`: this test binary lives in `target/<profile>/deps`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary is in target/<profile>/deps")
        .to_path_buf()
}

fn ffi_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// How to link: against `libkipc_ffi.a` or `libkipc_ffi.so`.
#[derive(Clone, Copy, Debug)]
enum Link {
    Static,
    Dynamic,
}

/// Compiles `source` (relative to `ffi/`) and returns the executable.
fn compile(source: &str, link: Link) -> PathBuf {
    let lib_dir = profile_dir();
    let stem = Path::new(source).file_stem().unwrap().to_str().unwrap();
    let out_dir = lib_dir.join("kipc-ffi-c");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(format!("{stem}-{link:?}").to_lowercase());
    // Several tests compile the same program, in parallel threads (cargo
    // test) or processes (nextest): each compiles to a name of its own and
    // renames it into place, so none runs a file another is still writing
    // (which fails with ETXTBSY, or runs a half-written program).
    let partial = {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        exe.with_extension(format!("partial-{}-{n}", std::process::id()))
    };
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(&cc);
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .arg("-I")
        .arg(ffi_dir().join("include"))
        .arg(ffi_dir().join(source))
        .arg("-o")
        .arg(&partial);
    match link {
        Link::Static => {
            let lib = lib_dir.join("libkipc_ffi.a");
            assert!(
                lib.exists(),
                "{} not built: run `cargo build -p kipc-ffi` first (`cargo test` builds only the rlib)",
                lib.display()
            );
            // What a Rust std staticlib needs from the system on Linux
            // (`rustc --print native-static-libs`).
            cmd.arg(lib).args([
                "-lgcc_s",
                "-lutil",
                "-lrt",
                "-lpthread",
                "-lm",
                "-ldl",
                "-lc",
            ]);
        }
        Link::Dynamic => {
            let lib = lib_dir.join("libkipc_ffi.so");
            assert!(
                lib.exists(),
                "cdylib not built: run `cargo build -p kipc-ffi` first"
            );
            // The program records the library's soname (ffi/build.rs), which
            // is the installed name, not cargo's: give the loader a link by
            // that name beside the programs.
            // Made under a name of its own and renamed into place, so a link
            // left by another tree (a `target/` copied from elsewhere points
            // at that tree's library) is replaced, and tests running in
            // parallel never see a missing link.
            let link = out_dir.join(env!("KIPC_SONAME"));
            let mut fresh = partial.clone().into_os_string();
            fresh.push(".so-link");
            let fresh = PathBuf::from(fresh);
            let _ = std::fs::remove_file(&fresh);
            std::os::unix::fs::symlink(&lib, &fresh)
                .and_then(|()| std::fs::rename(&fresh, &link))
                .unwrap_or_else(|e| panic!("link {}: {e}", link.display()));
            cmd.arg(lib)
                .arg(format!("-Wl,-rpath,{}", out_dir.display()));
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(
        out.status.success(),
        "compiling {source} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&partial, &exe).unwrap();
    exe
}

/// Runs `exe` and returns its stdout; fails the test on a nonzero exit.
fn run(exe: &Path, wrapper: &[&str]) -> String {
    let mut cmd = match wrapper.split_first() {
        Some((tool, args)) => {
            let mut c = Command::new(tool);
            c.args(args).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    let out = cmd.output().expect("run C program");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} {wrapper:?} exited with {}:\n{stdout}\n{}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Whether valgrind can run; outside CI a missing valgrind skips the
/// memcheck runs with a note, in CI (`CI=true`, where `.ci/run` installs it)
/// it fails the test.
fn valgrind_available() -> bool {
    let ok = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "valgrind not found, and CI=true: .ci/run should have installed it"
        );
        eprintln!("note: valgrind not found; skipping the memcheck runs");
    }
    ok
}

const MEMCHECK: &[&str] = &[
    "valgrind",
    "--quiet",
    "--error-exitcode=1",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite,indirect",
];

/// Builds `source` both ways, runs it (and under memcheck), and checks that
/// stdout contains `expect`.
fn check_program(source: &str, expect: &str) {
    let memcheck = valgrind_available();
    for link in [Link::Static, Link::Dynamic] {
        let exe = compile(source, link);
        let out = run(&exe, &[]);
        assert!(out.contains(expect), "{source} ({link:?}) printed:\n{out}");
        if memcheck {
            let out = run(&exe, MEMCHECK);
            assert!(
                out.contains(expect),
                "{source} ({link:?}, memcheck) printed:\n{out}"
            );
        }
    }
}

#[test]
fn bare_metal_spsc_example_moves_every_message_in_order() {
    check_program(
        "examples/bare_metal_spsc.c",
        "bare_metal_spsc: 1000 messages through 8 slots: ok",
    );
}

#[test]
fn header_version_macros_match_kipc_version_at_run_time() {
    check_program(
        "tests/c/version.c",
        &format!(
            "version: kipc.h and library agree: {}",
            env!("CARGO_PKG_VERSION")
        ),
    );
}

#[test]
fn typed_ring_from_c_refuses_another_type_at_open() {
    check_program("tests/c/typed.c", "typed: all checks passed");
}

#[test]
fn abuse_test_gets_an_error_code_for_every_bad_argument() {
    check_program("tests/c/abuse.c", "abuse: all ");
}

/// Four pthreads share one `kipc_sigstate_t` with no lock of their own: two
/// raise (lock-free), two change masks and take deliveries (locked). Every
/// real-time instance must come out exactly once, in order per raiser, and
/// SIGUSR1 between once and as often as raised. Also run under memcheck
/// (helgrind and drd do not model the atomics-based spin lock, so they flag
/// every access it guards; the lock protocol is checked by the loom models
/// in `loom-tests/tests/signal_shared.rs`).
#[test]
fn sigstate_from_four_threads_delivers_every_raised_signal() {
    check_program(
        "tests/c/sigstate_threads.c",
        "sigstate_threads: 4000 real-time instances each delivered once",
    );
}

#[test]
fn c_producer_and_c_consumer_talk_over_a_named_ring() {
    use std::process::Stdio;
    let name = format!("ffi-c-test-{}", std::process::id());
    let producer = compile("examples/ring_producer.c", Link::Static);
    let consumer = compile("examples/ring_consumer.c", Link::Dynamic);
    // The producer creates the ring and blocks once its 8 slots are full;
    // the consumer retries its open until the ring exists.
    let tx = Command::new(&producer)
        .args([name.as_str(), "500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ring_producer");
    let rx = Command::new(&consumer)
        .arg(&name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ring_consumer");
    let (tx, rx) = (
        tx.wait_with_output().unwrap(),
        rx.wait_with_output().unwrap(),
    );
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(tx.status.success(), "producer: {}", text(&tx));
    assert!(rx.status.success(), "consumer: {}", text(&rx));
    assert!(
        text(&tx).contains("ring_producer: sent 500 messages"),
        "{}",
        text(&tx)
    );
    assert!(
        text(&rx).contains("ring_consumer: received 500 messages in order"),
        "{}",
        text(&rx)
    );
}

#[test]
fn mailbox_example_receives_highest_priority_first() {
    check_program(
        "examples/mailbox_priorities.c",
        "mailbox_priorities: highest priority first: ok",
    );
}

#[test]
fn signal_waiter_example_receives_its_own_sigusr1_with_the_value() {
    check_program("examples/signal_waiter.c", "SIGUSR1) from pid");
    let exe = compile("examples/signal_waiter.c", Link::Static);
    let out = run(&exe, &[]);
    assert!(out.contains("SI_QUEUE, value 42"), "{out}");
    assert!(out.contains("then: timed out"), "{out}");
}

#[cfg(feature = "host")]
#[test]
fn signal_waiter_example_receives_sigusr1_from_another_process() {
    use kipc_core::signal::Signal;
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let exe = compile("examples/signal_waiter.c", Link::Dynamic);
    let mut child = Command::new(&exe)
        .args(["--wait", "10000"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn signal_waiter");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let pid: i32 = line
        .strip_prefix("ready ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("signal_waiter printed {line:?}"));
    kipc_host::signals::sigqueue(pid, Signal::USR1, 7).expect("sigqueue");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    let me = std::process::id();
    assert!(
        rest.contains(&format!("SIGUSR1) from pid {me} ")) && rest.contains("value 7"),
        "{rest}"
    );
}

/// Mixed-language interop: a C producer and a Rust consumer (kipc-host's
/// `ShmRing`) over one named ring.
#[cfg(feature = "host")]
#[test]
fn c_producer_and_rust_consumer_talk_over_a_named_ring() {
    use kipc_host::ring::ShmRing;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let name = format!("ffi-c2rust-{}", std::process::id());
    let producer = compile("examples/ring_producer.c", Link::Static);
    let tx = Command::new(&producer)
        .args([name.as_str(), "300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ring_producer");
    let deadline = Instant::now() + Duration::from_secs(10);
    let ring = loop {
        match ShmRing::open(&name) {
            Ok(r) => break r,
            Err(e) if Instant::now() > deadline => panic!("open {name}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let mut rx = ring.receiver().expect("consumer side");
    let mut buf = [0u8; 64];
    let mut received = 0;
    loop {
        let n = rx
            .recv_timeout(&mut buf, Duration::from_secs(10))
            .expect("recv from the C producer");
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        if text == "end" {
            break;
        }
        assert_eq!(text, format!("msg {received}"));
        received += 1;
    }
    assert_eq!(received, 300);
    let out = tx.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    drop(rx);
    ShmRing::unlink(&name).unwrap();
}

/// The reverse: a Rust producer creates the ring, the C consumer from
/// `examples/ring_consumer.c` checks every message (and unlinks the name).
#[cfg(feature = "host")]
#[test]
fn rust_producer_and_c_consumer_talk_over_a_named_ring() {
    use kipc_host::ring::{RingConfig, ShmRing};
    use std::process::Stdio;
    use std::time::Duration;
    let name = format!("ffi-rust2c-{}", std::process::id());
    let ring = ShmRing::create(&name, RingConfig::spsc(8, 32)).expect("create");
    let consumer = compile("examples/ring_consumer.c", Link::Dynamic);
    let rx = Command::new(&consumer)
        .arg(&name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ring_consumer");
    let mut tx = ring.sender().expect("producer side");
    for i in 0..300 {
        tx.send_timeout(format!("msg {i}").as_bytes(), Duration::from_secs(10))
            .expect("send to the C consumer");
    }
    tx.send_timeout(b"end", Duration::from_secs(10)).unwrap();
    let out = rx.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ring_consumer: received 300 messages in order"),
        "{text}"
    );
    // The consumer removed the name.
    assert!(ShmRing::open(&name).is_err());
}

/// A child process that is killed when the test ends, failed or not.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Starts `cmd` with stdout and stderr piped.
    fn spawn(cmd: &mut Command) -> Self {
        use std::process::Stdio;
        Proc(
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")),
        )
    }

    /// Its stdout, line by line, through a channel (a reader thread), so a
    /// test can wait for a line with a deadline.
    fn lines(&mut self) -> std::sync::mpsc::Receiver<String> {
        use std::io::BufRead;
        let out = self.0.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// Waits (at most `limit`: a hang bound, not a timing check) for it to
    /// exit; its exit code and stderr.
    fn finish(mut self, limit: std::time::Duration) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{:?} still running after {limit:?}",
                self.0
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let mut err = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        (status.code(), err)
    }
}

/// Reads lines from `lines` until one satisfies `pred` (returned), failing
/// after `limit`; every line read is appended to `seen`.
fn wait_line(
    lines: &std::sync::mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    limit: std::time::Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) => {
                seen.push(l.clone());
                if pred(&l) {
                    return l;
                }
            }
            Err(e) => panic!("no such line ({e}); printed so far:\n{}", seen.join("\n")),
        }
    }
}

/// Every `TAG msg N` line of `seen` for one tag: must be 0, 1, 2, ...
fn assert_in_order(seen: &[String], tag: char) -> usize {
    let prefix = format!("{tag} msg ");
    let seqs: Vec<usize> = seen
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        seqs.iter().enumerate().all(|(i, &n)| i == n),
        "ring {tag} out of order: {seqs:?}"
    );
    seqs.len()
}

/// The names a test's rings use, removed (with their wake directories) at
/// the end whatever happens.
struct RingNames(Vec<String>);

impl RingNames {
    fn new(test: &str, n: usize) -> Self {
        RingNames(
            (0..n)
                .map(|i| format!("ffi-epoll-{test}-{i}-{}", std::process::id()))
                .collect(),
        )
    }

    fn gone(&self) -> bool {
        self.0.iter().all(|n| {
            !Path::new(&format!("/dev/shm/kipc.{n}")).exists()
                && !Path::new(&format!("/dev/shm/kipc.{n}.wake")).exists()
        })
    }
}

impl Drop for RingNames {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = std::fs::remove_file(format!("/dev/shm/kipc.{n}"));
            let _ = std::fs::remove_dir_all(format!("/dev/shm/kipc.{n}.wake"));
        }
    }
}

/// `examples/epoll_consumer.c` (one epoll loop over two rings and a signal
/// handle) takes everything two `ring_producer` processes send, each ring in
/// order, then removes both names and leaves no wake socket behind; the
/// same again under valgrind memcheck.
#[cfg(feature = "host")]
#[test]
fn epoll_example_takes_two_rings_from_two_producer_processes_in_order() {
    use std::time::Duration;
    let producer = compile("examples/ring_producer.c", Link::Static);
    let consumer = compile("examples/epoll_consumer.c", Link::Dynamic);
    let memcheck = valgrind_available();
    for (run, wrapper) in [("plain", &[][..]), ("memcheck", MEMCHECK)] {
        if run == "memcheck" && !memcheck {
            continue;
        }
        let names = RingNames::new(run, 2);
        // Counts well above the 8 slots, so both producers block on a
        // full ring and the consumer waits on both descriptors many times.
        let (a, b) = (400, 300);
        let pa = Proc::spawn(Command::new(&producer).args([&names.0[0], &a.to_string()]));
        let pb = Proc::spawn(Command::new(&producer).args([&names.0[1], &b.to_string()]));
        let mut cmd = match wrapper.split_first() {
            Some((tool, args)) => {
                let mut c = Command::new(tool);
                c.args(args).arg(&consumer);
                c
            }
            None => Command::new(&consumer),
        };
        let mut c = Proc::spawn(cmd.args(&names.0));
        let lines = c.lines();
        let mut seen = Vec::new();
        let last = wait_line(&lines, &mut seen, Duration::from_secs(120), |l| {
            l.starts_with("epoll_consumer:")
        });
        let (code, err) = c.finish(Duration::from_secs(60));
        assert_eq!(code, Some(0), "{run}: {err}\n{}", seen.join("\n"));
        assert_eq!(
            last,
            format!("epoll_consumer: {} messages (A {a}, B {b})", a + b)
        );
        assert_eq!(assert_in_order(&seen, 'A'), a);
        assert_eq!(assert_in_order(&seen, 'B'), b);
        assert!(seen.contains(&format!("A end after {a} messages")), "{run}");
        assert!(seen.contains(&format!("B end after {b} messages")), "{run}");
        for p in [pa, pb] {
            let (code, err) = p.finish(Duration::from_secs(30));
            assert_eq!(code, Some(0), "producer: {err}");
        }
        assert!(
            names.gone(),
            "{run}: a ring or wake directory was left behind"
        );
    }
}

/// A signal from another process (this test) ends the loop: messages sent
/// before it were taken, in order, and the signal is printed with its value.
#[cfg(feature = "host")]
#[test]
fn epoll_example_ends_on_a_signal_from_another_process() {
    use kipc_core::signal::Signal;
    use kipc_host::ring::{RingConfig, ShmRing};
    use std::time::Duration;
    let consumer = compile("examples/epoll_consumer.c", Link::Static);
    let names = RingNames::new("signal", 2);
    let rings: Vec<ShmRing> = names
        .0
        .iter()
        .map(|n| ShmRing::create(n, RingConfig::spsc(8, 32)).unwrap())
        .collect();
    let mut c = Proc::spawn(Command::new(&consumer).args(&names.0));
    let lines = c.lines();
    let mut seen = Vec::new();
    let ready = wait_line(&lines, &mut seen, Duration::from_secs(30), |l| {
        l.starts_with("ready ")
    });
    let pid: i32 = ready["ready ".len()..].parse().unwrap();
    let mut txs: Vec<_> = rings.iter().map(|r| r.sender().unwrap()).collect();
    for i in 0..3 {
        txs[0].send(format!("msg {i}").as_bytes()).unwrap();
    }
    txs[1].send(b"msg 0").unwrap();
    wait_line(&lines, &mut seen, Duration::from_secs(30), |l| {
        l == "A msg 2"
    });
    wait_line(&lines, &mut seen, Duration::from_secs(30), |l| {
        l == "B msg 0"
    });
    kipc_host::signals::sigqueue(pid, Signal::USR1, 7).unwrap();
    let last = wait_line(&lines, &mut seen, Duration::from_secs(30), |l| {
        l.starts_with("epoll_consumer:")
    });
    let (code, err) = c.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}\n{}", seen.join("\n"));
    let me = std::process::id();
    assert!(
        seen.contains(&format!("signal SIGUSR1 value 7 from pid {me}")),
        "{}",
        seen.join("\n")
    );
    assert_eq!(last, "epoll_consumer: 4 messages (A 3, B 1)");
}

/// A producer killed mid-stream: the consumer, waiting on its descriptor
/// with a time-out, takes what was sent, then reports the dead producer
/// (`-KIPC_EPIPE`) and exits 1 instead of waiting forever.
#[cfg(feature = "host")]
#[test]
fn epoll_example_reports_a_killed_producer() {
    use std::time::Duration;
    let producer = compile("examples/ring_producer.c", Link::Static);
    let consumer = compile("examples/epoll_consumer.c", Link::Dynamic);
    let names = RingNames::new("killed", 2);
    let mut pa = Proc::spawn(Command::new(&producer).args([&names.0[0], "100000000"]));
    let pb = Proc::spawn(Command::new(&producer).args([&names.0[1], "5"]));
    let mut c = Proc::spawn(Command::new(&consumer).args(&names.0));
    let lines = c.lines();
    let mut seen = Vec::new();
    wait_line(&lines, &mut seen, Duration::from_secs(30), |l| {
        l == "A msg 100"
    });
    pa.0.kill().unwrap();
    let last = wait_line(&lines, &mut seen, Duration::from_secs(30), |l| {
        l.starts_with("epoll_consumer:")
    });
    let (code, err) = c.finish(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{err}");
    let n = assert_in_order(&seen, 'A');
    assert_eq!(
        last,
        format!("epoll_consumer: ring A: peer is dead after {n} messages")
    );
    let (code, err) = pb.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "producer B: {err}");
}
