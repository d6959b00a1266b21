//! `/api/v1/tokens`: API and agent tokens. Creating an agent token for a region is how
//! a region is declared through the API (besides `regions:` in the config file). A
//! token's secret is returned once, by the request that created it; only its SHA-256
//! digest is stored. Managing tokens needs the `write` scope.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vigilmon_core::{RegionName, ValidationError};
use vigilmon_store::TokenRecord;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use crate::AppState;
use crate::auth::{Scope, generate_token, hash_token};

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
pub(crate) enum TokenScope {
    Api(Scope),
    /// An agent of this region.
    Agent(RegionName),
}

/// Makes a token: stores its digest and returns the record and the secret, which is
/// shown once and kept nowhere.
pub(crate) async fn issue(
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

/// Every token, newest last, without secrets.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, caller: Caller) -> Result<Json<TokenList>, ApiError> {
    caller.require(Scope::Write)?;
    let tokens = st
        .store()
        .list_tokens()
        .await?
        .into_iter()
        .map(TokenView::from)
        .collect();
    Ok(Json(TokenList { tokens }))
}

/// Creates a token; the answer carries its secret, once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require(Scope::Write)?;
    let mut errors = Vec::new();
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(ValidationError {
            field: "name".into(),
            message: "must be 1 to 100 printable characters".into(),
        });
    }
    let region = body
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let mut agent_region = None;
    match body.scope.as_str() {
        "agent" => match region.map(RegionName::parse) {
            Some(Ok(r)) => agent_region = Some(r),
            Some(Err(e)) => errors.push(ValidationError {
                field: "region".into(),
                message: e.to_string(),
            }),
            None => errors.push(ValidationError {
                field: "region".into(),
                message: "an agent token serves one region: give its name".into(),
            }),
        },
        "read" | "write" => {
            if region.is_some() {
                errors.push(ValidationError {
                    field: "region".into(),
                    message: "only agent tokens have a region".into(),
                });
            }
        }
        other => errors.push(ValidationError {
            field: "scope".into(),
            message: format!("must be read, write or agent (got {other:?})"),
        }),
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let scope = match agent_region {
        Some(r) => TokenScope::Agent(r),
        None => TokenScope::Api(Scope::parse(&body.scope).unwrap_or(Scope::Read)),
    };
    let (rec, secret) = issue(&st, name, &scope).await?;
    tracing::info!(message = "token created through the API", name = %rec.name, scope = %rec.scope, region = ?rec.region);
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: rec.into(),
            secret,
        }),
    ))
}

/// Revokes a token: it is refused from then on (an agent using it stops).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::Write)?;
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::NotFound(format!("there is no token {id:?}")))?;
    if st.store().revoke_token(id, st.now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "there is no token {id} that is not revoked already"
        )))
    }
}
