//! Public, unauthenticated endpoints: the landing page, `/healthz` and the
//! token-protected `/metrics`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::AppState;
use crate::api::error::ApiError;
use crate::api::extract::Caller;
use crate::auth::Scope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn index(State(st): State<AppState>) -> Html<String> {
    let version = env!("CARGO_PKG_VERSION");
    let region = st.region();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Vigilmon</title></head><body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem\">\
         <h1>Vigilmon {version}</h1><p>The server is running; its built-in probe checks from region <code>{region}</code>.</p>\
         <p>The REST API lives under <code>/api/v1</code> (bearer token: <code>vigilmon token create --name me --scope write</code>); \
         its OpenAPI description is at <code>/api/v1/openapi.json</code>. Health: <a href=\"/healthz\">/healthz</a>.</p></body></html>"
    ))
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
