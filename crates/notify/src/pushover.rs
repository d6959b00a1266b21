//! Pushover: a message through the Messages API (`POST <api_url>/1/messages.json`,
//! form-encoded), P1 outages as emergencies.
//!
//! | event | Pushover priority |
//! |---|---|
//! | trigger, escalation | P1 → 2 (emergency: repeated every [`EMERGENCY_RETRY_SECS`] s until acknowledged in Pushover, for at most [`EMERGENCY_EXPIRE_SECS`] s), P2 → 1 (high), P3 → 0, P4 → −1 (quiet) |
//! | reminder | the same, but P1 → 1 (the emergency already repeats) |
//! | degraded | the same, at most 0 |
//! | acknowledged, resolved, degraded cleared | 0 (−1 for P4) |
//! | regional notice | −1 |
//! | test | 0 |
//!
//! Emergencies carry the incident's dedup key as their tag; an acknowledged or
//! resolved event of a P1 incident first cancels the repeats with
//! `POST <api_url>/1/receipts/cancel_by_tag/<tag>.json` (which does nothing when
//! there is nothing to cancel, so a retry may do it again), then sends its message.
//! The message is Pushover HTML (`html=1`; user text escaped): the cause, the facts
//! and the regions within 1024 characters, the title within 250, and the
//! Acknowledge link (else the incident) as the supplementary URL.
//!
//! Pushover removes no duplicates; see `docs/notifications.md`.
//!
//! Settings: [`PushoverConfig`] (`token`, the application's API token, a secret;
//! `user`, the user or group key; `api_url`, default `https://api.pushover.net`).

use serde::{Deserialize, Serialize};
use vigilmon_core::ValidationError;
use vigilmon_core::alert::Priority;

use crate::spec::{ChannelSpec, http_url};
use crate::text::{self, html_within, truncate};
use crate::{Delivery, Event, Notification, Outgoing, endpoint};

/// Pushover's API.
pub const PUSHOVER_API_URL: &str = "https://api.pushover.net";
/// How often an emergency repeats, in seconds (Pushover's minimum is 30).
pub const EMERGENCY_RETRY_SECS: u32 = 60;
/// How long an emergency repeats at most, in seconds (Pushover's maximum is 10800).
pub const EMERGENCY_EXPIRE_SECS: u32 = 3600;
/// Pushover's limit on a message.
pub const MAX_MESSAGE: usize = 1024;
/// Pushover's limit on a title.
pub const MAX_TITLE: usize = 250;

/// A Pushover channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushoverConfig {
    /// The application's API token (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The user key or group key to notify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The API's address. Default `https://api.pushover.net`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

/// A Pushover key: 30 letters and digits.
fn key(
    errs: &mut Vec<ValidationError>,
    field: &str,
    what: &str,
    v: Option<&str>,
) -> Option<String> {
    match v.map(str::trim) {
        None | Some("") => {
            errs.push(ValidationError::new(field, format!("is required ({what})")));
            None
        }
        Some(k) if k.len() == 30 && k.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Some(k.to_owned())
        }
        Some(_) => {
            errs.push(ValidationError::new(
                field,
                format!("must be {what}: 30 letters and digits"),
            ));
            None
        }
    }
}

impl PushoverConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        let token = key(
            errs,
            "token",
            "the application's API token",
            self.token.as_deref(),
        );
        let user = key(errs, "user", "a user or group key", self.user.as_deref());
        let api_url = match &self.api_url {
            Some(u) => http_url(errs, "api_url", Some(u), true),
            None => Some(PUSHOVER_API_URL.to_owned()),
        };
        Some(ChannelSpec::Pushover {
            token: token?,
            user: user?,
            api_url: api_url?,
        })
    }
}

fn level(p: Priority) -> i8 {
    match p {
        Priority::P1 => 2,
        Priority::P2 => 1,
        Priority::P3 => 0,
        Priority::P4 => -1,
    }
}

/// Pushover's priority (−2 to 2) for `n`.
pub fn priority(n: &Notification) -> i8 {
    match n.event {
        Event::Trigger | Event::Escalation => level(n.priority),
        Event::Reminder => level(n.priority).min(1),
        Event::Degraded => level(n.priority).min(0),
        Event::Acknowledged | Event::Resolved | Event::DegradedCleared => level(n.priority).min(0),
        Event::RegionalNotice => -1,
        Event::Test => 0,
    }
}

/// The tag of an incident's emergencies: its dedup key, with anything but letters,
/// digits, `-` and `_` made `_` (tags are a comma-separated list).
pub fn tag(n: &Notification) -> String {
    n.dedup_key
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The message's HTML: the cause, the facts, then as many regions as fit.
fn message(n: &Notification) -> String {
    let mut out = html_within(&text::detail(n), 400);
    for (k, v) in text::facts(n) {
        out.push_str(&format!("\n<b>{k}:</b> {}", html_within(&v, 80)));
    }
    let regions = text::region_lines(n);
    for (i, line) in regions.iter().enumerate() {
        let line = format!("\n{}", html_within(line, 120));
        // Room for the count of what is left out.
        if out.chars().count() + line.chars().count() > MAX_MESSAGE - 30 {
            out.push_str(&format!("\n… and {} more regions", regions.len() - i));
            break;
        }
        out.push_str(&line);
    }
    out
}

/// The form fields of the message for `n`, with the channel's `token` and `user`.
pub fn render(token: &str, user: &str, n: &Notification) -> Vec<(&'static str, String)> {
    let p = priority(n);
    let mut f = vec![
        ("token", token.to_owned()),
        ("user", user.to_owned()),
        (
            "title",
            truncate(
                &format!("{} {}", text::symbol(n.event), n.title()),
                MAX_TITLE,
            ),
        ),
        ("message", message(n)),
        ("html", "1".to_owned()),
        ("priority", p.to_string()),
        ("timestamp", n.at.as_second().to_string()),
    ];
    if p == 2 {
        f.push(("retry", EMERGENCY_RETRY_SECS.to_string()));
        f.push(("expire", EMERGENCY_EXPIRE_SECS.to_string()));
        f.push(("tags", tag(n)));
    }
    if let Some((label, url)) = text::links(n).into_iter().find(|(_, u)| u.len() <= 512) {
        f.push(("url", url.to_owned()));
        f.push(("url_title", label.to_owned()));
    }
    f
}

fn form(fields: &[(&str, String)]) -> Vec<u8> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

fn form_request(url: String, body: Vec<u8>) -> Outgoing {
    Outgoing {
        content_type: "application/x-www-form-urlencoded",
        ..Outgoing::json(url, body)
    }
}

/// The requests for `n`: the cancel of a P1 incident's emergency when it is
/// acknowledged or over, then the message.
pub(crate) fn outgoing(
    api_url: &str,
    token: &str,
    user: &str,
    n: &Notification,
) -> Result<Vec<Outgoing>, Delivery> {
    let mut out = Vec::new();
    if n.priority == Priority::P1 && matches!(n.event, Event::Acknowledged | Event::Resolved) {
        let tag = format!("{}.json", tag(n));
        out.push(form_request(
            endpoint(
                api_url,
                "api_url",
                &["1", "receipts", "cancel_by_tag", &tag],
            )?,
            form(&[("token", token.to_owned())]),
        ));
    }
    out.push(form_request(
        endpoint(api_url, "api_url", &["1", "messages.json"])?,
        form(&render(token, user, n)),
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{oversized, sample};

    const T: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
    const U: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";

    fn get<'a>(f: &'a [(&str, String)], k: &str) -> Option<&'a str> {
        f.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn p1_outages_are_emergencies() {
        let f = render(T, U, &sample(Event::Trigger));
        assert_eq!(get(&f, "priority"), Some("2"));
        assert_eq!(get(&f, "retry"), Some("60"));
        assert_eq!(get(&f, "expire"), Some("3600"));
        assert_eq!(
            get(&f, "tags"),
            Some("vigilmon-0190f1c2-1111-7222-8333-444455556666")
        );
        assert_eq!(get(&f, "url_title"), Some("Acknowledge"));
        let r = render(T, U, &sample(Event::Reminder));
        assert_eq!(get(&r, "priority"), Some("1"));
        assert_eq!(get(&r, "retry"), None);
        let mut p3 = sample(Event::Trigger);
        p3.priority = Priority::P3;
        assert_eq!(get(&render(T, U, &p3), "priority"), Some("0"));
        let resolved = outgoing("https://po.example", T, U, &sample(Event::Resolved)).unwrap();
        assert_eq!(resolved.len(), 2);
        assert_eq!(
            resolved[0].url,
            "https://po.example/1/receipts/cancel_by_tag/vigilmon-0190f1c2-1111-7222-8333-444455556666.json"
        );
        assert_eq!(resolved[1].url, "https://po.example/1/messages.json");
        assert_eq!(
            resolved[1].content_type,
            "application/x-www-form-urlencoded"
        );
        assert_eq!(
            outgoing("https://po.example", T, U, &p3).unwrap().len(),
            1,
            "no emergency, nothing to cancel"
        );
    }

    #[test]
    fn messages_fit_and_escape() {
        for e in Event::ALL {
            for n in [sample(e), oversized(e)] {
                let f = render(T, U, &n);
                assert!(
                    get(&f, "message").unwrap().chars().count() <= MAX_MESSAGE,
                    "{e:?}"
                );
                assert!(get(&f, "title").unwrap().chars().count() <= MAX_TITLE);
            }
        }
        let f = render(T, U, &sample(Event::Trigger));
        assert!(
            get(&f, "message")
                .unwrap()
                .contains("&lt;b&gt;api&lt;/b&gt; &amp;")
        );
        let mut errs = Vec::new();
        let bad = PushoverConfig {
            token: Some("short".into()),
            user: None,
            api_url: None,
        };
        assert!(bad.build(&mut errs).is_none());
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["token", "user"]);
    }
}
