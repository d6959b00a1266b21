//! Vigilmon's public surface, served without login: status pages (PRODUCT.md section
//! 7) at `/status/{slug}` and at `/` of a page's own domain, their JSON, Atom feeds and
//! SVG badges; the Healthchecks-compatible ping URLs; and the page behind signed
//! acknowledge links.
//!
//! - `vigilmon_app::status_model` computes what a page publishes (and nothing else);
//! - [`html`], [`feed`] and [`badge`] render it; [`cache`] keeps each rendering until
//!   the engine's change feed moves or [`cache::MAX_AGE`] passes, and answers
//!   `If-None-Match` with `304`;
//! - [`public`] holds the status page endpoints, [`ping`] the ping URLs, [`links`] the
//!   acknowledge page.
//!
//! Its handlers see [`PublicState`]: the application state plus the render caches.

pub mod badge;
pub mod cache;
pub mod feed;
pub mod html;
pub mod links;
pub mod ping;
pub mod public;

#[cfg(test)]
mod model_tests;

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;
use vigilmon_app::AppState;
use vigilmon_engine::ChangeFeed;
use vigilmon_store::Store;

use cache::{Cache, Rendered};

pub use public::custom_domain;

/// The state of the public handlers: the application state and the render caches.
/// Cheap to clone.
#[derive(Clone)]
pub struct PublicState {
    app: AppState,
    status: Arc<StatusState>,
}

impl PublicState {
    pub fn new(app: AppState) -> Self {
        let status = Arc::new(StatusState::new(
            app.changes().clone(),
            app.front().status_cache_entries,
        ));
        Self { app, status }
    }

    /// Status pages: render caches and the custom-domain map.
    pub fn status(&self) -> &StatusState {
        &self.status
    }
}

impl Deref for PublicState {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.app
    }
}

/// The OpenAPI description of the public JSON endpoint (merged into the API's).
#[derive(OpenApi)]
#[openapi(paths(public::json))]
pub struct PublicDoc;

/// Everything one page serves, rendered from one model.
pub struct PageSnapshot {
    pub html: Rendered,
    pub json: Rendered,
    pub feed: Rendered,
}

/// How long the custom-domain map is trusted (other servers may change pages).
const DOMAIN_MAP_AGE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct DomainMap {
    /// Normalised domain → slug.
    map: HashMap<String, String>,
    loaded: Option<(u64, Instant)>,
}

impl DomainMap {
    fn fresh(&self, generation: u64) -> bool {
        self.loaded
            .is_some_and(|(g, at)| g == generation && at.elapsed() < DOMAIN_MAP_AGE)
    }
}

/// The status pages' shared state: render caches and the custom-domain map, all
/// invalidated by the engine's change feed.
pub struct StatusState {
    pub(crate) pages: Cache<PageSnapshot>,
    pub(crate) badges: Cache<Rendered>,
    domains: tokio::sync::RwLock<DomainMap>,
    changes: ChangeFeed,
}

impl StatusState {
    pub fn new(changes: ChangeFeed, cache_entries: usize) -> Self {
        Self {
            pages: Cache::new(changes.clone(), cache_entries),
            badges: Cache::new(changes.clone(), cache_entries),
            domains: tokio::sync::RwLock::default(),
            changes,
        }
    }

    /// Whether `host` (normalised) is a status page's own domain.
    pub async fn is_page_domain(&self, store: &Store, host: &str) -> bool {
        self.slug_for_domain(store, host).await.is_some()
    }

    /// The slug of the page that answers on `host` (normalised), if any.
    pub(crate) async fn slug_for_domain(&self, store: &Store, host: &str) -> Option<String> {
        {
            let d = self.domains.read().await;
            if d.fresh(self.changes.generation()) {
                return d.map.get(host).cloned();
            }
        }
        let mut d = self.domains.write().await;
        if !d.fresh(self.changes.generation()) {
            let generation = self.changes.generation();
            match store.list_status_pages().await {
                Ok(pages) => {
                    d.map = pages
                        .into_iter()
                        .filter_map(|p| p.config.normalized_domain().map(|dom| (dom, p.slug)))
                        .collect();
                }
                Err(e) => {
                    tracing::warn!(message = "could not load status page domains", error = %e)
                }
            }
            d.loaded = Some((generation, Instant::now()));
        }
        d.map.get(host).cloned()
    }
}

/// Every public route (status pages, their JSON, feeds, badges and assets; ping URLs;
/// acknowledge links), with its state applied.
pub fn router(state: PublicState) -> Router<AppState> {
    Router::new()
        .route("/status/{slug}", get(public::page))
        .route("/status/{slug}/feed.atom", get(public::atom))
        .route("/feed.atom", get(public::domain_feed))
        .route("/status-assets/{file}", get(public::asset))
        .route("/badge/{id}/{file}", get(public::badge))
        .route("/api/v1/public/status/{slug}", get(public::json))
        .merge(ping::router())
        .merge(links::router())
        .with_state(state)
}
