//! The store's contract suite: every test runs against SQLite (in a temporary
//! directory) and against PostgreSQL (in a fresh database, dropped afterwards).
//!
//! PostgreSQL is expected at `postgres://postgres@127.0.0.1:5432/postgres` (override
//! with `VIGILMON_TEST_PG_URL`); the tests fail, loudly, when it cannot be reached.
//!
//! Each test is an `async fn(Db)` written once, in the file of the store module it
//! exercises (`monitors`, `results`, …); the `contract!` macro below generates
//! `sqlite::<name>` and `postgres::<name>` test cases from it. This file holds what
//! the modules share: the harness that opens each backend, and the fixtures.

mod alerting;
mod auth;
mod cluster;
mod heartbeats;
mod listing;
mod migrations;
mod monitors;
mod overview;
mod partitions;
mod results;
mod rollups;
mod sessions;
mod status;
mod store;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;
use vigilmon_core::monitor::HttpConfig;
use vigilmon_core::state::RegionStatus;
use vigilmon_core::{
    CheckResult, KindConfig, MonitorConfig, MonitorId, MonitorState, RegionName, Verdict,
};
use vigilmon_store::{MonitorRecord, MonitorSource, RecordedCheck, Store, StoreError};

// ---------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// What a test gets: an open store, and where it lives (to open it again).
struct Db {
    store: Store,
    location: Location,
}

enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    /// Opens a second store on the same database (running the migrations again).
    async fn reopen(&self) -> Store {
        match &self.location {
            Location::Sqlite(dir) => Store::open_sqlite(dir).await.expect("reopen sqlite"),
            Location::Postgres(url) => Store::open_postgres(url).await.expect("reopen postgres"),
        }
    }
}

/// Why a test failed: the payload of its panic.
type Failure = Box<dyn std::any::Any + Send>;

/// Opens the store and runs `test` in its own task, so that a panic is caught and the
/// caller can clean the database up before re-raising it.
async fn run_isolated<F, Fut>(location: Location, test: F) -> Result<(), Failure>
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let store = match &location {
        Location::Sqlite(dir) => Store::open_sqlite(dir).await,
        Location::Postgres(url) => Store::open_postgres(url).await,
    };
    let store =
        store.map_err(|e| -> Failure { Box::new(format!("cannot open the store: {e}")) })?;
    let db = Db {
        store: store.clone(),
        location,
    };
    let outcome = tokio::spawn(test(db)).await;
    store.close().await;
    outcome.map_err(|e| match e.try_into_panic() {
        Ok(panic) => panic,
        Err(e) => Box::new(format!("test task failed: {e}")),
    })
}

fn reraise(outcome: Result<(), Failure>) {
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    let outcome = run_isolated(Location::Sqlite(dir.path().join("data")), test).await;
    drop(dir);
    reraise(outcome);
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    format!("{server}/{database}{query}")
}

async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let admin_url = std::env::var("VIGILMON_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&admin_url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin_url}: {e}\n\
                 The store's contract tests run against PostgreSQL too: start it (CI does), \
                 or set VIGILMON_TEST_PG_URL to a server where this user may CREATE DATABASE."
            )
        });
    let name = format!("vigilmon_test_{}", Uuid::new_v4().simple());
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let url = with_database(&admin_url, &name);
    let outcome = run_isolated(Location::Postgres(url), test).await;
    let dropped = sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
    admin.close().await;
    reraise(outcome);
    if let Err(e) = dropped {
        panic!("cannot drop test database {name}: {e}");
    }
}

/// Generates one test per backend for each named `async fn(Db)`, grouped by the
/// module that holds it.
macro_rules! contract {
    ($($module:ident: [$($name:ident),+ $(,)?]),+ $(,)?) => {
        mod sqlite {
            $($(
                #[tokio::test]
                async fn $name() {
                    crate::run_sqlite(crate::$module::$name).await
                }
            )+)+
        }
        mod postgres {
            $($(
                #[tokio::test]
                async fn $name() {
                    crate::run_postgres(crate::$module::$name).await
                }
            )+)+
        }
    };
}

contract! {
    store: [backend_ping_and_close],
    migrations: [migrations_are_idempotent, a_newer_schema_is_refused],
    monitors: [
        monitor_crud,
        duplicate_names_conflict,
        pause_and_resume_reset_state,
        changing_the_target_resets_state,
        deleting_a_monitor_cascades,
    ],
    results: [
        record_results_updates_regions_and_monitors,
        results_of_deleted_monitors_are_skipped,
        history_only_results_leave_the_state_alone,
        results_roundtrip_every_field,
        list_results_filters,
        list_results_limit_default_and_cap,
        delete_results_before_in_batches,
        a_monitor_and_its_regions_are_read_from_one_snapshot,
        an_upgrade_keeps_every_field_of_every_result,
        a_batch_is_its_checks_in_turn,
    ],
    auth: [
        users,
        user_roles_removal_and_the_last_owner,
        tokens,
        tokens_belong_to_their_user,
        first_owner_is_created_once,
    ],
    heartbeats: [heartbeats_and_ping_log, a_busy_log_is_trimmed_once_per_tenth, a_given_ping_token_replaces_the_generated_one],
    alerting: [
        alerting_incidents_and_outbox,
        notifications_of_an_incident_keep_their_order_per_channel,
    ],
    sessions: [sessions_live_expire_and_end, password_change_ends_sessions],
    overview: [result_buckets_summarise_checks, dashboard_reads_use_covering_indexes],
    listing: [
        lists_are_filtered_ordered_and_paged,
        figures_of_listed_monitors,
        monitors_stored_before_the_index_are_found,
    ],
    status: [
        status_pages_crud_and_conflicts,
        badges_updates_incidents_and_first_seen,
        state_changes_are_logged,
    ],
    rollups: [rollups_upsert_list_and_watermark],
    partitions: [results_expire_by_whole_days, an_upgrade_keeps_every_result],
    cluster: [
        nodes_register_touch_and_leave,
        the_lease_has_one_holder_and_a_term,
        racing_nodes_get_one_lease,
        the_database_clock_is_now,
        fenced_writes_need_the_current_term,
        housekeeping_writes_are_fenced,
        ingest_rows_are_consumed_once_with_the_write,
        notifications_reach_listeners,
        agent_presence_is_shared_and_moves_forward,
    ],
}

#[test]
fn test_database_urls() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}

// ---------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------

/// Empties the test's database and migrates it up to schema `version` only, to fill
/// it as an older binary would before the current one opens it. The store must be
/// closed first.
async fn start_over_at_schema(db: &Db, version: i64) {
    match &db.location {
        Location::Sqlite(dir) => {
            std::fs::remove_dir_all(dir).unwrap();
            std::fs::create_dir_all(dir).unwrap();
            Store::migrate_sqlite_until(dir, version).await.unwrap();
        }
        Location::Postgres(url) => {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .unwrap();
            sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            Store::migrate_postgres_until(url, version).await.unwrap();
        }
    }
}

/// A fixed instant plus `secs` seconds.
fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

fn new_id() -> MonitorId {
    MonitorId(Uuid::now_v7())
}

fn region(name: &str) -> RegionName {
    RegionName::parse(name).unwrap()
}

fn http(name: &str, url: &str) -> MonitorConfig {
    MonitorConfig::new(
        name,
        KindConfig::Http(HttpConfig {
            url: Some(url.into()),
            ..Default::default()
        }),
    )
}

async fn create(store: &Store, name: &str) -> MonitorRecord {
    store
        .create_monitor(
            new_id(),
            &http(name, "https://example.com/health"),
            MonitorSource::Api,
            t(0),
        )
        .await
        .unwrap()
}

fn result(region_name: &str, at: Timestamp, verdict: Verdict) -> CheckResult {
    CheckResult::new(region(region_name), at, 42, verdict)
}

fn check(
    id: MonitorId,
    region_name: &str,
    at: Timestamp,
    verdict: Verdict,
    region_status: (MonitorState, u32),
    monitor_state: MonitorState,
) -> RecordedCheck {
    RecordedCheck {
        monitor_id: id,
        result: result(region_name, at, verdict),
        region_status: RegionStatus {
            state: region_status.0,
            consecutive_failures: region_status.1,
        },
        monitor_state,
        history_only: false,
    }
}

/// An `up` check of `id` in `region_name` at `at`, leaving everything up.
fn up(id: MonitorId, region_name: &str, at: Timestamp) -> RecordedCheck {
    check(
        id,
        region_name,
        at,
        Verdict::Up,
        (MonitorState::Up, 0),
        MonitorState::Up,
    )
}

/// A plain successful `GET` ping of monitor `id` at `at`, leaving it up.
fn ping_write(
    id: MonitorId,
    at: Timestamp,
    body: Option<String>,
) -> vigilmon_store::HeartbeatWrite {
    vigilmon_store::HeartbeatWrite {
        monitor_id: id,
        ping: Some(vigilmon_store::PingRecord {
            received_at: at,
            kind: "success".into(),
            method: "GET".into(),
            exit_status: None,
            rid: None,
            duration_ms: None,
            source_ip: None,
            user_agent: None,
            body,
            body_truncated: false,
            failure: None,
        }),
        state: vigilmon_core::heartbeat::HeartbeatState::default(),
        monitor_state: MonitorState::Up,
        at,
    }
}

fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>, expected_field: &str) -> String {
    match r {
        Err(StoreError::Conflict { field, message }) => {
            assert_eq!(field, expected_field, "{message}");
            message
        }
        other => panic!("expected a conflict on {expected_field}, got {other:?}"),
    }
}
