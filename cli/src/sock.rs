//! `kipc sock`: a small socket server and client over every kipc socket
//! type, a thin shell over [`kipc_host::socket`].
//!
//! On the wire the command speaks what shell tools speak: on **stream**
//! sockets (Unix stream, TCP) one message is one line (newline-delimited);
//! on **datagram** and **seqpacket** sockets one message is one datagram or
//! packet (a trailing newline is dropped when printing). So `socat`, `nc`
//! and Python's `socket` module talk to it directly. (The library's binary
//! framing, length-prefixed, is `kipc_host::socket::FramedStream`.)

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use kipc_host::socket::{
    Addr, Connection, DatagramSocket, SeqpacketSocket, Server, ServerOptions, SocketKind,
    StreamSocket,
};
use kipc_host::Error;
use rustix::event::{PollFd, PollFlags};

use crate::timeout::Timeout;
use crate::{CmdResult, EXIT_TIMEOUT};

/// Largest message handled (a datagram, a packet or a line).
const MAX_MSG: usize = 65_536;

/// Subcommands of `kipc sock`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve ADDR: print each message received on its own line.
    ///
    /// ADDR is unix:PATH, unix-abstract:NAME, tcp:HOST:PORT or udp:HOST:PORT
    /// (IPv6 as tcp:\[::1\]:PORT; port 0 picks a free one). Once bound it
    /// prints "listening on ADDR" (the real address) to stderr. On streams a
    /// message is a line; on dgram/seqpacket, one datagram/packet. At most
    /// --max-conn connections are served at once; more are accepted and
    /// closed at once, and the ones already accepted keep being served. A
    /// socket file it creates is removed when it exits.
    Serve {
        /// Address to listen on.
        addr: String,
        /// Socket type (default: stream, or dgram for udp:).
        #[arg(long = "type", value_parser = parse_kind)]
        kind: Option<SocketKind>,
        /// Send each message back to its sender.
        #[arg(long)]
        echo: bool,
        /// Most connections served at once.
        #[arg(long = "max-conn", default_value_t = 16)]
        max_conn: usize,
        /// Exit after this many messages.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Send MESSAGE to ADDR; with --reply, wait for one message back and
    /// print it.
    ///
    /// On streams MESSAGE is sent as one line (a newline is appended) and
    /// the reply is the first line read. Exit status: 0 on success, 3 if
    /// --reply timed out, 1 on an error.
    Send {
        /// Address to send to.
        addr: String,
        /// The message.
        message: String,
        /// Socket type (default: stream, or dgram for udp:).
        #[arg(long = "type", value_parser = parse_kind)]
        kind: Option<SocketKind>,
        /// Wait for a reply and print it.
        #[arg(long)]
        reply: bool,
        /// Longest wait to connect, to send and for the reply (0: never
        /// wait; forever).
        #[arg(long, value_name = "DURATION", default_value = "5s")]
        timeout: Timeout,
    },
}

fn parse_kind(s: &str) -> Result<SocketKind, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// Runs a `kipc sock` subcommand.
pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Serve {
            addr,
            kind,
            echo,
            max_conn,
            count,
        } => {
            let addr: Addr = addr.parse()?;
            let kind = kind.unwrap_or_else(|| addr.default_kind());
            let mut out = Printer { count, seen: 0 };
            match kind {
                SocketKind::Datagram => serve_dgram(&addr, echo, &mut out),
                _ => serve_conn(&addr, kind, echo, max_conn, &mut out),
            }
        }
        Command::Send {
            addr,
            message,
            kind,
            reply,
            timeout,
        } => {
            let addr: Addr = addr.parse()?;
            let kind = kind.unwrap_or_else(|| addr.default_kind());
            send(&addr, kind, message.as_bytes(), reply, timeout)
        }
    }
}

/// Prints messages and counts them against --count.
struct Printer {
    count: Option<u64>,
    seen: u64,
}

impl Printer {
    /// Prints `msg` (without one trailing newline); true once --count is met.
    fn print(&mut self, msg: &[u8]) -> std::io::Result<bool> {
        let msg = msg.strip_suffix(b"\n").unwrap_or(msg);
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(msg)?;
        stdout.write_all(b"\n")?;
        stdout.flush()?;
        self.seen += 1;
        Ok(self.count.is_some_and(|c| self.seen >= c))
    }
}

fn serve_dgram(addr: &Addr, echo: bool, out: &mut Printer) -> CmdResult {
    let sock = DatagramSocket::bind(addr)?;
    let bound = sock.local_addr()?.unwrap_or_else(|| addr.clone());
    eprintln!("listening on {bound}");
    if out.count == Some(0) {
        return Ok(ExitCode::SUCCESS);
    }
    let mut buf = vec![0u8; MAX_MSG];
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e @ Error::MessageTruncated { .. }) => {
                eprintln!("kipc: dropped a message: {e}");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let done = out.print(&buf[..n])?;
        if echo {
            match &from {
                Some(to) => {
                    if let Err(e) = sock.send_to_timeout(&buf[..n], to, Duration::from_secs(1)) {
                        eprintln!("kipc: cannot echo to {to}: {e}");
                    }
                }
                None => eprintln!("kipc: sender is unnamed; cannot echo"),
            }
        }
        if done {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// A served connection and, on streams, its unfinished line.
struct Client {
    conn: Connection,
    line: Vec<u8>,
}

fn serve_conn(
    addr: &Addr,
    kind: SocketKind,
    echo: bool,
    max_conn: usize,
    out: &mut Printer,
) -> CmdResult {
    let options = ServerOptions {
        max_connections: max_conn,
        ..ServerOptions::default()
    };
    let server = Server::bind(addr, kind, options)?;
    eprintln!("listening on {}", server.local_addr());
    if out.count == Some(0) {
        return Ok(ExitCode::SUCCESS);
    }
    let mut clients: Vec<Client> = Vec::new();
    let mut buf = vec![0u8; MAX_MSG];
    loop {
        let ready: Vec<bool> = {
            let mut fds = Vec::with_capacity(clients.len() + 1);
            fds.push(PollFd::new(&server, PollFlags::IN));
            for c in &clients {
                fds.push(PollFd::new(&c.conn, PollFlags::IN));
            }
            match rustix::event::poll(&mut fds, None) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Error::from(e).into()),
            }
            fds.iter().map(|f| !f.revents().is_empty()).collect()
        };
        if ready[0] {
            while let Some(conn) = server.try_accept()? {
                clients.push(Client {
                    conn,
                    line: Vec::new(),
                });
            }
        }
        let mut closed = Vec::new();
        for (i, c) in clients.iter_mut().enumerate() {
            if !ready.get(i + 1).copied().unwrap_or(false) {
                continue;
            }
            match serve_one(c, kind, echo, &mut buf, out) {
                Ok(Served::Open) => {}
                Ok(Served::Closed) => closed.push(i),
                Ok(Served::Done) => return Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("kipc: dropping a connection: {e}");
                    closed.push(i);
                }
            }
        }
        for i in closed.into_iter().rev() {
            clients.swap_remove(i);
        }
    }
}

enum Served {
    Open,
    Closed,
    Done,
}

fn serve_one(
    c: &mut Client,
    kind: SocketKind,
    echo: bool,
    buf: &mut [u8],
    out: &mut Printer,
) -> Result<Served, Box<dyn std::error::Error>> {
    let n = match c.conn.try_recv(buf) {
        Ok(n) => n,
        Err(e) if e.errno() == Some(rustix::io::Errno::AGAIN) => return Ok(Served::Open),
        Err(e) => return Err(e.into()),
    };
    if kind == SocketKind::Seqpacket {
        if n == 0 {
            return Ok(Served::Closed);
        }
        let done = out.print(&buf[..n])?;
        if echo {
            c.conn.send_timeout(&buf[..n], Duration::from_secs(1))?;
        }
        return Ok(if done { Served::Done } else { Served::Open });
    }
    if n == 0 {
        // End of file: an unterminated last line is still a message.
        if !c.line.is_empty() {
            let line = std::mem::take(&mut c.line);
            if out.print(&line)? {
                return Ok(Served::Done);
            }
            if echo {
                let _ = c.conn.send_timeout(&line, Duration::from_secs(1));
            }
        }
        return Ok(Served::Closed);
    }
    c.line.extend_from_slice(&buf[..n]);
    while let Some(pos) = c.line.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = c.line.drain(..=pos).collect();
        let done = out.print(&line)?;
        if echo {
            c.conn.send_timeout(&line, Duration::from_secs(1))?;
        }
        if done {
            return Ok(Served::Done);
        }
    }
    if c.line.len() > MAX_MSG {
        return Err(format!("line longer than {MAX_MSG} bytes").into());
    }
    Ok(Served::Open)
}

fn print_reply(msg: &[u8]) -> CmdResult {
    let msg = msg.strip_suffix(b"\n").unwrap_or(msg);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(msg)?;
    stdout.write_all(b"\n")?;
    Ok(ExitCode::SUCCESS)
}

fn timed_out() -> CmdResult {
    eprintln!("kipc: no reply before the timeout");
    Ok(ExitCode::from(EXIT_TIMEOUT))
}

/// Applies `timeout` to a stream socket's reads and writes: `SO_RCVTIMEO`
/// and `SO_SNDTIMEO` (where 0 would mean "forever" to the kernel), or
/// non-blocking mode for [`Timeout`]'s 0 ("never wait").
fn stream_timeouts(sock: &StreamSocket, timeout: Timeout) -> kipc_host::Result<()> {
    match timeout {
        Timeout::After(Duration::ZERO) => sock.set_nonblocking(true),
        t => {
            sock.set_write_timeout(t.bound())?;
            sock.set_read_timeout(t.bound())
        }
    }
}

fn send(addr: &Addr, kind: SocketKind, msg: &[u8], reply: bool, t: Timeout) -> CmdResult {
    addr.check_kind(kind)?;
    let timeout = t.or_max();
    let mut buf = vec![0u8; MAX_MSG];
    match kind {
        SocketKind::Stream => {
            let mut sock = StreamSocket::connect_timeout(addr, timeout)?;
            stream_timeouts(&sock, t)?;
            let mut line = msg.to_vec();
            line.push(b'\n');
            sock.write_all(&line)?;
            if !reply {
                let _ = sock.shutdown(std::net::Shutdown::Write);
                return Ok(ExitCode::SUCCESS);
            }
            let mut got = Vec::new();
            loop {
                match sock.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        got.extend_from_slice(&buf[..n]);
                        if got.contains(&b'\n') {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        return timed_out()
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if got.is_empty() {
                return Err(format!("{addr}: closed without a reply").into());
            }
            let end = got.iter().position(|&b| b == b'\n').unwrap_or(got.len());
            print_reply(&got[..end])
        }
        SocketKind::Seqpacket => {
            let sock = SeqpacketSocket::connect(addr)?;
            sock.send_timeout(msg, timeout)?;
            if !reply {
                return Ok(ExitCode::SUCCESS);
            }
            match sock.recv_timeout(&mut buf, timeout) {
                Ok(0) => Err(format!("{addr}: closed without a reply").into()),
                Ok(n) => print_reply(&buf[..n]),
                Err(Error::Timeout) => timed_out(),
                Err(e) => Err(e.into()),
            }
        }
        SocketKind::Datagram => {
            let sock = DatagramSocket::connect(addr)?;
            sock.send_timeout(msg, timeout)?;
            if !reply {
                return Ok(ExitCode::SUCCESS);
            }
            match sock.recv_timeout(&mut buf, timeout) {
                Ok(n) => print_reply(&buf[..n]),
                Err(Error::Timeout) => timed_out(),
                Err(e) => Err(e.into()),
            }
        }
    }
}
