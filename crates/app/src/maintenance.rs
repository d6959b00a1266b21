//! Maintenance windows (checks go on, nothing is sent): creating, changing, ending and
//! deleting them, and their view.

use crate::AppState;
use crate::error::AppError;
use serde::Serialize;
use uuid::Uuid;
use vigilmon_core::maintenance::MaintenanceConfig;
use vigilmon_store::{MaintenanceRecord, MonitorSource};

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

pub fn view(r: MaintenanceRecord, now: jiff::Timestamp) -> Result<MaintenanceView, AppError> {
    let config: MaintenanceConfig = serde_json::from_value(r.config)
        .map_err(|e| AppError::Internal(format!("stored maintenance window is unreadable: {e}")))?;
    let active = r.ended_at.is_none() && config.build().is_ok_and(|s| s.active_at(now).is_some());
    Ok(MaintenanceView {
        id: r.id,
        config,
        source: r.source.as_str(),
        active,
        ended_at: r.ended_at,
    })
}

/// Validates and stores a new maintenance window (its name must be free).
pub async fn create_window(st: &AppState, mut config: MaintenanceConfig) -> Result<Uuid, AppError> {
    config.build().map_err(AppError::Invalid)?;
    config.name = config.name.trim().to_owned();
    if st
        .store()
        .list_maintenance()
        .await?
        .iter()
        .any(|w| w.name == config.name)
    {
        return Err(AppError::Conflict {
            code: "conflict",
            message: format!(
                "a maintenance window named {:?} already exists",
                config.name
            ),
            field: Some("name".into()),
        });
    }
    let value = serde_json::to_value(&config).map_err(|e| AppError::Internal(e.to_string()))?;
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

/// The stored window with this id; `NotFound` when there is none.
pub async fn find_window(st: &AppState, id: Uuid) -> Result<MaintenanceRecord, AppError> {
    st.store()
        .list_maintenance()
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| AppError::NotFound(format!("no maintenance window with id {id}")))
}

/// Whether a window is over: ended early, or a one-off whose end has passed.
pub fn has_ended(r: &MaintenanceRecord, config: &MaintenanceConfig, now: jiff::Timestamp) -> bool {
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
pub async fn update_window(
    st: &AppState,
    id: Uuid,
    mut config: MaintenanceConfig,
) -> Result<(), AppError> {
    let rec = find_window(st, id).await?;
    if rec.source == MonitorSource::File {
        return Err(AppError::Conflict {
            code: "managed_by_config",
            message: format!(
                "{:?} is declared in the config file; change it there",
                rec.name
            ),
            field: None,
        });
    }
    let old: MaintenanceConfig = serde_json::from_value(rec.config.clone())
        .map_err(|e| AppError::Internal(format!("stored maintenance window is unreadable: {e}")))?;
    if has_ended(&rec, &old, st.now()) {
        return Err(AppError::Conflict {
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
        return Err(AppError::bad_request(
            "name: a maintenance window cannot be renamed",
            Some("name".into()),
        ));
    }
    config.build().map_err(AppError::Invalid)?;
    let value = serde_json::to_value(&config).map_err(|e| AppError::Internal(e.to_string()))?;
    st.store()
        .upsert_maintenance(id, &config.name, &value, MonitorSource::Api, st.now())
        .await?;
    st.alerting().config_changed().await;
    Ok(())
}

pub fn parse(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw)
        .map_err(|_| AppError::NotFound(format!("no maintenance window with id {raw:?}")))
}

/// Ends a window now.
pub async fn end_window(st: &AppState, id: Uuid) -> Result<(), AppError> {
    st.store().end_maintenance(id, st.now()).await?;
    st.alerting().config_changed().await;
    Ok(())
}

/// Deletes a window.
pub async fn delete_window(st: &AppState, id: Uuid) -> Result<(), AppError> {
    if !st.store().delete_maintenance(id).await? {
        return Err(AppError::NotFound(format!(
            "no maintenance window with id {id}"
        )));
    }
    st.alerting().config_changed().await;
    Ok(())
}
