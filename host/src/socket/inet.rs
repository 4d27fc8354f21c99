//! What is particular to inet (TCP and UDP, IPv4 and IPv6) sockets.
//!
//! The socket types are the same as for Unix sockets ([`StreamSocket`] for
//! TCP, [`DatagramSocket`] for UDP); only addresses differ. Listening sockets
//! get `SO_REUSEADDR` (a restarted server can rebind while old connections
//! sit in `TIME_WAIT`), and IPv6 sockets get `IPV6_V6ONLY`, so `tcp:[::]:P`
//! means IPv6 only and can coexist with `tcp:0.0.0.0:P`.
//!
//! [`StreamSocket`]: super::StreamSocket
//! [`DatagramSocket`]: super::DatagramSocket

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::BorrowedFd;

use super::Addr;
use crate::{Error, Result};

/// Sets the options every inet socket kipc binds gets: `IPV6_V6ONLY` on IPv6,
/// and `SO_REUSEADDR` when `listener`.
pub(crate) fn prepare(fd: BorrowedFd<'_>, addr: &Addr, listener: bool) -> Result<()> {
    if let Addr::Tcp(a) | Addr::Udp(a) = addr {
        if a.is_ipv6() {
            rustix::net::sockopt::set_ipv6_v6only(fd, true)
                .map_err(|e| Error::sys("setsockopt(IPV6_V6ONLY)", addr, e))?;
        }
        if listener {
            rustix::net::sockopt::set_socket_reuseaddr(fd, true)
                .map_err(|e| Error::sys("setsockopt(SO_REUSEADDR)", addr, e))?;
        }
    }
    Ok(())
}

/// The wildcard address with port 0 in `peer`'s family, for a client socket
/// that must be bound before it can receive replies.
pub fn any_port_for(peer: &SocketAddr) -> SocketAddr {
    if peer.is_ipv4() {
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0)
    } else {
        SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0)
    }
}
