//! Host level (feature `host`): shared-memory rings between processes
//! (`kipc_host::ring::ShmRing`), named or anonymous (a sealed memfd passed
//! to the peer), SPSC or MPMC, with blocking send and receive, and a wake
//! descriptor for event loops ([`kipc_ring_fd`]; see `crate::wake`).
//!
//! A `kipc_ring` handle is heap-allocated by [`kipc_ring_create`],
//! [`kipc_ring_create_anonymous`], [`kipc_ring_open`] or
//! [`kipc_ring_from_fd`] and freed by [`kipc_ring_close`]. It takes the
//! producer side on its first send and the consumer side on its first
//! receive (SPSC: one of each per ring, across all processes; MPMC: a lane
//! per producing process, up to the lane count, and up to 16 consuming
//! processes).

use core::ffi::{c_char, c_int, c_void, CStr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::OnceLock;
use std::time::Duration;

use kipc_host::ring::{Receiver, RingConfig, Role, Sender, ShmRing};

use crate::boundary::{bytes, bytes_mut, check_ptr, guard, put};
use crate::error::{
    Code, KIPC_EACCES, KIPC_EAGAIN, KIPC_EBADF, KIPC_EBADMSG, KIPC_EBUSY, KIPC_EINVAL, KIPC_EIO,
    KIPC_EMSGSIZE, KIPC_ENOTSUP, KIPC_EPIPE, KIPC_EPROTO, KIPC_ETIMEDOUT,
};
use crate::wake::{self, WakeSet};

/// `kipc_ring_create` flag: an MPMC ring (per-producer lanes, so a producer
/// that dies mid-send cannot wedge the others) instead of SPSC. `slots` is
/// then per lane. The lane count goes in bits 8..16 of the flags:
/// `KIPC_RING_MPMC | (lanes << KIPC_RING_LANES_SHIFT)`, 1..=64 lanes; 0
/// means `KIPC_RING_DEFAULT_LANES`.
pub const KIPC_RING_MPMC: u32 = 0x1;
/// Where the lane count of an MPMC ring goes in `kipc_ring_create` flags.
pub const KIPC_RING_LANES_SHIFT: u32 = 8;
/// Lanes of an MPMC ring created without a lane count in its flags.
pub const KIPC_RING_DEFAULT_LANES: u32 = 4;

/// An open ring (opaque, heap-allocated).
///
/// Thread safety: not thread-safe; use a handle from one thread at a time
/// (it may move between threads between calls). Two threads that both need
/// the ring each open their own handle. Using a handle after
/// `kipc_ring_close` is undefined, as with `free`.
pub struct kipc_ring {
    /// Claimed on the first send; owns its share of the mapping.
    tx: Option<Sender>,
    /// Claimed on the first receive.
    rx: Option<Receiver>,
    ring: ShmRing,
    /// Made by `kipc_ring_fd`; from then on a try arms it (see `wake`).
    wake: OnceLock<WakeSet>,
}

impl core::fmt::Debug for kipc_ring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("kipc_ring").finish_non_exhaustive()
    }
}

impl kipc_ring {
    pub(crate) fn new(ring: ShmRing) -> Box<Self> {
        Box::new(Self {
            tx: None,
            rx: None,
            ring,
            wake: OnceLock::new(),
        })
    }

    pub(crate) fn shm(&self) -> &ShmRing {
        &self.ring
    }

    fn sender(&mut self) -> Result<&mut Sender, Code> {
        if self.tx.is_none() {
            self.tx = Some(self.ring.sender().map_err(host_code)?);
        }
        self.tx.as_mut().ok_or(Code(-KIPC_EIO))
    }

    fn receiver(&mut self) -> Result<&mut Receiver, Code> {
        if self.rx.is_none() {
            self.rx = Some(self.ring.receiver().map_err(host_code)?);
        }
        self.rx.as_mut().ok_or(Code(-KIPC_EIO))
    }
}

/// Maps a host error to a negative code: system call failures pass the
/// kernel's errno through.
pub(crate) fn host_code(e: kipc_host::Error) -> Code {
    use kipc_host::Error as E;
    match e {
        E::Full | E::Empty => Code(-KIPC_EAGAIN),
        E::Busy => Code(-KIPC_EBUSY),
        E::TooLarge { .. } => Code(-KIPC_EMSGSIZE),
        E::Corrupt { .. } => Code(-KIPC_EBADMSG),
        E::Core(e) => Code::from(e),
        E::Sys { errno, .. } => Code(-errno.raw_os_error()),
        E::InvalidName { .. } | E::InvalidArgument { .. } | E::OutOfRange { .. } => {
            Code(-KIPC_EINVAL)
        }
        E::NotOwner { .. } | E::BadMode { .. } => Code(-KIPC_EACCES),
        E::SizeMismatch { .. } | E::NotSealed { .. } => Code(-KIPC_EPROTO),
        E::Timeout => Code(-KIPC_ETIMEDOUT),
        E::PeerDead => Code(-KIPC_EPIPE),
        E::NotReady => Code(-KIPC_EAGAIN),
        E::TypeMismatch { .. } => Code(-crate::error::KIPC_ETYPE),
        _ => Code(-KIPC_EIO),
    }
}

/// A name from a C string: NUL-terminated UTF-8.
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string.
pub(crate) unsafe fn name<'a>(name: *const c_char) -> Result<&'a str, Code> {
    if name.is_null() {
        return Err(Code::FAULT);
    }
    // SAFETY: non-NULL and NUL-terminated (caller).
    unsafe { CStr::from_ptr(name) }
        .to_str()
        .map_err(|_| Code(-KIPC_EINVAL))
}

/// The handle behind `ring`.
///
/// # Safety
///
/// `ring` is NULL or a live handle used by no other thread meanwhile.
pub(crate) unsafe fn handle<'a>(ring: *mut kipc_ring) -> Result<&'a mut kipc_ring, Code> {
    check_ptr(ring)?;
    // SAFETY: a live handle from `kipc_ring_create`/`open` (caller).
    Ok(unsafe { &mut *ring })
}

/// A timeout in nanoseconds: negative waits forever, 0 tries once.
pub(crate) enum Wait {
    Forever,
    Never,
    For(Duration),
}

pub(crate) fn wait(timeout_ns: i64) -> Wait {
    match u64::try_from(timeout_ns) {
        Err(_) => Wait::Forever,
        Ok(0) => Wait::Never,
        Ok(ns) => Wait::For(Duration::from_nanos(ns)),
    }
}

/// The ring configuration from `kipc_ring_create` arguments.
pub(crate) fn config(slots: u32, slot_size: u32, flags: u32) -> Result<RingConfig, Code> {
    const LANES_MASK: u32 = 0xff << KIPC_RING_LANES_SHIFT;
    if flags & !(KIPC_RING_MPMC | LANES_MASK) != 0 {
        return Err(Code(-KIPC_EINVAL));
    }
    let lanes = (flags & LANES_MASK) >> KIPC_RING_LANES_SHIFT;
    if flags & KIPC_RING_MPMC == 0 {
        if lanes != 0 {
            return Err(Code(-KIPC_EINVAL));
        }
        return Ok(RingConfig::spsc(slots, slot_size));
    }
    let lanes = if lanes == 0 {
        KIPC_RING_DEFAULT_LANES
    } else {
        lanes
    };
    Ok(RingConfig::mpmc(lanes, slots, slot_size))
}

/// Creates the named ring `name` (`/dev/shm/kipc.NAME`, mode 0600, failing
/// if it exists) with `slots` slots (a power of two) of up to `slot_size`
/// bytes, and writes a new handle to `*out`. `flags` is 0 for an SPSC ring
/// or `KIPC_RING_MPMC`, optionally with a lane count (see there).
///
/// Returns 0; `-KIPC_EINVAL` (bad name, geometry or flags), `-KIPC_EEXIST`,
/// other negative errnos from the system, `-KIPC_EFAULT`.
///
/// # Safety
///
/// `name` is NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_create(
    name: *const c_char,
    slots: u32,
    slot_size: u32,
    flags: u32,
    out: *mut *mut kipc_ring,
) -> c_int {
    guard(|| {
        check_ptr(out)?;
        // SAFETY: the C caller's promise.
        let name = unsafe { self::name(name) }?;
        let ring = ShmRing::create(name, config(slots, slot_size, flags)?).map_err(host_code)?;
        // SAFETY: checked above.
        unsafe { put(out, Box::into_raw(kipc_ring::new(ring))) };
        Ok(())
    })
}

/// Opens the existing named ring `name` (waiting up to a second for its
/// creator to finish initialising it) and writes a new handle to `*out`.
///
/// Returns 0; `-KIPC_ENOENT`, `-KIPC_EAGAIN` (still not initialised),
/// `-KIPC_EACCES` (another owner or a group/world-writable mode),
/// `-KIPC_EPROTO` (not a kipc ring), `-KIPC_EINVAL`, `-KIPC_EFAULT`.
///
/// # Safety
///
/// As `kipc_ring_create`.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_open(name: *const c_char, out: *mut *mut kipc_ring) -> c_int {
    guard(|| {
        check_ptr(out)?;
        // SAFETY: the C caller's promise.
        let name = unsafe { self::name(name) }?;
        let ring = ShmRing::open(name).map_err(host_code)?;
        // SAFETY: checked above.
        unsafe { put(out, Box::into_raw(kipc_ring::new(ring))) };
        Ok(())
    })
}

/// Sends `len` bytes at `msg`, taking the producer side on first use.
/// `timeout_ns`: negative waits as long as it takes, 0 tries once, positive
/// waits up to that many nanoseconds (spin, then futex sleep).
///
/// Returns 0; `-KIPC_EAGAIN` (full, `timeout_ns == 0`: arms the handle's
/// descriptor if `kipc_ring_fd` made one), `-KIPC_ETIMEDOUT`,
/// `-KIPC_EMSGSIZE`, `-KIPC_EPIPE` (the consumer died), `-KIPC_EBUSY` (another
/// process is the producer), `-KIPC_EBADMSG`, `-KIPC_EFAULT`.
///
/// # Safety
///
/// `ring` is NULL or a live handle used by no other thread meanwhile; `msg`
/// readable for `len` bytes when `len > 0`.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_send(
    ring: *mut kipc_ring,
    msg: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise.
        let h = unsafe { handle(ring) }?;
        let tx = h.sender()?;
        if len > tx.max_len() {
            return Err(Code::MSGSIZE);
        }
        // SAFETY: readable for `len` bytes (caller).
        let msg = unsafe { bytes(msg.cast(), len) }?;
        match wait(timeout_ns) {
            Wait::Never => h.try_send(msg),
            Wait::Forever => tx.send(msg),
            Wait::For(d) => tx.send_timeout(msg, d),
        }
        .map_err(host_code)
    })
}

/// Receives the oldest message into `buf` (`cap` bytes) and writes its
/// length to `*len`, taking the consumer side on first use. `timeout_ns` as
/// for `kipc_ring_send`.
///
/// Returns 0; `-KIPC_EAGAIN` (empty, `timeout_ns == 0`: arms the handle's
/// descriptor if `kipc_ring_fd` made one), `-KIPC_ETIMEDOUT`,
/// `-KIPC_EMSGSIZE` (`*len` = the needed size; the message stays queued),
/// `-KIPC_EPIPE` (drained and the producer exited), `-KIPC_EBUSY`,
/// `-KIPC_EBADMSG`, `-KIPC_EFAULT`.
///
/// # Safety
///
/// As `kipc_ring_send`; `buf` writable for `cap` bytes when `cap > 0`;
/// `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_recv(
    ring: *mut kipc_ring,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: i64,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise.
        let h = unsafe { handle(ring) }?;
        let rx = h.receiver()?;
        check_ptr(len)?;
        let cap = cap.min(rx.max_len());
        // SAFETY: writable for `cap` bytes (caller).
        let buf = unsafe { bytes_mut(buf.cast(), cap) }?;
        let result = match wait(timeout_ns) {
            Wait::Never => h.try_recv(buf),
            Wait::Forever => rx.recv(buf),
            Wait::For(d) => rx.recv_timeout(buf, d),
        };
        let (n, result) = match result {
            Ok(n) => (n, Ok(())),
            Err(kipc_host::Error::TooLarge { len: n, .. }) => (n, Err(Code::MSGSIZE)),
            Err(e) => return Err(host_code(e)),
        };
        // SAFETY: checked above.
        unsafe { put(len, n) };
        result
    })
}

/// Closes the handle: releases its producer/consumer sides (the peer sees
/// the ring closed) and unmaps the ring. The name stays until
/// `kipc_ring_unlink`.
///
/// Returns 0 or `-KIPC_EFAULT` (NULL).
///
/// # Safety
///
/// `ring` is NULL or a live handle; it must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_close(ring: *mut kipc_ring) -> c_int {
    guard(|| {
        check_ptr(ring)?;
        // SAFETY: a live handle from `Box::into_raw` (caller), freed once.
        drop(unsafe { Box::from_raw(ring) });
        Ok(())
    })
}

/// Removes the name `name`; handles already open keep working.
///
/// Returns 0, `-KIPC_ENOENT`, `-KIPC_EINVAL` (bad name), `-KIPC_EFAULT`.
///
/// # Safety
///
/// `name` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_unlink(name: *const c_char) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise.
        let name = unsafe { self::name(name) }?;
        ShmRing::unlink(name).map_err(host_code)
    })
}

/// Writes the handle's wake descriptor to `*fd`, for poll/epoll/select: it
/// becomes readable (`EPOLLIN`/`POLLIN`) when the handle's waiting side may
/// make progress: a message to receive, or room to send. Made on the first
/// call (later calls return the same descriptor); it belongs to the handle
/// (close-on-exec, closed by `kipc_ring_close`, which also takes it out of
/// any epoll set): do not read, write or close it.
///
/// The contract: once the descriptor exists, a `kipc_ring_recv` (or
/// `kipc_ring_send`) with `timeout_ns == 0` that returns `-KIPC_EAGAIN` has
/// armed it, and a message (free slot) that comes after that `EAGAIN` makes
/// it readable. There is no separate arm call; the loop is:
///
/// ```c
/// for (;;) {   /* after adding fd to the epoll set with EPOLLIN */
///     while ((rc = kipc_ring_recv(ring, buf, sizeof buf, &len, 0)) == 0)
///         handle(buf, len);
///     if (rc != -KIPC_EAGAIN) break;          /* -KIPC_EPIPE: producer gone */
///     epoll_wait(ep, events, 8, 100);         /* a timeout: see liveness */
/// }
/// ```
///
/// Readability is a hint: after a wake-up the next try may still return
/// `-KIPC_EAGAIN` (keep looping). A handle that both sends and receives has
/// one descriptor for both: on readable, retry each side that got
/// `-KIPC_EAGAIN`. As with a socket's `EPOLLOUT`, a sender with nothing left
/// to send should take the descriptor out of its set (or use `EPOLLET`):
/// room freed after its last `-KIPC_EAGAIN` keeps it readable.
///
/// Liveness: a dead peer is noticed by a try, not by the descriptor: a try
/// (timeout 0) on a handle with a descriptor reaps dead peers at most once
/// per 20 ms, after which a drained ring returns `-KIPC_EPIPE`. Wait with a
/// timeout (say 20-100 ms) and try again when it expires, or a dead peer
/// leaves the loop waiting forever. The descriptor is an epoll instance
/// holding one Unix datagram socket per side the handle has waited on,
/// bound under `/dev/shm` beside the ring (named rings) or keyed by the
/// memfd's inode (anonymous rings), so the peers must share `/dev/shm`.
///
/// The producer side pays nothing for this until a waiter has armed: a
/// send or receive makes a system call only when the doorbell says a
/// descriptor (or a futex sleeper) is waiting.
///
/// Returns 0; negative errnos from the system (`epoll_create1`), and from
/// binding the socket on a later try; `-KIPC_EFAULT`.
///
/// # Safety
///
/// `ring` is NULL or a live handle used by no other thread meanwhile; `fd`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_fd(ring: *mut kipc_ring, fd: *mut c_int) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise.
        let h = unsafe { handle(ring) }?;
        check_ptr(fd)?;
        let set = wake::get_or_make(&h.wake).map_err(host_code)?;
        // SAFETY: checked above.
        unsafe { put(fd, set.raw_fd()) };
        Ok(())
    })
}

/// The timeout-0 forms: plain tries, or, once `kipc_ring_fd` has made the
/// wake descriptor, tries that arm it (see `crate::wake`).
impl kipc_ring {
    /// A try-send on the claimed producer side.
    fn try_send(&mut self, msg: &[u8]) -> kipc_host::Result<()> {
        let Self { tx, ring, wake, .. } = self;
        let tx = tx.as_mut().ok_or(kipc_host::Error::PeerDead)?;
        match wake.get() {
            None => tx.try_send(msg),
            Some(set) => set.try_or_arm(ring, Role::Producer, || tx.try_send(msg)),
        }
    }

    /// A try-receive on the claimed consumer side.
    fn try_recv(&mut self, buf: &mut [u8]) -> kipc_host::Result<usize> {
        let Self { rx, ring, wake, .. } = self;
        let rx = rx.as_mut().ok_or(kipc_host::Error::PeerDead)?;
        match wake.get() {
            None => rx.try_recv(buf),
            Some(set) => set.try_or_arm(ring, Role::Consumer, || rx.try_recv(buf)),
        }
    }
}

/// Creates an anonymous ring in a sealed memfd (nothing is left behind when
/// every process has closed it); as `kipc_ring_create` without a name. Pass
/// the descriptor from `kipc_ring_memfd` to the peer (`SCM_RIGHTS`, or
/// inheritance across `fork`/`exec`), which attaches with
/// `kipc_ring_from_fd`.
///
/// Returns 0; `-KIPC_EINVAL` (geometry or flags), negative errnos from the
/// system, `-KIPC_EFAULT`.
///
/// # Safety
///
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_create_anonymous(
    slots: u32,
    slot_size: u32,
    flags: u32,
    out: *mut *mut kipc_ring,
) -> c_int {
    guard(|| {
        check_ptr(out)?;
        let ring =
            ShmRing::create_anonymous(config(slots, slot_size, flags)?).map_err(host_code)?;
        // SAFETY: checked above.
        unsafe { put(out, Box::into_raw(kipc_ring::new(ring))) };
        Ok(())
    })
}

/// Attaches to the anonymous ring in memfd `fd` (from a peer's
/// `kipc_ring_memfd`), after checking its seals and size, and writes a new
/// handle to `*out`. The library duplicates `fd`: the caller still owns
/// `fd` and closes it when it likes.
///
/// Returns 0; `-KIPC_EBADF` (`fd` negative or not open), `-KIPC_EPROTO` (not
/// a sealed memfd holding a kipc ring, or a wrong size), `-KIPC_EAGAIN`
/// (not initialised yet), other negative errnos, `-KIPC_EFAULT`.
///
/// # Safety
///
/// `out` is NULL or writable; `fd` is any integer (an fd the caller does
/// not own may be duplicated, as `dup` would).
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_from_fd(fd: c_int, out: *mut *mut kipc_ring) -> c_int {
    guard(|| {
        check_ptr(out)?;
        if fd < 0 {
            return Err(Code(-KIPC_EBADF));
        }
        // SAFETY: `fd` is not -1; it is only borrowed for the duplication,
        // which fails with EBADF if it is not open.
        let owned = unsafe { BorrowedFd::borrow_raw(fd) }
            .try_clone_to_owned()
            .map_err(|e| Code(-e.raw_os_error().unwrap_or(KIPC_EBADF)))?;
        let ring = ShmRing::from_fd(owned).map_err(host_code)?;
        // SAFETY: checked above.
        unsafe { put(out, Box::into_raw(kipc_ring::new(ring))) };
        Ok(())
    })
}

/// Writes the memfd of an anonymous ring to `*fd`, to pass to a peer. The
/// descriptor still belongs to the handle (close-on-exec, closed by
/// `kipc_ring_close`): do not close it; `dup` it to keep it longer or to
/// hand it to a child across `exec`.
///
/// Returns 0; `-KIPC_ENOTSUP` (a named ring: pass its name instead),
/// `-KIPC_EFAULT`.
///
/// # Safety
///
/// `ring` is NULL or a live handle used by no other thread meanwhile; `fd`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_memfd(ring: *mut kipc_ring, fd: *mut c_int) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise.
        let h = unsafe { handle(ring) }?;
        check_ptr(fd)?;
        let shm = h.shm();
        if shm.name().is_some() {
            return Err(Code(-KIPC_ENOTSUP));
        }
        // SAFETY: checked above.
        unsafe { put(fd, shm.fd().as_raw_fd()) };
        Ok(())
    })
}
