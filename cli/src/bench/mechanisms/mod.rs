//! Every mechanism the bench measures, one module per family:
//!
//! - [`floor`]: the hardware floor, and the bare `futex` ping-pong (both a
//!   single shared word);
//! - [`spsc`]: kipc's SPSC region ring, busy-polling and spin-then-futex;
//! - [`mpmc`]: kipc's MPMC region ring (spin-then-futex);
//! - [`mbox`]: kipc mailboxes, one each way (spin-then-futex);
//! - [`pipe`]: anonymous pipes and FIFOs;
//! - [`socket`]: Unix stream, datagram and seqpacket sockets, TCP and UDP
//!   on loopback;
//! - [`eventfd`]: an 8-byte counter each way;
//! - [`mq`]: POSIX message queues;
//! - [`signal`]: `sigqueue` + `sigtimedwait` with blocked real-time signals;
//! - [`spool`]: kipc's maildir-style spool, one directory each way in
//!   `/dev/shm` (a file per message);
//! - `iceoryx2`: iceoryx2 publish-subscribe (cargo feature `iceoryx2`, off
//!   by default; reported as not measured without it);
//! - [`sys`]: the only `libc` calls (what rustix lacks: `mq_*`, `sigqueue`,
//!   `sigtimedwait`, `pthread_sigmask`).
//!
//! Each module has a `parent` function (create what is shared, spawn the
//! peer, hand a [`Channel`](super::protocol::Channel) to the driver) and a
//! `child` function (the same from the peer's side).

use std::io;

use super::harness::{ChildCtx, ParentCtx};
use super::protocol::Channel;
use ring::Flavour;

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
pub mod sys;

/// The function a mechanism hands its channel to.
pub type Driver<'a> = &'a mut dyn FnMut(&mut dyn Channel) -> io::Result<()>;

/// A mechanism of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    /// Two processes bouncing one cache line: the yardstick.
    Floor,
    /// kipc SPSC region ring, busy-polling.
    SpscSpin,
    /// kipc SPSC region ring, spin then futex.
    SpscBlock,
    /// kipc MPMC region ring, spin then futex.
    Mpmc,
    /// kipc mailboxes, one each way.
    Mbox,
    /// iceoryx2 publish-subscribe.
    Iceoryx2,
    /// Bare futex wake/wait on a shared word.
    Futex,
    /// eventfd counter ping-pong.
    Eventfd,
    /// Anonymous pipes.
    Pipe,
    /// Named pipes.
    Fifo,
    /// `AF_UNIX`, `SOCK_STREAM`.
    UnixStream,
    /// `AF_UNIX`, `SOCK_DGRAM`.
    UnixDgram,
    /// `AF_UNIX`, `SOCK_SEQPACKET`.
    UnixSeqpacket,
    /// TCP on loopback, `TCP_NODELAY`.
    Tcp,
    /// UDP on loopback.
    Udp,
    /// POSIX message queues.
    PosixMq,
    /// `sigqueue` + `sigtimedwait`.
    Signal,
    /// kipc spool directories (a file per message), one each way.
    Spool,
}

impl Mech {
    /// Every mechanism, in table order.
    pub const ALL: [Mech; 18] = [
        Mech::Floor,
        Mech::SpscSpin,
        Mech::SpscBlock,
        Mech::Mpmc,
        Mech::Mbox,
        Mech::Iceoryx2,
        Mech::Futex,
        Mech::Eventfd,
        Mech::Pipe,
        Mech::Fifo,
        Mech::UnixStream,
        Mech::UnixDgram,
        Mech::UnixSeqpacket,
        Mech::Tcp,
        Mech::Udp,
        Mech::PosixMq,
        Mech::Signal,
        Mech::Spool,
    ];

    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Mech::Floor => "floor",
            Mech::SpscSpin => "kipc-spsc-spin",
            Mech::SpscBlock => "kipc-spsc-block",
            Mech::Mpmc => "kipc-mpmc",
            Mech::Mbox => "kipc-mbox",
            Mech::Iceoryx2 => "iceoryx2",
            Mech::Futex => "futex",
            Mech::Eventfd => "eventfd",
            Mech::Pipe => "pipe",
            Mech::Fifo => "fifo",
            Mech::UnixStream => "unix-stream",
            Mech::UnixDgram => "unix-dgram",
            Mech::UnixSeqpacket => "unix-seqpacket",
            Mech::Tcp => "tcp",
            Mech::Udp => "udp",
            Mech::PosixMq => "posix-mq",
            Mech::Signal => "signal",
            Mech::Spool => "spool",
        }
    }

    /// The mechanism called `name`.
    pub fn from_name(name: &str) -> Option<Mech> {
        Mech::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether this build can run it, and if not, why.
    pub fn available(self) -> Result<(), &'static str> {
        match self {
            Mech::Iceoryx2 if !cfg!(feature = "iceoryx2") => {
                Err("built without the cargo feature iceoryx2 (add --features iceoryx2)")
            }
            _ => Ok(()),
        }
    }

    /// The size this mechanism really moves when it cannot carry an
    /// arbitrary payload (a word, a counter, a signal value).
    pub fn fixed_size(self) -> Option<usize> {
        match self {
            Mech::Floor | Mech::Futex | Mech::Signal => Some(4),
            Mech::Eventfd => Some(8),
            _ => None,
        }
    }

    /// Whether one-way streaming throughput is measured (a ping-pong-only
    /// primitive has no queue to stream through).
    pub fn streams(self) -> bool {
        !matches!(self, Mech::Futex | Mech::Eventfd | Mech::Signal)
    }

    /// Whether the run includes the idle check (a receiver left waiting with
    /// nothing to receive; its CPU use is reported): the spin-then-futex
    /// kipc transports, whose waiting must really sleep.
    pub fn idle_check(self) -> bool {
        matches!(self, Mech::SpscBlock | Mech::Mpmc | Mech::Mbox)
    }

    /// A shorter time budget for mechanisms too slow to fill the default
    /// one usefully.
    pub fn max_duration(self) -> Option<std::time::Duration> {
        match self {
            Mech::Spool => Some(std::time::Duration::from_secs(1)),
            _ => None,
        }
    }

    /// Size of the `ACK` message: the message size, raised to carry a count
    /// and a time where the mechanism moves bytes.
    pub fn ack_len(self, size: usize) -> usize {
        match self.fixed_size() {
            Some(s) => s,
            None => size.max(super::protocol::ACK_FULL),
        }
    }
}

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

#[cfg_attr(feature = "iceoryx2", allow(dead_code))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for m in Mech::ALL {
            assert_eq!(Mech::from_name(m.name()), Some(m));
        }
        let mut names: Vec<_> = Mech::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Mech::ALL.len());
        assert_eq!(Mech::from_name("Floor"), None);
    }

    #[test]
    fn ack_has_room_for_count_and_time_on_byte_channels() {
        assert_eq!(Mech::Pipe.ack_len(8), 24);
        assert_eq!(Mech::Pipe.ack_len(64), 64);
        assert_eq!(Mech::Eventfd.ack_len(64), 8);
    }
}
