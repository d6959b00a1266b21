//! The application layer of Vigilmon's HTTP front, shared by the JSON API
//! (`vigilmon-api`), the web UI (`vigilmon-ui`) and the public surface
//! (`vigilmon-public`):
//!
//! - [`AppState`]: the engine's handles, as every handler sees them, and the front's
//!   settings ([`front`]: hosts answered, trusted proxies, the setup code, bounds);
//! - [`auth`]: tokens, passwords, scopes, and the bearer-token [`extract::Caller`];
//! - the steps that change things — [`monitors`], [`channels`] (and policies),
//!   [`maintenance`], [`incidents`], [`status_pages`], [`tokens`] — each validating,
//!   writing through the store and telling the engine, so that a change made in the UI
//!   has exactly the effects of the same change made through the API;
//! - the views that show things ([`views`], [`regions`], [`status_model`]): what the
//!   API returns as JSON and the UI renders as pages;
//! - [`AppError`], the one error type of all of it, which renders as the API's JSON
//!   error body (the UI turns it into a page instead).
//!
//! Architecture invariant: nothing here renders HTML; nothing in the front crates
//! writes to the store except through these steps (reads may go to the store) — but
//! for what only the UI has: its users, sessions and passwords (`vigilmon-ui`).

pub mod as_code;
pub mod auth;
pub mod channels;
pub mod error;
pub mod extract;
pub mod front;
pub mod incidents;
pub mod maintenance;
pub mod monitors;
pub mod nodes;
pub mod redis;
pub mod regions;
pub mod status_model;
pub mod status_pages;
pub mod tokens;
pub mod views;

use jiff::Timestamp;
use metrics_exporter_prometheus::PrometheusHandle;
use vigilmon_core::RegionName;
use vigilmon_engine::{ChangeFeed, Engine};
use vigilmon_probe::Prober;
use vigilmon_store::Store;

pub use error::AppError;

/// Shared state of the HTTP handlers: the engine's handles and the front's settings.
/// Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    engine: Engine,
    front: std::sync::Arc<front::Front>,
    agent_batches: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Agent result batches read and decoded at once. The others wait their turn with
/// their bodies unread, so the memory agents can take is bounded whatever their
/// number (a full batch is up to 4 MiB of JSON).
pub const AGENT_BATCHES_AT_ONCE: usize = 4;

impl AppState {
    pub fn new(engine: Engine, front: front::Front) -> Self {
        Self {
            engine,
            front: std::sync::Arc::new(front),
            agent_batches: std::sync::Arc::new(tokio::sync::Semaphore::new(AGENT_BATCHES_AT_ONCE)),
        }
    }
    /// Turns to read an agent's result batch ([`AGENT_BATCHES_AT_ONCE`]).
    pub fn agent_batches(&self) -> &tokio::sync::Semaphore {
        &self.agent_batches
    }
    /// How the front meets clients: hosts, proxies, the setup code, bounds.
    pub fn front(&self) -> &front::Front {
        &self.front
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
    pub fn recorder(&self) -> vigilmon_engine::Recorder<'_> {
        self.engine.recorder()
    }
    pub fn alerting(&self) -> vigilmon_engine::Alerting<'_> {
        self.engine.alerting()
    }
    pub fn notifier(&self) -> &vigilmon_notify::Notifier {
        self.engine.notifier()
    }
    /// The secret that signs acknowledge links.
    pub fn link_secret(&self) -> &[u8] {
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
    pub fn heartbeats(&self) -> vigilmon_engine::Heartbeats<'_> {
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
    /// The host name of the public URL, normalised (no port, lower case).
    pub fn public_host(&self) -> String {
        let rest = self
            .public_url()
            .split_once("://")
            .map_or(self.public_url(), |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        vigilmon_core::status_page::normalize_host(host)
    }
    /// The engine's feed of public changes.
    pub fn changes(&self) -> &ChangeFeed {
        self.engine.changes()
    }
    /// The built-in probe's region.
    pub fn region(&self) -> &RegionName {
        self.engine.region()
    }
}
