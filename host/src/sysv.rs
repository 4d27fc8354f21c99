//! System V shared memory, for interop with C programs that do
//!
//! ```c
//! key_t key = ftok(path, proj_id);
//! int id = shmget(key, size, 0666 | IPC_CREAT);
//! char *p = shmat(id, NULL, 0);
//! ```
//!
//! The API is a raw byte view ([`SysvSegment::read`], [`SysvSegment::write`],
//! [`SysvSegment::as_ptr`]), not a ring: the C side decides the layout.
//!
//! Unlike [`crate::shm`], System V segments are not checked for owner or mode
//! when opened: the C programs this exists for routinely create them `0666`,
//! and interop is the point. Treat their contents as untrusted input. A System
//! V segment cannot change size once created, so there is no `SIGBUS` risk;
//! it also outlives every process until [`SysvSegment::remove`] (or a reboot).
//!
//! # References
//! - [POSIX `shmget`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/shmget.html)
//! - [Linux `sysvipc(7)`](https://man7.org/linux/man-pages/man7/sysvipc.7.html)
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::mapping::Mapping;
use crate::sys::sysv as sys;
use crate::{Error, Result};

/// A System V IPC key (`key_t`), usually from [`SysvKey::from_path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SysvKey(i32);

impl SysvKey {
    /// `IPC_PRIVATE`: always a new segment, reachable only by its id.
    pub const PRIVATE: SysvKey = SysvKey(0);

    /// `ftok(path, proj_id)` — derives a key from an existing file's inode and
    /// device and the low 8 bits of `proj_id`, exactly as C's `ftok` does.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the low 8 bits of `proj_id` are 0 or
    /// `path` contains a NUL byte; [`Error::Sys`] from `ftok` (`ENOENT` if the
    /// file does not exist).
    pub fn from_path(path: &Path, proj_id: i32) -> Result<Self> {
        let obj = || format!("key file {}", path.display());
        if proj_id & 0xff == 0 {
            return Err(Error::InvalidArgument {
                object: obj(),
                reason: "proj_id must have a non-zero low byte",
            });
        }
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::InvalidArgument {
            object: obj(),
            reason: "path contains a NUL byte",
        })?;
        sys::ftok(&c, proj_id)
            .map(SysvKey)
            .map_err(|e| Error::sys("ftok", obj(), e))
    }

    /// A key given as a number (as `ipcs` prints it).
    pub const fn from_raw(key: i32) -> Self {
        SysvKey(key)
    }

    /// The raw `key_t`.
    pub const fn as_raw(self) -> i32 {
        self.0
    }
}

/// What `shmctl(IPC_STAT)` says about a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysvInfo {
    /// Size in bytes (`shm_segsz`).
    pub size: usize,
    /// Owner's uid.
    pub uid: u32,
    /// Permission bits.
    pub mode: u32,
    /// Pid of the creator.
    pub creator_pid: i32,
    /// Pid of the last `shmat`/`shmdt`.
    pub last_pid: i32,
    /// Number of current attachments.
    pub attached: u64,
}

/// An attached System V segment, detached (`shmdt`) on drop. The segment
/// itself stays until [`remove`](Self::remove)d.
#[derive(Debug)]
pub struct SysvSegment {
    key: SysvKey,
    id: i32,
    map: Mapping,
}

impl SysvSegment {
    /// `shmget(key, size, mode|IPC_CREAT)`, `shmat` — opens the segment for
    /// `key`, creating it with `size` bytes and permission bits `mode` if it
    /// does not exist, and attaches all of it read-write. What the classic C
    /// examples do with `0666|IPC_CREAT`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a size of 0 or `mode` with bits outside
    /// `0o777`; [`Error::Sys`] from `shmget` (`EINVAL` if an existing segment
    /// is smaller than `size`, `EACCES` without permission), `shmctl` or `shmat`.
    pub fn open_or_create(key: SysvKey, size: usize, mode: u32) -> Result<Self> {
        Self::get(key, size, mode, sys::IPC_CREAT)
    }

    /// `shmget(key, size, mode|IPC_CREAT|IPC_EXCL)`, `shmat` — creates a new
    /// segment and attaches it; fails if `key` already has one.
    ///
    /// # Errors
    ///
    /// As [`open_or_create`](Self::open_or_create); `EEXIST` if the key is taken.
    pub fn create(key: SysvKey, size: usize, mode: u32) -> Result<Self> {
        Self::get(key, size, mode, sys::IPC_CREAT | sys::IPC_EXCL)
    }

    /// `shmget(key, 0, 0)`, `shmat` — attaches the existing segment for `key`,
    /// all of it (the size `IPC_STAT` reports).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `shmget` (`ENOENT` if there is none), `shmctl` or
    /// `shmat`.
    pub fn open(key: SysvKey) -> Result<Self> {
        let id = sys::shmget(key.0, 0, 0).map_err(|e| Error::sys("shmget", obj_key(key), e))?;
        Self::attach(key, id)
    }

    fn get(key: SysvKey, size: usize, mode: u32, flags: i32) -> Result<Self> {
        if size == 0 {
            return Err(Error::InvalidArgument {
                object: obj_key(key),
                reason: "size must be at least 1 byte",
            });
        }
        if mode & !0o777 != 0 {
            return Err(Error::InvalidArgument {
                object: obj_key(key),
                reason: "mode may only hold permission bits (0o777)",
            });
        }
        // `mode & 0o777` fits in an i32.
        let id = sys::shmget(key.0, size, flags | mode as i32)
            .map_err(|e| Error::sys("shmget", obj_key(key), e))?;
        Self::attach(key, id)
    }

    /// `shmctl(IPC_STAT)` and `shmat(id, NULL, 0)` — attaches segment `id`.
    fn attach(key: SysvKey, id: i32) -> Result<Self> {
        let obj = || format!("sysv segment {id} (key {:#x})", key.0);
        let info = sys::shm_stat(id).map_err(|e| Error::sys("shmctl", obj(), e))?;
        if info.size == 0 {
            return Err(Error::SizeMismatch {
                object: obj(),
                expected: 1,
                actual: 0,
            });
        }
        let ptr = sys::shmat(id).map_err(|e| Error::sys("shmat", obj(), e))?;
        // SAFETY: `ptr` was just returned by `shmat` for segment `id`, attached
        // read-write, and the segment is `info.size` bytes, a size that never
        // changes; nothing else will detach it.
        let map = unsafe { Mapping::from_shmat(ptr, info.size) };
        Ok(Self { key, id, map })
    }

    /// `shmget(key, 0, 0)` then `shmctl(id, IPC_RMID)` — marks the segment for
    /// `key` for removal: it goes away when the last process detaches, and the
    /// key is free at once.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] (`ENOENT` if `key` has no segment, `EPERM` if it is not ours).
    pub fn remove(key: SysvKey) -> Result<()> {
        let id = sys::shmget(key.0, 0, 0).map_err(|e| Error::sys("shmget", obj_key(key), e))?;
        Self::remove_id(id)
    }

    /// `shmctl(id, IPC_RMID)` — marks segment `id` for removal.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] (`EINVAL` if there is no such id, `EPERM` if it is not ours).
    pub fn remove_id(id: i32) -> Result<()> {
        sys::shm_remove(id)
            .map_err(|e| Error::sys("shmctl(IPC_RMID)", format!("sysv segment {id}"), e))
    }

    /// `shmctl(id, IPC_STAT)` — the segment's size, owner, mode and attach count now.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `shmctl`.
    pub fn info(&self) -> Result<SysvInfo> {
        let s = sys::shm_stat(self.id).map_err(|e| Error::sys("shmctl", self.object(), e))?;
        Ok(SysvInfo {
            size: s.size,
            uid: s.uid,
            mode: s.mode,
            creator_pid: s.creator_pid,
            last_pid: s.last_pid,
            attached: s.attached,
        })
    }

    fn object(&self) -> String {
        format!("sysv segment {} (key {:#x})", self.id, self.key.0)
    }

    /// The key this segment was opened by.
    pub fn key(&self) -> SysvKey {
        self.key
    }

    /// The segment id (`shmid`).
    pub fn id(&self) -> i32 {
        self.id
    }

    /// Copies `buf.len()` bytes at `offset` out of the segment.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] if the range is not inside the segment.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.map.read_named(offset, buf, &self.object())
    }

    /// Copies `data` into the segment at `offset`.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] if the range is not inside the segment.
    pub fn write(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        let obj = self.object();
        self.map.write_named(offset, data, &obj)
    }

    /// Start of the attachment; see [`Mapping::as_ptr`].
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    /// Attached length in bytes (the segment's size).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always `false`: a segment is never empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Where Linux lists every System V segment of this IPC namespace.
pub const PROC_SHM: &str = "/proc/sysvipc/shm";

/// `SHM_DEST` in a listed mode: removed, but still attached somewhere.
const SHM_DEST: u32 = 0o1000;

/// One System V segment as [`list`] reports it (the columns `ipcs -m` shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysvListing {
    /// Its key; [`SysvKey::PRIVATE`] for `IPC_PRIVATE` segments and for
    /// removed ones that are still attached.
    pub key: SysvKey,
    /// Its id (`shmid`), what [`SysvSegment::remove_id`] takes.
    pub id: i32,
    /// Owner's uid.
    pub uid: u32,
    /// Permission bits (`0o777` at most).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Number of current attachments (`nattch`).
    pub attached: u64,
    /// Pid of the creator.
    pub creator_pid: i32,
    /// Pid of the last `shmat`/`shmdt` (0 if none yet).
    pub last_pid: i32,
    /// Removed (`IPC_RMID`) but still attached: it goes when the last
    /// process detaches.
    pub removed: bool,
}

/// Reads [`PROC_SHM`] — every System V segment in this IPC namespace,
/// whoever owns it, as `ipcs -m` lists them.
///
/// # Errors
///
/// [`Error::Sys`] if the file cannot be read (no `/proc`, or a kernel
/// without System V IPC); [`Error::InvalidArgument`] if its text is not in
/// the format the kernel writes.
pub fn list() -> Result<Vec<SysvListing>> {
    let text = std::fs::read_to_string(PROC_SHM).map_err(|e| match e.raw_os_error() {
        Some(raw) => Error::sys("read", PROC_SHM, rustix::io::Errno::from_raw_os_error(raw)),
        None => Error::from(e),
    })?;
    parse_proc_shm(&text)
}

/// Parses the text of [`PROC_SHM`]: a header naming the columns, then one
/// row per segment. Columns are found by name, so a kernel that adds or
/// moves columns still parses; `key`, `shmid` and `perms` are decimal,
/// decimal and octal, the rest decimal.
fn parse_proc_shm(text: &str) -> Result<Vec<SysvListing>> {
    let bad = |reason: &'static str| Error::InvalidArgument {
        object: PROC_SHM.to_string(),
        reason,
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| bad("empty"))?
        .split_whitespace()
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| bad("a column is missing from the header"))
    };
    let cols = [
        col("key")?,
        col("shmid")?,
        col("perms")?,
        col("size")?,
        col("cpid")?,
        col("lpid")?,
        col("nattch")?,
        col("uid")?,
    ];
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [key, id, perms, size, cpid, lpid, nattch, uid] = cols.map(|i| fields.get(i).copied());
        let row = (|| {
            let perms = u32::from_str_radix(perms?, 8).ok()?;
            Some(SysvListing {
                key: SysvKey(key?.parse().ok()?),
                id: id?.parse().ok()?,
                uid: uid?.parse().ok()?,
                mode: perms & 0o777,
                size: size?.parse().ok()?,
                attached: nattch?.parse().ok()?,
                creator_pid: cpid?.parse().ok()?,
                last_pid: lpid?.parse().ok()?,
                removed: perms & SHM_DEST != 0,
            })
        })();
        out.push(row.ok_or_else(|| bad("a row does not parse"))?);
    }
    Ok(out)
}

fn obj_key(key: SysvKey) -> String {
    format!("sysv segment with key {:#x}", key.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::Errno;

    /// A fresh key file; removed on drop.
    struct KeyFile(std::path::PathBuf);
    impl KeyFile {
        fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!("kipc-sysv-{tag}-{}", std::process::id()));
            std::fs::write(&p, b"").unwrap();
            KeyFile(p)
        }
    }
    impl Drop for KeyFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn segment_by_key_round_trips_bytes_and_is_removed() {
        let kf = KeyFile::new("rt");
        let key = SysvKey::from_path(&kf.0, i32::from(b'K')).unwrap();
        assert_eq!(key, SysvKey::from_path(&kf.0, i32::from(b'K')).unwrap());
        // IPC_EXCL: fail rather than scribble on somebody's segment if ftok collides.
        let mut a = SysvSegment::create(key, 1000, 0o600).unwrap();
        assert_eq!(a.len(), 1000);
        a.write(0, b"hello, C\0").unwrap();
        assert!(matches!(
            a.write(995, b"toolong"),
            Err(Error::OutOfRange { .. })
        ));
        drop(a);

        let b = SysvSegment::open(key).unwrap();
        assert_eq!(b.len(), 1000);
        let mut buf = [0u8; 9];
        b.read(0, &mut buf).unwrap();
        assert_eq!(&buf, b"hello, C\0");
        let info = b.info().unwrap();
        assert_eq!((info.size, info.mode, info.attached), (1000, 0o600, 1));
        let c = SysvSegment::open_or_create(key, 10, 0o666).unwrap();
        assert_eq!(c.id(), b.id());

        SysvSegment::remove(key).unwrap();
        assert_eq!(
            SysvSegment::open(key).unwrap_err().errno(),
            Some(Errno::NOENT)
        );
        // Still attached after removal until dropped.
        b.read(0, &mut buf).unwrap();
    }

    #[test]
    fn bad_arguments_are_refused() {
        let kf = KeyFile::new("bad");
        assert!(matches!(
            SysvKey::from_path(&kf.0, 0x100),
            Err(Error::InvalidArgument { .. })
        ));
        assert_eq!(
            SysvKey::from_path(Path::new("/nonexistent/kipc"), 1)
                .unwrap_err()
                .errno(),
            Some(Errno::NOENT)
        );
        assert!(matches!(
            SysvSegment::create(SysvKey::PRIVATE, 0, 0o600),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            SysvSegment::create(SysvKey::PRIVATE, 64, 0o1600),
            Err(Error::InvalidArgument { .. })
        ));
    }

    #[test]
    fn private_segment_is_removable_by_id() {
        let a = SysvSegment::create(SysvKey::PRIVATE, 64, 0o600).unwrap();
        let id = a.id();
        SysvSegment::remove_id(id).unwrap();
        drop(a); // The last detach destroys it.
        assert!(SysvSegment::remove_id(id).is_err());
    }

    /// What Linux 6.x writes (two segments: one by key, one removed but
    /// still attached, whose key the kernel shows as 0).
    const PROC_SAMPLE: &str = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap
 305441741          3   640                  4096 26378     0      0  1000  1000  1000  1000          0          0 1796562662                     0                     0
        -5         17  1600                 65536   812   901      2     0     0     0     0 1796562665          0 1796562662                  4096                     0
";

    #[test]
    fn proc_shm_rows_parse_by_column_name() {
        let rows = parse_proc_shm(PROC_SAMPLE).unwrap();
        assert_eq!(
            rows,
            [
                SysvListing {
                    key: SysvKey::from_raw(0x1234_abcd),
                    id: 3,
                    uid: 1000,
                    mode: 0o640,
                    size: 4096,
                    attached: 0,
                    creator_pid: 26378,
                    last_pid: 0,
                    removed: false,
                },
                SysvListing {
                    key: SysvKey::from_raw(-5),
                    id: 17,
                    uid: 0,
                    mode: 0o600,
                    size: 65536,
                    attached: 2,
                    creator_pid: 812,
                    last_pid: 901,
                    removed: true,
                },
            ]
        );
        // No segments: just the header.
        let header = PROC_SAMPLE.lines().next().unwrap();
        assert_eq!(parse_proc_shm(header).unwrap(), []);
    }

    #[test]
    fn malformed_proc_shm_text_is_an_error_not_a_guess() {
        assert!(parse_proc_shm("").is_err());
        assert!(parse_proc_shm("key shmid perms size\n1 2 600 4\n").is_err());
        let header = PROC_SAMPLE.lines().next().unwrap();
        for row in [
            "1 2 999 4 5 6 7 8",
            "1 2",
            "x 2 600 4 5 6 7 8",
            "1 2 600 -4 5 6 7 8",
        ] {
            let text = format!("{header}\n{row}\n");
            assert!(parse_proc_shm(&text).is_err(), "{row}");
        }
    }

    #[test]
    fn list_shows_a_segment_this_process_created() {
        let a = SysvSegment::create(SysvKey::PRIVATE, 3000, 0o640).unwrap();
        let id = a.id();
        let rows = list().unwrap();
        let _ = SysvSegment::remove_id(id);
        let row = rows.iter().find(|r| r.id == id).expect("listed");
        assert_eq!((row.size, row.mode, row.attached), (3000, 0o640, 1));
        assert_eq!(row.uid, rustix::process::getuid().as_raw());
        assert_eq!(
            row.creator_pid,
            rustix::process::getpid().as_raw_nonzero().get()
        );
    }
}
