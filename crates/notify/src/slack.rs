//! Slack: a Block Kit message for an incoming webhook.
//!
//! Layout: a headline section (emoji, `[P1] DOWN: name`, the cause), a section of
//! fields (monitor, state, priority, opened, duration, acknowledged by), a section of
//! regions, an actions block of link buttons (Acknowledge, Incident, Monitor) and a
//! context line (event and time, shown in the reader's time zone). The top-level `text`
//! is the one-line summary, used by notifications and clients without blocks.
//!
//! Slack's rules honoured here: user text has `&`, `<`, `>` escaped (so a monitor
//! named `<!channel>` cannot ping anyone), section texts stay within 3000 characters
//! and fields within 2000 (cut with "…"), button texts within 75, and the message has
//! far fewer than 50 blocks whatever the input (regions are listed in one section).
//!
//! Settings: [`SlackConfig`] (`webhook_url`, a secret).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vigilmon_core::ValidationError;

use crate::spec::{ChannelSpec, http_url};
use crate::text::{self, truncate_escaped};
use crate::{Event, Notification};

/// A Slack channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming-webhook URL (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

impl SlackConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        http_url(errs, "webhook_url", self.webhook_url.as_deref(), true)
            .map(|webhook_url| ChannelSpec::Slack { webhook_url })
    }
}

/// Slack's limit on a section's text.
pub const MAX_SECTION_TEXT: usize = 3000;
/// Slack's limit on one section field.
pub const MAX_FIELD_TEXT: usize = 2000;
/// Slack's limit on the blocks of one message.
pub const MAX_BLOCKS: usize = 50;
/// Slack's limit on a button's URL.
const MAX_BUTTON_URL: usize = 3000;

/// Escapes `&`, `<` and `>` as Slack requires in `text` and mrkdwn fields.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn emoji(e: Event) -> &'static str {
    match e {
        Event::Trigger => ":red_circle:",
        Event::Reminder => ":bell:",
        Event::Escalation => ":rotating_light:",
        Event::Acknowledged => ":eyes:",
        Event::Resolved => ":large_green_circle:",
        Event::Degraded => ":large_yellow_circle:",
        Event::DegradedCleared => ":white_check_mark:",
        Event::RegionalNotice => ":large_orange_circle:",
        Event::Test => ":test_tube:",
    }
}

fn section(text: String) -> Value {
    json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate_escaped(&text, MAX_SECTION_TEXT)},
    })
}

/// A Slack date token: shown in the reader's time zone, with a UTC fallback.
fn date(ts: jiff::Timestamp) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} at {{time_secs}}|{}>",
        ts.as_second(),
        text::time(ts)
    )
}

/// The Block Kit message for `n`: `{"text": ..., "blocks": [...]}`.
pub fn render(n: &Notification) -> Value {
    let mut blocks = Vec::new();

    let title = escape(&n.title());
    let detail = escape(&text::detail(n));
    let mut head = format!("{} *{title}*", emoji(n.event));
    if !detail.is_empty() {
        head.push('\n');
        head.push_str(&detail);
    }
    blocks.push(section(head));

    let mut fields = Vec::new();
    let mut field = |name: &str, value: String| {
        if !value.is_empty() {
            fields.push(json!({
                "type": "mrkdwn",
                "text": truncate_escaped(&format!("*{name}*\n{value}"), MAX_FIELD_TEXT),
            }));
        }
    };
    let kind = text::one_line(&n.monitor_kind);
    let name = escape(&text::one_line(&n.monitor_name));
    field(
        "Monitor",
        if kind.is_empty() {
            name
        } else {
            format!("{name} ({})", escape(&kind))
        },
    );
    field("State", escape(&text::one_line(&n.state)));
    field("Priority", n.priority.as_str().to_owned());
    if let Some(at) = n.opened_at {
        field("Opened", date(at));
    }
    if let Some(d) = n.duration {
        field("Duration", text::duration(d));
    }
    if let Some(who) = &n.acknowledged_by {
        field("Acknowledged by", escape(&text::one_line(who)));
    }
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }

    if !n.regions.is_empty() {
        let mut lines = String::from("*Regions*");
        for r in &n.regions {
            let (mark, verdict) = if r.ok {
                (":white_check_mark:", "ok")
            } else {
                (":x:", "failing")
            };
            lines.push_str(&format!(
                "\n{mark} *{}*: {verdict}",
                escape(&text::one_line(&r.region))
            ));
            if let Some(e) = r
                .error
                .as_deref()
                .map(text::one_line)
                .filter(|e| !e.is_empty())
            {
                lines.push_str(&format!(" — {}", escape(&e)));
            }
            if let Some(at) = r.checked_at {
                lines.push_str(&format!(" (checked {})", date(at)));
            }
        }
        blocks.push(section(lines));
    }

    let mut buttons = Vec::new();
    let mut button = |id: &str, label: &str, url: Option<&String>, primary: bool| {
        if let Some(u) = url.filter(|u| text::is_http_url(u) && u.len() <= MAX_BUTTON_URL) {
            let mut b = json!({
                "type": "button",
                "action_id": id,
                "text": {"type": "plain_text", "text": label},
                "url": u,
            });
            if primary {
                b["style"] = json!("primary");
            }
            buttons.push(b);
        }
    };
    if text::wants_ack(n.event) {
        button("ack", "Acknowledge", n.links.ack_url.as_ref(), true);
    }
    button(
        "incident",
        "View incident",
        n.links.incident_url.as_ref(),
        false,
    );
    button(
        "monitor",
        "View monitor",
        n.links.monitor_url.as_ref(),
        false,
    );
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }

    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": format!("Vigilmon · {} · {}", n.event.as_str(), date(n.at)),
        }],
    }));
    debug_assert!(blocks.len() <= MAX_BLOCKS);

    json!({
        "text": truncate_escaped(&escape(&n.summary()), MAX_SECTION_TEXT),
        "blocks": blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Links, RegionEvidence};
    use std::time::Duration;
    use vigilmon_core::alert::Priority;

    fn n(event: Event) -> Notification {
        Notification {
            event,
            dedup_key: "vigilmon-abc".into(),
            incident_id: None,
            monitor_id: None,
            monitor_name: "<!channel> api & co".into(),
            monitor_kind: "http".into(),
            state: "down".into(),
            priority: Priority::P2,
            cause: "status 503 <b>".into(),
            regions: vec![RegionEvidence {
                region: "eu-west".into(),
                ok: false,
                error: Some("connection refused".into()),
                checked_at: Some("2025-01-01T00:00:00Z".parse().unwrap()),
            }],
            opened_at: Some("2025-01-01T00:00:00Z".parse().unwrap()),
            at: "2025-01-01T00:01:00Z".parse().unwrap(),
            duration: None,
            acknowledged_by: None,
            links: Links {
                monitor_url: Some("https://vigil.example/m/1".into()),
                incident_url: Some("https://vigil.example/i/1".into()),
                ack_url: Some("https://vigil.example/ack?t=a&s=b".into()),
            },
        }
    }

    fn all_text(v: &Value) -> String {
        let mut out = String::new();
        fn walk(v: &Value, out: &mut String) {
            match v {
                Value::String(s) => {
                    out.push_str(s);
                    out.push('\n');
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                Value::Object(o) => o
                    .iter()
                    .filter(|(k, _)| k.as_str() != "url")
                    .for_each(|(_, v)| walk(v, out)),
                _ => {}
            }
        }
        walk(v, &mut out);
        out
    }

    #[test]
    fn escapes_user_text() {
        let v = render(&n(Event::Trigger));
        let t = all_text(&v);
        assert!(!t.contains("<!channel>"), "{t}");
        assert!(t.contains("&lt;!channel&gt; api &amp; co"), "{t}");
        assert!(t.contains("status 503 &lt;b&gt;"));
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .starts_with("[P2] DOWN: &lt;!channel&gt;")
        );
        // Our own tokens stay unescaped.
        assert!(t.contains("<!date^1735689600^"));
    }

    #[test]
    fn buttons_follow_the_event() {
        let trig = render(&n(Event::Trigger));
        let actions = trig["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "actions")
            .unwrap();
        assert_eq!(actions["elements"][0]["action_id"], "ack");
        assert_eq!(
            actions["elements"][0]["url"],
            "https://vigil.example/ack?t=a&s=b"
        );
        let res = render(&n(Event::Resolved));
        assert!(!res.to_string().contains("/ack?"));
        let mut bad = n(Event::Trigger);
        bad.links = Links {
            monitor_url: Some("javascript:alert(1)".into()),
            ..Links::default()
        };
        let v = render(&bad);
        assert!(
            v["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["type"] != "actions")
        );
    }

    #[test]
    fn long_text_is_cut_within_limits() {
        let mut long = n(Event::Trigger);
        long.cause = "<&>".repeat(5000);
        long.regions = (0..500)
            .map(|i| RegionEvidence {
                region: format!("region-{i}"),
                ok: i % 2 == 0,
                error: Some("x".repeat(100)),
                checked_at: None,
            })
            .collect();
        long.acknowledged_by = Some("a".repeat(5000));
        let v = render(&long);
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS);
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= MAX_SECTION_TEXT);
            }
            for f in b["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= MAX_FIELD_TEXT);
            }
        }
        let head = blocks[0]["text"]["text"].as_str().unwrap();
        assert!(head.ends_with('…'));
        // No entity is cut in half before the ellipsis.
        let before = head.trim_end_matches('…');
        let last_amp = before.rfind('&').unwrap();
        assert!(before[last_amp..].contains(';'));
        assert!(v["text"].as_str().unwrap().chars().count() <= MAX_SECTION_TEXT);
        long.monitor_name = "m".repeat(5000);
        let v = render(&long);
        let head = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(head.chars().count(), MAX_SECTION_TEXT);
    }

    #[test]
    fn every_event_renders() {
        for e in Event::ALL {
            let mut x = n(e);
            x.duration = Some(Duration::from_secs(90));
            x.acknowledged_by = Some("alice".into());
            let v = render(&x);
            assert!(v["text"].as_str().is_some_and(|t| !t.is_empty()));
            assert!(
                v["blocks"][0]["text"]["text"]
                    .as_str()
                    .unwrap()
                    .contains(emoji(e))
            );
        }
        let mut r = n(Event::Resolved);
        r.duration = Some(Duration::from_secs(725));
        assert!(
            render(&r)["text"]
                .as_str()
                .unwrap()
                .contains("back up after 12m 5s")
        );
    }
}
