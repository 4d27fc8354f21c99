//! Shared-memory rings between processes: a segment plus a core region.
//!
//! A [`ShmRing`] is a named POSIX segment ([`crate::shm`], `/dev/shm/kipc.NAME`)
//! or an anonymous sealed memfd ([`crate::memfd`]) with one of the core's
//! region-form queues laid over it:
//!
//! - [`RingKind::Spsc`]: [`kipc_core::spsc::Region`], one producer and one
//!   consumer, each recorded in the header by pid
//!   ([`Endpoint`](kipc_core::spsc::Endpoint));
//! - [`RingKind::Mpmc`]: [`kipc_core::mpmc::Region`], per-producer lanes (so a
//!   dead producer stalls only its own lane) and up to
//!   [`kipc_core::mpmc::MAX_CONSUMERS`] consumers, each recorded by pid.
//!
//! # Handles and ownership
//!
//! [`ShmQueue::sender`] claims the producer side (SPSC) or a lane (MPMC) for
//! this process's pid; [`ShmQueue::receiver`] claims the consumer side. If
//! the recorded owner has exited (its owner lock on the segment is gone, see
//! [`crate::liveness::OwnerLocks`]), the side is *reclaimed*: that is how a
//! ring whose creator or user died is taken over. A live owner, in whatever
//! pid namespace, means [`Error::Busy`]. Dropping a handle releases the side
//! (state "closed") and wakes every sleeper so a waiting peer re-checks.
//!
//! # Waiting and peer liveness
//!
//! Blocking calls use [`futex::wait_until_with`](crate::futex::wait_until_with)
//! in the queue's fencing mode ([`crate::barrier`]): a bounded spin, then a sleep on the doorbell word with a shared futex,
//! re-checking the peers every
//! [`LIVENESS_SLICE`](crate::futex::LIVENESS_SLICE) (20 ms). The peer is
//! whoever the header names: a receiver watches the producer (SPSC) or every
//! live lane owner (MPMC); a sender watches the consumer (SPSC) or every
//! recorded consumer (MPMC). When the peer has exited, a blocking call
//! returns [`Error::PeerDead`] within about one slice, after delivering
//! every message that was already published.
//!
//! Differences between the kinds, inherited from the core:
//! - SPSC: a peer that released its side *cleanly* is not dead: the side is
//!   vacant and a new peer may attach, so a blocking call keeps waiting (until
//!   its timeout). Only an exited owner process is `PeerDead`.
//! - MPMC: a consumer gets `PeerDead` once every lane is empty and no lane is
//!   owned by a live producer, after some producer attached once (a producer
//!   that closed cleanly counts as gone). Lanes of exited producers are marked
//!   dead by the waiting receiver; a producer whose recorded consumers have all
//!   exited marks the consumer side dead and gets `PeerDead`.
//!
//! A [`ShmRing`] is a [`ShmQueue`] over [`AnyRing`]: construction, claims,
//! waiting and liveness are [`crate::endpoint`]'s, written once for rings and
//! mailboxes alike; this module adds the ring configuration and `kipc ls`'s
//! view. [`Sender`] and [`Receiver`] are owned (`Send + 'static`).
//!
//! # Not pollable
//!
//! Waits are futex waits; see [`crate::futex`] for why they cannot be
//! registered with epoll.
//!
//! # Untrusted memory
//!
//! The peer may write anything anywhere in the segment. All checks are the
//! core's: geometry is validated and copied at attach, indices and lengths are
//! range-checked on every read, payloads are copied out. This module never forms
//! a reference to shared bytes.
//!
//! # Examples
//!
//! ```
//! use kipc_host::ring::{RingConfig, RingKind, ShmRing};
//! let ring = ShmRing::create_anonymous(RingConfig::spsc(8, 64))?;
//! let mut tx = ring.sender()?;
//! let mut rx = ring.receiver()?;
//! tx.send(b"hello")?;
//! let mut buf = [0u8; 64];
//! let n = rx.recv(&mut buf)?;
//! assert_eq!(&buf[..n], b"hello");
//! # Ok::<(), kipc_host::Error>(())
//! ```

#![allow(unsafe_code)]

use kipc_core::queue::{AnyProducer, AnyRing, Queue};
use kipc_core::region::{Kind, RegionFlags};
use kipc_core::{mpmc, spsc, Error as CoreError};

pub use crate::endpoint::{Attached, OPEN_WAIT};
pub use kipc_core::queue::Role;
pub use kipc_core::region::{SlotWriter, TypeTag};

use crate::endpoint::{checked_size, QueueLayout, ShmQueue};
use crate::shm::ShmSegment;
use crate::{Error, Result};

/// A ring in shared memory (SPSC or MPMC, chosen at creation and read back
/// at open). See the [module documentation](self).
pub type ShmRing = ShmQueue<AnyRing>;

/// The sending side of a [`ShmRing`] (see [`ShmQueue::sender`]).
pub type Sender = crate::endpoint::Sender<AnyRing>;

/// The receiving side of a [`ShmRing`] (see [`ShmQueue::receiver`]).
pub type Receiver = crate::endpoint::Receiver<AnyRing>;

/// The largest ring (header and slots) [`ShmRing`] creates: 4 GiB.
pub const MAX_RING_BYTES: u64 = crate::endpoint::MAX_QUEUE_BYTES;

/// Which queue a ring holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingKind {
    /// One producer, one consumer.
    Spsc,
    /// Per-producer lanes (`lanes` producers at once, 1..=64), any number of
    /// consumers up to [`kipc_core::mpmc::MAX_CONSUMERS`].
    Mpmc {
        /// Number of lanes, i.e. producers that can be attached at once.
        lanes: u32,
    },
}

impl RingKind {
    /// `"spsc"` or `"mpmc"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::RingKind;
    /// assert_eq!(RingKind::Mpmc { lanes: 2 }.name(), "mpmc");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            RingKind::Spsc => "spsc",
            RingKind::Mpmc { .. } => "mpmc",
        }
    }
}

/// The geometry of a new ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Slots (a power of two); for MPMC, slots *per lane*.
    pub slots: u32,
    /// Largest message in bytes.
    pub slot_size: u32,
    /// SPSC or MPMC.
    pub kind: RingKind,
    /// What one message is, recorded in the header for attachers to check
    /// ([`TypeTag::UNTYPED`] for bytes; see `crate::typed`'s
    /// `create_typed`, which sets it).
    pub message_type: TypeTag,
}

impl RingConfig {
    /// An SPSC configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, RingKind};
    /// assert_eq!(RingConfig::spsc(4, 8).kind, RingKind::Spsc);
    /// ```
    pub fn spsc(slots: u32, slot_size: u32) -> Self {
        Self {
            slots,
            slot_size,
            kind: RingKind::Spsc,
            message_type: TypeTag::UNTYPED,
        }
    }

    /// An MPMC configuration with `lanes` lanes of `slots` slots each.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, RingKind};
    /// assert_eq!(RingConfig::mpmc(2, 4, 8).kind, RingKind::Mpmc { lanes: 2 });
    /// ```
    pub fn mpmc(lanes: u32, slots: u32, slot_size: u32) -> Self {
        Self {
            slots,
            slot_size,
            kind: RingKind::Mpmc { lanes },
            message_type: TypeTag::UNTYPED,
        }
    }

    /// Bytes of shared memory this configuration needs (the core's
    /// `region_size`).
    ///
    /// # Errors
    ///
    /// [`Error::Core`] with [`kipc_core::Error::InvalidGeometry`] if the slot
    /// count is not a power of two, a size is 0 or too large, or `lanes` is not
    /// in `1..=64`, or the ring would be larger than
    /// [`MAX_QUEUE_BYTES`](crate::endpoint::MAX_QUEUE_BYTES).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::RingConfig;
    /// assert!(RingConfig::spsc(1024, 256).region_size().unwrap() > 1024 * 256);
    /// assert!(RingConfig::spsc(1000, 256).region_size().is_err());
    /// ```
    pub fn region_size(&self) -> Result<usize> {
        let r = match self.kind {
            RingKind::Spsc => spsc::region_size(self.slots, self.slot_size),
            RingKind::Mpmc { lanes } => mpmc::region_size(lanes, self.slots, self.slot_size),
        };
        checked_size(r?)
    }
}

/// A snapshot of a ring, for `kipc ls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingInfo {
    /// The kipc name, `None` for a memfd ring.
    pub name: Option<String>,
    /// SPSC or MPMC (with its lane count).
    pub kind: RingKind,
    /// Slots (per lane for MPMC).
    pub slots: u32,
    /// Largest message in bytes.
    pub slot_size: u32,
    /// Messages queued (a snapshot; 0 if the indices are out of range).
    pub queued: usize,
    /// Bytes of the mapping.
    pub size: usize,
    /// Every process recorded in the header.
    pub attached: Vec<Attached>,
    /// The message type the creator recorded ([`TypeTag::UNTYPED`] for bytes).
    pub message_type: TypeTag,
}

impl QueueLayout for AnyRing {
    type Config = RingConfig;
    const OBJECT: &'static str = "ring";

    fn region_size(config: &RingConfig) -> Result<usize> {
        config.region_size()
    }

    unsafe fn init(
        base: *mut u8,
        len: usize,
        c: &RingConfig,
        flags: RegionFlags,
    ) -> Result<Self, CoreError> {
        let ring = match c.kind {
            RingKind::Spsc => {
                // SAFETY: forwarded from our caller.
                let r = unsafe {
                    spsc::Region::init_with(base, len, c.slots, c.slot_size, c.message_type, flags)
                };
                AnyRing::Spsc(r?)
            }
            RingKind::Mpmc { lanes } => {
                // SAFETY: forwarded from our caller.
                let r = unsafe {
                    mpmc::Region::init_with(
                        base,
                        len,
                        lanes,
                        c.slots,
                        c.slot_size,
                        c.message_type,
                        flags,
                    )
                };
                AnyRing::Mpmc(r?)
            }
        };
        Ok(ring)
    }

    unsafe fn attach(base: *mut u8, len: usize) -> Result<Self, CoreError> {
        // SAFETY: forwarded from our caller.
        unsafe { AnyRing::attach(base, len) }
    }
}

impl ShmQueue<AnyRing> {
    /// SPSC or MPMC.
    pub fn kind(&self) -> RingKind {
        match self.queue().lanes() {
            None => RingKind::Spsc,
            Some(lanes) => RingKind::Mpmc { lanes },
        }
    }

    /// Largest message in bytes.
    pub fn slot_size(&self) -> usize {
        self.queue().max_msg()
    }

    /// Slots (per lane for MPMC).
    pub fn slots(&self) -> usize {
        self.queue().slots_per_producer()
    }

    /// Messages queued now (a snapshot).
    pub fn queued(&self) -> usize {
        self.queue().len()
    }

    /// Everything `kipc ls` shows: geometry, queued messages, and every pid
    /// recorded in the header with whether that process is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, Role, ShmRing};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
    /// let tx = ring.sender()?;
    /// let info = ring.info();
    /// assert_eq!(info.attached.len(), 1);
    /// assert_eq!(info.attached[0].role, Role::Producer);
    /// assert_eq!(info.attached[0].pid, std::process::id());
    /// assert!(info.attached[0].alive);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn info(&self) -> RingInfo {
        RingInfo {
            name: self.name().map(str::to_string),
            kind: self.kind(),
            slots: self.slots() as u32,
            slot_size: self.slot_size() as u32,
            queued: self.queued(),
            size: self.size(),
            attached: self.owners(),
            message_type: self.message_type(),
        }
    }

    /// The message type the creator recorded ([`TypeTag::UNTYPED`] for a
    /// ring of bytes), read once when this handle attached.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// use kipc_core::region::TypeTag;
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
    /// assert_eq!(ring.message_type(), TypeTag::UNTYPED);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn message_type(&self) -> TypeTag {
        self.queue().type_tag()
    }
}

impl crate::endpoint::Sender<AnyRing> {
    /// For MPMC, the lane this sender owns.
    pub fn lane(&self) -> Option<u32> {
        self.producer().and_then(AnyProducer::lane)
    }
}

/// Reads the kind of the kipc object in the named segment without attaching
/// (what `kipc ls` shows for objects that are not rings).
///
/// # Errors
///
/// As [`ShmSegment::open`]; [`Error::NotReady`] if the header is not
/// published; [`Error::Core`] with `BadLayout` if it is no kipc object.
pub fn probe(name: &str) -> Result<Kind> {
    let seg = ShmSegment::open(name)?;
    // SAFETY: the mapping is readable for `seg.len()` bytes while `seg` lives.
    unsafe { kipc_core::region::probe_kind(seg.as_ptr(), seg.len()) }.map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    fn unique(tag: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "unit-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    #[test]
    fn the_creators_fencing_is_recorded_and_every_opener_follows_it() {
        // `b` and `d` read the mode from the region's prologue at open.
        let expected = crate::barrier::create_fenced();
        let name = unique("fence");
        let a = ShmRing::create(&name, RingConfig::mpmc(2, 8, 32)).unwrap();
        let b = ShmRing::open(&name).unwrap();
        ShmRing::unlink(&name).unwrap();
        let c = ShmRing::create_anonymous(RingConfig::spsc(8, 32)).unwrap();
        let d = ShmRing::from_fd(c.fd().try_clone_to_owned().unwrap()).unwrap();
        assert_eq!(
            [a.fenced(), b.fenced(), c.fenced(), d.fenced()],
            [expected; 4]
        );
    }

    #[test]
    fn named_ring_round_trips_between_two_opens() {
        let name = unique("rt");
        let a = ShmRing::create(&name, RingConfig::spsc(8, 32)).unwrap();
        let b = ShmRing::open(&name).unwrap();
        let mut tx = a.sender().unwrap();
        let mut rx = b.receiver().unwrap();
        tx.send(b"one").unwrap();
        tx.send(b"two").unwrap();
        assert_eq!(b.queued(), 2);
        let mut buf = [0; 32];
        assert_eq!(rx.recv(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"one");
        assert_eq!(rx.recv(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"two");
        ShmRing::unlink(&name).unwrap();
    }

    #[test]
    fn bad_geometry_leaves_no_segment_behind() {
        let name = unique("geo");
        assert!(matches!(
            ShmRing::create(&name, RingConfig::spsc(3, 32)),
            Err(Error::Core(CoreError::InvalidGeometry { .. }))
        ));
        assert!(ShmRing::open_timeout(&name, Duration::ZERO).is_err());
        assert!(!std::path::Path::new(&format!("/dev/shm/kipc.{name}")).exists());
    }

    #[test]
    fn open_of_an_unpublished_segment_waits_then_says_not_ready() {
        let name = unique("unready");
        let _seg = ShmSegment::create(&name, 4096).unwrap();
        let start = Instant::now();
        assert_eq!(
            ShmRing::open_timeout(&name, Duration::from_millis(50)).unwrap_err(),
            Error::NotReady
        );
        assert!(start.elapsed() >= Duration::from_millis(50));
        ShmSegment::unlink(&name).unwrap();
    }

    #[test]
    fn open_sees_a_ring_initialised_while_it_waits() {
        let name = unique("late");
        let seg = ShmSegment::create(&name, RingConfig::spsc(4, 8).region_size().unwrap()).unwrap();
        let n2 = name.clone();
        let t = std::thread::spawn(move || ShmRing::open(&n2).map(|r| r.kind()));
        std::thread::sleep(Duration::from_millis(30));
        // SAFETY: the mapping is ours, of the right size, and only kipc touches it.
        let _region = unsafe { spsc::Region::init(seg.as_ptr(), seg.len(), 4, 8) }.unwrap();
        assert_eq!(t.join().unwrap(), Ok(RingKind::Spsc));
        ShmSegment::unlink(&name).unwrap();
    }

    #[test]
    fn dropping_a_sender_releases_the_side_and_a_dead_owner_is_reclaimed() {
        let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 8)).unwrap();
        let AnyRing::Spsc(r) = ring.queue() else {
            unreachable!()
        };
        drop(ring.sender().unwrap());
        assert_eq!(r.producer_endpoint().owner(), None);
        assert_eq!(
            r.producer_endpoint().state(),
            Ok(spsc::EndpointState::Closed)
        );
        // A pid that cannot exist (above pid_max's hard limit of 2^22).
        let ghost = r.producer(1 << 30).unwrap();
        std::mem::forget(ghost);
        let tx = ring.sender().unwrap();
        assert_eq!(
            r.producer_endpoint().owner().map(|o| o.get()),
            Some(ring.me())
        );
        drop(tx);
        // A live owner (ourselves, through another handle) is refused.
        let _tx = ring.sender().unwrap();
        assert_eq!(ring.sender().unwrap_err(), Error::Busy);
    }

    #[test]
    fn blocked_receiver_is_woken_by_a_sender_thread() {
        let ring = ShmRing::create_anonymous(RingConfig::spsc(2, 8)).unwrap();
        std::thread::scope(|s| {
            let mut rx = ring.receiver().unwrap();
            let mut tx = ring.sender().unwrap();
            s.spawn(move || {
                for i in 0u32..1000 {
                    tx.send(&i.to_le_bytes()).unwrap();
                }
            });
            let mut buf = [0; 8];
            for i in 0u32..1000 {
                let n = rx.recv_timeout(&mut buf, Duration::from_secs(10)).unwrap();
                assert_eq!(&buf[..n], &i.to_le_bytes());
            }
        });
    }

    #[test]
    fn mpmc_ring_delivers_from_two_lanes_and_reclaims_a_dead_lane() {
        let ring = ShmRing::create_anonymous(RingConfig::mpmc(2, 4, 8)).unwrap();
        let AnyRing::Mpmc(r) = ring.queue() else {
            unreachable!()
        };
        let mut a = ring.sender().unwrap();
        let mut b = ring.sender().unwrap();
        assert_ne!(a.lane(), b.lane());
        a.try_send(b"a").unwrap();
        b.try_send(b"b").unwrap();
        let mut rx = ring.receiver().unwrap();
        let mut buf = [0; 8];
        let mut got = Vec::new();
        for _ in 0..2 {
            let n = rx.recv_timeout(&mut buf, Duration::from_secs(1)).unwrap();
            got.push(buf[..n].to_vec());
        }
        got.sort();
        assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
        // Every lane taken by live owners: no lane.
        assert_eq!(ring.sender().unwrap_err(), Error::Busy);
        // Lane of a "dead" owner: forget `b`, rewrite its owner to a ghost pid.
        let lane = b.lane().unwrap();
        std::mem::forget(b);
        let ghost = 1u32 << 30;
        // The lane's owner is us; mark it dead and hand it to the ghost, which
        // then "dies" (it is no process at all).
        r.mark_lane_dead(lane).unwrap();
        let ghost_lane = r.reclaim_lane(lane, ring.me(), ghost).unwrap();
        std::mem::forget(ghost_lane);
        let c = ring.sender().unwrap();
        assert_eq!(c.lane(), Some(lane));
        drop(a);
    }
}
