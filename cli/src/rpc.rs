//! `kipc rpc`: an echo server and a client, to try procedure calls over
//! mailboxes ([`kipc_host::rpc`]) from a shell.
//!
//! A NAME of the form `unix:PATH`, `unix-abstract:NAME` or `tcp:HOST:PORT`
//! selects the stream-socket transport ([`kipc_host::rpc::socket`]) instead
//! of a mailbox.

use std::process::ExitCode;

use kipc_host::rpc::socket::{SocketServer, SocketServerOptions};
use kipc_host::rpc::{Client, RpcError, Server};
use kipc_host::socket::Addr;

use crate::timeout::Timeout;
use crate::{CmdResult, EXIT_TIMEOUT};

/// The method `kipc rpc serve --echo` answers and `kipc rpc call` calls.
pub const ECHO: u32 = 1;

/// Subcommands of `kipc rpc`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve calls on the inbox NAME (created now, removed on exit), or on a
    /// stream socket when NAME is `unix:PATH`, `unix-abstract:NAME` or
    /// `tcp:HOST:PORT` (a socket file is removed on exit).
    Serve {
        /// Server (inbox) name, or socket address.
        name: String,
        /// Answer method 1 with the request bytes.
        #[arg(long, required = true)]
        echo: bool,
        /// Exit after answering this many requests (default: serve forever).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Call method 1 of server NAME (an inbox name, or a socket address as
    /// for `serve`) with MESSAGE and print the reply.
    ///
    /// Exit status: 0 with the reply printed, 3 on timeout, 1 on an error.
    Call {
        /// Server name, or socket address.
        name: String,
        /// Request bytes.
        message: String,
        /// Longest wait for the reply (0: only a reply already there; forever).
        #[arg(long, value_name = "DURATION", default_value = "5s")]
        timeout: Timeout,
    },
}

/// Runs a `kipc rpc` subcommand.
pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Serve {
            name,
            echo: _,
            count,
        } if socket_addr(&name).is_some() => {
            let addr = socket_addr(&name).unwrap_or_else(|| unreachable!());
            let addr: Addr = addr.map_err(|e| e.to_string())?;
            let server = Server::for_sockets()
                .map_err(|e| describe(&name, &e))?
                .handle(ECHO, |req: &[u8]| Ok(req.to_vec()));
            let options = SocketServerOptions {
                max_requests: count,
                ..SocketServerOptions::default()
            };
            let listener = SocketServer::bind(&addr, options).map_err(|e| describe(&name, &e))?;
            listener.serve(&server).map_err(|e| describe(&name, &e))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            name,
            echo: _,
            count,
        } => {
            let server = Server::new(&name)
                .map_err(|e| describe(&name, &e))?
                .handle(ECHO, |req: &[u8]| Ok(req.to_vec()));
            let r = match count {
                Some(n) => server.serve_n(n).map(drop),
                None => server.serve(),
            };
            r.map_err(|e| describe(&name, &e))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Call {
            name,
            message,
            timeout,
        } => {
            let client = match socket_addr(&name) {
                Some(addr) => Client::connect_addr(&addr.map_err(|e| e.to_string())?),
                None => Client::connect(&name),
            };
            let mut client = client.map_err(|e| describe(&name, &e))?;
            match client.call(ECHO, message.as_bytes(), timeout.or_max()) {
                Ok(reply) => {
                    println!("{}", String::from_utf8_lossy(&reply));
                    Ok(ExitCode::SUCCESS)
                }
                Err(RpcError::Timeout) => {
                    eprintln!("kipc: rpc server {name:?}: no reply within {timeout}");
                    Ok(ExitCode::from(EXIT_TIMEOUT))
                }
                Err(e) => Err(describe(&name, &e).into()),
            }
        }
    }
}

/// The socket address NAME stands for, if it has a stream-socket prefix
/// (`unix:`, `unix-abstract:`, `tcp:`); `None` for a mailbox name.
fn socket_addr(name: &str) -> Option<Result<Addr, kipc_host::Error>> {
    ["unix:", "unix-abstract:", "tcp:"]
        .iter()
        .any(|p| name.starts_with(p))
        .then(|| name.parse())
}

fn describe(name: &str, e: &RpcError) -> String {
    match e {
        RpcError::ServerDead => format!("rpc server {name:?} is not running"),
        RpcError::Transport(t) if socket_addr(name).is_some() => {
            format!("rpc server {name:?}: {t}")
        }
        RpcError::Transport(t) => crate::mbox::describe(name, t),
        other => format!("rpc server {name:?}: {other}"),
    }
}
