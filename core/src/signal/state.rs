//! [`Process`]: the signal state of one process and its threads, and the
//! operations that change it (`sigaction`, `sigprocmask`, `kill`, `tgkill`,
//! `sigqueue`, faults, delivery, `sigwait`, `fork`, `exec`).
//!
//! # Where the state lives
//!
//! | state                         | scope               | rule |
//! |-------------------------------|---------------------|------|
//! | dispositions (`sigaction`)    | process             | 1    |
//! | blocked mask                  | thread              | 1    |
//! | pending set + standard info   | thread, and process | 1    |
//! | queued real-time instances    | one pool of `RTQ`   | 4    |
//! | stopped, orphaned pgrp        | process             | 8    |
//!
//! The real-time pool stands for `RLIMIT_SIGPENDING`: every queued real-time
//! instance of every pending set takes one of its `RTQ` entries. Standard
//! signals never use it (each pending set keeps one info per standard signal),
//! as Linux lets them override the limit.
//!
//! # Linux choices
//!
//! Where POSIX leaves a choice this follows Linux (`kernel/signal.c`):
//! - a process-directed signal stays in the process pending set until some
//!   thread that does not block it asks for a delivery;
//! - a thread takes its own pending signals before the process's
//!   (`dequeue_signal`), each in rule-10 order;
//! - "blocked" in rule 5 means blocked by the target thread, and for a
//!   process-directed signal by the main thread, thread 0 (`sig_ignored` is
//!   asked about the task the pid names);
//! - a real-time signal sent with `kill` past the queue limit is still made
//!   pending, without its info; sent any other way, it fails with `EAGAIN`;
//! - a default-action stop signal other than SIGSTOP is discarded at delivery
//!   when the process group is orphaned (rule 8).

use super::{
    DefaultAction, Disposition, SaFlags, Sender, SigError, SigInfo, SigSet, Signal, SignalInbox,
    CLD_CONTINUED, CLD_EXITED, CLD_STOPPED,
};

/// A thread's index in its [`Process`], `0..THREADS`. Thread 0 is the main
/// thread.
pub type ThreadId = usize;

/// How `sigprocmask` changes a mask.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum How {
    /// `SIG_BLOCK`: add the set.
    Block,
    /// `SIG_UNBLOCK`: remove the set.
    Unblock,
    /// `SIG_SETMASK`: replace the mask with the set.
    SetMask,
}

/// What generating a signal did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Generated {
    /// The signal (instance) is now pending.
    Pending,
    /// A standard signal already pending in the same set: merged (rule 3).
    Coalesced,
    /// Ignored and not blocked: dropped at generation (rule 5).
    Discarded,
}

/// What the thread must do with a delivered signal.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Action {
    /// Nothing: the signal was ignored (or was a default-action stop signal
    /// sent to an orphaned process group).
    Ignore,
    /// Terminate the process.
    Terminate,
    /// Terminate the process with a core dump.
    CoreDump,
    /// The process is now stopped; see [`Process::is_stopped`].
    Stop,
    /// SIGCONT with its default action: nothing left to do, since the
    /// process was continued when SIGCONT was generated (rule 8).
    Continue,
    /// Run handler `id`. The thread's mask is already the handler's (rule
    /// 11); pass `saved_mask` to [`Process::handler_return`] when it returns.
    RunHandler {
        /// The handler's id.
        id: u32,
        /// Its `sa_flags` (`SA_SIGINFO`, `SA_RESTART`, ...).
        flags: SaFlags,
        /// The thread's mask before delivery, restored on return.
        saved_mask: SigSet,
    },
}

/// A delivered signal: its info and what to do.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Delivery {
    /// The signal and its `siginfo_t` fields.
    pub info: SigInfo,
    /// What to do.
    pub action: Action,
}

/// A change in a child's state, reported to the parent (rule 9).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ChildEvent {
    /// The child exited.
    Exited,
    /// The child stopped.
    Stopped,
    /// The child continued.
    Continued,
}

/// What the parent's state makes of a [`ChildEvent`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct ChildOutcome {
    /// The exited child is reaped at once, leaving no zombie (SIGCHLD set to
    /// `SIG_IGN`, or `SA_NOCLDWAIT`).
    pub reap: bool,
    /// What generating SIGCHLD did, or `None` if none was generated.
    pub sigchld: Option<Generated>,
}

/// `siginfo` of a pending standard signal (its number is implied).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct StdInfo {
    code: i32,
    pid: u32,
    uid: u32,
    value: u64,
}

/// A pending set: which signals, and the info of each standard one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct PendingSet {
    bits: SigSet,
    /// Info of standard signal `n` at index `n - 1`; meaningful only while
    /// its bit is set.
    info: [StdInfo; 31],
}

impl PendingSet {
    const EMPTY: PendingSet = PendingSet {
        bits: SigSet::EMPTY,
        info: [StdInfo {
            code: 0,
            pid: 0,
            uid: 0,
            value: 0,
        }; 31],
    };
}

/// Which pending set a signal instance belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Thread(ThreadId),
    Process,
}

/// A queued real-time instance.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Queued {
    target: Target,
    info: SigInfo,
}

/// The signal state of a process with `THREADS` threads and room for `RTQ`
/// queued real-time instances (its `RLIMIT_SIGPENDING`).
///
/// All operations take `&mut self`: the state belongs to whoever plays the
/// kernel (a single owner thread, or a lock: [`Shared`](super::Shared) is
/// this state under a spin lock). Signal handlers and interrupts raise
/// through a [`SignalInbox`] instead, drained by [`absorb`](Self::absorb).
///
/// Operations that name a thread return [`SigError::NoSuchThread`] for an
/// index `>= THREADS`.
///
/// # Examples
///
/// Real-time signals queue with their payload and come out lowest number
/// first, then in send order (rules 4 and 10):
///
/// ```
/// use kipc_core::signal::*;
/// let mut p: Process<1, 8> = Process::new();
/// let from = Sender::new(7, 1000);
/// let (rt1, rt3) = (Signal::rt(1).unwrap(), Signal::rt(3).unwrap());
/// p.sigprocmask(0, How::SetMask, SigSet::FULL).unwrap();
/// p.sigqueue(rt3, from, 30).unwrap();
/// p.sigqueue(rt1, from, 10).unwrap();
/// p.sigqueue(rt1, from, 11).unwrap();
/// p.kill(Signal::TERM, from).unwrap();
/// p.sigprocmask(0, How::SetMask, SigSet::EMPTY).unwrap();
/// let mut got = Vec::new();
/// while let Some(d) = p.next_delivery(0).unwrap() {
///     got.push((d.info.signo, d.info.value));
/// }
/// assert_eq!(got, [(Signal::TERM, 0), (rt1, 10), (rt1, 11), (rt3, 30)]);
/// ```
#[derive(Clone, Debug)]
pub struct Process<const THREADS: usize, const RTQ: usize> {
    /// Disposition of signal `n` at index `n - 1`.
    actions: [Disposition; 64],
    /// Blocked mask of each thread; never holds SIGKILL or SIGSTOP.
    blocked: [SigSet; THREADS],
    /// Each thread's private pending set.
    thread_pending: [PendingSet; THREADS],
    /// The process's shared pending set.
    shared: PendingSet,
    /// Queued real-time instances of all pending sets, oldest first.
    queue: heapless::Vec<Queued, RTQ>,
    /// Stopped by a stop signal, not yet continued.
    stopped: bool,
    /// The process group is orphaned (rule 8).
    orphaned: bool,
}

impl<const THREADS: usize, const RTQ: usize> Default for Process<THREADS, RTQ> {
    fn default() -> Self {
        Self::new()
    }
}

/// Index of `sig` in per-signal arrays.
const fn idx(sig: Signal) -> usize {
    (sig.number() - 1) as usize
}

impl<const THREADS: usize, const RTQ: usize> Process<THREADS, RTQ> {
    const THREADS_OK: () = assert!(THREADS >= 1, "a process has at least one thread");

    /// A fresh process: every disposition `SIG_DFL`, nothing blocked or
    /// pending, running.
    pub const fn new() -> Self {
        let () = Self::THREADS_OK;
        Process {
            actions: [Disposition::Default; 64],
            blocked: [SigSet::EMPTY; THREADS],
            thread_pending: [PendingSet::EMPTY; THREADS],
            shared: PendingSet::EMPTY,
            queue: heapless::Vec::new(),
            stopped: false,
            orphaned: false,
        }
    }

    fn check(thread: ThreadId) -> Result<(), SigError> {
        if thread < THREADS {
            Ok(())
        } else {
            Err(SigError::NoSuchThread)
        }
    }

    fn set_mut(&mut self, target: Target) -> &mut PendingSet {
        match target {
            Target::Thread(t) => &mut self.thread_pending[t],
            Target::Process => &mut self.shared,
        }
    }

    // ---- observation ------------------------------------------------------

    /// The disposition of `sig`.
    pub fn action(&self, sig: Signal) -> Disposition {
        self.actions[idx(sig)]
    }

    /// The blocked mask of `thread`.
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`].
    pub fn blocked(&self, thread: ThreadId) -> Result<SigSet, SigError> {
        Self::check(thread)?;
        Ok(self.blocked[thread])
    }

    /// Every signal pending for `thread`, blocked or not: its own pending set
    /// united with the process's (rule 1).
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`].
    pub fn pending(&self, thread: ThreadId) -> Result<SigSet, SigError> {
        Self::check(thread)?;
        Ok(self.thread_pending[thread].bits.union(self.shared.bits))
    }

    /// `sigpending(2)`: the pending signals `thread` blocks, as POSIX and
    /// Linux define it (`pending(thread) & blocked(thread)`).
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`].
    pub fn sigpending(&self, thread: ThreadId) -> Result<SigSet, SigError> {
        Ok(self.pending(thread)?.intersection(self.blocked[thread]))
    }

    /// The process-wide pending set alone.
    pub fn process_pending(&self) -> SigSet {
        self.shared.bits
    }

    /// `thread`'s private pending set alone.
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`].
    pub fn thread_pending(&self, thread: ThreadId) -> Result<SigSet, SigError> {
        Self::check(thread)?;
        Ok(self.thread_pending[thread].bits)
    }

    /// The queued real-time instances, oldest first, each with the thread it
    /// was sent to (`None`: the process).
    pub fn queued(&self) -> impl Iterator<Item = (Option<ThreadId>, SigInfo)> + '_ {
        self.queue.iter().map(|q| {
            let t = match q.target {
                Target::Thread(t) => Some(t),
                Target::Process => None,
            };
            (t, q.info)
        })
    }

    /// Whether the process is stopped (rule 8).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Whether exited children are reaped automatically: SIGCHLD's
    /// disposition is `SIG_IGN` or has `SA_NOCLDWAIT` (rule 9).
    pub fn auto_reap_children(&self) -> bool {
        let d = self.action(Signal::CHLD);
        d == Disposition::Ignore || d.flags().contains(SaFlags::NOCLDWAIT)
    }

    /// Marks the process group orphaned or not (rule 8: default-action
    /// SIGTSTP/SIGTTIN/SIGTTOU are then discarded).
    pub fn set_orphaned(&mut self, orphaned: bool) {
        self.orphaned = orphaned;
    }

    // ---- sigaction / sigprocmask -------------------------------------------

    /// `sigaction(sig, disposition)`: sets the process-wide disposition of
    /// `sig` (rule 1) and returns the old one. SIGKILL and SIGSTOP are
    /// dropped from a handler's mask. A disposition that ignores the signal
    /// (`SIG_IGN`, or `SIG_DFL` of a default-ignored signal) discards every
    /// pending instance, blocked or not, in every pending set (rule 6).
    ///
    /// # Errors
    ///
    /// [`SigError::Invalid`] for SIGKILL and SIGSTOP (rule 7).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::signal::*;
    /// let mut p: Process<1, 4> = Process::new();
    /// assert_eq!(p.set_action(Signal::KILL, Disposition::Ignore), Err(SigError::Invalid));
    /// p.sigprocmask(0, How::Block, SigSet::from(Signal::USR1)).unwrap();
    /// p.kill(Signal::USR1, Sender::default()).unwrap();
    /// let old = p.set_action(Signal::USR1, Disposition::Ignore).unwrap();
    /// assert_eq!(old, Disposition::Default);
    /// assert!(p.pending(0).unwrap().is_empty()); // flushed
    /// ```
    pub fn set_action(
        &mut self,
        sig: Signal,
        disposition: Disposition,
    ) -> Result<Disposition, SigError> {
        if !sig.can_be_caught() {
            return Err(SigError::Invalid);
        }
        let disposition = match disposition {
            Disposition::Handler { id, flags, mask } => Disposition::Handler {
                id,
                flags,
                mask: mask.difference(SigSet::UNCATCHABLE),
            },
            other => other,
        };
        let old = core::mem::replace(&mut self.actions[idx(sig)], disposition);
        if disposition.ignores(sig) {
            self.flush(SigSet::from(sig));
        }
        Ok(old)
    }

    /// `pthread_sigmask(how, set)` for `thread`; returns the old mask.
    /// SIGKILL and SIGSTOP are silently left out (rule 7). Unblocking never
    /// delivers by itself: ask [`next_delivery`](Self::next_delivery).
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`].
    pub fn sigprocmask(
        &mut self,
        thread: ThreadId,
        how: How,
        set: SigSet,
    ) -> Result<SigSet, SigError> {
        Self::check(thread)?;
        let old = self.blocked[thread];
        let new = match how {
            How::Block => old.union(set),
            How::Unblock => old.difference(set),
            How::SetMask => set,
        };
        self.blocked[thread] = new.difference(SigSet::UNCATCHABLE);
        Ok(old)
    }

    // ---- generation ---------------------------------------------------------

    /// `kill(pid, sig)`: a process-directed signal from `from` (`SI_USER`).
    ///
    /// # Errors
    ///
    /// None in practice: a real-time `kill` past the queue limit still makes
    /// the signal pending, without its info (as Linux does).
    pub fn kill(&mut self, sig: Signal, from: Sender) -> Result<Generated, SigError> {
        self.generate(Target::Process, SigInfo::user(sig, from))
    }

    /// `sigqueue(pid, sig, value)`: a process-directed signal with a payload
    /// (`SI_QUEUE`).
    ///
    /// # Errors
    ///
    /// [`SigError::Again`] if `sig` is real-time and `RTQ` instances are
    /// already queued (rule 4); nothing changes.
    pub fn sigqueue(
        &mut self,
        sig: Signal,
        from: Sender,
        value: u64,
    ) -> Result<Generated, SigError> {
        self.generate(Target::Process, SigInfo::queued(sig, from, value))
    }

    /// `tgkill(tgid, tid, sig)`: a signal directed at `thread` (`SI_TKILL`).
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`]; [`SigError::Again`] for a real-time signal
    /// when the queue is full.
    pub fn tgkill(
        &mut self,
        thread: ThreadId,
        sig: Signal,
        from: Sender,
    ) -> Result<Generated, SigError> {
        Self::check(thread)?;
        self.generate(Target::Thread(thread), SigInfo::tkill(sig, from))
    }

    /// Generates a signal with the given info, directed at `thread` or (for
    /// `None`) at the process.
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`]; [`SigError::Again`] for a real-time signal
    /// whose `code` is not `SI_USER` when the queue is full.
    pub fn send(&mut self, thread: Option<ThreadId>, info: SigInfo) -> Result<Generated, SigError> {
        let target = match thread {
            Some(t) => {
                Self::check(t)?;
                Target::Thread(t)
            }
            None => Target::Process,
        };
        self.generate(target, info)
    }

    /// A synchronous fault in `thread` (SIGSEGV on a bad access, ...): sent
    /// to the thread like the kernel's `force_sig`, which cannot be deferred
    /// (rule 12): if the thread blocks `sig` or the process ignores it, the
    /// disposition is reset to `SIG_DFL` and `sig` unblocked in that thread.
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`]; [`SigError::Again`] for a real-time signal
    /// when the queue is full.
    pub fn fault(&mut self, thread: ThreadId, sig: Signal) -> Result<Generated, SigError> {
        Self::check(thread)?;
        let i = idx(sig);
        if self.blocked[thread].contains(sig) || self.actions[i] == Disposition::Ignore {
            self.actions[i] = Disposition::Default;
            self.blocked[thread].remove(sig);
        }
        self.generate(Target::Thread(thread), SigInfo::kernel(sig))
    }

    /// A child changed state: generates SIGCHLD (with `CLD_*` code) unless
    /// SIGCHLD is `SIG_IGN` and the child exited, or `SA_NOCLDSTOP` is set and
    /// it stopped or continued; says whether an exited child is reaped at
    /// once (rule 9).
    pub fn child_event(&mut self, event: ChildEvent, child: Sender) -> ChildOutcome {
        let d = self.action(Signal::CHLD);
        let (code, send, reap) = match event {
            ChildEvent::Exited => (
                CLD_EXITED,
                d != Disposition::Ignore,
                self.auto_reap_children(),
            ),
            ChildEvent::Stopped => (CLD_STOPPED, !d.flags().contains(SaFlags::NOCLDSTOP), false),
            ChildEvent::Continued => (
                CLD_CONTINUED,
                !d.flags().contains(SaFlags::NOCLDSTOP),
                false,
            ),
        };
        let sigchld = if send {
            let info = SigInfo::with_code(Signal::CHLD, code, child, 0);
            self.generate(Target::Process, info).ok()
        } else {
            None
        };
        ChildOutcome { reap, sigchld }
    }

    /// Moves everything raised into `inbox` (by signal handlers or
    /// interrupts) into this state, as process-directed signals: standard
    /// ones as `kill` from pid 0 (the inbox keeps no sender for them),
    /// real-time ones with their info. Real-time instances stay in the inbox
    /// while this state's queue is full. Returns how many were moved.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::signal::*;
    /// let inbox: SignalInbox<4> = SignalInbox::new();
    /// inbox.raise(SigInfo::queued(Signal::RTMIN, Sender::new(3, 0), 9)).unwrap();
    /// let mut p: Process<1, 4> = Process::new();
    /// p.set_action(Signal::RTMIN, Disposition::handler(1, SaFlags::SIGINFO, SigSet::EMPTY)).unwrap();
    /// assert_eq!(p.absorb(&inbox), 1);
    /// assert_eq!(p.next_delivery(0).unwrap().unwrap().info.value, 9);
    /// ```
    pub fn absorb<const N: usize>(&mut self, inbox: &SignalInbox<N>) -> usize {
        let mut moved = 0;
        for sig in inbox.standard.take_set(SigSet::FULL) {
            // Standard signals cannot fail.
            let _ = self.generate(Target::Process, SigInfo::lost(sig));
            moved += 1;
        }
        while self.queue.len() < RTQ {
            let Some(info) = inbox.realtime.pop() else {
                break;
            };
            // There is room in the queue, so this cannot fail.
            let _ = self.generate(Target::Process, info);
            moved += 1;
        }
        moved
    }

    /// Generation, common to every sender: rules 3, 4, 5 and 8.
    fn generate(&mut self, target: Target, info: SigInfo) -> Result<Generated, SigError> {
        let sig = info.signo;
        // Rule 8: stop signals and SIGCONT cancel each other at generation,
        // and SIGCONT continues the process whatever its mask or disposition.
        if sig.is_stop() {
            self.flush(SigSet::from(Signal::CONT));
        }
        if sig == Signal::CONT {
            self.flush(SigSet::STOP_SIGNALS);
            self.stopped = false;
        }
        // Rule 5 (Linux): ignored signals are discarded, unless blocked.
        let thread = match target {
            Target::Thread(t) => t,
            Target::Process => 0,
        };
        if !self.blocked[thread].contains(sig) && self.actions[idx(sig)].ignores(sig) {
            return Ok(Generated::Discarded);
        }
        if sig.is_standard() {
            // Rule 3: one pending instance of a standard signal per set.
            let set = self.set_mut(target);
            if !set.bits.insert(sig) {
                return Ok(Generated::Coalesced);
            }
            set.info[idx(sig)] = StdInfo {
                code: info.code,
                pid: info.pid,
                uid: info.uid,
                value: info.value,
            };
            return Ok(Generated::Pending);
        }
        // Rule 4: real-time instances queue, up to the limit.
        if self.queue.push(Queued { target, info }).is_err() && info.code != super::SI_USER {
            return Err(SigError::Again);
        }
        self.set_mut(target).bits.insert(sig);
        Ok(Generated::Pending)
    }

    /// Discards every pending instance of the signals in `set`, everywhere.
    fn flush(&mut self, set: SigSet) {
        self.shared.bits = self.shared.bits.difference(set);
        for p in &mut self.thread_pending {
            p.bits = p.bits.difference(set);
        }
        self.queue.retain(|q| !set.contains(q.info.signo));
    }

    // ---- delivery -----------------------------------------------------------

    /// Which pending signal `thread` would take among `allowed`: its own
    /// pending set first, then the process's; in each, rule 10 order.
    fn pick(&self, thread: ThreadId, allowed: SigSet) -> Option<(Target, Signal)> {
        if let Some(sig) = self.thread_pending[thread]
            .bits
            .intersection(allowed)
            .next_for_delivery()
        {
            return Some((Target::Thread(thread), sig));
        }
        self.shared
            .bits
            .intersection(allowed)
            .next_for_delivery()
            .map(|sig| (Target::Process, sig))
    }

    /// Removes one instance of pending `sig` from `target` and returns its
    /// info (the oldest queued one for a real-time signal).
    fn dequeue(&mut self, target: Target, sig: Signal) -> SigInfo {
        if sig.is_standard() {
            let set = self.set_mut(target);
            set.bits.remove(sig);
            let i = set.info[idx(sig)];
            return SigInfo {
                signo: sig,
                code: i.code,
                pid: i.pid,
                uid: i.uid,
                value: i.value,
            };
        }
        let mine = |q: &Queued| q.target == target && q.info.signo == sig;
        let info = match self.queue.iter().position(mine) {
            Some(at) => self.queue.remove(at).info,
            // Pending without queued info: a `kill` past the limit.
            None => SigInfo::lost(sig),
        };
        if !self.queue.iter().any(mine) {
            self.set_mut(target).bits.remove(sig);
        }
        info
    }

    /// What delivering `sig` to `thread` does (rules 2, 8, 11).
    fn act(&mut self, thread: ThreadId, sig: Signal) -> Action {
        match self.actions[idx(sig)] {
            Disposition::Ignore => Action::Ignore,
            Disposition::Handler { id, flags, mask } => {
                let saved_mask = self.blocked[thread];
                let mut during = saved_mask.union(mask);
                if !flags.contains(SaFlags::NODEFER) {
                    during.insert(sig);
                }
                self.blocked[thread] = during.difference(SigSet::UNCATCHABLE);
                if flags.contains(SaFlags::RESETHAND) {
                    self.actions[idx(sig)] = Disposition::Default;
                }
                Action::RunHandler {
                    id,
                    flags,
                    saved_mask,
                }
            }
            Disposition::Default => match sig.default_action() {
                DefaultAction::Ignore => Action::Ignore,
                DefaultAction::Continue => Action::Continue,
                DefaultAction::Terminate => Action::Terminate,
                DefaultAction::CoreDump => Action::CoreDump,
                DefaultAction::Stop if sig != Signal::STOP && self.orphaned => Action::Ignore,
                DefaultAction::Stop => {
                    self.stopped = true;
                    Action::Stop
                }
            },
        }
    }

    /// Delivers the next signal to `thread`, if one is pending and not
    /// blocked: the thread's own before the process's; synchronous faults,
    /// then the lowest number, real-time instances of one signal in send
    /// order (rule 10). A handler delivery installs the handler mask and
    /// applies `SA_RESETHAND` (rule 11); a stop makes the process stopped.
    /// While the process is stopped only SIGKILL is delivered (rule 8).
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`].
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::signal::*;
    /// let mut p: Process<1, 4> = Process::new();
    /// p.set_action(Signal::USR1, Disposition::handler(3, SaFlags::empty(), SigSet::from(Signal::USR2))).unwrap();
    /// p.kill(Signal::USR1, Sender::default()).unwrap();
    /// let d = p.next_delivery(0).unwrap().unwrap();
    /// let Action::RunHandler { id, saved_mask, .. } = d.action else { panic!() };
    /// assert_eq!(id, 3);
    /// assert_eq!(p.blocked(0).unwrap(), SigSet::from_signals(&[Signal::USR1, Signal::USR2]));
    /// p.handler_return(0, saved_mask).unwrap();
    /// assert_eq!(p.blocked(0).unwrap(), SigSet::EMPTY);
    /// ```
    pub fn next_delivery(&mut self, thread: ThreadId) -> Result<Option<Delivery>, SigError> {
        Self::check(thread)?;
        let allowed = if self.stopped {
            SigSet::from(Signal::KILL)
        } else {
            self.blocked[thread].complement()
        };
        let Some((target, sig)) = self.pick(thread, allowed) else {
            return Ok(None);
        };
        let info = self.dequeue(target, sig);
        let action = self.act(thread, sig);
        Ok(Some(Delivery { info, action }))
    }

    /// `sigreturn`: a handler returned; restores `thread`'s mask to the
    /// `saved_mask` its delivery reported (rule 11).
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`].
    pub fn handler_return(&mut self, thread: ThreadId, saved_mask: SigSet) -> Result<(), SigError> {
        Self::check(thread)?;
        self.blocked[thread] = saved_mask.difference(SigSet::UNCATCHABLE);
        Ok(())
    }

    /// `sigsuspend(mask)`: atomically replaces `thread`'s mask with `mask`
    /// and delivers the next signal as [`next_delivery`](Self::next_delivery)
    /// would (rule 13). If nothing is deliverable (the caller would sleep) or
    /// the delivery runs no handler, the old mask is back on return; if a
    /// handler runs, its `saved_mask` is the old mask, restored by
    /// [`handler_return`](Self::handler_return).
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`].
    pub fn sigsuspend(
        &mut self,
        thread: ThreadId,
        mask: SigSet,
    ) -> Result<Option<Delivery>, SigError> {
        Self::check(thread)?;
        let old = self.blocked[thread];
        self.blocked[thread] = mask.difference(SigSet::UNCATCHABLE);
        let mut delivery = self.next_delivery(thread)?;
        match &mut delivery {
            Some(Delivery {
                action: Action::RunHandler { saved_mask, .. },
                ..
            }) => *saved_mask = old,
            _ => self.blocked[thread] = old,
        }
        Ok(delivery)
    }

    /// `sigwaitinfo(set)` (or a `signalfd` read) without sleeping: takes the
    /// next pending signal of `set` that `thread` blocks, in delivery order,
    /// and returns its info without running its action. Pending signals
    /// that are not blocked are never taken (rule 13).
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`].
    pub fn sigwait(&mut self, thread: ThreadId, set: SigSet) -> Result<Option<SigInfo>, SigError> {
        Self::check(thread)?;
        let allowed = set.intersection(self.blocked[thread]);
        Ok(self
            .pick(thread, allowed)
            .map(|(target, sig)| self.dequeue(target, sig)))
    }

    // ---- lifecycle ------------------------------------------------------------

    /// `fork()` from `thread`: the child inherits the dispositions and the
    /// forking thread's mask (for all its threads); its pending sets and
    /// queue are empty and it runs (rule 14).
    ///
    /// # Errors
    ///
    /// [`SigError::NoSuchThread`].
    pub fn fork(&self, thread: ThreadId) -> Result<Self, SigError> {
        Self::check(thread)?;
        let mut child = Self::new();
        child.actions = self.actions;
        child.blocked = [self.blocked[thread]; THREADS];
        child.orphaned = self.orphaned;
        Ok(child)
    }

    /// `execve()`: caught signals reset to `SIG_DFL`, ignored ones stay
    /// ignored; masks and pending signals are kept (rule 14).
    pub fn exec(&mut self) {
        for d in &mut self.actions {
            if let Disposition::Handler { .. } = d {
                *d = Disposition::Default;
            }
        }
    }
}
