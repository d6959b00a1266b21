//! What a status page publishes, end to end: the model built from a store at a
//! controlled instant (app's `status_model`) and its HTML rendering, checked for
//! figures and for anything private leaking through either.

use jiff::Timestamp;
use serde_json::json;
use uuid::Uuid;
use vigilmon_app::status_model::*;
use vigilmon_core::status_page::StatusPageConfig;
use vigilmon_core::uptime::Span;
use vigilmon_core::{MonitorId, MonitorState};
use vigilmon_store::{IncidentRecord, Store};

const DAY_MS: i64 = 24 * 3_600_000;

#[tokio::test]
async fn build_at_a_controlled_instant() {
    use vigilmon_core::MonitorConfig;
    use vigilmon_store::{AlertingWrite, IncidentChange, MonitorSource};
    let t = |s: &str| s.parse::<Timestamp>().unwrap();
    let dir = std::env::temp_dir().join(format!("vigilmon-model-{}", Uuid::now_v7()));
    let store = Store::open_sqlite(&dir).await.unwrap();
    let monitor = |name: &str| MonitorConfig {
        name: name.into(),
        kind: vigilmon_core::KindConfig::Tcp(vigilmon_core::monitor::TcpConfig {
            host: Some("db.internal".into()),
            port: Some(5432),
            ..Default::default()
        }),
        ..MonitorConfig::default()
    };
    let db = MonitorId(Uuid::now_v7());
    store
        .create_monitor(
            db,
            &monitor("db"),
            MonitorSource::Api,
            t("2025-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let web = MonitorId(Uuid::now_v7());
    store
        .create_monitor(
            web,
            &monitor("web"),
            MonitorSource::Api,
            t("2025-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    // First seen: db long ago, web on 2025-03-29 12:00 UTC.
    let seen = |id: MonitorId, at: &str| vigilmon_store::RecordedCheck {
        monitor_id: id,
        result: vigilmon_core::CheckResult::new(
            vigilmon_core::RegionName::local(),
            t(at),
            5,
            vigilmon_core::Verdict::Up,
        ),
        region_status: vigilmon_core::state::RegionStatus::default(),
        monitor_state: MonitorState::Up,
        history_only: false,
    };
    store
        .record_results(&[
            seen(db, "2025-01-02T00:00:00Z"),
            seen(web, "2025-03-29T12:00:00Z"),
        ])
        .await
        .unwrap();
    // db: down from 23:00 Berlin on 2025-03-29 (22:00 UTC) to 01:00 on the 30th
    // (00:00 UTC), with maintenance 00:30-00:45 Berlin inside it.
    let inc = Uuid::now_v7();
    let write = AlertingWrite {
        incidents: vec![
            IncidentChange::Open(Box::new(IncidentRecord {
                id: inc,
                monitor_id: db,
                monitor_name: "db".into(),
                state: "open".into(),
                priority: "P1".into(),
                cause: "connection refused by db.internal:5432".into(),
                regions: json!([{"region": "local", "ok": false}]),
                parent_id: None,
                opened_at: t("2025-03-29T22:00:00Z"),
                acknowledged_at: None,
                acknowledged_by: None,
                resolved_at: None,
                resolved_by: None,
            })),
            IncidentChange::Resolve {
                id: inc,
                at: t("2025-03-30T00:00:00Z"),
                by: None,
            },
        ],
        ..AlertingWrite::default()
    };
    store
        .apply_alerting(&write, t("2025-03-30T00:00:00Z"))
        .await
        .unwrap();
    store
        .upsert_maintenance(
            Uuid::now_v7(),
            "db-patch",
            &json!({"name": "db-patch", "monitors": ["db"], "starts_at": "2025-03-29T23:30:00Z", "ends_at": "2025-03-29T23:45:00Z"}),
            MonitorSource::Api,
            t("2025-03-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let page: StatusPageConfig = serde_json::from_value(json!({
        "slug": "p", "title": "P", "timezone": "Europe/Berlin",
        "sections": [{"name": "S", "monitors": [{"name": "db", "public_name": "Database"}, "web", "gone"]}]
    }))
    .unwrap();
    let rec = store
        .create_status_page(&page, MonitorSource::Api, t("2025-03-01T00:00:00Z"))
        .await
        .unwrap();
    let m = build(&store, &rec, t("2025-03-31T10:00:00Z"))
        .await
        .unwrap();

    assert_eq!(m.status.indicator, "operational");
    let mons = &m.sections[0].monitors;
    assert_eq!(mons.len(), 2, "a name that matches no monitor is left out");
    let (d, w) = (&mons[0], &mons[1]);
    assert_eq!(d.name, "Database");
    let day =
        |m: &PublicMonitor, date: &str| m.days.iter().find(|x| x.date == date).unwrap().clone();
    // The 29th (24 h in Berlin) has 1 h of downtime; the 30th (23 h, clocks go
    // forward) has 1 h of incident minus 15 min of maintenance.
    let d29 = day(d, "2025-03-29");
    assert_eq!((d29.downtime_ms, d29.maintenance_ms), (3_600_000, 0));
    assert_eq!(d29.uptime_text.as_deref(), Some("95.833%"));
    let d30 = day(d, "2025-03-30");
    assert_eq!((d30.downtime_ms, d30.maintenance_ms), (2_700_000, 900_000));
    assert_eq!(
        d30.uptime,
        Some(1.0 - 2_700_000.0 / (23.0 * 3_600_000.0 - 900_000.0))
    );
    assert_eq!(d30.incidents.len(), 1);
    assert_eq!(d30.incidents[0].title, "Service disruption");
    // web was first seen at noon UTC on the 29th: no data before, half a day then.
    assert_eq!(day(w, "2025-03-28").uptime, None);
    assert_eq!(day(w, "2025-03-29").uptime, Some(1.0));
    assert_eq!(d.days.len(), 90);
    assert_eq!(m.incident_history.len(), 1);
    assert_eq!(m.incident_history[0].monitors, ["Database"]);
    assert_eq!(m.incident_history[0].duration_ms, 7_200_000);
    // The browser tab says "status" once.
    assert!(crate::html::page(&m, "v").contains("<title>P status</title>"));
    let mut acme = m.clone();
    acme.page.title = "Acme Status".into();
    assert!(crate::html::page(&acme, "v").contains("<title>Acme Status</title>"));
    // Nothing private made it into the model.
    let all = serde_json::to_string(&m).unwrap() + &crate::html::page(&m, "v");
    for private in [
        "db.internal",
        "refused",
        "db-patch",
        "local",
        &inc.to_string(),
        &db.to_string(),
    ] {
        assert!(!all.contains(private), "{private} leaked");
    }
    // The 90-day figure matches the uptime of the same window computed alone.
    let now = t("2025-03-31T10:00:00Z");
    let dbrec = store.get_monitor(db).await.unwrap().unwrap();
    let (u, n) = uptime_of(
        &store,
        &dbrec,
        Span::new(now.as_millisecond() - 90 * DAY_MS, now.as_millisecond()),
        now,
    )
    .await
    .unwrap();
    assert_eq!((u.ratio(), n), (d.uptime.d90, 1));
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
