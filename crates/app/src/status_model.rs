//! What a status page publishes, computed from the store at one instant.
//!
//! [`PageModel`] is the only input of every public representation (HTML, JSON, Atom),
//! and its fields are exactly what is published: public names, public states, uptime
//! figures, public incident titles and updates, maintenance times. Monitor ids, URLs,
//! headers, regions, error messages, incident causes and internal timelines never enter
//! it, so no renderer can leak them.
//!
//! Uptime comes from core's interval arithmetic ([`vigilmon_core::uptime`]) over the
//! monitor's incidents, the maintenance windows that applied to it, and the time it was
//! first seen; the daily bars are calendar days in the page's time zone.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use vigilmon_core::maintenance::{MaintenanceConfig, MaintenanceSpec};
use vigilmon_core::rollup::Rollup;
use vigilmon_core::status_page::StatusPageConfig;
use vigilmon_core::uptime::{self, History, Span};
use vigilmon_core::{MonitorConfig, MonitorId, MonitorState};
use vigilmon_store::{
    ALL_REGIONS, IncidentRecord, IncidentUpdate, MonitorRecord, RollupPeriod, StatusPageRecord,
    Store, StoreError,
};

/// Days of history a page shows.
pub const HISTORY_DAYS: u32 = 90;
/// How far ahead upcoming maintenance is shown.
const UPCOMING_MS: i64 = 7 * DAY_MS;
/// Most resolved incidents listed in the history.
const MAX_HISTORY: usize = 100;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The rolling windows shown, and accepted by the uptime API: `(name, milliseconds)`.
pub const WINDOWS: [(&str, i64); 4] = [
    ("24h", DAY_MS),
    ("7d", 7 * DAY_MS),
    ("30d", 30 * DAY_MS),
    ("90d", 90 * DAY_MS),
];

/// The length of a named window (`24h`, `7d`, `30d`, `90d`).
pub fn window_ms(name: &str) -> Option<i64> {
    WINDOWS.iter().find(|(n, _)| *n == name).map(|(_, ms)| *ms)
}

/// Everything a page publishes.
#[derive(Debug, Clone, Serialize)]
pub struct PageModel {
    pub page: PageInfo,
    pub status: Overall,
    pub sections: Vec<Section>,
    pub active_incidents: Vec<PublicIncident>,
    /// Active and upcoming (next 7 days) maintenance.
    pub maintenance: Vec<PublicMaintenance>,
    /// Resolved incidents of the last 90 days, newest first.
    pub incident_history: Vec<PublicIncident>,
    #[serde(skip)]
    pub tz: TimeZone,
    /// When the figures were computed (not published: it would change every render).
    #[serde(skip)]
    pub computed_at: Timestamp,
}

/// The page's own texts and links.
#[derive(Debug, Clone, Serialize)]
pub struct PageInfo {
    pub slug: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub timezone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    /// Paths of the page, its JSON and its feed.
    pub links: Links,
}

#[derive(Debug, Clone, Serialize)]
pub struct Links {
    pub html: String,
    pub json: String,
    pub feed: String,
}

/// The banner.
#[derive(Debug, Clone, Serialize)]
pub struct Overall {
    /// `operational`, `degraded`, `partial_outage`, `major_outage` or `maintenance`.
    pub indicator: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub name: String,
    pub monitors: Vec<PublicMonitor>,
}

/// A monitor as the public sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PublicMonitor {
    /// The public name.
    pub name: String,
    /// The monitor's public id (its badge id), not its API id.
    pub id: String,
    /// `operational`, `degraded`, `outage`, `maintenance`, `no_data` or `paused`.
    pub status: &'static str,
    pub status_label: &'static str,
    /// Uptime over the last 24h, 7d, 30d and 90d (`null`: no data).
    pub uptime: WindowFigures,
    /// The 90-day figure as shown (`99.987%`), never rounded up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_90d_text: Option<String>,
    /// Mean response time over the last 24 complete hours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_time_ms: Option<u64>,
    pub badges: Badges,
    /// One entry per day, oldest first, in the page's time zone.
    pub days: Vec<PublicDay>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowFigures {
    #[serde(rename = "24h")]
    pub h24: Option<f64>,
    #[serde(rename = "7d")]
    pub d7: Option<f64>,
    #[serde(rename = "30d")]
    pub d30: Option<f64>,
    #[serde(rename = "90d")]
    pub d90: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Badges {
    pub status: String,
    pub uptime: String,
    pub response: String,
}

/// One day of one monitor.
#[derive(Debug, Clone, Serialize)]
pub struct PublicDay {
    /// `YYYY-MM-DD` in the page's time zone.
    pub date: String,
    /// `null`: no data (before the monitor was first seen, or all maintenance).
    pub uptime: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_text: Option<String>,
    /// Counted time the monitor was down or inside an incident (omitted when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub downtime_ms: i64,
    /// Maintenance (not counted; omitted when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub maintenance_ms: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<DayIncident>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// An incident's share of one day.
#[derive(Debug, Clone, Serialize)]
pub struct DayIncident {
    pub id: String,
    pub title: String,
    /// The part of the day it lasted.
    pub duration_ms: i64,
}

/// An incident as published: its public title and updates only.
#[derive(Debug, Clone, Serialize)]
pub struct PublicIncident {
    /// A public id (not the incident's API id).
    pub id: String,
    pub title: String,
    /// `active` or `resolved`.
    pub state: &'static str,
    /// The latest public update's status (`investigating`, `identified`,
    /// `monitoring`, `resolved`), if any was posted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Public names of the monitors it affects (on this page).
    pub monitors: Vec<String>,
    pub started_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    /// Length so far, or in all once resolved.
    pub duration_ms: i64,
    /// Public updates, newest first.
    pub updates: Vec<PublicUpdate>,
    /// Latest change: start, resolution or update.
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicUpdate {
    pub at: Timestamp,
    pub status: String,
    pub text: String,
}

/// A maintenance window as published: when, and which of the page's monitors.
#[derive(Debug, Clone, Serialize)]
pub struct PublicMaintenance {
    pub active: bool,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub monitors: Vec<String>,
}

/// The public id of an incident (a digest of its id).
pub fn public_incident_id(id: Uuid) -> String {
    let d = Sha256::digest([b"vigilmon-incident:".as_slice(), id.as_bytes()].concat());
    hex::encode(&d[..8])
}

/// A fresh badge id: 128 random bits, hex.
pub fn new_badge_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The title shown for an incident: the latest one a public update set, else a
/// neutral wording from what failed ("Degraded performance" when every region's
/// evidence was a working, if slow, answer; "Service disruption" otherwise). Never
/// the internal cause.
pub fn public_title(incident: &IncidentRecord, updates: &[&IncidentUpdate]) -> String {
    if let Some(t) = updates.iter().rev().find_map(|u| u.title.clone()) {
        return t;
    }
    if seen_as_degraded(incident) {
        "Degraded performance".into()
    } else {
        "Service disruption".into()
    }
}

/// Whether an incident's evidence was a working, if slow, answer in every region.
fn seen_as_degraded(incident: &IncidentRecord) -> bool {
    incident.regions.as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter()
                .all(|r| r.get("ok").and_then(Value::as_bool) != Some(false))
    })
}

/// The state a page's banner counts for a monitor: its shown state, made worse by an
/// active incident the page lists — an outage (`down`) or degraded performance — so
/// that the headline never reads better than the incidents under it (a paused monitor,
/// or one in maintenance, may keep an incident open).
fn banner_state(shown: MonitorState, active: &[&IncidentRecord]) -> MonitorState {
    let implied = active
        .iter()
        .map(|i| {
            if seen_as_degraded(i) {
                MonitorState::Degraded
            } else {
                MonitorState::Down
            }
        })
        .min_by_key(|s| *s != MonitorState::Down);
    match (shown, implied) {
        (MonitorState::Down, _) | (_, None) => shown,
        (_, Some(MonitorState::Down)) => MonitorState::Down,
        (_, Some(implied)) => implied,
    }
}

/// Maintenance windows, expanded into spans over a range.
pub struct MaintenancePlan {
    windows: Vec<(MaintenanceSpec, Vec<Span>)>,
}

impl MaintenancePlan {
    /// Every stored window's occurrences within `range` (from when it was created,
    /// until it was ended early).
    pub async fn load(store: &Store, range: Span) -> Result<Self, StoreError> {
        let mut windows = Vec::new();
        for w in store.list_maintenance().await? {
            let Some(spec) = serde_json::from_value::<MaintenanceConfig>(w.config)
                .ok()
                .and_then(|c| c.build().ok())
            else {
                continue;
            };
            let spans = uptime::maintenance_spans(&spec, range, Some(w.created_at), w.ended_at);
            windows.push((spec, spans));
        }
        Ok(MaintenancePlan { windows })
    }

    /// The maintenance time of a monitor (normalized).
    pub fn spans_for(&self, m: &MonitorRecord) -> Vec<Span> {
        self.spans_of(&m.config.name, &m.config.tags)
    }

    /// The maintenance of a monitor by its name and tags.
    pub fn spans_of(&self, name: &str, tags: &[String]) -> Vec<Span> {
        uptime::normalize(
            self.windows
                .iter()
                .filter(|(spec, _)| spec.applies_to(name, tags))
                .flat_map(|(_, spans)| spans.iter().copied())
                .collect(),
        )
    }

    fn active_for(&self, m: &MonitorRecord, now: i64) -> bool {
        self.spans_for(m)
            .iter()
            .any(|s| s.start <= now && now < s.end)
    }
}

/// The incident time of each monitor, as spans (open incidents last until `now`).
pub fn incident_spans(
    incidents: &[IncidentRecord],
    now: Timestamp,
) -> HashMap<MonitorId, Vec<Span>> {
    let mut out: HashMap<MonitorId, Vec<Span>> = HashMap::new();
    for i in incidents {
        out.entry(i.monitor_id)
            .or_default()
            .push(Span::between(i.opened_at, i.resolved_at.unwrap_or(now)));
    }
    out
}

/// The time each monitor's state was `down` from `since` to `now`, from its logged
/// state changes: what uptime counts beside the incidents.
pub async fn down_time(
    store: &Store,
    ids: &[MonitorId],
    since: Timestamp,
    now: Timestamp,
) -> Result<HashMap<MonitorId, Vec<Span>>, StoreError> {
    let now_ms = now.as_millisecond();
    Ok(store
        .state_changes_since(ids, since)
        .await?
        .into_iter()
        .map(|(id, changes)| {
            let changes: Vec<(i64, MonitorState)> = changes
                .into_iter()
                .map(|(at, state)| (at.as_millisecond(), state))
                .collect();
            (id, uptime::down_spans(&changes, now_ms))
        })
        .collect())
}

/// When each monitor was first seen, recording any not yet recorded first.
pub async fn first_seen(
    store: &Store,
    ids: &[MonitorId],
) -> Result<HashMap<MonitorId, Timestamp>, StoreError> {
    let mut seen = store.first_seen(ids).await?;
    if seen.len() < ids.len() {
        store.record_first_seen().await?;
        seen = store.first_seen(ids).await?;
    }
    Ok(seen)
}

/// The state shown for a monitor: paused, else maintenance while a window covers it,
/// else its state.
fn shown_state(m: &MonitorRecord, plan: &MaintenancePlan, now: i64) -> MonitorState {
    if m.config.paused || m.state == MonitorState::Paused {
        MonitorState::Paused
    } else if plan.active_for(m, now) {
        MonitorState::Maintenance
    } else {
        m.state
    }
}

/// The monitors a page names that exist, in page order, with their public names.
pub fn resolve_monitors<'a>(
    config: &StatusPageConfig,
    monitors: &'a [MonitorRecord],
) -> Vec<(usize, String, &'a MonitorRecord)> {
    let by_name: HashMap<&str, &MonitorRecord> = monitors
        .iter()
        .map(|m| (m.config.name.as_str(), m))
        .collect();
    let mut out = Vec::new();
    for (i, s) in config.sections.iter().enumerate() {
        for entry in &s.monitors {
            if let Some(m) = by_name.get(entry.name()) {
                out.push((i, entry.public_name().to_owned(), *m));
            }
        }
    }
    out
}

/// Computes what `page` publishes at `now`.
pub async fn build(
    store: &Store,
    page: &StatusPageRecord,
    now: Timestamp,
) -> Result<PageModel, StoreError> {
    let config = &page.config;
    let tz = config.time_zone();
    let now_ms = now.as_millisecond();
    let days = uptime::days_until(now, &tz, HISTORY_DAYS);
    let history_start = days
        .first()
        .map_or(now_ms - 90 * DAY_MS, |d| d.span.start)
        .min(now_ms - 90 * DAY_MS);

    let all = store.list_monitors().await?;
    let shown = resolve_monitors(config, &all);
    let ids: Vec<MonitorId> = shown.iter().map(|(_, _, m)| m.id).collect();
    let badges = store.ensure_badge_ids(&ids, new_badge_id, now).await?;
    let seen = first_seen(store, &ids).await?;
    let since = Timestamp::from_millisecond(history_start).unwrap_or(Timestamp::MIN);
    let incidents = store.incidents_since(&ids, since).await?;
    let incident_ids: Vec<Uuid> = incidents.iter().map(|i| i.id).collect();
    let updates = store.incident_updates(&incident_ids).await?;
    let mut updates_of: HashMap<Uuid, Vec<&IncidentUpdate>> = HashMap::new();
    for u in &updates {
        updates_of.entry(u.incident_id).or_default().push(u);
    }
    let plan = MaintenancePlan::load(store, Span::new(history_start, now_ms + UPCOMING_MS)).await?;
    let spans = incident_spans(&incidents, now);
    let mut down = down_time(store, &ids, since, now).await?;
    let hour = now_ms - now_ms.rem_euclid(HOUR_MS);
    let response = response_times(store, &ids, hour - DAY_MS, hour).await?;

    let public_name: HashMap<MonitorId, &str> =
        shown.iter().map(|(_, n, m)| (m.id, n.as_str())).collect();
    let titles: HashMap<Uuid, String> = incidents
        .iter()
        .map(|i| {
            let ups = updates_of.get(&i.id).map(Vec::as_slice).unwrap_or_default();
            (i.id, public_title(i, ups))
        })
        .collect();

    let mut sections: Vec<Section> = config
        .sections
        .iter()
        .map(|s| Section {
            name: s.name.clone(),
            monitors: Vec::new(),
        })
        .collect();
    let mut states = Vec::new();
    for (section, name, m) in &shown {
        let state = shown_state(m, &plan, now_ms);
        let active: Vec<&IncidentRecord> = incidents
            .iter()
            .filter(|i| i.monitor_id == m.id && i.resolved_at.is_none())
            .collect();
        states.push(banner_state(state, &active));
        let history = History::new(
            seen.get(&m.id).copied(),
            spans.get(&m.id).cloned().unwrap_or_default(),
            plan.spans_for(m)
                .into_iter()
                .filter_map(|s| s.intersect(&Span::new(history_start, now_ms)))
                .collect(),
        )
        .with_down(down.remove(&m.id).unwrap_or_default());
        let figure = |w: i64| uptime::uptime(&history, Span::new(now_ms - w, now_ms));
        let u90 = figure(90 * DAY_MS);
        let own: Vec<&IncidentRecord> = incidents.iter().filter(|i| i.monitor_id == m.id).collect();
        let day_views = days
            .iter()
            .map(|d| {
                let u = uptime::uptime(&history, d.span);
                let day_incidents = own
                    .iter()
                    .filter_map(|i| {
                        let s = Span::between(i.opened_at, i.resolved_at.unwrap_or(now))
                            .intersect(&d.span)?;
                        Some(DayIncident {
                            id: public_incident_id(i.id),
                            title: titles.get(&i.id).cloned().unwrap_or_default(),
                            duration_ms: s.len_ms(),
                        })
                    })
                    .rev()
                    .collect();
                PublicDay {
                    date: d.date.to_string(),
                    uptime: u.ratio(),
                    uptime_text: u.percent_text(),
                    downtime_ms: u.downtime_ms,
                    maintenance_ms: u.maintenance_ms,
                    incidents: day_incidents,
                }
            })
            .collect();
        let badge = badges.get(&m.id).cloned().unwrap_or_default();
        let (status, status_label) = uptime::public_state(state);
        if let Some(s) = sections.get_mut(*section) {
            s.monitors.push(PublicMonitor {
                name: name.clone(),
                status,
                status_label,
                uptime: WindowFigures {
                    h24: figure(DAY_MS).ratio(),
                    d7: figure(7 * DAY_MS).ratio(),
                    d30: figure(30 * DAY_MS).ratio(),
                    d90: u90.ratio(),
                },
                uptime_90d_text: u90.percent_text(),
                response_time_ms: response.get(&m.id).copied(),
                badges: Badges {
                    status: format!("/badge/{badge}/status.svg"),
                    uptime: format!("/badge/{badge}/uptime.svg?window=30d"),
                    response: format!("/badge/{badge}/response.svg"),
                },
                id: badge,
                days: day_views,
            });
        }
    }
    sections.retain(|s| !s.monitors.is_empty());
    let banner = uptime::banner(&states);

    let mut active_incidents = Vec::new();
    let mut incident_history = Vec::new();
    for i in &incidents {
        let ups = updates_of.get(&i.id).map(Vec::as_slice).unwrap_or_default();
        let view = public_incident(i, ups, &titles, &public_name, now);
        if i.resolved_at.is_none() {
            active_incidents.push(view);
        } else if incident_history.len() < MAX_HISTORY {
            incident_history.push(view);
        }
    }

    let mut maintenance: Vec<PublicMaintenance> = Vec::new();
    for (_, _, m) in &shown {
        for s in plan.spans_for(m) {
            if s.end <= now_ms {
                continue;
            }
            let name = public_name
                .get(&m.id)
                .copied()
                .unwrap_or_default()
                .to_owned();
            let (starts_at, ends_at) = (s.start_ts(), s.end_ts());
            match maintenance
                .iter_mut()
                .find(|x| x.starts_at == starts_at && x.ends_at == ends_at)
            {
                Some(x) => x.monitors.push(name),
                None => maintenance.push(PublicMaintenance {
                    active: s.start <= now_ms,
                    starts_at,
                    ends_at,
                    monitors: vec![name],
                }),
            }
        }
    }
    maintenance.sort_by_key(|m| (m.starts_at, m.ends_at));

    Ok(PageModel {
        page: PageInfo {
            slug: config.slug.clone(),
            title: config.title.clone(),
            description: config.description.clone(),
            timezone: config.time_zone_name().to_owned(),
            logo_url: config.logo_url.clone(),
            accent_color: config.accent_color.clone(),
            links: Links {
                html: format!("/status/{}", config.slug),
                json: format!("/api/v1/public/status/{}", config.slug),
                feed: format!("/status/{}/feed.atom", config.slug),
            },
        },
        status: Overall {
            indicator: banner.as_str(),
            description: banner.describe(),
        },
        sections,
        active_incidents,
        maintenance,
        incident_history,
        tz,
        computed_at: now,
    })
}

fn public_incident(
    i: &IncidentRecord,
    ups: &[&IncidentUpdate],
    titles: &HashMap<Uuid, String>,
    names: &HashMap<MonitorId, &str>,
    now: Timestamp,
) -> PublicIncident {
    let end = i.resolved_at.unwrap_or(now);
    let updated_at = ups
        .iter()
        .map(|u| u.at)
        .chain([i.opened_at])
        .chain(i.resolved_at)
        .max()
        .unwrap_or(i.opened_at);
    PublicIncident {
        id: public_incident_id(i.id),
        title: titles.get(&i.id).cloned().unwrap_or_default(),
        state: if i.resolved_at.is_some() {
            "resolved"
        } else {
            "active"
        },
        status: ups.last().map(|u| u.status.clone()),
        monitors: names
            .get(&i.monitor_id)
            .map(|n| vec![(*n).to_owned()])
            .unwrap_or_default(),
        started_at: i.opened_at,
        resolved_at: i.resolved_at,
        duration_ms: (end.as_millisecond() - i.opened_at.as_millisecond()).max(0),
        updates: ups
            .iter()
            .rev()
            .map(|u| PublicUpdate {
                at: u.at,
                status: u.status.clone(),
                text: u.text.clone(),
            })
            .collect(),
        updated_at,
    }
}

/// One monitor's uptime over `window` (which should end at or before `now`), and how
/// many incidents overlapped it. The same arithmetic as the page's figures.
pub async fn uptime_of(
    store: &Store,
    m: &MonitorRecord,
    window: Span,
    now: Timestamp,
) -> Result<(uptime::Uptime, usize), StoreError> {
    let mut all = uptimes_of(store, &[(m.id, &m.config)], &[window], now).await?;
    Ok(all.remove(&m.id).and_then(|mut v| v.pop()).unwrap_or((
        uptime::uptime(&History::new(None, Vec::new(), Vec::new()), window),
        0,
    )))
}

/// The time-weighted uptime of many monitors over several windows, and how many
/// incidents touched each window: three store reads for them all, over the span that
/// covers every window (the dashboard's 24 hours, the monitor page's four windows).
/// Per monitor, one entry per window, in the order given.
pub async fn uptimes_of(
    store: &Store,
    monitors: &[(MonitorId, &MonitorConfig)],
    windows: &[Span],
    now: Timestamp,
) -> Result<HashMap<MonitorId, Vec<(uptime::Uptime, usize)>>, StoreError> {
    let Some(covering) = windows
        .iter()
        .copied()
        .reduce(|a, b| Span::new(a.start.min(b.start), a.end.max(b.end)))
    else {
        return Ok(HashMap::new());
    };
    let ids: Vec<MonitorId> = monitors.iter().map(|(id, _)| *id).collect();
    let seen = first_seen(store, &ids).await?;
    let incidents: Vec<IncidentRecord> = store
        .incidents_since(&ids, covering.start_ts())
        .await?
        .into_iter()
        .filter(|i| i.opened_at.as_millisecond() < covering.end)
        .collect();
    let mut spans = incident_spans(&incidents, now);
    let mut down = down_time(store, &ids, covering.start_ts(), now).await?;
    let plan = MaintenancePlan::load(store, covering).await?;
    Ok(monitors
        .iter()
        .map(|(id, config)| {
            let history = History::new(
                seen.get(id).copied(),
                spans.remove(id).unwrap_or_default(),
                plan.spans_of(&config.name, &config.tags),
            )
            .with_down(down.remove(id).unwrap_or_default());
            let per_window = windows
                .iter()
                .map(|w| {
                    // As `incidents_since(w.start)` would count them.
                    let n = incidents
                        .iter()
                        .filter(|i| {
                            i.monitor_id == *id
                                && i.opened_at.as_millisecond() < w.end
                                && i.resolved_at.is_none_or(|r| r.as_millisecond() >= w.start)
                        })
                        .count();
                    (uptime::uptime(&history, *w), n)
                })
                .collect();
            (*id, per_window)
        })
        .collect())
}

/// The state a badge shows for a monitor now.
pub async fn public_state_of(
    store: &Store,
    m: &MonitorRecord,
    now: Timestamp,
) -> Result<MonitorState, StoreError> {
    let now_ms = now.as_millisecond();
    let plan = MaintenancePlan::load(store, Span::new(now_ms, now_ms + 1)).await?;
    Ok(shown_state(m, &plan, now_ms))
}

/// Mean response time of each monitor over `[from, to)`, from the hourly rollups of
/// all regions.
pub async fn response_times(
    store: &Store,
    ids: &[MonitorId],
    from_ms: i64,
    to_ms: i64,
) -> Result<HashMap<MonitorId, u64>, StoreError> {
    let (from, to) = (
        Timestamp::from_millisecond(from_ms).unwrap_or(Timestamp::MIN),
        Timestamp::from_millisecond(to_ms).unwrap_or(Timestamp::MAX),
    );
    let period = if to_ms - from_ms > 7 * DAY_MS {
        RollupPeriod::Day
    } else {
        RollupPeriod::Hour
    };
    let mut merged: HashMap<MonitorId, Rollup> = HashMap::new();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    for row in store
        .list_rollups(period, ids, Some(ALL_REGIONS), from, to)
        .await?
    {
        merged.entry(row.monitor_id).or_default().merge(&row.rollup);
    }
    Ok(merged
        .into_iter()
        .filter_map(|(id, r)| r.duration_avg().map(|a| (id, a.round() as u64)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn incident(regions: Value) -> IncidentRecord {
        IncidentRecord {
            id: Uuid::now_v7(),
            monitor_id: MonitorId(Uuid::now_v7()),
            monitor_name: "db".into(),
            state: "open".into(),
            priority: "P1".into(),
            cause: "connection refused to 10.0.0.5".into(),
            regions,
            parent_id: None,
            opened_at: Timestamp::UNIX_EPOCH,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
        }
    }

    #[test]
    fn titles_never_use_the_cause() {
        let down = incident(json!([{"region": "eu", "ok": false, "error": "refused"}]));
        assert_eq!(public_title(&down, &[]), "Service disruption");
        let slow = incident(json!([{"region": "eu", "ok": true, "error": "slow"}]));
        assert_eq!(public_title(&slow, &[]), "Degraded performance");
        assert_eq!(
            public_title(&incident(json!([])), &[]),
            "Service disruption"
        );
        let u = |title: Option<&str>| IncidentUpdate {
            id: 1,
            incident_id: down.id,
            at: Timestamp::UNIX_EPOCH,
            status: "identified".into(),
            text: "t".into(),
            title: title.map(str::to_owned),
            author: None,
        };
        let (a, b) = (u(Some("Cache unavailable")), u(None));
        assert_eq!(public_title(&down, &[&a, &b]), "Cache unavailable");
    }

    #[test]
    fn the_banner_never_reads_better_than_the_active_incidents() {
        use MonitorState::*;
        let down = incident(json!([{"region": "eu", "ok": false, "error": "refused"}]));
        let slow = incident(json!([{"region": "eu", "ok": true, "error": "slow"}]));
        // A paused monitor, or one in maintenance, with an outage still open: counted
        // as down, so the page never says "Degraded" above a "Service disruption".
        assert_eq!(banner_state(Paused, &[&down]), Down);
        assert_eq!(banner_state(Maintenance, &[&down]), Down);
        assert_eq!(banner_state(Up, &[&slow]), Degraded);
        assert_eq!(banner_state(Degraded, &[&slow, &down]), Down);
        assert_eq!(banner_state(Down, &[&slow]), Down);
        assert_eq!(banner_state(Degraded, &[]), Degraded);
        assert_eq!(banner_state(Paused, &[]), Paused);
        let states = [banner_state(Degraded, &[]), banner_state(Paused, &[&down])];
        assert_eq!(uptime::banner(&states), uptime::Banner::PartialOutage);
    }

    #[test]
    fn public_ids_are_stable_and_not_the_id() {
        let id = Uuid::now_v7();
        assert_eq!(public_incident_id(id), public_incident_id(id));
        assert_eq!(public_incident_id(id).len(), 16);
        assert!(!id.to_string().contains(&public_incident_id(id)));
        assert_eq!(new_badge_id().len(), 32);
        assert_ne!(new_badge_id(), new_badge_id());
    }

    /// A page built at a controlled instant: an incident across midnight in the page's
    /// time zone, maintenance inside it, a monitor first seen mid-window.
    #[test]
    fn windows() {
        assert_eq!(window_ms("30d"), Some(30 * DAY_MS));
        assert_eq!(window_ms("1y"), None);
    }
}
