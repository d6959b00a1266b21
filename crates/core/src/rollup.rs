//! Rollups: check results summarised per hour and per day (checks, failures,
//! degraded, response time min / avg / p95 / max), so long ranges read a few rows
//! instead of every result, and raw results can expire.
//!
//! An hourly rollup is built from the hour's results ([`Accumulator`]); its p95 is
//! exact (nearest rank over the hour's durations). A daily rollup merges the day's
//! hourly rollups ([`Rollup::merge`]): counts, min, max and mean stay exact, and the
//! p95 comes from a response-time histogram carried by every rollup, with buckets 10 %
//! wide, so a daily p95 is within 10 % of the exact figure (never below it).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Upper bound (exclusive) of the histogram's last finite bucket, in ms.
const HIST_MAX_MS: u64 = 3_600_000;

/// Lower bounds of the histogram buckets: 0, 1, 2, …, then growing by 10 % each.
fn bucket_bounds() -> &'static [u64] {
    use std::sync::OnceLock;
    static BOUNDS: OnceLock<Vec<u64>> = OnceLock::new();
    BOUNDS.get_or_init(|| {
        let mut v = vec![0u64, 1];
        while *v.last().unwrap_or(&0) < HIST_MAX_MS {
            let last = *v.last().unwrap_or(&1);
            v.push((last + 1).max(last * 11 / 10));
        }
        v
    })
}

/// The bucket of a duration.
fn bucket_of(ms: u64) -> usize {
    let b = bucket_bounds();
    match b.binary_search(&ms) {
        Ok(i) => i,
        Err(i) => i - 1,
    }
}

/// The largest duration a bucket holds.
fn bucket_top(i: usize) -> u64 {
    bucket_bounds().get(i + 1).map_or(u64::MAX, |n| n - 1)
}

/// How one result counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Up,
    Degraded,
    Down,
}

impl Outcome {
    /// From the stored verdict name (`up`, `degraded`, `down`).
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "up" => Some(Outcome::Up),
            "degraded" => Some(Outcome::Degraded),
            "down" => Some(Outcome::Down),
            _ => None,
        }
    }
}

/// A summary of results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollup {
    pub checks: u64,
    pub failures: u64,
    pub degraded: u64,
    pub duration_min: Option<u64>,
    pub duration_max: Option<u64>,
    pub duration_sum: u64,
    /// Exact for an hour built from results; from the histogram once merged.
    pub duration_p95: Option<u64>,
    /// Bucket index → results in it.
    pub histogram: BTreeMap<u16, u64>,
}

/// Builds the rollup of a set of results, with an exact p95.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    rollup: Rollup,
    durations: Vec<u64>,
}

impl Accumulator {
    /// Counts one result.
    pub fn add(&mut self, outcome: Outcome, duration_ms: u64) {
        self.durations.push(duration_ms);
        self.rollup.add(outcome, duration_ms);
    }

    /// The rollup, with the exact p95 of the results added (nearest rank).
    pub fn finish(mut self) -> Rollup {
        if !self.durations.is_empty() {
            self.durations.sort_unstable();
            let rank = (self.durations.len() * 95).div_ceil(100).max(1);
            self.rollup.duration_p95 = Some(self.durations[rank - 1]);
        }
        self.rollup
    }
}

impl Rollup {
    fn add(&mut self, outcome: Outcome, duration_ms: u64) {
        self.checks += 1;
        match outcome {
            Outcome::Up => {}
            Outcome::Degraded => self.degraded += 1,
            Outcome::Down => self.failures += 1,
        }
        self.duration_min = Some(
            self.duration_min
                .map_or(duration_ms, |m| m.min(duration_ms)),
        );
        self.duration_max = Some(
            self.duration_max
                .map_or(duration_ms, |m| m.max(duration_ms)),
        );
        self.duration_sum = self.duration_sum.saturating_add(duration_ms);
        *self
            .histogram
            .entry(u16::try_from(bucket_of(duration_ms)).unwrap_or(u16::MAX))
            .or_default() += 1;
    }

    /// Adds another rollup (of a disjoint set of results). The p95 is taken from the
    /// merged histogram: the top of the bucket holding the 95th percentile, within
    /// `[min, max]`.
    pub fn merge(&mut self, other: &Rollup) {
        self.checks += other.checks;
        self.failures += other.failures;
        self.degraded += other.degraded;
        self.duration_min = match (self.duration_min, other.duration_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.duration_max = match (self.duration_max, other.duration_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.duration_sum = self.duration_sum.saturating_add(other.duration_sum);
        for (b, n) in &other.histogram {
            *self.histogram.entry(*b).or_default() += n;
        }
        self.duration_p95 = self.histogram_p95();
    }

    fn histogram_p95(&self) -> Option<u64> {
        let total: u64 = self.histogram.values().sum();
        if total == 0 {
            return None;
        }
        let rank = (total * 95).div_ceil(100).max(1);
        let mut seen = 0;
        for (b, n) in &self.histogram {
            seen += n;
            if seen >= rank {
                let top = bucket_top(usize::from(*b));
                let lo = self.duration_min.unwrap_or(0);
                let hi = self.duration_max.unwrap_or(top);
                return Some(top.clamp(lo, hi.max(lo)));
            }
        }
        self.duration_max
    }

    /// Mean response time, when there were checks.
    pub fn duration_avg(&self) -> Option<f64> {
        (self.checks > 0).then(|| self.duration_sum as f64 / self.checks as f64)
    }

    /// The histogram as stored: `bucket:count` pairs separated by spaces.
    pub fn histogram_text(&self) -> String {
        let mut s = String::new();
        for (b, n) in &self.histogram {
            if !s.is_empty() {
                s.push(' ');
            }
            let _ = write!(s, "{b}:{n}");
        }
        s
    }

    /// Reads a stored histogram; `None` when it is malformed.
    pub fn parse_histogram(text: &str) -> Option<BTreeMap<u16, u64>> {
        let mut h = BTreeMap::new();
        for pair in text.split_whitespace() {
            let (b, n) = pair.split_once(':')?;
            h.insert(b.parse().ok()?, n.parse().ok()?);
        }
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hourly_counts_and_exact_p95() {
        let mut r = Accumulator::default();
        for d in 1..=100u64 {
            let o = match d {
                1..=3 => Outcome::Down,
                4 => Outcome::Degraded,
                _ => Outcome::Up,
            };
            r.add(o, d * 10);
        }
        let r = r.finish();
        assert_eq!((r.checks, r.failures, r.degraded), (100, 3, 1));
        assert_eq!((r.duration_min, r.duration_max), (Some(10), Some(1000)));
        assert_eq!(r.duration_p95, Some(950));
        assert_eq!(r.duration_avg(), Some(505.0));
        let text = r.histogram_text();
        assert_eq!(Rollup::parse_histogram(&text), Some(r.histogram.clone()));
        assert_eq!(Rollup::parse_histogram("1:x"), None);
    }

    #[test]
    fn merged_p95_from_the_histogram() {
        let mut a = Accumulator::default();
        let mut b = Accumulator::default();
        for d in 0..50u64 {
            a.add(Outcome::Up, 100 + d);
            b.add(Outcome::Up, 200 + d);
        }
        let (a, b) = (a.finish(), b.finish());
        let mut day = Rollup::default();
        day.merge(&a);
        day.merge(&b);
        assert_eq!(day.checks, 100);
        assert_eq!((day.duration_min, day.duration_max), (Some(100), Some(249)));
        let p95 = day.duration_p95.unwrap();
        assert!((245..=249).contains(&p95), "{p95}");
    }

    proptest! {
        /// A merged p95 is never below the exact one and at most 10 % above it.
        #[test]
        fn merged_p95_is_close(durations in proptest::collection::vec(0u64..200_000, 1..300), split in 0usize..300) {
            let split = split.min(durations.len());
            let mut exact = Accumulator::default();
            let (mut a, mut b) = (Accumulator::default(), Accumulator::default());
            for (i, d) in durations.iter().enumerate() {
                exact.add(Outcome::Up, *d);
                if i < split { a.add(Outcome::Up, *d) } else { b.add(Outcome::Up, *d) }
            }
            let (exact, a, b) = (exact.finish(), a.finish(), b.finish());
            let mut m = Rollup::default();
            m.merge(&a);
            m.merge(&b);
            let (e, got) = (exact.duration_p95.unwrap(), m.duration_p95.unwrap());
            prop_assert!(got >= e, "merged {got} < exact {e}");
            prop_assert!(got as f64 <= (e as f64 * 1.1).max(e as f64 + 1.0), "merged {got} vs exact {e}");
            prop_assert_eq!(m.checks, exact.checks);
            prop_assert_eq!(m.duration_sum, exact.duration_sum);
        }
    }
}
