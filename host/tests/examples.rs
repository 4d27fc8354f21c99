//! Runs every example of `host/examples/` and checks it succeeds (each one
//! asserts what it demonstrates). `cargo test` builds the examples beside
//! the test binaries; `scripts/test-all` builds them before running nextest,
//! which builds only test targets.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// `target/<profile>/examples/NAME`, found from this test binary's path
/// (`target/<profile>/deps/examples-HASH`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built (cargo build -p kipc-host --examples)",
        path.display()
    );
    path
}

/// Kills the example if the test fails or it overruns.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn runs(name: &str) {
    let mut g = Guard(Command::new(example(name)).spawn().expect("spawn"));
    let start = Instant::now();
    loop {
        if let Some(status) = g.0.try_wait().expect("wait") {
            assert!(status.success(), "example {name}: {status}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "example {name} still running after 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ring_example_moves_messages_between_two_processes() {
    runs("ring");
}

#[test]
fn mailbox_example_receives_by_priority_and_type() {
    runs("mailbox");
}

#[test]
fn rpc_example_gets_its_answer() {
    runs("rpc");
}

#[test]
#[cfg(feature = "typed")]
fn typed_example_moves_structs_between_two_processes_and_refuses_another_type() {
    runs("typed");
}

#[test]
fn signals_example_receives_merged_and_queued_signals_from_a_child() {
    runs("signals");
}
