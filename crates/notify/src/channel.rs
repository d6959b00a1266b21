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

use crate::discord::DiscordConfig;
use crate::email::EmailConfig;
use crate::google_chat::GoogleChatConfig;
use crate::gotify::GotifyConfig;
use crate::matrix::MatrixConfig;
use crate::mattermost::MattermostConfig;
use crate::ntfy::NtfyConfig;
use crate::opsgenie::OpsgenieConfig;
use crate::pagerduty::PagerDutyConfig;
use crate::pushover::PushoverConfig;
use crate::slack::SlackConfig;
use crate::spec::{ChannelInfo, ChannelSpec, known_types};
use crate::teams::TeamsConfig;
use crate::telegram::TelegramConfig;
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
        Discord(DiscordConfig) = "discord",
        Teams(TeamsConfig) = "teams",
        Telegram(TelegramConfig) = "telegram",
        Opsgenie(OpsgenieConfig) = "opsgenie",
        Ntfy(NtfyConfig) = "ntfy",
        Pushover(PushoverConfig) = "pushover",
        Gotify(GotifyConfig) = "gotify",
        Matrix(MatrixConfig) = "matrix",
        Mattermost(MattermostConfig) = "mattermost",
        GoogleChat(GoogleChatConfig) = "google_chat",
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
            ChannelKind::Discord(DiscordConfig { webhook_url: u })
            | ChannelKind::Teams(TeamsConfig { webhook_url: u })
            | ChannelKind::Mattermost(MattermostConfig { webhook_url: u })
            | ChannelKind::GoogleChat(GoogleChatConfig { webhook_url: u }) => {
                if let Some(u) = u.as_mut() {
                    f("webhook_url", Whole, u);
                }
            }
            ChannelKind::Telegram(c) => {
                if let Some(t) = c.bot_token.as_mut() {
                    f("bot_token", Whole, t);
                }
                if let Some(u) = c.api_url.as_mut() {
                    f("api_url", UrlPassword, u);
                }
            }
            ChannelKind::Opsgenie(c) => {
                if let Some(k) = c.api_key.as_mut() {
                    f("api_key", Whole, k);
                }
                if let Some(u) = c.api_url.as_mut() {
                    f("api_url", UrlPassword, u);
                }
            }
            ChannelKind::Ntfy(c) => {
                if let Some(u) = c.url.as_mut() {
                    f("url", Whole, u);
                }
                if let Some(t) = c.token.as_mut() {
                    f("token", Whole, t);
                }
            }
            ChannelKind::Pushover(c) => {
                if let Some(t) = c.token.as_mut() {
                    f("token", Whole, t);
                }
                if let Some(u) = c.api_url.as_mut() {
                    f("api_url", UrlPassword, u);
                }
            }
            ChannelKind::Gotify(c) => {
                if let Some(u) = c.url.as_mut() {
                    f("url", UrlPassword, u);
                }
                if let Some(t) = c.token.as_mut() {
                    f("token", Whole, t);
                }
            }
            ChannelKind::Matrix(c) => {
                if let Some(u) = c.homeserver.as_mut() {
                    f("homeserver", UrlPassword, u);
                }
                if let Some(t) = c.access_token.as_mut() {
                    f("access_token", Whole, t);
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
            ChannelKind::Discord(DiscordConfig { webhook_url: u })
            | ChannelKind::Teams(TeamsConfig { webhook_url: u })
            | ChannelKind::Mattermost(MattermostConfig { webhook_url: u })
            | ChannelKind::GoogleChat(GoogleChatConfig { webhook_url: u }) => u.as_deref(),
            ChannelKind::Telegram(c) => Some(
                c.api_url
                    .as_deref()
                    .unwrap_or(crate::telegram::TELEGRAM_API_URL),
            ),
            ChannelKind::Opsgenie(c) => Some(
                c.api_url
                    .as_deref()
                    .unwrap_or(crate::opsgenie::OPSGENIE_API_URL),
            ),
            ChannelKind::Pushover(c) => Some(
                c.api_url
                    .as_deref()
                    .unwrap_or(crate::pushover::PUSHOVER_API_URL),
            ),
            ChannelKind::Ntfy(c) => c.url.as_deref(),
            ChannelKind::Gotify(c) => c.url.as_deref(),
            ChannelKind::Matrix(c) => c.homeserver.as_deref(),
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
            ChannelKind::Discord(c) => c.build(&mut errs),
            ChannelKind::Teams(c) => c.build(&mut errs),
            ChannelKind::Telegram(c) => c.build(&mut errs),
            ChannelKind::Opsgenie(c) => c.build(&mut errs),
            ChannelKind::Ntfy(c) => c.build(&mut errs),
            ChannelKind::Pushover(c) => c.build(&mut errs),
            ChannelKind::Gotify(c) => c.build(&mut errs),
            ChannelKind::Matrix(c) => c.build(&mut errs),
            ChannelKind::Mattermost(c) => c.build(&mut errs),
            ChannelKind::GoogleChat(c) => c.build(&mut errs),
            ChannelKind::Unknown(other) if other.is_empty() => {
                errs.push(ValidationError::new(
                    "type",
                    format!("is required: {}", known_types()),
                ));
                None
            }
            ChannelKind::Unknown(other) => {
                errs.push(ValidationError::new(
                    "type",
                    format!("unknown channel type {other:?}; expected {}", known_types()),
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
        for (doc, fields) in [
            (json!({"name": "d", "type": "discord"}), vec!["webhook_url"]),
            (
                json!({"name": "t", "type": "teams", "webhook_url": "file:///x"}),
                vec!["webhook_url"],
            ),
            (
                json!({"name": "tg", "type": "telegram", "chat_id": "x"}),
                vec!["bot_token", "chat_id"],
            ),
            (
                json!({"name": "og", "type": "opsgenie", "api_url": "eu"}),
                vec!["api_key", "api_url"],
            ),
            (
                json!({"name": "n", "type": "ntfy", "url": "https://ntfy.sh/"}),
                vec!["url"],
            ),
            (
                json!({"name": "po", "type": "pushover", "token": "x", "user": "y"}),
                vec!["token", "user"],
            ),
            (
                json!({"name": "g", "type": "gotify", "url": "https://g"}),
                vec!["token"],
            ),
            (
                json!({"name": "m", "type": "matrix", "homeserver": "https://m", "access_token": "t",
                "room_id": "#ops:m"}),
                vec!["room_id"],
            ),
            (
                json!({"name": "mm", "type": "mattermost", "url": "https://m"}),
                vec!["url", "webhook_url"],
            ),
            (
                json!({"name": "gc", "type": "google_chat", "webhook_url": ""}),
                vec!["webhook_url"],
            ),
        ] {
            assert_eq!(chan(doc.clone()).unwrap_err(), fields, "{doc}");
        }
        let unknown = serde_json::from_value::<ChannelConfig>(json!({"name": "s", "type": "sms"}))
            .unwrap()
            .build()
            .unwrap_err();
        assert!(
            unknown[0].message.contains("discord")
                && unknown[0].message.ends_with("or google_chat")
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
            [
                "url",
                "secret",
                "webhook_url",
                "routing_key",
                "bot_token",
                "api_key",
                "token",
                "access_token"
            ]
        );
        // The registry and the channels' `Secrets` agree: every whole secret the
        // registry names is masked for readers, and so is every header value.
        let full = [
            json!({"name": "w", "type": "webhook", "url": "https://h.example/x?token=t",
                "secret": "0123456789abcdef", "headers": {"Private-Token": "hdr-secret"}}),
            json!({"name": "s", "type": "slack", "webhook_url": "https://hooks.slack.com/T/B/X"}),
            json!({"name": "pd", "type": "pagerduty", "routing_key": "rk-secret",
                "events_url": "https://u:pw@events.example/v2/enqueue"}),
            json!({"name": "d", "type": "discord", "webhook_url": "https://discord.example/api/webhooks/1/T/B/X"}),
            json!({"name": "t", "type": "teams", "webhook_url": "https://prod.example/workflows/T/B/X"}),
            json!({"name": "tg", "type": "telegram", "bot_token": "123:rk-secret", "chat_id": "-100",
                "api_url": "https://u:pw@tg.example"}),
            json!({"name": "og", "type": "opsgenie", "api_key": "rk-secret", "api_url": "https://u:pw@og.example"}),
            json!({"name": "n", "type": "ntfy", "url": "https://ntfy.example/T/B/X", "token": "rk-secret"}),
            json!({"name": "po", "type": "pushover", "token": "rkAsecret012345678901234567890",
                "user": "u0123456789012345678901234567a", "api_url": "https://u:pw@po.example"}),
            json!({"name": "g", "type": "gotify", "url": "https://u:pw@gotify.example", "token": "rk-secret"}),
            json!({"name": "mx", "type": "matrix", "homeserver": "https://u:pw@m.example",
                "access_token": "rk-secret", "room_id": "!r:m.example"}),
            json!({"name": "mm", "type": "mattermost", "webhook_url": "https://mm.example/hooks/T/B/X"}),
            json!({"name": "gc", "type": "google_chat", "webhook_url": "https://chat.example/v1/spaces/S/messages?key=k&token=T/B/X"}),
        ];
        for doc in full {
            let c: ChannelConfig = serde_json::from_value(doc).unwrap();
            if let Err(e) = c.build() {
                panic!("{}: {e:?}", c.name);
            }
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
                "rkAsecret",
                ":pw@",
            ] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
        let pd = chan(json!({"name": "pd", "type": "pagerduty", "routing_key": "R"})).unwrap();
        assert!(pd.pages());
        let og = chan(json!({"name": "og", "type": "opsgenie", "api_key": "K"})).unwrap();
        assert!(og.pages());
        let d = chan(json!({"name": "d", "type": "discord", "webhook_url": "https://d"})).unwrap();
        assert!(!d.pages());
    }

    #[test]
    fn a_channel_is_written_back_as_it_was_read() {
        for v in [
            json!({"name": "s", "type": "slack", "webhook_url": "https://h/x"}),
            json!({"name": "pd", "type": "pagerduty", "routing_key": "rk-secret", "events_url": "http://pd"}),
            json!({"name": "e", "type": "email", "to": ["a@b"]}),
            json!({"name": "w", "type": "webhook", "url": "https://w", "secret": "0123456789abcdef",
                   "headers": {"X-A": "1"}}),
            json!({"name": "tg", "type": "telegram", "bot_token": "1:a", "chat_id": "@vigil_ops"}),
            json!({"name": "og", "type": "opsgenie", "api_key": "k", "api_url": "https://api.eu.opsgenie.com"}),
            json!({"name": "mx", "type": "matrix", "homeserver": "https://m", "access_token": "t", "room_id": "!r:m"}),
            json!({"name": "gc", "type": "google_chat", "webhook_url": "https://chat"}),
        ] {
            let c: ChannelConfig = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(&c).unwrap(), v);
        }
    }
}
