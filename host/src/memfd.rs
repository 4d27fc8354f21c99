//! Anonymous, sealed shared-memory segments: `memfd_create` + seals.
//!
//! A [`MemfdSegment`] has no name in any file system. It is shared by passing
//! its descriptor ([`MemfdSegment::fd`]) to a child or over a Unix socket;
//! when the last descriptor and mapping go away, so does the memory, so a crash
//! leaves nothing behind.
//!
//! After sizing, the creator adds `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`:
//! nobody holding the descriptor can change its size again, so no peer can
//! truncate the memory under a mapping and make us fault with `SIGBUS`, and
//! nobody can remove or add seals. A receiver ([`MemfdSegment::from_fd`])
//! checks the seals and the size before it maps anything.
//!
//! # References
//! - [Linux `memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
//! - [File sealing, `fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::io::Errno;

use crate::mapping::Mapping;
use crate::shm::{allocate, check_new_size};
use crate::{name, Error, Result};

/// Seals every kipc memfd carries.
pub const SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// Seals a receiver insists on: without them the size could change under the
/// mapping.
pub const REQUIRED_SEALS: SealFlags = SealFlags::SHRINK.union(SealFlags::GROW);

/// A mapped, sealed memfd. See the [module documentation](self).
#[derive(Debug)]
pub struct MemfdSegment {
    fd: OwnedFd,
    map: Mapping,
}

impl MemfdSegment {
    /// `memfd_create("kipc:NAME", MFD_CLOEXEC|MFD_ALLOW_SEALING)`, then
    /// `fallocate`, `fcntl(F_ADD_SEALS, SHRINK|GROW|SEAL)` and `mmap` — creates
    /// and maps a sealed, zero-filled segment of `size` bytes. `name` is only a
    /// label (it shows in `/proc/PID/fd`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::InvalidArgument`] for a size of 0;
    /// [`Error::Sys`] from `memfd_create`, `fallocate` (`ENOSPC`),
    /// `fcntl` or `mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::memfd::MemfdSegment;
    /// let seg = MemfdSegment::create("doc", 4096)?;
    /// // A size change is refused by the seals:
    /// assert!(rustix::fs::ftruncate(seg.fd(), 0).is_err());
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn create(name: &str, size: usize) -> Result<Self> {
        let label = name::memfd_label(name)?;
        let obj = format!("memfd {name:?}");
        let size64 = check_new_size(size, &obj)?;
        let fd = rustix::fs::memfd_create(
            label.as_str(),
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| Error::sys("memfd_create", &obj, e))?;
        allocate(fd.as_fd(), size64, &obj)?;
        rustix::fs::fcntl_add_seals(&fd, SEALS).map_err(|e| Error::sys("fcntl", &obj, e))?;
        let map = Mapping::map_shared(&fd, size, &obj)?;
        Ok(Self { fd, map })
    }

    /// `fcntl(F_GET_SEALS)`, `fstat`, `mmap` — maps a memfd received from a
    /// peer, after checking that it carries at least
    /// [`REQUIRED_SEALS`] and holds at least `min_len` bytes. The whole file
    /// is mapped.
    ///
    /// # Errors
    ///
    /// - [`Error::NotSealed`] if a required seal is missing (or the descriptor
    ///   is not a sealable memfd at all);
    /// - [`Error::SizeMismatch`] if it is smaller than `min_len` (or empty);
    /// - [`Error::Sys`] from `fstat` or `mmap` (e.g. `EACCES` for a read-only
    ///   descriptor, `EPERM` if it carries a write seal).
    pub fn from_fd(fd: OwnedFd, min_len: usize) -> Result<Self> {
        let obj = "received memfd";
        let seals = match rustix::fs::fcntl_get_seals(&fd) {
            Ok(s) => s,
            // Not a memfd (or not created with MFD_ALLOW_SEALING).
            Err(Errno::INVAL) => SealFlags::empty(),
            Err(e) => return Err(Error::sys("fcntl", obj, e)),
        };
        if !seals.contains(REQUIRED_SEALS) {
            return Err(Error::NotSealed {
                object: obj.to_string(),
                seals: seals.bits(),
            });
        }
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::sys("fstat", obj, e))?;
        #[allow(clippy::useless_conversion)] // `st_size` is not i64 on every target.
        let size = u64::try_from(i64::from(st.st_size)).unwrap_or(0);
        let min = (min_len as u64).max(1);
        let len = match usize::try_from(size) {
            Ok(len) if size >= min => len,
            _ => {
                return Err(Error::SizeMismatch {
                    object: obj.to_string(),
                    expected: min,
                    actual: size,
                })
            }
        };
        let map = Mapping::map_shared(&fd, len, obj)?;
        Ok(Self { fd, map })
    }

    /// The descriptor, to pass to a child (clear `FD_CLOEXEC` on a `dup` of it
    /// there) or send over a Unix socket.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The mapping.
    pub fn mapping(&self) -> &Mapping {
        &self.map
    }

    /// The mapping, mutably (for [`Mapping::write`]).
    pub fn mapping_mut(&mut self) -> &mut Mapping {
        &mut self.map
    }

    /// Start of the mapping; see [`Mapping::as_ptr`].
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    /// Mapped length in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always `false`: a segment is never empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl AsFd for MemfdSegment {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_memfd_refuses_ftruncate() {
        let seg = MemfdSegment::create("seal", 4096).unwrap();
        assert_eq!(rustix::fs::ftruncate(seg.fd(), 0), Err(Errno::PERM));
        assert_eq!(rustix::fs::ftruncate(seg.fd(), 1 << 20), Err(Errno::PERM));
        // F_SEAL_SEAL: the seals cannot be removed or extended either.
        assert_eq!(
            rustix::fs::fcntl_add_seals(seg.fd(), SealFlags::WRITE),
            Err(Errno::PERM)
        );
    }

    #[test]
    fn from_fd_maps_a_duplicate_and_shares_bytes() {
        let mut a = MemfdSegment::create("share", 8192).unwrap();
        a.mapping_mut().write(8000, b"ping").unwrap();
        let dup = rustix::io::fcntl_dupfd_cloexec(a.fd(), 0).unwrap();
        let b = MemfdSegment::from_fd(dup, 8192).unwrap();
        let mut buf = [0u8; 4];
        b.mapping().read(8000, &mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[test]
    fn from_fd_rejects_an_unsealed_memfd() {
        let fd = rustix::fs::memfd_create(
            "kipc:unsealed",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .unwrap();
        rustix::fs::ftruncate(&fd, 4096).unwrap();
        assert!(matches!(
            MemfdSegment::from_fd(fd, 1),
            Err(Error::NotSealed { .. })
        ));
        // Created without MFD_ALLOW_SEALING: F_GET_SEALS reports F_SEAL_SEAL only.
        let fd = rustix::fs::memfd_create("kipc:nosealing", MemfdFlags::CLOEXEC).unwrap();
        rustix::fs::ftruncate(&fd, 4096).unwrap();
        assert!(matches!(
            MemfdSegment::from_fd(fd, 1),
            Err(Error::NotSealed { .. })
        ));
    }

    #[test]
    fn from_fd_rejects_a_too_small_memfd() {
        let a = MemfdSegment::create("small", 4096).unwrap();
        let dup = rustix::io::fcntl_dupfd_cloexec(a.fd(), 0).unwrap();
        assert!(matches!(
            MemfdSegment::from_fd(dup, 4097),
            Err(Error::SizeMismatch {
                expected: 4097,
                actual: 4096,
                ..
            })
        ));
    }

    #[test]
    fn from_fd_rejects_a_regular_file() {
        let f = std::fs::File::open("/proc/self/status").unwrap();
        assert!(matches!(
            MemfdSegment::from_fd(f.into(), 1),
            Err(Error::NotSealed { .. })
        ));
    }

    #[test]
    fn create_rejects_bad_names_and_zero_size() {
        assert!(matches!(
            MemfdSegment::create("a/b", 4096),
            Err(Error::InvalidName { .. })
        ));
        assert!(matches!(
            MemfdSegment::create("z", 0),
            Err(Error::InvalidArgument { .. })
        ));
    }
}
