//! Telegram: a message sent by a bot with the Bot API's `sendMessage`
//! (`POST <api_url>/bot<bot_token>/sendMessage`).
//!
//! The message is HTML (`parse_mode: "HTML"`): the title in bold, the cause, the facts
//! (monitor, state, priority, opened, duration, acknowledged by), the regions, and
//! links (Acknowledge, incident, monitor) as text links, which Telegram shows whatever
//! the server's address (inline-keyboard buttons refuse addresses such as
//! `localhost`). User text has `&`, `<`, `>` and `"` escaped. The text stays within
//! Telegram's 4096 characters (long texts are cut, and regions past the room are
//! counted, not listed); link previews are off, and P4 messages (tests, regional
//! notices) arrive silently (`disable_notification`).
//!
//! Telegram answers a flood with 429 and `parameters.retry_after`: honoured.
//! Telegram removes no duplicates; see `docs/notifications.md`.
//!
//! Settings: [`TelegramConfig`] (`bot_token`, a secret; `chat_id`; `api_url`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vigilmon_core::ValidationError;
use vigilmon_core::alert::Priority;

use crate::spec::{ChannelSpec, http_url};
use crate::text::{self, html, html_within};
use crate::{Delivery, Notification, Outgoing, Wait};

/// The Bot API's address.
pub const TELEGRAM_API_URL: &str = "https://api.telegram.org";

/// A Telegram channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot's token from @BotFather, `123456:ABC-DEF…` (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    /// The chat to write to: a numeric id (`-1001234567890` for groups and channels)
    /// or a public channel's `@username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// The Bot API server. Default `https://api.telegram.org`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

/// Whether `t` has the shape of a bot token: digits, a colon, then letters, digits,
/// `_` or `-` (it is written into the request's path).
fn is_bot_token(t: &str) -> bool {
    t.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && !secret.is_empty()
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// Whether `c` is a chat id (an integer) or a channel's `@username` (5 to 32
/// letters, digits or `_`, starting with a letter).
fn is_chat_id(c: &str) -> bool {
    if let Some(name) = c.strip_prefix('@') {
        (5..=32).contains(&name.len())
            && name.starts_with(|ch: char| ch.is_ascii_alphabetic())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    } else {
        c.parse::<i64>().is_ok()
    }
}

impl TelegramConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        let token = match self.bot_token.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(ValidationError::new(
                    "bot_token",
                    "is required (the token @BotFather gave the bot)",
                ));
                None
            }
            Some(t) if !is_bot_token(t) => {
                errs.push(ValidationError::new(
                    "bot_token",
                    "is not a bot token (digits, a colon, then letters, digits, _ or -)",
                ));
                None
            }
            Some(t) => Some(t.to_owned()),
        };
        let chat = match self.chat_id.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(ValidationError::new(
                    "chat_id",
                    "is required (a numeric chat id or a channel's @username)",
                ));
                None
            }
            Some(c) if !is_chat_id(c) => {
                errs.push(ValidationError::new(
                    "chat_id",
                    "must be a numeric chat id (such as -1001234567890) or a channel's @username",
                ));
                None
            }
            Some(c) => Some(c.to_owned()),
        };
        let api_url = match &self.api_url {
            Some(u) => http_url(errs, "api_url", Some(u), true),
            None => Some(TELEGRAM_API_URL.to_owned()),
        };
        Some(ChannelSpec::Telegram {
            bot_token: token?,
            chat_id: chat?,
            api_url: api_url?,
        })
    }
}

/// Telegram's limit on a message's text, in characters.
pub const MAX_TEXT: usize = 4096;
/// The room kept under [`MAX_TEXT`] for the "more regions" line and the links.
const TEXT_ROOM: usize = 3300;

/// The `sendMessage` body for `n`, to `chat_id`.
pub fn render(chat_id: &str, n: &Notification) -> Value {
    let mut text = format!(
        "{} <b>{}</b>",
        text::symbol(n.event),
        html_within(&n.title(), 300)
    );
    let detail = text::detail(n);
    if !detail.is_empty() {
        text.push('\n');
        text.push_str(&html_within(&detail, 1500));
    }
    text.push('\n');
    for (k, v) in text::facts(n) {
        text.push_str(&format!("\n<b>{k}:</b> {}", html_within(&v, 200)));
    }
    let regions = text::region_lines(n);
    if !regions.is_empty() {
        text.push_str("\n\n<b>Regions</b>");
        for (i, line) in regions.iter().enumerate() {
            let line = format!("\n{}", html_within(line, 300));
            if text.chars().count() + line.chars().count() > TEXT_ROOM {
                text.push_str(&format!("\n… and {} more", regions.len() - i));
                break;
            }
            text.push_str(&line);
        }
    }
    let links: Vec<String> = text::links(n)
        .into_iter()
        .map(|(label, url)| format!("<a href=\"{}\">{label}</a>", html(url)))
        .filter(|l| l.chars().count() < 180)
        .collect();
    if !links.is_empty() {
        text.push_str("\n\n");
        text.push_str(&links.join(" · "));
    }
    let chat: Value = match chat_id.parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(chat_id),
    };
    json!({
        "chat_id": chat,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": true},
        "disable_notification": n.priority == Priority::P4,
    })
}

/// The request for `n`.
pub(crate) fn outgoing(
    api_url: &str,
    bot_token: &str,
    chat_id: &str,
    n: &Notification,
) -> Result<Vec<Outgoing>, Delivery> {
    let url = format!(
        "{}/bot{bot_token}/sendMessage",
        api_url.trim_end_matches('/')
    );
    Ok(vec![
        Outgoing::json(url, render(chat_id, n).to_string().into_bytes())
            .wait(Wait::Seconds("/parameters/retry_after")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;
    use crate::text::{oversized, sample};

    #[test]
    fn settings_are_checked_by_field() {
        let build = |v: Value| {
            let mut errs = Vec::new();
            let c: TelegramConfig = serde_json::from_value(v).unwrap();
            let spec = c.build(&mut errs);
            (spec, errs.into_iter().map(|e| e.field).collect::<Vec<_>>())
        };
        let (spec, errs) = build(json!({"bot_token": "123:AbC_d-e", "chat_id": "-100123"}));
        assert!(errs.is_empty());
        assert_eq!(
            spec,
            Some(ChannelSpec::Telegram {
                bot_token: "123:AbC_d-e".into(),
                chat_id: "-100123".into(),
                api_url: TELEGRAM_API_URL.into()
            })
        );
        assert!(
            build(json!({"bot_token": "123:x", "chat_id": "@vigil_ops"}))
                .1
                .is_empty()
        );
        let (_, errs) = build(json!({"bot_token": "123:x/../y", "chat_id": "ops"}));
        assert_eq!(errs, ["bot_token", "chat_id"]);
        let (_, errs) = build(json!({"api_url": "ftp://x"}));
        assert_eq!(errs, ["bot_token", "chat_id", "api_url"]);
    }

    #[test]
    fn every_event_fits_and_escapes() {
        for e in Event::ALL {
            for n in [sample(e), oversized(e)] {
                let v = render("-100123", &n);
                assert!(v["text"].as_str().unwrap().chars().count() <= MAX_TEXT);
                assert_eq!(v["parse_mode"], "HTML");
                assert_eq!(v["chat_id"], -100123);
            }
        }
        let v = render("@vigil_ops", &sample(Event::Trigger));
        assert_eq!(v["chat_id"], "@vigil_ops");
        let t = v["text"].as_str().unwrap();
        assert!(t.contains("&lt;b&gt;api&lt;/b&gt; &amp; *co*"), "{t}");
        assert!(
            t.contains("<a href=\"https://vigil.example/ack/1?exp=1&amp;sig=2\">Acknowledge</a>")
        );
        assert!(
            !render("1", &sample(Event::Resolved))["text"]
                .as_str()
                .unwrap()
                .contains("Acknowledge")
        );
        assert_eq!(v["disable_notification"], false);
        let quiet = render("1", &crate::Notification::test(jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(quiet["disable_notification"], true);
        assert!(
            render("1", &oversized(Event::Trigger))["text"]
                .as_str()
                .unwrap()
                .contains("more")
        );
    }
}
