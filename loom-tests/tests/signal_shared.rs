//! loom models of `kipc_core::signal::Shared`: a `Process` under a spin lock
//! (loom's mutex under `cfg(kipc_loom)`, see `kipc_core::sync::SpinMutex`)
//! beside a lock-free `SignalInbox`. Two threads change their masks and take
//! deliveries under the lock while a third raises through the inbox, as an
//! interrupt or signal handler would, without ever taking the lock.
//!
//! What must hold in every interleaving: each raised real-time instance is
//! delivered exactly once, with its payload, each thread taking them in send
//! order; a standard signal raised `k` times is delivered between once and
//! `k` times (rule 3 coalescing); no thread is given a signal its mask
//! blocks; once everyone is done, nothing is left in the inbox or the
//! state (nothing is lost between the two); and a locked call sees every
//! raise that finished before it began (it absorbs the inbox first: skipping
//! that absorb while another thread holds a full mask makes the last model
//! fail).
//!
//! Run with:
//! `RUSTFLAGS="--cfg kipc_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p kipc-loom-tests --release --test signal_shared`
#![cfg(kipc_loom)]

use kipc_core::signal::{How, Sender, Shared, SigInfo, SigSet, Signal};
use loom::sync::Arc;
use loom::thread;

/// Two threads, room for 4 queued real-time instances, an inbox of 2.
type S = Shared<2, 4, 2>;

fn rt(value: u64) -> SigInfo {
    SigInfo::queued(Signal::RTMIN, Sender::new(1, 0), value)
}

/// What a thread took: (signal, value).
type Taken = Vec<(Signal, u64)>;

/// Takes at most one delivery for `thread`, checking it against the mask
/// the thread set itself (only `thread` changes its mask here).
fn deliver_one(s: &S, thread: usize, mask: SigSet, got: &mut Taken) {
    if let Some(d) = s.next_delivery(thread).unwrap() {
        assert!(
            !mask.contains(d.info.signo),
            "thread {thread} got {:?} while blocking it",
            d.info.signo
        );
        got.push((d.info.signo, d.info.value));
    }
}

/// Checks the whole run: every instance accounted for exactly once.
fn check(s: &S, per_thread: [Taken; 2], usr1_raised: usize) {
    for got in &per_thread {
        let rts: Vec<u64> = got
            .iter()
            .filter(|(sig, _)| *sig == Signal::RTMIN)
            .map(|&(_, v)| v)
            .collect();
        assert!(rts.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
    }
    let all: Vec<(Signal, u64)> = per_thread.concat();
    let mut rts: Vec<u64> = all
        .iter()
        .filter(|(sig, _)| *sig == Signal::RTMIN)
        .map(|&(_, v)| v)
        .collect();
    rts.sort_unstable();
    assert_eq!(rts, [1, 2], "each real-time instance exactly once: {all:?}");
    let usr1 = all.iter().filter(|(sig, _)| *sig == Signal::USR1).count();
    assert!(
        (1..=usr1_raised).contains(&usr1),
        "USR1 raised {usr1_raised} times, delivered {usr1}: {all:?}"
    );
    assert_eq!(all.len(), 2 + usr1, "nothing else: {all:?}");
    // Nothing is left behind, in the inbox or in the state.
    let p = s.lock();
    assert!(s.inbox().standard.load().is_empty());
    assert!(s.inbox().realtime.pop().is_none());
    assert!(p.pending(0).unwrap().is_empty() && p.pending(1).unwrap().is_empty());
    assert_eq!(p.queued().count(), 0);
}

/// Two threads change masks and take deliveries (one by `sigwait`) under the
/// lock while a third raises two real-time instances and one standard
/// signal through the inbox.
#[test]
fn two_maskers_and_an_inbox_raiser_deliver_each_signal_exactly_once() {
    loom::model(|| {
        let s = Arc::new(S::new());
        let raiser = {
            let s = s.clone();
            thread::spawn(move || {
                s.raise(rt(1)).unwrap();
                s.raise(SigInfo::user(Signal::USR1, Sender::new(1, 0)))
                    .unwrap();
                s.raise(rt(2)).unwrap();
            })
        };
        let other = {
            let s = s.clone();
            thread::spawn(move || {
                // Thread 1 blocks USR1, takes whatever else comes, then
                // takes USR1 by sigwait if it is pending.
                let mut got = Taken::new();
                let usr1 = SigSet::from(Signal::USR1);
                s.sigprocmask(1, How::Block, usr1).unwrap();
                deliver_one(&s, 1, usr1, &mut got);
                if let Some(i) = s.sigwait(1, usr1).unwrap() {
                    got.push((i.signo, i.value));
                }
                s.sigprocmask(1, How::Unblock, usr1).unwrap();
                got
            })
        };
        // Thread 0 blocks the real-time signal, takes one delivery, unblocks
        // everything and takes another.
        let mut got0 = Taken::new();
        let rtmin = SigSet::from(Signal::RTMIN);
        s.sigprocmask(0, How::SetMask, rtmin).unwrap();
        deliver_one(&s, 0, rtmin, &mut got0);
        s.sigprocmask(0, How::SetMask, SigSet::EMPTY).unwrap();
        deliver_one(&s, 0, SigSet::EMPTY, &mut got0);

        raiser.join().unwrap();
        let got1 = other.join().unwrap();
        // Everyone is done: thread 0 takes what is left.
        while let Some(d) = s.next_delivery(0).unwrap() {
            got0.push((d.info.signo, d.info.value));
        }
        check(&s, [got0, got1], 1);
    });
}

/// A standard signal raised twice from the inbox while both threads block
/// and unblock it: it comes out once or twice (coalescing, rule 3), never
/// zero times and never to a thread that blocks it; and a raise never waits
/// for the lock holder (the raiser only ever touches the inbox).
#[test]
fn repeated_standard_raise_coalesces_but_is_never_lost() {
    loom::model(|| {
        let s = Arc::new(S::new());
        let usr1 = SigSet::from(Signal::USR1);
        let raiser = {
            let s = s.clone();
            thread::spawn(move || {
                s.raise(SigInfo::user(Signal::USR1, Sender::new(1, 0)))
                    .unwrap();
                s.raise(rt(1)).unwrap();
                s.raise(SigInfo::user(Signal::USR1, Sender::new(1, 0)))
                    .unwrap();
                s.raise(rt(2)).unwrap();
            })
        };
        let other = {
            let s = s.clone();
            thread::spawn(move || {
                let mut got = Taken::new();
                s.sigprocmask(1, How::Block, usr1).unwrap();
                deliver_one(&s, 1, usr1, &mut got);
                s.sigprocmask(1, How::Unblock, usr1).unwrap();
                deliver_one(&s, 1, SigSet::EMPTY, &mut got);
                got
            })
        };
        let mut got0 = Taken::new();
        deliver_one(&s, 0, SigSet::EMPTY, &mut got0);
        s.sigprocmask(0, How::Block, usr1).unwrap();
        deliver_one(&s, 0, usr1, &mut got0);
        s.sigprocmask(0, How::Unblock, usr1).unwrap();

        raiser.join().unwrap();
        let mut got1 = other.join().unwrap();
        while let Some(d) = s.next_delivery(1).unwrap() {
            got1.push((d.info.signo, d.info.value));
        }
        check(&s, [got0, got1], 2);
    });
}

/// A raise that completed before a locked call began is seen by that call:
/// the raiser publishes "raised" after raising; a thread that sees the flag
/// and then asks for a delivery with nothing blocked must get the signal
/// (every locked call absorbs the inbox first).
#[test]
fn a_locked_call_sees_every_raise_that_finished_before_it() {
    use kipc_core::sync::{AtomicBool, Ordering};
    loom::model(|| {
        let s = Arc::new(S::new());
        let raised = Arc::new(AtomicBool::new(false));
        let raiser = {
            let (s, raised) = (s.clone(), raised.clone());
            thread::spawn(move || {
                s.raise(rt(1)).unwrap();
                raised.store(true, Ordering::Release);
            })
        };
        let other = {
            let s = s.clone();
            thread::spawn(move || {
                // Holds the lock at times, so the raise and the check below
                // race with a holder too.
                s.sigprocmask(1, How::SetMask, SigSet::FULL).unwrap()
            })
        };
        let saw_flag = raised.load(Ordering::Acquire);
        let d = s.next_delivery(0).unwrap();
        if saw_flag {
            let d = d.expect("a raise that finished before the call was not seen");
            assert_eq!((d.info.signo, d.info.value), (Signal::RTMIN, 1));
        }
        raiser.join().unwrap();
        other.join().unwrap();
        let rest = s.next_delivery(0).unwrap();
        assert_eq!(
            usize::from(d.is_some()) + usize::from(rest.is_some()),
            1,
            "delivered exactly once"
        );
    });
}
