//! The alerting driver: feeds monitor state changes, acknowledgements, manual resolves
//! and the passing of time to core's pure incident engine, and writes what it decides
//! (incidents, timeline, notifications into the outbox) in one transaction per step.
//!
//! One task owns every monitor's alerting memory, the policies, channels and
//! maintenance windows. It sleeps until the earliest reminder, escalation or
//! maintenance boundary, or until told something. At start it compares each monitor's
//! stored state with what the engine last saw, so a state change that was committed
//! just before a crash is still alerted on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use uuid::Uuid;
use vigilmon_core::alert::{PolicyConfig, PolicySpec};
use vigilmon_core::incident::{Context, Effect, MonitorAlerting};
use vigilmon_core::maintenance::{MaintenanceConfig, MaintenanceSpec};
use vigilmon_core::{MonitorId, MonitorState};
use vigilmon_notify::ChannelConfig;
use vigilmon_notify::RegionEvidence;
use vigilmon_store::{Commit, Fence, NewIncidentEvent, Store, StoreError};

use vigilmon_schedule::clock::SharedClock;

use crate::changes::ChangeFeed;
use crate::links::LinkSigner;
use crate::rows::{self, Subject};

/// Why an acknowledge or resolve was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActError {
    NotFound,
    AlreadyResolved,
    /// A resolve of an incident whose monitor is still failing: `regions` see it fail
    /// (empty for a heartbeat); `degraded` when the monitor is degraded (an incident
    /// opened with `incident_on_degraded`) rather than down.
    StillFailing {
        regions: Vec<String>,
        degraded: bool,
    },
    Unavailable(String),
}

enum Cmd {
    State {
        monitor: MonitorId,
        to: MonitorState,
        regional: bool,
        cause: String,
        evidence: Vec<RegionEvidence>,
    },
    Ack {
        incident: Uuid,
        by: String,
        reply: oneshot::Sender<Result<(), ActError>>,
        /// The ingest row it came in (another node took the request).
        ingested: Option<i64>,
    },
    Resolve {
        incident: Uuid,
        by: String,
        reply: oneshot::Sender<Result<(), ActError>>,
        ingested: Option<i64>,
    },
    Reload(oneshot::Sender<()>),
}

/// Talks to the alerting driver. Cheap to clone.
#[derive(Clone)]
pub struct AlertingHandle {
    tx: mpsc::UnboundedSender<Cmd>,
    outbox: Arc<Notify>,
}

impl AlertingHandle {
    /// A monitor's state changed (committed). `cause` says why, in words; `regional`
    /// that a `degraded` state is a failure seen by fewer than `quorum` regions.
    pub async fn state_changed(
        &self,
        monitor: MonitorId,
        to: MonitorState,
        regional: bool,
        cause: String,
        evidence: Vec<RegionEvidence>,
    ) {
        let _ = self.tx.send(Cmd::State {
            monitor,
            to,
            regional,
            cause,
            evidence,
        });
    }

    pub async fn acknowledge(&self, incident: Uuid, by: String) -> Result<(), ActError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Ack {
                incident,
                by,
                reply,
                ingested: None,
            })
            .map_err(|_| ActError::Unavailable("the server is shutting down".into()))?;
        rx.await.unwrap_or(Err(ActError::Unavailable(
            "the server is shutting down".into(),
        )))
    }

    pub async fn resolve(&self, incident: Uuid, by: String) -> Result<(), ActError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Resolve {
                incident,
                by,
                reply,
                ingested: None,
            })
            .map_err(|_| ActError::Unavailable("the server is shutting down".into()))?;
        rx.await.unwrap_or(Err(ActError::Unavailable(
            "the server is shutting down".into(),
        )))
    }

    /// Queues an acknowledgement (or a resolve) another node took (`row`: its ingest
    /// row); nobody waits for its answer.
    pub fn queue_ingested(&self, incident: Uuid, by: String, resolve: bool, row: i64) {
        let (reply, _) = oneshot::channel();
        let ingested = Some(row);
        let _ = self.tx.send(if resolve {
            Cmd::Resolve {
                incident,
                by,
                reply,
                ingested,
            }
        } else {
            Cmd::Ack {
                incident,
                by,
                reply,
                ingested,
            }
        });
    }

    /// Monitors, channels, policies or maintenance windows changed: reload them.
    /// Returns once the driver has reloaded.
    pub async fn config_changed(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Cmd::Reload(reply)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Wakes the outbox worker.
    pub fn outbox_notify(&self) -> Arc<Notify> {
        self.outbox.clone()
    }
}

struct MonitorInfo {
    name: String,
    /// The type's name: borrowed from the list of types (an unknown one is owned).
    kind: std::borrow::Cow<'static, str>,
    policy: Option<String>,
    tags: Vec<String>,
    depends_on: Vec<String>,
    state: MonitorState,
    /// The `degraded` state is a failure seen by fewer than `quorum` regions.
    regional: bool,
    regional_notice_after: Duration,
    cause: String,
    evidence: Vec<RegionEvidence>,
}

struct Driver {
    store: Store,
    clock: SharedClock,
    changes: ChangeFeed,
    links: LinkSigner,
    outbox: Arc<Notify>,
    monitors: HashMap<MonitorId, MonitorInfo>,
    by_name: HashMap<String, MonitorId>,
    memory: HashMap<MonitorId, MonitorAlerting>,
    policies: HashMap<String, PolicySpec>,
    closes: Vec<String>,
    maintenance: Vec<MaintenanceSpec>,
    /// The coordinator's lease every step is written under.
    fence: Option<Fence>,
    /// Ingest rows the next write consumes (an action another node took).
    consumed: Vec<i64>,
}

/// Starts the driver; `outbox` wakes this node's delivery worker when a step queued
/// notifications.
pub async fn start(
    store: Store,
    clock: SharedClock,
    changes: ChangeFeed,
    links: LinkSigner,
    outbox: Arc<Notify>,
    fence: Option<Fence>,
    shutdown: CancellationToken,
) -> Result<(AlertingHandle, tokio::task::JoinHandle<()>), StoreError> {
    let mut driver = Driver {
        store: store.clone(),
        clock,
        changes,
        links,
        outbox: outbox.clone(),
        monitors: HashMap::new(),
        by_name: HashMap::new(),
        memory: HashMap::new(),
        policies: HashMap::new(),
        closes: Vec::new(),
        maintenance: Vec::new(),
        fence,
        consumed: Vec::new(),
    };
    for (id, v) in store.alerting_states().await? {
        match serde_json::from_value::<MonitorAlerting>(v) {
            Ok(m) => {
                driver.memory.insert(id, m);
            }
            Err(e) => {
                warn!(message = "alerting memory unreadable; starting afresh", monitor_id = %id, error = %e)
            }
        }
    }
    driver.reload().await?;
    driver.reconcile().await;
    // Unbounded: the recorder and the heartbeat engine must never wait on alerting
    // (state changes are few; a burst is worked through in order).
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(driver.run(rx, shutdown));
    Ok((AlertingHandle { tx, outbox }, task))
}

fn closes_alerts_of(closes: &[String]) -> impl Fn(&str) -> bool + '_ {
    move |c: &str| closes.iter().any(|n| n == c)
}

/// The valid policies by name, and the channels that close alerts (PagerDuty). An
/// invalid stored policy is logged and left out.
pub(crate) async fn load_policies(
    store: &Store,
) -> Result<(HashMap<String, PolicySpec>, Vec<String>), StoreError> {
    let channels = store.list_channels().await?;
    let closes = channels
        .iter()
        .filter_map(|c| serde_json::from_value::<ChannelConfig>(c.config.clone()).ok())
        .filter_map(|c| c.build().ok().map(|s| (c.name, s)))
        .filter(|(_, s)| s.pages())
        .map(|(n, _)| n)
        .collect();
    let names: Vec<String> = channels.iter().map(|c| c.name.clone()).collect();
    let mut policies = HashMap::new();
    for p in store.list_policies().await? {
        let built = serde_json::from_value::<PolicyConfig>(p.config.clone())
            .map_err(|e| e.to_string())
            .and_then(|c| {
                c.build(|n| names.iter().any(|x| x == n)).map_err(|e| {
                    e.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            });
        match built {
            Ok(spec) => {
                policies.insert(p.name, spec);
            }
            Err(e) => {
                warn!(message = "policy is invalid and ignored", policy = %p.name, error = %e)
            }
        }
    }
    Ok((policies, closes))
}

impl Driver {
    /// Re-reads monitors, channels, policies and maintenance windows.
    async fn reload(&mut self) -> Result<(), StoreError> {
        let (policies, closes) = load_policies(&self.store).await?;
        self.policies = policies;
        self.closes = closes;
        self.maintenance = self
            .store
            .list_maintenance()
            .await?
            .into_iter()
            .filter(|w| w.ended_at.is_none())
            .filter_map(|w| {
                serde_json::from_value::<MaintenanceConfig>(w.config)
                    .ok()?
                    .build()
                    .ok()
            })
            .collect();
        let heartbeats: HashMap<MonitorId, String> = self
            .store
            .heartbeats()
            .await?
            .into_iter()
            .filter_map(|h| h.state.reason.clone().map(|r| (h.monitor_id, r)))
            .collect();
        // Each monitor's regions, found by its id: scanning every region's row for
        // each monitor made a reload quadratic (2.5 × 10⁹ comparisons at 50,000
        // monitors).
        let mut regions: HashMap<MonitorId, Vec<vigilmon_store::RegionStateRecord>> =
            HashMap::new();
        for (id, r) in self.store.all_region_states().await? {
            regions.entry(id).or_default().push(r);
        }
        let mut monitors = HashMap::new();
        for rec in self.store.list_monitors().await? {
            let mine = regions.remove(&rec.id).unwrap_or_default();
            let evidence: Vec<RegionEvidence> = mine
                .iter()
                .map(|r| RegionEvidence {
                    region: r.region.to_string(),
                    ok: r.status.state != MonitorState::Down,
                    error: r.error.clone(),
                    checked_at: r.checked_at,
                })
                .collect();
            let cause = heartbeats
                .get(&rec.id)
                .cloned()
                .or_else(|| evidence.iter().find_map(|e| e.error.clone()))
                .unwrap_or_default();
            let regional = rec.state == MonitorState::Degraded
                && mine.iter().any(|r| r.status.state == MonitorState::Down);
            // Keep the latest cause and evidence we were told about, if any.
            let (cause, evidence, regional) = match self.monitors.remove(&rec.id) {
                Some(old) if old.state == rec.state => (old.cause, old.evidence, old.regional),
                _ => (cause, evidence, regional),
            };
            let regional_notice_after = rec.config.regional_notice_after.map_or(
                vigilmon_core::incident::DEFAULT_REGIONAL_NOTICE_AFTER,
                |d| d.0,
            );
            monitors.insert(
                rec.id,
                MonitorInfo {
                    name: rec.config.name.clone(),
                    kind: rec.config.kind.kind().map_or_else(
                        || rec.config.kind_name().to_owned().into(),
                        |k| k.as_str().into(),
                    ),
                    policy: rec.config.policy.clone(),
                    tags: rec.config.tags.clone(),
                    depends_on: rec.config.depends_on.clone(),
                    state: rec.state,
                    regional,
                    regional_notice_after,
                    cause,
                    evidence,
                },
            );
        }
        self.by_name = monitors
            .iter()
            .map(|(id, m)| (m.name.clone(), *id))
            .collect();
        self.monitors = monitors;
        self.memory.retain(|id, _| self.monitors.contains_key(id));
        Ok(())
    }

    /// Feeds the engine any state it has not seen (a crash between the state change
    /// and its alerting step).
    async fn reconcile(&mut self) {
        let stale: Vec<(MonitorId, MonitorState, String)> = self
            .monitors
            .iter()
            .filter(|(id, m)| self.memory.get(id).and_then(|a| a.last_state) != Some(m.state))
            // A monitor still pending that the engine never saw has nothing to say.
            .filter(|(id, m)| m.state != MonitorState::Pending || self.memory.contains_key(id))
            .map(|(id, m)| (*id, m.state, m.cause.clone()))
            .collect();
        if !stale.is_empty() {
            info!(
                message = "alerting catches up on state changes it had not seen",
                count = stale.len()
            );
        }
        for (id, state, cause) in stale {
            self.step(id, |a, ctx, new_id| a.on_state(state, &cause, new_id, ctx))
                .await;
        }
        self.tick_all().await;
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>, shutdown: CancellationToken) {
        loop {
            let wake = self.next_wakeup();
            let sleep_for = wake.map(|t| {
                Duration::from_millis(
                    u64::try_from(t.as_millisecond() - self.clock.now().as_millisecond())
                        .unwrap_or(0),
                )
            });
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                cmd = rx.recv() => match cmd {
                    None => break,
                    Some(cmd) => self.on_cmd(cmd).await,
                },
                () = sleep_or_forever(sleep_for) => self.tick_all().await,
            }
        }
    }

    async fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::State {
                monitor,
                to,
                regional,
                cause,
                evidence,
            } => {
                // RegionEvidence from every region, as committed: the recorder sends what
                // each region's latest result said (after its commit); heartbeats send
                // none.
                if let Some(m) = self.monitors.get_mut(&monitor) {
                    m.state = to;
                    m.regional = regional;
                    m.cause.clone_from(&cause);
                    if !evidence.is_empty() {
                        m.evidence = evidence;
                    }
                } else {
                    // A monitor we have not loaded yet (just created): reload first.
                    let _ = self.reload().await;
                    if let Some(m) = self.monitors.get_mut(&monitor) {
                        m.regional = regional && to == MonitorState::Degraded;
                    }
                }
                self.step(monitor, |a, ctx, new_id| {
                    a.on_state(to, &cause, new_id, ctx)
                })
                .await;
                self.tick_children(monitor).await;
            }
            Cmd::Ack {
                incident,
                by,
                reply,
                ingested,
            } => {
                self.consumed.extend(ingested);
                let r = self
                    .act(incident, |a, ctx| a.on_acknowledge(&by, ctx))
                    .await;
                self.consume_rest().await;
                let _ = reply.send(r);
            }
            Cmd::Resolve {
                incident,
                by,
                reply,
                ingested,
            } => {
                let forwarded = ingested.is_some();
                self.consumed.extend(ingested);
                let r = if let Some(monitor) = self.resolve_refused(incident) {
                    Err(self.still_failing(monitor).await)
                } else {
                    self.act(incident, |a, ctx| a.on_resolve(ctx)).await
                };
                self.consume_rest().await;
                let said = match &r {
                    // Say who, in the timeline.
                    Ok(()) => Some(format!("resolved by hand by {by}")),
                    // Another node took it and answered already: say so where people
                    // look.
                    Err(ActError::StillFailing { .. }) if forwarded => Some(format!(
                        "resolve by {by} not done: the monitor is still failing"
                    )),
                    Err(_) => None,
                };
                if let Some(text) = said {
                    let _ = self
                        .store
                        .add_incident_event(&NewIncidentEvent {
                            incident_id: incident,
                            at: self.clock.now(),
                            kind: "note".into(),
                            text,
                            actor: Some(by),
                            channel: None,
                        })
                        .await;
                }
                let _ = reply.send(r);
            }
            Cmd::Reload(reply) => {
                if let Err(e) = self.reload().await {
                    error!(message = "could not reload alerting configuration", error = %e);
                }
                self.follow_operator_states().await;
                self.changes.publish();
                self.tick_all().await;
                let _ = reply.send(());
            }
        }
    }

    /// Pausing, resuming or editing a monitor sets its state to `paused` or `pending`
    /// without any check: tell the engine, for which these states are "unknown", so that
    /// a paused monitor's open incident goes quiet (no reminders, no escalations) and may
    /// be resolved by hand.
    async fn follow_operator_states(&mut self) {
        let moved: Vec<(MonitorId, MonitorState)> = self
            .monitors
            .iter()
            .filter(|(_, m)| matches!(m.state, MonitorState::Paused | MonitorState::Pending))
            .filter(|(id, m)| {
                self.memory
                    .get(*id)
                    .and_then(|a| a.last_state)
                    .is_some_and(|s| s != m.state)
            })
            .map(|(id, m)| (*id, m.state))
            .collect();
        for (id, state) in moved {
            self.step(id, |a, ctx, new_id| a.on_state(state, "", new_id, ctx))
                .await;
        }
    }

    /// Deletes the ingest rows of an action that wrote nothing (the incident was
    /// resolved meanwhile, or the action changed nothing).
    async fn consume_rest(&mut self) {
        if self.consumed.is_empty() {
            return;
        }
        let commit = Commit {
            fence: self.fence,
            consumed: std::mem::take(&mut self.consumed),
        };
        if let Err(e) = self.store.discard_ingest(&commit).await {
            warn!(message = "could not mark an incident action from another node as done", error = %e);
        }
    }

    /// Acknowledge or resolve an incident by id.
    async fn act(
        &mut self,
        incident: Uuid,
        f: impl FnOnce(&mut MonitorAlerting, &Context) -> Vec<Effect>,
    ) -> Result<(), ActError> {
        let owner = self
            .memory
            .iter()
            .find(|(_, a)| a.incident.as_ref().is_some_and(|i| i.id == incident))
            .map(|(id, _)| *id);
        match owner {
            Some(id) => {
                let mut f = Some(f);
                self.step(id, |a, ctx, _| (f.take().expect("called once"))(a, ctx))
                    .await;
                self.tick_children(id).await;
                Ok(())
            }
            None => match self.store.get_incident(incident).await {
                Ok(Some(_)) => Err(ActError::AlreadyResolved),
                Ok(None) => Err(ActError::NotFound),
                Err(e) => Err(ActError::Unavailable(e.to_string())),
            },
        }
    }

    /// What the engine is told besides the event, for monitor `info` at `now`.
    fn context<'a>(
        &'a self,
        info: &'a MonitorInfo,
        now: Timestamp,
        closes: &'a dyn Fn(&str) -> bool,
    ) -> Context<'a> {
        Context {
            now,
            policy: info.policy.as_ref().and_then(|p| self.policies.get(p)),
            in_maintenance: self.in_maintenance(info, now),
            parent_incident: self.parent_incident(info),
            closes_alerts: closes,
            regional: info.regional,
            regional_notice_after: info.regional_notice_after,
        }
    }

    /// Whether a manual resolve of `incident` is refused now: its monitor is failing.
    fn resolve_refused(&self, incident: Uuid) -> Option<MonitorId> {
        let (id, memory) = self
            .memory
            .iter()
            .find(|(_, a)| a.incident.as_ref().is_some_and(|i| i.id == incident))?;
        let info = self.monitors.get(id)?;
        let closes = closes_alerts_of(&self.closes);
        memory
            .resolve_refused(&self.context(info, self.clock.now(), &closes))
            .then_some(*id)
    }

    /// The refusal of a resolve of `monitor`'s incident, saying whether it is down or
    /// degraded and in which regions (as far as the store can tell).
    async fn still_failing(&self, monitor: MonitorId) -> ActError {
        let degraded = matches!(
            self.store.get_monitor(monitor).await,
            Ok(Some(m)) if m.state == MonitorState::Degraded
        );
        let wanted = if degraded {
            MonitorState::Degraded
        } else {
            MonitorState::Down
        };
        let regions = self
            .store
            .region_states(monitor)
            .await
            .map(|rs| {
                rs.into_iter()
                    .filter(|r| r.status.state == wanted)
                    .map(|r| r.region.to_string())
                    .collect()
            })
            .unwrap_or_default();
        ActError::StillFailing { regions, degraded }
    }

    fn in_maintenance(&self, m: &MonitorInfo, now: Timestamp) -> bool {
        self.maintenance
            .iter()
            .any(|w| w.applies_to(&m.name, &m.tags) && w.active_at(now).is_some())
    }

    fn parent_incident(&self, m: &MonitorInfo) -> Option<Uuid> {
        m.depends_on.iter().find_map(|name| {
            let id = self.by_name.get(name)?;
            self.memory.get(id)?.incident.as_ref().map(|i| i.id)
        })
    }

    /// Runs one engine call for a monitor and writes what it decided.
    async fn step(
        &mut self,
        id: MonitorId,
        f: impl FnOnce(&mut MonitorAlerting, &Context, Uuid) -> Vec<Effect>,
    ) {
        let now = self.clock.now();
        let mut memory = self.memory.get(&id).cloned().unwrap_or_default();
        // The context borrows a closure that is not `Sync`: decide, then await.
        let write = {
            let Some(info) = self.monitors.get(&id) else {
                return;
            };
            let closes = closes_alerts_of(&self.closes);
            let ctx = self.context(info, now, &closes);
            let policy = ctx.policy;
            let before = memory.clone();
            let effects = f(&mut memory, &ctx, Uuid::now_v7());
            if effects.is_empty() && memory == before {
                return;
            }
            let subject = Subject {
                id,
                name: &info.name,
                kind: &info.kind,
                state: info.state,
                cause: &info.cause,
                evidence: &info.evidence,
            };
            rows::effects_to_write(
                &subject,
                policy,
                &self.links,
                &memory,
                &before,
                effects,
                now,
            )
        };
        let commit = Commit {
            fence: self.fence,
            consumed: std::mem::take(&mut self.consumed),
        };
        match self.store.apply_alerting_under(&write, now, &commit).await {
            Ok(()) => {
                self.memory.insert(id, memory);
                // A state or incident change: public status pages show it.
                self.changes.publish();
                if !write.notifications.is_empty() {
                    self.outbox.notify_one();
                }
            }
            Err(e) => {
                crate::metrics::write_refused(&e);
                error!(message = "could not write an alerting step; it will be retried", monitor_id = %id, error = %e);
            }
        }
    }

    /// Ticks the monitors that depend on `parent` (its incident opened or closed).
    async fn tick_children(&mut self, parent: MonitorId) {
        let Some(name) = self.monitors.get(&parent).map(|m| m.name.clone()) else {
            return;
        };
        let children: Vec<MonitorId> = self
            .monitors
            .iter()
            .filter(|(_, m)| m.depends_on.contains(&name))
            .map(|(id, _)| *id)
            .collect();
        for c in children {
            self.step(c, |a, ctx, _| a.on_tick(ctx)).await;
        }
    }

    async fn tick_all(&mut self) {
        let ids: Vec<MonitorId> = self.memory.keys().copied().collect();
        for id in ids {
            self.step(id, |a, ctx, _| a.on_tick(ctx)).await;
        }
    }

    /// The earliest reminder, escalation, or maintenance boundary.
    fn next_wakeup(&self) -> Option<Timestamp> {
        let now = self.clock.now();
        let closes = closes_alerts_of(&self.closes);
        let mut best: Option<Timestamp> = None;
        let mut consider = |t: Option<Timestamp>| {
            if let Some(t) = t {
                best = Some(best.map_or(t, |b| b.min(t)));
            }
        };
        for (id, a) in &self.memory {
            let Some(info) = self.monitors.get(id) else {
                continue;
            };
            let ctx = Context {
                now,
                policy: info.policy.as_ref().and_then(|p| self.policies.get(p)),
                in_maintenance: self.in_maintenance(info, now),
                parent_incident: self.parent_incident(info),
                closes_alerts: &closes,
                regional: info.regional,
                regional_notice_after: info.regional_notice_after,
            };
            consider(a.next_wakeup(&ctx));
        }
        for w in &self.maintenance {
            consider(w.next_change(now));
        }
        best
    }
}

async fn sleep_or_forever(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
