//! `kipc-spsc-spin`, `kipc-spsc-block` and `kipc-mpmc`: two
//! [`kipc_host::ring::ShmRing`]s (one each way), each an anonymous sealed
//! memfd the peer receives, used through the same public calls a user makes.
//!
//! - spin: busy-poll [`Sender::try_send`]/[`Receiver::try_recv`] (a pause
//!   hint per turn, the peer checked every 16,384 turns);
//! - block: [`Sender::send`]/[`Receiver::recv`]: spin 256 turns (yielding
//!   every 32), then sleep on the ring's doorbell with a shared futex; each
//!   side wakes the other only when it announced that it sleeps.
//!
//! `kipc-mpmc` is the blocking form over an MPMC ring of one lane.

use std::io;

use kipc_host::ring::{Receiver, RingConfig, Sender, ShmRing};
use kipc_host::Error;

use super::{other, Driver};
use crate::bench::harness::{ChildCtx, ParentCtx, Peer, Spin};
use crate::bench::protocol::Channel;

/// Most bytes of slots per ring, so large messages get fewer slots.
const RING_BUDGET: usize = 8 << 20;

/// Slots per ring for messages of `slot_size` bytes: a power of two in
/// `2..=256`.
pub fn slots_for(slot_size: usize) -> u32 {
    let fit = (RING_BUDGET / (slot_size + 8)).clamp(2, 256);
    1 << (usize::BITS - 1 - fit.leading_zeros())
}

/// Which ring and which wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// SPSC, busy-polling.
    SpscSpin,
    /// SPSC, spin then futex.
    SpscBlock,
    /// MPMC (one lane), spin then futex.
    Mpmc,
}

impl Flavour {
    fn config(self, slots: u32, slot_size: u32) -> RingConfig {
        match self {
            Flavour::SpscSpin | Flavour::SpscBlock => RingConfig::spsc(slots, slot_size),
            Flavour::Mpmc => RingConfig::mpmc(1, slots, slot_size),
        }
    }
}

/// A [`Channel`] over a pair of rings.
struct RingChannel<'a> {
    tx: Sender,
    rx: Receiver,
    blocking: bool,
    peer: &'a Peer,
}

impl Channel for RingChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        if self.blocking {
            return self.tx.send(msg).map_err(|e| self.failed("ring send", e));
        }
        let mut spin = Spin::new(self.peer);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(Error::Full) => spin.tick()?,
                Err(e) => return Err(self.failed("ring send", e)),
            }
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.blocking {
            return self
                .rx
                .recv(buf)
                .map_err(|e| self.failed("ring receive", e));
        }
        let mut spin = Spin::new(self.peer);
        loop {
            match self.rx.try_recv(buf) {
                Ok(n) => return Ok(n),
                Err(Error::Empty) => spin.tick()?,
                Err(e) => return Err(self.failed("ring receive", e)),
            }
        }
    }
}

impl RingChannel<'_> {
    /// A dead peer is reported as the harness reports it everywhere.
    fn failed(&self, what: &str, e: Error) -> io::Error {
        match e {
            Error::PeerDead => self.peer.dead_error(),
            e => other(what, e),
        }
    }
}

fn config(flavour: Flavour, size: usize) -> io::Result<RingConfig> {
    let slot_size = u32::try_from(size).map_err(|_| other("ring", "message too large"))?;
    Ok(flavour.config(slots_for(size), slot_size))
}

/// Parent side: creates both rings and hands them to the peer.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>, flavour: Flavour) -> io::Result<()> {
    let config = config(flavour, ctx.mech.ack_len(ctx.size))?;
    let out = ShmRing::create_anonymous(config).map_err(|e| other("ring", e))?;
    let inc = ShmRing::create_anonymous(config).map_err(|e| other("ring", e))?;
    let peer = ctx.spawn(&[out.fd(), inc.fd()], &[])?;
    let mut ch = RingChannel {
        tx: out.sender().map_err(|e| other("ring sender", e))?,
        rx: inc.receiver().map_err(|e| other("ring receiver", e))?,
        blocking: flavour != Flavour::SpscSpin,
        peer: &peer,
    };
    drive(&mut ch)
}

/// Peer side.
pub fn child(mut ctx: ChildCtx, drive: Driver<'_>, flavour: Flavour) -> io::Result<()> {
    let inc = ShmRing::from_fd(ctx.take_fd(0)?).map_err(|e| other("ring", e))?;
    let out = ShmRing::from_fd(ctx.take_fd(1)?).map_err(|e| other("ring", e))?;
    let mut ch = RingChannel {
        tx: out.sender().map_err(|e| other("ring sender", e))?,
        rx: inc.receiver().map_err(|e| other("ring receiver", e))?,
        blocking: flavour != Flavour::SpscSpin,
        peer: &ctx.peer,
    };
    drive(&mut ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_counts_are_powers_of_two_within_budget() {
        assert_eq!(slots_for(64), 256);
        assert_eq!(slots_for(1 << 20), 4);
        assert_eq!(slots_for(RING_BUDGET), 2);
        for s in [1, 24, 1000, 65536, 1 << 20] {
            assert!(slots_for(s).is_power_of_two());
        }
    }
}
