//! `vigilmon redis-health`: the Redis health sidecar. It serves the native Redis
//! monitor's evaluation over HTTP, for probes that can only speak HTTP (the founding
//! story's `[redis-primary] cache /health` monitor: status 200, body contains
//! `"status":"ok"`).
//!
//! Every request runs one check with the probe's Redis client (one round trip of
//! `PING` + `INFO`, plus the write probe when asked), judged by
//! `vigilmon_core::redis::evaluate`; the prober keeps the previous sample, so
//! counters (evictions, rejected connections) are judged by their growth between
//! requests.
//!
//! - `GET /health/redis`:
//!   - `200 {"status":"ok","pong":"PONG", …figures}`;
//!   - `503 {"status":"critical","reason":"memory_pressure","used_bytes":…,"max_bytes":…, …}`
//!     for failures that stop the application from using Redis correctly
//!     (`memory_pressure`, `writes_refused`, `role_mismatch`, `loading`);
//!   - `503 {"status":"degraded","reason":"replica_disconnected", …}` for every warning
//!     and for the failures the application survives (`replica_disconnected`,
//!     `slow_response`);
//!   - `503 {"status":"down","error":"…","reason":"unreachable"|"auth_failed"}` when Redis
//!     cannot be reached or refuses the credentials.
//! - `GET /health/redis/replication`: role, link status, lag and replicas; `200` unless
//!   a replication rule fails (`role_mismatch`, `replica_disconnected`,
//!   `replica_syncing`, `replica_lag`, `missing_replicas`) or Redis is unreachable.
//!
//! Bodies are compact JSON (`"status":"ok"` without spaces) and never cached.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use vigilmon_core::monitor::{CheckSpec, RedisAddr, RedisConfig, RedisMemoryConfig, RedisSpec};
use vigilmon_core::redis::{HealthStatus, health_status, is_replication_reason, reason};
use vigilmon_core::{CheckResult, HumanDuration, KindConfig, MonitorConfig, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

use crate::exit;

/// Thresholds and options of a Redis check, shared by `vigilmon redis-health` and
/// `vigilmon check redis://…`. Unset flags keep the monitor defaults.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RedisFlags {
    /// Fraction of maxmemory above which Redis is degraded [default: 0.90].
    #[arg(long, value_name = "FRACTION")]
    pub memory_warn: Option<f64>,
    /// Fraction of maxmemory above which Redis fails [default: 0.95].
    #[arg(long, value_name = "FRACTION")]
    pub memory_critical: Option<f64>,
    /// The memory limit to judge against when maxmemory is 0 (unlimited).
    #[arg(long, value_name = "BYTES")]
    pub memory_limit_bytes: Option<u64>,
    /// Evictions per minute above which Redis is degraded [default: 1000].
    #[arg(long, value_name = "N")]
    pub evictions_per_min: Option<u64>,
    /// A replica that last heard from its primary longer ago is degraded [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub max_lag: Option<String>,
    /// Replication lag in bytes above which Redis is degraded.
    #[arg(long, value_name = "BYTES")]
    pub max_lag_bytes: Option<u64>,
    /// primary or replica: a different role fails (an unintended failover).
    #[arg(long, value_name = "ROLE")]
    pub expect_role: Option<String>,
    /// A primary with fewer connected replicas is degraded.
    #[arg(long, value_name = "N")]
    pub expect_replicas: Option<u32>,
    /// Also SET a key with a 10 s TTL: refused writes (OOM, MISCONF, READONLY) fail.
    #[arg(long)]
    pub write_probe: bool,
    /// The write probe's key [default: vigilmon:probe].
    #[arg(long, value_name = "KEY")]
    pub write_probe_key: Option<String>,
}

impl RedisFlags {
    /// Whether any flag was given (they apply to Redis targets only).
    pub fn any_set(&self) -> bool {
        self.memory_warn.is_some()
            || self.memory_critical.is_some()
            || self.memory_limit_bytes.is_some()
            || self.evictions_per_min.is_some()
            || self.max_lag.is_some()
            || self.max_lag_bytes.is_some()
            || self.expect_role.is_some()
            || self.expect_replicas.is_some()
            || self.write_probe
            || self.write_probe_key.is_some()
    }

    /// A `redis` monitor's fields for `url` from the flags; `Err` names a bad flag.
    pub fn config(&self, url: &str) -> Result<RedisConfig, String> {
        let mut c = RedisConfig {
            url: Some(url.to_owned()),
            ..RedisConfig::default()
        };
        if let Some(t) = &self.max_lag {
            c.max_lag = Some(HumanDuration::parse(t).map_err(|e| format!("--max-lag: {e}"))?);
        }
        if self.memory_warn.is_some()
            || self.memory_critical.is_some()
            || self.memory_limit_bytes.is_some()
        {
            c.memory = Some(RedisMemoryConfig {
                warn: self.memory_warn,
                critical: self.memory_critical,
                limit_bytes: self.memory_limit_bytes,
            });
        }
        c.evictions_per_min = self.evictions_per_min;
        c.max_lag_bytes = self.max_lag_bytes;
        c.expect_role = self.expect_role.clone();
        c.expect_replicas = self.expect_replicas;
        c.write_probe = self.write_probe.then_some(true);
        c.write_probe_key = self.write_probe_key.clone();
        Ok(c)
    }
}

/// `vigilmon redis-health` flags.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The Redis to watch: redis://[user:pass@]host:port/db, rediss://… or unix:///path.
    #[arg(
        long,
        env = "VIGILMON_REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,
    /// Address to serve the health endpoints on.
    #[arg(long, default_value = "127.0.0.1:3001")]
    pub listen: String,
    /// Give up on Redis after this long; the answer is then 503 "down".
    #[arg(long, default_value = "3s")]
    pub timeout: String,
    /// Extra trusted CA certificates (PEM) for rediss://.
    #[arg(long, value_name = "PEM_FILE")]
    pub ca_file: Option<PathBuf>,
    #[command(flatten)]
    pub redis: RedisFlags,
}

/// Builds the Redis check a `redis-health` or `check` run uses; `Err` is a usage
/// error in words.
pub fn build_spec(url: &str, flags: &RedisFlags, timeout: Duration) -> Result<RedisSpec, String> {
    let config = MonitorConfig {
        name: "redis-health".into(),
        kind: KindConfig::Redis(flags.config(url)?),
        timeout: Some(HumanDuration(timeout)),
        interval: Some(HumanDuration(Duration::from_secs(3600) + timeout)),
        ..MonitorConfig::default()
    };
    match config.build() {
        Ok(spec) => match spec.check {
            CheckSpec::Redis(r) => Ok(r),
            _ => Err("not a Redis target".into()),
        },
        Err(errors) => Err(errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// How many checks may run against Redis at once; more requests wait their turn, so
/// a burst of HTTP requests never turns into a burst of Redis connections.
const MAX_CONCURRENT_CHECKS: usize = 8;

struct App {
    prober: Prober,
    spec: CheckSpec,
    timeout: Duration,
    permits: tokio::sync::Semaphore,
}

impl App {
    async fn check(&self) -> CheckResult {
        // The semaphore is never closed, so acquiring only waits.
        let _permit = self.permits.acquire().await.ok();
        self.prober.check(&self.spec, self.timeout).await
    }
}

/// Runs the sidecar until SIGINT or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<u8> {
    let timeout = match HumanDuration::parse(&args.timeout) {
        Ok(d) if !d.0.is_zero() && d.0 <= Duration::from_secs(60) => d.0,
        Ok(_) => {
            eprintln!("error: --timeout must be between 1ms and 60s");
            return Ok(exit::USAGE);
        }
        Err(e) => {
            eprintln!("error: --timeout: {e}");
            return Ok(exit::USAGE);
        }
    };
    let spec = match build_spec(&args.redis_url, &args.redis, timeout) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let listen: SocketAddr = match args.listen.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: --listen {:?}: {e}", args.listen);
            return Ok(exit::USAGE);
        }
    };
    let mut opts = ProbeOptions::new(RegionName::local());
    // The operator named this socket on the command line: it may be reached.
    if let RedisAddr::Unix { path } = &spec.addr {
        opts.guard.allow_unix_sockets.push(path.into());
    }
    if let Some(path) = &args.ca_file {
        opts.extra_roots =
            vigilmon_probe::read_ca_file(path).map_err(|e| anyhow::anyhow!("--ca-file: {e}"))?;
    }
    let prober = Prober::new(opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = Arc::new(App {
        prober,
        spec: CheckSpec::Redis(spec),
        timeout,
        permits: tokio::sync::Semaphore::new(MAX_CONCURRENT_CHECKS),
    });
    let router = axum::Router::new()
        .route("/health/redis", get(health))
        .route("/health/redis/replication", get(replication))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    println!("vigilmon redis-health listening on http://{local}");
    tracing::info!(%local, target = %redacted(&args.redis_url), "redis-health started");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(exit::OK)
}

/// The URL without its password, for logs.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(invalid URL)".into(),
    }
}

async fn shutdown_signal() {
    vigilmon_schedule::process::stop_signal().await;
    tracing::info!("signal received, shutting down");
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let result = app.check().await;
    let (code, body) = health_body(&result);
    reply(code, body)
}

async fn replication(State(app): State<Arc<App>>) -> Response {
    let result = app.check().await;
    let (code, body) = replication_body(&result);
    reply(code, body)
}

fn reply(code: StatusCode, body: Value) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// The figures of a result, as an object (empty when the check had none).
fn figures(r: &CheckResult) -> Map<String, Value> {
    match &r.details {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

/// The reason the result names, if any.
fn reason_of(r: &CheckResult) -> Option<String> {
    r.details
        .as_ref()
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `GET /health/redis`: the status code and body for a check result.
pub fn health_body(r: &CheckResult) -> (StatusCode, Value) {
    let reason = reason_of(r);
    let status = health_status(&r.verdict, reason.as_deref());
    let mut body = Map::new();
    body.insert("status".into(), json!(status.as_str()));
    match status {
        HealthStatus::Ok => {
            body.extend(figures(r));
            (StatusCode::OK, Value::Object(body))
        }
        HealthStatus::Down => {
            body.insert(
                "error".into(),
                json!(r.verdict.message().unwrap_or("no answer")),
            );
            body.insert(
                "reason".into(),
                json!(reason.as_deref().unwrap_or(reason::UNREACHABLE)),
            );
            if let Some(kind) = r.verdict.error_kind() {
                body.insert("error_kind".into(), json!(kind.as_str()));
            }
            (StatusCode::SERVICE_UNAVAILABLE, Value::Object(body))
        }
        HealthStatus::Critical | HealthStatus::Degraded => {
            body.insert("reason".into(), json!(reason));
            body.insert("message".into(), json!(r.verdict.message()));
            for (k, v) in figures(r) {
                body.entry(k).or_insert(v);
            }
            (StatusCode::SERVICE_UNAVAILABLE, Value::Object(body))
        }
    }
}

/// `GET /health/redis/replication`: replication figures; 503 when a replication rule
/// fails or Redis cannot be checked.
pub fn replication_body(r: &CheckResult) -> (StatusCode, Value) {
    let f = figures(r);
    let failed_reason = reason_of(r);
    let unreachable = matches!(
        (&r.verdict, failed_reason.as_deref()),
        (
            Verdict::Down { .. },
            None | Some(reason::UNREACHABLE | reason::AUTH_FAILED)
        )
    );
    if unreachable {
        return health_body(r);
    }
    let replication_reasons: Vec<&str> = f
        .get("reasons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|x| is_replication_reason(x))
        .collect();
    let status = match replication_reasons.first() {
        None => "ok",
        Some(&reason::ROLE_MISMATCH) => "critical",
        Some(_) => "degraded",
    };
    let mut body = Map::new();
    body.insert("status".into(), json!(status));
    body.insert("reason".into(), json!(replication_reasons.first()));
    body.insert("reasons".into(), json!(replication_reasons));
    for key in [
        "role",
        "master",
        "master_link_status",
        "sync_in_progress",
        "lag_seconds",
        "lag_bytes",
        "connected_replicas",
        "replicas",
    ] {
        body.insert(key.into(), f.get(key).cloned().unwrap_or(Value::Null));
    }
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigilmon_core::ErrorKind;

    fn result(verdict: Verdict, details: Value) -> CheckResult {
        CheckResult {
            details: Some(details),
            ..CheckResult::new(RegionName::local(), jiff::Timestamp::UNIX_EPOCH, 1, verdict)
        }
    }

    #[test]
    fn health_bodies_follow_the_contract() {
        let ok = result(
            Verdict::Up,
            json!({"reason": null, "reasons": [], "pong": "PONG", "used_bytes": 5}),
        );
        let (code, body) = health_body(&ok);
        assert_eq!(code, StatusCode::OK);
        assert!(body.to_string().contains(r#""status":"ok""#), "{body}");
        assert_eq!(body["pong"], "PONG");

        let mem = result(
            Verdict::down(ErrorKind::Assertion, "memory 96.2% of maxmemory"),
            json!({"reason": "memory_pressure", "reasons": ["memory_pressure"], "used_bytes": 10, "max_bytes": 10}),
        );
        let (code, body) = health_body(&mem);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "critical");
        assert_eq!(body["reason"], "memory_pressure");
        assert_eq!(body["used_bytes"], 10);

        let link = result(
            Verdict::down(ErrorKind::Assertion, "replica link to x is down"),
            json!({"reason": "replica_disconnected", "reasons": ["replica_disconnected"], "role": "replica", "master_link_status": "down"}),
        );
        let (code, body) = health_body(&link);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["reason"], "replica_disconnected");
        let (code, body) = replication_body(&link);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["master_link_status"], "down");

        let gone = result(
            Verdict::down(ErrorKind::Connect, "connection refused by 127.0.0.1:6379"),
            json!({"reason": "unreachable", "reasons": ["unreachable"]}),
        );
        let (code, body) = health_body(&gone);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            json!({"status": "down", "error": "connection refused by 127.0.0.1:6379", "reason": "unreachable", "error_kind": "connect"})
        );
        assert_eq!(replication_body(&gone).1["status"], "down");

        // memory trouble does not fail the replication endpoint
        let (code, body) = replication_body(&mem);
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body["status"], "ok");
    }

    #[test]
    fn flags_build_a_spec() {
        let flags = RedisFlags {
            memory_warn: Some(0.5),
            max_lag: Some("5s".into()),
            expect_role: Some("replica".into()),
            write_probe: true,
            ..RedisFlags::default()
        };
        let s = build_spec(
            "redis://:pw@127.0.0.1:6380/1",
            &flags,
            Duration::from_secs(3),
        )
        .unwrap();
        assert_eq!(s.memory_warn, 0.5);
        assert_eq!(s.memory_critical, 0.95);
        assert_eq!(s.max_lag, Duration::from_secs(5));
        assert!(s.write_probe);
        assert_eq!(s.db, 1);
        let e = build_spec(
            "redis://h",
            &RedisFlags {
                memory_warn: Some(2.0),
                ..RedisFlags::default()
            },
            Duration::from_secs(3),
        )
        .unwrap_err();
        assert!(e.contains("memory.warn"), "{e}");
        assert!(build_spec("http://h", &RedisFlags::default(), Duration::from_secs(3)).is_err());
        assert_eq!(redacted("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
    }
}
