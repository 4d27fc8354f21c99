//! Fuzz target bodies for kipc, as plain functions so corpora replay on stable.
//!
//! Each target is a `fn(&[u8])` that panics when it finds a bug: either a
//! disagreement between kipc and a simple model of the same structure, or a
//! crash. [`TARGETS`] lists them all; `tests/corpus.rs` replays every file
//! under `corpus/<target>/` through its body on stable (CI), and the
//! cargo-fuzz wrappers in `fuzz_targets/` drive the same bodies with libFuzzer:
//!
//! ```text
//! cargo install cargo-fuzz
//! cargo +nightly fuzz run --fuzz-dir fuzz --features libfuzzer <target>
//! ```
#![deny(missing_docs)]

pub mod input;

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// Every fuzz target: its name (the corpus folder and the cargo-fuzz binary)
/// and its body.
pub const TARGETS: &[(&str, Target)] = &[];
