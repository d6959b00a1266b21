//! Incidents: the list (filtered by state) and one incident's page with its timeline,
//! the regions' evidence, and the acknowledge, resolve and note actions. Actions go
//! through the alerting driver exactly as the API's do; the actor is the signed-in
//! user's email.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;
use vigilmon_store::IncidentFilter;

use super::format::{self, When};
use super::{Layout, Posted, Session, UiError, render, see_other};
use crate::AppState;
use crate::api::incidents::{IncidentView, add_note, conflict, detail};

pub(crate) struct Row {
    pub id: String,
    pub monitor_id: String,
    pub monitor: String,
    pub state: String,
    pub priority: String,
    pub cause: String,
    pub opened: When,
    pub duration: String,
}

fn row(i: &IncidentView, now: jiff::Timestamp) -> Row {
    Row {
        id: i.id.to_string(),
        monitor_id: i.monitor_id.to_string(),
        monitor: i.monitor_name.clone(),
        state: i.state.clone(),
        priority: i.priority.clone(),
        cause: i.cause.clone(),
        opened: When::new(i.opened_at, now),
        duration: format::duration_ms(i.duration_ms),
    }
}

#[derive(Template)]
#[template(path = "incidents.html", whitespace = "minimize")]
struct ListPage {
    l: Layout,
    rows: Vec<Row>,
    state: String,
    filters: &'static [(&'static str, &'static str)],
}

#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    state: String,
}

const FILTERS: &[(&str, &str)] = &[
    ("", "All"),
    ("open", "Open"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
];

pub(crate) async fn list(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, UiError> {
    let state = FILTERS
        .iter()
        .find(|(k, _)| *k == q.state)
        .map_or("", |(k, _)| k);
    let now = st.now();
    let rows = st
        .store()
        .list_incidents(&IncidentFilter {
            state: (!state.is_empty()).then(|| state.to_owned()),
            monitor_id: None,
            limit: 200,
        })
        .await?
        .into_iter()
        .map(|i| row(&IncidentView::new(i, now), now))
        .collect();
    Ok(render(&ListPage {
        l: Layout::new("Incidents", "incidents", &s),
        rows,
        state: state.to_owned(),
        filters: FILTERS,
    }))
}

pub(crate) struct Event {
    pub at: When,
    pub kind: String,
    pub text: String,
    pub actor: Option<String>,
    pub channel: Option<String>,
}

pub(crate) struct Evidence {
    pub region: String,
    pub ok: bool,
    pub error: String,
    pub checked: Option<String>,
}

#[derive(Template)]
#[template(path = "incident.html", whitespace = "minimize")]
struct IncidentPage {
    l: Layout,
    i: Row,
    acknowledged: Option<(When, String)>,
    resolved: Option<When>,
    parent: Option<String>,
    evidence: Vec<Evidence>,
    timeline: Vec<Event>,
}

fn parse(id: &str) -> Result<Uuid, UiError> {
    Uuid::parse_str(id).map_err(|_| UiError::NotFound(format!("there is no incident {id:?}")))
}

pub(crate) async fn page(
    State(st): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Query(q): Query<super::NoticeQuery>,
) -> Result<Response, UiError> {
    let d = detail(&st, parse(&id)?).await?;
    let now = st.now();
    let i = &d.incident;
    let evidence = i
        .evidence
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| Evidence {
                    region: e["region"].as_str().unwrap_or("?").to_owned(),
                    ok: e["ok"].as_bool().unwrap_or(false),
                    error: e["error"].as_str().unwrap_or("").to_owned(),
                    checked: e["checked_at"].as_str().map(|t| {
                        t.parse::<jiff::Timestamp>()
                            .map_or_else(|_| t.to_owned(), format::utc)
                    }),
                })
                .collect()
        })
        .unwrap_or_default();
    let page = IncidentPage {
        l: Layout::new(format!("Incident: {}", i.monitor_name), "incidents", &s)
            .notice(q.ok.as_deref()),
        acknowledged: i.acknowledged_at.map(|t| {
            (
                When::new(t, now),
                i.acknowledged_by.clone().unwrap_or_default(),
            )
        }),
        resolved: When::opt(i.resolved_at, now),
        parent: i.parent_id.map(|p| p.to_string()),
        evidence,
        timeline: d
            .timeline
            .iter()
            .map(|e| Event {
                at: When::new(e.at, now),
                kind: e.kind.replace('_', " "),
                text: e.text.clone(),
                actor: e.actor.clone(),
                channel: e.channel.clone(),
            })
            .collect(),
        i: row(i, now),
    };
    Ok(render(&page))
}

pub(crate) async fn acknowledge(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let id = parse(&id)?;
    st.alerting()
        .acknowledge(id, p.session.user.email.clone())
        .await
        .map_err(conflict)?;
    Ok(see_other(&format!("/incidents/{id}?ok=acknowledged")))
}

pub(crate) async fn resolve(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let id = parse(&id)?;
    st.alerting()
        .resolve(id, p.session.user.email.clone())
        .await
        .map_err(conflict)?;
    Ok(see_other(&format!("/incidents/{id}?ok=resolved")))
}

pub(crate) async fn note(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let id = parse(&id)?;
    add_note(&st, id, &p.raw("text"), p.session.user.email.clone()).await?;
    Ok(see_other(&format!("/incidents/{id}?ok=noted")))
}
