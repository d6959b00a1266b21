//! Maintenance windows (checks go on, nothing is sent): the list with its create form,
//! the edit form of a window that has not ended, ending one early, and deleting one.
//! Lookups, validation and effects are the application layer's (`find_window`,
//! `create_window`, `update_window`, …), as for the API.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::tz::TimeZone;
use serde_json::Value;
use uuid::Uuid;
use vigilmon_core::maintenance::MaintenanceConfig;
use vigilmon_store::MaintenanceRecord;

use super::alerting_common::{EditPage, ONE, edit_fields, unprocessable};
use super::form::{self, FieldDef, Input, SectionView, Values, decode, field, required};
use super::format;
use super::{FieldErrors, Layout, NoticeQuery, Posted, Session, UiError, render, see_other};
use vigilmon_app::maintenance::{
    create_window, delete_window, end_window, find_window, has_ended, update_window,
    view as window_view,
};
use vigilmon_app::{AppError, AppState};

const WINDOW_FIELDS: &[FieldDef] = &[
    required(field(
        "name",
        "Name",
        Input::Text,
        &[],
        "weekly-patching",
        "",
        0,
    )),
    field(
        "monitors",
        "Monitors",
        Input::ManyDynamic,
        &[],
        "",
        "The monitors it covers.",
        0,
    ),
    field(
        "tags",
        "Tags",
        Input::ManyDynamic,
        &[],
        "",
        "Every monitor with one of these tags, now or later.",
        0,
    ),
    field(
        "starts_at",
        "Starts at (one-off)",
        Input::DateTime,
        &[],
        "2031-01-15 22:00",
        "In your browser's time zone (UTC without JavaScript); typed, 2031-01-15 22:00 or RFC 3339.",
        0,
    ),
    field(
        "ends_at",
        "Ends at (one-off)",
        Input::DateTime,
        &[],
        "2031-01-15 23:00",
        "",
        0,
    ),
    field(
        "cron",
        "Or recurring: starts on",
        Input::Text,
        &[],
        "0 3 * * SUN",
        "Cron, five fields.",
        0,
    ),
    field(
        "duration",
        "Recurring: lasts",
        Input::Duration,
        &[],
        "30m",
        "",
        0,
    ),
    field(
        "tz",
        "Recurring: time zone",
        Input::Text,
        &[],
        "UTC",
        "IANA name, such as Europe/Berlin.",
        0,
    ),
];

/// The 404 of a window that a URL names but that does not exist.
fn no_window(raw: &str) -> UiError {
    UiError::NotFound(format!("there is no maintenance window {raw:?}"))
}

fn window_id(raw: &str) -> Result<Uuid, UiError> {
    Uuid::parse_str(raw).map_err(|_| no_window(raw))
}

/// The stored window a URL names.
async fn stored_window(st: &AppState, raw: &str) -> Result<MaintenanceRecord, UiError> {
    match find_window(st, window_id(raw)?).await {
        Err(AppError::NotFound(_)) => Err(no_window(raw)),
        found => Ok(found?),
    }
}

// --- List and create ----------------------------------------------------------------

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

/// The one-off times, as stored (RFC 3339, UTC), in the viewer's zone as a
/// `datetime-local` field holds them (`2031-01-15T23:00`). Other text is left as typed.
fn times_to_local(values: &mut Values, tz: &TimeZone) {
    for key in ["starts_at", "ends_at"] {
        if let Ok(t) = values.get(key).parse::<jiff::Timestamp>() {
            let local = t
                .to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M")
                .to_string();
            values.set(key, local);
        }
    }
}

/// The one-off times as typed (`2031-01-15T23:00` from the picker, or
/// `2031-01-15 23:00`) in the viewer's zone, turned into instants (RFC 3339); an
/// instant typed with its offset is taken as it is, anything else left for the
/// validation to name.
fn times_from_local(values: &mut Values, tz: &TimeZone) {
    for key in ["starts_at", "ends_at"] {
        let raw = values.get(key).trim().to_owned();
        if raw.is_empty() || raw.parse::<jiff::Timestamp>().is_ok() {
            continue;
        }
        let civil = raw
            .replacen(' ', "T", 1)
            .parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| dt.to_zoned(tz.clone()).ok());
        if let Some(z) = civil {
            values.set(key, z.timestamp().to_string());
        }
    }
}

/// What a window may cover: every monitor's name and every tag in use, sorted.
struct Choices {
    monitors: Vec<String>,
    tags: Vec<String>,
}

impl Choices {
    async fn load(st: &AppState) -> Result<Self, UiError> {
        let all = st.store().list_monitors().await?;
        let mut monitors: Vec<String> = all.iter().map(|m| m.config.name.clone()).collect();
        monitors.sort_by_key(|n| n.to_lowercase());
        let mut tags: Vec<String> = all.iter().flat_map(|m| m.config.tags.clone()).collect();
        tags.sort();
        tags.dedup();
        Ok(Self { monitors, tags })
    }

    fn of(&self, key: &str) -> Vec<(String, String)> {
        let list = match key {
            "monitors" => &self.monitors,
            "tags" => &self.tags,
            _ => return Vec::new(),
        };
        list.iter().map(|v| (v.clone(), v.clone())).collect()
    }
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
    let choices = Choices::load(st).await?;
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
        sections: form::view(WINDOW_FIELDS, ONE, "", values, errors, &|key| {
            choices.of(key)
        }),
        general: errors.general(&WINDOW_FIELDS.iter().map(|d| d.key).collect::<Vec<_>>()),
    })
}

pub(crate) async fn list(
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

pub(crate) async fn create(
    State(st): State<AppState>,
    headers: HeaderMap,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let tz = super::session::viewer_tz(&headers);
    let mut values = form::submitted(WINDOW_FIELDS, "", &p.fields);
    times_from_local(&mut values, &tz);
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
    times_to_local(&mut values, &tz);
    let page = maintenance_page(&st, &p.session, &values, &errors, None).await?;
    Ok(unprocessable(render(&page)))
}

// --- End early, delete --------------------------------------------------------------

pub(crate) async fn end(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    end_window(&st, window_id(&id)?).await?;
    Ok(see_other("/maintenance?ok=window-ended"))
}

pub(crate) async fn delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    delete_window(&st, window_id(&id)?).await?;
    Ok(see_other("/maintenance?ok=window-deleted"))
}

// --- Edit ---------------------------------------------------------------------------

async fn window_form(
    st: &AppState,
    s: &Session,
    raw_id: &str,
    values: Option<Values>,
    errors: &FieldErrors,
    tz: &TimeZone,
) -> Result<EditPage, UiError> {
    let rec = stored_window(st, raw_id).await?;
    let id = rec.id;
    let now = st.now();
    let v = window_view(rec.clone(), now)?;
    let fields = edit_fields(WINDOW_FIELDS, &[]);
    let values = match values {
        Some(v) => v,
        None => {
            let doc =
                serde_json::to_value(&v.config).map_err(|e| UiError::Internal(e.to_string()))?;
            form::from_json(&fields, "", &doc)
        }
    };
    let mut values = values;
    times_to_local(&mut values, tz);
    let mut page = EditPage::new(
        Layout::new(
            format!("Edit maintenance window {}", v.config.name),
            "maintenance",
            s,
        ),
        "maintenance window",
        v.config.name.clone(),
        "/maintenance".to_owned(),
        format!("/maintenance/{id}/edit"),
    );
    page.back_label = "Maintenance";
    page.list = "/maintenance";
    page.file = v.source == "file";
    page.ended = has_ended(&rec, &v.config, now);
    let choices = Choices::load(st).await?;
    page.sections = form::view(&fields, ONE, "", &values, errors, &|key| choices.of(key));
    page.general = errors.general(&fields.iter().map(|d| d.key).collect::<Vec<_>>());
    Ok(page)
}

pub(crate) async fn edit_form(
    State(st): State<AppState>,
    s: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    s.require_write()?;
    let tz = super::session::viewer_tz(&headers);
    let page = window_form(&st, &s, &id, None, &FieldErrors::default(), &tz).await?;
    Ok(render(&page))
}

pub(crate) async fn save(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let tz = super::session::viewer_tz(&headers);
    let rec = stored_window(&st, &raw).await?;
    let fields = edit_fields(WINDOW_FIELDS, &[]);
    let mut values = form::submitted(&fields, "", &p.fields);
    times_from_local(&mut values, &tz);
    let mut errors = FieldErrors::default();
    let mut doc = form::to_json(&fields, "", &values, &mut errors);
    if let Value::Object(m) = &mut doc {
        m.insert("name".into(), Value::String(rec.name));
    }
    if errors.is_empty()
        && let Some(config) = decode::<MaintenanceConfig>(doc, &fields, "", &mut errors)
    {
        match update_window(&st, rec.id, config).await {
            Ok(()) => return Ok(see_other("/maintenance?ok=window-saved")),
            Err(e) => errors = FieldErrors::from_api(e, |f| form::field_of(&fields, "", f))?,
        }
    }
    let page = window_form(&st, &p.session, &raw, Some(values), &errors, &tz).await?;
    Ok(unprocessable(render(&page)))
}
