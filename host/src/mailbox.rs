//! Mailboxes between processes: a segment plus the core's
//! [`kipc_core::mailbox::Region`] — a message queue with priorities and
//! SysV-style type selection, faster than `mq_send`/`msgsnd` because the
//! fast path makes no system call.
//!
//! A [`Mailbox`] is a named POSIX segment ([`crate::shm`],
//! `/dev/shm/kipc.NAME`) or an anonymous sealed memfd ([`crate::memfd`]).
//! Any number of processes (and threads) send and receive through it at
//! once; see the core module for the layout, the lock-free protocol and the
//! crash table.
//!
//! # Addresses
//!
//! Message-based IPC needs "the address of the receiver". Here an address is
//! a kipc name: a process owns one [`Inbox`] (a named mailbox it created and
//! unlinks when dropped) and reaches others by name, either through an
//! [`Outbox`] (one opened mailbox, send-only) or a [`MailboxSet`], which
//! opens and caches mailboxes by name and notices when a cached one was
//! unlinked (its owner went away).
//!
//! # Owners, crashes and recovery
//!
//! Every send and receive is tagged with this process's pid (the core's
//! "owner id"), so a slot a process was writing or reading when it died
//! says who left it. Blocking calls spin briefly, then sleep on the core's
//! doorbell with a shared futex in slices of [`crate::futex::LIVENESS_SLICE`]; at
//! the start of every sleep they reap dead owners (the core's
//! [`Queue::reap`](kipc_core::queue::Queue::reap)): a half-written message
//! of a dead sender is dropped (it never existed), a half-read one of a dead
//! receiver is made ready again (redelivered). A mailbox whose sender or
//! receiver was SIGKILLed mid-operation is therefore usable at full capacity
//! again within one slice, by whoever waits on it; [`Mailbox::recover`] does
//! the same on demand.
//!
//! Owner ids are pid numbers, but the verdict is not taken from the pid:
//! every process holds a lock on the segment that the kernel drops when it
//! dies ([`crate::liveness::OwnerLocks`]), so a live sender in another pid
//! namespace (a container sharing /dev/shm) is never taken for dead, and a
//! reused pid does not keep a dead owner's slot claimed.
//!
//! A [`Mailbox`] is a [`ShmQueue`] over the core mailbox, the same endpoint
//! type as [`ShmRing`](crate::ring::ShmRing): construction, waiting and
//! liveness are [`crate::endpoint`]'s. Its `&self` methods below send and
//! receive with this process's pid; [`ShmQueue::sender`] and
//! [`ShmQueue::receiver`] give owned handles as for rings.
//!
//! # No `PeerDead`
//!
//! A ring has exactly one peer per side; a mailbox has any number of
//! anonymous senders and receivers, which come and go without a record. So
//! no blocking call here returns [`Error::PeerDead`]: a receive with nobody
//! left to send waits until its timeout ([`Error::Timeout`]). Protocols with
//! a designated server (such as [`crate::rpc`]) track its pid themselves.
//!
//! # In an event loop
//!
//! Blocking calls wait on futexes. For epoll, mio or an async runtime, bind
//! a wake descriptor with [`ShmQueue::wake_fd`] and run the `&self` calls
//! through [`ShmQueue::try_or_arm`]: a try that returns `Empty` (`Full`)
//! has armed the descriptor (see [`crate::wake`]). The owned
//! [`ShmQueue::sender`]/[`ShmQueue::receiver`] become pollable with
//! `into_pollable`; with the `tokio` feature, `AsyncMailbox` does this for
//! you.
//!
//! # Examples
//!
//! ```
//! use kipc_host::mailbox::{Mailbox, MailboxConfig, Selector};
//! let mb = Mailbox::create_anonymous(MailboxConfig::new(8, 64))?;
//! mb.send(b"later", 1, 10)?;
//! mb.send(b"now", 9, 20)?;
//! let mut buf = [0u8; 64];
//! let got = mb.recv(&mut buf)?;
//! assert_eq!((&buf[..got.len], got.prio, got.mtype), (&b"now"[..], 9, 20));
//! let got = mb.try_recv_matching(Selector::Exact(10), &mut buf)?;
//! assert_eq!(&buf[..got.len], b"later");
//! # Ok::<(), kipc_host::Error>(())
//! ```

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kipc_core::mailbox::{region_size, Geometry, Region};
use kipc_core::queue::Role;
use kipc_core::region::RegionFlags;
pub use kipc_core::region::TypeTag;
use kipc_core::Error as CoreError;

pub use crate::endpoint::OPEN_WAIT;
pub use kipc_core::mailbox::{Selector, MAX_MSG, MAX_SLOTS};

use crate::endpoint::{checked_size, deadline_after, QueueLayout, ShmQueue};
use crate::{Error, Result};

/// The largest mailbox (header, metadata and slots) [`Mailbox`] creates:
/// 4 GiB, as for rings.
pub const MAX_MAILBOX_BYTES: u64 = crate::endpoint::MAX_QUEUE_BYTES;

/// A mailbox in shared memory. See the [module documentation](self).
///
/// All its `&self` operations may run from many threads at once; clone it
/// (cheap: it shares the mapping) to move it into another thread.
pub type Mailbox = ShmQueue<Region>;

/// The geometry of a new mailbox.
///
/// # Examples
///
/// ```
/// use kipc_host::mailbox::MailboxConfig;
/// let c = MailboxConfig::new(64, 512).with_byte_budget(4096);
/// assert_eq!((c.slots, c.max_msg, c.byte_budget), (64, 512, Some(4096)));
/// assert!(c.region_size().unwrap() > 64 * 512);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxConfig {
    /// Message slots, `1..=MAX_SLOTS` (any number).
    pub slots: u32,
    /// Largest message in bytes, `1..=MAX_MSG`.
    pub max_msg: u32,
    /// Payload bytes allowed in flight at once (`mq_msgsize * mq_maxmsg`,
    /// SysV `msg_qbytes`); `None`: `slots * max_msg`, which never binds.
    pub byte_budget: Option<u64>,
    /// What one message is, recorded in the header for attachers to check
    /// ([`TypeTag::UNTYPED`] for bytes; `crate::typed`'s `create_typed`
    /// sets it).
    pub message_type: TypeTag,
}

impl MailboxConfig {
    /// `slots` slots of up to `max_msg` bytes, no byte budget.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(kipc_host::mailbox::MailboxConfig::new(4, 8).byte_budget, None);
    /// ```
    pub const fn new(slots: u32, max_msg: u32) -> Self {
        Self {
            slots,
            max_msg,
            byte_budget: None,
            message_type: TypeTag::UNTYPED,
        }
    }

    /// The same configuration with a byte budget.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::mailbox::MailboxConfig;
    /// assert_eq!(MailboxConfig::new(4, 8).with_byte_budget(10).byte_budget, Some(10));
    /// ```
    pub const fn with_byte_budget(self, bytes: u64) -> Self {
        Self {
            byte_budget: Some(bytes),
            ..self
        }
    }

    /// The core geometry.
    fn geometry(&self) -> Geometry {
        let g = Geometry::new(self.slots, self.max_msg);
        match self.byte_budget {
            Some(b) => g.with_byte_budget(b),
            None => g,
        }
    }

    /// Bytes of shared memory this configuration needs.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] with `InvalidGeometry` for a slot count or message
    /// size out of range, or a total above [`MAX_MAILBOX_BYTES`].
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::mailbox::MailboxConfig;
    /// assert!(MailboxConfig::new(0, 8).region_size().is_err());
    /// assert!(MailboxConfig::new(65536, 1 << 24).region_size().is_err()); // > 4 GiB
    /// ```
    pub fn region_size(&self) -> Result<usize> {
        // As for rings: without a cap, `fallocate` of a huge geometry would
        // exhaust memory instead of failing.
        let len = checked_size(region_size(self.slots, self.max_msg)?)?;
        if self
            .byte_budget
            .is_some_and(|b| b > u64::from(self.slots) * u64::from(self.max_msg))
        {
            return Err(Error::Core(CoreError::InvalidGeometry {
                what: "byte budget exceeds slots * max_msg",
            }));
        }
        Ok(len)
    }
}

/// What a receive delivered besides the payload (the buffer's first `len`
/// bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Payload length in bytes.
    pub len: usize,
    /// Priority, 0 (lowest) to 255.
    pub prio: u8,
    /// Message type.
    pub mtype: u64,
    /// The pid the sender recorded (written by the sender: a claim, not
    /// proof; any process of our uid can write any value).
    pub sender_pid: u32,
}

impl From<kipc_core::mailbox::Received> for Received {
    fn from(r: kipc_core::mailbox::Received) -> Self {
        Self {
            len: r.len,
            prio: r.prio,
            mtype: r.mtype,
            sender_pid: r.sender,
        }
    }
}

/// A snapshot of a mailbox, for `kipc ls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// The kipc name, `None` for a memfd mailbox.
    pub name: Option<String>,
    /// Message slots.
    pub slots: u32,
    /// Largest message in bytes.
    pub max_msg: u32,
    /// Payload bytes allowed in flight.
    pub byte_budget: u64,
    /// Messages ready to receive now.
    pub queued: usize,
    /// Payload bytes of every claimed slot (ready, being written or read).
    pub bytes_in_use: u64,
    /// Bytes of the mapping.
    pub size: usize,
}

impl QueueLayout for Region {
    type Config = MailboxConfig;
    const OBJECT: &'static str = "mailbox";

    fn region_size(config: &MailboxConfig) -> Result<usize> {
        config.region_size()
    }

    unsafe fn init(
        base: *mut u8,
        len: usize,
        config: &MailboxConfig,
        flags: RegionFlags,
    ) -> Result<Self, CoreError> {
        // SAFETY: forwarded from our caller.
        unsafe { Region::init_with(base, len, config.geometry(), config.message_type, flags) }
    }

    unsafe fn attach(base: *mut u8, len: usize) -> Result<Self, CoreError> {
        // SAFETY: forwarded from our caller.
        unsafe { Region::attach(base, len) }
    }
}

impl ShmQueue<Region> {
    /// Number of message slots.
    pub fn capacity(&self) -> usize {
        self.queue().capacity()
    }

    /// Largest message in bytes (a receive buffer of this size always fits).
    pub fn max_msg(&self) -> usize {
        self.queue().max_msg()
    }

    /// Messages ready to receive now (a racy snapshot).
    pub fn len(&self) -> usize {
        self.queue().len()
    }

    /// Whether no message is ready now (a racy snapshot).
    pub fn is_empty(&self) -> bool {
        self.queue().is_empty()
    }

    /// The message type the creator recorded ([`TypeTag::UNTYPED`] for a
    /// mailbox of bytes), read once when this handle attached.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::mailbox::{Mailbox, MailboxConfig, TypeTag};
    /// let mb = Mailbox::create_anonymous(MailboxConfig::new(4, 16))?;
    /// assert_eq!(mb.message_type(), TypeTag::UNTYPED);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn message_type(&self) -> TypeTag {
        self.queue().type_tag()
    }

    /// Everything `kipc ls` shows.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::mailbox::{Mailbox, MailboxConfig};
    /// let mb = Mailbox::create_anonymous(MailboxConfig::new(4, 16))?;
    /// mb.send(b"abc", 0, 0)?;
    /// let info = mb.info();
    /// assert_eq!((info.slots, info.max_msg, info.queued, info.bytes_in_use), (4, 16, 1, 3));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn info(&self) -> MailboxInfo {
        let g = self.queue().geometry();
        MailboxInfo {
            name: self.name().map(str::to_string),
            slots: g.slots,
            max_msg: g.max_msg,
            byte_budget: g.byte_budget,
            queued: self.queue().len(),
            bytes_in_use: self.queue().bytes_in_use(),
            size: self.size(),
        }
    }

    /// `mq_send` without blocking: queues `msg` with priority `prio`
    /// (0..=255, highest received first) and type `mtype`, then wakes a
    /// sleeping receiver if one announced itself.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] (no free slot, or the byte budget would be exceeded),
    /// [`Error::TooLarge`] (longer than [`max_msg`](Self::max_msg) or the
    /// byte budget), [`Error::Corrupt`] (a hostile peer damaged the slot).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{Error, mailbox::{Mailbox, MailboxConfig}};
    /// let mb = Mailbox::create_anonymous(MailboxConfig::new(1, 4))?;
    /// mb.try_send(b"1", 0, 0)?;
    /// assert_eq!(mb.try_send(b"2", 0, 0), Err(Error::Full));
    /// assert!(matches!(mb.try_send(b"12345", 0, 0), Err(Error::TooLarge { .. })));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn try_send(&self, msg: &[u8], prio: u8, mtype: u64) -> Result<()> {
        self.queue().try_send(msg, prio, mtype, self.me())?;
        self.ring_consumers();
        Ok(())
    }

    /// Sends, waiting as long as it takes for room (see
    /// [`send_timeout`](Self::send_timeout)).
    ///
    /// # Errors
    ///
    /// As [`try_send`](Self::try_send), except `Full`.
    pub fn send(&self, msg: &[u8], prio: u8, mtype: u64) -> Result<()> {
        self.send_deadline(msg, prio, mtype, None)
    }

    /// `mq_timedsend`: sends, waiting up to `timeout` for a free slot (spin,
    /// then futex sleep; dead owners' slots are recovered while waiting).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`try_send`](Self::try_send) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use kipc_host::{Error, mailbox::{Mailbox, MailboxConfig}};
    /// let mb = Mailbox::create_anonymous(MailboxConfig::new(1, 8))?;
    /// mb.send_timeout(b"a", 0, 0, Duration::from_millis(10))?;
    /// assert_eq!(mb.send_timeout(b"b", 0, 0, Duration::from_millis(10)), Err(Error::Timeout));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn send_timeout(&self, msg: &[u8], prio: u8, mtype: u64, timeout: Duration) -> Result<()> {
        self.send_deadline(msg, prio, mtype, deadline_after(timeout))
    }

    /// Sends, waiting until `deadline` (`None`: forever) for room.
    ///
    /// # Errors
    ///
    /// As [`send_timeout`](Self::send_timeout).
    pub fn send_deadline(
        &self,
        msg: &[u8],
        prio: u8,
        mtype: u64,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let q = self.queue();
        self.wait(Role::Producer, deadline, || {
            match q.try_send(msg, prio, mtype, self.me()) {
                Err(CoreError::Full) => None,
                r => Some(r),
            }
        })?;
        self.ring_consumers();
        Ok(())
    }

    /// `mq_receive` without blocking: the highest-priority message, oldest
    /// first within a priority.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`]; [`Error::TooLarge`] if `buf` is shorter than the
    /// message (it stays queued); [`Error::Corrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{Error, mailbox::{Mailbox, MailboxConfig}};
    /// let mb = Mailbox::create_anonymous(MailboxConfig::new(2, 8))?;
    /// let mut buf = [0; 8];
    /// assert_eq!(mb.try_recv(&mut buf), Err(Error::Empty));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Received> {
        self.try_recv_matching(Selector::Any, buf)
    }

    /// `msgrcv(IPC_NOWAIT)`: the first message `selector` accepts.
    ///
    /// # Errors
    ///
    /// As [`try_recv`](Self::try_recv).
    pub fn try_recv_matching(&self, selector: Selector, buf: &mut [u8]) -> Result<Received> {
        let got = self
            .queue()
            .try_recv(selector, self.me(), buf)
            .map_err(Error::from);
        self.ring_if_freed(&got);
        Ok(got?.into())
    }

    /// Receives, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// As [`try_recv`](Self::try_recv), except `Empty`.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Received> {
        self.recv_matching(Selector::Any, buf, None)
    }

    /// `mq_timedreceive`: receives, waiting up to `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`try_recv`](Self::try_recv) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use kipc_host::{Error, mailbox::{Mailbox, MailboxConfig}};
    /// let mb = Mailbox::create_anonymous(MailboxConfig::new(2, 8))?;
    /// let mut buf = [0; 8];
    /// assert_eq!(mb.recv_timeout(&mut buf, Duration::from_millis(5)), Err(Error::Timeout));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<Received> {
        self.recv_matching(Selector::Any, buf, Some(timeout))
    }

    /// `msgrcv`: the first message `selector` accepts, waiting up to
    /// `timeout` (`None`: forever).
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout).
    pub fn recv_matching(
        &self,
        selector: Selector,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<Received> {
        self.recv_deadline(selector, buf, timeout.and_then(deadline_after))
    }

    /// As [`recv_matching`](Self::recv_matching), until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout).
    pub fn recv_deadline(
        &self,
        selector: Selector,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> Result<Received> {
        let q = self.queue();
        let got = self.wait(Role::Consumer, deadline, || {
            match q.try_recv(selector, self.me(), buf) {
                Err(CoreError::Empty) => None,
                r => Some(r),
            }
        });
        self.ring_if_freed(&got);
        Ok(got?.into())
    }

    /// Frees the slots of senders that died mid-send and re-readies the
    /// messages of receivers that died mid-receive (see the
    /// [module documentation](self)); returns how many slots it recovered.
    /// Blocking calls do this by themselves while they wait.
    pub fn recover(&self) -> usize {
        let locks = self.owner_locks();
        // Owner 0 is no owner: whatever it left is recovered.
        let n = self
            .queue()
            .recover(|owner| owner == 0 || !locks.is_alive(owner));
        if n > 0 {
            self.wake_everyone();
        }
        n
    }
}

/// A process's own named mailbox: created by [`Inbox::create`], removed from
/// the namespace when dropped (senders that still hold it open see
/// [`Mailbox::is_unlinked`]). Derefs to the [`Mailbox`].
///
/// # Examples
///
/// ```
/// use kipc_host::mailbox::{Inbox, MailboxConfig, Outbox};
/// let name = format!("doc-inbox-{}", std::process::id());
/// let inbox = Inbox::create(&name, MailboxConfig::new(8, 64))?;
/// Outbox::open(&name)?.send(b"hello", 0, 1)?;
/// let mut buf = [0; 64];
/// let got = inbox.recv(&mut buf)?;
/// assert_eq!(&buf[..got.len], b"hello");
/// assert_eq!(got.sender_pid, std::process::id());
/// drop(inbox);
/// assert!(Outbox::open(&name).is_err());
/// # Ok::<(), kipc_host::Error>(())
/// ```
#[derive(Debug)]
pub struct Inbox {
    mailbox: Mailbox,
    name: String,
}

impl Inbox {
    /// Creates the named mailbox NAME (see [`Mailbox::create`]).
    ///
    /// # Errors
    ///
    /// As [`Mailbox::create`].
    pub fn create(name: &str, config: MailboxConfig) -> Result<Self> {
        Ok(Self {
            mailbox: Mailbox::create(name, config)?,
            name: name.to_string(),
        })
    }

    /// The inbox's address.
    pub fn address(&self) -> &str {
        &self.name
    }

    /// The mailbox.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }
}

impl core::ops::Deref for Inbox {
    type Target = Mailbox;
    fn deref(&self) -> &Mailbox {
        &self.mailbox
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        // Already removed (by `kipc mbox rm`, a prune): nothing to do.
        let _ = Mailbox::unlink(&self.name);
    }
}

/// A send-only handle on someone else's named mailbox.
///
/// # Examples
///
/// ```
/// use kipc_host::mailbox::{Mailbox, MailboxConfig, Outbox};
/// let name = format!("doc-outbox-{}", std::process::id());
/// let mb = Mailbox::create(&name, MailboxConfig::new(2, 8))?;
/// let out = Outbox::open(&name)?;
/// out.try_send(b"x", 1, 2)?;
/// assert_eq!(mb.len(), 1);
/// Mailbox::unlink(&name)?;
/// # Ok::<(), kipc_host::Error>(())
/// ```
#[derive(Debug)]
pub struct Outbox {
    mailbox: Mailbox,
}

impl Outbox {
    /// Opens the named mailbox (see [`Mailbox::open`]).
    ///
    /// # Errors
    ///
    /// As [`Mailbox::open`].
    pub fn open(name: &str) -> Result<Self> {
        Ok(Self {
            mailbox: Mailbox::open(name)?,
        })
    }

    /// See [`Mailbox::try_send`].
    ///
    /// # Errors
    ///
    /// As [`Mailbox::try_send`].
    pub fn try_send(&self, msg: &[u8], prio: u8, mtype: u64) -> Result<()> {
        self.mailbox.try_send(msg, prio, mtype)
    }

    /// See [`Mailbox::send`].
    ///
    /// # Errors
    ///
    /// As [`Mailbox::send`].
    pub fn send(&self, msg: &[u8], prio: u8, mtype: u64) -> Result<()> {
        self.mailbox.send(msg, prio, mtype)
    }

    /// See [`Mailbox::send_timeout`].
    ///
    /// # Errors
    ///
    /// As [`Mailbox::send_timeout`].
    pub fn send_timeout(&self, msg: &[u8], prio: u8, mtype: u64, timeout: Duration) -> Result<()> {
        self.mailbox.send_timeout(msg, prio, mtype, timeout)
    }

    /// Whether the receiver removed its address (see
    /// [`Mailbox::is_unlinked`]).
    pub fn is_unlinked(&self) -> bool {
        self.mailbox.is_unlinked()
    }

    /// Largest message the receiver accepts.
    pub fn max_msg(&self) -> usize {
        self.mailbox.max_msg()
    }
}

/// Sends to mailboxes by name, opening each on first use and caching it.
///
/// Before each send to a cached mailbox it checks (one `fstat`) that the
/// name was not removed meanwhile; if it was, the mapping is dropped and the
/// name opened afresh, which fails with `ENOENT` when its owner is gone, so
/// messages are not sent into a mailbox nobody will read. At most
/// [`MailboxSet::MAX_CACHED`] mailboxes stay open.
///
/// # Examples
///
/// ```
/// use kipc_host::mailbox::{Inbox, MailboxConfig, MailboxSet};
/// use std::time::Duration;
/// let name = format!("doc-set-{}", std::process::id());
/// let inbox = Inbox::create(&name, MailboxConfig::new(4, 16))?;
/// let mut set = MailboxSet::new();
/// set.send_to(&name, b"one", 0, 1, Duration::from_secs(1))?;
/// set.send_to(&name, b"two", 0, 1, Duration::from_secs(1))?;
/// assert_eq!(inbox.len(), 2);
/// drop(inbox); // unlinks the address
/// assert!(set.send_to(&name, b"three", 0, 1, Duration::from_secs(1)).is_err());
/// # Ok::<(), kipc_host::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct MailboxSet {
    open: HashMap<String, Mailbox>,
}

impl MailboxSet {
    /// Most mailboxes kept open at once.
    pub const MAX_CACHED: usize = 64;

    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The mailbox called `name`, opened (or re-opened, if the cached one was
    /// unlinked) as needed.
    ///
    /// # Errors
    ///
    /// As [`Mailbox::open`].
    pub fn get(&mut self, name: &str) -> Result<&Mailbox> {
        let stale = self.open.get(name).is_some_and(Mailbox::is_unlinked);
        if stale {
            self.open.remove(name);
        }
        if !self.open.contains_key(name) {
            let mb = Mailbox::open(name)?;
            if self.open.len() >= Self::MAX_CACHED {
                self.open.clear();
            }
            self.open.insert(name.to_string(), mb);
        }
        self.open.get(name).ok_or(Error::NotReady)
    }

    /// Sends to the mailbox called `name`, waiting up to `timeout` for room.
    ///
    /// # Errors
    ///
    /// As [`Mailbox::open`] and [`Mailbox::send_timeout`].
    pub fn send_to(
        &mut self,
        name: &str,
        msg: &[u8],
        prio: u8,
        mtype: u64,
        timeout: Duration,
    ) -> Result<()> {
        self.get(name)?.send_timeout(msg, prio, mtype, timeout)
    }

    /// Closes the cached mailbox `name`, if any.
    pub fn forget(&mut self, name: &str) {
        self.open.remove(name);
    }

    /// Number of mailboxes open now.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn unique(tag: &str) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "unit-mbox-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    #[test]
    fn failed_create_leaves_nothing_behind() {
        let name = unique("bad");
        assert!(Mailbox::create(&name, MailboxConfig::new(0, 8)).is_err());
        assert!(Mailbox::create(&name, MailboxConfig::new(4, 8).with_byte_budget(100)).is_err());
        assert!(Mailbox::open(&name).is_err());
        assert!(Mailbox::create(&name, MailboxConfig::new(65536, 1 << 24)).is_err());
        assert!(Mailbox::open(&name).is_err());
    }

    #[test]
    fn open_refuses_a_ring() {
        let name = unique("ring");
        let _ring =
            crate::ring::ShmRing::create(&name, crate::ring::RingConfig::spsc(4, 16)).unwrap();
        let r = Mailbox::open(&name);
        assert!(
            matches!(r, Err(Error::Core(CoreError::BadLayout { .. }))),
            "{r:?}"
        );
        Mailbox::unlink(&name).unwrap();
    }

    #[test]
    fn blocked_sender_is_woken_by_a_receive_in_another_thread() {
        let mb = Arc::new(Mailbox::create_anonymous(MailboxConfig::new(1, 8)).unwrap());
        mb.send(b"first", 0, 0).unwrap();
        let m = Arc::clone(&mb);
        let t =
            std::thread::spawn(move || m.send_timeout(b"second", 0, 0, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(50));
        let mut buf = [0; 8];
        assert_eq!(mb.recv(&mut buf).unwrap().len, 5);
        t.join().unwrap().unwrap();
        let got = mb.recv_timeout(&mut buf, Duration::from_secs(10)).unwrap();
        assert_eq!(&buf[..got.len], b"second");
    }

    #[test]
    fn slot_of_a_dead_writer_is_recovered_by_a_blocked_sender() {
        let mb = Mailbox::create_anonymous(MailboxConfig::new(1, 8)).unwrap();
        // A reaped child's pid is dead (unless reused in between).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let slot = mb.queue().begin_send(3, dead).unwrap();
        core::mem::forget(slot);
        assert!(mb.try_send(b"x", 0, 0).is_err());
        mb.send_timeout(b"x", 0, 0, Duration::from_secs(5)).unwrap();
        assert_eq!(mb.len(), 1);
    }

    #[test]
    fn too_small_buffer_leaves_the_message_queued() {
        let mb = Mailbox::create_anonymous(MailboxConfig::new(2, 8)).unwrap();
        mb.send(b"12345", 0, 0).unwrap();
        let r = mb.try_recv(&mut [0; 2]);
        assert!(matches!(r, Err(Error::TooLarge { .. })));
        assert_eq!(mb.try_recv(&mut [0; 8]).unwrap().len, 5);
    }
}
