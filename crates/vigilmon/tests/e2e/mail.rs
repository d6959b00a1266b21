//! `smtp` monitors through the real binary, on both stores, against a real SMTP
//! server (aiosmtpd): one with STARTTLS from the config file (its certificate trusted
//! through `probe.ca_files`), one made through the API whose greeting is not the one
//! expected, the form's "Test now", and `vigilmon check smtp://…`.

use serde_json::json;
use test_support::{Backend, Server, SmtpServer, StoreFixture, run_cli};

use crate::ui::{OWNER, PASSWORD, Web};
use crate::{bin, both_backends};

async fn smtp_monitors_end_to_end(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let mail = SmtpServer::start(true);
    let plain = SmtpServer::start(false);
    let config = format!(
        r#"
probe: {{ ca_files: ["{ca}"] }}
monitors:
  - {{ name: mx, type: smtp, host: localhost, port: {port}, interval: 1h, expect: {{ banner: Python SMTP }} }}
"#,
        ca = mail.ca_file.display(),
        port = mail.port,
    );
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, config).unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    let mx = list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "mx")
        .cloned()
        .expect("the file's monitor");
    assert_eq!(mx["type"], "smtp");
    let (code, c) = server
        .post(
            &format!("/api/v1/monitors/{}/check-now", mx["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(code, 200, "{c}");
    assert_eq!(c["state"], "up", "{c}");
    let r = &c["result"];
    assert!(
        r["phases"]["tls_ms"].is_u64() && r["phases"]["ttfb_ms"].is_u64(),
        "{r}"
    );
    assert!(r["cert_expires_at"].is_string(), "{r}");
    assert_eq!(r["details"]["trusted"], true, "{r}");

    // Through the API: a plain server whose greeting is not the one expected.
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "relay", "type": "smtp", "host": "127.0.0.1", "port": plain.port,
                "tls": "none", "expect": {"banner": "Postfix"}}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let (_, c) = server
        .post(
            &format!("/api/v1/monitors/{}/check-now", m["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(c["result"]["error_kind"], "assertion", "{c}");
    // The default asks for STARTTLS, which the plain server does not offer.
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "relay tls", "type": "smtp", "host": "127.0.0.1", "port": plain.port}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let (_, c) = server
        .post(
            &format!("/api/v1/monitors/{}/check-now", m["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(c["result"]["error_kind"], "protocol", "{c}");
    assert_eq!(
        c["result"]["error"], "the server does not offer STARTTLS",
        "{c}"
    );
    let (status, e) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "typo", "type": "smtp", "host": "mx", "tls": "ssl"}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    assert!(e.to_string().contains("tls"), "{e}");

    // The form's "Test now".
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    let port = mail.port.to_string();
    let form = [
        ("_csrf", csrf.as_str()),
        ("type", "smtp"),
        ("name", "mx from the form"),
        ("host", "localhost"),
        ("port", port.as_str()),
        ("action", "test"),
    ];
    let r = web.post("/monitors/new", &form, Some(&server.url)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Test result"), "{}", r.body);
    assert!(r.body.contains("Python SMTP"), "the greeting: {}", r.body);
}

both_backends!(smtp_monitors, smtp_monitors_end_to_end);

#[test]
fn check_speaks_to_a_mail_server_from_the_terminal() {
    let mail = SmtpServer::start(true);
    let (code, out, err) = run_cli(
        bin(),
        &[
            "check".into(),
            format!("smtp://localhost:{}", mail.port),
            "--ca-file".into(),
            mail.ca_file.display().to_string(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: UP"), "{out}");
    assert!(out.contains("greeting    localhost Python SMTP"), "{out}");
    let (code, out, _) = run_cli(
        bin(),
        &["check".into(), format!("smtp://localhost:{}", mail.port)],
        None,
    );
    assert_eq!(code, 1, "untrusted without the CA: {out}");
    assert!(out.contains("verdict: DOWN (tls)"), "{out}");
}
