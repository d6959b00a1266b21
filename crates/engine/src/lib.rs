//! Vigilmon's runtime: everything that happens without a request asking for it.
//!
//! [`Engine::start`] opens nothing (the caller gives it the store) and starts the
//! tasks, each the single owner of its state, talking over channels:
//!
//! | task | module | runs on |
//! |---|---|---|
//! | scheduler of the built-in probe | `vigilmon_schedule::scheduler` | the coordinator |
//! | recorder: results → region streaks → consensus → store | [`recorder`] | the coordinator |
//! | alerting driver: state changes → incident engine → incidents, outbox | [`alerting`] | the coordinator |
//! | heartbeat engine: pings, deadlines | [`heartbeats`] | the coordinator |
//! | region health: silent agent regions → operational alerts | [`region_health`] | the coordinator |
//! | retention of raw results | [`retention`] | the coordinator |
//! | rollups of results per hour and day | [`rollup`] | the coordinator |
//! | outbox delivery | [`outbox`] | every node |
//! | metrics upkeep | [`metrics`] | every node |
//!
//! The tasks that must run once per cluster are started together by
//! [`cluster::start`] under one cancellation token, apart from what every node runs,
//! so that a coordinator lease can later start and stop them as a unit. Today one
//! process is the whole cluster and starts both groups.
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
pub mod outbox;
pub mod recorder;
pub mod region_health;
pub mod retention;
pub mod rollup;
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
use vigilmon_probe::{ProbeOptions, Prober};
use vigilmon_schedule::clock::SharedClock;
use vigilmon_schedule::scheduler::SchedulerHandle;
use vigilmon_store::Store;

pub use changes::ChangeFeed;

use recorder::RecorderHandle;

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
    scheduler: SchedulerHandle,
    recorder: RecorderHandle,
    heartbeats: heartbeats::HeartbeatHandle,
    alerting: alerting::AlertingHandle,
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
        let (handles, cluster) = cluster::start(
            &store,
            &opts,
            &prober,
            &agents,
            link_secret.clone(),
            changes.clone(),
        )
        .await?;
        // Delivery runs on every node: the outbox's claims keep two nodes from
        // sending the same notification.
        let outbox_task = tokio::spawn(outbox::run(
            store.clone(),
            notifier.clone(),
            opts.clock.clone(),
            opts.alerting.outbox.clone(),
            handles.alerting.outbox_notify(),
            stop_node.clone(),
        ));
        info!(message = "engine started", region = %prober.region());
        let engine = Engine {
            inner: Arc::new(Inner {
                store: store.clone(),
                prober,
                scheduler: handles.scheduler,
                recorder: handles.recorder,
                heartbeats: handles.heartbeats,
                alerting: handles.alerting,
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
            cluster,
            stop_node,
            outbox_task,
            upkeep_task,
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
    pub fn scheduler(&self) -> &SchedulerHandle {
        &self.inner.scheduler
    }
    pub fn recorder(&self) -> &RecorderHandle {
        &self.inner.recorder
    }
    pub fn alerting(&self) -> &alerting::AlertingHandle {
        &self.inner.alerting
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
    pub fn heartbeats(&self) -> &heartbeats::HeartbeatHandle {
        &self.inner.heartbeats
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

/// The engine's running tasks, for an orderly stop.
pub struct Tasks {
    store: Store,
    cluster: cluster::Cluster,
    stop_node: CancellationToken,
    outbox_task: tokio::task::JoinHandle<()>,
    upkeep_task: tokio::task::JoinHandle<()>,
    /// The node's membership and lease: stopped last, so the lease is given up only
    /// once this node's coordinator tasks have written their last.
    stop_membership: CancellationToken,
    node_task: tokio::task::JoinHandle<()>,
}

impl Tasks {
    /// Stops in order once the HTTP front has stopped: scheduling stops and checks in
    /// flight finish, the heartbeat engine answers what is queued, the recorder writes
    /// its last batch (it ends when the last handle is gone, so `engine` — the
    /// caller's last handle — is dropped here), the alerting driver takes its last
    /// step, the outbox worker finishes the delivery in hand, and the store closes.
    pub async fn shutdown(self, engine: Engine) {
        info!(message = "shutting down: finishing checks in flight and writing the last results");
        self.cluster.shutdown(engine).await;
        self.stop_node.cancel();
        let _ = self.outbox_task.await;
        let _ = self.upkeep_task.await;
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
