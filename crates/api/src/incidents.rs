//! `/api/v1/incidents`: list and filter, show with the timeline, acknowledge, resolve,
//! add a note. The public updates of an incident (`/api/v1/incidents/{id}/updates`)
//! are in [`crate::status_pages`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;
use vigilmon_app::AppState;
use vigilmon_app::auth::Scope;
use vigilmon_app::error::{AppError, ErrorBody};
use vigilmon_app::extract::{ApiJson, ApiQuery, Caller, Writer};
use vigilmon_app::incidents::*;
use vigilmon_core::MonitorId;
use vigilmon_store::IncidentFilter;

/// Incidents, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentQuery),
    responses((status = 200, body = IncidentList), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IncidentQuery>,
) -> Result<Json<IncidentList>, AppError> {
    caller.require(Scope::Read)?;
    if let Some(s) = &q.state
        && !["open", "acknowledged", "resolved"].contains(&s.as_str())
    {
        return Err(AppError::bad_request(
            format!("state: {s:?} must be open, acknowledged or resolved"),
            Some("state".into()),
        ));
    }
    let monitor_id = match &q.monitor {
        Some(m) => Some(MonitorId::from_uuid(Uuid::parse_str(m).map_err(|_| {
            AppError::bad_request(
                format!("monitor: {m:?} is not a monitor id"),
                Some("monitor".into()),
            )
        })?)),
        None => None,
    };
    if q.limit.is_some_and(|l| l == 0 || l > 1000) {
        return Err(AppError::bad_request(
            "limit: must be from 1 to 1000",
            Some("limit".into()),
        ));
    }
    let filter = IncidentFilter {
        state: q.state.clone(),
        monitor_id,
        limit: q.limit.unwrap_or(100),
    };
    let now = st.now();
    let incidents = st
        .store()
        .list_incidents(&filter)
        .await?
        .into_iter()
        .map(|i| IncidentView::new(i, now))
        .collect();
    Ok(Json(IncidentList { incidents }))
}

/// One incident with its timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", params(("id" = String, Path)),
    responses((status = 200, body = IncidentDetail), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, AppError> {
    caller.require(Scope::Read)?;
    Ok(Json(detail(&st, parse_incident(&id)?).await?))
}

/// Acknowledge: someone is on it. Reminders and escalation stop.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents", params(("id" = String, Path)),
    request_body(content = Option<ActBody>, description = "optional"),
    responses((status = 200, body = IncidentDetail), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn acknowledge(
    State(st): State<AppState>,
    Writer(caller): Writer,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<IncidentDetail>, AppError> {
    let id = parse_incident(&id)?;
    let by = actor(&st, &caller, optional_body(&body)?.by).await?;
    st.alerting().acknowledge(id, by).await.map_err(conflict)?;
    Ok(Json(detail(&st, id).await?))
}

/// Resolve by hand (the monitor may still be failing).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents", params(("id" = String, Path)),
    request_body(content = Option<ActBody>, description = "optional"),
    responses((status = 200, body = IncidentDetail), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn resolve(
    State(st): State<AppState>,
    Writer(caller): Writer,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<IncidentDetail>, AppError> {
    let id = parse_incident(&id)?;
    let by = actor(&st, &caller, optional_body(&body)?.by).await?;
    st.alerting().resolve(id, by).await.map_err(conflict)?;
    Ok(Json(detail(&st, id).await?))
}

/// Add a note to the timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents", params(("id" = String, Path)),
    request_body = NoteBody,
    responses((status = 201, body = IncidentDetail), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn note(
    State(st): State<AppState>,
    Writer(caller): Writer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<(StatusCode, Json<IncidentDetail>), AppError> {
    let id = parse_incident(&id)?;
    let by = actor(&st, &caller, body.by).await?;
    add_note(&st, id, &body.text, by).await?;
    Ok((StatusCode::CREATED, Json(detail(&st, id).await?)))
}

fn parse_incident(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound(format!("no incident with id {raw:?}")))
}

/// An optional JSON body: empty means defaults.
fn optional_body(bytes: &[u8]) -> Result<ActBody, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActBody::default());
    }
    vigilmon_app::extract::decode_json(bytes)
}
