//! Vigilmon's remote probe runner (`vigilmon agent`): runs the checks of one region
//! and sends the results to the server, speaking the agent protocol of PROTOCOL.md
//! ("Agents (protocol 1)").
//!
//! [`run`] starts four cooperating tasks and returns when they have all stopped:
//!
//! - the **poll loop** ([`assignments`]) keeps the assignment in step with the server
//!   (`GET /api/v1/agent/assignments`, conditional) and drives the scheduler;
//! - the **scheduler** (`vigilmon_schedule`, shared with the server) runs
//!   each assigned monitor at its stable offset inside its interval through the
//!   executor ([`executor`]), which queues every result;
//! - the **wait loop** keeps one `GET /api/v1/agent/wait` open (it is also the agent's
//!   liveness signal) and runs the checks the server asks for at once;
//! - the **sender** ([`sender`]) batches results to `POST /api/v1/agent/results`,
//!   buffering them on disk ([`buffer`]) while the server cannot take them and
//!   replaying them in order when it can.
//!
//! Shutdown (the `shutdown` token): scheduling and polling stop, checks in flight
//! finish, their results are sent or written to the disk buffer, and `run` returns
//! `Ok`. A refused token (401/403) or a token of another region stops the agent with
//! an error: a revoked agent must stop, not spin.

pub mod assignments;
mod backoff;
pub mod buffer;
pub mod cli;
pub mod client;
pub mod counters;
mod executor;
pub mod sender;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use vigilmon_core::RegionName;
use vigilmon_probe::{ProbeOptions, ProbeSetupError, Prober};
use vigilmon_schedule::clock::SystemClock;
use vigilmon_schedule::scheduler::{self, SchedulerConfig};

use crate::assignments::{AssignmentState, PollSettings, SharedSpecs};
use crate::buffer::DiskBuffer;
use crate::client::ServerClient;
use crate::executor::{Executor, WaitSettings};
use crate::sender::{Sender, SenderConfig};

pub use crate::client::VERSION;
pub use crate::counters::{CounterSnapshot, Counters};

/// The directory under the data directory that holds the result buffer.
pub const BUFFER_DIR: &str = "buffer";

/// Everything the agent needs to run.
#[derive(Clone)]
pub struct AgentOptions {
    /// The server's base URL (`https://vigilmon.example.com`).
    pub server: url::Url,
    /// The agent's region; must be the region of its token.
    pub region: RegionName,
    /// The agent token (`vigilmon token create --scope agent --region …`).
    pub token: String,
    /// Holds the result buffer and the last assignment.
    pub data_dir: PathBuf,
    /// Most checks in flight at once.
    pub concurrency: usize,
    /// Most results kept in the disk buffer; beyond, the oldest are dropped.
    pub buffer_max: usize,
    /// Probe settings (network guard, extra trusted roots). Its region is replaced by
    /// [`AgentOptions::region`]; its extra roots are also trusted for the server.
    pub probe: ProbeOptions,
    pub timing: Timing,
}

impl AgentOptions {
    /// Defaults: data in `./vigilmon-agent`, 64 checks at once, 100,000 buffered
    /// results, default probe settings and timing.
    pub fn new(server: url::Url, region: RegionName, token: impl Into<String>) -> Self {
        Self {
            server,
            probe: ProbeOptions::new(region.clone()),
            region,
            token: token.into(),
            data_dir: PathBuf::from("./vigilmon-agent"),
            concurrency: 64,
            buffer_max: 100_000,
            timing: Timing::default(),
        }
    }
}

impl fmt::Debug for AgentOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentOptions")
            .field("server", &self.server.as_str())
            .field("region", &self.region)
            .field("token", &"********")
            .field("data_dir", &self.data_dir)
            .field("concurrency", &self.concurrency)
            .field("buffer_max", &self.buffer_max)
            .field("probe", &self.probe.guard)
            .field("timing", &self.timing)
            .finish()
    }
}

/// Timings of the protocol; the defaults are what PROTOCOL.md describes.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Assignment poll interval until the server says otherwise.
    pub default_poll: Duration,
    /// The wait long poll's `timeout_ms` (the server caps it at 30 s).
    pub wait_timeout: Duration,
    /// Timeout of assignment and result requests.
    pub request_timeout: Duration,
    /// Batching and retries of results (the backoff also paces the wait loop).
    pub sender: SenderConfig,
    /// How often the counters are logged while running.
    pub stats_every: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            default_poll: Duration::from_secs(15),
            wait_timeout: Duration::from_secs(25),
            request_timeout: Duration::from_secs(15),
            sender: SenderConfig::default(),
            stats_every: Duration::from_secs(600),
        }
    }
}

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The server refused the token: wrong, unknown, revoked (401), or not an agent
    /// token (403).
    #[error("{}", unauthorized_message(.status, .message))]
    Unauthorized { status: u16, message: String },
    /// The token belongs to another region than `--region`.
    #[error(
        "the server says this agent token belongs to region {server:?}, but the agent was started with --region {agent:?}; use the token of region {agent:?} or start the agent with --region {server}"
    )]
    RegionMismatch { agent: String, server: String },
    /// The data directory (result buffer) cannot be used.
    #[error("cannot use the data directory {}: {source}", path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up the probe: {0}")]
    Probe(#[from] ProbeSetupError),
    /// The HTTP client for the server cannot be built.
    #[error("cannot set up the connection to the server: {0}")]
    Client(String),
    /// An option is unusable.
    #[error("{0}")]
    Config(String),
}

fn unauthorized_message(status: &u16, message: &str) -> String {
    if *status == 403 {
        format!(
            "the server refused the token (403: {message}): it is not an agent token; create one with `vigilmon token create --name NAME --scope agent --region REGION`"
        )
    } else {
        format!(
            "the server refused the agent token ({status}: {message}): it is wrong, unknown or revoked; the agent stops (create a new one with `vigilmon token create --name NAME --scope agent --region REGION`)"
        )
    }
}

/// The first fatal error of any task, and a token cancelled when it happens.
#[derive(Clone, Default)]
pub(crate) struct Fatal {
    token: CancellationToken,
    error: Arc<Mutex<Option<AgentError>>>,
}

impl Fatal {
    /// Records `e` (unless an error is already recorded) and wakes the agent.
    pub(crate) fn set(&self, e: AgentError) {
        let mut g = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(e);
        }
        self.token.cancel();
    }

    #[cfg(test)]
    pub(crate) fn is_set(&self) -> bool {
        self.token.is_cancelled()
    }

    pub(crate) fn take(&self) -> Option<AgentError> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Runs the agent until `shutdown` is cancelled (then `Ok(())`, after checks in flight
/// finished and their results were sent or buffered) or a fatal error.
pub async fn run(opts: AgentOptions, shutdown: CancellationToken) -> Result<(), AgentError> {
    run_with_counters(opts, shutdown, Arc::new(Counters::default())).await
}

/// [`run`], counting into `counters` (for callers that show them).
pub async fn run_with_counters(
    opts: AgentOptions,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
) -> Result<(), AgentError> {
    if !matches!(opts.server.scheme(), "http" | "https") {
        return Err(AgentError::Config(format!(
            "the server URL must be http:// or https://, not {}",
            opts.server
        )));
    }
    let data_err = |source| AgentError::DataDir {
        path: opts.data_dir.clone(),
        source,
    };
    std::fs::create_dir_all(&opts.data_dir).map_err(data_err)?;
    let segment = opts
        .timing
        .sender
        .batch_max
        .clamp(1, vigilmon_core::protocol::MAX_RESULTS_PER_REQUEST);
    let mut sender_cfg = opts.timing.sender.clone();
    sender_cfg.batch_max = segment;
    let (buffer, report) =
        DiskBuffer::open(&opts.data_dir.join(BUFFER_DIR), opts.buffer_max, segment)
            .map_err(data_err)?;
    if report.results > 0 {
        info!(
            message = "results buffered by an earlier run will be sent first",
            buffered = report.results - report.dropped
        );
    }
    if report.corrupt_lines > 0 {
        warn!(
            message = "discarded damaged lines of the result buffer",
            lines = report.corrupt_lines
        );
    }
    if report.dropped > 0 {
        counters.dropped(report.dropped);
        warn!(
            message = "the result buffer holds more than --buffer-max; dropped the oldest",
            dropped = report.dropped
        );
    }

    let mut probe = opts.probe.clone();
    probe.region = opts.region.clone();
    let prober = Prober::new(probe)?;
    let client = ServerClient::new(
        &opts.server,
        &opts.token,
        &opts.probe.extra_roots,
        opts.timing.request_timeout,
    )
    .map_err(AgentError::Client)?;

    let fatal = Fatal::default();
    let (tx, rx) = mpsc::channel(4096 + opts.concurrency);
    let sender = Sender::new(
        client.clone(),
        buffer,
        counters.clone(),
        sender_cfg.clone(),
        fatal.clone(),
    );
    let sender_task = tokio::spawn(sender.run(rx));

    let executor = Executor::new(
        prober,
        opts.concurrency,
        tx,
        counters.clone(),
        client.reach(),
    );
    let stop = CancellationToken::new();
    let (sched, sched_task) = scheduler::start(
        Vec::new(),
        Arc::new(executor.clone()),
        Arc::new(SystemClock),
        SchedulerConfig {
            concurrency: opts.concurrency.max(1),
            ..SchedulerConfig::default()
        },
        stop.clone(),
    );
    let specs: SharedSpecs = Arc::default();
    let mut state = AssignmentState::new(sched, specs.clone(), &opts.data_dir);
    let etag = state.restore(&opts.region);
    let poll_task = tokio::spawn(assignments::poll_loop(
        client.clone(),
        state,
        PollSettings {
            region: opts.region.clone(),
            default_poll: opts.timing.default_poll,
        },
        etag,
        stop.clone(),
        fatal.clone(),
    ));
    let wait_task = tokio::spawn(executor::wait_loop(
        client,
        specs,
        executor,
        WaitSettings {
            timeout: opts.timing.wait_timeout,
            backoff_min: sender_cfg.backoff_min,
            backoff_max: sender_cfg.backoff_max,
        },
        stop.clone(),
        fatal.clone(),
    ));

    let mut stats = tokio::time::interval(opts.timing.stats_every.max(Duration::from_secs(1)));
    stats.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = fatal.token.cancelled() => break,
            _ = stats.tick() => info!(message = "agent counters", counters = %counters.snapshot()),
        }
    }

    // Stop scheduling and polling; checks in flight finish and queue their results;
    // the queue closes with the last executor, and the sender flushes.
    stop.cancel();
    let _ = poll_task.await;
    let _ = wait_task.await;
    let _ = sched_task.await;
    let left = sender_task.await.map(|b| b.len()).unwrap_or(0);
    let snapshot = counters.snapshot();
    info!(
        message = "agent stopped",
        checks_run = snapshot.checks_run,
        confirmations = snapshot.confirmations,
        results_sent = snapshot.results_sent,
        buffered = snapshot.buffered,
        replayed = snapshot.replayed,
        dropped = snapshot.dropped,
        rejected = snapshot.rejected,
        left_in_buffer = left
    );
    match fatal.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
