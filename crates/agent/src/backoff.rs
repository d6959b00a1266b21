//! Retry delays: exponential backoff (doubling from a minimum up to a cap) and the
//! ±10 % jitter put on poll intervals so that many agents do not poll in step.

use std::time::Duration;

use rand::Rng;

/// Doubling delays between `min` and `max`; [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_millis(1));
        Self {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The delay before the next attempt; each call doubles the following one.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        d
    }

    /// Back to the minimum delay.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// `d` changed by a random factor in `[0.9, 1.1]`.
pub fn jitter(d: Duration) -> Duration {
    let factor: f64 = rand::rng().random_range(0.9..=1.1);
    d.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let got: Vec<u64> = (0..7).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..1000 {
            let j = jitter(Duration::from_secs(15)).as_millis();
            assert!((13_500..=16_500).contains(&j), "{j}");
        }
    }
}
