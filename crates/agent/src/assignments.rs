//! The assignment: which monitors this agent checks, kept in step with the server.
//!
//! The poll loop asks `GET /api/v1/agent/assignments` every `poll_interval_ms` (±10 %
//! jitter) with the last ETag; a `304` changes nothing. On a `200` the new monitor set
//! is compared with the current one ([`diff`]): new and changed monitors are validated
//! with `MonitorConfig::build` (the server's own code) and upserted into the
//! scheduler, invalid ones are skipped with a warning, and monitors that left the
//! assignment are removed. While the server cannot be reached the agent keeps checking
//! its last assignment.
//!
//! The last assignment is also saved as `assignment.json` in the data directory, so
//! that an agent restarted while the server is down still knows its work, and so that
//! operators (and tests) can see what an agent is doing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};
use vigilmon_core::{MonitorConfig, MonitorId, MonitorSpec, RegionName};
use vigilmon_schedule::scheduler::SchedulerHandle;

use crate::backoff::jitter;
use crate::client::{ApiError, Fetched, ServerClient};
use crate::{AgentError, Fatal};
use vigilmon_core::protocol::{AssignedMonitor, Assignments, PROTOCOL_VERSION};

/// The file in the data directory holding the last assignment.
pub const ASSIGNMENT_FILE: &str = "assignment.json";

/// Poll intervals are kept within these bounds, whatever the server says.
const MIN_POLL: Duration = Duration::from_secs(1);
const MAX_POLL: Duration = Duration::from_secs(600);

/// The validated monitors of the current assignment, shared with the wait loop.
pub type SharedSpecs = Arc<RwLock<HashMap<MonitorId, Arc<MonitorSpec>>>>;

/// What changed between two assignments.
#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    /// New monitors, and monitors whose configuration or offset changed.
    pub upsert: Vec<(MonitorId, Assigned)>,
    /// Monitors no longer assigned.
    pub remove: Vec<MonitorId>,
}

/// A monitor as assigned: its configuration and, from newer servers, its offset.
pub type Assigned = (Value, Option<u64>);

/// Compares the current monitors (id → configuration and offset as last received)
/// with a new assignment. A monitor listed twice counts once, with its last entry.
pub fn diff(current: &HashMap<MonitorId, Assigned>, next: &[AssignedMonitor]) -> Diff {
    let mut wanted: HashMap<MonitorId, Assigned> = HashMap::with_capacity(next.len());
    for m in next {
        wanted.insert(m.id, (m.config.clone(), m.offset_ms));
    }
    let mut upsert: Vec<(MonitorId, Assigned)> = wanted
        .iter()
        .filter(|(id, entry)| current.get(id) != Some(*entry))
        .map(|(id, entry)| (*id, entry.clone()))
        .collect();
    let mut remove: Vec<MonitorId> = current
        .keys()
        .filter(|id| !wanted.contains_key(id))
        .copied()
        .collect();
    upsert.sort_by_key(|(id, _)| *id);
    remove.sort();
    Diff { upsert, remove }
}

/// Validates a monitor configuration as the server does; every problem in one line.
pub fn build_spec(config: &Value) -> Result<MonitorSpec, String> {
    let parsed: MonitorConfig =
        serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
    parsed.build().map_err(|errs| {
        errs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// How an assignment changed what runs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    /// Monitors skipped because their configuration does not validate here.
    pub invalid: usize,
}

impl Applied {
    fn is_empty(&self) -> bool {
        *self == Applied::default()
    }
}

/// The current assignment and the scheduler it drives.
pub(crate) struct AssignmentState {
    /// Configurations as last received (invalid ones included, so that they are not
    /// reported again until they change).
    configs: HashMap<MonitorId, Assigned>,
    specs: SharedSpecs,
    scheduler: SchedulerHandle,
    data_dir: PathBuf,
}

/// What `assignment.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    saved_at: Timestamp,
    etag: Option<String>,
    assignments: Assignments,
}

impl AssignmentState {
    pub(crate) fn new(scheduler: SchedulerHandle, specs: SharedSpecs, data_dir: &Path) -> Self {
        Self {
            configs: HashMap::new(),
            specs,
            scheduler,
            data_dir: data_dir.to_owned(),
        }
    }

    /// Brings the scheduler in line with `monitors`.
    pub(crate) fn apply(&mut self, monitors: &[AssignedMonitor]) -> Applied {
        let d = diff(&self.configs, monitors);
        let mut applied = Applied::default();
        let mut specs = self.specs.write().unwrap_or_else(|e| e.into_inner());
        for id in d.remove {
            self.configs.remove(&id);
            self.scheduler.remove(id);
            specs.remove(&id);
            applied.removed += 1;
        }
        for (id, (config, offset_ms)) in d.upsert {
            let existed = self
                .configs
                .insert(id, (config.clone(), offset_ms))
                .is_some();
            match build_spec(&config) {
                Ok(mut spec) => {
                    spec.offset = offset_ms.map(Duration::from_millis);
                    let spec = Arc::new(spec);
                    self.scheduler.upsert(id, spec.clone());
                    specs.insert(id, spec);
                    if existed {
                        applied.changed += 1;
                    } else {
                        applied.added += 1;
                    }
                }
                Err(problems) => {
                    let name = config.get("name").and_then(Value::as_str).unwrap_or("?");
                    warn!(
                        message = "skipping a monitor whose configuration does not validate in this agent (is the agent older than the server?)",
                        monitor = %id,
                        name,
                        %problems
                    );
                    // An older valid version must not keep running in its place.
                    self.scheduler.remove(id);
                    specs.remove(&id);
                    applied.invalid += 1;
                }
            }
        }
        applied
    }

    pub(crate) fn len(&self) -> usize {
        self.configs.len()
    }

    /// Restores the assignment saved by an earlier run, if it is for `region`;
    /// returns its ETag.
    pub(crate) fn restore(&mut self, region: &RegionName) -> Option<String> {
        let path = self.data_dir.join(ASSIGNMENT_FILE);
        let bytes = std::fs::read(&path).ok()?;
        let saved: Saved = match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(e) => {
                warn!(message = "ignoring an unreadable saved assignment", path = %path.display(), error = %e);
                return None;
            }
        };
        if saved.assignments.region != region.as_str() {
            info!(
                message = "ignoring the saved assignment of another region",
                saved_region = %saved.assignments.region
            );
            return None;
        }
        let applied = self.apply(&saved.assignments.monitors);
        info!(
            message = "resuming the last assignment until the server answers",
            monitors = self.len(),
            saved_at = %saved.saved_at,
            invalid = applied.invalid
        );
        saved.etag
    }

    /// Saves the assignment (best effort: a failure is logged, nothing else).
    fn save(&self, assignments: &Assignments, etag: Option<&str>) {
        let saved = Saved {
            saved_at: Timestamp::now(),
            etag: etag.map(str::to_owned),
            assignments: assignments.clone(),
        };
        let path = self.data_dir.join(ASSIGNMENT_FILE);
        let tmp = self.data_dir.join(format!("{ASSIGNMENT_FILE}.tmp"));
        let written = serde_json::to_vec_pretty(&saved)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            warn!(message = "cannot save the assignment", path = %path.display(), error = %e);
        }
    }
}

/// Settings of the poll loop.
pub(crate) struct PollSettings {
    pub region: RegionName,
    pub default_poll: Duration,
}

/// Polls the assignment until `stop`; a refused token or a region mismatch is fatal.
pub(crate) async fn poll_loop(
    client: ServerClient,
    mut state: AssignmentState,
    settings: PollSettings,
    mut etag: Option<String>,
    stop: CancellationToken,
    fatal: Fatal,
) {
    let mut poll = settings.default_poll;
    let mut connected = false;
    let mut unreachable = false;
    loop {
        // A poll never outlives its interval: a request stuck on a connection that
        // went dead (a link cut, a stateful firewall's timeout) would otherwise keep the
        // agent silent for the whole request timeout after the network came back, long
        // enough for the server to count it gone (three missed polls). The next poll
        // opens a new connection.
        let limit = poll.min(client.request_timeout());
        let answer = tokio::select! {
            () = stop.cancelled() => return,
            a = tokio::time::timeout(limit, client.assignments(etag.as_deref())) => {
                a.unwrap_or_else(|_| {
                    client.reach().set_cut_off(true);
                    Err(ApiError::Unavailable(format!(
                        "no answer to the assignment request within {} ms", limit.as_millis()
                    )))
                })
            }
        };
        match answer {
            Ok(Fetched::NotModified) => {
                debug!(message = "assignment unchanged", monitors = state.len());
                if unreachable {
                    info!(message = "the server answers again");
                    unreachable = false;
                }
            }
            Ok(Fetched::Changed {
                assignments,
                etag: new_etag,
            }) => {
                if assignments.region != settings.region.as_str() {
                    fatal.set(AgentError::RegionMismatch {
                        agent: settings.region.to_string(),
                        server: assignments.region.clone(),
                    });
                    return;
                }
                if assignments.protocol != PROTOCOL_VERSION && !connected {
                    warn!(
                        message = "the server speaks a newer agent protocol; this agent uses what it knows",
                        server_protocol = assignments.protocol,
                        agent_protocol = PROTOCOL_VERSION
                    );
                }
                if let Some(ms) = assignments.poll_interval_ms {
                    poll = Duration::from_millis(ms).clamp(MIN_POLL, MAX_POLL);
                }
                let applied = state.apply(&assignments.monitors);
                if !connected {
                    let (id, name) = assignments
                        .agent
                        .as_ref()
                        .map_or(("?", "?"), |a| (a.id.as_str(), a.name.as_str()));
                    info!(
                        message = "connected to the server",
                        agent = name,
                        agent_id = id,
                        region = %assignments.region,
                        monitors = state.len(),
                        poll_interval = ?poll
                    );
                } else if unreachable {
                    info!(message = "the server answers again");
                }
                if !applied.is_empty() {
                    info!(
                        message = "assignment updated",
                        monitors = state.len(),
                        added = applied.added,
                        changed = applied.changed,
                        removed = applied.removed,
                        invalid = applied.invalid
                    );
                }
                state.save(&assignments, new_etag.as_deref());
                etag = new_etag;
                connected = true;
                unreachable = false;
            }
            Err(ApiError::Unauthorized { status, message }) => {
                fatal.set(AgentError::Unauthorized { status, message });
                return;
            }
            Err(ApiError::Refused { status, message }) => {
                error!(
                    message = "the server refused the assignment request; is it older than this agent?",
                    status,
                    reason = %message
                );
            }
            Err(ApiError::Unavailable(reason)) => {
                if unreachable {
                    debug!(message = "the server is still unreachable", %reason);
                } else {
                    warn!(
                        message = "cannot get the assignment; checking the last one meanwhile",
                        monitors = state.len(),
                        %reason
                    );
                    unreachable = true;
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(jitter(poll)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Mutex;
    use vigilmon_schedule::clock::SystemClock;
    use vigilmon_schedule::scheduler::{self, CheckExecutor, SchedulerConfig};

    fn id(n: u128) -> MonitorId {
        MonitorId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn tcp(name: &str, port: u16) -> Value {
        json!({"name": name, "type": "tcp", "host": "127.0.0.1", "port": port, "interval": "10s"})
    }

    fn assigned(list: &[(u128, Value)]) -> Vec<AssignedMonitor> {
        list.iter()
            .map(|(n, c)| AssignedMonitor {
                id: id(*n),
                config: c.clone(),
                offset_ms: None,
            })
            .collect()
    }

    #[test]
    fn diff_finds_new_changed_and_gone_monitors() {
        let current: HashMap<MonitorId, Assigned> = [
            (id(1), (tcp("a", 1), None)),
            (id(2), (tcp("b", 2), None)),
            (id(3), (tcp("c", 3), None)),
        ]
        .into();
        let next = assigned(&[(1, tcp("a", 1)), (2, tcp("b", 22)), (4, tcp("d", 4))]);
        let d = diff(&current, &next);
        assert_eq!(
            d.upsert,
            vec![(id(2), (tcp("b", 22), None)), (id(4), (tcp("d", 4), None))]
        );
        assert_eq!(d.remove, vec![id(3)]);
        // the same assignment again changes nothing
        let same: HashMap<MonitorId, Assigned> = next
            .iter()
            .map(|m| (m.id, (m.config.clone(), m.offset_ms)))
            .collect();
        assert_eq!(diff(&same, &next), Diff::default());
        // a new offset alone reschedules the monitor
        let mut moved = next.clone();
        moved[0].offset_ms = Some(20_000);
        assert_eq!(
            diff(&same, &moved).upsert,
            vec![(id(1), (tcp("a", 1), Some(20_000)))]
        );
        // an empty assignment removes everything
        assert_eq!(diff(&same, &[]).remove, vec![id(1), id(2), id(4)]);
    }

    #[test]
    fn diff_takes_the_last_of_duplicates() {
        let next = assigned(&[(1, tcp("a", 1)), (1, tcp("a", 9))]);
        let d = diff(&HashMap::new(), &next);
        assert_eq!(d.upsert, vec![(id(1), (tcp("a", 9), None))]);
    }

    #[test]
    fn build_spec_reports_every_problem() {
        assert!(build_spec(&tcp("a", 1)).is_ok());
        let e =
            build_spec(&json!({"name": "x", "type": "http", "url": "ftp://x", "interval": "1s"}))
                .unwrap_err();
        assert!(e.contains("url") && e.contains("interval"), "{e}");
        let e = build_spec(&json!({"name": "x", "type": "tcp", "future_field": 1})).unwrap_err();
        assert!(e.contains("future_field"), "{e}");
    }

    struct Nothing;
    impl CheckExecutor for Nothing {
        fn execute(
            &self,
            _id: MonitorId,
            _spec: Arc<MonitorSpec>,
        ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(async {})
        }
    }

    #[tokio::test]
    async fn apply_skips_invalid_monitors_and_saves_and_restores() {
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let (handle, _task) = scheduler::start(
            vec![],
            Arc::new(Nothing),
            Arc::new(SystemClock),
            SchedulerConfig::default(),
            stop.clone(),
        );
        let specs: SharedSpecs = Arc::default();
        let mut state = AssignmentState::new(handle.clone(), specs.clone(), dir.path());
        let bad = json!({"name": "bad", "type": "tcp"});
        let a = state.apply(&assigned(&[(1, tcp("a", 1)), (2, bad.clone())]));
        assert_eq!(
            a,
            Applied {
                added: 1,
                invalid: 1,
                ..Applied::default()
            }
        );
        assert_eq!(specs.read().unwrap().len(), 1);
        // an unchanged invalid monitor is not reported again; a fixed one is added
        let a = state.apply(&assigned(&[(1, tcp("a", 1)), (2, bad)]));
        assert!(a.is_empty());
        let a = state.apply(&assigned(&[(2, tcp("b", 2))]));
        assert_eq!((a.changed, a.removed), (1, 1));
        assert!(specs.read().unwrap().contains_key(&id(2)));

        let assignments = Assignments {
            protocol: 1,
            region: "eu".into(),
            agent: None,
            poll_interval_ms: Some(1000),
            monitors: assigned(&[(7, tcp("g", 7))]),
        };
        state.save(&assignments, Some("\"e1\""));
        let specs2: SharedSpecs = Arc::default();
        let mut again = AssignmentState::new(handle.clone(), specs2.clone(), dir.path());
        let eu = RegionName::parse("eu").unwrap();
        assert_eq!(again.restore(&eu).as_deref(), Some("\"e1\""));
        assert!(specs2.read().unwrap().contains_key(&id(7)));
        let mut other = AssignmentState::new(handle, Arc::default(), dir.path());
        assert_eq!(other.restore(&RegionName::parse("us").unwrap()), None);
        assert_eq!(other.len(), 0);
        stop.cancel();
    }

    /// Serves `app`, runs the poll loop of an `eu` agent (polling every second,
    /// requests timing out after `request_timeout`) against it, and expects the loop
    /// to end by itself (a fatal error) within `within`.
    async fn poll_against(
        app: axum::Router,
        request_timeout: Duration,
        within: Duration,
    ) -> (Fatal, tempfile::TempDir, CancellationToken) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = url::Url::parse(&format!("http://{addr}")).unwrap();
        let client = ServerClient::new(&url, "t", &[], request_timeout).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let (handle, _task) = scheduler::start(
            vec![],
            Arc::new(Nothing),
            Arc::new(SystemClock),
            SchedulerConfig::default(),
            stop.clone(),
        );
        let state = AssignmentState::new(handle, Arc::default(), dir.path());
        let fatal = Fatal::default();
        let settings = PollSettings {
            region: RegionName::parse("eu").unwrap(),
            default_poll: Duration::from_secs(1),
        };
        tokio::time::timeout(
            within,
            poll_loop(client, state, settings, None, stop.clone(), fatal.clone()),
        )
        .await
        .expect("the poll loop ends by itself in time");
        (fatal, dir, stop)
    }

    #[tokio::test]
    async fn poll_loop_stops_on_a_region_mismatch() {
        use axum::routing::get;
        let hits = Arc::new(Mutex::new(0));
        let h = hits.clone();
        let app = axum::Router::new().route(
            "/api/v1/agent/assignments",
            get(move || {
                *h.lock().unwrap() += 1;
                async { r#"{"protocol":1,"region":"us","monitors":[]}"# }
            }),
        );
        let (fatal, dir, stop) =
            poll_against(app, Duration::from_secs(5), Duration::from_secs(5)).await;
        let err = fatal.take().expect("fatal error");
        assert!(
            matches!(&err, AgentError::RegionMismatch { agent, server } if agent == "eu" && server == "us"),
            "{err}"
        );
        assert_eq!(*hits.lock().unwrap(), 1);
        assert!(!dir.path().join(ASSIGNMENT_FILE).exists(), "nothing saved");
        stop.cancel();
    }

    /// A poll whose request hangs (a connection that went dead under it) is given up
    /// after one poll interval, not the much longer request timeout: the next poll, on
    /// a new connection, reaches the server while the agent still counts as live.
    #[tokio::test]
    async fn a_hung_poll_is_given_up_after_one_interval() {
        use axum::routing::get;
        let hits = Arc::new(Mutex::new(0));
        let h = hits.clone();
        let app = axum::Router::new().route(
            "/api/v1/agent/assignments",
            get(move || {
                let n = {
                    let mut g = h.lock().unwrap();
                    *g += 1;
                    *g
                };
                async move {
                    if n == 1 {
                        std::future::pending::<()>().await;
                    }
                    r#"{"protocol":1,"region":"us","monitors":[]}"#
                }
            }),
        );
        // The second poll's answer (another region) ends the loop: well before the
        // 60 s request timeout.
        let (fatal, _dir, stop) =
            poll_against(app, Duration::from_secs(60), Duration::from_secs(10)).await;
        assert!(matches!(
            fatal.take(),
            Some(AgentError::RegionMismatch { .. })
        ));
        assert_eq!(*hits.lock().unwrap(), 2);
        stop.cancel();
    }
}
