//! Core level: a mailbox (message queue with priorities and SysV-style type
//! selection) over memory the caller owns (`kipc_core::mailbox::Region`).
//! Any number of senders and receivers, in one program or in several sharing
//! the memory; lock-free, and a party that dies mid-operation is undone by
//! [`kipc_mbox_recover`]. No OS, no heap.
//!
//! Usage: [`kipc_mbox_region_size`], [`kipc_mbox_init`] (once, by the
//! creator), then [`kipc_mbox_attach`] a handle in each program (or thread)
//! that uses it. Each send and receive passes a nonzero owner id (a host
//! passes its pid, firmware any distinct number) that recovery asks about.

use core::ffi::{c_int, c_void};
use core::mem::{align_of, size_of};
use core::ptr::addr_of_mut;

use kipc_core::mailbox::{region_size, Geometry, Region, Selector};

use crate::boundary::{bytes, bytes_mut, check_ptr, guard, put, seal, unseal, validate, Slot};
use crate::doorbell::kipc_doorbells_t;
use crate::error::{Code, KIPC_EINVAL};

/// Highest message priority; 0 is the lowest. Receives take the highest
/// priority first, FIFO within a priority.
pub const KIPC_MBOX_PRIO_MAX: u32 = 255;
/// Largest slot count of a mailbox.
pub const KIPC_MBOX_MAX_SLOTS: u32 = 65536;
/// Largest message of a mailbox in bytes (16 MiB).
pub const KIPC_MBOX_MAX_MSG: u32 = 16777216;

/// Receive selector: any message, highest priority first, then oldest
/// (POSIX `mq_receive`; SysV `msgrcv` with `msgtyp == 0`). The type
/// argument is ignored.
pub const KIPC_MBOX_ANY: u32 = 0;
/// Receive selector: only messages whose type equals the type argument, in
/// priority then FIFO order (`msgrcv` with `msgtyp > 0`).
pub const KIPC_MBOX_EXACT: u32 = 1;
/// Receive selector: messages whose type is at most the type argument,
/// lowest type first, then priority, then FIFO (`msgrcv` with
/// `msgtyp < 0`, type argument `-msgtyp`).
pub const KIPC_MBOX_LOWEST_AT_MOST: u32 = 2;

/// Storage for a mailbox handle. Declare one (static, global or on the
/// stack), pass its address to `kipc_mbox_attach`, treat it as opaque.
///
/// Thread safety: once attached, any number of threads (and interrupt
/// contexts) may send, receive, recover and query through one handle at
/// the same time; only attach and detach need the handle to themselves. The
/// storage holds no pointer into itself and may be moved with `memcpy`.
#[repr(C)]
#[derive(Debug)]
pub struct kipc_mbox_t {
    opaque: [u64; 16],
}

/// Check-word magic ("mbox").
const MAGIC: usize = 0x4d42_4f58_u32 as usize;

const _: () = {
    assert!(KIPC_MBOX_MAX_SLOTS == kipc_core::mailbox::MAX_SLOTS);
    assert!(KIPC_MBOX_MAX_MSG == kipc_core::mailbox::MAX_MSG);
    assert!(size_of::<Slot<Region>>() <= size_of::<kipc_mbox_t>());
    assert!(align_of::<Slot<Region>>() <= align_of::<kipc_mbox_t>());
};

/// Bytes of memory a mailbox of `slots` slots (1..=`KIPC_MBOX_MAX_SLOTS`,
/// any number) of up to `max_msg` bytes (1..=`KIPC_MBOX_MAX_MSG`) needs;
/// written to `*out`.
///
/// Returns 0, `-KIPC_EINVAL` (geometry) or `-KIPC_EFAULT`. Thread-safe.
///
/// # Safety
///
/// `out` is NULL or points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_region_size(slots: u32, max_msg: u32, out: *mut usize) -> c_int {
    guard(|| {
        check_ptr(out)?;
        let n = region_size(slots, max_msg)?;
        // SAFETY: checked above; writable by the C caller's promise.
        unsafe { put(out, n) };
        Ok(())
    })
}

/// Lays a fresh, empty mailbox over `len` bytes at `mem` (128-byte aligned,
/// at least `kipc_mbox_region_size` bytes) and publishes it.
/// `byte_budget` limits the payload bytes queued at once (as `msg_qbytes`);
/// 0 means no limit beyond `slots * max_msg`.
///
/// Returns 0; `-KIPC_EFAULT` (`mem` NULL or misaligned), `-KIPC_EINVAL`
/// (geometry, or a budget above `slots * max_msg`), `-KIPC_ENOBUFS`.
/// Keeps no pointer: attach handles afterwards.
///
/// # Safety
///
/// As `kipc_spsc_init`.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_init(
    mem: *mut c_void,
    len: usize,
    slots: u32,
    max_msg: u32,
    byte_budget: u64,
) -> c_int {
    guard(|| {
        if mem.is_null() {
            return Err(Code::FAULT);
        }
        let mut geometry = Geometry::new(slots, max_msg);
        if byte_budget != 0 {
            geometry = geometry.with_byte_budget(byte_budget);
        }
        // SAFETY: the C caller promises `len` writable bytes and exclusive
        // access; core checks alignment, size and geometry. The Region value
        // holds no resources and is dropped at once.
        unsafe { Region::init(mem.cast(), len, geometry) }?;
        Ok(())
    })
}

/// Attaches the handle `mb` to the mailbox at `mem` (`len` bytes), checking
/// every header field.
///
/// Returns 0; `-KIPC_EFAULT`, `-KIPC_EAGAIN` (not initialised yet: retry),
/// `-KIPC_EPROTO` (not a mailbox of this layout version), `-KIPC_ENOBUFS`
/// (`len` smaller than the recorded layout). On error `mb` is left as it was.
///
/// # Safety
///
/// `mb` is NULL or points to writable `kipc_mbox_t` storage that is not
/// attached and not in use by another thread. `mem` is NULL or readable and
/// writable for `len` bytes until `mb` is detached; other programs may write
/// those bytes concurrently, this one only through kipc.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_attach(
    mb: *mut kipc_mbox_t,
    mem: *mut c_void,
    len: usize,
) -> c_int {
    guard(|| {
        check_ptr(mb)?;
        if mem.is_null() {
            return Err(Code::FAULT);
        }
        // SAFETY: the C caller promises `mem` is valid for `len` bytes.
        unsafe { crate::doorbell::check_waitable(mem.cast(), len) }?;
        // SAFETY: the C caller promises `mem` stays valid until detach.
        let region = unsafe { Region::attach(mem.cast(), len) }?;
        let slot = mb.cast::<Slot<Region>>();
        // SAFETY: checked, writable storage, large and aligned enough (static
        // assertions); the old bytes are not read.
        unsafe { addr_of_mut!((*slot).value).write(region) };
        // SAFETY: the value is initialised.
        unsafe { seal(slot, MAGIC) };
        Ok(())
    })
}

/// The attached mailbox behind `mb`. Shared: every operation but attach and
/// detach takes `&Region`, which is `Sync`.
///
/// # Safety
///
/// `mb` is NULL or points to `kipc_mbox_t` storage that no thread detaches
/// or attaches during `'a`.
unsafe fn region<'a>(mb: *const kipc_mbox_t) -> Result<&'a Region, Code> {
    // SAFETY: storage size and alignment are asserted above.
    let slot = unsafe { validate::<_, Region>(mb, MAGIC) }?;
    // SAFETY: validated as attached; only shared references are made.
    Ok(unsafe { &(*slot).value })
}

/// Detaches the handle; the storage may then be reused. The mailbox memory
/// and its messages are untouched.
///
/// Returns 0, `-KIPC_EFAULT` or `-KIPC_EBADF`.
///
/// # Safety
///
/// `mb` is NULL or points to `kipc_mbox_t` storage that no other thread is
/// using.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_detach(mb: *mut kipc_mbox_t) -> c_int {
    guard(|| {
        // SAFETY: storage size and alignment are asserted above.
        let slot = unsafe { validate::<_, Region>(mb, MAGIC) }?;
        // SAFETY: attached, and no reference into it is alive (caller).
        unsafe { unseal(slot) };
        Ok(())
    })
}

/// A nonzero owner id.
fn owner_id(owner: u32) -> Result<u32, Code> {
    if owner == 0 {
        return Err(Code(-KIPC_EINVAL));
    }
    Ok(owner)
}

/// Sends the `len` bytes at `msg` with priority `prio` (0..=255) and type
/// `mtype`, as `owner` (nonzero), if a slot is free. Lock-free.
///
/// Returns 0; `-KIPC_EAGAIN` (no free slot, or the byte budget is used up),
/// `-KIPC_EMSGSIZE` (longer than `max_msg` or the budget), `-KIPC_EINVAL`
/// (`prio` above 255, `owner` 0), `-KIPC_EBADMSG` (recovery took the slot
/// while we wrote it: `owner` was wrongly reported dead), `-KIPC_EFAULT`,
/// `-KIPC_EBADF`. Wakes nobody: ring the `not_empty` doorbell afterwards.
///
/// # Safety
///
/// `mb` as for `region`: NULL or attached storage not being detached; `msg`
/// readable for `len` bytes when `len > 0`.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_try_send(
    mb: *const kipc_mbox_t,
    msg: *const c_void,
    len: usize,
    prio: u32,
    mtype: u64,
    owner: u32,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `mb`.
        let r = unsafe { region(mb) }?;
        let prio = u8::try_from(prio).map_err(|_| Code(-KIPC_EINVAL))?;
        let owner = owner_id(owner)?;
        if len > r.max_msg() {
            return Err(Code::MSGSIZE);
        }
        // SAFETY: readable for `len` bytes (caller).
        let msg = unsafe { bytes(msg.cast(), len) }?;
        r.try_send(msg, prio, mtype, owner)?;
        Ok(())
    })
}

/// The receive selector from its C form.
fn selector(kind: u32, mtype: u64) -> Result<Selector, Code> {
    match kind {
        KIPC_MBOX_ANY => Ok(Selector::Any),
        KIPC_MBOX_EXACT => Ok(Selector::Exact(mtype)),
        KIPC_MBOX_LOWEST_AT_MOST => Ok(Selector::LowestAtMost(mtype)),
        _ => Err(Code(-KIPC_EINVAL)),
    }
}

/// Receives the first message the selector accepts (`selector_kind`, one of
/// `KIPC_MBOX_ANY`, `KIPC_MBOX_EXACT`, `KIPC_MBOX_LOWEST_AT_MOST`, with
/// `mtype` as its argument) into `buf` (`cap` bytes), as `owner` (nonzero).
/// Writes the length to `*len` and, where not NULL, the priority to
/// `*prio_out` and the type to `*mtype_out`. Lock-free; costs a scan of
/// every slot.
///
/// Returns 0; `-KIPC_EAGAIN` (nothing matches), `-KIPC_EMSGSIZE` (`*len` =
/// the needed size; the message stays queued), `-KIPC_EINVAL` (selector,
/// `owner` 0), `-KIPC_EBADMSG` (a peer wrote an impossible length or
/// priority, or recovery took the message while we copied it),
/// `-KIPC_EFAULT`, `-KIPC_EBADF`. Wakes nobody: ring `not_full` afterwards.
///
/// # Safety
///
/// `mb` as for `kipc_mbox_try_send`; `buf` writable for `cap` bytes when
/// `cap > 0`; `len` writable; `prio_out` and `mtype_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_try_recv(
    mb: *const kipc_mbox_t,
    selector_kind: u32,
    mtype: u64,
    owner: u32,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    prio_out: *mut u32,
    mtype_out: *mut u64,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `mb`.
        let r = unsafe { region(mb) }?;
        check_ptr(len)?;
        if !prio_out.is_null() {
            check_ptr(prio_out)?;
        }
        if !mtype_out.is_null() {
            check_ptr(mtype_out)?;
        }
        let sel = selector(selector_kind, mtype)?;
        let owner = owner_id(owner)?;
        let cap = cap.min(r.max_msg());
        // SAFETY: writable for `cap` bytes (caller).
        let buf = unsafe { bytes_mut(buf.cast(), cap) }?;
        let got = match r.try_recv(sel, owner, buf) {
            Ok(got) => got,
            Err(kipc_core::Error::TooLarge { len: n, .. }) => {
                // SAFETY: checked above.
                unsafe { put(len, n) };
                return Err(Code::MSGSIZE);
            }
            Err(e) => return Err(e.into()),
        };
        // SAFETY: all checked above (the optional ones when non-NULL).
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

/// Asks whether owner `owner` is dead: nonzero means it will never touch
/// the mailbox again. `ctx` is what the caller passed to `kipc_mbox_recover`.
pub type kipc_mbox_is_dead_fn = Option<unsafe extern "C" fn(owner: u32, ctx: *mut c_void) -> c_int>;

/// Undoes the half-done steps of dead owners: calls `is_dead(owner, ctx)`
/// for the owner of each slot being written or read, frees slots whose
/// sender died mid-send and re-queues messages whose receiver died
/// mid-receive (at-least-once delivery). Writes the number of slots changed
/// to `*recovered` (if not NULL); if nonzero, ring both doorbells.
///
/// `is_dead` must report an owner dead only if it will never touch the
/// mailbox again (a pidfd said so, a core was reset, ...). It runs on the
/// calling thread, may be called several times per owner, and must not
/// unwind (C++ exceptions) through kipc.
///
/// Returns 0, `-KIPC_EFAULT` (`is_dead` NULL, `recovered` misaligned),
/// `-KIPC_EBADF`.
///
/// # Safety
///
/// `mb` as for `kipc_mbox_try_send`; `is_dead` is NULL or a function that is
/// safe to call with `ctx`; `recovered` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_recover(
    mb: *const kipc_mbox_t,
    is_dead: kipc_mbox_is_dead_fn,
    ctx: *mut c_void,
    recovered: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `mb`.
        let r = unsafe { region(mb) }?;
        let Some(is_dead) = is_dead else {
            return Err(Code::FAULT);
        };
        if !recovered.is_null() {
            check_ptr(recovered)?;
        }
        // SAFETY: the C caller promises `is_dead` may be called with `ctx`.
        let n = r.recover(|owner| unsafe { is_dead(owner, ctx) } != 0);
        if !recovered.is_null() {
            // SAFETY: checked above.
            unsafe { put(recovered, n) };
        }
        Ok(())
    })
}

/// Writes the number of messages ready to receive to `*out` (a snapshot).
///
/// # Safety
///
/// `mb` as for `kipc_mbox_try_send`; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_len(mb: *const kipc_mbox_t, out: *mut usize) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `mb`.
        let r = unsafe { region(mb) }?;
        check_ptr(out)?;
        // SAFETY: checked above.
        unsafe { put(out, r.len()) };
        Ok(())
    })
}

/// Writes the mailbox's slot count and largest message size to `*slots` and
/// `*max_msg` (either may be NULL).
///
/// # Safety
///
/// `mb` as for `kipc_mbox_try_send`; `slots`, `max_msg` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_capacity(
    mb: *const kipc_mbox_t,
    slots: *mut u32,
    max_msg: *mut u32,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `mb`.
        let r = unsafe { region(mb) }?;
        let g = r.geometry();
        if !slots.is_null() {
            check_ptr(slots)?;
        }
        if !max_msg.is_null() {
            check_ptr(max_msg)?;
        }
        // SAFETY: checked above when non-NULL.
        unsafe {
            if !slots.is_null() {
                put(slots, g.slots);
            }
            if !max_msg.is_null() {
                put(max_msg, g.max_msg);
            }
        }
        Ok(())
    })
}

/// Writes the mailbox's doorbell words to `*out`: receivers sleep on
/// `not_empty` (senders ring it), senders on `not_full` (receivers ring it).
/// See `kipc_doorbell_ring`.
///
/// # Safety
///
/// `mb` as for `kipc_mbox_try_send`; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mbox_doorbells(
    mb: *const kipc_mbox_t,
    out: *mut kipc_doorbells_t,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `mb`.
        let r = unsafe { region(mb) }?;
        check_ptr(out)?;
        // SAFETY: checked above.
        unsafe { put(out, kipc_doorbells_t::new(r.not_empty(), r.not_full())) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{KIPC_EAGAIN, KIPC_EBADF, KIPC_EFAULT, KIPC_EMSGSIZE};

    #[repr(C, align(128))]
    struct Mem([u8; 4096]);

    unsafe extern "C" fn dead_if_7(owner: u32, _: *mut c_void) -> c_int {
        c_int::from(owner == 7)
    }

    #[test]
    fn priorities_types_and_recovery_through_the_c_abi() {
        let mut mem = Mem([0; 4096]);
        let base = mem.0.as_mut_ptr().cast::<c_void>();
        let mut mb = kipc_mbox_t { opaque: [0; 16] };
        // SAFETY: `mem` and `mb` outlive every use below; one thread.
        unsafe {
            assert_eq!(kipc_mbox_init(base, 4096, 4, 16, 0), 0);
            assert_eq!(kipc_mbox_attach(&mut mb, base, 4096), 0);
            assert_eq!(
                kipc_mbox_try_send(&mb, b"lo".as_ptr().cast(), 2, 1, 5, 1),
                0
            );
            assert_eq!(
                kipc_mbox_try_send(&mb, b"hi".as_ptr().cast(), 2, 9, 6, 1),
                0
            );
            assert_eq!(
                kipc_mbox_try_send(&mb, b"x".as_ptr().cast(), 1, 256, 0, 1),
                -KIPC_EINVAL
            );
            let (mut buf, mut len, mut prio, mut ty) = ([0u8; 16], 0usize, 0u32, 0u64);
            let p = buf.as_mut_ptr().cast();
            assert_eq!(
                kipc_mbox_try_recv(&mb, 0, 0, 2, p, 1, &mut len, &mut prio, &mut ty),
                -KIPC_EMSGSIZE
            );
            assert_eq!(len, 2);
            assert_eq!(
                kipc_mbox_try_recv(&mb, 1, 5, 2, p, 16, &mut len, &mut prio, &mut ty),
                0
            );
            assert_eq!((&buf[..len], prio, ty), (&b"lo"[..], 1, 5));
            let (null, np, nt) = (
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
            );
            assert_eq!(kipc_mbox_try_recv(&mb, 0, 0, 2, p, 16, &mut len, np, nt), 0);
            assert_eq!(&buf[..len], b"hi");
            assert_eq!(
                kipc_mbox_try_recv(&mb, 0, 0, 2, p, 16, &mut len, np, nt),
                -KIPC_EAGAIN
            );
            // A sender (owner 7) died mid-send.
            let r = region(&mb).unwrap();
            core::mem::forget(r.begin_send(3, 7).unwrap());
            let mut n = 99;
            assert_eq!(kipc_mbox_recover(&mb, None, null, &mut n), -KIPC_EFAULT);
            assert_eq!(kipc_mbox_recover(&mb, Some(dead_if_7), null, &mut n), 0);
            assert_eq!(n, 1);
            assert_eq!(kipc_mbox_detach(&mut mb), 0);
            assert_eq!(kipc_mbox_len(&mb, &mut n), -KIPC_EBADF);
        }
    }
}
