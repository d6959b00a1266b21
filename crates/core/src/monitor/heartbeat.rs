//! `heartbeat` monitors: not probed but pinged (the Healthchecks.io protocol); their
//! schedule (`every` or `cron` + `tz`, plus `grace`), the rules that catch what
//! silence does not, and the slug of their ping URL. The state machine that runs them
//! is `crate::heartbeat`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::heartbeat::{
    DEFAULT_EVERY, DEFAULT_GRACE, FailureRate, HeartbeatSpec, Schedule, is_valid_slug,
    is_valid_token, slugify,
};
use crate::validation::Errors;

/// A `heartbeat` monitor's own fields, as written in the config file or sent to the
/// API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// Expected time between successful pings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<HumanDuration>,
    /// Five-field cron expression of when pings are expected (instead of `every`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone of `cron`. Default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// How late a ping may be before the monitor is down. Default 1h... see docs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<HumanDuration>,
    /// HTTP methods that count as pings: `[POST]` ignores link previews that GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// Successes closer together than this are a failure ("runs too often").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval: Option<HumanDuration>,
    /// A run that finished faster than this is a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_duration: Option<HumanDuration>,
    /// A run that took longer than this is a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<HumanDuration>,
    /// `"N of M"`: down when N of the last M runs failed (instead of on one failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<String>,
    /// Name in slug ping URLs (`/ping/{ping_key}/{slug}`). Default: from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// The token of the ping URL (`/ping/{token}`), instead of a generated one: 16-64
    /// letters, digits, `-` and `_`. A check moved from another service keeps its URL
    /// (a Healthchecks UUID, an Uptime Kuma push token). It is the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl HeartbeatConfig {
    /// Validates the fields into a [`HeartbeatSpec`] (`name` gives the default slug), or
    /// records every problem in `errs`.
    pub(crate) fn build(&self, name: &str, errs: &mut Errors) -> Option<HeartbeatSpec> {
        let c = self;
        let grace = c.grace.map_or(DEFAULT_GRACE, |g| g.0);
        if grace < Duration::from_secs(1) {
            errs.push("grace", "must be at least 1s");
        }
        let schedule = match (&c.every, &c.cron) {
            (Some(_), Some(_)) => {
                errs.push("cron", "give either every or cron, not both");
                None
            }
            (Some(e), None) => {
                if e.0 < Duration::from_secs(1) {
                    errs.push("every", "must be at least 1s");
                }
                if c.tz.is_some() {
                    errs.push("tz", "applies to cron schedules only");
                }
                Some(Schedule::Every(e.0))
            }
            (None, Some(expr)) => {
                let cron = match crate::schedule::parse_cron(expr) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        errs.push("cron", e);
                        None
                    }
                };
                let tz_name = c.tz.clone().unwrap_or_else(|| "UTC".to_owned());
                let tz = match jiff::tz::TimeZone::get(&tz_name) {
                    Ok(tz) => Some(tz),
                    Err(_) => {
                        errs.push(
                            "tz",
                            format!(
                                "{tz_name:?} is not a known IANA time zone, such as Europe/Berlin"
                            ),
                        );
                        None
                    }
                };
                match (cron, tz) {
                    (Some(cron), Some(tz)) => Some(Schedule::Cron {
                        cron: Box::new(cron),
                        expr: expr.trim().to_owned(),
                        tz,
                        tz_name,
                    }),
                    _ => None,
                }
            }
            (None, None) => {
                if c.tz.is_some() {
                    errs.push("tz", "applies to cron schedules only");
                }
                Some(Schedule::Every(DEFAULT_EVERY))
            }
        };
        let mut methods = Vec::new();
        for (i, m) in c.methods.iter().flatten().enumerate() {
            let up = m.trim().to_ascii_uppercase();
            if !["GET", "POST", "HEAD", "PUT"].contains(&up.as_str()) {
                errs.push(
                    format!("methods[{i}]"),
                    format!("{m:?} must be GET, HEAD, POST or PUT"),
                );
            } else if !methods.contains(&up) {
                methods.push(up);
            }
        }
        if c.methods.as_ref().is_some_and(Vec::is_empty) {
            errs.push(
                "methods",
                "must list at least one method, or be left out for any",
            );
        }
        for (field, v) in [
            ("min_interval", c.min_interval),
            ("min_duration", c.min_duration),
            ("max_duration", c.max_duration),
        ] {
            if v.is_some_and(|d| d.0.is_zero()) {
                errs.push(field, "must be greater than zero");
            }
        }
        if let (Some(lo), Some(hi)) = (c.min_duration, c.max_duration)
            && lo >= hi
        {
            errs.push("min_duration", "must be lower than max_duration");
        }
        let failures = c
            .failures
            .as_deref()
            .and_then(|f| match f.parse::<FailureRate>() {
                Ok(r) => Some(r),
                Err(m) => {
                    errs.push("failures", m);
                    None
                }
            });
        let slug = match &c.slug {
            Some(s) if !is_valid_slug(s) => {
                errs.push("slug", "must be 1-100 characters of a-z, 0-9, _ and -");
                String::new()
            }
            Some(s) => s.clone(),
            None => {
                let s = slugify(name);
                if s.is_empty() && !name.trim().is_empty() {
                    errs.push(
                        "slug",
                        "cannot be derived from the name; give one of a-z, 0-9, _ and -",
                    );
                }
                s
            }
        };
        let token = c.token.as_deref().map(str::trim).and_then(|t| {
            if is_valid_token(t) {
                Some(t.to_owned())
            } else {
                errs.push(
                    "token",
                    "must be 16-64 characters of letters, digits, - and _",
                );
                None
            }
        });
        Some(HeartbeatSpec {
            schedule: schedule?,
            grace,
            methods,
            min_interval: c.min_interval.map(|d| d.0),
            min_duration: c.min_duration.map(|d| d.0),
            max_duration: c.max_duration.map(|d| d.0),
            failures,
            slug,
            token,
        })
    }
}
