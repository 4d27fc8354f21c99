//! `kipc signal`: wait for real signals, send them, print the default-action
//! table; a thin shell over [`kipc_host::signals`].
//!
//! Real-time signal names follow the C library's numbering, as `kill -l`
//! does: `RTMIN+1` is `SIGRTMIN() + 1` (35 with glibc).

use std::io::Write;
use std::process::ExitCode;

use kipc_core::signal::{DefaultAction, SigSet, Signal};
use kipc_host::signals::{self, Signals, SI_QUEUE};

use crate::timeout::Timeout;
use crate::{CmdResult, EXIT_TIMEOUT};

/// Subcommands of `kipc signal`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Receive signals and print one line each: `SIGNAME from=PID`, plus
    /// ` value=V` for a queued one (`sigqueue`, si_code SI_QUEUE).
    ///
    /// Prints `kipc: waiting for LIST (pid N)` on stderr once the handlers
    /// are installed, so a sender can wait for it. Stops after --count
    /// signals, or when none arrives within --timeout (an idle
    /// timeout, restarted by each signal). Exit status: 0 if at least one
    /// signal was received, 3 on timeout with nothing received, 1 on error.
    /// Standard signals that arrive again before they are printed merge.
    Wait {
        /// Comma-separated signals: names (`USR1`, `SIGTERM`, `RTMIN+1`) or
        /// numbers. SIGKILL, SIGSTOP and the fault signals are refused.
        #[arg(long, default_value = "USR1,USR2")]
        signals: String,
        /// Stop after this many signals.
        #[arg(long)]
        count: Option<u64>,
        /// Idle timeout (0: take what is pending now, never wait).
        #[arg(long, value_name = "DURATION", default_value = "forever")]
        timeout: Timeout,
    },
    /// Send a signal: `kill(PID, SIG)`, or `sigqueue(PID, SIG, V)` with --value.
    Send {
        /// Target process id (> 0).
        pid: i32,
        /// Signal name (`USR1`, `SIGTERM`, `RTMIN+1`) or number.
        sig: String,
        /// Payload (`si_value`): send with sigqueue.
        #[arg(long)]
        value: Option<usize>,
    },
    /// Print every signal's number, name and default action.
    Table,
}

/// Runs a `kipc signal` subcommand.
pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Wait {
            signals,
            count,
            timeout,
        } => wait(&signals, count, timeout),
        Command::Send { pid, sig, value } => {
            let sig = parse(&sig)?;
            match value {
                Some(v) => signals::sigqueue(pid, sig, v)?,
                None => signals::kill(pid, sig)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Table => table(),
    }
}

fn parse(s: &str) -> Result<Signal, String> {
    signals::parse_signal(s).ok_or_else(|| format!("unknown signal {s:?}"))
}

fn wait(list: &str, count: Option<u64>, timeout: Timeout) -> CmdResult {
    let mut set = SigSet::EMPTY;
    for name in list.split(',').filter(|s| !s.trim().is_empty()) {
        set.insert(parse(name)?);
    }
    let mut sigs = Signals::new(set)?;
    let names: Vec<String> = set.iter().map(signals::signal_name).collect();
    eprintln!(
        "kipc: waiting for {} (pid {})",
        names.join(","),
        std::process::id()
    );
    let mut out = std::io::stdout().lock();
    let mut got = 0u64;
    while count.is_none_or(|c| got < c) {
        let info = match timeout {
            Timeout::After(t) => match sigs.wait_timeout(t)? {
                Some(i) => i,
                None if got == 0 => return Ok(ExitCode::from(EXIT_TIMEOUT)),
                None => break,
            },
            Timeout::Forever => sigs.wait()?,
        };
        let mut line = format!("{} from={}", signals::signal_name(info.signo), info.pid);
        if info.code == SI_QUEUE {
            line.push_str(&format!(" value={}", info.value));
        }
        writeln!(out, "{line}")?;
        out.flush()?;
        got += 1;
    }
    Ok(ExitCode::SUCCESS)
}

fn table() -> CmdResult {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:>3}  {:<12} ACTION", "NUM", "NAME")?;
    for sig in Signal::all() {
        let action = match sig.default_action() {
            DefaultAction::Terminate => "terminate",
            DefaultAction::CoreDump => "core",
            DefaultAction::Ignore => "ignore",
            DefaultAction::Stop => "stop",
            DefaultAction::Continue => "continue",
        };
        let name = signals::signal_name(sig);
        writeln!(out, "{:>3}  {name:<12} {action}", sig.number())?;
    }
    Ok(ExitCode::SUCCESS)
}
