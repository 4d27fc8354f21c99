//! `kipc-bridge`: kipc rings, mailboxes and procedure calls over Zenoh.
//! See the library documentation for the guarantees of each mode.
//!
//! A separate binary rather than a `kipc` subcommand: Zenoh is a large
//! build, and the `kipc` command (and everything the README's first command
//! builds) must not wait for it.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kipc_bridge::inbound::InOptions;
use kipc_bridge::out::OutOptions;
use kipc_bridge::rpc::ZenohTransport;
use kipc_bridge::{BridgeError, Local, ZenohArgs};
use kipc_host::rpc::{Client, RpcError};

/// Bridge kipc objects onto Zenoh.
#[derive(Debug, Parser)]
#[command(name = "kipc-bridge", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Drain the local ring (or mailbox) NAME and publish each message on KEY.
    Out {
        /// The local ring or mailbox.
        name: String,
        /// Zenoh key expression to publish on.
        #[arg(long)]
        key: String,
        /// NAME is a mailbox (priorities and types travel along).
        #[arg(long)]
        mailbox: bool,
        /// Exit after this many messages.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Subscribe to KEY and push each sample into the local ring (or mailbox) NAME.
    In {
        /// The local ring or mailbox.
        name: String,
        /// Zenoh key expression to subscribe to.
        #[arg(long)]
        key: String,
        /// NAME is a mailbox.
        #[arg(long)]
        mailbox: bool,
        /// Drop and count samples that find NAME full, instead of waiting
        /// (which pushes back on the publisher).
        #[arg(long)]
        best_effort: bool,
        /// Exit after this many samples.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Procedure calls across Zenoh.
    #[command(subcommand)]
    Rpc(RpcCmd),
}

#[derive(Debug, Subcommand)]
enum RpcCmd {
    /// Serve the local RPC server NAME to remote callers on KEY.
    Serve {
        /// The local server (its inbox name).
        name: String,
        /// Zenoh key expression to answer on.
        #[arg(long)]
        key: String,
        /// How long one local call may take, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        call_timeout_ms: u64,
    },
    /// Call METHOD with PAYLOAD on whoever serves KEY; prints the reply.
    Call {
        /// Zenoh key expression of the server.
        #[arg(long)]
        key: String,
        /// Method id.
        method: u32,
        /// Request payload (UTF-8 text).
        payload: String,
        /// How long to wait for the reply, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
}

fn local(name: String, mailbox: bool) -> Local {
    if mailbox {
        Local::Mailbox(name)
    } else {
        Local::Ring(name)
    }
}

/// Tells a test harness (or a user) that the bridge is ready.
fn say_ready() {
    println!("ready");
}

fn run(cli: Cli) -> Result<(), BridgeError> {
    // Stopped by a signal's default action; `--count` ends a run cleanly.
    let stop = AtomicBool::new(false);
    let session = cli.zenoh.open()?;
    match cli.cmd {
        Cmd::Out {
            name,
            key,
            mailbox,
            count,
        } => {
            let stats = kipc_bridge::out::run(
                &session,
                &local(name, mailbox),
                &key,
                OutOptions { count },
                &stop,
                say_ready,
            )?;
            println!("moved {}", stats.moved);
        }
        Cmd::In {
            name,
            key,
            mailbox,
            best_effort,
            count,
        } => {
            let stats = kipc_bridge::inbound::run(
                &session,
                &key,
                &local(name, mailbox),
                InOptions { best_effort, count },
                &stop,
                say_ready,
            )?;
            println!("moved {} dropped {}", stats.moved, stats.dropped);
        }
        Cmd::Rpc(RpcCmd::Serve {
            name,
            key,
            call_timeout_ms,
        }) => {
            kipc_bridge::rpc::serve(
                &session,
                &key,
                &name,
                Duration::from_millis(call_timeout_ms),
                &stop,
                say_ready,
            )?;
        }
        Cmd::Rpc(RpcCmd::Call {
            key,
            method,
            payload,
            timeout_ms,
        }) => {
            let mut client = Client::with_transport(Box::new(ZenohTransport::new(session, key)));
            match client.call(
                method,
                payload.as_bytes(),
                Duration::from_millis(timeout_ms),
            ) {
                Ok(reply) => println!("{}", String::from_utf8_lossy(&reply)),
                Err(e) => {
                    return Err(BridgeError::Usage(match e {
                        RpcError::ServerDead => "error: server dead".to_string(),
                        RpcError::Timeout => "error: timeout".to_string(),
                        other => format!("error: {other}"),
                    }))
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kipc-bridge: {e}");
            ExitCode::FAILURE
        }
    }
}
