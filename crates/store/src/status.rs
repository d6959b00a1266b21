//! Status pages: the pages themselves (declared in the config file or made through
//! the API), the public badge ids of monitors, public incident updates, and the reads
//! a page is computed from (incidents of its monitors over a range, when each monitor
//! was first seen).
//!
//! A monitor's badge id is a random public name for it, separate from its id, so that
//! badges and public JSON never reveal the id the API uses. It is made the first time
//! the monitor is shown on a page and kept (a monitor that leaves every page and comes
//! back keeps its badge URL); whether a badge is *served* is the server's decision.

use std::collections::HashMap;

use jiff::Timestamp;
use uuid::Uuid;
use vigilmon_core::status_page::StatusPageConfig;
use vigilmon_core::{MonitorId, MonitorState};

use crate::alerting::{INCIDENT_COLUMNS, decode_incident};
use crate::codec::{Cols, Reader, ms, placeholders};
use crate::{IncidentRecord, MonitorSource, Store, StoreError};

/// A status page as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPageRecord {
    pub slug: String,
    pub config: StatusPageConfig,
    pub source: MonitorSource,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A public update to an incident (investigating, identified, monitoring, resolved),
/// separate from its internal timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentUpdate {
    pub id: i64,
    pub incident_id: Uuid,
    pub at: Timestamp,
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    pub status: String,
    pub text: String,
    /// A public title for the incident, when this update sets one.
    pub title: Option<String>,
    /// Who posted it (not published).
    pub author: Option<String>,
}

/// A new public update.
#[derive(Debug, Clone)]
pub struct NewIncidentUpdate {
    pub incident_id: Uuid,
    pub at: Timestamp,
    pub status: String,
    pub text: String,
    pub title: Option<String>,
    pub author: Option<String>,
}

const PAGE_COLUMNS: &str = "slug, config, source, created_at, updated_at";

fn decode_page<R: Cols>(row: &R) -> Result<StatusPageRecord, StoreError> {
    let r = Reader::new(row, "status_pages");
    let text = r.string("config")?;
    let source = r.string("source")?;
    Ok(StatusPageRecord {
        slug: r.string("slug")?,
        config: serde_json::from_str(&text).map_err(|e| r.corrupt("config", e))?,
        source: MonitorSource::parse(&source)
            .ok_or_else(|| r.corrupt("source", format!("unknown source {source:?}")))?,
        created_at: r.timestamp("created_at")?,
        updated_at: r.timestamp("updated_at")?,
    })
}

fn decode_update<R: Cols>(row: &R) -> Result<IncidentUpdate, StoreError> {
    let r = Reader::new(row, "incident_updates");
    Ok(IncidentUpdate {
        id: r.i64("id")?,
        incident_id: r.uuid("incident_id")?,
        at: r.timestamp("at")?,
        status: r.string("status")?,
        text: r.string("text")?,
        title: r.opt_string("title")?,
        author: r.opt_string("author")?,
    })
}

/// A unique violation on `status_pages`: the domain, or else the slug.
fn page_conflict(err: sqlx::Error, config: &StatusPageConfig) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        let what = db.constraint().unwrap_or_else(|| db.message());
        return if what.contains("domain") {
            StoreError::Conflict {
                field: "domain",
                message: format!(
                    "another status page already answers on {:?}",
                    config.domain.as_deref().unwrap_or_default()
                ),
            }
        } else {
            StoreError::Conflict {
                field: "slug",
                message: format!("a status page with slug {:?} already exists", config.slug),
            }
        };
    }
    StoreError::Database(err)
}

fn config_text(config: &StatusPageConfig) -> Result<String, StoreError> {
    serde_json::to_string(config).map_err(|e| StoreError::Corrupt(format!("status page: {e}")))
}

/// A value kept in one column of a table keyed by monitor, for [`Store::by_monitor`].
trait MonitorColumn: Sized {
    fn read<R: Cols>(r: &Reader<'_, R>, col: &str) -> Result<Self, StoreError>;
}

/// A badge id.
impl MonitorColumn for String {
    fn read<R: Cols>(r: &Reader<'_, R>, col: &str) -> Result<Self, StoreError> {
        r.string(col)
    }
}

/// A first-seen time.
impl MonitorColumn for Timestamp {
    fn read<R: Cols>(r: &Reader<'_, R>, col: &str) -> Result<Self, StoreError> {
        r.timestamp(col)
    }
}

impl Store {
    /// `column` of `table` (keyed by `monitor_id`) for each of `monitors` that has a
    /// row there.
    async fn by_monitor<T: MonitorColumn>(
        &self,
        table: &'static str,
        column: &'static str,
        monitors: &[MonitorId],
    ) -> Result<HashMap<MonitorId, T>, StoreError> {
        if monitors.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT monitor_id, {column} FROM {table} WHERE monitor_id IN ({})",
            placeholders(1, monitors.len())
        );
        with_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for m in monitors {
                q = q.bind(m.as_uuid());
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, table);
                    Ok((MonitorId(r.uuid("monitor_id")?), T::read(&r, column)?))
                })
                .collect()
        })
    }

    /// Stores a new page (validated and normalized by the caller). A taken slug or
    /// domain is a [`StoreError::Conflict`] naming the field.
    pub async fn create_status_page(
        &self,
        config: &StatusPageConfig,
        source: MonitorSource,
        now: Timestamp,
    ) -> Result<StatusPageRecord, StoreError> {
        let text = config_text(config)?;
        with_pool!(self, pool => {
            let inserted = sqlx::query(
                "INSERT INTO status_pages (slug, config, domain, source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(&config.slug)
            .bind(&text)
            .bind(config.domain.as_deref())
            .bind(source.as_str())
            .bind(ms(now))
            .execute(pool)
            .await;
            if let Err(e) = inserted {
                // SQLite names only the first constraint broken: a taken slug wins.
                return Err(if self.get_status_page(&config.slug).await?.is_some() {
                    StoreError::Conflict {
                        field: "slug",
                        message: format!("a status page with slug {:?} already exists", config.slug),
                    }
                } else {
                    page_conflict(e, config)
                });
            }
        });
        self.get_status_page(&config.slug)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Creates or replaces the page with the config's slug (the source is replaced
    /// too: the file takes over a page of the same slug). A domain another page has is
    /// a [`StoreError::Conflict`] on `domain`.
    pub async fn upsert_status_page(
        &self,
        config: &StatusPageConfig,
        source: MonitorSource,
        now: Timestamp,
    ) -> Result<StatusPageRecord, StoreError> {
        let text = config_text(config)?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO status_pages (slug, config, domain, source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (slug) DO UPDATE SET \
                 config = excluded.config, domain = excluded.domain, source = excluded.source, \
                 updated_at = excluded.updated_at",
            )
            .bind(&config.slug)
            .bind(&text)
            .bind(config.domain.as_deref())
            .bind(source.as_str())
            .bind(ms(now))
            .execute(pool)
            .await
            .map_err(|e| page_conflict(e, config))?;
        });
        self.get_status_page(&config.slug)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Every page, by slug.
    pub async fn list_status_pages(&self) -> Result<Vec<StatusPageRecord>, StoreError> {
        let sql = format!("SELECT {PAGE_COLUMNS} FROM status_pages ORDER BY slug");
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).fetch_all(pool).await?;
            rows.iter().map(decode_page).collect()
        })
    }

    pub async fn get_status_page(
        &self,
        slug: &str,
    ) -> Result<Option<StatusPageRecord>, StoreError> {
        let sql = format!("SELECT {PAGE_COLUMNS} FROM status_pages WHERE slug = $1");
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(slug).fetch_optional(pool).await?;
            row.as_ref().map(decode_page).transpose()
        })
    }

    pub async fn delete_status_page(&self, slug: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let r = sqlx::query("DELETE FROM status_pages WHERE slug = $1").bind(slug).execute(pool).await?;
            Ok(r.rows_affected() > 0)
        })
    }

    /// The badge ids of `monitors`, making one with `make` for each that has none.
    /// Monitors deleted meanwhile are left out.
    pub async fn ensure_badge_ids(
        &self,
        monitors: &[MonitorId],
        make: impl Fn() -> String,
        now: Timestamp,
    ) -> Result<HashMap<MonitorId, String>, StoreError> {
        let mut have = self.badge_ids(monitors).await?;
        let missing: Vec<MonitorId> = monitors
            .iter()
            .filter(|m| !have.contains_key(m))
            .copied()
            .collect();
        if missing.is_empty() {
            return Ok(have);
        }
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for id in &missing {
                sqlx::query(
                    "INSERT INTO monitor_badges (monitor_id, badge_id, created_at) \
                     SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM monitors WHERE id = $1) \
                     ON CONFLICT (monitor_id) DO NOTHING",
                )
                .bind(id.as_uuid())
                .bind(make())
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        have.extend(self.badge_ids(&missing).await?);
        Ok(have)
    }

    /// The badge ids `monitors` have.
    pub async fn badge_ids(
        &self,
        monitors: &[MonitorId],
    ) -> Result<HashMap<MonitorId, String>, StoreError> {
        self.by_monitor("monitor_badges", "badge_id", monitors)
            .await
    }

    /// The monitor a badge id names.
    pub async fn monitor_by_badge(&self, badge_id: &str) -> Result<Option<MonitorId>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT monitor_id FROM monitor_badges WHERE badge_id = $1")
                .bind(badge_id)
                .fetch_optional(pool)
                .await?;
            row.as_ref()
                .map(|row| Reader::new(row, "monitor_badges").uuid("monitor_id").map(MonitorId))
                .transpose()
        })
    }

    /// Adds a public update; [`StoreError::NotFound`] when the incident does not exist.
    pub async fn add_incident_update(
        &self,
        u: &NewIncidentUpdate,
    ) -> Result<IncidentUpdate, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "INSERT INTO incident_updates (incident_id, at, status, text, title, author) \
                 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM incidents WHERE id = $1) \
                 RETURNING id, incident_id, at, status, text, title, author",
            )
            .bind(u.incident_id)
            .bind(ms(u.at))
            .bind(&u.status)
            .bind(&u.text)
            .bind(u.title.as_deref())
            .bind(u.author.as_deref())
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(decode_update).transpose()?.ok_or(StoreError::NotFound)
        })
    }

    /// The public updates of `incidents`, oldest first.
    pub async fn incident_updates(
        &self,
        incidents: &[Uuid],
    ) -> Result<Vec<IncidentUpdate>, StoreError> {
        if incidents.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, incident_id, at, status, text, title, author FROM incident_updates \
             WHERE incident_id IN ({}) ORDER BY id",
            placeholders(1, incidents.len())
        );
        with_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for i in incidents {
                q = q.bind(*i);
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter().map(decode_update).collect()
        })
    }

    /// Incidents of `monitors` still open or resolved at or after `since`, newest
    /// first: every incident that overlaps `[since, now)`.
    pub async fn incidents_since(
        &self,
        monitors: &[MonitorId],
        since: Timestamp,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        if monitors.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE monitor_id IN ({}) \
             AND (resolved_at IS NULL OR resolved_at >= $1) ORDER BY opened_at DESC",
            placeholders(2, monitors.len())
        );
        with_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(ms(since));
            for m in monitors {
                q = q.bind(m.as_uuid());
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter().map(decode_incident).collect()
        })
    }

    /// The state changes of `monitors` that matter from `since` on: per monitor, in time
    /// order, the last change before `since` (the state the monitor was in then) and
    /// every change after it. Every change of `monitors.state` is logged by the
    /// database itself (migration 0015), whichever write made it.
    pub async fn state_changes_since(
        &self,
        monitors: &[MonitorId],
        since: Timestamp,
    ) -> Result<HashMap<MonitorId, Vec<(Timestamp, MonitorState)>>, StoreError> {
        if monitors.is_empty() {
            return Ok(HashMap::new());
        }
        let ids = placeholders(2, monitors.len());
        // The changes from `since` on, and each monitor's last one before it (found by
        // one grouped walk of the (monitor_id, at) index, not a lookup per row).
        let sql = format!(
            "SELECT monitor_id, at, state, seq FROM monitor_state_changes \
             WHERE monitor_id IN ({ids}) AND at >= $1 \
             UNION ALL \
             SELECT c.monitor_id, c.at, c.state, c.seq FROM monitor_state_changes c \
             JOIN (SELECT monitor_id, max(at) AS last_at FROM monitor_state_changes \
                   WHERE monitor_id IN ({ids}) AND at < $1 GROUP BY monitor_id) l \
             ON c.monitor_id = l.monitor_id AND c.at = l.last_at \
             ORDER BY 1, 2, 4"
        );
        let mut out: HashMap<MonitorId, Vec<(Timestamp, MonitorState)>> = HashMap::new();
        with_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(ms(since));
            for m in monitors {
                q = q.bind(m.as_uuid());
            }
            for row in q.fetch_all(pool).await? {
                let r = Reader::new(&row, "monitor_state_changes");
                out.entry(MonitorId(r.uuid("monitor_id")?))
                    .or_default()
                    .push((r.timestamp("at")?, r.state("state")?));
            }
        });
        Ok(out)
    }

    /// When each of `monitors` was first seen (its first check result or ping), for
    /// those that have been.
    pub async fn first_seen(
        &self,
        monitors: &[MonitorId],
    ) -> Result<HashMap<MonitorId, Timestamp>, StoreError> {
        self.by_monitor("monitor_first_seen", "first_at", monitors)
            .await
    }

    /// Records when monitors not yet recorded were first seen: their oldest stored
    /// check result or ping. Returns how many were recorded. Run it well within the
    /// retention of raw results (the rollup task does, every minute).
    pub async fn record_first_seen(&self) -> Result<u64, StoreError> {
        self.record_first_seen_under(&crate::Commit::unfenced())
            .await
    }

    /// [`Store::record_first_seen`] by the coordinator, fenced (see [`crate::Commit`]).
    pub async fn record_first_seen_under(&self, commit: &crate::Commit) -> Result<u64, StoreError> {
        let postgres = self.is_postgres();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            crate::ingest::begin_commit!(tx, commit, postgres);
            let r = sqlx::query(
                "INSERT INTO monitor_first_seen (monitor_id, first_at) \
                 SELECT id, first_at FROM (SELECT m.id AS id, COALESCE( \
                     (SELECT MIN(c.checked_at) FROM check_results c WHERE c.monitor_key = m.result_key), \
                     (SELECT MIN(p.received_at) FROM pings p WHERE p.monitor_id = m.id)) AS first_at \
                   FROM monitors m WHERE NOT EXISTS (SELECT 1 FROM monitor_first_seen f WHERE f.monitor_id = m.id)) AS seen \
                 WHERE first_at IS NOT NULL ON CONFLICT (monitor_id) DO NOTHING",
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(r.rows_affected())
        })
    }
}
