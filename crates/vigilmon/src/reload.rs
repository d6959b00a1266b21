//! Reloading the config file while `serve` runs.
//!
//! On SIGHUP, and when the file changes — it is read every [`POLL`], and a change is
//! applied once two reads in a row agree, so a file being saved is never taken half
//! written — the file is read, expanded and validated exactly as at start. A valid
//! file's monitors, channels, policies, maintenance windows and status pages are
//! applied to the store as at start, and this node's engine and the other nodes take
//! them up; the other sections (`server`, `probe`, `regions`, ...) take effect at the
//! next start, and a reload that finds one of them changed says so in the log.
//!
//! An invalid file changes nothing: the last good configuration keeps running, the
//! log gets an error line naming every problem, `vigilmon_config_valid` drops to 0
//! (`vigilmon_config_reloads_total{result="invalid"}` counts it), and every page of the
//! UI shows a banner until a good file is applied.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use vigilmon_app::front::ConfigStatus;
use vigilmon_engine::Engine;
use vigilmon_store::Store;

use crate::config::{self, ConfigError, FileConfig};

/// How often the file is read for changes.
pub const POLL: Duration = Duration::from_secs(1);

/// Problems shown in the UI banner at most; the log has them all.
const SHOWN_PROBLEMS: usize = 3;

/// What one read of the file gave: its text, or why it could not be read.
type Read = Result<String, String>;

/// Watches one config file and applies it to a running server.
pub struct Reloader {
    path: PathBuf,
    store: Store,
    status: ConfigStatus,
    /// The sections read at start only, as the running server read them.
    restart_only: BTreeMap<String, yaml_serde::Value>,
    /// The read last acted on (applied or refused), to tell a change.
    seen: Option<Read>,
}

impl Reloader {
    /// A reloader of `path`, which `serve` read as `started` at start.
    pub fn new(path: PathBuf, store: Store, status: ConfigStatus, started: &FileConfig) -> Self {
        Self {
            path,
            store,
            status,
            restart_only: started.restart_only.clone(),
            seen: None,
        }
    }

    /// Runs until `shutdown`: applies the file on each `hangup` (SIGHUP) and after
    /// each change.
    pub async fn run(
        mut self,
        engine: Engine,
        hangup: std::sync::Arc<tokio::sync::Notify>,
        shutdown: CancellationToken,
    ) {
        // The text as started is the baseline: only a change from it is applied.
        self.seen = Some(self.read().await);
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending: Option<Read> = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = hangup.notified() => {
                    info!(message = "SIGHUP: reading the config file again", path = %self.path.display());
                    let read = self.read().await;
                    self.apply(&engine, read).await;
                    pending = None;
                }
                _ = tick.tick() => {
                    let read = self.read().await;
                    if self.seen.as_ref() == Some(&read) {
                        pending = None;
                    } else if pending.as_ref() == Some(&read) {
                        info!(message = "the config file changed; applying it", path = %self.path.display());
                        self.apply(&engine, read).await;
                        pending = None;
                    } else {
                        pending = Some(read);
                    }
                }
            }
        }
    }

    async fn read(&self) -> Read {
        tokio::fs::read_to_string(&self.path)
            .await
            .map_err(|e| format!("cannot read the file: {e}"))
    }

    /// Validates and applies one read of the file; records the outcome.
    async fn apply(&mut self, engine: &Engine, read: Read) {
        let file = self.path.display().to_string();
        let parsed = match &read {
            Ok(text) => config::parse(&file, text, |name| std::env::var(name).ok()),
            Err(message) => Err(vec![ConfigError {
                file: file.clone(),
                line: None,
                field: None,
                message: message.clone(),
            }]),
        };
        self.seen = Some(read);
        let config = match parsed {
            Ok(config) => config,
            Err(errors) => {
                let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                error!(
                    message = "the config file was not applied: the last good configuration still runs",
                    errors = %all.join("; ")
                );
                let mut shown = all
                    .iter()
                    .take(SHOWN_PROBLEMS)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ");
                if all.len() > SHOWN_PROBLEMS {
                    shown.push_str(&format!(
                        "; and {} more (see the log)",
                        all.len() - SHOWN_PROBLEMS
                    ));
                }
                self.status.set_problem(shown);
                vigilmon_engine::metrics::config_reloaded("invalid");
                return;
            }
        };
        for w in &config.warnings {
            warn!(message = "config file", warning = %w);
        }
        if let Err(e) = self.write(engine, &config).await {
            error!(message = "the config file could not be applied", error = %e);
            self.status
                .set_problem(format!("it could not be written to the database: {e}"));
            vigilmon_engine::metrics::config_reloaded("failed");
            return;
        }
        let changed: Vec<&str> = self
            .restart_only
            .keys()
            .chain(config.restart_only.keys())
            .filter(|k| self.restart_only.get(*k) != config.restart_only.get(*k))
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !changed.is_empty() {
            warn!(
                message = "these sections of the config file changed and take effect at the next start",
                sections = %changed.join(", ")
            );
        }
        self.status.clear();
        vigilmon_engine::metrics::config_reloaded("applied");
    }

    /// The file's objects into the store, as at start, then into the engine.
    async fn write(&self, engine: &Engine, config: &FileConfig) -> anyhow::Result<()> {
        use vigilmon_engine::sync;
        let now = engine.now();
        let alerting = sync::sync_file_alerting(
            &self.store,
            &sync::FileAlerting {
                channels: config.channels.clone(),
                policies: config.policies.clone(),
                maintenance: config.maintenance.clone(),
            },
            now,
        )
        .await?;
        let pages = sync::sync_file_status_pages(&self.store, &config.status_pages, now).await?;
        let monitors = sync::sync_file_monitors(&self.store, &config.monitors, now).await?;
        engine.file_applied(&monitors.monitor_ids).await;
        info!(
            message = "config file applied",
            monitors_created = monitors.created.len(),
            monitors_updated = monitors.updated.len(),
            monitors_removed = monitors.removed.len(),
            monitors_unchanged = monitors.unchanged,
            removed = ?[alerting.removed, pages.removed].concat(),
        );
        Ok(())
    }
}
