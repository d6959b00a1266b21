//! `/api/v1/monitors`: create, read, change, pause, resume, delete, check now, results.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;
use vigilmon_app::AppState;
use vigilmon_app::auth::Scope;
use vigilmon_app::error::{AppError, ErrorBody};
use vigilmon_app::extract::{ApiJson, ApiQuery, Caller, Writer};
use vigilmon_app::monitors::*;
use vigilmon_app::views::{
    CheckNowView, MonitorList, MonitorView, PingList, PingView, ResultList, ResultView,
};
use vigilmon_core::{MonitorConfig, MonitorId, RegionName};
use vigilmon_store::{MonitorRecord, ResultFilter};

/// List every monitor with its current state per region.
#[utoipa::path(get, path = "/api/v1/monitors", tag = "monitors",
    responses((status = 200, body = MonitorList), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<MonitorList>, AppError> {
    caller.require(Scope::Read)?;
    let mut monitors = list_views(&st).await?;
    if !caller.scope.allows(Scope::Write) {
        monitors = monitors
            .into_iter()
            .map(MonitorView::without_ping_key)
            .collect();
    }
    Ok(Json(MonitorList { monitors }))
}

/// Create a monitor from the same fields as the config file.
#[utoipa::path(post, path = "/api/v1/monitors", tag = "monitors", request_body = MonitorConfig,
    responses((status = 201, body = MonitorView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    _: Writer,
    ApiJson(config): ApiJson<MonitorConfig>,
) -> Result<(StatusCode, Json<MonitorView>), AppError> {
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
) -> Result<Json<MonitorView>, AppError> {
    caller.require(Scope::Read)?;
    let rec = load(&st, parse_id(&id)?).await?;
    let v = view(&st, rec).await?;
    Ok(Json(if caller.scope.allows(Scope::Write) {
        v
    } else {
        v.without_ping_key()
    }))
}

/// Change a monitor: a JSON merge patch (RFC 7396) of the config fields; `null`
/// removes a field.
#[utoipa::path(patch, path = "/api/v1/monitors/{id}", tag = "monitors", request_body = Object,
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 200, body = MonitorView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn patch(
    State(st): State<AppState>,
    _: Writer,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Json<MonitorView>, AppError> {
    let rec = load(&st, parse_id(&id)?).await?;
    refuse_file_managed(&rec)?;
    if !patch.is_object() {
        return Err(AppError::bad_request(
            "a PATCH body is a JSON object of the fields to change",
            None,
        ));
    }
    let config = patched_config(&rec.config, &patch)?;
    let updated = replace_monitor(&st, &rec, config).await?;
    Ok(Json(view(&st, updated).await?))
}

/// Delete a monitor and its results.
#[utoipa::path(delete, path = "/api/v1/monitors/{id}", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(st): State<AppState>,
    _: Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let rec = load(&st, parse_id(&id)?).await?;
    delete_monitor(&st, &rec).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop checking a monitor (no checks, no alerts).
#[utoipa::path(post, path = "/api/v1/monitors/{id}/pause", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 200, body = MonitorView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn pause(
    State(st): State<AppState>,
    _: Writer,
    Path(id): Path<String>,
) -> Result<Json<MonitorView>, AppError> {
    pause_or_resume(&st, &id, true).await
}

/// Resume a paused monitor; it starts again from `pending`.
#[utoipa::path(post, path = "/api/v1/monitors/{id}/resume", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 200, body = MonitorView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn resume(
    State(st): State<AppState>,
    _: Writer,
    Path(id): Path<String>,
) -> Result<Json<MonitorView>, AppError> {
    pause_or_resume(&st, &id, false).await
}

/// Run one check now from this server's region, store it, and return it.
#[utoipa::path(post, path = "/api/v1/monitors/{id}/check-now", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 200, body = CheckNowView), (status = 404, body = ErrorBody),
        (status = 409, description = "a heartbeat monitor: it is pinged, not checked", body = ErrorBody),
        (status = 503, description = "the result could not be stored (the store is unavailable, or the server is shutting down)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn check_now(
    State(st): State<AppState>,
    _: Writer,
    Path(id): Path<String>,
) -> Result<Json<CheckNowView>, AppError> {
    let rec = load(&st, parse_id(&id)?).await?;
    Ok(Json(check_now_record(&st, &rec).await?))
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
    ApiQuery(q): ApiQuery<ResultsQuery>,
) -> Result<Json<ResultList>, AppError> {
    caller.require(Scope::Read)?;
    let rec = load(&st, parse_id(&id)?).await?;
    let region = q
        .region
        .as_deref()
        .map(|r| {
            RegionName::parse(r)
                .map_err(|e| AppError::bad_request(format!("region: {e}"), Some("region".into())))
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

/// A heartbeat monitor's ping log, newest first (the last 1,000 are kept).
#[utoipa::path(get, path = "/api/v1/monitors/{id}/pings", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id"), PingsQuery),
    responses((status = 200, body = PingList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn pings(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PingsQuery>,
) -> Result<Json<PingList>, AppError> {
    caller.require(Scope::Read)?;
    let rec = load(&st, parse_id(&id)?).await?;
    let limit = parse_limit(q.limit.as_deref())?;
    let pings = st.store().list_pings(rec.id, limit).await?;
    Ok(Json(PingList {
        pings: pings.into_iter().map(PingView::from).collect(),
    }))
}

async fn pause_or_resume(
    st: &AppState,
    id: &str,
    paused: bool,
) -> Result<Json<MonitorView>, AppError> {
    let rec = load(st, parse_id(id)?).await?;
    let updated = set_paused(st, rec, paused).await?;
    Ok(Json(view(st, updated).await?))
}

fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<jiff::Timestamp>, AppError> {
    raw.map(|s| {
        s.parse::<jiff::Timestamp>().map_err(|_| {
            AppError::bad_request(
                format!("{field}: {s:?} is not an RFC 3339 time such as 2026-01-31T12:00:00Z"),
                Some(field.to_owned()),
            )
        })
    })
    .transpose()
}

fn parse_limit(raw: Option<&str>) -> Result<u32, AppError> {
    match raw {
        None => Ok(100),
        Some(l) => match l.parse::<u32>() {
            Ok(n @ 1..=1000) => Ok(n),
            _ => Err(AppError::bad_request(
                format!("limit: {l:?} must be a number from 1 to 1000"),
                Some("limit".into()),
            )),
        },
    }
}

fn parse_id(raw: &str) -> Result<MonitorId, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound(format!("no monitor with id {raw:?}")))
}

async fn load(st: &AppState, id: MonitorId) -> Result<MonitorRecord, AppError> {
    st.store()
        .get_monitor(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no monitor with id {id}")))
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
