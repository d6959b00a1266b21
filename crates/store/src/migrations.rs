//! The versioned schema migrations, embedded in the binary.
//!
//! Each backend has its own directory (`migrations/sqlite`, `migrations/postgres`) with
//! one file per schema change; a change gets the same version number on both backends.
//! To add a change, write `NNNN_what.sql` for both backends and append an entry to
//! [`SQLITE`] and [`POSTGRES`]. Never edit a migration that has shipped: sqlx records a
//! checksum of each applied migration and refuses to start when one changed.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// One migration: version, description and SQL.
type Entry = (i64, &'static str, &'static str);

/// SQLite migrations, in version order.
const SQLITE: &[Entry] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "heartbeats",
        include_str!("../migrations/sqlite/0002_heartbeats.sql"),
    ),
    (
        3,
        "alerting",
        include_str!("../migrations/sqlite/0003_alerting.sql"),
    ),
    (
        4,
        "sessions",
        include_str!("../migrations/sqlite/0004_sessions.sql"),
    ),
    (
        5,
        "status_pages",
        include_str!("../migrations/sqlite/0005_status_pages.sql"),
    ),
    (
        6,
        "agents",
        include_str!("../migrations/sqlite/0006_agents.sql"),
    ),
    (
        7,
        "dashboard",
        include_str!("../migrations/sqlite/0007_dashboard.sql"),
    ),
    (
        8,
        "setup_owner",
        include_str!("../migrations/sqlite/0008_setup_owner.sql"),
    ),
    (
        9,
        "token_owners",
        include_str!("../migrations/sqlite/0009_token_owners.sql"),
    ),
    (
        10,
        "cluster",
        include_str!("../migrations/sqlite/0010_cluster.sql"),
    ),
    (
        11,
        "ingest",
        include_str!("../migrations/sqlite/0011_ingest.sql"),
    ),
    (
        12,
        "agent_presence",
        include_str!("../migrations/sqlite/0012_agent_presence.sql"),
    ),
    (
        13,
        "outbox_order",
        include_str!("../migrations/sqlite/0013_outbox_order.sql"),
    ),
    (
        14,
        "result_partitions",
        include_str!("../migrations/sqlite/0014_result_partitions.sql"),
    ),
    (
        15,
        "state_changes",
        include_str!("../migrations/sqlite/0015_state_changes.sql"),
    ),
    (
        16,
        "region_certificates",
        include_str!("../migrations/sqlite/0016_region_certificates.sql"),
    ),
    (
        17,
        "monitor_index",
        include_str!("../migrations/sqlite/0017_monitor_index.sql"),
    ),
    (
        18,
        "compact_results",
        include_str!("../migrations/sqlite/0018_compact_results.sql"),
    ),
];

/// PostgreSQL migrations, in version order (same versions as [`SQLITE`]).
const POSTGRES: &[Entry] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "heartbeats",
        include_str!("../migrations/postgres/0002_heartbeats.sql"),
    ),
    (
        3,
        "alerting",
        include_str!("../migrations/postgres/0003_alerting.sql"),
    ),
    (
        4,
        "sessions",
        include_str!("../migrations/postgres/0004_sessions.sql"),
    ),
    (
        5,
        "status_pages",
        include_str!("../migrations/postgres/0005_status_pages.sql"),
    ),
    (
        6,
        "agents",
        include_str!("../migrations/postgres/0006_agents.sql"),
    ),
    (
        7,
        "dashboard",
        include_str!("../migrations/postgres/0007_dashboard.sql"),
    ),
    (
        8,
        "setup_owner",
        include_str!("../migrations/postgres/0008_setup_owner.sql"),
    ),
    (
        9,
        "token_owners",
        include_str!("../migrations/postgres/0009_token_owners.sql"),
    ),
    (
        10,
        "cluster",
        include_str!("../migrations/postgres/0010_cluster.sql"),
    ),
    (
        11,
        "ingest",
        include_str!("../migrations/postgres/0011_ingest.sql"),
    ),
    (
        12,
        "agent_presence",
        include_str!("../migrations/postgres/0012_agent_presence.sql"),
    ),
    (
        13,
        "outbox_order",
        include_str!("../migrations/postgres/0013_outbox_order.sql"),
    ),
    (
        14,
        "result_partitions",
        include_str!("../migrations/postgres/0014_result_partitions.sql"),
    ),
    (
        15,
        "state_changes",
        include_str!("../migrations/postgres/0015_state_changes.sql"),
    ),
    (
        16,
        "region_certificates",
        include_str!("../migrations/postgres/0016_region_certificates.sql"),
    ),
    (
        17,
        "monitor_index",
        include_str!("../migrations/postgres/0017_monitor_index.sql"),
    ),
    (
        18,
        "compact_results",
        include_str!("../migrations/postgres/0018_compact_results.sql"),
    ),
];

fn migrator(entries: &[Entry]) -> Migrator {
    Migrator::with_migrations(
        entries
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Why migrating failed, in the store's terms: a migration the database has but this
/// binary does not know means the database is newer than the binary.
pub(crate) fn error(e: sqlx::migrate::MigrateError, backend_sqlite: bool) -> crate::StoreError {
    let entries = if backend_sqlite { SQLITE } else { POSTGRES };
    match e {
        sqlx::migrate::MigrateError::VersionMissing(v) => crate::StoreError::SchemaTooNew {
            database: v,
            binary: entries.last().map_or(0, |m| m.0),
            version: env!("CARGO_PKG_VERSION"),
        },
        e => e.into(),
    }
}

/// The migrator for SQLite databases.
pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

/// The migrator for PostgreSQL databases.
pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_have_the_same_versions() {
        let versions = |e: &[Entry]| e.iter().map(|m| m.0).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
        let v = versions(SQLITE);
        assert!(v.windows(2).all(|w| w[0] < w[1]), "versions must increase");
    }
}
