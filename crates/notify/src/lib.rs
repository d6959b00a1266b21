//! Vigilmon's alert notifications: what an alert says on each channel and how it gets
//! there.
//!
//! * [`ChannelConfig`] is a channel as users write it (one settings struct per channel,
//!   in the channel's module), validated into a [`ChannelSpec`]; [`CHANNELS`] lists them.
//! * [`Notification`] is everything a channel may show about one event of one incident.
//! * The renderers ([`slack::render`], [`pagerduty::render`], [`email::render`],
//!   [`webhook::render`]) are pure functions from a notification to the channel's
//!   payload; they are where escaping, truncation and the channel's limits live.
//! * [`Notifier::deliver`] makes **one** delivery attempt and classifies the outcome as a
//!   [`Delivery`]: delivered, retry later, or give up. Retrying, backoff and the outbox
//!   belong to the caller.
//!
//! HTTP outcomes are classified in exactly one place, [`classify_http`]; SMTP outcomes
//! in `Notifier`'s email sender. See `docs/notifications.md` for the user-facing
//! description of every channel.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use vigilmon_core::alert::Priority;
use vigilmon_core::guard::NetworkGuard;

pub mod channel;
pub mod discord;
pub mod email;
pub mod google_chat;
pub mod gotify;
pub mod matrix;
pub mod mattermost;
pub mod ntfy;
pub mod opsgenie;
pub mod outbound;
pub mod pagerduty;
pub mod pushover;
pub mod slack;
pub mod spec;
pub mod stored;
pub mod teams;
pub mod telegram;
mod text;
pub mod webhook;

pub use channel::{ChannelConfig, ChannelKind};
pub use spec::{
    CHANNELS, ChannelInfo, ChannelSpec, PAGERDUTY_EVENTS_URL, channel_info, secret_fields,
    secrets_of,
};

/// The user agent of every HTTP request: `vigilmon/<version>`.
pub const USER_AGENT: &str = concat!("vigilmon/", env!("CARGO_PKG_VERSION"));

/// How many characters of an SMTP server's reply make it into [`Delivery`] messages.
const SHORT_REPLY_CHARS: usize = 300;

/// One event about one monitor (and usually one incident), as every channel sees it.
///
/// It is also what the outbox stores, as versioned JSON ([`Notification::to_stored`],
/// [`Notification::from_stored`]): the engine queues the notification itself and
/// delivery reads it back, so nothing is translated on the way.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    /// What happened.
    pub event: Event,
    /// Stable per incident (e.g. `vigilmon-<incident uuid>`): PagerDuty's dedup_key, so
    /// resolve/ack close the right alert. Also threads an incident's emails and lets
    /// webhook receivers group events.
    pub dedup_key: String,
    /// The incident, when there is one (degraded warnings and tests may have none).
    pub incident_id: Option<uuid::Uuid>,
    /// The monitor, when there is one (tests have none).
    pub monitor_id: Option<uuid::Uuid>,
    /// The monitor's display name (user text: escaped by every renderer).
    pub monitor_name: String,
    /// `http`, `tcp`, `redis`, `heartbeat`, ...
    pub monitor_kind: String,
    /// The monitor's state now: `down`, `degraded`, `up`, ...
    pub state: String,
    /// How urgent; PagerDuty's severity derives from it.
    pub priority: Priority,
    /// The cause in words, e.g. "status 503 is not one of the expected (200)".
    pub cause: String,
    /// What each region saw; may be empty.
    #[serde(default)]
    pub regions: Vec<RegionEvidence>,
    /// When the incident opened.
    pub opened_at: Option<jiff::Timestamp>,
    /// When this event happened.
    pub at: jiff::Timestamp,
    /// The outage's length, for [`Event::Resolved`] (and [`Event::DegradedCleared`]).
    #[serde(rename = "duration_ms", default, with = "stored::millis")]
    pub duration: Option<Duration>,
    /// Who acknowledged, for [`Event::Acknowledged`].
    pub acknowledged_by: Option<String>,
    /// Links back into Vigilmon.
    #[serde(flatten)]
    pub links: Links,
}

/// What one region saw at its last check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegionEvidence {
    /// The region's name, e.g. `eu-west`.
    pub region: String,
    /// Whether the region's check passed.
    pub ok: bool,
    /// The region's error, when it failed.
    pub error: Option<String>,
    /// When the region checked.
    pub checked_at: Option<jiff::Timestamp>,
}

/// Links back into Vigilmon's UI. Only absolute `http://` / `https://` URLs are shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Links {
    /// The monitor's page.
    #[serde(default)]
    pub monitor_url: Option<String>,
    /// The incident's page.
    #[serde(default)]
    pub incident_url: Option<String>,
    /// A signed link that acknowledges the incident. Shown only while the incident is
    /// open and unacknowledged (trigger, reminder, escalation).
    #[serde(default)]
    pub ack_url: Option<String>,
}

/// What happened: the kind of a notification.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// An incident opened: the monitor is down.
    Trigger,
    /// Still down and not acknowledged (the policy's `remind_every`).
    Reminder,
    /// Unacknowledged for long enough that the policy adds channels.
    Escalation,
    /// Someone acknowledged the incident.
    Acknowledged,
    /// The monitor is up again; the incident is closed.
    Resolved,
    /// The monitor is degraded (a warning; no incident unless the policy says so).
    Degraded,
    /// The monitor is no longer degraded.
    DegradedCleared,
    /// Some regions fail but not enough to call the monitor down.
    RegionalNotice,
    /// A "send test" from the UI or API.
    Test,
}

impl Event {
    /// Every event, in declaration order.
    pub const ALL: [Event; 9] = [
        Event::Trigger,
        Event::Reminder,
        Event::Escalation,
        Event::Acknowledged,
        Event::Resolved,
        Event::Degraded,
        Event::DegradedCleared,
        Event::RegionalNotice,
        Event::Test,
    ];

    /// The snake_case name used in webhooks, headers and storage: `trigger`,
    /// `degraded_cleared`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Trigger => "trigger",
            Event::Reminder => "reminder",
            Event::Escalation => "escalation",
            Event::Acknowledged => "acknowledged",
            Event::Resolved => "resolved",
            Event::Degraded => "degraded",
            Event::DegradedCleared => "degraded_cleared",
            Event::RegionalNotice => "regional_notice",
            Event::Test => "test",
        }
    }

    /// The inverse of [`Event::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl From<vigilmon_core::incident::NotifyEvent> for Event {
    fn from(e: vigilmon_core::incident::NotifyEvent) -> Self {
        use vigilmon_core::incident::NotifyEvent as N;
        match e {
            N::Trigger => Event::Trigger,
            N::Reminder => Event::Reminder,
            N::Escalation => Event::Escalation,
            N::Acknowledged => Event::Acknowledged,
            N::Resolved => Event::Resolved,
            N::Degraded => Event::Degraded,
            N::DegradedCleared => Event::DegradedCleared,
            N::Regional => Event::RegionalNotice,
        }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Notification {
    /// The one-line summary every channel leads with, e.g.
    /// `[P1] DOWN: api — status 503 is not one of the expected (200)` or
    /// `[P1] RESOLVED: api — back up after 12m 5s`. Not escaped, not truncated.
    pub fn summary(&self) -> String {
        let title = self.title();
        match text::detail(self) {
            d if d.is_empty() => title,
            d => format!("{title} — {d}"),
        }
    }

    /// The summary's part before the dash: `[P1] DOWN: api`.
    fn title(&self) -> String {
        let name = match text::one_line(&self.monitor_name) {
            n if n.is_empty() => "(unnamed monitor)".to_owned(),
            n => n,
        };
        format!("[{}] {}: {name}", self.priority.as_str(), text::label(self))
    }

    /// A sample notification for a channel's "send test" action: [`Event::Test`], P4, a
    /// fresh `vigilmon-test-<uuid>` dedup key (so it never touches a real incident).
    pub fn test(at: jiff::Timestamp) -> Notification {
        Notification {
            event: Event::Test,
            dedup_key: format!("vigilmon-test-{}", uuid::Uuid::new_v4()),
            incident_id: None,
            monitor_id: None,
            monitor_name: "Vigilmon test".to_owned(),
            monitor_kind: "test".to_owned(),
            state: "test".to_owned(),
            priority: Priority::P4,
            cause: "This is a test notification from Vigilmon; no action is needed.".to_owned(),
            regions: Vec::new(),
            opened_at: None,
            at,
            duration: None,
            acknowledged_by: None,
            links: Links::default(),
        }
    }
}

/// How an email server is reached (the `smtp:` section of the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required: never falls back to
    /// plaintext. Usually port 587.
    Starttls,
    /// TLS from the first byte ("implicit TLS", SMTPS). Usually port 465.
    Tls,
    /// No encryption at all: only for a relay on the same host or a trusted network.
    None,
}

/// The SMTP server every email channel sends through.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Host name or IP address; also the name the server's certificate must carry.
    pub host: String,
    /// Port: usually 587 (STARTTLS), 465 (TLS) or 25.
    pub port: u16,
    /// Encryption.
    pub tls: SmtpTls,
    /// Login, when the server wants one (PLAIN or LOGIN; needs TLS on most servers).
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// The sender: `alerts@example.com` or `Vigilmon <alerts@example.com>`.
    pub from: String,
    /// The longest one email may take, connection included.
    pub timeout: Duration,
    /// Accept any certificate (self-signed, expired, wrong name). For tests and labs
    /// only: it makes TLS useless against an active attacker.
    pub accept_invalid_certs: bool,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The channel accepted the notification. `detail`: what it answered, in short
    /// (PagerDuty's message, the SMTP server's queue id, ...), or why nothing was sent
    /// (`skipped: ...`).
    Delivered { detail: Option<String> },
    /// A transient failure: try again, no sooner than `after` when the channel said so.
    Retry {
        after: Option<Duration>,
        error: String,
    },
    /// A failure that retrying will not fix (bad URL, rejected payload, unknown
    /// recipient, no SMTP settings): give up and show the error.
    Permanent { error: String },
}

impl Delivery {
    /// Whether the notification was accepted.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Delivery::Delivered { .. })
    }

    /// The error, for `Retry` and `Permanent`.
    pub fn error(&self) -> Option<&str> {
        match self {
            Delivery::Delivered { .. } => None,
            Delivery::Retry { error, .. } | Delivery::Permanent { error } => Some(error),
        }
    }
}

/// Why a [`Notifier`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// The `smtp:` settings are unusable.
    #[error("smtp: {0}")]
    Smtp(String),
}

/// Sends notifications. Cheap to clone (shared connection pools); use one per process,
/// inside one Tokio runtime.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    timeout: Duration,
    smtp: Option<Smtp>,
    guard: NetworkGuard,
}

struct Smtp {
    from: lettre::message::Mailbox,
    /// The server's name as configured: resolved before each email, and the name its
    /// certificate must carry.
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    timeout: Duration,
    /// The transport (with its connection pool) for the address last connected to,
    /// built on first use: lettre's pool spawns its cleanup task on the current
    /// runtime. Replaced when the name resolves elsewhere.
    transport: Mutex<Option<(IpAddr, AsyncSmtpTransport<Tokio1Executor>)>>,
}

impl Notifier {
    /// A notifier whose HTTP requests (Slack, PagerDuty, webhooks) each take at most
    /// `timeout`, and whose email goes through `smtp` (email channels fail permanently
    /// without it), under the default [`NetworkGuard`]. Installs ring as the process's
    /// rustls provider if none is.
    pub fn new(smtp: Option<SmtpSettings>, timeout: Duration) -> Result<Notifier, NotifyError> {
        Self::with_guard(smtp, timeout, NetworkGuard::default())
    }

    /// [`Notifier::new`], connecting only where `guard` permits (see [`outbound`]).
    pub fn with_guard(
        smtp: Option<SmtpSettings>,
        timeout: Duration,
        guard: NetworkGuard,
    ) -> Result<Notifier, NotifyError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirected POST may turn into a GET without a body: treat redirects as
            // configuration errors instead (see classify_http).
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(outbound::GuardedResolver {
                guard: guard.clone(),
            }))
            // A proxy would make the connection, where the guard cannot judge it.
            .no_proxy()
            .build()
            .map_err(|e| NotifyError::Http(error_chain(&e)))?;
        let smtp = smtp.map(Smtp::new).transpose()?;
        Ok(Notifier {
            inner: Arc::new(Inner {
                http,
                timeout,
                smtp,
                guard,
            }),
        })
    }

    /// One attempt to deliver `n` to `channel`; never panics. See [`classify_http`] for
    /// HTTP channels; email: 2xx → `Delivered`, SMTP 5xx replies → `Permanent`, 4xx
    /// replies, connection, TLS and timeout failures → `Retry`, no SMTP settings →
    /// `Permanent("email needs smtp: settings")`.
    pub async fn deliver(&self, channel: &ChannelSpec, n: &Notification) -> Delivery {
        let outcome = match channel {
            ChannelSpec::Slack { webhook_url } => {
                let body = slack::render(n).to_string().into_bytes();
                self.post(webhook_url, body, HeaderMap::new()).await
            }
            ChannelSpec::PagerDuty {
                routing_key,
                events_url,
            } => {
                if pagerduty::sends(n.event) {
                    let body = pagerduty::render(routing_key, n).to_string().into_bytes();
                    self.post(events_url, body, HeaderMap::new()).await
                } else {
                    Delivery::Delivered {
                        detail: Some(format!(
                            "skipped: PagerDuty does not receive {} events",
                            n.event
                        )),
                    }
                }
            }
            ChannelSpec::Email { to } => self.email(to, n).await,
            ChannelSpec::Webhook {
                url,
                secret,
                headers,
            } => {
                let body = webhook::render(n).to_string().into_bytes();
                match webhook::headers(
                    headers,
                    secret.as_deref(),
                    jiff::Timestamp::now().as_second(),
                    n.event,
                    &body,
                ) {
                    Ok(h) => self.post(url, body, h).await,
                    Err(error) => Delivery::Permanent { error },
                }
            }
            ChannelSpec::Discord { webhook_url } => {
                self.send_all(discord::outgoing(webhook_url, n)).await
            }
            ChannelSpec::Teams { webhook_url } => {
                self.send_all(teams::outgoing(webhook_url, n)).await
            }
            ChannelSpec::Telegram {
                bot_token,
                chat_id,
                api_url,
            } => {
                self.send_all(telegram::outgoing(api_url, bot_token, chat_id, n))
                    .await
            }
            ChannelSpec::Opsgenie { api_key, api_url } => {
                self.send_all(opsgenie::outgoing(api_url, api_key, n)).await
            }
            ChannelSpec::Ntfy { url, token } => {
                self.send_all(ntfy::outgoing(url, token.as_deref(), n))
                    .await
            }
            ChannelSpec::Pushover {
                token,
                user,
                api_url,
            } => {
                self.send_all(pushover::outgoing(api_url, token, user, n))
                    .await
            }
            ChannelSpec::Gotify { url, token } => {
                self.send_all(gotify::outgoing(url, token, n)).await
            }
            ChannelSpec::Matrix {
                homeserver,
                access_token,
                room_id,
            } => {
                self.send_all(matrix::outgoing(homeserver, access_token, room_id, n))
                    .await
            }
            ChannelSpec::Mattermost { webhook_url } => {
                self.send_all(mattermost::outgoing(webhook_url, n)).await
            }
            ChannelSpec::GoogleChat { webhook_url } => {
                self.send_all(google_chat::outgoing(webhook_url, n)).await
            }
        };
        tracing::debug!(
            channel = channel.kind(),
            event = n.event.as_str(),
            dedup_key = %n.dedup_key,
            outcome = ?outcome,
            "notification attempt"
        );
        outcome
    }

    /// POSTs a JSON body and classifies the answer.
    async fn post(&self, url: &str, body: Vec<u8>, headers: HeaderMap) -> Delivery {
        self.send(Outgoing::json(url.to_owned(), body).with_headers(headers))
            .await
    }

    /// Sends the requests of one delivery in order, stopping at the first that is not
    /// delivered; `Err` is the outcome decided without sending (a skip, or settings
    /// that cannot make a request). Every request of a plan may be repeated by a
    /// retry, so each is one the provider takes twice without harm.
    async fn send_all(&self, plan: Result<Vec<Outgoing>, Delivery>) -> Delivery {
        let requests = match plan {
            Ok(r) => r,
            Err(decided) => return decided,
        };
        let mut last = Delivery::Delivered { detail: None };
        for r in requests {
            last = self.send(r).await;
            if !last.is_delivered() {
                break;
            }
        }
        last
    }

    /// Makes one request under the guard and classifies the answer.
    async fn send(&self, o: Outgoing) -> Delivery {
        if let Err(refused) = outbound::check_url(&self.inner.guard, &o.url) {
            return refused_delivery(&refused);
        }
        let mut headers = o.headers;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(o.content_type));
        let sent = self
            .inner
            .http
            .request(o.method, &o.url)
            .headers(headers)
            .body(o.body)
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return self.send_error(e),
        };
        let outcome = classify_http(resp.status(), resp.headers());
        match outcome {
            Delivery::Retry { after: None, error }
                if resp.status() == StatusCode::TOO_MANY_REQUESTS && o.wait != Wait::Header =>
            {
                // Only the provider's documented number is read, never shown.
                let mut body = Vec::new();
                while body.len() < MAX_WAIT_BODY {
                    match resp.chunk().await {
                        Ok(Some(c)) => body.extend_from_slice(&c),
                        _ => break,
                    }
                }
                Delivery::Retry {
                    after: wait_in_body(o.wait, &body),
                    error,
                }
            }
            other => other,
        }
    }

    /// Classifies a request that got no response. Never shows the URL (Slack's holds a
    /// secret).
    fn send_error(&self, e: reqwest::Error) -> Delivery {
        // Where it went, host and port only: the path may hold a secret.
        let target = e.url().map_or_else(
            || "the receiver".to_owned(),
            |u| {
                format!(
                    "{}:{}",
                    u.host_str().unwrap_or("?"),
                    u.port_or_known_default().unwrap_or(0)
                )
            },
        );
        let e = e.without_url();
        if let Some(refused) = find_source::<outbound::Refused>(&e) {
            return refused_delivery(refused);
        }
        if e.is_builder() {
            return Delivery::Permanent {
                error: format!("invalid request: {}", error_chain(&e)),
            };
        }
        if e.is_timeout() {
            return Delivery::Retry {
                after: None,
                error: format!("no response within {}", text::duration(self.inner.timeout)),
            };
        }
        let error = if e.is_connect() {
            connect_error(&target, &error_chain(&e))
        } else {
            format!("request to {target} failed{DETAIL}{}", error_chain(&e))
        };
        Delivery::Retry { after: None, error }
    }

    async fn email(&self, to: &[String], n: &Notification) -> Delivery {
        let Some(smtp) = &self.inner.smtp else {
            return Delivery::Permanent {
                error: "email needs smtp: settings".to_owned(),
            };
        };
        let message = match email::message(&smtp.from, to, n) {
            Ok(m) => m,
            Err(error) => return Delivery::Permanent { error },
        };
        let send = async {
            let addrs = outbound::resolve_smtp(&self.inner.guard, &smtp.host, smtp.port).await?;
            let mut sent = None;
            // Each permitted address in turn, while the failure is reaching it.
            for ip in addrs {
                let outcome = smtp.transport_for(ip).send(message.clone()).await;
                let unreachable = outcome.as_ref().is_err_and(|e| {
                    !(e.is_response() || e.is_tls() || e.is_timeout() || e.is_client())
                });
                sent = Some(outcome);
                if !unreachable {
                    break;
                }
            }
            sent.ok_or_else(|| {
                outbound::SmtpAddrError::Unresolved(format!(
                    "the SMTP server {} has no address",
                    smtp.host
                ))
            })
        };
        match tokio::time::timeout(smtp.timeout, send).await {
            Ok(Err(outbound::SmtpAddrError::Refused(r))) => refused_delivery(&r),
            Ok(Err(outbound::SmtpAddrError::Unresolved(error))) => {
                Delivery::Retry { after: None, error }
            }
            Err(_) => Delivery::Retry {
                after: None,
                error: format!(
                    "the SMTP server did not finish within {}",
                    text::duration(smtp.timeout)
                ),
            },
            Ok(Ok(Ok(resp))) => {
                let words = resp.message().collect::<Vec<_>>().join(" ");
                Delivery::Delivered {
                    detail: Some(text::truncate(
                        &text::one_line(&format!("{} {words}", resp.code())),
                        SHORT_REPLY_CHARS,
                    )),
                }
            }
            Ok(Ok(Err(e))) => classify_smtp(&e),
        }
    }
}

impl Smtp {
    fn new(s: SmtpSettings) -> Result<Smtp, NotifyError> {
        use lettre::transport::smtp::client::TlsParameters;

        let host = s.host.trim();
        if host.is_empty() {
            return Err(NotifyError::Smtp("host is required".to_owned()));
        }
        let from: lettre::message::Mailbox =
            s.from.trim().parse().map_err(|e| {
                NotifyError::Smtp(format!("from {:?} is not an address: {e}", s.from))
            })?;
        let params = || {
            TlsParameters::builder(host.to_owned())
                .dangerous_accept_invalid_certs(s.accept_invalid_certs)
                .build_rustls()
                .map_err(|e| NotifyError::Smtp(format!("TLS: {}", error_chain(&e))))
        };
        let tls = match s.tls {
            SmtpTls::Starttls => Tls::Required(params()?),
            SmtpTls::Tls => Tls::Wrapper(params()?),
            SmtpTls::None => Tls::None,
        };
        let credentials = s
            .username
            .filter(|u| !u.is_empty())
            .map(|user| Credentials::new(user, s.password.unwrap_or_default()));
        Ok(Smtp {
            from,
            host: host.to_owned(),
            port: s.port,
            tls,
            credentials,
            timeout: s.timeout,
            transport: Mutex::new(None),
        })
    }

    /// The transport connecting to `ip` (the name's certificate still verified).
    fn transport_for(&self, ip: IpAddr) -> AsyncSmtpTransport<Tokio1Executor> {
        let mut cached = self.transport.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, t)) = cached.as_ref()
            && *at == ip
        {
            return t.clone();
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ip.to_string())
            .port(self.port)
            .tls(self.tls.clone())
            .timeout(Some(self.timeout));
        if let Some(c) = &self.credentials {
            builder = builder.credentials(c.clone());
        }
        let t = builder.build::<Tokio1Executor>();
        *cached = Some((ip, t.clone()));
        t
    }
}

/// A delivery the network guard stopped: permanent, as retrying reaches the same
/// addresses (change the channel, or `probe.deny_networks`).
fn refused_delivery(r: &outbound::Refused) -> Delivery {
    Delivery::Permanent {
        error: format!("not sent: {r}"),
    }
}

/// The first error of type `T` among `e` and its sources.
fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// Classifies an SMTP failure: permanent (5xx) replies and client-side problems (no
/// STARTTLS offered, no usable AUTH mechanism) are `Permanent`; everything else
/// (4xx replies, connection, TLS, timeouts) is worth another try.
fn classify_smtp(e: &lettre::transport::smtp::Error) -> Delivery {
    let error = text::truncate(&text::one_line(&error_chain(e)), SHORT_REPLY_CHARS);
    if e.is_permanent() {
        Delivery::Permanent {
            error: format!("rejected by the SMTP server: {error}"),
        }
    } else if e.is_client() {
        Delivery::Permanent { error }
    } else {
        Delivery::Retry { after: None, error }
    }
}

/// The single classification of HTTP answers, for every HTTP channel:
///
/// | answer | outcome |
/// |---|---|
/// | 2xx | `Delivered` |
/// | 429 | `Retry`, `after` from `Retry-After` (seconds or an HTTP date) when given |
/// | 408, 5xx | `Retry` (honouring `Retry-After` too) |
/// | 3xx | `Permanent`: redirects are not followed; configure the final URL |
/// | other 4xx | `Permanent`: `rejected with 400 (Bad Request)` |
///
/// The reply's body is never read into an outcome, and of a redirect's `Location`
/// only the origin is shown: outcomes are shown to everyone who may read the channel,
/// and a URL pointed at an internal service must not turn delivery errors into a way
/// of reading it. Timeouts and connection failures never reach this function: they
/// are `Retry`.
pub fn classify_http(status: StatusCode, headers: &HeaderMap) -> Delivery {
    let code = status.as_u16();
    let with_reason = |what: String| match status.canonical_reason() {
        Some(r) => format!("{what} ({r})"),
        None => what,
    };
    if status.is_success() {
        Delivery::Delivered { detail: None }
    } else if code == 429 {
        Delivery::Retry {
            after: retry_after(headers, jiff::Timestamp::now()),
            error: with_reason("rate limited with 429".to_owned()),
        }
    } else if code == 408 || status.is_server_error() {
        Delivery::Retry {
            after: retry_after(headers, jiff::Timestamp::now()),
            error: with_reason(format!("server error {code}")),
        }
    } else if status.is_redirection() {
        let to = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url::Url::parse(l).ok())
            .map(|u| format!(" to {}", u.origin().ascii_serialization()))
            .unwrap_or_default();
        Delivery::Permanent {
            error: format!(
                "redirected with {code}{to}; redirects are not followed, configure the final URL"
            ),
        }
    } else {
        Delivery::Permanent {
            error: with_reason(format!("rejected with {code}")),
        }
    }
}

/// The most of a 429's body read for the wait it asks for.
const MAX_WAIT_BODY: usize = 16 * 1024;

/// Where a rate-limited answer says how long to wait, besides `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Only the `Retry-After` header.
    Header,
    /// Seconds (a number, maybe fractional) at this JSON pointer of the body:
    /// Discord's `/retry_after`, Telegram's `/parameters/retry_after`.
    Seconds(&'static str),
    /// Milliseconds at this JSON pointer: Matrix's `/retry_after_ms`.
    Millis(&'static str),
}

/// The wait a 429's JSON body asks for, by the provider's documented field; `None`
/// when the body does not say (or says nonsense). At most a day.
pub(crate) fn wait_in_body(wait: Wait, body: &[u8]) -> Option<Duration> {
    let (pointer, scale) = match wait {
        Wait::Header => return None,
        Wait::Seconds(p) => (p, 1.0),
        Wait::Millis(p) => (p, 0.001),
    };
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let secs = v.pointer(pointer)?.as_f64()? * scale;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// One HTTP request of a delivery, built by a channel's module.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub method: reqwest::Method,
    pub url: String,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    /// Besides `Content-Type`, which [`Outgoing::content_type`] sets.
    pub headers: HeaderMap,
    /// Where a 429 says how long to wait.
    pub wait: Wait,
}

impl Outgoing {
    /// A JSON `POST`.
    pub fn json(url: String, body: Vec<u8>) -> Outgoing {
        Outgoing {
            method: reqwest::Method::POST,
            url,
            body,
            content_type: "application/json",
            headers: HeaderMap::new(),
            wait: Wait::Header,
        }
    }

    /// The same request with these headers.
    pub fn with_headers(mut self, headers: HeaderMap) -> Outgoing {
        self.headers = headers;
        self
    }

    /// The same request with `name: value` added; a value that cannot be a header
    /// value is a settings error naming `field`.
    pub fn header(
        mut self,
        name: &'static str,
        value: &str,
        field: &str,
    ) -> Result<Outgoing, Delivery> {
        let mut v = HeaderValue::from_str(value).map_err(|_| Delivery::Permanent {
            error: format!(
                "{field} cannot be sent in a header (it holds a line break or a control character)"
            ),
        })?;
        v.set_sensitive(true);
        self.headers.insert(HeaderName::from_static(name), v);
        Ok(self)
    }

    /// The same request reading a 429's wait from its body.
    pub fn wait(mut self, wait: Wait) -> Outgoing {
        self.wait = wait;
        self
    }
}

/// `base` with `segments` appended to its path, each percent-encoded (so a key or an
/// id can never change the path); `field` names the setting in the error. A query
/// or fragment of `base` is dropped.
pub(crate) fn endpoint(base: &str, field: &str, segments: &[&str]) -> Result<String, Delivery> {
    let mut url = url::Url::parse(base).map_err(|_| Delivery::Permanent {
        error: format!("{field} is not a URL"),
    })?;
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| Delivery::Permanent {
            error: format!("{field} is not an http(s) URL"),
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url.into())
}

/// `Retry-After` as a delay from `now`: delay-seconds or an HTTP date (a date in the
/// past means "now"). `None` when absent or unreadable.
pub(crate) fn retry_after(headers: &HeaderMap, now: jiff::Timestamp) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse().unwrap_or(u64::MAX)));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(v)
        .ok()?;
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
}

/// An error and its sources, joined with ": ", without the repeats that appear when an
/// error's message already includes its source's.
/// Between a failure in plain words and the libraries' own account of it, in every
/// delivery error that has both: the UI shows the first and folds the second away.
pub const DETAIL: &str = " — ";

/// A connection that failed, in words that name where it went ("connection refused by
/// 127.0.0.1:18091"), then [`DETAIL`] and the error chain.
fn connect_error(target: &str, chain: &str) -> String {
    let lower = chain.to_lowercase();
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    let plain = if lower.contains("connection refused") {
        format!("connection refused by {target}")
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
    {
        format!("{host} could not be resolved (DNS)")
    } else if lower.contains("certificate") {
        format!("the certificate of {target} is not trusted")
    } else if lower.contains("connection reset") {
        format!("{target} closed the connection")
    } else if lower.contains("unreachable") || lower.contains("no route to host") {
        format!("{target} cannot be reached from here")
    } else {
        format!("cannot connect to {target}")
    };
    format!("{plain}{DETAIL}{chain}")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut joined = String::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !joined.contains(&s) {
            if !joined.is_empty() {
                joined.push_str(": ");
            }
            joined.push_str(&s);
        }
        cur = err.source();
    }
    let mut segments: Vec<&str> = joined.split(": ").collect();
    segments.dedup();
    segments.join(": ")
}

/// Parses a header name/value pair configured by a user.
fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{name:?} is not a valid header name"))?;
    let v =
        HeaderValue::from_str(value).map_err(|_| format!("header {name} has an invalid value"))?;
    Ok((n, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| header_pair(k, v).unwrap())
            .collect()
    }

    #[test]
    fn events_round_trip() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()), Some(e));
            assert_eq!(
                serde_json::to_value(e).unwrap(),
                serde_json::json!(e.as_str())
            );
        }
        assert_eq!(Event::parse("Trigger"), None);
        assert_eq!(Event::DegradedCleared.as_str(), "degraded_cleared");
    }

    #[test]
    fn http_classification_never_shows_the_reply() {
        let none = HeaderMap::new();
        assert_eq!(
            classify_http(StatusCode::OK, &none),
            Delivery::Delivered { detail: None }
        );
        assert_eq!(
            classify_http(StatusCode::ACCEPTED, &none),
            Delivery::Delivered { detail: None }
        );
        assert_eq!(
            classify_http(
                StatusCode::TOO_MANY_REQUESTS,
                &headers(&[("retry-after", "7")])
            ),
            Delivery::Retry {
                after: Some(Duration::from_secs(7)),
                error: "rate limited with 429 (Too Many Requests)".into()
            }
        );
        assert_eq!(
            classify_http(StatusCode::SERVICE_UNAVAILABLE, &none),
            Delivery::Retry {
                after: None,
                error: "server error 503 (Service Unavailable)".into()
            }
        );
        assert!(matches!(
            classify_http(StatusCode::REQUEST_TIMEOUT, &none),
            Delivery::Retry { .. }
        ));
        assert_eq!(
            classify_http(StatusCode::BAD_REQUEST, &none),
            Delivery::Permanent {
                error: "rejected with 400 (Bad Request)".into()
            }
        );
        let Delivery::Permanent { error } = classify_http(
            StatusCode::MOVED_PERMANENTLY,
            &headers(&[(
                "location",
                "https://new.example:8443/hook/T000/B000/XXXX?token=secret",
            )]),
        ) else {
            panic!("a redirect is permanent")
        };
        assert_eq!(
            error,
            "redirected with 301 to https://new.example:8443; redirects are not followed, configure the final URL"
        );
        let Delivery::Permanent { error } = classify_http(
            StatusCode::FOUND,
            &headers(&[("location", "/relative?secret=1")]),
        ) else {
            panic!()
        };
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn waits_read_from_a_rate_limited_body() {
        let body =
            br#"{"retry_after": 1.5, "parameters": {"retry_after": 35}, "retry_after_ms": 2000}"#;
        assert_eq!(
            wait_in_body(Wait::Seconds("/retry_after"), body),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            wait_in_body(Wait::Seconds("/parameters/retry_after"), body),
            Some(Duration::from_secs(35))
        );
        assert_eq!(
            wait_in_body(Wait::Millis("/retry_after_ms"), body),
            Some(Duration::from_secs(2))
        );
        assert_eq!(wait_in_body(Wait::Header, body), None);
        assert_eq!(wait_in_body(Wait::Seconds("/missing"), body), None);
        assert_eq!(wait_in_body(Wait::Seconds("/retry_after"), b"<html>"), None);
        assert_eq!(
            wait_in_body(Wait::Seconds("/retry_after"), br#"{"retry_after": -3}"#),
            None
        );
        assert_eq!(
            wait_in_body(Wait::Seconds("/retry_after"), br#"{"retry_after": 1e300}"#),
            Some(Duration::from_secs(86_400)),
            "at most a day"
        );
    }

    #[test]
    fn endpoints_encode_their_segments() {
        assert_eq!(
            endpoint("https://h.example/base/?q=1#f", "api_url", &["v2", "a/b c"]),
            Ok("https://h.example/base/v2/a%2Fb%20c".to_owned())
        );
        assert!(matches!(
            endpoint("not a url", "api_url", &["x"]),
            Err(Delivery::Permanent { error }) if error == "api_url is not a URL"
        ));
    }

    #[test]
    fn retry_after_forms() {
        let now: jiff::Timestamp = "2015-10-21T07:27:00Z".parse().unwrap();
        let at = |v: &str| retry_after(&headers(&[("retry-after", v)]), now);
        assert_eq!(at("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            at("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(at("Wed, 21 Oct 2015 07:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(at("soon"), None);
        assert_eq!(at("-5"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn summary_per_event() {
        let mut n = Notification {
            event: Event::Trigger,
            dedup_key: "vigilmon-1".into(),
            incident_id: None,
            monitor_id: None,
            monitor_name: "api\nprod".into(),
            monitor_kind: "http".into(),
            state: "down".into(),
            priority: Priority::P1,
            cause: "status 503 is not one of the expected (200)".into(),
            regions: vec![RegionEvidence {
                region: "eu-west".into(),
                ok: false,
                error: None,
                checked_at: None,
            }],
            opened_at: Some("2025-01-01T00:00:00Z".parse().unwrap()),
            at: "2025-01-01T00:35:00Z".parse().unwrap(),
            duration: Some(Duration::from_secs(725)),
            acknowledged_by: Some("alice".into()),
            links: Links::default(),
        };
        let mut s = |e| {
            n.event = e;
            n.summary()
        };
        assert_eq!(
            s(Event::Trigger),
            "[P1] DOWN: api prod — status 503 is not one of the expected (200)"
        );
        assert!(s(Event::Reminder).starts_with("[P1] STILL DOWN: api prod — status 503"));
        assert!(s(Event::Reminder).ends_with("(for 35m)"));
        assert!(s(Event::Escalation).contains("DOWN (ESCALATED)"));
        assert_eq!(
            s(Event::Acknowledged),
            "[P1] ACKNOWLEDGED: api prod — by alice"
        );
        assert_eq!(
            s(Event::Resolved),
            "[P1] RESOLVED: api prod — back up after 12m 5s"
        );
        assert!(s(Event::RegionalNotice).ends_with("(failing in eu-west)"));
        let t = Notification::test(jiff::Timestamp::UNIX_EPOCH);
        assert!(t.dedup_key.starts_with("vigilmon-test-"));
        assert!(t.summary().starts_with("[P4] TEST: Vigilmon test — "));
    }

    #[test]
    fn error_chains_drop_repeats() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E(
            "Connection error: Connection error",
            Some(Box::new(E("invalid peer certificate", None))),
        );
        assert_eq!(
            error_chain(&e),
            "Connection error: invalid peer certificate"
        );
        let e = E(
            "outer",
            Some(Box::new(E("outer", Some(Box::new(E("inner", None)))))),
        );
        assert_eq!(error_chain(&e), "outer: inner");
    }

    #[test]
    fn smtp_settings() {
        let s = SmtpSettings {
            host: "mail.example".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: Some("u".into()),
            password: Some("hunter2".into()),
            from: "not an address".into(),
            timeout: Duration::from_secs(5),
            accept_invalid_certs: false,
        };
        assert!(!format!("{s:?}").contains("hunter2"));
        let err = Notifier::new(Some(s.clone()), Duration::from_secs(1))
            .err()
            .expect("a bad from address is refused");
        assert!(err.to_string().starts_with("smtp: from"), "{err}");
        let ok = SmtpSettings {
            from: "Vigilmon <alerts@example.com>".into(),
            ..s
        };
        assert!(Notifier::new(Some(ok), Duration::from_secs(1)).is_ok());
    }
}
