//! `kipc ls`: every kipc object on this machine (the POSIX segments
//! `/dev/shm/kipc.*`), with what its header says and who is attached, and
//! beside them every System V shared memory segment (as `ipcs -m` lists
//! them, from `/proc/sysvipc/shm`).

use std::process::ExitCode;
use std::time::Duration;

use kipc_core::region::Kind;
use kipc_host::mailbox::{Mailbox, MailboxInfo};
use kipc_host::ring::{RingInfo, RingKind, ShmRing};
use kipc_host::shm::{ShmInfo, ShmSegment};
use kipc_host::sysv::SysvListing;
use serde_json::{json, Value};

use crate::CmdResult;

/// Arguments of `kipc ls`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = PRUNE_HELP)]
pub struct Args {
    /// Print JSON: {"objects": [...], "pruned": [...], "sysv": [...],
    /// "sysv_error": null}.
    #[arg(long)]
    json: bool,
    /// Remove stale rings: those whose header names at least one process and
    /// every named process has exited. See --help for what is never removed.
    #[arg(long)]
    prune: bool,
}

const PRUNE_HELP: &str = "\
--prune is conservative. It removes a ring only when its header records at \
least one attached process (producer, lane owner or consumer) and every one \
of them has provably exited (a pidfd says so). It never removes: a ring that \
records nobody (created but never used, or left cleanly: the owner is \
unknown), a segment that is not initialised (its creator is unknown; remove \
it with `kipc ring rm`), an object that is not a ring, or a segment we cannot \
open (another user's, or with unsafe permissions). Rings are re-checked just \
before removal. Mailboxes are removed only when they are RPC reply mailboxes \
(SERVER.reply.PID.N) of a client process that has exited. System V segments \
are listed, never removed.

JSON fields of each object: name, size (bytes), kind (\"spsc\", \"mpmc\", \
\"mailbox\" or null), lanes (mpmc only), slots (per lane for mpmc), \
slot_size (max message size for mailboxes), queued, bytes_in_use (mailboxes \
only), attached ([{role, lane, pid, alive}]) and error (null, or \
why the object could not be read).

System V segments (every one in this IPC namespace, whoever owns it, as \
`ipcs -m` lists them): a second table, printed when there are any. JSON \
fields of each: key (\"0x\" and 8 hex digits; 0x00000000 for IPC_PRIVATE and \
for removed segments), id (shmid), owner_uid, mode (octal string, \"0600\"), \
bytes, attached (number of attachments), removed (true once IPC_RMID was \
called while still attached), creator_pid and last_pid. sysv_error is null, \
or why /proc/sysvipc/shm could not be read (then sysv is []).";

/// Runs `kipc ls`.
pub fn run(args: Args) -> CmdResult {
    let entries = ShmSegment::list().map_err(|e| e.to_string())?;
    let mut objects = Vec::with_capacity(entries.len());
    let mut pruned = Vec::new();
    for entry in &entries {
        if let Ok(Kind::Mailbox) = kipc_host::ring::probe(&entry.name) {
            match Mailbox::open_timeout(&entry.name, Duration::ZERO) {
                Ok(mb) => {
                    let info = mb.info();
                    drop(mb);
                    if args.prune
                        && stale_reply_mailbox(&entry.name)
                        && Mailbox::unlink(&entry.name).is_ok()
                    {
                        if !args.json {
                            println!("removed stale rpc reply mailbox {:?}", entry.name);
                        }
                        pruned.push(entry.name.clone());
                        continue;
                    }
                    objects.push(mailbox_json(entry, &info));
                }
                Err(e) => objects.push(other_json(entry, &e)),
            }
            continue;
        }
        // No waiting: a ring being created shows as not initialised.
        match ShmRing::open_timeout(&entry.name, Duration::ZERO) {
            Ok(ring) => {
                let info = ring.info();
                if args.prune && ring.is_stale() {
                    drop(ring);
                    match prune(&entry.name) {
                        Ok(true) => {
                            if !args.json {
                                println!("removed stale ring {:?}", entry.name);
                            }
                            pruned.push(entry.name.clone());
                            continue;
                        }
                        Ok(false) => {}
                        Err(e) => eprintln!("kipc: {e}"),
                    }
                }
                objects.push(ring_json(entry, &info));
            }
            Err(e) => objects.push(other_json(entry, &e)),
        }
    }
    let (sysv, sysv_error) = match kipc_host::sysv::list() {
        Ok(rows) => (rows.iter().map(sysv_json).collect(), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    if args.json {
        let doc = json!({
            "objects": objects,
            "pruned": pruned,
            "sysv": sysv,
            "sysv_error": sysv_error,
        });
        println!("{doc}");
    } else {
        print_table(&objects);
        if let Some(e) = &sysv_error {
            eprintln!("kipc: sysv segments not listed: {e}");
        }
        if !sysv.is_empty() {
            println!();
            print_sysv_table(&sysv);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Re-opens and re-checks a ring judged stale, then unlinks it. `Ok(false)`
/// if it is no longer stale (someone attached meanwhile).
fn prune(name: &str) -> Result<bool, String> {
    let ring =
        ShmRing::open_timeout(name, Duration::ZERO).map_err(|e| crate::ring::describe(name, &e))?;
    if !ring.is_stale() {
        return Ok(false);
    }
    ShmRing::unlink(name).map_err(|e| crate::ring::describe(name, &e))?;
    Ok(true)
}

/// An RPC client's reply mailbox (`SERVER.reply.<pid>.<n>`) whose client
/// process has exited: nobody will read or remove it.
fn stale_reply_mailbox(name: &str) -> bool {
    kipc_host::rpc::reply_owner(name)
        .is_some_and(|(_, pid)| !i32::try_from(pid).is_ok_and(kipc_host::liveness::pid_alive))
}

fn mailbox_json(entry: &ShmInfo, info: &MailboxInfo) -> Value {
    json!({
        "name": entry.name,
        "size": entry.size,
        "kind": "mailbox",
        "lanes": Value::Null,
        "slots": info.slots,
        "slot_size": info.max_msg,
        "queued": info.queued,
        "bytes_in_use": info.bytes_in_use,
        "attached": [],
        "error": Value::Null,
    })
}

fn ring_json(entry: &ShmInfo, info: &RingInfo) -> Value {
    let lanes = match info.kind {
        RingKind::Mpmc { lanes } => json!(lanes),
        RingKind::Spsc => Value::Null,
    };
    let attached: Vec<Value> = info
        .attached
        .iter()
        .map(|a| json!({ "role": a.role.name(), "lane": a.lane, "pid": a.pid, "alive": a.alive }))
        .collect();
    json!({
        "name": entry.name,
        "size": entry.size,
        "kind": info.kind.name(),
        "lanes": lanes,
        "slots": info.slots,
        "slot_size": info.slot_size,
        "queued": info.queued,
        "attached": attached,
        "error": Value::Null,
    })
}

fn other_json(entry: &ShmInfo, e: &kipc_host::Error) -> Value {
    let kind = kipc_host::ring::probe(&entry.name)
        .ok()
        .map(|k| k.name().to_string());
    json!({
        "name": entry.name,
        "size": entry.size,
        "kind": kind,
        "lanes": Value::Null,
        "slots": Value::Null,
        "slot_size": Value::Null,
        "queued": Value::Null,
        "attached": [],
        "error": crate::ring::describe(&entry.name, e),
    })
}

fn sysv_json(s: &SysvListing) -> Value {
    json!({
        "key": format!("{:#010x}", s.key.as_raw()),
        "id": s.id,
        "owner_uid": s.uid,
        "mode": format!("{:04o}", s.mode),
        "bytes": s.size,
        "attached": s.attached,
        "removed": s.removed,
        "creator_pid": s.creator_pid,
        "last_pid": s.last_pid,
    })
}

/// The System V table, columns as `ipcs -m` names them.
fn print_sysv_table(rows: &[Value]) {
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let header = ["SYSV KEY", "SHMID", "OWNER", "MODE", "BYTES", "ATTACHED"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let attached = if r["removed"] == true {
                format!("{} (removed)", cell(&r["attached"]))
            } else {
                cell(&r["attached"])
            };
            [
                cell(&r["key"]),
                cell(&r["id"]),
                cell(&r["owner_uid"]),
                cell(&r["mode"]),
                cell(&r["bytes"]),
                attached,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.len());
        }
    }
    let line = |row: [&str; 6]| {
        let s: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(header);
    for r in &cells {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
    }
}

fn print_table(objects: &[Value]) {
    let cell = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let rows: Vec<[String; 6]> = objects
        .iter()
        .map(|o| {
            let attached = match o["error"].as_str() {
                Some(err) => err.to_string(),
                None => o["attached"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .map(|a| {
                                let lane = a["lane"]
                                    .as_u64()
                                    .map(|l| format!("[{l}]"))
                                    .unwrap_or_default();
                                let state = if a["alive"].as_bool() == Some(true) {
                                    "alive"
                                } else {
                                    "dead"
                                };
                                format!("{}{lane} {} ({state})", cell(&a["role"]), a["pid"])
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "-".to_string()),
            };
            let kind = match (o["kind"].as_str(), o["lanes"].as_u64()) {
                (Some(k), Some(l)) => format!("{k}/{l}"),
                (Some(k), None) => k.to_string(),
                _ => "?".to_string(),
            };
            [
                cell(&o["name"]),
                kind,
                cell(&o["slots"]),
                cell(&o["slot_size"]),
                cell(&o["queued"]),
                attached,
            ]
        })
        .collect();
    let header = ["NAME", "KIND", "SLOTS", "SLOT_SIZE", "QUEUED", "ATTACHED"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 5 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]);
    }
}
