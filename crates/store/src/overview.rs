//! Summaries of check results for overviews (the web UI's dashboard): per monitor and
//! per time bucket, how many checks ran, how many were ok, and their latency.
//!
//! One grouped query over the time range serves every monitor at once, instead of one
//! query per monitor.

use jiff::Timestamp;
use vigilmon_core::MonitorId;

use crate::codec::{Cols, Reader, ms};
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

const BUCKETS: &str = "SELECT monitor_id, (checked_at - $1) / $2 AS bucket, \
    CAST(COUNT(*) AS BIGINT) AS checks, \
    CAST(SUM(CASE WHEN ok THEN 1 ELSE 0 END) AS BIGINT) AS ok_checks, \
    CAST(SUM(duration_ms) AS BIGINT) AS total_ms, \
    CAST(MAX(duration_ms) AS BIGINT) AS max_ms \
    FROM check_results WHERE checked_at >= $1 AND ($3 IS NULL OR monitor_id = $3) \
    GROUP BY monitor_id, bucket";

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
            let rows = sqlx::query(BUCKETS)
                .bind(ms(since))
                .bind(bucket_ms)
                .bind(monitor.map(|m| m.0))
                .fetch_all(pool)
                .await?;
            rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?
        });
        out.sort_by_key(|b| (b.monitor_id, b.bucket));
        Ok(out)
    }
}
