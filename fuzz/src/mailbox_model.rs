//! A reference model of `kipc_core::mailbox` for the `mailbox_ops` target:
//! a plain list of messages, searched the slow obvious way, plus the slots
//! that dead senders left half written.

use kipc_core::mailbox::Selector;
use kipc_core::sync::{AtomicU64, CachePadded, Ordering};

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
        }
    }

    /// Messages ready to receive.
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// `true` if no message is ready.
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Payload bytes held by ready messages and abandoned slots.
    pub fn bytes_in_use(&self) -> u64 {
        let ready: usize = self.msgs.iter().map(|m| m.bytes.len()).sum();
        let dead: usize = self.abandoned.iter().map(|a| a.1).sum();
        (ready + dead) as u64
    }

    /// Whether a `len`-byte message can take a slot now.
    fn admit(&self, len: usize) -> SendOutcome {
        if len > self.max_msg || len as u64 > self.budget {
            SendOutcome::TooLarge
        } else if self.msgs.len() + self.abandoned.len() >= self.slots
            || self.bytes_in_use() + len as u64 > self.budget
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

    /// A receive into a buffer of `buf_len` bytes.
    pub fn recv(&mut self, sel: Selector, buf_len: usize) -> RecvOutcome {
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
