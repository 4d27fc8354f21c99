//! See Cargo.toml: kipc-core linked into a bare `#![no_std]` staticlib.
#![no_std]
#![no_main]

use kipc_core::doorbell::Doorbell;
use kipc_core::signal::{How, Sender, Shared, SigInfo, SigSet, Signal};

static BELL: Doorbell = Doorbell::new();

/// A process's signal state shared by CPUs: `spin`'s lock, built without std.
static SIGNALS: Shared<2, 8, 8> = Shared::new();

/// An exported function that uses kipc-core, so the code is really compiled in.
#[no_mangle]
pub extern "C" fn kipc_nostd_check_ring() -> u32 {
    u32::from(BELL.ring().any())
}

/// Raises SIGUSR1 as an interrupt would (lock-free), then takes it as CPU
/// `cpu` would (under the spin lock); returns its number, or 0 if nothing
/// was delivered.
#[no_mangle]
pub extern "C" fn kipc_nostd_check_signal(cpu: u32) -> u32 {
    let cpu = cpu as usize % 2;
    if SIGNALS
        .raise(SigInfo::user(Signal::USR1, Sender::new(0, 0)))
        .is_err()
    {
        return 0;
    }
    let _ = SIGNALS.sigprocmask(cpu, How::SetMask, SigSet::EMPTY);
    match SIGNALS.next_delivery(cpu) {
        Ok(Some(d)) => d.info.signo.number(),
        _ => 0,
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
