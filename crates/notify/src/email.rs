//! Email: a subject, a plain-text body and an HTML body (sent as
//! `multipart/alternative`), plus the headers that thread an incident's emails.
//!
//! The subject is the one-line summary (`[P1] DOWN: api — status 503 ...`), at most 200
//! characters, never with line breaks. The HTML body escapes every piece of user text
//! (`&`, `<`, `>`, `"`, `'`) and links only to `http(s)` URLs. Each incident's first
//! email (the trigger) gets the Message-ID `<dedup_key@vigilmon>`; its later emails
//! refer to it (`In-Reply-To`, `References`), so mail clients show one thread per
//! incident.
//!
//! Settings: [`EmailConfig`] (`to`); the server is the `smtp:` section.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use serde::{Deserialize, Serialize};
use vigilmon_core::ValidationError;

use crate::spec::ChannelSpec;
use crate::text::{self, truncate};
use crate::{Event, Notification};

/// An email channel's settings (the server is the `smtp:` section).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
}

impl EmailConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        if self.to.is_empty() {
            errs.push(ValidationError::new("to", "must list at least one address"));
        }
        for (i, a) in self.to.iter().enumerate() {
            let a = a.trim();
            if !a.contains('@') || a.chars().any(char::is_whitespace) || a.len() > 254 {
                errs.push(ValidationError::new(
                    format!("to[{i}]"),
                    format!("{a:?} is not an email address"),
                ));
            }
        }
        Some(ChannelSpec::Email {
            to: self.to.iter().map(|a| a.trim().to_owned()).collect(),
        })
    }
}

/// The longest subject, in characters.
pub const MAX_SUBJECT: usize = 200;

/// The rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line, at most [`MAX_SUBJECT`] characters.
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part: a whole document with inline styles.
    pub html: String,
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The colour of the HTML email's banner.
fn colour(e: Event) -> &'static str {
    match e {
        Event::Trigger | Event::Reminder | Event::Escalation => "#d92d20",
        Event::Degraded | Event::RegionalNotice => "#dc6803",
        Event::Resolved | Event::DegradedCleared => "#079455",
        Event::Acknowledged | Event::Test => "#1570ef",
    }
}

/// The facts shown under the headline, as (label, value) in plain text.
fn facts(n: &Notification) -> Vec<(&'static str, String)> {
    let mut f = Vec::new();
    let kind = text::one_line(&n.monitor_kind);
    let name = text::one_line(&n.monitor_name);
    f.push((
        "Monitor",
        if kind.is_empty() {
            name
        } else {
            format!("{name} ({kind})")
        },
    ));
    f.push(("State", text::one_line(&n.state)));
    f.push(("Priority", n.priority.as_str().to_owned()));
    f.push(("Cause", text::one_line(&n.cause)));
    if let Some(t) = n.opened_at {
        f.push(("Opened", text::time(t)));
    }
    if let Some(d) = n.duration {
        f.push(("Duration", text::duration(d)));
    }
    if let Some(who) = &n.acknowledged_by {
        f.push(("Acknowledged by", text::one_line(who)));
    }
    f.push(("At", text::time(n.at)));
    f.retain(|(_, v)| !v.is_empty());
    f
}

/// One line per region: "eu-west: failing — connection refused (checked ...)".
fn region_lines(n: &Notification) -> Vec<String> {
    n.regions
        .iter()
        .map(|r| {
            let mut s = format!(
                "{}: {}",
                text::one_line(&r.region),
                if r.ok { "ok" } else { "failing" }
            );
            if let Some(e) = r
                .error
                .as_deref()
                .map(text::one_line)
                .filter(|e| !e.is_empty())
            {
                s.push_str(&format!(" — {e}"));
            }
            if let Some(t) = r.checked_at {
                s.push_str(&format!(" (checked {})", text::time(t)));
            }
            s
        })
        .collect()
}

/// The links shown, as (label, url): only http(s) URLs; the acknowledge link only while
/// the incident is open and unacknowledged.
fn links(n: &Notification) -> Vec<(&'static str, &str)> {
    let ack = if text::wants_ack(n.event) {
        n.links.ack_url.as_deref()
    } else {
        None
    };
    [
        ("Acknowledge", ack),
        ("View incident", n.links.incident_url.as_deref()),
        ("View monitor", n.links.monitor_url.as_deref()),
    ]
    .into_iter()
    .filter_map(|(l, u)| u.filter(|u| text::is_http_url(u)).map(|u| (l, u)))
    .collect()
}

/// Renders `n` as an email.
pub fn render(n: &Notification) -> Rendered {
    let summary = text::one_line(&n.summary());
    let subject = truncate(&summary, MAX_SUBJECT);
    let facts = facts(n);
    let regions = region_lines(n);
    let links = links(n);

    let width = facts.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
    let mut t = format!("{summary}\n\n");
    for (label, value) in &facts {
        t.push_str(&format!("{:<width$} {value}\n", format!("{label}:")));
    }
    if !regions.is_empty() {
        t.push_str("\nRegions:\n");
        for r in &regions {
            t.push_str(&format!("  - {r}\n"));
        }
    }
    if !links.is_empty() {
        t.push('\n');
        for (label, url) in &links {
            t.push_str(&format!("{label}: {url}\n"));
        }
    }
    t.push_str(&format!(
        "\n-- \nSent by Vigilmon ({} event).\n",
        n.event.as_str()
    ));

    let e = escape_html;
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">");
    h.push_str(&format!("<title>{}</title></head>\n", e(&subject)));
    h.push_str(
        "<body style=\"margin:0;padding:16px;background:#f5f5f5;\
         font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#101828\">\n",
    );
    h.push_str(
        "<table role=\"presentation\" width=\"100%\" style=\"max-width:640px;margin:0 auto;\
         background:#ffffff;border-collapse:collapse\">\n",
    );
    h.push_str(&format!(
        "<tr><td style=\"background:{};color:#ffffff;padding:12px 16px;font-size:18px;\
         font-weight:bold\">{}</td></tr>\n",
        colour(n.event),
        e(&n.title())
    ));
    let detail = text::detail(n);
    if !detail.is_empty() {
        h.push_str(&format!(
            "<tr><td style=\"padding:12px 16px;font-size:15px\">{}</td></tr>\n",
            e(&detail)
        ));
    }
    h.push_str("<tr><td style=\"padding:0 16px 12px\"><table role=\"presentation\" style=\"border-collapse:collapse;font-size:14px\">\n");
    for (label, value) in &facts {
        h.push_str(&format!(
            "<tr><th align=\"left\" style=\"padding:2px 12px 2px 0;color:#475467;\
             font-weight:normal;vertical-align:top\">{}</th><td style=\"padding:2px 0\">{}</td></tr>\n",
            e(label),
            e(value)
        ));
    }
    h.push_str("</table></td></tr>\n");
    if !regions.is_empty() {
        h.push_str("<tr><td style=\"padding:0 16px 12px;font-size:14px\"><b>Regions</b><ul style=\"margin:4px 0;padding-left:20px\">\n");
        for r in &regions {
            h.push_str(&format!("<li>{}</li>\n", e(r)));
        }
        h.push_str("</ul></td></tr>\n");
    }
    if !links.is_empty() {
        h.push_str("<tr><td style=\"padding:4px 16px 16px\">");
        for (label, url) in &links {
            let style = if *label == "Acknowledge" {
                "background:#1570ef;color:#ffffff"
            } else {
                "background:#eaecf0;color:#101828"
            };
            h.push_str(&format!(
                "<a href=\"{}\" style=\"{style};display:inline-block;padding:8px 14px;\
                 margin-right:8px;border-radius:4px;text-decoration:none;font-size:14px\">{}</a>",
                e(url),
                e(label)
            ));
        }
        h.push_str("</td></tr>\n");
    }
    h.push_str(&format!(
        "<tr><td style=\"padding:8px 16px;color:#667085;font-size:12px;border-top:1px solid #eaecf0\">\
         Sent by Vigilmon ({} event).</td></tr>\n",
        e(n.event.as_str())
    ));
    h.push_str("</table>\n</body></html>\n");

    Rendered {
        subject,
        text: t,
        html: h,
    }
}

/// `dedup_key` made safe for a Message-ID's left part (RFC 5322 dot-atom text).
fn id_part(key: &str) -> String {
    let s: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(200)
        .collect();
    let s = s.trim_matches('.').replace("..", ".");
    if s.is_empty() {
        "incident".to_owned()
    } else {
        s
    }
}

/// The Message-ID of an incident's first email, which its later emails refer to.
pub fn thread_id(n: &Notification) -> String {
    format!("<{}@vigilmon>", id_part(&n.dedup_key))
}

/// Builds the message `from` → `to`; `Err` says which address is wrong.
pub(crate) fn message(from: &Mailbox, to: &[String], n: &Notification) -> Result<Message, String> {
    if to.is_empty() {
        return Err("the email channel lists no recipients".to_owned());
    }
    let r = render(n);
    let thread = thread_id(n);
    let mut b = Message::builder()
        .from(from.clone())
        .subject(r.subject)
        .user_agent(crate::USER_AGENT.to_owned());
    for addr in to {
        let mbox: Mailbox = addr
            .trim()
            .parse()
            .map_err(|e| format!("{addr:?} is not an email address: {e}"))?;
        b = b.to(mbox);
    }
    b = if n.event == Event::Trigger {
        b.message_id(Some(thread))
    } else {
        b.message_id(Some(format!(
            "<{}.{}.{}@vigilmon>",
            id_part(&n.dedup_key),
            n.event.as_str(),
            n.at.as_millisecond()
        )))
        .in_reply_to(thread.clone())
        .references(thread)
    };
    b.multipart(MultiPart::alternative_plain_html(r.text, r.html))
        .map_err(|e| format!("cannot build the email: {e}"))
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
            dedup_key: "vigilmon-1234".into(),
            incident_id: None,
            monitor_id: None,
            monitor_name: "<script>alert(\"x\")</script> & 'co'".into(),
            monitor_kind: "http".into(),
            state: "down".into(),
            priority: Priority::P1,
            cause: "status 503 is not one of the expected (200)".into(),
            regions: vec![RegionEvidence {
                region: "eu-west".into(),
                ok: false,
                error: Some("<timeout>".into()),
                checked_at: None,
            }],
            opened_at: Some("2025-01-01T00:00:00Z".parse().unwrap()),
            at: "2025-01-01T00:05:00Z".parse().unwrap(),
            duration: Some(Duration::from_secs(300)),
            acknowledged_by: None,
            links: Links {
                monitor_url: Some("https://v.example/m/1?a=1&b=\"2\"".into()),
                incident_url: Some("javascript:alert(1)".into()),
                ack_url: Some("https://v.example/ack/xyz".into()),
            },
        }
    }

    #[test]
    fn subject_and_escaping() {
        let r = render(&n(Event::Trigger));
        assert_eq!(
            r.subject,
            "[P1] DOWN: <script>alert(\"x\")</script> & 'co' — status 503 is not one of the expected (200)"
        );
        assert!(!r.html.contains("<script>"));
        assert!(
            r.html
                .contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;")
        );
        assert!(r.html.contains("&lt;timeout&gt;"));
        assert!(
            r.html
                .contains("href=\"https://v.example/m/1?a=1&amp;b=&quot;2&quot;\"")
        );
        assert!(!r.html.contains("javascript:"));
        assert!(r.html.contains("https://v.example/ack/xyz"));
        assert!(r.text.contains("<script>alert"));
        assert!(r.text.contains("Acknowledge: https://v.example/ack/xyz"));
        assert!(r.text.contains("eu-west: failing — <timeout>"));
    }

    #[test]
    fn subject_is_one_short_line() {
        let mut x = n(Event::Trigger);
        x.monitor_name = "a\r\nBcc: victim@example.com".into();
        x.cause = "y".repeat(1000);
        let r = render(&x);
        assert!(!r.subject.contains(['\r', '\n']));
        assert!(r.subject.chars().count() <= MAX_SUBJECT);
        assert!(r.subject.ends_with('…'));
    }

    #[test]
    fn per_event() {
        let res = render(&n(Event::Resolved));
        assert!(res.subject.starts_with("[P1] RESOLVED: "));
        assert!(res.subject.ends_with("back up after 5m"));
        assert!(!res.html.contains("/ack/"), "no ack link once resolved");
        let mut ack = n(Event::Acknowledged);
        ack.acknowledged_by = Some("alice".into());
        let r = render(&ack);
        assert!(r.subject.ends_with("— by alice"));
        assert!(r.text.contains("Acknowledged by: alice"));
        for e in Event::ALL {
            let r = render(&n(e));
            assert!(r.html.starts_with("<!DOCTYPE html>"));
            assert!(!r.subject.is_empty());
        }
    }

    #[test]
    fn threading() {
        let from: Mailbox = "Vigilmon <alerts@example.com>".parse().unwrap();
        let to = ["ops@example.com".to_owned()];
        let trig = message(&from, &to, &n(Event::Trigger)).unwrap();
        let raw = String::from_utf8(trig.formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <vigilmon-1234@vigilmon>"),
            "{raw}"
        );
        let res = message(&from, &to, &n(Event::Resolved)).unwrap();
        let raw = String::from_utf8(res.formatted()).unwrap();
        assert!(
            raw.contains("In-Reply-To: <vigilmon-1234@vigilmon>"),
            "{raw}"
        );
        assert!(raw.contains("References: <vigilmon-1234@vigilmon>"));
        assert!(message(&from, &["nope".to_owned()], &n(Event::Trigger)).is_err());
        assert!(message(&from, &[], &n(Event::Trigger)).is_err());
        assert_eq!(id_part("a b<c>"), "a-b-c-");
    }
}
