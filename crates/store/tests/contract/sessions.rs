//! Web UI sessions, and the password changes that end them.

use uuid::Uuid;

use crate::{Db, t};

pub(crate) async fn sessions_live_expire_and_end(db: Db) {
    let s = &db.store;
    let user = s
        .create_user("owner@example.com", "hash-1", "owner", t(0))
        .await
        .unwrap();
    let other = s
        .create_user("other@example.com", "hash-2", "viewer", t(0))
        .await
        .unwrap();
    let created = s
        .create_session("digest-a", user.id, "csrf-a", t(1), t(100))
        .await
        .unwrap();
    assert_eq!(
        (created.created_at, created.last_seen_at, created.expires_at),
        (t(1), t(1), t(100))
    );
    s.create_session("digest-b", user.id, "csrf-b", t(1), t(100))
        .await
        .unwrap();
    s.create_session("digest-c", other.id, "csrf-c", t(1), t(100))
        .await
        .unwrap();

    let (found, who) = s.session_by_hash("digest-a", t(2)).await.unwrap().unwrap();
    assert_eq!(found, created);
    assert_eq!(who, user);
    assert!(s.session_by_hash("unknown", t(2)).await.unwrap().is_none());
    assert!(
        s.session_by_hash("digest-a", t(100))
            .await
            .unwrap()
            .is_none(),
        "expired at expires_at"
    );

    // Touching slides the expiry forward, never backwards.
    assert!(s.touch_session("digest-a", t(50), t(150)).await.unwrap());
    assert!(s.touch_session("digest-a", t(40), t(120)).await.unwrap());
    let (touched, _) = s
        .session_by_hash("digest-a", t(120))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((touched.last_seen_at, touched.expires_at), (t(50), t(150)));
    assert!(!s.touch_session("unknown", t(50), t(150)).await.unwrap());

    // Logout ends one session.
    assert!(s.delete_session("digest-b").await.unwrap());
    assert!(!s.delete_session("digest-b").await.unwrap());
    assert!(s.session_by_hash("digest-b", t(2)).await.unwrap().is_none());

    // Expired sessions are swept; live ones stay.
    assert_eq!(s.delete_expired_sessions(t(120)).await.unwrap(), 1); // digest-c
    assert!(
        s.session_by_hash("digest-a", t(121))
            .await
            .unwrap()
            .is_some()
    );
}

pub(crate) async fn password_change_ends_sessions(db: Db) {
    let s = &db.store;
    let user = s
        .create_user("owner@example.com", "old-hash", "owner", t(0))
        .await
        .unwrap();
    let other = s
        .create_user("other@example.com", "other-hash", "admin", t(0))
        .await
        .unwrap();
    for (digest, who) in [("u1", user.id), ("u2", user.id), ("o1", other.id)] {
        s.create_session(digest, who, "csrf", t(1), t(1000))
            .await
            .unwrap();
    }
    assert!(s.set_password(user.id, "new-hash").await.unwrap());
    let (_, hash) = s.user_by_email("owner@example.com").await.unwrap().unwrap();
    assert_eq!(hash, "new-hash");
    for digest in ["u1", "u2"] {
        assert!(
            s.session_by_hash(digest, t(2)).await.unwrap().is_none(),
            "{digest} must end with the password change"
        );
    }
    assert!(
        s.session_by_hash("o1", t(2)).await.unwrap().is_some(),
        "other users stay signed in"
    );
    assert!(!s.set_password(Uuid::now_v7(), "x").await.unwrap());

    // A new session after the change works as usual.
    s.create_session("u3", user.id, "csrf", t(3), t(1000))
        .await
        .unwrap();
    assert!(s.session_by_hash("u3", t(4)).await.unwrap().is_some());
}
