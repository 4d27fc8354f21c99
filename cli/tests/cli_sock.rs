//! `kipc sock serve|send` against peers kipc did not write: socat and
//! Python's `socket` module, over every socket type (Unix stream, dgram and
//! seqpacket, the abstract namespace, TCP and UDP on 127.0.0.1 and ::1).
//!
//! Tests that need socat or python3 print a note and pass when the tool is
//! missing (CI installs both, see .ci/run). Every child is bounded by a
//! timeout and killed on drop; socket files live in a per-test directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KIPC: &str = env!("CARGO_BIN_EXE_kipc");
const LIMIT: Duration = Duration::from_secs(10);

fn have(tool: &str, arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("note: {tool} not found; skipping (CI installs it)");
    }
    ok
}

/// A fresh directory for socket files, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "kipc-cli-sock-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn sock(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "kipc-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A child process killed (by its own handle) if still running on drop.
struct Proc(Child);

impl Proc {
    /// Waits up to `LIMIT` for it to exit and collects its output.
    fn finish(mut self) -> Output {
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let child = std::mem::replace(&mut self.0, Command::new("true").spawn().unwrap());
        child.wait_with_output().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a command with `input` on stdin, bounded by `LIMIT`.
fn run(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    Proc(child).finish()
}

/// Starts `kipc sock serve ARGS` and waits for "listening on ADDR"; returns
/// the process and the bound address.
fn serve(args: &[&str]) -> (Proc, String) {
    let mut child = Command::new(KIPC)
        .args(["sock", "serve"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    let proc = Proc(child);
    let line = rx
        .recv_timeout(LIMIT)
        .expect("kipc sock serve never said it was listening");
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    (proc, addr)
}

fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ipv6_loopback() -> bool {
    let ok = std::net::UdpSocket::bind("[::1]:0").is_ok();
    if !ok {
        eprintln!("note: no IPv6 loopback; skipping ::1 cases");
    }
    ok
}

/// The server side of one case: kipc serve args, and the socat address that
/// reaches it once bound (given the bound address).
fn kipc_server_case(kipc_addr: &str, kind: &str, socat: impl Fn(&str) -> String) {
    let (server, bound) = serve(&[kipc_addr, "--type", kind, "--echo", "--count", "1"]);
    let target = socat(&bound);
    let out = run(
        Command::new("socat").args(["-t", "2", "-T", "5", "-", &target]),
        b"hello kipc\n",
    );
    assert_eq!(
        stdout(&out),
        "hello kipc\n",
        "socat {target} <- echo; stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server.finish();
    assert!(out.status.success(), "server {kipc_addr} failed: {out:?}");
    assert_eq!(stdout(&out), "hello kipc\n", "server {kipc_addr} printed");
}

#[test]
fn kipc_server_echoes_to_socat_over_every_socket_type() {
    if !have("socat", "-V") {
        return;
    }
    let d = Dir::new("ks");
    let p = d.sock("stream.sock");
    kipc_server_case(&format!("unix:{p}"), "stream", |_| {
        format!("UNIX-CONNECT:{p}")
    });
    assert!(
        !std::path::Path::new(&p).exists(),
        "socket file left behind"
    );
    let p = d.sock("seq.sock");
    kipc_server_case(&format!("unix:{p}"), "seqpacket", |_| {
        format!("UNIX-CONNECT:{p},type=5")
    });
    let p = d.sock("dgram.sock");
    let c = d.sock("dgram-client.sock");
    kipc_server_case(&format!("unix:{p}"), "dgram", |_| {
        format!("UNIX-SENDTO:{p},bind={c}")
    });
    let name = unique("abs");
    kipc_server_case(&format!("unix-abstract:{name}"), "stream", |_| {
        format!("ABSTRACT-CONNECT:{name}")
    });
    let name = unique("abs-seq");
    kipc_server_case(&format!("unix-abstract:{name}"), "seqpacket", |_| {
        format!("ABSTRACT-CONNECT:{name},type=5")
    });
    kipc_server_case("tcp:127.0.0.1:0", "stream", |b| {
        format!("TCP4:127.0.0.1:{}", port_of(b))
    });
    kipc_server_case("udp:127.0.0.1:0", "dgram", |b| {
        format!("UDP4:127.0.0.1:{}", port_of(b))
    });
    if ipv6_loopback() {
        kipc_server_case("tcp:[::1]:0", "stream", |b| {
            format!("TCP6:[::1]:{}", port_of(b))
        });
        kipc_server_case("udp:[::1]:0", "dgram", |b| {
            format!("UDP6:[::1]:{}", port_of(b))
        });
    }
}

/// Starts socat as an echo server (`socat LISTEN PIPE`) and has
/// `kipc sock send --reply` talk to it, retrying until socat is ready.
fn socat_server_case(listen: &str, kipc_addr: &str, kind: &str) {
    let socat = Proc(
        Command::new("socat")
            .args(["-T", "5", listen, "PIPE"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + LIMIT;
    loop {
        let out = run(
            Command::new(KIPC).args([
                "sock",
                "send",
                kipc_addr,
                "--type",
                kind,
                "--reply",
                "--timeout",
                "500ms",
                "from kipc",
            ]),
            b"",
        );
        if out.status.success() {
            assert_eq!(stdout(&out), "from kipc\n", "{listen}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{listen}: kipc never got its echo: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(socat);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn kipc_client_gets_its_echo_from_socat_over_every_socket_type() {
    if !have("socat", "-V") {
        return;
    }
    let d = Dir::new("sk");
    let p = d.sock("stream.sock");
    socat_server_case(&format!("UNIX-LISTEN:{p}"), &format!("unix:{p}"), "stream");
    let p = d.sock("seq.sock");
    socat_server_case(
        &format!("UNIX-LISTEN:{p},type=5"),
        &format!("unix:{p}"),
        "seqpacket",
    );
    let p = d.sock("dgram.sock");
    socat_server_case(&format!("UNIX-RECVFROM:{p}"), &format!("unix:{p}"), "dgram");
    let name = unique("abs");
    socat_server_case(
        &format!("ABSTRACT-LISTEN:{name}"),
        &format!("unix-abstract:{name}"),
        "stream",
    );
    let port = free_port();
    socat_server_case(
        &format!("TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr"),
        &format!("tcp:127.0.0.1:{port}"),
        "stream",
    );
    let port = free_port();
    socat_server_case(
        &format!("UDP4-RECVFROM:{port},bind=127.0.0.1"),
        &format!("udp:127.0.0.1:{port}"),
        "dgram",
    );
    if ipv6_loopback() {
        let port = free_port();
        socat_server_case(
            &format!("TCP6-LISTEN:{port},bind=[::1],reuseaddr"),
            &format!("tcp:[::1]:{port}"),
            "stream",
        );
        let port = free_port();
        socat_server_case(
            &format!("UDP6-RECVFROM:{port},bind=[::1]"),
            &format!("udp:[::1]:{port}"),
            "dgram",
        );
    }
}

#[test]
fn python_clients_talk_to_kipc_servers() {
    if !have("python3", "--version") {
        return;
    }
    let d = Dir::new("py");
    let p = d.sock("seq.sock");
    let cases = [
        (format!("unix:{p}"), "seqpacket", format!("s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect({p:?}); s.send(b'py msg'); print(s.recv(100).decode())")),
        ("tcp:127.0.0.1:0".to_string(), "stream", "s=socket.create_connection(('127.0.0.1', PORT)); s.sendall(b'py msg\\n'); print(s.makefile().readline().strip())".to_string()),
        ("udp:127.0.0.1:0".to_string(), "dgram", "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'py msg', ('127.0.0.1', PORT)); print(s.recv(100).decode())".to_string()),
    ];
    for (addr, kind, script) in cases {
        let (server, bound) = serve(&[&addr, "--type", kind, "--echo", "--count", "1"]);
        let script = format!(
            "import socket\ns=None\n{}",
            script.replace("PORT", port_of(&bound))
        );
        let out = run(Command::new("python3").args(["-c", &script]), b"");
        assert_eq!(
            stdout(&out),
            "py msg\n",
            "{addr}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout(&server.finish()), "py msg\n");
    }
}

#[test]
fn flooded_server_keeps_serving_the_connections_it_accepted() {
    let d = Dir::new("flood");
    let p = d.sock("flood.sock");
    let (server, _) = serve(&[
        &format!("unix:{p}"),
        "--echo",
        "--max-conn",
        "2",
        "--count",
        "4",
    ]);
    let connect = || {
        let s = UnixStream::connect(&p).unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        s
    };
    let echo = |s: &mut UnixStream, msg: &str| {
        s.write_all(format!("{msg}\n").as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(s.try_clone().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, format!("{msg}\n"));
    };
    let mut a = connect();
    let mut b = connect();
    echo(&mut a, "a1");
    echo(&mut b, "b1");
    // 20 more: each is accepted and closed at once (reads end of file).
    for _ in 0..20 {
        let mut extra = connect();
        let _ = extra.write_all(b"ignored\n");
        let mut buf = [0u8; 16];
        assert_eq!(
            extra.read(&mut buf).unwrap_or(0),
            0,
            "over-limit client was served"
        );
    }
    echo(&mut a, "a2");
    echo(&mut b, "b2");
    let out = server.finish();
    assert!(out.status.success());
    assert_eq!(stdout(&out), "a1\nb1\na2\nb2\n");
}

#[test]
fn bad_addresses_and_missing_servers_fail_with_one_line() {
    let out = run(
        Command::new(KIPC).args(["sock", "send", "tcp:127.0.0.1", "x"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HOST:PORT") && err.lines().count() == 1,
        "{err}"
    );
    let out = run(
        Command::new(KIPC).args(["sock", "send", "udp:127.0.0.1:9", "--type", "stream", "x"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let d = Dir::new("missing");
    let out = run(
        Command::new(KIPC).args(["sock", "send", &format!("unix:{}", d.sock("none")), "x"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connect"));
    // A server that never replies: --reply times out with exit 3.
    let p = d.sock("silent.sock");
    let (_server, _) = serve(&[&format!("unix:{p}"), "--type", "seqpacket"]);
    let out = run(
        Command::new(KIPC).args([
            "sock",
            "send",
            &format!("unix:{p}"),
            "--type",
            "seqpacket",
            "--reply",
            "--timeout",
            "200ms",
            "x",
        ]),
        b"",
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}
