//! `GET /api/v1/config` and `POST /api/v1/config/apply`: the configuration as a
//! document in the config file's form, secrets as `${NAME}` placeholders, and a
//! document applied with a plan first ([`vigilmon_app::as_code`]; `vigilmon export`
//! and `vigilmon apply` call these).

use axum::Json;
use axum::extract::State;
use vigilmon_app::AppState;
use vigilmon_app::as_code::{self, ApplyRequest, Exported, Plan, Secrets};
use vigilmon_app::auth::Scope;
use vigilmon_app::error::{AppError, ErrorBody};
use vigilmon_app::extract::{ApiJson, Caller, Writer};

/// Every monitor, channel, policy, maintenance window and status page, as the config
/// file writes them; each secret as a `${NAME}` placeholder listed in `variables`.
#[utoipa::path(get, path = "/api/v1/config", tag = "as code",
    responses((status = 200, body = Exported)), security(("bearer" = [])))]
pub async fn export(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Exported>, AppError> {
    caller.require(Scope::Read)?;
    Ok(Json(
        as_code::export(st.store(), Secrets::Placeholders).await?,
    ))
}

/// Plans a document against the server (what is created, changed field by field,
/// deleted with `prune`) and, unless `dry_run`, applies it. Nothing is written when
/// anything is wrong: every problem is listed by field.
#[utoipa::path(post, path = "/api/v1/config/apply", tag = "as code", request_body = ApplyRequest,
    responses((status = 200, body = Plan), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn apply(
    State(st): State<AppState>,
    _: Writer,
    ApiJson(req): ApiJson<ApplyRequest>,
) -> Result<Json<Plan>, AppError> {
    Ok(Json(as_code::apply(&st, req).await?))
}
