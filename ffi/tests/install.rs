//! `ffi/install.sh` into a temporary prefix, then a C program built with
//! `cc $(pkg-config --cflags --libs kipc)` (shared library) and with
//! `kipc-static` (static library), run and checked; the shared library is
//! installed under its soname (checked with readelf where installed), and
//! the program runs against it. The program is
//! `examples/hello_kipc.c`, which `ffi/README.md` shows verbatim (checked
//! here too). Skipped with a note when pkg-config is not installed.
#![cfg(feature = "host")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn ffi_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`, where cargo put the staticlib and cdylib.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(2)
        .expect("target/<profile>")
        .to_path_buf()
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `readelf -d FILE` (the dynamic section), or `None` when readelf is not
/// installed.
fn readelf_dynamic(file: &Path) -> Option<String> {
    let out = Command::new("readelf").arg("-d").arg(file).output().ok()?;
    if !out.status.success() {
        eprintln!(
            "note: readelf -d {} failed; not checking sonames",
            file.display()
        );
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn readme_shows_the_hello_example_verbatim() {
    let readme = std::fs::read_to_string(ffi_dir().join("README.md")).unwrap();
    let hello = std::fs::read_to_string(ffi_dir().join("examples/hello_kipc.c")).unwrap();
    assert!(
        readme.contains(&hello),
        "README.md and examples/hello_kipc.c differ"
    );
    assert!(
        hello.lines().count() < 20,
        "the README example must stay under 20 lines"
    );
}

#[test]
fn installed_library_works_through_pkg_config() {
    if !Command::new("pkg-config")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("note: pkg-config not found; skipping (.ci/run should install it)");
        return;
    }
    let prefix = profile_dir().join(format!("kipc-install-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    output(
        Command::new("sh")
            .arg(ffi_dir().join("install.sh"))
            .arg(&prefix)
            .arg(profile_dir()),
    );
    let pc_path = prefix.join("lib/pkgconfig");
    let soname = env!("KIPC_SONAME");
    let real = format!("libkipc.so.{}", env!("CARGO_PKG_VERSION"));
    for f in ["lib/libkipc.a", &format!("lib/{real}"), "include/kipc.h"] {
        assert!(prefix.join(f).is_file(), "{f} not installed");
    }
    // libkipc.so -> SONAME -> libkipc.so.X.Y.Z, as ldconfig would make them.
    let lib = prefix.join("lib");
    assert_eq!(
        std::fs::read_link(lib.join(soname)).unwrap(),
        Path::new(&real)
    );
    assert_eq!(
        std::fs::read_link(lib.join("libkipc.so")).unwrap(),
        Path::new(soname)
    );
    let readelf = readelf_dynamic(&lib.join(&real));
    if let Some(dynamic) = &readelf {
        assert!(
            dynamic.contains(&format!("Library soname: [{soname}]")),
            "{dynamic}"
        );
    }
    let version = output(
        Command::new("pkg-config")
            .env("PKG_CONFIG_PATH", &pc_path)
            .args(["--modversion", "kipc"]),
    );
    assert_eq!(version.trim(), env!("CARGO_PKG_VERSION"));
    // Leftover from an interrupted run.
    let _ = kipc_host::mailbox::Mailbox::unlink("hello-kipc");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    for pc in ["kipc", "kipc-static"] {
        let flags = output(
            Command::new("pkg-config")
                .env("PKG_CONFIG_PATH", &pc_path)
                .args(["--cflags", "--libs", pc]),
        );
        let exe = prefix.join(format!("hello-{pc}"));
        output(
            Command::new(&cc)
                .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
                .arg(ffi_dir().join("examples/hello_kipc.c"))
                .args(flags.split_whitespace())
                .arg("-o")
                .arg(&exe),
        );
        let out = output(Command::new(&exe).env("LD_LIBRARY_PATH", prefix.join("lib")));
        assert_eq!(out, "prio 9: first\nprio 1: later\n", "{pc}");
        // The shared build asks the loader for the soname (and ran above, so
        // the loader found it); the static one needs no kipc library at all.
        if readelf.is_some() {
            let needed = readelf_dynamic(&exe).unwrap_or_default();
            let wants = needed.contains(&format!("Shared library: [{soname}]"));
            assert_eq!(wants, pc == "kipc", "{pc}: {needed}");
        }
    }
    let _ = std::fs::remove_dir_all(&prefix);
}
