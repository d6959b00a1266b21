//! A small fixed-window rate limiter keyed by anything hashable: at most `max` hits per
//! key in each `window`. Used for sign-in attempts (per client IP) and for the public
//! ping endpoints (per monitor), where a runaway client must not flood the store.
//!
//! Memory and time are bounded whatever clients send: windows are shared by every key
//! (all counts start again together, so a window's map is dropped at once instead of
//! swept key by key), at most `capacity` keys are counted one by one in a window, and
//! any further key shares one overflow budget of `max` hits — so a crowd of new keys
//! (many addresses) is limited as one client, and each request costs one hash-map
//! lookup.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys counted one by one in a window unless configured otherwise.
pub const MAX_KEYS: usize = 10_000;

pub struct RateLimiter<K> {
    max: u32,
    window: Duration,
    capacity: usize,
    hits: Mutex<Window<K>>,
}

struct Window<K> {
    start: Option<Instant>,
    counts: HashMap<K, u32>,
    /// Hits of keys beyond the capacity, counted together.
    overflow: u32,
}

#[cfg(test)]
impl<K> Window<K> {
    /// Keys counted in this window.
    fn len(&self) -> usize {
        self.counts.len()
    }
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub fn new(max: u32, window: Duration) -> Self {
        Self::with_capacity(max, window, MAX_KEYS)
    }

    /// A limiter that counts at most `capacity` keys one by one per window.
    pub fn with_capacity(max: u32, window: Duration, capacity: usize) -> Self {
        Self {
            max,
            window,
            capacity,
            hits: Mutex::new(Window {
                start: None,
                counts: HashMap::new(),
                overflow: 0,
            }),
        }
    }

    /// Counts a hit for `key` at `now`; false when it is over the limit.
    pub fn allow(&self, key: K, now: Instant) -> bool {
        let mut w = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if w.start.is_none_or(|s| now.duration_since(s) >= self.window) {
            w.start = Some(now);
            w.counts = HashMap::new();
            w.overflow = 0;
        }
        let count = if let Some(c) = w.counts.get_mut(&key) {
            *c = c.saturating_add(1);
            *c
        } else if w.counts.len() < self.capacity {
            w.counts.insert(key, 1);
            1
        } else {
            w.overflow = w.overflow.saturating_add(1);
            w.overflow
        };
        count <= self.max
    }

    /// How long until the current window ends (for `Retry-After`).
    pub fn retry_after(&self, _key: &K, now: Instant) -> Duration {
        let w = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        w.start.map_or(Duration::ZERO, |start| {
            self.window.saturating_sub(now.duration_since(start))
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

    #[test]
    fn keys_beyond_the_capacity_share_one_budget() {
        let l = RateLimiter::with_capacity(2, Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for k in 0..3 {
            assert!(l.allow(k, t0), "{k} is counted on its own");
        }
        assert!(l.allow(100, t0), "the first key beyond the capacity");
        assert!(l.allow(101, t0), "shares the overflow budget");
        assert!(!l.allow(102, t0), "which is now spent");
        assert!(l.allow(0, t0), "a counted key keeps its own budget");
        assert_eq!(
            l.hits.lock().unwrap().len(),
            3,
            "never more than the capacity"
        );
        assert!(l.allow(102, t0 + Duration::from_secs(60)), "a new window");
    }
}
