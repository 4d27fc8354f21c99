//! Sockets between real processes: a memfd ring handed to a child process
//! over a Unix socket, descriptors passed to and from Python's
//! `socket.send_fds`/`recv_fds`, and a Python peer that closes mid-frame.
//!
//! Python cases print a note and pass when python3 is missing (CI installs
//! it, see .ci/run). Every wait is bounded.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kipc_host::ring::{RingConfig, ShmRing};
use kipc_host::socket::{
    recv_with_fds_timeout, send_ring, send_with_fds, Addr, FramedStream, Server, ServerOptions,
    SocketKind,
};
use kipc_host::Error;

const PEER: &str = env!("CARGO_BIN_EXE_kipc-sock-peer");
const WAIT: Duration = Duration::from_secs(20);

fn sock_path(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("kipc-it-{tag}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// A child killed (by its own handle) if still running on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn wait_ok(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(e) = self.0.stderr.as_mut() {
                    let _ = e.read_to_string(&mut err);
                }
                assert!(status.success(), "peer failed: {status}: {err}");
                return;
            }
            assert!(Instant::now() < deadline, "peer did not finish in time");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn python(script: &str) -> Option<Proc> {
    let ok = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("note: python3 not found; skipping (CI installs it)");
        return None;
    }
    Some(Proc(
        Command::new("python3")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ))
}

#[test]
fn memfd_ring_handed_to_a_child_process_carries_messages() {
    let path = sock_path("ring");
    let addr = Addr::Unix(path.clone());
    let server = Server::bind(&addr, SocketKind::Stream, ServerOptions::default()).unwrap();
    let mut child = Proc(
        Command::new(PEER)
            .args(["ring", path.to_str().unwrap(), "1000"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let conn = server.accept_timeout(WAIT).unwrap();
    assert_eq!(conn.peer_credentials().unwrap().pid, child.0.id() as i32);
    let ring = ShmRing::create_anonymous(RingConfig::spsc(16, 8)).unwrap();
    send_ring(&conn, &ring).unwrap();
    let mut tx = ring.sender().unwrap();
    for i in 0..1000u64 {
        tx.send_timeout(&i.to_le_bytes(), WAIT).unwrap();
    }
    let reply = FramedStream::new(&conn).recv_frame().unwrap().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&reply),
        format!("ok 1000 {}", 999 * 1000 / 2)
    );
    child.wait_ok();
    drop(server);
    assert!(!path.exists());
}

#[test]
fn python_sends_a_descriptor_to_kipc() {
    let path = sock_path("py-to-kipc");
    let addr = Addr::Unix(path.clone());
    let server = Server::bind(&addr, SocketKind::Stream, ServerOptions::default()).unwrap();
    // Python sends one end of a socketpair, then reads what kipc writes to it.
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_UNIX); s.connect({:?})\n\
         a, b = socket.socketpair()\n\
         socket.send_fds(s, [b'fd'], [b.fileno()]); b.close()\n\
         a.settimeout(20); print(a.recv(100).decode())\n",
        path.to_str().unwrap()
    );
    let Some(mut py) = python(&script) else {
        return;
    };
    let conn = server.accept_timeout(WAIT).unwrap();
    let mut buf = [0u8; 8];
    let (n, mut fds) = recv_with_fds_timeout(&conn, &mut buf, 4, WAIT).unwrap();
    assert_eq!((&buf[..n], fds.len()), (&b"fd"[..], 1));
    let mut theirs = UnixStream::from(fds.pop().unwrap());
    theirs.write_all(b"written by kipc").unwrap();
    drop(theirs);
    py.wait_ok();
    let mut out = String::new();
    py.0.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "written by kipc\n");
}

#[test]
fn kipc_sends_descriptors_to_python() {
    let path = sock_path("kipc-to-py");
    let addr = Addr::Unix(path.clone());
    let server = Server::bind(&addr, SocketKind::Seqpacket, ServerOptions::default()).unwrap();
    let script = format!(
        "import socket, os\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect({:?}); s.settimeout(20)\n\
         msg, fds, flags, addr = socket.recv_fds(s, 100, 10)\n\
         assert msg == b'two fds', msg\n\
         for i, fd in enumerate(fds):\n    os.write(fd, b'python %d;' % i); os.close(fd)\n\
         print(len(fds))\n",
        path.to_str().unwrap()
    );
    let Some(mut py) = python(&script) else {
        return;
    };
    let conn = server.accept_timeout(WAIT).unwrap();
    let (mut r1, w1) = UnixStream::pair().unwrap();
    let (mut r2, w2) = UnixStream::pair().unwrap();
    send_with_fds(&conn, b"two fds", &[w1.as_fd(), w2.as_fd()]).unwrap();
    drop((w1, w2));
    py.wait_ok();
    let (mut s1, mut s2) = (String::new(), String::new());
    r1.set_read_timeout(Some(WAIT)).unwrap();
    r2.set_read_timeout(Some(WAIT)).unwrap();
    r1.read_to_string(&mut s1).unwrap();
    r2.read_to_string(&mut s2).unwrap();
    assert_eq!((s1.as_str(), s2.as_str()), ("python 0;", "python 1;"));
}

#[test]
fn python_peer_closing_mid_frame_is_a_truncated_error() {
    let path = sock_path("py-midframe");
    let addr = Addr::Unix(path.clone());
    let server = Server::bind(&addr, SocketKind::Stream, ServerOptions::default()).unwrap();
    let script = format!(
        "import socket, struct\n\
         s = socket.socket(socket.AF_UNIX); s.connect({:?})\n\
         s.sendall(struct.pack('<I', 5) + b'whole')\n\
         s.sendall(struct.pack('<I', 100) + b'abc')\n\
         s.close()\n",
        path.to_str().unwrap()
    );
    let Some(mut py) = python(&script) else {
        return;
    };
    let conn = server.accept_timeout(WAIT).unwrap();
    let mut framed = FramedStream::new(&conn);
    assert_eq!(framed.recv_frame().unwrap().unwrap(), b"whole");
    assert_eq!(
        framed.recv_frame(),
        Err(Error::FrameTruncated {
            expected: 104,
            got: 7
        })
    );
    assert_eq!(framed.recv_frame(), Err(Error::Poisoned));
    py.wait_ok();
}
