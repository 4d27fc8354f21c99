//! [`Shared`]: one process's signal state for several CPUs or threads of one
//! address space, with no OS: a [`Process`] under a short spin lock for the
//! operations that change it, beside a lock-free [`SignalInbox`] for raising
//! from interrupt or signal-handler context.
//!
//! The rules (which calls may run in interrupt context, what a raise
//! guarantees) are on [`Shared`] itself.

use super::{
    Delivery, Disposition, Generated, How, Process, Sender, SigError, SigInfo, SigSet, Signal,
    SignalInbox, ThreadId,
};
use crate::sync::{const_fn, SpinMutex, SpinMutexGuard};

/// The signal state of a process with `THREADS` threads and room for `RTQ`
/// queued real-time instances, shareable between CPUs or threads (`&self`
/// everywhere), with an inbox of `INBOX` real-time instances (a power of two)
/// for raising from interrupt context.
///
/// # Why a lock, and why raising does not take it
///
/// `Process` changes through `&mut self`: a delivery reads the mask, takes
/// from a pending set and installs a handler mask as one step, and so does
/// every other operation. Making all of that lock-free would buy nothing a
/// kernel needs; a lock held for one call (well under a microsecond) is the
/// honest design (`spin`, through [`crate::sync::SpinMutex`], so loom
/// schedules it).
///
/// An interrupt or a signal handler, though, may have interrupted the very
/// CPU or thread that holds the lock, and would spin forever waiting for it.
/// So raising never touches the lock: [`Shared::raise`] puts the signal into
/// the inbox (one `fetch_or` for a standard signal, a lock-free queue push for
/// a real-time one), and whoever takes the lock next moves the inbox into the
/// state ([`Process::absorb`]) before doing anything else. Every locked
/// operation absorbs first, so it sees every raise that completed before it
/// took the lock.
///
/// # Which calls may run where
///
/// | call                                   | interrupt / handler context | waits for |
/// |----------------------------------------|-----------------------------|-----------|
/// | [`raise`](Shared::raise), [`inbox`](Shared::inbox) | yes          | nothing (lock-free) |
/// | [`try_lock`](Shared::try_lock)         | yes                         | nothing: `None` if held |
/// | [`lock`](Shared::lock) and every other method | no                   | the holder on another CPU or thread |
///
/// A locked call from a context that interrupted the holder deadlocks (the
/// lock is not reentrant). Any number of raises may run concurrently with
/// each other and with locked calls.
///
/// # What a raise guarantees
///
/// Raised signals are generated like any other, so the rules still apply
/// when they are absorbed: one that is ignored and not blocked is discarded
/// (rule 5), and SIGCONT and the stop signals cancel each other (rule 8).
/// Beyond that:
///
/// - A raised real-time instance is made pending exactly once, with its
///   info, by the first locked call that finds room in the state's queue
///   (`RTQ`); until then it waits in the inbox. A raise that finds the inbox
///   full (`INBOX` waiting instances) fails with [`SigError::Again`] and
///   changes nothing.
/// - A raised standard signal is made pending (process-directed, as `kill`
///   from pid 0: the inbox keeps no sender) by the next locked call, and
///   coalesces with a pending instance as rule 3 says: raising it `k` times
///   delivers it between once and `k` times, never more, never zero.
/// - Nothing moves from the inbox to the state without the lock, so no
///   delivery or mask change ever sees half an absorb.
///
/// The inbox is drained only when someone takes the lock. A thread that
/// found nothing to deliver and goes to sleep must be woken by the raiser
/// (a doorbell, an IPI): the raise alone wakes nobody.
///
/// # Examples
///
/// ```
/// use kipc_core::signal::*;
/// static SIGS: Shared<2, 8, 8> = Shared::new();
/// let me = Sender::new(1, 0);
/// SIGS.sigprocmask(1, How::Block, SigSet::from(Signal::USR1)).unwrap();
/// // From an interrupt handler: lock-free.
/// SIGS.raise(SigInfo::user(Signal::USR1, me)).unwrap();
/// // Thread 1 blocks it; thread 0 takes it.
/// assert_eq!(SIGS.next_delivery(1).unwrap(), None);
/// let d = SIGS.next_delivery(0).unwrap().unwrap();
/// assert_eq!(d.info.signo, Signal::USR1);
/// assert_eq!(SIGS.next_delivery(0).unwrap(), None);
/// ```
#[derive(Debug)]
pub struct Shared<const THREADS: usize, const RTQ: usize, const INBOX: usize> {
    /// Where [`raise`](Self::raise) puts signals: all-atomic, never locked.
    inbox: SignalInbox<INBOX>,
    /// The state; every holder absorbs `inbox` first.
    state: SpinMutex<Process<THREADS, RTQ>>,
}

impl<const THREADS: usize, const RTQ: usize, const INBOX: usize> Default
    for Shared<THREADS, RTQ, INBOX>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const THREADS: usize, const RTQ: usize, const INBOX: usize> Shared<THREADS, RTQ, INBOX> {
    const_fn! {
        /// A fresh state (as [`Process::new`]) with an empty inbox.
        pub fn new() -> Self {
            Self::from_process(Process::new())
        }
    }

    const_fn! {
        /// Wraps an existing state, with an empty inbox.
        pub fn from_process(process: Process<THREADS, RTQ>) -> Self {
            Shared {
                inbox: SignalInbox::new(),
                state: SpinMutex::new(process),
            }
        }
    }

    // ---- lock-free: any context ----------------------------------------------

    /// Raises `info.signo` from any context, interrupts and signal handlers
    /// included: lock-free, allocation-free, never waits for the lock. The
    /// next locked call makes it pending (process-directed); a standard
    /// signal arrives without its sender (`SI_USER` from pid 0).
    ///
    /// # Errors
    ///
    /// [`SigError::Again`] if `info.signo` is real-time and `INBOX`
    /// instances are already waiting in the inbox; nothing changes.
    pub fn raise(&self, info: SigInfo) -> Result<(), SigError> {
        self.inbox.raise(info)
    }

    /// The inbox [`raise`](Self::raise) writes into (any context).
    pub fn inbox(&self) -> &SignalInbox<INBOX> {
        &self.inbox
    }

    /// Takes the lock if it is free, absorbing the inbox; `None` (at once) if
    /// another holder has it. Safe in interrupt context, since it never
    /// waits.
    pub fn try_lock(&self) -> Option<SpinMutexGuard<'_, Process<THREADS, RTQ>>> {
        let mut guard = self.state.try_lock()?;
        guard.absorb(&self.inbox);
        Some(guard)
    }

    // ---- locked: not from a context that may interrupt a holder ---------------

    /// Takes the lock (spinning while another CPU or thread holds it) and
    /// absorbs the inbox; the guard gives the whole [`Process`] API. Not
    /// from interrupt context: see [`Shared`].
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_core::signal::*;
    /// let s: Shared<1, 4, 4> = Shared::new();
    /// s.raise(SigInfo::queued(Signal::RTMIN, Sender::new(2, 0), 7)).unwrap();
    /// let p = s.lock();
    /// assert_eq!(p.queued().map(|(_, i)| i.value).collect::<Vec<_>>(), [7]);
    /// ```
    pub fn lock(&self) -> SpinMutexGuard<'_, Process<THREADS, RTQ>> {
        let mut guard = self.state.lock();
        guard.absorb(&self.inbox);
        guard
    }

    /// The state through exclusive access (no lock needed), the inbox
    /// absorbed.
    pub fn get_mut(&mut self) -> &mut Process<THREADS, RTQ> {
        let process = self.state.get_mut();
        process.absorb(&self.inbox);
        process
    }

    /// [`Process::set_action`] (`sigaction`) under the lock.
    ///
    /// # Errors
    ///
    /// As [`Process::set_action`].
    pub fn set_action(
        &self,
        sig: Signal,
        disposition: Disposition,
    ) -> Result<Disposition, SigError> {
        self.lock().set_action(sig, disposition)
    }

    /// [`Process::action`] under the lock.
    pub fn action(&self, sig: Signal) -> Disposition {
        self.lock().action(sig)
    }

    /// [`Process::sigprocmask`] (`pthread_sigmask`) under the lock.
    ///
    /// # Errors
    ///
    /// As [`Process::sigprocmask`].
    pub fn sigprocmask(&self, thread: ThreadId, how: How, set: SigSet) -> Result<SigSet, SigError> {
        self.lock().sigprocmask(thread, how, set)
    }

    /// [`Process::kill`] under the lock (with the sender's info, unlike
    /// [`raise`](Self::raise)).
    ///
    /// # Errors
    ///
    /// As [`Process::kill`].
    pub fn kill(&self, sig: Signal, from: Sender) -> Result<Generated, SigError> {
        self.lock().kill(sig, from)
    }

    /// [`Process::sigqueue`] under the lock.
    ///
    /// # Errors
    ///
    /// As [`Process::sigqueue`].
    pub fn sigqueue(&self, sig: Signal, from: Sender, value: u64) -> Result<Generated, SigError> {
        self.lock().sigqueue(sig, from, value)
    }

    /// [`Process::tgkill`] under the lock.
    ///
    /// # Errors
    ///
    /// As [`Process::tgkill`].
    pub fn tgkill(
        &self,
        thread: ThreadId,
        sig: Signal,
        from: Sender,
    ) -> Result<Generated, SigError> {
        self.lock().tgkill(thread, sig, from)
    }

    /// [`Process::next_delivery`] under the lock.
    ///
    /// # Errors
    ///
    /// As [`Process::next_delivery`].
    pub fn next_delivery(&self, thread: ThreadId) -> Result<Option<Delivery>, SigError> {
        self.lock().next_delivery(thread)
    }

    /// [`Process::handler_return`] (`sigreturn`) under the lock.
    ///
    /// # Errors
    ///
    /// As [`Process::handler_return`].
    pub fn handler_return(&self, thread: ThreadId, saved_mask: SigSet) -> Result<(), SigError> {
        self.lock().handler_return(thread, saved_mask)
    }

    /// [`Process::sigsuspend`] under the lock.
    ///
    /// # Errors
    ///
    /// As [`Process::sigsuspend`].
    pub fn sigsuspend(&self, thread: ThreadId, mask: SigSet) -> Result<Option<Delivery>, SigError> {
        self.lock().sigsuspend(thread, mask)
    }

    /// [`Process::sigwait`] (`sigwaitinfo` without sleeping) under the lock.
    ///
    /// # Errors
    ///
    /// As [`Process::sigwait`].
    pub fn sigwait(&self, thread: ThreadId, set: SigSet) -> Result<Option<SigInfo>, SigError> {
        self.lock().sigwait(thread, set)
    }

    /// [`Process::sigpending`] under the lock.
    ///
    /// # Errors
    ///
    /// As [`Process::sigpending`].
    pub fn sigpending(&self, thread: ThreadId) -> Result<SigSet, SigError> {
        self.lock().sigpending(thread)
    }

    /// [`Process::is_stopped`] under the lock.
    pub fn is_stopped(&self) -> bool {
        self.lock().is_stopped()
    }

    /// [`Process::fork`] under the lock: the child's state, with an empty
    /// inbox (signals raised but not yet absorbed belong to the parent).
    ///
    /// # Errors
    ///
    /// As [`Process::fork`].
    pub fn fork(&self, thread: ThreadId) -> Result<Self, SigError> {
        let child = self.lock().fork(thread)?;
        Ok(Self::from_process(child))
    }

    /// [`Process::exec`] under the lock.
    pub fn exec(&self) {
        self.lock().exec();
    }
}

#[cfg(all(test, not(kipc_loom)))]
mod tests {
    use super::*;
    use crate::signal::{Action, SaFlags};
    use std::vec::Vec;

    type S = Shared<2, 4, 4>;
    const ME: Sender = Sender::new(5, 6);

    #[test]
    fn raised_signals_are_absorbed_by_the_next_locked_call_and_respect_masks() {
        let s = S::new();
        s.sigprocmask(0, How::Block, SigSet::from(Signal::USR1))
            .unwrap();
        s.raise(SigInfo::user(Signal::USR1, ME)).unwrap();
        s.raise(SigInfo::user(Signal::USR1, ME)).unwrap(); // coalesces
        s.raise(SigInfo::queued(Signal::RTMIN, ME, 1)).unwrap();
        s.raise(SigInfo::queued(Signal::RTMIN, ME, 2)).unwrap();
        assert!(s.inbox().standard.load().contains(Signal::USR1));
        assert_eq!(
            s.sigpending(0).unwrap(),
            SigSet::from(Signal::USR1),
            "absorbed, and blocked by thread 0"
        );
        assert!(s.inbox().standard.load().is_empty());
        assert_eq!(s.inbox().realtime.pop(), None);
        let d = s.next_delivery(0).unwrap().unwrap();
        assert_eq!((d.info.signo, d.info.value), (Signal::RTMIN, 1));
        let d = s.next_delivery(1).unwrap().unwrap();
        assert_eq!(d.info.signo, Signal::USR1, "thread 1 does not block it");
        assert_eq!((d.info.pid, d.info.code), (0, crate::signal::SI_USER));
        let d = s.next_delivery(1).unwrap().unwrap();
        assert_eq!(
            (d.info.signo, d.info.value, d.info.pid),
            (Signal::RTMIN, 2, 5)
        );
        assert_eq!(s.next_delivery(0).unwrap(), None);
        assert_eq!(s.next_delivery(1).unwrap(), None);
    }

    #[test]
    fn realtime_raises_wait_in_the_inbox_while_the_state_queue_is_full() {
        let s: Shared<1, 1, 2> = Shared::new();
        s.sigprocmask(0, How::Block, SigSet::FULL).unwrap();
        s.raise(SigInfo::queued(Signal::RTMAX, ME, 1)).unwrap();
        s.raise(SigInfo::queued(Signal::RTMAX, ME, 2)).unwrap();
        // RTQ is 1: the state takes 1, and 2 stays in the inbox.
        assert_eq!(s.lock().queued().count(), 1);
        s.raise(SigInfo::queued(Signal::RTMAX, ME, 3)).unwrap();
        // The inbox holds 2 and 3: full.
        assert_eq!(
            s.raise(SigInfo::queued(Signal::RTMAX, ME, 4)),
            Err(SigError::Again)
        );
        let mut got = Vec::new();
        while let Some(i) = s.sigwait(0, SigSet::FULL).unwrap() {
            got.push(i.value);
        }
        assert_eq!(got, [1, 2, 3]);
    }

    #[test]
    fn try_lock_refuses_while_held_and_never_waits() {
        let s = S::new();
        let held = s.lock();
        assert!(s.try_lock().is_none());
        s.raise(SigInfo::user(Signal::HUP, ME)).unwrap(); // never blocked by the holder
        drop(held);
        let p = s.try_lock().expect("free now");
        assert_eq!(p.process_pending(), SigSet::from(Signal::HUP));
    }

    #[test]
    fn handler_delivery_fork_and_exec_go_through_the_lock() {
        let s = S::new();
        let h = Disposition::handler(9, SaFlags::empty(), SigSet::EMPTY);
        s.set_action(Signal::USR2, h).unwrap();
        s.raise(SigInfo::user(Signal::USR2, ME)).unwrap();
        let d = s.next_delivery(0).unwrap().unwrap();
        let Action::RunHandler { id, saved_mask, .. } = d.action else {
            panic!("{d:?}")
        };
        assert_eq!(id, 9);
        assert!(s.lock().blocked(0).unwrap().contains(Signal::USR2));
        s.handler_return(0, saved_mask).unwrap();
        assert_eq!(s.lock().blocked(0).unwrap(), SigSet::EMPTY);
        s.raise(SigInfo::user(Signal::USR1, ME)).unwrap();
        let child = s.fork(0).unwrap();
        assert_eq!(child.action(Signal::USR2), h);
        assert_eq!(child.sigpending(0).unwrap(), SigSet::EMPTY);
        assert!(child.lock().pending(0).unwrap().is_empty());
        s.exec();
        assert_eq!(s.action(Signal::USR2), Disposition::Default);
        assert_eq!(s.lock().pending(0).unwrap(), SigSet::from(Signal::USR1));
    }

    /// Sets its flag when dropped: stops the other threads of a test whose
    /// thread panicked, so the test fails instead of hanging.
    struct SetOnDrop<'a>(&'a crate::sync::AtomicBool);

    impl Drop for SetOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, crate::sync::Ordering::Release);
        }
    }

    /// Two raisers and two threads changing masks and taking deliveries at
    /// once (real threads): every real-time instance comes out exactly once,
    /// every standard signal at least once and at most as often as raised,
    /// and nothing comes out to a thread that blocks it. Under Miri
    /// (`cargo +nightly miri test -p kipc-core --lib concurrent_raisers`,
    /// scaled down) this checks the real `spin` lock: with the lock made a
    /// no-op, Miri reports undefined behaviour here.
    #[test]
    fn concurrent_raisers_and_maskers_deliver_every_raise() {
        use crate::sync::{AtomicBool, Ordering};
        // Miri runs this too (it checks the real `spin` lock for data races).
        const PER_RAISER: u64 = if cfg!(miri) { 16 } else { 2000 };
        let s: Shared<2, 64, 64> = Shared::new();
        // `done`: every raiser finished (or the test failed); `taker_gone`:
        // a taker stopped, so nobody may drain a full inbox any more.
        let (done, taker_gone) = (AtomicBool::new(false), AtomicBool::new(false));
        let (mut delivered, raised_std) = std::thread::scope(|scope| {
            let _stop_takers = SetOnDrop(&done);
            let raisers: Vec<_> = (0..2u32)
                .map(|r| {
                    let (s, taker_gone) = (&s, &taker_gone);
                    scope.spawn(move || {
                        let mut std_raised = 0u64;
                        for v in 0..PER_RAISER {
                            let info = SigInfo::queued(Signal::RTMIN, Sender::new(r, 0), v);
                            // A full inbox is back-pressure: retry while the
                            // takers drain it.
                            while s.raise(info).is_err() {
                                assert!(!taker_gone.load(Ordering::Acquire), "a taker stopped");
                                std::thread::yield_now();
                            }
                            if v % 4 == 0 {
                                s.raise(SigInfo::user(Signal::USR1, ME)).unwrap();
                                std_raised += 1;
                            }
                        }
                        std_raised
                    })
                })
                .collect();
            let takers: Vec<_> = (0..2usize)
                .map(|t| {
                    let (s, done, taker_gone) = (&s, &done, &taker_gone);
                    scope.spawn(move || {
                        let _gone = SetOnDrop(taker_gone);
                        let mut got = Vec::new();
                        let mut take = |mask_has_usr1: bool| {
                            while let Some(d) = s.next_delivery(t).unwrap() {
                                assert!(!(mask_has_usr1 && d.info.signo == Signal::USR1));
                                got.push(d.info);
                            }
                        };
                        loop {
                            let last = done.load(Ordering::Acquire);
                            s.sigprocmask(t, How::Block, SigSet::from(Signal::USR1))
                                .unwrap();
                            take(true);
                            s.sigprocmask(t, How::SetMask, SigSet::EMPTY).unwrap();
                            take(false);
                            if last {
                                break got;
                            }
                        }
                    })
                })
                .collect();
            let raised: u64 = raisers.into_iter().map(|h| h.join().unwrap()).sum();
            done.store(true, Ordering::Release);
            let got: Vec<SigInfo> = takers.into_iter().flat_map(|h| h.join().unwrap()).collect();
            (got, raised)
        });
        let usr1 = delivered.iter().filter(|i| i.signo == Signal::USR1).count() as u64;
        assert!((1..=raised_std).contains(&usr1), "{usr1} of {raised_std}");
        delivered.retain(|i| i.signo == Signal::RTMIN);
        delivered.sort_by_key(|i| (i.pid, i.value));
        let expect: Vec<(u32, u64)> = (0..2)
            .flat_map(|r| (0..PER_RAISER).map(move |v| (r, v)))
            .collect();
        let got: Vec<(u32, u64)> = delivered.iter().map(|i| (i.pid, i.value)).collect();
        assert_eq!(got, expect);
        assert!(s.lock().pending(0).unwrap().is_empty());
    }
}
