//! `websocket` checks: connect (guarded and timed); for `wss://` shake hands with the
//! prober's rustls configuration, taking the certificate whatever it is and judging it
//! at once (`certificate::examine`), so that nothing is sent to a server that fails
//! it; then the HTTP upgrade, spoken by tokio-tungstenite over that very stream (it
//! opens no connection and picks no TLS of its own): a 101 with the right
//! `Sec-WebSocket-Accept`, and the subprotocol when one was asked for. Then
//! optionally one text message, the first message back when a reply is expected, and
//! a close. The verdict is [`vigilmon_core::assert::evaluate_websocket`].
//!
//! Phases: `dns_ms`, `connect_ms`, `tls_ms`, `ttfb_ms` (the upgrade request until the
//! 101). Figures: `status`, `subprotocol`, `reply_ms`, `reply` (its first 200
//! characters), `closed` (whether the server answered the close), and for `wss://` the
//! certificate's (`subject`, `issuer`, `names`, `not_after`, `days_left`, `protocol`,
//! `cipher`, `chain`, `trusted`).
//!
//! | what happened | kind |
//! |---|---|
//! | DNS, guard, connect, handshake, timeout (as for every probe) | `dns` / `connect` / `tls` / `timeout` |
//! | untrusted chain or wrong name (unless `verify_tls: false`), expiring within `expect.cert_expiry` | `tls` |
//! | an answer other than 101 to the upgrade | `status` |
//! | a wrong `Sec-WebSocket-Accept`, a refused subprotocol, the server closing instead of replying, a malformed frame | `protocol` |
//! | another reply than expected, too slow | `assertion` |

use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use jiff::Timestamp;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError, SubProtocolError};
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{ClientRequestBuilder, Message};
use vigilmon_core::assert::{
    TlsFacts, WebsocketFacts, evaluate_websocket, evaluate_websocket_certificate,
};
use vigilmon_core::monitor::WebsocketSpec;
use vigilmon_core::{ErrorKind, HumanDuration, Verdict};

use crate::certificate::{examine, handshake, server_name};
use crate::classify::{Failure, Phase};
use crate::net::{self, Target};
use crate::{Inner, Outcome, millis};

/// The most characters of the reply kept in the figures and the excerpt.
const MAX_REPLY_CHARS: usize = 200;
/// How long the close handshake may take at most, within what is left of the check.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Runs a `websocket` check to its verdict; the figures go into `details`.
pub(crate) async fn run(
    inner: &Inner,
    spec: &WebsocketSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    let mut figures = json!({});
    let checked = timeout_at(
        deadline,
        check(inner, spec, start, deadline, limit, &mut out, &mut figures),
    )
    .await;
    out.verdict = match checked {
        Ok(Ok(v) | Err(v)) => v,
        Err(_) => Verdict::down(
            ErrorKind::Timeout,
            format!(
                "no answer within {} (while {})",
                HumanDuration(limit),
                if out.phases.ttfb_ms.is_some() {
                    "waiting for the reply"
                } else {
                    "waiting for the WebSocket handshake"
                }
            ),
        ),
    };
    if figures.as_object().is_some_and(|m| !m.is_empty()) {
        out.details = Some(figures);
    }
    out
}

fn unreachable(f: &Failure) -> Verdict {
    let (kind, message) = crate::classify::classify(f);
    Verdict::down(kind, message)
}

async fn check(
    inner: &Inner,
    spec: &WebsocketSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
    figures: &mut serde_json::Value,
) -> Result<Verdict, Verdict> {
    let Some(host) = spec.url.host() else {
        return Err(Verdict::down(ErrorKind::Protocol, "the URL has no host"));
    };
    let port = spec.url.port_or_known_default().unwrap_or(80);
    let target = Target::from_url_host(&host);
    let conn = net::open(
        &target,
        port,
        &inner.opts.guard,
        deadline,
        limit,
        &mut out.phases,
    )
    .await
    .map_err(|f| unreachable(&f))?;
    out.remote_addr = Some(conn.peer);
    let request = request(inner, spec)?;
    let now = Timestamp::now();
    if spec.url.scheme() == "wss" {
        let name = server_name(&spec.certificate.host)?;
        let t0 = Instant::now();
        // Any certificate is taken, then judged before anything is sent.
        let tls = handshake(
            inner.tls.unverified.clone(),
            name.clone(),
            conn.stream,
            deadline,
            limit,
        )
        .await?;
        out.phases.tls_ms = Some(millis(t0.elapsed()));
        let (cert, cert_figures) = examine(inner, &name, tls.get_ref().1, now)?;
        *figures = cert_figures;
        out.cert_expires_at = cert.not_after;
        if let down @ Verdict::Down { .. } = evaluate_websocket_certificate(spec, &cert, now) {
            return Err(down);
        }
        converse(inner, spec, request, tls, Some(cert), start, out, figures).await
    } else {
        converse(inner, spec, request, conn.stream, None, start, out, figures).await
    }
}

/// The upgrade request: the URL without its credentials (a password becomes Basic
/// authentication), the probe's User-Agent and region, the monitor's headers and
/// subprotocol.
fn request(inner: &Inner, spec: &WebsocketSpec) -> Result<Request, Verdict> {
    let mut url = spec.url.clone();
    let (user, password) = (url.username().to_owned(), url.password().map(str::to_owned));
    // Only a URL that cannot have credentials refuses these, and a ws:// URL can.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let uri = url
        .as_str()
        .parse()
        .map_err(|e| Verdict::down(ErrorKind::Protocol, format!("unusable URL: {e}")))?;
    let mut builder = ClientRequestBuilder::new(uri);
    if let Some(p) = &spec.subprotocol {
        builder = builder.with_sub_protocol(p.clone());
    }
    let mut req: Request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(builder)
            .map_err(|e| Verdict::down(ErrorKind::Protocol, format!("unusable URL: {e}")))?;
    let headers = req.headers_mut();
    headers.insert("user-agent", inner.user_agent.clone());
    headers.insert("x-vigilmon-region", inner.region_header.clone());
    if !user.is_empty() || password.is_some() {
        let user = percent_decoded(&user);
        let password = percent_decoded(password.as_deref().unwrap_or(""));
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        if let Ok(v) = HeaderValue::from_str(&format!("Basic {token}")) {
            headers.insert("authorization", v);
        }
    }
    for (name, value) in &spec.headers {
        // Validated by the monitor's build: names are tokens, values have no breaks.
        let (Ok(n), Ok(v)) = (
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(Verdict::down(
                ErrorKind::Protocol,
                format!("header {name} cannot be sent"),
            ));
        };
        headers.insert(n, v);
    }
    Ok(req)
}

fn percent_decoded(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The upgrade, the message and its reply, and the close, over `stream`.
#[allow(clippy::too_many_arguments)]
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &Inner,
    spec: &WebsocketSpec,
    request: Request,
    stream: S,
    certificate: Option<TlsFacts>,
    start: Instant,
    out: &mut Outcome,
    figures: &mut serde_json::Value,
) -> Result<Verdict, Verdict> {
    let cap = inner.opts.max_body_bytes.max(1024);
    let config = WebSocketConfig::default()
        .max_message_size(Some(cap))
        .max_frame_size(Some(cap));
    let t0 = Instant::now();
    let (mut ws, response) =
        match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
            Ok(done) => done,
            Err(e) => return Err(handshake_failed(e, out)),
        };
    out.phases.ttfb_ms = Some(millis(t0.elapsed()));
    out.status_code = Some(response.status().as_u16());
    figures["status"] = json!(response.status().as_u16());
    if let Some(p) = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
    {
        figures["subprotocol"] = json!(p);
    }

    if let Some(text) = &spec.send {
        ws.send(Message::text(text.clone()))
            .await
            .map_err(|e| ws_failed(e, "sending the message"))?;
    }
    let mut reply = None;
    if spec.reply.is_set() {
        let t1 = Instant::now();
        let got = first_message(&mut ws).await?;
        figures["reply_ms"] = json!(millis(t1.elapsed()));
        figures["reply"] = json!(got.chars().take(MAX_REPLY_CHARS).collect::<String>());
        reply = Some(got);
    }
    let elapsed = start.elapsed();
    let facts = WebsocketFacts {
        certificate,
        reply,
        elapsed,
    };
    let verdict = evaluate_websocket(spec, &facts, Timestamp::now());
    if !verdict.is_ok() {
        out.body_excerpt = facts
            .reply
            .as_ref()
            .map(|r| r.chars().take(MAX_REPLY_CHARS).collect());
    }
    figures["closed"] = json!(close(&mut ws).await);
    Ok(verdict)
}

/// Reads until the first data message (pings are answered on the way); the server
/// closing first is a failure in words.
async fn first_message<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
) -> Result<String, Verdict> {
    loop {
        match ws.next().await {
            None => {
                return Err(Verdict::down(
                    ErrorKind::Protocol,
                    "the server closed the connection instead of replying",
                ));
            }
            Some(Err(e)) => return Err(ws_failed(e, "waiting for the reply")),
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Binary(b))) => return Ok(String::from_utf8_lossy(&b).into_owned()),
            Some(Ok(Message::Close(frame))) => {
                let why = frame
                    .map(|f| {
                        let reason: String = f.reason.as_str().chars().take(100).collect();
                        if reason.is_empty() {
                            format!(" (code {})", u16::from(f.code))
                        } else {
                            format!(" (code {}: {reason})", u16::from(f.code))
                        }
                    })
                    .unwrap_or_default();
                return Err(Verdict::down(
                    ErrorKind::Protocol,
                    format!("the server closed the WebSocket instead of replying{why}"),
                ));
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Closes the WebSocket: a close frame, then the server's answer, briefly. Whether
/// the server answered.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
) -> bool {
    let closing = async {
        if ws.close(None).await.is_err() {
            return false;
        }
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None => return true,
                Some(Ok(_)) => {}
                Some(Err(WsError::ConnectionClosed)) => return true,
                Some(Err(_)) => return false,
            }
        }
    };
    tokio::time::timeout(CLOSE_WAIT, closing)
        .await
        .unwrap_or(false)
}

/// The upgrade failed: a status other than 101, a wrong accept key, a refused
/// subprotocol, or the connection itself.
fn handshake_failed(e: WsError, out: &mut Outcome) -> Verdict {
    match e {
        WsError::Http(response) => {
            let status = response.status();
            out.status_code = Some(status.as_u16());
            out.body_excerpt = response.body().as_ref().map(|b| {
                String::from_utf8_lossy(b)
                    .chars()
                    .take(MAX_REPLY_CHARS)
                    .collect()
            });
            Verdict::down(
                ErrorKind::Status,
                format!(
                    "the server answered {} {} instead of switching to WebSocket (101)",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
                .trim_end()
                .to_owned(),
            )
        }
        WsError::Protocol(ProtocolError::SecWebSocketAcceptKeyMismatch) => Verdict::down(
            ErrorKind::Protocol,
            "the server's Sec-WebSocket-Accept does not match the key sent: not a WebSocket handshake",
        ),
        WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(s)) => {
            let why = match s {
                SubProtocolError::NoSubProtocol => "the server agreed to no subprotocol",
                SubProtocolError::InvalidSubProtocol => {
                    "the server chose a subprotocol that was not asked for"
                }
                SubProtocolError::ServerSentSubProtocolNoneRequested => {
                    "the server chose a subprotocol though none was asked for"
                }
            };
            Verdict::down(ErrorKind::Protocol, format!("subprotocol refused: {why}"))
        }
        other => ws_failed(other, "waiting for the WebSocket handshake"),
    }
}

/// A WebSocket error after connecting, while `doing` something.
fn ws_failed(e: WsError, doing: &str) -> Verdict {
    match e {
        WsError::Io(error) => unreachable(&Failure::Io {
            phase: Phase::FirstByte,
            error,
        }),
        WsError::ConnectionClosed | WsError::AlreadyClosed => Verdict::down(
            ErrorKind::Protocol,
            format!("the server closed the connection while {doing}"),
        ),
        WsError::Capacity(c) => Verdict::down(
            ErrorKind::Protocol,
            format!("the server's message is too large while {doing}: {c}"),
        ),
        other => Verdict::down(ErrorKind::Protocol, format!("{other} while {doing}")),
    }
}
