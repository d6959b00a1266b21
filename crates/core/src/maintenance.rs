//! Maintenance windows: planned periods during which monitors keep being checked but
//! send nothing, show "maintenance", and do not count as downtime.
//!
//! A window is one-off (`starts_at` / `ends_at`, RFC 3339 instants) or recurring (a
//! 5-field `cron` expression read in `tz`, default UTC, and a `duration`). It targets
//! monitors by name and/or by tag. [`MaintenanceConfig`] is what users write;
//! [`MaintenanceConfig::build`] validates it into a [`MaintenanceSpec`], which answers
//! "is a window active at `now`?" ([`MaintenanceSpec::active_at`]) and "when does that
//! answer next change?" ([`MaintenanceSpec::next_change`], for timers). Nothing here
//! reads the clock.
//!
//! Recurring windows and daylight saving time: the cron expression is matched against
//! the wall clock of `tz` (via croner on [`jiff::Zoned`]), so `0 3 * * SUN` in
//! `Europe/Berlin` starts at 03:00 local time in both winter (02:00 UTC) and summer
//! (01:00 UTC). A start time that falls into a spring-forward gap runs at the first
//! instant after the gap; a start time that occurs twice in a fall-back fold runs once,
//! at the earlier instant. The `duration` is elapsed (absolute) time, so a 30m window
//! is 30 real minutes even when the clock jumps inside it. When windows overlap
//! (duration longer than the gap between fires), the latest start wins and the
//! coverage is continuous.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::validation::ValidationError;

/// The shortest recurring window.
pub const MIN_DURATION: Duration = Duration::from_secs(60);

/// A maintenance window as written (YAML `maintenance:` entries, or the API).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// Monitors covered, by name.
    #[serde(default)]
    pub monitors: Vec<String>,
    /// Monitors covered, by tag.
    #[serde(default)]
    pub tags: Vec<String>,
    /// One-off window: its start, RFC 3339 with an offset (`2025-06-01T22:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// One-off window: its end, RFC 3339 with an offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// Recurring window: when it starts, as a 5-field cron expression in `tz`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Recurring window: how long each occurrence lasts (at least 1m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
    /// Recurring window: the IANA time zone the cron expression is read in. Default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

/// A validated maintenance window.
#[derive(Debug, Clone)]
pub struct MaintenanceSpec {
    pub name: String,
    pub monitors: Vec<String>,
    pub tags: Vec<String>,
    pub schedule: MaintenanceSchedule,
}

/// When a window is active.
#[derive(Debug, Clone)]
pub enum MaintenanceSchedule {
    /// `[starts_at, ends_at)`.
    Once {
        starts_at: Timestamp,
        ends_at: Timestamp,
    },
    /// `[fire, fire + duration)` for every fire of `cron` in `tz`.
    Recurring {
        cron: Box<croner::Cron>,
        /// The expression as written.
        expr: String,
        tz: TimeZone,
        tz_name: String,
        duration: Duration,
    },
}

fn instant(errs: &mut Vec<ValidationError>, field: &str, v: &str) -> Option<Timestamp> {
    match v.trim().parse::<Timestamp>() {
        Ok(t) => Some(t),
        Err(_) => {
            errs.push(ValidationError::new(
                field,
                format!(
                    "{v:?} must be an RFC 3339 instant with an offset, such as 2025-06-01T22:00:00Z"
                ),
            ));
            None
        }
    }
}

fn check_targets(errs: &mut Vec<ValidationError>, field: &str, list: &[String]) {
    for (i, s) in list.iter().enumerate() {
        if s.trim().is_empty() {
            errs.push(ValidationError::new(
                format!("{field}[{i}]"),
                "must not be empty",
            ));
        }
    }
}

impl MaintenanceConfig {
    /// Validates the window and builds its spec, or returns every problem found, each
    /// naming its field.
    pub fn build(&self) -> Result<MaintenanceSpec, Vec<ValidationError>> {
        let mut errs = Vec::new();
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            errs.push(ValidationError::new(
                "name",
                "must be 1-100 printable characters",
            ));
        }
        check_targets(&mut errs, "monitors", &self.monitors);
        check_targets(&mut errs, "tags", &self.tags);
        if self.monitors.is_empty() && self.tags.is_empty() {
            errs.push(ValidationError::new(
                "monitors",
                "list at least one monitor or tag the window applies to",
            ));
        }

        let one_off = self.starts_at.is_some() || self.ends_at.is_some();
        let recurring = self.cron.is_some() || self.duration.is_some();
        let schedule = if one_off && recurring {
            errs.push(ValidationError::new(
                "cron",
                "give either starts_at and ends_at (one-off) or cron and duration (recurring), not both",
            ));
            None
        } else if one_off {
            self.build_once(&mut errs)
        } else if recurring {
            self.build_recurring(&mut errs)
        } else {
            errs.push(ValidationError::new(
                "starts_at",
                "give starts_at and ends_at for a one-off window, or cron and duration for a recurring one",
            ));
            None
        };

        match schedule {
            Some(schedule) if errs.is_empty() => Ok(MaintenanceSpec {
                name: name.to_owned(),
                monitors: self.monitors.iter().map(|m| m.trim().to_owned()).collect(),
                tags: self.tags.iter().map(|t| t.trim().to_owned()).collect(),
                schedule,
            }),
            _ => Err(errs),
        }
    }

    fn build_once(&self, errs: &mut Vec<ValidationError>) -> Option<MaintenanceSchedule> {
        if self.tz.is_some() {
            errs.push(ValidationError::new(
                "tz",
                "applies to recurring (cron) windows only; one-off instants carry their own offset",
            ));
        }
        let start = match &self.starts_at {
            Some(s) => instant(errs, "starts_at", s),
            None => {
                errs.push(ValidationError::new(
                    "starts_at",
                    "is required with ends_at",
                ));
                None
            }
        };
        let end = match &self.ends_at {
            Some(s) => instant(errs, "ends_at", s),
            None => {
                errs.push(ValidationError::new(
                    "ends_at",
                    "is required with starts_at",
                ));
                None
            }
        };
        let (starts_at, ends_at) = (start?, end?);
        if ends_at <= starts_at {
            errs.push(ValidationError::new("ends_at", "must be after starts_at"));
            return None;
        }
        Some(MaintenanceSchedule::Once { starts_at, ends_at })
    }

    fn build_recurring(&self, errs: &mut Vec<ValidationError>) -> Option<MaintenanceSchedule> {
        let cron = match self.cron.as_deref().map(str::trim) {
            None => {
                errs.push(ValidationError::new("cron", "is required with duration"));
                None
            }
            Some(expr) => match crate::schedule::parse_cron(expr) {
                Ok(c) => Some((c, expr.to_owned())),
                Err(e) => {
                    errs.push(ValidationError::new("cron", e));
                    None
                }
            },
        };
        let duration = match self.duration {
            None => {
                errs.push(ValidationError::new("duration", "is required with cron"));
                None
            }
            Some(d) if d.0 < MIN_DURATION => {
                errs.push(ValidationError::new("duration", "must be at least 1m"));
                None
            }
            Some(d) => Some(d.0),
        };
        let tz_name = self.tz.as_deref().map_or("UTC", str::trim).to_owned();
        let tz = match TimeZone::get(&tz_name) {
            Ok(tz) => Some(tz),
            Err(_) => {
                errs.push(ValidationError::new(
                    "tz",
                    format!("{tz_name:?} is not a known IANA time zone, such as Europe/Berlin"),
                ));
                None
            }
        };
        let ((cron, expr), duration, tz) = (cron?, duration?, tz?);
        Some(MaintenanceSchedule::Recurring {
            cron: Box::new(cron),
            expr,
            tz,
            tz_name,
            duration,
        })
    }
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

impl MaintenanceSpec {
    /// Whether the window covers the monitor named `monitor_name` carrying `tags`
    /// (exact, case-sensitive names and tags).
    pub fn applies_to(&self, monitor_name: &str, tags: &[String]) -> bool {
        self.monitors.iter().any(|m| m == monitor_name)
            || self.tags.iter().any(|t| tags.contains(t))
    }

    /// The window covering `now`, if any, as `(start, end)` with `start <= now < end`.
    ///
    /// Recurring: the latest cron fire at or before `now`, if `now` is before that fire
    /// plus the duration. (An earlier fire cannot cover `now` when the latest does not,
    /// since every occurrence lasts the same time.)
    pub fn active_at(&self, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        match &self.schedule {
            MaintenanceSchedule::Once { starts_at, ends_at } => {
                (*starts_at <= now && now < *ends_at).then_some((*starts_at, *ends_at))
            }
            MaintenanceSchedule::Recurring {
                cron, tz, duration, ..
            } => {
                let fire = cron
                    .find_previous_occurrence(&now.to_zoned(tz.clone()), true)
                    .ok()?
                    .timestamp();
                let end = plus(fire, *duration);
                (fire <= now && now < end).then_some((fire, end))
            }
        }
    }

    /// The next instant after `now` at which [`Self::active_at`] changes (a window
    /// starts or ends), or `None` when it never changes again.
    pub fn next_change(&self, now: Timestamp) -> Option<Timestamp> {
        match &self.schedule {
            MaintenanceSchedule::Once { starts_at, ends_at } => {
                if now < *starts_at {
                    Some(*starts_at)
                } else if now < *ends_at {
                    Some(*ends_at)
                } else {
                    None
                }
            }
            MaintenanceSchedule::Recurring { cron, tz, .. } => {
                // The search starts at the second after `now`, so the fire it finds
                // is always later than `now`.
                let next_fire = cron
                    .find_next_occurrence(&now.to_zoned(tz.clone()), false)
                    .ok()
                    .map(|z| z.timestamp());
                let end = self.active_at(now).map(|(_, end)| end);
                match (next_fire, end) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    /// Human description of the schedule, for messages and the UI.
    pub fn describe(&self) -> String {
        match &self.schedule {
            MaintenanceSchedule::Once { starts_at, ends_at } => {
                format!("from {starts_at} to {ends_at}")
            }
            MaintenanceSchedule::Recurring {
                expr,
                tz_name,
                duration,
                ..
            } => format!(
                "cron \"{expr}\" ({tz_name}) for {}",
                HumanDuration(*duration)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn spec(v: serde_json::Value) -> MaintenanceSpec {
        serde_json::from_value::<MaintenanceConfig>(v)
            .unwrap()
            .build()
            .unwrap()
    }

    fn fields(v: serde_json::Value) -> Vec<String> {
        serde_json::from_value::<MaintenanceConfig>(v)
            .unwrap()
            .build()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn one_off_window() {
        let s = spec(json!({
            "name": "db upgrade", "monitors": ["api"],
            "starts_at": "2025-06-01T22:00:00Z", "ends_at": "2025-06-02T00:30:00+02:00"
        }));
        let (start, end) = (t("2025-06-01T22:00:00Z"), t("2025-06-01T22:30:00Z"));
        assert_eq!(s.active_at(t("2025-06-01T21:59:59Z")), None);
        assert_eq!(s.active_at(start), Some((start, end)), "start is inclusive");
        assert_eq!(s.active_at(t("2025-06-01T22:29:59Z")), Some((start, end)));
        assert_eq!(s.active_at(end), None, "end is exclusive");
        assert_eq!(s.next_change(t("2025-06-01T00:00:00Z")), Some(start));
        assert_eq!(s.next_change(start), Some(end));
        assert_eq!(s.next_change(end), None);
    }

    /// The PRODUCT example: weekly patching at 03:00 Berlin time, across the spring
    /// (2025-03-30) and autumn (2025-10-26) clock changes.
    #[test]
    fn recurring_window_follows_berlin_wall_clock_across_dst() {
        let s = spec(json!({
            "name": "weekly-patching", "tags": ["cache"],
            "cron": "0 3 * * SUN", "duration": "30m", "tz": "Europe/Berlin"
        }));
        // winter time (UTC+1): 03:00 local is 02:00 UTC
        let w = (t("2025-03-23T02:00:00Z"), t("2025-03-23T02:30:00Z"));
        assert_eq!(s.active_at(t("2025-03-23T02:10:00Z")), Some(w));
        assert_eq!(s.active_at(t("2025-03-23T01:10:00Z")), None);
        // the night the clocks go forward: 03:00 CEST is 01:00 UTC
        let dst = (t("2025-03-30T01:00:00Z"), t("2025-03-30T01:30:00Z"));
        assert_eq!(s.next_change(t("2025-03-23T02:30:00Z")), Some(dst.0));
        assert_eq!(s.active_at(t("2025-03-30T01:15:00Z")), Some(dst));
        assert_eq!(
            s.active_at(t("2025-03-30T02:15:00Z")),
            None,
            "not the old UTC time"
        );
        assert_eq!(s.next_change(dst.0), Some(dst.1));
        assert_eq!(s.next_change(dst.1), Some(t("2025-04-06T01:00:00Z")));
        // the night the clocks go back: 03:00 CET again, 02:00 UTC
        let back = (t("2025-10-26T02:00:00Z"), t("2025-10-26T02:30:00Z"));
        assert_eq!(s.next_change(t("2025-10-20T00:00:00Z")), Some(back.0));
        assert_eq!(s.active_at(t("2025-10-26T02:29:59Z")), Some(back));
        assert_eq!(s.active_at(t("2025-10-26T01:15:00Z")), None);
        assert!(s.describe().contains("Europe/Berlin"));
    }

    #[test]
    fn recurring_start_in_a_gap_or_a_fold() {
        // 02:00 does not exist in Berlin on 2025-03-30: the window starts at 03:00 CEST.
        let s = spec(
            json!({"name": "n", "monitors": ["a"], "cron": "0 2 * * SUN", "duration": "1h", "tz": "Europe/Berlin"}),
        );
        let gap = t("2025-03-30T01:00:00Z");
        assert_eq!(
            s.active_at(t("2025-03-30T01:30:00Z")),
            Some((gap, t("2025-03-30T02:00:00Z")))
        );
        // 02:30 happens twice on 2025-10-26: one window, from the first 02:30 (CEST).
        let s = spec(
            json!({"name": "n", "monitors": ["a"], "cron": "30 2 * * SUN", "duration": "30m", "tz": "Europe/Berlin"}),
        );
        let first = t("2025-10-26T00:30:00Z");
        assert_eq!(
            s.active_at(t("2025-10-26T00:45:00Z")),
            Some((first, t("2025-10-26T01:00:00Z")))
        );
        assert_eq!(s.active_at(t("2025-10-26T01:45:00Z")), None);
    }

    #[test]
    fn overlapping_recurring_windows_cover_continuously() {
        let s =
            spec(json!({"name": "n", "monitors": ["a"], "cron": "0 * * * *", "duration": "90m"}));
        let now = t("2025-01-01T10:20:00Z");
        assert_eq!(
            s.active_at(now),
            Some((t("2025-01-01T10:00:00Z"), t("2025-01-01T11:30:00Z")))
        );
        assert_eq!(s.next_change(now), Some(t("2025-01-01T11:00:00Z")));
    }

    #[test]
    fn applies_by_name_or_tag() {
        let s = spec(
            json!({"name": "n", "monitors": ["api", "web"], "tags": ["cache"], "starts_at": "2025-01-01T00:00:00Z", "ends_at": "2025-01-01T01:00:00Z"}),
        );
        assert!(s.applies_to("api", &[]));
        assert!(s.applies_to("redis-1", &["db".into(), "cache".into()]));
        assert!(!s.applies_to("Api", &["Cache".into()]), "case-sensitive");
        assert!(!s.applies_to("other", &["db".into()]));
    }

    #[test]
    fn validation_names_fields() {
        assert_eq!(
            fields(
                json!({"name": "", "starts_at": "2025-01-01T01:00:00Z", "ends_at": "2025-01-01T00:00:00Z"})
            ),
            ["name", "monitors", "ends_at"]
        );
        assert_eq!(
            fields(
                json!({"name": "n", "monitors": ["a", " "], "starts_at": "tomorrow", "ends_at": "2025-01-01T00:00:00", "tz": "UTC"})
            ),
            ["monitors[1]", "tz", "starts_at", "ends_at"]
        );
        assert_eq!(
            fields(json!({"name": "n", "tags": ["x"], "starts_at": "2025-01-01T00:00:00Z"})),
            ["ends_at"]
        );
        assert_eq!(
            fields(json!({"name": "n", "tags": ["x"], "cron": "0 3 * * SUN"})),
            ["duration"]
        );
        assert_eq!(
            fields(
                json!({"name": "n", "tags": ["x"], "cron": "0 3 * *", "duration": "30s", "tz": "Mars/Olympus"})
            ),
            ["cron", "duration", "tz"]
        );
        assert_eq!(
            fields(json!({"name": "n", "tags": ["x"], "cron": "0 3 * * FUNDAY", "duration": "1h"})),
            ["cron"]
        );
        assert_eq!(
            fields(
                json!({"name": "n", "tags": ["x"], "cron": "0 3 * * SUN", "duration": "1h", "ends_at": "2025-01-01T00:00:00Z"})
            ),
            ["cron"]
        );
        assert_eq!(fields(json!({"name": "n", "tags": ["x"]})), ["starts_at"]);
        let unknown =
            serde_json::from_value::<MaintenanceConfig>(json!({"name": "n", "every": "1d"}));
        assert!(unknown.is_err(), "unknown fields are refused");
    }

    fn errors(v: serde_json::Value) -> Vec<ValidationError> {
        serde_json::from_value::<MaintenanceConfig>(v)
            .unwrap()
            .build()
            .unwrap_err()
    }

    /// A valid one-off window named `name`.
    fn named(name: &str) -> serde_json::Value {
        json!({
            "name": name, "monitors": ["api"],
            "starts_at": "2025-06-01T22:00:00Z", "ends_at": "2025-06-01T23:00:00Z"
        })
    }

    /// A valid recurring window lasting `duration`.
    fn lasting(duration: &str) -> serde_json::Value {
        json!({"name": "n", "monitors": ["a"], "cron": "0 3 * * SUN", "duration": duration})
    }

    #[test]
    fn a_window_name_of_exactly_100_characters_is_accepted_and_101_refused() {
        let refused = [ValidationError::new(
            "name",
            "must be 1-100 printable characters",
        )];
        assert_eq!(spec(named(&"x".repeat(100))).name, "x".repeat(100));
        assert_eq!(spec(named(&"é".repeat(100))).name, "é".repeat(100));
        assert_eq!(
            spec(named(&format!("  {}  ", "x".repeat(100)))).name,
            "x".repeat(100),
            "surrounding spaces are trimmed before counting"
        );
        assert_eq!(errors(named(&"x".repeat(101))), refused);
        assert_eq!(errors(named(&"é".repeat(101))), refused);
    }

    #[test]
    fn a_window_name_must_be_printable_and_not_blank() {
        let refused = [ValidationError::new(
            "name",
            "must be 1-100 printable characters",
        )];
        for bad in ["", "   ", "db\nupgrade", "db\tupgrade", "\u{7f}"] {
            assert_eq!(errors(named(bad)), refused, "{bad:?}");
        }
    }

    #[test]
    fn a_valid_schedule_does_not_save_a_window_with_other_problems() {
        let mut v = named("n");
        v["monitors"] = json!([" "]);
        assert_eq!(
            errors(v),
            [ValidationError::new("monitors[0]", "must not be empty")]
        );
        let mut v = named("n");
        v["tz"] = json!("UTC");
        assert_eq!(fields(v), ["tz"]);
        let mut v = lasting("1h");
        v["tags"] = json!([""]);
        assert_eq!(fields(v), ["tags[0]"]);
    }

    #[test]
    fn a_recurring_window_of_exactly_1m_is_accepted_and_anything_shorter_refused() {
        let s = spec(lasting("1m"));
        let start = t("2025-06-01T03:00:00Z");
        assert_eq!(s.active_at(start), Some((start, t("2025-06-01T03:01:00Z"))));
        assert_eq!(
            errors(lasting("59s 999ms")),
            [ValidationError::new("duration", "must be at least 1m")]
        );
    }

    #[test]
    fn next_change_is_later_than_now_even_at_the_instant_a_window_starts() {
        let s =
            spec(json!({"name": "n", "monitors": ["a"], "cron": "0 * * * *", "duration": "90m"}));
        let fire = t("2025-01-01T10:00:00Z");
        assert_eq!(s.next_change(fire), Some(t("2025-01-01T11:00:00Z")));
        assert_eq!(
            s.next_change(t("2025-01-01T10:00:00.5Z")),
            Some(t("2025-01-01T11:00:00Z"))
        );
        assert_eq!(
            s.next_change(t("2025-01-01T09:59:59.5Z")),
            Some(fire),
            "half a second before a start"
        );
        let s = spec(lasting("1h"));
        let sunday = t("2025-06-01T03:00:00Z");
        assert_eq!(s.next_change(sunday), Some(t("2025-06-01T04:00:00Z")));
    }

    proptest! {
        /// `active_at` is constant between `now` and `next_change(now)`, and changes there.
        #[test]
        fn active_at_only_changes_at_next_change(
            start in 1_700_000_000i64..1_800_000_000,
            which in 0usize..4,
            probes in proptest::collection::vec(0.0f64..1.0, 1..6),
        ) {
            let (cron, dur, tz) = [
                ("0 3 * * SUN", "30m", "Europe/Berlin"),
                ("*/15 * * * *", "20m", "UTC"),
                ("30 2 * * *", "2h", "America/New_York"),
                ("0 0 1 * *", "1d", "Australia/Lord_Howe"),
            ][which];
            let s = spec(json!({"name": "n", "monitors": ["a"], "cron": cron, "duration": dur, "tz": tz}));
            let now = Timestamp::from_second(start).unwrap();
            let next = s.next_change(now).unwrap();
            prop_assert!(next > now);
            let here = s.active_at(now);
            if let Some((a, b)) = here {
                prop_assert!(a <= now && now < b);
            }
            let span = next.duration_since(now).as_secs_f64();
            for p in probes {
                let probe = now + jiff::SignedDuration::from_secs_f64(span * p);
                if probe < next {
                    prop_assert_eq!(s.active_at(probe), here);
                }
            }
            prop_assert_ne!(s.active_at(next), here);
        }
    }
}
