//! Summaries of check results for overviews (the web UI's dashboard): per monitor and
//! per time bucket, how many checks ran, how many were ok, and their latency.
//!
//! One grouped query over the time range serves every monitor asked for at once (the
//! dashboard asks for the rows it lists), instead of one query per monitor. Raw results
//! are meant for recent windows (an hour or so); longer windows combine them with the
//! hourly rollups.

use jiff::Timestamp;
use vigilmon_core::MonitorId;

use crate::codec::{Cols, Reader, bind_ids, ms, placeholders};
use crate::{Store, StoreError};

/// The checks of one monitor within one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultBucket {
    pub monitor_id: MonitorId,
    /// Index of the bucket: 0 starts at `since`, each spans `bucket_ms`.
    pub bucket: i64,
    /// Checks in the bucket (all regions).
    pub checks: u64,
    /// Of which passed (degraded counts as ok).
    pub ok: u64,
    /// Mean check duration, in milliseconds (rounded down).
    pub avg_ms: u64,
    /// Longest check duration, in milliseconds.
    pub max_ms: u64,
}

/// Every monitor's buckets from `$1`, `$2` ms wide, monitor by monitor through the
/// primary key `(monitor_key, checked_at, region_key)` (`CROSS JOIN` keeps SQLite's
/// loops in this order). A check passed when its verdict code is under 2: up or
/// degraded.
const BUCKETS_ALL: &str = "SELECT m.id AS monitor_id, (c.checked_at - $1) / $2 AS bucket, \
    CAST(COUNT(*) AS BIGINT) AS checks, \
    CAST(SUM(CASE WHEN c.verdict < 2 THEN 1 ELSE 0 END) AS BIGINT) AS ok_checks, \
    CAST(SUM(c.duration_ms) AS BIGINT) AS total_ms, \
    CAST(MAX(c.duration_ms) AS BIGINT) AS max_ms \
    FROM monitors m CROSS JOIN check_results c \
    WHERE c.monitor_key = m.result_key AND c.checked_at >= $1 GROUP BY m.id, bucket";

/// One monitor's buckets (`$3`), through the primary key.
const BUCKETS_ONE: &str = "SELECT m.id AS monitor_id, (c.checked_at - $1) / $2 AS bucket, \
    CAST(COUNT(*) AS BIGINT) AS checks, \
    CAST(SUM(CASE WHEN c.verdict < 2 THEN 1 ELSE 0 END) AS BIGINT) AS ok_checks, \
    CAST(SUM(c.duration_ms) AS BIGINT) AS total_ms, \
    CAST(MAX(c.duration_ms) AS BIGINT) AS max_ms \
    FROM monitors m JOIN check_results c ON c.monitor_key = m.result_key \
    WHERE m.id = $3 AND c.checked_at >= $1 GROUP BY m.id, bucket";

/// The results of the monitors `$2…` from `$1`, one row per monitor: its results packed
/// as `checked_at duration_ms ok` items joined by commas, a failed one followed by a
/// space and the start of its message (200 characters) in hexadecimal (`hex`: the
/// backend's hex of a text), so that no message can break the packing. Read monitor by
/// monitor through the primary key `(monitor_key, checked_at, region_key)`; one row
/// per monitor instead of one per result, because moving a row out of the database
/// costs more than building and splitting its text (SQLite 3.44+ and PostgreSQL both
/// have `string_agg`).
fn recent_sql(ids: usize, postgres: bool) -> String {
    let hex = if postgres {
        "encode(convert_to(substr(c.message, 1, 200), 'UTF8'), 'hex')"
    } else {
        "hex(substr(c.message, 1, 200))"
    };
    format!(
        "SELECT m.id AS monitor_id, string_agg(CAST(c.checked_at AS TEXT) || ' ' || \
         CAST(c.duration_ms AS TEXT) || ' ' || CASE WHEN c.verdict < 2 THEN '1' ELSE '0' END \
         || CASE WHEN c.verdict < 2 OR c.message IS NULL THEN '' ELSE ' ' || {hex} END, \
         ',') AS points \
         FROM monitors m JOIN check_results c ON c.monitor_key = m.result_key \
         WHERE m.id IN ({}) AND c.checked_at >= $1 GROUP BY m.id",
        placeholders(2, ids)
    )
}

/// Checks and passed checks of the monitors `$2…` from `$1`, through the same index.
fn counts_sql(ids: usize) -> String {
    format!(
        "SELECT m.id AS monitor_id, CAST(COUNT(*) AS BIGINT) AS checks, \
         CAST(SUM(CASE WHEN c.verdict < 2 THEN 1 ELSE 0 END) AS BIGINT) AS ok_checks \
         FROM monitors m JOIN check_results c ON c.monitor_key = m.result_key \
         WHERE m.id IN ({}) AND c.checked_at >= $1 GROUP BY m.id",
        placeholders(2, ids)
    )
}

/// Checks and failures of the monitors `$4…` in the hourly rollups of region `$3`
/// with `$1 <= bucket_start < $2`, monitor by monitor through the primary key
/// `(monitor_id, region, bucket_start)`. SQLite is told which index (`INDEXED BY`,
/// `indexed_by`): left to itself it prefers the covering `(region, bucket_start, …)`
/// index and reads the whole window of every monitor.
fn rollup_counts_sql(ids: usize, indexed_by: &str) -> String {
    format!(
        "SELECT monitor_id, CAST(SUM(checks) AS BIGINT) AS checks, \
         CAST(SUM(failures) AS BIGINT) AS failures FROM rollups_hourly{indexed_by} \
         WHERE monitor_id IN ({}) AND region = $3 AND bucket_start >= $1 \
         AND bucket_start < $2 GROUP BY monitor_id",
        placeholders(4, ids)
    )
}

/// The primary key's index of `rollups_hourly` on SQLite.
const ROLLUPS_BY_MONITOR: &str = " INDEXED BY sqlite_autoindex_rollups_hourly_1";

/// One result of [`Store::recent_checks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentCheck {
    pub monitor_id: MonitorId,
    pub checked_at: Timestamp,
    /// Passed (degraded counts as passed).
    pub ok: bool,
    pub duration_ms: u64,
    /// A failed check's message, its first 200 characters.
    pub error: Option<String>,
}

/// The text of a hexadecimal string (either case); `None` when it is not one.
fn unhex(hex: &str) -> Option<String> {
    let digit = |b: u8| (b as char).to_digit(16);
    let bytes = hex
        .as_bytes()
        .chunks(2)
        .map(|p| match p {
            [h, l] => Some((digit(*h)? * 16 + digit(*l)?) as u8),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The items of a [`recent_sql`] row.
fn unpack(id: MonitorId, points: &str, out: &mut Vec<RecentCheck>) -> Result<(), StoreError> {
    for item in points.split(',').filter(|i| !i.is_empty()) {
        let mut f = item.split(' ');
        let parsed = (|| {
            let at = f.next()?.parse::<i64>().ok()?;
            let duration_ms = f.next()?.parse::<u64>().ok()?;
            let ok = f.next()? == "1";
            let error = match f.next() {
                None => None,
                Some(h) => Some(unhex(h)?).filter(|e| !e.is_empty()),
            };
            Some(RecentCheck {
                monitor_id: id,
                checked_at: Timestamp::from_millisecond(at).ok()?,
                ok,
                duration_ms,
                error,
            })
        })();
        out.push(parsed.ok_or_else(|| {
            StoreError::Corrupt(format!("check_results: unreadable recent result {item:?}"))
        })?);
    }
    Ok(())
}

fn decode<R: Cols>(row: &R) -> Result<ResultBucket, StoreError> {
    let r = Reader::new(row, "check_results");
    let checks = r.u64("checks")?;
    let total = r.u64("total_ms")?;
    Ok(ResultBucket {
        monitor_id: MonitorId(r.uuid("monitor_id")?),
        bucket: r.i64("bucket")?,
        checks,
        ok: r.u64("ok_checks")?,
        avg_ms: total.checked_div(checks).unwrap_or(0),
        max_ms: r.u64("max_ms")?,
    })
}

impl Store {
    /// Results checked at or after `since`, grouped per monitor (or only `monitor`'s)
    /// into buckets of `bucket_ms` milliseconds, ordered by monitor id, then bucket.
    pub async fn result_buckets(
        &self,
        since: Timestamp,
        bucket_ms: i64,
        monitor: Option<MonitorId>,
    ) -> Result<Vec<ResultBucket>, StoreError> {
        let bucket_ms = bucket_ms.max(1);
        let mut out = with_pool!(self, pool => {
            let q = match monitor {
                None => sqlx::query(BUCKETS_ALL).bind(ms(since)).bind(bucket_ms),
                Some(m) => sqlx::query(BUCKETS_ONE)
                    .bind(ms(since))
                    .bind(bucket_ms)
                    .bind(m.0),
            };
            let rows = q.fetch_all(pool).await?;
            rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?
        });
        out.sort_by_key(|b| (b.monitor_id, b.bucket));
        Ok(out)
    }

    /// Checks and passed checks (degraded counts as passed) of each monitor of `ids`
    /// checked at or after `since`, ordered by monitor id; monitors without such
    /// results are left out.
    pub async fn result_counts(
        &self,
        since: Timestamp,
        ids: &[MonitorId],
    ) -> Result<Vec<(MonitorId, u64, u64)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = counts_sql(ids.len());
        let mut out = with_pool!(self, pool => {
            let q = bind_ids!(sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(ms(since)), ids);
            let rows = q.fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "check_results");
                    Ok((MonitorId(r.uuid("monitor_id")?), r.u64("checks")?, r.u64("ok_checks")?))
                })
                .collect::<Result<Vec<_>, StoreError>>()?
        });
        out.sort_by_key(|c| c.0);
        Ok(out)
    }

    /// Checks and failed checks of each monitor of `ids` in the hourly rollups of all
    /// regions with `from <= bucket_start < to`, ordered by monitor id.
    pub async fn rollup_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
        ids: &[MonitorId],
    ) -> Result<Vec<(MonitorId, u64, u64)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let indexed_by = if self.is_postgres() {
            ""
        } else {
            ROLLUPS_BY_MONITOR
        };
        let sql = rollup_counts_sql(ids.len(), indexed_by);
        let mut out = with_pool!(self, pool => {
            let q = bind_ids!(
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(ms(from))
                    .bind(ms(to))
                    .bind(crate::ALL_REGIONS),
                ids
            );
            let rows = q.fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "rollups_hourly");
                    Ok((MonitorId(r.uuid("monitor_id")?), r.u64("checks")?, r.u64("failures")?))
                })
                .collect::<Result<Vec<_>, StoreError>>()?
        });
        out.sort_by_key(|c| c.0);
        Ok(out)
    }

    /// Every result of the monitors `ids` checked at or after `since`, oldest first,
    /// with a failed one's message. For short recent windows (beat bars).
    pub async fn recent_checks(
        &self,
        since: Timestamp,
        ids: &[MonitorId],
    ) -> Result<Vec<RecentCheck>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = recent_sql(ids.len(), self.is_postgres());
        let mut out = Vec::new();
        with_pool!(self, pool => {
            let q = bind_ids!(sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(ms(since)), ids);
            let rows = q.fetch_all(pool).await?;
            for row in &rows {
                let r = Reader::new(row, "check_results");
                unpack(MonitorId(r.uuid("monitor_id")?), &r.string("points")?, &mut out)?;
            }
        });
        out.sort_by_key(|c| (c.checked_at, c.monitor_id));
        Ok(out)
    }
}
