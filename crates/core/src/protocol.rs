//! The agent protocol's payloads (PROTOCOL.md, "Agents (protocol 1)"): one type per
//! message, used by the server to write and read them and by `vigilmon agent` to
//! read and write them, so the two sides cannot drift.
//!
//! Wire types only ever gain fields, so every reader ignores unknown fields and gives
//! new optional ones a default; writers send exactly the documented shape.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{CheckResult, MonitorId};

/// The protocol version spoken by this build (server and agent).
pub const PROTOCOL_VERSION: u32 = 1;

/// The most results the server takes in one `POST /api/v1/agent/results`.
pub const MAX_RESULTS_PER_REQUEST: usize = 1000;

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
}

/// The body of `POST /api/v1/agent/results`: borrowed when the agent sends it, owned
/// when the server reads it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResultsBatch<'a> {
    pub results: Cow<'a, [ResultItem]>,
}

/// The answer to `POST /api/v1/agent/results`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultsAnswer {
    #[serde(default)]
    pub accepted: u64,
    #[serde(default)]
    pub ignored: u64,
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
    fn answers_tolerate_missing_fields() {
        let w: WaitAnswer = serde_json::from_str("{}").unwrap();
        assert!(w.checks.is_empty());
        let r: ResultsAnswer = serde_json::from_str(r#"{"accepted":3}"#).unwrap();
        assert_eq!(r.accepted, 3);
        assert_eq!(r.ignored, 0);
    }
}
