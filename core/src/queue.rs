//! One shape for every queue laid over a region: the SPSC ring
//! ([`crate::spsc::Region`]), the MPMC lanes ([`crate::mpmc::Region`]) and
//! the mailbox ([`crate::mailbox::Region`]).
//!
//! A [`Queue`] is a cheap, cloneable handle on a region: the base pointer and
//! the geometry checked at attach, nothing borrowed. From it a process claims
//! a [`Producer`] or a [`Consumer`], which own their own copy of the queue, so
//! they move into threads, tasks and C structs freely. Claiming happens here,
//! in core, with a compare-and-swap in shared memory, and every operation of
//! a handle re-checks that its claim still holds (a handle whose side or lane
//! was taken over gets [`Error::InUse`]).
//!
//! Waiting is not the core's job: each queue has a [`Queue::not_empty`] and a
//! [`Queue::not_full`] doorbell; a producer rings `not_empty` after a send
//! and a consumer rings `not_full` after a receive (waking the sleepers when
//! the doorbell says so), and a waiter sleeps on the other one.
//!
//! Liveness is not the core's job either, but acting on a verdict is: the host
//! passes an `alive` oracle (a pidfd, a lock the kernel drops at exit, or, on a
//! system with no processes, [`assume_alive`]) to [`Queue::claim_producer`] and
//! [`Queue::claim_consumer`], which take over sides whose owner has exited,
//! and to [`Queue::reap`], which marks a dead peer so that the living see
//! [`Error::PeerDead`] instead of waiting forever. A verdict is applied with a
//! compare-and-swap against what was read *before* it was reached, so a
//! verdict on an old owner never lands on a newer one.
//!
//! # What `Empty` and `Full` mean
//!
//! Every kind promises at least this, which `tests/tests/conformance.rs`
//! checks for every kind on every backing: a `try_recv` that began after a
//! send had completed (the send happens-before the call: same thread, or
//! ordered by a join, a lock, an atomic flag, a message) does not return
//! [`Error::Empty`] unless another consumer took that message; and a
//! `try_send` that began after a receive had completed does not return
//! [`Error::Full`] for want of the slot that receive freed, unless another
//! producer took it. [`Queue::len`] likewise counts every message whose send
//! completed before the call and that no receive has taken or begun to
//! take. Beyond that:
//!
//! - SPSC ring: `try_recv` returns [`Error::Empty`] only if the ring was
//!   empty at one instant during the call (a fresh load of the stamp of the
//!   slot at `head`, then of `tail`, showed nothing published at `head`), and `try_send` returns [`Error::Full`] only if it was
//!   full at one instant (a fresh load of `head`): both are linearizable. A
//!   message is there once its producer published it (a send still copying
//!   in is not); a slot is free once the consumer finished copying out of
//!   it (a receive still copying out holds it).
//! - MPMC lanes: `try_send` returns `Full` only if the producer's own lane
//!   was full at one instant during the call (a fresh load of its `head`);
//!   other lanes may have room (linearizable per lane). `try_recv` returns
//!   `Empty` only if every lane was empty at one instant during the call:
//!   with several lanes, a scan that found them all empty re-reads every
//!   `tail` and scans again if any moved. A message is there once published
//!   (a send still copying in is not); a message being copied out by a
//!   consumer is there until that consumer's CAS on `head` takes it.
//! - Mailbox: only the guarantee above; see [`crate::mailbox`]'s "Order"
//!   section. A receive scans the slots one by one, so with senders and
//!   other receivers running it can return `Empty` although some message was
//!   queued at every instant of the call (one published into a slot already
//!   scanned while another receiver takes the one ahead); a send scans for
//!   a free slot the same way, so `Full` is the same kind of snapshot. A
//!   message being written (WRITING) is not there yet; one being read
//!   (READING) is gone.
//!
//! # Examples
//!
//! Code written once over the trait works for every kind:
//!
//! ```
//! use kipc_core::queue::{assume_alive, Consumer, Producer, Queue};
//! use kipc_core::{mailbox, mpmc, spsc, Error};
//!
//! fn round_trip<Q: Queue>(q: &Q) -> Result<(), Error> {
//!     let mut tx = q.claim_producer(1, &mut assume_alive)?;
//!     let mut rx = q.claim_consumer(2, &mut assume_alive)?;
//!     tx.try_send(b"hello")?;
//!     let mut buf = [0u8; 16];
//!     let n = rx.try_recv(&mut buf)?;
//!     assert_eq!(&buf[..n], b"hello");
//!     assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
//!     Ok(())
//! }
//!
//! #[repr(C, align(128))]
//! struct Mem([u8; 8192]);
//! let mut mem = Box::new(Mem([0; 8192]));
//! let base = mem.0.as_mut_ptr();
//! // SAFETY: `mem` is aligned, large enough, outlives every region and is
//! // used only through one region at a time.
//! round_trip(&unsafe { spsc::Region::init(base, 8192, 4, 16) }?)?;
//! round_trip(&unsafe { mpmc::Region::init(base, 8192, 2, 4, 16) }?)?;
//! round_trip(&unsafe { mailbox::Region::init(base, 8192, mailbox::Geometry::new(4, 16)) }?)?;
//! # Ok::<(), Error>(())
//! ```

use core::fmt;
use core::num::NonZeroU32;

use crate::doorbell::Doorbell;
use crate::region::{Kind, SlotWriter};
use crate::Error;

/// Which side of a queue a handle or a recorded owner is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends.
    Producer,
    /// Receives.
    Consumer,
}

impl Role {
    /// The other side.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::queue::Role;
    /// assert_eq!(Role::Producer.peer(), Role::Consumer);
    /// ```
    pub const fn peer(self) -> Role {
        match self {
            Role::Producer => Role::Consumer,
            Role::Consumer => Role::Producer,
        }
    }

    /// `"producer"` or `"consumer"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::queue::Role;
    /// assert_eq!(Role::Consumer.name(), "consumer");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        }
    }
}

/// An owner recorded in a queue's header (what `kipc ls` lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Its side.
    pub role: Role,
    /// The MPMC lane (producers) it holds; `None` for the other kinds.
    pub lane: Option<u32>,
    /// Its id (the host stores a pid).
    pub id: NonZeroU32,
    /// `true` if its claim is already marked dead.
    pub marked_dead: bool,
}

/// An `alive` oracle that trusts every owner: for systems with no processes
/// (firmware, one address space) or callers that never take over a side.
///
/// # Examples
///
/// ```
/// use core::num::NonZeroU32;
/// assert!(kipc_core::queue::assume_alive(NonZeroU32::MIN));
/// ```
pub fn assume_alive(_: NonZeroU32) -> bool {
    true
}

/// A queue laid over a region. See the [module documentation](self).
///
/// Owner ids are opaque non-zero `u32`s chosen by the caller (the host uses
/// pids); id 0 is refused with [`Error::InvalidGeometry`].
pub trait Queue: Clone + Send + Sync + fmt::Debug {
    /// The sending handle.
    type Producer: Producer;
    /// The receiving handle.
    type Consumer: Consumer;

    /// What the region holds.
    fn kind(&self) -> Kind;

    /// Claims a producer side (SPSC), a lane (MPMC) or a sender (mailbox,
    /// where any number may send) for `id`. A side whose recorded owner
    /// `alive` says has exited is taken over: what it published stays queued.
    ///
    /// # Errors
    ///
    /// [`Error::InUse`] or [`Error::NoFreeLane`] if live owners hold every
    /// place; [`Error::Corrupt`] if the header's indices are out of range.
    fn claim_producer(
        &self,
        id: u32,
        alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<Self::Producer, Error>;

    /// Claims a consumer side (SPSC), a consumer record (MPMC) or a receiver
    /// (mailbox), taking over from exited owners as
    /// [`claim_producer`](Self::claim_producer) does.
    ///
    /// # Errors
    ///
    /// As [`claim_producer`](Self::claim_producer).
    fn claim_consumer(
        &self,
        id: u32,
        alive: &mut dyn FnMut(NonZeroU32) -> bool,
    ) -> Result<Self::Consumer, Error>;

    /// Applies `alive`'s verdicts for a waiter on side `waiter` with id `me`:
    /// marks its exited peers dead (SPSC, MPMC) or recovers the slots they
    /// held (mailbox), and changes both doorbells if anything changed.
    /// Returns whether it did; the caller then wakes every sleeper on both
    /// doorbells. The waiter's next operation reports [`Error::PeerDead`]
    /// where the kind has one (see each kind's documentation).
    fn reap(&self, waiter: Role, me: u32, alive: &mut dyn FnMut(NonZeroU32) -> bool) -> bool;

    /// Calls `f` with every owner recorded in the header.
    fn owners(&self, f: &mut dyn FnMut(Owner));

    /// The doorbell consumers wait on; producers ring it after sending.
    fn not_empty(&self) -> &Doorbell;

    /// The doorbell producers wait on; consumers ring it after receiving.
    fn not_full(&self) -> &Doorbell;

    /// Messages the queue can hold (all lanes, for MPMC).
    fn capacity(&self) -> usize;

    /// Largest message in bytes.
    fn max_msg(&self) -> usize;

    /// Messages queued now (a snapshot; 0 for indices out of range).
    fn len(&self) -> usize;

    /// `true` if [`len`](Self::len) is 0.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of memory the layout occupies.
    fn byte_len(&self) -> usize;
}

/// The sending handle of a [`Queue`]: owns its copy of the queue and its
/// claim, which dropping it releases.
pub trait Producer: Send + fmt::Debug {
    /// Sends `msg` if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`]; [`Error::TooLarge`]; [`Error::PeerDead`] if the
    /// consumer side is marked dead; [`Error::InUse`] if this handle's claim
    /// was taken over; [`Error::Corrupt`] if the peer broke the protocol.
    fn try_send(&mut self, msg: &[u8]) -> Result<(), Error>;

    /// Sends a `len`-byte message written in place by `fill`. `fill` is
    /// called only once room is reserved (not on any error); bytes it leaves
    /// unwritten hold what the slot held before (never uninitialised memory).
    ///
    /// # Errors
    ///
    /// As [`try_send`](Self::try_send).
    fn try_send_with<F: FnOnce(&mut SlotWriter<'_>)>(
        &mut self,
        len: usize,
        fill: F,
    ) -> Result<(), Error>;

    /// The owner id this handle claimed with.
    fn id(&self) -> u32;

    /// Largest message in bytes.
    fn max_msg(&self) -> usize;
}

/// The receiving handle of a [`Queue`].
pub trait Consumer: Send + fmt::Debug {
    /// Receives the next message into `buf`; returns its length.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`]; [`Error::TooLarge`] if `buf` is too small (the
    /// message stays queued); [`Error::PeerDead`] when empty and the
    /// producers are gone (see each kind); [`Error::InUse`] if this handle's
    /// claim was taken over; [`Error::Corrupt`] if the peer broke the
    /// protocol (a bad message is consumed, so the next call goes on).
    fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, Error>;

    /// Length of the message [`try_recv`](Self::try_recv) would return next
    /// (with several consumers, another may take it first).
    ///
    /// # Errors
    ///
    /// As [`try_recv`](Self::try_recv), except `TooLarge`.
    fn peek_len(&mut self) -> Result<usize, Error>;

    /// The owner id this handle claimed with.
    fn id(&self) -> u32;

    /// Largest message in bytes (a buffer this long always fits).
    fn max_msg(&self) -> usize;
}

mod any_ring;

pub use any_ring::{AnyConsumer, AnyProducer, AnyRing};
