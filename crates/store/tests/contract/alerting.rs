//! Alerting: channels, policies, maintenance windows, incidents and their timelines,
//! the engine's memory, and the notification outbox.

use std::time::Duration;

use uuid::Uuid;
use vigilmon_store::MonitorSource;

use crate::{Db, create, t};

pub(crate) async fn alerting_incidents_and_outbox(db: Db) {
    use vigilmon_store::{
        AlertingWrite, AttemptOutcome, IncidentChange, IncidentFilter, IncidentRecord,
        NewIncidentEvent, NewNotification,
    };
    let s = &db.store;
    let m = create(s, "api").await;
    // Channels and policies: upsert, list, delete.
    s.upsert_channel(
        "slack-ops",
        "slack",
        &serde_json::json!({"name": "slack-ops", "type": "slack"}),
        MonitorSource::File,
        t(0),
    )
    .await
    .unwrap();
    s.upsert_channel(
        "slack-ops",
        "slack",
        &serde_json::json!({"name": "slack-ops", "type": "slack", "webhook_url": "x"}),
        MonitorSource::Api,
        t(1),
    )
    .await
    .unwrap();
    let chans = s.list_channels().await.unwrap();
    assert_eq!(chans.len(), 1);
    assert_eq!(chans[0].config["webhook_url"], "x");
    assert_eq!(
        (chans[0].source, chans[0].created_at, chans[0].updated_at),
        (MonitorSource::Api, t(0), t(1))
    );
    s.upsert_policy(
        "p1",
        &serde_json::json!({"name": "p1"}),
        MonitorSource::File,
        t(0),
    )
    .await
    .unwrap();
    assert_eq!(s.list_policies().await.unwrap()[0].name, "p1");
    assert!(s.delete_policy("p1").await.unwrap());
    assert!(!s.delete_policy("p1").await.unwrap());

    // An engine step: memory, an incident, its timeline, two notifications.
    let inc = Uuid::now_v7();
    let note = |key: &str| NewNotification {
        key: key.into(),
        incident_id: Some(inc),
        monitor_id: Some(m.id),
        channel: "slack-ops".into(),
        event: "trigger".into(),
        payload: serde_json::json!({"cause": "down"}),
        not_before: t(5),
    };
    let write = AlertingWrite {
        states: vec![(m.id, serde_json::json!({"last_state": "down"}))],
        incidents: vec![IncidentChange::Open(Box::new(IncidentRecord {
            id: inc,
            monitor_id: m.id,
            monitor_name: "api".into(),
            state: "open".into(),
            priority: "P1".into(),
            cause: "status 503".into(),
            regions: serde_json::json!([{"region": "local", "ok": false}]),
            parent_id: None,
            opened_at: t(5),
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
        }))],
        events: vec![NewIncidentEvent {
            incident_id: inc,
            at: t(5),
            kind: "opened".into(),
            text: "opened".into(),
            actor: None,
            channel: None,
        }],
        notifications: vec![note("k1"), note("k2")],
        settings: vec![("region_health".into(), r#"{"regions":{}}"#.into())],
    };
    s.apply_alerting(&write, t(5)).await.unwrap();
    assert_eq!(
        s.setting("region_health").await.unwrap().as_deref(),
        Some(r#"{"regions":{}}"#),
        "settings are written with the step"
    );
    // The same step again enqueues nothing twice (idempotent keys, same incident id).
    s.apply_alerting(&write, t(5)).await.unwrap();
    assert_eq!(s.outbox_depth().await.unwrap(), (2, Some(t(5))));
    assert_eq!(
        s.alerting_states().await.unwrap(),
        vec![(m.id, serde_json::json!({"last_state": "down"}))]
    );
    let listed = s
        .list_incidents(&IncidentFilter {
            state: Some("open".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].cause, "status 503");
    assert!(
        s.list_incidents(&IncidentFilter {
            state: Some("resolved".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty()
    );

    // Claims: one row at a time, not before it is due, not twice while leased.
    assert!(
        s.claim_notification(t(4), Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );
    let a = s
        .claim_notification(t(6), Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.claim_notification(t(6), Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "the first is leased, and the incident's next one to the same channel waits for it"
    );
    s.finish_delivery(&a, &AttemptOutcome::Delivered, t(7), 12)
        .await
        .unwrap();
    let b = s
        .claim_notification(t(7), Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(a.id, b.id);
    s.finish_delivery(
        &b,
        &AttemptOutcome::Retry {
            next: t(100),
            error: "500".into(),
        },
        t(7),
        30,
    )
    .await
    .unwrap();
    assert!(
        s.claim_notification(t(50), Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "retry not due"
    );
    let b2 = s
        .claim_notification(t(100), Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((b2.id, b2.attempts), (b.id, 1));
    s.finish_delivery(
        &b2,
        &AttemptOutcome::Failed {
            error: "400 bad".into(),
        },
        t(101),
        5,
    )
    .await
    .unwrap();
    assert_eq!(s.outbox_depth().await.unwrap().0, 0);
    // An expired lease (a crashed worker) makes the row claimable again.
    s.apply_alerting(
        &AlertingWrite {
            notifications: vec![note("k3")],
            ..Default::default()
        },
        t(5),
    )
    .await
    .unwrap();
    let c = s
        .claim_notification(t(200), Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.claim_notification(t(205), Duration::from_secs(10))
            .await
            .unwrap()
            .is_none()
    );
    let c2 = s
        .claim_notification(t(211), Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.id, c2.id);

    let rows = s.list_outbox(Some("slack-ops"), None, 10).await.unwrap();
    let by_key = |k: &str| rows.iter().find(|r| r.key == k).unwrap().clone();
    assert_eq!(by_key("k1").status, "delivered");
    assert_eq!(by_key("k2").status, "failed");
    assert_eq!(by_key("k2").last_error.as_deref(), Some("400 bad"));
    let attempts = s.delivery_attempts(b.id).await.unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect::<Vec<_>>(),
        ["retry", "failed"]
    );

    // Acknowledge, note, resolve; the timeline has every step.
    s.apply_alerting(
        &AlertingWrite {
            incidents: vec![IncidentChange::Acknowledge {
                id: inc,
                at: t(8),
                by: "ops@example.com".into(),
            }],
            ..Default::default()
        },
        t(8),
    )
    .await
    .unwrap();
    s.add_incident_event(&NewIncidentEvent {
        incident_id: inc,
        at: t(9),
        kind: "note".into(),
        text: "looking".into(),
        actor: Some("ops".into()),
        channel: None,
    })
    .await
    .unwrap();
    s.apply_alerting(
        &AlertingWrite {
            incidents: vec![IncidentChange::Resolve {
                id: inc,
                at: t(10),
                by: None,
            }],
            ..Default::default()
        },
        t(10),
    )
    .await
    .unwrap();
    let i = s.get_incident(inc).await.unwrap().unwrap();
    assert_eq!(
        (
            i.state.as_str(),
            i.acknowledged_by.as_deref(),
            i.resolved_at
        ),
        ("resolved", Some("ops@example.com"), Some(t(10)))
    );
    let kinds: Vec<String> = s
        .incident_events(inc)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "delivery_delivered",
            "delivery_retry",
            "delivery_failed",
            "note"
        ]
    );

    // Maintenance windows.
    let w = s
        .upsert_maintenance(
            Uuid::now_v7(),
            "patching",
            &serde_json::json!({"name": "patching"}),
            MonitorSource::Api,
            t(0),
        )
        .await
        .unwrap();
    assert!(s.end_maintenance(w, t(3)).await.unwrap());
    assert!(!s.end_maintenance(w, t(4)).await.unwrap(), "already ended");
    assert_eq!(s.list_maintenance().await.unwrap()[0].ended_at, Some(t(3)));
    assert!(s.delete_maintenance(w).await.unwrap());

    // Deleting the monitor takes its incidents and memory along.
    assert!(s.delete_monitor(m.id).await.unwrap());
    assert!(s.get_incident(inc).await.unwrap().is_none());
    assert!(s.alerting_states().await.unwrap().is_empty());
}

/// An incident's notifications reach each channel in the order they were queued: a
/// recovery waits while its trigger is still retrying (or held by a worker that may
/// have died); other incidents and other channels do not wait.
pub(crate) async fn notifications_of_an_incident_keep_their_order_per_channel(db: Db) {
    use vigilmon_store::{AlertingWrite, AttemptOutcome, NewNotification};
    let s = &db.store;
    let (i1, i2) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let n = |key: &str, incident: uuid::Uuid, channel: &str, event: &str| NewNotification {
        key: key.into(),
        incident_id: Some(incident),
        monitor_id: None,
        channel: channel.into(),
        event: event.into(),
        payload: serde_json::json!({}),
        not_before: t(0),
    };
    let queue = |rows: Vec<NewNotification>| AlertingWrite {
        notifications: rows,
        ..Default::default()
    };
    s.apply_alerting(
        &queue(vec![
            n("trigger-chat", i1, "chat", "trigger"),
            n("trigger-pd", i1, "pd", "trigger"),
        ]),
        t(0),
    )
    .await
    .unwrap();
    let lease = Duration::from_secs(60);
    // The chat trigger fails and will be retried at 100.
    let first = s.claim_notification(t(1), lease).await.unwrap().unwrap();
    assert_eq!(first.key, "trigger-chat");
    s.finish_delivery(
        &first,
        &AttemptOutcome::Retry {
            next: t(100),
            error: "500".into(),
        },
        t(1),
        5,
    )
    .await
    .unwrap();
    // The incident resolves; another incident opens on chat.
    s.apply_alerting(
        &queue(vec![
            n("resolved-chat", i1, "chat", "resolved"),
            n("resolved-pd", i1, "pd", "resolved"),
            n("trigger-chat-2", i2, "chat", "trigger"),
        ]),
        t(2),
    )
    .await
    .unwrap();
    let mut claimed = Vec::new();
    while let Some(r) = s.claim_notification(t(3), lease).await.unwrap() {
        claimed.push(r.key.clone());
        s.finish_delivery(&r, &AttemptOutcome::Delivered, t(3), 1)
            .await
            .unwrap();
    }
    assert_eq!(
        claimed,
        ["trigger-pd", "resolved-pd", "trigger-chat-2"],
        "the chat recovery waits for its trigger; the rest goes"
    );
    // The trigger goes when due, then its recovery.
    let r = s.claim_notification(t(100), lease).await.unwrap().unwrap();
    assert_eq!(r.key, "trigger-chat");
    assert!(
        s.claim_notification(t(100), lease).await.unwrap().is_none(),
        "the recovery waits while its trigger is held"
    );
    s.finish_delivery(&r, &AttemptOutcome::Delivered, t(100), 1)
        .await
        .unwrap();
    let r = s.claim_notification(t(100), lease).await.unwrap().unwrap();
    assert_eq!(r.key, "resolved-chat");
}
