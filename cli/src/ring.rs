//! `kipc ring` (being built).

use crate::CmdResult;

/// Subcommands of `kipc ring`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {}

/// Runs a `kipc ring` subcommand.
pub fn run(cmd: Command) -> CmdResult {
    match cmd {}
}
