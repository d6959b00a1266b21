//! Incidents: their views (with the timeline), acknowledging and resolving through the
//! alerting driver, and notes.

use crate::AppState;
use crate::error::AppError;
use crate::extract::Caller;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vigilmon_store::{IncidentEvent, IncidentRecord, NewIncidentEvent};

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
    #[schema(value_type = Vec<EvidenceView>)]
    pub evidence: serde_json::Value,
    /// The incident of a monitor this one depends on, when linked to it.
    pub parent_id: Option<Uuid>,
    /// Outage length so far, or in total once resolved.
    pub duration_ms: i64,
}

/// What one region saw when the incident opened (the shape of `evidence`'s items).
#[derive(Serialize, utoipa::ToSchema)]
pub struct EvidenceView {
    pub region: String,
    /// Whether the region's check passed.
    pub ok: bool,
    /// The region's error, when it failed.
    pub error: Option<String>,
    /// When the region checked.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub checked_at: Option<Timestamp>,
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
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// `open`, `acknowledged` or `resolved`.
    #[param(pattern = "^(open|acknowledged|resolved)$")]
    pub state: Option<String>,
    /// Only this monitor's (its id).
    #[param(format = Uuid)]
    pub monitor: Option<String>,
    /// At most this many (1-1000, default 100), newest first.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

pub async fn detail(st: &AppState, id: Uuid) -> Result<IncidentDetail, AppError> {
    let incident = st
        .store()
        .get_incident(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no incident with id {id}")))?;
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

pub async fn actor(st: &AppState, caller: &Caller, by: Option<String>) -> Result<String, AppError> {
    if let Some(b) = by.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()) {
        if b.chars().count() > 200 || b.chars().any(char::is_control) {
            return Err(AppError::bad_request(
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

/// Maps a refused acknowledge or resolve to an API error.
pub fn conflict(e: vigilmon_engine::alerting::ActError) -> AppError {
    match e {
        vigilmon_engine::alerting::ActError::NotFound => {
            AppError::NotFound("no such incident".into())
        }
        vigilmon_engine::alerting::ActError::AlreadyResolved => AppError::Conflict {
            code: "resolved",
            message: "the incident is already resolved".into(),
            field: None,
        },
        vigilmon_engine::alerting::ActError::StillFailing { regions, degraded } => {
            let state = if degraded { "degraded" } else { "down" };
            let state = if regions.is_empty() {
                state.to_owned()
            } else if degraded {
                format!("degraded in {}", regions.join(", "))
            } else {
                format!("failing in {}", regions.join(", "))
            };
            AppError::Conflict {
                code: "still_failing",
                message: format!(
                    "the monitor is still {state}: acknowledge the incident instead, or \
                     pause the monitor; the incident resolves by itself when it recovers"
                ),
                field: None,
            }
        }
        vigilmon_engine::alerting::ActError::Unavailable(m) => AppError::Unavailable(m),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    pub text: String,
    pub by: Option<String>,
}

/// Adds a note by `by` to an incident's timeline.
pub async fn add_note(st: &AppState, id: Uuid, text: &str, by: String) -> Result<(), AppError> {
    let text = text.trim().to_owned();
    if text.is_empty() || text.len() > 10_000 {
        return Err(AppError::bad_request(
            "text: must be 1 to 10,000 characters",
            Some("text".into()),
        ));
    }
    if st.store().get_incident(id).await?.is_none() {
        return Err(AppError::NotFound(format!("no incident with id {id}")));
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
