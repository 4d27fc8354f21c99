//! Unit tests of the socket module that span its submodules.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use rustix::io::Errno;

use super::*;

/// A descriptor of a uniquely named memfd, so a test can count how many
/// descriptors in the process refer to it. Counting all of /proc/self/fd
/// would race with the tests running on other threads.
struct Marker {
    fd: OwnedFd,
    target: std::path::PathBuf,
}

impl Marker {
    fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("kipc-fd-marker-{}-{n}", std::process::id());
        let fd = rustix::fs::memfd_create(name.as_str(), rustix::fs::MemfdFlags::CLOEXEC)
            .expect("memfd_create");
        let target = link_of(fd.as_fd()).expect("readlink of our own fd");
        Self { fd, target }
    }

    /// Descriptors in this process that refer to the marker's file.
    fn copies(&self) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|t| *t == self.target)
            .count()
    }
}

fn link_of(fd: BorrowedFd<'_>) -> Option<std::path::PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
}

fn is_cloexec(fd: BorrowedFd<'_>) -> bool {
    rustix::io::fcntl_getfd(fd)
        .map(|f| f.contains(rustix::io::FdFlags::CLOEXEC))
        .unwrap_or(false)
}

fn tmp_sock(tag: &str) -> Addr {
    let p = std::env::temp_dir().join(format!("kipc-sock-{tag}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    Addr::Unix(p)
}

#[test]
fn received_descriptors_are_cloexec_and_refer_to_the_same_file() {
    let (a, b) = StreamSocket::pair().unwrap();
    let (r, w) = rustix::pipe::pipe().unwrap();
    send_with_fds(&a, b"p", &[r.as_fd(), w.as_fd()]).unwrap();
    let mut buf = [0u8; 8];
    let (n, fds) = recv_with_fds(&b, &mut buf, 2).unwrap();
    assert_eq!((n, fds.len()), (1, 2));
    assert!(fds.iter().all(|f| is_cloexec(f.as_fd())));
    rustix::io::write(&fds[1], b"z").unwrap();
    let mut one = [0u8; 1];
    rustix::io::read(&r, &mut one).unwrap();
    assert_eq!(&one, b"z");
}

#[test]
fn a_thousand_descriptors_passed_in_a_loop_leak_none() {
    let (a, b) = SeqpacketSocket::pair().unwrap();
    let marker = Marker::new();
    let file = &marker.fd;
    assert_eq!(marker.copies(), 1);
    let mut buf = [0u8; 4];
    for i in 0..1000u32 {
        send_with_fds(&a, &i.to_le_bytes(), &[file.as_fd()]).unwrap();
        let (n, fds) = recv_with_fds(&b, &mut buf, 1).unwrap();
        assert_eq!((n, fds.len()), (4, 1));
        assert_eq!(u32::from_le_bytes(buf), i);
        assert_eq!(marker.copies(), 2, "the received copy is open while held");
    }
    assert_eq!(marker.copies(), 1, "a received descriptor leaked");
    // And in batches of many at once.
    let many: Vec<_> = (0..SCM_MAX_FD).map(|_| file.as_fd()).collect();
    for _ in 0..4 {
        send_with_fds(&a, b"m", &many).unwrap();
        let (_, fds) = recv_with_fds(&b, &mut buf, SCM_MAX_FD).unwrap();
        assert_eq!(fds.len(), SCM_MAX_FD);
    }
    assert_eq!(marker.copies(), 1, "a descriptor of a batch leaked");
}

#[test]
fn truncated_control_data_is_an_error_and_closes_what_arrived() {
    let (a, b) = SeqpacketSocket::pair().unwrap();
    let marker = Marker::new();
    let fds: Vec<_> = (0..10).map(|_| marker.fd.as_fd()).collect();
    for max in [0, 1, 2, 5, 9] {
        send_with_fds(&a, b"t", &fds).unwrap();
        let mut buf = [0u8; 4];
        match recv_with_fds(&b, &mut buf, max) {
            Err(Error::ControlTruncated { max: m, .. }) => assert_eq!(m, max),
            other => panic!("max {max}: expected ControlTruncated, got {other:?}"),
        }
        assert_eq!(marker.copies(), 1, "max {max}: a descriptor leaked");
    }
}

#[test]
fn too_many_descriptors_are_refused_before_sending() {
    let (a, _b) = StreamSocket::pair().unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    let fds: Vec<_> = (0..SCM_MAX_FD + 1).map(|_| file.as_fd()).collect();
    assert_eq!(
        send_with_fds(&a, b"x", &fds),
        Err(Error::TooManyFds {
            count: SCM_MAX_FD + 1,
            max: SCM_MAX_FD
        })
    );
    assert_eq!(
        send_with_fds(&a, b"", &fds[..1]).unwrap_err().errno(),
        Some(Errno::INVAL)
    );
}

#[test]
fn datagram_with_descriptors_that_does_not_fit_closes_them() {
    let (a, b) = DatagramSocket::pair().unwrap();
    let marker = Marker::new();
    send_with_fds(&a, &[7u8; 100], &[marker.fd.as_fd()]).unwrap();
    let mut buf = [0u8; 10];
    assert!(matches!(
        recv_with_fds(&b, &mut buf, 1),
        Err(Error::MessageTruncated { capacity: 10, .. })
    ));
    assert_eq!(marker.copies(), 1, "the descriptor that came along leaked");
}

#[test]
fn peer_credentials_are_our_own_over_a_socketpair_and_a_server() {
    let me = Cred {
        pid: std::process::id() as i32,
        uid: rustix::process::getuid().as_raw(),
        gid: rustix::process::getgid().as_raw(),
    };
    let (a, b) = StreamSocket::pair().unwrap();
    assert_eq!(a.peer_credentials().unwrap(), me);
    assert_eq!(peer_credentials(&b).unwrap(), me);
    let addr = Addr::UnixAbstract(format!("kipc-cred-{}", std::process::id()).into_bytes());
    let server = Server::bind(&addr, SocketKind::Seqpacket, ServerOptions::default()).unwrap();
    let client = SeqpacketSocket::connect(&addr).unwrap();
    let conn = server.accept_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(conn.peer_credentials(), Some(me));
    assert_eq!(client.peer_credentials().unwrap(), me);
}

#[test]
fn credentials_of_inet_or_unconnected_sockets_are_an_error_not_garbage() {
    let udp = DatagramSocket::bind(&"udp:127.0.0.1:0".parse().unwrap()).unwrap();
    assert_eq!(
        peer_credentials(&udp).unwrap_err().errno(),
        Some(Errno::OPNOTSUPP)
    );
    let unix = DatagramSocket::bind(&tmp_sock("unconnected")).unwrap();
    assert!(peer_credentials(&unix).is_err());
}

#[test]
fn datagram_credentials_arrive_with_passcred() {
    let (a, b) = DatagramSocket::pair().unwrap();
    let mut buf = [0u8; 16];
    a.send(b"before").unwrap();
    set_pass_credentials(&b, true).unwrap();
    a.send(b"after").unwrap();
    let (n, _) = recv_with_creds(&b, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"before");
    let (n, cred) = recv_with_creds(&b, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"after");
    let cred = cred.unwrap();
    assert_eq!(cred.pid, std::process::id() as i32);
    assert_eq!(cred.uid, rustix::process::getuid().as_raw());
    a.send(&[1u8; 64]).unwrap();
    assert!(matches!(
        recv_with_creds(&b, &mut buf),
        Err(Error::MessageTruncated {
            len: 64,
            capacity: 16
        })
    ));
}

#[test]
fn datagram_larger_than_the_buffer_is_a_truncation_error() {
    for addr in [tmp_sock("trunc"), "udp:127.0.0.1:0".parse().unwrap()] {
        let server = DatagramSocket::bind(&addr).unwrap();
        let client = DatagramSocket::connect(&server.local_addr().unwrap().unwrap()).unwrap();
        client.send(&[9u8; 3000]).unwrap();
        let mut small = [0u8; 100];
        assert_eq!(
            server.recv_timeout(&mut small, Duration::from_secs(5)),
            Err(Error::MessageTruncated {
                len: 3000,
                capacity: 100
            })
        );
        assert!(small.iter().all(|&b| b == 9));
        // The socket is still fine afterwards.
        client.send(b"ok").unwrap();
        assert_eq!(
            server
                .recv_timeout(&mut small, Duration::from_secs(5))
                .unwrap(),
            2
        );
    }
}

#[test]
fn datagram_larger_than_the_socket_receive_buffer_arrives_whole_or_not_at_all() {
    let server = DatagramSocket::bind(&"udp:127.0.0.1:0".parse().unwrap()).unwrap();
    server.set_recv_buffer_size(1024).unwrap();
    let client = DatagramSocket::connect(&server.local_addr().unwrap().unwrap()).unwrap();
    // Larger than the receiver's SO_RCVBUF: the kernel either queues it
    // whole (it admits one datagram into an empty queue) or drops it; a
    // receiver never sees a partial datagram.
    client.send(&vec![1u8; 60_000]).unwrap();
    client.send(b"small").unwrap();
    let mut buf = vec![0u8; 65_536];
    let n = server
        .recv_timeout(&mut buf, Duration::from_secs(5))
        .unwrap();
    assert!(n == 60_000 || n == 5, "partial datagram of {n} bytes");
    if n == 60_000 {
        assert!(buf[..n].iter().all(|&b| b == 1));
    }
    // Over the 64 KiB UDP limit: the sender gets EMSGSIZE.
    assert_eq!(
        client.send(&vec![0u8; 70_000]).unwrap_err().errno(),
        Some(Errno::MSGSIZE)
    );
}

#[test]
fn message_calls_have_try_and_timeout_forms() {
    let (a, b) = SeqpacketSocket::pair().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        b.try_recv(&mut buf).unwrap_err().errno(),
        Some(Errno::AGAIN)
    );
    assert_eq!(
        b.recv_timeout(&mut buf, Duration::from_millis(20)),
        Err(Error::Timeout)
    );
    a.try_send(b"x").unwrap();
    assert_eq!(b.recv_timeout(&mut buf, Duration::from_secs(1)).unwrap(), 1);
    assert!(a.send(b"").is_err());
    drop(a);
    assert_eq!(b.recv(&mut buf).unwrap(), 0);
}

#[test]
fn server_flooded_beyond_its_limit_keeps_serving_the_accepted() {
    let addr = tmp_sock("flood");
    let options = ServerOptions {
        max_connections: 2,
        ..ServerOptions::default()
    };
    let server = Server::bind(&addr, SocketKind::Stream, options).unwrap();
    let mut first = StreamSocket::connect(&addr).unwrap();
    let mut second = StreamSocket::connect(&addr).unwrap();
    let c1 = server.accept_timeout(Duration::from_secs(5)).unwrap();
    let c2 = server.accept_timeout(Duration::from_secs(5)).unwrap();
    let mut flood: Vec<StreamSocket> = (0..20)
        .map(|_| StreamSocket::connect_timeout(&addr, Duration::from_secs(5)).unwrap())
        .collect();
    // Nothing more is admitted; the flood is accepted and closed.
    assert_eq!(
        server
            .accept_timeout(Duration::from_millis(100))
            .unwrap_err(),
        Error::Timeout
    );
    assert_eq!(server.live_connections(), 2);
    assert_eq!(server.rejected(), 20);
    for f in &mut flood {
        f.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        assert_eq!(
            f.read(&mut b).unwrap(),
            0,
            "rejected client should read EOF"
        );
    }
    // The two accepted connections still echo.
    for (client, conn) in [(&mut first, &c1), (&mut second, &c2)] {
        for round in 0..3u8 {
            client.write_all(&[round]).unwrap();
            let mut b = [0u8; 1];
            (&*conn).read_exact(&mut b).unwrap();
            (&*conn).write_all(&b).unwrap();
            client.read_exact(&mut b).unwrap();
            assert_eq!(b[0], round);
        }
    }
    // Dropping one frees its place.
    drop(c1);
    let _again = StreamSocket::connect(&addr).unwrap();
    let _c3 = server.accept_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(server.live_connections(), 2);
    drop(server);
    if let Addr::Unix(p) = &addr {
        assert!(!p.exists(), "socket file left behind");
    }
}

#[test]
fn server_allow_list_closes_other_uids() {
    let me = rustix::process::getuid().as_raw();
    let addr = Addr::UnixAbstract(format!("kipc-uids-{}", std::process::id()).into_bytes());
    let deny = ServerOptions {
        allowed_uids: Some(vec![me.wrapping_add(1)]),
        ..ServerOptions::default()
    };
    let server = Server::bind(&addr, SocketKind::Stream, deny).unwrap();
    let mut c = StreamSocket::connect(&addr).unwrap();
    assert_eq!(
        server
            .accept_timeout(Duration::from_millis(100))
            .unwrap_err(),
        Error::Timeout
    );
    assert_eq!(server.rejected(), 1);
    let mut b = [0u8; 1];
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(c.read(&mut b).unwrap(), 0);
    drop(server);
    let allow = ServerOptions {
        allowed_uids: Some(vec![me]),
        ..ServerOptions::default()
    };
    let server = Server::bind(&addr, SocketKind::Stream, allow).unwrap();
    let _c = StreamSocket::connect(&addr).unwrap();
    server.accept_timeout(Duration::from_secs(5)).unwrap();
    // Not possible for TCP.
    let tcp_allow = ServerOptions {
        allowed_uids: Some(vec![me]),
        ..ServerOptions::default()
    };
    assert!(Server::bind(
        &"tcp:127.0.0.1:0".parse().unwrap(),
        SocketKind::Stream,
        tcp_allow
    )
    .is_err());
}

#[test]
fn tcp_and_udp_work_over_ipv4_and_ipv6_loopback() {
    for host in ["127.0.0.1", "[::1]"] {
        let server = match Server::bind(
            &format!("tcp:{host}:0").parse().unwrap(),
            SocketKind::Stream,
            ServerOptions::default(),
        ) {
            Ok(s) => s,
            Err(e)
                if e.errno() == Some(Errno::ADDRNOTAVAIL)
                    || e.errno() == Some(Errno::AFNOSUPPORT) =>
            {
                eprintln!("skipping {host}: {e}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let mut client =
            StreamSocket::connect_timeout(server.local_addr(), Duration::from_secs(5)).unwrap();
        let conn = server.accept_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(conn.peer_credentials(), None);
        let mut framed = FramedStream::new(&conn);
        FramedStream::new(&mut client)
            .send_frame(b"over tcp")
            .unwrap();
        assert_eq!(framed.recv_frame().unwrap().unwrap(), b"over tcp");

        let udp = DatagramSocket::bind(&format!("udp:{host}:0").parse().unwrap()).unwrap();
        let client = DatagramSocket::connect(&udp.local_addr().unwrap().unwrap()).unwrap();
        client.send(b"over udp").unwrap();
        let mut buf = [0u8; 32];
        let (n, from) = udp
            .recv_from_timeout(&mut buf, Duration::from_secs(5))
            .unwrap();
        assert_eq!(&buf[..n], b"over udp");
        udp.send_to(b"reply", &from.unwrap()).unwrap();
        assert_eq!(
            client
                .recv_timeout(&mut buf, Duration::from_secs(5))
                .unwrap(),
            5
        );
    }
}

#[test]
fn unix_datagram_clients_are_autobound_so_servers_can_reply() {
    let addr = tmp_sock("dgram-reply");
    let server = DatagramSocket::bind(&addr).unwrap();
    let client = DatagramSocket::connect(&addr).unwrap();
    client.send(b"q").unwrap();
    let mut buf = [0u8; 4];
    let (_, from) = server.recv_from(&mut buf).unwrap();
    let from = from.unwrap();
    assert!(matches!(from, Addr::UnixAbstract(_)), "{from:?}");
    server.send_to(b"a", &from).unwrap();
    assert_eq!(
        client
            .recv_timeout(&mut buf, Duration::from_secs(5))
            .unwrap(),
        1
    );
}

#[test]
fn ring_handoff_over_a_socketpair() {
    use crate::ring::{RingConfig, ShmRing};
    let (a, b) = StreamSocket::pair().unwrap();
    let ring = ShmRing::create_anonymous(RingConfig::spsc(8, 32)).unwrap();
    send_ring(&a, &ring).unwrap();
    let theirs = recv_ring(&b).unwrap();
    ring.sender()
        .unwrap()
        .try_send(b"through the ring")
        .unwrap();
    let mut buf = [0u8; 32];
    let n = theirs.receiver().unwrap().try_recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"through the ring");
    // Something that is not a handoff is a protocol error, and a descriptor
    // that comes with it is closed.
    let marker = Marker::new();
    send_with_fds(&a, b"not a ring", &[marker.fd.as_fd()]).unwrap();
    assert!(matches!(recv_ring(&b), Err(Error::Protocol(_))));
    assert_eq!(marker.copies(), 1, "the descriptor that came along leaked");
    // A plain file is not a sealed memfd.
    let file = std::fs::File::open("/dev/null").unwrap();
    send_with_fds(&a, b"kipc-ring\x01", &[file.as_fd()]).unwrap();
    // The memfd check (`ShmRing::from_fd`) rejects it, not the socket layer.
    assert!(matches!(
        recv_ring(&b),
        Err(Error::Sys { .. } | Error::NotSealed { .. })
    ));
    let _ = file.as_raw_fd();
}

#[test]
fn kind_and_address_mismatches_are_refused() {
    let tcp: Addr = "tcp:127.0.0.1:1".parse().unwrap();
    assert!(matches!(
        DatagramSocket::bind(&tcp),
        Err(Error::WrongKind { .. })
    ));
    assert!(matches!(
        SeqpacketSocket::connect(&tcp),
        Err(Error::WrongKind { .. })
    ));
    assert!(matches!(
        Server::bind(
            &tmp_sock("k"),
            SocketKind::Datagram,
            ServerOptions::default()
        ),
        Err(Error::WrongKind { .. })
    ));
    assert_eq!("dgram".parse::<SocketKind>().unwrap(), SocketKind::Datagram);
    assert!("raw".parse::<SocketKind>().is_err());
}

#[test]
fn an_existing_socket_file_is_not_stolen_and_ours_is_removed() {
    let addr = tmp_sock("exists");
    let s = Server::bind(&addr, SocketKind::Stream, ServerOptions::default()).unwrap();
    let e = Server::bind(&addr, SocketKind::Stream, ServerOptions::default()).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ADDRINUSE));
    drop(s);
    let Addr::Unix(p) = &addr else { unreachable!() };
    assert!(!p.exists());
}
