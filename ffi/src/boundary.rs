//! What every extern function does at the boundary: run its body so that no
//! panic escapes, check the pointers it was given, and find the Rust value
//! inside caller-provided handle storage.
//!
//! # Handle storage
//!
//! A handle type (`kipc_spsc_producer_t`, ...) is an array of `u64`s the C
//! caller owns. Attaching writes a [`Slot`] over it: a check word, then the
//! Rust value. The check word is `magic ^ CHECK_KEY`, so:
//!
//! - zeroed storage, or storage after detach, has a check of 0: `-EBADF`;
//! - storage of another handle type has another magic: `-EBADF`.
//!
//! No value kept in handle storage points into the storage itself (the core
//! handles own a copy of their region), so attached storage may be moved
//! bytewise by C code: the check word does not depend on the address.
//!
//! Storage that was never zeroed may match by chance; the header says using
//! it is undefined, as in C.

use core::ffi::c_int;
use core::mem::align_of;
use core::ptr::{self, addr_of, addr_of_mut};

use crate::error::Code;
#[cfg(feature = "host")]
use crate::error::KIPC_ENOTRECOVERABLE;

/// Runs an extern function's body; `Ok` becomes 0, `Err` its negative code.
///
/// With `host` (std), a panic is caught and becomes `-KIPC_ENOTRECOVERABLE`.
/// Without std nothing can catch it, so bodies are written not to panic.
#[inline]
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Code>) -> c_int {
    #[cfg(feature = "host")]
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .unwrap_or(Err(Code(-KIPC_ENOTRECOVERABLE)));
    #[cfg(not(feature = "host"))]
    let result = body();
    match result {
        Ok(()) => 0,
        Err(Code(c)) => c,
    }
}

/// Checks that `p` is non-NULL and aligned for `T`.
#[inline]
pub(crate) fn check_ptr<T>(p: *const T) -> Result<(), Code> {
    if p.is_null() || (p as usize) % align_of::<T>() != 0 {
        return Err(Code::FAULT);
    }
    Ok(())
}

/// Writes `value` through an out-pointer checked with [`check_ptr`].
///
/// # Safety
///
/// `p` passed [`check_ptr`] and points to memory writable as a `T`.
#[inline]
pub(crate) unsafe fn put<T>(p: *mut T, value: T) {
    // SAFETY: the caller checked alignment and non-NULL; the C caller promised
    // the pointee is writable.
    unsafe { p.write(value) }
}

/// The layout written over handle storage. See the module documentation.
#[repr(C)]
pub(crate) struct Slot<T> {
    check: usize,
    pub(crate) value: T,
}

/// Mixed into every check word, so that small integers a C program leaves in
/// storage do not look attached.
const CHECK_KEY: usize = 0x6b69_7063_a5a5_5a5a_u64 as usize;

/// The check word of storage for handles of `magic`.
#[inline]
fn check_word(magic: usize) -> usize {
    magic ^ CHECK_KEY
}

/// Validates handle storage `h` holding a `Slot<T>` of kind `magic`; returns
/// a pointer to the slot.
///
/// # Safety
///
/// If `h` is non-NULL and aligned, it must point to readable storage at least
/// as large as `S`, and `S` must be large and aligned enough for `Slot<T>`.
#[inline]
pub(crate) unsafe fn validate<S, T>(h: *const S, magic: usize) -> Result<*mut Slot<T>, Code> {
    check_ptr(h)?;
    let slot = h.cast::<Slot<T>>().cast_mut();
    // SAFETY: `h` is non-NULL, aligned and covers a `Slot<T>` (caller); the
    // check word is a plain `usize`, read without forming a reference.
    let check = unsafe { addr_of!((*slot).check).read() };
    if check != check_word(magic) {
        return Err(Code::BADF);
    }
    Ok(slot)
}

/// Marks storage whose `value` was just written as attached.
///
/// # Safety
///
/// `slot` points to writable handle storage whose `value` is initialised.
#[inline]
pub(crate) unsafe fn seal<T>(slot: *mut Slot<T>, magic: usize) {
    // SAFETY: the caller gives us writable storage.
    unsafe { addr_of_mut!((*slot).check).write(check_word(magic)) }
}

/// Drops the value in attached storage and marks the storage detached.
///
/// # Safety
///
/// `slot` came from [`validate`] and no reference into its value is alive.
#[inline]
pub(crate) unsafe fn unseal<T>(slot: *mut Slot<T>) {
    // SAFETY: as promised by the caller; the check word goes first so the
    // storage reads as detached even if the drop misbehaves.
    unsafe {
        addr_of_mut!((*slot).check).write(0);
        ptr::drop_in_place(addr_of_mut!((*slot).value));
    }
}

/// A byte slice from a C pointer and length; NULL is allowed for length 0.
///
/// # Safety
///
/// If `len > 0`, `p` must be readable for `len` bytes for `'a`, and nothing
/// may write them meanwhile.
#[inline]
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8], Code> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Code::FAULT);
    }
    if len > isize::MAX as usize {
        return Err(Code::MSGSIZE);
    }
    // SAFETY: non-NULL, `len <= isize::MAX`, readable for `len` bytes (caller).
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// A mutable byte slice from a C pointer and capacity; NULL is allowed for
/// capacity 0.
///
/// # Safety
///
/// If `cap > 0`, `p` must be writable for `cap` bytes for `'a`, and nothing
/// else may access them meanwhile.
#[inline]
pub(crate) unsafe fn bytes_mut<'a>(p: *mut u8, cap: usize) -> Result<&'a mut [u8], Code> {
    if cap == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Code::FAULT);
    }
    // Callers clamp `cap` to a slot size (<= 1 GiB), but stay safe anyway.
    let cap = cap.min(isize::MAX as usize);
    // SAFETY: non-NULL, `cap <= isize::MAX`, writable for `cap` bytes (caller).
    Ok(unsafe { core::slice::from_raw_parts_mut(p, cap) })
}
