//! Exact, time-weighted uptime: interval arithmetic over incidents, maintenance and the
//! time before a monitor was first seen; calendar days in a time zone; the banner of a
//! status page.
//!
//! Definition (PRODUCT.md section 7): over a window,
//!
//! ```text
//! uptime = 1 − downtime / counted
//! counted  = window − pending − maintenance
//! downtime = counted ∩ (the monitor's down time ∪ its incidents)
//! ```
//!
//! *pending* is the part of the window before the monitor was first seen (its first
//! check result or ping); *maintenance* is the union of the maintenance windows that
//! applied to it. *Down time* is when the monitor's state — the regions' consensus, or
//! a heartbeat's verdict — was `down`, from its recorded state changes
//! ([`down_spans`]); incidents are its record and count too (an incident opened on
//! `degraded` with `incident_on_degraded`, the history from before state changes were
//! recorded). An incident lasts from `opened_at` to `resolved_at` (or to `now` while
//! open). Overlaps count once, so an incident resolved by hand while the monitor was
//! still failing never hides the rest of the outage: uptime never shows less downtime
//! than the monitor was down. When nothing of the window is counted (the
//! monitor did not exist yet, or maintenance covered all of it) there is no figure:
//! [`Uptime::ratio`] is `None`, shown as "no data".
//!
//! Times are epoch milliseconds in half-open spans `[start, end)`. Nothing here reads
//! the clock: callers pass `now`.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::maintenance::{MaintenanceSchedule, MaintenanceSpec};
use crate::state::MonitorState;

/// A half-open span of time `[start, end)`, in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

impl Span {
    pub fn new(start: i64, end: i64) -> Span {
        Span { start, end }
    }

    pub fn between(start: Timestamp, end: Timestamp) -> Span {
        Span::new(start.as_millisecond(), end.as_millisecond())
    }

    /// Its length in milliseconds (0 when empty or reversed).
    pub fn len_ms(&self) -> i64 {
        (self.end - self.start).max(0)
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The common part, if any.
    pub fn intersect(&self, other: &Span) -> Option<Span> {
        let s = Span::new(self.start.max(other.start), self.end.min(other.end));
        (!s.is_empty()).then_some(s)
    }

    pub fn start_ts(&self) -> Timestamp {
        Timestamp::from_millisecond(self.start).unwrap_or(Timestamp::MIN)
    }

    pub fn end_ts(&self) -> Timestamp {
        Timestamp::from_millisecond(self.end).unwrap_or(Timestamp::MAX)
    }
}

/// Sorts spans, drops empty ones, and merges overlapping or touching ones: the result
/// is disjoint, ascending, and covers the same time.
pub fn normalize(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|s| !s.is_empty());
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// The time covered by both (each normalized).
pub fn intersection(a: &[Span], b: &[Span]) -> Vec<Span> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if let Some(s) = a[i].intersect(&b[j]) {
            out.push(s);
        }
        if a[i].end <= b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The time covered by `a` and not by `b` (each normalized).
pub fn subtract(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut j = 0;
    for s in a {
        let mut cur = s.start;
        while j < b.len() && b[j].end <= cur {
            j += 1;
        }
        let mut k = j;
        while k < b.len() && b[k].start < s.end {
            if b[k].start > cur {
                out.push(Span::new(cur, b[k].start));
            }
            cur = cur.max(b[k].end);
            k += 1;
        }
        if cur < s.end {
            out.push(Span::new(cur, s.end));
        }
    }
    out
}

/// Total length in milliseconds (of normalized spans).
pub fn total_ms(spans: &[Span]) -> i64 {
    spans.iter().map(Span::len_ms).sum()
}

/// What uptime is computed from, for one monitor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// When the monitor was first seen (first result or ping); earlier time is
    /// pending. `None`: never seen, everything is pending.
    pub monitored_from: Option<i64>,
    /// Incident time, normalized.
    pub incidents: Vec<Span>,
    /// Maintenance time, normalized.
    pub maintenance: Vec<Span>,
    /// Time the monitor's state was `down`, normalized.
    pub down: Vec<Span>,
}

impl History {
    /// Normalizes the spans it is given.
    pub fn new(
        monitored_from: Option<Timestamp>,
        incidents: Vec<Span>,
        maintenance: Vec<Span>,
    ) -> Self {
        History {
            monitored_from: monitored_from.map(|t| t.as_millisecond()),
            incidents: normalize(incidents),
            maintenance: normalize(maintenance),
            down: Vec::new(),
        }
    }

    /// The same history with the monitor's down time (normalized here).
    pub fn with_down(mut self, down: Vec<Span>) -> Self {
        self.down = normalize(down);
        self
    }
}

/// The spans a monitor was `down`, from its state changes `(at, state)` in time order:
/// each change to `down` lasts until the next change, the last one until `until`.
/// Changes at or after `until` are ignored; repeated states are harmless.
pub fn down_spans(changes: &[(i64, MonitorState)], until: i64) -> Vec<Span> {
    let mut out = Vec::new();
    let mut down_since: Option<i64> = None;
    for &(at, state) in changes.iter().take_while(|(at, _)| *at < until) {
        match (down_since, state == MonitorState::Down) {
            (None, true) => down_since = Some(at),
            (Some(since), false) => {
                out.push(Span::new(since, at));
                down_since = None;
            }
            _ => {}
        }
    }
    if let Some(since) = down_since {
        out.push(Span::new(since, until));
    }
    normalize(out)
}

/// The uptime of one window: how its time divides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uptime {
    pub window: Span,
    /// Before the monitor was first seen.
    pub pending_ms: i64,
    /// In maintenance (after it was first seen).
    pub maintenance_ms: i64,
    /// The time that counts: window − pending − maintenance.
    pub counted_ms: i64,
    /// Counted time the monitor was down or inside an incident.
    pub downtime_ms: i64,
}

impl Uptime {
    /// `1 − downtime / counted`, or `None` when no time counted.
    pub fn ratio(&self) -> Option<f64> {
        (self.counted_ms > 0).then(|| 1.0 - self.downtime_ms as f64 / self.counted_ms as f64)
    }

    /// Uptime in thousandths of a percent (`99_987` is 99.987 %), rounded *down*, and
    /// never 100 % when there was any downtime: a figure shown is never better than the
    /// truth. `None` when no time counted.
    pub fn milli_percent(&self) -> Option<u32> {
        if self.counted_ms <= 0 {
            return None;
        }
        let up = i128::from(self.counted_ms - self.downtime_ms.clamp(0, self.counted_ms));
        // Rounding down is what keeps any downtime below 100 %: with `d > 0`
        // milliseconds down, `(c - d) * 100_000 / c` is below 100_000.
        Some((up * 100_000 / i128::from(self.counted_ms)) as u32)
    }

    /// The figure as text: `100%`, `99.987%`, `99.9%`, `0%`, or `None` without data.
    pub fn percent_text(&self) -> Option<String> {
        self.milli_percent().map(format_milli_percent)
    }
}

/// `99_987` → `99.987%`, `99_900` → `99.9%`, `100_000` → `100%`.
pub fn format_milli_percent(v: u32) -> String {
    let (whole, frac) = (v / 1000, v % 1000);
    if frac == 0 {
        format!("{whole}%")
    } else {
        let f = format!("{frac:03}");
        format!("{whole}.{}%", f.trim_end_matches('0'))
    }
}

/// The uptime of `history` over `window`.
pub fn uptime(history: &History, window: Span) -> Uptime {
    if window.is_empty() {
        return Uptime {
            window,
            pending_ms: 0,
            maintenance_ms: 0,
            counted_ms: 0,
            downtime_ms: 0,
        };
    }
    let active = match history.monitored_from {
        Some(from) => Span::new(window.start.max(from), window.end),
        None => Span::new(window.end, window.end),
    };
    let pending_ms = window.len_ms() - active.len_ms();
    let active = if active.is_empty() {
        Vec::new()
    } else {
        vec![active]
    };
    let maintenance = intersection(&active, &history.maintenance);
    let counted = subtract(&active, &maintenance);
    let outage = normalize(
        history
            .incidents
            .iter()
            .chain(&history.down)
            .copied()
            .collect(),
    );
    let down = intersection(&counted, &outage);
    Uptime {
        window,
        pending_ms,
        maintenance_ms: total_ms(&maintenance),
        counted_ms: total_ms(&counted),
        downtime_ms: total_ms(&down),
    }
}

/// One calendar day in a time zone: from its first instant to the next day's (23, 24 or
/// 25 hours around daylight-saving changes), clipped to `now` for today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    pub date: Date,
    pub span: Span,
}

/// The first instant of `date` in `tz` (midnight, or the first time after a gap).
pub fn start_of_day(date: Date, tz: &TimeZone) -> Timestamp {
    date.to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MIN)
}

/// The `count` calendar days in `tz` that end with the day containing `now`, oldest
/// first; today's span ends at `now`.
pub fn days_until(now: Timestamp, tz: &TimeZone, count: u32) -> Vec<Day> {
    let today = now.to_zoned(tz.clone()).date();
    let now_ms = now.as_millisecond();
    let mut out = Vec::with_capacity(count as usize);
    for back in (0..i64::from(count)).rev() {
        let Ok(date) = today.checked_sub(jiff::Span::new().days(back)) else {
            continue;
        };
        let start = start_of_day(date, tz).as_millisecond();
        let next = date
            .tomorrow()
            .map_or(i64::MAX, |d| start_of_day(d, tz).as_millisecond());
        out.push(Day {
            date,
            span: Span::new(start, next.min(now_ms)),
        });
    }
    out
}

/// The occurrences of a maintenance window that overlap `window`, as spans clipped to
/// it and to the time the window existed (`created_at` until `ended_at`, when given).
/// Recurring windows are expanded from their cron expression in their time zone.
pub fn maintenance_spans(
    spec: &MaintenanceSpec,
    window: Span,
    created_at: Option<Timestamp>,
    ended_at: Option<Timestamp>,
) -> Vec<Span> {
    let mut bounds = window;
    if let Some(c) = created_at {
        bounds.start = bounds.start.max(c.as_millisecond());
    }
    if let Some(e) = ended_at {
        bounds.end = bounds.end.min(e.as_millisecond());
    }
    if bounds.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    match &spec.schedule {
        MaintenanceSchedule::Once { starts_at, ends_at } => {
            if let Some(s) = Span::between(*starts_at, *ends_at).intersect(&bounds) {
                out.push(s);
            }
        }
        MaintenanceSchedule::Recurring {
            cron, tz, duration, ..
        } => {
            let dur = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
            let scan_from = Timestamp::from_millisecond(bounds.start.saturating_sub(dur))
                .unwrap_or(Timestamp::MIN);
            let mut cur = scan_from.to_zoned(tz.clone());
            let mut inclusive = true;
            let mut last_civil = None;
            // Bounded: a 1-minute cron over 100 days is 144,000 fires.
            for _ in 0..200_000 {
                let Ok(fire) = cron.find_next_occurrence(&cur, inclusive) else {
                    break;
                };
                inclusive = false;
                let start = fire.timestamp().as_millisecond();
                if start >= bounds.end {
                    break;
                }
                // A wall time that occurs twice (autumn fold) fires once, at the first.
                let civil = fire.datetime();
                if last_civil != Some(civil)
                    && let Some(s) = Span::new(start, start.saturating_add(dur)).intersect(&bounds)
                {
                    out.push(s);
                }
                last_civil = Some(civil);
                cur = fire;
            }
        }
    }
    normalize(out)
}

/// The headline of a status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Banner {
    Operational,
    Degraded,
    PartialOutage,
    MajorOutage,
    Maintenance,
}

impl Banner {
    /// Machine name: `operational`, `degraded`, `partial_outage`, `major_outage`,
    /// `maintenance`.
    pub fn as_str(self) -> &'static str {
        match self {
            Banner::Operational => "operational",
            Banner::Degraded => "degraded",
            Banner::PartialOutage => "partial_outage",
            Banner::MajorOutage => "major_outage",
            Banner::Maintenance => "maintenance",
        }
    }

    /// The sentence shown.
    pub fn describe(self) -> &'static str {
        match self {
            Banner::Operational => "All systems operational",
            Banner::Degraded => "Degraded performance",
            Banner::PartialOutage => "Partial outage",
            Banner::MajorOutage => "Major outage",
            Banner::Maintenance => "Under maintenance",
        }
    }
}

/// The banner from the page's monitors' states (with maintenance already applied).
///
/// Monitors without data (`pending`) or not monitored (`paused`) do not count. Worst
/// first: *major outage* when more than half of the counted monitors are down;
/// *partial outage* when any is; *degraded* when any is degraded; *maintenance* when
/// any is in maintenance; *operational* otherwise (also for a page with nothing to
/// count).
pub fn banner(states: &[MonitorState]) -> Banner {
    let counted: Vec<MonitorState> = states
        .iter()
        .copied()
        .filter(|s| !matches!(s, MonitorState::Pending | MonitorState::Paused))
        .collect();
    let down = counted.iter().filter(|s| **s == MonitorState::Down).count();
    if down * 2 > counted.len() {
        Banner::MajorOutage
    } else if down > 0 {
        Banner::PartialOutage
    } else if counted.contains(&MonitorState::Degraded) {
        Banner::Degraded
    } else if counted.contains(&MonitorState::Maintenance) {
        Banner::Maintenance
    } else {
        Banner::Operational
    }
}

/// How a monitor's state is shown to the public: `(key, label)`.
pub fn public_state(s: MonitorState) -> (&'static str, &'static str) {
    match s {
        MonitorState::Up => ("operational", "Operational"),
        MonitorState::Degraded => ("degraded", "Degraded performance"),
        MonitorState::Down => ("outage", "Outage"),
        MonitorState::Maintenance => ("maintenance", "Under maintenance"),
        MonitorState::Pending => ("no_data", "No data yet"),
        MonitorState::Paused => ("paused", "Not monitored"),
    }
}

/// A duration for people, two units at most: `45s`, `5m 1s`, `2h 5m`, `3d 4h`.
pub fn format_duration_ms(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    let parts = [(d, "d"), (h, "h"), (m, "m"), (sec, "s")];
    let first = parts.iter().position(|(v, _)| *v > 0);
    match first {
        None => out.push_str(if ms > 0 { "<1s" } else { "0s" }),
        Some(i) => {
            let _ = write!(out, "{}{}", parts[i].0, parts[i].1);
            if let Some((v, u)) = parts.get(i + 1).filter(|(v, _)| *v > 0) {
                let _ = write!(out, " {v}{u}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::MaintenanceConfig;
    use proptest::prelude::*;
    use serde_json::json;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn ms(s: &str) -> i64 {
        t(s).as_millisecond()
    }

    fn span(a: &str, b: &str) -> Span {
        Span::new(ms(a), ms(b))
    }

    const S: i64 = 1_000;
    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    #[test]
    fn normalize_merges_overlapping_and_touching() {
        let v = normalize(vec![
            Span::new(10, 20),
            Span::new(0, 5),
            Span::new(15, 30),
            Span::new(30, 31),
            Span::new(40, 40),
            Span::new(50, 45),
        ]);
        assert_eq!(v, [Span::new(0, 5), Span::new(10, 31)]);
    }

    #[test]
    fn spans_give_back_their_times_and_clamp_what_cannot_be_a_time() {
        let (a, b) = (t("2025-06-01T10:00:00Z"), t("2025-06-01T10:14:24.5Z"));
        let s = Span::between(a, b);
        assert_eq!((s.start_ts(), s.end_ts()), (a, b));
        let open = Span::new(i64::MIN, i64::MAX);
        assert_eq!(
            (open.start_ts(), open.end_ts()),
            (Timestamp::MIN, Timestamp::MAX)
        );
    }

    #[test]
    fn the_words_a_status_page_shows_for_each_banner_and_state() {
        use MonitorState::*;
        let banners = [
            Banner::Operational,
            Banner::Degraded,
            Banner::PartialOutage,
            Banner::MajorOutage,
            Banner::Maintenance,
        ];
        assert_eq!(
            banners.map(|b| (b.as_str(), b.describe())),
            [
                ("operational", "All systems operational"),
                ("degraded", "Degraded performance"),
                ("partial_outage", "Partial outage"),
                ("major_outage", "Major outage"),
                ("maintenance", "Under maintenance"),
            ]
        );
        assert_eq!(
            [Up, Degraded, Down, Maintenance, Pending, Paused].map(public_state),
            [
                ("operational", "Operational"),
                ("degraded", "Degraded performance"),
                ("outage", "Outage"),
                ("maintenance", "Under maintenance"),
                ("no_data", "No data yet"),
                ("paused", "Not monitored"),
            ]
        );
    }

    #[test]
    fn one_millisecond_down_in_a_month_is_not_one_hundred_percent() {
        let month = 30 * 24 * H;
        let u = Uptime {
            window: Span::new(0, month),
            pending_ms: 0,
            maintenance_ms: 0,
            counted_ms: month,
            downtime_ms: 1,
        };
        assert_eq!(u.milli_percent(), Some(99_999));
        assert_eq!(u.percent_text().as_deref(), Some("99.999%"));
        let none = Uptime {
            downtime_ms: 0,
            ..u
        };
        assert_eq!(none.milli_percent(), Some(100_000));
    }

    #[test]
    fn subtracting_spans_that_share_a_boundary_leaves_no_empty_piece() {
        let a = [Span::new(0, 10), Span::new(20, 30)];
        // Starting where `a` starts, ending where it ends, touching in between.
        let b = [Span::new(0, 4), Span::new(6, 10), Span::new(25, 30)];
        assert_eq!(subtract(&a, &b), [Span::new(4, 6), Span::new(20, 25)]);
        assert_eq!(subtract(&a, &a), []);
    }

    #[test]
    fn subtract_and_intersect() {
        let a = [Span::new(0, 10), Span::new(20, 30)];
        let b = [Span::new(5, 22), Span::new(25, 26), Span::new(29, 40)];
        assert_eq!(
            subtract(&a, &b),
            [Span::new(0, 5), Span::new(22, 25), Span::new(26, 29)]
        );
        assert_eq!(
            intersection(&a, &b),
            [
                Span::new(5, 10),
                Span::new(20, 22),
                Span::new(25, 26),
                Span::new(29, 30)
            ]
        );
    }

    #[test]
    fn one_incident_in_a_day() {
        let h = History::new(
            Some(t("2025-01-01T00:00:00Z")),
            vec![span("2025-06-01T10:00:00Z", "2025-06-01T10:14:24Z")],
            vec![],
        );
        let u = uptime(&h, span("2025-06-01T00:00:00Z", "2025-06-02T00:00:00Z"));
        assert_eq!(u.downtime_ms, 14 * M + 24_000);
        assert_eq!(u.counted_ms, 24 * H);
        assert_eq!(u.ratio(), Some(0.99));
        assert_eq!(u.percent_text().as_deref(), Some("99%"));
    }

    #[test]
    fn incident_crossing_midnight_splits_between_days() {
        let h = History::new(
            Some(t("2025-01-01T00:00:00Z")),
            vec![span("2025-06-01T23:00:00Z", "2025-06-02T01:30:00Z")],
            vec![],
        );
        let days = days_until(t("2025-06-02T12:00:00Z"), &TimeZone::UTC, 2);
        assert_eq!(days[0].date.to_string(), "2025-06-01");
        let d: Vec<i64> = days
            .iter()
            .map(|d| uptime(&h, d.span).downtime_ms)
            .collect();
        assert_eq!(d, [H, H + 30 * M]);
        // today counts up to now only
        assert_eq!(uptime(&h, days[1].span).counted_ms, 12 * H);
    }

    #[test]
    fn maintenance_inside_an_incident_is_not_downtime() {
        let h = History::new(
            Some(t("2025-01-01T00:00:00Z")),
            vec![span("2025-06-01T10:00:00Z", "2025-06-01T12:00:00Z")],
            vec![span("2025-06-01T10:30:00Z", "2025-06-01T11:00:00Z")],
        );
        let u = uptime(&h, span("2025-06-01T00:00:00Z", "2025-06-02T00:00:00Z"));
        assert_eq!(u.maintenance_ms, 30 * M);
        assert_eq!(u.counted_ms, 24 * H - 30 * M);
        assert_eq!(u.downtime_ms, 90 * M);
    }

    #[test]
    fn overlapping_incidents_count_once() {
        let h = History::new(
            Some(t("2025-01-01T00:00:00Z")),
            vec![
                span("2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z"),
                span("2025-06-01T10:30:00Z", "2025-06-01T11:30:00Z"),
            ],
            vec![],
        );
        let u = uptime(&h, span("2025-06-01T00:00:00Z", "2025-06-02T00:00:00Z"));
        assert_eq!(u.downtime_ms, 90 * M);
    }

    #[test]
    fn monitor_created_mid_window() {
        let h = History::new(Some(t("2025-06-01T18:00:00Z")), vec![], vec![]);
        let u = uptime(&h, span("2025-06-01T00:00:00Z", "2025-06-02T00:00:00Z"));
        assert_eq!(u.pending_ms, 18 * H);
        assert_eq!(u.counted_ms, 6 * H);
        assert_eq!(u.ratio(), Some(1.0));
        let before = uptime(&h, span("2025-05-31T00:00:00Z", "2025-06-01T00:00:00Z"));
        assert_eq!(before.ratio(), None, "no data before it existed");
        assert_eq!(before.percent_text(), None);
        let never = History::new(None, vec![], vec![]);
        assert_eq!(
            uptime(&never, span("2025-05-31T00:00:00Z", "2025-06-01T00:00:00Z")).ratio(),
            None
        );
    }

    #[test]
    fn all_maintenance_is_no_data() {
        let h = History::new(
            Some(t("2025-01-01T00:00:00Z")),
            vec![span("2025-06-01T00:00:00Z", "2025-06-02T00:00:00Z")],
            vec![span("2025-05-31T00:00:00Z", "2025-06-03T00:00:00Z")],
        );
        let u = uptime(&h, span("2025-06-01T00:00:00Z", "2025-06-02T00:00:00Z"));
        assert_eq!((u.counted_ms, u.downtime_ms, u.ratio()), (0, 0, None));
    }

    #[test]
    fn dst_days_in_the_page_time_zone() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // spring forward (2025-03-30) is 23 hours; fall back (2025-10-26) is 25
        let spring = days_until(t("2025-03-31T12:00:00Z"), &berlin, 3);
        let lens: Vec<i64> = spring.iter().map(|d| d.span.len_ms() / H).collect();
        assert_eq!(spring[1].date.to_string(), "2025-03-30");
        assert_eq!(lens[..2], [24, 23]);
        assert_eq!(spring[1].span.start, ms("2025-03-29T23:00:00Z"));
        let autumn = days_until(t("2025-10-27T12:00:00Z"), &berlin, 3);
        assert_eq!(autumn[1].span.len_ms(), 25 * H);
        // an incident of the last hour of the 25-hour day
        let h = History::new(
            Some(t("2025-01-01T00:00:00Z")),
            vec![span("2025-10-26T22:00:00Z", "2025-10-26T23:00:00Z")],
            vec![],
        );
        let u = uptime(&h, autumn[1].span);
        assert_eq!((u.downtime_ms, u.counted_ms), (H, 25 * H));
        assert_eq!(u.milli_percent(), Some(96_000));
        // the same hour is the next day in UTC
        let utc = days_until(t("2025-10-27T12:00:00Z"), &TimeZone::UTC, 2);
        assert_eq!(uptime(&h, utc[0].span).downtime_ms, H);
        // a day that starts at 01:00 (midnight skipped: America/Havana, 2025-03-09)
        let havana = TimeZone::get("America/Havana").unwrap();
        let d = days_until(t("2025-03-10T12:00:00Z"), &havana, 2);
        assert_eq!(d[0].date.to_string(), "2025-03-09");
        assert_eq!(d[0].span.len_ms(), 23 * H);
    }

    #[test]
    fn percent_text_never_rounds_up_to_perfect() {
        let u = |down: i64, counted: i64| Uptime {
            window: Span::new(0, counted),
            pending_ms: 0,
            maintenance_ms: 0,
            counted_ms: counted,
            downtime_ms: down,
        };
        assert_eq!(u(1, 90 * 24 * H).percent_text().as_deref(), Some("99.999%"));
        assert_eq!(u(0, H).percent_text().as_deref(), Some("100%"));
        assert_eq!(u(H, H).percent_text().as_deref(), Some("0%"));
        assert_eq!(u(H / 10, H).percent_text().as_deref(), Some("90%"));
        assert_eq!(u(13, 100_000).percent_text().as_deref(), Some("99.987%"));
        assert_eq!(u(0, 0).percent_text(), None);
    }

    #[test]
    fn recurring_maintenance_expands_across_dst() {
        let spec = serde_json::from_value::<MaintenanceConfig>(json!({
            "name": "weekly", "tags": ["cache"], "cron": "0 3 * * SUN", "duration": "30m", "tz": "Europe/Berlin"
        }))
        .unwrap()
        .build()
        .unwrap();
        let w = span("2025-03-20T00:00:00Z", "2025-04-10T00:00:00Z");
        let s = maintenance_spans(&spec, w, None, None);
        assert_eq!(
            s,
            [
                span("2025-03-23T02:00:00Z", "2025-03-23T02:30:00Z"),
                span("2025-03-30T01:00:00Z", "2025-03-30T01:30:00Z"),
                span("2025-04-06T01:00:00Z", "2025-04-06T01:30:00Z"),
            ]
        );
        // created after the first, ended during the last
        let s = maintenance_spans(
            &spec,
            w,
            Some(t("2025-03-24T00:00:00Z")),
            Some(t("2025-04-06T01:10:00Z")),
        );
        assert_eq!(
            s,
            [
                span("2025-03-30T01:00:00Z", "2025-03-30T01:30:00Z"),
                span("2025-04-06T01:00:00Z", "2025-04-06T01:10:00Z"),
            ]
        );
        // a fire before the window that lasts into it is clipped
        let s = maintenance_spans(
            &spec,
            span("2025-03-23T02:10:00Z", "2025-03-23T05:00:00Z"),
            None,
            None,
        );
        assert_eq!(s, [span("2025-03-23T02:10:00Z", "2025-03-23T02:30:00Z")]);
        // a fold fires once
        let fold = serde_json::from_value::<MaintenanceConfig>(json!({
            "name": "n", "monitors": ["a"], "cron": "30 2 * * *", "duration": "10m", "tz": "Europe/Berlin"
        }))
        .unwrap()
        .build()
        .unwrap();
        let s = maintenance_spans(
            &fold,
            span("2025-10-26T00:00:00Z", "2025-10-26T06:00:00Z"),
            None,
            None,
        );
        assert_eq!(s, [span("2025-10-26T00:30:00Z", "2025-10-26T00:40:00Z")]);
        let once = serde_json::from_value::<MaintenanceConfig>(json!({
            "name": "n", "monitors": ["a"], "starts_at": "2025-06-01T22:00:00Z", "ends_at": "2025-06-01T23:00:00Z"
        }))
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(
            maintenance_spans(
                &once,
                span("2025-06-01T22:30:00Z", "2025-06-02T00:00:00Z"),
                None,
                None
            ),
            [span("2025-06-01T22:30:00Z", "2025-06-01T23:00:00Z")]
        );
    }

    #[test]
    fn down_time_from_state_changes() {
        use MonitorState::*;
        let changes = [
            (0, Up),
            (10, Down),
            (15, Down),
            (20, Pending),
            (25, Down),
            (40, Up),
        ];
        assert_eq!(
            down_spans(&changes, 100),
            [Span::new(10, 20), Span::new(25, 40)]
        );
        assert_eq!(
            down_spans(&changes, 30),
            [Span::new(10, 20), Span::new(25, 30)]
        );
        assert_eq!(down_spans(&[(5, Down)], 9), [Span::new(5, 9)]);
        assert!(down_spans(&[], 9).is_empty());
    }

    #[test]
    fn an_incident_resolved_by_hand_does_not_end_the_downtime() {
        // Down from 0 s to 120 s; the incident was resolved by hand at 40 s.
        let h = History::new(
            Some(Timestamp::from_millisecond(0).unwrap()),
            vec![Span::new(0, 40 * S)],
            vec![],
        )
        .with_down(down_spans(
            &[(0, MonitorState::Down), (120 * S, MonitorState::Up)],
            600 * S,
        ));
        let u = uptime(&h, Span::new(0, 600 * S));
        assert_eq!(u.downtime_ms, 120 * S);
        assert_eq!(u.percent_text().as_deref(), Some("80%"));
    }

    #[test]
    fn banners() {
        use MonitorState::*;
        assert_eq!(banner(&[]), Banner::Operational);
        assert_eq!(
            banner(&[Down, Down, Up, Up]),
            Banner::PartialOutage,
            "half is not more"
        );
        assert_eq!(banner(&[Up, Pending, Paused]), Banner::Operational);
        assert_eq!(banner(&[Up, Maintenance]), Banner::Maintenance);
        assert_eq!(banner(&[Degraded, Maintenance]), Banner::Degraded);
        assert_eq!(banner(&[Down, Up, Up]), Banner::PartialOutage);
        assert_eq!(banner(&[Down, Up]), Banner::PartialOutage);
        assert_eq!(banner(&[Down, Down, Up]), Banner::MajorOutage);
        assert_eq!(banner(&[Down, Pending]), Banner::MajorOutage);
        assert_eq!(Banner::PartialOutage.as_str(), "partial_outage");
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(format_duration_ms(0), "0s");
        assert_eq!(format_duration_ms(500), "<1s");
        assert_eq!(format_duration_ms(45_000), "45s");
        assert_eq!(format_duration_ms(5 * M + 1000), "5m 1s");
        assert_eq!(format_duration_ms(2 * H + 5 * M + 7000), "2h 5m");
        assert_eq!(format_duration_ms(3 * 24 * H + 4 * H), "3d 4h");
        assert_eq!(format_duration_ms(3 * 24 * H + 4 * M), "3d");
    }

    fn spans() -> impl Strategy<Value = Vec<Span>> {
        proptest::collection::vec(
            (0i64..10_000, 0i64..2_000).prop_map(|(s, l)| Span::new(s, s + l)),
            0..12,
        )
    }

    fn covered(spans: &[Span], t: i64) -> bool {
        spans.iter().any(|s| s.start <= t && t < s.end)
    }

    proptest! {
        /// Uptime is a fraction, and downtime never exceeds the time that counts.
        #[test]
        fn uptime_is_between_zero_and_one(
            incidents in spans(), maintenance in spans(),
            from in proptest::option::of(0i64..12_000),
            a in 0i64..12_000, len in 0i64..12_000,
        ) {
            let h = History { monitored_from: from, incidents: normalize(incidents), maintenance: normalize(maintenance), down: Vec::new() };
            let u = uptime(&h, Span::new(a, a + len));
            prop_assert!(u.downtime_ms <= u.counted_ms);
            prop_assert_eq!(u.pending_ms + u.maintenance_ms + u.counted_ms, len);
            if let Some(r) = u.ratio() {
                prop_assert!((0.0..=1.0).contains(&r));
            }
            if let Some(p) = u.milli_percent() {
                prop_assert!(p <= 100_000);
                prop_assert_eq!(p == 100_000, u.downtime_ms == 0);
            }
        }

        /// Uptime against a reference that walks the timeline instant by instant: the
        /// monitor's states, its incidents as the engine opens them (late by a
        /// confirmation, or cut short by a manual resolve while it still failed, or
        /// opened on degraded), maintenance, and the time before it was first seen.
        /// Downtime is exactly the counted instants where it was down or in an
        /// incident — never less than the time it was down.
        #[test]
        fn uptime_matches_a_timeline_walked_instant_by_instant(
            segments in proptest::collection::vec((1i64..300, 0usize..5), 1..12),
            cuts in proptest::collection::vec((0usize..3, 0i64..300), 12),
            extra in spans(),
            maintenance in spans(),
            from in proptest::option::of(0i64..2_000),
            a in 0i64..2_500, len in 0i64..2_500,
        ) {
            use MonitorState::*;
            let kinds = [Up, Down, Degraded, Pending, Paused];
            // The state timeline and its change log.
            let mut changes = Vec::new();
            let mut t = 0;
            for (dur, k) in &segments {
                changes.push((t, kinds[*k]));
                t += dur;
            }
            let end = t;
            let state_at = |x: i64| changes.iter().rev().find(|(at, _)| *at <= x).map(|c| c.1);
            // Incidents: one per run of `down` segments, opened late by up to the
            // run's length, ended at the run's end, or earlier by a manual resolve.
            let mut incidents: Vec<Span> = extra.iter().map(|s| Span::new(s.start / 4, s.end / 4)).collect();
            let mut i = 0;
            while i < segments.len() {
                if kinds[segments[i].1] != Down {
                    i += 1;
                    continue;
                }
                let start = changes[i].0;
                let mut j = i;
                while j < segments.len() && kinds[segments[j].1] == Down {
                    j += 1;
                }
                let run_end = if j < segments.len() { changes[j].0 } else { end };
                let (how, at) = cuts[i];
                let len_run = run_end - start;
                let open = start + (at % len_run) / 3;
                let close = match how {
                    0 => run_end,
                    1 => open + (at % (run_end - open).max(1)), // resolved by hand
                    _ => open,                                  // resolved at once
                };
                incidents.push(Span::new(open, close));
                i = j;
            }
            let h = History::new(
                from.map(|f| Timestamp::from_millisecond(f).unwrap()),
                incidents.clone(),
                maintenance.clone(),
            )
            .with_down(down_spans(&changes, end));
            let window = Span::new(a, a + len);
            let u = uptime(&h, window);

            let (mut counted, mut down, mut down_by_state) = (0, 0, 0);
            for x in window.start..window.end {
                if from.is_none_or(|f| x < f) || covered(&maintenance, x) {
                    continue;
                }
                counted += 1;
                let is_down = x < end && state_at(x) == Some(Down);
                if is_down || covered(&incidents, x) {
                    down += 1;
                }
                if is_down {
                    down_by_state += 1;
                }
            }
            prop_assert_eq!(u.counted_ms, counted);
            prop_assert_eq!(u.downtime_ms, down);
            prop_assert!(u.downtime_ms >= down_by_state);
        }

        /// Normalizing keeps exactly the covered instants, and the result is disjoint.
        #[test]
        fn normalize_preserves_coverage(s in spans(), probes in proptest::collection::vec(0i64..12_000, 20)) {
            let n = normalize(s.clone());
            for w in n.windows(2) {
                prop_assert!(w[0].end < w[1].start);
            }
            for p in probes {
                prop_assert_eq!(covered(&s, p), covered(&n, p));
            }
        }

        /// Set algebra, checked pointwise.
        #[test]
        fn subtract_and_intersection_pointwise(a in spans(), b in spans(), probes in proptest::collection::vec(0i64..12_000, 20)) {
            let (a, b) = (normalize(a), normalize(b));
            let diff = subtract(&a, &b);
            let both = intersection(&a, &b);
            for p in probes {
                prop_assert_eq!(covered(&diff, p), covered(&a, p) && !covered(&b, p));
                prop_assert_eq!(covered(&both, p), covered(&a, p) && covered(&b, p));
            }
            prop_assert_eq!(total_ms(&diff) + total_ms(&both), total_ms(&a));
            // Both stay normalized: no empty pieces where a span of `b` begins or
            // ends exactly at a boundary, nothing out of order.
            prop_assert_eq!(normalize(diff.clone()), diff);
            prop_assert_eq!(normalize(both.clone()), both);
        }

        /// The days of a window add up: per-day downtime sums to the whole window's.
        #[test]
        fn days_partition_the_window(incidents in spans(), start_day in 0i64..400, which in 0usize..3) {
            let tz = TimeZone::get(["UTC", "Europe/Berlin", "Australia/Lord_Howe"][which]).unwrap();
            let scale = 60_000; // minutes, so incidents are hours long
            let base = 1_700_000_000_000 + start_day * 86_400_000;
            let inc: Vec<Span> = incidents.iter().map(|s| Span::new(base + s.start * scale, base + s.end * scale)).collect();
            let h = History::new(Some(Timestamp::from_millisecond(base).unwrap()), inc, vec![]);
            let now = Timestamp::from_millisecond(base + 12 * 86_400_000).unwrap();
            let days = days_until(now, &tz, 14);
            for w in days.windows(2) {
                prop_assert_eq!(w[0].span.end, w[1].span.start);
            }
            let whole = Span::new(days[0].span.start, days.last().unwrap().span.end);
            let sum: i64 = days.iter().map(|d| uptime(&h, d.span).downtime_ms).sum();
            prop_assert_eq!(sum, uptime(&h, whole).downtime_ms);
        }
    }
}
