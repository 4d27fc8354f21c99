//! `--timeout DURATION`: one parser and one meaning for every subcommand.
//!
//! A duration is a whole number with a unit (`250us`, `500ms`, `2s`, `1m`,
//! `1h`), `0` or `forever`. `0` never blocks: the command tries once and
//! gives up at once (exit 3) if it would have to wait. `forever` waits until
//! the operation can complete. A bare number other than `0` is refused
//! rather than guessed at (`--timeout 500` used to mean milliseconds).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What `--help` says about every `--timeout`.
pub const HELP: &str = "\
DURATIONS: every --timeout takes a number with a unit (250us, 500ms, 2s, 1m, \
1h), 0 or `forever`. 0 never waits: the command tries once and exits 3 if it \
would have to wait. `forever` waits as long as it takes. A bare number other \
than 0 is an error (write 500ms, not 500).";

/// How long a command may wait for something: see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Wait as long as it takes.
    Forever,
    /// Wait at most this long; [`Duration::ZERO`] means try once.
    After(Duration),
}

impl Timeout {
    /// The bound, or `None` for [`Timeout::Forever`] (the form kipc-host's
    /// `Option<Duration>` timeouts take).
    pub fn bound(self) -> Option<Duration> {
        match self {
            Timeout::Forever => None,
            Timeout::After(d) => Some(d),
        }
    }

    /// The bound, with [`Timeout::Forever`] as [`Duration::MAX`]: for
    /// kipc-host calls that take a `Duration` and treat a deadline too far
    /// away to represent as none.
    pub fn or_max(self) -> Duration {
        self.bound().unwrap_or(Duration::MAX)
    }
}

impl FromStr for Timeout {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("forever") {
            return Ok(Timeout::Forever);
        }
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits.parse().map_err(|_| {
            format!(
                "{s:?} is not a duration: write a number with a unit (500ms, 2s, 1m), 0 or forever"
            )
        })?;
        let d = match unit {
            "" if n == 0 => Duration::ZERO,
            "" => {
                return Err(format!(
                    "{s:?} has no unit: write {n}ms or {n}s (0 tries once, forever waits)"
                ))
            }
            "ns" => Duration::from_nanos(n),
            "us" => Duration::from_micros(n),
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => n
                .checked_mul(60)
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{s:?} is too long"))?,
            "h" => n
                .checked_mul(3600)
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{s:?} is too long"))?,
            other => {
                return Err(format!(
                    "{s:?}: unknown unit {other:?} (use ns, us, ms, s, m or h)"
                ))
            }
        };
        Ok(Timeout::After(d))
    }
}

impl fmt::Display for Timeout {
    /// `forever`, `0`, or the duration in the largest unit that shows it
    /// exactly (`1500ms`, `2s`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self {
            Timeout::Forever => return f.write_str("forever"),
            Timeout::After(d) => *d,
        };
        let ns = d.as_nanos();
        if ns == 0 {
            return f.write_str("0");
        }
        const UNITS: [(u128, &str); 6] = [
            (3_600_000_000_000, "h"),
            (60_000_000_000, "m"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
            (1, "ns"),
        ];
        let (per, unit) = UNITS
            .iter()
            .find(|(per, _)| ns % per == 0)
            .copied()
            .unwrap_or((1, "ns"));
        write!(f, "{}{unit}", ns / per)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Timeout, String> {
        s.parse()
    }

    #[test]
    fn units_are_read_as_written() {
        assert_eq!(
            parse("500ms"),
            Ok(Timeout::After(Duration::from_millis(500)))
        );
        assert_eq!(parse("2s"), Ok(Timeout::After(Duration::from_secs(2))));
        assert_eq!(parse("1m"), Ok(Timeout::After(Duration::from_secs(60))));
        assert_eq!(parse("1h"), Ok(Timeout::After(Duration::from_secs(3600))));
        assert_eq!(
            parse("250us"),
            Ok(Timeout::After(Duration::from_micros(250)))
        );
        assert_eq!(parse("7ns"), Ok(Timeout::After(Duration::from_nanos(7))));
    }

    #[test]
    fn zero_means_try_once_and_forever_means_no_bound() {
        assert_eq!(parse("0"), Ok(Timeout::After(Duration::ZERO)));
        assert_eq!(parse("0s"), Ok(Timeout::After(Duration::ZERO)));
        assert_eq!(parse("forever"), Ok(Timeout::Forever));
        assert_eq!(Timeout::Forever.bound(), None);
        assert_eq!(Timeout::Forever.or_max(), Duration::MAX);
    }

    #[test]
    fn a_bare_number_or_unknown_unit_is_refused_with_a_hint() {
        let e = parse("500").unwrap_err();
        assert!(e.contains("500ms"), "{e}");
        assert!(parse("5 parsecs").is_err());
        assert!(parse("ms").is_err());
        assert!(parse("-1s").is_err());
        assert!(parse("").is_err());
        assert!(parse("99999999999999999999h").is_err());
        assert!(parse(&format!("{}h", u64::MAX)).is_err());
    }

    #[test]
    fn display_round_trips_through_the_parser() {
        for s in [
            "0", "forever", "1500ms", "2s", "1m", "90s", "3h", "1us", "5ns",
        ] {
            let t = parse(s).unwrap();
            assert_eq!(t.to_string(), s);
            assert_eq!(parse(&t.to_string()), Ok(t));
        }
        assert_eq!(parse("60s").unwrap().to_string(), "1m");
    }
}
