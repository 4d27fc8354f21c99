//! cargo-fuzz wrapper: drives [`kipc_fuzz::mpmc_region::mpmc_region`] with libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kipc_fuzz::mpmc_region::mpmc_region(data));
