//! Nodes and the coordinator lease.

use std::time::Duration;

use uuid::Uuid;
use vigilmon_store::NodeRecord;

use crate::{Db, t};

const TTL: Duration = Duration::from_secs(10);

pub(crate) async fn nodes_register_touch_and_leave(db: Db) {
    let s = &db.store;
    assert!(s.list_nodes().await.unwrap().is_empty());
    let a = NodeRecord {
        id: Uuid::now_v7(),
        address: "10.0.0.1:8080".into(),
        version: "0.1.0".into(),
        started_at: t(0),
        last_seen: t(0),
    };
    let b = NodeRecord {
        id: Uuid::now_v7(),
        address: "10.0.0.2:8080".into(),
        started_at: t(5),
        last_seen: t(5),
        ..a.clone()
    };
    s.register_node(&a).await.unwrap();
    s.register_node(&b).await.unwrap();
    assert!(s.touch_node(a.id, t(7)).await.unwrap());
    let nodes = s.list_nodes().await.unwrap();
    assert_eq!(
        nodes,
        vec![
            NodeRecord {
                last_seen: t(7),
                ..a.clone()
            },
            b.clone()
        ]
    );
    // Registering again (a restart with the same id) replaces the row.
    let again = NodeRecord {
        version: "0.2.0".into(),
        started_at: t(9),
        last_seen: t(9),
        ..a.clone()
    };
    s.register_node(&again).await.unwrap();
    assert_eq!(s.list_nodes().await.unwrap(), vec![b.clone(), again]);
    s.remove_node(a.id).await.unwrap();
    assert!(
        !s.touch_node(a.id, t(10)).await.unwrap(),
        "gone: register again"
    );
    assert_eq!(s.list_nodes().await.unwrap(), vec![b]);
}

pub(crate) async fn the_lease_has_one_holder_and_a_term(db: Db) {
    let s = &db.store;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    assert_eq!(s.lease().await.unwrap().0, None, "nobody holds it at first");

    // The first taker gets term 1; the other is refused while it runs.
    let lease = s.acquire_lease(a, TTL, t(0)).await.unwrap().unwrap();
    assert_eq!((lease.holder, lease.term, lease.expires_at), (a, 1, t(10)));
    assert_eq!(s.acquire_lease(b, TTL, t(5)).await.unwrap(), None);
    // Renewing keeps the term and moves the expiry.
    let renewed = s.acquire_lease(a, TTL, t(6)).await.unwrap().unwrap();
    assert_eq!((renewed.term, renewed.expires_at), (1, t(16)));
    assert_eq!(s.acquire_lease(b, TTL, t(15)).await.unwrap(), None);

    // Once it has run out, another node takes it with the next term.
    let taken = s.acquire_lease(b, TTL, t(16)).await.unwrap().unwrap();
    assert_eq!((taken.holder, taken.term, taken.expires_at), (b, 2, t(26)));
    // The old holder waking up late cannot renew what it lost.
    assert_eq!(s.acquire_lease(a, TTL, t(17)).await.unwrap(), None);
    assert_eq!(s.lease().await.unwrap(), (Some(b), 2, t(26)));

    // A holder whose own lease ran out takes it again with a new term: what it did
    // under the old term is fenced off.
    let again = s.acquire_lease(b, TTL, t(30)).await.unwrap().unwrap();
    assert_eq!(again.term, 3);

    // Releasing hands it over at once, but only by the holder of that term.
    s.release_lease(a, 3).await.unwrap();
    s.release_lease(b, 2).await.unwrap();
    assert_eq!(s.acquire_lease(a, TTL, t(31)).await.unwrap(), None);
    s.release_lease(b, 3).await.unwrap();
    let handed = s.acquire_lease(a, TTL, t(31)).await.unwrap().unwrap();
    assert_eq!((handed.holder, handed.term), (a, 4));
}

/// Nodes racing for a free lease: exactly one wins each round.
pub(crate) async fn racing_nodes_get_one_lease(db: Db) {
    let s = db.store.clone();
    for round in 0..5i64 {
        let now = t(100 * round);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let s = s.clone();
            tasks.spawn(async move { s.acquire_lease(Uuid::now_v7(), TTL, now).await.unwrap() });
        }
        let mut winners = Vec::new();
        while let Some(r) = tasks.join_next().await {
            winners.extend(r.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(winners[0].term, round + 1);
    }
}

pub(crate) async fn the_database_clock_is_now(db: Db) {
    let before = jiff::Timestamp::now();
    let db_now = db.store.db_now().await.unwrap();
    let after = jiff::Timestamp::now();
    // Same machine: within a second of ours.
    assert!(
        db_now >= before - jiff::SignedDuration::from_secs(1)
            && db_now <= after + jiff::SignedDuration::from_secs(1),
        "{before} {db_now} {after}"
    );
}

/// A coordinator's write goes through only while it holds the lease under its term.
pub(crate) async fn fenced_writes_need_the_current_term(db: Db) {
    use vigilmon_store::{AlertingWrite, Commit, Fence, StoreError};
    let s = &db.store;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let write = |value: &str| AlertingWrite {
        settings: vec![("fenced".into(), value.into())],
        ..AlertingWrite::default()
    };
    let now = s.db_now().await.unwrap();
    let lease_a = s.acquire_lease(a, TTL, now).await.unwrap().unwrap();
    let fence_a = Fence {
        holder: a,
        term: lease_a.term,
    };
    s.apply_alerting_under(&write("by a"), now, &Commit::fenced(Some(fence_a)))
        .await
        .unwrap();
    assert_eq!(s.setting("fenced").await.unwrap().as_deref(), Some("by a"));

    // b takes over (a handed the lease over); a's writes are refused from then on.
    s.release_lease(a, lease_a.term).await.unwrap();
    let now = s.db_now().await.unwrap();
    let lease_b = s.acquire_lease(b, TTL, now).await.unwrap().unwrap();
    assert_eq!(lease_b.term, lease_a.term + 1);
    let refused = s
        .apply_alerting_under(&write("late a"), now, &Commit::fenced(Some(fence_a)))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { term }) if term == lease_a.term),
        "{refused:?}"
    );
    assert_eq!(s.setting("fenced").await.unwrap().as_deref(), Some("by a"));
    let fence_b = Fence {
        holder: b,
        term: lease_b.term,
    };
    s.apply_alerting_under(&write("by b"), now, &Commit::fenced(Some(fence_b)))
        .await
        .unwrap();
    assert_eq!(s.setting("fenced").await.unwrap().as_deref(), Some("by b"));

    // A lease that ran out on the database's clock fences its holder too.
    let now = s.db_now().await.unwrap();
    s.acquire_lease(b, std::time::Duration::from_millis(1), now)
        .await
        .unwrap()
        .unwrap();
    loop {
        // The database's clock, not ours, decides: wait for it to pass the expiry.
        if s.db_now().await.unwrap() > now + jiff::SignedDuration::from_millis(5) {
            break;
        }
        tokio::task::yield_now().await;
    }
    let refused = s
        .apply_alerting_under(&write("expired b"), now, &Commit::fenced(Some(fence_b)))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "{refused:?}"
    );
    assert_eq!(s.setting("fenced").await.unwrap().as_deref(), Some("by b"));
}

/// The coordinator's housekeeping — rollups, their watermark, first sightings and
/// retention — is fenced like its alerting: after a takeover the old holder's writes
/// change nothing, and the new holder's go through.
pub(crate) async fn housekeeping_writes_are_fenced(db: Db) {
    use vigilmon_store::{ALL_REGIONS, Commit, Fence, RollupPeriod, RollupRow, StoreError};
    let s = &db.store;
    let m = crate::create(s, "m").await;
    s.record_results(&[crate::up(m.id, "local", crate::t(0))])
        .await
        .unwrap();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let now = s.db_now().await.unwrap();
    let lease_a = s.acquire_lease(a, TTL, now).await.unwrap().unwrap();
    s.release_lease(a, lease_a.term).await.unwrap();
    let lease_b = s.acquire_lease(b, TTL, now).await.unwrap().unwrap();
    let stale = Commit::fenced(Some(Fence {
        holder: a,
        term: lease_a.term,
    }));
    let current = Commit::fenced(Some(Fence {
        holder: b,
        term: lease_b.term,
    }));
    fn fenced<T>(r: &Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::Fenced { .. }))
    }
    let rows = vec![RollupRow {
        monitor_id: m.id,
        region: ALL_REGIONS.into(),
        bucket_start: crate::t(0),
        rollup: vigilmon_core::rollup::Rollup::default(),
    }];

    let r = s
        .upsert_rollups_under(RollupPeriod::Hour, &rows, &stale)
        .await;
    assert!(fenced(&r), "{r:?}");
    let r = s.set_rollup_watermark_under(crate::t(3600), &stale).await;
    assert!(fenced(&r), "{r:?}");
    let r = s.record_first_seen_under(&stale).await;
    assert!(fenced(&r), "{r:?}");
    let r = s
        .delete_results_before_under(crate::t(10), 100, &stale)
        .await;
    assert!(fenced(&r), "{r:?}");
    let r = s
        .delete_rollups_before_under(RollupPeriod::Hour, crate::t(7200), &stale)
        .await;
    assert!(fenced(&r), "{r:?}");
    let partitions = s.result_partitions().await.unwrap();
    let far = crate::t(0) + jiff::SignedDuration::from_hours(24 * 365 * 20);
    let r = s.rotate_result_partitions_under(far, far, &stale).await;
    if s.backend() == "postgres" {
        assert!(fenced(&r), "{r:?}");
    } else {
        // SQLite has no partitions to rotate: nothing is written, nothing to fence.
        assert_eq!(r.unwrap().delete_before, far);
    }
    // Nothing moved.
    assert_eq!(s.result_partitions().await.unwrap(), partitions);
    let listed = |p| s.list_rollups(p, &[], None, crate::t(-1), crate::t(7200));
    assert!(listed(RollupPeriod::Hour).await.unwrap().is_empty());
    assert_eq!(s.rollup_watermark().await.unwrap(), None);
    assert_eq!(s.count_results(m.id).await.unwrap(), 1);

    // The current holder's writes go through.
    s.upsert_rollups_under(RollupPeriod::Hour, &rows, &current)
        .await
        .unwrap();
    assert_eq!(listed(RollupPeriod::Hour).await.unwrap().len(), 1);
    s.set_rollup_watermark_under(crate::t(3600), &current)
        .await
        .unwrap();
    assert_eq!(s.rollup_watermark().await.unwrap(), Some(crate::t(3600)));
    assert_eq!(s.record_first_seen_under(&current).await.unwrap(), 1);
    assert_eq!(
        s.delete_rollups_before_under(RollupPeriod::Hour, crate::t(7200), &current)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.delete_results_before_under(crate::t(10), 100, &current)
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.count_results(m.id).await.unwrap(), 0);
}

/// Rows for the coordinator come back in id order, and a fenced write that applies them
/// deletes them in its own transaction: once, and never after the lease moved on.
pub(crate) async fn ingest_rows_are_consumed_once_with_the_write(db: Db) {
    use vigilmon_store::{AlertingWrite, Commit, Fence, NewIngest, StoreError};
    let s = &db.store;
    let (a, b, follower) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let row = |kind: &str, n: u32| NewIngest {
        kind: kind.into(),
        payload: format!("{{\"n\":{n}}}"),
    };
    let ids = s
        .ingest(
            &[row("ping", 1), row("result", 2), row("ack", 3)],
            follower,
            t(1),
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let waiting = || async {
        s.ingest_rows(&s.ingest_ids(10).await.unwrap())
            .await
            .unwrap()
    };
    let pending = waiting().await;
    assert_eq!(
        pending
            .iter()
            .map(|r| (
                r.id,
                r.kind.as_str(),
                r.payload.as_str(),
                r.node,
                r.received_at
            ))
            .collect::<Vec<_>>(),
        vec![
            (ids[0], "ping", "{\"n\":1}", follower, t(1)),
            (ids[1], "result", "{\"n\":2}", follower, t(1)),
            (ids[2], "ack", "{\"n\":3}", follower, t(1)),
        ]
    );
    assert_eq!(s.ingest_backlog().await.unwrap(), 3);
    // The consumer's two steps: the ids, then the rows it does not hold yet (in id
    // order, whatever order they are asked in; ids no longer there are skipped).
    assert_eq!(s.ingest_ids(10).await.unwrap(), ids);
    assert_eq!(s.ingest_ids(2).await.unwrap(), ids[..2]);
    let some = s
        .ingest_rows(&[ids[2], ids[0], ids[2] + 1000])
        .await
        .unwrap();
    assert_eq!(
        some.iter()
            .map(|r| (r.id, r.kind.as_str()))
            .collect::<Vec<_>>(),
        vec![(ids[0], "ping"), (ids[2], "ack")]
    );
    assert_eq!(some[0], pending[0]);
    assert!(s.ingest_rows(&[]).await.unwrap().is_empty());

    let now = s.db_now().await.unwrap();
    let lease_a = s.acquire_lease(a, TTL, now).await.unwrap().unwrap();
    let fence_a = Fence {
        holder: a,
        term: lease_a.term,
    };
    let write = |value: &str| AlertingWrite {
        settings: vec![("applied".into(), value.into())],
        ..AlertingWrite::default()
    };
    let commit = |ids: &[i64], fence: Fence| Commit {
        fence: Some(fence),
        consumed: ids.to_vec(),
    };
    // Applied with its rows: they are gone, in the same transaction.
    s.apply_alerting_under(&write("first"), now, &commit(&ids[..1], fence_a))
        .await
        .unwrap();
    assert_eq!(waiting().await.len(), 2);
    // The same row again (a second coordinator that read it before): nothing written.
    let again = s
        .apply_alerting_under(&write("twice"), now, &commit(&ids[..2], fence_a))
        .await;
    assert!(matches!(again, Err(StoreError::Fenced { .. })), "{again:?}");
    assert_eq!(
        s.setting("applied").await.unwrap().as_deref(),
        Some("first")
    );
    assert_eq!(
        waiting().await.len(),
        2,
        "the refused write deleted nothing"
    );

    // After a takeover, the old coordinator consumes nothing.
    s.release_lease(a, lease_a.term).await.unwrap();
    let now = s.db_now().await.unwrap();
    let lease_b = s.acquire_lease(b, TTL, now).await.unwrap().unwrap();
    let late = s.discard_ingest(&commit(&ids[1..], fence_a)).await;
    assert!(matches!(late, Err(StoreError::Fenced { .. })), "{late:?}");
    assert_eq!(s.ingest_backlog().await.unwrap(), 2);
    let fence_b = Fence {
        holder: b,
        term: lease_b.term,
    };
    // The new one applies results and pings with their rows.
    s.record_results_under(&[], &commit(&ids[1..2], fence_b))
        .await
        .unwrap();
    s.record_heartbeats_under(&[], 10, &commit(&ids[2..], fence_b))
        .await
        .unwrap();
    assert_eq!(s.ingest_backlog().await.unwrap(), 0);
}

/// On PostgreSQL a node hears what another sends; on SQLite there is no one to hear.
pub(crate) async fn notifications_reach_listeners(db: Db) {
    use vigilmon_store::{INGEST_CHANNEL, NewIngest};
    let s = &db.store;
    let Some(mut listener) = s.listen(&[INGEST_CHANNEL, "vigilmon_test"]).await.unwrap() else {
        assert_eq!(s.backend(), "sqlite");
        s.notify("vigilmon_test", "nobody").await.unwrap();
        return;
    };
    s.notify("vigilmon_test", "hello").await.unwrap();
    let n = listener.recv().await.unwrap().unwrap();
    assert_eq!(
        (n.channel.as_str(), n.payload.as_str()),
        ("vigilmon_test", "hello")
    );
    s.ingest(
        &[NewIngest {
            kind: "ping".into(),
            payload: "{}".into(),
        }],
        Uuid::now_v7(),
        t(0),
    )
    .await
    .unwrap();
    let n = listener.recv().await.unwrap().unwrap();
    assert_eq!(n.channel, INGEST_CHANNEL);
}

/// Agents as heard from by any node: one row per agent, moving only forward in time.
pub(crate) async fn agent_presence_is_shared_and_moves_forward(db: Db) {
    use vigilmon_store::AgentPresence;
    let s = &db.store;
    let (n1, n2) = (Uuid::now_v7(), Uuid::now_v7());
    let a = AgentPresence {
        id: Uuid::now_v7(),
        name: "eu-1".into(),
        region: "eu".into(),
        version: Some("0.1.0".into()),
        last_seen: t(10),
        node: n1,
    };
    let b = AgentPresence {
        id: Uuid::now_v7(),
        name: "eu-2".into(),
        version: None,
        last_seen: t(12),
        node: n2,
        ..a.clone()
    };
    s.record_agent_presence(&[a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(
        s.agent_presence(t(0)).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(s.agent_presence(t(11)).await.unwrap(), vec![b.clone()]);
    // Heard by the other node later: the row follows, keeping the known version.
    let moved = AgentPresence {
        version: None,
        last_seen: t(20),
        node: n2,
        ..a.clone()
    };
    s.record_agent_presence(std::slice::from_ref(&moved))
        .await
        .unwrap();
    // An older sighting arriving late changes nothing.
    s.record_agent_presence(&[AgentPresence {
        last_seen: t(15),
        node: n1,
        ..a.clone()
    }])
    .await
    .unwrap();
    let rows = s.agent_presence(t(0)).await.unwrap();
    assert_eq!(
        rows,
        vec![
            AgentPresence {
                version: Some("0.1.0".into()),
                ..moved
            },
            b
        ]
    );
}
