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
    use vigilmon_store::{AlertingWrite, Fence, StoreError};
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
    s.apply_alerting_fenced(&write("by a"), now, Some(fence_a))
        .await
        .unwrap();
    assert_eq!(s.setting("fenced").await.unwrap().as_deref(), Some("by a"));

    // b takes over (a handed the lease over); a's writes are refused from then on.
    s.release_lease(a, lease_a.term).await.unwrap();
    let now = s.db_now().await.unwrap();
    let lease_b = s.acquire_lease(b, TTL, now).await.unwrap().unwrap();
    assert_eq!(lease_b.term, lease_a.term + 1);
    let refused = s
        .apply_alerting_fenced(&write("late a"), now, Some(fence_a))
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
    s.apply_alerting_fenced(&write("by b"), now, Some(fence_b))
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
        .apply_alerting_fenced(&write("expired b"), now, Some(fence_b))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "{refused:?}"
    );
    assert_eq!(s.setting("fenced").await.unwrap().as_deref(), Some("by b"));
}
