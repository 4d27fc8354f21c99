//! Fuzz body `mpmc_region`: the MPMC region form with per-producer lanes
//! ([`kipc_core::mpmc::Region`]) over exactly-sized aligned heap memory,
//! driven from one thread with several producer and consumer handles
//! interleaved, against a model of every lane (owner, state, FIFO queue),
//! the consumer records and each consumer's round-robin cursor.
//!
//! Encoding: a geometry (lanes, slots per lane, slot size, memory given to
//! `init`), then opcode bytes with their arguments; the input running out
//! ends the run.

use std::collections::VecDeque;

use kipc_core::mpmc::{region_size, LaneState, Region, RegionConsumer, RegionProducer};
use kipc_core::mpmc::{MAX_CONSUMERS, MAX_LANES};
use kipc_core::Error;

use crate::input::Input;
use crate::support::AlignedBuf;

/// Producer and consumer handles the target keeps open at most.
const HANDLES: usize = 4;

#[derive(Debug)]
struct Lane {
    owner: u32,
    /// Claim generation: bumped by every claim and reclaim.
    epoch: u32,
    state: LaneState,
    queue: VecDeque<Vec<u8>>,
}

struct Model {
    slots: usize,
    slot_size: usize,
    lanes: Vec<Lane>,
    producer_seen: bool,
    consumers_dead: bool,
    records: [u32; MAX_CONSUMERS],
}

impl Model {
    fn live(&self) -> bool {
        self.lanes
            .iter()
            .any(|l| l.owner != 0 && l.state != LaneState::Dead)
    }

    /// What `try_send` / `send_many` must report before looking at room.
    fn alive_error(&self, p: &ModelProducer) -> Option<Error> {
        let lane = &self.lanes[p.lane];
        if self.consumers_dead {
            Some(Error::PeerDead)
        } else if lane.owner != p.id || lane.epoch != p.epoch || lane.state == LaneState::Dead {
            Some(Error::InUse)
        } else {
            None
        }
    }

    /// A producer with `id` took `lane`.
    fn open(&mut self, lane: usize, id: u32) -> ModelProducer {
        let l = &mut self.lanes[lane];
        l.owner = id;
        l.epoch = l.epoch.wrapping_add(1);
        l.state = LaneState::Live;
        let epoch = l.epoch;
        self.producer_seen = true;
        ModelProducer { id, lane, epoch }
    }

    /// A producer handle was dropped; a stale one (the lane was claimed
    /// again since, even by its id) leaves the lane alone.
    fn close(&mut self, p: &ModelProducer) {
        let lane = &mut self.lanes[p.lane];
        if lane.owner == p.id && lane.epoch == p.epoch {
            lane.state = LaneState::Closed;
            lane.owner = 0;
        }
    }

    fn check_lanes(&self, region: &Region) {
        for (i, lane) in self.lanes.iter().enumerate() {
            let i = i as u32;
            assert_eq!(region.lane_owner(i), Ok(lane.owner), "lane {i}");
            assert_eq!(region.lane_state(i), Ok(lane.state), "lane {i}");
        }
        let past = self.lanes.len() as u32;
        assert!(matches!(
            region.lane_owner(past),
            Err(Error::InvalidGeometry { .. })
        ));
        assert!(matches!(
            region.lane_state(past),
            Err(Error::InvalidGeometry { .. })
        ));
        let total: usize = self.lanes.iter().map(|l| l.queue.len()).sum();
        assert_eq!(region.len(), total);
        assert_eq!(region.is_empty(), total == 0);
        assert_eq!(region.consumer_ids(), self.records);
    }
}

#[derive(Debug, Clone, Copy)]
struct ModelProducer {
    id: u32,
    lane: usize,
    /// The lane's epoch as this handle's claim left it.
    epoch: u32,
}

struct ModelConsumer {
    id: u32,
    record: usize,
    cursor: usize,
}

/// A message of `len` bytes counting up from `seed`.
fn message(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|k| seed.wrapping_add(k as u8)).collect()
}

/// The target body.
pub fn mpmc_region(data: &[u8]) {
    let mut input = Input::new(data);
    let lanes = match input.u8() % 8 {
        6 => 0,
        7 => MAX_LANES + 1,
        c => 1 + u32::from(c % 4),
    };
    let slots: u32 = match input.u8() % 8 {
        6 => 3,
        7 => 0,
        c => 1 << (c % 3),
    };
    let slot_size = u32::from(input.u8() % 32);
    let valid = (1..=MAX_LANES).contains(&lanes) && slots.is_power_of_two() && slot_size > 0;
    let need = region_size(lanes, slots, slot_size);
    assert_eq!(
        need.is_ok(),
        valid,
        "region_size({lanes}, {slots}, {slot_size})"
    );
    let Ok(need) = need else {
        let buf = AlignedBuf::zeroed(8192);
        // SAFETY: `buf` is live, aligned and 8192 bytes long.
        let r = unsafe { Region::init(buf.base(), buf.len(), lanes, slots, slot_size) };
        assert!(matches!(r, Err(Error::InvalidGeometry { .. })), "{r:?}");
        return;
    };
    let give = input.u8();
    let len = if give % 8 == 0 {
        need - 1 - usize::from(give / 8) % 64
    } else {
        need + usize::from(give % 64)
    };
    let buf = AlignedBuf::zeroed(len);
    // SAFETY: `buf` is aligned, `len` bytes long, and outlives every handle
    // (all are dropped at the end of this function, before `buf`).
    let r = unsafe { Region::init(buf.base(), len, lanes, slots, slot_size) };
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
    assert_eq!(
        (region.lanes(), region.slots_per_lane(), region.slot_size()),
        (lanes, slots, slot_size)
    );
    let mut m = Model {
        slots: slots as usize,
        slot_size: slot_size as usize,
        lanes: (0..lanes)
            .map(|_| Lane {
                owner: 0,
                epoch: 0,
                state: LaneState::Closed,
                queue: VecDeque::new(),
            })
            .collect(),
        producer_seen: false,
        consumers_dead: false,
        records: [0; MAX_CONSUMERS],
    };
    let lanes = lanes as usize;
    let mut producers: Vec<Option<(RegionProducer, ModelProducer)>> =
        (0..HANDLES).map(|_| None).collect();
    let mut consumers: Vec<Option<(RegionConsumer, ModelConsumer)>> =
        (0..HANDLES).map(|_| None).collect();

    while !input.is_empty() {
        let k = usize::from(input.u8()) % HANDLES;
        match input.u8() % 16 {
            0 => {
                // Open a producer (ids 1..=3 may repeat across handles).
                if producers[k].is_some() {
                    continue;
                }
                let id = u32::from(input.u8() % 4);
                let got = region.producer(id);
                if id == 0 {
                    assert!(matches!(got, Err(Error::InvalidGeometry { .. })));
                    continue;
                }
                match m.lanes.iter().position(|l| l.owner == 0) {
                    None => assert_eq!(got.unwrap_err(), Error::NoFreeLane),
                    Some(lane) => {
                        let p = got.expect("a free lane");
                        assert_eq!((p.lane() as usize, p.id()), (lane, id));
                        producers[k] = Some((p, m.open(lane, id)));
                    }
                }
            }
            1 => {
                if let Some((p, mp)) = producers[k].take() {
                    if input.u8() % 2 == 0 {
                        p.close();
                    } else {
                        drop(p);
                    }
                    m.close(&mp);
                }
            }
            2..=4 => {
                let msg = message(usize::from(input.u8()) % (m.slot_size + 3), input.u8());
                let Some((p, mp)) = &mut producers[k] else {
                    continue;
                };
                let want = if msg.len() > m.slot_size {
                    Err(Error::TooLarge {
                        len: msg.len(),
                        max: m.slot_size,
                    })
                } else if let Some(e) = m.alive_error(mp) {
                    Err(e)
                } else if m.lanes[mp.lane].queue.len() == m.slots {
                    Err(Error::Full)
                } else {
                    Ok(())
                };
                assert_eq!(p.try_send(&msg), want);
                if want.is_ok() {
                    m.lanes[mp.lane].queue.push_back(msg);
                }
            }
            5 => {
                let msgs: Vec<Vec<u8>> = (0..input.u8() % 4)
                    .map(|_| message(usize::from(input.u8()) % (m.slot_size + 3), input.u8()))
                    .collect();
                let Some((p, mp)) = &mut producers[k] else {
                    continue;
                };
                let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
                let got = p.send_many(&refs);
                if msgs.is_empty() {
                    assert_eq!(got, Ok(0));
                } else if let Some(e) = m.alive_error(mp) {
                    assert_eq!(got, Err(e));
                } else {
                    let queue = &mut m.lanes[mp.lane].queue;
                    let free = m.slots - queue.len();
                    let fit = msgs
                        .iter()
                        .take(free)
                        .take_while(|msg| msg.len() <= m.slot_size)
                        .count();
                    let sent = match (fit, free) {
                        (0, 0) => {
                            assert_eq!(got, Err(Error::Full));
                            0
                        }
                        (0, _) => {
                            let e = Error::TooLarge {
                                len: msgs[0].len(),
                                max: m.slot_size,
                            };
                            assert_eq!(got, Err(e));
                            0
                        }
                        // Every leading message that fits is sent (the
                        // producer re-reads `head` when its cache shows too
                        // little room for the batch).
                        (n, _) => {
                            let sent = got.expect("send_many of messages that fit");
                            assert_eq!(sent, n, "sent {sent} of {n} that fit");
                            sent
                        }
                    };
                    queue.extend(msgs.into_iter().take(sent));
                }
            }
            6 => {
                // Open a consumer (id 100 + k).
                if consumers[k].is_some() {
                    continue;
                }
                let id = 100 + k as u32;
                let c = region
                    .consumer(id)
                    .expect("at most HANDLES of 16 records taken");
                let record = m.records.iter().position(|&r| r == 0).unwrap();
                m.records[record] = id;
                m.consumers_dead = false;
                assert_eq!(c.id(), id);
                consumers[k] = Some((
                    c,
                    ModelConsumer {
                        id,
                        record,
                        cursor: record % lanes,
                    },
                ));
            }
            7 => {
                if let Some((c, mc)) = consumers[k].take() {
                    drop(c);
                    if m.records[mc.record] == mc.id {
                        m.records[mc.record] = 0;
                    }
                }
            }
            8..=10 => {
                let mut out = vec![0xee; usize::from(input.u8()) % (m.slot_size + 3)];
                let Some((c, mc)) = &mut consumers[k] else {
                    continue;
                };
                let got = c.try_recv(&mut out);
                let mut want = None;
                for step in 0..lanes {
                    let lane = (mc.cursor + step) % lanes;
                    let Some(front) = m.lanes[lane].queue.front() else {
                        continue;
                    };
                    if front.len() > out.len() {
                        want = Some(Err(Error::TooLarge {
                            len: front.len(),
                            max: out.len(),
                        }));
                        mc.cursor = lane;
                    } else {
                        let msg = m.lanes[lane].queue.pop_front().unwrap();
                        assert_eq!(
                            got.map(|(n, _)| &out[..n]),
                            Ok(&msg[..]),
                            "from lane {lane}"
                        );
                        want = Some(Ok((msg.len(), lane as u32)));
                        mc.cursor = (lane + 1) % lanes;
                    }
                    break;
                }
                let want = want.unwrap_or(if !m.producer_seen || m.live() {
                    Err(Error::Empty)
                } else {
                    Err(Error::PeerDead)
                });
                assert_eq!(got, want);
            }
            11 => {
                let lane = usize::from(input.u8()) % (lanes + 1);
                let got = region.mark_lane_dead(lane as u32);
                if lane == lanes {
                    assert!(matches!(got, Err(Error::InvalidGeometry { .. })));
                } else {
                    assert_eq!(got, Ok(()));
                    m.lanes[lane].state = LaneState::Dead;
                }
            }
            12 => {
                let lane = usize::from(input.u8()) % (lanes + 1);
                let dead = u32::from(input.u8() % 4);
                let new = u32::from(input.u8() % 4);
                let got = region.reclaim_lane(lane as u32, dead, new);
                let want = if lane == lanes || new == 0 {
                    assert!(matches!(got, Err(Error::InvalidGeometry { .. })));
                    continue;
                } else if m.lanes[lane].state != LaneState::Dead || m.lanes[lane].owner != dead {
                    Err(Error::InUse)
                } else {
                    Ok((lane as u32, new))
                };
                assert_eq!(
                    got.as_ref().map(|p| (p.lane(), p.id())),
                    want.as_ref().copied()
                );
                if let Ok(p) = got {
                    // The old owner's handles stay open: the claim epoch
                    // changed, so they get `InUse` (even when `new` is their
                    // id, or their id claims the lane again later) and their
                    // drop leaves the lane alone.
                    let mp = m.open(lane, new);
                    match producers[k].is_none() {
                        true => producers[k] = Some((p, mp)),
                        false => {
                            drop(p);
                            m.close(&mp);
                        }
                    }
                }
            }
            13 => {
                region.mark_consumers_dead();
                m.consumers_dead = true;
            }
            14 => {
                let id = 100 + u32::from(input.u8()) % HANDLES as u32;
                let n = m.records.iter().filter(|&&r| r == id).count();
                assert_eq!(region.evict_consumer(id), n);
                m.records
                    .iter_mut()
                    .filter(|r| **r == id)
                    .for_each(|r| *r = 0);
                assert_eq!(region.evict_consumer(0), 0);
            }
            _ => {
                m.check_lanes(&region);
                if input.u8() % 4 == 0 {
                    // A fresh `Region` value over the same memory sees the
                    // same state; old handles keep working.
                    // SAFETY: same live buffer as `init`.
                    region = unsafe { Region::attach(buf.base(), len) }.expect("re-attach");
                    m.check_lanes(&region);
                }
            }
        }
    }
    m.check_lanes(&region);
    drop((producers, consumers, region));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_inputs_agree_with_the_model() {
        crate::support::random_inputs(0x4c41_4e45, 2000, 400, mpmc_region);
    }
}
