//! Monitors: the steps that create, replace, pause, resume and delete them and tell
//! the engine (scheduler, recorder, heartbeat engine, alerting driver) — the one
//! [`after_monitor_change`] — and the views the API and the UI show of them.

use crate::AppState;
use crate::error::AppError;
use crate::views::{CheckNowView, HeartbeatView, MonitorView, ResultView};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;
use vigilmon_core::monitor::CheckSpec;
use vigilmon_core::{MonitorConfig, MonitorId, MonitorSpec};
use vigilmon_engine::heartbeats::generate_ping_token;
use vigilmon_store::{HeartbeatRow, MonitorRecord, MonitorSource};

/// The API's view of one monitor (state per region, heartbeat facts, maintenance).
/// The monitor and its regions are read again from one snapshot, so the monitor's
/// state always agrees with its regions' (a monitor deleted meanwhile shows as given).
pub async fn view(st: &AppState, rec: MonitorRecord) -> Result<MonitorView, AppError> {
    let (rec, regions) = st
        .store()
        .monitor_with_regions(rec.id)
        .await?
        .unwrap_or((rec, Vec::new()));
    let hb = match st.store().heartbeat(rec.id).await? {
        Some(row) if rec.config.kind.as_heartbeat().is_some() => heartbeat_view(st, &rec, row),
        _ => None,
    };
    let windows = active_maintenance(st).await?;
    Ok(overlay(MonitorView::new(rec, regions, hb), &windows))
}

/// Maintenance windows active now.
async fn active_maintenance(
    st: &AppState,
) -> Result<Vec<vigilmon_core::maintenance::MaintenanceSpec>, AppError> {
    let now = st.now();
    Ok(st
        .store()
        .list_maintenance()
        .await?
        .into_iter()
        .filter(|w| w.ended_at.is_none())
        .filter_map(|w| {
            serde_json::from_value::<vigilmon_core::maintenance::MaintenanceConfig>(w.config)
                .ok()?
                .build()
                .ok()
        })
        .filter(|w| w.active_at(now).is_some())
        .collect())
}

/// A monitor inside an active maintenance window shows `maintenance` (its checks go
/// on; `check_state` keeps what they say).
fn overlay(
    mut v: MonitorView,
    windows: &[vigilmon_core::maintenance::MaintenanceSpec],
) -> MonitorView {
    if v.state != vigilmon_core::MonitorState::Paused
        && windows
            .iter()
            .any(|w| w.applies_to(&v.config.name, &v.config.tags))
    {
        v.check_state = Some(v.state);
        v.state = vigilmon_core::MonitorState::Maintenance;
    }
    v
}

/// The ping URLs and ping facts of a heartbeat monitor.
fn heartbeat_view(
    st: &AppState,
    rec: &MonitorRecord,
    row: HeartbeatRow,
) -> Option<(String, HeartbeatView)> {
    let spec = rec.config.build().ok()?;
    let CheckSpec::Heartbeat(hb) = &spec.check else {
        return None;
    };
    let deadline = if spec.paused {
        None
    } else {
        row.state.deadline(hb)
    };
    Some((
        st.ping_url(&row.token),
        HeartbeatView {
            slug_ping_url: Some(st.slug_ping_url(&hb.slug)),
            pings_total: row.pings_total,
            last_ping_at: row.state.last_ping_at,
            last_success_at: row.state.last_success_at,
            deadline,
            reason: row.state.reason.clone(),
        },
    ))
}

/// Makes sure a heartbeat monitor has its ping token before the nodes take it up.
async fn ensure_token(st: &AppState, id: MonitorId, spec: &MonitorSpec) -> Result<(), AppError> {
    if let CheckSpec::Heartbeat(hb) = &spec.check {
        match &hb.token {
            Some(token) => {
                st.store().set_heartbeat_token(id, token, st.now()).await?;
            }
            None => {
                st.store()
                    .ensure_heartbeat(id, &generate_ping_token(), st.now())
                    .await?;
            }
        }
    }
    Ok(())
}

fn build(config: &MonitorConfig) -> Result<MonitorSpec, AppError> {
    config.build().map_err(AppError::Invalid)
}

/// What happened to a monitor in the store, for [`after_monitor_change`].
pub enum MonitorChange {
    Created(Arc<MonitorSpec>),
    Updated(Arc<MonitorSpec>),
    /// Paused or resumed; `changed` is false when it already was.
    PauseSet {
        spec: Arc<MonitorSpec>,
        changed: bool,
    },
    Deleted,
}

/// The steps after a monitor changed in the store, shared by the API and the web UI:
/// every node takes it up (schedule, ping door) and the coordinator's recorder,
/// heartbeat engine and alerting driver reload it.
pub async fn after_monitor_change(
    st: &AppState,
    id: MonitorId,
    change: MonitorChange,
) -> Result<(), AppError> {
    match &change {
        MonitorChange::Created(spec)
        | MonitorChange::Updated(spec)
        | MonitorChange::PauseSet { spec, .. } => ensure_token(st, id, spec).await?,
        MonitorChange::Deleted => {}
    }
    st.engine().monitor_changed(id).await;
    Ok(())
}

/// Validates and stores a new monitor, then sets it running.
pub async fn create_monitor(
    st: &AppState,
    mut config: MonitorConfig,
) -> Result<MonitorRecord, AppError> {
    let spec = build(&config)?;
    check_policy(st, &config).await?;
    check_token_free(st, None, &spec).await?;
    config.name = spec.name.clone();
    let id = MonitorId::from_uuid(Uuid::now_v7());
    let rec = st
        .store()
        .create_monitor(id, &config, MonitorSource::Api, st.now())
        .await?;
    after_monitor_change(st, id, MonitorChange::Created(Arc::new(spec))).await?;
    Ok(rec)
}

/// Validates and stores a monitor's whole new config (monitors from the config file
/// are refused), then applies it.
pub async fn replace_monitor(
    st: &AppState,
    rec: &MonitorRecord,
    mut config: MonitorConfig,
) -> Result<MonitorRecord, AppError> {
    refuse_file_managed(rec)?;
    let spec = build(&config)?;
    check_policy(st, &config).await?;
    check_token_free(st, Some(rec.id), &spec).await?;
    config.name = spec.name.clone();
    let updated = st.store().update_monitor(rec.id, &config, st.now()).await?;
    after_monitor_change(st, rec.id, MonitorChange::Updated(Arc::new(spec))).await?;
    Ok(updated)
}

/// Deletes a monitor (not one from the config file) and stops everything about it.
pub async fn delete_monitor(st: &AppState, rec: &MonitorRecord) -> Result<(), AppError> {
    refuse_file_managed(rec)?;
    if !st.store().delete_monitor(rec.id).await? {
        return Err(AppError::NotFound(format!("no monitor with id {}", rec.id)));
    }
    after_monitor_change(st, rec.id, MonitorChange::Deleted).await
}

/// Refuses a monitor that names a policy that does not exist.
pub async fn check_policy(st: &AppState, config: &MonitorConfig) -> Result<(), AppError> {
    if let Some(p) = &config.policy
        && !st
            .store()
            .list_policies()
            .await?
            .iter()
            .any(|x| &x.name == p)
    {
        return Err(AppError::Invalid(vec![
            vigilmon_core::ValidationError::new("policy", format!("no policy named {p:?}")),
        ]));
    }
    Ok(())
}

/// Refuses a heartbeat whose given ping token another monitor has, before anything is
/// stored.
pub async fn check_token_free(
    st: &AppState,
    this: Option<MonitorId>,
    spec: &MonitorSpec,
) -> Result<(), AppError> {
    let CheckSpec::Heartbeat(hb) = &spec.check else {
        return Ok(());
    };
    let Some(token) = &hb.token else {
        return Ok(());
    };
    let taken = st
        .store()
        .heartbeats()
        .await?
        .iter()
        .any(|r| &r.token == token && Some(r.monitor_id) != this);
    if taken {
        return Err(AppError::Conflict {
            code: "conflict",
            message: "another heartbeat monitor has this ping token".to_owned(),
            field: Some("token".to_owned()),
        });
    }
    Ok(())
}

pub fn refuse_file_managed(rec: &MonitorRecord) -> Result<(), AppError> {
    if rec.source == MonitorSource::File {
        return Err(AppError::Conflict {
            code: "managed_by_config",
            message: format!(
                "monitor {:?} is declared in the config file; change it there (pause and resume work here)",
                rec.config.name
            ),
            field: None,
        });
    }
    Ok(())
}

/// Every monitor as the API shows it.
pub async fn list_views(st: &AppState) -> Result<Vec<MonitorView>, AppError> {
    // Monitors and regions from one snapshot, so each monitor's state agrees with its
    // regions'.
    let (monitors, all_regions) = st.store().monitors_with_regions().await?;
    let heartbeats = st.store().heartbeats().await?;
    let windows = active_maintenance(st).await?;
    Ok(assemble(st, monitors, all_regions, heartbeats, &windows))
}

/// The maintenance windows active now, read once for a request that both lists
/// monitors through the store ([`ActiveMaintenance::cover`]) and shows their views
/// ([`views_of`]), so both see the same windows.
pub struct ActiveMaintenance(Vec<vigilmon_core::maintenance::MaintenanceSpec>);

impl ActiveMaintenance {
    pub async fn now(st: &AppState) -> Result<Self, AppError> {
        Ok(Self(active_maintenance(st).await?))
    }

    /// What the windows cover (names and tags), so that lists the store filters and
    /// counts see a covered monitor as `maintenance`, as views do.
    pub fn cover(&self) -> vigilmon_store::Covered {
        let mut covered = vigilmon_store::Covered::default();
        for w in &self.0 {
            covered.names.extend(w.monitors.iter().cloned());
            covered.tags.extend(w.tags.iter().cloned());
        }
        covered.names.sort();
        covered.names.dedup();
        covered.tags.sort();
        covered.tags.dedup();
        covered
    }
}

/// The views of the monitors `ids`, in that order (one page of a list the store
/// filtered), under the `active` maintenance windows; ids that no longer exist are
/// left out.
pub async fn views_of(
    st: &AppState,
    ids: &[MonitorId],
    active: &ActiveMaintenance,
) -> Result<Vec<MonitorView>, AppError> {
    let (monitors, regions) = st.store().monitors_with_regions_of(ids).await?;
    let heartbeats = st.store().heartbeats_of(ids).await?;
    Ok(assemble(st, monitors, regions, heartbeats, &active.0))
}

/// Views from monitors, their region states and heartbeat rows, with the active
/// maintenance windows laid over them; in the order of `monitors`.
fn assemble(
    st: &AppState,
    monitors: Vec<MonitorRecord>,
    all_regions: Vec<(MonitorId, vigilmon_store::RegionStateRecord)>,
    heartbeats: Vec<HeartbeatRow>,
    windows: &[vigilmon_core::maintenance::MaintenanceSpec],
) -> Vec<MonitorView> {
    let mut regions: HashMap<MonitorId, Vec<_>> = HashMap::new();
    for (id, r) in all_regions {
        regions.entry(id).or_default().push(r);
    }
    let mut heartbeats: HashMap<MonitorId, HeartbeatRow> =
        heartbeats.into_iter().map(|h| (h.monitor_id, h)).collect();
    monitors
        .into_iter()
        .map(|rec| {
            let rs = regions.remove(&rec.id).unwrap_or_default();
            let hb = match heartbeats.remove(&rec.id) {
                Some(row) if rec.config.kind.as_heartbeat().is_some() => {
                    heartbeat_view(st, &rec, row)
                }
                _ => None,
            };
            overlay(MonitorView::new(rec, rs, hb), windows)
        })
        .collect()
}

/// Applies a JSON merge patch (RFC 7396) to what the caller can see of a monitor (its
/// secrets masked), then puts back the stored secrets the patch left masked: a patch
/// that does not name a secret keeps it, but only while the URL's origin stays.
pub fn patched_config(old: &MonitorConfig, patch: &Value) -> Result<MonitorConfig, AppError> {
    let mut doc = serde_json::to_value(vigilmon_core::secret::masked(old))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    merge_patch(&mut doc, patch);
    let mut config: MonitorConfig =
        serde_path_to_error::deserialize(vigilmon_core::tagged::type_first(doc)).map_err(|e| {
            let field = e.path().to_string();
            AppError::bad_request(format!("{field}: {}", e.inner()), Some(field))
        })?;
    if let Err(kept) = keep_secrets(&mut config, old) {
        let built = config.build().map(|_| ());
        let all = vigilmon_core::validation::merge_problems(built, Err(kept));
        return Err(AppError::Invalid(all.err().unwrap_or_default()));
    }
    Ok(config)
}

/// Secrets sent back as the mask keep their stored values (same type, same origin).
pub fn keep_secrets(
    config: &mut MonitorConfig,
    old: &MonitorConfig,
) -> Result<(), Vec<vigilmon_core::ValidationError>> {
    if config.kind_name() != old.kind_name() {
        return Ok(());
    }
    vigilmon_core::secret::restore(config, old)
}

/// RFC 7396: objects merge key by key, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(serde_json::Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Pauses or resumes a monitor (also one from the config file).
pub async fn set_paused(
    st: &AppState,
    rec: MonitorRecord,
    paused: bool,
) -> Result<MonitorRecord, AppError> {
    let mut config = rec.config.clone();
    config.paused = paused;
    let spec = build(&config)?;
    let changed = rec.config.paused != paused;
    let updated = if changed {
        st.store().update_monitor(rec.id, &config, st.now()).await?
    } else {
        rec
    };
    let spec = Arc::new(spec);
    after_monitor_change(st, updated.id, MonitorChange::PauseSet { spec, changed }).await?;
    Ok(updated)
}

/// Runs one check of a stored monitor now from this server's region and records it.
pub async fn check_now_record(
    st: &AppState,
    rec: &MonitorRecord,
) -> Result<CheckNowView, AppError> {
    let spec = Arc::new(rec.config.build().map_err(|e| {
        AppError::Internal(format!(
            "stored monitor config is invalid: {}",
            e.first().map(ToString::to_string).unwrap_or_default()
        ))
    })?);
    if !spec.is_probed() {
        return Err(AppError::Conflict {
            code: "not_probed",
            message: "heartbeat monitors are pinged, not checked: see ping_url".into(),
            field: None,
        });
    }
    let result = st.prober().check(&spec.check, spec.timeout).await;
    let recorded = st
        .recorder()
        .submit_and_wait(rec.id, spec, result.clone())
        .await
        .map_err(AppError::Unavailable)?;
    Ok(CheckNowView {
        result: ResultView::new(result, recorded.region_state),
        state: recorded.monitor_state,
    })
}

/// Filters for the results list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// Only this region.
    pub region: Option<String>,
    /// Only results at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only results before this time (RFC 3339).
    pub until: Option<String>,
    /// At most this many (1-1000, default 100), newest first.
    pub limit: Option<String>,
}

/// Filters for the ping log.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PingsQuery {
    /// At most this many (1-1000, default 100), newest first.
    pub limit: Option<String>,
}
