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

/// A database whose results were stored before their compact form (schema 17: text
/// columns, an id per row) keeps every field of every result when a binary with the
/// compact form opens it; results recorded after the upgrade go beside them, and a
/// monitor's deletion still takes its results with it.
pub(crate) async fn an_upgrade_keeps_every_field_of_every_result(db: Db) {
    db.store.close().await;
    crate::start_over_at_schema(&db, 17).await;
    let (a, b) = (new_id(), new_id());
    let monitor_sql = "INSERT INTO monitors (id, name, kind, config, source, paused, state, \
        state_changed_at, last_checked_at, created_at, updated_at) \
        VALUES ($1, $2, 'tcp', CONFIG, 'api', FALSE, 'up', NULL, NULL, 0, 0)";
    let config = |n: &str| format!(r#"{{"name":"{n}","type":"tcp","host":"127.0.0.1","port":1}}"#);
    let result_sql = "INSERT INTO check_results (monitor_id, region, checked_at, ok, state, \
        verdict, duration_ms, dns_ms, connect_ms, tls_ms, ttfb_ms, status_code, error_kind, \
        error, body_excerpt, cert_expires_at, remote_addr, details) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";
    type Row = (
        MonitorId,
        &'static str,
        i64,
        bool,
        &'static str,
        &'static str,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<i64>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let ms = |s: i64| t(s).as_millisecond();
    let rows: Vec<Row> = vec![
        (
            a,
            "eu-west-1",
            ms(1) + 250,
            false,
            "down",
            "down",
            1234,
            Some(3),
            Some(10),
            Some(40),
            Some(900),
            Some(503),
            Some("status"),
            Some("status 503, expected 2xx"),
            Some("<h1>Service unavailable</h1> \u{e9}"),
            Some(ms(86_400 * 30)),
            Some("[2001:db8::1]:443"),
            Some(r#"{"role":"primary","used_memory":1024}"#),
        ),
        (
            a,
            "eu-west-1",
            ms(2),
            true,
            "degraded",
            "degraded",
            80,
            None,
            Some(1),
            None,
            None,
            None,
            None,
            Some("slower than 50 ms"),
            None,
            None,
            Some("127.0.0.1:6379"),
            None,
        ),
        (
            a,
            "local",
            ms(2),
            true,
            "up",
            "up",
            7,
            None,
            Some(0),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            Some("db.internal:5432"),
            None,
        ),
        (
            b,
            "local",
            ms(3),
            false,
            "pending",
            "down",
            5000,
            None,
            None,
            None,
            None,
            None,
            Some("timeout"),
            Some("no answer within 5 s"),
            None,
            None,
            None,
            None,
        ),
    ];
    macro_rules! fill {
        ($pool:expr, $config:expr, $false:expr) => {{
            for (id, name) in [(a, "a"), (b, "b")] {
                sqlx::query(sqlx::AssertSqlSafe(
                    monitor_sql
                        .replace("CONFIG", $config)
                        .replace("FALSE", $false),
                ))
                .bind(id.0)
                .bind(name)
                .bind(config(name))
                .execute(&$pool)
                .await
                .unwrap();
            }
            for r in &rows {
                sqlx::query(result_sql)
                    .bind(r.0.0)
                    .bind(r.1)
                    .bind(r.2)
                    .bind(r.3)
                    .bind(r.4)
                    .bind(r.5)
                    .bind(r.6)
                    .bind(r.7)
                    .bind(r.8)
                    .bind(r.9)
                    .bind(r.10)
                    .bind(r.11)
                    .bind(r.12)
                    .bind(r.13)
                    .bind(r.14)
                    .bind(r.15)
                    .bind(r.16)
                    .bind(r.17)
                    .execute(&$pool)
                    .await
                    .unwrap();
            }
            $pool.close().await;
        }};
    }
    match &db.location {
        crate::Location::Sqlite(dir) => {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(dir.join(vigilmon_store::SQLITE_FILE_NAME)),
                )
                .await
                .unwrap();
            // $3 is the config (binds are positional: name is $2).
            fill!(pool, "$3", "0")
        }
        crate::Location::Postgres(url) => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .unwrap();
            fill!(pool, "$3::jsonb", "FALSE")
        }
    }

    let s = db.reopen().await;
    let all = ResultFilter {
        since: Some(t(-1)),
        ..ResultFilter::default()
    };
    let listed = s.list_results(a, &all).await.unwrap();
    let got: Vec<(CheckResult, MonitorState)> =
        listed.into_iter().map(|r| (r.result, r.state)).collect();
    let first = CheckResult {
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
        body_excerpt: Some("<h1>Service unavailable</h1> \u{e9}".into()),
        cert_expires_at: Some(t(86_400 * 30)),
        remote_addr: Some("[2001:db8::1]:443".into()),
        details: Some(serde_json::json!({"used_memory": 1024, "role": "primary"})),
    };
    let slow = CheckResult {
        region: region("eu-west-1"),
        checked_at: t(2),
        duration_ms: 80,
        phases: Phases {
            connect_ms: Some(1),
            ..Phases::default()
        },
        status_code: None,
        verdict: Verdict::degraded("slower than 50 ms"),
        body_excerpt: None,
        cert_expires_at: None,
        remote_addr: Some("127.0.0.1:6379".into()),
        details: None,
    };
    let local = CheckResult {
        region: region("local"),
        duration_ms: 7,
        phases: Phases {
            connect_ms: Some(0),
            ..Phases::default()
        },
        verdict: Verdict::Up,
        remote_addr: Some("db.internal:5432".into()),
        ..slow.clone()
    };
    // Newest first; of two at one time, the region numbered later first ("eu-west-1"
    // and "local" were numbered in name order by the upgrade).
    assert_eq!(
        got,
        [
            (local, MonitorState::Up),
            (slow, MonitorState::Degraded),
            (first, MonitorState::Down),
        ]
    );
    let of_b = s.list_results(b, &all).await.unwrap();
    assert_eq!(of_b.len(), 1);
    assert_eq!(
        of_b[0].result.verdict,
        Verdict::down(ErrorKind::Timeout, "no answer within 5 s")
    );
    assert_eq!(of_b[0].state, MonitorState::Pending);

    // After the upgrade: new results beside the old, a new region, a new monitor.
    s.record_results(&[up(a, "ap-south-1", t(10)), up(b, "local", t(10))])
        .await
        .unwrap();
    let c = create(&s, "c").await;
    s.record_results(&[up(c.id, "local", t(11))]).await.unwrap();
    assert_eq!(s.count_results(a).await.unwrap(), 4);
    assert_eq!(s.count_results(b).await.unwrap(), 2);
    assert_eq!(s.count_results(c.id).await.unwrap(), 1);
    let newest = s.list_results(a, &all).await.unwrap();
    assert_eq!(newest[0].result.region.as_str(), "ap-south-1");
    // Deleting a monitor takes its results, and only its.
    assert!(s.delete_monitor(a).await.unwrap());
    assert_eq!(s.count_results(a).await.unwrap(), 0);
    assert_eq!(s.count_results(b).await.unwrap(), 2);
    assert_eq!(s.count_results(c.id).await.unwrap(), 1);
    // The newest monitor's number may be given again once it is gone, never with its
    // results.
    assert!(s.delete_monitor(c.id).await.unwrap());
    let d = create(&s, "d").await;
    assert_eq!(s.count_results(d.id).await.unwrap(), 0);
    s.close().await;
}

/// Recording a batch is recording its checks one after another: over random batches
/// (several monitors, one of them paused, three regions, states that change and change
/// back, times out of order, history-only checks, the same check twice), monitors
/// written with one batch end exactly as their twins written check by check —
/// states, change times, last check times, region rows and stored results.
pub(crate) async fn a_batch_is_its_checks_in_turn(db: Db) {
    let s = &db.store;
    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }
    let mut rng = Lcg(11);
    let mut pair = Vec::new();
    for i in 0..4 {
        let mut config = crate::http(&format!("batched-{i}"), "https://example.com/");
        config.paused = i == 3;
        let mut twin = crate::http(&format!("in-turn-{i}"), "https://example.com/");
        twin.paused = i == 3;
        let a = s
            .create_monitor(new_id(), &config, vigilmon_store::MonitorSource::Api, t(0))
            .await
            .unwrap();
        let b = s
            .create_monitor(new_id(), &twin, vigilmon_store::MonitorSource::Api, t(0))
            .await
            .unwrap();
        pair.push((a.id, b.id));
    }
    use MonitorState::*;
    let states = [Up, Down, Degraded, Pending];
    let regions = ["eu", "us", "local"];
    // Long batches where states change often, and short ones of two monitors in one
    // state throughout (which the stored state may or may not already be).
    for round in 0..24i64 {
        let short = round % 2 == 1;
        let mut batch = Vec::new();
        let size = if short {
            1 + rng.below(8)
        } else {
            20 + rng.below(60)
        };
        let fixed = states[rng.below(4) as usize];
        let pick_state = |rng: &mut Lcg| {
            if short {
                fixed
            } else {
                states[rng.below(4) as usize]
            }
        };
        for _ in 0..size {
            let m = rng.below(if short { 2 } else { 4 }) as usize;
            let state = pick_state(&mut rng);
            let verdict = match state {
                Down => Verdict::down(ErrorKind::Connect, "refused"),
                Degraded => Verdict::degraded("slow"),
                _ => Verdict::Up,
            };
            // Mostly forward in time, sometimes behind (a late agent), sometimes the
            // very check again.
            let at = t(round * 1000 + rng.below(400) as i64);
            let mut c = check(
                pair[m].0,
                regions[rng.below(3) as usize],
                at,
                verdict,
                (state, rng.below(3) as u32),
                pick_state(&mut rng),
            );
            c.history_only = rng.below(5) == 0;
            if rng.below(10) == 0 {
                batch.push(c.clone());
            }
            batch.push(c);
        }
        s.record_results(&batch).await.unwrap();
        for c in &batch {
            let twin = pair.iter().find(|(a, _)| *a == c.monitor_id).unwrap().1;
            let one = RecordedCheck {
                monitor_id: twin,
                ..c.clone()
            };
            s.record_results(&[one]).await.unwrap();
        }
        // After every batch (a later one would overwrite what this one got wrong).
        same_as_twins(s, &pair, round).await;
    }
}

/// Monitors of `pair` and their twins have the same state, region rows and results.
async fn same_as_twins(s: &vigilmon_store::Store, pair: &[(MonitorId, MonitorId)], round: i64) {
    let all = ResultFilter {
        since: Some(t(-1)),
        limit: 1000,
        ..ResultFilter::default()
    };
    for (a, b) in pair {
        let (ma, mb) = (
            s.get_monitor(*a).await.unwrap().unwrap(),
            s.get_monitor(*b).await.unwrap().unwrap(),
        );
        let name = &ma.config.name;
        assert_eq!(
            (ma.state, ma.state_changed_at, ma.last_checked_at),
            (mb.state, mb.state_changed_at, mb.last_checked_at),
            "{name} after batch {round}"
        );
        assert_eq!(
            s.region_states(*a).await.unwrap(),
            s.region_states(*b).await.unwrap(),
            "{name} after batch {round}"
        );
        let results = |rs: Vec<vigilmon_store::StoredResult>| -> Vec<(CheckResult, MonitorState)> {
            rs.into_iter().map(|r| (r.result, r.state)).collect()
        };
        let (ra, rb) = (
            results(s.list_results(*a, &all).await.unwrap()),
            results(s.list_results(*b, &all).await.unwrap()),
        );
        assert_eq!(ra, rb, "{name} after batch {round}");
    }
}
