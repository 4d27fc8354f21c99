//! Bridges kipc onto [Zenoh](https://zenoh.io): local rings, mailboxes and
//! procedure calls reach peers on other machines through an existing
//! distributed engine, not a home-made network protocol.
//!
//! Three directions, each a function here and a `kipc-bridge` subcommand:
//!
//! - [`out`]: drain a local ring or mailbox and publish each message as one
//!   Zenoh sample whose payload is exactly the message bytes;
//! - [`inbound`]: subscribe to a key expression and push each sample into a
//!   local ring or mailbox;
//! - [`rpc`]: serve a local kipc RPC server to remote callers as a Zenoh
//!   queryable, and call one ([`rpc::ZenohTransport`] plugs into
//!   [`kipc_host::rpc::Client`], so a remote call has the same frames and
//!   errors as a local one).
//!
//! # Guarantees
//!
//! | mode | order | duplicates | lost when a bridge process dies |
//! |------|-------|------------|---------------------------------|
//! | reliable (default) | per publisher and priority, as published | never | `out`: the messages it took from the ring and Zenoh had not delivered yet (at most its transmission queue, see below, plus the one in hand); `in`: the samples received and not yet in the ring (at most [`SUBSCRIBER_QUEUE`] plus the one in hand), and what the network held for it |
//! | best effort (`in --best-effort`) | as reliable | never | as reliable, plus every sample that found the local ring full (counted and reported) |
//!
//! - *Order.* Zenoh's reliable transport delivers the samples of one
//!   publisher at one priority in order; a ring bridge publishes at one
//!   priority. A mailbox bridge maps message priorities onto Zenoh
//!   priorities ([`zenoh_priority`]), so messages of different priorities
//!   may overtake each other, as they do in the mailbox itself.
//! - *No duplicates.* Nothing is ever sent twice: a bridge never retries a
//!   publication, and a restarted one starts from what is in the ring.
//! - *Back-pressure.* `out` takes a message from the ring only while a
//!   subscriber matches its key (Zenoh's matching status), so with nobody
//!   listening messages stay in the ring, where the producer's `send` feels
//!   the pressure; it publishes with congestion control `Block`, so a slow
//!   network blocks it too. `in` in reliable mode blocks on a full ring;
//!   its subscriber queue then fills and Zenoh stops reading the link, and
//!   TCP's flow control carries that back to the publisher.
//! - *Loss window.* Killing `out` loses what it had taken from the ring
//!   and Zenoh had not yet written to the socket: at most its transmission
//!   queue (`transport/link/tx/queue/size`, by default 2 batches of up to
//!   64 KiB for data) plus the message in hand; what the kernel already
//!   held is still delivered. Killing `in` breaks the link, so it loses
//!   everything between the two bridges: the sender's transmission queue
//!   and socket send buffer, its own socket receive buffer and the batch
//!   being decoded, its subscriber queue ([`SUBSCRIBER_QUEUE`]) and a
//!   message in hand on each side. Bound the socket buffers with
//!   `#so_sndbuf=BYTES;so_rcvbuf=BYTES` on both bridges' endpoints (the
//!   kernel doubles them; without them TCP autotunes up to
//!   `net.ipv4.tcp_wmem`/`tcp_rmem`). The tests kill each bridge
//!   mid-stream and check the loss against these windows (8-byte messages,
//!   128 KiB buffers, on a 2-vCPU VM: killing `out` lost 0-672 messages
//!   against a window of 16,384; killing `in` lost 2,000-52,000 against
//!   90,369).
//!   A restarted bridge resumes with the first message still in the ring
//!   (`out`) or the first sample published after it subscribed (`in`).
//!   While the ring's `out` bridge is dead, a producer waiting on a full
//!   ring sees `PeerDead` (its consumer died); it retries, and the
//!   restarted bridge claims the consumer side.
//!
//! # Zenoh configuration
//!
//! [`ZenohArgs`] builds a Zenoh [`Config`](zenoh::Config) from flags
//! (`--mode peer|client`, `--connect`, `--listen`, `--no-multicast`) or a
//! Zenoh config file (`--config FILE`, JSON5). TLS is Zenoh's: listen and
//! connect on `tls/HOST:PORT` endpoints and give the certificates in the
//! config file, for example:
//!
//! ```json5
//! {
//!   mode: "peer",
//!   listen: { endpoints: ["tls/0.0.0.0:7447"] },
//!   transport: { link: { tls: {
//!     listen_private_key: "/etc/kipc/key.pem",
//!     listen_certificate: "/etc/kipc/cert.pem",
//!     root_ca_certificate: "/etc/kipc/ca.pem",
//!   } } },
//! }
//! ```

#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod config;
pub mod inbound;
pub mod out;
pub mod rpc;

use std::fmt;

pub use config::ZenohArgs;

/// Capacity of the subscriber queue between Zenoh and a local ring (the
/// `in` bridge's loss window when it is killed).
pub const SUBSCRIBER_QUEUE: usize = 256;

/// A bridge failure.
#[derive(Debug)]
pub enum BridgeError {
    /// The local kipc object failed.
    Kipc(kipc_host::Error),
    /// Zenoh failed (opening the session, declaring, publishing).
    Zenoh(String),
    /// A bad argument.
    Usage(String),
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeError::Kipc(e) => write!(f, "kipc: {e}"),
            BridgeError::Zenoh(e) => write!(f, "zenoh: {e}"),
            BridgeError::Usage(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for BridgeError {}

impl From<kipc_host::Error> for BridgeError {
    fn from(e: kipc_host::Error) -> Self {
        BridgeError::Kipc(e)
    }
}

impl From<zenoh::Error> for BridgeError {
    fn from(e: zenoh::Error) -> Self {
        BridgeError::Zenoh(e.to_string())
    }
}

/// Result of the bridge functions.
pub type Result<T, E = BridgeError> = std::result::Result<T, E>;

/// What a bridge moves: a ring (SPSC or MPMC) or a mailbox, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// A named ring (`kipc ring create`).
    Ring(String),
    /// A named mailbox (`kipc mbox create`); carries priority and type.
    Mailbox(String),
}

/// The Zenoh priority a mailbox priority travels at: 0 (the default) is
/// Zenoh's default `Data`; higher mailbox priorities map onto higher Zenoh
/// ones, in four bands. The exact priority and type also travel in the
/// sample's attachment ([`MailboxTag`]).
///
/// # Examples
///
/// ```
/// use kipc_bridge::zenoh_priority;
/// use zenoh::qos::Priority;
/// assert_eq!(zenoh_priority(0), Priority::Data);
/// assert_eq!(zenoh_priority(255), Priority::RealTime);
/// ```
pub fn zenoh_priority(prio: u8) -> zenoh::qos::Priority {
    use zenoh::qos::Priority;
    match prio {
        0 => Priority::Data,
        1..=63 => Priority::DataHigh,
        64..=127 => Priority::InteractiveLow,
        128..=191 => Priority::InteractiveHigh,
        _ => Priority::RealTime,
    }
}

/// The mailbox priority a sample without a [`MailboxTag`] is given: the
/// lowest mailbox priority of its Zenoh priority's band (see
/// [`zenoh_priority`]).
pub fn mailbox_priority(p: zenoh::qos::Priority) -> u8 {
    use zenoh::qos::Priority;
    match p {
        Priority::RealTime => 192,
        Priority::InteractiveHigh => 128,
        Priority::InteractiveLow => 64,
        Priority::DataHigh => 1,
        Priority::Data | Priority::DataLow | Priority::Background => 0,
    }
}

/// A mailbox message's type and priority, carried as a sample attachment:
/// 9 bytes, the type as a little-endian `u64`, then the priority.
///
/// # Examples
///
/// ```
/// use kipc_bridge::MailboxTag;
/// let tag = MailboxTag { mtype: 7, prio: 3 };
/// assert_eq!(MailboxTag::decode(&tag.encode()), Some(tag));
/// assert_eq!(MailboxTag::decode(b"short"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxTag {
    /// Message type.
    pub mtype: u64,
    /// Priority.
    pub prio: u8,
}

impl MailboxTag {
    /// The attachment bytes.
    pub fn encode(&self) -> [u8; 9] {
        let mut out = [0; 9];
        out[..8].copy_from_slice(&self.mtype.to_le_bytes());
        out[8] = self.prio;
        out
    }

    /// Decodes an attachment; `None` unless it is exactly 9 bytes (a peer
    /// that is not kipc may attach anything).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (mtype, prio) = bytes.split_first_chunk::<8>()?;
        match prio {
            [prio] => Some(Self {
                mtype: u64::from_le_bytes(*mtype),
                prio: *prio,
            }),
            _ => None,
        }
    }
}

/// Counters a bridge reports when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages moved (published, or pushed into the local object).
    pub moved: u64,
    /// Samples dropped because the local object was full (best effort).
    pub dropped: u64,
}
