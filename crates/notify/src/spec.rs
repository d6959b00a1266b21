//! The channel types this version knows ([`CHANNELS`]: names, labels, secret
//! settings, whether they page), and a channel's validated form ([`ChannelSpec`]),
//! which delivery runs from. Each channel's module builds its spec from its settings.

use vigilmon_core::ValidationError;

/// PagerDuty's Events API v2 enqueue endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// One row of [`CHANNELS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The name in `type:`.
    pub name: &'static str,
    /// Its name for people.
    pub label: &'static str,
    /// The settings that are secrets as a whole (the edit form leaves them empty;
    /// empty keeps them). Every secret, these and header values alike, is named by
    /// the channel's `vigilmon_core::secret::Secrets`.
    pub secrets: &'static [&'static str],
    /// Whether it pages people and closes its alerts itself (it is told of
    /// acknowledgements and recoveries, and gets no regional notices).
    pub pages: bool,
}

/// Every channel type, in the order the UI offers them (the generic one first).
pub const CHANNELS: &[ChannelInfo] = &[
    ChannelInfo {
        name: "webhook",
        label: "Webhook",
        secrets: &["url", "secret"],
        pages: false,
    },
    ChannelInfo {
        name: "slack",
        label: "Slack",
        secrets: &["webhook_url"],
        pages: false,
    },
    ChannelInfo {
        name: "pagerduty",
        label: "PagerDuty",
        secrets: &["routing_key"],
        pages: true,
    },
    ChannelInfo {
        name: "email",
        label: "Email",
        secrets: &[],
        pages: false,
    },
    ChannelInfo {
        name: "discord",
        label: "Discord",
        secrets: &["webhook_url"],
        pages: false,
    },
    ChannelInfo {
        name: "teams",
        label: "Microsoft Teams",
        secrets: &["webhook_url"],
        pages: false,
    },
    ChannelInfo {
        name: "telegram",
        label: "Telegram",
        secrets: &["bot_token"],
        pages: false,
    },
    ChannelInfo {
        name: "opsgenie",
        label: "Opsgenie",
        secrets: &["api_key"],
        pages: true,
    },
    ChannelInfo {
        name: "ntfy",
        label: "ntfy",
        secrets: &["url", "token"],
        pages: false,
    },
    ChannelInfo {
        name: "pushover",
        label: "Pushover",
        secrets: &["token"],
        pages: false,
    },
    ChannelInfo {
        name: "gotify",
        label: "Gotify",
        secrets: &["token"],
        pages: false,
    },
    ChannelInfo {
        name: "matrix",
        label: "Matrix",
        secrets: &["access_token"],
        pages: false,
    },
    ChannelInfo {
        name: "mattermost",
        label: "Mattermost / Rocket.Chat",
        secrets: &["webhook_url"],
        pages: false,
    },
    ChannelInfo {
        name: "google_chat",
        label: "Google Chat",
        secrets: &["webhook_url"],
        pages: false,
    },
];

/// The channel types in words, for errors: `webhook, slack, …, or google_chat`.
pub(crate) fn known_types() -> String {
    let names: Vec<&str> = CHANNELS.iter().map(|c| c.name).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// The info of a channel type by name.
pub fn channel_info(name: &str) -> Option<&'static ChannelInfo> {
    CHANNELS.iter().find(|c| c.name == name)
}

/// The names of every secret setting of every channel type, each once.
pub fn secret_fields() -> impl Iterator<Item = &'static str> {
    CHANNELS
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.secrets.iter().map(move |s| (i, *s)))
        .filter(|(i, s)| !CHANNELS[..*i].iter().any(|c| c.secrets.contains(s)))
        .map(|(_, s)| s)
}

/// The secret settings of the channel type `kind` (none for an unknown type).
pub fn secrets_of(kind: &str) -> &'static [&'static str] {
    channel_info(kind).map_or(&[], |c| c.secrets)
}

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
    Discord {
        webhook_url: String,
    },
    Teams {
        webhook_url: String,
    },
    Telegram {
        bot_token: String,
        chat_id: String,
        api_url: String,
    },
    Opsgenie {
        api_key: String,
        api_url: String,
    },
    Ntfy {
        url: String,
        token: Option<String>,
    },
    Pushover {
        token: String,
        user: String,
        api_url: String,
    },
    Gotify {
        url: String,
        token: String,
    },
    Matrix {
        homeserver: String,
        access_token: String,
        room_id: String,
    },
    Mattermost {
        webhook_url: String,
    },
    GoogleChat {
        webhook_url: String,
    },
}

impl ChannelSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSpec::Slack { .. } => "slack",
            ChannelSpec::PagerDuty { .. } => "pagerduty",
            ChannelSpec::Email { .. } => "email",
            ChannelSpec::Webhook { .. } => "webhook",
            ChannelSpec::Discord { .. } => "discord",
            ChannelSpec::Teams { .. } => "teams",
            ChannelSpec::Telegram { .. } => "telegram",
            ChannelSpec::Opsgenie { .. } => "opsgenie",
            ChannelSpec::Ntfy { .. } => "ntfy",
            ChannelSpec::Pushover { .. } => "pushover",
            ChannelSpec::Gotify { .. } => "gotify",
            ChannelSpec::Matrix { .. } => "matrix",
            ChannelSpec::Mattermost { .. } => "mattermost",
            ChannelSpec::GoogleChat { .. } => "google_chat",
        }
    }

    /// Whether this channel pages people and closes its alerts ([`ChannelInfo::pages`]).
    pub fn pages(&self) -> bool {
        channel_info(self.kind()).is_some_and(|c| c.pages)
    }
}

/// An `http://` or `https://` URL setting (`required`: absent is an error).
pub(crate) fn http_url(
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
