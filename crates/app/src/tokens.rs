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
    pub name: String,
    /// `read`, `write` or `agent`.
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

/// Makes a token: stores its digest and returns the record and the secret, which is
/// shown once and kept nowhere.
pub async fn issue(
    st: &AppState,
    name: &str,
    scope: &TokenScope,
) -> Result<(TokenRecord, String), vigilmon_store::StoreError> {
    let secret = generate_token();
    let hash = hash_token(&secret);
    let rec = match scope {
        TokenScope::Agent(r) => {
            st.store()
                .create_agent_token(name, &hash, r.as_str(), st.now())
                .await?
        }
        TokenScope::Api(s) => {
            st.store()
                .create_token(name, &hash, s.as_str(), st.now())
                .await?
        }
    };
    Ok((rec, secret))
}

/// Revokes a token: it is refused from then on (an agent using it stops). False when
/// there is no such token, or it was revoked already.
pub async fn revoke(st: &AppState, id: Uuid) -> Result<bool, AppError> {
    Ok(st.store().revoke_token(id, st.now()).await?)
}
