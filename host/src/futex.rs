//! Sleeping on a 32-bit word in shared memory: `futex(2)`, and the
//! spin-then-sleep wait built on the core's [`Doorbell`].
//!
//! All calls use *shared* futexes (no `FUTEX_PRIVATE_FLAG`): the kernel keys
//! the wait queue on the physical page (file and offset), so a waiter in one
//! process is woken by a wake through a different mapping of the same segment
//! in another process.
//!
//! # Not pollable
//!
//! A futex has no file descriptor (`FUTEX_FD` was removed from Linux in
//! 2.6.26), so these waits cannot be registered with `epoll`, mio or tokio.
//! They block the calling thread. A caller that needs readiness in an event
//! loop must use an eventfd or pipe transport instead, or park a thread on
//! [`wait_until`] and have it signal an eventfd.
//!
//! # The doorbell protocol
//!
//! [`Doorbell::poll`] tries the operation, announces a sleeper, and tries
//! again; if both fail it returns a *ticket*, and [`wait_doorbell`] sleeps only
//! while the word still equals that ticket. A notifier publishes, then
//! [`ring`]s, which makes a `FUTEX_WAKE` only when a sleeper announced itself.
//! See `kipc_core::doorbell` for why no wake-up is lost.
//!
//! A bell is used in one of two [`Fencing`] modes: symmetric (both sides
//! RMW the word) or asymmetric (the notifier loads it, the waiter issues
//! [`crate::barrier::heavy`]); queues record theirs at creation.
//!
//! # References
//! - [Linux `futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)

use core::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use kipc_core::doorbell::{Doorbell, Wake};
use rustix::io::Errno;
use rustix::thread::futex::{self as sys, Timespec};

use crate::{Error, Result};

/// Spin iterations [`wait_until`] callers use unless they have a reason not to.
pub const DEFAULT_SPIN_ITERS: u32 = 256;

/// How often, in spin iterations, [`wait_until`] yields the CPU while spinning,
/// so that a peer sharing our core gets to run.
pub const YIELD_EVERY: u32 = 32;

/// The longest single futex sleep in [`wait_until`]: between sleeps it asks
/// whether the peer is alive, so a dead peer is noticed within this time
/// (plus the liveness check's own cost).
pub const LIVENESS_SLICE: Duration = Duration::from_millis(20);

/// Why a [`wait`] returned. Only [`TimedOut`](Self::TimedOut) says anything
/// definite; in every case re-check the condition you are waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The call slept and was woken (by a `FUTEX_WAKE`, or spuriously).
    Woken,
    /// The word did not hold `expected` when checked (`EAGAIN`): no sleep.
    ValueChanged,
    /// The timeout elapsed.
    TimedOut,
    /// A signal handler ran (`EINTR`).
    Interrupted,
}

fn timespec(d: Duration) -> Timespec {
    Timespec::try_from(d).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 999_999_999,
    })
}

/// `futex(word, FUTEX_WAIT, expected, timeout)` — sleeps while `*word ==
/// expected`, at most `timeout` (forever if `None`).
///
/// The check and the sleep are atomic with respect to [`wake`]: if the word
/// changes and a wake is issued after this call checked it, the call returns.
///
/// # Errors
///
/// [`Error::Sys`] for errors other than `EAGAIN`, `ETIMEDOUT` and `EINTR`
/// (which are [`WaitOutcome`]s); none are expected for a valid reference.
///
/// # Examples
///
/// ```
/// use core::sync::atomic::AtomicU32;
/// use kipc_host::futex::{wait, WaitOutcome};
/// use std::time::Duration;
/// let word = AtomicU32::new(1);
/// assert_eq!(wait(&word, 0, None)?, WaitOutcome::ValueChanged);
/// assert_eq!(wait(&word, 1, Some(Duration::from_millis(1)))?, WaitOutcome::TimedOut);
/// # Ok::<(), kipc_host::Error>(())
/// ```
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Result<WaitOutcome> {
    let ts = timeout.map(timespec);
    match sys::wait(word, sys::Flags::empty(), expected, ts.as_ref()) {
        Ok(()) => Ok(WaitOutcome::Woken),
        Err(Errno::AGAIN) => Ok(WaitOutcome::ValueChanged),
        Err(Errno::TIMEDOUT) => Ok(WaitOutcome::TimedOut),
        Err(Errno::INTR) => Ok(WaitOutcome::Interrupted),
        Err(e) => Err(Error::sys("futex(FUTEX_WAIT)", "", e)),
    }
}

/// `futex(word, FUTEX_WAKE, n)` — wakes up to `n` threads (in any process)
/// sleeping on `word`; returns how many were woken.
///
/// `FUTEX_WAKE` fails only for a bad address or flags, neither of which a
/// `&AtomicU32` and this module's constant flags can produce; if it ever did,
/// this returns 0 (sleepers then wake at their timeout).
pub fn wake(word: &AtomicU32, n: u32) -> usize {
    let r = sys::wake(word, sys::Flags::empty(), n);
    debug_assert!(r.is_ok(), "FUTEX_WAKE failed: {r:?}");
    r.unwrap_or(0)
}

/// [`wait`] on a doorbell's word with the `ticket` from [`Doorbell::poll`].
///
/// # Errors
///
/// As [`wait`].
pub fn wait_doorbell(
    bell: &Doorbell,
    ticket: u32,
    timeout: Option<Duration>,
) -> Result<WaitOutcome> {
    wait(bell.word(), ticket, timeout)
}

/// How the waiters and notifiers of one doorbell order themselves (see
/// `kipc_core::doorbell`, "Asymmetric mode").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fencing {
    /// Both sides read-modify-write the word ([`Doorbell::ring`],
    /// [`Doorbell::poll`]). Always correct.
    #[default]
    Symmetric,
    /// Notifiers load the word ([`Doorbell::ring_light`]); waiters run
    /// [`crate::barrier::heavy`] between announcing and re-checking
    /// ([`Doorbell::poll_heavy`]). Only for a bell whose every waiter does.
    Asymmetric,
}

/// The longest sleep of an asymmetric waiter whose heavy barrier failed: it
/// cannot be sure a notifier saw its announce, so it looks again soon.
const UNFENCED_SLICE: Duration = Duration::from_millis(1);

/// Notifier side: [`Doorbell::ring`], and if a waiter announced itself,
/// wake every sleeper on the word. Call after publishing. Returns what the
/// ring found: the caller must also wake armed descriptors when
/// [`Wake::armed`] says so ([`crate::endpoint`] does). No system call when
/// nobody waits.
#[must_use = "armed wake descriptors must be notified too"]
pub fn ring(bell: &Doorbell) -> Wake {
    ring_with(bell, Fencing::Symmetric)
}

/// [`ring`] in the bell's [`Fencing`] mode.
#[must_use = "armed wake descriptors must be notified too"]
#[inline]
pub fn ring_with(bell: &Doorbell, fencing: Fencing) -> Wake {
    let wake = match fencing {
        Fencing::Symmetric => bell.ring(),
        Fencing::Asymmetric => bell.ring_light(),
    };
    if wake.sleepers() {
        wake_all(bell);
    }
    wake
}

/// [`Doorbell::ring_all`] and wake every sleeper: used when a peer is marked
/// dead or an object is closed, so that sleepers re-check their state.
/// Returns what [`Doorbell::ring_all`] found (see [`ring`]).
pub fn ring_all(bell: &Doorbell) -> Wake {
    let wake = bell.ring_all();
    wake_all(bell);
    wake
}

/// Wakes every sleeper on `bell`'s word.
fn wake_all(bell: &Doorbell) {
    wake(bell.word(), i32::MAX as u32);
}

/// Runs `op` until it returns `Some`: spin first, then sleep on `bell`.
///
/// 1. Spin: up to `spin_iters` calls of `op`, with a pause hint between them
///    and a `sched_yield` every [`YIELD_EVERY`] calls, so a peer that shares
///    our core gets to run and answer.
/// 2. Sleep: [`Doorbell::poll`] (try, announce, re-try), then a futex wait on
///    the ticket for at most [`LIVENESS_SLICE`] or what is left before
///    `deadline`, whichever is shorter; then ask `peer_alive` and start over.
///
/// When `peer_alive` says the peer is gone, `op` is tried once more (what the
/// peer published before it died is still delivered) and then
/// [`Error::PeerDead`] is returned. A peer's death is therefore noticed within
/// about [`LIVENESS_SLICE`].
///
/// A waiter that gives up leaves the doorbell's sleeper bit set; the cost is
/// one unneeded `FUTEX_WAKE` at the notifier's next ring.
///
/// This blocks the thread and is not pollable (see the
/// [module documentation](self)).
///
/// # Errors
///
/// [`Error::Timeout`] once `deadline` passes (`None`: never);
/// [`Error::PeerDead`]; [`Error::Sys`] if the futex call fails unexpectedly.
///
/// # Examples
///
/// ```
/// use kipc_core::doorbell::Doorbell;
/// use kipc_host::{futex, Error};
/// use std::time::{Duration, Instant};
/// let bell = Doorbell::new();
/// let deadline = Some(Instant::now() + Duration::from_millis(5));
/// let r = futex::wait_until(&bell, 16, deadline, &|| true, || None::<()>);
/// assert_eq!(r, Err(Error::Timeout));
/// assert_eq!(futex::wait_until(&bell, 16, None, &|| true, || Some(7)), Ok(7));
/// ```
pub fn wait_until<T>(
    bell: &Doorbell,
    spin_iters: u32,
    deadline: Option<Instant>,
    peer_alive: &dyn Fn() -> bool,
    op: impl FnMut() -> Option<T>,
) -> Result<T> {
    wait_until_with(
        bell,
        Fencing::Symmetric,
        spin_iters,
        deadline,
        peer_alive,
        op,
    )
}

/// [`wait_until`] on a bell in the given [`Fencing`] mode: an asymmetric
/// waiter runs [`crate::barrier::heavy`] after each announce (and, should
/// that ever fail, sleeps at most 1 ms at a time).
///
/// # Errors
///
/// As [`wait_until`].
pub fn wait_until_with<T>(
    bell: &Doorbell,
    fencing: Fencing,
    spin_iters: u32,
    deadline: Option<Instant>,
    peer_alive: &dyn Fn() -> bool,
    mut op: impl FnMut() -> Option<T>,
) -> Result<T> {
    for i in 1..=spin_iters {
        if let Some(v) = op() {
            return Ok(v);
        }
        if i % YIELD_EVERY == 0 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    loop {
        let mut fenced = true;
        let polled = match fencing {
            Fencing::Symmetric => bell.poll(&mut op),
            Fencing::Asymmetric => bell.poll_heavy(&mut op, || fenced = crate::barrier::heavy()),
        };
        let ticket = match polled {
            Ok(v) => return Ok(v),
            Err(ticket) => ticket,
        };
        if !peer_alive() {
            // Whatever the peer published before dying is visible now.
            return op().ok_or(Error::PeerDead);
        }
        let longest = if fenced {
            LIVENESS_SLICE
        } else {
            UNFENCED_SLICE
        };
        let slice = match deadline {
            None => longest,
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(longest),
                _ => return Err(Error::Timeout),
            },
        };
        // Every outcome (woken, changed, timed out, interrupted) means: re-check.
        wait_doorbell(bell, ticket, Some(slice))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn wake_reaches_a_waiter_in_another_thread() {
        let word = Arc::new(AtomicU32::new(0));
        let w = Arc::clone(&word);
        let t = thread::spawn(move || {
            let mut outcome;
            loop {
                outcome = wait(&w, 0, Some(Duration::from_secs(10))).unwrap();
                if w.load(Ordering::Acquire) != 0 || outcome == WaitOutcome::TimedOut {
                    return outcome;
                }
            }
        });
        thread::sleep(Duration::from_millis(20));
        word.store(1, Ordering::Release);
        wake(&word, 1);
        let outcome = t.join().unwrap();
        assert!(
            matches!(outcome, WaitOutcome::Woken | WaitOutcome::ValueChanged),
            "{outcome:?}"
        );
    }

    #[test]
    fn wait_times_out_when_nobody_wakes() {
        let word = AtomicU32::new(5);
        let start = Instant::now();
        assert_eq!(
            wait(&word, 5, Some(Duration::from_millis(30))).unwrap(),
            WaitOutcome::TimedOut
        );
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert_eq!(wait(&word, 4, None).unwrap(), WaitOutcome::ValueChanged);
        assert_eq!(wake(&word, 1), 0);
    }

    #[test]
    #[allow(unsafe_code)]
    fn shared_futex_wakes_through_a_second_mapping() {
        // Two mappings of one memfd: only a shared (not private) futex links them.
        let a = crate::memfd::MemfdSegment::create("futex", 4096).unwrap();
        let dup = rustix::io::fcntl_dupfd_cloexec(a.fd(), 0).unwrap();
        let b = crate::memfd::MemfdSegment::from_fd(dup, 4096).unwrap();
        assert_ne!(a.as_ptr(), b.as_ptr());
        let pa = a.as_ptr() as usize;
        let t = thread::spawn(move || {
            // SAFETY: `a` outlives the thread (joined below); offset 0 is
            // page-aligned and accessed only atomically.
            let word = unsafe { &*(pa as *const AtomicU32) };
            while word.load(Ordering::Acquire) == 0 {
                let _ = wait(word, 0, Some(Duration::from_secs(10))).unwrap();
            }
        });
        // SAFETY: `b` lives to the end of the test; offset 0 is page-aligned
        // and accessed only atomically.
        let word_b = unsafe { &*(b.as_ptr() as *const AtomicU32) };
        thread::sleep(Duration::from_millis(20));
        word_b.store(1, Ordering::Release);
        wake(word_b, 1);
        t.join().unwrap();
    }

    #[test]
    fn wait_until_gets_what_another_thread_publishes() {
        let bell = Arc::new(Doorbell::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (b, f) = (Arc::clone(&bell), Arc::clone(&flag));
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            f.store(true, Ordering::Release);
            let _ = ring(&b);
        });
        let deadline = Some(Instant::now() + Duration::from_secs(10));
        let r = wait_until(&bell, DEFAULT_SPIN_ITERS, deadline, &|| true, || {
            flag.load(Ordering::Acquire).then_some(42)
        });
        assert_eq!(r, Ok(42));
        t.join().unwrap();
    }

    #[test]
    fn wait_until_times_out_and_reports_a_dead_peer() {
        let bell = Doorbell::new();
        let deadline = Some(Instant::now() + Duration::from_millis(30));
        assert_eq!(
            wait_until(&bell, 8, deadline, &|| true, || None::<()>),
            Err(Error::Timeout)
        );
        assert_eq!(
            wait_until(&bell, 8, None, &|| false, || None::<()>),
            Err(Error::PeerDead)
        );
    }

    #[test]
    fn wait_until_delivers_what_a_dead_peer_left() {
        let bell = Doorbell::new();
        let mut calls = 0;
        // Fails through the spin and both poll tries, then succeeds.
        let r = wait_until(&bell, 4, None, &|| false, || {
            calls += 1;
            (calls > 6).then_some("last message")
        });
        assert_eq!(r, Ok("last message"));
    }
}
