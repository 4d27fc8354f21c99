//! Compiles the C examples and C tests with
//! `cc -std=c11 -Wall -Wextra -Werror -pedantic -I ffi/include`, links each
//! against the staticlib and against the cdylib that `cargo test` built for
//! this crate, runs them and checks their output; then runs them again under
//! valgrind memcheck when valgrind is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>`: this test binary lives in `target/<profile>/deps`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary is in target/<profile>/deps")
        .to_path_buf()
}

fn ffi_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// How to link: against `libkipc_ffi.a` or `libkipc_ffi.so`.
#[derive(Clone, Copy, Debug)]
enum Link {
    Static,
    Dynamic,
}

/// Compiles `source` (relative to `ffi/`) and returns the executable.
fn compile(source: &str, link: Link) -> PathBuf {
    let lib_dir = profile_dir();
    let stem = Path::new(source).file_stem().unwrap().to_str().unwrap();
    let out_dir = lib_dir.join("kipc-ffi-c");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(format!("{stem}-{link:?}").to_lowercase());
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(&cc);
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .arg("-I")
        .arg(ffi_dir().join("include"))
        .arg(ffi_dir().join(source))
        .arg("-o")
        .arg(&exe);
    match link {
        Link::Static => {
            let lib = lib_dir.join("libkipc_ffi.a");
            assert!(
                lib.exists(),
                "{} not built (crate-type staticlib)",
                lib.display()
            );
            // What a Rust std staticlib needs from the system on Linux
            // (`rustc --print native-static-libs`).
            cmd.arg(lib).args([
                "-lgcc_s",
                "-lutil",
                "-lrt",
                "-lpthread",
                "-lm",
                "-ldl",
                "-lc",
            ]);
        }
        Link::Dynamic => {
            assert!(lib_dir.join("libkipc_ffi.so").exists(), "cdylib not built");
            cmd.arg("-L")
                .arg(&lib_dir)
                .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
                .arg("-lkipc_ffi");
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(
        out.status.success(),
        "compiling {source} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Runs `exe` and returns its stdout; fails the test on a nonzero exit.
fn run(exe: &Path, wrapper: &[&str]) -> String {
    let mut cmd = match wrapper.split_first() {
        Some((tool, args)) => {
            let mut c = Command::new(tool);
            c.args(args).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    let out = cmd.output().expect("run C program");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} {wrapper:?} exited with {}:\n{stdout}\n{}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn valgrind_available() -> bool {
    let ok = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: valgrind not found; skipping the memcheck runs");
    }
    ok
}

const MEMCHECK: &[&str] = &[
    "valgrind",
    "--quiet",
    "--error-exitcode=1",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite,indirect",
];

/// Builds `source` both ways, runs it (and under memcheck), and checks that
/// stdout contains `expect`.
fn check_program(source: &str, expect: &str) {
    let memcheck = valgrind_available();
    for link in [Link::Static, Link::Dynamic] {
        let exe = compile(source, link);
        let out = run(&exe, &[]);
        assert!(out.contains(expect), "{source} ({link:?}) printed:\n{out}");
        if memcheck {
            let out = run(&exe, MEMCHECK);
            assert!(
                out.contains(expect),
                "{source} ({link:?}, memcheck) printed:\n{out}"
            );
        }
    }
}

#[test]
fn bare_metal_spsc_example_moves_every_message_in_order() {
    check_program(
        "examples/bare_metal_spsc.c",
        "bare_metal_spsc: 1000 messages through 8 slots: ok",
    );
}

#[test]
fn abuse_test_gets_an_error_code_for_every_bad_argument() {
    check_program("tests/c/abuse.c", "abuse: all ");
}

#[test]
fn c_producer_and_c_consumer_talk_over_a_named_ring() {
    use std::process::Stdio;
    let name = format!("ffi-c-test-{}", std::process::id());
    let producer = compile("examples/ring_producer.c", Link::Static);
    let consumer = compile("examples/ring_consumer.c", Link::Dynamic);
    // The producer creates the ring and blocks once its 8 slots are full;
    // the consumer retries its open until the ring exists.
    let tx = Command::new(&producer)
        .args([name.as_str(), "500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ring_producer");
    let rx = Command::new(&consumer)
        .arg(&name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ring_consumer");
    let (tx, rx) = (
        tx.wait_with_output().unwrap(),
        rx.wait_with_output().unwrap(),
    );
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(tx.status.success(), "producer: {}", text(&tx));
    assert!(rx.status.success(), "consumer: {}", text(&rx));
    assert!(
        text(&tx).contains("ring_producer: sent 500 messages"),
        "{}",
        text(&tx)
    );
    assert!(
        text(&rx).contains("ring_consumer: received 500 messages in order"),
        "{}",
        text(&rx)
    );
}
