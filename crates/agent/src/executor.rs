//! Running checks: the executor the scheduler calls for each due monitor, and the wait
//! loop that runs checks at once when the server asks for them.
//!
//! Both go through [`Executor::check`]: at most `concurrency` checks in flight (a
//! semaphore of the executor's own, so that checks requested by the server share the
//! scheduler's limit), each run with the agent's [`Prober`] (whose region is the
//! agent's), its result queued for the sender. The queue closes when the last executor
//! clone is dropped, which is how the sender learns that every check has finished.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use vigilmon_core::{MonitorId, MonitorSpec, Verdict};
use vigilmon_probe::Prober;
use vigilmon_schedule::scheduler::CheckExecutor;

use crate::assignments::SharedSpecs;
use crate::backoff::Backoff;
use crate::client::{ApiError, Reach, ServerClient};
use crate::counters::Counters;
use crate::{AgentError, Fatal};
use vigilmon_core::protocol::ResultItem;

/// Runs checks and queues their results. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    prober: Prober,
    permits: Semaphore,
    results: mpsc::Sender<ResultItem>,
    counters: Arc<Counters>,
    reach: Reach,
}

impl Executor {
    pub(crate) fn new(
        prober: Prober,
        concurrency: usize,
        results: mpsc::Sender<ResultItem>,
        counters: Arc<Counters>,
        reach: Reach,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                prober,
                permits: Semaphore::new(concurrency.max(1)),
                results,
                counters,
                reach,
            }),
        }
    }

    /// Runs one check of `id` and queues the result (`on_request`: asked for by the
    /// server, outside the schedule).
    pub(crate) async fn check(&self, id: MonitorId, spec: Arc<MonitorSpec>, on_request: bool) {
        let Ok(_permit) = self.inner.permits.acquire().await else {
            return;
        };
        // Cut off from the server when the check starts or ends: likely cut off from
        // the target too, so the result is history, not evidence.
        let cut_off = self.inner.reach.is_cut_off();
        let result = self.inner.prober.check(&spec.check, spec.timeout).await;
        let offline = cut_off || self.inner.reach.is_cut_off();
        self.inner.counters.check_run(on_request);
        if let Verdict::Down { kind, message } = &result.verdict {
            debug!(message = "check failed", monitor = %id, name = %spec.name, kind = kind.as_str(), reason = %message);
        }
        let item = ResultItem {
            monitor_id: id,
            result,
            offline,
        };
        if self.inner.results.send(item).await.is_err() {
            warn!(message = "the result queue is closed; a result is lost", monitor = %id);
        }
    }
}

impl CheckExecutor for Executor {
    fn execute(
        &self,
        id: MonitorId,
        spec: Arc<MonitorSpec>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let me = self.clone();
        Box::pin(async move { me.check(id, spec, false).await })
    }
}

/// Settings of the wait loop.
pub(crate) struct WaitSettings {
    /// The long poll's `timeout_ms`.
    pub timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

/// Keeps one `GET /api/v1/agent/wait` open at all times until `stop`, and runs the
/// checks it returns (those of monitors in the current assignment) at once.
pub(crate) async fn wait_loop(
    client: ServerClient,
    specs: SharedSpecs,
    executor: Executor,
    settings: WaitSettings,
    stop: CancellationToken,
    fatal: Fatal,
) {
    let mut backoff = Backoff::new(settings.backoff_min, settings.backoff_max);
    let mut failing = false;
    loop {
        let answer = tokio::select! {
            () = stop.cancelled() => return,
            a = client.wait(settings.timeout) => a,
        };
        let delay = match answer {
            Ok(ids) => {
                backoff.reset();
                failing = false;
                run_requested(&ids, &specs, &executor);
                continue;
            }
            Err(ApiError::Unauthorized { status, message }) => {
                fatal.set(AgentError::Unauthorized { status, message });
                return;
            }
            Err(e) => {
                let delay = backoff.next_delay();
                if failing {
                    debug!(message = "the wait request failed again", error = %e, retry_in = ?delay);
                } else {
                    warn!(message = "the wait request failed", error = %e, retry_in = ?delay);
                    failing = true;
                }
                delay
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Starts a check of each requested monitor that is assigned here (once each).
fn run_requested(ids: &[MonitorId], specs: &SharedSpecs, executor: &Executor) {
    if ids.is_empty() {
        return;
    }
    let mut seen = HashSet::new();
    let specs = specs.read().unwrap_or_else(|e| e.into_inner());
    for id in ids {
        if !seen.insert(*id) {
            continue;
        }
        match specs.get(id) {
            Some(spec) if spec.is_probed() => {
                debug!(message = "check requested by the server", monitor = %id);
                let (ex, spec, id) = (executor.clone(), spec.clone(), *id);
                tokio::spawn(async move { ex.check(id, spec, true).await });
            }
            _ => {
                debug!(message = "ignoring a requested check of a monitor not assigned here", monitor = %id)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigilmon_core::RegionName;
    use vigilmon_probe::ProbeOptions;

    #[tokio::test]
    async fn requested_checks_run_once_each_and_only_for_assigned_monitors() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let spec: MonitorSpec = crate::assignments::build_spec(&serde_json::json!({
            "name": "t", "type": "tcp", "host": "127.0.0.1", "port": port, "interval": "10s"
        }))
        .unwrap();
        let assigned = MonitorId::from_uuid(uuid::Uuid::from_u128(1));
        let stranger = MonitorId::from_uuid(uuid::Uuid::from_u128(2));
        let specs: SharedSpecs = Arc::default();
        specs.write().unwrap().insert(assigned, Arc::new(spec));
        let (tx, mut rx) = mpsc::channel(16);
        let counters = Arc::new(Counters::default());
        let prober = Prober::new(ProbeOptions::new(RegionName::parse("eu").unwrap())).unwrap();
        let ex = Executor::new(prober, 4, tx, counters.clone(), Reach::default());
        run_requested(&[assigned, stranger, assigned], &specs, &ex);
        drop(ex);
        let mut got = Vec::new();
        while let Some(item) = rx.recv().await {
            got.push(item);
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].monitor_id, assigned);
        assert_eq!(got[0].result.region.as_str(), "eu");
        assert!(got[0].result.verdict.is_ok(), "{:?}", got[0].result.verdict);
        let s = counters.snapshot();
        assert_eq!((s.checks_run, s.confirmations), (1, 1));
    }

    /// Results taken while the agent's requests fail to reach the server are marked
    /// `offline`; once a request gets through again, they are not.
    #[tokio::test]
    async fn results_taken_while_cut_off_are_marked_offline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let spec = Arc::new(
            crate::assignments::build_spec(&serde_json::json!({
                "name": "t", "type": "tcp", "host": "127.0.0.1", "port": port, "interval": "10s"
            }))
            .unwrap(),
        );
        let id = MonitorId::from_uuid(uuid::Uuid::from_u128(1));
        let (tx, mut rx) = mpsc::channel(16);
        let prober = Prober::new(ProbeOptions::new(RegionName::parse("eu").unwrap())).unwrap();
        // A client whose server does not answer: its failed request marks the cut.
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead_url = url::Url::parse(&format!("http://{}", dead.local_addr().unwrap())).unwrap();
        drop(dead);
        let client = ServerClient::new(&dead_url, "t", &[], Duration::from_secs(2)).unwrap();
        let ex = Executor::new(prober, 4, tx, Arc::new(Counters::default()), client.reach());

        ex.check(id, spec.clone(), false).await;
        assert!(
            !rx.recv().await.unwrap().offline,
            "reachable until shown otherwise"
        );
        assert!(client.assignments(None).await.is_err());
        assert!(client.reach().is_cut_off());
        ex.check(id, spec.clone(), false).await;
        assert!(rx.recv().await.unwrap().offline);
        client.reach().set_cut_off(false);
        ex.check(id, spec, false).await;
        assert!(!rx.recv().await.unwrap().offline);
    }
}
