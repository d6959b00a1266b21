//! Monitors: create, read, update (with the state resets a change implies), delete.

use jiff::Timestamp;
use sqlx::types::Json;
use vigilmon_core::{MonitorConfig, MonitorId, MonitorState};

use crate::codec::{Cols, Reader, ms};
use crate::error::unique_conflict;
use crate::{MonitorRecord, MonitorSource, Store, StoreError};

/// The columns [`decode_monitor`] reads, as a string literal for `concat!`.
macro_rules! monitor_columns {
    () => {
        "id, config, source, state, state_changed_at, last_checked_at, created_at, updated_at"
    };
}

pub(crate) const SELECT_BY_ID: &str = concat!(
    "SELECT ",
    monitor_columns!(),
    " FROM monitors WHERE id = $1"
);
const SELECT_BY_NAME: &str = concat!(
    "SELECT ",
    monitor_columns!(),
    " FROM monitors WHERE name = $1"
);
pub(crate) const SELECT_ALL: &str = concat!("SELECT ", monitor_columns!(), " FROM monitors");

/// Decodes a row selected with `monitor_columns!()`.
pub(crate) fn decode_monitor<R: Cols>(row: &R) -> Result<MonitorRecord, StoreError> {
    let r = Reader::new(row, "monitors");
    let source = r.string("source")?;
    Ok(MonitorRecord {
        id: MonitorId(r.uuid("id")?),
        config: r.config("config")?,
        source: MonitorSource::parse(&source)
            .ok_or_else(|| r.corrupt("source", format!("unknown source {source:?}")))?,
        state: r.state("state")?,
        state_changed_at: r.opt_timestamp("state_changed_at")?,
        last_checked_at: r.opt_timestamp("last_checked_at")?,
        created_at: r.timestamp("created_at")?,
        updated_at: r.timestamp("updated_at")?,
    })
}

/// Replaces a monitor's rows in `monitor_tags` with its config's tags, in order, inside
/// the transaction `$tx` that writes the monitor.
macro_rules! write_tags {
    ($tx:ident, $id:expr, $config:expr) => {{
        sqlx::query("DELETE FROM monitor_tags WHERE monitor_id = $1")
            .bind($id.0)
            .execute(&mut *$tx)
            .await?;
        for (position, tag) in $config.tags.iter().enumerate() {
            sqlx::query(
                "INSERT INTO monitor_tags (monitor_id, position, tag) VALUES ($1, $2, $3) \
                 ON CONFLICT (monitor_id, position) DO UPDATE SET tag = excluded.tag",
            )
            .bind($id.0)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(tag.trim())
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(crate) use write_tags;

/// The message of a duplicate-name conflict.
fn name_taken(name: &str) -> String {
    format!("a monitor named {name:?} already exists")
}

/// Whether `new` checks something else than `old`, so that the state earned by the old
/// check says nothing about the new one: the kind or the target (URL, method, host,
/// port) changed. Other edits (name, tags, policy, thresholds, interval…) keep the
/// state; the next check re-evaluates it anyway.
fn target_changed(old: &MonitorConfig, new: &MonitorConfig) -> bool {
    !old.kind.same_target(&new.kind)
}

/// The old row's facts that [`Store::update_monitor`] decides on. Read leniently: a
/// row whose config or state cannot be decoded can still be repaired by an update
/// (it is then treated as a changed target).
struct Previous {
    config: Option<MonitorConfig>,
    paused: bool,
    state: Option<MonitorState>,
    state_changed_at: Option<i64>,
}

/// What an update does to the state.
#[derive(Debug, PartialEq, Eq)]
struct Transition {
    state: &'static str,
    state_changed_at: Option<i64>,
    /// Delete the monitor's region rows: the monitor starts over.
    reset_regions: bool,
}

fn transition(prev: &Previous, new: &MonitorConfig, now_ms: i64) -> Transition {
    let target_changed = prev
        .config
        .as_ref()
        .is_none_or(|old| target_changed(old, new));
    let (state, reset_regions) = match (prev.paused, new.paused) {
        // pausing keeps the region rows; resuming deletes them
        (false, true) => (MonitorState::Paused, false),
        (true, false) => (MonitorState::Pending, true),
        (true, true) => (MonitorState::Paused, target_changed),
        (false, false) if target_changed => (MonitorState::Pending, true),
        (false, false) => match prev.state {
            Some(s) => (s, false),
            None => (MonitorState::Pending, true),
        },
    };
    let state_changed_at = if prev.state == Some(state) {
        prev.state_changed_at
    } else {
        Some(now_ms)
    };
    Transition {
        state: state.as_str(),
        state_changed_at,
        reset_regions,
    }
}

impl Store {
    /// Stores a new monitor. The caller has validated `config`
    /// ([`MonitorConfig::build`]); its trimmed name must be unique, else
    /// [`StoreError::Conflict`] with field `name`. The state starts as `pending`, or
    /// `paused` when the config says so.
    pub async fn create_monitor(
        &self,
        id: MonitorId,
        config: &MonitorConfig,
        source: MonitorSource,
        now: Timestamp,
    ) -> Result<MonitorRecord, StoreError> {
        let name = config.name.trim();
        let state = if config.paused {
            MonitorState::Paused
        } else {
            MonitorState::Pending
        };
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO monitors (id, name, kind, config, source, paused, state, \
                 state_changed_at, last_checked_at, created_at, updated_at, search, sort_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8, $8, $9, $10)",
            )
            .bind(id.0)
            .bind(name)
            .bind(config.kind_name())
            .bind(Json(config))
            .bind(source.as_str())
            .bind(config.paused)
            .bind(state.as_str())
            .bind(ms(now))
            .bind(config.search_text())
            .bind(config.sort_key())
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_conflict(e, "name", "name", || name_taken(name)))?;
            write_tags!(tx, id, config);
            let row = sqlx::query(SELECT_BY_ID).bind(id.0).fetch_one(&mut *tx).await?;
            let record = decode_monitor(&row)?;
            tx.commit().await?;
            Ok(record)
        })
    }

    /// Replaces a monitor's config, keeping its source. [`StoreError::NotFound`] when
    /// it does not exist, [`StoreError::Conflict`] (field `name`) when another monitor
    /// has the name.
    ///
    /// State: pausing makes it `paused`; resuming makes it `pending` and deletes its
    /// region state (a resumed monitor starts over); changing the kind or the target
    /// (URL, method, host, port) does the same as resuming, except that a paused
    /// monitor stays paused. `state_changed_at` moves only when the state changes.
    pub async fn update_monitor(
        &self,
        id: MonitorId,
        config: &MonitorConfig,
        now: Timestamp,
    ) -> Result<MonitorRecord, StoreError> {
        let name = config.name.trim();
        let now_ms = ms(now);
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // Write first, so the transaction holds the row (PostgreSQL row lock) or
            // the database (SQLite write lock, waiting up to the busy timeout) before
            // it reads: concurrent updates serialise instead of deciding on stale state.
            let locked = sqlx::query("UPDATE monitors SET updated_at = updated_at WHERE id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            if locked.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            let row = sqlx::query(
                "SELECT config, paused, state, state_changed_at FROM monitors WHERE id = $1",
            )
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
            let r = Reader::new(&row, "monitors");
            let prev = Previous {
                config: r.config("config").ok(),
                paused: r.bool("paused")?,
                state: r.state("state").ok(),
                state_changed_at: r.opt_timestamp("state_changed_at").ok().flatten().map(ms),
            };
            let t = transition(&prev, config, now_ms);
            sqlx::query(
                "UPDATE monitors SET name = $2, kind = $3, config = $4, paused = $5, \
                 state = $6, state_changed_at = $7, updated_at = $8, search = $9, \
                 sort_key = $10 WHERE id = $1",
            )
            .bind(id.0)
            .bind(name)
            .bind(config.kind_name())
            .bind(Json(config))
            .bind(config.paused)
            .bind(t.state)
            .bind(t.state_changed_at)
            .bind(now_ms)
            .bind(config.search_text())
            .bind(config.sort_key())
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_conflict(e, "name", "name", || name_taken(name)))?;
            write_tags!(tx, id, config);
            if t.reset_regions {
                sqlx::query("DELETE FROM monitor_regions WHERE monitor_id = $1")
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            let row = sqlx::query(SELECT_BY_ID).bind(id.0).fetch_one(&mut *tx).await?;
            let record = decode_monitor(&row)?;
            tx.commit().await?;
            Ok(record)
        })
    }

    /// Changes who owns a monitor (the config file takes over an API-made monitor of
    /// the same name). Nothing else changes, `updated_at` included.
    /// [`StoreError::NotFound`] when the monitor does not exist.
    pub async fn set_monitor_source(
        &self,
        id: MonitorId,
        source: MonitorSource,
    ) -> Result<(), StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query("UPDATE monitors SET source = $2 WHERE id = $1")
                .bind(id.0)
                .bind(source.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes a monitor with its results and region state. Returns whether it existed.
    pub async fn delete_monitor(&self, id: MonitorId) -> Result<bool, StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query("DELETE FROM monitors WHERE id = $1")
                .bind(id.0)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// The monitor with this id.
    pub async fn get_monitor(&self, id: MonitorId) -> Result<Option<MonitorRecord>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(SELECT_BY_ID).bind(id.0).fetch_optional(pool).await?;
            row.as_ref().map(decode_monitor).transpose()
        })
    }

    /// The monitor with this name (compared exactly, after trimming `name`).
    pub async fn get_monitor_by_name(
        &self,
        name: &str,
    ) -> Result<Option<MonitorRecord>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(SELECT_BY_NAME)
                .bind(name.trim())
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(decode_monitor).transpose()
        })
    }

    /// How many monitors came from `source`.
    pub async fn count_monitors_from(&self, source: MonitorSource) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM monitors WHERE source = $1")
                .bind(source.as_str())
                .fetch_one(pool)
                .await?;
            Reader::new(&row, "monitors").u64("n")
        })
    }

    /// Every monitor, ordered by name.
    pub async fn list_monitors(&self) -> Result<Vec<MonitorRecord>, StoreError> {
        use futures_util::TryStreamExt;
        // Each row decoded as it arrives: every row's text held at once beside the
        // decoded monitors doubled what a reading of 50,000 monitors took.
        let mut monitors = with_pool!(self, pool => {
            let mut rows = sqlx::query(SELECT_ALL).fetch(pool);
            let mut out = Vec::new();
            while let Some(row) = rows.try_next().await? {
                out.push(decode_monitor(&row)?);
            }
            out
        });
        sort_by_name(&mut monitors);
        Ok(monitors)
    }

    /// Every monitor's id and state, without their configurations (for whoever needs
    /// only these: reading and decoding every configuration costs far more).
    pub async fn monitor_states(&self) -> Result<Vec<(MonitorId, MonitorState)>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT id, state FROM monitors").fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "monitors");
                    Ok((MonitorId(r.uuid("id")?), r.state("state")?))
                })
                .collect()
        })
    }
}

/// Monitors in name order. Sorted here rather than with ORDER BY: PostgreSQL orders
/// text by the database's collation, SQLite by bytes; sorting in Rust gives one order
/// on both (by code point, which for UTF-8 is byte order).
pub(crate) fn sort_by_name(monitors: &mut [MonitorRecord]) {
    monitors.sort_by(|a, b| a.config.name.trim().cmp(b.config.name.trim()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> MonitorConfig {
        MonitorConfig {
            name: "a".into(),
            kind: vigilmon_core::KindConfig::Http(vigilmon_core::monitor::HttpConfig {
                url: Some(url.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn prev(config: MonitorConfig, state: MonitorState) -> Previous {
        Previous {
            paused: config.paused,
            config: Some(config),
            state: Some(state),
            state_changed_at: Some(1),
        }
    }

    #[test]
    fn cosmetic_edits_keep_the_state() {
        let mut new = http("http://x");
        new.name = "b".into();
        new.tags = vec!["t".into()];
        let t = transition(&prev(http("http://x"), MonitorState::Down), &new, 9);
        assert_eq!(
            t,
            Transition {
                state: "down",
                state_changed_at: Some(1),
                reset_regions: false
            }
        );
    }

    #[test]
    fn a_new_target_starts_over() {
        let t = transition(
            &prev(http("http://x"), MonitorState::Down),
            &http("http://y"),
            9,
        );
        assert_eq!(
            t,
            Transition {
                state: "pending",
                state_changed_at: Some(9),
                reset_regions: true
            }
        );
    }

    #[test]
    fn pause_and_resume() {
        let mut paused = http("http://x");
        paused.paused = true;
        let t = transition(&prev(http("http://x"), MonitorState::Up), &paused, 9);
        assert_eq!(
            (t.state, t.state_changed_at, t.reset_regions),
            ("paused", Some(9), false)
        );
        let t = transition(
            &prev(paused.clone(), MonitorState::Paused),
            &http("http://x"),
            9,
        );
        assert_eq!(
            (t.state, t.state_changed_at, t.reset_regions),
            ("pending", Some(9), true)
        );
        // a paused monitor whose target changes stays paused, and forgets its regions
        let mut moved = paused.clone();
        if let Some(url) = moved.kind.url_mut() {
            *url = Some("http://y".into());
        }
        let t = transition(&prev(paused, MonitorState::Paused), &moved, 9);
        assert_eq!(
            (t.state, t.state_changed_at, t.reset_regions),
            ("paused", Some(1), true)
        );
    }

    #[test]
    fn an_undecodable_row_is_repaired() {
        let p = Previous {
            config: None,
            paused: false,
            state: None,
            state_changed_at: None,
        };
        let t = transition(&p, &http("http://x"), 9);
        assert_eq!(
            (t.state, t.state_changed_at, t.reset_regions),
            ("pending", Some(9), true)
        );
    }
}
