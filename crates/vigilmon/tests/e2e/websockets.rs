//! `websocket` monitors through the real binary, on both stores, against real
//! WebSocket servers (test-support's, plain and `wss://` with a certificate trusted
//! through `probe.ca_files`): one from the config file checked on its schedule, with
//! its secrets never shown back; one made through the API at a web server that does
//! not upgrade; bad input by field; the form's "Test now" and save; an agent running
//! one from its assignment; and `vigilmon check ws://…`.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{
    Agent, Backend, Server, StoreFixture, Target, WsServer, create_agent_token, run_cli, wait_for,
};

use crate::ui::{OWNER, PASSWORD, Web};
use crate::{bin, both_backends};

const SECRET: &str = "ws-Secret-41";

/// The newest result of a monitor, once there is one.
async fn latest_result(server: &Server, id: &str) -> Value {
    wait_for(
        "a result of the monitor",
        Duration::from_secs(30),
        || async {
            let (_, v) = server
                .get(&format!("/api/v1/monitors/{id}/results?limit=1"))
                .await;
            v["results"].as_array()?.first().cloned()
        },
    )
    .await
}

async fn websocket_monitors_end_to_end(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let wss = WsServer::start(true).await;
    let plain = WsServer::start(false).await;
    let config = format!(
        r#"
server: {{ region: lab }}
probe: {{ ca_files: ["{ca}"] }}
monitors:
  - name: quotes
    type: websocket
    url: wss://feed:{SECRET}@localhost:{port}/quotes
    headers: {{ Authorization: "Bearer {SECRET}" }}
    subprotocol: chat.v1
    send: ping
    expect: {{ reply_equals: "echo: ping", response_time: 5s }}
    interval: 10s
"#,
        ca = wss.ca_file.display(),
        port = wss.port,
    );
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, config).unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    let m = list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "quotes")
        .cloned()
        .expect("the file's monitor");
    assert_eq!(m["type"], "websocket");
    assert_eq!(
        m["url"],
        format!("wss://feed:********@localhost:{}/quotes", wss.port)
    );
    assert_eq!(m["headers"]["Authorization"], "********");
    let id = m["id"].as_str().unwrap().to_owned();

    // Checked on its schedule: up, with its phases, certificate and reply.
    let r = latest_result(&server, &id).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["region"], "lab");
    assert!(
        r["phases"]["tls_ms"].is_u64() && r["phases"]["ttfb_ms"].is_u64(),
        "{r}"
    );
    assert!(r["cert_expires_at"].is_string(), "{r}");
    assert_eq!(r["status_code"], 101, "{r}");
    assert_eq!(r["details"]["reply"], "echo: ping", "{r}");
    assert_eq!(r["details"]["subprotocol"], "chat.v1", "{r}");
    let view = wait_for("the monitor up", Duration::from_secs(30), || async {
        let (_, v) = server.get(&format!("/api/v1/monitors/{id}")).await;
        (v["state"] == "up").then_some(v)
    })
    .await;
    assert!(!view.to_string().contains(SECRET), "{view}");

    // Through the API: a web server that answers 200 instead of upgrading.
    let web_target = Target::start().await;
    let ws_url = web_target.url.replacen("http://", "ws://", 1);
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "not a socket", "type": "websocket", "url": ws_url}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let (_, c) = server
        .post(
            &format!("/api/v1/monitors/{}/check-now", m["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(c["result"]["error_kind"], "status", "{c}");
    assert_eq!(c["result"]["status_code"], 200, "{c}");
    // And a plain server whose reply is not the one expected.
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "echo", "type": "websocket",
                "url": format!("ws://127.0.0.1:{}/", plain.port),
                "send": "hi", "expect": {"reply_contains": "pong"}}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let echo_id = m["id"].as_str().unwrap().to_owned();
    let (_, c) = server
        .post(&format!("/api/v1/monitors/{echo_id}/check-now"), &json!({}))
        .await;
    assert_eq!(c["result"]["error_kind"], "assertion", "{c}");
    assert_eq!(
        c["result"]["error"], "expected the reply to contain \"pong\", got \"echo: hi\"",
        "{c}"
    );

    // Bad input names the field.
    let (status, e) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "typo", "type": "websocket", "url": "http://h/",
                "expect": {"reply_regex": "("}}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("url") && text.contains("expect.reply_regex"),
        "{text}"
    );

    // The UI: no page shows the secrets; the form's "Test now" runs the check, and
    // the monitor saved from it reads back.
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    for path in [
        "/".to_owned(),
        format!("/monitors/{id}"),
        format!("/monitors/{id}/edit"),
    ] {
        let page = web.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(!page.body.contains(SECRET), "{path} shows a secret");
    }
    let url = format!("ws://127.0.0.1:{}/room", plain.port);
    let form = [
        ("_csrf", csrf.as_str()),
        ("type", "websocket"),
        ("name", "from the form"),
        ("url", url.as_str()),
        ("send", "hello"),
        ("expect.reply_equals", "echo: hello"),
        ("headers", "X-Room: 7"),
        // Ticked by default, as a browser sends it.
        ("verify_tls", "on"),
        ("action", "test"),
    ];
    let r = web.post("/monitors/new", &form, Some(&server.url)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Test result"), "{}", r.body);
    assert!(r.body.contains("echo: hello"), "the reply: {}", r.body);
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
        .find(|m| m["name"] == "from the form")
        .cloned()
        .expect("saved from the form");
    assert_eq!(saved["url"], url);
    assert_eq!(saved["send"], "hello");
    assert_eq!(saved["expect"]["reply_equals"], "echo: hello");
    assert_eq!(saved["headers"]["X-Room"], "********");
}

both_backends!(websocket_monitors, websocket_monitors_end_to_end);

/// An agent of region `eu` runs a websocket monitor from its assignment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_a_websocket_monitor() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let ws = WsServer::start(false).await;
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
            &json!({"name": "socket", "type": "websocket",
                "url": format!("ws://127.0.0.1:{}/", ws.port), "send": "agent",
                "expect": {"reply_equals": "echo: agent"}, "interval": "10s", "regions": ["eu"]}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let (_, token) = create_agent_token(bin(), &store, "eu-1", "eu");
    let data = store.dir.path().join("agent-eu-1");
    let mut agent = Agent::start(bin(), &server.url, "eu", &token, &data, &[]);
    let r = latest_result(&server, &id).await;
    assert_eq!(r["region"], "eu", "{r}");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["details"]["reply"], "echo: agent", "{r}");
    assert_eq!(agent.terminate(), Some(0), "{}", agent.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_opens_a_websocket_from_the_terminal() {
    let wss = WsServer::start(true).await;
    let url = format!("wss://localhost:{}/", wss.port);
    let ca = wss.ca_file.display().to_string();
    let run = |args: Vec<String>| tokio::task::spawn_blocking(move || run_cli(bin(), &args, None));
    let (code, out, err) = run(vec![
        "check".into(),
        url.clone(),
        "--ca-file".into(),
        ca,
        "--send".into(),
        "ping".into(),
        "--expect-reply".into(),
        "echo: ping".into(),
        "--subprotocol".into(),
        "chat.v1".into(),
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: UP"), "{out}");
    assert!(out.contains("reply       \"echo: ping\""), "{out}");
    assert!(out.contains("subprotocol chat.v1"), "{out}");
    let (code, out, _) = run(vec!["check".into(), url.clone()]).await.unwrap();
    assert_eq!(code, 1, "untrusted without the CA: {out}");
    assert!(out.contains("verdict: DOWN (tls)"), "{out}");
    let (code, _, err) = run(vec![
        "check".into(),
        "tcp://127.0.0.1:1".into(),
        "--send".into(),
        "x".into(),
    ])
    .await
    .unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--send"), "{err}");
}
