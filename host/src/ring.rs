//! Shared-memory rings between processes: a segment plus a core region.
//!
//! A [`ShmRing`] is a named POSIX segment ([`crate::shm`], `/dev/shm/kipc.NAME`)
//! or an anonymous sealed memfd ([`crate::memfd`]) with one of the core's
//! region-form queues laid over it:
//!
//! - [`RingKind::Spsc`]: [`kipc_core::spsc::Region`], one producer and one
//!   consumer, each recorded in the header by pid ([`Endpoint`]);
//! - [`RingKind::Mpmc`]: [`kipc_core::mpmc::Region`], per-producer lanes (so a
//!   dead producer stalls only its own lane) and up to
//!   [`kipc_core::mpmc::MAX_CONSUMERS`] consumers, each recorded by pid.
//!
//! # Handles and ownership
//!
//! [`ShmRing::sender`] claims the producer side (SPSC) or a lane (MPMC) for
//! this process's pid; [`ShmRing::receiver`] claims the consumer side. If the
//! recorded owner is a process that has exited (a pidfd says so, see
//! [`crate::liveness`]), the side is *reclaimed*: that is how a ring whose
//! creator or user died is taken over. A live owner means
//! [`kipc_core::Error::InUse`] (SPSC) or [`kipc_core::Error::NoFreeLane`] (MPMC).
//! Dropping a handle releases the side (state "closed") and changes both
//! doorbell words so a sleeping peer re-checks.
//!
//! # Waiting and peer liveness
//!
//! Blocking calls use [`futex::wait_until`]: a bounded spin, then a sleep on the
//! doorbell word with a shared futex, re-checking the peer every
//! [`futex::LIVENESS_SLICE`] (20 ms). The peer is whoever the header names:
//! a receiver watches the producer's pid (SPSC) or every live lane owner
//! (MPMC); a sender watches the consumer's pid (SPSC) or every recorded
//! consumer (MPMC). Pidfds are opened lazily when a pid is first seen and
//! re-opened when the header names a different pid. When the peer has exited,
//! a blocking call returns [`Error::PeerDead`] within about one slice, after
//! delivering every message that was already published.
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

use core::cell::RefCell;
use core::num::NonZeroU32;
use std::time::{Duration, Instant};

use kipc_core::doorbell::Doorbell;
use kipc_core::region::Kind;
use kipc_core::spsc;
use kipc_core::{mpmc, Error as CoreError};
use rustix::fd::{BorrowedFd, OwnedFd};

pub use kipc_core::spsc::{Endpoint, SlotWriter};

use crate::futex;
use crate::liveness::PeerWatch;
use crate::segment::{self, Segment};
use crate::shm::ShmSegment;
use crate::{Error, Result};

/// How long [`ShmRing::open`] waits for a creator to finish initialising.
pub const OPEN_WAIT: Duration = Duration::from_secs(1);

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
        }
    }

    /// Bytes of shared memory this configuration needs (the core's
    /// `region_size`).
    ///
    /// # Errors
    ///
    /// [`Error::Core`] with [`kipc_core::Error::InvalidGeometry`] if the slot
    /// count is not a power of two, a size is 0 or too large, or `lanes` is not
    /// in `1..=64`.
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
        let len = r.map_err(Error::from)?;
        if len as u64 > MAX_RING_BYTES {
            // A memfd has no size limit and /dev/shm may be larger than RAM:
            // without this cap, `fallocate` of a huge geometry would run the
            // machine out of memory instead of failing.
            return Err(Error::Core(kipc_core::Error::InvalidGeometry {
                what: "ring would be larger than MAX_RING_BYTES (4 GiB)",
            }));
        }
        Ok(len)
    }
}

/// The largest ring (header and slots) [`ShmRing`] creates: 4 GiB.
pub const MAX_RING_BYTES: u64 = 4 << 30;

/// Which side of a ring an attached process is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A sender (for MPMC, the owner of one lane).
    Producer,
    /// A receiver.
    Consumer,
}

impl Role {
    /// `"producer"` or `"consumer"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(kipc_host::ring::Role::Consumer.name(), "consumer");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        }
    }
}

/// One process recorded in a ring's header, as [`ShmRing::info`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// Producer or consumer.
    pub role: Role,
    /// For MPMC producers, the lane they own.
    pub lane: Option<u32>,
    /// The pid recorded in the header (written by the peer: a claim, not proof).
    pub pid: u32,
    /// Whether that process is alive now (a pidfd poll; a zombie is dead).
    pub alive: bool,
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
    /// Messages queued, if they could be counted (an SPSC ring whose both
    /// handles are taken in this process, or a corrupt one, cannot be).
    pub queued: Option<usize>,
    /// Bytes of the mapping.
    pub size: usize,
    /// Every process recorded in the header.
    pub attached: Vec<Attached>,
}

/// The core region laid over the segment.
#[derive(Debug)]
enum Queue {
    Spsc(spsc::Region),
    Mpmc(mpmc::Region),
}

impl Queue {
    fn not_empty(&self) -> &Doorbell {
        match self {
            Queue::Spsc(r) => r.not_empty(),
            Queue::Mpmc(r) => r.not_empty(),
        }
    }

    fn not_full(&self) -> &Doorbell {
        match self {
            Queue::Spsc(r) => r.not_full(),
            Queue::Mpmc(r) => r.not_full(),
        }
    }

    /// Changes both doorbell words and wakes every sleeper on them.
    fn wake_everyone(&self) {
        futex::ring_all(self.not_empty());
        futex::ring_all(self.not_full());
    }
}

/// A ring in shared memory. See the [module documentation](self).
#[derive(Debug)]
pub struct ShmRing {
    // Declared before `segment`: the region points into the mapping.
    queue: Queue,
    segment: Segment,
    /// Our pid, the id we claim sides with.
    me: NonZeroU32,
}

/// Our pid as a non-zero `u32` (a pid is always positive).
fn my_id() -> NonZeroU32 {
    NonZeroU32::new(std::process::id()).unwrap_or(NonZeroU32::MIN)
}

/// Maps core `PeerDead` to the host's, so callers match one variant.
fn from_core(e: CoreError) -> Error {
    match e {
        CoreError::PeerDead => Error::PeerDead,
        other => Error::from(other),
    }
}

/// Whether the process `pid` (read from a header) is alive. A value that is
/// no valid pid is dead; a pid we cannot check is assumed alive.
fn pid_alive_now(pid: u32) -> bool {
    match i32::try_from(pid) {
        Ok(p) if p > 0 => match PeerWatch::new(p) {
            Ok(w) => w.is_alive(),
            Err(Error::InvalidArgument { .. }) => false,
            Err(_) => true,
        },
        _ => false,
    }
}

/// Lazily opened pidfds for the pids a waiter watches.
#[derive(Debug, Default)]
struct Watches {
    watches: Vec<(u32, Option<PeerWatch>)>,
}

impl Watches {
    /// Whether `pid` is alive, opening (and keeping) a pidfd on first sight.
    fn alive(&mut self, pid: u32) -> bool {
        if let Some((_, w)) = self.watches.iter().find(|(p, _)| *p == pid) {
            return w.as_ref().is_some_and(PeerWatch::is_alive);
        }
        let (watch, alive) = match i32::try_from(pid) {
            Ok(p) if p > 0 => match PeerWatch::new(p) {
                Ok(w) => {
                    let alive = w.is_alive();
                    (Some(w), alive)
                }
                Err(Error::InvalidArgument { .. }) => (None, false),
                // Unknown: assume alive, and ask again next time.
                Err(_) => return true,
            },
            _ => (None, false),
        };
        // Keep the cache small: a ring names at most 64 + 16 pids.
        if self.watches.len() >= 128 {
            self.watches.clear();
        }
        self.watches.push((pid, watch));
        alive
    }
}

impl ShmRing {
    /// Creates the named ring `/dev/shm/kipc.NAME` (`0600`, `O_EXCL`), sized
    /// by [`RingConfig::region_size`], and initialises it. No side is claimed.
    ///
    /// On any failure nothing is left behind: the geometry is checked before
    /// the segment is created, and the name is unlinked if initialising fails.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::Core`] with `InvalidGeometry` for a bad
    /// configuration; [`Error::Sys`] from `shm_open` (`EEXIST` if the name is
    /// taken), `fallocate` or `mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let name = format!("doc-ring-create-{}", std::process::id());
    /// let ring = ShmRing::create(&name, RingConfig::spsc(4, 32))?;
    /// assert_eq!(ring.name(), Some(name.as_str()));
    /// assert!(ShmRing::create(&name, RingConfig::spsc(4, 32)).is_err());
    /// ShmRing::unlink(&name)?;
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn create(name: &str, config: RingConfig) -> Result<Self> {
        crate::name::validate(name)?;
        let len = config.region_size()?;
        segment::create_named(name, len, |seg| Self::init(seg, config))
    }

    /// Creates an anonymous ring in a sealed memfd; share it by passing
    /// [`fd`](Self::fd) to another process, which calls
    /// [`from_fd`](Self::from_fd). Nothing outlives the last descriptor.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] with `InvalidGeometry`; [`Error::Sys`] from
    /// `memfd_create`, `fallocate`, `fcntl` or `mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let ring = ShmRing::create_anonymous(RingConfig::mpmc(2, 4, 16))?;
    /// assert_eq!(ring.name(), None);
    /// assert_eq!(ring.info().slots, 4);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn create_anonymous(config: RingConfig) -> Result<Self> {
        let len = config.region_size()?;
        Self::init(Segment::anonymous("ring", len)?, config)
    }

    fn init(segment: Segment, config: RingConfig) -> Result<Self> {
        let (base, len) = (segment.as_ptr(), segment.len());
        let queue = match config.kind {
            RingKind::Spsc => {
                // SAFETY: the mapping is `len` bytes, readable and writable,
                // owned by `segment`, which the returned ring keeps (and drops
                // after the region); it was just created, so no other process
                // has it yet.
                let r = unsafe { spsc::Region::init(base, len, config.slots, config.slot_size) };
                Queue::Spsc(r.map_err(Error::from)?)
            }
            RingKind::Mpmc { lanes } => {
                // SAFETY: as for the SPSC case.
                let r =
                    unsafe { mpmc::Region::init(base, len, lanes, config.slots, config.slot_size) };
                Queue::Mpmc(r.map_err(Error::from)?)
            }
        };
        Ok(Self {
            queue,
            segment,
            me: my_id(),
        })
    }

    /// Opens the named ring, waiting up to [`OPEN_WAIT`] (1 s) for a creator
    /// that has not finished initialising it.
    ///
    /// # Errors
    ///
    /// As [`open_timeout`](Self::open_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, RingKind, ShmRing};
    /// let name = format!("doc-ring-open-{}", std::process::id());
    /// let _created = ShmRing::create(&name, RingConfig::mpmc(2, 8, 16))?;
    /// let ring = ShmRing::open(&name)?;
    /// assert_eq!(ring.kind(), RingKind::Mpmc { lanes: 2 });
    /// ShmRing::unlink(&name)?;
    /// assert!(ShmRing::open(&name).is_err());
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        Self::open_timeout(name, OPEN_WAIT)
    }

    /// Opens the named ring, retrying for up to `wait` while the segment is
    /// still empty or its header unpublished.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::Sys`] from `shm_open` (`ENOENT`: no
    /// such ring), `fstat` or `mmap`; [`Error::NotOwner`]/[`Error::BadMode`]
    /// (see [`crate::shm`]); [`Error::NotReady`] if it is still not
    /// initialised after `wait`; [`Error::Core`] with `BadLayout` (not a ring,
    /// or a damaged header) or `RegionTooSmall`.
    pub fn open_timeout(name: &str, wait: Duration) -> Result<Self> {
        segment::open_named(name, wait, Self::attach)
    }

    /// Attaches to an initialised ring in a memfd received from its creator
    /// (after checking its seals and size; see [`MemfdSegment::from_fd`](crate::memfd::MemfdSegment::from_fd)).
    ///
    /// # Errors
    ///
    /// [`Error::NotSealed`], [`Error::SizeMismatch`], [`Error::Sys`] from
    /// `fcntl`, `fstat` or `mmap`; [`Error::NotReady`] if the header is not
    /// published; [`Error::Core`] with `BadLayout` or `RegionTooSmall`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let a = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
    /// let fd = a.fd().try_clone_to_owned().unwrap();
    /// let b = ShmRing::from_fd(fd)?;
    /// a.sender()?.try_send(b"hi")?;
    /// let mut buf = [0; 16];
    /// assert_eq!(b.receiver()?.try_recv(&mut buf)?, 2);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn from_fd(fd: OwnedFd) -> Result<Self> {
        Self::attach(Segment::from_fd(fd)?)
    }

    fn attach(segment: Segment) -> Result<Self> {
        let (base, len) = (segment.as_ptr(), segment.len());
        // SAFETY: the mapping is readable for `len` bytes while `segment` lives.
        let kind = unsafe { kipc_core::region::probe_kind(base, len) }.map_err(Error::from)?;
        let queue = match kind {
            // SAFETY: the mapping is `len` bytes, readable and writable, kept
            // alive by `segment`, which the returned ring owns and drops after
            // the region; this process touches it only through kipc.
            Kind::Spsc => Queue::Spsc(unsafe { spsc::Region::attach(base, len) }?),
            // SAFETY: as above.
            Kind::Mpmc => Queue::Mpmc(unsafe { mpmc::Region::attach(base, len) }?),
            _ => {
                return Err(Error::Core(CoreError::BadLayout {
                    what: "segment holds a kipc object that is not a ring",
                }))
            }
        };
        Ok(Self {
            queue,
            segment,
            me: my_id(),
        })
    }

    /// `shm_unlink("/kipc.NAME")`: removes the ring's name. Processes that
    /// have it open keep using it; the memory goes with the last mapping.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::Sys`] (`ENOENT` if there is none).
    pub fn unlink(name: &str) -> Result<()> {
        ShmSegment::unlink(name)
    }

    /// The kipc name, or `None` for a memfd ring.
    pub fn name(&self) -> Option<&str> {
        self.segment.name()
    }

    /// The descriptor of the segment (for a memfd ring, the one to pass to a
    /// peer; [`from_fd`](Self::from_fd) accepts only sealed memfds).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.segment.fd()
    }

    /// SPSC or MPMC.
    pub fn kind(&self) -> RingKind {
        match &self.queue {
            Queue::Spsc(_) => RingKind::Spsc,
            Queue::Mpmc(r) => RingKind::Mpmc { lanes: r.lanes() },
        }
    }

    /// Largest message in bytes.
    pub fn slot_size(&self) -> usize {
        match &self.queue {
            Queue::Spsc(r) => r.slot_size(),
            Queue::Mpmc(r) => r.slot_size() as usize,
        }
    }

    /// Slots (per lane for MPMC).
    pub fn slots(&self) -> usize {
        match &self.queue {
            Queue::Spsc(r) => r.capacity(),
            Queue::Mpmc(r) => r.slots_per_lane() as usize,
        }
    }

    /// Messages queued now, or `None` if they cannot be counted (SPSC with
    /// both handles of this `ShmRing` taken, or indices out of range).
    pub fn queued(&self) -> Option<usize> {
        match &self.queue {
            Queue::Spsc(r) => match r.producer() {
                Ok(p) => p.len().ok(),
                Err(_) => r.consumer().ok().and_then(|c| c.len().ok()),
            },
            Queue::Mpmc(r) => Some(r.len()),
        }
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
        let mut attached = Vec::new();
        let mut push = |role, lane, pid: u32| {
            attached.push(Attached {
                role,
                lane,
                pid,
                alive: pid_alive_now(pid),
            })
        };
        match &self.queue {
            Queue::Spsc(r) => {
                if let Some(pid) = r.producer_endpoint().owner() {
                    push(Role::Producer, None, pid.get());
                }
                if let Some(pid) = r.consumer_endpoint().owner() {
                    push(Role::Consumer, None, pid.get());
                }
            }
            Queue::Mpmc(r) => {
                for lane in 0..r.lanes() {
                    match r.lane_owner(lane) {
                        Ok(pid) if pid != 0 => push(Role::Producer, Some(lane), pid),
                        _ => {}
                    }
                }
                for pid in r.consumer_ids().into_iter().filter(|&p| p != 0) {
                    push(Role::Consumer, None, pid);
                }
            }
        }
        RingInfo {
            name: self.name().map(str::to_string),
            kind: self.kind(),
            slots: self.slots() as u32,
            slot_size: self.slot_size() as u32,
            queued: self.queued(),
            size: self.segment.len(),
            attached,
        }
    }

    /// Claims the producer side (SPSC) or a free lane (MPMC) for this process.
    ///
    /// A side (or, when every lane is taken, a lane) whose recorded owner has
    /// exited is reclaimed: published messages stay queued and the new sender
    /// continues after them.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] with `InUse` (SPSC: a live process, possibly this one,
    /// owns the producer side) or `NoFreeLane` (MPMC: every lane is owned by
    /// a live process); `Corrupt` if the header's indices are out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
    /// let tx = ring.sender()?;
    /// assert!(ring.sender().is_err()); // one producer
    /// drop(tx);
    /// assert!(ring.sender().is_ok()); // released on drop
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn sender(&self) -> Result<Sender<'_>> {
        let inner = match &self.queue {
            Queue::Spsc(r) => {
                SenderInner::Spsc(claim_spsc_side(r.producer_endpoint(), self.me, || {
                    r.producer()
                })?)
            }
            Queue::Mpmc(r) => SenderInner::Mpmc(claim_lane(r, self.me)?),
        };
        Ok(Sender {
            ring: self,
            inner: Some(inner),
            watches: RefCell::new(Watches::default()),
        })
    }

    /// Claims the consumer side (SPSC) or a consumer record (MPMC) for this
    /// process, reclaiming it from an exited owner as [`sender`](Self::sender)
    /// does.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] with `InUse` (SPSC: a live process owns the consumer
    /// side; MPMC: all 16 consumer records belong to live processes);
    /// `Corrupt` if the header's indices are out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
    /// let rx = ring.receiver()?;
    /// assert!(ring.receiver().is_err());
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn receiver(&self) -> Result<Receiver<'_>> {
        let inner = match &self.queue {
            Queue::Spsc(r) => {
                ReceiverInner::Spsc(claim_spsc_side(r.consumer_endpoint(), self.me, || {
                    r.consumer()
                })?)
            }
            Queue::Mpmc(r) => ReceiverInner::Mpmc(attach_consumer(r, self.me)?),
        };
        Ok(Receiver {
            ring: self,
            inner: Some(inner),
            watches: RefCell::new(Watches::default()),
        })
    }

    /// Whether the ring names at least one process and every process it
    /// names has exited: what `kipc ls --prune` removes. A ring naming nobody
    /// is *not* stale (its owner is unknown).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
    /// assert!(!ring.is_stale()); // nobody recorded: unknown, keep
    /// let _tx = ring.sender()?;
    /// assert!(!ring.is_stale()); // we are alive
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn is_stale(&self) -> bool {
        let info = self.info();
        !info.attached.is_empty() && info.attached.iter().all(|a| !a.alive)
    }
}

/// Claims an SPSC endpoint for `me`, reclaiming it from an exited owner.
fn claim_endpoint(ep: &Endpoint, me: NonZeroU32) -> Result<()> {
    // A few rounds: the owner may release or die between our reads.
    for _ in 0..4 {
        match ep.claim(me) {
            Ok(()) => return Ok(()),
            Err(CoreError::InUse) => {}
            Err(e) => return Err(from_core(e)),
        }
        match ep.owner() {
            None => continue,
            Some(owner) if owner != me && !pid_alive_now(owner.get()) => {
                match ep.reclaim(owner, me) {
                    Ok(()) => return Ok(()),
                    Err(_) => continue,
                }
            }
            Some(_) => break,
        }
    }
    Err(Error::Core(CoreError::InUse))
}

/// Claims an MPMC lane for `me`; when none is free, reclaims one whose owner
/// has exited.
fn claim_lane(r: &mpmc::Region, me: NonZeroU32) -> Result<mpmc::RegionProducer> {
    match r.producer(me.get()) {
        Ok(p) => return Ok(p),
        Err(CoreError::NoFreeLane) => {}
        Err(e) => return Err(from_core(e)),
    }
    for lane in 0..r.lanes() {
        let owner = r.lane_owner(lane).map_err(from_core)?;
        if owner == 0 || owner == me.get() || pid_alive_now(owner) {
            continue;
        }
        if r.lane_state(lane) != Ok(mpmc::LaneState::Dead) {
            if r.lane_owner(lane) != Ok(owner) {
                continue;
            }
            r.mark_lane_dead(lane).map_err(from_core)?;
            futex::ring_all(r.not_empty());
            futex::ring_all(r.not_full());
        }
        if let Ok(p) = r.reclaim_lane(lane, owner, me.get()) {
            return Ok(p);
        }
    }
    // A lane may have been closed meanwhile.
    r.producer(me.get()).map_err(from_core)
}

/// Attaches an MPMC consumer for `me`; when every record is taken, evicts
/// records of exited processes and tries once more.
fn attach_consumer(r: &mpmc::Region, me: NonZeroU32) -> Result<mpmc::RegionConsumer> {
    match r.consumer(me.get()) {
        Ok(c) => return Ok(c),
        Err(CoreError::InUse) => {}
        Err(e) => return Err(from_core(e)),
    }
    for id in r.consumer_ids() {
        if id != 0 && id != me.get() && !pid_alive_now(id) {
            r.evict_consumer(id);
        }
    }
    r.consumer(me.get()).map_err(from_core)
}

#[derive(Debug)]
enum SenderInner<'a> {
    Spsc(spsc::RegionProducer<'a>),
    Mpmc(mpmc::RegionProducer),
}

/// The sending side of a [`ShmRing`] (see [`ShmRing::sender`]). Dropping it
/// releases the side and wakes the peer.
#[derive(Debug)]
pub struct Sender<'a> {
    ring: &'a ShmRing,
    /// Always `Some` until `drop`, which takes it to release it before ringing.
    inner: Option<SenderInner<'a>>,
    watches: RefCell<Watches>,
}

/// Claims one side of an SPSC ring for `me` (reclaiming it from an exited
/// owner), then makes its handle; releases the claim if that fails.
fn claim_spsc_side<H>(
    ep: &Endpoint,
    me: NonZeroU32,
    handle: impl FnOnce() -> core::result::Result<H, kipc_core::Error>,
) -> Result<H> {
    claim_endpoint(ep, me)?;
    handle().map_err(|e| {
        let _ = ep.release(me);
        from_core(e)
    })
}

/// Whether a consumer is (possibly) alive, as a sender's wait sees it.
fn consumer_alive(queue: &Queue, me: NonZeroU32, watches: &RefCell<Watches>) -> bool {
    let mut w = watches.borrow_mut();
    match queue {
        Queue::Spsc(r) => match r.consumer_endpoint().owner() {
            None => true,
            Some(pid) if pid == me => true,
            Some(pid) if w.alive(pid.get()) => true,
            Some(pid) => {
                // Record the death in the header, so `try_send` and every
                // other process attached to the ring see it too. Narrow race:
                // a reclaim between this read and the mark (as for MPMC lanes).
                if r.consumer_endpoint().owner() == Some(pid) {
                    r.mark_consumer_dead();
                    queue.wake_everyone();
                }
                false
            }
        },
        Queue::Mpmc(r) => {
            let ids: Vec<u32> = r.consumer_ids().into_iter().filter(|&i| i != 0).collect();
            if ids.is_empty() || ids.iter().any(|&id| id == me.get() || w.alive(id)) {
                return true;
            }
            // Every recorded consumer has exited: nobody will take what we send.
            for id in ids {
                r.evict_consumer(id);
            }
            r.mark_consumers_dead();
            queue.wake_everyone();
            false
        }
    }
}

/// Whether a producer is (possibly) alive, as a receiver's wait sees it. For
/// MPMC it marks lanes of exited owners dead (which wakes everyone) and
/// leaves the verdict to the core.
fn producer_alive(queue: &Queue, me: NonZeroU32, watches: &RefCell<Watches>) -> bool {
    let mut w = watches.borrow_mut();
    match queue {
        Queue::Spsc(r) => match r.producer_endpoint().owner() {
            None => true,
            Some(pid) if pid == me => true,
            Some(pid) if w.alive(pid.get()) => true,
            Some(pid) => {
                // As in `consumer_alive`: make the death visible to
                // `try_recv` and to every other process.
                if r.producer_endpoint().owner() == Some(pid) {
                    r.mark_producer_dead();
                    queue.wake_everyone();
                }
                false
            }
        },
        Queue::Mpmc(r) => {
            let mut marked = false;
            for lane in 0..r.lanes() {
                let Ok(owner) = r.lane_owner(lane) else {
                    continue;
                };
                if owner == 0
                    || owner == me.get()
                    || r.lane_state(lane) != Ok(mpmc::LaneState::Live)
                {
                    continue;
                }
                if !w.alive(owner) && r.lane_owner(lane) == Ok(owner) {
                    // Races with a reclaim only if another process reclaims
                    // this very lane between the two reads above.
                    let _ = r.mark_lane_dead(lane);
                    marked = true;
                }
            }
            if marked {
                queue.wake_everyone();
            }
            true
        }
    }
}

/// `Instant::now() + d`, or no deadline if that overflows.
fn deadline_after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

impl<'a> Sender<'a> {
    fn inner(&mut self) -> Result<&mut SenderInner<'a>> {
        self.inner.as_mut().ok_or(Error::PeerDead)
    }

    /// Sends `msg` if there is room now, then wakes a sleeping receiver.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] with `Full`, `TooLarge`, `Corrupt`, or `InUse` (MPMC:
    /// our lane was marked dead or reclaimed); [`Error::PeerDead`] if the
    /// consumer side is marked dead.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{Error, ring::{RingConfig, ShmRing}};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(1, 8))?;
    /// let mut tx = ring.sender()?;
    /// tx.try_send(b"one")?;
    /// assert_eq!(tx.try_send(b"two"), Err(Error::Core(kipc_core::Error::Full)));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn try_send(&mut self, msg: &[u8]) -> Result<()> {
        let r = match self.inner()? {
            SenderInner::Spsc(p) => p.try_send(msg),
            SenderInner::Mpmc(p) => p.try_send(msg),
        };
        r.map_err(from_core)?;
        futex::ring(self.ring.queue.not_empty());
        Ok(())
    }

    /// Sends `msg`, waiting as long as it takes for room.
    ///
    /// # Errors
    ///
    /// As [`send_timeout`](Self::send_timeout), without `Timeout`.
    pub fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.send_until(msg, None)
    }

    /// Sends `msg`, waiting up to `timeout` for room (spin, then futex sleep).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; [`Error::PeerDead`] if the consumer process exited
    /// while the ring was full (noticed within about 20 ms); as
    /// [`try_send`](Self::try_send) otherwise (except `Full`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use kipc_host::{Error, ring::{RingConfig, ShmRing}};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(1, 8))?;
    /// let mut tx = ring.sender()?;
    /// tx.send_timeout(b"a", Duration::from_millis(10))?;
    /// assert_eq!(tx.send_timeout(b"b", Duration::from_millis(10)), Err(Error::Timeout));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<()> {
        self.send_until(msg, deadline_after(timeout))
    }

    fn send_until(&mut self, msg: &[u8], deadline: Option<Instant>) -> Result<()> {
        let ring = self.ring;
        let watches = &self.watches;
        let inner = self.inner.as_mut().ok_or(Error::PeerDead)?;
        let op = || {
            let r = match inner {
                SenderInner::Spsc(p) => p.try_send(msg),
                SenderInner::Mpmc(p) => p.try_send(msg),
            };
            match r {
                Err(CoreError::Full) => None,
                other => Some(other.map_err(from_core)),
            }
        };
        let alive = || consumer_alive(&ring.queue, ring.me, watches);
        futex::wait_until(
            ring.queue.not_full(),
            futex::DEFAULT_SPIN_ITERS,
            deadline,
            &alive,
            op,
        )??;
        futex::ring(ring.queue.not_empty());
        Ok(())
    }

    /// Zero-copy send (SPSC only): reserves a `len`-byte message in the next
    /// slot, waiting up to `timeout` (`None`: forever) for room, lets `fill`
    /// write it in place through a [`SlotWriter`], and publishes it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] on an MPMC ring; otherwise as
    /// [`send_timeout`](Self::send_timeout). `fill` is called only when the
    /// message will be sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
    /// let mut tx = ring.sender()?;
    /// tx.send_with(8, None, |w| {
    ///     w.write_at(0, &42u64.to_le_bytes()).unwrap();
    /// })?;
    /// let mut buf = [0; 16];
    /// assert_eq!(ring.receiver()?.try_recv(&mut buf)?, 8);
    /// assert_eq!(buf[0], 42);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn send_with(
        &mut self,
        len: usize,
        timeout: Option<Duration>,
        fill: impl FnOnce(&mut SlotWriter<'_>),
    ) -> Result<()> {
        let ring = self.ring;
        let watches = &self.watches;
        let Some(SenderInner::Spsc(p)) = self.inner.as_mut() else {
            return Err(Error::InvalidArgument {
                object: "ring".to_string(),
                reason: "zero-copy send needs an SPSC ring",
            });
        };
        let capacity = p.capacity();
        let mut fill = Some(fill);
        let op = || {
            // Only this producer adds messages, so room seen now stays room:
            // `try_send_with` below will not fail with `Full` and drop `fill`.
            match p.len() {
                Ok(n) if n >= capacity && len <= p.slot_size() => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(from_core(e))),
            }
            match fill.take() {
                Some(f) => Some(p.try_send_with(len, f).map_err(from_core)),
                None => Some(Err(Error::Core(CoreError::Full))),
            }
        };
        let alive = || consumer_alive(&ring.queue, ring.me, watches);
        let deadline = timeout.and_then(deadline_after);
        futex::wait_until(
            ring.queue.not_full(),
            futex::DEFAULT_SPIN_ITERS,
            deadline,
            &alive,
            op,
        )??;
        futex::ring(ring.queue.not_empty());
        Ok(())
    }

    /// Largest message in bytes.
    pub fn max_len(&self) -> usize {
        self.ring.slot_size()
    }

    /// For MPMC, the lane this sender owns.
    pub fn lane(&self) -> Option<u32> {
        match &self.inner {
            Some(SenderInner::Mpmc(p)) => Some(p.lane()),
            _ => None,
        }
    }
}

impl Drop for Sender<'_> {
    fn drop(&mut self) {
        match self.inner.take() {
            Some(SenderInner::Spsc(p)) => {
                drop(p);
                if let Queue::Spsc(r) = &self.ring.queue {
                    // Fails only if the side was reclaimed from us: not ours.
                    let _ = r.producer_endpoint().release(self.ring.me);
                }
            }
            // The core closes the lane in the handle's drop.
            Some(SenderInner::Mpmc(p)) => drop(p),
            None => {}
        }
        self.ring.queue.wake_everyone();
    }
}

#[derive(Debug)]
enum ReceiverInner<'a> {
    Spsc(spsc::RegionConsumer<'a>),
    Mpmc(mpmc::RegionConsumer),
}

/// The receiving side of a [`ShmRing`] (see [`ShmRing::receiver`]). Dropping
/// it releases the side and wakes the peer.
#[derive(Debug)]
pub struct Receiver<'a> {
    ring: &'a ShmRing,
    /// Always `Some` until `drop`.
    inner: Option<ReceiverInner<'a>>,
    watches: RefCell<Watches>,
}

impl Receiver<'_> {
    /// Receives the oldest message into `buf` if there is one; returns its
    /// length and wakes a sleeping sender.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] with `Empty`, `TooLarge` (`buf` too small; the message
    /// stays queued) or `Corrupt`; [`Error::PeerDead`] when empty and the
    /// producer side is marked dead (SPSC) or gone (MPMC, see the
    /// [module documentation](self)).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{Error, ring::{RingConfig, ShmRing}};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 8))?;
    /// let mut rx = ring.receiver()?;
    /// let mut buf = [0; 8];
    /// assert_eq!(rx.try_recv(&mut buf), Err(Error::Core(kipc_core::Error::Empty)));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        let inner = self.inner.as_mut().ok_or(Error::PeerDead)?;
        let n = recv_once(inner, buf).map_err(from_core)?;
        futex::ring(self.ring.queue.not_full());
        Ok(n)
    }

    /// Receives the oldest message, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout), without `Timeout`.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_until(buf, None)
    }

    /// Receives the oldest message, waiting up to `timeout` (spin, then
    /// futex sleep).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; [`Error::PeerDead`] once the ring is drained and
    /// the producer process has exited (noticed within about 20 ms); as
    /// [`try_recv`](Self::try_recv) otherwise (except `Empty`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use kipc_host::{Error, ring::{RingConfig, ShmRing}};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 8))?;
    /// let mut rx = ring.receiver()?;
    /// let mut buf = [0; 8];
    /// assert_eq!(rx.recv_timeout(&mut buf, Duration::from_millis(10)), Err(Error::Timeout));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        self.recv_until(buf, deadline_after(timeout))
    }

    fn recv_until(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize> {
        let ring = self.ring;
        let watches = &self.watches;
        let inner = self.inner.as_mut().ok_or(Error::PeerDead)?;
        let op = || match recv_once(inner, buf) {
            Err(CoreError::Empty) => None,
            other => Some(other.map_err(from_core)),
        };
        let alive = || producer_alive(&ring.queue, ring.me, watches);
        let n = futex::wait_until(
            ring.queue.not_empty(),
            futex::DEFAULT_SPIN_ITERS,
            deadline,
            &alive,
            op,
        )??;
        futex::ring(ring.queue.not_full());
        Ok(n)
    }

    /// Largest message in bytes (a `buf` this long always fits).
    pub fn max_len(&self) -> usize {
        self.ring.slot_size()
    }
}

fn recv_once(inner: &mut ReceiverInner<'_>, buf: &mut [u8]) -> Result<usize, CoreError> {
    match inner {
        ReceiverInner::Spsc(c) => c.try_recv(buf),
        ReceiverInner::Mpmc(c) => c.try_recv(buf).map(|(n, _lane)| n),
    }
}

impl Drop for Receiver<'_> {
    fn drop(&mut self) {
        match self.inner.take() {
            Some(ReceiverInner::Spsc(c)) => {
                drop(c);
                if let Queue::Spsc(r) = &self.ring.queue {
                    let _ = r.consumer_endpoint().release(self.ring.me);
                }
            }
            Some(ReceiverInner::Mpmc(c)) => drop(c),
            None => {}
        }
        self.ring.queue.wake_everyone();
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

    fn unique(tag: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "unit-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
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
        assert_eq!(b.queued(), Some(2));
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
        let Queue::Spsc(r) = &ring.queue else {
            unreachable!()
        };
        drop(ring.sender().unwrap());
        assert_eq!(r.producer_endpoint().owner(), None);
        assert_eq!(
            r.producer_endpoint().state(),
            Ok(spsc::EndpointState::Closed)
        );
        // A pid that cannot exist (above pid_max's hard limit of 2^22).
        let ghost = NonZeroU32::new(1 << 30).unwrap();
        r.producer_endpoint().claim(ghost).unwrap();
        let tx = ring.sender().unwrap();
        assert_eq!(r.producer_endpoint().owner(), Some(ring.me));
        drop(tx);
        // A live owner (ourselves, through another handle) is refused.
        let _tx = ring.sender().unwrap();
        assert_eq!(ring.sender().unwrap_err(), Error::Core(CoreError::InUse));
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
        let Queue::Mpmc(r) = &ring.queue else {
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
        assert_eq!(
            ring.sender().unwrap_err(),
            Error::Core(CoreError::NoFreeLane)
        );
        // Lane of a "dead" owner: forget `b`, rewrite its owner to a ghost pid.
        let lane = b.lane().unwrap();
        std::mem::forget(b);
        let ghost = 1u32 << 30;
        // The lane's owner is us; mark it dead and hand it to the ghost, which
        // then "dies" (it is no process at all).
        r.mark_lane_dead(lane).unwrap();
        let ghost_lane = r.reclaim_lane(lane, ring.me.get(), ghost).unwrap();
        std::mem::forget(ghost_lane);
        let c = ring.sender().unwrap();
        assert_eq!(c.lane(), Some(lane));
        drop(a);
    }
}
