//! The recorder: the single writer of check results and monitor state.
//!
//! Results from the built-in probe's scheduler, from "check now" and from the agents of
//! other regions arrive on one channel. For each, the recorder applies core's pure state
//! function to the region's streak and core's consensus across the monitor's regions;
//! a region's first failure asks the other regions for a confirmation check at once.
//! It writes results, region states and monitor states in batches (one transaction per
//! batch), so a burst of checks costs one commit, and only after the commit tells the
//! alerting driver of each changed monitor state, with every region's evidence. It owns
//! the in-memory view of each region's streak; the store holds the same, so a restart
//! resumes where it left off.
//!
//! On shutdown the channel is drained and the last batch written before the task ends:
//! a result that was produced is either stored or was never acknowledged.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, warn};
use vigilmon_core::state::{
    RegionStatus, RegionView, asks_for_confirmation, consensus, default_confirmations,
    is_available, regional_failure,
};
use vigilmon_core::{CheckResult, MonitorId, MonitorSpec, MonitorState, RegionName};
use vigilmon_store::{Commit, Fence, RecordedCheck, Store};

use vigilmon_notify::RegionEvidence;

use crate::alerting::AlertingHandle;
use crate::metrics;

/// Most results written in one transaction.
const MAX_BATCH: usize = 512;

/// How long the recorder waits for more results before writing a batch.
const LINGER: std::time::Duration = std::time::Duration::from_millis(50);

/// What the recorder remembers of one region for one monitor: its streak, when its
/// latest result was taken and what that result said (the evidence an incident
/// carries), as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RegionMemory {
    status: RegionStatus,
    /// `None` until the region has a result.
    checked_at: Option<Timestamp>,
    /// The latest result passed (up or degraded).
    ok: bool,
    /// The latest failure or degradation, in words.
    error: Option<String>,
}

impl RegionMemory {
    /// When the latest result was taken (the epoch when there is none).
    fn latest(&self) -> Timestamp {
        self.checked_at.unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

impl Default for RegionMemory {
    fn default() -> Self {
        Self {
            status: RegionStatus::default(),
            checked_at: None,
            ok: true,
            error: None,
        }
    }
}

impl From<&vigilmon_store::RegionStateRecord> for RegionMemory {
    fn from(r: &vigilmon_store::RegionStateRecord) -> Self {
        Self {
            status: r.status,
            checked_at: r.checked_at,
            // The region's latest result failed when it has an error kind.
            ok: r.error_kind.is_none(),
            error: r.error.clone(),
        }
    }
}

/// Each monitor's regions.
type Regions = HashMap<MonitorId, RegionMap>;

/// One monitor's regions, ordered by name (the order evidence is shown in): a boxed
/// slice of exactly its regions. A monitor has one to a handful, and a new region is
/// rare next to updates (made in place), so this keeps ≈ 90 bytes a region where a
/// `BTreeMap` kept a node of eleven slots (≈ 1 KiB) per monitor — at 50,000 monitors,
/// tens of MiB (docs/BENCHMARKS.md, "50,000 monitors on one node").
#[derive(Debug, Clone, Default)]
struct RegionMap(Box<[(RegionName, RegionMemory)]>);

impl RegionMap {
    fn get(&self, region: &RegionName) -> Option<&RegionMemory> {
        self.0
            .binary_search_by(|(r, _)| r.cmp(region))
            .ok()
            .map(|i| &self.0[i].1)
    }

    fn insert(&mut self, region: RegionName, memory: RegionMemory) {
        match self.0.binary_search_by(|(r, _)| r.cmp(&region)) {
            Ok(i) => self.0[i].1 = memory,
            Err(i) => {
                let mut v = std::mem::take(&mut self.0).into_vec();
                v.insert(i, (region, memory));
                self.0 = v.into_boxed_slice();
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&RegionName, &RegionMemory)> {
        self.0.iter().map(|(r, m)| (r, m))
    }

    fn values(&self) -> impl Iterator<Item = &RegionMemory> {
        self.0.iter().map(|(_, m)| m)
    }
}

impl FromIterator<(RegionName, RegionMemory)> for RegionMap {
    fn from_iter<I: IntoIterator<Item = (RegionName, RegionMemory)>>(iter: I) -> Self {
        let mut v: Vec<(RegionName, RegionMemory)> = iter.into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        // A region named twice keeps its last memory, as a map would.
        v.reverse();
        v.dedup_by(|a, b| a.0 == b.0);
        v.reverse();
        Self(v.into_boxed_slice())
    }
}

/// Asks the other regions of a monitor for a confirmation check now (called with the
/// monitor and the region that just saw a first failure).
pub type Confirm = Arc<dyn Fn(MonitorId, &MonitorSpec, &RegionName) + Send + Sync>;

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
        /// The ingest row this result came in (from another node): deleted with its
        /// write.
        ingested: Option<i64>,
        /// Stored in the monitor's history only: it moves no region's state and no
        /// consensus (an agent's result taken while it was cut off, or held back in
        /// its disk buffer).
        history_only: bool,
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
        self.submit_ingested(monitor_id, spec, result, None, false)
            .await;
    }

    /// Queues a result another node accepted (`ingested`: its ingest row), or this
    /// node (`None`); `history_only`: to be stored without moving any state.
    pub async fn submit_ingested(
        &self,
        monitor_id: MonitorId,
        spec: Arc<MonitorSpec>,
        result: CheckResult,
        ingested: Option<i64>,
        history_only: bool,
    ) {
        let msg = Msg::Result {
            monitor_id,
            spec,
            result,
            ack: None,
            ingested,
            history_only,
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
            ingested: None,
            history_only: false,
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
    confirm: Option<Confirm>,
    fence: Option<Fence>,
) -> Result<(RecorderHandle, tokio::task::JoinHandle<()>), vigilmon_store::StoreError> {
    let mut regions: Regions = HashMap::new();
    for (id, rec) in store.all_region_states().await? {
        regions
            .entry(id)
            .or_default()
            .insert(rec.region.clone(), RegionMemory::from(&rec));
    }
    let states = store.monitor_states().await?.into_iter().collect();
    let (tx, rx) = mpsc::channel(4096);
    let task = tokio::spawn(run(store, rx, regions, states, alerting, confirm, fence));
    Ok((RecorderHandle { tx }, task))
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Msg>,
    mut regions: Regions,
    states: HashMap<MonitorId, MonitorState>,
    alerting: Option<AlertingHandle>,
    confirm: Option<Confirm>,
    fence: Option<Fence>,
) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    let mut batch = Batch {
        states,
        alerting,
        confirm,
        fence,
        ..Batch::default()
    };
    while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
        // Results trickle in one by one from many checks: wait a moment for more, so
        // that a busy server writes a few transactions a second instead of one per
        // result. Whoever waits for an answer ("check now") waits this much longer.
        if buf.len() < MAX_BATCH {
            let _ = tokio::time::timeout(LINGER, async {
                while buf.len() < MAX_BATCH {
                    let room = MAX_BATCH - buf.len();
                    if rx.recv_many(&mut buf, room).await == 0 {
                        break;
                    }
                }
            })
            .await;
        }
        for msg in buf.drain(..) {
            match msg {
                Msg::Reload(id) => {
                    // Write what came before, then take the store's (reset) view.
                    batch.flush(&store, &mut regions).await;
                    batch.regional.remove(&id);
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
                            let m = rows
                                .iter()
                                .map(|r| (r.region.clone(), RegionMemory::from(r)))
                                .collect();
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
                    ingested,
                    history_only,
                } => {
                    batch.consumed.extend(ingested);
                    if history_only {
                        batch.history(&regions, monitor_id, result);
                    } else {
                        batch.add(&regions, monitor_id, &spec, result, ack);
                    }
                }
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
    staged: Regions,
    /// Each monitor's state as last written, to tell the alerting driver of changes.
    states: HashMap<MonitorId, MonitorState>,
    /// Monitors whose `degraded` state is a regional failure (fewer than `quorum`
    /// regions down), as last told to the alerting driver.
    regional: HashSet<MonitorId>,
    /// State changes of this batch (state, regional, cause, evidence), sent once it
    /// is committed.
    changes: Vec<(MonitorId, MonitorState, bool, String, Vec<RegionEvidence>)>,
    alerting: Option<AlertingHandle>,
    confirm: Option<Confirm>,
    /// The coordinator's lease this recorder writes under.
    fence: Option<Fence>,
    /// Ingest rows whose results are in this batch (or changed nothing).
    consumed: Vec<i64>,
}

impl Batch {
    fn add(
        &mut self,
        regions: &Regions,
        monitor_id: MonitorId,
        spec: &MonitorSpec,
        result: CheckResult,
        ack: Option<oneshot::Sender<Result<Recorded, String>>>,
    ) {
        let current = self
            .staged
            .entry(monitor_id)
            .or_insert_with(|| regions.get(&monitor_id).cloned().unwrap_or_default());
        let last = current.get(&result.region).cloned().unwrap_or_default();
        let before = last.status;
        let monitor_before = self.states.get(&monitor_id).copied();
        if result.checked_at <= last.latest() {
            // A result already seen (an agent sending a batch again) or older than the
            // region's latest: it changes nothing.
            if let Some(ack) = ack {
                let _ = ack.send(Ok(Recorded {
                    region_state: before.state,
                    monitor_state: monitor_before.unwrap_or(MonitorState::Pending),
                }));
            }
            return;
        }
        // Regions still available count; with one such region a failure needs
        // confirming by a second check, with more the others confirm.
        let available = current
            .iter()
            .filter(|(r, m)| {
                **r != result.region && is_available(m.latest(), result.checked_at, spec.interval)
            })
            .count()
            + 1;
        let confirmations = spec
            .confirmations
            .unwrap_or(default_confirmations(available));
        let after = before.observe(&result.verdict, confirmations);
        current.insert(
            result.region.clone(),
            RegionMemory {
                status: after,
                checked_at: Some(result.checked_at),
                ok: result.verdict.is_ok(),
                error: result.verdict.message().map(str::to_owned),
            },
        );
        let views: Vec<RegionView> = current
            .values()
            .map(|m| RegionView {
                state: m.status.state,
                checked_at: m.latest(),
            })
            .collect();
        let monitor_state = consensus(
            spec.paused,
            &views,
            result.checked_at,
            spec.interval,
            spec.quorum,
        );
        // A first failure in one region while the monitor is not down: ask the other
        // regions to check now instead of waiting for their next turn.
        if asks_for_confirmation(&result.verdict, before, monitor_state)
            && let Some(confirm) = &self.confirm
        {
            confirm(monitor_id, spec, &result.region);
        }
        metrics::record_check(
            monitor_id,
            &spec.name,
            spec.kind().as_str(),
            &result,
            after.state,
        );
        let regional = monitor_state == MonitorState::Degraded
            && regional_failure(&views, result.checked_at, spec.interval);
        let was_regional = if regional {
            !self.regional.insert(monitor_id)
        } else {
            self.regional.remove(&monitor_id)
        };
        let previous = self.states.insert(monitor_id, monitor_state);
        if previous != Some(monitor_state) || was_regional != regional {
            let cause = match (&result.verdict, monitor_state) {
                (v, MonitorState::Down | MonitorState::Degraded) => {
                    v.message().unwrap_or("failing").to_owned()
                }
                _ => "recovered".to_owned(),
            };
            // What every region saw, as it will be committed with this batch.
            let evidence = current
                .iter()
                .map(|(region, m)| RegionEvidence {
                    region: region.to_string(),
                    ok: m.ok,
                    error: m.error.clone(),
                    checked_at: m.checked_at,
                })
                .collect();
            self.changes
                .push((monitor_id, monitor_state, regional, cause, evidence));
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
            history_only: false,
        });
    }

    /// A result kept for the monitor's history only: stored with the region's status
    /// as it stands, moving neither the region's memory nor the monitor's state.
    fn history(&mut self, regions: &Regions, monitor_id: MonitorId, result: CheckResult) {
        metrics::result_history_only();
        let region_status = self
            .staged
            .get(&monitor_id)
            .or_else(|| regions.get(&monitor_id))
            .and_then(|m| m.get(&result.region))
            .map(|m| m.status)
            .unwrap_or_default();
        let monitor_state = self
            .states
            .get(&monitor_id)
            .copied()
            .unwrap_or(MonitorState::Pending);
        self.checks.push(RecordedCheck {
            monitor_id,
            result,
            region_status,
            monitor_state,
            history_only: true,
        });
    }

    async fn flush(&mut self, store: &Store, regions: &mut Regions) {
        if self.checks.is_empty() && self.consumed.is_empty() {
            return;
        }
        let count = self.checks.len();
        let commit = Commit {
            fence: self.fence,
            consumed: std::mem::take(&mut self.consumed),
        };
        match store.record_results_under(&self.checks, &commit).await {
            Ok(()) => {
                debug!(message = "results written", count);
                metrics::results_written(count);
                regions.extend(self.staged.drain());
                for (ack, rec) in self.acks.drain(..) {
                    let _ = ack.send(Ok(rec));
                }
                if let Some(alerting) = &self.alerting {
                    for (id, state, regional, cause, evidence) in self.changes.drain(..) {
                        alerting
                            .state_changed(id, state, regional, cause, evidence)
                            .await;
                    }
                }
            }
            Err(e) => {
                metrics::write_refused(&e);
                error!(message = "could not write check results", error = %e, count);
                metrics::result_write_failed(count);
                self.staged.clear();
                // Not written: forget the changes (the next result reports them again).
                for (id, _, _, _, _) in self.changes.drain(..) {
                    self.states.remove(&id);
                    self.regional.remove(&id);
                }
                for (ack, _) in self.acks.drain(..) {
                    let _ = ack.send(Err(format!("could not store the result: {e}")));
                }
            }
        }
        self.checks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(failures: u32) -> RegionMemory {
        RegionMemory {
            status: RegionStatus {
                state: MonitorState::Up,
                consecutive_failures: failures,
            },
            ..RegionMemory::default()
        }
    }

    fn name(s: &str) -> RegionName {
        RegionName::parse(s).unwrap()
    }

    #[test]
    fn a_region_map_keeps_its_regions_in_name_order_and_updates_in_place() {
        let mut m = RegionMap::default();
        assert!(m.get(&name("eu")).is_none());
        for (r, n) in [("us", 1), ("eu", 2), ("ap", 3), ("eu", 4)] {
            m.insert(name(r), memory(n));
        }
        let seen: Vec<(String, u32)> = m
            .iter()
            .map(|(r, m)| (r.to_string(), m.status.consecutive_failures))
            .collect();
        assert_eq!(seen, [("ap".into(), 3), ("eu".into(), 4), ("us".into(), 1)]);
        assert_eq!(m.0.len(), 3, "exactly its regions");
        assert_eq!(
            m.get(&name("us")).map(|m| m.status.consecutive_failures),
            Some(1)
        );
        assert_eq!(m.values().count(), 3);
        // Collected: ordered, and a region named twice keeps its last memory.
        let c: RegionMap = [("us", 1), ("eu", 2), ("us", 5)]
            .into_iter()
            .map(|(r, n)| (name(r), memory(n)))
            .collect();
        let seen: Vec<(String, u32)> = c
            .iter()
            .map(|(r, m)| (r.to_string(), m.status.consecutive_failures))
            .collect();
        assert_eq!(seen, [("eu".into(), 2), ("us".into(), 5)]);
    }
}
