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
