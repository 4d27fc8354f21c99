//! Fuzz body `signal_ops`: decodes a sequence of signal operations from bytes,
//! runs each on `kipc_core::signal::Process` and on the reference model
//! ([`crate::signal_model`]), and panics as soon as an answer or the
//! observable state differs.
//!
//! Encoding: each operation is one opcode byte followed by its arguments;
//! running out of bytes ends the run (short input never panics). Signals are
//! drawn mostly from a palette of the interesting ones so that sequences
//! collide on the same signal often.

use crate::signal_model::{from_sigset, to_sigset, Model, Num};
use kipc_core::signal::{ChildEvent, Disposition, How, Process, SaFlags, Sender, Signal};
use std::collections::BTreeSet;

/// Threads of the process under test.
pub const THREADS: usize = 3;
/// Its real-time queue limit.
pub const RTQ: usize = 4;

/// The signals most operations pick from.
const PALETTE: [Num; 16] = [1, 10, 12, 15, 11, 7, 17, 18, 19, 20, 21, 9, 28, 32, 33, 64];

struct Cursor<'a> {
    data: &'a [u8],
}

impl Cursor<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from(self.byte()?) | u16::from(self.byte()?) << 8)
    }

    fn signal(&mut self) -> Option<Num> {
        let b = self.byte()?;
        Some(if b & 0x80 != 0 {
            u32::from(b & 63) + 1
        } else {
            PALETTE[usize::from(b) % PALETTE.len()]
        })
    }

    /// A thread index; one past the last now and then, to exercise the error.
    fn thread(&mut self) -> Option<usize> {
        let b = usize::from(self.byte()?);
        Some(if b % 16 == 15 { THREADS } else { b % THREADS })
    }

    fn set(&mut self) -> Option<BTreeSet<Num>> {
        let bits = self.u16()?;
        if bits == 0xffff {
            return Some((1..=64).collect());
        }
        Some(
            PALETTE
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, &n)| n)
                .collect(),
        )
    }

    fn sender(&mut self) -> Option<Sender> {
        let b = self.byte()?;
        Some(Sender::new(u32::from(b & 15), u32::from(b >> 4)))
    }

    fn disposition(&mut self) -> Option<Disposition> {
        let b = self.byte()?;
        Some(match b % 4 {
            0 => Disposition::Default,
            1 => Disposition::Ignore,
            _ => {
                let f = self.byte()?;
                let mut flags = SaFlags::empty();
                for (bit, flag) in [
                    SaFlags::NODEFER,
                    SaFlags::RESETHAND,
                    SaFlags::SIGINFO,
                    SaFlags::RESTART,
                    SaFlags::NOCLDSTOP,
                    SaFlags::NOCLDWAIT,
                ]
                .into_iter()
                .enumerate()
                {
                    if f & (1 << bit) != 0 {
                        flags |= flag;
                    }
                }
                let mask = to_sigset(&self.set()?);
                Disposition::handler(u32::from(b >> 2), flags, mask)
            }
        })
    }
}

fn sig(n: Num) -> Signal {
    // Cursor::signal only yields 1..=64.
    Signal::new(n).unwrap_or(Signal::HUP)
}

fn how(b: u8) -> How {
    match b % 3 {
        0 => How::Block,
        1 => How::Unblock,
        _ => How::SetMask,
    }
}

/// Panics unless `core` and `model` look the same from outside.
fn compare_state(core: &Process<THREADS, RTQ>, model: &Model, step: usize) {
    for t in 0..THREADS {
        assert_eq!(
            from_sigset(core.blocked(t).unwrap()),
            model.blocked(t),
            "step {step}: blocked({t})"
        );
        assert_eq!(
            from_sigset(core.thread_pending(t).unwrap()),
            model.thread_pending(t),
            "step {step}: thread_pending({t})"
        );
        assert_eq!(
            from_sigset(core.pending(t).unwrap()),
            model.pending(t),
            "step {step}: pending({t})"
        );
        let sigpending: BTreeSet<Num> = model
            .pending(t)
            .intersection(&model.blocked(t))
            .copied()
            .collect();
        assert_eq!(
            from_sigset(core.sigpending(t).unwrap()),
            sigpending,
            "step {step}: sigpending({t})"
        );
    }
    assert_eq!(
        from_sigset(core.process_pending()),
        model.process_pending(),
        "step {step}: process pending"
    );
    assert_eq!(
        core.is_stopped(),
        model.is_stopped(),
        "step {step}: stopped"
    );
    assert_eq!(
        core.queued().collect::<Vec<_>>(),
        model.queued(),
        "step {step}: queue"
    );
    assert_eq!(
        core.auto_reap_children(),
        model.auto_reap_children(),
        "step {step}: auto-reap"
    );
    for n in 1..=64 {
        assert_eq!(
            core.action(sig(n)),
            model.action(n),
            "step {step}: action({n})"
        );
    }
}

/// One operation; `None` when the input ran out.
fn step(
    c: &mut Cursor<'_>,
    core: &mut Process<THREADS, RTQ>,
    model: &mut Model,
    i: usize,
) -> Option<()> {
    let op = c.byte()?;
    match op % 15 {
        0 => {
            let (n, d) = (c.signal()?, c.disposition()?);
            assert_eq!(
                core.set_action(sig(n), d),
                model.set_action(n, d),
                "step {i}: set_action({n}, {d:?})"
            );
        }
        1 => {
            let (t, h, s) = (c.thread()?, how(c.byte()?), c.set()?);
            let got = core.sigprocmask(t, h, to_sigset(&s)).map(from_sigset);
            assert_eq!(
                got,
                model.sigprocmask(t, h, &s),
                "step {i}: sigprocmask({t}, {h:?}, {s:?})"
            );
        }
        2 | 3 => {
            let (n, from) = (c.signal()?, c.sender()?);
            assert_eq!(
                core.kill(sig(n), from),
                model.kill(n, from),
                "step {i}: kill({n})"
            );
        }
        4 => {
            let (n, from, v) = (c.signal()?, c.sender()?, c.byte()?);
            let v = u64::from(v);
            assert_eq!(
                core.sigqueue(sig(n), from, v),
                model.sigqueue(n, from, v),
                "step {i}: sigqueue({n})"
            );
        }
        5 => {
            let (t, n, from) = (c.thread()?, c.signal()?, c.sender()?);
            assert_eq!(
                core.tgkill(t, sig(n), from),
                model.tgkill(t, n, from),
                "step {i}: tgkill({t}, {n})"
            );
        }
        6 => {
            let (t, n) = (c.thread()?, c.signal()?);
            assert_eq!(
                core.fault(t, sig(n)),
                model.fault(t, n),
                "step {i}: fault({t}, {n})"
            );
        }
        7 | 8 => {
            let t = c.thread()?;
            assert_eq!(
                core.next_delivery(t),
                model.next_delivery(t),
                "step {i}: next_delivery({t})"
            );
        }
        9 => {
            let (t, s) = (c.thread()?, c.set()?);
            assert_eq!(
                core.handler_return(t, to_sigset(&s)),
                model.handler_return(t, &s),
                "step {i}: handler_return"
            );
        }
        10 => {
            let (t, s) = (c.thread()?, c.set()?);
            assert_eq!(
                core.sigsuspend(t, to_sigset(&s)),
                model.sigsuspend(t, &s),
                "step {i}: sigsuspend({t})"
            );
        }
        11 => {
            let (t, s) = (c.thread()?, c.set()?);
            assert_eq!(
                core.sigwait(t, to_sigset(&s)),
                model.sigwait(t, &s),
                "step {i}: sigwait({t}, {s:?})"
            );
        }
        12 => {
            let (b, from) = (c.byte()?, c.sender()?);
            let ev = match b % 3 {
                0 => ChildEvent::Exited,
                1 => ChildEvent::Stopped,
                _ => ChildEvent::Continued,
            };
            assert_eq!(
                core.child_event(ev, from),
                model.child_event(ev, from),
                "step {i}: child_event({ev:?})"
            );
        }
        13 => {
            let b = c.byte()?;
            core.set_orphaned(b & 1 != 0);
            model.set_orphaned(b & 1 != 0);
        }
        _ => {
            let b = c.byte()?;
            if b & 1 == 0 {
                core.exec();
                model.exec();
            } else {
                let t = c.thread()?;
                match (core.fork(t), model.fork(t)) {
                    (Ok(cc), Ok(mc)) => {
                        *core = cc;
                        *model = mc;
                    }
                    (Err(a), Err(b)) => assert_eq!(a, b, "step {i}: fork({t})"),
                    (a, b) => panic!(
                        "step {i}: fork({t}): core {:?}, model {:?}",
                        a.is_ok(),
                        b.is_ok()
                    ),
                }
            }
        }
    }
    Some(())
}

/// The fuzz body: runs the operations `data` encodes on the core and the
/// model, comparing after every one. Panics on the first divergence.
pub fn signal_ops(data: &[u8]) {
    let mut c = Cursor { data };
    let mut core: Process<THREADS, RTQ> = Process::new();
    let mut model = Model::new(THREADS, RTQ);
    let mut i = 0;
    while step(&mut c, &mut core, &mut model, i).is_some() {
        compare_state(&core, &model, i);
        i += 1;
    }
    // Finally drain every thread: the order must agree to the end.
    for t in 0..THREADS {
        for _ in 0..200 {
            let d = core.next_delivery(t);
            assert_eq!(d, model.next_delivery(t), "drain: next_delivery({t})");
            match d {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::signal_ops;
    use std::vec::Vec;

    fn xorshift(state: &mut u64) -> u64 {
        let mut x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        x
    }

    #[test]
    fn signal_ops_core_matches_model_on_random_inputs() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..3000 {
            let len = (xorshift(&mut s) % 300) as usize;
            let data: Vec<u8> = (0..len).map(|_| xorshift(&mut s) as u8).collect();
            signal_ops(&data);
        }
    }

    #[test]
    fn signal_ops_short_inputs_do_not_panic() {
        for len in 0..4 {
            for b in 0..=255u8 {
                signal_ops(&[b; 4][..len]);
            }
        }
    }
}
