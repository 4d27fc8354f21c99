//! `kipc lock PATH -- COMMAND...`: run a command while holding an advisory
//! lock on PATH, like `flock(1)` (and contending with it: both use
//! `flock(2)`).

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitCode;

use kipc_host::lock::{FileLock, LockMode};
use kipc_host::Error;

use crate::timeout::Timeout;
use crate::{CmdResult, EXIT_TIMEOUT};

/// Arguments of `kipc lock`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to lock (created 0600 if missing; a directory works too).
    path: PathBuf,
    /// Longest wait for the lock (0 tries once, like `flock -n`). Exit 3
    /// when it runs out.
    #[arg(long, value_name = "DURATION", default_value = "forever")]
    timeout: Timeout,
    /// Take a shared lock instead of an exclusive one.
    #[arg(long)]
    shared: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// Runs `kipc lock`: takes the lock, runs the command, releases the lock
/// when it exits, and exits with its status (128 + N if killed by signal N;
/// 127 if it could not be found, 126 if it could not be run).
///
/// The lock descriptor is close-on-exec, so the command does not inherit it:
/// the lock lasts exactly as long as this process.
pub fn run(args: Args) -> CmdResult {
    let mode = if args.shared {
        LockMode::Shared
    } else {
        LockMode::Exclusive
    };
    let obj = format!("lock {}", args.path.display());
    let lock = match args.timeout {
        Timeout::Forever => FileLock::flock(&args.path, mode),
        Timeout::After(t) => FileLock::flock_timeout(&args.path, mode, t),
    };
    let _lock = match lock {
        Ok(l) => l,
        Err(Error::Timeout) => {
            eprintln!(
                "kipc: {obj}: held by another process, gave up after {}",
                args.timeout
            );
            return Ok(ExitCode::from(EXIT_TIMEOUT));
        }
        Err(e) => return Err(e.into()),
    };
    let Some((program, rest)) = args.command.split_first() else {
        return Err(format!("{obj}: no command given").into());
    };
    let status = match std::process::Command::new(program).args(rest).status() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kipc: {obj}: cannot run {program:?}: {e}");
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            return Ok(ExitCode::from(code));
        }
    };
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c & 0xff).unwrap_or(1),
        (None, Some(sig)) => u8::try_from((128 + sig) & 0xff).unwrap_or(1),
        (None, None) => 1,
    };
    Ok(ExitCode::from(code))
}
