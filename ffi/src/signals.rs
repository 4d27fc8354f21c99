//! Host level (feature `host`): real Linux signals received without unsafe
//! work in a handler (`kipc_host::signals::Signals`). kipc installs one
//! `SA_SIGINFO` handler for the chosen signals that records each one (with
//! its sender and `sigqueue` value) in a lock-free inbox and wakes an
//! eventfd; the program takes them with [`kipc_signals_wait`], from
//! ordinary code, or polls [`kipc_signals_fd`].

use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, Ordering};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use kipc_core::signal::{SigSet, Signal};
use kipc_host::signals::{self, Signals};

use crate::boundary::{check_ptr, guard, put};
use crate::error::{Code, KIPC_EAGAIN, KIPC_EBUSY, KIPC_EINVAL, KIPC_ETIMEDOUT};
use crate::ring::{host_code, wait, Wait};
use crate::sigstate::kipc_siginfo_t;

/// The signals this process took over (opaque, heap-allocated). At most one
/// is open per process at a time.
///
/// Thread safety: `kipc_signals_wait` and `kipc_signals_close` need the
/// handle to themselves (one thread at a time); `kipc_signals_fd` may be
/// called from any thread. The signals may arrive on any thread that does
/// not block them: do not block them in every thread (as one would for
/// `sigwait`), or nothing is recorded. Using a handle after
/// `kipc_signals_close` is undefined, as with `free`.
pub struct kipc_signals {
    sigs: Signals,
}

impl core::fmt::Debug for kipc_signals {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("kipc_signals").finish_non_exhaustive()
    }
}

/// Set while a `kipc_signals` handle is open.
static OPEN: AtomicBool = AtomicBool::new(false);

/// Takes over the signals in `mask` (bit `n - 1` for signal `n`:
/// `KIPC_SIGBIT(SIGUSR1) | ...`): installs kipc's handler for each,
/// remembering the previous action (chained to while open, restored by
/// close), and writes a new handle to `*out`.
///
/// Returns 0; `-KIPC_EINVAL` (empty mask, SIGKILL, SIGSTOP, the synchronous
/// faults SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP/SIGSYS, or real-time signals
/// the C library reserves, below `SIGRTMIN`), `-KIPC_EBUSY` (a handle is
/// already open in this process), negative errnos from the system,
/// `-KIPC_EFAULT`.
///
/// # Safety
///
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_signals_open(mask: u64, out: *mut *mut kipc_signals) -> c_int {
    guard(|| {
        check_ptr(out)?;
        if mask == 0 {
            return Err(Code(-KIPC_EINVAL));
        }
        if OPEN
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Code(-KIPC_EBUSY));
        }
        let sigs = match Signals::new(SigSet::from_bits(mask)) {
            Ok(s) => s,
            Err(e) => {
                OPEN.store(false, Ordering::Release);
                return Err(host_code(e));
            }
        };
        // SAFETY: checked above.
        unsafe { put(out, Box::into_raw(Box::new(kipc_signals { sigs }))) };
        Ok(())
    })
}

/// Takes the next signal received (lowest number first; real-time instances
/// of one signal in arrival order, each with its value) and writes it to
/// `*info`. `timeout_ns`: negative waits as long as it takes, 0 only looks,
/// positive waits up to that many nanoseconds.
///
/// Returns 0; `-KIPC_EAGAIN` (none, `timeout_ns == 0`), `-KIPC_ETIMEDOUT`,
/// negative errnos if polling fails, `-KIPC_EFAULT`.
///
/// # Safety
///
/// `sigs` is NULL or a live handle no other thread is using; `info` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_signals_wait(
    sigs: *mut kipc_signals,
    timeout_ns: i64,
    info: *mut kipc_siginfo_t,
) -> c_int {
    guard(|| {
        check_ptr(sigs)?;
        check_ptr(info)?;
        // SAFETY: a live handle used by this thread alone (caller).
        let s = unsafe { &mut (*sigs).sigs };
        let got = match wait(timeout_ns) {
            // Not `try_next`: a zero wait also resets the eventfd before it
            // looks, so once this says EAGAIN the descriptor of
            // `kipc_signals_fd` is quiet until the next signal (a
            // level-triggered epoll loop would spin otherwise).
            Wait::Never => s
                .wait_timeout(Duration::ZERO)
                .map_err(host_code)?
                .ok_or(Code(-KIPC_EAGAIN))?,
            Wait::Forever => s.wait().map_err(host_code)?,
            Wait::For(d) => s
                .wait_timeout(d)
                .map_err(host_code)?
                .ok_or(Code(-KIPC_ETIMEDOUT))?,
        };
        // SAFETY: checked above.
        unsafe { put(info, got.into()) };
        Ok(())
    })
}

/// Writes a descriptor that becomes readable when a signal may have arrived
/// (for poll/epoll); then call `kipc_signals_wait(sigs, 0, ...)` until it
/// returns `-KIPC_EAGAIN`, which leaves it unreadable until the next
/// signal. The descriptor belongs to the handle: do not
/// read or close it; it is valid until `kipc_signals_close`.
///
/// Returns 0 or `-KIPC_EFAULT`.
///
/// # Safety
///
/// `sigs` is NULL or a live handle that is not being closed; `fd` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_signals_fd(sigs: *const kipc_signals, fd: *mut c_int) -> c_int {
    guard(|| {
        check_ptr(sigs)?;
        check_ptr(fd)?;
        // SAFETY: a live handle (caller); only a shared borrow.
        let raw = unsafe { &(*sigs).sigs }.as_fd().as_raw_fd();
        // SAFETY: checked above.
        unsafe { put(fd, raw) };
        Ok(())
    })
}

/// Gives the signals back: restores each one's previous action and frees
/// the handle. Signals that arrived and were not taken are dropped.
///
/// Returns 0 or `-KIPC_EFAULT` (NULL).
///
/// # Safety
///
/// `sigs` is NULL or a live handle no other thread is using; it must not be
/// used afterwards.
#[no_mangle]
pub unsafe extern "C" fn kipc_signals_close(sigs: *mut kipc_signals) -> c_int {
    guard(|| {
        check_ptr(sigs)?;
        // SAFETY: a live handle from `Box::into_raw` (caller), freed once.
        drop(unsafe { Box::from_raw(sigs) });
        OPEN.store(false, Ordering::Release);
        Ok(())
    })
}

/// Sends signal `signo` with `value` to process `pid` (> 0) with
/// `sigqueue`: the receiver sees `KIPC_SI_QUEUE` and the value. Real-time
/// signals queue; past the kernel's limit this fails with `-KIPC_EAGAIN`.
/// Thread-safe and needs no handle.
///
/// Returns 0; `-KIPC_EINVAL` (`pid <= 0`: kipc never signals groups; bad
/// signal), `-KIPC_ESRCH`, `-EPERM`, `-KIPC_EAGAIN`.
#[no_mangle]
pub extern "C" fn kipc_signals_send(pid: i32, signo: c_int, value: u64) -> c_int {
    guard(|| {
        // Checked here too: kipc-host's own check panics on negative pids
        // (rustix's `Pid::from_raw` asserts `raw >= 0`).
        if pid <= 0 {
            return Err(Code(-KIPC_EINVAL));
        }
        let sig = u32::try_from(signo)
            .ok()
            .and_then(Signal::new)
            .ok_or(Code(-KIPC_EINVAL))?;
        // `si_value` is pointer-sized; on 32-bit targets the high half is lost.
        let value = value as usize;
        signals::sigqueue(pid, sig, value).map_err(host_code)
    })
}
