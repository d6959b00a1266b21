//! Alerting persistence: channels and policies (declared in the config file or made
//! through the API), maintenance windows, incidents and their timelines, the alerting
//! engine's per-monitor memory, and the durable outbox of notifications.
//!
//! The engine's decisions land in one transaction ([`Store::apply_alerting`]): its
//! memory, the incident rows, the timeline, and the outbox rows. Outbox rows carry an
//! idempotency key (unique), so an engine that repeats itself enqueues nothing twice.
//! Workers claim one due row at a time with a lease ([`Store::claim_notification`]), so
//! several servers on one PostgreSQL send each notification once.

use jiff::Timestamp;
use uuid::Uuid;
use vigilmon_core::MonitorId;

use crate::codec::{Cols, Reader, ms, opt_ms};
use crate::{Commit, MonitorSource, Store, StoreError};

/// A named configuration object (channel, policy or maintenance window) as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedConfig {
    pub name: String,
    /// The raw config as JSON.
    pub config: serde_json::Value,
    pub source: MonitorSource,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A maintenance window as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceRecord {
    pub id: Uuid,
    pub name: String,
    pub config: serde_json::Value,
    pub source: MonitorSource,
    /// Ended early through the API.
    pub ended_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// An incident as stored and served.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    pub id: Uuid,
    pub monitor_id: MonitorId,
    pub monitor_name: String,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    pub priority: String,
    pub cause: String,
    /// Each region's evidence when it opened (JSON array).
    pub regions: serde_json::Value,
    pub parent_id: Option<Uuid>,
    pub opened_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentEvent {
    pub id: i64,
    pub incident_id: Uuid,
    pub at: Timestamp,
    /// `opened`, `notification`, `delivered`, `delivery_failed`, `acknowledged`, `note`, `resolved`, …
    pub kind: String,
    pub text: String,
    pub actor: Option<String>,
    pub channel: Option<String>,
}

/// A new timeline line.
#[derive(Debug, Clone)]
pub struct NewIncidentEvent {
    pub incident_id: Uuid,
    pub at: Timestamp,
    pub kind: String,
    pub text: String,
    pub actor: Option<String>,
    pub channel: Option<String>,
}

/// A change to an incident row.
#[derive(Debug, Clone)]
pub enum IncidentChange {
    Open(Box<IncidentRecord>),
    Acknowledge {
        id: Uuid,
        at: Timestamp,
        by: String,
    },
    Resolve {
        id: Uuid,
        at: Timestamp,
        by: Option<String>,
    },
}

/// A notification to enqueue.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Idempotency key: a second enqueue with the same key is ignored.
    pub key: String,
    pub incident_id: Option<Uuid>,
    pub monitor_id: Option<MonitorId>,
    pub channel: String,
    pub event: String,
    /// What to send (the rendered-later notification, as JSON).
    pub payload: serde_json::Value,
    pub not_before: Timestamp,
}

/// Everything one engine step decided, written atomically.
#[derive(Debug, Clone, Default)]
pub struct AlertingWrite {
    /// The engine's memory per monitor (JSON).
    pub states: Vec<(MonitorId, serde_json::Value)>,
    pub incidents: Vec<IncidentChange>,
    pub events: Vec<NewIncidentEvent>,
    pub notifications: Vec<NewNotification>,
    /// Server-wide settings (key, value) written with the step, e.g. the region
    /// health memory beside the notifications it decided.
    pub settings: Vec<(String, String)>,
}

/// An outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    pub id: i64,
    pub key: String,
    pub incident_id: Option<Uuid>,
    pub monitor_id: Option<MonitorId>,
    pub channel: String,
    pub event: String,
    pub payload: serde_json::Value,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    pub outbox_id: i64,
    pub at: Timestamp,
    /// `delivered`, `retry` or `failed`.
    pub outcome: String,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// How an attempt ended, for [`Store::finish_delivery`].
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at `next`.
    Retry {
        next: Timestamp,
        error: String,
    },
    /// Give up.
    Failed {
        error: String,
    },
}

fn json_text(v: &serde_json::Value) -> String {
    v.to_string()
}

fn parse_json<R: Cols>(r: &Reader<'_, R>, col: &str) -> Result<serde_json::Value, StoreError> {
    let text = r.string(col)?;
    serde_json::from_str(&text).map_err(|e| r.corrupt(col, e))
}

fn source<R: Cols>(r: &Reader<'_, R>) -> Result<MonitorSource, StoreError> {
    let s = r.string("source")?;
    MonitorSource::parse(&s).ok_or_else(|| r.corrupt("source", format!("unknown source {s:?}")))
}

fn opt_uuid<R: Cols>(row: &R, r: &Reader<'_, R>, col: &str) -> Result<Option<Uuid>, StoreError> {
    row.get_opt_uuid(col).map_err(|e| r.corrupt(col, e))
}

fn decode_named<R: Cols>(row: &R, table: &'static str) -> Result<NamedConfig, StoreError> {
    let r = Reader::new(row, table);
    Ok(NamedConfig {
        name: r.string("name")?,
        config: parse_json(&r, "config")?,
        source: source(&r)?,
        created_at: r.timestamp("created_at")?,
        updated_at: r.timestamp("updated_at")?,
    })
}

pub(crate) fn decode_incident<R: Cols>(row: &R) -> Result<IncidentRecord, StoreError> {
    let r = Reader::new(row, "incidents");
    Ok(IncidentRecord {
        id: r.uuid("id")?,
        monitor_id: MonitorId(r.uuid("monitor_id")?),
        monitor_name: r.string("monitor_name")?,
        state: r.string("state")?,
        priority: r.string("priority")?,
        cause: r.string("cause")?,
        regions: parse_json(&r, "regions")?,
        parent_id: opt_uuid(row, &r, "parent_id")?,
        opened_at: r.timestamp("opened_at")?,
        acknowledged_at: r.opt_timestamp("acknowledged_at")?,
        acknowledged_by: r.opt_string("acknowledged_by")?,
        resolved_at: r.opt_timestamp("resolved_at")?,
        resolved_by: r.opt_string("resolved_by")?,
    })
}

fn decode_outbox<R: Cols>(row: &R) -> Result<OutboxRecord, StoreError> {
    let r = Reader::new(row, "outbox");
    Ok(OutboxRecord {
        id: r.i64("id")?,
        key: r.string("key")?,
        incident_id: opt_uuid(row, &r, "incident_id")?,
        monitor_id: opt_uuid(row, &r, "monitor_id")?.map(MonitorId),
        channel: r.string("channel")?,
        event: r.string("event")?,
        payload: parse_json(&r, "payload")?,
        status: r.string("status")?,
        attempts: r.u32("attempts")?,
        next_attempt_at: r.timestamp("next_attempt_at")?,
        last_error: r.opt_string("last_error")?,
        created_at: r.timestamp("created_at")?,
        delivered_at: r.opt_timestamp("delivered_at")?,
    })
}

pub(crate) const INCIDENT_COLUMNS: &str = "id, monitor_id, monitor_name, state, priority, cause, regions, parent_id, \
    opened_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by";
const OUTBOX_COLUMNS: &str = "id, key, incident_id, monitor_id, channel, event, payload, status, attempts, \
    next_attempt_at, last_error, created_at, delivered_at";

/// Filters for [`Store::list_incidents`].
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub state: Option<String>,
    pub monitor_id: Option<MonitorId>,
    /// 0 means 100; capped at 1000.
    pub limit: u32,
}

impl Store {
    // --- channels and policies -------------------------------------------------

    async fn list_named(&self, table: &'static str) -> Result<Vec<NamedConfig>, StoreError> {
        let sql = format!(
            "SELECT name, config, source, created_at, updated_at FROM {table} ORDER BY name"
        );
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).fetch_all(pool).await?;
            rows.iter().map(|r| decode_named(r, table)).collect()
        })
    }

    /// Creates or replaces the row `name` of a named-config table. `kind` fills the
    /// `kind` column of the tables that have one (channels); it is left out otherwise.
    /// A replaced row keeps its `created_at`.
    async fn upsert_named(
        &self,
        table: &'static str,
        name: &str,
        kind: Option<&str>,
        config: &serde_json::Value,
        source: MonitorSource,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (kind_column, kind_value, kind_update) = match kind {
            Some(_) => (", kind", ", $5", ", kind = excluded.kind"),
            None => ("", "", ""),
        };
        let sql = format!(
            "INSERT INTO {table} (name, config, source, created_at, updated_at{kind_column}) \
             VALUES ($1, $2, $3, $4, $4{kind_value}) \
             ON CONFLICT (name) DO UPDATE SET config = excluded.config, source = excluded.source, \
             updated_at = excluded.updated_at{kind_update}"
        );
        with_pool!(self, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(name)
                .bind(json_text(config))
                .bind(source.as_str())
                .bind(ms(now));
            if let Some(kind) = kind {
                query = query.bind(kind);
            }
            query.execute(pool).await?;
        });
        Ok(())
    }

    async fn delete_named(&self, table: &'static str, name: &str) -> Result<bool, StoreError> {
        let sql = format!("DELETE FROM {table} WHERE name = $1");
        with_pool!(self, pool => {
            let r = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(name).execute(pool).await?;
            Ok(r.rows_affected() > 0)
        })
    }

    /// Creates or replaces a channel.
    pub async fn upsert_channel(
        &self,
        name: &str,
        kind: &str,
        config: &serde_json::Value,
        source: MonitorSource,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.upsert_named("channels", name, Some(kind), config, source, now)
            .await
    }

    pub async fn list_channels(&self) -> Result<Vec<NamedConfig>, StoreError> {
        self.list_named("channels").await
    }

    pub async fn delete_channel(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_named("channels", name).await
    }

    /// Creates or replaces a policy.
    pub async fn upsert_policy(
        &self,
        name: &str,
        config: &serde_json::Value,
        source: MonitorSource,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.upsert_named("policies", name, None, config, source, now)
            .await
    }

    pub async fn list_policies(&self) -> Result<Vec<NamedConfig>, StoreError> {
        self.list_named("policies").await
    }

    pub async fn delete_policy(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_named("policies", name).await
    }

    // --- maintenance windows -------------------------------------------------

    /// Creates or replaces (by name) a maintenance window; returns its id.
    pub async fn upsert_maintenance(
        &self,
        id: Uuid,
        name: &str,
        config: &serde_json::Value,
        source: MonitorSource,
        now: Timestamp,
    ) -> Result<Uuid, StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO maintenance_windows (id, name, config, source, ended_at, created_at) VALUES ($1, $2, $3, $4, NULL, $5) \
                 ON CONFLICT (name) DO UPDATE SET config = excluded.config, source = excluded.source, ended_at = NULL",
            )
            .bind(id)
            .bind(name)
            .bind(json_text(config))
            .bind(source.as_str())
            .bind(ms(now))
            .execute(pool)
            .await?;
            let row = sqlx::query("SELECT id FROM maintenance_windows WHERE name = $1").bind(name).fetch_one(pool).await?;
            Ok(sqlx::Row::try_get::<Uuid, _>(&row, "id")?)
        })
    }

    pub async fn list_maintenance(&self) -> Result<Vec<MaintenanceRecord>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT id, name, config, source, ended_at, created_at FROM maintenance_windows ORDER BY name")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "maintenance_windows");
                    Ok(MaintenanceRecord {
                        id: r.uuid("id")?,
                        name: r.string("name")?,
                        config: parse_json(&r, "config")?,
                        source: source(&r)?,
                        ended_at: r.opt_timestamp("ended_at")?,
                        created_at: r.timestamp("created_at")?,
                    })
                })
                .collect()
        })
    }

    /// Ends a window early (it stays listed, inactive).
    pub async fn end_maintenance(&self, id: Uuid, now: Timestamp) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let r = sqlx::query("UPDATE maintenance_windows SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL")
                .bind(id)
                .bind(ms(now))
                .execute(pool)
                .await?;
            Ok(r.rows_affected() > 0)
        })
    }

    pub async fn delete_maintenance(&self, id: Uuid) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let r = sqlx::query("DELETE FROM maintenance_windows WHERE id = $1").bind(id).execute(pool).await?;
            Ok(r.rows_affected() > 0)
        })
    }

    // --- engine memory, incidents, outbox ------------------------------------

    /// The alerting engine's memory of every monitor.
    pub async fn alerting_states(&self) -> Result<Vec<(MonitorId, serde_json::Value)>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT monitor_id, state FROM monitor_alerting").fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "monitor_alerting");
                    Ok((MonitorId(r.uuid("monitor_id")?), parse_json(&r, "state")?))
                })
                .collect()
        })
    }

    /// Writes one engine step atomically. Notifications whose key exists are skipped;
    /// changes for monitors deleted meanwhile are skipped.
    pub async fn apply_alerting(
        &self,
        w: &AlertingWrite,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.apply_alerting_under(w, now, &Commit::unfenced()).await
    }

    /// [`Store::apply_alerting`] by the coordinator (see [`Commit`]): the transaction
    /// first locks the lease row (`FOR SHARE` on PostgreSQL, so a takeover waits for
    /// it) where it is still the fence's holder and term and has not run out on the
    /// database's clock, and deletes the ingest rows the step applies; it writes
    /// nothing ([`StoreError::Fenced`]) when either fails.
    pub async fn apply_alerting_under(
        &self,
        w: &AlertingWrite,
        now: Timestamp,
        commit: &Commit,
    ) -> Result<(), StoreError> {
        let postgres = self.is_postgres();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            crate::ingest::begin_commit!(tx, commit, postgres);
            for (id, state) in &w.states {
                sqlx::query(
                    "INSERT INTO monitor_alerting (monitor_id, state, updated_at) \
                     SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM monitors WHERE id = $1) \
                     ON CONFLICT (monitor_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                )
                .bind(id.as_uuid())
                .bind(json_text(state))
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            }
            // A step written twice must not write its timeline twice: events of an
            // incident whose opening was already there are skipped.
            let mut replayed: Vec<Uuid> = Vec::new();
            for change in &w.incidents {
                match change {
                    IncidentChange::Open(i) => {
                        let inserted = sqlx::query(
                            "INSERT INTO incidents (id, monitor_id, monitor_name, state, priority, cause, regions, parent_id, \
                             opened_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by) \
                             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, NULL, NULL \
                             WHERE EXISTS (SELECT 1 FROM monitors WHERE id = $2) ON CONFLICT (id) DO NOTHING",
                        )
                        .bind(i.id)
                        .bind(i.monitor_id.as_uuid())
                        .bind(&i.monitor_name)
                        .bind(&i.state)
                        .bind(&i.priority)
                        .bind(&i.cause)
                        .bind(json_text(&i.regions))
                        .bind(i.parent_id)
                        .bind(ms(i.opened_at))
                        .execute(&mut *tx)
                        .await?;
                        if inserted.rows_affected() == 0 {
                            replayed.push(i.id);
                        }
                    }
                    IncidentChange::Acknowledge { id, at, by } => {
                        sqlx::query(
                            "UPDATE incidents SET state = 'acknowledged', acknowledged_at = $2, acknowledged_by = $3 \
                             WHERE id = $1 AND state = 'open'",
                        )
                        .bind(id)
                        .bind(ms(*at))
                        .bind(by)
                        .execute(&mut *tx)
                        .await?;
                    }
                    IncidentChange::Resolve { id, at, by } => {
                        sqlx::query(
                            "UPDATE incidents SET state = 'resolved', resolved_at = $2, resolved_by = $3 \
                             WHERE id = $1 AND state <> 'resolved'",
                        )
                        .bind(id)
                        .bind(ms(*at))
                        .bind(by.as_deref())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
            for e in w.events.iter().filter(|e| !replayed.contains(&e.incident_id)) {
                sqlx::query(
                    "INSERT INTO incident_events (incident_id, at, kind, text, actor, channel) \
                     SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM incidents WHERE id = $1)",
                )
                .bind(e.incident_id)
                .bind(ms(e.at))
                .bind(&e.kind)
                .bind(&e.text)
                .bind(e.actor.as_deref())
                .bind(e.channel.as_deref())
                .execute(&mut *tx)
                .await?;
            }
            for n in &w.notifications {
                sqlx::query(
                    "INSERT INTO outbox (key, incident_id, monitor_id, channel, event, payload, status, attempts, \
                     next_attempt_at, claimed_until, last_error, created_at, delivered_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, NULL, NULL, $8, NULL) ON CONFLICT (key) DO NOTHING",
                )
                .bind(&n.key)
                .bind(n.incident_id)
                .bind(n.monitor_id.map(|m| m.as_uuid()))
                .bind(&n.channel)
                .bind(&n.event)
                .bind(json_text(&n.payload))
                .bind(ms(n.not_before))
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            }
            for (key, value) in &w.settings {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Incidents, newest first.
    pub async fn list_incidents(
        &self,
        f: &IncidentFilter,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let limit = i64::from(if f.limit == 0 { 100 } else { f.limit.min(1000) });
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR monitor_id = $2) \
             ORDER BY opened_at DESC LIMIT $3"
        );
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(f.state.as_deref())
                .bind(f.monitor_id.map(|m| m.as_uuid()))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(decode_incident).collect()
        })
    }

    pub async fn get_incident(&self, id: Uuid) -> Result<Option<IncidentRecord>, StoreError> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await?;
            row.as_ref().map(decode_incident).transpose()
        })
    }

    /// An incident's timeline, oldest first.
    pub async fn incident_events(&self, id: Uuid) -> Result<Vec<IncidentEvent>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, incident_id, at, kind, text, actor, channel FROM incident_events WHERE incident_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "incident_events");
                    Ok(IncidentEvent {
                        id: r.i64("id")?,
                        incident_id: r.uuid("incident_id")?,
                        at: r.timestamp("at")?,
                        kind: r.string("kind")?,
                        text: r.string("text")?,
                        actor: r.opt_string("actor")?,
                        channel: r.opt_string("channel")?,
                    })
                })
                .collect()
        })
    }

    /// Adds one timeline line (a note from a person, say).
    pub async fn add_incident_event(&self, e: &NewIncidentEvent) -> Result<(), StoreError> {
        self.apply_alerting(
            &AlertingWrite {
                events: vec![e.clone()],
                ..AlertingWrite::default()
            },
            e.at,
        )
        .await
    }

    /// Claims the oldest due pending notification for `lease` (so no other worker takes
    /// it meanwhile); `None` when nothing is due. An incident's notifications to one
    /// channel go in the order they were queued: one waits while an earlier one is
    /// still pending (retrying, or claimed by a worker that may have died), so a
    /// receiver never sees a recovery before its trigger.
    pub async fn claim_notification(
        &self,
        now: Timestamp,
        lease: std::time::Duration,
    ) -> Result<Option<OutboxRecord>, StoreError> {
        let until = ms(now) + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let sql = format!(
            "UPDATE outbox SET claimed_until = $2 WHERE id = (SELECT o.id FROM outbox o \
             WHERE o.status = 'pending' AND o.next_attempt_at <= $1 \
             AND (o.claimed_until IS NULL OR o.claimed_until <= $1) \
             AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.status = 'pending' \
               AND e.incident_id = o.incident_id AND e.channel = o.channel AND e.id < o.id) \
             ORDER BY o.next_attempt_at, o.id LIMIT 1) \
             AND (claimed_until IS NULL OR claimed_until <= $1) RETURNING {OUTBOX_COLUMNS}"
        );
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(ms(now))
                .bind(until)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(decode_outbox).transpose()
        })
    }

    /// Records an attempt's outcome, releases the claim, and adds a timeline line.
    pub async fn finish_delivery(
        &self,
        row: &OutboxRecord,
        outcome: &AttemptOutcome,
        at: Timestamp,
        duration_ms: u64,
    ) -> Result<(), StoreError> {
        let (status, next, error, label) = match outcome {
            AttemptOutcome::Delivered => ("delivered", None, None, "delivered"),
            AttemptOutcome::Retry { next, error } => {
                ("pending", Some(*next), Some(error.as_str()), "retry")
            }
            AttemptOutcome::Failed { error } => ("failed", None, Some(error.as_str()), "failed"),
        };
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE outbox SET status = $2, attempts = attempts + 1, next_attempt_at = COALESCE($3, next_attempt_at), \
                 claimed_until = NULL, last_error = $4, delivered_at = $5 WHERE id = $1",
            )
            .bind(row.id)
            .bind(status)
            .bind(opt_ms(next))
            .bind(error)
            .bind(opt_ms((status == "delivered").then_some(at)))
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO delivery_attempts (outbox_id, at, outcome, error, duration_ms) VALUES ($1, $2, $3, $4, $5)")
                .bind(row.id)
                .bind(ms(at))
                .bind(label)
                .bind(error)
                .bind(i64::try_from(duration_ms).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
            if let Some(incident) = row.incident_id {
                let text = match outcome {
                    AttemptOutcome::Delivered => format!("{} notification delivered to {}", row.event, row.channel),
                    AttemptOutcome::Retry { error, .. } => format!("{} notification to {} failed, will retry: {error}", row.event, row.channel),
                    AttemptOutcome::Failed { error } => format!("{} notification to {} failed for good: {error}", row.event, row.channel),
                };
                sqlx::query(
                    "INSERT INTO incident_events (incident_id, at, kind, text, actor, channel) \
                     SELECT $1, $2, $3, $4, NULL, $5 WHERE EXISTS (SELECT 1 FROM incidents WHERE id = $1)",
                )
                .bind(incident)
                .bind(ms(at))
                .bind(format!("delivery_{label}"))
                .bind(text)
                .bind(&row.channel)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Outbox rows, newest first (optionally only one channel's or one incident's).
    pub async fn list_outbox(
        &self,
        channel: Option<&str>,
        incident: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ($1 IS NULL OR channel = $1) AND ($2 IS NULL OR incident_id = $2) \
             ORDER BY id DESC LIMIT $3"
        );
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(channel)
                .bind(incident)
                .bind(i64::from(limit.clamp(1, 1000)))
                .fetch_all(pool)
                .await?;
            rows.iter().map(decode_outbox).collect()
        })
    }

    /// Attempts of one outbox row, oldest first.
    pub async fn delivery_attempts(
        &self,
        outbox_id: i64,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT outbox_id, at, outcome, error, duration_ms FROM delivery_attempts WHERE outbox_id = $1 ORDER BY id")
                .bind(outbox_id)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "delivery_attempts");
                    Ok(DeliveryAttempt {
                        outbox_id: r.i64("outbox_id")?,
                        at: r.timestamp("at")?,
                        outcome: r.string("outcome")?,
                        error: r.opt_string("error")?,
                        duration_ms: r.u64("duration_ms")?,
                    })
                })
                .collect()
        })
    }

    /// Pending notifications and the earliest due time among them.
    pub async fn outbox_depth(&self) -> Result<(u64, Option<Timestamp>), StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n, MIN(next_attempt_at) AS next FROM outbox WHERE status = 'pending'")
                .fetch_one(pool)
                .await?;
            let r = Reader::new(&row, "outbox");
            Ok((r.u64("n")?, r.opt_timestamp("next")?))
        })
    }
}
