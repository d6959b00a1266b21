//! API and agent tokens: issuing one (its secret is returned once; only its SHA-256
//! digest is stored) and their views. An agent token names its region, which is how a
//! region is declared through the API.

use crate::auth::{Scope, generate_token, hash_token};
use crate::{AppError, AppState};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vigilmon_core::RegionName;
use vigilmon_store::TokenRecord;

/// A token as listed: never its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: Uuid,
    pub name: String,
    /// `read`, `write` or `agent`.
    pub scope: String,
    /// The region of an agent token.
    pub region: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<jiff::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<jiff::Timestamp>,
    /// The email of the user it belongs to; `null` for a service token (made with
    /// the CLI).
    pub owner: Option<String>,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        Self {
            id: t.id,
            name: t.name,
            scope: t.scope,
            region: t.region,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
            owner: t.owner.map(|o| o.email),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// What `POST /api/v1/tokens` takes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// `read`, `write` or `agent`.
    #[schema(pattern = "^(read|write|agent)$")]
    pub scope: String,
    /// Required for (and only for) agent tokens: the region the agent serves.
    #[serde(default)]
    pub region: Option<String>,
}

/// A new token, with its secret (shown this once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: TokenView,
    /// The secret: `Authorization: Bearer <token>`. It is not stored and never shown
    /// again.
    #[serde(rename = "token")]
    pub secret: String,
}

/// What a new token may do.
pub enum TokenScope {
    Api(Scope),
    /// An agent of this region.
    Agent(RegionName),
}

/// Makes a token belonging to `owner` (`None`: a service token): stores its digest
/// and returns the record and the secret, which is shown once and kept nowhere.
pub async fn issue(
    st: &AppState,
    name: &str,
    scope: &TokenScope,
    owner: Option<Uuid>,
) -> Result<(TokenRecord, String), vigilmon_store::StoreError> {
    let secret = generate_token();
    let hash = hash_token(&secret);
    let rec = match scope {
        TokenScope::Agent(r) => {
            st.store()
                .create_agent_token(name, &hash, r.as_str(), owner, st.now())
                .await?
        }
        TokenScope::Api(s) => {
            st.store()
                .create_token(name, &hash, s.as_str(), owner, st.now())
                .await?
        }
    };
    Ok((rec, secret))
}

/// Revokes a token: it is refused from then on (an agent using it stops). False when
/// there is no such token, or it was revoked already, or it is not `manager`'s to
/// revoke (see [`visible_to`]).
pub async fn revoke(st: &AppState, id: Uuid, manager: &Manager) -> Result<bool, AppError> {
    match st.store().token_by_id(id).await? {
        Some(t) if manager.sees(&t) => Ok(st.store().revoke_token(id, st.now()).await?),
        _ => Ok(false),
    }
}

/// Who manages tokens: everyone's (service tokens, owners and admins) or only one
/// user's own (editors, and viewers' nothing-to-manage).
pub enum Manager {
    All,
    Own(Uuid),
}

impl Manager {
    /// The manager a user of `role` is.
    pub fn user(id: Uuid, role: &str) -> Self {
        if crate::auth::manages_all_tokens(role) {
            Manager::All
        } else {
            Manager::Own(id)
        }
    }

    /// The manager an API caller is.
    pub fn caller(c: &crate::extract::Caller) -> Self {
        match &c.owner {
            Some(o) => Self::user(o.id, &o.role),
            None => Manager::All,
        }
    }

    /// Whether `t` is among the tokens this manager lists and may revoke.
    pub fn sees(&self, t: &TokenRecord) -> bool {
        match self {
            Manager::All => true,
            Manager::Own(id) => t.owner.as_ref().is_some_and(|o| o.id == *id),
        }
    }
}

/// The tokens `manager` lists, oldest first.
pub async fn visible_to(st: &AppState, manager: &Manager) -> Result<Vec<TokenRecord>, AppError> {
    Ok(st
        .store()
        .list_tokens()
        .await?
        .into_iter()
        .filter(|t| manager.sees(t))
        .collect())
}
