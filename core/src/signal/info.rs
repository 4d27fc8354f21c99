//! [`SigInfo`]: what a delivered signal tells its receiver (`siginfo_t`).

use super::Signal;
use linux_raw_sys::general as g;

/// `si_code` of a signal sent with `kill(2)`.
pub const SI_USER: i32 = g::SI_USER as i32;
/// `si_code` of a signal sent with `sigqueue(3)`.
pub const SI_QUEUE: i32 = g::SI_QUEUE;
/// `si_code` of a signal sent with `tgkill(2)`/`pthread_kill(3)`.
pub const SI_TKILL: i32 = g::SI_TKILL;
/// `si_code` of a signal the kernel generated (a fault here).
pub const SI_KERNEL: i32 = g::SI_KERNEL as i32;
/// `si_code` of a SIGCHLD for a child that exited.
pub const CLD_EXITED: i32 = g::CLD_EXITED as i32;
/// `si_code` of a SIGCHLD for a child that stopped.
pub const CLD_STOPPED: i32 = g::CLD_STOPPED as i32;
/// `si_code` of a SIGCHLD for a child that continued.
pub const CLD_CONTINUED: i32 = g::CLD_CONTINUED as i32;

/// Who sent a signal: `si_pid` and `si_uid`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub struct Sender {
    /// Sending process id.
    pub pid: u32,
    /// Sender's real user id.
    pub uid: u32,
}

impl Sender {
    /// A sender.
    pub const fn new(pid: u32, uid: u32) -> Sender {
        Sender { pid, uid }
    }
}

/// The information a delivered signal carries (the parts of `siginfo_t` the
/// rules talk about).
///
/// # Examples
///
/// ```
/// use kipc_core::signal::{SigInfo, Sender, Signal, SI_QUEUE};
/// let i = SigInfo::queued(Signal::RTMIN, Sender::new(42, 1000), 7);
/// assert_eq!((i.code, i.pid, i.uid, i.value), (SI_QUEUE, 42, 1000, 7));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct SigInfo {
    /// `si_signo`.
    pub signo: Signal,
    /// `si_code`: [`SI_USER`], [`SI_QUEUE`], [`SI_TKILL`], [`SI_KERNEL`], a `CLD_*`.
    pub code: i32,
    /// `si_pid`.
    pub pid: u32,
    /// `si_uid`.
    pub uid: u32,
    /// `si_value` (an `int` or a pointer; zero unless sent with `sigqueue`).
    pub value: u64,
}

impl SigInfo {
    /// The info of a signal sent with `kill(2)`.
    pub const fn user(signo: Signal, from: Sender) -> SigInfo {
        SigInfo::with_code(signo, SI_USER, from, 0)
    }

    /// The info of a signal sent with `sigqueue(3)` carrying `value`.
    pub const fn queued(signo: Signal, from: Sender, value: u64) -> SigInfo {
        SigInfo::with_code(signo, SI_QUEUE, from, value)
    }

    /// The info of a signal sent with `tgkill(2)`.
    pub const fn tkill(signo: Signal, from: Sender) -> SigInfo {
        SigInfo::with_code(signo, SI_TKILL, from, 0)
    }

    /// The info of a kernel-generated signal (a fault).
    pub const fn kernel(signo: Signal) -> SigInfo {
        SigInfo::with_code(signo, SI_KERNEL, Sender::new(0, 0), 0)
    }

    /// Info with an explicit `si_code`.
    pub const fn with_code(signo: Signal, code: i32, from: Sender, value: u64) -> SigInfo {
        SigInfo {
            signo,
            code,
            pid: from.pid,
            uid: from.uid,
            value,
        }
    }

    /// What the kernel reports when a signal's info was lost (a real-time
    /// `kill` past the queue limit): `SI_USER` from pid 0, uid 0.
    pub const fn lost(signo: Signal) -> SigInfo {
        SigInfo::user(signo, Sender::new(0, 0))
    }
}
