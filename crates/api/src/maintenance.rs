//! `/api/v1/maintenance`: windows during which checks continue but nothing is sent.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use vigilmon_app::AppState;
use vigilmon_app::auth::Scope;
use vigilmon_app::error::{AppError, ErrorBody};
use vigilmon_app::extract::{ApiJson, Caller, Writer};
use vigilmon_app::maintenance::*;
use vigilmon_core::maintenance::MaintenanceConfig;

/// Every maintenance window.
#[utoipa::path(get, path = "/api/v1/maintenance", tag = "alerting",
    responses((status = 200, body = MaintenanceList)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<MaintenanceList>, AppError> {
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
    _: Writer,
    ApiJson(config): ApiJson<MaintenanceConfig>,
) -> Result<(StatusCode, Json<MaintenanceView>), AppError> {
    let id = create_window(&st, config).await?;
    // Stored a moment ago: if it is gone, it was deleted in between, which is the
    // server's race and not a window the caller named wrongly (500, not 404).
    let rec = find_window(&st, id).await.map_err(|e| match e {
        AppError::NotFound(_) => AppError::Internal("the window vanished".into()),
        e => e,
    })?;
    Ok((StatusCode::CREATED, Json(view(rec, st.now())?)))
}

/// Replace a window's settings (the name stays). Refused for windows from the config
/// file and for windows that have ended.
#[utoipa::path(put, path = "/api/v1/maintenance/{id}", tag = "alerting", params(("id" = String, Path)),
    request_body = MaintenanceConfig,
    responses((status = 200, body = MaintenanceView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(st): State<AppState>,
    _: Writer,
    Path(raw): Path<String>,
    ApiJson(config): ApiJson<MaintenanceConfig>,
) -> Result<Json<MaintenanceView>, AppError> {
    let id = parse(&raw)?;
    update_window(&st, id, config).await?;
    let rec = find_window(&st, id).await?;
    Ok(Json(view(rec, st.now())?))
}

/// End a window now (it stays listed, inactive).
#[utoipa::path(post, path = "/api/v1/maintenance/{id}/end", tag = "alerting", params(("id" = String, Path)),
    responses((status = 200, body = MaintenanceView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn end(
    State(st): State<AppState>,
    _: Writer,
    Path(raw): Path<String>,
) -> Result<Json<MaintenanceView>, AppError> {
    let id = parse(&raw)?;
    end_window(&st, id).await?;
    let rec = find_window(&st, id).await?;
    Ok(Json(view(rec, st.now())?))
}

/// Delete a window.
#[utoipa::path(delete, path = "/api/v1/maintenance/{id}", tag = "alerting", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(
    State(st): State<AppState>,
    _: Writer,
    Path(raw): Path<String>,
) -> Result<StatusCode, AppError> {
    delete_window(&st, parse(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
