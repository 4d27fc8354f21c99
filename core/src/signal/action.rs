//! What a signal does: its default action (rule 2) and the disposition a
//! process sets with `sigaction` (rules 1, 6, 7, 9, 11).

use super::{SigSet, Signal};
use linux_raw_sys::general as g;

/// A signal's default action (`SIG_DFL`), as POSIX and signal(7) define it.
///
/// # Examples
///
/// ```
/// use kipc_core::signal::{DefaultAction, Signal};
/// assert_eq!(Signal::CHLD.default_action(), DefaultAction::Ignore);
/// assert_eq!(Signal::CONT.default_action(), DefaultAction::Continue);
/// assert_eq!(Signal::TSTP.default_action(), DefaultAction::Stop);
/// assert_eq!(Signal::SEGV.default_action(), DefaultAction::CoreDump);
/// assert_eq!(Signal::rt(5).unwrap().default_action(), DefaultAction::Terminate);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum DefaultAction {
    /// Terminate the process ("Term").
    Terminate,
    /// Terminate the process and dump core ("Core").
    CoreDump,
    /// Do nothing ("Ign").
    Ignore,
    /// Stop the process ("Stop").
    Stop,
    /// Continue the process if it is stopped ("Cont").
    Continue,
}

impl Signal {
    /// This signal's default action (rule 2): SIGCHLD, SIGURG and SIGWINCH
    /// ignore; SIGCONT continues; SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU stop;
    /// SIGQUIT, SIGILL, SIGABRT, SIGFPE, SIGSEGV, SIGBUS, SIGSYS, SIGTRAP,
    /// SIGXCPU, SIGXFSZ dump core; all others, real-time ones included,
    /// terminate.
    pub const fn default_action(self) -> DefaultAction {
        const CORE: SigSet = SigSet::from_signals(&[
            Signal::QUIT,
            Signal::ILL,
            Signal::ABRT,
            Signal::FPE,
            Signal::SEGV,
            Signal::BUS,
            Signal::SYS,
            Signal::TRAP,
            Signal::XCPU,
            Signal::XFSZ,
        ]);
        const IGNORE: SigSet = SigSet::from_signals(&[Signal::CHLD, Signal::URG, Signal::WINCH]);
        if CORE.contains(self) {
            DefaultAction::CoreDump
        } else if IGNORE.contains(self) {
            DefaultAction::Ignore
        } else if self.number() == Signal::CONT.number() {
            DefaultAction::Continue
        } else if self.is_stop() {
            DefaultAction::Stop
        } else {
            DefaultAction::Terminate
        }
    }

    /// Whether the kernel discards this signal at generation when its
    /// disposition is `SIG_DFL` and it is not blocked (Linux's
    /// `sig_kernel_ignore`): the default-ignore signals and SIGCONT, whose
    /// continuing happens at generation anyway (rules 5, 6, 8).
    pub const fn default_ignored(self) -> bool {
        matches!(
            self.default_action(),
            DefaultAction::Ignore | DefaultAction::Continue
        )
    }
}

bitflags::bitflags! {
    /// `sa_flags` of `sigaction`, with Linux's values.
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
    pub struct SaFlags: u32 {
        /// `SA_NOCLDSTOP`: no SIGCHLD when a child stops or continues (rule 9).
        const NOCLDSTOP = g::SA_NOCLDSTOP;
        /// `SA_NOCLDWAIT`: children are reaped automatically (rule 9).
        const NOCLDWAIT = g::SA_NOCLDWAIT;
        /// `SA_SIGINFO`: the handler takes a `siginfo_t` (rule 4).
        const SIGINFO = g::SA_SIGINFO;
        /// `SA_RESTART`: restart interrupted system calls (rule 11).
        const RESTART = g::SA_RESTART;
        /// `SA_NODEFER`: do not block the signal during its handler (rule 11).
        const NODEFER = g::SA_NODEFER;
        /// `SA_RESETHAND`: reset to `SIG_DFL` on delivery (rule 11).
        const RESETHAND = g::SA_RESETHAND;
    }
}

/// What a process does with a signal (`sigaction`'s `sa_handler` and friends).
///
/// A handler is named by an `id` the embedder chooses (an index into its own
/// table of functions), since the core holds no pointers.
///
/// # Examples
///
/// ```
/// use kipc_core::signal::{Disposition, SaFlags, SigSet, Signal};
/// let d = Disposition::handler(7, SaFlags::RESTART, SigSet::from(Signal::USR2));
/// assert!(!d.ignores(Signal::USR1));
/// assert!(Disposition::Ignore.ignores(Signal::USR1));
/// assert!(Disposition::Default.ignores(Signal::CHLD));
/// assert!(!Disposition::Default.ignores(Signal::TERM));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub enum Disposition {
    /// `SIG_DFL`: the [`DefaultAction`].
    #[default]
    Default,
    /// `SIG_IGN`.
    Ignore,
    /// A handler.
    Handler {
        /// The embedder's name for the handler function.
        id: u32,
        /// `sa_flags`.
        flags: SaFlags,
        /// `sa_mask`: signals blocked while the handler runs, besides the
        /// signal itself (unless `SA_NODEFER`). SIGKILL and SIGSTOP are
        /// dropped from it when it is installed.
        mask: SigSet,
    },
}

impl Disposition {
    /// A handler disposition.
    pub const fn handler(id: u32, flags: SaFlags, mask: SigSet) -> Disposition {
        Disposition::Handler { id, flags, mask }
    }

    /// Whether `sig` with this disposition is discarded when not blocked
    /// (Linux `sig_handler_ignored`): `SIG_IGN`, or `SIG_DFL` of a signal the
    /// kernel ignores by default ([`Signal::default_ignored`]).
    pub const fn ignores(self, sig: Signal) -> bool {
        match self {
            Disposition::Ignore => true,
            Disposition::Default => sig.default_ignored(),
            Disposition::Handler { .. } => false,
        }
    }

    /// The `sa_flags` (empty for `SIG_DFL` and `SIG_IGN`).
    pub const fn flags(self) -> SaFlags {
        match self {
            Disposition::Handler { flags, .. } => flags,
            _ => SaFlags::empty(),
        }
    }
}
