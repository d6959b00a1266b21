//! Sessions, CSRF and the login rate limit.
//!
//! - The session cookie holds 256 random bits (hex); the store keeps only its SHA-256
//!   digest. Sessions slide: each use (at most once a minute) moves the expiry to
//!   [`IDLE`] from now, capped at [`ABSOLUTE`] after sign-in.
//! - Every state-changing form carries the session's CSRF token in `_csrf`; [`Posted`]
//!   checks it (in constant time) before the handler runs, and refuses a POST without
//!   it with 403. Forms shown before sign-in (setup, login) use a double-submit cookie
//!   instead ([`PublicPosted`]).
//! - POSTs and live endpoints also check `Origin` and `Sec-Fetch-Site` when the
//!   browser sends them: a request from another site is refused.
//! - Login attempts are limited per client IP ([`RateLimiter`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::{ConnectInfo, Form, FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use vigilmon_store::UserRecord;

use super::UiError;
use vigilmon_app::AppState;
use vigilmon_app::auth::hash_token;
pub(crate) use vigilmon_engine::limit::RateLimiter;

/// Name of the session cookie.
pub(crate) const SESSION_COOKIE: &str = "vigilmon_session";
/// Name of the pre-login CSRF cookie (double submit).
pub(crate) const CSRF_COOKIE: &str = "vigilmon_csrf";
/// Name of the CSRF field in every form.
pub(crate) const CSRF_FIELD: &str = "_csrf";
/// A session ends after this long unused.
pub(crate) const IDLE: Duration = Duration::from_secs(7 * 24 * 3600);
/// A session ends this long after sign-in, used or not.
pub(crate) const ABSOLUTE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Login attempts allowed per client per window (`server.sign_in_window`, a minute
/// unless configured).
pub(crate) const LOGIN_ATTEMPTS: u32 = 10;

/// The UI's own state: the sign-in limiter (per client address, at most
/// `server.tracked_clients` counted one by one; the rest share one budget).
pub(crate) struct UiState {
    pub limiter: RateLimiter<IpAddr>,
    /// A hash to verify against when the email is unknown, so that the answer takes
    /// as long as for a known one.
    dummy_hash: OnceLock<String>,
}

impl UiState {
    pub fn new(tracked_clients: usize, window: Duration) -> Self {
        Self {
            limiter: RateLimiter::with_capacity(LOGIN_ATTEMPTS, window, tracked_clients),
            dummy_hash: OnceLock::new(),
        }
    }

    pub fn dummy_hash(&self) -> String {
        self.dummy_hash
            .get_or_init(|| {
                vigilmon_app::auth::hash_password(&random_hex(16)).unwrap_or_else(|_| String::new())
            })
            .clone()
    }
}

/// A fixed-window counter per client IP.
/// `n` random bytes as hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len()
        && !a.is_empty()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name`, if sent.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure when served over https.
pub(crate) fn set_cookie(
    st: &AppState,
    name: &str,
    value: &str,
    max_age: Option<Duration>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    if st.public_url().starts_with("https://") {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub(crate) fn clear_cookie(st: &AppState, name: &str) -> HeaderValue {
    set_cookie(st, name, "", Some(Duration::ZERO))
}

/// The client's IP: the connection's peer, or what a trusted proxy forwarded
/// (`server.trusted_proxies`).
pub(crate) fn client_ip(st: &AppState, parts: &Parts) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    st.front().client_ip(peer, &parts.headers)
}

/// Refuses requests another site made the browser send: an `Origin` that is not this
/// server's (by `Host` or the public URL), or `Sec-Fetch-Site: cross-site`. Requests
/// without these headers (non-browser clients, same-origin GETs) pass.
pub(crate) fn check_origin(st: &AppState, headers: &HeaderMap) -> Result<(), UiError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(UiError::Forbidden(
            "this request came from another site and was refused".into(),
        ));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("null").trim_end_matches('/');
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let public = origin_of(st.public_url());
    let ok = origin != "null"
        && (origin == public.as_str()
            || (!host.is_empty()
                && (origin == format!("http://{host}") || origin == format!("https://{host}"))));
    if ok {
        Ok(())
    } else {
        Err(UiError::Forbidden(
            "this request came from another origin and was refused".into(),
        ))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let url = url.trim_end_matches('/');
    match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => url[..i + 3 + j].to_owned(),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A signed-in user, from the session cookie.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub user: UserRecord,
    pub csrf: String,
    pub id_hash: String,
    /// Why the config file as last read is not the one running, when it is not (every
    /// page says so at its top).
    pub config_problem: Option<String>,
    /// The viewer's time zone (see [`viewer_tz`]).
    pub tz: jiff::tz::TimeZone,
}

/// The viewer's time zone: the `vigilmon_tz` cookie the page script sets from the
/// browser, UTC without it (or when it names no zone).
pub(crate) fn viewer_tz(headers: &HeaderMap) -> jiff::tz::TimeZone {
    cookie(headers, "vigilmon_tz")
        .and_then(|name| jiff::tz::TimeZone::get(&name).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC)
}

impl Session {
    /// Viewers read; every other role may change things.
    pub fn can_write(&self) -> bool {
        self.user.role != "viewer"
    }

    /// Refuses a change to a viewer.
    pub fn require_write(&self) -> Result<(), UiError> {
        if self.can_write() {
            Ok(())
        } else {
            Err(UiError::Forbidden(
                "your account can view but not change anything (role viewer)".into(),
            ))
        }
    }

    /// Loads the session of this request, if its cookie names a live one.
    pub async fn load(parts: &Parts, st: &AppState) -> Result<Option<Session>, UiError> {
        let Some(raw) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        if raw.len() != 64 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let id_hash = hash_token(&raw);
        let now = st.now();
        let Some((rec, user)) = st.store().session_by_hash(&id_hash, now).await? else {
            return Ok(None);
        };
        if now.as_millisecond() - rec.last_seen_at.as_millisecond() > 60_000 {
            let store = st.store().clone();
            let hash = id_hash.clone();
            let expires = expiry(now, rec.created_at);
            tokio::spawn(async move {
                let _ = store.touch_session(&hash, now, expires).await;
            });
        }
        Ok(Some(Session {
            user,
            csrf: rec.csrf,
            id_hash,
            config_problem: st.front().config_status.problem(),
            tz: viewer_tz(&parts.headers),
        }))
    }

    /// Starts a session for `user`: stores it and returns the `Set-Cookie` header.
    pub async fn start(st: &AppState, user: &UserRecord) -> Result<HeaderValue, UiError> {
        let raw = random_hex(32);
        let now = st.now();
        st.store()
            .create_session(
                &hash_token(&raw),
                user.id,
                &random_hex(16),
                now,
                expiry(now, now),
            )
            .await?;
        // Sweep expired sessions now and then, off the request's path.
        if rand::random::<u8>() < 8 {
            let store = st.store().clone();
            tokio::spawn(async move {
                let _ = store.delete_expired_sessions(now).await;
            });
        }
        Ok(set_cookie(st, SESSION_COOKIE, &raw, Some(ABSOLUTE)))
    }
}

/// When a session used at `now` and started at `created` expires.
fn expiry(now: Timestamp, created: Timestamp) -> Timestamp {
    let idle = now
        .checked_add(SignedDuration::try_from(IDLE).unwrap_or(SignedDuration::ZERO))
        .unwrap_or(now);
    let cap = created
        .checked_add(SignedDuration::try_from(ABSOLUTE).unwrap_or(SignedDuration::ZERO))
        .unwrap_or(created);
    idle.min(cap)
}

/// Where to send someone who is not signed in: the setup page on a fresh server,
/// otherwise the login page (coming back here afterwards).
pub(crate) async fn to_sign_in(st: &AppState, back_to: &str) -> Response {
    match st.store().count_users().await {
        Ok(0) => Redirect::to("/setup").into_response(),
        Ok(_) => {
            let next = if back_to == "/" || !is_local_path(back_to) {
                String::new()
            } else {
                format!("?next={}", urlencode(back_to))
            };
            Redirect::to(&format!("/login{next}")).into_response()
        }
        Err(e) => UiError::from(e).into_response(),
    }
}

/// Whether `p` is a path on this server (not `//host` or a scheme).
/// (Printable ASCII only, so it is always a valid `Location` header.)
pub(crate) fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.starts_with("/\\")
        && !p.contains("://")
        && p.bytes().all(|b| (0x21..0x7f).contains(&b))
}

/// Percent-encodes everything but unreserved characters and `/`.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        match Session::load(parts, st).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) if parts.method == Method::GET => {
                let uri = parts
                    .extensions
                    .get::<OriginalUri>()
                    .map_or_else(|| parts.uri.clone(), |u| u.0.clone());
                let back = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                Err(to_sign_in(st, &back).await)
            }
            Ok(None) => Err(UiError::Forbidden(
                "you are not signed in (or your session ended); sign in and try again".into(),
            )
            .into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// A submitted form of a signed-in user, its CSRF token and origin checked.
pub(crate) struct Posted {
    pub session: Session,
    pub fields: Vec<(String, String)>,
}

impl Posted {
    /// The first value of `key`, trimmed (empty when absent).
    pub fn get(&self, key: &str) -> String {
        get_field(&self.fields, key)
    }

    /// A field as sent (not trimmed: passwords keep their spaces).
    pub fn raw(&self, key: &str) -> String {
        raw_field(&self.fields, key)
    }
}

pub(crate) fn raw_field(fields: &[(String, String)], key: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

pub(crate) fn get_field(fields: &[(String, String)], key: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, st).await?;
        check_origin(st, &parts.headers).map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(req, st)
            .await
            .map_err(|e| {
                UiError::BadRequest(format!("the form could not be read: {e}")).into_response()
            })?;
        let sent = get_field(&fields, CSRF_FIELD);
        if !same_secret(&sent, &session.csrf) {
            return Err(UiError::Forbidden(
                "the form's security token is missing or out of date; go back, reload the page and submit it again"
                    .into(),
            )
            .into_response());
        }
        Ok(Posted { session, fields })
    }
}

/// A submitted form before sign-in (setup, login): double-submit CSRF cookie, origin
/// checked, and the client IP for rate limiting.
pub(crate) struct PublicPosted {
    pub fields: Vec<(String, String)>,
    pub ip: IpAddr,
}

impl PublicPosted {
    pub fn get(&self, key: &str) -> String {
        get_field(&self.fields, key)
    }

    /// A field as sent (not trimmed: passwords keep their spaces).
    pub fn raw(&self, key: &str) -> String {
        raw_field(&self.fields, key)
    }
}

impl FromRequest<AppState> for PublicPosted {
    type Rejection = Response;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        check_origin(st, &parts.headers).map_err(IntoResponse::into_response)?;
        let ip = client_ip(st, &parts);
        let cookie_token = cookie(&parts.headers, CSRF_COOKIE).unwrap_or_default();
        let req = Request::from_parts(parts, body);
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(req, st)
            .await
            .map_err(|e| {
                UiError::BadRequest(format!("the form could not be read: {e}")).into_response()
            })?;
        if !same_secret(&get_field(&fields, CSRF_FIELD), &cookie_token) {
            return Err(UiError::Forbidden(
                "the form's security token is missing or out of date (cookies must be enabled); reload the page and try again"
                    .into(),
            )
            .into_response());
        }
        Ok(PublicPosted { fields, ip })
    }
}

/// The pre-login CSRF token of this browser, and the cookie to set when it has none.
pub(crate) fn public_csrf(st: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, CSRF_COOKIE).filter(|c| c.len() == 32) {
        Some(c) => (c, None),
        None => {
            let t = random_hex(16);
            let c = set_cookie(st, CSRF_COOKIE, &t, None);
            (t, Some(c))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn limiter_allows_ten_a_minute_per_ip() {
        let l = RateLimiter::new(10, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(l.allow(a, t0));
        }
        assert!(!l.allow(a, t0 + Duration::from_secs(59)));
        assert!(l.allow(b, t0), "another IP has its own budget");
        assert!(l.allow(a, t0 + Duration::from_secs(61)), "a new window");
    }

    #[test]
    fn cookies_and_secrets() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; vigilmon_session=abc ; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("", ""), "an empty token never matches");
        assert!(!same_secret("abc", "abcd"));
    }

    #[test]
    fn local_paths_only() {
        assert!(is_local_path("/monitors/1?x=2"));
        assert!(!is_local_path("//evil.example"));
        assert!(!is_local_path("/\\evil.example"));
        assert!(!is_local_path("https://evil.example/"));
        assert!(!is_local_path("monitors"));
        assert!(!is_local_path("/a\nLocation: x"), "no header injection");
        assert_eq!(urlencode("/a b?c=d"), "/a%20b%3Fc%3Dd");
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://x.example:8443/base/"),
            "https://x.example:8443"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }

    #[test]
    fn sessions_expire_idle_or_absolute() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(expiry(t0, t0), t0 + SignedDuration::from_hours(7 * 24));
        let late = t0 + SignedDuration::from_hours(29 * 24);
        assert_eq!(expiry(late, t0), t0 + SignedDuration::from_hours(30 * 24));
    }
}
