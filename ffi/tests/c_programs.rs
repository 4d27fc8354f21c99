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

fn valgrind_available() -> bool {
    let ok = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
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
