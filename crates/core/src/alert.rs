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
}
