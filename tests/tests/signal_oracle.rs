//! The kernel as oracle for the core signal state machine.
//!
//! Random operation sequences (block, unblock, SIG_DFL / SIG_IGN / handler,
//! `kill` and `sigqueue` to oneself, `sigtimedwait` over a set) run both on
//! the core's `Process<1, 64>` and in a real process, `kipc-signal-peer
//! oracle`, which receives handled signals through
//! `kipc_host::signals::Signals` and takes blocked ones with `sigtimedwait`.
//! After every operation both sides report what the operation returned,
//! which signals the handler got (signal, `si_code`, `si_value`, in
//! delivery order) and `sigpending()`; the two reports must be equal.
//! Where they differ, the model is wrong unless SIGNALS.md says otherwise.
//!
//! One peer process runs a whole batch: between sequences it resets its
//! state (every tested signal ignored, which flushes it, rule 6; then back
//! to the handler, unblocked) and checks that nothing is left pending.
//!
//! 1,000 sequences by default. More, or another seed:
//!
//! ```text
//! KIPC_SIGNAL_ORACLE_SEQS=100000 KIPC_SIGNAL_ORACLE_SEED=42 \
//!     cargo test --release -p kipc-tests --test signal_oracle
//! ```
//!
//! A failure prints the seed, the sequence and both reports.

#[path = "../src/signal_ops.rs"]
// Shared with the peer/test, each of which uses only part of it.
#[allow(dead_code)]
mod signal_ops;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use kipc_core::signal::{
    Action, DefaultAction, Disposition, How, Process, SaFlags, Sender, SigSet, Signal,
};
use kipc_tests::ChildGuard;
use signal_ops::{tested, Op};

const PEER: &str = env!("CARGO_BIN_EXE_kipc-signal-peer");

/// splitmix64: small, seedable, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Disp {
    Handler,
    Default,
    Ignore,
}

/// A random sequence that never leaves a terminate-by-default signal both
/// unblocked and `SIG_DFL` (the child would die), ending with `Z`.
fn generate(rng: &mut Rng) -> Vec<Op> {
    let sigs: Vec<Signal> = tested().iter().collect();
    let mut disp = [Disp::Handler; 65];
    let mut blocked = SigSet::EMPTY;
    let kills = |s: Signal| s.default_action() == DefaultAction::Terminate;
    let len = 3 + rng.below(38);
    let mut ops = Vec::with_capacity(len + 1);
    for _ in 0..len {
        let s = sigs[rng.below(sigs.len())];
        let n = s.number() as usize;
        let op = match rng.below(100) {
            0..=24 => Op::Kill(s),
            25..=44 => Op::Queue(s, rng.below(1_000_000) as u32),
            45..=56 => Op::Block(s),
            57..=68 if disp[n] == Disp::Default && kills(s) => Op::Block(s),
            57..=68 => Op::Unblock(s),
            69..=73 => Op::Handler(s),
            74..=78 => Op::Ignore(s),
            79..=83 if !blocked.contains(s) && kills(s) => Op::Block(s),
            79..=83 => Op::Default(s),
            _ => {
                let set: SigSet = sigs.iter().copied().filter(|_| rng.below(2) == 0).collect();
                Op::Take(set)
            }
        };
        match op {
            Op::Block(s) => drop(blocked.insert(s)),
            Op::Unblock(s) => drop(blocked.remove(s)),
            Op::Handler(s) => disp[s.number() as usize] = Disp::Handler,
            Op::Ignore(s) => disp[s.number() as usize] = Disp::Ignore,
            Op::Default(s) => disp[s.number() as usize] = Disp::Default,
            _ => {}
        }
        ops.push(op);
    }
    ops.push(Op::TakeAll);
    ops
}

fn fmt(tag: char, i: &kipc_core::signal::SigInfo) -> String {
    format!("{tag}:{}:{}:{}", i.signo.number(), i.code, i.value)
}

/// What the core model reports for `ops`, in the peer's format.
fn model(ops: &[Op], pid: u32) -> String {
    let all = tested();
    let handler = Disposition::handler(1, SaFlags::SIGINFO, SigSet::EMPTY);
    let mut p: Process<1, 64> = Process::new();
    for s in all {
        p.set_action(s, handler).expect("catchable");
    }
    let me = Sender::new(pid, 0);
    let mut groups = Vec::new();
    for op in ops {
        let mut g = Vec::new();
        match *op {
            Op::Block(s) => drop(p.sigprocmask(0, How::Block, SigSet::from(s))),
            Op::Unblock(s) => drop(p.sigprocmask(0, How::Unblock, SigSet::from(s))),
            Op::Default(s) => drop(p.set_action(s, Disposition::Default)),
            Op::Ignore(s) => drop(p.set_action(s, Disposition::Ignore)),
            Op::Handler(s) => drop(p.set_action(s, handler)),
            Op::Kill(s) => {
                p.kill(s, me).expect("kill never fails");
                g.push("ok".to_string());
            }
            Op::Queue(s, v) => match p.sigqueue(s, me, u64::from(v)) {
                Ok(_) => g.push("ok".into()),
                Err(_) => g.push("EAGAIN".into()),
            },
            Op::Take(set) => match p.sigwait(0, set).expect("thread 0") {
                Some(i) => g.push(fmt('t', &i)),
                None => g.push("t:-".into()),
            },
            Op::TakeAll => {
                let _ = p.sigprocmask(0, How::Block, all);
                while let Some(i) = p.sigwait(0, all).expect("thread 0") {
                    g.push(fmt('t', &i));
                }
            }
        }
        while let Some(d) = p.next_delivery(0).expect("thread 0") {
            match d.action {
                Action::RunHandler { saved_mask, .. } => {
                    g.push(fmt('h', &d.info));
                    p.handler_return(0, saved_mask).expect("thread 0");
                }
                Action::Ignore => {}
                other => g.push(format!("x:{}:{other:?}", d.info.signo.number())),
            }
        }
        let pending = p.sigpending(0).expect("thread 0").intersection(all);
        g.push(format!("p:{:x}", pending.bits()));
        groups.push(g.join(" "));
    }
    groups.join(" | ")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn core_signal_model_matches_the_linux_kernel() {
    let seqs = env_u64("KIPC_SIGNAL_ORACLE_SEQS", 1000);
    let seed = env_u64(
        "KIPC_SIGNAL_ORACLE_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    );
    eprintln!(
        "signal oracle: {seqs} sequences, seed {seed} (KIPC_SIGNAL_ORACLE_SEED={seed} to replay)"
    );
    let mut rng = Rng(seed);
    let batch: Vec<Vec<Op>> = (0..seqs).map(|_| generate(&mut rng)).collect();

    let mut child = ChildGuard::spawn(
        Command::new(PEER)
            .arg("oracle")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    )
    .expect("spawn kipc-signal-peer");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("piped");
    let lines: Vec<String> = batch
        .iter()
        .map(|ops| ops.iter().map(Op::encode).collect::<Vec<_>>().join(" "))
        .collect();
    let writer = std::thread::spawn(move || {
        for l in lines {
            if writeln!(stdin, "{l}").is_err() {
                break;
            }
        }
    });
    let out = BufReader::new(child.stdout.take().expect("piped"));
    let mut done = 0;
    for (i, line) in out.lines().enumerate() {
        let got = line.expect("read peer output");
        let ops = &batch[i];
        let want = model(ops, pid);
        if got != want {
            let seq: Vec<String> = ops.iter().map(Op::encode).collect();
            let _ = child.kill();
            panic!(
                "seed {seed}, sequence {i} differs\n  ops:   {}\n  linux: {got}\n  model: {want}",
                seq.join(" ")
            );
        }
        done += 1;
    }
    writer.join().expect("writer");
    let status = child.wait().expect("wait");
    assert!(status.success(), "peer failed: {status} (seed {seed})");
    assert_eq!(done, seqs as usize, "peer stopped early (seed {seed})");
}
