//! Rollups of check results per hour and per day, per monitor and region (region `*`
//! is all regions together): the rows, their idempotent upsert, and the watermark of
//! the hours already rolled up. The aggregation itself is core's
//! [`Rollup`](vigilmon_core::rollup::Rollup); the engine's rollup task decides what to
//! roll up and when.

use jiff::Timestamp;
use vigilmon_core::MonitorId;
use vigilmon_core::rollup::{Outcome, Rollup};

use crate::codec::{Cols, Reader, int, ms, placeholders};
use crate::{Commit, Store, StoreError};

/// The region name of the all-regions rollup.
pub const ALL_REGIONS: &str = "*";

/// Settings key of the hourly watermark: hours before it are rolled up.
const WATERMARK_KEY: &str = "rollup_hourly_until";

/// Hourly or daily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupPeriod {
    Hour,
    /// A UTC day.
    Day,
}

impl RollupPeriod {
    fn table(self) -> &'static str {
        match self {
            RollupPeriod::Hour => "rollups_hourly",
            RollupPeriod::Day => "rollups_daily",
        }
    }
}

/// One rollup row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupRow {
    pub monitor_id: MonitorId,
    /// A region, or [`ALL_REGIONS`].
    pub region: String,
    /// Start of the hour or (UTC) day.
    pub bucket_start: Timestamp,
    pub rollup: Rollup,
}

/// One raw result, as a rollup reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSample {
    pub monitor_id: MonitorId,
    pub region: String,
    pub outcome: Outcome,
    pub duration_ms: u64,
}

const ROLLUP_COLUMNS: &str = "monitor_id, region, bucket_start, checks, failures, degraded, \
    duration_min, duration_max, duration_sum, duration_p95, histogram";

fn decode_rollup<R: Cols>(row: &R, table: &'static str) -> Result<RollupRow, StoreError> {
    let r = Reader::new(row, table);
    let histogram = r.string("histogram")?;
    Ok(RollupRow {
        monitor_id: MonitorId(r.uuid("monitor_id")?),
        region: r.string("region")?,
        bucket_start: r.timestamp("bucket_start")?,
        rollup: Rollup {
            checks: r.u64("checks")?,
            failures: r.u64("failures")?,
            degraded: r.u64("degraded")?,
            duration_min: r.opt_u64("duration_min")?,
            duration_max: r.opt_u64("duration_max")?,
            duration_sum: r.u64("duration_sum")?,
            duration_p95: r.opt_u64("duration_p95")?,
            histogram: Rollup::parse_histogram(&histogram)
                .ok_or_else(|| r.corrupt("histogram", "malformed"))?,
        },
    })
}

impl Store {
    /// The results checked in `[from, to)`, for rolling up.
    pub async fn raw_samples(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RawSample>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                // Monitor by monitor through the primary key of check_results (which
                // has no index on time alone): `CROSS JOIN` keeps SQLite's loops in
                // this order.
                "SELECT m.id AS monitor_id, r.name AS region, c.verdict, c.duration_ms \
                 FROM monitors m CROSS JOIN check_results c \
                 JOIN result_regions r ON r.key = c.region_key \
                 WHERE c.monitor_key = m.result_key \
                 AND c.checked_at >= $1 AND c.checked_at < $2",
            )
            .bind(ms(from))
            .bind(ms(to))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "check_results");
                    let verdict = r.i64("verdict")?;
                    Ok(RawSample {
                        monitor_id: MonitorId(r.uuid("monitor_id")?),
                        region: r.string("region")?,
                        outcome: crate::compact::verdict_name(verdict)
                            .and_then(Outcome::parse)
                            .ok_or_else(|| r.corrupt("verdict", format!("unknown verdict code {verdict}")))?,
                        duration_ms: r.u64("duration_ms")?,
                    })
                })
                .collect()
        })
    }

    /// Writes rollup rows in one transaction, replacing rows of the same monitor,
    /// region and bucket (so rolling up twice changes nothing). Rows of monitors
    /// deleted meanwhile are skipped.
    pub async fn upsert_rollups(
        &self,
        period: RollupPeriod,
        rows: &[RollupRow],
    ) -> Result<(), StoreError> {
        self.upsert_rollups_under(period, rows, &Commit::unfenced())
            .await
    }

    /// [`Store::upsert_rollups`] by the coordinator: refused ([`StoreError::Fenced`],
    /// nothing written) once its lease has moved on (see [`Commit`]).
    pub async fn upsert_rollups_under(
        &self,
        period: RollupPeriod,
        rows: &[RollupRow],
        commit: &Commit,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let postgres = self.is_postgres();
        let sql = format!(
            "INSERT INTO {table} ({ROLLUP_COLUMNS}) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE EXISTS (SELECT 1 FROM monitors WHERE id = $1) \
             ON CONFLICT (monitor_id, region, bucket_start) DO UPDATE SET checks = excluded.checks, \
             failures = excluded.failures, degraded = excluded.degraded, duration_min = excluded.duration_min, \
             duration_max = excluded.duration_max, duration_sum = excluded.duration_sum, \
             duration_p95 = excluded.duration_p95, histogram = excluded.histogram",
            table = period.table()
        );
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            crate::ingest::begin_commit!(tx, commit, postgres);
            for row in rows {
                let r = &row.rollup;
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(row.monitor_id.as_uuid())
                    .bind(&row.region)
                    .bind(ms(row.bucket_start))
                    .bind(int(r.checks))
                    .bind(int(r.failures))
                    .bind(int(r.degraded))
                    .bind(r.duration_min.map(int))
                    .bind(r.duration_max.map(int))
                    .bind(int(r.duration_sum))
                    .bind(r.duration_p95.map(int))
                    .bind(r.histogram_text())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Rollup rows with `from <= bucket_start < to`, of `monitors` (all when empty) and
    /// `region` (every region and [`ALL_REGIONS`] when `None`), ordered by monitor,
    /// region and time.
    pub async fn list_rollups(
        &self,
        period: RollupPeriod,
        monitors: &[MonitorId],
        region: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RollupRow>, StoreError> {
        let table = period.table();
        let monitor_filter = if monitors.is_empty() {
            String::new()
        } else {
            format!(" AND monitor_id IN ({})", placeholders(4, monitors.len()))
        };
        let sql = format!(
            "SELECT {ROLLUP_COLUMNS} FROM {table} WHERE bucket_start >= $1 AND bucket_start < $2 \
             AND ($3 IS NULL OR region = $3){monitor_filter} ORDER BY monitor_id, region, bucket_start"
        );
        let mut rows = with_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(ms(from))
                .bind(ms(to))
                .bind(region);
            for m in monitors {
                q = q.bind(m.as_uuid());
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter().map(|row| decode_rollup(row, table)).collect::<Result<Vec<_>, _>>()?
        });
        // One order on both backends (UUIDs sort differently as BLOB and UUID).
        rows.sort_by(|a, b| {
            (a.monitor_id, &a.region, a.bucket_start).cmp(&(
                b.monitor_id,
                &b.region,
                b.bucket_start,
            ))
        });
        Ok(rows)
    }

    /// Deletes rollups older than `cutoff`; returns how many went.
    pub async fn delete_rollups_before(
        &self,
        period: RollupPeriod,
        cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        self.delete_rollups_before_under(period, cutoff, &Commit::unfenced())
            .await
    }

    /// [`Store::delete_rollups_before`] by the coordinator, fenced (see [`Commit`]).
    pub async fn delete_rollups_before_under(
        &self,
        period: RollupPeriod,
        cutoff: Timestamp,
        commit: &Commit,
    ) -> Result<u64, StoreError> {
        let sql = format!("DELETE FROM {} WHERE bucket_start < $1", period.table());
        let postgres = self.is_postgres();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            crate::ingest::begin_commit!(tx, commit, postgres);
            let r = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(ms(cutoff)).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(r.rows_affected())
        })
    }

    /// Hours before this instant are rolled up (`None`: nothing yet).
    pub async fn rollup_watermark(&self) -> Result<Option<Timestamp>, StoreError> {
        match self.setting(WATERMARK_KEY).await? {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .and_then(|ms| Timestamp::from_millisecond(ms).ok())
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt(format!("settings.{WATERMARK_KEY}: {v:?}"))),
        }
    }

    /// Sets the watermark.
    pub async fn set_rollup_watermark(&self, until: Timestamp) -> Result<(), StoreError> {
        self.set_rollup_watermark_under(until, &Commit::unfenced())
            .await
    }

    /// [`Store::set_rollup_watermark`] by the coordinator, fenced (see [`Commit`]).
    pub async fn set_rollup_watermark_under(
        &self,
        until: Timestamp,
        commit: &Commit,
    ) -> Result<(), StoreError> {
        let value = ms(until).to_string();
        let postgres = self.is_postgres();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            crate::ingest::begin_commit!(tx, commit, postgres);
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(WATERMARK_KEY)
            .bind(&value)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The oldest stored check result's time, if any.
    pub async fn oldest_result_at(&self) -> Result<Option<Timestamp>, StoreError> {
        with_pool!(self, pool => {
            // Each monitor's first result is the first of its primary key range.
            let row = sqlx::query(
                "SELECT MIN(first_at) AS t FROM (SELECT (SELECT MIN(c.checked_at) \
                 FROM check_results c WHERE c.monitor_key = m.result_key) AS first_at \
                 FROM monitors m) f",
            )
            .fetch_one(pool)
            .await?;
            Reader::new(&row, "check_results").opt_timestamp("t")
        })
    }
}
