//! `/api/v1/incidents`: list and filter, show with the timeline, acknowledge, resolve,
//! add a note; and `/api/v1/maintenance`: windows that hold notifications.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vigilmon_core::MonitorId;
use vigilmon_store::{IncidentEvent, IncidentFilter, IncidentRecord, NewIncidentEvent};

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use crate::AppState;
use crate::auth::Scope;

/// An incident, in the shape of PRODUCT.md section 8.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IncidentView {
    pub id: Uuid,
    pub monitor_id: Uuid,
    pub monitor_name: String,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    pub priority: String,
    pub cause: String,
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    /// Regions whose results were failing when it opened.
    pub regions_failing: Vec<String>,
    /// Each region's evidence when it opened.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    /// The incident of a monitor this one depends on, when linked to it.
    pub parent_id: Option<Uuid>,
    /// Outage length so far, or in total once resolved.
    pub duration_ms: i64,
}

impl IncidentView {
    pub fn new(i: IncidentRecord, now: Timestamp) -> Self {
        let regions_failing = i
            .regions
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|r| r.get("ok").and_then(serde_json::Value::as_bool) == Some(false))
                    .filter_map(|r| {
                        r.get("region")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let end = i.resolved_at.unwrap_or(now);
        Self {
            id: i.id,
            monitor_id: i.monitor_id.as_uuid(),
            monitor_name: i.monitor_name,
            state: i.state,
            priority: i.priority,
            cause: i.cause,
            opened_at: i.opened_at,
            acknowledged_at: i.acknowledged_at,
            acknowledged_by: i.acknowledged_by,
            resolved_at: i.resolved_at,
            regions_failing,
            evidence: i.regions,
            parent_id: i.parent_id,
            duration_ms: end.as_millisecond() - i.opened_at.as_millisecond(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IncidentList {
    pub incidents: Vec<IncidentView>,
}

/// One line of the timeline.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub kind: String,
    pub text: String,
    pub actor: Option<String>,
    pub channel: Option<String>,
}

impl From<IncidentEvent> for TimelineEntry {
    fn from(e: IncidentEvent) -> Self {
        Self {
            at: e.at,
            kind: e.kind,
            text: e.text,
            actor: e.actor,
            channel: e.channel,
        }
    }
}

/// An incident with its timeline.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: IncidentView,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct IncidentQuery {
    /// `open`, `acknowledged` or `resolved`.
    pub state: Option<String>,
    /// Only this monitor's.
    pub monitor: Option<String>,
    /// At most this many (1-1000, default 100), newest first.
    pub limit: Option<u32>,
}

fn parse_incident(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("no incident with id {raw:?}")))
}

/// Incidents, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentQuery),
    responses((status = 200, body = IncidentList), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<IncidentQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    caller.require(Scope::Read)?;
    if let Some(s) = &q.state
        && !["open", "acknowledged", "resolved"].contains(&s.as_str())
    {
        return Err(ApiError::bad_request(
            format!("state: {s:?} must be open, acknowledged or resolved"),
            Some("state".into()),
        ));
    }
    let monitor_id = match &q.monitor {
        Some(m) => Some(MonitorId::from_uuid(Uuid::parse_str(m).map_err(|_| {
            ApiError::bad_request(
                format!("monitor: {m:?} is not a monitor id"),
                Some("monitor".into()),
            )
        })?)),
        None => None,
    };
    if q.limit.is_some_and(|l| l == 0 || l > 1000) {
        return Err(ApiError::bad_request(
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
) -> Result<Json<IncidentDetail>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(detail(&st, parse_incident(&id)?).await?))
}

pub(crate) async fn detail(st: &AppState, id: Uuid) -> Result<IncidentDetail, ApiError> {
    let incident = st
        .store()
        .get_incident(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no incident with id {id}")))?;
    let timeline = st
        .store()
        .incident_events(id)
        .await?
        .into_iter()
        .map(TimelineEntry::from)
        .collect();
    Ok(IncidentDetail {
        incident: IncidentView::new(incident, st.now()),
        timeline,
    })
}

/// Who acts, for the timeline.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActBody {
    /// Who is acting (free text; default: the API token's name).
    pub by: Option<String>,
}

async fn actor(st: &AppState, caller: &Caller, by: Option<String>) -> Result<String, ApiError> {
    if let Some(b) = by.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()) {
        if b.chars().count() > 200 || b.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "by: must be 1-200 printable characters",
                Some("by".into()),
            ));
        }
        return Ok(b);
    }
    let name = st
        .store()
        .list_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == caller.token_id)
        .map_or_else(|| "API".to_owned(), |t| format!("token {}", t.name));
    Ok(name)
}

/// Acknowledge: someone is on it. Reminders and escalation stop.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents", params(("id" = String, Path)),
    request_body(content = ActBody, description = "optional"),
    responses((status = 200, body = IncidentDetail), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn acknowledge(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<IncidentDetail>, ApiError> {
    caller.require(Scope::Write)?;
    let id = parse_incident(&id)?;
    let by = actor(&st, &caller, optional_body(&body)?.by).await?;
    st.alerting().acknowledge(id, by).await.map_err(conflict)?;
    Ok(Json(detail(&st, id).await?))
}

/// Resolve by hand (the monitor may still be failing).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents", params(("id" = String, Path)),
    request_body(content = ActBody, description = "optional"),
    responses((status = 200, body = IncidentDetail), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn resolve(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<IncidentDetail>, ApiError> {
    caller.require(Scope::Write)?;
    let id = parse_incident(&id)?;
    let by = actor(&st, &caller, optional_body(&body)?.by).await?;
    st.alerting().resolve(id, by).await.map_err(conflict)?;
    Ok(Json(detail(&st, id).await?))
}

/// An optional JSON body: empty means defaults.
fn optional_body(bytes: &[u8]) -> Result<ActBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActBody::default());
    }
    super::extract::decode_json(bytes)
}

/// Maps a refused acknowledge or resolve to an API error.
pub(crate) fn conflict(e: vigilmon_engine::alerting::ActError) -> ApiError {
    match e {
        vigilmon_engine::alerting::ActError::NotFound => {
            ApiError::NotFound("no such incident".into())
        }
        vigilmon_engine::alerting::ActError::AlreadyResolved => ApiError::Conflict {
            code: "resolved",
            message: "the incident is already resolved".into(),
            field: None,
        },
        vigilmon_engine::alerting::ActError::Unavailable(m) => ApiError::Unavailable(m),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    pub text: String,
    pub by: Option<String>,
}

/// Add a note to the timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents", params(("id" = String, Path)),
    request_body = NoteBody,
    responses((status = 201, body = IncidentDetail), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn note(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<(StatusCode, Json<IncidentDetail>), ApiError> {
    caller.require(Scope::Write)?;
    let id = parse_incident(&id)?;
    let by = actor(&st, &caller, body.by).await?;
    add_note(&st, id, &body.text, by).await?;
    Ok((StatusCode::CREATED, Json(detail(&st, id).await?)))
}

/// Adds a note by `by` to an incident's timeline.
pub(crate) async fn add_note(
    st: &AppState,
    id: Uuid,
    text: &str,
    by: String,
) -> Result<(), ApiError> {
    let text = text.trim().to_owned();
    if text.is_empty() || text.len() > 10_000 {
        return Err(ApiError::bad_request(
            "text: must be 1 to 10,000 characters",
            Some("text".into()),
        ));
    }
    if st.store().get_incident(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no incident with id {id}")));
    }
    st.store()
        .add_incident_event(&NewIncidentEvent {
            incident_id: id,
            at: st.now(),
            kind: "note".into(),
            text,
            actor: Some(by),
            channel: None,
        })
        .await?;
    Ok(())
}
