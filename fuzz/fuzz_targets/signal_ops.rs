//! cargo-fuzz wrapper for `kipc_fuzz::signal_target::signal_ops`: the signal
//! state machine against its reference model.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kipc_fuzz::signal_target::signal_ops(data));
