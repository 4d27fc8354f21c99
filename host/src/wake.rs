//! Wake descriptors: how a queue endpoint waits in somebody else's event
//! loop (epoll, mio, tokio, async-io, io_uring) instead of a futex sleep,
//! while the peer's fast path stays free of system calls.
//!
//! # The contract
//!
//! A pollable endpoint ([`PollReceiver`](crate::endpoint::PollReceiver),
//! [`PollSender`](crate::endpoint::PollSender), or the C ABI's
//! `kipc_ring_fd`) owns a [`WakeFd`]. A try-operation that fails with
//! `Empty` (`Full`) has *armed* it: any message (free slot) that appears
//! after that failure makes the descriptor readable. So an event loop does
//! "try until `Empty`, wait for readable, repeat", with no separate arm call.
//! Readability is a hint, never a promise: after a wake-up the try may still
//! find nothing (another consumer was faster), and the loop goes on.
//!
//! # Protocol
//!
//! It is the doorbell's (see [`kipc_core::doorbell`]), with the `ARMED` bit
//! in place of `SLEEPERS`:
//!
//! | step | waiter                                   | notifier (after publishing)             |
//! |------|------------------------------------------|-----------------------------------------|
//! | 1    | try the operation                        | `ring`: an RMW (or a load) reads the word |
//! | 2    | drain its socket, then `arm` (RMW)       | flags clear: done, no system call       |
//! | 3    | try again; on failure return `Empty`     | `ARMED` set: clear it, bump the word    |
//! | 4    | wait until its descriptor is readable    | send one byte to every armed waiter     |
//!
//! The two RMWs are totally ordered: if the arm comes first, the ring sees
//! it and sends; if the ring comes first, the arm synchronises with it and
//! the re-check in step 3 sees the message. On a fenced queue
//! ([`crate::barrier`]) the notifier's step 1 is a plain load instead, and
//! the waiter runs `membarrier` between its arm and step 3, which gives the
//! same guarantee (`kipc_core::doorbell`, "Asymmetric mode"). Draining comes *before* arming,
//! so a byte sent for this arm is never drained by it. loom checks this with
//! a counter standing in for the descriptor
//! (`loom-tests/tests/doorbell.rs`, teeth shown with
//! `--cfg kipc_loom_weaken="doorbell"`).
//!
//! # The descriptor: a Unix datagram socket beside the segment
//!
//! Each waiter binds its own datagram socket in a directory that belongs to
//! the queue, named by its role and a random 64-bit tag:
//! `/dev/shm/kipc.NAME.wake/c-0123456789abcdef` for a named queue, and
//! `/dev/shm/.kipc-memfd-DEV-INO.wake/...` for a memfd queue (the memfd's
//! device and inode numbers are the same in every process that maps it). A
//! notifier that finds `ARMED` lists the directory and sends one byte,
//! non-blocking and without `SIGPIPE`, to every waiter of the role it woke.
//!
//! Why this and not the alternatives:
//! - the peers share only the segment's file system (containers that share
//!   `/dev/shm` but neither a network nor a pid namespace); a path-bound
//!   socket works there, an abstract socket would not cross network
//!   namespaces, and an eventfd cannot be opened by name;
//! - every waiter has its own socket, so one waiter draining its socket can
//!   never eat another's wake-up (a shared eventfd or FIFO would: epoll
//!   re-checks readiness before reporting an edge), and any number of
//!   senders and receivers may wait at once, as MPMC rings and mailboxes
//!   allow;
//! - a waiter that dies leaves a socket file nobody is bound to: a send to
//!   it fails at once with `ECONNREFUSED` (the notifier then removes the
//!   file: the random tag means nobody else can ever bind that name), never
//!   blocks, never raises `SIGPIPE`; a waiter that stops reading leaves a
//!   full socket buffer, and the non-blocking send fails with `EAGAIN`,
//!   which means "already readable";
//! - a memfd queue uses the same scheme, keyed by the memfd's inode, so its
//!   peers must share `/dev/shm` too; passing an eventfd along with the
//!   memfd would have avoided that, but gives one descriptor to all waiters
//!   of a direction, with the draining problem above.
//!
//! The cost falls on the slow path only: a notifier that finds `ARMED`
//! spends one directory listing and one `sendto` per waiter of that role;
//! the waiter spends one `recv` to drain before arming.

#![allow(unsafe_code)]

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use kipc_core::queue::Role;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

use crate::{Error, Result};

/// Where named segments and wake directories live.
const SHM_DIR: &str = "/dev/shm";

/// The longest socket path (`sun_path` holds 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Room a waiter's file name takes in the directory: `/c-` and 16 hex digits.
const WAITER_NAME_LEN: usize = 19;

/// The most wake-up datagrams one [`WakeFd::drain`] reads.
pub const MAX_DRAIN: usize = 256;

/// How often a waiter retries binding when the directory vanishes under it
/// (the last waiter removes it as this one creates its socket).
const BIND_ATTEMPTS: u32 = 16;

/// The directory a queue's waiters bind their sockets in, and the mode
/// (from the segment) they give them.
#[derive(Debug, Clone)]
pub(crate) struct WakeDir {
    path: String,
    /// The segment's permission bits: peers that may write the segment may
    /// send wake-ups.
    mode: u32,
}

/// Removes what dead waiters of the named queue `name` left in its wake
/// directory (sockets nobody is bound to, then the directory if empty);
/// live waiters get one spurious wake-up. Called when the name is
/// unlinked, so crashed waiters do not leave litter in `/dev/shm`.
pub(crate) fn sweep_named(name: &str) {
    let path = format!("{SHM_DIR}/{}{name}.wake", crate::name::SHM_PREFIX);
    if path.len() + WAITER_NAME_LEN > MAX_SOCKET_PATH {
        // Such names use the segment's inode, unknown once it is unlinked.
        return;
    }
    Notifier::new(WakeDir { path, mode: 0 }).notify(None);
}

impl WakeDir {
    /// The wake directory of the segment `fd`, named after `name` (a named
    /// queue) or after the descriptor's device and inode (a memfd).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] if `fstat` fails.
    pub(crate) fn for_segment(fd: BorrowedFd<'_>, name: Option<&str>) -> Result<Self> {
        let st = rustix::fs::fstat(fd).map_err(|e| Error::sys("fstat", "wake directory", e))?;
        let mode = st.st_mode & 0o666;
        let by_inode = || {
            format!(
                "{SHM_DIR}/.kipc-memfd-{:x}-{:x}.wake",
                st.st_dev as u64, st.st_ino as u64
            )
        };
        let path = match name {
            Some(name) => {
                let named = format!("{SHM_DIR}/{}{name}.wake", crate::name::SHM_PREFIX);
                if named.len() + WAITER_NAME_LEN <= MAX_SOCKET_PATH {
                    named
                } else {
                    // A long name: the segment's inode is just as unique.
                    by_inode()
                }
            }
            None => by_inode(),
        };
        Ok(Self { path, mode })
    }

    /// The directory's path.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Creates the directory if it is missing: the segment's mode, with an
    /// execute bit wherever it has a read bit.
    fn ensure(&self) -> Result<()> {
        let mode = self.mode | ((self.mode & 0o444) >> 2);
        match rustix::fs::mkdir(self.path.as_str(), Mode::from_raw_mode(mode)) {
            Ok(()) => {
                // mkdir applied the umask; give the directory the mode the
                // segment's peers need. Failing that, the owner still works.
                let _ = rustix::fs::chmod(self.path.as_str(), Mode::from_raw_mode(mode));
            }
            Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::sys("mkdir", &self.path, e)),
        }
        // A directory, not a symlink someone planted to redirect our sockets.
        let st = rustix::fs::lstat(self.path.as_str())
            .map_err(|e| Error::sys("lstat", &self.path, e))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
            return Err(Error::InvalidArgument {
                object: self.path.clone(),
                reason: "wake directory path exists and is not a directory",
            });
        }
        Ok(())
    }
}

/// The first character of a waiter's file name: its role.
fn role_tag(role: Role) -> char {
    match role {
        Role::Producer => 'p',
        Role::Consumer => 'c',
    }
}

/// A waiter's wake descriptor: a non-blocking Unix datagram socket bound in
/// its queue's wake directory. It becomes readable when a peer rings the
/// doorbell this waiter armed. Dropping it removes its socket file (and the
/// directory, if it was the last).
pub struct WakeFd {
    fd: OwnedFd,
    path: String,
    dir: String,
    role: Role,
    /// When this waiter last asked for liveness verdicts, in nanoseconds
    /// after `born` (see [`reap_due`](Self::reap_due)).
    last_reap: AtomicU64,
    born: Instant,
}

impl fmt::Debug for WakeFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WakeFd")
            .field("path", &self.path)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl WakeFd {
    /// Binds a fresh socket for a waiter of side `role` in `dir`.
    pub(crate) fn bind(dir: &WakeDir, role: Role) -> Result<Self> {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(|e| Error::sys("socket", "wake descriptor", e))?;
        let mut last = Errno::NOENT;
        for _ in 0..BIND_ATTEMPTS {
            dir.ensure()?;
            let mut tag = [0u8; 8];
            rustix::rand::getrandom(&mut tag, rustix::rand::GetRandomFlags::empty())
                .map_err(|e| Error::sys("getrandom", "wake descriptor", e))?;
            let path = format!(
                "{}/{}-{:016x}",
                dir.path,
                role_tag(role),
                u64::from_le_bytes(tag)
            );
            let addr =
                SocketAddrUnix::new(path.as_str()).map_err(|e| Error::sys("bind", &path, e))?;
            match rustix::net::bind(&fd, &addr) {
                Ok(()) => {
                    // bind applied the umask; senders need write permission.
                    let _ = rustix::fs::chmod(path.as_str(), Mode::from_raw_mode(dir.mode));
                    return Ok(Self {
                        fd,
                        path,
                        dir: dir.path.clone(),
                        role,
                        last_reap: AtomicU64::new(0),
                        born: Instant::now(),
                    });
                }
                // The directory was removed by the last waiter leaving, or
                // (64 random bits later) the name is taken: try again.
                Err(e @ (Errno::NOENT | Errno::ADDRINUSE)) => last = e,
                Err(e) => return Err(Error::sys("bind", &path, e)),
            }
        }
        Err(Error::sys("bind", &dir.path, last))
    }

    /// The side this descriptor waits for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the socket is bound.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether a [`LIVENESS_SLICE`](crate::futex::LIVENESS_SLICE) has passed
    /// since this waiter last reaped dead peers; if so, records now. An
    /// event-loop waiter reaps on its tries (as a futex sleeper does on its
    /// slices), so a dead peer is reported by the first try after a slice.
    pub(crate) fn reap_due(&self) -> bool {
        let now = u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let last = self.last_reap.load(Ordering::Relaxed);
        let slice = u64::try_from(crate::futex::LIVENESS_SLICE.as_nanos()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) < slice {
            return false;
        }
        self.last_reap.store(now, Ordering::Relaxed);
        true
    }

    /// Reads the pending wake-up bytes, so the descriptor is not readable
    /// until the next ring. Called before arming.
    ///
    /// At most [`MAX_DRAIN`] datagrams: anyone who may write the segment may
    /// also send here, and a sender in a tight loop must not keep a waiter
    /// in this call. What is left only makes the descriptor readable once
    /// more (a spurious wake-up, which the contract allows).
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        // Each datagram is one wake-up; the socket is non-blocking, so this
        // ends with EAGAIN once the queue is empty.
        for _ in 0..MAX_DRAIN {
            if rustix::net::recv(&self.fd, &mut buf[..], RecvFlags::DONTWAIT).is_err() {
                break;
            }
        }
    }
}

impl AsFd for WakeFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// For APIs that still take raw descriptors (tokio's `AsyncFd`, mio's
/// `SourceFd`): the descriptor stays owned by this value.
impl std::os::fd::AsRawFd for WakeFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for WakeFd {
    fn drop(&mut self) {
        let _ = rustix::fs::unlink(self.path.as_str());
        // Succeeds only for the last waiter; a waiter binding meanwhile
        // recreates the directory and retries.
        let _ = rustix::fs::rmdir(self.dir.as_str());
    }
}

/// The notifier's half: an unbound datagram socket (made on first use) to
/// send wake-ups from, and the directory to find waiters in.
#[derive(Debug)]
pub(crate) struct Notifier {
    dir: WakeDir,
    sock: OnceLock<Option<OwnedFd>>,
}

impl Notifier {
    /// A notifier for the waiters in `dir`.
    pub(crate) fn new(dir: WakeDir) -> Self {
        Self {
            dir,
            sock: OnceLock::new(),
        }
    }

    /// The directory waiters bind in.
    pub(crate) fn dir(&self) -> &WakeDir {
        &self.dir
    }

    /// Sends one wake-up byte to every waiter of side `role` (both sides
    /// with `None`); returns how many sends were accepted. Never blocks and
    /// never fails: a waiter that is gone or not reading is skipped.
    pub(crate) fn notify(&self, role: Option<Role>) -> usize {
        let Some(sock) = self
            .sock
            .get_or_init(|| {
                rustix::net::socket_with(
                    AddressFamily::UNIX,
                    SocketType::DGRAM,
                    SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
                    None,
                )
                .ok()
            })
            .as_ref()
        else {
            return 0;
        };
        // No directory: nobody has ever armed a descriptor here.
        let Ok(entries) = std::fs::read_dir(&self.dir.path) else {
            return 0;
        };
        let mut sent = 0;
        let mut swept = false;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let wanted = match role {
                Some(r) => name.starts_with(role_tag(r)),
                None => name.starts_with('c') || name.starts_with('p'),
            };
            if !wanted || name.as_bytes().get(1) != Some(&b'-') {
                continue;
            }
            let path = format!("{}/{name}", self.dir.path);
            let Ok(addr) = SocketAddrUnix::new(path.as_str()) else {
                continue;
            };
            match rustix::net::sendto(sock, &[1], SendFlags::DONTWAIT | SendFlags::NOSIGNAL, &addr)
            {
                // EAGAIN: its buffer is full, so it is readable already.
                Ok(_) | Err(Errno::AGAIN) => sent += 1,
                // Nobody is bound: a waiter that died. Its random name can
                // never be bound again, so the file is garbage.
                Err(Errno::CONNREFUSED) => {
                    let _ = rustix::fs::unlink(path.as_str());
                    swept = true;
                }
                Err(_) => {}
            }
        }
        if swept {
            // Only succeeds if that was the last socket; a waiter binding
            // meanwhile recreates the directory and retries.
            let _ = rustix::fs::rmdir(self.dir.path.as_str());
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{MemfdFlags, OFlags};

    fn is_nonblocking(fd: BorrowedFd<'_>) -> bool {
        rustix::fs::fcntl_getfl(fd).is_ok_and(|f| f.contains(OFlags::NONBLOCK))
    }

    fn memfd_dir() -> (OwnedFd, WakeDir) {
        let fd = rustix::fs::memfd_create("kipc-wake-test", MemfdFlags::CLOEXEC).unwrap();
        let dir = WakeDir::for_segment(fd.as_fd(), None).unwrap();
        (fd, dir)
    }

    fn readable(fd: BorrowedFd<'_>) -> bool {
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        rustix::event::poll(&mut fds, Some(&zero)).unwrap() == 1
    }

    #[test]
    fn a_notify_makes_only_that_roles_waiters_readable_and_drain_clears_it() {
        let (_seg, dir) = memfd_dir();
        let c1 = WakeFd::bind(&dir, Role::Consumer).unwrap();
        let c2 = WakeFd::bind(&dir, Role::Consumer).unwrap();
        let p = WakeFd::bind(&dir, Role::Producer).unwrap();
        assert!(is_nonblocking(c1.as_fd()));
        assert!(!readable(c1.as_fd()));
        let n = Notifier::new(dir.clone());
        assert_eq!(n.notify(Some(Role::Consumer)), 2);
        assert!(readable(c1.as_fd()) && readable(c2.as_fd()));
        assert!(
            !readable(p.as_fd()),
            "a producer is not woken for consumers"
        );
        c1.drain();
        assert!(!readable(c1.as_fd()));
        assert!(
            readable(c2.as_fd()),
            "draining one waiter leaves the other's wake-up"
        );
        assert_eq!(n.notify(None), 3);
        assert!(readable(p.as_fd()));
    }

    #[test]
    fn the_last_waiter_removes_the_directory_and_a_dead_ones_file_is_swept() {
        let (_seg, dir) = memfd_dir();
        let a = WakeFd::bind(&dir, Role::Consumer).unwrap();
        // A waiter that "died": its socket closed, its file left behind.
        let dead = WakeFd::bind(&dir, Role::Consumer).unwrap();
        let dead_path = dead.path().to_owned();
        let dead = std::mem::ManuallyDrop::new(dead);
        // SAFETY: `dead` is never used or dropped again; this closes its
        // socket without running `Drop`, which would remove the file.
        drop(unsafe { std::ptr::read(&dead.fd) });
        assert!(std::path::Path::new(&dead_path).exists());
        assert_eq!(Notifier::new(dir.clone()).notify(Some(Role::Consumer)), 1);
        assert!(
            !std::path::Path::new(&dead_path).exists(),
            "a refused socket file is removed"
        );
        drop(a);
        assert!(!std::path::Path::new(dir.path()).exists());
        // A dead waiter alone: the sweep removes its file and the directory.
        let dead = std::mem::ManuallyDrop::new(WakeFd::bind(&dir, Role::Producer).unwrap());
        // SAFETY: as above, `dead` is never used or dropped again.
        drop(unsafe { std::ptr::read(&dead.fd) });
        assert_eq!(Notifier::new(dir.clone()).notify(None), 0);
        assert!(
            !std::path::Path::new(dir.path()).exists(),
            "the directory of swept dead waiters is removed"
        );
        // Notifying with no directory is a no-op.
        assert_eq!(Notifier::new(dir).notify(None), 0);
    }

    #[test]
    fn a_planted_symlink_is_refused() {
        let (_seg, dir) = memfd_dir();
        std::os::unix::fs::symlink("/tmp", dir.path()).unwrap();
        let r = WakeFd::bind(&dir, Role::Consumer);
        let _ = std::fs::remove_file(dir.path());
        assert!(matches!(r, Err(Error::InvalidArgument { .. })), "{r:?}");
    }
}
