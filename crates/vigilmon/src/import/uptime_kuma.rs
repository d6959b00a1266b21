//! Importing Uptime Kuma: a 1.x backup JSON (`notificationList`, `monitorList`), or,
//! since 2.x has no JSON export, its data folder's SQLite database (`kuma.db`: the
//! `monitor`, `notification`, `monitor_notification`, `tag` and `monitor_tag` tables),
//! opened read-only.
//! HTTP, keyword and JSON-query monitors become `http` monitors, port monitors `tcp`,
//! DNS monitors `dns`, push monitors heartbeats that keep their push token (the
//! `/api/push/{token}` form works unchanged), database and Redis monitors the types
//! of the same name; notifications become channels, and each monitor's set of
//! notifications a policy. Retries become confirmations.
//!
//! Monitors are read field by field under both of Kuma's spellings (the backup's
//! `retryInterval`, the database's `retry_interval`), so one mapping serves both.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::{Value as Json, json};
use vigilmon_core::heartbeat::is_valid_token;
use vigilmon_core::monitor::{
    DnsConfig, ExpectConfig, HeartbeatConfig, HttpConfig, IcmpConfig, JsonAssertionConfig,
    KindConfig, MAX_INTERVAL, MIN_INTERVAL, MysqlConfig, PostgresConfig, RedisConfig, TcpConfig,
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

use super::{Env, Imported, Outcome, read_json, tag};
use crate::config::SmtpSection;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Backup {
    version: Option<String>,
    notification_list: Vec<Notification>,
    monitor_list: Vec<Monitor>,
}

/// A notification: its settings are a JSON object written as a string.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(super) struct Notification {
    pub id: i64,
    pub name: String,
    pub config: String,
    #[serde(deserialize_with = "flex_bool")]
    pub active: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct Tag {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// A monitor, under the backup's and the database's spellings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(super) struct Monitor {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub parent: Option<i64>,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Option<String>,
    pub method: Option<String>,
    pub hostname: Option<String>,
    #[serde(deserialize_with = "flex_u64")]
    pub port: Option<u64>,
    #[serde(deserialize_with = "flex_u64")]
    pub interval: Option<u64>,
    #[serde(
        rename = "retryInterval",
        alias = "retry_interval",
        deserialize_with = "flex_u64"
    )]
    pub retry_interval: Option<u64>,
    #[serde(
        rename = "resendInterval",
        alias = "resend_interval",
        deserialize_with = "flex_u64"
    )]
    pub resend_interval: Option<u64>,
    #[serde(deserialize_with = "flex_u64")]
    pub maxretries: Option<u64>,
    #[serde(deserialize_with = "flex_f64")]
    pub timeout: Option<f64>,
    #[serde(deserialize_with = "flex_bool")]
    pub active: bool,
    pub keyword: Option<String>,
    #[serde(
        rename = "invertKeyword",
        alias = "invert_keyword",
        deserialize_with = "flex_bool"
    )]
    pub invert_keyword: bool,
    #[serde(
        rename = "ignoreTls",
        alias = "ignore_tls",
        deserialize_with = "flex_bool"
    )]
    pub ignore_tls: bool,
    #[serde(
        rename = "upsideDown",
        alias = "upside_down",
        deserialize_with = "flex_bool"
    )]
    pub upside_down: bool,
    #[serde(deserialize_with = "flex_u64")]
    pub maxredirects: Option<u64>,
    pub accepted_statuscodes: Vec<String>,
    pub dns_resolve_type: Option<String>,
    pub dns_resolve_server: Option<String>,
    #[serde(rename = "pushToken", alias = "push_token")]
    pub push_token: Option<String>,
    #[serde(rename = "jsonPath", alias = "json_path")]
    pub json_path: Option<String>,
    #[serde(rename = "expectedValue", alias = "expected_value")]
    pub expected_value: Option<String>,
    #[serde(rename = "jsonPathOperator", alias = "json_path_operator")]
    pub json_path_operator: Option<String>,
    #[serde(
        rename = "databaseConnectionString",
        alias = "database_connection_string"
    )]
    pub database_connection_string: Option<String>,
    #[serde(rename = "databaseQuery", alias = "database_query")]
    pub database_query: Option<String>,
    pub headers: Option<String>,
    pub body: Option<String>,
    pub basic_auth_user: Option<String>,
    pub basic_auth_pass: Option<String>,
    #[serde(rename = "authMethod", alias = "auth_method")]
    pub auth_method: Option<String>,
    #[serde(rename = "notificationIDList")]
    pub notification_ids: BTreeMap<String, Json>,
    pub tags: Vec<Tag>,
}

fn flex_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Json::deserialize(d)? {
        Json::Bool(b) => b,
        Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Json::String(s) => matches!(s.as_str(), "1" | "true"),
        _ => false,
    })
}

fn flex_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Json::deserialize(d)? {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn flex_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let f = flex_f64(d)?;
    Ok(f.filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
}

/// Imports an Uptime Kuma backup JSON `text` (read from `input`) into `out`.
pub fn import(input: &str, text: &str, out: &mut Imported, env: &mut Env) -> anyhow::Result<()> {
    let backup: Backup = read_json(input, text)?;
    if let Some(v) = &backup.version
        && !v.starts_with("1.")
    {
        out.report.push(
            "backup",
            v,
            Outcome::Changed(vec![format!(
                "made by Uptime Kuma {v}; the format read is 1.x's"
            )]),
        );
    }
    import_all(&backup.notification_list, &backup.monitor_list, out, env);
    Ok(())
}

/// Whether `path` is an SQLite database (by its header), rather than a backup JSON.
pub fn is_database(path: &str) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"SQLite format 3\0")
}

/// Imports Uptime Kuma's database `path` (`kuma.db`) into `out`, read-only.
pub async fn import_database(path: &str, out: &mut Imported, env: &mut Env) -> anyhow::Result<()> {
    use anyhow::Context;
    use sqlx::ConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("cannot open {path} as an SQLite database"))?;
    let table = |name: &'static str| format!("{path}: table {name}");
    let mut notifications = Vec::new();
    for row in sqlx::query("SELECT * FROM notification ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .with_context(|| table("notification"))?
    {
        let obj = row_object(&row).with_context(|| table("notification"))?;
        let n: Notification =
            serde_json::from_value(Json::Object(obj)).with_context(|| table("notification"))?;
        notifications.push(n);
    }
    let mut links: HashMap<i64, BTreeMap<String, Json>> = HashMap::new();
    for row in sqlx::query("SELECT monitor_id, notification_id FROM monitor_notification")
        .fetch_all(&mut conn)
        .await
        .with_context(|| table("monitor_notification"))?
    {
        use sqlx::Row;
        let (m, n): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        links
            .entry(m)
            .or_default()
            .insert(n.to_string(), Json::Bool(true));
    }
    let mut tags: HashMap<i64, Vec<Tag>> = HashMap::new();
    for row in sqlx::query(
        "SELECT monitor_tag.monitor_id, tag.name, monitor_tag.value FROM monitor_tag \
         JOIN tag ON tag.id = monitor_tag.tag_id ORDER BY monitor_tag.id",
    )
    .fetch_all(&mut conn)
    .await
    .with_context(|| table("monitor_tag"))?
    {
        use sqlx::Row;
        tags.entry(row.try_get(0)?).or_default().push(Tag {
            name: row.try_get(1)?,
            value: row.try_get(2)?,
        });
    }
    let mut monitors = Vec::new();
    for row in sqlx::query("SELECT * FROM monitor ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .with_context(|| table("monitor"))?
    {
        let mut obj = row_object(&row).with_context(|| table("monitor"))?;
        if let Some(Json::String(codes)) = obj.remove("accepted_statuscodes_json") {
            let codes: Json = serde_json::from_str(&codes)
                .with_context(|| format!("{}: accepted_statuscodes_json", table("monitor")))?;
            obj.insert("accepted_statuscodes".into(), codes);
        }
        let label = obj.get("name").cloned().unwrap_or(Json::Null);
        let mut m: Monitor = serde_json::from_value(Json::Object(obj))
            .with_context(|| format!("{}: monitor {label}", table("monitor")))?;
        m.notification_ids = links.remove(&m.id).unwrap_or_default();
        m.tags = tags.remove(&m.id).unwrap_or_default();
        monitors.push(m);
    }
    import_all(&notifications, &monitors, out, env);
    Ok(())
}

/// A row as a JSON object of its columns (SQLite's storage classes as JSON types).
fn row_object(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<serde_json::Map<String, Json>> {
    use sqlx::{Column, Row, TypeInfo, ValueRef};
    let mut obj = serde_json::Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i)?;
        let value = if raw.is_null() {
            Json::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" | "BOOLEAN" => json!(row.try_get_unchecked::<i64, _>(i)?),
                "REAL" => json!(row.try_get_unchecked::<f64, _>(i)?),
                "TEXT" | "DATETIME" | "DATE" | "TIME" => {
                    Json::String(row.try_get_unchecked::<String, _>(i)?)
                }
                _ => Json::Null,
            }
        };
        obj.insert(col.name().to_owned(), value);
    }
    Ok(obj)
}

/// Maps notifications and monitors, as read from a backup or a database.
pub(super) fn import_all(
    notifications: &[Notification],
    monitors: &[Monitor],
    out: &mut Imported,
    env: &mut Env,
) {
    let mut channels = HashMap::new();
    for n in notifications {
        if let Some(name) = import_notification(n, out, env) {
            channels.insert(n.id, name);
        }
    }
    let groups: HashMap<i64, String> = monitors
        .iter()
        .filter(|m| m.kind == "group")
        .map(|m| (m.id, m.name.clone()))
        .collect();
    for m in monitors {
        import_monitor(m, &channels, &groups, out, env);
    }
}

fn import_notification(n: &Notification, out: &mut Imported, env: &mut Env) -> Option<String> {
    let label = n.name.clone();
    let Ok(Json::Object(c)) = serde_json::from_str::<Json>(&n.config) else {
        out.report.push(
            "notification",
            &label,
            Outcome::NotMapped("its settings are not a JSON object".into()),
        );
        return None;
    };
    let get = |k: &str| -> Option<String> {
        match c.get(k)? {
            Json::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let kind = get("type").unwrap_or_default();
    let name = if n.name.trim().is_empty() {
        format!("notification {}", n.id)
    } else {
        n.name.trim().to_owned()
    };
    let mut changes = Vec::new();
    let mut secret = |field: &str, value: String| {
        env.secret(
            &format!("{name} {field}"),
            &value,
            &format!("channel {name:?}: {field}"),
        )
    };
    let channel = match kind.as_str() {
        "slack" => get("slackwebhookURL").map(|u| {
            ChannelKind::Slack(SlackConfig {
                webhook_url: Some(secret("webhook_url", u)),
            })
        }),
        "discord" => get("discordWebhookUrl").map(|u| {
            ChannelKind::Discord(DiscordConfig {
                webhook_url: Some(secret("webhook_url", u)),
            })
        }),
        "teams" => get("webhookUrl").map(|u| {
            ChannelKind::Teams(TeamsConfig {
                webhook_url: Some(secret("webhook_url", u)),
            })
        }),
        "mattermost" => get("mattermostWebhookUrl").map(|u| {
            ChannelKind::Mattermost(MattermostConfig {
                webhook_url: Some(secret("webhook_url", u)),
            })
        }),
        "GoogleChat" => get("googleChatWebhookURL").map(|u| {
            ChannelKind::GoogleChat(GoogleChatConfig {
                webhook_url: Some(secret("webhook_url", u)),
            })
        }),
        "PagerDuty" => get("pagerdutyIntegrationKey").map(|k| {
            ChannelKind::PagerDuty(PagerDutyConfig {
                routing_key: Some(secret("routing_key", k)),
                events_url: get("pagerdutyIntegrationUrl"),
            })
        }),
        "Opsgenie" => get("opsgenieApiKey").map(|k| {
            ChannelKind::Opsgenie(OpsgenieConfig {
                api_key: Some(secret("api_key", k)),
                api_url: (get("opsgenieRegion").as_deref() == Some("eu"))
                    .then(|| "https://api.eu.opsgenie.com".to_owned()),
            })
        }),
        "telegram" => get("telegramBotToken").map(|t| {
            ChannelKind::Telegram(TelegramConfig {
                bot_token: Some(secret("bot_token", t)),
                chat_id: get("telegramChatID"),
                api_url: get("telegramServerUrl"),
            })
        }),
        "ntfy" => get("ntfytopic").map(|topic| {
            let base = get("ntfyserverurl").unwrap_or_else(|| "https://ntfy.sh".into());
            let url = format!("{}/{}", base.trim_end_matches('/'), topic);
            if get("ntfyusername").is_some() && get("ntfyaccesstoken").is_none() {
                changes.push(
                    "its user name and password are not imported: Vigilmon sends an access token"
                        .into(),
                );
            }
            ChannelKind::Ntfy(NtfyConfig {
                url: Some(secret("url", url)),
                token: get("ntfyaccesstoken").map(|t| secret("token", t)),
            })
        }),
        "pushover" => get("pushoverapptoken").map(|t| {
            ChannelKind::Pushover(PushoverConfig {
                token: Some(secret("token", t)),
                user: get("pushoveruserkey"),
                api_url: None,
            })
        }),
        "gotify" => get("gotifyapplicationToken").map(|t| {
            ChannelKind::Gotify(GotifyConfig {
                url: get("gotifyserverurl"),
                token: Some(secret("token", t)),
            })
        }),
        "matrix" => get("accessToken").map(|t| {
            ChannelKind::Matrix(MatrixConfig {
                homeserver: get("homeserverUrl"),
                access_token: Some(secret("access_token", t)),
                room_id: get("internalRoomId"),
            })
        }),
        "webhook" => get("webhookURL").map(|u| {
            if get("webhookCustomBody").is_some()
                || get("webhookContentType").as_deref() == Some("custom")
            {
                changes
                    .push("Vigilmon's webhook POSTs its own JSON body, not the custom body".into());
            }
            let headers = get("webhookAdditionalHeaders")
                .and_then(|h| serde_json::from_str::<BTreeMap<String, Json>>(&h).ok())
                .map(|h| {
                    h.into_iter()
                        .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
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
        "smtp" => get("smtpTo").map(|to| {
            if out.smtp.is_none() {
                out.smtp = Some(SmtpSection {
                    host: get("smtpHost").unwrap_or_default(),
                    port: get("smtpPort").and_then(|p| p.parse().ok()),
                    username: get("smtpUsername"),
                    password: get("smtpPassword").map(|p| secret("smtp password", p)),
                    from: get("smtpFrom").unwrap_or_default(),
                    tls: (c.get("smtpSecure") == Some(&Json::Bool(true))).then(|| "tls".to_owned()),
                    accept_invalid_certs: false,
                });
            } else {
                changes.push(
                    "it sends through the one smtp: server, the first email notification's".into(),
                );
            }
            if get("smtpCC").is_some() || get("smtpBCC").is_some() {
                changes.push("its CC and BCC are added to the recipients".into());
            }
            let mut to: Vec<String> = [get("smtpCC"), get("smtpBCC")]
                .into_iter()
                .flatten()
                .fold(to, |acc, x| format!("{acc},{x}"))
                .split(',')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect();
            to.dedup();
            ChannelKind::Email(EmailConfig { to })
        }),
        _ => {
            out.report.push(
                "notification",
                &label,
                Outcome::NotMapped(format!("Vigilmon has no {kind} channel")),
            );
            return None;
        }
    };
    let Some(channel) = channel else {
        out.report.push(
            "notification",
            &label,
            Outcome::NotMapped("its required settings are missing".into()),
        );
        return None;
    };
    if !n.active {
        changes.push("it was turned off in Uptime Kuma".into());
    }
    let config = ChannelConfig {
        name: name.clone(),
        kind: channel,
        foreign_fields: Vec::new(),
    };
    out.add_channel("notification", &label, config, changes, env)
        .then_some(name)
}

/// Kuma's accepted codes (`"200-299"`, `"301"`) as Vigilmon's status patterns.
fn statuses(codes: &[String], changes: &mut Vec<String>) -> Option<Json> {
    if codes.is_empty() || codes == ["200-299"] {
        return None;
    }
    let mut out = Vec::new();
    for c in codes {
        match c.split_once('-') {
            None => match c.trim().parse::<u16>() {
                Ok(code) => out.push(json!(code)),
                Err(_) => changes.push(format!("accepted status {c:?} is not a code")),
            },
            Some((lo, hi)) => {
                let (Ok(lo), Ok(hi)) = (lo.trim().parse::<u16>(), hi.trim().parse::<u16>()) else {
                    changes.push(format!("accepted statuses {c:?} are not a range"));
                    continue;
                };
                if lo % 100 == 0 && hi % 100 == 99 && hi > lo {
                    for class in lo / 100..=hi / 100 {
                        out.push(json!(format!("{class}xx")));
                    }
                } else if hi >= lo && hi - lo < 20 {
                    out.extend((lo..=hi).map(|code| json!(code)));
                } else {
                    changes.push(format!("accepted statuses {c:?} widened to whole classes"));
                    for class in lo / 100..=hi / 100 {
                        out.push(json!(format!("{class}xx")));
                    }
                }
            }
        }
    }
    (!out.is_empty()).then_some(Json::Array(out))
}

/// A JSONata expression that is a plain path (`status`, `data.items[0].ok`), as
/// JSONPath.
fn json_path(expr: &str) -> Option<String> {
    let e = expr.trim().trim_start_matches("$.").trim_start_matches('$');
    let plain = !e.is_empty()
        && e.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c))
        && !e.starts_with('.');
    plain.then(|| format!("$.{e}"))
}

fn import_monitor(
    k: &Monitor,
    channels: &HashMap<i64, String>,
    groups: &HashMap<i64, String>,
    out: &mut Imported,
    env: &mut Env,
) {
    let label = k.name.clone();
    let not = |out: &mut Imported, why: String| {
        out.report.push("monitor", &label, Outcome::NotMapped(why));
    };
    if k.kind == "group" {
        not(
            out,
            "a group, not a check: its monitors are tagged with its name".into(),
        );
        return;
    }
    if k.upside_down {
        not(
            out,
            "upside-down mode (up when the check fails) has no equivalent".into(),
        );
        return;
    }
    let mut changes = Vec::new();
    let name = out.unique_name(&k.name, &mut changes);
    let url = k.url.clone().unwrap_or_default();
    let interval = k.interval.unwrap_or(60);
    let kind = match k.kind.as_str() {
        "http" | "keyword" | "json-query" => {
            if matches!(
                k.auth_method.as_deref(),
                Some("ntlm" | "mtls" | "oauth2-cc")
            ) {
                changes.push(format!(
                    "its {} authentication is not imported",
                    k.auth_method.as_deref().unwrap_or_default()
                ));
            }
            let mut expect = ExpectConfig {
                status: statuses(&k.accepted_statuscodes, &mut changes),
                ..ExpectConfig::default()
            };
            if k.kind == "keyword"
                && let Some(word) = k.keyword.clone().filter(|w| !w.is_empty())
            {
                if k.invert_keyword {
                    expect.body_not_contains = Some(word);
                } else {
                    expect.body_contains = Some(word);
                }
            }
            if k.kind == "json-query" {
                let op = k.json_path_operator.as_deref().unwrap_or("==");
                match (k.json_path.as_deref().and_then(json_path), op) {
                    (Some(path), "==") => expect.json.push(JsonAssertionConfig {
                        path,
                        equals: Some(json!(k.expected_value.clone().unwrap_or_default())),
                        exists: None,
                    }),
                    _ => changes.push(format!(
                        "its JSON query {:?} {op} {:?} is dropped: only a plain path compared with == maps",
                        k.json_path.as_deref().unwrap_or_default(),
                        k.expected_value.as_deref().unwrap_or_default()
                    )),
                }
            }
            let mut headers: BTreeMap<String, String> = match k.headers.as_deref() {
                Some(h) if !h.trim().is_empty() => {
                    match serde_json::from_str::<BTreeMap<String, Json>>(h) {
                        Ok(map) => map
                            .into_iter()
                            .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                            .collect(),
                        Err(_) => {
                            changes.push("its headers are not a JSON object: dropped".into());
                            BTreeMap::new()
                        }
                    }
                }
                _ => BTreeMap::new(),
            };
            if let Some(user) = k.basic_auth_user.clone().filter(|u| !u.is_empty()) {
                let pass = k.basic_auth_pass.clone().unwrap_or_default();
                headers.insert(
                    "Authorization".into(),
                    format!("Basic {}", base64(&format!("{user}:{pass}"))),
                );
            }
            for (key, value) in headers.iter_mut() {
                if super::gatus::is_credential_header(key) {
                    *value = env.secret(
                        &format!("{name} {key}"),
                        value,
                        &format!("monitor {name:?}: header {key}"),
                    );
                }
            }
            let public: Vec<String> = headers
                .keys()
                .filter(|h| !super::gatus::is_credential_header(h))
                .cloned()
                .collect();
            KindConfig::Http(HttpConfig {
                url: Some(url),
                method: k
                    .method
                    .clone()
                    .filter(|m| !m.eq_ignore_ascii_case("GET"))
                    .map(|m| m.to_ascii_uppercase()),
                public_headers: (!public.is_empty()).then_some(public),
                headers: (!headers.is_empty()).then_some(headers),
                body: k.body.clone().filter(|b| !b.is_empty()),
                public_body: None,
                follow_redirects: (k.maxredirects == Some(0)).then_some(false),
                verify_tls: k.ignore_tls.then_some(false),
                expect: (expect != ExpectConfig::default()).then_some(expect),
                warn: None,
            })
        }
        "port" => KindConfig::Tcp(TcpConfig {
            host: k.hostname.clone(),
            port: k.port.and_then(|p| u32::try_from(p).ok()),
            send: None,
            expect: None,
            warn: None,
        }),
        "dns" => {
            let resolver = k.dns_resolve_server.clone().map(|s| {
                let first = s.split(',').next().unwrap_or_default().trim().to_owned();
                match k.port {
                    Some(p) if p != 53 => format!("{first}:{p}"),
                    _ => first,
                }
            });
            KindConfig::Dns(DnsConfig {
                query: k.hostname.clone(),
                record: k.dns_resolve_type.clone(),
                resolver,
                expect: None,
                warn: None,
            })
        }
        "push" => {
            let retries = k.maxretries.unwrap_or(0);
            let grace = match k.retry_interval.unwrap_or(interval).saturating_mul(retries) {
                0 => interval,
                g => g,
            };
            changes.push(format!(
                "a push is expected every {} with {} of grace (Uptime Kuma's retries)",
                HumanDuration(Duration::from_secs(interval)),
                HumanDuration(Duration::from_secs(grace))
            ));
            let token = k.push_token.clone().filter(|t| !t.is_empty());
            let keep = token.clone().filter(|t| is_valid_token(t));
            match (&token, &keep) {
                (Some(_), None) => changes.push(
                    "its push token is shorter than 16 characters: it gets a new push URL".into(),
                ),
                (None, _) => changes.push("it had no push token: it gets a new push URL".into()),
                _ => {}
            }
            KindConfig::Heartbeat(HeartbeatConfig {
                every: Some(HumanDuration(Duration::from_secs(interval.max(1)))),
                grace: Some(HumanDuration(Duration::from_secs(grace.max(1)))),
                token: keep,
                ..HeartbeatConfig::default()
            })
        }
        "postgres" | "mysql" | "redis" => {
            let Some(conn) = k
                .database_connection_string
                .clone()
                .filter(|c| !c.is_empty())
            else {
                not(out, "it has no connection string".into());
                return;
            };
            let conn = env.secret(
                &format!("{name} url"),
                &conn,
                &format!("monitor {name:?}: connection URL (with its password)"),
            );
            let query = k.database_query.clone().filter(|q| !q.trim().is_empty());
            match k.kind.as_str() {
                "postgres" => KindConfig::Postgres(PostgresConfig {
                    url: Some(conn),
                    query,
                    ..PostgresConfig::default()
                }),
                "mysql" => KindConfig::Mysql(MysqlConfig {
                    url: Some(conn),
                    query,
                    ..MysqlConfig::default()
                }),
                _ => KindConfig::Redis(RedisConfig {
                    url: Some(conn),
                    ..RedisConfig::default()
                }),
            }
        }
        "ping" => {
            let Some(host) = k.hostname.clone().filter(|h| !h.trim().is_empty()) else {
                not(out, "it has no host name".into());
                return;
            };
            KindConfig::Icmp(IcmpConfig {
                host: Some(host.trim().to_owned()),
                ..IcmpConfig::default()
            })
        }
        "grpc-keyword" => {
            return not(
                out,
                "Vigilmon's grpc monitors ask the standard health service; they do not call a method and read its answer".into(),
            );
        }
        other => return not(out, format!("Vigilmon has no {other} monitor type")),
    };
    let mut m = MonitorConfig::new(name, kind);
    let probed = !matches!(m.kind, KindConfig::Heartbeat(_));
    if probed {
        let i = Duration::from_secs(interval);
        if i < MIN_INTERVAL {
            changes.push(format!(
                "interval {interval}s raised to 10s (Vigilmon's shortest)"
            ));
            m.interval = Some(HumanDuration(MIN_INTERVAL));
        } else if i > MAX_INTERVAL {
            changes.push(format!(
                "interval {interval}s lowered to 24h (Vigilmon's longest)"
            ));
            m.interval = Some(HumanDuration(MAX_INTERVAL));
        } else if interval != 60 {
            m.interval = Some(HumanDuration(i));
        }
        let every = m.interval.map_or(Duration::from_secs(60), |d| d.0);
        if let Some(t) = k.timeout.filter(|t| *t > 0.0) {
            let t = Duration::from_millis((t * 1000.0) as u64);
            if t >= every {
                let capped = every.saturating_sub(Duration::from_secs(1));
                changes.push(format!(
                    "timeout lowered to {} (it must be shorter than the interval)",
                    HumanDuration(capped)
                ));
                m.timeout = Some(HumanDuration(capped));
            } else {
                m.timeout = Some(HumanDuration(t));
            }
        }
        let retries = k.maxretries.unwrap_or(0);
        if retries > 0 {
            let confirmations = retries.saturating_add(1).min(10) as u32;
            if retries >= 10 {
                changes.push(format!(
                    "{retries} retries lowered to 9 (10 confirmations, Vigilmon's most)"
                ));
            }
            let retries_become = if retries == 1 {
                "1 retry becomes".to_owned()
            } else {
                format!("{retries} retries become")
            };
            changes.push(format!(
                "{retries_become} {confirmations} confirmations, checked at once rather than every retry interval"
            ));
            m.confirmations = Some(confirmations);
        } else {
            // Down on the first failure, as in Uptime Kuma.
            m.confirmations = Some(1);
        }
    }
    if k.resend_interval.unwrap_or(0) > 0 {
        changes
            .push("its resend interval is not imported (a policy's remind_every does that)".into());
    }
    if k.description
        .as_deref()
        .is_some_and(|d| !d.trim().is_empty())
    {
        changes.push("its description is not kept: monitors have none".into());
    }
    m.paused = !k.active;
    let mut tags: Vec<String> = k
        .tags
        .iter()
        .filter_map(|t| match t.value.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => tag(&format!("{}:{v}", t.name)),
            None => tag(&t.name),
        })
        .collect();
    if let Some(group) = k.parent.and_then(|p| groups.get(&p)) {
        tags.extend(tag(group));
    }
    tags.dedup();
    m.tags = tags;
    let mut chosen: Vec<String> = Vec::new();
    for (id, on) in &k.notification_ids {
        if !matches!(on, Json::Bool(true)) && on.as_i64() != Some(1) {
            continue;
        }
        match id.parse::<i64>().ok().and_then(|id| channels.get(&id)) {
            Some(c) if !chosen.contains(c) => chosen.push(c.clone()),
            Some(_) => {}
            None => changes.push(format!(
                "its notification {id} is dropped: it was not imported"
            )),
        }
    }
    if !chosen.is_empty() {
        m.policy = Some(out.policy_for(&chosen, &["down", "recovered"]));
    }
    out.add_monitor("monitor", &label, m, changes, env);
}

/// Standard base64 (for a Basic authorization header).
fn base64(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = s.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_codes_become_statuses() {
        let mut changes = Vec::new();
        let s = |c: &[&str], ch: &mut Vec<String>| {
            statuses(&c.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>(), ch)
        };
        assert_eq!(s(&["200-299"], &mut changes), None);
        assert_eq!(
            s(&["200-399", "404"], &mut changes),
            Some(json!(["2xx", "3xx", 404]))
        );
        assert_eq!(s(&["200-202"], &mut changes), Some(json!([200, 201, 202])));
        assert!(changes.is_empty());
    }

    #[test]
    fn plain_json_queries_become_paths() {
        assert_eq!(json_path("status").as_deref(), Some("$.status"));
        assert_eq!(
            json_path("$.data.items[0].ok").as_deref(),
            Some("$.data.items[0].ok")
        );
        assert_eq!(json_path("$count(items) > 2"), None);
    }

    #[test]
    fn huge_numbers_from_a_file_are_bounded_not_overflowed() {
        let m = |kind: &str| Monitor {
            id: 1,
            name: format!("huge {kind}"),
            kind: kind.into(),
            hostname: Some("db.internal".into()),
            port: Some(u64::MAX),
            interval: Some(u64::MAX),
            retry_interval: Some(u64::MAX),
            maxretries: Some(u64::MAX),
            timeout: Some(f64::MAX),
            active: true,
            ..Monitor::default()
        };
        let mut out = Imported::default();
        let mut env = Env::new(false);
        import_all(&[], &[m("push"), m("port")], &mut out, &mut env);
        assert_eq!(out.report.lines.len(), 2, "{:?}", out.report.lines);
        let port = &out.report.lines[1];
        assert!(
            matches!(&port.outcome, Outcome::NotMapped(why) if why.contains("port")),
            "{port}"
        );
    }

    #[test]
    fn basic_credentials_are_base64() {
        assert_eq!(base64("user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64("a"), "YQ==");
        assert_eq!(base64("ab"), "YWI=");
    }
}
