//! Redis health, judged: parsing `INFO` text into an [`InfoSample`] and turning a
//! sample (and the previous one, for counters) into a [`Verdict`] plus the figures
//! that were judged.
//!
//! This is the single place where Redis health is decided, shared by the native
//! `redis` monitor (the probe crate fetches `INFO` and calls [`evaluate`]) and the
//! `vigilmon redis-health` sidecar (which serves the same verdict over HTTP, mapped
//! with [`health_status`]). Pure: the caller passes the time of the sample.
//!
//! The rules, in the order they are judged (one `judge_*` function each). The first
//! failing **down** rule names the verdict, else the first **degraded** one; every
//! failing rule is listed in the figures' `reasons`, down ones first:
//!
//! | rule | down | degraded | reason |
//! |---|---|---|---|
//! | loading | `loading:1` | — | `loading` |
//! | role | `expect_role` differs | — | `role_mismatch` |
//! | replica link | `master_link_status:down` (no sync under way) | `master_sync_in_progress:1` | `replica_disconnected`, `replica_syncing` |
//! | replica lag | — | `master_last_io_seconds_ago` > `max_lag`, or byte lag > `max_lag_bytes` | `replica_lag` |
//! | replicas | — | a primary has fewer than `expect_replicas` connected | `missing_replicas` |
//! | memory | ratio > `memory_critical` | ratio > `memory_warn` | `memory_pressure` |
//! | writes | the write probe was refused | — | `writes_refused` |
//! | response time | over `response_time` | over `warn_response_time` | `slow_response` |
//! | evictions | — | `evicted_keys` growth per minute > `evictions_per_min` | `eviction_storm` |
//! | rejected connections | — | `rejected_connections` grew | `rejected_connections` |
//! | persistence | — | `rdb_last_bgsave_status:err` or `aof_last_write_status:err` | `persistence_error` |
//!
//! The order matters only among rules of the same severity: a replica that lags and
//! is short of memory is degraded for `replica_lag`, with `memory_pressure` listed
//! after it.
//!
//! Each rule also fills in the figures it judged (a private, typed struct serialized
//! at the end), so the JSON shape is declared in one place.
//!
//! Reachability (`unreachable`, `auth_failed`) is decided by whoever talks to Redis;
//! [`failure_figures`] gives those failures the same figures shape.
//!
//! Counters (`evicted_keys`, `rejected_connections`) are judged only by their growth
//! since the previous sample of the same server, never by their absolute value. When
//! the server restarted in between (a different `run_id`, or a smaller
//! `uptime_in_seconds`) or a counter went down (`CONFIG RESETSTAT`), the new sample
//! becomes the baseline and nothing is judged from that counter this time.
//!
//! Replication lag in bytes: a replica's own `INFO` cannot see how far the primary
//! is (its `master_repl_offset` is its own offset), so on a replica `lag_bytes` is what
//! it has received but not yet applied (`slave_read_repl_offset − slave_repl_offset`,
//! Redis 7+). The real distance is visible on the primary, where each `slaveN:` line
//! carries the replica's acknowledged offset: there `lag_bytes` is
//! `master_repl_offset − offset` per online replica, and the largest is judged against
//! `max_lag_bytes`. Replica lag in seconds (`max_lag`) is judged on replicas, from
//! `master_last_io_seconds_ago`.

use std::fmt::Write as _;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use crate::monitor::{RedisRole, RedisSpec};
use crate::outcome::{ErrorKind, Verdict};

/// The most `INFO` text a client should read (and [`parse_info`] looks at): 1 MiB.
pub const MAX_INFO_BYTES: usize = 1024 * 1024;

/// The most `slaveN:` lines kept from one `INFO`.
pub const MAX_REPLICA_LINES: usize = 256;

/// The stable, machine-readable names of the failing checks, as they appear in the
/// figures' `reason` and `reasons` and in the sidecar's JSON.
pub mod reason {
    /// `used_memory / maxmemory` over a threshold.
    pub const MEMORY_PRESSURE: &str = "memory_pressure";
    /// The write probe's `SET` was refused (OOM, MISCONF, READONLY, NOPERM…).
    pub const WRITES_REFUSED: &str = "writes_refused";
    /// `evicted_keys` grew faster than `evictions_per_min`.
    pub const EVICTION_STORM: &str = "eviction_storm";
    /// The server's role is not the expected one.
    pub const ROLE_MISMATCH: &str = "role_mismatch";
    /// A replica's link to its primary is down.
    pub const REPLICA_DISCONNECTED: &str = "replica_disconnected";
    /// A replica is (re)synchronising with its primary.
    pub const REPLICA_SYNCING: &str = "replica_syncing";
    /// Replication lag over `max_lag` or `max_lag_bytes`.
    pub const REPLICA_LAG: &str = "replica_lag";
    /// The last RDB save or AOF write failed.
    pub const PERSISTENCE_ERROR: &str = "persistence_error";
    /// The server is loading its dataset and answers nothing else.
    pub const LOADING: &str = "loading";
    /// `rejected_connections` grew (maxclients reached).
    pub const REJECTED_CONNECTIONS: &str = "rejected_connections";
    /// A primary has fewer connected replicas than `expect_replicas`.
    pub const MISSING_REPLICAS: &str = "missing_replicas";
    /// No usable answer: DNS, connect, TLS, timeout, protocol, `PING` ≠ `PONG`.
    pub const UNREACHABLE: &str = "unreachable";
    /// Authentication was refused (wrong password, unknown user, auth required).
    pub const AUTH_FAILED: &str = "auth_failed";
    /// Slower than `response_time` / `warn_response_time`.
    pub const SLOW_RESPONSE: &str = "slow_response";
}

/// One `slaveN:` line of a primary's `INFO replication`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLine {
    pub ip: String,
    pub port: u16,
    /// `online`, `wait_bgsave`, `send_bulk`…
    pub state: String,
    /// The replication offset the replica acknowledged.
    pub offset: Option<i64>,
    /// Seconds since the replica's last acknowledgement.
    pub lag_seconds: Option<i64>,
}

/// The fields of one `INFO` answer that the checks judge or report. Fields the
/// server did not send (older versions, other sections) are `None` / `false`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InfoSample {
    pub redis_version: Option<String>,
    /// Changes when the server restarts.
    pub run_id: Option<String>,
    pub uptime_seconds: Option<u64>,
    /// `role:` as sent (`master`, `slave`).
    pub role_text: Option<String>,
    pub role: Option<RedisRole>,
    pub connected_clients: Option<u64>,
    pub used_memory: Option<u64>,
    /// 0 means unlimited.
    pub maxmemory: Option<u64>,
    pub maxmemory_policy: Option<String>,
    pub evicted_keys: Option<u64>,
    pub rejected_connections: Option<u64>,
    pub loading: bool,
    pub rdb_last_bgsave_status: Option<String>,
    pub aof_enabled: bool,
    pub aof_last_write_status: Option<String>,
    pub master_host: Option<String>,
    pub master_port: Option<u16>,
    pub master_link_status: Option<String>,
    pub master_link_down_since_seconds: Option<i64>,
    pub master_sync_in_progress: bool,
    pub master_last_io_seconds_ago: Option<i64>,
    pub master_repl_offset: Option<i64>,
    pub slave_repl_offset: Option<i64>,
    pub slave_read_repl_offset: Option<i64>,
    pub connected_slaves: Option<u32>,
    /// A primary's `slaveN:` lines, in order (at most [`MAX_REPLICA_LINES`]).
    pub replicas: Vec<ReplicaLine>,
}

/// Parses the text of an `INFO` answer. Unknown fields, section headers and malformed
/// lines are skipped; only the first [`MAX_INFO_BYTES`] are looked at. Never fails.
pub fn parse_info(text: &str) -> InfoSample {
    // The last character boundary at or before the limit (0 always is one).
    let end = (0..=text.len().min(MAX_INFO_BYTES))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let mut s = InfoSample::default();
    for line in text[..end].lines() {
        // Blank lines and section headers (`# Server`) name no field we know, so they
        // are skipped like any other unknown line.
        let line = line.trim_end_matches('\r');
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let text = || Some(value.to_owned());
        match key {
            "redis_version" => s.redis_version = text(),
            "run_id" => s.run_id = text(),
            "uptime_in_seconds" => s.uptime_seconds = value.parse().ok(),
            "role" => {
                s.role_text = text();
                s.role = match value {
                    "master" => Some(RedisRole::Primary),
                    "slave" => Some(RedisRole::Replica),
                    _ => None,
                };
            }
            "connected_clients" => s.connected_clients = value.parse().ok(),
            "used_memory" => s.used_memory = value.parse().ok(),
            "maxmemory" => s.maxmemory = value.parse().ok(),
            "maxmemory_policy" => s.maxmemory_policy = text(),
            "evicted_keys" => s.evicted_keys = value.parse().ok(),
            "rejected_connections" => s.rejected_connections = value.parse().ok(),
            "loading" => s.loading = value == "1",
            "rdb_last_bgsave_status" => s.rdb_last_bgsave_status = text(),
            "aof_enabled" => s.aof_enabled = value == "1",
            "aof_last_write_status" => s.aof_last_write_status = text(),
            "master_host" => s.master_host = text(),
            "master_port" => s.master_port = value.parse().ok(),
            "master_link_status" => s.master_link_status = text(),
            "master_link_down_since_seconds" => {
                s.master_link_down_since_seconds = value.parse().ok();
            }
            "master_sync_in_progress" => s.master_sync_in_progress = value == "1",
            "master_last_io_seconds_ago" => s.master_last_io_seconds_ago = value.parse().ok(),
            "master_repl_offset" => s.master_repl_offset = value.parse().ok(),
            "slave_repl_offset" => s.slave_repl_offset = value.parse().ok(),
            "slave_read_repl_offset" => s.slave_read_repl_offset = value.parse().ok(),
            "connected_slaves" => s.connected_slaves = value.parse().ok(),
            k if is_replica_key(k) => {
                if s.replicas.len() < MAX_REPLICA_LINES
                    && let Some(r) = parse_replica_line(value)
                {
                    s.replicas.push(r);
                }
            }
            _ => {}
        }
    }
    s
}

/// `slave0`, `slave12`… (not `slave_repl_offset` and friends).
fn is_replica_key(k: &str) -> bool {
    k.strip_prefix("slave")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `ip=10.0.0.2,port=6379,state=online,offset=123,lag=0`.
fn parse_replica_line(value: &str) -> Option<ReplicaLine> {
    let mut ip = None;
    let mut port = None;
    let mut state = None;
    let mut offset = None;
    let mut lag = None;
    for part in value.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        match k {
            "ip" => ip = Some(v.to_owned()),
            "port" => port = v.parse().ok(),
            "state" => state = Some(v.to_owned()),
            "offset" => offset = v.parse().ok(),
            "lag" => lag = v.parse().ok(),
            _ => {}
        }
    }
    Some(ReplicaLine {
        ip: ip?,
        port: port?,
        state: state.unwrap_or_default(),
        offset,
        lag_seconds: lag,
    })
}

/// What the optional write probe (`SET key value EX n`) met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteProbeOutcome {
    /// The write was accepted.
    Accepted,
    /// Redis answered with an error; the text as Redis sent it (`OOM command not
    /// allowed…`, `MISCONF…`, `READONLY…`).
    Refused(String),
    /// Not attempted, with the reason in words (e.g. the server is an expected replica).
    Skipped(String),
}

/// The status the `redis-health` sidecar reports for a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// Every check passed: `200`.
    Ok,
    /// Working, but something needs attention: `503`.
    Degraded,
    /// Redis answers but cannot serve the application correctly: `503`.
    Critical,
    /// Redis could not be reached or refused the probe's credentials: `503`.
    Down,
}

impl HealthStatus {
    /// `ok`, `degraded`, `critical` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Ok => "ok",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Critical => "critical",
            HealthStatus::Down => "down",
        }
    }
}

/// Maps a verdict and its reason to the sidecar's status:
///
/// - `Up` → `ok`;
/// - no answer at all (`unreachable`, `auth_failed`, or a failure without a Redis
///   reason) → `down`;
/// - a failure that stops the application from using Redis correctly
///   (`memory_pressure`, `writes_refused`, `role_mismatch`, `loading`) → `critical`;
/// - everything else (every degraded verdict, and `replica_disconnected` and
///   `slow_response` failures, which the application survives) → `degraded`.
pub fn health_status(verdict: &Verdict, reason: Option<&str>) -> HealthStatus {
    match verdict {
        Verdict::Up => HealthStatus::Ok,
        Verdict::Degraded { .. } => HealthStatus::Degraded,
        Verdict::Down { .. } => match reason {
            None | Some(reason::UNREACHABLE | reason::AUTH_FAILED) => HealthStatus::Down,
            Some(
                reason::MEMORY_PRESSURE
                | reason::WRITES_REFUSED
                | reason::ROLE_MISMATCH
                | reason::LOADING,
            ) => HealthStatus::Critical,
            Some(_) => HealthStatus::Degraded,
        },
    }
}

/// Whether a reason is about replication (the sidecar's `/health/redis/replication`
/// fails only for these, and for `unreachable` / `auth_failed`).
pub fn is_replication_reason(r: &str) -> bool {
    matches!(
        r,
        reason::ROLE_MISMATCH
            | reason::REPLICA_DISCONNECTED
            | reason::REPLICA_SYNCING
            | reason::REPLICA_LAG
            | reason::MISSING_REPLICAS
    )
}

/// The figures of a check that got no usable `INFO` (`reason` is
/// [`reason::UNREACHABLE`] or [`reason::AUTH_FAILED`]).
pub fn failure_figures(reason: &str) -> Value {
    json!({ "reason": reason, "reasons": [reason] })
}

/// One failing rule.
struct Finding {
    reason: &'static str,
    down: bool,
    message: String,
}

impl Finding {
    fn down(reason: &'static str, message: String) -> Self {
        Finding {
            reason,
            down: true,
            message,
        }
    }

    fn degraded(reason: &'static str, message: String) -> Self {
        Finding {
            reason,
            down: false,
            message,
        }
    }
}

/// The figures judged for one sample, serialized as the JSON object [`evaluate`]
/// returns. That object is stored with the check result, shown in the UI and served
/// by the sidecar, so its shape is a wire format: every key below is always present
/// (`null` when unknown), except the replica's view of its primary and the write
/// probe's outcome, which appear only when they apply.
#[derive(Debug, Default, Serialize)]
struct RedisFigures {
    // the server
    redis_version: Option<String>,
    uptime_seconds: Option<u64>,
    connected_clients: Option<u64>,
    /// `primary` or `replica`, else the `role:` text as sent.
    role: Option<String>,
    loading: bool,
    response_ms: u64,

    // replication
    /// On a replica only: `master`, `master_link_status`, `sync_in_progress`.
    #[serde(flatten)]
    link: Option<LinkFigures>,
    lag_seconds: Option<i64>,
    lag_bytes: Option<i64>,
    connected_replicas: Option<u32>,
    replicas: Vec<ReplicaFigures>,

    // memory
    used_bytes: Option<u64>,
    max_bytes: Option<u64>,
    /// `maxmemory` or `limit_bytes`: where `max_bytes` came from.
    max_bytes_source: Option<&'static str>,
    /// Rounded to four decimals.
    memory_ratio: Option<f64>,
    policy: Option<String>,

    // writes
    /// When the write probe ran: `write_probe`, with `write_error` or
    /// `write_probe_skipped`.
    #[serde(flatten)]
    write_probe: Option<WriteProbeFigures>,

    // counters
    evicted_keys: Option<u64>,
    rejected_connections: Option<u64>,
    /// Rounded to one decimal.
    evictions_per_min: Option<f64>,
    rejected_connections_growth: Option<u64>,
    baseline_reset: bool,

    // persistence
    rdb_last_bgsave_status: Option<String>,
    aof_enabled: bool,
    aof_last_write_status: Option<String>,

    // the verdict
    reason: Option<&'static str>,
    reasons: Vec<&'static str>,
}

impl RedisFigures {
    /// The facts about the server, reported whatever the rules find; the rules fill
    /// in the rest.
    fn facts(sample: &InfoSample, elapsed: Duration) -> Self {
        RedisFigures {
            redis_version: sample.redis_version.clone(),
            uptime_seconds: sample.uptime_seconds,
            connected_clients: sample.connected_clients,
            role: sample
                .role
                .map(|r| r.as_str().to_owned())
                .or_else(|| sample.role_text.clone()),
            loading: sample.loading,
            response_ms: millis(elapsed),
            ..RedisFigures::default()
        }
    }
}

/// A replica's view of its primary.
#[derive(Debug, Serialize)]
struct LinkFigures {
    /// `host:port`, or the host alone.
    master: Option<String>,
    master_link_status: Option<String>,
    sync_in_progress: bool,
}

/// One of a primary's `slaveN:` lines.
#[derive(Debug, Serialize)]
struct ReplicaFigures {
    addr: String,
    state: String,
    offset: Option<i64>,
    lag_seconds: Option<i64>,
    /// See [`bytes_behind`].
    lag_bytes: Option<i64>,
}

/// What the write probe met, as `write_probe: "ok" | "refused" | "skipped"` beside
/// the other figures.
#[derive(Debug, Serialize)]
#[serde(tag = "write_probe")]
enum WriteProbeFigures {
    #[serde(rename = "ok")]
    Accepted,
    #[serde(rename = "refused")]
    Refused { write_error: String },
    #[serde(rename = "skipped")]
    Skipped { write_probe_skipped: String },
}

/// Judges one sample. `previous` is the last sample of the same server and when it
/// was taken (for counter growth); `write_probe` is what the write probe met, if it
/// ran; `elapsed` is the check's response time; `now` is when `sample` was taken.
///
/// Returns the verdict and the figures judged, as a JSON object with `reason` (the
/// verdict's, or `null`), `reasons` (every failing rule), memory (`used_bytes`,
/// `max_bytes`, `max_bytes_source`, `memory_ratio`, `policy`), `role`, replication
/// (`master`, `master_link_status`, `sync_in_progress`, `lag_seconds`, `lag_bytes`,
/// `connected_replicas`, `replicas`), counters (`evicted_keys`,
/// `evictions_per_min`, `rejected_connections`, `rejected_connections_growth`,
/// `baseline_reset`), persistence, `loading`, `write_probe` / `write_error` /
/// `write_probe_skipped`, `response_ms` and server facts (`redis_version`,
/// `uptime_seconds`, `connected_clients`).
pub fn evaluate(
    spec: &RedisSpec,
    sample: &InfoSample,
    previous: Option<(&InfoSample, Timestamp)>,
    write_probe: Option<WriteProbeOutcome>,
    elapsed: Duration,
    now: Timestamp,
) -> (Verdict, Value) {
    let mut f = RedisFigures::facts(sample, elapsed);
    let baseline = Baseline::of(sample, previous, now);
    f.baseline_reset = matches!(baseline, Baseline::Restarted);

    // In the order of the table at the top of this module.
    let found: Vec<Finding> = [
        judge_loading(sample),
        judge_role(spec, sample),
        judge_replica_link(sample, &mut f),
        judge_replica_lag(spec, sample, &mut f),
        judge_replicas(spec, sample, &mut f),
        judge_memory(spec, sample, &mut f),
        judge_writes(spec, write_probe, &mut f),
        judge_response_time(spec, elapsed),
        judge_evictions(spec, sample, baseline, &mut f),
        judge_rejected_connections(sample, baseline, &mut f),
        judge_persistence(sample, &mut f),
    ]
    .into_iter()
    .flatten()
    .collect();

    // the verdict: the first failure, else the first warning
    let chosen = found.iter().find(|x| x.down).or_else(|| found.first());
    let verdict = match chosen {
        None => Verdict::Up,
        Some(x) if x.down => Verdict::down(ErrorKind::Assertion, x.message.clone()),
        Some(x) => Verdict::degraded(x.message.clone()),
    };
    f.reason = chosen.map(|x| x.reason);
    // every failing rule, failures before warnings, each once
    for x in found
        .iter()
        .filter(|x| x.down)
        .chain(found.iter().filter(|x| !x.down))
    {
        if !f.reasons.contains(&x.reason) {
            f.reasons.push(x.reason);
        }
    }
    let figures = serde_json::to_value(&f).expect("the Redis figures serialize to a JSON object");
    (verdict, figures)
}

/// `loading:1`: until its dataset is in memory the server answers `-LOADING` to
/// everything.
fn judge_loading(sample: &InfoSample) -> Option<Finding> {
    sample.loading.then(|| {
        Finding::down(
            reason::LOADING,
            "Redis is loading its dataset into memory (loading:1) and answers no queries"
                .to_owned(),
        )
    })
}

/// The role is not `expect_role` (when one is expected).
fn judge_role(spec: &RedisSpec, sample: &InfoSample) -> Option<Finding> {
    let want = spec.expect_role?;
    let message = match sample.role {
        Some(got) if got == want => return None,
        Some(got) => format!(
            "role is {}, expected {} (an unintended failover?)",
            got.as_str(),
            want.as_str()
        ),
        None => format!(
            "role is {}, expected {}",
            sample
                .role_text
                .as_deref()
                .unwrap_or("not reported by INFO"),
            want.as_str()
        ),
    };
    Some(Finding::down(reason::ROLE_MISMATCH, message))
}

/// On a replica: (re)synchronising with its primary (degraded), else a link that is
/// not `up` (down). Reports the replica's view of its primary.
fn judge_replica_link(sample: &InfoSample, f: &mut RedisFigures) -> Option<Finding> {
    if sample.role != Some(RedisRole::Replica) {
        return None;
    }
    let master = master_addr(sample);
    let primary = master.as_deref().unwrap_or("the primary");
    let finding = if sample.master_sync_in_progress {
        Some(Finding::degraded(
            reason::REPLICA_SYNCING,
            format!("replica is synchronising with {primary} (master_sync_in_progress:1)"),
        ))
    } else if !link_up(sample) {
        let since = sample
            .master_link_down_since_seconds
            .filter(|s| *s >= 0)
            .map(|s| format!(" for {s} s"))
            .unwrap_or_default();
        Some(Finding::down(
            reason::REPLICA_DISCONNECTED,
            format!(
                "replica link to {primary} is {}{since} (master_link_status)",
                sample
                    .master_link_status
                    .as_deref()
                    .unwrap_or("not reported")
            ),
        ))
    } else {
        None
    };
    f.link = Some(LinkFigures {
        master,
        master_link_status: sample.master_link_status.clone(),
        sync_in_progress: sample.master_sync_in_progress,
    });
    finding
}

/// Replication lag, reported as `lag_seconds` / `lag_bytes`.
///
/// On a replica whose link is up: seconds since it last heard from its primary,
/// judged against `max_lag`, else bytes received but not yet applied, judged against
/// `max_lag_bytes`. On a primary: the largest of its online replicas' lags, the bytes
/// judged against `max_lag_bytes` (the seconds are only reported).
fn judge_replica_lag(
    spec: &RedisSpec,
    sample: &InfoSample,
    f: &mut RedisFigures,
) -> Option<Finding> {
    match sample.role? {
        RedisRole::Replica => {
            if !link_up(sample) {
                return None;
            }
            let lag_seconds = sample.master_last_io_seconds_ago.filter(|s| *s >= 0);
            let lag_bytes = match (sample.slave_read_repl_offset, sample.slave_repl_offset) {
                (Some(read), Some(applied)) => Some(read.saturating_sub(applied).max(0)),
                _ => None,
            };
            f.lag_seconds = lag_seconds;
            f.lag_bytes = lag_bytes;
            let max_lag = spec.max_lag.as_secs();
            if let Some(s) = lag_seconds
                && u64::try_from(s).unwrap_or(0) > max_lag
            {
                let master = master_addr(sample);
                let primary = master.as_deref().unwrap_or("the primary");
                Some(Finding::degraded(
                    reason::REPLICA_LAG,
                    format!(
                        "replica last heard from {primary} {s} s ago, over the {max_lag} s max_lag"
                    ),
                ))
            } else if let (Some(b), Some(limit)) = (lag_bytes, spec.max_lag_bytes)
                && u64::try_from(b).unwrap_or(0) > limit
            {
                Some(Finding::degraded(
                    reason::REPLICA_LAG,
                    format!(
                        "replica has {b} bytes received but not yet applied, over the {limit} bytes max_lag_bytes"
                    ),
                ))
            } else {
                None
            }
        }
        RedisRole::Primary => {
            let worst = sample
                .replicas
                .iter()
                .filter_map(|r| bytes_behind(sample, r))
                .max();
            f.lag_bytes = worst;
            f.lag_seconds = sample
                .replicas
                .iter()
                .filter(|r| r.state == "online")
                .filter_map(|r| r.lag_seconds)
                .max();
            let (Some(worst), Some(limit)) = (worst, spec.max_lag_bytes) else {
                return None;
            };
            if u64::try_from(worst).unwrap_or(0) <= limit {
                return None;
            }
            let who = sample
                .replicas
                .iter()
                .find(|r| bytes_behind(sample, r) == Some(worst))
                .map_or_else(|| "a replica".to_owned(), ReplicaLine::addr);
            Some(Finding::degraded(
                reason::REPLICA_LAG,
                format!(
                    "replica {who} is {worst} bytes behind, over the {limit} bytes max_lag_bytes"
                ),
            ))
        }
    }
}

/// On a primary, fewer connected replicas than `expect_replicas`. Reports
/// `connected_replicas` and the `slaveN:` lines whatever the role.
fn judge_replicas(spec: &RedisSpec, sample: &InfoSample, f: &mut RedisFigures) -> Option<Finding> {
    f.replicas = sample
        .replicas
        .iter()
        .map(|r| ReplicaFigures {
            addr: r.addr(),
            state: r.state.clone(),
            offset: r.offset,
            lag_seconds: r.lag_seconds,
            lag_bytes: bytes_behind(sample, r),
        })
        .collect();
    f.connected_replicas = sample
        .connected_slaves
        .or_else(|| u32::try_from(sample.replicas.len()).ok());
    if sample.role != Some(RedisRole::Primary) {
        return None;
    }
    let want = spec.expect_replicas?;
    let got = f.connected_replicas.unwrap_or(0);
    (got < want).then(|| {
        Finding::degraded(
            reason::MISSING_REPLICAS,
            format!("{got} replica(s) connected, expected {want}"),
        )
    })
}

/// `used_memory` over `maxmemory` (or, when that is unlimited, the configured
/// `limit_bytes`): down over `memory_critical`, degraded over `memory_warn`. Without
/// a limit the memory figures are only reported.
fn judge_memory(spec: &RedisSpec, sample: &InfoSample, f: &mut RedisFigures) -> Option<Finding> {
    let (max, source) = match (sample.maxmemory, spec.memory_limit_bytes) {
        (Some(m), _) if m > 0 => (Some(m), Some("maxmemory")),
        (_, Some(limit)) if limit > 0 => (Some(limit), Some("limit_bytes")),
        _ => (None, None),
    };
    let ratio = match (sample.used_memory, max) {
        (Some(u), Some(m)) => Some(u as f64 / m as f64),
        _ => None,
    };
    f.used_bytes = sample.used_memory;
    f.max_bytes = max;
    f.max_bytes_source = source;
    f.memory_ratio = ratio.map(|r| (r * 10_000.0).round() / 10_000.0);
    f.policy = sample.maxmemory_policy.clone();

    let (Some(r), Some(m)) = (ratio, max) else {
        return None;
    };
    let of = if source == Some("maxmemory") {
        format!("of maxmemory ({})", human_bytes(m))
    } else {
        format!("of the configured limit ({})", human_bytes(m))
    };
    if r > spec.memory_critical {
        Some(Finding::down(
            reason::MEMORY_PRESSURE,
            format!(
                "memory {} {of}, over the {} critical threshold",
                percent(r, 1),
                percent(spec.memory_critical, 1).replace(".0%", "%")
            ),
        ))
    } else if r > spec.memory_warn {
        Some(Finding::degraded(
            reason::MEMORY_PRESSURE,
            format!(
                "memory {} {of}, over the {} warning threshold",
                percent(r, 1),
                percent(spec.memory_warn, 1).replace(".0%", "%")
            ),
        ))
    } else {
        None
    }
}

/// The write probe's `SET` was refused. Reports what the probe met, when it ran.
fn judge_writes(
    spec: &RedisSpec,
    write_probe: Option<WriteProbeOutcome>,
    f: &mut RedisFigures,
) -> Option<Finding> {
    let (figures, finding) = match write_probe? {
        WriteProbeOutcome::Accepted => (WriteProbeFigures::Accepted, None),
        WriteProbeOutcome::Refused(error) => {
            let finding = Finding::down(
                reason::WRITES_REFUSED,
                format!(
                    "write probe SET {} was refused: {error}",
                    spec.write_probe_key
                ),
            );
            (
                WriteProbeFigures::Refused { write_error: error },
                Some(finding),
            )
        }
        WriteProbeOutcome::Skipped(why) => (
            WriteProbeFigures::Skipped {
                write_probe_skipped: why,
            },
            None,
        ),
    };
    f.write_probe = Some(figures);
    finding
}

/// Slower than `response_time` (down), else than `warn_response_time` (degraded).
fn judge_response_time(spec: &RedisSpec, elapsed: Duration) -> Option<Finding> {
    if let Some(limit) = spec.response_time
        && elapsed > limit
    {
        Some(Finding::down(
            reason::SLOW_RESPONSE,
            slower_than(elapsed, limit),
        ))
    } else if let Some(limit) = spec.warn_response_time
        && elapsed > limit
    {
        Some(Finding::degraded(
            reason::SLOW_RESPONSE,
            slower_than(elapsed, limit),
        ))
    } else {
        None
    }
}

/// `evicted_keys` grew faster than `evictions_per_min` since the previous sample.
fn judge_evictions(
    spec: &RedisSpec,
    sample: &InfoSample,
    baseline: Baseline<'_>,
    f: &mut RedisFigures,
) -> Option<Finding> {
    f.evicted_keys = sample.evicted_keys;
    let Baseline::Since { previous, minutes } = baseline else {
        return None;
    };
    match growth(previous.evicted_keys, sample.evicted_keys) {
        Growth::Grew(evicted) => {
            let rate = evicted as f64 / minutes;
            f.evictions_per_min = Some((rate * 10.0).round() / 10.0);
            (rate > spec.evictions_per_min as f64).then(|| {
                Finding::degraded(
                    reason::EVICTION_STORM,
                    format!(
                        "{evicted} keys evicted in the last {}, {rate:.0} per minute, over the {} per minute limit",
                        span_words(minutes),
                        spec.evictions_per_min
                    ),
                )
            })
        }
        Growth::Reset => {
            f.baseline_reset = true;
            None
        }
        Growth::Unknown => None,
    }
}

/// `rejected_connections` grew since the previous sample.
fn judge_rejected_connections(
    sample: &InfoSample,
    baseline: Baseline<'_>,
    f: &mut RedisFigures,
) -> Option<Finding> {
    f.rejected_connections = sample.rejected_connections;
    let Baseline::Since { previous, .. } = baseline else {
        return None;
    };
    match growth(previous.rejected_connections, sample.rejected_connections) {
        Growth::Grew(rejected) => {
            f.rejected_connections_growth = Some(rejected);
            (rejected > 0).then(|| {
                Finding::degraded(
                    reason::REJECTED_CONNECTIONS,
                    format!(
                        "{rejected} connection(s) rejected since the last check (maxclients reached?)"
                    ),
                )
            })
        }
        Growth::Reset => {
            f.baseline_reset = true;
            None
        }
        Growth::Unknown => None,
    }
}

/// The last RDB save or the last AOF write failed.
fn judge_persistence(sample: &InfoSample, f: &mut RedisFigures) -> Option<Finding> {
    f.rdb_last_bgsave_status = sample.rdb_last_bgsave_status.clone();
    f.aof_enabled = sample.aof_enabled;
    f.aof_last_write_status = sample.aof_last_write_status.clone();
    let mut broken = Vec::new();
    if sample.rdb_last_bgsave_status.as_deref() == Some("err") {
        broken.push("the last RDB save failed (rdb_last_bgsave_status:err)");
    }
    if sample.aof_last_write_status.as_deref() == Some("err") {
        broken.push("the last AOF write failed (aof_last_write_status:err)");
    }
    (!broken.is_empty()).then(|| Finding::degraded(reason::PERSISTENCE_ERROR, broken.join("; ")))
}

/// A replica's primary, `host:port` (or the host alone) as `INFO` names it.
fn master_addr(sample: &InfoSample) -> Option<String> {
    match (&sample.master_host, sample.master_port) {
        (Some(h), Some(p)) => Some(format!("{h}:{p}")),
        (Some(h), None) => Some(h.clone()),
        _ => None,
    }
}

/// Whether a replica reports its link to the primary as `up`.
fn link_up(sample: &InfoSample) -> bool {
    sample.master_link_status.as_deref() == Some("up")
}

/// How many bytes an online replica is behind its primary (`master_repl_offset −
/// offset`, never negative); `None` when the replica is not online or an offset is
/// missing.
fn bytes_behind(sample: &InfoSample, r: &ReplicaLine) -> Option<i64> {
    match (sample.master_repl_offset, r.offset) {
        (Some(m), Some(o)) if r.state == "online" => Some(m.saturating_sub(o).max(0)),
        _ => None,
    }
}

impl ReplicaLine {
    /// `ip:port`.
    fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// What the counters are judged against this time.
#[derive(Debug, Clone, Copy)]
enum Baseline<'a> {
    /// No previous sample, or none taken before this one: nothing to compare.
    Missing,
    /// The server restarted since the previous sample (a new `run_id`, or a smaller
    /// `uptime_in_seconds`): this sample becomes the baseline.
    Restarted,
    /// The previous sample of the same run, taken `minutes` before this one.
    Since {
        previous: &'a InfoSample,
        minutes: f64,
    },
}

impl<'a> Baseline<'a> {
    fn of(
        sample: &InfoSample,
        previous: Option<(&'a InfoSample, Timestamp)>,
        now: Timestamp,
    ) -> Self {
        let Some((previous, at)) =
            previous.filter(|(_, at)| at.as_millisecond() < now.as_millisecond())
        else {
            return Baseline::Missing;
        };
        let new_run = matches!((&previous.run_id, &sample.run_id), (Some(a), Some(b)) if a != b);
        let younger = matches!(
            (previous.uptime_seconds, sample.uptime_seconds),
            (Some(a), Some(b)) if b < a
        );
        if new_run || younger {
            return Baseline::Restarted;
        }
        Baseline::Since {
            previous,
            minutes: (now.as_millisecond() - at.as_millisecond()) as f64 / 60_000.0,
        }
    }
}

/// How a counter moved between two samples of the same run.
enum Growth {
    /// One of the samples does not report it.
    Unknown,
    /// It went down (`CONFIG RESETSTAT`): this sample becomes the baseline.
    Reset,
    /// It grew by this much (possibly 0).
    Grew(u64),
}

fn growth(before: Option<u64>, after: Option<u64>) -> Growth {
    match (before, after) {
        (Some(a), Some(b)) if b >= a => Growth::Grew(b - a),
        (Some(_), Some(_)) => Growth::Reset,
        _ => Growth::Unknown,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn slower_than(elapsed: Duration, limit: Duration) -> String {
    format!(
        "response took {} ms, over the {} ms limit",
        elapsed.as_millis(),
        limit.as_millis()
    )
}

/// `0.962` → `96.2%`.
fn percent(ratio: f64, decimals: usize) -> String {
    format!("{:.*}%", decimals, ratio * 100.0)
}

/// A time span in minutes, in words: `45 s`, `2.5 min`.
fn span_words(minutes: f64) -> String {
    if minutes < 1.0 {
        format!("{:.1} s", minutes * 60.0)
    } else {
        format!("{minutes:.1} min")
    }
}

/// Bytes in the units Redis itself uses (1 KB = 1024 bytes, as `maxmemory 1mb`):
/// `512 B`, `1.0 MB`, `3.2 GB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let mut s = String::new();
    let _ = write!(s, "{v:.1} {}", UNITS[unit]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::{CheckSpec, MonitorConfig};

    fn spec(extra: Value) -> RedisSpec {
        let mut base = json!({"name": "r", "type": "redis", "url": "redis://127.0.0.1:6379"});
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let cfg: MonitorConfig = serde_json::from_value(base).unwrap();
        match cfg.build().unwrap().check {
            CheckSpec::Redis(r) => r,
            _ => unreachable!(),
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    const FAST: Duration = Duration::from_millis(3);

    /// A healthy standalone primary, as Redis 7.0 reports it (trimmed), with the
    /// given lines replacing or adding fields.
    fn info(overrides: &[&str]) -> String {
        let base = "# Server\r\nredis_version:7.0.15\r\nrun_id:aaaa\r\nuptime_in_seconds:1000\r\n\r\n\
# Clients\r\nconnected_clients:3\r\n\r\n\
# Memory\r\nused_memory:1000000\r\nused_memory_human:976.56K\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n\r\n\
# Persistence\r\nloading:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_last_write_status:ok\r\n\r\n\
# Stats\r\nrejected_connections:0\r\nevicted_keys:0\r\n\r\n\
# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n";
        let mut lines: Vec<String> = base.split("\r\n").map(str::to_owned).collect();
        for o in overrides {
            let key = o.split_once(':').unwrap().0;
            match lines
                .iter_mut()
                .find(|l| l.split_once(':').is_some_and(|(k, _)| k == key))
            {
                Some(l) => *l = (*o).to_owned(),
                None => lines.push((*o).to_owned()),
            }
        }
        lines.join("\r\n")
    }

    fn replica_info(overrides: &[&str]) -> String {
        let mut all = vec![
            "role:slave",
            "master_host:10.0.0.1",
            "master_port:6379",
            "master_link_status:up",
            "master_last_io_seconds_ago:1",
            "master_sync_in_progress:0",
            "slave_read_repl_offset:5000",
            "slave_repl_offset:5000",
            "master_repl_offset:5000",
        ];
        all.extend_from_slice(overrides);
        info(&all)
    }

    fn judge(s: &RedisSpec, text: &str) -> (Verdict, Value) {
        evaluate(s, &parse_info(text), None, None, FAST, t(0))
    }

    #[track_caller]
    fn assert_down(v: &(Verdict, Value), reason: &str, words: &str) {
        match &v.0 {
            Verdict::Down { kind, message } => {
                assert_eq!(*kind, ErrorKind::Assertion);
                assert!(message.contains(words), "{message:?} lacks {words:?}");
            }
            other => panic!("expected down, got {other:?}"),
        }
        assert_eq!(v.1["reason"], reason, "{}", v.1);
    }

    #[track_caller]
    fn assert_degraded(v: &(Verdict, Value), reason: &str, words: &str) {
        match &v.0 {
            Verdict::Degraded { reason: message } => {
                assert!(message.contains(words), "{message:?} lacks {words:?}");
            }
            other => panic!("expected degraded, got {other:?}"),
        }
        assert_eq!(v.1["reason"], reason, "{}", v.1);
    }

    #[test]
    fn parses_info_text() {
        let s = parse_info(&info(&[
            "maxmemory:2097152",
            "evicted_keys:12",
            "connected_slaves:2",
            "slave0:ip=10.0.0.2,port=6379,state=online,offset=900,lag=0",
            "slave1:ip=10.0.0.3,port=6380,state=wait_bgsave,offset=0,lag=3",
        ]));
        assert_eq!(s.redis_version.as_deref(), Some("7.0.15"));
        assert_eq!(s.role, Some(RedisRole::Primary));
        assert_eq!(s.used_memory, Some(1_000_000));
        assert_eq!(s.maxmemory, Some(2_097_152));
        assert_eq!(s.maxmemory_policy.as_deref(), Some("noeviction"));
        assert_eq!(s.evicted_keys, Some(12));
        assert_eq!(s.uptime_seconds, Some(1000));
        assert_eq!(s.connected_slaves, Some(2));
        assert_eq!(s.replicas.len(), 2);
        assert_eq!(s.replicas[1].ip, "10.0.0.3");
        assert_eq!(s.replicas[1].port, 6380);
        assert_eq!(s.replicas[1].state, "wait_bgsave");
        assert_eq!(s.replicas[1].lag_seconds, Some(3));
        assert!(!s.loading);

        let r = parse_info(&replica_info(&["master_link_down_since_seconds:-1"]));
        assert_eq!(r.role, Some(RedisRole::Replica));
        assert_eq!(r.master_host.as_deref(), Some("10.0.0.1"));
        assert_eq!(r.master_link_status.as_deref(), Some("up"));
        assert_eq!(r.slave_repl_offset, Some(5000));
        // slave_repl_offset and friends are not replica lines
        assert!(r.replicas.is_empty());
    }

    #[test]
    fn parsing_tolerates_garbage() {
        let s = parse_info("garbage\nrole\n:x\nused_memory:lots\nslave0:nonsense\n\u{1F600}:1\n");
        assert_eq!(s, InfoSample::default());
        // a long text is cut on a character boundary
        let long = "é".repeat(MAX_INFO_BYTES);
        let _ = parse_info(&long);
        // LF-only line endings work too
        let s = parse_info("role:slave\nmaster_link_status:down\n");
        assert_eq!(s.role, Some(RedisRole::Replica));
    }

    #[test]
    fn healthy_standalone_is_up_with_figures() {
        let (v, f) = judge(&spec(json!({})), &info(&["maxmemory:10485760"]));
        assert_eq!(v, Verdict::Up);
        assert_eq!(f["reason"], Value::Null);
        assert_eq!(f["reasons"], json!([]));
        assert_eq!(f["role"], "primary");
        assert_eq!(f["used_bytes"], 1_000_000);
        assert_eq!(f["max_bytes"], 10_485_760);
        assert_eq!(f["memory_ratio"], 0.0954);
        assert_eq!(f["policy"], "noeviction");
        assert_eq!(f["connected_replicas"], 0);
        assert_eq!(f["replicas"], json!([]));
        assert_eq!(f["evictions_per_min"], Value::Null);
        assert_eq!(f["redis_version"], "7.0.15");
    }

    #[test]
    fn memory_over_critical_is_down_and_over_warn_degraded() {
        let s = spec(json!({}));
        // 1 MB maxmemory, 96.2% used
        let v = judge(&s, &info(&["maxmemory:1048576", "used_memory:1008730"]));
        assert_down(
            &v,
            "memory_pressure",
            "memory 96.2% of maxmemory (1.0 MB), over the 95% critical threshold",
        );
        assert_eq!(v.1["max_bytes"], 1_048_576);
        assert_eq!(v.1["max_bytes_source"], "maxmemory");
        let v = judge(&s, &info(&["maxmemory:1048576", "used_memory:975000"]));
        assert_degraded(&v, "memory_pressure", "over the 90% warning threshold");
        let v = judge(&s, &info(&["maxmemory:1048576", "used_memory:900000"]));
        assert_eq!(v.0, Verdict::Up);
        // custom thresholds
        let s = spec(json!({"memory": {"warn": 0.5, "critical": 0.8}}));
        let v = judge(&s, &info(&["maxmemory:1048576", "used_memory:900000"]));
        assert_down(&v, "memory_pressure", "over the 80% critical threshold");
    }

    #[test]
    fn unlimited_memory_uses_limit_bytes_or_only_reports() {
        let v = judge(&spec(json!({})), &info(&["used_memory:999999999"]));
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(v.1["used_bytes"], 999_999_999);
        assert_eq!(v.1["max_bytes"], Value::Null);
        assert_eq!(v.1["memory_ratio"], Value::Null);
        let s = spec(json!({"memory": {"limit_bytes": 1_000_000_000u64}}));
        let v = judge(&s, &info(&["used_memory:999999999"]));
        assert_down(&v, "memory_pressure", "of the configured limit (953.7 MB)");
        assert_eq!(v.1["max_bytes_source"], "limit_bytes");
        // maxmemory, when set, wins over limit_bytes
        let v = judge(
            &s,
            &info(&["used_memory:999999999", "maxmemory:4000000000"]),
        );
        assert_eq!(v.0, Verdict::Up);
    }

    #[test]
    fn refused_write_is_down_with_the_redis_error() {
        let s = spec(json!({"write_probe": true}));
        let oom = "OOM command not allowed when used memory > 'maxmemory'.";
        let v = evaluate(
            &s,
            &parse_info(&info(&[])),
            None,
            Some(WriteProbeOutcome::Refused(oom.into())),
            FAST,
            t(0),
        );
        assert_down(&v, "writes_refused", oom);
        assert!(v.0.message().unwrap().contains("SET vigilmon:probe"));
        assert_eq!(v.1["write_probe"], "refused");
        assert_eq!(v.1["write_error"], oom);
        for err in [
            "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
            "READONLY You can't write against a read only replica.",
        ] {
            let v = evaluate(
                &s,
                &parse_info(&info(&[])),
                None,
                Some(WriteProbeOutcome::Refused(err.into())),
                FAST,
                t(0),
            );
            assert_down(&v, "writes_refused", err);
        }
        let v = evaluate(
            &s,
            &parse_info(&info(&[])),
            None,
            Some(WriteProbeOutcome::Accepted),
            FAST,
            t(0),
        );
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(v.1["write_probe"], "ok");
        // full memory under noeviction: the cause names the verdict, the refusal is listed
        let v = evaluate(
            &s,
            &parse_info(&info(&["maxmemory:1048576", "used_memory:1100000"])),
            None,
            Some(WriteProbeOutcome::Refused(oom.into())),
            FAST,
            t(0),
        );
        assert_down(&v, "memory_pressure", "104.9% of maxmemory");
        assert_eq!(v.1["reasons"], json!(["memory_pressure", "writes_refused"]));
    }

    #[test]
    fn eviction_storm_is_judged_by_growth_per_minute() {
        let s = spec(json!({}));
        let before = parse_info(&info(&["evicted_keys:100000"]));
        // 600 more in 30 s = 1200 per minute
        let now = parse_info(&info(&["evicted_keys:100600", "uptime_in_seconds:1030"]));
        let v = evaluate(&s, &now, Some((&before, t(0))), None, FAST, t(30));
        assert_degraded(
            &v,
            "eviction_storm",
            "600 keys evicted in the last 30.0 s, 1200 per minute",
        );
        assert_eq!(v.1["evictions_per_min"], 1200.0);
        // 400 in 30 s = 800 per minute: fine, whatever the absolute count
        let ok = parse_info(&info(&["evicted_keys:100400", "uptime_in_seconds:1030"]));
        let v = evaluate(&s, &ok, Some((&before, t(0))), None, FAST, t(30));
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(v.1["evictions_per_min"], 800.0);
        // the first sample has no baseline: never judged
        let v = evaluate(&s, &now, None, None, FAST, t(30));
        assert_eq!(v.0, Verdict::Up);
        // a custom limit
        let s = spec(json!({"evictions_per_min": 500}));
        let v = evaluate(&s, &ok, Some((&before, t(0))), None, FAST, t(30));
        assert_degraded(&v, "eviction_storm", "over the 500 per minute limit");
    }

    #[test]
    fn a_restart_resets_the_baseline_instead_of_alarming() {
        let s = spec(json!({}));
        let before = parse_info(&info(&["evicted_keys:900000", "rejected_connections:50"]));
        // restarted: counters start again, uptime smaller
        let after = parse_info(&info(&[
            "evicted_keys:3000",
            "rejected_connections:2",
            "uptime_in_seconds:5",
        ]));
        let v = evaluate(&s, &after, Some((&before, t(0))), None, FAST, t(60));
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(v.1["baseline_reset"], true);
        // a new run_id with a larger uptime is a restart too: counters grew, but are not judged
        let after = parse_info(&info(&[
            "evicted_keys:990000",
            "rejected_connections:80",
            "run_id:bbbb",
            "uptime_in_seconds:2000",
        ]));
        let v = evaluate(&s, &after, Some((&before, t(0))), None, FAST, t(60));
        assert_eq!(v.0, Verdict::Up);
        // CONFIG RESETSTAT: same run, counter went down
        let after = parse_info(&info(&["evicted_keys:0", "rejected_connections:0"]));
        let v = evaluate(&s, &after, Some((&before, t(0))), None, FAST, t(60));
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(v.1["baseline_reset"], true);
        // a previous sample not older than this one is ignored
        let grown = parse_info(&info(&["evicted_keys:999999"]));
        let v = evaluate(&s, &grown, Some((&before, t(60))), None, FAST, t(60));
        assert_eq!(v.0, Verdict::Up);
    }

    #[test]
    fn role_mismatch_is_down() {
        let v = judge(&spec(json!({"expect_role": "primary"})), &replica_info(&[]));
        assert_down(&v, "role_mismatch", "role is replica, expected primary");
        let v = judge(&spec(json!({"expect_role": "replica"})), &info(&[]));
        assert_down(&v, "role_mismatch", "role is primary, expected replica");
        let v = judge(&spec(json!({"expect_role": "replica"})), &replica_info(&[]));
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(v.1["role"], "replica");
        assert_eq!(v.1["master"], "10.0.0.1:6379");
        assert_eq!(v.1["lag_seconds"], 1);
        assert_eq!(v.1["lag_bytes"], 0);
    }

    #[test]
    fn replica_link_down_is_down_and_sync_degraded() {
        let v = judge(
            &spec(json!({})),
            &replica_info(&[
                "master_link_status:down",
                "master_last_io_seconds_ago:-1",
                "master_link_down_since_seconds:12",
            ]),
        );
        assert_down(
            &v,
            "replica_disconnected",
            "replica link to 10.0.0.1:6379 is down for 12 s",
        );
        assert_eq!(v.1["lag_seconds"], Value::Null);
        let v = judge(
            &spec(json!({})),
            &replica_info(&["master_link_status:down", "master_sync_in_progress:1"]),
        );
        assert_degraded(&v, "replica_syncing", "synchronising with 10.0.0.1:6379");
    }

    #[test]
    fn replica_lag_degrades() {
        let v = judge(
            &spec(json!({"max_lag": "10s"})),
            &replica_info(&["master_last_io_seconds_ago:11"]),
        );
        assert_degraded(&v, "replica_lag", "11 s ago, over the 10 s max_lag");
        assert_eq!(v.1["lag_seconds"], 11);
        // the default max_lag is 30 s
        let v = judge(
            &spec(json!({})),
            &replica_info(&["master_last_io_seconds_ago:11"]),
        );
        assert_eq!(v.0, Verdict::Up);
        // bytes received but not applied, on a replica
        let v = judge(
            &spec(json!({"max_lag_bytes": 1000})),
            &replica_info(&["slave_read_repl_offset:7000"]),
        );
        assert_degraded(&v, "replica_lag", "2000 bytes received but not yet applied");
        // bytes behind, seen from the primary
        let v = judge(
            &spec(json!({"max_lag_bytes": 1000})),
            &info(&[
                "master_repl_offset:10000",
                "connected_slaves:2",
                "slave0:ip=10.0.0.2,port=6379,state=online,offset=9990,lag=0",
                "slave1:ip=10.0.0.3,port=6379,state=online,offset=8000,lag=1",
            ]),
        );
        assert_degraded(
            &v,
            "replica_lag",
            "replica 10.0.0.3:6379 is 2000 bytes behind",
        );
        assert_eq!(v.1["lag_bytes"], 2000);
        assert_eq!(v.1["replicas"][0]["lag_bytes"], 10);
        assert_eq!(v.1["replicas"][1]["addr"], "10.0.0.3:6379");
        assert_eq!(v.1["replicas"][1]["state"], "online");
        assert_eq!(v.1["replicas"][1]["offset"], 8000);
        assert_eq!(v.1["replicas"][1]["lag_seconds"], 1);
    }

    #[test]
    fn persistence_errors_degrade() {
        let v = judge(&spec(json!({})), &info(&["rdb_last_bgsave_status:err"]));
        assert_degraded(&v, "persistence_error", "last RDB save failed");
        let v = judge(
            &spec(json!({})),
            &info(&["aof_enabled:1", "aof_last_write_status:err"]),
        );
        assert_degraded(&v, "persistence_error", "last AOF write failed");
    }

    #[test]
    fn loading_is_down() {
        let v = judge(&spec(json!({})), &info(&["loading:1"]));
        assert_down(&v, "loading", "loading its dataset");
    }

    #[test]
    fn rejected_connections_growth_degrades() {
        let s = spec(json!({}));
        let before = parse_info(&info(&["rejected_connections:7"]));
        let after = parse_info(&info(&["rejected_connections:9"]));
        let v = evaluate(&s, &after, Some((&before, t(0))), None, FAST, t(60));
        assert_degraded(&v, "rejected_connections", "2 connection(s) rejected");
        assert_eq!(v.1["rejected_connections_growth"], 2);
        // absolute values alone never alarm
        let v = evaluate(&s, &before, Some((&before, t(0))), None, FAST, t(60));
        assert_eq!(v.0, Verdict::Up);
    }

    #[test]
    fn missing_replicas_degrade_a_primary() {
        let s = spec(json!({"expect_replicas": 2}));
        let v = judge(
            &s,
            &info(&[
                "connected_slaves:1",
                "slave0:ip=10.0.0.2,port=6379,state=online,offset=0,lag=0",
            ]),
        );
        assert_degraded(&v, "missing_replicas", "1 replica(s) connected, expected 2");
        assert_eq!(v.1["connected_replicas"], 1);
        // on a replica, expect_replicas is not judged
        let v = judge(&s, &replica_info(&[]));
        assert_eq!(v.0, Verdict::Up);
    }

    #[test]
    fn response_time_limits() {
        let s =
            spec(json!({"expect": {"response_time": "100ms"}, "warn": {"response_time": "50ms"}}));
        let text = parse_info(&info(&[]));
        let v = evaluate(&s, &text, None, None, Duration::from_millis(150), t(0));
        assert_down(
            &v,
            "slow_response",
            "response took 150 ms, over the 100 ms limit",
        );
        let v = evaluate(&s, &text, None, None, Duration::from_millis(70), t(0));
        assert_degraded(&v, "slow_response", "over the 50 ms limit");
        assert_eq!(v.1["response_ms"], 70);
    }

    #[test]
    fn failures_win_over_warnings_and_all_are_listed() {
        let s = spec(json!({"expect_role": "primary"}));
        let v = judge(
            &s,
            &replica_info(&[
                "maxmemory:1048576",
                "used_memory:960000",
                "rdb_last_bgsave_status:err",
            ]),
        );
        assert_down(&v, "role_mismatch", "expected primary");
        assert_eq!(
            v.1["reasons"],
            json!(["role_mismatch", "memory_pressure", "persistence_error"])
        );
    }

    #[test]
    fn sidecar_status_mapping() {
        let down = Verdict::down(ErrorKind::Assertion, "x");
        assert_eq!(health_status(&Verdict::Up, None), HealthStatus::Ok);
        for r in [
            "memory_pressure",
            "writes_refused",
            "role_mismatch",
            "loading",
        ] {
            assert_eq!(health_status(&down, Some(r)), HealthStatus::Critical, "{r}");
        }
        assert_eq!(
            health_status(&down, Some("replica_disconnected")),
            HealthStatus::Degraded
        );
        assert_eq!(
            health_status(&Verdict::degraded("x"), Some("eviction_storm")),
            HealthStatus::Degraded
        );
        let refused = Verdict::down(ErrorKind::Connect, "refused");
        assert_eq!(
            health_status(&refused, Some("unreachable")),
            HealthStatus::Down
        );
        assert_eq!(
            health_status(&refused, Some("auth_failed")),
            HealthStatus::Down
        );
        assert_eq!(health_status(&refused, None), HealthStatus::Down);
        assert_eq!(HealthStatus::Critical.as_str(), "critical");
        assert!(is_replication_reason("replica_lag"));
        assert!(!is_replication_reason("memory_pressure"));
        assert_eq!(failure_figures("auth_failed")["reason"], "auth_failed");
    }

    // The whole figures object for a few rich samples, pinned: the figures are
    // stored, shown and served, so their shape (keys, nulls, integer or float) is a
    // wire format.

    #[test]
    fn figures_of_a_primary_with_replicas() {
        let s = spec(json!({
            "expect_replicas": 4,
            "max_lag_bytes": 1000,
            "write_probe": true,
        }));
        let before = parse_info(&info(&["evicted_keys:10", "rejected_connections:4"]));
        let now = parse_info(&info(&[
            "uptime_in_seconds:1120",
            "maxmemory:10485760",
            "maxmemory_policy:allkeys-lru",
            "evicted_keys:70",
            "rejected_connections:4",
            "master_repl_offset:10000",
            "connected_slaves:3",
            "slave0:ip=10.0.0.2,port=6379,state=online,offset=9990,lag=0",
            "slave1:ip=10.0.0.3,port=6380,state=online,offset=8000,lag=2",
            "slave2:ip=10.0.0.4,port=6379,state=wait_bgsave,offset=0,lag=7",
        ]));
        let v = evaluate(
            &s,
            &now,
            Some((&before, t(0))),
            Some(WriteProbeOutcome::Accepted),
            FAST,
            t(120),
        );
        assert_eq!(
            v.0,
            Verdict::degraded(
                "replica 10.0.0.3:6380 is 2000 bytes behind, over the 1000 bytes max_lag_bytes"
            )
        );
        assert_eq!(
            v.1,
            json!({
                "redis_version": "7.0.15",
                "uptime_seconds": 1120,
                "connected_clients": 3,
                "role": "primary",
                "loading": false,
                "response_ms": 3,
                "lag_seconds": 2,
                "lag_bytes": 2000,
                "connected_replicas": 3,
                "replicas": [
                    {
                        "addr": "10.0.0.2:6379",
                        "state": "online",
                        "offset": 9990,
                        "lag_seconds": 0,
                        "lag_bytes": 10,
                    },
                    {
                        "addr": "10.0.0.3:6380",
                        "state": "online",
                        "offset": 8000,
                        "lag_seconds": 2,
                        "lag_bytes": 2000,
                    },
                    {
                        "addr": "10.0.0.4:6379",
                        "state": "wait_bgsave",
                        "offset": 0,
                        "lag_seconds": 7,
                        "lag_bytes": null,
                    },
                ],
                "used_bytes": 1_000_000,
                "max_bytes": 10_485_760,
                "max_bytes_source": "maxmemory",
                "memory_ratio": 0.0954,
                "policy": "allkeys-lru",
                "write_probe": "ok",
                "evicted_keys": 70,
                "rejected_connections": 4,
                "evictions_per_min": 30.0,
                "rejected_connections_growth": 0,
                "baseline_reset": false,
                "rdb_last_bgsave_status": "ok",
                "aof_enabled": false,
                "aof_last_write_status": "ok",
                "reason": "replica_lag",
                "reasons": ["replica_lag", "missing_replicas"],
            })
        );
    }

    #[test]
    fn figures_of_a_lagging_replica() {
        let s = spec(json!({"max_lag": "10s", "max_lag_bytes": 100}));
        let v = evaluate(
            &s,
            &parse_info(&replica_info(&[
                "master_last_io_seconds_ago:45",
                "slave_read_repl_offset:7000",
                "maxmemory:1048576",
                "used_memory:960000",
                "rdb_last_bgsave_status:err",
            ])),
            None,
            Some(WriteProbeOutcome::Skipped(
                "the server is an expected replica".into(),
            )),
            FAST,
            t(0),
        );
        // replication is judged before memory, so the lag names the verdict
        assert_eq!(
            v.0,
            Verdict::degraded(
                "replica last heard from 10.0.0.1:6379 45 s ago, over the 10 s max_lag"
            )
        );
        assert_eq!(
            v.1,
            json!({
                "redis_version": "7.0.15",
                "uptime_seconds": 1000,
                "connected_clients": 3,
                "role": "replica",
                "loading": false,
                "response_ms": 3,
                "master": "10.0.0.1:6379",
                "master_link_status": "up",
                "sync_in_progress": false,
                "lag_seconds": 45,
                "lag_bytes": 2000,
                "connected_replicas": 0,
                "replicas": [],
                "used_bytes": 960_000,
                "max_bytes": 1_048_576,
                "max_bytes_source": "maxmemory",
                "memory_ratio": 0.9155,
                "policy": "noeviction",
                "write_probe": "skipped",
                "write_probe_skipped": "the server is an expected replica",
                "evicted_keys": 0,
                "rejected_connections": 0,
                "evictions_per_min": null,
                "rejected_connections_growth": null,
                "baseline_reset": false,
                "rdb_last_bgsave_status": "err",
                "aof_enabled": false,
                "aof_last_write_status": "ok",
                "reason": "replica_lag",
                "reasons": ["replica_lag", "memory_pressure", "persistence_error"],
            })
        );
    }

    #[test]
    fn figures_of_memory_pressure_with_writes_refused() {
        let s = spec(json!({"write_probe": true, "warn": {"response_time": "50ms"}}));
        let oom = "OOM command not allowed when used memory > 'maxmemory'.";
        let before = parse_info(&info(&["evicted_keys:100", "rejected_connections:1"]));
        let now = parse_info(&info(&[
            "maxmemory:1048576",
            "used_memory:1100000",
            "evicted_keys:2200",
            "rejected_connections:4",
            "uptime_in_seconds:1090",
        ]));
        let v = evaluate(
            &s,
            &now,
            Some((&before, t(0))),
            Some(WriteProbeOutcome::Refused(oom.into())),
            Duration::from_millis(70),
            t(90),
        );
        assert_eq!(
            v.0,
            Verdict::down(
                ErrorKind::Assertion,
                "memory 104.9% of maxmemory (1.0 MB), over the 95% critical threshold"
            )
        );
        assert_eq!(
            v.1,
            json!({
                "redis_version": "7.0.15",
                "uptime_seconds": 1090,
                "connected_clients": 3,
                "role": "primary",
                "loading": false,
                "response_ms": 70,
                "lag_seconds": null,
                "lag_bytes": null,
                "connected_replicas": 0,
                "replicas": [],
                "used_bytes": 1_100_000,
                "max_bytes": 1_048_576,
                "max_bytes_source": "maxmemory",
                "memory_ratio": 1.049,
                "policy": "noeviction",
                "write_probe": "refused",
                "write_error": oom,
                "evicted_keys": 2200,
                "rejected_connections": 4,
                "evictions_per_min": 1400.0,
                "rejected_connections_growth": 3,
                "baseline_reset": false,
                "rdb_last_bgsave_status": "ok",
                "aof_enabled": false,
                "aof_last_write_status": "ok",
                "reason": "memory_pressure",
                "reasons": [
                    "memory_pressure",
                    "writes_refused",
                    "slow_response",
                    "eviction_storm",
                    "rejected_connections",
                ],
            })
        );
    }

    #[test]
    fn figures_after_a_counter_reset() {
        let s = spec(json!({}));
        let before = parse_info(&info(&["evicted_keys:5000", "rejected_connections:3"]));
        // CONFIG RESETSTAT took evicted_keys back to 0; rejected_connections grew since
        let now = parse_info(&info(&[
            "evicted_keys:0",
            "rejected_connections:5",
            "uptime_in_seconds:1060",
            "aof_enabled:1",
            "aof_last_write_status:err",
        ]));
        let v = evaluate(&s, &now, Some((&before, t(0))), None, FAST, t(60));
        assert_eq!(
            v.0,
            Verdict::degraded(
                "2 connection(s) rejected since the last check (maxclients reached?)"
            )
        );
        assert_eq!(
            v.1,
            json!({
                "redis_version": "7.0.15",
                "uptime_seconds": 1060,
                "connected_clients": 3,
                "role": "primary",
                "loading": false,
                "response_ms": 3,
                "lag_seconds": null,
                "lag_bytes": null,
                "connected_replicas": 0,
                "replicas": [],
                "used_bytes": 1_000_000,
                "max_bytes": null,
                "max_bytes_source": null,
                "memory_ratio": null,
                "policy": "noeviction",
                "evicted_keys": 0,
                "rejected_connections": 5,
                "evictions_per_min": null,
                "rejected_connections_growth": 2,
                "baseline_reset": true,
                "rdb_last_bgsave_status": "ok",
                "aof_enabled": true,
                "aof_last_write_status": "err",
                "reason": "rejected_connections",
                "reasons": ["rejected_connections", "persistence_error"],
            })
        );
        // a restart: nothing is judged from the counters
        let restarted = parse_info(&info(&[
            "run_id:bbbb",
            "uptime_in_seconds:20",
            "evicted_keys:9000",
            "rejected_connections:9",
        ]));
        let v = evaluate(&s, &restarted, Some((&before, t(0))), None, FAST, t(60));
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(
            v.1,
            json!({
                "redis_version": "7.0.15",
                "uptime_seconds": 20,
                "connected_clients": 3,
                "role": "primary",
                "loading": false,
                "response_ms": 3,
                "lag_seconds": null,
                "lag_bytes": null,
                "connected_replicas": 0,
                "replicas": [],
                "used_bytes": 1_000_000,
                "max_bytes": null,
                "max_bytes_source": null,
                "memory_ratio": null,
                "policy": "noeviction",
                "evicted_keys": 9000,
                "rejected_connections": 9,
                "evictions_per_min": null,
                "rejected_connections_growth": null,
                "baseline_reset": true,
                "rdb_last_bgsave_status": "ok",
                "aof_enabled": false,
                "aof_last_write_status": "ok",
                "reason": null,
                "reasons": [],
            })
        );
    }

    #[test]
    fn figures_of_a_loading_replica_without_a_primary() {
        let s = spec(json!({"expect_role": "replica"}));
        let v = judge(&s, "role:slave\r\nloading:1\r\n");
        assert_eq!(
            v.0,
            Verdict::down(
                ErrorKind::Assertion,
                "Redis is loading its dataset into memory (loading:1) and answers no queries"
            )
        );
        assert_eq!(
            v.1,
            json!({
                "redis_version": null,
                "uptime_seconds": null,
                "connected_clients": null,
                "role": "replica",
                "loading": true,
                "response_ms": 3,
                "master": null,
                "master_link_status": null,
                "sync_in_progress": false,
                "lag_seconds": null,
                "lag_bytes": null,
                "connected_replicas": 0,
                "replicas": [],
                "used_bytes": null,
                "max_bytes": null,
                "max_bytes_source": null,
                "memory_ratio": null,
                "policy": null,
                "evicted_keys": null,
                "rejected_connections": null,
                "evictions_per_min": null,
                "rejected_connections_growth": null,
                "baseline_reset": false,
                "rdb_last_bgsave_status": null,
                "aof_enabled": false,
                "aof_last_write_status": null,
                "reason": "loading",
                "reasons": ["loading", "replica_disconnected"],
            })
        );
    }

    #[test]
    fn byte_sizes_in_words() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1_048_576), "1.0 MB");
        assert_eq!(human_bytes(1536), "1.5 KB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GB");
        assert_eq!(human_bytes(u64::MAX), "16384.0 PB");
    }

    #[test]
    fn byte_sizes_switch_to_kilobytes_at_1024() {
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KB");
    }

    #[test]
    fn a_span_of_a_minute_or_more_reads_in_minutes() {
        assert_eq!(span_words(0.5), "30.0 s");
        assert_eq!(span_words(1.0), "1.0 min");
        assert_eq!(span_words(2.5), "2.5 min");
    }

    /// A comment line of exactly `len` bytes, newline included.
    fn padding(len: usize) -> String {
        format!("# {}\n", "x".repeat(len - 3))
    }

    #[test]
    fn fields_within_the_first_mebibyte_are_read_and_the_rest_ignored() {
        let field = "used_memory:12";
        let at_limit = format!("{}{field}", padding(MAX_INFO_BYTES - field.len()));
        assert_eq!(at_limit.len(), MAX_INFO_BYTES);
        assert_eq!(parse_info(&at_limit).used_memory, Some(12));
        // one byte later, the last digit is past the limit
        let past = format!("{}{field}", padding(MAX_INFO_BYTES - field.len() + 1));
        assert_eq!(parse_info(&past).used_memory, Some(1));
    }

    #[test]
    fn a_character_across_the_size_limit_is_left_out_whole() {
        // "é" is two bytes: the first is the last byte within the limit.
        let field = "redis_version:7.0";
        let text = format!(
            "{}{field}é\nrole:master\n",
            padding(MAX_INFO_BYTES - field.len() - 1)
        );
        assert!(!text.is_char_boundary(MAX_INFO_BYTES));
        let s = parse_info(&text);
        assert_eq!(s.redis_version.as_deref(), Some("7.0"));
        assert_eq!(s.role, None);
    }

    #[test]
    fn only_slave_and_a_number_names_a_replica_line() {
        let line = "ip=10.0.0.9,port=6379,state=online,offset=1,lag=0";
        let text = [
            "slave", "slavex", "slave_0", "slave0x", "myslave0", "slaves", "slave12", "module",
        ]
        .map(|k| format!("{k}:{line}"))
        .join("\r\n");
        let s = parse_info(&text);
        assert_eq!(
            s.replicas,
            [ReplicaLine {
                ip: "10.0.0.9".into(),
                port: 6379,
                state: "online".into(),
                offset: Some(1),
                lag_seconds: Some(0),
            }]
        );
    }

    #[test]
    fn replica_lines_beyond_the_limit_are_dropped() {
        let text: Vec<String> = (0..=MAX_REPLICA_LINES)
            .map(|i| {
                format!(
                    "slave{i}:ip=10.0.{}.{},port=6379,state=online",
                    i / 256,
                    i % 256
                )
            })
            .collect();
        let s = parse_info(&text.join("\r\n"));
        assert_eq!(s.replicas.len(), MAX_REPLICA_LINES);
        assert_eq!(s.replicas[0].ip, "10.0.0.0");
        assert_eq!(s.replicas[MAX_REPLICA_LINES - 1].ip, "10.0.0.255");
    }

    #[test]
    fn replica_lag_exactly_at_the_limits_is_not_over_them() {
        let s = spec(json!({"max_lag": "10s", "max_lag_bytes": 1000}));
        let v = judge(
            &s,
            &replica_info(&[
                "master_last_io_seconds_ago:10",
                "slave_read_repl_offset:6000",
            ]),
        );
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(v.1["lag_seconds"], 10);
        assert_eq!(v.1["lag_bytes"], 1000);
        let v = judge(&s, &replica_info(&["master_last_io_seconds_ago:11"]));
        assert_eq!(
            v.0,
            Verdict::degraded(
                "replica last heard from 10.0.0.1:6379 11 s ago, over the 10 s max_lag"
            )
        );
        let v = judge(&s, &replica_info(&["slave_read_repl_offset:6001"]));
        assert_eq!(
            v.0,
            Verdict::degraded(
                "replica has 1001 bytes received but not yet applied, over the 1000 bytes max_lag_bytes"
            )
        );
        // seen from the primary
        let primary = |offset: u32| {
            info(&[
                "master_repl_offset:10000",
                "connected_slaves:1",
                &format!("slave0:ip=10.0.0.2,port=6379,state=online,offset={offset},lag=0"),
            ])
        };
        assert_eq!(judge(&s, &primary(9000)).0, Verdict::Up);
        assert_eq!(
            judge(&s, &primary(8999)).0,
            Verdict::degraded(
                "replica 10.0.0.2:6379 is 1001 bytes behind, over the 1000 bytes max_lag_bytes"
            )
        );
    }

    #[test]
    fn a_primary_with_exactly_the_expected_replicas_is_up() {
        let s = spec(json!({"expect_replicas": 2}));
        let v = judge(&s, &info(&["connected_slaves:2"]));
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(v.1["connected_replicas"], 2);
    }

    #[test]
    fn a_zero_memory_limit_is_no_limit() {
        let mut s = spec(json!({}));
        s.memory_limit_bytes = Some(0);
        let v = judge(&s, &info(&["maxmemory:0"]));
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(v.1["max_bytes"], Value::Null);
        assert_eq!(v.1["max_bytes_source"], Value::Null);
        assert_eq!(v.1["memory_ratio"], Value::Null);
    }

    #[test]
    fn memory_exactly_at_a_threshold_is_not_over_it() {
        let s = spec(json!({}));
        // exactly 90%: fine
        let v = judge(&s, &info(&["maxmemory:1000000", "used_memory:900000"]));
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(v.1["memory_ratio"], 0.9);
        // exactly 95%: over the warning threshold only
        let v = judge(&s, &info(&["maxmemory:1000000", "used_memory:950000"]));
        assert_eq!(
            v.0,
            Verdict::degraded(
                "memory 95.0% of maxmemory (976.6 KB), over the 90% warning threshold"
            )
        );
        // a byte more is critical
        let v = judge(&s, &info(&["maxmemory:1000000", "used_memory:950001"]));
        assert_eq!(
            v.0,
            Verdict::down(
                ErrorKind::Assertion,
                "memory 95.0% of maxmemory (976.6 KB), over the 95% critical threshold"
            )
        );
        let v = judge(&s, &info(&["maxmemory:1000000", "used_memory:900001"]));
        assert_degraded(&v, "memory_pressure", "over the 90% warning threshold");
    }

    #[test]
    fn a_response_exactly_at_a_time_limit_is_not_over_it() {
        let s =
            spec(json!({"expect": {"response_time": "100ms"}, "warn": {"response_time": "50ms"}}));
        let sample = parse_info(&info(&[]));
        let at = |ms: u64| evaluate(&s, &sample, None, None, Duration::from_millis(ms), t(0)).0;
        assert_eq!(at(50), Verdict::Up);
        assert_eq!(
            at(51),
            Verdict::degraded("response took 51 ms, over the 50 ms limit")
        );
        assert_eq!(
            at(100),
            Verdict::degraded("response took 100 ms, over the 50 ms limit")
        );
        assert_eq!(
            at(101),
            Verdict::down(
                ErrorKind::Assertion,
                "response took 101 ms, over the 100 ms limit"
            )
        );
    }

    #[test]
    fn evictions_exactly_at_the_rate_limit_are_not_a_storm() {
        let s = spec(json!({}));
        let before = parse_info(&info(&["evicted_keys:100000"]));
        // 500 in 30 s = the default 1000 per minute
        let now = parse_info(&info(&["evicted_keys:100500", "uptime_in_seconds:1030"]));
        let v = evaluate(&s, &now, Some((&before, t(0))), None, FAST, t(30));
        assert_eq!(v.0, Verdict::Up);
        assert_eq!(v.1["evictions_per_min"], 1000.0);
        let now = parse_info(&info(&["evicted_keys:100501", "uptime_in_seconds:1030"]));
        let v = evaluate(&s, &now, Some((&before, t(0))), None, FAST, t(30));
        assert_eq!(
            v.0,
            Verdict::degraded(
                "501 keys evicted in the last 30.0 s, 1002 per minute, over the 1000 per minute limit"
            )
        );
    }

    #[test]
    fn a_primary_named_without_a_port_is_named_by_its_host() {
        let v = judge(
            &spec(json!({})),
            "role:slave\r\nmaster_host:10.0.0.1\r\nmaster_link_status:down\r\n",
        );
        assert_eq!(
            v.0,
            Verdict::down(
                ErrorKind::Assertion,
                "replica link to 10.0.0.1 is down (master_link_status)"
            )
        );
        assert_eq!(v.1["master"], "10.0.0.1");
    }
}

/// Monitors for the replicas a primary reports, one per node, named after the
/// primary's convention: `[redis-primary] cache` gives `[redis-replica-1] cache`,
/// `[redis-replica-2] cache`…; a name without a bracket prefix gets one. Each copies
/// the primary's URL (credentials and database included) with the replica's address,
/// expects the `replica` role, and keeps the primary's interval, policy and tags.
pub fn replica_monitors(
    primary: &crate::MonitorConfig,
    replicas: &[(String, u16)],
) -> Vec<crate::MonitorConfig> {
    let base = primary.name.trim();
    let rest = match base.strip_prefix('[').and_then(|b| b.split_once(']')) {
        Some((_, rest)) => rest.trim(),
        None => base,
    };
    replicas
        .iter()
        .enumerate()
        .filter_map(|(i, (ip, port))| {
            let crate::KindConfig::Redis(redis) = &primary.kind else {
                return None;
            };
            let mut url = url::Url::parse(redis.url.as_deref()?).ok()?;
            let host = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.clone()
            };
            url.set_host(Some(&host)).ok()?;
            url.set_port(Some(*port)).ok()?;
            Some(crate::MonitorConfig {
                name: format!("[redis-replica-{}] {rest}", i + 1),
                kind: crate::KindConfig::Redis(crate::monitor::RedisConfig {
                    url: Some(url.to_string()),
                    expect_role: Some("replica".into()),
                    write_probe: None,
                    expect_replicas: None,
                    ..redis.clone()
                }),
                ..primary.clone()
            })
        })
        .collect()
}

#[cfg(test)]
mod replica_tests {
    use super::*;

    #[test]
    fn replica_monitors_follow_the_naming_convention() {
        let primary: crate::MonitorConfig = serde_json::from_value(json!({
            "name": "[redis-primary] cache", "type": "redis", "url": "redis://probe:pw@10.0.0.1:6379/2",
            "expect_role": "primary", "expect_replicas": 2, "write_probe": true, "policy": "p1-page", "tags": ["cache"]
        }))
        .unwrap();
        let made = replica_monitors(
            &primary,
            &[("10.0.0.2".into(), 6379), ("10.0.0.3".into(), 6380)],
        );
        assert_eq!(made.len(), 2);
        assert_eq!(made[0].name, "[redis-replica-1] cache");
        assert_eq!(made[1].name, "[redis-replica-2] cache");
        let redis = |i: usize| made[i].kind.as_redis().unwrap();
        assert_eq!(
            redis(1).url.as_deref(),
            Some("redis://probe:pw@10.0.0.3:6380/2")
        );
        assert_eq!(redis(0).expect_role.as_deref(), Some("replica"));
        assert_eq!(redis(0).expect_replicas, None);
        assert_eq!(redis(0).write_probe, None, "a replica refuses writes");
        assert_eq!(made[0].policy.as_deref(), Some("p1-page"));
        assert!(made.iter().all(|m| m.build().is_ok()));
        let plain: crate::MonitorConfig =
            serde_json::from_value(json!({"name": "cache", "type": "redis", "url": "redis://h"}))
                .unwrap();
        assert_eq!(
            replica_monitors(&plain, &[("h2".into(), 6379)])[0].name,
            "[redis-replica-1] cache"
        );
    }
}
