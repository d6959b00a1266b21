//! Web UI sessions and password changes.
//!
//! A session is stored under the SHA-256 digest of its cookie value (computed by the
//! caller), so a leaked database does not hand out live sessions. Each carries the
//! CSRF token of its forms and an expiry; the caller slides the expiry forward with
//! [`Store::touch_session`]. Changing a password deletes every session of that user
//! in the same transaction: nobody stays signed in with the old password.

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::codec::{Cols, Reader, ms, truncate_ms};
use crate::{Store, StoreError, UserRecord};

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRecord {
    /// Digest of the cookie value (never the value itself).
    pub id_hash: String,
    pub user_id: Uuid,
    /// The token every state-changing form of this session must carry.
    pub csrf: String,
    pub created_at: Timestamp,
    /// The session is refused from this instant on.
    pub expires_at: Timestamp,
    pub last_seen_at: Timestamp,
}

/// The columns [`decode`] reads, with the user's, from `sessions s JOIN users u`.
const SESSION_USER_COLUMNS: &str = "s.id_hash, s.user_id, s.csrf, s.created_at, s.expires_at, \
    s.last_seen_at, u.id, u.email, u.role, u.created_at AS user_created_at";

fn decode<R: Cols>(row: &R) -> Result<(SessionRecord, UserRecord), StoreError> {
    let r = Reader::new(row, "sessions");
    Ok((
        SessionRecord {
            id_hash: r.string("id_hash")?,
            user_id: r.uuid("user_id")?,
            csrf: r.string("csrf")?,
            created_at: r.timestamp("created_at")?,
            expires_at: r.timestamp("expires_at")?,
            last_seen_at: r.timestamp("last_seen_at")?,
        },
        UserRecord {
            id: r.uuid("id")?,
            email: r.string("email")?,
            role: r.string("role")?,
            created_at: r.timestamp("user_created_at")?,
        },
    ))
}

impl Store {
    /// Stores a new session for `user_id`, valid until `expires_at`.
    pub async fn create_session(
        &self,
        id_hash: &str,
        user_id: Uuid,
        csrf: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<SessionRecord, StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $4)",
            )
            .bind(id_hash)
            .bind(user_id)
            .bind(csrf)
            .bind(ms(now))
            .bind(ms(expires_at))
            .execute(pool)
            .await?;
        });
        Ok(SessionRecord {
            id_hash: id_hash.to_owned(),
            user_id,
            csrf: csrf.to_owned(),
            created_at: truncate_ms(now),
            expires_at: truncate_ms(expires_at),
            last_seen_at: truncate_ms(now),
        })
    }

    /// The session with this digest and its user, unless it has expired by `now`.
    pub async fn session_by_hash(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(SessionRecord, UserRecord)>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2"
        );
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id_hash)
                .bind(ms(now))
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(decode).transpose()
        })
    }

    /// Records activity on a session and moves its expiry to `expires_at` (neither
    /// moves backwards). Returns false when the session does not exist.
    pub async fn touch_session(
        &self,
        id_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE sessions SET \
                 last_seen_at = CASE WHEN last_seen_at < $2 THEN $2 ELSE last_seen_at END, \
                 expires_at = CASE WHEN expires_at < $3 THEN $3 ELSE expires_at END \
                 WHERE id_hash = $1",
            )
            .bind(id_hash)
            .bind(ms(now))
            .bind(ms(expires_at))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }

    /// Ends one session (logout). Returns false when it did not exist.
    pub async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Deletes sessions that expired before `now`; returns how many.
    pub async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(ms(now))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }

    /// Replaces a user's password hash and ends every session of theirs, in one
    /// transaction. Returns false (changing nothing) when the user does not exist.
    pub async fn set_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id)
                .bind(password_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if updated == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}
