//! `kipc bench` (being built).

use crate::CmdResult;

/// Arguments of `kipc bench`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kipc bench`.
pub fn run(_args: Args) -> CmdResult {
    Err("kipc bench is not built yet".into())
}
