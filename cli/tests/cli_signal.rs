//! `kipc signal`, run as a user runs it: a shell's `kill -USR1` and
//! `kipc signal send` reach `kipc signal wait`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

const KIPC: &str = env!("CARGO_BIN_EXE_kipc");

#[test]
fn shell_kill_and_kipc_send_reach_kipc_signal_wait() {
    let mut waiter = Command::new(KIPC)
        .args([
            "signal",
            "wait",
            "--signals",
            "USR1,RTMIN+1",
            "--count",
            "2",
            "--timeout",
            "20000ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kipc signal wait");
    let pid = waiter.id();
    let mut err = BufReader::new(waiter.stderr.take().expect("piped"));
    let mut ready = String::new();
    err.read_line(&mut ready).expect("read readiness line");
    assert!(
        ready.starts_with("kipc: waiting for SIGUSR1,SIGRTMIN+1"),
        "{ready:?}"
    );

    let sh = Command::new("sh")
        .args(["-c", &format!("kill -USR1 {pid}")])
        .status()
        .expect("sh");
    assert!(sh.success());
    let send = Command::new(KIPC)
        .args([
            "signal",
            "send",
            &pid.to_string(),
            "RTMIN+1",
            "--value",
            "42",
        ])
        .status()
        .expect("kipc signal send");
    assert!(send.success());

    let out = waiter.wait_with_output().expect("wait");
    assert!(out.status.success(), "{:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let usr1 = lines
        .iter()
        .find(|l| l.starts_with("SIGUSR1 from="))
        .expect("USR1 line");
    assert!(
        !usr1.contains("from=0") && !usr1.contains("value="),
        "{usr1}"
    );
    let rt = lines
        .iter()
        .find(|l| l.starts_with("SIGRTMIN+1 from="))
        .expect("RT line");
    assert!(rt.ends_with(" value=42"), "{rt}");
}

#[test]
fn signal_wait_times_out_with_exit_3_and_refuses_sigkill() {
    let out = Command::new(KIPC)
        .args(["signal", "wait", "--timeout", "100ms"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let out = Command::new(KIPC)
        .args(["signal", "wait", "--signals", "USR1,KILL"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let mut e = String::new();
    out.stderr.as_slice().read_to_string(&mut e).expect("utf8");
    assert!(e.contains("SIGKILL") && !e.contains("panicked"), "{e}");
}

#[test]
fn signal_table_lists_default_actions() {
    let out = Command::new(KIPC)
        .args(["signal", "table"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let t = String::from_utf8_lossy(&out.stdout);
    for want in [
        " 17  SIGCHLD      ignore",
        " 18  SIGCONT      continue",
        " 20  SIGTSTP      stop",
        " 11  SIGSEGV      core",
        " 15  SIGTERM      terminate",
    ] {
        assert!(t.lines().any(|l| l == want), "missing {want:?} in\n{t}");
    }
}
