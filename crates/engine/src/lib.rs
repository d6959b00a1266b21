//! Vigilmon's runtime: everything that happens without a request asking for it.
//!
//! [`Engine::start`] opens nothing (the caller gives it the store) and starts the
//! tasks, each the single owner of its state, talking over channels:
//!
//! | task | module | runs on |
//! |---|---|---|
//! | scheduler of the built-in probe (this node's share) | `vigilmon_schedule::scheduler` | every node |
//! | router: pings, results, actions → the coordinator or the ingest table | `router` | every node |
//! | ingest loop: what other nodes passed on → the engine | `router::consume` | the coordinator |
//! | recorder: results → region streaks → consensus → store | [`recorder`] | the coordinator |
//! | alerting driver: state changes → incident engine → incidents, outbox | [`alerting`] | the coordinator |
//! | heartbeat engine: pings, deadlines | [`heartbeats`] | the coordinator |
//! | region health: silent agent regions → operational alerts | [`region_health`] | the coordinator |
//! | node health: lost nodes → operational alerts | [`node_health`] | the coordinator |
//! | agent presence: which agents each node hears | [`agents::Agents`] | every node |
//! | retention of raw results | [`retention`] | the coordinator |
//! | rollups of results per hour and day | [`rollup`] | the coordinator |
//! | outbox delivery | [`outbox`] | every node |
//! | metrics upkeep | [`metrics`] | every node |
//!
//! The tasks that must run once per cluster are started together by
//! `cluster::start` and stopped together, by `cluster::switch` as the node gains and
//! loses the coordinator lease (`node`). A lone node (always on SQLite) coordinates
//! from its first moment.
//!
//! The HTTP front reaches the tasks through the handles of [`Engine`] (cheap to
//! clone) and learns of public changes through its [`ChangeFeed`].
//!
//! Architecture invariant: this crate knows no HTTP framework and renders no page;
//! decisions are made by the pure core (`vigilmon_core`), and this crate feeds it,
//! writes what it decides and sends what it queues.

pub mod agents;
pub mod alerting;
pub mod changes;
mod cluster;
pub mod heartbeats;
pub mod limit;
pub mod links;
pub mod metrics;
pub mod node;
pub mod node_health;
pub mod outbox;
pub mod recorder;
pub mod region_health;
pub mod retention;
pub mod rollup;
mod router;
pub mod rows;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use metrics_exporter_prometheus::PrometheusHandle;
use rand::RngCore;
use tokio_util::sync::CancellationToken;
use tracing::info;
use vigilmon_core::RegionName;
use vigilmon_core::{CheckResult, MonitorId, MonitorSpec};
use vigilmon_probe::{ProbeOptions, Prober};
use vigilmon_schedule::clock::SharedClock;
use vigilmon_schedule::scheduler::{self, SchedulerConfig};
use vigilmon_store::{Fence, Store};

pub use changes::ChangeFeed;

use router::Router;

/// How often a node shares which agents it hears, and learns what the others hear: a
/// third of the agents' poll interval (between 250 ms and 2 s), so that what a node
/// learns late by it stays well inside the liveness of three polls.
fn agent_share_every(poll: Duration) -> Duration {
    (poll / 3).clamp(Duration::from_millis(250), Duration::from_secs(2))
}

/// Everything the engine needs besides the store.
#[derive(Clone)]
pub struct EngineOptions {
    /// Base URL of links in notifications (monitor and incident pages, acknowledge
    /// links) and of ping URLs.
    pub public_url: String,
    /// The built-in probe's settings, including its region name.
    pub probe: ProbeOptions,
    /// Most checks in flight at once.
    pub concurrency: usize,
    /// How long raw check results are kept.
    pub retention_raw: Duration,
    /// How often retention runs.
    pub retention_every: Duration,
    pub heartbeats: heartbeats::HeartbeatConfig,
    pub alerting: AlertingOptions,
    /// Whether the built-in probe runs checks (a server may only coordinate agents).
    pub local_probe: bool,
    /// Regions declared in the config file.
    pub regions: Vec<RegionName>,
    /// How often agents poll their assignment (liveness is 3 polls).
    pub agent_poll: Duration,
    pub clock: SharedClock,
    /// This node's address and lease (`cluster.*`).
    pub node: node::NodeOptions,
}

/// Notification settings.
#[derive(Clone)]
pub struct AlertingOptions {
    /// SMTP server for email channels.
    pub smtp: Option<vigilmon_notify::SmtpSettings>,
    /// Retry and lease settings of the outbox.
    pub outbox: outbox::OutboxConfig,
    /// How long signed acknowledge links work.
    pub link_ttl: Duration,
    /// Timeout of one delivery attempt.
    pub send_timeout: Duration,
    /// The policy that tells people when a region becomes unavailable
    /// (`alerting.region_policy`).
    pub region_policy: Option<String>,
}

impl Default for AlertingOptions {
    fn default() -> Self {
        Self {
            smtp: None,
            outbox: outbox::OutboxConfig::default(),
            link_ttl: Duration::from_secs(7 * 24 * 3600),
            send_timeout: Duration::from_secs(10),
            region_policy: None,
        }
    }
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("storage: {0}")]
    Store(#[from] vigilmon_store::StoreError),
    #[error("probe setup: {0}")]
    Probe(String),
    #[error("notifier setup: {0}")]
    Notify(String),
}

/// The running engine's handles. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    prober: Prober,
    router: Arc<Router>,
    notifier: vigilmon_notify::Notifier,
    link_secret: Vec<u8>,
    agents: Arc<agents::Agents>,
    local_probe: bool,
    regions: Vec<RegionName>,
    metrics: PrometheusHandle,
    clock: SharedClock,
    public_url: String,
    changes: ChangeFeed,
    retention_raw: Duration,
    node: node::NodeHandle,
}

impl Engine {
    /// Starts every task and returns the handles, and the tasks to stop with
    /// [`Tasks::shutdown`] once nothing sends to the engine any more.
    pub async fn start(store: Store, opts: EngineOptions) -> Result<(Engine, Tasks), EngineError> {
        let metrics = metrics::install();
        let stop_node = CancellationToken::new();
        let upkeep_task = tokio::spawn(metrics::upkeep(metrics.clone(), stop_node.clone()));
        let prober =
            Prober::new(opts.probe.clone()).map_err(|e| EngineError::Probe(e.to_string()))?;
        // Notifications obey the probes' network guard (`probe.deny_networks`, ...).
        let notifier = vigilmon_notify::Notifier::with_guard(
            opts.alerting.smtp.clone(),
            opts.alerting.send_timeout,
            opts.probe.guard.clone(),
        )
        .map_err(|e| EngineError::Notify(e.to_string()))?;
        let link_secret = hex::decode(
            store
                .setting_or_insert("link_secret", &random_hex(32))
                .await?,
        )
        .unwrap_or_default();
        // The node's row and the coordinator lease, before anything that coordinates.
        let stop_membership = CancellationToken::new();
        let (node, node_task) =
            node::start(store.clone(), opts.node.clone(), stop_membership.clone()).await?;
        let changes = ChangeFeed::new();
        let agents = Arc::new(agents::Agents::new(opts.agent_poll));
        if store.is_shared() {
            // A confirmation for an agent polling another node goes there.
            let s = store.clone();
            agents.set_remote(Box::new(move |agent, monitor| {
                let s = s.clone();
                tokio::spawn(async move {
                    let payload = format!("{agent}:{monitor}");
                    if let Err(e) = s.notify(vigilmon_store::AGENT_CHECK_CHANNEL, &payload).await {
                        tracing::warn!(message = "could not pass a confirmation on to an agent's node", error = %e);
                    }
                });
            }));
        }
        // Listening first: a change another node makes while this one reads its
        // monitors is heard, not lost.
        let listener = router::listener(&store).await?;
        let outbox_wake = Arc::new(tokio::sync::Notify::new());

        // Every node runs its share of the built-in probe's monitors.
        let mut initial = Vec::new();
        for rec in store.list_monitors().await? {
            match rec.config.build() {
                Ok(spec) => initial.push((rec.id, Arc::new(spec))),
                Err(errs) => tracing::error!(
                    message = "stored monitor is invalid and will not run",
                    monitor_id = %rec.id,
                    name = %rec.config.name,
                    error = %errs.first().map(ToString::to_string).unwrap_or_default()
                ),
            }
        }
        let door = heartbeats::Door::open(&store, &opts.heartbeats, &initial).await?;
        let (scheduler, inbox) = scheduler::channel();
        let stop_writer = CancellationToken::new();
        let (router, writer_task) = Router::new(
            store.clone(),
            node.id(),
            door,
            scheduler,
            changes.clone(),
            &initial,
            stop_writer.clone(),
        );
        if store.is_shared() {
            router.reshare(router::live_nodes(&store, opts.node.lease_ttl).await?);
        }
        initial.retain(|(id, _)| router.owns(*id));
        info!(message = "scheduling monitors", count = initial.len(), region = %prober.region());
        let stop_scheduling = CancellationToken::new();
        let scheduler_task = inbox.spawn(
            initial,
            Arc::new(cluster::ProbeAndRecord {
                prober: prober.clone(),
                router: router.clone(),
            }),
            opts.clock.clone(),
            SchedulerConfig {
                concurrency: opts.concurrency,
                enabled: opts.local_probe,
                region: Some(prober.region().clone()),
                regions: region_universe(&opts.regions, prober.region(), opts.local_probe),
            },
            stop_scheduling.clone(),
        );

        // The coordinator's tasks: started here when this node coordinates already,
        // then switched on and off with the lease.
        let deps = cluster::Deps {
            store: store.clone(),
            opts: opts.clone(),
            region: prober.region().clone(),
            agents: agents.clone(),
            link_secret: link_secret.clone(),
            changes: changes.clone(),
            router: router.clone(),
            outbox: outbox_wake.clone(),
        };
        let running = match node.role() {
            node::Role::Coordinator { term } => {
                let fence = Fence {
                    holder: node.id(),
                    term,
                };
                Some((term, cluster::start(&deps, Some(fence)).await?))
            }
            node::Role::Follower => None,
        };
        let stop_switch = CancellationToken::new();
        let switch_task = tokio::spawn(cluster::switch(
            deps,
            node.watch(),
            running,
            stop_switch.clone(),
        ));
        let listen_task = tokio::spawn(router::listen(
            router.clone(),
            agents.clone(),
            listener,
            stop_node.clone(),
        ));
        let agents_task = tokio::spawn(agents::share(
            store.clone(),
            agents.clone(),
            node.id(),
            opts.clock.clone(),
            agent_share_every(opts.agent_poll),
            stop_node.clone(),
        ));
        let bridge_task = tokio::spawn(router::bridge_feed(router.clone(), stop_node.clone()));
        let follow_task = tokio::spawn(router::follow_nodes(
            router.clone(),
            opts.node.lease_ttl,
            stop_node.clone(),
        ));
        // Delivery runs on every node: the outbox's claims keep two nodes from
        // sending the same notification.
        let outbox_task = tokio::spawn(outbox::run(
            store.clone(),
            notifier.clone(),
            opts.clock.clone(),
            opts.alerting.outbox.clone(),
            outbox_wake,
            stop_node.clone(),
        ));
        if opts.node.announce_changes {
            router.announce_all().await;
        }
        info!(message = "engine started", region = %prober.region());
        let engine = Engine {
            inner: Arc::new(Inner {
                store: store.clone(),
                prober,
                router,
                notifier,
                link_secret,
                agents,
                local_probe: opts.local_probe,
                regions: opts.regions.clone(),
                metrics,
                clock: opts.clock.clone(),
                public_url: opts.public_url.clone(),
                changes,
                retention_raw: opts.retention_raw,
                node,
            }),
        };
        let tasks = Tasks {
            store,
            stop_scheduling,
            scheduler_task,
            stop_switch,
            switch_task,
            stop_node,
            node_tasks: vec![
                outbox_task,
                upkeep_task,
                listen_task,
                bridge_task,
                follow_task,
                agents_task,
            ],
            stop_writer,
            writer_task,
            stop_membership,
            node_task,
        };
        Ok((engine, tasks))
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    /// This node: its id and whether it coordinates.
    pub fn node(&self) -> &node::NodeHandle {
        &self.inner.node
    }
    pub fn prober(&self) -> &Prober {
        &self.inner.prober
    }
    /// A monitor's spec as this node holds it (every node keeps every monitor's, kept
    /// current by change announcements), read from the store when this node has not
    /// heard of the monitor yet; `None` when it does not exist.
    pub async fn monitor_spec(&self, id: MonitorId) -> Option<Arc<MonitorSpec>> {
        self.inner.router.spec_or_read(id).await
    }

    /// Where check results go: the coordinator's recorder.
    pub fn recorder(&self) -> Recorder<'_> {
        Recorder(&self.inner.router)
    }
    /// Incident actions: the coordinator's alerting driver.
    pub fn alerting(&self) -> Alerting<'_> {
        Alerting(&self.inner.router)
    }
    /// A monitor was created, changed, paused, resumed or deleted in the store: every
    /// node takes it up (its schedule, ping door and, on the coordinator, the engine).
    pub async fn monitor_changed(&self, id: MonitorId) {
        self.inner.router.monitor_changed(id).await;
    }
    /// The config file was applied to the store again while serving (a reload): every
    /// node takes up the monitors it changed, reloads channels, policies and
    /// maintenance windows, and drops what it cached of status pages.
    pub async fn file_applied(&self, monitors: &[MonitorId]) {
        for id in monitors {
            self.inner.router.monitor_changed(*id).await;
        }
        self.inner.router.config_changed().await;
        self.inner.router.changes.publish();
    }
    pub fn notifier(&self) -> &vigilmon_notify::Notifier {
        &self.inner.notifier
    }
    /// The secret that signs acknowledge links.
    pub fn link_secret(&self) -> &[u8] {
        &self.inner.link_secret
    }
    pub fn agents(&self) -> &agents::Agents {
        &self.inner.agents
    }
    /// Whether the built-in probe runs checks.
    pub fn local_probe(&self) -> bool {
        self.inner.local_probe
    }
    /// Regions declared in the config file.
    pub fn declared_regions(&self) -> &[RegionName] {
        &self.inner.regions
    }
    /// Pings: admitted here, applied by the coordinator's heartbeat engine.
    pub fn heartbeats(&self) -> Heartbeats<'_> {
        Heartbeats(&self.inner.router)
    }
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }
    /// Base URL of links and ping URLs (no trailing slash).
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }
    /// How long raw check results are kept.
    pub fn retention_raw(&self) -> Duration {
        self.inner.retention_raw
    }
    /// The feed of changes that public renderings depend on.
    pub fn changes(&self) -> &ChangeFeed {
        &self.inner.changes
    }
    /// The built-in probe's region.
    pub fn region(&self) -> &RegionName {
        self.inner.prober.region()
    }
    /// The regions checks are spread over (`core::schedule::region_offset`).
    pub fn region_universe(&self) -> Vec<RegionName> {
        region_universe(self.declared_regions(), self.region(), self.local_probe())
    }
}

/// Check results on their way to the coordinator.
pub struct Recorder<'a>(&'a Router);

impl Recorder<'_> {
    /// Passes a result on; waits only when the queue is full.
    pub async fn submit(&self, id: MonitorId, spec: Arc<MonitorSpec>, result: CheckResult) {
        self.0.result(id, spec, result).await;
    }

    /// Passes on a result for the monitor's history only: stored, but it moves neither
    /// its region's state nor the monitor's (an agent's result taken while it was cut
    /// off from the server, or held back in its disk buffer).
    pub async fn submit_history(&self, id: MonitorId, spec: Arc<MonitorSpec>, result: CheckResult) {
        self.0.result_as(id, spec, result, true).await;
    }

    /// Passes a result on and waits until the coordinator has stored it, returning the
    /// states it led to.
    pub async fn submit_and_wait(
        &self,
        id: MonitorId,
        spec: Arc<MonitorSpec>,
        result: CheckResult,
    ) -> Result<recorder::Recorded, String> {
        self.0.result_and_wait(id, spec, result).await
    }
}

/// Incident actions and configuration changes, on their way to the coordinator.
pub struct Alerting<'a>(&'a Router);

impl Alerting<'_> {
    pub async fn acknowledge(
        &self,
        incident: uuid::Uuid,
        by: String,
    ) -> Result<(), alerting::ActError> {
        self.0.act(incident, by, false).await
    }
    pub async fn resolve(
        &self,
        incident: uuid::Uuid,
        by: String,
    ) -> Result<(), alerting::ActError> {
        self.0.act(incident, by, true).await
    }
    /// Channels, policies or maintenance windows changed: every node's engine (where
    /// it runs) reloads them; returns once this node's has.
    pub async fn config_changed(&self) {
        self.0.config_changed().await;
    }
}

/// Pings: the door every node keeps, and the way to the heartbeat engine.
pub struct Heartbeats<'a>(&'a Router);

impl Heartbeats<'_> {
    /// See [`heartbeats::Door::admit`].
    pub fn admit(&self, target: &heartbeats::PingTarget) -> heartbeats::Admission {
        self.0.door.admit(target)
    }
    /// Whether `s` is the workspace's ping key (compared in constant time).
    pub fn is_ping_key(&self, s: &str) -> bool {
        self.0.door.is_ping_key(s)
    }
    /// The key of slug ping URLs.
    pub fn ping_key(&self) -> &str {
        self.0.door.ping_key()
    }
    /// Delivers a ping; resolves once it is stored (by the coordinator, or in the
    /// ingest table for it).
    pub async fn ping(&self, ping: heartbeats::Ping) -> heartbeats::PingReply {
        self.0.ping(ping).await
    }
}

/// The engine's running tasks, for an orderly stop.
pub struct Tasks {
    store: Store,
    stop_scheduling: CancellationToken,
    scheduler_task: tokio::task::JoinHandle<()>,
    /// The coordinator's tasks, while this node coordinates.
    stop_switch: CancellationToken,
    switch_task: tokio::task::JoinHandle<()>,
    /// What every node runs: delivery, metrics upkeep, the listener, the feed bridge,
    /// the probe split.
    stop_node: CancellationToken,
    node_tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The ingest writer: stopped once nothing passes work on any more.
    stop_writer: CancellationToken,
    writer_task: tokio::task::JoinHandle<()>,
    /// The node's membership and lease: stopped last, so the lease is given up only
    /// once this node's coordinator tasks have written their last.
    stop_membership: CancellationToken,
    node_task: tokio::task::JoinHandle<()>,
}

impl Tasks {
    /// Stops in order once the HTTP front has stopped: scheduling stops and checks in
    /// flight finish and pass their results on; the coordinator tasks (where they run)
    /// stop in their order (`cluster::Cluster::shutdown`); the node's own tasks stop;
    /// the ingest writer writes what is queued; the lease is given up and the store
    /// closes.
    pub async fn shutdown(self, engine: Engine) {
        info!(message = "shutting down: finishing checks in flight and writing the last results");
        self.stop_scheduling.cancel();
        let _ = self.scheduler_task.await;
        self.stop_switch.cancel();
        let _ = self.switch_task.await;
        drop(engine);
        self.stop_node.cancel();
        for t in self.node_tasks {
            let _ = t.await;
        }
        self.stop_writer.cancel();
        let _ = self.writer_task.await;
        self.stop_membership.cancel();
        let _ = self.node_task.await;
        self.store.close().await;
        info!(message = "stopped");
    }
}

/// The regions checks are spread over (`core::schedule::region_offset`): those declared in
/// the config file and the built-in probe's, when it runs checks.
pub fn region_universe(
    declared: &[RegionName],
    builtin: &RegionName,
    local_probe: bool,
) -> Vec<RegionName> {
    let mut v: Vec<RegionName> = declared
        .iter()
        .filter(|r| local_probe || *r != builtin)
        .cloned()
        .collect();
    if local_probe {
        v.push(builtin.clone());
    }
    v.sort();
    v.dedup();
    v
}

/// `bytes` random bytes as hex: server secrets.
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}
