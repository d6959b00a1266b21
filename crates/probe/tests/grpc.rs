//! The `grpc` check against a real gRPC server: grpcio with the standard health
//! service (`crates/test-support/grpc_health_server.py`), plain and with TLS (its
//! certificate signed by a test CA the prober is given as an extra root, or not),
//! one without the health service, and stand-ins that refuse or never answer.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);

/// The Python gRPC server on a port of its choosing; stopped (stdin closed, then
/// killed) and reaped on drop.
struct GrpcServer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    port: u16,
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GrpcServer {
    fn start(args: &[&str]) -> GrpcServer {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-support/grpc_health_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the gRPC tests");
        let stdout = child.stdout.take().expect("the server's stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
            panic!(
                "the gRPC server did not start; are grpcio and grpcio-health-checking installed? \
                 (python3 -m pip install grpcio grpcio-health-checking)"
            )
        });
        let port = first
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let stdin = child.stdin.take();
        GrpcServer {
            child,
            stdin,
            lines,
            port,
        }
    }

    /// Sets a service's health (`-` for the server as a whole) and waits until the
    /// server says it is done.
    fn set(&mut self, service: &str, status: &str) {
        let stdin = self.stdin.as_mut().expect("the server's stdin");
        writeln!(stdin, "{service} {status}").unwrap();
        stdin.flush().unwrap();
        let want = format!("set {service} {status}");
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(10))
                .expect("the server confirms the change");
            if line == want {
                break;
            }
        }
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
        .push(DnType::CommonName, "Vigilmon gRPC Test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path) = (dir.join("grpc.pem"), dir.join("grpc.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    Certs {
        ca_der: ca_cert.der().to_vec(),
        cert: cert_path,
        key: key_path,
    }
}

fn spec(url: String, extra: Value) -> CheckSpec {
    let mut v = json!({"name": "api", "type": "grpc", "url": url});
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
async fn plain_health_checks() {
    let mut server = GrpcServer::start(&[]);
    let url = format!("grpc://127.0.0.1:{}", server.port);
    let p = prober(None);

    // The server as a whole, with metadata and a response-time limit.
    let r = p
        .check(
            &spec(
                url.clone(),
                json!({"metadata": {"authorization": "Bearer t0ken"},
                       "expect": {"response_time": "5s"}}),
            ),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(
        r.phases.connect_ms.is_some() && r.phases.ttfb_ms.is_some(),
        "{r:?}"
    );
    assert_eq!(r.phases.tls_ms, None);
    assert_eq!(r.details.as_ref().unwrap()["status"], "SERVING");
    assert_eq!(
        r.remote_addr.as_deref(),
        Some(&*format!("127.0.0.1:{}", server.port))
    );

    // A named service, serving.
    let r = p
        .check(
            &spec(url.clone(), json!({"service": "vigilmon.test.Up"})),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");

    // Not serving.
    let r = p
        .check(
            &spec(url.clone(), json!({"service": "vigilmon.test.Down"})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Assertion,
        "service \"vigilmon.test.Down\" is NOT_SERVING",
    );
    assert_eq!(r.details.as_ref().unwrap()["status"], "NOT_SERVING");

    // An unknown service: NOT_FOUND, with the server's message.
    let r = p
        .check(
            &spec(url.clone(), json!({"service": "no.such.Service"})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Status,
        "the health check failed: NOT_FOUND (5)",
    );
    assert_down(
        &r,
        ErrorKind::Status,
        "does not know service \"no.such.Service\"",
    );
    assert_eq!(r.details.as_ref().unwrap()["grpc_code"], "NOT_FOUND");

    // The whole server turns NOT_SERVING, then back.
    server.set("-", "NOT_SERVING");
    let r = p.check(&spec(url.clone(), json!({})), TIMEOUT).await;
    assert_down(&r, ErrorKind::Assertion, "the server is NOT_SERVING");
    server.set("-", "SERVING");
    let r = p.check(&spec(url.clone(), json!({})), TIMEOUT).await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");

    // Plain gRPC to a TLS port is refused in words, not hung.
    let r = p
        .check(
            &spec(url.replace("grpc://", "grpcs://"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Tls, "TLS handshake failed");
}

#[tokio::test]
async fn a_server_without_the_health_service_is_unimplemented() {
    let server = GrpcServer::start(&["--no-health"]);
    let r = prober(None)
        .check(
            &spec(format!("grpc://localhost:{}", server.port), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Status,
        "the health check failed: UNIMPLEMENTED (12)",
    );
    assert_down(
        &r,
        ErrorKind::Status,
        "offers no grpc.health.v1.Health service",
    );
    let d = r.details.as_ref().unwrap();
    assert_eq!(
        (d["grpc_status"].as_u64(), d["grpc_code"].as_str()),
        (Some(12), Some("UNIMPLEMENTED"))
    );
}

#[tokio::test]
async fn tls_with_an_extra_root_and_untrusted() {
    let dir = tempfile::tempdir().unwrap();
    let c = certs(dir.path());
    let server = GrpcServer::start(&["--tls", c.cert.to_str().unwrap(), c.key.to_str().unwrap()]);
    let url = format!("grpcs://localhost:{}", server.port);

    let r = prober(Some(&c.ca_der))
        .check(
            &spec(url.clone(), json!({"service": "vigilmon.test.Up"})),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(
        r.phases.tls_ms.is_some() && r.phases.ttfb_ms.is_some(),
        "{r:?}"
    );
    assert!(r.cert_expires_at.is_some(), "{r:?}");

    // A horizon longer than the certificate's life (rcgen's lasts until 4096): degraded, as for http.
    let r = prober(Some(&c.ca_der))
        .check(
            &spec(url.clone(), json!({"warn": {"cert_expiry": "1000000d"}})),
            TIMEOUT,
        )
        .await;
    match &r.verdict {
        Verdict::Degraded { reason } => {
            assert!(reason.starts_with("certificate expires"), "{reason}")
        }
        other => panic!("expected degraded, got {other:?}"),
    }

    // Without the CA: untrusted; accepted with verify_tls: false.
    let r = prober(None)
        .check(&spec(url.clone(), json!({})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Tls, "UnknownIssuer");
    assert!(r.cert_expires_at.is_none());
    let r = prober(None)
        .check(&spec(url.clone(), json!({"verify_tls": false})), TIMEOUT)
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.cert_expires_at.is_some());
}

#[tokio::test]
async fn refused_and_silent_servers() {
    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = prober(None)
        .check(
            &spec(format!("grpc://127.0.0.1:{port}"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Connect, "connection refused");

    // A server that accepts and never answers: the check's timeout, not a hang.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            kept.push(s);
        }
    });
    let limit = Duration::from_millis(800);
    for url in [
        format!("grpc://127.0.0.1:{port}"),
        format!("grpcs://127.0.0.1:{port}"),
    ] {
        let t0 = std::time::Instant::now();
        let r = prober(None)
            .check(&spec(url.clone(), json!({})), limit)
            .await;
        assert_down(&r, ErrorKind::Timeout, "no answer within 800ms");
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "{url} took {:?}",
            t0.elapsed()
        );
    }
    held.abort();

    // An HTTP/1 server is not gRPC.
    let http1 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = http1.local_addr().unwrap().port();
    let answering = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = http1.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
        }
    });
    let r = prober(None)
        .check(
            &spec(format!("grpc://127.0.0.1:{port}"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict.error_kind(), Some(ErrorKind::Protocol), "{r:?}");
    answering.abort();
}
