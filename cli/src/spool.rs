//! `kipc spool`: publish messages into a spool directory and take them out,
//! each exactly once, a thin shell over [`kipc_host::spool::Spool`].

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use kipc_host::spool::Spool;
use kipc_host::Error;

use crate::timeout::Timeout;
use crate::{CmdResult, EXIT_TIMEOUT};

/// Subcommands of `kipc spool`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Publish each MESSAGE, in order, as one spool message (the directory
    /// and its tmp/, new/, cur/ are created 0700 if missing).
    Send {
        /// The spool directory.
        dir: PathBuf,
        /// Messages to publish.
        #[arg(required = true)]
        messages: Vec<OsString>,
    },
    /// Take messages, oldest first, and print each followed by a newline.
    ///
    /// Each message is taken by exactly one reader, however many run at
    /// once. Stops after --count messages, or when none arrives within
    /// --timeout (an idle timeout, restarted by each message;
    /// the default 0 takes what is there now without waiting). Exit status:
    /// 0 if at least one message was taken, 3 if none, 1 on an error.
    Recv {
        /// The spool directory.
        dir: PathBuf,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Idle timeout (0: take what is there now, never wait).
        #[arg(long, value_name = "DURATION", default_value = "0")]
        timeout: Timeout,
    },
    /// Put messages claimed by readers that died back into the spool and
    /// print how many.
    Recover {
        /// The spool directory.
        dir: PathBuf,
    },
}

/// Runs a `kipc spool` subcommand.
pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Send { dir, messages } => {
            let spool = Spool::open(&dir)?;
            for m in &messages {
                spool.send(m.as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Recv {
            dir,
            count,
            timeout,
        } => recv(dir, count, timeout),
        Command::Recover { dir } => {
            let n = Spool::open(&dir)?.recover()?;
            println!("{n}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn recv(dir: PathBuf, count: Option<u64>, timeout: Timeout) -> CmdResult {
    let mut spool = Spool::open(&dir)?;
    let obj = format!("spool {}", dir.display());
    let mut out = std::io::stdout().lock();
    let mut taken: u64 = 0;
    while count.is_none_or(|c| taken < c) {
        let r = match timeout {
            Timeout::Forever => spool.recv(),
            Timeout::After(t) => spool.recv_timeout(t),
        };
        let msg = match r {
            Ok(m) => m,
            Err(Error::Timeout) => break,
            Err(e) => return Err(e.into()),
        };
        taken += 1;
        out.write_all(&msg)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
            .map_err(|e| format!("{obj}: writing stdout: {e}"))?;
    }
    if taken == 0 && count != Some(0) {
        return Ok(ExitCode::from(EXIT_TIMEOUT));
    }
    Ok(ExitCode::SUCCESS)
}
