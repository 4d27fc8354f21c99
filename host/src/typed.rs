//! Typed messages: `send_value`/`recv_value` of plain-old-data types over
//! rings and mailboxes, with the message type recorded in the header and
//! checked at open and on every typed operation.
//!
//! # Why zerocopy
//!
//! The peer is untrusted: it can write *any* bytes into a slot. A received
//! value is therefore only sound for types where every bit pattern is a valid
//! value, and a sent value must have no uninitialised (padding) bytes to leak
//! into shared memory. zerocopy names exactly these two properties as
//! separate traits, [`FromBytes`] ("every bit pattern is valid", for the
//! receive side) and [`IntoBytes`] ("no padding, every byte initialised", for
//! the send side, with [`Immutable`] to view a shared `&T` as bytes), and its
//! derives prove them at compile time (a `#[derive(IntoBytes)]` on a struct
//! with padding does not compile). bytemuck's `Pod` would do too, but it
//! bundles both directions into one trait, and zerocopy is already in
//! `Cargo.lock` (no new download), so the `typed` feature is cheap enough to
//! be on by default. Messages are always copied: a received `T` is copied
//! out of the slot into a private `T` (straight into its bytes, no
//! intermediate buffer), and no reference into shared memory is ever formed.
//! Alignment is never an issue, since nothing is read in place.
//!
//! # What the header records
//!
//! A creator ([`ShmQueue::create_typed`]) writes a [`TypeTag`] into the
//! region's prologue (see [`kipc_core::region`]): `size_of::<T>()`,
//! `align_of::<T>()` and a 64-bit fingerprint, [`Message::fingerprint`]. The
//! slot size (ring) or `max_msg` (mailbox) of a typed queue is exactly
//! `size_of::<T>()`, so no message can be longer than one `T`.
//!
//! - [`ShmQueue::open_typed`] (and [`ShmQueue::check_type`] for queues
//!   reached another way, such as a memfd from [`ShmQueue::from_fd`]) fails
//!   with [`Error::TypeMismatch`] unless the recorded tag equals `T`'s,
//!   untyped queues included;
//! - `send_value`/`recv_value` check `T` against the tag this handle read at
//!   attach: a typed queue of another type is [`Error::TypeMismatch`] and
//!   nothing is sent or received. On an *untyped* queue they are allowed
//!   (the queue carries bytes, and any bytes are a valid `T`);
//! - a received message whose length is not `size_of::<T>()` (a peer sent
//!   raw bytes) is consumed and reported as [`Error::TypeMismatch`] with the
//!   length as `found.size`: never reinterpreted, never padded. On an untyped
//!   queue with larger slots, a message longer than `T` is
//!   [`Error::TooLarge`] and stays queued (receive it as bytes).
//!
//! An untyped open ([`ShmQueue::open`]) of a typed queue still works and
//! moves bytes, as every queue does; the tag is what tools (`kipc ls`) and
//! typed handles read.
//!
//! # The fingerprint, and its limits
//!
//! By default [`Message::fingerprint`] is an FNV-1a hash of
//! [`core::any::type_name`] together with the size and alignment
//! ([`name_fingerprint`]). It is stable between builds of one program, and
//! between programs built by the same compiler version from the same type
//! path, but `type_name` is documented as *not* stable across compiler
//! versions, and two crates can name one layout differently (or, rarely,
//! two layouts alike). Peers built separately, by other compilers, or in C
//! should agree on a constant instead: override `fingerprint` with a number
//! you choose (and change it whenever the layout changes). The tag is a
//! check against honest mistakes, not security: a hostile peer can write
//! any tag, which is why the received bytes must be valid for every pattern
//! anyway.
//!
//! # Examples
//!
//! ```
//! use kipc_host::ring::{RingConfig, ShmRing};
//! use kipc_host::typed::Message;
//! use zerocopy::{FromBytes, Immutable, IntoBytes};
//!
//! #[derive(Debug, PartialEq, FromBytes, IntoBytes, Immutable)]
//! #[repr(C)]
//! struct Tick {
//!     seq: u64,
//!     price: f64,
//! }
//! impl Message for Tick {
//!     // A fixed fingerprint, so peers built by other compilers agree.
//!     fn fingerprint() -> u64 {
//!         0x7469_636b_0000_0001
//!     }
//! }
//!
//! let name = format!("doc-typed-{}", std::process::id());
//! let ring = ShmRing::create_typed::<Tick>(&name, RingConfig::spsc(8, 0))?;
//! let peer = ShmRing::open_typed::<Tick>(&name)?;
//! ring.sender()?.send_value(&Tick { seq: 1, price: 2.5 })?;
//! assert_eq!(peer.receiver()?.recv_value::<Tick>()?, Tick { seq: 1, price: 2.5 });
//! // Another type is refused at open, not reinterpreted.
//! assert!(matches!(
//!     ShmRing::open_typed::<[u32; 4]>(&name),
//!     Err(kipc_host::Error::TypeMismatch { .. })
//! ));
//! ShmRing::unlink(&name)?;
//! # Ok::<(), kipc_host::Error>(())
//! ```

use core::any::type_name;
use core::mem::{align_of, size_of};
use std::time::Duration;

use kipc_core::mailbox::Region as MailboxRegion;
use kipc_core::queue::AnyRing;
pub use kipc_core::region::TypeTag;
pub use zerocopy;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::endpoint::{QueueLayout, Receiver, Sender, ShmQueue};
use crate::mailbox::{MailboxConfig, Received, Selector};
use crate::ring::RingConfig;
use crate::{Error, Result};

/// A plain-old-data type that can travel as one message: every bit pattern
/// is a valid value ([`FromBytes`]), it has no padding ([`IntoBytes`]) and
/// no interior mutability ([`Immutable`]). Derive those three with zerocopy,
/// then `impl Message for T {}` (or override the fingerprint).
///
/// # Examples
///
/// ```
/// use kipc_host::typed::{type_tag, Message};
/// #[derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
/// #[repr(C)]
/// struct Point { x: i32, y: i32 }
/// impl Message for Point {}
/// let tag = type_tag::<Point>()?;
/// assert_eq!((tag.size, tag.align), (8, 4));
/// assert_ne!(tag.fingerprint, type_tag::<[i32; 2]>()?.fingerprint);
/// # Ok::<(), kipc_host::Error>(())
/// ```
pub trait Message: FromBytes + IntoBytes + Immutable + Sized {
    /// The type's 64-bit fingerprint, recorded by a typed queue's creator and
    /// compared by everyone who opens it. Default: [`name_fingerprint`]
    /// (see the [module documentation](self) for its limits); override it
    /// with a constant that peers built separately agree on.
    fn fingerprint() -> u64 {
        name_fingerprint::<Self>()
    }
}

/// Implements [`Message`] with the default fingerprint.
macro_rules! message_for {
    ($($t:ty),*) => { $(impl Message for $t {})* };
}
message_for!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);
impl<T: Message, const N: usize> Message for [T; N] {}

/// FNV-1a (64-bit) over `type_name::<T>()`, then `size_of::<T>()` and
/// `align_of::<T>()` as little-endian `u64`s: the default
/// [`Message::fingerprint`].
///
/// # Examples
///
/// ```
/// use kipc_host::typed::name_fingerprint;
/// assert_eq!(name_fingerprint::<u64>(), name_fingerprint::<u64>());
/// assert_ne!(name_fingerprint::<u64>(), name_fingerprint::<i64>());
/// ```
pub fn name_fingerprint<T>() -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let size = (size_of::<T>() as u64).to_le_bytes();
    let align = (align_of::<T>() as u64).to_le_bytes();
    type_name::<T>()
        .bytes()
        .chain(size)
        .chain(align)
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// The [`TypeTag`] a typed queue of `T` records.
///
/// # Errors
///
/// [`Error::InvalidArgument`] for a zero-sized `T` (size 0 means "untyped")
/// or one larger than `u32::MAX` bytes.
///
/// # Examples
///
/// ```
/// let tag = kipc_host::typed::type_tag::<u32>()?;
/// assert_eq!((tag.size, tag.align), (4, 4));
/// assert!(kipc_host::typed::type_tag::<[u8; 0]>().is_err());
/// # Ok::<(), kipc_host::Error>(())
/// ```
pub fn type_tag<T: Message>() -> Result<TypeTag> {
    let size = u32::try_from(size_of::<T>())
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| Error::InvalidArgument {
            object: format!("message type {}", type_name::<T>()),
            reason: "a typed message must be 1..=u32::MAX bytes",
        })?;
    // An alignment is a power of two far below 2^32.
    let align = u32::try_from(align_of::<T>()).unwrap_or(u32::MAX);
    Ok(TypeTag::new(size, align, T::fingerprint()))
}

/// A queue layout whose header records a [`TypeTag`]: rings and mailboxes.
/// Implemented here for the host's layouts only.
pub trait TypedQueue: QueueLayout {
    /// The tag the handle read at attach.
    fn recorded_type(&self) -> TypeTag;

    /// Makes `config` create a queue of `tag`: records it and sets the
    /// message size to `tag.size`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `config` asks for another nonzero
    /// message size.
    fn type_config(config: &mut Self::Config, tag: TypeTag) -> Result<()>;
}

/// The message size of a typed queue: `size` when the caller passed 0 or
/// `size` itself.
fn typed_size(object: &str, asked: u32, size: u32) -> Result<u32> {
    if asked == 0 || asked == size {
        Ok(size)
    } else {
        Err(Error::InvalidArgument {
            object: object.to_string(),
            reason: "a typed queue's message size is the type's size (pass 0)",
        })
    }
}

impl TypedQueue for AnyRing {
    fn recorded_type(&self) -> TypeTag {
        self.type_tag()
    }

    fn type_config(config: &mut RingConfig, tag: TypeTag) -> Result<()> {
        config.slot_size = typed_size("ring", config.slot_size, tag.size)?;
        config.message_type = tag;
        Ok(())
    }
}

impl TypedQueue for MailboxRegion {
    fn recorded_type(&self) -> TypeTag {
        self.type_tag()
    }

    fn type_config(config: &mut MailboxConfig, tag: TypeTag) -> Result<()> {
        config.max_msg = typed_size("mailbox", config.max_msg, tag.size)?;
        config.message_type = tag;
        Ok(())
    }
}

/// `Ok` if a queue recording `found` may carry `T = expected`: the same tag,
/// or an untyped queue (bytes) when `allow_untyped`.
fn check(expected: TypeTag, found: TypeTag, allow_untyped: bool) -> Result<()> {
    if found == expected || (allow_untyped && !found.is_typed()) {
        Ok(())
    } else {
        Err(Error::TypeMismatch { expected, found })
    }
}

/// What a receive of `n` bytes into a `T` of `expected` means: `Ok` only
/// for exactly one `T`.
fn check_len(expected: TypeTag, n: usize) -> Result<()> {
    if n == expected.size as usize {
        Ok(())
    } else {
        Err(Error::TypeMismatch {
            expected,
            found: TypeTag::new(u32::try_from(n).unwrap_or(u32::MAX), 0, 0),
        })
    }
}

impl<Q: TypedQueue> ShmQueue<Q> {
    /// Creates the named queue (as [`create`](Self::create)) for messages of
    /// type `T`, recording `T`'s [`TypeTag`] in the header. The message size
    /// (`slot_size` of a [`RingConfig`], `max_msg` of a [`MailboxConfig`])
    /// becomes `size_of::<T>()`: pass 0 (or that size).
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create); [`Error::InvalidArgument`] for a
    /// zero-sized `T` or another nonzero message size in `config`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::mailbox::{Mailbox, MailboxConfig};
    /// let name = format!("doc-typed-create-{}", std::process::id());
    /// let mb = Mailbox::create_typed::<u64>(&name, MailboxConfig::new(4, 0))?;
    /// assert_eq!(mb.max_msg(), 8);
    /// assert_eq!(mb.message_type(), kipc_host::typed::type_tag::<u64>()?);
    /// Mailbox::unlink(&name)?;
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn create_typed<T: Message>(name: &str, mut config: Q::Config) -> Result<Self> {
        Q::type_config(&mut config, type_tag::<T>()?)?;
        Self::create(name, config)
    }

    /// As [`create_typed`](Self::create_typed), in an anonymous memfd
    /// ([`create_anonymous`](Self::create_anonymous)).
    ///
    /// # Errors
    ///
    /// As [`create_typed`](Self::create_typed).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let ring = ShmRing::create_anonymous_typed::<[u16; 3]>(RingConfig::mpmc(2, 4, 0))?;
    /// assert_eq!(ring.slot_size(), 6);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn create_anonymous_typed<T: Message>(mut config: Q::Config) -> Result<Self> {
        Q::type_config(&mut config, type_tag::<T>()?)?;
        Self::create_anonymous(config)
    }

    /// Opens the named queue (as [`open`](Self::open)) and checks that its
    /// header records `T`.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open); [`Error::TypeMismatch`] if the queue is
    /// untyped or of another type (nothing is claimed).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{Error, ring::{RingConfig, ShmRing}};
    /// let name = format!("doc-typed-open-{}", std::process::id());
    /// let _ring = ShmRing::create_typed::<u32>(&name, RingConfig::spsc(4, 0))?;
    /// assert!(ShmRing::open_typed::<u32>(&name).is_ok());
    /// assert!(matches!(ShmRing::open_typed::<i32>(&name), Err(Error::TypeMismatch { .. })));
    /// assert!(ShmRing::open(&name).is_ok()); // untyped: bytes
    /// ShmRing::unlink(&name)?;
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn open_typed<T: Message>(name: &str) -> Result<Self> {
        let q = Self::open(name)?;
        q.check_type::<T>()?;
        Ok(q)
    }

    /// Checks that this queue's header records `T` (for queues reached by
    /// [`from_fd`](Self::from_fd) or opened untyped).
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if it is untyped or of another type;
    /// [`Error::InvalidArgument`] for a zero-sized `T`.
    pub fn check_type<T: Message>(&self) -> Result<()> {
        check(type_tag::<T>()?, self.queue().recorded_type(), false)
    }
}

impl<Q: TypedQueue> Sender<Q> {
    /// The tag of `T`, checked against the queue's.
    fn typed<T: Message>(&self) -> Result<TypeTag> {
        let tag = type_tag::<T>()?;
        check(tag, self.queue().recorded_type(), true)?;
        Ok(tag)
    }

    /// Sends one `T` without blocking: its bytes are copied straight into
    /// the slot.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] (the queue holds another type; nothing is
    /// sent); as [`try_send`](Self::try_send) otherwise.
    pub fn try_send_value<T: Message>(&mut self, value: &T) -> Result<()> {
        self.typed::<T>()?;
        self.try_send(value.as_bytes())
    }

    /// Sends one `T`, waiting as long as it takes for room.
    ///
    /// # Errors
    ///
    /// As [`try_send_value`](Self::try_send_value), except `Full`.
    pub fn send_value<T: Message>(&mut self, value: &T) -> Result<()> {
        self.typed::<T>()?;
        self.send(value.as_bytes())
    }

    /// Sends one `T`, waiting up to `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`try_send_value`](Self::try_send_value)
    /// otherwise.
    pub fn send_value_timeout<T: Message>(&mut self, value: &T, timeout: Duration) -> Result<()> {
        self.typed::<T>()?;
        self.send_timeout(value.as_bytes(), timeout)
    }

    /// Reserves a slot (waiting up to `timeout`, `None`: forever), then lets
    /// `fill` build the value in a zeroed private `T` and copies it into the
    /// slot: the value is made only once there is room for it.
    ///
    /// # Errors
    ///
    /// As [`send_value_timeout`](Self::send_value_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::ring::{RingConfig, ShmRing};
    /// let ring = ShmRing::create_anonymous_typed::<[u32; 2]>(RingConfig::spsc(2, 0))?;
    /// ring.sender()?.send_value_with(None, |v: &mut [u32; 2]| *v = [1, 2])?;
    /// assert_eq!(ring.receiver()?.try_recv_value::<[u32; 2]>()?, [1, 2]);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn send_value_with<T: Message>(
        &mut self,
        timeout: Option<Duration>,
        fill: impl FnOnce(&mut T),
    ) -> Result<()> {
        let tag = self.typed::<T>()?;
        let mut written = Ok(());
        self.send_with(tag.size as usize, timeout, |w| {
            let mut value = T::new_zeroed();
            fill(&mut value);
            written = w.write_at(0, value.as_bytes());
        })?;
        // `len` is the type's size, so the write cannot fall outside it.
        Ok(written?)
    }
}

impl<Q: TypedQueue> Receiver<Q> {
    /// Receives one message into `out` without blocking, copying it out of
    /// the slot straight into `out`'s bytes.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if the queue holds another type (nothing is
    /// received) or the message is not `size_of::<T>()` bytes long (it is
    /// consumed; `out` then holds unspecified bytes, still a valid `T`); as
    /// [`try_recv`](Self::try_recv) otherwise.
    pub fn try_recv_value_into<T: Message>(&mut self, out: &mut T) -> Result<()> {
        let tag = self.typed::<T>()?;
        let n = self.try_recv(out.as_mut_bytes())?;
        check_len(tag, n)
    }

    /// Receives one message into `out`, waiting up to `timeout` (`None`:
    /// forever).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`try_recv_value_into`](Self::try_recv_value_into)
    /// otherwise.
    pub fn recv_value_into<T: Message>(
        &mut self,
        out: &mut T,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let tag = self.typed::<T>()?;
        let n = match timeout {
            Some(t) => self.recv_timeout(out.as_mut_bytes(), t)?,
            None => self.recv(out.as_mut_bytes())?,
        };
        check_len(tag, n)
    }

    /// Receives one `T` by value without blocking.
    ///
    /// # Errors
    ///
    /// As [`try_recv_value_into`](Self::try_recv_value_into).
    pub fn try_recv_value<T: Message>(&mut self) -> Result<T> {
        let mut out = T::new_zeroed();
        self.try_recv_value_into(&mut out)?;
        Ok(out)
    }

    /// Receives one `T` by value, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// As [`try_recv_value_into`](Self::try_recv_value_into), except `Empty`.
    pub fn recv_value<T: Message>(&mut self) -> Result<T> {
        let mut out = T::new_zeroed();
        self.recv_value_into(&mut out, None)?;
        Ok(out)
    }

    /// Receives one `T` by value, waiting up to `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as
    /// [`try_recv_value_into`](Self::try_recv_value_into) otherwise.
    pub fn recv_value_timeout<T: Message>(&mut self, timeout: Duration) -> Result<T> {
        let mut out = T::new_zeroed();
        self.recv_value_into(&mut out, Some(timeout))?;
        Ok(out)
    }

    /// The tag of `T`, checked against the queue's.
    fn typed<T: Message>(&self) -> Result<TypeTag> {
        let tag = type_tag::<T>()?;
        check(tag, self.queue().recorded_type(), true)?;
        Ok(tag)
    }
}

/// Mailbox forms: a priority and a message type (`mtype`) travel beside the
/// value, as with the byte API.
impl ShmQueue<MailboxRegion> {
    /// The tag of `T`, checked against the mailbox's.
    fn typed<T: Message>(&self) -> Result<TypeTag> {
        let tag = type_tag::<T>()?;
        check(tag, self.queue().recorded_type(), true)?;
        Ok(tag)
    }

    /// Sends one `T` with priority `prio` and type `mtype` without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] (the mailbox holds another type; nothing is
    /// sent); as [`try_send`](Self::try_send) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::{Error, mailbox::{Mailbox, MailboxConfig}};
    /// let mb = Mailbox::create_anonymous_typed::<u32>(MailboxConfig::new(4, 0))?;
    /// mb.try_send_value(&7u32, 1, 0)?;
    /// mb.try_send_value(&9u32, 5, 0)?;
    /// assert!(matches!(mb.try_send_value(&1u64, 0, 0), Err(Error::TypeMismatch { .. })));
    /// let (v, got) = mb.try_recv_value::<u32>()?;
    /// assert_eq!((v, got.prio), (9, 5));
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn try_send_value<T: Message>(&self, value: &T, prio: u8, mtype: u64) -> Result<()> {
        self.typed::<T>()?;
        self.try_send(value.as_bytes(), prio, mtype)
    }

    /// Sends one `T`, waiting as long as it takes for room.
    ///
    /// # Errors
    ///
    /// As [`try_send_value`](Self::try_send_value), except `Full`.
    pub fn send_value<T: Message>(&self, value: &T, prio: u8, mtype: u64) -> Result<()> {
        self.typed::<T>()?;
        self.send(value.as_bytes(), prio, mtype)
    }

    /// Sends one `T`, waiting up to `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`try_send_value`](Self::try_send_value)
    /// otherwise.
    pub fn send_value_timeout<T: Message>(
        &self,
        value: &T,
        prio: u8,
        mtype: u64,
        timeout: Duration,
    ) -> Result<()> {
        self.typed::<T>()?;
        self.send_timeout(value.as_bytes(), prio, mtype, timeout)
    }

    /// Receives the first message `selector` accepts into `out`, copied out
    /// of the slot straight into `out`'s bytes, waiting up to `timeout`
    /// (`Some(Duration::ZERO)`: try once; `None`: forever).
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if the mailbox holds another type (nothing is
    /// received) or the message is not `size_of::<T>()` bytes long (it is
    /// consumed); [`Error::Empty`] for a zero timeout with nothing to
    /// receive, [`Error::Timeout`]; as [`try_recv`](Self::try_recv)
    /// otherwise.
    pub fn recv_value_into<T: Message>(
        &self,
        out: &mut T,
        selector: Selector,
        timeout: Option<Duration>,
    ) -> Result<Received> {
        let tag = self.typed::<T>()?;
        let got = match timeout {
            Some(Duration::ZERO) => self.try_recv_matching(selector, out.as_mut_bytes())?,
            t => self.recv_matching(selector, out.as_mut_bytes(), t)?,
        };
        check_len(tag, got.len)?;
        Ok(got)
    }

    /// Receives one `T` by value without blocking (highest priority first).
    ///
    /// # Errors
    ///
    /// As [`recv_value_into`](Self::recv_value_into) with a zero timeout.
    pub fn try_recv_value<T: Message>(&self) -> Result<(T, Received)> {
        self.recv_value_matching(Selector::Any, Some(Duration::ZERO))
    }

    /// Receives one `T` by value, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// As [`recv_value_into`](Self::recv_value_into).
    pub fn recv_value<T: Message>(&self) -> Result<(T, Received)> {
        self.recv_value_matching(Selector::Any, None)
    }

    /// Receives one `T` by value, waiting up to `timeout`.
    ///
    /// # Errors
    ///
    /// As [`recv_value_into`](Self::recv_value_into).
    pub fn recv_value_timeout<T: Message>(&self, timeout: Duration) -> Result<(T, Received)> {
        self.recv_value_matching(Selector::Any, Some(timeout))
    }

    /// Receives the first `T` `selector` accepts by value, waiting up to
    /// `timeout` (as [`recv_value_into`](Self::recv_value_into)).
    ///
    /// # Errors
    ///
    /// As [`recv_value_into`](Self::recv_value_into).
    pub fn recv_value_matching<T: Message>(
        &self,
        selector: Selector,
        timeout: Option<Duration>,
    ) -> Result<(T, Received)> {
        let mut out = T::new_zeroed();
        let got = self.recv_value_into(&mut out, selector, timeout)?;
        Ok((out, got))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::Mailbox;
    use crate::ring::ShmRing;
    use zerocopy::{FromBytes, Immutable, IntoBytes};

    #[derive(Debug, Clone, Copy, PartialEq, FromBytes, IntoBytes, Immutable)]
    #[repr(C)]
    struct Order {
        id: u64,
        qty: u32,
        side: u32,
    }
    impl Message for Order {}

    /// Same size and alignment as `Order`, another type.
    #[derive(Debug, Clone, Copy, PartialEq, FromBytes, IntoBytes, Immutable)]
    #[repr(C)]
    struct Quote {
        id: u64,
        bid: u32,
        ask: u32,
    }
    impl Message for Quote {}

    /// One fixed fingerprint, as separately built peers would use.
    #[derive(Debug, Clone, Copy, PartialEq, FromBytes, IntoBytes, Immutable)]
    #[repr(C)]
    struct Fixed(u64);
    impl Message for Fixed {
        fn fingerprint() -> u64 {
            42
        }
    }

    fn unique(what: &str) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        format!("typed-{what}-{}-{n}", std::process::id())
    }

    /// Unlinks a named object when the test ends, however it ends.
    struct Unlink(String);
    impl Drop for Unlink {
        fn drop(&mut self) {
            let _ = ShmRing::unlink(&self.0);
        }
    }

    const ORDER: Order = Order {
        id: 7,
        qty: 100,
        side: 1,
    };

    #[test]
    fn fingerprints_tell_same_layout_types_apart() {
        let (a, b) = (type_tag::<Order>().unwrap(), type_tag::<Quote>().unwrap());
        assert_eq!((a.size, a.align), (b.size, b.align));
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!(a, type_tag::<Order>().unwrap());
        assert_eq!(type_tag::<Fixed>().unwrap().fingerprint, 42);
        assert!(matches!(
            type_tag::<()>(),
            Err(Error::InvalidArgument { .. })
        ));
    }

    impl Message for () {}

    #[test]
    fn typed_ring_round_trips_between_two_handles_of_every_kind() {
        for config in [RingConfig::spsc(4, 0), RingConfig::mpmc(2, 4, 0)] {
            let name = unique("ring");
            let _unlink = Unlink(name.clone());
            let ring = ShmRing::create_typed::<Order>(&name, config).unwrap();
            assert_eq!(ring.slot_size(), size_of::<Order>());
            let peer = ShmRing::open_typed::<Order>(&name).unwrap();
            assert_eq!(peer.message_type(), type_tag::<Order>().unwrap());
            let mut tx = ring.sender().unwrap();
            let mut rx = peer.receiver().unwrap();
            tx.send_value(&ORDER).unwrap();
            tx.send_value_with(None, |o: &mut Order| o.qty = 5).unwrap();
            assert_eq!(rx.recv_value::<Order>().unwrap(), ORDER);
            let mut out = Order {
                id: 1,
                qty: 1,
                side: 1,
            };
            rx.recv_value_into(&mut out, Some(Duration::from_secs(5)))
                .unwrap();
            assert_eq!(
                out,
                Order {
                    id: 0,
                    qty: 5,
                    side: 0
                }
            );
            assert_eq!(rx.try_recv_value::<Order>(), Err(Error::Empty));
        }
    }

    #[test]
    fn open_with_another_type_is_a_mismatch_not_a_reinterpretation() {
        let name = unique("mismatch");
        let _unlink = Unlink(name.clone());
        let _ring = ShmRing::create_typed::<Order>(&name, RingConfig::spsc(4, 0)).unwrap();
        let expected = type_tag::<Quote>().unwrap();
        assert_eq!(
            ShmRing::open_typed::<Quote>(&name).unwrap_err(),
            Error::TypeMismatch {
                expected,
                found: type_tag::<Order>().unwrap()
            }
        );
        // A 16-byte array: same size, other alignment and fingerprint.
        assert!(matches!(
            ShmRing::open_typed::<[u8; 16]>(&name),
            Err(Error::TypeMismatch { .. })
        ));
    }

    #[test]
    fn typed_open_of_an_untyped_ring_is_a_mismatch() {
        let name = unique("untyped");
        let _unlink = Unlink(name.clone());
        let _ring = ShmRing::create(&name, RingConfig::spsc(4, 16)).unwrap();
        assert_eq!(
            ShmRing::open_typed::<Order>(&name).unwrap_err(),
            Error::TypeMismatch {
                expected: type_tag::<Order>().unwrap(),
                found: TypeTag::UNTYPED
            }
        );
    }

    #[test]
    fn sending_or_receiving_another_type_moves_nothing() {
        let ring = ShmRing::create_anonymous_typed::<Order>(RingConfig::spsc(4, 0)).unwrap();
        let mut tx = ring.sender().unwrap();
        let mut rx = ring.receiver().unwrap();
        let quote = Quote {
            id: 1,
            bid: 2,
            ask: 3,
        };
        assert!(matches!(
            tx.try_send_value(&quote),
            Err(Error::TypeMismatch { .. })
        ));
        assert_eq!(ring.queued(), 0);
        tx.send_value(&ORDER).unwrap();
        assert!(matches!(
            rx.try_recv_value::<Quote>(),
            Err(Error::TypeMismatch { .. })
        ));
        assert_eq!(ring.queued(), 1, "a refused receive leaves the message");
        assert_eq!(rx.try_recv_value::<Order>().unwrap(), ORDER);
    }

    #[test]
    fn untyped_open_of_a_typed_ring_moves_bytes_and_a_short_message_is_a_mismatch() {
        let name = unique("bytes");
        let _unlink = Unlink(name.clone());
        let ring = ShmRing::create_typed::<Order>(&name, RingConfig::spsc(4, 0)).unwrap();
        let raw = ShmRing::open(&name).unwrap();
        let mut tx = raw.sender().unwrap();
        let mut rx = ring.receiver().unwrap();
        // Bytes of a whole Order arrive as one.
        tx.try_send(ORDER.as_bytes()).unwrap();
        assert_eq!(rx.try_recv_value::<Order>().unwrap(), ORDER);
        // A short message is consumed and reported with its length.
        tx.try_send(b"abc").unwrap();
        assert_eq!(
            rx.try_recv_value::<Order>().unwrap_err(),
            Error::TypeMismatch {
                expected: type_tag::<Order>().unwrap(),
                found: TypeTag::new(3, 0, 0)
            }
        );
        assert_eq!(rx.try_recv_value::<Order>(), Err(Error::Empty));
        // The untyped side reads typed messages as bytes.
        drop(tx);
        drop(rx);
        ring.sender().unwrap().send_value(&ORDER).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(raw.receiver().unwrap().try_recv(&mut buf), Ok(16));
        assert_eq!(Order::read_from_bytes(&buf).unwrap(), ORDER);
    }

    #[test]
    fn typed_config_refuses_another_message_size() {
        assert!(matches!(
            ShmRing::create_anonymous_typed::<Order>(RingConfig::spsc(4, 64)),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(ShmRing::create_anonymous_typed::<Order>(RingConfig::spsc(4, 16)).is_ok());
        assert!(matches!(
            Mailbox::create_anonymous_typed::<Order>(MailboxConfig::new(4, 8)),
            Err(Error::InvalidArgument { .. })
        ));
    }

    #[test]
    fn values_on_an_untyped_ring_need_the_exact_length() {
        let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 32)).unwrap();
        let mut tx = ring.sender().unwrap();
        let mut rx = ring.receiver().unwrap();
        tx.send_value(&0x0102_0304u32).unwrap();
        assert_eq!(rx.try_recv_value::<u32>(), Ok(0x0102_0304));
        tx.try_send(&[0; 20]).unwrap();
        assert!(matches!(
            rx.try_recv_value::<u32>(),
            Err(Error::TooLarge { len: 20, .. })
        ));
        assert_eq!(ring.queued(), 1, "a longer message stays queued");
    }

    #[test]
    fn typed_mailbox_round_trips_with_priorities_and_checks_types() {
        let name = unique("mbox");
        let _unlink = Unlink(name.clone());
        let mb = Mailbox::create_typed::<Order>(&name, MailboxConfig::new(4, 0)).unwrap();
        let peer = Mailbox::open_typed::<Order>(&name).unwrap();
        assert!(matches!(
            Mailbox::open_typed::<Fixed>(&name),
            Err(Error::TypeMismatch { .. })
        ));
        mb.send_value(&ORDER, 1, 10).unwrap();
        let urgent = Order { id: 8, ..ORDER };
        mb.send_value_timeout(&urgent, 9, 20, Duration::from_secs(1))
            .unwrap();
        assert!(matches!(
            peer.try_recv_value::<Quote>(),
            Err(Error::TypeMismatch { .. })
        ));
        let (v, got) = peer.recv_value::<Order>().unwrap();
        assert_eq!((v, got.prio, got.mtype), (urgent, 9, 20));
        let (v, got) = peer
            .recv_value_matching::<Order>(Selector::Exact(10), Some(Duration::from_secs(1)))
            .unwrap();
        assert_eq!((v, got.mtype), (ORDER, 10));
        assert_eq!(
            peer.recv_value_timeout::<Order>(Duration::from_millis(5)),
            Err(Error::Timeout)
        );
    }
}
