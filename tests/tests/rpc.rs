//! RPC over mailboxes with real client processes (`kipc-mbox-peer
//! rpc-client`): 8 concurrent clients, one more killed mid-call; the server
//! keeps serving, every other call gets its own correct reply, and the
//! killed client's reply mailbox does not survive.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kipc_host::rpc::{Client, RpcError, Server};
use kipc_host::shm::ShmSegment;
use kipc_tests::ChildGuard;

const PEER: &str = env!("CARGO_BIN_EXE_kipc-mbox-peer");

#[test]
fn eight_clients_and_one_killed_mid_call_all_get_their_own_replies() {
    const CALLS: u32 = 500;
    let name = format!("test-rpc-8-{}", std::process::id());
    let server = Arc::new(
        Server::new(&name)
            .unwrap()
            .handle(1, |r: &[u8]| Ok(r.iter().rev().copied().collect()))
            .handle(2, |r: &[u8]| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(r.to_vec())
            }),
    );
    let stop = Arc::new(AtomicBool::new(false));
    // Two serving threads on one inbox.
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (s, st) = (Arc::clone(&server), Arc::clone(&stop));
            std::thread::spawn(move || s.serve_until(&st, None))
        })
        .collect();
    let start = Instant::now();
    // The victim: its call is in the slow handler when it is killed.
    let mut victim = ChildGuard::spawn(
        Command::new(PEER)
            .args(["rpc-slow", &name])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .unwrap();
    let victim_pid = victim.id();
    let mut line = String::new();
    BufReader::new(victim.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "calling");
    let clients: Vec<_> = (0..8)
        .map(|id| {
            ChildGuard::spawn(
                Command::new(PEER)
                    .args(["rpc-client", &name, &id.to_string(), &CALLS.to_string()])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped()),
            )
            .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    victim.kill().unwrap();
    victim.wait().unwrap();
    for c in clients {
        let out = c.into_inner().wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }
    // The server still answers, in this process too.
    let mut me = Client::connect(&name).unwrap();
    assert_eq!(me.call(1, b"abc", Duration::from_secs(5)).unwrap(), b"cba");
    assert_eq!(
        me.call(77, b"", Duration::from_secs(5)),
        Err(RpcError::MethodNotFound(77))
    );
    // The slow reply to the dead victim was dropped into nothing that lasts.
    let prefix = format!("{name}.reply.{victim_pid}.");
    let deadline = Instant::now() + Duration::from_secs(5);
    while ShmSegment::list()
        .unwrap()
        .iter()
        .any(|e| e.name.starts_with(&prefix))
    {
        assert!(
            Instant::now() < deadline,
            "the killed client's reply mailbox survived"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let stats = server.stats();
    assert!(stats.answered >= u64::from(8 * CALLS) + 2, "{stats:?}");
    eprintln!(
        "8 x {CALLS} calls + 1 killed in {:?}; {stats:?}",
        start.elapsed()
    );
}

#[test]
fn waiting_client_sees_server_dead_once_the_server_inbox_is_removed() {
    // The server's death by SIGKILL (pid known from a reply) is the same
    // check; a server process is not spawned here (no server peer binary).
    let name = format!("test-rpc-dead-{}", std::process::id());
    let server = Server::new(&name)
        .unwrap()
        .handle(1, |r: &[u8]| Ok(r.to_vec()));
    let mut c = Client::connect(&name).unwrap();
    let t = std::thread::spawn(move || {
        server.serve_n(1).unwrap();
        // dropped here: the inbox is unlinked while the client waits
    });
    assert_eq!(c.call(1, b"x", Duration::from_secs(5)).unwrap(), b"x");
    t.join().unwrap();
    let start = Instant::now();
    assert_eq!(
        c.call(1, b"y", Duration::from_secs(10)),
        Err(RpcError::ServerDead)
    );
    assert!(start.elapsed() < Duration::from_secs(1));
}
