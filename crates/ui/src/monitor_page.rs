//! A monitor's page: its state overall and per region, the response-time chart with
//! the phases of each check, recent results, incidents, the heartbeat ping URL and
//! ping log (with bodies), the Redis figures of the latest check, the time-weighted
//! uptime over 24 hours, 7, 30 and 90 days (the API's figures); and its actions
//! (edit, pause, resume, check now, delete with confirmation).
//!
//! The page is cut into parts (`templates/monitor/*.html`); `/monitors/{id}/live`
//! renders the same parts again when something changed, for the page script to swap
//! in without a reload.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::SignedDuration;
use vigilmon_core::{MonitorId, MonitorState};
use vigilmon_store::{IncidentFilter, MonitorRecord, MonitorSource, ResultFilter};

use super::charts::{self, PHASES, PhaseChart, PhasePoint};
use super::format::{self, When};
use super::session::check_origin;
use super::{Layout, NoticeQuery, Posted, Session, UiError, render, see_other};
use vigilmon_app::AppState;
use vigilmon_app::monitors::{check_now_record, delete_monitor, set_paused, view};
use vigilmon_app::status_pages::named_uptimes;
use vigilmon_app::views::MonitorView;

/// Results drawn in the chart (the table shows the newest of them).
const CHART_RESULTS: u32 = 60;
const TABLE_RESULTS: usize = 20;
/// Checks in the monitor page's beat bar.
const BEAT_RESULTS: usize = 40;
const PINGS_SHOWN: u32 = 25;
/// Longest ping body shown in full on the page.
const BODY_SHOWN: usize = 4000;

pub(crate) struct RegionRow {
    pub region: String,
    pub state: &'static str,
    pub label: &'static str,
    pub checked: Option<When>,
    pub duration: String,
    pub error: Option<String>,
    /// The start of a long error, the rest folded behind "more".
    pub error_short: Option<String>,
}

pub(crate) struct ResultRow {
    pub when: When,
    pub region: String,
    pub verdict: &'static str,
    pub label: &'static str,
    pub duration: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// The start of a long error, the rest folded behind "more".
    pub error_short: Option<String>,
}

/// A badge of a monitor shown on a status page, ready to paste.
pub(crate) struct BadgeSnippet {
    pub label: &'static str,
    /// The image, for the preview.
    pub src: String,
    pub markdown: String,
    pub html: String,
}

/// The badges of a monitor, when a status page shows it (badges are public only for
/// those): status, 30-day uptime and 24-hour response time. Their alt text names the
/// monitor as the (first) status page showing it does: its public name.
async fn badges(
    st: &AppState,
    id: MonitorId,
    name: &str,
    now: jiff::Timestamp,
) -> Result<Vec<BadgeSnippet>, UiError> {
    let pages = st.store().list_status_pages().await?;
    let Some(public) = pages
        .iter()
        .find_map(|p| p.config.monitors().find(|m| m.name() == name))
        .map(|m| m.public_name().to_owned())
    else {
        return Ok(Vec::new());
    };
    let name = public.as_str();
    // In the HTML snippet the name sits inside an attribute.
    let attr = name
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let ids = st
        .store()
        .ensure_badge_ids(&[id], vigilmon_app::status_model::new_badge_id, now)
        .await?;
    let Some(badge) = ids.get(&id) else {
        return Ok(Vec::new());
    };
    let base = format!("{}/badge/{badge}", st.public_url().trim_end_matches('/'));
    Ok([
        ("Status", "status", "status.svg"),
        ("Uptime, 30 days", "uptime", "uptime.svg?window=30d"),
        ("Response time, 24 hours", "response time", "response.svg"),
    ]
    .into_iter()
    .map(|(label, alt, file)| {
        let url = format!("{base}/{file}");
        BadgeSnippet {
            label,
            src: format!("/badge/{badge}/{file}"),
            markdown: format!("![{name} {alt}]({url})"),
            html: format!("<img src=\"{url}\" alt=\"{attr} {alt}\">"),
        }
    })
    .collect())
}

#[derive(Clone)]
pub(crate) struct IncidentRow {
    pub id: String,
    pub state: String,
    pub priority: String,
    pub opened: When,
    pub duration: String,
    pub cause: format::Cause,
}

/// Uptime over one window, in words.
pub(crate) struct UptimeRow {
    /// `24 hours`, `7 days`, …
    pub window: &'static str,
    /// `99.987 %`, or `—` when no time counted yet.
    pub percent: String,
    /// `no downtime`, `down 4 min 12 s in 2 incidents`, …
    pub downtime: String,
    /// Maintenance and time before the first check, which do not count.
    pub excluded: Option<String>,
}

pub(crate) struct PingRow {
    pub when: When,
    pub kind: String,
    pub css: &'static str,
    pub method: String,
    pub exit_status: Option<u8>,
    pub duration: Option<String>,
    pub source: String,
    pub body: Option<String>,
    pub body_note: Option<String>,
    pub failure: Option<String>,
}

pub(crate) struct HeartbeatFacts {
    pub ping_url: String,
    /// `None` for viewers: it carries the workspace's ping key.
    pub slug_url: Option<String>,
    pub pings_total: u64,
    pub last_ping: Option<When>,
    pub last_success: Option<When>,
    pub deadline: Option<When>,
    pub reason: Option<String>,
    pub schedule: String,
}

/// Everything the monitor page shows.
pub(crate) struct Detail {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub kind_label: &'static str,
    /// What it watches, in pieces: a line may break between them.
    pub target_parts: Vec<String>,
    pub state: &'static str,
    pub label: &'static str,
    pub since: Option<When>,
    /// During maintenance: what the checks say.
    pub check_label: Option<&'static str>,
    /// Why it is down or degraded; a long one folds behind "more" (phones).
    pub reason: Option<format::Cause>,
    /// The latest checks, oldest first, a bar each.
    pub beats: Vec<charts::Beat>,
    pub paused: bool,
    pub managed: bool,
    /// Written by `vigilmon apply` (editable; the next apply writes it again).
    pub applied: bool,
    pub probed: bool,
    pub settings: Vec<(&'static str, String)>,
    pub regions: Vec<RegionRow>,
    /// The certificate's expiry in words, whether it is within the warning horizon, and
    /// the date (UTC).
    pub cert: Option<(String, bool, String)>,
    /// `verify_tls: false`: said plainly.
    pub tls_off: bool,
    /// Time-weighted uptime over the last 24 hours: the first row of `uptimes`, shown
    /// beside the state.
    pub uptime_24h: String,
    /// Time-weighted uptime over 24 hours, 7, 30 and 90 days (maintenance excluded).
    pub uptimes: Vec<UptimeRow>,
    /// Checks that passed in the last 24 hours, counted one by one over every region
    /// ("785 of 1000 checks, 78.5 %"): a different figure from uptime, labelled as such.
    pub checks_passed: Option<String>,
    pub chart: Option<PhaseChart>,
    /// What the chart spans: `checks` (the latest checks, with their phases), `24h`,
    /// `7d` (hours) or `30d` (days, from the rollups).
    pub range: &'static str,
    pub phases: &'static [(&'static str, &'static str)],
    pub results: Vec<ResultRow>,
    pub incidents: Vec<IncidentRow>,
    /// The open (or acknowledged) incident, shown at the top with Acknowledge.
    pub open_incident: Option<IncidentRow>,
    /// For the forms of live-rendered parts.
    pub can_write: bool,
    pub csrf: String,
    pub heartbeat: Option<HeartbeatFacts>,
    pub pings: Vec<PingRow>,
    pub redis: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "monitor.html", whitespace = "minimize")]
struct Page {
    l: Layout,
    d: Detail,
    /// Ready-to-paste badges, when a status page shows the monitor (not a live part).
    badges: Vec<BadgeSnippet>,
}

macro_rules! part {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path, whitespace = "minimize")]
        struct $name<'a> {
            d: &'a Detail,
        }
    };
}
part!(StatusPart, "monitor/status.html");
part!(RegionsPart, "monitor/regions.html");
part!(ChartPart, "monitor/chart.html");
part!(ResultsPart, "monitor/results.html");
part!(IncidentsPart, "monitor/incidents.html");
part!(HeartbeatPart, "monitor/heartbeat.html");
part!(RedisPart, "monitor/redis.html");
part!(UptimePart, "monitor/uptime.html");

async fn load(st: &AppState, id: &str) -> Result<MonitorRecord, UiError> {
    let mid: MonitorId = id
        .parse()
        .map_err(|_| UiError::NotFound(format!("there is no monitor {id:?}")))?;
    st.store()
        .get_monitor(mid)
        .await?
        .ok_or_else(|| UiError::NotFound("this monitor does not exist (any more)".into()))
}

fn settings_of(v: &MonitorView) -> Vec<(&'static str, String)> {
    let c = &v.config;
    let mut out = Vec::new();
    if c.kind.is_probed()
        && let Ok(spec) = c.build()
    {
        out.push((
            "Checked every",
            vigilmon_core::HumanDuration(spec.interval).to_string(),
        ));
        out.push((
            "Timeout",
            vigilmon_core::HumanDuration(spec.timeout).to_string(),
        ));
        out.push((
            "Regions",
            c.regions
                .as_ref()
                .map_or_else(|| "all".into(), |r| r.join(", ")),
        ));
    }
    if let Some(e) = c.kind.expect() {
        if let Some(s) = &e.status {
            out.push(("Expected status", format::json_text(s)));
        }
        if let Some(b) = &e.body_contains {
            out.push(("Body contains", b.clone()));
        }
        if let Some(t) = &e.response_time {
            out.push(("Fails when slower than", t.to_string()));
        }
    }
    if let Some(t) = c.kind.warn().and_then(|w| w.response_time) {
        out.push(("Degraded when slower than", t.to_string()));
    }
    out.push((
        "Alert policy",
        c.policy
            .clone()
            .unwrap_or_else(|| "none (incidents are recorded, nobody is notified)".into()),
    ));
    if !c.tags.is_empty() {
        out.push(("Tags", c.tags.join(", ")));
    }
    if !c.depends_on.is_empty() {
        out.push(("Depends on", c.depends_on.join(", ")));
    }
    out.push((
        "Defined in",
        if v.source == "file" {
            "the config file".into()
        } else {
            "the UI or API".into()
        },
    ));
    out
}

fn ping_css(kind: &str) -> &'static str {
    match kind {
        "success" => "up",
        "fail" => "down",
        "start" | "log" => "maintenance",
        _ => "pending",
    }
}

/// The uptime figures of the monitor page, from the same code as
/// `GET /api/v1/monitors/{id}/uptime`.
async fn uptimes(
    st: &AppState,
    rec: &MonitorRecord,
    now: jiff::Timestamp,
) -> Result<Vec<UptimeRow>, UiError> {
    Ok(named_uptimes(st.store(), rec, now)
        .await?
        .into_iter()
        .map(|u| {
            let window = match u.window.as_deref() {
                Some("24h") => "24 hours",
                Some("7d") => "7 days",
                Some("30d") => "30 days",
                _ => "90 days",
            };
            let downtime = format::downtime_words(u.counted_ms, u.downtime_ms, u.incidents);
            let mut excluded = Vec::new();
            if u.maintenance_ms > 0 {
                excluded.push(format!(
                    "{} of maintenance",
                    format::duration_ms(u.maintenance_ms)
                ));
            }
            if u.pending_ms > 0 && u.counted_ms > 0 {
                excluded.push(format!(
                    "{} before the first check",
                    format::duration_ms(u.pending_ms)
                ));
            }
            UptimeRow {
                window,
                percent: u.uptime_percent.unwrap_or_else(|| "—".to_owned()),
                downtime,
                excluded: (!excluded.is_empty())
                    .then(|| format!("not counted: {}", excluded.join(" and "))),
            }
        })
        .collect())
}

/// The chart ranges, as the `range` query parameter spells them.
pub(crate) const RANGES: [(&str, &str); 5] = [
    ("checks", "Latest checks"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
];

/// `?range=` of the monitor page and its live endpoint.
#[derive(serde::Deserialize, Default)]
pub(crate) struct RangeQuery {
    pub range: Option<String>,
}

impl RangeQuery {
    /// The range asked for, `checks` when none or an unknown one.
    fn range(&self) -> &'static str {
        RANGES
            .iter()
            .map(|r| r.0)
            .find(|r| Some(*r) == self.range.as_deref())
            .unwrap_or("checks")
    }
}

/// The response-time chart over the last hour (a bar per minute, from the raw results),
/// 24 hours or 7 days (hourly rollups) or 30 days (daily rollups), all regions
/// together.
async fn rollup_chart(
    st: &AppState,
    id: MonitorId,
    range: &str,
    now: jiff::Timestamp,
) -> Result<Option<PhaseChart>, UiError> {
    use vigilmon_store::{ALL_REGIONS, RollupPeriod};
    let hour = SignedDuration::from_hours(1);
    let day = SignedDuration::from_hours(24);
    let minute = SignedDuration::from_mins(1);
    let (period, slot, slots, unit) = match range {
        "1h" => (None, minute, 60, "minute"),
        "24h" => (Some(RollupPeriod::Hour), hour, 24, "hour"),
        "7d" => (Some(RollupPeriod::Hour), hour, 24 * 7, "hour"),
        _ => (Some(RollupPeriod::Day), day, 30, "day"),
    };
    // Buckets end at the current hour (or day): the one in progress is not rolled up.
    let slot_ms = slot.as_millis() as i64;
    let end_ms = now.as_millisecond() - now.as_millisecond().rem_euclid(slot_ms) + slot_ms;
    let end = jiff::Timestamp::from_millisecond(end_ms).unwrap_or(now);
    let start = end - slot * slots;
    let points: Vec<charts::RollupPoint> = match period {
        // The minute in progress is shown as it fills.
        None => st
            .store()
            .result_buckets(start, slot_ms, Some(id))
            .await?
            .iter()
            .map(|b| charts::RollupPoint {
                start: start + slot * (b.bucket as i32),
                checks: b.checks,
                failures: b.checks.saturating_sub(b.ok),
                mean: b.avg_ms,
                p95: None,
                max: Some(b.max_ms),
            })
            .collect(),
        Some(period) => st
            .store()
            .list_rollups(period, &[id], Some(ALL_REGIONS), start, end)
            .await?
            .iter()
            .map(|r| charts::RollupPoint {
                start: r.bucket_start,
                checks: r.rollup.checks,
                failures: r.rollup.failures,
                mean: r.rollup.duration_avg().map_or(0, |v| v as u64),
                p95: r.rollup.duration_p95,
                max: r.rollup.duration_max,
            })
            .collect(),
    };
    Ok(charts::rollup_chart(
        &points,
        start,
        slot,
        slots as usize,
        unit,
    ))
}

/// The monitor page's facts; `can_write` decides whether the workspace's ping key
/// (in the slug ping URL) is shown: viewers never see it.
async fn detail(
    st: &AppState,
    rec: MonitorRecord,
    s: &Session,
    range: &'static str,
) -> Result<Detail, UiError> {
    let (can_write, csrf) = (s.can_write(), s.csrf.as_str());
    let now = st.now();
    let id = rec.id;
    let uptime_rows = uptimes(st, &rec, now).await?;
    let managed = rec.source == MonitorSource::File;
    let applied = rec.source == MonitorSource::Apply;
    let v = view(st, rec).await?;
    let probed = v.config.kind.as_heartbeat().is_none();
    let since = now - SignedDuration::from_hours(24);
    let results = if probed {
        st.store()
            .list_results(
                id,
                &ResultFilter {
                    since: Some(since),
                    limit: CHART_RESULTS,
                    ..Default::default()
                },
            )
            .await?
    } else {
        Vec::new()
    };
    let (checks, ok) = super::dashboard::day_counts_of(st, now, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    let mut points: Vec<PhasePoint> = results
        .iter()
        .map(|r| PhasePoint {
            at: r.result.checked_at,
            dns: r.result.phases.dns_ms.unwrap_or(0),
            connect: r.result.phases.connect_ms.unwrap_or(0),
            tls: r.result.phases.tls_ms.unwrap_or(0),
            ttfb: r.result.phases.ttfb_ms.unwrap_or(0),
            total: r.result.duration_ms,
            ok: r.result.verdict.is_ok(),
            region: r.result.region.to_string(),
        })
        .collect();
    points.reverse();
    let redis = if v.config.kind.as_redis().is_some() {
        results
            .first()
            .and_then(|r| r.result.details.as_ref())
            .and_then(|d| d.as_object())
            .map(|m| {
                m.iter()
                    .filter(|(k, v)| !v.is_object() && k.as_str() != "reasons")
                    .map(|(k, v)| (redis_label(k), redis_value(k, v)))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let result_rows = results
        .iter()
        .take(TABLE_RESULTS)
        .map(|r| {
            let verdict = vigilmon_app::views::verdict_name(&r.result.verdict);
            ResultRow {
                when: When::new(r.result.checked_at, now),
                region: r.result.region.to_string(),
                verdict,
                label: match verdict {
                    "up" => "Up",
                    "degraded" => "Degraded",
                    _ => "Down",
                },
                duration: format::ms(r.result.duration_ms),
                status: r.result.status_code,
                error_short: r.result.verdict.message().and_then(format::fold),
                error: r.result.verdict.message().map(str::to_owned),
            }
        })
        .collect();
    let latest: Vec<_> = results
        .iter()
        .take(BEAT_RESULTS)
        .rev()
        .map(|r| {
            (
                r.result.checked_at,
                r.result.region.to_string(),
                vigilmon_app::views::verdict_name(&r.result.verdict),
                r.result.duration_ms,
                r.result.verdict.message().map(str::to_owned),
            )
        })
        .collect();
    let beats = charts::check_beats(&latest);
    let incidents: Vec<IncidentRow> = st
        .store()
        .list_incidents(&IncidentFilter {
            monitor_id: Some(id),
            limit: 10,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|i| IncidentRow {
            id: i.id.to_string(),
            opened: When::new(i.opened_at, now),
            duration: format::duration_ms(
                i.resolved_at.unwrap_or(now).as_millisecond() - i.opened_at.as_millisecond(),
            ),
            state: i.state,
            priority: i.priority,
            cause: format::Cause::new(&i.cause, i.opened_at, now, &s.tz),
        })
        .collect();
    let (heartbeat, pings) = match (&v.ping_url, &v.heartbeat) {
        (Some(url), Some(h)) => {
            let pings = st
                .store()
                .list_pings(id, PINGS_SHOWN)
                .await?
                .into_iter()
                .map(|p| {
                    let p = p.ping;
                    let (body, body_note) = match p.body {
                        Some(b) if b.len() > BODY_SHOWN => {
                            let mut cut = BODY_SHOWN;
                            while !b.is_char_boundary(cut) {
                                cut -= 1;
                            }
                            (
                                Some(b[..cut].to_owned()),
                                Some(format!(
                                    "first {} of {} bytes shown{}",
                                    cut,
                                    b.len(),
                                    if p.body_truncated {
                                        "; the job sent more, which was not kept"
                                    } else {
                                        ""
                                    }
                                )),
                            )
                        }
                        Some(b) if !b.is_empty() => (
                            Some(b),
                            p.body_truncated.then(|| {
                                "the job sent more than 100 kB; the rest was not kept".to_owned()
                            }),
                        ),
                        _ => (None, None),
                    };
                    PingRow {
                        when: When::new(p.received_at, now),
                        css: ping_css(&p.kind),
                        kind: p.kind,
                        method: p.method,
                        exit_status: p.exit_status,
                        duration: p.duration_ms.map(format::ms),
                        source: p.source_ip.unwrap_or_default(),
                        body,
                        body_note,
                        failure: p.failure,
                    }
                })
                .collect();
            (
                Some(HeartbeatFacts {
                    ping_url: url.clone(),
                    slug_url: h.slug_ping_url.clone().filter(|_| can_write),
                    pings_total: h.pings_total,
                    last_ping: When::opt(h.last_ping_at, now),
                    last_success: When::opt(h.last_success_at, now),
                    deadline: When::opt(h.deadline, now),
                    reason: h.reason.clone(),
                    schedule: v.config.target_words(),
                }),
                pings,
            )
        }
        _ => (None, Vec::new()),
    };
    let reason = match (&heartbeat, v.state) {
        (Some(h), MonitorState::Down) => h.reason.clone(),
        (_, MonitorState::Down | MonitorState::Degraded) => v
            .regions
            .iter()
            .filter(|r| r.error.is_some())
            .max_by_key(|r| r.checked_at)
            .and_then(|r| r.error.clone()),
        _ => None,
    };
    Ok(Detail {
        id: v.id.to_string(),
        name: v.config.name.clone(),
        kind: v.config.kind_name().to_owned(),
        kind_label: v.config.kind_label(),
        target_parts: format::break_points(&v.config.target_words()),
        state: v.state.as_str(),
        label: format::state_label(v.state),
        since: When::opt(v.state_changed_at, now),
        check_label: v.check_state.map(format::state_label),
        reason: reason
            .map(|r| format::Cause::new(&r, v.state_changed_at.unwrap_or(now), now, &s.tz)),
        beats,
        paused: v.config.paused,
        managed,
        applied,
        probed,
        settings: settings_of(&v),
        regions: v
            .regions
            .iter()
            .map(|r| RegionRow {
                region: r.region.clone(),
                state: r.state.as_str(),
                label: format::state_label(r.state),
                checked: When::opt(r.checked_at, now),
                duration: r.duration_ms.map(format::ms).unwrap_or_default(),
                error: r.error.clone(),
                error_short: r.error.as_deref().and_then(format::fold),
            })
            .collect(),
        cert: super::dashboard::cert_note(&v, now)
            .and_then(|(words, warn)| Some((words, warn, format::utc(v.cert_expires_at()?)))),
        tls_off: v.config.kind.tls_unverified(),
        uptime_24h: uptime_rows
            .first()
            .map_or_else(|| "—".to_owned(), |u| u.percent.clone()),
        uptimes: uptime_rows,
        checks_passed: (checks > 0)
            .then(|| format!("{ok} of {checks} checks, {}", format::percent(ok, checks))),
        chart: match range {
            "checks" => charts::phase_chart(&points),
            _ => rollup_chart(st, id, range, now).await?,
        },
        range,
        phases: &PHASES,
        results: result_rows,
        open_incident: incidents.iter().find(|i| i.state != "resolved").cloned(),
        incidents,
        can_write,
        csrf: csrf.to_owned(),
        heartbeat,
        pings,
        redis,
    })
}

/// Words for the Redis figures the check reports.
fn redis_label(k: &str) -> String {
    match k {
        "used_bytes" => "Memory used".into(),
        "max_bytes" => "Memory limit".into(),
        "max_bytes_source" => "Limit from".into(),
        "memory_ratio" => "Memory used of limit".into(),
        "policy" => "Eviction policy".into(),
        "evictions_per_min" => "Evictions per minute".into(),
        "lag_seconds" => "Replication lag".into(),
        "response_ms" => "Response time".into(),
        "uptime_seconds" => "Server up for".into(),
        other => {
            let mut s = other.replace('_', " ");
            if let Some(c) = s.get_mut(0..1) {
                c.make_ascii_uppercase();
            }
            s
        }
    }
}

fn redis_value(k: &str, v: &serde_json::Value) -> String {
    match (k, v.as_f64()) {
        ("used_bytes" | "max_bytes", Some(n)) => vigilmon_core::redis::human_bytes(n as u64),
        ("memory_ratio", Some(r)) => format!("{:.1} %", r * 100.0),
        ("lag_seconds", Some(s)) => format!("{s} s"),
        ("response_ms", Some(ms)) => format::ms(ms as u64),
        ("uptime_seconds", Some(s)) => format::span(s as i64),
        _ => format::json_text(v),
    }
}

/// What the live endpoint compares to tell whether anything on the page changed.
async fn version(st: &AppState, v: &MonitorView) -> Result<String, UiError> {
    let mut h = DefaultHasher::new();
    v.state.as_str().hash(&mut h);
    v.state_changed_at.map(|t| t.as_millisecond()).hash(&mut h);
    v.last_checked_at.map(|t| t.as_millisecond()).hash(&mut h);
    v.updated_at.as_millisecond().hash(&mut h);
    v.heartbeat.as_ref().map(|b| b.pings_total).hash(&mut h);
    for r in &v.regions {
        (r.state.as_str(), r.checked_at.map(|t| t.as_millisecond())).hash(&mut h);
    }
    for i in st
        .store()
        .list_incidents(&IncidentFilter {
            monitor_id: Some(MonitorId::from_uuid(v.id)),
            limit: 10,
            ..Default::default()
        })
        .await?
    {
        (i.id, i.state).hash(&mut h);
    }
    Ok(format!("{:016x}", h.finish()))
}

pub(crate) async fn page(
    State(st): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
    Query(rq): Query<RangeQuery>,
) -> Result<Response, UiError> {
    let rec = load(&st, &id).await?;
    let v = version(&st, &view(&st, rec.clone()).await?).await?;
    let (id, name) = (rec.id, rec.config.name.clone());
    let d = detail(&st, rec, &s, rq.range()).await?;
    let badges = badges(&st, id, &name, st.now()).await?;
    let l = Layout::new(d.name.clone(), "dashboard", &s)
        .notice(q.ok.as_deref())
        .live(live_url(&d.id, &v, d.range));
    Ok(render(&Page { l, d, badges }))
}

/// `/monitors/{id}/live?v=…`: 204 when nothing changed, else the page's parts again.
pub(crate) async fn live(
    State(st): State<AppState>,
    s: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<super::LiveQuery>,
    Query(rq): Query<RangeQuery>,
) -> Result<Response, UiError> {
    check_origin(&st, &headers)?;
    let rec = load(&st, &id).await?;
    let v = version(&st, &view(&st, rec.clone()).await?).await?;
    if q.v.as_deref() == Some(v.as_str()) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let d = detail(&st, rec, &s, rq.range()).await?;
    let mut parts = std::collections::BTreeMap::new();
    let r = |e: askama::Error| UiError::Internal(e.to_string());
    parts.insert("status", StatusPart { d: &d }.render().map_err(r)?);
    parts.insert("regions", RegionsPart { d: &d }.render().map_err(r)?);
    parts.insert("chart", ChartPart { d: &d }.render().map_err(r)?);
    parts.insert("results", ResultsPart { d: &d }.render().map_err(r)?);
    parts.insert("incidents", IncidentsPart { d: &d }.render().map_err(r)?);
    parts.insert("heartbeat", HeartbeatPart { d: &d }.render().map_err(r)?);
    parts.insert("redis", RedisPart { d: &d }.render().map_err(r)?);
    parts.insert("uptime", UptimePart { d: &d }.render().map_err(r)?);
    Ok(super::live_parts(live_url(&d.id, &v, d.range), parts))
}

/// The live endpoint of a monitor's page, keeping its chart's range.
fn live_url(id: &str, v: &str, range: &str) -> String {
    if range == "checks" {
        format!("/monitors/{id}/live?v={v}")
    } else {
        format!("/monitors/{id}/live?v={v}&range={range}")
    }
}

pub(crate) async fn pause(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let rec = load(&st, &id).await?;
    set_paused(&st, rec, true).await?;
    Ok(see_other(&format!("/monitors/{id}?ok=paused")))
}

pub(crate) async fn resume(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let rec = load(&st, &id).await?;
    set_paused(&st, rec, false).await?;
    Ok(see_other(&format!("/monitors/{id}?ok=resumed")))
}

pub(crate) async fn check_now(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let rec = load(&st, &id).await?;
    check_now_record(&st, &rec).await?;
    Ok(see_other(&format!("/monitors/{id}?ok=checked")))
}

#[derive(Template)]
#[template(path = "monitor_delete.html", whitespace = "minimize")]
struct DeletePage {
    l: Layout,
    id: String,
    name: String,
    managed: bool,
    results: u64,
}

pub(crate) async fn delete_confirm(
    State(st): State<AppState>,
    s: Session,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    s.require_write()?;
    let rec = load(&st, &id).await?;
    let results = st.store().count_results(rec.id).await?;
    Ok(render(&DeletePage {
        l: Layout::new(format!("Delete {}", rec.config.name), "dashboard", &s),
        id,
        managed: rec.source == MonitorSource::File,
        name: rec.config.name,
        results,
    }))
}

pub(crate) async fn delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let rec = load(&st, &id).await?;
    delete_monitor(&st, &rec).await?;
    Ok(see_other("/?ok=deleted"))
}
