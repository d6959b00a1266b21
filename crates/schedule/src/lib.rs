//! Scheduling for every process that runs checks: the deadline-driven
//! [`scheduler`] (each monitor once per interval at its stable slot, woken by
//! commands, concurrency capped), the injectable [`clock`], and the [`process`]
//! around them (logs, the stop signal).
//!
//! Both the server's engine and `vigilmon agent` schedule with this crate, so the
//! agent needs nothing of the server (no HTTP framework, no store).

pub mod clock;
pub mod process;
pub mod scheduler;

pub use clock::{Clock, SharedClock, SystemClock, TokioClock};
pub use scheduler::{CheckExecutor, SchedulerConfig, SchedulerHandle};
