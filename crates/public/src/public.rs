//! The public, unauthenticated endpoints: the page (`/status/{slug}`, or `/` on the
//! page's own domain), its JSON (`/api/v1/public/status/{slug}`), its Atom feed, the
//! badges (`/badge/{badge_id}/…`) and the static assets. All are served from the render
//! cache with ETags.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use vigilmon_core::uptime::{Span, public_state};
use vigilmon_store::StoreError;

use crate::PublicState;
use crate::cache::Rendered;
use crate::{PageSnapshot, badge, feed, html};
use vigilmon_app::AppError;
use vigilmon_app::status_model::{self as model, window_ms};

/// `Cache-Control` of pages: short, so visitors see changes; shared caches may keep them.
const PAGE_CACHE: &str = "public, max-age=15, stale-while-revalidate=30";
const JSON_CACHE: &str = "public, max-age=15";
const FEED_CACHE: &str = "public, max-age=60";
const BADGE_CACHE: &str = "public, max-age=60, s-maxage=60";
const ASSET_CACHE: &str = "public, max-age=604800, immutable";

/// Security headers of the HTML page: no inline script, nothing framed from elsewhere
/// needed, images (the logo) from anywhere.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src https: http: data:; connect-src 'self'; base-uri 'none'; form-action 'none'";

/// Why a public representation could not be built.
pub(crate) enum Missing {
    /// No such page or badge.
    NotFound,
    Store(StoreError),
}

impl From<StoreError> for Missing {
    fn from(e: StoreError) -> Self {
        Missing::Store(e)
    }
}

/// Builds (or takes from the cache) everything a page serves.
pub(crate) async fn snapshot(
    st: &PublicState,
    slug: &str,
) -> Result<Option<Arc<PageSnapshot>>, StoreError> {
    let key = format!("page:{slug}");
    let built = st
        .status()
        .pages
        .get_or_build(&key, || async {
            let Some(rec) = st.store().get_status_page(slug).await? else {
                return Err(Missing::NotFound);
            };
            let now = st.now();
            let model = model::build(st.store(), &rec, now).await?;
            let json_body = serde_json::to_vec(&model).unwrap_or_default();
            let json = Rendered::new(json_body, "application/json", JSON_CACHE);
            let html = Rendered::new(
                html::page(&model, json.version()),
                "text/html; charset=utf-8",
                PAGE_CACHE,
            );
            let atom = Rendered::new(
                feed::atom(&model, st.public_url(), rec.updated_at),
                "application/atom+xml; charset=utf-8",
                FEED_CACHE,
            );
            Ok(PageSnapshot {
                html,
                json,
                feed: atom,
            })
        })
        .await;
    match built {
        Ok(s) => Ok(Some(s)),
        Err(Missing::NotFound) => Ok(None),
        Err(Missing::Store(e)) => Err(e),
    }
}

fn with_page_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn page_not_found() -> Response {
    with_page_headers(
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html::not_found(),
        )
            .into_response(),
    )
}

fn unavailable(e: &StoreError) -> Response {
    tracing::error!(message = "status page failed", error = %e);
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "10")],
        "the status page is unavailable right now",
    )
        .into_response()
}

pub(crate) async fn serve_html(st: &PublicState, slug: &str, headers: &HeaderMap) -> Response {
    match snapshot(st, slug).await {
        Ok(Some(s)) => with_page_headers(s.html.respond(headers)),
        Ok(None) => page_not_found(),
        Err(e) => unavailable(&e),
    }
}

pub(crate) async fn serve_feed(st: &PublicState, slug: &str, headers: &HeaderMap) -> Response {
    match snapshot(st, slug).await {
        Ok(Some(s)) => s.feed.respond(headers),
        Ok(None) => (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(e) => unavailable(&e),
    }
}

/// `GET /status/{slug}`: the page.
pub async fn page(
    State(st): State<PublicState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve_html(&st, &slug, &headers).await
}

/// `GET /status/{slug}/feed.atom`: the incidents feed.
pub async fn atom(
    State(st): State<PublicState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve_feed(&st, &slug, &headers).await
}

/// The public JSON of a status page: what the page shows, as data.
#[utoipa::path(get, path = "/api/v1/public/status/{slug}", tag = "status pages",
    params(("slug" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "The page's banner, sections with each monitor's public name, state, uptime figures and 90 daily figures, active incidents with public updates, maintenance and incident history", content_type = "application/json"),
        (status = 304, description = "Not modified (If-None-Match)"), (status = 404, body = vigilmon_app::error::ErrorBody)))]
pub async fn json(
    State(st): State<PublicState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    match snapshot(&st, &slug).await {
        Ok(Some(s)) => {
            let mut r = s.json.respond(&headers);
            r.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            r
        }
        Ok(None) => AppError::NotFound(format!("no status page {slug:?}")).into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}

/// `GET /status-assets/{file}`: the stylesheet and the script.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    use std::sync::OnceLock;
    static CSS: OnceLock<Rendered> = OnceLock::new();
    static JS: OnceLock<Rendered> = OnceLock::new();
    let r = match file.as_str() {
        "status.css" => {
            CSS.get_or_init(|| Rendered::new(html::CSS, "text/css; charset=utf-8", ASSET_CACHE))
        }
        "status.js" => JS
            .get_or_init(|| Rendered::new(html::JS, "text/javascript; charset=utf-8", ASSET_CACHE)),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    r.respond(&headers)
}

#[derive(Deserialize)]
pub struct BadgeQuery {
    window: Option<String>,
}

/// `GET /badge/{badge_id}/{kind}.svg`: `status`, `uptime` (`?window=24h|7d|30d|90d`,
/// default 30d) or `response` (`?window=`, default 24h).
pub async fn badge(
    State(st): State<PublicState>,
    Path((id, file)): Path<(String, String)>,
    Query(q): Query<BadgeQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(kind) = file.strip_suffix(".svg") else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let default = if kind == "uptime" { "30d" } else { "24h" };
    let window = q.window.as_deref().unwrap_or(default);
    if !matches!(kind, "status" | "uptime" | "response") || window_ms(window).is_none() {
        return (
            StatusCode::NOT_FOUND,
            "not found: /badge/{id}/status.svg, uptime.svg?window=24h|7d|30d|90d or response.svg",
        )
            .into_response();
    }
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let key = format!("badge:{id}:{kind}:{window}");
    let built = st
        .status()
        .badges
        .get_or_build(&key, || build_badge(&st, &id, kind, window))
        .await;
    match built {
        Ok(r) => r.respond(&headers),
        Err(Missing::NotFound) => (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(Missing::Store(e)) => unavailable(&e),
    }
}

/// A badge; [`Missing::NotFound`] when the id names no monitor on a status page.
async fn build_badge(
    st: &PublicState,
    id: &str,
    kind: &str,
    window: &str,
) -> Result<Rendered, Missing> {
    let store = st.store();
    let monitor_id = store.monitor_by_badge(id).await?.ok_or(Missing::NotFound)?;
    let m = store
        .get_monitor(monitor_id)
        .await?
        .ok_or(Missing::NotFound)?;
    // Only monitors on a status page have public badges; the label is the public name
    // on the first page (by slug) that shows the monitor.
    let label = store
        .list_status_pages()
        .await?
        .iter()
        .find_map(|p| {
            p.config
                .monitors()
                .find(|e| e.name() == m.config.name)
                .map(|e| e.public_name().to_owned())
        })
        .ok_or(Missing::NotFound)?;
    let now = st.now();
    let now_ms = now.as_millisecond();
    let svg = match kind {
        "status" => {
            let state = model::public_state_of(store, &m, now).await?;
            let (key, _) = public_state(state);
            badge::svg(&label, &key.replace('_', " "), badge::state_color(key))
        }
        "uptime" => {
            let w = window_ms(window).unwrap_or(30 * 86_400_000);
            let (u, _) = model::uptime_of(store, &m, Span::new(now_ms - w, now_ms), now).await?;
            let value = u.percent_text().unwrap_or_else(|| "no data".into());
            badge::svg(
                &format!("uptime {window}"),
                &value,
                badge::uptime_color(u.milli_percent()),
            )
        }
        _ => {
            let w = window_ms(window).unwrap_or(86_400_000);
            let hour = now_ms - now_ms.rem_euclid(3_600_000);
            let mut ms = model::response_times(store, &[m.id], hour - w, hour)
                .await?
                .get(&m.id)
                .copied();
            if ms.is_none() {
                // No hour rolled up yet (a new monitor): the checks so far say something.
                ms = recent_mean_ms(store, m.id, now).await?;
            }
            let value = ms.map_or_else(|| "no data".to_owned(), |v| format!("{v} ms"));
            badge::svg(
                &format!("response {window}"),
                &value,
                badge::response_color(ms),
            )
        }
    };
    Ok(Rendered::new(svg, "image/svg+xml", BADGE_CACHE))
}

/// The mean response time of a monitor's checks in the last hour, from the raw results
/// (at most the newest 1,000), for the time before its first hourly rollup.
async fn recent_mean_ms(
    store: &vigilmon_store::Store,
    id: vigilmon_core::MonitorId,
    now: jiff::Timestamp,
) -> Result<Option<u64>, StoreError> {
    let results = store
        .list_results(
            id,
            &vigilmon_store::ResultFilter {
                since: Some(now - jiff::SignedDuration::from_hours(1)),
                limit: vigilmon_store::MAX_RESULT_LIMIT,
                ..Default::default()
            },
        )
        .await?;
    let n = results.len() as u64;
    Ok((n > 0).then(|| results.iter().map(|r| r.result.duration_ms).sum::<u64>() / n))
}

/// The normalised host a request was sent to.
fn request_host(headers: &HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .map(vigilmon_core::status_page::normalize_host)
}

/// Serves a status page on its own domain: a `GET` of `/` whose `Host` is a page's
/// `domain` gets that page; every other request passes through.
pub async fn custom_domain(State(st): State<PublicState>, req: Request, next: Next) -> Response {
    if !(req.method() == Method::GET || req.method() == Method::HEAD) || req.uri().path() != "/" {
        return next.run(req).await;
    }
    let Some(host) = request_host(req.headers(), req.uri()) else {
        return next.run(req).await;
    };
    // The server's own host is never a page's, whatever a page (say, one from the
    // config file) claims.
    if host == st.public_host() {
        return next.run(req).await;
    }
    match st.status().slug_for_domain(st.store(), &host).await {
        Some(slug) => serve_html(&st, &slug, req.headers()).await,
        None => next.run(req).await,
    }
}

/// `GET /feed.atom` on a page's own domain: its feed.
pub async fn domain_feed(
    State(st): State<PublicState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let slug = match request_host(&headers, &uri) {
        Some(host) => st.status().slug_for_domain(st.store(), &host).await,
        None => None,
    };
    match slug {
        Some(slug) => serve_feed(&st, &slug, &headers).await,
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
