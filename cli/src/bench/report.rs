//! The machine description, the table, and the JSON lines.

use serde_json::{json, Value};

use super::harness::Placement;
use super::mech::Mech;
use super::protocol::Measurement;
use super::stats::{ratio, Throughput};

/// One (mechanism, size) result.
#[derive(Debug, Clone)]
pub struct Row {
    /// The mechanism.
    pub mech: Mech,
    /// Bytes per message actually moved.
    pub size: usize,
    /// The figures, or why there are none. After [`combine`], those of the
    /// round whose p50 is the median (its samples summed over all rounds).
    pub result: Result<Measurement, String>,
    /// Per round (after [`combine`]): this row's p50 and its ratio to the
    /// same round's floor. Empty for a single measurement.
    pub rounds: Vec<RoundFigure>,
}

/// One round's figures of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundFigure {
    /// Median round trip in that round, ns.
    pub p50: u64,
    /// `p50` over the floor's p50 in the same round (`None` without a floor).
    pub ratio: Option<f64>,
}

impl Row {
    /// The median round trip, if measured.
    pub fn p50(&self) -> Option<u64> {
        self.result.as_ref().ok().map(|m| m.rtt.p50)
    }

    /// The ratio to the floor: with rounds, the median over rounds of each
    /// round's ratio to that round's floor; otherwise this p50 over `floor`.
    pub fn ratio(&self, floor: Option<u64>) -> Option<f64> {
        let ratios = self.round_ratios();
        if ratios.is_empty() {
            return self.p50().and_then(|p| ratio(p, floor));
        }
        let mid = ratios.len() / 2;
        Some(if ratios.len() % 2 == 1 {
            ratios[mid]
        } else {
            (ratios[mid - 1] + ratios[mid]) / 2.0
        })
    }

    /// The smallest and largest per-round ratio, if there are rounds.
    pub fn ratio_spread(&self) -> Option<(f64, f64)> {
        let ratios = self.round_ratios();
        Some((*ratios.first()?, *ratios.last()?))
    }

    /// Per-round ratios, sorted.
    fn round_ratios(&self) -> Vec<f64> {
        let mut r: Vec<f64> = self.rounds.iter().filter_map(|f| f.ratio).collect();
        r.sort_by(f64::total_cmp);
        r
    }
}

/// Combines the rows of several rounds, each of which measured the same
/// (mechanism, size) list in the same order, into one row each: a failure
/// in any round fails the row; otherwise the row keeps every round's p50
/// and ratio to that round's floor, and the measurement of its median round
/// (by p50) except for the stream, which is the round with the median
/// throughput.
pub fn combine(rounds: Vec<Vec<Row>>) -> Vec<Row> {
    let floors: Vec<Option<u64>> = rounds.iter().map(|r| floor_p50(r)).collect();
    let n = rounds.iter().map(Vec::len).min().unwrap_or(0);
    (0..n)
        .map(|i| {
            let cells: Vec<&Row> = rounds.iter().map(|r| &r[i]).collect();
            let (mech, size) = (cells[0].mech, cells[0].size);
            if let Some(bad) = cells.iter().find(|c| c.result.is_err()) {
                return Row {
                    mech,
                    size,
                    result: bad.result.clone(),
                    rounds: Vec::new(),
                };
            }
            let figures: Vec<RoundFigure> = cells
                .iter()
                .zip(&floors)
                .map(|(c, &floor)| {
                    let p50 = c.p50().unwrap_or(0);
                    RoundFigure {
                        p50,
                        ratio: ratio(p50, floor),
                    }
                })
                .collect();
            let mut order: Vec<usize> = (0..cells.len()).collect();
            order.sort_by_key(|&k| figures[k].p50);
            let median = order[order.len() / 2];
            let result = cells[median].result.clone().map(|mut m| {
                m.rtt.samples = cells
                    .iter()
                    .filter_map(|c| c.result.as_ref().ok())
                    .map(|m| m.rtt.samples)
                    .sum();
                m.idle_cpu_pct = cells
                    .iter()
                    .find_map(|c| c.result.as_ref().ok().and_then(|m| m.idle_cpu_pct));
                m.stream = median_stream(&cells);
                m
            });
            Row {
                mech,
                size,
                result,
                rounds: figures,
            }
        })
        .collect()
}

/// The stream of the round with the median throughput (for an even count,
/// the faster of the two middle ones), if the row streams.
fn median_stream(cells: &[&Row]) -> Option<Throughput> {
    let mut streams: Vec<Throughput> = cells
        .iter()
        .filter_map(|c| c.result.as_ref().ok().and_then(|m| m.stream))
        .collect();
    streams.sort_by(|a, b| a.bytes_per_s().total_cmp(&b.bytes_per_s()));
    streams.get(streams.len() / 2).copied()
}

/// What the table's header says about this machine.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// Online CPUs.
    pub cores: usize,
    /// `uname -sr`.
    pub kernel: String,
}

impl Machine {
    /// Reads /proc/cpuinfo and uname.
    pub fn detect() -> Machine {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = info
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let u = rustix::system::uname();
        let kernel = format!(
            "{} {}",
            u.sysname().to_string_lossy(),
            u.release().to_string_lossy()
        );
        Machine { cpu, cores, kernel }
    }
}

/// The lines above the table.
pub fn header(m: &Machine, placement: Placement) -> String {
    format!(
        "kipc bench: {} ({} CPU{}), {}\n{}\n",
        m.cpu,
        m.cores,
        if m.cores == 1 { "" } else { "s" },
        m.kernel,
        placement.describe()
    )
}

/// `243 ns`, `1.25 us`, `85.3 us`, `1.02 ms`.
pub fn fmt_ns(ns: u64) -> String {
    let n = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 10_000 {
        format!("{:.2} us", n / 1e3)
    } else if ns < 1_000_000 {
        format!("{:.1} us", n / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", n / 1e6)
    } else {
        format!("{:.2} s", n / 1e9)
    }
}

/// `12.3 M`, `850 k`, `917`.
pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.1} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.0} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// The floor's median round trip, if the floor ran.
pub fn floor_p50(rows: &[Row]) -> Option<u64> {
    rows.iter()
        .find(|r| r.mech == Mech::Floor)
        .and_then(Row::p50)
}

/// The table, one line per row, failed rows saying why.
pub fn table(rows: &[Row]) -> String {
    let floor = floor_p50(rows);
    // The idle column only when some row ran the idle check.
    let idle = rows
        .iter()
        .any(|r| r.result.as_ref().is_ok_and(|m| m.idle_cpu_pct.is_some()));
    let mut head = vec![
        "mechanism",
        "size",
        "samples",
        "min",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "msgs/s",
        "MB/s",
        "p50/floor",
    ];
    // The spread column only when rows were measured in rounds.
    let spread = rows.iter().any(|r| r.rounds.len() > 1);
    if spread {
        head.push("spread");
    }
    if idle {
        head.push("idle CPU");
    }
    let mut lines: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
    let mut failures = Vec::new();
    for r in rows {
        match &r.result {
            Ok(m) => {
                let s = m.rtt;
                let (mps, mbs) = match m.stream {
                    Some(t) => (
                        fmt_rate(t.msgs_per_s()),
                        format!("{:.1}", t.bytes_per_s() / 1e6),
                    ),
                    None => ("-".into(), "-".into()),
                };
                let mut line = vec![
                    r.mech.name().into(),
                    r.size.to_string(),
                    s.samples.to_string(),
                    fmt_ns(s.min),
                    fmt_ns(s.p50),
                    fmt_ns(s.p90),
                    fmt_ns(s.p99),
                    fmt_ns(s.p999),
                    fmt_ns(s.max),
                    mps,
                    mbs,
                    r.ratio(floor).map_or("-".into(), |x| format!("{x:.2}x")),
                ];
                if spread {
                    line.push(
                        r.ratio_spread()
                            .filter(|_| r.rounds.len() > 1)
                            .map_or("-".into(), |(lo, hi)| format!("{lo:.2}-{hi:.2}")),
                    );
                }
                if idle {
                    line.push(m.idle_cpu_pct.map_or("-".into(), |p| format!("{p:.2}%")));
                }
                lines.push(line);
            }
            Err(e) => failures.push(format!("{} ({} B): FAILED: {e}", r.mech.name(), r.size)),
        }
    }
    let cols = head.len();
    let width: Vec<usize> = (0..cols)
        .map(|c| lines.iter().map(|l| l[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if c == 0 {
                    format!("{v:<w$}", w = width[c])
                } else {
                    format!("{v:>w$}", w = width[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(width.iter().sum::<usize>() + 2 * (cols - 1)));
            out.push('\n');
        }
    }
    for f in failures {
        out.push_str(&f);
        out.push('\n');
    }
    out
}

/// The notes under the table that depend on what ran.
pub fn notes(rows: &[Row], placement: Placement) -> Vec<String> {
    let ran = |m: Mech| rows.iter().any(|r| r.mech == m && r.result.is_ok());
    let mut out = Vec::new();
    if rows
        .iter()
        .any(|r| r.result.as_ref().is_ok_and(|m| m.idle_cpu_pct.is_some()))
    {
        out.push(
            "idle CPU: the peer's own CPU time (user + system) while it waited 2 s in a receive with nothing to \
             receive, in % of one core."
                .to_string(),
        );
    }
    let ring_rows: Vec<bool> = rows
        .iter()
        .filter(|r| matches!(r.mech, Mech::SpscSpin | Mech::SpscBlock | Mech::Mpmc))
        .filter_map(|r| r.result.as_ref().ok().map(|m| m.in_place))
        .collect();
    if ring_rows.contains(&true) {
        out.push(
            "kipc rings: the bench writes each message in place in the ring's slot (Sender::send_with), \
             receives by copying out; --copy-send copies a prebuilt message in with send instead."
                .to_string(),
        );
    } else if !ring_rows.is_empty() {
        out.push(
            "kipc rings (--copy-send): each message is a prebuilt private buffer copied in with send.".to_string(),
        );
    }
    if ran(Mech::Iceoryx2) {
        out.push(
            "iceoryx2: measured at its best, as its own benchmarks do: each sample is loaned ahead (after the \
             previous send, off the round trip's path) and both subscribers busy-poll."
                .to_string(),
        );
    }
    if ran(Mech::Spool) {
        out.push(
            "spool: a file per message (write, fsync, rename; inotify) in /dev/shm; 1 s budget."
                .to_string(),
        );
    }
    if placement.shared_core() {
        out.push(
            "same core: each process runs only while the other waits or is preempted; spinning waiters must \
             give the CPU away quickly."
                .to_string(),
        );
    }
    out
}

/// One JSON object for a row: the fixed fields `mech`, `size`,
/// `rtt_min_ns`, `rtt_p50_ns`, `rtt_p99_ns`, `rtt_p999_ns`, `msgs_per_s`,
/// `bytes_per_s`, `ratio_to_floor` (null when not measured or no floor),
/// plus `samples`, `rtt_p90_ns`, `rtt_max_ns`, `cpu_bench`, `cpu_peer`,
/// `same_core`, `idle_cpu_pct` (the idle check: a waiting receiver's CPU use
/// in % of one core; null when not checked), `send` (`"in-place"` when the
/// client wrote its messages in the channel's slots, `"copy"` otherwise),
/// and `error` for a failed row.
pub fn json_row(r: &Row, floor: Option<u64>, placement: Placement) -> Value {
    let (cpu_bench, cpu_peer) = match placement {
        Placement::Pinned { parent, peer } => (json!(parent), json!(peer)),
        Placement::Unpinned => (Value::Null, Value::Null),
    };
    match &r.result {
        Ok(m) => {
            let s = m.rtt;
            let (mps, bps) = match m.stream {
                Some(t) => (json!(t.msgs_per_s()), json!(t.bytes_per_s())),
                None => (Value::Null, Value::Null),
            };
            json!({
                "mech": r.mech.name(),
                "size": r.size,
                "samples": s.samples,
                "rtt_min_ns": s.min,
                "rtt_p50_ns": s.p50,
                "rtt_p90_ns": s.p90,
                "rtt_p99_ns": s.p99,
                "rtt_p999_ns": s.p999,
                "rtt_max_ns": s.max,
                "msgs_per_s": mps,
                "bytes_per_s": bps,
                "ratio_to_floor": r.ratio(floor),
                "ratio_spread": r.ratio_spread().map(|(lo, hi)| json!([lo, hi])),
                "rounds": r.rounds.iter().map(|f| json!({
                    "rtt_p50_ns": f.p50,
                    "ratio_to_floor": f.ratio,
                })).collect::<Vec<_>>(),
                "cpu_bench": cpu_bench,
                "cpu_peer": cpu_peer,
                "same_core": placement.shared_core(),
                "idle_cpu_pct": m.idle_cpu_pct,
                "send": if m.in_place { "in-place" } else { "copy" },
            })
        }
        Err(e) => json!({
            "mech": r.mech.name(),
            "size": r.size,
            "rtt_min_ns": null, "rtt_p50_ns": null, "rtt_p99_ns": null, "rtt_p999_ns": null,
            "msgs_per_s": null, "bytes_per_s": null, "ratio_to_floor": null,
            "cpu_bench": cpu_bench,
            "cpu_peer": cpu_peer,
            "same_core": placement.shared_core(),
            "idle_cpu_pct": null,
            "error": e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::Summary;

    /// The fields every JSON line carries.
    pub const REQUIRED: [&str; 9] = [
        "mech",
        "size",
        "rtt_min_ns",
        "rtt_p50_ns",
        "rtt_p99_ns",
        "rtt_p999_ns",
        "msgs_per_s",
        "bytes_per_s",
        "ratio_to_floor",
    ];

    #[test]
    fn rounds_report_the_median_ratio_to_each_rounds_own_floor() {
        // The machine slows down between rounds 1 and 2 (floor 100 -> 400):
        // a ring at 150 then 600 is 1.5x the floor in both, which the ratio
        // to one run-wide floor would not show.
        let rounds = vec![
            vec![row(Mech::Floor, 100, false), row(Mech::SpscSpin, 150, true)],
            vec![row(Mech::Floor, 400, false), row(Mech::SpscSpin, 600, true)],
            vec![row(Mech::Floor, 110, false), row(Mech::SpscSpin, 176, true)],
        ];
        let rows = combine(rounds);
        assert_eq!(rows.len(), 2);
        let ring = &rows[1];
        assert_eq!(ring.rounds.len(), 3);
        assert_eq!(ring.ratio(floor_p50(&rows)), Some(1.5));
        assert_eq!(ring.ratio_spread(), Some((1.5, 1.6)));
        // The measurement kept is the median round's, samples summed.
        assert_eq!(ring.p50(), Some(176));
        assert_eq!(ring.result.as_ref().unwrap().rtt.samples, 3000);
        let table = table(&rows);
        assert!(table.contains("spread"), "{table}");
        assert!(table.contains("1.50x"), "{table}");
        assert!(table.contains("1.50-1.60"), "{table}");
        let j = json_row(ring, floor_p50(&rows), Placement::Unpinned);
        assert_eq!(j["ratio_to_floor"], json!(1.5));
        assert_eq!(j["rounds"].as_array().unwrap().len(), 3);
        assert_eq!(j["rounds"][1]["rtt_p50_ns"], json!(600));
        assert_eq!(j["ratio_spread"], json!([1.5, 1.6]));
    }

    #[test]
    fn rounds_keep_the_median_stream_and_json_says_how_the_ring_sent() {
        let ring = |p50: u64, msgs: u64| {
            let mut r = row(Mech::SpscSpin, p50, true);
            if let Ok(m) = &mut r.result {
                m.stream = Some(Throughput {
                    msgs,
                    elapsed_ns: 1_000_000_000,
                    size: 65_536,
                });
                m.in_place = true;
            }
            r
        };
        // The median p50 (round 3) is not the median stream (round 1).
        let rounds = vec![
            vec![row(Mech::Floor, 100, false), ring(150, 30_000)],
            vec![row(Mech::Floor, 100, false), ring(140, 10_000)],
            vec![row(Mech::Floor, 100, false), ring(145, 90_000)],
        ];
        let rows = combine(rounds);
        let m = rows[1].result.as_ref().unwrap();
        assert_eq!(m.rtt.p50, 145);
        assert_eq!(m.stream.unwrap().msgs, 30_000);
        let j = json_row(&rows[1], floor_p50(&rows), Placement::Unpinned);
        assert_eq!(j["bytes_per_s"], json!(30_000.0 * 65_536.0));
        assert_eq!(j["send"], "in-place");
        assert_eq!(
            json_row(&rows[0], None, Placement::Unpinned)["send"],
            "copy"
        );
        assert!(notes(&rows, Placement::Unpinned)
            .iter()
            .any(|n| n.contains("in place")));
    }

    #[test]
    fn a_failure_in_any_round_fails_the_row() {
        let mut bad = row(Mech::Pipe, 5_000, true);
        bad.result = Err("peer died".into());
        let rounds = vec![
            vec![row(Mech::Floor, 100, false), row(Mech::Pipe, 4_000, true)],
            vec![row(Mech::Floor, 100, false), bad],
        ];
        let rows = combine(rounds);
        assert_eq!(rows[1].result.as_ref().unwrap_err(), "peer died");
        assert!(rows[0].result.is_ok());
    }

    fn row(mech: Mech, p50: u64, stream: bool) -> Row {
        let rtt = Summary {
            samples: 1000,
            min: p50 / 2,
            p50,
            p90: p50 + 1,
            p99: p50 * 2,
            p999: p50 * 3,
            max: p50 * 10,
        };
        let stream = stream.then_some(Throughput {
            msgs: 2_000_000,
            elapsed_ns: 1_000_000_000,
            size: 64,
        });
        Row {
            mech,
            size: 64,
            result: Ok(Measurement {
                rtt,
                stream,
                idle_cpu_pct: None,
                in_place: false,
            }),
            rounds: Vec::new(),
        }
    }

    #[test]
    fn json_rows_have_the_fixed_fields_and_ratio_to_floor() {
        let rows = [row(Mech::Floor, 200, true), row(Mech::Pipe, 80_000, true)];
        let floor = floor_p50(&rows);
        let pinned = Placement::Pinned { parent: 0, peer: 1 };
        let v = json_row(&rows[1], floor, pinned);
        for f in REQUIRED {
            assert!(v.get(f).is_some(), "missing {f}");
        }
        assert_eq!(v["mech"], "pipe");
        assert_eq!(v["size"], 64);
        assert_eq!(v["rtt_p50_ns"], 80_000);
        assert_eq!(v["ratio_to_floor"], 400.0);
        assert_eq!(v["msgs_per_s"], 2_000_000.0);
        assert_eq!(v["bytes_per_s"], 128_000_000.0);
        assert_eq!(
            (v["cpu_bench"].clone(), v["cpu_peer"].clone()),
            (json!(0), json!(1))
        );
        assert_eq!(v["same_core"], false);
        assert!(v["idle_cpu_pct"].is_null());
        // One line when serialised.
        assert!(!v.to_string().contains('\n'));
    }

    #[test]
    fn ping_pong_only_and_failed_rows_use_null_not_zero() {
        let v = json_row(&row(Mech::Eventfd, 1000, false), None, Placement::Unpinned);
        assert!(
            v["msgs_per_s"].is_null() && v["ratio_to_floor"].is_null() && v["cpu_peer"].is_null()
        );
        let failed = Row {
            mech: Mech::Tcp,
            size: 64,
            result: Err("peer process 42 died".into()),
            rounds: Vec::new(),
        };
        let v = json_row(&failed, Some(200), Placement::Unpinned);
        for f in REQUIRED {
            assert!(v.get(f).is_some(), "missing {f}");
        }
        assert!(v["rtt_p50_ns"].is_null());
        assert_eq!(v["error"], "peer process 42 died");
    }

    #[test]
    fn table_has_a_line_per_row_and_names_failures() {
        let rows = [
            row(Mech::Floor, 250, true),
            row(Mech::Pipe, 85_000, true),
            Row {
                mech: Mech::Udp,
                size: 64,
                result: Err("no reply".into()),
                rounds: Vec::new(),
            },
        ];
        let t = table(&rows);
        assert!(t.lines().next().unwrap().starts_with("mechanism"));
        assert!(t.contains("1.00x") && t.contains("340.00x"), "{t}");
        assert!(t.contains("udp (64 B): FAILED: no reply"), "{t}");
        assert!(!t.contains("idle CPU"), "{t}");
    }

    #[test]
    fn idle_check_shows_as_a_column_and_a_json_field() {
        let mut blocked = row(Mech::SpscBlock, 300, true);
        if let Ok(m) = &mut blocked.result {
            m.idle_cpu_pct = Some(0.25);
        }
        let rows = [row(Mech::Floor, 250, true), blocked];
        let t = table(&rows);
        assert!(
            t.lines().next().unwrap().ends_with("idle CPU") && t.contains("0.25%"),
            "{t}"
        );
        let shared = Placement::Pinned { parent: 0, peer: 0 };
        assert!(header(
            &Machine {
                cpu: "x".into(),
                cores: 2,
                kernel: "k".into()
            },
            shared
        )
        .contains("same core"));
        let v = json_row(&rows[1], Some(250), shared);
        assert_eq!(v["idle_cpu_pct"], 0.25);
        assert_eq!(v["same_core"], true);
    }

    #[test]
    fn durations_and_rates_read_naturally() {
        assert_eq!(fmt_ns(243), "243 ns");
        assert_eq!(fmt_ns(1_250), "1.25 us");
        assert_eq!(fmt_ns(85_340), "85.3 us");
        assert_eq!(fmt_ns(1_020_000), "1.02 ms");
        assert_eq!(fmt_rate(12_340_000.0), "12.3 M");
        assert_eq!(fmt_rate(850_400.0), "850 k");
    }
}
