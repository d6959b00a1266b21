//! The `mqtt` check against real Mosquitto brokers: the shared one on 127.0.0.1:1883
//! (anonymous; every test on topics of its own), and one the test starts on free ports
//! with a configuration it writes — a TLS listener with a certificate signed by a test
//! CA, a password file made with `mosquitto_passwd`, and an ACL that lets one user
//! only read.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);
/// The shared broker.
const SHARED: &str = "mqtt://127.0.0.1:1883";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A topic no other test (or run) uses.
fn topic(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("vigilmon/test/{what}/{}-{nanos}", std::process::id())
}

/// A Mosquitto of the test's own: `plain` without TLS, `tls` with the test CA's
/// certificate for `localhost` only; users `probe` (read and write under
/// `vigilmon/`) and `reader` (read only), no anonymous logins. Killed on drop.
struct Broker {
    child: Child,
    plain: u16,
    tls: u16,
    ca_der: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Vigilmon MQTT Test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        std::fs::write(d.join("broker.pem"), cert.pem()).unwrap();
        std::fs::write(d.join("broker.key"), key.serialize_pem()).unwrap();
        let passwords = d.join("passwords");
        for (i, (user, pass)) in [("probe", "probe-secret"), ("reader", "reader-secret")]
            .iter()
            .enumerate()
        {
            let mut cmd = Command::new("mosquitto_passwd");
            if i == 0 {
                cmd.arg("-c");
            }
            let ok = cmd
                .arg("-b")
                .arg(&passwords)
                .arg(user)
                .arg(pass)
                .stdout(Stdio::null())
                .status()
                .expect("mosquitto_passwd is needed (Debian package mosquitto)");
            assert!(ok.success(), "mosquitto_passwd failed");
        }
        std::fs::write(
            d.join("acl"),
            "user probe\ntopic readwrite vigilmon/#\n\nuser reader\ntopic read vigilmon/#\n",
        )
        .unwrap();
        let (plain, tls) = (free_port(), free_port());
        let conf = format!(
            "user root\npersistence false\nper_listener_settings false\n\
             allow_anonymous false\npassword_file {pw}\nacl_file {acl}\n\
             listener {plain} 127.0.0.1\n\
             listener {tls} 127.0.0.1\ncertfile {cert}\nkeyfile {key}\n",
            pw = passwords.display(),
            acl = d.join("acl").display(),
            cert = d.join("broker.pem").display(),
            key = d.join("broker.key").display(),
        );
        std::fs::write(d.join("mosquitto.conf"), conf).unwrap();
        let mut child = Command::new(mosquitto())
            .arg("-c")
            .arg(d.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is needed for the MQTT tests");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("mosquitto exited ({status})");
            }
            if [plain, tls]
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                break;
            }
            assert!(Instant::now() < deadline, "mosquitto never listened");
            std::thread::sleep(Duration::from_millis(25));
        }
        Broker {
            child,
            plain,
            tls,
            ca_der: ca_cert.der().to_vec(),
            _dir: dir,
        }
    }
}

/// Where Debian puts the broker (not on a user's PATH).
fn mosquitto() -> &'static str {
    if Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    }
}

fn spec(url: &str, extra: Value) -> CheckSpec {
    let mut v = json!({"name": "broker", "type": "mqtt", "url": url});
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
async fn the_shared_broker_connects_and_gives_messages_back() {
    let r = prober(None).check(&spec(SHARED, json!({})), TIMEOUT).await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.connect_ms.is_some() && r.phases.ttfb_ms.is_some());
    assert!(r.phases.tls_ms.is_none() && r.cert_expires_at.is_none());
    let d = r.details.as_ref().unwrap();
    assert_eq!(d["tls"], false);
    assert!(
        d["client_id"].as_str().unwrap().starts_with("vigilmon-"),
        "{d}"
    );

    // Round trips on one topic at once: each check waits for its own message.
    let t = topic("round-trip");
    let s = spec(
        SHARED,
        json!({"publish": {"topic": t, "message": "hello"}, "client_id": "ignored-below"}),
    );
    let s2 = spec(SHARED, json!({"publish": {"topic": t}}));
    let p = prober(None);
    let (a, b, c) = tokio::join!(
        p.check(&s2, TIMEOUT),
        p.check(&s2, TIMEOUT),
        p.check(&s, TIMEOUT)
    );
    for r in [&a, &b, &c] {
        assert_eq!(r.verdict, Verdict::Up, "{r:?}");
        let d = r.details.as_ref().unwrap();
        assert!(d["round_trip_ms"].is_u64(), "{d}");
        assert_eq!(d["topic"], json!(t));
    }
    assert_eq!(c.details.as_ref().unwrap()["client_id"], "ignored-below");
}

#[tokio::test]
async fn nothing_listening_is_a_refused_connection() {
    let port = free_port();
    let r = prober(None)
        .check(
            &spec(&format!("mqtt://127.0.0.1:{port}"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Connect, "connection refused");
}

#[tokio::test]
async fn logins_tls_and_a_message_that_never_comes_back() {
    let b = Broker::start();
    let ca = Some(b.ca_der.as_slice());
    let t = topic("tls");

    // TLS, a trusted certificate, credentials in the URL, a round trip.
    let url = format!("mqtts://probe:probe-secret@localhost:{}", b.tls);
    let r = prober(ca)
        .check(&spec(&url, json!({"publish": {"topic": t}})), TIMEOUT)
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert!(r.phases.tls_ms.is_some() && r.cert_expires_at.is_some());
    let d = r.details.as_ref().unwrap();
    assert_eq!((&d["tls"], &d["trusted"]), (&json!(true), &json!(true)));
    assert!(
        d["issuer"]
            .as_str()
            .unwrap()
            .contains("Vigilmon MQTT Test CA")
    );

    // Credentials as fields, without TLS.
    let plain = format!("mqtt://localhost:{}", b.plain);
    let r = prober(None)
        .check(
            &spec(
                &plain,
                json!({"username": "probe", "password": "probe-secret", "keep_alive": "5s"}),
            ),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");

    // A wrong password, and no login where anonymous clients are refused.
    let r = prober(None)
        .check(
            &spec(
                &format!("mqtt://probe:wrong@localhost:{}", b.plain),
                json!({}),
            ),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Connect, "the broker refused the login");
    let r = prober(None).check(&spec(&plain, json!({})), TIMEOUT).await;
    assert_down(&r, ErrorKind::Connect, "the broker refused the login");

    // The certificate: untrusted without the CA, for another name than the one
    // dialled; accepted with verify_tls: false. No password is sent either way.
    let r = prober(None).check(&spec(&url, json!({})), TIMEOUT).await;
    assert_down(&r, ErrorKind::Tls, "not trusted");
    assert!(
        r.phases.ttfb_ms.is_none(),
        "no CONNECT after a refused certificate"
    );
    let by_ip = format!("mqtts://probe:probe-secret@127.0.0.1:{}", b.tls);
    let r = prober(ca).check(&spec(&by_ip, json!({})), TIMEOUT).await;
    assert_down(
        &r,
        ErrorKind::Tls,
        "the certificate is not valid for 127.0.0.1: it is valid for localhost",
    );
    let r = prober(None)
        .check(&spec(&by_ip, json!({"verify_tls": false})), TIMEOUT)
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    // Expiring within the failure horizon (rcgen's certificates last until 4096).
    let r = prober(ca)
        .check(
            &spec(
                &url,
                json!({"expect": {"cert_expiry": "1000000d"}, "warn": {"cert_expiry": "1000001d"}}),
            ),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Tls, "the certificate expires in");

    // A user who may read but not write: the broker drops the message silently.
    let reader = format!("mqtt://reader:reader-secret@localhost:{}", b.plain);
    let r = prober(None)
        .check(
            &spec(&reader, json!({"publish": {"topic": t}})),
            Duration::from_secs(2),
        )
        .await;
    assert_down(&r, ErrorKind::Timeout, "did not come back within 2s");
}

#[tokio::test]
async fn a_server_that_is_no_broker_is_a_protocol_error() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let r = prober(None)
        .check(
            &spec(&format!("mqtt://127.0.0.1:{port}"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Protocol, "while waiting for CONNACK");
}

/// A stand-in broker that answers each packet it reads with the next of `replies`.
async fn scripted(replies: &'static [&'static [u8]]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                for reply in replies {
                    if s.read(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let _ = s.write_all(reply).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn refusals_the_shared_broker_does_not_make_are_named() {
    // Mosquitto 2.0 grants MQTT 3.1.1 subscriptions its ACL denies; other brokers
    // answer 0x80.
    let port = scripted(&[&[0x20, 2, 0, 0], &[0x90, 3, 0, 1, 0x80]]).await;
    let r = prober(None)
        .check(
            &spec(
                &format!("mqtt://127.0.0.1:{port}"),
                json!({"publish": {"topic": "vigilmon/probe"}}),
            ),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Assertion,
        "the broker refused the subscription to \"vigilmon/probe\"",
    );
    let port = scripted(&[&[0x20, 2, 0, 1]]).await;
    let r = prober(None)
        .check(
            &spec(&format!("mqtt://127.0.0.1:{port}"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Protocol, "unacceptable protocol version");
    let port = scripted(&[&[0x20, 2, 0, 3]]).await;
    let r = prober(None)
        .check(
            &spec(&format!("mqtt://127.0.0.1:{port}"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Connect, "server unavailable");
    let port = scripted(&[&[0x20, 2, 0, 9]]).await;
    let r = prober(None)
        .check(
            &spec(&format!("mqtt://127.0.0.1:{port}"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Protocol, "unknown return code 9");
}
