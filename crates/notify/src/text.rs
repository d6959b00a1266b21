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

/// `s` with `&`, `<`, `>` and `"` written as HTML entities: for the channels whose
/// text is HTML (Telegram, Matrix, Google Chat, Pushover).
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` cut so that its HTML ([`html`]) holds at most `max` characters, and that HTML.
pub(crate) fn html_within(s: &str, max: usize) -> String {
    let mut keep = max;
    loop {
        let h = html(&truncate(s, keep));
        let len = h.chars().count();
        if len <= max || keep <= 1 {
            return if len <= max { h } else { String::new() };
        }
        keep = (keep * max / len).min(keep - 1);
    }
}

/// `s` with every Markdown control character behind a backslash, so user text shows
/// as written instead of turning into emphasis, links or headings (Discord, Teams,
/// Mattermost, Gotify, ntfy).
pub(crate) fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '[' | ']' | '(' | ')' | '#' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `s` cut to at most `max` characters like [`truncate`], never leaving half an
/// escape (`\*`) or half an entity (`&amp;`) before the "…".
pub(crate) fn truncate_marked(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    let trailing = out.chars().rev().take_while(|c| *c == '\\').count();
    if trailing % 2 == 1 {
        out.pop();
    }
    if let Some(amp) = out.rfind('&')
        && !out[amp..].contains(';')
    {
        out.truncate(amp);
    }
    out.push(ELLIPSIS);
    out
}

/// The colour of an event, as `0xRRGGBB`: red while down, orange for regional
/// failures, amber for warnings, blue when acknowledged, green when over, grey for
/// tests.
pub(crate) fn colour(event: Event) -> u32 {
    match event {
        Event::Trigger | Event::Reminder | Event::Escalation => 0xD7_2F_2F,
        Event::RegionalNotice => 0xEF_7B_21,
        Event::Degraded => 0xF2_B7_05,
        Event::Acknowledged => 0x2F_6F_D7,
        Event::Resolved | Event::DegradedCleared => 0x2E_A0_43,
        Event::Test => 0x80_80_80,
    }
}

/// The colour of an event as `#rrggbb`.
pub(crate) fn colour_hex(event: Event) -> String {
    format!("#{:06x}", colour(event))
}

/// A symbol leading the event's title on chat channels that show emoji as text.
pub(crate) fn symbol(event: Event) -> &'static str {
    match event {
        Event::Trigger => "🔴",
        Event::Reminder => "🔔",
        Event::Escalation => "🚨",
        Event::Acknowledged => "👀",
        Event::Resolved => "🟢",
        Event::Degraded => "🟡",
        Event::DegradedCleared => "✅",
        Event::RegionalNotice => "🟠",
        Event::Test => "🧪",
    }
}

/// The facts every rich message lists, unescaped and on one line each: monitor (with
/// its kind), state, priority, when the incident opened, how long it lasted, who
/// acknowledged. Empty facts are left out.
pub(crate) fn facts(n: &Notification) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let name = one_line(&n.monitor_name);
    let kind = one_line(&n.monitor_kind);
    out.push((
        "Monitor",
        match (name.is_empty(), kind.is_empty()) {
            (true, _) => "(unnamed monitor)".to_owned(),
            (false, true) => name,
            (false, false) => format!("{name} ({kind})"),
        },
    ));
    out.push(("State", one_line(&n.state)));
    out.push(("Priority", n.priority.as_str().to_owned()));
    if let Some(at) = n.opened_at {
        out.push(("Opened", time(at)));
    }
    if let Some(d) = n.duration {
        out.push(("Duration", duration(d)));
    }
    if let Some(who) = &n.acknowledged_by {
        out.push(("Acknowledged by", one_line(who)));
    }
    out.retain(|(_, v)| !v.is_empty());
    out
}

/// One line per region, unescaped: `eu-west: failing — status 503 (checked …)`.
pub(crate) fn region_lines(n: &Notification) -> Vec<String> {
    n.regions
        .iter()
        .map(|r| {
            let mut line = format!(
                "{}: {}",
                one_line(&r.region),
                if r.ok { "ok" } else { "failing" }
            );
            if let Some(e) = r.error.as_deref().map(one_line).filter(|e| !e.is_empty()) {
                line.push_str(" — ");
                line.push_str(&e);
            }
            if let Some(at) = r.checked_at {
                line.push_str(&format!(" (checked {})", time(at)));
            }
            line
        })
        .collect()
}

/// The links a message offers, as (label, URL): Acknowledge while the incident is
/// open and unacknowledged, then the incident and the monitor. Only http(s) URLs.
pub(crate) fn links(n: &Notification) -> Vec<(&'static str, &str)> {
    let ack = if wants_ack(n.event) {
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
    .filter_map(|(label, u)| u.filter(|u| is_http_url(u)).map(|u| (label, u)))
    .collect()
}

/// The notification as plain text over several lines: the summary, the facts, the
/// regions and the links. For push channels that show plain text.
pub(crate) fn plain(n: &Notification) -> String {
    let mut out = detail(n);
    for (k, v) in facts(n) {
        let _ = write!(out, "\n{k}: {v}");
    }
    for line in region_lines(n) {
        let _ = write!(out, "\n{line}");
    }
    out.trim_start().to_owned()
}

/// A notification for the renderers' unit tests: user text that needs escaping, two
/// regions, every link.
#[cfg(test)]
pub(crate) fn sample(event: Event) -> Notification {
    Notification {
        event,
        dedup_key: "vigilmon-0190f1c2-1111-7222-8333-444455556666".into(),
        incident_id: Some(uuid::Uuid::nil()),
        monitor_id: Some(uuid::Uuid::max()),
        monitor_name: "<b>api</b> & *co* @channel".into(),
        monitor_kind: "http".into(),
        state: "down".into(),
        priority: vigilmon_core::alert::Priority::P1,
        cause: "status 503 is not one of the expected (200)".into(),
        regions: vec![
            crate::RegionEvidence {
                region: "eu-west".into(),
                ok: false,
                error: Some("status 503 <html>".into()),
                checked_at: Some("2025-01-01T00:00:30Z".parse().unwrap()),
            },
            crate::RegionEvidence {
                region: "us-east".into(),
                ok: true,
                error: None,
                checked_at: None,
            },
        ],
        opened_at: Some("2025-01-01T00:00:00Z".parse().unwrap()),
        at: "2025-01-01T00:05:00Z".parse().unwrap(),
        duration: (event == Event::Resolved).then_some(Duration::from_secs(725)),
        acknowledged_by: (event == Event::Acknowledged).then(|| "alice".into()),
        links: crate::Links {
            monitor_url: Some("https://vigil.example/monitors/1".into()),
            incident_url: Some("https://vigil.example/incidents/1".into()),
            ack_url: Some("https://vigil.example/ack/1?exp=1&sig=2".into()),
        },
    }
}

/// A notification past every limit: a huge cause and name, hundreds of regions.
#[cfg(test)]
pub(crate) fn oversized(event: Event) -> Notification {
    let mut n = sample(event);
    n.cause = "<&*_> ".repeat(3_000);
    n.monitor_name = "n".repeat(3_000);
    n.acknowledged_by = Some("a".repeat(3_000));
    n.regions = (0..300)
        .map(|i| crate::RegionEvidence {
            region: format!("region-{i}"),
            ok: i % 3 == 0,
            error: Some("connection reset & <more>".into()),
            checked_at: None,
        })
        .collect();
    n
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
