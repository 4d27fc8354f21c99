//! POSIX signal state as a state machine: dispositions, per-thread masks,
//! per-thread and per-process pending sets, queued real-time signals with
//! their payload, and the rules that tie them together.
//!
//! The rules are the fourteen of `SIGNALS.md` (POSIX Signal Concepts,
//! sigaction, sigqueue; Linux signal(7) and `kernel/signal.c`); where POSIX
//! leaves a choice, this follows Linux. Each rule has a unit test named after
//! it in `state.rs`, and `kipc-fuzz` checks [`Process`] against a plain
//! reference model on random operation sequences.
//!
//! - [`number`](Signal): signal numbers and names;
//! - [`SigSet`]: a 64-bit signal set;
//! - [`Disposition`], [`DefaultAction`], [`SaFlags`]: what a signal does;
//! - [`SigInfo`]: what a delivery carries;
//! - [`Process`]: the state machine;
//! - [`AtomicPending`], [`RaiseQueue`], [`SignalInbox`]: lock-free raising
//!   from a signal handler or an interrupt, drained into a `Process` by
//!   [`Process::absorb`];
//! - [`Shared`]: a `Process` under a spin lock beside a `SignalInbox`, for
//!   several CPUs or threads with no OS (raising stays lock-free).
//!
//! # Examples
//!
//! ```
//! use kipc_core::signal::*;
//! let mut p: Process<1, 8> = Process::new();
//! let me = Sender::new(100, 1000);
//! p.sigprocmask(0, How::Block, SigSet::from(Signal::USR1)).unwrap();
//! p.kill(Signal::USR1, me).unwrap();
//! p.kill(Signal::USR1, me).unwrap(); // coalesces (rule 3)
//! assert_eq!(p.next_delivery(0).unwrap(), None); // blocked
//! p.sigprocmask(0, How::Unblock, SigSet::from(Signal::USR1)).unwrap();
//! let d = p.next_delivery(0).unwrap().unwrap();
//! assert_eq!((d.info.signo, d.action), (Signal::USR1, Action::Terminate));
//! assert_eq!(p.next_delivery(0).unwrap(), None); // exactly one
//! ```

use core::fmt;

mod action;
mod info;
mod number;
mod pending;
mod set;
mod shared;
mod state;

pub use action::{DefaultAction, Disposition, SaFlags};
pub use info::{
    Sender, SigInfo, CLD_CONTINUED, CLD_EXITED, CLD_STOPPED, SI_KERNEL, SI_QUEUE, SI_TKILL, SI_USER,
};
pub use number::{Signal, GLIBC_SIGRTMIN};
pub use pending::{AtomicPending, RaiseQueue, SignalInbox};
pub use set::{Iter, SigSet};
pub use shared::Shared;
pub use state::{Action, ChildEvent, ChildOutcome, Delivery, Generated, How, Process, ThreadId};

/// Why a signal operation was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigError {
    /// `EINVAL`: not a valid signal, or SIGKILL/SIGSTOP given to `sigaction`.
    Invalid,
    /// `EAGAIN`: the real-time queue is full (`RLIMIT_SIGPENDING`).
    Again,
    /// `ESRCH`: no such thread.
    NoSuchThread,
}

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SigError::Invalid => "invalid signal or signal cannot be caught",
            SigError::Again => "signal queue is full",
            SigError::NoSuchThread => "no such thread",
        })
    }
}

impl core::error::Error for SigError {}

#[cfg(test)]
mod tests;
