//! A reference model of `kipc_core::mailbox` for the `mailbox_ops` target:
//! a plain list of messages, searched the slow obvious way, plus the slots
//! that dead senders left half written.

use kipc_core::mailbox::Selector;
use kipc_core::sync::{AtomicU32, AtomicU64, CachePadded, Ordering};

/// 128-aligned heap memory to lay a region over.
#[derive(Debug)]
pub struct Mem {
    lines: Vec<CachePadded<[u8; 128]>>,
}

impl Mem {
    /// At least `len` zeroed bytes.
    pub fn new(len: usize) -> Self {
        let lines = (0..len.div_ceil(128).max(1))
            .map(|_| CachePadded::new([0u8; 128]))
            .collect();
        Mem { lines }
    }

    /// The first byte (128-aligned).
    pub fn base(&mut self) -> *mut u8 {
        self.lines.as_mut_ptr().cast()
    }

    /// Usable length in bytes.
    pub fn len(&self) -> usize {
        self.lines.len() * 128
    }

    /// `true` if there are no bytes (never, after `new`).
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Copies `bytes` to `offset` (clipped to the memory), as a peer could.
    pub fn fill(&mut self, offset: usize, bytes: &[u8]) {
        let start = offset.min(self.len());
        let n = bytes.len().min(self.len() - start);
        // SAFETY: `start + n <= len`; no reference into these bytes is held
        // (regions over them use raw pointers and atomics only).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base().add(start), n) };
    }

    /// Loads the `u64` at the 8-aligned offset `offset % len` atomically.
    pub fn peek64(&mut self, offset: usize) -> u64 {
        let at = (offset % self.len()) & !7;
        // SAFETY: in bounds and 8-aligned; an atomic load is what a region
        // over this memory tolerates.
        let word = unsafe { &*self.base().add(at).cast::<AtomicU64>() };
        word.load(Ordering::Relaxed)
    }

    /// Stores `v` atomically at the 4-aligned offset `offset % len`, as a
    /// concurrent peer would.
    pub fn poke32(&mut self, offset: usize, v: u32) {
        let at = (offset % self.len()) & !3;
        // SAFETY: in bounds and 4-aligned; as for `poke64`.
        let word = unsafe { &*self.base().add(at).cast::<AtomicU32>() };
        word.store(v, Ordering::Relaxed);
    }

    /// Stores `v` atomically at the 8-aligned offset `offset % len`, as a
    /// concurrent peer would.
    pub fn poke64(&mut self, offset: usize, v: u64) {
        let at = (offset % self.len()) & !7;
        // SAFETY: in bounds and 8-aligned; an atomic store is what a region
        // over this memory tolerates from a peer.
        let word = unsafe { &*self.base().add(at).cast::<AtomicU64>() };
        word.store(v, Ordering::Relaxed);
    }
}

/// One queued message of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// Priority.
    pub prio: u8,
    /// Send order.
    pub seq: u64,
    /// Type.
    pub mtype: u64,
    /// Payload.
    pub bytes: Vec<u8>,
}

/// What the model says a receive returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecvOutcome {
    /// A message (removed from the model).
    Got(Msg),
    /// Nothing matches.
    Empty,
    /// The chosen message is `len` bytes, longer than the buffer (it stays).
    TooLarge(usize),
    /// A READY slot failed validation; it is freed (the model drops it).
    Corrupt,
}

/// The mailbox, modelled.
#[derive(Debug)]
pub struct Model {
    slots: usize,
    max_msg: usize,
    budget: u64,
    next_seq: u64,
    msgs: Vec<Msg>,
    /// `(owner, len)` of slots dead senders left WRITING.
    abandoned: Vec<(u32, usize)>,
    /// `(slot index, len field)` of READY slots a peer made invalid; a
    /// receive frees the lowest-indexed one (the first its scan meets).
    corrupt: Vec<(usize, u64)>,
}

/// What the model says a send returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued.
    Sent,
    /// No slot or not enough budget.
    Full,
    /// Longer than `min(max_msg, budget)`.
    TooLarge,
}

impl Model {
    /// An empty mailbox of this geometry.
    pub fn new(slots: usize, max_msg: usize, budget: u64) -> Self {
        Model {
            slots,
            max_msg,
            budget,
            next_seq: 0,
            msgs: Vec::new(),
            abandoned: Vec::new(),
            corrupt: Vec::new(),
        }
    }

    /// Slots READY to receive (invalid ones included, as the real `len`).
    pub fn len(&self) -> usize {
        self.msgs.len() + self.corrupt.len()
    }

    /// `true` if no slot is ready.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Payload bytes held by ready messages, abandoned slots and invalid
    /// READY slots (their length field, whatever it says).
    pub fn bytes_in_use(&self) -> u64 {
        let ready: usize = self.msgs.iter().map(|m| m.bytes.len()).sum();
        let dead: usize = self.abandoned.iter().map(|a| a.1).sum();
        let bad: u64 = self.corrupt.iter().map(|c| c.1).sum();
        (ready + dead) as u64 + bad
    }

    /// Whether a `len`-byte message can take a slot now. The budget is
    /// checked only when it binds (below `slots * max_msg`), as the region
    /// does; it matters once an invalid length counts against it.
    fn admit(&self, len: usize) -> SendOutcome {
        let binds = self.budget < (self.slots * self.max_msg) as u64;
        if len > self.max_msg || len as u64 > self.budget {
            SendOutcome::TooLarge
        } else if self.msgs.len() + self.abandoned.len() + self.corrupt.len() >= self.slots
            || (binds && self.bytes_in_use() + len as u64 > self.budget)
        {
            SendOutcome::Full
        } else {
            SendOutcome::Sent
        }
    }

    /// A send.
    pub fn send(&mut self, bytes: &[u8], prio: u8, mtype: u64) -> SendOutcome {
        let outcome = self.admit(bytes.len());
        if outcome == SendOutcome::Sent {
            self.msgs.push(Msg {
                prio,
                seq: self.next_seq,
                mtype,
                bytes: bytes.to_vec(),
            });
            self.next_seq += 1;
        }
        outcome
    }

    /// A sender `owner` claims a slot for `len` bytes and dies.
    pub fn abandon(&mut self, len: usize, owner: u32) -> SendOutcome {
        let outcome = self.admit(len);
        if outcome == SendOutcome::Sent {
            self.abandoned.push((owner, len));
        }
        outcome
    }

    /// Recovery of every slot whose owner `is_dead`; returns the count.
    pub fn recover(&mut self, is_dead: impl Fn(u32) -> bool) -> usize {
        let before = self.abandoned.len();
        self.abandoned.retain(|&(o, _)| !is_dead(o));
        before - self.abandoned.len()
    }

    /// A peer made the READY slot `slot`, which holds the message sent as
    /// number `seq`, invalid; its state word's length field now says `len`.
    /// Returns `false` (and changes nothing) if no such message is queued.
    pub fn corrupt(&mut self, seq: u64, slot: usize, len: u64) -> bool {
        let Some(i) = self.msgs.iter().position(|m| m.seq == seq) else {
            return false;
        };
        self.msgs.remove(i);
        self.corrupt.push((slot, len));
        true
    }

    /// A receive into a buffer of `buf_len` bytes: an invalid READY slot, if
    /// any, is freed and reported whatever the selector.
    pub fn recv(&mut self, sel: Selector, buf_len: usize) -> RecvOutcome {
        if let Some(i) = (0..self.corrupt.len()).min_by_key(|&i| self.corrupt[i].0) {
            self.corrupt.remove(i);
            return RecvOutcome::Corrupt;
        }
        let key = |m: &Msg| {
            let t = match sel {
                Selector::LowestAtMost(_) => m.mtype,
                _ => 0,
            };
            (t, std::cmp::Reverse(m.prio), m.seq)
        };
        let best = self
            .msgs
            .iter()
            .enumerate()
            .filter(|(_, m)| sel.matches(m.mtype))
            .min_by_key(|(_, m)| key(m))
            .map(|(i, _)| i);
        match best {
            None => RecvOutcome::Empty,
            Some(i) if self.msgs[i].bytes.len() > buf_len => {
                RecvOutcome::TooLarge(self.msgs[i].bytes.len())
            }
            Some(i) => RecvOutcome::Got(self.msgs.remove(i)),
        }
    }
}
