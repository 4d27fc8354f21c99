//! Sockets: `unix-stream`, `unix-dgram`, `unix-seqpacket` (a
//! `socketpair`, one end inherited by the peer), `tcp` (loopback,
//! `TCP_NODELAY` on both ends) and `udp` (loopback, connected sockets).
//!
//! Stream sockets carry `size`-byte messages back to back; datagram and
//! seqpacket sockets one message per datagram. UDP may drop datagrams when
//! the receiver falls behind: the stream figure is what the receiver
//! counted, and a lost round-trip datagram fails the run after 2 s.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use super::{Driver, Mech, StreamChannel};
use crate::bench::harness::{ChildCtx, ParentCtx, Peer};
use crate::bench::protocol::Channel;

/// Which Unix socket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unix {
    /// `SOCK_STREAM`.
    Stream,
    /// `SOCK_DGRAM`.
    Dgram,
    /// `SOCK_SEQPACKET`.
    Seqpacket,
}

/// Receive timeout slice on datagram sockets that can lose their peer
/// silently.
const SLICE: Duration = Duration::from_millis(100);

/// One message per datagram (or seqpacket record).
struct DgramChannel<'a> {
    fd: OwnedFd,
    peer: &'a Peer,
    /// `Some(n)`: on a receive timeout, retry up to `n` slices while the peer
    /// lives, then fail; `None`: hand timeouts to the protocol.
    give_up: Option<u32>,
}

impl Channel for DgramChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let n = rustix::net::send(&self.fd, msg, SendFlags::empty())?;
        if n != msg.len() {
            return Err(io::Error::other(format!(
                "short datagram: {n} of {} bytes",
                msg.len()
            )));
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut slices = 0;
        loop {
            match rustix::net::recv(&self.fd, &mut *buf, RecvFlags::empty()) {
                Ok((0, _)) if !buf.is_empty() => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "peer closed its end",
                    ))
                }
                Ok((n, _)) => return Ok(n),
                Err(rustix::io::Errno::AGAIN) => {
                    let Some(limit) = self.give_up else {
                        return Err(io::ErrorKind::WouldBlock.into());
                    };
                    if !self.peer.alive() {
                        return Err(self.peer.dead_error());
                    }
                    slices += 1;
                    if slices >= limit {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no reply within 2 s (datagram lost?)",
                        ));
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn set_rcvtimeo(fd: impl AsFd, t: Duration) -> io::Result<()> {
    rustix::net::sockopt::set_socket_timeout(fd, rustix::net::sockopt::Timeout::Recv, Some(t))?;
    Ok(())
}

/// Parent side of the three Unix socket types.
pub fn parent_unix(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    match ctx.mech {
        Mech::UnixStream => {
            let (mine, theirs) = UnixStream::pair()?;
            let _peer = ctx.spawn(&[theirs.as_fd()], &[])?;
            drop(theirs);
            drive(&mut StreamChannel {
                rd: mine.try_clone()?,
                wr: mine,
            })
        }
        Mech::UnixDgram | Mech::UnixSeqpacket => {
            let (mine, theirs): (OwnedFd, OwnedFd) = if ctx.mech == Mech::UnixDgram {
                let (a, b) = UnixDatagram::pair()?;
                (a.into(), b.into())
            } else {
                rustix::net::socketpair(
                    AddressFamily::UNIX,
                    SocketType::SEQPACKET,
                    SocketFlags::CLOEXEC,
                    None,
                )?
            };
            let peer = ctx.spawn(&[theirs.as_fd()], &[])?;
            drop(theirs);
            // A connected Unix datagram socket does not see its peer close.
            set_rcvtimeo(&mine, SLICE)?;
            drive(&mut DgramChannel {
                fd: mine,
                peer: &peer,
                give_up: Some(u32::MAX),
            })
        }
        _ => Err(io::Error::other("not a Unix socket mechanism")),
    }
}

/// Peer side of the three Unix socket types.
pub fn child_unix(mut ctx: ChildCtx, drive: Driver<'_>, kind: Unix) -> io::Result<()> {
    let fd = ctx.take_fd(0)?;
    match kind {
        Unix::Stream => {
            let s = UnixStream::from(fd);
            drive(&mut StreamChannel {
                rd: s.try_clone()?,
                wr: s,
            })
        }
        Unix::Dgram | Unix::Seqpacket => drive(&mut DgramChannel {
            fd,
            peer: &ctx.peer,
            give_up: Some(u32::MAX),
        }),
    }
}

/// Parent side of `tcp`.
pub fn parent_tcp(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    let peer = ctx.spawn(&[], &[port.to_string()])?;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !peer.alive() {
                    return Err(peer.dead_error());
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => return Err(e),
        }
    };
    drop(listener);
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    drive(&mut StreamChannel {
        rd: stream.try_clone()?,
        wr: stream,
    })
}

/// Peer side of `tcp`.
pub fn child_tcp(ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let port: u16 = ctx
        .extra(0)?
        .parse()
        .map_err(|_| io::Error::other("bad port"))?;
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_nodelay(true)?;
    drive(&mut StreamChannel {
        rd: stream.try_clone()?,
        wr: stream,
    })
}

/// Parent side of `udp`: learns the peer's address from a hello datagram,
/// then both sides are connected.
pub fn parent_udp(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = sock.local_addr()?.port();
    sock.set_read_timeout(Some(SLICE))?;
    let peer = ctx.spawn(&[], &[port.to_string()])?;
    let mut hello = [0u8; 1];
    let from = loop {
        match sock.recv_from(&mut hello) {
            Ok((_, from)) => break from,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if !peer.alive() {
                    return Err(peer.dead_error());
                }
            }
            Err(e) => return Err(e),
        }
    };
    sock.connect(from)?;
    drive(&mut DgramChannel {
        fd: sock.into(),
        peer: &peer,
        give_up: Some(20),
    })
}

/// Peer side of `udp`.
pub fn child_udp(ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let port: u16 = ctx
        .extra(0)?
        .parse()
        .map_err(|_| io::Error::other("bad port"))?;
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    sock.connect((Ipv4Addr::LOCALHOST, port))?;
    sock.send(&[0])?;
    // A lost END must not hang the stream: the protocol treats a timeout
    // during a stream as its end.
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    drive(&mut DgramChannel {
        fd: sock.into(),
        peer: &ctx.peer,
        give_up: None,
    })
}
