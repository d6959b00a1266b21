//! `/api/v1/monitors/{id}/redis-replicas`: the replicas a Redis primary reports, and
//! adding a monitor per replica in one action (named `[redis-replica-N] …`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use vigilmon_app::AppState;
use vigilmon_app::auth::Scope;
use vigilmon_app::error::{AppError, ErrorBody};
use vigilmon_app::extract::{Caller, Writer};
use vigilmon_app::redis::*;
use vigilmon_app::views::MonitorView;
use vigilmon_core::monitor::CheckSpec;
use vigilmon_core::{MonitorConfig, MonitorId};

/// The replicas this Redis primary reports, and whether each is monitored.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/redis-replicas", tag = "monitors", params(("id" = String, Path)),
    responses((status = 200, body = ReplicaList), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplicaList>, AppError> {
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
    _: Writer,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<CreatedReplicas>), AppError> {
    let opts: AddReplicas = if body.iter().all(u8::is_ascii_whitespace) {
        AddReplicas::default()
    } else {
        vigilmon_app::extract::decode_json(&body)?
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
        let rec = vigilmon_app::monitors::create_monitor(&st, config).await?;
        created.push(MonitorView::new(rec, Vec::new(), None));
    }
    Ok((StatusCode::CREATED, Json(CreatedReplicas { created })))
}

async fn discover(
    st: &AppState,
    id: &str,
) -> Result<(MonitorConfig, Vec<(String, u16, String, Option<i64>)>), AppError> {
    let id: MonitorId = id
        .parse()
        .map_err(|_| AppError::NotFound(format!("no monitor with id {id:?}")))?;
    let rec = st
        .store()
        .get_monitor(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no monitor with id {id}")))?;
    let spec = rec
        .config
        .build()
        .map_err(|_| AppError::Internal("stored monitor config is invalid".into()))?;
    if !matches!(spec.check, CheckSpec::Redis(_)) {
        return Err(AppError::Conflict {
            code: "not_redis",
            message: "only Redis monitors have replicas".into(),
            field: None,
        });
    }
    // A fresh look: one check now, without recording it.
    let result = st.prober().check(&spec.check, spec.timeout).await;
    // Figures are there whenever INFO was read, even when a check failed.
    let Some(details) = result.details else {
        return Err(AppError::Unavailable(format!(
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
