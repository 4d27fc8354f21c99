//! The checked-in `include/kipc.h` must be what cbindgen generates from the
//! current source. Regenerate it with
//!
//! ```text
//! KIPC_BLESS=1 cargo test -p kipc-ffi --test header
//! ```

use std::path::Path;

fn generate() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen failed to generate the header")
        .write(&mut out);
    String::from_utf8(out).expect("cbindgen wrote UTF-8")
}

#[test]
fn checked_in_header_matches_cbindgen_output() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/kipc.h");
    let fresh = generate();
    if std::env::var_os("KIPC_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write include/kipc.h");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != fresh {
        let first = current
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "at the end".to_owned(), |n| format!("at line {}", n + 1));
        panic!(
            "ffi/include/kipc.h is out of date (first difference {first}).\n\
             Regenerate it with:\n    KIPC_BLESS=1 cargo test -p kipc-ffi --test header\n\
             and commit the result."
        );
    }
}
