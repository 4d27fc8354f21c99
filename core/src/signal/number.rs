//! Signal numbers and names, as Linux numbers them.
//!
//! The numbers come from `linux-raw-sys` (the kernel's UAPI headers), so they
//! are right for the architecture being built. Standard signals are `1..=31`;
//! real-time signals are `SIGRTMIN..=SIGRTMAX`, which for the *kernel* is
//! `32..=64`. glibc reserves the first two (three with old LinuxThreads) for
//! itself, so a C program's `SIGRTMIN` is [`GLIBC_SIGRTMIN`] (34). Names here
//! are kernel-relative: `SIGRTMIN+2` is signal 34.

use core::fmt;
use linux_raw_sys::general as g;

// The set type is one 64-bit word; architectures with 128 signals (MIPS) are
// not supported.
const _: () = assert!(g::_NSIG == 64);

/// The first real-time signal glibc leaves to applications (`SIGRTMIN` in a
/// C program linked against glibc). The kernel's first is [`Signal::RTMIN`].
pub const GLIBC_SIGRTMIN: u32 = 34;

/// A valid Linux signal number, `1..=64`.
///
/// # Examples
///
/// ```
/// use kipc_core::signal::Signal;
/// assert_eq!(Signal::USR1.number(), 10);
/// assert_eq!(Signal::new(10), Some(Signal::USR1));
/// assert_eq!(Signal::new(0), None);
/// assert_eq!(Signal::new(65), None);
/// assert!(Signal::rt(3).unwrap().is_realtime());
/// assert_eq!(Signal::from_name("SIGTERM"), Some(Signal::TERM));
/// assert_eq!(Signal::from_name("RTMIN+1"), Signal::new(33));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Signal(u8);

macro_rules! signals {
    ($($(#[$doc:meta])* $konst:ident = $raw:ident, $name:literal;)*) => {
        impl Signal {
            $(
                $(#[$doc])*
                pub const $konst: Signal = Signal(g::$raw as u8);
            )*
        }
        /// Every standard signal with its name.
        const NAMES: &[(Signal, &str)] = &[$((Signal::$konst, $name)),*];
    };
}

signals! {
    /// `SIGHUP`: hangup (default: terminate).
    HUP = SIGHUP, "SIGHUP";
    /// `SIGINT`: interrupt from the keyboard (default: terminate).
    INT = SIGINT, "SIGINT";
    /// `SIGQUIT`: quit from the keyboard (default: core dump).
    QUIT = SIGQUIT, "SIGQUIT";
    /// `SIGILL`: illegal instruction (default: core dump; synchronous).
    ILL = SIGILL, "SIGILL";
    /// `SIGTRAP`: trace or breakpoint trap (default: core dump; synchronous).
    TRAP = SIGTRAP, "SIGTRAP";
    /// `SIGABRT`: `abort(3)` (default: core dump).
    ABRT = SIGABRT, "SIGABRT";
    /// `SIGBUS`: bus error (default: core dump; synchronous).
    BUS = SIGBUS, "SIGBUS";
    /// `SIGFPE`: arithmetic exception (default: core dump; synchronous).
    FPE = SIGFPE, "SIGFPE";
    /// `SIGKILL`: kill; cannot be caught, blocked or ignored.
    KILL = SIGKILL, "SIGKILL";
    /// `SIGUSR1`: user-defined (default: terminate).
    USR1 = SIGUSR1, "SIGUSR1";
    /// `SIGSEGV`: invalid memory reference (default: core dump; synchronous).
    SEGV = SIGSEGV, "SIGSEGV";
    /// `SIGUSR2`: user-defined (default: terminate).
    USR2 = SIGUSR2, "SIGUSR2";
    /// `SIGPIPE`: write to a pipe with no readers (default: terminate).
    PIPE = SIGPIPE, "SIGPIPE";
    /// `SIGALRM`: timer from `alarm(2)` (default: terminate).
    ALRM = SIGALRM, "SIGALRM";
    /// `SIGTERM`: termination request (default: terminate).
    TERM = SIGTERM, "SIGTERM";
    /// `SIGSTKFLT`: coprocessor stack fault, unused (default: terminate).
    STKFLT = SIGSTKFLT, "SIGSTKFLT";
    /// `SIGCHLD`: child stopped, continued or exited (default: ignore).
    CHLD = SIGCHLD, "SIGCHLD";
    /// `SIGCONT`: continue if stopped (default: continue).
    CONT = SIGCONT, "SIGCONT";
    /// `SIGSTOP`: stop; cannot be caught, blocked or ignored.
    STOP = SIGSTOP, "SIGSTOP";
    /// `SIGTSTP`: stop typed at the terminal (default: stop).
    TSTP = SIGTSTP, "SIGTSTP";
    /// `SIGTTIN`: terminal input for a background process (default: stop).
    TTIN = SIGTTIN, "SIGTTIN";
    /// `SIGTTOU`: terminal output for a background process (default: stop).
    TTOU = SIGTTOU, "SIGTTOU";
    /// `SIGURG`: urgent data on a socket (default: ignore).
    URG = SIGURG, "SIGURG";
    /// `SIGXCPU`: CPU time limit exceeded (default: core dump).
    XCPU = SIGXCPU, "SIGXCPU";
    /// `SIGXFSZ`: file size limit exceeded (default: core dump).
    XFSZ = SIGXFSZ, "SIGXFSZ";
    /// `SIGVTALRM`: virtual alarm clock (default: terminate).
    VTALRM = SIGVTALRM, "SIGVTALRM";
    /// `SIGPROF`: profiling timer expired (default: terminate).
    PROF = SIGPROF, "SIGPROF";
    /// `SIGWINCH`: window resize (default: ignore).
    WINCH = SIGWINCH, "SIGWINCH";
    /// `SIGIO` (`SIGPOLL`): I/O now possible (default: terminate).
    IO = SIGIO, "SIGIO";
    /// `SIGPWR`: power failure (default: terminate).
    PWR = SIGPWR, "SIGPWR";
    /// `SIGSYS`: bad system call (default: core dump; synchronous).
    SYS = SIGSYS, "SIGSYS";
}

impl Signal {
    /// The kernel's first real-time signal (32). See [`GLIBC_SIGRTMIN`].
    pub const RTMIN: Signal = Signal(g::SIGRTMIN as u8);
    /// The last real-time signal (64, `_NSIG`).
    pub const RTMAX: Signal = Signal(g::_NSIG as u8);

    /// The signal numbered `n`, or `None` if `n` is not in `1..=64`.
    pub const fn new(n: u32) -> Option<Signal> {
        if n >= 1 && n <= g::_NSIG {
            Some(Signal(n as u8))
        } else {
            None
        }
    }

    /// The real-time signal `SIGRTMIN + k` (kernel numbering), or `None` if
    /// that is past `SIGRTMAX`.
    pub const fn rt(k: u32) -> Option<Signal> {
        if k <= g::_NSIG - g::SIGRTMIN {
            Some(Signal((g::SIGRTMIN + k) as u8))
        } else {
            None
        }
    }

    /// The signal's number, `1..=64`.
    pub const fn number(self) -> u32 {
        self.0 as u32
    }

    /// Whether this is a real-time signal (`SIGRTMIN..=SIGRTMAX`): instances
    /// queue rather than coalesce (rule 4).
    pub const fn is_realtime(self) -> bool {
        self.0 as u32 >= g::SIGRTMIN
    }

    /// Whether this is a standard signal (`1..=31`): instances coalesce (rule 3).
    pub const fn is_standard(self) -> bool {
        !self.is_realtime()
    }

    /// Whether this signal is in Linux's `SYNCHRONOUS_MASK` (SEGV, BUS, ILL,
    /// TRAP, FPE, SYS), delivered before all others (rule 10).
    pub const fn is_synchronous(self) -> bool {
        super::SigSet::SYNCHRONOUS.contains(self)
    }

    /// Whether this is a stop signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU; rule 8).
    pub const fn is_stop(self) -> bool {
        super::SigSet::STOP_SIGNALS.contains(self)
    }

    /// Whether a disposition or mask can be set for this signal: false for
    /// SIGKILL and SIGSTOP (rule 7).
    pub const fn can_be_caught(self) -> bool {
        !super::SigSet::UNCATCHABLE.contains(self)
    }

    /// The name of a standard signal (`"SIGUSR1"`); `None` for a real-time
    /// signal, whose name ([`Display`](fmt::Display)) is computed
    /// (`SIGRTMIN+3`, `SIGRTMAX`).
    pub fn name(self) -> Option<&'static str> {
        NAMES.iter().find(|(s, _)| *s == self).map(|(_, n)| *n)
    }

    /// Parses a signal name, with or without the `SIG` prefix: `"SIGTERM"`,
    /// `"TERM"`, `"SIGRTMIN+2"`, `"RTMAX-1"`, `"SIGRTMIN"`. Aliases `SIGIOT`
    /// and `SIGPOLL` are accepted. Real-time names use kernel numbering.
    pub fn from_name(name: &str) -> Option<Signal> {
        let bare = name.strip_prefix("SIG").unwrap_or(name);
        match bare {
            "IOT" => return Some(Signal::ABRT),
            "POLL" => return Some(Signal::IO),
            _ => {}
        }
        if let Some((sig, _)) = NAMES
            .iter()
            .find(|(_, n)| n.strip_prefix("SIG") == Some(bare))
        {
            return Some(*sig);
        }
        let offset = |rest: &str| -> Option<u32> {
            if rest.is_empty() {
                Some(0)
            } else {
                rest.parse::<u32>().ok()
            }
        };
        if let Some(rest) = bare.strip_prefix("RTMIN") {
            let k = offset(rest.strip_prefix('+').unwrap_or(rest))?;
            return Signal::rt(k);
        }
        if let Some(rest) = bare.strip_prefix("RTMAX") {
            let k = offset(rest.strip_prefix('-').unwrap_or(rest))?;
            return Signal::new(g::_NSIG.checked_sub(k)?).filter(|s| s.is_realtime());
        }
        None
    }

    /// Every signal, `1..=64`, in ascending order.
    pub fn all() -> impl Iterator<Item = Signal> {
        (1..=g::_NSIG as u8).map(Signal)
    }

    /// The bit for this signal in a 64-bit set: bit `number - 1`.
    pub(crate) const fn bit(self) -> u64 {
        1u64 << (self.0 - 1)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None if *self == Signal::RTMAX => f.write_str("SIGRTMAX"),
            None => write!(f, "SIGRTMIN+{}", self.number() - g::SIGRTMIN),
        }
    }
}

impl From<Signal> for u32 {
    fn from(s: Signal) -> u32 {
        s.number()
    }
}

impl TryFrom<u32> for Signal {
    type Error = super::SigError;
    /// # Errors
    ///
    /// [`SigError::Invalid`](super::SigError::Invalid) if `n` is not in `1..=64`.
    fn try_from(n: u32) -> Result<Signal, Self::Error> {
        Signal::new(n).ok_or(super::SigError::Invalid)
    }
}
