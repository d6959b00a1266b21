//! The records the store reads and writes: monitors, region state, check results,
//! users and API tokens.

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;
use vigilmon_core::state::RegionStatus;
use vigilmon_core::{CheckResult, ErrorKind, MonitorConfig, MonitorId, MonitorState, RegionName};

/// Where a monitor was defined. File-defined monitors are owned by the config file;
/// API-defined ones by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorSource {
    /// Created through the HTTP API.
    Api,
    /// Declared in the configuration file.
    File,
    /// Created by its first ping (`/ping/{ping_key}/{slug}?create=1`); otherwise
    /// managed like an API monitor.
    Ping,
    /// Written by `vigilmon apply` from a file of its own; editable like an API
    /// object, and written again by the next apply of that file.
    Apply,
}

impl MonitorSource {
    /// The stored name: `"api"`, `"file"`, `"ping"` or `"apply"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorSource::Api => "api",
            MonitorSource::File => "file",
            MonitorSource::Ping => "ping",
            MonitorSource::Apply => "apply",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "api" => Some(MonitorSource::Api),
            "file" => Some(MonitorSource::File),
            "ping" => Some(MonitorSource::Ping),
            "apply" => Some(MonitorSource::Apply),
            _ => None,
        }
    }
}

impl fmt::Display for MonitorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored monitor: its configuration as written, and the state its checks led to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorRecord {
    pub id: MonitorId,
    /// The configuration as the user wrote it (validated before it was stored).
    pub config: MonitorConfig,
    pub source: MonitorSource,
    /// The monitor's aggregated state.
    pub state: MonitorState,
    /// When `state` last changed; `None` while it never did.
    pub state_changed_at: Option<Timestamp>,
    /// When the newest recorded check ran.
    pub last_checked_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What one region knows about one monitor, with its latest check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionStateRecord {
    pub region: RegionName,
    pub status: RegionStatus,
    /// When the region's latest check ran.
    pub checked_at: Option<Timestamp>,
    /// How long the region's latest check took.
    pub duration_ms: Option<u64>,
    /// Why the latest check failed, when it did.
    pub error_kind: Option<ErrorKind>,
    /// The latest failure or degradation, in words.
    pub error: Option<String>,
    /// When the certificate the latest check saw expires (HTTPS, `rediss://`).
    pub cert_expires_at: Option<Timestamp>,
}

/// One check to record: the result, and the states it led to (computed by the caller
/// with the core's pure functions).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCheck {
    pub monitor_id: MonitorId,
    pub result: CheckResult,
    /// The region's status after this result.
    pub region_status: RegionStatus,
    /// The monitor's aggregated state after this result.
    pub monitor_state: MonitorState,
    /// Kept in the history only (`check_results`): the monitor's and the region's
    /// current state are left as they are.
    pub history_only: bool,
}

/// A check result as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredResult {
    pub monitor_id: MonitorId,
    pub result: CheckResult,
    /// The region's state after this result.
    pub state: MonitorState,
}

/// Results returned by [`ResultFilter`] when `limit` is 0.
pub const DEFAULT_RESULT_LIMIT: u32 = 100;
/// The most results one [`Store::list_results`](crate::Store::list_results) call returns.
pub const MAX_RESULT_LIMIT: u32 = 1000;

/// Which results [`Store::list_results`](crate::Store::list_results) returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultFilter {
    /// Only this region's results.
    pub region: Option<RegionName>,
    /// Only results checked at or after this instant (inclusive).
    pub since: Option<Timestamp>,
    /// Only results checked strictly before this instant (exclusive).
    pub until: Option<Timestamp>,
    /// At most this many results: 0 means [`DEFAULT_RESULT_LIMIT`]; capped at
    /// [`MAX_RESULT_LIMIT`].
    pub limit: u32,
}

impl ResultFilter {
    /// The number of results to return, after applying the default and the cap.
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => DEFAULT_RESULT_LIMIT,
            n => n.min(MAX_RESULT_LIMIT),
        }
    }
}

/// A user account (the password hash is returned separately, only where needed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    pub id: Uuid,
    /// Normalised: trimmed and lower-cased.
    pub email: String,
    pub role: String,
    pub created_at: Timestamp,
}

/// An API token (only its hash is stored; the secret is shown once, by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: Uuid,
    pub name: String,
    pub scope: String,
    /// The region of an agent token.
    pub region: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// Set once the token is revoked; a revoked token must be refused.
    pub revoked_at: Option<Timestamp>,
    /// The user it belongs to; `None` for a service token (made with the CLI).
    pub owner: Option<TokenOwner>,
}

/// The user a token belongs to, as of the read: a token never does more than its
/// user's role allows now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenOwner {
    pub id: Uuid,
    pub email: String,
    pub role: String,
}
