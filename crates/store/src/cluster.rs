//! Nodes and the coordinator lease (ARCHITECTURE.md, "Several nodes on one
//! PostgreSQL"): the rows through which several `serve` processes on one database know
//! of each other and agree which one coordinates.
//!
//! Every function takes the time it acts at. In production that is the database's own
//! clock ([`Store::db_now`]), read just before, so that the nodes' clocks do not
//! matter; tests pass the times they want.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::codec::{Cols, Reader, ms};
use crate::{Store, StoreError};

/// A node as it registered itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRecord {
    pub id: Uuid,
    /// Where the node listens, as it sees it (for operators, not for routing).
    pub address: String,
    /// The node's version of Vigilmon.
    pub version: String,
    pub started_at: Timestamp,
    pub last_seen: Timestamp,
}

/// What a coordinator's write carries: who holds the lease and under which term. The
/// write is refused when either has moved on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    pub holder: Uuid,
    pub term: i64,
}

/// The coordinator lease as a node holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub holder: Uuid,
    /// Grows by one each time the lease changes hands (or is taken again after it ran
    /// out); the coordinator's writes carry it.
    pub term: i64,
    pub expires_at: Timestamp,
}

fn decode_node<R: Cols>(row: &R) -> Result<NodeRecord, StoreError> {
    let r = Reader::new(row, "nodes");
    Ok(NodeRecord {
        id: r.uuid("id")?,
        address: r.string("address")?,
        version: r.string("version")?,
        started_at: r.timestamp("started_at")?,
        last_seen: r.timestamp("last_seen")?,
    })
}

/// The database's clock in epoch milliseconds, as an SQL expression per backend: the
/// one clock the lease is read against, in [`Store::db_now`] and in fenced writes.
pub(crate) const SQLITE_NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";
pub(crate) const POSTGRES_NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";

/// How long a fenced transaction may sit idle (its process paused) before PostgreSQL
/// ends it and releases the lease row it holds; well below the shortest lease TTL (3 s).
/// Set by the fence check itself ([`fence_sql`]).
const FENCED_IDLE_LIMIT: &str = "1500ms";

/// The check a fenced write starts with (see [`crate::Commit`]): the lease row, still
/// `$1`'s under term `$2` and not run out on the database's clock; a row comes back
/// when it is. On PostgreSQL the row is locked `FOR SHARE`, so a takeover waits for
/// the write. On SQLite it is a no-op `UPDATE`, so that the transaction takes the
/// write lock before it reads anything (a read first would make the later write fail
/// with "database is locked" whenever another connection wrote in between).
pub(crate) fn fence_sql(postgres: bool) -> String {
    if postgres {
        // With the lease row held `FOR SHARE` until commit, a holder paused in the
        // middle (SIGSTOP, a VM frozen) must not keep a takeover waiting: the same
        // statement limits how long this transaction may then sit idle (one round trip
        // where a `SET LOCAL` before it took two).
        format!(
            "SELECT term, set_config('idle_in_transaction_session_timeout', \
             '{FENCED_IDLE_LIMIT}', true) FROM coordinator_lease WHERE id = 1 AND holder = $1 \
             AND term = $2 AND expires_at > {POSTGRES_NOW_MS} FOR SHARE"
        )
    } else {
        format!(
            "UPDATE coordinator_lease SET term = term WHERE id = 1 AND holder = $1 \
             AND term = $2 AND expires_at > {SQLITE_NOW_MS} RETURNING term"
        )
    }
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4)
}

impl Store {
    /// The database's clock (milliseconds): the one clock all nodes share.
    pub async fn db_now(&self) -> Result<Timestamp, StoreError> {
        let now: i64 = match &self.backend {
            crate::Backend::Sqlite(pool) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {SQLITE_NOW_MS}")))
                    .fetch_one(pool)
                    .await?
            }
            crate::Backend::Postgres(pool) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {POSTGRES_NOW_MS}")))
                    .fetch_one(pool)
                    .await?
            }
        };
        Timestamp::from_millisecond(now)
            .map_err(|e| StoreError::Corrupt(format!("the database's clock: {e}")))
    }

    /// Registers a node (or registers it again after a restart with the same id).
    pub async fn register_node(&self, node: &NodeRecord) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO nodes (id, address, version, started_at, last_seen) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
                 version = excluded.version, started_at = excluded.started_at, \
                 last_seen = excluded.last_seen",
            )
            .bind(node.id)
            .bind(&node.address)
            .bind(&node.version)
            .bind(ms(node.started_at))
            .bind(ms(node.last_seen))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records that a node is alive at `at`. False when the node has no row (it was
    /// removed as dead): it should register again.
    pub async fn touch_node(&self, id: Uuid, at: Timestamp) -> Result<bool, StoreError> {
        let n = with_pool!(self, pool => {
            sqlx::query("UPDATE nodes SET last_seen = $2 WHERE id = $1")
                .bind(id)
                .bind(ms(at))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Removes a node's row (it stopped, or it has been silent for long).
    pub async fn remove_node(&self, id: Uuid) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM nodes WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Every registered node, oldest first.
    pub async fn list_nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, address, version, started_at, last_seen FROM nodes \
                 ORDER BY started_at, id",
            )
            .fetch_all(pool)
            .await?;
            rows.iter().map(decode_node).collect()
        })
    }

    /// Takes the coordinator lease for `me` until `now + ttl`, or renews it: when it
    /// is free, has run out, or is `me`'s. The term stays when `me` renews a lease
    /// that has not run out, and grows by one otherwise. `None` when another node
    /// holds it.
    pub async fn acquire_lease(
        &self,
        me: Uuid,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Option<Lease>, StoreError> {
        let now_ms = ms(now);
        let until = now_ms.saturating_add(ttl_ms(ttl));
        let row: Option<(i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE coordinator_lease SET \
                   term = CASE WHEN holder = $1 AND expires_at > $2 THEN term ELSE term + 1 END, \
                   holder = $1, expires_at = $3 \
                 WHERE id = 1 AND (holder IS NULL OR holder = $1 OR expires_at <= $2) \
                 RETURNING term, expires_at",
            )
            .bind(me)
            .bind(now_ms)
            .bind(until)
            .fetch_optional(pool)
            .await?
        });
        row.map(|(term, expires)| {
            Ok(Lease {
                holder: me,
                term,
                expires_at: Timestamp::from_millisecond(expires).map_err(|e| {
                    StoreError::Corrupt(format!("coordinator_lease.expires_at: {e}"))
                })?,
            })
        })
        .transpose()
    }

    /// Gives the lease up (a node stopping cleanly), so another takes it at once
    /// instead of after the TTL. Only the holder of that term can.
    pub async fn release_lease(&self, me: Uuid, term: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE coordinator_lease SET expires_at = 0 \
                 WHERE id = 1 AND holder = $1 AND term = $2",
            )
            .bind(me)
            .bind(term)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The lease as it stands: its holder (none before anyone took it), term and
    /// expiry.
    pub async fn lease(&self) -> Result<(Option<Uuid>, i64, Timestamp), StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT holder, term, expires_at FROM coordinator_lease WHERE id = 1",
            )
            .fetch_one(pool)
            .await?;
            let r = Reader::new(&row, "coordinator_lease");
            Ok((r.opt_uuid("holder")?, r.i64("term")?, r.timestamp("expires_at")?))
        })
    }
}
