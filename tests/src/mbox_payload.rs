//! Self-checking mailbox messages for the multi-process mailbox tests:
//! `tag: u32, seq: u64, prio: u8` then a filler that is a function of all
//! three and the position, so any torn or mixed-up byte is caught.

/// Shortest message: the 13-byte header.
pub const MIN_LEN: usize = 13;

/// The message that tells a `recv` peer to stop (shorter than any payload).
pub const STOP: &[u8] = b"STOP";

/// The filler byte of a message: one value for the whole body, so that
/// `encode` is a `fill` (fast even in debug builds, which lets the kill test
/// land SIGKILLs inside the copy into shared memory rather than in here).
/// A torn message is a new header over an older message's body, whose seq
/// differs by less than 256 in practice, so its filler differs.
fn filler(tag: u32, seq: u64, prio: u8, _i: usize) -> u8 {
    (seq ^ u64::from(tag).wrapping_mul(131) ^ u64::from(prio).wrapping_mul(17)) as u8
}

/// Fills `buf` (at least [`MIN_LEN`] bytes) with message (`tag`, `seq`, `prio`).
pub fn encode(tag: u32, seq: u64, prio: u8, buf: &mut [u8]) {
    buf[..4].copy_from_slice(&tag.to_le_bytes());
    buf[4..12].copy_from_slice(&seq.to_le_bytes());
    buf[12] = prio;
    buf[MIN_LEN..].fill(filler(tag, seq, prio, 0));
}

/// Checks a message and returns its (`tag`, `seq`, `prio`).
///
/// # Errors
///
/// A message too short, or with a filler byte that does not match.
pub fn check(msg: &[u8]) -> Result<(u32, u64, u8), String> {
    if msg.len() < MIN_LEN {
        return Err(format!("message of {} bytes is too short", msg.len()));
    }
    let tag = u32::from_le_bytes([msg[0], msg[1], msg[2], msg[3]]);
    let mut s = [0u8; 8];
    s.copy_from_slice(&msg[4..12]);
    let seq = u64::from_le_bytes(s);
    let prio = msg[12];
    let want = filler(tag, seq, prio, 0);
    if let Some(i) = msg[MIN_LEN..].iter().position(|&b| b != want) {
        return Err(format!(
            "torn message: tag {tag} seq {seq} byte {}",
            i + MIN_LEN
        ));
    }
    Ok((tag, seq, prio))
}

/// A small xorshift generator (deterministic per seed).
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator; a zero seed is replaced.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next value.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
