//! The tasks that must run once per cluster, started and stopped as a unit: the
//! scheduler of the built-in probe, the recorder (results → consensus → state), the
//! alerting driver (the incident engine), the heartbeat engine (deadlines), region
//! health, retention and rollups.
//!
//! With one process, that process runs them. With several nodes on one database, a
//! coordinator lease decides which node does; this module is the one switch it needs.
//!
//! Wiring without cycles: the recorder asks other regions for confirmation checks
//! through the scheduler, and the scheduler's executor records into the recorder. The
//! scheduler's handle is therefore made first (`scheduler::channel`), given to the
//! recorder's confirmation step, and the scheduler itself is started on that inbox once
//! the recorder exists.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{error, info};
use vigilmon_core::{MonitorId, MonitorSpec, RegionName};
use vigilmon_probe::Prober;
use vigilmon_schedule::scheduler::{self, CheckExecutor, SchedulerConfig, SchedulerHandle};
use vigilmon_store::Store;

use crate::agents::Agents;
use crate::links::LinkSigner;
use crate::recorder::{self, RecorderHandle};
use crate::{
    ChangeFeed, Engine, EngineError, EngineOptions, alerting, heartbeats, region_health,
    region_universe, retention, rollup,
};

/// The handles of the cluster tasks.
pub(crate) struct Handles {
    pub scheduler: SchedulerHandle,
    pub recorder: RecorderHandle,
    pub heartbeats: heartbeats::HeartbeatHandle,
    pub alerting: alerting::AlertingHandle,
}

/// The running cluster tasks.
pub(crate) struct Cluster {
    stop_scheduling: CancellationToken,
    stop_heartbeats: CancellationToken,
    stop_alerting: CancellationToken,
    scheduler: tokio::task::JoinHandle<()>,
    retention: tokio::task::JoinHandle<()>,
    rollup: tokio::task::JoinHandle<()>,
    region_health: tokio::task::JoinHandle<()>,
    heartbeats: tokio::task::JoinHandle<()>,
    recorder: tokio::task::JoinHandle<()>,
    alerting: tokio::task::JoinHandle<()>,
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

/// Starts the cluster tasks from what the store holds.
pub(crate) async fn start(
    store: &Store,
    opts: &EngineOptions,
    prober: &Prober,
    agents: &Arc<Agents>,
    link_secret: Vec<u8>,
    changes: ChangeFeed,
) -> Result<(Handles, Cluster), EngineError> {
    let stop_alerting = CancellationToken::new();
    let (alerting, alerting_task) = alerting::start(
        store.clone(),
        opts.clock.clone(),
        changes.clone(),
        LinkSigner {
            public_url: opts.public_url.clone(),
            secret: link_secret,
            ttl: opts.alerting.link_ttl,
        },
        stop_alerting.clone(),
    )
    .await?;
    let (scheduler, inbox) = scheduler::channel();
    let confirm = confirmation_requests(
        scheduler.clone(),
        agents.clone(),
        opts,
        prober.region().clone(),
    );
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
    let stop_scheduling = CancellationToken::new();
    let scheduler_task = inbox.spawn(
        initial,
        Arc::new(ProbeAndRecord {
            prober: prober.clone(),
            recorder: recorder.clone(),
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
    let stop_heartbeats = CancellationToken::new();
    let (heartbeats, heartbeat_task) = heartbeats::start(
        store.clone(),
        opts.clock.clone(),
        opts.heartbeats.clone(),
        Some(alerting.clone()),
        stop_heartbeats.clone(),
    )
    .await?;
    let retention_task = tokio::spawn(retention::run(
        store.clone(),
        opts.clock.clone(),
        opts.retention_raw,
        opts.retention_every,
        stop_scheduling.clone(),
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
        stop_scheduling.clone(),
    ));
    let rollup_task = tokio::spawn(rollup::run(
        store.clone(),
        opts.clock.clone(),
        changes,
        stop_scheduling.clone(),
    ));
    Ok((
        Handles {
            scheduler,
            recorder,
            heartbeats,
            alerting,
        },
        Cluster {
            stop_scheduling,
            stop_heartbeats,
            stop_alerting,
            scheduler: scheduler_task,
            retention: retention_task,
            rollup: rollup_task,
            region_health: region_task,
            heartbeats: heartbeat_task,
            recorder: recorder_task,
            alerting: alerting_task,
        },
    ))
}

/// The confirmation cascade: a first failure in one region asks the monitor's other
/// regions to check now — the built-in probe through the scheduler, each live agent
/// region through its owning agent's long poll.
fn confirmation_requests(
    scheduler: SchedulerHandle,
    agents: Arc<Agents>,
    opts: &EngineOptions,
    local: RegionName,
) -> recorder::Confirm {
    let clock = opts.clock.clone();
    let local_probe = opts.local_probe;
    Arc::new(
        move |id: MonitorId, spec: &MonitorSpec, failing: &RegionName| {
            let now = clock.now();
            if local_probe && failing != &local && spec.runs_in(&local) {
                scheduler.run_now(id);
            }
            for r in agents.live_regions(now) {
                if &r != failing && spec.runs_in(&r) {
                    agents.request_check(&r, id, now);
                }
            }
        },
    )
}

impl Cluster {
    /// Stops the cluster tasks in order (see `Tasks::shutdown`).
    pub(crate) async fn shutdown(self, engine: Engine) {
        self.stop_scheduling.cancel();
        let _ = self.scheduler.await;
        let _ = self.retention.await;
        let _ = self.rollup.await;
        let _ = self.region_health.await;
        // Requests are finished: stop the heartbeat engine, which answers what is
        // queued and lets its writer commit the last batch.
        self.stop_heartbeats.cancel();
        let _ = self.heartbeats.await;
        // Every recorder handle is gone once the scheduler, the HTTP front and this
        // last engine handle are: the recorder drains its queue, writes, and ends.
        drop(engine);
        let _ = self.recorder.await;
        // Last, the alerting driver (it has seen every state change by now).
        self.stop_alerting.cancel();
        let _ = self.alerting.await;
    }
}
