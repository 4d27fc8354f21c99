//! A producer and a consumer over a named ring, in two processes.
//!
//! ```text
//! cargo run -p kipc-host --example ring               # both sides: this process and a child
//! cargo run -p kipc-host --example ring -- consume jobs   # one shell
//! cargo run -p kipc-host --example ring -- produce jobs   # another
//! ```
//!
//! The handles are owned: the receiver here is moved into a thread after the
//! `ShmRing` value that made it is gone.

use std::process::Command;
use std::time::Duration;

use kipc_host::ring::{RingConfig, ShmRing};
use kipc_host::Error;

const COUNT: u32 = 1000;

fn produce(name: &str) -> Result<(), Error> {
    let mut tx = ShmRing::open(name)?.sender()?;
    for i in 0..COUNT {
        tx.send(format!("job {i}").as_bytes())?; // blocks while the ring is full
    }
    Ok(())
}

fn consume(name: &str) -> Result<u32, Error> {
    let mut rx = ShmRing::open(name)?.receiver()?; // the ShmRing value is dropped here
    let worker = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let mut got = 0;
        while got < COUNT {
            let n = rx.recv_timeout(&mut buf, Duration::from_secs(10))?;
            assert_eq!(&buf[..n], format!("job {got}").as_bytes(), "in order");
            got += 1;
        }
        Ok(got)
    });
    worker.join().expect("consumer thread")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("produce") => return Ok(produce(&args[2])?),
        Some("consume") => {
            println!("received {}", consume(&args[2])?);
            return Ok(());
        }
        _ => {}
    }
    let name = format!("example-ring-{}", std::process::id());
    let _ring = ShmRing::create(&name, RingConfig::spsc(64, 64))?;
    // The producer is another process: this program, re-run.
    let mut child = Command::new(std::env::current_exe()?)
        .args(["produce", &name])
        .spawn()?;
    let got = consume(&name);
    if got.is_err() {
        // The producer would wait for room for ever: stop it.
        let _ = child.kill();
    }
    let status = child.wait()?;
    ShmRing::unlink(&name)?;
    println!("received {} messages; producer {status}", got?);
    assert!(status.success());
    Ok(())
}
