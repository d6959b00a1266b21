//! Operational alerts about the cluster itself, raised by the coordinator: a node that
//! stopped refreshing its row for longer than the lease TTL (it crashed, was killed,
//! or lost the database) is announced as gone, and as back once it refreshes again or
//! a node restarts at the same address. When the node lost was the coordinator, the
//! alert says which node took over, under which term.
//!
//! A node that stops cleanly removes its row and hands the lease over: that is a
//! planned change and raises nothing (it shows in `vigilmon_lease_changes_total`, the
//! logs and `GET /api/v1/nodes`).
//!
//! Alerts go through the operational policy (`alerting.region_policy`), into the same
//! durable outbox as incident alerts; the memory (which nodes are announced gone, and
//! the last coordinator) is kept in `settings` (`node_health`), written in the same
//! fenced transaction as the notifications, so a takeover neither repeats nor loses an
//! alert.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;
use vigilmon_core::alert::Priority;
use vigilmon_notify::{Event, Links, Notification};
use vigilmon_store::{AlertingWrite, Commit, Fence, NewNotification, NodeRecord, Store};

/// The settings key of the memory.
pub const SETTINGS_KEY: &str = "node_health";

/// What the coordinator remembers between rounds (and hands on at a takeover).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// The coordinator as last seen by one: node and term.
    pub coordinator: Option<(Uuid, i64)>,
    /// Nodes announced gone.
    pub gone: BTreeMap<Uuid, Gone>,
}

/// A node announced gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gone {
    pub episode: Uuid,
    pub address: String,
    pub since: Timestamp,
}

/// What one round decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A node is gone; `took_over` is the term this node took over under when the
    /// node lost was the coordinator.
    Gone {
        node: Uuid,
        gone: Gone,
        took_over: Option<i64>,
    },
    /// A node announced gone is back (it refreshed its row again, or a node started
    /// at its address).
    Back {
        node: Uuid,
        gone: Gone,
        at: Timestamp,
    },
}

/// One round of the decision, pure: the nodes as listed at `now` (the database's
/// clock), this node `me` coordinating under `term`. Returns the changes and the rows
/// to delete (stale rows of nodes restarted at the same address).
pub fn evaluate(
    memory: &mut Memory,
    nodes: &[NodeRecord],
    me: Uuid,
    term: i64,
    ttl: Duration,
    now: Timestamp,
    episode: &mut dyn FnMut() -> Uuid,
) -> (Vec<Change>, Vec<Uuid>) {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let fresh = |n: &NodeRecord| now.as_millisecond() - n.last_seen.as_millisecond() <= ttl_ms;
    let previous = memory.coordinator.map(|(id, _)| id);
    let mut changes = Vec::new();
    let mut delete = Vec::new();
    for n in nodes {
        if n.id == me {
            continue;
        }
        let restarted = || {
            nodes.iter().any(|o| {
                o.id != n.id && o.address == n.address && fresh(o) && o.started_at > n.last_seen
            })
        };
        match (fresh(n), memory.gone.contains_key(&n.id)) {
            (true, true) => {
                if let Some(gone) = memory.gone.remove(&n.id) {
                    changes.push(Change::Back {
                        node: n.id,
                        gone,
                        at: now,
                    });
                }
            }
            (false, was_gone) if restarted() => {
                // A node restarted at the same address: the old row is the same node.
                delete.push(n.id);
                if was_gone && let Some(gone) = memory.gone.remove(&n.id) {
                    changes.push(Change::Back {
                        node: n.id,
                        gone,
                        at: now,
                    });
                }
            }
            (false, false) => {
                let gone = Gone {
                    episode: episode(),
                    address: n.address.clone(),
                    since: n.last_seen,
                };
                memory.gone.insert(n.id, gone.clone());
                changes.push(Change::Gone {
                    node: n.id,
                    gone,
                    took_over: (previous == Some(n.id)).then_some(term),
                });
            }
            _ => {}
        }
    }
    // A node announced gone whose row was removed (it stopped cleanly at last, or an
    // operator removed it) is no longer gone.
    let listed: Vec<Uuid> = nodes.iter().map(|n| n.id).collect();
    let left: Vec<Uuid> = memory
        .gone
        .keys()
        .filter(|id| !listed.contains(id))
        .copied()
        .collect();
    for id in left {
        if let Some(gone) = memory.gone.remove(&id) {
            changes.push(Change::Back {
                node: id,
                gone,
                at: now,
            });
        }
    }
    memory.coordinator = Some((me, term));
    (changes, delete)
}

/// What the task needs besides the store.
pub struct NodeHealthConfig {
    pub me: Uuid,
    pub fence: Fence,
    pub ttl: Duration,
    /// Name of the operational policy (`alerting.region_policy`).
    pub policy: Option<String>,
    pub public_url: String,
    /// Wakes the outbox worker.
    pub outbox: Arc<Notify>,
}

/// Runs while this node coordinates.
pub async fn run(store: Store, cfg: NodeHealthConfig, shutdown: CancellationToken) {
    let mut memory: Memory = match store.setting(SETTINGS_KEY).await {
        Ok(Some(v)) => serde_json::from_str(&v).unwrap_or_default(),
        Ok(None) => Memory::default(),
        Err(e) => {
            warn!(message = "could not read the node health memory", error = %e);
            Memory::default()
        }
    };
    let every = (cfg.ttl / 3).max(Duration::from_secs(1));
    loop {
        if let Err(e) = round(&store, &cfg, &mut memory).await {
            warn!(message = "could not look at the cluster's nodes", error = %e);
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
    }
}

async fn round(
    store: &Store,
    cfg: &NodeHealthConfig,
    memory: &mut Memory,
) -> Result<(), vigilmon_store::StoreError> {
    let now = store.db_now().await?;
    let nodes = store.list_nodes().await?;
    let mut next = memory.clone();
    let (changes, delete) = evaluate(
        &mut next,
        &nodes,
        cfg.me,
        cfg.fence.term,
        cfg.ttl,
        now,
        &mut Uuid::now_v7,
    );
    for id in &delete {
        store.remove_node(*id).await?;
    }
    if next == *memory {
        return Ok(());
    }
    let policy = match &cfg.policy {
        Some(name) => crate::alerting::load_policies(store).await?.0.remove(name),
        None => None,
    };
    let mut write = AlertingWrite {
        settings: vec![(
            SETTINGS_KEY.to_owned(),
            serde_json::to_string(&next).unwrap_or_default(),
        )],
        ..AlertingWrite::default()
    };
    for change in &changes {
        let (node, gone, event) = match change {
            Change::Gone {
                node,
                gone,
                took_over,
            } => {
                warn!(message = "a node is gone", node = %node, address = %gone.address, took_over);
                (node, gone, Event::Trigger)
            }
            Change::Back { node, gone, .. } => {
                info!(message = "a node is back", node = %node, address = %gone.address);
                (node, gone, Event::Resolved)
            }
        };
        let Some(policy) = &policy else { continue };
        let n = notification(&cfg.public_url, change, policy.priority, cfg.ttl, now);
        for channel in &policy.channels {
            write.notifications.push(NewNotification {
                key: format!("node-{node}-{}-{channel}-{}", gone.episode, event.as_str()),
                incident_id: None,
                monitor_id: None,
                channel: channel.clone(),
                event: event.as_str().to_owned(),
                payload: n.to_stored(),
                not_before: now,
            });
        }
    }
    store
        .apply_alerting_under(&write, now, &Commit::fenced(Some(cfg.fence)))
        .await?;
    *memory = next;
    if !write.notifications.is_empty() {
        cfg.outbox.notify_one();
    }
    Ok(())
}

fn notification(
    public_url: &str,
    change: &Change,
    priority: Priority,
    ttl: Duration,
    now: Timestamp,
) -> Notification {
    let (event, node, gone, state, cause, duration) = match change {
        Change::Gone {
            node,
            gone,
            took_over,
        } => {
            let mut cause = format!(
                "node {} has not refreshed its place in the cluster for over {}: it stopped, \
                 crashed or lost the database",
                gone.address,
                vigilmon_core::HumanDuration(ttl)
            );
            if let Some(term) = took_over {
                cause.push_str(&format!(
                    "; it was the coordinator, and another node took over (term {term})"
                ));
            }
            (Event::Trigger, node, gone, "gone", cause, None)
        }
        Change::Back { node, gone, at } => (
            Event::Resolved,
            node,
            gone,
            "back",
            format!("node {} is back in the cluster", gone.address),
            u64::try_from(at.as_millisecond() - gone.since.as_millisecond())
                .ok()
                .map(Duration::from_millis),
        ),
    };
    Notification {
        event,
        dedup_key: format!("vigilmon-node-{node}-{}", gone.episode),
        incident_id: None,
        monitor_id: None,
        monitor_name: format!("node {}", gone.address),
        monitor_kind: "node".to_owned(),
        state: state.to_owned(),
        priority,
        cause,
        regions: Vec::new(),
        opened_at: Some(gone.since),
        at: now,
        duration,
        acknowledged_by: None,
        links: Links {
            monitor_url: Some(format!("{public_url}/regions")),
            incident_url: None,
            ack_url: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn node(id: u128, address: &str, started: i64, seen: i64) -> NodeRecord {
        NodeRecord {
            id: Uuid::from_u128(id),
            address: address.into(),
            version: "0".into(),
            started_at: t(started),
            last_seen: t(seen),
        }
    }

    const TTL: Duration = Duration::from_secs(10);

    fn episodes() -> impl FnMut() -> Uuid {
        let mut n = 100u128;
        move || {
            n += 1;
            Uuid::from_u128(n)
        }
    }

    #[test]
    fn a_silent_node_is_gone_once_and_back_when_it_refreshes() {
        let me = Uuid::from_u128(1);
        let mut m = Memory::default();
        let mut ep = episodes();
        let a = node(2, "http://a", 0, 100);
        // Fresh: nothing.
        let (c, d) = evaluate(
            &mut m,
            std::slice::from_ref(&a),
            me,
            1,
            TTL,
            t(110),
            &mut ep,
        );
        assert!(c.is_empty() && d.is_empty());
        assert_eq!(m.coordinator, Some((me, 1)));
        // Silent for longer than the TTL: gone, once.
        let (c, _) = evaluate(
            &mut m,
            std::slice::from_ref(&a),
            me,
            1,
            TTL,
            t(111),
            &mut ep,
        );
        assert!(matches!(&c[..], [Change::Gone { node, took_over: None, .. }] if *node == a.id));
        let (c, _) = evaluate(
            &mut m,
            std::slice::from_ref(&a),
            me,
            1,
            TTL,
            t(200),
            &mut ep,
        );
        assert!(c.is_empty(), "announced once: {c:?}");
        // It refreshes again: back.
        let back = node(2, "http://a", 0, 205);
        let (c, _) = evaluate(&mut m, &[back], me, 1, TTL, t(206), &mut ep);
        assert!(matches!(&c[..], [Change::Back { node, .. }] if *node == a.id));
        assert!(m.gone.is_empty());
    }

    #[test]
    fn the_lost_coordinator_is_named_with_the_term_taken_over() {
        let (old, me) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut m = Memory {
            coordinator: Some((old, 4)),
            ..Memory::default()
        };
        let dead = node(1, "http://old", 0, 100);
        let (c, _) = evaluate(&mut m, &[dead], me, 5, TTL, t(120), &mut episodes());
        assert!(
            matches!(
                &c[..],
                [Change::Gone {
                    took_over: Some(5),
                    ..
                }]
            ),
            "{c:?}"
        );
        assert_eq!(m.coordinator, Some((me, 5)));
    }

    #[test]
    fn a_restart_at_the_same_address_replaces_the_old_row_quietly() {
        let me = Uuid::from_u128(1);
        let mut m = Memory::default();
        let old = node(2, "http://a", 0, 100);
        let new = node(3, "http://a", 104, 110);
        let (c, d) = evaluate(
            &mut m,
            &[old.clone(), new.clone()],
            me,
            1,
            TTL,
            t(111),
            &mut episodes(),
        );
        assert!(c.is_empty(), "{c:?}");
        assert_eq!(d, vec![old.id]);
        // Announced gone before it came back: back.
        let mut m = Memory::default();
        let mut ep = episodes();
        evaluate(
            &mut m,
            std::slice::from_ref(&old),
            me,
            1,
            TTL,
            t(111),
            &mut ep,
        );
        let (c, d) = evaluate(&mut m, &[old.clone(), new], me, 1, TTL, t(115), &mut ep);
        assert!(matches!(&c[..], [Change::Back { .. }]), "{c:?}");
        assert_eq!(d, vec![old.id]);
    }

    #[test]
    fn a_gone_node_whose_row_was_removed_is_back() {
        let me = Uuid::from_u128(1);
        let mut m = Memory::default();
        let mut ep = episodes();
        let a = node(2, "http://a", 0, 100);
        evaluate(&mut m, &[a], me, 1, TTL, t(111), &mut ep);
        let (c, _) = evaluate(&mut m, &[], me, 1, TTL, t(120), &mut ep);
        assert!(matches!(&c[..], [Change::Back { .. }]), "{c:?}");
    }
}
