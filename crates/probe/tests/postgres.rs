//! The PostgreSQL check against the real server on 127.0.0.1:5432 (user `postgres`,
//! trust; `.ci/run` starts it), and against small stand-ins on free ports for what a
//! real server will not do (decline TLS, answer garbage, ask for a password).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);
const PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn spec(extra: Value) -> CheckSpec {
    let mut v = json!({"name": "db", "type": "postgres", "url": format!("{PG}?sslmode=disable")});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let cfg: MonitorConfig = serde_json::from_value(v).unwrap();
    cfg.build().unwrap().check
}

fn prober() -> Prober {
    Prober::new(ProbeOptions::new(RegionName::parse("eu-test").unwrap())).unwrap()
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
async fn select_1_is_up_with_its_phases_and_figures() {
    let r = prober().check(&spec(json!({})), TIMEOUT).await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.connect_ms.is_some());
    assert!(r.phases.ttfb_ms.is_some(), "the query's time");
    assert_eq!(r.phases.tls_ms, None);
    let d = r.details.as_ref().unwrap();
    assert_eq!(d["value"], "1");
    assert_eq!(d["rows"], 1);
    assert_eq!(d["tls"], false);
    assert!(
        d["server_version"]
            .as_str()
            .unwrap()
            .starts_with(char::is_numeric)
    );
    assert!(d["login_ms"].is_u64() && d["query_ms"].is_u64());
    assert_eq!(r.remote_addr.as_deref(), Some("127.0.0.1:5432"));
}

#[tokio::test]
async fn the_expected_value_is_compared_as_text() {
    let p = prober();
    let up = p
        .check(
            &spec(json!({"query": "SELECT 'ok' AS status", "expect": {"value": "ok"}})),
            TIMEOUT,
        )
        .await;
    assert_eq!(up.verdict, Verdict::Up, "{up:?}");
    let b = p
        .check(
            &spec(json!({"query": "SELECT pg_is_in_recovery()", "expect": {"value": false}})),
            TIMEOUT,
        )
        .await;
    assert_eq!(b.verdict, Verdict::Up, "{b:?}");
    let n = p
        .check(
            &spec(json!({"query": "SELECT count(*) FROM pg_database WHERE datname = 'postgres'", "expect": {"value": 2}})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &n,
        ErrorKind::Assertion,
        "the query returned \"1\", expected \"2\"",
    );
    let none = p
        .check(
            &spec(json!({"query": "SELECT 1 WHERE false", "expect": {"value": 1}})),
            TIMEOUT,
        )
        .await;
    assert_down(&none, ErrorKind::Assertion, "returned no row");
    assert_eq!(none.details.as_ref().unwrap()["rows"], 0);
}

#[tokio::test]
async fn sql_errors_fail_and_the_session_is_read_only() {
    let p = prober();
    let r = p
        .check(
            &spec(json!({"query": "SELECT * FROM no_such_table"})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Assertion, "SQLSTATE 42P01");
    let w = p
        .check(
            &spec(json!({"query": "CREATE TABLE vigilmon_should_not_exist (x int)"})),
            TIMEOUT,
        )
        .await;
    assert_down(&w, ErrorKind::Assertion, "SQLSTATE 25006");
}

#[tokio::test]
async fn a_slow_query_is_a_timeout() {
    let r = prober()
        .check(
            &spec(json!({"query": "SELECT pg_sleep(5)"})),
            Duration::from_millis(800),
        )
        .await;
    assert_down(&r, ErrorKind::Timeout, "");
}

#[tokio::test]
async fn a_missing_database_is_a_refused_login() {
    let cfg: MonitorConfig = serde_json::from_value(json!({"name": "db", "type": "postgres",
        "url": "postgres://postgres@127.0.0.1/vigilmon_no_such_db?sslmode=disable"}))
    .unwrap();
    let r = prober().check(&cfg.build().unwrap().check, TIMEOUT).await;
    assert_down(&r, ErrorKind::Connect, "no such database");
}

#[tokio::test]
async fn tls_is_negotiated_and_verified_when_asked() {
    let p = prober();
    let on = |mode: &str| {
        let cfg: MonitorConfig = serde_json::from_value(json!({"name": "db", "type": "postgres",
            "url": format!("{PG}?sslmode={mode}")}))
        .unwrap();
        cfg.build().unwrap().check
    };
    let r = p.check(&on("require"), TIMEOUT).await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.tls_ms.is_some());
    assert!(r.cert_expires_at.is_some());
    assert_eq!(r.details.as_ref().unwrap()["tls"], true);
    // The server's certificate is not one the probe trusts (nor issued for 127.0.0.1).
    let v = p.check(&on("verify-full"), TIMEOUT).await;
    assert_down(&v, ErrorKind::Tls, "TLS handshake failed");
}

#[tokio::test]
async fn refused_and_guarded_addresses() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg: MonitorConfig = serde_json::from_value(json!({"name": "db", "type": "postgres",
        "url": format!("postgres://u@127.0.0.1:{port}/d")}))
    .unwrap();
    let check = cfg.build().unwrap().check;
    let r = prober().check(&check, TIMEOUT).await;
    assert_down(&r, ErrorKind::Connect, "connection refused");

    let mut opts = ProbeOptions::new(RegionName::parse("eu-test").unwrap());
    opts.guard.deny_networks = vec!["127.0.0.0/8".parse().unwrap()];
    let guarded = Prober::new(opts).unwrap().check(&check, TIMEOUT).await;
    assert_down(&guarded, ErrorKind::Dns, "may not use");
}

/// A stand-in that answers the first `SSLRequest` or startup message with `reply`.
async fn stand_in(reply: &'static [u8]) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(reply).await;
            let _ = s.flush().await;
            let _ = s.read(&mut buf).await;
        }
    });
    port
}

fn at(port: u16, query: &str) -> CheckSpec {
    let cfg: MonitorConfig = serde_json::from_value(json!({"name": "db", "type": "postgres",
        "url": format!("postgres://mon@127.0.0.1:{port}/app{query}")}))
    .unwrap();
    cfg.build().unwrap().check
}

#[tokio::test]
async fn a_server_that_declines_tls_fails_require_and_passes_prefer_on() {
    let port = stand_in(b"N").await;
    let r = prober().check(&at(port, "?sslmode=require"), TIMEOUT).await;
    assert_down(&r, ErrorKind::Tls, "does not offer TLS");
    // `prefer` carries on in plain text; the stand-in then says nothing more.
    let p = prober()
        .check(&at(port, "?sslmode=prefer"), Duration::from_millis(500))
        .await;
    assert!(matches!(p.verdict, Verdict::Down { .. }), "{p:?}");
}

#[tokio::test]
async fn garbage_and_password_requests_are_named_not_panics() {
    let junk = stand_in(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    let r = prober().check(&at(junk, "?sslmode=disable"), TIMEOUT).await;
    assert!(
        matches!(
            &r.verdict,
            Verdict::Down {
                kind: ErrorKind::Protocol,
                ..
            }
        ),
        "{r:?}"
    );
    // AuthenticationCleartextPassword, and the URL has no password.
    let asks = stand_in(b"R\0\0\0\x08\0\0\0\x03").await;
    let r = prober().check(&at(asks, "?sslmode=disable"), TIMEOUT).await;
    assert_down(&r, ErrorKind::Connect, "the URL gives none");
    // An authentication method the probe does not speak (GSSAPI).
    let gss = stand_in(b"R\0\0\0\x08\0\0\0\x07").await;
    let r = prober().check(&at(gss, "?sslmode=disable"), TIMEOUT).await;
    assert_down(&r, ErrorKind::Connect, "code 7");
}
