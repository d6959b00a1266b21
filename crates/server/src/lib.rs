//! Vigilmon's HTTP front: the REST API, the web UI, status pages, ping URLs and the
//! agent endpoints, over the engine's handles (`vigilmon_engine`).
//!
//! The binary opens the store and binds the socket; [`run`] takes both (the caller
//! binds, so tests use port 0), starts the engine and serves until the shutdown token
//! is cancelled, then stops the engine in order and returns.

pub mod api;
pub mod auth;
mod links;
mod ping;
pub mod status;
pub mod ui;
mod web;

use std::sync::Arc;

use axum::Router;
use jiff::Timestamp;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use vigilmon_core::RegionName;
use vigilmon_engine::recorder::RecorderHandle;
use vigilmon_engine::{ChangeFeed, Engine, EngineError, EngineOptions};
use vigilmon_probe::Prober;
use vigilmon_schedule::scheduler::SchedulerHandle;
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

/// Shared state of the HTTP handlers: the engine's handles and the status pages'
/// caches. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    engine: Engine,
    status: Arc<status::StatusState>,
}

impl AppState {
    pub fn new(engine: Engine) -> Self {
        let status = Arc::new(status::StatusState::new(engine.changes().clone()));
        Self { engine, status }
    }
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
    pub fn store(&self) -> &Store {
        self.engine.store()
    }
    pub fn prober(&self) -> &Prober {
        self.engine.prober()
    }
    pub fn scheduler(&self) -> &SchedulerHandle {
        self.engine.scheduler()
    }
    pub fn recorder(&self) -> &RecorderHandle {
        self.engine.recorder()
    }
    pub fn alerting(&self) -> &vigilmon_engine::alerting::AlertingHandle {
        self.engine.alerting()
    }
    pub fn notifier(&self) -> &vigilmon_notify::Notifier {
        self.engine.notifier()
    }
    pub(crate) fn link_secret(&self) -> &[u8] {
        self.engine.link_secret()
    }
    pub fn agents(&self) -> &vigilmon_engine::agents::Agents {
        self.engine.agents()
    }
    /// Whether the built-in probe runs checks.
    pub fn local_probe(&self) -> bool {
        self.engine.local_probe()
    }
    /// Regions declared in the config file.
    pub fn declared_regions(&self) -> &[RegionName] {
        self.engine.declared_regions()
    }
    pub fn heartbeats(&self) -> &vigilmon_engine::heartbeats::HeartbeatHandle {
        self.engine.heartbeats()
    }
    /// The ping URL of a heartbeat token.
    pub fn ping_url(&self, token: &str) -> String {
        format!("{}/ping/{token}", self.engine.public_url())
    }
    /// The slug ping URL of a heartbeat monitor.
    pub fn slug_ping_url(&self, slug: &str) -> String {
        format!(
            "{}/ping/{}/{slug}",
            self.engine.public_url(),
            self.engine.heartbeats().ping_key()
        )
    }
    pub fn metrics(&self) -> &PrometheusHandle {
        self.engine.metrics()
    }
    pub fn now(&self) -> Timestamp {
        self.engine.now()
    }
    pub fn public_url(&self) -> &str {
        self.engine.public_url()
    }
    /// The engine's feed of public changes.
    pub fn changes(&self) -> &ChangeFeed {
        self.engine.changes()
    }
    /// Status pages: render caches and the custom-domain map.
    pub fn status(&self) -> &status::StatusState {
        &self.status
    }
    pub fn region(&self) -> &RegionName {
        self.engine.region()
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    api::router()
        .merge(web::router())
        .merge(ui::router())
        .merge(ping::router())
        .merge(links::router())
        .merge(status::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            status::public::custom_domain,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            api::extract::MAX_BODY_BYTES,
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
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let (engine, tasks) = Engine::start(store, opts).await?;
    let served = axum::serve(
        listener,
        app(AppState::new(engine.clone()))
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await;
    tasks.shutdown(engine).await;
    served.map_err(ServerError::from)
}
