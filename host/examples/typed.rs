//! Typed messages: a `#[repr(C)]` struct over a named ring between two
//! processes, with the message type recorded in the ring's header.
//!
//! ```text
//! cargo run -p kipc-host --example typed               # both sides: this process and a child
//! ```
//!
//! The creator records `Reading`'s size, alignment and fingerprint; the
//! child opens with `open_typed::<Reading>` (another type would get
//! `Error::TypeMismatch`, never reinterpreted bytes), sends values, and the
//! parent receives them by value. A typed mailbox carries the same struct
//! with priorities.

use std::process::Command;
use std::time::Duration;

use kipc_host::mailbox::{Mailbox, MailboxConfig};
use kipc_host::ring::{RingConfig, ShmRing};
use kipc_host::typed::Message;
use kipc_host::Error;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// One sensor reading: no padding (the derive checks), any bytes valid.
#[derive(Debug, Clone, Copy, PartialEq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
struct Reading {
    sensor: u32,
    seq: u32,
    celsius: f64,
}

impl Message for Reading {
    /// A fixed fingerprint: peers built by another compiler (or in C, with
    /// `kipc_ring_open_typed`) agree on it. Change it when the struct changes.
    fn fingerprint() -> u64 {
        0x7265_6164_696e_6701
    }
}

const COUNT: u32 = 500;

fn reading(seq: u32) -> Reading {
    Reading {
        sensor: 7,
        seq,
        celsius: 20.0 + f64::from(seq) / 100.0,
    }
}

fn produce(name: &str) -> Result<(), Error> {
    let mut tx = ShmRing::open_typed::<Reading>(name)?.sender()?;
    for seq in 0..COUNT {
        tx.send_value(&reading(seq))?; // copied straight into the slot
    }
    Ok(())
}

fn consume(ring: &ShmRing) -> Result<u32, Error> {
    let mut rx = ring.receiver()?;
    for seq in 0..COUNT {
        let r: Reading = rx.recv_value_timeout(Duration::from_secs(10))?;
        assert_eq!(r, reading(seq), "in order, intact");
    }
    Ok(COUNT)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("produce") {
        return Ok(produce(&args[2])?);
    }
    let name = format!("example-typed-{}", std::process::id());
    let ring = ShmRing::create_typed::<Reading>(&name, RingConfig::spsc(64, 0))?;
    println!(
        "ring {name}: {}-byte slots, type {:?}",
        ring.slot_size(),
        ring.message_type()
    );
    assert_eq!(ring.slot_size(), std::mem::size_of::<Reading>());

    // Another type is refused at open.
    match ShmRing::open_typed::<[u64; 2]>(&name) {
        Err(e @ Error::TypeMismatch { .. }) => println!("open as [u64; 2]: {e}"),
        other => panic!("expected a type mismatch, got {other:?}"),
    }

    // The producer is another process: this program, re-run.
    let mut child = Command::new(std::env::current_exe()?)
        .args(["produce", &name])
        .spawn()?;
    let got = consume(&ring);
    if got.is_err() {
        let _ = child.kill(); // it would wait for room for ever
    }
    let status = child.wait()?;
    ShmRing::unlink(&name)?;
    println!("received {} readings; producer {status}", got?);
    assert!(status.success());

    // The same struct through a typed mailbox: highest priority first.
    let mb = Mailbox::create_anonymous_typed::<Reading>(MailboxConfig::new(8, 0))?;
    mb.send_value(&reading(1), 1, 0)?;
    mb.send_value(&reading(2), 9, 0)?;
    let (first, meta) = mb.recv_value::<Reading>()?;
    assert_eq!((first.seq, meta.prio), (2, 9));
    println!("mailbox: seq {} at priority {} first", first.seq, meta.prio);
    Ok(())
}
