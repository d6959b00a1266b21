//! Monitor configuration as users write it (YAML or JSON), and the validated
//! [`MonitorSpec`] that the rest of the system runs from.
//!
//! [`MonitorConfig`] is the raw, serialisable form: it is what the store keeps and what
//! the API shows back. Its fields common to every monitor sit beside [`KindConfig`],
//! one variant per monitor type (`type: http` → [`HttpConfig`], …), each type's
//! fields and validation in its own module. [`MonitorConfig::build`] validates it and
//! returns a [`MonitorSpec`] with parsed types (URL, regex, JSON paths, durations), or
//! every problem it found, each naming the field and the reason.
//!
//! The JSON shape is flat (`{"name": …, "type": "http", "url": …}`) and is the
//! contract (PRODUCT.md section 3): `crate::tagged` reads and writes it, from the
//! `tagged_kinds!` declaration of [`KindConfig`] and `tagged_config!`.
//!
//! Adding a monitor type: a module here with its config struct and `build`, one
//! variant in [`KindConfig`] and [`CheckSpec`], one row in [`KINDS`], a probe module
//! and a UI form (`docs/CONTRIBUTING.md`).

mod amqp;
mod broker;
mod dns;
mod expect;
mod grpc;
mod heartbeat;
mod http;
mod icmp;
mod mqtt;
mod mysql;
mod postgres;
mod redis;
mod smtp;
mod tcp;
mod tls;
mod websocket;

use std::time::Duration;

use serde::Serialize;

use crate::duration::HumanDuration;
use crate::ids::RegionName;
use crate::validation::{Errors, ValidationError};

pub use amqp::{
    AmqpConfig, AmqpSpec, AmqpTarget, DEFAULT_AMQP_PORT, DEFAULT_AMQPS_PORT, parse_amqp_url,
};
pub use broker::BrokerJudgement;
pub use dns::{DnsConfig, DnsRecord, DnsSpec, RCODES, canonical_value};
pub use expect::{ExpectConfig, JsonAssertionConfig, WarnConfig};
pub use grpc::{
    DEFAULT_GRPC_PORT, DEFAULT_GRPCS_PORT, GrpcConfig, GrpcSpec, MAX_SERVICE_BYTES, parse_grpc_url,
};
pub use heartbeat::HeartbeatConfig;
pub use http::{
    HttpConfig, HttpExpect, HttpSpec, HttpWarn, JsonAssertion, JsonCondition, StatusMatcher,
    StatusPattern,
};
pub use icmp::{DEFAULT_ICMP_COUNT, IcmpConfig, IcmpFacts, IcmpSpec, MAX_ICMP_COUNT};
pub use mqtt::{
    DEFAULT_MQTT_KEEP_ALIVE, DEFAULT_MQTT_MESSAGE, DEFAULT_MQTT_PORT, DEFAULT_MQTTS_PORT,
    MqttConfig, MqttPublishConfig, MqttSpec, MqttTarget, parse_mqtt_url,
};
pub use mysql::{
    DEFAULT_MYSQL_PORT, MysqlConfig, MysqlSpec, MysqlSslMode, MysqlTarget, parse_mysql_url,
};
pub use postgres::{
    DEFAULT_POSTGRES_PORT, DEFAULT_QUERY, MAX_QUERY_BYTES, PgSslMode, PostgresConfig, PostgresSpec,
    PostgresTarget, parse_postgres_url,
};
pub use redis::{
    DEFAULT_EVICTIONS_PER_MIN, DEFAULT_REDIS_MAX_LAG, RedisAddr, RedisConfig, RedisMemoryConfig,
    RedisRole, RedisSpec, WRITE_PROBE_PREFIX, parse_redis_url,
};
pub use smtp::{SmtpConfig, SmtpSpec, SmtpTls};
pub use tcp::{TcpConfig, TcpSpec};
pub use tls::{StartTls, TlsConfig, TlsSpec, TlsVersion};
pub use websocket::{ReplyExpect, WebsocketConfig, WebsocketSpec};

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
/// How long a regional failure lasts before its notice, unless the monitor says.
pub const DEFAULT_REGIONAL_NOTICE_AFTER: Duration = Duration::from_secs(5 * 60);

/// A monitor as written in the config file or sent to the API: the fields every
/// monitor has, and its type's own ([`KindConfig`]). Field names are the contract
/// (PRODUCT.md section 3); unknown fields are refused, and fields of another type are
/// refused by `build` with their name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self")]
pub struct MonitorConfig {
    /// Unique, human name.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// The monitor's type (`type: http`, …) and that type's fields.
    #[serde(flatten, skip_deserializing)]
    pub kind: KindConfig,
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
    /// Fields that were given but belong to another monitor type; `build` refuses them
    /// by name. Never written back.
    #[serde(skip)]
    #[schema(ignore)]
    pub foreign_fields: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

crate::tagged_config!(MonitorConfig, KindConfig, "monitor");

crate::tagged_kinds! {
    /// A monitor's type and its type's own fields: one variant per type.
    pub enum KindConfig as "MonitorType" {
        Http(HttpConfig) = "http",
        Tcp(TcpConfig) = "tcp",
        Redis(RedisConfig) = "redis",
        Postgres(PostgresConfig) = "postgres",
        Mysql(MysqlConfig) = "mysql",
        Tls(TlsConfig) = "tls",
        Smtp(SmtpConfig) = "smtp",
        Dns(DnsConfig) = "dns",
        Grpc(GrpcConfig) = "grpc",
        Mqtt(MqttConfig) = "mqtt",
        Websocket(WebsocketConfig) = "websocket",
        Icmp(IcmpConfig) = "icmp",
        Amqp(AmqpConfig) = "amqp",
        Heartbeat(HeartbeatConfig) = "heartbeat",
    }
}

/// Every monitor type: its name in `type:`, how people call it, and whether probes
/// run it (heartbeats are pinged instead). The one list the API, the UI and the docs
/// take the types from.
pub const KINDS: &[KindInfo] = &[
    KindInfo {
        kind: MonitorKind::Http,
        label: "HTTP",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Tcp,
        label: "TCP",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Redis,
        label: "Redis",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Postgres,
        label: "PostgreSQL",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Mysql,
        label: "MySQL",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Tls,
        label: "TLS certificate",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Smtp,
        label: "SMTP",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Dns,
        label: "DNS",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Grpc,
        label: "gRPC",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Mqtt,
        label: "MQTT",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Websocket,
        label: "WebSocket",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Icmp,
        label: "ICMP (ping)",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Amqp,
        label: "AMQP",
        probed: true,
    },
    KindInfo {
        kind: MonitorKind::Heartbeat,
        label: "Heartbeat",
        probed: false,
    },
];

/// One row of [`KINDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    pub kind: MonitorKind,
    /// Its name for people: `HTTP`, `Heartbeat`.
    pub label: &'static str,
    /// Whether probes run it (it has an interval, regions and a timeout).
    pub probed: bool,
}

impl KindInfo {
    /// The fields this type takes besides the common ones, in declaration order.
    pub fn fields(&self) -> &'static [&'static str] {
        KindConfig::fields_of(self.kind.as_str()).unwrap_or(&[])
    }

    /// Every field a monitor of this type takes: the common ones (without
    /// [`PROBING_FIELDS`] when it is not probed), then its own; `type` aside.
    pub fn all_fields(&self) -> Vec<&'static str> {
        common_fields()
            .iter()
            .copied()
            .filter(|f| self.probed || !PROBING_FIELDS.contains(f))
            .chain(self.fields().iter().copied())
            .collect()
    }
}

/// The type names, in words: `http, tcp, redis, postgres, mysql, tls, smtp, dns, grpc
/// or heartbeat`.
fn kind_names() -> String {
    let names: Vec<&str> = KINDS.iter().map(|k| k.kind.as_str()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// The fields every monitor takes, besides `type`.
pub fn common_fields() -> &'static [&'static str] {
    <MonitorConfig as crate::tagged::Tagged>::common_fields()
}

impl KindConfig {
    /// The type, when it is one this version knows.
    pub fn kind(&self) -> Option<MonitorKind> {
        match self {
            KindConfig::Http(_) => Some(MonitorKind::Http),
            KindConfig::Tcp(_) => Some(MonitorKind::Tcp),
            KindConfig::Redis(_) => Some(MonitorKind::Redis),
            KindConfig::Postgres(_) => Some(MonitorKind::Postgres),
            KindConfig::Mysql(_) => Some(MonitorKind::Mysql),
            KindConfig::Tls(_) => Some(MonitorKind::Tls),
            KindConfig::Smtp(_) => Some(MonitorKind::Smtp),
            KindConfig::Dns(_) => Some(MonitorKind::Dns),
            KindConfig::Grpc(_) => Some(MonitorKind::Grpc),
            KindConfig::Mqtt(_) => Some(MonitorKind::Mqtt),
            KindConfig::Websocket(_) => Some(MonitorKind::Websocket),
            KindConfig::Icmp(_) => Some(MonitorKind::Icmp),
            KindConfig::Amqp(_) => Some(MonitorKind::Amqp),
            KindConfig::Heartbeat(_) => Some(MonitorKind::Heartbeat),
            KindConfig::Unknown(_) => None,
        }
    }

    /// The `http` fields, when it is an `http` monitor.
    pub fn as_http(&self) -> Option<&HttpConfig> {
        match self {
            KindConfig::Http(c) => Some(c),
            _ => None,
        }
    }

    /// The `tcp` fields, when it is a `tcp` monitor.
    pub fn as_tcp(&self) -> Option<&TcpConfig> {
        match self {
            KindConfig::Tcp(c) => Some(c),
            _ => None,
        }
    }

    /// The `redis` fields, when it is a `redis` monitor.
    pub fn as_redis(&self) -> Option<&RedisConfig> {
        match self {
            KindConfig::Redis(c) => Some(c),
            _ => None,
        }
    }

    /// The `postgres` fields, when it is a `postgres` monitor.
    pub fn as_postgres(&self) -> Option<&PostgresConfig> {
        match self {
            KindConfig::Postgres(c) => Some(c),
            _ => None,
        }
    }

    /// The `mysql` fields, when it is a `mysql` monitor.
    pub fn as_mysql(&self) -> Option<&MysqlConfig> {
        match self {
            KindConfig::Mysql(c) => Some(c),
            _ => None,
        }
    }

    /// The `tls` fields, when it is a `tls` monitor.
    pub fn as_tls(&self) -> Option<&TlsConfig> {
        match self {
            KindConfig::Tls(c) => Some(c),
            _ => None,
        }
    }

    /// The `smtp` fields, when it is an `smtp` monitor.
    pub fn as_smtp(&self) -> Option<&SmtpConfig> {
        match self {
            KindConfig::Smtp(c) => Some(c),
            _ => None,
        }
    }

    /// The `dns` fields, when it is a `dns` monitor.
    pub fn as_dns(&self) -> Option<&DnsConfig> {
        match self {
            KindConfig::Dns(c) => Some(c),
            _ => None,
        }
    }

    /// The `grpc` fields, when it is a `grpc` monitor.
    pub fn as_grpc(&self) -> Option<&GrpcConfig> {
        match self {
            KindConfig::Grpc(c) => Some(c),
            _ => None,
        }
    }

    /// The `mqtt` fields, when it is an `mqtt` monitor.
    pub fn as_mqtt(&self) -> Option<&MqttConfig> {
        match self {
            KindConfig::Mqtt(c) => Some(c),
            _ => None,
        }
    }

    /// The `websocket` fields, when it is a `websocket` monitor.
    pub fn as_websocket(&self) -> Option<&WebsocketConfig> {
        match self {
            KindConfig::Websocket(c) => Some(c),
            _ => None,
        }
    }

    /// The `icmp` fields, when it is an `icmp` monitor.
    pub fn as_icmp(&self) -> Option<&IcmpConfig> {
        match self {
            KindConfig::Icmp(c) => Some(c),
            _ => None,
        }
    }

    /// The `amqp` fields, when it is an `amqp` monitor.
    pub fn as_amqp(&self) -> Option<&AmqpConfig> {
        match self {
            KindConfig::Amqp(c) => Some(c),
            _ => None,
        }
    }

    /// The `heartbeat` fields, when it is a `heartbeat` monitor.
    pub fn as_heartbeat(&self) -> Option<&HeartbeatConfig> {
        match self {
            KindConfig::Heartbeat(c) => Some(c),
            _ => None,
        }
    }

    /// How long before its certificate expires a monitor turns degraded: an `http`,
    /// `tls`, `smtp` or `grpc` monitor's `warn.cert_expiry`, else [`DEFAULT_CERT_EXPIRY_WARN`].
    pub fn cert_warn_horizon(&self) -> Duration {
        let warn = match self {
            KindConfig::Http(h) => h.warn.as_ref(),
            KindConfig::Tls(t) => t.warn.as_ref(),
            KindConfig::Smtp(s) => s.warn.as_ref(),
            KindConfig::Grpc(g) => g.warn.as_ref(),
            KindConfig::Mqtt(m) => m.warn.as_ref(),
            KindConfig::Websocket(w) => w.warn.as_ref(),
            KindConfig::Amqp(a) => a.warn.as_ref(),
            _ => None,
        };
        warn.and_then(|w| w.cert_expiry)
            .map_or(DEFAULT_CERT_EXPIRY_WARN, |d| d.0)
    }

    /// Whether certificate verification is turned off (`verify_tls: false`).
    pub fn tls_unverified(&self) -> bool {
        let verify = match self {
            KindConfig::Http(h) => h.verify_tls,
            KindConfig::Smtp(s) => s.verify_tls,
            KindConfig::Grpc(g) => g.verify_tls,
            KindConfig::Mqtt(m) => m.verify_tls,
            KindConfig::Websocket(w) => w.verify_tls,
            KindConfig::Amqp(a) => a.verify_tls,
            _ => None,
        };
        verify == Some(false)
    }

    /// The `url` of the types that have one (`http`, `redis`, `postgres`, `mysql`): it may carry a
    /// password, which is never shown back.
    pub fn url(&self) -> Option<&str> {
        match self {
            KindConfig::Http(c) => c.url.as_deref(),
            KindConfig::Redis(c) => c.url.as_deref(),
            KindConfig::Postgres(c) => c.url.as_deref(),
            KindConfig::Mysql(c) => c.url.as_deref(),
            KindConfig::Grpc(c) => c.url.as_deref(),
            KindConfig::Mqtt(c) => c.url.as_deref(),
            KindConfig::Websocket(c) => c.url.as_deref(),
            KindConfig::Amqp(c) => c.url.as_deref(),
            _ => None,
        }
    }

    /// The `url` field of the types that have one, to change it.
    pub fn url_mut(&mut self) -> Option<&mut Option<String>> {
        match self {
            KindConfig::Http(c) => Some(&mut c.url),
            KindConfig::Redis(c) => Some(&mut c.url),
            KindConfig::Postgres(c) => Some(&mut c.url),
            KindConfig::Mysql(c) => Some(&mut c.url),
            KindConfig::Grpc(c) => Some(&mut c.url),
            KindConfig::Mqtt(c) => Some(&mut c.url),
            KindConfig::Websocket(c) => Some(&mut c.url),
            KindConfig::Amqp(c) => Some(&mut c.url),
            _ => None,
        }
    }

    /// The expectations of a probed type (`expect`), when given.
    pub fn expect(&self) -> Option<&ExpectConfig> {
        match self {
            KindConfig::Http(c) => c.expect.as_ref(),
            KindConfig::Tcp(c) => c.expect.as_ref(),
            KindConfig::Redis(c) => c.expect.as_ref(),
            KindConfig::Postgres(c) => c.expect.as_ref(),
            KindConfig::Mysql(c) => c.expect.as_ref(),
            KindConfig::Tls(c) => c.expect.as_ref(),
            KindConfig::Smtp(c) => c.expect.as_ref(),
            KindConfig::Dns(c) => c.expect.as_ref(),
            KindConfig::Grpc(c) => c.expect.as_ref(),
            KindConfig::Mqtt(c) => c.expect.as_ref(),
            KindConfig::Websocket(c) => c.expect.as_ref(),
            KindConfig::Icmp(c) => c.expect.as_ref(),
            KindConfig::Amqp(c) => c.expect.as_ref(),
            KindConfig::Heartbeat(_) | KindConfig::Unknown(_) => None,
        }
    }

    /// The warning thresholds of a probed type (`warn`), when given.
    pub fn warn(&self) -> Option<&WarnConfig> {
        match self {
            KindConfig::Http(c) => c.warn.as_ref(),
            KindConfig::Tcp(c) => c.warn.as_ref(),
            KindConfig::Redis(c) => c.warn.as_ref(),
            KindConfig::Postgres(c) => c.warn.as_ref(),
            KindConfig::Mysql(c) => c.warn.as_ref(),
            KindConfig::Tls(c) => c.warn.as_ref(),
            KindConfig::Smtp(c) => c.warn.as_ref(),
            KindConfig::Dns(c) => c.warn.as_ref(),
            KindConfig::Grpc(c) => c.warn.as_ref(),
            KindConfig::Mqtt(c) => c.warn.as_ref(),
            KindConfig::Websocket(c) => c.warn.as_ref(),
            KindConfig::Icmp(c) => c.warn.as_ref(),
            KindConfig::Amqp(c) => c.warn.as_ref(),
            KindConfig::Heartbeat(_) | KindConfig::Unknown(_) => None,
        }
    }

    /// Whether `other` checks the same thing: the same type and the same target (an
    /// `http` monitor's URL and method, a `redis`, `postgres` or `mysql` monitor's URL, a `tcp`, `tls` or `smtp` monitor's host
    /// and port; a heartbeat has none). A changed target makes the state earned by the
    /// old one meaningless.
    pub fn same_target(&self, other: &KindConfig) -> bool {
        match (self, other) {
            (KindConfig::Http(a), KindConfig::Http(b)) => a.url == b.url && a.method == b.method,
            (KindConfig::Tcp(a), KindConfig::Tcp(b)) => a.host == b.host && a.port == b.port,
            (KindConfig::Redis(a), KindConfig::Redis(b)) => a.url == b.url,
            (KindConfig::Postgres(a), KindConfig::Postgres(b)) => a.url == b.url,
            (KindConfig::Mysql(a), KindConfig::Mysql(b)) => a.url == b.url,
            (KindConfig::Grpc(a), KindConfig::Grpc(b)) => a.url == b.url && a.service == b.service,
            (KindConfig::Mqtt(a), KindConfig::Mqtt(b)) => a.url == b.url,
            (KindConfig::Websocket(a), KindConfig::Websocket(b)) => a.url == b.url,
            (KindConfig::Icmp(a), KindConfig::Icmp(b)) => a.host == b.host,
            (KindConfig::Amqp(a), KindConfig::Amqp(b)) => a.url == b.url,
            (KindConfig::Dns(a), KindConfig::Dns(b)) => {
                a.query == b.query && a.record == b.record && a.resolver == b.resolver
            }
            (KindConfig::Smtp(a), KindConfig::Smtp(b)) => {
                a.host == b.host && a.port == b.port && a.tls == b.tls
            }
            (KindConfig::Tls(a), KindConfig::Tls(b)) => {
                a.host == b.host && a.port == b.port && a.starttls == b.starttls
            }
            (KindConfig::Heartbeat(_), KindConfig::Heartbeat(_)) => true,
            (KindConfig::Unknown(a), KindConfig::Unknown(b)) => a == b,
            _ => false,
        }
    }

    /// Whether probes run monitors of this type.
    pub fn is_probed(&self) -> bool {
        self.kind()
            .is_some_and(|k| KINDS.iter().any(|i| i.kind == k && i.probed))
    }
}

/// The common fields that only probed monitors take (a heartbeat has no interval,
/// regions or timeout: it is pinged).
pub const PROBING_FIELDS: [&str; 6] = [
    "interval",
    "timeout",
    "regions",
    "quorum",
    "confirmations",
    "regional_notice_after",
];

impl MonitorConfig {
    /// A monitor named `name` of the given type, every other field at its default.
    pub fn new(name: impl Into<String>, kind: KindConfig) -> Self {
        MonitorConfig {
            name: name.into(),
            kind,
            ..MonitorConfig::default()
        }
    }

    /// The monitor's type name: `http`, `tcp`, `redis`, `heartbeat`.
    pub fn kind_name(&self) -> &str {
        self.kind.name()
    }

    /// How people call the monitor's type (`HTTP`, `Heartbeat`), `Other` for a type
    /// this build does not know.
    pub fn kind_label(&self) -> &'static str {
        let name = self.kind_name();
        KINDS
            .iter()
            .find(|k| k.kind.as_str() == name)
            .map_or("Other", |k| k.label)
    }

    /// What the monitor watches, in a few words: `GET https://…`, `db:5432`,
    /// `every 5m + 1h grace`. Credentials in URLs are masked.
    pub fn target_words(&self) -> String {
        use crate::secret::mask_url_password;
        match &self.kind {
            KindConfig::Http(c) => format!(
                "{} {}",
                c.method.as_deref().unwrap_or("GET").to_ascii_uppercase(),
                c.url.as_deref().map(mask_url_password).unwrap_or_default()
            ),
            KindConfig::Tcp(c) => format!(
                "{}:{}",
                c.host.as_deref().unwrap_or(""),
                c.port.unwrap_or_default()
            ),
            KindConfig::Redis(c) => c.url.as_deref().map(mask_url_password).unwrap_or_default(),
            KindConfig::Postgres(c) => c.url.as_deref().map(mask_url_password).unwrap_or_default(),
            KindConfig::Mysql(c) => c.url.as_deref().map(mask_url_password).unwrap_or_default(),
            KindConfig::Grpc(c) => match c.service.as_deref().filter(|s| !s.is_empty()) {
                Some(service) => format!("{} {service}", c.url.as_deref().unwrap_or("")),
                None => c.url.as_deref().unwrap_or("").to_owned(),
            },
            KindConfig::Mqtt(c) => c.url.as_deref().map(mask_url_password).unwrap_or_default(),
            KindConfig::Websocket(c) => c.url.as_deref().map(mask_url_password).unwrap_or_default(),
            KindConfig::Icmp(c) => format!("ping {}", c.host.as_deref().unwrap_or("")),
            KindConfig::Amqp(c) => c.url.as_deref().map(mask_url_password).unwrap_or_default(),
            KindConfig::Dns(c) => format!(
                "{} {}{}",
                c.record.as_deref().unwrap_or("A").to_ascii_uppercase(),
                c.query.as_deref().unwrap_or(""),
                c.resolver
                    .as_deref()
                    .map(|r| format!(" @{r}"))
                    .unwrap_or_default()
            ),
            KindConfig::Smtp(c) => format!(
                "smtp {}:{}",
                c.host.as_deref().unwrap_or(""),
                c.port.unwrap_or(if c.tls.as_deref() == Some("implicit") {
                    465
                } else {
                    25
                })
            ),
            KindConfig::Tls(c) => format!(
                "{}:{}{}",
                c.host.as_deref().unwrap_or(""),
                c.port
                    .unwrap_or(if c.starttls.is_some() { 25 } else { 443 }),
                if c.starttls.is_some() {
                    " (STARTTLS)"
                } else {
                    ""
                }
            ),
            KindConfig::Heartbeat(c) => {
                let grace = c.grace.map_or_else(|| "1h".to_owned(), |g| g.to_string());
                match (&c.every, &c.cron) {
                    (_, Some(cron)) => format!(
                        "cron \"{cron}\" ({}) + {grace} grace",
                        c.tz.as_deref().unwrap_or("UTC")
                    ),
                    (Some(e), None) => format!("every {e} + {grace} grace"),
                    (None, None) => format!("every 1d + {grace} grace"),
                }
            }
            KindConfig::Unknown(other) => other.clone(),
        }
    }

    /// The lower-case text a search of monitors matches: name, type, target and tags,
    /// separated by spaces. The store keeps it beside the monitor, so a search is
    /// answered there.
    pub fn search_text(&self) -> String {
        let mut text = format!(
            "{} {} {}",
            self.name.trim(),
            self.kind_label(),
            self.target_words()
        );
        for t in &self.tags {
            text.push(' ');
            text.push_str(t);
        }
        text.to_lowercase()
    }

    /// The key monitors are listed by: the trimmed name in lower case.
    pub fn sort_key(&self) -> String {
        self.name.trim().to_lowercase()
    }

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

        let kind = self.kind.name();
        if !self.kind.is_probed() && self.kind.kind().is_some() {
            let set = [
                self.interval.is_some(),
                self.timeout.is_some(),
                self.regions.is_some(),
                self.quorum.is_some(),
                self.confirmations.is_some(),
                self.regional_notice_after.is_some(),
            ];
            for (field, on) in PROBING_FIELDS.iter().zip(set) {
                if on {
                    errs.push(*field, format!("does not apply to {kind} monitors"));
                }
            }
        }
        if self.kind.kind().is_some() {
            for field in &self.foreign_fields {
                errs.push(field.clone(), format!("does not apply to {kind} monitors"));
            }
        }
        let check = match &self.kind {
            KindConfig::Http(c) => c.build(&mut errs).map(CheckSpec::Http),
            KindConfig::Tcp(c) => c.build(&mut errs).map(CheckSpec::Tcp),
            KindConfig::Redis(c) => c.build(&mut errs).map(CheckSpec::Redis),
            KindConfig::Postgres(c) => c.build(&mut errs).map(CheckSpec::Postgres),
            KindConfig::Mysql(c) => c.build(&mut errs).map(CheckSpec::Mysql),
            KindConfig::Tls(c) => c.build(&mut errs).map(CheckSpec::Tls),
            KindConfig::Smtp(c) => c.build(&mut errs).map(CheckSpec::Smtp),
            KindConfig::Dns(c) => c.build(&mut errs).map(CheckSpec::Dns),
            KindConfig::Grpc(c) => c.build(&mut errs).map(CheckSpec::Grpc),
            KindConfig::Mqtt(c) => c.build(&mut errs).map(CheckSpec::Mqtt),
            KindConfig::Websocket(c) => c.build(&mut errs).map(CheckSpec::Websocket),
            KindConfig::Icmp(c) => c.build(&mut errs).map(CheckSpec::Icmp),
            KindConfig::Amqp(c) => c.build(&mut errs).map(CheckSpec::Amqp),
            KindConfig::Heartbeat(c) => c.build(name, &mut errs).map(CheckSpec::Heartbeat),
            KindConfig::Unknown(other) if other.is_empty() => {
                errs.push("type", format!("is required: {}", kind_names()));
                None
            }
            KindConfig::Unknown(other) => {
                errs.push(
                    "type",
                    format!("unknown monitor type {other:?}; expected {}", kind_names()),
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
                    .map_or(DEFAULT_REGIONAL_NOTICE_AFTER, |d| d.0),
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
}

/// The kinds of monitor.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MonitorKind {
    Http,
    Tcp,
    Redis,
    Postgres,
    Mysql,
    Tls,
    Smtp,
    Dns,
    Grpc,
    Mqtt,
    Websocket,
    Icmp,
    Amqp,
    Heartbeat,
}

impl MonitorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorKind::Http => "http",
            MonitorKind::Tcp => "tcp",
            MonitorKind::Redis => "redis",
            MonitorKind::Postgres => "postgres",
            MonitorKind::Mysql => "mysql",
            MonitorKind::Tls => "tls",
            MonitorKind::Smtp => "smtp",
            MonitorKind::Dns => "dns",
            MonitorKind::Grpc => "grpc",
            MonitorKind::Mqtt => "mqtt",
            MonitorKind::Websocket => "websocket",
            MonitorKind::Icmp => "icmp",
            MonitorKind::Amqp => "amqp",
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
            CheckSpec::Postgres(_) => MonitorKind::Postgres,
            CheckSpec::Mysql(_) => MonitorKind::Mysql,
            CheckSpec::Tls(_) => MonitorKind::Tls,
            CheckSpec::Smtp(_) => MonitorKind::Smtp,
            CheckSpec::Dns(_) => MonitorKind::Dns,
            CheckSpec::Grpc(_) => MonitorKind::Grpc,
            CheckSpec::Mqtt(_) => MonitorKind::Mqtt,
            CheckSpec::Websocket(_) => MonitorKind::Websocket,
            CheckSpec::Icmp(_) => MonitorKind::Icmp,
            CheckSpec::Amqp(_) => MonitorKind::Amqp,
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
    Postgres(PostgresSpec),
    Mysql(MysqlSpec),
    Tls(TlsSpec),
    Smtp(SmtpSpec),
    Dns(DnsSpec),
    Grpc(GrpcSpec),
    Mqtt(MqttSpec),
    Websocket(WebsocketSpec),
    Icmp(IcmpSpec),
    Amqp(AmqpSpec),
    Heartbeat(crate::heartbeat::HeartbeatSpec),
}

#[cfg(test)]
mod tests;

/// A monitor's secrets: the password of its URL (HTTP, Redis, PostgreSQL, MySQL, MQTT,
/// AMQP), an
/// MQTT monitor's `password`, of an HTTP
/// monitor every header value not named in `public_headers` and the body unless
/// `public_body`, and of a gRPC monitor every metadata value. They are bound to the URL's origin.
impl crate::secret::Secrets for MonitorConfig {
    fn visit_secrets(&mut self, f: &mut dyn FnMut(&str, crate::secret::SecretKind, &mut String)) {
        use crate::secret::SecretKind;
        match &mut self.kind {
            KindConfig::Http(c) => {
                if let Some(u) = c.url.as_mut() {
                    f("url", SecretKind::UrlPassword, u);
                }
                let public: Vec<String> = c
                    .public_headers
                    .iter()
                    .flatten()
                    .map(|h| h.to_ascii_lowercase())
                    .collect();
                for (name, value) in c.headers.iter_mut().flatten() {
                    if !public.contains(&name.to_ascii_lowercase()) {
                        f(&format!("headers.{name}"), SecretKind::Whole, value);
                    }
                }
                if c.public_body != Some(true)
                    && let Some(b) = c.body.as_mut()
                {
                    f("body", SecretKind::Whole, b);
                }
            }
            KindConfig::Redis(c) => {
                if let Some(u) = c.url.as_mut() {
                    f("url", SecretKind::UrlPassword, u);
                }
            }
            KindConfig::Postgres(c) => {
                if let Some(u) = c.url.as_mut() {
                    f("url", SecretKind::UrlPassword, u);
                }
            }
            KindConfig::Mysql(c) => {
                if let Some(u) = c.url.as_mut() {
                    f("url", SecretKind::UrlPassword, u);
                }
            }
            KindConfig::Grpc(c) => {
                for (name, value) in c.metadata.iter_mut().flatten() {
                    f(&format!("metadata.{name}"), SecretKind::Whole, value);
                }
            }
            KindConfig::Mqtt(c) => {
                if let Some(u) = c.url.as_mut() {
                    f("url", SecretKind::UrlPassword, u);
                }
                if let Some(p) = c.password.as_mut() {
                    f("password", SecretKind::Whole, p);
                }
            }
            KindConfig::Websocket(c) => {
                if let Some(u) = c.url.as_mut() {
                    f("url", SecretKind::UrlPassword, u);
                }
                for (name, value) in c.headers.iter_mut().flatten() {
                    f(&format!("headers.{name}"), SecretKind::Whole, value);
                }
            }
            KindConfig::Amqp(c) => {
                if let Some(u) = c.url.as_mut() {
                    f("url", SecretKind::UrlPassword, u);
                }
            }
            _ => {}
        }
    }

    fn secret_target(&self) -> Option<String> {
        self.kind.url().and_then(crate::secret::origin)
    }
}
