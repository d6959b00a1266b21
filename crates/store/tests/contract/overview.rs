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
    // A message with the packing's separators and more than ASCII.
    let down = || Verdict::down(ErrorKind::Status, "status 500, «Ünavailable» , x");
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
    let got: Vec<_> = recent
        .iter()
        .map(|r| {
            (
                r.monitor_id,
                r.checked_at,
                r.ok,
                r.duration_ms,
                r.error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (a.id, t(10), true, 100, None),
            (
                a.id,
                t(20),
                false,
                42,
                Some("status 500, «Ünavailable» , x")
            ),
            (a.id, t(65), true, 7, None)
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

/// Reads of raw results go through the primary key `(monitor_key, checked_at,
/// region_key)` of `check_results` (migration 18), its only index: SQLite plans the
/// dashboard's, the rollups' and retention's queries as searches of it, monitor by
/// monitor, never a scan of the table or a sort; the older indexes are gone on both
/// backends. The rollups' per-monitor reads use their primary key.
pub(crate) async fn dashboard_reads_use_covering_indexes(db: Db) {
    let wanted = ["monitors_result_key", "rollups_hourly_region_time"];
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
            let by_key = "SEARCH c USING PRIMARY KEY (monitor_key=? AND checked_at>?)";
            let in_range =
                "SEARCH c USING PRIMARY KEY (monitor_key=? AND checked_at>? AND checked_at<?)";
            // The shapes of `Store::recent_checks` and `result_counts` for the listed
            // monitors.
            let recent = plan(
                "SELECT m.id, string_agg(CAST(c.checked_at AS TEXT) || ' ' || \
                 CAST(c.duration_ms AS TEXT) || ' ' || CASE WHEN c.verdict < 2 THEN '1' ELSE '0' END \
                 || CASE WHEN c.verdict < 2 OR c.message IS NULL THEN '' \
                 ELSE ' ' || hex(substr(c.message, 1, 200)) END, ',') \
                 FROM monitors m JOIN check_results c ON c.monitor_key = m.result_key \
                 WHERE m.id IN (x'01', x'02', x'03') AND c.checked_at >= 0 GROUP BY m.id",
            )
            .await;
            assert!(
                recent.contains(by_key) && !recent.contains("SCAN c"),
                "{recent}"
            );
            let counts = plan(
                "SELECT m.id, COUNT(*), SUM(CASE WHEN c.verdict < 2 THEN 1 ELSE 0 END) \
                 FROM monitors m JOIN check_results c ON c.monitor_key = m.result_key \
                 WHERE m.id IN (x'01', x'02', x'03') AND c.checked_at >= 0 GROUP BY m.id",
            )
            .await;
            assert!(
                counts.contains(by_key) && !counts.contains("SCAN c"),
                "{counts}"
            );
            // `Store::list_results`: the limit ends the read (no sort).
            let list = plan(
                "SELECT c.checked_at, r.name FROM monitors m \
                 JOIN check_results c ON c.monitor_key = m.result_key \
                 JOIN result_regions r ON r.key = c.region_key \
                 WHERE m.id = x'01' AND (NULL IS NULL OR r.name = NULL) \
                 AND c.checked_at >= 0 AND c.checked_at < 10 \
                 ORDER BY c.checked_at DESC, c.region_key DESC LIMIT 100",
            )
            .await;
            assert!(
                list.contains(in_range) && !list.contains("TEMP B-TREE"),
                "{list}"
            );
            // `Store::raw_samples` (the rollups' hour) and retention's batch.
            let hour = plan(
                "SELECT m.id, r.name, c.verdict, c.duration_ms \
                 FROM monitors m CROSS JOIN check_results c \
                 JOIN result_regions r ON r.key = c.region_key \
                 WHERE c.monitor_key = m.result_key AND c.checked_at >= 0 AND c.checked_at < 10",
            )
            .await;
            assert!(
                hour.contains(in_range) && !hour.contains("SCAN c"),
                "{hour}"
            );
            let expire = plan(
                "DELETE FROM check_results WHERE checked_at < 10 AND \
                 (monitor_key, checked_at, region_key) IN \
                 (SELECT c.monitor_key, c.checked_at, c.region_key \
                  FROM monitors m JOIN check_results c ON c.monitor_key = m.result_key \
                  WHERE m.result_key >= 0 AND c.checked_at < 10 \
                  ORDER BY m.result_key LIMIT 1000)",
            )
            .await;
            assert!(
                expire.contains("SEARCH m USING COVERING INDEX monitors_result_key (result_key>?)")
                    && expire
                        .contains("SEARCH c USING PRIMARY KEY (monitor_key=? AND checked_at<?)")
                    && !expire.contains("SCAN check_results")
                    && !expire.contains("TEMP B-TREE"),
                "{expire}"
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
    // check_results has its primary key and nothing else: on SQLite the table is its
    // primary key (WITHOUT ROWID), so no index is listed for it at all; on PostgreSQL
    // the key is listed for the table and each partition.
    let of_results: Vec<&String> = names
        .iter()
        .filter(|n| n.contains("check_results"))
        .collect();
    match &db.location {
        Location::Sqlite(_) => assert!(of_results.is_empty(), "{of_results:?}"),
        Location::Postgres(_) => assert!(
            of_results.contains(&&"check_results_pkey".to_owned())
                && of_results.iter().all(|n| n.ends_with("_pkey")),
            "only the primary key: {of_results:?}"
        ),
    }
}
