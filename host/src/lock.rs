//! Advisory file locks: `flock(2)` locks, open-file-description record locks
//! (`fcntl(F_OFD_SETLK)`), with try, blocking and timed forms; and
//! [`PidLockFile`], a lock file that records its owner's pid and that a new
//! owner may take over once the old one is dead.
//!
//! Both kinds of lock belong to an *open file description* (one `open` of
//! the file, shared by its `dup`s and by children that inherit it), not to a
//! process or thread: two `open`s of the same file contend even within one
//! process, and the kernel drops the lock when the last descriptor of the
//! description is closed, e.g. when its process dies. That is what makes
//! them safe against crashed holders, unlike process-associated
//! `F_SETLK` locks (dropped by *any* close of the file in the process).
//!
//! On Linux, flock locks and OFD/POSIX record locks do not see each other
//! (except on NFS): a [`LockKind::Flock`] lock contends with `flock(1)`, a
//! [`LockKind::Ofd`] lock with `fcntl` record locks (`lockf`, `F_SETLK`,
//! other OFD locks).
//!
//! Lock files are opened through their directory: the directory holding the
//! path is opened (`O_PATH|O_DIRECTORY`), then the file with `openat(...,
//! O_NOFOLLOW)`, and [`PidLockFile`] checks, rewrites and removes its file
//! with `fstatat`/`unlinkat` on that same directory descriptor. A symlink at
//! the lock file's path is refused with an error naming it
//! ([`Error::InvalidArgument`]) rather than followed: otherwise a link planted
//! at a predictable lock path would make us create, truncate or remove the
//! file it points to. Directories above the file are resolved as usual.
//!
//! Timed forms retry the non-blocking call with a backoff (1 ms doubling to
//! 50 ms) until the deadline: the kernel has no timed lock call, and a
//! signal-interrupted blocking call would need a timer signal.
//!
//! # References
//! - [Linux `flock(2)`](https://man7.org/linux/man-pages/man2/flock.2.html)
//! - [Linux `fcntl(2)`, "Open file description locks"](https://man7.org/linux/man-pages/man2/fcntl.2.html)

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::fifo::{deadline_after, remaining};
use crate::liveness::PeerWatch;
use crate::sys::ofd::{ofd_setlk, OfdLock};
use crate::{Error, Result};

/// Whether a lock excludes everyone or only exclusive holders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// One holder at a time (`LOCK_EX`, `F_WRLCK`).
    Exclusive,
    /// Any number of shared holders, no exclusive one (`LOCK_SH`, `F_RDLCK`).
    Shared,
}

/// Which kernel lock to use. See the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// `flock(2)`: whole-file, contends with `flock(1)`.
    Flock,
    /// `fcntl(F_OFD_SETLK)` on the whole file: contends with POSIX record
    /// locks; an exclusive one needs the file open for writing.
    Ofd,
}

/// A held advisory lock, released (explicitly unlocked, then closed) on drop.
#[derive(Debug)]
pub struct FileLock {
    fd: OwnedFd,
    kind: LockKind,
    mode: LockMode,
}

fn describe(fd: BorrowedFd<'_>) -> String {
    use std::os::fd::AsRawFd;
    format!("lock on fd {}", fd.as_raw_fd())
}

/// One locking attempt; `Ok(false)` if it is held elsewhere (non-blocking).
fn attempt(fd: BorrowedFd<'_>, kind: LockKind, mode: LockMode, wait: bool) -> Result<bool> {
    loop {
        let r = match kind {
            LockKind::Flock => {
                let op = match (mode, wait) {
                    (LockMode::Exclusive, true) => FlockOperation::LockExclusive,
                    (LockMode::Exclusive, false) => FlockOperation::NonBlockingLockExclusive,
                    (LockMode::Shared, true) => FlockOperation::LockShared,
                    (LockMode::Shared, false) => FlockOperation::NonBlockingLockShared,
                };
                rustix::fs::flock(fd, op).map_err(|e| ("flock", e))
            }
            LockKind::Ofd => {
                let k = match mode {
                    LockMode::Exclusive => OfdLock::Write,
                    LockMode::Shared => OfdLock::Read,
                };
                ofd_setlk(fd, k, wait).map_err(|e| ("fcntl(F_OFD_SETLK)", e))
            }
        };
        match r {
            Ok(()) => return Ok(true),
            Err((_, Errno::INTR)) => continue,
            // flock says EWOULDBLOCK (= EAGAIN); fcntl says EAGAIN or EACCES.
            Err((_, Errno::AGAIN)) | Err((_, Errno::ACCESS)) if !wait => return Ok(false),
            Err((call, e)) => return Err(Error::sys(call, describe(fd), e)),
        }
    }
}

/// The directory holding a lock file, opened `O_PATH|O_DIRECTORY`, and the
/// file's name in it; every later call on the file goes through the two.
#[derive(Debug)]
struct Entry<'a> {
    dir: OwnedFd,
    name: &'a OsStr,
}

impl<'a> Entry<'a> {
    /// Opens `path`'s parent (`.` for a bare name). `None` for a path whose
    /// last component is not a name (`/`, `..`), which cannot be a symlink.
    fn of(path: &'a Path, obj: &str) -> Result<Option<Self>> {
        let Some(name) = path.file_name() else {
            return Ok(None);
        };
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = rustix::fs::openat(
            CWD,
            parent,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys("open", format!("directory of {obj}"), e))?;
        Ok(Some(Self { dir, name }))
    }

    /// `openat(dir, name, flags|O_NOFOLLOW|O_CLOEXEC|O_NOCTTY, mode)`.
    fn open(&self, flags: OFlags, mode: Mode) -> rustix::io::Result<OwnedFd> {
        rustix::fs::openat(
            &self.dir,
            self.name,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            mode,
        )
    }

    /// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
    fn lstat(&self) -> rustix::io::Result<rustix::fs::Stat> {
        rustix::fs::statat(&self.dir, self.name, AtFlags::SYMLINK_NOFOLLOW)
    }

    /// The error for a failed open: a clear refusal when the name is a
    /// symlink (`O_NOFOLLOW` says `ELOOP`), else the call's errno.
    fn open_error(&self, e: Errno, obj: &str) -> Error {
        let is_link = e == Errno::LOOP
            && self
                .lstat()
                .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_symlink());
        if is_link {
            Error::InvalidArgument {
                object: obj.to_string(),
                reason: "is a symbolic link; refused (lock the file it points to by its own path)",
            }
        } else {
            Error::sys("open", obj, e)
        }
    }
}

impl FileLock {
    /// `openat(dirfd, name, O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC|O_NOCTTY,
    /// 0600)` — opens (creating if needed) a file to lock, through the
    /// directory holding it; falls back to `O_RDONLY` for a file we may not
    /// write or a directory (enough for flock locks and shared OFD locks).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `path` is a symbolic link (refused, see
    /// the [module documentation](self)); [`Error::Sys`] from `open`.
    pub fn open_file(path: impl AsRef<Path>) -> Result<OwnedFd> {
        let path = path.as_ref();
        let obj = format!("lock file {}", path.display());
        let Some(entry) = Entry::of(path, &obj)? else {
            // `/` or `..`: a directory, never a symlink.
            return rustix::fs::open(
                path,
                OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
                Mode::empty(),
            )
            .map_err(|e| Error::sys("open", &obj, e));
        };
        match entry.open(OFlags::RDWR | OFlags::CREATE, Mode::from_raw_mode(0o600)) {
            Ok(fd) => Ok(fd),
            Err(Errno::ISDIR) | Err(Errno::ACCESS) | Err(Errno::ROFS) => {
                entry.open(OFlags::RDONLY, Mode::empty())
            }
            Err(e) => Err(e),
        }
        .map_err(|e| entry.open_error(e, &obj))
    }

    fn dup(fd: impl AsFd) -> Result<OwnedFd> {
        rustix::io::fcntl_dupfd_cloexec(fd.as_fd(), 0)
            .map_err(|e| Error::sys("fcntl(F_DUPFD_CLOEXEC)", describe(fd.as_fd()), e))
    }

    /// `flock(fd, LOCK_EX|LOCK_SH)` or `fcntl(fd, F_OFD_SETLKW)` — waits
    /// until the lock is ours. The lock keeps a duplicate of `fd` (the same
    /// open file description), so `fd` may be closed afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from the lock call (`EDEADLK` for an OFD deadlock,
    /// `EBADF` for an exclusive OFD lock on a read-only descriptor) or from
    /// `fcntl(F_DUPFD_CLOEXEC)`.
    pub fn lock(fd: impl AsFd, kind: LockKind, mode: LockMode) -> Result<Self> {
        let fd = Self::dup(fd)?;
        attempt(fd.as_fd(), kind, mode, true)?;
        Ok(Self { fd, kind, mode })
    }

    /// `flock(fd, ...|LOCK_NB)` or `fcntl(fd, F_OFD_SETLK)` — takes the lock
    /// if it is free now; `Ok(None)` if it is held elsewhere.
    ///
    /// # Errors
    ///
    /// As for [`lock`](Self::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::lock::{FileLock, LockKind, LockMode};
    /// let path = std::env::temp_dir().join(format!("kipc-doc-lock-{}", std::process::id()));
    /// let a = FileLock::open_file(&path)?;
    /// let b = FileLock::open_file(&path)?; // a second open file description
    /// let held = FileLock::try_lock(&a, LockKind::Flock, LockMode::Exclusive)?.unwrap();
    /// assert!(FileLock::try_lock(&b, LockKind::Flock, LockMode::Shared)?.is_none());
    /// drop(held);
    /// assert!(FileLock::try_lock(&b, LockKind::Flock, LockMode::Shared)?.is_some());
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn try_lock(fd: impl AsFd, kind: LockKind, mode: LockMode) -> Result<Option<Self>> {
        let fd = Self::dup(fd)?;
        Ok(attempt(fd.as_fd(), kind, mode, false)?.then_some(Self { fd, kind, mode }))
    }

    /// Takes the lock, retrying the non-blocking call with a backoff until
    /// `timeout` has passed.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if it stayed held elsewhere; otherwise as for
    /// [`lock`](Self::lock).
    pub fn lock_timeout(
        fd: impl AsFd,
        kind: LockKind,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<Self> {
        let fd = Self::dup(fd)?;
        let deadline = deadline_after(Some(timeout));
        let mut nap = Duration::from_millis(1);
        loop {
            if attempt(fd.as_fd(), kind, mode, false)? {
                return Ok(Self { fd, kind, mode });
            }
            match remaining(deadline) {
                Some(left) if left.is_zero() => return Err(Error::Timeout),
                Some(left) => std::thread::sleep(left.min(nap)),
                None => std::thread::sleep(nap),
            }
            nap = (nap * 2).min(Duration::from_millis(50));
        }
    }

    /// [`open_file`](Self::open_file) then [`lock`](Self::lock) with
    /// [`LockKind::Flock`] — what `flock(1) PATH` does.
    ///
    /// # Errors
    ///
    /// As for those two.
    pub fn flock(path: impl AsRef<Path>, mode: LockMode) -> Result<Self> {
        Self::lock(Self::open_file(path)?, LockKind::Flock, mode)
    }

    /// [`open_file`](Self::open_file) then [`try_lock`](Self::try_lock) with
    /// [`LockKind::Flock`] — what `flock -n PATH` does.
    ///
    /// # Errors
    ///
    /// As for those two.
    pub fn try_flock(path: impl AsRef<Path>, mode: LockMode) -> Result<Option<Self>> {
        Self::try_lock(Self::open_file(path)?, LockKind::Flock, mode)
    }

    /// [`open_file`](Self::open_file) then [`lock_timeout`](Self::lock_timeout)
    /// with [`LockKind::Flock`] — what `flock -w SECONDS PATH` does.
    ///
    /// # Errors
    ///
    /// As for those two ([`Error::Timeout`] when it stayed held).
    pub fn flock_timeout(
        path: impl AsRef<Path>,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<Self> {
        Self::lock_timeout(Self::open_file(path)?, LockKind::Flock, mode, timeout)
    }

    /// The kind of lock held.
    pub fn kind(&self) -> LockKind {
        self.kind
    }

    /// The mode of lock held.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// `flock(fd, LOCK_UN)` or `fcntl(fd, F_OFD_SETLK, F_UNLCK)` — releases
    /// the lock now and reports a failure (dropping releases it silently).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from the unlock call (not expected).
    pub fn unlock(self) -> Result<()> {
        let r = self.release();
        std::mem::forget(self);
        r
    }

    fn release(&self) -> Result<()> {
        let fd = self.fd.as_fd();
        match self.kind {
            LockKind::Flock => rustix::fs::flock(fd, FlockOperation::Unlock)
                .map_err(|e| Error::sys("flock", describe(fd), e)),
            LockKind::Ofd => ofd_setlk(fd, OfdLock::Unlock, false)
                .map_err(|e| Error::sys("fcntl(F_OFD_SETLK)", describe(fd), e)),
        }
    }
}

impl AsFd for FileLock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Explicitly: the caller may hold other descriptors of the same open
        // file description, which would keep the lock alive past our close.
        let _ = self.release();
    }
}

/// A lock file that holds its owner's pid (`"1234\n"`), as daemons use under
/// `/run`. See [`acquire`](Self::acquire). Removed on drop.
#[derive(Debug)]
pub struct PidLockFile {
    path: PathBuf,
    /// The directory holding the file (`O_PATH`); checks and the unlink on
    /// drop go through it, never through `path`.
    dir: OwnedFd,
    lock: FileLock,
}

fn pid_object(path: &Path) -> String {
    format!("lock file {}", path.display())
}

/// Reads the pid recorded in a lock file: `None` if it is empty,
/// `Some(None)` if it holds something other than a positive pid.
fn read_pid(fd: BorrowedFd<'_>) -> Result<Option<Option<i32>>> {
    let mut buf = [0u8; 32];
    let n = loop {
        match rustix::io::pread(fd, &mut buf, 0) {
            Err(Errno::INTR) => continue,
            other => break other.map_err(|e| Error::sys("pread", describe(fd), e))?,
        }
    };
    let text = buf.get(..n).unwrap_or_default();
    let text = std::str::from_utf8(text).unwrap_or("?").trim();
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(text.parse::<i32>().ok().filter(|&p| p > 0)))
}

impl PidLockFile {
    /// Takes the lock file at `path` (created `0600` if missing): holds an
    /// exclusive `flock` on it for as long as this value lives and writes our
    /// pid into it.
    ///
    /// - If another process holds the flock, it is alive (the kernel drops a
    ///   dead process's flocks): [`Error::Locked`] with the pid it recorded.
    /// - If nobody holds the flock but the file names a pid, that owner did
    ///   not use flock (another tool's pid file) or died: if the process is
    ///   still alive ([`PeerWatch`]; a zombie counts as dead),
    ///   [`Error::Locked`]; if it is provably gone, the file is taken over.
    /// - An empty file (its creator died before writing) is taken over.
    ///
    /// A previous owner that removes the file while we wait is detected (we
    /// compare the inode we locked with the one at `path`) and we start over.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] as above; [`Error::InvalidArgument`] if the file
    /// holds something other than a positive pid (it is left alone);
    /// [`Error::Sys`] from `open`, `flock`, `fstat`, `stat`, `pread`,
    /// `ftruncate`, `pwrite` or `fsync`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{lock::PidLockFile, Error};
    /// let path = std::env::temp_dir().join(format!("kipc-doc-pidlock-{}", std::process::id()));
    /// let held = PidLockFile::acquire(&path)?;
    /// assert_eq!(PidLockFile::holder(&path)?, Some(std::process::id() as i32));
    /// assert!(matches!(PidLockFile::acquire(&path), Err(Error::Locked { .. })));
    /// drop(held);
    /// assert!(!path.exists());
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn acquire(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let obj = pid_object(path);
        let entry = Entry::of(path, &obj)?.ok_or_else(|| Error::InvalidArgument {
            object: obj.clone(),
            reason: "does not name a file",
        })?;
        // A few rounds cover an owner that removes the file under us.
        for _ in 0..64 {
            let fd = entry
                .open(OFlags::RDWR | OFlags::CREATE, Mode::from_raw_mode(0o600))
                .map_err(|e| entry.open_error(e, &obj))?;
            let Some(lock) = FileLock::try_lock(&fd, LockKind::Flock, LockMode::Exclusive)? else {
                let holder = read_pid(fd.as_fd())?.flatten();
                return Err(Error::Locked {
                    object: obj,
                    holder,
                });
            };
            drop(fd);
            let ours = rustix::fs::fstat(&lock).map_err(|e| Error::sys("fstat", &obj, e))?;
            match entry.lstat() {
                Ok(st) if st.st_dev == ours.st_dev && st.st_ino == ours.st_ino => {}
                // Removed or replaced since we opened it: start over.
                Ok(_) | Err(Errno::NOENT) => continue,
                Err(e) => return Err(Error::sys("stat", &obj, e)),
            }
            let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
            match read_pid(lock.as_fd())? {
                None => {}
                Some(None) => {
                    return Err(Error::InvalidArgument {
                        object: obj,
                        reason: "holds something other than a pid; not taken over",
                    })
                }
                // A stale file from an earlier process that had our pid.
                Some(Some(pid)) if pid == me => {}
                Some(Some(pid)) if PeerWatch::new(pid)?.is_alive() => {
                    return Err(Error::Locked {
                        object: obj,
                        holder: Some(pid),
                    });
                }
                // Its owner is provably gone: take over.
                Some(Some(_)) => {}
            }
            let text = format!("{me}\n");
            rustix::fs::ftruncate(&lock, 0).map_err(|e| Error::sys("ftruncate", &obj, e))?;
            let n = rustix::io::pwrite(&lock, text.as_bytes(), 0)
                .map_err(|e| Error::sys("pwrite", &obj, e))?;
            if n != text.len() {
                return Err(Error::sys("pwrite", &obj, Errno::IO));
            }
            rustix::fs::fsync(&lock).map_err(|e| Error::sys("fsync", &obj, e))?;
            return Ok(Self {
                path: path.to_path_buf(),
                dir: entry.dir,
                lock,
            });
        }
        Err(Error::Locked {
            object: obj,
            holder: None,
        })
    }

    /// The pid recorded in the lock file at `path`, if any (whether or not
    /// that process is alive or holds the lock).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `path` is a symbolic link or names no
    /// file; [`Error::Sys`] from `open` or `pread` (`ENOENT` if there is no
    /// file).
    pub fn holder(path: impl AsRef<Path>) -> Result<Option<i32>> {
        let path = path.as_ref();
        let obj = pid_object(path);
        let entry = Entry::of(path, &obj)?.ok_or_else(|| Error::InvalidArgument {
            object: obj.clone(),
            reason: "does not name a file",
        })?;
        let fd = entry
            .open(OFlags::RDONLY, Mode::empty())
            .map_err(|e| entry.open_error(e, &obj))?;
        Ok(read_pid(fd.as_fd())?.flatten())
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidLockFile {
    fn drop(&mut self) {
        // Remove the name while still holding the flock, and only if it is
        // still our file; a waiter that opened the old inode notices it was
        // unlinked and starts over.
        let Some(name) = self.path.file_name() else {
            return;
        };
        let st = rustix::fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW);
        if let (Ok(ours), Ok(st)) = (rustix::fs::fstat(&self.lock), st) {
            if st.st_dev == ours.st_dev && st.st_ino == ours.st_ino {
                let _ = rustix::fs::unlinkat(&self.dir, name, AtFlags::empty());
            }
        }
        // `self.lock` drops next: unlock, close.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    /// A child killed and reaped on drop, so a failed assertion cannot leave
    /// a `sleep 100` or a lock-holding helper behind.
    struct KillOnDrop(std::process::Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn temp(tag: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        std::env::temp_dir().join(format!(
            "kipc-lock-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    #[test]
    fn exclusive_flock_excludes_a_second_open_until_dropped() {
        let p = temp("ex");
        let held = FileLock::flock(&p, LockMode::Exclusive).unwrap();
        assert!(FileLock::try_flock(&p, LockMode::Shared).unwrap().is_none());
        let t = Instant::now();
        assert_eq!(
            FileLock::flock_timeout(&p, LockMode::Exclusive, Duration::from_millis(100))
                .unwrap_err(),
            Error::Timeout
        );
        assert!(t.elapsed() >= Duration::from_millis(100));
        drop(held);
        assert!(FileLock::try_flock(&p, LockMode::Exclusive)
            .unwrap()
            .is_some());
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn shared_flocks_coexist_but_exclude_exclusive() {
        let p = temp("sh");
        let a = FileLock::flock(&p, LockMode::Shared).unwrap();
        let b = FileLock::try_flock(&p, LockMode::Shared).unwrap().unwrap();
        assert!(FileLock::try_flock(&p, LockMode::Exclusive)
            .unwrap()
            .is_none());
        drop(a);
        b.unlock().unwrap();
        assert!(FileLock::try_flock(&p, LockMode::Exclusive)
            .unwrap()
            .is_some());
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn lock_timeout_succeeds_when_the_holder_lets_go_in_time() {
        let p = temp("tm");
        let held = FileLock::flock(&p, LockMode::Exclusive).unwrap();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
        });
        FileLock::flock_timeout(&p, LockMode::Exclusive, Duration::from_secs(10)).unwrap();
        h.join().unwrap();
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn ofd_locks_contend_between_open_file_descriptions_in_one_process() {
        let p = temp("ofd");
        let a = FileLock::open_file(&p).unwrap();
        let b = FileLock::open_file(&p).unwrap();
        let held = FileLock::lock(&a, LockKind::Ofd, LockMode::Exclusive).unwrap();
        assert_eq!(held.kind(), LockKind::Ofd);
        assert!(FileLock::try_lock(&b, LockKind::Ofd, LockMode::Shared)
            .unwrap()
            .is_none());
        // flock and OFD locks are independent on Linux.
        assert!(FileLock::try_lock(&b, LockKind::Flock, LockMode::Exclusive)
            .unwrap()
            .is_some());
        assert_eq!(
            FileLock::lock_timeout(
                &b,
                LockKind::Ofd,
                LockMode::Exclusive,
                Duration::from_millis(30)
            )
            .unwrap_err(),
            Error::Timeout
        );
        drop(held);
        assert!(FileLock::try_lock(&b, LockKind::Ofd, LockMode::Exclusive)
            .unwrap()
            .is_some());
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn pid_lock_file_refuses_a_live_holder_and_is_removed_on_drop() {
        let p = temp("pid");
        let held = PidLockFile::acquire(&p).unwrap();
        assert_eq!(held.path(), p.as_path());
        let me = std::process::id() as i32;
        assert_eq!(PidLockFile::holder(&p).unwrap(), Some(me));
        assert_eq!(
            PidLockFile::acquire(&p).unwrap_err(),
            Error::Locked {
                object: pid_object(&p),
                holder: Some(me)
            }
        );
        drop(held);
        assert!(!p.exists());
    }

    #[test]
    fn pid_file_of_a_live_non_flock_owner_is_refused_then_taken_over_once_it_dies() {
        let p = temp("stale");
        let mut child = KillOnDrop(Command::new("sleep").arg("100").spawn().unwrap());
        std::fs::write(&p, format!("{}\n", child.0.id())).unwrap();
        assert!(matches!(
            PidLockFile::acquire(&p),
            Err(Error::Locked { holder: Some(pid), .. }) if pid == child.0.id() as i32
        ));
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        let held = PidLockFile::acquire(&p).unwrap();
        assert_eq!(
            PidLockFile::holder(&p).unwrap(),
            Some(std::process::id() as i32)
        );
        drop(held);
    }

    #[test]
    fn garbage_is_not_taken_over_but_an_empty_file_is() {
        let p = temp("junk");
        std::fs::write(&p, "not a pid").unwrap();
        assert!(matches!(
            PidLockFile::acquire(&p),
            Err(Error::InvalidArgument { .. })
        ));
        std::fs::write(&p, "").unwrap();
        drop(PidLockFile::acquire(&p).unwrap());
        assert!(!p.exists());
    }

    /// A symlink at a lock path is refused by every entry point, and the
    /// file it points to is neither created, truncated, locked nor removed.
    #[test]
    fn a_symlink_at_a_lock_path_is_refused_and_its_target_untouched() {
        let target = temp("target");
        let link = temp("link");
        std::fs::write(&target, b"precious").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let refused = |r: Result<()>| match r {
            Err(Error::InvalidArgument { object, reason }) => {
                assert!(object.contains(&*link.to_string_lossy()), "{object}");
                assert!(reason.contains("symbolic link"), "{reason}");
            }
            other => panic!("not refused: {other:?}"),
        };
        refused(FileLock::open_file(&link).map(drop));
        refused(FileLock::try_flock(&link, LockMode::Exclusive).map(drop));
        refused(PidLockFile::acquire(&link).map(drop));
        refused(PidLockFile::holder(&link).map(drop));
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        // Nobody locked the target through the link.
        assert!(FileLock::try_flock(&target, LockMode::Exclusive)
            .unwrap()
            .is_some());
        // A dangling link does not create its target either.
        let missing = temp("missing");
        let dangling = temp("dangling");
        std::os::unix::fs::symlink(&missing, &dangling).unwrap();
        assert!(matches!(
            PidLockFile::acquire(&dangling),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(!missing.exists());
        for p in [&target, &link, &dangling] {
            std::fs::remove_file(p).unwrap();
        }
    }

    /// A directory can still be locked (read-only open), and a path through
    /// `..` names the file it should.
    #[test]
    fn directories_and_paths_through_dotdot_can_be_locked() {
        let dir = temp("dir");
        std::fs::create_dir(&dir).unwrap();
        let held = FileLock::flock(&dir, LockMode::Exclusive).unwrap();
        assert!(FileLock::try_flock(&dir, LockMode::Shared)
            .unwrap()
            .is_none());
        drop(held);
        let rel = Path::new("/")
            .join(&dir)
            .join("..")
            .join(dir.file_name().unwrap())
            .join("f");
        let pid = PidLockFile::acquire(&rel).unwrap();
        assert!(dir.join("f").exists());
        drop(pid);
        assert!(!dir.join("f").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    const CHILD_ENV: &str = "KIPC_TEST_PIDLOCK_CHILD";

    /// Run by `pid_lock_is_taken_over_after_its_owner_is_killed` in a child
    /// process (this test binary, re-executed): takes the lock and sleeps.
    #[test]
    #[ignore = "helper run as a child process by another test"]
    fn pid_lock_child_holder() {
        let Some(path) = std::env::var_os(CHILD_ENV) else {
            return;
        };
        let _held = PidLockFile::acquire(path).unwrap();
        std::thread::sleep(Duration::from_secs(100));
    }

    #[test]
    fn pid_lock_is_taken_over_after_its_owner_is_killed() {
        let p = temp("kill");
        let mut child = KillOnDrop(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "lock::tests::pid_lock_child_holder",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &p)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let cpid = child.0.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(20);
        while PidLockFile::holder(&p).ok().flatten() != Some(cpid) {
            assert!(Instant::now() < deadline, "child never took the lock");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(matches!(
            PidLockFile::acquire(&p),
            Err(Error::Locked { holder: Some(pid), .. }) if pid == cpid
        ));
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        // The file is still there (nobody removed it), naming a dead pid.
        assert_eq!(PidLockFile::holder(&p).unwrap(), Some(cpid));
        let held = PidLockFile::acquire(&p).unwrap();
        assert_eq!(
            PidLockFile::holder(&p).unwrap(),
            Some(std::process::id() as i32)
        );
        drop(held);
        assert!(!p.exists());
    }
}
