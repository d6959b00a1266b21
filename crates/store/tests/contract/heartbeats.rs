//! Heartbeat monitors: their state and the log of pings received.

use vigilmon_core::MonitorState;

use crate::{Db, create, ping_write, t};

pub(crate) async fn heartbeats_and_ping_log(db: Db) {
    use vigilmon_core::heartbeat::HeartbeatState;
    use vigilmon_store::{HeartbeatWrite, PingRecord};
    let s = &db.store;
    let m = create(s, "worker").await;
    let token = s.ensure_heartbeat(m.id, "tok-1", t(0)).await.unwrap();
    assert_eq!(token, "tok-1");
    let again = s.ensure_heartbeat(m.id, "tok-2", t(1)).await.unwrap();
    assert_eq!(again, "tok-1", "the existing token wins");
    let ping = |i: i64| PingRecord {
        received_at: t(i),
        kind: "success".into(),
        method: "POST".into(),
        exit_status: Some(0),
        rid: None,
        duration_ms: Some(5),
        source_ip: Some("127.0.0.1".into()),
        user_agent: Some("curl".into()),
        body: Some(format!("run {i}")),
        body_truncated: false,
        failure: None,
    };
    let mut state = HeartbeatState {
        state: MonitorState::Up,
        last_ping_at: Some(t(10)),
        ..Default::default()
    };
    let writes: Vec<HeartbeatWrite> = (1..=10)
        .map(|i| HeartbeatWrite {
            monitor_id: m.id,
            ping: Some(ping(i)),
            state: state.clone(),
            monitor_state: MonitorState::Up,
            at: t(i),
        })
        .collect();
    s.record_heartbeats(&writes, 4).await.unwrap();
    let row = s.heartbeat(m.id).await.unwrap().unwrap();
    assert_eq!(row.pings_total, 10);
    assert_eq!(row.state, state);
    assert_eq!(
        s.count_pings(m.id).await.unwrap(),
        4,
        "the log keeps the newest 4"
    );
    let log = s.list_pings(m.id, 100).await.unwrap();
    assert_eq!(log[0].ping, ping(10));
    assert_eq!(log[3].ping.body.as_deref(), Some("run 7"));
    let rec = s.get_monitor(m.id).await.unwrap().unwrap();
    assert_eq!(rec.state, MonitorState::Up);
    assert_eq!(rec.last_checked_at, Some(t(10)));
    // A deadline (no ping) changes the state but not last_checked_at or the count.
    state.state = MonitorState::Down;
    s.record_heartbeats(
        &[HeartbeatWrite {
            monitor_id: m.id,
            ping: None,
            state: state.clone(),
            monitor_state: MonitorState::Down,
            at: t(20),
        }],
        4,
    )
    .await
    .unwrap();
    let rec = s.get_monitor(m.id).await.unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.state_changed_at, rec.last_checked_at),
        (MonitorState::Down, Some(t(20)), Some(t(10)))
    );
    assert_eq!(s.heartbeat(m.id).await.unwrap().unwrap().pings_total, 10);
    assert_eq!(s.heartbeats().await.unwrap().len(), 1);
    // Settings: the first writer wins.
    assert_eq!(s.setting_or_insert("ping_key", "a").await.unwrap(), "a");
    assert_eq!(s.setting_or_insert("ping_key", "b").await.unwrap(), "a");
    assert!(s.delete_monitor(m.id).await.unwrap());
    assert!(s.heartbeats().await.unwrap().is_empty(), "cascade");
}

/// A log is trimmed back to its bound once it has grown by a tenth of it (not in every
/// batch): between `keep` and `keep` + a tenth − 1 pings are stored.
pub(crate) async fn a_busy_log_is_trimmed_once_per_tenth(db: Db) {
    use vigilmon_store::{HeartbeatWrite, prune_every};
    let s = &db.store;
    let m = create(s, "busy").await;
    s.ensure_heartbeat(m.id, "tok-busy", t(0)).await.unwrap();
    let keep = 50;
    assert_eq!(prune_every(keep), 5);
    assert_eq!(prune_every(4), 1);
    let write = |i: i64| ping_write(m.id, t(i), Some(format!("ping {i}")));
    let batch: Vec<HeartbeatWrite> = (1..=50).map(write).collect();
    s.record_heartbeats(&batch, keep).await.unwrap();
    assert_eq!(s.count_pings(m.id).await.unwrap(), 50);
    // 51 to 54: over the bound, but not by a tenth yet.
    for i in 51..=54 {
        s.record_heartbeats(&[write(i)], keep).await.unwrap();
        assert_eq!(s.count_pings(m.id).await.unwrap(), i as u64, "ping {i}");
    }
    // The 55th crosses a multiple of 5: back to the newest 50.
    s.record_heartbeats(&[write(55)], keep).await.unwrap();
    assert_eq!(s.count_pings(m.id).await.unwrap(), 50);
    let log = s.list_pings(m.id, 1000).await.unwrap();
    assert_eq!(log[0].ping.body.as_deref(), Some("ping 55"));
    assert_eq!(log[49].ping.body.as_deref(), Some("ping 6"));
    // A batch that crosses several multiples trims once, to the bound.
    let batch: Vec<HeartbeatWrite> = (56..=70).map(write).collect();
    s.record_heartbeats(&batch, keep).await.unwrap();
    assert_eq!(s.count_pings(m.id).await.unwrap(), 50);
    assert_eq!(s.heartbeat(m.id).await.unwrap().unwrap().pings_total, 70);
}

pub(crate) async fn a_given_ping_token_replaces_the_generated_one(db: Db) {
    let s = &db.store;
    let m = create(s, "imported").await;
    let other = create(s, "other").await;
    let uuid = "5b1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    // A monitor without a row gets one with the given token.
    assert!(s.set_heartbeat_token(m.id, uuid, t(0)).await.unwrap());
    assert_eq!(s.heartbeat(m.id).await.unwrap().unwrap().token, uuid);
    assert!(
        !s.set_heartbeat_token(m.id, uuid, t(1)).await.unwrap(),
        "unchanged"
    );
    // A generated token is replaced, and the state is kept.
    s.ensure_heartbeat(other.id, "generated-token-0001", t(0))
        .await
        .unwrap();
    assert!(
        s.set_heartbeat_token(other.id, "given-token-000000002", t(2))
            .await
            .unwrap()
    );
    let row = s.heartbeat(other.id).await.unwrap().unwrap();
    assert_eq!(row.token, "given-token-000000002");
    // Another monitor's token is a conflict on the token, and changes nothing.
    match s.set_heartbeat_token(other.id, uuid, t(3)).await {
        Err(vigilmon_store::StoreError::Conflict { field, message }) => {
            assert_eq!(field, "token");
            assert_eq!(message, "another heartbeat monitor has this ping token");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        s.heartbeat(other.id).await.unwrap().unwrap().token,
        "given-token-000000002"
    );
}
