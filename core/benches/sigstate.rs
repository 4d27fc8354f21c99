//! What `signal::Shared`'s spin lock costs per operation, beside the
//! lock-free raise: one thread, no contention (the lock's fast path, which is
//! what an OS-less kernel pays on every call; contended figures on this
//! 2-core shared machine would measure the scheduler).
//!
//! Run with `cargo bench -p kipc-core --bench sigstate` (smoke test:
//! `... --bench sigstate -- --test`).
//!
//! Two passes:
//!
//! 1. criterion group `sigstate`, one benchmark per row below;
//! 2. an interleaved pass: `KIPC_BENCH_ROUNDS` rounds (default 101, `0`
//!    skips it), each timing every row once over a batch of 20 000 calls,
//!    then the median ns per call of each row and the lock's cost: the
//!    median over rounds of the locked row minus the same work on a bare
//!    `Process` (which absorbs the inbox too but takes no lock) timed right
//!    after it. Load changes on the shared machine hit both rows of a pair
//!    alike.
//!
//! Rows:
//! - `raise std`: `Shared::raise(SIGUSR1)`, lock-free (one `fetch_or`);
//! - `raise rt + pop`: a real-time raise into the inbox's queue and the pop
//!   that drains it (the queue would fill otherwise);
//! - `absorb locked` / `absorb bare`: taking the lock (which absorbs the
//!   empty inbox) and releasing it, against the absorb alone;
//! - `sigprocmask locked` / `sigprocmask bare`;
//! - `next_delivery (none) locked` / `bare`: nothing pending;
//! - `raise + next_delivery locked` / `bare`: the whole path of one
//!   standard signal, raised lock-free and taken under the lock.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use kipc_core::signal::{How, Process, Sender, Shared, SigInfo, SigSet, Signal, SignalInbox};

type S = Shared<4, 64, 64>;
type P = Process<4, 64>;

const USR1: SigInfo = SigInfo::user(Signal::USR1, Sender::new(1, 0));

/// The state a bare-`Process` row works on: what `Shared` holds, without the
/// lock.
struct Bare {
    process: P,
    inbox: SignalInbox<64>,
}

impl Bare {
    fn new() -> Self {
        Bare {
            process: P::new(),
            inbox: SignalInbox::new(),
        }
    }
}

/// One row: its name and one call of the measured work.
struct Row {
    name: &'static str,
    run: Box<dyn FnMut()>,
}

fn rows() -> Vec<Row> {
    let usr2 = SigSet::from(Signal::USR2);
    let mut rows = Vec::new();
    let mk = |name: &'static str, run: Box<dyn FnMut()>| Row { name, run };

    let s = Box::leak(Box::new(S::new()));
    rows.push(mk(
        "raise std",
        Box::new(move || {
            s.raise(black_box(USR1)).unwrap();
        }),
    ));
    let s = Box::leak(Box::new(S::new()));
    let mut v = 0u64;
    rows.push(mk(
        "raise rt + pop",
        Box::new(move || {
            v += 1;
            let info = SigInfo::queued(Signal::RTMIN, Sender::new(1, 0), v);
            s.raise(black_box(info)).unwrap();
            black_box(s.inbox().realtime.pop());
        }),
    ));

    let s = Box::leak(Box::new(S::new()));
    rows.push(mk(
        "absorb locked",
        Box::new(move || {
            black_box(s.lock());
        }),
    ));
    let mut b = Bare::new();
    rows.push(mk(
        "absorb bare",
        Box::new(move || {
            black_box(b.process.absorb(&b.inbox));
        }),
    ));

    let s = Box::leak(Box::new(S::new()));
    let mut block = false;
    rows.push(mk(
        "sigprocmask locked",
        Box::new(move || {
            block = !block;
            let how = if block { How::Block } else { How::Unblock };
            black_box(s.sigprocmask(0, how, black_box(usr2)).unwrap());
        }),
    ));
    let mut b = Bare::new();
    let mut block = false;
    rows.push(mk(
        "sigprocmask bare",
        Box::new(move || {
            block = !block;
            let how = if block { How::Block } else { How::Unblock };
            b.process.absorb(&b.inbox);
            black_box(b.process.sigprocmask(0, how, black_box(usr2)).unwrap());
        }),
    ));

    let s = Box::leak(Box::new(S::new()));
    rows.push(mk(
        "next_delivery (none) locked",
        Box::new(move || {
            black_box(s.next_delivery(black_box(0)).unwrap());
        }),
    ));
    let mut b = Bare::new();
    rows.push(mk(
        "next_delivery (none) bare",
        Box::new(move || {
            b.process.absorb(&b.inbox);
            black_box(b.process.next_delivery(black_box(0)).unwrap());
        }),
    ));

    let s = Box::leak(Box::new(S::new()));
    rows.push(mk(
        "raise + next_delivery locked",
        Box::new(move || {
            s.raise(black_box(USR1)).unwrap();
            let d = s.next_delivery(0).unwrap();
            assert!(d.is_some());
            black_box(d);
        }),
    ));
    let mut b = Bare::new();
    rows.push(mk(
        "raise + next_delivery bare",
        Box::new(move || {
            b.inbox.raise(black_box(USR1)).unwrap();
            b.process.absorb(&b.inbox);
            let d = b.process.next_delivery(0).unwrap();
            assert!(d.is_some());
            black_box(d);
        }),
    ));
    rows
}

fn sigstate(c: &mut Criterion) {
    let mut g = c.benchmark_group("sigstate");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    for mut row in rows() {
        g.bench_function(row.name, |b| b.iter(&mut row.run));
    }
    g.finish();
}

criterion_group!(benches, sigstate);

/// The interleaved pass: median ns per call of each row over `rounds`.
fn interleaved(rounds: usize) {
    const BATCH: u32 = 20_000;
    let mut rows = rows();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    for _ in 0..rounds {
        for (row, out) in rows.iter_mut().zip(&mut samples) {
            let start = Instant::now();
            for _ in 0..BATCH {
                (row.run)();
            }
            out.push(start.elapsed().as_nanos() as f64 / f64::from(BATCH));
        }
    }
    let medians: Vec<f64> = samples
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect();
    let median_of = |name: &str| {
        let i = rows.iter().position(|r| r.name == name).unwrap();
        medians[i]
    };
    println!("\nsigstate, interleaved: median of {rounds} rounds x {BATCH} calls, one thread");
    println!("{:<30} {:>10} {:>12}", "row", "ns/call", "x raise std");
    let raise = median_of("raise std");
    for (row, m) in rows.iter().zip(&medians) {
        println!("{:<30} {:>10.1} {:>11.2}x", row.name, m, m / raise);
    }
    // Each round's locked and bare rows ran back to back, so their
    // difference is taken per round, then the median of the differences.
    println!("lock cost, median over rounds of (locked - bare) in the same round:");
    let index_of = |name: &str| rows.iter().position(|r| r.name == name).unwrap();
    for op in [
        "absorb",
        "sigprocmask",
        "next_delivery (none)",
        "raise + next_delivery",
    ] {
        let (l, b) = (
            index_of(&format!("{op} locked")),
            index_of(&format!("{op} bare")),
        );
        let mut diffs: Vec<f64> = (0..rounds).map(|r| samples[l][r] - samples[b][r]).collect();
        diffs.sort_by(f64::total_cmp);
        println!("  {op:<28} {:>8.1} ns", diffs[diffs.len() / 2]);
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let test_mode = std::env::args().any(|a| a == "--test");
    let rounds = std::env::var("KIPC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if test_mode { 1 } else { 101 });
    if rounds > 0 {
        interleaved(rounds);
    }
}
