//! Real signals between real processes, through `kipc_host::signals`.
//!
//! The receiving side is `kipc-signal-peer` (one `Signals` per process);
//! this process sends. Tests that need a `Signals` in this process take
//! `LOCK`, since there can be only one at a time.
//!
//! `KIPC_SIGNAL_RT_COUNT` sets how many real-time signals the queueing test
//! sends (default 100,000).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kipc_core::signal::{SigSet, Signal};
use kipc_host::signals::{self, Installed, Signals};
use rustix::io::Errno;

const PEER: &str = env!("CARGO_BIN_EXE_kipc-signal-peer");
static LOCK: Mutex<()> = Mutex::new(());

struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(args: &[&str]) -> Peer {
        let mut child = Command::new(PEER)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn kipc-signal-peer");
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().expect("piped"));
        Peer { child, stdin, out }
    }
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    fn line(&mut self) -> String {
        let mut l = String::new();
        self.out.read_line(&mut l).expect("read peer");
        l.trim_end().to_string()
    }
    fn finish(mut self) -> Vec<String> {
        drop(self.stdin.take());
        let mut rest = Vec::new();
        loop {
            let l = self.line();
            if l.is_empty() {
                break;
            }
            rest.push(l);
        }
        let status = self.child.wait().expect("wait peer");
        assert!(status.success(), "peer failed: {status}; output {rest:?}");
        rest
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn rt_signals_from_another_process_arrive_all_in_order_with_payloads() {
    let n: u64 = std::env::var("KIPC_SIGNAL_RT_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let sig = signals::rt(1).expect("SIGRTMIN+1");
    let mut peer = Peer::spawn(&["rt-recv", "1", &n.to_string()]);
    assert_eq!(peer.line(), "ready");
    let start = Instant::now();
    let mut eagain = 0u64;
    for v in 0..n {
        loop {
            match signals::sigqueue(peer.pid(), sig, v as usize) {
                Ok(()) => break,
                Err(e) if e.errno() == Some(Errno::AGAIN) => {
                    eagain += 1;
                    std::thread::yield_now();
                }
                Err(e) => panic!("sigqueue {v}: {e}"),
            }
        }
    }
    let out = peer.finish();
    eprintln!(
        "{n} x {} sent in {:?} ({eagain} EAGAIN retries); receiver: {out:?}",
        signals::signal_name(sig),
        start.elapsed()
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].starts_with(&format!("ok {n} lost 0 ")), "{out:?}");
}

#[test]
fn standard_signal_burst_while_blocked_is_merged_and_delivered_once_on_unblock() {
    let mut peer = Peer::spawn(&["burst"]);
    assert_eq!(peer.line(), "ready");
    for _ in 0..50 {
        signals::kill(peer.pid(), Signal::USR1).expect("kill USR1");
        signals::sigqueue(peer.pid(), Signal::USR2, 7).expect("sigqueue USR2");
    }
    let stdin = peer.stdin.as_mut().expect("stdin");
    writeln!(stdin, "go").expect("write go");
    let both = SigSet::from_signals(&[Signal::USR1, Signal::USR2]);
    assert_eq!(peer.line(), format!("pending {:x}", both.bits()));
    let out = peer.finish();
    assert_eq!(out, ["got SIGUSR1", "got SIGUSR2", "done"]);
}

/// The state letter in /proc/PID/stat (after the parenthesised name).
fn proc_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
        .expect("state field")
}

fn wait_state(pid: i32, want: &[char]) -> char {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = proc_state(pid);
        if want.contains(&s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigstop_stops_and_sigcont_continues_even_when_the_child_blocks_sigcont() {
    let mut peer = Peer::spawn(&["block-cont"]);
    assert_eq!(peer.line(), "ready");
    let pid = peer.pid();
    signals::kill(pid, Signal::STOP).expect("SIGSTOP");
    assert_eq!(wait_state(pid, &['T']), 'T');
    // Rule 8: SIGCONT continues the process though it is blocked there.
    signals::kill(pid, Signal::CONT).expect("SIGCONT");
    let s = wait_state(pid, &['S', 'R']);
    assert!(s == 'S' || s == 'R', "state {s} after SIGCONT");
    // Stopped again, continued through a pidfd this time. SIGSTOP, not
    // SIGTSTP: a default-action SIGTSTP to an orphaned process group is
    // discarded (rule 8), and whether the test's group is orphaned depends on
    // how the test runner was started (it is under CI).
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid).expect("pid"),
        rustix::process::PidfdFlags::empty(),
    )
    .expect("pidfd_open");
    signals::pidfd_send_signal(&pidfd, Signal::STOP).expect("SIGSTOP");
    assert_eq!(wait_state(pid, &['T']), 'T');
    signals::pidfd_send_signal(&pidfd, Signal::CONT).expect("SIGCONT");
    let s = wait_state(pid, &['S', 'R']);
    assert!(s == 'S' || s == 'R', "state {s} after SIGCONT");
    assert!(peer.finish().is_empty());
}

#[test]
fn raising_from_handlers_while_the_reader_consumes_loses_nothing_and_never_deadlocks() {
    let start = Instant::now();
    let peer = Peer::spawn(&["storm", "20000"]);
    let out = peer.finish();
    eprintln!(
        "storm of 20000 RT + 20000 USR1 in {:?}: {out:?}",
        start.elapsed()
    );
    let words: Vec<&str> = out
        .first()
        .map(|l| l.split(' ').collect())
        .unwrap_or_default();
    assert!(
        matches!(words.as_slice(), ["ok", "20000", usr1, "lost", "0"] if usr1.parse::<u64>().is_ok_and(|u| (1..=20000).contains(&u))),
        "{out:?}"
    );
}

#[test]
fn drop_restores_the_previous_disposition() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let hup = Signal::HUP;
    let old = signals::disposition(hup).expect("query");
    assert_eq!(old, Installed::Default);
    signals::block(SigSet::from(Signal::WINCH)).expect("block");
    let sigs = Signals::new(SigSet::from_signals(&[hup, Signal::WINCH])).expect("Signals");
    assert_eq!(signals::disposition(hup).expect("query"), Installed::Kipc);
    // Only one at a time.
    assert!(Signals::new(SigSet::from(Signal::USR2)).is_err());
    drop(sigs);
    assert_eq!(
        signals::disposition(hup).expect("query"),
        Installed::Default
    );
    assert_eq!(
        signals::disposition(Signal::WINCH).expect("query"),
        Installed::Default
    );
    signals::unblock(SigSet::from(Signal::WINCH)).expect("unblock");
    // A new one may be made once the old one is gone.
    drop(Signals::new(SigSet::from(Signal::USR2)).expect("second Signals"));
}

#[test]
fn previous_handler_is_chained_and_restored() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let sig = Signal::USR2;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    // SAFETY: the action only does an atomic increment, async-signal-safe.
    let id = unsafe {
        signal_hook_registry::register(sig.number() as i32, move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
    }
    .expect("register");
    let before = signals::disposition(sig).expect("query");
    assert!(matches!(before, Installed::Other(_)), "{before:?}");
    let mut sigs = Signals::new(SigSet::from(sig)).expect("Signals");
    signals::kill(std::process::id() as i32, sig).expect("kill");
    let got = sigs
        .wait_timeout(Duration::from_secs(5))
        .expect("wait")
        .expect("a signal");
    assert_eq!((got.signo, got.pid), (sig, std::process::id()));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "previous handler chained");
    drop(sigs);
    assert_eq!(signals::disposition(sig).expect("query"), before);
    signal_hook_registry::unregister(id);
}

#[test]
fn rt_signals_queued_while_the_receiver_is_stopped_are_throttled_not_lost() {
    // 10,000 instances wait in the kernel while the receiver is stopped; on
    // SIGCONT its handler runs for them back to back, far past the inbox's
    // throttle mark, so the rest must stay in the kernel until read.
    let n = 10_000u64;
    let sig = signals::rt(1).expect("SIGRTMIN+1");
    let mut peer = Peer::spawn(&["rt-recv", "1", &n.to_string()]);
    assert_eq!(peer.line(), "ready");
    signals::kill(peer.pid(), Signal::STOP).expect("SIGSTOP");
    assert_eq!(wait_state(peer.pid(), &['T']), 'T');
    for v in 0..n {
        while let Err(e) = signals::sigqueue(peer.pid(), sig, v as usize) {
            assert_eq!(e.errno(), Some(Errno::AGAIN), "sigqueue {v}: {e}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    signals::kill(peer.pid(), Signal::CONT).expect("SIGCONT");
    let out = peer.finish();
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].starts_with(&format!("ok {n} lost 0 ")), "{out:?}");
}
