//! An owned shared mapping: the memory a segment hands out.
//!
//! A [`Mapping`] is a pointer and a length that it unmaps on drop
//! (`munmap` for `mmap`ed segments, `shmdt` for System V attachments). It is
//! deliberately *raw*: [`Mapping::as_ptr`] and [`Mapping::len`] are the whole
//! view, plus copying [`read`](Mapping::read)/[`write`](Mapping::write)
//! (relaxed per-word atomic copies, `kipc_core::sync::atomic_load_bytes`, so
//! a peer writing the same bytes makes a copy torn, never a data race). It
//! never hands out `&[u8]` into the shared bytes, because another process may
//! write them at any moment, and a Rust reference promises they do not change.
//! Region-form code from `kipc-core` lays its atomics over `as_ptr()` instead.
//!
//! # SIGBUS
//!
//! Touching a page past the end of the file behind a mapping raises `SIGBUS`.
//! Sealed memfds ([`crate::memfd`]) cannot shrink; named segments
//! ([`crate::shm`]) can be truncated by any process running as our user, and
//! that is the remaining risk documented there. System V segments cannot
//! change size.

#![allow(unsafe_code)]

use core::fmt;
use core::ptr::NonNull;

use rustix::fd::AsFd;
use rustix::mm::{MapFlags, ProtFlags};

use crate::{Error, Result};

/// How a [`Mapping`] is undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unmap {
    /// `munmap(ptr, len)`.
    Munmap,
    /// `shmdt(ptr)`.
    Shmdt,
}

/// An owned, read-write, shared mapping, unmapped on drop.
/// See the [module documentation](self).
pub struct Mapping {
    /// Start of the mapping; page-aligned, valid for `len` bytes until drop.
    ptr: NonNull<u8>,
    /// Length in bytes; never 0.
    len: usize,
    unmap: Unmap,
}

// SAFETY: a Mapping is an address range, not thread-bound state; every access
// through it is via raw pointers whose synchronisation is the user's (atomics in
// region-form code), and unmapping happens once, in Drop, with `&mut self`.
unsafe impl Send for Mapping {}
// SAFETY: `&Mapping` gives only raw pointers and copying reads (see `read`).
unsafe impl Sync for Mapping {}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("unmap", &self.unmap)
            .finish()
    }
}

impl Mapping {
    /// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0)` — maps `len`
    /// bytes of `fd` shared and read-write.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `len` is 0; [`Error::Sys`] from `mmap`
    /// (e.g. `EACCES` for a read-only descriptor), naming `object`.
    pub(crate) fn map_shared(fd: impl AsFd, len: usize, object: &str) -> Result<Self> {
        if len == 0 {
            return Err(Error::InvalidArgument {
                object: object.to_string(),
                reason: "cannot map 0 bytes",
            });
        }
        // SAFETY: a null address lets the kernel choose unused address space,
        // so no existing memory of this process is replaced.
        let p = unsafe {
            rustix::mm::mmap(
                core::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }
        .map_err(|e| Error::sys("mmap", object, e))?;
        let ptr = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| Error::sys("mmap", object, rustix::io::Errno::FAULT))?;
        Ok(Self {
            ptr,
            len,
            unmap: Unmap::Munmap,
        })
    }

    /// Takes ownership of a System V attachment of `len` bytes.
    ///
    /// # Safety
    ///
    /// `ptr` must come from `shmat`, be attached read-write for at least `len`
    /// (> 0) bytes, and not be detached by anyone else.
    pub(crate) unsafe fn from_shmat(ptr: NonNull<u8>, len: usize) -> Self {
        debug_assert!(len > 0);
        Self {
            ptr,
            len,
            unmap: Unmap::Shmdt,
        }
    }

    /// The first byte of the mapping (page-aligned, so aligned to
    /// [`kipc_core::region::REGION_ALIGN`]). Valid for [`len`](Self::len)
    /// bytes for as long as `self` lives; other processes may write it at any
    /// time, so access it only with atomics or raw copies.
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length of the mapping in bytes (never 0).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: a mapping is never empty. (For clippy's sake.)
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Checks that `offset..offset + len` lies inside the mapping.
    fn check_range(&self, offset: usize, len: usize, object: &str) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Error::OutOfRange {
                object: object.to_string(),
                offset,
                len,
                size: self.len,
            }),
        }
    }

    /// Copies `buf.len()` bytes starting at `offset` out of the mapping.
    ///
    /// A peer writing the same bytes at the same time can make the copy torn
    /// (each byte is read atomically, as RFC 3301's per-byte atomics; the copy
    /// as a whole is not); validate what you read.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] if the range does not fit in the mapping.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.read_named(offset, buf, "mapping")
    }

    /// [`read`](Self::read) with `object` named in the error.
    pub(crate) fn read_named(&self, offset: usize, buf: &mut [u8], object: &str) -> Result<()> {
        self.check_range(offset, buf.len(), object)?;
        // SAFETY: the range is inside the live mapping (checked above); `buf`
        // is private memory, exclusively borrowed; a peer racing the copy
        // meets relaxed atomic loads, which is a torn copy, not a data race.
        unsafe {
            kipc_core::sync::atomic_load_bytes(
                self.as_ptr().add(offset),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        Ok(())
    }

    /// Copies `data` into the mapping starting at `offset`.
    ///
    /// Takes `&mut self` so that two threads of this process cannot race on the
    /// same bytes through one mapping; other processes still can, which is why
    /// readers must validate what they copy.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] if the range does not fit in the mapping.
    pub fn write(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        self.write_named(offset, data, "mapping")
    }

    /// [`write`](Self::write) with `object` named in the error.
    pub(crate) fn write_named(&mut self, offset: usize, data: &[u8], object: &str) -> Result<()> {
        self.check_range(offset, data.len(), object)?;
        // SAFETY: the range is inside the live, writable mapping (checked
        // above); `data` is private memory, borrowed shared; a peer racing the
        // copy meets relaxed atomic stores, not a data race.
        unsafe {
            kipc_core::sync::atomic_store_bytes(
                data.as_ptr(),
                self.as_ptr().add(offset),
                data.len(),
            )
        };
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let r = match self.unmap {
            // SAFETY: `ptr..ptr+len` is our own mapping from `mmap`, and after
            // drop nothing can reach it through `self`.
            Unmap::Munmap => unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) },
            // SAFETY: `ptr` came from `shmat` (the `from_shmat` contract), and
            // after drop nothing can reach it through `self`.
            Unmap::Shmdt => unsafe { crate::sys::sysv::shmdt(self.ptr) },
        };
        // Unmapping our own valid range cannot fail; if it somehow did, leaking
        // the address range is the only safe outcome.
        debug_assert!(r.is_ok(), "unmapping failed: {r:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(len: usize) -> Mapping {
        let fd = rustix::fs::memfd_create("kipc-test", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        rustix::fs::ftruncate(&fd, len as u64).unwrap();
        Mapping::map_shared(&fd, len, "test").unwrap()
    }

    #[test]
    fn read_and_write_copy_within_bounds() {
        let mut m = anon(4096);
        assert_eq!(m.len(), 4096);
        assert_eq!(m.as_ptr() as usize % kipc_core::region::REGION_ALIGN, 0);
        m.write(4090, b"abcdef").unwrap();
        let mut buf = [0u8; 6];
        m.read(4090, &mut buf).unwrap();
        assert_eq!(&buf, b"abcdef");
    }

    #[test]
    fn out_of_range_access_is_refused_not_performed() {
        let mut m = anon(4096);
        assert!(matches!(
            m.write(4091, b"abcdef"),
            Err(Error::OutOfRange { .. })
        ));
        let mut buf = [0u8; 2];
        assert!(matches!(
            m.read(usize::MAX, &mut buf),
            Err(Error::OutOfRange { .. })
        ));
    }

    #[test]
    fn zero_length_mapping_is_refused() {
        let fd = rustix::fs::memfd_create("kipc-test", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        assert!(matches!(
            Mapping::map_shared(&fd, 0, "t"),
            Err(Error::InvalidArgument { .. })
        ));
    }
}
