//! Monitors as code: the config file's monitors are applied at start, updated and
//! removed with the file, while API-made monitors are left alone; and
//! `vigilmon validate` reports problems with file, line and field.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Backend, Server, StoreFixture, Target, run_cli, wait_for};

use crate::{bin, both_backends};

fn write_config(store: &StoreFixture, text: &str) -> String {
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn by_name<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
}

async fn file_monitors_are_applied(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let config = write_config(
        &store,
        &format!(
            "server:\n  region: lab\nmonitors:\n  - name: web\n    type: http\n    url: {url}/\n    interval: 10s\n  - name: port\n    type: tcp\n    host: 127.0.0.1\n    port: {port}\n    interval: 1m\n",
            url = target.url,
            port = target.url.rsplit(':').next().unwrap()
        ),
    );
    let mut server = Server::start(bin(), &store, &["--config".into(), config.clone()]);
    let (_, list) = server.get("/api/v1/monitors").await;
    let web = by_name(&list, "web").expect("web from file").clone();
    assert_eq!(web["source"], "file");
    assert!(by_name(&list, "port").is_some());

    // The file's region name is the probe's.
    let id = web["id"].as_str().unwrap().to_owned();
    let (status, c) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["result"]["region"], "lab");
    assert_eq!(
        target.last_header("x-vigilmon-region").as_deref(),
        Some("lab")
    );

    // File-managed monitors are changed in the file, not through the API.
    let r = server
        .api(reqwest::Method::PATCH, &format!("/api/v1/monitors/{id}"))
        .json(&json!({"interval": "30s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "managed_by_config");

    // An API-made monitor lives beside them.
    let (status, _) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "from-api", "type": "tcp", "host": "127.0.0.1", "port": 9}),
        )
        .await;
    assert_eq!(status, 201);

    // Restart with "port" removed from the file and "web" changed.
    assert_eq!(server.terminate(), Some(0));
    let token = server.token.clone();
    drop(server);
    write_config(
        &store,
        &format!(
            "monitors:\n  - name: web\n    type: http\n    url: {}/changed\n    interval: 20s\n",
            target.url
        ),
    );
    let server = Server::start_with_token(bin(), &store, &["--config".into(), config], token);
    let (_, list) = server.get("/api/v1/monitors").await;
    let web = by_name(&list, "web").unwrap();
    assert_eq!(web["id"], id, "the name is the key: same monitor, updated");
    assert_eq!(web["interval"], "20s");
    assert!(web["url"].as_str().unwrap().ends_with("/changed"));
    assert!(
        by_name(&list, "port").is_none(),
        "left the file, so removed"
    );
    assert!(
        by_name(&list, "from-api").is_some(),
        "API monitors are left alone"
    );

    // And it runs on its new schedule.
    wait_for(
        "web checked after restart",
        Duration::from_secs(30),
        || async {
            let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
            (m["state"] == "up").then_some(())
        },
    )
    .await;
}
both_backends!(file_monitors_are_applied, file_monitors_are_applied);

#[test]
fn validate_reports_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "monitors:\n  - name: ok\n    type: http\n    url: https://example.com\n  - name: fast\n    type: http\n    url: https://example.com\n    interval: 5s\n    expect:\n      status: [200, 999]\n",
    )
    .unwrap();
    let (code, out, err) = run_cli(
        crate::bin(),
        &["validate".into(), "-f".into(), path.display().to_string()],
        None,
    );
    assert_eq!(code, 1, "{out}{err}");
    let shown = path.display().to_string();
    assert!(
        err.contains(&format!(
            "{shown}:8: monitors[1] (\"fast\").interval: must be at least 10s"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{shown}:10: monitors[1] (\"fast\").expect.status[1]:"
        )),
        "{err}"
    );

    std::fs::write(&path, "server:\n  listen: 127.0.0.1:1\n  colour: blue\n").unwrap();
    let (code, _, err) = run_cli(
        crate::bin(),
        &["validate".into(), "-f".into(), path.display().to_string()],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains(":3") && err.contains("colour"), "{err}");
}

#[test]
fn example_config_is_valid_and_printed() {
    let (code, example, err) = run_cli(crate::bin(), &["example-config".into()], None);
    assert_eq!(code, 0, "{err}");
    assert!(example.contains("monitors:"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.yaml");
    std::fs::write(&path, &example).unwrap();
    let (code, out, err) = run_cli(
        crate::bin(),
        &["validate".into(), "-f".into(), path.display().to_string()],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok (3 monitors)"), "{out}");
}
