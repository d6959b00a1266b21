//! The tasks that must run once per cluster, started and stopped as a unit: the
//! recorder (results → consensus → state), the alerting driver (the incident engine),
//! the heartbeat engine (deadlines), region health, retention, rollups, and the loop
//! that applies what other nodes passed on (`router::consume`).
//!
//! [`switch`] is the one switch: it starts them when this node becomes the
//! coordinator and stops them when it no longer is, every write carrying the lease's
//! term ([`Fence`]). The built-in probe's scheduler is not among them: every node runs
//! its share of the probe (see `router`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};
use vigilmon_core::{MonitorId, MonitorSpec, RegionName};
use vigilmon_probe::Prober;
use vigilmon_schedule::scheduler::CheckExecutor;
use vigilmon_store::{Fence, Store};

use crate::agents::Agents;
use crate::links::LinkSigner;
use crate::node::Role;
use crate::router::{Local, Router};
use crate::{
    ChangeFeed, EngineError, EngineOptions, alerting, heartbeats, recorder, region_health,
    retention, rollup,
};

/// What the coordinator's tasks are made from, kept by the switch.
pub(crate) struct Deps {
    pub store: Store,
    pub opts: EngineOptions,
    pub region: RegionName,
    pub agents: Arc<Agents>,
    pub link_secret: Vec<u8>,
    pub changes: ChangeFeed,
    pub router: Arc<Router>,
    /// Wakes this node's delivery worker.
    pub outbox: Arc<Notify>,
}

/// The running coordinator tasks.
pub(crate) struct Cluster {
    stop_tasks: CancellationToken,
    stop_heartbeats: CancellationToken,
    stop_alerting: CancellationToken,
    consume: tokio::task::JoinHandle<()>,
    retention: tokio::task::JoinHandle<()>,
    rollup: tokio::task::JoinHandle<()>,
    region_health: tokio::task::JoinHandle<()>,
    node_health: Option<tokio::task::JoinHandle<()>>,
    heartbeats: tokio::task::JoinHandle<()>,
    recorder: tokio::task::JoinHandle<()>,
    alerting: tokio::task::JoinHandle<()>,
}

/// The production check: probe from this server's region, then pass the result on.
pub(crate) struct ProbeAndRecord {
    pub prober: Prober,
    pub router: Arc<Router>,
}

impl CheckExecutor for ProbeAndRecord {
    fn execute(
        &self,
        id: MonitorId,
        spec: Arc<MonitorSpec>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let prober = self.prober.clone();
        let router = self.router.clone();
        Box::pin(async move {
            let result = prober.check(&spec.check, spec.timeout).await;
            router.result(id, spec, result).await;
        })
    }
}

/// Starts the coordinator tasks from what the store holds, writing under `fence`,
/// and routes this node's work to them.
pub(crate) async fn start(d: &Deps, fence: Option<Fence>) -> Result<Cluster, EngineError> {
    let opts = &d.opts;
    let stop_alerting = CancellationToken::new();
    let (alerting, alerting_task) = alerting::start(
        d.store.clone(),
        opts.clock.clone(),
        d.changes.clone(),
        LinkSigner {
            public_url: opts.public_url.clone(),
            secret: d.link_secret.clone(),
            ttl: opts.alerting.link_ttl,
        },
        d.outbox.clone(),
        fence,
        stop_alerting.clone(),
    )
    .await?;
    let confirm = confirmation_requests(d.router.clone(), d.agents.clone(), opts, d.region.clone());
    let (recorder, recorder_task) = recorder::start(
        d.store.clone(),
        Some(alerting.clone()),
        Some(confirm),
        fence,
    )
    .await?;
    let stop_heartbeats = CancellationToken::new();
    let (heartbeats, heartbeat_task) = heartbeats::start(
        d.store.clone(),
        opts.clock.clone(),
        opts.heartbeats.clone(),
        d.router.door.clone(),
        Some(alerting.clone()),
        fence,
        stop_heartbeats.clone(),
    )
    .await?;
    let stop_tasks = CancellationToken::new();
    let retention_task = tokio::spawn(retention::run(
        d.store.clone(),
        opts.clock.clone(),
        opts.retention_raw,
        opts.retention_every,
        fence,
        stop_tasks.clone(),
    ));
    let region_task = tokio::spawn(region_health::run(
        d.store.clone(),
        region_health::RegionHealthConfig {
            agents: d.agents.clone(),
            clock: opts.clock.clone(),
            declared: opts.regions.clone(),
            builtin: Some(d.region.clone()),
            policy: opts.alerting.region_policy.clone(),
            public_url: opts.public_url.clone(),
            outbox: d.outbox.clone(),
            fence,
        },
        stop_tasks.clone(),
    ));
    // The cluster's own health: only where nodes can come and go.
    let node_health_task = match fence {
        Some(fence) if d.store.is_shared() => Some(tokio::spawn(crate::node_health::run(
            d.store.clone(),
            crate::node_health::NodeHealthConfig {
                me: d.router.node,
                fence,
                ttl: opts.node.lease_ttl,
                policy: opts.alerting.region_policy.clone(),
                public_url: opts.public_url.clone(),
                outbox: d.outbox.clone(),
            },
            stop_tasks.clone(),
        ))),
        _ => None,
    };
    let rollup_task = tokio::spawn(rollup::run(
        d.store.clone(),
        opts.clock.clone(),
        d.changes.clone(),
        fence,
        stop_tasks.clone(),
    ));
    let local = Local {
        recorder,
        heartbeats,
        alerting,
    };
    d.router.set_local(Some(local.clone()));
    let consume_task = tokio::spawn(crate::router::consume(
        d.router.clone(),
        local,
        fence,
        stop_tasks.clone(),
    ));
    Ok(Cluster {
        stop_tasks,
        stop_heartbeats,
        stop_alerting,
        consume: consume_task,
        retention: retention_task,
        rollup: rollup_task,
        region_health: region_task,
        node_health: node_health_task,
        heartbeats: heartbeat_task,
        recorder: recorder_task,
        alerting: alerting_task,
    })
}

/// The confirmation cascade: a first failure in one region asks the monitor's other
/// regions to check now — the built-in probe on whichever node owns the monitor, each
/// live agent region through its owning agent's long poll.
fn confirmation_requests(
    router: Arc<Router>,
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
                router.confirm(id);
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
    /// Stops the coordinator tasks in order: new work goes to the ingest table from
    /// here on; the ingest loop, retention, rollups and region health stop; the
    /// heartbeat engine answers what is queued and writes its last batch; the recorder
    /// writes its queue once its last handle is gone; last, the alerting driver.
    pub(crate) async fn shutdown(self, router: &Router) {
        let local = router.set_local(None);
        self.stop_tasks.cancel();
        let _ = self.consume.await;
        let _ = self.retention.await;
        let _ = self.rollup.await;
        let _ = self.region_health.await;
        if let Some(t) = self.node_health {
            let _ = t.await;
        }
        self.stop_heartbeats.cancel();
        let _ = self.heartbeats.await;
        drop(local);
        let _ = self.recorder.await;
        self.stop_alerting.cancel();
        let _ = self.alerting.await;
    }
}

/// The one switch: runs the coordinator tasks while this node holds the lease, under
/// its term, and stops them as soon as it does not. `running` is what was started
/// before this task (a lone node coordinates from its first moment).
pub(crate) async fn switch(
    d: Deps,
    mut role: watch::Receiver<Role>,
    mut running: Option<(i64, Cluster)>,
    stop: CancellationToken,
) {
    let node = d.router.node;
    loop {
        let want = *role.borrow_and_update();
        let current = running.as_ref().map(|(t, _)| *t);
        let mut retry = false;
        match want {
            Role::Coordinator { term } if current != Some(term) => {
                if let Some((old, c)) = running.take() {
                    info!(
                        message = "stopping the coordinator tasks of an earlier term",
                        term = old
                    );
                    c.shutdown(&d.router).await;
                }
                let fence = Fence { holder: node, term };
                match start(&d, Some(fence)).await {
                    Ok(c) => {
                        info!(message = "coordinator tasks started", term);
                        running = Some((term, c));
                    }
                    Err(e) => {
                        error!(message = "could not start the coordinator tasks; trying again", error = %e);
                        retry = true;
                    }
                }
            }
            Role::Follower => {
                if let Some((term, c)) = running.take() {
                    info!(message = "stopping the coordinator tasks", term);
                    c.shutdown(&d.router).await;
                }
            }
            Role::Coordinator { .. } => {}
        }
        tokio::select! {
            () = stop.cancelled() => break,
            r = role.changed() => if r.is_err() { break },
            () = tokio::time::sleep(Duration::from_secs(1)), if retry => {}
        }
    }
    if let Some((_, c)) = running {
        c.shutdown(&d.router).await;
    }
}
