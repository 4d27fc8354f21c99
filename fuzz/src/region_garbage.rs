//! Fuzz body `region_garbage`: arbitrary bytes as a region. The peer is
//! untrusted, so attaching to anything and then operating on it, while the
//! "peer" keeps scribbling on the header, the indices and the slots, must
//! never panic, hang or touch memory outside the region: every answer is a
//! value or an error.
//!
//! Encoding: byte 0 is a mode: how to build the region (the raw bytes as
//! they are, or with a valid prologue and a plausible geometry written over
//! them so attach gets further) and whether to attach as SPSC or MPMC; bytes
//! 1..3 give the region's length; the next `length` bytes are its contents;
//! whatever follows drives operations and scribbles.
//!
//! Run the unit tests in a debug build: arithmetic overflow checks and the
//! core's `debug_assert!`s on slot addresses are part of the net.

use kipc_core::region::{probe_kind, Kind, LAYOUT_VERSION, MAGIC};
use kipc_core::{mpmc, spsc};

use crate::input::Input;
use crate::support::AlignedBuf;

/// Largest region the target builds.
const MAX_LEN: usize = 8192;

/// Offsets a hostile peer finds most interesting in normal builds: the
/// prologue (with its type tag), the SPSC geometry, endpoints, `tail`, `head`
/// and bells, slot 0's stamp and length, the MPMC meta words, bells, the
/// first lanes' `tail`/`owner`/`state`/`head`, and slot 0's stamp and length
/// in an MPMC region of 1, 2 or 3 lanes (at `512 + 256 * lanes`).
const HOT: [usize; 33] = [
    0, 4, 8, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 60, 68, 128, 256, 384, 512, 520, 524, 640,
    644, 768, 772, 776, 780, 896, 1024, 1028, 1032, 1280, 1284,
];

/// The target body.
pub fn region_garbage(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let len = usize::from(input.u16()) % (MAX_LEN + 1);
    let contents: Vec<u8> = (0..len).map(|_| input.u8()).collect();
    let buf = AlignedBuf::from_bytes(&contents);
    let spsc_kind = mode & 1 == 0;
    if mode & 2 != 0 {
        // Get past the prologue checks.
        buf.scribble(0, MAGIC);
        buf.scribble(4, LAYOUT_VERSION);
        let kind = if spsc_kind { Kind::Spsc } else { Kind::Mpmc };
        buf.scribble(8, kind.to_u32());
    }
    if mode & 4 != 0 {
        plausible_geometry(&buf, spsc_kind, &mut input);
    }
    // SAFETY: `buf` is live and `len` bytes long (for `len == 0` the base is
    // still a valid, aligned allocation and nothing is read).
    let _ = unsafe { probe_kind(buf.base(), len) };
    if spsc_kind {
        drive_spsc(&buf, &mut input);
    } else {
        drive_mpmc(&buf, &mut input);
    }
}

/// Writes a self-consistent geometry (from the input) over the header, so
/// that attach often succeeds on otherwise random bytes.
fn plausible_geometry(buf: &AlignedBuf, spsc_kind: bool, input: &mut Input<'_>) {
    let slots = 1u32 << (input.u8() % 4);
    let slot_size = 1 + u32::from(input.u8() % 64);
    // An untyped tag (a typed one is only more for attach to check).
    for offset in [16, 20, 24, 28] {
        buf.scribble(offset, 0);
    }
    if spsc_kind {
        let Ok(total) = spsc::region_size(slots, slot_size) else {
            return;
        };
        buf.scribble(32, slots);
        buf.scribble(36, slot_size);
        buf.scribble(40, (8 + slot_size).div_ceil(64) * 64);
        buf.scribble(44, 640);
        buf.scribble(48, total as u32);
        buf.scribble(52, 0);
        // Endpoints attached and unowned, `tail == head` somewhere.
        for offset in [56, 60, 64, 68] {
            buf.scribble(offset, 0);
        }
        let pos = input.u32();
        buf.scribble(128, pos);
        buf.scribble(256, pos);
    } else {
        let lanes = 1 + u32::from(input.u8() % 3);
        let Ok(total) = mpmc::region_size(lanes, slots, slot_size) else {
            return;
        };
        buf.scribble(32, lanes);
        buf.scribble(36, slots);
        buf.scribble(40, slot_size);
        buf.scribble(44, (8 + slot_size).div_ceil(64) * 64);
        buf.scribble(48, total as u32);
        buf.scribble(52, 0);
        // Consumers open with free records; every lane closed, unowned and
        // empty at some position.
        for offset in (56..136).step_by(4) {
            buf.scribble(offset, 0);
        }
        let pos = input.u32();
        for lane in 0..lanes as usize {
            let record = 512 + 256 * lane;
            buf.scribble(record, pos);
            buf.scribble(record + 4, 0);
            buf.scribble(record + 8, 0);
            buf.scribble(record + 12, 1);
            buf.scribble(record + 128, pos);
            buf.scribble(record + 132, 0);
        }
    }
}

/// The peer writes a word somewhere: a hot offset or anywhere.
fn scribble(buf: &AlignedBuf, input: &mut Input<'_>) {
    let at = input.u16();
    let value = match input.u8() % 4 {
        0 => 0,
        1 => u32::MAX,
        2 => u32::from(input.u8()),
        _ => input.u32(),
    };
    let offset = if at & 1 == 0 {
        HOT[usize::from(at >> 1) % HOT.len()]
    } else {
        usize::from(at >> 1)
    };
    buf.scribble(offset, value);
}

fn drive_spsc(buf: &AlignedBuf, input: &mut Input<'_>) {
    // SAFETY: `buf` is live and `len` bytes long for the whole function.
    let Ok(region) = (unsafe { spsc::Region::attach(buf.base(), buf.len()) }) else {
        return;
    };
    let slot_size = region.slot_size();
    assert!(region.byte_len() <= buf.len());
    let mut tx = region.producer(1).ok();
    let mut rx = region.consumer(2).ok();
    let mut out = vec![0u8; slot_size + 8];
    while !input.is_empty() {
        match input.u8() % 8 {
            0 => {
                let n = usize::from(input.u8()) % (slot_size + 3);
                if let Some(tx) = &mut tx {
                    let _ = tx.try_send(&out[..n.min(out.len())]);
                }
            }
            1 => {
                let n = usize::from(input.u8()) % (slot_size + 3);
                if let Some(tx) = &mut tx {
                    let _ = tx.try_send_with(n, |w| {
                        let _ = w.write_at(n / 2, &[0xab; 3]);
                    });
                }
            }
            2 => {
                let n = usize::from(input.u8()) % out.len();
                if let Some(rx) = &mut rx {
                    if let Ok(got) = rx.try_recv(&mut out[..n]) {
                        assert!(got <= n && got <= slot_size);
                    }
                }
            }
            3 => {
                if let Some(rx) = &mut rx {
                    if let Ok(n) = rx.peek_len() {
                        assert!(n <= slot_size);
                    }
                    if let Ok(n) = rx.len() {
                        assert!(n <= region.capacity());
                    }
                }
                if let Some(tx) = &tx {
                    if let Ok(n) = tx.len() {
                        assert!(n <= region.capacity());
                    }
                }
            }
            4 => {
                let _ = region.producer_endpoint().state();
                let _ = region.consumer_endpoint().state();
                let _ = region.not_empty().ring();
                let _ = region.not_full().poll(|| None::<()>);
                if input.u8() % 8 == 0 {
                    region.mark_producer_dead();
                }
            }
            5 => {
                // Handles re-read the shared indices when taken again.
                drop((tx.take(), rx.take()));
                tx = region.producer(1).ok();
                rx = region.consumer(2).ok();
            }
            _ => scribble(buf, input),
        }
    }
}

fn drive_mpmc(buf: &AlignedBuf, input: &mut Input<'_>) {
    // SAFETY: `buf` is live and `len` bytes long for the whole function, and
    // every handle is dropped before it returns.
    let Ok(region) = (unsafe { mpmc::Region::attach(buf.base(), buf.len()) }) else {
        return;
    };
    let slot_size = region.slot_size() as usize;
    let lanes = region.lanes();
    let mut producers: Vec<mpmc::RegionProducer> = Vec::new();
    let mut consumer = region.consumer(1).ok();
    let mut out = vec![0u8; slot_size + 8];
    while !input.is_empty() {
        match input.u8() % 9 {
            0 => {
                if producers.len() < 3 {
                    if let Ok(p) = region.producer(1 + u32::from(input.u8() % 4)) {
                        assert!(p.lane() < lanes);
                        producers.push(p);
                    }
                }
            }
            1 | 2 => {
                let n = usize::from(input.u8()) % (slot_size + 3);
                let k = usize::from(input.u8());
                if let Some(p) = producers.get_mut(k % 3) {
                    let msg = &out[..n.min(out.len())];
                    if k & 0x80 == 0 {
                        let _ = p.try_send(msg);
                    } else {
                        let _ = p.send_many(&[msg, msg]);
                    }
                }
            }
            3 | 4 => {
                let n = usize::from(input.u8()) % out.len();
                if let Some(c) = &mut consumer {
                    if let Ok((got, lane)) = c.try_recv(&mut out[..n]) {
                        assert!(got <= n && got <= slot_size && lane < lanes);
                    }
                }
            }
            5 => {
                let lane = u32::from(input.u8());
                let _ = region.lane_owner(lane);
                let _ = region.lane_state(lane);
                let _ = region.len();
                let _ = region.consumer_ids();
                match input.u8() % 8 {
                    0 => drop(region.mark_lane_dead(lane % (lanes + 1))),
                    1 => {
                        if let Ok(p) = region.reclaim_lane(lane % lanes, 1, 9) {
                            producers.push(p);
                        }
                    }
                    2 => region.mark_consumers_dead(),
                    3 => drop(region.evict_consumer(1)),
                    _ => {}
                }
            }
            6 => {
                if !producers.is_empty() {
                    let k = usize::from(input.u8()) % producers.len();
                    producers.swap_remove(k);
                }
                drop(consumer.take());
                consumer = region.consumer(1 + u32::from(input.u8() % 2)).ok();
            }
            _ => scribble(buf, input),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_inputs_never_panic() {
        crate::support::random_inputs(0x4741_5242, 2000, 1200, region_garbage);
    }

    /// Random inputs forced through the "valid prologue and geometry" modes,
    /// so most of them attach and reach the operations.
    fn attached_mode(data: &[u8]) {
        let mut v = data.to_vec();
        if v.len() >= 3 {
            v[0] |= 6;
            // A region of 1024..2047 bytes: room for small geometries.
            v[2] = 4 | (v[2] & 3);
        }
        region_garbage(&v);
    }

    #[test]
    fn random_attached_regions_never_panic() {
        crate::support::random_inputs(0x4741_5243, 2000, 1600, attached_mode);
    }
}
