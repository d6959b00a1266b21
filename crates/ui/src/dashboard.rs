//! The dashboard: every monitor once, grouped by its first tag (tags as chips), its
//! state in words and colour, its 24-hour uptime, a beat bar of the last 30 minutes
//! and the latest check; search and filters (server-side, and as you type with the
//! script); and the small JSON endpoint the script polls for state changes.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use vigilmon_core::monitor::KINDS;
use vigilmon_core::uptime::{Span, Uptime};
use vigilmon_core::{KindConfig, MonitorId, MonitorState};

use super::charts::{self, Beat};
use super::format::{self, When};
use super::session::check_origin;
use super::{Layout, Session, UiError, render};
use vigilmon_app::AppState;
use vigilmon_app::monitors::list_views;
use vigilmon_app::views::MonitorView;

const HOUR_MS: i64 = 3_600_000;
/// The beat bar: the last 30 minutes, one bar per minute.
const BEAT_SLOTS: i64 = 30;
const BEAT_SLOT_MS: i64 = 60_000;

/// One monitor's line on the dashboard.
pub(crate) struct Row {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    /// What it watches, in pieces: a line may break between them.
    pub target_parts: Vec<String>,
    pub state: &'static str,
    pub label: &'static str,
    pub uptime: String,
    pub uptime_title: String,
    /// The last 30 minutes, a bar per minute; `None` before any check.
    pub beats: Option<Vec<Beat>>,
    pub last: Option<When>,
    pub latency: String,
    /// Lower-case text the filter searches: name, type, target, tags.
    pub search: String,
    /// Every tag, as a chip: (name, colour class, link to the dashboard filtered by it).
    pub tags: Vec<Chip>,
    /// The certificate's expiry in words, and whether it is within the monitor's
    /// warning horizon (highlighted).
    pub cert: Option<(String, bool)>,
    severity: u8,
}

/// A tag shown on a row: its colour is one of eight, chosen from the name, so a tag has
/// the same colour everywhere.
pub(crate) struct Chip {
    pub name: String,
    pub colour: u8,
    pub href: String,
}

fn chip(tag: &str) -> Chip {
    // FNV-1a: stable across runs and builds, unlike the standard hasher.
    let hash = tag.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    Chip {
        name: tag.to_owned(),
        colour: (hash % 8) as u8,
        href: format!("/?tag={}", crate::session::urlencode(tag)),
    }
}

/// Monitors sharing a tag.
pub(crate) struct Group {
    pub name: String,
    pub rows: Vec<Row>,
}

/// How many monitors are in one state.
pub(crate) struct Total {
    pub state: &'static str,
    pub label: &'static str,
    pub n: usize,
}

/// What the filters asked for.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct Filters {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub tag: String,
    pub ok: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard.html", whitespace = "minimize")]
pub(crate) struct DashboardPage {
    pub l: Layout,
    pub groups: Vec<Group>,
    pub totals: Vec<Total>,
    pub count: usize,
    pub shown: usize,
    pub f: Filters,
    pub tags: Vec<String>,
    pub states: Vec<(&'static str, &'static str)>,
}

/// Order of states on the dashboard: what needs attention first.
fn severity(s: MonitorState) -> u8 {
    match s {
        MonitorState::Down => 0,
        MonitorState::Degraded => 1,
        MonitorState::Pending => 2,
        MonitorState::Maintenance => 3,
        MonitorState::Up => 4,
        MonitorState::Paused => 5,
    }
}

/// What a monitor watches, in a few words (credentials in URLs are masked).
pub(crate) fn target_of(v: &MonitorView) -> String {
    v.config.target_words()
}

/// The shown name of a monitor type (core's list of types).
pub(crate) fn kind_label(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|k| k.kind.as_str() == kind)
        .map_or("Other", |k| k.label)
}

pub(crate) use vigilmon_core::secret::mask_url_password;

/// Per monitor: (checks, ok) over the last 24 hours, and per minute of the last 30
/// the mean duration and whether every check passed.
#[derive(Default)]
pub(crate) struct Summary {
    pub checks: u64,
    pub ok: u64,
    pub recent: Vec<Option<(u64, bool)>>,
    /// Time-weighted uptime over the last 24 hours, and the incidents in them.
    pub uptime: Option<(Uptime, usize)>,
}

/// Each monitor's time-weighted uptime over the 24 hours before `now`.
pub(crate) type DayUptimes = HashMap<MonitorId, (Uptime, usize)>;
/// Each monitor's (checks, passed) over the last 24 hours.
pub(crate) type DayCounts = BTreeMap<MonitorId, (u64, u64)>;
/// Each monitor's beat-bar buckets of the last 30 minutes.
pub(crate) type RecentBuckets = BTreeMap<MonitorId, Vec<Option<(u64, bool)>>>;

/// The 24-hour uptime of every monitor in `views` (maintenance excluded, as on status
/// pages and the monitor page).
pub(crate) async fn day_uptimes(
    st: &AppState,
    views: &[MonitorView],
    now: Timestamp,
) -> Result<DayUptimes, UiError> {
    let now_ms = now.as_millisecond();
    let monitors: Vec<(MonitorId, &vigilmon_core::MonitorConfig)> = views
        .iter()
        .map(|v| (MonitorId::from_uuid(v.id), &v.config))
        .collect();
    Ok(vigilmon_app::status_model::uptimes_of(
        st.store(),
        &monitors,
        &[Span::new(now_ms - 24 * HOUR_MS, now_ms)],
        now,
    )
    .await?
    .into_iter()
    .filter_map(|(id, mut v)| Some((id, v.pop()?)))
    .collect())
}

/// Checks and passed checks of the last 24 hours (from the start of the hour 23 hours
/// ago) per monitor, or of one monitor: hourly rollups (all regions) up to the rollup
/// watermark, raw results after it.
pub(crate) async fn day_counts(
    st: &AppState,
    now: Timestamp,
    monitor: Option<MonitorId>,
) -> Result<BTreeMap<MonitorId, (u64, u64)>, UiError> {
    let now_ms = now.as_millisecond();
    let this_hour = now_ms.div_euclid(HOUR_MS) * HOUR_MS;
    let start = this_hour - 23 * HOUR_MS;
    let mark = st
        .store()
        .rollup_watermark()
        .await?
        .map_or(start, |t| t.as_millisecond())
        .clamp(start, this_hour);
    let ts = |ms: i64| Timestamp::from_millisecond(ms).unwrap_or(now);
    let mut out: BTreeMap<MonitorId, (u64, u64)> = BTreeMap::new();
    if mark > start {
        for (id, checks, failures) in st
            .store()
            .rollup_counts(ts(start), ts(mark), monitor)
            .await?
        {
            let e = out.entry(id).or_default();
            e.0 += checks;
            e.1 += checks.saturating_sub(failures);
        }
    }
    for (id, checks, ok) in st.store().result_counts(ts(mark), monitor).await? {
        let e = out.entry(id).or_default();
        e.0 += checks;
        e.1 += ok;
    }
    Ok(out)
}

/// The beat bar's per-minute buckets of the last 30 minutes, per monitor.
pub(crate) async fn recent_buckets(
    st: &AppState,
    now: Timestamp,
) -> Result<BTreeMap<MonitorId, Vec<Option<(u64, bool)>>>, UiError> {
    let since_ms = now.as_millisecond() - BEAT_SLOTS * BEAT_SLOT_MS;
    let since = Timestamp::from_millisecond(since_ms).unwrap_or(now);
    // (sum of durations, checks, all ok) per slot.
    let mut acc: BTreeMap<MonitorId, Vec<(u64, u64, bool)>> = BTreeMap::new();
    for (id, at, ok, ms) in st.store().recent_checks(since).await? {
        let slots = acc
            .entry(id)
            .or_insert_with(|| vec![(0, 0, true); BEAT_SLOTS as usize]);
        let i = ((at.as_millisecond() - since_ms) / BEAT_SLOT_MS).clamp(0, BEAT_SLOTS - 1);
        let slot = &mut slots[i as usize];
        *slot = (slot.0 + ms, slot.1 + 1, slot.2 && ok);
    }
    let out = acc
        .into_iter()
        .map(|(id, slots)| {
            let slots = slots
                .into_iter()
                .map(|(sum, n, ok)| (n > 0).then(|| (sum / n, ok)))
                .collect();
            (id, slots)
        })
        .collect();
    Ok(out)
}

fn summaries(
    day: BTreeMap<MonitorId, (u64, u64)>,
    recent: BTreeMap<MonitorId, Vec<Option<(u64, bool)>>>,
    uptimes: DayUptimes,
) -> BTreeMap<MonitorId, Summary> {
    let mut out: BTreeMap<MonitorId, Summary> = BTreeMap::new();
    for (id, u) in uptimes {
        out.entry(id).or_default().uptime = Some(u);
    }
    for (id, (checks, ok)) in day {
        let s = out.entry(id).or_default();
        s.checks = checks;
        s.ok = ok;
    }
    for (id, slots) in recent {
        out.entry(id).or_default().recent = slots;
    }
    out
}

/// Builds the dashboard's rows, groups and totals from the monitors, their 24-hour
/// counts (`day`: checks, ok), their last 30 minutes (`recent`) and their 24-hour
/// uptime.
pub(crate) fn build(
    l: Layout,
    views: &[MonitorView],
    (day, recent, uptimes): (DayCounts, RecentBuckets, DayUptimes),
    now: Timestamp,
    f: Filters,
) -> DashboardPage {
    let sums = summaries(day, recent, uptimes);
    // The beat bars' minutes, the same for every row.
    let minutes = charts::minute_labels(
        now - jiff::SignedDuration::from_millis(BEAT_SLOTS * BEAT_SLOT_MS),
        BEAT_SLOTS as usize,
    );
    let mut totals: Vec<Total> = MonitorState::ALL
        .iter()
        .map(|s| Total {
            state: s.as_str(),
            label: format::state_label(*s),
            n: 0,
        })
        .collect();
    totals.sort_by_key(|t| MonitorState::parse(t.state).map_or(9, severity));
    let mut tags: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut untagged: Vec<Row> = Vec::new();
    let q = f.q.trim().to_lowercase();
    let mut shown = 0;
    for v in views {
        if let Some(t) = totals.iter_mut().find(|t| t.state == v.state.as_str()) {
            t.n += 1;
        }
        for t in &v.config.tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let row = row(v, sums.get(&MonitorId::from_uuid(v.id)), now, &minutes);
        let wanted = (q.is_empty() || row.search.contains(&q))
            && (f.state.is_empty() || f.state == row.state)
            && (f.tag.is_empty() || v.config.tags.contains(&f.tag));
        if !wanted {
            continue;
        }
        shown += 1;
        // One row per monitor: under the tag filtered by, else its first tag; all its
        // tags are on the row as chips.
        let group = if f.tag.is_empty() {
            v.config.tags.first()
        } else {
            Some(&f.tag)
        };
        match group {
            Some(t) => groups.entry(t.clone()).or_default().push(row),
            None => untagged.push(row),
        }
    }
    tags.sort();
    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|(name, rows)| Group { name, rows })
        .collect();
    if !untagged.is_empty() {
        out.push(Group {
            name: "Untagged".into(),
            rows: untagged,
        });
    }
    for g in &mut out {
        g.rows.sort_by(|a, b| {
            (a.severity, a.name.to_lowercase()).cmp(&(b.severity, b.name.to_lowercase()))
        });
    }
    DashboardPage {
        l,
        groups: out,
        totals,
        count: views.len(),
        shown,
        f,
        tags,
        states: MonitorState::ALL
            .iter()
            .map(|s| (s.as_str(), format::state_label(*s)))
            .collect(),
    }
}

/// "certificate expires in N days" for a monitor whose checks saw a certificate, and
/// whether that is within its warning horizon (`warn.cert_expiry`, 14 days by default).
pub(crate) fn cert_note(v: &MonitorView, now: Timestamp) -> Option<(String, bool)> {
    let expires = v.cert_expires_at()?;
    let horizon_ms =
        i64::try_from(v.config.kind.cert_warn_horizon().as_millis()).unwrap_or(i64::MAX);
    let warn = expires.as_millisecond() - now.as_millisecond() <= horizon_ms;
    Some((format::cert_words(expires, now), warn))
}

/// The latest latency a monitor reported (from the region that checked last).
fn latest_latency(v: &MonitorView) -> Option<u64> {
    v.regions
        .iter()
        .filter(|r| r.checked_at.is_some())
        .max_by_key(|r| r.checked_at)
        .and_then(|r| r.duration_ms)
}

fn row(v: &MonitorView, sum: Option<&Summary>, now: Timestamp, minutes: &[String]) -> Row {
    let target = target_of(v);
    let kind = kind_label(v.config.kind_name());
    let heartbeat = v.config.kind.as_heartbeat().is_some();
    let checks = match sum {
        Some(s) if s.checks > 0 => format!("; {} of {} checks ok", s.ok, s.checks),
        _ => String::new(),
    };
    let (uptime, uptime_title) = match sum.and_then(|s| s.uptime.as_ref()) {
        Some((u, incidents)) => match u.percent_text() {
            Some(p) => (
                p,
                format!(
                    "last 24 hours: {}{checks}",
                    format::downtime_words(u.counted_ms, u.downtime_ms, *incidents)
                ),
            ),
            None => ("—".into(), "not checked yet in the last 24 hours".into()),
        },
        None => ("—".into(), "not checked yet in the last 24 hours".into()),
    };
    let mut search = format!("{} {} {}", v.config.name, kind, target);
    for t in &v.config.tags {
        search.push(' ');
        search.push_str(t);
    }
    Row {
        id: v.id.to_string(),
        name: v.config.name.clone(),
        kind,
        target_parts: format::break_points(&target),
        state: v.state.as_str(),
        label: format::state_label(v.state),
        uptime,
        uptime_title,
        beats: sum.and_then(|s| charts::beats(&s.recent, minutes)),
        last: When::opt(v.last_checked_at, now),
        latency: if heartbeat {
            "last ping".into()
        } else {
            latest_latency(v).map(format::ms).unwrap_or_default()
        },
        search: search.to_lowercase(),
        tags: v.config.tags.iter().map(|t| chip(t)).collect(),
        cert: cert_note(v, now),
        severity: severity(v.state),
    }
}

/// `/`: the dashboard (the session extractor sends others to setup or sign-in).
pub(crate) async fn index(
    State(st): State<AppState>,
    s: Session,
    Query(f): Query<Filters>,
) -> Result<Response, UiError> {
    let now = st.now();
    let views = list_views(&st).await?;
    let day = day_counts(&st, now, None).await?;
    let recent = recent_buckets(&st, now).await?;
    let uptimes = day_uptimes(&st, &views, now).await?;
    let l = Layout::new("Dashboard", "dashboard", &s)
        .notice(f.ok.as_deref())
        .live(format!("/live/dashboard?since={}", now.as_millisecond()));
    Ok(render(&build(l, &views, (day, recent, uptimes), now, f)))
}

#[derive(Deserialize)]
pub(crate) struct LiveQuery {
    since: Option<i64>,
}

/// One changed monitor, for the dashboard script.
#[derive(Serialize)]
struct LiveRow {
    id: String,
    state: &'static str,
    label: &'static str,
    checked: Option<String>,
    checked_utc: Option<String>,
    latency: Option<String>,
}

#[derive(Serialize)]
struct LiveRows {
    monitors: Vec<LiveRow>,
    /// Where to poll next.
    next: String,
}

/// `/live/dashboard?since=MS`: monitors whose state or last check changed since then.
pub(crate) async fn live(
    State(st): State<AppState>,
    _s: Session,
    headers: HeaderMap,
    Query(q): Query<LiveQuery>,
) -> Result<Response, UiError> {
    check_origin(&st, &headers)?;
    let now = st.now();
    // A little overlap, so a change committed while the last answer was built is
    // never missed (seeing one twice is harmless).
    let since = q.since.unwrap_or(0) - 2_000;
    let changed = |t: Option<Timestamp>| t.is_some_and(|t| t.as_millisecond() >= since);
    let monitors = list_views(&st)
        .await?
        .into_iter()
        .filter(|v| {
            changed(v.state_changed_at)
                || changed(v.last_checked_at)
                || v.updated_at.as_millisecond() >= since
                || v.state == MonitorState::Maintenance
        })
        .map(|v| {
            let heartbeat = v.config.kind.as_heartbeat().is_some();
            LiveRow {
                id: v.id.to_string(),
                state: v.state.as_str(),
                label: format::state_label(v.state),
                checked: v.last_checked_at.map(|t| When::new(t, now).iso),
                checked_utc: v.last_checked_at.map(format::utc),
                latency: if heartbeat {
                    None
                } else {
                    latest_latency(&v).map(format::ms)
                },
            }
        })
        .collect();
    Ok(Json(LiveRows {
        monitors,
        next: format!("/live/dashboard?since={}", now.as_millisecond()),
    })
    .into_response())
}

/// Builds and renders the dashboard of synthetic monitors, for the benchmark in
/// `benches/ui_dashboard.rs`. Not part of the API.
#[doc(hidden)]
pub mod bench_support {
    use super::*;
    use uuid::Uuid;
    use vigilmon_app::views::RegionView;
    use vigilmon_core::MonitorConfig;

    /// `n` monitors with a day of hourly results each; returns the inputs.
    pub struct Fixture {
        pub(crate) views: Vec<MonitorView>,
        day: BTreeMap<MonitorId, (u64, u64)>,
        recent: BTreeMap<MonitorId, Vec<Option<(u64, bool)>>>,
        uptimes: DayUptimes,
        now: Timestamp,
    }

    pub fn fixture(n: usize) -> Fixture {
        let now = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let states = [
            MonitorState::Up,
            MonitorState::Up,
            MonitorState::Up,
            MonitorState::Down,
            MonitorState::Degraded,
            MonitorState::Paused,
        ];
        let mut views = Vec::with_capacity(n);
        let mut day = BTreeMap::new();
        let mut recent = BTreeMap::new();
        let mut uptimes = DayUptimes::new();
        for i in 0..n {
            let id = Uuid::from_u128(i as u128 + 1);
            let config = MonitorConfig {
                name: format!("[service-{i:04}] api /health"),
                tags: vec![format!("team-{}", i % 12)],
                kind: vigilmon_core::KindConfig::Http(vigilmon_core::monitor::HttpConfig {
                    url: Some(format!("https://service-{i:04}.example.com/health")),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let state = states[i % states.len()];
            let checked = now - SignedDuration::from_secs((i % 60) as i64);
            views.push(MonitorView {
                id,
                config,
                configured_regions: None,
                state,
                check_state: None,
                state_changed_at: Some(now - SignedDuration::from_hours(3)),
                last_checked_at: Some(checked),
                regions: vec![RegionView {
                    region: "local".into(),
                    state,
                    checked_at: Some(checked),
                    duration_ms: Some(40 + (i % 90) as u64),
                    error_kind: None,
                    error: None,
                    cert_expires_at: None,
                }],
                source: "api",
                ping_url: None,
                heartbeat: None,
                created_at: now - SignedDuration::from_hours(48),
                updated_at: now - SignedDuration::from_hours(48),
            });
            // Checked every minute: 1,440 checks a day, a few failed.
            day.insert(MonitorId::from_uuid(id), (1440, 1440 - (i % 5) as u64));
            let now_ms = now.as_millisecond();
            uptimes.insert(
                MonitorId::from_uuid(id),
                (
                    Uptime {
                        window: Span::new(now_ms - 24 * HOUR_MS, now_ms),
                        pending_ms: 0,
                        maintenance_ms: 0,
                        counted_ms: 24 * HOUR_MS,
                        downtime_ms: (i % 5) as i64 * 60_000,
                    },
                    usize::from(i % 5 != 0),
                ),
            );
            recent.insert(
                MonitorId::from_uuid(id),
                (0..BEAT_SLOTS as usize)
                    .map(|c| Some((40 + ((i * 7 + c * 13) % 120) as u64, (i + c) % 23 != 0)))
                    .collect(),
            );
        }
        Fixture {
            views,
            day,
            recent,
            uptimes,
            now,
        }
    }

    /// Builds the page from the fixture and renders it to HTML.
    pub fn render(f: &Fixture) -> String {
        page(f, Filters::default()).render().unwrap_or_default()
    }

    /// Builds the page from the fixture with `filters`.
    pub(crate) fn page(f: &Fixture, filters: Filters) -> DashboardPage {
        let l = Layout {
            title: "Dashboard".into(),
            nav: "dashboard",
            user: Some("owner@example.com".into()),
            csrf: "0".repeat(32),
            notice: None,
            live: Some("/live/dashboard?since=0".into()),
            can_write: true,
            can_manage_users: true,
            v: super::super::assets::VERSION,
        };
        build(
            l,
            &f.views,
            (f.day.clone(), f.recent.clone(), f.uptimes.clone()),
            f.now,
            filters,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url_password("redis://app:s3cret@cache:6379/0"),
            "redis://app:********@cache:6379/0"
        );
        assert_eq!(
            mask_url_password("rediss://:pw@cache"),
            "rediss://:********@cache"
        );
        assert_eq!(
            mask_url_password("https://example.com/a@b"),
            "https://example.com/a@b"
        );
        assert_eq!(
            mask_url_password("redis://cache:6379"),
            "redis://cache:6379"
        );
    }

    #[test]
    fn dashboard_renders_and_escapes() {
        let mut f = bench_support::fixture(3);
        f.views[0].config.name = "<script>alert(1)</script>".into();
        let html = bench_support::render(&f);
        assert!(!html.contains("<script>alert(1)"), "names are escaped");
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(html.contains("Uptime, 24h"));
        assert!(html.contains("class=\"st down\""));
    }

    #[test]
    fn a_monitor_with_several_tags_is_one_row_with_every_tag() {
        let mut f = bench_support::fixture(3);
        f.views[0].config.tags = vec!["team-b".into(), "team-a".into(), "edge & cdn".into()];
        f.views[1].config.tags = vec!["team-a".into()];
        f.views[2].config.tags = Vec::new();
        let html = bench_support::render(&f);
        let id = f.views[0].id.to_string();
        assert_eq!(
            html.matches(&format!("data-m=\"{id}\"")).count(),
            1,
            "{html}"
        );
        // Under its first tag; every tag a chip that filters by it.
        let team_b = html
            .split("data-group=\"team-b\"")
            .nth(1)
            .unwrap_or_default();
        assert!(team_b.contains(&id));
        for (tag, href) in [
            ("team-b", "/?tag=team-b"),
            ("team-a", "/?tag=team-a"),
            ("edge &#38; cdn", "/?tag=edge%20%26%20cdn"),
        ] {
            assert!(
                html.contains(&format!(
                    "href=\"{href}\" title=\"only monitors tagged {tag}\">{tag}</a>"
                )),
                "{tag}: {html}"
            );
        }
        // Three rows for three monitors.
        assert_eq!(html.matches("<tr data-m=").count(), 3);
        // Filtered by a tag: the monitors that have it, once each, under it.
        let page = bench_support::page(
            &f,
            Filters {
                tag: "team-a".into(),
                ..Filters::default()
            },
        );
        assert_eq!(page.groups.len(), 1);
        assert_eq!(page.groups[0].name, "team-a");
        assert_eq!(page.groups[0].rows.len(), 2);
        assert_eq!(page.shown, 2);
        // The same colour for a tag wherever it is.
        assert_eq!(chip("team-a").colour, chip("team-a").colour);
    }
}
