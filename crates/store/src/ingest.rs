//! The way from every node to the coordinator (ARCHITECTURE.md, "Several nodes on one
//! PostgreSQL"): what a node that does not coordinate accepts — pings, check results,
//! incident actions — is written to the `ingest` table before it is acknowledged; the
//! coordinator reads the rows in id order and deletes each in the transaction that
//! writes its effect ([`Commit::consumed`]), under its lease ([`Commit::fence`]). So
//! nothing acknowledged is lost when a coordinator dies mid-way, and nothing is applied
//! twice when two nodes believe for a moment that they coordinate.
//!
//! On PostgreSQL, writing rows also sends `NOTIFY vigilmon_ingest` (delivered when the
//! transaction commits), and [`Store::listen`] gives a node the notifications of the
//! channels it names: ingest for the coordinator, changes and confirmation requests
//! for every node. On SQLite there is one node and no notifications.

use jiff::Timestamp;
use uuid::Uuid;

use crate::codec::{Cols, Reader, ms};
use crate::{Fence, Store, StoreError};

/// The notification channel of new ingest rows.
pub const INGEST_CHANNEL: &str = "vigilmon_ingest";
/// Channel of configuration changes: `<node>:<monitor id>`, `<node>:config`
/// (channels, policies, maintenance) or `<node>:all` (read everything again); `-` for
/// the node when every node, the sender too, should apply it.
pub const CHANGED_CHANNEL: &str = "vigilmon_changed";
/// Channel of confirmation requests: the monitor's id; its owner checks it now.
pub const CONFIRM_CHANNEL: &str = "vigilmon_confirm";
/// Channel of public changes (status pages, badges): the sending node's id.
pub const FEED_CHANNEL: &str = "vigilmon_feed";
/// Channel of confirmation checks for an agent polling another node:
/// `<agent id>:<monitor id>`.
pub const AGENT_CHECK_CHANNEL: &str = "vigilmon_agent_check";

/// A row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIngest {
    /// What the payload is (`ping`, `result`, `ack`, `resolve`): the consumer's word.
    pub kind: String,
    /// JSON.
    pub payload: String,
}

/// A row waiting for the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// The node that accepted it.
    pub node: Uuid,
    pub received_at: Timestamp,
}

/// How a coordinator's write is committed: refused unless `fence` still holds the
/// lease (when given), and together with the deletion of the ingest rows whose effect
/// it writes. When one of those rows is gone already (another coordinator applied it),
/// nothing is written: [`StoreError::Fenced`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    pub fence: Option<Fence>,
    pub consumed: Vec<i64>,
}

impl Commit {
    /// A write made outside the coordinator's fencing (one node, tests, tools).
    pub fn unfenced() -> Self {
        Self::default()
    }
    /// A write under `fence`, consuming nothing.
    pub fn fenced(fence: Option<Fence>) -> Self {
        Self {
            fence,
            consumed: Vec::new(),
        }
    }
}

/// One `ingest` row as read by the consumer.
fn decode_ingest<R: Cols>(row: &R) -> Result<IngestRow, StoreError> {
    let r = Reader::new(row, "ingest");
    Ok(IngestRow {
        id: r.i64("id")?,
        kind: r.string("kind")?,
        payload: r.string("payload")?,
        node: r.uuid("node")?,
        received_at: r.timestamp("received_at")?,
    })
}

/// Ids deleted per statement.
pub(crate) const DELETE_CHUNK: usize = 500;

/// Starts a coordinator's transaction: checks the fence and deletes the consumed rows
/// (see [`Commit`]). Expands once per backend inside `with_pool!`.
macro_rules! begin_commit {
    ($tx:ident, $commit:expr, $postgres:expr) => {{
        let commit: &$crate::ingest::Commit = $commit;
        if let Some(f) = commit.fence {
            let sql = $crate::cluster::fence_sql($postgres);
            let held: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(f.holder)
                .bind(f.term)
                .fetch_optional(&mut *$tx)
                .await?;
            if held.is_none() {
                return Err($crate::StoreError::Fenced { term: f.term });
            }
        }
        for chunk in commit.consumed.chunks($crate::ingest::DELETE_CHUNK) {
            let sql = $crate::ingest::delete_sql(chunk);
            let n = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *$tx)
                .await?
                .rows_affected();
            if n != chunk.len() as u64 {
                return Err($crate::StoreError::Fenced {
                    term: commit.fence.map_or(0, |f| f.term),
                });
            }
        }
    }};
}
pub(crate) use begin_commit;

/// `DELETE FROM ingest WHERE id IN (…)` for these ids (integers, written out).
pub(crate) fn delete_sql(ids: &[i64]) -> String {
    use std::fmt::Write;
    let mut sql = String::from("DELETE FROM ingest WHERE id IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        let _ = write!(sql, "{id}");
    }
    sql.push(')');
    sql
}

/// An agent as a node last heard from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPresence {
    /// The agent's token id.
    pub id: Uuid,
    pub name: String,
    pub region: String,
    pub version: Option<String>,
    pub last_seen: Timestamp,
    /// The node that heard it.
    pub node: Uuid,
}

/// Notifications from other nodes (PostgreSQL only).
pub struct Listener {
    inner: sqlx::postgres::PgListener,
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub channel: String,
    pub payload: String,
}

impl Listener {
    /// The next notification; `None` when the connection was lost and has been made
    /// again (notifications sent meanwhile are lost: read the state afresh).
    pub async fn recv(&mut self) -> Result<Option<Notice>, StoreError> {
        Ok(self.inner.try_recv().await?.map(|n| Notice {
            channel: n.channel().to_owned(),
            payload: n.payload().to_owned(),
        }))
    }
}

impl Store {
    /// Writes rows for the coordinator in one transaction and tells it (PostgreSQL);
    /// returns their ids. `node` is the node that accepted them, `at` when.
    pub async fn ingest(
        &self,
        rows: &[NewIngest],
        node: Uuid,
        at: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let postgres = self.is_postgres();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut ids = Vec::with_capacity(rows.len());
            // Several rows a statement. Ids are given in the order of the rows (a
            // sequence, or SQLite's rowid, as each row is inserted); sorted, they pair
            // with the rows whatever order RETURNING lists them in.
            let mut rest = rows;
            for size in crate::recording::chunk_sizes(rows.len()) {
                let (chunk, after) = rest.split_at(size);
                rest = after;
                let sql = format!(
                    "INSERT INTO ingest (kind, payload, node, received_at) VALUES {} \
                     RETURNING id",
                    crate::recording::value_rows(1, size, 4)
                );
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q.bind(&r.kind).bind(&r.payload).bind(node).bind(ms(at));
                }
                let mut got: Vec<i64> = q.fetch_all(&mut *tx).await?;
                got.sort_unstable();
                ids.extend(got);
            }
            if postgres {
                sqlx::query("SELECT pg_notify($1, '')")
                    .bind(INGEST_CHANNEL)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(ids)
        })
    }

    /// The ids of up to `limit` rows waiting, in id order: a cheap look (an index-only
    /// scan) at what is there, so that a consumer reads the payloads of new rows only.
    pub async fn ingest_ids(&self, limit: u32) -> Result<Vec<i64>, StoreError> {
        with_pool!(self, pool => {
            let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM ingest ORDER BY id LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            Ok(ids)
        })
    }

    /// The rows with these ids that are still waiting, in id order.
    pub async fn ingest_rows(&self, ids: &[i64]) -> Result<Vec<IngestRow>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(DELETE_CHUNK) {
            let sql = format!(
                "SELECT id, kind, payload, node, received_at FROM ingest WHERE id IN ({})",
                crate::codec::placeholders(1, chunk.len())
            );
            let rows = with_pool!(self, pool => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(*id);
                }
                let rows = q.fetch_all(pool).await?;
                rows.iter()
                    .map(decode_ingest)
                    .collect::<Result<Vec<_>, StoreError>>()?
            });
            out.extend(rows);
        }
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    /// Deletes ingest rows that cannot be applied (a payload no release understands),
    /// under the coordinator's fence.
    pub async fn discard_ingest(&self, commit: &Commit) -> Result<(), StoreError> {
        let postgres = self.is_postgres();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            begin_commit!(tx, commit, postgres);
            tx.commit().await?;
        });
        Ok(())
    }

    /// How many rows wait for the coordinator.
    pub async fn ingest_backlog(&self) -> Result<u64, StoreError> {
        let n: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM ingest").fetch_one(pool).await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Sends a notification to every node listening on `channel` (PostgreSQL; on
    /// SQLite there is no other node and this does nothing).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        if let crate::Backend::Postgres(pool) = &self.backend {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Listens on `channels` on a connection of its own (PostgreSQL); `None` on
    /// SQLite.
    pub async fn listen(&self, channels: &[&str]) -> Result<Option<Listener>, StoreError> {
        match &self.backend {
            crate::Backend::Sqlite(_) => Ok(None),
            crate::Backend::Postgres(pool) => {
                let mut inner = sqlx::postgres::PgListener::connect_with(pool).await?;
                inner.listen_all(channels.iter().copied()).await?;
                Ok(Some(Listener { inner }))
            }
        }
    }

    /// Records when agents were last heard from, and by which node (a row moves only
    /// forward in time).
    pub async fn record_agent_presence(&self, rows: &[AgentPresence]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for a in rows {
                sqlx::query(
                    "INSERT INTO agent_presence (agent_id, name, region, version, last_seen, node) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (agent_id) DO UPDATE SET name = excluded.name, \
                     region = excluded.region, \
                     version = COALESCE(excluded.version, agent_presence.version), \
                     last_seen = excluded.last_seen, node = excluded.node \
                     WHERE excluded.last_seen >= agent_presence.last_seen",
                )
                .bind(a.id)
                .bind(&a.name)
                .bind(&a.region)
                .bind(a.version.as_deref())
                .bind(ms(a.last_seen))
                .bind(a.node)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Agents heard from at or after `since`, by any node.
    pub async fn agent_presence(&self, since: Timestamp) -> Result<Vec<AgentPresence>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT agent_id, name, region, version, last_seen, node FROM agent_presence \
                 WHERE last_seen >= $1 ORDER BY agent_id",
            )
            .bind(ms(since))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "agent_presence");
                    Ok(AgentPresence {
                        id: r.uuid("agent_id")?,
                        name: r.string("name")?,
                        region: r.string("region")?,
                        version: r.opt_string("version")?,
                        last_seen: r.timestamp("last_seen")?,
                        node: r.uuid("node")?,
                    })
                })
                .collect()
        })
    }

    /// Whether this row still waits for the coordinator.
    pub async fn ingest_waiting(&self, id: i64) -> Result<bool, StoreError> {
        let n: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM ingest WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await?
        });
        Ok(n > 0)
    }

    /// Whether other nodes may share this database (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.is_postgres()
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.backend, crate::Backend::Postgres(_))
    }
}
