//! Heartbeat monitors: their ping tokens, the memory of their state machine, the ping
//! log (bounded per monitor), and server-wide settings such as the slug ping key.
//!
//! Pings are written by a group-commit writer: [`Store::record_heartbeats`] takes a
//! batch and writes it in one transaction, so many pings cost one commit.

use jiff::Timestamp;
use serde::Serialize;
use vigilmon_core::MonitorId;
use vigilmon_core::heartbeat::HeartbeatState;
use vigilmon_core::state::MonitorState;

use crate::codec::{Cols, Reader, ms, opt_int};
use crate::{Commit, Store, StoreError};

/// A heartbeat monitor's ping token and remembered state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRow {
    pub monitor_id: MonitorId,
    pub token: String,
    pub state: HeartbeatState,
    /// Every ping ever stored for it (the log keeps only the latest).
    pub pings_total: u64,
}

/// One received ping, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PingRecord {
    pub received_at: Timestamp,
    /// `success`, `start`, `fail`, `log`, or `ignored` (a method the monitor does not accept).
    pub kind: String,
    pub method: String,
    pub exit_status: Option<u8>,
    pub rid: Option<String>,
    /// Time since the matching start, for finishing pings.
    pub duration_ms: Option<u64>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub body: Option<String>,
    /// The body was longer than what is kept.
    pub body_truncated: bool,
    /// Why this ping counted as a failure, in words.
    pub failure: Option<String>,
}

/// A logged ping with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPing {
    pub id: i64,
    pub monitor_id: MonitorId,
    pub ping: PingRecord,
}

/// One change to write: an optional ping, and the state it (or a deadline) led to.
#[derive(Debug, Clone)]
pub struct HeartbeatWrite {
    pub monitor_id: MonitorId,
    pub ping: Option<PingRecord>,
    pub state: HeartbeatState,
    pub monitor_state: MonitorState,
    /// When it happened (the ping's arrival or the deadline).
    pub at: Timestamp,
}

/// Writes a monitor's state after a batch: a paused monitor keeps its state;
/// `state_changed_at` moves only on change, to `$3`, when the final state began;
/// `last_checked_at` moves forward to `$4`, the last ping's time (NULL: no ping).
const UPDATE_MONITOR_COLLAPSED: &str = "UPDATE monitors SET \
    state = CASE WHEN paused THEN state ELSE $2 END, \
    state_changed_at = CASE WHEN paused OR state = $2 THEN state_changed_at ELSE $3 END, \
    last_checked_at = CASE WHEN $4 IS NOT NULL AND (last_checked_at IS NULL OR last_checked_at < $4) \
        THEN $4 ELSE last_checked_at END \
    WHERE id = $1";

/// Logs `rows` pings, in order (their ids grow with it).
fn insert_pings_sql(rows: usize) -> String {
    format!(
        "INSERT INTO pings (monitor_id, received_at, kind, method, exit_status, rid, \
         duration_ms, source_ip, user_agent, body, body_truncated, failure) VALUES {}",
        crate::recording::value_rows(1, rows, 12)
    )
}

const UPDATE_HEARTBEAT: &str = "UPDATE heartbeats SET state = $2, \
    pings_total = pings_total + $3, updated_at = $4 WHERE monitor_id = $1 \
    RETURNING pings_total";

/// How many pings a monitor's log may gain before it is trimmed back to `keep`: a
/// tenth of it (at least 1). Trimming reads the log's newest `keep` entries, so doing
/// it once per this many pings instead of in every batch keeps a busy monitor's pings
/// cheap; the log holds between `keep` and `keep` + this − 1 pings (and a batch's).
pub fn prune_every(keep: u32) -> u64 {
    u64::from((keep / 10).max(1))
}

/// Whether a count that grew from `before` to `after` crossed a multiple of `every`.
fn crossed(before: u64, after: u64, every: u64) -> bool {
    before / every != after / every
}

/// Keeps the newest `$2` pings of monitor `$1`.
const PRUNE_PINGS: &str = "DELETE FROM pings WHERE monitor_id = $1 AND id <= \
    (SELECT id FROM pings WHERE monitor_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)";

const PING_COLUMNS: &str = "id, monitor_id, received_at, kind, method, exit_status, rid, \
    duration_ms, source_ip, user_agent, body, body_truncated, failure";

pub(crate) fn decode_heartbeat<R: Cols>(row: &R) -> Result<HeartbeatRow, StoreError> {
    let r = Reader::new(row, "heartbeats");
    let text = r.string("state")?;
    let state = serde_json::from_str(&text).map_err(|e| r.corrupt("state", e))?;
    Ok(HeartbeatRow {
        monitor_id: MonitorId(r.uuid("monitor_id")?),
        token: r.string("token")?,
        state,
        pings_total: r.u64("pings_total")?,
    })
}

fn decode_ping<R: Cols>(row: &R) -> Result<StoredPing, StoreError> {
    let r = Reader::new(row, "pings");
    let exit_status = match r.opt_u64("exit_status")? {
        Some(v) => Some(
            u8::try_from(v).map_err(|_| r.corrupt("exit_status", format!("{v} is over 255")))?,
        ),
        None => None,
    };
    Ok(StoredPing {
        id: r.i64("id")?,
        monitor_id: MonitorId(r.uuid("monitor_id")?),
        ping: PingRecord {
            received_at: r.timestamp("received_at")?,
            kind: r.string("kind")?,
            method: r.string("method")?,
            exit_status,
            rid: r.opt_string("rid")?,
            duration_ms: r.opt_u64("duration_ms")?,
            source_ip: r.opt_string("source_ip")?,
            user_agent: r.opt_string("user_agent")?,
            body: r.opt_string("body")?,
            body_truncated: r.bool("body_truncated")?,
            failure: r.opt_string("failure")?,
        },
    })
}

fn state_json(state: &HeartbeatState) -> Result<String, StoreError> {
    serde_json::to_string(state).map_err(|e| StoreError::Corrupt(format!("heartbeats.state: {e}")))
}

impl Store {
    /// Makes sure heartbeat monitor `id` has a row, creating it with `token` when it has
    /// none; returns the token in force (the existing one wins).
    pub async fn ensure_heartbeat(
        &self,
        id: MonitorId,
        token: &str,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let initial = state_json(&HeartbeatState::default())?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO heartbeats (monitor_id, token, state, pings_total, updated_at) \
                 VALUES ($1, $2, $3, 0, $4) ON CONFLICT (monitor_id) DO NOTHING",
            )
            .bind(id.as_uuid())
            .bind(token)
            .bind(&initial)
            .bind(ms(now))
            .execute(pool)
            .await?;
            let row = sqlx::query("SELECT monitor_id, token, state, pings_total FROM heartbeats WHERE monitor_id = $1")
                .bind(id.as_uuid())
                .fetch_one(pool)
                .await?;
            Ok(decode_heartbeat(&row)?.token)
        })
    }

    /// Gives heartbeat monitor `id` the ping token its config names (making its row if
    /// it has none, keeping its state otherwise); returns whether the token changed.
    /// A token another monitor has is a [`StoreError::Conflict`] on `token`.
    pub async fn set_heartbeat_token(
        &self,
        id: MonitorId,
        token: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let initial = state_json(&HeartbeatState::default())?;
        let conflict = |e| {
            crate::error::unique_conflict(e, "token", "token", || {
                "another heartbeat monitor has this ping token".to_owned()
            })
        };
        with_pool!(self, pool => {
            let before = sqlx::query("SELECT token FROM heartbeats WHERE monitor_id = $1")
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await?;
            let before: Option<String> = match before {
                Some(row) => Some(Reader::new(&row, "heartbeats").string("token")?),
                None => None,
            };
            if before.as_deref() == Some(token) {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO heartbeats (monitor_id, token, state, pings_total, updated_at) \
                 VALUES ($1, $2, $3, 0, $4) \
                 ON CONFLICT (monitor_id) DO UPDATE SET token = excluded.token",
            )
            .bind(id.as_uuid())
            .bind(token)
            .bind(&initial)
            .bind(ms(now))
            .execute(pool)
            .await
            .map_err(conflict)?;
            Ok(true)
        })
    }

    /// Every heartbeat monitor's row.
    pub async fn heartbeats(&self) -> Result<Vec<HeartbeatRow>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT monitor_id, token, state, pings_total FROM heartbeats")
                .fetch_all(pool)
                .await?;
            rows.iter().map(decode_heartbeat).collect()
        })
    }

    /// One heartbeat monitor's row.
    pub async fn heartbeat(&self, id: MonitorId) -> Result<Option<HeartbeatRow>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT monitor_id, token, state, pings_total FROM heartbeats WHERE monitor_id = $1")
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(decode_heartbeat).transpose()
        })
    }

    /// Writes a batch of pings and state changes in one transaction, then trims each
    /// pinged monitor's log to its newest `keep_pings` entries once it has grown by
    /// [`prune_every`] past a multiple of it. Changes for monitors
    /// that no longer exist are skipped. Either the whole batch lands or none of it.
    pub async fn record_heartbeats(
        &self,
        batch: &[HeartbeatWrite],
        keep_pings: u32,
    ) -> Result<(), StoreError> {
        self.record_heartbeats_under(batch, keep_pings, &Commit::unfenced())
            .await
    }

    /// [`Store::record_heartbeats`] by the coordinator: under its fence, consuming the
    /// ingest rows the batch applies (see [`Commit`]).
    pub async fn record_heartbeats_under(
        &self,
        batch: &[HeartbeatWrite],
        keep_pings: u32,
        commit: &Commit,
    ) -> Result<(), StoreError> {
        if batch.is_empty() && commit.consumed.is_empty() {
            return Ok(());
        }
        let postgres = self.is_postgres();
        // Collapse the batch per monitor: its pings are all inserted, but only its
        // final state is written (one UPDATE per monitor, not one per ping).
        struct PerMonitor<'a> {
            pings: Vec<&'a PingRecord>,
            last: &'a HeartbeatWrite,
            /// When the final state began within this batch.
            state_since: Timestamp,
            last_ping_at: Option<Timestamp>,
        }
        let mut order: Vec<MonitorId> = Vec::new();
        let mut per: std::collections::HashMap<MonitorId, PerMonitor<'_>> =
            std::collections::HashMap::new();
        for w in batch {
            let e = per.entry(w.monitor_id).or_insert_with(|| {
                order.push(w.monitor_id);
                PerMonitor {
                    pings: Vec::new(),
                    last: w,
                    state_since: w.at,
                    last_ping_at: None,
                }
            });
            if w.monitor_state != e.last.monitor_state {
                e.state_since = w.at;
            }
            e.last = w;
            if let Some(p) = &w.ping {
                e.pings.push(p);
                e.last_ping_at = Some(e.last_ping_at.map_or(w.at, |t| t.max(w.at)));
            }
        }
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            crate::ingest::begin_commit!(tx, commit, postgres);
            // Each monitor's heartbeat row first (which also tells whether it still
            // exists), then every ping of the batch in multi-row statements, then
            // each monitor's state and its log's bound.
            // (monitor, whether its log is due a trim), of those not deleted meanwhile.
            let mut kept: Vec<(&MonitorId, bool)> = Vec::with_capacity(order.len());
            for id in &order {
                let m = &per[id];
                let state = state_json(&m.last.state)?;
                let added = u64::try_from(m.pings.len()).unwrap_or(u64::MAX);
                let total: Option<i64> = sqlx::query_scalar(UPDATE_HEARTBEAT)
                    .bind(id.as_uuid())
                    .bind(&state)
                    .bind(i64::try_from(added).unwrap_or(i64::MAX))
                    .bind(ms(m.last.at))
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(total) = total {
                    let total = u64::try_from(total).unwrap_or(0);
                    let due = added > 0
                        && total > u64::from(keep_pings)
                        && crossed(total.saturating_sub(added), total, prune_every(keep_pings));
                    kept.push((id, due));
                }
            }
            let pings: Vec<(&MonitorId, &PingRecord)> = kept
                .iter()
                .flat_map(|(id, _)| per[*id].pings.iter().map(move |p| (*id, *p)))
                .collect();
            let mut rest = &pings[..];
            for size in crate::recording::chunk_sizes(pings.len()) {
                let (chunk, after) = rest.split_at(size);
                rest = after;
                let sql = insert_pings_sql(size);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (id, p) in chunk {
                    q = q
                        .bind(id.as_uuid())
                        .bind(ms(p.received_at))
                        .bind(&p.kind)
                        .bind(&p.method)
                        .bind(p.exit_status.map(i64::from))
                        .bind(p.rid.as_deref())
                        .bind(opt_int(p.duration_ms))
                        .bind(p.source_ip.as_deref())
                        .bind(p.user_agent.as_deref())
                        .bind(p.body.as_deref())
                        .bind(p.body_truncated)
                        .bind(p.failure.as_deref());
                }
                q.execute(&mut *tx).await?;
            }
            for (id, trim) in kept {
                let m = &per[id];
                let uuid = id.as_uuid();
                // The state change (if any) happened when the final state began; the
                // last ping moves last_checked_at.
                sqlx::query(UPDATE_MONITOR_COLLAPSED)
                    .bind(uuid)
                    .bind(m.last.monitor_state.as_str())
                    .bind(ms(m.state_since))
                    .bind(m.last_ping_at.map(ms))
                    .execute(&mut *tx)
                    .await?;
                if trim {
                    sqlx::query(PRUNE_PINGS)
                        .bind(uuid)
                        .bind(i64::from(keep_pings))
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The newest `limit` pings of a monitor (1–1000), newest first.
    pub async fn list_pings(
        &self,
        id: MonitorId,
        limit: u32,
    ) -> Result<Vec<StoredPing>, StoreError> {
        let limit = i64::from(limit.clamp(1, 1000));
        let sql = format!(
            "SELECT {PING_COLUMNS} FROM pings WHERE monitor_id = $1 ORDER BY id DESC LIMIT $2"
        );
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id.as_uuid())
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(decode_ping).collect()
        })
    }

    /// How many pings of a monitor are in the log.
    pub async fn count_pings(&self, id: MonitorId) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let n: i64 = sqlx::Row::try_get(
                &sqlx::query("SELECT COUNT(*) AS n FROM pings WHERE monitor_id = $1")
                    .bind(id.as_uuid())
                    .fetch_one(pool)
                    .await?,
                "n",
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// A server-wide setting.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => Some(sqlx::Row::try_get::<String, _>(&r, "value")?),
                None => None,
            })
        })
    }

    /// Returns the setting, first storing `value` if it has none (the first writer wins,
    /// also between several servers).
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(value)
                .execute(pool)
                .await?;
        });
        self.setting(key).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("settings.{key}: missing right after insert"))
        })
    }
}
