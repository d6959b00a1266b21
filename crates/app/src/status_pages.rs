//! Status pages as the API and UI manage them (pages from the config file are
//! read-only, `409 managed_by_config`): creating, replacing and deleting them (each
//! moves the engine's change feed so public renderings follow), exact uptime per
//! monitor, rollups, and public incident updates.

use crate::AppState;
use crate::error::AppError;
use crate::status_model::{self as model, window_ms};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vigilmon_core::ValidationError;
use vigilmon_core::status_page::StatusPageConfig;
use vigilmon_core::uptime::Span;
use vigilmon_store::NewIncidentUpdate;
use vigilmon_store::{IncidentUpdate, MonitorSource, StatusPageRecord};

/// A monitor of a page, as its owner sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PageMonitorView {
    /// The monitor's name.
    pub name: String,
    /// The name the public sees.
    pub public_name: String,
    /// The monitor's id, or `null` when no monitor has this name (it is not shown).
    pub monitor_id: Option<Uuid>,
    /// Its public badge id, once the page was rendered.
    pub badge_id: Option<String>,
}

/// A status page with where it is served.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusPageView {
    #[serde(flatten)]
    pub config: StatusPageConfig,
    /// `file` for pages declared in the config file, `api` otherwise.
    pub source: &'static str,
    /// The public page.
    pub url: String,
    pub json_url: String,
    pub feed_url: String,
    pub monitor_list: Vec<PageMonitorView>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusPageList {
    pub status_pages: Vec<StatusPageView>,
}

pub async fn load(st: &AppState, slug: &str) -> Result<StatusPageRecord, AppError> {
    st.store()
        .get_status_page(slug)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no status page {slug:?}")))
}

/// Validates a page from the API: its shape, and that every monitor it names exists.
async fn checked(st: &AppState, config: &StatusPageConfig) -> Result<StatusPageConfig, AppError> {
    config.validate().map_err(AppError::Invalid)?;
    let config = config.normalized();
    config
        .check_domain_against(&st.public_host())
        .map_err(|e| AppError::Invalid(vec![e]))?;
    let monitors = st.store().list_monitors().await?;
    let mut errs = Vec::new();
    for (i, s) in config.sections.iter().enumerate() {
        for (j, e) in s.monitors.iter().enumerate() {
            if !monitors.iter().any(|m| m.config.name == e.name()) {
                errs.push(ValidationError::new(
                    format!("sections[{i}].monitors[{j}].name"),
                    format!("no monitor named {:?}", e.name()),
                ));
            }
        }
    }
    if errs.is_empty() {
        Ok(config)
    } else {
        Err(AppError::Invalid(errs))
    }
}

fn refuse_file_managed(rec: &StatusPageRecord) -> Result<(), AppError> {
    if rec.source == MonitorSource::File {
        return Err(AppError::Conflict {
            code: "managed_by_config",
            message: format!(
                "status page {:?} is declared in the config file; change it there",
                rec.slug
            ),
            field: None,
        });
    }
    Ok(())
}

/// Creates a page made outside the config file (API or web UI): validated like the
/// API's (shape, and that its monitors exist), stored, public caches invalidated.
pub async fn create_page(
    st: &AppState,
    config: &StatusPageConfig,
) -> Result<StatusPageRecord, AppError> {
    let config = checked(st, config).await?;
    let rec = st
        .store()
        .create_status_page(&config, MonitorSource::Api, st.now())
        .await?;
    st.changes().publish();
    Ok(rec)
}

/// Replaces the page `slug` (API or web UI): refused for pages of the config file and
/// for a changed slug; validated like [`create_page`].
pub async fn replace_page(
    st: &AppState,
    slug: &str,
    config: &StatusPageConfig,
) -> Result<StatusPageRecord, AppError> {
    let rec = load(st, slug).await?;
    refuse_file_managed(&rec)?;
    if config.slug.trim() != slug {
        return Err(AppError::Invalid(vec![ValidationError::new(
            "slug",
            "must be the slug of the URL (a page's slug does not change; create a new page instead)",
        )]));
    }
    let config = checked(st, config).await?;
    let rec = st
        .store()
        .upsert_status_page(&config, MonitorSource::Api, st.now())
        .await?;
    st.changes().publish();
    Ok(rec)
}

/// Deletes the page `slug` (API or web UI); refused for pages of the config file.
pub async fn delete_page(st: &AppState, slug: &str) -> Result<(), AppError> {
    let rec = load(st, slug).await?;
    refuse_file_managed(&rec)?;
    st.store().delete_status_page(slug).await?;
    st.changes().publish();
    Ok(())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UptimeQuery {
    /// `24h`, `7d`, `30d` or `90d`, ending now (default 30d).
    pub window: Option<String>,
    /// Start of a custom range (RFC 3339), instead of `window`.
    pub from: Option<String>,
    /// End of a custom range (RFC 3339; default now; later than now counts as now).
    pub to: Option<String>,
}

/// Uptime over a window.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UptimeView {
    pub monitor_id: Uuid,
    /// The named window, when one was asked for.
    pub window: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// `1 − downtime / counted`; `null` when no time counted.
    pub uptime: Option<f64>,
    /// As shown on status pages (`99.987%`), never rounded up.
    pub uptime_percent: Option<String>,
    /// Counted time the monitor was down or inside an incident.
    pub downtime_ms: i64,
    /// The window minus pending time and maintenance.
    pub counted_ms: i64,
    /// Maintenance (not counted).
    pub maintenance_ms: i64,
    /// Before the monitor was first seen (not counted).
    pub pending_ms: i64,
    /// Incidents that overlapped the window.
    pub incidents: usize,
}

/// A monitor's uptime over `[from, to)` as the API shows it (`window`: its name, if
/// one was asked for). Shared by the API and the web UI's monitor page.
pub async fn uptime_view(
    store: &vigilmon_store::Store,
    m: &vigilmon_store::MonitorRecord,
    window: Option<String>,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Result<UptimeView, AppError> {
    let found = model::uptime_of(store, m, Span::between(from, to), now).await?;
    Ok(uptime_view_of(m, window, (from, to), found))
}

fn uptime_view_of(
    m: &vigilmon_store::MonitorRecord,
    window: Option<String>,
    (from, to): (Timestamp, Timestamp),
    (u, incidents): (vigilmon_core::uptime::Uptime, usize),
) -> UptimeView {
    UptimeView {
        monitor_id: m.id.as_uuid(),
        window,
        from,
        to,
        uptime: u.ratio(),
        uptime_percent: u.percent_text(),
        downtime_ms: u.downtime_ms,
        counted_ms: u.counted_ms,
        maintenance_ms: u.maintenance_ms,
        pending_ms: u.pending_ms,
        incidents,
    }
}

/// The named windows (`24h`, `7d`, `30d`, `90d`) of a monitor's uptime, each ending
/// `now` (taken to the millisecond, as stored), from one read of its history.
pub async fn named_uptimes(
    store: &vigilmon_store::Store,
    m: &vigilmon_store::MonitorRecord,
    now: Timestamp,
) -> Result<Vec<UptimeView>, AppError> {
    let now = Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now);
    const NAMES: [&str; 4] = ["24h", "7d", "30d", "90d"];
    let bounds: Vec<(Timestamp, Timestamp)> = NAMES
        .iter()
        .map(|name| {
            let ms = window_ms(name).unwrap_or(24 * 3_600_000);
            let from =
                Timestamp::from_millisecond(now.as_millisecond() - ms).unwrap_or(Timestamp::MIN);
            (from, now)
        })
        .collect();
    let spans: Vec<Span> = bounds.iter().map(|(f, t)| Span::between(*f, *t)).collect();
    let found = model::uptimes_of(store, &[(m.id, &m.config)], &spans, now)
        .await?
        .remove(&m.id)
        .unwrap_or_default();
    Ok(NAMES
        .iter()
        .zip(bounds)
        .zip(found)
        .map(|((name, b), f)| uptime_view_of(m, Some((*name).to_owned()), b, f))
        .collect())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RollupQuery {
    /// `hour` (default) or `day` (UTC days).
    pub period: Option<String>,
    /// One region's rollups; default: all regions together.
    pub region: Option<String>,
    /// Start (RFC 3339); default 24 hours (hour) or 90 days (day) ago.
    pub from: Option<String>,
    /// End (RFC 3339); default now.
    pub to: Option<String>,
}

/// One rollup.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RollupView {
    /// A region, or `*` for all regions together.
    pub region: String,
    /// Start of the hour or UTC day.
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    pub checks: u64,
    pub failures: u64,
    pub degraded: u64,
    pub duration_min_ms: Option<u64>,
    pub duration_avg_ms: Option<f64>,
    pub duration_p95_ms: Option<u64>,
    pub duration_max_ms: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RollupList {
    /// `hour` or `day`.
    pub period: &'static str,
    pub rollups: Vec<RollupView>,
}

/// The statuses of public updates.
pub const UPDATE_STATUSES: [&str; 4] = ["investigating", "identified", "monitoring", "resolved"];

/// A public update to post.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpdateBody {
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    pub status: String,
    /// What the public reads (plain text, up to 5,000 characters).
    pub text: String,
    /// A public title for the incident (replaces the default wording).
    pub title: Option<String>,
    /// Who posts it (kept, not published; default: the token's name).
    pub by: Option<String>,
}

/// A public update, as its owner sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UpdateView {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub status: String,
    pub text: String,
    pub title: Option<String>,
    pub author: Option<String>,
}

impl From<IncidentUpdate> for UpdateView {
    fn from(u: IncidentUpdate) -> Self {
        UpdateView {
            id: u.id,
            at: u.at,
            status: u.status,
            text: u.text,
            title: u.title,
            author: u.author,
        }
    }
}

/// An incident's public updates.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UpdateList {
    pub incident_id: Uuid,
    /// The id status pages and feeds use for this incident.
    pub public_id: String,
    /// Oldest first.
    pub updates: Vec<UpdateView>,
}

/// Posts a public update to an incident (shown on the status pages that show its
/// monitor, apart from the internal timeline; the incident's state does not change),
/// signed `by` the body's author or else `unnamed_author`; moves the change feed.
pub async fn add_incident_update(
    st: &AppState,
    id: Uuid,
    body: &NewUpdateBody,
    unnamed_author: String,
) -> Result<(), AppError> {
    let mut errs = Vec::new();
    let status = body.status.trim().to_ascii_lowercase();
    if !UPDATE_STATUSES.contains(&status.as_str()) {
        errs.push(ValidationError::new(
            "status",
            "must be investigating, identified, monitoring or resolved",
        ));
    }
    let text = body.text.trim().replace("\r\n", "\n");
    if !printable(&text, 5_000, true) {
        errs.push(ValidationError::new(
            "text",
            "must be 1-5,000 characters, without control characters",
        ));
    }
    let title = body.title.as_deref().map(str::trim).map(str::to_owned);
    if title.as_deref().is_some_and(|t| !printable(t, 200, false)) {
        errs.push(ValidationError::new(
            "title",
            "must be 1-200 printable characters",
        ));
    }
    let by = body.by.as_deref().map(str::trim).filter(|b| !b.is_empty());
    if by.is_some_and(|b| !printable(b, 200, false)) {
        errs.push(ValidationError::new(
            "by",
            "must be 1-200 printable characters",
        ));
    }
    if !errs.is_empty() {
        return Err(AppError::Invalid(errs));
    }
    let author = by.map_or(unnamed_author, str::to_owned);
    let added = st
        .store()
        .add_incident_update(&NewIncidentUpdate {
            incident_id: id,
            at: st.now(),
            status,
            text,
            title,
            author: Some(author),
        })
        .await;
    match added {
        Ok(_) => {}
        Err(vigilmon_store::StoreError::NotFound) => {
            return Err(AppError::NotFound(format!("no incident with id {id}")));
        }
        Err(e) => return Err(e.into()),
    }
    st.changes().publish();
    Ok(())
}

fn printable(s: &str, max: usize, multiline: bool) -> bool {
    !s.is_empty()
        && s.chars().count() <= max
        && !s
            .chars()
            .any(|c| c.is_control() && !(multiline && c == '\n'))
}
