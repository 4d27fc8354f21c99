//! Anonymous pipes: `pipe2(O_CLOEXEC)`, with `Read`/`Write`, non-blocking
//! mode, capacity query and resize, and the zero-copy moves `splice` and
//! `tee`.
//!
//! Both ends are ordinary descriptors ([`AsFd`]), so they fit `poll`, `epoll`,
//! mio and tokio, and convert into [`OwnedFd`] (e.g. to become a child's
//! stdin through `Stdio::from`).
//!
//! # References
//! - [Linux `pipe(7)`](https://man7.org/linux/man-pages/man7/pipe.7.html)
//! - [Linux `splice(2)`](https://man7.org/linux/man-pages/man2/splice.2.html),
//!   [`tee(2)`](https://man7.org/linux/man-pages/man2/tee.2.html)

use std::io;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::OFlags;
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, SpliceFlags};

use crate::{Error, Result};

/// The read end of a pipe.
#[derive(Debug)]
pub struct PipeReader {
    fd: OwnedFd,
}

/// The write end of a pipe.
#[derive(Debug)]
pub struct PipeWriter {
    fd: OwnedFd,
}

/// `pipe2(O_CLOEXEC)` — creates an anonymous pipe, returning its read and
/// write ends.
///
/// # Errors
///
/// [`Error::Sys`] from `pipe2` (e.g. `EMFILE`).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// let (mut r, mut w) = kipc_host::pipe::pipe()?;
/// w.write_all(b"hello")?;
/// drop(w);
/// let mut s = String::new();
/// r.read_to_string(&mut s)?;
/// assert_eq!(s, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pipe() -> Result<(PipeReader, PipeWriter)> {
    let (r, w) =
        rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::sys("pipe2", "", e))?;
    Ok((PipeReader { fd: r }, PipeWriter { fd: w }))
}

/// `fcntl(F_SETFL, O_NONBLOCK)` on or off.
pub(crate) fn set_nonblocking_fd(fd: BorrowedFd<'_>, on: bool, object: &str) -> Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd).map_err(|e| Error::sys("fcntl(F_GETFL)", object, e))?;
    let flags = if on {
        flags | OFlags::NONBLOCK
    } else {
        flags - OFlags::NONBLOCK
    };
    rustix::fs::fcntl_setfl(fd, flags).map_err(|e| Error::sys("fcntl(F_SETFL)", object, e))
}

fn capacity_of(fd: BorrowedFd<'_>) -> Result<usize> {
    rustix::pipe::fcntl_getpipe_size(fd).map_err(|e| Error::sys("fcntl(F_GETPIPE_SZ)", "pipe", e))
}

fn set_capacity_of(fd: BorrowedFd<'_>, size: usize) -> Result<usize> {
    if size == 0 {
        return Err(Error::InvalidArgument {
            object: "pipe".into(),
            reason: "a pipe capacity must be positive",
        });
    }
    rustix::pipe::fcntl_setpipe_size(fd, size)
        .map_err(|e| Error::sys("fcntl(F_SETPIPE_SZ)", "pipe", e))
}

pub(crate) fn read_fd(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Err(Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

fn write_fd(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    loop {
        match rustix::io::write(fd, buf) {
            Err(Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

macro_rules! pipe_end_common {
    ($ty:ident) => {
        impl $ty {
            /// `fcntl(F_SETFL, O_NONBLOCK)` — switches this end between
            /// blocking and non-blocking mode. In non-blocking mode a read of
            /// an empty pipe or a write to a full one fails with
            /// [`io::ErrorKind::WouldBlock`] instead of waiting.
            ///
            /// The flag belongs to the open file description, so it is shared
            /// with every duplicate of this descriptor.
            ///
            /// # Errors
            ///
            /// [`Error::Sys`] from `fcntl`.
            pub fn set_nonblocking(&self, on: bool) -> Result<()> {
                set_nonblocking_fd(self.fd.as_fd(), on, "pipe")
            }

            /// `fcntl(F_GETPIPE_SZ)` — the pipe's buffer capacity in bytes
            /// (64 KiB by default on Linux).
            ///
            /// # Errors
            ///
            /// [`Error::Sys`] from `fcntl`.
            pub fn capacity(&self) -> Result<usize> {
                capacity_of(self.fd.as_fd())
            }

            /// `fcntl(F_SETPIPE_SZ, size)` — resizes the pipe's buffer to at
            /// least `size` bytes, returning the capacity the kernel chose
            /// (rounded up to a power-of-two number of pages).
            ///
            /// # Errors
            ///
            /// [`Error::InvalidArgument`] for 0; [`Error::Sys`] from `fcntl`:
            /// `EBUSY` if the pipe holds more data than `size`, `EPERM` above
            /// `/proc/sys/fs/pipe-max-size` without `CAP_SYS_RESOURCE`.
            pub fn set_capacity(&self, size: usize) -> Result<usize> {
                set_capacity_of(self.fd.as_fd(), size)
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.fd.as_fd()
            }
        }

        impl From<$ty> for OwnedFd {
            fn from(end: $ty) -> OwnedFd {
                end.fd
            }
        }
    };
}

pipe_end_common!(PipeReader);
pipe_end_common!(PipeWriter);

impl PipeReader {
    /// Wraps a descriptor that is the read end of a pipe (or a FIFO opened
    /// for reading). Nothing is checked; a non-pipe makes the capacity and
    /// splice calls fail with `EBADF`/`EINVAL`.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self { fd }
    }

    /// `tee(self, out, len, 0)` — copies up to `len` bytes from this pipe into
    /// the pipe `out` *without consuming them*, returning the bytes copied
    /// (0 when this pipe is empty and has no writer left).
    ///
    /// Blocks while this pipe is empty or `out` is full, unless the
    /// descriptors are non-blocking (then [`Errno::AGAIN`](rustix::io::Errno::AGAIN)
    /// comes back as [`Error::Sys`]).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `tee` (e.g. `EINVAL` if both ends are the same
    /// pipe).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use kipc_host::pipe::pipe;
    /// let (r1, mut w1) = pipe()?;
    /// let (mut r2, w2) = pipe()?;
    /// w1.write_all(b"abc")?;
    /// assert_eq!(r1.tee(&w2, 1024)?, 3);
    /// drop(w2);
    /// let mut copy = Vec::new();
    /// r2.read_to_end(&mut copy)?;
    /// assert_eq!(copy, b"abc"); // and r1 still holds "abc"
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tee(&self, out: &PipeWriter, len: usize) -> Result<usize> {
        loop {
            match rustix::pipe::tee(&self.fd, &out.fd, len, SpliceFlags::empty()) {
                Err(Errno::INTR) => continue,
                other => return other.map_err(|e| Error::sys("tee", "pipe", e)),
            }
        }
    }

    /// `splice(self, NULL, out, NULL, len, SPLICE_F_MOVE)` — moves up to `len`
    /// bytes from this pipe to `out` (a file, socket or another pipe) without
    /// copying them through user space, returning the bytes moved (0 when the
    /// pipe is empty and has no writer left).
    ///
    /// `out` is written at its file offset. Blocks like a read of this pipe
    /// and a write of `out` would.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `splice` (`EINVAL` if `out` does not support it,
    /// e.g. opened with `O_APPEND`).
    pub fn splice_to(&self, out: impl AsFd, len: usize) -> Result<usize> {
        splice(self.fd.as_fd(), out.as_fd(), len)
    }
}

impl PipeWriter {
    /// Wraps a descriptor that is the write end of a pipe (or a FIFO opened
    /// for writing). Nothing is checked.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self { fd }
    }

    /// `splice(input, NULL, self, NULL, len, SPLICE_F_MOVE)` — moves up to
    /// `len` bytes from `input` (a file, socket or another pipe) into this
    /// pipe without copying them through user space, returning the bytes
    /// moved (0 at end of input).
    ///
    /// `input` is read at its file offset.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `splice`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use kipc_host::pipe::pipe;
    /// let (r1, mut w1) = pipe()?;
    /// let (mut r2, w2) = pipe()?;
    /// w1.write_all(b"moved")?;
    /// assert_eq!(w2.splice_from(&r1, 100)?, 5);
    /// drop(w2);
    /// let mut s = String::new();
    /// r2.read_to_string(&mut s)?;
    /// assert_eq!(s, "moved");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn splice_from(&self, input: impl AsFd, len: usize) -> Result<usize> {
        splice(input.as_fd(), self.fd.as_fd(), len)
    }
}

/// `splice(input, NULL, output, NULL, len, SPLICE_F_MOVE)` — moves up to `len`
/// bytes between two descriptors, at least one of which is a pipe, without
/// copying them through user space; returns the bytes moved (0 at end of
/// input).
///
/// Non-pipe ends are read and written at their file offsets.
///
/// # Errors
///
/// [`Error::Sys`] from `splice` (`EINVAL` if neither end is a pipe or an end
/// does not support splicing; `EAGAIN` if a non-blocking end is not ready).
pub fn splice(input: impl AsFd, output: impl AsFd, len: usize) -> Result<usize> {
    loop {
        match rustix::pipe::splice(
            input.as_fd(),
            None,
            output.as_fd(),
            None,
            len,
            SpliceFlags::MOVE,
        ) {
            Err(Errno::INTR) => continue,
            other => return other.map_err(|e| Error::sys("splice", "", e)),
        }
    }
}

impl io::Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_fd(self.fd.as_fd(), buf)
    }
}

impl io::Read for &PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_fd(self.fd.as_fd(), buf)
    }
}

impl io::Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_fd(self.fd.as_fd(), buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Write for &PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_fd(self.fd.as_fd(), buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    // An anonymous temporary file (`O_TMPFILE` in the system temp directory),
    // for the documentation examples.
    fn tests_support_tempfile() -> Result<OwnedFd> {
        rustix::fs::open(
            std::env::temp_dir(),
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .map_err(|e| Error::sys("open(O_TMPFILE)", "temp dir", e))
    }

    #[test]
    fn bytes_written_come_out_in_order_then_eof() {
        let (mut r, mut w) = pipe().unwrap();
        w.write_all(b"one two").unwrap();
        drop(w);
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        assert_eq!(v, b"one two");
    }

    #[test]
    fn both_ends_are_cloexec() {
        let (r, w) = pipe().unwrap();
        for fd in [r.as_fd(), w.as_fd()] {
            let f = rustix::io::fcntl_getfd(fd).unwrap();
            assert!(f.contains(rustix::io::FdFlags::CLOEXEC));
        }
    }

    #[test]
    fn nonblocking_read_of_empty_pipe_would_block() {
        let (mut r, _w) = pipe().unwrap();
        r.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 8];
        let e = r.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        r.set_nonblocking(false).unwrap();
    }

    #[test]
    fn nonblocking_write_to_full_pipe_would_block() {
        let (_r, mut w) = pipe().unwrap();
        w.set_nonblocking(true).unwrap();
        let cap = w.capacity().unwrap();
        let chunk = vec![7u8; cap];
        let n = w.write(&chunk).unwrap();
        assert_eq!(n, cap);
        assert_eq!(w.write(b"x").unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn capacity_can_be_resized() {
        let (r, w) = pipe().unwrap();
        let before = r.capacity().unwrap();
        assert!(before >= 4096);
        let page = rustix::param::page_size();
        let got = w.set_capacity(before * 2).unwrap();
        assert!(got >= before * 2);
        assert_eq!(r.capacity().unwrap(), got);
        let got = w.set_capacity(page).unwrap();
        assert_eq!(got, page);
        assert!(matches!(
            w.set_capacity(0),
            Err(Error::InvalidArgument { .. })
        ));
    }

    #[test]
    fn tee_copies_without_consuming_and_splice_moves() {
        let (mut r1, mut w1) = pipe().unwrap();
        let (mut r2, w2) = pipe().unwrap();
        w1.write_all(b"payload").unwrap();
        assert_eq!(r1.tee(&w2, 100).unwrap(), 7);
        let mut buf = [0u8; 7];
        r2.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"payload");
        // Still in pipe 1: splice it into a file.
        let mut file = std::fs::File::from(tests_support_tempfile().unwrap());
        assert_eq!(r1.splice_to(&file, 100).unwrap(), 7);
        file.rewind().unwrap();
        let mut s = String::new();
        file.read_to_string(&mut s).unwrap();
        assert_eq!(s, "payload");
        // And back from the file into pipe 2.
        file.rewind().unwrap();
        assert_eq!(w2.splice_from(&file, 100).unwrap(), 7);
        drop(w2);
        drop(w1);
        let mut v = Vec::new();
        r2.read_to_end(&mut v).unwrap();
        assert_eq!(v, b"payload");
        let mut v = Vec::new();
        r1.read_to_end(&mut v).unwrap();
        assert!(v.is_empty());
    }

    #[test]
    fn splice_between_two_pipes_moves_bytes() {
        let (r1, mut w1) = pipe().unwrap();
        let (mut r2, w2) = pipe().unwrap();
        w1.write_all(b"xyz").unwrap();
        assert_eq!(splice(&r1, &w2, 10).unwrap(), 3);
        drop(w2);
        let mut v = Vec::new();
        r2.read_to_end(&mut v).unwrap();
        assert_eq!(v, b"xyz");
    }

    #[test]
    fn splice_of_two_regular_files_is_refused() {
        let a = tests_support_tempfile().unwrap();
        let b = tests_support_tempfile().unwrap();
        assert!(splice(&a, &b, 1).is_err());
    }
}
