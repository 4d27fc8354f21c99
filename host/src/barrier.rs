//! The heavy half of the doorbells' asymmetric mode: `membarrier(2)`.
//!
//! A notifier's [`Doorbell::ring`](kipc_core::doorbell::Doorbell::ring) is a
//! locked read-modify-write on every publish, and in a ping-pong it costs
//! about a tenth of the round trip: the locked instruction waits for the
//! publishing store to reach the peer's cache. In asymmetric mode
//! (`kipc_core::doorbell`, "Asymmetric mode") the notifier reads the word
//! with a plain load instead, and each *waiter*, after announcing itself
//! and before re-checking, makes every thread of every registered process
//! execute a full memory barrier: `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`.
//! Waiting is the slow path anyway (a futex sleep follows), so the cost, a
//! few microseconds of inter-processor interrupts, lands where it hurts least.
//!
//! # Who registers, who agrees
//!
//! `GLOBAL_EXPEDITED` interrupts only processes that registered with
//! `MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`, so every process that creates
//! a fenced queue or opens one registers once ([`register`]), before it can
//! notify on it.
//! A queue's creator records whether its waiters will issue the barrier
//! ([`RegionFlags::FENCED_WAITERS`](kipc_core::region::RegionFlags)); that
//! flag, read once at open, decides the mode for every handle of the queue
//! in every process. A process that cannot register (a kernel before 4.16, or
//! a seccomp filter that forbids the call) creates symmetric queues, and
//! refuses to open a fenced one with [`Error::Sys`] naming `membarrier`:
//! as a waiter it could not keep the promise the flag makes.
//!
//! `KIPC_MEMBARRIER=0` in the environment makes this process create
//! symmetric queues (it still opens fenced ones): the switch that lets one
//! binary measure both modes side by side.

use std::sync::OnceLock;

use rustix::io::Errno;
use rustix::thread::{membarrier, membarrier_query, MembarrierCommand, MembarrierQuery};

use crate::{Error, Result};

/// The outcome of this process's one registration attempt.
static REGISTERED: OnceLock<std::result::Result<(), Errno>> = OnceLock::new();

/// Registers this process for `MEMBARRIER_CMD_GLOBAL_EXPEDITED` (once; later
/// calls return the first outcome).
///
/// # Errors
///
/// [`Error::Sys`] with `ENOSYS` if the kernel lacks the commands, or what
/// the registration returned (`EPERM` under a seccomp filter, say).
///
/// # Examples
///
/// ```
/// // On any Linux since 4.16 without a seccomp filter in the way:
/// assert!(kipc_host::barrier::register().is_ok());
/// ```
pub fn register() -> Result<()> {
    let outcome = REGISTERED.get_or_init(|| {
        let needed = MembarrierQuery::GLOBAL_EXPEDITED | MembarrierQuery::REGISTER_GLOBAL_EXPEDITED;
        if !membarrier_query().contains(needed) {
            return Err(Errno::NOSYS);
        }
        membarrier(MembarrierCommand::RegisterGlobalExpedited)?;
        // One barrier now: a seccomp filter may allow the registration and
        // refuse the command itself, and we would rather know at open.
        membarrier(MembarrierCommand::GlobalExpedited)
    });
    outcome.map_err(|errno| Error::Sys {
        call: "membarrier",
        object: "MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED".into(),
        errno,
    })
}

/// Whether this process can issue the heavy barrier (registering if it has
/// not yet).
#[must_use]
pub fn available() -> bool {
    register().is_ok()
}

/// Whether queues this process creates should be fenced: the barrier is
/// [`available`] and `KIPC_MEMBARRIER` is not `0`.
#[must_use]
pub fn create_fenced() -> bool {
    // The switch first: a process told not to fence does not register
    // (registered processes take the other waiters' interrupts).
    std::env::var_os("KIPC_MEMBARRIER").is_none_or(|v| v != "0") && available()
}

/// The heavy barrier: every running thread of every registered process
/// executes a full memory barrier before this returns. Returns `false` if
/// the call failed or the process is not registered; the caller must then
/// not rely on it (a futex waiter shortens its sleep, an event-loop waiter
/// makes its own descriptor readable, a C waiter changes the word).
#[must_use]
pub fn heavy() -> bool {
    available() && membarrier(MembarrierCommand::GlobalExpedited).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::futex::{self, WaitOutcome};
    use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use kipc_core::doorbell::Doorbell;
    use std::time::Duration;

    /// One side of a ping-pong over asymmetric doorbells. In round `i` the
    /// leader publishes `i` in `out` and `ring_light`s its bell, then waits
    /// for `i` in `inp`; the follower waits first, then answers. Every wait
    /// is `poll_heavy` + `barrier` and a real futex sleep (no spinning), so
    /// nearly every round puts one side to sleep. A wait that times out
    /// although the value had arrived is a lost wake-up.
    fn side(
        leads: bool,
        rounds: u32,
        out: (&AtomicU32, &Doorbell),
        inp: (&AtomicU32, &Doorbell),
        barrier: fn() -> bool,
        stop: &AtomicBool,
        sleeps: &AtomicU32,
    ) -> std::result::Result<(), String> {
        let publish = |i: u32| {
            out.0.store(i, Ordering::Release);
            if out.1.ring_light().sleepers() {
                futex::wake(out.1.word(), u32::MAX);
            }
        };
        for i in 1..=rounds {
            if leads {
                publish(i);
            }
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Err(format!("stopped at round {i}"));
                }
                let arrived = || (inp.0.load(Ordering::Acquire) >= i).then_some(());
                let ticket = match inp.1.poll_heavy(arrived, || {
                    barrier();
                }) {
                    Ok(()) => break,
                    Err(ticket) => ticket,
                };
                sleeps.fetch_add(1, Ordering::Relaxed);
                let slept = futex::wait(inp.1.word(), ticket, Some(Duration::from_secs(5)));
                if slept == Ok(WaitOutcome::TimedOut) && inp.0.load(Ordering::Acquire) >= i {
                    stop.store(true, Ordering::Relaxed);
                    return Err(format!("lost wake-up at round {i}"));
                }
            }
            if !leads {
                publish(i);
            }
        }
        Ok(())
    }

    /// Runs both sides on two threads; the first error, if any, or how many
    /// times a side went to sleep. A side that fails sets `stop`; the other
    /// notices within one 5 s sleep.
    fn ping_pong(rounds: u32, barrier: fn() -> bool) -> std::result::Result<u32, String> {
        let sleeps = AtomicU32::new(0);
        let (ping, pong) = (AtomicU32::new(0), AtomicU32::new(0));
        let (ping_bell, pong_bell) = (Doorbell::new(), Doorbell::new());
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let follower = s.spawn(|| {
                side(
                    false,
                    rounds,
                    (&pong, &pong_bell),
                    (&ping, &ping_bell),
                    barrier,
                    &stop,
                    &sleeps,
                )
            });
            let leader = side(
                true,
                rounds,
                (&ping, &ping_bell),
                (&pong, &pong_bell),
                barrier,
                &stop,
                &sleeps,
            );
            if leader.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            let follower = follower
                .join()
                .unwrap_or_else(|_| Err("follower panicked".into()));
            leader
                .and(follower)
                .map(|()| sleeps.load(Ordering::Relaxed))
        })
    }

    #[test]
    fn asymmetric_doorbells_lose_no_wake_up() {
        register().expect("membarrier is available on the machines kipc tests on");
        let sleeps = ping_pong(20_000, heavy).unwrap();
        // The protocol was exercised: sides really went to sleep (about 1.3
        // times per round here), each time relying on the other's
        // ring_light to see its announce.
        assert!(sleeps > 1_000, "only {sleeps} sleeps in 20,000 rounds");
    }

    #[test]
    fn registration_is_remembered_and_the_barrier_runs() {
        // This kernel (and CI's) has membarrier; a machine without it would
        // report ENOSYS consistently, which the second call checks too.
        let first = register();
        assert_eq!(register().is_ok(), first.is_ok());
        assert_eq!(heavy(), first.is_ok());
    }
}
