//! Monitors as code: makes the store match the monitors declared in the config file.
//!
//! The name is the key. Declared monitors are created or updated; monitors that came
//! from the file and are no longer in it are removed; monitors made through the API are
//! left alone, unless the file declares one of the same name, which the file then
//! takes over.
//!
//! At start it runs before the engine (`vigilmon serve` applies the file, then starts
//! serving), so nothing is cached or scheduled yet that it would have to tell; a reload
//! of the file while serving hands the report to [`crate::Engine::file_applied`], which
//! tells this node's engine and the other nodes what changed.

use jiff::Timestamp;
use uuid::Uuid;
use vigilmon_core::{MonitorConfig, MonitorId};
use vigilmon_store::{MonitorSource, Store, StoreError};

/// What a sync changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
    /// The monitors created, changed or removed, for a running engine to take up.
    pub monitor_ids: Vec<MonitorId>,
}

/// Applies the file's monitors to the store. The configs must have been validated.
pub async fn sync_file_monitors(
    store: &Store,
    declared: &[MonitorConfig],
    now: Timestamp,
) -> Result<SyncReport, StoreError> {
    let mut report = SyncReport::default();
    let existing = store.list_monitors().await?;
    for config in declared {
        let mut config = config.clone();
        config.name = config.name.trim().to_owned();
        match existing.iter().find(|m| m.config.name == config.name) {
            None => {
                let id = MonitorId::from_uuid(Uuid::now_v7());
                store
                    .create_monitor(id, &config, MonitorSource::File, now)
                    .await?;
                give_token(store, id, &config, now).await?;
                report.created.push(config.name.clone());
                report.monitor_ids.push(id);
            }
            Some(rec) => {
                let mut changed = false;
                if rec.config != config {
                    store.update_monitor(rec.id, &config, now).await?;
                    changed = true;
                }
                if rec.source != MonitorSource::File {
                    store
                        .set_monitor_source(rec.id, MonitorSource::File)
                        .await?;
                    changed = true;
                }
                changed |= give_token(store, rec.id, &config, now).await?;
                if changed {
                    report.updated.push(config.name.clone());
                    report.monitor_ids.push(rec.id);
                } else {
                    report.unchanged += 1;
                }
            }
        }
    }
    for rec in existing {
        let still_declared = declared.iter().any(|c| c.name.trim() == rec.config.name);
        if rec.source == MonitorSource::File && !still_declared {
            store.delete_monitor(rec.id).await?;
            report.removed.push(rec.config.name);
            report.monitor_ids.push(rec.id);
        }
    }
    Ok(report)
}

/// Gives a heartbeat the ping token its config names, if it names one; returns whether
/// the token changed. A token another monitor (made through the API) has is left to
/// it, and logged: the file's monitor keeps the token it had.
async fn give_token(
    store: &Store,
    id: MonitorId,
    config: &MonitorConfig,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(token) = config.kind.as_heartbeat().and_then(|h| h.token.as_deref()) else {
        return Ok(false);
    };
    match store.set_heartbeat_token(id, token.trim(), now).await {
        Ok(changed) => Ok(changed),
        Err(StoreError::Conflict { message, .. }) => {
            tracing::warn!(
                message = "a heartbeat of the config file did not get its ping token",
                monitor = %config.name,
                reason = %message,
            );
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Alerting objects declared in the config file.
#[derive(Debug, Default, Clone)]
pub struct FileAlerting {
    pub channels: Vec<vigilmon_notify::ChannelConfig>,
    pub policies: Vec<vigilmon_core::alert::PolicyConfig>,
    pub maintenance: Vec<vigilmon_core::maintenance::MaintenanceConfig>,
}

/// Applies the file's channels, policies and maintenance windows (validated), with
/// the same rules as monitors: the name is the key; objects that came from the file
/// and left it are removed; objects made through the API are left alone unless the
/// file declares one of the same name.
pub async fn sync_file_alerting(
    store: &Store,
    declared: &FileAlerting,
    now: Timestamp,
) -> Result<SyncReport, StoreError> {
    let mut report = SyncReport::default();
    use erased::Json;
    for c in &declared.channels {
        let name = c.name.trim().to_owned();
        let mut c = c.clone();
        c.name.clone_from(&name);
        store
            .upsert_channel(&name, c.kind_name(), &c.json(), MonitorSource::File, now)
            .await?;
        report.updated.push(format!("channel {name}"));
    }
    for p in &declared.policies {
        let name = p.name.trim().to_owned();
        let mut p = p.clone();
        p.name.clone_from(&name);
        store
            .upsert_policy(&name, &p.json(), MonitorSource::File, now)
            .await?;
        report.updated.push(format!("policy {name}"));
    }
    for w in &declared.maintenance {
        let name = w.name.trim().to_owned();
        let mut w = w.clone();
        w.name.clone_from(&name);
        store
            .upsert_maintenance(Uuid::now_v7(), &name, &w.json(), MonitorSource::File, now)
            .await?;
        report.updated.push(format!("maintenance {name}"));
    }
    // Removals: policies before the channels they may use.
    for p in store.list_policies().await? {
        if p.source == MonitorSource::File
            && !declared.policies.iter().any(|d| d.name.trim() == p.name)
        {
            store.delete_policy(&p.name).await?;
            report.removed.push(format!("policy {}", p.name));
        }
    }
    for c in store.list_channels().await? {
        if c.source == MonitorSource::File
            && !declared.channels.iter().any(|d| d.name.trim() == c.name)
        {
            store.delete_channel(&c.name).await?;
            report.removed.push(format!("channel {}", c.name));
        }
    }
    for w in store.list_maintenance().await? {
        if w.source == MonitorSource::File
            && !declared.maintenance.iter().any(|d| d.name.trim() == w.name)
        {
            store.delete_maintenance(w.id).await?;
            report.removed.push(format!("maintenance {}", w.name));
        }
    }
    Ok(report)
}

/// Applies the file's status pages (validated), with the monitors' rules: the slug is
/// the key; pages that came from the file and left it are removed; pages made through
/// the API are left alone unless the file declares one with the same slug, which the
/// file then takes over. Public caches are invalidated.
pub async fn sync_file_status_pages(
    store: &Store,
    declared: &[vigilmon_core::status_page::StatusPageConfig],
    now: Timestamp,
) -> Result<SyncReport, StoreError> {
    let mut report = SyncReport::default();
    let existing = store.list_status_pages().await?;
    let declared: Vec<_> = declared.iter().map(|p| p.normalized()).collect();
    // Removals first, so a domain can move from a removed page to a new one.
    for rec in &existing {
        if rec.source == MonitorSource::File && !declared.iter().any(|d| d.slug == rec.slug) {
            store.delete_status_page(&rec.slug).await?;
            report.removed.push(format!("status page {}", rec.slug));
        }
    }
    for page in &declared {
        match existing.iter().find(|r| r.slug == page.slug) {
            Some(rec) if rec.source == MonitorSource::File && &rec.config == page => {
                report.unchanged += 1;
            }
            Some(_) => {
                store
                    .upsert_status_page(page, MonitorSource::File, now)
                    .await?;
                report.updated.push(format!("status page {}", page.slug));
            }
            None => {
                store
                    .upsert_status_page(page, MonitorSource::File, now)
                    .await?;
                report.created.push(format!("status page {}", page.slug));
            }
        }
    }
    Ok(report)
}

/// Serialises config structs to JSON for the store.
mod erased {
    pub trait Json {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_default()
        }
    }
}
