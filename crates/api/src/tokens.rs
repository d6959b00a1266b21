//! `/api/v1/tokens`: API and agent tokens. Creating an agent token for a region is how
//! a region is declared through the API (besides `regions:` in the config file). A
//! token's secret is returned once, by the request that created it; only its SHA-256
//! digest is stored. Managing tokens needs the `write` scope. A token made here
//! belongs to the calling token's user (a service token's are service tokens), is
//! never wider than that user's role, and an editor's tokens see and revoke only the
//! editor's own.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;
use vigilmon_app::AppState;
use vigilmon_app::auth::Scope;
use vigilmon_app::error::{AppError, ErrorBody};
use vigilmon_app::extract::{ApiJson, Caller, Writer};
use vigilmon_app::tokens::*;
use vigilmon_core::{RegionName, ValidationError};

/// Every token the caller manages (an editor's: their own), newest last, without
/// secrets.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, caller: Caller) -> Result<Json<TokenList>, AppError> {
    caller.require(Scope::Write)?;
    let tokens = visible_to(&st, &Manager::caller(&caller))
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
    Writer(caller): Writer,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), AppError> {
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
    if let Some(owner) = &caller.owner
        && errors.is_empty()
        && !vigilmon_app::auth::role_allows(&owner.role, &body.scope)
    {
        return Err(AppError::Forbidden(format!(
            "a token is never wider than its user's role: {} cannot hold {} tokens",
            owner.role, body.scope
        )));
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let scope = match agent_region {
        Some(r) => TokenScope::Agent(r),
        None => TokenScope::Api(Scope::parse(&body.scope).unwrap_or(Scope::Read)),
    };
    let (rec, secret) = issue(&st, name, &scope, caller.owner.as_ref().map(|o| o.id)).await?;
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
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(st): State<AppState>,
    Writer(caller): Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| AppError::NotFound(format!("there is no token {id:?}")))?;
    if vigilmon_app::tokens::revoke(&st, id, &Manager::caller(&caller)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!(
            "there is no token {id} that is not revoked already"
        )))
    }
}
