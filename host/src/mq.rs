//! POSIX message queues: `mq_open("/kipc.NAME")`, kernel-held queues of
//! whole messages with priorities.
//!
//! A [`MessageQueue`] is created with `mq_open(O_CREAT|O_EXCL|O_RDWR|
//! O_CLOEXEC)`, mode `0600`, holding at most `max_messages` messages of at
//! most `message_size` bytes each. Opening one by name `fstat`s it first: it
//! must belong to our effective uid and must not be group- or
//! world-writable. Names are kipc names ([`crate::name`]); the queue's name
//! in the kernel (and under `/dev/mqueue` where that is mounted) is
//! `kipc.NAME`.
//!
//! A receive returns the oldest message of the highest priority. Sends and
//! receives come in `try_` (never waits: [`Error::Full`], [`Error::Empty`]),
//! blocking, and `_timeout` ([`Error::Timeout`]) forms. A queue never tells
//! a waiter that its peer died: wait with a timeout and check liveness
//! ([`crate::liveness`]) between waits.
//!
//! On Linux a queue descriptor is a file descriptor, so [`MessageQueue`]
//! implements [`AsFd`]: it is readable (`POLLIN`) while a message is queued
//! and writable (`POLLOUT`) while there is room, for epoll, mio or tokio.
//! Dropping it closes the descriptor (`mq_close`); the queue itself lives
//! until [`MessageQueue::unlink`] and the last close.
//!
//! Limits for unprivileged users are in `/proc/sys/fs/mqueue/`: `msg_max`
//! (10 by default) and `msgsize_max` (8192); larger geometries fail with
//! `EINVAL`, and `RLIMIT_MSGQUEUE` caps the bytes a user's queues may hold
//! (`EMFILE`).
//!
//! # Examples
//!
//! ```
//! use kipc_host::mq::MessageQueue;
//! let name = format!("doc-mq-{}", std::process::id());
//! let q = MessageQueue::create(&name, 4, 64)?;
//! let peer = MessageQueue::open(&name)?; // as another process would
//! MessageQueue::unlink(&name)?; // both stay usable until closed
//! peer.send(b"low", 1)?;
//! peer.send(b"high", 7)?;
//! let mut buf = [0u8; 64];
//! let got = q.recv(&mut buf)?;
//! assert_eq!((&buf[..got.len], got.priority), (&b"high"[..], 7));
//! # Ok::<(), kipc_host::Error>(())
//! ```
//!
//! # References
//! - [POSIX `mq_open`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/mq_open.html)
//! - [Linux `mq_overview(7)`](https://man7.org/linux/man-pages/man7/mq_overview.7.html)

use std::ffi::CString;
use std::time::Duration;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::time::{ClockId, Timespec};

use crate::name;
use crate::sys::mq as sys;
use crate::{Error, Result};

/// Priorities are `0..PRIO_LIMIT` (Linux's `MQ_PRIO_MAX`); higher is
/// received first.
pub const PRIO_LIMIT: u32 = 32_768;

/// What a receive took: the message's length (its bytes are at the start of
/// the buffer) and priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes written to the buffer.
    pub len: usize,
    /// The priority it was sent with.
    pub priority: u32,
}

/// An open POSIX message queue. See the [module documentation](self).
#[derive(Debug)]
pub struct MessageQueue {
    name: String,
    fd: OwnedFd,
    max_messages: usize,
    message_size: usize,
}

/// How a queue is named in errors.
fn object(name: &str) -> String {
    format!("message queue {name:?}")
}

/// The kernel name of kipc queue `name`: `/kipc.NAME`.
fn path(name: &str) -> Result<CString> {
    name::validate(name)?;
    // `validate` refused NUL bytes, so this cannot fail; map it anyway.
    CString::new(format!("/{}{name}", name::SHM_PREFIX)).map_err(|_| Error::InvalidName {
        name: name.escape_debug().to_string(),
        reason: "contains a NUL byte",
    })
}

/// The absolute `CLOCK_REALTIME` deadline `timeout` from now, as the
/// `mq_timed*` calls take it; `None` (wait forever) if it overflows.
fn deadline_after(timeout: Duration) -> Option<Timespec> {
    let now = rustix::time::clock_gettime(ClockId::Realtime);
    let secs = i64::try_from(timeout.as_secs()).ok()?;
    let mut tv_sec = now.tv_sec.checked_add(secs)?;
    let mut tv_nsec = now.tv_nsec + i64::from(timeout.subsec_nanos());
    if tv_nsec >= 1_000_000_000 {
        tv_sec = tv_sec.checked_add(1)?;
        tv_nsec -= 1_000_000_000;
    }
    Some(Timespec { tv_sec, tv_nsec })
}

/// A deadline that has passed: the kernel then returns at once instead of
/// waiting (the `try_` forms).
const PASSED: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

/// When a call gives up.
#[derive(Clone, Copy)]
enum Wait {
    /// Never waits: a full (empty) queue is `Full` (`Empty`).
    Not,
    /// Until this `CLOCK_REALTIME` instant: then `Timeout`.
    Until(Timespec),
    /// Forever.
    Forever,
}

impl Wait {
    fn timeout(timeout: Duration) -> Wait {
        match deadline_after(timeout) {
            Some(t) => Wait::Until(t),
            None => Wait::Forever,
        }
    }

    fn deadline(self) -> Option<Timespec> {
        match self {
            Wait::Not => Some(PASSED),
            Wait::Until(t) => Some(t),
            Wait::Forever => None,
        }
    }
}

impl MessageQueue {
    /// `mq_open("/kipc.NAME", O_CREAT|O_EXCL|O_RDWR|O_CLOEXEC, 0600,
    /// {max_messages, message_size})` — creates a queue.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::InvalidArgument`] for a zero
    /// `max_messages` or `message_size`; [`Error::Sys`] from `mq_open`:
    /// `EEXIST` if the name is taken, `EINVAL` for a geometry above the
    /// limits in `/proc/sys/fs/mqueue/`, `EMFILE` past `RLIMIT_MSGQUEUE`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::mq::MessageQueue;
    /// let name = format!("doc-mq-create-{}", std::process::id());
    /// let q = MessageQueue::create(&name, 2, 16)?;
    /// assert_eq!((q.max_messages(), q.message_size()), (2, 16));
    /// let again = MessageQueue::create(&name, 2, 16).unwrap_err();
    /// assert_eq!(again.errno(), Some(rustix::io::Errno::EXIST));
    /// MessageQueue::unlink(&name)?;
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn create(name: &str, max_messages: usize, message_size: usize) -> Result<Self> {
        let cpath = path(name)?;
        let obj = object(name);
        if max_messages == 0 || message_size == 0 {
            return Err(Error::InvalidArgument {
                object: obj,
                reason: "max_messages and message_size must be at least 1",
            });
        }
        let fd = sys::create(&cpath, max_messages, message_size)
            .map_err(|e| Error::sys("mq_open", &obj, e))?;
        Self::finish(name, fd, &obj).inspect_err(|_| {
            let _ = sys::unlink(&cpath);
        })
    }

    /// `mq_open("/kipc.NAME", O_RDWR|O_CLOEXEC)`, `fstat` — opens an
    /// existing queue that belongs to us and that no other user may write.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::NotOwner`]; [`Error::BadMode`] if
    /// the queue is group- or world-writable; [`Error::Sys`] from `mq_open`
    /// (`ENOENT`, `EACCES`), `fstat` or `mq_getattr`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::mq::MessageQueue;
    /// let name = format!("doc-mq-open-{}", std::process::id());
    /// let _q = MessageQueue::create(&name, 3, 32)?;
    /// let other = MessageQueue::open(&name)?;
    /// assert_eq!((other.max_messages(), other.message_size()), (3, 32));
    /// MessageQueue::unlink(&name)?;
    /// assert!(MessageQueue::open(&name).is_err());
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        let cpath = path(name)?;
        let obj = object(name);
        let fd = sys::open(&cpath).map_err(|e| Error::sys("mq_open", &obj, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::sys("fstat", &obj, e))?;
        let euid = rustix::process::geteuid().as_raw();
        if st.st_uid != euid {
            return Err(Error::NotOwner {
                object: obj,
                owner: st.st_uid,
                euid,
            });
        }
        let mode = st.st_mode & 0o7777;
        if mode & 0o022 != 0 {
            return Err(Error::BadMode { object: obj, mode });
        }
        Self::finish(name, fd, &obj)
    }

    /// Reads the geometry of a freshly opened queue.
    fn finish(name: &str, fd: OwnedFd, obj: &str) -> Result<Self> {
        let attr = sys::getattr(fd.as_fd()).map_err(|e| Error::sys("mq_getattr", obj, e))?;
        Ok(MessageQueue {
            name: name.to_string(),
            fd,
            max_messages: attr.max_messages,
            message_size: attr.message_size,
        })
    }

    /// `mq_unlink("/kipc.NAME")` — removes the name; open descriptors keep
    /// working, and the queue goes when the last one closes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::Sys`] from `mq_unlink` (`ENOENT`).
    pub fn unlink(name: &str) -> Result<()> {
        let cpath = path(name)?;
        sys::unlink(&cpath).map_err(|e| Error::sys("mq_unlink", object(name), e))
    }

    /// The kipc name it was created or opened under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages the queue holds at most (`mq_maxmsg`).
    pub fn max_messages(&self) -> usize {
        self.max_messages
    }

    /// The largest message, in bytes (`mq_msgsize`); a receive buffer must
    /// be at least this long.
    pub fn message_size(&self) -> usize {
        self.message_size
    }

    /// `mq_getattr` — messages queued now (others may change it at once).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `mq_getattr` (not expected).
    pub fn queued(&self) -> Result<usize> {
        sys::getattr(self.fd.as_fd())
            .map(|a| a.queued)
            .map_err(|e| Error::sys("mq_getattr", object(&self.name), e))
    }

    /// `mq_timedsend` with a passed deadline — queues `msg` if there is room
    /// now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`]; [`Error::TooLarge`] for a message longer than
    /// [`message_size`](Self::message_size); [`Error::InvalidArgument`] for
    /// a priority of [`PRIO_LIMIT`] or more; [`Error::Sys`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{mq::MessageQueue, Error};
    /// let name = format!("doc-mq-try-{}", std::process::id());
    /// let q = MessageQueue::create(&name, 1, 8)?;
    /// MessageQueue::unlink(&name)?;
    /// q.try_send(b"one", 0)?;
    /// assert_eq!(q.try_send(b"two", 0), Err(Error::Full));
    /// assert_eq!(q.try_send(&[0; 9], 0), Err(Error::TooLarge { len: 9, max: 8 }));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn try_send(&self, msg: &[u8], priority: u32) -> Result<()> {
        self.send_until(msg, priority, Wait::Not)
    }

    /// `mq_send` — queues `msg`, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// As [`try_send`](Self::try_send), without [`Error::Full`].
    pub fn send(&self, msg: &[u8], priority: u32) -> Result<()> {
        self.send_until(msg, priority, Wait::Forever)
    }

    /// `mq_timedsend` — queues `msg`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; otherwise as [`try_send`](Self::try_send).
    pub fn send_timeout(&self, msg: &[u8], priority: u32, timeout: Duration) -> Result<()> {
        self.send_until(msg, priority, Wait::timeout(timeout))
    }

    fn send_until(&self, msg: &[u8], priority: u32, wait: Wait) -> Result<()> {
        if msg.len() > self.message_size {
            return Err(Error::TooLarge {
                len: msg.len(),
                max: self.message_size,
            });
        }
        if priority >= PRIO_LIMIT {
            return Err(Error::InvalidArgument {
                object: object(&self.name),
                reason: "priority must be below PRIO_LIMIT (32768)",
            });
        }
        loop {
            // The deadline is absolute, so retrying after EINTR waits no longer.
            match sys::send(self.fd.as_fd(), msg, priority, wait.deadline()) {
                Ok(()) => return Ok(()),
                Err(Errno::INTR) => continue,
                Err(Errno::TIMEDOUT) if matches!(wait, Wait::Not) => return Err(Error::Full),
                Err(Errno::TIMEDOUT) => return Err(Error::Timeout),
                Err(Errno::MSGSIZE) => {
                    return Err(Error::TooLarge {
                        len: msg.len(),
                        max: self.message_size,
                    })
                }
                Err(e) => return Err(Error::sys("mq_timedsend", object(&self.name), e)),
            }
        }
    }

    /// `mq_timedreceive` with a passed deadline — takes the oldest message
    /// of the highest priority, if one is queued, into `buf`.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`]; [`Error::InvalidArgument`] if `buf` is shorter
    /// than [`message_size`](Self::message_size) (the kernel refuses it even
    /// for a short message); [`Error::Sys`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{mq::MessageQueue, Error};
    /// let name = format!("doc-mq-try-recv-{}", std::process::id());
    /// let q = MessageQueue::create(&name, 2, 8)?;
    /// MessageQueue::unlink(&name)?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(q.try_recv(&mut buf), Err(Error::Empty));
    /// q.send(b"", 3)?; // zero-length messages are messages too
    /// let got = q.try_recv(&mut buf)?;
    /// assert_eq!((got.len, got.priority), (0, 3));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Received> {
        self.recv_until(buf, Wait::Not)
    }

    /// `mq_receive` — takes the next message into `buf`, waiting while the
    /// queue is empty.
    ///
    /// # Errors
    ///
    /// As [`try_recv`](Self::try_recv), without [`Error::Empty`].
    pub fn recv(&self, buf: &mut [u8]) -> Result<Received> {
        self.recv_until(buf, Wait::Forever)
    }

    /// `mq_timedreceive` — takes the next message into `buf`, waiting at
    /// most `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; otherwise as [`try_recv`](Self::try_recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use kipc_host::{mq::MessageQueue, Error};
    /// let name = format!("doc-mq-timeout-{}", std::process::id());
    /// let q = MessageQueue::create(&name, 2, 8)?;
    /// MessageQueue::unlink(&name)?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(q.recv_timeout(&mut buf, Duration::from_millis(5)), Err(Error::Timeout));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<Received> {
        self.recv_until(buf, Wait::timeout(timeout))
    }

    fn recv_until(&self, buf: &mut [u8], wait: Wait) -> Result<Received> {
        if buf.len() < self.message_size {
            return Err(Error::InvalidArgument {
                object: object(&self.name),
                reason: "receive buffer is shorter than the queue's message size",
            });
        }
        loop {
            match sys::receive(self.fd.as_fd(), buf, wait.deadline()) {
                Ok((len, priority)) => return Ok(Received { len, priority }),
                Err(Errno::INTR) => continue,
                Err(Errno::TIMEDOUT) if matches!(wait, Wait::Not) => return Err(Error::Empty),
                Err(Errno::TIMEDOUT) => return Err(Error::Timeout),
                Err(e) => return Err(Error::sys("mq_timedreceive", object(&self.name), e)),
            }
        }
    }
}

impl AsFd for MessageQueue {
    /// The queue descriptor: readable while a message is queued, writable
    /// while there is room.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A unique queue name, unlinked on drop (also when a test fails).
    struct Name(String);

    impl Name {
        fn new(tag: &str) -> Name {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            Name(format!("test-mq-{tag}-{}-{n}", std::process::id()))
        }
    }

    impl Drop for Name {
        fn drop(&mut self) {
            let _ = MessageQueue::unlink(&self.0);
        }
    }

    #[test]
    fn messages_come_out_by_priority_then_in_send_order() {
        let name = Name::new("order");
        let q = MessageQueue::create(&name.0, 8, 16).unwrap();
        for (msg, prio) in [(&b"a"[..], 1), (b"b", 5), (b"c", 1), (b"d", 5)] {
            q.try_send(msg, prio).unwrap();
        }
        assert_eq!(q.queued().unwrap(), 4);
        let mut buf = [0u8; 16];
        let mut got = Vec::new();
        while let Ok(r) = q.try_recv(&mut buf) {
            got.push((buf[..r.len].to_vec(), r.priority));
        }
        let want: Vec<(Vec<u8>, u32)> = [(b"b", 5), (b"d", 5), (b"a", 1), (b"c", 1)]
            .iter()
            .map(|(m, p)| (m.to_vec(), *p))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_second_opener_shares_the_queue_and_its_geometry() {
        let name = Name::new("share");
        let a = MessageQueue::create(&name.0, 3, 100).unwrap();
        let b = MessageQueue::open(&name.0).unwrap();
        assert_eq!((b.max_messages(), b.message_size()), (3, 100));
        assert_eq!(b.name(), name.0);
        a.send(&[7; 100], 0).unwrap();
        let mut buf = [0u8; 100];
        assert_eq!(b.recv(&mut buf).unwrap().len, 100);
        assert_eq!(buf, [7; 100]);
    }

    #[test]
    fn create_refuses_an_existing_name_and_bad_geometry() {
        let name = Name::new("excl");
        let _q = MessageQueue::create(&name.0, 1, 1).unwrap();
        let e = MessageQueue::create(&name.0, 1, 1).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EXIST), "{e}");
        let other = Name::new("zero");
        for (m, s) in [(0, 8), (8, 0)] {
            assert!(matches!(
                MessageQueue::create(&other.0, m, s),
                Err(Error::InvalidArgument { .. })
            ));
        }
        // A size no mq_attr can hold is refused with EINVAL; nothing is left.
        let e = MessageQueue::create(&other.0, 1, usize::MAX).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::INVAL), "{e}");
        assert!(MessageQueue::open(&other.0).is_err());
    }

    #[test]
    fn bad_names_are_rejected_before_any_syscall() {
        for bad in ["", "a/b", "a b", "a\0b"] {
            assert!(matches!(
                MessageQueue::create(bad, 1, 1),
                Err(Error::InvalidName { .. })
            ));
            assert!(matches!(
                MessageQueue::open(bad),
                Err(Error::InvalidName { .. })
            ));
            assert!(matches!(
                MessageQueue::unlink(bad),
                Err(Error::InvalidName { .. })
            ));
        }
    }

    #[test]
    fn open_rejects_a_group_writable_queue() {
        let name = Name::new("mode");
        let q = MessageQueue::create(&name.0, 1, 8).unwrap();
        rustix::fs::fchmod(&q, rustix::fs::Mode::from_raw_mode(0o620)).unwrap();
        match MessageQueue::open(&name.0) {
            Err(Error::BadMode { mode, .. }) => assert_eq!(mode, 0o620),
            other => panic!("expected BadMode, got {other:?}"),
        }
    }

    #[test]
    fn full_empty_and_timeouts_are_their_own_errors() {
        let name = Name::new("full");
        let q = MessageQueue::create(&name.0, 1, 8).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(q.try_recv(&mut buf), Err(Error::Empty));
        assert_eq!(
            q.recv_timeout(&mut buf, Duration::from_millis(1)),
            Err(Error::Timeout)
        );
        q.try_send(b"x", 0).unwrap();
        assert_eq!(q.try_send(b"y", 0), Err(Error::Full));
        assert_eq!(
            q.send_timeout(b"y", 0, Duration::from_millis(1)),
            Err(Error::Timeout)
        );
        let r = q.try_recv(&mut buf).unwrap();
        assert_eq!(&buf[..r.len], b"x");
    }

    #[test]
    fn oversized_messages_short_buffers_and_bad_priorities_are_refused() {
        let name = Name::new("size");
        let q = MessageQueue::create(&name.0, 2, 8).unwrap();
        assert_eq!(
            q.try_send(&[0; 9], 0),
            Err(Error::TooLarge { len: 9, max: 8 })
        );
        assert!(matches!(
            q.try_send(b"x", PRIO_LIMIT),
            Err(Error::InvalidArgument { .. })
        ));
        q.try_send(b"kept", 0).unwrap();
        let mut short = [0u8; 7];
        assert!(matches!(
            q.try_recv(&mut short),
            Err(Error::InvalidArgument { .. })
        ));
        // Nothing was lost to the refused calls.
        assert_eq!(q.queued().unwrap(), 1);
        let mut buf = [0u8; 8];
        let r = q.try_recv(&mut buf).unwrap();
        assert_eq!(&buf[..r.len], b"kept");
    }

    #[test]
    fn a_blocked_receiver_is_woken_by_a_send_from_another_thread() {
        let name = Name::new("wake");
        let q = MessageQueue::create(&name.0, 1, 8).unwrap();
        let tx = MessageQueue::open(&name.0).unwrap();
        // The thread ends on its own (it only sends), so a failing
        // assertion below cannot leave it running.
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send(b"wake", 2)
        });
        let mut buf = [0u8; 8];
        let r = q.recv_timeout(&mut buf, Duration::from_secs(10));
        assert_eq!(sender.join().unwrap(), Ok(()));
        let r = r.unwrap();
        assert_eq!((&buf[..r.len], r.priority), (&b"wake"[..], 2));
    }

    #[test]
    fn the_descriptor_polls_readable_only_while_a_message_is_queued() {
        use rustix::event::{poll, PollFd, PollFlags};
        let name = Name::new("poll");
        let q = MessageQueue::create(&name.0, 1, 8).unwrap();
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let readable = |q: &MessageQueue| {
            let mut fds = [PollFd::new(q, PollFlags::IN)];
            poll(&mut fds, Some(&zero)).unwrap();
            fds[0].revents().contains(PollFlags::IN)
        };
        assert!(!readable(&q));
        q.send(b"x", 0).unwrap();
        assert!(readable(&q));
    }

    #[test]
    fn unlink_of_a_missing_queue_is_enoent() {
        let name = Name::new("missing");
        let e = MessageQueue::unlink(&name.0).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::NOENT));
    }
}
