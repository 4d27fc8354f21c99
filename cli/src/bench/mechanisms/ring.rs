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
//!
//! The client writes its messages in place ([`Sender::send_with`]: the
//! payload goes straight into the reserved slot, no private message buffer
//! and no second copy) unless `--copy-send` asks for [`Sender::send`].
//! kipc-host's `Sender` has no non-blocking in-place send, so the spin form
//! waits here until a slot is known to be free (this process is the ring's
//! only producer, so a free slot stays free) and then calls
//! `send_with`, which takes that slot without waiting. Receiving always
//! copies out.

use std::io;

use kipc_host::ring::{Receiver, RingConfig, Sender, ShmRing, SlotWriter};
use kipc_host::Error;

use super::{other, Driver};
use crate::bench::harness::{ChildCtx, ParentCtx, Peer, Spin};
use crate::bench::protocol::{past_end, Channel, Fill, MsgWriter};

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

/// A [`MsgWriter`] over a reserved ring slot.
struct SlotFill<'s, 'w>(&'s mut SlotWriter<'w>);

impl MsgWriter for SlotFill<'_, '_> {
    fn msg_len(&self) -> usize {
        self.0.len()
    }

    fn write_at(&mut self, offset: usize, bytes: &[u8]) -> io::Result<()> {
        self.0
            .write_at(offset, bytes)
            .map_err(|_| past_end(offset, bytes.len(), self.0.len()))
    }
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

    fn send_with(&mut self, len: usize, fill: Fill<'_>) -> io::Result<()> {
        let mut filled = Ok(());
        if self.blocking {
            self.tx
                .send_with(len, None, |w| filled = fill(&mut SlotFill(w)))
                .map_err(|e| self.failed("ring send", e))?;
            return filled;
        }
        // The core calls the closure only once a slot is reserved, so on
        // `Full` `fill` is still ours for the next try.
        let mut fill = Some(fill);
        let mut spin = Spin::new(self.peer);
        loop {
            let sent = self.tx.try_send_with(len, |w| {
                if let Some(f) = fill.take() {
                    filled = f(&mut SlotFill(w));
                }
            });
            match sent {
                Ok(()) => return filled,
                Err(Error::Full) => spin.tick()?,
                Err(e) => return Err(self.failed("ring send", e)),
            }
        }
    }

    fn writes_in_place(&self) -> bool {
        true
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

    #[test]
    fn large_messages_get_fewer_slots_within_the_budget() {
        assert_eq!(slots_for(1024), 256);
        assert_eq!(slots_for(65_536), 64);
        for s in [1024, 65_536] {
            assert!(slots_for(s) as usize * s <= RING_BUDGET);
            let c = config(Flavour::SpscSpin, s).unwrap();
            assert!(c.region_size().unwrap() > s * slots_for(s) as usize);
        }
    }

    #[test]
    fn a_message_written_in_place_arrives_whole_at_64_kib() {
        use crate::bench::protocol::{fill_message, BufWriter, DATA, PING};
        for flavour in [Flavour::SpscSpin, Flavour::Mpmc] {
            let ring = ShmRing::create_anonymous(config(flavour, 65_536).unwrap()).unwrap();
            let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
            let mut want = vec![0u8; 65_536];
            let mut got = vec![0u8; 65_536];
            // A whole message, then a shorter one.
            for (tag, len) in [(PING, 65_536), (DATA, 65_000)] {
                let mut filled = Ok(());
                tx.send_with(len, None, |w| {
                    filled = fill_message(&mut SlotFill(w), tag);
                })
                .unwrap();
                filled.unwrap();
                fill_message(&mut BufWriter(&mut want[..len]), tag).unwrap();
                assert_eq!(rx.try_recv(&mut got).unwrap(), len);
                assert_eq!(got[..len], want[..len], "{flavour:?}");
            }
            // A write past the message is refused, not written.
            tx.send_with(4, None, |w| {
                assert!(SlotFill(w).write_at(3, b"ab").is_err());
                assert_eq!(SlotFill(w).msg_len(), 4);
            })
            .unwrap();
            assert_eq!(rx.try_recv(&mut got).unwrap(), 4);
        }
    }
}
