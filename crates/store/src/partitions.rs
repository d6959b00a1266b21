//! Day partitions of raw check results on PostgreSQL (ARCHITECTURE.md, "Storage").
//!
//! At cluster scale raw results are the bulk of the database, and expiring them row by
//! row costs as much as writing them. On PostgreSQL `check_results` is partitioned by
//! UTC day (migration 0014): one partition per day, `check_results_pYYYYMMDD`, and a
//! default partition for rows no day partition covers. The coordinator's retention task
//! calls [`Store::rotate_result_partitions_under`] each pass: it creates today's
//! partition and the next days' ahead of the writes, and drops the partitions wholly
//! older than the retention cutoff. What is left to delete row by row is only what
//! landed in the default partition. SQLite keeps one table.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::codec::ms;
use crate::ingest::Commit;
use crate::{Store, StoreError};

/// One day in epoch milliseconds.
const DAY_MS: i64 = 86_400_000;

/// Days created ahead of today, so that writes never wait for a partition.
const AHEAD_DAYS: i64 = 3;

/// The prefix of a day partition's name; the day follows as `YYYYMMDD`.
const PREFIX: &str = "check_results_p";

/// The columns of `check_results`, in table order, for moving rows between partitions.
const COLUMNS: &str = "checked_at, cert_expires_at, monitor_key, duration_ms, dns_ms, \
    connect_ms, tls_ms, ttfb_ms, status_code, region_key, verdict, state, error_kind, peer, \
    message, body_excerpt, details";

/// Creating and dropping partitions locks the table briefly; rather than queue every
/// writer behind a long-running reader, give up and try again on the next pass.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '2s'";

/// What one pass of [`Store::rotate_result_partitions_under`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRotation {
    /// Day partitions created, by name.
    pub created: Vec<String>,
    /// Day partitions dropped (with every row in them), by name.
    pub dropped: Vec<String>,
    /// Results checked before this are still to be deleted row by row: the cutoff
    /// itself on SQLite; on PostgreSQL the start of the cutoff's UTC day, as raw
    /// retention there goes by whole days (so results are kept up to a day longer).
    pub delete_before: Timestamp,
}

/// The start of the UTC day holding `at_ms`.
fn day_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(DAY_MS) * DAY_MS
}

/// The partition name of the UTC day starting at `day_ms`.
fn partition_name(day_ms: i64) -> Result<String, StoreError> {
    let ts = Timestamp::from_millisecond(day_ms)
        .map_err(|e| StoreError::Corrupt(format!("partition day {day_ms}: {e}")))?;
    Ok(format!(
        "{PREFIX}{}",
        ts.to_zoned(TimeZone::UTC).strftime("%Y%m%d")
    ))
}

/// The day (start, epoch milliseconds) a partition name stands for, if it is one of
/// ours: exactly the prefix and a valid `YYYYMMDD`.
fn partition_day(name: &str) -> Option<i64> {
    let digits = name.strip_prefix(PREFIX)?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = jiff::civil::Date::strptime("%Y%m%d", digits).ok()?;
    let ts = date.to_zoned(TimeZone::UTC).ok()?.timestamp();
    Some(ts.as_millisecond())
}

impl Store {
    /// The day partitions of `check_results`, oldest first, by name. Always empty on
    /// SQLite.
    pub async fn result_partitions(&self) -> Result<Vec<String>, StoreError> {
        let crate::Backend::Postgres(pool) = &self.backend else {
            return Ok(Vec::new());
        };
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::TEXT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'check_results'::regclass",
        )
        .fetch_all(pool)
        .await?;
        let mut days: Vec<(i64, String)> = names
            .into_iter()
            .filter_map(|n| partition_day(&n).map(|d| (d, n)))
            .collect();
        days.sort();
        Ok(days.into_iter().map(|(_, n)| n).collect())
    }

    /// Keeps the day partitions of raw results in step with the clock, by the
    /// coordinator, fenced (see [`Commit`]): creates the partitions of `now`'s UTC day
    /// and the next three that are missing, and drops every day partition that ends at
    /// or before `cutoff`. A day's rows that went to the default partition because its
    /// partition did not exist yet move into it when it is created. All of it is one
    /// transaction. On SQLite it does nothing and returns `cutoff` to delete before.
    pub async fn rotate_result_partitions_under(
        &self,
        now: Timestamp,
        cutoff: Timestamp,
        commit: &Commit,
    ) -> Result<PartitionRotation, StoreError> {
        let crate::Backend::Postgres(pool) = &self.backend else {
            return Ok(PartitionRotation {
                created: Vec::new(),
                dropped: Vec::new(),
                delete_before: cutoff,
            });
        };
        let cut_day = day_of(ms(cutoff));
        let delete_before = Timestamp::from_millisecond(cut_day)
            .map_err(|e| StoreError::Corrupt(format!("retention cutoff {cut_day}: {e}")))?;
        let existing: Vec<(i64, String)> = self
            .result_partitions()
            .await?
            .into_iter()
            .filter_map(|n| partition_day(&n).map(|d| (d, n)))
            .collect();
        let today = day_of(ms(now));
        let mut created = Vec::new();
        let mut dropped = Vec::new();
        let mut tx = pool.begin().await?;
        crate::ingest::begin_commit!(tx, commit, true);
        sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
        for k in 0..=AHEAD_DAYS {
            let day = today + k * DAY_MS;
            if existing.iter().any(|(d, _)| *d == day) {
                continue;
            }
            let name = partition_name(day)?;
            let end = day + DAY_MS;
            // Built beside the table, filled with the day's rows from the default
            // partition, then attached: attaching checks the default partition holds
            // nothing of the day any more, which creating the partition in place would
            // refuse outright.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE TABLE {name} (LIKE check_results INCLUDING DEFAULTS)"
            )))
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "WITH moved AS (DELETE FROM check_results_default \
                 WHERE checked_at >= {day} AND checked_at < {end} RETURNING {COLUMNS}) \
                 INSERT INTO {name} ({COLUMNS}) SELECT {COLUMNS} FROM moved"
            )))
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE check_results ATTACH PARTITION {name} \
                 FOR VALUES FROM ({day}) TO ({end})"
            )))
            .execute(&mut *tx)
            .await?;
            created.push(name);
        }
        for (day, name) in &existing {
            if day + DAY_MS <= cut_day {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {name}")))
                    .execute(&mut *tx)
                    .await?;
                dropped.push(name.clone());
            }
        }
        tx.commit().await?;
        Ok(PartitionRotation {
            created,
            dropped,
            delete_before,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_days_round_trip() {
        let day = day_of(1_796_515_200_000 + 5_000);
        assert_eq!(day, 1_796_515_200_000);
        let name = partition_name(day).unwrap();
        assert_eq!(name, "check_results_p20261206");
        assert_eq!(partition_day(&name), Some(day));
    }

    #[test]
    fn days_before_the_epoch_round_down() {
        assert_eq!(day_of(-1), -DAY_MS);
        assert_eq!(day_of(0), 0);
    }

    #[test]
    fn only_our_names_are_partitions() {
        for name in [
            "check_results_default",
            "check_results_p2026120",
            "check_results_p202612066",
            "check_results_p2026-12-",
            "check_results_p20261332",
            "other_p20261206",
        ] {
            assert_eq!(partition_day(name), None, "{name}");
        }
    }
}
