//! The store's contract suite: every test runs against SQLite (in a temporary
//! directory) and against PostgreSQL (in a fresh database, dropped afterwards).
//!
//! PostgreSQL is expected at `postgres://postgres@127.0.0.1:5432/postgres` (override
//! with `VIGILMON_TEST_PG_URL`); the tests fail, loudly, when it cannot be reached.
//!
//! Each test is an `async fn(Db)` written once; the `contract!` macro at the bottom
//! generates `sqlite::<name>` and `postgres::<name>` test cases from it.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;
use vigilmon_core::state::RegionStatus;
use vigilmon_core::{
    CheckResult, ErrorKind, MonitorConfig, MonitorId, MonitorState, Phases, RegionName, Verdict,
};
use vigilmon_store::{
    MonitorRecord, MonitorSource, RecordedCheck, RegionStateRecord, ResultFilter, Store,
    StoreError, UserChange,
};

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

/// Generates one test per backend for each named `async fn(Db)`.
macro_rules! contract {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::run_sqlite(crate::$name).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::run_postgres(crate::$name).await
                }
            )+
        }
    };
}

// ---------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------

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
    MonitorConfig {
        name: name.into(),
        kind: "http".into(),
        url: Some(url.into()),
        ..Default::default()
    }
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
    CheckResult {
        region: region(region_name),
        checked_at: at,
        duration_ms: 42,
        phases: Phases::default(),
        status_code: None,
        verdict,
        body_excerpt: None,
        cert_expires_at: None,
        remote_addr: None,
        details: None,
    }
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

fn regions_of(states: &[RegionStateRecord]) -> Vec<&str> {
    states.iter().map(|r| r.region.as_str()).collect()
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

// ---------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------

async fn backend_ping_and_close(db: Db) {
    let expected = match db.location {
        Location::Sqlite(_) => "sqlite",
        Location::Postgres(_) => "postgres",
    };
    assert_eq!(db.store.backend(), expected);
    db.store.ping().await.unwrap();
    db.store.close().await;
    assert!(
        db.store.ping().await.is_err(),
        "a closed store refuses queries"
    );
}

async fn migrations_are_idempotent(db: Db) {
    let m = create(&db.store, "kept").await;
    let again = db.reopen().await;
    let third = db.reopen().await;
    assert_eq!(again.get_monitor(m.id).await.unwrap(), Some(m.clone()));
    assert_eq!(third.list_monitors().await.unwrap(), vec![m]);
    again.close().await;
    third.close().await;
}

async fn monitor_crud(db: Db) {
    let s = &db.store;
    let now = t(0) + SignedDuration::from_nanos(123_456_789);
    let beta_id = new_id();
    let beta = s
        .create_monitor(beta_id, &http("beta", "http://b"), MonitorSource::Api, now)
        .await
        .unwrap();
    assert_eq!(beta.id, beta_id);
    assert_eq!(beta.config, http("beta", "http://b"));
    assert_eq!(beta.source, MonitorSource::Api);
    assert_eq!(beta.state, MonitorState::Pending);
    assert_eq!((beta.state_changed_at, beta.last_checked_at), (None, None));
    assert_eq!(beta.created_at, t(0) + SignedDuration::from_millis(123));
    assert_eq!(beta.updated_at, beta.created_at);

    // the stored name is trimmed; the config is kept as written
    let alpha_cfg = http(" alpha ", "http://a");
    let alpha = s
        .create_monitor(new_id(), &alpha_cfg, MonitorSource::File, t(1))
        .await
        .unwrap();
    assert_eq!(alpha.config, alpha_cfg);
    assert_eq!(alpha.source, MonitorSource::File);
    let mut paused_cfg = http("Gamma", "http://g");
    paused_cfg.paused = true;
    let gamma = s
        .create_monitor(new_id(), &paused_cfg, MonitorSource::Api, t(2))
        .await
        .unwrap();
    assert_eq!(gamma.state, MonitorState::Paused);

    assert_eq!(s.get_monitor(beta_id).await.unwrap(), Some(beta.clone()));
    assert_eq!(s.get_monitor(new_id()).await.unwrap(), None);
    assert_eq!(
        s.get_monitor_by_name("alpha").await.unwrap(),
        Some(alpha.clone())
    );
    assert_eq!(
        s.get_monitor_by_name(" alpha").await.unwrap(),
        Some(alpha.clone())
    );
    assert_eq!(s.get_monitor_by_name("ALPHA").await.unwrap(), None);
    assert_eq!(s.get_monitor_by_name("delta").await.unwrap(), None);

    // ordered by name, the same on both backends (by code point)
    let names: Vec<String> = s
        .list_monitors()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.config.name.trim().to_owned())
        .collect();
    assert_eq!(names, ["Gamma", "alpha", "beta"]);

    let mut edited = http("beta", "http://b");
    edited.tags = vec!["prod".into()];
    edited.policy = Some("p1".into());
    let updated = s.update_monitor(beta_id, &edited, t(5)).await.unwrap();
    assert_eq!(updated.config, edited);
    assert_eq!(updated.source, MonitorSource::Api, "the source is kept");
    assert_eq!(updated.created_at, beta.created_at);
    assert_eq!(updated.updated_at, t(5));
    assert_eq!(updated.state, MonitorState::Pending);
    assert_eq!(s.get_monitor(beta_id).await.unwrap(), Some(updated.clone()));

    // renaming is an update too
    let renamed = s
        .update_monitor(beta_id, &http("bravo", "http://b"), t(6))
        .await
        .unwrap();
    assert_eq!(s.get_monitor_by_name("bravo").await.unwrap(), Some(renamed));
    assert_eq!(s.get_monitor_by_name("beta").await.unwrap(), None);

    assert!(matches!(
        s.update_monitor(new_id(), &edited, t(5)).await,
        Err(StoreError::NotFound)
    ));

    // the config file can take a monitor over
    s.set_monitor_source(beta_id, MonitorSource::File)
        .await
        .unwrap();
    let taken = s.get_monitor(beta_id).await.unwrap().unwrap();
    assert_eq!(taken.source, MonitorSource::File);
    assert_eq!(taken.updated_at, t(6), "a change of owner is not an edit");
    assert!(matches!(
        s.set_monitor_source(new_id(), MonitorSource::File).await,
        Err(StoreError::NotFound)
    ));

    assert!(s.delete_monitor(beta_id).await.unwrap());
    assert!(!s.delete_monitor(beta_id).await.unwrap());
    assert_eq!(s.get_monitor(beta_id).await.unwrap(), None);
    assert_eq!(s.list_monitors().await.unwrap(), vec![gamma, alpha]);
}

async fn duplicate_names_conflict(db: Db) {
    let s = &db.store;
    let a = create(s, "a").await;
    let msg = assert_conflict(
        s.create_monitor(new_id(), &http("a", "http://x"), MonitorSource::Api, t(1))
            .await,
        "name",
    );
    assert_eq!(msg, "a monitor named \"a\" already exists");
    assert_conflict(
        s.create_monitor(
            new_id(),
            &http("  a ", "http://x"),
            MonitorSource::File,
            t(1),
        )
        .await,
        "name",
    );
    let b = create(s, "b").await;
    assert_conflict(
        s.update_monitor(b.id, &http("a", "http://x"), t(2)).await,
        "name",
    );
    assert_eq!(s.get_monitor(b.id).await.unwrap(), Some(b));
    assert_eq!(s.get_monitor(a.id).await.unwrap(), Some(a.clone()));
    // a re-created id is not a name conflict
    let same_id = s
        .create_monitor(a.id, &http("c", "http://x"), MonitorSource::Api, t(1))
        .await;
    assert!(
        matches!(same_id, Err(StoreError::Database(_))),
        "{same_id:?}"
    );
    // updating a monitor with its own name is fine
    s.update_monitor(a.id, &http("a", "http://y"), t(3))
        .await
        .unwrap();
}

async fn pause_and_resume_reset_state(db: Db) {
    let s = &db.store;
    let m = create(s, "m").await;
    s.record_results(&[up(m.id, "local", t(1)), up(m.id, "eu", t(1))])
        .await
        .unwrap();
    assert_eq!(
        s.get_monitor(m.id).await.unwrap().unwrap().state,
        MonitorState::Up
    );

    let mut cfg = m.config.clone();
    cfg.paused = true;
    let paused = s.update_monitor(m.id, &cfg, t(10)).await.unwrap();
    assert_eq!(paused.state, MonitorState::Paused);
    assert_eq!(paused.state_changed_at, Some(t(10)));
    assert_eq!(
        regions_of(&s.region_states(m.id).await.unwrap()),
        ["eu", "local"]
    );

    // a check that was in flight when the monitor was paused does not un-pause it
    s.record_results(&[check(
        m.id,
        "local",
        t(11),
        Verdict::down(ErrorKind::Connect, "refused"),
        (MonitorState::Down, 2),
        MonitorState::Down,
    )])
    .await
    .unwrap();
    let still = s.get_monitor(m.id).await.unwrap().unwrap();
    assert_eq!(
        (still.state, still.state_changed_at),
        (MonitorState::Paused, Some(t(10)))
    );
    assert_eq!(still.last_checked_at, Some(t(11)));
    assert_eq!(s.count_results(m.id).await.unwrap(), 3);

    // pausing again changes nothing
    let again = s.update_monitor(m.id, &cfg, t(15)).await.unwrap();
    assert_eq!(
        (again.state, again.state_changed_at),
        (MonitorState::Paused, Some(t(10)))
    );

    cfg.paused = false;
    let resumed = s.update_monitor(m.id, &cfg, t(20)).await.unwrap();
    assert_eq!(resumed.state, MonitorState::Pending);
    assert_eq!(resumed.state_changed_at, Some(t(20)));
    assert!(
        s.region_states(m.id).await.unwrap().is_empty(),
        "a resumed monitor starts over"
    );
    assert_eq!(s.count_results(m.id).await.unwrap(), 3, "history is kept");
}

async fn changing_the_target_resets_state(db: Db) {
    let s = &db.store;
    let m = create(s, "m").await;
    s.record_results(&[up(m.id, "local", t(1))]).await.unwrap();

    let mut cosmetic = m.config.clone();
    cosmetic.name = "renamed".into();
    cosmetic.tags = vec!["x".into()];
    cosmetic.depends_on = vec!["other".into()];
    let kept = s.update_monitor(m.id, &cosmetic, t(5)).await.unwrap();
    assert_eq!(
        (kept.state, kept.state_changed_at),
        (MonitorState::Up, Some(t(1)))
    );
    assert_eq!(s.region_states(m.id).await.unwrap().len(), 1);

    let mut moved = cosmetic.clone();
    moved.url = Some("https://elsewhere.example.com/".into());
    let reset = s.update_monitor(m.id, &moved, t(6)).await.unwrap();
    assert_eq!(
        (reset.state, reset.state_changed_at),
        (MonitorState::Pending, Some(t(6)))
    );
    assert!(s.region_states(m.id).await.unwrap().is_empty());

    // so does a change of kind
    s.record_results(&[up(m.id, "local", t(7))]).await.unwrap();
    let tcp = MonitorConfig {
        name: "renamed".into(),
        kind: "tcp".into(),
        host: Some("db.internal".into()),
        port: Some(5432),
        ..Default::default()
    };
    let reset = s.update_monitor(m.id, &tcp, t(8)).await.unwrap();
    assert_eq!(reset.state, MonitorState::Pending);
    assert!(s.region_states(m.id).await.unwrap().is_empty());
}

async fn record_results_updates_regions_and_monitors(db: Db) {
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

async fn results_of_deleted_monitors_are_skipped(db: Db) {
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

async fn results_roundtrip_every_field(db: Db) {
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
        },
        RecordedCheck {
            monitor_id: m.id,
            result: degraded.clone(),
            region_status: RegionStatus {
                state: MonitorState::Degraded,
                consecutive_failures: 0,
            },
            monitor_state: MonitorState::Degraded,
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
}

async fn list_results_filters(db: Db) {
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

async fn list_results_limit_default_and_cap(db: Db) {
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

async fn delete_results_before_in_batches(db: Db) {
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

async fn deleting_a_monitor_cascades(db: Db) {
    let s = &db.store;
    let doomed = create(s, "doomed").await;
    let kept = create(s, "kept").await;
    s.record_results(&[
        up(doomed.id, "local", t(1)),
        up(doomed.id, "eu", t(1)),
        up(kept.id, "local", t(1)),
    ])
    .await
    .unwrap();
    assert!(s.delete_monitor(doomed.id).await.unwrap());
    assert_eq!(s.count_results(doomed.id).await.unwrap(), 0);
    assert!(s.region_states(doomed.id).await.unwrap().is_empty());
    let all = s.all_region_states().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, kept.id);
    assert_eq!(s.count_results(kept.id).await.unwrap(), 1);
    // the name is free again
    create(s, "doomed").await;
}

async fn users(db: Db) {
    let s = &db.store;
    assert_eq!(s.count_users().await.unwrap(), 0);
    let now = t(0) + SignedDuration::from_micros(1500);
    let admin = s
        .create_user(" Admin@Example.COM ", "$argon2id$hash", "admin", now)
        .await
        .unwrap();
    assert_eq!(admin.email, "admin@example.com");
    assert_eq!(admin.role, "admin");
    assert_eq!(admin.created_at, t(0) + SignedDuration::from_millis(1));
    assert_eq!(s.count_users().await.unwrap(), 1);

    let (found, hash) = s.user_by_email("ADMIN@example.com").await.unwrap().unwrap();
    assert_eq!(found, admin);
    assert_eq!(hash, "$argon2id$hash");
    assert!(
        s.user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let msg = assert_conflict(
        s.create_user("admin@EXAMPLE.com", "other", "viewer", t(1))
            .await,
        "email",
    );
    assert!(msg.contains("admin@example.com"), "{msg}");
    assert_eq!(s.count_users().await.unwrap(), 1);

    let viewer = s
        .create_user("viewer@example.com", "h2", "viewer", t(2))
        .await
        .unwrap();
    assert_ne!(viewer.id, admin.id);
    assert_eq!(s.count_users().await.unwrap(), 2);
}

async fn user_roles_removal_and_the_last_owner(db: Db) {
    let s = &db.store;
    let owner = s
        .create_user("owner@example.com", "h1", "owner", t(1))
        .await
        .unwrap();
    let editor = s
        .create_user("editor@example.com", "h2", "editor", t(2))
        .await
        .unwrap();
    // Listed oldest first; last sign-in from the newest stored session.
    let list = s.list_users().await.unwrap();
    assert_eq!(
        list.iter().map(|u| u.user.clone()).collect::<Vec<_>>(),
        [owner.clone(), editor.clone()]
    );
    assert!(list.iter().all(|u| u.last_sign_in.is_none()));
    for (digest, at) in [("e1", t(10)), ("e2", t(20))] {
        s.create_session(digest, editor.id, "csrf", at, t(1000))
            .await
            .unwrap();
    }
    s.create_session("o1", owner.id, "csrf", t(5), t(1000))
        .await
        .unwrap();
    let list = s.list_users().await.unwrap();
    assert_eq!(list[0].last_sign_in, Some(t(5)));
    assert_eq!(list[1].last_sign_in, Some(t(20)));
    assert_eq!(s.get_user(editor.id).await.unwrap(), Some(editor.clone()));
    assert_eq!(s.get_user(Uuid::now_v7()).await.unwrap(), None);

    // A role change ends that user's sessions, nobody else's.
    assert_eq!(
        s.set_user_role(editor.id, "viewer").await.unwrap(),
        UserChange::Done
    );
    assert_eq!(s.get_user(editor.id).await.unwrap().unwrap().role, "viewer");
    for digest in ["e1", "e2"] {
        assert!(s.session_by_hash(digest, t(30)).await.unwrap().is_none());
    }
    assert!(s.session_by_hash("o1", t(30)).await.unwrap().is_some());

    // The last owner can be neither demoted nor removed; nothing changes.
    assert_eq!(
        s.set_user_role(owner.id, "admin").await.unwrap(),
        UserChange::LastOwner
    );
    assert_eq!(
        s.delete_user(owner.id).await.unwrap(),
        UserChange::LastOwner
    );
    assert_eq!(s.get_user(owner.id).await.unwrap().unwrap().role, "owner");
    assert!(s.session_by_hash("o1", t(30)).await.unwrap().is_some());
    // Re-stating the last owner's role is no demotion.
    assert_eq!(
        s.set_user_role(owner.id, "owner").await.unwrap(),
        UserChange::Done
    );

    // With a second owner, the first can go.
    assert_eq!(
        s.set_user_role(editor.id, "owner").await.unwrap(),
        UserChange::Done
    );
    s.create_session("o2", owner.id, "csrf", t(40), t(1000))
        .await
        .unwrap();
    assert_eq!(s.delete_user(owner.id).await.unwrap(), UserChange::Done);
    assert!(s.session_by_hash("o2", t(41)).await.unwrap().is_none());
    assert_eq!(s.get_user(owner.id).await.unwrap(), None);
    assert!(
        s.user_by_email("owner@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.count_users().await.unwrap(), 1);
    assert_eq!(
        s.delete_user(editor.id).await.unwrap(),
        UserChange::LastOwner
    );

    // Unknown users.
    let nobody = Uuid::now_v7();
    assert_eq!(s.delete_user(nobody).await.unwrap(), UserChange::NotFound);
    assert_eq!(
        s.set_user_role(nobody, "viewer").await.unwrap(),
        UserChange::NotFound
    );
    // The email is free again.
    s.create_user("owner@example.com", "h3", "viewer", t(50))
        .await
        .unwrap();
}

async fn tokens(db: Db) {
    let s = &db.store;
    let ci = s.create_token("ci", "hash-ci", "read", t(0)).await.unwrap();
    assert_eq!((ci.name.as_str(), ci.scope.as_str()), ("ci", "read"));
    assert_eq!(
        (ci.created_at, ci.last_used_at, ci.revoked_at),
        (t(0), None, None)
    );
    let deploy = s
        .create_token("deploy", "hash-deploy", "write", t(1))
        .await
        .unwrap();
    // names need not be unique, hashes must
    s.create_token("ci", "hash-ci-2", "read", t(2))
        .await
        .unwrap();
    assert_conflict(
        s.create_token("again", "hash-ci", "read", t(3)).await,
        "token_hash",
    );

    assert_eq!(s.token_by_hash("hash-ci").await.unwrap(), Some(ci.clone()));
    assert_eq!(s.token_by_hash("nope").await.unwrap(), None);

    s.touch_token(ci.id, t(5)).await.unwrap();
    s.touch_token(ci.id, t(4)).await.unwrap(); // never backwards
    s.touch_token(Uuid::now_v7(), t(5)).await.unwrap(); // unknown: ignored
    let touched = s.token_by_hash("hash-ci").await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(t(5)));

    assert!(s.revoke_token(ci.id, t(6)).await.unwrap());
    assert!(
        !s.revoke_token(ci.id, t(7)).await.unwrap(),
        "already revoked"
    );
    assert!(!s.revoke_token(Uuid::now_v7(), t(7)).await.unwrap());
    let revoked = s.token_by_hash("hash-ci").await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(t(6)),
        "a revoked token is still found"
    );

    let list = s.list_tokens().await.unwrap();
    let names: Vec<&str> = list.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ci", "deploy", "ci"], "oldest first");
    assert_eq!(list[0], revoked);
    assert_eq!(list[1], deploy);
}

async fn heartbeats_and_ping_log(db: Db) {
    use vigilmon_core::heartbeat::HeartbeatState;
    use vigilmon_store::{HeartbeatWrite, PingRecord};
    let s = &db.store;
    let m = create(s, "worker").await;
    let token = s.ensure_heartbeat(m.id, "tok-1", t(0)).await.unwrap();
    assert_eq!(token, "tok-1");
    let again = s.ensure_heartbeat(m.id, "tok-2", t(1)).await.unwrap();
    assert_eq!(again, "tok-1", "the existing token wins");
    let ping = |i: i64| PingRecord {
        received_at: t(i),
        kind: "success".into(),
        method: "POST".into(),
        exit_status: Some(0),
        rid: None,
        duration_ms: Some(5),
        source_ip: Some("127.0.0.1".into()),
        user_agent: Some("curl".into()),
        body: Some(format!("run {i}")),
        body_truncated: false,
        failure: None,
    };
    let mut state = HeartbeatState {
        state: MonitorState::Up,
        last_ping_at: Some(t(10)),
        ..Default::default()
    };
    let writes: Vec<HeartbeatWrite> = (1..=10)
        .map(|i| HeartbeatWrite {
            monitor_id: m.id,
            ping: Some(ping(i)),
            state: state.clone(),
            monitor_state: MonitorState::Up,
            at: t(i),
        })
        .collect();
    s.record_heartbeats(&writes, 4).await.unwrap();
    let row = s.heartbeat(m.id).await.unwrap().unwrap();
    assert_eq!(row.pings_total, 10);
    assert_eq!(row.state, state);
    assert_eq!(
        s.count_pings(m.id).await.unwrap(),
        4,
        "the log keeps the newest 4"
    );
    let log = s.list_pings(m.id, 100).await.unwrap();
    assert_eq!(log[0].ping, ping(10));
    assert_eq!(log[3].ping.body.as_deref(), Some("run 7"));
    let rec = s.get_monitor(m.id).await.unwrap().unwrap();
    assert_eq!(rec.state, MonitorState::Up);
    assert_eq!(rec.last_checked_at, Some(t(10)));
    // A deadline (no ping) changes the state but not last_checked_at or the count.
    state.state = MonitorState::Down;
    s.record_heartbeats(
        &[HeartbeatWrite {
            monitor_id: m.id,
            ping: None,
            state: state.clone(),
            monitor_state: MonitorState::Down,
            at: t(20),
        }],
        4,
    )
    .await
    .unwrap();
    let rec = s.get_monitor(m.id).await.unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.state_changed_at, rec.last_checked_at),
        (MonitorState::Down, Some(t(20)), Some(t(10)))
    );
    assert_eq!(s.heartbeat(m.id).await.unwrap().unwrap().pings_total, 10);
    assert_eq!(s.heartbeats().await.unwrap().len(), 1);
    // Settings: the first writer wins.
    assert_eq!(s.setting_or_insert("ping_key", "a").await.unwrap(), "a");
    assert_eq!(s.setting_or_insert("ping_key", "b").await.unwrap(), "a");
    assert!(s.delete_monitor(m.id).await.unwrap());
    assert!(s.heartbeats().await.unwrap().is_empty(), "cascade");
}

async fn alerting_incidents_and_outbox(db: Db) {
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
    let b = s
        .claim_notification(t(6), Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(a.id, b.id);
    assert!(
        s.claim_notification(t(6), Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "both leased"
    );
    s.finish_delivery(&a, &AttemptOutcome::Delivered, t(7), 12)
        .await
        .unwrap();
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

// ---------------------------------------------------------------------------------
// Web UI: sessions, password changes, result summaries
// ---------------------------------------------------------------------------------

async fn sessions_live_expire_and_end(db: Db) {
    let s = &db.store;
    let user = s
        .create_user("owner@example.com", "hash-1", "owner", t(0))
        .await
        .unwrap();
    let other = s
        .create_user("other@example.com", "hash-2", "viewer", t(0))
        .await
        .unwrap();
    let created = s
        .create_session("digest-a", user.id, "csrf-a", t(1), t(100))
        .await
        .unwrap();
    assert_eq!(
        (created.created_at, created.last_seen_at, created.expires_at),
        (t(1), t(1), t(100))
    );
    s.create_session("digest-b", user.id, "csrf-b", t(1), t(100))
        .await
        .unwrap();
    s.create_session("digest-c", other.id, "csrf-c", t(1), t(100))
        .await
        .unwrap();

    let (found, who) = s.session_by_hash("digest-a", t(2)).await.unwrap().unwrap();
    assert_eq!(found, created);
    assert_eq!(who, user);
    assert!(s.session_by_hash("unknown", t(2)).await.unwrap().is_none());
    assert!(
        s.session_by_hash("digest-a", t(100))
            .await
            .unwrap()
            .is_none(),
        "expired at expires_at"
    );

    // Touching slides the expiry forward, never backwards.
    assert!(s.touch_session("digest-a", t(50), t(150)).await.unwrap());
    assert!(s.touch_session("digest-a", t(40), t(120)).await.unwrap());
    let (touched, _) = s
        .session_by_hash("digest-a", t(120))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((touched.last_seen_at, touched.expires_at), (t(50), t(150)));
    assert!(!s.touch_session("unknown", t(50), t(150)).await.unwrap());

    // Logout ends one session.
    assert!(s.delete_session("digest-b").await.unwrap());
    assert!(!s.delete_session("digest-b").await.unwrap());
    assert!(s.session_by_hash("digest-b", t(2)).await.unwrap().is_none());

    // Expired sessions are swept; live ones stay.
    assert_eq!(s.delete_expired_sessions(t(120)).await.unwrap(), 1); // digest-c
    assert!(
        s.session_by_hash("digest-a", t(121))
            .await
            .unwrap()
            .is_some()
    );
}

async fn password_change_ends_sessions(db: Db) {
    let s = &db.store;
    let user = s
        .create_user("owner@example.com", "old-hash", "owner", t(0))
        .await
        .unwrap();
    let other = s
        .create_user("other@example.com", "other-hash", "admin", t(0))
        .await
        .unwrap();
    for (digest, who) in [("u1", user.id), ("u2", user.id), ("o1", other.id)] {
        s.create_session(digest, who, "csrf", t(1), t(1000))
            .await
            .unwrap();
    }
    assert!(s.set_password(user.id, "new-hash").await.unwrap());
    let (_, hash) = s.user_by_email("owner@example.com").await.unwrap().unwrap();
    assert_eq!(hash, "new-hash");
    for digest in ["u1", "u2"] {
        assert!(
            s.session_by_hash(digest, t(2)).await.unwrap().is_none(),
            "{digest} must end with the password change"
        );
    }
    assert!(
        s.session_by_hash("o1", t(2)).await.unwrap().is_some(),
        "other users stay signed in"
    );
    assert!(!s.set_password(Uuid::now_v7(), "x").await.unwrap());

    // A new session after the change works as usual.
    s.create_session("u3", user.id, "csrf", t(3), t(1000))
        .await
        .unwrap();
    assert!(s.session_by_hash("u3", t(4)).await.unwrap().is_some());
}

async fn result_buckets_summarise_checks(db: Db) {
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
    assert_eq!(s.result_counts(t(0), None).await.unwrap(), expect);
    assert_eq!(
        s.result_counts(t(15), Some(a.id)).await.unwrap(),
        vec![(a.id, 2, 1)]
    );
    assert!(s.result_counts(t(0), Some(c.id)).await.unwrap().is_empty());
    assert!(s.result_counts(t(100), None).await.unwrap().is_empty());

    // The latest raw results, oldest first.
    let recent = s.recent_checks(t(10)).await.unwrap();
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
        s.rollup_counts(hour(0), hour(2), None).await.unwrap(),
        expect
    );
    assert_eq!(
        s.rollup_counts(hour(0), hour(3), Some(a.id)).await.unwrap(),
        vec![(a.id, 180, 53)]
    );
    assert!(
        s.rollup_counts(hour(5), hour(6), None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The dashboard's reads by time are answered from covering indexes (migration 7):
/// the indexes exist on both backends, the one they replace is gone, and SQLite plans
/// the dashboard's queries on them without visiting the table or sorting.
async fn dashboard_reads_use_covering_indexes(db: Db) {
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
            let recent = plan(
                "SELECT m.id, string_agg(CAST(r.checked_at AS TEXT) || ' ' || \
                 CAST(r.duration_ms AS TEXT) || ' ' || CASE WHEN r.ok THEN '1' ELSE '0' END, ',') \
                 FROM monitors m CROSS JOIN check_results r \
                 WHERE r.monitor_id = m.id AND r.checked_at >= 0 GROUP BY m.id",
            )
            .await;
            assert!(
                recent.contains("COVERING INDEX check_results_by_monitor")
                    && !recent.contains("TEMP B-TREE"),
                "{recent}"
            );
            let counts = plan(
                "SELECT m.id AS monitor_id, COUNT(*), SUM(CASE WHEN r.ok THEN 1 ELSE 0 END) \
                 FROM monitors m CROSS JOIN check_results r \
                 WHERE r.monitor_id = m.id AND r.checked_at >= 0 GROUP BY m.id",
            )
            .await;
            assert!(
                counts.contains("COVERING INDEX check_results_by_monitor")
                    && !counts.contains("TEMP B-TREE"),
                "{counts}"
            );
            let rollups = plan(
                "SELECT monitor_id, SUM(checks), SUM(failures) FROM (SELECT monitor_id, checks, \
                 failures FROM rollups_hourly WHERE bucket_start >= 0 AND bucket_start < 10 \
                 AND region = '*' LIMIT 9223372036854775807) w GROUP BY monitor_id",
            )
            .await;
            assert!(
                rollups.contains("COVERING INDEX rollups_hourly_region_time"),
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

contract!(
    backend_ping_and_close,
    migrations_are_idempotent,
    monitor_crud,
    duplicate_names_conflict,
    pause_and_resume_reset_state,
    changing_the_target_resets_state,
    record_results_updates_regions_and_monitors,
    results_of_deleted_monitors_are_skipped,
    results_roundtrip_every_field,
    list_results_filters,
    list_results_limit_default_and_cap,
    delete_results_before_in_batches,
    deleting_a_monitor_cascades,
    users,
    user_roles_removal_and_the_last_owner,
    tokens,
    heartbeats_and_ping_log,
    alerting_incidents_and_outbox,
    sessions_live_expire_and_end,
    password_change_ends_sessions,
    result_buckets_summarise_checks,
    dashboard_reads_use_covering_indexes,
    status_pages_crud_and_conflicts,
    badges_updates_incidents_and_first_seen,
    rollups_upsert_list_and_watermark,
);

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
// Status pages, badges, public incident updates, first-seen times, rollups
// ---------------------------------------------------------------------------------

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

async fn status_pages_crud_and_conflicts(db: Db) {
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

async fn badges_updates_incidents_and_first_seen(db: Db) {
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
    let ping = vigilmon_store::PingRecord {
        received_at: t(77),
        kind: "success".into(),
        method: "GET".into(),
        exit_status: None,
        rid: None,
        duration_ms: None,
        source_ip: None,
        user_agent: None,
        body: None,
        body_truncated: false,
        failure: None,
    };
    s.record_heartbeats(
        &[vigilmon_store::HeartbeatWrite {
            monitor_id: b.id,
            ping: Some(ping),
            state: vigilmon_core::heartbeat::HeartbeatState::default(),
            monitor_state: MonitorState::Up,
            at: t(77),
        }],
        100,
    )
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

async fn rollups_upsert_list_and_watermark(db: Db) {
    use vigilmon_core::rollup::{Accumulator, Outcome};
    use vigilmon_store::{ALL_REGIONS, RollupPeriod, RollupRow};
    let s = &db.store;
    let a = create(s, "a").await;
    let b = create(s, "b").await;
    let mut batch = vec![
        up(a.id, "local", t(0)),
        up(a.id, "eu", t(1)),
        up(b.id, "local", t(3600)),
    ];
    batch.push(check(
        a.id,
        "local",
        t(2),
        Verdict::down(ErrorKind::Timeout, "timeout"),
        (MonitorState::Up, 1),
        MonitorState::Up,
    ));
    s.record_results(&batch).await.unwrap();
    let mut samples = s.raw_samples(t(0), t(3600)).await.unwrap();
    samples.sort_by_key(|x| (x.region.clone(), x.duration_ms));
    assert_eq!(samples.len(), 3, "the hour is half-open");
    assert_eq!(
        samples
            .iter()
            .filter(|x| x.outcome == Outcome::Down)
            .count(),
        1
    );

    let roll = |durations: &[u64], down: usize| {
        let mut acc = Accumulator::default();
        for (i, d) in durations.iter().enumerate() {
            acc.add(if i < down { Outcome::Down } else { Outcome::Up }, *d);
        }
        acc.finish()
    };
    let row = |m: MonitorId, region: &str, at: i64, r| RollupRow {
        monitor_id: m,
        region: region.into(),
        bucket_start: t(at),
        rollup: r,
    };
    let rows = vec![
        row(a.id, ALL_REGIONS, 0, roll(&[42, 42, 7], 1)),
        row(a.id, "local", 0, roll(&[42, 7], 1)),
        row(b.id, ALL_REGIONS, 3600, roll(&[42], 0)),
        row(new_id(), ALL_REGIONS, 0, roll(&[1], 0)),
    ];
    s.upsert_rollups(RollupPeriod::Hour, &rows).await.unwrap();
    // Idempotent: the same rows again, and one replaced.
    let mut again = rows.clone();
    again[1].rollup = roll(&[42, 8], 0);
    s.upsert_rollups(RollupPeriod::Hour, &again).await.unwrap();
    let all = s
        .list_rollups(RollupPeriod::Hour, &[], None, t(0), t(7200))
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "a deleted monitor's row is skipped");
    let a_rows = s
        .list_rollups(RollupPeriod::Hour, &[a.id], None, t(0), t(7200))
        .await
        .unwrap();
    assert_eq!(a_rows, [again[0].clone(), again[1].clone()]);
    assert_eq!(a_rows[1].rollup.failures, 0);
    assert_eq!(a_rows[0].rollup.duration_p95, Some(42));
    let only_all = s
        .list_rollups(
            RollupPeriod::Hour,
            &[a.id, b.id],
            Some(ALL_REGIONS),
            t(0),
            t(3600),
        )
        .await
        .unwrap();
    assert_eq!(only_all, [again[0].clone()]);
    assert!(
        s.list_rollups(RollupPeriod::Day, &[], None, t(0), t(7200))
            .await
            .unwrap()
            .is_empty()
    );
    s.upsert_rollups(RollupPeriod::Day, &rows[..1])
        .await
        .unwrap();
    assert_eq!(
        s.list_rollups(RollupPeriod::Day, &[], None, t(0), t(1))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.delete_rollups_before(RollupPeriod::Hour, t(3600))
            .await
            .unwrap(),
        2
    );

    assert_eq!(s.rollup_watermark().await.unwrap(), None);
    s.set_rollup_watermark(t(3600)).await.unwrap();
    s.set_rollup_watermark(t(7200)).await.unwrap();
    assert_eq!(s.rollup_watermark().await.unwrap(), Some(t(7200)));
    assert_eq!(s.oldest_result_at().await.unwrap(), Some(t(0)));
}
