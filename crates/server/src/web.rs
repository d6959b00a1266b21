//! Public, unauthenticated endpoints: `/healthz` and the token-protected `/metrics`.
//! (`/` is the web UI: see [`crate::ui`].)

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::AppState;
use crate::api::error::ApiError;
use crate::api::extract::Caller;
use crate::auth::Scope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz(State(st): State<AppState>) -> Response {
    match st.store().ping().await {
        Ok(()) => Json(json!({"status": "ok", "store": st.store().backend(), "version": env!("CARGO_PKG_VERSION")})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "store": st.store().backend(), "error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn metrics(State(st): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics().render(),
    )
        .into_response())
}
