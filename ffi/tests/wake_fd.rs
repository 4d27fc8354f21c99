//! The wake descriptors of the C ABI (`kipc_ring_fd`, `kipc_mbox_fd`),
//! called as a C program would: a timeout-0 try that returns `-KIPC_EAGAIN`
//! has armed the descriptor, and what the other side does next makes it
//! readable. Readiness is checked with `poll(.., 0)` right after the peer's
//! call returns: the peer sends its wake-up before returning, so no timing
//! is involved.
#![cfg(feature = "host")]

use core::ffi::c_int;
use std::os::fd::BorrowedFd;
use std::path::Path;

use kipc_ffi::*;

/// Removes a named object and its wake directory when a test ends, so a
/// failed test leaves nothing in /dev/shm.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/dev/shm/kipc.{}", self.0));
        let _ = std::fs::remove_dir_all(format!("/dev/shm/kipc.{}.wake", self.0));
    }
}

fn readable(fd: c_int) -> bool {
    readable_within(fd, 0)
}

/// Whether `fd` becomes readable within `secs` seconds (bounded, so a
/// failure cannot hang).
fn readable_within(fd: c_int, secs: i64) -> bool {
    // SAFETY: `fd` belongs to a handle that outlives this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let timeout = rustix::event::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&timeout)).unwrap() == 1
}

/// An anonymous ring (`flags`: 0 for SPSC, or `KIPC_RING_MPMC`) of `slots`
/// 16-byte slots, and a second handle on it (through its memfd).
fn ring_pair(slots: u32, flags: u32) -> (*mut kipc_ring, *mut kipc_ring) {
    let mut a = core::ptr::null_mut();
    let mut b = core::ptr::null_mut();
    let mut memfd = -1;
    // SAFETY: out-pointers to locals; handles closed by the caller.
    unsafe {
        assert_eq!(kipc_ring_create_anonymous(slots, 16, flags, &mut a), 0);
        assert_eq!(kipc_ring_memfd(a, &mut memfd), 0);
        assert_eq!(kipc_ring_from_fd(memfd, &mut b), 0);
    }
    (a, b)
}

/// `kipc_ring_send` with timeout 0.
fn send(ring: *mut kipc_ring, msg: &[u8]) -> c_int {
    // SAFETY: a live handle; `msg` readable.
    unsafe { kipc_ring_send(ring, msg.as_ptr().cast(), msg.len(), 0) }
}

/// `kipc_ring_recv` with timeout 0: the code and the message.
fn recv(ring: *mut kipc_ring) -> (c_int, Vec<u8>) {
    let mut buf = [0u8; 16];
    let mut len = 0;
    // SAFETY: a live handle; `buf` and `len` writable.
    let rc = unsafe { kipc_ring_recv(ring, buf.as_mut_ptr().cast(), buf.len(), &mut len, 0) };
    (rc, buf[..if rc == 0 { len } else { 0 }].to_vec())
}

fn ring_fd(ring: *mut kipc_ring) -> c_int {
    let mut fd = -1;
    // SAFETY: a live handle; `fd` writable.
    assert_eq!(unsafe { kipc_ring_fd(ring, &mut fd) }, 0);
    assert!(fd >= 0);
    fd
}

fn close(ring: *mut kipc_ring) {
    // SAFETY: a live handle, not used again.
    assert_eq!(unsafe { kipc_ring_close(ring) }, 0);
}

#[test]
fn ring_fd_becomes_readable_when_a_message_comes_after_eagain() {
    for flags in [0, KIPC_RING_MPMC] {
        ring_fd_wakes_a_receiver(flags);
    }
}

fn ring_fd_wakes_a_receiver(flags: u32) {
    let (rx, tx) = ring_pair(4, flags);
    let fd = ring_fd(rx);
    assert_eq!(ring_fd(rx), fd, "one descriptor per handle");
    assert_eq!(recv(rx).0, -KIPC_EAGAIN);
    assert!(!readable(fd), "nothing sent yet");
    assert_eq!(send(tx, b"one"), 0);
    assert!(readable(fd), "a message after EAGAIN wakes the descriptor");
    assert_eq!(recv(rx), (0, b"one".to_vec()));
    // Still readable (a hint): the loop goes on until EAGAIN, which drains.
    assert_eq!(recv(rx).0, -KIPC_EAGAIN);
    assert!(
        !readable(fd),
        "the EAGAIN that re-armed drained the wake-up"
    );
    // Armed again: the next message wakes it again.
    assert_eq!(send(tx, b"two"), 0);
    assert!(readable(fd));
    assert_eq!(recv(rx), (0, b"two".to_vec()));
    close(tx);
    close(rx);
}

#[test]
fn ring_fd_of_a_sender_becomes_readable_when_room_is_freed() {
    for flags in [0, KIPC_RING_MPMC] {
        ring_fd_wakes_a_sender(flags);
    }
}

fn ring_fd_wakes_a_sender(flags: u32) {
    let (tx, rx) = ring_pair(1, flags);
    let fd = ring_fd(tx);
    assert_eq!(send(tx, b"a"), 0);
    assert_eq!(send(tx, b"b"), -KIPC_EAGAIN);
    assert!(!readable(fd), "the ring is still full");
    assert_eq!(recv(rx), (0, b"a".to_vec()));
    assert!(readable(fd), "a slot freed after EAGAIN wakes the sender");
    assert_eq!(send(tx, b"b"), 0);
    close(tx);
    close(rx);
}

#[test]
fn without_ring_fd_a_try_binds_nothing_and_close_removes_what_fd_bound() {
    let name = format!("ffi-wake-{}", std::process::id());
    let cname = std::ffi::CString::new(name.clone()).unwrap();
    let _cleanup = Cleanup(name.clone());
    let wake_dir = format!("/dev/shm/kipc.{name}.wake");
    let mut rx = core::ptr::null_mut();
    let mut tx = core::ptr::null_mut();
    // SAFETY: NUL-terminated name; out-pointers to locals.
    unsafe {
        assert_eq!(kipc_ring_create(cname.as_ptr(), 4, 16, 0, &mut rx), 0);
        assert_eq!(kipc_ring_open(cname.as_ptr(), &mut tx), 0);
    }
    assert_eq!(recv(rx).0, -KIPC_EAGAIN);
    assert_eq!(send(tx, b"x"), 0);
    assert!(
        !Path::new(&wake_dir).exists(),
        "a handle without a descriptor makes no system call to wait"
    );
    let fd = ring_fd(rx);
    assert_eq!(recv(rx), (0, b"x".to_vec()));
    assert!(
        !Path::new(&wake_dir).exists(),
        "a try that succeeds binds nothing"
    );
    assert_eq!(recv(rx).0, -KIPC_EAGAIN);
    let entries: Vec<String> = std::fs::read_dir(&wake_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        entries.len() == 1 && entries[0].starts_with("c-"),
        "one consumer socket, no producer one: {entries:?}"
    );
    assert_eq!(send(tx, b"y"), 0);
    assert!(readable(fd));
    close(rx);
    assert!(
        !Path::new(&wake_dir).exists(),
        "closing the handle closed its sockets"
    );
    close(tx);
    // SAFETY: NUL-terminated name.
    assert_eq!(unsafe { kipc_ring_unlink(cname.as_ptr()) }, 0);
}

/// A new named mailbox (the C ABI has no anonymous one) and its name.
fn mailbox(tag: &str, slots: u32) -> (Cleanup, std::ffi::CString, *mut kipc_mailbox) {
    let plain = format!("ffi-wake-{tag}-{}", std::process::id());
    let name = std::ffi::CString::new(plain.clone()).unwrap();
    let mut mb = core::ptr::null_mut();
    // SAFETY: NUL-terminated name; out-pointer to a local.
    let rc = unsafe { kipc_mbox_create(name.as_ptr(), slots, 16, 0, &mut mb) };
    assert_eq!(rc, 0);
    (Cleanup(plain), name, mb)
}

fn mbox_open(name: &std::ffi::CStr) -> *mut kipc_mailbox {
    let mut mb = core::ptr::null_mut();
    // SAFETY: NUL-terminated name; out-pointer to a local.
    assert_eq!(unsafe { kipc_mbox_open(name.as_ptr(), &mut mb) }, 0);
    mb
}

fn mbox_send(mb: *mut kipc_mailbox, msg: &[u8], prio: u32) -> c_int {
    // SAFETY: a live handle; `msg` readable.
    unsafe { kipc_mbox_send(mb, msg.as_ptr().cast(), msg.len(), prio, 0, 0) }
}

fn mbox_recv(mb: *mut kipc_mailbox) -> (c_int, Vec<u8>) {
    let mut buf = [0u8; 16];
    let mut len = 0;
    // SAFETY: a live handle; `buf` and `len` writable; the others NULL.
    let rc = unsafe {
        kipc_mbox_recv(
            mb,
            KIPC_MBOX_ANY,
            0,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut len,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            0,
        )
    };
    (rc, buf[..if rc == 0 { len } else { 0 }].to_vec())
}

fn mbox_fd(mb: *mut kipc_mailbox) -> c_int {
    let mut fd = -1;
    // SAFETY: a live handle; `fd` writable.
    assert_eq!(unsafe { kipc_mbox_fd(mb, &mut fd) }, 0);
    assert!(fd >= 0);
    fd
}

fn mbox_close(name: &std::ffi::CStr, handles: &[*mut kipc_mailbox]) {
    for &mb in handles {
        // SAFETY: live handles, not used again.
        assert_eq!(unsafe { kipc_mbox_close(mb) }, 0);
    }
    // SAFETY: NUL-terminated name.
    assert_eq!(unsafe { kipc_mbox_unlink(name.as_ptr()) }, 0);
}

#[test]
fn mbox_fd_wakes_a_receiver_and_a_sender_after_eagain() {
    let (_cleanup, name, rx) = mailbox("rx", 1);
    let tx = mbox_open(&name);
    let rfd = mbox_fd(rx);
    let tfd = mbox_fd(tx);
    assert_eq!(mbox_fd(rx), rfd, "one descriptor per handle");
    assert_eq!(mbox_recv(rx).0, -KIPC_EAGAIN);
    assert!(!readable(rfd));
    assert_eq!(mbox_send(tx, b"hi", 3), 0);
    assert!(readable(rfd), "a message after EAGAIN wakes the receiver");
    assert_eq!(mbox_send(tx, b"again", 3), -KIPC_EAGAIN, "one slot");
    assert!(!readable(tfd), "still full");
    assert_eq!(mbox_recv(rx), (0, b"hi".to_vec()));
    assert!(readable(tfd), "a slot freed after EAGAIN wakes the sender");
    assert_eq!(mbox_recv(rx).0, -KIPC_EAGAIN);
    assert!(!readable(rfd), "the re-arming EAGAIN drained the wake-up");
    assert_eq!(mbox_send(tx, b"again", 3), 0);
    assert!(readable(rfd));
    mbox_close(&name, &[rx, tx]);
}

#[test]
fn mbox_fd_is_shared_by_threads_and_every_message_is_taken_once() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    const N: u32 = 200;
    const STOP: u32 = u32::MAX;
    let (_cleanup, name, rx) = mailbox("threads", 4);
    let tx = mbox_open(&name);
    let fd = mbox_fd(rx);
    struct Handle(*mut kipc_mailbox);
    // SAFETY: kipc_mailbox handles are thread-safe (kipc.h).
    unsafe impl Send for Handle {}
    // SAFETY: as above.
    unsafe impl Sync for Handle {}
    // Stops the workers when the test ends, failed or not.
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let h = Arc::new(Handle(rx));
    let stop = Stop(Arc::new(AtomicBool::new(false)));
    let got = Arc::new(Mutex::new(Vec::new()));
    // Two threads on one handle, each in the loop "try until EAGAIN, then
    // poll the shared descriptor"; the main thread sends N messages
    // through 4 slots, then one STOP per thread. Together they must take
    // each message exactly once, and no poll may sleep through a message:
    // the sender never pauses, so a poll still waiting after 10 s has lost
    // a wake-up (that bound only keeps a failure from hanging the test).
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (h, stop, got) = (h.clone(), stop.0.clone(), got.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match mbox_recv(h.0) {
                        (0, m) if m == STOP.to_le_bytes() => return Ok(()),
                        (0, m) => got
                            .lock()
                            .unwrap()
                            .push(u32::from_le_bytes(m.try_into().unwrap())),
                        (rc, _) if rc == -KIPC_EAGAIN => {
                            // SAFETY: the handle's descriptor, alive until
                            // the handle is closed after the join.
                            let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
                            let mut fds = [rustix::event::PollFd::new(
                                &bfd,
                                rustix::event::PollFlags::IN,
                            )];
                            let t = rustix::event::Timespec {
                                tv_sec: 10,
                                tv_nsec: 0,
                            };
                            if rustix::event::poll(&mut fds, Some(&t)).unwrap() == 0 {
                                return Err("no wake-up within 10 s: a lost wake-up");
                            }
                        }
                        (rc, _) => panic!("recv: {rc}"),
                    }
                }
                Err("stopped")
            })
        })
        .collect();
    for i in (0..N).chain([STOP, STOP]) {
        let msg = i.to_le_bytes();
        // SAFETY: a live handle; the message is readable.
        let rc = unsafe { kipc_mbox_send(tx, msg.as_ptr().cast(), 4, 0, 0, 5_000_000_000) };
        assert_eq!(rc, 0, "send {i}");
    }
    for w in workers {
        assert_eq!(w.join().unwrap(), Ok(()));
    }
    drop(stop);
    let mut all = got.lock().unwrap().clone();
    all.sort_unstable();
    assert_eq!(all, (0..N).collect::<Vec<_>>(), "each message once");
    mbox_close(&name, &[rx, tx]);
}

/// `kipc_signals_fd` in a level-triggered loop: once `kipc_signals_wait`
/// with timeout 0 has taken every signal and said `-KIPC_EAGAIN`, the
/// descriptor is no longer readable (else epoll would spin), and the next
/// signal makes it readable again.
#[test]
fn signals_fd_is_quiet_after_eagain_and_wakes_for_the_next_signal() {
    let sig = 12; // SIGUSR2
    let mut sigs = core::ptr::null_mut();
    // SAFETY: out-pointer to a local.
    let rc = unsafe { kipc_signals_open(1u64 << (sig - 1), &mut sigs) };
    assert_eq!(rc, 0);
    let mut fd = -1;
    // SAFETY: a live handle; `fd` writable.
    assert_eq!(unsafe { kipc_signals_fd(sigs, &mut fd) }, 0);
    let take = || {
        let mut info = kipc_siginfo_t {
            signo: 0,
            code: 0,
            pid: 0,
            uid: 0,
            value: 0,
        };
        // SAFETY: a live handle used by this thread only; `info` writable.
        let rc = unsafe { kipc_signals_wait(sigs, 0, &mut info) };
        (rc, info.value)
    };
    // The handle's descriptor stays alive until the close below.
    let wait_readable = || readable_within(fd, 10);
    let me = std::process::id() as i32;
    for value in [5u64, 6] {
        assert_eq!(kipc_signals_send(me, sig, value), 0);
        assert!(wait_readable(), "a signal makes the descriptor readable");
        assert_eq!(take(), (0, value));
        assert_eq!(take().0, -KIPC_EAGAIN);
        assert!(
            !readable(fd),
            "after EAGAIN the descriptor is quiet (a level-triggered loop would spin)"
        );
    }
    // SAFETY: a live handle, not used again.
    assert_eq!(unsafe { kipc_signals_close(sigs) }, 0);
}
