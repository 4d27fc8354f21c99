//! `iceoryx2` (cargo feature `iceoryx2`): iceoryx2 publish-subscribe, two
//! services (`.../ping`: bench -> peer, `.../pong`: peer -> bench), one
//! publisher and one subscriber on each, `[u8]` slices of the message size.
//!
//! Measured at its best, as iceoryx2's own benchmarks do:
//! - the next sample is loaned right after a send, so the loan is not on the
//!   round trip's critical path (it overlaps the peer's turn); the round
//!   trip pays for copying the message into the sample and `send`;
//! - both subscribers busy-poll `receive` (a pause hint per turn; no
//!   listener/event service, which would add a wake-up);
//! - no safe overflow, and the publisher retries until delivered, so the
//!   one-way stream loses nothing (the receiver counts it anyway).

use std::io;
use std::mem::MaybeUninit;

use iceoryx2::port::backpressure_strategy::BackpressureStrategy;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use iceoryx2::sample_mut_uninit::SampleMutUninit;

use super::{other, Driver};
use crate::bench::harness::{ChildCtx, ParentCtx, Peer, Spin};
use crate::bench::protocol::{Channel, ACK_FULL};

type Svc = ipc::Service;
type Loaned = SampleMutUninit<Svc, [MaybeUninit<u8>], ()>;
type Pub = Publisher<Svc, [u8], ()>;
type Sub = Subscriber<Svc, [u8], ()>;

/// Samples a subscriber may hold in its queue (the stream's window).
const BUFFER: usize = 64;

struct IoxChannel<'a> {
    publisher: Pub,
    subscriber: Sub,
    /// The next sample, loaned ahead (`len` bytes).
    next: Option<Loaned>,
    /// The message size: what is loaned ahead.
    len: usize,
    peer: &'a Peer,
    /// Keeps the node (and so the services) alive while the ports are used.
    _node: Node<Svc>,
}

impl IoxChannel<'_> {
    fn loan(&mut self, len: usize) -> io::Result<Loaned> {
        let mut spin = Spin::new(self.peer);
        let mut tries = 0u32;
        loop {
            match self.publisher.loan_slice_uninit(len) {
                Ok(s) => return Ok(s),
                // Every sample in flight: wait for the subscriber to drop one.
                Err(_) if tries < 1 << 22 => {
                    tries += 1;
                    spin.tick()?;
                }
                Err(e) => return Err(other("iceoryx2 loan", e)),
            }
        }
    }
}

impl Channel for IoxChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let mut sample = match self.next.take() {
            Some(s) if s.payload().len() == msg.len() => s,
            _ => self.loan(msg.len())?,
        };
        for (d, s) in sample.payload_mut().iter_mut().zip(msg) {
            d.write(*s);
        }
        // SAFETY: the payload is `msg.len()` elements, each written above.
        #[allow(unsafe_code)]
        let sample = unsafe { sample.assume_init() };
        sample.send().map_err(|e| other("iceoryx2 send", e))?;
        // Loan the next one now, off the critical path.
        self.next = self.publisher.loan_slice_uninit(self.len).ok();
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut spin = Spin::new(self.peer);
        loop {
            match self.subscriber.receive() {
                Ok(Some(sample)) => {
                    let p = sample.payload();
                    let n = p.len().min(buf.len());
                    buf[..n].copy_from_slice(&p[..n]);
                    return Ok(n);
                }
                Ok(None) => spin.tick()?,
                Err(e) => return Err(other("iceoryx2 receive", e)),
            }
        }
    }
}

fn names(tag: &str) -> io::Result<(ServiceName, ServiceName)> {
    let n = |s: &str| {
        ServiceName::new(&format!("kipc-bench/{tag}/{s}"))
            .map_err(|e| other("iceoryx2 service name", e))
    };
    Ok((n("ping")?, n("pong")?))
}

fn node() -> io::Result<Node<Svc>> {
    set_log_level(LogLevel::Error);
    NodeBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<Svc>()
        .map_err(|e| other("iceoryx2 node", e))
}

/// Creates (`create`) or opens the service `name` and the port we need on it.
fn ports(
    node: &Node<Svc>,
    out: &ServiceName,
    inc: &ServiceName,
    len: usize,
    create: bool,
) -> io::Result<(Pub, Sub)> {
    let service = |name: &ServiceName| {
        let b = node
            .service_builder(name)
            .publish_subscribe::<[u8]>()
            .max_publishers(1)
            .max_subscribers(1)
            .history_size(0)
            .subscriber_max_buffer_size(BUFFER)
            .enable_safe_overflow(false);
        if create {
            b.create().map_err(|e| other("iceoryx2 service create", e))
        } else {
            b.open().map_err(|e| other("iceoryx2 service open", e))
        }
    };
    let (out_svc, in_svc) = (service(out)?, service(inc)?);
    let publisher = out_svc
        .publisher_builder()
        .initial_max_slice_len(len)
        .max_loaned_samples(2)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .map_err(|e| other("iceoryx2 publisher", e))?;
    let subscriber = in_svc
        .subscriber_builder()
        .create()
        .map_err(|e| other("iceoryx2 subscriber", e))?;
    Ok((publisher, subscriber))
}

/// Parent side.
pub fn parent(ctx: &mut ParentCtx, drive: Driver<'_>) -> io::Result<()> {
    let len = ctx.size;
    let tag = std::process::id().to_string();
    let (ping, pong) = names(&tag)?;
    let node = node()?;
    let (publisher, subscriber) = ports(&node, &ping, &pong, len.max(ACK_FULL), true)?;
    let peer = ctx.spawn(&[], &[tag, len.to_string()])?;
    let next = publisher.loan_slice_uninit(len).ok();
    let mut ch = IoxChannel {
        publisher,
        subscriber,
        next,
        len,
        peer: &peer,
        _node: node,
    };
    drive(&mut ch)
}

/// Peer side.
pub fn child(ctx: ChildCtx, drive: Driver<'_>) -> io::Result<()> {
    let len: usize = ctx
        .extra(1)?
        .parse()
        .map_err(|e| other("iceoryx2 message size", e))?;
    let (ping, pong) = names(ctx.extra(0)?)?;
    let node = node()?;
    let (publisher, subscriber) = ports(&node, &pong, &ping, len.max(ACK_FULL), false)?;
    let next = publisher.loan_slice_uninit(len).ok();
    let mut ch = IoxChannel {
        publisher,
        subscriber,
        next,
        len,
        peer: &ctx.peer,
        _node: node,
    };
    drive(&mut ch)
}
