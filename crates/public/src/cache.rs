//! The render cache of public status endpoints, and their HTTP caching.
//!
//! Each public representation (a page's HTML, its JSON, its feed, a badge) is rendered
//! once and kept, with its ETag and a gzip copy, until something it shows may have
//! changed: a monitor's state, an incident, a public update or a page's config moves
//! the engine's change feed (`vigilmon_engine::ChangeFeed`) to a new *generation*,
//! and an entry also expires after [`MAX_AGE`] (figures like "today so far" move with
//! time, and other servers on the same PostgreSQL do not move this process's feed). A burst of requests for an
//! entry being rebuilt waits for that one build instead of building in parallel.
//!
//! Responses carry a weak ETag (one for both the plain and the gzip body) and
//! `Cache-Control`; `If-None-Match` with the current ETag gets `304 Not Modified`
//! with no body, so a crowd refreshing during an outage costs a hash-map lookup each.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use vigilmon_engine::ChangeFeed;

/// The longest an entry is served before it is rebuilt.
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// Bodies shorter than this are not compressed.
const GZIP_MIN_BYTES: usize = 1024;

/// A rendered representation, ready to serve.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: Bytes,
    /// The body compressed, when worth it.
    pub gzip: Option<Bytes>,
    /// Weak ETag, with quotes: `W/"…"`.
    pub etag: String,
    pub content_type: &'static str,
    pub cache_control: &'static str,
    pub status: StatusCode,
}

impl Rendered {
    /// Hashes and (when large enough) compresses `body`.
    pub fn new(
        body: impl Into<Bytes>,
        content_type: &'static str,
        cache_control: &'static str,
    ) -> Self {
        let body = body.into();
        let digest = Sha256::digest(&body);
        let etag = format!("W/\"{}\"", hex::encode(&digest[..12]));
        let gzip = (body.len() >= GZIP_MIN_BYTES)
            .then(|| gzip(&body))
            .flatten();
        Rendered {
            body,
            gzip,
            etag,
            content_type,
            cache_control,
            status: StatusCode::OK,
        }
    }

    /// The bare hash part of the ETag (no `W/`, no quotes).
    pub fn version(&self) -> &str {
        self.etag.trim_start_matches("W/").trim_matches('"')
    }

    /// The response to a request with `headers`: `304` when its `If-None-Match`
    /// matches, else the body (gzip when accepted).
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let mut resp = if self.status == StatusCode::OK && not_modified(headers, &self.etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let use_gzip = self.gzip.is_some() && accepts_gzip(headers);
            let body = match (&self.gzip, use_gzip) {
                (Some(z), true) => z.clone(),
                _ => self.body.clone(),
            };
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = self.status;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
            if use_gzip {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        };
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(self.cache_control),
        );
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        resp
    }
}

fn gzip(body: &[u8]) -> Option<Bytes> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    enc.write_all(body).ok()?;
    enc.finish().ok().map(Bytes::from)
}

/// Whether `Accept-Encoding` allows gzip (present, and not `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

/// Weak comparison of `If-None-Match` with `etag` (RFC 9110 13.1.2).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let ours = opaque(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || opaque(t) == ours)
}

struct Entry<T> {
    rendered: Arc<T>,
    generation: u64,
    built: Instant,
}

impl<T> Entry<T> {
    fn fresh(&self, generation: u64) -> bool {
        self.generation == generation && self.built.elapsed() < MAX_AGE
    }
}

/// Built values by key (a page's representations by slug, badges by id and kind).
pub struct Cache<T> {
    entries: Mutex<HashMap<String, Entry<T>>>,
    /// One build lock per key being built, so a burst builds once.
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    changes: ChangeFeed,
    /// Most entries kept (`server.status_cache_entries`); when full, the stale ones
    /// go, and if none is stale, all.
    capacity: usize,
}

impl<T> Cache<T> {
    /// An empty cache of at most `capacity` entries, which go stale when `changes`
    /// moves.
    pub fn new(changes: ChangeFeed, capacity: usize) -> Self {
        Cache {
            entries: Mutex::default(),
            building: Mutex::default(),
            changes,
            capacity: capacity.max(1),
        }
    }

    fn lookup(&self, key: &str) -> Option<Arc<T>> {
        let generation = self.changes.generation();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| e.fresh(generation))
            .map(|e| e.rendered.clone())
    }

    /// The fresh entry for `key`, or the one `build` makes (stored unless it failed).
    /// Concurrent callers for the same key wait for one build.
    pub async fn get_or_build<F, Fut, E>(&self, key: &str, build: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        if let Some(r) = self.lookup(key) {
            return Ok(r);
        }
        let lock = {
            let mut b = self.building.lock().unwrap_or_else(|e| e.into_inner());
            b.entry(key.to_owned()).or_default().clone()
        };
        let _guard = lock.lock().await;
        // Someone else may have built it while we waited.
        if let Some(r) = self.lookup(key) {
            return Ok(r);
        }
        let generation = self.changes.generation();
        let result = build().await;
        {
            let mut b = self.building.lock().unwrap_or_else(|e| e.into_inner());
            b.remove(key);
        }
        let rendered = Arc::new(result?);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            let now = self.changes.generation();
            entries.retain(|_, e| e.fresh(now));
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            key.to_owned(),
            Entry {
                rendered: rendered.clone(),
                // The generation seen *before* building: a change during the build
                // makes the entry stale at once.
                generation,
                built: Instant::now(),
            },
        );
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn conditional_and_gzip() {
        let r = Rendered::new(
            "x".repeat(5000),
            "text/html; charset=utf-8",
            "public, max-age=15",
        );
        assert!(r.etag.starts_with("W/\""));
        let resp = r.respond(&headers(&[("if-none-match", &r.etag)]));
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(resp.headers()[header::ETAG], r.etag.as_str());
        let strong = format!("\"{}\"", r.version());
        let resp = r.respond(&headers(&[(
            "if-none-match",
            &format!("\"nope\", {strong}"),
        )]));
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "weak comparison");
        let resp = r.respond(&headers(&[("if-none-match", "\"other\"")]));
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
        let resp = r.respond(&headers(&[("accept-encoding", "br, gzip;q=0.8")]));
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        let resp = r.respond(&headers(&[("accept-encoding", "gzip;q=0")]));
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
        assert!(
            Rendered::new("small", "text/plain", "no-cache")
                .gzip
                .is_none()
        );
    }

    #[tokio::test]
    async fn builds_once_until_touched() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let changes = ChangeFeed::new();
        let cache: Cache<Rendered> = Cache::new(changes.clone(), 100);
        let builds = AtomicU64::new(0);
        let build = || async {
            builds.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(Rendered::new("body", "text/plain", "no-cache"))
        };
        let a = cache.get_or_build("k", build).await.unwrap();
        let b = cache.get_or_build("k", build).await.unwrap();
        assert_eq!(a.etag, b.etag);
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        changes.publish();
        cache.get_or_build("k", build).await.unwrap();
        assert_eq!(builds.load(Ordering::SeqCst), 2);
        assert!(
            cache
                .get_or_build("e", || async { Err::<Rendered, _>("no") })
                .await
                .is_err()
        );
    }
}
