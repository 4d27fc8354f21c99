//! `pipe` (two anonymous pipes, inherited) and `fifo` (two named pipes in a
//! private temporary directory, opened by path). Messages are `size` bytes
//! back to back; a dead peer shows as end-of-file or `EPIPE`.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::pipe::{pipe_with, PipeFlags};

use super::{Driver, StreamChannel};
use crate::bench::harness::{ChildCtx, ParentCtx, Peer};

/// Parent side of `pipe`.
pub fn parent_pipe(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let (to_peer_rd, to_peer_wr) = pipe_with(PipeFlags::CLOEXEC)?;
    let (from_peer_rd, from_peer_wr) = pipe_with(PipeFlags::CLOEXEC)?;
    let _peer = ctx.spawn(&[to_peer_rd.as_fd(), from_peer_wr.as_fd()], &[])?;
    // Close our copies of the peer's ends, so its death is our EOF/EPIPE.
    drop((to_peer_rd, from_peer_wr));
    let mut ch = StreamChannel {
        rd: File::from(from_peer_rd),
        wr: File::from(to_peer_wr),
    };
    drive(&mut ch)
}

/// Peer side of `pipe`.
pub fn child_pipe(mut ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let rd = File::from(ctx.take_fd(0)?);
    let wr = File::from(ctx.take_fd(1)?);
    drive(&mut StreamChannel { rd, wr })
}

/// A private directory holding the two FIFOs, removed on drop.
struct FifoDir(PathBuf);

impl Drop for FifoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fifo_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("to-peer"), dir.join("from-peer"))
}

/// Opens a FIFO's write end without blocking forever: `ENXIO` means no
/// reader yet, so retry while the peer lives.
fn open_writer(path: &Path, peer: &Peer) -> io::Result<File> {
    loop {
        match rustix::fs::open(
            path,
            OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => {
                rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
                return Ok(File::from(fd));
            }
            Err(Errno::NXIO) if peer.alive() => std::thread::sleep(Duration::from_micros(200)),
            Err(Errno::NXIO) => return Err(peer.dead_error()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Opens a FIFO's read end at once, then waits (polling the peer) until the
/// writer has written, so a read never sees the end-of-file of "no writer
/// yet".
fn open_reader(path: &Path, peer: &Peer) -> io::Result<File> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let timeout = Timespec {
        tv_sec: 0,
        tv_nsec: 50_000_000,
    };
    loop {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        if poll(&mut fds, Some(&timeout))? > 0 {
            break;
        }
        if !peer.alive() {
            return Err(peer.dead_error());
        }
    }
    rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
    Ok(File::from(fd))
}

/// Parent side of `fifo`.
pub fn parent_fifo(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let dir = FifoDir(std::env::temp_dir().join(format!("kipc-bench.{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::DirBuilder::new().mode(0o700).create(&dir.0)?;
    let (to_peer, from_peer) = fifo_paths(&dir.0);
    for p in [&to_peer, &from_peer] {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            p,
            rustix::fs::FileType::Fifo,
            Mode::RUSR | Mode::WUSR,
            0,
        )?;
    }
    let peer = ctx.spawn(&[], &[dir.0.display().to_string()])?;
    let wr = open_writer(&to_peer, &peer)?;
    let rd = open_reader(&from_peer, &peer)?;
    drop(dir); // both ends are open: the names are no longer needed
    drive(&mut StreamChannel { rd, wr })
}

/// Peer side of `fifo`: opens in the order that cannot deadlock with the
/// parent's (its writer waits for this reader; this writer for its reader).
pub fn child_fifo(ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let dir = PathBuf::from(ctx.extra(0)?);
    let (to_peer, from_peer) = fifo_paths(&dir);
    let rd = File::options().read(true).open(&to_peer)?;
    let wr = File::options().write(true).open(&from_peer)?;
    drive(&mut StreamChannel { rd, wr })
}
