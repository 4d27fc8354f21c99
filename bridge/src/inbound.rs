//! `in`: subscribe to a key expression and push every sample into a local
//! ring or mailbox.
//!
//! Reliable mode (the default) blocks on a full ring: the subscriber queue
//! ([`SUBSCRIBER_QUEUE`]) fills, Zenoh stops reading the link, and the
//! publisher's congestion control blocks. Best-effort mode drops a sample
//! that finds the ring full and counts it ([`Stats::dropped`]). A sample
//! longer than the local object's largest message is dropped and counted
//! too (it could never fit). Mailbox messages get the type and priority of
//! the sample's [`MailboxTag`] attachment, or, from a publisher that is not
//! kipc, type 0 and the priority of its Zenoh priority band
//! ([`mailbox_priority`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kipc_host::mailbox::Mailbox;
use kipc_host::ring::ShmRing;
use kipc_host::Error;
use zenoh::handlers::FifoChannel;
use zenoh::Wait;

use crate::{mailbox_priority, Local, MailboxTag, Result, Stats, SUBSCRIBER_QUEUE};

/// How long one wait (for a sample, or for room) lasts before the bridge
/// re-checks `stop`.
const POLL: Duration = Duration::from_millis(50);

/// Limits and mode of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct InOptions {
    /// Drop (and count) samples that find the local object full, instead
    /// of waiting for room.
    pub best_effort: bool,
    /// Stop after this many samples were handled (`None`: until `stop`).
    pub count: Option<u64>,
}

/// The local object samples go into.
enum Sink {
    Ring(kipc_host::ring::Sender),
    Mailbox(Mailbox),
}

impl Sink {
    fn max_len(&self) -> usize {
        match self {
            Sink::Ring(tx) => tx.max_len(),
            Sink::Mailbox(mb) => mb.max_msg(),
        }
    }

    /// One attempt: `Full` and `Timeout` mean "no room yet".
    fn push(&mut self, bytes: &[u8], tag: MailboxTag, wait: bool) -> Result<(), Error> {
        match (self, wait) {
            (Sink::Ring(tx), true) => tx.send_timeout(bytes, POLL),
            (Sink::Ring(tx), false) => tx.try_send(bytes),
            (Sink::Mailbox(mb), true) => mb.send_timeout(bytes, tag.prio, tag.mtype, POLL),
            (Sink::Mailbox(mb), false) => mb.try_send(bytes, tag.prio, tag.mtype),
        }
    }
}

/// Pushes samples of `key` into `local` until `stop` is set or
/// `opts.count` samples were handled; calls `ready` once subscribed.
///
/// # Errors
///
/// Opening the local object, claiming its producer side, or Zenoh
/// declaring the subscriber; a local send failing other than by being full.
pub fn run(
    session: &zenoh::Session,
    key: &str,
    local: &Local,
    opts: InOptions,
    stop: &AtomicBool,
    ready: impl FnOnce(),
) -> Result<Stats> {
    let mut sink = match local {
        Local::Ring(name) => Sink::Ring(ShmRing::open(name)?.sender()?),
        Local::Mailbox(name) => Sink::Mailbox(Mailbox::open(name)?),
    };
    let subscriber = session
        .declare_subscriber(key.to_owned())
        .with(FifoChannel::new(SUBSCRIBER_QUEUE))
        .wait()?;
    ready();
    let mut stats = Stats::default();
    let done = |stats: &Stats| {
        stop.load(Ordering::Relaxed) || opts.count.is_some_and(|c| stats.moved + stats.dropped >= c)
    };
    while !done(&stats) {
        let sample = match subscriber.recv_timeout(POLL) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            // The session closed.
            Err(_) => break,
        };
        let bytes = sample.payload().to_bytes();
        let tag = sample
            .attachment()
            .and_then(|a| MailboxTag::decode(&a.to_bytes()))
            .unwrap_or(MailboxTag {
                mtype: 0,
                prio: mailbox_priority(sample.priority()),
            });
        if bytes.len() > sink.max_len() {
            stats.dropped += 1;
            continue;
        }
        loop {
            match sink.push(&bytes, tag, !opts.best_effort) {
                Ok(()) => {
                    stats.moved += 1;
                    break;
                }
                Err(Error::Full) if opts.best_effort => {
                    stats.dropped += 1;
                    break;
                }
                Err(Error::Timeout | Error::Full) => {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(stats);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(stats)
}
