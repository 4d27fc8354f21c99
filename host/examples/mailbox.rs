//! Mailbox priorities and SysV-style type selection.
//!
//! ```text
//! cargo run -p kipc-host --example mailbox
//! ```

use kipc_host::mailbox::{Mailbox, MailboxConfig, Selector};

fn main() -> Result<(), kipc_host::Error> {
    let mb = Mailbox::create_anonymous(MailboxConfig::new(16, 64))?;
    mb.send(b"routine", 1, 10)?;
    mb.send(b"urgent", 9, 20)?;
    mb.send(b"also routine", 1, 10)?;
    let mut buf = [0u8; 64];
    // Highest priority first, FIFO within a priority.
    let mut order = Vec::new();
    while let Ok(got) = mb.try_recv(&mut buf) {
        println!(
            "prio {} type {}: {}",
            got.prio,
            got.mtype,
            String::from_utf8_lossy(&buf[..got.len])
        );
        order.push(buf[..got.len].to_vec());
    }
    assert_eq!(order, [&b"urgent"[..], b"routine", b"also routine"]);
    // Select by type, as msgrcv(2) does.
    mb.send(b"type 3", 0, 3)?;
    mb.send(b"type 7", 5, 7)?;
    let got = mb.try_recv_matching(Selector::Exact(3), &mut buf)?;
    assert_eq!(&buf[..got.len], b"type 3");
    Ok(())
}
