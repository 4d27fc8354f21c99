//! Core level: a multi-producer multi-consumer ring over memory the caller
//! owns (`kipc_core::mpmc::Region`): each producer owns a lane (an SPSC ring
//! in the region), consumers merge the lanes, so a producer that dies
//! mid-send cannot wedge the others. No OS, no heap.
//!
//! Usage: [`kipc_mpmc_region_size`], [`kipc_mpmc_init`] (once), then any
//! number of producer handles (up to the lane count) and consumer handles
//! (up to `KIPC_MPMC_MAX_CONSUMERS`), each attached with a nonzero id (a host
//! passes its pid; firmware any distinct number).

use core::ffi::{c_int, c_void};
use core::mem::{align_of, size_of};
use core::ptr::addr_of_mut;

use kipc_core::mpmc::{region_size, Region, RegionConsumer, RegionProducer};

use crate::boundary::{bytes, bytes_mut, check_ptr, guard, put, seal, unseal, validate, Slot};
use crate::doorbell::kipc_doorbells_t;
use crate::error::Code;

/// Largest number of lanes (producers attached at once) of an MPMC ring.
pub const KIPC_MPMC_MAX_LANES: u32 = 64;
/// Largest number of consumers attached at once to an MPMC ring.
pub const KIPC_MPMC_MAX_CONSUMERS: u32 = 16;

/// Storage for an MPMC producer handle (opaque; see `kipc_spsc_producer_t`
/// for the storage rules).
///
/// Thread safety: one thread (or interrupt context) at a time per handle;
/// any number of producer and consumer handles of one ring may run
/// concurrently. The storage may be moved with `memcpy` (use only the new
/// copy afterwards).
#[repr(C)]
#[derive(Debug)]
pub struct kipc_mpmc_producer_t {
    opaque: [u64; 32],
}

/// Storage for an MPMC consumer handle; as `kipc_mpmc_producer_t`.
///
/// Thread safety: one thread at a time per handle; handles run concurrently.
#[repr(C)]
#[derive(Debug)]
pub struct kipc_mpmc_consumer_t {
    opaque: [u64; 32],
}

/// A producer handle: the core handle owns its own `Region` clone, so unlike
/// SPSC nothing points into the storage; `region` is kept for the doorbells.
struct Tx {
    tx: RegionProducer,
    region: Region,
}

/// A consumer handle.
struct Rx {
    rx: RegionConsumer,
    region: Region,
}

/// Check-word magics ("mpmc tx", "mpmc rx").
const TX_MAGIC: usize = 0x4d50_5458_u32 as usize;
const RX_MAGIC: usize = 0x4d50_5258_u32 as usize;

// Literals above so cbindgen can put them in the header; checked here.
const _: () = {
    assert!(KIPC_MPMC_MAX_LANES == kipc_core::mpmc::MAX_LANES);
    assert!(KIPC_MPMC_MAX_CONSUMERS as usize == kipc_core::mpmc::MAX_CONSUMERS);
    assert!(size_of::<Slot<Tx>>() <= size_of::<kipc_mpmc_producer_t>());
    assert!(align_of::<Slot<Tx>>() <= align_of::<kipc_mpmc_producer_t>());
    assert!(size_of::<Slot<Rx>>() <= size_of::<kipc_mpmc_consumer_t>());
    assert!(align_of::<Slot<Rx>>() <= align_of::<kipc_mpmc_consumer_t>());
};

/// Bytes of memory an MPMC ring of `lanes` lanes (1..=`KIPC_MPMC_MAX_LANES`)
/// of `slots_per_lane` slots (a power of two) of up to `slot_size` bytes
/// needs; written to `*out`.
///
/// Returns 0, `-KIPC_EINVAL` (geometry) or `-KIPC_EFAULT`. Thread-safe.
///
/// # Safety
///
/// `out` is NULL or points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn kipc_mpmc_region_size(
    lanes: u32,
    slots_per_lane: u32,
    slot_size: u32,
    out: *mut usize,
) -> c_int {
    guard(|| {
        check_ptr(out)?;
        let n = region_size(lanes, slots_per_lane, slot_size)?;
        // SAFETY: checked above; writable by the C caller's promise.
        unsafe { put(out, n) };
        Ok(())
    })
}

/// Lays a fresh, empty MPMC ring over `len` bytes at `mem` (128-byte
/// aligned) and publishes it.
///
/// Returns 0, `-KIPC_EFAULT`, `-KIPC_EINVAL` or `-KIPC_ENOBUFS`.
///
/// # Safety
///
/// As `kipc_spsc_init`.
#[no_mangle]
pub unsafe extern "C" fn kipc_mpmc_init(
    mem: *mut c_void,
    len: usize,
    lanes: u32,
    slots_per_lane: u32,
    slot_size: u32,
) -> c_int {
    guard(|| {
        if mem.is_null() {
            return Err(Code::FAULT);
        }
        // SAFETY: the C caller promises `len` writable bytes and exclusive
        // access; core checks alignment and size.
        unsafe { Region::init(mem.cast(), len, lanes, slots_per_lane, slot_size) }?;
        Ok(())
    })
}

/// Attaches `tx` to the ring at `mem` as producer `id` (nonzero), claiming a
/// free lane.
///
/// Returns 0; `-KIPC_EUSERS` (every lane taken), `-KIPC_EINVAL` (`id` 0),
/// `-KIPC_EAGAIN` (not initialised yet), `-KIPC_EPROTO`, `-KIPC_ENOBUFS`,
/// `-KIPC_EBADMSG`, `-KIPC_EFAULT`. Detach to free the lane.
///
/// # Safety
///
/// As `kipc_spsc_producer_attach`, for `kipc_mpmc_producer_t` storage.
#[no_mangle]
pub unsafe extern "C" fn kipc_mpmc_producer_attach(
    tx: *mut kipc_mpmc_producer_t,
    mem: *mut c_void,
    len: usize,
    id: u32,
) -> c_int {
    guard(|| {
        check_ptr(tx)?;
        if mem.is_null() {
            return Err(Code::FAULT);
        }
        // SAFETY: the C caller promises `mem` is valid for `len` bytes.
        unsafe { crate::doorbell::check_waitable(mem.cast(), len) }?;
        // SAFETY: the C caller promises `mem` stays valid until detach.
        let region = unsafe { Region::attach(mem.cast(), len) }?;
        let value = Tx {
            tx: region.producer(id)?,
            region,
        };
        let slot = tx.cast::<Slot<Tx>>();
        // SAFETY: checked, writable storage, large and aligned enough (static
        // assertions); the old bytes are not read.
        unsafe { addr_of_mut!((*slot).value).write(value) };
        // SAFETY: the value is initialised.
        unsafe { seal(slot, TX_MAGIC) };
        Ok(())
    })
}

/// Attaches `rx` to the ring at `mem` as consumer `id` (nonzero).
///
/// Returns 0; `-KIPC_EBUSY` (`KIPC_MPMC_MAX_CONSUMERS` attached),
/// `-KIPC_EINVAL` (`id` 0), and the errors of `kipc_mpmc_producer_attach`.
///
/// # Safety
///
/// As `kipc_spsc_producer_attach`, for `kipc_mpmc_consumer_t` storage.
#[no_mangle]
pub unsafe extern "C" fn kipc_mpmc_consumer_attach(
    rx: *mut kipc_mpmc_consumer_t,
    mem: *mut c_void,
    len: usize,
    id: u32,
) -> c_int {
    guard(|| {
        check_ptr(rx)?;
        if mem.is_null() {
            return Err(Code::FAULT);
        }
        // SAFETY: the C caller promises `mem` is valid for `len` bytes.
        unsafe { crate::doorbell::check_waitable(mem.cast(), len) }?;
        // SAFETY: the C caller promises `mem` stays valid until detach.
        let region = unsafe { Region::attach(mem.cast(), len) }?;
        let value = Rx {
            rx: region.consumer(id)?,
            region,
        };
        let slot = rx.cast::<Slot<Rx>>();
        // SAFETY: as in `kipc_mpmc_producer_attach`.
        unsafe { addr_of_mut!((*slot).value).write(value) };
        // SAFETY: the value is initialised.
        unsafe { seal(slot, RX_MAGIC) };
        Ok(())
    })
}

/// The attached producer behind `tx`.
///
/// # Safety
///
/// `tx` is NULL or points to `kipc_mpmc_producer_t` storage used by no other
/// thread meanwhile.
unsafe fn producer<'a>(tx: *mut kipc_mpmc_producer_t) -> Result<&'a mut Tx, Code> {
    // SAFETY: storage size and alignment are asserted above.
    let slot = unsafe { validate::<_, Tx>(tx, TX_MAGIC) }?;
    // SAFETY: validated as attached; exclusive by the caller's promise.
    Ok(unsafe { &mut *addr_of_mut!((*slot).value) })
}

/// The attached consumer behind `rx`.
///
/// # Safety
///
/// As [`producer`].
unsafe fn consumer<'a>(rx: *mut kipc_mpmc_consumer_t) -> Result<&'a mut Rx, Code> {
    // SAFETY: storage size and alignment are asserted above.
    let slot = unsafe { validate::<_, Rx>(rx, RX_MAGIC) }?;
    // SAFETY: validated as attached; exclusive by the caller's promise.
    Ok(unsafe { &mut *addr_of_mut!((*slot).value) })
}

/// Detaches the producer: its lane is closed (its queued messages are still
/// delivered) and freed for another producer.
///
/// Returns 0, `-KIPC_EFAULT` or `-KIPC_EBADF`.
///
/// # Safety
///
/// `tx` is NULL or points to `kipc_mpmc_producer_t` storage not in use by
/// another thread.
#[no_mangle]
pub unsafe extern "C" fn kipc_mpmc_producer_detach(tx: *mut kipc_mpmc_producer_t) -> c_int {
    guard(|| {
        // SAFETY: storage size and alignment are asserted above.
        let slot = unsafe { validate::<_, Tx>(tx, TX_MAGIC) }?;
        // SAFETY: attached, and no reference into it is alive.
        unsafe { unseal(slot) };
        Ok(())
    })
}

/// Detaches the consumer, freeing its consumer record.
///
/// # Safety
///
/// As `kipc_mpmc_producer_detach`, for a consumer.
#[no_mangle]
pub unsafe extern "C" fn kipc_mpmc_consumer_detach(rx: *mut kipc_mpmc_consumer_t) -> c_int {
    guard(|| {
        // SAFETY: storage size and alignment are asserted above.
        let slot = unsafe { validate::<_, Rx>(rx, RX_MAGIC) }?;
        // SAFETY: attached, and no reference into it is alive.
        unsafe { unseal(slot) };
        Ok(())
    })
}

/// Sends `len` bytes at `msg` into this producer's lane if it has a free
/// slot. Wait-free.
///
/// Returns 0, `-KIPC_EAGAIN` (lane full), `-KIPC_EMSGSIZE`, `-KIPC_EPIPE`
/// (every consumer is marked dead), `-KIPC_EBADMSG`, `-KIPC_EFAULT`,
/// `-KIPC_EBADF`. Wakes nobody: see `kipc_doorbell_ring`.
///
/// # Safety
///
/// `tx` as for `kipc_mpmc_producer_detach`; `msg` readable for `len` bytes
/// when `len > 0`.
#[no_mangle]
pub unsafe extern "C" fn kipc_mpmc_try_push(
    tx: *mut kipc_mpmc_producer_t,
    msg: *const c_void,
    len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `tx`.
        let h = unsafe { producer(tx) }?;
        if len > h.region.slot_size() as usize {
            return Err(Code::MSGSIZE);
        }
        // SAFETY: readable for `len` bytes (caller).
        let msg = unsafe { bytes(msg.cast(), len) }?;
        h.tx.try_send(msg)?;
        Ok(())
    })
}

/// Receives one message from any lane into `buf` (`cap` bytes), writes its
/// length to `*len` and, if `lane` is not NULL, the lane it came from.
/// Lanes are scanned round-robin.
///
/// Returns 0, `-KIPC_EAGAIN` (empty), `-KIPC_EMSGSIZE` (`*len` = the needed
/// size; the message stays queued), `-KIPC_EPIPE` (empty and every producer
/// gone), `-KIPC_EBADMSG` (a producer corrupted its lane; the next call
/// moves on to the other lanes), `-KIPC_EFAULT`, `-KIPC_EBADF`.
///
/// # Safety
///
/// `rx` as for `kipc_mpmc_consumer_detach`; `buf` writable for `cap` bytes
/// when `cap > 0`; `len` (and `lane` unless NULL) writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mpmc_try_pop(
    rx: *mut kipc_mpmc_consumer_t,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    lane: *mut u32,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `rx`.
        let h = unsafe { consumer(rx) }?;
        check_ptr(len)?;
        if !lane.is_null() {
            check_ptr(lane)?;
        }
        let cap = cap.min(h.region.slot_size() as usize);
        // SAFETY: writable for `cap` bytes (caller).
        let buf = unsafe { bytes_mut(buf.cast(), cap) }?;
        let (n, from, result) = match h.rx.try_recv(buf) {
            Ok((n, from)) => (n, Some(from), Ok(())),
            Err(kipc_core::Error::TooLarge { len: n, .. }) => (n, None, Err(Code::MSGSIZE)),
            Err(e) => return Err(e.into()),
        };
        // SAFETY: checked above.
        unsafe { put(len, n) };
        if let (false, Some(from)) = (lane.is_null(), from) {
            // SAFETY: checked above.
            unsafe { put(lane, from) };
        }
        result
    })
}

/// Writes the number of messages queued in all lanes to `*out` (a snapshot).
///
/// # Safety
///
/// As `kipc_mpmc_try_pop`; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mpmc_consumer_len(
    rx: *mut kipc_mpmc_consumer_t,
    out: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `rx`.
        let h = unsafe { consumer(rx) }?;
        check_ptr(out)?;
        // SAFETY: checked above.
        unsafe { put(out, h.region.len()) };
        Ok(())
    })
}

/// Writes the ring's doorbell words to `*out` (producers sleep on
/// `not_full`, consumers on `not_empty`).
///
/// # Safety
///
/// As `kipc_mpmc_try_push`; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mpmc_producer_doorbells(
    tx: *mut kipc_mpmc_producer_t,
    out: *mut kipc_doorbells_t,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `tx`.
        let h = unsafe { producer(tx) }?;
        check_ptr(out)?;
        // SAFETY: checked above.
        unsafe {
            put(
                out,
                kipc_doorbells_t::new(h.region.not_empty(), h.region.not_full()),
            )
        };
        Ok(())
    })
}

/// As `kipc_mpmc_producer_doorbells`, for a consumer.
///
/// # Safety
///
/// As `kipc_mpmc_try_pop`; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kipc_mpmc_consumer_doorbells(
    rx: *mut kipc_mpmc_consumer_t,
    out: *mut kipc_doorbells_t,
) -> c_int {
    guard(|| {
        // SAFETY: the C caller's promise about `rx`.
        let h = unsafe { consumer(rx) }?;
        check_ptr(out)?;
        // SAFETY: checked above.
        unsafe {
            put(
                out,
                kipc_doorbells_t::new(h.region.not_empty(), h.region.not_full()),
            )
        };
        Ok(())
    })
}
