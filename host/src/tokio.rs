//! Async endpoints for tokio (the `tokio` cargo feature): ring receivers
//! and senders, the mailbox with priorities, and [`Signals`], each waiting
//! in tokio's reactor on its wake descriptor (see [`crate::wake`]) instead
//! of blocking a thread on a futex.
//!
//! | type                | over                                   | waits with |
//! |---------------------|----------------------------------------|------------|
//! | [`AsyncReceiver`]   | a [`PollReceiver`] in an `AsyncFd`     | [`recv`](AsyncReceiver::recv), [`recv_vec`](AsyncReceiver::recv_vec), `Stream` |
//! | [`AsyncSender`]     | a [`PollSender`] in an `AsyncFd`       | [`send`](AsyncSender::send), `Sink` |
//! | [`AsyncMailbox`]    | a [`Mailbox`] and one [`WakeFd`] a side | [`recv`](AsyncMailbox::recv), [`send`](AsyncMailbox::send) |
//! | [`AsyncSignals`]    | a [`Signals`] (its eventfd)             | [`recv`](AsyncSignals::recv), `Stream` |
//!
//! # How a wait goes
//!
//! 1. Spin: up to [`DEFAULT_SPIN_ITERS`] plain tries (no system call), with
//!    a pause hint between them and a `sched_yield` every [`YIELD_EVERY`],
//!    as the blocking calls do: a peer that answers at once costs no
//!    reactor round trip. [`AsyncReceiver::set_spin`] changes the count
//!    (0: none). The spin holds the runtime thread for some microseconds
//!    at most.
//! 2. Arm: the pollable endpoint's try, which on `Empty` (`Full`) has armed
//!    the descriptor, so the next message (free slot) makes it readable.
//! 3. Wait until tokio reports the descriptor readable, or a
//!    [`LIVENESS_SLICE`] passes; clear tokio's readiness and go to 2. An
//!    armed try reaps dead peers once per slice, so a peer that died holding
//!    its side is reported as [`Error::PeerDead`] within about 20 ms (after
//!    what it published is delivered), never as a future that waits forever.
//!
//! While idle, a waiting task wakes once per slice for one try: no thread
//! is blocked and no CPU is spent between those wake-ups.
//!
//! # Cancellation safety
//!
//! Every future here is cancellation-safe: a message moves only inside a
//! synchronous try, which completes or does nothing.
//! - Dropping a `recv` future at any `.await` loses no message: a message is
//!   copied out of the queue only by the try that then returns it.
//! - Dropping a `send` future sends all of the message or none of it (a
//!   try-send is atomic), so it is safe in `tokio::select!`.
//! - The `Sink` keeps one accepted message until a flush sends it; dropping
//!   the sender with one still held discards it (flush or close first).
//!
//! # Runtime requirements
//!
//! Constructors (and an [`AsyncMailbox`] side's first wait, which binds its
//! descriptor) must run inside a tokio runtime with I/O and time enabled
//! (`enable_all`); outside any runtime they return
//! [`Error::InvalidArgument`]. Any runtime flavour works; the futures are
//! `Send` when the queue's handles are.
//!
//! # Examples
//!
//! ```
//! use kipc_host::ring::{RingConfig, ShmRing};
//! use kipc_host::tokio::{AsyncReceiver, AsyncSender};
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! rt.block_on(async {
//!     let ring = ShmRing::create_anonymous(RingConfig::spsc(8, 64))?;
//!     let mut rx = AsyncReceiver::new(ring.receiver()?)?;
//!     let mut tx = AsyncSender::new(ring.sender()?)?;
//!     let peer = tokio::spawn(async move { tx.send(b"ping").await });
//!     let mut buf = [0; 64];
//!     let n = rx.recv(&mut buf).await?;
//!     assert_eq!(&buf[..n], b"ping");
//!     peer.await.expect("the sending task ran")
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// `AsyncFd::register` is an `unsafe fn` (tokio's I/O-safety contract).
#![allow(unsafe_code)]

use std::future::{poll_fn, Future};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;
use ::tokio::time::{Instant, Sleep};
use futures_core::stream::{FusedStream, Stream};
use futures_sink::Sink;
use kipc_core::queue::Role;

use crate::endpoint::{PollReceiver, PollSender, QueueLayout, Receiver, Sender};
use crate::futex::{DEFAULT_SPIN_ITERS, LIVENESS_SLICE, YIELD_EVERY};
use crate::mailbox::{Mailbox, Received, Selector};
use crate::signals::{SigInfo, Signals};
use crate::wake::WakeFd;
use crate::{Error, Result};

// ---- plumbing ----------------------------------------------------------------

/// An owned descriptor holder as tokio's `AsyncFd` wants it (`AsRawFd`).
#[derive(Debug)]
struct Fd<T>(T);

impl<T: AsFd> AsRawFd for Fd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Registers `inner`'s descriptor with the current runtime's reactor for
/// readability.
fn register<T: AsFd>(inner: T) -> Result<AsyncFd<Fd<T>>> {
    if ::tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::InvalidArgument {
            object: "kipc_host::tokio endpoint".into(),
            reason: "must be made inside a tokio runtime",
        });
    }
    // SAFETY: every `T` registered here (a pollable endpoint, a `WakeFd`,
    // a `Signals`) owns its descriptor in a private `OwnedFd` field that is
    // never replaced or closed before the value drops, and this module never
    // hands out `&mut T` (which could swap the value) while it is
    // registered: the descriptor stays open and the same for as long as the
    // `AsyncFd` owns it.
    let fd = unsafe { AsyncFd::register_with_interest(Fd(inner), Interest::READABLE) };
    fd.map_err(|e| Error::from(e.into_parts().1))
}

/// Whether a try's result means "nothing to do yet" for a waiter of `role`.
fn idle<T>(role: Role, r: &Result<T>) -> bool {
    match role {
        Role::Consumer => matches!(r, Err(Error::Empty)),
        Role::Producer => matches!(r, Err(Error::Full)),
    }
}

/// The state one waiter keeps between polls: its liveness timer (made on
/// the first wait, then re-armed) and how long it spins.
#[derive(Debug)]
struct Wait {
    timer: Option<Pin<Box<Sleep>>>,
    spin: u32,
}

impl Wait {
    fn new() -> Self {
        Self {
            timer: None,
            spin: DEFAULT_SPIN_ITERS,
        }
    }
}

/// One poll of a wait (see the module docs): spins with plain tries unless
/// `*spun`, then loops over armed tries and readiness, with the liveness
/// timer as a second wake-up source. `op(inner, armed)` is the try: a plain
/// one when `armed` is false, the arming one otherwise.
fn poll_wait<T: AsFd, R>(
    fd: &mut AsyncFd<Fd<T>>,
    wait: &mut Wait,
    spun: &mut bool,
    role: Role,
    cx: &mut Context<'_>,
    mut op: impl FnMut(&mut T, bool) -> Result<R>,
) -> Poll<Result<R>> {
    if !*spun {
        *spun = true;
        for i in 1..=wait.spin {
            let r = op(&mut fd.get_mut().0, false);
            if !idle(role, &r) {
                *spun = false;
                return Poll::Ready(r);
            }
            if i % YIELD_EVERY == 0 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
    loop {
        let r = op(&mut fd.get_mut().0, true);
        if !idle(role, &r) {
            *spun = false;
            return Poll::Ready(r);
        }
        // Armed: the descriptor becomes readable when the peer acts.
        match fd.poll_read_ready(cx) {
            Poll::Ready(Ok(mut guard)) => {
                // The try after this observes whatever made it readable;
                // a wake-up after the clear sets readiness again.
                guard.clear_ready();
                continue;
            }
            Poll::Ready(Err(e)) => {
                *spun = false;
                return Poll::Ready(Err(e.into()));
            }
            Poll::Pending => {}
        }
        let timer = wait
            .timer
            .get_or_insert_with(|| Box::pin(::tokio::time::sleep(LIVENESS_SLICE)));
        match timer.as_mut().poll(cx) {
            // A slice passed: the next armed try reaps dead peers.
            Poll::Ready(()) => timer.as_mut().reset(Instant::now() + LIVENESS_SLICE),
            Poll::Pending => return Poll::Pending,
        }
    }
}

// ---- ring receiver -------------------------------------------------------------

/// An async [`Receiver`]: waits in tokio's reactor on its wake descriptor.
/// `Stream` of owned messages; see the [module docs](self) for the wait and
/// cancellation safety.
#[derive(Debug)]
pub struct AsyncReceiver<Q: QueueLayout> {
    fd: AsyncFd<Fd<PollReceiver<Q>>>,
    wait: Wait,
    /// The `Stream`'s receive buffer ([`PollReceiver::max_len`] bytes) and
    /// whether its current poll has spun.
    scratch: Vec<u8>,
    stream_spun: bool,
    /// The `Stream` ended (after yielding `PeerDead` or `Busy`).
    ended: bool,
}

impl<Q: QueueLayout> AsyncReceiver<Q> {
    /// Makes `rx` async: gives it a wake descriptor and registers that with
    /// the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] outside a tokio runtime; as
    /// [`Receiver::into_pollable`]; [`Error::Sys`] if the reactor refuses
    /// the descriptor. `rx` is dropped on error (its side released).
    ///
    /// # Panics
    ///
    /// Inside a runtime built without I/O (tokio's own panic).
    pub fn new(rx: Receiver<Q>) -> Result<Self> {
        Self::from_pollable(rx.into_pollable()?)
    }

    /// Registers an already pollable receiver (see [`new`](Self::new)).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_pollable(rx: PollReceiver<Q>) -> Result<Self> {
        Ok(Self {
            fd: register(rx)?,
            wait: Wait::new(),
            scratch: Vec::new(),
            stream_spun: false,
            ended: false,
        })
    }

    /// Sets how many plain tries a receive spins through before it arms the
    /// descriptor and yields to the runtime (default
    /// [`DEFAULT_SPIN_ITERS`]; 0 arms at once).
    pub fn set_spin(&mut self, iters: u32) {
        self.wait.spin = iters;
    }

    /// Receives the next message into `buf` and returns its length, waiting
    /// (without blocking the thread) until there is one. Cancellation-safe.
    ///
    /// # Errors
    ///
    /// [`Error::PeerDead`] once the queue is drained and the producers are
    /// gone (noticed within about 20 ms); as [`Receiver::try_recv`]
    /// otherwise (never `Empty`): [`Error::TooLarge`] if `buf` is too short
    /// (the message stays queued), [`Error::Corrupt`], [`Error::Busy`];
    /// [`Error::Sys`] if the reactor fails.
    pub async fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut spun = false;
        poll_fn(|cx| self.poll_recv_inner(cx, &mut spun, buf)).await
    }

    /// Receives the next message as a `Vec` of its length. Cancellation-safe.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv) (never `TooLarge`).
    pub async fn recv_vec(&mut self) -> Result<Vec<u8>> {
        let mut buf = vec![0; self.max_len()];
        let n = self.recv(&mut buf).await?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Poll form of [`recv`](Self::recv), for hand-written futures: `Ready`
    /// with the message's length, or `Pending` with `cx` registered for
    /// the next wake-up. Every call starts with an armed try (no spin).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize>> {
        let mut spun = true;
        self.poll_recv_inner(cx, &mut spun, buf)
    }

    fn poll_recv_inner(
        &mut self,
        cx: &mut Context<'_>,
        spun: &mut bool,
        buf: &mut [u8],
    ) -> Poll<Result<usize>> {
        poll_wait(
            &mut self.fd,
            &mut self.wait,
            spun,
            Role::Consumer,
            cx,
            |rx, armed| {
                if armed {
                    rx.try_recv(buf)
                } else {
                    rx.get_mut().try_recv(buf)
                }
            },
        )
    }

    /// Receives a message if one is there now, without waiting: a plain
    /// [`Receiver::try_recv`] (no system call; it does not arm the
    /// descriptor, which [`recv`](Self::recv) does when it has to wait).
    ///
    /// # Errors
    ///
    /// As [`Receiver::try_recv`] (`Empty` when there is none).
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.fd.get_mut().0.get_mut().try_recv(buf)
    }

    /// Largest message in bytes (a `buf` this long always fits).
    pub fn max_len(&self) -> usize {
        self.fd.get_ref().0.max_len()
    }

    /// The pollable receiver, deregistered from the reactor.
    pub fn into_inner(self) -> PollReceiver<Q> {
        self.fd.into_inner().0
    }
}

impl<Q: QueueLayout> Stream for AsyncReceiver<Q>
where
    Self: Unpin,
{
    type Item = Result<Vec<u8>>;

    /// The next message, owned. The stream yields every error (a `Corrupt`
    /// message is consumed and the stream goes on) and ends after
    /// `PeerDead` or `Busy`.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let max = this.max_len();
        let mut scratch = std::mem::take(&mut this.scratch);
        scratch.resize(max, 0);
        let mut spun = this.stream_spun;
        let got = this.poll_recv_inner(cx, &mut spun, &mut scratch);
        this.stream_spun = spun;
        let item = match got {
            Poll::Pending => None,
            Poll::Ready(Ok(n)) => Some(Ok(scratch.get(..n).unwrap_or_default().to_vec())),
            Poll::Ready(Err(e)) => {
                this.ended = matches!(e, Error::PeerDead | Error::Busy);
                Some(Err(e))
            }
        };
        this.scratch = scratch;
        match item {
            None => Poll::Pending,
            Some(item) => Poll::Ready(Some(item)),
        }
    }
}

impl<Q: QueueLayout> FusedStream for AsyncReceiver<Q>
where
    Self: Unpin,
{
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

// ---- ring sender ---------------------------------------------------------------

/// An async [`Sender`]: waits in tokio's reactor on its wake descriptor for
/// room. `Sink` of anything `AsRef<[u8]>`; see the [module docs](self) for
/// the wait and cancellation safety.
#[derive(Debug)]
pub struct AsyncSender<Q: QueueLayout> {
    fd: AsyncFd<Fd<PollSender<Q>>>,
    wait: Wait,
    /// The `Sink`'s accepted message, not yet sent, and whether its flush
    /// has spun.
    pending: Vec<u8>,
    has_pending: bool,
    sink_spun: bool,
}

impl<Q: QueueLayout> AsyncSender<Q> {
    /// Makes `tx` async: gives it a wake descriptor and registers that with
    /// the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] outside a tokio runtime; as
    /// [`Sender::into_pollable`]; [`Error::Sys`] if the reactor refuses the
    /// descriptor. `tx` is dropped on error (its side released).
    ///
    /// # Panics
    ///
    /// Inside a runtime built without I/O (tokio's own panic).
    pub fn new(tx: Sender<Q>) -> Result<Self> {
        Self::from_pollable(tx.into_pollable()?)
    }

    /// Registers an already pollable sender (see [`new`](Self::new)).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_pollable(tx: PollSender<Q>) -> Result<Self> {
        Ok(Self {
            fd: register(tx)?,
            wait: Wait::new(),
            pending: Vec::new(),
            has_pending: false,
            sink_spun: false,
        })
    }

    /// Sets how many plain tries a send spins through before it arms the
    /// descriptor (default [`DEFAULT_SPIN_ITERS`]; 0 arms at once).
    pub fn set_spin(&mut self, iters: u32) {
        self.wait.spin = iters;
    }

    /// Sends `msg`, waiting (without blocking the thread) for room. All of
    /// `msg` or nothing is sent, also when the future is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::PeerDead`] if the consumer died holding its side while the
    /// queue was full (noticed within about 20 ms); as
    /// [`Sender::try_send`] otherwise (never `Full`): [`Error::TooLarge`],
    /// [`Error::Corrupt`], [`Error::Busy`]; [`Error::Sys`] if the reactor
    /// fails.
    pub async fn send(&mut self, msg: &[u8]) -> Result<()> {
        let mut spun = false;
        poll_fn(|cx| self.poll_send_inner(cx, &mut spun, msg)).await
    }

    /// Poll form of [`send`](Self::send): `Ready` once `msg` was sent (or
    /// failed), `Pending` with `cx` registered for the next wake-up. Every
    /// call starts with an armed try (no spin).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn poll_send(&mut self, cx: &mut Context<'_>, msg: &[u8]) -> Poll<Result<()>> {
        let mut spun = true;
        self.poll_send_inner(cx, &mut spun, msg)
    }

    fn poll_send_inner(
        &mut self,
        cx: &mut Context<'_>,
        spun: &mut bool,
        msg: &[u8],
    ) -> Poll<Result<()>> {
        poll_wait(
            &mut self.fd,
            &mut self.wait,
            spun,
            Role::Producer,
            cx,
            |tx, armed| {
                if armed {
                    tx.try_send(msg)
                } else {
                    tx.get_mut().try_send(msg)
                }
            },
        )
    }

    /// Sends `msg` if there is room now, without waiting: a plain
    /// [`Sender::try_send`] (no system call unless a receiver waits; it
    /// does not arm the descriptor, which [`send`](Self::send) does when it
    /// has to wait).
    ///
    /// # Errors
    ///
    /// As [`Sender::try_send`] (`Full` when there is no room).
    pub fn try_send(&mut self, msg: &[u8]) -> Result<()> {
        self.fd.get_mut().0.get_mut().try_send(msg)
    }

    /// Largest message in bytes.
    pub fn max_len(&self) -> usize {
        self.fd.get_ref().0.max_len()
    }

    /// The pollable sender, deregistered from the reactor. A message the
    /// `Sink` accepted but has not flushed is discarded.
    pub fn into_inner(self) -> PollSender<Q> {
        self.fd.into_inner().0
    }

    /// Sends the `Sink`'s held message, if any.
    fn poll_flush_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if !self.has_pending {
            return Poll::Ready(Ok(()));
        }
        let pending = std::mem::take(&mut self.pending);
        let mut spun = self.sink_spun;
        let r = self.poll_send_inner(cx, &mut spun, &pending);
        self.sink_spun = spun;
        self.pending = pending;
        if r.is_ready() {
            // Sent, or failed for good: either way it is no longer held.
            self.has_pending = false;
        }
        r
    }
}

impl<Q: QueueLayout, T: AsRef<[u8]>> Sink<T> for AsyncSender<Q>
where
    Self: Unpin,
{
    type Error = Error;

    /// Ready when no message is held (sending a held one first).
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_flush_pending(cx)
    }

    /// Copies `item` into the sender's one-message buffer; a flush sends it.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] for a message longer than
    /// [`max_len`](AsyncSender::max_len) (nothing is held).
    fn start_send(self: Pin<&mut Self>, item: T) -> Result<()> {
        let this = self.get_mut();
        let msg = item.as_ref();
        let max = this.max_len();
        if msg.len() > max {
            return Err(Error::TooLarge {
                len: msg.len(),
                max,
            });
        }
        this.pending.clear();
        this.pending.extend_from_slice(msg);
        this.has_pending = true;
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_flush_pending(cx)
    }

    /// Flushes; the sender's side stays claimed until it is dropped.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_flush_pending(cx)
    }
}

// ---- mailbox -------------------------------------------------------------------

/// Async receives and sends on a [`Mailbox`], with priorities and type
/// selection. Each side binds its own wake descriptor on first use
/// ([`ShmQueue::wake_fd`](crate::endpoint::ShmQueue::wake_fd)), and each
/// try runs through
/// [`ShmQueue::try_or_arm`](crate::endpoint::ShmQueue::try_or_arm).
///
/// The calls take `&mut self`: one task waits per side. For several
/// concurrent receivers, give each its own `AsyncMailbox` over a clone of
/// the mailbox (a clone shares the mapping). A mailbox has no `PeerDead`
/// (see [`crate::mailbox`]); dead owners' slots are recovered by the armed
/// tries once per liveness slice.
#[derive(Debug)]
pub struct AsyncMailbox {
    mb: Mailbox,
    rx: Option<(AsyncFd<Fd<WakeFd>>, Wait)>,
    tx: Option<(AsyncFd<Fd<WakeFd>>, Wait)>,
}

impl AsyncMailbox {
    /// Wraps `mb`; no descriptor is bound until a side first waits.
    pub fn new(mb: Mailbox) -> Self {
        Self {
            mb,
            rx: None,
            tx: None,
        }
    }

    /// The mailbox (for its try and blocking calls).
    pub fn mailbox(&self) -> &Mailbox {
        &self.mb
    }

    /// `mq_receive`, async: the highest-priority message, oldest first
    /// within a priority. Cancellation-safe.
    ///
    /// # Errors
    ///
    /// As [`Mailbox::try_recv`] (never `Empty`); [`Error::InvalidArgument`]
    /// outside a tokio runtime; [`Error::Sys`] if the wake descriptor cannot
    /// be bound or the reactor fails.
    pub async fn recv(&mut self, buf: &mut [u8]) -> Result<Received> {
        self.recv_matching(Selector::Any, buf).await
    }

    /// `msgrcv`, async: the first message `selector` accepts.
    /// Cancellation-safe.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub async fn recv_matching(&mut self, selector: Selector, buf: &mut [u8]) -> Result<Received> {
        let mb = &self.mb;
        let (fd, wait) = side(mb, &mut self.rx, Role::Consumer)?;
        let mut spun = false;
        poll_fn(|cx| {
            poll_wait(fd, wait, &mut spun, Role::Consumer, cx, |wake, armed| {
                if armed {
                    mb.try_or_arm(wake, || mb.try_recv_matching(selector, buf))
                } else {
                    mb.try_recv_matching(selector, buf)
                }
            })
        })
        .await
    }

    /// `mq_send`, async: queues `msg` with priority `prio` and type
    /// `mtype`, waiting for room. All or nothing, also when dropped.
    ///
    /// # Errors
    ///
    /// As [`Mailbox::try_send`] (never `Full`); as [`recv`](Self::recv) for
    /// the runtime and the descriptor.
    pub async fn send(&mut self, msg: &[u8], prio: u8, mtype: u64) -> Result<()> {
        let mb = &self.mb;
        let (fd, wait) = side(mb, &mut self.tx, Role::Producer)?;
        let mut spun = false;
        poll_fn(|cx| {
            poll_wait(fd, wait, &mut spun, Role::Producer, cx, |wake, armed| {
                if armed {
                    mb.try_or_arm(wake, || mb.try_send(msg, prio, mtype))
                } else {
                    mb.try_send(msg, prio, mtype)
                }
            })
        })
        .await
    }
}

/// A mailbox side's registered wake descriptor, bound on first use.
fn side<'a>(
    mb: &Mailbox,
    slot: &'a mut Option<(AsyncFd<Fd<WakeFd>>, Wait)>,
    role: Role,
) -> Result<&'a mut (AsyncFd<Fd<WakeFd>>, Wait)> {
    Ok(match slot {
        Some(side) => side,
        None => slot.insert((register(mb.wake_fd(role)?)?, Wait::new())),
    })
}

// ---- signals -------------------------------------------------------------------

/// Async receive of the signals a [`Signals`] took over, through its
/// eventfd.
///
/// About the real-time throttle (see [`crate::signals`]): the thread that
/// polls `recv` when the inbox drains is the one whose mask is lifted, so
/// on a multi-thread runtime a throttled signal may stay blocked in another
/// worker; the process still receives it through whichever thread polls.
#[derive(Debug)]
pub struct AsyncSignals {
    fd: AsyncFd<Fd<Signals>>,
}

impl AsyncSignals {
    /// Registers `signals`' eventfd with the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] outside a tokio runtime; [`Error::Sys`] if
    /// the reactor refuses the descriptor (`signals` is dropped, restoring
    /// the previous handlers).
    pub fn new(signals: Signals) -> Result<Self> {
        Ok(Self {
            fd: register(signals)?,
        })
    }

    /// The next signal: lowest number first, real-time instances of one
    /// signal in arrival order. Cancellation-safe: a signal is taken only by
    /// the try that returns it.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] if the reactor fails.
    pub async fn recv(&mut self) -> Result<SigInfo> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Poll form of [`recv`](Self::recv).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<SigInfo>> {
        loop {
            // Reset the eventfd before looking, so a signal recorded after
            // the look makes it readable again.
            let mut word = [0u8; 8];
            let _ = rustix::io::read(self.fd.get_ref().0.as_fd(), &mut word);
            if let Some(info) = self.fd.get_mut().0.try_next() {
                return Poll::Ready(Ok(info));
            }
            match self.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(mut guard)) => guard.clear_ready(),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The `Signals`, deregistered from the reactor.
    pub fn into_inner(self) -> Signals {
        self.fd.into_inner().0
    }
}

impl Stream for AsyncSignals {
    type Item = Result<SigInfo>;

    /// The next signal, as [`recv`](AsyncSignals::recv); the stream never
    /// ends.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::MailboxConfig;
    use crate::ring::{RingConfig, ShmRing};
    use std::time::Duration;

    /// Far longer than any wake-up takes: reaching it means one was lost.
    const LOST: Duration = Duration::from_secs(10);

    fn runtime() -> ::tokio::runtime::Runtime {
        ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Joins a helper thread even when the test fails first, and fails the
    /// test if the helper's own assertions did.
    struct Joined(Option<std::thread::JoinHandle<()>>);
    impl Drop for Joined {
        fn drop(&mut self) {
            if let Some(t) = self.0.take() {
                if let Err(e) = t.join() {
                    if !std::thread::panicking() {
                        std::panic::resume_unwind(e);
                    }
                }
            }
        }
    }

    #[test]
    fn made_outside_a_runtime_is_an_error_not_a_panic() {
        let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16)).unwrap();
        let r = AsyncReceiver::new(ring.receiver().unwrap());
        assert!(matches!(r, Err(Error::InvalidArgument { .. })), "{r:?}");
        // The failed constructor released the side.
        assert!(ring.receiver().is_ok());
    }

    #[test]
    fn a_receiver_that_armed_is_woken_by_a_send_from_another_thread() {
        let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16)).unwrap();
        let mut tx = ring.sender().unwrap();
        runtime().block_on(async {
            let mut rx = AsyncReceiver::new(ring.receiver().unwrap()).unwrap();
            rx.set_spin(0);
            let _t = Joined(Some(std::thread::spawn(move || {
                // Long after the receiver has armed and yielded.
                std::thread::sleep(Duration::from_millis(50));
                tx.send(b"late").unwrap();
            })));
            let mut buf = [0; 16];
            let n = ::tokio::time::timeout(LOST, rx.recv(&mut buf))
                .await
                .expect("lost wake-up")
                .unwrap();
            assert_eq!(&buf[..n], b"late");
        });
    }

    #[test]
    fn sink_and_stream_carry_every_message_in_order_through_a_small_ring() {
        let ring = ShmRing::create_anonymous(RingConfig::spsc(2, 16)).unwrap();
        runtime().block_on(async {
            let mut rx = AsyncReceiver::new(ring.receiver().unwrap()).unwrap();
            let mut tx = AsyncSender::new(ring.sender().unwrap()).unwrap();
            const N: u32 = 2_000;
            let producer = ::tokio::spawn(async move {
                for i in 0..N {
                    let mut sink = Pin::new(&mut tx);
                    poll_fn(|cx| Sink::<[u8; 4]>::poll_ready(sink.as_mut(), cx)).await?;
                    sink.as_mut().start_send(i.to_le_bytes())?;
                }
                poll_fn(|cx| Sink::<[u8; 4]>::poll_flush(Pin::new(&mut tx), cx)).await?;
                Ok::<_, Error>(tx)
            });
            let consume = async {
                for i in 0..N {
                    let got = poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)).await;
                    assert_eq!(got, Some(Ok(i.to_le_bytes().to_vec())));
                }
            };
            ::tokio::time::timeout(LOST, consume)
                .await
                .expect("lost wake-up");
            let tx = producer.await.unwrap().unwrap();
            // Nothing beyond what was sent (a sender that leaves cleanly
            // leaves a vacant side, not a dead peer).
            drop(tx);
            assert_eq!(rx.try_recv(&mut [0; 16]), Err(Error::Empty));
            assert!(!rx.is_terminated());
        });
    }

    #[test]
    fn a_sink_refuses_an_oversized_message_and_holds_nothing() {
        let ring = ShmRing::create_anonymous(RingConfig::spsc(2, 8)).unwrap();
        runtime().block_on(async {
            let mut tx = AsyncSender::new(ring.sender().unwrap()).unwrap();
            let r = Pin::new(&mut tx).start_send(&[0u8; 9][..]);
            assert_eq!(r, Err(Error::TooLarge { len: 9, max: 8 }));
            assert!(!tx.has_pending);
        });
    }

    #[test]
    fn a_full_senders_send_completes_when_the_receiver_frees_a_slot() {
        let ring = ShmRing::create_anonymous(RingConfig::spsc(1, 8)).unwrap();
        let mut rx = ring.receiver().unwrap();
        runtime().block_on(async {
            let mut tx = AsyncSender::new(ring.sender().unwrap()).unwrap();
            tx.send(b"one").await.unwrap();
            assert_eq!(tx.try_send(b"two"), Err(Error::Full));
            let _t = Joined(Some(std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                let mut buf = [0; 8];
                assert_eq!(rx.recv(&mut buf).unwrap(), 3);
                // Keep the side claimed until "two" arrives.
                assert_eq!(rx.recv_timeout(&mut buf, LOST).unwrap(), 3);
                assert_eq!(&buf[..3], b"two");
            })));
            ::tokio::time::timeout(LOST, tx.send(b"two"))
                .await
                .expect("lost wake-up")
                .unwrap();
        });
    }

    #[test]
    fn the_async_mailbox_delivers_by_priority_and_waits_for_room() {
        let mb = Mailbox::create_anonymous(MailboxConfig::new(2, 16)).unwrap();
        runtime().block_on(async {
            let mut a = AsyncMailbox::new(mb.clone());
            a.send(b"low", 1, 7).await.unwrap();
            a.send(b"high", 9, 8).await.unwrap();
            // Full: this send waits until a receive in another thread.
            let other = mb.clone();
            let _t = Joined(Some(std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                let mut buf = [0; 16];
                let got = other.recv(&mut buf).unwrap();
                assert_eq!((&buf[..got.len], got.prio), (&b"high"[..], 9));
            })));
            ::tokio::time::timeout(LOST, a.send(b"mid", 5, 9))
                .await
                .expect("lost wake-up")
                .unwrap();
            let mut buf = [0; 16];
            let got = a.recv(&mut buf).await.unwrap();
            assert_eq!((&buf[..got.len], got.prio, got.mtype), (&b"mid"[..], 5, 9));
            let got = a.recv_matching(Selector::Exact(7), &mut buf).await.unwrap();
            assert_eq!(&buf[..got.len], b"low");
            // Empty: a receive waits for a send from another thread.
            let other = mb.clone();
            let _u = Joined(Some(std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                other.send(b"wake", 3, 1).unwrap();
            })));
            let got = ::tokio::time::timeout(LOST, a.recv(&mut buf))
                .await
                .expect("lost wake-up")
                .unwrap();
            assert_eq!(&buf[..got.len], b"wake");
        });
    }

    #[test]
    fn a_recv_future_dropped_while_waiting_leaves_the_message_for_the_next() {
        let ring = ShmRing::create_anonymous(RingConfig::spsc(4, 16)).unwrap();
        let mut tx = ring.sender().unwrap();
        runtime().block_on(async {
            let mut rx = AsyncReceiver::new(ring.receiver().unwrap()).unwrap();
            let mut buf = [0; 16];
            // Cancelled while armed and waiting.
            let r = ::tokio::time::timeout(Duration::from_millis(30), rx.recv(&mut buf)).await;
            assert!(r.is_err(), "nothing was sent yet");
            tx.send(b"kept").unwrap();
            let n = ::tokio::time::timeout(LOST, rx.recv(&mut buf))
                .await
                .expect("lost wake-up")
                .unwrap();
            assert_eq!(&buf[..n], b"kept");
        });
    }
}
