//! What is particular to Unix-domain sockets: socket files (removed again by
//! the socket that created them), the Linux abstract namespace, and autobind.
//!
//! An abstract name (`unix-abstract:NAME`) lives in the network namespace,
//! not the filesystem: nothing is left behind when the socket closes, and
//! filesystem permissions do not apply (any process in the namespace can
//! connect; use [`ServerOptions::allowed_uids`](super::ServerOptions) or
//! [`peer_credentials`](super::peer_credentials) to authenticate).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use rustix::net::SocketAddrUnix;

use crate::{Error, Result};

/// `bind(fd, sockaddr_un{sun_family})`: asks the kernel to give the socket a
/// unique abstract name ("autobind"), so that datagram peers can reply.
///
/// # Errors
///
/// [`Error::Sys`] from `bind`.
pub fn autobind(fd: BorrowedFd<'_>) -> Result<()> {
    rustix::net::bind(fd, &SocketAddrUnix::new_unnamed())
        .map_err(|e| Error::sys("bind", "unix socket (autobind)", e))
}

/// A socket file this process created with `bind`; dropping it removes the
/// file, but only if it is still the same file (same device and inode), so a
/// socket that someone else has since bound at the path is left alone.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Records the socket file just bound at `path`.
    pub(crate) fn new(path: &Path) -> Option<Self> {
        let st = rustix::fs::stat(path).ok()?;
        Some(Self {
            path: path.to_path_buf(),
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(st) = rustix::fs::stat(&self.path) {
            if st.st_dev == self.dev && st.st_ino == self.ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Binds `fd` to `addr`, returning the guard of the socket file it created
/// (none for abstract names and inet addresses).
pub(crate) fn bind(fd: impl AsFd, addr: &super::Addr) -> Result<Option<SocketFile>> {
    let fd = fd.as_fd();
    match addr.to_raw()? {
        super::addr::RawAddr::Unix(raw) => {
            rustix::net::bind(fd, &raw).map_err(|e| Error::sys("bind", addr, e))?;
            Ok(match addr {
                super::Addr::Unix(p) => SocketFile::new(p),
                _ => None,
            })
        }
        super::addr::RawAddr::Inet(a) => {
            rustix::net::bind(fd, &a).map_err(|e| Error::sys("bind", addr, e))?;
            Ok(None)
        }
    }
}

/// `connect(fd, addr)`.
pub(crate) fn connect(fd: impl AsFd, addr: &super::Addr) -> Result<()> {
    let fd = fd.as_fd();
    let r = match addr.to_raw()? {
        super::addr::RawAddr::Unix(raw) => rustix::net::connect(fd, &raw),
        super::addr::RawAddr::Inet(a) => rustix::net::connect(fd, &a),
    };
    r.map_err(|e| Error::sys("connect", addr, e))
}
