//! Helpers for the stress and hostile-peer tests (`tests/shm_stress.rs`,
//! `tests/shm_hostile.rs`) and the `kipc-stress-peer` binary: a small PRNG,
//! variable-length checksummed messages, unique self-unlinking names, scaled
//! counts, and child-process plumbing.

use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Whether the full (slow) counts were asked for with `KIPC_FULL=1`.
pub fn full() -> bool {
    std::env::var_os("KIPC_FULL").is_some_and(|v| !v.is_empty() && v != "0")
}

/// `full_count` under `KIPC_FULL=1`, else `ci_count`.
pub fn scaled<T>(ci_count: T, full_count: T) -> T {
    if full() {
        full_count
    } else {
        ci_count
    }
}

/// xorshift64*: deterministic from a seed, good enough to pick offsets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced by a constant).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// A generator seeded from the clock and the pid.
    pub fn from_entropy() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Self::new(t ^ (u64::from(std::process::id()) << 32))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// FNV-1a over `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Header of a [`encode_big`] message: tag, seq, length.
pub const BIG_HEADER: usize = 16;
/// Shortest [`encode_big`] message: header and checksum.
pub const BIG_MIN_LEN: usize = BIG_HEADER + 8;

/// Length of the big message carrying `seq`, for slots of `max` bytes: a
/// hash of `seq`, so lengths vary from [`BIG_MIN_LEN`] to `max`.
pub fn big_len_for(seq: u64, max: usize) -> usize {
    let span = (max - BIG_MIN_LEN + 1) as u64;
    let h = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 17;
    // Every eighth message is the largest: a long copy to be killed in.
    if seq % 8 == 7 {
        max
    } else {
        BIG_MIN_LEN + (h % span) as usize
    }
}

/// Writes the message (`tag`, `seq`) of [`big_len_for`]`(seq, buf.len())`
/// bytes into `buf`: `tag: u32 | seq: u64 | len: u32 | filler | fnv: u64`.
/// Returns its length.
///
/// # Examples
///
/// ```
/// use kipc_tests::stress::{decode_big, encode_big};
/// let mut buf = vec![0u8; 4096];
/// let n = encode_big(3, 99, &mut buf);
/// assert_eq!(decode_big(&buf[..n]), Ok((3, 99)));
/// buf[n / 2] ^= 0x10;
/// assert!(decode_big(&buf[..n]).is_err());
/// ```
pub fn encode_big(tag: u32, seq: u64, buf: &mut [u8]) -> usize {
    let len = big_len_for(seq, buf.len());
    buf[..4].copy_from_slice(&tag.to_le_bytes());
    buf[4..12].copy_from_slice(&seq.to_le_bytes());
    buf[12..16].copy_from_slice(&(len as u32).to_le_bytes());
    let seed = (seq as u8) ^ (tag as u8).rotate_left(3);
    for (i, b) in buf[BIG_HEADER..len - 8].iter_mut().enumerate() {
        *b = seed.wrapping_add((i as u8).wrapping_mul(13)) ^ (i >> 8) as u8;
    }
    let sum = fnv1a(&buf[..len - 8]);
    buf[len - 8..len].copy_from_slice(&sum.to_le_bytes());
    len
}

/// Checks a message written by [`encode_big`]; returns (`tag`, `seq`).
///
/// # Errors
///
/// What is wrong: a length that differs from the one recorded inside, or a
/// checksum mismatch (a torn or partial copy).
pub fn decode_big(msg: &[u8]) -> Result<(u32, u64), String> {
    let n = msg.len();
    if n < BIG_MIN_LEN {
        return Err(format!("{n}-byte message is shorter than {BIG_MIN_LEN}"));
    }
    let word = |r: std::ops::Range<usize>| {
        let mut b = [0u8; 8];
        b[..r.len()].copy_from_slice(&msg[r]);
        u64::from_le_bytes(b)
    };
    let (tag, seq, len) = (word(0..4) as u32, word(4..12), word(12..16) as usize);
    if len != n {
        return Err(format!("message says {len} bytes, {n} arrived (partial)"));
    }
    if fnv1a(&msg[..n - 8]) != word(n - 8..n) {
        return Err(format!("checksum mismatch in a {n}-byte message (torn)"));
    }
    Ok((tag, seq))
}

/// A unique kipc name (`PREFIX-PID-N`), unlinked when dropped.
#[derive(Debug)]
pub struct Name(pub String);

impl Name {
    /// A fresh name starting with `prefix`.
    pub fn new(prefix: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        Name(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// `/dev/shm/kipc.NAME`.
    pub fn path(&self) -> PathBuf {
        shm_path(&self.0)
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        // Not `ShmRing::unlink`: some tests put non-segments (a directory,
        // a symlink) under the name.
        let p = self.path();
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.is_dir() => {
                let _ = std::fs::remove_dir(&p);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&p);
            }
            Err(_) => {}
        }
    }
}

/// `/dev/shm/kipc.NAME` for any name (not validated).
pub fn shm_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/kipc.{name}"))
}

/// Entries of `/dev/shm` whose names start with `kipc.PREFIX`, sorted.
pub fn shm_entries(prefix: &str) -> Vec<String> {
    let want = format!("kipc.{prefix}");
    let mut v: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(&want))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Waits for `child` up to `limit`; kills it (and returns `None`) if it is
/// still running then.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Min, p50, p90, p99 and max of `v` (sorted in place), formatted.
pub fn distribution(v: &mut [Duration]) -> String {
    if v.is_empty() {
        return "no samples".to_string();
    }
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    format!(
        "n={} min={:?} p50={:?} p90={:?} p99={:?} max={:?}",
        v.len(),
        v[0],
        at(0.5),
        at(0.9),
        at(0.99),
        v[v.len() - 1]
    )
}

/// Whether integer overflow panics in this build (`overflow-checks`): tries
/// an overflowing add on a value the optimiser cannot see.
pub fn overflow_checks_on() -> bool {
    let x = std::hint::black_box(u8::MAX);
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(|| std::hint::black_box(x) + std::hint::black_box(1u8));
    std::panic::set_hook(prev);
    r.is_err()
}
