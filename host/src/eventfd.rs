//! eventfd: a kernel 64-bit counter behind a descriptor, the cheapest
//! pollable notification between threads or (by passing or inheriting the
//! descriptor) processes.
//!
//! - [`EventMode::Counter`]: a write adds to the counter; a read returns the
//!   whole count and resets it to zero (several notifications coalesce).
//! - [`EventMode::Semaphore`] (`EFD_SEMAPHORE`): a read returns 1 and
//!   decrements the counter by one (each notification is taken once).
//!
//! A read of a zero counter waits; a write that would take the counter past
//! `u64::MAX - 1` waits for a reader. The descriptor is kept `O_NONBLOCK`
//! internally and the blocking forms wait with `poll`, so one object offers
//! try, blocking and timed forms. It is readable (`POLLIN`) while the counter
//! is non-zero: register [`EventFd::as_fd`] with epoll, mio or tokio.
//!
//! # References
//! - [Linux `eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html)

use std::time::Duration;

use rustix::event::{EventfdFlags, PollFlags};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;

use crate::fifo::{deadline_after, poll_one};
use crate::{Error, Result};

/// How reads take from the counter. See the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventMode {
    /// A read returns the whole count and resets it to zero.
    Counter,
    /// A read returns 1 and decrements the count (`EFD_SEMAPHORE`).
    Semaphore,
}

/// An eventfd. See the [module documentation](self).
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
    mode: EventMode,
}

const OBJ: &str = "eventfd";

impl EventFd {
    /// `eventfd(initial, EFD_CLOEXEC|EFD_NONBLOCK [|EFD_SEMAPHORE])` — creates
    /// an eventfd whose counter starts at `initial`.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `eventfd` (e.g. `EMFILE`).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::eventfd::{EventFd, EventMode};
    /// let ev = EventFd::new(0, EventMode::Counter)?;
    /// ev.write(2)?;
    /// ev.write(3)?;
    /// assert_eq!(ev.read()?, 5);
    /// assert_eq!(ev.try_read()?, None);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn new(initial: u32, mode: EventMode) -> Result<Self> {
        let mut flags = EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK;
        if mode == EventMode::Semaphore {
            flags |= EventfdFlags::SEMAPHORE;
        }
        let fd =
            rustix::event::eventfd(initial, flags).map_err(|e| Error::sys("eventfd", "", e))?;
        Ok(Self { fd, mode })
    }

    /// The mode chosen at creation.
    pub fn mode(&self) -> EventMode {
        self.mode
    }

    /// `write(fd, &n, 8)` without waiting — adds `n` to the counter;
    /// `Ok(false)` if that would overflow it (nothing is added).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for `n == u64::MAX`; [`Error::Sys`] from
    /// `write`.
    pub fn try_write(&self, n: u64) -> Result<bool> {
        if n == u64::MAX {
            return Err(Error::InvalidArgument {
                object: OBJ.into(),
                reason: "cannot add u64::MAX to an eventfd",
            });
        }
        loop {
            match rustix::io::write(&self.fd, &n.to_ne_bytes()) {
                Ok(_) => return Ok(true),
                Err(Errno::AGAIN) => return Ok(false),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Error::sys("write", OBJ, e)),
            }
        }
    }

    /// `write(fd, &n, 8)` — adds `n` to the counter, waking readers; waits
    /// (with `poll(POLLOUT)`) while that would overflow the counter.
    ///
    /// Writing 0 is allowed and changes nothing.
    ///
    /// # Errors
    ///
    /// As for [`try_write`](Self::try_write), plus [`Error::Sys`] from `poll`.
    pub fn write(&self, n: u64) -> Result<()> {
        loop {
            if self.try_write(n)? {
                return Ok(());
            }
            poll_one(&self.fd, PollFlags::OUT, None, OBJ)?;
        }
    }

    /// `read(fd, &mut n, 8)` without waiting — the count (or 1 in semaphore
    /// mode), or `None` if the counter is zero.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `read`.
    pub fn try_read(&self) -> Result<Option<u64>> {
        let mut buf = [0u8; 8];
        loop {
            match rustix::io::read(&self.fd, &mut buf) {
                Ok(8) => return Ok(Some(u64::from_ne_bytes(buf))),
                Ok(_) => return Err(Error::sys("read", OBJ, Errno::IO)),
                Err(Errno::AGAIN) => return Ok(None),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Error::sys("read", OBJ, e)),
            }
        }
    }

    /// `poll(POLLIN)` then `read` — waits until the counter is non-zero and
    /// takes the count (or 1 in semaphore mode).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `poll` or `read`.
    pub fn read(&self) -> Result<u64> {
        self.read_deadline(None)
    }

    /// As [`read`](Self::read), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the counter stayed zero; [`Error::Sys`] from
    /// `poll` or `read`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use kipc_host::{eventfd::{EventFd, EventMode}, Error};
    /// let ev = EventFd::new(2, EventMode::Semaphore)?;
    /// assert_eq!(ev.read_timeout(Duration::ZERO)?, 1);
    /// assert_eq!(ev.read_timeout(Duration::ZERO)?, 1);
    /// assert_eq!(ev.read_timeout(Duration::from_millis(10)), Err(Error::Timeout));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn read_timeout(&self, timeout: Duration) -> Result<u64> {
        self.read_deadline(Some(timeout))
    }

    fn read_deadline(&self, timeout: Option<Duration>) -> Result<u64> {
        let deadline = deadline_after(timeout);
        loop {
            if let Some(n) = self.try_read()? {
                return Ok(n);
            }
            // Another reader may take the count between poll and read: loop.
            if poll_one(&self.fd, PollFlags::IN, deadline, OBJ)?.is_empty() {
                return Err(Error::Timeout);
            }
        }
    }

    /// `fcntl(F_DUPFD_CLOEXEC)` — another handle on the same counter (e.g.
    /// for another thread).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `fcntl`.
    pub fn try_clone(&self) -> Result<Self> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)
            .map_err(|e| Error::sys("fcntl(F_DUPFD_CLOEXEC)", OBJ, e))?;
        Ok(Self {
            fd,
            mode: self.mode,
        })
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<EventFd> for OwnedFd {
    fn from(ev: EventFd) -> OwnedFd {
        ev.fd
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn counter_mode_coalesces_writes_into_one_read() {
        let ev = EventFd::new(1, EventMode::Counter).unwrap();
        ev.write(2).unwrap();
        ev.write(0).unwrap();
        assert_eq!(ev.try_read().unwrap(), Some(3));
        assert_eq!(ev.try_read().unwrap(), None);
        assert_eq!(
            ev.read_timeout(Duration::from_millis(10)),
            Err(Error::Timeout)
        );
    }

    #[test]
    fn semaphore_mode_hands_out_one_at_a_time() {
        let ev = EventFd::new(0, EventMode::Semaphore).unwrap();
        ev.write(3).unwrap();
        for _ in 0..3 {
            assert_eq!(ev.read().unwrap(), 1);
        }
        assert_eq!(ev.try_read().unwrap(), None);
    }

    #[test]
    fn blocking_read_wakes_on_write_from_another_thread() {
        let ev = EventFd::new(0, EventMode::Counter).unwrap();
        let other = ev.try_clone().unwrap();
        let t = Instant::now();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            other.write(7).unwrap();
        });
        assert_eq!(ev.read().unwrap(), 7);
        assert!(t.elapsed() >= Duration::from_millis(25));
        h.join().unwrap();
    }

    #[test]
    fn overflowing_write_is_refused_without_waiting() {
        let ev = EventFd::new(0, EventMode::Counter).unwrap();
        ev.write(u64::MAX - 1).unwrap();
        assert!(!ev.try_write(1).unwrap());
        assert!(matches!(
            ev.try_write(u64::MAX),
            Err(Error::InvalidArgument { .. })
        ));
        assert_eq!(ev.read().unwrap(), u64::MAX - 1);
        assert!(ev.try_write(1).unwrap());
    }

    #[test]
    fn readable_while_nonzero() {
        let ev = EventFd::new(0, EventMode::Counter).unwrap();
        let ready = |ev: &EventFd| {
            !poll_one(ev, PollFlags::IN, deadline_after(Some(Duration::ZERO)), "t")
                .unwrap()
                .is_empty()
        };
        assert!(!ready(&ev));
        ev.write(1).unwrap();
        assert!(ready(&ev));
        ev.read().unwrap();
        assert!(!ready(&ev));
    }
}
