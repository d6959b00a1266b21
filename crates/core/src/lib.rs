//! Vigilmon's pure domain core.
//!
//! Monitor configurations and their validated specs ([`monitor`], read through
//! [`tagged`]), check outcomes and failure kinds ([`outcome`]), judging what a probe
//! observed ([`assert`](mod@assert), [`redis`]), region state and multi-region
//! consensus ([`state`], [`region_health`]), the incident engine ([`incident`]) with
//! its policies ([`alert`]) and maintenance windows ([`maintenance`]), heartbeats
//! ([`heartbeat`]), uptime and rollups ([`uptime`], [`rollup`]), status pages
//! ([`status_page`]), schedule arithmetic ([`schedule`]), the agent protocol's
//! wire types ([`protocol`]), and the network guard every outbound connection obeys
//! ([`guard`]).
//!
//! Architecture invariant: this crate performs no I/O and never reads the clock. Every
//! function that depends on time takes `now` as an argument, so callers (and tests)
//! decide what time it is.

pub mod alert;
pub mod assert;
pub mod duration;
pub mod guard;
pub mod heartbeat;
pub mod ids;
pub mod incident;
pub mod maintenance;
pub mod monitor;
pub mod outcome;
pub mod protocol;
pub mod redis;
pub mod region_health;
pub mod rollup;
pub mod schedule;
pub mod secret;
pub mod state;
pub mod status_page;
pub mod tagged;
pub mod uptime;
pub mod validation;

pub use duration::HumanDuration;
pub use ids::{MonitorId, RegionName};
pub use monitor::{KindConfig, MonitorConfig, MonitorKind, MonitorSpec};
pub use outcome::{CheckResult, ErrorKind, Phases, Verdict};
pub use state::MonitorState;
pub use validation::ValidationError;
