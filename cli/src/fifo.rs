//! `kipc fifo`: create, write to, read from and remove named pipes, a thin
//! shell over [`kipc_host::fifo::Fifo`]. Opening never hangs forever: both
//! ends take a timeout.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use kipc_host::fifo::Fifo;
use kipc_host::Error;

use crate::timeout::Timeout;
use crate::{CmdResult, EXIT_TIMEOUT};

/// Subcommands of `kipc fifo`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a named pipe (mkfifo); an existing FIFO at PATH is fine,
    /// anything else there is an error.
    Create {
        /// Where to create it.
        path: PathBuf,
        /// Permission bits, in octal (less the umask).
        #[arg(long, default_value = "0600", value_parser = parse_mode)]
        mode: u32,
    },
    /// Write MESSAGE and a newline to a FIFO, in one write (atomic up to
    /// 4096 bytes).
    ///
    /// Waits up to --timeout for a reader to open the FIFO; exit 3 if none
    /// comes.
    Send {
        /// The FIFO.
        path: PathBuf,
        /// The line to write (without its newline).
        message: OsString,
        /// Longest wait for a reader (0: only if one has it open; forever).
        #[arg(long, value_name = "DURATION", default_value = "5s")]
        timeout: Timeout,
    },
    /// Read lines from a FIFO and print each on its own line.
    ///
    /// Without --count, reads until every writer has closed (like `cat`).
    /// With --count, stops after that many lines, opening the FIFO again
    /// for the next writer when one closes (lines beyond --count that came
    /// in the same read are discarded, as with `head`). --timeout is an idle
    /// timeout, restarted by each chunk received. Exit status: 0 if a line
    /// was received (even fewer than --count) or the writers closed, 3 on
    /// timeout with nothing received, 1 on an error.
    Recv {
        /// The FIFO.
        path: PathBuf,
        /// Stop after this many lines.
        #[arg(long)]
        count: Option<u64>,
        /// Idle timeout (0: read what is there now, never wait).
        #[arg(long, value_name = "DURATION", default_value = "forever")]
        timeout: Timeout,
    },
    /// Remove a FIFO (refuses anything that is not a FIFO).
    Rm {
        /// The FIFO.
        path: PathBuf,
    },
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!("{s:?} is not an octal mode in 0..=0777")),
    }
}

/// Runs a `kipc fifo` subcommand.
pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Create { path, mode } => {
            Fifo::create_with_mode(&path, mode)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Send {
            path,
            message,
            timeout,
        } => send(&path, message.as_bytes(), timeout),
        Command::Recv {
            path,
            count,
            timeout,
        } => recv(&path, count, timeout.bound()),
        Command::Rm { path } => {
            Fifo::remove(&path)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn send(path: &Path, message: &[u8], timeout: Timeout) -> CmdResult {
    let mut w = match Fifo::open_write(path, timeout.bound()) {
        Ok(w) => w,
        Err(Error::Timeout) => {
            eprintln!("kipc: fifo {}: no reader within {timeout}", path.display());
            return Ok(ExitCode::from(EXIT_TIMEOUT));
        }
        Err(e) => return Err(e.into()),
    };
    let mut line = Vec::with_capacity(message.len() + 1);
    line.extend_from_slice(message);
    line.push(b'\n');
    w.write_all(&line)
        .map_err(|e| format!("fifo {}: write failed: {e}", path.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn recv(path: &Path, count: Option<u64>, timeout: Option<Duration>) -> CmdResult {
    let obj = format!("fifo {}", path.display());
    let mut out = std::io::stdout().lock();
    let mut printed: u64 = 0;
    let mut timed_out = false;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let done = |printed: u64| count.is_some_and(|c| printed >= c);
    'open: while !done(printed) {
        let reader = match Fifo::open_read(path, timeout) {
            Ok(r) => r,
            Err(Error::Timeout) => {
                timed_out = true;
                break;
            }
            Err(e) => return Err(e.into()),
        };
        loop {
            let n = match timeout {
                Some(t) => match reader.read_timeout(&mut buf, t) {
                    Ok(n) => n,
                    Err(Error::Timeout) => {
                        timed_out = true;
                        break 'open;
                    }
                    Err(e) => return Err(e.into()),
                },
                None => (&reader)
                    .read(&mut buf)
                    .map_err(|e| format!("{obj}: read failed: {e}"))?,
            };
            let chunk = buf.get(..n).unwrap_or_default();
            if n == 0 {
                // Every writer closed. A last line without its newline
                // still counts.
                if !pending.is_empty() {
                    print_line(&mut out, &pending, &obj)?;
                    pending.clear();
                    printed += 1;
                }
                if count.is_none() {
                    break 'open;
                }
                continue 'open;
            }
            pending.extend_from_slice(chunk);
            while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                if done(printed) {
                    break;
                }
                let line: Vec<u8> = pending.drain(..=pos).collect();
                print_line(&mut out, line.get(..pos).unwrap_or_default(), &obj)?;
                printed += 1;
            }
            if done(printed) {
                break 'open;
            }
        }
    }
    if !pending.is_empty() && !done(printed) {
        print_line(&mut out, &pending, &obj)?;
        printed += 1;
    }
    if timed_out && printed == 0 {
        Ok(ExitCode::from(EXIT_TIMEOUT))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

fn print_line(out: &mut impl Write, line: &[u8], obj: &str) -> Result<(), String> {
    out.write_all(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(|e| format!("{obj}: writing stdout: {e}"))
}
