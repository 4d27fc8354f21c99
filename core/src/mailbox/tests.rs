use super::region::testing::{meta_offset, META_SIZE};
use super::region::{pack, HEADER_SIZE, READING, READY, WRITING};
use super::*;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, CachePadded, Ordering};
use crate::Error;
use std::collections::{BTreeMap, HashSet};
use std::vec::Vec;

/// 128-aligned heap memory for a region.
struct Mem {
    lines: Vec<CachePadded<[u8; 128]>>,
}

impl Mem {
    fn new(len: usize) -> Self {
        let lines = (0..len.div_ceil(128))
            .map(|_| CachePadded::new([0u8; 128]))
            .collect();
        Mem { lines }
    }
    fn base(&mut self) -> *mut u8 {
        self.lines.as_mut_ptr().cast()
    }
    fn len(&self) -> usize {
        self.lines.len() * 128
    }
    /// Writes a `u32` at a byte offset, as a hostile peer would.
    fn poke32(&mut self, offset: usize, v: u32) {
        assert!(offset + 4 <= self.len());
        let p = self.base().wrapping_add(offset).cast::<AtomicU32>();
        // SAFETY: test memory, in bounds and aligned; atomics tolerate any
        // concurrent access.
        unsafe { &*p }.store(v, Ordering::Relaxed);
    }
    /// Writes a `u64` at a byte offset, as a hostile peer would.
    fn poke64(&mut self, offset: usize, v: u64) {
        assert!(offset + 8 <= self.len());
        let p = self.base().wrapping_add(offset).cast::<AtomicU64>();
        // SAFETY: as for `poke32`.
        unsafe { &*p }.store(v, Ordering::Relaxed);
    }
}

fn fresh_with(g: Geometry) -> (Mem, Region) {
    let len = region_size(g.slots, g.max_msg).unwrap();
    let mut mem = Mem::new(len);
    // SAFETY: `mem` is returned with the region and outlives it in every
    // test (declared first, dropped last).
    let r = unsafe { Region::init(mem.base(), mem.len(), g) }.unwrap();
    (mem, r)
}

fn fresh(slots: u32, max_msg: u32) -> (Mem, Region) {
    fresh_with(Geometry::new(slots, max_msg))
}

fn attach(mem: &mut Mem) -> Result<Region, Error> {
    // SAFETY: test memory outlives the returned region.
    unsafe { Region::attach(mem.base(), mem.len()) }
}

fn state_offset(i: usize) -> usize {
    HEADER_SIZE + 8 * i
}

fn recv(r: &Region, sel: Selector) -> Result<(Vec<u8>, Received), Error> {
    let mut buf = [0u8; 1024];
    let got = r.try_recv(sel, 999, &mut buf)?;
    Ok((buf[..got.len].to_vec(), got))
}

#[test]
fn highest_priority_first_and_fifo_within_a_priority() {
    let (_mem, r) = fresh(8, 8);
    for (msg, prio) in [(b"a1", 1), (b"b5", 5), (b"c1", 1), (b"d5", 5), (b"e0", 0)] {
        r.try_send(msg, prio, 0, 1).unwrap();
    }
    let order: Vec<Vec<u8>> = (0..5).map(|_| recv(&r, Selector::Any).unwrap().0).collect();
    assert_eq!(
        order,
        [b"b5", b"d5", b"a1", b"c1", b"e0"].map(|m| m.to_vec())
    );
    assert_eq!(recv(&r, Selector::Any).unwrap_err(), Error::Empty);
}

#[test]
fn all_256_priority_levels_are_distinct_and_ordered() {
    let (_mem, r) = fresh(256, 4);
    // Send in a scrambled order (multiplication by an odd number permutes).
    for k in 0u32..256 {
        let prio = (k * 37 % 256) as u8;
        r.try_send(&[prio], prio, 0, 1).unwrap();
    }
    for expected in (0..=255u8).rev() {
        let (msg, got) = recv(&r, Selector::Any).unwrap();
        assert_eq!((msg[0], got.prio), (expected, expected));
    }
}

#[test]
fn fifo_holds_after_slots_are_reused_in_any_position() {
    let (_mem, r) = fresh(3, 8);
    let mut next_out = 0u32;
    for i in 0u32..100 {
        r.try_send(&i.to_le_bytes(), 7, 0, 1).unwrap();
        if r.len() == 3 {
            // Drain two, leave one behind, so slots are reused out of order.
            for _ in 0..2 {
                let (m, _) = recv(&r, Selector::Any).unwrap();
                assert_eq!(m, next_out.to_le_bytes());
                next_out += 1;
            }
        }
    }
}

#[test]
fn exact_type_takes_only_that_type_in_priority_then_fifo_order() {
    let (_mem, r) = fresh(8, 8);
    r.try_send(b"t1-p0", 0, 1, 1).unwrap();
    r.try_send(b"t2-p0", 0, 2, 1).unwrap();
    r.try_send(b"t2-p9", 9, 2, 1).unwrap();
    r.try_send(b"t2-p0b", 0, 2, 1).unwrap();
    assert_eq!(recv(&r, Selector::Exact(3)).unwrap_err(), Error::Empty);
    let got: Vec<Vec<u8>> = (0..3)
        .map(|_| recv(&r, Selector::Exact(2)).unwrap().0)
        .collect();
    assert_eq!(
        got,
        [&b"t2-p9"[..], b"t2-p0", b"t2-p0b"].map(|m| m.to_vec())
    );
    assert_eq!(recv(&r, Selector::Exact(2)).unwrap_err(), Error::Empty);
    assert_eq!(recv(&r, Selector::Any).unwrap().1.mtype, 1);
}

#[test]
fn lowest_at_most_follows_sysv_negative_msgtyp() {
    // msgrcv(msgtyp = -t): the first message with the lowest type <= t.
    let (_mem, r) = fresh(8, 8);
    r.try_send(b"t5", 9, 5, 1).unwrap();
    r.try_send(b"t3a", 0, 3, 1).unwrap();
    r.try_send(b"t7", 9, 7, 1).unwrap();
    r.try_send(b"t3b", 4, 3, 1).unwrap();
    r.try_send(b"t3c", 0, 3, 1).unwrap();
    assert_eq!(
        recv(&r, Selector::LowestAtMost(2)).unwrap_err(),
        Error::Empty
    );
    let take = |t| recv(&r, Selector::LowestAtMost(t)).unwrap().0;
    // Lowest type first, then priority, then FIFO; types above t untouched.
    assert_eq!(take(6), b"t3b");
    assert_eq!(take(6), b"t3a");
    assert_eq!(take(6), b"t3c");
    assert_eq!(take(6), b"t5");
    assert_eq!(
        recv(&r, Selector::LowestAtMost(6)).unwrap_err(),
        Error::Empty
    );
    assert_eq!(take(u64::MAX), b"t7");
}

#[test]
fn full_when_every_slot_is_taken_and_free_again_after_a_receive() {
    let (_mem, r) = fresh(3, 8);
    for i in 0..3u8 {
        r.try_send(&[i], 0, 0, 1).unwrap();
    }
    assert_eq!(r.try_send(b"x", 0, 0, 1), Err(Error::Full));
    assert_eq!((r.len(), r.capacity()), (3, 3));
    recv(&r, Selector::Any).unwrap();
    r.try_send(b"x", 0, 0, 1).unwrap();
}

#[test]
fn full_when_the_byte_budget_would_be_exceeded() {
    let (_mem, r) = fresh_with(Geometry::new(8, 10).with_byte_budget(25));
    r.try_send(&[0; 10], 0, 0, 1).unwrap();
    r.try_send(&[0; 10], 0, 0, 1).unwrap();
    assert_eq!(r.bytes_in_use(), 20);
    assert_eq!(r.try_send(&[0; 6], 0, 0, 1), Err(Error::Full));
    // The failed send gave its slot back.
    assert_eq!(r.bytes_in_use(), 20);
    r.try_send(&[0; 5], 0, 0, 1).unwrap();
    assert_eq!(
        r.try_send(&[], 0, 0, 1),
        Ok(()),
        "empty messages cost no bytes"
    );
    recv(&r, Selector::Any).unwrap();
    assert_eq!(r.bytes_in_use(), 15);
    r.try_send(&[0; 10], 0, 0, 1).unwrap();
}

#[test]
fn message_longer_than_max_or_budget_is_too_large() {
    let (_mem, r) = fresh_with(Geometry::new(4, 10).with_byte_budget(6));
    assert_eq!(
        r.try_send(&[0; 11], 0, 0, 1),
        Err(Error::TooLarge { len: 11, max: 6 })
    );
    assert_eq!(
        r.try_send(&[0; 7], 0, 0, 1),
        Err(Error::TooLarge { len: 7, max: 6 })
    );
    assert_eq!(r.try_send(&[0; 6], 0, 0, 1), Ok(()));
}

#[test]
fn empty_mailbox_reports_empty_for_every_selector() {
    let (_mem, r) = fresh(2, 8);
    for sel in [Selector::Any, Selector::Exact(0), Selector::LowestAtMost(9)] {
        assert_eq!(recv(&r, sel).unwrap_err(), Error::Empty);
    }
    assert!(r.is_empty());
}

#[test]
fn recv_into_small_buffer_leaves_message_queued() {
    let (_mem, r) = fresh(2, 16);
    r.try_send(b"0123456789", 3, 4, 5).unwrap();
    assert_eq!(
        r.try_recv(Selector::Any, 1, &mut [0; 4]),
        Err(Error::TooLarge { len: 10, max: 4 })
    );
    assert_eq!(r.len(), 1);
    let mut out = [0; 10];
    let got = r.try_recv(Selector::Any, 1, &mut out).unwrap();
    assert_eq!(
        got,
        Received {
            len: 10,
            prio: 3,
            mtype: 4,
            sender: 5
        }
    );
    assert_eq!(&out, b"0123456789");
}

#[test]
fn slot_counts_need_not_be_powers_of_two() {
    for slots in [1, 3, 5, 7, 100] {
        let (_mem, r) = fresh(slots, 4);
        for i in 0..slots {
            r.try_send(&i.to_le_bytes(), 0, 0, 1).unwrap();
        }
        assert_eq!(r.try_send(b"", 0, 0, 1), Err(Error::Full));
        for i in 0..slots {
            assert_eq!(recv(&r, Selector::Any).unwrap().0, i.to_le_bytes());
        }
    }
}

#[test]
fn invalid_geometry_is_rejected() {
    let mut mem = Mem::new(1 << 16);
    for g in [
        Geometry::new(0, 8),
        Geometry::new(MAX_SLOTS + 1, 8),
        Geometry::new(4, 0),
        Geometry::new(4, MAX_MSG + 1),
        Geometry::new(4, 8).with_byte_budget(33),
    ] {
        // SAFETY: test memory outlives the call.
        let r = unsafe { Region::init(mem.base(), mem.len(), g) };
        assert!(matches!(r, Err(Error::InvalidGeometry { .. })), "{g:?}");
    }
}

#[test]
fn dead_writer_slot_is_freed_and_its_bytes_returned() {
    let (_mem, r) = fresh_with(Geometry::new(2, 8).with_byte_budget(10));
    let mut slot = r.begin_send(8, 41).unwrap();
    slot.write_at(0, b"half").unwrap();
    core::mem::forget(slot); // process 41 dies mid-send
    r.try_send(b"ok", 1, 0, 42).unwrap();
    assert_eq!(r.bytes_in_use(), 10);
    assert_eq!(r.try_send(b"", 0, 0, 42), Err(Error::Full));
    assert_eq!(
        r.recover(|o| o == 42),
        0,
        "live or non-owning ids untouched"
    );
    assert_eq!(r.recover(|o| o == 41), 1);
    assert_eq!(r.recover(|o| o == 41), 0, "recovery is idempotent");
    assert_eq!(r.bytes_in_use(), 2);
    // The half-written message never existed.
    assert_eq!(recv(&r, Selector::Any).unwrap().0, b"ok");
    assert_eq!(recv(&r, Selector::Any).unwrap_err(), Error::Empty);
    r.try_send(&[7; 8], 0, 0, 43).unwrap();
}

#[test]
fn dead_reader_message_is_redelivered_in_its_place() {
    let (mut mem, r) = fresh(4, 8);
    r.try_send(b"first", 5, 0, 1).unwrap();
    r.try_send(b"second", 5, 0, 1).unwrap();
    // Find the slot holding "first" and make it look taken by reader 77
    // who died copying it.
    let first_slot = (0..4)
        .find(|&i| {
            // SAFETY: in bounds of the region's state array.
            let w = unsafe { &*mem.base().add(state_offset(i)).cast::<AtomicU64>() };
            w.load(Ordering::Relaxed) == pack(READY, 5, 0)
        })
        .unwrap();
    mem.poke64(state_offset(first_slot), pack(READING, 5, 77));
    assert_eq!(recv(&r, Selector::Any).unwrap().0, b"second");
    assert_eq!(recv(&r, Selector::Any).unwrap_err(), Error::Empty);
    assert_eq!(r.bytes_in_use(), 5, "a READING slot still holds its bytes");
    assert_eq!(r.recover(|o| o == 77), 1);
    let (msg, got) = recv(&r, Selector::Any).unwrap();
    assert_eq!(
        (msg.as_slice(), got.prio, got.sender),
        (&b"first"[..], 5, 1)
    );
    assert_eq!(r.bytes_in_use(), 0);
}

#[test]
fn sender_recovered_while_alive_cannot_publish() {
    let (_mem, r) = fresh(2, 8);
    let mut slot = r.begin_send(3, 9).unwrap();
    slot.write_at(0, b"abc").unwrap();
    assert_eq!(r.recover(|o| o == 9), 1);
    assert!(matches!(slot.commit(0, 0), Err(Error::Corrupt { .. })));
    assert_eq!(recv(&r, Selector::Any).unwrap_err(), Error::Empty);
}

#[test]
fn abandoned_send_slot_frees_on_drop() {
    let (_mem, r) = fresh(1, 8);
    let slot = r.begin_send(8, 1).unwrap();
    assert_eq!(r.try_send(b"", 0, 0, 1), Err(Error::Full));
    drop(slot);
    assert_eq!(r.bytes_in_use(), 0);
    r.try_send(b"", 0, 0, 1).unwrap();
}

#[test]
fn attach_sees_what_the_creator_sent() {
    let (mut mem, r) = fresh_with(Geometry::new(5, 12).with_byte_budget(40));
    r.try_send(b"hello", 2, 3, 4).unwrap();
    let peer = attach(&mut mem).unwrap();
    assert_eq!(peer.geometry(), Geometry::new(5, 12).with_byte_budget(40));
    assert_eq!(peer.byte_len(), r.byte_len());
    assert_eq!(recv(&peer, Selector::Any).unwrap().0, b"hello");
}

#[test]
fn attach_rejects_zeroed_and_garbage_memory() {
    let mut mem = Mem::new(4096);
    assert_eq!(attach(&mut mem).unwrap_err(), Error::Uninitialized);
    mem.poke32(0, 0xdead_beef);
    assert!(matches!(attach(&mut mem), Err(Error::BadLayout { .. })));
    let mut x = 0x9e37_79b9_u32;
    for offset in (0..4096).step_by(4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        mem.poke32(offset, x);
    }
    assert!(attach(&mut mem).is_err());
}

#[test]
fn attach_rejects_another_kind_of_region() {
    let len = crate::spsc::region_size(4, 8).unwrap();
    let mut mem = Mem::new(len.max(2048));
    // SAFETY: test memory outlives the call.
    unsafe { crate::spsc::Region::init(mem.base(), mem.len(), 4, 8) }.unwrap();
    assert!(matches!(attach(&mut mem), Err(Error::BadLayout { .. })));
}

#[test]
fn attach_rejects_every_inconsistent_header_field() {
    for (offset, value, what) in [
        (32, 0u32, "zero slots"),
        (32, MAX_SLOTS + 1, "too many slots"),
        (32, 5, "slot count not matching offsets"),
        (36, 0, "zero max_msg"),
        (36, 9, "max_msg not matching stride"),
        (40, 33, "budget above slots * max_msg"),
        (44, 1, "budget high half"),
        (48, 16, "stride"),
        (52, 0, "states offset"),
        (56, 0, "meta offset"),
        (60, 0, "payload offset"),
        (64, 1, "total length"),
        (68, 1, "total length high half"),
        (4, 1, "old layout version"),
        (8, 1, "kind"),
        (16, 9, "type size above max_msg"),
        (20, 8, "type alignment of an untyped mailbox"),
        (28, 1, "fingerprint of an untyped mailbox"),
    ] {
        let mut mem = fresh(4, 8).0;
        mem.poke32(offset, value);
        let r = attach(&mut mem);
        assert!(matches!(r, Err(Error::BadLayout { .. })), "{what}: {r:?}");
    }
}

#[test]
fn attach_rejects_truncated_and_misaligned_memory() {
    let mut mem = fresh(4, 8).0;
    let needed = region_size(4, 8).unwrap();
    // SAFETY: a shorter view of live memory.
    let r = unsafe { Region::attach(mem.base(), needed - 1) };
    assert_eq!(
        r.unwrap_err(),
        Error::RegionTooSmall {
            needed,
            got: needed - 1
        }
    );
    // SAFETY: as above.
    let r = unsafe { Region::attach(mem.base(), 100) };
    assert!(matches!(r, Err(Error::RegionTooSmall { .. })));
    // SAFETY: in bounds of live memory; rejected before any access.
    let r = unsafe { Region::attach(mem.base().wrapping_add(8), needed - 8) };
    assert_eq!(r.unwrap_err(), Error::Misaligned { align: 128 });
}

/// The slot holding the only message in `r`.
fn only_used_slot(mem: &mut Mem, slots: usize) -> usize {
    let used: Vec<usize> = (0..slots)
        .filter(|&i| {
            // SAFETY: in bounds of the region's state array.
            let w = unsafe { &*mem.base().add(state_offset(i)).cast::<AtomicU64>() };
            w.load(Ordering::Relaxed) != 0
        })
        .collect();
    assert_eq!(used.len(), 1);
    used[0]
}

#[test]
fn ready_slot_with_impossible_length_is_freed_and_reported_once() {
    let (mut mem, r) = fresh(2, 8);
    r.try_send(b"x", 0, 0, 1).unwrap();
    let bad = only_used_slot(&mut mem, 2);
    // A peer makes it READY with a length above max_msg.
    mem.poke64(state_offset(bad), pack(READY, 9, 0));
    r.try_send(b"good", 1, 7, 1).unwrap();
    // A peek reports it and frees nothing.
    assert!(matches!(
        r.peek_len(Selector::Any),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        r.peek_len(Selector::Any),
        Err(Error::Corrupt { .. })
    ));
    assert_eq!(r.len(), 2);
    // Whatever the selector (even one the slot's type does not match), the
    // first receive that meets the slot frees it and says so, once.
    assert!(matches!(
        recv(&r, Selector::Exact(7)),
        Err(Error::Corrupt { .. })
    ));
    assert_eq!(r.bytes_in_use(), 4, "the bad slot's bytes are returned");
    assert_eq!(recv(&r, Selector::Any).unwrap().0, b"good");
    assert_eq!(recv(&r, Selector::Any).unwrap_err(), Error::Empty);
    // Both slots work again.
    r.try_send(b"a", 0, 0, 1).unwrap();
    r.try_send(b"b", 0, 0, 1).unwrap();
    assert_eq!(recv(&r, Selector::Any).unwrap().0, b"a");
    assert_eq!(recv(&r, Selector::Any).unwrap().0, b"b");
    // The largest length field is handled the same way.
    r.try_send(b"z", 0, 0, 1).unwrap();
    let bad = only_used_slot(&mut mem, 2);
    mem.poke64(
        state_offset(bad),
        pack(READY, (1 << 30) - 1, 0) | u64::MAX << 32,
    );
    assert!(matches!(
        recv(&r, Selector::Any),
        Err(Error::Corrupt { .. })
    ));
    assert_eq!(recv(&r, Selector::Any).unwrap_err(), Error::Empty);
    assert_eq!(r.bytes_in_use(), 0);
}

#[test]
fn ready_slot_with_impossible_priority_is_freed_and_reported_once() {
    let (mut mem, r) = fresh(2, 8);
    r.try_send(b"x", 0, 0, 1).unwrap();
    let bad = only_used_slot(&mut mem, 2);
    r.try_send(b"good", 1, 0, 1).unwrap();
    let prio_at = meta_offset(&r) + bad * META_SIZE;
    mem.poke32(prio_at, 256);
    assert!(matches!(
        recv(&r, Selector::Any),
        Err(Error::Corrupt { .. })
    ));
    assert_eq!(recv(&r, Selector::Any).unwrap().0, b"good");
    assert_eq!(recv(&r, Selector::Any).unwrap_err(), Error::Empty);
    // 255 is a valid priority.
    r.try_send(b"y", 0, 0, 1).unwrap();
    let slot = only_used_slot(&mut mem, 2);
    mem.poke32(meta_offset(&r) + slot * META_SIZE, 255);
    assert_eq!(recv(&r, Selector::Any).unwrap().1.prio, 255);
}

#[test]
fn scribbled_writing_length_only_makes_the_mailbox_look_full_until_recovered() {
    let (mut mem, r) = fresh(2, 8);
    mem.poke64(state_offset(0), pack(WRITING, (1 << 30) - 1, 5));
    assert_eq!(r.bytes_in_use(), (1 << 30) - 1);
    assert_eq!(r.recover(|o| o == 5), 1);
    assert_eq!(r.bytes_in_use(), 0);
}

#[test]
fn random_scribbles_on_states_and_metadata_never_panic() {
    let (mut mem, r) = fresh_with(Geometry::new(8, 16).with_byte_budget(100));
    let meta = meta_offset(&r);
    let mut x = 0x1234_5678_9abc_def0_u64;
    let mut buf = [0u8; 16];
    for round in 0..20_000u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let slot = (x as usize >> 8) % 8;
        match x % 4 {
            0 => mem.poke64(state_offset(slot), x.rotate_left(17)),
            1 => mem.poke32(meta + slot * META_SIZE, (x >> 40) as u32 % 300),
            _ => {}
        }
        let _ = r.try_send(&buf[..(x as usize >> 20) % 17], x as u8, x >> 50, round);
        let sel = match (x >> 30) % 3 {
            0 => Selector::Any,
            1 => Selector::Exact(x >> 62),
            _ => Selector::LowestAtMost(x >> 61),
        };
        if let Ok(got) = r.try_recv(sel, round, &mut buf) {
            assert!(got.len <= 16);
        }
        let _ = r.recover(|o| o % 2 == 0);
        assert!(r.len() <= 8);
        let _ = r.bytes_in_use();
    }
}

#[test]
fn four_senders_two_receivers_exactly_once_with_per_sender_fifo() {
    const SENDERS: u32 = 4;
    const PRIOS: u32 = 4;
    let per_sender = count(50_000, 2_500_000) as u32;
    let (_mem, r) = fresh_with(Geometry::new(16, 12).with_byte_budget(150));
    let total = SENDERS * per_sender;
    let taken = AtomicU32::new(0);
    let stop = AtomicBool::new(false);
    let received: Vec<Vec<(u32, u32, u32)>> = std::thread::scope(|s| {
        for sender in 0..SENDERS {
            let (r, stop) = (&r, &stop);
            s.spawn(move || {
                let _stop = StopOnPanic(stop);
                for k in 0..per_sender {
                    let mut msg = [0u8; 12];
                    msg[..4].copy_from_slice(&sender.to_le_bytes());
                    msg[4..8].copy_from_slice(&k.to_le_bytes());
                    let len = 8 + (k % 5) as usize;
                    msg[8..len].fill(k as u8);
                    let prio = (k % PRIOS) as u8;
                    loop {
                        match r.try_send(&msg[..len], prio, u64::from(sender), 100 + sender) {
                            Ok(()) => break,
                            Err(Error::Full) if stop.load(Ordering::Relaxed) => return,
                            Err(Error::Full) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
        let receivers: Vec<_> = (0..2)
            .map(|id| {
                let (r, taken, stop) = (&r, &taken, &stop);
                s.spawn(move || {
                    let _stop = StopOnPanic(stop);
                    // (sender, prio, k) in the order this receiver took them.
                    let mut log = Vec::new();
                    let mut buf = [0u8; 12];
                    while taken.load(Ordering::Relaxed) < total {
                        match r.try_recv(Selector::Any, 200 + id, &mut buf) {
                            Ok(got) => {
                                let sender = u32::from_le_bytes(buf[..4].try_into().unwrap());
                                let k = u32::from_le_bytes(buf[4..8].try_into().unwrap());
                                assert_eq!(got.len, 8 + (k % 5) as usize);
                                assert!(buf[8..got.len].iter().all(|&b| b == k as u8));
                                assert_eq!(
                                    (got.prio as u32, got.mtype),
                                    (k % PRIOS, sender as u64)
                                );
                                assert_eq!(got.sender, 100 + sender);
                                log.push((sender, k % PRIOS, k));
                                taken.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(Error::Empty) if stop.load(Ordering::Relaxed) => break,
                            Err(Error::Empty) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                    log
                })
            })
            .collect();
        receivers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut seen = HashSet::new();
    for log in &received {
        // FIFO within a sender and priority, as each receiver sees it: no
        // exceptions (the only one is redelivery after a receiver's death).
        let mut last: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        for &(sender, prio, k) in log {
            assert!(
                seen.insert((sender, k)),
                "message {sender}/{k} delivered twice"
            );
            if let Some(prev) = last.insert((sender, prio), k) {
                assert!(
                    prev < k,
                    "sender {sender} prio {prio}: {k} came after {prev}"
                );
            }
        }
    }
    assert_eq!(seen.len(), total as usize);
    assert_eq!(r.bytes_in_use(), 0);
}

/// Sets a flag when its thread panics, so the other threads of a test stop
/// (they check the flag wherever they would wait) instead of waiting for
/// ever on a peer that died.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// `default`, or `full` when `KIPC_FULL=1` (the full-size runs).
fn count(default: u64, full: u64) -> u64 {
    if std::env::var("KIPC_FULL").is_ok_and(|v| v == "1") {
        full
    } else {
        default
    }
}

#[test]
fn one_sender_one_receiver_one_priority_never_see_an_inversion() {
    // A receive scans the slots in order; before per-sender order was
    // enforced, a message published into a slot the scan had passed was
    // overtaken by a later one in a slot ahead. The receiver spins (no
    // yield) so that it keeps up and scans while the sender publishes.
    let n = count(300_000, 10_000_000);
    let (_mem, r) = fresh(64, 8);
    let stop = AtomicBool::new(false);
    let (received, inversions) = std::thread::scope(|s| {
        s.spawn(|| {
            let _stop = StopOnPanic(&stop);
            for k in 0..n {
                loop {
                    match r.try_send(&k.to_le_bytes(), 3, 0, 1) {
                        Ok(()) => break,
                        Err(Error::Full) if stop.load(Ordering::Relaxed) => return,
                        Err(Error::Full) => std::thread::yield_now(),
                        Err(e) => panic!("send {k}: {e}"),
                    }
                }
            }
        });
        let _stop = StopOnPanic(&stop);
        let mut buf = [0u8; 8];
        let (mut received, mut inversions, mut highest) = (0u64, 0u64, None);
        let mut empty = 0u32;
        while received < n {
            match r.try_recv(Selector::Any, 2, &mut buf) {
                Ok(got) => {
                    assert_eq!((got.len, got.prio), (8, 3));
                    let k = u64::from_le_bytes(buf);
                    if highest.is_some_and(|h| k < h) {
                        inversions += 1;
                    }
                    highest = highest.max(Some(k));
                    received += 1;
                }
                Err(Error::Empty) if stop.load(Ordering::Relaxed) => break,
                Err(Error::Empty) => {
                    // Spin, yielding now and then in case the sender shares
                    // our core.
                    empty += 1;
                    if empty % 256 == 0 {
                        std::thread::yield_now();
                    } else {
                        crate::sync::spin_loop();
                    }
                }
                Err(e) => panic!("receive {received}: {e}"),
            }
        }
        (received, inversions)
    });
    assert_eq!(received, n);
    assert_eq!(inversions, 0, "{inversions} of {n} messages overtaken");
    assert!(r.is_empty());
}
