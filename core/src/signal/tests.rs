//! One test per rule of `SIGNALS.md`, named after it, then the test vectors
//! (a)-(h) listed at its end.

use super::*;
use std::vec::Vec;

type P = Process<2, 4>;

const ME: Sender = Sender::new(100, 1000);

fn rt(k: u32) -> Signal {
    Signal::rt(k).unwrap()
}

fn set(sigs: &[Signal]) -> SigSet {
    SigSet::from_signals(sigs)
}

fn handler(id: u32, flags: SaFlags, mask: SigSet) -> Disposition {
    Disposition::handler(id, flags, mask)
}

/// Delivers everything deliverable to `thread`, returning (signal, value).
fn drain<const T: usize, const Q: usize>(
    p: &mut Process<T, Q>,
    thread: ThreadId,
) -> Vec<(Signal, u64)> {
    let mut out = Vec::new();
    while let Some(d) = p.next_delivery(thread).unwrap() {
        out.push((d.info.signo, d.info.value));
        if let Action::RunHandler { saved_mask, .. } = d.action {
            p.handler_return(thread, saved_mask).unwrap();
        }
    }
    out
}

#[test]
fn rule01_disposition_per_process_mask_per_thread_pending_per_thread_and_process() {
    let mut p = P::new();
    // Disposition: one per process, seen by every thread.
    p.set_action(Signal::USR1, handler(1, SaFlags::empty(), SigSet::EMPTY))
        .unwrap();
    // Mask: per thread.
    p.sigprocmask(0, How::Block, set(&[Signal::USR1, Signal::USR2]))
        .unwrap();
    assert_eq!(p.blocked(1).unwrap(), SigSet::EMPTY);
    // A process-directed signal waits for a thread that does not block it.
    p.kill(Signal::USR1, ME).unwrap();
    assert_eq!(p.process_pending(), set(&[Signal::USR1]));
    assert_eq!(p.next_delivery(0).unwrap(), None);
    let d = p.next_delivery(1).unwrap().unwrap();
    assert_eq!(d.info.signo, Signal::USR1);
    assert!(matches!(d.action, Action::RunHandler { id: 1, .. }));
    // Thread-directed: only that thread's set; pending() is the union.
    p.tgkill(0, Signal::USR2, ME).unwrap();
    p.kill(Signal::HUP, ME).unwrap();
    p.sigprocmask(1, How::Block, set(&[Signal::HUP])).unwrap();
    assert_eq!(p.thread_pending(0).unwrap(), set(&[Signal::USR2]));
    assert_eq!(p.thread_pending(1).unwrap(), SigSet::EMPTY);
    assert_eq!(p.pending(0).unwrap(), set(&[Signal::USR2, Signal::HUP]));
    assert_eq!(p.pending(1).unwrap(), set(&[Signal::HUP]));
    assert_eq!(p.sigpending(0).unwrap(), set(&[Signal::USR2]));
    assert_eq!(p.sigpending(1).unwrap(), set(&[Signal::HUP]));
    // Thread 1 cannot take thread 0's USR2; thread 0 takes HUP, not USR2.
    assert_eq!(drain(&mut p, 0), [(Signal::HUP, 0)]);
    assert_eq!(p.tgkill(2, Signal::USR1, ME), Err(SigError::NoSuchThread));
}

#[test]
fn rule02_default_actions_match_posix_table() {
    use DefaultAction::*;
    let table: &[(Signal, DefaultAction)] = &[
        (Signal::HUP, Terminate),
        (Signal::INT, Terminate),
        (Signal::QUIT, CoreDump),
        (Signal::ILL, CoreDump),
        (Signal::TRAP, CoreDump),
        (Signal::ABRT, CoreDump),
        (Signal::BUS, CoreDump),
        (Signal::FPE, CoreDump),
        (Signal::KILL, Terminate),
        (Signal::USR1, Terminate),
        (Signal::SEGV, CoreDump),
        (Signal::USR2, Terminate),
        (Signal::PIPE, Terminate),
        (Signal::ALRM, Terminate),
        (Signal::TERM, Terminate),
        (Signal::STKFLT, Terminate),
        (Signal::CHLD, Ignore),
        (Signal::CONT, Continue),
        (Signal::STOP, Stop),
        (Signal::TSTP, Stop),
        (Signal::TTIN, Stop),
        (Signal::TTOU, Stop),
        (Signal::URG, Ignore),
        (Signal::XCPU, CoreDump),
        (Signal::XFSZ, CoreDump),
        (Signal::VTALRM, Terminate),
        (Signal::PROF, Terminate),
        (Signal::WINCH, Ignore),
        (Signal::IO, Terminate),
        (Signal::PWR, Terminate),
        (Signal::SYS, CoreDump),
    ];
    assert_eq!(table.len(), 31);
    for &(sig, want) in table {
        assert_eq!(sig.default_action(), want, "{sig}");
    }
    for sig in Signal::all().filter(|s| s.is_realtime()) {
        assert_eq!(sig.default_action(), Terminate, "{sig}");
    }
    // Delivered with SIG_DFL, the action is the table's.
    let mut p = P::new();
    for (sig, want) in [
        (Signal::TERM, Action::Terminate),
        (Signal::SEGV, Action::CoreDump),
        (rt(4), Action::Terminate),
        (Signal::TSTP, Action::Stop),
    ] {
        p.kill(sig, ME).unwrap();
        assert_eq!(p.next_delivery(0).unwrap().unwrap().action, want, "{sig}");
    }
}

#[test]
fn rule03_standard_signal_coalesces_while_blocked() {
    for sig in [Signal::USR1, Signal::CHLD, Signal::TERM, Signal::SEGV] {
        let mut p = P::new();
        p.set_action(sig, handler(1, SaFlags::empty(), SigSet::EMPTY))
            .unwrap();
        p.sigprocmask(0, How::Block, sig.into()).unwrap();
        let first = Sender::new(1, 1);
        assert_eq!(p.kill(sig, first), Ok(Generated::Pending));
        for i in 2..10 {
            assert_eq!(p.kill(sig, Sender::new(i, i)), Ok(Generated::Coalesced));
        }
        p.sigprocmask(0, How::Unblock, sig.into()).unwrap();
        let d = p.next_delivery(0).unwrap().unwrap();
        // The first instance's info is the one kept (legacy_queue).
        assert_eq!((d.info.signo, d.info.pid), (sig, 1));
        p.handler_return(0, SigSet::EMPTY).unwrap();
        assert_eq!(p.next_delivery(0).unwrap(), None, "{sig}");
    }
}

#[test]
fn rule04_realtime_signals_queue_with_payload_up_to_the_limit() {
    let mut p = P::new(); // RTQ = 4
    let sig = rt(2);
    p.sigprocmask(0, How::Block, sig.into()).unwrap();
    for v in 0..4 {
        assert_eq!(p.sigqueue(sig, ME, v), Ok(Generated::Pending));
    }
    // sigqueue past RLIMIT_SIGPENDING: EAGAIN; tgkill too.
    assert_eq!(p.sigqueue(sig, ME, 99), Err(SigError::Again));
    assert_eq!(p.tgkill(1, sig, ME), Err(SigError::Again));
    // kill past the limit: pending, info lost (Linux).
    assert_eq!(p.kill(rt(5), ME), Ok(Generated::Pending));
    assert_eq!(p.queued().count(), 4);
    p.sigprocmask(0, How::SetMask, SigSet::EMPTY).unwrap();
    p.set_action(sig, handler(1, SaFlags::SIGINFO, SigSet::EMPTY))
        .unwrap();
    let d = p.next_delivery(0).unwrap().unwrap();
    assert_eq!(
        (d.info.code, d.info.pid, d.info.uid, d.info.value),
        (SI_QUEUE, 100, 1000, 0)
    );
    p.handler_return(0, SigSet::EMPTY).unwrap();
    let rest = drain(&mut p, 0);
    assert_eq!(rest, [(sig, 1), (sig, 2), (sig, 3), (rt(5), 0)]);
    // Freed entries can be used again.
    assert_eq!(p.sigqueue(sig, ME, 7), Ok(Generated::Pending));
}

#[test]
fn rule05_ignored_unblocked_signal_is_discarded_at_generation() {
    let cases: &[(Signal, Disposition)] = &[
        (Signal::USR1, Disposition::Ignore),
        (Signal::CHLD, Disposition::Default),
        (Signal::WINCH, Disposition::Default),
        (Signal::URG, Disposition::Default),
        (Signal::CONT, Disposition::Default),
        (rt(1), Disposition::Ignore),
    ];
    for &(sig, disp) in cases {
        let mut p = P::new();
        p.set_action(sig, disp).unwrap();
        assert_eq!(p.kill(sig, ME), Ok(Generated::Discarded), "{sig}");
        assert_eq!(p.sigqueue(sig, ME, 1), Ok(Generated::Discarded), "{sig}");
        assert!(p.pending(0).unwrap().is_empty());
        assert_eq!(p.queued().count(), 0);
    }
}

#[test]
fn rule05_blocked_ignored_signal_stays_pending_on_linux() {
    for sig in [Signal::USR1, Signal::CHLD, Signal::CONT, rt(1)] {
        let mut p = P::new();
        if sig != Signal::CHLD && sig != Signal::CONT {
            p.set_action(sig, Disposition::Ignore).unwrap();
        }
        p.sigprocmask(0, How::Block, sig.into()).unwrap();
        assert_eq!(p.kill(sig, ME), Ok(Generated::Pending), "{sig}");
        assert!(p.sigpending(0).unwrap().contains(sig));
        // Unblocked while still ignored: delivered as "ignore".
        p.sigprocmask(0, How::Unblock, sig.into()).unwrap();
        let d = p.next_delivery(0).unwrap().unwrap();
        assert!(
            matches!(d.action, Action::Ignore | Action::Continue),
            "{sig}"
        );
    }
    // Blocked only by another thread than the main one: a thread-directed
    // signal checks its own thread's mask.
    let mut p = P::new();
    p.set_action(Signal::USR1, Disposition::Ignore).unwrap();
    p.sigprocmask(1, How::Block, Signal::USR1.into()).unwrap();
    assert_eq!(p.kill(Signal::USR1, ME), Ok(Generated::Discarded));
    assert_eq!(p.tgkill(1, Signal::USR1, ME), Ok(Generated::Pending));
}

#[test]
fn rule06_setting_ignore_flushes_pending_blocked_or_not() {
    let cases: &[(Signal, Disposition)] = &[
        (Signal::USR1, Disposition::Ignore),
        (rt(3), Disposition::Ignore),
        (Signal::CHLD, Disposition::Default),
        (Signal::WINCH, Disposition::Ignore),
    ];
    for &(sig, disp) in cases {
        let mut p = P::new();
        p.set_action(sig, handler(1, SaFlags::empty(), SigSet::EMPTY))
            .unwrap();
        p.sigprocmask(0, How::Block, sig.into()).unwrap();
        p.sigprocmask(1, How::Block, sig.into()).unwrap();
        p.sigqueue(sig, ME, 1).unwrap();
        p.tgkill(1, sig, ME).unwrap();
        p.kill(Signal::HUP, ME).unwrap();
        assert!(p.pending(1).unwrap().contains(sig));
        p.set_action(sig, disp).unwrap();
        assert!(!p.pending(0).unwrap().contains(sig), "{sig}");
        assert!(!p.pending(1).unwrap().contains(sig), "{sig}");
        assert_eq!(p.queued().count(), 0);
        assert!(p.pending(0).unwrap().contains(Signal::HUP));
    }
    // A handler or SIG_DFL of a terminating signal flushes nothing.
    let mut p = P::new();
    p.sigprocmask(0, How::Block, Signal::USR1.into()).unwrap();
    p.kill(Signal::USR1, ME).unwrap();
    p.set_action(Signal::USR1, handler(1, SaFlags::empty(), SigSet::EMPTY))
        .unwrap();
    p.set_action(Signal::USR1, Disposition::Default).unwrap();
    assert!(p.pending(0).unwrap().contains(Signal::USR1));
}

#[test]
fn rule07_kill_and_stop_cannot_be_caught_blocked_or_ignored() {
    let mut p = P::new();
    for sig in [Signal::KILL, Signal::STOP] {
        for disp in [
            Disposition::Ignore,
            Disposition::Default,
            handler(1, SaFlags::empty(), SigSet::EMPTY),
        ] {
            assert_eq!(p.set_action(sig, disp), Err(SigError::Invalid));
        }
        assert_eq!(p.action(sig), Disposition::Default);
    }
    for how in [How::Block, How::SetMask] {
        p.sigprocmask(0, how, SigSet::FULL).unwrap();
        assert_eq!(p.blocked(0).unwrap(), SigSet::UNCATCHABLE.complement());
    }
    // A handler's mask cannot carry them either.
    p.sigprocmask(0, How::SetMask, SigSet::EMPTY).unwrap();
    p.set_action(Signal::USR1, handler(1, SaFlags::empty(), SigSet::FULL))
        .unwrap();
    assert_eq!(
        p.action(Signal::USR1),
        handler(1, SaFlags::empty(), SigSet::UNCATCHABLE.complement())
    );
    p.kill(Signal::USR1, ME).unwrap();
    let _ = p.next_delivery(0).unwrap().unwrap();
    assert!(!p.blocked(0).unwrap().contains(Signal::KILL));
    p.kill(Signal::KILL, ME).unwrap();
    assert_eq!(
        p.next_delivery(0).unwrap().unwrap().action,
        Action::Terminate
    );
}

#[test]
fn rule08_stop_discards_pending_sigcont_and_sigcont_discards_pending_stops() {
    let mut p = P::new();
    p.sigprocmask(
        0,
        How::Block,
        set(&[Signal::CONT, Signal::TSTP, Signal::TTIN]),
    )
    .unwrap();
    p.kill(Signal::CONT, ME).unwrap();
    assert!(p.pending(0).unwrap().contains(Signal::CONT));
    p.kill(Signal::TSTP, ME).unwrap();
    assert!(!p.pending(0).unwrap().contains(Signal::CONT));
    p.tgkill(1, Signal::TTIN, ME).unwrap();
    p.kill(Signal::CONT, ME).unwrap();
    assert_eq!(p.pending(0).unwrap(), set(&[Signal::CONT]));
    assert_eq!(p.pending(1).unwrap(), set(&[Signal::CONT]));
}

#[test]
fn rule08_sigcont_continues_even_if_blocked_or_ignored_and_handler_runs_on_unblock() {
    let setups: &[(&str, Option<Disposition>, bool)] = &[
        ("default", None, false),
        ("ignored", Some(Disposition::Ignore), false),
        ("blocked", None, true),
        ("ignored+blocked", Some(Disposition::Ignore), true),
        (
            "handler+blocked",
            Some(handler(5, SaFlags::empty(), SigSet::EMPTY)),
            true,
        ),
    ];
    for &(name, disp, blocked) in setups {
        let mut p = P::new();
        if let Some(d) = disp {
            p.set_action(Signal::CONT, d).unwrap();
        }
        if blocked {
            p.sigprocmask(0, How::Block, Signal::CONT.into()).unwrap();
            p.sigprocmask(1, How::Block, Signal::CONT.into()).unwrap();
        }
        p.kill(Signal::STOP, ME).unwrap();
        assert_eq!(p.next_delivery(0).unwrap().unwrap().action, Action::Stop);
        assert!(p.is_stopped());
        // While stopped, other signals stay pending.
        p.kill(Signal::TERM, ME).unwrap();
        assert_eq!(p.next_delivery(0).unwrap(), None, "{name}");
        p.kill(Signal::CONT, ME).unwrap();
        assert!(!p.is_stopped(), "{name}");
        assert_eq!(
            p.pending(0).unwrap().contains(Signal::CONT),
            blocked,
            "{name}"
        );
        if let Some(Disposition::Handler { .. }) = disp {
            assert_eq!(
                p.next_delivery(0).unwrap().unwrap().info.signo,
                Signal::TERM
            );
            p.sigprocmask(0, How::Unblock, Signal::CONT.into()).unwrap();
            let d = p.next_delivery(0).unwrap().unwrap();
            assert!(
                matches!(d.action, Action::RunHandler { id: 5, .. }),
                "{name}"
            );
        }
    }
}

#[test]
fn rule08_sigkill_still_kills_while_stopped() {
    let mut p = P::new();
    p.kill(Signal::STOP, ME).unwrap();
    p.next_delivery(0).unwrap();
    p.kill(Signal::USR1, ME).unwrap();
    p.kill(Signal::KILL, ME).unwrap();
    let d = p.next_delivery(1).unwrap().unwrap();
    assert_eq!((d.info.signo, d.action), (Signal::KILL, Action::Terminate));
    assert!(p.pending(0).unwrap().contains(Signal::USR1));
}

#[test]
fn rule08_default_stop_signals_to_orphaned_group_are_discarded() {
    for sig in [Signal::TSTP, Signal::TTIN, Signal::TTOU] {
        let mut p = P::new();
        p.set_orphaned(true);
        p.kill(sig, ME).unwrap();
        assert_eq!(p.next_delivery(0).unwrap().unwrap().action, Action::Ignore);
        assert!(!p.is_stopped());
    }
    let mut p = P::new();
    p.set_orphaned(true);
    p.kill(Signal::STOP, ME).unwrap();
    assert_eq!(p.next_delivery(0).unwrap().unwrap().action, Action::Stop);
}

#[test]
fn rule09_sigchld_ignore_or_nocldwait_auto_reaps_and_nocldstop_suppresses() {
    let child = Sender::new(55, 1000);
    // (disposition, event, reap, sigchld)
    let h = |f| handler(1, f, SigSet::EMPTY);
    let table: &[(Disposition, ChildEvent, bool, Option<Generated>)] = &[
        (
            Disposition::Default,
            ChildEvent::Exited,
            false,
            Some(Generated::Discarded),
        ),
        (Disposition::Ignore, ChildEvent::Exited, true, None),
        (
            h(SaFlags::empty()),
            ChildEvent::Exited,
            false,
            Some(Generated::Pending),
        ),
        (
            h(SaFlags::NOCLDWAIT),
            ChildEvent::Exited,
            true,
            Some(Generated::Pending),
        ),
        (
            h(SaFlags::empty()),
            ChildEvent::Stopped,
            false,
            Some(Generated::Pending),
        ),
        (h(SaFlags::NOCLDSTOP), ChildEvent::Stopped, false, None),
        (h(SaFlags::NOCLDSTOP), ChildEvent::Continued, false, None),
        (
            h(SaFlags::NOCLDSTOP),
            ChildEvent::Exited,
            false,
            Some(Generated::Pending),
        ),
    ];
    for &(disp, event, reap, sigchld) in table {
        let mut p = P::new();
        p.set_action(Signal::CHLD, disp).unwrap();
        if event == ChildEvent::Exited {
            assert_eq!(p.auto_reap_children(), reap);
        }
        let out = p.child_event(event, child);
        assert_eq!(out, ChildOutcome { reap, sigchld }, "{disp:?} {event:?}");
    }
    // SIGCHLD coalesces: three exits, one delivery (the handler must loop waitpid).
    let mut p = P::new();
    p.set_action(Signal::CHLD, h(SaFlags::empty())).unwrap();
    p.sigprocmask(0, How::Block, Signal::CHLD.into()).unwrap();
    for _ in 0..3 {
        p.child_event(ChildEvent::Exited, child);
    }
    p.sigprocmask(0, How::SetMask, SigSet::EMPTY).unwrap();
    let d = p.next_delivery(0).unwrap().unwrap();
    assert_eq!((d.info.code, d.info.pid), (CLD_EXITED, 55));
    p.handler_return(0, SigSet::EMPTY).unwrap();
    assert_eq!(p.next_delivery(0).unwrap(), None);
}

#[test]
fn rule10_sync_faults_first_then_lowest_then_rt_fifo() {
    let mut p: Process<1, 8> = Process::new();
    p.sigprocmask(0, How::SetMask, SigSet::FULL).unwrap();
    for (sig, v) in [
        (rt(3), 1),
        (rt(1), 2),
        (Signal::TERM, 0),
        (rt(1), 3),
        (Signal::HUP, 0),
        (Signal::SEGV, 0),
    ] {
        p.sigqueue(sig, ME, v).unwrap();
    }
    p.sigprocmask(0, How::SetMask, SigSet::EMPTY).unwrap();
    assert_eq!(
        drain(&mut p, 0),
        [
            (Signal::SEGV, 0),
            (Signal::HUP, 0),
            (Signal::TERM, 0),
            (rt(1), 2),
            (rt(1), 3),
            (rt(3), 1)
        ]
    );
    // Linux: a thread's own pending signals before the process's.
    let mut p = P::new();
    p.kill(Signal::HUP, ME).unwrap();
    p.tgkill(0, Signal::TERM, ME).unwrap();
    assert_eq!(drain(&mut p, 0), [(Signal::TERM, 0), (Signal::HUP, 0)]);
}

#[test]
fn rule11_handler_mask_nodefer_resethand_and_restore() {
    let m = set(&[Signal::USR2]);
    // (flags, mask during handler, disposition afterwards)
    let table: &[(SaFlags, SigSet, bool)] = &[
        (SaFlags::empty(), set(&[Signal::USR1, Signal::USR2]), false),
        (SaFlags::NODEFER, set(&[Signal::USR2]), false),
        (SaFlags::RESETHAND, set(&[Signal::USR1, Signal::USR2]), true),
        (
            SaFlags::NODEFER | SaFlags::RESETHAND | SaFlags::RESTART,
            set(&[Signal::USR2]),
            true,
        ),
    ];
    for &(flags, during, reset) in table {
        let mut p = P::new();
        p.sigprocmask(0, How::SetMask, Signal::HUP.into()).unwrap();
        p.set_action(Signal::USR1, handler(9, flags, m)).unwrap();
        p.kill(Signal::USR1, ME).unwrap();
        let d = p.next_delivery(0).unwrap().unwrap();
        let Action::RunHandler {
            id,
            flags: f,
            saved_mask,
        } = d.action
        else {
            panic!("{d:?}")
        };
        assert_eq!((id, f, saved_mask), (9, flags, Signal::HUP.into()));
        assert_eq!(p.blocked(0).unwrap(), during.with(Signal::HUP), "{flags:?}");
        let after = if reset {
            Disposition::Default
        } else {
            handler(9, flags, m)
        };
        assert_eq!(p.action(Signal::USR1), after);
        p.handler_return(0, saved_mask).unwrap();
        assert_eq!(p.blocked(0).unwrap(), Signal::HUP.into());
    }
}

#[test]
fn rule12_synchronous_fault_cannot_be_deferred() {
    for sig in [Signal::SEGV, Signal::BUS, Signal::ILL, Signal::FPE] {
        // Blocked: unblocked and reset to SIG_DFL, so it kills.
        let mut p = P::new();
        p.set_action(sig, handler(1, SaFlags::empty(), SigSet::EMPTY))
            .unwrap();
        p.sigprocmask(0, How::Block, sig.into()).unwrap();
        p.fault(0, sig).unwrap();
        assert!(!p.blocked(0).unwrap().contains(sig));
        let d = p.next_delivery(0).unwrap().unwrap();
        assert_eq!(
            (d.info.signo, d.info.code, d.action),
            (sig, SI_KERNEL, Action::CoreDump)
        );
        // Ignored: reset to SIG_DFL.
        let mut p = P::new();
        p.set_action(sig, Disposition::Ignore).unwrap();
        assert_eq!(p.fault(1, sig), Ok(Generated::Pending));
        assert_eq!(p.action(sig), Disposition::Default);
        assert_eq!(p.next_delivery(0).unwrap(), None); // thread-directed
        assert_eq!(
            p.next_delivery(1).unwrap().unwrap().action,
            Action::CoreDump
        );
        // Caught and unblocked: the handler runs.
        let mut p = P::new();
        p.set_action(sig, handler(2, SaFlags::empty(), SigSet::EMPTY))
            .unwrap();
        p.fault(0, sig).unwrap();
        assert!(matches!(
            p.next_delivery(0).unwrap().unwrap().action,
            Action::RunHandler { id: 2, .. }
        ));
    }
}

#[test]
fn rule13_sigwait_consumes_only_blocked_signals() {
    let mut p = P::new();
    p.sigprocmask(0, How::Block, set(&[Signal::USR1, rt(1)]))
        .unwrap();
    p.kill(Signal::USR1, ME).unwrap();
    p.kill(Signal::USR2, ME).unwrap();
    p.sigqueue(rt(1), ME, 5).unwrap();
    p.sigqueue(rt(1), ME, 6).unwrap();
    let all = set(&[Signal::USR1, Signal::USR2, rt(1)]);
    assert_eq!(
        p.sigwait(0, all).unwrap().map(|i| i.signo),
        Some(Signal::USR1)
    );
    assert_eq!(p.sigwait(0, all).unwrap().map(|i| i.value), Some(5));
    assert_eq!(p.sigwait(0, all).unwrap().map(|i| i.value), Some(6));
    // USR2 is pending but not blocked: sigwait leaves it.
    assert_eq!(p.sigwait(0, all).unwrap(), None);
    assert!(p.pending(0).unwrap().contains(Signal::USR2));
    // Thread 1 does not block USR1, so cannot sigwait for it.
    p.kill(Signal::USR1, ME).unwrap();
    assert_eq!(p.sigwait(1, all).unwrap(), None);
}

#[test]
fn rule13_sigsuspend_swaps_mask_atomically() {
    let mut p = P::new();
    p.set_action(Signal::USR1, handler(4, SaFlags::empty(), SigSet::EMPTY))
        .unwrap();
    let old = set(&[Signal::USR1, Signal::USR2]);
    p.sigprocmask(0, How::SetMask, old).unwrap();
    p.kill(Signal::USR1, ME).unwrap();
    // Nothing deliverable under the temporary mask: mask is back.
    assert_eq!(p.sigsuspend(0, old).unwrap(), None);
    assert_eq!(p.blocked(0).unwrap(), old);
    let d = p.sigsuspend(0, Signal::USR2.into()).unwrap().unwrap();
    let Action::RunHandler { saved_mask, .. } = d.action else {
        panic!()
    };
    assert_eq!(saved_mask, old);
    assert_eq!(p.blocked(0).unwrap(), set(&[Signal::USR1, Signal::USR2]));
    p.handler_return(0, saved_mask).unwrap();
    assert_eq!(p.blocked(0).unwrap(), old);
}

#[test]
fn rule14_fork_inherits_dispositions_and_mask_with_empty_pending() {
    let mut p = P::new();
    p.set_action(Signal::USR1, handler(1, SaFlags::empty(), SigSet::EMPTY))
        .unwrap();
    p.set_action(Signal::USR2, Disposition::Ignore).unwrap();
    p.sigprocmask(1, How::SetMask, set(&[Signal::HUP, rt(0)]))
        .unwrap();
    p.kill(Signal::HUP, ME).unwrap();
    p.sigqueue(rt(0), ME, 1).unwrap();
    p.tgkill(1, Signal::TERM, ME).unwrap();
    let c = p.fork(1).unwrap();
    assert_eq!(c.action(Signal::USR1), p.action(Signal::USR1));
    assert_eq!(c.action(Signal::USR2), Disposition::Ignore);
    assert_eq!(c.blocked(0).unwrap(), set(&[Signal::HUP, rt(0)]));
    assert!(c.pending(0).unwrap().is_empty());
    assert_eq!(c.queued().count(), 0);
}

#[test]
fn rule14_exec_resets_caught_keeps_ignored_mask_and_pending() {
    let mut p = P::new();
    p.set_action(Signal::USR1, handler(1, SaFlags::RESTART, SigSet::EMPTY))
        .unwrap();
    p.set_action(Signal::USR2, Disposition::Ignore).unwrap();
    p.set_action(Signal::CHLD, Disposition::Ignore).unwrap();
    p.sigprocmask(0, How::SetMask, set(&[Signal::HUP, rt(0)]))
        .unwrap();
    p.kill(Signal::HUP, ME).unwrap();
    p.sigqueue(rt(0), ME, 1).unwrap();
    p.exec();
    assert_eq!(p.action(Signal::USR1), Disposition::Default);
    assert_eq!(p.action(Signal::USR2), Disposition::Ignore);
    assert!(p.auto_reap_children());
    assert_eq!(p.blocked(0).unwrap(), set(&[Signal::HUP, rt(0)]));
    assert_eq!(p.pending(0).unwrap(), set(&[Signal::HUP, rt(0)]));
    assert_eq!(p.queued().count(), 1);
}

// ---- test vectors (a)-(h) of SIGNALS.md ------------------------------------

#[test]
fn vector_a_n_kills_while_blocked_deliver_once() {
    let mut p = P::new();
    p.sigprocmask(0, How::Block, Signal::USR1.into()).unwrap();
    for _ in 0..100 {
        p.kill(Signal::USR1, ME).unwrap();
    }
    p.sigprocmask(0, How::Unblock, Signal::USR1.into()).unwrap();
    assert_eq!(drain(&mut p, 0), [(Signal::USR1, 0)]);
}

#[test]
fn vector_b_n_sigqueues_while_blocked_deliver_n_in_order() {
    let mut p: Process<1, 64> = Process::new();
    let sig = rt(4);
    p.set_action(sig, handler(1, SaFlags::SIGINFO, SigSet::EMPTY))
        .unwrap();
    p.sigprocmask(0, How::Block, sig.into()).unwrap();
    for v in 0..64 {
        p.sigqueue(sig, ME, 1000 + v).unwrap();
    }
    p.sigprocmask(0, How::Unblock, sig.into()).unwrap();
    let got = drain(&mut p, 0);
    let want: Vec<_> = (0..64).map(|v| (sig, 1000 + v)).collect();
    assert_eq!(got, want);
}

#[test]
fn vector_c_order_term_then_rtmin1_then_rtmin3() {
    let mut p = P::new();
    p.sigprocmask(0, How::SetMask, SigSet::FULL).unwrap();
    p.sigqueue(rt(3), ME, 0).unwrap();
    p.sigqueue(rt(1), ME, 0).unwrap();
    p.kill(Signal::TERM, ME).unwrap();
    p.sigprocmask(0, How::SetMask, SigSet::EMPTY).unwrap();
    let order: Vec<_> = drain(&mut p, 0).into_iter().map(|(s, _)| s).collect();
    assert_eq!(order, [Signal::TERM, rt(1), rt(3)]);
}

#[test]
fn vector_d_stop_then_blocked_cont_runs_with_cont_pending() {
    let mut p = P::new();
    p.sigprocmask(0, How::Block, Signal::CONT.into()).unwrap();
    p.kill(Signal::STOP, ME).unwrap();
    assert_eq!(p.next_delivery(0).unwrap().unwrap().action, Action::Stop);
    p.kill(Signal::TSTP, ME).unwrap(); // pending stop, to be discarded
    p.kill(Signal::CONT, ME).unwrap();
    assert!(!p.is_stopped());
    let pending = p.pending(0).unwrap();
    assert!(pending.contains(Signal::CONT));
    assert!(pending.intersection(SigSet::STOP_SIGNALS).is_empty());
}

#[test]
fn vector_e_ignored_dropped_unless_blocked_then_handler_delivers() {
    let mut p = P::new();
    p.set_action(Signal::USR1, Disposition::Ignore).unwrap();
    assert_eq!(p.kill(Signal::USR1, ME), Ok(Generated::Discarded));
    p.sigprocmask(0, How::Block, Signal::USR1.into()).unwrap();
    assert_eq!(p.kill(Signal::USR1, ME), Ok(Generated::Pending));
    p.set_action(Signal::USR1, handler(8, SaFlags::empty(), SigSet::EMPTY))
        .unwrap();
    p.sigprocmask(0, How::Unblock, Signal::USR1.into()).unwrap();
    let d = p.next_delivery(0).unwrap().unwrap();
    assert!(matches!(d.action, Action::RunHandler { id: 8, .. }));
}

#[test]
fn vector_f_set_ignore_while_pending_flushes() {
    let mut p = P::new();
    p.sigprocmask(0, How::Block, set(&[Signal::USR1, rt(2)]))
        .unwrap();
    p.kill(Signal::USR1, ME).unwrap();
    p.sigqueue(rt(2), ME, 1).unwrap();
    p.set_action(Signal::USR1, Disposition::Ignore).unwrap();
    p.set_action(rt(2), Disposition::Ignore).unwrap();
    assert!(p.pending(0).unwrap().is_empty());
    assert_eq!(p.queued().count(), 0);
}

#[test]
fn vector_g_mask_ops_on_kill_and_stop_are_noops() {
    let mut p = P::new();
    for how in [How::Block, How::SetMask, How::Unblock] {
        p.sigprocmask(0, how, SigSet::UNCATCHABLE).unwrap();
        assert_eq!(p.blocked(0).unwrap(), SigSet::EMPTY, "{how:?}");
    }
}

#[test]
fn vector_h_fork_clears_pending_exec_preserves_mask_and_pending() {
    let mut p = P::new();
    p.sigprocmask(0, How::Block, Signal::USR1.into()).unwrap();
    p.kill(Signal::USR1, ME).unwrap();
    let child = p.fork(0).unwrap();
    assert!(child.pending(0).unwrap().is_empty());
    assert_eq!(child.blocked(0).unwrap(), Signal::USR1.into());
    p.exec();
    assert_eq!(p.blocked(0).unwrap(), Signal::USR1.into());
    assert_eq!(p.pending(0).unwrap(), Signal::USR1.into());
}

// ---- the parts -----------------------------------------------------------------

#[test]
fn signal_names_round_trip() {
    for sig in Signal::all() {
        let name = std::format!("{sig}");
        assert_eq!(Signal::from_name(&name), Some(sig), "{name}");
        assert_eq!(Signal::from_name(&name[3..]), Some(sig), "{name}");
    }
    assert_eq!(std::format!("{}", Signal::new(33).unwrap()), "SIGRTMIN+1");
    assert_eq!(std::format!("{}", Signal::RTMAX), "SIGRTMAX");
    assert_eq!(Signal::from_name("SIGRTMAX-1"), Signal::new(63));
    assert_eq!(Signal::from_name("SIGRTMIN+33"), None);
    assert_eq!(Signal::from_name("SIGRTMAX-33"), None);
    assert_eq!(Signal::from_name("SIGFOO"), None);
    assert_eq!(Signal::from_name(""), None);
    assert_eq!(Signal::USR1.number(), linux_raw_sys::general::SIGUSR1);
    assert_eq!(Signal::RTMIN.number(), 32);
    assert_eq!(Signal::try_from(0), Err(SigError::Invalid));
}

#[test]
fn sigset_operations() {
    let s: SigSet = [Signal::HUP, Signal::RTMAX].into_iter().collect();
    assert_eq!(s.bits(), 1 | 1 << 63);
    assert_eq!(s.iter().collect::<Vec<_>>(), [Signal::HUP, Signal::RTMAX]);
    assert_eq!(SigSet::STANDARD.len(), 31);
    assert_eq!(SigSet::REALTIME.len(), 33);
    assert_eq!(
        (s | SigSet::STANDARD) - SigSet::STANDARD,
        Signal::RTMAX.into()
    );
    assert_eq!(!SigSet::EMPTY & s, s);
}

#[test]
fn raise_queue_wraps_and_refuses_when_full() {
    let q: RaiseQueue<4> = RaiseQueue::new();
    let mut next = 0;
    for round in 0..10u64 {
        for i in 0..(round % 4 + 1) {
            q.push(SigInfo::queued(rt(1), ME, round * 10 + i)).unwrap();
        }
        if round % 4 == 3 {
            assert_eq!(q.push(SigInfo::queued(rt(1), ME, 0)), Err(SigError::Again));
        }
        for i in 0..(round % 4 + 1) {
            let got = q.pop().unwrap();
            assert_eq!(got, SigInfo::queued(rt(1), ME, round * 10 + i));
            next += 1;
        }
        assert_eq!(q.pop(), None);
    }
    assert_eq!(next, 23);
    // Negative codes survive the packing.
    q.push(SigInfo::tkill(Signal::RTMAX, Sender::new(u32::MAX, 7)))
        .unwrap();
    assert_eq!(
        q.pop(),
        Some(SigInfo::tkill(Signal::RTMAX, Sender::new(u32::MAX, 7)))
    );
}

#[test]
fn absorb_moves_inbox_into_state_keeping_rt_when_full() {
    let inbox: SignalInbox<8> = SignalInbox::new();
    for v in 0..6 {
        inbox.raise(SigInfo::queued(rt(1), ME, v)).unwrap();
    }
    inbox.raise(SigInfo::user(Signal::USR1, ME)).unwrap();
    inbox.raise(SigInfo::user(Signal::USR1, ME)).unwrap();
    let mut p = P::new(); // RTQ = 4
    p.set_action(rt(1), handler(1, SaFlags::empty(), SigSet::EMPTY))
        .unwrap();
    p.set_action(Signal::USR1, handler(1, SaFlags::empty(), SigSet::EMPTY))
        .unwrap();
    assert_eq!(p.absorb(&inbox), 5);
    let got = drain(&mut p, 0);
    assert_eq!(
        got,
        [
            (Signal::USR1, 0),
            (rt(1), 0),
            (rt(1), 1),
            (rt(1), 2),
            (rt(1), 3)
        ]
    );
    assert_eq!(p.absorb(&inbox), 2);
    assert_eq!(drain(&mut p, 0), [(rt(1), 4), (rt(1), 5)]);
}
