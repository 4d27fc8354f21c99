//! Proof that the core level is freestanding: build kipc-ffi with
//! `--no-default-features` (so `#![no_std]`) as a release staticlib, check
//! that its only unresolved symbols are the few a freestanding C environment
//! provides, then link it into `examples/bare_metal_spsc.c` built with
//! `-ffreestanding -nostdlib -static` (no libc, no crt0) and run it.
//!
//! The same build by hand:
//!
//! ```text
//! CARGO_PROFILE_RELEASE_PANIC=abort cargo build -p kipc-ffi \
//!     --no-default-features --release --target-dir target/kipc-ffi-nostd
//! ```
//!
//! `panic = "abort"` is required: without std there is no unwinder, and the
//! workspace profiles use the default `unwind`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Symbols a freestanding program must supply (the compiler may emit calls
/// to them), and `rust_eh_personality`, referenced only from unwind tables of
/// the precompiled `core` and dropped by `--gc-sections`.
const ALLOWED_UNDEFINED: &[&str] = &[
    "memcpy",
    "memmove",
    "memset",
    "memcmp",
    "bcmp",
    "rust_eh_personality",
];

fn target_root() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

fn build_nostd_staticlib() -> PathBuf {
    let target_dir = target_root().join("kipc-ffi-nostd");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "-p",
            "kipc-ffi",
            "--no-default-features",
            "--release",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "no_std build of kipc-ffi failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = target_dir.join("release/libkipc_ffi.a");
    assert!(lib.exists(), "{} missing", lib.display());
    lib
}

/// Global symbols of the archive's members: (undefined, defined).
fn symbols(lib: &Path) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    // readelf, not nm: the members carry embedded LLVM bitcode, which makes
    // binutils' nm try (and fail) to load them through the LTO plugin.
    let out = Command::new("readelf").arg("-sW").arg(lib).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let (mut undefined, mut defined) = (BTreeSet::new(), BTreeSet::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Num: Value Size Type Bind Vis Ndx Name
        if f.len() < 8 || !matches!(f[4], "GLOBAL" | "WEAK") {
            continue;
        }
        let name = f[7].to_owned();
        if f[6] == "UND" {
            undefined.insert(name);
        } else {
            defined.insert(name);
        }
    }
    Some((undefined, defined))
}

#[test]
fn no_std_staticlib_needs_nothing_from_libstd_or_libc() {
    let lib = build_nostd_staticlib();
    let Some((undefined, defined)) = symbols(&lib) else {
        eprintln!("note: readelf not found; skipping the symbol check");
        return;
    };
    for core_level in [
        "kipc_spsc_try_push",
        "kipc_mpmc_try_pop",
        "kipc_mbox_try_send",
        "kipc_mbox_recover",
        "kipc_sigstate_next_delivery",
        "kipc_sigstate_raise",
    ] {
        assert!(defined.contains(core_level), "{core_level} missing");
    }
    let host_level = |s: &&String| {
        s.starts_with("kipc_ring_")
            || s.starts_with("kipc_signals_")
            || [
                "kipc_mbox_create",
                "kipc_mbox_open",
                "kipc_mbox_send",
                "kipc_mbox_recv",
            ]
            .contains(&s.as_str())
    };
    assert!(
        !defined.iter().any(|s| host_level(&s)),
        "host-level functions in the no_std build"
    );
    let external: Vec<&String> = undefined
        .difference(&defined)
        .filter(|s| !ALLOWED_UNDEFINED.contains(&s.as_str()))
        .collect();
    assert!(
        external.is_empty(),
        "the no_std staticlib needs symbols a freestanding program lacks: {external:?}"
    );
}

#[test]
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn bare_metal_example_links_and_runs_without_libc() {
    let lib = build_nostd_staticlib();
    let ffi = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = lib.with_file_name("bare_metal_spsc-freestanding");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .args([
            "-ffreestanding",
            "-fno-builtin",
            "-nostdlib",
            "-static",
            "-Wl,--gc-sections",
        ])
        .args([
            "-Wl,--no-undefined",
            "-DKIPC_FREESTANDING",
            "-DKIPC_NO_HOST",
            "-I",
        ])
        .arg(ffi.join("include"))
        .arg(ffi.join("examples/bare_metal_spsc.c"))
        .arg(&lib)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "freestanding link failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The program's exit status is the failing step, 0 for success.
    let status = Command::new(&exe)
        .status()
        .expect("run the freestanding program");
    assert_eq!(
        status.code(),
        Some(0),
        "bare_metal_spsc (freestanding) failed: {status}"
    );
}
