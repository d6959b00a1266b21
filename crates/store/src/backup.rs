//! Backup and restore of the embedded SQLite database (`vigilmon backup` and
//! `vigilmon restore`).
//!
//! A backup is SQLite's `VACUUM INTO`: one read transaction on the live database, so
//! the copy is a consistent snapshot of everything committed when it began, taken
//! while `serve` keeps writing (WAL mode lets the writer go on beside the reader). The
//! copy is written to a temporary file beside the destination, checked, flushed to
//! disk and only then renamed into place, so a half-written backup never carries the
//! destination's name.
//!
//! A restore checks the file first — a SQLite database that passes `PRAGMA
//! integrity_check`, whose `_sqlx_migrations` table holds only this binary's
//! migrations, every one applied — then copies it (again with `VACUUM INTO`, so a
//! source still in WAL mode is read whole) into the data directory, checks the copy,
//! moves the current database aside with its `-wal` and `-shm` files
//! (`vigilmon.db.before-restore-<UTC time>`, openable as it was) and renames the
//! copy into place. Nothing is replaced before the checks pass.
//!
//! Only the file work is here; the binary decides that the store is SQLite, and keeps
//! a server off the data directory while it restores.

use std::io;
use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};

use crate::SQLITE_FILE_NAME;

/// What a backup or a restore wrote, or what a check found in a file.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The database file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The newest schema migration applied in it.
    pub schema_version: i64,
}

/// The outcome of a restore.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The restored database, now in the data directory.
    pub snapshot: Snapshot,
    /// Where the database it replaced was moved (none when the directory had none).
    pub previous: Option<PathBuf>,
}

/// Why a backup or a restore did nothing (each names the file and the reason).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// There is no database to back up.
    #[error("no Vigilmon database at {}: is this the data directory `serve` uses?", path.display())]
    NoDatabase { path: PathBuf },
    /// The destination exists and overwriting was not asked for.
    #[error("{} already exists; choose another file, or pass --force to replace it", path.display())]
    Exists { path: PathBuf },
    /// The destination is the live database, or one of its `-wal`, `-shm` or
    /// `-journal` files.
    #[error("{} is the live database (or one of its files); write the backup elsewhere", path.display())]
    LiveDatabase { path: PathBuf },
    /// The destination is a directory.
    #[error("{} is a directory; name the backup file", path.display())]
    IsDirectory { path: PathBuf },
    /// SQLite takes file names as UTF-8.
    #[error("{}: the path is not valid UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    /// The file is not a database, or SQLite failed on it.
    #[error("{}: {what} ({detail})", path.display())]
    Sqlite {
        path: PathBuf,
        what: &'static str,
        /// SQLite's own words.
        detail: String,
    },
    /// The file is a SQLite database, but not a sound Vigilmon one.
    #[error("{} is not a usable Vigilmon database: {reason}", path.display())]
    NotVigilmon { path: PathBuf, reason: String },
    /// The file's schema is newer than this binary.
    #[error(
        "{} has schema version {database}, newer than this Vigilmon ({version}) knows (up to \
         {binary}): restore it with the release that wrote it",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        database: i64,
        binary: i64,
        version: &'static str,
    },
    /// A file operation failed (the cause follows in the error's source).
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackupError + use<> {
    let path = path.to_owned();
    move |source| BackupError::Io { what, path, source }
}

/// Copies the SQLite database of `data_dir` to `to`, consistently, while a server may
/// be writing to it. Refuses to replace an existing `to` unless `overwrite`.
pub async fn backup_sqlite(
    data_dir: &Path,
    to: &Path,
    overwrite: bool,
) -> Result<Snapshot, BackupError> {
    let source = data_dir.join(SQLITE_FILE_NAME);
    if !source.is_file() {
        return Err(BackupError::NoDatabase { path: source });
    }
    check_destination(to, overwrite)?;
    refuse_live_files(&source, to)?;
    // What is backed up must be a database this binary can restore.
    verify_schema(
        &source,
        &mut open(&source, "cannot open the database").await?,
    )
    .await?;
    let temp = temp_beside(to)?;
    let result = async {
        vacuum_into(&source, &temp).await?;
        let snapshot = verify(&temp).await?;
        sync_file(&temp)?;
        place(&temp, to, overwrite)?;
        sync_parent(to)?;
        Ok(Snapshot {
            path: to.to_owned(),
            ..snapshot
        })
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Replaces the SQLite database of `data_dir` with the one in `from`, after checking
/// it; the current database is moved aside, named after `now`. The caller makes sure
/// no server uses the directory meanwhile.
pub async fn restore_sqlite(
    data_dir: &Path,
    from: &Path,
    now: jiff::Timestamp,
) -> Result<Restored, BackupError> {
    if !from.is_file() {
        return Err(BackupError::Io {
            what: "cannot read",
            path: from.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "no such file"),
        });
    }
    verify(from).await?;
    std::fs::create_dir_all(data_dir).map_err(io_error("cannot create", data_dir))?;
    let target = data_dir.join(SQLITE_FILE_NAME);
    let temp = temp_beside(&target)?;
    let copied = async {
        vacuum_into(from, &temp).await?;
        let snapshot = verify(&temp).await?;
        sync_file(&temp)?;
        Ok(snapshot)
    }
    .await;
    let snapshot = match copied {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
    };
    let previous = match move_aside(&target, now) {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
    };
    std::fs::rename(&temp, &target)
        .map_err(io_error("cannot move the restored copy to", &target))?;
    sync_parent(&target)?;
    Ok(Restored {
        snapshot: Snapshot {
            path: target,
            ..snapshot
        },
        previous,
    })
}

/// Checks that `path` is a sound Vigilmon SQLite database this binary can open:
/// `PRAGMA integrity_check` answers `ok`, and its migrations table holds this binary's
/// migrations (same versions, same checksums), each applied.
pub async fn verify(path: &Path) -> Result<Snapshot, BackupError> {
    let mut conn = open(path, "cannot open it as a SQLite database").await?;
    let outcome = async {
        let problems: Vec<String> = sqlx::query("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .map_err(sqlite_error(path, "not a readable SQLite database"))?
            .iter()
            .map(|row| row.try_get::<String, _>(0).unwrap_or_default())
            .collect();
        if problems.len() != 1 || problems[0] != "ok" {
            let mut shown: Vec<&str> = problems.iter().take(3).map(String::as_str).collect();
            if problems.len() > 3 {
                shown.push("…");
            }
            return Err(BackupError::NotVigilmon {
                path: path.to_owned(),
                reason: format!("the integrity check failed: {}", shown.join("; ")),
            });
        }
        verify_schema(path, &mut conn).await
    }
    .await;
    let _ = conn.close().await;
    let schema_version = outcome?;
    let bytes = std::fs::metadata(path)
        .map_err(io_error("cannot read", path))?
        .len();
    Ok(Snapshot {
        path: path.to_owned(),
        bytes,
        schema_version,
    })
}

/// The schema check of [`verify`]; returns the newest applied version.
async fn verify_schema(path: &Path, conn: &mut SqliteConnection) -> Result<i64, BackupError> {
    let not_vigilmon = |reason: String| BackupError::NotVigilmon {
        path: path.to_owned(),
        reason,
    };
    let has_table: i64 = sqlx::query(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await
    .and_then(|row| row.try_get(0))
    .map_err(sqlite_error(path, "not a readable SQLite database"))?;
    if has_table == 0 {
        return Err(not_vigilmon(
            "it has no migrations table (_sqlx_migrations)".into(),
        ));
    }
    let rows =
        sqlx::query("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(sqlite_error(path, "cannot read its migrations table"))?;
    let migrator = crate::migrations::sqlite();
    let binary = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    let mut newest = 0;
    for row in &rows {
        let decoded = (|| -> Result<(i64, bool, Vec<u8>), sqlx::Error> {
            Ok((
                row.try_get("version")?,
                row.try_get("success")?,
                row.try_get("checksum")?,
            ))
        })();
        let (version, success, checksum) = decoded
            .map_err(|e| not_vigilmon(format!("its migrations table cannot be read ({e})")))?;
        let Some(known) = migrator.iter().find(|m| m.version == version) else {
            if version > binary {
                return Err(BackupError::SchemaTooNew {
                    path: path.to_owned(),
                    database: version,
                    binary,
                    version: env!("CARGO_PKG_VERSION"),
                });
            }
            return Err(not_vigilmon(format!(
                "it has a migration {version} that Vigilmon does not know"
            )));
        };
        if *known.checksum != *checksum {
            return Err(not_vigilmon(format!(
                "its migration {version} ({}) differs from Vigilmon's",
                known.description
            )));
        }
        if !success {
            return Err(not_vigilmon(format!(
                "its migration {version} ({}) did not complete",
                known.description
            )));
        }
        newest = newest.max(version);
    }
    if rows.is_empty() {
        return Err(not_vigilmon("no migration was ever applied to it".into()));
    }
    Ok(newest)
}

/// A single connection to an existing database file, never creating one. Read-only:
/// neither a backup nor the checks write to the file they read.
async fn open(path: &Path, what: &'static str) -> Result<SqliteConnection, BackupError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(true)
        .busy_timeout(crate::SQLITE_BUSY_TIMEOUT);
    SqliteConnection::connect_with(&options)
        .await
        .map_err(sqlite_error(path, what))
}

fn sqlite_error(
    path: &Path,
    what: &'static str,
) -> impl FnOnce(sqlx::Error) -> BackupError + use<> {
    let path = path.to_owned();
    move |e| BackupError::Sqlite {
        path,
        what,
        detail: match &e {
            sqlx::Error::Database(db) => db.message().to_owned(),
            other => other.to_string(),
        },
    }
}

/// `VACUUM INTO`: a consistent, compacted copy of `source` in the new file `into`.
async fn vacuum_into(source: &Path, into: &Path) -> Result<(), BackupError> {
    let target = into.to_str().ok_or_else(|| BackupError::NotUtf8 {
        path: into.to_owned(),
    })?;
    let mut conn = open(source, "cannot open the database").await?;
    let outcome = sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(sqlite_error(source, "cannot copy the database"));
    let _ = conn.close().await;
    outcome
}

/// Refuses a destination that is a directory, or that exists without `overwrite`.
fn check_destination(to: &Path, overwrite: bool) -> Result<(), BackupError> {
    match std::fs::symlink_metadata(to) {
        Ok(meta) if meta.is_dir() => Err(BackupError::IsDirectory {
            path: to.to_owned(),
        }),
        Ok(_) if !overwrite => Err(BackupError::Exists {
            path: to.to_owned(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BackupError::Io {
            what: "cannot inspect",
            path: to.to_owned(),
            source: e,
        }),
    }
}

/// Refuses a destination that is the live database or one of its companion files:
/// replacing one of those under a running server would lose its data.
fn refuse_live_files(database: &Path, to: &Path) -> Result<(), BackupError> {
    let resolved = |p: &Path| -> Option<PathBuf> {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(std::fs::canonicalize(dir).ok()?.join(p.file_name()?))
    };
    let (Some(db), Some(dest)) = (resolved(database), resolved(to)) else {
        return Ok(());
    };
    let live = ["", "-wal", "-shm", "-journal"]
        .iter()
        .any(|suffix| with_suffix(&db, suffix) == dest);
    if live {
        return Err(BackupError::LiveDatabase {
            path: to.to_owned(),
        });
    }
    Ok(())
}

/// A name for a temporary file in the directory of `path` (same file system, so the
/// final rename is atomic), that does not exist yet.
fn temp_beside(path: &Path) -> Result<PathBuf, BackupError> {
    let name = path
        .file_name()
        .ok_or_else(|| BackupError::IsDirectory {
            path: path.to_owned(),
        })?
        .to_string_lossy()
        .into_owned();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(BackupError::Io {
            what: "cannot write into",
            path: dir,
            source: io::Error::new(io::ErrorKind::NotFound, "no such directory"),
        });
    }
    let temp = dir.join(format!(".{name}.partial-{}", std::process::id()));
    // A leftover of an earlier run with the same process id.
    let _ = std::fs::remove_file(&temp);
    Ok(temp)
}

/// Renames `temp` to `to`; without `overwrite`, never replaces a file that appeared
/// meanwhile (a hard link fails when its name exists).
fn place(temp: &Path, to: &Path, overwrite: bool) -> Result<(), BackupError> {
    if overwrite {
        return std::fs::rename(temp, to).map_err(io_error("cannot write", to));
    }
    match std::fs::hard_link(temp, to) {
        Ok(()) => {
            let _ = std::fs::remove_file(temp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(BackupError::Exists {
            path: to.to_owned(),
        }),
        // File systems without hard links: check, then rename.
        Err(_) => {
            check_destination(to, false)?;
            std::fs::rename(temp, to).map_err(io_error("cannot write", to))
        }
    }
}

/// Moves `vigilmon.db` and its `-wal` and `-shm` files aside under one new name, so
/// the moved database opens as it was. `None` when there was no database.
fn move_aside(db: &Path, now: jiff::Timestamp) -> Result<Option<PathBuf>, BackupError> {
    if !db.exists() {
        return Ok(None);
    }
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let base = db.with_file_name(format!("{SQLITE_FILE_NAME}.before-restore-{stamp}"));
    let mut aside = base.clone();
    let mut n = 1;
    while aside.exists() {
        n += 1;
        aside = with_suffix(&base, &format!("-{n}"));
    }
    // The write-ahead log first: a `-wal` left behind would be read into the restored
    // database.
    for suffix in ["-wal", "-shm"] {
        let from = with_suffix(db, suffix);
        if from.exists() {
            let to = with_suffix(&aside, suffix);
            std::fs::rename(&from, &to).map_err(io_error("cannot move aside", &from))?;
        }
    }
    std::fs::rename(db, &aside).map_err(io_error("cannot move aside", db))?;
    Ok(Some(aside))
}

/// `path` with `suffix` appended to its last component (`vigilmon.db` → `vigilmon.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_error("cannot flush to disk", path))
}

/// Flushes a directory entry (a rename) to disk.
fn sync_parent(path: &Path) -> Result<(), BackupError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_error("cannot flush to disk", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backup_then_restore_round_trips_and_keeps_the_previous_database() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = crate::Store::open_sqlite(&data).await.unwrap();
        store.ping().await.unwrap();
        let backup = dir.path().join("backup.db");

        let snap = backup_sqlite(&data, &backup, false).await.unwrap();
        assert!(snap.bytes > 0);
        assert!(snap.schema_version >= 17, "{snap:?}");
        // Never over an existing file without being asked.
        let again = backup_sqlite(&data, &backup, false).await.unwrap_err();
        assert!(matches!(again, BackupError::Exists { .. }), "{again}");
        assert!(again.to_string().contains("--force"), "{again}");
        // Never over the live database or its log, even when asked.
        for live in ["vigilmon.db", "vigilmon.db-wal"] {
            let e = backup_sqlite(&data, &data.join(live), true)
                .await
                .unwrap_err();
            assert!(matches!(e, BackupError::LiveDatabase { .. }), "{e}");
        }
        store.ping().await.unwrap();
        backup_sqlite(&data, &backup, true).await.unwrap();
        store.close().await;
        // With no server running (the write-ahead log checkpointed and gone) too.
        backup_sqlite(&data, &backup, true).await.unwrap();

        let other = dir.path().join("other");
        let restored = restore_sqlite(&other, &backup, jiff::Timestamp::now())
            .await
            .unwrap();
        assert!(restored.previous.is_none());
        let again = restore_sqlite(&other, &backup, jiff::Timestamp::UNIX_EPOCH)
            .await
            .unwrap();
        let previous = again.previous.unwrap();
        assert!(
            previous
                .to_string_lossy()
                .ends_with("vigilmon.db.before-restore-19700101T000000Z"),
            "{}",
            previous.display()
        );
        verify(&previous).await.unwrap();
        let reopened = crate::Store::open_sqlite(&other).await.unwrap();
        reopened.ping().await.unwrap();
        reopened.close().await;
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(&other)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains("partial")), "{names:?}");
    }

    #[tokio::test]
    async fn restore_refuses_what_is_not_a_vigilmon_database() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello, this is not a database at all\n".repeat(200)).unwrap();
        let e = restore_sqlite(&data, &text, jiff::Timestamp::now())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("notes.txt"), "{e}");

        // A SQLite database of something else.
        let foreign = dir.path().join("foreign.db");
        let options = SqliteConnectOptions::new()
            .filename(&foreign)
            .create_if_missing(true);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let e = restore_sqlite(&data, &foreign, jiff::Timestamp::now())
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("no migrations table (_sqlx_migrations)"),
            "{e}"
        );
        // Nothing was put in the data directory.
        assert!(!data.join(SQLITE_FILE_NAME).exists());

        // A database newer than this binary.
        let data2 = dir.path().join("newer");
        let store = crate::Store::open_sqlite(&data2).await.unwrap();
        store.close().await;
        let db = data2.join(SQLITE_FILE_NAME);
        let options = SqliteConnectOptions::new().filename(&db);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'future', 1, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        let e = restore_sqlite(&data, &db, jiff::Timestamp::now())
            .await
            .unwrap_err();
        assert!(
            matches!(e, BackupError::SchemaTooNew { database: 9999, .. }),
            "{e}"
        );
    }

    #[tokio::test]
    async fn backup_of_a_directory_without_a_database_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let e = backup_sqlite(dir.path(), &dir.path().join("b.db"), false)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no Vigilmon database at"), "{e}");
        let e = backup_sqlite(&dir.path().join("x"), dir.path(), true)
            .await
            .unwrap_err();
        assert!(matches!(e, BackupError::NoDatabase { .. }), "{e}");
    }
}
