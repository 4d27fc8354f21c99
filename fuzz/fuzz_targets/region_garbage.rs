//! cargo-fuzz wrapper: drives [`kipc_fuzz::region_garbage::region_garbage`] with libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kipc_fuzz::region_garbage::region_garbage(data));
