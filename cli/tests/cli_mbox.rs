//! `kipc mbox` and `kipc rpc` from a shell's point of view: exit codes,
//! output lines, one-line errors, nothing left behind.

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const KIPC: &str = env!("CARGO_BIN_EXE_kipc");

fn kipc(args: &[&str]) -> Output {
    Command::new(KIPC).args(args).output().expect("run kipc")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A unique name, removed on drop.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        Name(format!(
            "cli-mbox-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/dev/shm/kipc.{}", self.0));
    }
}

fn exists(name: &str) -> bool {
    std::path::Path::new(&format!("/dev/shm/kipc.{name}")).exists()
}

#[test]
fn recv_prints_highest_priority_first_then_fifo() {
    let n = Name::new("prio");
    assert!(
        kipc(&["mbox", "create", &n.0, "--capacity", "8", "--max-msg", "64"])
            .status
            .success()
    );
    for (p, m) in [("1", "low-a"), ("7", "high"), ("1", "low-b"), ("3", "mid")] {
        let o = kipc(&["mbox", "send", &n.0, "--prio", p, "--type", "5", m]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let o = kipc(&["mbox", "recv", &n.0, "--count", "4", "--timeout", "1000ms"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "7 5 high\n3 5 mid\n1 5 low-a\n1 5 low-b\n");
    assert!(kipc(&["mbox", "rm", &n.0]).status.success());
    assert!(!exists(&n.0));
}

#[test]
fn type_selects_exactly_and_negative_type_takes_lowest_at_most() {
    let n = Name::new("type");
    assert!(kipc(&["mbox", "create", &n.0]).status.success());
    for (t, m) in [("9", "nine"), ("4", "four"), ("2", "two")] {
        assert!(kipc(&["mbox", "send", &n.0, "--type", t, m])
            .status
            .success());
    }
    let o = kipc(&["mbox", "recv", &n.0, "--type", "4", "--timeout", "100ms"]);
    assert_eq!(text(&o.stdout), "0 4 four\n");
    let o = kipc(&[
        "mbox",
        "recv",
        &n.0,
        "--type",
        "-9",
        "--count",
        "2",
        "--timeout",
        "100ms",
    ]);
    assert_eq!(text(&o.stdout), "0 2 two\n0 9 nine\n");
}

#[test]
fn recv_with_nothing_times_out_with_exit_3() {
    let n = Name::new("timeout");
    assert!(kipc(&["mbox", "create", &n.0]).status.success());
    let start = Instant::now();
    let o = kipc(&["mbox", "recv", &n.0, "--timeout", "100ms"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(o.stdout.is_empty());
    // Selecting a type that is not there also times out.
    assert!(kipc(&["mbox", "send", &n.0, "--type", "1", "x"])
        .status
        .success());
    let o = kipc(&["mbox", "recv", &n.0, "--type", "2", "--timeout", "50ms"]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn bad_input_gives_one_line_errors_and_leaves_nothing_behind() {
    let n = Name::new("bad");
    for args in [
        vec!["mbox", "create", &n.0, "--capacity", "0"],
        vec!["mbox", "create", &n.0, "--max-msg", "0"],
        vec![
            "mbox",
            "create",
            &n.0,
            "--capacity",
            "65536",
            "--max-msg",
            "16777216",
        ],
    ] {
        let o = kipc(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = text(&o.stderr);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.starts_with("kipc: "), "{e}");
        assert!(!exists(&n.0), "{args:?} left a segment");
    }
    let o = kipc(&["mbox", "create", "a/b"]);
    assert!(text(&o.stderr).contains("invalid kipc name"));
    let o = kipc(&["mbox", "send", &n.0, "x"]);
    assert_eq!(
        text(&o.stderr).trim(),
        format!("kipc: mailbox {:?} does not exist", n.0)
    );
    assert!(kipc(&["mbox", "create", &n.0, "--max-msg", "4"])
        .status
        .success());
    let o = kipc(&["mbox", "send", &n.0, "too long"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr).lines().count(), 1);
    let o = kipc(&["mbox", "create", &n.0]);
    assert!(text(&o.stderr).contains("already exists"));
    let o = kipc(&["mbox", "send", &n.0, "--prio", "256", "x"]);
    assert_eq!(o.status.code(), Some(2)); // clap's usage error
}

#[test]
fn ls_shows_the_mailbox_with_its_message_count() {
    let n = Name::new("ls");
    assert!(kipc(&[
        "mbox",
        "create",
        &n.0,
        "--capacity",
        "16",
        "--max-msg",
        "100"
    ])
    .status
    .success());
    assert!(kipc(&["mbox", "send", &n.0, "a"]).status.success());
    assert!(kipc(&["mbox", "send", &n.0, "bc"]).status.success());
    let o = kipc(&["ls"]);
    let line = text(&o.stdout)
        .lines()
        .find(|l| l.starts_with(&n.0))
        .map(str::to_string);
    let line = line.expect("mailbox listed");
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&f[1..5], ["mailbox", "16", "100", "2"], "{line}");
    let o = kipc(&["ls", "--json"]);
    let doc = text(&o.stdout);
    assert!(doc.contains(&format!("\"name\":\"{}\"", n.0)), "{doc}");
    assert!(doc.contains("\"bytes_in_use\":3"), "{doc}");
}

#[test]
fn rpc_serve_and_call_echo_round_trip() {
    let n = Name::new("rpc");
    let mut server = Command::new(KIPC)
        .args(["rpc", "serve", &n.0, "--echo", "--count", "2"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !exists(&n.0) {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    for msg in ["hello", "second call"] {
        let o = kipc(&["rpc", "call", &n.0, msg, "--timeout", "5000ms"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert_eq!(text(&o.stdout), format!("{msg}\n"));
    }
    assert!(server.wait().unwrap().success());
    assert!(!exists(&n.0), "server left its inbox behind");
    let o = kipc(&["rpc", "call", &n.0, "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("not running"));
    // No reply mailbox of ours survives.
    let left: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("kipc.{}.reply", n.0))
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn rpc_serve_and_call_echo_over_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("cli-rpc-sock-{}.sock", std::process::id()));
    let name = format!("unix:{}", path.display());
    let mut server = Command::new(KIPC)
        .args(["rpc", "serve", &name, "--echo", "--count", "2"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !path.exists() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    for msg in ["hello", "second call"] {
        let o = kipc(&["rpc", "call", &name, msg, "--timeout", "5000ms"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert_eq!(text(&o.stdout), format!("{msg}\n"));
    }
    assert!(server.wait().unwrap().success());
    assert!(!path.exists(), "server left its socket file behind");
    let o = kipc(&["rpc", "call", &name, "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("not running"),
        "{}",
        text(&o.stderr)
    );
}
