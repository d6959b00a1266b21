//! Incidents: the list (filtered by state) and one incident's page with its timeline,
//! the regions' evidence, and the acknowledge, resolve and note actions. Both pages
//! keep themselves current: `/incidents/{id}/live?v=V` and `/incidents/live?v=V`
//! answer 204 while nothing changed, else their parts rendered again, which the page
//! script swaps in (as on a monitor's page). Actions go
//! through the alerting driver exactly as the API's do; the actor is the signed-in
//! user's email.

use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;
use vigilmon_store::IncidentFilter;

use super::format::{self, When};
use super::session::check_origin;
use super::{Layout, Posted, Session, UiError, render, see_other};
use vigilmon_app::AppState;
use vigilmon_app::incidents::{IncidentDetail, IncidentView, add_note, conflict, detail};

pub(crate) struct Row {
    pub id: String,
    pub monitor_id: String,
    pub monitor: String,
    pub state: String,
    pub priority: String,
    pub cause: format::Cause,
    pub opened: When,
    pub duration: String,
}

fn row(i: &IncidentView, now: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> Row {
    Row {
        id: i.id.to_string(),
        monitor_id: i.monitor_id.to_string(),
        monitor: i.monitor_name.clone(),
        state: i.state.clone(),
        priority: i.priority.clone(),
        cause: format::Cause::new(&i.cause, i.opened_at, now, tz),
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

#[derive(Template)]
#[template(path = "incidents/rows.html", whitespace = "minimize")]
struct RowsPart<'a> {
    rows: &'a [Row],
    state: &'a str,
}

/// The list's incidents in a state (`""`: all) and the version the live endpoint
/// compares: their ids, states, acknowledgements and resolutions.
async fn list_rows(
    st: &AppState,
    state: &str,
    now: jiff::Timestamp,
    tz: &jiff::tz::TimeZone,
) -> Result<(Vec<Row>, String), UiError> {
    let found = st
        .store()
        .list_incidents(&IncidentFilter {
            state: (!state.is_empty()).then(|| state.to_owned()),
            monitor_id: None,
            limit: 200,
        })
        .await?;
    let mut h = DefaultHasher::new();
    for i in &found {
        (
            i.id,
            &i.state,
            i.acknowledged_at.map(|t| t.as_millisecond()),
            i.resolved_at.map(|t| t.as_millisecond()),
        )
            .hash(&mut h);
    }
    let rows = found
        .into_iter()
        .map(|i| row(&IncidentView::new(i, now), now, tz))
        .collect();
    Ok((rows, format!("{:016x}", h.finish())))
}

fn state_filter(raw: &str) -> &'static str {
    FILTERS
        .iter()
        .find(|(k, _)| *k == raw)
        .map_or("", |(k, _)| k)
}

fn list_live_url(state: &str, v: &str) -> String {
    if state.is_empty() {
        format!("/incidents/live?v={v}")
    } else {
        format!("/incidents/live?state={state}&v={v}")
    }
}

pub(crate) async fn list(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, UiError> {
    let state = state_filter(&q.state);
    let (rows, v) = list_rows(&st, state, st.now(), &s.tz).await?;
    Ok(render(&ListPage {
        l: Layout::new("Incidents", "incidents", &s).live(list_live_url(state, &v)),
        rows,
        state: state.to_owned(),
        filters: FILTERS,
    }))
}

#[derive(Deserialize, Default)]
pub(crate) struct ListLiveQuery {
    #[serde(default)]
    state: String,
    v: Option<String>,
}

/// `/incidents/live?state=…&v=…`: 204 while the list is unchanged, else its rows
/// rendered again.
pub(crate) async fn list_live(
    State(st): State<AppState>,
    s: Session,
    headers: HeaderMap,
    Query(q): Query<ListLiveQuery>,
) -> Result<Response, UiError> {
    check_origin(&st, &headers)?;
    let state = state_filter(&q.state);
    let (rows, v) = list_rows(&st, state, st.now(), &s.tz).await?;
    if q.v.as_deref() == Some(v.as_str()) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let html = RowsPart { rows: &rows, state }
        .render()
        .map_err(|e| UiError::Internal(e.to_string()))?;
    Ok(super::live_parts(
        list_live_url(state, &v),
        BTreeMap::from([("rows", html)]),
    ))
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

/// Everything an incident's page shows.
pub(crate) struct Detail {
    pub i: Row,
    pub acknowledged: Option<(When, String)>,
    pub resolved: Option<When>,
    pub parent: Option<String>,
    pub evidence: Vec<Evidence>,
    pub timeline: Vec<Event>,
}

#[derive(Template)]
#[template(path = "incident.html", whitespace = "minimize")]
struct IncidentPage {
    l: Layout,
    d: Detail,
}

/// The parts of the incident page the live endpoint renders again.
#[derive(Template)]
#[template(path = "incident/head.html", whitespace = "minimize")]
struct HeadPart<'a> {
    l: &'a Layout,
    d: &'a Detail,
}

#[derive(Template)]
#[template(path = "incident/timeline.html", whitespace = "minimize")]
struct TimelinePart<'a> {
    d: &'a Detail,
}

fn parse(id: &str) -> Result<Uuid, UiError> {
    Uuid::parse_str(id).map_err(|_| UiError::NotFound(format!("there is no incident {id:?}")))
}

/// What the live endpoint compares to tell whether the page changed: the state,
/// acknowledgement, resolution and the timeline's entries.
fn version(d: &IncidentDetail) -> String {
    let mut h = DefaultHasher::new();
    let i = &d.incident;
    i.state.hash(&mut h);
    i.acknowledged_at.map(|t| t.as_millisecond()).hash(&mut h);
    i.acknowledged_by.hash(&mut h);
    i.resolved_at.map(|t| t.as_millisecond()).hash(&mut h);
    i.parent_id.hash(&mut h);
    d.timeline.len().hash(&mut h);
    for e in &d.timeline {
        (e.at.as_millisecond(), &e.kind, &e.text).hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

fn detail_of(d: &IncidentDetail, now: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> Detail {
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
    Detail {
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
                // Said once: "acknowledged by ann" needs no "· by ann" beside it.
                actor: e.actor.clone().filter(|a| !e.text.contains(a.as_str())),
                channel: e.channel.clone(),
            })
            .collect(),
        i: row(i, now, tz),
    }
}

fn live_url(id: Uuid, v: &str) -> String {
    format!("/incidents/{id}/live?v={v}")
}

pub(crate) async fn page(
    State(st): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Query(q): Query<super::NoticeQuery>,
) -> Result<Response, UiError> {
    let id = parse(&id)?;
    let found = detail(&st, id).await?;
    let d = detail_of(&found, st.now(), &s.tz);
    let l = Layout::new(format!("Incident: {}", d.i.monitor), "incidents", &s)
        .notice(q.ok.as_deref())
        .live(live_url(id, &version(&found)));
    Ok(render(&IncidentPage { l, d }))
}

/// `/incidents/{id}/live?v=…`: 204 while nothing changed, else the page's state and
/// timeline parts rendered again (by the same templates as the page).
pub(crate) async fn live(
    State(st): State<AppState>,
    s: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<super::LiveQuery>,
) -> Result<Response, UiError> {
    check_origin(&st, &headers)?;
    let id = parse(&id)?;
    let found = detail(&st, id).await?;
    let v = version(&found);
    if q.v.as_deref() == Some(v.as_str()) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let d = detail_of(&found, st.now(), &s.tz);
    let l = Layout::new(String::new(), "incidents", &s);
    let r = |e: askama::Error| UiError::Internal(e.to_string());
    let mut parts = BTreeMap::new();
    parts.insert("head", HeadPart { l: &l, d: &d }.render().map_err(r)?);
    parts.insert("timeline", TimelinePart { d: &d }.render().map_err(r)?);
    Ok(super::live_parts(live_url(id, &v), parts))
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
