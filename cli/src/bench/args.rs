//! Command-line arguments of `kipc bench`, and their validation into a
//! [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use super::mech::Mech;

/// Largest message size the bench accepts (1 MiB).
pub const MAX_SIZE: usize = 1 << 20;

/// The large-message rows of a default run (no `--mech`, no `--size`):
/// these mechanisms at these sizes, after the 64-byte rows of every one.
pub const LARGE_MECHS: [Mech; 5] = [
    Mech::SpscSpin,
    Mech::SpscBlock,
    Mech::Mpmc,
    Mech::Pipe,
    Mech::UnixStream,
];

/// Sizes of the large-message rows of a default run (1 KiB, 64 KiB).
pub const LARGE_SIZES: [usize; 2] = [1024, 65_536];

/// Arguments of `kipc bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Mechanisms to run, comma-separated (default: every one built in):
    /// floor, kipc-spsc-spin, kipc-spsc-block, kipc-spsc-async, kipc-mpmc,
    /// kipc-mbox, iceoryx2, futex, eventfd, pipe, fifo, unix-stream,
    /// tokio-unix-stream, unix-dgram, unix-seqpacket, tcp, udp, posix-mq,
    /// signal, spool.
    #[arg(long, value_name = "LIST")]
    pub mech: Option<String>,
    /// Message sizes in bytes, comma-separated (a `k` suffix means KiB)
    /// [default: 64; when --mech is not given either, the run adds 1k and
    /// 64k rows of kipc-spsc-spin, kipc-spsc-block, kipc-mpmc, pipe and
    /// unix-stream, whose MB/s column is the large-message streaming figure].
    #[arg(long, value_name = "BYTES[,BYTES...]")]
    pub size: Option<String>,
    /// Most round trips to time per mechanism and size.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub iters: u64,
    /// Most seconds of round trips per mechanism and size.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub duration: f64,
    /// Rounds to measure in: each round runs the floor and a short burst of
    /// every selected row (the --iters and --duration budgets are split
    /// between rounds), and the table gives each row's median over rounds of
    /// its p50 and of its ratio to the same round's floor, with the spread,
    /// so a change of the machine's state between rows affects them alike.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub rounds: u32,
    /// Print one JSON object per (mechanism, size) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG chart of the latency distributions to FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Pin both processes to one core (the first allowed CPU, CPU 0 here):
    /// how the blocking paths behave when the peer cannot run while we spin.
    #[arg(long)]
    pub same_core: bool,
    /// kipc rings: copy each message in from a prebuilt private buffer with
    /// `send`, as every other mechanism does, instead of writing it in place
    /// in the ring's slot with `send_with` (the default): the before/after
    /// of the zero-copy send path.
    #[arg(long)]
    pub copy_send: bool,
    /// Internal: run as the peer process of one mechanism.
    #[arg(long, hide = true, value_name = "ROLE")]
    pub peer: Option<String>,
    /// Internal: CPU the peer pins itself to.
    #[arg(long, hide = true)]
    pub peer_cpu: Option<usize>,
    /// Internal: the peer shares its CPU with the bench process.
    #[arg(long, hide = true)]
    pub peer_shared: bool,
    /// Internal: descriptors the peer inherited.
    #[arg(long, hide = true, value_delimiter = ',')]
    pub peer_fds: Vec<i32>,
    /// Internal: mechanism-specific values for the peer (a port, a path).
    #[arg(long, hide = true)]
    pub peer_arg: Vec<String>,
}

/// What to run, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Mechanisms, in table order, without duplicates.
    pub mechs: Vec<Mech>,
    /// Message sizes in bytes, in the order given.
    pub sizes: Vec<usize>,
    /// Extra (mechanism, size) rows measured after those of `mechs` x
    /// `sizes` in each round: the default run's large messages.
    pub large: Vec<(Mech, usize)>,
    /// Most timed round trips.
    pub iters: u64,
    /// Most time spent on timed round trips (over all rounds).
    pub duration: Duration,
    /// Rounds (1..=100).
    pub rounds: u32,
    /// JSON lines instead of a table.
    pub json: bool,
    /// Where to write the SVG chart.
    pub plot: Option<PathBuf>,
    /// Both processes on one core.
    pub same_core: bool,
    /// kipc rings send with `send` (a copy), not `send_with` (in place).
    pub copy_send: bool,
}

impl Config {
    /// Validates `args`.
    ///
    /// # Errors
    ///
    /// A one-line message for an unknown or unavailable mechanism, a bad
    /// size, zero iterations or a non-positive duration.
    pub fn from_args(args: &Args) -> Result<Self, String> {
        let mechs = match &args.mech {
            Some(list) => parse_mechs(list)?,
            None => Mech::ALL
                .iter()
                .copied()
                .filter(|m| m.available().is_ok())
                .collect(),
        };
        let sizes = parse_sizes(args.size.as_deref().unwrap_or("64"))?;
        let large = if args.mech.is_none() && args.size.is_none() {
            LARGE_SIZES
                .iter()
                .flat_map(|&size| LARGE_MECHS.iter().map(move |&m| (m, size)))
                .collect()
        } else {
            Vec::new()
        };
        if args.iters == 0 {
            return Err("--iters must be at least 1".into());
        }
        if !(args.duration.is_finite() && args.duration > 0.0 && args.duration <= 3600.0) {
            return Err(format!(
                "--duration must be between 0 and 3600 seconds, not {}",
                args.duration
            ));
        }
        if !(1..=100).contains(&args.rounds) {
            return Err(format!("--rounds must be in 1..=100, not {}", args.rounds));
        }
        Ok(Config {
            mechs,
            sizes,
            large,
            iters: args.iters,
            duration: Duration::from_secs_f64(args.duration),
            rounds: args.rounds,
            json: args.json,
            plot: args.plot.clone(),
            same_core: args.same_core,
            copy_send: args.copy_send,
        })
    }
}

/// Parses a comma-separated mechanism list: known names only, each at most
/// once, returned in the order given.
///
/// # Errors
///
/// An unknown name (the message lists the known ones), an empty list, or a
/// mechanism not available in this build.
pub fn parse_mechs(list: &str) -> Result<Vec<Mech>, String> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some(m) = Mech::from_name(name) else {
            let known: Vec<&str> = Mech::ALL.iter().map(|m| m.name()).collect();
            return Err(format!(
                "unknown mechanism {name:?} (known: {})",
                known.join(", ")
            ));
        };
        if let Err(why) = m.available() {
            return Err(format!("mechanism {name} is not available: {why}"));
        }
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err("--mech needs at least one mechanism".into());
    }
    Ok(out)
}

/// Parses a comma-separated list of sizes in bytes; `k`/`K`/`KiB` means
/// 1024 bytes.
///
/// # Errors
///
/// Anything that is not a whole number in `1..=MAX_SIZE`, or an empty list.
pub fn parse_sizes(list: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (digits, unit) = match item
            .strip_suffix("KiB")
            .or_else(|| item.strip_suffix(['k', 'K']))
        {
            Some(d) => (d, 1024),
            None => (item, 1),
        };
        let n: usize = digits
            .parse()
            .map_err(|_| format!("bad size {item:?}: expected a number of bytes, e.g. 64 or 4k"))?;
        let bytes = n
            .checked_mul(unit)
            .filter(|b| (1..=MAX_SIZE).contains(b))
            .ok_or_else(|| format!("size {item} out of range 1..={MAX_SIZE} bytes"))?;
        if !out.contains(&bytes) {
            out.push(bytes);
        }
    }
    if out.is_empty() {
        return Err("--size needs at least one size".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        Config::from_args(&cli.args)
    }

    #[test]
    fn size_lists_accept_bytes_and_kib() {
        assert_eq!(parse_sizes("64"), Ok(vec![64]));
        assert_eq!(parse_sizes("8, 64,1k,4KiB"), Ok(vec![8, 64, 1024, 4096]));
        assert_eq!(parse_sizes("64,64"), Ok(vec![64]));
    }

    #[test]
    fn bad_sizes_are_one_line_errors() {
        for bad in ["", "0", "-1", "abc", "2048k", "1.5"] {
            let e = parse_sizes(bad).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn mech_lists_keep_order_and_drop_duplicates() {
        assert_eq!(
            parse_mechs("pipe,floor,pipe"),
            Ok(vec![Mech::Pipe, Mech::Floor])
        );
    }

    #[test]
    fn unknown_mechanism_is_an_error_naming_it() {
        let e = parse_mechs("floor,carrier-pigeon").unwrap_err();
        assert!(e.contains("carrier-pigeon") && e.contains("known:"), "{e}");
    }

    #[cfg(not(feature = "iceoryx2"))]
    #[test]
    fn unbuilt_mechanism_is_refused_with_a_reason() {
        let e = parse_mechs("iceoryx2").unwrap_err();
        assert!(e.contains("not available"), "{e}");
    }

    #[test]
    fn defaults_are_every_available_mechanism_at_64_bytes() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.sizes, vec![64]);
        assert_eq!(c.iters, 100_000);
        assert_eq!(c.duration, Duration::from_secs(2));
        assert!(c.mechs.contains(&Mech::Floor) && c.mechs.contains(&Mech::Mbox));
        assert_eq!(
            c.mechs.contains(&Mech::Iceoryx2),
            cfg!(feature = "iceoryx2")
        );
        assert!(!c.json && c.plot.is_none() && !c.same_core && !c.copy_send);
        // Plus the large-message rows, 1 KiB first.
        assert_eq!(c.large.len(), 10);
        assert_eq!(c.large[0], (Mech::SpscSpin, 1024));
        assert_eq!(c.large[9], (Mech::UnixStream, 65_536));
    }

    #[test]
    fn naming_mechanisms_or_sizes_drops_the_large_rows() {
        assert!(parse(&["--size", "64"]).unwrap().large.is_empty());
        assert!(parse(&["--mech", "pipe"]).unwrap().large.is_empty());
        assert!(parse(&["--json"]).unwrap().large.len() == 10);
    }

    #[test]
    fn flags_are_parsed() {
        let c = parse(&[
            "--mech",
            "floor,kipc-spsc-spin,pipe",
            "--size",
            "8,1k",
            "--iters",
            "2000",
            "--duration",
            "0.5",
            "--json",
            "--plot",
            "/tmp/x.svg",
        ])
        .unwrap();
        assert_eq!(c.mechs, vec![Mech::Floor, Mech::SpscSpin, Mech::Pipe]);
        assert_eq!(c.sizes, vec![8, 1024]);
        assert_eq!((c.iters, c.json), (2000, true));
        assert_eq!(c.duration, Duration::from_millis(500));
        assert_eq!(c.plot, Some(PathBuf::from("/tmp/x.svg")));
        assert!(parse(&["--same-core"]).unwrap().same_core);
        assert!(parse(&["--copy-send"]).unwrap().copy_send);
        assert!(parse(&["--iters", "0"]).is_err());
        assert!(parse(&["--duration", "-1"]).is_err());
        assert!(parse(&["--mech", "nope"]).is_err());
    }
}
