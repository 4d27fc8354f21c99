//! One endpoint type for every shared-memory queue: a segment (named POSIX
//! shm or a sealed memfd) with a core [`Queue`] laid over it, owner liveness,
//! and waiting. [`ShmRing`](crate::ring::ShmRing) and
//! [`Mailbox`](crate::mailbox::Mailbox) are names for [`ShmQueue`] over the
//! ring and mailbox layouts, so every constructor, claim, wait and liveness
//! check below is written once.
//!
//! # Ownership
//!
//! A [`ShmQueue`] is a cheap handle on a shared mapping (an [`Arc`]): clone it
//! freely. [`ShmQueue::sender`] and [`ShmQueue::receiver`] claim a side in the
//! core (for this process's pid) and return an owned [`Sender`] or
//! [`Receiver`] that keeps the mapping alive by itself: it is `Send +
//! 'static`, moves into threads and async tasks, and outlives the
//! `ShmQueue` it came from. Dropping a handle releases its side and wakes
//! every sleeper, so a waiting peer re-checks.
//!
//! # Waiting and liveness
//!
//! Blocking calls spin briefly, then sleep on the queue's doorbell with a
//! shared futex ([`crate::futex::wait_until`]). Every
//! [`LIVENESS_SLICE`](crate::futex::LIVENESS_SLICE) (20 ms) a sleeper asks the
//! core to [`reap`](Queue::reap) its dead peers, with verdicts from one
//! [`OwnerLocks`] (a lock per owner the kernel drops when it dies, exact
//! across pid namespaces); the core marks a dead peer with a
//! compare-and-swap, wakes everyone, and the waiter's next try reports
//! [`Error::PeerDead`] after delivering what was already published (the
//! mailbox instead recovers the dead owner's slots and goes on).
//!
//! Claims take over sides whose recorded owner has exited, with the same
//! verdicts.
//!
//! # Pollable
//!
//! Blocking calls wait on futexes, which cannot be registered with epoll.
//! For event loops, [`Receiver::into_pollable`] and [`Sender::into_pollable`]
//! give an endpoint its own wake descriptor ([`PollReceiver`],
//! [`PollSender`]: `AsFd`); a try that fails has armed it (see
//! [`crate::wake`]). The `&self` calls of a queue (the mailbox's) get the
//! same through [`ShmQueue::wake_fd`] and [`ShmQueue::try_or_arm`].
//!
//! # Examples
//!
//! A receiver moved into a thread after the ring value that made it is gone:
//!
//! ```
//! use kipc_host::ring::{RingConfig, ShmRing};
//! let ring = ShmRing::create_anonymous(RingConfig::spsc(8, 64))?;
//! let mut tx = ring.sender()?;
//! let mut rx = ring.receiver()?;
//! drop(ring);
//! let t = std::thread::spawn(move || {
//!     let mut buf = [0u8; 64];
//!     let n = rx.recv(&mut buf)?;
//!     Ok::<_, kipc_host::Error>(buf[..n].to_vec())
//! });
//! tx.send(b"hello")?;
//! assert_eq!(t.join().unwrap()?, b"hello");
//! # Ok::<(), kipc_host::Error>(())
//! ```

#![allow(unsafe_code)]

use core::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kipc_core::doorbell::Doorbell;
use kipc_core::queue::{Consumer, Producer, Queue, Role};
use kipc_core::region::{self, RegionFlags, SlotWriter};
use kipc_core::Error as CoreError;
use rustix::fd::{BorrowedFd, OwnedFd};

use crate::futex::{self, Fencing};
use crate::liveness::OwnerLocks;
use crate::wake::{Notifier, WakeDir, WakeFd};

mod pollable;
use crate::segment::{self, Segment};
use crate::shm::ShmSegment;
use crate::{Error, Result};
pub use pollable::{PollReceiver, PollSender};

/// How long [`ShmQueue::open`] waits for a creator to finish initialising.
pub const OPEN_WAIT: Duration = Duration::from_secs(1);

/// Largest segment kipc creates for one queue (4 GiB): a geometry that needs
/// more is refused before anything is allocated.
pub const MAX_QUEUE_BYTES: u64 = 4 << 30;

/// A core queue layout the host can create in and attach to a segment.
pub trait QueueLayout: Queue + 'static {
    /// What the creator chooses (the geometry).
    type Config: Clone + fmt::Debug;

    /// What the object is called in errors (`"ring"`, `"mailbox"`).
    const OBJECT: &'static str;

    /// Bytes the layout for `config` needs.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] with `InvalidGeometry` (also above
    /// [`MAX_QUEUE_BYTES`]).
    fn region_size(config: &Self::Config) -> Result<usize>;

    /// Writes a fresh queue over `len` bytes at `base`, recording `flags`
    /// in its prologue.
    ///
    /// # Errors
    ///
    /// As the core layout's `init`.
    ///
    /// # Safety
    ///
    /// As the core layout's `init`.
    unsafe fn init(
        base: *mut u8,
        len: usize,
        config: &Self::Config,
        flags: RegionFlags,
    ) -> Result<Self, CoreError>;

    /// Attaches to a queue of this layout at `base`.
    ///
    /// # Errors
    ///
    /// As the core layout's `attach`.
    ///
    /// # Safety
    ///
    /// As the core layout's `attach`.
    unsafe fn attach(base: *mut u8, len: usize) -> Result<Self, CoreError>;
}

/// Checks a computed layout size against [`MAX_QUEUE_BYTES`]: a memfd has
/// no size limit and /dev/shm may be larger than RAM, so without the cap
/// `fallocate` of a huge geometry would run the machine out of memory
/// instead of failing.
pub(crate) fn checked_size(size: usize) -> Result<usize> {
    if size as u64 > MAX_QUEUE_BYTES {
        return Err(Error::Core(CoreError::InvalidGeometry {
            what: "queue would be larger than MAX_QUEUE_BYTES (4 GiB)",
        }));
    }
    Ok(size)
}

/// The queue and the mapping it points into, shared by every handle.
#[derive(Debug)]
struct Shared<Q> {
    // Declared before `segment`: the queue points into the mapping.
    queue: Q,
    segment: Segment,
    /// Our pid: the owner id of our claims.
    me: u32,
    /// Our owner lock, held while this process maps the segment, and the
    /// verdicts on everyone else's.
    owners: OwnerLocks,
    /// Sends wake-ups to waiters on wake descriptors ([`crate::wake`]).
    notifier: Notifier,
    /// How this queue's doorbells are used, from its prologue at attach
    /// ([`crate::barrier`]).
    fencing: Fencing,
}

impl<Q: Queue> Shared<Q> {
    /// Changes both doorbell words and wakes every waiter of both kinds:
    /// futex sleepers and armed descriptors, unconditionally (a waiter must
    /// re-check after a reap or a release even if it announced itself
    /// before a `ring_all` the core made on its own).
    fn wake_everyone(&self) {
        let _ = futex::ring_all(self.queue.not_empty());
        let _ = futex::ring_all(self.queue.not_full());
        self.notifier.notify(None);
    }

    /// After publishing a message: wakes waiting consumers.
    #[inline]
    fn ring_consumers(&self) {
        if futex::ring_with(self.queue.not_empty(), self.fencing).armed() {
            self.notifier.notify(Some(Role::Consumer));
        }
    }

    /// After freeing a slot: wakes waiting producers.
    #[inline]
    fn ring_producers(&self) {
        if futex::ring_with(self.queue.not_full(), self.fencing).armed() {
            self.notifier.notify(Some(Role::Producer));
        }
    }

    /// After a receive: wakes waiting producers if a slot was freed, which
    /// a receive does when it succeeds and when it consumes a corrupt
    /// message.
    #[inline]
    fn ring_if_freed<T>(&self, got: &Result<T>) {
        if matches!(got, Ok(_) | Err(Error::Corrupt { .. })) {
            self.ring_producers();
        }
    }

    /// Applies the verdicts on the peers of side `waiter` and wakes everyone
    /// if that changed anything; returns whether it did.
    fn reap(&self, waiter: Role) -> bool {
        let changed = self.queue.reap(waiter, self.me, &mut self.owners.oracle());
        if changed {
            self.wake_everyone();
        }
        changed
    }

    /// The event-loop form of a try (see [`crate::wake`]): runs `op`; if it
    /// reports nothing to do for `wake`'s side (`Empty` for a consumer,
    /// `Full` for a producer), drains `wake`, arms the side's doorbell and
    /// runs `op` once more. Once per liveness slice it also reaps dead peers
    /// and, if that changed anything, tries a third time (which reports
    /// `PeerDead` where the kind has one).
    fn try_or_arm<T>(&self, wake: &WakeFd, mut op: impl FnMut() -> Result<T>) -> Result<T> {
        let role = wake.role();
        let idle = |r: &Result<T>| match role {
            Role::Consumer => matches!(r, Err(Error::Empty)),
            Role::Producer => matches!(r, Err(Error::Full)),
        };
        let first = op();
        if !idle(&first) {
            return first;
        }
        wake.drain();
        match role {
            Role::Consumer => self.queue.not_empty().arm(),
            Role::Producer => self.queue.not_full().arm(),
        }
        // Fenced queue: the heavy barrier between arming and re-trying. If
        // it fails (ENOMEM, say), a notifier may have missed the arm: make
        // this side's descriptors readable ourselves, so the event loop
        // comes straight back instead of waiting for a wake-up that may
        // never be sent.
        if self.fencing == Fencing::Asymmetric && !crate::barrier::heavy() {
            self.notifier.notify(Some(role));
        }
        let second = op();
        if idle(&second) && wake.reap_due() && self.reap(role) {
            return op();
        }
        second
    }

    /// Spin, then sleep on `bell` until `op` gives an answer, reaping dead
    /// peers of side `waiter` every liveness slice.
    fn wait<T>(
        &self,
        waiter: Role,
        bell: &Doorbell,
        deadline: Option<Instant>,
        op: impl FnMut() -> Option<Result<T, CoreError>>,
    ) -> Result<T> {
        // Every liveness slice; always "go on": the core's next try reports
        // what the reap changed (PeerDead, or a recovered slot).
        let alive = || {
            self.reap(waiter);
            true
        };
        Ok(futex::wait_until_with(
            bell,
            self.fencing,
            futex::DEFAULT_SPIN_ITERS,
            deadline,
            &alive,
            op,
        )??)
    }
}

/// A process that a queue's header names, and whether it is alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// Producer or consumer.
    pub role: Role,
    /// The MPMC lane a producer holds.
    pub lane: Option<u32>,
    /// The recorded pid.
    pub pid: u32,
    /// Whether that process is alive now.
    pub alive: bool,
}

/// A queue in shared memory. See the [module documentation](self).
pub struct ShmQueue<Q: QueueLayout> {
    shared: Arc<Shared<Q>>,
}

impl<Q: QueueLayout> fmt::Debug for ShmQueue<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmQueue")
            .field("name", &self.name())
            .field("queue", &self.shared.queue)
            .finish()
    }
}

impl<Q: QueueLayout> Clone for ShmQueue<Q> {
    /// Another handle on the same mapping (no system call).
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Our pid, the owner id of our claims (a pid is always positive).
fn my_id() -> u32 {
    std::process::id().max(1)
}

/// `Instant::now() + d`, or no deadline if that overflows.
pub(crate) fn deadline_after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

impl<Q: QueueLayout> ShmQueue<Q> {
    /// Creates the named queue `/dev/shm/kipc.NAME` (`0600`, `O_EXCL`) and
    /// initialises it. Nothing is claimed.
    ///
    /// On any failure nothing is left behind: the geometry is checked before
    /// the segment is created, and the name is unlinked if initialising fails.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::Core`] with `InvalidGeometry` for a
    /// bad configuration; [`Error::Sys`]
    /// from `shm_open` (`EEXIST` if the name is taken), `fallocate` or `mmap`.
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
    pub fn create(name: &str, config: Q::Config) -> Result<Self> {
        crate::name::validate(name)?;
        let len = Q::region_size(&config)?;
        segment::create_named(name, len, |seg| Self::init(seg, &config))
    }

    /// Creates an anonymous queue in a sealed memfd; share it by passing
    /// [`fd`](Self::fd) to another process, which calls
    /// [`from_fd`](Self::from_fd). Nothing outlives the last descriptor.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create), with `memfd_create` and `fcntl` instead
    /// of `shm_open`.
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
    pub fn create_anonymous(config: Q::Config) -> Result<Self> {
        let len = Q::region_size(&config)?;
        Self::init(Segment::anonymous(Q::OBJECT, len)?, &config)
    }

    fn init(segment: Segment, config: &Q::Config) -> Result<Self> {
        // SAFETY: the mapping is `len` bytes, readable and writable, owned by
        // `segment`, which `Shared` keeps (and drops after the queue); it was
        // just created, so no other process has it yet.
        let flags = if crate::barrier::create_fenced() {
            RegionFlags::FENCED_WAITERS
        } else {
            RegionFlags::empty()
        };
        // SAFETY: as above.
        let queue = unsafe { Q::init(segment.as_ptr(), segment.len(), config, flags) }?;
        Self::from_parts(queue, segment)
    }

    fn from_parts(queue: Q, segment: Segment) -> Result<Self> {
        // SAFETY: the mapping is `len` readable bytes that `segment` keeps;
        // the queue attached to it, so its prologue is published. Read once:
        // a peer that rewrites the flags later changes nothing here.
        let flags = unsafe { region::probe_flags(segment.as_ptr(), segment.len()) }?;
        let fencing = if flags.contains(RegionFlags::FENCED_WAITERS) {
            // We will wait on this queue: we must be able to keep its promise.
            crate::barrier::register()?;
            Fencing::Asymmetric
        } else {
            Fencing::Symmetric
        };
        let me = my_id();
        // Before any claim can record `me` in the header.
        let owners = OwnerLocks::acquire(segment.fd(), me)?;
        let notifier = Notifier::new(WakeDir::for_segment(segment.fd(), segment.name())?);
        Ok(Self {
            shared: Arc::new(Shared {
                queue,
                segment,
                me,
                owners,
                notifier,
                fencing,
            }),
        })
    }

    /// Opens the named queue, waiting up to [`OPEN_WAIT`] (1 s) for a creator
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

    /// Opens the named queue, retrying for up to `wait` while the segment is
    /// still empty or its header unpublished.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::Sys`] from `shm_open` (`ENOENT`: no
    /// such object), `fstat` or `mmap`; [`Error::NotOwner`]/[`Error::BadMode`]
    /// (see [`crate::shm`]); [`Error::NotReady`] if it is still not
    /// initialised after `wait`; [`Error::Core`] with `BadLayout` (another
    /// kind of object, or a damaged header) or `RegionTooSmall`.
    pub fn open_timeout(name: &str, wait: Duration) -> Result<Self> {
        segment::open_named(name, wait, Self::attach)
    }

    /// Attaches to an initialised queue in a memfd received from its creator
    /// (after checking its seals and size; see
    /// [`MemfdSegment::from_fd`](crate::memfd::MemfdSegment::from_fd)).
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
        // SAFETY: the mapping is `len` bytes, readable and writable, kept
        // alive by `segment`, which `Shared` owns and drops after the queue;
        // this process touches it only through kipc.
        let queue = unsafe { Q::attach(segment.as_ptr(), segment.len()) }?;
        Self::from_parts(queue, segment)
    }

    /// `shm_unlink("/kipc.NAME")`: removes the name. Processes that have the
    /// object open keep using it; the memory goes with the last mapping.
    /// Also removes what crashed waiters left in the queue's wake directory
    /// (see [`crate::wake`]); live waiters get one spurious wake-up.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::Sys`] (`ENOENT` if there is none).
    pub fn unlink(name: &str) -> Result<()> {
        ShmSegment::unlink(name)?;
        crate::wake::sweep_named(name);
        Ok(())
    }

    /// Whether this queue's doorbells are fenced ([`crate::barrier`]): its
    /// notifiers read a doorbell with a plain load and its waiters run
    /// `membarrier` before they sleep. Decided by the creator, recorded in
    /// the queue, the same in every process that opened it.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
    /// assert_eq!(ring.fenced(), kipc_host::barrier::create_fenced());
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn fenced(&self) -> bool {
        self.shared.fencing == Fencing::Asymmetric
    }

    /// The kipc name, or `None` for a memfd queue.
    pub fn name(&self) -> Option<&str> {
        self.shared.segment.name()
    }

    /// The descriptor of the segment (for a memfd queue, the one to pass to
    /// a peer; [`from_fd`](Self::from_fd) accepts only sealed memfds).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.shared.segment.fd()
    }

    /// The core queue laid over the segment. Crate-private: the core value
    /// is `Clone` and can claim handles, and neither would keep the mapping
    /// alive, so safe code outside must not reach it (see
    /// [`raw_queue`](Self::raw_queue)).
    pub(crate) fn queue(&self) -> &Q {
        &self.shared.queue
    }

    /// The core queue laid over the segment, for code that drives the core
    /// protocol itself (the conformance tests do).
    ///
    /// # Safety
    ///
    /// The core value points into this queue's mapping without keeping it
    /// alive: no clone of it, and no handle claimed from it, may be used
    /// after the last `ShmQueue`, [`Sender`] and [`Receiver`] of this mapping
    /// is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::queue::Queue;
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
    /// // SAFETY: only used while `ring` lives.
    /// assert_eq!(unsafe { ring.raw_queue() }.capacity(), 4);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub unsafe fn raw_queue(&self) -> &Q {
        &self.shared.queue
    }

    /// Bytes of the segment.
    pub fn size(&self) -> usize {
        self.shared.segment.len()
    }

    /// Whether the name was unlinked (or replaced) since this handle opened
    /// it: a named object nobody can open any more. Always `false` for memfd
    /// queues.
    pub fn is_unlinked(&self) -> bool {
        match &self.shared.segment {
            Segment::Named(s) => rustix::fs::fstat(s).is_ok_and(|st| st.st_nlink == 0),
            Segment::Anon(_) => false,
        }
    }

    /// Every process the header records, with whether it is alive now.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, Role, ShmRing};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
    /// let _tx = ring.sender()?;
    /// let owners = ring.owners();
    /// assert_eq!(owners.len(), 1);
    /// assert_eq!((owners[0].role, owners[0].pid), (Role::Producer, std::process::id()));
    /// assert!(owners[0].alive);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn owners(&self) -> Vec<Attached> {
        let mut attached = Vec::new();
        self.shared.queue.owners(&mut |o| {
            attached.push(Attached {
                role: o.role,
                lane: o.lane,
                pid: o.id.get(),
                alive: self.shared.owners.is_alive(o.id.get()),
            })
        });
        attached
    }

    /// Whether the header names at least one process and every process it
    /// names has exited: what `kipc ls --prune` removes. A queue naming
    /// nobody is *not* stale (its owner is unknown).
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
        let owners = self.owners();
        !owners.is_empty() && owners.iter().all(|a| !a.alive)
    }

    /// Claims a producer place (the SPSC producer side, an MPMC lane, or a
    /// mailbox sender) for this process. A side whose recorded owner has
    /// exited is taken over: published messages stay queued.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] if live processes (possibly this one) hold every
    /// place; [`Error::Corrupt`] if the header's indices are out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{Error, ring::{RingConfig, ShmRing}};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
    /// let tx = ring.sender()?;
    /// assert_eq!(ring.sender().unwrap_err(), Error::Busy); // one producer
    /// drop(tx);
    /// assert!(ring.sender().is_ok()); // released on drop
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn sender(&self) -> Result<Sender<Q>> {
        let shared = &self.shared;
        let handle = shared
            .queue
            .claim_producer(shared.me, &mut shared.owners.oracle())?;
        Ok(Sender {
            handle: Some(handle),
            shared: Arc::clone(shared),
        })
    }

    /// Claims a consumer place for this process, taking over from an exited
    /// owner as [`sender`](Self::sender) does.
    ///
    /// # Errors
    ///
    /// As [`sender`](Self::sender).
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
    pub fn receiver(&self) -> Result<Receiver<Q>> {
        let shared = &self.shared;
        let handle = shared
            .queue
            .claim_consumer(shared.me, &mut shared.owners.oracle())?;
        Ok(Receiver {
            handle: Some(handle),
            shared: Arc::clone(shared),
        })
    }

    /// Applies liveness verdicts for a waiter on side `waiter` now (what a
    /// blocking call does every slice); returns whether anything changed.
    pub fn reap(&self, waiter: Role) -> bool {
        self.shared.reap(waiter)
    }

    /// This process's owner lock on the segment, and the verdicts on the
    /// other owners (see [`OwnerLocks`]).
    pub fn owner_locks(&self) -> &OwnerLocks {
        &self.shared.owners
    }

    /// Our owner id (this process's pid).
    pub(crate) fn me(&self) -> u32 {
        self.shared.me
    }

    /// After publishing a message: wakes waiting consumers (futex sleepers
    /// and armed descriptors).
    #[inline]
    pub(crate) fn ring_consumers(&self) {
        self.shared.ring_consumers();
    }

    /// After a receive: wakes waiting producers if a slot was freed.
    #[inline]
    pub(crate) fn ring_if_freed<T>(&self, got: &Result<T>) {
        self.shared.ring_if_freed(got);
    }

    /// Wakes every waiter of both sides and both kinds.
    pub(crate) fn wake_everyone(&self) {
        self.shared.wake_everyone();
    }

    /// A wake descriptor for a waiter of side `role` on this queue: bind it
    /// once, then pass it to [`try_or_arm`](Self::try_or_arm) and wait for
    /// it to become readable (see [`crate::wake`]). The owned endpoints wrap
    /// this as [`PollReceiver`] and [`PollSender`].
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] if the socket cannot be made or bound (for example a
    /// read-only `/dev/shm`); [`Error::InvalidArgument`] if the wake
    /// directory's path is taken by something that is not a directory.
    pub fn wake_fd(&self, role: Role) -> Result<WakeFd> {
        WakeFd::bind(self.shared.notifier.dir(), role)
    }

    /// Runs the try-operation `op` (a `&self` call on this queue, such as
    /// [`Mailbox::try_recv`](crate::mailbox::Mailbox::try_recv)) in event-loop
    /// form: when it reports nothing to do for `wake`'s side (`Empty` for a
    /// consumer, `Full` for a producer), `wake` is armed and `op` re-tried,
    /// so that a failure returned from here guarantees `wake` becomes
    /// readable when that side can make progress. Dead peers are reaped
    /// once per liveness slice.
    ///
    /// # Errors
    ///
    /// `op`'s.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::queue::Role;
    /// use kipc_host::{Error, mailbox::{Mailbox, MailboxConfig}};
    /// let mb = Mailbox::create_anonymous(MailboxConfig::new(4, 16))?;
    /// let wake = mb.wake_fd(Role::Consumer)?;
    /// let mut buf = [0; 16];
    /// assert_eq!(mb.try_or_arm(&wake, || mb.try_recv(&mut buf)), Err(Error::Empty));
    /// mb.try_send(b"hi", 3, 0)?; // makes `wake` readable
    /// let mut fds = [rustix::event::PollFd::new(&wake, rustix::event::PollFlags::IN)];
    /// assert_eq!(rustix::event::poll(&mut fds, None)?, 1);
    /// assert_eq!(mb.try_or_arm(&wake, || mb.try_recv(&mut buf))?.prio, 3);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn try_or_arm<T>(&self, wake: &WakeFd, op: impl FnMut() -> Result<T>) -> Result<T> {
        self.shared.try_or_arm(wake, op)
    }

    /// Spin, then sleep until `op` answers; see [`Shared::wait`].
    pub(crate) fn wait<T>(
        &self,
        waiter: Role,
        deadline: Option<Instant>,
        op: impl FnMut() -> Option<Result<T, CoreError>>,
    ) -> Result<T> {
        let q = &self.shared.queue;
        let bell = match waiter {
            Role::Producer => q.not_full(),
            Role::Consumer => q.not_empty(),
        };
        self.shared.wait(waiter, bell, deadline, op)
    }
}

/// The sending side of a [`ShmQueue`] (see [`ShmQueue::sender`]). Owns its
/// claim and a share of the mapping; dropping it releases the side and wakes
/// the peer.
pub struct Sender<Q: QueueLayout> {
    /// Always `Some` until `drop`, which releases it before waking.
    handle: Option<Q::Producer>,
    shared: Arc<Shared<Q>>,
}

impl<Q: QueueLayout> fmt::Debug for Sender<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

/// `None` on `Full`: the wait goes on.
fn unless_full<T>(r: Result<T, CoreError>) -> Option<Result<T, CoreError>> {
    match r {
        Err(CoreError::Full) => None,
        other => Some(other),
    }
}

/// `None` on `Empty`: the wait goes on.
fn unless_empty<T>(r: Result<T, CoreError>) -> Option<Result<T, CoreError>> {
    match r {
        Err(CoreError::Empty) => None,
        other => Some(other),
    }
}

impl<Q: QueueLayout> Sender<Q> {
    fn handle(&mut self) -> Result<&mut Q::Producer> {
        self.handle.as_mut().ok_or(Error::PeerDead)
    }

    /// The core handle (for kind-specific calls such as the MPMC lane).
    pub(crate) fn producer(&self) -> Option<&Q::Producer> {
        self.handle.as_ref()
    }

    /// Sends `msg` if there is room now, then wakes a sleeping receiver.
    ///
    /// # Errors
    ///
    /// [`Error::Full`], [`Error::TooLarge`], [`Error::Corrupt`];
    /// [`Error::Busy`] if this sender's side was taken over;
    /// [`Error::PeerDead`] if the consumer side is marked dead.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{Error, ring::{RingConfig, ShmRing}};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(1, 8))?;
    /// let mut tx = ring.sender()?;
    /// tx.try_send(b"one")?;
    /// assert_eq!(tx.try_send(b"two"), Err(Error::Full));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    #[inline]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<()> {
        self.handle()?.try_send(msg)?;
        self.shared.ring_consumers();
        Ok(())
    }

    /// Zero-copy form of [`try_send`](Self::try_send): reserves a `len`-byte
    /// message in the next free slot, lets `fill` write it in place through
    /// a [`SlotWriter`], and publishes it. `fill` is called only when the
    /// message will be sent; bytes it leaves unwritten hold what the slot
    /// held before.
    ///
    /// # Errors
    ///
    /// As [`try_send`](Self::try_send).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{Error, ring::{RingConfig, ShmRing}};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(1, 16))?;
    /// let mut tx = ring.sender()?;
    /// tx.try_send_with(3, |w| w.write_at(0, b"abc").unwrap())?;
    /// assert_eq!(tx.try_send_with(3, |_| unreachable!()), Err(Error::Full));
    /// let mut buf = [0; 16];
    /// assert_eq!(ring.receiver()?.try_recv(&mut buf)?, 3);
    /// assert_eq!(&buf[..3], b"abc");
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    #[inline]
    pub fn try_send_with(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut SlotWriter<'_>),
    ) -> Result<()> {
        self.handle()?.try_send_with(len, fill)?;
        self.shared.ring_consumers();
        Ok(())
    }

    /// Sends `msg`, waiting as long as it takes for room.
    ///
    /// # Errors
    ///
    /// As [`send_timeout`](Self::send_timeout), without `Timeout`.
    pub fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.send_deadline(msg, None)
    }

    /// Sends `msg`, waiting up to `timeout` for room (spin, then futex sleep).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; [`Error::PeerDead`] if the consumer process died
    /// holding its side while the queue was full (noticed within about
    /// 20 ms; a consumer that released its side cleanly left a vacant side a
    /// new consumer may take, so the wait goes on; a mailbox never reports
    /// it); as [`try_send`](Self::try_send) otherwise (except `Full`).
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
        self.send_deadline(msg, deadline_after(timeout))
    }

    /// Sends `msg`, waiting until `deadline` (`None`: forever) for room.
    ///
    /// # Errors
    ///
    /// As [`send_timeout`](Self::send_timeout).
    pub fn send_deadline(&mut self, msg: &[u8], deadline: Option<Instant>) -> Result<()> {
        let shared = &*self.shared;
        let handle = self.handle.as_mut().ok_or(Error::PeerDead)?;
        shared.wait(Role::Producer, shared.queue.not_full(), deadline, || {
            unless_full(handle.try_send(msg))
        })?;
        shared.ring_consumers();
        Ok(())
    }

    /// Zero-copy send: reserves a `len`-byte message in the next free slot,
    /// waiting up to `timeout` (`None`: forever) for room, lets `fill` write
    /// it in place through a [`SlotWriter`], and publishes it. Bytes `fill`
    /// leaves unwritten hold what the slot held before.
    ///
    /// # Errors
    ///
    /// As [`send_timeout`](Self::send_timeout). `fill` is called only when
    /// the message will be sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let ring = ShmRing::create_anonymous(RingConfig::mpmc(2, 4, 16))?;
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
        let shared = &*self.shared;
        let handle = self.handle.as_mut().ok_or(Error::PeerDead)?;
        let mut fill = Some(fill);
        shared.wait(
            Role::Producer,
            shared.queue.not_full(),
            timeout.and_then(deadline_after),
            || {
                // The core calls the closure only once room is reserved, so
                // on `Full` (or any error) `fill` is still ours to retry with.
                unless_full(handle.try_send_with(len, |w| {
                    if let Some(f) = fill.take() {
                        f(w);
                    }
                }))
            },
        )?;
        shared.ring_consumers();
        Ok(())
    }

    /// Largest message in bytes.
    pub fn max_len(&self) -> usize {
        self.shared.queue.max_msg()
    }
}

impl<Q: QueueLayout> Drop for Sender<Q> {
    fn drop(&mut self) {
        // The core releases the claim in the handle's drop; then wake, so a
        // peer sleeping on either doorbell re-checks at once.
        drop(self.handle.take());
        self.shared.wake_everyone();
    }
}

/// The receiving side of a [`ShmQueue`] (see [`ShmQueue::receiver`]). Owns
/// its claim and a share of the mapping; dropping it releases the side and
/// wakes the peer.
pub struct Receiver<Q: QueueLayout> {
    /// Always `Some` until `drop`.
    handle: Option<Q::Consumer>,
    shared: Arc<Shared<Q>>,
}

impl<Q: QueueLayout> fmt::Debug for Receiver<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl<Q: QueueLayout> Receiver<Q> {
    fn handle(&mut self) -> Result<&mut Q::Consumer> {
        self.handle.as_mut().ok_or(Error::PeerDead)
    }

    /// Receives the next message into `buf` if there is one; returns its
    /// length and wakes a sleeping sender.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`]; [`Error::TooLarge`] (`buf` too small; the message
    /// stays queued); [`Error::Corrupt`] (a bad message is consumed);
    /// [`Error::Busy`] if this receiver's side was taken over;
    /// [`Error::PeerDead`] when empty and the producers are gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{Error, ring::{RingConfig, ShmRing}};
    /// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 8))?;
    /// let mut rx = ring.receiver()?;
    /// let mut buf = [0; 8];
    /// assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    #[inline]
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        let got = self.handle()?.try_recv(buf).map_err(Error::from);
        self.shared.ring_if_freed(&got);
        got
    }

    /// Receives the next message, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout), without `Timeout`.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_deadline(buf, None)
    }

    /// Receives the next message, waiting up to `timeout` (spin, then futex
    /// sleep).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; [`Error::PeerDead`] once the queue is drained and
    /// the producers are gone (noticed within about 20 ms): for SPSC, the
    /// producer died holding its side (one that released it cleanly left a
    /// vacant side a new producer may take, so the wait goes on); for MPMC,
    /// no lane is owned by a live producer any more; a mailbox never reports
    /// it. As [`try_recv`](Self::try_recv) otherwise (except `Empty`).
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
        self.recv_deadline(buf, deadline_after(timeout))
    }

    /// Receives the next message, waiting until `deadline` (`None`:
    /// forever).
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout).
    pub fn recv_deadline(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize> {
        self.recv_with(deadline, |c| c.try_recv(buf))
    }

    /// Waits until `op` (a receive on the core handle) gives something other
    /// than `Empty`, then wakes a sleeping sender if it received.
    pub(crate) fn recv_with<T>(
        &mut self,
        deadline: Option<Instant>,
        mut op: impl FnMut(&mut Q::Consumer) -> Result<T, CoreError>,
    ) -> Result<T> {
        let shared = &*self.shared;
        let handle = self.handle.as_mut().ok_or(Error::PeerDead)?;
        let got = shared.wait(Role::Consumer, shared.queue.not_empty(), deadline, || {
            unless_empty(op(handle))
        });
        shared.ring_if_freed(&got);
        got
    }

    /// Largest message in bytes (a `buf` this long always fits).
    pub fn max_len(&self) -> usize {
        self.shared.queue.max_msg()
    }
}

impl<Q: QueueLayout> Drop for Receiver<Q> {
    fn drop(&mut self) {
        drop(self.handle.take());
        self.shared.wake_everyone();
    }
}

/// The queue behind an owned handle, for modules that add operations to
/// [`Sender`] and [`Receiver`] (`crate::typed`).
#[cfg(feature = "typed")]
impl<Q: QueueLayout> Sender<Q> {
    pub(crate) fn queue(&self) -> &Q {
        &self.shared.queue
    }
}

/// See the `Sender` block above.
#[cfg(feature = "typed")]
impl<Q: QueueLayout> Receiver<Q> {
    pub(crate) fn queue(&self) -> &Q {
        &self.shared.queue
    }
}
