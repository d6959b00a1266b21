//! The source of "now" for the engine's tasks and for the scheduler, in the server and
//! in the agent alike. Production reads the system clock; tests use [`TokioClock`],
//! which follows tokio's (pausable) time, so that scheduling can be tested by advancing
//! time instead of sleeping.

use std::sync::Arc;

use jiff::Timestamp;

/// Tells the time. The pure core never calls this; the tasks that drive it do.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A wall clock that advances with tokio's clock from a fixed starting point. Under
/// `tokio::time::pause()` it stands still until the test advances time.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: Timestamp,
    started: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(base: Timestamp) -> Self {
        Self {
            base,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = tokio::time::Instant::now().duration_since(self.started);
        self.base
            .checked_add(
                jiff::SignedDuration::try_from(elapsed).unwrap_or(jiff::SignedDuration::MAX),
            )
            .unwrap_or(Timestamp::MAX)
    }
}

pub type SharedClock = Arc<dyn Clock>;
