//! The JSON shapes the API returns of monitors, their regions, results and pings (the
//! UI renders the same views). Field names are part of the contract (PRODUCT.md
//! section 8): fields may be added, never renamed.

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;
use vigilmon_core::{ErrorKind, MonitorConfig, MonitorState, Phases, Verdict};
use vigilmon_store::{MonitorRecord, RegionStateRecord, StoredResult};

/// What a secret that is set reads as (`vigilmon_core::secret::MASK`).
pub const REDACTED: &str = vigilmon_core::secret::MASK;

/// A monitor: its configuration fields (as sent), plus what Vigilmon knows about it.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct MonitorView {
    pub id: Uuid,
    /// The monitor's configuration, except `regions`: in a view that name is the
    /// state in each region, and the configured list is `configured_regions`.
    #[serde(flatten, serialize_with = "config_without_regions")]
    pub config: MonitorConfig,
    /// The regions the monitor is configured to run in (`regions` in the config);
    /// absent when it runs in all regions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configured_regions: Option<Vec<String>>,
    /// `maintenance` while an active maintenance window covers it.
    pub state: MonitorState,
    /// During maintenance: what the checks say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_state: Option<MonitorState>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub state_changed_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_checked_at: Option<Timestamp>,
    /// The state in each region that has checked it.
    pub regions: Vec<RegionView>,
    /// `file` for monitors declared in the config file, `api` otherwise.
    pub source: &'static str,
    /// Heartbeat monitors: the URL to ping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_url: Option<String>,
    /// Heartbeat monitors: ping details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatView>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// What a heartbeat monitor knows about its pings.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct HeartbeatView {
    /// The same, addressed by the workspace's ping key and the monitor's slug. Absent
    /// for read tokens and viewers: the ping key pings (and, with `?create=1`, creates)
    /// any monitor, so only those who may change monitors see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug_ping_url: Option<String>,
    /// Pings received since the monitor was created.
    pub pings_total: u64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_ping_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_success_at: Option<Timestamp>,
    /// When silence will turn it down, if nothing arrives first.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<Timestamp>,
    /// Why it is down, in words.
    pub reason: Option<String>,
}

/// Serialises a view's configuration without its `regions` (one JSON key per name:
/// the view's own `regions` are the per-region states).
fn config_without_regions<S: serde::Serializer>(
    config: &MonitorConfig,
    s: S,
) -> Result<S::Ok, S::Error> {
    if config.regions.is_none() {
        return config.serialize(s);
    }
    let mut c = config.clone();
    c.regions = None;
    c.serialize(s)
}

impl MonitorView {
    /// Leaves out the workspace's ping key (in `heartbeat.slug_ping_url`), for readers
    /// who may not change monitors: read tokens and viewers.
    pub fn without_ping_key(mut self) -> Self {
        if let Some(h) = self.heartbeat.as_mut() {
            h.slug_ping_url = None;
        }
        self
    }

    pub fn new(
        rec: MonitorRecord,
        regions: Vec<RegionStateRecord>,
        heartbeat: Option<(String, HeartbeatView)>,
    ) -> Self {
        // Secrets by field, for every reader (`vigilmon_core::secret`).
        let config = vigilmon_core::secret::masked(&rec.config);
        Self {
            id: rec.id.as_uuid(),
            configured_regions: config.regions.clone(),
            config,
            state: rec.state,
            check_state: None,
            state_changed_at: rec.state_changed_at,
            last_checked_at: rec.last_checked_at,
            regions: regions.into_iter().map(RegionView::from).collect(),
            source: rec.source.as_str(),
            ping_url: heartbeat.as_ref().map(|(u, _)| u.clone()),
            heartbeat: heartbeat.map(|(_, h)| h),
            created_at: rec.created_at,
            updated_at: rec.updated_at,
        }
    }
}

/// A monitor's state in one region.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct RegionView {
    pub region: String,
    pub state: MonitorState,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub checked_at: Option<Timestamp>,
    pub duration_ms: Option<u64>,
    pub error_kind: Option<ErrorKind>,
    /// The last failure or warning in words.
    pub error: Option<String>,
    /// When the certificate the region's latest check saw expires (HTTPS, `rediss://`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cert_expires_at: Option<Timestamp>,
}

impl From<RegionStateRecord> for RegionView {
    fn from(r: RegionStateRecord) -> Self {
        Self {
            region: r.region.to_string(),
            state: r.status.state,
            checked_at: r.checked_at,
            duration_ms: r.duration_ms,
            error_kind: r.error_kind,
            error: r.error,
            cert_expires_at: r.cert_expires_at,
        }
    }
}

impl MonitorView {
    /// The soonest expiry of the certificates its regions saw last, if any did.
    pub fn cert_expires_at(&self) -> Option<Timestamp> {
        self.regions.iter().filter_map(|r| r.cert_expires_at).min()
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MonitorList {
    pub monitors: Vec<MonitorView>,
}

/// One check result.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResultView {
    pub region: String,
    #[schema(value_type = String, format = DateTime)]
    pub checked_at: Timestamp,
    /// False when the check failed (degraded counts as ok).
    pub ok: bool,
    /// The region's state after this result.
    pub state: MonitorState,
    /// `up`, `degraded` or `down`.
    pub verdict: &'static str,
    pub duration_ms: u64,
    pub phases: Phases,
    pub status_code: Option<u16>,
    pub error_kind: Option<ErrorKind>,
    /// The failure (or warning) in words.
    pub error: Option<String>,
    pub body_excerpt: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cert_expires_at: Option<Timestamp>,
    pub remote_addr: Option<String>,
    /// Figures the check judged (Redis: memory, role, lag, evictions…).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl From<StoredResult> for ResultView {
    fn from(s: StoredResult) -> Self {
        Self::new(s.result, s.state)
    }
}

impl ResultView {
    pub fn new(r: vigilmon_core::CheckResult, state: MonitorState) -> Self {
        Self {
            region: r.region.to_string(),
            checked_at: r.checked_at,
            ok: r.verdict.is_ok(),
            state,
            verdict: verdict_name(&r.verdict),
            duration_ms: r.duration_ms,
            phases: r.phases,
            status_code: r.status_code,
            error_kind: r.verdict.error_kind(),
            error: r.verdict.message().map(str::to_owned),
            body_excerpt: r.body_excerpt,
            cert_expires_at: r.cert_expires_at,
            remote_addr: r.remote_addr,
            details: r.details,
        }
    }
}

pub fn verdict_name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Up => "up",
        Verdict::Degraded { .. } => "degraded",
        Verdict::Down { .. } => "down",
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ResultList {
    pub results: Vec<ResultView>,
}

/// The answer to "check now": the result and the states it led to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckNowView {
    pub result: ResultView,
    /// The monitor's state after this check.
    pub state: MonitorState,
}

/// One logged ping.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PingView {
    #[schema(value_type = String, format = DateTime)]
    pub received_at: Timestamp,
    /// `success`, `start`, `fail`, `log`, or `ignored` (a method the monitor does not accept).
    pub kind: String,
    pub method: String,
    pub exit_status: Option<u8>,
    pub rid: Option<String>,
    /// Time since the matching start.
    pub duration_ms: Option<u64>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub body: Option<String>,
    pub body_truncated: bool,
    /// Why it counted as a failure.
    pub failure: Option<String>,
}

impl From<vigilmon_store::StoredPing> for PingView {
    fn from(p: vigilmon_store::StoredPing) -> Self {
        let p = p.ping;
        Self {
            received_at: p.received_at,
            kind: p.kind,
            method: p.method,
            exit_status: p.exit_status,
            rid: p.rid,
            duration_ms: p.duration_ms,
            source_ip: p.source_ip,
            user_agent: p.user_agent,
            body: p.body,
            body_truncated: p.body_truncated,
            failure: p.failure,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PingList {
    pub pings: Vec<PingView>,
}
