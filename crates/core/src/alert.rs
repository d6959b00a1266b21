//! Alerting configuration: channels (where notifications go) and policies (who is told
//! what, how urgently, how often), as users write them, validated into specs.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::validation::ValidationError;

/// How urgent an incident is. P1 pages; P4 is informational.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "P1" => Some(Priority::P1),
            "P2" => Some(Priority::P2),
            "P3" => Some(Priority::P3),
            "P4" => Some(Priority::P4),
            _ => None,
        }
    }

    /// PagerDuty Events API v2 severity.
    pub fn pagerduty_severity(self) -> &'static str {
        match self {
            Priority::P1 => "critical",
            Priority::P2 => "error",
            Priority::P3 => "warning",
            Priority::P4 => "info",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which events a policy notifies about.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NotifyOn {
    Down,
    Degraded,
    Recovered,
    Acknowledged,
}

impl NotifyOn {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "down" => Some(NotifyOn::Down),
            "degraded" => Some(NotifyOn::Degraded),
            "recovered" => Some(NotifyOn::Recovered),
            "acknowledged" => Some(NotifyOn::Acknowledged),
            _ => None,
        }
    }
}

/// A policy as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub name: String,
    /// P1 to P4. Default P3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default)]
    pub channels: Vec<String>,
    /// Default `[down, recovered]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_on: Option<Vec<String>>,
    /// While down and not acknowledged, remind this often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_every: Option<HumanDuration>,
    /// After a time unacknowledged, add channels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalate: Vec<EscalationConfig>,
    /// Degraded states open incidents too (by default they only send a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_on_degraded: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    pub after: HumanDuration,
    pub channels: Vec<String>,
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    pub name: String,
    pub priority: Priority,
    pub channels: Vec<String>,
    pub notify_on: Vec<NotifyOn>,
    pub remind_every: Option<Duration>,
    pub escalate: Vec<EscalationStep>,
    pub incident_on_degraded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationStep {
    pub after: Duration,
    pub channels: Vec<String>,
}

impl PolicySpec {
    pub fn notifies(&self, on: NotifyOn) -> bool {
        self.notify_on.contains(&on)
    }
}

fn check_name(errs: &mut Vec<ValidationError>, name: &str) {
    if name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        errs.push(ValidationError::new(
            "name",
            "must be 1-100 printable characters",
        ));
    }
}

impl PolicyConfig {
    /// Validates the policy; `channel_exists` says whether a channel name is known.
    pub fn build(
        &self,
        channel_exists: impl Fn(&str) -> bool,
    ) -> Result<PolicySpec, Vec<ValidationError>> {
        let mut errs = Vec::new();
        check_name(&mut errs, &self.name);
        let priority = match self.priority.as_deref() {
            None => Priority::P3,
            Some(p) => Priority::parse(p).unwrap_or_else(|| {
                errs.push(ValidationError::new(
                    "priority",
                    format!("{p:?} must be P1, P2, P3 or P4"),
                ));
                Priority::P3
            }),
        };
        let mut check_channels = |field: &str, list: &[String]| {
            for (i, c) in list.iter().enumerate() {
                if !channel_exists(c) {
                    errs.push(ValidationError::new(
                        format!("{field}[{i}]"),
                        format!("no channel named {c:?}"),
                    ));
                }
            }
        };
        check_channels("channels", &self.channels);
        for (i, step) in self.escalate.iter().enumerate() {
            check_channels(&format!("escalate[{i}].channels"), &step.channels);
        }
        if self.channels.is_empty() && self.escalate.is_empty() {
            errs.push(ValidationError::new(
                "channels",
                "must list at least one channel",
            ));
        }
        let mut notify_on = Vec::new();
        match &self.notify_on {
            None => notify_on = vec![NotifyOn::Down, NotifyOn::Recovered],
            Some(list) => {
                for (i, s) in list.iter().enumerate() {
                    match NotifyOn::parse(s) {
                        Some(n) if !notify_on.contains(&n) => notify_on.push(n),
                        Some(_) => {}
                        None => errs.push(ValidationError::new(
                            format!("notify_on[{i}]"),
                            format!("{s:?} must be down, degraded, recovered or acknowledged"),
                        )),
                    }
                }
            }
        }
        if let Some(r) = self.remind_every
            && r.0 < Duration::from_secs(10)
        {
            errs.push(ValidationError::new("remind_every", "must be at least 10s"));
        }
        let mut last = Duration::ZERO;
        for (i, s) in self.escalate.iter().enumerate() {
            if s.after.0 <= last && i > 0 {
                errs.push(ValidationError::new(
                    format!("escalate[{i}].after"),
                    "steps must come in increasing order",
                ));
            }
            if s.after.0.is_zero() {
                errs.push(ValidationError::new(
                    format!("escalate[{i}].after"),
                    "must be greater than zero",
                ));
            }
            last = s.after.0;
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(PolicySpec {
            name: self.name.trim().to_owned(),
            priority,
            channels: self.channels.clone(),
            notify_on,
            remind_every: self.remind_every.map(|d| d.0),
            escalate: self
                .escalate
                .iter()
                .map(|s| EscalationStep {
                    after: s.after.0,
                    channels: s.channels.clone(),
                })
                .collect(),
            incident_on_degraded: self.incident_on_degraded.unwrap_or(false),
        })
    }
}

/// A channel as written: `name`, `type`, and the type's settings. Secrets (webhook
/// URLs, routing keys, webhook secrets) are never shown back by the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub name: String,
    /// `slack`, `pagerduty`, `email` or `webhook`.
    #[serde(rename = "type")]
    pub kind: String,
    /// slack: the incoming-webhook URL (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// pagerduty: the Events API v2 routing key (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// pagerduty: the enqueue endpoint. Default `https://events.pagerduty.com/v2/enqueue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_url: Option<String>,
    /// email: recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// webhook: where to POST the JSON event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// webhook: HMAC-SHA256 signing secret (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// webhook: extra request headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

/// PagerDuty's Events API v2 enqueue endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A validated channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelSpec {
    Slack {
        webhook_url: String,
    },
    PagerDuty {
        routing_key: String,
        events_url: String,
    },
    Email {
        to: Vec<String>,
    },
    Webhook {
        url: String,
        secret: Option<String>,
        headers: Vec<(String, String)>,
    },
}

impl ChannelSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSpec::Slack { .. } => "slack",
            ChannelSpec::PagerDuty { .. } => "pagerduty",
            ChannelSpec::Email { .. } => "email",
            ChannelSpec::Webhook { .. } => "webhook",
        }
    }
}

fn http_url(
    errs: &mut Vec<ValidationError>,
    field: &str,
    v: Option<&str>,
    required: bool,
) -> Option<String> {
    match v.map(str::trim) {
        None | Some("") => {
            if required {
                errs.push(ValidationError::new(field, "is required"));
            }
            None
        }
        Some(u) => match url::Url::parse(u) {
            Ok(p) if (p.scheme() == "http" || p.scheme() == "https") && p.host_str().is_some() => {
                Some(u.to_owned())
            }
            _ => {
                errs.push(ValidationError::new(
                    field,
                    "must be an http:// or https:// URL",
                ));
                None
            }
        },
    }
}

impl ChannelConfig {
    /// The names of the fields that hold secrets.
    pub const SECRET_FIELDS: [&'static str; 3] = ["webhook_url", "routing_key", "secret"];

    pub fn build(&self) -> Result<ChannelSpec, Vec<ValidationError>> {
        let mut errs = Vec::new();
        check_name(&mut errs, &self.name);
        let refuse = |errs: &mut Vec<ValidationError>, fields: &[(&str, bool)]| {
            for (f, present) in fields {
                if *present {
                    errs.push(ValidationError::new(
                        *f,
                        format!("does not apply to {} channels", self.kind),
                    ));
                }
            }
        };
        let spec = match self.kind.as_str() {
            "slack" => {
                refuse(
                    &mut errs,
                    &[
                        ("routing_key", self.routing_key.is_some()),
                        ("events_url", self.events_url.is_some()),
                        ("to", !self.to.is_empty()),
                        ("url", self.url.is_some()),
                        ("secret", self.secret.is_some()),
                        ("headers", self.headers.is_some()),
                    ],
                );
                http_url(&mut errs, "webhook_url", self.webhook_url.as_deref(), true)
                    .map(|webhook_url| ChannelSpec::Slack { webhook_url })
            }
            "pagerduty" => {
                refuse(
                    &mut errs,
                    &[
                        ("webhook_url", self.webhook_url.is_some()),
                        ("to", !self.to.is_empty()),
                        ("url", self.url.is_some()),
                        ("secret", self.secret.is_some()),
                        ("headers", self.headers.is_some()),
                    ],
                );
                let key = match self.routing_key.as_deref().map(str::trim) {
                    Some(k) if !k.is_empty() && k.len() <= 64 => Some(k.to_owned()),
                    _ => {
                        errs.push(ValidationError::new(
                            "routing_key",
                            "is required (the Events API v2 integration key)",
                        ));
                        None
                    }
                };
                let events_url = match &self.events_url {
                    Some(u) => http_url(&mut errs, "events_url", Some(u), true),
                    None => Some(PAGERDUTY_EVENTS_URL.to_owned()),
                };
                match (key, events_url) {
                    (Some(routing_key), Some(events_url)) => Some(ChannelSpec::PagerDuty {
                        routing_key,
                        events_url,
                    }),
                    _ => None,
                }
            }
            "email" => {
                refuse(
                    &mut errs,
                    &[
                        ("webhook_url", self.webhook_url.is_some()),
                        ("routing_key", self.routing_key.is_some()),
                        ("events_url", self.events_url.is_some()),
                        ("url", self.url.is_some()),
                        ("secret", self.secret.is_some()),
                        ("headers", self.headers.is_some()),
                    ],
                );
                if self.to.is_empty() {
                    errs.push(ValidationError::new("to", "must list at least one address"));
                }
                for (i, a) in self.to.iter().enumerate() {
                    let a = a.trim();
                    if !a.contains('@') || a.chars().any(char::is_whitespace) || a.len() > 254 {
                        errs.push(ValidationError::new(
                            format!("to[{i}]"),
                            format!("{a:?} is not an email address"),
                        ));
                    }
                }
                Some(ChannelSpec::Email {
                    to: self.to.iter().map(|a| a.trim().to_owned()).collect(),
                })
            }
            "webhook" => {
                refuse(
                    &mut errs,
                    &[
                        ("webhook_url", self.webhook_url.is_some()),
                        ("routing_key", self.routing_key.is_some()),
                        ("events_url", self.events_url.is_some()),
                        ("to", !self.to.is_empty()),
                    ],
                );
                let mut headers = Vec::new();
                for (k, v) in self.headers.iter().flatten() {
                    if k.is_empty()
                        || !k
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                    {
                        errs.push(ValidationError::new(
                            format!("headers.{k}"),
                            "is not a valid header name",
                        ));
                    } else if v.bytes().any(|b| b == b'\r' || b == b'\n') {
                        errs.push(ValidationError::new(
                            format!("headers.{k}"),
                            "must not contain line breaks",
                        ));
                    } else {
                        headers.push((k.clone(), v.clone()));
                    }
                }
                if self.secret.as_deref().is_some_and(|s| s.len() < 16) {
                    errs.push(ValidationError::new(
                        "secret",
                        "must be at least 16 characters",
                    ));
                }
                http_url(&mut errs, "url", self.url.as_deref(), true).map(|url| {
                    ChannelSpec::Webhook {
                        url,
                        secret: self.secret.clone(),
                        headers,
                    }
                })
            }
            "" => {
                errs.push(ValidationError::new(
                    "type",
                    "is required: slack, pagerduty, email or webhook",
                ));
                None
            }
            other => {
                errs.push(ValidationError::new("type", format!("unknown channel type {other:?}; expected slack, pagerduty, email or webhook")));
                None
            }
        };
        match spec {
            Some(s) if errs.is_empty() => Ok(s),
            _ => Err(errs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chan(v: serde_json::Value) -> Result<ChannelSpec, Vec<String>> {
        serde_json::from_value::<ChannelConfig>(v)
            .unwrap()
            .build()
            .map_err(|e| e.into_iter().map(|e| e.field).collect())
    }

    #[test]
    fn channels() {
        assert_eq!(
            chan(json!({"name": "slack-ops", "type": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/X"})).unwrap().kind(),
            "slack"
        );
        let pd =
            chan(json!({"name": "pd", "type": "pagerduty", "routing_key": "R0UT1NG"})).unwrap();
        assert_eq!(
            pd,
            ChannelSpec::PagerDuty {
                routing_key: "R0UT1NG".into(),
                events_url: PAGERDUTY_EVENTS_URL.into()
            }
        );
        assert_eq!(
            chan(json!({"name": "e", "type": "email", "to": ["ops@example.com", "nope"]}))
                .unwrap_err(),
            ["to[1]"]
        );
        assert_eq!(
            chan(json!({"name": "w", "type": "webhook", "url": "ftp://x", "secret": "short"}))
                .unwrap_err(),
            ["secret", "url"]
        );
        assert_eq!(
            chan(json!({"name": "s", "type": "slack", "to": ["a@b"]})).unwrap_err(),
            ["to", "webhook_url"]
        );
        assert_eq!(
            chan(json!({"name": "s", "type": "sms"})).unwrap_err(),
            ["type"]
        );
    }

    #[test]
    fn policies() {
        let known = |c: &str| ["slack-ops", "pagerduty-oncall", "email-leads"].contains(&c);
        let p: PolicyConfig = serde_json::from_value(json!({
            "name": "p1-page", "priority": "P1", "channels": ["pagerduty-oncall", "slack-ops"],
            "notify_on": ["down", "recovered"], "remind_every": "30m",
            "escalate": [{"after": "15m", "channels": ["email-leads"]}]
        }))
        .unwrap();
        let s = p.build(known).unwrap();
        assert_eq!(s.priority, Priority::P1);
        assert_eq!(s.remind_every, Some(Duration::from_secs(1800)));
        assert_eq!(s.escalate[0].after, Duration::from_secs(900));
        let p: PolicyConfig = serde_json::from_value(json!({"name": "x", "priority": "P9", "channels": ["nope"], "notify_on": ["sometimes"], "remind_every": "5s"})).unwrap();
        let fields: Vec<String> = p
            .build(known)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["priority", "channels[0]", "notify_on[0]", "remind_every"]
        );
        assert_eq!(Priority::P1.pagerduty_severity(), "critical");
        assert_eq!(Priority::P4.pagerduty_severity(), "info");
    }
}
