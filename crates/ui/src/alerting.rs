//! Channels (create, send a test, delivery log, delete), policies (create, delete) and
//! maintenance windows (create, end early, delete); editing them is in
//! `alerting_edit`. Validation and effects are the API's shared steps; secrets are
//! shown masked, as the API shows them.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use uuid::Uuid;
use vigilmon_core::alert::{ChannelConfig, PolicyConfig};
use vigilmon_core::maintenance::MaintenanceConfig;

use super::form::{self, FieldDef, Input, SectionDef, SectionView, Values};
use super::format::{self, When};
use super::{FieldErrors, Layout, NoticeQuery, Posted, Session, UiError, render, see_other};
use vigilmon_app::AppState;
use vigilmon_app::channels::{
    create_channel_config, create_policy_config, delete_channel_named, delete_policy_named,
    delivery_views, list_channel_views, list_policy_views, send_test,
};
use vigilmon_app::maintenance::{
    create_window, delete_window, end_window, has_ended, view as window_view,
};

const fn f(
    key: &'static str,
    label: &'static str,
    input: Input,
    kinds: &'static [&'static str],
    placeholder: &'static str,
    hint: &'static str,
) -> FieldDef {
    FieldDef {
        key,
        label,
        input,
        kinds,
        placeholder,
        hint,
        required: false,
        section: 0,
    }
}

const fn req(d: FieldDef) -> FieldDef {
    FieldDef {
        required: true,
        ..d
    }
}

pub(super) const ONE: &[SectionDef] = &[SectionDef {
    title: "Settings",
    collapsed: false,
}];

const CHANNEL_TYPES: &[(&str, &str)] = &[
    ("webhook", "Webhook"),
    ("slack", "Slack"),
    ("pagerduty", "PagerDuty"),
    ("email", "Email"),
];

pub(super) const CHANNEL_FIELDS: &[FieldDef] = &[
    req(f(
        "name",
        "Name",
        Input::Text,
        &[],
        "slack-ops",
        "How policies refer to it.",
    )),
    req(f(
        "url",
        "Webhook URL",
        Input::Url,
        &["webhook"],
        "https://hooks.example.com/vigilmon",
        "Receives a JSON event per notification.",
    )),
    f(
        "secret",
        "Signing secret",
        Input::Text,
        &["webhook"],
        "",
        "When set, each request carries an HMAC-SHA256 signature. Not shown again after saving.",
    ),
    f(
        "headers",
        "Extra headers",
        Input::Headers,
        &["webhook"],
        "X-Team: ops",
        "One per line, Name: value.",
    ),
    req(f(
        "webhook_url",
        "Slack incoming-webhook URL",
        Input::Url,
        &["slack"],
        "https://hooks.slack.com/services/…",
        "Not shown again after saving.",
    )),
    req(f(
        "routing_key",
        "Routing key",
        Input::Text,
        &["pagerduty"],
        "",
        "The Events API v2 integration key. Not shown again after saving.",
    )),
    f(
        "events_url",
        "Events URL",
        Input::Url,
        &["pagerduty"],
        "https://events.pagerduty.com/v2/enqueue",
        "",
    ),
    req(f(
        "to",
        "Recipients",
        Input::Csv,
        &["email"],
        "ops@example.com, leads@example.com",
        "Comma-separated. Sent through the server's SMTP settings.",
    )),
];

const PRIORITIES: &[(&str, &str)] = &[
    ("", "P3 (default)"),
    ("P1", "P1: page (PagerDuty critical)"),
    ("P2", "P2 (PagerDuty error)"),
    ("P3", "P3 (PagerDuty warning)"),
    ("P4", "P4: informational"),
];

pub(super) const POLICY_FIELDS: &[FieldDef] = &[
    req(f(
        "name",
        "Name",
        Input::Text,
        &[],
        "p1-page",
        "How monitors refer to it.",
    )),
    f(
        "priority",
        "Priority",
        Input::Select(PRIORITIES),
        &[],
        "",
        "",
    ),
    req(f(
        "channels",
        "Channels",
        Input::Csv,
        &[],
        "slack-ops, pagerduty-oncall",
        "Channel names, comma-separated.",
    )),
    f(
        "notify_on",
        "Notify on",
        Input::Csv,
        &[],
        "down, recovered",
        "Any of down, recovered, degraded, acknowledged.",
    ),
    f(
        "remind_every",
        "Remind every",
        Input::Duration,
        &[],
        "never",
        "While down and not acknowledged, e.g. 30m.",
    ),
    f(
        "incident_on_degraded",
        "Degraded opens an incident too",
        Input::Bool(false),
        &[],
        "",
        "By default degraded only sends a warning.",
    ),
];

pub(super) const WINDOW_FIELDS: &[FieldDef] = &[
    req(f("name", "Name", Input::Text, &[], "weekly-patching", "")),
    f(
        "monitors",
        "Monitors",
        Input::Csv,
        &[],
        "api, [redis-primary] cache /health",
        "Monitor names, comma-separated.",
    ),
    f(
        "tags",
        "Tags",
        Input::Csv,
        &[],
        "cache",
        "Every monitor with one of these tags.",
    ),
    f(
        "starts_at",
        "Starts at (one-off)",
        Input::Text,
        &[],
        "2026-12-01T22:00:00Z",
        "RFC 3339 with an offset.",
    ),
    f(
        "ends_at",
        "Ends at (one-off)",
        Input::Text,
        &[],
        "2026-12-01T23:00:00Z",
        "",
    ),
    f(
        "cron",
        "Or recurring: starts on",
        Input::Text,
        &[],
        "0 3 * * SUN",
        "Cron, five fields.",
    ),
    f(
        "duration",
        "Recurring: lasts",
        Input::Duration,
        &[],
        "30m",
        "",
    ),
    f(
        "tz",
        "Recurring: time zone",
        Input::Text,
        &[],
        "UTC",
        "IANA name, such as Europe/Berlin.",
    ),
];

// --- Channels -----------------------------------------------------------------------

pub(crate) struct ChannelRow {
    pub name: String,
    pub href: String,
    pub kind: String,
    pub target: String,
    pub file: bool,
}

#[derive(Template)]
#[template(path = "channels.html", whitespace = "minimize")]
struct ChannelsPage {
    l: Layout,
    rows: Vec<ChannelRow>,
    kind: String,
    types: &'static [(&'static str, &'static str)],
    sections: Vec<SectionView>,
    general: Vec<String>,
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct ChannelsQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    ok: Option<String>,
}

fn channel_kind(k: &str) -> &'static str {
    CHANNEL_TYPES
        .iter()
        .find(|(t, _)| *t == k)
        .map_or("webhook", |(t, _)| t)
}

pub(super) fn no_dynamic(_: &str) -> Vec<(String, String)> {
    Vec::new()
}

async fn channels_page(
    st: &AppState,
    s: &Session,
    kind: &'static str,
    values: &Values,
    errors: &FieldErrors,
    notice: Option<&str>,
) -> Result<ChannelsPage, UiError> {
    let rows = list_channel_views(st)
        .await?
        .into_iter()
        .map(|c| {
            let target = match c.config.kind.as_str() {
                "webhook" => c.config.url.clone().unwrap_or_default(),
                "email" => c.config.to.join(", "),
                "pagerduty" => "routing key ********".into(),
                "slack" => "webhook ********".into(),
                _ => String::new(),
            };
            ChannelRow {
                href: format!("/channels/{}", format::segment(&c.config.name)),
                name: c.config.name,
                kind: c.config.kind,
                target,
                file: c.source == "file",
            }
        })
        .collect();
    let shown: Vec<&str> = CHANNEL_FIELDS
        .iter()
        .filter(|d| d.applies(kind))
        .map(|d| d.key)
        .collect();
    Ok(ChannelsPage {
        l: Layout::new("Channels", "channels", s).notice(notice),
        rows,
        kind: kind.to_owned(),
        types: CHANNEL_TYPES,
        sections: form::view(CHANNEL_FIELDS, ONE, kind, values, errors, &no_dynamic),
        general: errors.general(&shown),
    })
}

pub(crate) async fn channels(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<ChannelsQuery>,
) -> Result<Response, UiError> {
    let kind = channel_kind(q.kind.as_deref().unwrap_or("webhook"));
    let page = channels_page(
        &st,
        &s,
        kind,
        &Values::default(),
        &FieldErrors::default(),
        q.ok.as_deref(),
    )
    .await?;
    Ok(render(&page))
}

/// Deserialises a form's document, reporting a shape error at its field.
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    doc: Value,
    fields: &[FieldDef],
    kind: &str,
    errors: &mut FieldErrors,
) -> Option<T> {
    match serde_path_to_error::deserialize(doc) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            errors.push(form::field_of(fields, kind, &path), e.inner().to_string());
            None
        }
    }
}

pub(super) fn unprocessable(mut resp: Response) -> Response {
    *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    resp
}

pub(crate) async fn create_channel(
    State(st): State<AppState>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let kind = channel_kind(&p.get("type"));
    let values = form::submitted(CHANNEL_FIELDS, kind, &p.fields);
    let mut errors = FieldErrors::default();
    let mut doc = form::to_json(CHANNEL_FIELDS, kind, &values, &mut errors);
    if let Value::Object(m) = &mut doc {
        m.insert("type".into(), Value::String(kind.to_owned()));
    }
    if errors.is_empty()
        && let Some(config) = decode::<ChannelConfig>(doc, CHANNEL_FIELDS, kind, &mut errors)
    {
        match create_channel_config(&st, config).await {
            Ok(()) => return Ok(see_other("/channels?ok=channel")),
            Err(e) => {
                errors = FieldErrors::from_api(e, |f| form::field_of(CHANNEL_FIELDS, kind, f))?
            }
        }
    }
    let page = channels_page(&st, &p.session, kind, &values, &errors, None).await?;
    Ok(unprocessable(render(&page)))
}

pub(crate) struct DeliveryRow {
    pub event: String,
    pub status: String,
    pub css: &'static str,
    pub created: When,
    pub attempts: u32,
    pub incident: Option<String>,
    pub last_error: Option<String>,
    pub log: Vec<(String, String, String, String)>,
}

pub(crate) struct TestOutcome {
    pub delivered: bool,
    pub text: String,
}

#[derive(Template)]
#[template(path = "channel.html", whitespace = "minimize")]
struct ChannelPage {
    l: Layout,
    name: String,
    href: String,
    kind: String,
    facts: Vec<(String, String)>,
    file: bool,
    test: Option<TestOutcome>,
    deliveries: Vec<DeliveryRow>,
}

async fn channel_page(
    st: &AppState,
    s: &Session,
    name: &str,
    test: Option<TestOutcome>,
    notice: Option<&str>,
) -> Result<ChannelPage, UiError> {
    let c = list_channel_views(st)
        .await?
        .into_iter()
        .find(|c| c.config.name == name)
        .ok_or_else(|| UiError::NotFound(format!("there is no channel named {name:?}")))?;
    let now = st.now();
    let doc = serde_json::to_value(&c.config).map_err(|e| UiError::Internal(e.to_string()))?;
    let facts = doc
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.as_str() != "name")
                .map(|(k, v)| (k.replace('_', " "), format::json_text(v)))
                .collect()
        })
        .unwrap_or_default();
    let deliveries = delivery_views(st, name)
        .await?
        .into_iter()
        .map(|d| DeliveryRow {
            css: match d.status.as_str() {
                "delivered" => "up",
                "failed" => "down",
                _ => "pending",
            },
            event: d.event,
            status: d.status,
            created: When::new(d.created_at, now),
            attempts: d.attempts,
            incident: d.incident_id.map(|i| i.to_string()),
            last_error: d.last_error,
            log: d
                .attempt_log
                .into_iter()
                .map(|a| {
                    (
                        format::utc(a.at),
                        a.outcome,
                        format::ms(a.duration_ms),
                        a.error.unwrap_or_default(),
                    )
                })
                .collect(),
        })
        .collect();
    Ok(ChannelPage {
        l: Layout::new(format!("Channel {name}"), "channels", s).notice(notice),
        name: c.config.name.clone(),
        href: format!("/channels/{}", format::segment(&c.config.name)),
        kind: c.config.kind.clone(),
        facts,
        file: c.source == "file",
        test,
        deliveries,
    })
}

pub(crate) async fn channel(
    State(st): State<AppState>,
    s: Session,
    Path(name): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    Ok(render(
        &channel_page(&st, &s, &name, None, q.ok.as_deref()).await?,
    ))
}

pub(crate) async fn test_channel(
    State(st): State<AppState>,
    Path(name): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let r = send_test(&st, &name).await?;
    let test = TestOutcome {
        delivered: r.delivered,
        text: match (r.outcome, r.error) {
            ("delivered", _) => "The test notification was delivered.".into(),
            (outcome, Some(e)) => {
                format!("The test notification was not delivered ({outcome}): {e}")
            }
            (outcome, None) => format!("The test notification was not delivered ({outcome})."),
        },
    };
    Ok(render(
        &channel_page(&st, &p.session, &name, Some(test), None).await?,
    ))
}

pub(crate) async fn delete_channel(
    State(st): State<AppState>,
    Path(name): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    delete_channel_named(&st, &name).await?;
    Ok(see_other("/channels?ok=channel-deleted"))
}

// --- Policies -----------------------------------------------------------------------

pub(crate) struct PolicyRow {
    pub name: String,
    pub href: String,
    pub priority: String,
    pub channels: String,
    pub notify_on: String,
    pub remind: String,
    /// The escalation steps in words ("after 15m: pager").
    pub escalate: String,
    pub used_by: usize,
    pub file: bool,
}

#[derive(Template)]
#[template(path = "policies.html", whitespace = "minimize")]
struct PoliciesPage {
    l: Layout,
    rows: Vec<PolicyRow>,
    sections: Vec<SectionView>,
    general: Vec<String>,
    channels: Vec<String>,
}

async fn policies_page(
    st: &AppState,
    s: &Session,
    values: &Values,
    errors: &FieldErrors,
    notice: Option<&str>,
) -> Result<PoliciesPage, UiError> {
    let monitors = st.store().list_monitors().await?;
    let rows = list_policy_views(st)
        .await?
        .into_iter()
        .map(|p| PolicyRow {
            used_by: monitors
                .iter()
                .filter(|m| m.config.policy.as_deref() == Some(p.config.name.as_str()))
                .count(),
            priority: p.config.priority.clone().unwrap_or_else(|| "P3".into()),
            channels: p.config.channels.join(", "),
            notify_on: p
                .config
                .notify_on
                .clone()
                .map_or_else(|| "down, recovered".into(), |n| n.join(", ")),
            remind: p
                .config
                .remind_every
                .map_or_else(|| "never".into(), |d| d.to_string()),
            escalate: if p.config.escalate.is_empty() {
                "none".into()
            } else {
                p.config
                    .escalate
                    .iter()
                    .map(|e| format!("after {}: {}", e.after, e.channels.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            },
            file: p.source == "file",
            href: format!("/policies/{}", format::segment(&p.config.name)),
            name: p.config.name,
        })
        .collect();
    let channels = st
        .store()
        .list_channels()
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    Ok(PoliciesPage {
        l: Layout::new("Policies", "policies", s).notice(notice),
        rows,
        sections: form::view(POLICY_FIELDS, ONE, "", values, errors, &no_dynamic),
        general: errors.general(&POLICY_FIELDS.iter().map(|d| d.key).collect::<Vec<_>>()),
        channels,
    })
}

pub(crate) async fn policies(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    let page = policies_page(
        &st,
        &s,
        &Values::default(),
        &FieldErrors::default(),
        q.ok.as_deref(),
    )
    .await?;
    Ok(render(&page))
}

pub(crate) async fn create_policy(
    State(st): State<AppState>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let values = form::submitted(POLICY_FIELDS, "", &p.fields);
    let mut errors = FieldErrors::default();
    let mut doc = form::to_json(POLICY_FIELDS, "", &values, &mut errors);
    if let Value::Object(m) = &mut doc {
        m.entry("channels")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
    if errors.is_empty()
        && let Some(config) = decode::<PolicyConfig>(doc, POLICY_FIELDS, "", &mut errors)
    {
        match create_policy_config(&st, config).await {
            Ok(()) => return Ok(see_other("/policies?ok=policy")),
            Err(e) => errors = FieldErrors::from_api(e, |f| form::field_of(POLICY_FIELDS, "", f))?,
        }
    }
    let page = policies_page(&st, &p.session, &values, &errors, None).await?;
    Ok(unprocessable(render(&page)))
}

pub(crate) async fn delete_policy(
    State(st): State<AppState>,
    Path(name): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    delete_policy_named(&st, &name).await?;
    Ok(see_other("/policies?ok=policy-deleted"))
}

// --- Maintenance --------------------------------------------------------------------

pub(crate) struct WindowRow {
    pub id: String,
    pub name: String,
    pub applies: String,
    pub when: String,
    pub active: bool,
    pub ended: Option<String>,
    /// Ended early, or a one-off whose end has passed (no longer editable).
    pub over: bool,
    pub file: bool,
}

#[derive(Template)]
#[template(path = "maintenance.html", whitespace = "minimize")]
struct MaintenancePage {
    l: Layout,
    rows: Vec<WindowRow>,
    sections: Vec<SectionView>,
    general: Vec<String>,
}

async fn maintenance_page(
    st: &AppState,
    s: &Session,
    values: &Values,
    errors: &FieldErrors,
    notice: Option<&str>,
) -> Result<MaintenancePage, UiError> {
    let now = st.now();
    let mut rows = Vec::new();
    for r in st.store().list_maintenance().await? {
        let v = window_view(r.clone(), now)?;
        let over = has_ended(&r, &v.config, now);
        let c: &MaintenanceConfig = &v.config;
        let mut applies = Vec::new();
        if !c.monitors.is_empty() {
            applies.push(format!("monitors {}", c.monitors.join(", ")));
        }
        if !c.tags.is_empty() {
            applies.push(format!("tags {}", c.tags.join(", ")));
        }
        let when = match (&c.cron, &c.starts_at, &c.ends_at) {
            (Some(cron), _, _) => format!(
                "\"{cron}\" ({}) for {}",
                c.tz.as_deref().unwrap_or("UTC"),
                c.duration.map_or_else(|| "?".into(), |d| d.to_string())
            ),
            (None, Some(a), Some(b)) => format!("{a} → {b}"),
            _ => String::new(),
        };
        rows.push(WindowRow {
            id: v.id.to_string(),
            name: c.name.clone(),
            applies: applies.join("; "),
            when,
            active: v.active,
            ended: v.ended_at.map(format::utc),
            over,
            file: v.source == "file",
        });
    }
    Ok(MaintenancePage {
        l: Layout::new("Maintenance", "maintenance", s).notice(notice),
        rows,
        sections: form::view(WINDOW_FIELDS, ONE, "", values, errors, &no_dynamic),
        general: errors.general(&WINDOW_FIELDS.iter().map(|d| d.key).collect::<Vec<_>>()),
    })
}

pub(crate) async fn maintenance(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    let page = maintenance_page(
        &st,
        &s,
        &Values::default(),
        &FieldErrors::default(),
        q.ok.as_deref(),
    )
    .await?;
    Ok(render(&page))
}

pub(crate) async fn create_maintenance(
    State(st): State<AppState>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let values = form::submitted(WINDOW_FIELDS, "", &p.fields);
    let mut errors = FieldErrors::default();
    let doc = form::to_json(WINDOW_FIELDS, "", &values, &mut errors);
    if errors.is_empty()
        && let Some(config) = decode::<MaintenanceConfig>(doc, WINDOW_FIELDS, "", &mut errors)
    {
        match create_window(&st, config).await {
            Ok(_) => return Ok(see_other("/maintenance?ok=window")),
            Err(e) => errors = FieldErrors::from_api(e, |f| form::field_of(WINDOW_FIELDS, "", f))?,
        }
    }
    let page = maintenance_page(&st, &p.session, &values, &errors, None).await?;
    Ok(unprocessable(render(&page)))
}

pub(super) fn window_id(raw: &str) -> Result<Uuid, UiError> {
    Uuid::parse_str(raw)
        .map_err(|_| UiError::NotFound(format!("there is no maintenance window {raw:?}")))
}

pub(crate) async fn end_maintenance(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    end_window(&st, window_id(&id)?).await?;
    Ok(see_other("/maintenance?ok=window-ended"))
}

pub(crate) async fn delete_maintenance(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    delete_window(&st, window_id(&id)?).await?;
    Ok(see_other("/maintenance?ok=window-deleted"))
}
