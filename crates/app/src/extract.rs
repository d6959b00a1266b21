//! Request extractors that fail with the API's own error shape: bearer-token
//! authentication and JSON bodies whose errors name the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Scope, hash_token};
use crate::error::AppError;

/// Largest JSON body the API accepts.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// An authenticated API caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: Uuid,
    /// What the token may do now (its scope, narrowed by its user's role).
    pub scope: Scope,
    /// The user the token belongs to; `None` for a service token.
    pub owner: Option<vigilmon_store::TokenOwner>,
}

impl Caller {
    /// Whether this caller manages every token (service tokens, and tokens of owners
    /// and admins) or only its user's own.
    pub fn manages_all_tokens(&self) -> bool {
        self.owner
            .as_ref()
            .is_none_or(|o| crate::auth::manages_all_tokens(&o.role))
    }

    /// Refuses the request unless the token's scope allows `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), AppError> {
        if self.scope.allows(needed) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this token has {} scope; this action needs a {} token",
                self.scope.as_str(),
                needed.as_str()
            )))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(AppError::Unauthorized(
                "an API token is required: Authorization: Bearer <token>",
            ))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::Unauthorized(
                "the Authorization header must be: Bearer <token>",
            ))?;
        let record = state
            .store()
            .token_by_hash(&hash_token(token))
            .await?
            .filter(|t| t.revoked_at.is_none())
            .ok_or(AppError::Unauthorized("unknown or revoked API token"))?;
        let scope = crate::auth::effective_scope(&record)
            .and_then(Scope::parse)
            .ok_or(AppError::Unauthorized(
                "this token's scope does not allow API access",
            ))?;
        let now = state.now();
        let stale = record
            .last_used_at
            .is_none_or(|t| now.as_millisecond() - t.as_millisecond() > 60_000);
        if stale {
            // Recorded at most once a minute per token, off the request's path.
            let store = state.store().clone();
            tokio::spawn(async move {
                let _ = store.touch_token(record.id, now).await;
            });
        }
        Ok(Caller {
            token_id: record.id,
            scope,
            owner: record.owner,
        })
    }
}

/// A caller whose token may write: the scope is checked when the request is
/// extracted, before the body is read, so a token that may not write learns nothing
/// from the body's validation.
#[derive(Debug, Clone)]
pub struct Writer(pub Caller);

impl FromRequestParts<AppState> for Writer {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(Scope::Write)?;
        Ok(Writer(caller))
    }
}

/// A query string, decoded with errors in the API's JSON error shape (which parameter,
/// why) rather than the framework's plain text.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                let text = e.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                let field = detail.split_once(':').map(|(f, _)| f.trim().to_owned());
                AppError::bad_request(format!("query string: {detail}"), field)
            })
    }
}

/// A JSON body, decoded with errors that say which field was wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        if !is_json {
            return Err(AppError::bad_request(
                "the body must be JSON, sent with Content-Type: application/json",
                None,
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge(format!(
                    "the body must be at most {} kB",
                    MAX_BODY_BYTES / 1024
                ))
            } else {
                AppError::bad_request(format!("could not read the body: {e}"), None)
            }
        })?;
        decode_json(&bytes).map(ApiJson)
    }
}

/// Decodes JSON, naming the field at fault on failure.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = (path != "." && !path.is_empty()).then_some(path);
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("the body is not valid JSON: {inner}")
        } else {
            match &field {
                Some(f) => format!("{f}: {inner}"),
                None => inner.to_string(),
            }
        };
        AppError::BadRequest { message, field }
    })
}
