//! Alerting configuration: policies (who is told what, how urgently, how often), as
//! users write them, validated into specs, and priorities. Channels (where
//! notifications go) are `vigilmon_notify::ChannelConfig`, one module per channel.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::validation::ValidationError;

/// How urgent an incident is. P1 pages; P4 is informational.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "P1" => Some(Priority::P1),
            "P2" => Some(Priority::P2),
            "P3" => Some(Priority::P3),
            "P4" => Some(Priority::P4),
            _ => None,
        }
    }

    /// PagerDuty Events API v2 severity.
    pub fn pagerduty_severity(self) -> &'static str {
        match self {
            Priority::P1 => "critical",
            Priority::P2 => "error",
            Priority::P3 => "warning",
            Priority::P4 => "info",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which events a policy notifies about.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NotifyOn {
    Down,
    Degraded,
    Recovered,
    Acknowledged,
}

impl NotifyOn {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "down" => Some(NotifyOn::Down),
            "degraded" => Some(NotifyOn::Degraded),
            "recovered" => Some(NotifyOn::Recovered),
            "acknowledged" => Some(NotifyOn::Acknowledged),
            _ => None,
        }
    }
}

/// A policy as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// P1 to P4. Default P3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^P[1-4]$")]
    pub priority: Option<String>,
    #[serde(default)]
    pub channels: Vec<String>,
    /// Default `[down, recovered]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_on: Option<Vec<String>>,
    /// While down and not acknowledged, remind this often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_every: Option<HumanDuration>,
    /// After a time unacknowledged, add channels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalate: Vec<EscalationConfig>,
    /// Degraded states open incidents too (by default they only send a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_on_degraded: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    pub after: HumanDuration,
    pub channels: Vec<String>,
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    pub name: String,
    pub priority: Priority,
    pub channels: Vec<String>,
    pub notify_on: Vec<NotifyOn>,
    pub remind_every: Option<Duration>,
    pub escalate: Vec<EscalationStep>,
    pub incident_on_degraded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationStep {
    pub after: Duration,
    pub channels: Vec<String>,
}

impl PolicySpec {
    pub fn notifies(&self, on: NotifyOn) -> bool {
        self.notify_on.contains(&on)
    }
}

/// Refuses an empty, over-long or control-character name (channels and policies).
pub fn check_name(errs: &mut Vec<ValidationError>, name: &str) {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errs.push(ValidationError::new(
            "name",
            "must be 1-100 printable characters",
        ));
    }
}

impl PolicyConfig {
    /// Validates the policy; `channel_exists` says whether a channel name is known.
    pub fn build(
        &self,
        channel_exists: impl Fn(&str) -> bool,
    ) -> Result<PolicySpec, Vec<ValidationError>> {
        let mut errs = Vec::new();
        check_name(&mut errs, &self.name);
        let priority = match self.priority.as_deref() {
            None => Priority::P3,
            Some(p) => Priority::parse(p).unwrap_or_else(|| {
                errs.push(ValidationError::new(
                    "priority",
                    format!("{p:?} must be P1, P2, P3 or P4"),
                ));
                Priority::P3
            }),
        };
        let mut check_channels = |field: &str, list: &[String]| {
            for (i, c) in list.iter().enumerate() {
                if !channel_exists(c) {
                    errs.push(ValidationError::new(
                        format!("{field}[{i}]"),
                        format!("no channel named {c:?}"),
                    ));
                }
            }
        };
        check_channels("channels", &self.channels);
        for (i, step) in self.escalate.iter().enumerate() {
            check_channels(&format!("escalate[{i}].channels"), &step.channels);
        }
        if self.channels.is_empty() && self.escalate.is_empty() {
            errs.push(ValidationError::new(
                "channels",
                "must list at least one channel",
            ));
        }
        let mut notify_on = Vec::new();
        match &self.notify_on {
            None => notify_on = vec![NotifyOn::Down, NotifyOn::Recovered],
            Some(list) => {
                for (i, s) in list.iter().enumerate() {
                    match NotifyOn::parse(s) {
                        Some(n) if !notify_on.contains(&n) => notify_on.push(n),
                        Some(_) => {}
                        None => errs.push(ValidationError::new(
                            format!("notify_on[{i}]"),
                            format!("{s:?} must be down, degraded, recovered or acknowledged"),
                        )),
                    }
                }
            }
        }
        if let Some(r) = self.remind_every
            && r.0 < Duration::from_secs(10)
        {
            errs.push(ValidationError::new("remind_every", "must be at least 10s"));
        }
        let mut last = Duration::ZERO;
        for (i, s) in self.escalate.iter().enumerate() {
            if s.after.0 <= last && i > 0 {
                errs.push(ValidationError::new(
                    format!("escalate[{i}].after"),
                    "steps must come in increasing order",
                ));
            }
            if s.after.0.is_zero() {
                errs.push(ValidationError::new(
                    format!("escalate[{i}].after"),
                    "must be greater than zero",
                ));
            }
            last = s.after.0;
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(PolicySpec {
            name: self.name.trim().to_owned(),
            priority,
            channels: self.channels.clone(),
            notify_on,
            remind_every: self.remind_every.map(|d| d.0),
            escalate: self
                .escalate
                .iter()
                .map(|s| EscalationStep {
                    after: s.after.0,
                    channels: s.channels.clone(),
                })
                .collect(),
            incident_on_degraded: self.incident_on_degraded.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies() {
        let known = |c: &str| ["slack-ops", "pagerduty-oncall", "email-leads"].contains(&c);
        let p: PolicyConfig = serde_json::from_value(json!({
            "name": "p1-page", "priority": "P1", "channels": ["pagerduty-oncall", "slack-ops"],
            "notify_on": ["down", "recovered"], "remind_every": "30m",
            "escalate": [{"after": "15m", "channels": ["email-leads"]}]
        }))
        .unwrap();
        let s = p.build(known).unwrap();
        assert_eq!(s.priority, Priority::P1);
        assert_eq!(s.remind_every, Some(Duration::from_secs(1800)));
        assert_eq!(s.escalate[0].after, Duration::from_secs(900));
        let p: PolicyConfig = serde_json::from_value(json!({"name": "x", "priority": "P9", "channels": ["nope"], "notify_on": ["sometimes"], "remind_every": "5s"})).unwrap();
        let fields: Vec<String> = p
            .build(known)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["priority", "channels[0]", "notify_on[0]", "remind_every"]
        );
        assert_eq!(Priority::P1.pagerduty_severity(), "critical");
        assert_eq!(Priority::P4.pagerduty_severity(), "info");
    }

    /// Builds a policy written as JSON, with the channels `slack-ops` and `email-leads`.
    fn build(v: serde_json::Value) -> Result<PolicySpec, Vec<ValidationError>> {
        serde_json::from_value::<PolicyConfig>(v)
            .unwrap()
            .build(|c| ["slack-ops", "email-leads"].contains(&c))
    }

    fn escalating(after: &[&str]) -> Result<PolicySpec, Vec<ValidationError>> {
        let steps: Vec<_> = after
            .iter()
            .map(|a| json!({"after": a, "channels": ["email-leads"]}))
            .collect();
        build(json!({"name": "p", "channels": ["slack-ops"], "escalate": steps}))
    }

    #[test]
    fn every_priority_reads_back_from_its_name_and_displays_as_it() {
        for (p, name) in [
            (Priority::P1, "P1"),
            (Priority::P2, "P2"),
            (Priority::P3, "P3"),
            (Priority::P4, "P4"),
        ] {
            assert_eq!(p.as_str(), name);
            assert_eq!(Priority::parse(p.as_str()), Some(p), "{name}");
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(Priority::parse(" p2 "), Some(Priority::P2));
        assert_eq!(Priority::parse("P5"), None);
        assert_eq!(Priority::parse(""), None);
    }

    #[test]
    fn every_notify_on_event_reads_back_from_its_written_name() {
        for n in [
            NotifyOn::Down,
            NotifyOn::Degraded,
            NotifyOn::Recovered,
            NotifyOn::Acknowledged,
        ] {
            let written = serde_json::to_value(n).unwrap();
            let written = written.as_str().unwrap();
            assert_eq!(NotifyOn::parse(written), Some(n), "{written}");
        }
        assert_eq!(NotifyOn::parse("Down"), None, "names are lower case");
        assert_eq!(NotifyOn::parse("sometimes"), None);
    }

    #[test]
    fn a_name_needs_a_printable_character_and_at_most_100_characters() {
        let problems = |name: &str| {
            let mut errs = Vec::new();
            check_name(&mut errs, name);
            errs
        };
        let refused = vec![ValidationError::new(
            "name",
            "must be 1-100 printable characters",
        )];
        for ok in ["a", " padded ", &"x".repeat(100), &"é".repeat(100)] {
            assert_eq!(problems(ok), [], "{ok:?}");
        }
        for bad in [
            "",
            "   ",
            &"x".repeat(101),
            &"é".repeat(101),
            "line\nbreak",
            "tab\there",
            "\u{7f}",
        ] {
            assert_eq!(problems(bad), refused, "{bad:?}");
        }
    }

    #[test]
    fn notify_on_keeps_each_event_once_in_the_order_written() {
        let s = build(json!({
            "name": "p", "channels": ["slack-ops"],
            "notify_on": ["recovered", "down", "recovered", "acknowledged", "down", "degraded"]
        }))
        .unwrap();
        assert_eq!(
            s.notify_on,
            [
                NotifyOn::Recovered,
                NotifyOn::Down,
                NotifyOn::Acknowledged,
                NotifyOn::Degraded
            ]
        );
        assert!(s.notifies(NotifyOn::Degraded));
        let s = build(json!({"name": "p", "channels": ["slack-ops"]})).unwrap();
        assert_eq!(s.notify_on, [NotifyOn::Down, NotifyOn::Recovered]);
        assert!(!s.notifies(NotifyOn::Acknowledged));
    }

    #[test]
    fn a_reminder_every_10s_is_accepted_and_anything_sooner_refused() {
        let remind = |every: &str| {
            build(json!({"name": "p", "channels": ["slack-ops"], "remind_every": every}))
        };
        assert_eq!(
            remind("10s").unwrap().remind_every,
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            remind("9s 999ms").unwrap_err(),
            [ValidationError::new("remind_every", "must be at least 10s")]
        );
    }

    #[test]
    fn each_escalation_step_must_come_after_the_one_before() {
        let s = escalating(&["15m", "30m", "1h"]).unwrap();
        let after: Vec<_> = s.escalate.iter().map(|e| e.after.as_secs()).collect();
        assert_eq!(after, [900, 1800, 3600]);
        let out_of_order = |i: usize| {
            vec![ValidationError::new(
                format!("escalate[{i}].after"),
                "steps must come in increasing order",
            )]
        };
        assert_eq!(escalating(&["15m", "15m"]).unwrap_err(), out_of_order(1));
        assert_eq!(escalating(&["30m", "15m"]).unwrap_err(), out_of_order(1));
        assert_eq!(
            escalating(&["15m", "30m", "20m"]).unwrap_err(),
            out_of_order(2)
        );
    }

    #[test]
    fn a_first_escalation_step_at_zero_is_refused_only_for_being_zero() {
        assert_eq!(
            escalating(&["0s"]).unwrap_err(),
            [ValidationError::new(
                "escalate[0].after",
                "must be greater than zero"
            )]
        );
        assert_eq!(
            escalating(&["0s", "0s"]).unwrap_err(),
            [
                ValidationError::new("escalate[0].after", "must be greater than zero"),
                ValidationError::new("escalate[1].after", "steps must come in increasing order"),
                ValidationError::new("escalate[1].after", "must be greater than zero"),
            ]
        );
    }
}
