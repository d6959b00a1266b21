//! Retention: expires raw check results older than the configured age. On PostgreSQL,
//! where results are partitioned by day, whole days go at once (the store's
//! `rotate_result_partitions_under`, which also creates the coming days' partitions);
//! what is left, and everything on SQLite, is deleted in small batches so that the store
//! is never locked for long.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use vigilmon_store::{Commit, Fence, Store, StoreError};

use crate::metrics;
use vigilmon_schedule::clock::SharedClock;

/// Rows deleted per statement.
pub const BATCH: u32 = 1000;

/// What one retention pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purged {
    /// Results deleted row by row.
    pub rows: u64,
    /// Day partitions dropped whole (PostgreSQL), by name.
    pub partitions_dropped: Vec<String>,
    /// Day partitions created ahead (PostgreSQL), by name.
    pub partitions_created: Vec<String>,
}

/// Expires every result older than `keep` (as of the clock's now), each step under
/// `commit`'s fence: first the partitions (PostgreSQL), then the remaining rows batch by
/// batch.
pub async fn purge_once(
    store: &Store,
    clock: &SharedClock,
    keep: Duration,
    commit: &Commit,
) -> Result<Purged, StoreError> {
    let keep = jiff::SignedDuration::try_from(keep).unwrap_or(jiff::SignedDuration::MAX);
    let now = clock.now();
    let cutoff = now.checked_sub(keep).unwrap_or(jiff::Timestamp::MIN);
    let rotation = store
        .rotate_result_partitions_under(now, cutoff, commit)
        .await?;
    metrics::result_partitions(rotation.created.len(), rotation.dropped.len());
    let mut purged = Purged {
        rows: 0,
        partitions_dropped: rotation.dropped,
        partitions_created: rotation.created,
    };
    loop {
        let n = store
            .delete_results_before_under(rotation.delete_before, BATCH, commit)
            .await?;
        purged.rows += n;
        metrics::results_expired(n);
        if n < u64::from(BATCH) {
            return Ok(purged);
        }
        // Let other writers in between batches.
        tokio::task::yield_now().await;
    }
}

/// Runs [`purge_once`] at start and then every `every` until shutdown.
pub async fn run(
    store: Store,
    clock: SharedClock,
    keep: Duration,
    every: Duration,
    fence: Option<Fence>,
    shutdown: CancellationToken,
) {
    let commit = Commit::fenced(fence);
    loop {
        match purge_once(&store, &clock, keep, &commit).await {
            Ok(p) => {
                if p.rows > 0 {
                    info!(message = "expired old check results", count = p.rows);
                }
                for name in &p.partitions_dropped {
                    info!(message = "dropped an expired day of check results", partition = %name);
                }
                for name in &p.partitions_created {
                    info!(message = "created a day partition for check results", partition = %name);
                }
            }
            Err(e) => warn!(message = "retention pass failed", error = %e),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vigilmon_core::state::RegionStatus;
    use vigilmon_core::{CheckResult, MonitorConfig, MonitorId, MonitorState, RegionName, Verdict};
    use vigilmon_store::{MonitorSource, RecordedCheck};

    #[tokio::test]
    async fn sqlite_purges_only_results_older_than_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).await.unwrap();
        // Exact: the results of the last 24 h (1,441 minutes inclusive) stay.
        purges_only_results_older_than_the_retention(&store, 1441, &[]).await;
    }

    #[tokio::test]
    async fn postgres_purges_whole_days_older_than_the_retention() {
        let db = test_support::PgDatabase::create().await;
        let store = Store::open_postgres(&db.url).await.unwrap();
        // By whole days: the cutoff (2033-05-19 01:39) falls on the 19th, which is kept
        // whole; the 18th's results (08:00 to midnight, 960 of them) go.
        purges_only_results_older_than_the_retention(
            &store,
            2500 - 960,
            &[
                "check_results_p20330520",
                "check_results_p20330521",
                "check_results_p20330522",
                "check_results_p20330523",
            ],
        )
        .await;
    }

    /// 2,500 results a minute apart from 2033-05-18 08:00 UTC; "now" is the last one's
    /// time, standing still; one day is kept. `kept` results stay, `created` names the
    /// day partitions made.
    async fn purges_only_results_older_than_the_retention(
        store: &Store,
        kept: u64,
        created: &[&str],
    ) {
        let id = MonitorId::from_uuid(uuid::Uuid::now_v7());
        let config: MonitorConfig = serde_json::from_value(
            serde_json::json!({"name": "m", "type": "tcp", "host": "127.0.0.1", "port": 1}),
        )
        .unwrap();
        // 2033-05-18 08:00 UTC: beyond the days the migration partitions by the wall clock.
        let t0 = jiff::Timestamp::from_second(2_000_016_000).unwrap();
        store
            .create_monitor(id, &config, MonitorSource::Api, t0)
            .await
            .unwrap();
        // Several batches' worth.
        let checks: Vec<RecordedCheck> = (0..2500)
            .map(|i| RecordedCheck {
                monitor_id: id,
                result: CheckResult::new(
                    RegionName::local(),
                    t0 + jiff::SignedDuration::from_mins(i),
                    1,
                    Verdict::Up,
                ),
                region_status: RegionStatus {
                    state: MonitorState::Up,
                    consecutive_failures: 0,
                },
                monitor_state: MonitorState::Up,
                history_only: false,
            })
            .collect();
        store.record_results(&checks).await.unwrap();
        struct Fixed(jiff::Timestamp);
        impl vigilmon_schedule::clock::Clock for Fixed {
            fn now(&self) -> jiff::Timestamp {
                self.0
            }
        }
        let clock: SharedClock = Arc::new(Fixed(t0 + jiff::SignedDuration::from_mins(2499)));
        let day = Duration::from_secs(24 * 3600);
        let purged = purge_once(store, &clock, day, &Commit::unfenced())
            .await
            .unwrap();
        assert_eq!(purged.rows, 2500 - kept);
        assert_eq!(purged.partitions_created, created);
        assert_eq!(store.count_results(id).await.unwrap(), kept);
        let again = purge_once(store, &clock, day, &Commit::unfenced())
            .await
            .unwrap();
        assert_eq!(again, Purged::default());
        store.close().await;
    }
}
