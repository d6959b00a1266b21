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
    handle(
        &st,
        PingTarget::Token(token),
        PingKind::Success,
        None,
        q,
        req,
    )
    .await
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
    if st.heartbeats().is_ping_key(&a) {
        let create = q.create.as_deref() == Some("1");
        let target = PingTarget::Slug {
            key: a,
            slug: b,
            create,
        };
        return handle(&st, target, PingKind::Success, None, q, req).await;
    }
    match action(&b) {
        Action::Kind(kind, code) => handle(&st, PingTarget::Token(a), kind, code, q, req).await,
        Action::BadExitStatus => invalid(),
        Action::Unknown => not_found(),
    }
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
    match action(&c) {
        Action::Kind(kind, code) => {
            let create = q.create.as_deref() == Some("1");
            handle(
                &st,
                PingTarget::Slug { key, slug, create },
                kind,
                code,
                q,
                req,
            )
            .await
        }
        Action::BadExitStatus => invalid(),
        Action::Unknown => not_found(),
    }
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
    let rid = match q.rid {
        Some(r) if uuid::Uuid::parse_str(&r).is_err() => return invalid(),
        Some(r) if r.is_empty() => None,
        r => r,
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

/// `/api/push/{token}?status=up|down&msg=…&ping=…`, as Uptime Kuma's push monitors.
async fn kuma_push(
    State(st): State<PublicState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    Query(q): Query<KumaQuery>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let kind = match q.status.as_deref() {
        None | Some("up") => PingKind::Success,
        Some("down") => PingKind::Fail,
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"ok": false, "msg": "status must be up or down"})),
            )
                .into_response();
        }
    };
    let mut body = q.msg.filter(|m| !m.is_empty());
    if let Some(p) = q.ping.filter(|p| !p.is_empty()) {
        let line = format!("ping={p}");
        body = Some(match body {
            Some(m) => format!("{m}\n{line}"),
            None => line,
        });
    }
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
        body: body.map(|b| b.chars().take(MAX_PING_BODY).collect()),
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
