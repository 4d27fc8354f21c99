//! # kipc-host
//!
//! Binds [`kipc_core`] to real Linux kernel objects.
#![deny(missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]
