//! Round-trip histograms (HdrHistogram, 3 significant figures) and the
//! summary figures the report prints.

use hdrhistogram::Histogram;

/// Highest round trip the histogram records: 60 s, in ns. Longer ones are
/// clamped to it (a bench that slow has other problems).
const MAX_NS: u64 = 60_000_000_000;

/// Round-trip times in nanoseconds.
#[derive(Debug)]
pub struct Rtt {
    hist: Histogram<u64>,
}

impl Default for Rtt {
    fn default() -> Self {
        Self::new()
    }
}

impl Rtt {
    /// An empty histogram from 1 ns to 60 s at 3 significant figures.
    pub fn new() -> Self {
        // Constant, valid bounds: `new_with_bounds` cannot fail for them.
        let hist = Histogram::new_with_bounds(1, MAX_NS, 3)
            .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"));
        Rtt { hist }
    }

    /// Records one round trip of `ns` nanoseconds (0 counts as 1, more than
    /// 60 s as 60 s).
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.hist.saturating_record(ns.clamp(1, MAX_NS));
    }

    /// The summary, or `None` if nothing was recorded.
    pub fn summary(&self) -> Option<Summary> {
        if self.hist.is_empty() {
            return None;
        }
        let q = |q: f64| self.hist.value_at_quantile(q);
        Some(Summary {
            samples: self.hist.len(),
            min: self.hist.min(),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            p999: q(0.999),
            max: self.hist.max(),
        })
    }
}

/// Round-trip figures in nanoseconds (each within 0.1% of the exact value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of timed round trips.
    pub samples: u64,
    /// Fastest.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest.
    pub max: u64,
}

/// One-way streaming throughput.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// Messages the receiver counted.
    pub msgs: u64,
    /// From the first send to the receiver's last receive, in ns.
    pub elapsed_ns: u64,
    /// Bytes per message.
    pub size: usize,
}

impl Throughput {
    /// Messages per second (0 if nothing was timed).
    pub fn msgs_per_s(&self) -> f64 {
        if self.elapsed_ns == 0 {
            return 0.0;
        }
        self.msgs as f64 * 1e9 / self.elapsed_ns as f64
    }

    /// Payload bytes per second.
    pub fn bytes_per_s(&self) -> f64 {
        self.msgs_per_s() * self.size as f64
    }
}

/// `value / floor`, when both are known and the floor is not zero.
pub fn ratio(value: u64, floor: Option<u64>) -> Option<f64> {
    floor.filter(|&f| f > 0).map(|f| value as f64 / f as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_histogram_has_no_summary() {
        assert_eq!(Rtt::new().summary(), None);
    }

    #[test]
    fn percentiles_of_a_uniform_run_are_where_expected() {
        let mut h = Rtt::new();
        for ns in 1..=10_000 {
            h.record(ns * 100);
        }
        let s = h.summary().unwrap();
        assert_eq!(s.samples, 10_000);
        let close = |got: u64, want: u64| got.abs_diff(want) * 1000 <= want;
        assert!(close(s.min, 100), "{s:?}");
        assert!(close(s.p50, 500_000), "{s:?}");
        assert!(close(s.p90, 900_000), "{s:?}");
        assert!(close(s.p99, 990_000), "{s:?}");
        assert!(close(s.p999, 999_000), "{s:?}");
        assert!(close(s.max, 1_000_000), "{s:?}");
    }

    #[test]
    fn percentiles_are_ordered_and_outliers_show_only_in_the_tail() {
        let mut h = Rtt::new();
        for _ in 0..999 {
            h.record(250);
        }
        h.record(5_000_000);
        let s = h.summary().unwrap();
        assert!(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99);
        assert!(s.p99 <= s.p999 && s.p999 <= s.max);
        assert_eq!((s.p50, s.p99), (250, 250));
        assert!(s.max >= 4_990_000);
    }

    #[test]
    fn zero_and_huge_samples_are_clamped_not_lost() {
        let mut h = Rtt::new();
        h.record(0);
        h.record(u64::MAX);
        let s = h.summary().unwrap();
        assert_eq!((s.samples, s.min), (2, 1));
        assert!(s.max >= MAX_NS - MAX_NS / 1000);
    }

    #[test]
    fn throughput_and_ratio_arithmetic() {
        let t = Throughput {
            msgs: 1_000_000,
            elapsed_ns: 500_000_000,
            size: 64,
        };
        assert_eq!(t.msgs_per_s(), 2_000_000.0);
        assert_eq!(t.bytes_per_s(), 128_000_000.0);
        assert_eq!(Throughput { elapsed_ns: 0, ..t }.msgs_per_s(), 0.0);
        assert_eq!(ratio(300, Some(200)), Some(1.5));
        assert_eq!(ratio(300, Some(0)), None);
        assert_eq!(ratio(300, None), None);
    }
}
