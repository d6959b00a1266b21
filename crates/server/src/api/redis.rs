//! `/api/v1/monitors/{id}/redis-replicas`: the replicas a Redis primary reports, and
//! adding a monitor per replica in one action (named `[redis-replica-N] …`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vigilmon_core::monitor::CheckSpec;
use vigilmon_core::{MonitorConfig, MonitorId};
use vigilmon_store::MonitorSource;

use super::error::{ApiError, ErrorBody};
use super::extract::Caller;
use super::views::MonitorView;
use crate::AppState;
use crate::auth::Scope;

/// One replica a primary reports.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReplicaView {
    /// `ip:port` as the primary sees it.
    pub addr: String,
    /// `online`, `wait_bgsave`, `send_bulk`…
    pub state: String,
    pub lag_seconds: Option<i64>,
    /// The monitor that would be (or was) created for it.
    pub monitor_name: String,
    /// Whether a monitor of that name exists.
    pub monitored: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReplicaList {
    pub replicas: Vec<ReplicaView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedReplicas {
    /// Monitors created by this call (replicas already monitored are skipped).
    pub created: Vec<MonitorView>,
}

/// Optional settings for the new monitors.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddReplicas {
    /// Policy of the replica monitors (default: the primary's).
    pub policy: Option<String>,
}

async fn discover(
    st: &AppState,
    id: &str,
) -> Result<(MonitorConfig, Vec<(String, u16, String, Option<i64>)>), ApiError> {
    let id: MonitorId = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no monitor with id {id:?}")))?;
    let rec = st
        .store()
        .get_monitor(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no monitor with id {id}")))?;
    let spec = rec
        .config
        .build()
        .map_err(|_| ApiError::Internal("stored monitor config is invalid".into()))?;
    if !matches!(spec.check, CheckSpec::Redis(_)) {
        return Err(ApiError::Conflict {
            code: "not_redis",
            message: "only Redis monitors have replicas".into(),
            field: None,
        });
    }
    // A fresh look: one check now, without recording it.
    let result = st.prober().check(&spec.check, spec.timeout).await;
    // Figures are there whenever INFO was read, even when a check failed.
    let Some(details) = result.details else {
        return Err(ApiError::Unavailable(format!(
            "could not read the replicas: {}",
            result.verdict.message().unwrap_or("no answer")
        )));
    };
    let replicas = details["replicas"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    let (ip, port) = r["addr"].as_str()?.rsplit_once(':')?;
                    Some((
                        ip.to_owned(),
                        port.parse().ok()?,
                        r["state"].as_str().unwrap_or_default().to_owned(),
                        r["lag_seconds"].as_i64(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((rec.config, replicas))
}

/// The replicas this Redis primary reports, and whether each is monitored.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/redis-replicas", tag = "monitors", params(("id" = String, Path)),
    responses((status = 200, body = ReplicaList), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplicaList>, ApiError> {
    caller.require(Scope::Read)?;
    let (primary, found) = discover(&st, &id).await?;
    let addrs: Vec<(String, u16)> = found
        .iter()
        .map(|(ip, port, _, _)| (ip.clone(), *port))
        .collect();
    let configs = vigilmon_core::redis::replica_monitors(&primary, &addrs);
    let existing: Vec<String> = st
        .store()
        .list_monitors()
        .await?
        .into_iter()
        .map(|m| m.config.name)
        .collect();
    let replicas = found
        .into_iter()
        .zip(configs)
        .map(|((ip, port, state, lag), c)| ReplicaView {
            addr: format!("{ip}:{port}"),
            state,
            lag_seconds: lag,
            monitored: existing.contains(&c.name),
            monitor_name: c.name,
        })
        .collect();
    Ok(Json(ReplicaList { replicas }))
}

/// Add a monitor for each replica the primary reports (`[redis-replica-N] …`,
/// expecting the replica role); replicas already monitored are skipped.
#[utoipa::path(post, path = "/api/v1/monitors/{id}/redis-replicas", tag = "monitors", params(("id" = String, Path)),
    request_body(content = AddReplicas, description = "optional"),
    responses((status = 201, body = CreatedReplicas), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<CreatedReplicas>), ApiError> {
    caller.require(Scope::Write)?;
    let opts: AddReplicas = if body.iter().all(u8::is_ascii_whitespace) {
        AddReplicas::default()
    } else {
        super::extract::decode_json(&body)?
    };
    let (mut primary, found) = discover(&st, &id).await?;
    if let Some(p) = opts.policy {
        primary.policy = Some(p);
    }
    let addrs: Vec<(String, u16)> = found
        .into_iter()
        .map(|(ip, port, _, _)| (ip, port))
        .collect();
    let existing: Vec<String> = st
        .store()
        .list_monitors()
        .await?
        .into_iter()
        .map(|m| m.config.name)
        .collect();
    let mut created = Vec::new();
    for config in vigilmon_core::redis::replica_monitors(&primary, &addrs) {
        if existing.contains(&config.name) {
            continue;
        }
        let spec = Arc::new(config.build().map_err(ApiError::Invalid)?);
        super::monitors::check_policy(&st, &config).await?;
        let id = MonitorId::from_uuid(Uuid::now_v7());
        let rec = st
            .store()
            .create_monitor(id, &config, MonitorSource::Api, st.now())
            .await?;
        st.scheduler().upsert(id, spec);
        created.push(MonitorView::new(rec, Vec::new(), None));
    }
    if !created.is_empty() {
        st.alerting().config_changed().await;
    }
    Ok((StatusCode::CREATED, Json(CreatedReplicas { created })))
}
