//! The store's error type, and the mapping of constraint violations to conflicts.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The row to update does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken: `field` names the offending input field.
    #[error("{message}")]
    Conflict {
        /// The input field that must be unique: `name`, `email` or `token_hash`.
        field: &'static str,
        /// What is taken, in words (`a monitor named "x" already exists`).
        message: String,
    },
    /// A stored row could not be decoded; the message names the table and column.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed (connection, query, constraint other than a conflict).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A coordinator's write was refused: this node no longer holds the coordinator
    /// lease under that term (another node took it, or it ran out).
    #[error(
        "this node no longer coordinates (its lease term {term} has ended); nothing was written"
    )]
    Fenced { term: i64 },
    /// The database's schema is newer than this binary: a newer Vigilmon (another
    /// node) has upgraded it.
    #[error(
        "the database's schema is at version {database}, newer than this Vigilmon \
         ({version}) knows (up to {binary}): a newer release has upgraded it. Run that \
         release on this node too; an older one would misread the data"
    )]
    SchemaTooNew {
        database: i64,
        binary: i64,
        version: &'static str,
    },
    /// The SQLite data directory could not be created.
    #[error("cannot create data directory {}: {source}", path.display())]
    DataDir {
        /// The directory that could not be created.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Maps a unique violation on the constraint for `column` to
/// [`StoreError::Conflict`] with `field` and the message `message()`; any other error
/// becomes [`StoreError::Database`].
///
/// The constraint is recognised by name: PostgreSQL reports the constraint
/// (`monitors_name_key`), SQLite only a message (`UNIQUE constraint failed:
/// monitors.name`). Both contain the column name, and the primary-key constraints
/// (`monitors_pkey`, `monitors.id`) do not.
pub(crate) fn unique_conflict(
    err: sqlx::Error,
    column: &str,
    field: &'static str,
    message: impl FnOnce() -> String,
) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        let what = db.constraint().unwrap_or_else(|| db.message());
        if db.is_unique_violation() && what.contains(column) {
            return StoreError::Conflict {
                field,
                message: message(),
            };
        }
    }
    StoreError::Database(err)
}
