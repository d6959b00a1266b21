//! Database monitors through the real binary, against the PostgreSQL on
//! 127.0.0.1:5432: a `postgres` monitor from the config file is checked on its
//! schedule and its result (phases, figures) shows in the API; one made through the
//! API fails by name when its value differs; the URL's password never comes back
//! through the API or the UI; the UI's form tests one before saving; an agent runs
//! one from its assignment; and `vigilmon check postgres://…` works from a terminal.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Agent, Backend, Server, StoreFixture, create_agent_token, run_cli, wait_for};

use crate::ui::{OWNER, PASSWORD, Web};
use crate::{bin, both_backends};

const SECRET: &str = "pg-Secret-9";

fn write_config(store: &StoreFixture, text: &str) -> String {
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
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

async fn postgres_monitors_end_to_end(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    // Trust authentication: the server never asks for the password, which is there to
    // prove it is never shown back.
    let config = write_config(
        &store,
        &format!(
            "server:\n  region: lab\nmonitors:\n  - name: orders db\n    type: postgres\n    url: postgres://postgres:{SECRET}@127.0.0.1:5432/postgres?sslmode=require\n    query: SELECT 'ok' AS status\n    expect: {{ value: ok }}\n    interval: 10s\n"
        ),
    );
    let server = Server::start(bin(), &store, &["--config".into(), config]);
    let (_, list) = server.get("/api/v1/monitors").await;
    let m = list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "orders db")
        .cloned()
        .expect("the file's monitor");
    assert_eq!(m["type"], "postgres");
    assert_eq!(
        m["url"],
        "postgres://postgres:********@127.0.0.1:5432/postgres?sslmode=require"
    );
    let id = m["id"].as_str().unwrap().to_owned();

    // Checked on its schedule: up, with its phases and figures.
    let r = latest_result(&server, &id).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["region"], "lab");
    assert!(r["phases"]["connect_ms"].is_u64(), "{r}");
    assert!(r["phases"]["tls_ms"].is_u64(), "TLS was negotiated: {r}");
    assert!(r["phases"]["ttfb_ms"].is_u64(), "{r}");
    let view = wait_for("the monitor up", Duration::from_secs(30), || async {
        let (_, v) = server.get(&format!("/api/v1/monitors/{id}")).await;
        (v["state"] == "up").then_some(v)
    })
    .await;
    assert!(!view.to_string().contains(SECRET), "{view}");

    // Through the API: a value that differs fails, naming it.
    let (status, bad) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "replica lag", "type": "postgres",
                "url": format!("postgres://postgres:{SECRET}@127.0.0.1/postgres?sslmode=disable"),
                "query": "SELECT pg_is_in_recovery()", "expect": {"value": true}}),
        )
        .await;
    assert_eq!(status, 201, "{bad}");
    assert!(!bad.to_string().contains(SECRET), "{bad}");
    let bad_id = bad["id"].as_str().unwrap().to_owned();
    let (status, c) = server
        .post(&format!("/api/v1/monitors/{bad_id}/check-now"), &json!({}))
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["result"]["ok"], false, "{c}");
    assert_eq!(c["result"]["error_kind"], "assertion", "{c}");
    assert_eq!(
        c["result"]["error"], "the query returned \"f\", expected \"true\"",
        "{c}"
    );

    // Bad input names the field.
    let (status, e) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "typo", "type": "postgres", "url": "postgres://h/db?sslmode=always", "expect": {"banner": "x"}}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    let text = e.to_string();
    assert!(text.contains("url") && text.contains("sslmode"), "{text}");
    assert!(text.contains("expect.banner"), "{text}");

    // The UI: the pages show no password; the form's "Test now" runs the check.
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    for path in [
        "/".to_owned(),
        format!("/monitors/{id}"),
        format!("/monitors/{bad_id}"),
        format!("/monitors/{bad_id}/edit"),
    ] {
        let page = web.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(!page.body.contains(SECRET), "{path} shows the password");
    }
    let url = format!("postgres://postgres:{SECRET}@127.0.0.1/postgres?sslmode=disable");
    let form = [
        ("_csrf", csrf.as_str()),
        ("type", "postgres"),
        ("name", "from the form"),
        ("url", url.as_str()),
        ("query", "SELECT 41 + 1"),
        ("expect.value", "42"),
        ("action", "test"),
    ];
    let r = web.post("/monitors/new", &form, Some(&server.url)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Test result"), "{}", r.body);
    assert!(r.body.contains("server version"), "{}", r.body);
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
    assert_eq!(saved["query"], "SELECT 41 + 1");
    assert_eq!(saved["expect"]["value"], "42");
    assert_eq!(
        saved["url"],
        "postgres://postgres:********@127.0.0.1/postgres?sslmode=disable"
    );
}

both_backends!(postgres_monitors, postgres_monitors_end_to_end);

/// An agent of region `eu` runs a postgres monitor from its assignment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_a_postgres_monitor() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let config = write_config(
        &store,
        "regions:\n  - {name: local, enabled: false}\n  - {name: eu}\n",
    );
    let server = Server::start(bin(), &store, &["--config".into(), config]);
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "db", "type": "postgres", "url": "postgres://postgres@127.0.0.1/postgres",
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
fn check_probes_postgres_from_the_terminal() {
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a = vec![
            "check".to_owned(),
            format!("postgres://postgres:{SECRET}@127.0.0.1:5432/postgres?sslmode=disable"),
        ];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let (code, out, err) = run_cli(bin(), &args(&["--query", "SELECT current_user"]), None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: UP"), "{out}");
    assert!(out.contains("first value \"postgres\""), "{out}");
    assert!(!out.contains(SECRET), "the password is not printed: {out}");
    let (code, out, _) = run_cli(bin(), &args(&["--expect-value", "nobody"]), None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("verdict: DOWN (assertion)"), "{out}");
    let (code, _, err) = run_cli(
        bin(),
        &[
            "check".into(),
            "tcp://127.0.0.1:5432".into(),
            "--query".into(),
            "x".into(),
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--query"), "{err}");
}

const MYSQL_SECRET: &str = "my-Secret-7";

/// A MariaDB user of the tests' own, with [`MYSQL_SECRET`] as its password.
fn mysql_user() {
    let sql = format!(
        "CREATE USER IF NOT EXISTS 'vigilmon_e2e'@'127.0.0.1' IDENTIFIED BY '{MYSQL_SECRET}'; \
         CREATE USER IF NOT EXISTS 'vigilmon_e2e'@'localhost' IDENTIFIED BY '{MYSQL_SECRET}';"
    );
    let ok = std::process::Command::new("mysql")
        .args(["-h127.0.0.1", "-uroot", "-e", &sql])
        .status()
        .expect("the mysql client must be installed (apt-get install mariadb-client)");
    assert!(ok.success());
}

async fn mysql_monitors_end_to_end(backend: Backend) {
    mysql_user();
    let store = StoreFixture::new(backend).await;
    let config = write_config(
        &store,
        &format!(
            "monitors:\n  - name: shop db\n    type: mysql\n    url: mysql://vigilmon_e2e:{MYSQL_SECRET}@127.0.0.1:3306/\n    query: SELECT CURRENT_USER()\n    expect: {{ value: vigilmon_e2e@127.0.0.1 }}\n    interval: 10s\n"
        ),
    );
    let server = Server::start(bin(), &store, &["--config".into(), config]);
    let (_, list) = server.get("/api/v1/monitors").await;
    assert!(!list.to_string().contains(MYSQL_SECRET), "{list}");
    let m = list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "shop db")
        .cloned()
        .expect("the file's monitor");
    assert_eq!(m["type"], "mysql");
    assert_eq!(m["url"], "mysql://vigilmon_e2e:********@127.0.0.1:3306/");
    let id = m["id"].as_str().unwrap().to_owned();
    let r = latest_result(&server, &id).await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["phases"]["ttfb_ms"].is_u64(), "{r}");

    let (status, bad) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "orders table", "type": "mysql",
                "url": format!("mysql://vigilmon_e2e:{MYSQL_SECRET}@127.0.0.1/?ssl-mode=disabled"),
                "query": "SELECT COUNT(*) FROM shop.orders"}),
        )
        .await;
    assert_eq!(status, 201, "{bad}");
    assert!(!bad.to_string().contains(MYSQL_SECRET), "{bad}");
    let bad_id = bad["id"].as_str().unwrap().to_owned();
    let (_, c) = server
        .post(&format!("/api/v1/monitors/{bad_id}/check-now"), &json!({}))
        .await;
    assert_eq!(c["result"]["ok"], false, "{c}");
    assert_eq!(c["result"]["error_kind"], "assertion", "{c}");
    assert!(
        c["result"]["error"]
            .as_str()
            .unwrap()
            .starts_with("the query failed: "),
        "{c}"
    );

    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    for path in [
        format!("/monitors/{id}"),
        format!("/monitors/{bad_id}/edit"),
    ] {
        let page = web.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            !page.body.contains(MYSQL_SECRET),
            "{path} shows the password"
        );
    }
    let url = format!("mysql://vigilmon_e2e:{MYSQL_SECRET}@127.0.0.1/");
    let form = [
        ("_csrf", csrf.as_str()),
        ("type", "mysql"),
        ("name", "mysql from the form"),
        ("url", url.as_str()),
        ("expect.value", "1"),
        ("action", "test"),
    ];
    let r = web.post("/monitors/new", &form, Some(&server.url)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Test result"), "{}", r.body);
    // The form keeps what its author just typed; the result itself names no password.
    let result = r
        .body
        .split("testresult")
        .nth(1)
        .and_then(|t| t.split("</section>").next())
        .unwrap_or_default();
    assert!(result.contains("MariaDB"), "the server's version: {result}");
    assert!(
        !result.contains(MYSQL_SECRET),
        "the test result shows the password"
    );
}

both_backends!(mysql_monitors, mysql_monitors_end_to_end);

#[test]
fn check_probes_mysql_from_the_terminal() {
    mysql_user();
    let (code, out, err) = run_cli(
        bin(),
        &[
            "check".into(),
            format!("mysql://vigilmon_e2e:{MYSQL_SECRET}@127.0.0.1/"),
            "--expect-value".into(),
            "1".into(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: UP"), "{out}");
    assert!(!out.contains(MYSQL_SECRET), "{out}");
}
