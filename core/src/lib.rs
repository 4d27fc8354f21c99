//! # kipc-core
//!
//! Kernel-style IPC building blocks that need no operating system and no heap:
//! lock-free rings, mailboxes and a POSIX signal state machine, all working on
//! memory the caller provides (a `static`, a kernel page, a mapping shared
//! between processes).
//!
//! - [`spsc`]: a bounded single-producer single-consumer ring;
//! - [`mpmc`]: a bounded multi-producer multi-consumer ring;
//! - [`mailbox`]: a message queue with priorities and SysV-style type
//!   selection, many senders and receivers, recoverable after a crash;
//! - [`doorbell`]: the 32-bit words and the protocol a host uses to sleep
//!   until a queue changes, without lost wake-ups;
//! - [`region`]: what all shared-memory layouts have in common;
//! - [`signal`]: POSIX signal state (masks, pending sets, dispositions, queued
//!   real-time signals) as a state machine.
//!
//! Every queue comes in two forms sharing one algorithm: a typed in-process
//! form (`Ring<T, N>`, usable as a `static`) and a *region form* laid over raw
//! bytes, which is what `kipc-host` maps into shared memory. The region form
//! treats the peer as untrusted: every index and length it reads is checked,
//! and a violation is an [`Error`], never undefined behaviour, a panic or a hang.
//!
//! All atomics come from [`sync`], which is loom's under `--cfg kipc_loom`; the
//! models in `loom-tests/` check this crate's real code.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]
// Library code handles every error; tests may unwrap (clippy.toml allows it
// in `#[cfg(test)]` code).
#![deny(clippy::unwrap_used, clippy::expect_used)]
// The unit tests sit in `#[cfg(all(test, not(kipc_loom)))]` modules, which
// clippy's allow-unwrap-in-tests does not recognise as test code.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

#[cfg(test)]
extern crate std;

pub mod doorbell;
mod error;
#[cfg(target_has_atomic = "64")]
pub mod mailbox;
pub mod mpmc;
pub mod queue;
pub mod region;
pub mod signal;
pub mod spsc;
pub mod sync;
#[cfg(all(test, not(kipc_loom)))]
mod test_util;

pub use error::Error;
