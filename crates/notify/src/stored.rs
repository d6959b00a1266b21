//! The outbox's stored form of a [`Notification`]: its JSON with a format version
//! `v`. The engine writes it when it queues a notification; delivery reads it back.
//!
//! Version 1 is the notification's fields by name (`event`, `dedup_key`, …,
//! `duration_ms`, `monitor_url`, `incident_url`, `ack_url`). Rows written before the
//! version field existed carry exactly these fields without `v`, and are read as
//! version 1. Any other version — or an event this build does not know — is an error:
//! a notification is never delivered as something it is not.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::Notification;

/// The format version this build writes, and the only one it reads.
pub const VERSION: u64 = 1;

/// Why a stored notification cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoredError {
    #[error("notification format version {0} is not known to this version of Vigilmon")]
    UnknownVersion(String),
    #[error("unreadable notification: {0}")]
    Malformed(String),
}

impl Notification {
    /// The notification as the outbox stores it.
    pub fn to_stored(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Value::Object(map) = &mut v {
            map.insert("v".to_owned(), Value::from(VERSION));
        }
        v
    }

    /// Reads a notification the outbox stored.
    pub fn from_stored(stored: &Value) -> Result<Notification, StoredError> {
        match stored.get("v") {
            None => {}
            Some(v) if v.as_u64() == Some(VERSION) => {}
            Some(v) => return Err(StoredError::UnknownVersion(v.to_string())),
        }
        Notification::deserialize(stored).map_err(|e| StoredError::Malformed(e.to_string()))
    }
}

/// `Option<Duration>` as whole milliseconds; a negative or absent value is `None`.
pub(crate) mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?
            .and_then(|ms| u64::try_from(ms).ok())
            .map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Links, RegionEvidence};
    use serde_json::json;
    use vigilmon_core::alert::Priority;

    fn sample() -> Notification {
        Notification {
            event: Event::Resolved,
            dedup_key: "vigilmon-0193".into(),
            incident_id: Some(uuid::Uuid::from_u128(7)),
            monitor_id: Some(uuid::Uuid::from_u128(8)),
            monitor_name: "api".into(),
            monitor_kind: "http".into(),
            state: "up".into(),
            priority: Priority::P2,
            cause: "recovered".into(),
            regions: vec![RegionEvidence {
                region: "eu".into(),
                ok: false,
                error: Some("refused".into()),
                checked_at: Some(jiff::Timestamp::from_second(1_800_000_000).unwrap()),
            }],
            opened_at: Some(jiff::Timestamp::from_second(1_799_999_000).unwrap()),
            at: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
            duration: Some(Duration::from_millis(1_000_500)),
            acknowledged_by: Some("ann".into()),
            links: Links {
                monitor_url: Some("http://v/monitors/1".into()),
                incident_url: None,
                ack_url: Some("http://v/ack/1?exp=1&sig=ab".into()),
            },
        }
    }

    #[test]
    fn a_stored_notification_reads_back_as_itself() {
        let n = sample();
        let stored = n.to_stored();
        assert_eq!(stored["v"], 1);
        assert_eq!(stored["event"], "resolved");
        assert_eq!(stored["duration_ms"], 1_000_500);
        assert_eq!(stored["ack_url"], "http://v/ack/1?exp=1&sig=ab");
        assert_eq!(Notification::from_stored(&stored).unwrap(), n);
    }

    #[test]
    fn rows_from_before_the_version_field_read_as_version_one() {
        let mut stored = sample().to_stored();
        stored.as_object_mut().unwrap().remove("v");
        assert_eq!(Notification::from_stored(&stored).unwrap(), sample());
        // The shape those rows had: every field by name, links at the top level.
        let legacy = json!({
            "event": "regional_notice", "dedup_key": "vigilmon-x", "incident_id": null,
            "monitor_id": null, "monitor_name": "m", "monitor_kind": "tcp",
            "state": "degraded", "priority": "P4", "cause": "c", "regions": [],
            "opened_at": null, "at": "2027-01-15T08:00:00Z", "duration_ms": null,
            "acknowledged_by": null, "monitor_url": null, "incident_url": null,
            "ack_url": null
        });
        let n = Notification::from_stored(&legacy).unwrap();
        assert_eq!(n.event, Event::RegionalNotice);
        assert_eq!(n.priority, Priority::P4);
    }

    #[test]
    fn an_unknown_version_or_event_is_an_error_not_a_trigger() {
        let mut stored = sample().to_stored();
        stored["v"] = json!(2);
        assert_eq!(
            Notification::from_stored(&stored),
            Err(StoredError::UnknownVersion("2".into()))
        );
        let mut stored = sample().to_stored();
        stored["event"] = json!("exploded");
        assert!(matches!(
            Notification::from_stored(&stored),
            Err(StoredError::Malformed(m)) if m.contains("exploded")
        ));
    }
}
