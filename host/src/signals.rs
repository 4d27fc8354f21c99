//! Real Linux signals, received without doing unsafe work in a handler.
//!
//! [`Signals::new`] takes over a set of signals: it installs one
//! `SA_SIGINFO` handler (via `sigaction`, keeping the previous action to
//! chain to and to restore on drop) that records each signal's
//! `(signo, si_code, si_pid, si_uid, si_value)` into a static lock-free
//! inbox (the core's [`SignalInbox`]) and wakes the reader through an
//! eventfd. The reader takes signals with [`Signals::try_next`],
//! [`Signals::wait`], [`Signals::wait_timeout`] or the iterators, in the
//! core's delivery order (rule 10: lowest number first, real-time instances
//! of one signal in send order), or polls the eventfd ([`AsFd`]) in epoll,
//! mio or tokio.
//!
//! # What the handler does
//!
//! Only async-signal-safe work: it saves `errno`; for a standard signal it
//! claims a per-signal info slot (if free), fills it and raises the signal
//! in an [`AtomicPending`](kipc_core::signal::AtomicPending) word, so
//! instances raised again before the reader takes them merge (rule 3); for a
//! real-time signal it pushes the info onto a
//! [`RaiseQueue`](kipc_core::signal::RaiseQueue) of [`INBOX_CAPACITY`] entries, so
//! instances queue with their payloads (rule 4); it writes 1 to the eventfd,
//! calls the previous handler if there was one, and restores `errno`.
//!
//! # Throttle: no real-time signal lost to a slow reader
//!
//! The kernel queues real-time signals up to `RLIMIT_SIGPENDING` and then
//! makes `sigqueue` fail with `EAGAIN`, which is the back-pressure a sender
//! relies on. A handler that drains them into a smaller queue would lose
//! them instead. So once the inbox holds [`INBOX_CAPACITY`]` / 2` real-time
//! instances, the handler adds the signal to the mask that the interrupted
//! thread gets back on return (`uc_sigmask`): further instances wait in the
//! kernel, where the sender sees `EAGAIN`. When the reader has drained the
//! inbox it unblocks the throttled signals *in its own thread*, and the
//! kernel hands it the waiting instances. A thread other than the reader's
//! that got throttled keeps those signals blocked (the process still
//! receives them through the reader's thread). If the queue is nonetheless
//! full (more threads than the headroom), the instance is counted in
//! [`Signals::lost`].
//!
//! # Refused signals
//!
//! [`Signals::new`] refuses SIGKILL and SIGSTOP (they cannot be caught),
//! the synchronous faults SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP and
//! SIGSYS (returning from their handler re-runs the faulting instruction;
//! deferring them is undefined, rule 12), and the real-time signals the C
//! library keeps for itself (below `SIGRTMIN()`, 34 with glibc).
//!
//! # Signal names
//!
//! [`parse_signal`] and [`signal_name`] use the C library's numbering for
//! real-time signals, as `kill -l` and shells do: `SIGRTMIN+1` is
//! `SIGRTMIN() + 1` (35 with glibc). The core's `Display` counts from the
//! kernel's 32 instead.
//!
//! # Examples
//!
//! ```
//! use kipc_core::signal::{SigSet, Signal};
//! use kipc_host::signals::{self, Signals};
//! use std::time::Duration;
//!
//! let mut sigs = Signals::new(SigSet::from(Signal::USR1)).unwrap();
//! signals::kill(std::process::id() as i32, Signal::USR1).unwrap();
//! let got = sigs.wait_timeout(Duration::from_secs(5)).unwrap().unwrap();
//! assert_eq!(got.signo, Signal::USR1);
//! assert_eq!(got.pid, std::process::id());
//! ```
//!
//! # References
//! - [signal(7)](https://man7.org/linux/man-pages/man7/signal.7.html),
//!   [signal-safety(7)](https://man7.org/linux/man-pages/man7/signal-safety.7.html)

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use kipc_core::signal::{
    Disposition, Process, SaFlags, SigInfo as CoreSigInfo, SigSet, Signal, SignalInbox,
};
pub use kipc_core::signal::{SigInfo, SI_QUEUE, SI_TKILL, SI_USER};
use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags};
use rustix::io::Errno;

use crate::sys::signal as sys;
use crate::{Error, Result};

/// Real-time instances the static inbox holds between the handler and the
/// reader. The handler throttles at half of this (see the module docs).
pub const INBOX_CAPACITY: usize = 4096;
const THROTTLE_AT: usize = INBOX_CAPACITY / 2;
/// Real-time instances the reader's own core state holds.
const STATE_RTQ: usize = 256;

// ---- state shared with the handler (statics: one Signals per process) ----

/// Set while a `Signals` exists.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Where the handler raises signals.
static INBOX: SignalInbox<INBOX_CAPACITY> = SignalInbox::new();
/// Real-time instances in `INBOX` (incremented by the handler after a push,
/// decremented by the reader after a pop).
static RT_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Real-time instances dropped because the inbox was full.
static LOST: AtomicU64 = AtomicU64::new(0);
/// Signals some handler throttled (bit `n - 1` for signal `n`).
static THROTTLED: AtomicU64 = AtomicU64::new(0);
/// The eventfd the handler writes, or -1.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// Handlers between loading `WAKE_FD` and finishing their write.
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// The info of one pending standard signal. `state`: 0 free, 1 being
/// written by a handler, 2 written (readable by the reader, who frees it).
struct StdSlot {
    state: AtomicU32,
    code: AtomicI32,
    pid: AtomicU32,
    uid: AtomicU32,
    value: AtomicU64,
}

impl StdSlot {
    const fn new() -> StdSlot {
        StdSlot {
            state: AtomicU32::new(0),
            code: AtomicI32::new(0),
            pid: AtomicU32::new(0),
            uid: AtomicU32::new(0),
            value: AtomicU64::new(0),
        }
    }
}

/// Info of standard signal `n` at index `n - 1`.
static STD_INFO: [StdSlot; 31] = [const { StdSlot::new() }; 31];

/// The [`sys::Recorder`] that [`Signals`] hands to [`sys::install`]: the
/// handler calls it with what it read. Returns whether to throttle
/// `info.signo` in the interrupted thread. Async-signal-safe: atomics only,
/// no allocation, no lock; the one system call is the eventfd write.
fn record(info: CoreSigInfo) -> bool {
    let sig = info.signo;
    let throttle = if sig.is_realtime() {
        match INBOX.realtime.push(info) {
            Ok(()) => RT_COUNT.fetch_add(1, Ordering::AcqRel) + 1 >= THROTTLE_AT,
            Err(_) => {
                LOST.fetch_add(1, Ordering::Relaxed);
                true
            }
        }
    } else {
        let slot = &STD_INFO[(sig.number() - 1) as usize];
        // Claim the slot if free; otherwise this instance merges with the
        // pending one and keeps that one's info (as Linux keeps the first).
        if slot
            .state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            slot.code.store(info.code, Ordering::Relaxed);
            slot.pid.store(info.pid, Ordering::Relaxed);
            slot.uid.store(info.uid, Ordering::Relaxed);
            slot.value.store(info.value, Ordering::Relaxed);
            // SYNC: std info
            slot.state.store(2, Ordering::Release);
        }
        INBOX.standard.raise(sig);
        false
    };
    if throttle {
        THROTTLED.fetch_or(SigSet::from(sig).bits(), Ordering::AcqRel);
    }
    IN_HANDLER.fetch_add(1, Ordering::SeqCst);
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        sys::wake(fd);
    }
    IN_HANDLER.fetch_sub(1, Ordering::SeqCst);
    throttle
}

/// Takes the recorded info of standard signal `sig`, or a sender-less one.
fn take_std_info(sig: Signal) -> CoreSigInfo {
    let slot = &STD_INFO[(sig.number() - 1) as usize];
    // SYNC: std info
    if slot.state.load(Ordering::Acquire) != 2 {
        return CoreSigInfo::lost(sig);
    }
    let info = CoreSigInfo {
        signo: sig,
        code: slot.code.load(Ordering::Relaxed),
        pid: slot.pid.load(Ordering::Relaxed),
        uid: slot.uid.load(Ordering::Relaxed),
        value: slot.value.load(Ordering::Relaxed),
    };
    slot.state.store(0, Ordering::Release);
    info
}

// ---- Signals -----------------------------------------------------------------

/// What happens to a signal a [`Signals`] owns: see [`Signals::set_handling`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handling {
    /// kipc's handler records it for the reader (the state after `new`).
    Inbox,
    /// `SIG_DFL`: the default action.
    Default,
    /// `SIG_IGN`: discarded (pending instances too, rule 6).
    Ignore,
}

/// The signals of this process, taken over from their previous handlers.
/// At most one exists at a time. See the [module docs](self).
#[derive(Debug)]
pub struct Signals {
    set: SigSet,
    saved: Vec<(Signal, sys::SavedAction)>,
    wake: OwnedFd,
    /// The reader's view: every owned signal has a handler disposition (or
    /// what `set_handling` made it), nothing blocked.
    state: Box<Process<1, STATE_RTQ>>,
    /// Real-time instances in `state`.
    state_rt: usize,
}

fn invalid(sig: Signal, reason: &'static str) -> Error {
    Error::InvalidArgument {
        object: format!("signal {}", signal_name(sig)),
        reason,
    }
}

/// Why `Signals` refuses `sig`, if it does.
fn refusal(sig: Signal) -> Option<&'static str> {
    if !sig.can_be_caught() {
        Some("SIGKILL and SIGSTOP cannot be caught")
    } else if sig.is_synchronous() {
        Some("synchronous fault signals cannot be taken over (they re-fault on return)")
    } else if sig.is_realtime() && sig.number() < sys::rtmin() {
        Some("reserved by the C library")
    } else {
        None
    }
}

const HANDLER: Disposition = Disposition::Handler {
    id: 0,
    flags: SaFlags::SIGINFO,
    mask: SigSet::EMPTY,
};

impl Signals {
    /// Takes over `set`: installs kipc's `SA_SIGINFO` handler for each signal,
    /// remembering the previous action (chained to, and restored on drop).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an empty set, a refused signal (see
    /// the module docs), or when another `Signals` exists in this process;
    /// [`Error::Sys`] if `eventfd` or `sigaction` fails (nothing is left
    /// installed).
    pub fn new(set: SigSet) -> Result<Signals> {
        if set.is_empty() {
            return Err(Error::InvalidArgument {
                object: "signal set".into(),
                reason: "is empty",
            });
        }
        if let Some((sig, why)) = set.iter().find_map(|s| refusal(s).map(|r| (s, r))) {
            return Err(invalid(sig, why));
        }
        if ACTIVE
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::InvalidArgument {
                object: "kipc_host::signals::Signals".into(),
                reason: "another one is active in this process",
            });
        }
        drain_stale();
        let wake = match eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK) {
            Ok(fd) => fd,
            Err(e) => {
                ACTIVE.store(false, Ordering::Release);
                return Err(Error::sys("eventfd", "signal inbox", e));
            }
        };
        WAKE_FD.store(wake.as_raw_fd(), Ordering::SeqCst);
        let mut state = Box::new(Process::new());
        for sig in set {
            // `refusal` let only catchable signals through: this cannot fail.
            let _ = state.set_action(sig, HANDLER);
        }
        let mut me = Signals {
            set,
            saved: Vec::with_capacity(set.len()),
            wake,
            state,
            state_rt: 0,
        };
        for sig in set {
            match sys::install(sig, record) {
                Ok(saved) => me.saved.push((sig, saved)),
                // Dropping `me` restores what was installed so far.
                Err(e) => return Err(Error::sys("sigaction", invalid_obj(sig), e)),
            }
        }
        Ok(me)
    }

    /// The signals this `Signals` owns.
    pub fn signals(&self) -> SigSet {
        self.set
    }

    /// Real-time instances lost because the inbox was full (see the
    /// module docs; zero unless many threads were interrupted at once).
    pub fn lost(&self) -> u64 {
        LOST.load(Ordering::Relaxed)
    }

    /// Changes what happens to owned signal `sig`: back to kipc's handler,
    /// `SIG_DFL` or `SIG_IGN`. Ignoring (or defaulting a default-ignored
    /// signal) also discards its instances not yet taken (rule 6).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `sig` is not owned; [`Error::Sys`] if
    /// `sigaction` fails.
    pub fn set_handling(&mut self, sig: Signal, handling: Handling) -> Result<()> {
        if !self.set.contains(sig) {
            return Err(invalid(sig, "is not owned by this Signals"));
        }
        let r = match handling {
            Handling::Inbox => sys::install(sig, record).map(drop),
            Handling::Default => sys::set_simple(sig, false),
            Handling::Ignore => sys::set_simple(sig, true),
        };
        r.map_err(|e| Error::sys("sigaction", invalid_obj(sig), e))?;
        self.refill();
        let d = match handling {
            Handling::Inbox => HANDLER,
            Handling::Default => Disposition::Default,
            Handling::Ignore => Disposition::Ignore,
        };
        let before: usize = self.state.queued().filter(|(_, i)| i.signo == sig).count();
        let _ = self.state.set_action(sig, d);
        let after: usize = self.state.queued().filter(|(_, i)| i.signo == sig).count();
        self.state_rt = self.state_rt.saturating_sub(before.saturating_sub(after));
        Ok(())
    }

    /// Moves what the handler recorded into the reader's core state.
    fn refill(&mut self) {
        for sig in INBOX.standard.take_set(SigSet::STANDARD) {
            let _ = self.state.send(None, take_std_info(sig));
        }
        loop {
            while self.state_rt < STATE_RTQ {
                let Some(info) = INBOX.realtime.pop() else {
                    break;
                };
                RT_COUNT.fetch_sub(1, Ordering::AcqRel);
                if let Ok(kipc_core::signal::Generated::Pending) = self.state.send(None, info) {
                    self.state_rt += 1;
                }
            }
            // Inbox drained: lift a throttle in this thread, which makes the
            // kernel deliver the waiting instances (to the handler) at once.
            if RT_COUNT.load(Ordering::Acquire) == 0 && THROTTLED.load(Ordering::Acquire) != 0 {
                let t = SigSet::from_bits(THROTTLED.swap(0, Ordering::AcqRel));
                let _ = sys::pthread_sigmask(sys::MaskHow::Unblock, t);
                if RT_COUNT.load(Ordering::Acquire) > 0 && self.state_rt < STATE_RTQ {
                    continue;
                }
            }
            break;
        }
    }

    /// Takes the next received signal without waiting: lowest number first,
    /// real-time instances of one signal in arrival order.
    pub fn try_next(&mut self) -> Option<SigInfo> {
        self.refill();
        loop {
            let d = self.state.next_delivery(0).ok().flatten()?;
            if d.info.signo.is_realtime() {
                self.state_rt = self.state_rt.saturating_sub(1);
            }
            if let kipc_core::signal::Action::RunHandler { saved_mask, .. } = d.action {
                let _ = self.state.handler_return(0, saved_mask);
                return Some(d.info);
            }
            // An ignored or defaulted signal's leftover: skip it.
        }
    }

    /// Waits for the next signal.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] if `poll` on the eventfd fails other than with `EINTR`.
    pub fn wait(&mut self) -> Result<SigInfo> {
        loop {
            if let Some(info) = self.wait_timeout(Duration::from_secs(3600))? {
                return Ok(info);
            }
        }
    }

    /// Waits at most `timeout` for the next signal; `Ok(None)` if none came.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<SigInfo>> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            // Reset the eventfd before looking, so a signal recorded after
            // the look makes it readable again and poll returns at once.
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(&self.wake, &mut buf);
            if let Some(info) = self.try_next() {
                return Ok(Some(info));
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return Ok(None);
            }
            let ts = rustix::time::Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = [PollFd::new(&self.wake, PollFlags::IN)];
            match poll(&mut fds, Some(&ts)) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(Error::sys("poll", "signal inbox eventfd", e)),
            }
        }
    }

    /// An iterator over the signals received so far (never waits).
    pub fn pending(&mut self) -> impl Iterator<Item = SigInfo> + '_ {
        core::iter::from_fn(move || self.try_next())
    }

    /// An iterator that waits for each next signal; it ends only if waiting
    /// fails.
    pub fn forever(&mut self) -> impl Iterator<Item = SigInfo> + '_ {
        core::iter::from_fn(move || self.wait().ok())
    }
}

fn invalid_obj(sig: Signal) -> String {
    format!("signal {}", signal_name(sig))
}

/// Empties the static inbox of anything a previous `Signals` left.
fn drain_stale() {
    let _ = INBOX.standard.take_set(SigSet::FULL);
    while INBOX.realtime.pop().is_some() {}
    for slot in &STD_INFO {
        slot.state.store(0, Ordering::Release);
    }
    RT_COUNT.store(0, Ordering::Release);
    LOST.store(0, Ordering::Release);
    THROTTLED.store(0, Ordering::Release);
}

impl AsFd for Signals {
    /// The eventfd that becomes readable when a signal was recorded. Read
    /// (or ignore) it and call [`Signals::try_next`] until `None`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for (sig, saved) in self.saved.drain(..).rev() {
            let _ = sys::restore(sig, &saved);
        }
        let t = SigSet::from_bits(THROTTLED.swap(0, Ordering::AcqRel));
        if !t.is_empty() {
            let _ = sys::pthread_sigmask(sys::MaskHow::Unblock, t);
        }
        WAKE_FD.store(-1, Ordering::SeqCst);
        // A handler on another thread may still be writing the old fd; wait
        // until it is done before the fd is closed (and its number reused).
        while IN_HANDLER.load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
        }
        ACTIVE.store(false, Ordering::Release);
    }
}

// ---- free functions ---------------------------------------------------------------

/// `pthread_sigmask(SIG_BLOCK, set)`: blocks `set` in the calling thread;
/// returns the old mask. SIGKILL and SIGSTOP are silently left out (rule 7).
///
/// # Errors
///
/// [`Error::Sys`] (`EINVAL` cannot happen with a valid `how`).
pub fn block(set: SigSet) -> Result<SigSet> {
    sys::pthread_sigmask(sys::MaskHow::Block, set).map_err(|e| Error::sys("pthread_sigmask", "", e))
}

/// `pthread_sigmask(SIG_UNBLOCK, set)`: returns the old mask.
///
/// # Errors
///
/// As [`block`].
pub fn unblock(set: SigSet) -> Result<SigSet> {
    sys::pthread_sigmask(sys::MaskHow::Unblock, set)
        .map_err(|e| Error::sys("pthread_sigmask", "", e))
}

/// `pthread_sigmask(SIG_SETMASK, set)`: returns the old mask.
///
/// # Errors
///
/// As [`block`].
pub fn set_mask(set: SigSet) -> Result<SigSet> {
    sys::pthread_sigmask(sys::MaskHow::Set, set).map_err(|e| Error::sys("pthread_sigmask", "", e))
}

/// `sigpending()`: the signals pending for this thread (or the process)
/// that this thread blocks.
///
/// # Errors
///
/// [`Error::Sys`].
pub fn sigpending() -> Result<SigSet> {
    sys::sigpending().map_err(|e| Error::sys("sigpending", "", e))
}

/// `signal(SIGPIPE, SIG_DFL)`: lets a write to a closed pipe end the process
/// quietly, as it does for C programs and coreutils.
///
/// Rust starts every program with SIGPIPE ignored, so `kipc ls | head -1`
/// would otherwise turn the closed pipe into an `EPIPE` error (or a panic
/// inside `println!`). Command-line tools call this first thing; libraries
/// should not.
///
/// # Errors
///
/// [`Error::Sys`] from `sigaction` (not expected).
pub fn default_sigpipe() -> Result<()> {
    sys::set_simple(Signal::PIPE, false).map_err(|e| Error::sys("sigaction", "SIGPIPE", e))
}

fn check_pid(pid: i32) -> Result<rustix::process::Pid> {
    // `Pid::from_raw` asserts `raw >= 0`, so negative pids (process groups,
    // which kipc never signals) are refused before it sees them.
    let positive = if pid > 0 { Some(pid) } else { None };
    positive
        .and_then(rustix::process::Pid::from_raw)
        .ok_or(Error::InvalidArgument {
            object: format!("pid {pid}"),
            reason: "must be a positive process id",
        })
}

/// `kill(pid, sig)`: sends `sig` to process `pid` (> 0).
///
/// # Errors
///
/// [`Error::InvalidArgument`] for `pid <= 0` (kipc never signals groups);
/// [`Error::Sys`] (`ESRCH`, `EPERM`).
pub fn kill(pid: i32, sig: Signal) -> Result<()> {
    let p = check_pid(pid)?;
    let r = match rustix::process::Signal::from_named_raw(sig.number() as i32) {
        Some(s) => rustix::process::kill_process(p, s),
        None => sys::kill(pid, sig),
    };
    r.map_err(|e| Error::sys("kill", format!("pid {pid}"), e))
}

/// `sigqueue(pid, sig, value)`: sends `sig` with a payload, `si_code ==
/// SI_QUEUE`. Real-time signals queue; the kernel's limit makes it fail
/// with `EAGAIN` (retry later).
///
/// # Errors
///
/// [`Error::InvalidArgument`] for `pid <= 0`; [`Error::Sys`] (`EAGAIN`,
/// `ESRCH`, `EPERM`).
pub fn sigqueue(pid: i32, sig: Signal, value: usize) -> Result<()> {
    check_pid(pid)?;
    sys::sigqueue(pid, sig, value).map_err(|e| Error::sys("sigqueue", format!("pid {pid}"), e))
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`: sends `sig` to the process a
/// pidfd (from `rustix::process::pidfd_open`) names, without pid reuse races.
///
/// # Errors
///
/// [`Error::Sys`] (`ESRCH` once the process has exited, `EBADF`, `EPERM`).
pub fn pidfd_send_signal(pidfd: impl AsFd, sig: Signal) -> Result<()> {
    let r = match rustix::process::Signal::from_named_raw(sig.number() as i32) {
        Some(s) => rustix::process::pidfd_send_signal(&pidfd, s),
        None => sys::pidfd_send_signal(pidfd.as_fd().as_raw_fd(), sig),
    };
    r.map_err(|e| Error::sys("pidfd_send_signal", "pidfd", e))
}

/// `sigtimedwait(set, timeout)`: takes a pending signal of `set`, which the
/// calling thread must block (otherwise a handler or the default action gets
/// it first), or `Ok(None)` after `timeout` (`Duration::ZERO`: just look).
///
/// # Errors
///
/// [`Error::Sys`] (`EINTR` if a handler ran meanwhile).
pub fn sigtimedwait(set: SigSet, timeout: Duration) -> Result<Option<SigInfo>> {
    sys::sigtimedwait(set, Some(timeout)).map_err(|e| Error::sys("sigtimedwait", "", e))
}

/// A signal's disposition as `sigaction` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Installed {
    /// `SIG_DFL`.
    Default,
    /// `SIG_IGN`.
    Ignore,
    /// kipc's handler (a live [`Signals`] owns it).
    Kipc,
    /// Some other handler, at this address.
    Other(usize),
}

/// `sigaction(sig, NULL, &old)`: what `sig` is set to now.
///
/// # Errors
///
/// [`Error::Sys`] (`EINVAL` for numbers the C library reserves).
pub fn disposition(sig: Signal) -> Result<Installed> {
    let d = sys::query(sig).map_err(|e| Error::sys("sigaction", invalid_obj(sig), e))?;
    Ok(match d {
        sys::RawDisposition::Default => Installed::Default,
        sys::RawDisposition::Ignore => Installed::Ignore,
        sys::RawDisposition::Handler { address, .. } if address == sys::handler_address() => {
            Installed::Kipc
        }
        sys::RawDisposition::Handler { address, .. } => Installed::Other(address),
    })
}

/// The C library's `SIGRTMIN + k`, or `None` past `SIGRTMAX`.
pub fn rt(k: u32) -> Option<Signal> {
    Signal::new(sys::rtmin().checked_add(k)?).filter(|s| s.is_realtime())
}

/// A signal's name, real-time ones relative to the C library's `SIGRTMIN`
/// (`SIGRTMIN+1` is 35 with glibc) as shells print them; numbers the C
/// library reserves print as `SIG32`, `SIG33`.
pub fn signal_name(sig: Signal) -> String {
    if let Some(n) = sig.name() {
        return n.to_string();
    }
    let min = sys::rtmin();
    let n = sig.number();
    if n < min {
        format!("SIG{n}")
    } else if n == min {
        "SIGRTMIN".into()
    } else if sig == Signal::RTMAX {
        "SIGRTMAX".into()
    } else {
        format!("SIGRTMIN+{}", n - min)
    }
}

/// Parses a signal: a number (`10`), a name with or without `SIG`
/// (`USR1`, `SIGTERM`), or `RTMIN+k` / `RTMAX-k` relative to the C library's
/// `SIGRTMIN` and `SIGRTMAX`. Case-insensitive.
pub fn parse_signal(s: &str) -> Option<Signal> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u32>() {
        return Signal::new(n);
    }
    let up = s.to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    let off = |rest: &str, sep: char| -> Option<u32> {
        if rest.is_empty() {
            Some(0)
        } else {
            rest.strip_prefix(sep)?.parse().ok()
        }
    };
    if let Some(rest) = bare.strip_prefix("RTMIN") {
        return rt(off(rest, '+')?);
    }
    if let Some(rest) = bare.strip_prefix("RTMAX") {
        let n = Signal::RTMAX.number().checked_sub(off(rest, '-')?)?;
        return Signal::new(n).filter(|s| s.number() >= sys::rtmin());
    }
    Signal::from_name(bare).filter(|s| s.is_standard())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_uncatchable_and_fault_signals() {
        for sig in [
            Signal::KILL,
            Signal::STOP,
            Signal::SEGV,
            Signal::BUS,
            Signal::ILL,
        ] {
            let e = Signals::new(SigSet::from(sig)).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument { .. }), "{sig}: {e}");
        }
        assert!(Signals::new(SigSet::EMPTY).is_err());
        assert!(Signals::new(SigSet::from(Signal::RTMIN)).is_err());
    }

    #[test]
    fn names_use_the_c_library_rtmin() {
        let min = sys::rtmin();
        assert_eq!(parse_signal("RTMIN+1").map(Signal::number), Some(min + 1));
        assert_eq!(parse_signal("sigusr1"), Some(Signal::USR1));
        assert_eq!(parse_signal("10"), Some(Signal::USR1));
        assert_eq!(parse_signal("RTMAX"), Some(Signal::RTMAX));
        assert_eq!(parse_signal("RTMIN+99"), None);
        assert_eq!(parse_signal("nope"), None);
        assert_eq!(parse_signal("0"), None);
        let s = rt(1).unwrap();
        assert_eq!(signal_name(s), "SIGRTMIN+1");
        assert_eq!(parse_signal(&signal_name(s)), Some(s));
        assert_eq!(signal_name(Signal::TERM), "SIGTERM");
    }

    #[test]
    fn sending_to_zero_or_negative_pids_is_refused_not_a_panic() {
        for pid in [0, -1, i32::MIN] {
            assert!(matches!(
                kill(pid, Signal::USR1),
                Err(Error::InvalidArgument { .. })
            ));
            assert!(matches!(
                sigqueue(pid, Signal::USR1, 1),
                Err(Error::InvalidArgument { .. })
            ));
        }
    }
}
