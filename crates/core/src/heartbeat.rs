//! Heartbeat monitors: their schedule (`every` or `cron` + `tz`, plus `grace`), the
//! rules that catch what silence does not, and the pure state machine that turns
//! pings and the passing of time into a state.
//!
//! Nothing here reads the clock: pings arrive with their time, and the caller asks
//! [`HeartbeatState::deadline`] when silence would turn the monitor down, sleeps until
//! then, and calls [`HeartbeatState::on_deadline`].

use std::str::FromStr;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::state::MonitorState;

/// Default expected period when neither `every` nor `cron` is given (as a check made
/// by a ping with `?create=1`).
pub const DEFAULT_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Default grace period.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);
/// Open runs remembered per monitor (`/start` without a finish); older ones are dropped.
pub const MAX_OPEN_RUNS: usize = 16;
/// Longest slug.
pub const MAX_SLUG_LEN: usize = 100;

/// When pings are expected.
#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron {
        cron: Box<croner::Cron>,
        /// The expression as written.
        expr: String,
        tz: jiff::tz::TimeZone,
        tz_name: String,
    },
}

/// `failures: "N of M"`: down when N of the last M runs failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRate {
    pub n: u32,
    pub m: u32,
}

impl FromStr for FailureRate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} must look like \"2 of 5\" (N of M, 1 <= N <= M <= 100)");
        let (n, m) = s.split_once(" of ").ok_or_else(bad)?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        let m: u32 = m.trim().parse().map_err(|_| bad())?;
        if n == 0 || n > m || m > 100 {
            return Err(bad());
        }
        Ok(FailureRate { n, m })
    }
}

/// A validated heartbeat monitor.
#[derive(Debug, Clone)]
pub struct HeartbeatSpec {
    pub schedule: Schedule,
    pub grace: Duration,
    /// Methods that count as pings (upper case); empty means any.
    pub methods: Vec<String>,
    pub min_interval: Option<Duration>,
    pub min_duration: Option<Duration>,
    pub max_duration: Option<Duration>,
    pub failures: Option<FailureRate>,
    pub slug: String,
    /// The ping token the monitor's config gives (otherwise one is generated when the
    /// monitor is made).
    pub token: Option<String>,
}

impl HeartbeatSpec {
    /// Whether a ping sent with `method` counts (HEAD counts wherever GET does).
    pub fn accepts_method(&self, method: &str) -> bool {
        self.methods.is_empty()
            || self
                .methods
                .iter()
                .any(|m| m == method || (m == "GET" && method == "HEAD"))
    }

    /// When the next ping is due after a completed run at `after` (without grace).
    pub fn next_expected(&self, after: Timestamp) -> Option<Timestamp> {
        match &self.schedule {
            Schedule::Every(d) => after.checked_add(SignedDuration::try_from(*d).ok()?).ok(),
            Schedule::Cron { cron, tz, .. } => {
                let zoned = after.to_zoned(tz.clone());
                cron.find_next_occurrence(&zoned, false)
                    .ok()
                    .map(|z| z.timestamp())
            }
        }
    }

    /// Human description of the schedule, for messages.
    pub fn describe(&self) -> String {
        let grace = HumanDuration(self.grace);
        match &self.schedule {
            Schedule::Every(d) => format!("every {} + {grace} grace", HumanDuration(*d)),
            Schedule::Cron { expr, tz_name, .. } => {
                format!("cron \"{expr}\" ({tz_name}) + {grace} grace")
            }
        }
    }
}

/// Turns a monitor name into a slug: lower case, `[a-z0-9_-]`, runs of anything else
/// become one `-`.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    out.chars().take(MAX_SLUG_LEN).collect()
}

/// Whether `s` can be a ping token: 16-64 letters, digits, `-` and `_` (what the ping
/// routes accept; a UUID is one).
pub fn is_valid_token(s: &str) -> bool {
    (16..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `s` is a valid slug: 1-100 characters of `[a-z0-9_-]`.
pub fn is_valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SLUG_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// What a ping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PingKind {
    /// The job succeeded (plain ping, or exit status 0).
    Success,
    /// The job started.
    Start,
    /// The job failed (`/fail`, or a non-zero exit status).
    Fail,
    /// Only store the body.
    Log,
}

impl PingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PingKind::Success => "success",
            PingKind::Start => "start",
            PingKind::Fail => "fail",
            PingKind::Log => "log",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            PingKind::Success,
            PingKind::Start,
            PingKind::Fail,
            PingKind::Log,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A run that was started and not yet finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRun {
    pub rid: Option<String>,
    pub started_at: Timestamp,
}

/// Everything a heartbeat monitor remembers between pings. Stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatState {
    pub state: MonitorState,
    /// The last finished run (success or failure): silence is counted from here.
    pub last_finished_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub last_ping_at: Option<Timestamp>,
    #[serde(default)]
    pub open_runs: Vec<OpenRun>,
    /// Outcomes of the last runs (true = ok), oldest first, for `failures: N of M`.
    #[serde(default)]
    pub recent: Vec<bool>,
    /// Why it is down, in words.
    pub reason: Option<String>,
    /// Deadlines before this time do not count (set after the server itself was down).
    #[serde(default)]
    pub not_before: Option<Timestamp>,
}

impl Default for HeartbeatState {
    fn default() -> Self {
        Self {
            state: MonitorState::Pending,
            last_finished_at: None,
            last_success_at: None,
            last_ping_at: None,
            open_runs: Vec::new(),
            recent: Vec::new(),
            reason: None,
            not_before: None,
        }
    }
}

/// What one ping did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PingEffect {
    /// Time since the matching `/start`, for finishing pings.
    pub duration: Option<Duration>,
    /// Why this run counts as failed, in words.
    pub failure: Option<String>,
    /// The state before, when the ping changed it.
    pub changed_from: Option<MonitorState>,
}

fn human(d: Duration) -> String {
    // Whole seconds read better in messages than nanosecond-exact figures.
    let secs = d.as_secs();
    if secs == 0 {
        format!("{}ms", d.as_millis())
    } else {
        HumanDuration(Duration::from_secs(secs)).to_string()
    }
}

fn since(a: Timestamp, b: Timestamp) -> Duration {
    Duration::try_from(b.duration_since(a)).unwrap_or(Duration::ZERO)
}

impl HeartbeatState {
    /// Applies one ping received at `now`. `exit_status` is the `/{0-255}` form
    /// (0 is success, anything else failure).
    pub fn on_ping(
        &mut self,
        spec: &HeartbeatSpec,
        kind: PingKind,
        exit_status: Option<u8>,
        rid: Option<&str>,
        now: Timestamp,
    ) -> PingEffect {
        let before = self.state;
        let mut effect = PingEffect::default();
        self.last_ping_at = Some(now);
        self.not_before = None;
        let kind = match (kind, exit_status) {
            (PingKind::Success, Some(code)) if code != 0 => PingKind::Fail,
            (k, _) => k,
        };
        match kind {
            PingKind::Log => return effect,
            PingKind::Start => {
                self.open_runs
                    .retain(|r| rid.is_none() || r.rid.as_deref() != rid);
                self.open_runs.push(OpenRun {
                    rid: rid.map(str::to_owned),
                    started_at: now,
                });
                if self.open_runs.len() > MAX_OPEN_RUNS {
                    self.open_runs.remove(0);
                }
                return effect;
            }
            PingKind::Success | PingKind::Fail => {}
        }
        // Pair with the matching start: same rid, or the latest start without one.
        let idx = match rid {
            Some(r) => self
                .open_runs
                .iter()
                .rposition(|o| o.rid.as_deref() == Some(r)),
            None => self.open_runs.iter().rposition(|o| o.rid.is_none()),
        };
        if let Some(i) = idx {
            let run = self.open_runs.remove(i);
            effect.duration = Some(since(run.started_at, now));
        }
        let mut failure = match (kind, exit_status) {
            (PingKind::Fail, Some(code)) => Some(format!("the job exited with status {code}")),
            (PingKind::Fail, None) => Some("the job reported a failure".to_owned()),
            _ => None,
        };
        if failure.is_none()
            && let (Some(min), Some(prev)) = (spec.min_interval, self.last_success_at)
        {
            let gap = since(prev, now);
            if gap < min {
                failure = Some(format!(
                    "ran too often: {} after the previous success (min_interval {})",
                    human(gap),
                    HumanDuration(min)
                ));
            }
        }
        if failure.is_none()
            && let (Some(min), Some(d)) = (spec.min_duration, effect.duration)
            && d < min
        {
            failure = Some(format!(
                "finished in {}, faster than min_duration {}",
                human(d),
                HumanDuration(min)
            ));
        }
        if failure.is_none()
            && let (Some(max), Some(d)) = (spec.max_duration, effect.duration)
            && d > max
        {
            failure = Some(format!(
                "took {}, longer than max_duration {}",
                human(d),
                HumanDuration(max)
            ));
        }
        self.last_finished_at = Some(now);
        if kind == PingKind::Success {
            self.last_success_at = Some(now);
        }
        let ok = failure.is_none();
        match spec.failures {
            Some(rate) => {
                self.recent.push(ok);
                // Keep the last M outcomes (fewer than M: keep them all).
                let cut = self.recent.len().saturating_sub(rate.m as usize);
                self.recent.drain(..cut);
                let failed = self.recent.iter().filter(|o| !**o).count() as u32;
                if failed >= rate.n {
                    self.state = MonitorState::Down;
                    self.reason = Some(format!(
                        "{failed} of the last {} runs failed (failures: {} of {}); last: {}",
                        self.recent.len(),
                        rate.n,
                        rate.m,
                        failure.clone().unwrap_or_else(|| "ok".into())
                    ));
                } else if ok || self.state == MonitorState::Down {
                    // Below the rate: a failure alone does not bring it down, and a
                    // monitor that was down recovers once the rate is back under N.
                    self.state = MonitorState::Up;
                    self.reason = None;
                }
            }
            None => {
                if ok {
                    self.state = MonitorState::Up;
                    self.reason = None;
                } else {
                    self.state = MonitorState::Down;
                    self.reason.clone_from(&failure);
                }
            }
        }
        effect.failure = failure;
        if self.state != before {
            effect.changed_from = Some(before);
        }
        effect
    }

    /// When silence (or an unfinished run) turns the monitor down, if nothing arrives
    /// before. `None` while pending (no ping yet) or already down.
    pub fn deadline(&self, spec: &HeartbeatSpec) -> Option<Timestamp> {
        if matches!(
            self.state,
            MonitorState::Pending | MonitorState::Down | MonitorState::Paused
        ) {
            return None;
        }
        let grace = SignedDuration::try_from(spec.grace).ok()?;
        let silence = self
            .last_finished_at
            .and_then(|t| spec.next_expected(t))
            .and_then(|t| t.checked_add(grace).ok());
        let unfinished = self
            .open_runs
            .iter()
            .map(|r| r.started_at)
            .min()
            .and_then(|t| t.checked_add(grace).ok());
        let d = match (silence, unfinished) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        // A restart postpones the deadline, never brings it forward.
        Some(self.not_before.map_or(d, |nb| nb.max(d)))
    }

    /// Applies the passing of time: when `now` is at or past the deadline, the
    /// monitor goes down. Returns the reason when it did.
    pub fn on_deadline(&mut self, spec: &HeartbeatSpec, now: Timestamp) -> Option<String> {
        let deadline = self.deadline(spec)?;
        if now < deadline {
            return None;
        }
        let grace = SignedDuration::try_from(spec.grace).unwrap_or(SignedDuration::ZERO);
        let overdue_run = self
            .open_runs
            .iter()
            .map(|r| r.started_at)
            .min()
            .filter(|t| t.checked_add(grace).is_ok_and(|d| d <= now));
        let reason = match overdue_run {
            Some(started) => {
                self.open_runs.retain(|r| r.started_at != started);
                format!(
                    "a run started at {} did not finish within the {} grace",
                    in_words(started, now),
                    HumanDuration(spec.grace)
                )
            }
            None => match self.last_finished_at {
                Some(t) => format!(
                    "no ping since {} (expected {})",
                    in_words(t, now),
                    spec.describe()
                ),
                None => format!("no ping (expected {})", spec.describe()),
            },
        };
        self.state = MonitorState::Down;
        self.reason = Some(reason.clone());
        Some(reason)
    }

    /// After the server itself was down until `started`: deadlines that passed in the
    /// meantime get one grace period from `started` before they count (their outage
    /// is not the job's).
    pub fn after_restart(&mut self, spec: &HeartbeatSpec, started: Timestamp) {
        if let Some(d) = self.deadline(spec)
            && d < started
        {
            self.not_before = started
                .checked_add(SignedDuration::try_from(spec.grace).unwrap_or_default())
                .ok();
        }
    }
}

/// A past instant in words for a reason people read: `17:44:25 UTC, 3 min ago`, with
/// the date when it is not `now`'s day (`2026-01-01 10:00:00 UTC, 2 d ago`).
fn in_words(at: Timestamp, now: Timestamp) -> String {
    let utc = |t: Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC);
    let (a, n) = (utc(at), utc(now));
    let when = if a.date() == n.date() {
        a.strftime("%H:%M:%S UTC").to_string()
    } else {
        a.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
    };
    let secs = (now.as_second() - at.as_second()).max(0);
    let ago = match secs {
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    };
    format!("{when}, {ago}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::{CheckSpec, MonitorConfig};
    use serde_json::json;

    fn spec(v: serde_json::Value) -> HeartbeatSpec {
        let mut base = json!({"name": "job", "type": "heartbeat"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        let c: MonitorConfig = serde_json::from_value(base).unwrap();
        match c.build().unwrap_or_else(|e| panic!("{e:?}")).check {
            CheckSpec::Heartbeat(h) => h,
            _ => unreachable!(),
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn instants_in_words() {
        let now = t("2026-01-02T10:00:00Z");
        assert_eq!(
            in_words(t("2026-01-02T09:59:30Z"), now),
            "09:59:30 UTC, 30 s ago"
        );
        assert_eq!(
            in_words(t("2026-01-02T07:00:00Z"), now),
            "07:00:00 UTC, 3 h ago"
        );
        assert_eq!(
            in_words(t("2025-12-31T10:00:00Z"), now),
            "2025-12-31 10:00:00 UTC, 2 d ago"
        );
    }

    #[test]
    fn every_and_grace() {
        let s = spec(json!({"every": "5m", "grace": "10m"}));
        let mut st = HeartbeatState::default();
        assert_eq!(st.deadline(&s), None, "pending until the first ping");
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:00:00Z"));
        assert_eq!(st.state, MonitorState::Up);
        assert_eq!(st.deadline(&s), Some(t("2026-01-01T10:15:00Z")));
        assert_eq!(st.on_deadline(&s, t("2026-01-01T10:14:59Z")), None);
        let why = st.on_deadline(&s, t("2026-01-01T10:15:00Z")).unwrap();
        assert!(
            why.starts_with(
                "no ping since 10:00:00 UTC, 15 min ago (expected every 5m + 10m grace)"
            ),
            "{why}"
        );
        assert_eq!(st.state, MonitorState::Down);
        assert_eq!(st.deadline(&s), None);
        let e = st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T11:00:00Z"));
        assert_eq!(e.changed_from, Some(MonitorState::Down));
        assert_eq!(st.state, MonitorState::Up);
    }

    #[test]
    fn fail_and_exit_status_are_down_at_once() {
        let s = spec(json!({"every": "1h"}));
        let mut st = HeartbeatState::default();
        st.on_ping(
            &s,
            PingKind::Success,
            Some(3),
            None,
            t("2026-01-01T10:00:00Z"),
        );
        assert_eq!(st.state, MonitorState::Down);
        assert_eq!(st.reason.as_deref(), Some("the job exited with status 3"));
        st.on_ping(
            &s,
            PingKind::Success,
            Some(0),
            None,
            t("2026-01-01T10:01:00Z"),
        );
        assert_eq!(st.state, MonitorState::Up);
        st.on_ping(&s, PingKind::Fail, None, None, t("2026-01-01T10:02:00Z"));
        assert_eq!(st.state, MonitorState::Down);
        st.on_ping(&s, PingKind::Log, None, None, t("2026-01-01T10:03:00Z"));
        assert_eq!(st.state, MonitorState::Down, "log changes nothing");
    }

    #[test]
    fn start_without_finish_is_down_after_grace() {
        let s = spec(json!({"every": "1h", "grace": "5m"}));
        let mut st = HeartbeatState::default();
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T09:00:00Z"));
        st.on_ping(&s, PingKind::Start, None, None, t("2026-01-01T10:00:00Z"));
        assert_eq!(st.deadline(&s), Some(t("2026-01-01T10:05:00Z")));
        let why = st.on_deadline(&s, t("2026-01-01T10:05:00Z")).unwrap();
        assert!(why.contains("did not finish within the 5m grace"), "{why}");
    }

    #[test]
    fn durations_pair_by_rid() {
        let s = spec(json!({"every": "1h", "max_duration": "10m", "min_duration": "1s"}));
        let mut st = HeartbeatState::default();
        st.on_ping(
            &s,
            PingKind::Start,
            None,
            Some("a"),
            t("2026-01-01T10:00:00Z"),
        );
        st.on_ping(
            &s,
            PingKind::Start,
            None,
            Some("b"),
            t("2026-01-01T10:01:00Z"),
        );
        let e = st.on_ping(
            &s,
            PingKind::Success,
            None,
            Some("a"),
            t("2026-01-01T10:03:00Z"),
        );
        assert_eq!(e.duration, Some(Duration::from_secs(180)));
        assert_eq!(e.failure, None);
        let e = st.on_ping(
            &s,
            PingKind::Success,
            None,
            Some("b"),
            t("2026-01-01T10:21:00Z"),
        );
        assert_eq!(e.duration, Some(Duration::from_secs(1200)));
        assert_eq!(
            e.failure.as_deref(),
            Some("took 20m, longer than max_duration 10m")
        );
        assert_eq!(st.state, MonitorState::Down);
        st.on_ping(&s, PingKind::Start, None, None, t("2026-01-01T11:00:00Z"));
        let e = st.on_ping(
            &s,
            PingKind::Success,
            None,
            None,
            t("2026-01-01T11:00:00.200Z"),
        );
        assert_eq!(
            e.failure.as_deref(),
            Some("finished in 200ms, faster than min_duration 1s")
        );
    }

    #[test]
    fn min_interval_catches_runs_too_often() {
        let s = spec(json!({"every": "1h", "min_interval": "30m"}));
        let mut st = HeartbeatState::default();
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:00:00Z"));
        let e = st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:10:00Z"));
        assert_eq!(
            e.failure.as_deref(),
            Some("ran too often: 10m after the previous success (min_interval 30m)")
        );
    }

    #[test]
    fn n_of_m() {
        let s = spec(json!({"every": "1h", "failures": "2 of 3"}));
        let mut st = HeartbeatState::default();
        let mut at = t("2026-01-01T10:00:00Z");
        let mut ping = |st: &mut HeartbeatState, ok: bool| {
            at = at.checked_add(SignedDuration::from_mins(1)).unwrap();
            st.on_ping(
                &s,
                if ok {
                    PingKind::Success
                } else {
                    PingKind::Fail
                },
                None,
                None,
                at,
            );
            st.state
        };
        assert_eq!(ping(&mut st, true), MonitorState::Up);
        assert_eq!(
            ping(&mut st, false),
            MonitorState::Up,
            "one failure of three is tolerated"
        );
        assert_eq!(ping(&mut st, false), MonitorState::Down, "two of three");
        assert_eq!(
            ping(&mut st, true),
            MonitorState::Down,
            "still two failures in the last three"
        );
        assert_eq!(ping(&mut st, true), MonitorState::Up);
        assert!("0 of 3".parse::<FailureRate>().is_err());
        assert!("4 of 3".parse::<FailureRate>().is_err());
    }

    #[test]
    fn cron_across_dst_in_berlin() {
        // Every day at 02:30 Berlin time. On 2026-03-29 clocks jump from 02:00 to 03:00,
        // so 02:30 does not exist that day; the schedule must not stall or skip a day.
        let s = spec(json!({"cron": "30 2 * * *", "tz": "Europe/Berlin", "grace": "30m"}));
        let mut st = HeartbeatState::default();
        // 2026-03-28 02:30 CET = 01:30 UTC
        st.on_ping(&s, PingKind::Success, None, None, t("2026-03-28T01:30:05Z"));
        let d = st.deadline(&s).unwrap();
        // The next 02:30 falls in the gap; whatever instant the library picks, it is on
        // 2026-03-29 (local), within a day of the previous run, plus grace.
        assert!(
            d > t("2026-03-29T00:00:00Z") && d < t("2026-03-29T02:30:00Z"),
            "{d}"
        );
        // After the change, 02:30 CEST = 00:30 UTC.
        st.on_ping(&s, PingKind::Success, None, None, t("2026-03-30T00:30:05Z"));
        assert_eq!(st.deadline(&s), Some(t("2026-03-31T01:00:00Z")));
        // Autumn: 2026-10-25 03:00 CEST -> 02:00 CET; 02:30 happens twice.
        st.on_ping(&s, PingKind::Success, None, None, t("2026-10-24T00:30:05Z"));
        let d = st.deadline(&s).unwrap();
        assert!(
            d >= t("2026-10-25T01:00:00Z") && d <= t("2026-10-25T02:00:00Z"),
            "{d}"
        );
    }

    #[test]
    fn restart_grants_one_grace_period() {
        let s = spec(json!({"every": "5m", "grace": "10m"}));
        let mut st = HeartbeatState::default();
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:00:00Z"));
        // The server was down from 10:01 to 11:00; the deadline (10:15) passed meanwhile.
        st.after_restart(&s, t("2026-01-01T11:00:00Z"));
        assert_eq!(st.deadline(&s), Some(t("2026-01-01T11:10:00Z")));
        assert_eq!(st.on_deadline(&s, t("2026-01-01T11:05:00Z")), None);
        assert!(st.on_deadline(&s, t("2026-01-01T11:10:00Z")).is_some());
        // A deadline still in the future is left alone.
        let mut st = HeartbeatState::default();
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:00:00Z"));
        st.after_restart(&s, t("2026-01-01T10:05:00Z"));
        assert_eq!(st.deadline(&s), Some(t("2026-01-01T10:15:00Z")));
    }

    #[test]
    fn methods_and_slugs() {
        let s = spec(json!({"methods": ["post"]}));
        assert!(s.accepts_method("POST") && !s.accepts_method("GET") && !s.accepts_method("HEAD"));
        let s = spec(json!({"methods": ["GET"]}));
        assert!(s.accepts_method("HEAD"));
        assert_eq!(
            slugify("Nightly DB Backup (prod)"),
            "nightly-db-backup-prod"
        );
        assert_eq!(slugify("[redis] queue_worker"), "redis-queue_worker");
        assert!(is_valid_slug("a-b_c1") && !is_valid_slug("A") && !is_valid_slug(""));
    }

    #[test]
    fn a_given_token_is_kept_and_checked_like_the_ping_routes_check_it() {
        let uuid = "5b1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        assert_eq!(
            spec(json!({"token": uuid})).token.as_deref(),
            Some(uuid),
            "a Healthchecks UUID is a token"
        );
        assert_eq!(spec(json!({})).token, None);
        assert!(is_valid_token(&"a".repeat(16)) && is_valid_token(&"A_-9".repeat(16)));
        assert!(!is_valid_token(&"a".repeat(15)) && !is_valid_token(&"a".repeat(65)));
        assert!(!is_valid_token("0123456789abcdef/") && !is_valid_token("0123456789abcdef%"));
        for bad in ["short", "has a space in it ok", "dots.are.not.allowed.here"] {
            let c = MonitorConfig::new(
                "hb",
                crate::monitor::KindConfig::Heartbeat(crate::monitor::HeartbeatConfig {
                    token: Some(bad.to_owned()),
                    ..Default::default()
                }),
            );
            let errs = c.build().expect_err(bad);
            assert_eq!(errs[0].field, "token", "{bad}");
            assert_eq!(
                errs[0].message,
                "must be 16-64 characters of letters, digits, - and _"
            );
        }
    }

    fn plus_ms(at: Timestamp, ms: i64) -> Timestamp {
        at.checked_add(SignedDuration::from_millis(ms)).unwrap()
    }

    #[test]
    fn without_a_schedule_a_ping_is_expected_daily_with_an_hour_of_grace() {
        let s = spec(json!({}));
        let mut st = HeartbeatState::default();
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:00:00Z"));
        assert_eq!(st.deadline(&s), Some(t("2026-01-02T11:00:00Z")));
    }

    #[test]
    fn failure_rate_allows_n_equal_to_m_and_m_up_to_100() {
        assert_eq!("3 of 3".parse(), Ok(FailureRate { n: 3, m: 3 }));
        assert_eq!("1 of 100".parse(), Ok(FailureRate { n: 1, m: 100 }));
        assert_eq!("100 of 100".parse(), Ok(FailureRate { n: 100, m: 100 }));
        assert_eq!(
            "4 of 3".parse::<FailureRate>(),
            Err(r#""4 of 3" must look like "2 of 5" (N of M, 1 <= N <= M <= 100)"#.to_owned())
        );
        assert!("1 of 101".parse::<FailureRate>().is_err());
        assert!("101 of 101".parse::<FailureRate>().is_err());
    }

    #[test]
    fn ping_kinds_read_back_from_their_names() {
        let all = [
            PingKind::Success,
            PingKind::Start,
            PingKind::Fail,
            PingKind::Log,
        ];
        assert_eq!(
            all.map(PingKind::as_str),
            ["success", "start", "fail", "log"]
        );
        for k in all {
            assert_eq!(PingKind::parse(k.as_str()), Some(k));
            // the name in URLs and the name stored as JSON are the same
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(PingKind::parse(""), None);
        assert_eq!(PingKind::parse("Success"), None);
        assert_eq!(PingKind::parse("finish"), None);
    }

    #[test]
    fn open_runs_beyond_the_limit_drop_the_oldest() {
        let s = spec(json!({"every": "1h"}));
        let mut st = HeartbeatState::default();
        let first = t("2026-01-01T10:00:00Z");
        let start = |st: &mut HeartbeatState, i: usize| {
            let rid = format!("run{i}");
            let at = plus_ms(first, i64::try_from(i).unwrap() * 1000);
            st.on_ping(&s, PingKind::Start, None, Some(&rid), at);
        };
        for i in 0..MAX_OPEN_RUNS {
            start(&mut st, i);
        }
        assert_eq!(
            st.open_runs.len(),
            MAX_OPEN_RUNS,
            "a full list drops nothing"
        );
        assert_eq!(st.open_runs[0].rid.as_deref(), Some("run0"));
        start(&mut st, MAX_OPEN_RUNS);
        assert_eq!(st.open_runs.len(), MAX_OPEN_RUNS);
        assert_eq!(st.open_runs[0].rid.as_deref(), Some("run1"));
        let last = format!("run{MAX_OPEN_RUNS}");
        assert_eq!(
            st.open_runs[MAX_OPEN_RUNS - 1].rid.as_deref(),
            Some(last.as_str())
        );
    }

    #[test]
    fn a_success_exactly_min_interval_after_the_previous_is_not_too_often() {
        let s = spec(json!({"every": "1h", "min_interval": "30m"}));
        let mut st = HeartbeatState::default();
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:00:00Z"));
        let e = st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:30:00Z"));
        assert_eq!(e.failure, None);
        assert_eq!(st.state, MonitorState::Up);
        let e = st.on_ping(
            &s,
            PingKind::Success,
            None,
            None,
            t("2026-01-01T10:59:59.999Z"),
        );
        assert_eq!(
            e.failure.as_deref(),
            Some("ran too often: 29m 59s after the previous success (min_interval 30m)")
        );
    }

    #[test]
    fn runs_lasting_exactly_min_or_max_duration_are_ok() {
        let s = spec(json!({"every": "1h", "min_duration": "1s", "max_duration": "10m"}));
        let mut st = HeartbeatState::default();
        let mut run = |started: &str, ms: i64| {
            let started = t(started);
            st.on_ping(&s, PingKind::Start, None, None, started);
            st.on_ping(&s, PingKind::Success, None, None, plus_ms(started, ms))
        };
        let e = run("2026-01-01T10:00:00Z", 1000);
        assert_eq!(e.duration, Some(Duration::from_secs(1)));
        assert_eq!(e.failure, None);
        let e = run("2026-01-01T11:00:00Z", 999);
        assert_eq!(
            e.failure.as_deref(),
            Some("finished in 999ms, faster than min_duration 1s")
        );
        let e = run("2026-01-01T12:00:00Z", 600_000);
        assert_eq!(e.duration, Some(Duration::from_secs(600)));
        assert_eq!(e.failure, None);
        let e = run("2026-01-01T13:00:00Z", 600_001);
        assert_eq!(
            e.failure.as_deref(),
            Some("took 10m, longer than max_duration 10m")
        );
    }

    #[test]
    fn one_of_one_judges_only_the_latest_run() {
        let s = spec(json!({"every": "1h", "failures": "1 of 1"}));
        let mut st = HeartbeatState::default();
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:00:00Z"));
        assert_eq!(st.state, MonitorState::Up);
        st.on_ping(&s, PingKind::Fail, None, None, t("2026-01-01T11:00:00Z"));
        assert_eq!(st.state, MonitorState::Down);
        assert_eq!(
            st.reason.as_deref(),
            Some(
                "1 of the last 1 runs failed (failures: 1 of 1); last: the job reported a failure"
            )
        );
        assert_eq!(st.recent, [false]);
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T12:00:00Z"));
        assert_eq!(st.state, MonitorState::Up);
        assert_eq!(st.recent, [true]);
    }

    #[test]
    fn a_smaller_failure_window_keeps_only_the_last_m_runs() {
        // Five outcomes remembered under "2 of 5", then the rate was changed to "2 of 3".
        let s = spec(json!({"every": "1h", "failures": "2 of 3"}));
        let mut st = HeartbeatState {
            state: MonitorState::Down,
            recent: vec![true, true, false, true, false],
            ..HeartbeatState::default()
        };
        st.on_ping(&s, PingKind::Fail, None, None, t("2026-01-01T10:00:00Z"));
        assert_eq!(st.recent, [true, false, false]);
        assert_eq!(st.state, MonitorState::Down);
        assert_eq!(
            st.reason.as_deref(),
            Some(
                "2 of the last 3 runs failed (failures: 2 of 3); last: the job reported a failure"
            )
        );
    }

    #[test]
    fn a_tolerated_failure_brings_a_silent_monitor_back_up() {
        let s = spec(json!({"every": "5m", "grace": "1m", "failures": "2 of 3"}));
        let mut st = HeartbeatState::default();
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:00:00Z"));
        assert!(st.on_deadline(&s, t("2026-01-01T10:06:00Z")).is_some());
        assert_eq!(st.state, MonitorState::Down);
        // it pings again, with one failure of two: under the rate, so up
        let e = st.on_ping(&s, PingKind::Fail, None, None, t("2026-01-01T10:10:00Z"));
        assert_eq!(e.changed_from, Some(MonitorState::Down));
        assert_eq!(st.state, MonitorState::Up);
        assert_eq!(st.reason, None);
    }

    #[test]
    fn a_restart_never_brings_a_later_deadline_forward() {
        let s = spec(json!({"every": "5m", "grace": "10m"}));
        let mut st = HeartbeatState::default();
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:00:00Z"));
        st.after_restart(&s, t("2026-01-01T11:00:00Z"));
        assert_eq!(st.deadline(&s), Some(t("2026-01-01T11:10:00Z")));
        // the schedule was then lengthened: its own deadline is later than the restart's
        let longer = spec(json!({"every": "2h", "grace": "10m"}));
        assert_eq!(st.deadline(&longer), Some(t("2026-01-01T12:10:00Z")));
    }

    #[test]
    fn a_restart_exactly_at_the_deadline_grants_no_extra_grace() {
        let s = spec(json!({"every": "5m", "grace": "10m"}));
        let mut st = HeartbeatState::default();
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T10:00:00Z"));
        st.after_restart(&s, t("2026-01-01T10:15:00Z"));
        assert_eq!(st.not_before, None);
        assert_eq!(st.deadline(&s), Some(t("2026-01-01T10:15:00Z")));
        // a millisecond later, the deadline passed while the server was down
        st.after_restart(&s, t("2026-01-01T10:15:00.001Z"));
        assert_eq!(st.deadline(&s), Some(t("2026-01-01T10:25:00.001Z")));
    }

    #[test]
    fn an_overdue_run_is_closed_and_later_runs_stay_open() {
        let s = spec(json!({"every": "1h", "grace": "5m"}));
        let mut st = HeartbeatState::default();
        st.on_ping(&s, PingKind::Success, None, None, t("2026-01-01T09:30:00Z"));
        st.on_ping(
            &s,
            PingKind::Start,
            None,
            Some("a"),
            t("2026-01-01T10:00:00Z"),
        );
        st.on_ping(
            &s,
            PingKind::Start,
            None,
            Some("b"),
            t("2026-01-01T10:02:00Z"),
        );
        assert_eq!(st.deadline(&s), Some(t("2026-01-01T10:05:00Z")));
        assert_eq!(
            st.on_deadline(&s, t("2026-01-01T10:05:00Z")).as_deref(),
            Some("a run started at 10:00:00 UTC, 5 min ago did not finish within the 5m grace")
        );
        assert_eq!(
            st.open_runs,
            [OpenRun {
                rid: Some("b".into()),
                started_at: t("2026-01-01T10:02:00Z"),
            }]
        );
    }

    #[test]
    fn validation() {
        let c: MonitorConfig = serde_json::from_value(json!({"name": "j", "type": "heartbeat", "every": "5m", "cron": "* * * * *", "interval": "1m"})).unwrap();
        let f: Vec<String> = c
            .build()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(f, ["interval", "cron"]);
        let c: MonitorConfig = serde_json::from_value(
            json!({"name": "j", "type": "heartbeat", "cron": "* * *", "tz": "Mars/Base"}),
        )
        .unwrap();
        let f: Vec<String> = c
            .build()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(f, ["cron", "tz"]);
        let c: MonitorConfig = serde_json::from_value(json!({"name": "j", "type": "heartbeat", "failures": "3 of 2", "min_duration": "1h", "max_duration": "1m"})).unwrap();
        let f: Vec<String> = c
            .build()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(f, ["min_duration", "failures"]);
    }
}
