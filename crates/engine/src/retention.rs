//! Retention: deletes raw check results older than the configured age, in small
//! batches so that the store is never locked for long.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use vigilmon_store::{Commit, Fence, Store, StoreError};

use crate::metrics;
use vigilmon_schedule::clock::SharedClock;

/// Rows deleted per statement.
pub const BATCH: u32 = 1000;

/// Deletes every result older than `keep` (as of the clock's now), batch by batch,
/// each under `commit`'s fence; returns how many went.
pub async fn purge_once(
    store: &Store,
    clock: &SharedClock,
    keep: Duration,
    commit: &Commit,
) -> Result<u64, StoreError> {
    let keep = jiff::SignedDuration::try_from(keep).unwrap_or(jiff::SignedDuration::MAX);
    let cutoff = clock
        .now()
        .checked_sub(keep)
        .unwrap_or(jiff::Timestamp::MIN);
    let mut total = 0;
    loop {
        let n = store
            .delete_results_before_under(cutoff, BATCH, commit)
            .await?;
        total += n;
        metrics::results_expired(n);
        if n < u64::from(BATCH) {
            return Ok(total);
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
            Ok(0) => {}
            Ok(n) => info!(message = "expired old check results", count = n),
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
    async fn purges_only_results_older_than_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).await.unwrap();
        let id = MonitorId::from_uuid(uuid::Uuid::now_v7());
        let config: MonitorConfig = serde_json::from_value(
            serde_json::json!({"name": "m", "type": "tcp", "host": "127.0.0.1", "port": 1}),
        )
        .unwrap();
        let t0 = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        store
            .create_monitor(id, &config, MonitorSource::Api, t0)
            .await
            .unwrap();
        // 2,500 results, one a minute, so several batches go.
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
        // "Now" is the last result's time, standing still; keep one day.
        struct Fixed(jiff::Timestamp);
        impl vigilmon_schedule::clock::Clock for Fixed {
            fn now(&self) -> jiff::Timestamp {
                self.0
            }
        }
        let clock: SharedClock = Arc::new(Fixed(t0 + jiff::SignedDuration::from_mins(2499)));
        let gone = purge_once(
            &store,
            &clock,
            Duration::from_secs(24 * 3600),
            &Commit::unfenced(),
        )
        .await
        .unwrap();
        assert_eq!(
            gone,
            2500 - 1441,
            "results of the last 24 h (1,441 minutes inclusive) stay"
        );
        assert_eq!(store.count_results(id).await.unwrap(), 1441);
        assert_eq!(
            purge_once(
                &store,
                &clock,
                Duration::from_secs(24 * 3600),
                &Commit::unfenced()
            )
            .await
            .unwrap(),
            0
        );
        store.close().await;
    }
}
