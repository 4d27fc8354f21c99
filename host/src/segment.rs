//! The memory under a ring or a mailbox, and the plumbing both share.
//!
//! [`crate::ring::ShmRing`] and [`crate::mailbox::Mailbox`] each lay a core
//! region over a [`Segment`]: a named POSIX segment ([`crate::shm`]) or an
//! anonymous sealed memfd ([`crate::memfd`]). This module holds what is the
//! same for both: the segment itself, creating a named one that is unlinked
//! again if initialising it fails ([`create_named`]), and opening a named one
//! while its creator may still be initialising it ([`open_named`]).

use std::time::{Duration, Instant};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::memfd::MemfdSegment;
use crate::shm::ShmSegment;
use crate::{Error, Result};

/// A mapped segment: named (`/dev/shm/kipc.NAME`) or an anonymous memfd.
#[derive(Debug)]
pub(crate) enum Segment {
    /// A named POSIX segment.
    Named(ShmSegment),
    /// An anonymous sealed memfd.
    Anon(MemfdSegment),
}

impl Segment {
    /// Creates an anonymous sealed memfd of `len` bytes (`tag` names it in
    /// `/proc`), as [`MemfdSegment::create`].
    pub(crate) fn anonymous(tag: &str, len: usize) -> Result<Self> {
        MemfdSegment::create(tag, len).map(Segment::Anon)
    }

    /// Maps a memfd received from a creator, after checking its seals, as
    /// [`MemfdSegment::from_fd`] (with a minimum length of one byte).
    pub(crate) fn from_fd(fd: OwnedFd) -> Result<Self> {
        MemfdSegment::from_fd(fd, 1).map(Segment::Anon)
    }

    /// The start of the mapping.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        match self {
            Segment::Named(s) => s.as_ptr(),
            Segment::Anon(s) => s.as_ptr(),
        }
    }

    /// Bytes of the mapping.
    pub(crate) fn len(&self) -> usize {
        match self {
            Segment::Named(s) => s.len(),
            Segment::Anon(s) => s.len(),
        }
    }

    /// The descriptor of the segment.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Segment::Named(s) => s.as_fd(),
            Segment::Anon(s) => s.fd(),
        }
    }

    /// The kipc name, or `None` for a memfd.
    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            Segment::Named(s) => Some(s.name()),
            Segment::Anon(_) => None,
        }
    }
}

/// Creates the named segment `name` of `len` bytes (`0600`, `O_EXCL`) and
/// hands it to `init`. If `init` fails, the name is unlinked again so that
/// nothing is left behind, and `init`'s error is returned.
///
/// # Errors
///
/// As [`ShmSegment::create`], or `init`'s error.
pub(crate) fn create_named<T>(
    name: &str,
    len: usize,
    init: impl FnOnce(Segment) -> Result<T>,
) -> Result<T> {
    let segment = ShmSegment::create(name, len)?;
    init(Segment::Named(segment)).inspect_err(|_| {
        let _ = ShmSegment::unlink(name);
    })
}

/// Opens the named segment and hands it to `attach`, retrying for up to
/// `wait` while `attach` (or the open) says [`Error::NotReady`]: the creator
/// has not finished initialising it. Back-off starts at 1 ms and doubles up
/// to 20 ms; a `wait` too large to add to now waits forever.
///
/// # Errors
///
/// As [`ShmSegment::open`] or `attach`; [`Error::NotReady`] if it is still
/// not ready after `wait`.
pub(crate) fn open_named<T>(
    name: &str,
    wait: Duration,
    mut attach: impl FnMut(Segment) -> Result<T>,
) -> Result<T> {
    let deadline = Instant::now().checked_add(wait);
    let mut pause = Duration::from_millis(1);
    loop {
        match ShmSegment::open(name).and_then(|seg| attach(Segment::Named(seg))) {
            Err(Error::NotReady) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Error::NotReady);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}
