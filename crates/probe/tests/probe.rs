//! End-to-end tests of the probe against real local servers on 127.0.0.1 (port 0):
//! hand-written HTTP/1.1 servers (plain and TLS with rcgen certificates) and raw TCP
//! peers, including misbehaving ones. No mocks; the only timing that matters is the
//! probe's own timeout, exercised by servers that answer too late.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::ToSpan;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{IpNet, NetworkGuard, ProbeOptions, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------
// helpers: specs, probers, assertions

fn spec(v: Value) -> CheckSpec {
    let mut base = json!({"name": "t"});
    base.as_object_mut()
        .unwrap()
        .extend(v.as_object().unwrap().clone());
    let cfg: MonitorConfig = serde_json::from_value(base).unwrap();
    cfg.build().unwrap().check
}

fn http(url: String, extra: Value) -> CheckSpec {
    let mut v = json!({"type": "http", "url": url});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    spec(v)
}

fn tcp(port: u16, extra: Value) -> CheckSpec {
    let mut v = json!({"type": "tcp", "host": "127.0.0.1", "port": port});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    spec(v)
}

fn options() -> ProbeOptions {
    ProbeOptions::new(RegionName::parse("eu-test").unwrap())
}

fn prober() -> Prober {
    Prober::new(options()).unwrap()
}

#[track_caller]
fn assert_down(r: &CheckResult, kind: ErrorKind, contains: &str) {
    match &r.verdict {
        Verdict::Down { kind: k, message } => {
            assert_eq!(*k, kind, "wrong kind; message: {message}");
            assert!(
                message.contains(contains),
                "message {message:?} does not contain {contains:?}"
            );
        }
        other => panic!("expected down ({kind:?}), got {other:?}"),
    }
}

#[track_caller]
fn assert_up(r: &CheckResult) {
    assert_eq!(r.verdict, Verdict::Up, "{r:#?}");
}

// ---------------------------------------------------------------------------------
// a small HTTP/1.1 server that records what it receives

#[derive(Debug, Clone, Default)]
struct Recorded {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

enum Reply {
    /// Bytes written as they are, then the connection is closed.
    Raw(Vec<u8>),
    /// Wait (inside the handler), then answer.
    Late(Duration, Vec<u8>),
}

fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn ok(body: &str) -> Reply {
    Reply::Raw(response(200, &[], body.as_bytes()))
}

fn redirect(status: u16, location: &str) -> Reply {
    Reply::Raw(response(status, &[("Location", location)], b""))
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
}

impl Server {
    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Server {
    serve_with(None, Arc::new(handler)).await
}

async fn serve_with(tls: Option<TlsAcceptor>, handler: Handler) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (reqs, conns) = (requests.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            conns.fetch_add(1, Ordering::SeqCst);
            let (handler, reqs, tls) = (handler.clone(), reqs.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => answer(sock, handler, reqs).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(sock).await {
                            answer(stream, handler, reqs).await;
                        }
                    }
                }
            });
        }
    });
    Server {
        addr,
        requests,
        connections,
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    handler: Handler,
    reqs: Arc<Mutex<Vec<Recorded>>>,
) {
    let Some(req) = read_request(&mut s).await else {
        return;
    };
    reqs.lock().unwrap().push(req.clone());
    let bytes = match handler(&req) {
        Reply::Raw(b) => b,
        Reply::Late(d, b) => {
            tokio::time::sleep(d).await;
            b
        }
    };
    let _ = s.write_all(&bytes).await;
    let _ = s.shutdown().await;
}

async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}

/// A self-signed certificate for `localhost` and 127.0.0.1, valid until `not_after`.
struct TestCert {
    der: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn test_cert(not_after: jiff::civil::Date) -> TestCert {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    params.not_after = rcgen::date_time_ymd(
        i32::from(not_after.year()),
        not_after.month().unsigned_abs(),
        not_after.day().unsigned_abs(),
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    TestCert {
        der: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

async fn serve_tls(
    cert: &TestCert,
    handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> Server {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], cert.key.clone_key())
        .unwrap();
    serve_with(Some(TlsAcceptor::from(Arc::new(config))), Arc::new(handler)).await
}

/// A port with nothing listening (bound, then released).
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------
// HTTP

#[tokio::test]
async fn plain_200_reports_phases_headers_and_address() {
    let server = serve(|_| ok("all good")).await;
    let p = prober();
    let s = http(server.url("/health?x=1"), json!({}));
    // spawned: the check future must be Send for the scheduler (engine and agent alike)
    let r = tokio::spawn(async move { p.check(&s, TIMEOUT).await })
        .await
        .unwrap();
    assert_up(&r);
    assert_eq!(r.status_code, Some(200));
    assert_eq!(r.region.as_str(), "eu-test");
    assert!(r.phases.connect_ms.is_some(), "{:?}", r.phases);
    assert!(r.phases.ttfb_ms.is_some(), "{:?}", r.phases);
    assert_eq!(r.phases.tls_ms, None);
    assert_eq!(r.phases.dns_ms, None, "an IP literal needs no DNS");
    assert_eq!(
        r.remote_addr.as_deref(),
        Some(server.addr.to_string().as_str())
    );
    assert_eq!(r.body_excerpt, None, "no excerpt when up");
    assert_eq!(r.cert_expires_at, None);
    assert!(r.duration_ms < 5000);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(q.method, "GET");
    assert_eq!(q.target, "/health?x=1");
    assert_eq!(
        q.header("user-agent"),
        Some(format!("vigilmon/{}", env!("CARGO_PKG_VERSION")).as_str())
    );
    assert_eq!(q.header("x-vigilmon-region"), Some("eu-test"));
    assert_eq!(q.header("accept"), Some("*/*"));
    assert_eq!(q.header("connection"), Some("close"));
    assert_eq!(
        q.header("host"),
        Some(format!("127.0.0.1:{}", server.port()).as_str())
    );
    assert_eq!(
        q.header("content-length"),
        None,
        "a GET without body has no length"
    );
}

#[tokio::test]
async fn a_host_name_is_resolved_and_timed() {
    let server = serve(|_| ok("hi")).await;
    let r = prober()
        .check(
            &http(format!("http://localhost:{}/", server.port()), json!({})),
            TIMEOUT,
        )
        .await;
    assert_up(&r);
    assert!(r.phases.dns_ms.is_some(), "{:?}", r.phases);
    assert_eq!(
        server.requests()[0].header("host"),
        Some(format!("localhost:{}", server.port()).as_str())
    );
}

#[tokio::test]
async fn custom_method_headers_and_body_are_sent() {
    let server = serve(|_| ok("created")).await;
    let mut opts = options();
    opts.user_agent = "custom-probe/9".into();
    let p = Prober::new(opts).unwrap();
    let s = http(
        server.url("/items"),
        json!({
            "method": "POST",
            "headers": {"X-Token": "abc123", "Content-Type": "application/json"},
            "body": "{\"name\":\"x\"}"
        }),
    );
    assert_up(&p.check(&s, TIMEOUT).await);
    let q = &server.requests()[0];
    assert_eq!(q.method, "POST");
    assert_eq!(q.header("x-token"), Some("abc123"));
    assert_eq!(q.header("content-type"), Some("application/json"));
    assert_eq!(q.header("content-length"), Some("12"));
    assert_eq!(q.body, b"{\"name\":\"x\"}");
    assert_eq!(q.header("user-agent"), Some("custom-probe/9"));
}

#[tokio::test]
async fn a_monitor_may_set_its_own_user_agent() {
    let server = serve(|_| ok("hi")).await;
    let s = http(
        server.url("/"),
        json!({"headers": {"User-Agent": "Mozilla/5.0"}}),
    );
    assert_up(&prober().check(&s, TIMEOUT).await);
    let q = &server.requests()[0];
    assert_eq!(
        q.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
            .count(),
        1
    );
    assert_eq!(q.header("user-agent"), Some("Mozilla/5.0"));
    assert_eq!(q.header("x-vigilmon-region"), Some("eu-test"));
}

#[tokio::test]
async fn head_reads_no_body() {
    // a HEAD answer announces a length but sends no body; waiting for it would hang
    let server =
        serve(|_| Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n".to_vec())).await;
    let r = prober()
        .check(&http(server.url("/"), json!({"method": "HEAD"})), TIMEOUT)
        .await;
    assert_up(&r);
    assert_eq!(server.requests()[0].method, "HEAD");
}

#[tokio::test]
async fn wrong_body_is_an_assertion_failure_with_an_excerpt() {
    let server = serve(|_| ok("status: sick")).await;
    let r = prober()
        .check(
            &http(
                server.url("/"),
                json!({"expect": {"body_contains": "healthy"}}),
            ),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Assertion,
        "body does not contain \"healthy\"",
    );
    assert_eq!(r.body_excerpt.as_deref(), Some("status: sick"));
    assert_eq!(r.status_code, Some(200));
}

#[tokio::test]
async fn bad_json_fails_a_json_expectation() {
    let server = serve(|_| ok("<html>oops</html>")).await;
    let s = http(
        server.url("/"),
        json!({"expect": {"json": [{"path": "$.status", "equals": "ok"}]}}),
    );
    let r = prober().check(&s, TIMEOUT).await;
    assert_down(&r, ErrorKind::Assertion, "body is not valid JSON");
    // and good JSON passes
    let server = serve(|_| ok(r#"{"status":"ok"}"#)).await;
    let s = http(
        server.url("/"),
        json!({"expect": {"json": [{"path": "$.status", "equals": "ok"}]}}),
    );
    assert_up(&prober().check(&s, TIMEOUT).await);
}

#[tokio::test]
async fn unexpected_status_is_a_status_failure() {
    let server = serve(|_| Reply::Raw(response(503, &[], b"maintenance"))).await;
    let r = prober()
        .check(&http(server.url("/"), json!({})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Status, "status 503");
    assert_eq!(r.status_code, Some(503));
    assert_eq!(r.body_excerpt.as_deref(), Some("maintenance"));
}

#[tokio::test]
async fn a_body_over_the_cap_is_truncated_without_error() {
    let mut big = vec![b'a'; 100_000];
    big.extend_from_slice(b"tail");
    let server = serve(move |_| Reply::Raw(response(200, &[], &big))).await;
    let mut opts = options();
    opts.max_body_bytes = 1024;
    let p = Prober::new(opts).unwrap();
    assert_up(&p.check(&http(server.url("/"), json!({})), TIMEOUT).await);
    // what lies past the cap is not seen, and the message says so
    let r = p
        .check(
            &http(
                server.url("/"),
                json!({"expect": {"body_contains": "tail"}}),
            ),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Assertion,
        "(in the part of the body that was read)",
    );
    assert_eq!(
        r.body_excerpt.as_deref().map(|e| e.ends_with('…')),
        Some(true)
    );
}

#[tokio::test]
async fn a_slow_server_times_out_naming_the_phase() {
    let server = serve(|_| Reply::Late(Duration::from_secs(30), response(200, &[], b"late"))).await;
    let started = std::time::Instant::now();
    let r = prober()
        .check(
            &http(server.url("/"), json!({})),
            Duration::from_millis(300),
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Timeout,
        "no answer within 300ms (while waiting for the first byte)",
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(r.phases.connect_ms.is_some());
    assert_eq!(r.phases.ttfb_ms, None);
    assert_eq!(r.status_code, None);
}

#[tokio::test]
async fn a_body_that_never_finishes_times_out_while_reading_it() {
    // the head and part of the body arrive, then the peer goes quiet, keeping the socket open
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let _ = read_request(&mut s).await;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let r = prober()
        .check(
            &http(format!("http://{addr}/"), json!({})),
            Duration::from_millis(300),
        )
        .await;
    assert_down(&r, ErrorKind::Timeout, "(while reading the body)");
    assert_eq!(r.status_code, Some(200));
    assert!(r.phases.ttfb_ms.is_some());
    assert_eq!(r.body_excerpt.as_deref(), Some("abc"));
}

#[tokio::test]
async fn closing_mid_response_is_a_protocol_failure() {
    let server =
        serve(|_| Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this".to_vec()))
            .await;
    let r = prober()
        .check(&http(server.url("/"), json!({})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Protocol, "closed the connection");
    assert_eq!(r.status_code, Some(200));
}

#[tokio::test]
async fn closing_before_answering_is_a_protocol_failure() {
    let server = serve(|_| Reply::Raw(Vec::new())).await;
    let r = prober()
        .check(&http(server.url("/"), json!({})), TIMEOUT)
        .await;
    assert_down(
        &r,
        ErrorKind::Protocol,
        "closed the connection before sending a complete response",
    );
    assert_eq!(r.status_code, None);
}

#[tokio::test]
async fn a_malformed_answer_is_a_protocol_failure() {
    let server = serve(|_| Reply::Raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec())).await;
    let r = prober()
        .check(&http(server.url("/"), json!({})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Protocol, "malformed HTTP response");
}

#[tokio::test]
async fn connection_refused_is_a_connect_failure() {
    let port = closed_port().await;
    let r = prober()
        .check(
            &http(format!("http://127.0.0.1:{port}/"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Connect,
        &format!("connection refused by 127.0.0.1:{port}"),
    );
    assert_eq!(r.remote_addr, None);
    assert_eq!(r.phases.connect_ms, None);
}

#[tokio::test]
async fn an_unknown_host_is_a_dns_failure() {
    let r = prober()
        .check(&http("http://nosuch.invalid/".into(), json!({})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Dns, "could not resolve nosuch.invalid");
}

// ---------------------------------------------------------------------------------
// redirects

#[tokio::test]
async fn a_redirect_chain_is_followed() {
    let server = serve(|q| match q.target.as_str() {
        "/start" => redirect(301, "/r/2"),
        "/r/2" => redirect(302, "/r/1"),
        "/r/1" => redirect(307, "0"), // relative: /r/1 -> /r/0
        "/r/0" => ok("landed"),
        _ => Reply::Raw(response(404, &[], b"")),
    })
    .await;
    let s = http(
        server.url("/start"),
        json!({"expect": {"body_contains": "landed"}}),
    );
    let r = prober().check(&s, TIMEOUT).await;
    assert_up(&r);
    assert_eq!(r.status_code, Some(200));
    let targets: Vec<String> = server.requests().into_iter().map(|q| q.target).collect();
    assert_eq!(targets, ["/start", "/r/2", "/r/1", "/r/0"]);
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        4,
        "a fresh connection per hop"
    );
}

#[tokio::test]
async fn a_redirect_not_followed_is_judged_as_is() {
    let server = serve(|_| redirect(302, "/elsewhere")).await;
    let s = http(server.url("/"), json!({"follow_redirects": false}));
    let r = prober().check(&s, TIMEOUT).await;
    assert_down(
        &r,
        ErrorKind::Status,
        "status 302 is not one of the expected (2xx)",
    );
    assert_eq!(r.status_code, Some(302));
    assert_eq!(server.requests().len(), 1);
    // ...and passes when 3xx is expected
    let s = http(
        server.url("/"),
        json!({"follow_redirects": false, "expect": {"status": "3xx"}}),
    );
    assert_up(&prober().check(&s, TIMEOUT).await);
}

#[tokio::test]
async fn too_many_redirects_is_a_protocol_failure() {
    let server = serve(|_| redirect(302, "/again")).await;
    let r = prober()
        .check(&http(server.url("/"), json!({})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Protocol, "too many redirects (10)");
    assert_eq!(
        server.requests().len(),
        11,
        "the first request and 10 redirects"
    );
}

#[tokio::test]
async fn see_other_turns_a_post_into_a_get_without_body() {
    let server = serve(|q| match q.target.as_str() {
        "/form" => redirect(303, "/done"),
        _ => ok("thanks"),
    })
    .await;
    let s = http(
        server.url("/form"),
        json!({"method": "POST", "body": "a=1"}),
    );
    assert_up(&prober().check(&s, TIMEOUT).await);
    let reqs = server.requests();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].body.as_slice()),
        ("POST", &b"a=1"[..])
    );
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].body.as_slice()),
        ("GET", &b""[..])
    );
}

#[tokio::test]
async fn credentials_are_not_carried_to_another_origin() {
    let other = serve(|_| ok("other")).await;
    let target = other.url("/landing");
    let first = serve(move |_| redirect(302, &target)).await;
    let s = http(
        first.url("/"),
        json!({"headers": {"Authorization": "Bearer secret", "X-Trace": "1"}}),
    );
    assert_up(&prober().check(&s, TIMEOUT).await);
    assert_eq!(
        first.requests()[0].header("authorization"),
        Some("Bearer secret")
    );
    let landed = &other.requests()[0];
    assert_eq!(landed.header("authorization"), None);
    assert_eq!(landed.header("x-trace"), Some("1"));
}

#[tokio::test]
async fn the_guard_applies_to_every_redirect_hop() {
    let server = serve(|_| redirect(302, "http://169.254.169.254/latest/meta-data/")).await;
    let r = prober()
        .check(&http(server.url("/"), json!({})), TIMEOUT)
        .await;
    assert_down(
        &r,
        ErrorKind::Dns,
        "169.254.169.254 (link-local) is an address the probe may not use (after 1 redirect, at http://169.254.169.254/latest/meta-data/)",
    );
    assert_eq!(
        r.remote_addr, None,
        "never connected to the metadata address"
    );
}

// ---------------------------------------------------------------------------------
// the network guard

#[tokio::test]
async fn link_local_addresses_are_refused_before_connecting() {
    let started = std::time::Instant::now();
    let r = prober()
        .check(
            &http("http://169.254.169.254/latest/meta-data/".into(), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Dns,
        "169.254.169.254 (link-local) is an address the probe may not use",
    );
    assert_eq!(r.remote_addr, None);
    assert_eq!(r.phases.connect_ms, None);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused without trying"
    );
    // the same for a TCP check
    let mut s = tcp(80, json!({}));
    if let CheckSpec::Tcp(t) = &mut s {
        t.host = "169.254.169.254".into();
    }
    assert_down(
        &prober().check(&s, TIMEOUT).await,
        ErrorKind::Dns,
        "link-local",
    );
}

#[tokio::test]
async fn denied_networks_refuse_names_that_resolve_into_them() {
    let server = serve(|_| ok("hi")).await;
    let mut opts = options();
    opts.guard = NetworkGuard {
        allow_link_local: false,
        deny_networks: vec![
            "127.0.0.0/8".parse::<IpNet>().unwrap(),
            "::1".parse().unwrap(),
        ],
        ..NetworkGuard::default()
    };
    let p = Prober::new(opts).unwrap();
    let r = p
        .check(
            &http(format!("http://localhost:{}/", server.port()), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Dns,
        "localhost resolves only to addresses the probe may not use: 127.0.0.1 (in denied network 127.0.0.0/8)",
    );
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        0,
        "no connection was made"
    );
}

// ---------------------------------------------------------------------------------
// TLS

#[tokio::test]
async fn tls_with_a_trusted_self_signed_certificate() {
    let expiry = today().checked_add(90.days()).unwrap();
    let cert = test_cert(expiry);
    let server = serve_tls(&cert, |_| ok("secure")).await;
    let mut opts = options();
    opts.extra_roots = vec![cert.der.to_vec()];
    let p = Prober::new(opts).unwrap();
    let url = format!("https://localhost:{}/", server.port());
    let r = p
        .check(
            &http(url, json!({"expect": {"body_contains": "secure"}})),
            TIMEOUT,
        )
        .await;
    assert_up(&r);
    assert!(r.phases.tls_ms.is_some(), "{:?}", r.phases);
    assert!(r.phases.ttfb_ms.is_some());
    let at = r.cert_expires_at.expect("certificate expiry read");
    assert_eq!(at.to_zoned(jiff::tz::TimeZone::UTC).date(), expiry);
    assert_eq!(
        server.requests()[0].header("x-vigilmon-region"),
        Some("eu-test")
    );
}

#[tokio::test]
async fn tls_with_an_untrusted_certificate_fails_when_verifying() {
    let cert = test_cert(today().checked_add(90.days()).unwrap());
    let server = serve_tls(&cert, |_| ok("secure")).await;
    let url = format!("https://localhost:{}/", server.port());
    let r = prober().check(&http(url.clone(), json!({})), TIMEOUT).await;
    assert_down(
        &r,
        ErrorKind::Tls,
        "invalid peer certificate: UnknownIssuer",
    );
    assert!(r.phases.connect_ms.is_some());
    assert_eq!(r.phases.tls_ms, None);
    assert!(server.requests().is_empty());
    // without verification the same server is up, and the expiry is still read
    let r = prober()
        .check(&http(url, json!({"verify_tls": false})), TIMEOUT)
        .await;
    assert_up(&r);
    assert!(r.cert_expires_at.is_some());
    assert!(r.phases.tls_ms.is_some());
}

#[tokio::test]
async fn tls_to_an_ip_address_uses_the_ip_as_server_name() {
    let cert = test_cert(today().checked_add(90.days()).unwrap());
    let server = serve_tls(&cert, |_| ok("secure")).await;
    let mut opts = options();
    opts.extra_roots = vec![cert.der.to_vec()];
    let r = Prober::new(opts)
        .unwrap()
        .check(
            &http(format!("https://127.0.0.1:{}/", server.port()), json!({})),
            TIMEOUT,
        )
        .await;
    assert_up(&r);
}

#[tokio::test]
async fn a_certificate_expiring_soon_degrades() {
    let cert = test_cert(today().checked_add(3.days()).unwrap());
    let server = serve_tls(&cert, |_| ok("secure")).await;
    let mut opts = options();
    opts.extra_roots = vec![cert.der.to_vec()];
    let r = Prober::new(opts)
        .unwrap()
        .check(
            &http(format!("https://localhost:{}/", server.port()), json!({})),
            TIMEOUT,
        )
        .await;
    match &r.verdict {
        Verdict::Degraded { reason } => {
            assert!(reason.starts_with("certificate expires in"), "{reason}")
        }
        other => panic!("expected degraded, got {other:?}"),
    }
    assert!(r.cert_expires_at.is_some());
}

#[tokio::test]
async fn plain_http_to_a_tls_port_is_a_protocol_failure_and_the_reverse_a_tls_failure() {
    let cert = test_cert(today().checked_add(90.days()).unwrap());
    let tls_server = serve_tls(&cert, |_| ok("secure")).await;
    let r = prober()
        .check(
            &http(
                format!("http://127.0.0.1:{}/", tls_server.port()),
                json!({}),
            ),
            TIMEOUT,
        )
        .await;
    assert!(
        matches!(r.verdict.error_kind(), Some(ErrorKind::Protocol)),
        "{r:?}"
    );
    // a plain HTTP server answers the TLS ClientHello with an HTTP error
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
            let _ = s.shutdown().await;
        }
    });
    let r = prober()
        .check(
            &http(
                format!("https://127.0.0.1:{port}/"),
                json!({"verify_tls": false}),
            ),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Tls, "TLS handshake failed");
}

#[test]
fn a_garbage_extra_root_is_refused_at_setup() {
    let mut opts = options();
    opts.extra_roots = vec![b"not a certificate".to_vec()];
    let e = Prober::new(opts).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("extra root certificate #0 cannot be used"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------
// TCP

/// A TCP peer that, per connection, reads `expect_in` bytes (if any), writes `reply`,
/// and then waits for the client to go away.
async fn tcp_peer(expect_in: usize, reply: &'static [u8]) -> (u16, Arc<Mutex<Vec<u8>>>) {
    tcp_peer_with(expect_in, reply, false).await
}

/// Like [`tcp_peer`]; with `close`, the peer closes right after writing `reply`.
async fn tcp_peer_with(
    expect_in: usize,
    reply: &'static [u8],
    close: bool,
) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; expect_in];
                if expect_in > 0 && s.read_exact(&mut buf).await.is_ok() {
                    seen.lock().unwrap().extend_from_slice(&buf);
                }
                let _ = s.write_all(reply).await;
                if close {
                    let _ = s.shutdown().await;
                    return;
                }
                let mut sink = [0u8; 64];
                while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
    });
    (port, got)
}

#[tokio::test]
async fn tcp_connect_only() {
    let (port, _) = tcp_peer(0, b"").await;
    let r = prober().check(&tcp(port, json!({})), TIMEOUT).await;
    assert_up(&r);
    assert!(r.phases.connect_ms.is_some());
    assert_eq!(r.phases.dns_ms, None);
    assert_eq!(r.phases.ttfb_ms, None);
    assert_eq!(r.status_code, None);
    assert_eq!(r.remote_addr, Some(format!("127.0.0.1:{port}")));
}

#[tokio::test]
async fn tcp_send_and_banner() {
    let (port, got) = tcp_peer(6, b"+PONG\r\n").await;
    let r = prober()
        .check(
            &tcp(port, json!({"send": "PING\r\n", "expect": "+PONG"})),
            TIMEOUT,
        )
        .await;
    assert_up(&r);
    assert!(r.phases.ttfb_ms.is_some());
    assert_eq!(got.lock().unwrap().as_slice(), b"PING\r\n");
}

#[tokio::test]
async fn tcp_banner_from_a_name() {
    let (port, _) = tcp_peer(0, b"220 mail.example ESMTP\r\n").await;
    let mut s = tcp(port, json!({"expect": {"banner": "ESMTP"}}));
    if let CheckSpec::Tcp(t) = &mut s {
        t.host = "localhost".into();
    }
    let r = prober().check(&s, TIMEOUT).await;
    assert_up(&r);
    assert!(r.phases.dns_ms.is_some());
}

#[tokio::test]
async fn tcp_banner_mismatch_is_an_assertion_failure() {
    // the peer says something else and hangs up: judged at once
    let (port, _) = tcp_peer_with(0, b"-ERR unknown command\r\n", true).await;
    let started = std::time::Instant::now();
    let r = prober()
        .check(&tcp(port, json!({"expect": "+PONG"})), TIMEOUT)
        .await;
    assert_down(
        &r,
        ErrorKind::Assertion,
        "expected the peer to send \"+PONG\", got \"-ERR unknown command",
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn tcp_wrong_banner_then_silence_is_judged_on_what_was_received() {
    // the peer says something else and stays connected: at the deadline, what was
    // received is judged (an assertion failure naming it, not a bare timeout)
    let (port, _) = tcp_peer(0, b"-ERR unknown command\r\n").await;
    let r = prober()
        .check(
            &tcp(port, json!({"expect": "+PONG"})),
            Duration::from_millis(200),
        )
        .await;
    assert_down(&r, ErrorKind::Assertion, "got \"-ERR unknown command");
}

#[tokio::test]
async fn tcp_silent_peer_times_out_waiting_for_the_banner() {
    let (port, _) = tcp_peer(0, b"").await;
    let r = prober()
        .check(
            &tcp(port, json!({"expect": "hello"})),
            Duration::from_millis(200),
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Timeout,
        "no answer within 200ms (while waiting for the banner)",
    );
    assert!(r.phases.connect_ms.is_some());
}

#[tokio::test]
async fn tcp_refused_is_a_connect_failure() {
    let port = closed_port().await;
    let r = prober().check(&tcp(port, json!({})), TIMEOUT).await;
    assert_down(&r, ErrorKind::Connect, "connection refused");
}

#[test]
fn the_prober_is_cheap_to_clone_and_knows_its_region() {
    let p = prober();
    let q = p.clone();
    assert_eq!(q.region().as_str(), "eu-test");
}
