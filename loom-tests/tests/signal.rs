//! loom models of lock-free signal raising (`kipc_core::signal::{AtomicPending,
//! RaiseQueue, SignalInbox}`): a raiser (a signal handler or interrupt on
//! another thread) races with the owner, which changes its mask and takes
//! signals.
//!
//! Run with:
//! `RUSTFLAGS="--cfg kipc_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p kipc-loom-tests --release --test signal`
#![cfg(kipc_loom)]

use kipc_core::signal::{
    AtomicPending, Process, RaiseQueue, Sender, SigError, SigInfo, SigSet, Signal, SignalInbox,
};
use loom::sync::Arc;
use loom::thread;

fn rt_info(value: u64) -> SigInfo {
    SigInfo::queued(Signal::RTMIN, Sender::new(1, 0), value)
}

/// Raise vs. mask change + take: nothing is lost, nothing is taken while
/// blocked, and a standard signal raised twice is taken once or twice, never
/// more (it merges unless taken in between).
#[test]
fn raise_vs_unblock_and_take_loses_nothing_and_respects_the_mask() {
    loom::model(|| {
        let pending = Arc::new(AtomicPending::new());
        let raiser = {
            let p = pending.clone();
            thread::spawn(move || {
                p.raise(Signal::USR1);
                p.raise(Signal::USR2);
                p.raise(Signal::USR1);
            })
        };
        let mut got = Vec::new();
        // USR1 blocked: it must not come out.
        let blocked = SigSet::from(Signal::USR1);
        if let Some(sig) = pending.take(blocked) {
            assert_ne!(sig, Signal::USR1, "taken while blocked");
            got.push(sig);
        }
        // Unblocked: anything may come out.
        if let Some(sig) = pending.take(SigSet::EMPTY) {
            got.push(sig);
        }
        raiser.join().unwrap();
        while let Some(sig) = pending.take(SigSet::EMPTY) {
            got.push(sig);
        }
        let usr1 = got.iter().filter(|&&s| s == Signal::USR1).count();
        let usr2 = got.iter().filter(|&&s| s == Signal::USR2).count();
        assert!((1..=2).contains(&usr1), "USR1 taken {usr1} times: {got:?}");
        assert_eq!(usr2, 1, "{got:?}");
        assert!(pending.load().is_empty());
    });
}

/// Two raisers of one standard signal while the owner blocks it: exactly one
/// raise reports "newly pending", and unblocking yields exactly one instance.
#[test]
fn concurrent_raises_of_a_blocked_standard_signal_merge_into_one() {
    loom::model(|| {
        let pending = Arc::new(AtomicPending::new());
        let raisers: Vec<_> = (0..2)
            .map(|_| {
                let p = pending.clone();
                thread::spawn(move || p.raise(Signal::USR1))
            })
            .collect();
        assert_eq!(pending.take(SigSet::from(Signal::USR1)), None);
        let fresh = raisers
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&f| f)
            .count();
        assert_eq!(fresh, 1);
        assert_eq!(pending.take(SigSet::EMPTY), Some(Signal::USR1));
        assert_eq!(pending.take(SigSet::EMPTY), None);
    });
}

/// A real-time raise racing with take: every instance that was accepted is
/// taken exactly once and in order; a push fails only with `Again`.
#[test]
fn rt_raise_vs_take_delivers_each_instance_once_in_order() {
    loom::model(|| {
        let q: Arc<RaiseQueue<2>> = Arc::new(RaiseQueue::new());
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                let mut sent = Vec::new();
                for v in 10..13 {
                    match q.push(rt_info(v)) {
                        Ok(()) => sent.push(v),
                        Err(e) => assert_eq!(e, SigError::Again),
                    }
                }
                sent
            })
        };
        let mut got = Vec::new();
        for _ in 0..2 {
            if let Some(i) = q.pop() {
                got.push(i.value);
            }
        }
        let sent = producer.join().unwrap();
        while let Some(i) = q.pop() {
            got.push(i.value);
        }
        assert_eq!(got, sent);
        assert!(sent.len() >= 2, "capacity 2 refused early: {sent:?}");
    });
}

/// Two producers (two handlers) and the owner taking concurrently: each
/// instance exactly once, each producer's in its order, payload intact.
#[test]
fn two_rt_raisers_vs_take_each_instance_once_per_producer_fifo() {
    loom::model(|| {
        let q: Arc<RaiseQueue<4>> = Arc::new(RaiseQueue::new());
        let producers: Vec<_> = (0..2u32)
            .map(|p| {
                let q = q.clone();
                thread::spawn(move || {
                    for v in 1..=2u64 {
                        let info = SigInfo::queued(Signal::RTMAX, Sender::new(p, p), v);
                        q.push(info).unwrap();
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        if let Some(i) = q.pop() {
            got.push(i);
        }
        for h in producers {
            h.join().unwrap();
        }
        while let Some(i) = q.pop() {
            got.push(i);
        }
        assert_eq!(got.len(), 4);
        for p in 0..2 {
            let mine: Vec<u64> = got.iter().filter(|i| i.pid == p).map(|i| i.value).collect();
            assert_eq!(mine, [1, 2], "producer {p}: {got:?}");
            assert!(got
                .iter()
                .filter(|i| i.pid == p)
                .all(|i| i.uid == p && i.signo == Signal::RTMAX));
        }
    });
}

/// The whole path: a handler raises into a `SignalInbox` while the owner
/// absorbs it into a `Process` and takes deliveries. A standard signal raised
/// twice comes out once or twice; real-time instances come out once each, in
/// order, with their payload.
#[test]
fn inbox_raise_vs_absorb_and_delivery() {
    loom::model(|| {
        let inbox: Arc<SignalInbox<2>> = Arc::new(SignalInbox::new());
        let raiser = {
            let inbox = inbox.clone();
            thread::spawn(move || {
                inbox.raise(rt_info(7)).unwrap();
                inbox
                    .raise(SigInfo::user(Signal::USR1, Sender::new(1, 0)))
                    .unwrap();
                inbox.raise(rt_info(8)).unwrap();
            })
        };
        let mut p: Process<1, 4> = Process::new();
        let mut got = Vec::new();
        p.absorb(&inbox);
        while let Some(d) = p.next_delivery(0).unwrap() {
            got.push((d.info.signo, d.info.value));
        }
        raiser.join().unwrap();
        p.absorb(&inbox);
        while let Some(d) = p.next_delivery(0).unwrap() {
            got.push((d.info.signo, d.info.value));
        }
        let rt: Vec<u64> = got
            .iter()
            .filter(|(s, _)| *s == Signal::RTMIN)
            .map(|&(_, v)| v)
            .collect();
        assert_eq!(rt, [7, 8], "{got:?}");
        assert_eq!(
            got.iter().filter(|(s, _)| *s == Signal::USR1).count(),
            1,
            "{got:?}"
        );
    });
}
