//! `kipc bench` end to end: real peer processes, JSON output. Checks the
//! shape and that every figure is positive; never a time.

use std::process::Command;

const REQUIRED: [&str; 9] = [
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
fn bench_json_lines_have_every_field_and_positive_figures() {
    let rows = bench_json(&["--mech", "floor,kipc-spsc-spin,pipe", "--iters", "2000"]);
    assert_eq!(rows.len(), 3, "{rows:?}");
    let mut mechs = Vec::new();
    for v in &rows {
        for f in REQUIRED {
            assert!(v.get(f).is_some(), "missing {f} in {v}");
        }
        for f in &REQUIRED[1..] {
            let x = v[f]
                .as_f64()
                .unwrap_or_else(|| panic!("{f} is not a number in {v}"));
            assert!(x > 0.0, "{f} = {x} in {v}");
        }
        mechs.push(v["mech"].as_str().unwrap().to_string());
    }
    assert_eq!(mechs, ["floor", "kipc-spsc-spin", "pipe"]);
}

#[test]
fn unknown_mechanism_is_a_one_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_kipc"))
        .args(["bench", "--mech", "floor,smoke-signals"])
        .output()
        .expect("run kipc bench");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("smoke-signals") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn same_core_json_says_so_and_reports_the_idle_check() {
    let rows = bench_json(&[
        "--same-core",
        "--mech",
        "kipc-spsc-block",
        "--iters",
        "500",
        "--duration",
        "0.5",
    ]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let v = &rows[0];
    assert_eq!(v["mech"], "kipc-spsc-block");
    assert_eq!(v["same_core"], true, "{v}");
    assert_eq!(v["cpu_bench"], v["cpu_peer"], "{v}");
    let idle = v["idle_cpu_pct"]
        .as_f64()
        .unwrap_or_else(|| panic!("no idle_cpu_pct in {v}"));
    assert!(idle >= 0.0, "{v}");
}

#[test]
fn the_tokio_rows_run_and_the_async_ring_reports_its_idle_check() {
    let rows = bench_json(&[
        "--mech",
        "kipc-spsc-async,tokio-unix-stream",
        "--iters",
        "2000",
        "--duration",
        "0.5",
    ]);
    let mechs: Vec<_> = rows.iter().map(|v| v["mech"].as_str().unwrap()).collect();
    assert_eq!(mechs, ["kipc-spsc-async", "tokio-unix-stream"]);
    // Without the floor in the run there is no ratio; the rest is there.
    for v in &rows {
        for f in ["rtt_p50_ns", "rtt_p99_ns", "msgs_per_s", "bytes_per_s"] {
            let x = v[f].as_f64().unwrap_or_else(|| panic!("{f} in {v}"));
            assert!(x > 0.0, "{f} = {x} in {v}");
        }
    }
    let idle = rows[0]["idle_cpu_pct"]
        .as_f64()
        .unwrap_or_else(|| panic!("no idle_cpu_pct in {}", rows[0]));
    assert!(idle >= 0.0, "{}", rows[0]);
}

/// Runs `kipc bench ARGS --json` and parses its lines.
fn bench_json(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_kipc"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .expect("run kipc bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kipc bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn large_messages_stream_through_rings_pipes_and_sockets_with_bytes_per_second() {
    let rows = bench_json(&[
        "--mech",
        "kipc-spsc-spin,kipc-spsc-block,pipe,unix-stream",
        "--size",
        "1k,64k",
        "--iters",
        "500",
        "--duration",
        "0.3",
        "--rounds",
        "1",
    ]);
    let got: Vec<(String, u64)> = rows
        .iter()
        .map(|v| {
            (
                v["mech"].as_str().unwrap().into(),
                v["size"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut want = Vec::new();
    for size in [1024, 65_536] {
        for m in ["kipc-spsc-spin", "kipc-spsc-block", "pipe", "unix-stream"] {
            want.push((m.to_string(), size));
        }
    }
    assert_eq!(got, want);
    for v in &rows {
        for f in ["rtt_p50_ns", "rtt_p99_ns", "msgs_per_s", "bytes_per_s"] {
            let x = v[f].as_f64().unwrap_or_else(|| panic!("{f} in {v}"));
            assert!(x > 0.0, "{f} = {x} in {v}");
        }
        // The stream's bytes are its messages times the message size.
        let (mps, bps) = (
            v["msgs_per_s"].as_f64().unwrap(),
            v["bytes_per_s"].as_f64().unwrap(),
        );
        let size = v["size"].as_f64().unwrap();
        assert!((bps - mps * size).abs() <= bps * 1e-9, "{v}");
        // The rings are written in place; pipes and sockets copy.
        let ring = v["mech"].as_str().unwrap().starts_with("kipc-");
        assert_eq!(v["send"], if ring { "in-place" } else { "copy" }, "{v}");
    }
}

#[test]
fn copy_send_makes_the_rings_copy_their_messages_in() {
    let rows = bench_json(&[
        "--mech",
        "kipc-spsc-spin,kipc-mpmc",
        "--size",
        "64k",
        "--iters",
        "500",
        "--duration",
        "0.3",
        "--rounds",
        "1",
        "--copy-send",
    ]);
    assert_eq!(rows.len(), 2);
    for v in &rows {
        assert_eq!(v["send"], "copy", "{v}");
        assert!(v["bytes_per_s"].as_f64().is_some_and(|x| x > 0.0), "{v}");
    }
}
