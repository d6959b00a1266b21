//! The dashboard's summaries of results and rollups, and the indexes that serve them.

use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;
use vigilmon_core::{ErrorKind, MonitorId, MonitorState, Verdict};

use crate::{Db, Location, check, create, t, up};

pub(crate) async fn result_buckets_summarise_checks(db: Db) {
    let s = &db.store;
    let a = create(s, "a").await;
    let b = create(s, "b").await;
    let down = || Verdict::down(ErrorKind::Status, "status 500");
    let mut batch = vec![
        up(a.id, "local", t(0)),
        up(a.id, "local", t(10)),
        check(
            a.id,
            "local",
            t(20),
            down(),
            (MonitorState::Up, 1),
            MonitorState::Up,
        ),
        up(a.id, "local", t(65)),
        up(b.id, "local", t(5)),
        up(b.id, "local", t(-30)), // before `since`: left out
    ];
    batch[1].result.duration_ms = 100;
    batch[3].result.duration_ms = 7;
    s.record_results(&batch).await.unwrap();

    let all = s.result_buckets(t(0), 60_000, None).await.unwrap();
    let mut expect = vec![
        (a.id, 0, 3, 2, (42 + 100 + 42) / 3, 100),
        (a.id, 1, 1, 1, 7, 7),
        (b.id, 0, 1, 1, 42, 42),
    ];
    expect.sort_by_key(|e| (e.0, e.1));
    let got: Vec<_> = all
        .iter()
        .map(|x| (x.monitor_id, x.bucket, x.checks, x.ok, x.avg_ms, x.max_ms))
        .collect();
    assert_eq!(got, expect);

    let only_b = s.result_buckets(t(0), 60_000, Some(b.id)).await.unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].monitor_id, b.id);
    assert!(
        s.result_buckets(t(100), 60_000, None)
            .await
            .unwrap()
            .is_empty()
    );

    // Checks and passed checks per monitor since a time (the dashboard's 24-hour
    // counts after the rollup watermark); a monitor without results is left out.
    let c = create(s, "c").await;
    let mut expect = vec![(a.id, 4, 3), (b.id, 1, 1)];
    expect.sort_by_key(|e| e.0);
    assert_eq!(
        s.result_counts(t(0), &[a.id, b.id, c.id]).await.unwrap(),
        expect
    );
    assert_eq!(
        s.result_counts(t(15), &[a.id]).await.unwrap(),
        vec![(a.id, 2, 1)]
    );
    assert!(s.result_counts(t(0), &[c.id]).await.unwrap().is_empty());
    assert!(
        s.result_counts(t(100), &[a.id, b.id])
            .await
            .unwrap()
            .is_empty()
    );

    // The latest raw results, oldest first.
    let recent = s.recent_checks(t(10), &[a.id, b.id]).await.unwrap();
    let got: Vec<_> = recent.iter().map(|r| (r.0, r.1, r.2, r.3)).collect();
    assert_eq!(
        got,
        vec![
            (a.id, t(10), true, 100),
            (a.id, t(20), false, 42),
            (a.id, t(65), true, 7)
        ]
    );

    // Hourly rollups of all regions, summed per monitor over a range of hours.
    use vigilmon_core::rollup::Rollup;
    use vigilmon_store::{ALL_REGIONS, RollupPeriod, RollupRow};
    let hour = |h: i64| Timestamp::from_second(1_700_000_000 / 3600 * 3600 + h * 3600).unwrap();
    let row = |id: MonitorId, region: &str, h: i64, checks: u64, failures: u64| RollupRow {
        monitor_id: id,
        region: region.into(),
        bucket_start: hour(h),
        rollup: Rollup {
            checks,
            failures,
            duration_sum: checks * 10,
            ..Default::default()
        },
    };
    s.upsert_rollups(
        RollupPeriod::Hour,
        &[
            row(a.id, ALL_REGIONS, 0, 60, 1),
            row(a.id, ALL_REGIONS, 1, 60, 2),
            row(a.id, "local", 1, 60, 2),
            row(a.id, ALL_REGIONS, 2, 60, 50),
            row(b.id, ALL_REGIONS, 1, 30, 0),
        ],
    )
    .await
    .unwrap();
    let mut expect = vec![(a.id, 120, 3), (b.id, 30, 0)];
    expect.sort_by_key(|e| e.0);
    assert_eq!(
        s.rollup_counts(hour(0), hour(2), &[a.id, b.id])
            .await
            .unwrap(),
        expect
    );
    assert_eq!(
        s.rollup_counts(hour(0), hour(3), &[a.id]).await.unwrap(),
        vec![(a.id, 180, 53)]
    );
    assert!(
        s.rollup_counts(hour(5), hour(6), &[a.id, b.id])
            .await
            .unwrap()
            .is_empty()
    );
}

/// The dashboard's reads by time are answered from covering indexes (migration 7):
/// the indexes exist on both backends, the one they replace is gone, and SQLite plans
/// the dashboard's queries on them without visiting the table or sorting.
pub(crate) async fn dashboard_reads_use_covering_indexes(db: Db) {
    let wanted = [
        "check_results_by_monitor",
        "check_results_checked_at",
        "rollups_hourly_region_time",
    ];
    let names: Vec<String> = match &db.location {
        Location::Sqlite(dir) => {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(dir.join(vigilmon_store::SQLITE_FILE_NAME)),
                )
                .await
                .unwrap();
            let plan = |sql: &'static str| {
                let pool = pool.clone();
                async move {
                    let rows = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    rows.iter()
                        .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
                        .collect::<Vec<_>>()
                        .join(" | ")
                }
            };
            // The shapes of `Store::recent_checks`, `result_counts` and `rollup_counts`
            // for the listed monitors.
            let recent = plan(
                "SELECT monitor_id, string_agg(CAST(checked_at AS TEXT) || ' ' || \
                 CAST(duration_ms AS TEXT) || ' ' || CASE WHEN ok THEN '1' ELSE '0' END, ',') \
                 FROM check_results WHERE monitor_id IN (x'01', x'02', x'03') \
                 AND checked_at >= 0 GROUP BY monitor_id",
            )
            .await;
            assert!(
                recent.contains("COVERING INDEX check_results_by_monitor")
                    && !recent.contains("TEMP B-TREE"),
                "{recent}"
            );
            let counts = plan(
                "SELECT monitor_id, COUNT(*), SUM(CASE WHEN ok THEN 1 ELSE 0 END) \
                 FROM check_results WHERE monitor_id IN (x'01', x'02', x'03') \
                 AND checked_at >= 0 GROUP BY monitor_id",
            )
            .await;
            assert!(
                counts.contains("COVERING INDEX check_results_by_monitor")
                    && !counts.contains("TEMP B-TREE"),
                "{counts}"
            );
            let rollups = plan(
                "SELECT monitor_id, SUM(checks), SUM(failures) FROM rollups_hourly \
                 INDEXED BY sqlite_autoindex_rollups_hourly_1 \
                 WHERE monitor_id IN (x'01', x'02') AND region = '*' AND bucket_start >= 0 \
                 AND bucket_start < 10 GROUP BY monitor_id",
            )
            .await;
            assert!(
                rollups.contains("SEARCH rollups_hourly USING INDEX sqlite_autoindex_rollups_hourly_1 (monitor_id=? AND region=? AND bucket_start>? AND bucket_start<?)")
                    && !rollups.contains("TEMP B-TREE"),
                "{rollups}"
            );
            let rows = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'index'")
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            rows.iter()
                .map(|r| sqlx::Row::get::<String, _>(r, "name"))
                .collect()
        }
        Location::Postgres(url) => {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .unwrap();
            let rows =
                sqlx::query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            rows.iter()
                .map(|r| sqlx::Row::get::<String, _>(r, "indexname"))
                .collect()
        }
    };
    for w in wanted {
        assert!(names.iter().any(|n| n == w), "{w} missing: {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n == "check_results_monitor_checked_at"),
        "the index on (monitor_id, checked_at) is replaced: {names:?}"
    );
}
