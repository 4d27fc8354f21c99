//! loom models of the mailbox protocol (`kipc_core::mailbox`): concurrent
//! sends and receives deliver every message exactly once and intact, a
//! receiver that knows both sends finished sees them in priority order, and
//! recovering a dead sender's half-written slot while a receiver scans never
//! delivers the torn message, loses a live one, or leaks budget bytes, and
//! one sender's two messages of one priority, published into slots that
//! straddle a receiver's scan, are never received out of order.
//!
//! Run with `RUSTFLAGS="--cfg kipc_loom" LOOM_MAX_PREEMPTIONS=2 cargo test
//! -p kipc-loom-tests --release --test mailbox`. Adding
//! `--cfg kipc_loom_weaken="mailbox"` (no rescan when the pick is newer than
//! the receive's snapshot of the send counter) must make
//! `one_senders_messages_straddling_a_scan_keep_their_order` fail.
#![cfg(kipc_loom)]

use kipc_core::mailbox::{region_size, Geometry, Region, Selector};
use kipc_core::sync::{AtomicU32, CachePadded, Ordering};
use kipc_core::Error;
use loom::sync::Arc;
use loom::thread;

/// A region and the memory under it (declared after it, so it outlives it).
struct Shared {
    region: Region,
    _mem: Vec<CachePadded<[u8; 128]>>,
    /// Model bookkeeping (a "sends finished" count or a "peer died" flag).
    flag: AtomicU32,
}

fn shared(g: Geometry) -> Arc<Shared> {
    let len = region_size(g.slots, g.max_msg).unwrap();
    let mut mem: Vec<CachePadded<[u8; 128]>> = (0..len.div_ceil(128))
        .map(|_| CachePadded::new([0u8; 128]))
        .collect();
    let base = mem.as_mut_ptr().cast::<u8>();
    // SAFETY: the Vec's heap buffer does not move when the Vec is moved into
    // `Shared`, and it is dropped only after `region`.
    let region = unsafe { Region::init(base, mem.len() * 128, g) }.unwrap();
    Arc::new(Shared {
        region,
        _mem: mem,
        flag: AtomicU32::new(0),
    })
}

/// Receives one message; its metadata must be what the sender wrote, which
/// the models send as `mtype = 10 * prio + len` (loom tracks the metadata
/// atomics, not the payload bytes, so this is what catches a publish that
/// is not ordered).
fn recv(r: &Region, owner: u32) -> Option<(Vec<u8>, u8)> {
    let mut buf = [0u8; 8];
    match r.try_recv(Selector::Any, owner, &mut buf) {
        Ok(got) => {
            assert_eq!(got.mtype, 10 * u64::from(got.prio) + got.len as u64);
            Some((buf[..got.len].to_vec(), got.prio))
        }
        Err(Error::Empty) => None,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn concurrent_sends_and_a_receive_deliver_each_message_once() {
    loom::model(|| {
        let s = shared(Geometry::new(2, 4));
        let a = {
            let s = s.clone();
            thread::spawn(move || s.region.try_send(b"aaaa", 1, 14, 1).unwrap())
        };
        let b = {
            let s = s.clone();
            thread::spawn(move || recv(&s.region, 9))
        };
        s.region.try_send(b"bb", 2, 22, 2).unwrap();
        a.join().unwrap();
        let mut got: Vec<Vec<u8>> = b.join().unwrap().into_iter().map(|m| m.0).collect();
        while let Some((m, _)) = recv(&s.region, 10) {
            got.push(m);
        }
        got.sort();
        assert_eq!(got, [b"aaaa".to_vec(), b"bb".to_vec()]);
        assert_eq!(s.region.bytes_in_use(), 0);
    });
}

#[test]
fn receiver_after_both_sends_sees_priority_order() {
    loom::model(|| {
        let s = shared(Geometry::new(2, 4));
        let senders: Vec<_> = [(b"low!", 1u8), (b"high", 7u8)]
            .into_iter()
            .enumerate()
            .map(|(i, (msg, prio))| {
                let s = s.clone();
                thread::spawn(move || {
                    let mtype = 10 * u64::from(prio) + 4;
                    s.region.try_send(msg, prio, mtype, i as u32 + 1).unwrap();
                    s.flag.fetch_add(1, Ordering::Release);
                })
            })
            .collect();
        // Wait until both sends happened-before us, then receive.
        while s.flag.load(Ordering::Acquire) < 2 {
            thread::yield_now();
        }
        assert_eq!(recv(&s.region, 9), Some((b"high".to_vec(), 7)));
        assert_eq!(recv(&s.region, 9), Some((b"low!".to_vec(), 1)));
        assert_eq!(recv(&s.region, 9), None);
        for t in senders {
            t.join().unwrap();
        }
    });
}

#[test]
fn recovering_a_dead_sender_races_a_live_receiver_safely() {
    const DEAD: u32 = 66;
    loom::model(|| {
        // A budget of 6 bytes: the dead sender's 4 plus the live 2; a leak
        // would show up as `Full` below.
        let s = shared(Geometry::new(2, 4).with_byte_budget(6));
        let dying = {
            let s = s.clone();
            thread::spawn(move || {
                let mut slot = s.region.begin_send(4, DEAD).unwrap();
                slot.write_at(0, b"torn").unwrap();
                core::mem::forget(slot); // the process dies before commit
                                         // The watchdog learns of the death.
                s.flag.store(1, Ordering::Release);
            })
        };
        let watchdog = {
            let s = s.clone();
            thread::spawn(move || {
                if s.flag.load(Ordering::Acquire) == 1 {
                    s.region.recover(|o| o == DEAD)
                } else {
                    0
                }
            })
        };
        // The live side: one send, one receive racing the recovery.
        s.region.try_send(b"ok", 3, 32, 1).unwrap();
        let mut got: Vec<Vec<u8>> = recv(&s.region, 9).into_iter().map(|m| m.0).collect();
        dying.join().unwrap();
        let recovered = watchdog.join().unwrap();
        let recovered = recovered + s.region.recover(|o| o == DEAD);
        assert_eq!(recovered, 1, "the dead slot is recovered exactly once");
        while let Some((m, _)) = recv(&s.region, 9) {
            got.push(m);
        }
        assert_eq!(got, [b"ok".to_vec()]);
        assert_eq!(s.region.bytes_in_use(), 0);
        s.region.try_send(b"full", 0, 4, 1).unwrap();
    });
}

#[test]
fn one_senders_messages_straddling_a_scan_keep_their_order() {
    loom::model(|| {
        // Two slots, scanned 0 then 1; the sender's hint puts its first
        // message in slot 0 and its second in slot 1. A receive that has read
        // slot 0 (empty) before the first publish and reaches slot 1 after
        // the second sees only the second message: it must not take it.
        let s = shared(Geometry::new(2, 4));
        let sender = {
            let s = s.clone();
            thread::spawn(move || {
                s.region.try_send(b"1st", 3, 33, 1).unwrap();
                s.region.try_send(b"2nd", 3, 33, 1).unwrap();
            })
        };
        let first = recv(&s.region, 9);
        if let Some((msg, _)) = &first {
            assert_eq!(msg, b"1st", "the second message overtook the first");
        }
        sender.join().unwrap();
        let mut got: Vec<Vec<u8>> = first.into_iter().map(|m| m.0).collect();
        while let Some((m, _)) = recv(&s.region, 9) {
            got.push(m);
        }
        assert_eq!(got, [b"1st".to_vec(), b"2nd".to_vec()]);
    });
}
