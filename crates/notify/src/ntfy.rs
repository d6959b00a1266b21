//! ntfy: a push message published as JSON (`POST` to the server's root with the
//! `topic` in the body; ntfy's "publish as JSON"), so titles and messages may hold
//! any character, which headers could not.
//!
//! The channel's `url` is the topic's URL (`https://ntfy.sh/vigil-ops`); the message
//! goes to its server (`https://ntfy.sh/`, keeping a path prefix if the server lives
//! under one) with `topic: "vigil-ops"`. The body: `title` (the summary's title),
//! `message` (the cause, facts and regions as plain text, cut to stay within ntfy's
//! 4096 bytes), `priority` and `tags` by the incident's priority, `click` (the
//! incident) and up to three `view` actions (Acknowledge, incident, monitor). With a
//! `token`, the request carries `Authorization: Bearer <token>`.
//!
//! | event | priority |
//! |---|---|
//! | trigger, reminder, escalation, regional notice, test | P1 → 5 (max), P2 → 4 (high), P3 → 3 (default), P4 → 2 (low) |
//! | degraded, acknowledged, resolved, degraded cleared | the same, but at most 3 (default) |
//!
//! Tags: the event's emoji (ntfy shows `rotating_light` as 🚨), `vigilmon` and the
//! priority (`p1`). ntfy removes no duplicates; see `docs/notifications.md`.
//!
//! Settings: [`NtfyConfig`] (`url`, a secret since a topic's name is its password on
//! a public server; `token`, a secret).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vigilmon_core::ValidationError;
use vigilmon_core::alert::Priority;

use crate::spec::{ChannelSpec, http_url};
use crate::text::{self, truncate};
use crate::{Delivery, Event, Notification, Outgoing};

/// An ntfy channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NtfyConfig {
    /// The topic's URL, `https://ntfy.sh/<topic>` or on your own server (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// An access token for a protected topic (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The server's root and the topic of a topic URL; `None` without a valid topic
/// (1 to 64 letters, digits, `-` or `_`) as the last path segment.
pub fn split_topic(url: &str) -> Option<(String, String)> {
    let mut u = url::Url::parse(url).ok()?;
    let topic = u.path_segments()?.next_back()?.to_owned();
    if topic.is_empty()
        || topic.len() > 64
        || !topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    u.path_segments_mut().ok()?.pop().push("");
    u.set_query(None);
    u.set_fragment(None);
    Some((u.into(), topic))
}

impl NtfyConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        let url = http_url(errs, "url", self.url.as_deref(), true);
        if let Some(u) = &url
            && split_topic(u).is_none()
        {
            errs.push(ValidationError::new(
                "url",
                "must end with the topic: https://ntfy.sh/<topic>, the topic of 1 to 64 letters, digits, - or _",
            ));
            return None;
        }
        let token = match self.token.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) if t.bytes().all(|b| b.is_ascii_graphic()) => Some(t.to_owned()),
            Some(_) => {
                errs.push(ValidationError::new(
                    "token",
                    "must be an access token: visible characters, no spaces",
                ));
                return None;
            }
        };
        Some(ChannelSpec::Ntfy { url: url?, token })
    }
}

/// The most of a message, in characters (ntfy takes 4096 bytes as a message).
pub const MAX_MESSAGE_CHARS: usize = 1000;

fn level(p: Priority) -> u8 {
    match p {
        Priority::P1 => 5,
        Priority::P2 => 4,
        Priority::P3 => 3,
        Priority::P4 => 2,
    }
}

/// ntfy's priority (1 to 5) for `n`.
pub fn priority(n: &Notification) -> u8 {
    match n.event {
        Event::Trigger
        | Event::Reminder
        | Event::Escalation
        | Event::RegionalNotice
        | Event::Test => level(n.priority),
        Event::Degraded | Event::Acknowledged | Event::Resolved | Event::DegradedCleared => {
            level(n.priority).min(3)
        }
    }
}

/// The emoji tag of an event.
fn emoji(e: Event) -> &'static str {
    match e {
        Event::Trigger => "red_circle",
        Event::Reminder => "bell",
        Event::Escalation => "rotating_light",
        Event::Acknowledged => "eyes",
        Event::Resolved => "green_circle",
        Event::Degraded => "yellow_circle",
        Event::DegradedCleared => "white_check_mark",
        Event::RegionalNotice => "orange_circle",
        Event::Test => "test_tube",
    }
}

/// The JSON message for `n` to `topic`.
pub fn render(topic: &str, n: &Notification) -> Value {
    let mut body = json!({
        "topic": topic,
        "title": truncate(&n.title(), 250),
        "message": truncate(&text::plain(n), MAX_MESSAGE_CHARS),
        "priority": priority(n),
        "tags": [emoji(n.event), "vigilmon", n.priority.as_str().to_ascii_lowercase()],
    });
    let links = text::links(n);
    if let Some(u) = n
        .links
        .incident_url
        .as_deref()
        .filter(|u| text::is_http_url(u))
    {
        body["click"] = json!(u);
    }
    if !links.is_empty() {
        body["actions"] = links
            .into_iter()
            .take(3)
            .map(|(label, url)| json!({"action": "view", "label": label, "url": url}))
            .collect();
    }
    body
}

/// The request for `n`.
pub(crate) fn outgoing(
    url: &str,
    token: Option<&str>,
    n: &Notification,
) -> Result<Vec<Outgoing>, Delivery> {
    let (root, topic) = split_topic(url).ok_or_else(|| Delivery::Permanent {
        error: "url does not end with a topic".to_owned(),
    })?;
    let mut req = Outgoing::json(root, render(&topic, n).to_string().into_bytes());
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"), "token")?;
    }
    Ok(vec![req])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{oversized, sample};

    #[test]
    fn the_topic_is_split_from_its_server() {
        assert_eq!(
            split_topic("https://ntfy.sh/vigil-ops"),
            Some(("https://ntfy.sh/".into(), "vigil-ops".into()))
        );
        assert_eq!(
            split_topic("http://h:8080/ntfy/alerts_1?x=1"),
            Some(("http://h:8080/ntfy/".into(), "alerts_1".into()))
        );
        assert_eq!(split_topic("https://ntfy.sh/"), None);
        assert_eq!(split_topic("https://ntfy.sh/a b"), None);
        let mut errs = Vec::new();
        let c = NtfyConfig {
            url: Some("https://ntfy.sh".into()),
            token: None,
        };
        assert!(c.build(&mut errs).is_none());
        assert_eq!(errs[0].field, "url");
    }

    #[test]
    fn priority_and_tags_by_incident_priority() {
        let mut n = sample(Event::Trigger);
        for (p, want) in [
            (Priority::P1, 5),
            (Priority::P2, 4),
            (Priority::P3, 3),
            (Priority::P4, 2),
        ] {
            n.priority = p;
            let v = render("t", &n);
            assert_eq!(v["priority"], want);
            assert_eq!(v["tags"][2], p.as_str().to_ascii_lowercase());
        }
        assert_eq!(priority(&sample(Event::Resolved)), 3);
        assert_eq!(
            render("t", &sample(Event::Escalation))["tags"][0],
            "rotating_light"
        );
        let v = render("t", &sample(Event::Trigger));
        assert_eq!(v["actions"][0]["label"], "Acknowledge");
        assert_eq!(v["click"], "https://vigil.example/incidents/1");
        for e in Event::ALL {
            let v = render("t", &oversized(e));
            assert!(v["message"].as_str().unwrap().len() <= 4096);
            assert!(v["actions"].as_array().unwrap().len() <= 3);
        }
    }

    #[test]
    fn the_token_is_a_bearer() {
        let r = &outgoing("https://n.example/t", Some("tk_1"), &sample(Event::Test)).unwrap()[0];
        assert_eq!(r.url, "https://n.example/");
        assert_eq!(r.headers["authorization"], "Bearer tk_1");
        let r = &outgoing("https://n.example/t", None, &sample(Event::Test)).unwrap()[0];
        assert!(r.headers.get("authorization").is_none());
    }
}
