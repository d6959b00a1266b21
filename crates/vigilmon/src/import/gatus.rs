//! Importing a Gatus configuration (YAML): `endpoints` become monitors (HTTP, TCP,
//! TLS, STARTTLS, DNS and gRPC endpoints; their conditions become expectations),
//! `external-endpoints` become heartbeats, the providers under `alerting` become
//! channels, and each endpoint's `alerts` a policy over them.
//!
//! Field names and defaults are Gatus's documented ones: `interval` 1m,
//! `client.timeout` 10s, an alert's `failure-threshold` 3, `success-threshold` 2,
//! `send-on-resolved` false, `enabled` true.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value as Json, json};
use vigilmon_core::monitor::{
    DnsConfig, ExpectConfig, GrpcConfig, HeartbeatConfig, HttpConfig, IcmpConfig,
    JsonAssertionConfig, KindConfig, MAX_INTERVAL, MIN_INTERVAL, TcpConfig, TlsConfig, WarnConfig,
    WebsocketConfig,
};
use vigilmon_core::{HumanDuration, MonitorConfig};
use vigilmon_notify::discord::DiscordConfig;
use vigilmon_notify::email::EmailConfig;
use vigilmon_notify::google_chat::GoogleChatConfig;
use vigilmon_notify::gotify::GotifyConfig;
use vigilmon_notify::matrix::MatrixConfig;
use vigilmon_notify::mattermost::MattermostConfig;
use vigilmon_notify::ntfy::NtfyConfig;
use vigilmon_notify::opsgenie::OpsgenieConfig;
use vigilmon_notify::pagerduty::PagerDutyConfig;
use vigilmon_notify::pushover::PushoverConfig;
use vigilmon_notify::slack::SlackConfig;
use vigilmon_notify::teams::TeamsConfig;
use vigilmon_notify::telegram::TelegramConfig;
use vigilmon_notify::webhook::WebhookConfig;
use vigilmon_notify::{ChannelConfig, ChannelKind};

use super::{Env, Imported, Outcome, read_yaml, tag};
use crate::config::SmtpSection;

type Yaml = yaml_serde::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GatusFile {
    endpoints: Vec<Endpoint>,
    #[serde(rename = "external-endpoints")]
    external_endpoints: Vec<ExternalEndpoint>,
    alerting: BTreeMap<String, Yaml>,
    /// Sections about Gatus itself (storage, web, ui, security, metrics, …).
    #[serde(flatten)]
    other: BTreeMap<String, Yaml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Endpoint {
    enabled: Option<bool>,
    name: String,
    group: String,
    url: String,
    method: String,
    body: String,
    graphql: bool,
    headers: BTreeMap<String, String>,
    interval: Option<String>,
    conditions: Vec<String>,
    alerts: Vec<Alert>,
    maintenance_windows: Vec<Yaml>,
    dns: Option<DnsQuery>,
    ssh: Option<Yaml>,
    client: Option<Client>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct ExternalEndpoint {
    enabled: Option<bool>,
    name: String,
    group: String,
    token: String,
    alerts: Vec<Alert>,
    maintenance_windows: Vec<Yaml>,
    heartbeat: Option<HeartbeatInterval>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HeartbeatInterval {
    interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct DnsQuery {
    query_type: String,
    query_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Client {
    insecure: bool,
    ignore_redirect: bool,
    timeout: Option<String>,
    dns_resolver: Option<String>,
    oauth2: Option<Yaml>,
    identity_aware_proxy: Option<Yaml>,
    tunnel: Option<String>,
    proxy_url: Option<String>,
    tls: Option<Yaml>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Alert {
    #[serde(rename = "type")]
    kind: String,
    enabled: Option<bool>,
    failure_threshold: Option<u32>,
    success_threshold: Option<u32>,
    send_on_resolved: Option<bool>,
    minimum_reminder_interval: Option<String>,
    provider_override: Option<Yaml>,
}

/// Imports Gatus configuration `text` (read from `input`) into `out`.
pub fn import(input: &str, text: &str, out: &mut Imported, env: &mut Env) -> anyhow::Result<()> {
    let text = env.keep_references(text, "referred to by the Gatus file");
    let file: GatusFile = read_yaml(input, &text)?;
    for key in file.other.keys() {
        out.report.push(
            "section",
            key,
            Outcome::NotMapped(match key.as_str() {
                "maintenance" => "Gatus's global maintenance window; declare it under maintenance: (docs/alerting.md)".into(),
                "announcements" => "Vigilmon's status pages show incidents, not announcements".into(),
                _ => "a setting of Gatus itself, with no monitor or alert in it".into(),
            }),
        );
    }
    let providers = import_providers(&file.alerting, out, env);
    for e in &file.endpoints {
        import_endpoint(e, &providers, out, env);
    }
    for e in &file.external_endpoints {
        import_external(e, &providers, out, env);
    }
    Ok(())
}

/// A provider imported as a channel: its name, and its `default-alert`.
struct Provider {
    channel: String,
    default_alert: Alert,
}

/// The string at `key` of a provider's settings.
fn text_of(v: &Yaml, key: &str) -> Option<String> {
    match v.get(key)? {
        Yaml::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn import_providers(
    alerting: &BTreeMap<String, Yaml>,
    out: &mut Imported,
    env: &mut Env,
) -> BTreeMap<String, Provider> {
    let mut providers = BTreeMap::new();
    for (kind, settings) in alerting {
        let mut changes = Vec::new();
        if settings.get("overrides").is_some() {
            changes.push(
                "its per-group overrides are not imported: every group uses the default settings"
                    .to_owned(),
            );
        }
        let name = kind.clone();
        let mut secret = |field: &str, value: String| {
            env.secret(
                &format!("{name} {field}"),
                &value,
                &format!("channel {name:?}: {field}"),
            )
        };
        let need = |key: &str| text_of(settings, key);
        let channel = match kind.as_str() {
            "slack" => need("webhook-url").map(|u| {
                ChannelKind::Slack(SlackConfig {
                    webhook_url: Some(secret("webhook_url", u)),
                })
            }),
            "discord" => need("webhook-url").map(|u| {
                ChannelKind::Discord(DiscordConfig {
                    webhook_url: Some(secret("webhook_url", u)),
                })
            }),
            "teams" | "teams-workflows" => need("webhook-url").map(|u| {
                if kind == "teams" {
                    changes.push("Vigilmon posts to a Teams Workflows webhook; an Office 365 connector URL (retired by Microsoft) must be replaced by one".into());
                }
                ChannelKind::Teams(TeamsConfig {
                    webhook_url: Some(secret("webhook_url", u)),
                })
            }),
            "mattermost" | "rocketchat" => need("webhook-url").map(|u| {
                ChannelKind::Mattermost(MattermostConfig {
                    webhook_url: Some(secret("webhook_url", u)),
                })
            }),
            "googlechat" => need("webhook-url").map(|u| {
                ChannelKind::GoogleChat(GoogleChatConfig {
                    webhook_url: Some(secret("webhook_url", u)),
                })
            }),
            "pagerduty" => need("integration-key").map(|k| {
                ChannelKind::PagerDuty(PagerDutyConfig {
                    routing_key: Some(secret("routing_key", k)),
                    events_url: None,
                })
            }),
            "opsgenie" => need("api-key").map(|k| {
                ChannelKind::Opsgenie(OpsgenieConfig {
                    api_key: Some(secret("api_key", k)),
                    api_url: None,
                })
            }),
            "telegram" => need("token").map(|t| {
                ChannelKind::Telegram(TelegramConfig {
                    bot_token: Some(secret("bot_token", t)),
                    chat_id: need("id"),
                    api_url: need("api-url"),
                })
            }),
            "ntfy" => need("topic").map(|topic| {
                let base = need("url").unwrap_or_else(|| "https://ntfy.sh".into());
                let url = format!("{}/{}", base.trim_end_matches('/'), topic);
                ChannelKind::Ntfy(NtfyConfig {
                    url: Some(secret("url", url)),
                    token: need("token").map(|t| secret("token", t)),
                })
            }),
            "pushover" => need("application-token").map(|t| {
                ChannelKind::Pushover(PushoverConfig {
                    token: Some(secret("token", t)),
                    user: need("user-key"),
                    api_url: None,
                })
            }),
            "gotify" => need("token").map(|t| {
                ChannelKind::Gotify(GotifyConfig {
                    url: need("server-url"),
                    token: Some(secret("token", t)),
                })
            }),
            "matrix" => need("access-token").map(|t| {
                ChannelKind::Matrix(MatrixConfig {
                    homeserver: need("server-url"),
                    access_token: Some(secret("access_token", t)),
                    room_id: need("internal-room-id"),
                })
            }),
            "custom" => need("url").map(|u| {
                if need("body").is_some() || need("method").is_some_and(|m| m != "POST") {
                    changes.push("Vigilmon's webhook POSTs its own JSON body, not the template".into());
                }
                let headers = settings.get("headers").and_then(Yaml::as_mapping).map(|h| {
                    h.iter()
                        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
                        .map(|(k, v)| {
                            let v = secret(&format!("header {k}"), v);
                            (k, v)
                        })
                        .collect()
                });
                ChannelKind::Webhook(WebhookConfig {
                    url: Some(secret("url", u)),
                    secret: None,
                    headers,
                })
            }),
            "email" => need("to").map(|to| {
                let host = need("host").unwrap_or_default();
                let port = settings
                    .get("port")
                    .and_then(Yaml::as_u64)
                    .and_then(|p| u16::try_from(p).ok());
                if out.smtp.is_none() {
                    out.smtp = Some(SmtpSection {
                        host,
                        port,
                        username: need("username"),
                        password: need("password").map(|p| secret("smtp password", p)),
                        from: need("from").unwrap_or_default(),
                        tls: None,
                        accept_invalid_certs: false,
                    });
                }
                ChannelKind::Email(EmailConfig {
                    to: to.split(',').map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect(),
                })
            }),
            _ => {
                out.report.push(
                    "alert provider",
                    kind,
                    Outcome::NotMapped(format!("Vigilmon has no {kind} channel")),
                );
                continue;
            }
        };
        let Some(channel) = channel else {
            out.report.push(
                "alert provider",
                kind,
                Outcome::NotMapped("its required settings are missing".into()),
            );
            continue;
        };
        let config = ChannelConfig {
            name: name.clone(),
            kind: channel,
            foreign_fields: Vec::new(),
        };
        if out.add_channel("alert provider", kind, config, changes, env) {
            let default_alert = settings
                .get("default-alert")
                .cloned()
                .and_then(|v| yaml_serde::from_value(v).ok())
                .unwrap_or_default();
            providers.insert(
                kind.clone(),
                Provider {
                    channel: name,
                    default_alert,
                },
            );
        }
    }
    providers
}

/// The policy for an endpoint's alerts, and the confirmations their failure
/// thresholds ask for; what changed is added to `changes`.
fn alerts_policy(
    alerts: &[Alert],
    providers: &BTreeMap<String, Provider>,
    out: &mut Imported,
    changes: &mut Vec<String>,
) -> (Option<String>, Option<u32>) {
    let mut channels = Vec::new();
    let mut thresholds = Vec::new();
    let mut resolved = Vec::new();
    for a in alerts {
        let Some(p) = providers.get(&a.kind) else {
            changes.push(format!(
                "its {} alert is dropped: that provider was not imported",
                a.kind
            ));
            continue;
        };
        let d = &p.default_alert;
        if !a.enabled.or(d.enabled).unwrap_or(true) {
            changes.push(format!("its disabled {} alert is dropped", a.kind));
            continue;
        }
        if a.provider_override.is_some() {
            changes.push(format!(
                "its {} alert's provider-override is not imported",
                a.kind
            ));
        }
        if a.minimum_reminder_interval.is_some() || d.minimum_reminder_interval.is_some() {
            changes.push(format!(
                "its {} alert's minimum-reminder-interval is not imported (a policy's remind_every does that)",
                a.kind
            ));
        }
        let success = a.success_threshold.or(d.success_threshold).unwrap_or(2);
        if success > 1 {
            changes.push(format!(
                "success-threshold {success} of its {} alert: Vigilmon recovers on the first success",
                a.kind
            ));
        }
        thresholds.push(a.failure_threshold.or(d.failure_threshold).unwrap_or(3));
        resolved.push(a.send_on_resolved.or(d.send_on_resolved).unwrap_or(false));
        if !channels.contains(&p.channel) {
            channels.push(p.channel.clone());
        }
    }
    if channels.is_empty() {
        return (None, None);
    }
    let on_resolved = resolved.iter().any(|r| *r);
    if on_resolved && resolved.iter().any(|r| !*r) {
        changes.push(
            "recoveries go to all its alerts' channels: some of them had send-on-resolved off"
                .into(),
        );
    }
    let events: &[&str] = if on_resolved {
        &["down", "recovered"]
    } else {
        &["down"]
    };
    let mut confirmations = thresholds.iter().copied().min().unwrap_or(3);
    if thresholds.iter().any(|t| *t != confirmations) {
        changes.push(format!(
            "its alerts' failure thresholds differ: the lowest, {confirmations}, is its confirmations"
        ));
    }
    if confirmations > 10 {
        changes.push(format!(
            "failure-threshold {confirmations} lowered to 10 confirmations (Vigilmon's most)"
        ));
        confirmations = 10;
    }
    (
        Some(out.policy_for(&channels, events)),
        Some(confirmations.max(1)),
    )
}

/// A Go duration (`30s`, `1m30s`, `500ms`) as a duration.
fn duration(s: &str) -> Option<Duration> {
    HumanDuration::parse(s).ok().map(|d| d.0)
}

fn set_interval(m: &mut MonitorConfig, given: Option<&str>, changes: &mut Vec<String>) {
    let Some(given) = given else { return };
    match duration(given) {
        Some(d) if d < MIN_INTERVAL => {
            changes.push(format!(
                "interval {given} raised to 10s (Vigilmon's shortest)"
            ));
            m.interval = Some(HumanDuration(MIN_INTERVAL));
        }
        Some(d) if d > MAX_INTERVAL => {
            changes.push(format!(
                "interval {given} lowered to 24h (Vigilmon's longest)"
            ));
            m.interval = Some(HumanDuration(MAX_INTERVAL));
        }
        Some(d) => m.interval = Some(HumanDuration(d)),
        None => changes.push(format!(
            "interval {given:?} is not a duration Vigilmon reads: the default 1m is used"
        )),
    }
}

fn set_timeout(m: &mut MonitorConfig, client: Option<&Client>, changes: &mut Vec<String>) {
    let Some(given) = client.and_then(|c| c.timeout.as_deref()) else {
        return;
    };
    let interval = m.interval.map_or(Duration::from_secs(60), |i| i.0);
    match duration(given) {
        Some(d) if d >= interval => {
            let t = interval.saturating_sub(Duration::from_secs(1));
            changes.push(format!(
                "timeout {given} lowered to {} (it must be shorter than the interval)",
                HumanDuration(t)
            ));
            m.timeout = Some(HumanDuration(t));
        }
        Some(d) if d.is_zero() => {}
        Some(d) => m.timeout = Some(HumanDuration(d)),
        None => changes.push(format!(
            "timeout {given:?} is not a duration Vigilmon reads: the default 10s is used"
        )),
    }
}

/// A condition split into its sides: `[STATUS] == 200` → (`[STATUS]`, `==`, `200`).
fn split_condition(c: &str) -> Option<(&str, &str, &str)> {
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some((l, r)) = c.split_once(op) {
            return Some((l.trim(), op, r.trim()));
        }
    }
    None
}

/// The values of `any(a, b)`, or the one value.
fn values_of(r: &str) -> Vec<String> {
    match r.strip_prefix("any(").and_then(|x| x.strip_suffix(')')) {
        Some(list) => list.split(',').map(|v| v.trim().to_owned()).collect(),
        None => vec![r.to_owned()],
    }
}

/// A value of a condition as JSON: a number, true/false, or text.
fn json_value(r: &str) -> Json {
    if let Ok(n) = r.parse::<i64>() {
        return json!(n);
    }
    if let Ok(f) = r.parse::<f64>()
        && f.is_finite()
    {
        return json!(f);
    }
    match r {
        "true" => json!(true),
        "false" => json!(false),
        _ => json!(r.trim_matches('"')),
    }
}

/// A regular expression matching what Gatus's `pat(...)` pattern matches (`*` any
/// text), anchored.
fn glob_regex(p: &str) -> String {
    let mut out = String::from("^");
    for c in p.chars() {
        match c {
            '*' => out.push_str("(?s:.*)"),
            c if "\\.+?()|[]{}^$#&-~".contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('$');
    out
}

/// What the endpoint is, by its URL's scheme.
enum Target {
    Http,
    Tcp {
        host: String,
        port: u32,
    },
    Tls {
        host: String,
        port: u32,
        starttls: bool,
    },
    Dns {
        resolver: String,
    },
    Grpc,
    Icmp {
        host: String,
    },
    Websocket,
    Unmapped(&'static str),
}

fn host_port(rest: &str) -> Option<(String, u32)> {
    let rest = rest.split('/').next()?;
    let (host, port) = rest.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse().ok()?;
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

fn target_of(e: &Endpoint) -> Result<Target, String> {
    let url = e.url.trim();
    if e.dns.is_some() {
        let resolver = url.trim_start_matches("dns://").trim_end_matches('/');
        return Ok(Target::Dns {
            resolver: resolver.to_owned(),
        });
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let hp = |what: &str| host_port(rest).ok_or(format!("{url:?} is not {what}://host:port"));
    Ok(match scheme {
        "http" | "https" => Target::Http,
        "tcp" => {
            let (host, port) = hp("tcp")?;
            Target::Tcp { host, port }
        }
        "tls" | "starttls" => {
            let (host, port) = hp(scheme)?;
            Target::Tls {
                host,
                port,
                starttls: scheme == "starttls",
            }
        }
        "icmp" => {
            let host = rest.split('/').next().unwrap_or_default().trim();
            if host.is_empty() {
                return Err(format!("{url:?} is not icmp://host"));
            }
            Target::Icmp {
                host: host.to_owned(),
            }
        }
        "udp" => Target::Unmapped("Vigilmon has no UDP monitor type"),
        "sctp" => Target::Unmapped("Vigilmon has no SCTP monitor type"),
        "ssh" => Target::Unmapped("Vigilmon has no SSH monitor type"),
        "ws" | "wss" => Target::Websocket,
        "grpc" | "grpcs" => Target::Grpc,
        _ => return Err(format!("{url:?} has no scheme Gatus knows")),
    })
}

fn import_endpoint(
    e: &Endpoint,
    providers: &BTreeMap<String, Provider>,
    out: &mut Imported,
    env: &mut Env,
) {
    let label = if e.group.is_empty() {
        e.name.clone()
    } else {
        format!("{}/{}", e.group, e.name)
    };
    let target = match target_of(e) {
        Ok(Target::Unmapped(why)) => {
            out.report
                .push("endpoint", &label, Outcome::NotMapped(why.into()));
            return;
        }
        Ok(t) => t,
        Err(why) => {
            out.report.push("endpoint", &label, Outcome::NotMapped(why));
            return;
        }
    };
    let mut changes = Vec::new();
    let name = out.unique_name(&e.name, &mut changes);
    let mut expect = ExpectConfig::default();
    let mut warn = WarnConfig::default();
    let mut statuses: Vec<Json> = Vec::new();
    for c in &e.conditions {
        if let Err(why) = condition(c, &target, &mut expect, &mut warn, &mut statuses) {
            changes.push(format!("condition {c:?} dropped: {why}"));
        }
    }
    if !statuses.is_empty() {
        expect.status = Some(Json::Array(statuses));
    }
    let expect = (expect != ExpectConfig::default()).then_some(expect);
    let warn = (warn != WarnConfig::default()).then_some(warn);
    let client = e.client.as_ref();
    if let Some(c) = client {
        for (set, what) in [
            (c.oauth2.is_some(), "OAuth2 client credentials"),
            (c.identity_aware_proxy.is_some(), "identity-aware proxy"),
            (c.tunnel.is_some(), "SSH tunnel"),
            (c.proxy_url.is_some(), "proxy"),
            (c.tls.is_some(), "client certificate"),
            (c.dns_resolver.is_some(), "own DNS resolver"),
        ] {
            if set {
                changes.push(format!(
                    "its {what} is not imported: Vigilmon's probes have none"
                ));
            }
        }
    }
    let kind = match target {
        Target::Http => {
            let mut body = (!e.body.is_empty()).then(|| e.body.clone());
            let mut headers = e.headers.clone();
            if e.graphql {
                body = Some(json!({ "query": e.body }).to_string());
                headers
                    .entry("Content-Type".into())
                    .or_insert_with(|| "application/json".into());
                changes.push("its GraphQL query is sent as a JSON body {\"query\": …}".into());
            }
            let secret_headers: Vec<String> = headers
                .keys()
                .filter(|k| is_credential_header(k))
                .cloned()
                .collect();
            for k in &secret_headers {
                if let Some(v) = headers.get_mut(k) {
                    *v = env.secret(
                        &format!("{name} {k}"),
                        v,
                        &format!("monitor {name:?}: header {k}"),
                    );
                }
            }
            let public: Vec<String> = headers
                .keys()
                .filter(|k| !is_credential_header(k))
                .cloned()
                .collect();
            KindConfig::Http(HttpConfig {
                url: Some(e.url.trim().to_owned()),
                method: (!e.method.is_empty() && !e.method.eq_ignore_ascii_case("GET"))
                    .then(|| e.method.to_ascii_uppercase()),
                public_headers: (!public.is_empty()).then_some(public),
                headers: (!headers.is_empty()).then_some(headers),
                body,
                public_body: None,
                follow_redirects: client.filter(|c| c.ignore_redirect).map(|_| false),
                verify_tls: client.filter(|c| c.insecure).map(|_| false),
                expect,
                warn,
            })
        }
        Target::Tcp { host, port } => KindConfig::Tcp(TcpConfig {
            host: Some(host),
            port: Some(port),
            send: None,
            expect,
            warn,
        }),
        Target::Tls {
            host,
            port,
            starttls,
        } => {
            if starttls {
                changes.push("STARTTLS is spoken as SMTP, as Gatus does".into());
            }
            KindConfig::Tls(TlsConfig {
                host: Some(host),
                port: Some(port),
                starttls: starttls.then(|| "smtp".to_owned()),
                min_version: None,
                issuer: None,
                expect,
                warn,
            })
        }
        Target::Dns { resolver } => {
            let q = e.dns.as_ref();
            KindConfig::Dns(DnsConfig {
                query: q.map(|q| q.query_name.trim_end_matches('.').to_owned()),
                record: q.map(|q| q.query_type.to_ascii_uppercase()),
                resolver: (!resolver.is_empty()).then_some(resolver),
                expect,
                warn,
            })
        }
        Target::Grpc => KindConfig::Grpc(GrpcConfig {
            url: Some(e.url.trim().to_owned()),
            service: None,
            metadata: None,
            verify_tls: client.filter(|c| c.insecure).map(|_| false),
            expect,
            warn,
        }),
        Target::Icmp { host } => KindConfig::Icmp(IcmpConfig {
            host: Some(host),
            count: None,
            expect,
            warn,
        }),
        Target::Websocket => KindConfig::Websocket(WebsocketConfig {
            url: Some(e.url.trim().to_owned()),
            headers: None,
            subprotocol: None,
            send: (!e.body.is_empty()).then(|| e.body.clone()),
            verify_tls: client.filter(|c| c.insecure).map(|_| false),
            expect,
            warn,
        }),
        Target::Unmapped(_) => return,
    };
    let mut m = MonitorConfig::new(name.clone(), kind);
    set_interval(&mut m, e.interval.as_deref(), &mut changes);
    set_timeout(&mut m, client, &mut changes);
    if !e.group.is_empty() {
        m.tags = tag(&e.group).into_iter().collect();
    }
    m.paused = e.enabled == Some(false);
    if !e.maintenance_windows.is_empty() {
        changes.push(
            "its maintenance windows are not imported: declare them under maintenance:".into(),
        );
    }
    if e.ssh.is_some() {
        changes.push("its ssh settings are not imported".into());
    }
    let (policy, confirmations) = alerts_policy(&e.alerts, providers, out, &mut changes);
    m.policy = policy;
    m.confirmations = confirmations;
    out.add_monitor("endpoint", &label, m, changes, env);
}

/// Headers whose values are credentials.
pub(super) fn is_credential_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["authorization", "cookie", "proxy-authorization"].contains(&n.as_str())
        || n.contains("token")
        || n.contains("key")
        || n.contains("secret")
        || n.contains("auth")
}

/// Maps one condition onto the expectations; `Err` says why it could not.
fn condition(
    c: &str,
    target: &Target,
    expect: &mut ExpectConfig,
    warn: &mut WarnConfig,
    statuses: &mut Vec<Json>,
) -> Result<(), String> {
    let (l, op, r) = split_condition(c).ok_or("it has no comparison Gatus knows")?;
    let http = matches!(target, Target::Http);
    match (l, op) {
        ("[CONNECTED]", "==") if r == "true" => Ok(()),
        // Gatus's gRPC endpoints ask the standard health service, as Vigilmon's
        // grpc monitors do; SERVING is what they call up.
        ("[BODY].status", "==") if matches!(target, Target::Grpc) && r == "SERVING" => Ok(()),
        ("[STATUS]", "==") if http => {
            for v in values_of(r) {
                let code: u16 = v
                    .parse()
                    .map_err(|_| format!("{v:?} is not a status code"))?;
                statuses.push(json!(code));
            }
            Ok(())
        }
        ("[STATUS]", "<" | "<=") if http => {
            let n: u16 = r.parse().map_err(|_| format!("{r:?} is not a number"))?;
            let below = if op == "<" { n } else { n.saturating_add(1) };
            if below <= 200 || below % 100 != 0 {
                return Err(
                    "only limits at a class (< 300, < 400, …) map to status classes".into(),
                );
            }
            for class in 2..below / 100 {
                statuses.push(json!(format!("{class}xx")));
            }
            Ok(())
        }
        ("[RESPONSE_TIME]", "<" | "<=") => {
            let ms: u64 = r
                .parse()
                .map_err(|_| format!("{r:?} is not milliseconds"))?;
            expect.response_time = Some(HumanDuration(Duration::from_millis(ms)));
            Ok(())
        }
        ("[CERTIFICATE_EXPIRATION]", ">" | ">=") => {
            let d = duration(r).ok_or(format!("{r:?} is not a duration"))?;
            match target {
                Target::Tls { .. } => expect.cert_expiry = Some(HumanDuration(d)),
                Target::Http | Target::Grpc | Target::Websocket => {
                    warn.cert_expiry = Some(HumanDuration(d));
                }
                _ => {
                    return Err(
                        "only HTTP, gRPC, WebSocket and TLS monitors judge certificates".into(),
                    );
                }
            }
            Ok(())
        }
        // A WebSocket endpoint's body is the first reply to what it sent.
        ("[BODY]", "==") if matches!(target, Target::Websocket) => {
            match r.strip_prefix("pat(*").and_then(|p| p.strip_suffix("*)")) {
                Some(inner) if !inner.contains('*') && !inner.is_empty() => {
                    expect.reply_contains = Some(inner.to_owned());
                }
                Some(_) => return Err("only a pattern of the form pat(*text*) maps".into()),
                None => expect.reply_equals = Some(r.to_owned()),
            }
            Ok(())
        }
        ("[DNS_RCODE]", "==") if matches!(target, Target::Dns { .. }) => {
            expect.rcode = Some(r.to_ascii_uppercase());
            Ok(())
        }
        ("[BODY]", "==") if matches!(target, Target::Dns { .. }) => {
            expect
                .values
                .get_or_insert_with(Vec::new)
                .extend(values_of(r));
            Ok(())
        }
        ("[BODY]", "==" | "!=") if http => {
            let negate = op == "!=";
            let pattern = r.strip_prefix("pat(").and_then(|p| p.strip_suffix(')'));
            match pattern {
                Some(p)
                    if p.len() >= 2
                        && p.starts_with('*')
                        && p.ends_with('*')
                        && !p[1..p.len() - 1].contains('*') =>
                {
                    let inner = p[1..p.len() - 1].to_owned();
                    if negate {
                        expect.body_not_contains = Some(inner);
                    } else {
                        expect.body_contains = Some(inner);
                    }
                    Ok(())
                }
                _ if negate => Err("only != pat(*text*) maps (to body_not_contains)".into()),
                Some(p) => set_regex(expect, glob_regex(p)),
                None if r.starts_with("any(") => {
                    let alts: Vec<String> = values_of(r)
                        .iter()
                        .map(|v| {
                            glob_regex(v)
                                .trim_matches(|c| c == '^' || c == '$')
                                .to_owned()
                        })
                        .collect();
                    set_regex(expect, format!("^(?:{})$", alts.join("|")))
                }
                None => set_regex(expect, glob_regex(r)),
            }
        }
        (path, "==") if http && path.starts_with("[BODY].") => {
            if r.starts_with("any(") || r.starts_with("pat(") {
                return Err("a JSON value is compared with one value only".into());
            }
            expect.json.push(JsonAssertionConfig {
                path: format!("$.{}", &path["[BODY].".len()..]),
                equals: Some(json_value(r)),
                exists: None,
            });
            Ok(())
        }
        (l, "==") if http && l.starts_with("has([BODY].") && l.ends_with(')') => {
            let path = &l["has([BODY].".len()..l.len() - 1];
            expect.json.push(JsonAssertionConfig {
                path: format!("$.{path}"),
                equals: None,
                exists: Some(r == "true"),
            });
            Ok(())
        }
        ("[IP]", _) => Err("Vigilmon does not judge the address a name resolves to".into()),
        ("[DOMAIN_EXPIRATION]", _) => Err("Vigilmon does not watch domain registrations".into()),
        (l, _) if l.starts_with("len(") => Err("Vigilmon does not compare lengths".into()),
        _ => Err("no Vigilmon expectation says this".into()),
    }
}

fn set_regex(expect: &mut ExpectConfig, re: String) -> Result<(), String> {
    if expect.body_regex.is_some() {
        return Err("the body already has a pattern; Vigilmon takes one".into());
    }
    expect.body_regex = Some(re);
    Ok(())
}

fn import_external(
    e: &ExternalEndpoint,
    providers: &BTreeMap<String, Provider>,
    out: &mut Imported,
    env: &mut Env,
) {
    let label = if e.group.is_empty() {
        e.name.clone()
    } else {
        format!("{}/{}", e.group, e.name)
    };
    let mut changes = vec![
        "its results are now pings to the monitor's ping URL, not pushes to Gatus's API".to_owned(),
    ];
    let name = out.unique_name(&e.name, &mut changes);
    let every = match e.heartbeat.as_ref().and_then(|h| h.interval.as_deref()) {
        Some(i) => match duration(i) {
            Some(d) if !d.is_zero() => Some(HumanDuration(d)),
            _ => {
                changes.push(format!(
                    "heartbeat interval {i:?} not read: a ping is expected daily"
                ));
                None
            }
        },
        None => {
            changes.push("it had no heartbeat interval: a ping is expected daily".into());
            None
        }
    };
    let mut m = MonitorConfig::new(
        name,
        KindConfig::Heartbeat(HeartbeatConfig {
            every,
            ..HeartbeatConfig::default()
        }),
    );
    if !e.group.is_empty() {
        m.tags = tag(&e.group).into_iter().collect();
    }
    m.paused = e.enabled == Some(false);
    if !e.maintenance_windows.is_empty() {
        changes.push(
            "its maintenance windows are not imported: declare them under maintenance:".into(),
        );
    }
    let (policy, confirmations) = alerts_policy(&e.alerts, providers, out, &mut changes);
    if confirmations.is_some_and(|c| c > 1) {
        changes.push(
            "its failure threshold does not apply: a heartbeat is down when its ping is late"
                .into(),
        );
    }
    m.policy = policy;
    out.add_monitor("external endpoint", &label, m, changes, env);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_split_like_gatus_splits_them() {
        assert_eq!(
            split_condition("[STATUS] == 200"),
            Some(("[STATUS]", "==", "200"))
        );
        assert_eq!(
            split_condition("[RESPONSE_TIME] <= 300"),
            Some(("[RESPONSE_TIME]", "<=", "300"))
        );
        assert_eq!(split_condition("nothing here"), None);
        assert_eq!(values_of("any(200, 201)"), ["200", "201"]);
    }

    #[test]
    fn limits_at_the_edge_of_the_numbers_are_refused_not_overflowed() {
        let (mut e, mut w, mut st) = (ExpectConfig::default(), WarnConfig::default(), Vec::new());
        let r = condition("[STATUS] <= 65535", &Target::Http, &mut e, &mut w, &mut st);
        assert!(r.is_err(), "{r:?}");
        let r = condition("[STATUS] <= 399", &Target::Http, &mut e, &mut w, &mut st);
        assert_eq!(r, Ok(()));
        assert_eq!(st, [json!("2xx"), json!("3xx")]);
        let r = condition("has([BODY].)", &Target::Http, &mut e, &mut w, &mut st);
        assert!(r.is_err());
    }

    #[test]
    fn patterns_become_anchored_regexes() {
        assert_eq!(glob_regex("*UP*"), "^(?s:.*)UP(?s:.*)$");
        assert_eq!(glob_regex("v1.2*"), "^v1\\.2(?s:.*)$");
    }

    #[test]
    fn values_are_typed_like_json() {
        assert_eq!(json_value("5"), json!(5));
        assert_eq!(json_value("true"), json!(true));
        assert_eq!(json_value("UP"), json!("UP"));
        assert_eq!(json_value("\"x y\""), json!("x y"));
    }
}
