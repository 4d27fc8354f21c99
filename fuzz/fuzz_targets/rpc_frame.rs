//! cargo-fuzz wrapper for `kipc_fuzz::rpc_frame::rpc_frame`: RPC frames decoded from arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kipc_fuzz::rpc_frame::rpc_frame(data));
