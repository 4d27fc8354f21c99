//! Every mechanism the bench measures, one module per family:
//!
//! - [`floor`]: the hardware floor, and the bare `futex` ping-pong (both a
//!   single shared word);
//! - [`ring`]: kipc's `ShmRing` (SPSC busy-polling and spin-then-futex, MPMC
//!   spin-then-futex) through its public `Sender`/`Receiver`;
//! - [`mbox`]: kipc mailboxes, one each way (spin-then-futex);
//! - [`pipe`]: anonymous pipes and FIFOs;
//! - [`socket`]: Unix stream, datagram and seqpacket sockets, TCP and UDP
//!   on loopback;
//! - [`eventfd`]: an 8-byte counter each way;
//! - [`mq`]: POSIX message queues;
//! - [`signal`]: `sigqueue` + `sigtimedwait` with blocked real-time signals;
//! - [`spool`]: kipc's maildir-style spool, one directory each way in
//!   `/dev/shm` (a file per message);
//! - `async_tokio`: `kipc-spsc-async` (kipc-host's tokio endpoints) and
//!   `tokio-unix-stream` (cargo feature `tokio`, on by default);
//! - `iceoryx2`: iceoryx2 publish-subscribe (cargo feature `iceoryx2`, off
//!   by default; reported as not measured without it);
//!
//! Each module has a `parent` function (create what is shared, spawn the
//! peer, hand a [`Channel`] to the driver) and a
//! `child` function (the same from the peer's side).

use std::io;

use super::harness::{ChildCtx, ParentCtx};
pub use super::mech::Mech;
use super::protocol::Channel;
use ring::Flavour;

#[cfg(feature = "tokio")]
pub mod async_tokio;
pub mod eventfd;
pub mod floor;
#[cfg(feature = "iceoryx2")]
pub mod iceoryx2;
pub mod mbox;
pub mod mq;
pub mod pipe;
pub mod ring;
pub mod signal;
pub mod socket;
pub mod spool;

/// The function a mechanism hands its channel to.
pub type Driver<'a> = &'a mut dyn FnMut(&mut dyn Channel) -> io::Result<()>;

/// Runs the parent side of `ctx.mech`.
///
/// # Errors
///
/// Setting up the mechanism, starting the peer, or whatever `drive` returns.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    match ctx.mech {
        Mech::Floor => floor::parent(ctx, drive, floor::Wait::Spin),
        Mech::Futex => floor::parent(ctx, drive, floor::Wait::Futex),
        Mech::SpscSpin => ring::parent(ctx, drive, Flavour::SpscSpin),
        Mech::SpscBlock => ring::parent(ctx, drive, Flavour::SpscBlock),
        #[cfg(feature = "tokio")]
        Mech::SpscAsync => async_tokio::parent_ring(ctx, drive),
        #[cfg(feature = "tokio")]
        Mech::TokioUnixStream => async_tokio::parent_stream(ctx, drive),
        #[cfg(not(feature = "tokio"))]
        Mech::SpscAsync | Mech::TokioUnixStream => Err(unavailable(ctx.mech)),
        Mech::Mpmc => ring::parent(ctx, drive, Flavour::Mpmc),
        Mech::Mbox => mbox::parent(ctx, drive),
        Mech::Eventfd => eventfd::parent(ctx, drive),
        Mech::Pipe => pipe::parent_pipe(ctx, drive),
        Mech::Fifo => pipe::parent_fifo(ctx, drive),
        Mech::UnixStream | Mech::UnixDgram | Mech::UnixSeqpacket => socket::parent_unix(ctx, drive),
        Mech::Tcp => socket::parent_tcp(ctx, drive),
        Mech::Udp => socket::parent_udp(ctx, drive),
        Mech::PosixMq => mq::parent(ctx, drive),
        Mech::Signal => signal::parent(ctx, drive),
        Mech::Spool => spool::parent(ctx, drive),
        #[cfg(feature = "iceoryx2")]
        Mech::Iceoryx2 => iceoryx2::parent(ctx, drive),
        #[cfg(not(feature = "iceoryx2"))]
        Mech::Iceoryx2 => Err(unavailable(ctx.mech)),
    }
}

/// Runs the peer side of `mech`.
///
/// # Errors
///
/// As [`parent`].
pub fn child(mech: Mech, ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    match mech {
        Mech::Floor => floor::child(ctx, drive, floor::Wait::Spin),
        Mech::Futex => floor::child(ctx, drive, floor::Wait::Futex),
        Mech::SpscSpin => ring::child(ctx, drive, Flavour::SpscSpin),
        Mech::SpscBlock => ring::child(ctx, drive, Flavour::SpscBlock),
        #[cfg(feature = "tokio")]
        Mech::SpscAsync => async_tokio::child_ring(ctx, drive),
        #[cfg(feature = "tokio")]
        Mech::TokioUnixStream => async_tokio::child_stream(ctx, drive),
        #[cfg(not(feature = "tokio"))]
        Mech::SpscAsync | Mech::TokioUnixStream => Err(unavailable(mech)),
        Mech::Mpmc => ring::child(ctx, drive, Flavour::Mpmc),
        Mech::Mbox => mbox::child(ctx, drive),
        Mech::Eventfd => eventfd::child(ctx, drive),
        Mech::Pipe => pipe::child_pipe(ctx, drive),
        Mech::Fifo => pipe::child_fifo(ctx, drive),
        Mech::UnixStream => socket::child_unix(ctx, drive, socket::Unix::Stream),
        Mech::UnixDgram => socket::child_unix(ctx, drive, socket::Unix::Dgram),
        Mech::UnixSeqpacket => socket::child_unix(ctx, drive, socket::Unix::Seqpacket),
        Mech::Tcp => socket::child_tcp(ctx, drive),
        Mech::Udp => socket::child_udp(ctx, drive),
        Mech::PosixMq => mq::child(ctx, drive),
        Mech::Signal => signal::child(ctx, drive),
        Mech::Spool => spool::child(ctx, drive),
        #[cfg(feature = "iceoryx2")]
        Mech::Iceoryx2 => iceoryx2::child(ctx, drive),
        #[cfg(not(feature = "iceoryx2"))]
        Mech::Iceoryx2 => Err(unavailable(mech)),
    }
}

#[cfg_attr(all(feature = "iceoryx2", feature = "tokio"), allow(dead_code))]
fn unavailable(m: Mech) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "{} is not available: {}",
            m.name(),
            m.available().err().unwrap_or("?")
        ),
    )
}

/// An `io::Error` from anything printable (kipc errors, mostly).
pub fn other(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// A byte-stream channel: messages are `size` bytes back to back.
#[derive(Debug)]
pub struct StreamChannel<R, W> {
    /// Where we read.
    pub rd: R,
    /// Where we write.
    pub wr: W,
}

impl<R: io::Read, W: io::Write> Channel for StreamChannel<R, W> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.wr.write_all(msg)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.rd.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                io::Error::new(io::ErrorKind::BrokenPipe, "peer closed its end")
            }
            _ => e,
        })?;
        Ok(buf.len())
    }
}
