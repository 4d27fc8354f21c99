//! The crate's error type.

use core::fmt;

/// Everything that can go wrong in kipc-core.
///
/// Region-form operations read memory a peer can write, so besides the
/// ordinary outcomes (`Full`, `Empty`) they can report that the peer broke
/// the protocol (`Corrupt`) or that the region was never a valid kipc object
/// (`BadLayout`). None of these is ever a panic.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The queue has no free slot (or not enough room for the message).
    Full,
    /// The queue holds no message.
    Empty,
    /// The message is longer than a slot (or the mailbox's maximum message size).
    TooLarge {
        /// Length of the rejected message in bytes.
        len: usize,
        /// Largest length the object accepts.
        max: usize,
    },
    /// The memory handed to `init`/`attach` is smaller than the layout needs.
    RegionTooSmall {
        /// Bytes the layout needs.
        needed: usize,
        /// Bytes that were provided.
        got: usize,
    },
    /// The memory handed to `init`/`attach` is not aligned enough.
    Misaligned {
        /// Required alignment in bytes.
        align: usize,
    },
    /// A geometry argument to `init` is unusable (zero or not a power of two,
    /// too large, ...).
    InvalidGeometry {
        /// Which argument, and what is wrong with it.
        what: &'static str,
    },
    /// The region's creator has not finished initialising it (the magic
    /// number is still zero). Retry after a short wait.
    Uninitialized,
    /// The region does not hold a kipc object of the expected kind and layout
    /// version, or its header contradicts itself.
    BadLayout {
        /// Which header check failed.
        what: &'static str,
    },
    /// The peer wrote a value the protocol cannot produce (an index out of
    /// range, a length larger than its slot, ...). The object should be
    /// treated as lost.
    Corrupt {
        /// Which check failed.
        what: &'static str,
    },
    /// The other side was marked dead (its process exited) and no message is
    /// left to receive, or nobody will ever take what is sent.
    PeerDead,
    /// Every producer lane of an MPMC region is taken.
    NoFreeLane,
    /// The endpoint (producer or consumer side) is already attached by
    /// another owner.
    InUse,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full => f.write_str("queue is full"),
            Error::Empty => f.write_str("queue is empty"),
            Error::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the maximum of {max}")
            }
            Error::RegionTooSmall { needed, got } => {
                write!(
                    f,
                    "region of {got} bytes is too small: layout needs {needed}"
                )
            }
            Error::Misaligned { align } => write!(f, "region is not aligned to {align} bytes"),
            Error::InvalidGeometry { what } => write!(f, "invalid geometry: {what}"),
            Error::Uninitialized => f.write_str("region is not initialised yet"),
            Error::BadLayout { what } => write!(f, "not a valid kipc region: {what}"),
            Error::Corrupt { what } => write!(f, "peer corrupted the region: {what}"),
            Error::PeerDead => f.write_str("peer is dead"),
            Error::NoFreeLane => f.write_str("every producer lane is taken"),
            Error::InUse => f.write_str("endpoint is already attached by another owner"),
        }
    }
}

impl core::error::Error for Error {}
