//! The peer process of `tests/sockets.rs`: the other side of a Unix socket.
//!
//! ```text
//! kipc-sock-peer ring PATH COUNT   connect to unix:PATH, receive a ShmRing
//!                                  (send_ring/recv_ring), consume COUNT
//!                                  messages from it, then send one frame
//!                                  "ok COUNT SUM" back over the socket
//! ```
//!
//! Any failure prints one line on stderr and exits 1.

use std::process::ExitCode;
use std::time::Duration;

use kipc_host::socket::{recv_ring_timeout, Addr, FramedStream, StreamSocket};

const WAIT: Duration = Duration::from_secs(20);

fn ring(path: &str, count: u64) -> Result<(), String> {
    let addr = Addr::Unix(path.into());
    let sock = StreamSocket::connect_timeout(&addr, WAIT).map_err(|e| e.to_string())?;
    let ring = recv_ring_timeout(&sock, WAIT).map_err(|e| format!("recv_ring: {e}"))?;
    let mut rx = ring.receiver().map_err(|e| format!("receiver: {e}"))?;
    let mut buf = vec![0u8; rx.max_len()];
    let mut sum = 0u64;
    for i in 0..count {
        let n = rx
            .recv_timeout(&mut buf, WAIT)
            .map_err(|e| format!("message {i}: {e}"))?;
        let bytes: [u8; 8] = buf[..n]
            .try_into()
            .map_err(|_| format!("message {i}: {n} bytes, expected 8"))?;
        sum += u64::from_le_bytes(bytes);
    }
    FramedStream::new(&sock)
        .send_frame(format!("ok {count} {sum}").as_bytes())
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [mode, path, count] if mode == "ring" => match count.parse() {
            Ok(c) => ring(path, c),
            Err(_) => Err(format!("bad count {count:?}")),
        },
        _ => Err("usage: kipc-sock-peer ring PATH COUNT".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kipc-sock-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
