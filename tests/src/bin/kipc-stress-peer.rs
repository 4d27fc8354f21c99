//! The peer process of `tests/shm_stress.rs` and `tests/shm_hostile.rs`.
//!
//! ```text
//! kipc-stress-peer produce-big TARGET TAG MAXLEN  print "ready", send big messages 0.. until killed
//! kipc-stress-peer scribble NAME MILLIS SEED      map /dev/shm/kipc.NAME raw, write garbage for MILLIS
//! kipc-stress-peer honest NAME MILLIS SEED        use the ring with timeouts for MILLIS, print stats
//! kipc-stress-peer seals fd:N COUNT               try to resize a sealed memfd, then receive COUNT messages
//! kipc-stress-peer truncate NAME SIZE             ftruncate /dev/shm/kipc.NAME to SIZE
//! kipc-stress-peer hold NAME                      attach, print "ready", wait for a stdin line, use the ring
//! ```
//!
//! TARGET is a ring name or `fd:N` (an inherited memfd ring descriptor).
//! Failures print one line on stderr and exit 1.

#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use kipc_host::ring::{Receiver, RingKind, Sender, ShmRing};
use kipc_host::Error;
use kipc_tests::ring_payload::{self, MAX_LEN};
use kipc_tests::stress::{self, encode_big, Rng};

/// The timeout of every blocking call of `honest`.
const OP_TIMEOUT: Duration = Duration::from_millis(20);
/// What a call may take beyond its timeout on a loaded 2-core machine before
/// it counts as a hang.
const SLACK: Duration = Duration::from_secs(3);

fn inherited_fd(target: &str) -> Result<Option<OwnedFd>, String> {
    let Some(n) = target.strip_prefix("fd:") else {
        return Ok(None);
    };
    let raw: i32 = n.parse().map_err(|_| format!("bad fd {n:?}"))?;
    // SAFETY: used only for this one fcntl call (EBADF if `raw` is not open).
    if raw < 3 || rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(raw) }).is_err() {
        return Err(format!("fd {raw} is not an inherited descriptor"));
    }
    // SAFETY: the parent passed us descriptor `raw` (checked open above);
    // nothing else in this process owns it.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(raw) }))
}

fn open(target: &str) -> Result<ShmRing, String> {
    match inherited_fd(target)? {
        Some(fd) => ShmRing::from_fd(fd).map_err(|e| format!("{target}: {e}")),
        None => ShmRing::open(target).map_err(|e| format!("ring {target:?}: {e}")),
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, String> {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("missing or bad {what}"))
}

fn say(line: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}

/// Sends big self-checking messages until killed.
fn produce_big(target: &str, tag: u32, max: usize) -> Result<(), String> {
    let ring = open(target)?;
    let mut tx = ring.sender().map_err(|e| format!("sender: {e}"))?;
    say("ready")?;
    let mut buf = vec![0u8; max];
    for seq in 0u64.. {
        let n = encode_big(tag, seq, &mut buf);
        tx.send_timeout(&buf[..n], Duration::from_secs(60))
            .map_err(|e| format!("send of seq {seq}: {e}"))?;
    }
    Ok(())
}

/// Maps `/dev/shm/kipc.NAME` with plain file calls (no kipc checks) and
/// writes garbage over all of it, in bursts, for `millis`.
fn scribble(name: &str, millis: u64, seed: u64) -> Result<(), String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(stress::shm_path(name))
        .map_err(|e| format!("open: {e}"))?;
    let len = file.metadata().map_err(|e| e.to_string())?.len() as usize;
    if len < 64 {
        return Err(format!(
            "segment of {len} bytes is too small to scribble on"
        ));
    }
    // SAFETY: a new shared mapping of the whole file; nothing else in this
    // process uses the address range. Bytes are accessed only through atomics.
    let base = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
            rustix::mm::MapFlags::SHARED,
            file.as_fd(),
            0,
        )
    }
    .map_err(|e| format!("mmap: {e}"))?
    .cast::<u8>();
    let header = len.min(8192);
    let u8_at = |off: usize| {
        assert!(off < len);
        // SAFETY: `off` is inside the mapping, which lives until the process
        // exits; the byte is only accessed atomically here.
        unsafe { AtomicU8::from_ptr(base.add(off)) }
    };
    let u32_at = |off: usize| {
        assert!(off + 4 <= len);
        // SAFETY: as above, and rounded down to 4-byte alignment (the mapping
        // is page-aligned).
        unsafe { AtomicU32::from_ptr(base.add(off & !3).cast()) }
    };
    let u64_at = |off: usize| {
        assert!(off + 8 <= len);
        // SAFETY: as above, rounded down to 8-byte alignment.
        unsafe { AtomicU64::from_ptr(base.add(off & !7).cast()) }
    };
    let mut rng = Rng::new(seed);
    // A copy of the honest state, restored now and then so that the honest
    // side works again and then meets light, plausible damage.
    let snapshot: Vec<u8> = (0..len).map(|i| u8_at(i).load(Ordering::Relaxed)).collect();
    say("ready")?;
    let end = Instant::now() + Duration::from_millis(millis);
    let mut writes = 0u64;
    while Instant::now() < end {
        // A storm of writes, then a quiet spell in which the honest side
        // may make progress (or keep tripping over what was left).
        if rng.below(3) == 0 {
            for (i, &b) in snapshot.iter().enumerate() {
                u8_at(i).store(b, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_micros(rng.below(5_000)));
        }
        let light = rng.below(2) == 0;
        let storm = Instant::now() + Duration::from_micros(rng.below(30_000) + 500);
        while Instant::now() < storm {
            for _ in 0..if light { 1 + rng.below(4) } else { 64 } {
                let any = rng.below((len - 8) as u64) as usize;
                let hdr = rng.below((header - 8) as u64) as usize;
                match rng.below(8) {
                    0 => u8_at(any).store(rng.next_u32() as u8, Ordering::Relaxed),
                    1 => u32_at(hdr).store(rng.next_u32(), Ordering::Relaxed),
                    2 => {
                        let delta = [1u32, 2, u32::MAX, u32::MAX - 1, 1 << 31, 64, 256]
                            [rng.below(7) as usize];
                        let w = u32_at(hdr);
                        w.store(
                            w.load(Ordering::Relaxed).wrapping_add(delta),
                            Ordering::Relaxed,
                        );
                    }
                    3 => {
                        let w = u64_at(hdr);
                        let v = match rng.below(3) {
                            0 => rng.next_u64(),
                            1 => w.load(Ordering::Relaxed).wrapping_add(1 + rng.below(300)),
                            _ => w.load(Ordering::Relaxed).wrapping_sub(1 + rng.below(300)),
                        };
                        w.store(v, Ordering::Relaxed);
                    }
                    4 => u32_at(hdr).store(rng.below(4) as u32, Ordering::Relaxed),
                    5 => {
                        // Slot length words and the like, anywhere.
                        let v = [0, 1, 63, 64, 65, 4096, u32::MAX, 1 << 31][rng.below(8) as usize];
                        u32_at(any).store(v, Ordering::Relaxed);
                    }
                    6 => {
                        let n = rng.below(256) as usize;
                        let b = rng.next_u32() as u8;
                        for off in any..(any + n).min(len) {
                            u8_at(off).store(b, Ordering::Relaxed);
                        }
                    }
                    _ => u64_at(any).store(rng.next_u64(), Ordering::Relaxed),
                }
                writes += 1;
            }
            if light {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(20_000)));
    }
    say(&format!("writes {writes}"))
}

/// Per-operation statistics of `honest`.
#[derive(Default)]
struct Stat {
    count: u64,
    ok: u64,
    err: u64,
    max: Duration,
    over: u64,
}

struct Honest {
    name: String,
    stats: BTreeMap<&'static str, Stat>,
    errors: BTreeMap<String, u64>,
    intact: u64,
    garbage: u64,
    seq: u64,
}

impl Honest {
    /// Runs `f`, timing it against `bound`, and records its outcome.
    fn op<T>(
        &mut self,
        what: &'static str,
        blocking: bool,
        f: impl FnOnce() -> Result<T, Error>,
    ) -> Option<T> {
        let bound = if blocking { OP_TIMEOUT + SLACK } else { SLACK };
        let start = Instant::now();
        let r = f();
        let took = start.elapsed();
        let s = self.stats.entry(what).or_default();
        s.count += 1;
        s.max = s.max.max(took);
        if took > bound {
            s.over += 1;
        }
        match r {
            Ok(v) => {
                s.ok += 1;
                Some(v)
            }
            Err(e) => {
                s.err += 1;
                let dbg = format!("{e:?}");
                // Keep the `what` of corruption reports, drop varying numbers.
                let kind = if dbg.contains("what") {
                    dbg
                } else {
                    dbg.split([' ', '{', ',']).next().unwrap_or("").to_string()
                };
                *self.errors.entry(kind).or_default() += 1;
                None
            }
        }
    }

    fn check(&mut self, msg: &[u8]) {
        match ring_payload::decode(msg) {
            Ok(_) => self.intact += 1,
            Err(_) => self.garbage += 1,
        }
    }
}

/// Uses the ring (both sides, in this one process) with timeouts for
/// `millis` while a scribbler damages it; reports every operation's outcome
/// and its longest duration.
fn honest(name: &str, millis: u64, seed: u64) -> Result<(), String> {
    let ring = ShmRing::open(name).map_err(|e| format!("ring {name:?}: {e}"))?;
    let mpmc = matches!(ring.kind(), RingKind::Mpmc { .. });
    let mut h = Honest {
        name: name.to_string(),
        stats: BTreeMap::new(),
        errors: BTreeMap::new(),
        intact: 0,
        garbage: 0,
        seq: 0,
    };
    let mut senders: Vec<Option<Sender>> = Vec::new();
    for _ in 0..if mpmc { 2 } else { 1 } {
        senders.push(h.op("sender", false, || ring.sender()));
    }
    let mut rx: Option<Receiver> = h.op("receiver", false, || ring.receiver());
    say(&format!(
        "ready overflow-checks={}",
        if stress::overflow_checks_on() {
            "on"
        } else {
            "off"
        }
    ))?;
    let mut rng = Rng::new(seed);
    let mut buf = [0u8; MAX_LEN];
    let mut out = vec![0u8; ring.slot_size().max(1)];
    let end = Instant::now() + Duration::from_millis(millis);
    while Instant::now() < end {
        let which = rng.below(senders.len() as u64) as usize;
        let n = ring_payload::encode(7, h.seq, &mut buf);
        let msg = buf[..n.min(ring.slot_size())].to_vec();
        h.seq += 1;
        match rng.below(12) {
            0 | 1 => {
                if let Some(tx) = senders[which].as_mut() {
                    h.op("try_send", false, || tx.try_send(&msg));
                }
            }
            2 | 3 => {
                if let Some(tx) = senders[which].as_mut() {
                    h.op("send_timeout", true, || tx.send_timeout(&msg, OP_TIMEOUT));
                }
            }
            4 | 5 => {
                if let Some(r) = rx.as_mut() {
                    if let Some(k) = h.op("try_recv", false, || r.try_recv(&mut out)) {
                        h.check(&out[..k]);
                    }
                }
            }
            6 | 7 => {
                if let Some(r) = rx.as_mut() {
                    if let Some(k) = h.op("recv_timeout", true, || {
                        r.recv_timeout(&mut out, OP_TIMEOUT)
                    }) {
                        h.check(&out[..k]);
                    }
                }
            }
            8 if !mpmc => {
                if let Some(tx) = senders[which].as_mut() {
                    h.op("send_with", true, || {
                        tx.send_with(msg.len(), Some(OP_TIMEOUT), |w| {
                            let _ = w.write_at(0, &msg);
                        })
                    });
                }
            }
            9 => {
                // Let go of a side and claim it again.
                if rng.below(2) == 0 {
                    drop(senders[which].take());
                    senders[which] = h.op("sender", false, || ring.sender());
                } else {
                    drop(rx.take());
                    rx = h.op("receiver", false, || ring.receiver());
                }
            }
            10 => {
                h.op("info", false, || {
                    let info = ring.info();
                    let _ = (ring.queued(), ring.is_stale(), info.attached.len());
                    Ok(())
                });
            }
            _ => {
                // A second attach reads the damaged header from scratch.
                let name = h.name.clone();
                let again = h.op("open", false, || {
                    ShmRing::open_timeout(&name, Duration::ZERO)
                });
                if let Some(again) = again {
                    let mut tmp = [0u8; MAX_LEN];
                    if let Some(mut r) = h.op("receiver", false, || again.receiver()) {
                        h.op("try_recv", false, || r.try_recv(&mut tmp));
                    }
                }
            }
        }
    }
    drop(rx);
    drop(senders);
    let mut lines = Vec::new();
    for (what, s) in &h.stats {
        lines.push(format!(
            "op {what} {} {} {} {} {}",
            s.count,
            s.ok,
            s.err,
            s.max.as_micros(),
            s.over
        ));
    }
    for (kind, n) in &h.errors {
        lines.push(format!("err {n} {kind}"));
    }
    lines.push(format!("data {} {}", h.intact, h.garbage));
    lines.push("done".to_string());
    say(&lines.join("\n"))
}

/// Tries to change the size and seals of a sealed memfd ring, reports each
/// errno, then receives `count` messages through it.
fn seals(target: &str, count: u64) -> Result<(), String> {
    let fd = inherited_fd(target)?.ok_or("seals needs fd:N")?;
    let size = rustix::fs::fstat(&fd).map_err(|e| e.to_string())?.st_size as u64;
    let show = |r: rustix::io::Result<()>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("errno {}", e.raw_os_error()),
    };
    say(&format!("shrink {}", show(rustix::fs::ftruncate(&fd, 0))))?;
    say(&format!(
        "shrink-1 {}",
        show(rustix::fs::ftruncate(&fd, size - 1))
    ))?;
    say(&format!(
        "grow {}",
        show(rustix::fs::ftruncate(&fd, size + 4096))
    ))?;
    say(&format!(
        "fallocate-grow {}",
        show(rustix::fs::fallocate(
            &fd,
            rustix::fs::FallocateFlags::empty(),
            size,
            4096
        ))
    ))?;
    say(&format!(
        "add-seal {}",
        show(rustix::fs::fcntl_add_seals(
            &fd,
            rustix::fs::SealFlags::WRITE
        ))
    ))?;
    let after = rustix::fs::fstat(&fd).map_err(|e| e.to_string())?.st_size as u64;
    say(&format!("size {size} {after}"))?;
    let ring = ShmRing::from_fd(fd).map_err(|e| format!("from_fd: {e}"))?;
    let mut rx = ring.receiver().map_err(|e| format!("receiver: {e}"))?;
    let mut buf = [0u8; MAX_LEN];
    for seq in 0..count {
        let n = rx
            .recv_timeout(&mut buf, Duration::from_secs(30))
            .map_err(|e| format!("recv {seq}: {e}"))?;
        let got = ring_payload::decode(&buf[..n]).map_err(|e| format!("message {seq}: {e}"))?;
        if got != (4, seq) {
            return Err(format!("expected (4, {seq}), got {got:?}"));
        }
    }
    say(&format!("done {count}"))
}

fn truncate(name: &str, size: u64) -> Result<(), String> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(stress::shm_path(name))
        .map_err(|e| format!("open: {e}"))?;
    file.set_len(size).map_err(|e| format!("ftruncate: {e}"))?;
    say("truncated")
}

fn hold(name: &str) -> Result<(), String> {
    let ring = ShmRing::open(name).map_err(|e| format!("ring {name:?}: {e}"))?;
    let mut tx = ring.sender().map_err(|e| format!("sender: {e}"))?;
    let mut rx = ring.receiver().map_err(|e| format!("receiver: {e}"))?;
    let mut buf = [0u8; MAX_LEN];
    tx.try_send(b"before").map_err(|e| e.to_string())?;
    say("ready")?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    for _ in 0..1000 {
        let _ = tx.try_send(b"after");
        let _ = rx.try_recv(&mut buf);
    }
    say("survived")
}

fn run(args: &[String]) -> Result<(), String> {
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let target = args.get(2).ok_or("missing TARGET")?;
    match mode {
        "produce-big" => produce_big(target, arg(args, 3, "TAG")?, arg(args, 4, "MAXLEN")?),
        "scribble" => scribble(target, arg(args, 3, "MILLIS")?, arg(args, 4, "SEED")?),
        "honest" => honest(target, arg(args, 3, "MILLIS")?, arg(args, 4, "SEED")?),
        "seals" => seals(target, arg(args, 3, "COUNT")?),
        "truncate" => truncate(target, arg(args, 3, "SIZE")?),
        "hold" => hold(target),
        other => Err(format!("unknown mode {other:?}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kipc-stress-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
