//! The peer process of `tests/shm_ring.rs`: one side of a [`ShmRing`].
//!
//! ```text
//! kipc-ring-peer produce TARGET TAG COUNT    send seqs 0..COUNT tagged TAG, exit 0
//! kipc-ring-peer produce-forever TARGET TAG  print "ready", send seqs 0.. until killed
//! kipc-ring-peer produce-paced TARGET TAG COUNT EVERY PAUSE_US
//!                                            as produce, pausing PAUSE_US microseconds after
//!                                            every EVERY messages (the receiver drains and waits)
//! kipc-ring-peer consume TARGET COUNT        receive COUNT messages, print tallies
//! kipc-ring-peer consume-until-gone TARGET   receive until the producers are gone
//! ```
//!
//! TARGET is a ring name, or `fd:N` for a memfd ring inherited as descriptor N.
//! Messages are [`kipc_tests::ring_payload`] messages; every one received is
//! checked (no torn payload, seqs of one tag increasing). The tallies are
//! printed as `tally TAG COUNT SUM SUM_SQ` lines, then `done TOTAL`. Any
//! failure prints one line on stderr and exits 1.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::Duration;

use kipc_host::ring::ShmRing;
use kipc_host::Error;
use kipc_tests::ring_payload::{decode, encode, Tally, MAX_LEN};

fn open(target: &str) -> Result<ShmRing, String> {
    match target.strip_prefix("fd:") {
        Some(n) => {
            let raw: i32 = n.parse().map_err(|_| format!("bad fd {n:?}"))?;
            // Refuse the standard streams and anything not open.
            if raw < 3
                || rustix::io::fcntl_getfd(
                    // SAFETY: only used for this one fcntl call while `raw` is open
                    // (or fails with EBADF if it is not).
                    unsafe { rustix::fd::BorrowedFd::borrow_raw(raw) },
                )
                .is_err()
            {
                return Err(format!("fd {raw} is not an inherited descriptor"));
            }
            // SAFETY: the parent passed us descriptor `raw` (checked open
            // above); nothing else in this process owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            ShmRing::from_fd(fd).map_err(|e| format!("fd {raw}: {e}"))
        }
        None => ShmRing::open(target).map_err(|e| format!("ring {target:?}: {e}")),
    }
}

fn num<T: std::str::FromStr>(s: Option<&String>, what: &str) -> Result<T, String> {
    s.and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("missing or bad {what}"))
}

/// Sends seqs `0..count` (forever with `None`), pausing `pause` after every
/// `every` messages (never with 0).
fn produce(
    ring: &ShmRing,
    tag: u32,
    count: Option<u64>,
    every: u64,
    pause: Duration,
) -> Result<(), String> {
    let mut tx = ring.sender().map_err(|e| format!("sender: {e}"))?;
    if count.is_none() {
        println!("ready");
        std::io::stdout().flush().map_err(|e| e.to_string())?;
    }
    let mut buf = [0u8; MAX_LEN];
    let mut seq = 0u64;
    while count.is_none_or(|c| seq < c) {
        let n = encode(tag, seq, &mut buf);
        tx.send_timeout(&buf[..n], Duration::from_secs(60))
            .map_err(|e| format!("send of seq {seq}: {e}"))?;
        seq += 1;
        if every > 0 && seq % every == 0 {
            std::thread::sleep(pause);
        }
    }
    Ok(())
}

fn consume(ring: &ShmRing, count: Option<u64>) -> Result<(), String> {
    let mut rx = ring.receiver().map_err(|e| format!("receiver: {e}"))?;
    let mut tallies: BTreeMap<u32, Tally> = BTreeMap::new();
    let mut buf = [0u8; MAX_LEN];
    let mut total = 0u64;
    while count.is_none_or(|c| total < c) {
        match rx.recv_timeout(&mut buf, Duration::from_secs(60)) {
            Ok(n) => {
                let (tag, seq) = decode(&buf[..n]).map_err(|e| format!("message {total}: {e}"))?;
                tallies.entry(tag).or_default().add(seq)?;
                total += 1;
            }
            Err(Error::PeerDead) if count.is_none() => break,
            Err(e) => return Err(format!("recv after {total} messages: {e}")),
        }
    }
    let mut out = std::io::stdout().lock();
    for (tag, t) in &tallies {
        writeln!(out, "tally {tag} {} {} {}", t.count, t.sum, t.sum_sq)
            .map_err(|e| e.to_string())?;
    }
    writeln!(out, "done {total}").map_err(|e| e.to_string())?;
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let target = args.get(2).ok_or("missing TARGET")?;
    let ring = open(target)?;
    match mode {
        "produce" => produce(
            &ring,
            num(args.get(3), "TAG")?,
            Some(num(args.get(4), "COUNT")?),
            0,
            Duration::ZERO,
        ),
        "produce-paced" => produce(
            &ring,
            num(args.get(3), "TAG")?,
            Some(num(args.get(4), "COUNT")?),
            num(args.get(5), "EVERY")?,
            Duration::from_micros(num(args.get(6), "PAUSE_US")?),
        ),
        "produce-forever" => produce(&ring, num(args.get(3), "TAG")?, None, 0, Duration::ZERO),
        "consume" => consume(&ring, Some(num(args.get(3), "COUNT")?)),
        "consume-until-gone" => consume(&ring, None),
        other => Err(format!("unknown mode {other:?}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kipc-ring-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
