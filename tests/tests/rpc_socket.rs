//! RPC over a Unix stream socket with real client and server processes
//! (`kipc-rpc-peer`): the tests of `tests/rpc.rs` over
//! [`kipc_host::rpc::socket`]. 8 concurrent clients and one killed mid-call
//! (the server keeps serving, every other call gets its own reply); a
//! server process killed under a waiting client; oversized requests;
//! malformed frames written raw to the socket; a full server.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kipc_host::rpc::frame::{status, Frame, FrameKind};
use kipc_host::rpc::socket::{SocketServer, SocketServerOptions};
use kipc_host::rpc::{Client, RpcError, Server};
use kipc_host::socket::{Addr, FramedStream, StreamSocket};
use kipc_tests::ChildGuard;

const PEER: &str = env!("CARGO_BIN_EXE_kipc-rpc-peer");
const T5: Duration = Duration::from_secs(5);

fn sock_path(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "test-rpc-sock-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Method 1 reverses, method 2 sleeps 300 ms and echoes.
fn handlers() -> Server {
    Server::for_sockets()
        .unwrap()
        .handle(1, |r: &[u8]| Ok(r.iter().rev().copied().collect()))
        .handle(2, |r: &[u8]| {
            std::thread::sleep(Duration::from_millis(300));
            Ok(r.to_vec())
        })
}

/// Sets the server's stop flag when dropped, so a failed assertion does not
/// leave `thread::scope` waiting for the serving thread forever.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Options with a 120 s deadline as a backstop against a hung test.
fn options() -> SocketServerOptions {
    SocketServerOptions {
        deadline: Some(Instant::now() + Duration::from_secs(120)),
        ..Default::default()
    }
}

/// Reads the first line of a peer's stdout.
fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_string()
}

/// End of file, or `ECONNRESET` (the server closed with our unread bytes
/// in its receive queue).
fn assert_closed(r: Result<Option<Vec<u8>>, kipc_host::Error>) {
    match r {
        Ok(None) => {}
        Err(e) if e.errno() == Some(rustix::io::Errno::CONNRESET) => {}
        other => panic!("expected the connection to be closed, got {other:?}"),
    }
}

#[test]
fn eight_clients_and_one_killed_mid_call_all_get_their_own_replies() {
    const CALLS: u32 = 500;
    let path = sock_path("8");
    let p = path.to_str().unwrap();
    let rpc = handlers();
    let listener = SocketServer::bind_unix(&path, options()).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let server = s.spawn(|| listener.serve_until(&rpc, &stop));
        let _guard = StopOnDrop(&stop);
        let start = Instant::now();
        // The victim: its call is in the slow handler when it is killed.
        let mut victim =
            ChildGuard::spawn(Command::new(PEER).args(["slow", p]).stdout(Stdio::piped())).unwrap();
        assert_eq!(first_line(&mut victim), "calling");
        let clients: Vec<_> = (0..8)
            .map(|id| {
                ChildGuard::spawn(
                    Command::new(PEER)
                        .args(["client", p, &id.to_string(), &CALLS.to_string()])
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped()),
                )
                .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        victim.kill().unwrap();
        victim.wait().unwrap();
        for c in clients {
            let out = c.into_inner().wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "client failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
        }
        let elapsed = start.elapsed();
        // The server still answers, in this process too.
        let mut me = Client::connect_unix(&path).unwrap();
        assert_eq!(me.call(1, b"abc", T5).unwrap(), b"cba");
        assert_eq!(me.call(77, b"", T5), Err(RpcError::MethodNotFound(77)));
        // The slow reply to the dead victim was dropped and its connection closed.
        let deadline = Instant::now() + T5;
        while listener.stats().dropped_replies < 1 || listener.live_connections() > 1 {
            assert!(
                Instant::now() < deadline,
                "victim's connection not cleaned up: {:?}",
                listener.stats()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let stats = server.join().unwrap().unwrap();
        assert_eq!(stats.answered, u64::from(8 * CALLS) + 2, "{stats:?}");
        assert_eq!(
            (stats.connections, stats.dropped_replies, stats.broken),
            (10, 1, 0),
            "{stats:?}"
        );
        eprintln!("8 x {CALLS} calls + 1 killed in {elapsed:?}; {stats:?}");
    });
    assert_eq!(listener.live_connections(), 0);
    drop(listener);
    assert!(!path.exists(), "socket file left behind");
}

#[test]
fn killed_server_process_gives_server_dead_promptly() {
    let path = sock_path("dead");
    let mut server = ChildGuard::spawn(
        Command::new(PEER)
            .args(["serve", path.to_str().unwrap()])
            .stdout(Stdio::piped()),
    )
    .unwrap();
    assert_eq!(first_line(&mut server), "ready");
    let mut waiting = Client::connect_unix(&path).unwrap();
    let mut idle = Client::connect_unix(&path).unwrap();
    assert_eq!(idle.call(1, b"ab", T5).unwrap(), b"ba");
    assert_eq!(idle.ping(T5).unwrap(), server.id());
    let pid = server.id();
    // Kill the server while `waiting` is in the 300 ms handler.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        server.kill().unwrap();
        server.wait().unwrap();
    });
    let start = Instant::now();
    assert_eq!(
        waiting.call(2, b"x", Duration::from_secs(30)),
        Err(RpcError::ServerDead)
    );
    let in_flight = start.elapsed();
    killer.join().unwrap();
    assert!(
        in_flight < Duration::from_secs(1),
        "in-flight call took {in_flight:?}"
    );
    // A connected client that was idle: the next call, at once.
    let start = Instant::now();
    assert_eq!(
        idle.call(1, b"y", Duration::from_secs(30)),
        Err(RpcError::ServerDead)
    );
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    // A new client: the socket file is left (SIGKILL) but nobody listens.
    assert!(matches!(
        Client::connect_unix(&path),
        Err(RpcError::ServerDead)
    ));
    let _ = std::fs::remove_file(&path);
    eprintln!("server {pid} killed: in-flight call saw ServerDead after {in_flight:?}");
}

#[test]
fn oversized_requests_are_refused_and_the_server_keeps_serving() {
    let path = sock_path("big");
    let rpc = handlers();
    let opts = SocketServerOptions {
        max_request: 1024,
        ..options()
    };
    let listener = SocketServer::bind_unix(&path, opts).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let server = s.spawn(|| listener.serve_until(&rpc, &stop));
        let _guard = StopOnDrop(&stop);
        let mut c = Client::connect_unix(&path).unwrap();
        // Refused by the client (the greeting announced the limit): nothing sent.
        let big = vec![7u8; 1024];
        assert_eq!(
            c.call(1, &big, T5),
            Err(RpcError::RequestTooLarge {
                len: 1024 + 24,
                max: 1024
            })
        );
        assert_eq!(c.call(1, &big[..1000], T5).unwrap(), vec![7u8; 1000]);
        // A client that ignores the limit: an error frame, then the connection closes.
        let raw = StreamSocket::connect(&Addr::Unix(path.clone())).unwrap();
        let mut f = FramedStream::new(&raw);
        f.recv_frame().unwrap().unwrap(); // greeting
        let mut req = Vec::new();
        Frame::request(1, 9, b"", &vec![1u8; 5000])
            .encode(&mut req)
            .unwrap();
        f.send_frame(&req).unwrap();
        let r = f.recv_frame().unwrap().unwrap();
        let r = Frame::decode(&r).unwrap();
        assert_eq!(
            (r.kind, r.status),
            (FrameKind::Error, status::REQUEST_TOO_LARGE)
        );
        assert_closed(f.recv_frame());
        // The well-behaved client is unaffected.
        assert_eq!(c.call(1, b"still", T5).unwrap(), b"llits");
        stop.store(true, Ordering::Relaxed);
        let stats = server.join().unwrap().unwrap();
        assert_eq!((stats.too_large, stats.answered), (1, 2), "{stats:?}");
    });
}

#[test]
fn malformed_frames_written_raw_get_error_replies_or_a_closed_connection() {
    let path = sock_path("garbage");
    let rpc = handlers();
    let listener = SocketServer::bind_unix(&path, options()).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let server = s.spawn(|| listener.serve_until(&rpc, &stop));
        let _guard = StopOnDrop(&stop);
        let addr = Addr::Unix(path.clone());
        let raw = StreamSocket::connect(&addr).unwrap();
        let mut f = FramedStream::new(&raw);
        f.recv_frame().unwrap().unwrap(); // greeting
        let mut bad_version = Vec::new();
        Frame::request(1, 3, b"", b"v")
            .encode(&mut bad_version)
            .unwrap();
        bad_version[2] = 99;
        let mut response_kind = Vec::new();
        Frame::response(1, 4, b"r")
            .encode(&mut response_kind)
            .unwrap();
        let mut short_len = Vec::new();
        Frame::request(1, 5, b"", b"abc")
            .encode(&mut short_len)
            .unwrap();
        short_len.pop();
        for (garbage, corr) in [
            (&b""[..], 0),
            (&b"not a frame at all"[..], 0),
            (&[0xffu8; 64][..], 0),
            (&bad_version[..], 3),
            (&response_kind[..], 4),
            (&short_len[..], 5),
        ] {
            f.send_frame(garbage).unwrap();
            let r = f.recv_frame().unwrap().unwrap();
            let r = Frame::decode(&r).unwrap();
            assert_eq!(
                (r.kind, r.status, r.correlation),
                (FrameKind::Error, status::MALFORMED, corr),
                "{garbage:?}"
            );
        }
        // The same connection still serves a real request.
        let mut req = Vec::new();
        Frame::request(1, 6, b"", b"ok").encode(&mut req).unwrap();
        f.send_frame(&req).unwrap();
        assert_eq!(
            Frame::decode(&f.recv_frame().unwrap().unwrap()).unwrap(),
            Frame::response(1, 6, b"ko")
        );
        // A frame cut off by the peer closing: that connection is closed.
        let raw2 = StreamSocket::connect(&addr).unwrap();
        FramedStream::new(&raw2).recv_frame().unwrap().unwrap();
        (&raw2).write_all(&100u32.to_le_bytes()).unwrap();
        (&raw2).write_all(b"kR\x01").unwrap();
        drop(raw2);
        // A hostile length prefix: an error frame, then end of file.
        let raw3 = StreamSocket::connect(&addr).unwrap();
        let mut f3 = FramedStream::new(&raw3);
        f3.recv_frame().unwrap().unwrap();
        (&raw3).write_all(&u32::MAX.to_le_bytes()).unwrap();
        let r = Frame::decode(&f3.recv_frame().unwrap().unwrap())
            .unwrap()
            .status;
        assert_eq!(r, status::REQUEST_TOO_LARGE);
        assert_closed(f3.recv_frame());
        // The server is alive and serves a real client.
        let mut c = Client::connect_unix(&path).unwrap();
        assert_eq!(c.call(1, b"fine", T5).unwrap(), b"enif");
        let deadline = Instant::now() + T5;
        while listener.stats().broken < 1 {
            assert!(Instant::now() < deadline, "{:?}", listener.stats());
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        let stats = server.join().unwrap().unwrap();
        assert_eq!(
            (
                stats.malformed,
                stats.too_large,
                stats.broken,
                stats.answered
            ),
            (6, 1, 1, 8),
            "{stats:?}"
        );
    });
}

#[test]
fn a_full_server_refuses_at_connect_and_keeps_serving_its_connections() {
    let path = sock_path("full");
    let rpc = handlers();
    let opts = SocketServerOptions {
        max_connections: 1,
        ..options()
    };
    let listener = SocketServer::bind_unix(&path, opts).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let server = s.spawn(|| listener.serve_until(&rpc, &stop));
        let _guard = StopOnDrop(&stop);
        let mut first = Client::connect_unix(&path).unwrap();
        let start = Instant::now();
        let second = Client::connect_unix(&path);
        assert!(
            matches!(&second, Err(RpcError::Transport(e)) if e.errno() == Some(rustix::io::Errno::CONNREFUSED)),
            "{second:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(first.call(1, b"12", T5).unwrap(), b"21");
        drop(first);
        // Its place is free again.
        let deadline = Instant::now() + T5;
        while listener.live_connections() > 0 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut third = Client::connect_unix(&path).unwrap();
        assert_eq!(third.call(1, b"34", T5).unwrap(), b"43");
        stop.store(true, Ordering::Relaxed);
        let stats = server.join().unwrap().unwrap();
        assert_eq!((stats.connections, stats.rejected), (2, 1), "{stats:?}");
    });
}

#[test]
fn server_stops_after_max_requests() {
    let path = sock_path("count");
    let rpc = handlers();
    let opts = SocketServerOptions {
        max_requests: Some(3),
        ..options()
    };
    let listener = SocketServer::bind_unix(&path, opts).unwrap();
    std::thread::scope(|s| {
        let server = s.spawn(|| listener.serve(&rpc));
        let mut c = Client::connect_unix(&path).unwrap();
        for _ in 0..3 {
            assert_eq!(c.call(1, b"n", T5).unwrap(), b"n");
        }
        let stats = server.join().unwrap().unwrap();
        assert_eq!(stats.answered, 3);
        assert_eq!(c.call(1, b"n", T5), Err(RpcError::ServerDead));
    });
}
