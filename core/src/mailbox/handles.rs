//! The mailbox behind the [`Queue`] interface: [`Sender`] and [`Receiver`]
//! handles that own a copy of the [`Region`].
//!
//! A mailbox has no exclusive sides: any number of senders and receivers may
//! be claimed at once, each with its own owner id (recorded in the state word
//! of the slot it is writing or reading, which is what [`Region::recover`]
//! acts on). The trait's `try_send` sends at priority 0 and type 0 and its
//! `try_recv` takes any message; [`Sender::try_send_prio`] and
//! [`Receiver::try_recv_matching`] add the mailbox's priorities and types.

use core::num::NonZeroU32;

use super::{Received, Region, Selector};
use crate::doorbell::Doorbell;
use crate::queue::{Consumer, Owner, Producer, Queue, Role};
use crate::region::{Kind, SlotWriter};
use crate::Error;

/// A sending handle on a mailbox [`Region`].
///
/// # Examples
///
/// ```
/// use kipc_core::mailbox::{Geometry, Region, Selector};
/// use kipc_core::queue::{assume_alive, Queue};
/// # #[repr(C, align(128))] struct Buf([u8; 2048]);
/// # let mut buf = Buf([0; 2048]);
/// // SAFETY: `buf` outlives the region and is only used through it.
/// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 16)) }?;
/// let mut tx = r.claim_producer(7, &mut assume_alive)?;
/// tx.try_send_prio(b"low", 1, 0)?;
/// tx.try_send_prio(b"high", 9, 0)?;
/// let mut rx = r.claim_consumer(8, &mut assume_alive)?;
/// let mut out = [0u8; 16];
/// let got = rx.try_recv_matching(Selector::Any, &mut out)?;
/// assert_eq!((got.prio, &out[..got.len]), (9, &b"high"[..]));
/// # Ok::<(), kipc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Sender {
    region: Region,
    id: u32,
}

/// A receiving handle on a mailbox [`Region`].
#[derive(Debug)]
pub struct Receiver {
    region: Region,
    id: u32,
}

fn check_id(id: u32) -> Result<u32, Error> {
    if id == 0 {
        return Err(Error::InvalidGeometry {
            what: "owner id must not be 0",
        });
    }
    Ok(id)
}

impl Sender {
    /// Sends `msg` with priority `prio` (higher first) and type `mtype` if a
    /// slot is free. See [`Region::try_send`].
    ///
    /// # Errors
    ///
    /// As [`Region::try_send`].
    pub fn try_send_prio(&mut self, msg: &[u8], prio: u8, mtype: u64) -> Result<(), Error> {
        self.region.try_send(msg, prio, mtype, self.id)
    }

    /// Sends a `len`-byte message written in place by `fill`, with priority
    /// `prio` and type `mtype`; `fill` is called only once a slot is claimed.
    ///
    /// # Errors
    ///
    /// As [`Region::begin_send`] and [`SendSlot::commit`](super::SendSlot::commit).
    pub fn try_send_prio_with(
        &mut self,
        len: usize,
        prio: u8,
        mtype: u64,
        fill: impl FnOnce(&mut SlotWriter<'_>),
    ) -> Result<(), Error> {
        let mut slot = self.region.begin_send(len, self.id)?;
        fill(&mut slot.writer());
        slot.commit(prio, mtype)
    }
}

impl Receiver {
    /// Receives the first message `selector` accepts (see
    /// [`Region::try_recv`]).
    ///
    /// # Errors
    ///
    /// As [`Region::try_recv`].
    pub fn try_recv_matching(
        &mut self,
        selector: Selector,
        buf: &mut [u8],
    ) -> Result<Received, Error> {
        self.region.try_recv(selector, self.id, buf)
    }
}

impl Queue for Region {
    type Producer = Sender;
    type Consumer = Receiver;

    fn kind(&self) -> Kind {
        Kind::Mailbox
    }

    /// Any number of senders may exist: this only checks the id.
    fn claim_producer(
        &self,
        id: u32,
        _alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<Sender, Error> {
        Ok(Sender {
            region: self.clone(),
            id: check_id(id)?,
        })
    }

    /// Any number of receivers may exist: this only checks the id.
    fn claim_consumer(
        &self,
        id: u32,
        _alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<Receiver, Error> {
        Ok(Receiver {
            region: self.clone(),
            id: check_id(id)?,
        })
    }

    /// Recovers the slots of exited owners, whichever side waits: a dead
    /// sender's half-written slot is freed, a dead receiver's message is
    /// made ready again. A mailbox never reports [`Error::PeerDead`]: its
    /// peers are anonymous and may come and go.
    fn reap(&self, _waiter: Role, me: u32, alive: &mut dyn FnMut(NonZeroU32) -> bool) -> bool {
        // Ids are never 0, so a busy slot naming owner 0 was left by a
        // broken or hostile peer: nobody will finish it.
        let recovered = self.recover(|owner| match NonZeroU32::new(owner) {
            Some(o) => owner != me && !alive(o),
            None => true,
        });
        if recovered > 0 {
            self.not_empty().ring_all();
            self.not_full().ring_all();
        }
        recovered > 0
    }

    fn owners(&self, f: &mut dyn FnMut(Owner)) {
        self.busy_owners(|writing, id| {
            if let Some(id) = NonZeroU32::new(id) {
                f(Owner {
                    role: if writing {
                        Role::Producer
                    } else {
                        Role::Consumer
                    },
                    lane: None,
                    id,
                    marked_dead: false,
                });
            }
        });
    }

    fn not_empty(&self) -> &Doorbell {
        Region::not_empty(self)
    }

    fn not_full(&self) -> &Doorbell {
        Region::not_full(self)
    }

    fn capacity(&self) -> usize {
        Region::capacity(self)
    }

    fn max_msg(&self) -> usize {
        Region::max_msg(self)
    }

    fn len(&self) -> usize {
        Region::len(self)
    }

    fn byte_len(&self) -> usize {
        Region::byte_len(self)
    }
}

impl Producer for Sender {
    fn try_send(&mut self, msg: &[u8]) -> Result<(), Error> {
        self.try_send_prio(msg, 0, 0)
    }

    fn try_send_with<F: FnOnce(&mut SlotWriter<'_>)>(
        &mut self,
        len: usize,
        fill: F,
    ) -> Result<(), Error> {
        self.try_send_prio_with(len, 0, 0, fill)
    }

    fn id(&self) -> u32 {
        self.id
    }

    fn max_msg(&self) -> usize {
        self.region.max_msg()
    }
}

impl Consumer for Receiver {
    fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        self.try_recv_matching(Selector::Any, buf).map(|r| r.len)
    }

    fn peek_len(&mut self) -> Result<usize, Error> {
        self.region.peek_len(Selector::Any)
    }

    fn id(&self) -> u32 {
        self.id
    }

    fn max_msg(&self) -> usize {
        self.region.max_msg()
    }
}
