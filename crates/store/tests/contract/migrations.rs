//! Versioned migrations: opening a database again applies nothing twice.

use vigilmon_store::{Store, StoreError};

use crate::{Db, Location, create};

pub(crate) async fn migrations_are_idempotent(db: Db) {
    let m = create(&db.store, "kept").await;
    let again = db.reopen().await;
    let third = db.reopen().await;
    assert_eq!(again.get_monitor(m.id).await.unwrap(), Some(m.clone()));
    assert_eq!(third.list_monitors().await.unwrap(), vec![m]);
    again.close().await;
    third.close().await;
}

/// A database that a newer release has migrated further than this binary knows is
/// refused with the versions, not misread.
pub(crate) async fn a_newer_schema_is_refused(db: Db) {
    let insert = "INSERT INTO _sqlx_migrations \
        (version, description, success, checksum, execution_time) \
        VALUES (9999, 'from the future', TRUE, X'00', 0)";
    let reopened = match &db.location {
        Location::Sqlite(dir) => {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(dir.join(vigilmon_store::SQLITE_FILE_NAME)),
                )
                .await
                .unwrap();
            sqlx::query(insert).execute(&pool).await.unwrap();
            pool.close().await;
            Store::open_sqlite(dir).await
        }
        Location::Postgres(url) => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(
                insert.replace("X'00'", "'\\x00'::bytea"),
            ))
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
            Store::open_postgres(url).await
        }
    };
    let Err(err) = reopened else {
        panic!("a newer schema is refused");
    };
    assert!(
        matches!(err, StoreError::SchemaTooNew { database: 9999, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("version 9999, newer than"),
        "{err}"
    );
}
