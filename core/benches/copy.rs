//! The cost of copying payloads in and out of shared memory with per-word
//! atomics (`kipc_core::sync::atomic_{load,store}_{words,bytes}`) against the
//! plain `copy_nonoverlapping` the region forms used before, side by side in
//! one run: 64 B, 1 KiB and 64 KiB, from an 8-aligned address (MPMC and
//! mailbox payloads) and from an address 4 past one (SPSC payloads).
//!
//! Run with `cargo bench -p kipc-core --bench copy` (smoke test:
//! `... --bench copy -- --test`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kipc_core::sync::{
    atomic_load_bytes, atomic_load_words, atomic_store_bytes, atomic_store_words,
};

/// 64 KiB plus slack, 128-aligned like a region.
#[repr(C, align(128))]
struct Buf([u8; (64 << 10) + 128]);

type Copy = unsafe fn(*const u8, *mut u8, usize);

/// `copy_nonoverlapping` as a `Copy`.
unsafe fn plain(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: forwarded; the bench passes disjoint, valid ranges.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, len) }
}

fn copies(c: &mut Criterion) {
    let mut shared = Box::new(Buf([7; (64 << 10) + 128]));
    let mut private = Box::new(Buf([9; (64 << 10) + 128]));
    let cases: [(&str, Copy, bool); 5] = [
        ("plain_load", plain, false),
        ("words_load", atomic_load_words, false),
        ("bytes_load", atomic_load_bytes, false),
        ("words_store", atomic_store_words, true),
        ("bytes_store", atomic_store_bytes, true),
    ];
    for offset in [0usize, 4] {
        let mut group = c.benchmark_group(format!("shared_copy_offset{offset}"));
        for len in [64usize, 1 << 10, 64 << 10] {
            group.throughput(Throughput::Bytes(len as u64));
            for (name, f, store) in cases {
                let sh = shared.0.as_mut_ptr().wrapping_add(offset);
                let pr = private.0.as_mut_ptr();
                let (src, dst) = if store { (pr, sh) } else { (sh, pr) };
                group.bench_with_input(BenchmarkId::new(name, len), &len, |b, &len| {
                    b.iter(|| {
                        // SAFETY: both buffers hold `offset + len` bytes, are
                        // disjoint and only this thread touches them.
                        unsafe { f(black_box(src), black_box(dst), len) }
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, copies);
criterion_main!(benches);
