//! See Cargo.toml: kipc-core linked into a bare `#![no_std]` staticlib.
#![no_std]
#![no_main]

use kipc_core::doorbell::Doorbell;

static BELL: Doorbell = Doorbell::new();

/// An exported function that uses kipc-core, so the code is really compiled in.
#[no_mangle]
pub extern "C" fn kipc_nostd_check_ring() -> u32 {
    u32::from(BELL.ring())
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
