//! `kipc`: a thin command-line shell over kipc-host.
//!
//! Every subcommand lives in its own module; errors print one line naming the
//! object and the cause, and exit non-zero (never a panic or a backtrace).

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod bench;
mod docs;
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
mod timeout;

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
    /// List every kipc object and SysV shared memory segment on this machine.
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
    /// Print a shell completion script (bash, zsh or fish).
    Completions(docs::CompletionsArgs),
    /// Write the manual pages (kipc.1 and one per subcommand).
    Man(docs::ManArgs),
}

/// The command-line definition that parses arguments and generates the
/// completions and manual pages: the derived one, with [`timeout::HELP`]
/// after the help of `kipc` and of every subcommand that takes `--timeout`.
fn command() -> clap::Command {
    fn add_duration_help(cmd: clap::Command) -> clap::Command {
        let takes_timeout = cmd.get_arguments().any(|a| a.get_id() == "timeout");
        let cmd = cmd.mut_subcommands(add_duration_help);
        if takes_timeout {
            cmd.after_help(timeout::HELP)
        } else {
            cmd
        }
    }
    add_duration_help(Cli::command()).after_help(timeout::HELP)
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kipc: {e}");
            ExitCode::FAILURE
        }
    }
}
