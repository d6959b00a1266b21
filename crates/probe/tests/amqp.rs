//! The `amqp` check against the real RabbitMQ on 127.0.0.1:5672 (guest/guest): a
//! login, a channel, and the broker's refusals in words (a wrong password, a virtual
//! host that does not exist). `amqps://` goes through a small TLS terminator the test
//! starts in front of 5672 (tokio-rustls, a certificate from the test's CA for
//! `localhost` only), since the shared broker has no TLS listener.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);
const RABBIT: &str = "127.0.0.1:5672";

fn spec(url: &str, extra: Value) -> CheckSpec {
    let mut v = json!({"name": "rabbit", "type": "amqp", "url": url});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let cfg: MonitorConfig = serde_json::from_value(v).unwrap();
    cfg.build().unwrap().check
}

fn prober(root: Option<&[u8]>) -> Prober {
    let mut opts = ProbeOptions::new(RegionName::parse("eu-test").unwrap());
    if let Some(r) = root {
        opts.extra_roots = vec![r.to_vec()];
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
async fn rabbitmq_logs_in_and_opens_a_channel() {
    let r = prober(None)
        .check(
            &spec(&format!("amqp://guest:guest@{RABBIT}/%2F"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.connect_ms.is_some() && r.phases.ttfb_ms.is_some());
    assert!(r.phases.tls_ms.is_none());
    let d = r.details.as_ref().unwrap();
    assert!(d["server"].as_str().unwrap().starts_with("RabbitMQ"), "{d}");
    assert!(d["mechanisms"].as_str().unwrap().contains("PLAIN"), "{d}");
    assert!(
        d["handshake_ms"].is_u64() && d["channel_ms"].is_u64(),
        "{d}"
    );
    assert_eq!(d["vhost"], "/");
    // guest/guest and the default virtual host when the URL names none.
    let r = prober(None)
        .check(&spec(&format!("amqp://{RABBIT}"), json!({})), TIMEOUT)
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
}

#[tokio::test]
async fn refusals_are_named() {
    let r = prober(None)
        .check(
            &spec(&format!("amqp://guest:wrong@{RABBIT}/%2F"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Connect,
        "login refused for \"guest\": ACCESS_REFUSED",
    );
    let r = prober(None)
        .check(
            &spec(
                &format!("amqp://guest:guest@{RABBIT}/no-such-vhost"),
                json!({}),
            ),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Connect,
        "virtual host \"no-such-vhost\" not allowed: NOT_ALLOWED",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = prober(None)
        .check(
            &spec(&format!("amqp://127.0.0.1:{port}"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Connect, "connection refused");
}

#[tokio::test]
async fn a_server_that_is_no_broker_is_a_protocol_error() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = l.accept().await {
            // What an AMQP 1.0 broker answers a 0-9-1 client: its own header.
            let _ = s.write_all(b"AMQP\x00\x01\x00\x00").await;
        }
    });
    let r = prober(None)
        .check(
            &spec(&format!("amqp://127.0.0.1:{port}"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Protocol,
        "the broker speaks AMQP 1-0-0, not 0-9-1",
    );
}

/// A TLS terminator on a free port in front of the shared broker, with a certificate
/// for `localhost` from a test CA (whose DER is returned).
async fn tls_relay() -> (u16, Vec<u8>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Vigilmon AMQP Test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                let Ok(mut broker) = tokio::net::TcpStream::connect(RABBIT).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
            });
        }
    });
    (port, ca_cert.der().to_vec())
}

#[tokio::test]
async fn amqps_judges_the_certificate_before_logging_in() {
    let (port, ca) = tls_relay().await;
    let url = format!("amqps://guest:guest@localhost:{port}/%2F");
    let r = prober(Some(&ca))
        .check(&spec(&url, json!({})), TIMEOUT)
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.tls_ms.is_some() && r.cert_expires_at.is_some());
    let d = r.details.as_ref().unwrap();
    assert_eq!((&d["tls"], &d["trusted"]), (&json!(true), &json!(true)));
    assert!(d["server"].as_str().unwrap().starts_with("RabbitMQ"), "{d}");

    // Untrusted without the CA; another name than the certificate's. Either way no
    // login is attempted.
    let r = prober(None).check(&spec(&url, json!({})), TIMEOUT).await;
    assert_down(&r, ErrorKind::Tls, "not trusted");
    assert!(
        r.phases.ttfb_ms.is_none(),
        "nothing sent after a refused certificate"
    );
    let by_ip = format!("amqps://guest:guest@127.0.0.1:{port}/%2F");
    let r = prober(Some(&ca))
        .check(&spec(&by_ip, json!({})), TIMEOUT)
        .await;
    assert_down(
        &r,
        ErrorKind::Tls,
        "the certificate is not valid for 127.0.0.1: it is valid for localhost",
    );
    let r = prober(None)
        .check(&spec(&by_ip, json!({"verify_tls": false})), TIMEOUT)
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
}
