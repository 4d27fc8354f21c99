//! The `kipc ring`, `kipc ls` and `kipc sysv` commands, run as a user runs
//! them: the built binary, its exit codes, stdout and stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kipc_host::sysv::{SysvKey, SysvSegment};

const KIPC: &str = env!("CARGO_BIN_EXE_kipc");

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "cli-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A ring name removed again when dropped.
struct Ring(String);

impl Ring {
    fn new(tag: &str) -> Self {
        Ring(unique(tag))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(shm_file(&self.0));
    }
}

fn shm_file(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/kipc.{name}"))
}

fn kipc(args: &[&str]) -> Output {
    Command::new(KIPC).args(args).output().unwrap()
}

fn kipc_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(KIPC)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
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

/// Asserts a failure with one clean line on stderr; returns that line.
fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.starts_with("kipc: "), "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
    stderr
}

#[test]
fn create_send_recv_round_trip() {
    let r = Ring::new("rt");
    ok(&kipc(&[
        "ring",
        "create",
        &r.0,
        "--slots",
        "8",
        "--slot-size",
        "32",
    ]));
    ok(&kipc(&["ring", "send", &r.0, "alpha", "beta", "two words"]));
    let out = kipc(&["ring", "recv", &r.0, "--count", "3", "--timeout", "2000ms"]);
    assert_eq!(ok(&out), "alpha\nbeta\ntwo words\n");
    ok(&kipc(&["ring", "rm", &r.0]));
    assert!(!shm_file(&r.0).exists());
}

#[test]
fn send_without_messages_sends_each_stdin_line() {
    let r = Ring::new("stdin");
    ok(&kipc(&["ring", "create", &r.0]));
    ok(&kipc_stdin(&["ring", "send", &r.0], b"one\ntwo\n\nlast"));
    let out = kipc(&["ring", "recv", &r.0, "--count", "4", "--timeout", "2000ms"]);
    assert_eq!(ok(&out), "one\ntwo\n\nlast\n");
}

#[test]
fn mpmc_ring_round_trips_too() {
    let r = Ring::new("mpmc");
    ok(&kipc(&[
        "ring", "create", &r.0, "--mpmc", "--lanes", "2", "--slots", "4",
    ]));
    ok(&kipc(&["ring", "send", &r.0, "m1", "m2"]));
    let out = kipc(&["ring", "recv", &r.0, "--count", "2", "--timeout", "2000ms"]);
    assert_eq!(ok(&out), "m1\nm2\n");
}

#[test]
fn recv_times_out_with_exit_code_3() {
    let r = Ring::new("timeout");
    ok(&kipc(&["ring", "create", &r.0]));
    let start = Instant::now();
    let out = kipc(&["ring", "recv", &r.0, "--timeout", "100ms"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert!(start.elapsed() >= Duration::from_millis(100));
    // Something received, then the idle timeout: success.
    ok(&kipc(&["ring", "send", &r.0, "x"]));
    let out = kipc(&["ring", "recv", &r.0, "--timeout", "100ms"]);
    assert_eq!(ok(&out), "x\n");
}

#[test]
fn bad_names_fail_cleanly_and_leave_nothing() {
    let long = "n".repeat(201);
    for bad in ["", "a/b", long.as_str(), "has space"] {
        let err = one_line_error(&kipc(&["ring", "create", bad]));
        assert!(err.contains("invalid kipc name"), "{err}");
        assert!(!shm_file(bad).exists());
    }
    let leftovers: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("kipc.nnnnnnnn"))
        .collect();
    assert!(leftovers.is_empty());
    // A bad geometry is refused before anything is created.
    let r = Ring::new("geo");
    let err = one_line_error(&kipc(&["ring", "create", &r.0, "--slots", "1000"]));
    assert!(err.contains("power of two"), "{err}");
    assert!(!shm_file(&r.0).exists());
}

#[test]
fn create_on_an_existing_name_fails() {
    let r = Ring::new("exists");
    ok(&kipc(&["ring", "create", &r.0]));
    let err = one_line_error(&kipc(&["ring", "create", &r.0]));
    assert!(err.contains("already exists"), "{err}");
    assert!(err.contains(&r.0), "{err}");
}

#[test]
fn rm_or_send_on_a_missing_ring_fails_clearly() {
    let name = unique("missing");
    let err = one_line_error(&kipc(&["ring", "rm", &name]));
    assert!(
        err.contains("does not exist") && err.contains(&name),
        "{err}"
    );
    let err = one_line_error(&kipc(&["ring", "send", &name, "x"]));
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn too_long_a_message_is_refused() {
    let r = Ring::new("toolong");
    ok(&kipc(&["ring", "create", &r.0, "--slot-size", "4"]));
    let err = one_line_error(&kipc(&["ring", "send", &r.0, "12345"]));
    assert!(err.contains(&r.0) && err.contains("exceeds"), "{err}");
}

fn ls_json() -> serde_json::Value {
    let out = kipc(&["ls", "--json"]);
    serde_json::from_str(&ok(&out)).unwrap()
}

fn find<'a>(doc: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
}

#[test]
fn ls_json_lists_rings_with_their_queued_count() {
    let r = Ring::new("ls");
    let m = Ring::new("lsm");
    ok(&kipc(&[
        "ring",
        "create",
        &r.0,
        "--slots",
        "16",
        "--slot-size",
        "100",
    ]));
    ok(&kipc(&[
        "ring", "create", &m.0, "--mpmc", "--lanes", "3", "--slots", "8",
    ]));
    ok(&kipc(&["ring", "send", &r.0, "a", "b"]));
    ok(&kipc(&["ring", "send", &m.0, "c"]));
    let doc = ls_json();
    let o = find(&doc, &r.0).expect("ring listed");
    assert_eq!(o["kind"], "spsc");
    assert_eq!(o["slots"], 16);
    assert_eq!(o["slot_size"], 100);
    assert_eq!(o["queued"], 2);
    assert_eq!(o["attached"].as_array().map(Vec::len), Some(0));
    assert!(o["error"].is_null());
    let o = find(&doc, &m.0).expect("mpmc ring listed");
    assert_eq!(o["kind"], "mpmc");
    assert_eq!(o["lanes"], 3);
    assert_eq!(o["queued"], 1);
    // The table names the ring too.
    assert!(ok(&kipc(&["ls"])).contains(&r.0));
}

#[test]
fn ls_prune_removes_only_rings_whose_owners_all_died() {
    let dead = Ring::new("prune-dead");
    let unknown = Ring::new("prune-unknown");
    let live = Ring::new("prune-live");
    for r in [&dead, &unknown, &live] {
        ok(&kipc(&["ring", "create", &r.0]));
    }
    // A receiver that is then SIGKILLed leaves its pid recorded.
    let mut victim = Command::new(KIPC)
        .args(["ring", "recv", &dead.0])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut holder = Command::new(KIPC)
        .args(["ring", "recv", &live.0])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let attached = |name: &str| {
        find(&ls_json(), name)
            .and_then(|o| o["attached"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    while (attached(&dead.0) == 0 || attached(&live.0) == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    let o = find(&ls_json(), &dead.0).cloned().unwrap();
    assert_eq!(o["attached"][0]["alive"], false);
    assert_eq!(o["attached"][0]["role"], "consumer");

    let out = kipc(&["ls", "--prune"]);
    let text = ok(&out);
    assert!(
        text.contains(&format!("removed stale ring {:?}", dead.0)),
        "{text}"
    );
    assert!(!shm_file(&dead.0).exists());
    assert!(shm_file(&unknown.0).exists(), "no owner recorded: kept");
    assert!(shm_file(&live.0).exists(), "live owner: kept");
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// A temp dir with a key file for ftok, removed when dropped.
struct KeyDir(PathBuf);

impl KeyDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("sysv"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("key"), b"key file").unwrap();
        KeyDir(dir)
    }

    fn key_file(&self) -> String {
        self.0.join("key").to_string_lossy().into_owned()
    }
}

impl Drop for KeyDir {
    fn drop(&mut self) {
        if let Ok(key) = SysvKey::from_path(&self.0.join("key"), 65) {
            let _ = SysvSegment::remove(key);
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn sysv_write_then_read_round_trips() {
    let dir = KeyDir::new();
    let key = dir.key_file();
    let args = ["--key-file", key.as_str(), "--proj-id", "A"];
    ok(&kipc(
        &[&["sysv", "write"][..], &args, &["hello sysv"]].concat(),
    ));
    let out = kipc(&[&["sysv", "read"][..], &args].concat());
    assert_eq!(ok(&out), "hello sysv\n");
    // The segment was created 0600 by default.
    let seg = SysvSegment::open(SysvKey::from_path(Path::new(&key), 65).unwrap()).unwrap();
    assert_eq!(seg.info().unwrap().mode & 0o777, 0o600);
    assert_eq!(seg.len(), 1024);
    // Too long a message, and a missing key file: one clear line each.
    let long = "x".repeat(1024);
    let err = one_line_error(&kipc(
        &[&["sysv", "write"][..], &args, &[long.as_str()]].concat(),
    ));
    assert!(err.contains("does not fit"), "{err}");
    let missing = dir.0.join("nope").to_string_lossy().into_owned();
    let err = one_line_error(&kipc(&[
        "sysv",
        "read",
        "--key-file",
        &missing,
        "--proj-id",
        "65",
    ]));
    assert!(err.contains("ftok"), "{err}");
}

const C_SOURCE: &str = r#"
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    key_t key = ftok(argv[1], 'A');
    if (key == -1) { perror("ftok"); return 1; }
    int id = shmget(key, 1024, 0666 | IPC_CREAT);
    if (id == -1) { perror("shmget"); return 1; }
    char *p = shmat(id, NULL, 0);
    if (p == (char *)-1) { perror("shmat"); return 1; }
    if (strcmp(argv[2], "write") == 0 && argc == 4) {
        strncpy(p, argv[3], 1023);
        p[1023] = '\0';
    } else {
        printf("%s\n", p);
    }
    shmdt(p);
    return 0;
}
"#;

fn build_c(dir: &Path) -> PathBuf {
    let src = dir.join("peer.c");
    std::fs::write(&src, C_SOURCE).unwrap();
    let exe = dir.join("peer");
    let status = Command::new("cc")
        .args(["-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success(), "cc failed");
    exe
}

#[test]
fn sysv_interoperates_with_a_c_program_both_ways() {
    let dir = KeyDir::new();
    let key = dir.key_file();
    let c = build_c(&dir.0);
    // C writes, kipc reads.
    let out = Command::new(&c)
        .args([key.as_str(), "write", "written by C"])
        .output()
        .unwrap();
    ok(&out);
    let out = kipc(&["sysv", "read", "--key-file", &key, "--proj-id", "65"]);
    assert_eq!(ok(&out), "written by C\n");
    // kipc writes, C reads.
    ok(&kipc(&[
        "sysv",
        "write",
        "--key-file",
        &key,
        "--proj-id",
        "0x41",
        "written by kipc",
    ]));
    let out = Command::new(&c)
        .args([key.as_str(), "read"])
        .output()
        .unwrap();
    assert_eq!(ok(&out), "written by kipc\n");
}
