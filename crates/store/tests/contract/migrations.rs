//! Versioned migrations: opening a database again applies nothing twice.

use crate::{Db, create};

pub(crate) async fn migrations_are_idempotent(db: Db) {
    let m = create(&db.store, "kept").await;
    let again = db.reopen().await;
    let third = db.reopen().await;
    assert_eq!(again.get_monitor(m.id).await.unwrap(), Some(m.clone()));
    assert_eq!(third.list_monitors().await.unwrap(), vec![m]);
    again.close().await;
    third.close().await;
}
