//! Host level (feature `host`): typed rings, the C side of
//! `kipc_host::typed`.
//!
//! A typed ring records what one message is in its header: a size, an
//! alignment and a 64-bit fingerprint the creator chooses. The slot size is
//! the message size. [`kipc_ring_open_typed`] refuses a ring that records
//! anything else (or nothing) with `-KIPC_ETYPE`, so a C program cannot
//! attach with the wrong struct and reinterpret its bytes. Send and receive
//! with the byte functions (`kipc_ring_send(ring, &msg, sizeof msg, ...)`).
//!
//! To talk to a Rust peer, use the fingerprint the Rust type declares
//! (`impl Message for T { fn fingerprint() -> u64 { CONSTANT } }`) and the
//! same `sizeof`/`_Alignof`; Rust's default fingerprint hashes the type's
//! Rust name, which C cannot reproduce.

use core::ffi::{c_char, c_int};

use kipc_host::ring::{ShmRing, TypeTag};

use crate::boundary::{check_ptr, guard, put};
use crate::error::{Code, KIPC_EINVAL, KIPC_ETYPE};
use crate::ring::{config, handle, host_code, kipc_ring, name};

/// The tag for `size`, `align` and `fingerprint`: size 0 is refused (it means
/// "untyped").
fn tag(size: u32, align: u32, fingerprint: u64) -> Result<TypeTag, Code> {
    let tag = TypeTag::new(size, align, fingerprint);
    if !tag.is_typed() || tag.check(size).is_err() {
        return Err(Code(-KIPC_EINVAL));
    }
    Ok(tag)
}

/// Creates the named ring `name` as `kipc_ring_create` does, for messages of
/// `elem_size` bytes (`sizeof` your struct; the slot size), alignment
/// `elem_align` (`_Alignof`, a power of two up to 4096) and type
/// fingerprint `fingerprint` (any 64-bit value you choose for the type;
/// change it when the struct changes), recorded in the header for
/// [`kipc_ring_open_typed`] to check. `flags` as for `kipc_ring_create`.
///
/// Returns 0; `-KIPC_EINVAL` (bad name, geometry, flags, a zero size or a
/// bad alignment), `-KIPC_EEXIST`, other negative errnos, `-KIPC_EFAULT`.
///
/// # Safety
///
/// `name` is NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_create_typed(
    name: *const c_char,
    slots: u32,
    elem_size: u32,
    elem_align: u32,
    fingerprint: u64,
    flags: u32,
    out: *mut *mut kipc_ring,
) -> c_int {
    guard(|| {
        check_ptr(out)?;
        // SAFETY: the C caller's promise.
        let name = unsafe { self::name(name) }?;
        let mut config = config(slots, elem_size, flags)?;
        config.message_type = tag(elem_size, elem_align, fingerprint)?;
        let ring = ShmRing::create(name, config).map_err(host_code)?;
        // SAFETY: checked above.
        unsafe { put(out, Box::into_raw(kipc_ring::new(ring))) };
        Ok(())
    })
}

/// Opens the named ring `name` as `kipc_ring_open` does, and checks that its
/// header records exactly `elem_size`, `elem_align` and `fingerprint`.
///
/// Returns 0; `-KIPC_ETYPE` (another type, or an untyped ring: nothing is
/// opened); as `kipc_ring_open` otherwise (`-KIPC_EINVAL` also for a zero
/// size or a bad alignment).
///
/// # Safety
///
/// As `kipc_ring_create_typed`.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_open_typed(
    name: *const c_char,
    elem_size: u32,
    elem_align: u32,
    fingerprint: u64,
    out: *mut *mut kipc_ring,
) -> c_int {
    guard(|| {
        check_ptr(out)?;
        let expected = tag(elem_size, elem_align, fingerprint)?;
        // SAFETY: the C caller's promise.
        let name = unsafe { self::name(name) }?;
        let ring = ShmRing::open(name).map_err(host_code)?;
        if ring.message_type() != expected {
            return Err(Code(-KIPC_ETYPE));
        }
        // SAFETY: checked above.
        unsafe { put(out, Box::into_raw(kipc_ring::new(ring))) };
        Ok(())
    })
}

/// Writes the message type `ring`'s header recorded when this handle opened
/// it: its size, alignment and fingerprint (all 0 for an untyped ring). Any
/// out-pointer may be NULL to skip it.
///
/// Returns 0 or `-KIPC_EFAULT` (NULL or misaligned `ring` or out-pointer).
///
/// # Safety
///
/// `ring` is NULL or a live handle used by no other thread meanwhile; each
/// out-pointer is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_ring_message_type(
    ring: *mut kipc_ring,
    elem_size: *mut u32,
    elem_align: *mut u32,
    fingerprint: *mut u64,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise.
        let t = unsafe { handle(ring) }?.shm().message_type();
        if !elem_size.is_null() {
            check_ptr(elem_size)?;
            // SAFETY: non-NULL and checked aligned; writable (caller).
            unsafe { put(elem_size, t.size) };
        }
        if !elem_align.is_null() {
            check_ptr(elem_align)?;
            // SAFETY: as above.
            unsafe { put(elem_align, t.align) };
        }
        if !fingerprint.is_null() {
            check_ptr(fingerprint)?;
            // SAFETY: as above.
            unsafe { put(fingerprint, t.fingerprint) };
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{kipc_ring_close, kipc_ring_recv, kipc_ring_send, kipc_ring_unlink};
    use core::ffi::c_void;
    use std::ffi::CString;
    use std::ptr;

    struct Unlink(CString);
    impl Drop for Unlink {
        fn drop(&mut self) {
            // SAFETY: a NUL-terminated name.
            unsafe { kipc_ring_unlink(self.0.as_ptr()) };
        }
    }

    #[test]
    fn typed_ring_is_checked_at_open_and_carries_bytes() {
        let name = CString::new(format!("ffi-typed-{}", std::process::id())).unwrap();
        let _unlink = Unlink(name.clone());
        let mut a: *mut kipc_ring = ptr::null_mut();
        let mut b: *mut kipc_ring = ptr::null_mut();
        // SAFETY: valid name and out-pointers throughout.
        unsafe {
            assert_eq!(
                kipc_ring_create_typed(name.as_ptr(), 4, 0, 8, 1, 0, &mut a),
                -KIPC_EINVAL
            );
            assert_eq!(
                kipc_ring_create_typed(name.as_ptr(), 4, 16, 3, 1, 0, &mut a),
                -KIPC_EINVAL
            );
            assert_eq!(
                kipc_ring_create_typed(name.as_ptr(), 4, 16, 8, 0xfeed, 0, &mut a),
                0
            );
            for (size, align, fp) in [(16, 8, 0xfeee), (8, 8, 0xfeed), (16, 4, 0xfeed)] {
                assert_eq!(
                    kipc_ring_open_typed(name.as_ptr(), size, align, fp, &mut b),
                    -KIPC_ETYPE,
                    "{size} {align} {fp:#x}"
                );
            }
            assert!(b.is_null());
            assert_eq!(
                kipc_ring_open_typed(name.as_ptr(), 16, 8, 0xfeed, &mut b),
                0
            );
            let (mut size, mut align, mut fp) = (0u32, 0u32, 0u64);
            assert_eq!(kipc_ring_message_type(b, &mut size, &mut align, &mut fp), 0);
            assert_eq!((size, align, fp), (16, 8, 0xfeed));
            let msg = [7u8; 16];
            assert_eq!(kipc_ring_send(a, msg.as_ptr().cast::<c_void>(), 16, 0), 0);
            let (mut buf, mut len) = ([0u8; 32], 0usize);
            assert_eq!(
                kipc_ring_recv(b, buf.as_mut_ptr().cast::<c_void>(), 32, &mut len, 0),
                0
            );
            assert_eq!((len, buf[15]), (16, 7));
            assert_eq!(kipc_ring_close(a), 0);
            assert_eq!(kipc_ring_close(b), 0);
        }
    }
}
