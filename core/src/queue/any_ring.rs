//! [`AnyRing`]: a ring of either kind, chosen when the region is created or
//! read from its prologue at attach, behind the same [`Queue`] interface.

use core::num::NonZeroU32;

use super::{Consumer, Owner, Producer, Queue, Role};
use crate::doorbell::Doorbell;
use crate::region::{probe_kind, Kind, SlotWriter};
use crate::{mpmc, spsc, Error};

/// An SPSC or an MPMC ring region. Every operation is one `match` on the
/// kind (a branch the CPU predicts), then the kind's own code.
///
/// # Examples
///
/// ```
/// use kipc_core::queue::{assume_alive, AnyRing, Consumer, Producer, Queue};
/// use kipc_core::{mpmc, region::Kind};
/// # #[repr(C, align(128))] struct Mem([u8; 4096]);
/// # let mut mem = Box::new(Mem([0; 4096]));
/// # let base = mem.0.as_mut_ptr();
/// // SAFETY: `mem` is aligned, large enough and outlives both regions.
/// unsafe { mpmc::Region::init(base, 4096, 2, 4, 16) }.unwrap();
/// let ring = unsafe { AnyRing::attach(base, 4096) }.unwrap();
/// assert_eq!(ring.kind(), Kind::Mpmc);
/// ring.claim_producer(7, &mut assume_alive)?.try_send(b"x")?;
/// assert_eq!(ring.claim_consumer(8, &mut assume_alive)?.try_recv(&mut [0; 16])?, 1);
/// # Ok::<(), kipc_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub enum AnyRing {
    /// One producer, one consumer.
    Spsc(spsc::Region),
    /// Per-producer lanes, many consumers.
    Mpmc(mpmc::Region),
}

/// The producer handle of an [`AnyRing`].
#[derive(Debug)]
pub enum AnyProducer {
    /// Of an SPSC ring.
    Spsc(spsc::RegionProducer),
    /// Of an MPMC ring (one lane).
    Mpmc(mpmc::RegionProducer),
}

/// The consumer handle of an [`AnyRing`].
#[derive(Debug)]
pub enum AnyConsumer {
    /// Of an SPSC ring.
    Spsc(spsc::RegionConsumer),
    /// Of an MPMC ring.
    Mpmc(mpmc::RegionConsumer),
}

/// `match` on the kind, with the same expression for both.
macro_rules! each_kind {
    ($value:expr, $enum:ident, $r:ident => $body:expr) => {
        match $value {
            $enum::Spsc($r) => $body,
            $enum::Mpmc($r) => $body,
        }
    };
}

impl AnyRing {
    /// Attaches to the ring at `base`, of whichever kind its prologue names.
    ///
    /// # Errors
    ///
    /// As the kind's `attach`; [`Error::BadLayout`] if the region holds an
    /// object that is not a ring.
    ///
    /// # Safety
    ///
    /// As [`spsc::Region::attach`].
    pub unsafe fn attach(base: *mut u8, len: usize) -> Result<Self, Error> {
        // SAFETY: forwarded from our caller.
        match unsafe { probe_kind(base, len) }? {
            // SAFETY: forwarded from our caller.
            Kind::Spsc => Ok(AnyRing::Spsc(unsafe { spsc::Region::attach(base, len) }?)),
            // SAFETY: forwarded from our caller.
            Kind::Mpmc => Ok(AnyRing::Mpmc(unsafe { mpmc::Region::attach(base, len) }?)),
            _ => Err(Error::BadLayout {
                what: "region holds a kipc object that is not a ring",
            }),
        }
    }

    /// Slots per producer: the SPSC capacity, or the MPMC slots per lane.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::{mpmc, queue::AnyRing};
    /// # #[repr(C, align(128))] struct Mem([u8; 4096]);
    /// # let mut mem = Box::new(Mem([0; 4096]));
    /// // SAFETY: `mem` is aligned, large enough and outlives the region.
    /// let r = unsafe { mpmc::Region::init(mem.0.as_mut_ptr(), 4096, 2, 4, 16) }.unwrap();
    /// assert_eq!(AnyRing::Mpmc(r).slots_per_producer(), 4);
    /// ```
    pub fn slots_per_producer(&self) -> usize {
        match self {
            AnyRing::Spsc(r) => r.capacity(),
            AnyRing::Mpmc(r) => r.slots_per_lane() as usize,
        }
    }

    /// The number of MPMC lanes, `None` for SPSC.
    pub fn lanes(&self) -> Option<u32> {
        match self {
            AnyRing::Spsc(_) => None,
            AnyRing::Mpmc(r) => Some(r.lanes()),
        }
    }

    /// The message type the creator recorded
    /// ([`TypeTag::UNTYPED`](crate::region::TypeTag::UNTYPED) for bytes).
    pub fn type_tag(&self) -> crate::region::TypeTag {
        match self {
            AnyRing::Spsc(r) => r.type_tag(),
            AnyRing::Mpmc(r) => r.type_tag(),
        }
    }
}

impl Queue for AnyRing {
    type Producer = AnyProducer;
    type Consumer = AnyConsumer;

    fn kind(&self) -> Kind {
        each_kind!(self, AnyRing, r => r.kind())
    }

    fn claim_producer(
        &self,
        id: u32,
        alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<AnyProducer, Error> {
        match self {
            AnyRing::Spsc(r) => r.claim_producer(id, alive).map(AnyProducer::Spsc),
            AnyRing::Mpmc(r) => r.claim_producer(id, alive).map(AnyProducer::Mpmc),
        }
    }

    fn claim_consumer(
        &self,
        id: u32,
        alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<AnyConsumer, Error> {
        match self {
            AnyRing::Spsc(r) => r.claim_consumer(id, alive).map(AnyConsumer::Spsc),
            AnyRing::Mpmc(r) => r.claim_consumer(id, alive).map(AnyConsumer::Mpmc),
        }
    }

    fn reap(&self, waiter: Role, me: u32, alive: &mut dyn FnMut(NonZeroU32) -> bool) -> bool {
        each_kind!(self, AnyRing, r => r.reap(waiter, me, alive))
    }

    fn owners(&self, f: &mut dyn FnMut(Owner)) {
        each_kind!(self, AnyRing, r => r.owners(f))
    }

    fn not_empty(&self) -> &Doorbell {
        each_kind!(self, AnyRing, r => Queue::not_empty(r))
    }

    fn not_full(&self) -> &Doorbell {
        each_kind!(self, AnyRing, r => Queue::not_full(r))
    }

    fn capacity(&self) -> usize {
        each_kind!(self, AnyRing, r => Queue::capacity(r))
    }

    fn max_msg(&self) -> usize {
        each_kind!(self, AnyRing, r => Queue::max_msg(r))
    }

    fn len(&self) -> usize {
        each_kind!(self, AnyRing, r => Queue::len(r))
    }

    fn byte_len(&self) -> usize {
        each_kind!(self, AnyRing, r => Queue::byte_len(r))
    }
}

impl AnyProducer {
    /// The MPMC lane this producer holds; `None` for SPSC.
    pub fn lane(&self) -> Option<u32> {
        match self {
            AnyProducer::Spsc(_) => None,
            AnyProducer::Mpmc(p) => Some(p.lane()),
        }
    }
}

impl Producer for AnyProducer {
    #[inline(always)]
    fn try_send(&mut self, msg: &[u8]) -> Result<(), Error> {
        each_kind!(self, AnyProducer, p => p.try_send(msg))
    }

    #[inline]
    fn try_send_with<F: FnOnce(&mut SlotWriter<'_>)>(
        &mut self,
        len: usize,
        fill: F,
    ) -> Result<(), Error> {
        each_kind!(self, AnyProducer, p => p.try_send_with(len, fill))
    }

    fn id(&self) -> u32 {
        each_kind!(self, AnyProducer, p => Producer::id(p))
    }

    fn max_msg(&self) -> usize {
        each_kind!(self, AnyProducer, p => Producer::max_msg(p))
    }
}

impl Consumer for AnyConsumer {
    #[inline(always)]
    fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        each_kind!(self, AnyConsumer, c => Consumer::try_recv(c, buf))
    }

    fn peek_len(&mut self) -> Result<usize, Error> {
        each_kind!(self, AnyConsumer, c => c.peek_len())
    }

    fn id(&self) -> u32 {
        each_kind!(self, AnyConsumer, c => Consumer::id(c))
    }

    fn max_msg(&self) -> usize {
        each_kind!(self, AnyConsumer, c => Consumer::max_msg(c))
    }
}
