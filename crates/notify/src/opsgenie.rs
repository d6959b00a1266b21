//! Opsgenie: alerts through the Alert API v2, keyed by an `alias` equal to the
//! incident's dedup key, so Opsgenie keeps one alert per incident and Vigilmon's
//! acknowledge and close reach the right one.
//!
//! | event | request | alias | priority |
//! |---|---|---|---|
//! | trigger, reminder, escalation | `POST /v2/alerts` (create) | the incident's key | the incident's (P1–P4) |
//! | acknowledged | `POST /v2/alerts/{alias}/acknowledge?identifierType=alias` | the incident's key | — |
//! | resolved | `POST /v2/alerts/{alias}/close?identifierType=alias` | the incident's key | — |
//! | degraded | create | the key + `-degraded` | P3 (P4 for P4) |
//! | degraded_cleared | close | the key + `-degraded` | — |
//! | test | create | `vigilmon-test-…` | P5 |
//! | regional_notice | not sent (Opsgenie pages; see [`sends`]) | | |
//!
//! A create with the alias of an open alert is folded into it by Opsgenie (its count
//! goes up, the note is added), so reminders and escalations never open a second
//! alert, and a create repeated by a retry neither. Requests carry
//! `Authorization: GenieKey <api_key>`; Opsgenie answers 202 and processes them in
//! the background.
//!
//! Limits: `message` 130 characters, `alias` 512, `description` 15000, `entity`
//! 512, `source` 100, `user` 100, at most 20 `tags` of 50, `details` string values.
//!
//! Settings: [`OpsgenieConfig`] (`api_key`, a secret; `api_url`, default
//! `https://api.opsgenie.com`, or `https://api.eu.opsgenie.com` for EU accounts).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use vigilmon_core::ValidationError;
use vigilmon_core::alert::Priority;

use crate::spec::{ChannelSpec, http_url};
use crate::text::{self, truncate};
use crate::{Delivery, Event, Notification, Outgoing, endpoint};

/// Opsgenie's API in the US (and default) region.
pub const OPSGENIE_API_URL: &str = "https://api.opsgenie.com";

/// An Opsgenie channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieConfig {
    /// The API key of an Opsgenie "API" integration (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The API's address: `https://api.opsgenie.com` (default) or
    /// `https://api.eu.opsgenie.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

impl OpsgenieConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        let key = match self.api_key.as_deref().map(str::trim) {
            Some(k)
                if !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Some(k.to_owned())
            }
            Some(k) if !k.is_empty() => {
                errs.push(ValidationError::new(
                    "api_key",
                    "must be the integration's key: at most 128 visible characters, no spaces",
                ));
                None
            }
            _ => {
                errs.push(ValidationError::new(
                    "api_key",
                    "is required (the API key of an Opsgenie API integration)",
                ));
                None
            }
        };
        let api_url = match &self.api_url {
            Some(u) => http_url(errs, "api_url", Some(u), true),
            None => Some(OPSGENIE_API_URL.to_owned()),
        };
        Some(ChannelSpec::Opsgenie {
            api_key: key?,
            api_url: api_url?,
        })
    }
}

/// Opsgenie's limit on `message`.
pub const MAX_MESSAGE: usize = 130;
/// Opsgenie's limit on `alias`.
pub const MAX_ALIAS: usize = 512;
/// Opsgenie's limit on `description`.
pub const MAX_DESCRIPTION: usize = 15_000;

/// What Opsgenie is asked to do with an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Acknowledge,
    Close,
}

/// The action for `event`, `None` when Opsgenie does not receive it.
pub fn action(event: Event) -> Option<Action> {
    match event {
        Event::Trigger | Event::Reminder | Event::Escalation | Event::Degraded | Event::Test => {
            Some(Action::Create)
        }
        Event::Acknowledged => Some(Action::Acknowledge),
        Event::Resolved | Event::DegradedCleared => Some(Action::Close),
        Event::RegionalNotice => None,
    }
}

/// Whether Opsgenie receives `event` at all; regional notices do not page anyone.
pub fn sends(event: Event) -> bool {
    action(event).is_some()
}

/// The alias for `n`: the incident's dedup key for its own events, a derived one for
/// degraded warnings and tests. At most [`MAX_ALIAS`] characters.
pub fn alias(n: &Notification) -> String {
    let key = match n.dedup_key.trim() {
        "" => "vigilmon",
        k => k,
    };
    let (prefix, suffix) = match n.event {
        Event::Degraded | Event::DegradedCleared => ("", "-degraded"),
        Event::Test if !key.starts_with("vigilmon-test-") => ("vigilmon-test-", ""),
        _ => ("", ""),
    };
    let room = MAX_ALIAS - prefix.chars().count() - suffix.chars().count();
    let base: String = key.chars().take(room).collect();
    format!("{prefix}{base}{suffix}")
}

/// The Opsgenie priority of `n`.
pub fn priority(n: &Notification) -> &'static str {
    match (n.event, n.priority) {
        (Event::Test, _) => "P5",
        (Event::Degraded, Priority::P4) => "P4",
        (Event::Degraded, _) => "P3",
        (_, p) => p.as_str(),
    }
}

/// The body of the request for `n`: a create's alert, or an acknowledge's or close's
/// `{user, source, note}`.
pub fn render(n: &Notification) -> Value {
    let note = truncate(&n.summary(), 1000);
    if action(n.event) != Some(Action::Create) {
        let mut body = json!({"source": "Vigilmon", "note": note});
        let who = n.acknowledged_by.as_deref().map(text::one_line);
        if let Some(who) = who.filter(|w| !w.is_empty()) {
            body["user"] = json!(truncate(&who, 100));
        }
        return body;
    }
    let name = match text::one_line(&n.monitor_name) {
        s if s.is_empty() => "vigilmon".to_owned(),
        s => s,
    };
    let mut description = text::plain(n);
    for (label, url) in text::links(n) {
        description.push_str(&format!("\n{label}: {url}"));
    }
    let mut details = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            details.insert(k.to_owned(), json!(truncate(&v, 1000)));
        }
    };
    put("event", Some(n.event.as_str().to_owned()));
    put("priority", Some(n.priority.as_str().to_owned()));
    put("monitor", Some(name.clone()));
    put("monitor_kind", Some(text::one_line(&n.monitor_kind)));
    put("state", Some(text::one_line(&n.state)));
    put("cause", Some(text::one_line(&n.cause)));
    put("incident_id", n.incident_id.map(|i| i.to_string()));
    put("monitor_id", n.monitor_id.map(|i| i.to_string()));
    put("opened_at", n.opened_at.map(|t| t.to_string()));
    put("open_for", text::open_for(n).map(text::duration));
    put("failing_regions", Some(text::failing_regions(n)));
    put(
        "incident_url",
        n.links
            .incident_url
            .clone()
            .filter(|u| text::is_http_url(u)),
    );
    put(
        "monitor_url",
        n.links.monitor_url.clone().filter(|u| text::is_http_url(u)),
    );
    let mut tags = vec!["vigilmon".to_owned(), n.priority.as_str().to_owned()];
    let kind = text::one_line(&n.monitor_kind);
    if !kind.is_empty() {
        tags.push(truncate(&kind, 50));
    }
    if n.event == Event::Degraded {
        tags.push("degraded".to_owned());
    }
    json!({
        "message": truncate(&n.title(), MAX_MESSAGE),
        "alias": alias(n),
        "description": truncate(&description, MAX_DESCRIPTION),
        "tags": tags,
        "details": details,
        "entity": truncate(&name, 512),
        "source": "Vigilmon",
        "priority": priority(n),
        "note": note,
    })
}

/// The request for `n` (none for events Opsgenie does not receive).
pub(crate) fn outgoing(
    api_url: &str,
    api_key: &str,
    n: &Notification,
) -> Result<Vec<Outgoing>, Delivery> {
    let Some(act) = action(n.event) else {
        return Err(Delivery::Delivered {
            detail: Some(format!(
                "skipped: Opsgenie does not receive {} events",
                n.event
            )),
        });
    };
    let alias = alias(n);
    let url = match act {
        Action::Create => endpoint(api_url, "api_url", &["v2", "alerts"])?,
        Action::Acknowledge => format!(
            "{}?identifierType=alias",
            endpoint(api_url, "api_url", &["v2", "alerts", &alias, "acknowledge"])?
        ),
        Action::Close => format!(
            "{}?identifierType=alias",
            endpoint(api_url, "api_url", &["v2", "alerts", &alias, "close"])?
        ),
    };
    let req = Outgoing::json(url, render(n).to_string().into_bytes()).header(
        "authorization",
        &format!("GenieKey {api_key}"),
        "api_key",
    )?;
    Ok(vec![req])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{oversized, sample};

    #[test]
    fn one_alias_per_incident_and_the_right_endpoint() {
        let key = "vigilmon-0190f1c2-1111-7222-8333-444455556666";
        let url = |e| {
            outgoing("https://og.example/", "k", &sample(e)).unwrap()[0]
                .url
                .clone()
        };
        assert_eq!(url(Event::Trigger), "https://og.example/v2/alerts");
        assert_eq!(url(Event::Reminder), "https://og.example/v2/alerts");
        assert_eq!(
            url(Event::Acknowledged),
            format!("https://og.example/v2/alerts/{key}/acknowledge?identifierType=alias")
        );
        assert_eq!(
            url(Event::Resolved),
            format!("https://og.example/v2/alerts/{key}/close?identifierType=alias")
        );
        assert_eq!(
            url(Event::DegradedCleared),
            format!("https://og.example/v2/alerts/{key}-degraded/close?identifierType=alias")
        );
        for e in [Event::Trigger, Event::Reminder, Event::Escalation] {
            assert_eq!(render(&sample(e))["alias"], key);
        }
        assert_eq!(
            render(&sample(Event::Degraded))["alias"],
            format!("{key}-degraded")
        );
        assert!(
            render(&sample(Event::Test))["alias"]
                .as_str()
                .unwrap()
                .starts_with("vigilmon-test-")
        );
        assert!(matches!(
            outgoing("https://og.example", "k", &sample(Event::RegionalNotice)),
            Err(Delivery::Delivered { detail: Some(d) }) if d.starts_with("skipped")
        ));
        let mut odd = sample(Event::Resolved);
        odd.dedup_key = "a/b?c".into();
        assert_eq!(
            outgoing("https://og.example/base", "k", &odd).unwrap()[0].url,
            "https://og.example/base/v2/alerts/a%2Fb%3Fc/close?identifierType=alias"
        );
        let r = &outgoing("https://og.example", "key-1", &sample(Event::Trigger)).unwrap()[0];
        assert_eq!(r.headers["authorization"], "GenieKey key-1");
    }

    #[test]
    fn bodies_within_limits() {
        for e in Event::ALL {
            for n in [sample(e), oversized(e)] {
                let v = render(&n);
                if action(e) == Some(Action::Create) {
                    assert!(v["message"].as_str().unwrap().chars().count() <= MAX_MESSAGE);
                    assert!(v["alias"].as_str().unwrap().chars().count() <= MAX_ALIAS);
                    assert!(v["description"].as_str().unwrap().chars().count() <= MAX_DESCRIPTION);
                    assert!(v["tags"].as_array().unwrap().len() <= 20);
                    assert!(
                        v["details"]
                            .as_object()
                            .unwrap()
                            .values()
                            .all(Value::is_string)
                    );
                } else {
                    assert!(v.get("message").is_none());
                    assert_eq!(v["source"], "Vigilmon");
                }
            }
        }
        assert_eq!(render(&sample(Event::Trigger))["priority"], "P1");
        assert_eq!(render(&sample(Event::Degraded))["priority"], "P3");
        assert_eq!(render(&sample(Event::Test))["priority"], "P5");
        assert_eq!(render(&sample(Event::Acknowledged))["user"], "alice");
    }
}
