//! The public ping endpoints, compatible with the Healthchecks.io ping protocol, and
//! the Uptime Kuma push form. No login: the token in the URL is the credential.
//!
//! | request | meaning |
//! |---|---|
//! | `GET/POST/HEAD /ping/{token}` | success |
//! | `/ping/{token}/start`, `/fail`, `/log`, `/{0-255}` | started, failed, log only, exit status |
//! | `/ping/{ping_key}/{slug}[/…]` | the same by slug; `?create=1` creates the monitor |
//! | `?rid=<uuid>` | run id pairing start and finish |
//! | `/api/push/{token}?status=up|down&msg=…&ping=…` | Uptime Kuma push |
//!
//! Answers: `200 OK`, `201 Created` (auto-created), `404 not found`,
//! `403 auto-create limit reached` (`server.ping_auto_create_limit` monitors made by
//! pings exist), `400 invalid url format`, `429 rate limited` (more than `server.ping_rate_limit`
//! requests for one monitor within a minute; with `Retry-After`). A request for a
//! token that cannot exist (wrong length or alphabet), an unknown token or slug, or a
//! wrong ping key is answered `404` before anything about it is kept: the rate limit
//! counts monitors, never the strings clients send. Tokens are looked up by hash-map
//! key and the ping key compared in constant time (nothing leaks how much matched).

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::json;
use vigilmon_core::heartbeat::PingKind;

use crate::PublicState;
use vigilmon_engine::heartbeats::{Admission, MAX_PING_BODY, Ping, PingReply, PingTarget};

pub fn router() -> Router<PublicState> {
    Router::new()
        .route("/ping/{a}", any(ping1))
        .route("/ping/{a}/{b}", any(ping2))
        .route("/ping/{a}/{b}/{c}", any(ping3))
        .route("/api/push/{token}", any(kuma_push))
}

/// The answer to a request over the rate limit.
fn limited(retry_after: std::time::Duration, json_body: bool) -> Response {
    let mut res = if json_body {
        (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"ok": false, "msg": "rate limited"})),
        )
            .into_response()
    } else {
        text(StatusCode::TOO_MANY_REQUESTS, "rate limited")
    };
    res.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(retry_after.as_secs().max(1)),
    );
    res
}

#[derive(Deserialize, Default)]
struct PingQuery {
    rid: Option<String>,
    create: Option<String>,
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn invalid() -> Response {
    text(StatusCode::BAD_REQUEST, "invalid url format")
}

/// Uptime Kuma's answer for a push token it does not know.
fn kuma_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"ok": false, "msg": "Monitor not found or not active."})),
    )
        .into_response()
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "not found")
}

/// What the last path segment asks for.
enum Action {
    Kind(PingKind, Option<u8>),
    /// A number over 255.
    BadExitStatus,
    Unknown,
}

fn action(seg: &str) -> Action {
    match seg {
        "start" => Action::Kind(PingKind::Start, None),
        "fail" => Action::Kind(PingKind::Fail, None),
        "log" => Action::Kind(PingKind::Log, None),
        s if !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()) => {
            match s.parse::<u32>() {
                Ok(n) if n <= 255 => Action::Kind(PingKind::Success, Some(n as u8)),
                _ => Action::BadExitStatus,
            }
        }
        _ => Action::Unknown,
    }
}

struct Request {
    method: Method,
    headers: HeaderMap,
    peer: SocketAddr,
    body: Body,
}

/// Why a ping URL is refused before anything is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `400 invalid url format`.
    Invalid,
    /// `404 not found`.
    NotFound,
}

/// What a ping URL's path asks for, from its segments after `/ping/` (one to three):
/// `{token}`, `{token}/{action}`, `{ping_key}/{slug}` and `{ping_key}/{slug}/{action}`.
/// `create` is `?create=1`; `is_ping_key` tells the workspace's ping key.
fn route(
    segments: Vec<String>,
    create: bool,
    is_ping_key: impl Fn(&str) -> bool,
) -> Result<(PingTarget, PingKind, Option<u8>), Refusal> {
    let acting = |target, seg: &str| match action(seg) {
        Action::Kind(kind, code) => Ok((target, kind, code)),
        Action::BadExitStatus => Err(Refusal::Invalid),
        Action::Unknown => Err(Refusal::NotFound),
    };
    let mut segments = segments.into_iter();
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(token), None, None, None) => Ok((PingTarget::Token(token), PingKind::Success, None)),
        (Some(key), Some(slug), None, None) if is_ping_key(&key) => Ok((
            PingTarget::Slug { key, slug, create },
            PingKind::Success,
            None,
        )),
        (Some(token), Some(seg), None, None) => acting(PingTarget::Token(token), &seg),
        (Some(key), Some(slug), Some(seg), None) => {
            acting(PingTarget::Slug { key, slug, create }, &seg)
        }
        _ => Err(Refusal::NotFound),
    }
}

/// Answers a ping URL given its path segments after `/ping/`.
async fn ping(st: &PublicState, segments: Vec<String>, q: PingQuery, req: Request) -> Response {
    let create = q.create.as_deref() == Some("1");
    match route(segments, create, |s| st.heartbeats().is_ping_key(s)) {
        Ok((target, kind, code)) => handle(st, target, kind, code, q, req).await,
        Err(Refusal::Invalid) => invalid(),
        Err(Refusal::NotFound) => not_found(),
    }
}

async fn ping1(
    State(st): State<PublicState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    Query(q): Query<PingQuery>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let req = Request {
        method,
        headers,
        peer,
        body,
    };
    ping(&st, vec![token], q, req).await
}

async fn ping2(
    State(st): State<PublicState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((a, b)): Path<(String, String)>,
    Query(q): Query<PingQuery>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let req = Request {
        method,
        headers,
        peer,
        body,
    };
    ping(&st, vec![a, b], q, req).await
}

async fn ping3(
    State(st): State<PublicState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((key, slug, c)): Path<(String, String, String)>,
    Query(q): Query<PingQuery>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let req = Request {
        method,
        headers,
        peer,
        body,
    };
    ping(&st, vec![key, slug, c], q, req).await
}

/// Reads at most [`MAX_PING_BODY`] bytes; says whether there was more.
async fn read_body(body: Body) -> (Option<String>, bool) {
    let mut kept: Vec<u8> = Vec::new();
    let mut truncated = false;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(data) = frame.data_ref() {
            let room = MAX_PING_BODY.saturating_sub(kept.len());
            if data.len() > room {
                kept.extend_from_slice(&data[..room]);
                truncated = true;
                // Stop reading: the rest is not kept.
                break;
            }
            kept.extend_from_slice(data);
        }
    }
    if kept.is_empty() && !truncated {
        return (None, false);
    }
    (Some(String::from_utf8_lossy(&kept).into_owned()), truncated)
}

/// The `?rid=` of a ping: a UUID, or nothing; anything else is refused.
fn run_id(rid: Option<String>) -> Result<Option<String>, ()> {
    match rid {
        Some(r) if uuid::Uuid::parse_str(&r).is_err() => Err(()),
        Some(r) if r.is_empty() => Ok(None),
        r => Ok(r),
    }
}

async fn handle(
    st: &PublicState,
    target: PingTarget,
    kind: PingKind,
    exit_status: Option<u8>,
    q: PingQuery,
    req: Request,
) -> Response {
    if !matches!(
        req.method,
        Method::GET | Method::POST | Method::HEAD | Method::PUT
    ) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    let Ok(rid) = run_id(q.rid) else {
        return invalid();
    };
    match st.heartbeats().admit(&target) {
        Admission::Allowed => {}
        Admission::Unknown => return not_found(),
        Admission::Limited(wait) => return limited(wait, false),
    }
    let (body, body_truncated) = read_body(req.body).await;
    let ping = Ping {
        target,
        kind,
        exit_status,
        rid,
        method: req.method.as_str().to_owned(),
        source_ip: Some(req.peer.ip().to_string()),
        user_agent: req
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(300).collect()),
        body,
        body_truncated,
    };
    match st.heartbeats().ping(ping).await {
        PingReply::Ok => text(StatusCode::OK, "OK"),
        PingReply::Created => text(StatusCode::CREATED, "Created"),
        PingReply::NotFound => not_found(),
        PingReply::Conflict(_) => text(StatusCode::CONFLICT, "conflict"),
        PingReply::CreateLimit(_) => text(StatusCode::FORBIDDEN, "auto-create limit reached"),
        PingReply::Unavailable(_) => text(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    }
}

#[derive(Deserialize, Default)]
struct KumaQuery {
    status: Option<String>,
    msg: Option<String>,
    ping: Option<String>,
}

/// What an Uptime Kuma push says: the kind of ping (`None` when `status` is neither
/// `up` nor `down`) and its body, `msg` then `ping=…` on a line of its own, at most
/// [`MAX_PING_BODY`] characters.
fn kuma_reading(q: KumaQuery) -> Option<(PingKind, Option<String>)> {
    let kind = match q.status.as_deref() {
        None | Some("up") => PingKind::Success,
        Some("down") => PingKind::Fail,
        Some(_) => return None,
    };
    let mut body = q.msg.filter(|m| !m.is_empty());
    if let Some(p) = q.ping.filter(|p| !p.is_empty()) {
        let line = format!("ping={p}");
        body = Some(match body {
            Some(m) => format!("{m}\n{line}"),
            None => line,
        });
    }
    Some((kind, body.map(|b| b.chars().take(MAX_PING_BODY).collect())))
}

/// `/api/push/{token}?status=up|down&msg=…&ping=…`, as Uptime Kuma's push monitors.
async fn kuma_push(
    State(st): State<PublicState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    Query(q): Query<KumaQuery>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some((kind, body)) = kuma_reading(q) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"ok": false, "msg": "status must be up or down"})),
        )
            .into_response();
    };
    let target = PingTarget::Token(token);
    match st.heartbeats().admit(&target) {
        Admission::Allowed => {}
        Admission::Unknown => return kuma_not_found(),
        Admission::Limited(wait) => return limited(wait, true),
    }
    let ping = Ping {
        target,
        kind,
        exit_status: None,
        rid: None,
        method: method.as_str().to_owned(),
        source_ip: Some(peer.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(300).collect()),
        body,
        body_truncated: false,
    };
    match st.heartbeats().ping(ping).await {
        PingReply::Ok | PingReply::Created => Json(json!({"ok": true})).into_response(),
        // A push names its monitor by token, so it never creates one.
        PingReply::NotFound | PingReply::CreateLimit(_) => kuma_not_found(),
        PingReply::Conflict(m) | PingReply::Unavailable(m) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ok": false, "msg": m})),
        )
            .into_response(),
    }
}

/// Reading ping URLs without a server, for the fuzz targets (`crates/fuzz-targets`):
/// a request's path and query go through the handlers' own functions (the route, the
/// action, the run id, the Uptime Kuma query) and the shape checks the heartbeat
/// engine applies before it looks anything up. Hidden from the docs: not an API.
#[doc(hidden)]
pub mod fuzzing {
    use axum::extract::Query;
    use axum::http::Uri;
    use vigilmon_engine::heartbeats::{PingTarget, is_token_shaped};

    use super::{KumaQuery, PingQuery, Refusal, kuma_reading, route, run_id};

    /// What the ping endpoints make of `path_and_query` before looking a monitor up,
    /// with `ping_key` as the workspace's ping key: the ping in words, or the status
    /// of the refusal (`400`, `404`).
    pub fn read(path_and_query: &str, ping_key: &str) -> Result<String, u16> {
        let uri: Uri = path_and_query.parse().map_err(|_| 400u16)?;
        // The router matches no empty segment.
        let segments = |rest: &str| -> Result<Vec<String>, u16> {
            let segs: Vec<String> = rest.split('/').map(str::to_owned).collect();
            if segs.iter().any(String::is_empty) {
                Err(404)
            } else {
                Ok(segs)
            }
        };
        if let Some(rest) = uri.path().strip_prefix("/api/push/") {
            let [token]: [String; 1] = segments(rest)?.try_into().map_err(|_| 404u16)?;
            let Query(q) = Query::<KumaQuery>::try_from_uri(&uri).map_err(|_| 400u16)?;
            let (kind, body) = kuma_reading(q).ok_or(400u16)?;
            let target = PingTarget::Token(token);
            admitted(&target, ping_key)?;
            return Ok(format!("{target:?} {kind:?} body={body:?}"));
        }
        let rest = uri.path().strip_prefix("/ping/").ok_or(404u16)?;
        let segs = segments(rest)?;
        if segs.len() > 3 {
            return Err(404);
        }
        let Query(q) = Query::<PingQuery>::try_from_uri(&uri).map_err(|_| 400u16)?;
        let create = q.create.as_deref() == Some("1");
        let (target, kind, code) = route(segs, create, |s| s == ping_key).map_err(|r| match r {
            Refusal::Invalid => 400u16,
            Refusal::NotFound => 404,
        })?;
        let rid = run_id(q.rid).map_err(|()| 400u16)?;
        admitted(&target, ping_key)?;
        Ok(format!("{target:?} {kind:?} exit={code:?} rid={rid:?}"))
    }

    /// The heartbeat engine's checks before a lookup: the token's shape, or the ping
    /// key and the slug's shape.
    fn admitted(target: &PingTarget, ping_key: &str) -> Result<(), u16> {
        let ok = match target {
            PingTarget::Token(token) => is_token_shaped(token),
            PingTarget::Slug { key, slug, .. } => {
                key == ping_key && vigilmon_core::heartbeat::is_valid_slug(slug)
            }
        };
        if ok { Ok(()) } else { Err(404) }
    }
}
