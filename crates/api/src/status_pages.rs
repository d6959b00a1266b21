//! The authenticated status-page API: `/api/v1/status-pages` (pages as code through
//! the API; pages from the config file are read-only here, `409 managed_by_config`),
//! exact uptime per monitor (`/api/v1/monitors/{id}/uptime`), rollups
//! (`/api/v1/monitors/{id}/rollups`), and public incident updates
//! (`/api/v1/incidents/{id}/updates`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use uuid::Uuid;
use vigilmon_app::AppState;
use vigilmon_app::auth::Scope;
use vigilmon_app::error::{AppError, ErrorBody};
use vigilmon_app::extract::{ApiJson, ApiQuery, Caller, Writer};
use vigilmon_app::status_model::{public_incident_id, window_ms};
use vigilmon_app::status_pages::*;
use vigilmon_core::MonitorId;
use vigilmon_core::status_page::StatusPageConfig;
use vigilmon_store::{ALL_REGIONS, RollupPeriod, StatusPageRecord};

/// Every status page.
#[utoipa::path(get, path = "/api/v1/status-pages", tag = "status pages",
    responses((status = 200, body = StatusPageList), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<StatusPageList>, AppError> {
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
) -> Result<Json<StatusPageView>, AppError> {
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
    _: Writer,
    ApiJson(config): ApiJson<StatusPageConfig>,
) -> Result<(StatusCode, Json<StatusPageView>), AppError> {
    let rec = create_page(&st, &config).await?;
    Ok((StatusCode::CREATED, Json(view(&st, rec).await?)))
}

/// Replace a status page made through the API.
#[utoipa::path(put, path = "/api/v1/status-pages/{slug}", tag = "status pages", request_body = StatusPageConfig,
    params(("slug" = String, Path)),
    responses((status = 200, body = StatusPageView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(st): State<AppState>,
    _: Writer,
    Path(slug): Path<String>,
    ApiJson(config): ApiJson<StatusPageConfig>,
) -> Result<Json<StatusPageView>, AppError> {
    let rec = replace_page(&st, &slug, &config).await?;
    Ok(Json(view(&st, rec).await?))
}

/// Delete a status page made through the API.
#[utoipa::path(delete, path = "/api/v1/status-pages/{slug}", tag = "status pages",
    params(("slug" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(
    State(st): State<AppState>,
    _: Writer,
    Path(slug): Path<String>,
) -> Result<StatusCode, AppError> {
    delete_page(&st, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
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
    ApiQuery(q): ApiQuery<UptimeQuery>,
) -> Result<Json<UptimeView>, AppError> {
    caller.require(Scope::Read)?;
    let id = parse_monitor(&id)?;
    let m = st
        .store()
        .get_monitor(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no monitor with id {id}")))?;
    // Milliseconds, the precision everything is stored with.
    let now = Timestamp::from_millisecond(st.now().as_millisecond()).unwrap_or_else(|_| st.now());
    let (window, from, to) = match (&q.window, &q.from) {
        (Some(_), Some(_)) => {
            return Err(AppError::bad_request(
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
                return Err(AppError::bad_request(
                    "from: must be before to (and before now)",
                    Some("from".into()),
                ));
            }
            (None, from, to)
        }
        (w, None) => {
            if q.to.is_some() {
                return Err(AppError::bad_request(
                    "to: goes with from",
                    Some("to".into()),
                ));
            }
            let name = w.clone().unwrap_or_else(|| "30d".into());
            let ms = window_ms(&name).ok_or_else(|| {
                AppError::bad_request(
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

/// A monitor's check results summarised per hour or per day.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/rollups", tag = "monitors",
    params(("id" = String, Path, description = "Monitor id"), RollupQuery),
    responses((status = 200, body = RollupList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rollups(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<RollupQuery>,
) -> Result<Json<RollupList>, AppError> {
    caller.require(Scope::Read)?;
    let id = parse_monitor(&id)?;
    if st.store().get_monitor(id).await?.is_none() {
        return Err(AppError::NotFound(format!("no monitor with id {id}")));
    }
    let (period, name, default_span) = match q.period.as_deref() {
        None | Some("hour") => (RollupPeriod::Hour, "hour", 24 * 3_600_000),
        Some("day") => (RollupPeriod::Day, "day", 90 * 86_400_000),
        Some(p) => {
            return Err(AppError::bad_request(
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
        return Err(AppError::bad_request(
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

/// An incident's public updates, oldest first.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/updates", tag = "incidents",
    params(("id" = String, Path)),
    responses((status = 200, body = UpdateList), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_updates(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UpdateList>, AppError> {
    caller.require(Scope::Read)?;
    let id = parse_incident(&id)?;
    if st.store().get_incident(id).await?.is_none() {
        return Err(AppError::NotFound(format!("no incident with id {id}")));
    }
    Ok(Json(update_list(&st, id).await?))
}

/// Post a public update: shown on the status pages that show the incident's monitor,
/// separate from the internal timeline. It does not change the incident's state.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/updates", tag = "incidents",
    params(("id" = String, Path)), request_body = NewUpdateBody,
    responses((status = 201, body = UpdateList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_update(
    State(st): State<AppState>,
    Writer(caller): Writer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewUpdateBody>,
) -> Result<(StatusCode, Json<UpdateList>), AppError> {
    let id = parse_incident(&id)?;
    // Unnamed updates are signed with the token's name.
    let token = st
        .store()
        .list_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == caller.token_id)
        .map_or_else(|| "API".to_owned(), |t| format!("token {}", t.name));
    add_incident_update(&st, id, &body, token).await?;
    Ok((StatusCode::CREATED, Json(update_list(&st, id).await?)))
}

async fn view(st: &AppState, rec: StatusPageRecord) -> Result<StatusPageView, AppError> {
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

fn parse_monitor(raw: &str) -> Result<MonitorId, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound(format!("no monitor with id {raw:?}")))
}

fn parse_time(field: &str, raw: &str) -> Result<Timestamp, AppError> {
    raw.parse::<Timestamp>().map_err(|_| {
        AppError::bad_request(
            format!("{field}: {raw:?} is not an RFC 3339 time such as 2026-01-31T12:00:00Z"),
            Some(field.to_owned()),
        )
    })
}

fn parse_incident(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound(format!("no incident with id {raw:?}")))
}

async fn update_list(st: &AppState, id: Uuid) -> Result<UpdateList, AppError> {
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
