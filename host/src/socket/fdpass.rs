//! Descriptor passing (`SCM_RIGHTS`) that never leaks, and handing a
//! memfd-backed [`ShmRing`] to another process.
//!
//! Received descriptors are `CLOEXEC` (`MSG_CMSG_CLOEXEC`) and owned
//! ([`OwnedFd`]). If the control data was truncated (`MSG_CTRUNC`: the
//! sender sent more than the receiver made room for) or more descriptors
//! arrived than the caller accepts, the call fails and every descriptor that
//! did arrive is closed before it returns.
//!
//! On a stream socket the descriptors travel with the data bytes they were
//! sent with, so a message with descriptors must carry at least one byte.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use super::wait_for;
use crate::ring::ShmRing;
use crate::{Error, Result};

/// The most descriptors one message may carry (Linux's `SCM_MAX_FD`).
pub const SCM_MAX_FD: usize = 253;

/// `sendmsg(sock, data, SCM_RIGHTS(fds))`: sends `data` with duplicates of
/// `fds` (the caller keeps its own). Blocks according to the socket's mode;
/// `EINTR` is restarted. Returns the bytes of `data` sent.
///
/// # Errors
///
/// [`Error::TooManyFds`] for more than [`SCM_MAX_FD`];
/// [`Error::Sys`] with `EINVAL` if `fds` is non-empty and `data` empty,
/// or from `sendmsg` (`EPIPE`, `EBADF`, `ETOOMANYREFS`, ...).
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// use kipc_host::socket::{recv_with_fds, send_with_fds, StreamSocket};
/// let (a, b) = StreamSocket::pair()?;
/// let file = std::fs::File::open("/dev/null").unwrap();
/// send_with_fds(&a, b"x", &[file.as_fd()])?;
/// let mut buf = [0; 4];
/// let (n, fds) = recv_with_fds(&b, &mut buf, 4)?;
/// assert_eq!((n, fds.len()), (1, 1));
/// # Ok::<(), kipc_host::Error>(())
/// ```
pub fn send_with_fds(sock: impl AsFd, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<usize> {
    if fds.len() > SCM_MAX_FD {
        return Err(Error::TooManyFds {
            count: fds.len(),
            max: SCM_MAX_FD,
        });
    }
    if data.is_empty() && !fds.is_empty() {
        return Err(Error::sys(
            "sendmsg",
            "descriptors need at least one data byte",
            Errno::INVAL,
        ));
    }
    let msg = SendAncillaryMessage::ScmRights(fds);
    let mut space = vec![MaybeUninit::uninit(); msg.size()];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(msg) {
        return Err(Error::TooManyFds {
            count: fds.len(),
            max: SCM_MAX_FD,
        });
    }
    loop {
        match rustix::net::sendmsg(
            sock.as_fd(),
            &[IoSlice::new(data)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Err(Errno::INTR) => continue,
            r => return r.map_err(|e| Error::sys("sendmsg", "socket (SCM_RIGHTS)", e)),
        }
    }
}

/// `recvmsg(sock, buf, MSG_CMSG_CLOEXEC)` with room for `max_fds`
/// descriptors: returns the bytes received (0 at end of file) and the
/// descriptors that came with them, owned and `CLOEXEC`. Blocks according to
/// the socket's mode; `EINTR` is restarted.
///
/// # Errors
///
/// [`Error::ControlTruncated`] (after closing every descriptor that
/// arrived) if the sender sent more than `max_fds`;
/// [`Error::MessageTruncated`] (descriptors closed too) if a datagram
/// did not fit `buf`; [`Error::TooManyFds`] if `max_fds` exceeds
/// [`SCM_MAX_FD`]; [`Error::Sys`] from `recvmsg`.
pub fn recv_with_fds(
    sock: impl AsFd,
    buf: &mut [u8],
    max_fds: usize,
) -> Result<(usize, Vec<OwnedFd>)> {
    recv_fds_inner(sock.as_fd(), buf, max_fds, RecvFlags::empty())
}

/// [`recv_with_fds`] waiting at most `timeout` for a message to arrive
/// (`poll`, then a non-blocking `recvmsg`).
///
/// # Errors
///
/// As [`recv_with_fds`]; [`Error::Timeout`].
pub fn recv_with_fds_timeout(
    sock: impl AsFd,
    buf: &mut [u8],
    max_fds: usize,
    timeout: Duration,
) -> Result<(usize, Vec<OwnedFd>)> {
    let fd = sock.as_fd();
    super::with_wait(fd, PollFlags::IN, super::Wait::timeout(timeout), || {
        recv_fds_inner(fd, buf, max_fds, RecvFlags::DONTWAIT)
    })
}

fn recv_fds_inner(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
    extra: RecvFlags,
) -> Result<(usize, Vec<OwnedFd>)> {
    if max_fds > SCM_MAX_FD {
        return Err(Error::TooManyFds {
            count: max_fds,
            max: SCM_MAX_FD,
        });
    }
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(max_fds.max(1)))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let capacity = buf.len();
    let msg = loop {
        match rustix::net::recvmsg(
            fd,
            &mut [IoSliceMut::new(&mut *buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC | extra,
        ) {
            Err(Errno::INTR) => continue,
            r => break r.map_err(|e| Error::sys("recvmsg", "socket (SCM_RIGHTS)", e))?,
        }
    };
    // Take ownership of everything that arrived first, so that every error
    // path below closes it by dropping the vector.
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(iter) = m {
            fds.extend(iter);
        }
    }
    if msg.flags.contains(ReturnFlags::CTRUNC) || fds.len() > max_fds {
        return Err(Error::ControlTruncated {
            received: fds.len(),
            max: max_fds,
        });
    }
    if msg.flags.contains(ReturnFlags::TRUNC) {
        return Err(Error::MessageTruncated {
            len: msg.bytes.max(capacity + 1),
            capacity,
        });
    }
    Ok((msg.bytes, fds))
}

/// The payload that tags a ring handoff.
const RING_MAGIC: &[u8] = b"kipc-ring\x01";

/// Hands an anonymous (memfd) [`ShmRing`] to the process at the other end of
/// a Unix socket: sends its sealed memfd with `SCM_RIGHTS`. The peer calls
/// [`recv_ring`]; both then use the same ring (claim opposite sides).
///
/// # Errors
///
/// [`Error::InvalidArgument`] for a
/// named ring (open it by name instead); errors of [`send_with_fds`].
pub fn send_ring(sock: impl AsFd, ring: &ShmRing) -> Result<()> {
    if ring.name().is_some() {
        return Err(Error::InvalidArgument {
            object: format!("ring {:?}", ring.name().unwrap_or_default()),
            reason: "only anonymous (memfd) rings can be handed over; open named rings by name",
        });
    }
    send_with_fds(sock, RING_MAGIC, &[ring.fd()])?;
    Ok(())
}

/// Receives a ring sent by [`send_ring`] and attaches to it
/// ([`ShmRing::from_fd`], which checks the memfd's seals, size and header).
/// Blocks according to the socket's mode.
///
/// # Errors
///
/// [`Error::Protocol`] if the message is not a ring handoff (any
/// descriptors that came are closed); errors of [`recv_with_fds`] and of
/// [`ShmRing::from_fd`] (as [`Error::Sys`]).
pub fn recv_ring(sock: impl AsFd) -> Result<ShmRing> {
    let mut buf = [0u8; 16];
    let (n, fds) = recv_with_fds(sock, &mut buf, 1)?;
    ring_from(&buf[..n], fds)
}

/// [`recv_ring`] waiting at most `timeout`.
///
/// # Errors
///
/// As [`recv_ring`]; [`Error::Timeout`].
pub fn recv_ring_timeout(sock: impl AsFd, timeout: Duration) -> Result<ShmRing> {
    let fd = sock.as_fd();
    wait_for(fd, PollFlags::IN, super::deadline(timeout))?;
    let mut buf = [0u8; 16];
    let (n, fds) = recv_with_fds_timeout(fd, &mut buf, 1, timeout)?;
    ring_from(&buf[..n], fds)
}

fn ring_from(data: &[u8], mut fds: Vec<OwnedFd>) -> Result<ShmRing> {
    if data.is_empty() && fds.is_empty() {
        return Err(Error::Protocol("peer closed before sending the ring"));
    }
    if data != RING_MAGIC {
        return Err(Error::Protocol("message is not a kipc ring handoff"));
    }
    let fd = match (fds.pop(), fds.is_empty()) {
        (Some(fd), true) => fd,
        _ => {
            return Err(Error::Protocol(
                "a ring handoff carries exactly one descriptor",
            ))
        }
    };
    ShmRing::from_fd(fd)
}
