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
pub mod mailbox_model;
pub mod mailbox_target;
pub mod mpmc_region;
pub mod mpmc_typed;
pub mod region_garbage;
pub mod rpc_frame;
pub mod signal_model;
pub mod signal_target;
pub mod spsc_region;
pub mod spsc_typed;
pub mod support;

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// Every fuzz target: its name (the corpus folder and the cargo-fuzz binary)
/// and its body.
pub const TARGETS: &[(&str, Target)] = &[
    ("signal_ops", signal_target::signal_ops),
    ("mailbox_ops", mailbox_target::mailbox_ops),
    ("mailbox_garbage", mailbox_target::mailbox_garbage),
    ("spsc_typed", spsc_typed::spsc_typed),
    ("spsc_region", spsc_region::spsc_region),
    ("mpmc_typed", mpmc_typed::mpmc_typed),
    ("mpmc_region", mpmc_region::mpmc_region),
    ("region_garbage", region_garbage::region_garbage),
    ("rpc_frame", rpc_frame::rpc_frame),
];
