//! What the two processes say to each other over any [`Channel`].
//!
//! Byte 0 of every message is a tag; the rest is payload (a fixed pattern).
//!
//! | step | client (parent, timing)            | server (peer)                           |
//! |------|------------------------------------|-----------------------------------------|
//! | 1    | waits for `READY`                  | sends `READY` once its side is set up   |
//! | 2    | warm-up, then timed `PING`s        | echoes each `PING` unchanged            |
//! | 3    | streams `DATA` (count or time cap), then `END` | counts `DATA`; on `END` sends `ACK` |
//! | 4    | (idle check) sends `IDLE`, sleeps, sends `WAKE` | after `IDLE`, blocks in receive; on `WAKE` sends `IDLE` with its CPU time |
//! | 5    | sends `QUIT`                       | returns                                 |
//!
//! The idle check (step 4, only for mechanisms that block) measures what a
//! receiver that has nothing to receive costs: the peer's own CPU time
//! (`CLOCK_PROCESS_CPUTIME_ID`, what `getrusage` sums as utime + stime)
//! across its wait, against the wall time of that wait.
//!
//! The `ACK` carries, when the channel's messages have room (24 bytes or
//! more), the count received (bytes 8..16) and the receiver's
//! `CLOCK_MONOTONIC` time of the last receipt in ns (bytes 16..24); the
//! client then times the stream from its first send to that receipt, with
//! the receiver's own count (which is what makes a lossy UDP stream honest).
//! Word-sized channels carry only the tag; the client then uses its own
//! count and its receipt of the `ACK`.
//!
//! The client's messages are all the same pattern (byte `i` is `i as u8`)
//! under a changing tag. Where a channel can write a message in place (the
//! kipc rings: [`Channel::send_with`]), the client writes each one straight
//! into the slot from a constant 4 KiB block ([`fill_message`]), so no
//! message-sized buffer is staged and copied; elsewhere, and with
//! `--copy-send`, it changes the tag of one prebuilt message and sends that
//! ([`Channel::send`]). The peer echoes what it received with `send`.

use std::io;
use std::time::{Duration, Instant};

use super::stats::{Rtt, Summary, Throughput};

/// The peer is set up.
pub const READY: u8 = 1;
/// Echo me.
pub const PING: u8 = 2;
/// Count me.
pub const DATA: u8 = 3;
/// End of the stream: send an `ACK`.
pub const END: u8 = 4;
/// The stream's receipt.
pub const ACK: u8 = 5;
/// Stop.
pub const QUIT: u8 = 6;
/// Idle check: nothing follows for a while (and the reply to `WAKE`).
pub const IDLE: u8 = 7;
/// Idle check over: report your CPU time.
pub const WAKE: u8 = 8;

/// Size of an `ACK` that carries a count and a time.
pub const ACK_FULL: usize = 24;

/// One direction-agnostic message channel between the two processes.
pub trait Channel {
    /// Sends `msg` as one message, blocking (or spinning) until it is taken.
    fn send(&mut self, msg: &[u8]) -> io::Result<()>;
    /// Receives one message into `buf` and returns its length. Byte-stream
    /// channels read exactly `buf.len()` bytes. A receive timeout shows as
    /// `WouldBlock`/`TimedOut`.
    ///
    /// Always a copy out: a receiver never holds a reference into bytes the
    /// peer can write.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Sends one `len`-byte message that `fill` writes, blocking (or
    /// spinning) as [`send`](Self::send) does. Channels with slots in shared
    /// memory write it in place (see [`writes_in_place`](Self::writes_in_place));
    /// this default fills a private zeroed buffer, allocated per call, and
    /// calls `send`, so the client uses `send` with its prebuilt message
    /// instead where a channel does not write in place.
    ///
    /// # Errors
    ///
    /// What `fill` returns (nothing is sent then, unless the channel writes
    /// in place: a reserved slot cannot be given back, so the message goes
    /// out as far as it was written), or what sending reports.
    fn send_with(&mut self, len: usize, fill: Fill<'_>) -> io::Result<()> {
        let mut buf = vec![0u8; len];
        fill(&mut BufWriter(&mut buf))?;
        self.send(&buf)
    }
    /// Whether [`send_with`](Self::send_with) writes the message in place
    /// (no private buffer, no second copy).
    fn writes_in_place(&self) -> bool {
        false
    }
}

/// What [`Channel::send_with`] hands its `fill`: the message being written.
pub trait MsgWriter {
    /// Length of the message (every byte of it is to be written).
    fn msg_len(&self) -> usize;
    /// Copies `bytes` into the message at `offset`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the write would end past the message; nothing is
    /// written then.
    fn write_at(&mut self, offset: usize, bytes: &[u8]) -> io::Result<()>;
}

/// The closure [`Channel::send_with`] calls to write a message.
pub type Fill<'a> = &'a mut dyn FnMut(&mut dyn MsgWriter) -> io::Result<()>;

/// A [`MsgWriter`] over a private buffer (the message is the whole slice).
#[derive(Debug)]
pub struct BufWriter<'a>(pub &'a mut [u8]);

impl MsgWriter for BufWriter<'_> {
    fn msg_len(&self) -> usize {
        self.0.len()
    }

    fn write_at(&mut self, offset: usize, bytes: &[u8]) -> io::Result<()> {
        let len = self.0.len();
        let dst = offset
            .checked_add(bytes.len())
            .and_then(|end| self.0.get_mut(offset..end))
            .ok_or_else(|| past_end(offset, bytes.len(), len))?;
        dst.copy_from_slice(bytes);
        Ok(())
    }
}

/// The error of a write past a message's end.
pub fn past_end(offset: usize, n: usize, len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("write of {n} bytes at {offset} ends past the {len}-byte message"),
    )
}

/// The bytes every message carries after its tag: byte `i` is `i as u8`. A
/// block of whole 256-byte periods, so any run of the pattern starts in it
/// at `offset % 256`.
const PATTERN: [u8; 4096] = {
    let mut p = [0u8; 4096];
    let mut i = 0;
    while i < p.len() {
        p[i] = i as u8;
        i += 1;
    }
    p
};

/// The first 256 bytes of a message for each tag below 16: the pattern
/// with byte 0 replaced by the tag, so a message's first run (all of a
/// small one) is one write.
const TAGGED: [[u8; 256]; 16] = {
    let mut t = [[0u8; 256]; 16];
    let mut tag = 0;
    while tag < t.len() {
        let mut i = 1;
        while i < 256 {
            t[tag][i] = i as u8;
            i += 1;
        }
        t[tag][0] = tag as u8;
        tag += 1;
    }
    t
};

/// Writes a whole message: `tag` at byte 0, then byte `i` = `i as u8`
/// (the pattern of [`client`]'s messages), in runs of up to 4 KiB from
/// constant blocks, so nothing message-sized is staged anywhere.
///
/// # Errors
///
/// What the writer reports (never, for a writer of `msg_len()` bytes).
pub fn fill_message(w: &mut dyn MsgWriter, tag: u8) -> io::Result<()> {
    let len = w.msg_len();
    let mut offset = match TAGGED.get(usize::from(tag)) {
        Some(first) => {
            let n = len.min(first.len());
            w.write_at(0, &first[..n])?;
            n
        }
        None if len > 0 => {
            w.write_at(0, &[tag])?;
            1
        }
        None => 0,
    };
    while offset < len {
        let start = offset % 256;
        let n = (len - offset).min(PATTERN.len() - start);
        w.write_at(offset, &PATTERN[start..start + n])?;
        offset += n;
    }
    Ok(())
}

/// How the client puts its messages on the channel: written in place with
/// [`Channel::send_with`], or the copying path every byte-stream and
/// datagram mechanism uses (one prebuilt message whose tag byte changes,
/// copied in by [`Channel::send`]).
#[derive(Debug)]
struct Outbox {
    /// The prebuilt message (the copying path; also what an echo must equal).
    msg: Vec<u8>,
    /// Write in place.
    in_place: bool,
}

impl Outbox {
    fn new(size: usize, in_place: bool) -> io::Result<Self> {
        let mut msg = vec![0u8; size];
        fill_message(&mut BufWriter(&mut msg), 0)?;
        Ok(Outbox { msg, in_place })
    }

    fn send(&mut self, ch: &mut dyn Channel, tag: u8) -> io::Result<()> {
        if self.in_place {
            ch.send_with(self.msg.len(), &mut |w| fill_message(w, tag))
        } else {
            self.msg[0] = tag;
            ch.send(&self.msg)
        }
    }
}

/// How much to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Message size in bytes.
    pub size: usize,
    /// Size of the `ACK` message (see the module docs).
    pub ack_len: usize,
    /// Most timed round trips.
    pub iters: u64,
    /// Most time for the timed round trips.
    pub duration: Duration,
    /// Stream budget, `None` for ping-pong-only mechanisms.
    pub stream: Option<StreamBudget>,
    /// How long the idle check keeps the peer waiting, `None`: no check.
    /// Needs `ack_len >= ACK_FULL`.
    pub idle: Option<Duration>,
    /// Write the client's messages in place ([`Channel::send_with`]) where
    /// the channel can; `false`: always the copying path (`--copy-send`).
    pub in_place: bool,
}

/// Most messages and time for the stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamBudget {
    /// Most messages.
    pub max_msgs: u64,
    /// Most time.
    pub time: Duration,
}

/// What the client measured.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    /// Round trips.
    pub rtt: Summary,
    /// Streaming, if the mechanism streams.
    pub stream: Option<Throughput>,
    /// The idle check: the waiting peer's CPU time as a percentage of its
    /// wall time (100 = one core busy), if checked.
    pub idle_cpu_pct: Option<f64>,
    /// Whether the client wrote its messages in place (else it copied a
    /// prebuilt one in with `send`).
    pub in_place: bool,
}

/// This process's CPU time (user + system) in ns.
pub fn cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

/// `CLOCK_MONOTONIC` in ns (the clock `Instant` uses, comparable across
/// processes).
pub fn mono_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

fn bad_tag(want: u8, got: u8) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("protocol error: expected message tag {want}, got {got}"),
    )
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The client: warm-up, timed round trips, stream, quit. `progress` is
/// called now and then with the number of round trips done.
///
/// # Errors
///
/// Whatever the channel reports (a dead peer, a lost datagram's timeout), or
/// a protocol error.
pub fn client(
    ch: &mut dyn Channel,
    plan: &Plan,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Measurement> {
    let size = plan.size;
    let mut out = Outbox::new(size, plan.in_place && ch.writes_in_place())?;
    let mut buf = vec![0u8; size.max(plan.ack_len)];
    ch.recv(&mut buf[..size])?;
    if buf[0] != READY {
        return Err(bad_tag(READY, buf[0]));
    }

    // Warm-up: page faults, caches, the scheduler's idea of us. Written in
    // place, the first echo must be the prebuilt message byte for byte
    // (`fill` wrote all of it; word-sized channels never write in place).
    let warm_until = Instant::now() + (plan.duration / 10).min(Duration::from_millis(200));
    for i in 0..plan.iters.clamp(10, 2_000) {
        out.send(ch, PING)?;
        let n = ch.recv(&mut buf[..size])?;
        if i == 0 && out.in_place {
            out.msg[0] = PING;
            if buf[..n] != out.msg[..] {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "protocol error: the echo differs from the message sent",
                ));
            }
        }
        if i % 16 == 15 && Instant::now() > warm_until {
            break;
        }
    }

    let mut rtt = Rtt::new();
    let end = Instant::now() + plan.duration;
    for i in 0..plan.iters {
        let t0 = Instant::now();
        out.send(ch, PING)?;
        ch.recv(&mut buf[..size])?;
        let t1 = Instant::now();
        if buf[0] != PING {
            return Err(bad_tag(PING, buf[0]));
        }
        rtt.record(t1.duration_since(t0).as_nanos() as u64);
        if i % 256 == 255 {
            progress(i + 1);
            if t1 > end {
                break;
            }
        }
    }
    let Some(summary) = rtt.summary() else {
        return Err(io::Error::other("no round trip completed"));
    };

    let stream = match plan.stream {
        None => None,
        Some(budget) => Some(stream(ch, plan, budget, &mut out, &mut buf)?),
    };
    let idle_cpu_pct = match plan.idle {
        Some(wait) if plan.ack_len >= ACK_FULL => {
            Some(idle_check(ch, plan, wait, &mut out, &mut buf)?)
        }
        _ => None,
    };
    out.send(ch, QUIT)?;
    Ok(Measurement {
        rtt: summary,
        stream,
        idle_cpu_pct,
        in_place: out.in_place,
    })
}

/// Leaves the peer waiting for `wait`, then asks what that cost it.
fn idle_check(
    ch: &mut dyn Channel,
    plan: &Plan,
    wait: Duration,
    out: &mut Outbox,
    buf: &mut [u8],
) -> io::Result<f64> {
    out.send(ch, IDLE)?;
    std::thread::sleep(wait);
    out.send(ch, WAKE)?;
    let reply = &mut buf[..plan.ack_len];
    ch.recv(reply)?;
    if reply[0] != IDLE {
        return Err(bad_tag(IDLE, reply[0]));
    }
    let (cpu, wall) = (read_u64(&reply[8..16]), read_u64(&reply[16..24]));
    Ok(idle_pct(cpu, wall))
}

/// CPU time as a percentage of wall time.
pub fn idle_pct(cpu_ns: u64, wall_ns: u64) -> f64 {
    cpu_ns as f64 * 100.0 / wall_ns.max(1) as f64
}

fn stream(
    ch: &mut dyn Channel,
    plan: &Plan,
    budget: StreamBudget,
    out: &mut Outbox,
    buf: &mut [u8],
) -> io::Result<Throughput> {
    let deadline = Instant::now() + budget.time;
    let start_ns = mono_ns();
    let mut sent = 0u64;
    while sent < budget.max_msgs {
        out.send(ch, DATA)?;
        sent += 1;
        if sent % 64 == 0 && Instant::now() > deadline {
            break;
        }
    }
    out.send(ch, END)?;
    let ack = &mut buf[..plan.ack_len];
    ch.recv(ack)?;
    let acked_ns = mono_ns();
    if ack[0] != ACK {
        return Err(bad_tag(ACK, ack[0]));
    }
    let (msgs, last_ns) = if plan.ack_len >= ACK_FULL {
        (read_u64(&ack[8..16]), read_u64(&ack[16..24]))
    } else {
        (sent, acked_ns)
    };
    Ok(Throughput {
        msgs,
        elapsed_ns: last_ns.saturating_sub(start_ns).max(1),
        size: plan.size,
    })
}

/// The server: `READY`, then echo `PING`s, count `DATA`, `ACK` an `END`,
/// return on `QUIT`.
///
/// A receive timeout during a stream (a UDP `END` lost) ends the stream as
/// an `END` would; at any other time it is ignored.
///
/// # Errors
///
/// Whatever the channel reports, or an unknown tag.
pub fn server(ch: &mut dyn Channel, plan: &Plan) -> io::Result<()> {
    let size = plan.size;
    let mut buf = vec![0u8; size.max(plan.ack_len)];
    buf[..size]
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = i as u8);
    buf[0] = READY;
    ch.send(&buf[..size])?;
    let (mut count, mut last_ns) = (0u64, 0u64);
    loop {
        let tag = match ch.recv(&mut buf[..size]) {
            Ok(_) => buf[0],
            Err(e) if is_timeout(&e) && count > 0 => END,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e),
        };
        match tag {
            PING => ch.send(&buf[..size])?,
            DATA => {
                count += 1;
                if count % 64 == 0 {
                    last_ns = mono_ns();
                }
            }
            END => {
                if buf[0] == END {
                    last_ns = mono_ns();
                }
                let ack = &mut buf[..plan.ack_len];
                ack[0] = ACK;
                if plan.ack_len >= ACK_FULL {
                    ack[8..16].copy_from_slice(&count.to_ne_bytes());
                    ack[16..24].copy_from_slice(&last_ns.to_ne_bytes());
                }
                ch.send(ack)?;
                count = 0;
            }
            IDLE => {
                // Nothing comes until WAKE: this receive is the idle wait.
                let (cpu0, wall0) = (cpu_ns(), mono_ns());
                let tag = loop {
                    match ch.recv(&mut buf[..size]) {
                        Ok(_) => break buf[0],
                        Err(e) if is_timeout(&e) => continue,
                        Err(e) => return Err(e),
                    }
                };
                let (cpu, wall) = (
                    cpu_ns().saturating_sub(cpu0),
                    mono_ns().saturating_sub(wall0),
                );
                if tag != WAKE {
                    return Err(bad_tag(WAKE, tag));
                }
                let reply = &mut buf[..plan.ack_len];
                reply[0] = IDLE;
                if plan.ack_len >= ACK_FULL {
                    reply[8..16].copy_from_slice(&cpu.to_ne_bytes());
                    reply[16..24].copy_from_slice(&wall.to_ne_bytes());
                }
                ch.send(reply)?;
            }
            QUIT => return Ok(()),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("protocol error: unknown message tag {other}"),
                ))
            }
        }
    }
}

fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_ne_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// An in-process channel over two std mpsc queues.
    struct Local {
        tx: mpsc::Sender<Vec<u8>>,
        rx: mpsc::Receiver<Vec<u8>>,
    }

    impl Channel for Local {
        fn send(&mut self, msg: &[u8]) -> io::Result<()> {
            self.tx
                .send(msg.to_vec())
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let m = self
                .rx
                .recv()
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
            buf[..m.len()].copy_from_slice(&m);
            Ok(m.len())
        }
    }

    fn pair() -> (Local, Local) {
        let (a_tx, b_rx) = mpsc::channel();
        let (b_tx, a_rx) = mpsc::channel();
        (Local { tx: a_tx, rx: a_rx }, Local { tx: b_tx, rx: b_rx })
    }

    /// A channel that "writes in place" into a slot it owns (a buffer that
    /// keeps what the last message left, as a ring slot does), counting
    /// which send path the client took.
    struct InPlace {
        inner: Local,
        slot: Vec<u8>,
        with: u64,
        plain: u64,
    }

    impl Channel for InPlace {
        fn send(&mut self, msg: &[u8]) -> io::Result<()> {
            self.plain += 1;
            self.inner.send(msg)
        }
        fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.inner.recv(buf)
        }
        fn send_with(&mut self, len: usize, fill: Fill<'_>) -> io::Result<()> {
            self.with += 1;
            self.slot.resize(len, 0xEE);
            fill(&mut BufWriter(&mut self.slot))?;
            self.inner.send(&self.slot)
        }
        fn writes_in_place(&self) -> bool {
            true
        }
    }

    #[test]
    fn default_send_with_sends_exactly_len_bytes_that_fill_wrote() {
        let (mut a, mut b) = pair();
        a.send_with(5, &mut |w| {
            assert_eq!(w.msg_len(), 5);
            w.write_at(1, b"bcde")?;
            w.write_at(0, b"a")
        })
        .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(b.recv(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"abcde");
        // Bytes fill leaves alone are zero, not stale.
        a.send_with(3, &mut |w| w.write_at(2, b"z")).unwrap();
        assert_eq!(b.recv(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"\0\0z");
    }

    #[test]
    fn a_failing_fill_sends_nothing_and_writes_past_the_end_are_refused() {
        let (mut a, b) = pair();
        let e = a.send_with(4, &mut |w| w.write_at(2, b"xyz")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(b.rx.try_recv().is_err());
        let mut buf = [0u8; 4];
        assert!(BufWriter(&mut buf).write_at(usize::MAX, b"x").is_err());
        assert!(BufWriter(&mut buf).write_at(4, b"").is_ok());
        assert_eq!(buf, [0; 4]);
    }

    #[test]
    fn fill_message_writes_the_tag_then_the_pattern_at_every_size() {
        for tag in [PING, QUIT, 15, 16, 200] {
            for len in [0, 1, 2, 255, 256, 257, 4095, 4096, 4097, 65_536, 70_001] {
                let mut m = vec![0xEEu8; len];
                fill_message(&mut BufWriter(&mut m), tag).unwrap();
                for (i, &b) in m.iter().enumerate() {
                    let want = if i == 0 { tag } else { i as u8 };
                    assert_eq!(b, want, "byte {i} of {len}, tag {tag}");
                }
            }
        }
    }

    #[test]
    fn client_writes_in_place_when_the_channel_can_and_not_with_copy_send() {
        for (in_place, size) in [(true, 64), (true, 65_536), (false, 65_536)] {
            let (c, mut s) = pair();
            let mut c = InPlace {
                inner: c,
                slot: Vec::new(),
                with: 0,
                plain: 0,
            };
            let p = Plan {
                size,
                iters: 50,
                in_place,
                ..plan(64)
            };
            let t = std::thread::spawn(move || server(&mut s, &p));
            let m = client(&mut c, &p, &mut |_| {}).unwrap();
            t.join().unwrap().unwrap();
            assert_eq!(m.in_place, in_place);
            assert_eq!(m.stream.unwrap().msgs, 1000);
            assert_eq!(m.stream.unwrap().size, size);
            // Every client message took the one path asked for.
            let (used, unused) = if in_place {
                (c.with, c.plain)
            } else {
                (c.plain, c.with)
            };
            assert!(used > 1000, "{used}");
            assert_eq!(unused, 0);
        }
    }

    #[test]
    fn a_channel_that_garbles_in_place_messages_is_caught() {
        /// Writes in place but drops the last byte's write.
        struct Garbling(InPlace);
        impl Channel for Garbling {
            fn send(&mut self, msg: &[u8]) -> io::Result<()> {
                self.0.send(msg)
            }
            fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.recv(buf)
            }
            fn send_with(&mut self, len: usize, fill: Fill<'_>) -> io::Result<()> {
                let mut m = vec![0u8; len];
                fill(&mut BufWriter(&mut m))?;
                m[len - 1] ^= 1;
                self.0.inner.send(&m)
            }
            fn writes_in_place(&self) -> bool {
                true
            }
        }
        let (c, mut s) = pair();
        let mut c = Garbling(InPlace {
            inner: c,
            slot: Vec::new(),
            with: 0,
            plain: 0,
        });
        let p = plan(64);
        let t = std::thread::spawn(move || server(&mut s, &p));
        let e = client(&mut c, &p, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("echo differs"), "{e}");
        drop(c);
        // The server sees its peer hang up.
        assert!(t.join().unwrap().is_err());
    }

    fn plan(ack_len: usize) -> Plan {
        Plan {
            size: 64,
            ack_len,
            iters: 500,
            duration: Duration::from_secs(30),
            stream: Some(StreamBudget {
                max_msgs: 1000,
                time: Duration::from_secs(30),
            }),
            idle: Some(Duration::from_millis(20)),
            in_place: true,
        }
    }

    #[test]
    fn client_and_server_agree_on_counts() {
        for ack_len in [64, 8] {
            let (mut c, mut s) = pair();
            let p = plan(ack_len);
            let t = std::thread::spawn(move || server(&mut s, &p));
            let m = client(&mut c, &p, &mut |_| {}).unwrap();
            t.join().unwrap().unwrap();
            assert_eq!(m.rtt.samples, 500);
            let st = m.stream.unwrap();
            assert_eq!(st.msgs, 1000);
            assert!(st.elapsed_ns > 0 && st.msgs_per_s() > 0.0);
            // The idle check needs room for two numbers in the reply.
            assert_eq!(m.idle_cpu_pct.is_some(), ack_len >= ACK_FULL);
            assert!(m.idle_cpu_pct.unwrap_or(0.0) >= 0.0);
        }
    }

    #[test]
    fn a_peer_that_hangs_up_is_an_error_not_a_panic() {
        let (mut c, s) = pair();
        drop(s);
        assert!(client(&mut c, &plan(64), &mut |_| {}).is_err());
    }
}
