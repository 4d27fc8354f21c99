//! `--plot FILE.svg`: one horizontal bar per mechanism on a log-scale
//! round-trip axis (plotters, SVG backend only: no fonts needed).
//!
//! Each bar: a thin whisker from min to max, a dark box from p50 to p99, a
//! light box from p99 to p99.9, a black tick at p50, and the p50 written at
//! the right. Fastest at the top is not imposed: rows keep the table order.

use std::path::Path;

use plotters::prelude::*;

use super::report::{fmt_ns, Row};
use super::stats::Summary;

/// Writes the chart of every successful row to `path`.
///
/// # Errors
///
/// Nothing to plot, or the file cannot be written.
pub fn write_svg(path: &Path, rows: &[Row], title: &str) -> Result<(), String> {
    let ok: Vec<(String, Summary)> = rows
        .iter()
        .filter_map(|r| {
            r.result
                .as_ref()
                .ok()
                .map(|m| (format!("{} ({} B)", r.mech.name(), r.size), m.rtt))
        })
        .collect();
    if ok.is_empty() {
        return Err("nothing to plot: no mechanism succeeded".into());
    }
    draw(path, &ok, title).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// An axis label: `100 ns`, `1 us`, `10 ms`, `1 s` (no trailing zeros).
fn fmt_axis(ns: f64) -> String {
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "us")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    // Round to 3 significant figures, then print without trailing zeros.
    let v = (v * 100.0).round() / 100.0;
    format!("{v} {unit}")
}

fn pow10_below(v: f64) -> f64 {
    10f64.powf(v.max(1.0).log10().floor())
}

fn pow10_above(v: f64) -> f64 {
    10f64.powf(v.max(1.0).log10().ceil())
}

fn draw(
    path: &Path,
    rows: &[(String, Summary)],
    title: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = rows.len();
    let lo = pow10_below(rows.iter().map(|r| r.1.min).min().unwrap_or(1) as f64);
    let hi = pow10_above(rows.iter().map(|r| r.1.max).max().unwrap_or(1) as f64 * 6.0);
    let height = 130 + 30 * n as u32;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let label_area = 190;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 17))
        .margin(14)
        .margin_right(44)
        .x_label_area_size(42)
        .y_label_area_size(label_area)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("round-trip time, log scale (whisker: min-max; dark box: p50-p99; light box: p99-p99.9; black tick: p50)")
        .x_label_formatter(&|v| fmt_axis(*v))
        .axis_desc_style(("sans-serif", 13))
        .label_style(("sans-serif", 13))
        .draw()?;

    let dark = RGBColor(52, 101, 164);
    let light = RGBColor(160, 190, 225);
    for (i, (name, s)) in rows.iter().enumerate() {
        let c = n as f64 - i as f64 - 0.5;
        let f = |v: u64| (v.max(1) as f64).clamp(lo, hi);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(f(s.min), c), (f(s.max), c)],
            BLACK.mix(0.45).stroke_width(1),
        )))?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(f(s.p99), c - 0.28), (f(s.p999).max(f(s.p99)), c + 0.28)],
            light.filled(),
        )))?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(f(s.p50), c - 0.28), (f(s.p99).max(f(s.p50)), c + 0.28)],
            dark.filled(),
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(f(s.p50), c - 0.38), (f(s.p50), c + 0.38)],
            BLACK.stroke_width(3),
        )))?;
        let (_, py) = chart.backend_coord(&(lo, c));
        let (px, _) = chart.backend_coord(&(f(s.max), c));
        root.draw(&Text::new(
            name.clone(),
            (16, py - 7),
            ("sans-serif", 14).into_font(),
        ))?;
        root.draw(&Text::new(
            format!("p50 {}", fmt_ns(s.p50)),
            (px + 8, py - 7),
            ("sans-serif", 13).into_font(),
        ))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::mech::Mech;
    use crate::bench::protocol::Measurement;

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(fmt_axis(100.0), "100 ns");
        assert_eq!(fmt_axis(1_000.0), "1 us");
        assert_eq!(fmt_axis(100_000_000.0), "100 ms");
        assert_eq!(fmt_axis(1e9), "1 s");
    }

    #[test]
    fn writes_an_svg_naming_every_mechanism() {
        let rtt = |p50| Summary {
            samples: 10,
            min: p50 / 2,
            p50,
            p90: p50,
            p99: p50 * 2,
            p999: p50 * 3,
            max: p50 * 9,
        };
        let rows = vec![
            Row {
                mech: Mech::Floor,
                size: 4,
                result: Ok(Measurement {
                    rtt: rtt(250),
                    stream: None,
                    idle_cpu_pct: None,
                    in_place: false,
                }),
                rounds: Vec::new(),
            },
            Row {
                mech: Mech::Pipe,
                size: 64,
                result: Ok(Measurement {
                    rtt: rtt(80_000),
                    stream: None,
                    idle_cpu_pct: None,
                    in_place: false,
                }),
                rounds: Vec::new(),
            },
            Row {
                mech: Mech::Udp,
                size: 64,
                result: Err("x".into()),
                rounds: Vec::new(),
            },
        ];
        let path = std::env::temp_dir().join(format!("kipc-plot-test-{}.svg", std::process::id()));
        write_svg(&path, &rows, "test").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(
            svg.starts_with("<svg") && svg.contains("floor (4 B)") && svg.contains("pipe (64 B)")
        );
        assert!(!svg.contains("udp"));
        assert!(write_svg(&path, &rows[2..], "t").is_err());
    }
}
