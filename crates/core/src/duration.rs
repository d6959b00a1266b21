//! Human-readable durations (`30s`, `1m`, `500ms`) as they appear in config and JSON.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A duration written the way people write it: `30s`, `1m30s`, `500ms`, `2h`.
/// Serialises back to the same human form. A bare number in JSON is refused, because
/// its unit would be a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty duration; write it like 30s, 1m or 500ms".into());
        }
        humantime::parse_duration(t)
            .map(Self)
            .map_err(|e| format!("{s:?} is not a duration ({e}); write it like 30s, 1m or 500ms"))
    }

    pub fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    pub fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    pub fn as_millis(&self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"1m\" or \"500ms\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// What a duration looks like, for the API's schema: numbers each followed by a unit
/// (`1h30m`, `500ms`, `2 days`). Its bounds are the field's own (an interval of at
/// least 10s, …) and are checked on validation.
const DURATION_PATTERN: &str = r"^\s*([0-9]+\s*(nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w|months|month|M|years|year|yrs|yr|y)\s*)+$";

impl utoipa::PartialSchema for HumanDuration {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A duration such as 30s, 1m or 500ms"))
            .pattern(Some(DURATION_PATTERN))
            .examples([serde_json::json!("30s")])
            .into()
    }
}

impl utoipa::ToSchema for HumanDuration {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_the_schema_names_parses() {
        let units = DURATION_PATTERN
            .split_once(r"]+\s*(")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(alts, _)| alts.split('|').collect::<Vec<_>>())
            .unwrap();
        assert!(units.len() > 10, "{units:?}");
        for u in units {
            assert!(HumanDuration::parse(&format!("2{u}")).is_ok(), "2{u}");
            assert!(
                HumanDuration::parse(&format!("1h 2 {u}")).is_ok(),
                "1h 2 {u}"
            );
        }
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(
            HumanDuration::parse("30s").unwrap().0,
            Duration::from_secs(30)
        );
        assert_eq!(
            HumanDuration::parse("1m").unwrap().0,
            Duration::from_secs(60)
        );
        assert_eq!(
            HumanDuration::parse("500ms").unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(HumanDuration::from_secs(90).to_string(), "1m 30s");
        assert!(HumanDuration::parse("soon").is_err());
        assert!(HumanDuration::parse("").is_err());
    }

    #[test]
    fn json_number_is_refused() {
        let r: Result<HumanDuration, _> = serde_json::from_str("30");
        assert!(r.is_err());
        let r: HumanDuration = serde_json::from_str("\"2m\"").unwrap();
        assert_eq!(r.0, Duration::from_secs(120));
    }
}
