//! Doorbells: how a C program sleeps until a ring changes, without lost
//! wake-ups (the protocol of `kipc_core::doorbell`).
//!
//! The core never sleeps; each ring has a 32-bit `not_empty` word (consumers
//! sleep on it) and a `not_full` word (producers sleep on it). A waiter:
//!
//! 1. tries the operation (`kipc_spsc_try_pop`, ...); done unless `-KIPC_EAGAIN`;
//! 2. `kipc_doorbell_prepare_wait(word, &ticket)`;
//! 3. tries the operation again; done unless `-KIPC_EAGAIN`;
//! 4. sleeps until `*word != ticket` (Linux: `futex(word, FUTEX_WAIT, ticket)`;
//!    firmware: its own primitive), with a timeout, then starts over.
//!
//! The other side, after one or more successful operations, calls
//! `kipc_doorbell_ring(word, &wake)` and, if `wake`, wakes every sleeper on
//! the word (`FUTEX_WAKE`, `INT_MAX`). When nobody sleeps, ringing costs one
//! atomic and no system call.
//!
//! Queues kipc-host creates are *fenced* when its process can register for
//! `membarrier` (and `KIPC_MEMBARRIER` is not `0`): their notifiers load the
//! word instead of RMW-ing it, and every waiter must run a process-wide
//! barrier between announcing and re-checking (`kipc_core::doorbell`,
//! "Asymmetric mode"). With the `host` feature, `kipc_doorbell_prepare_wait`
//! runs it (`membarrier`) whenever the kernel offers it, so a C waiter is
//! correct on either kind of region; if the barrier ever fails it changes
//! the word, so the caller's sleep returns at once and it retries (a busy
//! wait instead of a lost wake-up). A core-level attach (`kipc_spsc_*`,
//! `kipc_mpmc_*`, `kipc_mbox_*`) refuses a fenced region with
//! `-KIPC_ENOTSUP` when the barrier is unavailable (always, without
//! `host`). Regions the core level creates itself are never fenced.

use core::ffi::c_int;

use kipc_core::doorbell::Doorbell;
use kipc_core::region::RegionFlags;
use kipc_core::sync::AtomicU32;

use crate::boundary::{check_ptr, guard, put};
use crate::error::{Code, KIPC_ENOTSUP};

/// Core-level attach, first step: refuses a fenced region (module docs)
/// unless this process can run the heavy barrier its waiters owe. Errors
/// in the region itself are left for the layout's `attach` to report.
///
/// # Safety
///
/// `mem` is valid for reads of `len` bytes for the duration of the call.
pub(crate) unsafe fn check_waitable(mem: *const u8, len: usize) -> Result<(), Code> {
    // SAFETY: the caller's promise.
    let Ok(flags) = (unsafe { kipc_core::region::probe_flags(mem, len) }) else {
        return Ok(());
    };
    if !flags.contains(RegionFlags::FENCED_WAITERS) {
        return Ok(());
    }
    #[cfg(feature = "host")]
    if kipc_host::barrier::register().is_ok() {
        return Ok(());
    }
    Err(Code(-KIPC_ENOTSUP))
}

/// The two doorbell words of a ring, for a host or kernel to sleep on. They
/// point into the ring memory and are valid as long as it is; access them
/// only atomically (or through the `kipc_doorbell_*` functions and futex).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kipc_doorbells_t {
    /// Rung when messages were added; consumers sleep on it.
    pub not_empty: *const u32,
    /// Rung when messages were removed; producers sleep on it.
    pub not_full: *const u32,
}

impl kipc_doorbells_t {
    pub(crate) fn new(not_empty: &Doorbell, not_full: &Doorbell) -> Self {
        let word = |d: &Doorbell| (d.word() as *const AtomicU32).cast::<u32>();
        Self {
            not_empty: word(not_empty),
            not_full: word(not_full),
        }
    }
}

/// The doorbell behind a word pointer.
///
/// # Safety
///
/// `word` passed `check_ptr` and points to a doorbell word that stays valid
/// for `'a` (a word from `kipc_*_doorbells`).
unsafe fn bell<'a>(word: *const u32) -> &'a Doorbell {
    // SAFETY: `Doorbell` is `#[repr(C)]` around one `AtomicU32`, which has the
    // size and alignment of `u32`; validity is the caller's promise.
    unsafe { &*word.cast::<Doorbell>() }
}

/// Notifier: call after one or more successful operations that the other
/// side may be sleeping for. Writes to `*wake` whether a sleeper may be
/// waiting; if so, wake every sleeper on `word` (`FUTEX_WAKE`).
///
/// Returns 0 or `-KIPC_EFAULT` (`word` or `wake` NULL or misaligned).
/// Thread-safe, lock-free, usable from interrupt context.
///
/// # Safety
///
/// `word` is NULL or a word from `kipc_*_doorbells` whose ring memory is
/// still mapped; `wake` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_doorbell_ring(word: *const u32, wake: *mut bool) -> c_int {
    guard(|| {
        check_ptr(word)?;
        check_ptr(wake)?;
        // SAFETY: checked, and a doorbell word by the C caller's promise.
        let woke = unsafe { bell(word) }.ring().sleepers();
        // SAFETY: checked above.
        unsafe { put(wake, woke) };
        Ok(())
    })
}

/// Waiter, step 2 of the protocol (module docs): announces a sleeper on
/// `word` and writes the ticket to `*ticket`. Retry the operation once more,
/// then sleep while `*word == ticket`.
///
/// With the `host` feature this also runs `membarrier(GLOBAL_EXPEDITED)`
/// (the heavy barrier fenced regions need, see the module docs; the first
/// call registers the process), so it is a system call: thread-safe, not
/// for interrupt context. Without `host`: lock-free, no system call.
///
/// Returns 0 or `-KIPC_EFAULT`.
///
/// # Safety
///
/// As `kipc_doorbell_ring`; `ticket` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_doorbell_prepare_wait(word: *const u32, ticket: *mut u32) -> c_int {
    guard(|| {
        check_ptr(word)?;
        check_ptr(ticket)?;
        // SAFETY: checked, and a doorbell word by the C caller's promise.
        let t = match unsafe { bell(word) }.poll(|| None::<()>) {
            Ok(()) => return Ok(()), // unreachable: the operation never succeeds
            Err(t) => t,
        };
        // Fenced regions (module docs): the heavy barrier between the
        // announce and the caller's re-try. Should it fail, a notifier may
        // have missed the announce: change the word, so the caller's sleep
        // on the ticket returns at once and it tries again.
        #[cfg(feature = "host")]
        if kipc_host::barrier::available() && !kipc_host::barrier::heavy() {
            // SAFETY: checked above, as for `poll`.
            let _ = unsafe { bell(word) }.ring_all();
        }
        // SAFETY: checked above.
        unsafe { put(ticket, t) };
        Ok(())
    })
}
