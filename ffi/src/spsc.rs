//! Core level: a single-producer single-consumer ring of byte messages over
//! memory the caller owns (`kipc_core::spsc::Region`). No OS, no heap.
//!
//! Usage: size the memory with [`kipc_spsc_region_size`], lay a fresh ring
//! over it with [`kipc_spsc_init`] (once, by its creator), then attach one
//! producer handle ([`kipc_spsc_producer_attach`]) and one consumer handle
//! ([`kipc_spsc_consumer_attach`]), in the same program or in two programs
//! sharing the memory. Handles live in storage the caller provides.

use core::ffi::{c_int, c_void};
use core::mem::{align_of, size_of};
use core::ptr::addr_of_mut;

use kipc_core::spsc::{region_size, Region, RegionConsumer, RegionProducer};

use crate::boundary::{bytes, bytes_mut, check_ptr, guard, put, seal, unseal, validate, Slot};
use crate::doorbell::kipc_doorbells_t;
use crate::error::Code;

/// Storage for an SPSC producer handle. Declare one (static, global or on the
/// stack), zero it or not, and pass its address to
/// `kipc_spsc_producer_attach`; treat the contents as opaque.
///
/// Thread safety: one thread (or interrupt context) at a time may use a
/// producer handle; it may move between threads between calls. The producer
/// and the consumer of one ring may run concurrently. The storage holds no
/// pointer into itself: it may be moved with `memcpy` while attached (use
/// only the new copy afterwards; detaching either copy ends the claim, and
/// the other then returns `-KIPC_EBUSY`).
#[repr(C)]
#[derive(Debug)]
pub struct kipc_spsc_producer_t {
    opaque: [u64; 16],
}

/// Storage for an SPSC consumer handle; as for `kipc_spsc_producer_t`.
///
/// Thread safety: one thread (or interrupt context) at a time per consumer
/// handle; producer and consumer may run concurrently.
#[repr(C)]
#[derive(Debug)]
pub struct kipc_spsc_consumer_t {
    opaque: [u64; 16],
}

/// What a producer handle holds: the owned core handle and a copy of the
/// region (for its doorbells). Nothing points into the storage itself.
struct Tx {
    tx: RegionProducer,
    region: Region,
}

/// What a consumer handle holds.
struct Rx {
    rx: RegionConsumer,
    region: Region,
}

/// The owner id core-level handles claim with: the core level knows no
/// processes, so every attach uses the same id and the claim only enforces
/// one producer and one consumer at a time.
const CORE_OWNER: u32 = 1;

/// Check-word magics ("spsc tx", "spsc rx"); see `boundary`.
const TX_MAGIC: usize = 0x5350_5458_u32 as usize;
const RX_MAGIC: usize = 0x5350_5258_u32 as usize;

const _: () = {
    assert!(size_of::<Slot<Tx>>() <= size_of::<kipc_spsc_producer_t>());
    assert!(align_of::<Slot<Tx>>() <= align_of::<kipc_spsc_producer_t>());
    assert!(size_of::<Slot<Rx>>() <= size_of::<kipc_spsc_consumer_t>());
    assert!(align_of::<Slot<Rx>>() <= align_of::<kipc_spsc_consumer_t>());
};

/// Bytes of memory an SPSC ring of `slots` slots of up to `slot_size` bytes
/// needs; written to `*out`.
///
/// Returns 0, `-KIPC_EINVAL` if `slots` is not a power of two (1..=2^31) or
/// `slot_size` is not in 1..=2^30, `-KIPC_EFAULT` if `out` is NULL or
/// misaligned. Thread-safe.
///
/// # Safety
///
/// `out` is NULL or points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_region_size(
    slots: u32,
    slot_size: u32,
    out: *mut usize,
) -> c_int {
    guard(|| {
        check_ptr(out)?;
        let n = region_size(slots, slot_size)?;
        // SAFETY: checked above; writable by the C caller's promise.
        unsafe { put(out, n) };
        Ok(())
    })
}

/// Lays a fresh, empty SPSC ring of `slots` slots of up to `slot_size` bytes
/// over `len` bytes at `mem` (128-byte aligned, at least
/// `kipc_spsc_region_size` bytes) and publishes it.
///
/// Returns 0; `-KIPC_EFAULT` (`mem` NULL or not 128-byte aligned),
/// `-KIPC_EINVAL` (geometry), `-KIPC_ENOBUFS` (`len` too small). Keeps no
/// pointer: attach handles afterwards.
///
/// # Safety
///
/// If `mem` is non-NULL and aligned, it must be writable for `len` bytes, and
/// no handle may be attached to that memory (in any process) during the call.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_init(
    mem: *mut c_void,
    len: usize,
    slots: u32,
    slot_size: u32,
) -> c_int {
    guard(|| {
        if mem.is_null() {
            return Err(Code::FAULT);
        }
        // SAFETY: the C caller promises `len` writable bytes and exclusive
        // access; core checks alignment and size. The Region value is
        // dropped at once: it holds no resources.
        unsafe { Region::init(mem.cast(), len, slots, slot_size) }?;
        Ok(())
    })
}

/// Attaches the producer handle `tx` to the ring at `mem` (`len` bytes),
/// checking every header field.
///
/// Returns 0; `-KIPC_EFAULT` (`tx` or `mem` NULL or misaligned),
/// `-KIPC_EAGAIN` (the ring is not initialised yet: retry),
/// `-KIPC_EPROTO` (not an SPSC ring of this layout version),
/// `-KIPC_ENOBUFS` (`len` smaller than the recorded layout),
/// `-KIPC_EBADMSG` (indices corrupt). On error `tx` is left detached.
///
/// Only one producer may be attached to a ring at a time: a second attach
/// (from any program) returns `-KIPC_EBUSY` until the first detaches. The
/// core level knows no processes, so a producer that exits without
/// detaching keeps the side; the host level (`kipc_ring_*`) takes sides
/// over from dead processes.
///
/// # Safety
///
/// `tx` is NULL or points to writable `kipc_spsc_producer_t` storage that is
/// not attached (attaching over an attached handle loses it). `mem` is NULL
/// or readable and writable for `len` bytes until `tx` is detached; other
/// programs may write those bytes concurrently, this one only through kipc.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_producer_attach(
    tx: *mut kipc_spsc_producer_t,
    mem: *mut c_void,
    len: usize,
) -> c_int {
    guard(|| {
        check_ptr(tx)?;
        if mem.is_null() {
            return Err(Code::FAULT);
        }
        // SAFETY: `tx` checked; the storage is large and aligned enough
        // (static assertions above).
        let slot = tx.cast::<Slot<Tx>>();
        // SAFETY: the C caller promises `mem` is valid for `len` bytes.
        unsafe { crate::doorbell::check_waitable(mem.cast(), len) }?;
        // SAFETY: the C caller promises `mem` stays valid until detach.
        let region = unsafe { Region::attach(mem.cast(), len) }?;
        let producer = region.producer(CORE_OWNER)?;
        // SAFETY: `slot` is writable storage (caller), large and aligned
        // enough (static assertions); written without reading the old bytes.
        unsafe {
            addr_of_mut!((*slot).value).write(Tx {
                tx: producer,
                region,
            })
        };
        // SAFETY: both fields are initialised.
        unsafe { seal(slot, TX_MAGIC) };
        Ok(())
    })
}

/// Attaches the consumer handle `rx` to the ring at `mem`; as
/// `kipc_spsc_producer_attach`.
///
/// # Safety
///
/// As `kipc_spsc_producer_attach`, for `kipc_spsc_consumer_t` storage.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_consumer_attach(
    rx: *mut kipc_spsc_consumer_t,
    mem: *mut c_void,
    len: usize,
) -> c_int {
    guard(|| {
        check_ptr(rx)?;
        if mem.is_null() {
            return Err(Code::FAULT);
        }
        let slot = rx.cast::<Slot<Rx>>();
        // SAFETY: the C caller promises `mem` is valid for `len` bytes.
        unsafe { crate::doorbell::check_waitable(mem.cast(), len) }?;
        // SAFETY: the C caller promises `mem` stays valid until detach.
        let region = unsafe { Region::attach(mem.cast(), len) }?;
        let consumer = region.consumer(CORE_OWNER)?;
        // SAFETY: `slot` is writable storage (caller), large and aligned
        // enough (static assertions); written without reading the old bytes.
        unsafe {
            addr_of_mut!((*slot).value).write(Rx {
                rx: consumer,
                region,
            })
        };
        // SAFETY: both fields are initialised.
        unsafe { seal(slot, RX_MAGIC) };
        Ok(())
    })
}

/// The attached producer behind `tx`: the region and the handle, as two
/// references to disjoint fields.
///
/// # Safety
///
/// `tx` is NULL or points to `kipc_spsc_producer_t` storage; no other
/// reference into it is alive for `'a` (one thread at a time).
unsafe fn producer<'a>(
    tx: *mut kipc_spsc_producer_t,
) -> Result<(&'a Region, &'a mut RegionProducer), Code> {
    // SAFETY: storage size and alignment are asserted above.
    let slot = unsafe { validate::<_, Tx>(tx, TX_MAGIC) }?;
    // SAFETY: validated as attached, so both fields are initialised; the two
    // references cover disjoint fields.
    Ok(unsafe {
        (
            &*addr_of_mut!((*slot).value.region),
            &mut *addr_of_mut!((*slot).value.tx),
        )
    })
}

/// As [`producer`], for a consumer.
///
/// # Safety
///
/// As [`producer`].
unsafe fn consumer<'a>(
    rx: *mut kipc_spsc_consumer_t,
) -> Result<(&'a Region, &'a mut RegionConsumer), Code> {
    // SAFETY: storage size and alignment are asserted above.
    let slot = unsafe { validate::<_, Rx>(rx, RX_MAGIC) }?;
    // SAFETY: as in `producer`.
    Ok(unsafe {
        (
            &*addr_of_mut!((*slot).value.region),
            &mut *addr_of_mut!((*slot).value.rx),
        )
    })
}

/// Detaches the producer handle; the storage may then be reused or freed.
/// The ring memory is not touched, and its messages stay queued.
///
/// Returns 0, `-KIPC_EFAULT` (NULL/misaligned) or `-KIPC_EBADF` (not
/// attached, e.g. detached twice).
///
/// # Safety
///
/// `tx` is NULL or points to `kipc_spsc_producer_t` storage not in use by
/// another thread.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_producer_detach(tx: *mut kipc_spsc_producer_t) -> c_int {
    guard(|| {
        // SAFETY: storage size and alignment are asserted above.
        let slot = unsafe { validate::<_, Tx>(tx, TX_MAGIC) }?;
        // SAFETY: attached; dropping `Tx` drops `tx` (declared first) before
        // the `region` it borrows.
        unsafe { unseal(slot) };
        Ok(())
    })
}

/// Detaches the consumer handle; as `kipc_spsc_producer_detach`.
///
/// # Safety
///
/// As `kipc_spsc_producer_detach`.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_consumer_detach(rx: *mut kipc_spsc_consumer_t) -> c_int {
    guard(|| {
        // SAFETY: storage size and alignment are asserted above.
        let slot = unsafe { validate::<_, Rx>(rx, RX_MAGIC) }?;
        // SAFETY: attached; `rx` is dropped before `region`.
        unsafe { unseal(slot) };
        Ok(())
    })
}

/// Sends the `len` bytes at `msg` (0..=slot size; `msg` may be NULL when
/// `len` is 0) if a slot is free. Wait-free.
///
/// Returns 0; `-KIPC_EAGAIN` (full), `-KIPC_EMSGSIZE` (longer than a slot),
/// `-KIPC_EPIPE` (the consumer is marked dead), `-KIPC_EBADMSG` (the
/// consumer corrupted the ring), `-KIPC_EFAULT`, `-KIPC_EBADF`.
///
/// Does not wake anyone: a consumer that may sleep needs
/// `kipc_doorbell_ring` on the `not_empty` word after one or more pushes.
///
/// # Safety
///
/// `tx` as for `kipc_spsc_producer_detach`; `msg` is readable for `len`
/// bytes when `len > 0`.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_try_push(
    tx: *mut kipc_spsc_producer_t,
    msg: *const c_void,
    len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `tx`.
        let (_, tx) = unsafe { producer(tx) }?;
        // Rejected before a slice is formed, so a huge `len` is harmless.
        if len > tx.slot_size() {
            return Err(Code::MSGSIZE);
        }
        // SAFETY: readable for `len` bytes (caller).
        let msg = unsafe { bytes(msg.cast(), len) }?;
        tx.try_send(msg)?;
        Ok(())
    })
}

/// Receives the oldest message into `buf` (`cap` bytes; NULL allowed when
/// `cap` is 0) and writes its length to `*len`. Wait-free.
///
/// Returns 0; `-KIPC_EAGAIN` (empty), `-KIPC_EMSGSIZE` (the message is longer
/// than `cap`: its length is written to `*len` and it stays queued, so call
/// again with a larger buffer), `-KIPC_EPIPE` (empty and the producer is
/// marked dead), `-KIPC_EBADMSG` (the producer corrupted the ring),
/// `-KIPC_EFAULT` (`len` NULL, or `buf` NULL with `cap > 0`), `-KIPC_EBADF`.
///
/// Does not wake anyone: a producer that may sleep needs
/// `kipc_doorbell_ring` on the `not_full` word after one or more pops.
///
/// # Safety
///
/// `rx` as for `kipc_spsc_consumer_detach`; `buf` is writable for `cap`
/// bytes when `cap > 0`; `len` is NULL or points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_try_pop(
    rx: *mut kipc_spsc_consumer_t,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `rx`.
        let (_, rx) = unsafe { consumer(rx) }?;
        check_ptr(len)?;
        // Never more than a slot is written, so a huge `cap` is harmless.
        let cap = cap.min(rx.slot_size());
        // SAFETY: writable for `cap` bytes (caller).
        let buf = unsafe { bytes_mut(buf.cast(), cap) }?;
        let (n, result) = match rx.try_recv(buf) {
            Ok(n) => (n, Ok(())),
            Err(kipc_core::Error::TooLarge { len: n, .. }) => (n, Err(Code::MSGSIZE)),
            Err(e) => return Err(e.into()),
        };
        // SAFETY: checked above; writable (caller).
        unsafe { put(len, n) };
        result
    })
}

/// Writes the number of queued messages to `*out` (a snapshot).
///
/// Returns 0, `-KIPC_EBADMSG` (the consumer's index is out of range),
/// `-KIPC_EFAULT`, `-KIPC_EBADF`.
///
/// # Safety
///
/// As `kipc_spsc_try_push`; `out` is NULL or a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_producer_len(
    tx: *mut kipc_spsc_producer_t,
    out: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `tx`.
        let (_, tx) = unsafe { producer(tx) }?;
        check_ptr(out)?;
        let n = tx.len()?;
        // SAFETY: checked above.
        unsafe { put(out, n) };
        Ok(())
    })
}

/// Writes the number of queued messages to `*out` (a snapshot).
///
/// Returns 0, `-KIPC_EBADMSG` (the producer's index is out of range),
/// `-KIPC_EFAULT`, `-KIPC_EBADF`.
///
/// # Safety
///
/// As `kipc_spsc_try_pop`; `out` is NULL or a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_consumer_len(
    rx: *mut kipc_spsc_consumer_t,
    out: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `rx`.
        let (_, rx) = unsafe { consumer(rx) }?;
        check_ptr(out)?;
        let n = rx.len()?;
        // SAFETY: checked above.
        unsafe { put(out, n) };
        Ok(())
    })
}

/// Writes the ring's geometry, as checked at attach: the slot count to
/// `*slots` and the largest message to `*slot_size`. Either pointer may be
/// NULL (not written).
///
/// # Safety
///
/// As `kipc_spsc_try_push`; `slots`/`slot_size` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_producer_capacity(
    tx: *mut kipc_spsc_producer_t,
    slots: *mut u32,
    slot_size: *mut u32,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `tx`.
        let (region, _) = unsafe { producer(tx) }?;
        // SAFETY: the C caller's promise about the out-pointers.
        unsafe { write_geometry(region, slots, slot_size) }
    })
}

/// As `kipc_spsc_producer_capacity`, for a consumer.
///
/// # Safety
///
/// As `kipc_spsc_try_pop`; `slots`/`slot_size` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_consumer_capacity(
    rx: *mut kipc_spsc_consumer_t,
    slots: *mut u32,
    slot_size: *mut u32,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `rx`.
        let (region, _) = unsafe { consumer(rx) }?;
        // SAFETY: the C caller's promise about the out-pointers.
        unsafe { write_geometry(region, slots, slot_size) }
    })
}

/// Writes a region's geometry to the optional out-pointers.
///
/// # Safety
///
/// Each pointer is NULL or writable.
unsafe fn write_geometry(
    region: &Region,
    slots: *mut u32,
    slot_size: *mut u32,
) -> Result<(), Code> {
    for p in [slots, slot_size] {
        if !p.is_null() {
            check_ptr(p)?;
        }
    }
    // Geometry is at most 2^31 slots of at most 2^30 bytes: fits u32.
    let (n, size) = (region.capacity() as u32, region.slot_size() as u32);
    if !slots.is_null() {
        // SAFETY: checked above.
        unsafe { put(slots, n) };
    }
    if !slot_size.is_null() {
        // SAFETY: checked above.
        unsafe { put(slot_size, size) };
    }
    Ok(())
}

/// Writes the ring's two doorbell words to `*out` (see `kipc_doorbells_t`).
/// The producer sleeps on `not_full` and rings `not_empty`.
///
/// # Safety
///
/// As `kipc_spsc_try_push`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_producer_doorbells(
    tx: *mut kipc_spsc_producer_t,
    out: *mut kipc_doorbells_t,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `tx`.
        let (region, _) = unsafe { producer(tx) }?;
        check_ptr(out)?;
        let bells = kipc_doorbells_t::new(region.not_empty(), region.not_full());
        // SAFETY: checked above.
        unsafe { put(out, bells) };
        Ok(())
    })
}

/// As `kipc_spsc_producer_doorbells`, for a consumer, which sleeps on
/// `not_empty` and rings `not_full`.
///
/// # Safety
///
/// As `kipc_spsc_try_pop`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_spsc_consumer_doorbells(
    rx: *mut kipc_spsc_consumer_t,
    out: *mut kipc_doorbells_t,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `rx`.
        let (region, _) = unsafe { consumer(rx) }?;
        check_ptr(out)?;
        let bells = kipc_doorbells_t::new(region.not_empty(), region.not_full());
        // SAFETY: checked above.
        unsafe { put(out, bells) };
        Ok(())
    })
}
