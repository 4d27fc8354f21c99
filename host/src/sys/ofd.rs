//! Open-file-description record locks (`fcntl(F_OFD_SETLK/F_OFD_SETLKW)`),
//! which rustix does not offer (its `fcntl_lock` uses the process-associated
//! `F_SETLK`).

use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::io::Errno;

use super::last_errno;

/// The kind of whole-file OFD lock to take, or release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OfdLock {
    /// `F_RDLCK`.
    Read,
    /// `F_WRLCK`.
    Write,
    /// `F_UNLCK`.
    Unlock,
}

/// `fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, {type, SEEK_SET, 0, 0})` —
/// takes, or releases, a lock on the whole file (and any later growth).
pub(crate) fn ofd_setlk(fd: BorrowedFd<'_>, kind: OfdLock, wait: bool) -> Result<(), Errno> {
    let l_type = match kind {
        OfdLock::Read => libc::F_RDLCK,
        OfdLock::Write => libc::F_WRLCK,
        OfdLock::Unlock => libc::F_UNLCK,
    };
    // SAFETY: `flock` is plain old data; all-zero is a valid value
    // (l_pid must be 0 for OFD locks, l_start/l_len 0 = whole file).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = l_type as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    // SAFETY: `fd` is a live descriptor for the borrow; `fl` is a valid
    // `struct flock` the kernel only reads for F_OFD_SETLK(W).
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, &fl as *const libc::flock) };
    if r == -1 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `fcntl(fd, F_OFD_SETLK, {type, SEEK_SET, start, len})` — takes, or
/// releases, a lock on the byte range `start..start + len` (never waits).
pub(crate) fn ofd_setlk_range(
    fd: BorrowedFd<'_>,
    kind: OfdLock,
    start: i64,
    len: i64,
) -> Result<(), Errno> {
    let mut fl = range(kind, start, len);
    // SAFETY: `fd` is a live descriptor for the borrow; `fl` is a valid
    // `struct flock` the kernel only reads for F_OFD_SETLK.
    let r = unsafe {
        libc::fcntl(
            fd.as_raw_fd(),
            libc::F_OFD_SETLK,
            &mut fl as *mut libc::flock,
        )
    };
    if r == -1 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `fcntl(fd, F_OFD_GETLK, {F_WRLCK, SEEK_SET, start, len})` — whether
/// another open file description holds any lock on the byte range.
pub(crate) fn ofd_range_is_locked(fd: BorrowedFd<'_>, start: i64, len: i64) -> Result<bool, Errno> {
    let mut fl = range(OfdLock::Write, start, len);
    // SAFETY: `fd` is a live descriptor for the borrow; `fl` is a valid
    // `struct flock` the kernel reads and overwrites for F_OFD_GETLK.
    let r = unsafe {
        libc::fcntl(
            fd.as_raw_fd(),
            libc::F_OFD_GETLK,
            &mut fl as *mut libc::flock,
        )
    };
    if r == -1 {
        Err(last_errno())
    } else {
        Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
    }
}

fn range(kind: OfdLock, start: i64, len: i64) -> libc::flock {
    let l_type = match kind {
        OfdLock::Read => libc::F_RDLCK,
        OfdLock::Write => libc::F_WRLCK,
        OfdLock::Unlock => libc::F_UNLCK,
    };
    // SAFETY: `flock` is plain old data; all-zero is a valid value (l_pid
    // must be 0 for OFD locks).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = l_type as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start as libc::off_t;
    fl.l_len = len as libc::off_t;
    fl
}
