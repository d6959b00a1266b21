//! Monitors as code: makes the store match the monitors declared in the config file.
//!
//! The name is the key. Declared monitors are created or updated; monitors that came
//! from the file and are no longer in it are removed; monitors made through the API are
//! left alone, unless the file declares one of the same name, which the file then
//! takes over.

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
                report.created.push(config.name.clone());
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
                if changed {
                    report.updated.push(config.name.clone());
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
        }
    }
    Ok(report)
}
