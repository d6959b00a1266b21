//! `grpc` monitors through the real binary, on both stores, against a real gRPC
//! server (grpcio with the standard health service): one over TLS from the config
//! file (its certificate trusted through `probe.ca_files`, an authorization token in
//! its metadata that the API and the UI never show), one made through the API whose
//! service is not serving, the form's "Test now", an agent running one from its
//! assignment, and `vigilmon check grpc://…` / `grpcs://…`.

use std::time::Duration;

use serde_json::json;
use test_support::{
    Agent, Backend, GrpcServer, Server, StoreFixture, create_agent_token, run_cli, wait_for,
};

use crate::ui::{OWNER, PASSWORD, Web};
use crate::{bin, both_backends};

const TOKEN: &str = "grpc-Token-4";

async fn grpc_monitors_end_to_end(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let tls = GrpcServer::start(true);
    let plain = GrpcServer::start(false);
    let config = format!(
        r#"
probe: {{ ca_files: ["{ca}"] }}
monitors:
  - name: api health
    type: grpc
    url: grpcs://localhost:{port}
    metadata: {{ authorization: "Bearer {TOKEN}" }}
    interval: 1h
"#,
        ca = tls.ca_file.display(),
        port = tls.port,
    );
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, config).unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    let api = list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "api health")
        .cloned()
        .expect("the file's monitor");
    assert_eq!(api["type"], "grpc");
    assert_eq!(api["metadata"]["authorization"], "********", "{api}");
    assert!(!list.to_string().contains(TOKEN), "the API shows the token");
    let id = api["id"].as_str().unwrap().to_owned();
    let (code, c) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(code, 200, "{c}");
    assert_eq!(c["state"], "up", "{c}");
    let r = &c["result"];
    assert!(
        r["phases"]["tls_ms"].is_u64() && r["phases"]["ttfb_ms"].is_u64(),
        "{r}"
    );
    assert!(r["cert_expires_at"].is_string(), "{r}");
    assert_eq!(r["details"]["status"], "SERVING", "{r}");

    // Through the API: a service that is not serving, and one the server does not know.
    let url = format!("grpc://127.0.0.1:{}", plain.port);
    for (service, kind, words) in [
        (
            "vigilmon.test.Down",
            "assertion",
            "service \"vigilmon.test.Down\" is NOT_SERVING",
        ),
        ("no.such.Service", "status", "NOT_FOUND (5)"),
    ] {
        let (status, m) = server
            .post(
                "/api/v1/monitors",
                &json!({"name": service, "type": "grpc", "url": url, "service": service}),
            )
            .await;
        assert_eq!(status, 201, "{m}");
        let (_, c) = server
            .post(
                &format!("/api/v1/monitors/{}/check-now", m["id"].as_str().unwrap()),
                &json!({}),
            )
            .await;
        assert_eq!(c["result"]["error_kind"], kind, "{c}");
        assert!(
            c["result"]["error"].as_str().unwrap().contains(words),
            "{c}"
        );
    }
    let (status, e) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "typo", "type": "grpc", "url": "https://api.example", "metadata": {"grpc-timeout": "1S"}}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    let text = e.to_string();
    assert!(text.contains("url") && text.contains("grpcs://"), "{text}");

    // The UI: no page shows the token; the form's "Test now" runs the check.
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    for path in [
        "/".to_owned(),
        format!("/monitors/{id}"),
        format!("/monitors/{id}/edit"),
    ] {
        let page = web.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(!page.body.contains(TOKEN), "{path} shows the token");
    }
    let form = [
        ("_csrf", csrf.as_str()),
        ("type", "grpc"),
        ("name", "grpc from the form"),
        ("url", url.as_str()),
        ("service", "vigilmon.test.Up"),
        ("metadata", "x-tenant: blue"),
        // Ticked by default, as a browser sends it.
        ("verify_tls", "on"),
        ("action", "test"),
    ];
    let r = web.post("/monitors/new", &form, Some(&server.url)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("Test result: <span class=\"st up\">Up"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("<dt>status</dt><dd>SERVING</dd>"),
        "the health status: {}",
        r.body
    );
    let mut save = form.to_vec();
    save.retain(|(k, _)| *k != "action");
    save.push(("action", "save"));
    let r = web.post("/monitors/new", &save, Some(&server.url)).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (_, list) = server.get("/api/v1/monitors").await;
    let saved = list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "grpc from the form")
        .cloned()
        .expect("saved from the form");
    assert_eq!(saved["service"], "vigilmon.test.Up");
    assert_eq!(saved["metadata"]["x-tenant"], "********");
}

both_backends!(grpc_monitors, grpc_monitors_end_to_end);

/// An agent of region `eu` runs a grpc monitor from its assignment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_a_grpc_monitor() {
    let grpc = GrpcServer::start(false);
    let store = StoreFixture::new(Backend::Sqlite).await;
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(
        &path,
        "regions:\n  - {name: local, enabled: false}\n  - {name: eu}\n",
    )
    .unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "api", "type": "grpc", "url": format!("grpc://127.0.0.1:{}", grpc.port),
                "interval": "10s", "regions": ["eu"]}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let (_, token) = create_agent_token(bin(), &store, "eu-1", "eu");
    let data = store.dir.path().join("agent-eu-1");
    let mut agent = Agent::start(bin(), &server.url, "eu", &token, &data, &[]);
    let r = wait_for(
        "a result of the monitor",
        Duration::from_secs(30),
        || async {
            let (_, v) = server
                .get(&format!("/api/v1/monitors/{id}/results?limit=1"))
                .await;
            v["results"].as_array()?.first().cloned()
        },
    )
    .await;
    assert_eq!(r["region"], "eu", "{r}");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(agent.terminate(), Some(0), "{}", agent.logs());
}

#[test]
fn check_asks_a_grpc_server_for_its_health_from_the_terminal() {
    let tls = GrpcServer::start(true);
    let (code, out, err) = run_cli(
        bin(),
        &[
            "check".into(),
            format!("grpcs://localhost:{}", tls.port),
            "--service".into(),
            "vigilmon.test.Up".into(),
            "--header".into(),
            format!("authorization: Bearer {TOKEN}"),
            "--ca-file".into(),
            tls.ca_file.display().to_string(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: UP"), "{out}");
    assert!(out.contains("health      SERVING"), "{out}");
    assert!(!out.contains(TOKEN), "the token is not printed: {out}");
    let (code, out, _) = run_cli(
        bin(),
        &["check".into(), format!("grpcs://localhost:{}", tls.port)],
        None,
    );
    assert_eq!(code, 1, "untrusted without the CA: {out}");
    assert!(out.contains("verdict: DOWN (tls)"), "{out}");

    let plain = GrpcServer::start(false);
    let (code, out, _) = run_cli(
        bin(),
        &[
            "check".into(),
            format!("grpc://127.0.0.1:{}", plain.port),
            "--service".into(),
            "no.such.Service".into(),
        ],
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("verdict: DOWN (status)"), "{out}");
    assert!(out.contains("grpc-status 5 NOT_FOUND"), "{out}");
    let (code, _, err) = run_cli(
        bin(),
        &[
            "check".into(),
            "tcp://127.0.0.1:1".into(),
            "--service".into(),
            "x".into(),
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--service"), "{err}");
}
