//! Vigilmon's persistence: one [`Store`] over embedded SQLite or PostgreSQL.
//!
//! The store keeps monitors (their raw [`MonitorConfig`](vigilmon_core::MonitorConfig)
//! as JSON, plus the state derived from their checks), per-region state, the history of
//! check results and its rollups, heartbeat state and ping logs, alerting (channels,
//! policies, maintenance windows, incidents and their timelines, the engine's memory,
//! the notification outbox), status pages, users, sessions and API and agent tokens.
//!
//! Design:
//! - [`Store`] wraps either a SQLite or a PostgreSQL connection pool. Every query is
//!   written once, inside the private `with_pool!` macro, which expands the same body
//!   for both pools: the SQL text and the row decoding are type-checked against each
//!   backend's driver. Placeholders are `$1, $2, …`, which both backends accept.
//! - Timestamps are stored as epoch milliseconds (`BIGINT`), ids as UUIDs (a `BLOB` on
//!   SQLite, `UUID` on PostgreSQL), JSON as `TEXT` on SQLite and `JSONB` on PostgreSQL.
//! - The schema is versioned: `migrations/<backend>/NNNN_*.sql`, one file per backend
//!   per change with the same version numbers, embedded in the binary and applied when
//!   the store is opened.
//! - A stored row that cannot be decoded is reported as [`StoreError::Corrupt`], naming
//!   the column; the store never panics on bad data.

/// Runs `$body` with `$pool` bound to the backend's pool, once per backend.
///
/// The body is duplicated by the macro, so the same SQL and the same decoding code are
/// compiled (and type-checked) against both drivers. The body may use `?` and
/// `.await`; it is inlined into the calling `async fn`.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:block) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}

mod alerting;
mod auth;
pub mod backup;
mod cluster;
mod codec;
mod compact;
mod error;
mod heartbeats;
mod ingest;
mod listing;
mod migrations;
mod monitors;
mod overview;
mod partitions;
mod recording;
mod records;
mod results;
mod rollups;
mod sessions;
mod status;

use std::path::Path;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use alerting::{
    AlertingWrite, AttemptOutcome, DeliveryAttempt, IncidentChange, IncidentEvent, IncidentFilter,
    IncidentRecord, MaintenanceRecord, NamedConfig, NewIncidentEvent, NewNotification,
    OutboxRecord,
};
pub use auth::{UserChange, UserListing};
pub use cluster::{Fence, Lease, NodeRecord};
pub use error::StoreError;
pub use heartbeats::{HeartbeatRow, HeartbeatWrite, PingRecord, StoredPing, prune_every};
pub use ingest::{
    AGENT_CHECK_CHANNEL, AgentPresence, CHANGED_CHANNEL, CONFIRM_CHANNEL, Commit, FEED_CHANNEL,
    INGEST_CHANNEL, IngestRow, Listener, NewIngest, Notice,
};
pub use listing::{Covered, GroupCount, ListOrder, MonitorFilter, MonitorPage};
pub use overview::{RecentCheck, ResultBucket};
pub use partitions::PartitionRotation;
pub use records::{
    DEFAULT_RESULT_LIMIT, MAX_RESULT_LIMIT, MonitorRecord, MonitorSource, RecordedCheck,
    RegionStateRecord, ResultFilter, StoredResult, TokenOwner, TokenRecord, UserRecord,
};
pub use rollups::{ALL_REGIONS, RawSample, RollupPeriod, RollupRow};
pub use sessions::SessionRecord;
pub use status::{IncidentUpdate, NewIncidentUpdate, StatusPageRecord};

/// Name of the SQLite database file inside the data directory.
pub const SQLITE_FILE_NAME: &str = "vigilmon.db";

/// Connections in the SQLite pool. SQLite serialises writers anyway; a few connections
/// let reads proceed next to a write (WAL mode).
const SQLITE_POOL_SIZE: u32 = 4;

/// Connections in the PostgreSQL pool.
const POSTGRES_POOL_SIZE: u32 = 10;

/// How long to wait for a pooled connection before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a SQLite connection waits for a lock held by another connection.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The persistence handle. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Region names' numbers in `check_results`, as read or written (see `compact`).
    region_keys: std::sync::Arc<compact::RegionKeys>,
    /// Where the next batch of expired results is looked for (see
    /// [`Store::delete_results_before`]).
    expiry_from: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

/// The connection pool of the configured backend.
#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Store {
    fn new(backend: Backend) -> Store {
        Store {
            backend,
            region_keys: Default::default(),
            expiry_from: Default::default(),
        }
    }

    /// Opens (creating it if needed) the SQLite database `vigilmon.db` in `data_dir`,
    /// creating the directory too, and applies pending migrations.
    ///
    /// Every connection runs in WAL mode with foreign keys enforced and a 5 s busy
    /// timeout.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Store, StoreError> {
        tokio::fs::create_dir_all(data_dir)
            .await
            .map_err(|source| StoreError::DataDir {
                path: data_dir.to_owned(),
                source,
            })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(SQLITE_FILE_NAME))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durability trade-off: with WAL, `synchronous=NORMAL` does not fsync on every
            // commit, only at checkpoints. A process crash loses nothing (committed
            // transactions are in the WAL file, which the OS holds); a power cut or
            // kernel crash can lose the last few transactions, but never corrupts the
            // database. For an uptime monitor losing a few seconds of check results on
            // power loss is acceptable, and it saves an fsync per recorded batch.
            .synchronous(SqliteSynchronous::Normal)
            // Set on every connection the pool opens, so ON DELETE CASCADE always holds.
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(SQLITE_POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        let migrator = migrations::sqlite();
        if let Err(e) = migrator.run(&pool).await {
            pool.close().await;
            return Err(migrations::error(e, true));
        }
        tracing::debug!(dir = %data_dir.display(), "opened sqlite store");
        let store = Store::new(Backend::Sqlite(pool));
        store.fill_monitor_index().await?;
        Ok(store)
    }

    /// Connects to PostgreSQL at `url` (`postgres://user:password@host:port/database`)
    /// and applies pending migrations. The database must exist.
    pub async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(POSTGRES_POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        // sqlx takes a PostgreSQL advisory lock around the migrations: nodes starting
        // together apply them once, the others wait and then find nothing to do.
        let migrator = migrations::postgres();
        if let Err(e) = migrator.run(&pool).await {
            pool.close().await;
            return Err(migrations::error(e, false));
        }
        tracing::debug!("opened postgres store");
        let store = Store::new(Backend::Postgres(pool));
        store.fill_monitor_index().await?;
        Ok(store)
    }

    /// Applies the schema migrations up to and including `version`, and no further,
    /// to the PostgreSQL database at `url`. For tests of upgrades: they fill a database
    /// in an older schema, then open it with [`Store::open_postgres`].
    #[doc(hidden)]
    pub async fn migrate_postgres_until(url: &str, version: i64) -> Result<(), StoreError> {
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        let outcome = migrations::postgres().run_to(version, &pool).await;
        pool.close().await;
        outcome.map_err(|e| migrations::error(e, false))
    }

    /// [`Store::migrate_postgres_until`] for the SQLite database in `data_dir`.
    #[doc(hidden)]
    pub async fn migrate_sqlite_until(data_dir: &Path, version: i64) -> Result<(), StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(SQLITE_FILE_NAME))
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let outcome = migrations::sqlite().run_to(version, &pool).await;
        pool.close().await;
        outcome.map_err(|e| migrations::error(e, true))
    }

    /// The backend's name: `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool: new queries fail, and this waits for the in-flight ones to
    /// finish and their connections to close.
    pub async fn close(&self) {
        with_pool!(self, pool => { pool.close().await })
    }

    /// Checks that the database answers (`SELECT 1`), for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
