//! The `smtp` check against a real SMTP server: aiosmtpd, run by the script the
//! notification tests use (`crates/notify/tests/smtp_sink.py`), plain, with STARTTLS
//! and with implicit TLS, its certificate signed by a test CA the prober is given as
//! an extra root (or not).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);

/// aiosmtpd on a free port; killed and reaped on drop.
struct Smtp {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test CA's certificate (DER) and the PEM files of a leaf it signed for
/// `localhost` and 127.0.0.1.
struct Certs {
    ca_der: Vec<u8>,
    cert: PathBuf,
    key: PathBuf,
}

fn certs(dir: &Path) -> Certs {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Vigilmon Mail Test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path) = (dir.join("mail.pem"), dir.join("mail.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    Certs {
        ca_der: ca_cert.der().to_vec(),
        cert: cert_path,
        key: key_path,
    }
}

impl Smtp {
    /// `tls`: `None`, or `("starttls" | "tls", certs)`.
    fn start(tls: Option<(&str, &Certs)>) -> Smtp {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../notify/tests/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .arg("accept")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((mode, c)) = tls {
            cmd.arg(mode).arg(&c.cert).arg(&c.key);
        }
        let mut child = cmd.spawn().expect("python3 is needed for the SMTP tests");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the SMTP server exited ({status}); is aiosmtpd installed? (python3 -m pip install aiosmtpd)"
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "the SMTP server never listened");
            std::thread::sleep(Duration::from_millis(25));
        }
        Smtp {
            child,
            port,
            _dir: dir,
        }
    }
}

fn spec(port: u16, extra: Value) -> CheckSpec {
    let mut v = json!({"name": "mx", "type": "smtp", "host": "localhost", "port": port});
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
async fn starttls_with_a_trusted_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let c = certs(dir.path());
    let server = Smtp::start(Some(("starttls", &c)));
    let r = prober(Some(&c.ca_der))
        .check(
            &spec(server.port, json!({"expect": {"banner": "Python SMTP"}})),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.ttfb_ms.is_some() && r.phases.tls_ms.is_some());
    assert!(r.cert_expires_at.is_some());
    let d = r.details.as_ref().unwrap();
    assert!(
        d["greeting"].as_str().unwrap().contains("Python SMTP"),
        "{d}"
    );
    assert!(
        d["issuer"]
            .as_str()
            .unwrap()
            .contains("Vigilmon Mail Test CA"),
        "{d}"
    );
    assert_eq!(d["trusted"], true);

    // Untrusted without the CA; accepted with verify_tls: false.
    let r = prober(None)
        .check(&spec(server.port, json!({})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Tls, "not trusted");
    let r = prober(None)
        .check(&spec(server.port, json!({"verify_tls": false})), TIMEOUT)
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    // Another greeting than expected.
    let r = prober(Some(&c.ca_der))
        .check(
            &spec(server.port, json!({"expect": {"banner": "Postfix"}})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Assertion,
        "expected the greeting to contain \"Postfix\"",
    );
}

#[tokio::test]
async fn implicit_tls_and_plain_servers() {
    let dir = tempfile::tempdir().unwrap();
    let c = certs(dir.path());
    let implicit = Smtp::start(Some(("tls", &c)));
    let r = prober(Some(&c.ca_der))
        .check(&spec(implicit.port, json!({"tls": "implicit"})), TIMEOUT)
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.tls_ms.is_some());

    let plain = Smtp::start(None);
    let r = prober(None)
        .check(&spec(plain.port, json!({"tls": "none"})), TIMEOUT)
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.details.as_ref().unwrap()["extensions"].is_array());
    // STARTTLS expected (the default) but not offered.
    let r = prober(None)
        .check(&spec(plain.port, json!({})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Protocol, "does not offer STARTTLS");
    // Not SMTP at all: an HTTP-like greeting.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let r = prober(None)
        .check(&spec(port, json!({"tls": "none"})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Protocol, "not an SMTP reply");
}
