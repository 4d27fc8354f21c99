//! Pollable endpoints: a [`Sender`] or [`Receiver`] with its own wake
//! descriptor, for event loops (epoll, mio, tokio's `AsyncFd`, async-io's
//! `Async`). See [`crate::wake`] for the contract and the protocol.
//!
//! The loop a user writes is the familiar non-blocking one:
//!
//! ```
//! use kipc_host::{Error, ring::{RingConfig, ShmRing}};
//! use rustix::event::{poll, PollFd, PollFlags};
//! let ring = ShmRing::create_anonymous(RingConfig::spsc(8, 64))?;
//! let mut rx = ring.receiver()?.into_pollable()?;
//! let mut tx = ring.sender()?;
//! let t = std::thread::spawn(move || tx.send(b"ping"));
//! let mut buf = [0; 64];
//! let n = loop {
//!     match rx.try_recv(&mut buf) {
//!         Err(Error::Empty) => {
//!             // Armed: the next message makes the descriptor readable.
//!             let mut fds = [PollFd::new(&rx, PollFlags::IN)];
//!             poll(&mut fds, None)?;
//!         }
//!         other => break other?,
//!     }
//! };
//! assert_eq!(&buf[..n], b"ping");
//! t.join().unwrap()?;
//! # Ok::<(), kipc_host::Error>(())
//! ```

use std::os::fd::{AsRawFd, RawFd};

use rustix::fd::{AsFd, BorrowedFd};

use super::{QueueLayout, Receiver, Sender};
use crate::wake::WakeFd;
use crate::{Error, Result};
use kipc_core::queue::{Consumer, Producer, Role};
use kipc_core::region::SlotWriter;

/// A [`Receiver`] with a wake descriptor: [`try_recv`](Self::try_recv)
/// returning [`Error::Empty`] has armed it, and the descriptor
/// ([`AsFd`]) becomes readable when a message may be there. Made by
/// [`Receiver::into_pollable`].
#[derive(Debug)]
pub struct PollReceiver<Q: QueueLayout> {
    rx: Receiver<Q>,
    wake: WakeFd,
}

impl<Q: QueueLayout> Receiver<Q> {
    /// Gives this receiver a wake descriptor (see [`PollReceiver`]).
    ///
    /// # Errors
    ///
    /// As [`ShmQueue::wake_fd`](super::ShmQueue::wake_fd); the receiver is
    /// dropped (its side released, no message lost).
    pub fn into_pollable(self) -> Result<PollReceiver<Q>> {
        let wake = WakeFd::bind(self.shared.notifier.dir(), Role::Consumer)?;
        Ok(PollReceiver { rx: self, wake })
    }
}

impl<Q: QueueLayout> PollReceiver<Q> {
    /// Receives the next message into `buf` if there is one; otherwise arms
    /// the descriptor and returns [`Error::Empty`]. Once per liveness slice
    /// an empty try also reaps dead producers, so a loop that waits with a
    /// timeout (or [`recv`](crate::endpoint::Receiver::recv) in an async
    /// adapter) sees [`Error::PeerDead`] within about 20 ms of one.
    ///
    /// # Errors
    ///
    /// As [`Receiver::try_recv`].
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        let shared = &*self.rx.shared;
        let handle = self.rx.handle.as_mut().ok_or(Error::PeerDead)?;
        let got = shared.try_or_arm(&self.wake, || handle.try_recv(buf).map_err(Error::from));
        shared.ring_if_freed(&got);
        got
    }

    /// Length of the next message without receiving it, or
    /// [`Error::Empty`] having armed the descriptor.
    ///
    /// # Errors
    ///
    /// As [`try_recv`](Self::try_recv).
    pub fn peek_len(&mut self) -> Result<usize> {
        let shared = &*self.rx.shared;
        let handle = self.rx.handle.as_mut().ok_or(Error::PeerDead)?;
        shared.try_or_arm(&self.wake, || handle.peek_len().map_err(Error::from))
    }

    /// Largest message in bytes.
    pub fn max_len(&self) -> usize {
        self.rx.max_len()
    }

    /// The receiver (for its blocking calls).
    pub fn get_mut(&mut self) -> &mut Receiver<Q> {
        &mut self.rx
    }

    /// The receiver, without the descriptor.
    pub fn into_inner(self) -> Receiver<Q> {
        self.rx
    }
}

impl<Q: QueueLayout> AsFd for PollReceiver<Q> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }
}

impl<Q: QueueLayout> AsRawFd for PollReceiver<Q> {
    fn as_raw_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }
}

/// A [`Sender`] with a wake descriptor: [`try_send`](Self::try_send)
/// returning [`Error::Full`] has armed it, and the descriptor ([`AsFd`])
/// becomes readable when room may be there. Made by
/// [`Sender::into_pollable`].
#[derive(Debug)]
pub struct PollSender<Q: QueueLayout> {
    tx: Sender<Q>,
    wake: WakeFd,
}

impl<Q: QueueLayout> Sender<Q> {
    /// Gives this sender a wake descriptor (see [`PollSender`]).
    ///
    /// # Errors
    ///
    /// As [`ShmQueue::wake_fd`](super::ShmQueue::wake_fd); the sender is
    /// dropped (its side released).
    pub fn into_pollable(self) -> Result<PollSender<Q>> {
        let wake = WakeFd::bind(self.shared.notifier.dir(), Role::Producer)?;
        Ok(PollSender { tx: self, wake })
    }
}

impl<Q: QueueLayout> PollSender<Q> {
    /// Sends `msg` if there is room; otherwise arms the descriptor and
    /// returns [`Error::Full`] (nothing of `msg` was sent).
    ///
    /// # Errors
    ///
    /// As [`Sender::try_send`].
    pub fn try_send(&mut self, msg: &[u8]) -> Result<()> {
        let shared = &*self.tx.shared;
        let handle = self.tx.handle.as_mut().ok_or(Error::PeerDead)?;
        shared.try_or_arm(&self.wake, || handle.try_send(msg).map_err(Error::from))?;
        shared.ring_consumers();
        Ok(())
    }

    /// Zero-copy form of [`try_send`](Self::try_send): `fill` writes the
    /// `len`-byte message in place, and is called only if it will be sent.
    ///
    /// # Errors
    ///
    /// As [`try_send`](Self::try_send).
    pub fn try_send_with(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut SlotWriter<'_>),
    ) -> Result<()> {
        let shared = &*self.tx.shared;
        let handle = self.tx.handle.as_mut().ok_or(Error::PeerDead)?;
        let mut fill = Some(fill);
        shared.try_or_arm(&self.wake, || {
            handle
                .try_send_with(len, |w| {
                    if let Some(f) = fill.take() {
                        f(w);
                    }
                })
                .map_err(Error::from)
        })?;
        shared.ring_consumers();
        Ok(())
    }

    /// Largest message in bytes.
    pub fn max_len(&self) -> usize {
        self.tx.max_len()
    }

    /// The sender (for its blocking calls).
    pub fn get_mut(&mut self) -> &mut Sender<Q> {
        &mut self.tx
    }

    /// The sender, without the descriptor.
    pub fn into_inner(self) -> Sender<Q> {
        self.tx
    }
}

impl<Q: QueueLayout> AsFd for PollSender<Q> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }
}

impl<Q: QueueLayout> AsRawFd for PollSender<Q> {
    fn as_raw_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }
}
