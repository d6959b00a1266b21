//! "New monitor" and "Edit monitor": one form per type (HTTP, TCP, Redis, PostgreSQL,
//! MySQL, TLS certificate, SMTP, DNS, gRPC, MQTT, AMQP, WebSocket, ICMP, Heartbeat)
//! whose fields and defaults are those of the config file (PRODUCT.md section 3),
//! validated by `MonitorConfig::build()` with each problem shown next to its field,
//! and a "Test now" button that runs one check and shows its phases before saving.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use vigilmon_core::MonitorConfig;
use vigilmon_core::monitor::{CheckSpec, KINDS};

use super::form::{
    self, FieldDef, Input, SectionDef, SectionView, Values, field as f, required as req,
};
use super::format;
use super::{FieldErrors, Layout, Posted, Session, UiError, render, see_other};
use vigilmon_app::AppState;
use vigilmon_app::monitors::{create_monitor, keep_secrets, replace_monitor, view};
use vigilmon_app::views::verdict_name;

const HTTP: &[&str] = &["http"];
const TCP: &[&str] = &["tcp"];
const TLS: &[&str] = &["tls"];
const SMTP: &[&str] = &["smtp"];
const DNS: &[&str] = &["dns"];
const GRPC: &[&str] = &["grpc"];
const MQTT: &[&str] = &["mqtt"];
const WEBSOCKET: &[&str] = &["websocket"];
const ICMP: &[&str] = &["icmp"];
const AMQP: &[&str] = &["amqp"];
const HOST_PORT: &[&str] = &["tcp", "tls", "smtp", "icmp"];
const CERTIFICATES: &[&str] = &["http", "tls", "smtp", "grpc", "mqtt", "websocket", "amqp"];
const CERT_HORIZON: &[&str] = &["tls", "smtp", "mqtt", "websocket", "amqp"];
const BANNERS: &[&str] = &["tcp", "smtp"];
const VERIFIED: &[&str] = &["http", "smtp", "grpc", "mqtt", "websocket", "amqp"];
const REDIS: &[&str] = &["redis"];
const POSTGRES: &[&str] = &["postgres"];
const MYSQL: &[&str] = &["mysql"];
const DATABASES: &[&str] = &["postgres", "mysql"];
const HEARTBEAT: &[&str] = &["heartbeat"];
const PROBED: &[&str] = &[
    "http",
    "tcp",
    "redis",
    "postgres",
    "mysql",
    "tls",
    "smtp",
    "dns",
    "grpc",
    "mqtt",
    "websocket",
    "icmp",
    "amqp",
];

/// The monitor types, with their tab labels: core's list of types.
fn types() -> Vec<(&'static str, &'static str)> {
    KINDS.iter().map(|k| (k.kind.as_str(), k.label)).collect()
}

const SECTIONS: &[SectionDef] = &[
    SectionDef {
        title: "What to watch",
        collapsed: false,
    },
    SectionDef {
        title: "Schedule",
        collapsed: false,
    },
    SectionDef {
        title: "Expectations",
        collapsed: false,
    },
    SectionDef {
        title: "Alerts and grouping",
        collapsed: false,
    },
    SectionDef {
        title: "Advanced",
        collapsed: true,
    },
];

const METHODS: &[(&str, &str)] = &[
    ("", "GET (default)"),
    ("HEAD", "HEAD"),
    ("POST", "POST"),
    ("PUT", "PUT"),
    ("PATCH", "PATCH"),
    ("DELETE", "DELETE"),
    ("OPTIONS", "OPTIONS"),
];

const STARTTLS: &[(&str, &str)] = &[("", "None: TLS from the start"), ("smtp", "SMTP")];

const SMTP_TLS: &[(&str, &str)] = &[
    ("", "STARTTLS, required (default)"),
    ("implicit", "TLS from the first byte (port 465)"),
    ("none", "None: plain SMTP"),
];

const RECORDS: &[(&str, &str)] = &[
    ("", "A (default)"),
    ("AAAA", "AAAA"),
    ("CNAME", "CNAME"),
    ("MX", "MX"),
    ("TXT", "TXT"),
    ("NS", "NS"),
    ("SOA", "SOA"),
    ("CAA", "CAA"),
];

const RCODES: &[(&str, &str)] = &[
    ("", "NOERROR (default)"),
    ("NXDOMAIN", "NXDOMAIN: the name must not exist"),
    ("SERVFAIL", "SERVFAIL"),
    ("REFUSED", "REFUSED"),
];

const TLS_VERSIONS: &[(&str, &str)] = &[("", "TLS 1.2 (default)"), ("1.3", "TLS 1.3")];

const ROLES: &[(&str, &str)] = &[
    ("", "Any role"),
    ("primary", "Primary"),
    ("replica", "Replica"),
];

/// Every field of the monitor form, in order. Placeholders show the defaults.
pub(crate) const FIELDS: &[FieldDef] = &[
    req(f(
        "name",
        "Name",
        Input::Text,
        &[],
        "[redis-primary] cache /health",
        "Unique. Bracket prefixes group by convention.",
        0,
    )),
    req(f(
        "url",
        "URL",
        Input::Url,
        HTTP,
        "https://app.example.com/health",
        "http:// or https:// only.",
        0,
    )),
    f("method", "Method", Input::Select(METHODS), HTTP, "", "", 0),
    req(f(
        "url",
        "WebSocket URL",
        Input::Url,
        WEBSOCKET,
        "wss://app.example.com/socket",
        "ws:// or wss://. A password in it is sent as Basic authentication and never shown again after saving.",
        0,
    )),
    f(
        "count",
        "Echo requests",
        Input::Int,
        ICMP,
        "3",
        "Sent 200 ms apart, 1 to 20. The response-time limits below apply to their average round trip.",
        0,
    ),
    f(
        "subprotocol",
        "Subprotocol",
        Input::Text,
        WEBSOCKET,
        "none",
        "Asked for in Sec-WebSocket-Protocol; the server must agree to it.",
        0,
    ),
    f(
        "send",
        "Message to send",
        Input::Text,
        WEBSOCKET,
        "ping",
        "Optional text message sent once the WebSocket is open.",
        0,
    ),
    req(f(
        "url",
        "Redis URL",
        Input::Text,
        REDIS,
        "redis://user:password@cache.internal:6379/0",
        "redis://, rediss:// (TLS) or unix:///path.sock. The password is never shown again after saving.",
        0,
    )),
    req(f(
        "url",
        "PostgreSQL URL",
        Input::Text,
        POSTGRES,
        "postgres://monitor:password@db.internal:5432/app?sslmode=verify-full",
        "sslmode: disable, prefer (default), require or verify-full. The password is never shown again after saving.",
        0,
    )),
    req(f(
        "url",
        "MySQL URL",
        Input::Text,
        MYSQL,
        "mysql://monitor:password@db.internal:3306/app?ssl-mode=VERIFY_IDENTITY",
        "ssl-mode: DISABLED, PREFERRED (default), REQUIRED or VERIFY_IDENTITY. The password is never shown again after saving.",
        0,
    )),
    req(f(
        "url",
        "gRPC URL",
        Input::Text,
        GRPC,
        "grpcs://api.internal:443",
        "grpc:// (plain HTTP/2) or grpcs:// (TLS); without a port, 80 and 443.",
        0,
    )),
    f(
        "service",
        "Service",
        Input::Text,
        GRPC,
        "the server as a whole",
        "The name the server's health service knows, e.g. billing.v1.Billing. SERVING is up.",
        0,
    ),
    req(f(
        "url",
        "MQTT URL",
        Input::Text,
        MQTT,
        "mqtts://monitor:password@broker.internal:8883",
        "mqtt:// (port 1883) or mqtts:// (TLS, port 8883). The password is never shown again after saving.",
        0,
    )),
    req(f(
        "url",
        "AMQP URL",
        Input::Text,
        AMQP,
        "amqps://monitor:password@rabbit.internal:5671/%2F",
        "amqp:// (port 5672) or amqps:// (TLS, port 5671); the virtual host after the slash, %2F for /. The password is never shown again after saving.",
        0,
    )),
    f(
        "username",
        "User name",
        Input::Text,
        MQTT,
        "",
        "When it is not in the URL.",
        0,
    ),
    f(
        "password",
        "Password",
        Input::Text,
        MQTT,
        "",
        "When it is not in the URL. A secret, shown as ******** after saving (leave the mask to keep it).",
        0,
    ),
    f(
        "publish.topic",
        "Round trip: topic",
        Input::Text,
        MQTT,
        "vigilmon/probe",
        "Subscribe to this topic, publish on it and expect the message back within the timeout. Leave empty to connect only.",
        0,
    ),
    f(
        "publish.message",
        "Round trip: message",
        Input::Text,
        MQTT,
        "vigilmon probe",
        "A unique token is added after it, so that concurrent checks each wait for their own.",
        0,
    ),
    f(
        "client_id",
        "Client identifier",
        Input::Text,
        MQTT,
        "vigilmon- and a random suffix",
        "A fixed one makes the broker drop another connection using it.",
        4,
    ),
    f(
        "keep_alive",
        "Keep-alive",
        Input::Duration,
        MQTT,
        "30s",
        "Announced in CONNECT, whole seconds.",
        4,
    ),
    f(
        "query",
        "Query",
        Input::Text,
        DATABASES,
        "SELECT 1",
        "Runs in a read-only session, bounded by the timeout.",
        0,
    ),
    req(f(
        "query",
        "Name",
        Input::Text,
        DNS,
        "example.com",
        "The name asked for.",
        0,
    )),
    f(
        "record",
        "Record type",
        Input::Select(RECORDS),
        DNS,
        "",
        "",
        0,
    ),
    f(
        "resolver",
        "Resolver",
        Input::Text,
        DNS,
        "the system's",
        "An IP address, optionally with a port: 1.1.1.1, [2606:4700::1111]:53.",
        0,
    ),
    req(f(
        "host",
        "Host",
        Input::Text,
        HOST_PORT,
        "db.internal",
        "",
        0,
    )),
    req(f("port", "Port", Input::Int, TCP, "5432", "", 0)),
    f(
        "port",
        "Port",
        Input::Int,
        TLS,
        "443 (25 with STARTTLS)",
        "",
        0,
    ),
    f(
        "port",
        "Port",
        Input::Int,
        SMTP,
        "25 (465 with implicit TLS)",
        "",
        0,
    ),
    f(
        "tls",
        "Encryption",
        Input::Select(SMTP_TLS),
        SMTP,
        "",
        "With STARTTLS or implicit TLS, the certificate is judged too.",
        0,
    ),
    f(
        "starttls",
        "STARTTLS",
        Input::Select(STARTTLS),
        TLS,
        "",
        "SMTP: greet a mail server and ask for STARTTLS before the handshake (ports 25, 587).",
        0,
    ),
    f(
        "send",
        "Send after connecting",
        Input::Text,
        TCP,
        "PING",
        "Optional text sent once connected.",
        0,
    ),
    f(
        "expect_role",
        "Expected role",
        Input::Select(ROLES),
        REDIS,
        "",
        "A different role fails (an unintended failover).",
        0,
    ),
    f(
        "write_probe",
        "Write probe: SET a key with a short TTL on each check",
        Input::Bool(false),
        REDIS,
        "",
        "Catches refused writes (OOM under noeviction, MISCONF, READONLY). Needs +set on the probe key.",
        0,
    ),
    f(
        "every",
        "Expected every",
        Input::Duration,
        HEARTBEAT,
        "1d",
        "Time between successful pings, e.g. 5m. Leave empty when using cron.",
        1,
    ),
    f(
        "cron",
        "Or on a cron schedule",
        Input::Text,
        HEARTBEAT,
        "*/5 * * * *",
        "Five fields: minute hour day month weekday.",
        1,
    ),
    f(
        "tz",
        "Time zone of the cron schedule",
        Input::Text,
        HEARTBEAT,
        "UTC",
        "IANA name, such as Europe/Berlin.",
        1,
    ),
    f(
        "grace",
        "Grace",
        Input::Duration,
        HEARTBEAT,
        "1h",
        "How late a ping may be before the monitor is down.",
        1,
    ),
    f(
        "interval",
        "Check every",
        Input::Duration,
        PROBED,
        "1m",
        "At least 10s.",
        1,
    ),
    f(
        "timeout",
        "Timeout",
        Input::Duration,
        PROBED,
        "10s",
        "Less than the interval.",
        1,
    ),
    f(
        "expect.status",
        "Expected status",
        Input::Status,
        HTTP,
        "2xx",
        "Codes and classes, comma-separated: 200, 3xx.",
        2,
    ),
    f(
        "expect.body_contains",
        "Body contains",
        Input::Text,
        HTTP,
        "\"status\":\"ok\"",
        "",
        2,
    ),
    f(
        "expect.body_not_contains",
        "Body does not contain",
        Input::Text,
        HTTP,
        "",
        "",
        2,
    ),
    f(
        "expect.body_regex",
        "Body matches (regular expression)",
        Input::Text,
        HTTP,
        "",
        "",
        2,
    ),
    f(
        "expect.json",
        "JSON assertions",
        Input::JsonAsserts,
        HTTP,
        "$.status == \"ok\"",
        "One per line: $.path == value, $.path exists or $.path absent.",
        2,
    ),
    f(
        "expect.response_time",
        "Fail when slower than",
        Input::Duration,
        PROBED,
        "none",
        "e.g. 1000ms",
        2,
    ),
    f(
        "warn.response_time",
        "Degraded when slower than",
        Input::Duration,
        PROBED,
        "none",
        "e.g. 500ms: warns before it fails.",
        2,
    ),
    f(
        "warn.cert_expiry",
        "Degraded when the certificate expires within",
        Input::Duration,
        CERTIFICATES,
        "14d",
        "",
        2,
    ),
    f(
        "expect.cert_expiry",
        "Fail when the certificate expires within",
        Input::Duration,
        CERT_HORIZON,
        "none",
        "e.g. 3d; an expired or untrusted certificate always fails.",
        2,
    ),
    f(
        "issuer",
        "Issued by",
        Input::Text,
        TLS,
        "Let's Encrypt",
        "Text the issuer's name must contain (any case).",
        2,
    ),
    f(
        "min_version",
        "Lowest protocol version",
        Input::Select(TLS_VERSIONS),
        TLS,
        "",
        "",
        2,
    ),
    f(
        "expect.banner",
        "Expected banner",
        Input::Text,
        BANNERS,
        "",
        "Text the server must send (after Send, if any); for SMTP, text its greeting must contain.",
        2,
    ),
    f(
        "expect.max_loss",
        "Fail when more are lost than (%)",
        Input::Int,
        ICMP,
        "none: fail only when none answers",
        "",
        2,
    ),
    f(
        "warn.max_loss",
        "Degraded when more are lost than (%)",
        Input::Int,
        ICMP,
        "none",
        "",
        2,
    ),
    f(
        "expect.reply_contains",
        "Reply contains",
        Input::Text,
        WEBSOCKET,
        "pong",
        "The first message from the server is awaited when one of these three is set.",
        2,
    ),
    f(
        "expect.reply_equals",
        "Reply is exactly",
        Input::Text,
        WEBSOCKET,
        "",
        "",
        2,
    ),
    f(
        "expect.reply_regex",
        "Reply matches (regular expression)",
        Input::Text,
        WEBSOCKET,
        "",
        "",
        2,
    ),
    f(
        "expect.value",
        "Expected value",
        Input::Text,
        DATABASES,
        "",
        "The first column of the first row must read exactly this (t and f stand for true and false).",
        2,
    ),
    f(
        "expect.values",
        "Expected values",
        Input::Csv,
        DNS,
        "192.0.2.10, 192.0.2.11",
        "Comma-separated; all must be in the answer. MX as \"10 mail.example.com\", CAA as \"0 issue letsencrypt.org\".",
        2,
    ),
    f(
        "expect.exact",
        "Exactly these values, nothing more",
        Input::Bool(false),
        DNS,
        "",
        "",
        2,
    ),
    f(
        "expect.rcode",
        "Expected response code",
        Input::Select(RCODES),
        DNS,
        "",
        "",
        2,
    ),
    f(
        "memory.warn",
        "Memory: degraded above",
        Input::Float,
        REDIS,
        "0.90",
        "Share of maxmemory.",
        2,
    ),
    f(
        "memory.critical",
        "Memory: down above",
        Input::Float,
        REDIS,
        "0.95",
        "Share of maxmemory.",
        2,
    ),
    f(
        "memory.limit_bytes",
        "Memory limit when maxmemory is 0 (bytes)",
        Input::Int,
        REDIS,
        "",
        "Without it, unlimited memory is reported but not judged.",
        2,
    ),
    f(
        "evictions_per_min",
        "Degraded above evictions per minute",
        Input::Int,
        REDIS,
        "1000",
        "",
        2,
    ),
    f(
        "max_lag",
        "Replica: degraded when the link is quiet for",
        Input::Duration,
        REDIS,
        "30s",
        "",
        2,
    ),
    f(
        "max_lag_bytes",
        "Replica: degraded when this many bytes behind",
        Input::Int,
        REDIS,
        "",
        "",
        2,
    ),
    f(
        "expect_replicas",
        "Primary: degraded with fewer replicas than",
        Input::Int,
        REDIS,
        "",
        "",
        2,
    ),
    f(
        "min_interval",
        "Failure when pings come closer than",
        Input::Duration,
        HEARTBEAT,
        "",
        "Catches a job that runs too often.",
        2,
    ),
    f(
        "min_duration",
        "Failure when a run is shorter than",
        Input::Duration,
        HEARTBEAT,
        "",
        "Measured from /start.",
        2,
    ),
    f(
        "max_duration",
        "Failure when a run is longer than",
        Input::Duration,
        HEARTBEAT,
        "",
        "",
        2,
    ),
    f(
        "failures",
        "Down after failures",
        Input::Text,
        HEARTBEAT,
        "3 of 5",
        "N of M runs, instead of on the first failure.",
        2,
    ),
    f(
        "policy",
        "Alert policy",
        Input::Dynamic,
        &[],
        "",
        "Who is told, and how urgently. Without one, incidents are recorded but nobody is notified.",
        3,
    ),
    f(
        "tags",
        "Tags",
        Input::Csv,
        &[],
        "cache, prod",
        "Comma-separated; the dashboard groups by tag.",
        3,
    ),
    f(
        "depends_on",
        "Depends on",
        Input::Csv,
        &[],
        "",
        "Monitor names, comma-separated: while one of them is down, this one's alerts are held back.",
        3,
    ),
    f(
        "regions",
        "Regions",
        Input::Csv,
        PROBED,
        "all regions",
        "Comma-separated region names.",
        4,
    ),
    f(
        "quorum",
        "Quorum",
        Input::Int,
        PROBED,
        "majority",
        "Failing regions needed to open an incident.",
        4,
    ),
    f(
        "confirmations",
        "Confirmations",
        Input::Int,
        PROBED,
        "1 (2 with one region)",
        "Consecutive failing evaluations before down.",
        4,
    ),
    f(
        "regional_notice_after",
        "Regional notice after",
        Input::Duration,
        PROBED,
        "5m",
        "A failure seen by fewer regions than the quorum sends one low-priority notice to the non-paging channels after this long.",
        4,
    ),
    f(
        "headers",
        "Request headers",
        Input::Headers,
        HTTP,
        "Authorization: Bearer …",
        "One per line, Name: value. Values are secrets, shown as ******** after saving (leave the mask to keep one), unless named below.",
        4,
    ),
    f(
        "metadata",
        "Metadata",
        Input::Headers,
        GRPC,
        "authorization: Bearer …",
        "Sent with the call, one per line, name: value. Values are secrets, shown as ******** after saving (leave the mask to keep one).",
        4,
    ),
    f(
        "headers",
        "Request headers",
        Input::Headers,
        WEBSOCKET,
        "Authorization: Bearer …",
        "Sent with the upgrade request; one per line, Name: value. Values are secrets, shown as ******** after saving (leave the mask to keep one).",
        4,
    ),
    f(
        "public_headers",
        "Headers readers may see",
        Input::Csv,
        HTTP,
        "Accept, User-Agent",
        "Names of headers whose values are not secret, comma-separated.",
        4,
    ),
    f(
        "body",
        "Request body",
        Input::Textarea,
        HTTP,
        "",
        "A secret, shown as ******** after saving, unless the box below is ticked.",
        4,
    ),
    f(
        "public_body",
        "Readers may see the body",
        Input::Bool(false),
        HTTP,
        "",
        "",
        4,
    ),
    f(
        "follow_redirects",
        "Follow redirects",
        Input::Bool(true),
        HTTP,
        "",
        "",
        4,
    ),
    f(
        "verify_tls",
        "Verify the TLS certificate",
        Input::Bool(true),
        VERIFIED,
        "",
        "",
        4,
    ),
    f(
        "write_probe_key",
        "Write probe key",
        Input::Text,
        REDIS,
        "vigilmon:probe",
        "",
        4,
    ),
    f(
        "methods",
        "Accepted methods",
        Input::Csv,
        HEARTBEAT,
        "any",
        "e.g. POST, so that link previews that GET the URL do not count.",
        4,
    ),
    f(
        "slug",
        "Slug",
        Input::Text,
        HEARTBEAT,
        "from the name",
        "Name in slug ping URLs: a-z, 0-9, _ and -.",
        4,
    ),
    f(
        "token",
        "Ping token",
        Input::Text,
        HEARTBEAT,
        "generated",
        "Only to keep a URL from another service, e.g. a Healthchecks UUID: 16-64 letters, digits, - and _. It is the URL's secret.",
        4,
    ),
];

/// One check's outcome, shown under the form.
pub(crate) struct TestView {
    pub ok: bool,
    pub verdict: &'static str,
    pub message: Option<String>,
    pub status: Option<u16>,
    pub phases: Vec<(&'static str, String)>,
    pub total: String,
    pub remote: Option<String>,
    pub body: Option<String>,
    pub details: Vec<(String, String)>,
    /// The certificate's expiry in words and its date.
    pub cert: Option<String>,
    /// The check ran with `verify_tls: false`.
    pub tls_off: bool,
}

#[derive(Template)]
#[template(path = "monitor_form.html", whitespace = "minimize")]
struct FormPage {
    l: Layout,
    heading: String,
    is_new: bool,
    kind: String,
    types: Vec<(&'static str, &'static str)>,
    action: String,
    cancel: String,
    sections: Vec<SectionView>,
    general: Vec<String>,
    test: Option<TestView>,
    test_note: Option<String>,
    can_test: bool,
    save_label: &'static str,
    managed: bool,
}

#[derive(Deserialize, Default)]
pub(crate) struct NewQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub(crate) fn valid_kind(k: &str) -> &'static str {
    KINDS
        .iter()
        .map(|t| t.kind.as_str())
        .find(|t| *t == k)
        .unwrap_or("http")
}

/// The options of the policy select: none, then every policy.
async fn policy_options(st: &AppState) -> Result<Vec<(String, String)>, UiError> {
    let mut out = vec![(String::new(), "None: record incidents only".to_owned())];
    for p in st.store().list_policies().await? {
        out.push((p.name.clone(), p.name));
    }
    Ok(out)
}

struct FormState {
    kind: &'static str,
    values: Values,
    errors: FieldErrors,
    test: Option<TestView>,
    test_note: Option<String>,
}

async fn page(
    st: &AppState,
    s: &Session,
    editing: Option<(&str, &str, bool)>,
    fs: FormState,
) -> Result<FormPage, UiError> {
    let policies = policy_options(st).await?;
    let dynamic = |key: &str| {
        if key == "policy" {
            policies.clone()
        } else {
            Vec::new()
        }
    };
    let sections = form::view(FIELDS, SECTIONS, fs.kind, &fs.values, &fs.errors, &dynamic);
    let shown: Vec<&str> = FIELDS
        .iter()
        .filter(|d| d.applies(fs.kind))
        .map(|d| d.key)
        .collect();
    let (heading, action, cancel, is_new, managed) = match editing {
        Some((id, name, managed)) => (
            format!("Edit {name}"),
            format!("/monitors/{id}/edit"),
            format!("/monitors/{id}"),
            false,
            managed,
        ),
        None => (
            "New monitor".to_owned(),
            "/monitors/new".to_owned(),
            "/".to_owned(),
            true,
            false,
        ),
    };
    Ok(FormPage {
        l: Layout::new(heading.clone(), "dashboard", s),
        heading,
        is_new,
        kind: fs.kind.to_owned(),
        types: types(),
        action,
        cancel,
        sections,
        general: fs.errors.general(&shown),
        test: fs.test,
        test_note: fs.test_note,
        can_test: fs.kind != "heartbeat",
        save_label: if is_new {
            "Create monitor"
        } else {
            "Save changes"
        },
        managed,
    })
}

pub(crate) async fn new_form(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<NewQuery>,
) -> Result<Response, UiError> {
    s.require_write()?;
    let kind = valid_kind(q.kind.as_deref().unwrap_or("http"));
    let fs = FormState {
        kind,
        values: Values::default(),
        errors: FieldErrors::default(),
        test: None,
        test_note: None,
    };
    Ok(render(&page(&st, &s, None, fs).await?))
}

/// The config a submitted form describes, or the problems with it by field.
pub(crate) fn parse(
    kind: &str,
    values: &Values,
    old: Option<&MonitorConfig>,
) -> Result<MonitorConfig, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut doc = form::to_json(FIELDS, kind, values, &mut errors);
    if let Value::Object(m) = &mut doc {
        m.insert("type".into(), Value::String(kind.to_owned()));
        if old.is_some_and(|o| o.paused) {
            m.insert("paused".into(), Value::Bool(true));
        }
    }
    let mut config: MonitorConfig =
        match serde_path_to_error::deserialize(vigilmon_core::tagged::type_first(doc)) {
            Ok(c) => c,
            Err(e) => {
                let path = e.path().to_string();
                errors.push(form::field_of(FIELDS, kind, &path), e.inner().to_string());
                return Err(errors);
            }
        };
    // Masked secrets sent back keep their stored values (same origin only).
    let kept = match old {
        Some(old) => keep_secrets(&mut config, old),
        None => Ok(()),
    };
    let built = config.build().map(|_| ());
    if let Err(list) = vigilmon_core::validation::merge_problems(built, kept) {
        for v in list {
            errors.push(form::field_of(FIELDS, kind, &v.field), v.message);
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

/// Runs one check of `config` now (nothing is stored).
async fn test_check(st: &AppState, config: &MonitorConfig) -> Result<TestView, String> {
    let spec = config
        .build()
        .map_err(|e| e.first().map(ToString::to_string).unwrap_or_default())?;
    if let CheckSpec::Heartbeat(_) = spec.check {
        return Err("heartbeat monitors are pinged, not checked: there is nothing to test".into());
    }
    let r = st.prober().check(&spec.check, spec.timeout).await;
    let mut view = test_view(&r, st.now());
    view.tls_off = config.kind.tls_unverified();
    Ok(view)
}

pub(crate) fn test_view(r: &vigilmon_core::CheckResult, now: jiff::Timestamp) -> TestView {
    let mut phases = Vec::new();
    for (name, v) in [
        ("DNS", r.phases.dns_ms),
        ("Connect", r.phases.connect_ms),
        ("TLS", r.phases.tls_ms),
        ("First byte", r.phases.ttfb_ms),
    ] {
        if let Some(v) = v {
            phases.push((name, format::ms(v)));
        }
    }
    let details = match &r.details {
        Some(Value::Object(m)) => m
            .iter()
            .filter(|(_, v)| !v.is_object())
            .map(|(k, v)| (k.replace('_', " "), format::json_text(v)))
            .collect(),
        _ => Vec::new(),
    };
    TestView {
        ok: r.verdict.is_ok(),
        verdict: verdict_name(&r.verdict),
        message: r.verdict.message().map(str::to_owned),
        status: r.status_code,
        phases,
        total: format::ms(r.duration_ms),
        remote: r.remote_addr.clone(),
        body: r.body_excerpt.clone(),
        details,
        cert: r
            .cert_expires_at
            .map(|at| format!("{} ({})", format::cert_words(at, now), format::utc(at))),
        tls_off: false,
    }
}

pub(crate) async fn new_submit(State(st): State<AppState>, p: Posted) -> Result<Response, UiError> {
    p.session.require_write()?;
    let kind = valid_kind(&p.get("type"));
    submit(&st, &p, kind, None).await
}

/// Handles a submitted monitor form, new (`existing` is `None`) or edited: "Test now"
/// runs one check and shows it; "Save" creates or replaces the monitor through the
/// application layer and goes to its page; problems come back next to their fields.
async fn submit(
    st: &AppState,
    p: &Posted,
    kind: &'static str,
    existing: Option<(&vigilmon_store::MonitorRecord, &str)>,
) -> Result<Response, UiError> {
    let values = form::submitted(FIELDS, kind, &p.fields);
    let testing = p.get("action") == "test";
    let parsed = parse(kind, &values, existing.map(|(rec, _)| &rec.config));
    let mut fs = FormState {
        kind,
        values,
        errors: FieldErrors::default(),
        test: None,
        test_note: None,
    };
    match parsed {
        Err(errors) => fs.errors = errors,
        Ok(config) if testing => match test_check(st, &config).await {
            Ok(t) => fs.test = Some(t),
            Err(note) => fs.test_note = Some(note),
        },
        Ok(config) => {
            let saved = match existing {
                None => create_monitor(st, config)
                    .await
                    .map(|rec| format!("/monitors/{}?ok=created", rec.id)),
                Some((rec, id)) => replace_monitor(st, rec, config)
                    .await
                    .map(|_| format!("/monitors/{id}?ok=saved")),
            };
            match saved {
                Ok(to) => return Ok(see_other(&to)),
                Err(e) => {
                    fs.errors = FieldErrors::from_api(e, |f| form::field_of(FIELDS, kind, f))?;
                }
            }
        }
    }
    let status = if fs.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let editing = existing.map(|(rec, id)| {
        (
            id,
            rec.config.name.as_str(),
            rec.source == vigilmon_store::MonitorSource::File,
        )
    });
    let mut resp = render(&page(st, &p.session, editing, fs).await?);
    *resp.status_mut() = status;
    Ok(resp)
}

async fn load(st: &AppState, id: &str) -> Result<vigilmon_store::MonitorRecord, UiError> {
    let mid = id
        .parse()
        .map_err(|_| UiError::NotFound(format!("there is no monitor {id:?}")))?;
    st.store()
        .get_monitor(mid)
        .await?
        .ok_or_else(|| UiError::NotFound("this monitor does not exist (any more)".into()))
}

pub(crate) async fn edit_form(
    State(st): State<AppState>,
    s: Session,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    s.require_write()?;
    let rec = load(&st, &id).await?;
    let managed = rec.source == vigilmon_store::MonitorSource::File;
    let name = rec.config.name.clone();
    let kind = valid_kind(rec.config.kind_name());
    // The view masks every secret (URL password, header values, body).
    let shown = view(&st, rec).await?.config;
    let doc = serde_json::to_value(&shown).map_err(|e| UiError::Internal(e.to_string()))?;
    let fs = FormState {
        kind,
        values: form::from_json(FIELDS, kind, &doc),
        errors: FieldErrors::default(),
        test: None,
        test_note: None,
    };
    Ok(render(
        &page(&st, &s, Some((&id, &name, managed)), fs).await?,
    ))
}

pub(crate) async fn edit_submit(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let rec = load(&st, &id).await?;
    let kind = valid_kind(rec.config.kind_name());
    submit(&st, &p, kind, Some((&rec, &id))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        Values(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn build_errors_land_next_to_their_fields() {
        let v = form::submitted(
            FIELDS,
            "http",
            &values(&[
                ("name", "api"),
                ("url", "ftp://x"),
                ("interval", "5s"),
                ("headers", "Host: x"),
            ])
            .0,
        );
        let errors = parse("http", &v, None).unwrap_err();
        assert!(errors.get("url").unwrap().contains("scheme"), "{errors:?}");
        assert!(
            errors.get("interval").unwrap().contains("at least 10s"),
            "{errors:?}"
        );
        assert!(errors.has("headers"), "{errors:?}");
    }

    #[test]
    fn defaults_stay_out_of_the_config() {
        let v = form::submitted(
            FIELDS,
            "http",
            &values(&[
                ("name", "api"),
                ("url", "https://example.com/health"),
                ("follow_redirects", "on"),
                ("verify_tls", "on"),
            ])
            .0,
        );
        let c = parse("http", &v, None).unwrap();
        assert_eq!(c.kind_name(), "http");
        let http = c.kind.as_http().unwrap();
        assert_eq!(
            (http.follow_redirects, http.verify_tls, c.interval),
            (None, None, None)
        );
        let hb = form::submitted(
            FIELDS,
            "heartbeat",
            &values(&[
                ("name", "nightly backup"),
                ("every", "5m"),
                ("grace", "10m"),
            ])
            .0,
        );
        let c = parse("heartbeat", &hb, None).unwrap();
        let every = c.kind.as_heartbeat().unwrap().every;
        assert_eq!(every.map(|d| d.to_string()).as_deref(), Some("5m"));
        assert!(
            c.interval.is_none(),
            "probe fields are not sent for heartbeats"
        );
    }

    #[test]
    fn masked_secrets_keep_their_stored_values() {
        let old = MonitorConfig {
            name: "cache".into(),
            kind: vigilmon_core::KindConfig::Redis(vigilmon_core::monitor::RedisConfig {
                url: Some("redis://app:s3cret@cache:6379/0".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = form::submitted(
            FIELDS,
            "redis",
            &values(&[
                ("name", "cache"),
                ("url", "redis://app:********@cache:6379/1"),
            ])
            .0,
        );
        let c = parse("redis", &v, Some(&old)).unwrap();
        assert_eq!(c.kind.url(), Some("redis://app:s3cret@cache:6379/1"));
        // Another port is another server: the stored password is not sent there.
        let v = form::submitted(
            FIELDS,
            "redis",
            &values(&[
                ("name", "cache"),
                ("url", "redis://app:********@cache:6380/0"),
            ])
            .0,
        );
        let errors = parse("redis", &v, Some(&old)).unwrap_err();
        assert!(errors.has("url"), "{errors:?}");
    }

    #[test]
    fn a_postgres_form_reads_its_fields_and_keeps_a_masked_password() {
        let old = MonitorConfig {
            name: "db".into(),
            kind: vigilmon_core::KindConfig::Postgres(vigilmon_core::monitor::PostgresConfig {
                url: Some("postgres://mon:pg-s3cret@db:5432/app".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = form::submitted(
            FIELDS,
            "postgres",
            &values(&[
                ("name", "db"),
                ("url", "postgres://mon:********@db:5432/app?sslmode=require"),
                ("query", "SELECT count(*) FROM pg_stat_activity"),
                ("expect.value", "3"),
            ])
            .0,
        );
        let c = parse("postgres", &v, Some(&old)).unwrap();
        let p = c.kind.as_postgres().unwrap();
        assert_eq!(
            p.url.as_deref(),
            Some("postgres://mon:pg-s3cret@db:5432/app?sslmode=require")
        );
        assert_eq!(
            p.query.as_deref(),
            Some("SELECT count(*) FROM pg_stat_activity")
        );
        assert_eq!(p.expect.as_ref().unwrap().value, Some(Value::from("3")));
        let v = form::submitted(
            FIELDS,
            "postgres",
            &values(&[("name", "db"), ("url", "mysql://db/app")]).0,
        );
        let errors = parse("postgres", &v, None).unwrap_err();
        assert!(errors.has("url"), "{errors:?}");
    }

    /// Fields a type takes that the form leaves to the config file and the API, and
    /// why. Anything else a type takes must have a form field, and the form offers a
    /// type nothing it refuses: a new field or type in core fails here until the form
    /// says what to do with it.
    const NOT_IN_FORM: &[(&str, &str)] = &[(
        "paused",
        "set with the Pause and Resume buttons of the monitor page",
    )];

    #[test]
    fn the_form_offers_each_type_exactly_the_fields_it_takes() {
        use std::collections::BTreeSet;
        for k in KINDS {
            let kind = k.kind.as_str();
            let offered: BTreeSet<&str> = FIELDS
                .iter()
                .filter(|d| d.applies(kind))
                .map(|d| d.key.split('.').next().unwrap_or(d.key))
                .collect();
            let takes: BTreeSet<&str> = k.all_fields().into_iter().collect();
            for f in &offered {
                assert!(
                    takes.contains(f),
                    "the form offers {f} to {kind} monitors, which refuse it"
                );
            }
            let missing: Vec<&&str> = takes
                .iter()
                .filter(|f| !offered.contains(*f) && !NOT_IN_FORM.iter().any(|(n, _)| n == *f))
                .collect();
            assert!(
                missing.is_empty(),
                "{kind} monitors take {missing:?}, which the form does not offer"
            );
        }
    }
}
