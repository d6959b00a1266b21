//! How the UI writes times, durations, states and figures in words.

use jiff::Timestamp;
use vigilmon_core::MonitorState;

/// A state's name as shown, and the CSS class of its colour (the word is always shown
/// too: colour is never the only signal).
pub(crate) fn state_label(s: MonitorState) -> &'static str {
    match s {
        MonitorState::Pending => "Pending",
        MonitorState::Up => "Up",
        MonitorState::Degraded => "Degraded",
        MonitorState::Down => "Down",
        MonitorState::Paused => "Paused",
        MonitorState::Maintenance => "Maintenance",
    }
}

/// A time shown to people, with the text of how long ago it was.
#[derive(Debug, Clone)]
pub(crate) struct When {
    /// RFC 3339, for `<time datetime>` (the page script keeps `ago` current).
    pub iso: String,
    /// `2026-11-27 12:00:41 UTC`.
    pub utc: String,
    /// `42 s ago`.
    pub ago: String,
}

impl When {
    pub fn new(t: Timestamp, now: Timestamp) -> Self {
        Self {
            iso: t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            utc: utc(t),
            ago: ago(t, now),
        }
    }

    pub fn opt(t: Option<Timestamp>, now: Timestamp) -> Option<Self> {
        t.map(|t| Self::new(t, now))
    }
}

/// `2026-11-27 12:00:41 UTC`.
pub(crate) fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `12:00` (UTC), for chart axes.
pub(crate) fn hhmm(t: Timestamp) -> String {
    t.strftime("%H:%M").to_string()
}

/// How long ago `t` was (or how far ahead it is), in one short phrase.
pub(crate) fn ago(t: Timestamp, now: Timestamp) -> String {
    let secs = (now.as_millisecond() - t.as_millisecond()) / 1000;
    if secs < 0 {
        return format!("in {}", span(-secs));
    }
    if secs < 5 {
        return "just now".into();
    }
    format!("{} ago", span(secs))
}

/// A number of seconds as `42 s`, `5 min`, `3 h`, `2 d`.
pub(crate) fn span(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// A duration in milliseconds as `87 ms` or `1.24 s`.
pub(crate) fn ms(v: u64) -> String {
    if v < 1000 {
        format!("{v} ms")
    } else if v < 10_000 {
        format!("{:.2} s", v as f64 / 1000.0)
    } else {
        format!("{:.1} s", v as f64 / 1000.0)
    }
}

/// A length of time from milliseconds, in its largest sensible units: `4 min 12 s`.
pub(crate) fn duration_ms(v: i64) -> String {
    let s = v.max(0) / 1000;
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A share as a percentage with one decimal (`99.8 %`), never rounding a failure
/// up to 100.
pub(crate) fn percent(ok: u64, total: u64) -> String {
    if total == 0 {
        return "—".into();
    }
    let p = ok as f64 * 100.0 / total as f64;
    let shown = (p * 10.0).floor() / 10.0;
    if ok == total {
        "100 %".into()
    } else {
        format!("{shown:.1} %")
    }
}

/// `s` percent-encoded for one path segment of a URL (everything but unreserved
/// characters is encoded, `/` included).
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A JSON scalar as text.
pub(crate) fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".into(),
        serde_json::Value::Array(a) => a.iter().map(json_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// A window's downtime in words: `no downtime`, `down 4 min 12 s in 2 incidents`, or
/// `not checked yet in this window` when no time counted.
pub(crate) fn downtime_words(counted_ms: i64, downtime_ms: i64, incidents: usize) -> String {
    if counted_ms == 0 {
        return "not checked yet in this window".to_owned();
    }
    if downtime_ms == 0 {
        return "no downtime".to_owned();
    }
    let incidents = match incidents {
        1 => "1 incident".to_owned(),
        n => format!("{n} incidents"),
    };
    format!("down {} in {incidents}", duration_ms(downtime_ms))
}

/// A URL or address cut after its `/`, `?` and `&`, where a long one may break onto the
/// next line (the template puts a `<wbr>` between the pieces): `https://` stays whole.
pub(crate) fn break_points(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        cur.push(c);
        // After a separator, unless the next is a slash too (`//`), so that a scheme's
        // `://` stays with it.
        if cur.ends_with("://") || (matches!(c, '/' | '?' | '&') && chars.peek() != Some(&'/')) {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The first words of a long text (over 140 characters), cut at a space, to show with
/// the rest folded behind "more"; `None` when the text is short enough to show whole.
pub(crate) fn fold(text: &str) -> Option<String> {
    if text.chars().count() <= 140 {
        return None;
    }
    let head: String = text.chars().take(100).collect();
    let cut = head.rfind(' ').filter(|&i| i > 60).unwrap_or(head.len());
    Some(format!("{}…", head[..cut].trim_end()))
}

/// A delivery error split into its plain words and the technical account folded away
/// under them (see `vigilmon_notify::DETAIL`).
pub(crate) fn plain_and_detail(error: &str) -> (String, Option<String>) {
    match error.split_once(vigilmon_notify::DETAIL) {
        Some((plain, detail)) => (plain.to_owned(), Some(detail.to_owned())),
        None => (error.to_owned(), None),
    }
}

/// A certificate's expiry in words, in whole days: "certificate expires in 12 days",
/// "… in 1 day", "… today" (under a day left), "certificate expired 3 days ago".
pub(crate) fn cert_words(expires: Timestamp, now: Timestamp) -> String {
    const DAY: i64 = 86_400_000;
    let ms = expires.as_millisecond() - now.as_millisecond();
    let plural = |n: i64| if n == 1 { "" } else { "s" };
    if ms < 0 {
        match -ms / DAY {
            0 => "certificate expired today".into(),
            d => format!("certificate expired {d} day{} ago", plural(d)),
        }
    } else {
        match ms / DAY {
            0 => "certificate expires today".into(),
            d => format!("certificate expires in {d} day{}", plural(d)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    #[test]
    fn words() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now - SignedDuration::from_secs(42), now), "42 s ago");
        assert_eq!(
            ago(now - SignedDuration::from_secs(3 * 3600), now),
            "3 h ago"
        );
        assert_eq!(ago(now + SignedDuration::from_secs(120), now), "in 2 min");
        assert_eq!(ms(87), "87 ms");
        assert_eq!(ms(1240), "1.24 s");
        assert_eq!(percent(999, 1000), "99.9 %");
        assert_eq!(percent(9999, 10000), "99.9 %", "never rounds up to 100");
        assert_eq!(percent(5, 5), "100 %");
        assert_eq!(percent(0, 0), "—");
        assert_eq!(duration_ms(252_000), "4 min 12 s");
        assert_eq!(downtime_words(0, 0, 0), "not checked yet in this window");
        assert_eq!(downtime_words(60_000, 0, 0), "no downtime");
        assert_eq!(
            downtime_words(600_000, 252_000, 1),
            "down 4 min 12 s in 1 incident"
        );
        assert_eq!(
            downtime_words(600_000, 252_000, 2),
            "down 4 min 12 s in 2 incidents"
        );
        assert_eq!(utc(now), "2023-11-14 22:13:20 UTC");
        assert_eq!(segment("slack ops/1"), "slack%20ops%2F1");
    }

    #[test]
    fn certificate_expiry_in_words() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let at = |h: i64| now + jiff::SignedDuration::from_hours(h);
        assert_eq!(
            cert_words(at(12 * 24 + 5), now),
            "certificate expires in 12 days"
        );
        assert_eq!(cert_words(at(24), now), "certificate expires in 1 day");
        assert_eq!(cert_words(at(23), now), "certificate expires today");
        assert_eq!(cert_words(at(-2), now), "certificate expired today");
        assert_eq!(
            cert_words(at(-24 * 3), now),
            "certificate expired 3 days ago"
        );
        assert_eq!(cert_words(at(-25), now), "certificate expired 1 day ago");
    }

    #[test]
    fn long_text_folds_at_a_word() {
        assert_eq!(fold("short"), None);
        let long = "error sending request ".repeat(10);
        let f = fold(&long).unwrap();
        assert!(
            f.ends_with("request…") || f.ends_with("sending…") || f.ends_with("error…"),
            "{f}"
        );
        assert!(f.chars().count() <= 101);
    }

    #[test]
    fn urls_break_after_their_separators() {
        assert_eq!(
            break_points("GET https://api.example.com/v1/health?deep=1&x=2"),
            [
                "GET https://",
                "api.example.com/",
                "v1/",
                "health?",
                "deep=1&",
                "x=2"
            ]
        );
        assert_eq!(break_points("127.0.0.1:6379"), ["127.0.0.1:6379"]);
        assert!(break_points("").is_empty());
    }
}
