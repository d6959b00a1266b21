//! What the agent has done since it started, counted for the logs: checks run,
//! results sent, buffered to disk, replayed from disk, dropped and refused.
//!
//! Shared by every task of the agent (atomics, no lock); [`Counters::snapshot`] takes
//! a consistent-enough copy to print at shutdown or periodically.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared between the agent's tasks.
#[derive(Debug, Default)]
pub struct Counters {
    checks_run: AtomicU64,
    confirmations: AtomicU64,
    results_sent: AtomicU64,
    ignored: AtomicU64,
    buffered: AtomicU64,
    replayed: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Checks run (scheduled and on request).
    pub checks_run: u64,
    /// Of those, checks run at once because the server asked (`/agent/wait`).
    pub confirmations: u64,
    /// Results the server accepted or ignored (it has them; they are off our hands).
    pub results_sent: u64,
    /// Of those sent, results the server ignored (monitor deleted or moved).
    pub ignored: u64,
    /// Results written to the disk buffer because the server could not take them.
    pub buffered: u64,
    /// Results sent from the disk buffer (a part of `results_sent`).
    pub replayed: u64,
    /// Results lost: the oldest buffered ones, dropped to keep the buffer bounded, or
    /// results that could not be written to disk.
    pub dropped: u64,
    /// Results the server refused (a 4xx answer other than 401, 403 and 429).
    pub rejected: u64,
}

impl Counters {
    pub fn snapshot(&self) -> CounterSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            checks_run: g(&self.checks_run),
            confirmations: g(&self.confirmations),
            results_sent: g(&self.results_sent),
            ignored: g(&self.ignored),
            buffered: g(&self.buffered),
            replayed: g(&self.replayed),
            dropped: g(&self.dropped),
            rejected: g(&self.rejected),
        }
    }

    pub(crate) fn check_run(&self, on_request: bool) {
        self.checks_run.fetch_add(1, Ordering::Relaxed);
        if on_request {
            self.confirmations.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn sent(&self, n: usize, ignored: u64, replayed: bool) {
        self.results_sent.fetch_add(n as u64, Ordering::Relaxed);
        self.ignored.fetch_add(ignored, Ordering::Relaxed);
        if replayed {
            self.replayed.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    pub(crate) fn buffered(&self, n: usize) {
        self.buffered.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, n: usize) {
        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self, n: usize) {
        self.rejected.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl fmt::Display for CounterSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} checks run ({} on request), {} results sent ({} replayed from disk, {} ignored by the server), {} buffered, {} dropped, {} refused",
            self.checks_run,
            self.confirmations,
            self.results_sent,
            self.replayed,
            self.ignored,
            self.buffered,
            self.dropped,
            self.rejected
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_prints() {
        let c = Counters::default();
        c.check_run(false);
        c.check_run(true);
        c.sent(5, 1, false);
        c.sent(3, 0, true);
        c.buffered(3);
        c.dropped(2);
        c.rejected(1);
        let s = c.snapshot();
        assert_eq!(s.checks_run, 2);
        assert_eq!(s.confirmations, 1);
        assert_eq!(s.results_sent, 8);
        assert_eq!(s.replayed, 3);
        assert_eq!(s.ignored, 1);
        let text = s.to_string();
        assert!(text.contains("2 checks run"), "{text}");
        assert!(text.contains("2 dropped"), "{text}");
    }
}
