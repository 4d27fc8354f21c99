//! The descriptor behind `kipc_ring_fd` and `kipc_mbox_fd`: one pollable
//! descriptor per host handle, whichever sides the handle uses.
//!
//! kipc-host gives a waiter one wake descriptor per side
//! ([`kipc_host::wake::WakeFd`]: a consumer's becomes readable when a
//! message may be there, a producer's when room may be), but a C handle
//! (`kipc_ring`, `kipc_mailbox`) sends and receives through the same
//! pointer, and its `_fd` call has no side argument. So the handle's
//! descriptor is an epoll instance ([`WakeSet`]) that holds the wake
//! descriptor of each side the handle has waited on: it is readable when any
//! of them is (an epoll descriptor is itself pollable, and nests in the
//! caller's epoll, poll or select).
//!
//! A side's wake descriptor is bound lazily, the first time a try of that
//! side (timeout 0) finds nothing to do after the handle's descriptor exists;
//! that try then arms it (through [`ShmQueue::try_or_arm`]) before it returns
//! `-KIPC_EAGAIN`. Binding only on a first `EAGAIN` keeps a side the handle
//! never waits on out of the set: a receive-only handle never gets a
//! producer socket whose wake-ups (another producer's) nobody would drain.
//!
//! Thread safety: every field is set once ([`OnceLock`]); two threads that
//! bind the same side at once both bind, and the loser's socket is closed
//! (which also takes it out of the epoll set).

use core::ffi::c_int;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::OnceLock;

use kipc_host::endpoint::{QueueLayout, ShmQueue};
use kipc_host::ring::Role;
use kipc_host::wake::WakeFd;
use kipc_host::{Error, Result};
use rustix::event::epoll;

/// An epoll descriptor holding the wake descriptors of the sides a handle
/// has waited on. See the module documentation.
#[derive(Debug)]
pub(crate) struct WakeSet {
    epoll: OwnedFd,
    consumer: OnceLock<WakeFd>,
    producer: OnceLock<WakeFd>,
}

impl WakeSet {
    /// An empty set: `epoll_create1(EPOLL_CLOEXEC)`.
    pub(crate) fn new() -> Result<Self> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        Ok(Self {
            epoll,
            consumer: OnceLock::new(),
            producer: OnceLock::new(),
        })
    }

    /// The descriptor to give C: readable when a side in the set may make
    /// progress. It stays owned by the set.
    pub(crate) fn raw_fd(&self) -> c_int {
        self.epoll.as_raw_fd()
    }

    fn slot(&self, role: Role) -> &OnceLock<WakeFd> {
        match role {
            Role::Consumer => &self.consumer,
            Role::Producer => &self.producer,
        }
    }

    /// The wake descriptor of side `role` on `queue`, bound and added to the
    /// set on first use.
    fn bind<Q: QueueLayout>(&self, queue: &ShmQueue<Q>, role: Role) -> Result<&WakeFd> {
        let slot = self.slot(role);
        if let Some(w) = slot.get() {
            return Ok(w);
        }
        let wake = queue.wake_fd(role)?;
        // Level-triggered: the set stays readable while a member's socket
        // holds a wake-up byte, and the arming try drains it.
        epoll::add(
            &self.epoll,
            wake.as_fd(),
            epoll::EventData::new_u64(0),
            epoll::EventFlags::IN,
        )?;
        // A thread that lost a race drops its socket here, and closing it
        // takes it out of the set.
        Ok(slot.get_or_init(move || wake))
    }

    /// A try of side `role` (`op`: a receive for the consumer, a send for the
    /// producer) in event-loop form: if it finds nothing to do (`Empty` for
    /// a consumer, `Full` for a producer), the side's wake descriptor is
    /// bound if need be, armed, and `op` retried, so a returned `Empty` or
    /// `Full` means the set becomes readable when the side may progress.
    /// Also reaps dead peers once per liveness slice (see
    /// [`ShmQueue::try_or_arm`]).
    ///
    /// An error binding the descriptor is returned instead of `Empty` or
    /// `Full`: `EAGAIN` must mean "armed".
    pub(crate) fn try_or_arm<Q: QueueLayout, T>(
        &self,
        queue: &ShmQueue<Q>,
        role: Role,
        mut op: impl FnMut() -> Result<T>,
    ) -> Result<T> {
        if let Some(wake) = self.slot(role).get() {
            return queue.try_or_arm(wake, op);
        }
        let first = op();
        let idle = match role {
            Role::Consumer => matches!(first, Err(Error::Empty)),
            Role::Producer => matches!(first, Err(Error::Full)),
        };
        if !idle {
            return first;
        }
        let wake = self.bind(queue, role)?;
        queue.try_or_arm(wake, op)
    }
}

/// A set made on first call and kept in `cell`; errors are returned, not
/// cached (a later call tries again).
pub(crate) fn get_or_make(cell: &OnceLock<WakeSet>) -> Result<&WakeSet> {
    if let Some(set) = cell.get() {
        return Ok(set);
    }
    let set = WakeSet::new()?;
    // A thread that lost a race closes its set here.
    Ok(cell.get_or_init(move || set))
}
