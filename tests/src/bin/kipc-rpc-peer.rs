//! The peer process of `tests/rpc_socket.rs`: RPC over a Unix stream socket.
//!
//! ```text
//! kipc-rpc-peer client PATH ID CALLS   make CALLS calls of method 1 (reverse), check each reply; print "ok"
//! kipc-rpc-peer slow PATH              connect, print "calling", then call method 2 (slow) and wait
//! kipc-rpc-peer serve PATH             serve method 1 (reverse) and 2 (sleeps 300 ms, echoes) on PATH;
//!                                      print "ready" once listening; serve until killed
//! ```
//!
//! Any failure prints one line on stderr and exits 1.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use kipc_host::rpc::socket::{SocketServer, SocketServerOptions};
use kipc_host::rpc::{Client, Server};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, String> {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("missing or bad {what}"))
}

fn say(line: &str) -> Result<(), String> {
    println!("{line}");
    std::io::stdout().flush().map_err(|e| e.to_string())
}

fn client(path: &str, id: u32, calls: u32) -> Result<(), String> {
    let mut c = Client::connect_unix(path).map_err(|e| format!("connect: {e}"))?;
    for i in 0..calls {
        let req = format!("client {id} call {i}");
        let reply = c
            .call(1, req.as_bytes(), Duration::from_secs(30))
            .map_err(|e| format!("call {i}: {e}"))?;
        let want: Vec<u8> = req.bytes().rev().collect();
        if reply != want {
            return Err(format!(
                "call {i}: wrong reply {:?}",
                String::from_utf8_lossy(&reply)
            ));
        }
    }
    say("ok")
}

fn serve(path: &str) -> Result<(), String> {
    let rpc = Server::for_sockets()
        .map_err(|e| format!("server: {e}"))?
        .handle(1, |r: &[u8]| Ok(r.iter().rev().copied().collect()))
        .handle(2, |r: &[u8]| {
            std::thread::sleep(Duration::from_millis(300));
            Ok(r.to_vec())
        });
    let listener = SocketServer::bind_unix(path, SocketServerOptions::default())
        .map_err(|e| format!("bind: {e}"))?;
    say("ready")?;
    listener
        .serve(&rpc)
        .map(drop)
        .map_err(|e| format!("serve: {e}"))
}

fn run(args: &[String]) -> Result<(), String> {
    let cmd = args.get(1).map(String::as_str).unwrap_or("");
    let path: String = arg(args, 2, "PATH")?;
    match cmd {
        "client" => client(&path, arg(args, 3, "ID")?, arg(args, 4, "CALLS")?),
        "slow" => {
            let mut c = Client::connect_unix(&path).map_err(|e| format!("connect: {e}"))?;
            say("calling")?;
            let _ = c.call(2, b"slow", Duration::from_secs(60));
            Ok(())
        }
        "serve" => serve(&path),
        other => Err(format!("unknown command {other:?}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kipc-rpc-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
