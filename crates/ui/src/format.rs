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

/// A cause or reason as the engine writes it ("no ping since 17:44:25 UTC, 3 min ago
/// (expected every 5m + 10m grace)"), cut into its words and the instants it names, so
/// that a page shows each instant in the viewer's time zone with an "ago" that is
/// current when the page is rendered (and that the page script keeps current).
#[derive(Debug, Clone)]
pub(crate) struct Cause {
    pub parts: Vec<CausePart>,
    /// The start of a long cause, the rest folded behind "more".
    pub short: Option<String>,
}

/// Words as written, or an instant in them.
#[derive(Debug, Clone)]
pub(crate) struct CausePart {
    pub text: String,
    pub at: Option<CauseAt>,
}

/// An instant named in a cause.
#[derive(Debug, Clone)]
pub(crate) struct CauseAt {
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    /// In the viewer's zone: `18:44:25 CET`, with the date when it is not today's.
    pub local: String,
    /// `3 min ago`, from the time of rendering.
    pub ago: String,
    /// `2026-11-27 17:44:25 UTC`, for the tooltip.
    pub utc: String,
}

impl Cause {
    /// `text` written at about `written` (when the incident opened, or the monitor went
    /// down): an instant given without its date ("17:44:25 UTC") is the last such time
    /// of day at or before then.
    pub fn new(text: &str, written: Timestamp, now: Timestamp, tz: &jiff::tz::TimeZone) -> Self {
        let mut parts = Vec::new();
        let mut rest = 0;
        for (range, t) in instants_in(text, written) {
            if range.start > rest {
                parts.push(CausePart {
                    text: text[rest..range.start].to_owned(),
                    at: None,
                });
            }
            let (local, today) = (t.to_zoned(tz.clone()), now.to_zoned(tz.clone()));
            let local = if local.date() == today.date() {
                local.strftime("%H:%M:%S %Z").to_string()
            } else {
                local.strftime("%Y-%m-%d %H:%M:%S %Z").to_string()
            };
            parts.push(CausePart {
                text: text[range.clone()].to_owned(),
                at: Some(CauseAt {
                    iso: t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    local,
                    ago: ago(t, now),
                    utc: utc(t),
                }),
            });
            rest = range.end;
        }
        if rest < text.len() || parts.is_empty() {
            parts.push(CausePart {
                text: text[rest..].to_owned(),
                at: None,
            });
        }
        Self {
            parts,
            short: fold(text),
        }
    }
}

/// The instants the engine writes into reasons (`17:44:25 UTC, 3 min ago`, or
/// `2026-01-01 10:00:00 UTC, 2 d ago`): where each is in `text`, and when it was.
fn instants_in(text: &str, written: Timestamp) -> Vec<(std::ops::Range<usize>, Timestamp)> {
    const MARK: &str = " UTC, ";
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find(MARK).map(|p| p + from) {
        from = pos + MARK.len();
        let Some(time_start) = pos.checked_sub(8) else {
            continue;
        };
        let Ok(time) = text
            .get(time_start..pos)
            .unwrap_or("")
            .parse::<jiff::civil::Time>()
        else {
            continue;
        };
        // "N s|min|h|d ago" after the comma.
        let tail = &text[from..];
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        let Some(unit_end) = ["s ago", "min ago", "h ago", "d ago"]
            .iter()
            .find_map(|u| {
                tail.get(digits..)?
                    .strip_prefix(' ')?
                    .starts_with(u)
                    .then(|| digits + 1 + u.len())
            })
            .filter(|_| digits > 0)
        else {
            continue;
        };
        let date_start = time_start
            .checked_sub(11)
            .filter(|_| b[time_start - 1] == b' ');
        let date = date_start.and_then(|d| {
            text.get(d..time_start - 1)?
                .parse::<jiff::civil::Date>()
                .ok()
        });
        let utc_tz = jiff::tz::TimeZone::UTC;
        let at = match date {
            Some(d) => d
                .to_datetime(time)
                .to_zoned(utc_tz)
                .ok()
                .map(|z| z.timestamp()),
            None => {
                let day = written.to_zoned(utc_tz.clone()).date();
                let same_day = day.to_datetime(time).to_zoned(utc_tz.clone()).ok();
                // Written at most a few seconds before the incident opened; a time of day
                // later than that was the day before.
                match same_day.map(|z| z.timestamp()) {
                    Some(t) if t.as_second() > written.as_second() + 60 => {
                        t.checked_sub(jiff::SignedDuration::from_hours(24)).ok()
                    }
                    other => other,
                }
            }
        };
        let Some(at) = at else { continue };
        let start = if date.is_some() {
            date_start.unwrap_or(time_start)
        } else {
            time_start
        };
        out.push((start..from + unit_end, at));
        from += unit_end;
    }
    out
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

    /// (iso, local, ago) of an instant.
    type At = (String, String, String);

    fn at_parts(c: &Cause) -> Vec<(String, Option<At>)> {
        c.parts
            .iter()
            .map(|p| {
                let at =
                    p.at.as_ref()
                        .map(|a| (a.iso.clone(), a.local.clone(), a.ago.clone()));
                (p.text.clone(), at)
            })
            .collect()
    }

    #[test]
    fn a_cause_shows_its_instants_in_the_viewers_zone_with_a_current_ago() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let text = "no ping since 17:44:25 UTC, 3 min ago (expected every 5m + 10m grace)";
        let c = Cause::new(
            text,
            t("2026-12-06T17:47:30Z"),
            t("2026-12-06T19:47:30Z"),
            &berlin,
        );
        assert_eq!(
            at_parts(&c),
            [
                ("no ping since ".to_owned(), None),
                (
                    "17:44:25 UTC, 3 min ago".to_owned(),
                    Some((
                        "2026-12-06T17:44:25Z".to_owned(),
                        "18:44:25 CET".to_owned(),
                        "2 h ago".to_owned()
                    ))
                ),
                (" (expected every 5m + 10m grace)".to_owned(), None),
            ]
        );
        // A time of day later than the writing was the day before; the date is shown
        // when it is not the viewer's today.
        let c = Cause::new(
            "a run started at 23:59:00 UTC, 2 min ago did not finish within the 1m grace",
            t("2026-12-07T00:01:00Z"),
            t("2026-12-07T12:00:00Z"),
            &jiff::tz::TimeZone::UTC,
        );
        let at = c.parts[1].at.as_ref().unwrap();
        assert_eq!(at.iso, "2026-12-06T23:59:00Z");
        assert_eq!(at.local, "2026-12-06 23:59:00 UTC");
        assert_eq!(c.parts[2].text, " did not finish within the 1m grace");
        // With its date.
        let c = Cause::new(
            "no ping since 2026-01-01 10:00:00 UTC, 2 d ago (expected every 1d)",
            t("2026-01-03T10:00:00Z"),
            t("2026-01-03T10:00:00Z"),
            &jiff::tz::TimeZone::UTC,
        );
        assert_eq!(c.parts[0].text, "no ping since ");
        assert_eq!(c.parts[1].text, "2026-01-01 10:00:00 UTC, 2 d ago");
        assert_eq!(c.parts[1].at.as_ref().unwrap().iso, "2026-01-01T10:00:00Z");
    }

    #[test]
    fn other_causes_are_words_only() {
        let now = Timestamp::UNIX_EPOCH;
        for text in [
            "",
            "HTTP 503 from eu, us",
            " UTC, ",
            "at 99:00:00 UTC, 3 min ago",
            "at 10:00:00 UTC, soon",
            "x0:00:00 UTC, 1 s ago",
            "é10:00:0é UTC, 1 s agoé",
        ] {
            let c = Cause::new(text, now, now, &jiff::tz::TimeZone::UTC);
            assert_eq!(c.parts.len(), 1, "{text}");
            assert_eq!(c.parts[0].text, text);
            assert!(c.parts[0].at.is_none());
        }
    }
}
