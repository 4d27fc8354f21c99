//! `sigaction` (with `SA_SIGINFO`), `pthread_sigmask`, `sigpending`,
//! `sigqueue`, `sigtimedwait`, `kill`/`pidfd_send_signal` for real-time
//! signals, and the process's one signal handler, via libc.
//!
//! The handler, [`on_signal`], is the only code here that runs in signal
//! context. It does only async-signal-safe work: it saves `errno`, reads the
//! `siginfo_t`, hands it to the [`Recorder`] that [`install`] was given
//! (the public signal layer registers its lock-free inbox there: no lock, no
//! allocation), may add the signal to the mask restored on return when the
//! recorder asks for it (the throttle, described where the recorder lives),
//! calls the handler that was installed before ours (chaining), and restores
//! `errno`.
//!
//! This module calls nothing above `sys`: the layer above hands its
//! recorder down as a function pointer, so the dependency points one way.
//!
//! # References
//! - [POSIX `sigaction`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/sigaction.html)
//! - [Linux `sigaction(2)`](https://man7.org/linux/man-pages/man2/sigaction.2.html),
//!   [`sigqueue(3)`](https://man7.org/linux/man-pages/man3/sigqueue.3.html),
//!   [`sigtimedwait(2)`](https://man7.org/linux/man-pages/man2/sigtimedwait.2.html),
//!   [`signal-safety(7)`](https://man7.org/linux/man-pages/man7/signal-safety.7.html)

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use kipc_core::signal::{SigInfo, SigSet, Signal, SI_QUEUE};
use rustix::io::{self, Errno};

use super::last_errno;

/// The C library's first real-time signal (`SIGRTMIN()`: 34 with glibc).
pub(crate) fn rtmin() -> u32 {
    u32::try_from(libc::SIGRTMIN()).unwrap_or(Signal::RTMIN.number())
}

/// A `sigset_t` holding `set`. Signals the C library reserves for itself
/// (glibc's 32 and 33) cannot be added and are left out.
fn to_sigset(set: SigSet) -> libc::sigset_t {
    // SAFETY: sigset_t is plain integers; all-zero is a valid value, and
    // sigemptyset below makes it the empty set whatever its layout.
    let mut raw: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `raw` is a valid, writable sigset_t.
    unsafe { libc::sigemptyset(&mut raw) };
    for sig in set {
        // SAFETY: `raw` is valid; an unaddable number only returns EINVAL.
        unsafe { libc::sigaddset(&mut raw, sig.number() as c_int) };
    }
    raw
}

/// The signals `1..=64` in a `sigset_t`.
fn from_sigset(raw: &libc::sigset_t) -> SigSet {
    Signal::all()
        // SAFETY: `raw` is a valid sigset_t and the number is in 1..=64.
        .filter(|s| unsafe { libc::sigismember(raw, s.number() as c_int) } == 1)
        .collect()
}

/// How `pthread_sigmask` changes the mask.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MaskHow {
    Block,
    Unblock,
    Set,
}

/// `pthread_sigmask(how, set, &old)`: changes the calling thread's mask and
/// returns the old one.
pub(crate) fn pthread_sigmask(how: MaskHow, set: SigSet) -> io::Result<SigSet> {
    let how = match how {
        MaskHow::Block => libc::SIG_BLOCK,
        MaskHow::Unblock => libc::SIG_UNBLOCK,
        MaskHow::Set => libc::SIG_SETMASK,
    };
    let new = to_sigset(set);
    let mut old = to_sigset(SigSet::EMPTY);
    // SAFETY: both sets are valid sigset_t values that outlive the call.
    let r = unsafe { libc::pthread_sigmask(how, &new, &mut old) };
    if r != 0 {
        return Err(Errno::from_raw_os_error(r));
    }
    Ok(from_sigset(&old))
}

/// `sigpending(&set)`: signals pending for the calling thread (its own and
/// the process's) that it blocks.
pub(crate) fn sigpending() -> io::Result<SigSet> {
    let mut raw = to_sigset(SigSet::EMPTY);
    // SAFETY: `raw` is a valid, writable sigset_t.
    if unsafe { libc::sigpending(&mut raw) } == -1 {
        return Err(last_errno());
    }
    Ok(from_sigset(&raw))
}

/// `sigqueue(pid, sig, value)`.
pub(crate) fn sigqueue(pid: i32, sig: Signal, value: usize) -> io::Result<()> {
    let val = libc::sigval {
        sival_ptr: value as *mut c_void,
    };
    // SAFETY: plain values; sigqueue copies the sigval and never dereferences it.
    if unsafe { libc::sigqueue(pid, sig.number() as c_int, val) } == -1 {
        return Err(last_errno());
    }
    Ok(())
}

/// `kill(pid, sig)`, for the signals rustix's `Signal` does not name
/// (real-time ones).
pub(crate) fn kill(pid: i32, sig: Signal) -> io::Result<()> {
    // SAFETY: plain integers.
    if unsafe { libc::kill(pid, sig.number() as c_int) } == -1 {
        return Err(last_errno());
    }
    Ok(())
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`, for real-time signals.
pub(crate) fn pidfd_send_signal(pidfd: c_int, sig: Signal) -> io::Result<()> {
    // SAFETY: a null siginfo pointer makes the kernel fill it in as `kill`
    // would; the other arguments are integers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig.number() as c_int,
            core::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    if r == -1 {
        return Err(last_errno());
    }
    Ok(())
}

/// The fields of a `siginfo_t` that kipc keeps.
fn read_info(sig: Signal, info: &libc::siginfo_t) -> SigInfo {
    let code = info.si_code;
    // Sender fields are meaningful for user-sent signals (si_code <= 0:
    // SI_USER, SI_QUEUE, SI_TKILL, SI_MESGQ, ...) and for SIGCHLD.
    let (pid, uid) = if code <= 0 || sig == Signal::CHLD {
        // SAFETY: reading union fields of an initialised siginfo_t; every bit
        // pattern is a valid integer.
        unsafe { (info.si_pid() as u32, info.si_uid()) }
    } else {
        (0, 0)
    };
    let value = if code == SI_QUEUE || code == libc::SI_TIMER || code == libc::SI_MESGQ {
        // SAFETY: as above; these codes carry a sigval.
        unsafe { info.si_value().sival_ptr as usize as u64 }
    } else {
        0
    };
    SigInfo {
        signo: sig,
        code,
        pid,
        uid,
        value,
    }
}

/// `sigtimedwait(set, &info, timeout)`: takes a pending signal of `set`
/// (which the caller should block), or `None` when `timeout` passes first.
/// `None` as timeout waits forever. `EINTR` is returned as an error.
pub(crate) fn sigtimedwait(set: SigSet, timeout: Option<Duration>) -> io::Result<Option<SigInfo>> {
    let raw = to_sigset(set);
    // SAFETY: a zeroed siginfo_t is a valid out-parameter.
    let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos() as _,
    });
    let ts_ptr = ts.as_ref().map_or(core::ptr::null(), |t| t as *const _);
    // SAFETY: `raw`, `info` and `ts` (if any) are valid for the whole call.
    let r = unsafe { libc::sigtimedwait(&raw, &mut info, ts_ptr) };
    if r == -1 {
        let e = last_errno();
        return if e == Errno::AGAIN { Ok(None) } else { Err(e) };
    }
    match Signal::new(r as u32) {
        Some(sig) => Ok(Some(read_info(sig, &info))),
        None => Err(Errno::INVAL),
    }
}

/// What a signal's disposition is, as `sigaction` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawDisposition {
    Default,
    Ignore,
    /// A handler function at this address; `siginfo`: `SA_SIGINFO` set.
    Handler {
        address: usize,
        siginfo: bool,
    },
}

/// A disposition saved by [`install`] or [`set_simple`], to put back.
pub(crate) struct SavedAction(libc::sigaction);

impl core::fmt::Debug for SavedAction {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SavedAction")
            .field("handler", &self.0.sa_sigaction)
            .field("flags", &self.0.sa_flags)
            .finish()
    }
}

fn classify(act: &libc::sigaction) -> RawDisposition {
    match act.sa_sigaction {
        libc::SIG_DFL => RawDisposition::Default,
        libc::SIG_IGN => RawDisposition::Ignore,
        address => RawDisposition::Handler {
            address,
            siginfo: act.sa_flags & libc::SA_SIGINFO != 0,
        },
    }
}

/// `sigaction(sig, NULL, &old)`: the current disposition.
pub(crate) fn query(sig: Signal) -> io::Result<RawDisposition> {
    // SAFETY: a zeroed sigaction is a valid out-parameter.
    let mut old: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: a null new action only queries; `old` is writable.
    if unsafe { libc::sigaction(sig.number() as c_int, core::ptr::null(), &mut old) } == -1 {
        return Err(last_errno());
    }
    Ok(classify(&old))
}

/// The previous handler of each signal (index = number), to chain to: its
/// address (0 = none to call) and whether it takes three arguments.
static CHAIN: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];
static CHAIN_SIGINFO: [AtomicBool; 65] = [const { AtomicBool::new(false) }; 65];

fn sigaction(sig: Signal, act: &libc::sigaction) -> io::Result<SavedAction> {
    // SAFETY: a zeroed sigaction is a valid out-parameter.
    let mut old: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: `act` is a fully initialised sigaction and `old` is writable.
    if unsafe { libc::sigaction(sig.number() as c_int, act, &mut old) } == -1 {
        return Err(last_errno());
    }
    Ok(SavedAction(old))
}

/// What the handler hands each signal it catches to. It must be
/// async-signal-safe (atomics only: no lock, no allocation, no system call
/// other than async-signal-safe ones). It returns whether to block the
/// signal in the interrupted thread once the handler returns (the throttle).
pub(crate) type Recorder = fn(SigInfo) -> bool;

/// The recorder [`on_signal`] calls: set once, by the first [`install`],
/// before any handler of ours is installed, so the handler always finds it.
/// (`OnceLock::get` is one atomic load and a read: async-signal-safe.)
static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Installs [`on_signal`] for `sig` (`SA_SIGINFO | SA_RESTART`, empty
/// `sa_mask`) and returns the previous action, which the handler chains to.
/// The handler hands each signal to `record`. The process has one handler,
/// so it has one recorder: the first one given serves for the process's
/// lifetime, and later calls must pass the same function (the crate has a
/// single caller, which always does).
pub(crate) fn install(sig: Signal, record: Recorder) -> io::Result<SavedAction> {
    let _ = RECORDER.set(record);
    let old = query_action(sig)?;
    let n = sig.number() as usize;
    if let RawDisposition::Handler { address, siginfo } = classify(&old.0) {
        if address != handler_address() {
            CHAIN_SIGINFO[n].store(siginfo, Ordering::Relaxed);
            // SYNC: chain. Release: the flag above is visible with the address.
            CHAIN[n].store(address, Ordering::Release);
        }
    }
    let mut act = new_action(handler_address());
    act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    sigaction(sig, &act).inspect_err(|_| CHAIN[n].store(0, Ordering::Release))
}

fn query_action(sig: Signal) -> io::Result<SavedAction> {
    // SAFETY: a zeroed sigaction is a valid out-parameter.
    let mut old: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: a null new action only queries; `old` is writable.
    if unsafe { libc::sigaction(sig.number() as c_int, core::ptr::null(), &mut old) } == -1 {
        return Err(last_errno());
    }
    Ok(SavedAction(old))
}

fn new_action(handler: usize) -> libc::sigaction {
    // SAFETY: a zeroed sigaction is valid (SIG_DFL, no flags); the mask is
    // then made the empty set explicitly.
    let mut act: libc::sigaction = unsafe { core::mem::zeroed() };
    act.sa_sigaction = handler;
    act.sa_mask = to_sigset(SigSet::EMPTY);
    act
}

/// Sets `sig` to `SIG_DFL` (`ignore == false`) or `SIG_IGN`, keeping the
/// chain entry (so a later [`install`] does not chain to itself).
pub(crate) fn set_simple(sig: Signal, ignore: bool) -> io::Result<()> {
    let act = new_action(if ignore { libc::SIG_IGN } else { libc::SIG_DFL });
    sigaction(sig, &act).map(drop)
}

/// Puts `saved` back as `sig`'s action and stops chaining to it.
pub(crate) fn restore(sig: Signal, saved: &SavedAction) -> io::Result<()> {
    let r = sigaction(sig, &saved.0).map(drop);
    CHAIN[sig.number() as usize].store(0, Ordering::Release);
    r
}

/// Writes 1 to the eventfd `fd` (non-blocking; a full counter or a closed
/// descriptor is ignored). Async-signal-safe.
pub(crate) fn wake(fd: c_int) {
    let one: u64 = 1;
    // SAFETY: `one` is 8 readable bytes; write(2) is async-signal-safe.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// The handler kipc installs. Async-signal-safe: see the module docs.
extern "C" fn on_signal(signo: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: __errno_location returns this thread's errno slot, always valid.
    let errno = unsafe { *libc::__errno_location() };
    if let Some(sig) = Signal::new(signo as u32) {
        // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t (null is
        // checked anyway).
        let record = match unsafe { info.as_ref() } {
            Some(i) => read_info(sig, i),
            None => SigInfo::lost(sig),
        };
        // `install` set the recorder before it installed this handler.
        let throttle = RECORDER.get().is_some_and(|rec| rec(record));
        if throttle && !ctx.is_null() {
            // Throttle: block `sig` in the interrupted thread once this
            // handler returns, so further instances wait in the kernel.
            // SAFETY: with SA_SIGINFO `ctx` points to the ucontext_t the
            // kernel restores on sigreturn; sigaddset only sets a bit.
            unsafe { libc::sigaddset(&mut (*ctx.cast::<libc::ucontext_t>()).uc_sigmask, signo) };
        }
        chain(sig, signo, info, ctx);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Calls the handler that was installed before ours, if it was a function.
fn chain(sig: Signal, signo: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let n = sig.number() as usize;
    // SYNC: chain
    let address = CHAIN[n].load(Ordering::Acquire);
    if address == 0 || address == libc::SIG_DFL || address == libc::SIG_IGN {
        return;
    }
    if CHAIN_SIGINFO[n].load(Ordering::Relaxed) {
        // SAFETY: `address` came from sigaction with SA_SIGINFO set, so it is
        // a three-argument handler; we pass it what the kernel passed us.
        let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { core::mem::transmute(address) };
        f(signo, info, ctx);
    } else {
        // SAFETY: `address` came from sigaction without SA_SIGINFO, so it is
        // a one-argument `sa_handler`.
        let f: extern "C" fn(c_int) = unsafe { core::mem::transmute(address) };
        f(signo);
    }
}

/// The handler's address, to tell it apart in [`query`] results.
pub(crate) fn handler_address() -> usize {
    let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = on_signal;
    f as usize
}
