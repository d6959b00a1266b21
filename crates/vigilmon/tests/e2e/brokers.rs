//! Message-broker monitors through the real binary, on both stores: `mqtt` against the
//! Mosquitto on 127.0.0.1:1883 (anonymous; credentials are accepted and ignored, which
//! is enough to prove they are never shown back), each test on topics of its own, and
//! `amqp` against the RabbitMQ on 127.0.0.1:5672 (guest/guest). For each: from the
//! config file checked on schedule; through the API (passwords masked, refusals by
//! name, bad input by field); the UI's pages and its form's "Test now"; an agent
//! running one from its assignment; and `vigilmon check` from a terminal.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Agent, Backend, Server, StoreFixture, create_agent_token, run_cli, wait_for};

use crate::ui::{OWNER, PASSWORD, Web};
use crate::{bin, both_backends};

const SECRET: &str = "mqtt-Secret-7";

fn write_config(store: &StoreFixture, text: &str) -> String {
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A topic no other test (or run) uses.
fn topic(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("vigilmon/e2e/{what}/{}-{nanos}", std::process::id())
}

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

fn find(list: &Value, name: &str) -> Value {
    list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no monitor {name}: {list}"))
}

async fn mqtt_monitors_end_to_end(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let t = topic("file");
    let config = write_config(
        &store,
        &format!(
            "server:\n  region: lab\nmonitors:\n  - name: telemetry\n    type: mqtt\n    url: mqtt://probe:{SECRET}@127.0.0.1:1883\n    publish: {{ topic: \"{t}\" }}\n    interval: 10s\n"
        ),
    );
    let server = Server::start(bin(), &store, &["--config".into(), config]);
    let (_, list) = server.get("/api/v1/monitors").await;
    let m = find(&list, "telemetry");
    assert_eq!(m["type"], "mqtt");
    assert_eq!(m["url"], "mqtt://probe:********@127.0.0.1:1883");
    assert_eq!(m["publish"]["topic"], json!(t));
    let id = m["id"].as_str().unwrap().to_owned();

    // Checked on its schedule: up, with its phases and the round trip.
    let r = latest_result(&server, &id).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["region"], "lab");
    assert!(r["phases"]["connect_ms"].is_u64(), "{r}");
    assert!(r["phases"]["ttfb_ms"].is_u64(), "CONNACK: {r}");
    let (_, c) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(c["state"], "up", "{c}");
    assert!(c["result"]["details"]["round_trip_ms"].is_u64(), "{c}");
    assert!(!c.to_string().contains(SECRET), "{c}");

    // Through the API: the password field is a secret too; nothing listening is a
    // refused connection.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, bad) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "edge broker", "type": "mqtt",
                "url": format!("mqtt://127.0.0.1:{closed}"),
                "username": "probe", "password": SECRET}),
        )
        .await;
    assert_eq!(status, 201, "{bad}");
    assert_eq!(bad["password"], "********", "{bad}");
    let bad_id = bad["id"].as_str().unwrap().to_owned();
    let (_, c) = server
        .post(&format!("/api/v1/monitors/{bad_id}/check-now"), &json!({}))
        .await;
    assert_eq!(c["result"]["error_kind"], "connect", "{c}");
    assert!(
        c["result"]["error"]
            .as_str()
            .unwrap()
            .starts_with("connection refused"),
        "{c}"
    );
    let (_, v) = server.get(&format!("/api/v1/monitors/{bad_id}")).await;
    assert!(!v.to_string().contains(SECRET), "{v}");

    // Bad input names the field.
    let (status, e) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "typo", "type": "mqtt", "url": "mqtt://b:1883",
                "publish": {"topic": "a/#"}, "verify_tls": false}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("publish.topic") && text.contains("verify_tls"),
        "{text}"
    );

    // The UI: the pages show no password; the form's "Test now" runs the check.
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    for path in [
        "/".to_owned(),
        format!("/monitors/{id}"),
        format!("/monitors/{id}/edit"),
        format!("/monitors/{bad_id}/edit"),
    ] {
        let page = web.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(!page.body.contains(SECRET), "{path} shows the password");
    }
    let form_topic = topic("form");
    let form = [
        ("_csrf", csrf.as_str()),
        ("type", "mqtt"),
        ("name", "from the form"),
        ("url", "mqtt://127.0.0.1:1883"),
        ("username", "probe"),
        ("password", SECRET),
        ("publish.topic", form_topic.as_str()),
        // Ticked as the form starts; it only counts with mqtts://.
        ("verify_tls", "on"),
        ("action", "test"),
    ];
    let r = web.post("/monitors/new", &form, Some(&server.url)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Test result"), "{}", r.body);
    assert!(r.body.contains("round trip ms"), "{}", r.body);
    let mut save = form.to_vec();
    save.retain(|(k, _)| *k != "action");
    save.push(("action", "save"));
    let r = web.post("/monitors/new", &save, Some(&server.url)).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (_, list) = server.get("/api/v1/monitors").await;
    let saved = find(&list, "from the form");
    assert_eq!(saved["password"], "********");
    assert_eq!(saved["publish"]["topic"], json!(form_topic));
}

both_backends!(mqtt_monitors, mqtt_monitors_end_to_end);

/// An agent of region `eu` runs an mqtt monitor from its assignment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_an_mqtt_monitor() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let config = write_config(
        &store,
        "regions:\n  - {name: local, enabled: false}\n  - {name: eu}\n",
    );
    let server = Server::start(bin(), &store, &["--config".into(), config]);
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "broker", "type": "mqtt", "url": "mqtt://127.0.0.1:1883",
                "publish": {"topic": topic("agent")}, "interval": "10s", "regions": ["eu"]}),
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
    assert_eq!(agent.terminate(), Some(0), "{}", agent.logs());
}

#[test]
fn check_speaks_mqtt_from_the_terminal() {
    let t = topic("cli");
    let (code, out, err) = run_cli(
        bin(),
        &[
            "check".into(),
            "mqtt://127.0.0.1:1883".into(),
            "--topic".into(),
            t.clone(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("MQTT mqtt://127.0.0.1:1883"), "{out}");
    assert!(out.contains(&format!("on {t}")), "{out}");
    assert!(out.contains("verdict: UP"), "{out}");
    let (code, out, err) = run_cli(bin(), &["check".into(), "mqtt://127.0.0.1:1".into()], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("verdict: DOWN (connect)"), "{out}");
    let (code, _, err) = run_cli(
        bin(),
        &[
            "check".into(),
            "tcp://127.0.0.1:1".into(),
            "--topic".into(),
            "x".into(),
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--topic applies to mqtt://"), "{err}");
}

async fn amqp_monitors_end_to_end(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let config = write_config(
        &store,
        "server:\n  region: lab\nmonitors:\n  - name: orders queue\n    type: amqp\n    url: amqp://guest:guest@127.0.0.1:5672/%2F\n    interval: 10s\n",
    );
    let server = Server::start(bin(), &store, &["--config".into(), config]);
    let (_, list) = server.get("/api/v1/monitors").await;
    let m = find(&list, "orders queue");
    assert_eq!(m["type"], "amqp");
    assert_eq!(m["url"], "amqp://guest:********@127.0.0.1:5672/%2F");
    let id = m["id"].as_str().unwrap().to_owned();

    // Checked on its schedule: up, with its phases and the broker's name.
    let r = latest_result(&server, &id).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["region"], "lab");
    assert!(r["phases"]["connect_ms"].is_u64(), "{r}");
    assert!(r["phases"]["ttfb_ms"].is_u64(), "Connection.Start: {r}");
    let (_, c) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(c["state"], "up", "{c}");
    assert!(
        c["result"]["details"]["server"]
            .as_str()
            .unwrap()
            .starts_with("RabbitMQ"),
        "{c}"
    );

    // Through the API: a wrong password is a refused login, by name; the password
    // typed is never shown back.
    let (status, bad) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "wrong login", "type": "amqp",
                "url": format!("amqp://guest:{SECRET}@127.0.0.1:5672/%2F")}),
        )
        .await;
    assert_eq!(status, 201, "{bad}");
    assert!(!bad.to_string().contains(SECRET), "{bad}");
    let bad_id = bad["id"].as_str().unwrap().to_owned();
    let (_, c) = server
        .post(&format!("/api/v1/monitors/{bad_id}/check-now"), &json!({}))
        .await;
    assert_eq!(c["result"]["error_kind"], "connect", "{c}");
    assert!(
        c["result"]["error"]
            .as_str()
            .unwrap()
            .starts_with("login refused for \"guest\": ACCESS_REFUSED"),
        "{c}"
    );
    let (status, e) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "typo", "type": "amqp", "url": "amqp://h/a/b",
                "expect": {"cert_expiry": "3d"}}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("url") && text.contains("virtual host"),
        "{text}"
    );

    // The UI: no password on the pages; the form's "Test now".
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    for path in [
        format!("/monitors/{bad_id}"),
        format!("/monitors/{bad_id}/edit"),
    ] {
        let page = web.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(!page.body.contains(SECRET), "{path} shows the password");
    }
    let url = "amqp://guest:guest@127.0.0.1:5672/%2F";
    let form = [
        ("_csrf", csrf.as_str()),
        ("type", "amqp"),
        ("name", "rabbit from the form"),
        ("url", url),
        ("verify_tls", "on"),
        ("action", "test"),
    ];
    let r = web.post("/monitors/new", &form, Some(&server.url)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Test result"), "{}", r.body);
    assert!(r.body.contains("handshake ms"), "{}", r.body);
    let mut save = form.to_vec();
    save.retain(|(k, _)| *k != "action");
    save.push(("action", "save"));
    let r = web.post("/monitors/new", &save, Some(&server.url)).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (_, list) = server.get("/api/v1/monitors").await;
    let saved = find(&list, "rabbit from the form");
    assert_eq!(saved["url"], "amqp://guest:********@127.0.0.1:5672/%2F");
}

both_backends!(amqp_monitors, amqp_monitors_end_to_end);

/// An agent of region `eu` runs an amqp monitor from its assignment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_an_amqp_monitor() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let config = write_config(
        &store,
        "regions:\n  - {name: local, enabled: false}\n  - {name: eu}\n",
    );
    let server = Server::start(bin(), &store, &["--config".into(), config]);
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "rabbit", "type": "amqp", "url": "amqp://127.0.0.1:5672",
                "interval": "10s", "regions": ["eu"]}),
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
    assert_eq!(agent.terminate(), Some(0), "{}", agent.logs());
}

#[test]
fn check_speaks_amqp_from_the_terminal() {
    let (code, out, err) = run_cli(
        bin(),
        &[
            "check".into(),
            "amqp://guest:guest@127.0.0.1:5672/%2F".into(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("AMQP amqp://127.0.0.1:5672 vhost \"/\" as guest"),
        "{out}"
    );
    assert!(out.contains("server      RabbitMQ"), "{out}");
    assert!(out.contains("verdict: UP"), "{out}");
    let (code, out, err) = run_cli(
        bin(),
        &[
            "check".into(),
            "amqp://guest:guest@127.0.0.1:5672/no-such-vhost".into(),
        ],
        None,
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("verdict: DOWN (connect)"), "{out}");
    assert!(out.contains("not allowed"), "{out}");
}
