//! Notification channels as users write them: a name, a `type`, and that type's
//! settings ([`ChannelKind`], one variant per channel, each defined in its channel's
//! module beside its renderer), validated into a [`ChannelSpec`] that delivery runs
//! from. [`CHANNELS`] lists them, with their secret settings and whether they page
//! people; the API, the UI and the docs take the channels from it.
//!
//! The JSON shape is flat (`{"name": …, "type": "slack", "webhook_url": …}`) and is
//! read with `vigilmon_core::tagged`, like monitors: errors keep their paths, and a
//! setting of another channel type is refused by name when built.
//!
//! Adding a channel: a module with its settings struct, `build`, a renderer and its
//! send step; one line in [`ChannelKind`]'s declaration, one variant in
//! [`ChannelSpec`], one row in [`CHANNELS`] (`docs/CONTRIBUTING.md`).

use serde::{Deserialize, Serialize};
use vigilmon_core::ValidationError;
use vigilmon_core::alert::check_name;

use crate::email::EmailConfig;
use crate::pagerduty::PagerDutyConfig;
use crate::slack::SlackConfig;
use crate::spec::{ChannelInfo, ChannelSpec};
use crate::webhook::WebhookConfig;

/// A channel as written: `name`, `type`, and the type's settings. Secrets (webhook
/// URLs, routing keys, webhook secrets) are never shown back by the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self")]
pub struct ChannelConfig {
    #[serde(default)]
    pub name: String,
    /// The channel's type (`type: slack`, …) and that type's settings.
    #[serde(flatten, skip_deserializing)]
    pub kind: ChannelKind,
    /// Settings that were given but belong to another channel type; `build` refuses
    /// them by name. Never written back.
    #[serde(skip)]
    pub foreign_fields: Vec<String>,
}

vigilmon_core::tagged_config!(ChannelConfig, ChannelKind, "channel");

vigilmon_core::tagged_kinds! {
    /// A channel's type and its type's own settings: one variant per channel.
    pub enum ChannelKind as "ChannelType" {
        Slack(SlackConfig) = "slack",
        PagerDuty(PagerDutyConfig) = "pagerduty",
        Email(EmailConfig) = "email",
        Webhook(WebhookConfig) = "webhook",
    }
}

impl ChannelInfo {
    /// The settings this type takes besides `name`, in declaration order.
    pub fn fields(&self) -> &'static [&'static str] {
        ChannelKind::fields_of(self.name).unwrap_or(&[])
    }
}

impl ChannelKind {
    /// The secret settings that are set, by name, to read or replace.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Option<String>)> {
        match self {
            ChannelKind::Slack(c) => vec![("webhook_url", &mut c.webhook_url)],
            ChannelKind::PagerDuty(c) => vec![("routing_key", &mut c.routing_key)],
            ChannelKind::Email(_) | ChannelKind::Unknown(_) => Vec::new(),
            ChannelKind::Webhook(c) => vec![("secret", &mut c.secret)],
        }
    }
}

impl ChannelConfig {
    /// A channel named `name` of the given type.
    pub fn new(name: impl Into<String>, kind: ChannelKind) -> Self {
        ChannelConfig {
            name: name.into(),
            kind,
            foreign_fields: Vec::new(),
        }
    }

    /// The channel's type name.
    pub fn kind_name(&self) -> &str {
        self.kind.name()
    }

    /// Validates the settings into a [`ChannelSpec`], or returns every problem.
    pub fn build(&self) -> Result<ChannelSpec, Vec<ValidationError>> {
        let mut errs = Vec::new();
        check_name(&mut errs, &self.name);
        if !matches!(self.kind, ChannelKind::Unknown(_)) {
            for f in &self.foreign_fields {
                errs.push(ValidationError::new(
                    f.clone(),
                    format!("does not apply to {} channels", self.kind.name()),
                ));
            }
        }
        let spec = match &self.kind {
            ChannelKind::Slack(c) => c.build(&mut errs),
            ChannelKind::PagerDuty(c) => c.build(&mut errs),
            ChannelKind::Email(c) => c.build(&mut errs),
            ChannelKind::Webhook(c) => c.build(&mut errs),
            ChannelKind::Unknown(other) if other.is_empty() => {
                errs.push(ValidationError::new(
                    "type",
                    "is required: slack, pagerduty, email or webhook",
                ));
                None
            }
            ChannelKind::Unknown(other) => {
                errs.push(ValidationError::new(
                    "type",
                    format!(
                        "unknown channel type {other:?}; expected slack, pagerduty, email or webhook"
                    ),
                ));
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
    use crate::spec::{CHANNELS, PAGERDUTY_EVENTS_URL, secret_fields};
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
    fn every_channel_is_listed_with_its_settings_and_secrets() {
        for c in CHANNELS {
            assert!(ChannelKind::fields_of(c.name).is_some(), "{}", c.name);
            for s in c.secrets {
                assert!(c.fields().contains(s), "{}: {s}", c.name);
            }
        }
        assert_eq!(
            <ChannelConfig as vigilmon_core::tagged::Tagged>::common_fields(),
            ["name"]
        );
        assert_eq!(
            secret_fields().collect::<Vec<_>>(),
            ["secret", "webhook_url", "routing_key"]
        );
        let pd = chan(json!({"name": "pd", "type": "pagerduty", "routing_key": "R"})).unwrap();
        assert!(pd.pages());
    }

    #[test]
    fn a_channel_is_written_back_as_it_was_read() {
        for v in [
            json!({"name": "s", "type": "slack", "webhook_url": "https://h/x"}),
            json!({"name": "p", "type": "pagerduty", "routing_key": "R", "events_url": "http://pd"}),
            json!({"name": "e", "type": "email", "to": ["a@b"]}),
            json!({"name": "w", "type": "webhook", "url": "https://w", "secret": "0123456789abcdef",
                   "headers": {"X-A": "1"}}),
        ] {
            let c: ChannelConfig = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(&c).unwrap(), v);
        }
    }
}
