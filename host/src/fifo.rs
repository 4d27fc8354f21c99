//! Named pipes (FIFOs): `mkfifo`, and opening either end with a timeout
//! instead of hanging forever when the other side never comes.
//!
//! A plain blocking `open` of a FIFO waits until the other end is opened too,
//! with no way to give up. Here both ends are opened `O_NONBLOCK` first:
//!
//! - **reader** ([`Fifo::open_read`]): `open(O_RDONLY|O_NONBLOCK)` succeeds
//!   at once. Then `poll(POLLIN)` waits until a writer has come and written
//!   something (`POLLIN`) or come and gone (`POLLHUP`; Linux reports hang-up
//!   to a reader only after a writer has connected since the reader opened,
//!   so a reader that never saw a writer just keeps waiting). Nothing by the
//!   deadline is [`Error::Timeout`]. A writer that opens and stays silent is
//!   therefore not noticed until it writes or closes: what a reader waits
//!   for is data, and that is what this waits for.
//! - **writer** ([`Fifo::open_write`]): `open(O_WRONLY|O_NONBLOCK)` fails with
//!   `ENXIO` while no reader has the FIFO open, so it is retried with short
//!   sleeps (1 ms doubling to 50 ms) until it succeeds or the deadline
//!   passes ([`Error::Timeout`]).
//!
//! Either way, `O_NONBLOCK` is cleared once connected, so the returned
//! [`PipeReader`]/[`PipeWriter`] block like ordinary pipe ends (switch back
//! with `set_nonblocking`). Both ends refuse a path that is not a FIFO.
//!
//! Unlike shared-memory objects, FIFOs are not required to be `0600`:
//! `mkfifo(1)` under the usual umask makes them `0644`, and interoperating
//! with shell tools is the point. [`Fifo::create`] uses `0600` by default.
//!
//! # References
//! - [Linux `fifo(7)`](https://man7.org/linux/man-pages/man7/fifo.7.html),
//!   [`mkfifo(3)`](https://man7.org/linux/man-pages/man3/mkfifo.3.html)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::pipe::{set_nonblocking_fd, PipeReader, PipeWriter};
use crate::{Error, Result};

/// The mode [`Fifo::create`] uses: owner read and write only.
pub const DEFAULT_MODE: u32 = 0o600;

/// Named-pipe operations. See the [module documentation](self).
#[derive(Debug, Clone, Copy)]
pub struct Fifo;

fn object(path: &Path) -> String {
    format!("fifo {}", path.display())
}

/// The remaining time before `deadline` (`None` = forever).
pub(crate) fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// A deadline `timeout` from now; `None` (forever) if `timeout` is `None` or
/// too large to represent.
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// `poll([fd], events, timeout)`, retrying `EINTR` with the time left;
/// returns the revents, or empty on timeout.
pub(crate) fn poll_one(
    fd: impl AsFd,
    events: PollFlags,
    deadline: Option<Instant>,
    object: &str,
) -> Result<PollFlags> {
    loop {
        let ts = remaining(deadline).map(|d| {
            rustix::time::Timespec::try_from(d).unwrap_or(rustix::time::Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            })
        });
        let mut fds = [PollFd::new(&fd, events)];
        match rustix::event::poll(&mut fds, ts.as_ref()) {
            Ok(0) => return Ok(PollFlags::empty()),
            Ok(_) => return Ok(fds[0].revents()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(Error::sys("poll", object, e)),
        }
    }
}

fn check_is_fifo(fd: &OwnedFd, path: &Path) -> Result<()> {
    let st = rustix::fs::fstat(fd).map_err(|e| Error::sys("fstat", object(path), e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Fifo {
        return Err(Error::InvalidArgument {
            object: object(path),
            reason: "exists and is not a FIFO",
        });
    }
    Ok(())
}

impl Fifo {
    /// `mkfifo(path, 0600)` — creates a named pipe readable and writable by
    /// its owner only. See [`create_with_mode`](Self::create_with_mode).
    ///
    /// # Errors
    ///
    /// As for [`create_with_mode`](Self::create_with_mode).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::fifo::Fifo;
    /// let path = std::env::temp_dir().join(format!("kipc-doc-fifo-{}", std::process::id()));
    /// Fifo::create(&path)?;
    /// Fifo::create(&path)?; // an existing FIFO is fine
    /// Fifo::remove(&path)?;
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn create(path: impl AsRef<Path>) -> Result<PathBuf> {
        Self::create_with_mode(path, DEFAULT_MODE)
    }

    /// `mkfifo(path, mode)` — creates a named pipe with permission bits
    /// `mode` (less the umask). If `path` already exists and is a FIFO, that
    /// is success (as for a second creator racing the first); anything else
    /// there is an error. Returns the path.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `mode` has bits outside `0o777`, or
    /// `path` exists and is not a FIFO; [`Error::Sys`] from `mkfifo`/`stat`
    /// (e.g. `ENOENT` for a missing parent directory).
    pub fn create_with_mode(path: impl AsRef<Path>, mode: u32) -> Result<PathBuf> {
        let path = path.as_ref();
        if mode & !0o777 != 0 {
            return Err(Error::InvalidArgument {
                object: object(path),
                reason: "a FIFO mode must lie in 0..=0o777",
            });
        }
        match rustix::fs::mkfifoat(CWD, path, Mode::from_raw_mode(mode)) {
            Ok(()) => Ok(path.to_path_buf()),
            Err(Errno::EXIST) => {
                let st =
                    rustix::fs::lstat(path).map_err(|e| Error::sys("lstat", object(path), e))?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Fifo {
                    Ok(path.to_path_buf())
                } else {
                    Err(Error::InvalidArgument {
                        object: object(path),
                        reason: "exists and is not a FIFO",
                    })
                }
            }
            Err(e) => Err(Error::sys("mkfifo", object(path), e)),
        }
    }

    /// `unlink(path)` — removes a named pipe (ends already open keep working).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `path` is not a FIFO; [`Error::Sys`]
    /// from `lstat`/`unlink` (`ENOENT` if it does not exist).
    pub fn remove(path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let st = rustix::fs::lstat(path).map_err(|e| Error::sys("lstat", object(path), e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Fifo {
            return Err(Error::InvalidArgument {
                object: object(path),
                reason: "is not a FIFO; not removed",
            });
        }
        rustix::fs::unlink(path).map_err(|e| Error::sys("unlink", object(path), e))
    }

    /// `open(path, O_RDONLY|O_NONBLOCK|O_CLOEXEC)`, then `poll(POLLIN)` —
    /// opens a FIFO for reading and waits up to `timeout` (forever if `None`)
    /// for a writer to write something or to come and go.
    ///
    /// The returned reader blocks. It reads 0 (end of file) once every
    /// writer has closed; to wait for the next writer, open again.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if no writer wrote or closed in time;
    /// [`Error::InvalidArgument`] if `path` is not a FIFO; [`Error::Sys`]
    /// from `open`, `fstat`, `poll` or `fcntl`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use kipc_host::{fifo::Fifo, Error};
    /// let path = std::env::temp_dir().join(format!("kipc-doc-fifo-r-{}", std::process::id()));
    /// Fifo::create(&path)?;
    /// // Nobody writes: a timeout, not a hang.
    /// assert_eq!(Fifo::open_read(&path, Some(Duration::from_millis(20))).unwrap_err(), Error::Timeout);
    /// Fifo::remove(&path)?;
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn open_read(path: impl AsRef<Path>, timeout: Option<Duration>) -> Result<PipeReader> {
        let path = path.as_ref();
        let deadline = deadline_after(timeout);
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| Error::sys("open", object(path), e))?;
        check_is_fifo(&fd, path)?;
        let obj = object(path);
        let revents = poll_one(&fd, PollFlags::IN, deadline, &obj)?;
        if revents.is_empty() {
            return Err(Error::Timeout);
        }
        set_nonblocking_fd(fd.as_fd(), false, &obj)?;
        Ok(PipeReader::from_fd(fd))
    }

    /// `open(path, O_WRONLY|O_NONBLOCK|O_CLOEXEC)`, retried while it fails
    /// with `ENXIO` (no reader yet) — opens a FIFO for writing once a reader
    /// has it open, waiting up to `timeout` (forever if `None`).
    ///
    /// The returned writer blocks while the FIFO is full; writing after the
    /// last reader closed fails with `EPIPE` (Rust ignores `SIGPIPE`).
    /// Writes of at most `PIPE_BUF` (4096) bytes are atomic.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if no reader came in time; [`Error::InvalidArgument`]
    /// if `path` is not a FIFO; [`Error::Sys`] from `open`, `fstat` or
    /// `fcntl` (`ENOENT` if it does not exist).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use kipc_host::{fifo::Fifo, Error};
    /// let path = std::env::temp_dir().join(format!("kipc-doc-fifo-w-{}", std::process::id()));
    /// Fifo::create(&path)?;
    /// assert_eq!(Fifo::open_write(&path, Some(Duration::from_millis(20))).unwrap_err(), Error::Timeout);
    /// Fifo::remove(&path)?;
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn open_write(path: impl AsRef<Path>, timeout: Option<Duration>) -> Result<PipeWriter> {
        let path = path.as_ref();
        let deadline = deadline_after(timeout);
        let mut nap = Duration::from_millis(1);
        let fd = loop {
            match rustix::fs::open(
                path,
                OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
                Mode::empty(),
            ) {
                Ok(fd) => break fd,
                Err(Errno::NXIO) => {
                    let left = remaining(deadline);
                    if left.is_some_and(|l| l.is_zero()) {
                        return Err(Error::Timeout);
                    }
                    std::thread::sleep(left.map_or(nap, |l| l.min(nap)));
                    nap = (nap * 2).min(Duration::from_millis(50));
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Error::sys("open", object(path), e)),
            }
        };
        check_is_fifo(&fd, path)?;
        set_nonblocking_fd(fd.as_fd(), false, &object(path))?;
        Ok(PipeWriter::from_fd(fd))
    }
}

impl PipeReader {
    /// `poll(POLLIN, timeout)`, then `read` — reads like [`std::io::Read::read`]
    /// but waits at most `timeout` for data (or end of file).
    ///
    /// With a second reader on the same pipe, the data seen by `poll` may be
    /// taken before this `read`, which then blocks; give each pipe one reader
    /// or make it non-blocking.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if nothing arrived in time; [`Error::Sys`] from
    /// `poll` or `read`.
    pub fn read_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        let revents = poll_one(self, PollFlags::IN, deadline_after(Some(timeout)), "pipe")?;
        if revents.is_empty() {
            return Err(Error::Timeout);
        }
        // If another reader of this pipe takes the data between the poll and
        // this read, the read blocks: documented above.
        crate::pipe::read_fd(self.as_fd(), buf).map_err(|e| Error::Sys {
            call: "read",
            object: "pipe".into(),
            errno: e.raw_os_error().map_or(Errno::IO, Errno::from_raw_os_error),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn temp(tag: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        std::env::temp_dir().join(format!(
            "kipc-fifo-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    #[test]
    fn create_makes_a_0600_fifo_and_refuses_a_regular_file() {
        let p = temp("mk");
        Fifo::create(&p).unwrap();
        let st = rustix::fs::stat(&p).unwrap();
        assert_eq!(FileType::from_raw_mode(st.st_mode), FileType::Fifo);
        assert_eq!(st.st_mode & 0o777, 0o600);
        Fifo::remove(&p).unwrap();
        std::fs::write(&p, b"x").unwrap();
        assert!(matches!(
            Fifo::create(&p),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            Fifo::remove(&p),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            Fifo::open_read(&p, Some(Duration::from_millis(10))),
            Err(Error::InvalidArgument { .. })
        ));
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(
            Fifo::create_with_mode(&p, 0o1777),
            Err(Error::InvalidArgument { .. })
        ));
    }

    #[test]
    fn open_write_times_out_without_a_reader() {
        let p = temp("w");
        Fifo::create(&p).unwrap();
        let t = Instant::now();
        assert_eq!(
            Fifo::open_write(&p, Some(Duration::from_millis(100))).unwrap_err(),
            Error::Timeout
        );
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert!(t.elapsed() < Duration::from_secs(5));
        Fifo::remove(&p).unwrap();
    }

    #[test]
    fn open_read_times_out_when_the_writer_never_comes() {
        let p = temp("r");
        Fifo::create(&p).unwrap();
        let t = Instant::now();
        assert_eq!(
            Fifo::open_read(&p, Some(Duration::from_millis(100))).unwrap_err(),
            Error::Timeout
        );
        assert!(t.elapsed() >= Duration::from_millis(100));
        Fifo::remove(&p).unwrap();
    }

    #[test]
    fn reader_and_writer_meet_whichever_opens_first() {
        let p = temp("rw");
        Fifo::create(&p).unwrap();
        let p2 = p.clone();
        let h = std::thread::spawn(move || {
            let mut w = Fifo::open_write(&p2, Some(Duration::from_secs(10))).unwrap();
            w.write_all(b"hello\n").unwrap();
        });
        let mut r = Fifo::open_read(&p, Some(Duration::from_secs(10))).unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello\n");
        h.join().unwrap();
        // The reader first this time, the writer late.
        let p2 = p.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut w = Fifo::open_write(&p2, Some(Duration::from_secs(10))).unwrap();
            w.write_all(b"late").unwrap();
        });
        let r = Fifo::open_read(&p, Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 16];
        let n = r.read_timeout(&mut buf, Duration::from_secs(10)).unwrap();
        assert_eq!(buf.get(..n), Some(&b"late"[..]));
        h.join().unwrap();
        Fifo::remove(&p).unwrap();
    }

    #[test]
    fn read_timeout_with_a_silent_writer_times_out() {
        let (r, _w) = crate::pipe::pipe().unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(
            r.read_timeout(&mut buf, Duration::from_millis(20)),
            Err(Error::Timeout)
        );
    }
}
