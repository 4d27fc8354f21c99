//! Is the peer process still alive?
//!
//! Two answers, for two questions:
//!
//! - [`OwnerLocks`]: whether an *owner recorded in a queue's header* is
//!   alive. Exact, and the same from every pid namespace that shares the
//!   segment: it asks the kernel whether the owner's open-file-description
//!   lock on the segment is still held (the kernel drops it when the owner
//!   dies). This is what claims, waits, `kipc ls` and `--prune` use. A pid
//!   number alone is not enough: containers in one pod share `/dev/shm`
//!   but not pids, and pids are reused.
//! - [`PeerWatch`]: whether *a process we know by pid* (a child, an RPC
//!   server in our namespace) is alive, with a pidfd that becomes readable
//!   when it exits, so the death is pollable.
//!
//! [`PeerWatch`] holds a pidfd (`pidfd_open`) for a pid. A pidfd refers to one
//! process, not to a number, so once opened it cannot be fooled by the pid
//! being reused; it becomes readable (`POLLIN`) when that process exits, and
//! it is an ordinary descriptor ([`PeerWatch::pidfd`]) that fits `epoll`.
//!
//! The one window left is before `pidfd_open`: if the process named by the pid
//! had already died and the pid been reused, the watch follows the newcomer.
//! Open the watch as soon as you learn the pid (e.g. right after reading it
//! from a region header) to keep that window small. A zombie (exited, not yet
//! reaped) counts as dead.
//!
//! [`pid_alive`] is the old `kill(pid, 0)` test, for one-off questions such as
//! `kipc ls`; it is racy with pid reuse and calls zombies alive.
//!
//! # References
//! - [Linux `pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)

use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use std::os::fd::AsRawFd;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags};

use crate::sys::ofd::OfdLock;
use crate::{Error, Result};

/// How a [`PeerWatch`] knows about its process.
#[derive(Debug)]
enum State {
    /// A pidfd: exact.
    Pidfd(OwnedFd),
    /// `pidfd_open` said `ESRCH`: it was already gone.
    Dead,
    /// `pidfd_open` is not available (kernel < 5.3): `kill(pid, 0)`, racy.
    Racy(Pid),
}

/// Watches one process for its exit. See the [module documentation](self).
#[derive(Debug)]
pub struct PeerWatch {
    pid: i32,
    state: State,
}

impl PeerWatch {
    /// `pidfd_open(pid, 0)` — starts watching process `pid` (any process, not
    /// only our children).
    ///
    /// If the process no longer exists (`ESRCH`) the watch reports it dead. On
    /// kernels without `pidfd_open` (`ENOSYS`, before 5.3) it falls back to the
    /// racy [`pid_alive`] test.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a pid <= 0; [`Error::Sys`] from
    /// `pidfd_open` for anything else (e.g. `EMFILE`).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::liveness::PeerWatch;
    /// let me = PeerWatch::new(std::process::id() as i32)?;
    /// assert!(me.is_alive());
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn new(pid: i32) -> Result<Self> {
        // Check the sign first: `Pid::from_raw` debug-asserts `raw >= 0`.
        let Some(p) = (pid > 0).then(|| Pid::from_raw(pid)).flatten() else {
            return Err(Error::InvalidArgument {
                object: format!("pid {pid}"),
                reason: "a pid must be positive",
            });
        };
        let state = match rustix::process::pidfd_open(p, PidfdFlags::empty()) {
            Ok(fd) => State::Pidfd(fd),
            Err(Errno::SRCH) => State::Dead,
            Err(Errno::NOSYS) => State::Racy(p),
            Err(e) => return Err(Error::sys("pidfd_open", format!("pid {pid}"), e)),
        };
        Ok(Self { pid, state })
    }

    /// The watched pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The pidfd, readable once the process has exited; `None` if the process
    /// was already gone when the watch was made, or on the racy fallback.
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        match &self.state {
            State::Pidfd(fd) => Some(fd.as_fd()),
            _ => None,
        }
    }

    /// `poll(pidfd, POLLIN, 0)` — whether the process is still running.
    ///
    /// An unexpected `poll` failure is reported as alive: a caller then keeps
    /// waiting (bounded by its own timeout) rather than giving up on a live
    /// peer.
    pub fn is_alive(&self) -> bool {
        match self.wait_exit(Some(Duration::ZERO)) {
            Ok(exited) => !exited,
            Err(_) => true,
        }
    }

    /// `poll(pidfd, POLLIN, timeout)` — waits up to `timeout` (forever if
    /// `None`) for the process to exit; `Ok(true)` once it has.
    ///
    /// On the racy fallback, polls [`pid_alive`] every 10 ms.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `poll` (not `EINTR`, which is retried).
    pub fn wait_exit(&self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now().checked_add(t));
        let remaining = || match deadline {
            None | Some(None) => None,
            Some(Some(d)) => Some(d.saturating_duration_since(Instant::now())),
        };
        match &self.state {
            State::Dead => Ok(true),
            State::Pidfd(fd) => loop {
                let left = remaining();
                let ts = left.map(|d| {
                    rustix::time::Timespec::try_from(d).unwrap_or(rustix::time::Timespec {
                        tv_sec: i64::MAX,
                        tv_nsec: 0,
                    })
                });
                let mut fds = [PollFd::new(fd, PollFlags::IN)];
                match rustix::event::poll(&mut fds, ts.as_ref()) {
                    Ok(0) => return Ok(false),
                    // POLLIN (exited); POLLHUP/POLLERR also mean it is gone.
                    Ok(_) => return Ok(true),
                    Err(Errno::INTR) => continue,
                    Err(e) => {
                        return Err(Error::sys("poll", format!("pidfd of pid {}", self.pid), e))
                    }
                }
            },
            State::Racy(p) => loop {
                if !pid_alive(p.as_raw_pid()) {
                    return Ok(true);
                }
                let step = Duration::from_millis(10);
                match remaining() {
                    Some(left) if left.is_zero() => return Ok(false),
                    Some(left) => std::thread::sleep(left.min(step)),
                    None => std::thread::sleep(step),
                }
            },
        }
    }
}

/// Where the owner locks live in a segment's lock space: far beyond any
/// segment's end (locks do not need the bytes to exist), one byte per owner
/// id.
const OWNER_LOCK_BASE: i64 = 1 << 40;

/// Exact liveness of the owners a queue's header records, whatever pid
/// namespace they run in. See the [module documentation](self).
///
/// Every process that uses a queue holds, for as long as it has the queue
/// mapped, a shared open-file-description lock on byte
/// `OWNER_LOCK_BASE + pid` of the segment (its own pid number, the owner id
/// it records in the header). The kernel drops the lock when the last
/// descriptor of that open file description closes — at the latest when the
/// process dies, however it dies, in whatever namespace it runs. Asking
/// whether owner `n` is alive is then `F_OFD_GETLK` on byte
/// `OWNER_LOCK_BASE + n`: a lock held by anyone else means alive.
///
/// - Exact across pid namespaces: two containers that share `/dev/shm` but
///   not pids see each other's locks on the one inode; a pid number means
///   the same byte to both.
/// - Never calls a live owner dead: the lock is taken before the owner id is
///   written into a header and released only after the process stops using
///   the mapping. Two live processes in different namespaces with the same
///   pid number share a byte; the owner then counts as alive until both have
///   exited (liveness is delayed, never safety).
/// - A recorded id that nobody locked (a crashed or hostile writer, a
///   process that used the region through the core level only) is dead.
/// - Each handle opens its own open file description (through
///   `/proc/self/fd`), so a memfd passed with `SCM_RIGHTS` — one open file
///   description shared by both processes — still gives each process its own
///   locks. If that reopen fails (no `/proc`, a security module), the
///   verdicts cannot be trusted (a description shared with the peer hides
///   its locks from us), so every owner counts as alive: nothing is reaped
///   or taken over, and blocking calls end by their timeouts.
/// - An owner whose id is our own pid number is us: never reaped or taken
///   over. A peer in another pid namespace with the same pid number as ours
///   therefore waits for its side to be released (its `Busy`), and its death
///   is not reported to us; give such peers distinct pids.
/// - Owners recorded by the core level alone (the C ABI's
///   `kipc_spsc_*_attach`, which hold no lock) are judged dead: do not mix
///   core-level and host-level handles on one queue.
///
/// # Examples
///
/// ```
/// use kipc_host::ring::{RingConfig, ShmRing};
/// let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16))?;
/// let locks = ring.owner_locks();
/// assert!(locks.is_alive(std::process::id()));
/// assert!(!locks.is_alive(std::process::id() + 1_000_000)); // nobody holds it
/// # Ok::<(), kipc_host::Error>(())
/// ```
#[derive(Debug)]
pub struct OwnerLocks {
    /// Our own open file description of the segment, holding our lock.
    fd: OwnedFd,
    /// Our owner id.
    me: u32,
    /// `false` when `fd` may be shared with a peer (the reopen failed): no
    /// verdict of death is trusted then.
    exact: bool,
}

impl OwnerLocks {
    /// Opens our own open file description of `segment` and locks our
    /// owner byte on it.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `open` or `fcntl`.
    pub(crate) fn acquire(segment: BorrowedFd<'_>, me: u32) -> Result<Self> {
        let path = format!("/proc/self/fd/{}", segment.as_raw_fd());
        let (fd, exact) = match rustix::fs::open(
            path.as_str(),
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => (fd, true),
            // Our descriptor of the segment, possibly shared with whoever
            // passed it to us: it still holds our lock, but its verdicts on
            // others are not trusted.
            Err(_) => {
                let fd = segment.try_clone_to_owned().map_err(|e| {
                    Error::sys(
                        "dup",
                        "owner lock",
                        Errno::from_io_error(&e).unwrap_or(Errno::IO),
                    )
                })?;
                (fd, false)
            }
        };
        crate::sys::ofd::ofd_setlk_range(
            fd.as_fd(),
            OfdLock::Read,
            OWNER_LOCK_BASE + i64::from(me),
            1,
        )
        .map_err(|e| Error::sys("fcntl(F_OFD_SETLK)", "owner lock", e))?;
        Ok(Self { fd, me, exact })
    }

    /// Whether owner `id` is alive: someone holds its lock (we always are).
    /// An unexpected `fcntl` failure answers alive, so a waiter keeps
    /// waiting (bounded by its timeout) rather than taking over a side.
    pub fn is_alive(&self, id: u32) -> bool {
        if id == self.me || !self.exact {
            return true;
        }
        crate::sys::ofd::ofd_range_is_locked(self.fd.as_fd(), OWNER_LOCK_BASE + i64::from(id), 1)
            .unwrap_or(true)
    }

    /// [`is_alive`](Self::is_alive) as the core's oracle type.
    pub fn oracle(&self) -> impl FnMut(core::num::NonZeroU32) -> bool + '_ {
        |id| self.is_alive(id.get())
    }
}

/// `kill(pid, 0)` — whether a process with this pid exists (including a
/// zombie). Racy: the pid may have been reused by an unrelated process, so
/// use it only for display (`kipc ls`), never to decide that a peer is alive
/// before waiting on it; use [`PeerWatch`] for that.
///
/// `EPERM` (it exists but is not ours to signal) counts as alive; pids <= 0
/// are never alive.
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let Some(p) = Pid::from_raw(pid) else {
        return false;
    };
    match rustix::process::test_kill_process(p) {
        Ok(()) => true,
        Err(Errno::PERM) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn spawned_child_is_alive_until_killed() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let watch = PeerWatch::new(pid).unwrap();
        assert!(watch.pidfd().is_some());
        assert!(watch.is_alive());
        assert!(pid_alive(pid));
        assert_eq!(watch.wait_exit(Some(Duration::from_millis(10))), Ok(false));
        child.kill().unwrap();
        assert_eq!(watch.wait_exit(Some(Duration::from_secs(10))), Ok(true));
        assert!(!watch.is_alive());
        // A zombie still answers kill(pid, 0); reaping removes it.
        child.wait().unwrap();
        assert!(!pid_alive(pid));
        // The pidfd keeps meaning "that process", even after reaping.
        assert!(!watch.is_alive());
    }

    #[test]
    fn a_reaped_pid_is_dead_from_the_start() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        // Unless the pid was reused within these microseconds, ESRCH.
        let watch = PeerWatch::new(pid).unwrap();
        if watch.pidfd().is_none() {
            assert!(!watch.is_alive());
            assert_eq!(watch.wait_exit(None), Ok(true));
        }
    }

    #[test]
    fn we_are_alive_and_bad_pids_are_refused() {
        let me = PeerWatch::new(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        assert!(pid_alive(std::process::id() as i32));
        assert!(matches!(
            PeerWatch::new(0),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            PeerWatch::new(-1),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(!pid_alive(0));
        assert!(!pid_alive(-5));
    }
}
