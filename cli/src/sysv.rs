//! `kipc sysv` (being built).

use crate::CmdResult;

/// Subcommands of `kipc sysv`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {}

/// Runs a `kipc sysv` subcommand.
pub fn run(cmd: Command) -> CmdResult {
    match cmd {}
}
