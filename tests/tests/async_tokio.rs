//! kipc-host's tokio endpoints (`--features tokio`) with real runtimes and
//! real peer processes (the `kipc-ring-peer` binary): a million messages
//! into a current_thread and a multi_thread receiver without threads of our
//! own, receive futures dropped at random points, a killed peer, an idle
//! receiver's CPU use, and async signals.
//!
//! Every test runs under a `tokio::time::timeout` and its peer under a
//! [`ChildGuard`], so a lost wake-up fails the test instead of hanging it.
//! The tests take one lock: thread counts and CPU time are per process, and
//! `cargo test` runs tests of one binary as threads of one process (nextest
//! gives each its own).

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use kipc_core::signal::{SigSet, Signal};
use kipc_host::endpoint::QueueLayout;
use kipc_host::mailbox::{Mailbox, MailboxConfig};
use kipc_host::ring::RingConfig;
use kipc_host::signals::{self, Signals};
use kipc_host::tokio::{AsyncMailbox, AsyncReceiver, AsyncSender, AsyncSignals};
use kipc_host::Error;
use kipc_tests::ring_payload::{decode, encode, MAX_LEN};
use kipc_tests::shm::{RingTarget, ShmName};
use kipc_tests::{mbox_payload, ChildGuard};
use tokio::time::timeout;

const RING_PEER: &str = env!("CARGO_BIN_EXE_kipc-ring-peer");
const MBOX_PEER: &str = env!("CARGO_BIN_EXE_kipc-mbox-peer");
const MILLION: u64 = 1_000_000;
/// Far longer than the work takes even in a debug build on a busy machine:
/// reaching it means a wake-up was lost.
const BOUND: Duration = Duration::from_secs(240);

/// The test names: `cargo test` starts a thread per test, named after it
/// (truncated to the kernel's 15 bytes), which may appear while a test
/// counts threads; those are the harness's, not ours.
const TESTS: &[&str] = &[
    "a_current_thread_receiver_takes_a_million_messages_in_order_on_its_own_thread",
    "a_multi_thread_receiver_takes_a_million_messages_in_order_on_the_workers_only",
    "receive_futures_dropped_at_random_points_lose_and_duplicate_nothing",
    "a_killed_producer_ends_an_async_receive_with_peer_dead",
    "a_killed_consumer_ends_an_async_send_with_peer_dead",
    "an_idle_async_receiver_uses_almost_no_cpu",
    "async_signals_receive_kill_and_sigqueue",
    "an_async_mailbox_receives_every_message_of_a_peer_process_with_its_priority",
    "an_async_mailbox_sends_through_a_small_mailbox_to_a_peer_process",
];

/// One test at a time (see the module docs).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The threads of this process: (tid, name), without the test harness's.
fn threads() -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(tid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // A thread that exited between the listing and this read: skip it.
        let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) else {
            continue;
        };
        let comm = comm.trim().to_owned();
        if TESTS
            .iter()
            .any(|t| !comm.is_empty() && t.starts_with(&comm))
        {
            continue;
        }
        out.push((tid, comm));
    }
    out
}

/// Spawns the ring peer with `args`, the memfd (if any) inherited.
fn ring_peer(t: &RingTarget, args: &[&str]) -> ChildGuard {
    let mut cmd = t.command(RING_PEER);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    ChildGuard::spawn(&mut cmd).unwrap()
}

/// Waits for the peer's "ready" line.
fn await_ready(child: &mut ChildGuard) {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
}

/// Asserts the peer exited 0.
fn assert_peer_succeeded(child: ChildGuard) {
    let out = child.into_inner().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "peer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Receives `count` messages tagged `tag`, which must carry seqs 0, 1, 2,
/// ... in that order; calls `sample` every 50,000 messages.
async fn receive_in_order<Q: QueueLayout>(
    rx: &mut AsyncReceiver<Q>,
    tag: u32,
    count: u64,
    mut sample: impl FnMut(),
) -> Result<(), String> {
    let mut buf = [0u8; MAX_LEN];
    for expect in 0..count {
        let n = rx
            .recv(&mut buf)
            .await
            .map_err(|e| format!("recv of seq {expect}: {e}"))?;
        let (t, seq) = decode(&buf[..n])?;
        if (t, seq) != (tag, expect) {
            return Err(format!("got ({t}, {seq}), expected ({tag}, {expect})"));
        }
        if expect % 50_000 == 0 {
            sample();
        }
    }
    Ok(())
}

#[test]
fn a_current_thread_receiver_takes_a_million_messages_in_order_on_its_own_thread() {
    let _s = serial();
    let t = RingTarget::new(RingConfig::spsc(256, MAX_LEN as u32), true);
    let rt = runtime();
    rt.block_on(async {
        let before = threads();
        let mut rx = AsyncReceiver::new(t.ring.receiver().unwrap()).unwrap();
        let child = ring_peer(&t, &["produce", &t.arg, "3", &MILLION.to_string()]);
        let started = Instant::now();
        let mut extra = Vec::new();
        let got = timeout(
            BOUND,
            receive_in_order(&mut rx, 3, MILLION, || {
                for th in threads() {
                    if !before.contains(&th) && !extra.contains(&th) {
                        extra.push(th);
                    }
                }
            }),
        )
        .await;
        got.expect("lost wake-up: timed out").unwrap();
        eprintln!(
            "current_thread: {MILLION} messages in {:?}, {} threads before",
            started.elapsed(),
            before.len()
        );
        assert!(extra.is_empty(), "threads appeared: {extra:?}");
        assert_eq!(rx.try_recv(&mut [0; MAX_LEN]), Err(Error::Empty));
        assert_peer_succeeded(child);
    });
}

#[test]
fn a_multi_thread_receiver_takes_a_million_messages_in_order_on_the_workers_only() {
    const WORKERS: usize = 2;
    let _s = serial();
    let t = RingTarget::new(RingConfig::spsc(256, MAX_LEN as u32), false);
    let before = threads();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .thread_name("kipc-async-w")
        .enable_all()
        .build()
        .unwrap();
    let rx = t.ring.receiver().unwrap();
    let child = ring_peer(&t, &["produce", &t.arg, "5", &MILLION.to_string()]);
    let started = Instant::now();
    let seen = rt.block_on(async {
        // The receiver runs as a task on the workers.
        let task = tokio::spawn(async move {
            let mut rx = AsyncReceiver::new(rx).unwrap();
            let mut seen: Vec<(u32, String)> = Vec::new();
            let got = timeout(
                BOUND,
                receive_in_order(&mut rx, 5, MILLION, || {
                    for th in threads() {
                        if !seen.contains(&th) {
                            seen.push(th);
                        }
                    }
                }),
            )
            .await;
            got.expect("lost wake-up: timed out").unwrap();
            assert_eq!(rx.try_recv(&mut [0; MAX_LEN]), Err(Error::Empty));
            seen
        });
        timeout(BOUND, task).await.unwrap().unwrap()
    });
    eprintln!(
        "multi_thread: {MILLION} messages in {:?}",
        started.elapsed()
    );
    let added: Vec<_> = seen.iter().filter(|th| !before.contains(th)).collect();
    assert!(
        added.iter().all(|(_, name)| name == "kipc-async-w"),
        "threads other than the runtime's workers: {added:?}"
    );
    assert!(
        added.len() <= WORKERS,
        "more threads than the {WORKERS} workers (a blocking pool?): {added:?}"
    );
    assert!(!added.is_empty(), "the receiver ran on a worker thread");
    assert_peer_succeeded(child);
}

/// A future that is ready after being polled `n` times without being
/// ready, waking itself each time (so its task is polled again at once).
struct AfterPolls(u32);

impl Future for AfterPolls {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// xorshift64: enough randomness to drop futures at varied points.
fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn receive_futures_dropped_at_random_points_lose_and_duplicate_nothing() {
    const COUNT: u64 = 100_000;
    let _s = serial();
    let t = RingTarget::new(RingConfig::spsc(64, MAX_LEN as u32), true);
    let rt = runtime();
    rt.block_on(async {
        let mut rx = AsyncReceiver::new(t.ring.receiver().unwrap()).unwrap();
        // The producer pauses 3 ms every 500 messages: the receiver drains
        // the ring and waits, armed, until a timer (at most 1.5 ms, plus
        // tokio's 1 ms granularity) drops its future.
        let child = ring_peer(
            &t,
            &["produce-paced", &t.arg, "9", &COUNT.to_string(), "500", "3000"],
        );
        let mut rng = u64::from(std::process::id()) << 20 | 0x9e37_79b9;
        let (mut by_timer, mut by_polls) = (0u64, 0u64);
        let run = async {
            let mut buf = [0u8; MAX_LEN];
            let mut expect = 0u64;
            while expect < COUNT {
                let r = next_rand(&mut rng);
                let got = if r & 1 == 0 {
                    let after = Duration::from_micros(r % 1500);
                    tokio::select! {
                        got = rx.recv(&mut buf) => Some(got),
                        () = tokio::time::sleep(after) => { by_timer += 1; None }
                    }
                } else {
                    tokio::select! {
                        got = rx.recv(&mut buf) => Some(got),
                        () = AfterPolls((r >> 8) as u32 % 4) => { by_polls += 1; None }
                    }
                };
                let Some(got) = got else { continue };
                let n = got.map_err(|e| format!("recv of seq {expect}: {e}"))?;
                let (tag, seq) = decode(&buf[..n])?;
                if (tag, seq) != (9, expect) {
                    return Err(format!("got ({tag}, {seq}), expected (9, {expect})"));
                }
                expect += 1;
            }
            Ok::<_, String>(())
        };
        timeout(BOUND, run)
            .await
            .expect("lost wake-up: timed out")
            .unwrap();
        eprintln!(
            "{COUNT} messages; recv futures dropped: {by_timer} by a timer, {by_polls} after 0-3 polls"
        );
        assert!(
            by_timer > 0 && by_polls > 0,
            "both kinds of drop happened"
        );
        assert_peer_succeeded(child);
        // Nothing was left behind or delivered twice.
        assert_eq!(rx.try_recv(&mut [0; MAX_LEN]), Err(Error::Empty));
    });
}

#[test]
fn a_killed_producer_ends_an_async_receive_with_peer_dead() {
    let _s = serial();
    let t = RingTarget::new(RingConfig::spsc(64, MAX_LEN as u32), true);
    let rt = runtime();
    rt.block_on(async {
        let mut rx = AsyncReceiver::new(t.ring.receiver().unwrap()).unwrap();
        let mut child = ring_peer(&t, &["produce-forever", &t.arg, "2"]);
        await_ready(&mut child);
        let mut buf = [0u8; MAX_LEN];
        for _ in 0..1000 {
            timeout(BOUND, rx.recv(&mut buf)).await.unwrap().unwrap();
        }
        child.kill().unwrap();
        let killed = Instant::now();
        // What it sent before dying is delivered, then PeerDead.
        let r = timeout(Duration::from_secs(30), async {
            loop {
                match rx.recv(&mut buf).await {
                    Ok(_) => continue,
                    other => break other,
                }
            }
        })
        .await
        .expect("death never reported");
        let took = killed.elapsed();
        assert_eq!(r, Err(Error::PeerDead));
        eprintln!("producer SIGKILLed: PeerDead after {took:?} (goal 100 ms)");
        assert!(took < Duration::from_secs(2), "{took:?}");
        // As a Stream: the error once, then the end.
        let first = std::future::poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)).await;
        assert_eq!(first, Some(Err(Error::PeerDead)));
        let then = std::future::poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)).await;
        assert_eq!(then, None);
        let _ = child.wait();
    });
}

#[test]
fn a_killed_consumer_ends_an_async_send_with_peer_dead() {
    let _s = serial();
    let t = RingTarget::new(RingConfig::spsc(8, MAX_LEN as u32), false);
    let rt = runtime();
    rt.block_on(async {
        let mut tx = AsyncSender::new(t.ring.sender().unwrap()).unwrap();
        let mut child = ring_peer(&t, &["consume", &t.arg, "1000000000"]);
        let mut buf = [0u8; MAX_LEN];
        // More than the ring holds: the consumer is receiving.
        for seq in 0..1000 {
            let n = encode(1, seq, &mut buf);
            timeout(BOUND, tx.send(&buf[..n])).await.unwrap().unwrap();
        }
        child.kill().unwrap();
        let killed = Instant::now();
        let r = timeout(Duration::from_secs(30), async {
            for seq in 1000.. {
                let n = encode(1, seq, &mut buf);
                tx.send(&buf[..n]).await?;
            }
            Ok(())
        })
        .await
        .expect("death never reported");
        let took = killed.elapsed();
        assert_eq!(r, Err(Error::PeerDead));
        eprintln!("consumer SIGKILLed: PeerDead after {took:?} (goal 100 ms)");
        assert!(took < Duration::from_secs(2), "{took:?}");
        let _ = child.wait();
    });
}

/// This process's CPU time (user + system, all threads).
fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[test]
fn an_idle_async_receiver_uses_almost_no_cpu() {
    const IDLE: Duration = Duration::from_secs(2);
    let _s = serial();
    let t = RingTarget::new(RingConfig::spsc(8, MAX_LEN as u32), true);
    // A live producer that sends nothing (a producer process in the test
    // would add its own CPU to nothing we measure: this is per process).
    let _tx = t.ring.sender().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let mut rx = AsyncReceiver::new(t.ring.receiver().unwrap()).unwrap();
        let mut buf = [0u8; MAX_LEN];
        let (cpu0, wall0) = (cpu_time(), Instant::now());
        let r = timeout(IDLE, rx.recv(&mut buf)).await;
        let (cpu, wall) = (cpu_time() - cpu0, wall0.elapsed());
        assert!(r.is_err(), "nothing was sent: {r:?}");
        let share = cpu.as_secs_f64() / wall.as_secs_f64();
        eprintln!(
            "idle receiver: {cpu:?} CPU in {wall:?} = {:.3}% of a core (goal < 1%)",
            share * 100.0
        );
        assert!(share < 0.05, "{:.2}% of a core", share * 100.0);
    });
}

#[test]
fn async_signals_receive_kill_and_sigqueue() {
    let _s = serial();
    let rt1 = signals::rt(1).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let sigs = Signals::new(SigSet::from_signals(&[Signal::USR1, rt1])).unwrap();
        let mut sigs = AsyncSignals::new(sigs).unwrap();
        let me = std::process::id() as i32;
        // Sent from another task after the receive is waiting.
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            signals::kill(me, Signal::USR1).unwrap();
            signals::sigqueue(me, rt1, 42).unwrap();
        });
        let first = timeout(Duration::from_secs(10), sigs.recv())
            .await
            .expect("signal never received")
            .unwrap();
        // The Stream form gives the next one.
        let next = std::future::poll_fn(|cx| Pin::new(&mut sigs).poll_next(cx));
        let second = timeout(Duration::from_secs(10), next)
            .await
            .expect("signal never received")
            .expect("the signal stream never ends")
            .unwrap();
        sender.await.unwrap();
        // Lowest number first once both are in; USR1 is sent first anyway.
        assert_eq!((first.signo, first.pid), (Signal::USR1, me as u32));
        assert_eq!((second.signo, second.value), (rt1, 42));
        drop(sigs.into_inner());
    });
}

/// A current-thread runtime with I/O and timers, as every test here uses.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn mbox_peer(args: &[&str]) -> ChildGuard {
    let mut cmd = Command::new(MBOX_PEER);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    ChildGuard::spawn(&mut cmd).unwrap()
}

#[test]
fn an_async_mailbox_receives_every_message_of_a_peer_process_with_its_priority() {
    const COUNT: u64 = 20_000;
    let _s = serial();
    let name = ShmName::new("async-mbox");
    let mb = Mailbox::create(&name.0, MailboxConfig::new(16, 64)).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let mut amb = AsyncMailbox::new(mb.clone());
        let child = mbox_peer(&["send", &name.0, "7", &COUNT.to_string()]);
        let run = async {
            let mut buf = [0u8; 64];
            let mut last: std::collections::HashMap<u8, u64> = Default::default();
            let mut seen = vec![false; COUNT as usize];
            for n in 0..COUNT {
                let got = amb
                    .recv(&mut buf)
                    .await
                    .map_err(|e| format!("recv {n}: {e}"))?;
                let (tag, seq, prio) = mbox_payload::check(&buf[..got.len])?;
                if (tag, prio, u64::from(tag)) != (7, got.prio, got.mtype) {
                    return Err(format!("header {got:?} vs payload {tag} {seq} {prio}"));
                }
                // One sender: within a priority, its order.
                if last.insert(prio, seq).is_some_and(|prev| seq <= prev) {
                    return Err(format!("prio {prio}: seq {seq} after a later one"));
                }
                let slot = seen.get_mut(seq as usize).ok_or("seq out of range")?;
                if std::mem::replace(slot, true) {
                    return Err(format!("seq {seq} twice"));
                }
            }
            Ok::<_, String>(())
        };
        timeout(BOUND, run)
            .await
            .expect("lost wake-up: timed out")
            .unwrap();
        assert_peer_succeeded(child);
        assert_eq!(mb.try_recv(&mut [0; 64]), Err(Error::Empty));
    });
}

#[test]
fn an_async_mailbox_sends_through_a_small_mailbox_to_a_peer_process() {
    const COUNT: u64 = 5_000;
    let _s = serial();
    let name = ShmName::new("async-mbox");
    // Four slots: the sender waits for room again and again.
    let mb = Mailbox::create(&name.0, MailboxConfig::new(4, 64)).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let mut amb = AsyncMailbox::new(mb.clone());
        let child = mbox_peer(&["recv", &name.0]);
        let run = async {
            let mut buf = [0u8; 32];
            for seq in 0..COUNT {
                let prio = (seq % 3) as u8;
                mbox_payload::encode(5, seq, prio, &mut buf);
                amb.send(&buf, prio, 5).await?;
            }
            amb.send(mbox_payload::STOP, 0, 0).await
        };
        timeout(BOUND, run)
            .await
            .expect("lost wake-up: timed out")
            .unwrap();
        let out = child.into_inner().wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "peer: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got: Vec<u64> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("got 5 "))
            .map(|s| s.parse().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..COUNT).collect::<Vec<_>>(), "each message once");
    });
}
