//! Mattermost (and Rocket.Chat): a message for a Slack-compatible incoming webhook
//! (`POST <webhook_url>`), with one attachment.
//!
//! The body: `text` (the summary line, which notifications show), `username`
//! "Vigilmon", and an attachment coloured by event with the title (linking to the
//! incident), the cause and the links (Acknowledge, incident, monitor) as Markdown,
//! short fields (monitor, state, priority, opened, duration, acknowledged by), a
//! field of regions and a footer naming the event. Rocket.Chat's incoming webhooks
//! read the same `text` and `attachments`.
//!
//! User text has its Markdown escaped, and its `@` mentions are broken with a
//! zero-width space, so a monitor called `@channel` notifies nobody. Texts stay far
//! below Mattermost's 16383 characters.
//!
//! Mattermost removes no duplicates; see `docs/notifications.md`.
//!
//! Settings: [`MattermostConfig`] (`webhook_url`, a secret).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vigilmon_core::ValidationError;

use crate::spec::{ChannelSpec, http_url};
use crate::text::{self, markdown, truncate, truncate_marked};
use crate::{Delivery, Notification, Outgoing};

/// A Mattermost (or Rocket.Chat) channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MattermostConfig {
    /// The incoming webhook's URL, `https://mattermost.example.com/hooks/<key>`
    /// (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

impl MattermostConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        http_url(errs, "webhook_url", self.webhook_url.as_deref(), true)
            .map(|webhook_url| ChannelSpec::Mattermost { webhook_url })
    }
}

/// Mattermost's limit on a message's text.
pub const MAX_TEXT: usize = 16_383;

/// User text for Mattermost: Markdown escaped, `@` mentions broken.
pub fn quiet(s: &str) -> String {
    unmention(&markdown(s))
}

/// `s` with its `@` mentions broken by a zero-width space (for plain-text places).
fn unmention(s: &str) -> String {
    s.replace('@', "@\u{200B}")
}

/// The webhook body for `n`.
pub fn render(n: &Notification) -> Value {
    let mut body_text = truncate_marked(&quiet(&text::detail(n)), 3000);
    let links: Vec<String> = text::links(n)
        .into_iter()
        .filter(|(_, u)| !u.contains(')'))
        .map(|(label, url)| format!("[{label}]({url})"))
        .collect();
    if !links.is_empty() {
        if !body_text.is_empty() {
            body_text.push_str("\n\n");
        }
        body_text.push_str(&links.join(" · "));
    }
    let mut fields: Vec<Value> = text::facts(n)
        .into_iter()
        .map(|(k, v)| json!({"short": true, "title": k, "value": truncate_marked(&quiet(&v), 300)}))
        .collect();
    let regions = text::region_lines(n);
    if !regions.is_empty() {
        let lines: Vec<String> = regions.iter().map(|l| quiet(l)).collect();
        fields.push(json!({
            "short": false,
            "title": "Regions",
            "value": truncate_marked(&lines.join("\n"), 3000),
        }));
    }
    let title = unmention(&truncate(
        &format!("{} {}", text::symbol(n.event), n.title()),
        500,
    ));
    let mut attachment = json!({
        "fallback": unmention(&truncate(&n.summary(), 1000)),
        "color": text::colour_hex(n.event),
        "title": title,
        "text": body_text,
        "fields": fields,
        "footer": format!("Vigilmon · {} · {}", n.event.as_str(), text::time(n.at)),
    });
    if let Some(u) = n
        .links
        .incident_url
        .as_deref()
        .filter(|u| text::is_http_url(u))
    {
        attachment["title_link"] = json!(u);
    }
    json!({
        "username": "Vigilmon",
        "text": truncate_marked(&quiet(&n.summary()), 1000),
        "attachments": [attachment],
    })
}

/// The request for `n`.
pub(crate) fn outgoing(webhook_url: &str, n: &Notification) -> Result<Vec<Outgoing>, Delivery> {
    Ok(vec![Outgoing::json(
        webhook_url.to_owned(),
        render(n).to_string().into_bytes(),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;
    use crate::text::{oversized, sample};

    #[test]
    fn mentions_and_markdown_are_defused() {
        let v = render(&sample(Event::Trigger));
        let t = v.to_string();
        assert!(!t.contains("@channel"), "{t}");
        assert!(t.contains("@\u{200B}channel"));
        assert!(t.contains(r"\\*co\\*"));
        let a = &v["attachments"][0];
        assert_eq!(a["color"], "#d72f2f");
        assert_eq!(a["title_link"], "https://vigil.example/incidents/1");
        assert!(a["text"].as_str().unwrap().contains("[Acknowledge]("));
    }

    #[test]
    fn every_event_stays_within_limits() {
        for e in Event::ALL {
            let v = render(&oversized(e));
            assert!(v["text"].as_str().unwrap().chars().count() <= MAX_TEXT);
            let total: usize = v.to_string().chars().count();
            assert!(total < MAX_TEXT, "{e:?}: {total}");
        }
    }
}
