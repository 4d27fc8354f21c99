//! `kipc ls` (being built).

use crate::CmdResult;

/// Arguments of `kipc ls`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kipc ls`.
pub fn run(_args: Args) -> CmdResult {
    Err("kipc ls is not built yet".into())
}
