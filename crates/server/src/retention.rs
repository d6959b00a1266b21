//! Retention: deletes raw check results older than the configured age, in small
//! batches so that the store is never locked for long.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use vigilmon_store::{Store, StoreError};

use crate::clock::SharedClock;
use crate::metrics;

/// Rows deleted per statement.
pub const BATCH: u32 = 1000;

/// Deletes every result older than `keep` (as of the clock's now), batch by batch;
/// returns how many went.
pub async fn purge_once(
    store: &Store,
    clock: &SharedClock,
    keep: Duration,
) -> Result<u64, StoreError> {
    let keep = jiff::SignedDuration::try_from(keep).unwrap_or(jiff::SignedDuration::MAX);
    let cutoff = clock
        .now()
        .checked_sub(keep)
        .unwrap_or(jiff::Timestamp::MIN);
    let mut total = 0;
    loop {
        let n = store.delete_results_before(cutoff, BATCH).await?;
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
    shutdown: CancellationToken,
) {
    loop {
        match purge_once(&store, &clock, keep).await {
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
