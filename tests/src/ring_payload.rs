//! Self-checking ring messages for the multi-process ring tests, shared by the
//! `kipc-ring-peer` binary and `tests/shm_ring.rs`.
//!
//! A message is `tag: u32 | seq: u64 | filler | checksum: u64` (little-endian),
//! between [`MIN_LEN`] and [`MAX_LEN`] bytes long depending on `seq`. The
//! filler is derived from `seq`, and the checksum (FNV-1a) covers everything
//! before it, so a torn, truncated or mixed-up message fails [`decode`].

/// Shortest message: tag, seq and checksum.
pub const MIN_LEN: usize = 20;
/// Longest message; rings used with these messages need this slot size.
pub const MAX_LEN: usize = 64;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Length of the message carrying `seq`.
pub fn len_for(seq: u64) -> usize {
    MIN_LEN + (seq % (MAX_LEN - MIN_LEN + 1) as u64) as usize
}

/// Writes the message (`tag`, `seq`) into `buf` (at least [`MAX_LEN`] bytes)
/// and returns its length.
///
/// # Examples
///
/// ```
/// use kipc_tests::ring_payload::{decode, encode, MAX_LEN};
/// let mut buf = [0u8; MAX_LEN];
/// let n = encode(7, 12345, &mut buf);
/// assert_eq!(decode(&buf[..n]), Ok((7, 12345)));
/// buf[MAX_LEN / 2 % n] ^= 1;
/// assert!(decode(&buf[..n]).is_err());
/// ```
pub fn encode(tag: u32, seq: u64, buf: &mut [u8; MAX_LEN]) -> usize {
    let len = len_for(seq);
    buf[..4].copy_from_slice(&tag.to_le_bytes());
    buf[4..12].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in buf[12..len - 8].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    let sum = fnv1a(&buf[..len - 8]);
    buf[len - 8..len].copy_from_slice(&sum.to_le_bytes());
    len
}

/// Checks a received message; returns its (`tag`, `seq`).
///
/// # Errors
///
/// A description of what is wrong (length, checksum, filler).
pub fn decode(msg: &[u8]) -> Result<(u32, u64), String> {
    if msg.len() < MIN_LEN || msg.len() > MAX_LEN {
        return Err(format!("bad length {}", msg.len()));
    }
    let n = msg.len();
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&msg[n - 8..]);
    if fnv1a(&msg[..n - 8]) != u64::from_le_bytes(sum) {
        return Err(format!("checksum mismatch in a {n}-byte message"));
    }
    let mut tag = [0u8; 4];
    tag.copy_from_slice(&msg[..4]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&msg[4..12]);
    let (tag, seq) = (u32::from_le_bytes(tag), u64::from_le_bytes(seq));
    if len_for(seq) != n {
        return Err(format!(
            "seq {seq} has length {n}, expected {}",
            len_for(seq)
        ));
    }
    Ok((tag, seq))
}

/// What one consumer saw from one producer: enough to prove, summed over
/// consumers, that each seq in `0..n` arrived exactly once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages received.
    pub count: u64,
    /// Sum of their seqs.
    pub sum: u128,
    /// Sum of the squares of their seqs.
    pub sum_sq: u128,
    /// Last seq received (seqs from one producer must increase).
    pub last: Option<u64>,
}

impl Tally {
    /// Records `seq`.
    ///
    /// # Errors
    ///
    /// If `seq` is not larger than the previous one (reordered or duplicated).
    pub fn add(&mut self, seq: u64) -> Result<(), String> {
        if self.last.is_some_and(|l| seq <= l) {
            return Err(format!("seq {seq} after {:?}", self.last));
        }
        self.last = Some(seq);
        self.count += 1;
        self.sum += u128::from(seq);
        self.sum_sq += u128::from(seq) * u128::from(seq);
        Ok(())
    }

    /// The tally of exactly the seqs `0..n`.
    pub fn expected(n: u64) -> (u64, u128, u128) {
        let n128 = u128::from(n);
        let sum = n128 * n128.saturating_sub(1) / 2;
        let sum_sq = if n == 0 {
            0
        } else {
            (n128 - 1) * n128 * (2 * n128 - 1) / 6
        };
        (n, sum, sum_sq)
    }
}
