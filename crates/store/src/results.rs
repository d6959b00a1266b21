//! Check results and per-region state: recording a batch of checks atomically,
//! querying the history, pruning it.

use std::collections::HashMap;

use jiff::Timestamp;
use uuid::Uuid;
use vigilmon_core::state::RegionStatus;
use vigilmon_core::{CheckResult, MonitorId, Phases, Verdict};

use crate::codec::{Cols, Reader, bind_ids, int, int32, ms, opt_int32, opt_ms, placeholders};
use crate::compact::{peer_bytes, verdict_code};
use crate::monitors::{SELECT_ALL, SELECT_BY_ID, decode_monitor, sort_by_name};
use crate::recording;
use crate::{Backend, MonitorRecord};
use crate::{
    Commit, RecordedCheck, RegionStateRecord, ResultFilter, Store, StoreError, StoredResult,
};

/// Gives a region name its number in `check_results` if it has none yet.
const INSERT_REGION_KEY: &str =
    "INSERT INTO result_regions (name) VALUES ($1) ON CONFLICT (name) DO NOTHING";

/// A region name's number.
const SELECT_REGION_KEY: &str = "SELECT CAST(key AS BIGINT) FROM result_regions WHERE name = $1";

/// `$1` is the monitor, `$2` an optional region; the time range is
/// `$3 <= checked_at < $4`. Newest first, then by region number: the primary key's
/// order, so that the limit ends the read.
const LIST_RESULTS: &str = "SELECT m.id AS monitor_id, r.name AS region, c.checked_at, \
    c.state, c.verdict, c.error_kind, c.message, c.duration_ms, c.dns_ms, c.connect_ms, \
    c.tls_ms, c.ttfb_ms, c.status_code, c.body_excerpt, c.cert_expires_at, c.peer, c.details \
    FROM monitors m JOIN check_results c ON c.monitor_key = m.result_key \
    JOIN result_regions r ON r.key = c.region_key \
    WHERE m.id = $1 AND ($2 IS NULL OR r.name = $2) \
    AND c.checked_at >= $3 AND c.checked_at < $4 \
    ORDER BY c.checked_at DESC, c.region_key DESC LIMIT $5";

/// The columns [`decode_region`] reads, as a string literal for `concat!`.
macro_rules! region_columns {
    () => {
        "monitor_id, region, state, consecutive_failures, checked_at, duration_ms, error_kind, \
         error, cert_expires_at"
    };
}

/// The columns [`decode_region`] reads.
const REGION_COLUMNS: &str = region_columns!();

/// One batch of [`Store::delete_results_before`]: up to `$2` results checked before
/// `$1`, monitor by monitor from the monitor numbered `$3` (each monitor's results are
/// a range of the primary key, oldest first). Returns each deleted row's monitor
/// number, for where the next batch starts. The outer condition on `checked_at` keeps
/// the delete to the partitions that can hold the rows on PostgreSQL.
const DELETE_BEFORE: &str = "DELETE FROM check_results \
    WHERE checked_at < $1 AND (monitor_key, checked_at, region_key) IN \
    (SELECT c.monitor_key, c.checked_at, c.region_key \
     FROM monitors m JOIN check_results c ON c.monitor_key = m.result_key \
     WHERE m.result_key >= $3 AND c.checked_at < $1 \
     ORDER BY m.result_key LIMIT $2) \
    RETURNING CAST(monitor_key AS BIGINT)";

/// Results deleted per [`Store::delete_results_before`] call when `batch` is 0.
const DEFAULT_DELETE_BATCH: u32 = 1000;

/// Decodes a row selected by [`LIST_RESULTS`]. The verdict is rebuilt from `verdict`,
/// `error_kind` and `message`.
fn decode_result<R: Cols>(row: &R) -> Result<StoredResult, StoreError> {
    let r = Reader::new(row, "check_results");
    let error_kind = r.opt_error_kind_code("error_kind")?;
    let message = r.opt_string("message")?;
    let verdict = match r.i64("verdict")? {
        0 => Verdict::Up,
        1 => Verdict::Degraded {
            reason: message.unwrap_or_default(),
        },
        2 => Verdict::Down {
            kind: error_kind
                .ok_or_else(|| r.corrupt("error_kind", "missing for a down verdict"))?,
            message: message.unwrap_or_default(),
        },
        other => return Err(r.corrupt("verdict", format!("unknown verdict code {other}"))),
    };
    Ok(StoredResult {
        monitor_id: MonitorId(r.uuid("monitor_id")?),
        state: r.state_code("state")?,
        result: CheckResult {
            region: r.region("region")?,
            checked_at: r.timestamp("checked_at")?,
            duration_ms: r.u64("duration_ms")?,
            phases: Phases {
                dns_ms: r.opt_u64("dns_ms")?,
                connect_ms: r.opt_u64("connect_ms")?,
                tls_ms: r.opt_u64("tls_ms")?,
                ttfb_ms: r.opt_u64("ttfb_ms")?,
            },
            status_code: r.opt_u16("status_code")?,
            verdict,
            body_excerpt: r.opt_string("body_excerpt")?,
            cert_expires_at: r.opt_timestamp("cert_expires_at")?,
            remote_addr: r.opt_peer("peer")?,
            details: match r.opt_string("details")? {
                None => None,
                Some(text) => Some(
                    serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("check_results.details: {e}")))?,
                ),
            },
        },
    })
}

/// Decodes a row selected with `region_columns!()`.
fn decode_region<R: Cols>(row: &R) -> Result<(MonitorId, RegionStateRecord), StoreError> {
    let r = Reader::new(row, "monitor_regions");
    Ok((
        MonitorId(r.uuid("monitor_id")?),
        RegionStateRecord {
            region: r.region("region")?,
            status: RegionStatus {
                state: r.state("state")?,
                consecutive_failures: r.u32("consecutive_failures")?,
            },
            checked_at: r.opt_timestamp("checked_at")?,
            duration_ms: r.opt_u64("duration_ms")?,
            error_kind: r.opt_error_kind("error_kind")?,
            error: r.opt_string("error")?,
            cert_expires_at: r.opt_timestamp("cert_expires_at")?,
        },
    ))
}

impl Store {
    /// Records a batch of checks in one transaction: all of it lands or none does.
    ///
    /// The outcome is that of each check applied in order: the result is inserted
    /// (a check already stored is left alone); the region's row is upserted (state,
    /// failure streak, check time, duration, error kind and message); the monitor's
    /// state is set (with `state_changed_at` when it changed, except that a paused
    /// monitor stays paused) and `last_checked_at` advanced. A history-only check only
    /// adds its result and advances `last_checked_at`. Checks of a monitor that no
    /// longer exists (deleted while the check was in flight) are skipped. It is written
    /// with a few multi-row statements, not check by check (see `recording`).
    pub async fn record_results(&self, batch: &[RecordedCheck]) -> Result<(), StoreError> {
        self.record_results_under(batch, &Commit::unfenced()).await
    }

    /// [`Store::record_results`] by the coordinator: under its fence, consuming the
    /// ingest rows the batch applies (see [`Commit`]).
    pub async fn record_results_under(
        &self,
        batch: &[RecordedCheck],
        commit: &Commit,
    ) -> Result<(), StoreError> {
        if batch.is_empty() && commit.consumed.is_empty() {
            return Ok(());
        }
        let postgres = self.is_postgres();
        let monitors = recording::monitor_writes(batch);
        let regions_latest = recording::latest_per_region(batch);
        // Region numbers this transaction read or gave, remembered once it commits.
        let mut met: Vec<(String, i64)> = Vec::new();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            crate::ingest::begin_commit!(tx, commit, postgres);
            // First the monitors, as that also tells which still exist and their
            // numbers (and takes their rows' locks before anything is read).
            let mut keys: HashMap<Uuid, i64> = HashMap::with_capacity(monitors.len());
            let mut rest = &monitors[..];
            for size in recording::chunk_sizes(monitors.len()) {
                let (chunk, after) = rest.split_at(size);
                rest = after;
                let sql = recording::update_monitors_sql(size);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for w in chunk {
                    q = q
                        .bind(w.id)
                        .bind(w.last_state)
                        .bind(w.first.map(|(state, _)| state))
                        .bind(w.first.map(|(_, at)| at))
                        .bind(w.changed_within)
                        .bind(w.last_at);
                }
                for row in q.fetch_all(&mut *tx).await? {
                    let r = Reader::new(&row, "monitors");
                    keys.insert(r.uuid("id")?, r.i64("result_key")?);
                }
            }
            // The numbers of the batch's regions.
            let mut region_keys: HashMap<&str, i64> = HashMap::new();
            for check in batch {
                let region = check.result.region.as_str();
                if region_keys.contains_key(region) {
                    continue;
                }
                let key = match self.region_keys.get(region) {
                    Some(k) => k,
                    None => {
                        sqlx::query(INSERT_REGION_KEY)
                            .bind(region)
                            .execute(&mut *tx)
                            .await?;
                        let k: i64 = sqlx::query_scalar(SELECT_REGION_KEY)
                            .bind(region)
                            .fetch_one(&mut *tx)
                            .await?;
                        met.push((region.to_owned(), k));
                        k
                    }
                };
                region_keys.insert(region, key);
            }
            // The results of the monitors still there (a monitor deleted while its
            // check was in flight has none written).
            let kept: Vec<(&RecordedCheck, i64)> = batch
                .iter()
                .filter_map(|c| keys.get(&c.monitor_id.0).map(|k| (c, *k)))
                .collect();
            if kept.len() < batch.len() {
                tracing::debug!(
                    skipped = batch.len() - kept.len(),
                    "skipping results of deleted monitors"
                );
            }
            let mut rest = &kept[..];
            for size in recording::chunk_sizes(kept.len()) {
                let (chunk, after) = rest.split_at(size);
                rest = after;
                let sql = recording::insert_results_sql(size);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (check, monitor_key) in chunk {
                    let r = &check.result;
                    q = q
                        .bind(*monitor_key)
                        .bind(ms(r.checked_at))
                        .bind(region_keys.get(r.region.as_str()).copied())
                        .bind(verdict_code(&r.verdict))
                        .bind(i16::from(check.region_status.state.code()))
                        .bind(r.verdict.error_kind().map(|k| i16::from(k.code())))
                        .bind(int32(r.duration_ms))
                        .bind(opt_int32(r.phases.dns_ms))
                        .bind(opt_int32(r.phases.connect_ms))
                        .bind(opt_int32(r.phases.tls_ms))
                        .bind(opt_int32(r.phases.ttfb_ms))
                        .bind(r.status_code.map(i32::from))
                        .bind(opt_ms(r.cert_expires_at))
                        .bind(r.remote_addr.as_deref().map(peer_bytes))
                        .bind(r.verdict.message())
                        .bind(r.body_excerpt.as_deref())
                        .bind(r.details.as_ref().map(serde_json::Value::to_string));
                }
                q.execute(&mut *tx).await?;
            }
            // Each region's latest state.
            let latest: Vec<&RecordedCheck> = regions_latest
                .into_iter()
                .filter(|c| keys.contains_key(&c.monitor_id.0))
                .collect();
            let mut rest = &latest[..];
            for size in recording::chunk_sizes(latest.len()) {
                let (chunk, after) = rest.split_at(size);
                rest = after;
                let sql = recording::upsert_regions_sql(size);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for check in chunk {
                    let r = &check.result;
                    q = q
                        .bind(check.monitor_id.0)
                        .bind(r.region.as_str())
                        .bind(check.region_status.state.as_str())
                        .bind(i64::from(check.region_status.consecutive_failures))
                        .bind(ms(r.checked_at))
                        .bind(int(r.duration_ms))
                        .bind(r.verdict.error_kind().map(|k| k.as_str()))
                        .bind(r.verdict.message())
                        .bind(opt_ms(r.cert_expires_at));
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        self.region_keys.learn(met);
        Ok(())
    }

    /// A monitor's results matching `filter`, newest first.
    pub async fn list_results(
        &self,
        id: MonitorId,
        filter: &ResultFilter,
    ) -> Result<Vec<StoredResult>, StoreError> {
        let region = filter.region.as_ref().map(|r| r.as_str());
        let since = filter.since.map_or(i64::MIN, ms);
        let until = filter.until.map_or(i64::MAX, ms);
        let limit = i64::from(filter.effective_limit());
        with_pool!(self, pool => {
            let rows = sqlx::query(LIST_RESULTS)
                .bind(id.0)
                .bind(region)
                .bind(since)
                .bind(until)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(decode_result).collect()
        })
    }

    /// A monitor's state in each region, ordered by region.
    pub async fn region_states(&self, id: MonitorId) -> Result<Vec<RegionStateRecord>, StoreError> {
        let mut regions = with_pool!(self, pool => {
            let rows = sqlx::query(concat!(
                "SELECT ",
                region_columns!(),
                " FROM monitor_regions WHERE monitor_id = $1"
            ))
            .bind(id.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| decode_region(row).map(|(_, r)| r))
                .collect::<Result<Vec<_>, _>>()?
        });
        // Sorted here for one order on both backends (see `list_monitors`).
        regions.sort_by(|a, b| a.region.cmp(&b.region));
        Ok(regions)
    }

    /// A monitor and its state in each region (ordered by region), read from one
    /// snapshot of the database, so the monitor's state and its regions' states agree
    /// (the recorder writes them in one transaction).
    pub async fn monitor_with_regions(
        &self,
        id: MonitorId,
    ) -> Result<Option<(MonitorRecord, Vec<RegionStateRecord>)>, StoreError> {
        macro_rules! read {
            ($tx:ident) => {{
                let Some(row) = sqlx::query(SELECT_BY_ID)
                    .bind(id.0)
                    .fetch_optional(&mut *$tx)
                    .await?
                else {
                    return Ok(None);
                };
                let monitor = decode_monitor(&row)?;
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    region_columns!(),
                    " FROM monitor_regions WHERE monitor_id = $1"
                ))
                .bind(id.0)
                .fetch_all(&mut *$tx)
                .await?;
                $tx.commit().await?;
                let regions = rows
                    .iter()
                    .map(|row| decode_region(row).map(|(_, r)| r))
                    .collect::<Result<Vec<_>, _>>()?;
                (monitor, regions)
            }};
        }
        let (monitor, mut regions) = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                read!(tx)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?;
                read!(tx)
            }
        };
        regions.sort_by(|a, b| a.region.cmp(&b.region));
        Ok(Some((monitor, regions)))
    }

    /// Every monitor (in name order) and every monitor's state in every region
    /// (ordered by monitor id, then region), read from one snapshot of the database.
    pub async fn monitors_with_regions(
        &self,
    ) -> Result<(Vec<MonitorRecord>, Vec<(MonitorId, RegionStateRecord)>), StoreError> {
        let (mut monitors, regions) = self.snapshot_of(None).await?;
        sort_by_name(&mut monitors);
        Ok((monitors, regions))
    }

    /// The monitors with these ids (in the order of `ids`; ids that no longer exist
    /// left out) and their region states (ordered by monitor id, then region), read
    /// from one snapshot as [`Store::monitors_with_regions`] reads them all.
    pub async fn monitors_with_regions_of(
        &self,
        ids: &[MonitorId],
    ) -> Result<(Vec<MonitorRecord>, Vec<(MonitorId, RegionStateRecord)>), StoreError> {
        if ids.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let (monitors, regions) = self.snapshot_of(Some(ids)).await?;
        let mut by_id: std::collections::HashMap<MonitorId, MonitorRecord> =
            monitors.into_iter().map(|m| (m.id, m)).collect();
        let ordered = ids.iter().filter_map(|id| by_id.remove(id)).collect();
        Ok((ordered, regions))
    }

    /// Monitors and their region states (all, or those of `ids`) from one snapshot:
    /// one read-only repeatable-read transaction on PostgreSQL, one transaction on
    /// SQLite. Regions come ordered by monitor id, then region; monitors unordered.
    async fn snapshot_of(
        &self,
        ids: Option<&[MonitorId]>,
    ) -> Result<(Vec<MonitorRecord>, Vec<(MonitorId, RegionStateRecord)>), StoreError> {
        let only = ids.unwrap_or_default();
        let (monitors_sql, regions_sql) = match ids {
            None => (
                SELECT_ALL.to_owned(),
                format!("SELECT {REGION_COLUMNS} FROM monitor_regions"),
            ),
            Some(ids) => {
                let list = placeholders(1, ids.len());
                (
                    format!("{SELECT_ALL} WHERE id IN ({list})"),
                    format!(
                        "SELECT {REGION_COLUMNS} FROM monitor_regions WHERE monitor_id IN ({list})"
                    ),
                )
            }
        };
        macro_rules! read {
            ($tx:ident) => {{
                let monitors = bind_ids!(sqlx::query(sqlx::AssertSqlSafe(monitors_sql)), only)
                    .fetch_all(&mut *$tx)
                    .await?;
                let regions = bind_ids!(sqlx::query(sqlx::AssertSqlSafe(regions_sql)), only)
                    .fetch_all(&mut *$tx)
                    .await?;
                $tx.commit().await?;
                (
                    monitors
                        .iter()
                        .map(decode_monitor)
                        .collect::<Result<Vec<_>, _>>()?,
                    regions
                        .iter()
                        .map(decode_region)
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }};
        }
        let (monitors, mut regions): (Vec<MonitorRecord>, Vec<(MonitorId, RegionStateRecord)>) =
            match &self.backend {
                Backend::Sqlite(pool) => {
                    let mut tx = pool.begin().await?;
                    read!(tx)
                }
                Backend::Postgres(pool) => {
                    let mut tx = pool
                        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                        .await?;
                    read!(tx)
                }
            };
        regions.sort_by(|a, b| (a.0, &a.1.region).cmp(&(b.0, &b.1.region)));
        Ok((monitors, regions))
    }

    /// Every monitor's state in every region, ordered by monitor id, then region.
    pub async fn all_region_states(
        &self,
    ) -> Result<Vec<(MonitorId, RegionStateRecord)>, StoreError> {
        let mut regions = with_pool!(self, pool => {
            let rows = sqlx::query(concat!("SELECT ", region_columns!(), " FROM monitor_regions"))
                .fetch_all(pool)
                .await?;
            rows.iter().map(decode_region).collect::<Result<Vec<_>, _>>()?
        });
        regions.sort_by(|a, b| (a.0, &a.1.region).cmp(&(b.0, &b.1.region)));
        Ok(regions)
    }

    /// Deletes up to `batch` results (0 means 1000) checked before `cutoff` and returns
    /// how many it deleted. Call it repeatedly until it returns fewer than `batch`:
    /// small batches keep each transaction, and the time writers wait, short.
    ///
    /// Results go monitor by monitor (each monitor's oldest first), each call going on
    /// from the monitor where the last one stopped; a call that reaches the last monitor
    /// starts over from the first, so a short answer means every monitor was visited
    /// since the walk began, and 0 that nothing checked before `cutoff` is left.
    pub async fn delete_results_before(
        &self,
        cutoff: Timestamp,
        batch: u32,
    ) -> Result<u64, StoreError> {
        self.delete_results_before_under(cutoff, batch, &Commit::unfenced())
            .await
    }

    /// [`Store::delete_results_before`] by the coordinator, fenced (see [`Commit`]).
    pub async fn delete_results_before_under(
        &self,
        cutoff: Timestamp,
        batch: u32,
        commit: &Commit,
    ) -> Result<u64, StoreError> {
        use std::sync::atomic::Ordering;
        let batch = if batch == 0 {
            DEFAULT_DELETE_BATCH
        } else {
            batch
        };
        let postgres = self.is_postgres();
        loop {
            let from = self.expiry_from.load(Ordering::Relaxed);
            let keys: Vec<i64> = with_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                crate::ingest::begin_commit!(tx, commit, postgres);
                let keys = sqlx::query_scalar(DELETE_BEFORE)
                    .bind(ms(cutoff))
                    .bind(i64::from(batch))
                    .bind(from)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                keys
            });
            let n = keys.len() as u64;
            if n >= u64::from(batch) {
                // The last monitor reached may have more: the next call starts there.
                let last = keys.iter().copied().max().unwrap_or(from);
                self.expiry_from.store(last, Ordering::Relaxed);
                return Ok(n);
            }
            // The walk reached the last monitor: the next one starts from the first.
            self.expiry_from.store(0, Ordering::Relaxed);
            if n > 0 || from == 0 {
                return Ok(n);
            }
            // Nothing from the middle on: look at the monitors before it too.
        }
    }

    /// How many results are stored for a monitor.
    pub async fn count_results(&self, id: MonitorId) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM monitors m \
                 JOIN check_results c ON c.monitor_key = m.result_key WHERE m.id = $1",
            )
                .bind(id.0)
                .fetch_one(pool)
                .await?;
            Reader::new(&row, "check_results").u64("n")
        })
    }
}
