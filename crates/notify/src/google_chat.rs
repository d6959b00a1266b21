//! Google Chat: a card message (`cardsV2`) posted to a space's incoming webhook
//! (`POST <webhook_url>`).
//!
//! The card: a header (symbol and `[P1] DOWN: name`, the cause as its subtitle), a
//! section with the cause and the facts (monitor, state, priority, opened, duration,
//! acknowledged by) as decorated texts, a collapsible section of regions (at most
//! [`MAX_REGIONS`], then "… and N more"), and a button list (Acknowledge, View
//! incident, View monitor). Card texts take a little HTML: user text has `&`, `<`,
//! `>` and `"` escaped.
//!
//! Threads: the request adds `threadKey=<dedup key>` and
//! `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD` to the webhook's query
//! (unless it already names a thread), so each incident's messages form one thread.
//!
//! Google Chat removes no duplicates; see `docs/notifications.md`.
//!
//! Settings: [`GoogleChatConfig`] (`webhook_url`, a secret: it carries the key and
//! token).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vigilmon_core::ValidationError;

use crate::spec::{ChannelSpec, http_url};
use crate::text::{self, html, truncate};
use crate::{Delivery, Notification, Outgoing};

/// A Google Chat channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoogleChatConfig {
    /// The space's incoming-webhook URL,
    /// `https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=…` (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

impl GoogleChatConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        http_url(errs, "webhook_url", self.webhook_url.as_deref(), true)
            .map(|webhook_url| ChannelSpec::GoogleChat { webhook_url })
    }
}

/// The most regions listed on a card.
pub const MAX_REGIONS: usize = 20;
/// Google Chat's limit on a message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 32_000;

fn decorated(label: &str, value: &str) -> Value {
    json!({"decoratedText": {
        "topLabel": label,
        "text": html(&truncate(value, 300)),
        "wrapText": true,
    }})
}

/// The message body for `n`.
pub fn render(n: &Notification) -> Value {
    let detail = text::detail(n);
    let mut header = json!({
        "title": truncate(&format!("{} {}", text::symbol(n.event), n.title()), 200),
    });
    if !detail.is_empty() {
        header["subtitle"] = json!(truncate(&detail, 200));
    }
    let mut main: Vec<Value> = Vec::new();
    if !detail.is_empty() {
        main.push(json!({"textParagraph": {"text": html(&truncate(&detail, 2000))}}));
    }
    main.extend(text::facts(n).iter().map(|(k, v)| decorated(k, v)));
    let mut sections = vec![json!({"widgets": main})];

    if !n.regions.is_empty() {
        let mut widgets: Vec<Value> = n
            .regions
            .iter()
            .zip(text::region_lines(n))
            .take(MAX_REGIONS)
            .map(|(r, line)| {
                let name = text::one_line(&r.region);
                let rest = line.strip_prefix(&format!("{name}: ")).unwrap_or(&line);
                decorated(&truncate(&name, 100), rest)
            })
            .collect();
        if n.regions.len() > MAX_REGIONS {
            widgets.push(json!({"textParagraph": {
                "text": format!("… and {} more", n.regions.len() - MAX_REGIONS)
            }}));
        }
        sections.push(json!({
            "header": "Regions",
            "collapsible": widgets.len() > 5,
            "uncollapsibleWidgetsCount": widgets.len().min(5),
            "widgets": widgets,
        }));
    }
    let buttons: Vec<Value> = text::links(n)
        .into_iter()
        .map(|(label, url)| json!({"text": label, "onClick": {"openLink": {"url": url}}}))
        .collect();
    if !buttons.is_empty() {
        sections.push(json!({"widgets": [{"buttonList": {"buttons": buttons}}]}));
    }
    json!({
        "cardsV2": [{
            "cardId": format!("vigilmon-{}", n.event.as_str()),
            "card": {"header": header, "sections": sections},
        }],
    })
}

/// The webhook URL with the incident's thread, unless it names one already.
fn threaded(webhook_url: &str, n: &Notification) -> Result<String, Delivery> {
    let mut url = url::Url::parse(webhook_url).map_err(|_| Delivery::Permanent {
        error: "webhook_url is not a URL".to_owned(),
    })?;
    if !url.query_pairs().any(|(k, _)| k == "threadKey") && !n.dedup_key.is_empty() {
        url.query_pairs_mut()
            .append_pair("threadKey", &truncate(&n.dedup_key, 200))
            .append_pair("messageReplyOption", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
    }
    Ok(url.into())
}

/// The request for `n`.
pub(crate) fn outgoing(webhook_url: &str, n: &Notification) -> Result<Vec<Outgoing>, Delivery> {
    Ok(vec![Outgoing::json(
        threaded(webhook_url, n)?,
        render(n).to_string().into_bytes(),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;
    use crate::text::{oversized, sample};

    #[test]
    fn cards_within_limits_and_escaped() {
        for e in Event::ALL {
            for n in [sample(e), oversized(e)] {
                let v = render(&n);
                assert!(v.to_string().len() < MAX_MESSAGE_BYTES, "{e:?}");
                assert!(
                    v["cardsV2"][0]["card"]["sections"]
                        .as_array()
                        .unwrap()
                        .len()
                        <= 3
                );
            }
        }
        let v = render(&sample(Event::Trigger)).to_string();
        assert!(v.contains("&lt;b&gt;api&lt;/b&gt; &amp;"), "{v}");
        assert!(v.contains(r#""openLink":{"url":"https://vigil.example/ack/1?exp=1&sig=2"}"#));
        assert!(
            !render(&sample(Event::Resolved))
                .to_string()
                .contains("Acknowledge")
        );
    }

    #[test]
    fn an_incident_is_one_thread() {
        let n = sample(Event::Trigger);
        let u = threaded(
            "https://chat.example/v1/spaces/S/messages?key=k&token=t",
            &n,
        )
        .unwrap();
        assert_eq!(
            u,
            "https://chat.example/v1/spaces/S/messages?key=k&token=t&threadKey=vigilmon-0190f1c2-1111-7222-8333-444455556666&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
        );
        let own = "https://chat.example/m?threadKey=mine";
        assert_eq!(threaded(own, &n).unwrap(), own);
    }
}
