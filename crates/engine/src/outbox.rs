//! The outbox worker: delivers queued notifications, one step at a time.
//!
//! [`try_deliver_one`] claims the oldest due notification (with a lease, so another
//! server sharing the database does not take it too), renders and sends it, and
//! records the attempt: delivered; retry later with exponential backoff (or the
//! receiver's `Retry-After`); or failed for good (a 4xx other than 429, a channel that
//! no longer exists, too many attempts). Tests call it directly and need no sleeping;
//! [`run`] loops on it, sleeping until the next due time or a wake-up.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use vigilmon_notify::{ChannelConfig, ChannelSpec};
use vigilmon_notify::{Delivery, Notification, Notifier};
use vigilmon_store::{AttemptOutcome, OutboxRecord, Store, StoreError};

use crate::metrics;
use vigilmon_schedule::clock::SharedClock;

/// Delivery settings.
#[derive(Clone, Debug)]
pub struct OutboxConfig {
    /// First retry delay; doubles per attempt.
    pub retry_base: Duration,
    /// Longest delay between attempts.
    pub retry_max: Duration,
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// How long a claim lasts (a crashed worker's claim expires after this).
    pub lease: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            max_attempts: 20,
            lease: Duration::from_secs(60),
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retry,
    Failed,
    /// Nothing was due.
    Empty,
}

/// The delay before attempt `n + 1` after `n` failed attempts.
pub fn backoff(config: &OutboxConfig, attempts_so_far: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts_so_far.min(20));
    config
        .retry_base
        .saturating_mul(factor)
        .min(config.retry_max)
}

/// When to try again after `attempts_so_far` failed attempts: the backoff, or later
/// when the receiver asked for it (`Retry-After`) — never sooner, so a receiver that
/// asks for a retry in a second while it is down does not use up the attempts in a
/// minute — and at most `retry_max`.
pub fn retry_delay(
    config: &OutboxConfig,
    attempts_so_far: u32,
    retry_after: Option<Duration>,
) -> Duration {
    backoff(config, attempts_so_far)
        .max(retry_after.unwrap_or_default())
        .min(config.retry_max)
}

async fn channel(store: &Store, name: &str) -> Result<Option<ChannelSpec>, StoreError> {
    Ok(store
        .list_channels()
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .and_then(|c| serde_json::from_value::<ChannelConfig>(c.config).ok())
        .and_then(|c| c.build().ok()))
}

/// Claims and delivers one due notification.
pub async fn try_deliver_one(
    store: &Store,
    notifier: &Notifier,
    clock: &SharedClock,
    config: &OutboxConfig,
) -> Result<Outcome, StoreError> {
    let now = clock.now();
    let Some(row) = store.claim_notification(now, config.lease).await? else {
        return Ok(Outcome::Empty);
    };
    let started = std::time::Instant::now();
    let (outcome, result) = deliver(store, notifier, &row, config, now).await?;
    let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    store
        .finish_delivery(&row, &outcome, clock.now(), took)
        .await?;
    metrics::notification_attempt(
        &row.channel,
        match result {
            Outcome::Delivered => "delivered",
            Outcome::Retry => "retry",
            Outcome::Failed => "failed",
            Outcome::Empty => "empty",
        },
    );
    match &outcome {
        AttemptOutcome::Delivered => {
            info!(message = "notification delivered", channel = %row.channel, event = %row.event)
        }
        AttemptOutcome::Retry { error, next } => {
            warn!(message = "notification failed, will retry", channel = %row.channel, event = %row.event, %error, retry_at = %next)
        }
        AttemptOutcome::Failed { error } => {
            warn!(message = "notification failed for good", channel = %row.channel, event = %row.event, %error)
        }
    }
    Ok(result)
}

async fn deliver(
    store: &Store,
    notifier: &Notifier,
    row: &OutboxRecord,
    config: &OutboxConfig,
    now: Timestamp,
) -> Result<(AttemptOutcome, Outcome), StoreError> {
    let notification = match Notification::from_stored(&row.payload) {
        Ok(n) => n,
        Err(e) => {
            return Ok((
                AttemptOutcome::Failed {
                    error: e.to_string(),
                },
                Outcome::Failed,
            ));
        }
    };
    let Some(spec) = channel(store, &row.channel).await? else {
        return Ok((
            AttemptOutcome::Failed {
                error: format!("channel {:?} no longer exists or is invalid", row.channel),
            },
            Outcome::Failed,
        ));
    };
    let delivery = notifier.deliver(&spec, &notification).await;
    Ok(match delivery {
        Delivery::Delivered { .. } => (AttemptOutcome::Delivered, Outcome::Delivered),
        Delivery::Permanent { error } => (AttemptOutcome::Failed { error }, Outcome::Failed),
        Delivery::Retry { after, error } => {
            if row.attempts + 1 >= config.max_attempts {
                (
                    AttemptOutcome::Failed {
                        error: format!("{error} (gave up after {} attempts)", row.attempts + 1),
                    },
                    Outcome::Failed,
                )
            } else {
                let delay = retry_delay(config, row.attempts, after);
                let next = now
                    .checked_add(
                        jiff::SignedDuration::try_from(delay).unwrap_or(jiff::SignedDuration::ZERO),
                    )
                    .unwrap_or(now);
                (AttemptOutcome::Retry { next, error }, Outcome::Retry)
            }
        }
    })
}

/// Delivers until `shutdown`: step after step, then sleeps until the next due time
/// (at most a minute, so rows written by another server are seen) or a wake-up.
pub async fn run(
    store: Store,
    notifier: Notifier,
    clock: SharedClock,
    config: OutboxConfig,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        match try_deliver_one(&store, &notifier, &clock, &config).await {
            Ok(Outcome::Empty) => {}
            Ok(_) => continue,
            Err(e) => warn!(message = "outbox step failed", error = %e),
        }
        let wait = match store.outbox_depth().await {
            Ok((depth, next)) => {
                metrics::outbox_depth(depth);
                next.map_or(Duration::from_secs(60), |t| {
                    Duration::from_millis(
                        u64::try_from(t.as_millisecond() - clock.now().as_millisecond())
                            .unwrap_or(0),
                    )
                })
            }
            Err(_) => Duration::from_secs(5),
        }
        .clamp(Duration::from_millis(50), Duration::from_secs(60));
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let c = OutboxConfig::default();
        assert_eq!(backoff(&c, 0), Duration::from_secs(30));
        assert_eq!(backoff(&c, 1), Duration::from_secs(60));
        assert_eq!(backoff(&c, 3), Duration::from_secs(240));
        assert_eq!(backoff(&c, 10), Duration::from_secs(3600));
        assert_eq!(backoff(&c, 99), Duration::from_secs(3600));
    }

    #[test]
    fn a_retry_after_can_delay_a_retry_but_never_hasten_it() {
        let c = OutboxConfig::default();
        let s = Duration::from_secs;
        assert_eq!(retry_delay(&c, 0, None), s(30));
        assert_eq!(
            retry_delay(&c, 0, Some(s(1))),
            s(30),
            "not sooner than the backoff"
        );
        assert_eq!(retry_delay(&c, 1, Some(s(120))), s(120), "later when asked");
        assert_eq!(
            retry_delay(&c, 1, Some(s(7200))),
            s(3600),
            "never past retry_max"
        );
    }
}
