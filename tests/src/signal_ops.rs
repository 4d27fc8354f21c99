//! The operations of the signal oracle (`tests/signal_oracle.rs`) and their
//! text form, shared by the test and `kipc-signal-peer` through `#[path]`
//! (so the library crate does not grow a module only these two use).

use kipc_core::signal::{SigSet, Signal};
use kipc_host::signals;

/// The signals the oracle exercises: ones a test child may receive safely.
/// SIGHUP, SIGUSR1, SIGUSR2 and the real-time ones terminate by default, so
/// the generator never leaves one both unblocked and `SIG_DFL`; SIGCHLD,
/// SIGURG and SIGWINCH are ignored by default. Real-time signals are the C
/// library's `SIGRTMIN+0..=3`.
pub fn tested() -> SigSet {
    let mut set = SigSet::from_signals(&[
        Signal::HUP,
        Signal::USR1,
        Signal::USR2,
        Signal::CHLD,
        Signal::URG,
        Signal::WINCH,
    ]);
    for k in 0..4 {
        if let Some(s) = signals::rt(k) {
            set.insert(s);
        }
    }
    set
}

/// One operation of a sequence; see `kipc-signal-peer` for the text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `B:n`: block.
    Block(Signal),
    /// `U:n`: unblock.
    Unblock(Signal),
    /// `D:n`: `SIG_DFL`.
    Default(Signal),
    /// `I:n`: `SIG_IGN`.
    Ignore(Signal),
    /// `H:n`: a handler (kipc's).
    Handler(Signal),
    /// `K:n`: `kill(getpid(), n)`.
    Kill(Signal),
    /// `Q:n:v`: `sigqueue(getpid(), n, v)`.
    Queue(Signal, u32),
    /// `T:hex`: `sigtimedwait(set, 0)`.
    Take(SigSet),
    /// `Z`: block every tested signal, take them all.
    TakeAll,
}

impl Op {
    /// The text form.
    pub fn encode(&self) -> String {
        match *self {
            Op::Block(s) => format!("B:{}", s.number()),
            Op::Unblock(s) => format!("U:{}", s.number()),
            Op::Default(s) => format!("D:{}", s.number()),
            Op::Ignore(s) => format!("I:{}", s.number()),
            Op::Handler(s) => format!("H:{}", s.number()),
            Op::Kill(s) => format!("K:{}", s.number()),
            Op::Queue(s, v) => format!("Q:{}:{v}", s.number()),
            Op::Take(set) => format!("T:{:x}", set.bits()),
            Op::TakeAll => "Z".into(),
        }
    }

    /// Parses one operation; `None` if malformed.
    pub fn parse(tok: &str) -> Option<Op> {
        if tok == "Z" {
            return Some(Op::TakeAll);
        }
        let mut parts = tok.split(':');
        let kind = parts.next()?;
        let arg = parts.next()?;
        if kind == "T" {
            return Some(Op::Take(SigSet::from_bits(
                u64::from_str_radix(arg, 16).ok()?,
            )));
        }
        let sig = Signal::new(arg.parse().ok()?)?;
        Some(match kind {
            "B" => Op::Block(sig),
            "U" => Op::Unblock(sig),
            "D" => Op::Default(sig),
            "I" => Op::Ignore(sig),
            "H" => Op::Handler(sig),
            "K" => Op::Kill(sig),
            "Q" => Op::Queue(sig, parts.next()?.parse().ok()?),
            _ => return None,
        })
    }

    /// Parses a whole line; `None` if any operation is malformed.
    pub fn parse_line(line: &str) -> Option<Vec<Op>> {
        line.split_whitespace().map(Op::parse).collect()
    }
}
