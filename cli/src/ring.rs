//! `kipc ring`: create, feed, drain and remove named shared-memory rings
//! (`/dev/shm/kipc.NAME`), a thin shell over [`kipc_host::ring::ShmRing`].

use kipc_host::ring::{RingConfig, RingKind, ShmRing};
use kipc_host::Error;
use rustix::io::Errno;
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use crate::timeout::Timeout;
use crate::{CmdResult, EXIT_TIMEOUT};

/// Subcommands of `kipc ring`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a named ring (fails if the name exists).
    Create {
        /// Ring name: 1-200 printable ASCII characters, no '/'.
        name: String,
        /// Number of slots (a power of two); with --mpmc, slots per lane.
        #[arg(long, default_value_t = 1024)]
        slots: u32,
        /// Largest message in bytes.
        #[arg(long = "slot-size", default_value_t = 256)]
        slot_size: u32,
        /// Multi-producer multi-consumer ring (one lane per producer).
        #[arg(long)]
        mpmc: bool,
        /// Lanes (producers at once) of an --mpmc ring, 1..=64.
        #[arg(long, default_value_t = 4, requires = "mpmc")]
        lanes: u32,
    },
    /// Send messages: each MESSAGE argument, or each line of stdin if none.
    ///
    /// Blocks while the ring is full, for at most --timeout per message
    /// (exit 3 when it runs out), and fails at once if the consumer process
    /// dies while the ring is full.
    Send {
        /// Ring name.
        name: String,
        /// Messages; without any, each line of stdin (without its newline)
        /// is one message.
        messages: Vec<OsString>,
        /// Longest wait for room for one message (0: try once; forever).
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        timeout: Timeout,
    },
    /// Receive messages and print each on its own line.
    ///
    /// Stops after --count messages, when no message arrives within
    /// --timeout (an idle timeout, restarted by each message),
    /// or when the producer is gone and the ring is drained: for an SPSC
    /// ring, when the producer's process has exited (one that detached
    /// cleanly may come back, so recv keeps waiting); for --mpmc, when no
    /// producer is attached any more. Exit status: 0 if at least one
    /// message was received (even fewer than --count), 3 on timeout with
    /// nothing received, 1 on an error (including a dead producer with
    /// nothing received).
    Recv {
        /// Ring name.
        name: String,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Idle timeout (0: take what is queued now, never wait).
        #[arg(long, value_name = "DURATION", default_value = "forever")]
        timeout: Timeout,
    },
    /// Remove a ring's name (processes using it keep it until they exit).
    Rm {
        /// Ring name.
        name: String,
    },
}

/// Runs a `kipc ring` subcommand.
pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Create {
            name,
            slots,
            slot_size,
            mpmc,
            lanes,
        } => create(&name, slots, slot_size, mpmc.then_some(lanes)),
        Command::Send {
            name,
            messages,
            timeout,
        } => send(&name, &messages, timeout),
        Command::Recv {
            name,
            count,
            timeout,
        } => recv(&name, count, timeout),
        Command::Rm { name } => rm(&name),
    }
}

/// One line naming the ring and the cause. Errors that already name their
/// object (system calls, names, permissions) are shown as they are.
pub(crate) fn describe(name: &str, e: &Error) -> String {
    match e {
        Error::Sys {
            errno: Errno::NOENT,
            ..
        } => format!("ring {name:?} does not exist"),
        Error::Sys {
            errno: Errno::EXIST,
            ..
        } => format!("ring {name:?} already exists"),
        Error::Sys { .. }
        | Error::InvalidName { .. }
        | Error::InvalidArgument { .. }
        | Error::NotOwner { .. }
        | Error::BadMode { .. }
        | Error::SizeMismatch { .. } => e.to_string(),
        Error::Busy => {
            format!("ring {name:?}: that side is attached by a live process (see `kipc ls`)")
        }
        Error::NotReady => format!("ring {name:?}: its creator has not finished initialising it"),
        Error::PeerDead => format!("ring {name:?}: the peer process is gone"),
        other => format!("ring {name:?}: {other}"),
    }
}

fn create(name: &str, slots: u32, slot_size: u32, lanes: Option<u32>) -> CmdResult {
    let kind = match lanes {
        Some(lanes) => RingKind::Mpmc { lanes },
        None => RingKind::Spsc,
    };
    let config = RingConfig {
        kind,
        ..RingConfig::spsc(slots, slot_size)
    };
    ShmRing::create(name, config).map_err(|e| describe(name, &e))?;
    Ok(ExitCode::SUCCESS)
}

fn send(name: &str, messages: &[OsString], timeout: Timeout) -> CmdResult {
    let ring = ShmRing::open(name).map_err(|e| describe(name, &e))?;
    let mut tx = ring.sender().map_err(|e| describe(name, &e))?;
    let mut send_one = |msg: &[u8]| -> Result<Option<ExitCode>, String> {
        let r = match timeout {
            Timeout::After(t) => tx.send_timeout(msg, t),
            Timeout::Forever => tx.send(msg),
        };
        match r {
            Ok(()) => Ok(None),
            Err(Error::Timeout) => {
                eprintln!("kipc: ring {name:?}: still full after {timeout}");
                Ok(Some(ExitCode::from(EXIT_TIMEOUT)))
            }
            Err(e) => Err(describe(name, &e)),
        }
    };
    if messages.is_empty() {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = input
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("ring {name:?}: reading stdin: {e}"))?;
            if n == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if let Some(code) = send_one(&line)? {
                return Ok(code);
            }
        }
    } else {
        for msg in messages {
            if let Some(code) = send_one(msg.as_bytes())? {
                return Ok(code);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn recv(name: &str, count: Option<u64>, timeout: Timeout) -> CmdResult {
    let ring = ShmRing::open(name).map_err(|e| describe(name, &e))?;
    let mut rx = ring.receiver().map_err(|e| describe(name, &e))?;
    let mut buf = vec![0u8; rx.max_len()];
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let write_err = |e: std::io::Error| format!("ring {name:?}: writing stdout: {e}");
    let mut received = 0u64;
    while count.is_none_or(|c| received < c) {
        // Drain what is there without blocking; flush before sleeping.
        let r = match rx.try_recv(&mut buf) {
            Err(Error::Empty) => {
                out.flush().map_err(write_err)?;
                match timeout {
                    Timeout::After(t) => rx.recv_timeout(&mut buf, t),
                    Timeout::Forever => rx.recv(&mut buf),
                }
            }
            other => other,
        };
        match r {
            Ok(n) => {
                let msg = buf.get(..n).unwrap_or_default();
                out.write_all(msg).map_err(write_err)?;
                out.write_all(b"\n").map_err(write_err)?;
                received += 1;
            }
            Err(Error::Timeout) => {
                out.flush().map_err(write_err)?;
                if received == 0 {
                    eprintln!("kipc: ring {name:?}: no message within {timeout}");
                    return Ok(ExitCode::from(EXIT_TIMEOUT));
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(Error::PeerDead) if received > 0 => break,
            Err(e) => {
                out.flush().map_err(write_err)?;
                return Err(describe(name, &e).into());
            }
        }
    }
    out.flush().map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}

fn rm(name: &str) -> CmdResult {
    ShmRing::unlink(name).map_err(|e| describe(name, &e))?;
    Ok(ExitCode::SUCCESS)
}
