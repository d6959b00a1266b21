//! Discord: one embed posted to a channel webhook (`POST <webhook_url>`).
//!
//! The embed: the title (symbol and `[P1] DOWN: name`, linking to the incident), the
//! description (the cause, then Acknowledge / incident / monitor links), its colour
//! by event (red down, orange regional, amber degraded, blue acknowledged, green
//! over, grey test), inline fields (monitor, state, priority, opened, duration,
//! acknowledged by), a field of regions, a footer naming the event, and the event's
//! time (shown in each reader's time zone).
//!
//! Discord's documented limits are honoured: title 256 characters, description 4096,
//! at most 25 fields of name 256 and value 1024, footer 2048, and 6000 characters in
//! all; user text has its Markdown escaped, and `allowed_mentions` is empty, so a
//! monitor called `@everyone` pings nobody. A 429 waits as long as Discord says
//! (`Retry-After`, or `retry_after` in the body).
//!
//! Discord removes no duplicates; see `docs/notifications.md` for how Vigilmon avoids
//! them.
//!
//! Settings: [`DiscordConfig`] (`webhook_url`, a secret).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vigilmon_core::ValidationError;

use crate::spec::{ChannelSpec, http_url};
use crate::text::{self, markdown, truncate_marked};
use crate::{Delivery, Notification, Outgoing, Wait};

/// A Discord channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// The channel webhook's URL, `https://discord.com/api/webhooks/<id>/<token>`
    /// (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

impl DiscordConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        http_url(errs, "webhook_url", self.webhook_url.as_deref(), true)
            .map(|webhook_url| ChannelSpec::Discord { webhook_url })
    }
}

/// Discord's limit on an embed's title.
pub const MAX_TITLE: usize = 256;
/// Discord's limit on an embed's description.
pub const MAX_DESCRIPTION: usize = 4096;
/// Discord's limit on a field's value.
pub const MAX_FIELD_VALUE: usize = 1024;
/// Discord's limit on the characters of all embeds of a message.
pub const MAX_EMBED_TOTAL: usize = 6000;

/// The description is kept well below its limit, so the whole embed stays within
/// [`MAX_EMBED_TOTAL`].
const DESCRIPTION_ROOM: usize = 2000;
/// The room of one fact's value.
const FACT_ROOM: usize = 200;

/// The webhook body for `n`: `{"username", "embeds": [one embed], "allowed_mentions"}`.
pub fn render(n: &Notification) -> Value {
    let mut description = truncate_marked(&markdown(&text::detail(n)), DESCRIPTION_ROOM);
    let links: Vec<String> = text::links(n)
        .into_iter()
        .filter(|(_, url)| !url.contains(')'))
        .map(|(label, url)| format!("[{label}]({url})"))
        .collect();
    if !links.is_empty() {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&links.join(" · "));
    }

    let mut fields: Vec<Value> = text::facts(n)
        .into_iter()
        .map(|(name, value)| {
            json!({
                "name": name,
                "value": truncate_marked(&markdown(&value), FACT_ROOM),
                "inline": true,
            })
        })
        .collect();
    let regions = text::region_lines(n);
    if !regions.is_empty() {
        let lines: Vec<String> = regions.iter().map(|l| markdown(l)).collect();
        fields.push(json!({
            "name": "Regions",
            "value": truncate_marked(&lines.join("\n"), MAX_FIELD_VALUE),
            "inline": false,
        }));
    }

    let mut embed = json!({
        "title": truncate_marked(
            &markdown(&format!("{} {}", text::symbol(n.event), n.title())),
            MAX_TITLE
        ),
        "color": text::colour(n.event),
        "fields": fields,
        "footer": {"text": format!("Vigilmon · {}", n.event.as_str())},
        "timestamp": n.at.to_string(),
    });
    if !description.is_empty() {
        embed["description"] = json!(description);
    }
    if let Some(u) = n
        .links
        .incident_url
        .as_deref()
        .filter(|u| text::is_http_url(u))
    {
        embed["url"] = json!(u);
    }
    json!({
        "username": "Vigilmon",
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

/// The request for `n`.
pub(crate) fn outgoing(webhook_url: &str, n: &Notification) -> Result<Vec<Outgoing>, Delivery> {
    let body = render(n).to_string().into_bytes();
    Ok(vec![
        Outgoing::json(webhook_url.to_owned(), body).wait(Wait::Seconds("/retry_after")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;
    use crate::text::{oversized, sample};

    fn embed_chars(e: &Value) -> usize {
        let c = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
        c(&e["title"])
            + c(&e["description"])
            + c(&e["footer"]["text"])
            + e["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| c(&f["name"]) + c(&f["value"]))
                .sum::<usize>()
    }

    #[test]
    fn every_event_renders_within_discords_limits() {
        for e in Event::ALL {
            for n in [sample(e), oversized(e)] {
                let v = render(&n);
                let embed = &v["embeds"][0];
                assert_eq!(v["embeds"].as_array().unwrap().len(), 1);
                assert!(embed["title"].as_str().unwrap().chars().count() <= MAX_TITLE);
                assert!(embed["description"].as_str().unwrap().chars().count() <= MAX_DESCRIPTION);
                let fields = embed["fields"].as_array().unwrap();
                assert!(fields.len() <= 25);
                for f in fields {
                    assert!(f["value"].as_str().unwrap().chars().count() <= MAX_FIELD_VALUE);
                    assert!(!f["value"].as_str().unwrap().is_empty());
                }
                assert!(embed_chars(embed) <= MAX_EMBED_TOTAL, "{e:?}");
                assert_eq!(embed["color"], text::colour(e));
                assert_eq!(v["allowed_mentions"]["parse"], json!([]));
            }
        }
    }

    #[test]
    fn user_text_is_escaped_and_links_follow_the_event() {
        let v = render(&sample(Event::Trigger));
        let embed = &v["embeds"][0];
        let fields = embed["fields"].to_string();
        assert!(fields.contains(r"\\*co\\*"), "{fields}");
        let d = embed["description"].as_str().unwrap();
        assert!(d.contains("[Acknowledge](https://vigil.example/ack/1?exp=1&sig=2)"));
        assert!(d.contains(r"expected \(200\)"), "{d}");
        assert_eq!(embed["url"], "https://vigil.example/incidents/1");
        assert_eq!(embed["color"], 0xD72F2F);
        let resolved = render(&sample(Event::Resolved));
        let d = resolved["embeds"][0]["description"].as_str().unwrap();
        assert!(!d.contains("Acknowledge") && d.contains("back up after 12m 5s"));
        assert_eq!(resolved["embeds"][0]["color"], 0x2EA043);
    }
}
