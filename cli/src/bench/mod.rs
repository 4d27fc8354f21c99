//! `kipc bench`: every IPC mechanism on this machine, side by side, between
//! two real processes, with the hardware floor as the yardstick.
//!
//! - [`args`]: the command line and its validation;
//! - [`mech`]: the mechanisms of the table as names and properties (which
//!   the harness and the mechanisms both use);
//! - [`harness`]: re-executing ourselves as the peer, descriptor passing,
//!   CPU pinning, peer liveness;
//! - [`protocol`]: what the two processes say (ping-pong, then a stream);
//! - [`stats`]: HdrHistogram of round trips, throughput arithmetic;
//! - [`report`]: machine description, the table, JSON lines;
//! - [`plot`]: the SVG chart;
//! - [`mechanisms`]: one module per mechanism family.
//!
//! Imports point one way: [`mechanisms`] use [`harness`] and [`protocol`],
//! which never import a mechanism; system calls that rustix lacks go
//! through kipc-host (the bench has no `libc`).
//!
//! `unsafe` is denied here and allowed only where a module says so at its
//! top (the floor's shared word, taking ownership of inherited descriptors,
//! iceoryx2's API).
#![deny(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::CmdResult;

mod args;
mod harness;
mod mech;
mod mechanisms;
mod plot;
mod protocol;
mod report;
mod stats;

pub use args::Args;
use args::Config;
use harness::{ChildCtx, ParentCtx, Placement};
use mech::Mech;
use protocol::{Plan, StreamBudget};
use report::{Machine, Row};

/// How long the idle check leaves a blocking receiver with nothing to do.
const IDLE_CHECK: Duration = Duration::from_secs(2);

/// Runs `kipc bench` (or, with the hidden `--peer`, its peer process).
pub fn run(args: Args) -> CmdResult {
    if let Some(role) = &args.peer {
        return run_peer(role, &args);
    }
    let cfg = Config::from_args(&args)?;
    let machine = Machine::detect();
    let placement = if cfg.same_core {
        Placement::same_core_and_pin_self()
    } else {
        Placement::choose_and_pin_self()
    };
    let progress = !cfg.json && std::io::stderr().is_terminal();
    if !cfg.json {
        println!("{}", report::header(&machine, placement));
    }
    // Every round measures every row (the floor first), so each row's
    // ratio compares figures taken minutes, not hours, apart.
    let mut rounds = Vec::new();
    for round in 0..cfg.rounds {
        let mut rows = Vec::new();
        for (i, &size) in cfg.sizes.iter().enumerate() {
            for &mech in &cfg.mechs {
                // Fixed-size mechanisms run once, whatever the size list.
                let size = match mech.fixed_size() {
                    Some(_) if i > 0 => continue,
                    Some(fixed) => fixed,
                    None => size,
                };
                rows.push(run_one(mech, size, &cfg, placement, progress, round));
            }
        }
        for &(mech, size) in &cfg.large {
            rows.push(run_one(mech, size, &cfg, placement, progress, round));
        }
        rounds.push(rows);
    }
    let rows = if cfg.rounds > 1 {
        report::combine(rounds)
    } else {
        rounds.pop().unwrap_or_default()
    };
    if cfg.json {
        let floor = report::floor_p50(&rows);
        for r in &rows {
            println!("{}", report::json_row(r, floor, placement));
        }
    } else {
        print!("{}", report::table(&rows));
        let skipped: Vec<String> = Mech::ALL
            .iter()
            .filter_map(|m| {
                m.available()
                    .err()
                    .map(|why| format!("{} ({why})", m.name()))
            })
            .collect();
        if args.mech.is_none() && !skipped.is_empty() {
            println!("not measured: {}", skipped.join("; "));
        }
        println!(
            "RTT: round trip, bench process -> peer -> bench. msgs/s, MB/s: one-way stream, counted by the receiver.\n\
             Sizes 4 and 8 are mechanisms that carry only a word (floor, futex, signal) or a counter (eventfd)."
        );
        for note in report::notes(&rows, placement) {
            println!("{note}");
        }
    }
    if let Some(path) = &cfg.plot {
        let title = format!(
            "kipc bench: {} x{}, {} ({})",
            machine.cpu,
            machine.cores,
            machine.kernel,
            placement.describe()
        );
        plot::write_svg(path, &rows, &title)?;
        if !cfg.json {
            println!("wrote {}", path.display());
        }
    }
    let failed = rows.iter().filter(|r| r.result.is_err()).count();
    if failed > 0 {
        eprintln!(
            "kipc bench: {failed} of {} measurements failed (see the table)",
            rows.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Measures one (mechanism, size): spawn the peer, run the client, reap.
fn run_one(
    mech: Mech,
    size: usize,
    cfg: &Config,
    placement: Placement,
    progress: bool,
    round: u32,
) -> Row {
    // Slow mechanisms (a file per message) get a shorter budget, so the
    // default run stays well under 90 s. The budgets are split between the
    // rounds.
    let duration = mech
        .max_duration()
        .map_or(cfg.duration, |d| cfg.duration.min(d))
        / cfg.rounds;
    let iters = cfg.iters.div_ceil(u64::from(cfg.rounds)).max(1);
    let plan = Plan {
        size,
        ack_len: mech.ack_len(size),
        iters,
        duration,
        stream: mech.streams().then(|| StreamBudget {
            max_msgs: iters.saturating_mul(20).max(1_000),
            time: (duration / 4).min(Duration::from_millis(500)),
        }),
        // Once per row: the idle check is not a figure that drifts.
        idle: (mech.idle_check() && round == 0).then_some(IDLE_CHECK),
        in_place: !cfg.copy_send,
    };
    let bar = if progress {
        let bar = ProgressBar::new(iters);
        if let Ok(style) =
            ProgressStyle::with_template("{prefix:>16} {bar:30} {pos}/{len} round trips {elapsed}")
        {
            bar.set_style(style);
        }
        bar.set_prefix(format!("{} {}/{}", mech.name(), round + 1, cfg.rounds));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut ctx = ParentCtx::new(mech, size, placement);
    let mut measured = None;
    let r = mechanisms::parent(&mut ctx, &mut |ch| {
        measured = Some(protocol::client(ch, &plan, &mut |n| bar.set_position(n))?);
        Ok(())
    });
    let peer_said = ctx.finish();
    bar.finish_and_clear();
    let result = match (r, measured) {
        (Ok(()), Some(m)) => Ok(m),
        (Err(e), _) => Err(match peer_said {
            Some(p) => format!("{e} (peer said: {})", p.trim_start_matches("kipc: ")),
            None => e.to_string(),
        }),
        (Ok(()), None) => Err("no measurement".into()),
    };
    Row {
        mech,
        size,
        result,
        rounds: Vec::new(),
    }
}

/// The peer process: set up, serve, exit.
fn run_peer(role: &str, args: &Args) -> CmdResult {
    if role != "server" {
        return Err(format!("unknown peer role {role:?}").into());
    }
    let name = args.mech.as_deref().unwrap_or_default();
    let mech = Mech::from_name(name).ok_or_else(|| format!("unknown mechanism {name:?}"))?;
    let size: usize = args
        .size
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|_| format!("bad peer size {:?}", args.size))?;
    let ctx = ChildCtx::init(
        args.peer_cpu,
        args.peer_shared,
        &args.peer_fds,
        args.peer_arg.clone(),
    )?;
    let plan = Plan {
        size,
        ack_len: mech.ack_len(size),
        iters: 0,
        duration: Duration::ZERO,
        stream: None,
        idle: None,
        // The peer echoes what it received with `send` either way.
        in_place: false,
    };
    mechanisms::child(mech, ctx, &mut |ch| protocol::server(ch, &plan))
        .map_err(|e| format!("bench peer ({}): {e}", mech.name()))?;
    Ok(ExitCode::SUCCESS)
}
