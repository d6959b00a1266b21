//! Text helpers shared by the renderers: the one-line summary every channel leads with,
//! durations and timestamps in words, truncation and escaping.

use std::fmt::Write as _;
use std::time::Duration;

use crate::{Event, Notification};

/// The ellipsis appended to anything cut short.
pub(crate) const ELLIPSIS: char = '…';

/// `s` cut to at most `max` characters (Unicode scalar values), ending with "…" when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let keep = max.saturating_sub(1);
    let mut out: String = s.chars().take(keep).collect();
    out.push(ELLIPSIS);
    out
}

/// Like [`truncate`], for Slack mrkdwn whose user text is already escaped: never leaves
/// half an entity (`&amp;`) or half a Slack token (`<!date^…|…>`, `<url|label>`) before
/// the "…".
pub(crate) fn truncate_escaped(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    if let Some(amp) = out.rfind('&')
        && !out[amp..].contains(';')
    {
        out.truncate(amp);
    }
    if let Some(open) = out.rfind('<')
        && !out[open..].contains('>')
    {
        out.truncate(open);
    }
    out.push(ELLIPSIS);
    out
}

/// `s` on one line: control characters (line breaks, tabs) become spaces, runs of
/// whitespace collapse, ends are trimmed.
pub(crate) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A duration in words, its two largest units: "45s", "5m 3s", "2h 5m", "3d 4h";
/// below a second, milliseconds ("500ms").
pub(crate) fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let units = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3_600, "h"),
        (secs % 3_600 / 60, "m"),
        (secs % 60, "s"),
    ];
    let first = units.iter().position(|(v, _)| *v > 0).unwrap_or(3);
    let mut out = String::new();
    for (v, unit) in units[first..].iter().take(2) {
        if *v > 0 {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "{v}{unit}");
        }
    }
    out
}

/// A timestamp for people: "2025-03-01 14:05:09 UTC".
pub(crate) fn time(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Whether `u` is an absolute http(s) URL (links from anywhere else are left out).
pub(crate) fn is_http_url(u: &str) -> bool {
    url_scheme_ok(u) && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn url_scheme_ok(u: &str) -> bool {
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// The uppercase word(s) naming what happened: "DOWN", "STILL DOWN", "RESOLVED", ...
pub(crate) fn label(n: &Notification) -> String {
    let state = match one_line(&n.state).to_uppercase() {
        s if s.is_empty() => "DOWN".to_owned(),
        s => s,
    };
    match n.event {
        Event::Trigger => state,
        Event::Reminder => format!("STILL {state}"),
        Event::Escalation => format!("{state} (ESCALATED)"),
        Event::Acknowledged => "ACKNOWLEDGED".to_owned(),
        Event::Resolved => "RESOLVED".to_owned(),
        Event::Degraded => "DEGRADED".to_owned(),
        Event::DegradedCleared => "NO LONGER DEGRADED".to_owned(),
        Event::RegionalNotice => "REGIONAL ISSUE".to_owned(),
        Event::Test => "TEST".to_owned(),
    }
}

/// How long the incident has been open at `n.at`, when known.
pub(crate) fn open_for(n: &Notification) -> Option<Duration> {
    let opened = n.opened_at?;
    let d = n.at.duration_since(opened);
    Duration::try_from(d).ok()
}

/// The regions that saw the monitor failing, comma-separated.
pub(crate) fn failing_regions(n: &Notification) -> String {
    n.regions
        .iter()
        .filter(|r| !r.ok)
        .map(|r| one_line(&r.region))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The words after the dash in the summary: the cause, who acknowledged, how long it
/// lasted.
pub(crate) fn detail(n: &Notification) -> String {
    let cause = one_line(&n.cause);
    match n.event {
        Event::Trigger | Event::Degraded => cause,
        Event::Reminder => match open_for(n) {
            Some(d) => join_nonempty(&cause, &format!("(for {})", duration(d)), " "),
            None => cause,
        },
        Event::Escalation => match open_for(n) {
            Some(d) => join_nonempty(
                &cause,
                &format!("(unacknowledged for {})", duration(d)),
                " ",
            ),
            None => join_nonempty(&cause, "(unacknowledged)", " "),
        },
        Event::Acknowledged => match n.acknowledged_by.as_deref().map(one_line) {
            Some(who) if !who.is_empty() => format!("by {who}"),
            _ => "someone is on it".to_owned(),
        },
        Event::Resolved => match n.duration {
            Some(d) => format!("back up after {}", duration(d)),
            None => "back up".to_owned(),
        },
        Event::DegradedCleared => match n.duration {
            Some(d) => format!("back to normal after {}", duration(d)),
            None => "back to normal".to_owned(),
        },
        Event::RegionalNotice => {
            let regions = failing_regions(n);
            if regions.is_empty() {
                cause
            } else {
                join_nonempty(&cause, &format!("(failing in {regions})"), " ")
            }
        }
        Event::Test => {
            if cause.is_empty() {
                "a test notification from Vigilmon; no action is needed".to_owned()
            } else {
                cause
            }
        }
    }
}

fn join_nonempty(a: &str, b: &str, sep: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}{sep}{b}"),
    }
}

/// Whether the incident is open and unacknowledged, so an "acknowledge" link makes sense.
pub(crate) fn wants_ack(event: Event) -> bool {
    matches!(event, Event::Trigger | Event::Reminder | Event::Escalation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ééééé", 4).chars().count(), 4);
        assert_eq!(truncate_escaped("ab&amp;cd", 5), "ab…");
        assert_eq!(truncate_escaped("ab&amp;cd", 8), "ab&amp;…");
        assert_eq!(truncate_escaped("abcdef", 4), "abc…");
        assert_eq!(truncate_escaped("ab <!date^1|x> cd", 8), "ab …");
        assert_eq!(
            truncate_escaped("ab <!date^1|x> cd", 16),
            "ab <!date^1|x> …"
        );
    }

    #[test]
    fn words() {
        assert_eq!(one_line(" a\r\nb\t c "), "a b c");
        assert_eq!(duration(Duration::from_millis(500)), "500ms");
        assert_eq!(duration(Duration::from_secs(45)), "45s");
        assert_eq!(duration(Duration::from_secs(303)), "5m 3s");
        assert_eq!(duration(Duration::from_secs(7_500)), "2h 5m");
        assert_eq!(duration(Duration::from_secs(7_205)), "2h");
        assert_eq!(
            duration(Duration::from_secs(3 * 86_400 + 4 * 3600 + 9)),
            "3d 4h"
        );
        assert_eq!(
            time("2025-03-01T14:05:09.123Z".parse().unwrap()),
            "2025-03-01 14:05:09 UTC"
        );
        assert!(is_http_url("HTTPS://x.example/a?b=1&c=2"));
        assert!(!is_http_url("javascript:alert(1)"));
        assert!(!is_http_url("https://x.example/a b"));
    }
}
