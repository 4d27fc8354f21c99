//! `mq_open`, `mq_timedsend`, `mq_timedreceive`, `mq_getattr` and
//! `mq_unlink`, via libc (rustix has no POSIX message queue calls).
//!
//! On Linux a message queue descriptor (`mqd_t`) is a file descriptor
//! (`mq_overview(7)`) and `mq_close` is `close`, so an open queue is handed
//! up as an [`OwnedFd`] and the calls here take a [`BorrowedFd`].
//!
//! # References
//! - [POSIX `mq_open`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/mq_open.html)
//! - [Linux `mq_overview(7)`](https://man7.org/linux/man-pages/man7/mq_overview.7.html),
//!   [`mq_send(3)`](https://man7.org/linux/man-pages/man3/mq_send.3.html),
//!   [`mq_receive(3)`](https://man7.org/linux/man-pages/man3/mq_receive.3.html)

use core::ffi::{c_long, c_uint};
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::io::{self, Errno};
use rustix::time::Timespec;

use super::last_errno;

/// A queue's geometry as `mq_getattr` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Attr {
    /// `mq_maxmsg`: messages the queue holds.
    pub(crate) max_messages: usize,
    /// `mq_msgsize`: the largest message, in bytes.
    pub(crate) message_size: usize,
    /// `mq_curmsgs`: messages queued now.
    pub(crate) queued: usize,
}

/// The value an `mq_attr` field holds, as a `usize` (negative: 0).
fn field(v: c_long) -> usize {
    usize::try_from(v).unwrap_or(0)
}

/// `mq_open(name, O_RDWR|O_CLOEXEC|O_CREAT|O_EXCL, 0600, {max_messages,
/// message_size})`: creates a queue.
pub(crate) fn create(name: &CStr, max_messages: usize, message_size: usize) -> io::Result<OwnedFd> {
    let (Ok(maxmsg), Ok(msgsize)) = (
        c_long::try_from(max_messages),
        c_long::try_from(message_size),
    ) else {
        return Err(Errno::INVAL);
    };
    // SAFETY: mq_attr is plain integers; all-zero is a valid value.
    let mut attr: libc::mq_attr = unsafe { core::mem::zeroed() };
    attr.mq_maxmsg = maxmsg;
    attr.mq_msgsize = msgsize;
    let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_CREAT | libc::O_EXCL;
    // SAFETY: `name` is NUL-terminated and `attr` a valid mq_attr, both alive
    // for the call; with O_CREAT mq_open reads the variadic mode and attr
    // pointer, which are passed with the types it expects.
    let mqd = unsafe {
        libc::mq_open(
            name.as_ptr(),
            flags,
            0o600 as libc::mode_t,
            &mut attr as *mut libc::mq_attr,
        )
    };
    owned(mqd)
}

/// `mq_open(name, O_RDWR|O_CLOEXEC)`: opens an existing queue.
pub(crate) fn open(name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated and outlives the call; without
    // O_CREAT mq_open reads no variadic argument.
    let mqd = unsafe { libc::mq_open(name.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    owned(mqd)
}

/// Takes ownership of what `mq_open` returned.
fn owned(mqd: libc::mqd_t) -> io::Result<OwnedFd> {
    if mqd < 0 {
        return Err(last_errno());
    }
    // SAFETY: a successful mq_open returned a new descriptor (on Linux an
    // mqd_t is a file descriptor) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(mqd) })
}

/// `mq_unlink(name)`.
pub(crate) fn unlink(name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    if unsafe { libc::mq_unlink(name.as_ptr()) } == -1 {
        return Err(last_errno());
    }
    Ok(())
}

/// `mq_getattr(mqd, &attr)`.
pub(crate) fn getattr(mqd: BorrowedFd<'_>) -> io::Result<Attr> {
    // SAFETY: mq_attr is plain integers; all-zero is a valid value.
    let mut attr: libc::mq_attr = unsafe { core::mem::zeroed() };
    // SAFETY: `attr` is writable and outlives the call; the descriptor is open.
    if unsafe { libc::mq_getattr(mqd.as_raw_fd(), &mut attr) } == -1 {
        return Err(last_errno());
    }
    Ok(Attr {
        max_messages: field(attr.mq_maxmsg),
        message_size: field(attr.mq_msgsize),
        queued: field(attr.mq_curmsgs),
    })
}

/// A `CLOCK_REALTIME` deadline as the `mq_timed*` calls take it.
fn timespec(deadline: Timespec) -> libc::timespec {
    libc::timespec {
        tv_sec: deadline.tv_sec as libc::time_t,
        tv_nsec: deadline.tv_nsec as _,
    }
}

/// `mq_timedsend(mqd, msg, priority, deadline)`, or `mq_send` without a
/// deadline (`ETIMEDOUT` once a full queue stays full past the absolute
/// `CLOCK_REALTIME` deadline; at once if it has passed).
pub(crate) fn send(
    mqd: BorrowedFd<'_>,
    msg: &[u8],
    priority: u32,
    deadline: Option<Timespec>,
) -> io::Result<()> {
    let ts = deadline.map(timespec);
    let ts_ptr = ts.as_ref().map_or(core::ptr::null(), |t| t as *const _);
    // SAFETY: `msg` is readable for `msg.len()` bytes and `ts` (if any) is a
    // valid timespec, both alive for the call; a null deadline makes
    // mq_timedsend wait as mq_send does.
    let r = unsafe {
        libc::mq_timedsend(
            mqd.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            priority as c_uint,
            ts_ptr,
        )
    };
    if r == -1 {
        return Err(last_errno());
    }
    Ok(())
}

/// `mq_timedreceive(mqd, buf, &priority, deadline)`, or `mq_receive`
/// without a deadline: the message's length and priority.
pub(crate) fn receive(
    mqd: BorrowedFd<'_>,
    buf: &mut [u8],
    deadline: Option<Timespec>,
) -> io::Result<(usize, u32)> {
    let ts = deadline.map(timespec);
    let ts_ptr = ts.as_ref().map_or(core::ptr::null(), |t| t as *const _);
    let mut priority: c_uint = 0;
    // SAFETY: `buf` is writable for `buf.len()` bytes, `priority` is
    // writable and `ts` (if any) is a valid timespec, all alive for the call.
    let r = unsafe {
        libc::mq_timedreceive(
            mqd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut priority,
            ts_ptr,
        )
    };
    match usize::try_from(r) {
        Ok(len) => Ok((len, priority)),
        Err(_) => Err(last_errno()),
    }
}
