//! `out`: drain a local ring or mailbox into Zenoh, one sample per message.
//!
//! The bridge takes a message from the ring only while some subscriber
//! matches the key (Zenoh's matching status): with nobody listening the
//! messages wait in the ring, and its producer feels the back-pressure.
//! Each sample is published with congestion control `Block` and the
//! message bytes, unchanged, as its payload; a mailbox message also
//! carries its type and priority as the attachment ([`MailboxTag`]) and
//! travels at the matching Zenoh priority ([`zenoh_priority`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kipc_host::mailbox::Mailbox;
use kipc_host::ring::ShmRing;
use kipc_host::Error;
use zenoh::qos::CongestionControl;
use zenoh::Wait;

use crate::{zenoh_priority, Local, MailboxTag, Result, Stats};

/// How long one local receive waits before the bridge re-checks `stop` and
/// the matching status.
const POLL: Duration = Duration::from_millis(50);

/// Limits of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutOptions {
    /// Stop after this many messages (`None`: until `stop`).
    pub count: Option<u64>,
}

/// Moves messages from `local` to `key` until `stop` is set or
/// `opts.count` messages went out; calls `ready` once the publisher is
/// declared.
///
/// # Errors
///
/// Opening the local object, claiming its consumer side, or Zenoh
/// declaring or publishing.
pub fn run(
    session: &zenoh::Session,
    local: &Local,
    key: &str,
    opts: OutOptions,
    stop: &AtomicBool,
    ready: impl FnOnce(),
) -> Result<Stats> {
    let publisher = session
        .declare_publisher(key.to_owned())
        .congestion_control(CongestionControl::Block)
        .wait()?;
    let matched = Arc::new(AtomicBool::new(
        publisher.matching_status().wait()?.matching(),
    ));
    let m = Arc::clone(&matched);
    let _listener = publisher
        .matching_listener()
        .callback(move |s| m.store(s.matching(), Ordering::Release))
        .wait()?;
    let mut stats = Stats::default();
    let done = |stats: &Stats| {
        stop.load(Ordering::Relaxed) || opts.count.is_some_and(|c| stats.moved >= c)
    };
    match local {
        Local::Ring(name) => {
            let ring = ShmRing::open(name)?;
            let mut rx = ring.receiver()?;
            let mut buf = vec![0u8; rx.max_len()];
            ready();
            while !done(&stats) {
                if !matched.load(Ordering::Acquire) {
                    std::thread::sleep(POLL);
                    continue;
                }
                match rx.recv_timeout(&mut buf, POLL) {
                    Ok(n) => {
                        publisher.put(buf.get(..n).unwrap_or_default()).wait()?;
                        stats.moved += 1;
                    }
                    Err(Error::Timeout) => {}
                    // The producer died; a new one may claim its side.
                    Err(Error::PeerDead) => std::thread::sleep(POLL),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Local::Mailbox(name) => {
            let mb = Mailbox::open(name)?;
            let mut buf = vec![0u8; mb.max_msg()];
            ready();
            while !done(&stats) {
                if !matched.load(Ordering::Acquire) {
                    std::thread::sleep(POLL);
                    continue;
                }
                match mb.recv_timeout(&mut buf, POLL) {
                    Ok(got) => {
                        let tag = MailboxTag {
                            mtype: got.mtype,
                            prio: got.prio,
                        };
                        session
                            .put(key.to_owned(), buf.get(..got.len).unwrap_or_default())
                            .congestion_control(CongestionControl::Block)
                            .priority(zenoh_priority(got.prio))
                            .attachment(tag.encode().to_vec())
                            .wait()?;
                        stats.moved += 1;
                    }
                    Err(Error::Timeout) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(stats)
}
