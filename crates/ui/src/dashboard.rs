//! The dashboard: every monitor once, grouped by its first tag (tags as chips), its
//! state in words and colour, its 24-hour uptime, a beat bar of the last 30 minutes
//! and the latest check; search and filters; and the small JSON endpoint the script
//! polls for changes.
//!
//! Sized for 10,000 monitors: the store answers the lists (search, state, tag, group,
//! one page of [`PAGE_ROWS`] rows in the dashboard's order) and the per-row figures are
//! read for the listed monitors only. With more monitors than a page and no filter,
//! the first answer lists what needs attention (down, degraded, pending, in
//! maintenance) and one line per group, each opening that group's list. The live
//! endpoint recomputes the same list: it sends the rows among it that changed, the
//! totals, and the list rendered again only when which monitors it holds changed.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use vigilmon_core::uptime::{Span, Uptime};
use vigilmon_core::{MonitorId, MonitorState};
use vigilmon_store::{GroupCount, ListOrder, MonitorFilter, MonitorPage};

use super::charts::{self, Beat};
use super::format::{self, When};
use super::session::{check_origin, urlencode};
use super::{Layout, Session, UiError, render};
use vigilmon_app::AppState;
use vigilmon_app::monitors::{ActiveMaintenance, views_of};
use vigilmon_app::views::MonitorView;

const HOUR_MS: i64 = 3_600_000;
/// The beat bar: the last 30 minutes, one bar per minute.
const BEAT_SLOTS: i64 = 30;
const BEAT_SLOT_MS: i64 = 60_000;
/// Rows on one page of the dashboard. With more monitors than this and no filter, the
/// first answer lists what needs attention and summarises each group in a line.
pub(crate) const PAGE_ROWS: u32 = 250;
/// The states that need attention, listed first.
const ATTENTION: [MonitorState; 4] = [
    MonitorState::Down,
    MonitorState::Degraded,
    MonitorState::Pending,
    MonitorState::Maintenance,
];
/// The state filter's value for every state in [`ATTENTION`].
const ATTENTION_FILTER: &str = "attention";

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
    /// Every tag, as a chip: (name, colour class, link to the dashboard filtered by it).
    pub tags: Vec<Chip>,
    /// The certificate's expiry in words, and whether it is within the monitor's
    /// warning horizon (highlighted).
    pub cert: Option<(String, bool)>,
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
    Chip {
        name: tag.to_owned(),
        colour: (fnv(tag.as_bytes(), FNV_START) % 8) as u8,
        href: format!("/?tag={}", urlencode(tag)),
    }
}

const FNV_START: u32 = 0x811c_9dc5;

fn fnv(bytes: &[u8], start: u32) -> u32 {
    bytes
        .iter()
        .fold(start, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// Monitors sharing a tag, as rows of the table.
pub(crate) struct Group {
    pub name: String,
    pub rows: Vec<Row>,
}

/// One group summarised in a line: how many of its monitors are in each state, and
/// the link that lists them.
pub(crate) struct GroupLine {
    pub name: String,
    pub href: String,
    pub n: u64,
    pub counts: Vec<(&'static str, &'static str, u64)>,
}

/// How many monitors are in one state.
pub(crate) struct Total {
    pub state: &'static str,
    pub label: &'static str,
    pub n: u64,
}

/// What the filters asked for (the URL's query).
#[derive(Deserialize, Default, Clone)]
pub(crate) struct Filters {
    #[serde(default)]
    pub q: String,
    /// A state, or `attention` for every state that needs it.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub tag: String,
    /// A group (first tag) to list; empty: the monitors without a tag.
    pub group: Option<String>,
    /// The page, from 1 (read leniently: anything else is the first).
    pub page: Option<String>,
    pub ok: Option<String>,
}

impl Filters {
    /// Whether anything narrows the list.
    fn narrowed(&self) -> bool {
        !self.q.trim().is_empty()
            || !self.state.is_empty()
            || !self.tag.is_empty()
            || self.group.is_some()
    }

    fn page(&self) -> u32 {
        self.page
            .as_deref()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .unwrap_or(1)
            .clamp(1, 100_000)
    }

    /// The store's filter for these filters; `None` for a state no monitor can be in
    /// (the list is empty).
    fn store_filter(&self, covered: vigilmon_store::Covered) -> Option<MonitorFilter> {
        let states = if self.state.is_empty() {
            Vec::new()
        } else if self.state == ATTENTION_FILTER {
            ATTENTION.to_vec()
        } else {
            vec![MonitorState::parse(&self.state)?]
        };
        Some(MonitorFilter {
            text: Some(self.q.trim().to_owned()).filter(|q| !q.is_empty()),
            states,
            tag: Some(self.tag.clone()).filter(|t| !t.is_empty()),
            group: self
                .group
                .as_ref()
                .map(|g| Some(g.trim().to_owned()).filter(|g| !g.is_empty())),
            maintenance: covered,
        })
    }

    /// The query string of these filters at `page` (the notice left out), `&`-joined,
    /// without the leading `?`.
    fn query(&self, page: u32) -> String {
        let mut parts = Vec::new();
        if !self.q.trim().is_empty() {
            parts.push(format!("q={}", urlencode(self.q.trim())));
        }
        if !self.state.is_empty() {
            parts.push(format!("state={}", urlencode(&self.state)));
        }
        if !self.tag.is_empty() {
            parts.push(format!("tag={}", urlencode(&self.tag)));
        }
        if let Some(g) = &self.group {
            parts.push(format!("group={}", urlencode(g)));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        parts.join("&")
    }

    fn href(&self, page: u32) -> String {
        let q = self.query(page);
        if q.is_empty() {
            "/".into()
        } else {
            format!("/?{q}")
        }
    }
}

/// The list part of the dashboard: the rows of this page (in groups), the group lines
/// of a summarised first answer, and the pager.
pub(crate) struct ListView {
    pub groups: Vec<Group>,
    /// One line per group, when the first answer summarises them.
    pub summary: Vec<GroupLine>,
    /// Rows on this page.
    pub shown: usize,
    /// Monitors in the whole list (all pages).
    pub total: u64,
    /// Positions of this page's first and last rows in the list, from 1.
    pub first: u64,
    pub last: u64,
    /// The list holds more than this page.
    pub paged: bool,
    pub prev: Option<String>,
    pub next: Option<String>,
    /// The page holds every monitor and nothing narrows it: the script may filter it
    /// as the user types (otherwise Enter asks the server).
    pub complete: bool,
    /// Every monitor there is.
    pub count: u64,
}

#[derive(Template)]
#[template(path = "dashboard.html", whitespace = "minimize")]
pub(crate) struct DashboardPage {
    pub l: Layout,
    pub totals: Vec<Total>,
    pub count: u64,
    pub f: Filters,
    pub tags: Vec<String>,
    pub states: Vec<(&'static str, &'static str)>,
    pub list: ListView,
}

/// The list part alone, for the live endpoint (the same template the page includes).
#[derive(Template)]
#[template(path = "dashboard/list.html", whitespace = "minimize")]
struct ListPart<'a> {
    list: &'a ListView,
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

/// Per monitor: (checks, ok) over the last 24 hours, and per minute of the last 30
/// the mean duration and whether every check passed.
#[derive(Default)]
pub(crate) struct Summary {
    pub checks: u64,
    pub ok: u64,
    pub recent: Vec<Option<charts::Minute>>,
    /// Time-weighted uptime over the last 24 hours, and the incidents in them.
    pub uptime: Option<(Uptime, usize)>,
}

/// Each monitor's time-weighted uptime over the 24 hours before `now`.
pub(crate) type DayUptimes = HashMap<MonitorId, (Uptime, usize)>;
/// Each monitor's (checks, passed) over the last 24 hours.
pub(crate) type DayCounts = BTreeMap<MonitorId, (u64, u64)>;
/// Each monitor's beat-bar buckets of the last 30 minutes.
pub(crate) type RecentBuckets = BTreeMap<MonitorId, Vec<Option<charts::Minute>>>;

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
/// ago) of each monitor of `ids`: hourly rollups (all regions) up to the rollup
/// watermark, raw results after it.
pub(crate) async fn day_counts_of(
    st: &AppState,
    now: Timestamp,
    ids: &[MonitorId],
) -> Result<DayCounts, UiError> {
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
    let mut out = DayCounts::new();
    if mark > start {
        for (id, checks, failures) in st.store().rollup_counts(ts(start), ts(mark), ids).await? {
            let e = out.entry(id).or_default();
            e.0 += checks;
            e.1 += checks.saturating_sub(failures);
        }
    }
    for (id, checks, ok) in st.store().result_counts(ts(mark), ids).await? {
        let e = out.entry(id).or_default();
        e.0 += checks;
        e.1 += ok;
    }
    Ok(out)
}

/// The beat bar's per-minute buckets of the last 30 minutes, per monitor of `ids`.
pub(crate) async fn recent_buckets(
    st: &AppState,
    now: Timestamp,
    ids: &[MonitorId],
) -> Result<RecentBuckets, UiError> {
    let since_ms = now.as_millisecond() - BEAT_SLOTS * BEAT_SLOT_MS;
    let since = Timestamp::from_millisecond(since_ms).unwrap_or(now);
    // (sum of durations, checks, all ok, the last error) per slot.
    type Acc = (u64, u64, bool, Option<String>);
    let mut acc: BTreeMap<MonitorId, Vec<Acc>> = BTreeMap::new();
    // Oldest first: a slot keeps its last error.
    for c in st.store().recent_checks(since, ids).await? {
        let slots = acc
            .entry(c.monitor_id)
            .or_insert_with(|| vec![(0, 0, true, None); BEAT_SLOTS as usize]);
        let i =
            ((c.checked_at.as_millisecond() - since_ms) / BEAT_SLOT_MS).clamp(0, BEAT_SLOTS - 1);
        let slot = &mut slots[i as usize];
        slot.0 += c.duration_ms;
        slot.1 += 1;
        slot.2 &= c.ok;
        if c.error.is_some() {
            slot.3 = c.error;
        }
    }
    let out = acc
        .into_iter()
        .map(|(id, slots)| {
            let slots = slots
                .into_iter()
                .map(|(sum, n, ok, error)| (n > 0).then(|| (sum / n, ok, error)))
                .collect();
            (id, slots)
        })
        .collect();
    Ok(out)
}

fn summaries(
    day: DayCounts,
    recent: RecentBuckets,
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

/// What one answer of the dashboard shows, as the store listed it.
pub(crate) struct Listing {
    /// Monitors per shown state, of all monitors.
    pub totals: Vec<(MonitorState, u64)>,
    /// Every tag, for the tag filter.
    pub tags: Vec<String>,
    /// The rows of this page, in order.
    pub views: Vec<MonitorView>,
    /// Every group's counts per state, when the first answer summarises groups.
    pub groups: Option<Vec<GroupCount>>,
    /// Monitors in the whole list (all pages).
    pub total: u64,
}

impl Listing {
    /// Which monitors the list holds and how the group lines count them: when this
    /// changes, the live endpoint renders the list again.
    fn signature(&self) -> String {
        let mut h = FNV_START;
        for v in &self.views {
            h = fnv(v.id.as_bytes(), h);
        }
        for g in self.groups.iter().flatten() {
            h = fnv(g.group.as_deref().unwrap_or("").as_bytes(), h);
            h = fnv(g.state.as_str().as_bytes(), h);
            h = fnv(&g.n.to_le_bytes(), h);
        }
        h = fnv(&self.total.to_le_bytes(), h);
        format!("{h:08x}")
    }
}

/// Asks the store for what the dashboard shows with filters `f`: the totals, the tags,
/// the page of rows and, for the first answer of a large dashboard, the group lines.
/// The live endpoint leaves the tags out (`with_tags`): it renders no filter form.
pub(crate) async fn listing(
    st: &AppState,
    f: &Filters,
    with_tags: bool,
) -> Result<Listing, UiError> {
    let active = ActiveMaintenance::now(st).await?;
    let covered = active.cover();
    let store = st.store();
    let totals = store.monitor_state_counts(&covered).await?;
    let count: u64 = totals.iter().map(|(_, n)| n).sum();
    let tags = if with_tags {
        store.monitor_tag_names().await?
    } else {
        Vec::new()
    };
    let summarise = !f.narrowed() && count > u64::from(PAGE_ROWS);
    let (page, groups) = if summarise {
        let all = MonitorFilter {
            maintenance: covered.clone(),
            ..MonitorFilter::default()
        };
        let attention = MonitorFilter {
            states: ATTENTION.to_vec(),
            ..all.clone()
        };
        let page = store
            .monitor_page(&attention, ListOrder::WorstFirst, PAGE_ROWS, 0)
            .await?;
        (page, Some(store.group_counts(&all).await?))
    } else {
        // Filtered by a tag, every row sits under that tag: worst first across the
        // monitors' own groups.
        let order = if f.tag.is_empty() {
            ListOrder::Grouped
        } else {
            ListOrder::WorstFirst
        };
        let offset = u64::from(f.page() - 1) * u64::from(PAGE_ROWS);
        let page = match f.store_filter(covered) {
            Some(filter) => {
                store
                    .monitor_page(&filter, order, PAGE_ROWS, offset)
                    .await?
            }
            None => MonitorPage::default(),
        };
        (page, None)
    };
    let views = views_of(st, &page.ids, &active).await?;
    Ok(Listing {
        totals,
        tags,
        views,
        groups,
        total: page.total,
    })
}

/// The per-row figures of the listed monitors: 24-hour counts, beats, uptime.
pub(crate) async fn figures(
    st: &AppState,
    views: &[MonitorView],
    now: Timestamp,
) -> Result<(DayCounts, RecentBuckets, DayUptimes), UiError> {
    let ids: Vec<MonitorId> = views.iter().map(|v| MonitorId::from_uuid(v.id)).collect();
    let day = day_counts_of(st, now, &ids).await?;
    let recent = recent_buckets(st, now, &ids).await?;
    let uptimes = day_uptimes(st, views, now).await?;
    Ok((day, recent, uptimes))
}

/// The group a row of a list sits under: the tag filtered by, else its first tag.
fn group_of<'a>(v: &'a MonitorView, f: &'a Filters) -> Option<&'a str> {
    if f.tag.is_empty() {
        v.config.tags.first().map(|t| t.trim())
    } else {
        Some(f.tag.as_str())
    }
}

/// The beat bars' minutes up to `now`, the same for every row.
fn beat_minutes(now: Timestamp) -> Vec<String> {
    charts::minute_labels(
        now - SignedDuration::from_millis(BEAT_SLOTS * BEAT_SLOT_MS),
        BEAT_SLOTS as usize,
    )
}

/// Builds the list part from a listing and the figures of its rows.
pub(crate) fn build_list(
    listing: &Listing,
    (day, recent, uptimes): (DayCounts, RecentBuckets, DayUptimes),
    now: Timestamp,
    f: &Filters,
) -> ListView {
    let sums = summaries(day, recent, uptimes);
    let minutes = beat_minutes(now);
    let count: u64 = listing.totals.iter().map(|(_, n)| n).sum();
    let mut groups: Vec<Group> = Vec::new();
    let summarised = listing.groups.is_some();
    for v in &listing.views {
        let r = row(v, sums.get(&MonitorId::from_uuid(v.id)), now, &minutes);
        let name = if summarised {
            "Needs attention"
        } else {
            group_of(v, f).unwrap_or("Untagged")
        };
        match groups.last_mut() {
            Some(g) if g.name == name => g.rows.push(r),
            _ => groups.push(Group {
                name: name.to_owned(),
                rows: vec![r],
            }),
        }
    }
    let mut summary: Vec<GroupLine> = Vec::new();
    let mut current: Option<&Option<String>> = None;
    for g in listing.groups.iter().flatten() {
        if current != Some(&g.group) {
            current = Some(&g.group);
            summary.push(GroupLine {
                name: g.group.clone().unwrap_or_else(|| "Untagged".into()),
                href: format!(
                    "/?group={}",
                    g.group.as_deref().map(urlencode).unwrap_or_default()
                ),
                n: 0,
                counts: Vec::new(),
            });
        }
        if let Some(line) = summary.last_mut() {
            line.n += g.n;
            line.counts
                .push((g.state.as_str(), format::state_label(g.state), g.n));
        }
    }
    for line in &mut summary {
        line.counts
            .sort_by_key(|c| MonitorState::parse(c.0).map_or(9, severity));
    }
    let shown = listing.views.len();
    let page = if summarised { 1 } else { f.page() };
    let first = u64::from(page - 1) * u64::from(PAGE_ROWS) + 1;
    let more = first + shown as u64 - 1 < listing.total;
    let (prev, next) = if summarised {
        // The rest of what needs attention is the attention list's second page.
        let rest = Filters {
            state: ATTENTION_FILTER.into(),
            ..Filters::default()
        };
        (None, more.then(|| rest.href(2)))
    } else {
        (
            (page > 1).then(|| f.href(page - 1)),
            more.then(|| f.href(page + 1)),
        )
    };
    ListView {
        groups,
        summary,
        shown,
        total: listing.total,
        first,
        last: first + shown as u64 - 1,
        paged: listing.total > shown as u64,
        prev,
        next,
        complete: !summarised && !f.narrowed() && listing.total == shown as u64,
        count,
    }
}

/// Builds the dashboard page from a listing and the figures of its rows.
pub(crate) fn build(
    l: Layout,
    listing: &Listing,
    figures: (DayCounts, RecentBuckets, DayUptimes),
    now: Timestamp,
    f: Filters,
) -> DashboardPage {
    let list = build_list(listing, figures, now, &f);
    let mut totals: Vec<Total> = MonitorState::ALL
        .iter()
        .map(|s| Total {
            state: s.as_str(),
            label: format::state_label(*s),
            n: listing
                .totals
                .iter()
                .find(|(t, _)| t == s)
                .map_or(0, |(_, n)| *n),
        })
        .collect();
    totals.sort_by_key(|t| MonitorState::parse(t.state).map_or(9, severity));
    let mut states: Vec<(&'static str, &'static str)> = vec![(ATTENTION_FILTER, "Needs attention")];
    states.extend(
        MonitorState::ALL
            .iter()
            .map(|s| (s.as_str(), format::state_label(*s))),
    );
    DashboardPage {
        l,
        totals,
        count: list.count,
        f,
        tags: listing.tags.clone(),
        states,
        list,
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
    let target = v.config.target_words();
    let kind = v.config.kind_label();
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
        tags: v.config.tags.iter().map(|t| chip(t)).collect(),
        cert: cert_note(v, now),
    }
}

/// The live endpoint's URL for a list with filters `f` and signature `set`, from `now`.
fn live_url(f: &Filters, set: &str, now: Timestamp) -> String {
    let q = f.query(f.page());
    let sep = if q.is_empty() { "" } else { "&" };
    format!(
        "/live/dashboard?since={}&set={set}{sep}{q}",
        now.as_millisecond()
    )
}

/// `/`: the dashboard (the session extractor sends others to setup or sign-in).
pub(crate) async fn index(
    State(st): State<AppState>,
    s: Session,
    Query(f): Query<Filters>,
) -> Result<Response, UiError> {
    let now = st.now();
    let listing = listing(&st, &f, true).await?;
    let figures = figures(&st, &listing.views, now).await?;
    let l = Layout::new("Dashboard", "dashboard", &s)
        .notice(f.ok.as_deref())
        .live(live_url(&f, &listing.signature(), now));
    Ok(render(&build(l, &listing, figures, now, f)))
}

#[derive(Deserialize)]
pub(crate) struct LiveQuery {
    /// Epoch milliseconds (text: the query is read through `flatten`).
    since: Option<String>,
    /// The signature of the list the page shows.
    set: Option<String>,
    #[serde(flatten)]
    f: Filters,
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
    /// Its figures again when it was checked (or changed) since the last poll: the
    /// 24-hour uptime cell and the beat bar's cell, rendered as on the page.
    #[serde(flatten)]
    figures: Option<LiveFigures>,
}

#[derive(Serialize)]
struct LiveFigures {
    uptime: String,
    uptime_title: String,
    beats: String,
}

/// The beat bar's cell of one row (the list includes the same template).
#[derive(Template)]
#[template(path = "dashboard/beats.html", whitespace = "minimize")]
struct BeatsCell<'a> {
    r: &'a Row,
}

#[derive(Serialize)]
struct LiveRows {
    /// Rows of the list that changed.
    monitors: Vec<LiveRow>,
    /// Monitors per state, of all monitors.
    totals: BTreeMap<&'static str, u64>,
    /// The list rendered again, when which monitors it holds changed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    parts: BTreeMap<&'static str, String>,
    /// Where to poll next.
    next: String,
}

/// `/live/dashboard?since=MS&set=…&<filters>`: the totals, and the rows of the page's
/// list whose state or last check changed since then; the whole list rendered again
/// when the monitors it holds are no longer those the page shows.
pub(crate) async fn live(
    State(st): State<AppState>,
    _s: Session,
    headers: HeaderMap,
    Query(q): Query<LiveQuery>,
) -> Result<Response, UiError> {
    check_origin(&st, &headers)?;
    let now = st.now();
    let listing = listing(&st, &q.f, false).await?;
    let set = listing.signature();
    let mut parts = BTreeMap::new();
    if q.set.as_deref() != Some(set.as_str()) {
        let figures = figures(&st, &listing.views, now).await?;
        let list = build_list(&listing, figures, now, &q.f);
        let html = ListPart { list: &list }
            .render()
            .map_err(|e| UiError::Internal(e.to_string()))?;
        parts.insert("list", html);
    }
    // A little overlap, so a change committed while the last answer was built is
    // never missed (seeing one twice is harmless).
    let since = q
        .since
        .as_deref()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0)
        - 2_000;
    let changed = |t: Option<Timestamp>| t.is_some_and(|t| t.as_millisecond() >= since);
    let moved = |v: &MonitorView| {
        changed(v.state_changed_at)
            || changed(v.last_checked_at)
            || v.updated_at.as_millisecond() >= since
    };
    // The figures of the rows that moved (none when nothing did: the poll stays small).
    let mut figures_of = BTreeMap::new();
    if parts.is_empty() {
        let moved_views: Vec<MonitorView> =
            listing.views.iter().filter(|v| moved(v)).cloned().collect();
        if !moved_views.is_empty() {
            let (day, recent, uptimes) = figures(&st, &moved_views, now).await?;
            let sums = summaries(day, recent, uptimes);
            let minutes = beat_minutes(now);
            for v in &moved_views {
                let id = MonitorId::from_uuid(v.id);
                let r = row(v, sums.get(&id), now, &minutes);
                let beats = BeatsCell { r: &r }
                    .render()
                    .map_err(|e| UiError::Internal(e.to_string()))?;
                figures_of.insert(
                    v.id,
                    LiveFigures {
                        uptime: r.uptime,
                        uptime_title: r.uptime_title,
                        beats,
                    },
                );
            }
        }
    }
    let monitors = listing
        .views
        .iter()
        // Maintenance starts and ends by the clock, not by a change to the monitor.
        .filter(|v| moved(v) || v.state == MonitorState::Maintenance)
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
                    latest_latency(v).map(format::ms)
                },
                figures: figures_of.remove(&v.id),
            }
        })
        .collect();
    Ok(Json(LiveRows {
        monitors,
        totals: listing
            .totals
            .iter()
            .map(|(s, n)| (s.as_str(), *n))
            .collect(),
        parts,
        next: live_url(&q.f, &set, now),
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
        recent: RecentBuckets,
        uptimes: DayUptimes,
        now: Timestamp,
    }

    impl Fixture {
        /// The instant the fixture's data is relative to.
        pub fn now(&self) -> Timestamp {
            self.now
        }
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
                    .map(|c| {
                        let ok = (i + c) % 23 != 0;
                        let error = (!ok).then(|| "expected status 200, got 503".to_owned());
                        Some((40 + ((i * 7 + c * 13) % 120) as u64, ok, error))
                    })
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

    /// Builds the page from the fixture (every monitor in one list, as a page of a
    /// list shows them) and renders it to HTML.
    pub fn render(f: &Fixture) -> String {
        page(f, Filters::default()).render().unwrap_or_default()
    }

    /// Builds the page from the fixture with `filters`: the fixture's monitors are the
    /// page's rows, in the store's order (grouped, worst first, by name).
    pub(crate) fn page(f: &Fixture, filters: Filters) -> DashboardPage {
        let l = Layout {
            title: "Dashboard".into(),
            nav: "dashboard",
            user: Some("owner@example.com".into()),
            csrf: "0".repeat(32),
            notice: None,
            config_problem: None,
            live: Some("/live/dashboard?since=0".into()),
            can_write: true,
            can_manage_users: true,
            v: super::super::assets::VERSION,
        };
        let mut views: Vec<MonitorView> = f
            .views
            .iter()
            .filter(|v| filters.tag.is_empty() || v.config.tags.contains(&filters.tag))
            .cloned()
            .collect();
        views.sort_by(|a, b| {
            let key = |v: &MonitorView| {
                let g = group_of(v, &filters).map(str::to_owned);
                (
                    g.is_none(),
                    g,
                    severity(v.state),
                    v.config.name.to_lowercase(),
                )
            };
            key(a).cmp(&key(b))
        });
        let mut totals: Vec<(MonitorState, u64)> = Vec::new();
        for v in &f.views {
            match totals.iter_mut().find(|(s, _)| *s == v.state) {
                Some((_, n)) => *n += 1,
                None => totals.push((v.state, 1)),
            }
        }
        let mut tags: Vec<String> = f.views.iter().flat_map(|v| v.config.tags.clone()).collect();
        tags.sort();
        tags.dedup();
        let listing = Listing {
            totals,
            tags,
            total: views.len() as u64,
            views,
            groups: None,
        };
        build(
            l,
            &listing,
            (f.day.clone(), f.recent.clone(), f.uptimes.clone()),
            f.now,
            filters,
        )
    }

    /// The UI's routes over `state`, for a benchmark to call like a browser would.
    pub fn router(state: AppState) -> axum::Router {
        super::super::router(state.front()).with_state(state)
    }

    /// Signs `user` in and returns the `Cookie` header value of the session.
    pub async fn session_cookie(
        st: &AppState,
        user: &vigilmon_store::UserRecord,
    ) -> Result<String, String> {
        let set = Session::start(st, user)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let text = set.to_str().map_err(|e| e.to_string())?;
        Ok(text.split(';').next().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigilmon_core::secret::mask_url_password;

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
        assert_eq!(page.list.groups.len(), 1);
        assert_eq!(page.list.groups[0].name, "team-a");
        assert_eq!(page.list.groups[0].rows.len(), 2);
        assert_eq!(page.list.shown, 2);
        // The same colour for a tag wherever it is.
        assert_eq!(chip("team-a").colour, chip("team-a").colour);
    }

    fn listing_of(
        f: &bench_support::Fixture,
        total: u64,
        groups: Option<Vec<GroupCount>>,
    ) -> Listing {
        Listing {
            totals: vec![(MonitorState::Up, total)],
            tags: Vec::new(),
            views: f.views.clone(),
            groups,
            total,
        }
    }

    #[test]
    fn a_large_first_answer_lists_what_needs_attention_and_a_line_per_group() {
        let f = bench_support::fixture(2);
        let groups = vec![
            GroupCount {
                group: Some("cache".into()),
                state: MonitorState::Up,
                n: 1_240,
            },
            GroupCount {
                group: Some("cache".into()),
                state: MonitorState::Down,
                n: 2,
            },
            GroupCount {
                group: Some("edge & cdn".into()),
                state: MonitorState::Paused,
                n: 3,
            },
            GroupCount {
                group: None,
                state: MonitorState::Up,
                n: 5,
            },
        ];
        let listing = listing_of(&f, 300, Some(groups));
        let list = build_list(&listing, Default::default(), f.now(), &Filters::default());
        // The rows sit under one heading; the rest of the attention list is its page 2.
        assert_eq!(list.groups.len(), 1);
        assert_eq!(list.groups[0].name, "Needs attention");
        assert_eq!(list.next.as_deref(), Some("/?state=attention&page=2"));
        assert!(list.prev.is_none() && list.paged && !list.complete);
        let lines: Vec<_> = list
            .summary
            .iter()
            .map(|l| (l.name.as_str(), l.href.as_str(), l.n, l.counts.len()))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("cache", "/?group=cache", 1_242, 2),
                ("edge & cdn", "/?group=edge%20%26%20cdn", 3, 1),
                ("Untagged", "/?group=", 5, 1),
            ]
        );
        // Worst first within a line.
        assert_eq!(list.summary[0].counts[0].0, "down");
        let html = ListPart { list: &list }.render().unwrap();
        assert!(
            html.contains("<a href=\"/?group=edge%20%26%20cdn\">edge &#38; cdn</a>"),
            "{html}"
        );
        assert!(html.contains("The rest of what needs attention"), "{html}");
        assert!(
            !html.contains("data-complete"),
            "typing does not filter a partial list"
        );
    }

    #[test]
    fn pages_link_to_their_neighbours_with_the_same_filters() {
        let f = bench_support::fixture(3);
        let filters = Filters {
            q: "api & co".into(),
            group: Some("team-1".into()),
            page: Some("2".into()),
            ..Filters::default()
        };
        let list = build_list(
            &listing_of(&f, 900, None),
            Default::default(),
            f.now(),
            &filters,
        );
        assert_eq!((list.first, list.last), (251, 253));
        assert_eq!(
            list.prev.as_deref(),
            Some("/?q=api%20%26%20co&group=team-1")
        );
        assert_eq!(
            list.next.as_deref(),
            Some("/?q=api%20%26%20co&group=team-1&page=3")
        );
        // A lenient page number: anything unreadable is the first page.
        let odd = Filters {
            page: Some("-4x".into()),
            ..Filters::default()
        };
        assert_eq!(odd.page(), 1);
        // Everything on one page and nothing narrowing it: the script may filter it.
        let one = build_list(
            &listing_of(&f, 3, None),
            Default::default(),
            f.now(),
            &Filters::default(),
        );
        assert!(one.complete && !one.paged && one.next.is_none());
        // The live URL carries the filters and the list's signature.
        let url = live_url(&filters, "abc", Timestamp::UNIX_EPOCH);
        assert_eq!(
            url,
            "/live/dashboard?since=0&set=abc&q=api%20%26%20co&group=team-1&page=2"
        );
    }
}
