//! Host level (feature `host`): named mailboxes between processes
//! (`kipc_host::mailbox::Mailbox`): the core mailbox (priorities, SysV-style
//! type selection, crash recovery) in a `/dev/shm/kipc.NAME` segment, with
//! blocking send and receive, and a wake descriptor for event loops
//! ([`kipc_mbox_fd`]; see `crate::wake`).
//!
//! A `kipc_mailbox` handle is heap-allocated by [`kipc_mbox_create`] or
//! [`kipc_mbox_open`] and freed by [`kipc_mbox_close`]. Every send and
//! receive is tagged with the caller's pid; a blocking call recovers the
//! slots of processes that died mid-operation while it waits.

use core::ffi::{c_char, c_int, c_void};

use std::sync::OnceLock;

use kipc_host::mailbox::{Mailbox, MailboxConfig};
use kipc_host::ring::Role;

use crate::boundary::{bytes, bytes_mut, check_ptr, guard, put};
use crate::error::{Code, KIPC_EINVAL};
use crate::mailbox::{KIPC_MBOX_ANY, KIPC_MBOX_EXACT, KIPC_MBOX_LOWEST_AT_MOST};
use crate::ring::{host_code, name, wait, Wait};
use crate::wake::{self, WakeSet};

/// An open mailbox (opaque, heap-allocated). Not to be confused with
/// `kipc_mbox_t`, the core-level handle over your own memory.
///
/// Thread safety: thread-safe. Any number of threads may send and receive
/// through one handle at the same time (blocking calls included); only
/// `kipc_mbox_close` needs it to itself, after every other call on it has
/// returned. Using a handle after `kipc_mbox_close` is undefined, as with
/// `free`.
pub struct kipc_mailbox {
    mb: Mailbox,
    /// Made by `kipc_mbox_fd`; from then on a try arms it (see `wake`).
    wake: OnceLock<WakeSet>,
}

impl core::fmt::Debug for kipc_mailbox {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("kipc_mailbox").finish_non_exhaustive()
    }
}

/// The handle behind `mb` (shared: every operation takes `&Mailbox`).
///
/// # Safety
///
/// `mb` is NULL or a live handle that is not being closed.
unsafe fn handle<'a>(mb: *const kipc_mailbox) -> Result<&'a kipc_mailbox, Code> {
    check_ptr(mb)?;
    // SAFETY: a live handle from `kipc_mbox_create`/`open` (caller).
    Ok(unsafe { &*mb })
}

/// Creates the named mailbox `name` (`/dev/shm/kipc.NAME`, mode 0600,
/// failing if it exists) of `slots` slots (1..=`KIPC_MBOX_MAX_SLOTS`, any
/// number) of up to `max_msg` bytes, with a `byte_budget` on the payload
/// bytes queued at once (0: no limit beyond `slots * max_msg`), and writes a
/// new handle to `*out`.
///
/// Returns 0; `-KIPC_EINVAL` (bad name or geometry), `-KIPC_EEXIST`, other
/// negative errnos from the system, `-KIPC_EFAULT`.
///
/// # Safety
///
/// `name` is NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_create(
    name: *const c_char,
    slots: u32,
    max_msg: u32,
    byte_budget: u64,
    out: *mut *mut kipc_mailbox,
) -> c_int {
    guard(|| {
        check_ptr(out)?;
        // SAFETY: the C caller's promise.
        let name = unsafe { self::name(name) }?;
        let mut config = MailboxConfig::new(slots, max_msg);
        if byte_budget != 0 {
            config = config.with_byte_budget(byte_budget);
        }
        let mb = Mailbox::create(name, config).map_err(host_code)?;
        // SAFETY: checked above.
        unsafe { put(out, Box::into_raw(Box::new(kipc_mailbox::new(mb)))) };
        Ok(())
    })
}

/// Opens the existing named mailbox `name` (waiting up to a second for its
/// creator to finish initialising it) and writes a new handle to `*out`.
///
/// Returns 0; `-KIPC_ENOENT`, `-KIPC_EAGAIN` (still not initialised),
/// `-KIPC_EACCES` (another owner or a group/world-writable mode),
/// `-KIPC_EPROTO` (not a kipc mailbox), `-KIPC_EINVAL`, `-KIPC_EFAULT`.
///
/// # Safety
///
/// As `kipc_mbox_create`.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_open(name: *const c_char, out: *mut *mut kipc_mailbox) -> c_int {
    guard(|| {
        check_ptr(out)?;
        // SAFETY: the C caller's promise.
        let name = unsafe { self::name(name) }?;
        let mb = Mailbox::open(name).map_err(host_code)?;
        // SAFETY: checked above.
        unsafe { put(out, Box::into_raw(Box::new(kipc_mailbox::new(mb)))) };
        Ok(())
    })
}

/// Sends the `len` bytes at `msg` with priority `prio` (0..=255, higher is
/// received first) and type `mtype`. `timeout_ns`: negative waits as long
/// as it takes for room, 0 tries once, positive waits up to that many
/// nanoseconds (spin, then futex sleep); wakes a sleeping receiver.
///
/// Returns 0; `-KIPC_EAGAIN` (full, `timeout_ns == 0`), `-KIPC_ETIMEDOUT`,
/// `-KIPC_EMSGSIZE` (longer than `max_msg` or the byte budget),
/// `-KIPC_EINVAL` (`prio` above 255), `-KIPC_EBADMSG`, `-KIPC_EFAULT`. With
/// `timeout_ns == 0`, `-KIPC_EAGAIN` arms the handle's descriptor if
/// `kipc_mbox_fd` made one.
///
/// # Safety
///
/// `mb` is NULL or a live handle; `msg` readable for `len` bytes when
/// `len > 0`.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_send(
    mb: *const kipc_mailbox,
    msg: *const c_void,
    len: usize,
    prio: u32,
    mtype: u64,
    timeout_ns: i64,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise.
        let h = unsafe { handle(mb) }?;
        let m = &h.mb;
        let prio = u8::try_from(prio).map_err(|_| Code(-KIPC_EINVAL))?;
        if len > m.max_msg() {
            return Err(Code::MSGSIZE);
        }
        // SAFETY: readable for `len` bytes (caller).
        let msg = unsafe { bytes(msg.cast(), len) }?;
        match wait(timeout_ns) {
            Wait::Never => h.try_op(Role::Producer, || m.try_send(msg, prio, mtype)),
            Wait::Forever => m.send(msg, prio, mtype),
            Wait::For(d) => m.send_timeout(msg, prio, mtype, d),
        }
        .map_err(host_code)
    })
}

/// Receives the first message the selector accepts (`selector_kind`:
/// `KIPC_MBOX_ANY`, `KIPC_MBOX_EXACT` or `KIPC_MBOX_LOWEST_AT_MOST`, with
/// argument `mtype`; see there) into `buf` (`cap` bytes) and writes its
/// length to `*len` and, unless NULL, its priority to `*prio_out` and type
/// to `*mtype_out`. `timeout_ns` as for `kipc_mbox_send`; a mailbox has no
/// single peer, so a receive with no sender left waits until its timeout.
///
/// Returns 0; `-KIPC_EAGAIN` (nothing matches, `timeout_ns == 0`),
/// `-KIPC_ETIMEDOUT`, `-KIPC_EMSGSIZE` (`*len` = the needed size; the
/// message stays queued), `-KIPC_EINVAL` (selector), `-KIPC_EBADMSG`,
/// `-KIPC_EFAULT`. With `timeout_ns == 0`, `-KIPC_EAGAIN` arms the handle's
/// descriptor if `kipc_mbox_fd` made one (for any message: one the selector
/// does not accept also makes it readable).
///
/// # Safety
///
/// As `kipc_mbox_send`; `buf` writable for `cap` bytes when `cap > 0`;
/// `len` writable; `prio_out`, `mtype_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_recv(
    mb: *const kipc_mailbox,
    selector_kind: u32,
    mtype: u64,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    prio_out: *mut u32,
    mtype_out: *mut u64,
    timeout_ns: i64,
) -> c_int {
    use kipc_host::mailbox::Selector;
    guard(|| {
        // SAFETY: the C caller's promise.
        let h = unsafe { handle(mb) }?;
        let m = &h.mb;
        check_ptr(len)?;
        if !prio_out.is_null() {
            check_ptr(prio_out)?;
        }
        if !mtype_out.is_null() {
            check_ptr(mtype_out)?;
        }
        let sel = match selector_kind {
            KIPC_MBOX_ANY => Selector::Any,
            KIPC_MBOX_EXACT => Selector::Exact(mtype),
            KIPC_MBOX_LOWEST_AT_MOST => Selector::LowestAtMost(mtype),
            _ => return Err(Code(-KIPC_EINVAL)),
        };
        let cap = cap.min(m.max_msg());
        // SAFETY: writable for `cap` bytes (caller).
        let buf = unsafe { bytes_mut(buf.cast(), cap) }?;
        let result = match wait(timeout_ns) {
            Wait::Never => h.try_op(Role::Consumer, || m.try_recv_matching(sel, buf)),
            Wait::Forever => m.recv_matching(sel, buf, None),
            Wait::For(d) => m.recv_matching(sel, buf, Some(d)),
        };
        let got = match result {
            Ok(got) => got,
            Err(kipc_host::Error::TooLarge { len: n, .. }) => {
                // SAFETY: checked above.
                unsafe { put(len, n) };
                return Err(Code::MSGSIZE);
            }
            Err(e) => return Err(host_code(e)),
        };
        // SAFETY: checked above (the optional ones when non-NULL).
        unsafe {
            put(len, got.len);
            if !prio_out.is_null() {
                put(prio_out, u32::from(got.prio));
            }
            if !mtype_out.is_null() {
                put(mtype_out, got.mtype);
            }
        }
        Ok(())
    })
}

/// Closes the handle and unmaps the mailbox; queued messages stay for the
/// other processes. The name stays until `kipc_mbox_unlink`.
///
/// Returns 0 or `-KIPC_EFAULT` (NULL).
///
/// # Safety
///
/// `mb` is NULL or a live handle no other thread is using; it must not be
/// used afterwards.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_close(mb: *mut kipc_mailbox) -> c_int {
    guard(|| {
        check_ptr(mb)?;
        // SAFETY: a live handle from `Box::into_raw` (caller), freed once.
        drop(unsafe { Box::from_raw(mb) });
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
pub unsafe extern "C" fn kipc_mbox_unlink(name: *const c_char) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise.
        let name = unsafe { self::name(name) }?;
        Mailbox::unlink(name).map_err(host_code)
    })
}

impl kipc_mailbox {
    fn new(mb: Mailbox) -> Self {
        Self {
            mb,
            wake: OnceLock::new(),
        }
    }

    /// A timeout-0 operation of side `role`: a plain try, or, once
    /// `kipc_mbox_fd` has made the wake descriptor, a try that arms it (see
    /// `crate::wake`).
    fn try_op<T>(
        &self,
        role: Role,
        mut op: impl FnMut() -> kipc_host::Result<T>,
    ) -> kipc_host::Result<T> {
        match self.wake.get() {
            None => op(),
            Some(set) => set.try_or_arm(&self.mb, role, op),
        }
    }
}

/// Writes the handle's wake descriptor to `*fd`, for poll/epoll/select: it
/// becomes readable (`EPOLLIN`/`POLLIN`) when a side the handle waits on
/// may make progress: a message to receive, or room to send. Made on the
/// first call (later calls return the same descriptor); it belongs to the
/// handle (close-on-exec, closed by `kipc_mbox_close`, which also takes it
/// out of any epoll set): do not read, write or close it.
///
/// The contract is `kipc_ring_fd`'s (see there for the loop): once the
/// descriptor exists, a `kipc_mbox_recv` (or `kipc_mbox_send`) with
/// `timeout_ns == 0` that returns `-KIPC_EAGAIN` has armed it, and a message
/// (free slot) that comes after that `EAGAIN` makes it readable. Readability
/// is a hint: retry until `-KIPC_EAGAIN`. Any message wakes a receiver,
/// including one its selector does not accept. Any thread may wait on the
/// descriptor; a wake-up can be taken by another thread's try on the same
/// handle. A try with a descriptor also recovers the slots of dead
/// processes at most once per 20 ms, so wait with a timeout.
///
/// Returns 0; negative errnos from the system (`epoll_create1`), and from
/// binding the socket on a later try; `-KIPC_EFAULT`.
///
/// # Safety
///
/// `mb` is NULL or a live handle that is not being closed; `fd` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_fd(mb: *const kipc_mailbox, fd: *mut c_int) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise.
        let h = unsafe { handle(mb) }?;
        check_ptr(fd)?;
        let set = wake::get_or_make(&h.wake).map_err(host_code)?;
        // SAFETY: checked above.
        unsafe { put(fd, set.raw_fd()) };
        Ok(())
    })
}
