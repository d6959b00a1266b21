//! How many bytes of disk a stored check costs: the raw results of N monitors checked R
//! times each, written through the store as the recorder writes them (batches of 250),
//! then measured, table and indexes together.
//!
//! - SQLite: `dbstat` (every page of `check_results` and of every index on it, with
//!   their free space: what the file holds for them).
//! - PostgreSQL: `pg_total_relation_size` of every partition of `check_results` (heap,
//!   indexes and TOAST) after `VACUUM`, in a database made for the run and dropped
//!   after it.
//!
//! Each is measured twice on the same checks: in the compact form of schema 18 (what
//! the store writes) and in the form before it (schema 17: text columns, three
//! indexes), written with that schema's own statement, for the comparison.
//!
//! The checks look like an HTTP fleet's: phases, status 200, a peer address; half the
//! monitors HTTPS (a TLS phase and a certificate expiry); 1 check in 100 down with a
//! timeout message. Times are 10 s apart, as a busy fleet's.
//!
//! `cargo bench -p vigilmon-store --bench storage`; knobs: `VIGILMON_BENCH_MONITORS`
//! (default 1000), `VIGILMON_BENCH_ROUNDS` (default 360: an hour at 10 s),
//! `VIGILMON_BENCH_PG` (an admin URL for PostgreSQL, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; `off` to skip it). Run without
//! `--bench` it is a quick smoke run (100 monitors, 20 rounds).

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use sqlx::{Connection, Executor};
use uuid::Uuid;
use vigilmon_core::state::RegionStatus;
use vigilmon_core::{
    CheckResult, ErrorKind, MonitorConfig, MonitorId, MonitorState, Phases, RegionName, Verdict,
};
use vigilmon_store::{MonitorSource, RecordedCheck, Store};

/// Checks per transaction, as the recorder batches them.
const BATCH: usize = 250;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (the figures must not move between runs).
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

fn config(i: usize) -> MonitorConfig {
    serde_json::from_value(serde_json::json!({
        "name": format!("service-{i:05}"),
        "type": "http",
        "url": format!("https://service-{i}.example.com/health"),
    }))
    .expect("a valid monitor")
}

/// Every check of the run, in the order the recorder would write them.
fn checks(ids: &[MonitorId], rounds: usize) -> Vec<RecordedCheck> {
    let start = Timestamp::from_second(1_796_000_000).expect("a time");
    let local = RegionName::local();
    let mut rng = Lcg(7);
    let mut out = Vec::with_capacity(ids.len() * rounds);
    for r in 0..rounds {
        for (i, id) in ids.iter().enumerate() {
            let https = i % 2 == 0;
            let at = start
                + SignedDuration::from_secs(10 * r as i64)
                + SignedDuration::from_millis((i as i64 * 37) % 10_000);
            let down = rng.below(100) == 0;
            let ttfb = 20 + rng.below(300);
            let tls = https.then(|| 5 + rng.below(25));
            let duration = ttfb + tls.unwrap_or(0) + rng.below(5);
            let verdict = if down {
                Verdict::down(ErrorKind::Timeout, "no answer within 10 s")
            } else {
                Verdict::Up
            };
            let state = if down {
                MonitorState::Down
            } else {
                MonitorState::Up
            };
            out.push(RecordedCheck {
                monitor_id: *id,
                result: CheckResult {
                    region: local.clone(),
                    checked_at: at,
                    duration_ms: if down { 10_000 } else { duration },
                    phases: Phases {
                        dns_ms: Some(rng.below(3)),
                        connect_ms: Some(rng.below(3)),
                        tls_ms: tls,
                        ttfb_ms: (!down).then_some(ttfb),
                    },
                    status_code: (!down).then_some(200),
                    verdict,
                    body_excerpt: None,
                    cert_expires_at: https.then(|| {
                        Timestamp::from_second(1_800_000_000 + i as i64 * 3_600).expect("a time")
                    }),
                    remote_addr: Some(format!("10.0.{}.{}:443", i / 250, i % 250)),
                    details: None,
                },
                region_status: RegionStatus {
                    state,
                    consecutive_failures: u32::from(down),
                },
                monitor_state: state,
                history_only: false,
            });
        }
    }
    out
}

/// The statement schema 17 wrote a check with.
const OLD_INSERT: &str = "INSERT INTO check_results (monitor_id, region, checked_at, ok, \
    state, verdict, duration_ms, dns_ms, connect_ms, tls_ms, ttfb_ms, status_code, error_kind, \
    error, body_excerpt, cert_expires_at, remote_addr, details) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

const OLD_MONITOR: &str = "INSERT INTO monitors (id, name, kind, config, source, paused, state, \
    state_changed_at, last_checked_at, created_at, updated_at) \
    VALUES ($1, $2, 'http', CONFIG, 'api', FALSE, 'up', NULL, NULL, 0, 0)";

/// Writes `checks` into a schema-17 database through `conn`, as that schema's store did.
macro_rules! write_old {
    ($conn:expr, $ids:expr, $checks:expr, $config:literal, $false:literal) => {{
        for (i, id) in $ids.iter().enumerate() {
            let sql = OLD_MONITOR
                .replace("CONFIG", $config)
                .replace("FALSE", $false);
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.0)
                .bind(format!("service-{i:05}"))
                .bind(serde_json::to_string(&config(i)).expect("json"))
                .execute(&mut *$conn)
                .await
                .expect("old monitor");
        }
        for chunk in $checks.chunks(BATCH) {
            let mut tx = $conn.begin().await.expect("begin");
            for c in chunk {
                let r = &c.result;
                sqlx::query(OLD_INSERT)
                    .bind(c.monitor_id.0)
                    .bind(r.region.as_str())
                    .bind(r.checked_at.as_millisecond())
                    .bind(r.verdict.is_ok())
                    .bind(c.region_status.state.as_str())
                    .bind(if r.verdict.is_ok() { "up" } else { "down" })
                    .bind(r.duration_ms as i64)
                    .bind(r.phases.dns_ms.map(|v| v as i64))
                    .bind(r.phases.connect_ms.map(|v| v as i64))
                    .bind(r.phases.tls_ms.map(|v| v as i64))
                    .bind(r.phases.ttfb_ms.map(|v| v as i64))
                    .bind(r.status_code.map(i64::from))
                    .bind(r.verdict.error_kind().map(|k| k.as_str()))
                    .bind(r.verdict.message())
                    .bind(r.body_excerpt.as_deref())
                    .bind(r.cert_expires_at.map(|t| t.as_millisecond()))
                    .bind(r.remote_addr.as_deref())
                    .bind(None::<String>)
                    .execute(&mut *tx)
                    .await
                    .expect("old result");
            }
            tx.commit().await.expect("commit");
        }
    }};
}

async fn write_new(store: &Store, ids: &[MonitorId], checks: &[RecordedCheck]) {
    for (i, id) in ids.iter().enumerate() {
        store
            .create_monitor(*id, &config(i), MonitorSource::Api, Timestamp::UNIX_EPOCH)
            .await
            .expect("monitor");
    }
    for chunk in checks.chunks(BATCH) {
        store.record_results(chunk).await.expect("record");
    }
}

/// Bytes of `check_results` and its indexes in a SQLite file, and the names measured.
async fn sqlite_bytes(dir: &Path) -> (i64, Vec<String>) {
    let mut conn = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.join(vigilmon_store::SQLITE_FILE_NAME)),
    )
    .await
    .expect("open");
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, CAST(SUM(pgsize) AS INTEGER) FROM dbstat WHERE name = 'check_results' \
         OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' \
                     AND tbl_name = 'check_results') GROUP BY name ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .expect("dbstat (SQLite built with SQLITE_ENABLE_DBSTAT_VTAB)");
    conn.close().await.ok();
    let total = rows.iter().map(|(_, b)| b).sum();
    (
        total,
        rows.into_iter().map(|(n, b)| format!("{n} {b}")).collect(),
    )
}

/// Bytes of every partition of `check_results` (heap, indexes, TOAST) after VACUUM.
async fn postgres_bytes(url: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    conn.execute("VACUUM").await.expect("vacuum");
    let (bytes,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(pg_total_relation_size(i.inhrelid)), 0) AS BIGINT) \
         FROM pg_inherits i WHERE i.inhparent = 'check_results'::regclass",
    )
    .fetch_one(&mut conn)
    .await
    .expect("size");
    conn.close().await.ok();
    bytes
}

fn report(what: &str, bytes: i64, checks: usize, monitors: usize, rounds: usize) {
    let per = bytes as f64 / checks as f64;
    // A monitor checked every minute: 1,440 checks a day.
    let per_1000_day = per * 1_440.0 * 1_000.0 / 1e6;
    println!(
        "{what}: {:.1} MB for {checks} checks ({monitors} monitors × {rounds}) = {per:.1} B/check; \
         1,000 monitors at 60 s: {per_1000_day:.0} MB/day, {:.1} GB in 30 days",
        bytes as f64 / 1e6,
        per_1000_day * 30.0 / 1000.0
    );
}

/// A database of its own on the PostgreSQL server at `admin`, dropped by the caller.
async fn pg_database(admin: &str, name: &str) -> Option<String> {
    let mut conn = sqlx::PgConnection::connect(admin).await.ok()?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .await
    .ok()?;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .ok()?;
    conn.close().await.ok();
    let (base, query) = admin
        .split_once('?')
        .map_or((admin, None), |(b, q)| (b, Some(q)));
    let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
    Some(match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    })
}

async fn drop_pg_database(admin: &str, name: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = conn
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await;
        conn.close().await.ok();
    }
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let monitors = knob("VIGILMON_BENCH_MONITORS", if full { 1000 } else { 100 });
    let rounds = knob("VIGILMON_BENCH_ROUNDS", if full { 360 } else { 20 });
    let ids: Vec<MonitorId> = (0..monitors).map(|_| MonitorId(Uuid::now_v7())).collect();
    let checks = checks(&ids, rounds);
    let n = checks.len();

    // SQLite, compact (schema 18, through the store).
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path()).await.expect("open");
    write_new(&store, &ids, &checks).await;
    assert_eq!(
        store.count_results(ids[0]).await.expect("count") as usize,
        rounds,
        "every check stored"
    );
    store.close().await;
    let (bytes, parts) = sqlite_bytes(dir.path()).await;
    report("SQLite, compact (schema 18)", bytes, n, monitors, rounds);
    println!("  {}", parts.join(", "));

    // SQLite, before (schema 17).
    let old = tempfile::tempdir().expect("tempdir");
    Store::migrate_sqlite_until(old.path(), 17)
        .await
        .expect("schema 17");
    {
        let mut conn = sqlx::SqliteConnection::connect_with(
            &sqlx::sqlite::SqliteConnectOptions::new()
                .filename(old.path().join(vigilmon_store::SQLITE_FILE_NAME))
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal),
        )
        .await
        .expect("open");
        write_old!(&mut conn, ids, checks, "$3", "0");
        conn.close().await.ok();
    }
    let (bytes, parts) = sqlite_bytes(old.path()).await;
    report("SQLite, before (schema 17)", bytes, n, monitors, rounds);
    println!("  {}", parts.join(", "));

    let admin = std::env::var("VIGILMON_BENCH_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if admin == "off" {
        return;
    }
    let name = format!("vigilmon_bench_storage_{}", std::process::id());
    let Some(url) = pg_database(&admin, &name).await else {
        println!("PostgreSQL: not reachable at {admin}; skipped");
        return;
    };
    let store = Store::open_postgres(&url).await.expect("open postgres");
    write_new(&store, &ids, &checks).await;
    store.close().await;
    report(
        "PostgreSQL, compact (schema 18)",
        postgres_bytes(&url).await,
        n,
        monitors,
        rounds,
    );
    drop_pg_database(&admin, &name).await;

    let Some(url) = pg_database(&admin, &name).await else {
        return;
    };
    Store::migrate_postgres_until(&url, 17)
        .await
        .expect("schema 17");
    {
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
        write_old!(&mut conn, ids, checks, "$3::jsonb", "FALSE");
        conn.close().await.ok();
    }
    report(
        "PostgreSQL, before (schema 17)",
        postgres_bytes(&url).await,
        n,
        monitors,
        rounds,
    );
    drop_pg_database(&admin, &name).await;
}
