//! Ring benchmarks: kipc's SPSC and MPMC rings against `rtrb`,
//! `heapless::spsc` and `crossbeam_queue::ArrayQueue`, moving `u64`s between
//! threads.
//!
//! Run with `cargo bench -p kipc-core --bench rings` (smoke test:
//! `... --bench rings -- --test`). Every ring has capacity 4096 (heapless:
//! `Queue<u64, 4096>`, which holds 4095).
//!
//! Two passes:
//!
//! 1. criterion groups `spsc_throughput`, `spsc_rtt`, `mpmc_throughput`
//!    (elements/s resp. time per round trip);
//! 2. an *interleaved* pass: `KIPC_BENCH_ROUNDS` rounds (default 11, `0`
//!    skips it), each running every contender once in turn, then medians and
//!    ratios. On a small, shared machine the interleaved ratios are the figures
//!    to quote: load changes hit every contender alike. Each ratio is printed
//!    twice: the ratio of the two medians, and the median (with range) of the
//!    per-round ratios, which pairs samples taken moments apart.
//!    `kipc_slowpop4` is a diagnostic (see [`slowpop_spsc`]). To measure a
//!    change to a ring, compare against a copy of the ring as it was, in
//!    the same binary (issues 14 and 18 did so with copies under
//!    `benches/rings/`, removed when they closed). Single-item figures of the SPSC rings move by up to
//!    2x between builds of identical ring code (code placement of the hot
//!    loops): compare figures from one binary only.
//!
//! Each worker thread is pinned to its own CPU (thread `k` to the `k`-th CPU
//! of the process's affinity mask, round-robin): without that the scheduler
//! often stacks both ends on one core under load and the figures measure
//! time slices. `KIPC_BENCH_PIN=0` disables pinning.
//!
//! `KIPC_BENCH_VERBOSE=1` prints every interleaved sample, sorted.
//!
//! `KIPC_BENCH_PASSES=mpmc` (a comma-separated subset of `spsc,rtt,mpmc`)
//! runs only those interleaved groups; a criterion filter that matches
//! nothing (`-- none`) then skips pass 1, for a quick look at one group.
//! `KIPC_BENCH_ITEMS=n` moves `n` items per interleaved throughput run
//! (default 4 Mi). `KIPC_BENCH_CASES=kipc,rtrb` runs only the named
//! contenders in the interleaved passes (fewer contenders per round: the pair
//! of a ratio is measured closer together in time).
//!
//! `KIPC_BENCH_SPIN_LIMIT=n` makes a waiter yield its CPU after `n` failed
//! calls in a row instead of 1024; `0` never yields. A diagnostic: on a
//! loaded machine the yields move the figures of rings whose failed calls
//! take different times (a linearizable ring's `pop` may wait in the call
//! before it reports empty, so its waiter yields less often per second).
//!
//! `KIPC_BENCH_MPMC_2X2=1` adds 2-producer/2-consumer MPMC cases (on a
//! 2-core machine these measure the scheduler more than the ring).
//!
//! Waiting on a full or empty ring spins with `std::hint::spin_loop`; if any
//! worker panics, a guard raises a shared abort flag so its peers stop
//! spinning and the panic reaches criterion instead of hanging the run.

// The rule "atomics and spin hints only through `kipc_core::sync`" keeps the
// library loom-checkable; this harness is not library code and is never run
// under loom, so it uses std's directly.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

/// Capacity of every ring.
const CAP: usize = 4096;
/// Items moved per criterion iteration.
const ITEMS: u64 = 1 << 20;
/// Failed attempts (each with a pause) before a waiter yields its CPU, unless
/// `KIPC_BENCH_SPIN_LIMIT` says otherwise.
const SPIN_LIMIT: u32 = 1 << 10;

/// `KIPC_BENCH_SPIN_LIMIT` (`0`: never yield), else [`SPIN_LIMIT`].
fn spin_limit() -> u32 {
    static LIMIT: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        match std::env::var("KIPC_BENCH_SPIN_LIMIT")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            Some(0) => u32::MAX,
            Some(n) => n,
            None => SPIN_LIMIT,
        }
    })
}
/// Items per `push_slice`/`pop_slice` call in the batch cases.
const BATCH: usize = 64;

// ---------------------------------------------------------------- harness --

/// Start line and abort flag shared by the threads of one measurement.
struct Ctl {
    /// [`spin_limit`], read once per measurement.
    spin_limit: u32,
    ready: AtomicUsize,
    go: AtomicBool,
    abort: AtomicBool,
}

impl Ctl {
    fn new() -> Self {
        Self {
            spin_limit: spin_limit(),
            ready: AtomicUsize::new(0),
            go: AtomicBool::new(false),
            abort: AtomicBool::new(false),
        }
    }

    /// Called on every failed attempt: pause; after `spin_limit` pauses in a
    /// row yield the CPU (when the machine is oversubscribed the peer may not
    /// be running at all); give up if a peer panicked.
    #[inline(always)]
    fn spin(&self, spins: &mut u32) {
        spin_loop();
        *spins += 1;
        if *spins >= self.spin_limit {
            *spins = 0;
            thread::yield_now();
        }
        if self.abort.load(Ordering::Relaxed) {
            panic!("a peer thread panicked");
        }
    }

    /// Announce readiness and wait for the start signal.
    fn wait_go(&self) {
        self.ready.fetch_add(1, Ordering::AcqRel);
        let mut spins = 0;
        while !self.go.load(Ordering::Acquire) {
            self.spin(&mut spins);
        }
    }

    /// Wait for `n` workers, then start them; returns the start time.
    fn start(&self, n: usize) -> Instant {
        while self.ready.load(Ordering::Acquire) < n {
            if self.abort.load(Ordering::Relaxed) {
                break;
            }
            thread::yield_now();
        }
        let t0 = Instant::now();
        self.go.store(true, Ordering::Release);
        t0
    }
}

/// The CPUs this process may run on, if pinning is enabled and there are at
/// least two.
fn pin_cpus() -> &'static [usize] {
    static CPUS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    CPUS.get_or_init(|| {
        if std::env::var_os("KIPC_BENCH_PIN").is_some_and(|v| v == "0") {
            return Vec::new();
        }
        // SAFETY: `set` is a plain bitmask owned by this frame; the call
        // fills it for the calling thread.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is valid for writes of `size_of::<cpu_set_t>()` bytes.
        let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
        if rc != 0 {
            return Vec::new();
        }
        let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            // SAFETY: `cpu` < CPU_SETSIZE and `set` is initialised.
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect();
        if cpus.len() >= 2 {
            cpus
        } else {
            Vec::new()
        }
    })
}

/// Pins the calling thread to the `k`-th allowed CPU (round-robin), if
/// pinning is on; best effort.
fn pin(k: usize) {
    let cpus = pin_cpus();
    if cpus.is_empty() {
        return;
    }
    // SAFETY: as in `pin_cpus`: a zeroed `cpu_set_t` is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the CPU number comes from the process mask, so it is below
    // CPU_SETSIZE; `set` is a valid, exclusively borrowed mask.
    unsafe { libc::CPU_SET(cpus[k % cpus.len()], &mut set) };
    // SAFETY: `set` is a valid mask of the size passed; pid 0 is this thread.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
}

/// Raises the abort flag if its thread unwinds.
struct AbortOnPanic<'a>(&'a Ctl);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.abort.store(true, Ordering::Relaxed);
            // Also release anyone still waiting at the start line.
            self.0.go.store(true, Ordering::Release);
        }
    }
}

/// `0 + 1 + ... + (n - 1)`, what the consumers' sums must add up to.
fn expected_sum(n: u64) -> u64 {
    (u128::from(n) * u128::from(n.saturating_sub(1)) / 2) as u64
}

/// Runs one producer and one consumer (owning their handles) over `n` items;
/// returns the time from the start signal to the consumer's last item.
fn run_pair<P, C>(n: u64, produce: P, consume: C) -> Duration
where
    P: FnOnce(&Ctl) + Send,
    C: FnOnce(&Ctl) -> u64 + Send,
{
    let ctl = Ctl::new();
    let (t0, (sum, end)) = thread::scope(|s| {
        let ctl = &ctl;
        let p = s.spawn(move || {
            let _guard = AbortOnPanic(ctl);
            pin(0);
            ctl.wait_go();
            produce(ctl);
        });
        let c = s.spawn(move || {
            let _guard = AbortOnPanic(ctl);
            pin(1);
            ctl.wait_go();
            let sum = consume(ctl);
            (sum, Instant::now())
        });
        let t0 = ctl.start(2);
        let r = c.join().unwrap();
        p.join().unwrap();
        (t0, r)
    });
    assert_eq!(sum, expected_sum(n), "items lost or duplicated");
    end - t0
}

/// Runs `np` producers and `nc` consumers sharing one ring; producer `i`
/// pushes its share of `0..n`, consumer `j` pops exactly its share of items.
fn run_many<P, C>(n: u64, np: usize, nc: usize, produce: P, consume: C) -> Duration
where
    P: Fn(&Ctl, u64, u64) + Sync,
    C: Fn(&Ctl, u64) -> u64 + Sync,
{
    let ctl = Ctl::new();
    let split = |k: usize, parts: usize| {
        let (k, parts) = (k as u64, parts as u64);
        (n * k / parts, n * (k + 1) / parts)
    };
    let (t0, sum, end) = thread::scope(|s| {
        let (ctl, produce, consume) = (&ctl, &produce, &consume);
        let ps: Vec<_> = (0..np)
            .map(|i| {
                let (lo, hi) = split(i, np);
                s.spawn(move || {
                    let _guard = AbortOnPanic(ctl);
                    pin(i);
                    ctl.wait_go();
                    produce(ctl, lo, hi);
                })
            })
            .collect();
        let cs: Vec<_> = (0..nc)
            .map(|j| {
                let (lo, hi) = split(j, nc);
                s.spawn(move || {
                    let _guard = AbortOnPanic(ctl);
                    pin(np + j);
                    ctl.wait_go();
                    let sum = consume(ctl, hi - lo);
                    (sum, Instant::now())
                })
            })
            .collect();
        let t0 = ctl.start(np + nc);
        let mut sum = 0u64;
        let mut end = t0;
        for c in cs {
            let (s, e) = c.join().unwrap();
            sum = sum.wrapping_add(s);
            end = end.max(e);
        }
        for p in ps {
            p.join().unwrap();
        }
        (t0, sum, end)
    });
    assert_eq!(sum, expected_sum(n), "items lost or duplicated");
    end - t0
}

/// Pushes `lo..hi` one at a time.
#[inline(always)]
fn produce_single(ctl: &Ctl, lo: u64, hi: u64, mut push: impl FnMut(u64) -> bool) {
    let mut spins = 0;
    for i in lo..hi {
        while !push(i) {
            ctl.spin(&mut spins);
        }
        spins = 0;
    }
}

/// Pops `n` items one at a time; returns their wrapping sum.
#[inline(always)]
fn consume_single(ctl: &Ctl, n: u64, mut pop: impl FnMut() -> Option<u64>) -> u64 {
    let mut sum = 0u64;
    let mut got = 0;
    let mut spins = 0;
    while got < n {
        match pop() {
            Some(v) => {
                sum = sum.wrapping_add(v);
                got += 1;
                spins = 0;
            }
            None => ctl.spin(&mut spins),
        }
    }
    sum
}

/// Pushes `lo..hi` in batches of up to `BATCH`; `push` returns how many of
/// the offered items it took.
#[inline(always)]
fn produce_batch(ctl: &Ctl, lo: u64, hi: u64, mut push: impl FnMut(&[u64]) -> usize) {
    let mut buf = [0u64; BATCH];
    let mut next = lo;
    while next < hi {
        let k = ((hi - next) as usize).min(BATCH);
        for (j, slot) in buf[..k].iter_mut().enumerate() {
            *slot = next + j as u64;
        }
        let (mut off, mut spins) = (0, 0);
        while off < k {
            let pushed = push(&buf[off..k]);
            if pushed == 0 {
                ctl.spin(&mut spins);
            }
            off += pushed;
        }
        next += k as u64;
    }
}

/// Pops `n` items in batches of up to `BATCH`; returns their wrapping sum.
#[inline(always)]
fn consume_batch(ctl: &Ctl, n: u64, mut pop: impl FnMut(&mut [u64]) -> usize) -> u64 {
    let mut buf = [0u64; BATCH];
    let mut sum = 0u64;
    let mut got = 0u64;
    let mut spins = 0;
    while got < n {
        let want = ((n - got) as usize).min(BATCH);
        let k = pop(&mut buf[..want]);
        if k == 0 {
            ctl.spin(&mut spins);
            continue;
        }
        spins = 0;
        for &v in &buf[..k] {
            sum = sum.wrapping_add(v);
        }
        got += k as u64;
    }
    sum
}

/// One-item ping-pong `iters` times: A pushes on ring 1, B pops it and pushes
/// it back on ring 2, A pops. Returns A's elapsed time.
fn run_rtt<A1, A2, B1, B2>(
    iters: u64,
    mut a_push: A1,
    mut a_pop: A2,
    mut b_pop: B1,
    mut b_push: B2,
) -> Duration
where
    A1: FnMut(u64) -> bool + Send,
    A2: FnMut() -> Option<u64> + Send,
    B1: FnMut() -> Option<u64> + Send,
    B2: FnMut(u64) -> bool + Send,
{
    let ctl = Ctl::new();
    thread::scope(|s| {
        let ctl = &ctl;
        let b = s.spawn(move || {
            let _guard = AbortOnPanic(ctl);
            pin(1);
            ctl.wait_go();
            let mut spins = 0;
            for _ in 0..iters {
                let v = loop {
                    match b_pop() {
                        Some(v) => break v,
                        None => ctl.spin(&mut spins),
                    }
                };
                while !b_push(v) {
                    ctl.spin(&mut spins);
                }
                spins = 0;
            }
        });
        let a = s.spawn(move || {
            let _guard = AbortOnPanic(ctl);
            pin(0);
            ctl.wait_go();
            let t0 = Instant::now();
            let mut spins = 0;
            for i in 0..iters {
                while !a_push(i) {
                    ctl.spin(&mut spins);
                }
                let v = loop {
                    match a_pop() {
                        Some(v) => break v,
                        None => ctl.spin(&mut spins),
                    }
                };
                spins = 0;
                assert_eq!(v, i, "ping-pong returned the wrong item");
            }
            t0.elapsed()
        });
        ctl.start(2);
        let d = a.join().unwrap();
        b.join().unwrap();
        d
    })
}

// ------------------------------------------------------------- contenders --

/// A named measurement: moves `n` items (throughput) or does `n` round trips
/// (latency) and returns the elapsed time.
type Case = (&'static str, fn(u64) -> Duration);

fn kipc_spsc(n: u64) -> Duration {
    let mut ring = Box::new(kipc_core::spsc::Ring::<u64, CAP>::new());
    let (mut tx, mut rx) = ring.split();
    run_pair(
        n,
        move |c| produce_single(c, 0, n, |v| tx.push(v).is_ok()),
        move |c| consume_single(c, n, || rx.pop()),
    )
}

fn kipc_spsc_batch(n: u64) -> Duration {
    let mut ring = Box::new(kipc_core::spsc::Ring::<u64, CAP>::new());
    let (mut tx, mut rx) = ring.split();
    run_pair(
        n,
        move |c| produce_batch(c, 0, n, |s| tx.push_slice(s)),
        move |c| consume_batch(c, n, |s| rx.pop_slice(s)),
    )
}

/// Diagnostic, not a contender: kipc's ring with a consumer that passes each
/// item through `K` dependent `black_box` round trips (a few cycles each)
/// before counting it. On the 2-vCPU development VM, in builds where plain
/// `kipc` moved single items at about 0.45x rtrb, this slowed consumer moved
/// them about 2x faster than plain `kipc` (as fast as rtrb); in builds where
/// plain `kipc` was already level with rtrb it gained little. A consumer much
/// faster than its producer keeps catching up with it, and each catch-up
/// costs transfers of the `tail` line and of the slot line being written.
fn slowpop_spsc<const K: usize>(n: u64) -> Duration {
    let mut ring = Box::new(kipc_core::spsc::Ring::<u64, CAP>::new());
    let (mut tx, mut rx) = ring.split();
    run_pair(
        n,
        move |c| produce_single(c, 0, n, |v| tx.push(v).is_ok()),
        move |c| {
            consume_single(c, n, || {
                rx.pop().map(|mut v| {
                    for _ in 0..K {
                        v = std::hint::black_box(v);
                    }
                    v
                })
            })
        },
    )
}

fn rtrb_spsc(n: u64) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAP);
    run_pair(
        n,
        move |c| produce_single(c, 0, n, |v| tx.push(v).is_ok()),
        move |c| consume_single(c, n, || rx.pop().ok()),
    )
}

fn rtrb_spsc_batch(n: u64) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAP);
    run_pair(
        n,
        move |c| produce_batch(c, 0, n, |s| tx.push_partial_slice(s).0.len()),
        move |c| consume_batch(c, n, |s| rx.pop_partial_slice(s).0.len()),
    )
}

fn heapless_spsc(n: u64) -> Duration {
    let mut q = Box::new(heapless::spsc::Queue::<u64, CAP>::new());
    let (mut tx, mut rx) = q.split();
    run_pair(
        n,
        move |c| produce_single(c, 0, n, |v| tx.enqueue(v).is_ok()),
        move |c| consume_single(c, n, || rx.dequeue()),
    )
}

fn crossbeam_1x1(n: u64) -> Duration {
    let q = crossbeam_queue::ArrayQueue::<u64>::new(CAP);
    let q = &q;
    run_pair(
        n,
        move |c| produce_single(c, 0, n, |v| q.push(v).is_ok()),
        move |c| consume_single(c, n, || q.pop()),
    )
}

fn kipc_mpmc_1x1(n: u64) -> Duration {
    let q = Box::new(kipc_core::mpmc::Ring::<u64, CAP>::new());
    let q = &*q;
    run_pair(
        n,
        move |c| produce_single(c, 0, n, |v| q.push(v).is_ok()),
        move |c| consume_single(c, n, || q.pop()),
    )
}

fn kipc_mpmc_nowait_1x1(n: u64) -> Duration {
    let q = Box::new(kipc_core::mpmc::Ring::<u64, CAP>::new());
    let q = &*q;
    run_pair(
        n,
        move |c| produce_single(c, 0, n, |v| q.push_no_wait(v).is_ok()),
        move |c| consume_single(c, n, || q.pop_no_wait().ok()),
    )
}

fn kipc_mpmc_batch_1x1(n: u64) -> Duration {
    let q = Box::new(kipc_core::mpmc::Ring::<u64, CAP>::new());
    let q = &*q;
    run_pair(
        n,
        move |c| produce_batch(c, 0, n, |s| q.push_slice(s)),
        move |c| consume_batch(c, n, |s| q.pop_slice(s)),
    )
}

fn crossbeam_2x2(n: u64) -> Duration {
    let q = crossbeam_queue::ArrayQueue::<u64>::new(CAP);
    run_many(
        n,
        2,
        2,
        |c, lo, hi| produce_single(c, lo, hi, |v| q.push(v).is_ok()),
        |c, k| consume_single(c, k, || q.pop()),
    )
}

fn kipc_mpmc_2x2(n: u64) -> Duration {
    let q = Box::new(kipc_core::mpmc::Ring::<u64, CAP>::new());
    run_many(
        n,
        2,
        2,
        |c, lo, hi| produce_single(c, lo, hi, |v| q.push(v).is_ok()),
        |c, k| consume_single(c, k, || q.pop()),
    )
}

fn kipc_mpmc_batch_2x2(n: u64) -> Duration {
    let q = Box::new(kipc_core::mpmc::Ring::<u64, CAP>::new());
    run_many(
        n,
        2,
        2,
        |c, lo, hi| produce_batch(c, lo, hi, |s| q.push_slice(s)),
        |c, k| consume_batch(c, k, |s| q.pop_slice(s)),
    )
}

fn kipc_rtt(n: u64) -> Duration {
    let mut r1 = Box::new(kipc_core::spsc::Ring::<u64, CAP>::new());
    let mut r2 = Box::new(kipc_core::spsc::Ring::<u64, CAP>::new());
    let (mut tx1, mut rx1) = r1.split();
    let (mut tx2, mut rx2) = r2.split();
    run_rtt(
        n,
        move |v| tx1.push(v).is_ok(),
        move || rx2.pop(),
        move || rx1.pop(),
        move |v| tx2.push(v).is_ok(),
    )
}

fn rtrb_rtt(n: u64) -> Duration {
    let (mut tx1, mut rx1) = rtrb::RingBuffer::<u64>::new(CAP);
    let (mut tx2, mut rx2) = rtrb::RingBuffer::<u64>::new(CAP);
    run_rtt(
        n,
        move |v| tx1.push(v).is_ok(),
        move || rx2.pop().ok(),
        move || rx1.pop().ok(),
        move |v| tx2.push(v).is_ok(),
    )
}

fn crossbeam_rtt(n: u64) -> Duration {
    let q1 = crossbeam_queue::ArrayQueue::<u64>::new(CAP);
    let q2 = crossbeam_queue::ArrayQueue::<u64>::new(CAP);
    let (q1, q2) = (&q1, &q2);
    run_rtt(
        n,
        move |v| q1.push(v).is_ok(),
        move || q2.pop(),
        move || q1.pop(),
        move |v| q2.push(v).is_ok(),
    )
}

const SPSC: &[Case] = &[
    ("kipc", kipc_spsc),
    ("kipc_batch64", kipc_spsc_batch),
    ("rtrb", rtrb_spsc),
    ("rtrb_slice64", rtrb_spsc_batch),
    ("heapless", heapless_spsc),
    ("crossbeam_ArrayQueue", crossbeam_1x1),
    ("kipc_slowpop4", slowpop_spsc::<4>),
];

const RTT: &[Case] = &[
    ("kipc", kipc_rtt),
    ("rtrb", rtrb_rtt),
    ("crossbeam_ArrayQueue", crossbeam_rtt),
];

const MPMC: &[Case] = &[
    ("kipc_1p1c", kipc_mpmc_1x1),
    ("kipc_batch64_1p1c", kipc_mpmc_batch_1x1),
    ("crossbeam_ArrayQueue_1p1c", crossbeam_1x1),
    ("kipc_nowait_1p1c", kipc_mpmc_nowait_1x1),
];

const MPMC_2X2: &[Case] = &[
    ("kipc_2p2c", kipc_mpmc_2x2),
    ("kipc_batch64_2p2c", kipc_mpmc_batch_2x2),
    ("crossbeam_ArrayQueue_2p2c", crossbeam_2x2),
];

fn with_2x2() -> bool {
    std::env::var_os("KIPC_BENCH_MPMC_2X2").is_some_and(|v| v == "1")
}

// -------------------------------------------------------------- criterion --

fn throughput_group(c: &mut Criterion, name: &str, cases: &[Case]) {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .throughput(Throughput::Elements(ITEMS));
    for &(id, f) in cases {
        g.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter_custom(|iters| f(ITEMS * iters));
        });
    }
    g.finish();
}

fn spsc_throughput(c: &mut Criterion) {
    throughput_group(c, "spsc_throughput", SPSC);
}

fn spsc_rtt(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_rtt");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    for &(id, f) in RTT {
        g.bench_function(BenchmarkId::from_parameter(id), |b| b.iter_custom(f));
    }
    g.finish();
}

fn mpmc_throughput(c: &mut Criterion) {
    throughput_group(c, "mpmc_throughput", MPMC);
    if with_2x2() {
        throughput_group(c, "mpmc_throughput_2x2", MPMC_2X2);
    }
}

criterion_group!(benches, spsc_throughput, spsc_rtt, mpmc_throughput);

// ------------------------------------------------------ interleaved pass --

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Runs every case of `cases` once per round, round-robin; returns the median
/// of `metric(elapsed, n)` per case.
fn interleave(
    cases: &[Case],
    rounds: usize,
    n: u64,
    metric: fn(Duration, u64) -> f64,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut samples = vec![Vec::with_capacity(rounds); cases.len()];
    let selected: Vec<bool> = cases.iter().map(|c| case_selected(c.0)).collect();
    for (f, _) in cases.iter().map(|c| c.1).zip(&selected).filter(|p| *p.1) {
        f(n / 4); // warm-up
    }
    for round in 0..rounds {
        // Rotate the starting case so no contender always runs first.
        for k in 0..cases.len() {
            let i = (k + round) % cases.len();
            if !selected[i] {
                continue;
            }
            samples[i].push(metric(cases[i].1(n), n));
        }
    }
    if std::env::var_os("KIPC_BENCH_VERBOSE").is_some_and(|v| v == "1") {
        for (case, s) in cases.iter().zip(&samples).filter(|p| !p.1.is_empty()) {
            let mut s = s.clone();
            s.sort_by(f64::total_cmp);
            let all: Vec<String> = s.iter().map(|x| format!("{x:.0}")).collect();
            println!("  {:<28} samples: {}", case.0, all.join(" "));
        }
    }
    let med = samples.iter().map(|s| median(&mut s.clone())).collect();
    (med, samples)
}

fn mitems_per_s(d: Duration, n: u64) -> f64 {
    n as f64 / d.as_secs_f64() / 1e6
}

fn ns_per_op(d: Duration, n: u64) -> f64 {
    d.as_nanos() as f64 / n as f64
}

/// Prints each case's median, then for each pair `(a, b)` the ratio of the
/// medians and, in brackets, the median and range of the per-round ratios
/// (`a` and `b` measured in the same round, so closer in time: the better
/// figure when the machine changes state between rounds).
fn report(
    title: &str,
    unit: &str,
    cases: &[Case],
    (med, samples): &(Vec<f64>, Vec<Vec<f64>>),
    ratios: &[(&str, &str)],
) {
    let index = |name: &str| cases.iter().position(|c| c.0 == name);
    println!("\n{title} (median, {unit})");
    for ((name, _), m) in cases.iter().zip(med).filter(|p| !p.1.is_nan()) {
        println!("  {name:<28} {m:>9.1}");
    }
    println!(
        "  {:>36} {:>9}   per-round: median [min, max]",
        "ratio", "of medians"
    );
    for &(a, b) in ratios {
        let (Some(a), Some(b)) = (index(a), index(b)) else {
            continue;
        };
        if samples[a].is_empty() || samples[b].is_empty() {
            continue;
        }
        let mut per_round: Vec<f64> = samples[a]
            .iter()
            .zip(&samples[b])
            .map(|(x, y)| x / y)
            .collect();
        let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "  {:>36} {:>9.2}x   {:.2}x [{lo:.2}, {hi:.2}]",
            format!("{} / {}", cases[a].0, cases[b].0),
            med[a] / med[b],
            median(&mut per_round),
        );
    }
}

/// Whether the `KIPC_BENCH_CASES` list (if set) names the contender `name`.
fn case_selected(name: &str) -> bool {
    std::env::var("KIPC_BENCH_CASES").map_or(true, |v| v.split(',').any(|c| c.trim() == name))
}

/// Whether the interleaved pass `name` (`spsc`, `rtt`, `mpmc`) runs: all do
/// unless `KIPC_BENCH_PASSES` lists some.
fn pass_selected(name: &str) -> bool {
    std::env::var("KIPC_BENCH_PASSES").map_or(true, |v| v.split(',').any(|p| p.trim() == name))
}

fn interleaved_pass() {
    let rounds: usize = std::env::var("KIPC_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    if rounds == 0 {
        return;
    }
    let items: u64 = std::env::var("KIPC_BENCH_ITEMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(4 * ITEMS);
    println!("\n== interleaved pass: {rounds} rounds, {items} items per throughput run ==");
    if pass_selected("spsc") {
        let res = interleave(SPSC, rounds, items, mitems_per_s);
        report(
            "SPSC throughput",
            "M items/s",
            SPSC,
            &res,
            &[
                ("kipc", "rtrb"),
                ("kipc", "crossbeam_ArrayQueue"),
                ("kipc_batch64", "rtrb_slice64"),
                ("kipc_batch64", "crossbeam_ArrayQueue"),
                ("kipc", "heapless"),
                ("kipc_slowpop4", "kipc"),
            ],
        );
    }
    if pass_selected("rtt") {
        let res = interleave(RTT, rounds, 20_000, ns_per_op);
        report(
            "SPSC round trip",
            "ns",
            RTT,
            &res,
            &[("kipc", "rtrb"), ("kipc", "crossbeam_ArrayQueue")],
        );
    }
    if pass_selected("mpmc") {
        let res = interleave(MPMC, rounds, items, mitems_per_s);
        report(
            "MPMC throughput",
            "M items/s",
            MPMC,
            &res,
            &[
                ("kipc_1p1c", "crossbeam_ArrayQueue_1p1c"),
                ("kipc_batch64_1p1c", "crossbeam_ArrayQueue_1p1c"),
                ("kipc_nowait_1p1c", "kipc_1p1c"),
            ],
        );
    }
    if pass_selected("mpmc") && with_2x2() {
        let res = interleave(MPMC_2X2, rounds, ITEMS, mitems_per_s);
        report(
            "MPMC throughput 2p2c",
            "M items/s",
            MPMC_2X2,
            &res,
            &[
                ("kipc_2p2c", "crossbeam_ArrayQueue_2p2c"),
                ("kipc_batch64_2p2c", "crossbeam_ArrayQueue_2p2c"),
            ],
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let args: Vec<String> = std::env::args().collect();
    let quick = args
        .iter()
        .any(|a| a == "--test" || a == "--list" || a == "--profile-time");
    if !quick {
        interleaved_pass();
    }
}
