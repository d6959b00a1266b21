//! Microsoft Teams: an Adaptive Card in a message posted to a Workflows webhook
//! (`POST <webhook_url>`; the "Post to a channel when a webhook request is received"
//! flow, which takes `{"type": "message", "attachments": [card]}`).
//!
//! The card (Adaptive Cards 1.4): a heading coloured by event (attention while down,
//! warning when degraded or regional, good when over, accent when acknowledged), the
//! cause, a fact set (monitor, state, priority, opened, duration, acknowledged by), a
//! fact set of regions, and `Action.OpenUrl` buttons (Acknowledge, View incident,
//! View monitor). Teams caps a message near 28 KB: texts are cut and at most
//! [`MAX_REGIONS`] regions are listed (then "… and N more"). User text has its
//! Markdown escaped.
//!
//! Teams removes no duplicates; see `docs/notifications.md`.
//!
//! Settings: [`TeamsConfig`] (`webhook_url`, a secret).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vigilmon_core::ValidationError;

use crate::spec::{ChannelSpec, http_url};
use crate::text::{self, markdown, truncate_marked};
use crate::{Delivery, Event, Notification, Outgoing};

/// A Teams channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// The Workflows webhook URL (secret: it carries its signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

impl TeamsConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        http_url(errs, "webhook_url", self.webhook_url.as_deref(), true)
            .map(|webhook_url| ChannelSpec::Teams { webhook_url })
    }
}

/// The most regions listed on a card.
pub const MAX_REGIONS: usize = 20;
/// Teams' limit on a message, in bytes (the card is kept well below it).
pub const MAX_MESSAGE_BYTES: usize = 28_000;
/// The room of the cause and of a fact.
const TEXT_ROOM: usize = 2000;
const FACT_ROOM: usize = 300;

/// The Adaptive Card colour of an event's heading.
fn colour(e: Event) -> &'static str {
    match e {
        Event::Trigger | Event::Reminder | Event::Escalation => "Attention",
        Event::Degraded | Event::RegionalNotice => "Warning",
        Event::Resolved | Event::DegradedCleared => "Good",
        Event::Acknowledged => "Accent",
        Event::Test => "Default",
    }
}

fn fact(title: &str, value: &str) -> Value {
    json!({"title": title, "value": truncate_marked(&markdown(value), FACT_ROOM)})
}

/// The webhook body for `n`: a message with one Adaptive Card attachment.
pub fn render(n: &Notification) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": truncate_marked(&markdown(&format!("{} {}", text::symbol(n.event), n.title())), 500),
        "weight": "Bolder",
        "size": "Medium",
        "color": colour(n.event),
        "style": "heading",
        "wrap": true,
    })];
    let detail = text::detail(n);
    if !detail.is_empty() {
        body.push(json!({
            "type": "TextBlock",
            "text": truncate_marked(&markdown(&detail), TEXT_ROOM),
            "wrap": true,
        }));
    }
    let facts: Vec<Value> = text::facts(n).iter().map(|(k, v)| fact(k, v)).collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    if !n.regions.is_empty() {
        let mut regions: Vec<Value> = n
            .regions
            .iter()
            .take(MAX_REGIONS)
            .zip(text::region_lines(n))
            .map(|(r, line)| {
                let name = text::one_line(&r.region);
                let rest = line
                    .strip_prefix(&format!("{name}: "))
                    .unwrap_or(&line)
                    .to_owned();
                fact(&truncate_marked(&markdown(&name), 100), &rest)
            })
            .collect();
        if n.regions.len() > MAX_REGIONS {
            regions.push(fact(
                "…",
                &format!("and {} more", n.regions.len() - MAX_REGIONS),
            ));
        }
        body.push(json!({
            "type": "TextBlock",
            "text": "Regions",
            "weight": "Bolder",
            "wrap": true,
            "spacing": "Medium",
        }));
        body.push(json!({"type": "FactSet", "facts": regions}));
    }
    body.push(json!({
        "type": "TextBlock",
        "text": format!("Vigilmon · {} · {}", n.event.as_str(), text::time(n.at)),
        "isSubtle": true,
        "size": "Small",
        "wrap": true,
    }));
    let actions: Vec<Value> = text::links(n)
        .into_iter()
        .map(|(title, url)| json!({"type": "Action.OpenUrl", "title": title, "url": url}))
        .collect();
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
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
    use crate::text::{oversized, sample};

    #[test]
    fn every_event_is_one_card_within_the_size_limit() {
        for e in Event::ALL {
            for n in [sample(e), oversized(e)] {
                let v = render(&n);
                assert!(v.to_string().len() < MAX_MESSAGE_BYTES, "{e:?}");
                let a = &v["attachments"][0];
                assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
                let card = &a["content"];
                assert_eq!(card["type"], "AdaptiveCard");
                assert_eq!(card["version"], "1.4");
                assert_eq!(card["body"][0]["color"], colour(e));
            }
        }
        let many = render(&oversized(Event::Trigger));
        assert!(many.to_string().contains("and 280 more"));
    }

    #[test]
    fn buttons_follow_the_event() {
        let titles = |e| {
            render(&sample(e))["attachments"][0]["content"]["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["title"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            titles(Event::Trigger),
            ["Acknowledge", "View incident", "View monitor"]
        );
        assert_eq!(titles(Event::Resolved), ["View incident", "View monitor"]);
        let text = render(&sample(Event::Trigger)).to_string();
        assert!(text.contains(r"\\*co\\*"), "{text}");
    }
}
