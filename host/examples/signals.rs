//! Real signals from another process, received without unsafe work in a
//! handler.
//!
//! ```text
//! cargo run -p kipc-host --example signals
//! ```
//!
//! This process takes over SIGUSR1 and SIGRTMIN+1 with [`Signals`], then
//! re-runs itself as a child that sends SIGUSR1 twice with `kill` and
//! SIGRTMIN+1 three times with `sigqueue`, each carrying a value. Standard
//! signals merge while pending (one or two SIGUSR1 arrive); real-time ones
//! queue, each with its value, in send order.

use std::process::Command;
use std::time::{Duration, Instant};

use kipc_core::signal::{SigSet, Signal};
use kipc_host::signals::{self, Signals, SI_QUEUE};

/// Values the child queues with SIGRTMIN+1.
const VALUES: [usize; 3] = [10, 20, 30];

fn rt1() -> Signal {
    signals::rt(1).expect("SIGRTMIN+1 exists")
}

/// The child: signals `parent`.
fn send(parent: i32) -> Result<(), kipc_host::Error> {
    signals::kill(parent, Signal::USR1)?;
    signals::kill(parent, Signal::USR1)?;
    for v in VALUES {
        signals::sigqueue(parent, rt1(), v)?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("send") {
        return Ok(send(args[2].parse()?)?);
    }
    // Take the signals over before anyone sends them.
    let mut set = SigSet::from(Signal::USR1);
    set.insert(rt1());
    let mut sigs = Signals::new(set)?;

    let mut child = Command::new(std::env::current_exe()?)
        .args(["send", &std::process::id().to_string()])
        .spawn()?;
    let child_pid = child.id();
    let status = child.wait()?;
    assert!(status.success(), "sender: {status}");

    let (mut usr1, mut values) = (0, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    while values.len() < VALUES.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(info) = sigs.wait_timeout(left)? else {
            panic!("timed out: {usr1} SIGUSR1, values {values:?}");
        };
        assert_eq!(info.pid, child_pid, "sent by the child");
        println!(
            "{} from pid {} (code {}, value {})",
            signals::signal_name(info.signo),
            info.pid,
            info.code,
            info.value
        );
        if info.signo == Signal::USR1 {
            usr1 += 1;
        } else {
            assert_eq!(info.signo, rt1());
            assert_eq!(info.code, SI_QUEUE);
            values.push(info.value as usize);
        }
    }
    // Anything left pending is a merged SIGUSR1 at most.
    usr1 += sigs.pending().filter(|i| i.signo == Signal::USR1).count();
    assert!((1..=2).contains(&usr1), "SIGUSR1 arrived {usr1} times");
    assert_eq!(values, VALUES, "real-time signals queue, in send order");
    println!("SIGUSR1 x{usr1} (merged while pending), SIGRTMIN+1 values {values:?}");
    Ok(())
}
