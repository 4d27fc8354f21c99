//! A procedure call over mailboxes: a server thread answers "upper-case
//! this", a client calls it.
//!
//! ```text
//! cargo run -p kipc-host --example rpc
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kipc_host::rpc::{Client, Server};

const UPPER: u32 = 1;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("example-rpc-{}", std::process::id());
    let server = Server::new(&name)?.handle(UPPER, |req| Ok(req.to_ascii_uppercase()));
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| -> Result<(), Box<dyn std::error::Error>> {
        let serving = s.spawn(|| server.serve_until(&stop, None));
        let result = (|| -> Result<(), Box<dyn std::error::Error>> {
            let mut client = Client::connect(&name)?;
            let reply = client.call(UPPER, b"hello", Duration::from_secs(5))?;
            println!("{}", String::from_utf8_lossy(&reply));
            assert_eq!(reply, b"HELLO");
            Ok(())
        })();
        // Stop the server whatever happened to the call.
        stop.store(true, Ordering::Relaxed);
        serving.join().expect("server thread")?;
        result
    })
}
