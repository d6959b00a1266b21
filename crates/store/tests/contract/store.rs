//! The store handle itself: which backend it runs on, `ping` and `close`.

use crate::{Db, Location};

pub(crate) async fn backend_ping_and_close(db: Db) {
    let expected = match db.location {
        Location::Sqlite(_) => "sqlite",
        Location::Postgres(_) => "postgres",
    };
    assert_eq!(db.store.backend(), expected);
    db.store.ping().await.unwrap();
    db.store.close().await;
    assert!(
        db.store.ping().await.is_err(),
        "a closed store refuses queries"
    );
}
