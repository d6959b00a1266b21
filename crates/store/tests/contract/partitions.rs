//! Raw results by day: on PostgreSQL `check_results` is partitioned by UTC day and
//! expired a day at a time; SQLite keeps one table. Both keep every result through the
//! upgrade that introduced the partitions.

use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;
use vigilmon_core::MonitorId;
use vigilmon_store::{Commit, ResultFilter};

use crate::{Db, Location};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Where each of a monitor's results is stored (PostgreSQL): partition name per
/// `checked_at`, in time order.
async fn placement(url: &str, id: MonitorId) -> Vec<(Timestamp, String)> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT c.checked_at, c.tableoid::regclass::TEXT FROM check_results c \
         JOIN monitors m ON m.result_key = c.monitor_key WHERE m.id = $1 ORDER BY c.checked_at",
    )
    .bind(id.0)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.into_iter()
        .map(|(ms, p)| (Timestamp::from_millisecond(ms).unwrap(), p))
        .collect()
}

pub(crate) async fn results_expire_by_whole_days(db: Db) {
    let s = &db.store;
    let m = crate::create(s, "m").await;
    // Six days of results, two a day (01:00 and 13:00 UTC), before any of those days
    // has a partition: on PostgreSQL they land in the default partition.
    let mut checks = Vec::new();
    for day in 5..=10 {
        for hour in ["01", "13"] {
            let t = at(&format!("2030-01-{day:02}T{hour}:00:00Z"));
            checks.push(crate::up(m.id, "local", t));
        }
    }
    s.record_results(&checks).await.unwrap();
    assert_eq!(s.count_results(m.id).await.unwrap(), 12);

    let before = s.result_partitions().await.unwrap();
    let now = at("2030-01-10T12:00:00Z");
    let cutoff = at("2030-01-07T06:00:00Z");
    let rotation = s
        .rotate_result_partitions_under(now, cutoff, &Commit::unfenced())
        .await
        .unwrap();
    let deleted = s
        .delete_results_before(rotation.delete_before, 0)
        .await
        .unwrap();

    if s.backend() == "sqlite" {
        assert!(before.is_empty());
        assert!(rotation.created.is_empty() && rotation.dropped.is_empty());
        // Exact: everything before the cutoff goes, row by row.
        assert_eq!(rotation.delete_before, cutoff);
        assert_eq!(deleted, 5);
        assert_eq!(s.count_results(m.id).await.unwrap(), 7);
        assert!(s.result_partitions().await.unwrap().is_empty());
        return;
    }

    let Location::Postgres(url) = &db.location else {
        unreachable!()
    };
    // The migration made today's partition and the next three's by the wall clock; the
    // test's clock is years ahead, so those are wholly before the cutoff and go.
    assert!(before.len() >= 4, "{before:?}");
    assert_eq!(rotation.dropped, before);
    assert_eq!(
        rotation.created,
        [
            "check_results_p20300110",
            "check_results_p20300111",
            "check_results_p20300112",
            "check_results_p20300113"
        ]
    );
    // Retention by whole days: the cutoff's day is kept whole.
    assert_eq!(rotation.delete_before, at("2030-01-07T00:00:00Z"));
    assert_eq!(deleted, 4, "the 5th and 6th, from the default partition");
    // The 10th's rows moved out of the default partition into their new day.
    let placed = placement(url, m.id).await;
    let where_ = |t: &str| {
        placed
            .iter()
            .find(|(at_, _)| *at_ == at(t))
            .map(|(_, p)| p.as_str())
    };
    assert_eq!(
        where_("2030-01-07T01:00:00Z"),
        Some("check_results_default")
    );
    assert_eq!(
        where_("2030-01-10T01:00:00Z"),
        Some("check_results_p20300110")
    );
    assert_eq!(
        where_("2030-01-10T13:00:00Z"),
        Some("check_results_p20300110")
    );
    assert_eq!(placed.len(), 8);

    // New results of a day with a partition go to it, and read back like any other.
    s.record_results(&[crate::up(m.id, "local", at("2030-01-11T08:00:00Z"))])
        .await
        .unwrap();
    assert_eq!(
        where_in(url, m.id, "2030-01-11T08:00:00Z").await,
        "check_results_p20300111"
    );
    let listed = s
        .list_results(
            m.id,
            &ResultFilter {
                since: Some(at("2030-01-10T00:00:00Z")),
                ..ResultFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed[0].result.checked_at > listed[1].result.checked_at,
        "newest first"
    );

    // The same pass again changes nothing.
    let again = s
        .rotate_result_partitions_under(now, cutoff, &Commit::unfenced())
        .await
        .unwrap();
    assert!(
        again.created.is_empty() && again.dropped.is_empty(),
        "{again:?}"
    );

    // Two days on, the 10th ends before the cutoff's day and is dropped whole: its two
    // results go without a row-by-row delete.
    let later = s
        .rotate_result_partitions_under(
            at("2030-01-12T00:30:00Z"),
            at("2030-01-11T01:00:00Z"),
            &Commit::unfenced(),
        )
        .await
        .unwrap();
    assert_eq!(later.dropped, ["check_results_p20300110"]);
    assert_eq!(
        later.created,
        ["check_results_p20300114", "check_results_p20300115"]
    );
    assert_eq!(s.count_results(m.id).await.unwrap(), 7);
    assert_eq!(
        s.delete_results_before(later.delete_before, 0)
            .await
            .unwrap(),
        6,
        "the 7th, 8th and 9th from the default partition"
    );
    assert_eq!(s.count_results(m.id).await.unwrap(), 1);
    assert_eq!(
        s.result_partitions().await.unwrap(),
        [
            "check_results_p20300111",
            "check_results_p20300112",
            "check_results_p20300113",
            "check_results_p20300114",
            "check_results_p20300115"
        ]
    );
    // Deleting the monitor still takes its results with it, in every partition.
    s.delete_monitor(m.id).await.unwrap();
    assert_eq!(s.count_results(m.id).await.unwrap(), 0);
}

async fn where_in(url: &str, id: MonitorId, t: &str) -> String {
    placement(url, id)
        .await
        .into_iter()
        .find(|(a, _)| *a == at(t))
        .map(|(_, p)| p)
        .unwrap_or_default()
}

/// A database filled before results were partitioned (and before they were kept in
/// their compact form) keeps every result when a binary with both opens it.
pub(crate) async fn an_upgrade_keeps_every_result(db: Db) {
    db.store.close().await;
    // Start again from an empty database at the schema before the partitions.
    crate::start_over_at_schema(&db, 13).await;
    let id = MonitorId(Uuid::now_v7());
    // Stored times are whole milliseconds.
    let now = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap();
    let day = SignedDuration::from_hours(24);
    // Results from long ago (beyond the days the migration partitions), three days ago,
    // today, and tomorrow (a clock ahead).
    let times = [
        crate::t(0),
        now - day * 3,
        now - day * 3 + SignedDuration::from_mins(1),
        now - SignedDuration::from_secs(5),
        now + day,
    ];
    let monitor_sql = "INSERT INTO monitors (id, name, kind, config, source, paused, state, \
        state_changed_at, last_checked_at, created_at, updated_at) \
        VALUES ($1, 'm', 'tcp', CONFIG, 'api', FALSE, 'up', NULL, NULL, 0, 0)";
    let config = r#"{"name":"m","type":"tcp","host":"127.0.0.1","port":1}"#;
    let result_sql = "INSERT INTO check_results (monitor_id, region, checked_at, ok, state, \
        verdict, duration_ms) VALUES ($1, 'local', $2, TRUE, 'up', 'up', 7)";
    match &db.location {
        Location::Sqlite(dir) => {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(dir.join(vigilmon_store::SQLITE_FILE_NAME)),
                )
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(
                monitor_sql.replace("CONFIG", "$2").replace("FALSE", "0"),
            ))
            .bind(id.0)
            .bind(config)
            .execute(&pool)
            .await
            .unwrap();
            for t in times {
                sqlx::query(sqlx::AssertSqlSafe(result_sql.replace("TRUE", "1")))
                    .bind(id.0)
                    .bind(t.as_millisecond())
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
        Location::Postgres(url) => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(
                monitor_sql.replace("CONFIG", "$2::jsonb"),
            ))
            .bind(id.0)
            .bind(config)
            .execute(&pool)
            .await
            .unwrap();
            for t in times {
                sqlx::query(result_sql)
                    .bind(id.0)
                    .bind(t.as_millisecond())
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
    }

    let s = db.reopen().await;
    let all = ResultFilter {
        since: Some(crate::t(-1)),
        ..ResultFilter::default()
    };
    let listed = s.list_results(id, &all).await.unwrap();
    let mut got: Vec<i64> = listed
        .iter()
        .map(|r| r.result.checked_at.as_millisecond())
        .collect();
    got.sort();
    let expected: Vec<i64> = times.iter().map(|t| t.as_millisecond()).collect();
    assert_eq!(got, expected, "every result");
    assert!(listed.iter().all(|r| r.result.duration_ms == 7
        && r.result.verdict == vigilmon_core::Verdict::Up
        && r.state == vigilmon_core::MonitorState::Up
        && r.result.region.as_str() == "local"));

    // New results are stored beside them.
    s.record_results(&[crate::up(id, "local", now)])
        .await
        .unwrap();
    let newest = s.list_results(id, &all).await.unwrap();
    assert_eq!(newest.len(), times.len() + 1);
    assert!(newest.iter().any(|r| r.result.checked_at == now));

    if let Location::Postgres(url) = &db.location {
        let placed = placement(url, id).await;
        let day_name = |t: Timestamp| {
            format!(
                "check_results_p{}",
                t.to_zoned(jiff::tz::TimeZone::UTC).strftime("%Y%m%d")
            )
        };
        let expected: Vec<(Timestamp, String)> = [
            (crate::t(0), "check_results_default".to_owned()),
            (times[1], day_name(times[1])),
            (times[2], day_name(times[2])),
            (times[3], day_name(times[3])),
            (now, day_name(now)),
            (times[4], day_name(times[4])),
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
        let placed: Vec<(Timestamp, String)> = placed
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(placed, expected);
        // The days with rows, today and the three after it.
        let partitions = s.result_partitions().await.unwrap();
        assert!(partitions.contains(&day_name(times[1])), "{partitions:?}");
        for k in 0..=3 {
            assert!(
                partitions.contains(&day_name(now + day * k)),
                "{partitions:?}"
            );
        }
    } else {
        assert!(s.result_partitions().await.unwrap().is_empty());
    }
    s.close().await;
}
