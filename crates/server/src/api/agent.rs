//! The agent protocol, server side (`/api/v1/agent/…`; PROTOCOL.md "Agents"):
//! assignments by rendezvous hashing with conditional requests, result batches, and
//! the long poll that carries confirmation requests. The region and the agent's
//! identity come from its token, never from a payload.

use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use vigilmon_core::protocol::{
    AgentIdentity, AssignedMonitor, Assignments, MAX_RESULTS_PER_REQUEST, MAX_WAIT_TIMEOUT_MS,
    PROTOCOL_VERSION, ResultsAnswer, ResultsBatch, WaitAnswer, WaitQuery,
};
use vigilmon_core::{MonitorConfig, MonitorId, RegionName};

use super::error::ApiError;
use super::extract::decode_json;
use crate::AppState;
use crate::auth::hash_token;
use vigilmon_engine::agents::owner;

/// Longest long poll.
const MAX_WAIT: Duration = Duration::from_millis(MAX_WAIT_TIMEOUT_MS);

/// An authenticated agent.
#[derive(Debug, Clone)]
pub struct AgentCaller {
    pub id: Uuid,
    pub name: String,
    pub region: RegionName,
}

impl FromRequestParts<AppState> for AgentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized(
                "an agent token is required: Authorization: Bearer <token>",
            ))?;
        let rec = st
            .store()
            .token_by_hash(&hash_token(token))
            .await?
            .filter(|t| t.revoked_at.is_none())
            .ok_or(ApiError::Unauthorized("unknown or revoked agent token"))?;
        if rec.scope != "agent" {
            return Err(ApiError::Forbidden("this is not an agent token".into()));
        }
        let region = rec
            .region
            .as_deref()
            .and_then(|r| RegionName::parse(r).ok())
            .ok_or(ApiError::Forbidden(
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
pub(crate) async fn assigned(
    st: &AppState,
    agent: Uuid,
    region: &RegionName,
) -> Result<Vec<(MonitorId, MonitorConfig, i64, u64)>, ApiError> {
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

/// `GET /api/v1/agent/assignments` — conditional on `If-None-Match`.
pub async fn assignments(
    State(st): State<AppState>,
    agent: AgentCaller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let monitors = assigned(&st, agent.id, &agent.region).await?;
    let mut h = Sha256::new();
    h.update(agent.region.as_str());
    for (id, _, updated, offset) in &monitors {
        h.update(id.as_uuid().as_bytes());
        h.update(updated.to_be_bytes());
        h.update(offset.to_be_bytes());
    }
    let etag = format!("\"{}\"", &hex::encode(h.finalize())[..32]);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let body = Assignments {
        protocol: PROTOCOL_VERSION,
        region: agent.region.to_string(),
        agent: Some(AgentIdentity {
            id: agent.id.to_string(),
            name: agent.name,
        }),
        poll_interval_ms: Some(
            u64::try_from(st.agents().poll_interval().as_millis()).unwrap_or(15_000),
        ),
        monitors: monitors
            .into_iter()
            .map(|(id, config, _, offset_ms)| {
                Ok(AssignedMonitor {
                    id,
                    config: serde_json::to_value(config)
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                    offset_ms: Some(offset_ms),
                })
            })
            .collect::<Result<_, ApiError>>()?,
    };
    Ok(([(header::ETAG, etag)], Json(body)).into_response())
}

/// `POST /api/v1/agent/results`.
pub async fn results(
    State(st): State<AppState>,
    agent: AgentCaller,
    body: axum::body::Bytes,
) -> Result<Json<ResultsAnswer>, ApiError> {
    // Unknown fields are ignored: newer agents may send more (fields are only added).
    let batch: ResultsBatch = decode_json(&body)?;
    if batch.results.len() > MAX_RESULTS_PER_REQUEST {
        return Err(ApiError::bad_request(
            format!("results: at most {MAX_RESULTS_PER_REQUEST} per batch"),
            Some("results".into()),
        ));
    }
    let specs: std::collections::HashMap<MonitorId, _> = st
        .store()
        .list_monitors()
        .await?
        .into_iter()
        .filter_map(|m| Some((m.id, std::sync::Arc::new(m.config.build().ok()?))))
        .collect();
    let (mut accepted, mut ignored) = (0usize, 0usize);
    for item in batch.results.into_owned() {
        let id = item.monitor_id;
        match specs.get(&id) {
            Some(spec) if spec.is_probed() && spec.runs_in(&agent.region) => {
                let mut result = item.result;
                // The region is the token's, whatever the payload says.
                result.region = agent.region.clone();
                st.recorder().submit(id, spec.clone(), result).await;
                accepted += 1;
            }
            _ => ignored += 1,
        }
    }
    st.agents().received(agent.id, accepted);
    Ok(Json(ResultsAnswer {
        accepted: accepted as u64,
        ignored: ignored as u64,
    }))
}

/// `GET /api/v1/agent/wait?timeout_ms=` — confirmation checks for this agent.
pub async fn wait(
    State(st): State<AppState>,
    agent: AgentCaller,
    Query(q): Query<WaitQuery>,
) -> Json<WaitAnswer> {
    let timeout = Duration::from_millis(q.timeout_ms.unwrap_or(25_000)).min(MAX_WAIT);
    let checks = st.agents().wait(agent.id, timeout).await;
    // Still here after the wait: still live.
    st.agents()
        .touch(agent.id, &agent.name, &agent.region, None, st.now());
    Json(WaitAnswer { checks })
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
    /// Monitors that run in this region.
    pub monitors: usize,
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

/// Regions, their agents and their health.
#[utoipa::path(get, path = "/api/v1/regions", tag = "regions",
    responses((status = 200, body = RegionList)), security(("bearer" = [])))]
pub async fn regions(
    State(st): State<AppState>,
    caller: super::extract::Caller,
) -> Result<Json<RegionList>, ApiError> {
    caller.require(crate::auth::Scope::Read)?;
    Ok(Json(region_list(&st).await?))
}

/// Every region (declared, the built-in probe's, those of agent tokens and of agents
/// heard from), its agents and its health: what `GET /api/v1/regions` answers and the
/// web UI's regions page shows.
pub(crate) async fn region_list(st: &AppState) -> Result<RegionList, ApiError> {
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
        .filter(|s| s.is_probed() && !s.paused)
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
            monitors: specs.iter().filter(|s| s.runs_in(&name)).count(),
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
