//! `kipc-mbox`: two kipc mailboxes ([`kipc_host::mailbox::Mailbox`]), one
//! each way, each an anonymous sealed memfd the peer inherits.
//!
//! Each side tries the lock-free fast path (`try_send`/`try_recv`, which
//! ring the other side's doorbell only when it announced a sleeper) and,
//! when the mailbox is full or empty, waits with the mailbox's own
//! spin-then-futex path in 100 ms slices, checking between slices that the
//! other process lives (a mailbox has no single peer to report dead).
//!
//! Every message is sent with priority 0 and type 1, so the receive scan
//! does the work a real priority receive does (it reads every slot's state
//! word: 64 slots, 8 cache lines).

use std::io;
use std::time::Duration;

use kipc_host::mailbox::{Mailbox, MailboxConfig, Selector};
use kipc_host::Error;

use super::{other, Driver};
use crate::bench::harness::{ChildCtx, ParentCtx, Peer};
use crate::bench::protocol::Channel;

/// Slots per mailbox.
const SLOTS: u32 = 64;

/// How long one blocking wait lasts before the peer is checked.
const SLICE: Duration = Duration::from_millis(100);

struct MboxChannel<'a> {
    tx: Mailbox,
    rx: Mailbox,
    peer: &'a Peer,
}

impl Channel for MboxChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        match self.tx.try_send(msg, 0, 1) {
            Ok(()) => return Ok(()),
            Err(Error::Full) => {}
            Err(e) => return Err(other("mailbox send", e)),
        }
        loop {
            match self.tx.send_timeout(msg, 0, 1, SLICE) {
                Ok(()) => return Ok(()),
                Err(Error::Timeout) if self.peer.alive() => {}
                Err(Error::Timeout) => return Err(self.peer.dead_error()),
                Err(e) => return Err(other("mailbox send", e)),
            }
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.rx.try_recv(buf) {
            Ok(got) => return Ok(got.len),
            Err(Error::Empty) => {}
            Err(e) => return Err(other("mailbox receive", e)),
        }
        loop {
            match self.rx.recv_matching(Selector::Any, buf, Some(SLICE)) {
                Ok(got) => return Ok(got.len),
                Err(Error::Timeout) if self.peer.alive() => {}
                Err(Error::Timeout) => return Err(self.peer.dead_error()),
                Err(e) => return Err(other("mailbox receive", e)),
            }
        }
    }
}

/// Parent side.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let max_msg = u32::try_from(ctx.mech.ack_len(ctx.size))
        .map_err(|_| other("mailbox", "message too large"))?;
    let config = MailboxConfig::new(SLOTS, max_msg);
    let tx = Mailbox::create_anonymous(config).map_err(|e| other("mailbox", e))?;
    let rx = Mailbox::create_anonymous(config).map_err(|e| other("mailbox", e))?;
    let peer = ctx.spawn(&[tx.fd(), rx.fd()], &[])?;
    drive(&mut MboxChannel {
        tx,
        rx,
        peer: &peer,
    })
}

/// Peer side.
pub fn child(mut ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let rx = Mailbox::from_fd(ctx.take_fd(0)?).map_err(|e| other("mailbox", e))?;
    let tx = Mailbox::from_fd(ctx.take_fd(1)?).map_err(|e| other("mailbox", e))?;
    drive(&mut MboxChannel {
        tx,
        rx,
        peer: &ctx.peer,
    })
}
