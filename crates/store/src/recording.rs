//! Recording a batch of checks with few statements: the batch is gathered per monitor
//! (its state update, as the checks one after another would leave it) and per monitor
//! and region (the latest state), and written with multi-row statements — a handful per
//! batch instead of three per check. Each statement is a round trip (to PostgreSQL over
//! the network, to SQLite through the driver's worker thread), and those round trips
//! were most of the cost of recording a check.
//!
//! Statements take at most [`CHUNK`] rows; a smaller rest is split into powers of two,
//! so that few distinct statements exist and the drivers' prepared-statement caches
//! keep them.

use std::collections::HashMap;

use uuid::Uuid;

use crate::RecordedCheck;
use crate::codec::ms;

/// The most rows one statement writes.
pub(crate) const CHUNK: usize = 64;

/// The row counts, in order, of the statements that write `n` rows: [`CHUNK`]s, then
/// powers of two for the rest.
pub(crate) fn chunk_sizes(n: usize) -> Vec<usize> {
    let mut sizes = vec![CHUNK; n / CHUNK];
    let mut rest = n % CHUNK;
    let mut size = CHUNK;
    while rest > 0 {
        size /= 2;
        if rest >= size {
            sizes.push(size);
            rest -= size;
        }
    }
    sizes
}

/// `($first, …), (…)`: `rows` tuples of `cols` placeholders, numbered from `first`.
pub(crate) fn value_rows(first: usize, rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(first + r * cols + c).to_string());
        }
        out.push(')');
    }
    out
}

/// What the batch does to one monitor's row, as its checks one after another would:
/// the state ends as the last counted check's; `state_changed_at` moves to the time of
/// the last check whose state differs from the check before it in the batch, or, when
/// none does, to the first check's time if that state differs from the stored one;
/// `last_checked_at` moves forward to the latest check, history-only ones included. A
/// paused monitor keeps its state (the statement decides that, as it reads the row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MonitorWrite {
    pub(crate) id: Uuid,
    /// The state of the batch's first counted check, and its time (none: the batch has
    /// only history-only checks of this monitor).
    pub(crate) first: Option<(&'static str, i64)>,
    /// The state of the last counted check.
    pub(crate) last_state: Option<&'static str>,
    /// The time of the last change of state within the batch.
    pub(crate) changed_within: Option<i64>,
    /// The latest check time.
    pub(crate) last_at: i64,
}

/// The batch's monitors, each once, ordered by id (one lock order for every writer).
pub(crate) fn monitor_writes(batch: &[RecordedCheck]) -> Vec<MonitorWrite> {
    let mut by_id: HashMap<Uuid, MonitorWrite> = HashMap::new();
    for check in batch {
        let at = ms(check.result.checked_at);
        let w = by_id.entry(check.monitor_id.0).or_insert(MonitorWrite {
            id: check.monitor_id.0,
            first: None,
            last_state: None,
            changed_within: None,
            last_at: at,
        });
        w.last_at = w.last_at.max(at);
        if check.history_only {
            continue;
        }
        let state = check.monitor_state.as_str();
        match w.last_state {
            None => w.first = Some((state, at)),
            Some(previous) if previous != state => w.changed_within = Some(at),
            Some(_) => {}
        }
        w.last_state = Some(state);
    }
    let mut writes: Vec<MonitorWrite> = by_id.into_values().collect();
    writes.sort_by_key(|w| w.id);
    writes
}

/// The columns of one [`MonitorWrite`] row in [`update_monitors_sql`].
pub(crate) const MONITOR_COLS: usize = 6;

/// Applies `rows` [`MonitorWrite`]s (bound in the order of [`MONITOR_COLS`]: id, last
/// state, first state, first time, time of the change within, latest time) and returns
/// each monitor still there with its number in `check_results`.
pub(crate) fn update_monitors_sql(rows: usize) -> String {
    format!(
        "WITH v (id, last_state, first_state, first_at, changed_within, last_at) AS \
         (VALUES {}) \
         UPDATE monitors SET \
         state = CASE WHEN paused OR v.last_state IS NULL THEN state ELSE v.last_state END, \
         state_changed_at = CASE WHEN paused OR v.last_state IS NULL THEN state_changed_at \
             WHEN v.changed_within IS NOT NULL THEN v.changed_within \
             WHEN state = v.first_state THEN state_changed_at ELSE v.first_at END, \
         last_checked_at = CASE WHEN last_checked_at IS NULL OR last_checked_at < v.last_at \
             THEN v.last_at ELSE last_checked_at END \
         FROM v WHERE monitors.id = v.id \
         RETURNING monitors.id AS id, CAST(monitors.result_key AS BIGINT) AS result_key",
        value_rows(1, rows, MONITOR_COLS)
    )
}

/// The columns of one result row in [`insert_results_sql`].
pub(crate) const RESULT_COLS: usize = 17;

/// Inserts `rows` checks in their compact form; a check already stored (same monitor,
/// time and region) is left as it is.
pub(crate) fn insert_results_sql(rows: usize) -> String {
    format!(
        "INSERT INTO check_results (monitor_key, checked_at, region_key, verdict, state, \
         error_kind, duration_ms, dns_ms, connect_ms, tls_ms, ttfb_ms, status_code, \
         cert_expires_at, peer, message, body_excerpt, details) VALUES {} \
         ON CONFLICT (monitor_key, checked_at, region_key) DO NOTHING",
        value_rows(1, rows, RESULT_COLS)
    )
}

/// The latest counted check of each monitor in each region, in batch order of their
/// last appearance: the one whose state the region's row keeps.
pub(crate) fn latest_per_region(batch: &[RecordedCheck]) -> Vec<&RecordedCheck> {
    let mut last: HashMap<(Uuid, &str), usize> = HashMap::new();
    for (i, check) in batch.iter().enumerate() {
        if !check.history_only {
            last.insert((check.monitor_id.0, check.result.region.as_str()), i);
        }
    }
    let mut indexes: Vec<usize> = last.into_values().collect();
    indexes.sort_unstable();
    indexes.into_iter().map(|i| &batch[i]).collect()
}

/// The columns of one region row in [`upsert_regions_sql`].
pub(crate) const REGION_COLS: usize = 9;

/// Writes `rows` regions' states (each (monitor, region) at most once per statement).
pub(crate) fn upsert_regions_sql(rows: usize) -> String {
    format!(
        "INSERT INTO monitor_regions (monitor_id, region, state, consecutive_failures, \
         checked_at, duration_ms, error_kind, error, cert_expires_at) VALUES {} \
         ON CONFLICT (monitor_id, region) DO UPDATE SET \
         state = excluded.state, consecutive_failures = excluded.consecutive_failures, \
         checked_at = excluded.checked_at, duration_ms = excluded.duration_ms, \
         error_kind = excluded.error_kind, error = excluded.error, \
         cert_expires_at = excluded.cert_expires_at",
        value_rows(1, rows, REGION_COLS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use vigilmon_core::state::RegionStatus;
    use vigilmon_core::{CheckResult, MonitorId, MonitorState, RegionName, Verdict};

    fn check(id: u128, region: &str, at: i64, state: MonitorState, history: bool) -> RecordedCheck {
        RecordedCheck {
            monitor_id: MonitorId(Uuid::from_u128(id)),
            result: CheckResult::new(
                RegionName::parse(region).unwrap(),
                Timestamp::from_millisecond(at).unwrap(),
                1,
                Verdict::Up,
            ),
            region_status: RegionStatus {
                state,
                consecutive_failures: 0,
            },
            monitor_state: state,
            history_only: history,
        }
    }

    #[test]
    fn chunks_cover_every_row_with_few_sizes() {
        assert_eq!(chunk_sizes(0), Vec::<usize>::new());
        assert_eq!(chunk_sizes(1), [1]);
        assert_eq!(chunk_sizes(64), [64]);
        assert_eq!(chunk_sizes(200), [64, 64, 64, 8]);
        assert_eq!(chunk_sizes(63), [32, 16, 8, 4, 2, 1]);
        for n in 0..600 {
            let sizes = chunk_sizes(n);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| s.is_power_of_two() && *s <= CHUNK));
        }
    }

    #[test]
    fn value_rows_number_every_placeholder() {
        assert_eq!(value_rows(1, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(value_rows(4, 1, 2), "($4, $5)");
    }

    #[test]
    fn a_monitor_write_is_what_the_checks_in_turn_would_do() {
        use MonitorState::*;
        let writes = monitor_writes(&[
            check(2, "eu", 10, Up, false),
            check(1, "eu", 5, Down, false),
            check(2, "us", 12, Up, false),
            check(2, "eu", 20, Down, false),
            check(2, "eu", 30, Down, false),
            check(2, "eu", 40, Up, true),
            check(1, "eu", 3, Up, true),
            check(3, "eu", 7, Up, true),
        ]);
        assert_eq!(
            writes,
            [
                MonitorWrite {
                    id: Uuid::from_u128(1),
                    first: Some(("down", 5)),
                    last_state: Some("down"),
                    changed_within: None,
                    last_at: 5,
                },
                MonitorWrite {
                    id: Uuid::from_u128(2),
                    first: Some(("up", 10)),
                    last_state: Some("down"),
                    changed_within: Some(20),
                    last_at: 40,
                },
                MonitorWrite {
                    id: Uuid::from_u128(3),
                    first: None,
                    last_state: None,
                    changed_within: None,
                    last_at: 7,
                },
            ]
        );
    }

    #[test]
    fn a_region_keeps_its_latest_counted_check() {
        use MonitorState::*;
        let batch = [
            check(1, "eu", 1, Up, false),
            check(1, "us", 2, Up, false),
            check(1, "eu", 3, Down, false),
            check(1, "eu", 4, Up, true),
        ];
        let latest: Vec<i64> = latest_per_region(&batch)
            .into_iter()
            .map(|c| c.result.checked_at.as_millisecond())
            .collect();
        assert_eq!(latest, [2, 3]);
    }
}
