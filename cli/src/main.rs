//! `kipc`: a thin command-line shell over kipc-host.
//!
//! Every subcommand lives in its own module; errors print one line naming the
//! object and the cause, and exit non-zero (never a panic or a backtrace).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod fifo;
mod lock;
mod ls;
mod mbox;
mod ring;
mod rpc;
mod signal;
mod sock;
mod spool;
mod sysv;

/// Exit code for "timed out with nothing received" (`kipc ring recv`).
pub const EXIT_TIMEOUT: u8 = 3;

/// The result every subcommand returns: an exit code, or an error to print.
pub type CmdResult = Result<ExitCode, Box<dyn std::error::Error>>;

#[derive(Debug, Parser)]
#[command(
    name = "kipc",
    version,
    about = "kernel-style IPC: benchmarks and shell access to kipc objects"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure every IPC mechanism on this machine side by side.
    Bench(bench::Args),
    /// Named shared-memory rings.
    #[command(subcommand)]
    Ring(ring::Command),
    /// List every kipc object on this machine.
    Ls(ls::Args),
    /// Named mailboxes: message queues with priorities and types.
    #[command(subcommand)]
    Mbox(mbox::Command),
    /// Procedure calls over mailboxes: an echo server and a client.
    #[command(subcommand)]
    Rpc(rpc::Command),
    /// SysV shared memory, the way classic C programs use it.
    #[command(subcommand)]
    Sysv(sysv::Command),
    /// Real signals: wait for them, send them, the default-action table.
    #[command(subcommand)]
    Signal(signal::Command),
    /// Named pipes (FIFOs) opened with a timeout.
    #[command(subcommand)]
    Fifo(fifo::Command),
    /// Spool directories: messages published atomically, each taken once.
    #[command(subcommand)]
    Spool(spool::Command),
    /// Run a command while holding a lock on a file (like flock(1)).
    Lock(lock::Args),
    /// Unix, TCP and UDP sockets: a small server and client.
    #[command(subcommand)]
    Sock(sock::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `kipc ls | head -1` ends quietly, as `ls | head -1` does. Not for the
    // bench: it writes to pipes and sockets whose peer may die, and reports
    // that as a failed row instead of being killed by SIGPIPE.
    if !matches!(cli.command, Command::Bench(_)) {
        let _ = kipc_host::signals::default_sigpipe();
    }
    let result = match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Ring(cmd) => ring::run(cmd),
        Command::Ls(args) => ls::run(args),
        Command::Mbox(cmd) => mbox::run(cmd),
        Command::Rpc(cmd) => rpc::run(cmd),
        Command::Sysv(cmd) => sysv::run(cmd),
        Command::Signal(cmd) => signal::run(cmd),
        Command::Fifo(cmd) => fifo::run(cmd),
        Command::Spool(cmd) => spool::run(cmd),
        Command::Lock(args) => lock::run(args),
        Command::Sock(cmd) => sock::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kipc: {e}");
            ExitCode::FAILURE
        }
    }
}
