//! `tls` monitors through the real binary, on both stores: certificates of local TLS
//! servers (trusted through `probe.ca_files`) watched from the config file — one
//! expiring soon is degraded, a failure horizon turns it down —, one made through the
//! API failing on its issuer, the form's "Test now", and `vigilmon check tls://…`.

use serde_json::{Value, json};
use test_support::{Backend, Server, StoreFixture, TlsTarget, run_cli};

use crate::ui::{OWNER, PASSWORD, Web};
use crate::{bin, both_backends};

fn in_days(n: i64) -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(n))
        .unwrap()
}

/// `host:port` of a target's URL.
fn port_of(target: &TlsTarget) -> String {
    target.url.rsplit(':').next().unwrap().to_owned()
}

async fn tls_monitors_end_to_end(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let soon = TlsTarget::start(in_days(10)).await;
    let later = TlsTarget::start(in_days(90)).await;
    let config = format!(
        r#"
probe: {{ ca_files: ["{soon_ca}", "{later_ca}"] }}
monitors:
  - {{ name: shop cert, type: tls, host: localhost, port: {soon}, interval: 1h }}
  - {{ name: shop cert strict, type: tls, host: localhost, port: {soon}, interval: 1h, confirmations: 1, expect: {{ cert_expiry: 20d }}, warn: {{ cert_expiry: 30d }} }}
  - {{ name: docs cert, type: tls, host: 127.0.0.1, port: {later}, interval: 1h, min_version: "1.3" }}
"#,
        soon_ca = soon.ca_file.display(),
        later_ca = later.ca_file.display(),
        soon = port_of(&soon),
        later = port_of(&later),
    );
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, config).unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    let id_of = |name: &str| {
        list["monitors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["id"].as_str())
            .unwrap_or_else(|| panic!("{name} from the file: {list}"))
            .to_owned()
    };
    let check = |name: &str| {
        let id = id_of(name);
        let server = &server;
        async move {
            let (code, body) = server
                .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
                .await;
            assert_eq!(code, 200, "{body}");
            body
        }
    };
    let shop = check("shop cert").await;
    assert_eq!(shop["state"], "degraded", "{shop}");
    let strict = check("shop cert strict").await;
    assert_eq!(strict["state"], "down", "{strict}");
    assert_eq!(strict["result"]["error_kind"], "tls", "{strict}");
    assert!(
        strict["result"]["error"]
            .as_str()
            .unwrap()
            .contains("within 20 days"),
        "{strict}"
    );
    let docs = check("docs cert").await;
    assert_eq!(docs["state"], "up", "{docs}");
    assert!(docs["result"]["phases"]["tls_ms"].is_u64(), "{docs}");

    // The result, with its figures, in the results list.
    let (_, res) = server
        .get(&format!(
            "/api/v1/monitors/{}/results?limit=1",
            id_of("docs cert")
        ))
        .await;
    let r: &Value = &res["results"][0];
    assert_eq!(r["ok"], true, "{r}");

    // Through the API: another issuer than the one expected fails by name.
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "docs issuer", "type": "tls", "host": "localhost",
                "port": port_of(&later).parse::<u32>().unwrap(), "issuer": "Let's Encrypt"}),
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
    assert!(
        c["result"]["error"]
            .as_str()
            .unwrap()
            .ends_with("not by \"Let's Encrypt\""),
        "{c}"
    );
    // Bad input names the field.
    let (status, e) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "typo", "type": "tls", "host": "localhost", "starttls": "imap", "min_version": "1.0"}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("starttls") && text.contains("min_version"),
        "{text}"
    );

    // The UI: the form's "Test now" shows the certificate; the dashboard its expiry.
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    let port = port_of(&soon);
    let form = [
        ("_csrf", csrf.as_str()),
        ("type", "tls"),
        ("name", "cert from the form"),
        ("host", "localhost"),
        ("port", port.as_str()),
        ("action", "test"),
    ];
    let r = web.post("/monitors/new", &form, Some(&server.url)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Test result"), "{}", r.body);
    assert!(
        r.body
            .contains("<dd id=\"test-cert\">certificate expires in"),
        "{}",
        r.body
    );
    assert!(r.body.contains("days left"), "{}", r.body);
    let dash = web.get("/").await;
    assert!(
        dash.body.contains("certificate expires in"),
        "{}",
        dash.body
    );
}

both_backends!(tls_monitors, tls_monitors_end_to_end);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reads_a_certificate_from_the_terminal() {
    let target = TlsTarget::start(in_days(30)).await;
    let args = vec![
        "check".to_owned(),
        format!("tls://localhost:{}", port_of(&target)),
        "--ca-file".to_owned(),
        target.ca_file.display().to_string(),
    ];
    let (code, out, err) = tokio::task::spawn_blocking(move || run_cli(bin(), &args, None))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: UP"), "{out}");
    assert!(out.contains("names       localhost, 127.0.0.1"), "{out}");
    assert!(out.contains("trusted"), "{out}");
    let (code, _, err) = run_cli(
        bin(),
        &[
            "check".into(),
            "https://localhost/".into(),
            "--starttls".into(),
            "smtp".into(),
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--starttls"), "{err}");
}
