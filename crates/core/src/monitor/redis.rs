//! `redis` monitors: speak RESP to a Redis server (`redis://`, `rediss://` or
//! `unix://`), judge its `INFO` (role, replication, memory, persistence, evictions,
//! rejected connections) and optionally prove it takes writes. The judging itself is
//! `crate::redis`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::expect::{
    Accepts, ExpectConfig, WarnConfig, refuse_unaccepted, response_time_limit, warn_response_time,
};
use crate::duration::HumanDuration;
use crate::validation::Errors;

/// A `redis` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]`, `rediss://…` or `unix:///path.sock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `primary` or `replica`: a different role fails (an unintended failover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_role: Option<String>,
    /// A replica whose last I/O with its primary is older than this is degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag: Option<HumanDuration>,
    /// A replica this many bytes of replication offset behind is degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag_bytes: Option<u64>,
    /// Also `SET` a key with a short TTL: refused writes (OOM, MISCONF, READONLY) fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_probe: Option<bool>,
    /// Key used by the write probe, always under `vigilmon:` (a key given without the
    /// prefix gets it). Default `vigilmon:probe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_probe_key: Option<String>,
    /// Memory thresholds as fractions of `maxmemory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<RedisMemoryConfig>,
    /// Evictions per minute above which the monitor is degraded. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evictions_per_min: Option<u64>,
    /// A primary with fewer connected replicas is degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// Redis memory thresholds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisMemoryConfig {
    /// Fraction of maxmemory above which the monitor is degraded. Default 0.90.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<f64>,
    /// Fraction of maxmemory above which the monitor is down. Default 0.95.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<f64>,
    /// Limit to judge against when `maxmemory` is 0 (unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
}

/// What a `redis` monitor takes of `expect` and `warn`.
const ACCEPTS: Accepts = Accepts {
    expect: &["response_time"],
    warn: &["response_time"],
};

/// Where a Redis server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisAddr {
    Tcp { host: String, port: u16, tls: bool },
    Unix { path: String },
}

/// The role a Redis server should have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisRole {
    Primary,
    Replica,
}

impl RedisRole {
    pub fn as_str(self) -> &'static str {
        match self {
            RedisRole::Primary => "primary",
            RedisRole::Replica => "replica",
        }
    }
}

/// A validated Redis monitor.
#[derive(Debug, Clone)]
pub struct RedisSpec {
    pub addr: RedisAddr,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: u32,
    pub expect_role: Option<RedisRole>,
    pub max_lag: Duration,
    pub max_lag_bytes: Option<u64>,
    pub write_probe: bool,
    pub write_probe_key: String,
    pub memory_warn: f64,
    pub memory_critical: f64,
    pub memory_limit_bytes: Option<u64>,
    pub evictions_per_min: u64,
    pub expect_replicas: Option<u32>,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

/// The prefix of every key the write probe writes.
pub const WRITE_PROBE_PREFIX: &str = "vigilmon:";

/// Default lag (since the replica's last I/O with its primary) before degraded.
pub const DEFAULT_REDIS_MAX_LAG: Duration = Duration::from_secs(30);
/// Default evictions per minute before degraded.
pub const DEFAULT_EVICTIONS_PER_MIN: u64 = 1000;

/// Parses `redis://[user:pass@]host[:port][/db]`, `rediss://…` (TLS) or
/// `unix:///path/to.sock[?db=N]`.
pub fn parse_redis_url(
    raw: &str,
) -> Result<(RedisAddr, Option<String>, Option<String>, u32), String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("is not a valid URL: {e}"))?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let username = Some(url.username()).filter(|u| !u.is_empty()).map(decode);
    let password = url.password().map(decode);
    let db_from_query = url
        .query_pairs()
        .find(|(k, _)| k == "db")
        .map(|(_, v)| {
            v.parse::<u32>()
                .map_err(|_| format!("db {v:?} is not a database number"))
        })
        .transpose()?;
    match url.scheme() {
        "redis" | "rediss" => {
            let host = url
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or("must include a host, as in redis://host:6379")?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = url.port().unwrap_or(6379);
            let path = url.path().trim_matches('/');
            let db = if path.is_empty() {
                db_from_query.unwrap_or(0)
            } else {
                path.parse::<u32>().map_err(|_| {
                    format!(
                        "the path {path:?} must be a database number, as in redis://host:6379/0"
                    )
                })?
            };
            Ok((
                RedisAddr::Tcp {
                    host,
                    port,
                    tls: url.scheme() == "rediss",
                },
                username,
                password,
                db,
            ))
        }
        "unix" => {
            let path = url.path();
            if path.is_empty() || path == "/" {
                return Err("must name the socket, as in unix:///run/redis.sock".into());
            }
            Ok((
                RedisAddr::Unix {
                    path: path.to_owned(),
                },
                username,
                password,
                db_from_query.unwrap_or(0),
            ))
        }
        other => Err(format!(
            "scheme {other:?} is not allowed; use redis://, rediss:// or unix://"
        )),
    }
}

impl RedisConfig {
    /// Validates the fields into a [`RedisSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<RedisSpec> {
        refuse_unaccepted(
            self.expect.as_ref(),
            self.warn.as_ref(),
            &ACCEPTS,
            "redis",
            errs,
        );
        let target = match self.url.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(
                    "url",
                    "is required for redis monitors, as in redis://host:6379/0",
                );
                None
            }
            Some(u) => match parse_redis_url(u) {
                Ok(t) => Some(t),
                Err(m) => {
                    errs.push("url", m);
                    None
                }
            },
        };
        let expect_role = match self.expect_role.as_deref() {
            None => None,
            Some("primary" | "master") => Some(RedisRole::Primary),
            Some("replica" | "slave") => Some(RedisRole::Replica),
            Some(other) => {
                errs.push(
                    "expect_role",
                    format!("{other:?} must be primary or replica"),
                );
                None
            }
        };
        let m = self.memory.clone().unwrap_or_default();
        let memory_warn = m.warn.unwrap_or(0.90);
        let memory_critical = m.critical.unwrap_or(0.95);
        for (field, v) in [
            ("memory.warn", memory_warn),
            ("memory.critical", memory_critical),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                errs.push(
                    field,
                    "must be a fraction greater than 0 and at most 1, such as 0.9",
                );
            }
        }
        if memory_warn >= memory_critical {
            errs.push(
                "memory.warn",
                format!("must be lower than memory.critical ({memory_critical})"),
            );
        }
        if m.limit_bytes == Some(0) {
            errs.push("memory.limit_bytes", "must be greater than zero");
        }
        let max_lag = self.max_lag.map_or(DEFAULT_REDIS_MAX_LAG, |d| d.0);
        if max_lag.is_zero() {
            errs.push("max_lag", "must be greater than zero");
        }
        let write_probe_key = self
            .write_probe_key
            .clone()
            .unwrap_or_else(|| "vigilmon:probe".to_owned());
        if write_probe_key.is_empty()
            || write_probe_key.len() > 256
            || write_probe_key.chars().any(char::is_control)
        {
            errs.push("write_probe_key", "must be 1-256 printable characters");
        }
        // The probe writes only under its own prefix: a monitor can never overwrite
        // an application's key.
        let write_probe_key = if write_probe_key.starts_with(WRITE_PROBE_PREFIX) {
            write_probe_key
        } else {
            format!("{WRITE_PROBE_PREFIX}{write_probe_key}")
        };
        let response_time = response_time_limit(self.expect.as_ref(), errs);
        let warn_response_time = warn_response_time(self.warn.as_ref(), errs, response_time);
        let (addr, username, password, db) = target?;
        Some(RedisSpec {
            addr,
            username,
            password,
            db,
            expect_role,
            max_lag,
            max_lag_bytes: self.max_lag_bytes,
            write_probe: self.write_probe.unwrap_or(false),
            write_probe_key,
            memory_warn,
            memory_critical,
            memory_limit_bytes: m.limit_bytes,
            evictions_per_min: self.evictions_per_min.unwrap_or(DEFAULT_EVICTIONS_PER_MIN),
            expect_replicas: self.expect_replicas,
            response_time,
            warn_response_time,
        })
    }
}
