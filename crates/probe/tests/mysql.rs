//! The MySQL check against the real MariaDB on 127.0.0.1:3306 (user `root` without a
//! password; `.ci/run` starts it), a user with a password the test creates there, and
//! small stand-ins on free ports for what the real server will not do.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);

fn spec_at(url: &str, extra: Value) -> CheckSpec {
    let mut v = json!({"name": "db", "type": "mysql", "url": url});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let cfg: MonitorConfig = serde_json::from_value(v).unwrap();
    cfg.build().unwrap().check
}

fn spec(extra: Value) -> CheckSpec {
    spec_at("mysql://root@127.0.0.1:3306/mysql", extra)
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
    assert!(r.phases.connect_ms.is_some() && r.phases.ttfb_ms.is_some());
    let d = r.details.as_ref().unwrap();
    assert_eq!(d["value"], "1");
    assert_eq!(d["rows"], 1);
    assert!(d["server_version"].as_str().unwrap().contains('.'), "{d}");
    assert!(d["login_ms"].is_u64() && d["query_ms"].is_u64());
    assert_eq!(r.remote_addr.as_deref(), Some("127.0.0.1:3306"));
}

#[tokio::test]
async fn values_errors_and_the_read_only_session() {
    let p = prober();
    let ok = p
        .check(
            &spec(json!({"query": "SELECT 'ok', 2", "expect": {"value": "ok"}})),
            TIMEOUT,
        )
        .await;
    assert_eq!(ok.verdict, Verdict::Up, "{ok:?}");
    let differs = p
        .check(
            &spec(json!({"query": "SELECT 7", "expect": {"value": 8}})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &differs,
        ErrorKind::Assertion,
        "returned \"7\", expected \"8\"",
    );
    let null = p
        .check(
            &spec(json!({"query": "SELECT NULL", "expect": {"value": 1}})),
            TIMEOUT,
        )
        .await;
    assert_down(&null, ErrorKind::Assertion, "returned NULL");
    let none = p
        .check(
            &spec(json!({"query": "SELECT 1 FROM DUAL WHERE 1 = 0", "expect": {"value": 1}})),
            TIMEOUT,
        )
        .await;
    assert_down(&none, ErrorKind::Assertion, "returned no row");
    let bad = p
        .check(
            &spec(json!({"query": "SELECT * FROM no_such_table"})),
            TIMEOUT,
        )
        .await;
    assert_down(&bad, ErrorKind::Assertion, "error 1146");
    let write = p
        .check(
            &spec(json!({"query": "CREATE DATABASE vigilmon_should_not_exist"})),
            TIMEOUT,
        )
        .await;
    assert_down(&write, ErrorKind::Assertion, "SQLSTATE 25006");
    let slow = p
        .check(
            &spec(json!({"query": "SELECT SLEEP(5)"})),
            Duration::from_millis(800),
        )
        .await;
    assert_down(&slow, ErrorKind::Timeout, "");
}

#[tokio::test]
async fn logins_with_a_password_and_refusals() {
    // A user of the test's own, with a mysql_native_password password.
    let made = Command::new("mysql")
        .args(["-h127.0.0.1", "-uroot", "-e"])
        .arg(
            "CREATE USER IF NOT EXISTS 'vigilmon_probe'@'127.0.0.1' IDENTIFIED BY 'Pr0be pw'; \
              CREATE USER IF NOT EXISTS 'vigilmon_probe'@'localhost' IDENTIFIED BY 'Pr0be pw';",
        )
        .status()
        .expect("the mysql client must be installed (apt-get install mariadb-client)");
    assert!(made.success());
    let p = prober();
    let r = p
        .check(
            &spec_at(
                "mysql://vigilmon_probe:Pr0be%20pw@127.0.0.1/",
                json!({"query": "SELECT CURRENT_USER()"}),
            ),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(
        r.details.as_ref().unwrap()["value"]
            .as_str()
            .unwrap()
            .starts_with("vigilmon_probe@")
    );
    let wrong = p
        .check(
            &spec_at("mysql://vigilmon_probe:nope@127.0.0.1/", json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&wrong, ErrorKind::Connect, "login refused");
    let db = p
        .check(
            &spec_at("mysql://root@127.0.0.1/vigilmon_no_such_db", json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&db, ErrorKind::Connect, "no such database");
    // The local server offers no TLS: REQUIRED fails by name, PREFERRED carries on.
    let tls = p
        .check(
            &spec_at("mysql://root@127.0.0.1/?ssl-mode=REQUIRED", json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&tls, ErrorKind::Tls, "does not offer TLS");
}

#[tokio::test]
async fn refused_guarded_and_garbage() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let at = |port: u16| spec_at(&format!("mysql://u@127.0.0.1:{port}/d"), json!({}));
    let r = prober().check(&at(port), TIMEOUT).await;
    assert_down(&r, ErrorKind::Connect, "connection refused");

    let mut opts = ProbeOptions::new(RegionName::parse("eu-test").unwrap());
    opts.guard.deny_networks = vec!["127.0.0.0/8".parse().unwrap()];
    let guarded = Prober::new(opts).unwrap().check(&at(3306), TIMEOUT).await;
    assert_down(&guarded, ErrorKind::Dns, "may not use");

    // Something else listening: an HTTP server's greeting, then a Redis-like one.
    for greeting in [
        &b"HTTP/1.1 400 Bad Request\r\n\r\n"[..],
        &b"\x05\0\0\0\x0a5"[..],
    ] {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let greeting = greeting.to_vec();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(&greeting).await;
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
            }
        });
        let r = prober().check(&at(port), Duration::from_millis(800)).await;
        assert!(matches!(r.verdict, Verdict::Down { .. }), "{r:?}");
    }
}

/// Writes one packet of the MySQL protocol.
async fn packet<S: tokio::io::AsyncWrite + Unpin>(s: &mut S, seq: u8, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut p = len.to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(payload);
    s.write_all(&p).await.unwrap();
    s.flush().await.unwrap();
}

/// Reads one packet's payload.
async fn read_packet<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.unwrap();
    let len = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.unwrap();
    body
}

/// A stand-in MySQL server that offers TLS with a certificate of its own for
/// `localhost` and 127.0.0.1, and answers any query with one row: `tls-ok`.
async fn tls_stand_in() -> (u16, Vec<u8>) {
    use std::sync::Arc;
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let der = cert.der().clone();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![der.clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let caps: u32 = 0x200 | 0x800 | 0x8000 | 0x8_0000;
                let mut hello = vec![10];
                hello.extend_from_slice(b"8.0.99-stand-in\0");
                hello.extend_from_slice(&[7, 0, 0, 0]);
                hello.extend_from_slice(b"abcdefgh\0");
                hello.extend_from_slice(&(caps as u16).to_le_bytes());
                hello.extend_from_slice(&[45, 2, 0]);
                hello.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
                hello.push(21);
                hello.extend_from_slice(&[0; 10]);
                hello.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
                packet(&mut s, 0, &hello).await;
                let ssl = read_packet(&mut s).await;
                assert_eq!(ssl.len(), 32, "an SSL request");
                let Ok(mut t) = acceptor.accept(s).await else {
                    return;
                };
                read_packet(&mut t).await;
                let ok = [0u8, 0, 0, 2, 0, 0, 0];
                packet(&mut t, 3, &ok).await;
                read_packet(&mut t).await; // the session's SET
                packet(&mut t, 1, &ok).await;
                read_packet(&mut t).await; // the query
                packet(&mut t, 1, &[1]).await;
                packet(
                    &mut t,
                    2,
                    b"\x03def\0\0\0\x01v\0\x0c\x21\0\x06\0\0\0\xfd\0\0\0\0\0",
                )
                .await;
                packet(&mut t, 3, &[0xfe, 0, 0, 2, 0]).await;
                packet(&mut t, 4, b"\x06tls-ok").await;
                packet(&mut t, 5, &[0xfe, 0, 0, 2, 0]).await;
                let mut rest = [0u8; 64];
                let _ = t.read(&mut rest).await;
            });
        }
    });
    (port, der.to_vec())
}

#[tokio::test]
async fn tls_is_negotiated_and_verified_when_asked() {
    let (port, root) = tls_stand_in().await;
    let at = |mode: &str| {
        spec_at(
            &format!("mysql://mon:pw@localhost:{port}/?ssl-mode={mode}"),
            json!({"expect": {"value": "tls-ok"}}),
        )
    };
    let r = prober().check(&at("REQUIRED"), TIMEOUT).await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.tls_ms.is_some());
    assert!(r.cert_expires_at.is_some());
    assert_eq!(r.details.as_ref().unwrap()["tls"], true);
    // Not a trusted certificate: VERIFY_IDENTITY fails, unless its root is given.
    let v = prober().check(&at("VERIFY_IDENTITY"), TIMEOUT).await;
    assert_down(&v, ErrorKind::Tls, "TLS handshake failed");
    let mut opts = ProbeOptions::new(RegionName::parse("eu-test").unwrap());
    opts.extra_roots = vec![root];
    let trusted = Prober::new(opts)
        .unwrap()
        .check(&at("VERIFY_IDENTITY"), TIMEOUT)
        .await;
    assert_eq!(trusted.verdict, Verdict::Up, "{trusted:?}");
}
