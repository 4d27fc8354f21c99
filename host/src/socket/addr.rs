//! [`Addr`]: one address type for every kind of kipc socket, parsed from
//! `unix:PATH`, `unix-abstract:NAME`, `tcp:HOST:PORT` or `udp:HOST:PORT`.

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::net::{AddressFamily, SocketAddrAny, SocketAddrUnix};

use super::SocketKind;
use crate::{Error, Result};

/// Longest `sun_path` (including the abstract namespace's leading NUL).
pub const UNIX_PATH_MAX: usize = 108;

/// A socket address: a Unix socket file, a Linux abstract name, or an inet
/// address with its transport.
///
/// Parsed from and printed as `unix:PATH`, `unix-abstract:NAME`,
/// `tcp:HOST:PORT` or `udp:HOST:PORT`, where HOST is an IPv4 literal, an IPv6
/// literal in brackets (`tcp:[::1]:80`) or `localhost` (IPv4 loopback).
///
/// # Examples
///
/// ```
/// use kipc_host::socket::Addr;
/// let a: Addr = "tcp:[::1]:8080".parse()?;
/// assert_eq!(a, Addr::Tcp("[::1]:8080".parse().unwrap()));
/// assert_eq!(a.to_string(), "tcp:[::1]:8080");
/// let u: Addr = "unix-abstract:kipc-demo".parse()?;
/// assert_eq!(u, Addr::UnixAbstract(b"kipc-demo".to_vec()));
/// assert!("tcp:127.0.0.1".parse::<Addr>().is_err());
/// # Ok::<(), kipc_host::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addr {
    /// A socket file in the filesystem.
    Unix(PathBuf),
    /// A name in Linux's abstract namespace (no file; gone with the socket).
    UnixAbstract(Vec<u8>),
    /// A TCP address (stream sockets).
    Tcp(SocketAddr),
    /// A UDP address (datagram sockets).
    Udp(SocketAddr),
}

impl Addr {
    /// The socket type this address implies when none is given: `Stream` for
    /// `unix:`, `unix-abstract:` and `tcp:`, `Datagram` for `udp:`.
    pub fn default_kind(&self) -> SocketKind {
        match self {
            Addr::Udp(_) => SocketKind::Datagram,
            _ => SocketKind::Stream,
        }
    }

    /// Whether `kind` sockets can use this address (Unix: all three; `tcp:`
    /// streams only; `udp:` datagrams only).
    ///
    /// # Errors
    ///
    /// [`Error::WrongKind`] if they cannot.
    pub fn check_kind(&self, kind: SocketKind) -> Result<()> {
        let ok = match self {
            Addr::Unix(_) | Addr::UnixAbstract(_) => true,
            Addr::Tcp(_) => kind == SocketKind::Stream,
            Addr::Udp(_) => kind == SocketKind::Datagram,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::WrongKind {
                addr: self.to_string(),
                kind,
            })
        }
    }

    /// Whether this is a Unix-domain address.
    pub fn is_unix(&self) -> bool {
        matches!(self, Addr::Unix(_) | Addr::UnixAbstract(_))
    }

    /// The address family (`AF_UNIX`, `AF_INET` or `AF_INET6`).
    pub fn family(&self) -> AddressFamily {
        match self {
            Addr::Unix(_) | Addr::UnixAbstract(_) => AddressFamily::UNIX,
            Addr::Tcp(a) | Addr::Udp(a) => {
                if a.is_ipv4() {
                    AddressFamily::INET
                } else {
                    AddressFamily::INET6
                }
            }
        }
    }

    /// The kernel form of this address.
    pub(crate) fn to_raw(&self) -> Result<RawAddr> {
        match self {
            Addr::Unix(p) => SocketAddrUnix::new(p.as_path())
                .map(RawAddr::Unix)
                .map_err(|_| Error::BadAddr {
                    input: self.to_string(),
                    reason: "path is too long for a Unix socket or contains a NUL",
                }),
            Addr::UnixAbstract(n) => SocketAddrUnix::new_abstract_name(n)
                .map(RawAddr::Unix)
                .map_err(|_| Error::BadAddr {
                    input: self.to_string(),
                    reason: "abstract name is too long",
                }),
            Addr::Tcp(a) | Addr::Udp(a) => Ok(RawAddr::Inet(*a)),
        }
    }

    /// The [`Addr`] for a kernel address of a `kind` socket, or `None` for
    /// an unnamed Unix socket or an unknown family.
    pub(crate) fn from_any(any: &SocketAddrAny, kind: SocketKind) -> Option<Addr> {
        match any.address_family() {
            AddressFamily::UNIX => {
                let u = SocketAddrUnix::try_from(any.clone()).ok()?;
                if let Some(name) = u.abstract_name() {
                    Some(Addr::UnixAbstract(name.to_vec()))
                } else {
                    u.path_bytes()
                        .map(|p| Addr::Unix(PathBuf::from(std::ffi::OsStr::from_bytes(p))))
                }
            }
            AddressFamily::INET | AddressFamily::INET6 => {
                let a = SocketAddr::try_from(any.clone()).ok()?;
                Some(if kind == SocketKind::Datagram {
                    Addr::Udp(a)
                } else {
                    Addr::Tcp(a)
                })
            }
            _ => None,
        }
    }
}

/// The kernel form of an [`Addr`].
#[derive(Debug, Clone)]
pub(crate) enum RawAddr {
    Unix(SocketAddrUnix),
    Inet(SocketAddr),
}

fn bad(input: &str, reason: &'static str) -> Error {
    Error::BadAddr {
        input: input.to_string(),
        reason,
    }
}

fn parse_inet(input: &str, rest: &str) -> Result<SocketAddr> {
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad(input, "expected HOST:PORT"))?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(input, "port must be a number 0-65535"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| bad(input, "port must be a number 0-65535"))?;
    let ip = if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| bad(input, "IPv6 host lacks its closing ']'"))?;
        IpAddr::V6(
            inner
                .parse::<Ipv6Addr>()
                .map_err(|_| bad(input, "not an IPv6 address"))?,
        )
    } else if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else if host.contains(':') {
        return Err(bad(input, "write IPv6 hosts in brackets: tcp:[::1]:PORT"));
    } else if host.is_empty() {
        return Err(bad(input, "host is empty"));
    } else {
        IpAddr::V4(
            host.parse::<Ipv4Addr>()
                .map_err(|_| bad(input, "host must be an IP address or localhost"))?,
        )
    };
    Ok(SocketAddr::new(ip, port))
}

impl FromStr for Addr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| bad(s, "expected unix:, unix-abstract:, tcp: or udp:"))?;
        match scheme {
            "unix" => {
                if rest.is_empty() {
                    return Err(bad(s, "path is empty"));
                }
                if rest.contains('\0') {
                    return Err(bad(s, "path contains a NUL byte"));
                }
                if rest.len() >= UNIX_PATH_MAX {
                    return Err(bad(s, "path is longer than 107 bytes"));
                }
                Ok(Addr::Unix(PathBuf::from(rest)))
            }
            "unix-abstract" => {
                if rest.is_empty() {
                    return Err(bad(s, "abstract name is empty"));
                }
                if rest.len() >= UNIX_PATH_MAX {
                    return Err(bad(s, "abstract name is longer than 107 bytes"));
                }
                Ok(Addr::UnixAbstract(rest.as_bytes().to_vec()))
            }
            "tcp" => parse_inet(s, rest).map(Addr::Tcp),
            "udp" => parse_inet(s, rest).map(Addr::Udp),
            _ => Err(bad(
                s,
                "unknown scheme: use unix:, unix-abstract:, tcp: or udp:",
            )),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Unix(p) => write!(f, "unix:{}", p.display()),
            Addr::UnixAbstract(n) => write!(f, "unix-abstract:{}", String::from_utf8_lossy(n)),
            Addr::Tcp(a) => write!(f, "tcp:{a}"),
            Addr::Udp(a) => write!(f, "udp:{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> &'static str {
        match s.parse::<Addr>() {
            Err(Error::BadAddr { reason, .. }) => reason,
            other => panic!("{s}: expected BadAddr, got {other:?}"),
        }
    }

    #[test]
    fn every_scheme_parses_and_round_trips() {
        for s in [
            "unix:/tmp/x.sock",
            "unix:rel/path",
            "unix-abstract:kipc name",
            "tcp:127.0.0.1:80",
            "tcp:[::1]:65535",
            "udp:0.0.0.0:0",
            "udp:[fe80::1]:9",
        ] {
            let a: Addr = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        assert_eq!(
            "tcp:localhost:7".parse::<Addr>().unwrap(),
            Addr::Tcp("127.0.0.1:7".parse().unwrap())
        );
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        assert!(reason("nonsense").contains("expected"));
        assert!(reason("http:x").contains("unknown scheme"));
        assert!(reason("unix:").contains("empty"));
        assert!(reason(&format!("unix:{}", "a".repeat(200))).contains("longer"));
        assert!(reason("unix-abstract:").contains("empty"));
        assert!(reason("tcp:127.0.0.1").contains("HOST:PORT"));
        assert!(reason("tcp:127.0.0.1:99999").contains("port"));
        assert!(reason("tcp:127.0.0.1:-1").contains("port"));
        assert!(reason("tcp::::1:80").contains("brackets"));
        assert!(reason("tcp:[::1:80").contains("']'"));
        assert!(reason("tcp:[zz]:80").contains("IPv6"));
        assert!(reason("udp:example.com:80").contains("IP address"));
        assert!(reason("udp::80").contains("empty"));
    }

    #[test]
    fn kinds_fit_their_transports() {
        let tcp: Addr = "tcp:127.0.0.1:1".parse().unwrap();
        let udp: Addr = "udp:127.0.0.1:1".parse().unwrap();
        let unix: Addr = "unix:/x".parse().unwrap();
        assert!(tcp.check_kind(SocketKind::Stream).is_ok());
        assert!(tcp.check_kind(SocketKind::Datagram).is_err());
        assert!(tcp.check_kind(SocketKind::Seqpacket).is_err());
        assert!(udp.check_kind(SocketKind::Datagram).is_ok());
        assert!(udp.check_kind(SocketKind::Stream).is_err());
        for k in [
            SocketKind::Stream,
            SocketKind::Datagram,
            SocketKind::Seqpacket,
        ] {
            assert!(unix.check_kind(k).is_ok());
        }
        assert_eq!(udp.default_kind(), SocketKind::Datagram);
        assert_eq!(unix.default_kind(), SocketKind::Stream);
    }
}
