//! Matrix: a room message through the client-server API,
//! `PUT <homeserver>/_matrix/client/v3/rooms/<room_id>/send/m.room.message/<txn_id>`
//! with `Authorization: Bearer <access_token>`.
//!
//! The transaction id is derived from the notification (its dedup key, event and
//! time), so it is the same on every retry of one notification: the homeserver
//! answers a repeated transaction with the event it already sent, and a retry after a
//! lost answer never posts twice.
//!
//! The event is `m.text` (so the room's members are notified; `m.notice` is muted by
//! default push rules) with a plain `body` and an HTML `formatted_body`
//! (`org.matrix.custom.html`): the title, the cause, the facts, the regions and the
//! links; user text escaped. A 429 waits as long as `retry_after_ms` (or
//! `Retry-After`) asks.
//!
//! Settings: [`MatrixConfig`] (`homeserver`; `access_token`, a secret; `room_id`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vigilmon_core::ValidationError;

use crate::spec::{ChannelSpec, http_url};
use crate::text::{self, html, html_within, truncate};
use crate::{Delivery, Notification, Outgoing, Wait, endpoint};

/// A Matrix channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatrixConfig {
    /// The homeserver's client API address, `https://matrix.example.org`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homeserver: Option<String>,
    /// The access token of the account that posts (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// The room's id, `!abcdefg:example.org` (the account must have joined it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
}

impl MatrixConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        let homeserver = http_url(errs, "homeserver", self.homeserver.as_deref(), true);
        let token = match self.access_token.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(ValidationError::new(
                    "access_token",
                    "is required (the access token of the account that posts)",
                ));
                None
            }
            Some(t) if t.bytes().all(|b| b.is_ascii_graphic()) => Some(t.to_owned()),
            Some(_) => {
                errs.push(ValidationError::new(
                    "access_token",
                    "must be an access token: visible characters, no spaces",
                ));
                None
            }
        };
        let room = match self.room_id.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(ValidationError::new(
                    "room_id",
                    "is required (the room's id, such as !abcdefg:example.org)",
                ));
                None
            }
            Some(r) if r.starts_with('#') => {
                errs.push(ValidationError::new(
                    "room_id",
                    "is a room alias; give the room's id (!abcdefg:example.org, in the room's advanced settings)",
                ));
                None
            }
            Some(r)
                if r.len() > 1
                    && r.len() <= 255
                    && r.starts_with('!')
                    && !r.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                Some(r.to_owned())
            }
            Some(_) => {
                errs.push(ValidationError::new(
                    "room_id",
                    "must be a room id: ! then the id, such as !abcdefg:example.org",
                ));
                None
            }
        };
        Some(ChannelSpec::Matrix {
            homeserver: homeserver?,
            access_token: token?,
            room_id: room?,
        })
    }
}

/// The most characters of a message's HTML (events are limited to 65536 bytes).
pub const MAX_HTML: usize = 16_000;

/// The transaction id of `n`: the same on every retry of one notification,
/// different for every event of an incident.
pub fn txn_id(n: &Notification) -> String {
    let mut h = Sha256::new();
    h.update(n.dedup_key.as_bytes());
    h.update(b"\n");
    h.update(n.event.as_str().as_bytes());
    h.update(b"\n");
    h.update(n.at.as_millisecond().to_string().as_bytes());
    format!("vigilmon-{}", hex::encode(&h.finalize()[..16]))
}

/// The `m.room.message` content for `n`.
pub fn render(n: &Notification) -> Value {
    let title = truncate(&n.title(), 300);
    let detail = truncate(&text::detail(n), 2000);
    let facts = text::facts(n);
    let regions = text::region_lines(n);
    let links = text::links(n);

    let mut plain = format!("{} {title}", text::symbol(n.event));
    let mut rich = format!(
        "<p>{} <b>{}</b>",
        text::symbol(n.event),
        html_within(&title, 600)
    );
    if !detail.is_empty() {
        plain.push_str(&format!("\n{detail}"));
        rich.push_str(&format!("<br>{}", html_within(&detail, 4000)));
    }
    rich.push_str("</p><ul>");
    for (k, v) in &facts {
        let v = truncate(v, 300);
        plain.push_str(&format!("\n{k}: {v}"));
        rich.push_str(&format!("<li><b>{k}:</b> {}</li>", html_within(&v, 600)));
    }
    rich.push_str("</ul>");
    if !regions.is_empty() {
        plain.push_str("\nRegions:");
        rich.push_str("<p><b>Regions</b></p><ul>");
        for (i, line) in regions.iter().enumerate() {
            let line = truncate(line, 300);
            let item = format!("<li>{}</li>", html_within(&line, 600));
            if rich.chars().count() + item.chars().count() > MAX_HTML - 1000 {
                let more = format!("… and {} more", regions.len() - i);
                plain.push_str(&format!("\n{more}"));
                rich.push_str(&format!("<li>{more}</li>"));
                break;
            }
            plain.push_str(&format!("\n{line}"));
            rich.push_str(&item);
        }
        rich.push_str("</ul>");
    }
    let shown: Vec<_> = links.into_iter().filter(|(_, u)| u.len() < 250).collect();
    if !shown.is_empty() {
        let anchors: Vec<String> = shown
            .iter()
            .map(|(label, url)| format!("<a href=\"{}\">{label}</a>", html(url)))
            .collect();
        rich.push_str(&format!("<p>{}</p>", anchors.join(" · ")));
        for (label, url) in &shown {
            plain.push_str(&format!("\n{label}: {url}"));
        }
    }
    json!({
        "msgtype": "m.text",
        "body": plain,
        "format": "org.matrix.custom.html",
        "formatted_body": rich,
    })
}

/// The request for `n`.
pub(crate) fn outgoing(
    homeserver: &str,
    access_token: &str,
    room_id: &str,
    n: &Notification,
) -> Result<Vec<Outgoing>, Delivery> {
    let txn = txn_id(n);
    let url = endpoint(
        homeserver,
        "homeserver",
        &[
            "_matrix",
            "client",
            "v3",
            "rooms",
            room_id,
            "send",
            "m.room.message",
            &txn,
        ],
    )?;
    let req = Outgoing {
        method: reqwest::Method::PUT,
        ..Outgoing::json(url, render(n).to_string().into_bytes())
    }
    .header(
        "authorization",
        &format!("Bearer {access_token}"),
        "access_token",
    )?
    .wait(Wait::Millis("/retry_after_ms"));
    Ok(vec![req])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;
    use crate::text::{oversized, sample};

    #[test]
    fn one_transaction_per_notification() {
        let n = sample(Event::Trigger);
        assert_eq!(txn_id(&n), txn_id(&n.clone()));
        assert_ne!(txn_id(&n), txn_id(&sample(Event::Resolved)));
        let r = &outgoing("https://m.example/", "syt_tok", "!room:m.example", &n).unwrap()[0];
        assert_eq!(r.method, reqwest::Method::PUT);
        assert_eq!(
            r.url,
            format!(
                "https://m.example/_matrix/client/v3/rooms/!room:m.example/send/m.room.message/{}",
                txn_id(&n)
            )
        );
        assert_eq!(r.headers["authorization"], "Bearer syt_tok");
        let odd = &outgoing("https://m.example", "t", "!a/b?c#d:x", &n).unwrap()[0];
        assert!(
            odd.url.contains("/rooms/!a%2Fb%3Fc%23d:x/send/"),
            "{}",
            odd.url
        );
    }

    #[test]
    fn html_is_escaped_and_bounded() {
        let v = render(&sample(Event::Trigger));
        assert_eq!(v["msgtype"], "m.text");
        let rich = v["formatted_body"].as_str().unwrap();
        assert!(rich.contains("&lt;b&gt;api&lt;/b&gt; &amp;"), "{rich}");
        assert!(rich.contains("href=\"https://vigil.example/ack/1?exp=1&amp;sig=2\""));
        assert!(v["body"].as_str().unwrap().contains("<b>api</b>"));
        for e in Event::ALL {
            let v = render(&oversized(e));
            assert!(v["formatted_body"].as_str().unwrap().chars().count() <= MAX_HTML);
            assert!(v.to_string().len() < 65_536);
        }
    }

    #[test]
    fn settings_are_checked_by_field() {
        let build = |room: &str| {
            let mut errs = Vec::new();
            MatrixConfig {
                homeserver: Some("https://m.example".into()),
                access_token: Some("t".into()),
                room_id: Some(room.into()),
            }
            .build(&mut errs);
            errs.into_iter().map(|e| e.message).collect::<Vec<_>>()
        };
        assert!(build("!abc:m.example").is_empty());
        assert!(build("#ops:m.example")[0].contains("alias"));
        assert!(!build("abc").is_empty());
    }
}
