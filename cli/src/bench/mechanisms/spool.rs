//! `spool`: kipc's maildir-style spool ([`kipc_host::spool::Spool`]), one
//! spool directory each way, in a private directory under `/dev/shm` (tmpfs,
//! so its `fsync`s cost little; the system temporary directory if there is
//! no `/dev/shm`).
//!
//! Every message is a file: written in `tmp/`, `fsync`ed, renamed into
//! `new/`; the receiver learns of it through inotify
//! ([`Spool::recv_timeout`]), claims it by renaming it into `cur/`, reads it
//! and unlinks it. The slowest mechanism of the table by design: it is the
//! one that survives a crash and a reboot (on a real disk).

use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kipc_host::spool::Spool;
use kipc_host::Error as HostError;

use super::{other, Driver};
use crate::bench::harness::{ChildCtx, ParentCtx, Peer};
use crate::bench::protocol::Channel;

/// How long one receive waits before asking whether the peer lives.
const SLICE: Duration = Duration::from_millis(100);

/// The private directory holding both spools, removed on drop.
struct SpoolDir(PathBuf);

impl Drop for SpoolDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn base_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn spool_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("to-peer"), dir.join("from-peer"))
}

struct SpoolChannel<'a> {
    tx: Spool,
    rx: Spool,
    peer: &'a Peer,
}

impl Channel for SpoolChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.tx
            .send(msg)
            .map(drop)
            .map_err(|e| other("spool send", e))
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.rx.recv_timeout(SLICE) {
                Ok(m) => {
                    let n = m.len().min(buf.len());
                    buf[..n].copy_from_slice(&m[..n]);
                    return Ok(n);
                }
                Err(HostError::Timeout) if self.peer.alive() => {}
                Err(HostError::Timeout) => return Err(self.peer.dead_error()),
                Err(e) => return Err(other("spool receive", e)),
            }
        }
    }
}

fn open(path: &Path) -> io::Result<Spool> {
    Spool::open(path).map_err(|e| other("spool open", e))
}

/// Parent side.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let dir = SpoolDir(base_dir().join(format!("kipc-bench-spool.{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::DirBuilder::new().mode(0o700).create(&dir.0)?;
    let (to_peer, from_peer) = spool_paths(&dir.0);
    let (tx, rx) = (open(&to_peer)?, open(&from_peer)?);
    let peer = ctx.spawn(&[], &[dir.0.display().to_string()])?;
    let r = drive(&mut SpoolChannel {
        tx,
        rx,
        peer: &peer,
    });
    // Let the peer finish with the directories before they go.
    peer.wait_exit(Duration::from_secs(1));
    drop(dir);
    r
}

/// Peer side.
pub fn child(ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let dir = PathBuf::from(ctx.extra(0)?);
    let (to_peer, from_peer) = spool_paths(&dir);
    let (rx, tx) = (open(&to_peer)?, open(&from_peer)?);
    drive(&mut SpoolChannel {
        tx,
        rx,
        peer: &ctx.peer,
    })
}
