//! Fuzz body `spsc_region`: the SPSC region form ([`kipc_core::spsc::Region`])
//! over exactly-sized aligned heap memory, against a model holding a
//! `VecDeque<Vec<u8>>` of queued messages, the payload bytes of every slot,
//! both endpoint records and both doorbells' "sleepers" bits.
//!
//! Encoding: a geometry (slot count code, slot size, how much memory to give
//! `init`), then opcode bytes with their arguments; the input running out
//! ends the run. Invalid geometry and short memory are part of the space:
//! `init` must then fail with the right error.

use std::collections::VecDeque;
use std::num::NonZeroU32;

use kipc_core::queue::{Consumer, Producer, Queue};
use kipc_core::spsc::{region_size, Endpoint, EndpointState, Region, MAX_SLOT_SIZE};
use kipc_core::sync::Ordering;
use kipc_core::Error;

use crate::input::Input;
use crate::support::AlignedBuf;

/// Largest layout the target allocates; bigger valid geometries are given a
/// small buffer and must fail with `RegionTooSmall`.
const MAX_ALLOC: usize = 1 << 16;

#[derive(Debug, Clone, Copy)]
struct Side {
    owner: u32,
    state: EndpointState,
}

impl Side {
    fn check(&self, ep: &Endpoint) {
        assert_eq!(ep.owner().map_or(0, NonZeroU32::get), self.owner);
        assert_eq!(ep.state(), Ok(self.state));
    }
}

struct Model {
    slots: usize,
    slot_size: usize,
    queue: VecDeque<Vec<u8>>,
    /// Payload bytes of each slot, as the region holds them.
    payload: Vec<Vec<u8>>,
    /// Next position the producer fills.
    tail: usize,
    sides: [Side; 2],
    /// Doorbells `not_empty`, `not_full`: has a waiter announced itself?
    sleepers: [bool; 2],
}

const PRODUCER: usize = 0;
const CONSUMER: usize = 1;

impl Model {
    fn send_error(&self, len: usize) -> Option<Error> {
        if len > self.slot_size {
            Some(Error::TooLarge {
                len,
                max: self.slot_size,
            })
        } else if self.sides[PRODUCER].state == EndpointState::Dead {
            // Our own claim was marked dead: the handle is refused.
            Some(Error::InUse)
        } else if self.sides[CONSUMER].state == EndpointState::Dead {
            Some(Error::PeerDead)
        } else if self.queue.len() == self.slots {
            Some(Error::Full)
        } else {
            None
        }
    }

    fn commit(&mut self, msg: Vec<u8>) {
        let slot = self.tail % self.slots;
        self.payload[slot][..msg.len()].copy_from_slice(&msg);
        self.queue.push_back(msg);
        self.tail += 1;
    }

    /// What a receive returns before looking at the queue, if anything.
    fn recv_refused(&self) -> Option<Error> {
        (self.sides[CONSUMER].state == EndpointState::Dead).then_some(Error::InUse)
    }

    fn empty_error(&self) -> Error {
        if self.sides[PRODUCER].state == EndpointState::Dead {
            Error::PeerDead
        } else {
            Error::Empty
        }
    }
}

/// Slot count from a code byte: mostly powers of two 1..=8, sometimes
/// invalid (0, 3, 6) or huge (2^31).
fn slot_count(code: u8) -> u32 {
    match code % 16 {
        12 => 0,
        13 => 3,
        14 => 6,
        15 => 1 << 31,
        c => 1 << (c % 4),
    }
}

/// A message of `len` bytes counting up from `seed`.
fn message(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|k| seed.wrapping_add(k as u8)).collect()
}

/// The target body.
pub fn spsc_region(data: &[u8]) {
    let mut input = Input::new(data);
    let slots = slot_count(input.u8());
    let slot_size = match input.u8() {
        255 => MAX_SLOT_SIZE + 1,
        b => u32::from(b % 40),
    };
    let valid = slots.is_power_of_two() && (1..=MAX_SLOT_SIZE).contains(&slot_size);
    let need = region_size(slots, slot_size);
    assert_eq!(need.is_ok(), valid, "region_size({slots}, {slot_size})");
    let Ok(need) = need else {
        let buf = AlignedBuf::zeroed(4096);
        // SAFETY: `buf` is live, aligned and 4096 bytes long.
        let r = unsafe { Region::init(buf.base(), buf.len(), slots, slot_size) };
        assert!(matches!(r, Err(Error::InvalidGeometry { .. })), "{r:?}");
        return;
    };
    // The layout of the module docs: a 640-byte header, then slots of a
    // stamp, a length word and the payload rounded up to 64 bytes.
    let stride = (8 + slot_size as usize).div_ceil(64) * 64;
    assert_eq!(need, 640 + slots as usize * stride);

    let give = input.u8();
    let len = if need > MAX_ALLOC {
        4096
    } else if give % 8 == 0 {
        need - 1 - usize::from(give / 8) % 64
    } else {
        need + usize::from(give % 64)
    };
    let buf = AlignedBuf::zeroed(len);
    if give == 1 && len > 8 {
        // SAFETY: in bounds of the live buffer; rejected before any access.
        let r = unsafe { Region::init(buf.base().add(8), len - 8, slots, slot_size) };
        assert_eq!(r.unwrap_err(), Error::Misaligned { align: 128 });
    }
    // SAFETY: `buf` is aligned, `len` bytes long, and outlives `region`.
    let r = unsafe { Region::init(buf.base(), len, slots, slot_size) };
    if len < need {
        assert_eq!(
            r.unwrap_err(),
            Error::RegionTooSmall {
                needed: need,
                got: len
            }
        );
        return;
    }
    let mut region = r.expect("valid geometry and enough memory");
    let mut m = Model {
        slots: slots as usize,
        slot_size: slot_size as usize,
        queue: VecDeque::new(),
        payload: vec![vec![0; slot_size as usize]; slots as usize],
        tail: 0,
        sides: [Side {
            owner: 0,
            state: EndpointState::Attached,
        }; 2],
        sleepers: [false; 2],
    };

    'attach: loop {
        assert_eq!(region.capacity(), m.slots);
        assert_eq!(region.slot_size(), m.slot_size);
        assert_eq!(region.byte_len(), need);
        let mut tx = region.producer(1).expect("producer");
        let mut rx = region.consumer(2).expect("consumer");
        m.sides = [
            Side {
                owner: 1,
                state: EndpointState::Attached,
            },
            Side {
                owner: 2,
                state: EndpointState::Attached,
            },
        ];
        while !input.is_empty() {
            match input.u8() % 14 {
                0 | 1 => {
                    let msg = message(usize::from(input.u8()) % (m.slot_size + 4), input.u8());
                    match m.send_error(msg.len()) {
                        Some(e) => assert_eq!(tx.try_send(&msg), Err(e)),
                        None => {
                            assert_eq!(tx.try_send(&msg), Ok(()));
                            m.commit(msg);
                        }
                    }
                }
                2 | 3 => {
                    let mut out = vec![0xee; usize::from(input.u8()) % (m.slot_size + 4)];
                    let got = rx.try_recv(&mut out);
                    match m.queue.front() {
                        _ if m.recv_refused().is_some() => {
                            assert_eq!(got.map_err(Some), Err(m.recv_refused()))
                        }
                        None => assert_eq!(got, Err(m.empty_error())),
                        Some(msg) if msg.len() > out.len() => assert_eq!(
                            got,
                            Err(Error::TooLarge {
                                len: msg.len(),
                                max: out.len()
                            })
                        ),
                        Some(_) => {
                            let msg = m.queue.pop_front().unwrap();
                            assert_eq!(got, Ok(msg.len()));
                            assert_eq!(&out[..msg.len()], &msg[..]);
                        }
                    }
                }
                4 => {
                    let want = match m.recv_refused() {
                        Some(e) => Err(e),
                        None => m.queue.front().map(Vec::len).ok_or(m.empty_error()),
                    };
                    assert_eq!(rx.peek_len(), want);
                }
                5 => {
                    let n = m.queue.len();
                    assert_eq!(tx.len(), Ok(n));
                    assert_eq!(rx.len(), Ok(n));
                    assert_eq!(tx.is_empty(), Ok(n == 0));
                    assert_eq!(rx.is_empty(), Ok(n == 0));
                    assert_eq!((tx.capacity(), rx.capacity()), (m.slots, m.slots));
                    assert_eq!((tx.slot_size(), rx.slot_size()), (m.slot_size, m.slot_size));
                }
                6 => {
                    // In-place send: a few writes, some out of range.
                    let len = usize::from(input.u8()) % (m.slot_size + 4);
                    let writes: Vec<(usize, Vec<u8>)> = (0..input.u8() % 4)
                        .map(|_| {
                            let offset = usize::from(input.u8()) % (len + 2);
                            let n = usize::from(input.u8()) % (len + 2);
                            (offset, message(n, input.u8()))
                        })
                        .collect();
                    let error = m.send_error(len);
                    let mut expect = error
                        .is_none()
                        .then(|| m.payload[m.tail % m.slots][..len].to_vec());
                    let mut called = false;
                    let r = tx.try_send_with(len, |w| {
                        called = true;
                        assert_eq!((w.len(), w.is_empty()), (len, len == 0));
                        let expect = expect.as_mut().expect("fill called only on success");
                        for (offset, bytes) in &writes {
                            let end = offset + bytes.len();
                            if end <= len {
                                assert_eq!(w.write_at(*offset, bytes), Ok(()));
                                expect[*offset..end].copy_from_slice(bytes);
                            } else {
                                assert_eq!(
                                    w.write_at(*offset, bytes),
                                    Err(Error::TooLarge { len: end, max: len })
                                );
                            }
                        }
                    });
                    match error {
                        Some(e) => {
                            assert_eq!(r, Err(e));
                            assert!(!called);
                        }
                        None => {
                            assert_eq!(r, Ok(()));
                            assert!(called);
                            m.commit(expect.take().unwrap());
                        }
                    }
                }
                7 => {
                    // A second claim, from any id, is refused while the
                    // owners are taken for alive.
                    let id = 1 + u32::from(input.u8() % 4);
                    assert_eq!(region.producer(id).unwrap_err(), Error::InUse);
                    assert_eq!(region.consumer(id).unwrap_err(), Error::InUse);
                }
                8 => {
                    // Re-attach through a fresh `Region` value: the ring's
                    // state lives in the memory, not in the handles.
                    drop((tx, rx));
                    // Dropping a handle releases its side and rings both
                    // doorbells for every waiter; `ring_all` leaves the
                    // announce flags, so the model's sleepers stay.
                    // SAFETY: as for `init`: same live buffer.
                    region = unsafe { Region::attach(buf.base(), len) }.expect("re-attach");
                    continue 'attach;
                }
                9 => {
                    let side = usize::from(input.u8() % 2);
                    let bell = [region.not_empty(), region.not_full()];
                    let before = bell.map(|b| b.word().load(Ordering::Relaxed));
                    if side == PRODUCER {
                        region.mark_producer_dead();
                    } else {
                        region.mark_consumer_dead();
                    }
                    m.sides[side].state = EndpointState::Dead;
                    // `ring_all` changed the words but kept the flags.
                    for (b, before) in bell.iter().zip(before) {
                        assert_ne!(b.word().load(Ordering::Relaxed), before);
                    }
                }
                10 => {
                    // Take a side over with a liveness verdict on its owner:
                    // refused while the owner is alive; with a death verdict
                    // the new handle replaces the old, which is then stale.
                    let side = usize::from(input.u8() % 2);
                    let owner_dead = input.u8() % 2 == 0;
                    let new = 3 + u32::from(input.u8() % 2);
                    let old = m.sides[side].owner;
                    // An owner with our own id is us: never taken over.
                    let owner_dead = owner_dead && new != old;
                    let mut verdict = |id: NonZeroU32| !(owner_dead && id.get() == old);
                    if side == PRODUCER {
                        match region.claim_producer(new, &mut verdict) {
                            Ok(p) => {
                                assert!(owner_dead, "a live owner was taken over");
                                assert_eq!(p.id(), new);
                                tx = p;
                            }
                            Err(e) => {
                                assert!(!owner_dead);
                                assert_eq!(e, Error::InUse);
                                continue;
                            }
                        }
                    } else {
                        match region.claim_consumer(new, &mut verdict) {
                            Ok(c) => {
                                assert!(owner_dead, "a live owner was taken over");
                                assert_eq!(Consumer::id(&c), new);
                                rx = c;
                            }
                            Err(e) => {
                                assert!(!owner_dead);
                                assert_eq!(e, Error::InUse);
                                continue;
                            }
                        }
                    }
                    m.sides[side] = Side {
                        owner: new,
                        state: EndpointState::Attached,
                    };
                    // A take-over wakes everyone (flags kept, see above).
                    m.sides[side]
                        .check([region.producer_endpoint(), region.consumer_endpoint()][side]);
                }
                11 => {
                    // A waiter announces itself on a bell (its try failed).
                    let which = usize::from(input.u8() % 2);
                    let bell = [region.not_empty(), region.not_full()][which];
                    assert!(bell.poll(|| None::<()>).is_err());
                    m.sleepers[which] = true;
                }
                12 => {
                    // The other side rings: a wake-up only if announced.
                    let which = usize::from(input.u8() % 2);
                    let bell = [region.not_empty(), region.not_full()][which];
                    assert_eq!(bell.ring().sleepers(), m.sleepers[which]);
                    m.sleepers[which] = false;
                }
                _ => {
                    m.sides[PRODUCER].check(region.producer_endpoint());
                    m.sides[CONSUMER].check(region.consumer_endpoint());
                }
            }
        }
        break;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_inputs_agree_with_the_model() {
        crate::support::random_inputs(0x5245_4731, 2000, 300, spsc_region);
    }

    #[test]
    fn send_recv_wrap_and_too_large() {
        // 2 slots of 8 bytes, exact memory; send 3 (third Full), recv into a
        // short buffer (TooLarge), recv 2, send again (wraps), recv.
        spsc_region(&[
            1, 8, 9, 0, 3, 1, 0, 4, 2, 0, 5, 3, 2, 2, 2, 11, 2, 11, 0, 7, 9, 2, 11, 4, 5,
        ]);
    }
}
