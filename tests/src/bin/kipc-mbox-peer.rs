//! The peer process of `tests/mailbox.rs` and `tests/rpc.rs`.
//!
//! ```text
//! kipc-mbox-peer send NAME TAG COUNT         send COUNT random messages tagged TAG (type TAG), exit 0
//! kipc-mbox-peer send-forever NAME TAG       print "ready", send random messages until killed
//! kipc-mbox-peer recv NAME                   receive until a STOP message; print "got TAG SEQ" per message
//! kipc-mbox-peer recv-type NAME TYPE COUNT   receive COUNT messages of exactly TYPE; print "got TAG SEQ"
//! kipc-mbox-peer rpc-client NAME ID CALLS    make CALLS echo calls (method 1), check each reply; print "ok"
//! kipc-mbox-peer rpc-slow NAME               print "calling", then call method 2 (slow) and wait
//! ```
//!
//! Messages are [`payload`]s: tag, seq, prio and a filler derived from them,
//! so a torn or corrupt message is caught by [`payload::check`]. Receivers
//! also check that, within what they receive, sequence numbers of one
//! (tag, prio) pair increase (FIFO per sender and priority) and print an
//! `inversion TAG PRIO SEQ PREV` line where they do not. Any failure
//! prints one line on stderr and exits 1.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use kipc_host::mailbox::{Mailbox, Selector};
use kipc_host::rpc::Client;
use kipc_tests::mbox_payload as payload;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, String> {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("missing or bad {what}"))
}

fn send(mb: &Mailbox, tag: u32, count: Option<u64>) -> Result<(), String> {
    let mut rng = payload::Rng::new(u64::from(tag) * 7919 + 1);
    let mut buf = vec![0u8; mb.max_msg()];
    if count.is_none() {
        println!("ready");
        std::io::stdout().flush().map_err(|e| e.to_string())?;
    }
    let mut seq = 0u64;
    while count.is_none_or(|c| seq < c) {
        let prio = (rng.next() % 32) as u8;
        let len = payload::MIN_LEN + (rng.next() as usize % (mb.max_msg() - payload::MIN_LEN + 1));
        payload::encode(tag, seq, prio, &mut buf[..len]);
        mb.send_timeout(&buf[..len], prio, u64::from(tag), Duration::from_secs(60))
            .map_err(|e| format!("send of seq {seq}: {e}"))?;
        seq += 1;
    }
    Ok(())
}

fn recv(mb: &Mailbox, sel: Selector, count: Option<u64>) -> Result<(), String> {
    let mut buf = vec![0u8; mb.max_msg()];
    let mut last: HashMap<(u32, u8), u64> = HashMap::new();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let mut n = 0u64;
    while count.is_none_or(|c| n < c) {
        let got = mb
            .recv_matching(sel, &mut buf, Some(Duration::from_secs(60)))
            .map_err(|e| format!("receive {n}: {e}"))?;
        let msg = &buf[..got.len];
        if msg == payload::STOP {
            break;
        }
        let (tag, seq, prio) = payload::check(msg).map_err(|e| format!("message {n}: {e}"))?;
        if prio != got.prio || u64::from(tag) != got.mtype {
            return Err(format!(
                "message {n}: header says prio {} type {}, payload {prio} {tag}",
                got.prio, got.mtype
            ));
        }
        if let Some(prev) = last.insert((tag, prio), seq) {
            if seq == prev {
                return Err(format!("tag {tag} prio {prio}: seq {seq} twice"));
            }
            if seq < prev {
                // The core keeps per-sender order within a priority, so the
                // tests expect none; counted (not fatal) so they can say how
                // many.
                writeln!(out, "inversion {tag} {prio} {seq} {prev}").map_err(|e| e.to_string())?;
            }
        }
        writeln!(out, "got {tag} {seq}").map_err(|e| e.to_string())?;
        n += 1;
    }
    out.flush().map_err(|e| e.to_string())
}

fn rpc_client(name: &str, id: u32, calls: u32) -> Result<(), String> {
    let mut c = Client::connect(name).map_err(|e| format!("connect: {e}"))?;
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
    println!("ok");
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let cmd = args.get(1).map(String::as_str).unwrap_or("");
    let name: String = arg(args, 2, "NAME")?;
    match cmd {
        "rpc-client" => return rpc_client(&name, arg(args, 3, "ID")?, arg(args, 4, "CALLS")?),
        "rpc-slow" => {
            let mut c = Client::connect(&name).map_err(|e| format!("connect: {e}"))?;
            println!("calling");
            std::io::stdout().flush().map_err(|e| e.to_string())?;
            let _ = c.call(2, b"slow", Duration::from_secs(60));
            return Ok(());
        }
        _ => {}
    }
    let mb = Mailbox::open(&name).map_err(|e| format!("mailbox {name:?}: {e}"))?;
    match cmd {
        "send" => send(&mb, arg(args, 3, "TAG")?, Some(arg(args, 4, "COUNT")?)),
        "send-forever" => send(&mb, arg(args, 3, "TAG")?, None),
        "recv" => recv(&mb, Selector::Any, None),
        "recv-type" => recv(
            &mb,
            Selector::Exact(arg(args, 3, "TYPE")?),
            Some(arg(args, 4, "COUNT")?),
        ),
        other => Err(format!("unknown command {other:?}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kipc-mbox-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
