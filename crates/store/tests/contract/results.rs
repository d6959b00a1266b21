//! Check results: recording batches (with the region and monitor state they carry),
//! reading them back with filters and limits, and deleting old ones.

use jiff::{SignedDuration, Timestamp};
use vigilmon_core::state::RegionStatus;
use vigilmon_core::{CheckResult, ErrorKind, MonitorId, MonitorState, Phases, Verdict};
use vigilmon_store::{RecordedCheck, RegionStateRecord, ResultFilter};

use crate::{Db, check, create, new_id, region, result, t, up};

pub(crate) async fn record_results_updates_regions_and_monitors(db: Db) {
    let s = &db.store;
    let a = create(s, "a").await;
    let b = create(s, "b").await;
    use MonitorState::*;

    s.record_results(&[
        check(a.id, "local", t(1), Verdict::Up, (Up, 0), Up),
        check(
            a.id,
            "eu",
            t(1),
            Verdict::down(ErrorKind::Timeout, "timed out after 10s"),
            (Pending, 1),
            Up,
        ),
        check(
            b.id,
            "local",
            t(1),
            Verdict::degraded("slow: 900ms"),
            (Degraded, 0),
            Degraded,
        ),
    ])
    .await
    .unwrap();

    let ra = s.get_monitor(a.id).await.unwrap().unwrap();
    assert_eq!(
        (ra.state, ra.state_changed_at, ra.last_checked_at),
        (Up, Some(t(1)), Some(t(1)))
    );
    let rb = s.get_monitor(b.id).await.unwrap().unwrap();
    assert_eq!((rb.state, rb.state_changed_at), (Degraded, Some(t(1))));

    let regions = s.region_states(a.id).await.unwrap();
    assert_eq!(
        regions,
        vec![
            RegionStateRecord {
                region: region("eu"),
                status: RegionStatus {
                    state: Pending,
                    consecutive_failures: 1
                },
                checked_at: Some(t(1)),
                duration_ms: Some(42),
                error_kind: Some(ErrorKind::Timeout),
                error: Some("timed out after 10s".into()),
                cert_expires_at: None,
            },
            RegionStateRecord {
                region: region("local"),
                status: RegionStatus {
                    state: Up,
                    consecutive_failures: 0
                },
                checked_at: Some(t(1)),
                duration_ms: Some(42),
                error_kind: None,
                error: None,
                cert_expires_at: None,
            },
        ]
    );
    let rb_regions = s.region_states(b.id).await.unwrap();
    assert_eq!(rb_regions.len(), 1);
    assert_eq!(rb_regions[0].status.state, Degraded);
    assert_eq!(rb_regions[0].error_kind, None);
    assert_eq!(rb_regions[0].error.as_deref(), Some("slow: 900ms"));

    // the second failure in eu: the region is down, the monitor degraded
    s.record_results(&[
        check(a.id, "local", t(2), Verdict::Up, (Up, 0), Up),
        check(
            a.id,
            "eu",
            t(2),
            Verdict::down(ErrorKind::Connect, "refused"),
            (Down, 2),
            Degraded,
        ),
    ])
    .await
    .unwrap();
    let ra = s.get_monitor(a.id).await.unwrap().unwrap();
    assert_eq!(
        (ra.state, ra.state_changed_at, ra.last_checked_at),
        (Degraded, Some(t(2)), Some(t(2)))
    );
    let eu = &s.region_states(a.id).await.unwrap()[0];
    assert_eq!(
        eu.status,
        RegionStatus {
            state: Down,
            consecutive_failures: 2
        }
    );
    assert_eq!(
        (eu.error_kind, eu.error.as_deref()),
        (Some(ErrorKind::Connect), Some("refused"))
    );

    // same state again: state_changed_at stays, last_checked_at moves
    s.record_results(&[check(a.id, "local", t(3), Verdict::Up, (Up, 0), Degraded)])
        .await
        .unwrap();
    let ra = s.get_monitor(a.id).await.unwrap().unwrap();
    assert_eq!(
        (ra.state, ra.state_changed_at, ra.last_checked_at),
        (Degraded, Some(t(2)), Some(t(3)))
    );

    // a late result does not move last_checked_at backwards
    let late = t(2) + SignedDuration::from_millis(500);
    s.record_results(&[check(a.id, "local", late, Verdict::Up, (Up, 0), Degraded)])
        .await
        .unwrap();
    assert_eq!(
        s.get_monitor(a.id).await.unwrap().unwrap().last_checked_at,
        Some(t(3))
    );

    // the same result sent twice (an agent retrying a batch) is stored once
    s.record_results(&[check(a.id, "local", late, Verdict::Up, (Up, 0), Degraded)])
        .await
        .unwrap();

    // recovery clears the error of the region row
    s.record_results(&[check(a.id, "eu", t(4), Verdict::Up, (Up, 0), Up)])
        .await
        .unwrap();
    let eu = &s.region_states(a.id).await.unwrap()[0];
    assert_eq!(
        (eu.status.state, eu.error_kind, eu.error.clone()),
        (Up, None, None)
    );

    assert_eq!(s.count_results(a.id).await.unwrap(), 7);
    assert_eq!(s.count_results(b.id).await.unwrap(), 1);

    let all = s.all_region_states().await.unwrap();
    let mut expected = vec![(a.id, "eu"), (a.id, "local"), (b.id, "local")];
    expected.sort();
    let got: Vec<(MonitorId, &str)> = all.iter().map(|(id, r)| (*id, r.region.as_str())).collect();
    assert_eq!(got, expected);

    // an empty batch is fine
    s.record_results(&[]).await.unwrap();
}

pub(crate) async fn results_of_deleted_monitors_are_skipped(db: Db) {
    let s = &db.store;
    let a = create(s, "a").await;
    let gone = create(s, "gone").await;
    assert!(s.delete_monitor(gone.id).await.unwrap());
    let never = new_id();
    s.record_results(&[
        up(gone.id, "local", t(1)),
        up(a.id, "local", t(1)),
        up(never, "local", t(1)),
    ])
    .await
    .unwrap();
    assert_eq!(s.count_results(a.id).await.unwrap(), 1);
    assert_eq!(s.count_results(gone.id).await.unwrap(), 0);
    assert_eq!(s.count_results(never).await.unwrap(), 0);
    assert!(s.region_states(gone.id).await.unwrap().is_empty());
    assert_eq!(s.get_monitor(gone.id).await.unwrap(), None);
    assert_eq!(s.all_region_states().await.unwrap().len(), 1);
}

/// A result kept for the history only is listed with the others, but the monitor's and
/// the region's current state stay as they were; one of a deleted monitor is skipped.
pub(crate) async fn history_only_results_leave_the_state_alone(db: Db) {
    let s = &db.store;
    let a = create(s, "a").await;
    s.record_results(&[up(a.id, "eu", t(0))]).await.unwrap();
    let mut late = check(
        a.id,
        "eu",
        t(10),
        Verdict::down(ErrorKind::Connect, "connection refused"),
        (MonitorState::Up, 0),
        MonitorState::Up,
    );
    late.history_only = true;
    let mut gone = late.clone();
    gone.monitor_id = new_id();
    s.record_results(&[late, gone.clone()]).await.unwrap();

    let listed = s
        .list_results(a.id, &ResultFilter::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].result.checked_at, t(10), "newest first");
    assert!(!listed[0].result.verdict.is_ok());
    let regions = s.region_states(a.id).await.unwrap();
    assert_eq!(regions.len(), 1);
    assert_eq!(
        regions[0].checked_at,
        Some(t(0)),
        "the region's latest is unchanged"
    );
    assert_eq!(regions[0].error, None);
    assert_eq!(regions[0].status.state, MonitorState::Up);
    let m = s.get_monitor(a.id).await.unwrap().unwrap();
    assert_eq!(m.state, MonitorState::Up);
    assert_eq!(s.count_results(gone.monitor_id).await.unwrap(), 0);
}

pub(crate) async fn results_roundtrip_every_field(db: Db) {
    let s = &db.store;
    let m = create(s, "m").await;
    let full = CheckResult {
        region: region("eu-west-1"),
        checked_at: t(1) + SignedDuration::from_millis(250),
        duration_ms: 1234,
        phases: Phases {
            dns_ms: Some(3),
            connect_ms: Some(10),
            tls_ms: Some(40),
            ttfb_ms: Some(900),
        },
        status_code: Some(503),
        verdict: Verdict::down(ErrorKind::Status, "status 503, expected 2xx"),
        body_excerpt: Some("<h1>Service unavailable</h1> \u{e9}\u{2026}".into()),
        cert_expires_at: Some(t(86_400 * 30)),
        remote_addr: Some("[2001:db8::1]:443".into()),
        details: Some(serde_json::json!({"used_memory": 1024, "role": "primary"})),
    };
    let degraded = CheckResult {
        verdict: Verdict::degraded("certificate expires in 3 days"),
        checked_at: t(2),
        ..full.clone()
    };
    let plain = result("local", t(3), Verdict::Up);
    s.record_results(&[
        RecordedCheck {
            monitor_id: m.id,
            result: full.clone(),
            region_status: RegionStatus {
                state: MonitorState::Pending,
                consecutive_failures: 1,
            },
            monitor_state: MonitorState::Pending,
            history_only: false,
        },
        RecordedCheck {
            monitor_id: m.id,
            result: degraded.clone(),
            region_status: RegionStatus {
                state: MonitorState::Degraded,
                consecutive_failures: 0,
            },
            monitor_state: MonitorState::Degraded,
            history_only: false,
        },
        up(m.id, "local", t(3)),
    ])
    .await
    .unwrap();
    let stored = s
        .list_results(m.id, &ResultFilter::default())
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0].result, plain);
    assert_eq!(stored[1].result, degraded);
    assert_eq!(stored[2].result, full);
    assert_eq!(
        stored.iter().map(|r| r.state).collect::<Vec<_>>(),
        [
            MonitorState::Up,
            MonitorState::Degraded,
            MonitorState::Pending
        ]
    );
    assert!(stored.iter().all(|r| r.monitor_id == m.id));
    assert!(stored[0].id > stored[1].id && stored[1].id > stored[2].id);
    // Each region keeps the certificate expiry its latest check saw.
    let regions = s.region_states(m.id).await.unwrap();
    let cert = |name: &str| {
        regions
            .iter()
            .find(|r| r.region.as_str() == name)
            .map(|r| r.cert_expires_at)
    };
    assert_eq!(cert("eu-west-1"), Some(Some(t(86_400 * 30))));
    assert_eq!(cert("local"), Some(None));
}

pub(crate) async fn list_results_filters(db: Db) {
    let s = &db.store;
    let m = create(s, "m").await;
    let other = create(s, "other").await;
    // ten results, one per second, alternating regions; plus noise on another monitor
    let batch: Vec<RecordedCheck> = (0..10)
        .map(|i| up(m.id, if i % 2 == 0 { "local" } else { "eu" }, t(i)))
        .chain([up(other.id, "local", t(5))])
        .collect();
    s.record_results(&batch).await.unwrap();
    let times = |rs: Vec<vigilmon_store::StoredResult>| -> Vec<Timestamp> {
        rs.into_iter().map(|r| r.result.checked_at).collect()
    };

    let all = times(
        s.list_results(m.id, &ResultFilter::default())
            .await
            .unwrap(),
    );
    assert_eq!(
        all,
        (0..10).rev().map(t).collect::<Vec<_>>(),
        "newest first"
    );

    let eu = ResultFilter {
        region: Some(region("eu")),
        ..Default::default()
    };
    assert_eq!(
        times(s.list_results(m.id, &eu).await.unwrap()),
        [t(9), t(7), t(5), t(3), t(1)]
    );
    let nowhere = ResultFilter {
        region: Some(region("ap")),
        ..Default::default()
    };
    assert!(s.list_results(m.id, &nowhere).await.unwrap().is_empty());

    let window = ResultFilter {
        since: Some(t(3)),
        until: Some(t(6)),
        ..Default::default()
    };
    assert_eq!(
        times(s.list_results(m.id, &window).await.unwrap()),
        [t(5), t(4), t(3)],
        "since is inclusive, until exclusive"
    );
    let since = ResultFilter {
        since: Some(t(8)),
        ..Default::default()
    };
    assert_eq!(
        times(s.list_results(m.id, &since).await.unwrap()),
        [t(9), t(8)]
    );
    let until = ResultFilter {
        until: Some(t(2)),
        ..Default::default()
    };
    assert_eq!(
        times(s.list_results(m.id, &until).await.unwrap()),
        [t(1), t(0)]
    );

    let limited = ResultFilter {
        limit: 3,
        ..Default::default()
    };
    assert_eq!(
        times(s.list_results(m.id, &limited).await.unwrap()),
        [t(9), t(8), t(7)]
    );
    let combined = ResultFilter {
        region: Some(region("local")),
        since: Some(t(1)),
        until: Some(t(9)),
        limit: 2,
    };
    assert_eq!(
        times(s.list_results(m.id, &combined).await.unwrap()),
        [t(8), t(6)]
    );

    assert!(
        s.list_results(new_id(), &ResultFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn list_results_limit_default_and_cap(db: Db) {
    let s = &db.store;
    let m = create(s, "m").await;
    let batch: Vec<RecordedCheck> = (0..1005).map(|i| up(m.id, "local", t(i))).collect();
    s.record_results(&batch).await.unwrap();
    assert_eq!(s.count_results(m.id).await.unwrap(), 1005);
    let default = s
        .list_results(m.id, &ResultFilter::default())
        .await
        .unwrap();
    assert_eq!(default.len(), 100);
    assert_eq!(default[0].result.checked_at, t(1004));
    let huge = ResultFilter {
        limit: 5000,
        ..Default::default()
    };
    let capped = s.list_results(m.id, &huge).await.unwrap();
    assert_eq!(capped.len(), 1000);
    assert_eq!(capped[999].result.checked_at, t(5));
}

pub(crate) async fn delete_results_before_in_batches(db: Db) {
    let s = &db.store;
    let a = create(s, "a").await;
    let b = create(s, "b").await;
    let batch: Vec<RecordedCheck> = (0..25)
        .map(|i| up(if i % 2 == 0 { a.id } else { b.id }, "local", t(i)))
        .collect();
    s.record_results(&batch).await.unwrap();

    let mut deleted = Vec::new();
    loop {
        let n = s.delete_results_before(t(20), 7).await.unwrap();
        deleted.push(n);
        if n == 0 {
            break;
        }
    }
    assert_eq!(deleted, [7, 7, 6, 0]);
    // t(20)..t(24) are left: 20, 22, 24 for a; 21, 23 for b
    assert_eq!(s.count_results(a.id).await.unwrap(), 3);
    assert_eq!(s.count_results(b.id).await.unwrap(), 2);
    let left = s
        .list_results(a.id, &ResultFilter::default())
        .await
        .unwrap();
    assert_eq!(
        left.last().unwrap().result.checked_at,
        t(20),
        "the cutoff is exclusive"
    );

    // 0 means the default batch size
    assert_eq!(s.delete_results_before(t(100), 0).await.unwrap(), 5);
    assert_eq!(s.delete_results_before(t(100), 0).await.unwrap(), 0);
    // region state is not history: it stays
    assert_eq!(s.all_region_states().await.unwrap().len(), 2);
}

pub(crate) async fn a_monitor_and_its_regions_are_read_from_one_snapshot(db: Db) {
    let s = &db.store;
    let a = create(s, "a").await;
    let b = create(s, "b").await;
    use MonitorState::*;
    assert_eq!(
        s.monitor_with_regions(a.id).await.unwrap(),
        Some((a.clone(), Vec::new()))
    );
    s.record_results(&[
        check(a.id, "us", t(1), Verdict::Up, (Up, 0), Up),
        check(
            a.id,
            "eu",
            t(2),
            Verdict::down(ErrorKind::Connect, "refused"),
            (Down, 1),
            Degraded,
        ),
        up(b.id, "local", t(1)),
    ])
    .await
    .unwrap();
    let (monitor, regions) = s.monitor_with_regions(a.id).await.unwrap().unwrap();
    assert_eq!(monitor, s.get_monitor(a.id).await.unwrap().unwrap());
    assert_eq!(monitor.state, Degraded);
    assert_eq!(regions, s.region_states(a.id).await.unwrap());
    assert_eq!(
        regions
            .iter()
            .map(|r| r.region.as_str())
            .collect::<Vec<_>>(),
        ["eu", "us"]
    );
    assert_eq!(s.monitor_with_regions(new_id()).await.unwrap(), None);

    let (monitors, all) = s.monitors_with_regions().await.unwrap();
    assert_eq!(monitors, s.list_monitors().await.unwrap());
    assert_eq!(all, s.all_region_states().await.unwrap());
    assert_eq!(all.len(), 3);
}
