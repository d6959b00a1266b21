//! Vigilmon's control plane: the HTTP API, the scheduler and built-in probe, the
//! recorder that turns check results into state, retention and metrics.
//!
//! The binary opens the store and binds the socket; [`run`] takes both (the caller
//! binds, so tests use port 0) and serves until the shutdown token is cancelled, then
//! stops the scheduler, waits for checks in flight, writes the last results and
//! returns.

pub mod agents;
pub mod alerting;
pub mod api;
pub mod auth;
pub mod heartbeats;
pub(crate) mod limit;
mod links;
pub mod metrics;
pub mod outbox;
mod ping;
pub mod recorder;
pub mod region_health;
pub mod retention;
pub mod status;
pub mod sync;
pub mod ui;
mod web;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use jiff::Timestamp;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};
use vigilmon_core::{MonitorId, MonitorSpec, RegionName};
use vigilmon_probe::{ProbeOptions, Prober};
use vigilmon_store::Store;

use recorder::RecorderHandle;
use vigilmon_schedule::clock::SharedClock;
use vigilmon_schedule::scheduler::{self, CheckExecutor, SchedulerConfig, SchedulerHandle};

/// Everything the server needs besides the store and the socket.
#[derive(Clone)]
pub struct ServerOptions {
    /// Base URL for links (and, later, ping URLs).
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

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("storage: {0}")]
    Store(#[from] vigilmon_store::StoreError),
    #[error("probe setup: {0}")]
    Probe(String),
    #[error("notifier setup: {0}")]
    Notify(String),
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
}

/// Shared state of the HTTP handlers. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
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
    status: status::StatusState,
}

impl AppState {
    pub fn store(&self) -> &Store {
        &self.inner.store
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
    pub(crate) fn link_secret(&self) -> &[u8] {
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
    /// The ping URL of a heartbeat token.
    pub fn ping_url(&self, token: &str) -> String {
        format!("{}/ping/{token}", self.inner.public_url)
    }
    /// The slug ping URL of a heartbeat monitor.
    pub fn slug_ping_url(&self, slug: &str) -> String {
        format!(
            "{}/ping/{}/{slug}",
            self.inner.public_url,
            self.inner.heartbeats.ping_key()
        )
    }
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }
    /// Status pages: render caches and the custom-domain map.
    pub fn status(&self) -> &status::StatusState {
        &self.inner.status
    }
    pub fn region(&self) -> &RegionName {
        self.inner.prober.region()
    }
}

/// The production check: probe from this server's region, then record.
struct ProbeAndRecord {
    prober: Prober,
    recorder: RecorderHandle,
}

impl CheckExecutor for ProbeAndRecord {
    fn execute(
        &self,
        id: MonitorId,
        spec: Arc<MonitorSpec>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let prober = self.prober.clone();
        let recorder = self.recorder.clone();
        Box::pin(async move {
            let result = prober.check(&spec.check, spec.timeout).await;
            recorder.submit(id, spec, result).await;
        })
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    api::router()
        .merge(web::router())
        .merge(ui::router())
        .merge(ping::router())
        .merge(links::router())
        .merge(status::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            status::public::custom_domain,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            api::extract::MAX_BODY_BYTES,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The regions checks are spread over (`schedule::region_offset`): those declared in
/// the config file and the built-in probe's, when it runs checks.
pub(crate) fn region_universe(
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

/// Runs the server on `listener` until `shutdown` is cancelled, then shuts down in
/// order: stop accepting, stop scheduling, finish checks in flight, write the last
/// results, close the store.
pub async fn run(
    listener: TcpListener,
    store: Store,
    opts: ServerOptions,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let metrics = metrics::install();
    let upkeep_task = tokio::spawn(metrics::upkeep(metrics.clone(), shutdown.child_token()));
    let prober = Prober::new(opts.probe.clone()).map_err(|e| ServerError::Probe(e.to_string()))?;
    let notifier =
        vigilmon_notify::Notifier::new(opts.alerting.smtp.clone(), opts.alerting.send_timeout)
            .map_err(|e| ServerError::Notify(e.to_string()))?;
    let link_secret = hex::decode(
        store
            .setting_or_insert(
                "link_secret",
                &auth::generate_token()[auth::TOKEN_PREFIX.len()..],
            )
            .await?,
    )
    .unwrap_or_default();
    let stop_alerting = CancellationToken::new();
    let (alerting, alerting_task) = alerting::start(
        store.clone(),
        opts.clock.clone(),
        alerting::AlertingConfig {
            public_url: opts.public_url.clone(),
            link_secret: link_secret.clone(),
            link_ttl: opts.alerting.link_ttl,
        },
        stop_alerting.clone(),
    )
    .await?;
    let outbox_task = tokio::spawn(outbox::run(
        store.clone(),
        notifier.clone(),
        opts.clock.clone(),
        opts.alerting.outbox.clone(),
        alerting.outbox_notify(),
        stop_alerting.clone(),
    ));
    // The confirmation cascade: a first failure in one region asks the others to
    // check now. The scheduler is made after the recorder, hence the cell.
    let agents = Arc::new(agents::Agents::new(opts.agent_poll));
    let scheduler_cell: Arc<std::sync::OnceLock<SchedulerHandle>> = Arc::default();
    let confirm: recorder::Confirm = {
        let (agents, cell, clock, local) = (
            agents.clone(),
            scheduler_cell.clone(),
            opts.clock.clone(),
            prober.region().clone(),
        );
        let local_probe = opts.local_probe;
        Arc::new(
            move |id: MonitorId, spec: &MonitorSpec, failing: &RegionName| {
                let now = clock.now();
                if local_probe
                    && failing != &local
                    && spec.runs_in(&local)
                    && let Some(s) = cell.get()
                {
                    s.run_now(id);
                }
                for r in agents.live_regions(now) {
                    if &r != failing && spec.runs_in(&r) {
                        agents.request_check(&r, id, now);
                    }
                }
            },
        )
    };
    let (recorder, recorder_task) =
        recorder::start(store.clone(), Some(alerting.clone()), Some(confirm)).await?;

    let mut initial = Vec::new();
    for rec in store.list_monitors().await? {
        match rec.config.build() {
            Ok(spec) => initial.push((rec.id, Arc::new(spec))),
            Err(errs) => error!(
                message = "stored monitor is invalid and will not run",
                monitor_id = %rec.id,
                name = %rec.config.name,
                error = %errs.first().map(ToString::to_string).unwrap_or_default()
            ),
        }
    }
    info!(message = "scheduling monitors", count = initial.len(), region = %prober.region());
    let executor = Arc::new(ProbeAndRecord {
        prober: prober.clone(),
        recorder: recorder.clone(),
    });
    let stop_scheduling = shutdown.child_token();
    let (scheduler, scheduler_task) = scheduler::start(
        initial,
        executor,
        opts.clock.clone(),
        SchedulerConfig {
            concurrency: opts.concurrency,
            enabled: opts.local_probe,
            region: Some(prober.region().clone()),
            regions: region_universe(&opts.regions, prober.region(), opts.local_probe),
        },
        stop_scheduling.clone(),
    );
    let stop_heartbeats = CancellationToken::new();
    let (heartbeats, heartbeat_task) = heartbeats::start(
        store.clone(),
        opts.clock.clone(),
        opts.heartbeats.clone(),
        Some(alerting.clone()),
        stop_heartbeats.clone(),
    )
    .await?;
    let _ = scheduler_cell.set(scheduler.clone());
    let retention_task = tokio::spawn(retention::run(
        store.clone(),
        opts.clock.clone(),
        opts.retention_raw,
        opts.retention_every,
        shutdown.child_token(),
    ));
    let region_task = tokio::spawn(region_health::run(
        store.clone(),
        region_health::RegionHealthConfig {
            agents: agents.clone(),
            clock: opts.clock.clone(),
            declared: opts.regions.clone(),
            builtin: Some(prober.region().clone()),
            policy: opts.alerting.region_policy.clone(),
            public_url: opts.public_url.clone(),
            outbox: alerting.outbox_notify(),
        },
        shutdown.child_token(),
    ));
    let rollup_task = tokio::spawn(status::rollup::run(
        store.clone(),
        opts.clock.clone(),
        shutdown.child_token(),
    ));

    let state = AppState {
        inner: Arc::new(Inner {
            store: store.clone(),
            prober,
            scheduler,
            recorder,
            heartbeats,
            alerting,
            notifier,
            link_secret,
            agents,
            local_probe: opts.local_probe,
            regions: opts.regions.clone(),
            metrics,
            clock: opts.clock.clone(),
            public_url: opts.public_url.clone(),
            status: status::StatusState::default(),
        }),
    };
    let served = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .await;
    info!(message = "shutting down: finishing checks in flight and writing the last results");
    stop_scheduling.cancel();
    let _ = scheduler_task.await;
    let _ = retention_task.await;
    let _ = rollup_task.await;
    let _ = region_task.await;
    // Requests are finished: stop the heartbeat engine, which answers what is queued
    // and lets its writer commit the last batch.
    stop_heartbeats.cancel();
    let _ = heartbeat_task.await;
    // Every recorder handle is gone once the scheduler and the app are: the recorder
    // drains its queue, writes, and ends.
    let _ = recorder_task.await;
    // Last, the alerting driver (it has seen every state change by now) and the
    // outbox worker, which finishes the delivery in hand.
    stop_alerting.cancel();
    let _ = alerting_task.await;
    let _ = outbox_task.await;
    let _ = upkeep_task.await;
    store.close().await;
    info!(message = "stopped");
    served.map_err(ServerError::from)
}
