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
];

/// The info of a channel type by name.
pub fn channel_info(name: &str) -> Option<&'static ChannelInfo> {
    CHANNELS.iter().find(|c| c.name == name)
}

/// The names of every secret setting of every channel type.
pub fn secret_fields() -> impl Iterator<Item = &'static str> {
    CHANNELS.iter().flat_map(|c| c.secrets.iter().copied())
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
