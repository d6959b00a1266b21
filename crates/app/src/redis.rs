//! The views of a Redis primary's replicas (as its `INFO replication` reports them) and
//! of the monitors added for them.

use crate::views::MonitorView;
use serde::{Deserialize, Serialize};

/// One replica a primary reports.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReplicaView {
    /// `ip:port` as the primary sees it.
    pub addr: String,
    /// `online`, `wait_bgsave`, `send_bulk`…
    pub state: String,
    pub lag_seconds: Option<i64>,
    /// The monitor that would be (or was) created for it.
    pub monitor_name: String,
    /// Whether a monitor of that name exists.
    pub monitored: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReplicaList {
    pub replicas: Vec<ReplicaView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedReplicas {
    /// Monitors created by this call (replicas already monitored are skipped).
    pub created: Vec<MonitorView>,
}

/// Optional settings for the new monitors.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddReplicas {
    /// Policy of the replica monitors (default: the primary's).
    pub policy: Option<String>,
}
