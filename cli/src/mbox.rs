//! `kipc mbox`: create, feed, drain and remove named mailboxes
//! (`/dev/shm/kipc.NAME`), a thin shell over [`kipc_host::mailbox::Mailbox`].

use std::io::Write;
use std::process::ExitCode;

use kipc_host::mailbox::{Mailbox, MailboxConfig, Selector};
use kipc_host::Error;
use rustix::io::Errno;

use crate::timeout::Timeout;
use crate::{CmdResult, EXIT_TIMEOUT};

/// Subcommands of `kipc mbox`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a named mailbox (fails if the name exists).
    Create {
        /// Mailbox name: 1-200 printable ASCII characters, no '/'.
        name: String,
        /// Number of messages it holds.
        #[arg(long, default_value_t = 64)]
        capacity: u32,
        /// Largest message in bytes.
        #[arg(long = "max-msg", default_value_t = 1024)]
        max_msg: u32,
    },
    /// Send one message (waits up to --timeout for room; exit 3 if none).
    Send {
        /// Mailbox name.
        name: String,
        /// Longest wait for room (0: try once; forever).
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        timeout: Timeout,
        /// Priority, 0 (lowest) to 255; higher is received first.
        #[arg(long, default_value_t = 0)]
        prio: u8,
        /// Message type (what `recv --type` selects on).
        #[arg(long = "type", default_value_t = 0)]
        mtype: u64,
        /// The message.
        message: String,
    },
    /// Receive messages, printing `PRIO TYPE MESSAGE` per line.
    ///
    /// Highest priority first, FIFO within a priority. Stops after --count
    /// messages or when none arrives within --timeout (an idle timeout).
    /// Exit status: 0 if at least one message was received, 3 on timeout
    /// with nothing received, 1 on an error.
    Recv {
        /// Mailbox name.
        name: String,
        /// Only messages of type T; a negative T takes the lowest type <= |T|
        /// first (like msgrcv). Default: any type.
        #[arg(long = "type", allow_hyphen_values = true)]
        mtype: Option<i64>,
        /// Idle timeout (0: take what is queued now, never wait).
        #[arg(long, value_name = "DURATION", default_value = "forever")]
        timeout: Timeout,
        /// Stop after this many messages (default 1).
        #[arg(long, default_value_t = 1)]
        count: u64,
    },
    /// Remove a mailbox's name (processes using it keep it until they exit).
    Rm {
        /// Mailbox name.
        name: String,
    },
}

/// Runs a `kipc mbox` subcommand.
pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Create {
            name,
            capacity,
            max_msg,
        } => {
            Mailbox::create(&name, MailboxConfig::new(capacity, max_msg))
                .map_err(|e| describe(&name, &e))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Send {
            name,
            timeout,
            prio,
            mtype,
            message,
        } => send(&name, prio, mtype, message.as_bytes(), timeout),
        Command::Recv {
            name,
            mtype,
            timeout,
            count,
        } => recv(&name, selector(mtype), timeout, count),
        Command::Rm { name } => {
            Mailbox::unlink(&name).map_err(|e| describe(&name, &e))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--type T`: none is any, `T >= 0` exactly T, `T < 0` lowest type <= |T|.
fn selector(t: Option<i64>) -> Selector {
    match t {
        None => Selector::Any,
        Some(t) if t >= 0 => Selector::Exact(t.unsigned_abs()),
        Some(t) => Selector::LowestAtMost(t.unsigned_abs()),
    }
}

/// One line naming the mailbox and the cause.
pub(crate) fn describe(name: &str, e: &Error) -> String {
    match e {
        Error::Sys {
            errno: Errno::NOENT,
            ..
        } => format!("mailbox {name:?} does not exist"),
        Error::Sys {
            errno: Errno::EXIST,
            ..
        } => format!("mailbox {name:?} already exists"),
        Error::Sys { .. }
        | Error::InvalidName { .. }
        | Error::InvalidArgument { .. }
        | Error::NotOwner { .. }
        | Error::BadMode { .. }
        | Error::SizeMismatch { .. } => e.to_string(),
        Error::NotReady => {
            format!("mailbox {name:?}: its creator has not finished initialising it")
        }
        other => format!("mailbox {name:?}: {other}"),
    }
}

fn send(name: &str, prio: u8, mtype: u64, msg: &[u8], timeout: Timeout) -> CmdResult {
    let mb = Mailbox::open(name).map_err(|e| describe(name, &e))?;
    match mb.send_timeout(msg, prio, mtype, timeout.or_max()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(Error::Timeout) => {
            eprintln!("kipc: mailbox {name:?}: still full after {timeout}");
            Ok(ExitCode::from(EXIT_TIMEOUT))
        }
        Err(e) => Err(describe(name, &e).into()),
    }
}

fn recv(name: &str, sel: Selector, timeout: Timeout, count: u64) -> CmdResult {
    let mb = Mailbox::open(name).map_err(|e| describe(name, &e))?;
    let mut buf = vec![0u8; mb.max_msg()];
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let write_err = |e: std::io::Error| format!("mailbox {name:?}: writing stdout: {e}");
    let mut received = 0u64;
    while received < count {
        match mb.recv_matching(sel, &mut buf, timeout.bound()) {
            Ok(got) => {
                let msg = buf.get(..got.len).unwrap_or_default();
                write!(out, "{} {} ", got.prio, got.mtype).map_err(write_err)?;
                out.write_all(msg).map_err(write_err)?;
                out.write_all(b"\n").map_err(write_err)?;
                received += 1;
            }
            Err(Error::Timeout) => {
                out.flush().map_err(write_err)?;
                if received == 0 {
                    eprintln!("kipc: mailbox {name:?}: no message within {timeout}");
                    return Ok(ExitCode::from(EXIT_TIMEOUT));
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) => {
                out.flush().map_err(write_err)?;
                return Err(describe(name, &e).into());
            }
        }
    }
    out.flush().map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}
