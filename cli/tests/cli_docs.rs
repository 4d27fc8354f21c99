//! What a user meets first: shell completions, manual pages, one meaning of
//! `--timeout` across subcommands, and `kipc ls` listing System V segments.
//! Every child process is killed on drop, so a regression that blocks fails
//! the test instead of hanging it.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kipc_host::sysv::{SysvKey, SysvSegment};

const KIPC: &str = env!("CARGO_BIN_EXE_kipc");

/// Longer than any command here should take; a command still running then
/// is a failure (it blocked where it must not).
const LIMIT: Duration = Duration::from_secs(20);

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "cli-docs-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A running `kipc`, killed and reaped on drop.
struct Kipc(Option<Child>);

impl Drop for Kipc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reads all of a child's pipe on a thread (so a large output cannot fill
/// the pipe and stall the child while we wait for it).
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Runs `kipc ARGS` to completion within [`LIMIT`], or panics (killing it).
fn kipc(args: &[&str]) -> Output {
    let mut child = Command::new(KIPC)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let mut guard = Kipc(Some(child));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = guard.0.as_mut().unwrap().try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < LIMIT, "kipc {args:?} still running");
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Subcommands every generated document must name.
const SUBCOMMANDS: [&str; 13] = [
    "bench",
    "ring",
    "ls",
    "mbox",
    "rpc",
    "sysv",
    "signal",
    "fifo",
    "spool",
    "lock",
    "sock",
    "completions",
    "man",
];

#[test]
fn completions_for_each_shell_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&kipc(&["completions", shell]));
        assert!(script.contains("kipc"), "{shell}");
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
        // Nested subcommands and their options are there too.
        assert!(script.contains("--timeout"), "{shell}");
    }
    let out = kipc(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "unknown shell is a usage error");
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        TempDir(std::env::temp_dir().join(unique(tag)))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn man_pages_are_generated_for_kipc_and_each_subcommand() {
    let dir = TempDir::new("man");
    let target = dir.0.join("man1");
    ok(&kipc(&["man", target.to_str().unwrap()]));
    let page = std::fs::read_to_string(target.join("kipc.1")).unwrap();
    assert!(page.contains(".TH kipc 1"), "not a roff man page");
    for sub in SUBCOMMANDS {
        assert!(page.contains(sub), "kipc.1 does not name {sub}");
        assert!(
            target.join(format!("kipc-{sub}.1")).exists(),
            "kipc-{sub}.1"
        );
    }
    let send = std::fs::read_to_string(target.join("kipc-ring-send.1")).unwrap();
    assert!(
        send.contains("timeout") && send.contains("forever"),
        "{send}"
    );
    // Without DIR, kipc.1 goes to stdout.
    assert_eq!(ok(&kipc(&["man"])), page);
}

#[test]
fn help_explains_durations_wherever_a_timeout_is_taken() {
    for args in [
        &["--help"][..],
        &["ring", "send", "--help"],
        &["lock", "--help"],
        &["fifo", "recv", "--help"],
        &["sock", "send", "--help"],
    ] {
        let help = ok(&kipc(args));
        assert!(
            help.contains("DURATIONS") && help.contains("500ms") && help.contains("forever"),
            "{args:?}: {help}"
        );
    }
}

#[test]
fn a_timeout_without_a_unit_is_refused_with_a_hint() {
    let out = kipc(&["ring", "recv", "anything", "--timeout", "500"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("500ms"), "{err}");
    let out = kipc(&["lock", "--timeout", "2 fortnights", "/tmp", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A named ring removed on drop.
struct Ring(String);

impl Drop for Ring {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/dev/shm/kipc.{}", self.0));
    }
}

#[test]
fn timeout_zero_tries_once_for_ring_send_and_fifo_send_too() {
    // `ring send --timeout 0` used to mean "wait forever": now, as for
    // `lock`, it tries once and exits 3 if the ring is full.
    let r = Ring(unique("zero"));
    ok(&kipc(&["ring", "create", &r.0, "--slots", "2"]));
    ok(&kipc(&["ring", "send", &r.0, "a", "b"]));
    let out = kipc(&["ring", "send", &r.0, "c", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    // Receiving with 0 takes what is queued, then stops.
    let out = kipc(&["ring", "recv", &r.0, "--timeout", "0"]);
    assert_eq!(ok(&out), "a\nb\n");
    let out = kipc(&["ring", "recv", &r.0, "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");

    // `fifo send --timeout 0` with no reader: no wait either.
    let dir = TempDir::new("fifo");
    std::fs::create_dir_all(&dir.0).unwrap();
    let fifo = dir.0.join("f");
    ok(&kipc(&["fifo", "create", fifo.to_str().unwrap()]));
    let out = kipc(&[
        "fifo",
        "send",
        fifo.to_str().unwrap(),
        "x",
        "--timeout",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    // Units are accepted everywhere a timeout is.
    let out = kipc(&[
        "fifo",
        "send",
        fifo.to_str().unwrap(),
        "x",
        "--timeout",
        "50ms",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

/// A System V segment removed on drop (it outlives processes otherwise).
struct Segment(SysvSegment);

impl Drop for Segment {
    fn drop(&mut self) {
        let _ = SysvSegment::remove_id(self.0.id());
    }
}

#[test]
fn ls_lists_sysv_segments_in_the_table_and_the_json() {
    let seg = Segment(SysvSegment::create(SysvKey::PRIVATE, 12345, 0o640).unwrap());
    let id = seg.0.id();

    let doc: serde_json::Value = serde_json::from_str(&ok(&kipc(&["ls", "--json"]))).unwrap();
    assert!(doc["sysv_error"].is_null(), "{doc}");
    let row = doc["sysv"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("segment {id} not in {doc}"));
    assert_eq!(row["key"], "0x00000000");
    assert_eq!(row["mode"], "0640");
    assert_eq!(row["bytes"], 12345);
    assert_eq!(row["attached"], 1);
    assert_eq!(row["removed"], false);
    assert_eq!(row["owner_uid"], rustix::process::getuid().as_raw());

    let table = ok(&kipc(&["ls"]));
    let header = table
        .lines()
        .find(|l| l.starts_with("SYSV KEY"))
        .unwrap_or_else(|| panic!("no sysv table in {table}"));
    for col in ["SHMID", "OWNER", "MODE", "BYTES", "ATTACHED"] {
        assert!(header.contains(col), "{header}");
    }
    let line = table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(&id.to_string()))
        .unwrap_or_else(|| panic!("segment {id} not in {table}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[3..6], ["0640", "12345", "1"], "{line}");
}
