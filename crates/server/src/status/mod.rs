//! Public status pages (PRODUCT.md section 7): pages declared in the config file or
//! made through the API, served without login at `/status/{slug}` (and at `/` of a
//! page's own domain), with their JSON, an Atom feed of incidents, SVG badges per
//! monitor, exact uptime figures and the rollups behind response times.
//!
//! - [`model`] computes what a page publishes (and nothing else) from the store;
//! - [`html`], [`feed`] and [`badge`] render it; [`cache`] keeps each rendering until
//!   something it shows changes ([`touch`]) or [`cache::MAX_AGE`] passes, and answers
//!   `If-None-Match` with `304`;
//! - [`public`] holds the unauthenticated endpoints, [`api`] the authenticated ones
//!   (`/api/v1/status-pages`, uptime, rollups, public incident updates);
//! - rollups per hour and day are made by the engine (`vigilmon_engine::rollup`).

pub mod api;
pub mod badge;
pub mod cache;
pub mod feed;
pub mod html;
pub mod model;
pub mod public;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use vigilmon_store::Store;

use cache::{Cache, Rendered};
use vigilmon_engine::ChangeFeed;

use crate::AppState;

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
    pub fn new(changes: ChangeFeed) -> Self {
        Self {
            pages: Cache::new(changes.clone()),
            badges: Cache::new(changes.clone()),
            domains: tokio::sync::RwLock::default(),
            changes,
        }
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

/// The status page routes: public pages, JSON, feeds, badges and assets, and the
/// `/api/v1` endpoints for pages, uptime, rollups and public incident updates.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/status/{slug}", get(public::page))
        .route("/status/{slug}/feed.atom", get(public::atom))
        .route("/feed.atom", get(public::domain_feed))
        .route("/status-assets/{file}", get(public::asset))
        .route("/badge/{id}/{file}", get(public::badge))
        .route("/api/v1/public/status/{slug}", get(public::json))
        .route("/api/v1/status-pages", get(api::list).post(api::create))
        .route(
            "/api/v1/status-pages/{slug}",
            get(api::get).put(api::put).delete(api::delete),
        )
        .route("/api/v1/monitors/{id}/uptime", get(api::uptime))
        .route("/api/v1/monitors/{id}/rollups", get(api::rollups))
        .route(
            "/api/v1/incidents/{id}/updates",
            get(api::list_updates).post(api::add_update),
        )
}
