//! Unit tests that need the store's internals: SQLite connection settings, and the
//! decoding of hand-made bad rows (which the public API cannot produce).

use jiff::Timestamp;
use uuid::Uuid;
use vigilmon_core::{MonitorConfig, MonitorId};

use crate::{Backend, MonitorSource, Store, StoreError};

async fn sqlite_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path()).await.unwrap();
    (dir, store)
}

fn pool(store: &Store) -> &sqlx::SqlitePool {
    match &store.backend {
        Backend::Sqlite(pool) => pool,
        Backend::Postgres(_) => unreachable!("these tests use SQLite"),
    }
}

fn config(name: &str) -> MonitorConfig {
    MonitorConfig {
        name: name.into(),
        kind: vigilmon_core::KindConfig::Http(vigilmon_core::monitor::HttpConfig {
            url: Some("http://example.com".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn monitor(store: &Store) -> MonitorId {
    let id = MonitorId(Uuid::now_v7());
    store
        .create_monitor(id, &config("m"), MonitorSource::Api, Timestamp::UNIX_EPOCH)
        .await
        .unwrap();
    id
}

async fn exec(store: &Store, sql: &'static str, id: MonitorId) {
    sqlx::query(sql)
        .bind(id.0)
        .execute(pool(store))
        .await
        .unwrap();
}

fn corrupt_message(r: Result<impl std::fmt::Debug, StoreError>) -> String {
    match r {
        Err(StoreError::Corrupt(m)) => m,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_foreign_keys() {
    let (dir, store) = sqlite_store().await;
    assert!(dir.path().join(crate::SQLITE_FILE_NAME).exists());
    // every pooled connection has the settings: hold several at once
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(pool(&store).acquire().await.unwrap());
    }
    for conn in &mut conns {
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(fk, 1);
        let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
        let (busy,): (i64,) = sqlx::query_as("PRAGMA busy_timeout")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(busy, 5000);
    }
}

#[tokio::test]
async fn an_unknown_state_is_corrupt_not_a_panic() {
    let (_dir, store) = sqlite_store().await;
    let id = monitor(&store).await;
    exec(
        &store,
        "UPDATE monitors SET state = 'sideways' WHERE id = $1",
        id,
    )
    .await;
    let m = corrupt_message(store.get_monitor(id).await);
    assert!(
        m.contains("monitors.state") && m.contains("sideways"),
        "{m}"
    );
    let m = corrupt_message(store.list_monitors().await);
    assert!(m.contains("monitors.state"), "{m}");
    // an update repairs the row
    let fixed = store
        .update_monitor(id, &config("m"), Timestamp::UNIX_EPOCH)
        .await
        .unwrap();
    assert_eq!(fixed.state.as_str(), "pending");
}

#[tokio::test]
async fn an_undecodable_config_is_corrupt() {
    let (_dir, store) = sqlite_store().await;
    let id = monitor(&store).await;
    exec(
        &store,
        "UPDATE monitors SET config = '{\"name\": 3}' WHERE id = $1",
        id,
    )
    .await;
    let m = corrupt_message(store.get_monitor(id).await);
    assert!(m.contains("monitors.config"), "{m}");
    exec(
        &store,
        "UPDATE monitors SET config = 'not json' WHERE id = $1",
        id,
    )
    .await;
    let m = corrupt_message(store.get_monitor(id).await);
    assert!(m.contains("monitors.config"), "{m}");
}

#[tokio::test]
async fn bad_result_rows_are_corrupt() {
    let (_dir, store) = sqlite_store().await;
    let id = monitor(&store).await;
    exec(
        &store,
        "INSERT INTO result_regions (key, name) VALUES (1, 'local'), (2, 'Not A Region') \
         ON CONFLICT DO NOTHING",
        id,
    )
    .await;
    // (region_key, verdict, state, error_kind, duration_ms, peer) and the column blamed.
    let cases: [(&str, &str); 7] = [
        ("1, 7, 0, NULL, 5, NULL", "check_results.verdict"),
        ("1, 2, 2, NULL, 5, NULL", "check_results.error_kind"),
        ("1, 2, 2, 99, 5, NULL", "check_results.error_kind"),
        ("1, 0, 42, NULL, 5, NULL", "check_results.state"),
        ("1, 0, 0, NULL, -5, NULL", "check_results.duration_ms"),
        ("2, 0, 0, NULL, 5, NULL", "check_results.region"),
        ("1, 0, 0, NULL, 5, x'0102'", "check_results.peer"),
    ];
    for (values, column) in cases {
        let pool = pool(&store);
        sqlx::query("DELETE FROM check_results")
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO check_results (monitor_key, checked_at, region_key, verdict, state, \
             error_kind, duration_ms, peer) \
             SELECT result_key, 1, {values} FROM monitors WHERE id = $1"
        )))
        .bind(id.0)
        .execute(pool)
        .await
        .unwrap();
        let m = corrupt_message(store.list_results(id, &Default::default()).await);
        assert!(m.contains(column), "{column}: {m}");
    }
}

#[tokio::test]
async fn bad_region_rows_are_corrupt() {
    let (_dir, store) = sqlite_store().await;
    let id = monitor(&store).await;
    exec(
        &store,
        "INSERT INTO monitor_regions (monitor_id, region, state, consecutive_failures) \
         VALUES ($1, 'local', 'up', -1)",
        id,
    )
    .await;
    let m = corrupt_message(store.region_states(id).await);
    assert!(m.contains("monitor_regions.consecutive_failures"), "{m}");
    let m = corrupt_message(store.all_region_states().await);
    assert!(m.contains("monitor_regions.consecutive_failures"), "{m}");
}
