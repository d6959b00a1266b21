//! Gotify: a message for a Gotify server's application (`POST <url>/message` with
//! the application token in `X-Gotify-Key`).
//!
//! The body: `title` (the summary's title), `message` (Markdown: the cause, the
//! facts, the regions and the links; user text escaped), `priority` by the
//! incident's priority, and `extras` asking clients to show Markdown and to open the
//! incident on a click.
//!
//! | event | priority |
//! |---|---|
//! | trigger, reminder, escalation, regional notice, test | P1 → 10, P2 → 8, P3 → 5, P4 → 2 |
//! | degraded, acknowledged, resolved, degraded cleared | the same, but at most 5 |
//!
//! (Gotify's clients alert loudly from 8, notify from 4, stay quiet below.) Gotify
//! removes no duplicates; see `docs/notifications.md`.
//!
//! Settings: [`GotifyConfig`] (`url`, the server; `token`, an application token, a
//! secret).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vigilmon_core::ValidationError;
use vigilmon_core::alert::Priority;

use crate::spec::{ChannelSpec, http_url};
use crate::text::{self, markdown, truncate, truncate_marked};
use crate::{Delivery, Event, Notification, Outgoing, endpoint};

/// A Gotify channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GotifyConfig {
    /// The Gotify server, `https://gotify.example.com` (with its path prefix, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The application's token (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl GotifyConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        let url = http_url(errs, "url", self.url.as_deref(), true);
        let token = match self.token.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(ValidationError::new(
                    "token",
                    "is required (the token of a Gotify application)",
                ));
                None
            }
            Some(t) if t.bytes().all(|b| b.is_ascii_graphic()) => Some(t.to_owned()),
            Some(_) => {
                errs.push(ValidationError::new(
                    "token",
                    "must be an application token: visible characters, no spaces",
                ));
                None
            }
        };
        Some(ChannelSpec::Gotify {
            url: url?,
            token: token?,
        })
    }
}

/// The most of a message, in characters.
pub const MAX_MESSAGE: usize = 4000;

fn level(p: Priority) -> u8 {
    match p {
        Priority::P1 => 10,
        Priority::P2 => 8,
        Priority::P3 => 5,
        Priority::P4 => 2,
    }
}

/// Gotify's priority (0 to 10) for `n`.
pub fn priority(n: &Notification) -> u8 {
    match n.event {
        Event::Trigger
        | Event::Reminder
        | Event::Escalation
        | Event::RegionalNotice
        | Event::Test => level(n.priority),
        Event::Degraded | Event::Acknowledged | Event::Resolved | Event::DegradedCleared => {
            level(n.priority).min(5)
        }
    }
}

/// The message body for `n`.
pub fn render(n: &Notification) -> Value {
    let mut message = truncate_marked(&markdown(&text::detail(n)), 1000);
    message.push('\n');
    for (k, v) in text::facts(n) {
        message.push_str(&format!(
            "\n**{k}:** {}",
            truncate_marked(&markdown(&v), 200)
        ));
    }
    let regions = text::region_lines(n);
    if !regions.is_empty() {
        message.push_str("\n\n**Regions**");
        for (i, line) in regions.iter().enumerate() {
            let line = format!("\n- {}", truncate_marked(&markdown(line), 300));
            if message.chars().count() + line.chars().count() > MAX_MESSAGE - 600 {
                message.push_str(&format!("\n- … and {} more", regions.len() - i));
                break;
            }
            message.push_str(&line);
        }
    }
    let links: Vec<String> = text::links(n)
        .into_iter()
        .filter(|(_, u)| u.len() < 180 && !u.contains(')'))
        .map(|(label, url)| format!("[{label}]({url})"))
        .collect();
    if !links.is_empty() {
        message.push_str("\n\n");
        message.push_str(&links.join(" · "));
    }
    let mut extras = json!({"client::display": {"contentType": "text/markdown"}});
    if let Some(u) = n
        .links
        .incident_url
        .as_deref()
        .filter(|u| text::is_http_url(u))
    {
        extras["client::notification"] = json!({"click": {"url": u}});
    }
    json!({
        "title": truncate(&format!("{} {}", text::symbol(n.event), n.title()), 250),
        "message": message,
        "priority": priority(n),
        "extras": extras,
    })
}

/// The request for `n`.
pub(crate) fn outgoing(
    url: &str,
    token: &str,
    n: &Notification,
) -> Result<Vec<Outgoing>, Delivery> {
    let req = Outgoing::json(
        endpoint(url, "url", &["message"])?,
        render(n).to_string().into_bytes(),
    )
    .header("x-gotify-key", token, "token")?;
    Ok(vec![req])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{oversized, sample};

    #[test]
    fn priority_by_incident_priority_and_limits() {
        let mut n = sample(Event::Trigger);
        for (p, want) in [
            (Priority::P1, 10),
            (Priority::P2, 8),
            (Priority::P3, 5),
            (Priority::P4, 2),
        ] {
            n.priority = p;
            assert_eq!(render(&n)["priority"], want);
        }
        assert_eq!(priority(&sample(Event::Resolved)), 5);
        for e in Event::ALL {
            let v = render(&oversized(e));
            assert!(v["message"].as_str().unwrap().chars().count() <= MAX_MESSAGE);
        }
        let v = render(&sample(Event::Trigger));
        let m = v["message"].as_str().unwrap();
        assert!(m.contains(r"\*co\*"), "{m}");
        assert!(m.contains("[Acknowledge](https://vigil.example/ack/1?exp=1&sig=2)"));
        assert_eq!(
            v["extras"]["client::notification"]["click"]["url"],
            "https://vigil.example/incidents/1"
        );
    }

    #[test]
    fn the_token_goes_in_a_header() {
        let r = &outgoing("https://g.example/gotify/", "AbC.1", &sample(Event::Test)).unwrap()[0];
        assert_eq!(r.url, "https://g.example/gotify/message");
        assert_eq!(r.headers["x-gotify-key"], "AbC.1");
    }
}
