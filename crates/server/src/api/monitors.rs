//! `/api/v1/monitors`: create, read, change, pause, resume, delete, check now, results.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;
use vigilmon_core::monitor::CheckSpec;
use vigilmon_core::{MonitorConfig, MonitorId, MonitorSpec, RegionName};
use vigilmon_store::{HeartbeatRow, MonitorRecord, MonitorSource, ResultFilter};

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use super::views::{
    CheckNowView, HeartbeatView, MonitorList, MonitorView, PingList, PingView, REDACTED,
    ResultList, ResultView, is_secret_header,
};
use crate::AppState;
use crate::auth::Scope;
use vigilmon_engine::heartbeats::generate_ping_token;

fn parse_id(raw: &str) -> Result<MonitorId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no monitor with id {raw:?}")))
}

async fn load(st: &AppState, id: MonitorId) -> Result<MonitorRecord, ApiError> {
    st.store()
        .get_monitor(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no monitor with id {id}")))
}

/// The API's view of one monitor (state per region, heartbeat facts, maintenance).
/// The monitor and its regions are read again from one snapshot, so the monitor's
/// state always agrees with its regions' (a monitor deleted meanwhile shows as given).
pub(crate) async fn view(st: &AppState, rec: MonitorRecord) -> Result<MonitorView, ApiError> {
    let (rec, regions) = st
        .store()
        .monitor_with_regions(rec.id)
        .await?
        .unwrap_or((rec, Vec::new()));
    let hb = match st.store().heartbeat(rec.id).await? {
        Some(row) if rec.config.kind == "heartbeat" => heartbeat_view(st, &rec, row),
        _ => None,
    };
    let windows = active_maintenance(st).await?;
    Ok(overlay(MonitorView::new(rec, regions, hb), &windows))
}

/// Maintenance windows active now.
async fn active_maintenance(
    st: &AppState,
) -> Result<Vec<vigilmon_core::maintenance::MaintenanceSpec>, ApiError> {
    let now = st.now();
    Ok(st
        .store()
        .list_maintenance()
        .await?
        .into_iter()
        .filter(|w| w.ended_at.is_none())
        .filter_map(|w| {
            serde_json::from_value::<vigilmon_core::maintenance::MaintenanceConfig>(w.config)
                .ok()?
                .build()
                .ok()
        })
        .filter(|w| w.active_at(now).is_some())
        .collect())
}

/// A monitor inside an active maintenance window shows `maintenance` (its checks go
/// on; `check_state` keeps what they say).
fn overlay(
    mut v: MonitorView,
    windows: &[vigilmon_core::maintenance::MaintenanceSpec],
) -> MonitorView {
    if v.state != vigilmon_core::MonitorState::Paused
        && windows
            .iter()
            .any(|w| w.applies_to(&v.config.name, &v.config.tags))
    {
        v.check_state = Some(v.state);
        v.state = vigilmon_core::MonitorState::Maintenance;
    }
    v
}

/// The ping URLs and ping facts of a heartbeat monitor.
fn heartbeat_view(
    st: &AppState,
    rec: &MonitorRecord,
    row: HeartbeatRow,
) -> Option<(String, HeartbeatView)> {
    let spec = rec.config.build().ok()?;
    let CheckSpec::Heartbeat(hb) = &spec.check else {
        return None;
    };
    let deadline = if spec.paused {
        None
    } else {
        row.state.deadline(hb)
    };
    Some((
        st.ping_url(&row.token),
        HeartbeatView {
            slug_ping_url: st.slug_ping_url(&hb.slug),
            pings_total: row.pings_total,
            last_ping_at: row.state.last_ping_at,
            last_success_at: row.state.last_success_at,
            deadline,
            reason: row.state.reason.clone(),
        },
    ))
}

/// Tells the heartbeat engine about a created or changed monitor (making sure a
/// heartbeat monitor has its ping token).
async fn notify_heartbeats(
    st: &AppState,
    id: MonitorId,
    spec: &Arc<MonitorSpec>,
) -> Result<(), ApiError> {
    if let CheckSpec::Heartbeat(_) = spec.check {
        let token = st
            .store()
            .ensure_heartbeat(id, &generate_ping_token(), st.now())
            .await?;
        st.heartbeats().upsert(id, spec.clone(), token).await;
    } else {
        st.heartbeats().remove(id).await;
    }
    Ok(())
}

fn build(config: &MonitorConfig) -> Result<MonitorSpec, ApiError> {
    config.build().map_err(ApiError::Invalid)
}

/// What happened to a monitor in the store, for [`after_monitor_change`].
pub(crate) enum MonitorChange {
    Created(Arc<MonitorSpec>),
    Updated(Arc<MonitorSpec>),
    /// Paused or resumed; `changed` is false when it already was.
    PauseSet {
        spec: Arc<MonitorSpec>,
        changed: bool,
    },
    Deleted,
}

/// The steps after a monitor changed in the store, shared by the API and the web UI:
/// tell the recorder, the heartbeat engine, the scheduler and the alerting driver.
pub(crate) async fn after_monitor_change(
    st: &AppState,
    id: MonitorId,
    change: MonitorChange,
) -> Result<(), ApiError> {
    match change {
        MonitorChange::Created(spec) => {
            notify_heartbeats(st, id, &spec).await?;
            st.scheduler().upsert(id, spec);
            st.alerting().config_changed().await;
        }
        MonitorChange::Updated(spec) => {
            st.recorder().reload(id).await;
            notify_heartbeats(st, id, &spec).await?;
            st.scheduler().upsert(id, spec);
            st.alerting().config_changed().await;
        }
        MonitorChange::PauseSet { spec, changed } => {
            if changed {
                st.recorder().reload(id).await;
            }
            notify_heartbeats(st, id, &spec).await?;
            st.scheduler().upsert(id, spec);
        }
        MonitorChange::Deleted => {
            st.scheduler().remove(id);
            st.heartbeats().remove(id).await;
            st.recorder().reload(id).await;
            st.alerting().config_changed().await;
        }
    }
    Ok(())
}

/// Validates and stores a new monitor, then sets it running.
pub(crate) async fn create_monitor(
    st: &AppState,
    mut config: MonitorConfig,
) -> Result<MonitorRecord, ApiError> {
    let spec = build(&config)?;
    check_policy(st, &config).await?;
    config.name = spec.name.clone();
    let id = MonitorId::from_uuid(Uuid::now_v7());
    let rec = st
        .store()
        .create_monitor(id, &config, MonitorSource::Api, st.now())
        .await?;
    after_monitor_change(st, id, MonitorChange::Created(Arc::new(spec))).await?;
    Ok(rec)
}

/// Validates and stores a monitor's whole new config (monitors from the config file
/// are refused), then applies it.
pub(crate) async fn replace_monitor(
    st: &AppState,
    rec: &MonitorRecord,
    mut config: MonitorConfig,
) -> Result<MonitorRecord, ApiError> {
    refuse_file_managed(rec)?;
    let spec = build(&config)?;
    check_policy(st, &config).await?;
    config.name = spec.name.clone();
    let updated = st.store().update_monitor(rec.id, &config, st.now()).await?;
    after_monitor_change(st, rec.id, MonitorChange::Updated(Arc::new(spec))).await?;
    Ok(updated)
}

/// Deletes a monitor (not one from the config file) and stops everything about it.
pub(crate) async fn delete_monitor(st: &AppState, rec: &MonitorRecord) -> Result<(), ApiError> {
    refuse_file_managed(rec)?;
    if !st.store().delete_monitor(rec.id).await? {
        return Err(ApiError::NotFound(format!("no monitor with id {}", rec.id)));
    }
    after_monitor_change(st, rec.id, MonitorChange::Deleted).await
}

/// Refuses a monitor that names a policy that does not exist.
pub(crate) async fn check_policy(st: &AppState, config: &MonitorConfig) -> Result<(), ApiError> {
    if let Some(p) = &config.policy
        && !st
            .store()
            .list_policies()
            .await?
            .iter()
            .any(|x| &x.name == p)
    {
        return Err(ApiError::Invalid(vec![
            vigilmon_core::ValidationError::new("policy", format!("no policy named {p:?}")),
        ]));
    }
    Ok(())
}

fn refuse_file_managed(rec: &MonitorRecord) -> Result<(), ApiError> {
    if rec.source == MonitorSource::File {
        return Err(ApiError::Conflict {
            code: "managed_by_config",
            message: format!(
                "monitor {:?} is declared in the config file; change it there (pause and resume work here)",
                rec.config.name
            ),
            field: None,
        });
    }
    Ok(())
}

/// List every monitor with its current state per region.
#[utoipa::path(get, path = "/api/v1/monitors", tag = "monitors",
    responses((status = 200, body = MonitorList), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<MonitorList>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(MonitorList {
        monitors: list_views(&st).await?,
    }))
}

/// Every monitor as the API shows it.
pub(crate) async fn list_views(st: &AppState) -> Result<Vec<MonitorView>, ApiError> {
    // Monitors and regions from one snapshot, so each monitor's state agrees with its
    // regions'.
    let (monitors, all_regions) = st.store().monitors_with_regions().await?;
    let mut regions: HashMap<MonitorId, Vec<_>> = HashMap::new();
    for (id, r) in all_regions {
        regions.entry(id).or_default().push(r);
    }
    let mut heartbeats: HashMap<MonitorId, HeartbeatRow> = st
        .store()
        .heartbeats()
        .await?
        .into_iter()
        .map(|h| (h.monitor_id, h))
        .collect();
    let windows = active_maintenance(st).await?;
    Ok(monitors
        .into_iter()
        .map(|rec| {
            let rs = regions.remove(&rec.id).unwrap_or_default();
            let hb = match heartbeats.remove(&rec.id) {
                Some(row) if rec.config.kind == "heartbeat" => heartbeat_view(st, &rec, row),
                _ => None,
            };
            overlay(MonitorView::new(rec, rs, hb), &windows)
        })
        .collect())
}

/// Create a monitor from the same fields as the config file.
#[utoipa::path(post, path = "/api/v1/monitors", tag = "monitors", request_body = MonitorConfig,
    responses((status = 201, body = MonitorView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(config): ApiJson<MonitorConfig>,
) -> Result<(StatusCode, Json<MonitorView>), ApiError> {
    caller.require(Scope::Write)?;
    let rec = create_monitor(&st, config).await?;
    Ok((StatusCode::CREATED, Json(view(&st, rec).await?)))
}

/// One monitor.
#[utoipa::path(get, path = "/api/v1/monitors/{id}", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 200, body = MonitorView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MonitorView>, ApiError> {
    caller.require(Scope::Read)?;
    let rec = load(&st, parse_id(&id)?).await?;
    Ok(Json(view(&st, rec).await?))
}

/// Change a monitor: a JSON merge patch (RFC 7396) of the config fields; `null`
/// removes a field.
#[utoipa::path(patch, path = "/api/v1/monitors/{id}", tag = "monitors", request_body = Object,
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 200, body = MonitorView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn patch(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Json<MonitorView>, ApiError> {
    caller.require(Scope::Write)?;
    let rec = load(&st, parse_id(&id)?).await?;
    refuse_file_managed(&rec)?;
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "a PATCH body is a JSON object of the fields to change",
            None,
        ));
    }
    let mut doc =
        serde_json::to_value(&rec.config).map_err(|e| ApiError::Internal(e.to_string()))?;
    merge_patch(&mut doc, &patch);
    keep_redacted_headers(&mut doc, &rec.config);
    let config: MonitorConfig = serde_path_to_error::deserialize(doc).map_err(|e| {
        let field = e.path().to_string();
        ApiError::bad_request(format!("{field}: {}", e.inner()), Some(field))
    })?;
    let updated = replace_monitor(&st, &rec, config).await?;
    Ok(Json(view(&st, updated).await?))
}

/// A header value sent back as the redaction mask keeps the stored secret.
pub(crate) fn keep_redacted_headers(doc: &mut Value, old: &MonitorConfig) {
    let Some(headers) = doc.get_mut("headers").and_then(Value::as_object_mut) else {
        return;
    };
    for (k, v) in headers.iter_mut() {
        if is_secret_header(k)
            && v.as_str() == Some(REDACTED)
            && let Some(orig) = old.headers.as_ref().and_then(|h| h.get(k))
        {
            *v = Value::String(orig.clone());
        }
    }
}

/// RFC 7396 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(serde_json::Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Delete a monitor and its results.
#[utoipa::path(delete, path = "/api/v1/monitors/{id}", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::Write)?;
    let rec = load(&st, parse_id(&id)?).await?;
    delete_monitor(&st, &rec).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses or resumes a monitor (also one from the config file).
pub(crate) async fn set_paused(
    st: &AppState,
    rec: MonitorRecord,
    paused: bool,
) -> Result<MonitorRecord, ApiError> {
    let mut config = rec.config.clone();
    config.paused = paused;
    let spec = build(&config)?;
    let changed = rec.config.paused != paused;
    let updated = if changed {
        st.store().update_monitor(rec.id, &config, st.now()).await?
    } else {
        rec
    };
    let spec = Arc::new(spec);
    after_monitor_change(st, updated.id, MonitorChange::PauseSet { spec, changed }).await?;
    Ok(updated)
}

async fn pause_or_resume(
    st: &AppState,
    id: &str,
    paused: bool,
) -> Result<Json<MonitorView>, ApiError> {
    let rec = load(st, parse_id(id)?).await?;
    let updated = set_paused(st, rec, paused).await?;
    Ok(Json(view(st, updated).await?))
}

/// Stop checking a monitor (no checks, no alerts).
#[utoipa::path(post, path = "/api/v1/monitors/{id}/pause", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 200, body = MonitorView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn pause(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MonitorView>, ApiError> {
    caller.require(Scope::Write)?;
    pause_or_resume(&st, &id, true).await
}

/// Resume a paused monitor; it starts again from `pending`.
#[utoipa::path(post, path = "/api/v1/monitors/{id}/resume", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 200, body = MonitorView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn resume(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MonitorView>, ApiError> {
    caller.require(Scope::Write)?;
    pause_or_resume(&st, &id, false).await
}

/// Run one check now from this server's region, store it, and return it.
#[utoipa::path(post, path = "/api/v1/monitors/{id}/check-now", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 200, body = CheckNowView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn check_now(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CheckNowView>, ApiError> {
    caller.require(Scope::Write)?;
    let rec = load(&st, parse_id(&id)?).await?;
    Ok(Json(check_now_record(&st, &rec).await?))
}

/// Runs one check of a stored monitor now from this server's region and records it.
pub(crate) async fn check_now_record(
    st: &AppState,
    rec: &MonitorRecord,
) -> Result<CheckNowView, ApiError> {
    let spec = Arc::new(rec.config.build().map_err(|e| {
        ApiError::Internal(format!(
            "stored monitor config is invalid: {}",
            e.first().map(ToString::to_string).unwrap_or_default()
        ))
    })?);
    if !spec.is_probed() {
        return Err(ApiError::Conflict {
            code: "not_probed",
            message: "heartbeat monitors are pinged, not checked: see ping_url".into(),
            field: None,
        });
    }
    let result = st.prober().check(&spec.check, spec.timeout).await;
    let recorded = st
        .recorder()
        .submit_and_wait(rec.id, spec, result.clone())
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(CheckNowView {
        result: ResultView::new(result, recorded.region_state),
        state: recorded.monitor_state,
    })
}

/// Filters for the results list.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct ResultsQuery {
    /// Only this region.
    pub region: Option<String>,
    /// Only results at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only results before this time (RFC 3339).
    pub until: Option<String>,
    /// At most this many (1-1000, default 100), newest first.
    pub limit: Option<String>,
}

fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<jiff::Timestamp>, ApiError> {
    raw.map(|s| {
        s.parse::<jiff::Timestamp>().map_err(|_| {
            ApiError::bad_request(
                format!("{field}: {s:?} is not an RFC 3339 time such as 2026-01-31T12:00:00Z"),
                Some(field.to_owned()),
            )
        })
    })
    .transpose()
}

/// A monitor's check results, newest first.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/results", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id"), ResultsQuery),
    responses((status = 200, body = ResultList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn results(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ResultsQuery>,
) -> Result<Json<ResultList>, ApiError> {
    caller.require(Scope::Read)?;
    let rec = load(&st, parse_id(&id)?).await?;
    let region = q
        .region
        .as_deref()
        .map(|r| {
            RegionName::parse(r)
                .map_err(|e| ApiError::bad_request(format!("region: {e}"), Some("region".into())))
        })
        .transpose()?;
    let limit = parse_limit(q.limit.as_deref())?;
    let filter = ResultFilter {
        region,
        since: parse_time("since", q.since.as_deref())?,
        until: parse_time("until", q.until.as_deref())?,
        limit,
    };
    let results = st.store().list_results(rec.id, &filter).await?;
    Ok(Json(ResultList {
        results: results.into_iter().map(ResultView::from).collect(),
    }))
}

/// Filters for the ping log.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct PingsQuery {
    /// At most this many (1-1000, default 100), newest first.
    pub limit: Option<String>,
}

/// A heartbeat monitor's ping log, newest first (the last 1,000 are kept).
#[utoipa::path(get, path = "/api/v1/monitors/{id}/pings", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id"), PingsQuery),
    responses((status = 200, body = PingList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn pings(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<PingsQuery>,
) -> Result<Json<PingList>, ApiError> {
    caller.require(Scope::Read)?;
    let rec = load(&st, parse_id(&id)?).await?;
    let limit = parse_limit(q.limit.as_deref())?;
    let pings = st.store().list_pings(rec.id, limit).await?;
    Ok(Json(PingList {
        pings: pings.into_iter().map(PingView::from).collect(),
    }))
}

fn parse_limit(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(100),
        Some(l) => match l.parse::<u32>() {
            Ok(n @ 1..=1000) => Ok(n),
            _ => Err(ApiError::bad_request(
                format!("limit: {l:?} must be a number from 1 to 1000"),
                Some("limit".into()),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut doc = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        merge_patch(
            &mut doc,
            &json!({"a": null, "b": {"c": 5}, "e": [2], "f": "x"}),
        );
        assert_eq!(doc, json!({"b": {"c": 5, "d": 3}, "e": [2], "f": "x"}));
    }
}
