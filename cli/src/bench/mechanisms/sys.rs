//! The bench's only `libc` calls: what rustix does not wrap.
//!
//! - POSIX message queues: `mq_open`, `mq_timedsend`, `mq_timedreceive`,
//!   `mq_unlink`, `mq_close`;
//! - queued real-time signals: `sigqueue`, `sigtimedwait`, and
//!   `pthread_sigmask` to block the signal so it stays queued.
//!
//! The project keeps `libc` in `host/src/sys/`; the issue allows the bench
//! to measure these kernel mechanisms with `libc` directly, and this module
//! is the one place it does. Each `unsafe` block is one call whose pointer
//! arguments are built right there.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::time::Duration;

/// `errno` of the last failed call, as an `io::Error`.
fn last() -> io::Error {
    io::Error::last_os_error()
}

/// `CLOCK_REALTIME` now plus `d`, the absolute deadline the `mq_timed*`
/// calls take.
fn realtime_after(d: Duration) -> libc::timespec {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    let mut sec = now.tv_sec + d.as_secs() as i64;
    let mut nsec = now.tv_nsec + i64::from(d.subsec_nanos());
    if nsec >= 1_000_000_000 {
        sec += 1;
        nsec -= 1_000_000_000;
    }
    libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as _,
    }
}

/// An open POSIX message queue descriptor, closed on drop.
#[derive(Debug)]
pub struct Mq {
    mqd: libc::mqd_t,
}

impl Mq {
    /// `mq_open(name, O_RDWR|O_CLOEXEC [|O_CREAT|O_EXCL], 0600, attr)`:
    /// creates (with `maxmsg` messages of `msgsize` bytes) or opens.
    ///
    /// # Errors
    ///
    /// A name with a NUL, or `mq_open`'s errno (`EEXIST`, `EINVAL` for a
    /// size above `/proc/sys/fs/mqueue/msgsize_max`, ...).
    pub fn open(name: &str, create: Option<(usize, usize)>) -> io::Result<Mq> {
        let cname = CString::new(name).map_err(|_| io::Error::other("queue name contains NUL"))?;
        let mqd = match create {
            Some((maxmsg, msgsize)) => {
                // SAFETY: an all-zero mq_attr is valid; we set the two fields
                // mq_open reads.
                let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
                attr.mq_maxmsg = maxmsg as _;
                attr.mq_msgsize = msgsize as _;
                let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_CREAT | libc::O_EXCL;
                // SAFETY: `cname` is NUL-terminated and `attr` is a valid
                // mq_attr; both outlive the call. The variadic mode and attr
                // pointer are what mq_open expects with O_CREAT.
                unsafe {
                    libc::mq_open(
                        cname.as_ptr(),
                        flags,
                        0o600 as libc::mode_t,
                        &mut attr as *mut libc::mq_attr,
                    )
                }
            }
            // SAFETY: `cname` is NUL-terminated and outlives the call.
            None => unsafe { libc::mq_open(cname.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) },
        };
        if mqd == -1 {
            return Err(last());
        }
        Ok(Mq { mqd })
    }

    /// `mq_unlink(name)`.
    pub fn unlink(name: &str) {
        if let Ok(cname) = CString::new(name) {
            // SAFETY: `cname` is NUL-terminated and outlives the call.
            unsafe { libc::mq_unlink(cname.as_ptr()) };
        }
    }

    /// `mq_timedsend`, priority 0, giving up after `timeout`
    /// (`ETIMEDOUT` as `TimedOut`).
    pub fn send(&self, msg: &[u8], timeout: Duration) -> io::Result<()> {
        let ts = realtime_after(timeout);
        // SAFETY: `msg` is valid for `msg.len()` bytes and `ts` is a valid
        // timespec; both outlive the call.
        let r = unsafe { libc::mq_timedsend(self.mqd, msg.as_ptr().cast(), msg.len(), 0, &ts) };
        if r == -1 {
            return Err(last());
        }
        Ok(())
    }

    /// `mq_timedreceive` into `buf` (which must hold the queue's message
    /// size), giving up after `timeout`.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let ts = realtime_after(timeout);
        let mut prio = 0;
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes, `prio` and
        // `ts` are valid; all outlive the call.
        let r = unsafe {
            libc::mq_timedreceive(self.mqd, buf.as_mut_ptr().cast(), buf.len(), &mut prio, &ts)
        };
        if r < 0 {
            return Err(last());
        }
        Ok(r as usize)
    }
}

impl Drop for Mq {
    fn drop(&mut self) {
        // SAFETY: `mqd` came from a successful mq_open and is closed once.
        unsafe { libc::mq_close(self.mqd) };
    }
}

/// The real-time signal the bench uses: `SIGRTMIN + 3`.
pub fn bench_signal() -> i32 {
    libc::SIGRTMIN() + 3
}

/// A signal set holding only `sig`.
fn only(sig: i32) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set it is given; a zeroed sigset_t
    // is a valid place for it to do so.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; `sig` is a valid signal number.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
    }
    set
}

/// Blocks `sig` in the calling thread (threads it creates inherit that, and
/// so does an `exec`ed child), so it stays queued for [`wait_signal`].
/// Returns the previous mask, for [`restore_mask`].
pub fn block_signal(sig: i32) -> io::Result<libc::sigset_t> {
    let set = only(sig);
    // SAFETY: as in `only`.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` and `old` are valid sigset_t values that outlive the call.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(old)
}

/// Restores a mask returned by [`block_signal`].
pub fn restore_mask(old: &libc::sigset_t) {
    // SAFETY: `old` is a valid sigset_t; a null old-set pointer is allowed.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

/// `sigqueue(pid, sig, value)`.
pub fn queue_signal(pid: i32, sig: i32, value: u8) -> io::Result<()> {
    let val = libc::sigval {
        sival_ptr: usize::from(value) as *mut libc::c_void,
    };
    // SAFETY: plain values; sigqueue copies the sigval.
    let r = unsafe { libc::sigqueue(pid, sig, val) };
    if r == -1 {
        return Err(last());
    }
    Ok(())
}

/// `sigtimedwait({sig}, &info, timeout)`: the queued value, or `None` on
/// timeout (or an interruption).
pub fn wait_signal(sig: i32, timeout: Duration) -> io::Result<Option<u8>> {
    let set = only(sig);
    // SAFETY: a zeroed siginfo_t is a valid out-parameter.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // SAFETY: `set`, `info` and `ts` are valid and outlive the call.
    let r = unsafe { libc::sigtimedwait(&set, &mut info, &ts) };
    if r == -1 {
        let e = last();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: sigtimedwait filled `info` for a queued signal, so si_value is
    // the sigval its sender passed.
    let value = unsafe { info.si_value() }.sival_ptr as usize;
    Ok(Some(value as u8))
}
