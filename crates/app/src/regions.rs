//! Regions and agents: which monitors an agent owns (rendezvous hashing among its
//! region's live agents, with the region's slot in each interval), and every region
//! with its agents and health — what `GET /api/v1/regions` answers and the UI's regions
//! page shows — plus the agent extractor: an agent's region and identity come from its
//! token, never from a payload.

use crate::AppState;
use crate::auth::hash_token;
use crate::error::AppError;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde::Serialize;
use std::time::Duration;
use uuid::Uuid;
use vigilmon_core::protocol::MAX_WAIT_TIMEOUT_MS;
use vigilmon_core::{MonitorConfig, MonitorId, RegionName};
use vigilmon_engine::agents::owner;

/// Longest long poll.
pub const MAX_WAIT: Duration = Duration::from_millis(MAX_WAIT_TIMEOUT_MS);

/// An authenticated agent.
#[derive(Debug, Clone)]
pub struct AgentCaller {
    pub id: Uuid,
    pub name: String,
    pub region: RegionName,
}

impl FromRequestParts<AppState> for AgentCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AppError::Unauthorized(
                "an agent token is required: Authorization: Bearer <token>",
            ))?;
        let rec = st
            .store()
            .token_by_hash(&hash_token(token))
            .await?
            .filter(|t| t.revoked_at.is_none())
            .ok_or(AppError::Unauthorized("unknown or revoked agent token"))?;
        if rec.scope != "agent" {
            return Err(AppError::Forbidden("this is not an agent token".into()));
        }
        if crate::auth::effective_scope(&rec) != Some("agent") {
            return Err(AppError::Forbidden(
                "this agent token's user may no longer run agents".into(),
            ));
        }
        let region = rec
            .region
            .as_deref()
            .and_then(|r| RegionName::parse(r).ok())
            .ok_or(AppError::Forbidden(
                "this agent token has no valid region".into(),
            ))?;
        let version = parts
            .headers
            .get("x-vigilmon-agent-version")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(40).collect::<String>());
        st.agents()
            .touch(rec.id, &rec.name, &region, version.as_deref(), st.now());
        Ok(AgentCaller {
            id: rec.id,
            name: rec.name,
            region,
        })
    }
}

/// The monitors of the caller's region that it owns among the region's live agents.
pub async fn assigned(
    st: &AppState,
    agent: Uuid,
    region: &RegionName,
) -> Result<Vec<(MonitorId, MonitorConfig, i64, u64)>, AppError> {
    let live = st.agents().live(region, st.now());
    let universe = st.engine().region_universe();
    let mut out = Vec::new();
    for rec in st.store().list_monitors().await? {
        let Ok(spec) = rec.config.build() else {
            continue;
        };
        if spec.paused || !spec.is_probed() || !spec.runs_in(region) {
            continue;
        }
        if owner(&live, rec.id) == Some(agent) {
            let offset = vigilmon_core::schedule::region_offset(
                rec.id,
                spec.interval,
                region,
                spec.regions.as_deref().unwrap_or(&universe),
            );
            out.push((
                rec.id,
                rec.config,
                rec.updated_at.as_millisecond(),
                u64::try_from(offset.as_millis()).unwrap_or(0),
            ));
        }
    }
    Ok(out)
}

/// One region as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegionStatusView {
    pub name: String,
    /// `builtin` (the server's own probe) or `agents`.
    pub kind: &'static str,
    /// `available` or `unavailable` (no agent heard from within the liveness timeout).
    pub status: &'static str,
    pub agents: Vec<AgentView>,
    /// Monitors checked from this region: probed (not heartbeats), not paused.
    pub monitors: usize,
    /// Probed monitors of this region that are paused (not checked, not counted in
    /// `monitors`).
    pub paused: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub id: Uuid,
    pub name: String,
    pub version: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: jiff::Timestamp,
    pub live: bool,
    /// Results received since the server started.
    pub results: u64,
    /// Monitors it runs now.
    pub assigned: usize,
    /// How long ago it was last heard from, in milliseconds.
    pub lag_ms: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RegionList {
    pub regions: Vec<RegionStatusView>,
}

/// Every region (declared, the built-in probe's, those of agent tokens and of agents
/// heard from), its agents and its health: what `GET /api/v1/regions` answers and the
/// web UI's regions page shows.
pub async fn region_list(st: &AppState) -> Result<RegionList, AppError> {
    let now = st.now();
    let mut names: Vec<RegionName> = st.declared_regions().to_vec();
    if st.local_probe() && !names.contains(st.region()) {
        names.push(st.region().clone());
    }
    for t in st.store().list_tokens().await? {
        if t.scope == "agent"
            && t.revoked_at.is_none()
            && let Some(r) = t.region.as_deref().and_then(|r| RegionName::parse(r).ok())
        {
            names.push(r);
        }
    }
    let all = st.agents().all();
    names.extend(all.iter().map(|a| a.region.clone()));
    // A disabled built-in probe is not a region.
    if !st.local_probe() {
        names.retain(|n| n != st.region());
    }
    names.sort();
    names.dedup();
    let specs: Vec<_> = st
        .store()
        .list_monitors()
        .await?
        .into_iter()
        .filter_map(|m| m.config.build().ok())
        .filter(|s| s.is_probed())
        .collect();
    let mut out = Vec::new();
    for name in names {
        let builtin = st.local_probe() && &name == st.region();
        let mut agents = Vec::new();
        for a in all.iter().filter(|a| a.region == name) {
            let live = st.agents().live(&name, now).contains(&a.id);
            let assigned_count = if live {
                assigned(st, a.id, &name).await?.len()
            } else {
                0
            };
            agents.push(AgentView {
                id: a.id,
                name: a.name.clone(),
                version: a.version.clone(),
                last_seen: a.last_seen,
                live,
                results: a.results,
                assigned: assigned_count,
                lag_ms: now.as_millisecond() - a.last_seen.as_millisecond(),
            });
        }
        let available = builtin || agents.iter().any(|a| a.live);
        out.push(RegionStatusView {
            monitors: specs
                .iter()
                .filter(|s| !s.paused && s.runs_in(&name))
                .count(),
            paused: specs
                .iter()
                .filter(|s| s.paused && s.runs_in(&name))
                .count(),
            name: name.to_string(),
            kind: if builtin { "builtin" } else { "agents" },
            status: if available {
                "available"
            } else {
                "unavailable"
            },
            agents,
        });
    }
    Ok(RegionList { regions: out })
}
