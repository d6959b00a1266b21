//! The `websocket` check against real WebSocket servers the tests start on free ports
//! (tokio-tungstenite's server side, plain and behind rustls with a self-signed
//! certificate given to the prober as an extra root, or not): the handshake, request
//! headers and subprotocol, a message and its reply, and the failures — an HTTP server
//! that does not upgrade (200, 404), a wrong `Sec-WebSocket-Accept`, a wrong reply, a
//! server that never replies, a refused connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);

/// How the test server behaves once the WebSocket is open.
#[derive(Clone, Copy)]
enum Mode {
    /// Answers each text message with `echo: <message>`.
    Echo,
    /// Sends `hello` first, then echoes.
    Greet,
    /// Never sends anything.
    Silent,
}

/// What the server saw of the upgrade requests: their headers, as `name: value`.
type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A WebSocket server on a free port of 127.0.0.1, behind TLS with `tls`. It agrees
/// to the subprotocol `chat.v1` when asked for it (and to no other).
async fn ws_server(mode: Mode, tls: Option<TlsAcceptor>) -> (u16, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let record = record.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(a) => {
                        if let Ok(t) = a.accept(s).await {
                            serve_ws(t, mode, record).await;
                        }
                    }
                    None => serve_ws(s, mode, record).await,
                }
            });
        }
    });
    (port, seen)
}

async fn serve_ws<S: AsyncRead + AsyncWrite + Unpin>(s: S, mode: Mode, record: Seen) {
    // The signature is tokio-tungstenite's callback, whose error is a whole response.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| {
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        record.lock().unwrap().push(headers);
        let wants_chat = req
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|p| p.trim() == "chat.v1"));
        if wants_chat {
            resp.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static("chat.v1"),
            );
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(s, callback).await else {
        return;
    };
    if matches!(mode, Mode::Greet) && ws.send(Message::text("hello")).await.is_err() {
        return;
    }
    // Reading on after a close frame sends the answer to it, then ends.
    while let Some(Ok(msg)) = ws.next().await {
        if let (Mode::Echo | Mode::Greet, Message::Text(t)) = (mode, msg) {
            let echo = Message::text(format!("echo: {}", t.as_str()));
            if ws.send(echo).await.is_err() {
                return;
            }
        }
    }
}

/// A plain HTTP server answering every request with `status` and a short body.
async fn http_server(status: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = "no websocket here";
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

/// A server that answers the upgrade with 101 but a made-up `Sec-WebSocket-Accept`.
async fn wrong_accept_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n",
                    )
                    .await;
                let _ = s.read(&mut buf).await;
            });
        }
    });
    port
}

/// A self-signed certificate for localhost and 127.0.0.1, and a TLS acceptor with it.
fn tls() -> (CertificateDer<'static>, TlsAcceptor) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let der = cert.der().clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![der.clone()],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    (der, TlsAcceptor::from(Arc::new(config)))
}

fn spec(url: String, extra: Value) -> CheckSpec {
    let mut v = json!({"name": "ws", "type": "websocket", "url": url});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let cfg: MonitorConfig = serde_json::from_value(v).unwrap();
    cfg.build().unwrap().check
}

fn prober(root: Option<&CertificateDer<'static>>) -> Prober {
    let mut opts = ProbeOptions::new(RegionName::parse("eu-test").unwrap());
    if let Some(der) = root {
        opts.extra_roots = vec![der.to_vec()];
    }
    Prober::new(opts).unwrap()
}

#[track_caller]
fn assert_down(r: &CheckResult, kind: ErrorKind, words: &str) {
    match &r.verdict {
        Verdict::Down { kind: k, message } => {
            assert_eq!(*k, kind, "wrong kind; message: {message}");
            assert!(message.contains(words), "{message:?} lacks {words:?}");
        }
        other => panic!("expected down ({kind:?}), got {other:?}"),
    }
}

#[tokio::test]
async fn a_plain_websocket_opens_sends_and_reads_the_reply() {
    let (port, seen) = ws_server(Mode::Echo, None).await;
    let url = format!("ws://user:pa%20ss@127.0.0.1:{port}/socket?room=1");
    let r = prober(None)
        .check(
            &spec(
                url.clone(),
                json!({"send": "ping", "subprotocol": "chat.v1",
                    "headers": {"X-Token": "t0k3n"},
                    "expect": {"reply_equals": "echo: ping", "reply_regex": "^echo"}}),
            ),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert_eq!(r.status_code, Some(101));
    assert!(r.phases.connect_ms.is_some() && r.phases.ttfb_ms.is_some());
    assert!(r.phases.tls_ms.is_none() && r.cert_expires_at.is_none());
    let d = r.details.as_ref().unwrap();
    assert_eq!(d["reply"], "echo: ping");
    assert_eq!(d["subprotocol"], "chat.v1");
    assert_eq!(d["closed"], true);
    let headers = seen.lock().unwrap().pop().unwrap();
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(get("x-token").as_deref(), Some("t0k3n"));
    assert_eq!(get("x-vigilmon-region").as_deref(), Some("eu-test"));
    assert!(get("user-agent").unwrap().starts_with("vigilmon/"));
    // user:"pa ss", in Basic authentication.
    assert_eq!(
        get("authorization").as_deref(),
        Some("Basic dXNlcjpwYSBzcw==")
    );

    // A wrong reply fails by what it got.
    let r = prober(None)
        .check(
            &spec(
                url.clone(),
                json!({"send": "ping", "expect": {"reply_contains": "pong"}}),
            ),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Assertion,
        "expected the reply to contain \"pong\", got \"echo: ping\"",
    );
    assert_eq!(r.body_excerpt.as_deref(), Some("echo: ping"));

    // A subprotocol the server does not speak is refused.
    let r = prober(None)
        .check(&spec(url, json!({"subprotocol": "mqtt"})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Protocol, "subprotocol refused");
}

#[tokio::test]
async fn a_greeting_is_read_without_sending_and_the_handshake_alone_is_enough() {
    let (port, _) = ws_server(Mode::Greet, None).await;
    let url = format!("ws://localhost:{port}/");
    let r = prober(None)
        .check(
            &spec(url.clone(), json!({"expect": {"reply_equals": "hello"}})),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    // A name is resolved (and timed).
    assert!(r.phases.dns_ms.is_some());
    let r = prober(None).check(&spec(url, json!({})), TIMEOUT).await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.details.as_ref().unwrap().get("reply").is_none());
}

#[tokio::test]
async fn wss_goes_through_the_probes_tls_and_records_the_expiry() {
    let (der, acceptor) = tls();
    let (port, _) = ws_server(Mode::Echo, Some(acceptor)).await;
    let url = format!("wss://localhost:{port}/");
    let check = spec(
        url.clone(),
        json!({"send": "over tls", "expect": {"reply_equals": "echo: over tls"}}),
    );
    let r = prober(Some(&der)).check(&check, TIMEOUT).await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.tls_ms.is_some() && r.cert_expires_at.is_some());
    let d = r.details.as_ref().unwrap();
    assert_eq!(d["trusted"], true);
    assert!(d["protocol"].as_str().unwrap().starts_with("TLS"));

    // Without the certificate among the roots it is not trusted, and the request
    // (with its headers) is never sent.
    let r = prober(None).check(&check, TIMEOUT).await;
    assert_down(&r, ErrorKind::Tls, "not trusted");
    assert!(r.phases.ttfb_ms.is_none());
    assert!(r.cert_expires_at.is_some());
    // Unless verification is off.
    let lax = spec(url, json!({"verify_tls": false}));
    let r = prober(None).check(&lax, TIMEOUT).await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");

    // A wss:// URL at a plain WebSocket server fails in the TLS handshake.
    let (plain, _) = ws_server(Mode::Echo, None).await;
    let r = prober(None)
        .check(
            &spec(format!("wss://127.0.0.1:{plain}/"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Tls, "TLS handshake failed");
}

#[tokio::test]
async fn a_server_that_does_not_upgrade_fails_with_its_status() {
    for (status, code) in [("200 OK", 200), ("404 Not Found", 404)] {
        let port = http_server(status).await;
        let r = prober(None)
            .check(
                &spec(format!("ws://127.0.0.1:{port}/ws"), json!({})),
                TIMEOUT,
            )
            .await;
        assert_down(
            &r,
            ErrorKind::Status,
            &format!("the server answered {status} instead of switching to WebSocket (101)"),
        );
        assert_eq!(r.status_code, Some(code));
        assert_eq!(r.body_excerpt.as_deref(), Some("no websocket here"));
    }
    let port = wrong_accept_server().await;
    let r = prober(None)
        .check(&spec(format!("ws://127.0.0.1:{port}/"), json!({})), TIMEOUT)
        .await;
    assert_down(
        &r,
        ErrorKind::Protocol,
        "Sec-WebSocket-Accept does not match the key sent",
    );
}

#[tokio::test]
async fn silence_times_out_and_a_closed_port_is_refused() {
    let (port, _) = ws_server(Mode::Silent, None).await;
    let t0 = std::time::Instant::now();
    let r = prober(None)
        .check(
            &spec(
                format!("ws://127.0.0.1:{port}/"),
                json!({"send": "anyone?", "expect": {"reply_contains": "x"}}),
            ),
            Duration::from_millis(800),
        )
        .await;
    assert_down(&r, ErrorKind::Timeout, "waiting for the reply");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = prober(None)
        .check(
            &spec(format!("ws://127.0.0.1:{closed}/"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Connect, "connection refused");
}

#[tokio::test]
async fn the_network_guard_is_obeyed() {
    let mut opts = ProbeOptions::new(RegionName::parse("eu-test").unwrap());
    opts.guard.deny_networks = vec!["127.0.0.0/8".parse().unwrap()];
    let p = Prober::new(opts).unwrap();
    let r = p
        .check(&spec("ws://127.0.0.1:9/".into(), json!({})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Dns, "may not use");
}
