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
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
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

/// A channel's secrets: Slack's webhook URL, PagerDuty's routing key (and a password
/// in its events URL), a webhook's URL, signing secret and header values. They are
/// bound to the origin the channel sends to.
impl vigilmon_core::secret::Secrets for ChannelConfig {
    fn visit_secrets(
        &mut self,
        f: &mut dyn FnMut(&str, vigilmon_core::secret::SecretKind, &mut String),
    ) {
        use vigilmon_core::secret::SecretKind::{UrlPassword, Whole};
        match &mut self.kind {
            ChannelKind::Slack(c) => {
                if let Some(u) = c.webhook_url.as_mut() {
                    f("webhook_url", Whole, u);
                }
            }
            ChannelKind::PagerDuty(c) => {
                if let Some(k) = c.routing_key.as_mut() {
                    f("routing_key", Whole, k);
                }
                if let Some(u) = c.events_url.as_mut() {
                    f("events_url", UrlPassword, u);
                }
            }
            ChannelKind::Webhook(c) => {
                if let Some(u) = c.url.as_mut() {
                    f("url", Whole, u);
                }
                if let Some(s) = c.secret.as_mut() {
                    f("secret", Whole, s);
                }
                for (name, value) in c.headers.iter_mut().flatten() {
                    f(&format!("headers.{name}"), Whole, value);
                }
            }
            ChannelKind::Email(_) | ChannelKind::Unknown(_) => {}
        }
    }

    fn secret_target(&self) -> Option<String> {
        let url = match &self.kind {
            ChannelKind::Slack(c) => c.webhook_url.as_deref(),
            ChannelKind::PagerDuty(c) => Some(
                c.events_url
                    .as_deref()
                    .unwrap_or(crate::spec::PAGERDUTY_EVENTS_URL),
            ),
            ChannelKind::Webhook(c) => c.url.as_deref(),
            ChannelKind::Email(_) | ChannelKind::Unknown(_) => None,
        };
        url.and_then(vigilmon_core::secret::origin)
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
            ["url", "secret", "webhook_url", "routing_key"]
        );
        // The registry and the channels' `Secrets` agree: every whole secret the
        // registry names is masked for readers, and so is every header value.
        let full = [
            json!({"name": "w", "type": "webhook", "url": "https://h.example/x?token=t",
                "secret": "0123456789abcdef", "headers": {"Private-Token": "hdr-secret"}}),
            json!({"name": "s", "type": "slack", "webhook_url": "https://hooks.slack.com/T/B/X"}),
            json!({"name": "pd", "type": "pagerduty", "routing_key": "rk-secret",
                "events_url": "https://u:pw@events.example/v2/enqueue"}),
        ];
        for doc in full {
            let c: ChannelConfig = serde_json::from_value(doc).unwrap();
            c.build().unwrap();
            let shown = serde_json::to_value(vigilmon_core::secret::masked(&c)).unwrap();
            let info = crate::spec::channel_info(c.kind_name()).unwrap();
            for s in info.secrets {
                assert_eq!(shown[s], vigilmon_core::secret::MASK, "{shown}");
            }
            let text = shown.to_string();
            for secret in [
                "token=t",
                "0123456789abcdef",
                "hdr-secret",
                "T/B/X",
                "rk-secret",
                ":pw@",
            ] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
        let pd = chan(json!({"name": "pd", "type": "pagerduty", "routing_key": "R"})).unwrap();
        assert!(pd.pages());
    }

    #[test]
    fn a_channel_is_written_back_as_it_was_read() {
        for v in [
            json!({"name": "s", "type": "slack", "webhook_url": "https://h/x"}),
            json!({"name": "pd", "type": "pagerduty", "routing_key": "rk-secret", "events_url": "http://pd"}),
            json!({"name": "e", "type": "email", "to": ["a@b"]}),
            json!({"name": "w", "type": "webhook", "url": "https://w", "secret": "0123456789abcdef",
                   "headers": {"X-A": "1"}}),
        ] {
            let c: ChannelConfig = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(&c).unwrap(), v);
        }
    }
}
