//! A spool directory: writers publish messages atomically as files, readers
//! take them in order, each message exactly once, even with several readers
//! in several processes. The layout is maildir's:
//!
//! | path             | who writes it | what it holds                              |
//! |------------------|---------------|--------------------------------------------|
//! | `DIR/tmp/NAME`   | a writer      | a message being written (never read)        |
//! | `DIR/new/NAME`   | a writer      | a published message, complete and fsynced   |
//! | `DIR/cur/NAME.P` | reader pid P  | a message claimed by P, being read          |
//!
//! **Send**: create `tmp/NAME` (`O_EXCL`, `0600`), write, `fsync` the file,
//! `rename` it to `new/NAME`, `fsync` the `new/` directory. A crash before the
//! rename leaves only junk in `tmp/`, never a partial message in `new/`;
//! after the directory fsync the message survives a power loss.
//!
//! **Names** are `TTTTTTTTTTTTTTTTTTTT-PPPPPPPPPP-CCCCCCCCCC`: wall-clock
//! nanoseconds (made strictly increasing within a process), the writer's pid
//! and a per-process counter, all zero-padded decimal, so sorting names sorts
//! by send time: exact per writer, and as good as the clocks across writers.
//!
//! **Receive**: list `new/`, sort, and *claim* the oldest by
//! `rename(new/NAME, cur/NAME.PID)`. `rename` is atomic: when two readers
//! race for one message, exactly one rename succeeds and the other gets
//! `ENOENT` and moves on to the next name. The winner reads `cur/NAME.PID`
//! and unlinks it. A reader that dies between its claim and the unlink
//! leaves the message in `cur/`; [`Spool::recover`] puts messages claimed by
//! dead pids back into `new/` (so across reader crashes delivery is at least
//! once; without crashes, exactly once).
//!
//! **Waiting** ([`Spool::recv`], [`Spool::recv_timeout`]) uses inotify on
//! `new/` (`IN_MOVED_TO|IN_CREATE`), not sleeps: the spool's descriptor
//! ([`AsFd`]) becomes readable when something may have arrived, so it also
//! fits epoll, mio and tokio. The inotify queue is drained *before* each scan,
//! so an arrival during the scan still wakes the next wait.
//!
//! The directory is created `0700`; opening an existing one checks that it
//! belongs to us and is not group- or world-writable.
//!
//! **Symlinks are refused.** The spool directory is opened once with
//! `O_DIRECTORY|O_NOFOLLOW`, its `tmp/`, `new/` and `cur/` with `openat` on
//! that descriptor (same flags), and every later call (`openat`, `renameat`,
//! `unlinkat`, listing, the inotify watch) goes through those descriptors,
//! never through the path again. A symlink at `DIR` or at one of its
//! subdirectories is an error naming it ([`Error::InvalidArgument`]), so a
//! link planted at the path cannot make a reader take and delete another
//! maildir's messages; a directory swapped in under the path after `open`
//! is not used either. A symlink planted *inside* `new/` is consumed (its
//! claim unlinked) and reported, never followed. Components above `DIR`
//! (`/tmp` itself, say) are resolved as usual.
//!
//! # References
//! - [maildir(5)](https://cr.yp.to/proto/maildir.html)
//! - [Linux `rename(2)`](https://man7.org/linux/man-pages/man2/rename.2.html),
//!   [`inotify(7)`](https://man7.org/linux/man-pages/man7/inotify.7.html)

use std::collections::VecDeque;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::event::PollFlags;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::fs::{AtFlags, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::fifo::{deadline_after, poll_one};
use crate::liveness::PeerWatch;
use crate::{Error, Result};

/// The name a message was published under in `new/` (sortable by send time).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(String);

impl MessageId {
    /// The file name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An open spool directory. See the [module documentation](self).
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    /// The spool directory itself, opened `O_NOFOLLOW`; every name below it
    /// is reached through this and the three below.
    _dir: OwnedFd,
    tmp: OwnedFd,
    new: OwnedFd,
    cur: OwnedFd,
    /// Non-blocking inotify descriptor watching `new/`.
    inotify: OwnedFd,
    /// Names seen in `new/` by the last scan and not tried yet, oldest first.
    pending: VecDeque<String>,
}

/// Nanoseconds since the epoch, strictly increasing within this process.
fn next_timestamp() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let t = now.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, t, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return t,
            Err(seen) => last = seen,
        }
    }
}

fn unique_name() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!(
        "{:020}-{:010}-{:010}",
        next_timestamp(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// The error for a symlink found where a spool directory should be.
fn symlink_refused(obj: &str) -> Error {
    Error::InvalidArgument {
        object: obj.to_string(),
        reason: "is a symbolic link; refused (a spool is only used through its own directory)",
    }
}

/// `mkdirat(dir, name, 0700)`, where an existing entry is fine (checked when
/// opened).
fn mkdir_at(dir: impl AsFd, name: &Path, obj: &str) -> Result<()> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(Error::sys("mkdir", obj, e)),
    }
}

/// `openat(dir, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC)`, then checks
/// the owner and mode. A symlink at `name` is refused with a clear error.
fn open_dir_at(dir: impl AsFd, name: &Path, obj: &str) -> Result<OwnedFd> {
    let dir = dir.as_fd();
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // O_NOFOLLOW says ELOOP for a symlink; with O_DIRECTORY some kernels
        // say ENOTDIR first: tell the two apart with an lstat.
        Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
            return Err(
                match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_symlink() => {
                        symlink_refused(obj)
                    }
                    _ => Error::sys("open", obj, e),
                },
            )
        }
        Err(e) => return Err(Error::sys("open", obj, e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::sys("fstat", obj, e))?;
    let euid = rustix::process::geteuid().as_raw();
    if st.st_uid != euid {
        return Err(Error::NotOwner {
            object: obj.to_string(),
            owner: st.st_uid,
            euid,
        });
    }
    let mode = st.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Error::BadMode {
            object: obj.to_string(),
            mode,
        });
    }
    Ok(fd)
}

/// Reads the entry names (no dot files) of the directory open at `dir`,
/// sorted. Reads through a fresh open of `dir`'s `.`, never a path.
fn sorted_names(dir: impl AsFd, obj: &str) -> Result<Vec<String>> {
    let rd = rustix::fs::Dir::read_from(dir).map_err(|e| Error::sys("opendir", obj, e))?;
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::sys("readdir", obj, e))?;
        if let Ok(name) = entry.file_name().to_str() {
            if !name.starts_with('.') {
                names.push(name.to_owned());
            }
        }
    }
    names.sort_unstable();
    Ok(names)
}

fn io_err(call: &'static str, obj: &str, e: &std::io::Error) -> Error {
    Error::sys(
        call,
        obj,
        e.raw_os_error().map_or(Errno::IO, Errno::from_raw_os_error),
    )
}

impl Spool {
    /// `mkdir(DIR, 0700)` and its `tmp/`, `new/`, `cur/` if missing, then
    /// opens them and starts an inotify watch on `new/`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `dir` or one of its subdirectories is a
    /// symbolic link; [`Error::NotOwner`]/[`Error::BadMode`] if a directory
    /// belongs to another user or is group- or world-writable; [`Error::Sys`]
    /// from `mkdir`, `open`, `fstat`, `inotify_init1` or `inotify_add_watch`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::spool::Spool;
    /// let dir = std::env::temp_dir().join(format!("kipc-doc-spool-{}", std::process::id()));
    /// let mut spool = Spool::open(&dir)?;
    /// spool.send(b"first")?;
    /// spool.send(b"second")?;
    /// assert_eq!(spool.try_recv()?.as_deref(), Some(&b"first"[..]));
    /// assert_eq!(spool.try_recv()?.as_deref(), Some(&b"second"[..]));
    /// assert_eq!(spool.try_recv()?, None);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().to_path_buf();
        let obj = format!("spool {}", path.display());
        mkdir_at(CWD, &path, &obj)?;
        let dir = open_dir_at(CWD, &path, &obj)?;
        let mut fds = Vec::with_capacity(3);
        for sub in ["tmp", "new", "cur"] {
            let o = format!("spool {}", path.join(sub).display());
            mkdir_at(&dir, Path::new(sub), &o)?;
            fds.push(open_dir_at(&dir, Path::new(sub), &o)?);
        }
        let inotify = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .map_err(|e| Error::sys("inotify_init1", &obj, e))?;
        let Some(new) = fds.get(1) else {
            return Err(Error::sys("open", &obj, Errno::IO));
        };
        // Watch the directory we opened, not whatever the path names now:
        // `/proc/self/fd/N` is the open directory itself.
        let watched = {
            use std::os::fd::AsRawFd;
            format!("/proc/self/fd/{}", new.as_raw_fd())
        };
        inotify::add_watch(
            &inotify,
            watched.as_str(),
            WatchFlags::MOVED_TO | WatchFlags::CREATE | WatchFlags::ONLYDIR,
        )
        .map_err(|e| Error::sys("inotify_add_watch", &obj, e))?;
        let mut fds = fds.into_iter();
        let (Some(tmp), Some(new), Some(cur)) = (fds.next(), fds.next(), fds.next()) else {
            return Err(Error::sys("open", &obj, Errno::IO));
        };
        Ok(Self {
            path,
            _dir: dir,
            tmp,
            new,
            cur,
            inotify,
            pending: VecDeque::new(),
        })
    }

    /// The spool directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn obj(&self) -> String {
        format!("spool {}", self.path.display())
    }

    /// Publishes `msg`: `open(tmp/NAME, O_CREAT|O_EXCL)`, `write`, `fsync`,
    /// `rename(tmp/NAME, new/NAME)`, `fsync(new/)`. Returns NAME.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from any of those calls (e.g. `ENOSPC`); the temporary
    /// file is removed on failure.
    pub fn send(&self, msg: &[u8]) -> Result<MessageId> {
        let obj = self.obj();
        let name = unique_name();
        let fd = rustix::fs::openat(
            &self.tmp,
            name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| Error::sys("open", &obj, e))?;
        let publish = || -> Result<()> {
            let mut file = std::fs::File::from(fd);
            file.write_all(msg).map_err(|e| io_err("write", &obj, &e))?;
            rustix::fs::fsync(&file).map_err(|e| Error::sys("fsync", &obj, e))?;
            drop(file);
            rustix::fs::renameat(&self.tmp, name.as_str(), &self.new, name.as_str())
                .map_err(|e| Error::sys("rename", &obj, e))
        };
        if let Err(e) = publish() {
            let _ = rustix::fs::unlinkat(&self.tmp, name.as_str(), AtFlags::empty());
            return Err(e);
        }
        rustix::fs::fsync(&self.new).map_err(|e| Error::sys("fsync", &obj, e))?;
        Ok(MessageId(name))
    }

    /// Takes the oldest message, if there is one, without waiting: claims it
    /// by `rename(new/NAME, cur/NAME.PID)`, reads it, unlinks it.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from listing `new/`, `rename`, `open`, `read` or
    /// `unlink`.
    pub fn try_recv(&mut self) -> Result<Option<Vec<u8>>> {
        let obj = self.obj();
        let mut rescanned = false;
        loop {
            let Some(name) = self.pending.pop_front() else {
                if rescanned {
                    return Ok(None);
                }
                self.pending = sorted_names(&self.new, &obj)?.into();
                rescanned = true;
                continue;
            };
            let claimed = format!("{name}.{}", std::process::id());
            match rustix::fs::renameat(&self.new, name.as_str(), &self.cur, claimed.as_str()) {
                Ok(()) => {}
                // Another reader claimed it first.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(Error::sys("rename", &obj, e)),
            }
            let fd = match rustix::fs::openat(
                &self.cur,
                claimed.as_str(),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(e) => {
                    // Not a message we can read (a symlink planted in `new/`
                    // says ELOOP): consume the claim so it is reported once.
                    let _ = rustix::fs::unlinkat(&self.cur, claimed.as_str(), AtFlags::empty());
                    return Err(if e == Errno::LOOP {
                        Error::InvalidArgument {
                            object: format!("{obj}: message {name}"),
                            reason: "is a symbolic link; not followed, removed",
                        }
                    } else {
                        Error::sys("open", &obj, e)
                    });
                }
            };
            let mut data = Vec::new();
            std::fs::File::from(fd)
                .read_to_end(&mut data)
                .map_err(|e| io_err("read", &obj, &e))?;
            rustix::fs::unlinkat(&self.cur, claimed.as_str(), AtFlags::empty())
                .map_err(|e| Error::sys("unlink", &obj, e))?;
            return Ok(Some(data));
        }
    }

    /// Takes the oldest message, waiting (on inotify) for one to arrive.
    ///
    /// # Errors
    ///
    /// As for [`try_recv`](Self::try_recv), plus [`Error::Sys`] from `poll`
    /// or reading the inotify descriptor.
    pub fn recv(&mut self) -> Result<Vec<u8>> {
        self.recv_deadline(None)
    }

    /// Takes the oldest message, waiting up to `timeout` for one to arrive.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; otherwise as for [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use kipc_host::{spool::Spool, Error};
    /// let dir = std::env::temp_dir().join(format!("kipc-doc-spool-t-{}", std::process::id()));
    /// let mut spool = Spool::open(&dir)?;
    /// assert_eq!(spool.recv_timeout(Duration::from_millis(20)), Err(Error::Timeout));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>> {
        self.recv_deadline(Some(timeout))
    }

    fn recv_deadline(&mut self, timeout: Option<Duration>) -> Result<Vec<u8>> {
        let deadline = deadline_after(timeout);
        let obj = self.obj();
        loop {
            self.drain_events()?;
            if let Some(msg) = self.try_recv()? {
                return Ok(msg);
            }
            if poll_one(&self.inotify, PollFlags::IN, deadline, &obj)?.is_empty() {
                return Err(Error::Timeout);
            }
        }
    }

    /// Discards queued inotify events (non-blocking reads until `EAGAIN`).
    fn drain_events(&self) -> Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(&self.inotify, &mut buf) {
                Ok(0) | Err(Errno::AGAIN) => return Ok(()),
                Ok(_) | Err(Errno::INTR) => continue,
                Err(e) => return Err(Error::sys("read", format!("inotify of {}", self.obj()), e)),
            }
        }
    }

    /// Puts messages claimed by readers that have died (`cur/NAME.PID` with
    /// PID gone) back into `new/NAME`, returning how many. Messages claimed
    /// by live readers are left alone.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from listing `cur/`, `pidfd_open` or `rename`.
    pub fn recover(&self) -> Result<usize> {
        let obj = self.obj();
        let mut n = 0;
        for claimed in sorted_names(&self.cur, &obj)? {
            let Some((name, pid)) = claimed.rsplit_once('.') else {
                continue;
            };
            let Ok(pid) = pid.parse::<i32>() else {
                continue;
            };
            if pid <= 0 || PeerWatch::new(pid)?.is_alive() {
                continue;
            }
            match rustix::fs::renameat(&self.cur, claimed.as_str(), &self.new, name) {
                Ok(()) => n += 1,
                Err(Errno::NOENT) => {}
                Err(e) => return Err(Error::sys("rename", &obj, e)),
            }
        }
        if n > 0 {
            rustix::fs::fsync(&self.new).map_err(|e| Error::sys("fsync", &obj, e))?;
        }
        Ok(n)
    }
}

impl AsFd for Spool {
    /// The inotify descriptor watching `new/`: readable when a message may
    /// have arrived (then call [`Spool::try_recv`]).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::{Arc, Barrier};
    use std::time::Instant;

    fn temp(tag: &str) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        std::env::temp_dir().join(format!(
            "kipc-spool-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    #[test]
    fn messages_come_out_in_send_order() {
        let dir = temp("order");
        let mut s = Spool::open(&dir).unwrap();
        let ids: Vec<_> = (0..50)
            .map(|i| s.send(format!("m{i}").as_bytes()).unwrap())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        for i in 0..50 {
            assert_eq!(s.try_recv().unwrap().unwrap(), format!("m{i}").as_bytes());
        }
        assert_eq!(s.try_recv().unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn directory_is_private_and_a_world_writable_one_is_refused() {
        let dir = temp("mode");
        let s = Spool::open(&dir).unwrap();
        let st = rustix::fs::stat(s.path()).unwrap();
        assert_eq!(st.st_mode & 0o777, 0o700);
        drop(s);
        rustix::fs::chmod(&dir, Mode::from_raw_mode(0o777)).unwrap();
        assert!(matches!(Spool::open(&dir), Err(Error::BadMode { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn two_reader_threads_take_every_message_exactly_once() {
        let dir = temp("two");
        let writer = Spool::open(&dir).unwrap();
        const N: usize = 400;
        let barrier = Arc::new(Barrier::new(3));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let dir = dir.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut s = Spool::open(&dir).unwrap();
                    barrier.wait();
                    let mut got = Vec::new();
                    while let Ok(m) = s.recv_timeout(Duration::from_millis(500)) {
                        got.push(String::from_utf8(m).unwrap());
                    }
                    got
                })
            })
            .collect();
        barrier.wait();
        for i in 0..N {
            writer.send(format!("{i}").as_bytes()).unwrap();
        }
        let mut all = Vec::new();
        for r in readers {
            let got = r.join().unwrap();
            // Each reader sees its share in send order.
            let nums: Vec<usize> = got.iter().map(|s| s.parse().unwrap()).collect();
            assert!(nums.windows(2).all(|w| w[0] < w[1]), "{nums:?}");
            all.extend(got);
        }
        assert_eq!(all.len(), N, "a message was lost or duplicated");
        let set: HashSet<_> = all.into_iter().collect();
        assert_eq!(set.len(), N);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recv_wakes_on_a_send_from_another_thread() {
        let dir = temp("wake");
        let mut s = Spool::open(&dir).unwrap();
        let d2 = dir.clone();
        let t = Instant::now();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            Spool::open(&d2).unwrap().send(b"late").unwrap();
        });
        assert_eq!(s.recv_timeout(Duration::from_secs(10)).unwrap(), b"late");
        assert!(t.elapsed() < Duration::from_secs(5));
        h.join().unwrap();
        assert_eq!(
            s.recv_timeout(Duration::from_millis(20)),
            Err(Error::Timeout)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_dead_readers_claim_is_recovered() {
        let dir = temp("recover");
        let mut s = Spool::open(&dir).unwrap();
        let id = s.send(b"orphan").unwrap();
        // Simulate a reader that claimed it and died.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        std::fs::rename(
            dir.join("new").join(id.as_str()),
            dir.join("cur").join(format!("{id}.{dead}")),
        )
        .unwrap();
        // And one claimed by a live reader (us) stays claimed.
        let id2 = s.send(b"mine").unwrap();
        std::fs::rename(
            dir.join("new").join(id2.as_str()),
            dir.join("cur")
                .join(format!("{id2}.{}", std::process::id())),
        )
        .unwrap();
        assert_eq!(s.try_recv().unwrap(), None);
        assert_eq!(s.recover().unwrap(), 1);
        assert_eq!(s.try_recv().unwrap().unwrap(), b"orphan");
        assert_eq!(s.try_recv().unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The finding: with a symlink at the spool path pointing at another
    /// maildir, `try_recv` took and deleted that maildir's message. Now the
    /// link is refused by name and the other maildir is untouched.
    #[test]
    fn a_symlink_at_the_spool_path_is_refused_and_its_target_untouched() {
        let real = temp("real");
        let link = temp("link");
        let victim = Spool::open(&real).unwrap();
        let id = victim.send(b"not yours").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = Spool::open(&link).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { object, .. } if object.contains(&*link.to_string_lossy())),
            "{err:?}"
        );
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(real.join("new").join(id.as_str()).exists());
        // A dangling link is refused too (not created through).
        let dangling = temp("dangling");
        std::os::unix::fs::symlink(temp("nowhere"), &dangling).unwrap();
        assert!(matches!(
            Spool::open(&dangling),
            Err(Error::InvalidArgument { .. })
        ));
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_file(&dangling).unwrap();
        std::fs::remove_dir_all(&real).unwrap();
    }

    #[test]
    fn a_symlinked_subdirectory_is_refused() {
        let real = temp("realsub");
        let dir = temp("sub");
        let victim = Spool::open(&real).unwrap();
        let id = victim.send(b"not yours").unwrap();
        std::fs::create_dir(&dir).unwrap();
        rustix::fs::chmod(&dir, Mode::from_raw_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(real.join("new"), dir.join("new")).unwrap();
        let err = Spool::open(&dir).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { object, .. } if object.ends_with("new")),
            "{err:?}"
        );
        assert!(real.join("new").join(id.as_str()).exists());
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&real).unwrap();
    }

    #[test]
    fn a_symlink_planted_in_new_is_removed_not_followed() {
        let dir = temp("planted");
        let mut s = Spool::open(&dir).unwrap();
        let secret = temp("secret");
        std::fs::write(&secret, b"secret").unwrap();
        std::os::unix::fs::symlink(&secret, dir.join("new").join("00000000000000000000-0-0"))
            .unwrap();
        s.send(b"real").unwrap();
        let err = s.try_recv().unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(s.try_recv().unwrap().unwrap(), b"real");
        assert_eq!(s.try_recv().unwrap(), None);
        assert_eq!(std::fs::read(&secret).unwrap(), b"secret");
        std::fs::remove_file(&secret).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A spool keeps using the directories it opened even if the path is
    /// swapped for a symlink afterwards.
    #[test]
    fn a_path_swapped_after_open_is_not_followed() {
        let dir = temp("swap");
        let moved = temp("moved");
        let other = temp("other");
        let mut s = Spool::open(&dir).unwrap();
        let victim = Spool::open(&other).unwrap();
        let id = victim.send(b"not yours").unwrap();
        std::fs::rename(&dir, &moved).unwrap();
        std::os::unix::fs::symlink(&other, &dir).unwrap();
        assert_eq!(s.try_recv().unwrap(), None);
        s.send(b"mine").unwrap();
        assert_eq!(s.try_recv().unwrap().unwrap(), b"mine");
        assert!(other.join("new").join(id.as_str()).exists());
        std::fs::remove_file(&dir).unwrap();
        std::fs::remove_dir_all(&moved).unwrap();
        std::fs::remove_dir_all(&other).unwrap();
    }

    #[test]
    fn empty_message_round_trips() {
        let dir = temp("empty");
        let mut s = Spool::open(&dir).unwrap();
        s.send(b"").unwrap();
        assert_eq!(s.try_recv().unwrap(), Some(Vec::new()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
