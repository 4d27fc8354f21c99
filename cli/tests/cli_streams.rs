//! `kipc fifo`, `kipc spool` and `kipc lock` against peers kipc did not
//! write: `mkfifo(1)`, shell redirection, `cat`, and `flock(1)`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const KIPC: &str = env!("CARGO_BIN_EXE_kipc");

/// A fresh path in the temp directory, removed (file or tree) when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        TempPath(std::env::temp_dir().join(format!(
            "kipc-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }

    fn s(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

fn kipc(args: &[&str]) -> Output {
    Command::new(KIPC).args(args).output().unwrap()
}

fn spawn_kipc(args: &[&str]) -> Child {
    Command::new(KIPC)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn has_flock() -> bool {
    let ok = Command::new("flock")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("note: flock(1) (util-linux) not found; skipping");
    }
    ok
}

/// Spawns a lock holder with stdin and stdout piped and waits for its first
/// line of output, "locked"; closing its stdin makes it exit.
fn spawn_holder(program: &str, args: &[&str]) -> Child {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[test]
fn shell_redirection_into_an_mkfifo_fifo_reaches_kipc_fifo_recv() {
    let p = TempPath::new("mkfifo");
    assert!(Command::new("mkfifo").arg(&p.0).status().unwrap().success());
    let reader = spawn_kipc(&[
        "fifo",
        "recv",
        p.s(),
        "--count",
        "1",
        "--timeout",
        "10000ms",
    ]);
    let sh = Command::new("sh")
        .args(["-c", &format!("echo hi > '{}'", p.s())])
        .status()
        .unwrap();
    assert!(sh.success());
    let out = reader.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "hi\n");
}

#[test]
fn cat_reads_what_kipc_fifo_send_writes_to_a_kipc_fifo() {
    let p = TempPath::new("cat");
    let out = kipc(&["fifo", "create", p.s()]);
    assert!(out.status.success(), "{out:?}");
    let meta = std::fs::metadata(&p.0).unwrap();
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    assert!(meta.file_type().is_fifo());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let cat = Command::new("cat")
        .arg(&p.0)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = kipc(&["fifo", "send", p.s(), "hello there", "--timeout", "10000ms"]);
    assert!(out.status.success(), "{out:?}");
    let out = cat.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "hello there\n");
    let out = kipc(&["fifo", "rm", p.s()]);
    assert!(out.status.success(), "{out:?}");
    assert!(!p.0.exists());
}

#[test]
fn fifo_whose_writer_never_comes_times_out_with_exit_3() {
    let p = TempPath::new("nowriter");
    assert!(kipc(&["fifo", "create", p.s()]).status.success());
    let t = Instant::now();
    let out = kipc(&["fifo", "recv", p.s(), "--timeout", "200ms"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stdout(&out).is_empty());
    assert!(t.elapsed() < Duration::from_secs(10));
    // And a writer whose reader never comes.
    let out = kipc(&["fifo", "send", p.s(), "x", "--timeout", "200ms"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no reader"));
}

#[test]
fn fifo_recv_count_keeps_reading_across_writers() {
    let p = TempPath::new("count");
    assert!(kipc(&["fifo", "create", p.s()]).status.success());
    let reader = spawn_kipc(&[
        "fifo",
        "recv",
        p.s(),
        "--count",
        "3",
        "--timeout",
        "10000ms",
    ]);
    for m in ["one", "two", "three"] {
        let out = kipc(&["fifo", "send", p.s(), m, "--timeout", "10000ms"]);
        assert!(out.status.success(), "{out:?}");
    }
    let out = reader.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "one\ntwo\nthree\n");
}

#[test]
fn fifo_create_refuses_an_existing_regular_file() {
    let p = TempPath::new("regular");
    std::fs::write(&p.0, b"data").unwrap();
    let out = kipc(&["fifo", "create", p.s()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a FIFO"), "{err}");
    assert_eq!(std::fs::read(&p.0).unwrap(), b"data");
}

#[test]
fn kipc_lock_gives_up_while_flock_1_holds_the_lock() {
    if !has_flock() {
        return;
    }
    let p = TempPath::new("flock1");
    let mut holder = spawn_holder("flock", &[p.s(), "sh", "-c", "echo locked; read x; exit 0"]);
    let t = Instant::now();
    let out = kipc(&["lock", "--timeout", "200ms", p.s(), "--", "true"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(t.elapsed() >= Duration::from_millis(200));
    let out = kipc(&["lock", "--shared", "--timeout", "0", p.s(), "--", "true"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    let out = kipc(&[
        "lock",
        "--timeout",
        "5000ms",
        p.s(),
        "--",
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
}

#[test]
fn flock_1_fails_while_kipc_lock_runs_its_command() {
    if !has_flock() {
        return;
    }
    let p = TempPath::new("kipclock");
    let mut holder = spawn_holder(
        KIPC,
        &[
            "lock",
            p.s(),
            "--",
            "sh",
            "-c",
            "echo locked; read x; exit 0",
        ],
    );
    let st = Command::new("flock")
        .args(["-n", p.s(), "true"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(1), "flock -n got a lock kipc holds");
    // A shared flock is refused too.
    let st = Command::new("flock")
        .args(["-n", "-s", p.s(), "true"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(1));
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    let st = Command::new("flock")
        .args(["-n", p.s(), "true"])
        .status()
        .unwrap();
    assert!(st.success(), "the lock outlived kipc lock");
}

#[test]
fn kipc_lock_shared_coexists_with_a_shared_flock_1() {
    if !has_flock() {
        return;
    }
    let p = TempPath::new("shared");
    let mut holder = spawn_holder(
        "flock",
        &["-s", p.s(), "sh", "-c", "echo locked; read x; exit 0"],
    );
    let out = kipc(&["lock", "--shared", "--timeout", "0", p.s(), "--", "true"]);
    assert!(out.status.success(), "{out:?}");
    drop(holder.stdin.take());
    holder.wait().unwrap();
}

#[test]
fn kipc_lock_reports_a_missing_command_as_127() {
    let p = TempPath::new("missing");
    let out = kipc(&["lock", p.s(), "--", "/nonexistent/kipc-no-such-program"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
}

#[test]
fn spool_send_then_recv_round_trips_in_order() {
    let d = TempPath::new("spool");
    let out = kipc(&["spool", "send", d.s(), "a", "b c", "d"]);
    assert!(out.status.success(), "{out:?}");
    let out = kipc(&["spool", "recv", d.s(), "--count", "2"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "a\nb c\n");
    let out = kipc(&["spool", "recv", d.s()]);
    assert_eq!(stdout(&out), "d\n");
    let out = kipc(&["spool", "recv", d.s(), "--timeout", "100ms"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

#[test]
fn two_concurrent_spool_readers_take_every_message_exactly_once() {
    let d = TempPath::new("spool2");
    // Create the directory first so both readers watch the same one.
    assert!(kipc(&["spool", "recv", d.s()]).status.code() == Some(3));
    let readers: Vec<Child> = (0..2)
        .map(|_| spawn_kipc(&["spool", "recv", d.s(), "--timeout", "2000ms"]))
        .collect();
    const N: usize = 300;
    let msgs: Vec<String> = (0..N).map(|i| format!("m{i:04}")).collect();
    // Two writers: one process with the first half, then this process.
    let first: Vec<&str> = msgs.iter().take(N / 2).map(String::as_str).collect();
    let mut args = vec!["spool", "send", d.s()];
    args.extend(first);
    let out = kipc(&args);
    assert!(out.status.success(), "{out:?}");
    let spool = kipc_host::spool::Spool::open(&d.0).unwrap();
    for m in msgs.iter().skip(N / 2) {
        spool.send(m.as_bytes()).unwrap();
    }
    let mut all = Vec::new();
    for r in readers {
        let out = r.wait_with_output().unwrap();
        let text = stdout(&out);
        let got: Vec<String> = text.lines().map(str::to_owned).collect();
        // Each reader's share comes out in send order.
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        all.extend(got);
    }
    assert_eq!(all.len(), N, "lost or duplicated messages");
    let set: HashSet<&String> = all.iter().collect();
    assert_eq!(set.len(), N);
    let out = kipc(&["spool", "recv", d.s()]);
    assert_eq!(out.status.code(), Some(3), "left over: {out:?}");
}

#[test]
fn spool_refuses_a_world_writable_directory() {
    let d = TempPath::new("spoolmode");
    std::fs::create_dir(&d.0).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&d.0, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = kipc(&["spool", "send", d.s(), "x"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("writable"));
}
