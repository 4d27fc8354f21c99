//! Pieces the ring targets share: exactly-sized aligned memory to lay a
//! region over, and (for unit tests) a fixed-seed stream of random inputs.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Zeroed heap memory of exactly `len` bytes, aligned for a region
/// ([`kipc_core::region::REGION_ALIGN`]). Exactly sized, so that under
/// AddressSanitizer (cargo-fuzz's default) a read one byte past the region
/// is a finding.
#[derive(Debug)]
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

impl AlignedBuf {
    /// `len` zero bytes (at least one is allocated).
    pub fn zeroed(len: usize) -> Self {
        let layout = Self::layout(len);
        // SAFETY: the layout has a non-zero size (`layout` rounds 0 up to 1).
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        Self { ptr, len }
    }

    /// A copy of `bytes` (zero-padded to at least one byte).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let buf = Self::zeroed(bytes.len());
        // SAFETY: `buf` owns `bytes.len()` writable bytes that cannot overlap
        // the caller's slice.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.ptr.as_ptr(), bytes.len()) };
        buf
    }

    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len.max(1), kipc_core::region::REGION_ALIGN)
            .expect("fuzz buffers are small")
    }

    /// The base address, for `init`/`attach`.
    pub fn base(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The length asked for.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` for a zero-length buffer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `value` at byte `offset` (clamped into the buffer, rounded
    /// down to a multiple of 4) the way a hostile peer would: a plain store,
    /// while no reference into the buffer is held.
    pub fn scribble(&self, offset: usize, value: u32) {
        if self.len < 4 {
            return;
        }
        let offset = offset.min(self.len - 4) & !3;
        // SAFETY: `offset + 4 <= len` and `offset` is 4-aligned from a
        // 128-aligned base; kipc holds no reference into the bytes, only raw
        // pointers, and this thread is the only one touching them.
        unsafe { self.ptr.as_ptr().add(offset).cast::<u32>().write(value) };
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this very layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.len)) };
    }
}

/// Runs `body` on `count` pseudo-random inputs of 0..`max_len` bytes from a
/// fixed-seed xorshift, so a unit test explores the same inputs every run.
#[cfg(test)]
pub(crate) fn random_inputs(seed: u64, count: usize, max_len: usize, body: fn(&[u8])) {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut data = Vec::with_capacity(max_len);
    for _ in 0..count {
        data.clear();
        let len = (next() % (max_len as u64 + 1)) as usize;
        // Skew some inputs towards small byte values, which select the
        // common operations and small lengths.
        let small = next() % 2 == 0;
        data.extend((0..len).map(|_| {
            let b = next() as u8;
            if small {
                b % 8
            } else {
                b
            }
        }));
        body(&data);
    }
}
