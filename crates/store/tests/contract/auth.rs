//! Users, their roles and removal, and API tokens.

use jiff::SignedDuration;
use uuid::Uuid;
use vigilmon_store::UserChange;

use crate::{Db, assert_conflict, t};

pub(crate) async fn users(db: Db) {
    let s = &db.store;
    assert_eq!(s.count_users().await.unwrap(), 0);
    let now = t(0) + SignedDuration::from_micros(1500);
    let admin = s
        .create_user(" Admin@Example.COM ", "$argon2id$hash", "admin", now)
        .await
        .unwrap();
    assert_eq!(admin.email, "admin@example.com");
    assert_eq!(admin.role, "admin");
    assert_eq!(admin.created_at, t(0) + SignedDuration::from_millis(1));
    assert_eq!(s.count_users().await.unwrap(), 1);

    let (found, hash) = s.user_by_email("ADMIN@example.com").await.unwrap().unwrap();
    assert_eq!(found, admin);
    assert_eq!(hash, "$argon2id$hash");
    assert!(
        s.user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let msg = assert_conflict(
        s.create_user("admin@EXAMPLE.com", "other", "viewer", t(1))
            .await,
        "email",
    );
    assert!(msg.contains("admin@example.com"), "{msg}");
    assert_eq!(s.count_users().await.unwrap(), 1);

    let viewer = s
        .create_user("viewer@example.com", "h2", "viewer", t(2))
        .await
        .unwrap();
    assert_ne!(viewer.id, admin.id);
    assert_eq!(s.count_users().await.unwrap(), 2);
    // Users made otherwise (the CLI) close first-run setup too.
    assert!(
        s.create_first_owner("web@example.com", "h", t(3))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.count_users().await.unwrap(), 2);
}

pub(crate) async fn user_roles_removal_and_the_last_owner(db: Db) {
    let s = &db.store;
    let owner = s
        .create_user("owner@example.com", "h1", "owner", t(1))
        .await
        .unwrap();
    let editor = s
        .create_user("editor@example.com", "h2", "editor", t(2))
        .await
        .unwrap();
    // Listed oldest first; last sign-in from the newest stored session.
    let list = s.list_users().await.unwrap();
    assert_eq!(
        list.iter().map(|u| u.user.clone()).collect::<Vec<_>>(),
        [owner.clone(), editor.clone()]
    );
    assert!(list.iter().all(|u| u.last_sign_in.is_none()));
    for (digest, at) in [("e1", t(10)), ("e2", t(20))] {
        s.create_session(digest, editor.id, "csrf", at, t(1000))
            .await
            .unwrap();
    }
    s.create_session("o1", owner.id, "csrf", t(5), t(1000))
        .await
        .unwrap();
    let list = s.list_users().await.unwrap();
    assert_eq!(list[0].last_sign_in, Some(t(5)));
    assert_eq!(list[1].last_sign_in, Some(t(20)));
    assert_eq!(s.get_user(editor.id).await.unwrap(), Some(editor.clone()));
    assert_eq!(s.get_user(Uuid::now_v7()).await.unwrap(), None);

    // A role change ends that user's sessions, nobody else's.
    assert_eq!(
        s.set_user_role(editor.id, "viewer").await.unwrap(),
        UserChange::Done
    );
    assert_eq!(s.get_user(editor.id).await.unwrap().unwrap().role, "viewer");
    for digest in ["e1", "e2"] {
        assert!(s.session_by_hash(digest, t(30)).await.unwrap().is_none());
    }
    assert!(s.session_by_hash("o1", t(30)).await.unwrap().is_some());

    // The last owner can be neither demoted nor removed; nothing changes.
    assert_eq!(
        s.set_user_role(owner.id, "admin").await.unwrap(),
        UserChange::LastOwner
    );
    assert_eq!(
        s.delete_user(owner.id).await.unwrap(),
        UserChange::LastOwner
    );
    assert_eq!(s.get_user(owner.id).await.unwrap().unwrap().role, "owner");
    assert!(s.session_by_hash("o1", t(30)).await.unwrap().is_some());
    // Re-stating the last owner's role is no demotion.
    assert_eq!(
        s.set_user_role(owner.id, "owner").await.unwrap(),
        UserChange::Done
    );

    // With a second owner, the first can go.
    assert_eq!(
        s.set_user_role(editor.id, "owner").await.unwrap(),
        UserChange::Done
    );
    s.create_session("o2", owner.id, "csrf", t(40), t(1000))
        .await
        .unwrap();
    assert_eq!(s.delete_user(owner.id).await.unwrap(), UserChange::Done);
    assert!(s.session_by_hash("o2", t(41)).await.unwrap().is_none());
    assert_eq!(s.get_user(owner.id).await.unwrap(), None);
    assert!(
        s.user_by_email("owner@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.count_users().await.unwrap(), 1);
    assert_eq!(
        s.delete_user(editor.id).await.unwrap(),
        UserChange::LastOwner
    );

    // Unknown users.
    let nobody = Uuid::now_v7();
    assert_eq!(s.delete_user(nobody).await.unwrap(), UserChange::NotFound);
    assert_eq!(
        s.set_user_role(nobody, "viewer").await.unwrap(),
        UserChange::NotFound
    );
    // The email is free again.
    s.create_user("owner@example.com", "h3", "viewer", t(50))
        .await
        .unwrap();
}

pub(crate) async fn tokens(db: Db) {
    let s = &db.store;
    let ci = s
        .create_token("ci", "hash-ci", "read", None, t(0))
        .await
        .unwrap();
    assert_eq!((ci.name.as_str(), ci.scope.as_str()), ("ci", "read"));
    assert_eq!(
        (ci.created_at, ci.last_used_at, ci.revoked_at),
        (t(0), None, None)
    );
    let deploy = s
        .create_token("deploy", "hash-deploy", "write", None, t(1))
        .await
        .unwrap();
    // names need not be unique, hashes must
    s.create_token("ci", "hash-ci-2", "read", None, t(2))
        .await
        .unwrap();
    assert_conflict(
        s.create_token("again", "hash-ci", "read", None, t(3)).await,
        "token_hash",
    );

    assert_eq!(s.token_by_hash("hash-ci").await.unwrap(), Some(ci.clone()));
    assert_eq!(s.token_by_hash("nope").await.unwrap(), None);

    s.touch_token(ci.id, t(5)).await.unwrap();
    s.touch_token(ci.id, t(4)).await.unwrap(); // never backwards
    s.touch_token(Uuid::now_v7(), t(5)).await.unwrap(); // unknown: ignored
    let touched = s.token_by_hash("hash-ci").await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(t(5)));

    assert!(s.revoke_token(ci.id, t(6)).await.unwrap());
    assert!(
        !s.revoke_token(ci.id, t(7)).await.unwrap(),
        "already revoked"
    );
    assert!(!s.revoke_token(Uuid::now_v7(), t(7)).await.unwrap());
    let revoked = s.token_by_hash("hash-ci").await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(t(6)),
        "a revoked token is still found"
    );

    let list = s.list_tokens().await.unwrap();
    let names: Vec<&str> = list.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ci", "deploy", "ci"], "oldest first");
    assert_eq!(list[0], revoked);
    assert_eq!(list[1], deploy);
    assert!(
        list.iter().all(|t| t.owner.is_none()),
        "made without a user: service tokens"
    );
}

pub(crate) async fn tokens_belong_to_their_user(db: Db) {
    let s = &db.store;
    let editor = s
        .create_user("editor@example.com", "h", "editor", t(0))
        .await
        .unwrap();
    let owner = s
        .create_user("owner@example.com", "h", "owner", t(0))
        .await
        .unwrap();
    let mine = s
        .create_token("mine", "hash-mine", "write", Some(editor.id), t(1))
        .await
        .unwrap();
    let agent = s
        .create_agent_token("eu-1", "hash-eu", "eu", Some(editor.id), t(2))
        .await
        .unwrap();
    let service = s
        .create_token("ci", "hash-ci", "read", None, t(3))
        .await
        .unwrap();
    let theirs = s
        .create_token("theirs", "hash-theirs", "read", Some(owner.id), t(4))
        .await
        .unwrap();
    let o = mine.owner.clone().expect("an owner");
    assert_eq!(
        (o.id, o.email.as_str(), o.role.as_str()),
        (editor.id, "editor@example.com", "editor")
    );
    assert_eq!(agent.owner, mine.owner);
    assert_eq!(service.owner, None);
    assert_eq!(
        s.token_by_hash("hash-mine").await.unwrap(),
        Some(mine.clone())
    );
    assert_eq!(
        s.token_by_id(theirs.id).await.unwrap(),
        Some(theirs.clone())
    );
    // The owner's role is read with the token, as of now.
    s.set_user_role(editor.id, "viewer").await.unwrap();
    let now_viewer = s.token_by_hash("hash-mine").await.unwrap().unwrap();
    assert_eq!(now_viewer.owner.unwrap().role, "viewer");
    // No token for a user that does not exist.
    assert!(matches!(
        s.create_token("ghost", "hash-ghost", "read", Some(Uuid::now_v7()), t(5))
            .await,
        Err(vigilmon_store::StoreError::NotFound)
    ));
    // Removing the user removes their tokens, and only theirs.
    assert_eq!(s.delete_user(editor.id).await.unwrap(), UserChange::Done);
    assert_eq!(s.token_by_hash("hash-mine").await.unwrap(), None);
    assert_eq!(s.token_by_hash("hash-eu").await.unwrap(), None);
    let left: Vec<String> = s
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(left, ["ci", "theirs"]);
}

pub(crate) async fn first_owner_is_created_once(db: Db) {
    let s = &db.store;
    // Eight setups at once (on PostgreSQL, on several connections): one owner.
    let mut tries = tokio::task::JoinSet::new();
    for i in 0..8 {
        let s = s.clone();
        tries.spawn(async move {
            s.create_first_owner(&format!("owner{i}@example.com"), "h", t(i))
                .await
                .unwrap()
        });
    }
    let made: Vec<_> = tries.join_all().await.into_iter().flatten().collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0].role, "owner");
    assert_eq!(s.count_users().await.unwrap(), 1);
    let (_, hash) = s.user_by_email(&made[0].email).await.unwrap().unwrap();
    assert_eq!(hash, "h");
    if let crate::Location::Postgres(url) = &db.location {
        setups_racing_on_postgres(url).await;
    }
    // Once a user exists, setup makes nothing.
    assert!(
        s.create_first_owner("late@example.com", "h", t(9))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.count_users().await.unwrap(), 1);
}

/// Two servers' setups in the same instant on PostgreSQL, made certain: the first's
/// insert is held uncommitted (by hand) while the second runs, sees no user yet and
/// must wait on the unique mark; when the first commits, the second makes nothing.
async fn setups_racing_on_postgres(url: &str) {
    use sqlx::{Connection, Executor};
    let db = url.to_owned();
    let store = vigilmon_store::Store::open_postgres(&db).await.unwrap();
    sqlx::query("DELETE FROM users")
        .execute(&mut sqlx::PgConnection::connect(&db).await.unwrap())
        .await
        .unwrap();
    let mut first = sqlx::PgConnection::connect(&db).await.unwrap();
    first.execute("BEGIN").await.unwrap();
    first
        .execute(
            "INSERT INTO users (id, email, password_hash, role, created_at, setup_owner) \
             VALUES (gen_random_uuid(), 'first@example.com', 'h', 'owner', 0, 1)",
        )
        .await
        .unwrap();
    let second = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .create_first_owner("second@example.com", "h", t(1))
                .await
        }
    });
    // Wait until the second insert is blocked behind the first's lock.
    let mut watch = sqlx::PgConnection::connect(&db).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second setup never waited for the first"
        );
        tokio::task::yield_now().await;
    }
    first.execute("COMMIT").await.unwrap();
    assert!(second.await.unwrap().unwrap().is_none());
    assert_eq!(store.count_users().await.unwrap(), 1);
}
