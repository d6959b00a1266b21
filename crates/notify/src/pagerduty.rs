//! PagerDuty: events for the Events API v2 (`POST /v2/enqueue`).
//!
//! | event | event_action | dedup_key | severity |
//! |---|---|---|---|
//! | trigger, reminder, escalation | `trigger` | the incident's key | from the priority: P1 critical, P2 error, P3 warning, P4 info |
//! | acknowledged | `acknowledge` | the incident's key | — |
//! | resolved | `resolve` | the incident's key | — |
//! | degraded | `trigger` | the key + `-degraded` | `warning` (`info` for P4) |
//! | degraded_cleared | `resolve` | the key + `-degraded` | — |
//! | test | `trigger` | the key, prefixed `vigilmon-test-` if it is not already | `info` |
//! | regional_notice | not sent ([`sends`] is false) | | |
//!
//! Reminders and escalations re-send the trigger with the same key: PagerDuty folds them
//! into the open alert, and runs its own escalation policy. Degraded warnings use their
//! own key so that clearing them never resolves a real outage. A test trigger is left
//! open: resolve it in PagerDuty.
//!
//! Limits: `summary` at most 1024 characters, `dedup_key` at most 255 (cut, keeping the
//! suffix). Acknowledge and resolve events carry only the routing and dedup keys, as the
//! API asks.
//!
//! Settings: [`PagerDutyConfig`] (`routing_key`, a secret; `events_url`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use vigilmon_core::ValidationError;

use crate::spec::{ChannelSpec, PAGERDUTY_EVENTS_URL, http_url};
use crate::text::{self, truncate};
use crate::{Event, Notification};

/// A PagerDuty channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The Events API v2 routing (integration) key (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// The enqueue endpoint. Default `https://events.pagerduty.com/v2/enqueue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_url: Option<String>,
}

impl PagerDutyConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        let key = match self.routing_key.as_deref().map(str::trim) {
            Some(k) if !k.is_empty() && k.len() <= 64 => Some(k.to_owned()),
            _ => {
                errs.push(ValidationError::new(
                    "routing_key",
                    "is required (the Events API v2 integration key)",
                ));
                None
            }
        };
        let events_url = match &self.events_url {
            Some(u) => http_url(errs, "events_url", Some(u), true),
            None => Some(PAGERDUTY_EVENTS_URL.to_owned()),
        };
        match (key, events_url) {
            (Some(routing_key), Some(events_url)) => Some(ChannelSpec::PagerDuty {
                routing_key,
                events_url,
            }),
            _ => None,
        }
    }
}

/// PagerDuty's limit on `payload.summary`.
pub const MAX_SUMMARY: usize = 1024;
/// PagerDuty's limit on `dedup_key`.
pub const MAX_DEDUP_KEY: usize = 255;

/// The Events API v2 action for `event`, `None` when PagerDuty does not receive it.
pub fn event_action(event: Event) -> Option<&'static str> {
    match event {
        Event::Trigger | Event::Reminder | Event::Escalation | Event::Degraded | Event::Test => {
            Some("trigger")
        }
        Event::Acknowledged => Some("acknowledge"),
        Event::Resolved | Event::DegradedCleared => Some("resolve"),
        Event::RegionalNotice => None,
    }
}

/// Whether PagerDuty receives `event` at all; regional notices do not page anyone.
pub fn sends(event: Event) -> bool {
    event_action(event).is_some()
}

/// The severity PagerDuty shows (and may route urgency on).
pub fn severity(n: &Notification) -> &'static str {
    use vigilmon_core::alert::Priority;
    match n.event {
        Event::Test => "info",
        Event::Degraded | Event::DegradedCleared => match n.priority {
            Priority::P4 => "info",
            _ => "warning",
        },
        _ => n.priority.pagerduty_severity(),
    }
}

/// The dedup_key sent for `n`: the incident's key for the incident's own events, a
/// derived one for degraded warnings and tests. At most 255 characters.
pub fn dedup_key(n: &Notification) -> String {
    let key = n.dedup_key.trim();
    let key = if key.is_empty() { "vigilmon" } else { key };
    let (prefix, suffix) = match n.event {
        Event::Degraded | Event::DegradedCleared => ("", "-degraded"),
        Event::RegionalNotice => ("", "-regional"),
        Event::Test if !key.starts_with("vigilmon-test-") => ("vigilmon-test-", ""),
        _ => ("", ""),
    };
    let room = MAX_DEDUP_KEY - prefix.len() - suffix.len();
    let mut base = key.to_owned();
    if base.len() > room {
        let mut cut = room;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        base.truncate(cut);
    }
    format!("{prefix}{base}{suffix}")
}

/// The Events API v2 body for `n`. For events PagerDuty does not receive
/// (see [`sends`]) it is an `info` trigger under a `-regional` key, for previews only:
/// [`crate::Notifier::deliver`] does not send it.
pub fn render(routing_key: &str, n: &Notification) -> Value {
    let action = event_action(n.event).unwrap_or("trigger");
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(n),
    });
    if action != "trigger" {
        return body;
    }

    let name = match text::one_line(&n.monitor_name) {
        s if s.is_empty() => "vigilmon".to_owned(),
        s => s,
    };
    let mut details = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            details.insert(k.to_owned(), v);
        }
    };
    put("event", json!(n.event.as_str()));
    put("priority", json!(n.priority.as_str()));
    put("monitor", json!(n.monitor_name));
    put("monitor_kind", json!(n.monitor_kind));
    put("state", json!(n.state));
    put("cause", json!(n.cause));
    put("monitor_id", json!(n.monitor_id));
    put("incident_id", json!(n.incident_id));
    put("opened_at", json!(n.opened_at.map(|t| t.to_string())));
    if let Some(d) = text::open_for(n) {
        put("open_for", json!(text::duration(d)));
    }
    if !n.regions.is_empty() {
        let regions: Vec<Value> = n
            .regions
            .iter()
            .map(|r| {
                json!({
                    "region": r.region,
                    "ok": r.ok,
                    "error": r.error,
                    "checked_at": r.checked_at.map(|t| t.to_string()),
                })
            })
            .collect();
        put("regions", Value::Array(regions));
    }

    let mut payload = json!({
        "summary": truncate(&n.summary(), MAX_SUMMARY),
        "source": truncate(&name, MAX_SUMMARY),
        "severity": severity(n),
        "timestamp": n.at.to_string(),
        "component": truncate(&name, MAX_SUMMARY),
        "custom_details": details,
    });
    let kind = text::one_line(&n.monitor_kind);
    if !kind.is_empty() {
        payload["group"] = json!(kind);
    }
    let class = text::one_line(&n.state);
    if !class.is_empty() {
        payload["class"] = json!(class);
    }
    body["payload"] = payload;

    let links: Vec<Value> = [
        (&n.links.incident_url, "Incident in Vigilmon"),
        (&n.links.monitor_url, "Monitor in Vigilmon"),
    ]
    .into_iter()
    .filter_map(|(u, label)| {
        u.as_deref()
            .filter(|u| text::is_http_url(u))
            .map(|u| json!({"href": u, "text": label}))
    })
    .collect();
    if let Some(first) = links.first() {
        body["client_url"] = first["href"].clone();
    }
    if !links.is_empty() {
        body["links"] = Value::Array(links);
    }
    body["client"] = json!("Vigilmon");
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Links, RegionEvidence};
    use vigilmon_core::alert::Priority;

    fn n(event: Event, priority: Priority) -> Notification {
        Notification {
            event,
            dedup_key: "vigilmon-0190f1c2-aaaa-7bbb-8ccc-123456789abc".into(),
            incident_id: Some(uuid::Uuid::nil()),
            monitor_id: None,
            monitor_name: "api".into(),
            monitor_kind: "http".into(),
            state: "down".into(),
            priority,
            cause: "connection refused".into(),
            regions: vec![RegionEvidence {
                region: "eu".into(),
                ok: false,
                error: Some("refused".into()),
                checked_at: None,
            }],
            opened_at: None,
            at: "2025-01-01T00:00:00Z".parse().unwrap(),
            duration: None,
            acknowledged_by: None,
            links: Links {
                incident_url: Some("https://v.example/i/1".into()),
                ..Links::default()
            },
        }
    }

    #[test]
    fn actions_and_dedup_keys() {
        let key = "vigilmon-0190f1c2-aaaa-7bbb-8ccc-123456789abc";
        for (e, action) in [
            (Event::Trigger, "trigger"),
            (Event::Reminder, "trigger"),
            (Event::Escalation, "trigger"),
            (Event::Acknowledged, "acknowledge"),
            (Event::Resolved, "resolve"),
        ] {
            let v = render("RK", &n(e, Priority::P1));
            assert_eq!(v["event_action"], action, "{e:?}");
            assert_eq!(v["dedup_key"], key, "{e:?} reuses the incident's key");
            assert_eq!(v["routing_key"], "RK");
            assert_eq!(v.get("payload").is_some(), action == "trigger");
        }
        let d = render("RK", &n(Event::Degraded, Priority::P1));
        let c = render("RK", &n(Event::DegradedCleared, Priority::P1));
        assert_eq!(d["dedup_key"], format!("{key}-degraded"));
        assert_eq!(c["dedup_key"], d["dedup_key"]);
        assert_eq!(c["event_action"], "resolve");
        let t = render("RK", &n(Event::Test, Priority::P1));
        assert_eq!(t["dedup_key"], format!("vigilmon-test-{key}"));
        let mut own = n(Event::Test, Priority::P1);
        own.dedup_key = "vigilmon-test-123".into();
        assert_eq!(render("RK", &own)["dedup_key"], "vigilmon-test-123");
        assert!(!sends(Event::RegionalNotice));
        assert!(Event::ALL.iter().filter(|e| sends(**e)).count() == 8);
    }

    #[test]
    fn severity_mapping() {
        for (p, s) in [
            (Priority::P1, "critical"),
            (Priority::P2, "error"),
            (Priority::P3, "warning"),
            (Priority::P4, "info"),
        ] {
            assert_eq!(
                render("RK", &n(Event::Trigger, p))["payload"]["severity"],
                s
            );
            assert_eq!(
                render("RK", &n(Event::Escalation, p))["payload"]["severity"],
                s
            );
        }
        let deg = |p| render("RK", &n(Event::Degraded, p))["payload"]["severity"].clone();
        assert_eq!(deg(Priority::P1), "warning");
        assert_eq!(deg(Priority::P4), "info");
        assert_eq!(
            render("RK", &n(Event::Test, Priority::P1))["payload"]["severity"],
            "info"
        );
    }

    #[test]
    fn trigger_fields_and_limits() {
        let mut x = n(Event::Trigger, Priority::P2);
        x.cause = "é".repeat(3000);
        x.dedup_key = "k".repeat(400);
        let v = render("RK", &x);
        let p = &v["payload"];
        assert!(p["summary"].as_str().unwrap().chars().count() <= MAX_SUMMARY);
        assert!(p["summary"].as_str().unwrap().ends_with('…'));
        assert_eq!(p["source"], "api");
        assert_eq!(p["component"], "api");
        assert_eq!(p["group"], "http");
        assert_eq!(p["class"], "down");
        assert_eq!(p["timestamp"], "2025-01-01T00:00:00Z");
        assert_eq!(p["custom_details"]["regions"][0]["error"], "refused");
        assert_eq!(
            p["custom_details"]["incident_id"],
            uuid::Uuid::nil().to_string()
        );
        assert_eq!(v["client"], "Vigilmon");
        assert_eq!(v["client_url"], "https://v.example/i/1");
        assert_eq!(v["links"][0]["href"], "https://v.example/i/1");
        assert_eq!(v["dedup_key"].as_str().unwrap().len(), MAX_DEDUP_KEY);
        x.event = Event::Degraded;
        let k = dedup_key(&x);
        assert_eq!(k.len(), MAX_DEDUP_KEY);
        assert!(k.ends_with("-degraded"));
        let mut anon = n(Event::Trigger, Priority::P1);
        anon.monitor_name = " \n".into();
        assert_eq!(render("RK", &anon)["payload"]["source"], "vigilmon");
    }
}
