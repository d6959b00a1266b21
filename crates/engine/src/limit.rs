//! A small fixed-window rate limiter keyed by anything hashable: at most `max` hits per
//! key in each `window`. Used for sign-in attempts (per client IP) and for the public
//! ping endpoints (per check), where a runaway client must not flood the store.
//!
//! Memory is bounded: once more than [`MAX_KEYS`] keys are tracked, keys whose window
//! is over are dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked before expired ones are swept.
pub const MAX_KEYS: usize = 10_000;

pub struct RateLimiter<K> {
    max: u32,
    window: Duration,
    hits: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a hit for `key` at `now`; false when it is over the limit.
    pub fn allow(&self, key: K, now: Instant) -> bool {
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if hits.len() > MAX_KEYS {
            let window = self.window;
            hits.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = hits.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.max
    }

    /// How long until `key`'s window ends (for `Retry-After`).
    pub fn retry_after(&self, key: &K, now: Instant) -> Duration {
        let hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        hits.get(key).map_or(Duration::ZERO, |(start, _)| {
            self.window.saturating_sub(now.duration_since(*start))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_window() {
        let l = RateLimiter::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.allow("a", t0));
        }
        assert!(!l.allow("a", t0 + Duration::from_secs(9)));
        assert_eq!(
            l.retry_after(&"a", t0 + Duration::from_secs(9)),
            Duration::from_secs(1)
        );
        assert!(l.allow("b", t0), "another key has its own budget");
        assert!(l.allow("a", t0 + Duration::from_secs(10)), "a new window");
    }

    #[test]
    fn memory_is_bounded() {
        let l = RateLimiter::new(1, Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS + 10) {
            l.allow(i, t0);
        }
        l.allow(usize::MAX, t0 + Duration::from_secs(2));
        assert!(l.hits.lock().unwrap().len() <= 2, "expired keys swept");
    }
}
