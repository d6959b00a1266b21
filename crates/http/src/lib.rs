//! Vigilmon's HTTP front, assembled: the JSON API (`vigilmon-api`), the web UI
//! (`vigilmon-ui`) and the public surface (`vigilmon-public`) merged on one router
//! over the application state (`vigilmon-app`), plus `/healthz` and `/metrics`.
//!
//! The binary opens the store and binds the socket; [`run`] takes both (the caller
//! binds, so tests use port 0), starts the engine, serves until the shutdown token is
//! cancelled, then stops the engine in order and returns. Connections are accepted
//! and bounded by `conn` (a cap, and deadlines for heads, bodies and idle spells:
//! [`Limits`]).

mod conn;
mod hosts;
mod web;

pub use conn::Limits;
pub use vigilmon_app::front::Front;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use vigilmon_app::AppState;
use vigilmon_engine::{Engine, EngineError, EngineOptions};
use vigilmon_public::PublicState;
use vigilmon_store::Store;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("storage: {0}")]
    Store(#[from] vigilmon_store::StoreError),
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
}

/// The whole HTTP application over a running engine.
pub fn app(state: AppState) -> Router {
    let public = PublicState::new(state.clone());
    vigilmon_api::router()
        .merge(vigilmon_api::openapi_route(
            vigilmon_public::PublicDoc::openapi(),
        ))
        .merge(web::router())
        .merge(vigilmon_ui::router(state.front()))
        .merge(vigilmon_public::router(public.clone()))
        .layer(axum::middleware::from_fn_with_state(
            public.clone(),
            vigilmon_public::custom_domain,
        ))
        .layer(axum::middleware::from_fn_with_state(public, hosts::guard))
        .layer(axum::extract::DefaultBodyLimit::max(
            vigilmon_app::extract::MAX_BODY_BYTES,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Starts the engine, serves HTTP on `listener` until `shutdown` is cancelled, then
/// shuts down in order: stop accepting and finish requests in flight, then stop the
/// engine (scheduling, checks in flight, the last results, the last alerting step),
/// and close the store.
pub async fn run(
    listener: TcpListener,
    store: Store,
    opts: EngineOptions,
    front: Front,
    limits: Limits,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    run_with(listener, store, opts, front, limits, shutdown, |_| {}).await
}

/// [`run`], handing the engine to `started` once it runs and before the first
/// connection is taken (`serve` starts its config-file reloader there).
pub async fn run_with(
    listener: TcpListener,
    store: Store,
    opts: EngineOptions,
    front: Front,
    limits: Limits,
    shutdown: CancellationToken,
    started: impl FnOnce(Engine),
) -> Result<(), ServerError> {
    let (engine, tasks) = Engine::start(store, opts).await?;
    started(engine.clone());
    let served = conn::serve(
        listener,
        app(AppState::new(engine.clone(), front)),
        limits,
        shutdown,
    )
    .await;
    tasks.shutdown(engine).await;
    served.map_err(ServerError::from)
}
