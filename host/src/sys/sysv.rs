//! `ftok`, `shmget`, `shmat`, `shmdt` and `shmctl` via libc.
//!
//! # References
//! - [POSIX `shmget`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/shmget.html)
//! - [Linux `shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html),
//!   [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html),
//!   [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html),
//!   [`ftok(3)`](https://man7.org/linux/man-pages/man3/ftok.3.html)

use core::ffi::CStr;
use core::ptr::NonNull;

use rustix::io::{self, Errno};

use super::last_errno;

/// `IPC_CREAT` as the flag bit passed to `shmget`.
pub(crate) const IPC_CREAT: i32 = libc::IPC_CREAT;
/// `IPC_EXCL` as the flag bit passed to `shmget`.
pub(crate) const IPC_EXCL: i32 = libc::IPC_EXCL;

/// What `shmctl(IPC_STAT)` reports about a segment (the fields kipc uses).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShmStat {
    pub(crate) size: usize,
    pub(crate) uid: u32,
    pub(crate) mode: u32,
    pub(crate) creator_pid: i32,
    pub(crate) last_pid: i32,
    pub(crate) attached: u64,
}

/// `ftok(path, proj_id)`.
pub(crate) fn ftok(path: &CStr, proj_id: i32) -> io::Result<i32> {
    // SAFETY: `path` is a valid NUL-terminated string for the whole call.
    let key = unsafe { libc::ftok(path.as_ptr(), proj_id) };
    if key == -1 {
        Err(last_errno())
    } else {
        Ok(key)
    }
}

/// `shmget(key, size, flags)`: returns the segment id.
pub(crate) fn shmget(key: i32, size: usize, flags: i32) -> io::Result<i32> {
    // SAFETY: shmget takes only integers and touches no memory of ours.
    let id = unsafe { libc::shmget(key, size, flags) };
    if id == -1 {
        Err(last_errno())
    } else {
        Ok(id)
    }
}

/// `shmat(id, NULL, 0)`: attaches the segment read-write at an address the
/// kernel chooses (so no existing mapping is replaced).
pub(crate) fn shmat(id: i32) -> io::Result<NonNull<u8>> {
    // SAFETY: a null address lets the kernel pick unused address space, so no
    // memory this process uses is affected.
    let p = unsafe { libc::shmat(id, core::ptr::null(), 0) };
    if p as isize == -1 {
        return Err(last_errno());
    }
    NonNull::new(p.cast::<u8>()).ok_or(Errno::FAULT)
}

/// `shmdt(addr)`.
///
/// # Safety
///
/// `addr` must have been returned by [`shmat`], must not have been detached
/// yet, and nothing may use the attached memory afterwards.
pub(crate) unsafe fn shmdt(addr: NonNull<u8>) -> io::Result<()> {
    // SAFETY: the caller promises `addr` is a live attachment nobody uses any more.
    let r = unsafe { libc::shmdt(addr.as_ptr().cast()) };
    if r == -1 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `shmctl(id, IPC_STAT, &buf)`.
pub(crate) fn shm_stat(id: i32) -> io::Result<ShmStat> {
    // SAFETY: `shmid_ds` is plain integers; all zeroes is a valid value.
    let mut ds: libc::shmid_ds = unsafe { core::mem::zeroed() };
    // SAFETY: `ds` is a valid, writable `shmid_ds` for the whole call.
    let r = unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) };
    if r == -1 {
        return Err(last_errno());
    }
    Ok(ShmStat {
        size: ds.shm_segsz,
        uid: ds.shm_perm.uid,
        mode: u32::from(ds.shm_perm.mode) & 0o777,
        creator_pid: ds.shm_cpid,
        last_pid: ds.shm_lpid,
        #[allow(clippy::useless_conversion)] // `shmatt_t` is not u64 everywhere.
        attached: u64::from(ds.shm_nattch),
    })
}

/// `shmctl(id, IPC_RMID, NULL)`.
pub(crate) fn shm_remove(id: i32) -> io::Result<()> {
    // SAFETY: IPC_RMID reads no buffer, so a null pointer is allowed.
    let r = unsafe { libc::shmctl(id, libc::IPC_RMID, core::ptr::null_mut()) };
    if r == -1 {
        Err(last_errno())
    } else {
        Ok(())
    }
}
