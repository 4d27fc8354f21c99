//! cargo-fuzz wrapper: drives [`kipc_fuzz::mpmc_typed::mpmc_typed`] with libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kipc_fuzz::mpmc_typed::mpmc_typed(data));
