//! Fuzz bodies for `kipc_core::mailbox`:
//!
//! - `mailbox_ops`: decodes a geometry and a sequence of sends, receives (with
//!   every selector and buffer size), abandoned sends (a sender dying
//!   mid-send), recoveries and a peer making a READY slot invalid (length
//!   above `max_msg` or priority above 255), runs each on a real region and on
//!   [`crate::mailbox_model`], and panics at the first difference in a result,
//!   a payload, `len()` or `bytes_in_use()`;
//! - `mailbox_garbage`: lays arbitrary bytes (raw, or over a valid header)
//!   out as a region, attaches, and interleaves operations with scribbles on
//!   random words: any result is fine, a panic or a hang is a finding.
//!
//! Both read their input through [`Input`], which yields zeros past the end,
//! so every input decodes and short inputs are not special.

use crate::input::Input;
use crate::mailbox_model::{Mem, Model, RecvOutcome, SendOutcome};
use kipc_core::mailbox::{region_size, Geometry, Region, Selector};
use kipc_core::Error;

/// Largest slot count and message size the targets use (small, so slots
/// and budgets run out often).
const MAX_SLOTS: u32 = 8;
const MAX_MSG: u32 = 32;

fn geometry(input: &mut Input<'_>) -> Geometry {
    let slots = 1 + u32::from(input.u8()) % MAX_SLOTS;
    let max_msg = 1 + u32::from(input.u8()) % MAX_MSG;
    let g = Geometry::new(slots, max_msg);
    let b = input.u8();
    if b & 1 == 0 {
        g
    } else {
        g.with_byte_budget(u64::from(b >> 1) % (g.byte_budget + 1))
    }
}

fn selector(input: &mut Input<'_>) -> Selector {
    let b = input.u8();
    let t = u64::from(b >> 2) % 4;
    match b % 3 {
        0 => Selector::Any,
        1 => Selector::Exact(t),
        _ => Selector::LowestAtMost(t),
    }
}

/// Op bytes from here up make a READY slot invalid (below, they are the
/// other ops modulo 6, so the seed corpus's small op bytes keep their
/// meaning).
const CORRUPT_OP: u8 = 0xf0;

/// Where the layout puts slot `i`'s state word and metadata (the module
/// docs' table; `tests/mailbox.rs` pins it): state words from 640, metadata
/// of 24 bytes (`prio: u32` first, `seq: u64` at 16) from
/// `round_up(640 + 8n, 128)`.
fn state_at(i: usize) -> usize {
    640 + 8 * i
}

fn meta_at(slots: usize, i: usize) -> usize {
    (640 + 8 * slots).div_ceil(128) * 128 + 24 * i
}

/// A peer rewrites the `k`-th READY slot (in index order): a length above
/// `max_msg` in its state word (the tag kept) or a priority above 255 in its
/// metadata; the model drops that message and counts the slot as invalid.
fn corrupt_a_ready_slot(input: &mut Input<'_>, mem: &mut Mem, region: &Region, model: &mut Model) {
    let (k, how) = (usize::from(input.u8()), input.u8());
    let slots = region.capacity();
    let max_msg = region.max_msg() as u64;
    // READY slots still valid (not yet made invalid by an earlier op).
    let ready: Vec<usize> = (0..slots)
        .filter(|&i| {
            let word = mem.peek64(state_at(i));
            let prio = mem.peek64(meta_at(slots, i)) as u32;
            word & 3 == 2 && word >> 2 & ((1 << 30) - 1) <= max_msg && prio <= 255
        })
        .collect();
    if ready.is_empty() {
        return;
    }
    let i = ready[k % ready.len()];
    let seq = mem.peek64(meta_at(slots, i) + 16);
    let word = mem.peek64(state_at(i));
    let old_len = word >> 2 & ((1 << 30) - 1);
    let len = if how & 1 == 0 {
        // An impossible length; 0x7f picks the largest the field holds.
        let len = if how >> 1 == 0x7f {
            (1 << 30) - 1
        } else {
            max_msg + 1 + u64::from(how >> 1) % 4
        };
        mem.poke64(state_at(i), word & !(((1 << 30) - 1) << 2) | len << 2);
        len
    } else {
        mem.poke32(meta_at(slots, i), 256 + u32::from(how >> 1));
        old_len
    };
    assert!(
        model.corrupt(seq, i, len),
        "slot {i} holds seq {seq}, which the model does not"
    );
}

/// Body of the `mailbox_ops` target.
pub fn mailbox_ops(data: &[u8]) {
    let mut input = Input::new(data);
    let g = geometry(&mut input);
    let mut mem = Mem::new(region_size(g.slots, g.max_msg).unwrap());
    // SAFETY: `mem` outlives `region` (declared before it, dropped after).
    let region = unsafe { Region::init(mem.base(), mem.len(), g) }.unwrap();
    let mut model = Model::new(g.slots as usize, g.max_msg as usize, g.byte_budget);
    let max = g.max_msg as usize;
    let mut next_owner = 1000u32;
    let mut counter = 0u8;
    while !input.is_empty() {
        let op = input.u8();
        if op >= CORRUPT_OP {
            corrupt_a_ready_slot(&mut input, &mut mem, &region, &mut model);
            assert_eq!(region.len(), model.len());
            assert_eq!(region.bytes_in_use(), model.bytes_in_use());
            continue;
        }
        match op % 6 {
            0 | 1 => {
                let len = usize::from(input.u8()) % (max + 2);
                let prio = input.u8();
                let mtype = u64::from(input.u8() % 4);
                counter = counter.wrapping_add(1);
                let msg: Vec<u8> = (0..len).map(|i| counter ^ i as u8).collect();
                let real = region.try_send(&msg, prio, mtype, 1);
                let expect = model.send(&msg, prio, mtype);
                match (real, expect) {
                    (Ok(()), SendOutcome::Sent)
                    | (Err(Error::Full), SendOutcome::Full)
                    | (Err(Error::TooLarge { .. }), SendOutcome::TooLarge) => {}
                    (real, expect) => panic!("send {len}: got {real:?}, model {expect:?}"),
                }
            }
            2 | 3 => {
                let sel = selector(&mut input);
                let buf_len = usize::from(input.u8()) % (max + 2);
                let mut buf = vec![0u8; buf_len];
                let real = region.try_recv(sel, 2, &mut buf);
                match (real, model.recv(sel, buf_len)) {
                    (Ok(got), RecvOutcome::Got(m)) => {
                        assert_eq!(
                            (&buf[..got.len], got.prio, got.mtype, got.sender),
                            (m.bytes.as_slice(), m.prio, m.mtype, 1),
                            "receive with {sel:?}"
                        );
                    }
                    (Err(Error::Empty), RecvOutcome::Empty) => {}
                    (Err(Error::TooLarge { len, max }), RecvOutcome::TooLarge(want)) => {
                        assert_eq!((len, max), (want, buf_len));
                    }
                    (Err(Error::Corrupt { .. }), RecvOutcome::Corrupt) => {}
                    (real, expect) => panic!("recv {sel:?}: got {real:?}, model {expect:?}"),
                }
            }
            4 => {
                // A sender claims a slot, writes part of it and dies, or
                // gives up cleanly (drop).
                let len = usize::from(input.u8()) % (max + 1);
                let dies = input.u8() & 1 == 1;
                next_owner += 1;
                let real = region.begin_send(len, next_owner);
                let expect = if dies {
                    model.abandon(len, next_owner)
                } else {
                    match model.abandon(len, next_owner) {
                        SendOutcome::Sent => {
                            model.recover(|o| o == next_owner);
                            SendOutcome::Sent
                        }
                        other => other,
                    }
                };
                match (real, expect) {
                    (Ok(mut slot), SendOutcome::Sent) => {
                        let _ = slot.write_at(0, &vec![0xee; len / 2]);
                        if dies {
                            std::mem::forget(slot);
                        }
                    }
                    (Err(Error::Full), SendOutcome::Full)
                    | (Err(Error::TooLarge { .. }), SendOutcome::TooLarge) => {}
                    (real, expect) => panic!("begin_send {len}: got {real:?}, model {expect:?}"),
                }
            }
            _ => {
                // The host learns that every owner at or below `limit` died.
                let limit = 1000 + u32::from(input.u8()) % 16;
                let is_dead = |o: u32| (1000..=limit).contains(&o);
                assert_eq!(region.recover(is_dead), model.recover(is_dead));
            }
        }
        assert_eq!(region.len(), model.len());
        assert_eq!(region.bytes_in_use(), model.bytes_in_use());
    }
}

/// Runs a few operations of every kind on `region`, checking only what must
/// hold whatever the bytes: no panic, lengths within bounds.
fn exercise(region: &Region, input: &mut Input<'_>, mem: &mut Mem) {
    let mut buf = [0u8; MAX_MSG as usize + 1];
    for _ in 0..8 {
        match input.u8() % 5 {
            0 => {
                let len = usize::from(input.u8()) % buf.len();
                let _ = region.try_send(&buf[..len], input.u8(), u64::from(input.u8()), 1);
            }
            1 => {
                if let Ok(got) = region.try_recv(selector(input), 2, &mut buf) {
                    assert!(got.len <= region.max_msg() && got.len <= buf.len());
                }
            }
            2 => {
                let owner = u32::from(input.u8());
                let _ = region.recover(|o| o == owner || o == 1);
            }
            3 => {
                if let Ok(slot) = region.begin_send(usize::from(input.u8()), 1) {
                    std::mem::forget(slot);
                }
            }
            _ => {
                let at = usize::from(input.u16());
                mem.poke64(at, input.u64());
            }
        }
        assert!(region.len() <= region.capacity());
        let _ = region.bytes_in_use();
    }
}

/// Body of the `mailbox_garbage` target.
pub fn mailbox_garbage(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let mut mem;
    if mode & 1 == 0 {
        // Raw garbage as the whole region.
        let len = usize::from(input.u16()) % 8192;
        mem = Mem::new(len);
        let raw = input.bytes(255);
        mem.fill(0, raw);
        mem.fill(0, &kipc_core::region::MAGIC.to_le_bytes());
        mem.fill(4, &kipc_core::region::LAYOUT_VERSION.to_le_bytes());
        mem.fill(8, &3u32.to_le_bytes()); // kind = mailbox
        let offset = usize::from(input.u8()) * 4;
        mem.fill(offset, input.bytes(64));
        // SAFETY: `mem` outlives the region.
        let attached = unsafe { Region::attach(mem.base(), len.min(mem.len())) };
        if let Ok(region) = attached {
            exercise(&region, &mut input, &mut mem);
        }
    } else {
        // A valid region whose header and arrays are then scribbled on.
        let g = geometry(&mut input);
        mem = Mem::new(region_size(g.slots, g.max_msg).unwrap());
        // SAFETY: `mem` outlives the region.
        let region = unsafe { Region::init(mem.base(), mem.len(), g) }.unwrap();
        while !input.is_empty() {
            let offset = usize::from(input.u16());
            let bytes = input.bytes(16);
            mem.fill(offset % mem.len(), bytes);
            exercise(&region, &mut input, &mut mem);
            // SAFETY: as above.
            if let Ok(again) = unsafe { Region::attach(mem.base(), mem.len()) } {
                exercise(&again, &mut input, &mut mem);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift_inputs(seed: u64, count: usize, max_len: usize, mut f: impl FnMut(&[u8])) {
        let mut x = seed;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..count {
            let len = next() as usize % max_len;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            f(&data);
        }
    }

    #[test]
    fn ops_agree_with_the_model_on_fixed_seed_inputs() {
        xorshift_inputs(0x5eed_0001, 3000, 400, mailbox_ops);
    }

    #[test]
    fn garbage_never_panics_on_fixed_seed_inputs() {
        xorshift_inputs(0x5eed_0002, 3000, 400, mailbox_garbage);
    }
}
