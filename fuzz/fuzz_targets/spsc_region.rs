//! cargo-fuzz wrapper: drives [`kipc_fuzz::spsc_region::spsc_region`] with libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kipc_fuzz::spsc_region::spsc_region(data));
