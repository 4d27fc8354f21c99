//! The pollable endpoints in async-io/smol: `async_io::Async<PollReceiver>`
//! (a `PollReceiver` is `AsFd`) receives from a producer in another process
//! (`kipc-ring-peer`), with the same loop as any event loop: try until
//! `Empty` (which armed the descriptor), wait until readable, repeat; a
//! timer every liveness slice lets the try reap a dead producer.

use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures_lite::future;
use kipc_host::endpoint::{PollReceiver, QueueLayout};
use kipc_host::futex::LIVENESS_SLICE;
use kipc_host::ring::{RingConfig, ShmRing};
use kipc_host::Error;
use kipc_tests::ring_payload::{decode, MAX_LEN};
use kipc_tests::shm::inherit_fd;
use kipc_tests::ChildGuard;

const RING_PEER: &str = env!("CARGO_BIN_EXE_kipc-ring-peer");
const COUNT: u64 = 200_000;
/// Far longer than the work takes: reaching it means a wake-up was lost.
const BOUND: Duration = Duration::from_secs(120);

/// One message into `buf`: the event-loop form of a receive on async-io.
async fn recv<Q: QueueLayout>(
    rx: &mut Async<PollReceiver<Q>>,
    buf: &mut [u8],
    waits: &mut u64,
) -> Result<usize, Error> {
    loop {
        // SAFETY: `try_recv` neither closes nor replaces the descriptor
        // `Async` registered; it only reads and arms it.
        match unsafe { rx.get_mut() }.try_recv(buf) {
            Err(Error::Empty) => {
                // Armed. Wait for readable, or a slice (the next try reaps).
                *waits += 1;
                let readable = async { rx.readable().await.map_err(Error::from) };
                let slice = async {
                    Timer::after(LIVENESS_SLICE).await;
                    Ok(())
                };
                future::or(readable, slice).await?;
            }
            other => return other,
        }
    }
}

#[test]
fn an_async_io_receiver_takes_every_message_from_another_process_in_order() {
    let ring = ShmRing::create_anonymous(RingConfig::spsc(64, MAX_LEN as u32)).unwrap();
    let rx = ring.receiver().unwrap().into_pollable().unwrap();
    let mut cmd = Command::new(RING_PEER);
    let arg = format!("fd:{}", ring.fd().as_raw_fd());
    cmd.args(["produce", &arg, "4", &COUNT.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    inherit_fd(&mut cmd, ring.fd());
    let child = ChildGuard::spawn(&mut cmd).unwrap();
    let started = Instant::now();
    let run = async {
        let mut rx = Async::new(rx).map_err(|e| e.to_string())?;
        let mut buf = [0u8; MAX_LEN];
        let mut waits = 0u64;
        for expect in 0..COUNT {
            let n = recv(&mut rx, &mut buf, &mut waits)
                .await
                .map_err(|e| format!("recv of seq {expect}: {e}"))?;
            let (tag, seq) = decode(&buf[..n])?;
            if (tag, seq) != (4, expect) {
                return Err(format!("got ({tag}, {seq}), expected (4, {expect})"));
            }
        }
        Ok::<_, String>((rx, waits))
    };
    let bounded = future::or(async { Some(run.await) }, async {
        Timer::after(BOUND).await;
        None
    });
    let (rx, waits) = future::block_on(bounded)
        .expect("lost wake-up: timed out")
        .unwrap();
    eprintln!(
        "async-io: {COUNT} messages in {:?}, {waits} waits on the descriptor",
        started.elapsed()
    );
    let out = child.into_inner().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "peer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The producer left cleanly: nothing more, and no error.
    let mut rx = rx.into_inner().unwrap();
    assert_eq!(rx.try_recv(&mut [0; MAX_LEN]), Err(Error::Empty));
}
