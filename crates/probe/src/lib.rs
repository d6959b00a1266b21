//! Vigilmon's probe engine: runs one HTTP, TCP, Redis, PostgreSQL, MySQL, TLS
//! certificate, SMTP, DNS, gRPC health, MQTT, AMQP, WebSocket or ICMP (ping) check against the network and
//! reports what it found as a [`CheckResult`].
//!
//! A [`Prober`] is built once from [`ProbeOptions`] (region, User-Agent, body cap,
//! network guard, extra trusted roots) and shared; each [`Prober::check`] opens a fresh
//! connection, times every phase (DNS, connect, TLS, first byte), judges the answer
//! with `vigilmon_core::assert`, and never fails or panics: every problem becomes a
//! [`Verdict::Down`] with an [`ErrorKind`] and a message in words.
//!
//! Module map: [`guard`] (which addresses may be connected to; it lives in
//! `vigilmon_core` and is shared with notifications), `net` (resolve,
//! guard, connect), `http` (requests, redirects, bodies), `tcp` (connect, send,
//! banner), `redis` (a small RESP2 client and the Redis health check), `postgres` (a
//! small client of PostgreSQL's protocol: login, one query), `mysql` (the same for
//! MySQL and MariaDB), `database` (what those two share), `certificate` (`tls`
//! monitors: a server's certificate judged on its own), `smtp` (a mail server's
//! greeting, EHLO and STARTTLS), `dns` (one question to one resolver, with
//! hickory-proto's messages), `grpc` (the standard health check over HTTP/2,
//! with its two tiny protobuf messages written by hand), `mqtt` (connect, `CONNACK`,
//! a round trip through the broker, with rumqttc's packets), `amqp` (login, virtual
//! host and a channel, with amq-protocol's frames), `broker` (what the
//! broker checks share), `websocket` (the upgrade, one message and its reply, with
//! tokio-tungstenite over the probe's own connection), `icmp` (echo requests on an
//! unprivileged or raw ICMP socket), `tls` (client
//! configurations, certificate expiry) and `classify` (the single mapping from
//! failures to error kinds).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ::http::HeaderValue;
use jiff::Timestamp;
use tokio::time::Instant;
use vigilmon_core::monitor::CheckSpec;
use vigilmon_core::{CheckResult, ErrorKind, Phases, RegionName, Verdict};

mod amqp;
mod broker;
mod certificate;
mod classify;
mod database;
mod dns;
mod grpc;
mod http;
mod icmp;
mod mqtt;
mod mysql;
mod net;
mod postgres;
mod redis;
mod smtp;
mod tcp;
mod tls;
mod websocket;

#[doc(hidden)]
pub use grpc::judge_answer as judge_grpc_answer;
#[doc(hidden)]
pub use redis::judge_replies;
pub use vigilmon_core::guard::{self, InvalidIpNet, IpNet, NetworkGuard};

/// Default cap on the response body bytes read for assertions: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// How a [`Prober`] behaves; built with [`ProbeOptions::new`] and adjusted field by
/// field.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// The region this probe reports as, sent as `X-Vigilmon-Region` on HTTP requests.
    pub region: RegionName,
    /// e.g. "vigilmon/0.1.0"; sent as User-Agent on every HTTP request (a monitor's own
    /// `User-Agent` header, when it sets one, takes precedence).
    pub user_agent: String,
    /// Max body bytes read for assertions (default 1 MiB); more is not read, and the
    /// facts say `body_truncated`.
    pub max_body_bytes: usize,
    /// Which addresses the probe may connect to.
    pub guard: NetworkGuard,
    /// Extra trusted root certificates (DER), in addition to the system trust store
    /// (rustls-native-certs); the bundled webpki roots stand in when the system store
    /// is empty.
    pub extra_roots: Vec<Vec<u8>>,
}

impl ProbeOptions {
    /// Defaults: User-Agent `vigilmon/<version>`, a 1 MiB body cap, the default
    /// [`NetworkGuard`] and no extra roots.
    pub fn new(region: RegionName) -> Self {
        Self {
            region,
            user_agent: format!("vigilmon/{}", env!("CARGO_PKG_VERSION")),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            guard: NetworkGuard::default(),
            extra_roots: Vec::new(),
        }
    }
}

/// Why a [`Prober`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeSetupError {
    /// One of [`ProbeOptions::extra_roots`] is not a usable certificate.
    #[error("extra root certificate #{index} cannot be used: {reason}")]
    InvalidExtraRoot { index: usize, reason: String },
    /// The User-Agent cannot be sent as an HTTP header value.
    #[error("user agent {0:?} cannot be sent as an HTTP header (control characters?)")]
    InvalidUserAgent(String),
    /// The TLS configuration could not be built.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// Runs checks. Cheap to clone (an `Arc` inside); share one per process or region.
#[derive(Clone)]
pub struct Prober {
    inner: Arc<Inner>,
}

/// What every check needs, prepared once.
pub(crate) struct Inner {
    pub opts: ProbeOptions,
    pub tls: tls::TlsConfigs,
    pub user_agent: HeaderValue,
    pub region_header: HeaderValue,
    /// TLS configuration for `rediss://` (verifying, no ALPN).
    pub redis_tls: Arc<rustls::ClientConfig>,
    /// TLS configurations for PostgreSQL and MySQL (no ALPN): verifying, then
    /// accepting any certificate.
    pub database_tls: [Arc<rustls::ClientConfig>; 2],
    /// TLS configurations for `grpcs://` (ALPN `h2`): verifying, then accepting any
    /// certificate.
    pub grpc_tls: [Arc<rustls::ClientConfig>; 2],
    /// The last Redis `INFO` sample per target, for judging counter growth.
    pub redis_baselines: redis::Baselines,
}

impl fmt::Debug for Prober {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prober")
            .field("region", &self.inner.opts.region)
            .field("user_agent", &self.inner.opts.user_agent)
            .field("max_body_bytes", &self.inner.opts.max_body_bytes)
            .field("guard", &self.inner.opts.guard)
            .finish_non_exhaustive()
    }
}

impl Prober {
    /// Builds a prober: installs ring as the process-wide rustls provider if none is
    /// installed yet, and builds the TLS configurations (loading the system trust
    /// store) once.
    pub fn new(opts: ProbeOptions) -> Result<Prober, ProbeSetupError> {
        tls::install_default_provider();
        let tls = tls::TlsConfigs::build(&opts.extra_roots)?;
        let user_agent = HeaderValue::from_str(&opts.user_agent)
            .map_err(|_| ProbeSetupError::InvalidUserAgent(opts.user_agent.clone()))?;
        // Region names are restricted to a-z, 0-9 and '-': always a valid header value.
        let region_header = HeaderValue::from_str(opts.region.as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-region-name"));
        let redis_tls = redis::tls_config(&tls.verified);
        let database_tls = database::tls_configs(&tls);
        let grpc_tls = grpc::tls_configs(&tls);
        Ok(Prober {
            inner: Arc::new(Inner {
                opts,
                tls,
                user_agent,
                region_header,
                redis_tls,
                database_tls,
                grpc_tls,
                redis_baselines: Default::default(),
            }),
        })
    }

    /// The region this prober reports as.
    pub fn region(&self) -> &RegionName {
        &self.inner.opts.region
    }

    /// Runs one check with a fresh connection. Never panics, never returns an error:
    /// every failure is a [`Verdict::Down`] inside the [`CheckResult`]. The whole check
    /// (every redirect hop included) is bounded by `timeout`.
    pub async fn check(&self, spec: &CheckSpec, timeout: Duration) -> CheckResult {
        let checked_at = Timestamp::now();
        let start = Instant::now();
        // A deadline beyond what the clock can represent is as good as none.
        let deadline = start
            .checked_add(timeout)
            .unwrap_or_else(|| start + Duration::from_secs(100 * 365 * 86_400));
        let out = match spec {
            CheckSpec::Http(h) => http::run(&self.inner, h, start, deadline, timeout).await,
            CheckSpec::Tcp(t) => tcp::run(&self.inner, t, start, deadline, timeout).await,
            CheckSpec::Redis(r) => redis::run(&self.inner, r, start, deadline, timeout).await,
            CheckSpec::Postgres(p) => postgres::run(&self.inner, p, start, deadline, timeout).await,
            CheckSpec::Mysql(m) => mysql::run(&self.inner, m, start, deadline, timeout).await,
            CheckSpec::Tls(t) => certificate::run(&self.inner, t, start, deadline, timeout).await,
            CheckSpec::Smtp(m) => smtp::run(&self.inner, m, start, deadline, timeout).await,
            CheckSpec::Dns(d) => dns::run(&self.inner, d, start, deadline, timeout).await,
            CheckSpec::Grpc(g) => grpc::run(&self.inner, g, start, deadline, timeout).await,
            CheckSpec::Mqtt(m) => mqtt::run(&self.inner, m, start, deadline, timeout).await,
            CheckSpec::Icmp(i) => icmp::run(&self.inner, i, start, deadline, timeout).await,
            CheckSpec::Websocket(w) => {
                websocket::run(&self.inner, w, start, deadline, timeout).await
            }
            CheckSpec::Amqp(a) => amqp::run(&self.inner, a, start, deadline, timeout).await,
            CheckSpec::Heartbeat(_) => Outcome {
                verdict: Verdict::down(
                    ErrorKind::Protocol,
                    "heartbeat monitors are pinged, not probed",
                ),
                ..Outcome::new()
            },
        };
        if let Verdict::Down { kind, message } = &out.verdict {
            tracing::debug!(region = %self.inner.opts.region, kind = kind.as_str(), %message, "check failed");
        }
        CheckResult {
            region: self.inner.opts.region.clone(),
            checked_at,
            duration_ms: millis(start.elapsed()),
            phases: out.phases,
            status_code: out.status_code,
            verdict: out.verdict,
            body_excerpt: out.body_excerpt,
            cert_expires_at: out.cert_expires_at,
            remote_addr: out.remote_addr.map(|a| a.to_string()),
            details: out.details,
        }
    }
}

/// What a check found, before the prober adds region and times.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub phases: Phases,
    pub status_code: Option<u16>,
    pub verdict: Verdict,
    pub body_excerpt: Option<String>,
    pub cert_expires_at: Option<Timestamp>,
    pub remote_addr: Option<SocketAddr>,
    /// Figures the check judged (Redis, PostgreSQL, MySQL, TLS certificates, SMTP).
    pub details: Option<serde_json::Value>,
}

impl Outcome {
    /// Nothing observed yet; `Up` until something says otherwise.
    pub(crate) fn new() -> Self {
        Self {
            phases: Phases::default(),
            status_code: None,
            verdict: Verdict::Up,
            body_excerpt: None,
            cert_expires_at: None,
            remote_addr: None,
            details: None,
        }
    }

    /// Marks the outcome down for `failure`, classified.
    pub(crate) fn fail(mut self, failure: &classify::Failure) -> Self {
        let (kind, message) = classify::classify(failure);
        self.verdict = Verdict::down(kind, message);
        self
    }

    pub(crate) fn down(mut self, kind: ErrorKind, message: impl Into<String>) -> Self {
        self.verdict = Verdict::down(kind, message);
        self
    }
}

/// Whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Reads every certificate of a PEM file, as DER: extra trust roots for probes (and,
/// for an agent, for its server). An unreadable file, one that is not PEM, or one
/// without a certificate is an error in words.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}
