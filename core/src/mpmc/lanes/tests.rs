//! Unit tests of the region form (per-producer lanes).

use super::*;
use std::vec;
use std::vec::Vec;

/// 128-byte aligned private memory standing in for a shared mapping.
#[repr(C, align(128))]
#[derive(Clone, Copy)]
struct Block([u8; 128]);

struct Mem(Vec<Block>);

impl Mem {
    fn new(len: usize) -> Self {
        Mem(vec![Block([0; 128]); len.div_ceil(128)])
    }
    fn ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr().cast()
    }
    fn len(&self) -> usize {
        self.0.len() * 128
    }
}

fn create(mem: &mut Mem, lanes: u32, slots: u32, slot_size: u32) -> Region {
    let len = mem.len();
    // SAFETY: `mem` is aligned, big enough, and outlives the region in each test.
    unsafe { Region::init(mem.ptr(), len, lanes, slots, slot_size) }.unwrap()
}

/// Attaches to test memory.
fn attach(base: *mut u8, len: usize) -> Result<Region, Error> {
    // SAFETY: every caller passes memory owned by its test that stays alive and
    // valid for `len` bytes while the returned handle is used.
    unsafe { Region::attach(base, len) }
}

fn region_with(lanes: u32, slots: u32, slot_size: u32) -> (Mem, Region) {
    let mut mem = Mem::new(region_size(lanes, slots, slot_size).unwrap());
    let region = create(&mut mem, lanes, slots, slot_size);
    (mem, region)
}

fn recv_vec(c: &mut RegionConsumer) -> Result<(Vec<u8>, u32), Error> {
    let mut buf = [0u8; 256];
    c.try_recv(&mut buf)
        .map(|(n, lane)| (buf[..n].to_vec(), lane))
}

#[test]
fn header_layout_is_pinned() {
    assert_eq!(size_of::<Meta>(), 136);
    assert_eq!(size_of::<Header>(), 512);
    assert_eq!(size_of::<Lane>(), 256);
    assert_eq!(size_of::<SlotHeader>(), 8);
    assert_eq!(core::mem::offset_of!(SlotHeader, stamp), 0);
    assert_eq!(core::mem::offset_of!(SlotHeader, len), 4);
    assert_eq!((PAYLOAD_OFFSET, SLOT_ALIGN), (8, 64));
    assert_eq!(core::mem::offset_of!(Meta, lanes), 32);
    assert_eq!(core::mem::offset_of!(Meta, slots_per_lane), 36);
    assert_eq!(core::mem::offset_of!(Meta, slot_size), 40);
    assert_eq!(core::mem::offset_of!(Meta, stride), 44);
    assert_eq!(core::mem::offset_of!(Meta, total_len), 48);
    assert_eq!(core::mem::offset_of!(Meta, producer_seen), 56);
    assert_eq!(core::mem::offset_of!(Meta, consumer_seen), 60);
    assert_eq!(core::mem::offset_of!(Meta, consumers_state), 64);
    assert_eq!(core::mem::offset_of!(Meta, consumer_ids), 72);
    assert_eq!(core::mem::offset_of!(Header, not_empty), 256);
    assert_eq!(core::mem::offset_of!(Header, not_full), 384);
    assert_eq!(core::mem::offset_of!(LaneProducerSide, owner), 8);
    assert_eq!(core::mem::offset_of!(LaneProducerSide, state), 12);
    assert_eq!(core::mem::offset_of!(LaneProducerSide, epoch), 16);
    assert_eq!(core::mem::offset_of!(LaneProducerSide, reserved), 20);
    assert_eq!(size_of::<LaneProducerSide>(), 24);
    assert_eq!(core::mem::offset_of!(Lane, cons), 128);
    let g = geometry(3, 4, 13).unwrap();
    assert_eq!(g.stride, 64);
    assert_eq!(g.slots_off, 512 + 3 * 256);
    assert_eq!(g.total, 512 + 3 * 256 + 12 * 64);
}

#[test]
fn small_messages_share_a_line_with_their_stamp_and_64_bytes_take_two() {
    for (slot_size, stride) in [
        (1, 64),
        (56, 64),
        (57, 128),
        (64, 128),
        (120, 128),
        (121, 192),
    ] {
        assert_eq!(
            geometry(1, 4, slot_size).unwrap().stride,
            stride,
            "{slot_size}"
        );
    }
    // Slots of a 128-byte stride start on a 128-byte boundary (the
    // adjacent-line pair), whatever the number of lanes.
    for lanes in 1..=4 {
        let g = geometry(lanes, 4, 64).unwrap();
        assert_eq!(g.slots_off % 128, 0);
    }
}

#[test]
fn geometry_rejects_unusable_arguments() {
    for (l, s, z) in [(0, 4, 8), (65, 4, 8), (1, 0, 8), (1, 3, 8), (1, 4, 0)] {
        assert!(
            matches!(region_size(l, s, z), Err(Error::InvalidGeometry { .. })),
            "{l} {s} {z}"
        );
    }
    assert!(matches!(
        region_size(64, 1 << 31, u32::MAX - 7),
        Err(Error::InvalidGeometry { .. })
    ));
    assert!(region_size(64, 1 << 4, 1).is_ok());
}

#[test]
fn messages_round_trip_in_fifo_order_per_lane() {
    let (_mem, region) = region_with(2, 4, 32);
    let mut p = region.producer(10).unwrap();
    let mut c = region.consumer(20).unwrap();
    for round in 0..10u8 {
        for i in 0..4u8 {
            p.try_send(&[round, i, 0xAA][..(i as usize % 3) + 1])
                .unwrap();
        }
        assert_eq!(p.try_send(b"x"), Err(Error::Full));
        assert_eq!(region.len(), 4);
        for i in 0..4u8 {
            let (msg, lane) = recv_vec(&mut c).unwrap();
            assert_eq!(lane, p.lane());
            assert_eq!(msg, [round, i, 0xAA][..(i as usize % 3) + 1].to_vec());
        }
        assert_eq!(recv_vec(&mut c), Err(Error::Empty));
    }
}

#[test]
fn send_many_refreshes_a_stale_head_to_send_every_message_that_fits() {
    let (_mem, region) = region_with(1, 4, 8);
    let mut p = region.producer(1).unwrap();
    let mut c = region.consumer(2).unwrap();
    assert_eq!(p.send_many(&[b"1", b"2", b"3"]), Ok(3));
    for _ in 0..3 {
        recv_vec(&mut c).unwrap();
    }
    // The producer's cached head still says 3 used; all 4 slots are free.
    assert_eq!(p.send_many(&[b"4", b"5", b"6", b"7"]), Ok(4));
}

#[test]
fn consumer_scans_lanes_round_robin() {
    let (_mem, region) = region_with(2, 4, 8);
    let mut a = region.producer(1).unwrap();
    let mut b = region.producer(2).unwrap();
    assert_ne!(a.lane(), b.lane());
    assert_eq!(a.send_many(&[b"a1", b"a2", b"a3"]), Ok(3));
    assert_eq!(b.send_many(&[b"b1", b"b2"]), Ok(2));
    let mut c = region.consumer(3).unwrap();
    let got: Vec<Vec<u8>> = (0..5).map(|_| recv_vec(&mut c).unwrap().0).collect();
    assert_eq!(
        got,
        [&b"a1"[..], b"b1", b"a2", b"b2", b"a3"].map(|s| s.to_vec())
    );
}

#[test]
fn too_large_message_is_left_in_place() {
    let (_mem, region) = region_with(1, 4, 8);
    let mut p = region.producer(1).unwrap();
    assert_eq!(p.try_send(&[0; 9]), Err(Error::TooLarge { len: 9, max: 8 }));
    assert_eq!(
        p.send_many(&[&[0; 9], b"ok"]),
        Err(Error::TooLarge { len: 9, max: 8 })
    );
    assert_eq!(p.send_many(&[b"12345678", &[0; 9]]), Ok(1));
    let mut c = region.consumer(2).unwrap();
    let mut small = [0u8; 3];
    assert_eq!(
        c.try_recv(&mut small),
        Err(Error::TooLarge { len: 8, max: 3 })
    );
    assert_eq!(region.len(), 1);
    assert_eq!(recv_vec(&mut c).unwrap().0, b"12345678".to_vec());
}

#[test]
fn peer_dead_only_after_a_producer_attached_and_all_lanes_closed_and_drained() {
    let (_mem, region) = region_with(2, 4, 8);
    let mut c = region.consumer(9).unwrap();
    assert_eq!(recv_vec(&mut c), Err(Error::Empty), "no producer yet");
    let mut p = region.producer(1).unwrap();
    p.try_send(b"last").unwrap();
    p.close();
    assert_eq!(recv_vec(&mut c).unwrap().0, b"last".to_vec());
    assert_eq!(recv_vec(&mut c), Err(Error::PeerDead));
    // A new producer revives the region and continues the closed lane.
    let mut p2 = region.producer(2).unwrap();
    assert_eq!(recv_vec(&mut c), Err(Error::Empty));
    p2.try_send(b"again").unwrap();
    assert_eq!(recv_vec(&mut c).unwrap().0, b"again".to_vec());
}

#[test]
fn dead_producer_stops_only_its_lane_and_its_messages_stay_receivable() {
    let (_mem, region) = region_with(2, 4, 8);
    let mut dying = region.producer(100).unwrap();
    let mut alive = region.producer(200).unwrap();
    dying.try_send(b"d1").unwrap();
    dying.try_send(b"d2").unwrap();
    let dead_lane = dying.lane();
    core::mem::forget(dying); // dies without closing
    let bell = region.not_empty().word().load(Ordering::Relaxed);
    region.mark_lane_dead(dead_lane).unwrap();
    assert_ne!(region.not_empty().word().load(Ordering::Relaxed), bell);
    assert_eq!(region.lane_state(dead_lane), Ok(LaneState::Dead));
    assert_eq!(region.lane_owner(dead_lane), Ok(100));
    // A dead lane is not free for an ordinary claim.
    assert_eq!(region.producer(300).unwrap_err(), Error::NoFreeLane);

    let mut c = region.consumer(1).unwrap();
    let mut got = Vec::new();
    for i in 0..6u8 {
        alive.try_send(&[i]).unwrap_or(());
        while let Ok((m, lane)) = recv_vec(&mut c) {
            got.push((m, lane));
        }
    }
    let dead_msgs: Vec<_> = got.iter().filter(|(_, l)| *l == dead_lane).collect();
    assert_eq!(dead_msgs.len(), 2);
    assert_eq!(dead_msgs[0].0, b"d1".to_vec());
    assert_eq!(dead_msgs[1].0, b"d2".to_vec());
    assert_eq!(got.len(), 8);
    // Still Empty (not PeerDead): the other lane is live.
    assert_eq!(recv_vec(&mut c), Err(Error::Empty));
    drop(alive);
    assert_eq!(recv_vec(&mut c), Err(Error::PeerDead));
}

#[test]
fn reclaimed_lane_continues_after_the_dead_producers_messages() {
    let (_mem, region) = region_with(1, 4, 8);
    let mut old = region.producer(7).unwrap();
    old.try_send(b"o1").unwrap();
    old.try_send(b"o2").unwrap();
    // Not dead yet: cannot reclaim.
    assert_eq!(region.reclaim_lane(0, 7, 8).unwrap_err(), Error::InUse);
    region.mark_lane_dead(0).unwrap();
    // The (falsely) dead producer is fenced off.
    assert_eq!(old.try_send(b"zz"), Err(Error::InUse));
    assert_eq!(region.reclaim_lane(0, 99, 8).unwrap_err(), Error::InUse);
    let mut new = region.reclaim_lane(0, 7, 8).unwrap();
    assert_eq!(region.lane_state(0), Ok(LaneState::Live));
    assert_eq!(region.lane_owner(0), Ok(8));
    assert_eq!(old.try_send(b"zz"), Err(Error::InUse));
    drop(old); // must not close the lane it no longer owns
    assert_eq!(region.lane_owner(0), Ok(8));
    new.try_send(b"n1").unwrap();
    new.try_send(b"n2").unwrap();
    assert_eq!(new.try_send(b"n3"), Err(Error::Full));
    let mut c = region.consumer(1).unwrap();
    for want in [b"o1", b"o2", b"n1", b"n2"] {
        assert_eq!(recv_vec(&mut c).unwrap().0, want.to_vec());
    }
}

#[test]
fn stale_handle_after_reclaim_by_the_same_id_is_refused() {
    let (_mem, region) = region_with(1, 4, 8);
    let mut c = region.consumer(1).unwrap();
    // Reclaim for the same id: the old handle's id owns the lane again.
    let mut old = region.producer(7).unwrap();
    old.try_send(b"o1").unwrap();
    region.mark_lane_dead(0).unwrap();
    let mut new = region.reclaim_lane(0, 7, 7).unwrap();
    assert_eq!(region.lane_owner(0), Ok(7));
    new.try_send(b"n1").unwrap();
    assert_eq!(old.try_send(b"zz"), Err(Error::InUse));
    assert_eq!(old.send_many(&[b"zz"]), Err(Error::InUse));
    drop(old); // must not close the lane it no longer holds
    assert_eq!(region.lane_owner(0), Ok(7));
    assert_eq!(region.lane_state(0), Ok(LaneState::Live));
    new.try_send(b"n2").unwrap();
    for want in [b"o1", b"n1", b"n2"] {
        assert_eq!(recv_vec(&mut c).unwrap().0, want.to_vec());
    }

    // Reclaim, close, then a fresh claim by the same id.
    let stale = new;
    region.mark_lane_dead(0).unwrap();
    let again = region.reclaim_lane(0, 7, 7).unwrap();
    again.close();
    let mut fresh = region.producer(7).unwrap();
    assert_eq!(region.lane_owner(0), Ok(7));
    let mut stale = stale;
    assert_eq!(stale.try_send(b"zz"), Err(Error::InUse));
    fresh.try_send(b"f1").unwrap();
    drop(stale);
    assert_eq!(region.lane_state(0), Ok(LaneState::Live));
    fresh.try_send(b"f2").unwrap();
    for want in [b"f1", b"f2"] {
        assert_eq!(recv_vec(&mut c).unwrap().0, want.to_vec());
    }
    assert_eq!(recv_vec(&mut c), Err(Error::Empty));
}

#[test]
fn producers_get_peer_dead_when_consumers_are_marked_dead() {
    let (_mem, region) = region_with(1, 4, 8);
    let mut p = region.producer(1).unwrap();
    let c = region.consumer(2).unwrap();
    std::mem::forget(c); // consumer process dies
    assert_eq!(region.evict_consumer(2), 1);
    region.mark_consumers_dead();
    assert_eq!(p.try_send(b"x"), Err(Error::PeerDead));
    assert_eq!(p.send_many(&[b"x"]), Err(Error::PeerDead));
    let _c2 = region.consumer(3).unwrap();
    assert_eq!(p.try_send(b"x"), Ok(()));
}

#[test]
fn consumer_records_run_out_with_in_use() {
    let (_mem, region) = region_with(1, 2, 8);
    let all: Vec<_> = (1..=MAX_CONSUMERS as u32)
        .map(|id| region.consumer(id).unwrap())
        .collect();
    assert_eq!(region.consumer(99).unwrap_err(), Error::InUse);
    drop(all);
    assert_eq!(region.consumer_ids(), [0; MAX_CONSUMERS]);
    assert!(region.consumer(0).is_err());
    assert!(region.producer(0).is_err());
}

#[test]
fn two_producer_threads_two_consumer_threads_exactly_once_fifo_per_lane() {
    const PER: u32 = 50_000;
    let (_mem, region) = region_with(4, 16, 16);
    let received = crate::sync::AtomicU32::new(0);
    // A failed assertion in one thread must fail the test, not hang its peers.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let results: Vec<Vec<(u32, u32, u32)>> = std::thread::scope(|s| {
        for id in 1..=2u32 {
            let region = region.clone();
            s.spawn(move || {
                let mut p = region.producer(id).unwrap();
                let mut i = 0;
                while i < PER {
                    // id, sequence, then 0..=4 filler bytes so lengths vary.
                    let mut msg = [0xEEu8; 12];
                    msg[..4].copy_from_slice(&id.to_le_bytes());
                    msg[4..8].copy_from_slice(&i.to_le_bytes());
                    match p.try_send(&msg[..8 + (i as usize % 5)]) {
                        Ok(()) => i += 1,
                        Err(Error::Full) => {
                            assert!(std::time::Instant::now() < deadline, "stalled");
                            std::thread::yield_now()
                        }
                        Err(e) => panic!("send: {e}"),
                    }
                }
            });
        }
        let consumers: Vec<_> = (0..2u32)
            .map(|k| {
                let region = region.clone();
                let received = &received;
                s.spawn(move || {
                    let mut c = region.consumer(100 + k).unwrap();
                    let mut got = Vec::new();
                    let mut buf = [0u8; 16];
                    while received.load(Ordering::Relaxed) < 2 * PER {
                        match c.try_recv(&mut buf) {
                            Ok((n, lane)) => {
                                let id = u32::from_le_bytes(buf[..4].try_into().unwrap());
                                let seq = u32::from_le_bytes(buf[4..8].try_into().unwrap());
                                assert_eq!(n, 8 + seq as usize % 5, "length travels with it");
                                assert!(buf[8..n].iter().all(|&b| b == 0xEE));
                                got.push((id, lane, seq));
                                received.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(Error::Empty) | Err(Error::PeerDead) => {
                                assert!(std::time::Instant::now() < deadline, "stalled");
                                std::thread::yield_now()
                            }
                            Err(e) => panic!("recv: {e}"),
                        }
                    }
                    got
                })
            })
            .collect();
        consumers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Per consumer, each producer's messages arrive in send order.
    for got in &results {
        let mut last = [None::<u32>; 3];
        for &(id, _, seq) in got {
            if let Some(prev) = last[id as usize] {
                assert!(seq > prev, "producer {id} out of order");
            }
            last[id as usize] = Some(seq);
        }
    }
    // Across consumers, every message exactly once, each producer on one lane.
    for id in 1..=2u32 {
        let mut seqs: Vec<u32> = results
            .iter()
            .flatten()
            .filter(|m| m.0 == id)
            .map(|m| m.2)
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..PER).collect::<Vec<_>>(), "exactly once for {id}");
        let lanes: std::collections::BTreeSet<u32> = results
            .iter()
            .flatten()
            .filter(|m| m.0 == id)
            .map(|m| m.1)
            .collect();
        assert_eq!(lanes.len(), 1, "one lane per producer");
    }
}

#[test]
fn attach_validates_everything() {
    let len = region_size(2, 4, 16).unwrap();
    let mut mem = Mem::new(len);
    let base = mem.ptr();
    // SAFETY (all attaches below): `mem` is aligned, `len` bytes long and lives on.
    assert_eq!(attach(base, len).unwrap_err(), Error::Uninitialized);
    assert_eq!(
        attach(base.wrapping_add(8), len - 128).unwrap_err(),
        Error::Misaligned { align: 128 }
    );
    assert!(matches!(
        attach(base, 100),
        Err(Error::RegionTooSmall { .. })
    ));
    let region = create(&mut mem, 2, 4, 16);
    let mut p = region.producer(1).unwrap();
    p.try_send(b"hi").unwrap();
    // Truncated mapping.
    assert_eq!(
        attach(base, len - 1).unwrap_err(),
        Error::RegionTooSmall {
            needed: len,
            got: len - 1
        }
    );
    let attached = attach(base, len).unwrap();
    let mut c = attached.consumer(2).unwrap();
    assert_eq!(recv_vec(&mut c).unwrap().0, b"hi".to_vec());
    drop(c);

    // A peer rewriting geometry cannot make attach accept bigger bounds.
    let meta = region.meta();
    meta.slot_size.store(57, Ordering::Relaxed); // a stride of 128, not 64
    assert!(matches!(attach(base, len), Err(Error::BadLayout { .. })));
    meta.slot_size.store(16, Ordering::Relaxed);
    meta.total_len.store(1 << 40, Ordering::Relaxed);
    assert!(matches!(attach(base, len), Err(Error::BadLayout { .. })));
    meta.total_len.store(len as u64, Ordering::Relaxed);
    meta.lanes.store(0, Ordering::Relaxed);
    assert!(matches!(attach(base, len), Err(Error::BadLayout { .. })));
    meta.lanes.store(2, Ordering::Relaxed);
    meta.slots_per_lane.store(8, Ordering::Relaxed);
    assert!(matches!(attach(base, len), Err(Error::BadLayout { .. })));
    meta.slots_per_lane.store(4, Ordering::Relaxed);
    assert!(attach(base, len).is_ok());
    // ... and an attached handle keeps its own copy of the geometry.
    meta.slot_size.store(u32::MAX, Ordering::Relaxed);
    assert_eq!(attached.slot_size(), 16);
    drop(p);
}

#[test]
fn attach_to_garbage_is_an_error_not_a_crash() {
    let len = 64 * 1024;
    let mut mem = Mem::new(len);
    let base = mem.ptr();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..200 {
        for b in mem.0.iter_mut().flat_map(|b| b.0.iter_mut()) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        if round % 2 == 0 {
            // Half the time, a valid prologue over garbage geometry.
            let p = Prologue::unpublished(Kind::Mpmc, TypeTag::UNTYPED, RegionFlags::empty());
            // SAFETY: aligned, in bounds, exclusively ours.
            unsafe { ptr::write(base.cast::<Prologue>(), p) };
            // SAFETY: as above.
            unsafe { &*base.cast::<Prologue>() }.publish();
        }
        // SAFETY: `mem` is aligned, `len` bytes long and lives on.
        match attach(base, len) {
            Err(Error::BadLayout { .. }) | Err(Error::RegionTooSmall { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
            Ok(region) => {
                // Whatever it says, operating on it must not misbehave.
                let mut buf = [0u8; 64];
                if let Ok(mut c) = region.consumer(1) {
                    for _ in 0..8 {
                        let _ = c.try_recv(&mut buf);
                    }
                }
                if let Ok(mut p) = region.producer(1) {
                    let _ = p.try_send(b"x");
                }
            }
        }
    }
    // SAFETY: as above.
    let mut zero = Mem::new(4096);
    let zlen = zero.len();
    assert_eq!(attach(zero.ptr(), zlen).unwrap_err(), Error::Uninitialized);
}

#[test]
fn scribbled_lane_indices_and_lengths_give_corrupt_not_ub() {
    let (_mem, region) = region_with(2, 4, 8);
    let mut p = region.producer(1).unwrap();
    let mut q = region.producer(2).unwrap();
    let mut c = region.consumer(3).unwrap();
    let lane = region.lane(p.lane());

    // Tail far beyond head.
    lane.prod.tail.store(1_000_000, Ordering::Relaxed);
    assert!(matches!(recv_vec(&mut c), Err(Error::Corrupt { .. })));
    // The other lane keeps flowing.
    q.try_send(b"q").unwrap();
    let mut saw_q = false;
    for _ in 0..3 {
        if let Ok((m, _)) = recv_vec(&mut c) {
            assert_eq!(m, b"q".to_vec());
            saw_q = true;
        }
    }
    assert!(saw_q);

    // Tail behind head by more than a lap (up to a lap behind is a message
    // taken by its stamp before `tail` moved, and reads as empty).
    lane.prod.tail.store(u64::MAX - 4, Ordering::Relaxed);
    let r = (0..2)
        .map(|_| recv_vec(&mut c))
        .find(|r| r.is_err() && *r != Err(Error::Empty));
    assert!(matches!(r, Some(Err(Error::Corrupt { .. }))));

    // The producer rewrites tail with its own on the next send; then a head
    // scribbled ahead of tail gives the producer Corrupt on refresh.
    p.try_send(b"ok").unwrap();
    lane.cons.head.store(1 << 50, Ordering::Relaxed);
    for _ in 0..4 {
        let _ = p.try_send(b"ok");
    }
    assert!(matches!(p.try_send(b"ok"), Err(Error::Corrupt { .. })));

    // A length larger than the slot is consumed and reported once. (Indices
    // reset to the next lap, so the stamps `p` left are from an earlier one.)
    lane.cons.head.store(4, Ordering::Relaxed);
    lane.prod.tail.store(4, Ordering::Relaxed);
    let mut p2 = {
        drop(p);
        region.producer(5).unwrap()
    };
    assert_eq!(p2.lane(), 0);
    p2.try_send(b"bad").unwrap();
    p2.try_send(b"good").unwrap();
    region
        .slot_header(0, 0)
        .len
        .store(u32::MAX, Ordering::Relaxed);
    let mut results = Vec::new();
    for _ in 0..4 {
        results.push(recv_vec(&mut c));
    }
    assert!(results
        .iter()
        .any(|r| matches!(r, Err(Error::Corrupt { .. }))));
    assert!(results.contains(&Ok((b"good".to_vec(), 0))));

    // Garbage in a lane's state word.
    lane.prod.state.store(0xffff_ffff, Ordering::Relaxed);
    assert!(matches!(region.lane_state(0), Err(Error::Corrupt { .. })));
    assert!(region.lane_state(2).is_err());
    assert!(region.mark_lane_dead(2).is_err());
}

#[test]
fn corrupt_free_lane_is_skipped_when_claiming() {
    let (_mem, region) = region_with(2, 4, 8);
    region.lane(0).cons.head.store(999, Ordering::Relaxed);
    let p = region.producer(1).unwrap();
    assert_eq!(p.lane(), 1);
    assert_eq!(region.lane_owner(0), Ok(0), "corrupt lane released again");
    assert!(matches!(region.producer(2), Err(Error::Corrupt { .. })));
}

#[test]
fn a_dead_owner_left_in_a_closed_lane_is_reaped_and_its_lane_reclaimed() {
    use crate::queue::{Queue, Role};
    let (_mem, region) = region_with(1, 4, 16);
    let mut p = region.producer(77).unwrap();
    p.try_send(b"kept").unwrap();
    // Owner 77 dies in the middle of closing (state CLOSED, owner still
    // recorded), as it could while claiming a lane closed before.
    core::mem::forget(p);
    region.lane(0).prod.state.store(CLOSED, Ordering::Release);
    let mut c = region.consumer(1).unwrap();
    let dead_77 = &mut |id: NonZeroU32| id.get() != 77;
    // A live owner is never marked; the dead one is, from CLOSED too.
    assert!(!region.reap(Role::Consumer, 1, &mut |_| true));
    assert!(region.reap(Role::Consumer, 1, dead_77));
    assert_eq!(region.lane_state(0), Ok(LaneState::Dead));
    assert_eq!(recv_vec(&mut c).map(|(m, _)| m), Ok(b"kept".to_vec()));
    assert_eq!(recv_vec(&mut c), Err(Error::PeerDead));
    // And its lane is taken over.
    let mut q = region.claim_producer(78, dead_77).unwrap();
    q.try_send(b"new").unwrap();
    assert_eq!(recv_vec(&mut c).map(|(m, _)| m), Ok(b"new".to_vec()));
}

#[test]
fn a_consumer_that_attaches_after_the_verdict_is_not_marked_dead() {
    let (_mem, region) = region_with(1, 4, 16);
    let mut p = region.producer(1).unwrap();
    let old = region.consumer(5).unwrap();
    // A waiting producer reads the word, then judges consumer 5 dead...
    let seen = region.meta().consumers_state.load(Ordering::Acquire);
    core::mem::forget(old);
    // ...while consumer 6 attaches.
    let _new = region.consumer(6).unwrap();
    region.evict_consumer(5);
    assert!(!region.mark_consumers_dead_from(seen));
    assert_eq!(p.try_send(b"to the live one"), Ok(()));
    // Without a new attach the verdict lands.
    let seen = region.meta().consumers_state.load(Ordering::Acquire);
    assert!(region.mark_consumers_dead_from(seen));
    assert_eq!(p.try_send(b"x"), Err(Error::PeerDead));
}

#[test]
fn a_death_verdict_on_an_old_lane_claim_never_marks_a_newer_one() {
    let (_mem, region) = region_with(1, 4, 16);
    core::mem::forget(region.producer(7).unwrap());
    // A reaper reads the lane's word, then judges owner 7 dead...
    let seen = region.lane(0).prod.state.load(Ordering::Acquire);
    // ...meanwhile someone else marks and reclaims the lane, here for an id
    // equal to the old one (a pid reused), so the owner check alone passes.
    region.mark_lane_dead(0).unwrap();
    let mut fresh = region.reclaim_lane(0, 7, 7).unwrap();
    assert!(!region.mark_lane_dead_from(0, 7, seen));
    assert_eq!(region.lane_state(0), Ok(LaneState::Live));
    assert_eq!(fresh.try_send(b"still mine"), Ok(()));
}

#[test]
fn consumer_takes_a_stamped_message_before_tail_moves() {
    let (_mem, region) = region_with(1, 4, 8);
    let mut p = region.producer(1).unwrap();
    let mut c = region.consumer(2).unwrap();
    p.try_send(b"one").unwrap();
    // As if the producer had stamped the slot and not yet stored `tail`.
    let lane = region.lane(0);
    lane.prod.tail.store(0, Ordering::Relaxed);
    assert_eq!(c.peek_len(), Ok(3));
    assert_eq!(recv_vec(&mut c), Ok((b"one".to_vec(), 0)));
    // `tail` one behind `head` is empty, not corrupt, for every reader.
    assert_eq!(recv_vec(&mut c), Err(Error::Empty));
    assert_eq!(c.peek_len(), Err(Error::Empty));
    assert_eq!(region.len(), 0);
    // The producer dies there: the consumer sees the lane drained and dead.
    core::mem::forget(p);
    region.mark_lane_dead(0).unwrap();
    assert_eq!(recv_vec(&mut c), Err(Error::PeerDead));
    // Its successor finishes the publication instead of overwriting it.
    let mut p = region.reclaim_lane(0, 1, 3).unwrap();
    assert_eq!(lane.prod.tail.load(Ordering::Relaxed), 1);
    p.try_send(b"two").unwrap();
    assert_eq!(recv_vec(&mut c), Ok((b"two".to_vec(), 0)));
    assert_eq!(recv_vec(&mut c), Err(Error::Empty));
}

#[test]
fn a_batch_taken_by_its_stamps_before_tail_moves_is_not_sent_again() {
    let (_mem, region) = region_with(1, 4, 8);
    let mut p = region.producer(1).unwrap();
    let mut c = region.consumer(2).unwrap();
    p.try_send(b"a").unwrap();
    recv_vec(&mut c).unwrap();
    assert_eq!(p.send_many(&[b"b", b"c", b"d"]), Ok(3));
    // The producer died after stamping the batch, before its `tail` store.
    let lane = region.lane(0);
    lane.prod.tail.store(1, Ordering::Relaxed);
    core::mem::forget(p);
    region.mark_lane_dead(0).unwrap();
    // Two of the three are taken by their stamps; `tail` is two behind.
    assert_eq!(recv_vec(&mut c).unwrap().0, b"b".to_vec());
    assert_eq!(recv_vec(&mut c).unwrap().0, b"c".to_vec());
    assert_eq!(region.len(), 0);
    // The successor moves `tail` past all three stamped positions: the
    // third is still delivered once, and nothing is overwritten.
    let mut p = region.reclaim_lane(0, 1, 3).unwrap();
    assert_eq!(lane.prod.tail.load(Ordering::Relaxed), 4);
    assert_eq!(region.len(), 1);
    p.try_send(b"e").unwrap();
    for want in [b"d", b"e"] {
        assert_eq!(recv_vec(&mut c).unwrap().0, want.to_vec());
    }
    assert_eq!(recv_vec(&mut c), Err(Error::Empty));
}

#[test]
fn a_stamp_from_another_lap_is_not_a_message() {
    let (_mem, region) = region_with(1, 2, 8);
    let mut p = region.producer(1).unwrap();
    let mut c = region.consumer(2).unwrap();
    for lap in 0u8..5 {
        p.try_send(&[lap]).unwrap();
        p.try_send(&[lap, lap]).unwrap();
        assert_eq!(recv_vec(&mut c).unwrap().0, [lap].to_vec());
        assert_eq!(recv_vec(&mut c).unwrap().0, [lap, lap].to_vec());
        assert_eq!(recv_vec(&mut c), Err(Error::Empty));
    }
    // `head` is 10; slot 0 holds the stamp of position 8. Neither it nor
    // the stamp of position 12 (a lap ahead) publishes position 10.
    let stamp = &region.slot_header(0, 0).stamp;
    assert_eq!(stamp.load(Ordering::Relaxed), stamp_of(8));
    assert_eq!(recv_vec(&mut c), Err(Error::Empty));
    stamp.store(stamp_of(12), Ordering::Relaxed);
    assert_eq!(recv_vec(&mut c), Err(Error::Empty));
    assert_eq!(c.peek_len(), Err(Error::Empty));
    // Only position 10's own stamp does (over position 8's 1-byte message).
    stamp.store(stamp_of(10), Ordering::Relaxed);
    assert_eq!(c.peek_len(), Ok(1));
}

#[test]
fn a_forged_stamp_reads_early_but_stays_length_checked() {
    let (_mem, region) = region_with(1, 2, 8);
    let mut c = region.consumer(2).unwrap();
    let slot = region.slot_header(0, 0);
    // "Position 0 is published", with a length past the slot.
    slot.stamp.store(stamp_of(0), Ordering::Relaxed);
    slot.len.store(1000, Ordering::Relaxed);
    assert!(matches!(c.peek_len(), Err(Error::Corrupt { .. })));
    assert!(matches!(recv_vec(&mut c), Err(Error::Corrupt { .. })));
    // The bad message was consumed; `tail` (0) is one behind: empty.
    assert_eq!(recv_vec(&mut c), Err(Error::Empty));
    let slot = region.slot_header(0, 1);
    slot.stamp.store(stamp_of(1), Ordering::Relaxed);
    slot.len.store(8, Ordering::Relaxed);
    assert_eq!(recv_vec(&mut c).unwrap().0.len(), 8);
    // Two behind is still within a lap (a batch taken by its stamps) ...
    assert_eq!(recv_vec(&mut c), Err(Error::Empty));
    // A producer attaching now takes the forged stamps for a dead
    // predecessor's publications and continues after them.
    let mut p = region.producer(1).unwrap();
    p.try_send(b"x").unwrap();
    assert_eq!(recv_vec(&mut c).unwrap().0, b"x".to_vec());
}
