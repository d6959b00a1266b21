//! Monitor configuration as users write it (YAML or JSON), and the validated
//! [`MonitorSpec`] that the rest of the system runs from.
//!
//! [`MonitorConfig`] is the raw, serialisable form: it is what the store keeps and what
//! the API shows back. [`MonitorConfig::build`] validates it and returns a
//! [`MonitorSpec`] with parsed types (URL, regex, JSON paths, durations), or every
//! problem it found, each naming the field and the reason.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::duration::HumanDuration;
use crate::ids::RegionName;

/// The shortest interval a monitor may have.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// The longest interval a monitor may have.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Default check period.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default per-check timeout (capped below the interval).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default certificate-expiry warning horizon.
pub const DEFAULT_CERT_EXPIRY_WARN: Duration = Duration::from_secs(14 * 24 * 3600);
/// Longest accepted monitor name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest accepted request body for an HTTP monitor.
pub const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;

/// A monitor as written in the config file or sent to the API. Field names are the
/// contract (PRODUCT.md section 3); unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// Unique, human name.
    pub name: String,
    /// `http` or `tcp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Check period (minimum 10s). Default 1m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
    /// Per-check timeout, less than the interval. Default 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// Regions that run this monitor. Default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    /// Failing regions needed to call the monitor down. Default: a majority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    /// Consecutive failing evaluations before down. Default 1, or 2 with one region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u32>,
    /// How long a failure seen by fewer than `quorum` regions lasts before one
    /// low-priority "regional degradation" notice goes to the policy's non-paging
    /// channels. Default 5m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regional_notice_after: Option<HumanDuration>,
    /// Name of the alert policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Names of monitors this one depends on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub paused: bool,

    // --- http ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,

    // --- tcp ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Bytes to send after connecting (tcp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,

    // --- redis ---
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
    /// Key used by the write probe. Default `vigilmon:probe`.
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

    // --- heartbeat ---
    /// Expected time between successful pings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<HumanDuration>,
    /// Five-field cron expression of when pings are expected (instead of `every`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone of `cron`. Default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// How late a ping may be before the monitor is down. Default 1h... see docs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<HumanDuration>,
    /// HTTP methods that count as pings: `[POST]` ignores link previews that GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// Successes closer together than this are a failure ("runs too often").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval: Option<HumanDuration>,
    /// A run that finished faster than this is a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_duration: Option<HumanDuration>,
    /// A run that took longer than this is a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<HumanDuration>,
    /// `"N of M"`: down when N of the last M runs failed (instead of on one failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<String>,
    /// Name in slug ping URLs (`/ping/{ping_key}/{slug}`). Default: from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
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

fn is_false(b: &bool) -> bool {
    !*b
}

/// Expectations on an answer. For `tcp` monitors a bare string is accepted as a
/// shorthand for `{banner: "…"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExpectConfig {
    /// Accepted status codes: a list of codes and classes (`[200, "3xx"]`) or one class
    /// (`"2xx"`). Default `"2xx"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub status: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_not_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_regex: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json: Vec<JsonAssertionConfig>,
    /// Slower than this fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time: Option<HumanDuration>,
    /// Text the TCP peer must send (after `send`, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
}

/// The object form of [`ExpectConfig`], used to keep `deny_unknown_fields`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectObject {
    #[serde(default)]
    status: Option<Value>,
    #[serde(default)]
    body_contains: Option<String>,
    #[serde(default)]
    body_not_contains: Option<String>,
    #[serde(default)]
    body_regex: Option<String>,
    #[serde(default)]
    json: Vec<JsonAssertionConfig>,
    #[serde(default)]
    response_time: Option<HumanDuration>,
    #[serde(default)]
    banner: Option<String>,
}

impl<'de> Deserialize<'de> for ExpectConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ExpectConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of expectations, or a banner string for tcp monitors")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ExpectConfig, E> {
                Ok(ExpectConfig {
                    banner: Some(v.to_owned()),
                    ..Default::default()
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ExpectConfig, A::Error> {
                let o =
                    ExpectObject::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ExpectConfig {
                    status: o.status,
                    body_contains: o.body_contains,
                    body_not_contains: o.body_not_contains,
                    body_regex: o.body_regex,
                    json: o.json,
                    response_time: o.response_time,
                    banner: o.banner,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// One assertion on a JSON response body: the value at `path` (JSONPath, e.g.
/// `$.status` or `$.checks[0].ok`) `equals` a value, or `exists` (true or false).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonAssertionConfig {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub equals: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

/// Warning thresholds: crossing them makes the monitor degraded, not down.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarnConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time: Option<HumanDuration>,
    /// Certificate expiring within this horizon degrades. Default 14 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expiry: Option<HumanDuration>,
}

/// One problem found in a configuration: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidationError {
    /// Dotted path of the field, such as `expect.status[1]`.
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The kinds of monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonitorKind {
    Http,
    Tcp,
    Redis,
    Heartbeat,
}

impl MonitorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorKind::Http => "http",
            MonitorKind::Tcp => "tcp",
            MonitorKind::Redis => "redis",
            MonitorKind::Heartbeat => "heartbeat",
        }
    }
}

/// A validated monitor: everything the scheduler and probes need, in parsed form.
#[derive(Debug, Clone)]
pub struct MonitorSpec {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// `None` means every region.
    pub regions: Option<Vec<RegionName>>,
    pub quorum: Option<u32>,
    pub confirmations: Option<u32>,
    /// See [`MonitorConfig::regional_notice_after`].
    pub regional_notice_after: Duration,
    pub policy: Option<String>,
    pub tags: Vec<String>,
    pub depends_on: Vec<String>,
    pub paused: bool,
    pub check: CheckSpec,
    /// Where in the interval this monitor is checked, when the server decided it for
    /// an agent (`None`: the scheduler computes it; see `schedule::region_offset`).
    /// Never from the configuration.
    pub offset: Option<Duration>,
}

impl MonitorSpec {
    pub fn kind(&self) -> MonitorKind {
        match self.check {
            CheckSpec::Http(_) => MonitorKind::Http,
            CheckSpec::Tcp(_) => MonitorKind::Tcp,
            CheckSpec::Redis(_) => MonitorKind::Redis,
            CheckSpec::Heartbeat(_) => MonitorKind::Heartbeat,
        }
    }

    /// Whether probes run this monitor (heartbeats are not probed: they are pinged).
    pub fn is_probed(&self) -> bool {
        !matches!(self.check, CheckSpec::Heartbeat(_))
    }

    /// Consecutive failures needed before down, given how many regions evaluate it.
    pub fn effective_confirmations(&self, region_count: usize) -> u32 {
        self.confirmations
            .unwrap_or(crate::state::default_confirmations(region_count))
    }

    /// Whether the monitor runs in `region`.
    pub fn runs_in(&self, region: &RegionName) -> bool {
        self.regions.as_ref().is_none_or(|rs| rs.contains(region))
    }
}

/// What to check, per monitor type.
// Specs are few and long-lived (one per monitor), so the size difference between
// variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum CheckSpec {
    Http(HttpSpec),
    Tcp(TcpSpec),
    Redis(RedisSpec),
    Heartbeat(crate::heartbeat::HeartbeatSpec),
}

#[derive(Debug, Clone)]
pub struct HttpSpec {
    pub url: url::Url,
    /// Upper-case method name.
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub follow_redirects: bool,
    pub verify_tls: bool,
    pub expect: HttpExpect,
    pub warn: HttpWarn,
}

#[derive(Debug, Clone)]
pub struct HttpExpect {
    pub status: StatusMatcher,
    pub body_contains: Option<String>,
    pub body_not_contains: Option<String>,
    pub body_regex: Option<regex::Regex>,
    pub json: Vec<JsonAssertion>,
    pub response_time: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct HttpWarn {
    pub response_time: Option<Duration>,
    pub cert_expiry: Duration,
}

/// A parsed JSON assertion.
#[derive(Debug, Clone)]
pub struct JsonAssertion {
    /// The path as the user wrote it, for messages.
    pub path_text: String,
    pub path: serde_json_path::JsonPath,
    pub condition: JsonCondition,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JsonCondition {
    Equals(Value),
    Exists(bool),
}

/// Which status codes pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMatcher(pub Vec<StatusPattern>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Exact(u16),
    /// A class such as 2xx, stored as its first digit.
    Class(u8),
}

impl StatusMatcher {
    pub fn default_2xx() -> Self {
        Self(vec![StatusPattern::Class(2)])
    }

    pub fn matches(&self, code: u16) -> bool {
        self.0.iter().any(|p| match *p {
            StatusPattern::Exact(c) => c == code,
            StatusPattern::Class(d) => code / 100 == u16::from(d),
        })
    }
}

impl fmt::Display for StatusMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|p| match p {
                StatusPattern::Exact(c) => c.to_string(),
                StatusPattern::Class(d) => format!("{d}xx"),
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

#[derive(Debug, Clone)]
pub struct TcpSpec {
    pub host: String,
    pub port: u16,
    pub send: Option<String>,
    pub expect_banner: Option<String>,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

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

/// Collects validation errors while walking a config.
#[derive(Default)]
pub(crate) struct Errors(pub(crate) Vec<ValidationError>);

impl Errors {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError::new(field, message));
    }
}

impl MonitorConfig {
    /// Validates the config and builds the spec, or returns every problem found.
    pub fn build(&self) -> Result<MonitorSpec, Vec<ValidationError>> {
        let mut errs = Errors::default();

        let name = self.name.trim();
        if name.is_empty() {
            errs.push("name", "must not be empty");
        } else if name.chars().count() > MAX_NAME_CHARS {
            errs.push(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            );
        } else if name.chars().any(char::is_control) {
            errs.push("name", "must not contain control characters");
        }

        let interval = self.interval.map_or(DEFAULT_INTERVAL, |d| d.0);
        if interval < MIN_INTERVAL {
            errs.push(
                "interval",
                format!("must be at least 10s (got {})", HumanDuration(interval)),
            );
        } else if interval > MAX_INTERVAL {
            errs.push(
                "interval",
                format!("must be at most 24h (got {})", HumanDuration(interval)),
            );
        }
        let timeout = match self.timeout {
            Some(t) => {
                if t.0.is_zero() {
                    errs.push("timeout", "must be greater than zero");
                } else if t.0 >= interval {
                    errs.push(
                        "timeout",
                        format!(
                            "must be less than the interval ({})",
                            HumanDuration(interval)
                        ),
                    );
                }
                t.0
            }
            None => DEFAULT_TIMEOUT.min(interval.saturating_sub(Duration::from_secs(1))),
        };

        let regions = self.regions.as_ref().map(|rs| {
            if rs.is_empty() {
                errs.push(
                    "regions",
                    "must list at least one region, or be left out for all regions",
                );
            }
            let mut parsed: Vec<RegionName> = Vec::new();
            for (i, r) in rs.iter().enumerate() {
                match RegionName::parse(r) {
                    Ok(r) if parsed.contains(&r) => errs.push(
                        format!("regions[{i}]"),
                        format!("region {r} is listed twice"),
                    ),
                    Ok(r) => parsed.push(r),
                    Err(e) => errs.push(format!("regions[{i}]"), e.to_string()),
                }
            }
            parsed
        });
        if let Some(q) = self.quorum {
            if q == 0 {
                errs.push("quorum", "must be at least 1");
            } else if let Some(rs) = &regions
                && q as usize > rs.len()
                && !rs.is_empty()
            {
                errs.push(
                    "quorum",
                    format!("is {q} but only {} regions are listed", rs.len()),
                );
            }
        }
        if let Some(c) = self.confirmations
            && !(1..=10).contains(&c)
        {
            errs.push("confirmations", "must be between 1 and 10");
        }
        if let Some(d) = self.regional_notice_after
            && d.0 > Duration::from_secs(7 * 86_400)
        {
            errs.push("regional_notice_after", "must be at most 7d");
        }
        if let Some(p) = &self.policy
            && p.trim().is_empty()
        {
            errs.push("policy", "must not be empty when given");
        }
        for (i, t) in self.tags.iter().enumerate() {
            if t.trim().is_empty() || t.chars().count() > 64 || t.chars().any(char::is_control) {
                errs.push(format!("tags[{i}]"), "must be 1-64 printable characters");
            }
        }
        for (i, d) in self.depends_on.iter().enumerate() {
            if d.trim().is_empty() {
                errs.push(format!("depends_on[{i}]"), "must name a monitor");
            } else if d.trim() == name {
                errs.push(
                    format!("depends_on[{i}]"),
                    "a monitor cannot depend on itself",
                );
            }
        }

        if ["http", "tcp", "redis", "heartbeat"].contains(&self.kind.as_str()) {
            self.refuse_foreign_fields(&mut errs);
        }
        let check = match self.kind.as_str() {
            "http" => self.build_http(&mut errs).map(CheckSpec::Http),
            "tcp" => self.build_tcp(&mut errs).map(CheckSpec::Tcp),
            "redis" => self.build_redis(&mut errs).map(CheckSpec::Redis),
            "heartbeat" => crate::heartbeat::build(self, &mut errs).map(CheckSpec::Heartbeat),
            "" => {
                errs.push("type", "is required: http, tcp, redis or heartbeat");
                None
            }
            other => {
                errs.push(
                    "type",
                    format!(
                        "unknown monitor type {other:?}; expected http, tcp, redis or heartbeat"
                    ),
                );
                None
            }
        };

        match check {
            Some(check) if errs.0.is_empty() => Ok(MonitorSpec {
                name: name.to_owned(),
                interval,
                timeout,
                regions,
                quorum: self.quorum,
                confirmations: self.confirmations,
                regional_notice_after: self
                    .regional_notice_after
                    .map_or(crate::incident::DEFAULT_REGIONAL_NOTICE_AFTER, |d| d.0),
                policy: self.policy.as_ref().map(|p| p.trim().to_owned()),
                tags: self.tags.iter().map(|t| t.trim().to_owned()).collect(),
                depends_on: self
                    .depends_on
                    .iter()
                    .map(|d| d.trim().to_owned())
                    .collect(),
                paused: self.paused,
                check,
                offset: None,
            }),
            _ => Err(errs.0),
        }
    }

    /// Every type-specific field that is set, with the monitor types it applies to.
    fn typed_fields(&self) -> Vec<(&'static str, bool, &'static [&'static str])> {
        const HTTP: &[&str] = &["http"];
        const TCP: &[&str] = &["tcp"];
        const REDIS: &[&str] = &["redis"];
        const HEARTBEAT: &[&str] = &["heartbeat"];
        const PROBED: &[&str] = &["http", "tcp", "redis"];
        let e = self.expect.as_ref();
        let w = self.warn.as_ref();
        vec![
            ("interval", self.interval.is_some(), PROBED),
            ("timeout", self.timeout.is_some(), PROBED),
            ("regions", self.regions.is_some(), PROBED),
            ("quorum", self.quorum.is_some(), PROBED),
            ("confirmations", self.confirmations.is_some(), PROBED),
            (
                "regional_notice_after",
                self.regional_notice_after.is_some(),
                PROBED,
            ),
            ("url", self.url.is_some(), &["http", "redis"]),
            ("method", self.method.is_some(), HTTP),
            ("headers", self.headers.is_some(), HTTP),
            ("body", self.body.is_some(), HTTP),
            ("follow_redirects", self.follow_redirects.is_some(), HTTP),
            ("verify_tls", self.verify_tls.is_some(), HTTP),
            ("expect.status", e.is_some_and(|e| e.status.is_some()), HTTP),
            (
                "expect.body_contains",
                e.is_some_and(|e| e.body_contains.is_some()),
                HTTP,
            ),
            (
                "expect.body_not_contains",
                e.is_some_and(|e| e.body_not_contains.is_some()),
                HTTP,
            ),
            (
                "expect.body_regex",
                e.is_some_and(|e| e.body_regex.is_some()),
                HTTP,
            ),
            ("expect.json", e.is_some_and(|e| !e.json.is_empty()), HTTP),
            ("expect.banner", e.is_some_and(|e| e.banner.is_some()), TCP),
            (
                "expect.response_time",
                e.is_some_and(|e| e.response_time.is_some()),
                PROBED,
            ),
            (
                "warn.response_time",
                w.is_some_and(|w| w.response_time.is_some()),
                PROBED,
            ),
            (
                "warn.cert_expiry",
                w.is_some_and(|w| w.cert_expiry.is_some()),
                HTTP,
            ),
            ("host", self.host.is_some(), TCP),
            ("port", self.port.is_some(), TCP),
            ("send", self.send.is_some(), TCP),
            ("expect_role", self.expect_role.is_some(), REDIS),
            ("max_lag", self.max_lag.is_some(), REDIS),
            ("max_lag_bytes", self.max_lag_bytes.is_some(), REDIS),
            ("write_probe", self.write_probe.is_some(), REDIS),
            ("write_probe_key", self.write_probe_key.is_some(), REDIS),
            ("memory", self.memory.is_some(), REDIS),
            ("evictions_per_min", self.evictions_per_min.is_some(), REDIS),
            ("expect_replicas", self.expect_replicas.is_some(), REDIS),
            ("every", self.every.is_some(), HEARTBEAT),
            ("cron", self.cron.is_some(), HEARTBEAT),
            ("tz", self.tz.is_some(), HEARTBEAT),
            ("grace", self.grace.is_some(), HEARTBEAT),
            ("methods", self.methods.is_some(), HEARTBEAT),
            ("min_interval", self.min_interval.is_some(), HEARTBEAT),
            ("min_duration", self.min_duration.is_some(), HEARTBEAT),
            ("max_duration", self.max_duration.is_some(), HEARTBEAT),
            ("failures", self.failures.is_some(), HEARTBEAT),
            ("slug", self.slug.is_some(), HEARTBEAT),
        ]
    }

    /// Refuses fields that do not apply to this monitor's type.
    fn refuse_foreign_fields(&self, errs: &mut Errors) {
        let kind = self.kind.as_str();
        for (field, present, kinds) in self.typed_fields() {
            if present && !kinds.contains(&kind) {
                errs.push(field, format!("does not apply to {kind} monitors"));
            }
        }
    }

    fn build_http(&self, errs: &mut Errors) -> Option<HttpSpec> {
        let url = match self.url.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push("url", "is required for http monitors");
                None
            }
            Some(u) => match url::Url::parse(u) {
                Ok(url) if url.scheme() != "http" && url.scheme() != "https" => {
                    errs.push(
                        "url",
                        format!(
                            "scheme {:?} is not allowed; use http or https",
                            url.scheme()
                        ),
                    );
                    None
                }
                Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                    errs.push("url", "must include a host");
                    None
                }
                Ok(url) => Some(url),
                Err(e) => {
                    errs.push("url", format!("is not a valid URL: {e}"));
                    None
                }
            },
        };
        let method = self
            .method
            .as_deref()
            .unwrap_or("GET")
            .trim()
            .to_ascii_uppercase();
        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        if !METHODS.contains(&method.as_str()) {
            errs.push("method", format!("must be one of {}", METHODS.join(", ")));
        }
        let mut headers = Vec::new();
        for (k, v) in self.headers.iter().flatten() {
            let field = format!("headers.{k}");
            if k.is_empty() || !k.bytes().all(is_tchar) {
                errs.push(field, "is not a valid header name");
            } else if v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                errs.push(field, "header values must not contain line breaks");
            } else if k.eq_ignore_ascii_case("host")
                || k.eq_ignore_ascii_case("content-length")
                || k.eq_ignore_ascii_case("transfer-encoding")
            {
                errs.push(field, "is set by the probe and cannot be overridden");
            } else {
                headers.push((k.clone(), v.clone()));
            }
        }
        if let Some(b) = &self.body
            && b.len() > MAX_REQUEST_BODY_BYTES
        {
            errs.push(
                "body",
                format!("must be at most {} kB", MAX_REQUEST_BODY_BYTES / 1024),
            );
        }
        let default_expect = ExpectConfig::default();
        let e = self.expect.as_ref().unwrap_or(&default_expect);
        let status = match &e.status {
            None => StatusMatcher::default_2xx(),
            Some(v) => parse_status(v, errs),
        };
        let body_regex = e.body_regex.as_ref().and_then(|r| {
            match regex::RegexBuilder::new(r).size_limit(1 << 20).build() {
                Ok(re) => Some(re),
                Err(err) => {
                    errs.push(
                        "expect.body_regex",
                        format!("is not a valid regular expression: {err}"),
                    );
                    None
                }
            }
        });
        for (field, val) in [
            ("expect.body_contains", &e.body_contains),
            ("expect.body_not_contains", &e.body_not_contains),
        ] {
            if val.as_deref() == Some("") {
                errs.push(field, "must not be empty when given");
            }
        }
        let mut json = Vec::new();
        for (i, a) in e.json.iter().enumerate() {
            let field = format!("expect.json[{i}]");
            let path = match serde_json_path::JsonPath::parse(&a.path) {
                Ok(p) => Some(p),
                Err(err) => {
                    errs.push(
                        format!("{field}.path"),
                        format!("is not a valid JSONPath (like $.status): {err}"),
                    );
                    None
                }
            };
            let condition = match (&a.equals, a.exists) {
                (Some(v), None) => Some(JsonCondition::Equals(v.clone())),
                (None, Some(b)) => Some(JsonCondition::Exists(b)),
                _ => {
                    errs.push(field, "needs exactly one of `equals` or `exists`");
                    None
                }
            };
            if let (Some(path), Some(condition)) = (path, condition) {
                json.push(JsonAssertion {
                    path_text: a.path.clone(),
                    path,
                    condition,
                });
            }
        }
        let response_time = self.response_time_limit(errs);
        let warn_rt = self.warn_response_time(errs, response_time);
        let cert_expiry = match self.warn.as_ref().and_then(|w| w.cert_expiry) {
            Some(d) if d.0.is_zero() => {
                errs.push("warn.cert_expiry", "must be greater than zero");
                DEFAULT_CERT_EXPIRY_WARN
            }
            Some(d) => d.0,
            None => DEFAULT_CERT_EXPIRY_WARN,
        };
        Some(HttpSpec {
            url: url?,
            method,
            headers,
            body: self.body.clone(),
            follow_redirects: self.follow_redirects.unwrap_or(true),
            verify_tls: self.verify_tls.unwrap_or(true),
            expect: HttpExpect {
                status,
                body_contains: e.body_contains.clone(),
                body_not_contains: e.body_not_contains.clone(),
                body_regex,
                json,
                response_time,
            },
            warn: HttpWarn {
                response_time: warn_rt,
                cert_expiry,
            },
        })
    }

    pub(crate) fn response_time_limit(&self, errs: &mut Errors) -> Option<Duration> {
        let rt = self
            .expect
            .as_ref()
            .and_then(|e| e.response_time)
            .map(|d| d.0);
        if rt.is_some_and(|d| d.is_zero()) {
            errs.push("expect.response_time", "must be greater than zero");
        }
        rt
    }

    pub(crate) fn warn_response_time(
        &self,
        errs: &mut Errors,
        limit: Option<Duration>,
    ) -> Option<Duration> {
        let w = self
            .warn
            .as_ref()
            .and_then(|w| w.response_time)
            .map(|d| d.0);
        match (w, limit) {
            (Some(w), _) if w.is_zero() => {
                errs.push("warn.response_time", "must be greater than zero")
            }
            (Some(w), Some(l)) if w >= l => errs.push(
                "warn.response_time",
                format!(
                    "must be lower than expect.response_time ({})",
                    HumanDuration(l)
                ),
            ),
            _ => {}
        }
        w
    }

    fn build_tcp(&self, errs: &mut Errors) -> Option<TcpSpec> {
        let e = self.expect.clone().unwrap_or_default();
        let host = match self.host.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push("host", "is required for tcp monitors");
                None
            }
            Some(h)
                if h.contains("://") || h.contains('/') || h.chars().any(char::is_whitespace) =>
            {
                errs.push(
                    "host",
                    "must be a host name or IP address, without scheme or path",
                );
                None
            }
            Some(h) => Some(h.trim_start_matches('[').trim_end_matches(']').to_owned()),
        };
        let port = match self.port {
            None => {
                errs.push("port", "is required for tcp monitors");
                None
            }
            Some(p) if p == 0 || p > 65535 => {
                errs.push("port", "must be between 1 and 65535");
                None
            }
            Some(p) => u16::try_from(p).ok(),
        };
        if self
            .send
            .as_ref()
            .is_some_and(|s| s.len() > MAX_REQUEST_BODY_BYTES)
        {
            errs.push(
                "send",
                format!("must be at most {} kB", MAX_REQUEST_BODY_BYTES / 1024),
            );
        }
        if e.banner.as_deref() == Some("") {
            errs.push("expect.banner", "must not be empty when given");
        }
        let response_time = self.response_time_limit(errs);
        let warn_response_time = self.warn_response_time(errs, response_time);
        Some(TcpSpec {
            host: host?,
            port: port?,
            send: self.send.clone(),
            expect_banner: e.banner,
            response_time,
            warn_response_time,
        })
    }
}

impl MonitorConfig {
    fn build_redis(&self, errs: &mut Errors) -> Option<RedisSpec> {
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
        let response_time = self.response_time_limit(errs);
        let warn_response_time = self.warn_response_time(errs, response_time);
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

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_status(v: &Value, errs: &mut Errors) -> StatusMatcher {
    fn one(v: &Value) -> Result<StatusPattern, String> {
        match v {
            Value::Number(n) => match n.as_u64() {
                Some(c @ 100..=599) => Ok(StatusPattern::Exact(c as u16)),
                _ => Err(format!("{n} is not a status code between 100 and 599")),
            },
            Value::String(s) => {
                let t = s.trim().to_ascii_lowercase();
                if let Ok(c) = t.parse::<u16>() {
                    return one(&Value::from(c));
                }
                match t.as_bytes() {
                    [d @ b'1'..=b'5', b'x', b'x'] => Ok(StatusPattern::Class(d - b'0')),
                    _ => Err(format!(
                        "{s:?} is neither a status code nor a class like \"2xx\""
                    )),
                }
            }
            other => Err(format!(
                "{other} is neither a status code nor a class like \"2xx\""
            )),
        }
    }
    let items: Vec<(String, &Value)> = match v {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("expect.status[{i}]"), v))
            .collect(),
        other => vec![("expect.status".to_owned(), other)],
    };
    if items.is_empty() {
        errs.push(
            "expect.status",
            "must list at least one status code or class",
        );
    }
    let mut out = Vec::new();
    for (field, v) in items {
        match one(v) {
            Ok(p) => out.push(p),
            Err(m) => errs.push(field, m),
        }
    }
    StatusMatcher(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> MonitorConfig {
        serde_json::from_value(v).unwrap()
    }

    fn fields(r: Result<MonitorSpec, Vec<ValidationError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn minimal_http_gets_defaults() {
        let s = cfg(json!({"name": "api", "type": "http", "url": "https://example.com/health"}))
            .build()
            .unwrap();
        assert_eq!(s.interval, Duration::from_secs(60));
        assert_eq!(s.timeout, Duration::from_secs(10));
        let CheckSpec::Http(h) = s.check else {
            panic!()
        };
        assert_eq!(h.method, "GET");
        assert!(h.follow_redirects && h.verify_tls);
        assert!(h.expect.status.matches(204) && !h.expect.status.matches(301));
        assert_eq!(h.warn.cert_expiry, DEFAULT_CERT_EXPIRY_WARN);
    }

    #[test]
    fn founding_story_monitor_parses() {
        let s = cfg(json!({
            "name": "[redis-primary] cache /health", "type": "http",
            "url": "https://app.example.com/health/redis", "interval": "1m",
            "expect": {"status": [200], "body_contains": "\"status\":\"ok\"", "response_time": "1000ms"},
            "warn": {"response_time": "500ms"}, "policy": "p1-page", "tags": ["cache"]
        }))
        .build()
        .unwrap();
        let CheckSpec::Http(h) = s.check else {
            panic!()
        };
        assert_eq!(h.expect.response_time, Some(Duration::from_millis(1000)));
        assert_eq!(h.warn.response_time, Some(Duration::from_millis(500)));
        assert!(h.expect.status.matches(200) && !h.expect.status.matches(201));
    }

    #[test]
    fn short_interval_names_the_field() {
        let r =
            cfg(json!({"name": "a", "type": "http", "url": "http://x", "interval": "5s"})).build();
        assert_eq!(fields(r), ["interval"]);
    }

    #[test]
    fn timeout_must_be_below_interval() {
        let r = cfg(json!({"name": "a", "type": "http", "url": "http://x", "interval": "10s", "timeout": "10s"})).build();
        assert_eq!(fields(r), ["timeout"]);
        let s = cfg(json!({"name": "a", "type": "http", "url": "http://x", "interval": "10s"}))
            .build()
            .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(9));
    }

    #[test]
    fn file_urls_are_refused() {
        let r = cfg(json!({"name": "a", "type": "http", "url": "file:///etc/passwd"})).build();
        assert_eq!(fields(r), ["url"]);
    }

    #[test]
    fn status_lists_and_classes() {
        let s = cfg(json!({"name": "a", "type": "http", "url": "http://x", "expect": {"status": [200, "3xx", "404"]}}))
            .build()
            .unwrap();
        let CheckSpec::Http(h) = s.check else {
            panic!()
        };
        assert!(
            h.expect.status.matches(200)
                && h.expect.status.matches(302)
                && h.expect.status.matches(404)
        );
        assert!(!h.expect.status.matches(500));
        assert_eq!(h.expect.status.to_string(), "200, 3xx, 404");
        let r = cfg(json!({"name": "a", "type": "http", "url": "http://x", "expect": {"status": [200, 700, "6xx"]}})).build();
        assert_eq!(fields(r), ["expect.status[1]", "expect.status[2]"]);
    }

    #[test]
    fn bad_regex_and_json_path_are_named() {
        let r = cfg(json!({"name": "a", "type": "http", "url": "http://x",
            "expect": {"body_regex": "(", "json": [{"path": "status", "equals": "ok"}, {"path": "$.a"}]}}))
        .build();
        assert_eq!(
            fields(r),
            ["expect.body_regex", "expect.json[0].path", "expect.json[1]"]
        );
    }

    #[test]
    fn warn_must_be_below_limit() {
        let r = cfg(json!({"name": "a", "type": "http", "url": "http://x",
            "expect": {"response_time": "500ms"}, "warn": {"response_time": "1s"}}))
        .build();
        assert_eq!(fields(r), ["warn.response_time"]);
    }

    #[test]
    fn tcp_requires_host_and_port_and_refuses_http_fields() {
        let r = cfg(json!({"name": "a", "type": "tcp", "url": "http://x", "port": 70000})).build();
        assert_eq!(fields(r), ["url", "host", "port"]);
        let s = cfg(json!({"name": "r", "type": "tcp", "host": "127.0.0.1", "port": 6379, "send": "PING\r\n", "expect": "+PONG"}))
            .build()
            .unwrap();
        let CheckSpec::Tcp(t) = s.check else { panic!() };
        assert_eq!(t.expect_banner.as_deref(), Some("+PONG"));
    }

    #[test]
    fn unknown_fields_and_types_are_refused() {
        let e = serde_json::from_value::<MonitorConfig>(
            json!({"name": "a", "type": "http", "urll": "http://x"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("urll"), "{e}");
        let r = cfg(json!({"name": "a", "type": "ftp"})).build();
        assert_eq!(fields(r), ["type"]);
        let e = serde_json::from_value::<MonitorConfig>(
            json!({"name": "a", "type": "http", "expect": {"stats": 200}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("stats"), "{e}");
    }

    #[test]
    fn regions_and_quorum() {
        let r = cfg(json!({"name": "a", "type": "http", "url": "http://x", "regions": ["eu", "EU", "eu"], "quorum": 3})).build();
        assert_eq!(fields(r), ["regions[1]", "regions[2]", "quorum"]);
    }

    #[test]
    fn redis_urls() {
        let (a, u, p, db) =
            parse_redis_url("redis://probe:s%40cret@cache.internal:6380/2").unwrap();
        assert_eq!(
            a,
            RedisAddr::Tcp {
                host: "cache.internal".into(),
                port: 6380,
                tls: false
            }
        );
        assert_eq!(
            (u.as_deref(), p.as_deref(), db),
            (Some("probe"), Some("s@cret"), 2)
        );
        let (a, u, p, db) = parse_redis_url("rediss://:pw@10.0.0.5").unwrap();
        assert_eq!(
            a,
            RedisAddr::Tcp {
                host: "10.0.0.5".into(),
                port: 6379,
                tls: true
            }
        );
        assert_eq!((u, p.as_deref(), db), (None, Some("pw"), 0));
        let (a, _, _, db) = parse_redis_url("unix:///run/redis/redis.sock?db=3").unwrap();
        assert_eq!(
            a,
            RedisAddr::Unix {
                path: "/run/redis/redis.sock".into()
            }
        );
        assert_eq!(db, 3);
        assert!(parse_redis_url("http://x").is_err());
        assert!(parse_redis_url("redis://host/abc").is_err());
    }

    #[test]
    fn redis_monitor_validation() {
        let s = cfg(json!({"name": "r", "type": "redis", "url": "redis://127.0.0.1:6379", "expect_role": "replica", "max_lag": "10s"}))
            .build()
            .unwrap();
        let CheckSpec::Redis(r) = s.check else {
            panic!()
        };
        assert_eq!(r.expect_role, Some(RedisRole::Replica));
        assert_eq!(r.max_lag, Duration::from_secs(10));
        assert_eq!((r.memory_warn, r.memory_critical), (0.90, 0.95));
        let e = cfg(json!({"name": "r", "type": "redis", "url": "redis://h", "memory": {"warn": 0.97}, "expect_role": "leader", "port": 1})).build();
        assert_eq!(fields(e), ["port", "expect_role", "memory.warn"]);
    }

    #[test]
    fn serialisation_roundtrips() {
        let c = cfg(
            json!({"name": "a", "type": "http", "url": "http://x", "expect": {"status": "2xx", "json": [{"path": "$.ok", "equals": true}]}}),
        );
        let back: MonitorConfig =
            serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
