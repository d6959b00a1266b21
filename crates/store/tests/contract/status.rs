//! Status pages, badge ids, public incident updates and first-seen times.

use uuid::Uuid;
use vigilmon_core::MonitorState;
use vigilmon_store::{MonitorRecord, MonitorSource, StoreError};

use crate::{Db, assert_conflict, create, new_id, ping_write, t, up};

fn status_page(
    slug: &str,
    domain: Option<&str>,
    monitors: &[&str],
) -> vigilmon_core::status_page::StatusPageConfig {
    serde_json::from_value(serde_json::json!({
        "slug": slug,
        "title": format!("Page {slug}"),
        "domain": domain,
        "sections": [{"name": "All", "monitors": monitors}],
    }))
    .unwrap()
}

pub(crate) async fn status_pages_crud_and_conflicts(db: Db) {
    let s = &db.store;
    let a = s
        .create_status_page(
            &status_page("a", Some("status.example.com"), &["api"]),
            MonitorSource::Api,
            t(0),
        )
        .await
        .unwrap();
    assert_eq!(a.slug, "a");
    assert_eq!(a.config.title, "Page a");
    assert_eq!(
        (a.source, a.created_at, a.updated_at),
        (MonitorSource::Api, t(0), t(0))
    );
    assert_conflict(
        s.create_status_page(&status_page("a", None, &["x"]), MonitorSource::Api, t(1))
            .await,
        "slug",
    );
    assert_conflict(
        s.create_status_page(
            &status_page("b", Some("status.example.com"), &["x"]),
            MonitorSource::Api,
            t(1),
        )
        .await,
        "domain",
    );
    assert_conflict(
        s.upsert_status_page(
            &status_page("b", Some("status.example.com"), &["x"]),
            MonitorSource::File,
            t(1),
        )
        .await,
        "domain",
    );
    // Upsert replaces config and source, keeps created_at.
    let up = s
        .upsert_status_page(
            &status_page("a", None, &["api", "db"]),
            MonitorSource::File,
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(
        (up.source, up.created_at, up.updated_at),
        (MonitorSource::File, t(0), t(2))
    );
    assert_eq!(up.config.monitors().count(), 2);
    // The domain is free again.
    s.upsert_status_page(
        &status_page("b", Some("status.example.com"), &["x"]),
        MonitorSource::File,
        t(3),
    )
    .await
    .unwrap();
    let slugs: Vec<String> = s
        .list_status_pages()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.slug)
        .collect();
    assert_eq!(slugs, ["a", "b"]);
    assert_eq!(
        s.get_status_page("b")
            .await
            .unwrap()
            .unwrap()
            .config
            .domain
            .as_deref(),
        Some("status.example.com")
    );
    assert!(s.delete_status_page("a").await.unwrap());
    assert!(!s.delete_status_page("a").await.unwrap());
    assert!(s.get_status_page("a").await.unwrap().is_none());
}

pub(crate) async fn badges_updates_incidents_and_first_seen(db: Db) {
    use vigilmon_store::{AlertingWrite, IncidentChange, IncidentRecord, NewIncidentUpdate};
    let s = &db.store;
    let a = create(s, "a").await;
    let b = create(s, "b").await;
    let gone = new_id();

    // Badge ids: made once, stable, unique, looked up both ways.
    let n = std::sync::atomic::AtomicU32::new(0);
    let make = || {
        format!(
            "badge-{}",
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        )
    };
    let ids = s
        .ensure_badge_ids(&[a.id, b.id, gone], make, t(0))
        .await
        .unwrap();
    assert_eq!(ids.len(), 2, "a deleted monitor gets none: {ids:?}");
    let again = s
        .ensure_badge_ids(&[a.id, b.id], || "other".into(), t(1))
        .await
        .unwrap();
    assert_eq!(ids, again);
    assert_eq!(s.monitor_by_badge(&ids[&b.id]).await.unwrap(), Some(b.id));
    assert_eq!(s.monitor_by_badge("nope").await.unwrap(), None);

    // Incidents overlapping a range.
    let incident = |monitor: &MonitorRecord, opened: i64, resolved: Option<i64>| {
        let id = Uuid::now_v7();
        let mut changes = vec![IncidentChange::Open(Box::new(IncidentRecord {
            id,
            monitor_id: monitor.id,
            monitor_name: monitor.config.name.clone(),
            state: "open".into(),
            priority: "P3".into(),
            cause: "status 503 from https://secret.example.com".into(),
            regions: serde_json::json!([]),
            parent_id: None,
            opened_at: t(opened),
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
        }))];
        if let Some(r) = resolved {
            changes.push(IncidentChange::Resolve {
                id,
                at: t(r),
                by: None,
            });
        }
        (
            id,
            AlertingWrite {
                incidents: changes,
                ..AlertingWrite::default()
            },
        )
    };
    let (old, w) = incident(&a, 10, Some(20));
    s.apply_alerting(&w, t(20)).await.unwrap();
    let (recent, w) = incident(&a, 100, Some(200));
    s.apply_alerting(&w, t(200)).await.unwrap();
    let (open, w) = incident(&b, 300, None);
    s.apply_alerting(&w, t(300)).await.unwrap();
    let got: Vec<Uuid> = s
        .incidents_since(&[a.id, b.id], t(150))
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(got, [open, recent], "newest first, overlapping only");
    let got: Vec<Uuid> = s
        .incidents_since(&[a.id], t(0))
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(got, [recent, old]);
    assert!(s.incidents_since(&[], t(0)).await.unwrap().is_empty());

    // Public updates.
    let add = |incident_id: Uuid, at: i64, status: &str, title: Option<&str>| NewIncidentUpdate {
        incident_id,
        at: t(at),
        status: status.into(),
        text: format!("{status} <b>now</b>"),
        title: title.map(str::to_owned),
        author: Some("token ci".into()),
    };
    let u1 = s
        .add_incident_update(&add(open, 301, "investigating", Some("Slow cache")))
        .await
        .unwrap();
    let u2 = s
        .add_incident_update(&add(open, 302, "identified", None))
        .await
        .unwrap();
    s.add_incident_update(&add(recent, 150, "resolved", None))
        .await
        .unwrap();
    assert!(matches!(
        s.add_incident_update(&add(Uuid::now_v7(), 1, "resolved", None))
            .await,
        Err(StoreError::NotFound)
    ));
    let ups = s.incident_updates(&[open]).await.unwrap();
    assert_eq!(ups, [u1.clone(), u2]);
    assert_eq!(u1.title.as_deref(), Some("Slow cache"));
    assert_eq!(u1.text, "investigating <b>now</b>");
    assert_eq!(s.incident_updates(&[open, recent]).await.unwrap().len(), 3);

    // First seen: the oldest result, or ping; recorded once.
    assert!(s.first_seen(&[a.id, b.id]).await.unwrap().is_empty());
    s.record_results(&[up(a.id, "local", t(50)), up(a.id, "local", t(40))])
        .await
        .unwrap();
    assert_eq!(s.record_first_seen().await.unwrap(), 1);
    s.record_results(&[up(a.id, "eu", t(30))]).await.unwrap();
    assert_eq!(s.record_first_seen().await.unwrap(), 0, "recorded once");
    s.ensure_heartbeat(b.id, "tok", t(0)).await.unwrap();
    s.record_heartbeats(&[ping_write(b.id, t(77), None)], 100)
        .await
        .unwrap();
    assert_eq!(s.record_first_seen().await.unwrap(), 1);
    let seen = s.first_seen(&[a.id, b.id]).await.unwrap();
    assert_eq!((seen[&a.id], seen[&b.id]), (t(40), t(77)));

    // Deleting a monitor takes its badge, updates and rows with it.
    assert!(s.delete_monitor(b.id).await.unwrap());
    assert_eq!(s.monitor_by_badge(&ids[&b.id]).await.unwrap(), None);
    assert!(s.incident_updates(&[open]).await.unwrap().is_empty());
    assert!(s.first_seen(&[b.id]).await.unwrap().is_empty());
}

/// Every change of a monitor's state is logged, whichever write made it (results,
/// pause, resume), and read back from a point in time with the state it was in then.
pub(crate) async fn state_changes_are_logged(db: Db) {
    use vigilmon_core::{ErrorKind, Verdict};
    let s = &db.store;
    let m = create(s, "m").await; // pending, at t(0)
    let other = create(s, "other").await;
    let down = |at| {
        crate::check(
            m.id,
            "local",
            t(at),
            Verdict::down(ErrorKind::Connect, "refused"),
            (MonitorState::Down, 2),
            MonitorState::Down,
        )
    };
    s.record_results(&[up(m.id, "local", t(5))]).await.unwrap();
    s.record_results(&[down(10)]).await.unwrap();
    s.record_results(&[down(15)]).await.unwrap(); // no change: not logged
    s.record_results(&[up(m.id, "local", t(20))]).await.unwrap();
    let mut cfg = m.config.clone();
    cfg.paused = true;
    s.update_monitor(m.id, &cfg, t(30)).await.unwrap();
    s.record_results(&[down(31)]).await.unwrap(); // paused: the state stays
    cfg.paused = false;
    s.update_monitor(m.id, &cfg, t(40)).await.unwrap();

    use MonitorState::*;
    let all = s.state_changes_since(&[m.id], t(0)).await.unwrap();
    assert_eq!(
        all[&m.id],
        [
            (t(0), Pending),
            (t(5), Up),
            (t(10), Down),
            (t(20), Up),
            (t(30), Paused),
            (t(40), Pending)
        ]
    );
    // From t(12): the state it was in then (down since t(10)), and what came after.
    let from = s
        .state_changes_since(&[m.id, other.id], t(12))
        .await
        .unwrap();
    assert_eq!(
        from[&m.id],
        [
            (t(10), Down),
            (t(20), Up),
            (t(30), Paused),
            (t(40), Pending)
        ]
    );
    assert_eq!(from[&other.id], [(t(0), Pending)]);
    assert!(s.state_changes_since(&[], t(0)).await.unwrap().is_empty());

    // Deleting the monitor takes its log with it.
    s.delete_monitor(m.id).await.unwrap();
    assert!(
        !s.state_changes_since(&[m.id], t(0))
            .await
            .unwrap()
            .contains_key(&m.id)
    );
}
