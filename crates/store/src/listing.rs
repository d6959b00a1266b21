//! Lists of monitors answered by the database, for the dashboard at any size: counts by
//! state and by group, one page of ids in the dashboard's order for a search, a state,
//! a tag or a group, and the heartbeat rows of only those ids (their monitors, regions
//! and figures come from `results` and `overview`).
//!
//! The search text, the sort key and the tags (`monitors.search`, `monitors.sort_key`,
//! `monitor_tags`, migration 17) are written with the monitor in the same transaction;
//! [`Store::fill_monitor_index`] fills rows written before they existed. A monitor's
//! group is its first tag. A state filter sees the state the UI shows: a monitor that is
//! not paused and is covered by an active maintenance window (by name or tag, given in
//! [`MonitorFilter::maintenance`]) is `maintenance`.

use vigilmon_core::{MonitorConfig, MonitorId, MonitorState};

use crate::codec::{Reader, bind_ids, placeholders};
use crate::heartbeats::decode_heartbeat;
use crate::monitors::write_tags;
use crate::{HeartbeatRow, Store, StoreError};

/// Which monitors a list holds. Every field narrows it; the default holds them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorFilter {
    /// Text the monitor's search text contains (compared in lower case).
    pub text: Option<String>,
    /// The monitor's shown state is one of these (any when empty).
    pub states: Vec<MonitorState>,
    /// The monitor carries this tag.
    pub tag: Option<String>,
    /// The monitor's first tag is this one; `Some(None)`: it has no tag.
    pub group: Option<Option<String>>,
    /// What the active maintenance windows cover.
    pub maintenance: Covered,
}

/// The monitors active maintenance windows cover: by exact name, or by a tag they carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Covered {
    pub names: Vec<String>,
    pub tags: Vec<String>,
}

/// The order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    /// By group (untagged last), then worst state first, then name: the dashboard's
    /// grouped table.
    Grouped,
    /// Worst state first, then group, then name: one list across groups.
    WorstFirst,
}

/// How many monitors of a group are in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCount {
    /// The group (first tag); `None` for monitors without a tag.
    pub group: Option<String>,
    pub state: MonitorState,
    pub n: u64,
}

/// A page of a list: the ids in order and how many the whole list holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorPage {
    pub ids: Vec<MonitorId>,
    pub total: u64,
}

/// SQL text and the text values bound to its `$n` placeholders, in order.
#[derive(Default)]
struct Sql {
    text: String,
    binds: Vec<String>,
}

impl Sql {
    /// Binds `value` and returns its placeholder.
    fn bind(&mut self, value: impl Into<String>) -> String {
        self.binds.push(value.into());
        format!("${}", self.binds.len())
    }

    fn binds_list(&mut self, values: &[String]) -> String {
        values
            .iter()
            .map(|v| self.bind(v.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `%`, `_` and `\` taken literally in a `LIKE … ESCAPE '\'` pattern.
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The shown state of monitor `m` as an SQL expression: `maintenance` when a window
/// covers it and it is not paused.
fn shown_state(sql: &mut Sql, covered: &Covered) -> String {
    let mut cases = Vec::new();
    if !covered.names.is_empty() {
        cases.push(format!("m.name IN ({})", sql.binds_list(&covered.names)));
    }
    if !covered.tags.is_empty() {
        cases.push(format!(
            "EXISTS (SELECT 1 FROM monitor_tags mt WHERE mt.monitor_id = m.id AND mt.tag IN ({}))",
            sql.binds_list(&covered.tags)
        ));
    }
    if cases.is_empty() {
        return "m.state".into();
    }
    format!(
        "(CASE WHEN m.state <> 'paused' AND ({}) THEN 'maintenance' ELSE m.state END)",
        cases.join(" OR ")
    )
}

/// Worst first, as the dashboard orders states.
fn severity(state: &str) -> String {
    format!(
        "(CASE {state} WHEN 'down' THEN 0 WHEN 'degraded' THEN 1 WHEN 'pending' THEN 2 \
         WHEN 'maintenance' THEN 3 WHEN 'up' THEN 4 ELSE 5 END)"
    )
}

/// `FROM … WHERE …` of a filtered list, and the shown state's expression when the
/// caller asks for it (`with_state`) or the filter needs it: its values are bound only
/// then, so that every bound value is used. The first tag joins as `g`.
fn from_where(f: &MonitorFilter, with_state: bool) -> (Sql, String) {
    let mut sql = Sql::default();
    let state = if with_state || !f.states.is_empty() {
        shown_state(&mut sql, &f.maintenance)
    } else {
        String::new()
    };
    let mut conds = vec!["1 = 1".to_owned()];
    if let Some(text) = f.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let p = sql.bind(format!("%{}%", like_literal(&text.to_lowercase())));
        conds.push(format!("m.search LIKE {p} ESCAPE '\\'"));
    }
    if !f.states.is_empty() {
        let states: Vec<String> = f.states.iter().map(|s| s.as_str().to_owned()).collect();
        conds.push(format!("{state} IN ({})", sql.binds_list(&states)));
    }
    if let Some(tag) = &f.tag {
        let p = sql.bind(tag.trim());
        conds.push(format!(
            "EXISTS (SELECT 1 FROM monitor_tags ft WHERE ft.monitor_id = m.id AND ft.tag = {p})"
        ));
    }
    match &f.group {
        None => {}
        Some(None) => conds.push("g.tag IS NULL".into()),
        Some(Some(group)) => {
            let p = sql.bind(group.trim());
            conds.push(format!("g.tag = {p}"));
        }
    }
    sql.text = format!(
        " FROM monitors m LEFT JOIN monitor_tags g ON g.monitor_id = m.id AND g.position = 0 \
         WHERE {}",
        conds.join(" AND ")
    );
    (sql, state)
}

/// Runs `$sql` (an [`Sql`]) with its binds on `$pool`, fetching all rows.
macro_rules! fetch_sql {
    ($pool:expr, $sql:expr) => {{
        let mut q = sqlx::query(sqlx::AssertSqlSafe($sql.text.clone()));
        for b in &$sql.binds {
            q = q.bind(b.as_str());
        }
        q.fetch_all($pool).await?
    }};
}

impl Store {
    /// Fills the search text, sort key and tags of monitors stored before they were
    /// kept (schema version 17). Returns how many it filled; run when the store opens.
    pub(crate) async fn fill_monitor_index(&self) -> Result<u64, StoreError> {
        let mut filled = 0;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let rows = sqlx::query("SELECT id, config FROM monitors WHERE search IS NULL")
                .fetch_all(&mut *tx)
                .await?;
            for row in &rows {
                let r = Reader::new(row, "monitors");
                let id = MonitorId(r.uuid("id")?);
                // A config this build cannot read is listed by its name only.
                let config: MonitorConfig = match r.config("config") {
                    Ok(c) => c,
                    Err(_) => continue,
                };
                sqlx::query("UPDATE monitors SET search = $2, sort_key = $3 WHERE id = $1")
                    .bind(id.0)
                    .bind(config.search_text())
                    .bind(config.sort_key())
                    .execute(&mut *tx)
                    .await?;
                write_tags!(tx, id, config);
                filled += 1;
            }
            tx.commit().await?;
        });
        if filled > 0 {
            tracing::info!(monitors = filled, "indexed monitors for search and tags");
        }
        Ok(filled)
    }

    /// How many monitors are in each shown state (states without one left out).
    pub async fn monitor_state_counts(
        &self,
        covered: &Covered,
    ) -> Result<Vec<(MonitorState, u64)>, StoreError> {
        let mut sql = Sql::default();
        let state = shown_state(&mut sql, covered);
        sql.text = format!(
            "SELECT {state} AS shown, CAST(COUNT(*) AS BIGINT) AS n FROM monitors m GROUP BY {state}"
        );
        let mut out = with_pool!(self, pool => {
            let rows = fetch_sql!(pool, sql);
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "monitors");
                    let shown = r.string("shown")?;
                    Ok((
                        MonitorState::parse(&shown)
                            .ok_or_else(|| r.corrupt("state", format!("unknown state {shown:?}")))?,
                        r.u64("n")?,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?
        });
        out.sort_by_key(|(s, _)| s.as_str());
        Ok(out)
    }

    /// Every tag any monitor carries, once each, sorted.
    pub async fn monitor_tag_names(&self) -> Result<Vec<String>, StoreError> {
        let mut tags = with_pool!(self, pool => {
            let rows = sqlx::query("SELECT DISTINCT tag FROM monitor_tags")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| Reader::new(row, "monitor_tags").string("tag"))
                .collect::<Result<Vec<_>, _>>()?
        });
        tags.sort();
        Ok(tags)
    }

    /// How many monitors the filter holds, per group and shown state; groups sorted by
    /// name, untagged last.
    pub async fn group_counts(&self, f: &MonitorFilter) -> Result<Vec<GroupCount>, StoreError> {
        let (mut sql, state) = from_where(f, true);
        sql.text = format!(
            "SELECT g.tag AS grp, {state} AS shown, CAST(COUNT(*) AS BIGINT) AS n{} \
             GROUP BY g.tag, {state}",
            sql.text
        );
        let mut out = with_pool!(self, pool => {
            let rows = fetch_sql!(pool, sql);
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "monitors");
                    let shown = r.string("shown")?;
                    Ok(GroupCount {
                        group: r.opt_string("grp")?,
                        state: MonitorState::parse(&shown)
                            .ok_or_else(|| r.corrupt("state", format!("unknown state {shown:?}")))?,
                        n: r.u64("n")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?
        });
        out.sort_by(|a, b| {
            (a.group.is_none(), &a.group, a.state.as_str()).cmp(&(
                b.group.is_none(),
                &b.group,
                b.state.as_str(),
            ))
        });
        Ok(out)
    }

    /// Up to `limit` ids of the filtered list from `offset`, in `order` (names compared
    /// by code point on both backends), and how many the list holds.
    pub async fn monitor_page(
        &self,
        f: &MonitorFilter,
        order: ListOrder,
        limit: u32,
        offset: u64,
    ) -> Result<MonitorPage, StoreError> {
        let (mut sql, state) = from_where(f, true);
        let (count, _) = from_where(f, false);
        let collate = if self.is_postgres() {
            " COLLATE \"C\""
        } else {
            ""
        };
        let sev = severity(&state);
        let group = format!("(g.tag IS NULL), g.tag{collate}");
        let order_by = match order {
            ListOrder::Grouped => format!("{group}, {sev}, m.sort_key{collate}, m.id"),
            ListOrder::WorstFirst => format!("{sev}, {group}, m.sort_key{collate}, m.id"),
        };
        let count_sql = Sql {
            text: format!("SELECT CAST(COUNT(*) AS BIGINT) AS n{}", count.text),
            binds: count.binds,
        };
        sql.text = format!(
            "SELECT m.id AS id{} ORDER BY {order_by} LIMIT {limit} OFFSET {offset}",
            sql.text
        );
        with_pool!(self, pool => {
            let rows = fetch_sql!(pool, sql);
            let ids = rows
                .iter()
                .map(|row| Ok(MonitorId(Reader::new(row, "monitors").uuid("id")?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let counted = fetch_sql!(pool, count_sql);
            let total = match counted.first() {
                Some(row) => Reader::new(row, "monitors").u64("n")?,
                None => 0,
            };
            Ok(MonitorPage { ids, total })
        })
    }

    /// The heartbeat rows of the monitors `ids` (those that are heartbeat monitors).
    pub async fn heartbeats_of(&self, ids: &[MonitorId]) -> Result<Vec<HeartbeatRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT monitor_id, token, state, pings_total FROM heartbeats WHERE monitor_id IN ({})",
            placeholders(1, ids.len())
        );
        with_pool!(self, pool => {
            let rows = bind_ids!(sqlx::query(sqlx::AssertSqlSafe(sql.clone())), ids)
                .fetch_all(pool)
                .await?;
            rows.iter().map(decode_heartbeat).collect()
        })
    }
}
