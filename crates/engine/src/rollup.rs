//! The rollup task: rolls check results up per hour and per (UTC) day, incrementally,
//! and records when monitors were first seen.
//!
//! Every minute it:
//! 1. records the first-seen time of monitors that have none yet (their oldest result
//!    or ping), so uptime never counts the time before a monitor existed;
//! 2. when an hour has completed (two minutes of grace for results in flight), rolls up
//!    every hour from the stored watermark to it — and the hour before again, so
//!    results that arrived late (an agent replaying its buffer) are counted — by
//!    reading that hour's raw results, aggregating per monitor and region and for all
//!    regions together (region `*`, exact p95), and upserting the rows;
//! 3. recomputes the daily rows of the UTC days those hours belong to from their hourly
//!    rows (counts, min, max and mean exact; p95 from the merged histograms);
//! 4. drops hourly rows older than [`HOURLY_KEEP`] (daily rows are kept).
//!
//! Every write is an idempotent upsert, so a pass that is repeated, or runs on several
//! servers sharing one PostgreSQL, changes nothing. Raw results can then expire
//! (`retention.raw`) without changing the history the rollups hold; uptime itself comes
//! from incidents, which do not expire. The first pass on a database with history rolls
//! up everything still stored, [`MAX_HOURS_PER_STEP`] hours at a time.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use vigilmon_core::MonitorId;
use vigilmon_core::rollup::{Accumulator, Rollup};
use vigilmon_store::{ALL_REGIONS, Commit, Fence, RollupPeriod, RollupRow, Store, StoreError};

use vigilmon_schedule::clock::SharedClock;

use crate::changes::ChangeFeed;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// An hour is rolled up this long after it ends (results still being written).
const GRACE_MS: i64 = 2 * 60_000;
/// Hours rolled up again at each new hour, for late results.
const REROLL_HOURS: i64 = 1;
/// Hours handled between two writes of the watermark.
pub const MAX_HOURS_PER_STEP: i64 = 24;
/// How long hourly rows are kept.
pub const HOURLY_KEEP: Duration = Duration::from_secs(100 * 24 * 3600);
/// How often the task runs.
pub const EVERY: Duration = Duration::from_secs(60);

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MIN)
}

fn floor(ms: i64, unit: i64) -> i64 {
    ms - ms.rem_euclid(unit)
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub first_seen: u64,
    pub hours: u64,
    pub days: u64,
}

/// Rolls up one hour from raw results; returns the rows written.
pub async fn roll_hour(
    store: &Store,
    hour_start: i64,
    commit: &Commit,
) -> Result<usize, StoreError> {
    let samples = store
        .raw_samples(ts(hour_start), ts(hour_start + HOUR_MS))
        .await?;
    if samples.is_empty() {
        return Ok(0);
    }
    let mut acc: HashMap<(MonitorId, String), Accumulator> = HashMap::new();
    for s in samples {
        acc.entry((s.monitor_id, s.region))
            .or_default()
            .add(s.outcome, s.duration_ms);
        acc.entry((s.monitor_id, ALL_REGIONS.to_owned()))
            .or_default()
            .add(s.outcome, s.duration_ms);
    }
    let rows: Vec<RollupRow> = acc
        .into_iter()
        .map(|((monitor_id, region), a)| RollupRow {
            monitor_id,
            region,
            bucket_start: ts(hour_start),
            rollup: a.finish(),
        })
        .collect();
    store
        .upsert_rollups_under(RollupPeriod::Hour, &rows, commit)
        .await?;
    Ok(rows.len())
}

/// Recomputes one UTC day's rows from its hourly rows; returns the rows written.
pub async fn roll_day(store: &Store, day_start: i64, commit: &Commit) -> Result<usize, StoreError> {
    let hourly = store
        .list_rollups(
            RollupPeriod::Hour,
            &[],
            None,
            ts(day_start),
            ts(day_start + DAY_MS),
        )
        .await?;
    let mut merged: HashMap<(MonitorId, String), Rollup> = HashMap::new();
    for row in hourly {
        merged
            .entry((row.monitor_id, row.region))
            .or_default()
            .merge(&row.rollup);
    }
    let rows: Vec<RollupRow> = merged
        .into_iter()
        .map(|((monitor_id, region), rollup)| RollupRow {
            monitor_id,
            region,
            bucket_start: ts(day_start),
            rollup,
        })
        .collect();
    store
        .upsert_rollups_under(RollupPeriod::Day, &rows, commit)
        .await?;
    Ok(rows.len())
}

/// One pass at `now` (see the module documentation), every write under `commit`'s
/// fence: a coordinator that lost its lease writes nothing.
pub async fn pass_once(
    store: &Store,
    now: Timestamp,
    commit: &Commit,
) -> Result<PassReport, StoreError> {
    let mut report = PassReport {
        first_seen: store.record_first_seen_under(commit).await?,
        ..PassReport::default()
    };
    let now_ms = now.as_millisecond();
    let done_until = floor(now_ms - GRACE_MS, HOUR_MS);
    let watermark = store.rollup_watermark().await?.map(|t| t.as_millisecond());
    let start = match watermark {
        Some(w) if w >= done_until => return Ok(report),
        Some(w) => w - REROLL_HOURS * HOUR_MS,
        None => match store.oldest_result_at().await? {
            Some(t) => floor(t.as_millisecond(), HOUR_MS),
            None => {
                store
                    .set_rollup_watermark_under(ts(done_until), commit)
                    .await?;
                return Ok(report);
            }
        },
    };
    let mut hour = start;
    while hour < done_until {
        let step_end = (hour + MAX_HOURS_PER_STEP * HOUR_MS).min(done_until);
        let mut days = BTreeSet::new();
        while hour < step_end {
            roll_hour(store, hour, commit).await?;
            days.insert(floor(hour, DAY_MS));
            report.hours += 1;
            hour += HOUR_MS;
        }
        for d in days {
            roll_day(store, d, commit).await?;
            report.days += 1;
        }
        store.set_rollup_watermark_under(ts(hour), commit).await?;
        // Let other work in between steps of a long catch-up.
        tokio::task::yield_now().await;
    }
    let keep = i64::try_from(HOURLY_KEEP.as_millis()).unwrap_or(i64::MAX);
    store
        .delete_rollups_before_under(RollupPeriod::Hour, ts(now_ms - keep), commit)
        .await?;
    Ok(report)
}

/// Runs [`pass_once`] now and then every [`EVERY`] until shutdown.
pub async fn run(
    store: Store,
    clock: SharedClock,
    changes: ChangeFeed,
    fence: Option<Fence>,
    shutdown: CancellationToken,
) {
    let commit = Commit::fenced(fence);
    loop {
        match pass_once(&store, clock.now(), &commit).await {
            Ok(r) if r.hours > 0 || r.first_seen > 0 => {
                debug!(
                    message = "rolled up check results",
                    hours = r.hours,
                    days = r.days,
                    first_seen = r.first_seen
                );
                if r.first_seen > 0 {
                    changes.publish();
                }
            }
            Ok(_) => {}
            Err(e) => warn!(message = "rollup pass failed", error = %e),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigilmon_core::state::RegionStatus;
    use vigilmon_core::{CheckResult, ErrorKind, MonitorConfig, MonitorState, RegionName, Verdict};
    use vigilmon_store::{MonitorSource, RecordedCheck};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn check(id: MonitorId, region: &str, t: &str, ms: u64, ok: bool) -> RecordedCheck {
        RecordedCheck {
            monitor_id: id,
            result: CheckResult::new(
                RegionName::parse(region).unwrap(),
                at(t),
                ms,
                if ok {
                    Verdict::Up
                } else {
                    Verdict::down(ErrorKind::Timeout, "timeout")
                },
            ),
            region_status: RegionStatus::default(),
            monitor_state: MonitorState::Up,
            history_only: false,
        }
    }

    #[tokio::test]
    async fn passes_roll_up_hours_and_days_idempotently() {
        let dir = std::env::temp_dir().join(format!("vigilmon-rollup-{}", uuid::Uuid::now_v7()));
        let store = Store::open_sqlite(&dir).await.unwrap();
        let id = MonitorId(uuid::Uuid::now_v7());
        let config = MonitorConfig {
            name: "api".into(),
            kind: vigilmon_core::KindConfig::Tcp(vigilmon_core::monitor::TcpConfig {
                host: Some("h".into()),
                port: Some(1),
                ..Default::default()
            }),
            ..MonitorConfig::default()
        };
        store
            .create_monitor(id, &config, MonitorSource::Api, at("2025-06-01T00:00:00Z"))
            .await
            .unwrap();
        store
            .record_results(&[
                check(id, "eu", "2025-06-01T10:05:00Z", 100, true),
                check(id, "us", "2025-06-01T10:06:00Z", 300, false),
                check(id, "eu", "2025-06-01T11:05:00Z", 200, true),
                check(id, "eu", "2025-06-01T12:30:00Z", 50, true),
            ])
            .await
            .unwrap();

        // 12:01: hours 10 and 11 are complete; 12 is not (nor within the grace).
        let r = pass_once(&store, at("2025-06-01T12:01:00Z"), &Commit::unfenced())
            .await
            .unwrap();
        assert_eq!(
            (r.first_seen, r.hours, r.days),
            (1, 1, 1),
            "12:01 is inside the grace of 11:00-12:00"
        );
        let r = pass_once(&store, at("2025-06-01T12:03:00Z"), &Commit::unfenced())
            .await
            .unwrap();
        assert_eq!(
            (r.hours, r.days),
            (2, 1),
            "the previous hour again, and the new one"
        );
        let hours = store
            .list_rollups(
                RollupPeriod::Hour,
                &[id],
                None,
                at("2025-06-01T00:00:00Z"),
                at("2025-06-02T00:00:00Z"),
            )
            .await
            .unwrap();
        let summary: Vec<(String, String, u64, u64, Option<u64>)> = hours
            .iter()
            .map(|r| {
                (
                    r.bucket_start.to_string(),
                    r.region.clone(),
                    r.rollup.checks,
                    r.rollup.failures,
                    r.rollup.duration_p95,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("2025-06-01T10:00:00Z".into(), "*".into(), 2, 1, Some(300)),
                ("2025-06-01T11:00:00Z".into(), "*".into(), 1, 0, Some(200)),
                ("2025-06-01T10:00:00Z".into(), "eu".into(), 1, 0, Some(100)),
                ("2025-06-01T11:00:00Z".into(), "eu".into(), 1, 0, Some(200)),
                ("2025-06-01T10:00:00Z".into(), "us".into(), 1, 1, Some(300)),
            ]
        );
        let days = store
            .list_rollups(
                RollupPeriod::Day,
                &[id],
                Some(ALL_REGIONS),
                at("2025-06-01T00:00:00Z"),
                at("2025-06-02T00:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!((days[0].rollup.checks, days[0].rollup.failures), (3, 1));
        assert_eq!(days[0].rollup.duration_avg(), Some(200.0));

        // Nothing new: nothing done. A late result of 11:xx is counted at the next hour.
        let r = pass_once(&store, at("2025-06-01T12:30:00Z"), &Commit::unfenced())
            .await
            .unwrap();
        assert_eq!(r.hours, 0);
        store
            .record_results(&[check(id, "eu", "2025-06-01T11:59:00Z", 400, true)])
            .await
            .unwrap();
        pass_once(&store, at("2025-06-01T13:05:00Z"), &Commit::unfenced())
            .await
            .unwrap();
        let day = store
            .list_rollups(
                RollupPeriod::Day,
                &[id],
                Some(ALL_REGIONS),
                at("2025-06-01T00:00:00Z"),
                at("2025-06-02T00:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(day[0].rollup.checks, 5, "10:xx, the late 11:59 and 12:30");
        // Raw results expire; the rollups stay.
        store
            .delete_results_before(at("2025-06-02T00:00:00Z"), 0)
            .await
            .unwrap();
        pass_once(&store, at("2025-06-01T14:05:00Z"), &Commit::unfenced())
            .await
            .unwrap();
        let day2 = store
            .list_rollups(
                RollupPeriod::Day,
                &[id],
                Some(ALL_REGIONS),
                at("2025-06-01T00:00:00Z"),
                at("2025-06-02T00:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(
            day2[0].rollup.checks, 5,
            "re-rolled hours without results keep their rows"
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
