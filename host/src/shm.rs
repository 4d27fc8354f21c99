//! POSIX named shared-memory segments: `/dev/shm/kipc.NAME`.
//!
//! A [`ShmSegment`] is created with `shm_open(O_CREAT|O_EXCL|O_RDWR)`, mode
//! `0600`, sized with `fallocate`, and mapped shared. Opening one by name
//! `fstat`s it first: it must belong to our effective uid, must not be group-
//! or world-writable, and must be at least as large as the caller needs. The
//! size seen at that moment is the size mapped.
//!
//! # Why `fallocate`
//!
//! `ftruncate` on tmpfs only sets a length; pages are allocated on first
//! touch, so a full `/dev/shm` shows up later as a `SIGBUS` in whichever
//! process touches the page first. `fallocate` reserves the pages now, so a
//! full tmpfs fails [`ShmSegment::create`] with `ENOSPC`. Only if the file
//! system does not support it (`EOPNOTSUPP`) do we fall back to `ftruncate`.
//!
//! # Remaining risk
//!
//! Named segments cannot be sealed. Any process running as our uid can
//! `ftruncate` the object after we mapped it; touching the lost pages then
//! raises `SIGBUS`, which kills the process. We check the size when attaching,
//! which stops an honest-but-confused peer, not a hostile one with our uid (such
//! a process could just as well `ptrace` us). Where the peers can reach each
//! other, prefer [`crate::memfd`]: its seals make shrinking impossible, and a
//! crash leaves no name behind. kipc installs no `SIGBUS` handler.
//!
//! # References
//! - [POSIX `shm_open`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/shm_open.html)
//! - [Linux `shm_overview(7)`](https://man7.org/linux/man-pages/man7/shm_overview.7.html)

use std::os::unix::fs::MetadataExt;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FallocateFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::shm;

use crate::mapping::Mapping;
use crate::name;
use crate::{Error, Result};

/// Where Linux keeps POSIX shared-memory objects.
pub const SHM_DIR: &str = "/dev/shm";

/// A mapped POSIX named shared-memory segment. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct ShmSegment {
    name: String,
    fd: OwnedFd,
    map: Mapping,
}

/// One kipc entry in `/dev/shm`, as [`ShmSegment::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmInfo {
    /// The kipc name (without the `kipc.` prefix).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Owner's uid.
    pub uid: u32,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

/// How an object is named in errors.
fn object(name: &str) -> String {
    format!("shm segment {name:?}")
}

/// `fallocate(fd, 0, 0, size)`, or `ftruncate(fd, size)` where the file system
/// does not support `fallocate` (`EOPNOTSUPP`).
///
/// # Errors
///
/// [`Error::Sys`] (`ENOSPC` when the file system is full).
pub(crate) fn allocate(fd: BorrowedFd<'_>, size: u64, object: &str) -> Result<()> {
    match rustix::fs::fallocate(fd, FallocateFlags::empty(), 0, size) {
        Ok(()) => Ok(()),
        Err(Errno::OPNOTSUPP) => {
            rustix::fs::ftruncate(fd, size).map_err(|e| Error::sys("ftruncate", object, e))
        }
        Err(e) => Err(Error::sys("fallocate", object, e)),
    }
}

/// Checks that a size asked for by a caller is usable.
pub(crate) fn check_new_size(size: usize, object: &str) -> Result<u64> {
    match u64::try_from(size) {
        Ok(0) => Err(Error::InvalidArgument {
            object: object.to_string(),
            reason: "size must be at least 1 byte",
        }),
        Ok(s) if s <= i64::MAX as u64 => Ok(s),
        _ => Err(Error::InvalidArgument {
            object: object.to_string(),
            reason: "size is larger than a file can be",
        }),
    }
}

impl ShmSegment {
    /// `shm_open("/kipc.NAME", O_CREAT|O_EXCL|O_RDWR|O_CLOEXEC, 0600)`, then
    /// `fallocate` and `mmap` — creates and maps a new segment of `size` bytes,
    /// zero-filled.
    ///
    /// On any failure after the object was created it is unlinked again, so a
    /// failed create leaves nothing behind.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::InvalidArgument`] for a size of 0;
    /// [`Error::Sys`] from `shm_open` (`EEXIST` if the name is taken),
    /// `fallocate` (`ENOSPC` if `/dev/shm` is full) or `mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::shm::ShmSegment;
    /// let name = format!("doc-create-{}", std::process::id());
    /// let seg = ShmSegment::create(&name, 4096)?;
    /// assert_eq!(seg.len(), 4096);
    /// ShmSegment::unlink(&name)?;
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn create(name: &str, size: usize) -> Result<Self> {
        let path = name::shm_path(name)?;
        let obj = object(name);
        let size64 = check_new_size(size, &obj)?;
        let fd = shm::open(
            path.as_str(),
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| Error::sys("shm_open", &obj, e))?;
        let finish = || -> Result<Mapping> {
            // The umask may only have removed bits, but be explicit.
            rustix::fs::fchmod(&fd, Mode::RUSR | Mode::WUSR)
                .map_err(|e| Error::sys("fchmod", &obj, e))?;
            allocate(fd.as_fd(), size64, &obj)?;
            Mapping::map_shared(&fd, size, &obj)
        };
        match finish() {
            Ok(map) => Ok(Self {
                name: name.to_string(),
                fd,
                map,
            }),
            Err(e) => {
                // We created the name with O_EXCL, so it is ours to remove.
                let _ = shm::unlink(path.as_str());
                Err(e)
            }
        }
    }

    /// [`open_min`](Self::open_min) with a minimum of 1 byte.
    ///
    /// # Errors
    ///
    /// As [`open_min`](Self::open_min).
    pub fn open(name: &str) -> Result<Self> {
        Self::open_min(name, 1)
    }

    /// `shm_open("/kipc.NAME", O_RDWR|O_CLOEXEC)`, `fstat`, `mmap` — opens an
    /// existing segment after checking its owner, mode and size, and maps all
    /// of it (the size seen by `fstat` now).
    ///
    /// The open is done as glibc's `shm_open` does it, as
    /// `open("/dev/shm/kipc.NAME", O_RDWR|O_NOFOLLOW|O_CLOEXEC)`, but with
    /// `O_NOFOLLOW` added: `/dev/shm` is world-writable, and a symlink planted
    /// there must not make us map (and write into) some other file of ours.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`];
    /// - [`Error::Sys`] from `shm_open` (`ENOENT` if there is no such segment,
    ///   `ELOOP` if the name is a symlink), `fstat` or `mmap`;
    /// - [`Error::InvalidArgument`] if it is not a regular file;
    /// - [`Error::NotOwner`] if another uid owns it;
    /// - [`Error::BadMode`] if it is group- or world-writable;
    /// - [`Error::NotReady`] if its size is still 0 (the creator is between
    ///   `shm_open` and `fallocate`, or died there);
    /// - [`Error::SizeMismatch`] if it is smaller than `min_len`.
    pub fn open_min(name: &str, min_len: usize) -> Result<Self> {
        let path = name::shm_path(name)?;
        let obj = object(name);
        let fd = rustix::fs::open(
            format!("{SHM_DIR}{path}").as_str(),
            OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys("shm_open", &obj, e))?;
        let len = check_attach(fd.as_fd(), min_len, &obj)?;
        let map = Mapping::map_shared(&fd, len, &obj)?;
        Ok(Self {
            name: name.to_string(),
            fd,
            map,
        })
    }

    /// `shm_unlink("/kipc.NAME")` — removes the name. Mappings stay valid
    /// until they are dropped.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::Sys`] from `shm_unlink` (`ENOENT` if
    /// there is no such segment).
    pub fn unlink(name: &str) -> Result<()> {
        let path = name::shm_path(name)?;
        shm::unlink(path.as_str()).map_err(|e| Error::sys("shm_unlink", object(name), e))
    }

    /// Lists the kipc segments in `/dev/shm` (`readdir` + `lstat`), sorted by
    /// name. Entries that are not regular files or whose names are not valid
    /// kipc names are skipped; so are entries removed while we look.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] if `/dev/shm` cannot be read.
    pub fn list() -> Result<Vec<ShmInfo>> {
        let io_err = |e: std::io::Error| {
            let errno = Errno::from_io_error(&e).unwrap_or(Errno::IO);
            Error::sys("readdir", SHM_DIR, errno)
        };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(SHM_DIR).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let file_name = entry.file_name();
            let Some(name) = file_name
                .to_str()
                .and_then(|n| n.strip_prefix(name::SHM_PREFIX))
            else {
                continue;
            };
            if name::validate(name).is_err() {
                continue;
            }
            let Ok(md) = std::fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if !md.file_type().is_file() {
                continue;
            }
            out.push(ShmInfo {
                name: name.to_string(),
                size: md.size(),
                uid: md.uid(),
                mode: md.mode() & 0o7777,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The segment's kipc name.
    pub fn name(&self) -> &str {
        &self.name
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

    /// Mapped length in bytes (the size when created or attached).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always `false`: a segment is never empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl AsFd for ShmSegment {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `fstat` checks for attaching to a named segment; returns the size to map.
fn check_attach(fd: BorrowedFd<'_>, min_len: usize, obj: &str) -> Result<usize> {
    let st = rustix::fs::fstat(fd).map_err(|e| Error::sys("fstat", obj, e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(Error::InvalidArgument {
            object: obj.to_string(),
            reason: "not a regular file",
        });
    }
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
    #[allow(clippy::useless_conversion)] // `st_size` is not i64 on every target.
    let size = u64::try_from(i64::from(st.st_size)).unwrap_or(0);
    if size == 0 {
        return Err(Error::NotReady);
    }
    let min = (min_len as u64).max(1);
    match usize::try_from(size) {
        Ok(len) if size >= min => Ok(len),
        _ => Err(Error::SizeMismatch {
            object: obj.to_string(),
            expected: min,
            actual: size,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn unique(tag: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn exists(name: &str) -> bool {
        std::path::Path::new(&format!("{SHM_DIR}/kipc.{name}")).exists()
    }

    #[test]
    fn create_open_unlink_round_trip_shares_bytes() {
        let name = unique("rt");
        let mut a = ShmSegment::create(&name, 8192).unwrap();
        assert!(exists(&name));
        a.mapping_mut().write(100, b"hello").unwrap();
        let b = ShmSegment::open_min(&name, 8192).unwrap();
        assert_eq!(b.len(), 8192);
        let mut buf = [0u8; 5];
        b.mapping().read(100, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        let info = ShmSegment::list()
            .unwrap()
            .into_iter()
            .find(|i| i.name == name)
            .unwrap();
        assert_eq!((info.size, info.mode), (8192, 0o600));
        ShmSegment::unlink(&name).unwrap();
        assert!(!exists(&name));
        // The mappings outlive the name.
        b.mapping().read(100, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
    }

    #[test]
    fn create_refuses_an_existing_name() {
        let name = unique("excl");
        let _a = ShmSegment::create(&name, 4096).unwrap();
        let err = ShmSegment::create(&name, 4096).unwrap_err();
        assert_eq!(err.errno(), Some(Errno::EXIST));
        // The failed create must not remove the first creator's segment.
        assert!(exists(&name));
        ShmSegment::unlink(&name).unwrap();
    }

    #[test]
    fn bad_names_are_rejected_before_any_syscall() {
        for bad in ["", "a/b", "a\0b", &"n".repeat(201)] {
            assert!(matches!(
                ShmSegment::create(bad, 4096),
                Err(Error::InvalidName { .. })
            ));
            assert!(matches!(
                ShmSegment::open(bad),
                Err(Error::InvalidName { .. })
            ));
        }
    }

    #[test]
    fn open_rejects_a_world_writable_segment() {
        let name = unique("mode");
        let path = format!("/kipc.{name}");
        let fd = shm::open(
            path.as_str(),
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::RUSR | Mode::WUSR,
        )
        .unwrap();
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o666)).unwrap();
        rustix::fs::ftruncate(&fd, 4096).unwrap();
        let r = ShmSegment::open(&name);
        shm::unlink(path.as_str()).unwrap();
        assert!(
            matches!(r, Err(Error::BadMode { mode: 0o666, .. })),
            "{r:?}"
        );
    }

    #[test]
    fn open_does_not_follow_a_planted_symlink() {
        let name = unique("link");
        let target = std::env::temp_dir().join(format!("kipc-{name}"));
        std::fs::write(&target, [0u8; 4096]).unwrap();
        std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let link = format!("{SHM_DIR}/kipc.{name}");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let r = ShmSegment::open(&name);
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_file(&target).unwrap();
        assert_eq!(r.unwrap_err().errno(), Some(Errno::LOOP));
    }

    #[test]
    fn open_rejects_a_segment_owned_by_another_user() {
        if rustix::process::geteuid().as_raw() != 0 {
            return; // Only root can give a file away.
        }
        let name = unique("owner");
        let seg = ShmSegment::create(&name, 4096).unwrap();
        rustix::fs::fchown(&seg, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
        let r = ShmSegment::open(&name);
        ShmSegment::unlink(&name).unwrap();
        assert!(
            matches!(r, Err(Error::NotOwner { owner: 65534, .. })),
            "{r:?}"
        );
    }

    #[test]
    fn open_rejects_too_small_and_unsized_segments() {
        let name = unique("small");
        let _a = ShmSegment::create(&name, 4096).unwrap();
        let r = ShmSegment::open_min(&name, 4097);
        assert!(matches!(
            r,
            Err(Error::SizeMismatch {
                expected: 4097,
                actual: 4096,
                ..
            })
        ));
        // A creator caught between shm_open and fallocate: size 0.
        let fd = shm::open(
            format!("/kipc.{name}").as_str(),
            shm::OFlags::RDWR,
            Mode::empty(),
        )
        .unwrap();
        rustix::fs::ftruncate(&fd, 0).unwrap();
        assert_eq!(ShmSegment::open(&name).unwrap_err(), Error::NotReady);
        ShmSegment::unlink(&name).unwrap();
    }

    #[test]
    fn failed_create_leaves_nothing_behind() {
        let name = unique("fail");
        assert!(matches!(
            ShmSegment::create(&name, 0),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(!exists(&name));
        // 1 PiB: more than any /dev/shm here, so fallocate fails after the
        // object exists, and create must remove it again.
        let err = ShmSegment::create(&name, 1 << 50).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Sys {
                    call: "fallocate",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!exists(&name));
    }

    #[test]
    fn unlink_of_a_missing_segment_is_enoent() {
        let err = ShmSegment::unlink(&unique("missing")).unwrap_err();
        assert_eq!(err.errno(), Some(Errno::NOENT));
    }
}
