//! Replays every checked-in corpus file through its target body, so CI runs
//! the fuzzers' findings on stable without libFuzzer.

use std::fs;
use std::path::Path;

fn corpus_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus"))
}

#[test]
fn every_corpus_file_replays_without_a_finding() {
    let mut replayed = 0usize;
    for (name, body) in kipc_fuzz::TARGETS {
        let dir = corpus_root().join(name);
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus for target {name} at {}: {e}", dir.display()))
            .map(|e| e.expect("corpus dir entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "target {name} has an empty seed corpus");
        for file in files {
            let data = fs::read(&file).expect("readable corpus file");
            // A panic here names the file through the message below.
            let result = std::panic::catch_unwind(|| body(&data));
            assert!(result.is_ok(), "target {name} fails on {}", file.display());
            replayed += 1;
        }
    }
    assert!(replayed > 0 || kipc_fuzz::TARGETS.is_empty());
}

#[test]
fn every_corpus_folder_belongs_to_a_target() {
    let Ok(entries) = fs::read_dir(corpus_root()) else {
        return;
    };
    for entry in entries {
        let name = entry.expect("corpus entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            kipc_fuzz::TARGETS.iter().any(|(t, _)| *t == name),
            "corpus/{name} has no target in kipc_fuzz::TARGETS"
        );
    }
}

#[test]
fn every_target_has_a_cargo_fuzz_wrapper() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz_targets"));
    for (name, _) in kipc_fuzz::TARGETS {
        let wrapper = dir.join(format!("{name}.rs"));
        assert!(wrapper.exists(), "missing {}", wrapper.display());
        let manifest = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .expect("fuzz/Cargo.toml");
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] for {name}"
        );
    }
}
