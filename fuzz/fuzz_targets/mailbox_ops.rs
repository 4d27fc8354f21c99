//! cargo-fuzz wrapper for `kipc_fuzz::mailbox_target::mailbox_ops`: the mailbox against its reference model.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kipc_fuzz::mailbox_target::mailbox_ops(data));
