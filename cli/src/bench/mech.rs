//! The mechanisms of the table, as plain names and properties: which ones
//! exist, what each is called, what it can carry and which checks its run
//! includes.
//!
//! Both the [`harness`](super::harness) (which passes the mechanism's name
//! to the peer process) and the [`mechanisms`](super::mechanisms) (which
//! implement each one) use this module; it imports neither, so the
//! dependency points one way: `mechanisms` -> `harness` -> `mech`.

/// A mechanism of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    /// Two processes bouncing one cache line: the yardstick.
    Floor,
    /// kipc SPSC region ring, busy-polling.
    SpscSpin,
    /// kipc SPSC region ring, spin then futex.
    SpscBlock,
    /// kipc SPSC region ring through the tokio endpoints: spin, then wait
    /// in tokio's reactor on the wake descriptor.
    SpscAsync,
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
    /// `AF_UNIX`, `SOCK_STREAM`, as tokio's `UnixStream`.
    TokioUnixStream,
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
    pub const ALL: [Mech; 20] = [
        Mech::Floor,
        Mech::SpscSpin,
        Mech::SpscBlock,
        Mech::SpscAsync,
        Mech::Mpmc,
        Mech::Mbox,
        Mech::Iceoryx2,
        Mech::Futex,
        Mech::Eventfd,
        Mech::Pipe,
        Mech::Fifo,
        Mech::UnixStream,
        Mech::TokioUnixStream,
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
            Mech::SpscAsync => "kipc-spsc-async",
            Mech::Mpmc => "kipc-mpmc",
            Mech::Mbox => "kipc-mbox",
            Mech::Iceoryx2 => "iceoryx2",
            Mech::Futex => "futex",
            Mech::Eventfd => "eventfd",
            Mech::Pipe => "pipe",
            Mech::Fifo => "fifo",
            Mech::UnixStream => "unix-stream",
            Mech::TokioUnixStream => "tokio-unix-stream",
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
            Mech::SpscAsync | Mech::TokioUnixStream if !cfg!(feature = "tokio") => {
                Err("built without the cargo feature tokio (on by default)")
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
    /// kipc transports, whose waiting must really sleep, and the async one.
    pub fn idle_check(self) -> bool {
        matches!(
            self,
            Mech::SpscBlock | Mech::SpscAsync | Mech::Mpmc | Mech::Mbox
        )
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
