//! `GET /api/v1/nodes`: the nodes serving this database and which one coordinates
//! ([`vigilmon_app::nodes`]).

use axum::Json;
use axum::extract::State;
use vigilmon_app::AppState;
use vigilmon_app::auth::Scope;
use vigilmon_app::error::AppError;
use vigilmon_app::extract::Caller;
use vigilmon_app::nodes::{NodeList, node_list};

/// The nodes, oldest first, with the coordinator marked.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "regions",
    responses((status = 200, body = NodeList)), security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, caller: Caller) -> Result<Json<NodeList>, AppError> {
    caller.require(Scope::Read)?;
    Ok(Json(node_list(&st).await?))
}
