//! loom models of kipc-core's concurrent protocols live in `tests/`; they only
//! build with `RUSTFLAGS="--cfg kipc_loom"`.
