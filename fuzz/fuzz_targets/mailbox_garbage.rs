//! cargo-fuzz wrapper for `kipc_fuzz::mailbox_target::mailbox_garbage`: a mailbox over arbitrary and scribbled bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kipc_fuzz::mailbox_target::mailbox_garbage(data));
