//! `/healthz` (public) and the token-protected `/metrics`. (`/` is the web UI.)

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use vigilmon_app::auth::Scope;
use vigilmon_app::extract::Caller;
use vigilmon_app::{AppError, AppState};

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

async fn metrics(State(st): State<AppState>, caller: Caller) -> Result<Response, AppError> {
    caller.require(Scope::Read)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        vigilmon_engine::metrics::render(st.metrics()),
    )
        .into_response())
}
