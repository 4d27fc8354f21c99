//! # kipc-host
//!
//! Binds [`kipc_core`] to real Linux kernel objects.
//!
//! - [`shm`]: POSIX named shared-memory segments (`/dev/shm/kipc.NAME`);
//! - [`memfd`]: anonymous, sealed shared-memory segments passed as descriptors;
//! - [`sysv`]: System V shared memory, for interop with C programs using
//!   `ftok`/`shmget`/`shmat`;
//! - [`mapping`]: the owned shared mapping every segment hands out;
//! - [`ring`]: SPSC and MPMC rings in shared memory between processes
//!   ([`ring::ShmRing`]), with blocking waits and peer liveness;
//! - [`mailbox`]: message queues with priorities and type selection in
//!   shared memory, and the inbox/outbox address scheme;
//! - `typed` (feature `typed`, on by default): `send_value`/`recv_value` of
//!   plain-old-data types over rings and mailboxes, with the message type
//!   recorded in the header and checked at open;
//! - [`rpc`]: procedure calls over mailboxes (or any [`rpc::Transport`]);
//! - [`futex`]: sleeping on a core doorbell word, and the spin-then-sleep wait;
//! - [`mq`]: POSIX message queues (`mq_open`), created `0600`, with timeouts;
//! - [`signals`]: real signals received through a lock-free inbox, masks, `kill`/`sigqueue`;
//! - [`liveness`]: telling whether a peer process is still alive;
//! - [`pipe`], [`fifo`], [`pipeline`]: anonymous pipes (splice/tee), named
//!   pipes opened with a timeout, and `a | b | c` command chains;
//! - [`eventfd`]: a pollable counter/semaphore for notifications;
//! - [`spool`]: a maildir-style spool directory, each message taken once;
//! - [`lock`]: flock and OFD advisory locks with timeouts, pid lock files;
//! - [`name`]: validation of kipc object names;
//! - `tokio` (the `tokio` cargo feature): async ring, mailbox and signal
//!   endpoints over tokio's reactor, with `Stream` and `Sink`;
//! - [`error`]: the crate's [`Error`].
//!
//! System calls go through `rustix`; the few it lacks (System V shared memory,
//! `ftok`, POSIX message queues, `sigaction`, `sigqueue`, ...) are made with
//! `libc` in one private module, `sys`.
//!
//! # Examples
//!
//! A named ring between two handles (in practice, two processes: the second
//! would call [`ShmRing::open`] by the same name):
//!
//! ```
//! use kipc_host::ring::{RingConfig, ShmRing};
//!
//! let name = format!("doc-crate-{}", std::process::id());
//! let ring = ShmRing::create(&name, RingConfig::spsc(16, 64))?;
//! let peer = ShmRing::open(&name)?;
//! let (mut tx, mut rx) = (ring.sender()?, peer.receiver()?);
//! tx.send(b"hello")?;
//! let mut buf = [0u8; 64];
//! let n = rx.recv(&mut buf)?;
//! assert_eq!(&buf[..n], b"hello");
//! ShmRing::unlink(&name)?;
//! # Ok::<(), kipc_host::Error>(())
//! ```
//!
//! With the `typed` feature (on by default), `create_typed::<T>` records a
//! plain-old-data message type in the header, `open_typed::<T>` checks it,
//! and `send_value`/`recv_value` move `T`s (see the `typed` module).
#![deny(
    unsafe_code,
    unsafe_op_in_unsafe_fn,
    missing_docs,
    missing_debug_implementations
)]
#![deny(clippy::undocumented_unsafe_blocks)]
// Library code handles every error; tests may unwrap (clippy.toml allows it
// in `#[cfg(test)]` code).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod barrier;
pub mod endpoint;
pub mod error;
pub mod eventfd;
pub mod fifo;
pub mod futex;
pub mod liveness;
pub mod lock;
pub mod mailbox;
pub mod mapping;
pub mod memfd;
pub mod mq;
pub mod name;
pub mod pipe;
pub mod pipeline;
pub mod ring;
pub mod rpc;
mod segment;
pub mod shm;
pub mod signals;
pub mod socket;
pub mod spool;
mod sys;
pub mod sysv;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "typed")]
pub mod typed;
pub mod wake;

pub use error::{Error, Result};
pub use ring::{Receiver, RingConfig, RingInfo, RingKind, Sender, ShmRing};
