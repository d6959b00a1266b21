//! The agent protocol's payloads (PROTOCOL.md, "Agents (protocol 1)"): one type per
//! message, used by the server to write and read them and by `vigilmon agent` to
//! read and write them, so the two sides cannot drift.
//!
//! Wire types only ever gain fields, so every reader ignores unknown fields and gives
//! new optional ones a default; writers send exactly the documented shape.

use std::borrow::Cow;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{CheckResult, MonitorId};

/// The protocol version spoken by this build (server and agent).
pub const PROTOCOL_VERSION: u32 = 1;

/// The most results the server takes in one `POST /api/v1/agent/results`.
pub const MAX_RESULTS_PER_REQUEST: usize = 1000;

/// The largest body the server takes in one `POST /api/v1/agent/results`: room for a
/// full batch of failures with their errors and body excerpts. Larger batches are
/// answered `413`, and the agent sends them again in halves.
pub const MAX_RESULTS_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The longest `timeout_ms` the server honours on `GET /api/v1/agent/wait`.
pub const MAX_WAIT_TIMEOUT_MS: u64 = 30_000;

/// `GET /api/v1/agent/assignments`: the monitors this agent must check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignments {
    #[serde(default = "default_protocol")]
    pub protocol: u32,
    /// The region of the agent's token: the server's word, never the agent's.
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentIdentity>,
    /// How often to poll this endpoint; the server's default applies when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u64>,
    #[serde(default)]
    pub monitors: Vec<AssignedMonitor>,
}

fn default_protocol() -> u32 {
    PROTOCOL_VERSION
}

/// Who the server thinks this agent is (from its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentIdentity {
    pub id: String,
    pub name: String,
}

/// One assigned monitor: its id and its configuration exactly as the REST API takes
/// it. The configuration is kept as raw JSON so that the agent can tell a changed
/// monitor from an unchanged one by comparing what the server sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignedMonitor {
    pub id: MonitorId,
    pub config: Value,
    /// Where in its interval this region checks the monitor (milliseconds from the
    /// interval's start), so that regions spread their checks instead of checking
    /// together. Absent from older servers: the agent then uses the monitor's stable
    /// offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_ms: Option<u64>,
}

/// One result as sent in `POST /api/v1/agent/results`, and as kept in the disk
/// buffer (one per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultItem {
    pub monitor_id: MonitorId,
    pub result: CheckResult,
    /// Taken while the agent could not reach the server (its requests failing): the
    /// server keeps it in the monitor's history but does not let it count towards an
    /// incident — an agent cut off from the network sees every target fail. Absent
    /// (false) from older agents.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
}

/// The body of `POST /api/v1/agent/results`: borrowed when the agent sends it, owned
/// when the server reads it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResultsBatch<'a> {
    pub results: Cow<'a, [ResultItem]>,
}

/// The answer to `POST /api/v1/agent/results`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultsAnswer {
    #[serde(default)]
    pub accepted: u64,
    /// Results of monitors the agent's region does not run (deleted, moved, paused).
    #[serde(default)]
    pub ignored: u64,
    /// Results the server refused, each with the reason (the rest of the batch is
    /// taken): sending them again changes nothing. Added to protocol 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedResult>,
}

/// One result of a batch that the server refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedResult {
    /// Its position in the batch, from 0.
    pub index: usize,
    pub monitor_id: MonitorId,
    /// Why, in words.
    pub error: String,
}

/// How far ahead of the server's clock a result may be dated: agents' clocks drift.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(120);

/// When the server takes each result of an agent's batch to have been taken, given
/// their `checked_at` and the server's `now`: as dated when that is within the last
/// `horizon` (how long raw results are kept: an older one would be deleted at once)
/// and not in the future; refused, with the reason, when it is older or more than
/// [`MAX_CLOCK_SKEW`] ahead. Results dated ahead within the skew (a fast clock) are
/// taken as just before `now`, a millisecond apart in their own order, so they keep
/// their order and never date themselves after the honest results that follow them:
/// nothing an agent dates can hold back the results after it.
pub fn date_results(
    checked_at: &[Timestamp],
    now: Timestamp,
    horizon: Duration,
) -> Vec<Result<Timestamp, String>> {
    let skew = i64::try_from(MAX_CLOCK_SKEW.as_millis()).unwrap_or(i64::MAX);
    let kept = i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX);
    let mut out: Vec<Result<Timestamp, String>> = checked_at
        .iter()
        .map(|&at| {
            let ahead = at.as_millisecond() - now.as_millisecond();
            if ahead > skew {
                Err(format!(
                    "checked_at {at} is {}s ahead of the server's clock ({now}); results may be at most {}s ahead: check the agent's clock",
                    ahead / 1000,
                    MAX_CLOCK_SKEW.as_secs()
                ))
            } else if -ahead > kept {
                Err(format!(
                    "checked_at {at} is older than the {} of results the server keeps",
                    crate::HumanDuration(horizon)
                ))
            } else {
                Ok(at)
            }
        })
        .collect();
    // The ones ahead, in their own order, end a millisecond apart at `now`.
    let mut ahead: Vec<usize> = (0..out.len())
        .filter(|&i| out[i].as_ref().is_ok_and(|t| *t > now))
        .collect();
    ahead.sort_by_key(|&i| (checked_at[i], i));
    let last = ahead.len() as i64 - 1;
    for (rank, i) in ahead.into_iter().enumerate() {
        let before = last - rank as i64;
        out[i] = Ok(Timestamp::from_millisecond(now.as_millisecond() - before).unwrap_or(now));
    }
    out
}

/// The answer to `GET /api/v1/agent/wait`: monitors to check now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitAnswer {
    #[serde(default)]
    pub checks: Vec<MonitorId>,
}

/// `GET /api/v1/agent/wait`'s query: how long the server may hold the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_documented_assignment_and_ignores_new_fields() {
        let a: Assignments = serde_json::from_value(json!({
            "protocol": 1, "region": "eu-central",
            "agent": {"id": "0193", "name": "eu-1", "since": "later field"},
            "poll_interval_ms": 15000,
            "monitors": [{"id": "01930000-0000-7000-8000-000000000001",
                          "config": {"name": "api", "type": "http", "url": "http://x"},
                          "hash": "later field"}],
            "something_new": true
        }))
        .unwrap();
        assert_eq!(a.region, "eu-central");
        assert_eq!(a.poll_interval_ms, Some(15000));
        assert_eq!(a.monitors.len(), 1);
        assert_eq!(a.monitors[0].config["name"], "api");
    }

    #[test]
    fn results_are_dated_within_the_kept_past_and_never_after_now() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let at = |ms: i64| Timestamp::from_millisecond(1_800_000_000_000 + ms).unwrap();
        let day = Duration::from_secs(86_400);
        let one = |t: Timestamp| date_results(&[t], now, day).remove(0);
        assert_eq!(one(at(-5_000)), Ok(at(-5_000)));
        assert_eq!(one(now), Ok(now));
        assert_eq!(one(at(90_000)), Ok(now), "a fast clock counts as now");
        assert_eq!(one(at(120_000)), Ok(now));
        let e = one(at(121_000)).unwrap_err();
        assert!(
            e.contains("121s ahead") && e.contains("agent's clock"),
            "{e}"
        );
        let in_2099 = Timestamp::from_second(4_070_908_800).unwrap();
        assert!(one(in_2099).is_err());
        assert_eq!(one(at(-86_400_000)), Ok(at(-86_400_000)));
        let e = one(at(-86_400_001)).unwrap_err();
        assert!(e.contains("older than the 1day"), "{e}");
        assert!(one(Timestamp::UNIX_EPOCH).is_err());
    }

    #[test]
    fn results_dated_ahead_keep_their_order_just_before_now() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let at = |ms: i64| Timestamp::from_millisecond(1_800_000_000_000 + ms).unwrap();
        let day = Duration::from_secs(86_400);
        let dated = date_results(&[at(2_000), at(-10), at(1_000), at(500_000)], now, day);
        assert_eq!(dated[0], Ok(now), "the latest of those ahead is now");
        assert_eq!(dated[1], Ok(at(-10)), "an honest one keeps its time");
        assert_eq!(
            dated[2],
            Ok(at(-1)),
            "the earlier one ahead, a millisecond before"
        );
        assert!(dated[3].is_err());
    }

    #[test]
    fn answers_tolerate_missing_fields() {
        let w: WaitAnswer = serde_json::from_str("{}").unwrap();
        assert!(w.checks.is_empty());
        let r: ResultsAnswer = serde_json::from_str(r#"{"accepted":3}"#).unwrap();
        assert_eq!(r.accepted, 3);
        assert_eq!(r.ignored, 0);
        assert!(r.refused.is_empty());
    }
}
