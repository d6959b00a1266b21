//! The authenticated status-page API: `/api/v1/status-pages` (pages as code through
//! the API; pages from the config file are read-only here, `409 managed_by_config`),
//! exact uptime per monitor (`/api/v1/monitors/{id}/uptime`), rollups
//! (`/api/v1/monitors/{id}/rollups`), and public incident updates
//! (`/api/v1/incidents/{id}/updates`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vigilmon_core::status_page::StatusPageConfig;
use vigilmon_core::uptime::Span;
use vigilmon_core::{MonitorId, ValidationError};
use vigilmon_store::{
    ALL_REGIONS, IncidentUpdate, MonitorSource, NewIncidentUpdate, RollupPeriod, StatusPageRecord,
};

use super::model::{self, public_incident_id, window_ms};
use crate::AppState;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{ApiJson, Caller};
use crate::auth::Scope;

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

async fn view(st: &AppState, rec: StatusPageRecord) -> Result<StatusPageView, ApiError> {
    let monitors = st.store().list_monitors().await?;
    let found: Vec<(String, String, Option<MonitorId>)> = rec
        .config
        .monitors()
        .map(|e| {
            let id = monitors
                .iter()
                .find(|m| m.config.name == e.name())
                .map(|m| m.id);
            (e.name().to_owned(), e.public_name().to_owned(), id)
        })
        .collect();
    let ids: Vec<MonitorId> = found.iter().filter_map(|(_, _, id)| *id).collect();
    let badges = st.store().badge_ids(&ids).await?;
    let base = st.public_url();
    let slug = &rec.slug;
    Ok(StatusPageView {
        url: format!("{base}/status/{slug}"),
        json_url: format!("{base}/api/v1/public/status/{slug}"),
        feed_url: format!("{base}/status/{slug}/feed.atom"),
        monitor_list: found
            .into_iter()
            .map(|(name, public_name, id)| PageMonitorView {
                badge_id: id.and_then(|i| badges.get(&i).cloned()),
                monitor_id: id.map(|i| i.as_uuid()),
                name,
                public_name,
            })
            .collect(),
        source: rec.source.as_str(),
        created_at: rec.created_at,
        updated_at: rec.updated_at,
        config: rec.config,
    })
}

async fn load(st: &AppState, slug: &str) -> Result<StatusPageRecord, ApiError> {
    st.store()
        .get_status_page(slug)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no status page {slug:?}")))
}

/// Validates a page from the API: its shape, and that every monitor it names exists.
async fn checked(st: &AppState, config: &StatusPageConfig) -> Result<StatusPageConfig, ApiError> {
    config.validate().map_err(ApiError::Invalid)?;
    let config = config.normalized();
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
        Err(ApiError::Invalid(errs))
    }
}

fn refuse_file_managed(rec: &StatusPageRecord) -> Result<(), ApiError> {
    if rec.source == MonitorSource::File {
        return Err(ApiError::Conflict {
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

/// Every status page.
#[utoipa::path(get, path = "/api/v1/status-pages", tag = "status pages",
    responses((status = 200, body = StatusPageList), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<StatusPageList>, ApiError> {
    caller.require(Scope::Read)?;
    let mut status_pages = Vec::new();
    for rec in st.store().list_status_pages().await? {
        status_pages.push(view(&st, rec).await?);
    }
    Ok(Json(StatusPageList { status_pages }))
}

/// One status page.
#[utoipa::path(get, path = "/api/v1/status-pages/{slug}", tag = "status pages",
    params(("slug" = String, Path)),
    responses((status = 200, body = StatusPageView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<StatusPageView>, ApiError> {
    caller.require(Scope::Read)?;
    let rec = load(&st, &slug).await?;
    Ok(Json(view(&st, rec).await?))
}

/// Create a status page (the same fields as `status_pages:` in the config file).
#[utoipa::path(post, path = "/api/v1/status-pages", tag = "status pages", request_body = StatusPageConfig,
    responses((status = 201, body = StatusPageView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(config): ApiJson<StatusPageConfig>,
) -> Result<(StatusCode, Json<StatusPageView>), ApiError> {
    caller.require(Scope::Write)?;
    let rec = create_page(&st, &config).await?;
    Ok((StatusCode::CREATED, Json(view(&st, rec).await?)))
}

/// Creates a page made outside the config file (API or web UI): validated like the
/// API's (shape, and that its monitors exist), stored, public caches invalidated.
pub(crate) async fn create_page(
    st: &AppState,
    config: &StatusPageConfig,
) -> Result<StatusPageRecord, ApiError> {
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
pub(crate) async fn replace_page(
    st: &AppState,
    slug: &str,
    config: &StatusPageConfig,
) -> Result<StatusPageRecord, ApiError> {
    let rec = load(st, slug).await?;
    refuse_file_managed(&rec)?;
    if config.slug.trim() != slug {
        return Err(ApiError::Invalid(vec![ValidationError::new(
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
pub(crate) async fn delete_page(st: &AppState, slug: &str) -> Result<(), ApiError> {
    let rec = load(st, slug).await?;
    refuse_file_managed(&rec)?;
    st.store().delete_status_page(slug).await?;
    st.changes().publish();
    Ok(())
}

/// Replace a status page made through the API.
#[utoipa::path(put, path = "/api/v1/status-pages/{slug}", tag = "status pages", request_body = StatusPageConfig,
    params(("slug" = String, Path)),
    responses((status = 200, body = StatusPageView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(st): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    ApiJson(config): ApiJson<StatusPageConfig>,
) -> Result<Json<StatusPageView>, ApiError> {
    caller.require(Scope::Write)?;
    let rec = replace_page(&st, &slug, &config).await?;
    Ok(Json(view(&st, rec).await?))
}

/// Delete a status page made through the API.
#[utoipa::path(delete, path = "/api/v1/status-pages/{slug}", tag = "status pages",
    params(("slug" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::Write)?;
    delete_page(&st, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_monitor(raw: &str) -> Result<MonitorId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no monitor with id {raw:?}")))
}

fn parse_time(field: &str, raw: &str) -> Result<Timestamp, ApiError> {
    raw.parse::<Timestamp>().map_err(|_| {
        ApiError::bad_request(
            format!("{field}: {raw:?} is not an RFC 3339 time such as 2026-01-31T12:00:00Z"),
            Some(field.to_owned()),
        )
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
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
    /// Counted time inside incidents.
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

/// A monitor's exact, time-weighted uptime: `1 − downtime / (window − pending − maintenance)`.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/uptime", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id"), UptimeQuery),
    responses((status = 200, body = UptimeView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn uptime(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<UptimeQuery>,
) -> Result<Json<UptimeView>, ApiError> {
    caller.require(Scope::Read)?;
    let id = parse_monitor(&id)?;
    let m = st
        .store()
        .get_monitor(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no monitor with id {id}")))?;
    // Milliseconds, the precision everything is stored with.
    let now = Timestamp::from_millisecond(st.now().as_millisecond()).unwrap_or_else(|_| st.now());
    let (window, from, to) = match (&q.window, &q.from) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either window or from (and to), not both",
                Some("window".into()),
            ));
        }
        (_, Some(f)) => {
            let from = parse_time("from", f)?;
            let to = match &q.to {
                Some(t) => parse_time("to", t)?.min(now),
                None => now,
            };
            if from >= to {
                return Err(ApiError::bad_request(
                    "from: must be before to (and before now)",
                    Some("from".into()),
                ));
            }
            (None, from, to)
        }
        (w, None) => {
            if q.to.is_some() {
                return Err(ApiError::bad_request(
                    "to: goes with from",
                    Some("to".into()),
                ));
            }
            let name = w.clone().unwrap_or_else(|| "30d".into());
            let ms = window_ms(&name).ok_or_else(|| {
                ApiError::bad_request(
                    format!("window: {name:?} must be 24h, 7d, 30d or 90d"),
                    Some("window".into()),
                )
            })?;
            let from =
                Timestamp::from_millisecond(now.as_millisecond() - ms).unwrap_or(Timestamp::MIN);
            (Some(name), from, now)
        }
    };
    Ok(Json(
        uptime_view(st.store(), &m, window, from, to, now).await?,
    ))
}

/// A monitor's uptime over `[from, to)` as the API shows it (`window`: its name, if
/// one was asked for). Shared by the API and the web UI's monitor page.
pub(crate) async fn uptime_view(
    store: &vigilmon_store::Store,
    m: &vigilmon_store::MonitorRecord,
    window: Option<String>,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Result<UptimeView, ApiError> {
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
pub(crate) async fn named_uptimes(
    store: &vigilmon_store::Store,
    m: &vigilmon_store::MonitorRecord,
    now: Timestamp,
) -> Result<Vec<UptimeView>, ApiError> {
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

/// A monitor's check results summarised per hour or per day.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/rollups", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id"), RollupQuery),
    responses((status = 200, body = RollupList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rollups(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<RollupQuery>,
) -> Result<Json<RollupList>, ApiError> {
    caller.require(Scope::Read)?;
    let id = parse_monitor(&id)?;
    if st.store().get_monitor(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no monitor with id {id}")));
    }
    let (period, name, default_span) = match q.period.as_deref() {
        None | Some("hour") => (RollupPeriod::Hour, "hour", 24 * 3_600_000),
        Some("day") => (RollupPeriod::Day, "day", 90 * 86_400_000),
        Some(p) => {
            return Err(ApiError::bad_request(
                format!("period: {p:?} must be hour or day"),
                Some("period".into()),
            ));
        }
    };
    let now = st.now();
    let to = match &q.to {
        Some(t) => parse_time("to", t)?,
        None => now,
    };
    let from = match &q.from {
        Some(f) => parse_time("from", f)?,
        None => Timestamp::from_millisecond(to.as_millisecond() - default_span)
            .unwrap_or(Timestamp::MIN),
    };
    if from >= to {
        return Err(ApiError::bad_request(
            "from: must be before to",
            Some("from".into()),
        ));
    }
    let region = q.region.as_deref().unwrap_or(ALL_REGIONS);
    let rows = st
        .store()
        .list_rollups(period, &[id], Some(region), from, to)
        .await?;
    Ok(Json(RollupList {
        period: name,
        rollups: rows
            .into_iter()
            .map(|r| RollupView {
                region: r.region,
                start: r.bucket_start,
                checks: r.rollup.checks,
                failures: r.rollup.failures,
                degraded: r.rollup.degraded,
                duration_min_ms: r.rollup.duration_min,
                duration_avg_ms: r.rollup.duration_avg().map(|a| (a * 10.0).round() / 10.0),
                duration_p95_ms: r.rollup.duration_p95,
                duration_max_ms: r.rollup.duration_max,
            })
            .collect(),
    }))
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

fn parse_incident(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("no incident with id {raw:?}")))
}

async fn update_list(st: &AppState, id: Uuid) -> Result<UpdateList, ApiError> {
    Ok(UpdateList {
        incident_id: id,
        public_id: public_incident_id(id),
        updates: st
            .store()
            .incident_updates(&[id])
            .await?
            .into_iter()
            .map(UpdateView::from)
            .collect(),
    })
}

/// An incident's public updates, oldest first.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/updates", tag = "incidents",
    params(("id" = String, Path)),
    responses((status = 200, body = UpdateList), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_updates(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UpdateList>, ApiError> {
    caller.require(Scope::Read)?;
    let id = parse_incident(&id)?;
    if st.store().get_incident(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no incident with id {id}")));
    }
    Ok(Json(update_list(&st, id).await?))
}

fn printable(s: &str, max: usize, multiline: bool) -> bool {
    !s.is_empty()
        && s.chars().count() <= max
        && !s
            .chars()
            .any(|c| c.is_control() && !(multiline && c == '\n'))
}

/// Post a public update: shown on the status pages that show the incident's monitor,
/// separate from the internal timeline. It does not change the incident's state.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/updates", tag = "incidents",
    params(("id" = String, Path)), request_body = NewUpdateBody,
    responses((status = 201, body = UpdateList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_update(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewUpdateBody>,
) -> Result<(StatusCode, Json<UpdateList>), ApiError> {
    caller.require(Scope::Write)?;
    let id = parse_incident(&id)?;
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
        return Err(ApiError::Invalid(errs));
    }
    let author = match by {
        Some(b) => b.to_owned(),
        None => st
            .store()
            .list_tokens()
            .await?
            .into_iter()
            .find(|t| t.id == caller.token_id)
            .map_or_else(|| "API".to_owned(), |t| format!("token {}", t.name)),
    };
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
            return Err(ApiError::NotFound(format!("no incident with id {id}")));
        }
        Err(e) => return Err(e.into()),
    }
    st.changes().publish();
    Ok((StatusCode::CREATED, Json(update_list(&st, id).await?)))
}
