//! A message queue with priorities and type selection (POSIX `mq_*` and SysV
//! `msgrcv` in one), laid over caller memory and shared by many senders and
//! many receivers, none of which is trusted and any of which may die.
//!
//! # Why fixed-size slots
//!
//! Every message lives in a slot of `max_msg` bytes, and every slot is owned
//! by exactly one 64-bit *state word* that is changed only by compare-and-swap.
//! Claiming, publishing, taking and freeing a message are each one CAS on that
//! word, so the mailbox is lock-free, and a process that dies at any step
//! leaves a word that says exactly which step it was at and who it was (its
//! owner id): [`Region::recover`] can undo or redo that step. A shared byte
//! ring with variable-length records would pack small messages tighter, but
//! allocating a record there moves a shared tail that many senders race on,
//! and taking a record out of the middle (priority order, type selection)
//! leaves holes; both need either a lock, whose dead holder wedges everyone,
//! or a multi-word commit that a crash can leave half done. Memory is traded
//! for that simplicity; a byte budget ([`Geometry::with_byte_budget`]) still
//! limits how many payload bytes may be in flight, as `mq_msgsize *
//! mq_maxmsg` and SysV's `msg_qbytes` do.
//!
//! # Layout
//!
//! Offsets are for normal builds (under `cfg(kipc_loom)` the atomics are
//! loom's and larger; the order is the same). The base is 128-byte aligned.
//! `n` is the slot count.
//!
//! | offset          | field            | written by                    | meaning                                             |
//! |-----------------|------------------|-------------------------------|-----------------------------------------------------|
//! | 0               | prologue (32 B)  | creator (magic last)          | [`region::Prologue`](crate::region): kind = mailbox, type tag |
//! | 32              | `slot_count`     | creator                       | `n`, in `1..=MAX_SLOTS`                             |
//! | 36              | `max_msg`        | creator                       | largest payload, `1..=MAX_MSG` bytes                |
//! | 40              | `byte_budget`    | creator                       | payload bytes allowed in flight, `<= n * max_msg`   |
//! | 48              | `payload_stride` | creator                       | `round_up(max_msg, 8)`                              |
//! | 52              | `states_offset`  | creator                       | 640                                                 |
//! | 56              | `meta_offset`    | creator                       | `round_up(640 + 8n, 128)`                           |
//! | 60              | `payload_offset` | creator                       | `round_up(meta_offset + 24n, 128)`                  |
//! | 64              | `total_len`      | creator                       | whole layout in bytes (`u64`)                       |
//! | 128             | `hint`           | senders, Relaxed              | where the next free-slot scan starts (any value)    |
//! | 256             | `seq`            | senders `fetch_add`, receivers snapshot | global send counter: FIFO order within a priority |
//! | 384             | `not_empty`      | senders ring, receivers wait  | [`Doorbell`](crate::doorbell::Doorbell)             |
//! | 512             | `not_full`       | receivers ring, senders wait  | [`Doorbell`](crate::doorbell::Doorbell)             |
//! | 640             | `state[n]`       | CAS by whoever owns the step  | one `u64` per slot, packed as below                 |
//! | `meta_offset`   | `meta[n]`        | the slot's sender, WRITING    | `prio: u32`, `sender: u32`, `mtype: u64`, `seq: u64`|
//! | `payload_offset`| `payload[n]`     | the slot's sender, WRITING    | `payload_stride` bytes each                         |
//!
//! The state words are contiguous and apart from the payloads, so a receive's
//! scan reads eight slots per cache line. A state word packs:
//!
//! | bits   | field   | meaning                                                    |
//! |--------|---------|------------------------------------------------------------|
//! | 0..2   | `state` | 0 FREE, 1 WRITING, 2 READY, 3 READING                      |
//! | 2..32  | `len`   | payload length (must be `<= max_msg`; checked on every read) |
//! | 32..64 | `owner` | opaque id of the WRITING sender or READING receiver (the host stores a pid); when READY the *tag*, the low 32 bits of the message's `seq`; 0 when FREE |
//!
//! Every bit pattern of a state word decodes to some state. A READY slot
//! with a `len` above `max_msg` or a `prio` above 255 (only a faulty or
//! hostile peer writes one) is *consumed*: the first receive whose scan meets
//! it, whatever its selector, CASes it to FREE and returns [`Error::Corrupt`](crate::Error::Corrupt);
//! a receiver whose CAS loses leaves the report to the winner, so each such
//! slot is reported once by a receive (a peek reports it too but frees
//! nothing), and the next receive proceeds. It never wedges the mailbox.
//! Geometry is copied into private memory at [`Region::attach`] and never
//! re-read, so a peer rewriting it later widens no bound.
//!
//! # Protocol
//!
//! Sending ([`Region::try_send`], or [`Region::begin_send`] and
//! [`SendSlot::commit`] to write in place), with owner id `o`:
//! 1. check `len <= max_msg` and `len <= byte_budget` ([`Error::TooLarge`](crate::Error::TooLarge));
//! 2. scan the state words from `hint` for a FREE one and CAS it to
//!    `WRITING(len, o)` (Acquire, `SYNC: free slot`: the previous receiver's
//!    reads of the payload are done); none free: [`Error::Full`](crate::Error::Full);
//! 3. if a byte budget below `n * max_msg` was set: a SeqCst fence, then sum
//!    `len` over all non-FREE slots; above the budget: CAS the slot back to
//!    FREE and return [`Error::Full`](crate::Error::Full);
//! 4. copy the payload in; `seq = fetch_add(seq, 1)` (Release, `SYNC: send
//!    order`); store `prio`, `sender`, `mtype` and `seq`;
//! 5. CAS `WRITING(len, o)` to `READY(len, seq as u32)` (Release, `SYNC:
//!    publish message`); if the word is no longer ours, recovery took the
//!    slot ([`Error::Corrupt`](crate::Error::Corrupt)). The tag makes every publish's word new, so a
//!    receiver's CAS on a word it scanned fails if the slot was emptied and
//!    refilled meanwhile (ABA);
//! 6. the host rings [`Region::not_empty`] and wakes sleepers if it says so.
//!
//! Receiving ([`Region::try_recv`]) with a [`Selector`] and owner id `o`:
//! 1. snapshot `snap = seq` (Acquire, `SYNC: send order`); load every state
//!    word (Acquire, `SYNC: publish message`), consuming READY slots that fail
//!    validation (above); among READY slots whose `mtype` the selector
//!    accepts pick the first in the selector's order (below); none:
//!    [`Error::Empty`](crate::Error::Empty). If the pick's `seq >= snap` and `seq` has moved since
//!    `snap`, scan again with the new value as `snap` (see "Order");
//! 2. if its `len` exceeds the caller's buffer, return [`Error::TooLarge`](crate::Error::TooLarge)
//!    and leave the message queued;
//! 3. CAS `READY(len)` to `READING(len, o)`; if it fails another receiver
//!    (or a sender) got there first, which is progress: rescan;
//! 4. read the metadata and copy the payload out with `copy_from_shared`;
//! 5. CAS `READING(len, o)` to FREE (Release, `SYNC: free slot`); if the word
//!    is no longer ours, recovery gave the message to someone else and what we
//!    copied may be torn ([`Error::Corrupt`](crate::Error::Corrupt));
//! 6. the host rings [`Region::not_full`].
//!
//! # Order
//!
//! [`Selector::Any`] and [`Selector::Exact`] take the highest priority first
//! and, within a priority, the lowest `seq` (FIFO); [`Selector::LowestAtMost`]
//! takes the lowest type `<= t` first, then priority, then FIFO (SysV
//! `msgrcv` with a negative `msgtyp`, where "first" is our priority order).
//! Say `m1` *ranks before* `m2` under a selector if it comes first in that
//! order. What a receive guarantees, for messages sent by honest parties:
//!
//! - **Per sender, always.** If one sender commits `m1` and then `m2`, more
//!   generally if `m1`'s commit happens-before `m2`'s (same thread; or
//!   threads or processes ordered by a lock, a join, a message through kipc,
//!   ...), and `m1` ranks before `m2`, then no receive takes `m2` while `m1`
//!   is READY: when a receive takes `m2`, `m1` has been taken by an earlier
//!   receive of the same receiver or is being taken by another receiver.
//!   So each receiver sees every sender's messages of one priority (and, for
//!   `LowestAtMost`, one type) in the order they were sent. The one
//!   exception is redelivery: a message whose receiver died mid-copy is made
//!   READY again by [`Region::recover`] and may come after later ones.
//! - **Before the receive, in order.** A receive returns a message that ranks
//!   before or equal to every message whose commit happened-before the
//!   receive began and that no other receiver took meanwhile.
//! - **Not linearizable across concurrent senders.** `seq` is taken at step
//!   4 and the message appears at step 5, so when two sends overlap (neither
//!   commit happens-before the other) the one with the higher `seq` may be
//!   visible, and received, first; a message may also be published into a
//!   slot a running scan has passed and be taken by the next receive only.
//!   Overlapping sends are delivered exactly once, in some order; no single
//!   total order consistent with real time is promised. Likewise, which of
//!   two concurrent receives returns first is not ordered.
//!
//! Why the per-sender rule holds. A scan reads the slots one by one, so a
//! message `m1` published into a slot the scan has passed could be overtaken
//! by a later `m2` of the same sender in a slot ahead. Hence the snapshot:
//! the sender's `fetch_add` for `m2` is a Release RMW sequenced after `m1`'s
//! publish, and all `fetch_add`s on `seq` form one release sequence. If the
//! pick `m2` has `seq < snap`, the snapshot (Acquire) read a value written at
//! or after `m2`'s `fetch_add`, so `m1`'s publish happens-before the scan,
//! which therefore saw `m1` (or a later state of its slot: `m1` taken): it
//! would have picked `m1`. If `seq >= snap`, `m2` took its number during the
//! scan; the scan acquired `m2`'s READY word, published after its
//! `fetch_add`, so re-reading `seq` gives more than `snap` and the receive
//! scans again with that value as its snapshot, which is now the first case.
//! (`seq >= snap` with `seq` unchanged means a peer forged the number; the
//! pick is taken rather than looping on fixed bytes.) The CAS in step 3 then
//! takes exactly the scanned message: the READY tag changes with every
//! publish (a tag reused after 2^32 sends is caught by the full `seq`
//! check after the CAS, which puts the newer message back and rescans).
//! `loom-tests/tests/mailbox.rs` models the straddle, and
//! `--cfg kipc_loom_weaken="mailbox"` (no rescan) makes that model fail.
//!
//!
//! **Cost**: a receive reads every state word, O(n) like SysV's linear
//! `msgrcv` scan, plus the metadata of READY slots. Mailboxes are small (tens
//! to hundreds of slots) and the state words are packed eight to a cache
//! line, so a scan of a 64-slot mailbox touches 8 lines. A send scans from a
//! rotating hint and usually stops at the first word; with a byte budget set
//! it also sums all state words (O(n)). `seq` is only an order key: `u64`
//! never wraps in practice, and any value a peer writes is still a total order.
//!
//! Progress: every loop is a scan of `n` words, a rescan because `seq` moved
//! during the scan (a sender committed), or a retry after a failed CAS (a
//! CAS fails only because another party changed the word), so the mailbox
//! is lock-free (not wait-free: a receiver can be made to rescan for as long
//! as senders keep committing during its scans). A hostile peer that keeps
//! rewriting words can make a loop spin as long as it keeps writing, but on
//! any fixed bytes every call returns.
//!
//! # Crashes
//!
//! | dies while                 | word left         | effect / recovery                                           |
//! |----------------------------|-------------------|-------------------------------------------------------------|
//! | sending, before step 2     | nothing changed   | nothing to do                                               |
//! | sending, steps 2-4         | `WRITING(len, o)` | invisible to receivers; [`recover`](Region::recover) frees it: the half-written message never existed |
//! | sending, after step 5      | `READY(len)`      | the message is complete and is delivered                    |
//! | receiving, before step 3   | nothing changed   | nothing to do                                               |
//! | receiving, steps 3-4       | `READING(len, o)` | `recover` makes it READY again with its priority and `seq`: redelivered (at-least-once across a receiver's death, as in the SPSC ring) |
//! | receiving, after step 5    | FREE              | delivered once                                              |
//!
//! The byte budget is not a separate counter but the sum of the `len` of
//! non-FREE slots, so no crash can leak or double-count bytes: freeing a
//! slot returns its bytes. The host calls `recover` with a liveness test
//! (pidfd) when a blocking wait times out or periodically; `is_dead` must
//! only say `true` for owners that will never touch the region again (a
//! sender recovered while alive gets [`Error::Corrupt`](crate::Error::Corrupt) from its commit, but
//! its late payload writes may tear the next message in that slot).
//!
//! # Examples
//!
//! ```
//! use kipc_core::mailbox::{region_size, Geometry, Region, Selector};
//! #[repr(C, align(128))]
//! struct Buf([u8; 4096]);
//! let mut buf = Buf([0; 4096]);
//! let len = region_size(8, 64).unwrap();
//! // SAFETY: `buf` outlives the regions and is only used through them.
//! let creator = unsafe { Region::init(buf.0.as_mut_ptr(), len, Geometry::new(8, 64)) }.unwrap();
//! let peer = unsafe { Region::attach(buf.0.as_mut_ptr(), len) }.unwrap();
//!
//! creator.try_send(b"low", 1, 7, 100).unwrap();
//! creator.try_send(b"urgent", 30, 7, 100).unwrap();
//! let mut out = [0u8; 64];
//! let got = peer.try_recv(Selector::Any, 200, &mut out).unwrap();
//! assert_eq!((&out[..got.len], got.prio, got.mtype), (&b"urgent"[..], 30, 7));
//! ```

mod handles;
mod region;
#[cfg(all(test, not(kipc_loom)))]
mod tests;

pub use handles::{Receiver, Sender};
pub use region::{region_size, Region, SendSlot, MAX_MSG, MAX_SLOTS};

/// The shape of a mailbox, chosen by its creator.
///
/// # Examples
///
/// ```
/// use kipc_core::mailbox::Geometry;
/// let g = Geometry::new(16, 256);
/// assert_eq!(g.byte_budget, 16 * 256);
/// assert_eq!(g.with_byte_budget(1000).byte_budget, 1000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Number of message slots, `1..=MAX_SLOTS` (any number, not only powers
    /// of two).
    pub slots: u32,
    /// Largest message in bytes, `1..=MAX_MSG`.
    pub max_msg: u32,
    /// Payload bytes allowed in flight at once, `0..=slots * max_msg`.
    pub byte_budget: u64,
}

impl Geometry {
    /// `slots` slots of up to `max_msg` bytes, with a byte budget that never
    /// binds (`slots * max_msg`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::Geometry;
    /// assert_eq!(Geometry::new(4, 10).byte_budget, 40);
    /// ```
    pub const fn new(slots: u32, max_msg: u32) -> Self {
        Self {
            slots,
            max_msg,
            byte_budget: slots as u64 * max_msg as u64,
        }
    }

    /// The same geometry with a byte budget of `bytes`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::Geometry;
    /// assert_eq!(Geometry::new(4, 10).with_byte_budget(15).byte_budget, 15);
    /// ```
    pub const fn with_byte_budget(self, bytes: u64) -> Self {
        Self {
            byte_budget: bytes,
            ..self
        }
    }
}

/// Which messages a receive may take (SysV `msgrcv`'s `msgtyp`).
///
/// # Examples
///
/// ```
/// use kipc_core::mailbox::Selector;
/// assert!(Selector::Any.matches(9));
/// assert!(Selector::Exact(9).matches(9) && !Selector::Exact(9).matches(8));
/// assert!(Selector::LowestAtMost(9).matches(3) && !Selector::LowestAtMost(9).matches(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// Any message: highest priority first, FIFO within a priority
    /// (`msgtyp == 0`, and POSIX `mq_receive`).
    Any,
    /// Only messages of this type, in priority then FIFO order
    /// (`msgtyp > 0`).
    Exact(u64),
    /// Messages of type `<= t`, lowest type first, then priority, then FIFO
    /// (`msgtyp < 0`, with `t = -msgtyp`).
    LowestAtMost(u64),
}

impl Selector {
    /// `true` if a message of type `mtype` may be taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kipc_core::mailbox::Selector;
    /// assert!(Selector::LowestAtMost(0).matches(0));
    /// ```
    pub const fn matches(self, mtype: u64) -> bool {
        match self {
            Selector::Any => true,
            Selector::Exact(t) => mtype == t,
            Selector::LowestAtMost(t) => mtype <= t,
        }
    }
}

/// What [`Region::try_recv`] delivered besides the payload.
///
/// # Examples
///
/// ```
/// # use kipc_core::mailbox::{Geometry, Region, Selector};
/// # #[repr(C, align(128))] struct Buf([u8; 2048]);
/// # let mut buf = Buf([0; 2048]);
/// let r = unsafe { Region::init(buf.0.as_mut_ptr(), 2048, Geometry::new(4, 32)) }.unwrap();
/// r.try_send(b"hi", 5, 42, 1234).unwrap();
/// let got = r.try_recv(Selector::Any, 1, &mut [0; 32]).unwrap();
/// assert_eq!((got.len, got.prio, got.mtype, got.sender), (2, 5, 42, 1234));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Payload length in bytes (the payload is the buffer's first `len` bytes).
    pub len: usize,
    /// Priority, 0 (lowest) to 255.
    pub prio: u8,
    /// Message type.
    pub mtype: u64,
    /// Owner id the sender gave (the host stores its pid); as untrusted as
    /// the payload.
    pub sender: u32,
}
