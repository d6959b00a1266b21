//! `/api/v1/maintenance`: windows during which checks continue but nothing is sent.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use uuid::Uuid;
use vigilmon_core::maintenance::MaintenanceConfig;
use vigilmon_store::{MaintenanceRecord, MonitorSource};

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use crate::AppState;
use crate::auth::Scope;

/// A maintenance window as shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MaintenanceView {
    pub id: Uuid,
    #[serde(flatten)]
    pub config: MaintenanceConfig,
    pub source: &'static str,
    /// Whether it holds notifications right now.
    pub active: bool,
    /// When it was ended early.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<jiff::Timestamp>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MaintenanceList {
    pub maintenance: Vec<MaintenanceView>,
}

pub(crate) fn view(
    r: MaintenanceRecord,
    now: jiff::Timestamp,
) -> Result<MaintenanceView, ApiError> {
    let config: MaintenanceConfig = serde_json::from_value(r.config)
        .map_err(|e| ApiError::Internal(format!("stored maintenance window is unreadable: {e}")))?;
    let active = r.ended_at.is_none() && config.build().is_ok_and(|s| s.active_at(now).is_some());
    Ok(MaintenanceView {
        id: r.id,
        config,
        source: r.source.as_str(),
        active,
        ended_at: r.ended_at,
    })
}

/// Every maintenance window.
#[utoipa::path(get, path = "/api/v1/maintenance", tag = "alerting",
    responses((status = 200, body = MaintenanceList)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<MaintenanceList>, ApiError> {
    caller.require(Scope::Read)?;
    let now = st.now();
    let maintenance = st
        .store()
        .list_maintenance()
        .await?
        .into_iter()
        .map(|r| view(r, now))
        .collect::<Result<_, _>>()?;
    Ok(Json(MaintenanceList { maintenance }))
}

/// Create a window: one-off (`starts_at`, `ends_at`) or recurring (`cron`, `duration`, `tz`), for monitors by name and/or by tag.
#[utoipa::path(post, path = "/api/v1/maintenance", tag = "alerting", request_body = MaintenanceConfig,
    responses((status = 201, body = MaintenanceView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(config): ApiJson<MaintenanceConfig>,
) -> Result<(StatusCode, Json<MaintenanceView>), ApiError> {
    caller.require(Scope::Write)?;
    let id = create_window(&st, config).await?;
    let rec = st
        .store()
        .list_maintenance()
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| ApiError::Internal("the window vanished".into()))?;
    Ok((StatusCode::CREATED, Json(view(rec, st.now())?)))
}

/// Validates and stores a new maintenance window (its name must be free).
pub(crate) async fn create_window(
    st: &AppState,
    mut config: MaintenanceConfig,
) -> Result<Uuid, ApiError> {
    config.build().map_err(ApiError::Invalid)?;
    config.name = config.name.trim().to_owned();
    if st
        .store()
        .list_maintenance()
        .await?
        .iter()
        .any(|w| w.name == config.name)
    {
        return Err(ApiError::Conflict {
            code: "conflict",
            message: format!(
                "a maintenance window named {:?} already exists",
                config.name
            ),
            field: Some("name".into()),
        });
    }
    let value = serde_json::to_value(&config).map_err(|e| ApiError::Internal(e.to_string()))?;
    let id = st
        .store()
        .upsert_maintenance(
            Uuid::now_v7(),
            &config.name,
            &value,
            MonitorSource::Api,
            st.now(),
        )
        .await?;
    st.alerting().config_changed().await;
    Ok(id)
}

/// Replace a window's settings (the name stays). Refused for windows from the config
/// file and for windows that have ended.
#[utoipa::path(put, path = "/api/v1/maintenance/{id}", tag = "alerting", params(("id" = String, Path)),
    request_body = MaintenanceConfig,
    responses((status = 200, body = MaintenanceView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(st): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(config): ApiJson<MaintenanceConfig>,
) -> Result<Json<MaintenanceView>, ApiError> {
    caller.require(Scope::Write)?;
    let id = parse(&raw)?;
    update_window(&st, id, config).await?;
    let rec = find_window(&st, id).await?;
    Ok(Json(view(rec, st.now())?))
}

async fn find_window(st: &AppState, id: Uuid) -> Result<MaintenanceRecord, ApiError> {
    st.store()
        .list_maintenance()
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no maintenance window with id {id}")))
}

/// Whether a window is over: ended early, or a one-off whose end has passed.
pub(crate) fn has_ended(
    r: &MaintenanceRecord,
    config: &MaintenanceConfig,
    now: jiff::Timestamp,
) -> bool {
    r.ended_at.is_some()
        || (config.cron.is_none()
            && config
                .ends_at
                .as_deref()
                .and_then(|e| e.parse::<jiff::Timestamp>().ok())
                .is_some_and(|end| end <= now))
}

/// Validates and stores new settings for a window that has not ended (not one from
/// the config file; the name stays); the alerting driver reloads.
pub(crate) async fn update_window(
    st: &AppState,
    id: Uuid,
    mut config: MaintenanceConfig,
) -> Result<(), ApiError> {
    let rec = find_window(st, id).await?;
    if rec.source == MonitorSource::File {
        return Err(ApiError::Conflict {
            code: "managed_by_config",
            message: format!(
                "{:?} is declared in the config file; change it there",
                rec.name
            ),
            field: None,
        });
    }
    let old: MaintenanceConfig = serde_json::from_value(rec.config.clone())
        .map_err(|e| ApiError::Internal(format!("stored maintenance window is unreadable: {e}")))?;
    if has_ended(&rec, &old, st.now()) {
        return Err(ApiError::Conflict {
            code: "ended",
            message: format!(
                "maintenance window {:?} has ended; create a new one",
                rec.name
            ),
            field: None,
        });
    }
    config.name = config.name.trim().to_owned();
    if config.name != rec.name {
        return Err(ApiError::bad_request(
            "name: a maintenance window cannot be renamed",
            Some("name".into()),
        ));
    }
    config.build().map_err(ApiError::Invalid)?;
    let value = serde_json::to_value(&config).map_err(|e| ApiError::Internal(e.to_string()))?;
    st.store()
        .upsert_maintenance(id, &config.name, &value, MonitorSource::Api, st.now())
        .await?;
    st.alerting().config_changed().await;
    Ok(())
}

fn parse(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::NotFound(format!("no maintenance window with id {raw:?}")))
}

/// End a window now (it stays listed, inactive).
#[utoipa::path(post, path = "/api/v1/maintenance/{id}/end", tag = "alerting", params(("id" = String, Path)),
    responses((status = 200, body = MaintenanceView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn end(
    State(st): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<MaintenanceView>, ApiError> {
    caller.require(Scope::Write)?;
    let id = parse(&raw)?;
    end_window(&st, id).await?;
    let rec = st
        .store()
        .list_maintenance()
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no maintenance window with id {id}")))?;
    Ok(Json(view(rec, st.now())?))
}

/// Ends a window now.
pub(crate) async fn end_window(st: &AppState, id: Uuid) -> Result<(), ApiError> {
    st.store().end_maintenance(id, st.now()).await?;
    st.alerting().config_changed().await;
    Ok(())
}

/// Deletes a window.
pub(crate) async fn delete_window(st: &AppState, id: Uuid) -> Result<(), ApiError> {
    if !st.store().delete_maintenance(id).await? {
        return Err(ApiError::NotFound(format!(
            "no maintenance window with id {id}"
        )));
    }
    st.alerting().config_changed().await;
    Ok(())
}

/// Delete a window.
#[utoipa::path(delete, path = "/api/v1/maintenance/{id}", tag = "alerting", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::Write)?;
    delete_window(&st, parse(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
