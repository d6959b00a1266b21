//! The recorder: the single writer of check results and monitor state.
//!
//! Checks from the scheduler and from "check now" arrive on a channel. The recorder
//! applies core's pure state function to each, then writes results, region states and
//! monitor states in batches (one transaction per batch), so a burst of checks costs
//! one commit. It owns the in-memory view of each region's streak; the store holds the
//! same, so a restart resumes where it left off.
//!
//! On shutdown the channel is drained and the last batch written before the task ends:
//! a result that was produced is either stored or was never acknowledged.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, warn};
use vigilmon_core::state::{RegionStatus, aggregate, default_quorum};
use vigilmon_core::{CheckResult, MonitorId, MonitorSpec, MonitorState, RegionName};
use vigilmon_store::{RecordedCheck, Store};

use crate::alerting::{AlertingHandle, Evidence};
use crate::metrics;

/// Most results written in one transaction.
const MAX_BATCH: usize = 512;

/// What the recorder decided for one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The region's state after this result.
    pub region_state: MonitorState,
    /// The monitor's state after this result.
    pub monitor_state: MonitorState,
}

// Results are the common message; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Result {
        monitor_id: MonitorId,
        spec: Arc<MonitorSpec>,
        result: CheckResult,
        ack: Option<oneshot::Sender<Result<Recorded, String>>>,
    },
    /// The monitor was changed, paused, resumed or deleted: take its streaks from the
    /// store again (which may have reset them).
    Reload(MonitorId),
}

/// Sends results to the recorder task. Cheap to clone.
#[derive(Clone)]
pub struct RecorderHandle {
    tx: mpsc::Sender<Msg>,
}

impl RecorderHandle {
    /// Queues a result; waits only if the queue is full (back-pressure on probes).
    pub async fn submit(&self, monitor_id: MonitorId, spec: Arc<MonitorSpec>, result: CheckResult) {
        let msg = Msg::Result {
            monitor_id,
            spec,
            result,
            ack: None,
        };
        if self.tx.send(msg).await.is_err() {
            warn!(message = "recorder is shut down; result dropped", %monitor_id);
        }
    }

    /// Queues a result and waits until it is stored, returning the states it led to.
    pub async fn submit_and_wait(
        &self,
        monitor_id: MonitorId,
        spec: Arc<MonitorSpec>,
        result: CheckResult,
    ) -> Result<Recorded, String> {
        let (ack, rx) = oneshot::channel();
        let msg = Msg::Result {
            monitor_id,
            spec,
            result,
            ack: Some(ack),
        };
        self.tx
            .send(msg)
            .await
            .map_err(|_| "the server is shutting down".to_owned())?;
        rx.await
            .map_err(|_| "the server is shutting down".to_owned())?
    }

    /// Re-reads a monitor's streaks from the store after it was changed, paused,
    /// resumed or deleted (the store may have reset them).
    pub async fn reload(&self, monitor_id: MonitorId) {
        let _ = self.tx.send(Msg::Reload(monitor_id)).await;
    }
}

/// Starts the recorder task. It ends when every handle is dropped and the queue is
/// drained; await the returned join handle to know the last batch is written.
pub async fn start(
    store: Store,
    alerting: Option<AlertingHandle>,
) -> Result<(RecorderHandle, tokio::task::JoinHandle<()>), vigilmon_store::StoreError> {
    let mut regions: HashMap<MonitorId, HashMap<RegionName, RegionStatus>> = HashMap::new();
    for (id, rec) in store.all_region_states().await? {
        regions
            .entry(id)
            .or_default()
            .insert(rec.region, rec.status);
    }
    let states = store
        .list_monitors()
        .await?
        .into_iter()
        .map(|m| (m.id, m.state))
        .collect();
    let (tx, rx) = mpsc::channel(4096);
    let task = tokio::spawn(run(store, rx, regions, states, alerting));
    Ok((RecorderHandle { tx }, task))
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Msg>,
    mut regions: HashMap<MonitorId, HashMap<RegionName, RegionStatus>>,
    states: HashMap<MonitorId, MonitorState>,
    alerting: Option<AlertingHandle>,
) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    let mut batch = Batch {
        states,
        alerting,
        ..Batch::default()
    };
    while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
        for msg in buf.drain(..) {
            match msg {
                Msg::Reload(id) => {
                    // Write what came before, then take the store's (reset) view.
                    batch.flush(&store, &mut regions).await;
                    match store.get_monitor(id).await {
                        Ok(Some(m)) => {
                            batch.states.insert(id, m.state);
                        }
                        _ => {
                            batch.states.remove(&id);
                        }
                    }
                    match store.region_states(id).await {
                        Ok(rows) => {
                            let m: HashMap<RegionName, RegionStatus> =
                                rows.into_iter().map(|r| (r.region, r.status)).collect();
                            regions.insert(id, m);
                        }
                        Err(e) => {
                            warn!(message = "could not reload region states", %id, error = %e);
                            regions.remove(&id);
                        }
                    }
                }
                Msg::Result {
                    monitor_id,
                    spec,
                    result,
                    ack,
                } => batch.add(&regions, monitor_id, &spec, result, ack),
            }
        }
        batch.flush(&store, &mut regions).await;
    }
}

/// Results decided but not yet written. Streak updates are staged and applied to the
/// recorder's memory only once the batch is committed.
#[derive(Default)]
struct Batch {
    checks: Vec<RecordedCheck>,
    acks: Vec<(oneshot::Sender<Result<Recorded, String>>, Recorded)>,
    staged: HashMap<MonitorId, HashMap<RegionName, RegionStatus>>,
    /// Each monitor's state as last written, to tell the alerting driver of changes.
    states: HashMap<MonitorId, MonitorState>,
    /// State changes of this batch, sent once it is committed.
    changes: Vec<(MonitorId, MonitorState, String, Evidence)>,
    alerting: Option<AlertingHandle>,
}

impl Batch {
    fn add(
        &mut self,
        regions: &HashMap<MonitorId, HashMap<RegionName, RegionStatus>>,
        monitor_id: MonitorId,
        spec: &MonitorSpec,
        result: CheckResult,
        ack: Option<oneshot::Sender<Result<Recorded, String>>>,
    ) {
        let current = self
            .staged
            .entry(monitor_id)
            .or_insert_with(|| regions.get(&monitor_id).cloned().unwrap_or_default());
        let before = current.get(&result.region).copied().unwrap_or_default();
        let region_count = current.len() + usize::from(!current.contains_key(&result.region));
        let after = before.observe(&result.verdict, spec.effective_confirmations(region_count));
        current.insert(result.region.clone(), after);
        let states: Vec<MonitorState> = current.values().map(|s| s.state).collect();
        let quorum = spec
            .quorum
            .map_or_else(|| default_quorum(states.len()), |q| q as usize);
        let monitor_state = aggregate(spec.paused, &states, quorum);
        metrics::record_check(monitor_id, &spec.name, &result, after.state);
        let previous = self.states.insert(monitor_id, monitor_state);
        if previous != Some(monitor_state) {
            let cause = match (&result.verdict, monitor_state) {
                (v, MonitorState::Down | MonitorState::Degraded) => {
                    v.message().unwrap_or("failing").to_owned()
                }
                _ => "recovered".to_owned(),
            };
            let evidence = Evidence {
                region: result.region.to_string(),
                ok: result.verdict.is_ok(),
                error: result.verdict.message().map(str::to_owned),
                checked_at: Some(result.checked_at),
            };
            self.changes
                .push((monitor_id, monitor_state, cause, evidence));
        }
        if let Some(ack) = ack {
            self.acks.push((
                ack,
                Recorded {
                    region_state: after.state,
                    monitor_state,
                },
            ));
        }
        self.checks.push(RecordedCheck {
            monitor_id,
            result,
            region_status: after,
            monitor_state,
        });
    }

    async fn flush(
        &mut self,
        store: &Store,
        regions: &mut HashMap<MonitorId, HashMap<RegionName, RegionStatus>>,
    ) {
        if self.checks.is_empty() {
            return;
        }
        let count = self.checks.len();
        match store.record_results(&self.checks).await {
            Ok(()) => {
                debug!(message = "results written", count);
                metrics::results_written(count);
                regions.extend(self.staged.drain());
                for (ack, rec) in self.acks.drain(..) {
                    let _ = ack.send(Ok(rec));
                }
                if let Some(alerting) = &self.alerting {
                    for (id, state, cause, evidence) in self.changes.drain(..) {
                        alerting
                            .state_changed(id, state, cause, vec![evidence])
                            .await;
                    }
                }
            }
            Err(e) => {
                error!(message = "could not write check results", error = %e, count);
                metrics::result_write_failed(count);
                self.staged.clear();
                // Not written: forget the changes (the next result reports them again).
                for (id, _, _, _) in self.changes.drain(..) {
                    self.states.remove(&id);
                }
                for (ack, _) in self.acks.drain(..) {
                    let _ = ack.send(Err(format!("could not store the result: {e}")));
                }
            }
        }
        self.checks.clear();
    }
}
