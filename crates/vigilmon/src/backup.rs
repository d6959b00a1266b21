//! `vigilmon backup --to FILE` and `vigilmon restore --from FILE`: a consistent copy
//! of the embedded SQLite database while `serve` runs, and putting one back. The file
//! work is the store's (`vigilmon_store::backup`); this module finds the data directory
//! the way `serve` does, refuses PostgreSQL (whose own tools do this better), and
//! keeps a server off the data directory during a restore.
//!
//! Detecting a running server: `serve` holds an exclusive `flock` on
//! `<data-dir>/serve.lock` for as long as it runs (the kernel drops it when the process
//! ends, however it ends). `restore` takes the same lock without waiting, so it refuses
//! while a server holds the directory, and a server started during the restore refuses
//! to start. Other commands (`token create`, `user create`, `backup`) take no lock and
//! are not detected.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use vigilmon_store::backup::{backup_sqlite, restore_sqlite};

use crate::StoreArgs;
use crate::admin::store_location;

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The backup file to write (a SQLite database; refused if it exists, unless --force).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup file to restore (written by `vigilmon backup`).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// How PostgreSQL databases are backed up and restored, for the refusals.
const PG_TOOLS: &str = "back it up with `pg_dump --format=custom --file=vigilmon.dump \
                        DATABASE_URL` and restore it with `pg_restore --clean --if-exists \
                        --dbname=DATABASE_URL vigilmon.dump` (docs/deployment.md)";

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let (database_url, data_dir) = store_location(&args.store)?;
    if database_url.is_some() {
        bail!(
            "`vigilmon backup` copies the embedded SQLite database; this server's store is \
             PostgreSQL: {PG_TOOLS}"
        );
    }
    let snapshot = backup_sqlite(&data_dir, &args.to, args.force).await?;
    println!(
        "backed up {} to {} ({} bytes, schema version {})",
        data_dir.join(vigilmon_store::SQLITE_FILE_NAME).display(),
        snapshot.path.display(),
        snapshot.bytes,
        snapshot.schema_version
    );
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let (database_url, data_dir) = store_location(&args.store)?;
    if database_url.is_some() {
        bail!(
            "`vigilmon restore` restores the embedded SQLite database; this server's store is \
             PostgreSQL: {PG_TOOLS}"
        );
    }
    // Held until the restore is over: a server starting meanwhile refuses to.
    let _lock = match crate::serve::try_lock_data_dir(&data_dir)? {
        Ok(lock) => lock,
        Err(holder) => bail!(
            "{holder} is using the data directory {}: stop it first (e.g. `systemctl stop \
             vigilmon`), then restore, then start it again",
            data_dir.display()
        ),
    };
    let restored = restore_sqlite(&data_dir, &args.from, jiff::Timestamp::now()).await?;
    println!(
        "restored {} into {} (schema version {})",
        args.from.display(),
        restored.snapshot.path.display(),
        restored.snapshot.schema_version
    );
    if let Some(previous) = &restored.previous {
        println!("the database it replaced is kept at {}", previous.display());
    }
    println!("start `vigilmon serve` on this data directory to use it");
    Ok(())
}
