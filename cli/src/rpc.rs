//! `kipc rpc`: an echo server and a client, to try procedure calls over
//! mailboxes ([`kipc_host::rpc`]) from a shell.

use std::process::ExitCode;
use std::time::Duration;

use kipc_host::rpc::{Client, RpcError, Server};

use crate::{CmdResult, EXIT_TIMEOUT};

/// The method `kipc rpc serve --echo` answers and `kipc rpc call` calls.
pub const ECHO: u32 = 1;

/// Subcommands of `kipc rpc`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve calls on the inbox NAME (created now, removed on exit).
    Serve {
        /// Server (inbox) name.
        name: String,
        /// Answer method 1 with the request bytes.
        #[arg(long, required = true)]
        echo: bool,
        /// Exit after answering this many requests (default: serve forever).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Call method 1 of server NAME with MESSAGE and print the reply.
    ///
    /// Exit status: 0 with the reply printed, 3 on timeout, 1 on an error.
    Call {
        /// Server name.
        name: String,
        /// Request bytes.
        message: String,
        /// Longest wait for the reply, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout: u64,
    },
}

/// Runs a `kipc rpc` subcommand.
pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Serve { name, echo: _, count } => {
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
            let mut client = Client::connect(&name).map_err(|e| describe(&name, &e))?;
            match client.call(ECHO, message.as_bytes(), Duration::from_millis(timeout)) {
                Ok(reply) => {
                    println!("{}", String::from_utf8_lossy(&reply));
                    Ok(ExitCode::SUCCESS)
                }
                Err(RpcError::Timeout) => {
                    eprintln!("kipc: rpc server {name:?}: no reply within {timeout} ms");
                    Ok(ExitCode::from(EXIT_TIMEOUT))
                }
                Err(e) => Err(describe(&name, &e).into()),
            }
        }
    }
}

fn describe(name: &str, e: &RpcError) -> String {
    match e {
        RpcError::ServerDead => format!("rpc server {name:?} is not running"),
        RpcError::Transport(t) => crate::mbox::describe(name, t),
        other => format!("rpc server {name:?}: {other}"),
    }
}
