//! The `tls` check against rustls servers the tests start on free ports, with a test
//! CA of their own (given to the prober as an extra root, or not): trusted,
//! untrusted, wrong name, expired, expiring, another issuer, an old protocol version,
//! and the same certificate behind SMTP's STARTTLS.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);

/// A test CA and what it signs.
struct Ca {
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn ca() -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Vigilmon Test CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Vigilmon Tests");
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf for `names`, valid from yesterday for `days` days (negative: expired).
fn leaf(
    ca: &Ca,
    names: &[&str],
    days: i64,
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    // The start of the day `n` days from today (UTC).
    let day = |n: i64| {
        let d = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .checked_add(jiff::Span::new().days(n))
            .unwrap();
        rcgen::date_time_ymd(
            i32::from(d.year()),
            d.month().unsigned_abs(),
            d.day().unsigned_abs(),
        )
    };
    params.not_before = day(-2);
    params.not_after = day(days);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (
        vec![cert.der().clone(), ca.der.clone()],
        PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
}

fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    tls12_only: bool,
) -> TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider);
    let builder = if tls12_only {
        builder.with_protocol_versions(&[&rustls::version::TLS12])
    } else {
        builder.with_safe_default_protocol_versions()
    };
    let config = builder
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// A TLS server on a free port; with `smtp`, an SMTP server that offers STARTTLS
/// (or, with `offer: false`, does not).
async fn serve(acceptor: TlsAcceptor, smtp: Option<bool>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut s = BufReader::new(s);
                if let Some(offer) = smtp {
                    let mut line = String::new();
                    s.write_all(b"220 mx.test ESMTP ready\r\n").await.unwrap();
                    s.read_line(&mut line).await.unwrap();
                    let ehlo: &[u8] = if offer {
                        b"250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
                    } else {
                        b"250-mx.test\r\n250 PIPELINING\r\n"
                    };
                    s.write_all(ehlo).await.unwrap();
                    line.clear();
                    if s.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    s.write_all(b"220 go ahead\r\n").await.unwrap();
                }
                if let Ok(mut t) = acceptor.accept(s.into_inner()).await {
                    let mut buf = [0u8; 64];
                    let _ = t.read(&mut buf).await;
                }
            });
        }
    });
    port
}

fn spec(port: u16, extra: Value) -> CheckSpec {
    let mut v = json!({"name": "cert", "type": "tls", "host": "localhost", "port": port});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let cfg: MonitorConfig = serde_json::from_value(v).unwrap();
    cfg.build().unwrap().check
}

fn prober(ca: Option<&Ca>) -> Prober {
    let mut opts = ProbeOptions::new(RegionName::parse("eu-test").unwrap());
    if let Some(ca) = ca {
        opts.extra_roots = vec![ca.der.to_vec()];
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
async fn a_trusted_certificate_is_up_with_its_figures() {
    let ca = ca();
    let (chain, key) = leaf(&ca, &["localhost", "127.0.0.1"], 90);
    let port = serve(acceptor(chain, key, false), None).await;
    let r = prober(Some(&ca))
        .check(
            &spec(
                port,
                json!({"issuer": "vigilmon test", "min_version": "1.3"}),
            ),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.connect_ms.is_some() && r.phases.tls_ms.is_some());
    assert!(r.cert_expires_at.is_some());
    let d = r.details.as_ref().unwrap();
    assert!(
        d["issuer"].as_str().unwrap().contains("Vigilmon Test CA"),
        "{d}"
    );
    assert_eq!(d["names"], json!(["localhost", "127.0.0.1"]));
    assert_eq!(d["protocol"], "TLS 1.3");
    assert_eq!(d["chain"], 2);
    assert_eq!(d["trusted"], true);
    assert!((89..=90).contains(&d["days_left"].as_i64().unwrap()), "{d}");

    // Another issuer than the one expected fails by name.
    let r = prober(Some(&ca))
        .check(&spec(port, json!({"issuer": "Let's Encrypt"})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Assertion, "not by \"Let's Encrypt\"");
    // Without the CA among the roots, the chain is not trusted; the figures remain.
    let r = prober(None).check(&spec(port, json!({})), TIMEOUT).await;
    assert_down(&r, ErrorKind::Tls, "not trusted");
    assert_eq!(r.details.as_ref().unwrap()["trusted"], false);
    assert!(
        r.details.as_ref().unwrap()["issuer"]
            .as_str()
            .unwrap()
            .contains("Vigilmon")
    );
}

#[tokio::test]
async fn wrong_names_expiry_and_old_versions() {
    let ca = ca();
    let (chain, key) = leaf(&ca, &["other.test"], 90);
    let port = serve(acceptor(chain, key, false), None).await;
    let r = prober(Some(&ca))
        .check(&spec(port, json!({})), TIMEOUT)
        .await;
    assert_down(
        &r,
        ErrorKind::Tls,
        "not valid for localhost: it is valid for other.test",
    );

    let (chain, key) = leaf(&ca, &["localhost"], 10);
    let port = serve(acceptor(chain, key, false), None).await;
    let p = prober(Some(&ca));
    let r = p.check(&spec(port, json!({})), TIMEOUT).await;
    assert!(
        matches!(&r.verdict, Verdict::Degraded { reason } if reason.contains("within 14 days")),
        "{r:?}"
    );
    let r = p
        .check(
            &spec(port, json!({"expect": {"cert_expiry": "20d"}})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Tls, "within 20 days");

    let (chain, key) = leaf(&ca, &["localhost"], -1);
    let port = serve(acceptor(chain, key, false), None).await;
    let r = prober(Some(&ca))
        .check(&spec(port, json!({})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Tls, "expired");

    let (chain, key) = leaf(&ca, &["localhost"], 90);
    let port = serve(acceptor(chain, key, true), None).await;
    let p = prober(Some(&ca));
    let r = p.check(&spec(port, json!({})), TIMEOUT).await;
    assert_eq!(
        r.verdict,
        Verdict::Up,
        "TLS 1.2 is the default minimum: {r:?}"
    );
    assert_eq!(r.details.as_ref().unwrap()["protocol"], "TLS 1.2");
    let r = p
        .check(&spec(port, json!({"min_version": "1.3"})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Tls, "below the minimum 1.3");
}

#[tokio::test]
async fn starttls_on_an_smtp_server() {
    let ca = ca();
    let (chain, key) = leaf(&ca, &["localhost"], 90);
    let port = serve(acceptor(chain.clone(), key.clone_key(), false), Some(true)).await;
    let r = prober(Some(&ca))
        .check(&spec(port, json!({"starttls": "smtp"})), TIMEOUT)
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.ttfb_ms.is_some(), "the greeting's time");
    assert!(r.phases.tls_ms.is_some());

    let none = serve(acceptor(chain, key, false), Some(false)).await;
    let r = prober(Some(&ca))
        .check(&spec(none, json!({"starttls": "smtp"})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Protocol, "does not offer STARTTLS");
    // Not TLS at all on the port: a handshake failure, named.
    let r = prober(Some(&ca))
        .check(&spec(none, json!({})), TIMEOUT)
        .await;
    assert!(
        matches!(
            &r.verdict,
            Verdict::Down {
                kind: ErrorKind::Tls | ErrorKind::Protocol,
                ..
            }
        ),
        "{r:?}"
    );
}
