//! Users and API tokens.

use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use crate::codec::{Cols, Reader, ms, truncate_ms};
use crate::error::unique_conflict;
use crate::{Store, StoreError, TokenOwner, TokenRecord, UserRecord};

/// The columns of a token and its owner (`api_tokens t LEFT JOIN users u`).
const TOKEN_COLUMNS: &str = "t.id, t.name, t.scope, t.region, t.created_at, t.last_used_at, \
     t.revoked_at, t.user_id, u.email AS owner_email, u.role AS owner_role";

/// The stored form of an email: trimmed and lower-cased, so that lookups and the
/// uniqueness rule ignore case (done here, not in SQL, as SQLite's `lower()` only folds
/// ASCII while PostgreSQL's folds all of Unicode).
fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn decode_user<R: Cols>(row: &R) -> Result<(UserRecord, String), StoreError> {
    let r = Reader::new(row, "users");
    Ok((
        UserRecord {
            id: r.uuid("id")?,
            email: r.string("email")?,
            role: r.string("role")?,
            created_at: r.timestamp("created_at")?,
        },
        r.string("password_hash")?,
    ))
}

fn decode_token<R: Cols>(row: &R) -> Result<TokenRecord, StoreError> {
    let r = Reader::new(row, "api_tokens");
    Ok(TokenRecord {
        id: r.uuid("id")?,
        name: r.string("name")?,
        scope: r.string("scope")?,
        region: r.opt_string("region")?,
        created_at: r.timestamp("created_at")?,
        last_used_at: r.opt_timestamp("last_used_at")?,
        revoked_at: r.opt_timestamp("revoked_at")?,
        owner: match r.opt_uuid("user_id")? {
            Some(id) => Some(TokenOwner {
                id,
                email: r.string("owner_email")?,
                role: r.string("owner_role")?,
            }),
            None => None,
        },
    })
}

impl Store {
    /// Creates a user. The email is stored trimmed and lower-cased;
    /// [`StoreError::Conflict`] with field `email` when it is taken, whatever its case.
    pub async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        role: &str,
        now: Timestamp,
    ) -> Result<UserRecord, StoreError> {
        let email = normalise_email(email);
        let id = Uuid::now_v7();
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO users (id, email, password_hash, role, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(&email)
            .bind(password_hash)
            .bind(role)
            .bind(ms(now))
            .execute(pool)
            .await
            .map_err(|e| {
                unique_conflict(e, "email", "email", || {
                    format!("a user with email {email:?} already exists")
                })
            })?;
        });
        Ok(UserRecord {
            id,
            email,
            role: role.to_owned(),
            created_at: truncate_ms(now),
        })
    }

    /// First-run setup: creates the owner if no user exists yet, or returns `None`.
    /// The database decides between two setups racing (on one server or two): the
    /// user made here is marked as setup's, and a unique index admits one.
    pub async fn create_first_owner(
        &self,
        email: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Option<UserRecord>, StoreError> {
        let email = normalise_email(email);
        let id = Uuid::now_v7();
        with_pool!(self, pool => {
            // One statement: SQLite runs it under its write lock; on PostgreSQL two
            // may both see no user, and the second then fails on the unique mark.
            let inserted = sqlx::query(
                "INSERT INTO users (id, email, password_hash, role, created_at, setup_owner) \
                 SELECT $1, $2, $3, 'owner', $4, 1 \
                 WHERE NOT EXISTS (SELECT 1 FROM users)",
            )
            .bind(id)
            .bind(&email)
            .bind(password_hash)
            .bind(ms(now))
            .execute(pool)
            .await;
            match inserted {
                Ok(done) if done.rows_affected() == 1 => {}
                Ok(_) => return Ok(None),
                // Another setup won at the same instant: its owner holds the mark.
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        });
        Ok(Some(UserRecord {
            id,
            email,
            role: "owner".to_owned(),
            created_at: truncate_ms(now),
        }))
    }

    /// How many users exist (0 means the first user still has to be set up).
    pub async fn count_users(&self) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(pool).await?;
            Reader::new(&row, "users").u64("n")
        })
    }

    /// The user with this email (any case), with their password hash.
    pub async fn user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<(UserRecord, String)>, StoreError> {
        let email = normalise_email(email);
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT id, email, password_hash, role, created_at FROM users WHERE email = $1",
            )
            .bind(&email)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(decode_user).transpose()
        })
    }

    /// Stores a new API token by the hash of its secret, belonging to user `owner`
    /// (`None`: a service token). [`StoreError::Conflict`] with field `token_hash` if
    /// that hash is already stored; [`StoreError::NotFound`] if the owner does not
    /// exist (any more).
    pub async fn create_token(
        &self,
        name: &str,
        token_hash: &str,
        scope: &str,
        owner: Option<Uuid>,
        now: Timestamp,
    ) -> Result<TokenRecord, StoreError> {
        self.create_token_in(name, token_hash, scope, None, owner, now)
            .await
    }

    /// Stores a new agent token, bound to `region`, belonging to `owner` (if any).
    pub async fn create_agent_token(
        &self,
        name: &str,
        token_hash: &str,
        region: &str,
        owner: Option<Uuid>,
        now: Timestamp,
    ) -> Result<TokenRecord, StoreError> {
        self.create_token_in(name, token_hash, "agent", Some(region), owner, now)
            .await
    }

    async fn create_token_in(
        &self,
        name: &str,
        token_hash: &str,
        scope: &str,
        region: Option<&str>,
        owner: Option<Uuid>,
        now: Timestamp,
    ) -> Result<TokenRecord, StoreError> {
        let id = Uuid::now_v7();
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_tokens (id, name, token_hash, scope, created_at, region, user_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(name)
            .bind(token_hash)
            .bind(scope)
            .bind(ms(now))
            .bind(region)
            .bind(owner)
            .execute(pool)
            .await
            .map_err(|e| {
                if let sqlx::Error::Database(db) = &e
                    && db.is_foreign_key_violation()
                {
                    return StoreError::NotFound;
                }
                unique_conflict(e, "token_hash", "token_hash", || {
                    "a token with this hash already exists".to_owned()
                })
            })?;
        });
        self.token_by_id(id).await?.ok_or(StoreError::NotFound)
    }

    /// The token with this id, revoked or not.
    pub async fn token_by_id(&self, id: Uuid) -> Result<Option<TokenRecord>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id \
                 WHERE t.id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(decode_token).transpose()
        })
    }

    /// The token with this hash, revoked or not (the caller checks `revoked_at`).
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id \
                 WHERE t.token_hash = $1"
            )))
            .bind(token_hash)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(decode_token).transpose()
        })
    }

    /// Records that a token was used at `now` (`last_used_at` only moves forward). A
    /// token that does not exist is ignored.
    pub async fn touch_token(&self, id: Uuid, now: Timestamp) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $2 \
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(id)
            .bind(ms(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every token, revoked ones included, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id \
                 ORDER BY t.created_at, t.id"
            )))
            .fetch_all(pool)
            .await?;
            rows.iter().map(decode_token).collect()
        })
    }

    /// Revokes a token. Returns false when it does not exist or was already revoked
    /// (its first revocation time is kept).
    pub async fn revoke_token(&self, id: Uuid, now: Timestamp) -> Result<bool, StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }
}

/// A user as the user list shows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserListing {
    pub user: UserRecord,
    /// When their newest session still stored began (sessions are swept once they
    /// expire, so this is unknown for someone who has not signed in for a while).
    pub last_sign_in: Option<Timestamp>,
}

/// What [`Store::set_user_role`] and [`Store::delete_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Done; the user's sessions were ended in the same transaction.
    Done,
    /// No such user; nothing changed.
    NotFound,
    /// Refused: it would leave no owner. Nothing changed.
    LastOwner,
}

impl Store {
    /// Every user, oldest first, with their last sign-in if a session of theirs is
    /// still stored.
    pub async fn list_users(&self) -> Result<Vec<UserListing>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT u.id, u.email, u.role, u.created_at, \
                 (SELECT MAX(s.created_at) FROM sessions s WHERE s.user_id = u.id) AS last_sign_in \
                 FROM users u ORDER BY u.created_at, u.email",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let r = Reader::new(row, "users");
                    Ok(UserListing {
                        user: UserRecord {
                            id: r.uuid("id")?,
                            email: r.string("email")?,
                            role: r.string("role")?,
                            created_at: r.timestamp("created_at")?,
                        },
                        last_sign_in: r.opt_timestamp("last_sign_in")?,
                    })
                })
                .collect()
        })
    }

    /// The user with this id.
    pub async fn get_user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT id, email, password_hash, role, created_at FROM users WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            Ok(row.as_ref().map(decode_user).transpose()?.map(|(u, _)| u))
        })
    }

    /// Gives a user another role and ends every session of theirs, in one transaction.
    /// Refused ([`UserChange::LastOwner`]) when it would demote the last owner.
    pub async fn set_user_role(&self, id: Uuid, role: &str) -> Result<UserChange, StoreError> {
        self.change_user(id, Some(role)).await
    }

    /// Removes a user and their sessions, in one transaction. Refused
    /// ([`UserChange::LastOwner`]) for the last owner. (Names kept elsewhere, such as
    /// who acknowledged an incident, are text and stay.)
    pub async fn delete_user(&self, id: Uuid) -> Result<UserChange, StoreError> {
        self.change_user(id, None).await
    }

    /// Sets a user's role (`Some`) or removes the user (`None`), ending their sessions,
    /// unless that would leave no owner.
    ///
    /// The owners' rows are locked first (`UPDATE … WHERE role = 'owner'` takes row
    /// locks on PostgreSQL and the write lock on SQLite), so two concurrent changes
    /// cannot both remove "the other" owner.
    async fn change_user(&self, id: Uuid, role: Option<&str>) -> Result<UserChange, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET role = role WHERE role = 'owner'")
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query("SELECT role FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                tx.rollback().await?;
                return Ok(UserChange::NotFound);
            };
            let current = Reader::new(&row, "users").string("role")?;
            if current == "owner" && role != Some("owner") {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'owner'")
                    .fetch_one(&mut *tx)
                    .await?;
                if Reader::new(&row, "users").u64("n")? <= 1 {
                    tx.rollback().await?;
                    return Ok(UserChange::LastOwner);
                }
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            match role {
                Some(role) => {
                    sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
                        .bind(id)
                        .bind(role)
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query("DELETE FROM users WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(UserChange::Done)
        })
    }
}
