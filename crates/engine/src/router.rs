//! Where work goes on this node (ARCHITECTURE.md, "Several nodes on one PostgreSQL").
//!
//! Every node takes pings, check results (its own share of the built-in probe, and
//! the agents connected to it), incident actions and configuration changes; only the
//! coordinator runs the engine that applies them. The [`Router`] sends each to the
//! coordinator's tasks when this node is the coordinator, and otherwise writes it to the
//! `ingest` table (acknowledged once committed), from which the coordinator's
//! [`consume`] loop applies it. Configuration changes reach every node through
//! `NOTIFY`: each updates its share of the schedule, its ping door and, where it
//! coordinates, the engine.
//!
//! The probe's monitors are split among live nodes by rendezvous hashing
//! ([`crate::agents::owner`]); a confirmation request for a monitor this node does not
//! own goes to its owner as a notification.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;
use vigilmon_core::{CheckResult, MonitorId, MonitorSpec, MonitorState, RegionName};
use vigilmon_schedule::scheduler::SchedulerHandle;
use vigilmon_store::{
    AGENT_CHECK_CHANNEL, CHANGED_CHANNEL, CONFIRM_CHANNEL, Commit, FEED_CHANNEL, Fence,
    INGEST_CHANNEL, IngestRow, Listener, NewIngest, Store, StoreError,
};

use crate::alerting::{ActError, AlertingHandle};
use crate::changes::ChangeFeed;
use crate::heartbeats::{Door, HeartbeatHandle, Ingested, Ping, PingReply};
use crate::recorder::{Recorded, RecorderHandle};

const KIND_PING: &str = "ping";
const KIND_RESULT: &str = "result";
const KIND_ACK: &str = "ack";
const KIND_RESOLVE: &str = "resolve";

/// Rows read per round by the coordinator.
const CONSUME_BATCH: usize = 1000;
/// A row handed to the engine but still there after this long is handed over again
/// (its write failed and rolled back).
const REDISPATCH_AFTER: Duration = Duration::from_secs(30);
/// How often the coordinator looks at the table without being told to.
const CONSUME_POLL: Duration = Duration::from_secs(1);
/// Most rows written by one ingest transaction.
const WRITE_BATCH: usize = 512;

/// The coordinator's tasks, as this node reaches them while it coordinates.
#[derive(Clone)]
pub(crate) struct Local {
    pub recorder: RecorderHandle,
    pub heartbeats: HeartbeatHandle,
    pub alerting: AlertingHandle,
}

#[derive(Serialize, Deserialize)]
struct ResultRow {
    monitor_id: MonitorId,
    result: CheckResult,
    /// For the history only (see `Recorder::submit_history`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    history_only: bool,
}

#[derive(Serialize, Deserialize)]
struct ActRow {
    incident: Uuid,
    by: String,
}

type WriteJob = (NewIngest, Option<oneshot::Sender<Result<i64, String>>>);

/// This node's router. Shared (`Arc`) by the engine handle, the scheduler's executor,
/// the listener and the coordinator's tasks.
pub(crate) struct Router {
    pub store: Store,
    pub node: Uuid,
    pub door: Door,
    pub scheduler: SchedulerHandle,
    pub changes: ChangeFeed,
    local: RwLock<Option<Local>>,
    writer: mpsc::Sender<WriteJob>,
    /// Every monitor's spec, as this node last read it.
    specs: RwLock<HashMap<MonitorId, Arc<MonitorSpec>>>,
    /// The live nodes the probe's monitors are split among (sorted), and the
    /// monitors this node runs.
    share: RwLock<(Vec<Uuid>, HashSet<MonitorId>)>,
    /// Wakes the coordinator's ingest loop.
    pub ingest_wake: Notify,
}

impl Router {
    /// A router with the specs `initial`; returns the ingest writer's task too.
    pub fn new(
        store: Store,
        node: Uuid,
        door: Door,
        scheduler: SchedulerHandle,
        changes: ChangeFeed,
        initial: &[(MonitorId, Arc<MonitorSpec>)],
        stop_writer: CancellationToken,
    ) -> (Arc<Router>, tokio::task::JoinHandle<()>) {
        let (writer, rx) = mpsc::channel(65_536);
        let task = tokio::spawn(write_loop(store.clone(), node, rx, stop_writer));
        let router = Arc::new(Router {
            store,
            node,
            door,
            scheduler,
            changes,
            local: RwLock::new(None),
            writer,
            specs: RwLock::new(initial.iter().cloned().collect()),
            share: RwLock::new((vec![node], initial.iter().map(|(id, _)| *id).collect())),
            ingest_wake: Notify::new(),
        });
        (router, task)
    }

    /// The coordinator's tasks, when this node runs them.
    pub fn local(&self) -> Option<Local> {
        self.local
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_local(&self, local: Option<Local>) -> Option<Local> {
        std::mem::replace(
            &mut *self
                .local
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            local,
        )
    }

    pub fn spec(&self, id: MonitorId) -> Option<Arc<MonitorSpec>> {
        self.specs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// A monitor's spec, read from the store when this node has not heard of it yet
    /// (made on another node moments ago).
    pub(crate) async fn spec_or_read(&self, id: MonitorId) -> Option<Arc<MonitorSpec>> {
        if let Some(spec) = self.spec(id) {
            return Some(spec);
        }
        self.apply_change(id).await;
        self.spec(id)
    }

    /// Whether this node's probe runs `id`.
    pub fn owns(&self, id: MonitorId) -> bool {
        let share = self
            .share
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::agents::owner(&share.0, id).is_none_or(|o| o == self.node)
    }

    /// The live nodes changed: take up the monitors this node now owns and let go of
    /// the others.
    pub fn reshare(&self, mut live: Vec<Uuid>) {
        live.sort();
        if !live.contains(&self.node) {
            // This node counts itself until the database says otherwise.
            live.push(self.node);
            live.sort();
        }
        let specs: Vec<(MonitorId, Arc<MonitorSpec>)> = self
            .specs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(id, s)| (*id, s.clone()))
            .collect();
        let mut share = self
            .share
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if share.0 == live {
            return;
        }
        info!(
            message = "the probe's monitors are split anew",
            nodes = live.len()
        );
        share.0 = live;
        let mut owned = HashSet::new();
        for (id, spec) in specs {
            let mine = crate::agents::owner(&share.0, id).is_none_or(|o| o == self.node);
            if mine {
                owned.insert(id);
                if !share.1.contains(&id) {
                    self.scheduler.upsert(id, spec);
                }
            } else if share.1.contains(&id) {
                self.scheduler.remove(id);
            }
        }
        share.1 = owned;
    }

    /// A check result, from this node's probe or an agent connected to it.
    pub async fn result(&self, id: MonitorId, spec: Arc<MonitorSpec>, result: CheckResult) {
        self.result_as(id, spec, result, false).await;
    }

    /// A result passed on; `history_only`: stored without moving any state.
    pub async fn result_as(
        &self,
        id: MonitorId,
        spec: Arc<MonitorSpec>,
        result: CheckResult,
        history_only: bool,
    ) {
        if let Some(l) = self.local() {
            l.recorder
                .submit_ingested(id, spec, result, None, history_only)
                .await;
            return;
        }
        match encode(&ResultRow {
            monitor_id: id,
            result,
            history_only,
        }) {
            Ok(payload) => {
                let row = NewIngest {
                    kind: KIND_RESULT.into(),
                    payload,
                };
                if self.writer.send((row, None)).await.is_err() {
                    warn!(message = "this node is stopping; a result was not passed on", monitor_id = %id);
                }
            }
            Err(e) => warn!(message = "a result could not be encoded", error = %e),
        }
    }

    /// A result someone waits for ("check now"): the states it led to once the
    /// coordinator has applied it.
    pub async fn result_and_wait(
        &self,
        id: MonitorId,
        spec: Arc<MonitorSpec>,
        result: CheckResult,
    ) -> Result<Recorded, String> {
        if let Some(l) = self.local() {
            return l.recorder.submit_and_wait(id, spec, result).await;
        }
        let region = result.region.clone();
        let payload = encode(&ResultRow {
            monitor_id: id,
            result,
            history_only: false,
        })?;
        let row = self.write(KIND_RESULT, payload).await?;
        // Wait (a few seconds at most) for the coordinator to apply it, then read
        // what it decided.
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            match self.store.ingest_waiting(row).await {
                Ok(false) => break,
                Ok(true) if Instant::now() < until => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(true) => {
                    return Err("the coordinator has not applied the result yet; it will".into());
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        read_recorded(&self.store, id, &region)
            .await
            .map_err(|e| e.to_string())
    }

    /// A ping: stored when this answers `Ok`.
    pub async fn ping(&self, ping: Ping) -> PingReply {
        if let Some(l) = self.local() {
            return l.heartbeats.ping(ping).await;
        }
        let payload = match encode(&ping) {
            Ok(p) => p,
            Err(e) => return PingReply::Unavailable(e),
        };
        match self.write(KIND_PING, payload).await {
            Ok(_) => PingReply::Ok,
            Err(e) => PingReply::Unavailable(e),
        }
    }

    /// Acknowledges or resolves an incident: at once where this node coordinates,
    /// otherwise checked against the store and passed on.
    ///
    /// A resolve is refused while the incident's monitor is still down: closing the
    /// record of an outage that goes on would hide it (docs/alerting.md, "Resolving by
    /// hand").
    pub async fn act(&self, incident: Uuid, by: String, resolve: bool) -> Result<(), ActError> {
        if resolve {
            self.refuse_resolve_while_down(incident).await?;
        }
        if let Some(l) = self.local() {
            return if resolve {
                l.alerting.resolve(incident, by).await
            } else {
                l.alerting.acknowledge(incident, by).await
            };
        }
        match self.store.get_incident(incident).await {
            Ok(None) => return Err(ActError::NotFound),
            Ok(Some(i)) if i.resolved_at.is_some() => return Err(ActError::AlreadyResolved),
            Ok(Some(_)) => {}
            Err(e) => return Err(ActError::Unavailable(e.to_string())),
        }
        let kind = if resolve { KIND_RESOLVE } else { KIND_ACK };
        let payload = encode(&ActRow { incident, by }).map_err(ActError::Unavailable)?;
        self.write(kind, payload)
            .await
            .map(|_| ())
            .map_err(ActError::Unavailable)
    }

    /// [`ActError::StillFailing`] when `incident` is open and its monitor is down, with
    /// the regions that see it fail.
    async fn refuse_resolve_while_down(&self, incident: Uuid) -> Result<(), ActError> {
        let unavailable = |e: vigilmon_store::StoreError| ActError::Unavailable(e.to_string());
        let Some(i) = self
            .store
            .get_incident(incident)
            .await
            .map_err(unavailable)?
        else {
            return Ok(());
        };
        if i.resolved_at.is_some() {
            return Ok(());
        }
        let Some(m) = self
            .store
            .get_monitor(i.monitor_id)
            .await
            .map_err(unavailable)?
        else {
            return Ok(());
        };
        if m.state != MonitorState::Down || m.config.paused {
            return Ok(());
        }
        let regions = self
            .store
            .region_states(m.id)
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|r| r.status.state == MonitorState::Down)
            .map(|r| r.region.to_string())
            .collect();
        Err(ActError::StillFailing {
            regions,
            degraded: false,
        })
    }

    async fn write(&self, kind: &str, payload: String) -> Result<i64, String> {
        let (tx, rx) = oneshot::channel();
        let row = NewIngest {
            kind: kind.into(),
            payload,
        };
        self.writer
            .send((row, Some(tx)))
            .await
            .map_err(|_| "the server is shutting down".to_owned())?;
        rx.await
            .map_err(|_| "the server is shutting down".to_owned())?
    }

    /// A monitor was created, changed, paused, resumed or deleted here: apply it on
    /// this node, then tell the others.
    pub async fn monitor_changed(&self, id: MonitorId) {
        self.apply_change(id).await;
        self.announce(&id.to_string()).await;
    }

    /// Channels, policies or maintenance windows changed here.
    pub async fn config_changed(&self) {
        if let Some(l) = self.local() {
            l.alerting.config_changed().await;
        }
        self.announce("config").await;
    }

    /// Tells the other nodes to read every monitor and the alerting configuration
    /// again (a node started with a changed config file, which it applied to the
    /// store before it started its engine).
    pub async fn announce_all(&self) {
        self.announce("all").await;
    }

    async fn announce(&self, what: &str) {
        if let Err(e) = self
            .store
            .notify(CHANGED_CHANNEL, &format!("{}:{what}", self.node))
            .await
        {
            warn!(message = "could not tell the other nodes of a change", error = %e);
        }
    }

    /// Takes a monitor as the store has it now (gone when deleted) into this node's
    /// specs, schedule share, ping door and, where it coordinates, the engine.
    pub async fn apply_change(&self, id: MonitorId) {
        let spec = match self.store.get_monitor(id).await {
            Ok(m) => m.and_then(|m| m.config.build().ok()).map(Arc::new),
            Err(e) => {
                warn!(message = "could not read a changed monitor", monitor_id = %id, error = %e);
                return;
            }
        };
        let token = match &spec {
            Some(s) if !s.is_probed() => match self.store.heartbeat(id).await {
                Ok(h) => h.map(|h| h.token),
                Err(e) => {
                    warn!(message = "could not read a changed heartbeat", monitor_id = %id, error = %e);
                    None
                }
            },
            _ => None,
        };
        {
            let mut specs = self
                .specs
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &spec {
                Some(s) => specs.insert(id, s.clone()),
                None => specs.remove(&id),
            };
        }
        match (&spec, &token) {
            (Some(s), Some(t)) => self.door.set_spec(id, s, t),
            _ => self.door.unset(id),
        }
        if spec.is_none() {
            crate::metrics::forget_monitor(id);
        }
        let mine = spec.is_some() && self.owns(id);
        {
            let mut share = self
                .share
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match (&spec, mine) {
                (Some(s), true) => {
                    share.1.insert(id);
                    self.scheduler.upsert(id, s.clone());
                }
                _ => {
                    share.1.remove(&id);
                    self.scheduler.remove(id);
                }
            }
        }
        if let Some(l) = self.local() {
            l.recorder.reload(id).await;
            match (&spec, token) {
                (Some(s), Some(t)) => l.heartbeats.upsert(id, s.clone(), t).await,
                _ => l.heartbeats.remove(id).await,
            }
            l.alerting.config_changed().await;
        }
    }

    /// Reads every monitor again (after notifications may have been lost).
    pub async fn resync(&self) {
        let ids: HashSet<MonitorId> = match self.store.list_monitors().await {
            Ok(all) => all.into_iter().map(|m| m.id).collect(),
            Err(e) => {
                warn!(message = "could not read the monitors to catch up", error = %e);
                return;
            }
        };
        let known: Vec<MonitorId> = self
            .specs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        for id in known
            .into_iter()
            .chain(ids.iter().copied())
            .collect::<HashSet<_>>()
        {
            self.apply_change(id).await;
        }
        self.changes.publish_remote();
    }

    /// Asks for a check of `id` now by this node's probe, or by the node that owns it.
    pub fn confirm(self: &Arc<Self>, id: MonitorId) {
        if self.owns(id) {
            self.scheduler.run_now(id);
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.store.notify(CONFIRM_CHANNEL, &id.to_string()).await {
                warn!(message = "could not ask another node for a confirmation check", error = %e);
            }
        });
    }
}

fn encode<T: Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string(v).map_err(|e| e.to_string())
}

/// The region's and the monitor's state as stored.
async fn read_recorded(
    store: &Store,
    id: MonitorId,
    region: &RegionName,
) -> Result<Recorded, StoreError> {
    let monitor_state = store
        .get_monitor(id)
        .await?
        .map_or(MonitorState::Pending, |m| m.state);
    let region_state = store
        .region_states(id)
        .await?
        .into_iter()
        .find(|r| &r.region == region)
        .map_or(MonitorState::Pending, |r| r.status.state);
    Ok(Recorded {
        region_state,
        monitor_state,
    })
}

/// The ingest writer: whatever has queued up, in one transaction. On `stop` it
/// takes nothing new and writes what is queued.
async fn write_loop(
    store: Store,
    node: Uuid,
    mut rx: mpsc::Receiver<WriteJob>,
    stop: CancellationToken,
) {
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    let mut closed = false;
    loop {
        let n = tokio::select! {
            biased;
            n = rx.recv_many(&mut buf, WRITE_BATCH) => n,
            () = stop.cancelled(), if !closed => {
                rx.close();
                closed = true;
                continue;
            }
        };
        if n == 0 {
            break;
        }
        let (rows, replies): (Vec<NewIngest>, Vec<_>) = buf.drain(..).unzip();
        let at = Timestamp::now();
        match store.ingest(&rows, node, at).await {
            Ok(ids) => {
                crate::metrics::ingest_written(rows.len());
                for (reply, id) in replies.into_iter().zip(ids) {
                    if let Some(r) = reply {
                        let _ = r.send(Ok(id));
                    }
                }
            }
            Err(e) => {
                warn!(message = "could not pass work on to the coordinator", error = %e, count = rows.len());
                for r in replies.into_iter().flatten() {
                    let _ = r.send(Err(format!("could not store it: {e}")));
                }
            }
        }
    }
}

/// The coordinator's ingest loop: reads what other nodes accepted, in id order, and
/// hands each row to the engine with its id, so that the write that applies it also
/// deletes it. Runs while this node coordinates.
pub(crate) async fn consume(
    router: Arc<Router>,
    local: Local,
    fence: Option<Fence>,
    stop: CancellationToken,
) {
    let mut in_hand: HashMap<i64, Instant> = HashMap::new();
    loop {
        match new_rows(&router.store, &mut in_hand).await {
            Ok(rows) => {
                for row in rows {
                    dispatch(&router, &local, fence, row).await;
                }
            }
            Err(e) => warn!(message = "could not read work passed on by other nodes", error = %e),
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = router.ingest_wake.notified() => {}
            () = tokio::time::sleep(CONSUME_POLL) => {}
        }
    }
}

/// The waiting rows not in hand (or in hand for longer than [`REDISPATCH_AFTER`]),
/// marked as in hand now. Ids first (an index-only scan), then the payloads of those
/// rows only: a backlog is never read and decoded again on every wake-up. Reading from
/// the start each time, not from the highest id seen, is what finds a row whose id was
/// taken before another's but committed after it.
async fn new_rows(
    store: &Store,
    in_hand: &mut HashMap<i64, Instant>,
) -> Result<Vec<IngestRow>, StoreError> {
    let limit = u32::try_from(in_hand.len() + CONSUME_BATCH).unwrap_or(u32::MAX);
    let ids = store.ingest_ids(limit).await?;
    let now = Instant::now();
    let present: HashSet<i64> = ids.iter().copied().collect();
    in_hand.retain(|id, _| present.contains(id));
    let new: Vec<i64> = ids
        .into_iter()
        .filter(|id| {
            in_hand
                .get(id)
                .is_none_or(|t| now.duration_since(*t) >= REDISPATCH_AFTER)
        })
        .collect();
    let rows = store.ingest_rows(&new).await?;
    for row in &rows {
        in_hand.insert(row.id, now);
    }
    Ok(rows)
}

async fn dispatch(router: &Router, local: &Local, fence: Option<Fence>, row: IngestRow) {
    let ingested = Ingested {
        row: row.id,
        received_at: row.received_at,
    };
    let applied = match row.kind.as_str() {
        KIND_RESULT => match serde_json::from_str::<ResultRow>(&row.payload) {
            Ok(r) => match router.spec_or_read(r.monitor_id).await {
                Some(spec) => {
                    local
                        .recorder
                        .submit_ingested(r.monitor_id, spec, r.result, Some(row.id), r.history_only)
                        .await;
                    Ok(())
                }
                None => Err("its monitor no longer exists".to_owned()),
            },
            Err(e) => Err(e.to_string()),
        },
        KIND_PING => match serde_json::from_str::<Ping>(&row.payload) {
            Ok(p) => {
                local.heartbeats.queue_ingested(p, ingested).await;
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
        KIND_ACK | KIND_RESOLVE => match serde_json::from_str::<ActRow>(&row.payload) {
            Ok(a) => {
                local
                    .alerting
                    .queue_ingested(a.incident, a.by, row.kind == KIND_RESOLVE, row.id);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
        other => Err(format!("unknown kind {other:?}")),
    };
    if let Err(why) = applied {
        debug!(message = "work passed on by another node is dropped", row = row.id, kind = %row.kind, reason = %why);
        let commit = Commit {
            fence,
            consumed: vec![row.id],
        };
        if let Err(e) = router.store.discard_ingest(&commit).await {
            warn!(message = "could not drop work passed on by another node", error = %e);
        }
    }
}

/// The channels a node listens on.
const CHANNELS: [&str; 5] = [
    INGEST_CHANNEL,
    CHANGED_CHANNEL,
    CONFIRM_CHANNEL,
    FEED_CHANNEL,
    AGENT_CHECK_CHANNEL,
];

/// Starts listening to the other nodes (PostgreSQL; `None` on SQLite). Done before a
/// node reads its monitors, so that no change made in between goes unheard.
pub(crate) async fn listener(store: &Store) -> Result<Option<Listener>, StoreError> {
    store.listen(&CHANNELS).await
}

/// Listens to the other nodes (PostgreSQL): changes, confirmation requests, public
/// changes and new ingest rows. Ends with `stop`.
pub(crate) async fn listen(
    router: Arc<Router>,
    agents: Arc<crate::agents::Agents>,
    listener: Option<Listener>,
    stop: CancellationToken,
) {
    // Without a listener (SQLite: one node) there is no one to hear.
    let Some(mut listener) = listener else {
        return;
    };
    let me = router.node.to_string();
    loop {
        let notice = tokio::select! {
            () = stop.cancelled() => return,
            n = listener.recv() => n,
        };
        match notice {
            Ok(Some(n)) => match n.channel.as_str() {
                INGEST_CHANNEL => router.ingest_wake.notify_one(),
                CONFIRM_CHANNEL => {
                    if let Ok(id) = n.payload.parse::<Uuid>() {
                        let id = MonitorId::from_uuid(id);
                        if router.owns(id) {
                            router.scheduler.run_now(id);
                        }
                    }
                }
                FEED_CHANNEL if n.payload != me => router.changes.publish_remote(),
                AGENT_CHECK_CHANNEL => {
                    if let Some((agent, monitor)) = n.payload.split_once(':')
                        && let (Ok(agent), Ok(monitor)) =
                            (agent.parse::<Uuid>(), monitor.parse::<Uuid>())
                    {
                        agents.deliver(agent, MonitorId::from_uuid(monitor));
                    }
                }
                CHANGED_CHANNEL => {
                    let (from, what) = n.payload.split_once(':').unwrap_or(("-", ""));
                    if from == me {
                        continue;
                    }
                    if what == "all" {
                        router.resync().await;
                        if let Some(l) = router.local() {
                            l.alerting.config_changed().await;
                        }
                    } else if what == "config" {
                        if let Some(l) = router.local() {
                            l.alerting.config_changed().await;
                        }
                        router.changes.publish_remote();
                    } else if let Ok(id) = what.parse::<Uuid>() {
                        router.apply_change(MonitorId::from_uuid(id)).await;
                        router.changes.publish_remote();
                    }
                }
                _ => {}
            },
            Ok(None) => {
                // The connection was lost and made again: what was said meanwhile is
                // lost, so read everything afresh.
                info!(message = "reconnected to the other nodes; reading the monitors again");
                router.resync().await;
                router.ingest_wake.notify_one();
            }
            Err(e) => {
                warn!(message = "lost the other nodes' notifications", error = %e);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// Tells the other nodes when something public changed here (coalesced: at most a few
/// notifications a second), so their status pages and badges are rebuilt.
pub(crate) async fn bridge_feed(router: Arc<Router>, stop: CancellationToken) {
    if !router.store.is_shared() {
        return;
    }
    let mut rx = router.changes.subscribe_local();
    let me = router.node.to_string();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            r = rx.changed() => if r.is_err() { return },
        }
        if let Err(e) = router.store.notify(FEED_CHANNEL, &me).await {
            debug!(message = "could not tell the other nodes of a public change", error = %e);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// The nodes whose rows were refreshed within a lease TTL, on the database's clock.
pub(crate) async fn live_nodes(store: &Store, ttl: Duration) -> Result<Vec<Uuid>, StoreError> {
    let now = store.db_now().await?;
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    Ok(store
        .list_nodes()
        .await?
        .into_iter()
        .filter(|n| now.as_millisecond() - n.last_seen.as_millisecond() <= ttl_ms)
        .map(|n| n.id)
        .collect())
}

/// Keeps the split of the probe's monitors in step with the live nodes: a node is
/// live while its row was refreshed within one lease TTL.
pub(crate) async fn follow_nodes(router: Arc<Router>, ttl: Duration, stop: CancellationToken) {
    if !router.store.is_shared() {
        return;
    }
    loop {
        match live_nodes(&router.store, ttl).await {
            Ok(live) => router.reshare(live),
            Err(e) => warn!(message = "could not read the list of nodes", error = %e),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(ttl / 3) => {}
        }
    }
}
