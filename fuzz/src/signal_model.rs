//! A reference model of the signal rules in `SIGNALS.md`, written to be
//! obviously right rather than fast: sets are `BTreeSet`s of numbers, pending
//! signals are lists of instances in arrival order, and every rule is a few
//! lines that say what the rule says. `signal_target` runs it side by side
//! with `kipc_core::signal::Process` and compares every answer.
//!
//! It shares only vocabulary with the core (`Signal`, `Disposition`,
//! `SigInfo`, ...) so answers compare directly; none of the core's logic or
//! set arithmetic is used. The Linux choices it transcribes are the ones the
//! core documents in `core/src/signal/state.rs`.

use kipc_core::signal::{
    Action, ChildEvent, ChildOutcome, Delivery, Disposition, Generated, How, SaFlags, Sender,
    SigError, SigInfo, Signal, CLD_CONTINUED, CLD_EXITED, CLD_STOPPED, SI_KERNEL, SI_QUEUE,
    SI_TKILL, SI_USER,
};
use std::collections::{BTreeMap, BTreeSet};

/// Signal numbers (kept plain on purpose).
pub type Num = u32;

const SIGILL: Num = 4;
const SIGTRAP: Num = 5;
const SIGBUS: Num = 7;
const SIGFPE: Num = 8;
const SIGKILL: Num = 9;
const SIGSEGV: Num = 11;
const SIGCHLD: Num = 17;
const SIGCONT: Num = 18;
const SIGSTOP: Num = 19;
const SIGTSTP: Num = 20;
const SIGTTIN: Num = 21;
const SIGTTOU: Num = 22;
const SIGSYS: Num = 31;
const SIGRTMIN: Num = 32;

/// Rule 2, as a table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dfl {
    Term,
    Ign,
    Core,
    Stop,
    Cont,
}

fn default_action(sig: Num) -> Dfl {
    match sig {
        17 | 23 | 28 => Dfl::Ign,                               // CHLD URG WINCH
        18 => Dfl::Cont,                                        // CONT
        19..=22 => Dfl::Stop,                                   // STOP TSTP TTIN TTOU
        3 | 4 | 6 | 8 | 11 | 7 | 31 | 5 | 24 | 25 => Dfl::Core, // QUIT ILL ABRT FPE SEGV BUS SYS TRAP XCPU XFSZ
        _ => Dfl::Term,                                         // everything else, RT included
    }
}

fn is_stop_signal(sig: Num) -> bool {
    [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU].contains(&sig)
}

fn sig(n: Num) -> Signal {
    Signal::new(n).expect("model only handles valid numbers")
}

/// One pending instance.
#[derive(Clone, Debug)]
struct Inst {
    info: SigInfo,
    /// A real-time instance holding one of the `limit` queue entries. A
    /// real-time `kill` past the limit is pending without one (info lost).
    queued: bool,
    /// Arrival order, across all lists.
    seq: u64,
}

/// The whole signal state of a process with `threads` threads.
#[derive(Clone, Debug)]
pub struct Model {
    threads: usize,
    limit: usize,
    disp: BTreeMap<Num, Disposition>,
    blocked: Vec<BTreeSet<Num>>,
    thread_pending: Vec<Vec<Inst>>,
    process_pending: Vec<Inst>,
    stopped: bool,
    orphaned: bool,
    seq: u64,
}

/// `None` = the process pending list; `Some(t)` = thread `t`'s.
type Where = Option<usize>;

impl Model {
    /// A fresh process.
    pub fn new(threads: usize, limit: usize) -> Model {
        Model {
            threads,
            limit,
            disp: BTreeMap::new(),
            blocked: vec![BTreeSet::new(); threads],
            thread_pending: vec![Vec::new(); threads],
            process_pending: Vec::new(),
            stopped: false,
            orphaned: false,
            seq: 0,
        }
    }

    fn thread_ok(&self, t: usize) -> Result<(), SigError> {
        if t < self.threads {
            Ok(())
        } else {
            Err(SigError::NoSuchThread)
        }
    }

    fn list(&mut self, w: Where) -> &mut Vec<Inst> {
        match w {
            Some(t) => &mut self.thread_pending[t],
            None => &mut self.process_pending,
        }
    }

    /// Disposition of `n`.
    pub fn action(&self, n: Num) -> Disposition {
        self.disp.get(&n).copied().unwrap_or(Disposition::Default)
    }

    fn is_ignored_disposition(&self, n: Num) -> bool {
        match self.action(n) {
            Disposition::Ignore => true,
            // SIGCONT's default is also discarded at generation (it has
            // already continued the process).
            Disposition::Default => matches!(default_action(n), Dfl::Ign | Dfl::Cont),
            Disposition::Handler { .. } => false,
        }
    }

    /// Blocked mask of `t` as numbers.
    pub fn blocked(&self, t: usize) -> BTreeSet<Num> {
        self.blocked[t].clone()
    }

    /// Numbers pending in thread `t`'s own list.
    pub fn thread_pending(&self, t: usize) -> BTreeSet<Num> {
        self.thread_pending[t]
            .iter()
            .map(|i| i.info.signo.number())
            .collect()
    }

    /// Numbers pending for the process.
    pub fn process_pending(&self) -> BTreeSet<Num> {
        self.process_pending
            .iter()
            .map(|i| i.info.signo.number())
            .collect()
    }

    /// Rule 1: union of the thread's and the process's.
    pub fn pending(&self, t: usize) -> BTreeSet<Num> {
        self.thread_pending(t)
            .union(&self.process_pending())
            .copied()
            .collect()
    }

    /// Whether stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Queued (entry-holding) RT instances, oldest first, with their target.
    pub fn queued(&self) -> Vec<(Option<usize>, SigInfo)> {
        let mut all: Vec<(u64, Option<usize>, SigInfo)> = Vec::new();
        for (t, list) in self.thread_pending.iter().enumerate() {
            for i in list.iter().filter(|i| i.queued) {
                all.push((i.seq, Some(t), i.info));
            }
        }
        for i in self.process_pending.iter().filter(|i| i.queued) {
            all.push((i.seq, None, i.info));
        }
        all.sort_by_key(|e| e.0);
        all.into_iter().map(|(_, t, i)| (t, i)).collect()
    }

    fn queued_count(&self) -> usize {
        self.queued().len()
    }

    /// Rule 9.
    pub fn auto_reap_children(&self) -> bool {
        match self.action(SIGCHLD) {
            Disposition::Ignore => true,
            Disposition::Handler { flags, .. } => flags.contains(SaFlags::NOCLDWAIT),
            Disposition::Default => false,
        }
    }

    /// Remove every pending instance of `n`, in every list.
    fn discard_everywhere(&mut self, n: Num) {
        self.process_pending.retain(|i| i.info.signo.number() != n);
        for list in &mut self.thread_pending {
            list.retain(|i| i.info.signo.number() != n);
        }
    }

    /// Rules 1, 6, 7.
    pub fn set_action(&mut self, n: Num, d: Disposition) -> Result<Disposition, SigError> {
        if n == SIGKILL || n == SIGSTOP {
            return Err(SigError::Invalid); // rule 7
        }
        let d = match d {
            Disposition::Handler { id, flags, mask } => {
                let mask = mask.without(Signal::KILL).without(Signal::STOP);
                Disposition::Handler { id, flags, mask }
            }
            other => other,
        };
        let old = self.action(n);
        self.disp.insert(n, d);
        if self.is_ignored_disposition(n) {
            self.discard_everywhere(n); // rule 6
        }
        Ok(old)
    }

    /// Rule 7: SIGKILL/SIGSTOP silently dropped.
    pub fn sigprocmask(
        &mut self,
        t: usize,
        how: How,
        set: &BTreeSet<Num>,
    ) -> Result<BTreeSet<Num>, SigError> {
        self.thread_ok(t)?;
        let old = self.blocked[t].clone();
        let mut new = match how {
            How::Block => old.union(set).copied().collect(),
            How::Unblock => old.difference(set).copied().collect(),
            How::SetMask => set.clone(),
        };
        new.remove(&SIGKILL);
        new.remove(&SIGSTOP);
        self.blocked[t] = new;
        Ok(old)
    }

    /// Generation: rules 3, 4, 5, 8.
    pub fn generate(&mut self, w: Where, info: SigInfo) -> Result<Generated, SigError> {
        let n = info.signo.number();
        // Rule 8.
        if is_stop_signal(n) {
            self.discard_everywhere(SIGCONT);
        }
        if n == SIGCONT {
            for s in [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU] {
                self.discard_everywhere(s);
            }
            self.stopped = false;
        }
        // Rule 5: discarded if ignored, unless blocked (by the target thread;
        // for a process-directed signal, the main thread).
        let blocker = w.unwrap_or(0);
        if !self.blocked[blocker].contains(&n) && self.is_ignored_disposition(n) {
            return Ok(Generated::Discarded);
        }
        let seq = self.seq;
        self.seq += 1;
        if n < SIGRTMIN {
            // Rule 3: coalesce.
            if self.list(w).iter().any(|i| i.info.signo.number() == n) {
                return Ok(Generated::Coalesced);
            }
            self.list(w).push(Inst {
                info,
                queued: false,
                seq,
            });
            return Ok(Generated::Pending);
        }
        // Rule 4: queue, up to the limit.
        if self.queued_count() < self.limit {
            self.list(w).push(Inst {
                info,
                queued: true,
                seq,
            });
            return Ok(Generated::Pending);
        }
        if info.code != SI_USER {
            return Err(SigError::Again);
        }
        // kill() past the limit: pending, info lost.
        self.list(w).push(Inst {
            info,
            queued: false,
            seq,
        });
        Ok(Generated::Pending)
    }

    /// `kill`.
    pub fn kill(&mut self, n: Num, from: Sender) -> Result<Generated, SigError> {
        self.generate(None, SigInfo::with_code(sig(n), SI_USER, from, 0))
    }

    /// `sigqueue`.
    pub fn sigqueue(&mut self, n: Num, from: Sender, value: u64) -> Result<Generated, SigError> {
        self.generate(None, SigInfo::with_code(sig(n), SI_QUEUE, from, value))
    }

    /// `tgkill`.
    pub fn tgkill(&mut self, t: usize, n: Num, from: Sender) -> Result<Generated, SigError> {
        self.thread_ok(t)?;
        self.generate(Some(t), SigInfo::with_code(sig(n), SI_TKILL, from, 0))
    }

    /// Rule 12: a fault is forced on the thread.
    pub fn fault(&mut self, t: usize, n: Num) -> Result<Generated, SigError> {
        self.thread_ok(t)?;
        if self.blocked[t].contains(&n) || self.action(n) == Disposition::Ignore {
            self.disp.insert(n, Disposition::Default);
            self.blocked[t].remove(&n);
        }
        self.generate(
            Some(t),
            SigInfo::with_code(sig(n), SI_KERNEL, Sender::new(0, 0), 0),
        )
    }

    /// Rule 9.
    pub fn child_event(&mut self, ev: ChildEvent, child: Sender) -> ChildOutcome {
        let d = self.action(SIGCHLD);
        let nocldstop =
            matches!(d, Disposition::Handler { flags, .. } if flags.contains(SaFlags::NOCLDSTOP));
        let (code, send) = match ev {
            ChildEvent::Exited => (CLD_EXITED, d != Disposition::Ignore),
            ChildEvent::Stopped => (CLD_STOPPED, !nocldstop),
            ChildEvent::Continued => (CLD_CONTINUED, !nocldstop),
        };
        let reap = ev == ChildEvent::Exited && self.auto_reap_children();
        let sigchld = if send {
            self.generate(None, SigInfo::with_code(Signal::CHLD, code, child, 0))
                .ok()
        } else {
            None
        };
        ChildOutcome { reap, sigchld }
    }

    /// Orphaned process group flag.
    pub fn set_orphaned(&mut self, o: bool) {
        self.orphaned = o;
    }

    /// Rule 10: which signal among `allowed` to take, and from where.
    fn pick(&self, t: usize, allowed: &dyn Fn(Num) -> bool) -> Option<(Where, Num)> {
        let choose = |list: &Vec<Inst>| -> Option<Num> {
            let cands: BTreeSet<Num> = list
                .iter()
                .map(|i| i.info.signo.number())
                .filter(|&n| allowed(n))
                .collect();
            let sync = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS];
            let first_sync = cands.iter().copied().find(|n| sync.contains(n));
            first_sync.or_else(|| cands.iter().next().copied())
        };
        if let Some(n) = choose(&self.thread_pending[t]) {
            return Some((Some(t), n));
        }
        choose(&self.process_pending).map(|n| (None, n))
    }

    /// Take one instance of `n` from list `w`.
    fn take(&mut self, w: Where, n: Num) -> SigInfo {
        let list = self.list(w);
        if n < SIGRTMIN {
            let at = list
                .iter()
                .position(|i| i.info.signo.number() == n)
                .expect("picked");
            return list.remove(at).info;
        }
        let info = match list
            .iter()
            .position(|i| i.info.signo.number() == n && i.queued)
        {
            Some(at) => list.remove(at).info,
            None => SigInfo::with_code(sig(n), SI_USER, Sender::new(0, 0), 0),
        };
        // Lost-info instances are only a "pending" mark: it goes once no
        // queued instance of `n` is left.
        if !list.iter().any(|i| i.info.signo.number() == n && i.queued) {
            list.retain(|i| i.info.signo.number() != n);
        }
        info
    }

    /// Delivery: rules 2, 8, 10, 11.
    pub fn next_delivery(&mut self, t: usize) -> Result<Option<Delivery>, SigError> {
        self.thread_ok(t)?;
        let stopped = self.stopped;
        let blocked = self.blocked[t].clone();
        let allowed = move |n: Num| {
            if stopped {
                n == SIGKILL
            } else {
                !blocked.contains(&n)
            }
        };
        let Some((w, n)) = self.pick(t, &allowed) else {
            return Ok(None);
        };
        let info = self.take(w, n);
        let action = match self.action(n) {
            Disposition::Ignore => Action::Ignore,
            Disposition::Handler { id, flags, mask } => {
                let saved_mask = to_sigset(&self.blocked[t]);
                let mut during: BTreeSet<Num> =
                    self.blocked[t].union(&from_sigset(mask)).copied().collect();
                if !flags.contains(SaFlags::NODEFER) {
                    during.insert(n);
                }
                during.remove(&SIGKILL);
                during.remove(&SIGSTOP);
                self.blocked[t] = during;
                if flags.contains(SaFlags::RESETHAND) {
                    self.disp.insert(n, Disposition::Default);
                }
                Action::RunHandler {
                    id,
                    flags,
                    saved_mask,
                }
            }
            Disposition::Default => match default_action(n) {
                Dfl::Ign => Action::Ignore,
                Dfl::Cont => Action::Continue,
                Dfl::Term => Action::Terminate,
                Dfl::Core => Action::CoreDump,
                Dfl::Stop => {
                    if n != SIGSTOP && self.orphaned {
                        Action::Ignore
                    } else {
                        self.stopped = true;
                        Action::Stop
                    }
                }
            },
        };
        Ok(Some(Delivery { info, action }))
    }

    /// Rule 11: restore the mask.
    pub fn handler_return(&mut self, t: usize, saved: &BTreeSet<Num>) -> Result<(), SigError> {
        self.thread_ok(t)?;
        let mut m = saved.clone();
        m.remove(&SIGKILL);
        m.remove(&SIGSTOP);
        self.blocked[t] = m;
        Ok(())
    }

    /// Rule 13: sigsuspend.
    pub fn sigsuspend(
        &mut self,
        t: usize,
        mask: &BTreeSet<Num>,
    ) -> Result<Option<Delivery>, SigError> {
        self.thread_ok(t)?;
        let old = self.blocked[t].clone();
        let mut m = mask.clone();
        m.remove(&SIGKILL);
        m.remove(&SIGSTOP);
        self.blocked[t] = m;
        let mut d = self.next_delivery(t)?;
        match &mut d {
            Some(Delivery {
                action: Action::RunHandler { saved_mask, .. },
                ..
            }) => *saved_mask = to_sigset(&old),
            _ => self.blocked[t] = old,
        }
        Ok(d)
    }

    /// Rule 13: sigwait takes only blocked members of `set`.
    pub fn sigwait(&mut self, t: usize, set: &BTreeSet<Num>) -> Result<Option<SigInfo>, SigError> {
        self.thread_ok(t)?;
        let blocked = self.blocked[t].clone();
        let set = set.clone();
        let allowed = move |n: Num| set.contains(&n) && blocked.contains(&n);
        Ok(self.pick(t, &allowed).map(|(w, n)| self.take(w, n)))
    }

    /// Rule 14: fork from thread `t`.
    pub fn fork(&self, t: usize) -> Result<Model, SigError> {
        self.thread_ok(t)?;
        let mut child = Model::new(self.threads, self.limit);
        child.disp = self.disp.clone();
        child.blocked = vec![self.blocked[t].clone(); self.threads];
        child.orphaned = self.orphaned;
        Ok(child)
    }

    /// Rule 14: exec.
    pub fn exec(&mut self) {
        for d in self.disp.values_mut() {
            if matches!(d, Disposition::Handler { .. }) {
                *d = Disposition::Default;
            }
        }
    }
}

/// Numbers of a core set.
pub fn from_sigset(s: kipc_core::signal::SigSet) -> BTreeSet<Num> {
    (1..=64)
        .filter(|&n| s.bits() & (1u64 << (n - 1)) != 0)
        .collect()
}

/// A core set of numbers.
pub fn to_sigset(s: &BTreeSet<Num>) -> kipc_core::signal::SigSet {
    kipc_core::signal::SigSet::from_bits(s.iter().fold(0u64, |b, &n| b | (1u64 << (n - 1))))
}
