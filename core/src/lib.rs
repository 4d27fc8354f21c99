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
//!
//! # Examples
//!
//! An SPSC ring in a `static`, one thread producing and one consuming:
//!
//! ```
//! use kipc_core::spsc::Ring;
//!
//! static RING: Ring<u32, 8> = Ring::new();
//!
//! let (mut tx, mut rx) = RING.try_split().unwrap(); // once per ring
//! let producer = std::thread::spawn(move || {
//!     for i in 0..100 {
//!         while tx.push(i).is_err() {
//!             std::hint::spin_loop(); // full: the consumer catches up
//!         }
//!     }
//! });
//! let mut next = 0;
//! while next < 100 {
//!     if let Some(v) = rx.pop() {
//!         assert_eq!(v, next); // in order, none lost
//!         next += 1;
//!     }
//! }
//! producer.join().unwrap();
//! assert!(RING.try_split().is_none());
//! ```
//!
//! The region form of the same ring over bytes you own (what a shared
//! mapping or a kernel page would be), with a byte message and the
//! [`region::TypeTag`] a typed creator records:
//!
//! ```
//! use kipc_core::{region::TypeTag, spsc::{region_size, Region}};
//!
//! #[repr(C, align(128))]
//! struct Mem([u8; 2048]);
//! let mut mem = Mem([0; 2048]);
//! assert!(region_size(4, 64).unwrap() <= 2048);
//! // SAFETY: `mem` is aligned, 2048 bytes, outlives the region and is used
//! // only through it.
//! let region = unsafe { Region::init(mem.0.as_mut_ptr(), 2048, 4, 64) }.unwrap();
//! assert_eq!(region.type_tag(), TypeTag::UNTYPED);
//! let mut tx = region.producer(1).unwrap(); // owner ids, e.g. pids
//! let mut rx = region.consumer(2).unwrap();
//! tx.try_send(b"hello").unwrap();
//! let mut buf = [0u8; 64];
//! let n = rx.try_recv(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"hello");
//! ```
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
