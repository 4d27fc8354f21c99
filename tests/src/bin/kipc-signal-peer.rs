//! The peer process of `tests/signals.rs` and `tests/signal_oracle.rs`: real
//! signals received through [`kipc_host::signals::Signals`].
//!
//! ```text
//! kipc-signal-peer oracle            run operation sequences from stdin (one a
//!                                    line), print one result line each
//! kipc-signal-peer rt-recv K N       take over SIGRTMIN+K, print "ready", receive
//!                                    N instances, check payloads 0..N in order,
//!                                    print "ok N lost L MS"
//! kipc-signal-peer burst             block USR1+USR2, print "ready", wait for a
//!                                    line on stdin, print "pending HEX", unblock,
//!                                    print "got SIGNAME" per delivery, "done"
//! kipc-signal-peer block-cont        block SIGCONT, print "ready", sleep until
//!                                    stdin closes
//! kipc-signal-peer storm N           a thread sends N SIGRTMIN+1 (payload i) and
//!                                    N SIGUSR1 to this process while the main
//!                                    thread consumes with try_next; print
//!                                    "ok RT USR1 lost L"
//! ```
//!
//! # Oracle line format
//!
//! Operations, separated by spaces, signals by number: `B:n` block, `U:n`
//! unblock, `D:n` SIG_DFL, `I:n` SIG_IGN, `H:n` kipc's handler, `K:n`
//! kill(getpid()), `Q:n:v` sigqueue(getpid(), n, v), `T:hex` sigtimedwait
//! with zero timeout over the set `hex`, `Z` block every tested signal and
//! take them all. The result line has one group per operation, separated
//! by ` | `: the operation's own result (`ok`, `EAGAIN`, `t:n:code:value`,
//! `t:-`), then `h:n:code:value` for each signal the handler received (in
//! delivery order), then `p:hex` (`sigpending()`). `tests/signal_oracle.rs`
//! renders the core model's line the same way and compares.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use kipc_core::signal::{SigSet, Signal};
use kipc_host::signals::{self, Handling, SigInfo, Signals};
#[path = "../signal_ops.rs"]
// Shared with the peer/test, each of which uses only part of it.
#[allow(dead_code)]
mod signal_ops;
use signal_ops::{tested, Op};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = match args.as_slice() {
        ["oracle"] => oracle(),
        ["rt-recv", k, n] => rt_recv(k, n),
        ["burst"] => burst(),
        ["block-cont"] => block_cont(),
        ["storm", n] => storm(n),
        _ => Err("usage: kipc-signal-peer oracle|rt-recv K N|burst|block-cont|storm N".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kipc-signal-peer: {e}");
            ExitCode::FAILURE
        }
    }
}

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn me() -> i32 {
    std::process::id() as i32
}

fn parse<T: std::str::FromStr>(s: &str) -> R<T> {
    s.parse().map_err(|_| format!("bad number {s:?}").into())
}

fn say(line: &str) -> R {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

fn fmt_info(tag: char, i: &SigInfo) -> String {
    format!("{tag}:{}:{}:{}", i.signo.number(), i.code, i.value)
}

fn oracle() -> R {
    let all = tested();
    let mut sigs = Signals::new(all)?;
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        let ops = Op::parse_line(&line).ok_or_else(|| format!("bad sequence {line:?}"))?;
        // Reset: flush everything (rule 6), back to the handler, unblocked.
        signals::set_mask(all)?;
        for sig in all {
            sigs.set_handling(sig, Handling::Ignore)?;
            sigs.set_handling(sig, Handling::Inbox)?;
        }
        let stale: Vec<_> = sigs.pending().collect();
        signals::set_mask(SigSet::EMPTY)?;
        if !stale.is_empty() || !signals::sigpending()?.is_empty() {
            return Err(format!("reset left {stale:?} behind").into());
        }
        let mut groups = Vec::with_capacity(ops.len());
        for op in &ops {
            let mut g = Vec::new();
            match *op {
                Op::Block(s) => drop(signals::block(SigSet::from(s))?),
                Op::Unblock(s) => drop(signals::unblock(SigSet::from(s))?),
                Op::Default(s) => sigs.set_handling(s, Handling::Default)?,
                Op::Ignore(s) => sigs.set_handling(s, Handling::Ignore)?,
                Op::Handler(s) => sigs.set_handling(s, Handling::Inbox)?,
                Op::Kill(s) => {
                    signals::kill(me(), s)?;
                    g.push("ok".to_string());
                }
                Op::Queue(s, v) => match signals::sigqueue(me(), s, v as usize) {
                    Ok(()) => g.push("ok".into()),
                    Err(e) if e.errno() == Some(rustix::io::Errno::AGAIN) => {
                        g.push("EAGAIN".into())
                    }
                    Err(e) => return Err(e.into()),
                },
                Op::Take(set) => match signals::sigtimedwait(set, Duration::ZERO)? {
                    Some(i) => g.push(fmt_info('t', &i)),
                    None => g.push("t:-".into()),
                },
                Op::TakeAll => {
                    signals::block(all)?;
                    while let Some(i) = signals::sigtimedwait(all, Duration::ZERO)? {
                        g.push(fmt_info('t', &i));
                    }
                }
            }
            for i in sigs.pending() {
                g.push(fmt_info('h', &i));
            }
            g.push(format!(
                "p:{:x}",
                signals::sigpending()?.intersection(all).bits()
            ));
            groups.push(g.join(" "));
        }
        writeln!(out, "{}", groups.join(" | "))?;
        out.flush()?;
    }
    Ok(())
}

fn rt_recv(k: &str, n: &str) -> R {
    let sig = signals::rt(parse(k)?).ok_or("no such real-time signal")?;
    let n: u64 = parse(n)?;
    let mut sigs = Signals::new(SigSet::from(sig))?;
    say("ready")?;
    let start = Instant::now();
    for want in 0..n {
        let i = sigs
            .wait_timeout(Duration::from_secs(30))?
            .ok_or_else(|| format!("timed out waiting for payload {want}"))?;
        if i.signo != sig || i.value != want || i.code != signals::SI_QUEUE {
            return Err(format!("expected {sig} value {want}, got {i:?}").into());
        }
    }
    let ms = start.elapsed().as_millis();
    say(&format!("ok {n} lost {} {ms}", sigs.lost()))
}

fn burst() -> R {
    let set = SigSet::from_signals(&[Signal::USR1, Signal::USR2]);
    signals::block(set)?;
    let mut sigs = Signals::new(set)?;
    say("ready")?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    say(&format!("pending {:x}", signals::sigpending()?.bits()))?;
    signals::unblock(set)?;
    // Unblocking delivered them all to the handler already.
    while let Some(i) = sigs.try_next() {
        say(&format!("got {}", signals::signal_name(i.signo)))?;
    }
    if let Some(i) = sigs.wait_timeout(Duration::from_millis(200))? {
        say(&format!("got {}", signals::signal_name(i.signo)))?;
    }
    say("done")
}

fn block_cont() -> R {
    signals::block(SigSet::from(Signal::CONT))?;
    say("ready")?;
    let mut sink = String::new();
    // Returns at EOF, when the test closes our stdin (or kills us).
    while std::io::stdin().read_line(&mut sink)? != 0 {
        sink.clear();
    }
    Ok(())
}

fn storm(n: &str) -> R {
    let n: u64 = parse(n)?;
    let rt1 = signals::rt(1).ok_or("no SIGRTMIN+1")?;
    let set = SigSet::from_signals(&[Signal::USR1, rt1]);
    let mut sigs = Signals::new(set)?;
    let pid = me();
    let sender = std::thread::spawn(move || -> Result<(), String> {
        // This thread blocks them, so every handler runs on the main thread,
        // in the middle of whatever try_next is doing.
        signals::block(set).map_err(|e| e.to_string())?;
        for v in 0..n {
            loop {
                match signals::sigqueue(pid, rt1, v as usize) {
                    Ok(()) => break,
                    Err(e) if e.errno() == Some(rustix::io::Errno::AGAIN) => {
                        std::thread::yield_now()
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            signals::kill(pid, Signal::USR1).map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    let (mut rt, mut usr1) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(60);
    while rt < n {
        if Instant::now() > deadline {
            return Err(format!("stuck: {rt} of {n} real-time signals").into());
        }
        match sigs.try_next() {
            Some(i) if i.signo == rt1 => {
                if i.value != rt {
                    return Err(format!("payload {} where {rt} was due", i.value).into());
                }
                rt += 1;
            }
            Some(_) => usr1 += 1,
            None => std::hint::spin_loop(),
        }
    }
    sender.join().map_err(|_| "sender panicked")??;
    while let Some(i) = sigs.wait_timeout(Duration::from_millis(100))? {
        if i.signo == Signal::USR1 {
            usr1 += 1;
        }
    }
    say(&format!("ok {rt} {usr1} lost {}", sigs.lost()))
}
