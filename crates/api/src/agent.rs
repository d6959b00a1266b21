//! The agent protocol, server side (`/api/v1/agent/…`; PROTOCOL.md "Agents"):
//! assignments by rendezvous hashing with conditional requests, result batches, and
//! the long poll that carries confirmation requests. The region and the agent's
//! identity come from its token, never from a payload.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::time::Duration;
use vigilmon_app::AppState;
use vigilmon_app::error::AppError;
use vigilmon_app::extract::{ApiQuery, decode_json};
use vigilmon_app::regions::*;
use vigilmon_core::protocol::{
    AgentIdentity, AssignedMonitor, Assignments, MAX_RESULTS_PER_REQUEST, PROTOCOL_VERSION,
    RefusedResult, ResultsAnswer, ResultsBatch, WaitAnswer, WaitQuery, date_results,
};

/// `GET /api/v1/agent/assignments` — conditional on `If-None-Match`.
pub async fn assignments(
    State(st): State<AppState>,
    agent: AgentCaller,
    headers: HeaderMap,
) -> Result<Response, AppError> {
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
                        .map_err(|e| AppError::Internal(e.to_string()))?,
                    offset_ms: Some(offset_ms),
                })
            })
            .collect::<Result<_, AppError>>()?,
    };
    Ok(([(header::ETAG, etag)], Json(body)).into_response())
}

/// `POST /api/v1/agent/results`.
pub async fn results(
    State(st): State<AppState>,
    agent: AgentCaller,
    request: axum::extract::Request,
) -> Result<Json<ResultsAnswer>, AppError> {
    // A few batches at a time: the rest wait with their bodies unread.
    let _turn = st
        .agent_batches()
        .acquire()
        .await
        .map_err(|_| AppError::Unavailable("the server is shutting down".into()))?;
    let body =
        <axum::body::Bytes as axum::extract::FromRequest<AppState>>::from_request(request, &st)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge(format!(
                        "a batch of results must be at most {} MiB: send it in parts",
                        vigilmon_core::protocol::MAX_RESULTS_BODY_BYTES >> 20
                    ))
                } else {
                    AppError::bad_request(format!("could not read the body: {e}"), None)
                }
            })?;
    // Unknown fields are ignored: newer agents may send more (fields are only added).
    let batch: ResultsBatch = decode_json(&body)?;
    drop(body);
    if batch.results.len() > MAX_RESULTS_PER_REQUEST {
        return Err(AppError::bad_request(
            format!("results: at most {MAX_RESULTS_PER_REQUEST} per batch"),
            Some("results".into()),
        ));
    }
    // The specs of the monitors this batch names, from the engine's memory: not every
    // monitor read from the store per request (at 100,000 monitors that was most of
    // the cost of taking a batch).
    let mut specs = std::collections::HashMap::new();
    for item in batch.results.iter() {
        if let std::collections::hash_map::Entry::Vacant(e) = specs.entry(item.monitor_id) {
            e.insert(st.engine().monitor_spec(item.monitor_id).await);
        }
    }
    let (mut accepted, mut ignored, mut refused) = (0usize, 0usize, Vec::new());
    let items = batch.results.into_owned();
    let times: Vec<_> = items.iter().map(|i| i.result.checked_at).collect();
    let dated = date_results(&times, st.now(), st.engine().retention_raw());
    for ((index, item), dated) in items.into_iter().enumerate().zip(dated) {
        let id = item.monitor_id;
        match specs.get(&id).and_then(Option::as_ref) {
            Some(spec) if spec.is_probed() && spec.runs_in(&agent.region) => {
                let mut result = item.result;
                match dated {
                    Ok(at) => result.checked_at = at,
                    Err(error) => {
                        refused.push(RefusedResult {
                            index,
                            monitor_id: id,
                            error,
                        });
                        continue;
                    }
                }
                // The region is the token's, whatever the payload says.
                result.region = agent.region.clone();
                // Evidence only when the agent says it was in touch: a result taken
                // while it was cut off, or held back in its disk buffer, goes into the
                // history alone. (The agent decides, not a comparison of clocks: an
                // agent whose clock is behind must not lose its say.)
                if item.offline {
                    st.recorder().submit_history(id, spec.clone(), result).await;
                } else {
                    st.recorder().submit(id, spec.clone(), result).await;
                }
                accepted += 1;
            }
            _ => ignored += 1,
        }
    }
    if !refused.is_empty() {
        tracing::warn!(
            message = "agent results refused",
            agent = %agent.name,
            region = %agent.region,
            count = refused.len(),
            first = %refused[0].error
        );
    }
    st.agents().received(agent.id, accepted);
    Ok(Json(ResultsAnswer {
        accepted: accepted as u64,
        ignored: ignored as u64,
        refused,
    }))
}

/// `GET /api/v1/agent/wait?timeout_ms=` — confirmation checks for this agent.
pub async fn wait(
    State(st): State<AppState>,
    agent: AgentCaller,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Json<WaitAnswer> {
    let timeout = Duration::from_millis(q.timeout_ms.unwrap_or(25_000)).min(MAX_WAIT);
    // Contact was recorded when the request came in. Not again when the wait ends: the
    // agent may have been cut off since (its connection silently dead), and counting
    // the end of a wait as contact announced a cut-off region back while it was not.
    let checks = st.agents().wait(agent.id, timeout).await;
    Json(WaitAnswer { checks })
}

/// Regions, their agents and their health.
#[utoipa::path(get, path = "/api/v1/regions", tag = "regions",
    responses((status = 200, body = RegionList)), security(("bearer" = [])))]
pub async fn regions(
    State(st): State<AppState>,
    caller: vigilmon_app::extract::Caller,
) -> Result<Json<RegionList>, AppError> {
    caller.require(vigilmon_app::auth::Scope::Read)?;
    Ok(Json(region_list(&st).await?))
}
