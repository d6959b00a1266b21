//! Reloading the config file while serving: a saved change is applied without a
//! restart (monitors created, changed and removed; the engine checks the new ones), an
//! invalid file changes nothing and is reported in the log, the metrics and a banner
//! on the UI's pages, and SIGHUP reads the file at once without stopping the server.

use std::time::Duration;

use serde_json::Value;
use test_support::{Backend, Server, StoreFixture, Target, wait_for};

use crate::ui::Web;
use crate::{bin, both_backends};

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

async fn a_changed_file_is_applied_while_serving(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let port = target.url.rsplit(':').next().unwrap().to_owned();
    let path = store.dir.path().join("vigilmon.yaml");
    let web_monitor = |interval: &str| {
        format!(
            "  - name: web\n    type: http\n    url: {}/\n    interval: {interval}\n",
            target.url
        )
    };
    std::fs::write(
        &path,
        format!("server:\n  region: lab\nmonitors:\n{}", web_monitor("10s")),
    )
    .unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    assert_eq!(names(&list), ["web"]);

    // Saved with a monitor more and one changed: applied without a restart, and the new
    // one is checked.
    std::fs::write(
        &path,
        format!(
            "server:\n  region: lab\nmonitors:\n{}  - name: port\n    type: tcp\n    host: 127.0.0.1\n    port: {port}\n    interval: 10s\n",
            web_monitor("20s")
        ),
    )
    .unwrap();
    let port_id = wait_for(
        "the saved file applied",
        Duration::from_secs(30),
        || async {
            let (_, list) = server.get("/api/v1/monitors").await;
            let all = list["monitors"].as_array().unwrap();
            let web = all.iter().find(|m| m["name"] == "web")?;
            let port = all.iter().find(|m| m["name"] == "port")?;
            (web["interval"] == "20s").then(|| port["id"].as_str().unwrap().to_owned())
        },
    )
    .await;
    let (_, port_monitor) = server.get(&format!("/api/v1/monitors/{port_id}")).await;
    assert_eq!(port_monitor["source"], "file");
    wait_for(
        "the new monitor checked",
        Duration::from_secs(30),
        || async {
            let (_, m) = server.get(&format!("/api/v1/monitors/{port_id}")).await;
            (m["state"] == "up").then_some(())
        },
    )
    .await;
    // The outcome is counted once the store and the engine have it.
    let metrics = wait_for("the reload counted", Duration::from_secs(10), || async {
        let m = server.metrics().await;
        (metric(&m, "vigilmon_config_valid") == Some(1.0)).then_some(m)
    })
    .await;
    assert_eq!(
        metric(
            &metrics,
            "vigilmon_config_reloads_total{result=\"applied\"}"
        ),
        Some(1.0),
        "{metrics}"
    );

    // An invalid file changes nothing, and says so: log, metrics, a banner on every page.
    std::fs::write(
        &path,
        format!("server:\n  region: lab\nmonitors:\n{}", web_monitor("5x")),
    )
    .unwrap();
    wait_for(
        "the invalid file refused",
        Duration::from_secs(30),
        || async {
            let m = server.metrics().await;
            (metric(&m, "vigilmon_config_valid") == Some(0.0)).then_some(())
        },
    )
    .await;
    let metrics = server.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "vigilmon_config_reloads_total{result=\"invalid\"}"
        ),
        Some(1.0)
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    assert_eq!(names(&list), ["port", "web"], "nothing changed");
    assert!(
        server
            .logs()
            .contains("the config file was not applied: the last good configuration still runs"),
        "{}",
        server.logs()
    );
    let mut ui = Web::new(&server);
    ui.sign_in("owner@example.com", "correct horse battery")
        .await;
    for page in ["/", "/channels"] {
        let body = ui.get(page).await.body;
        assert!(
            body.contains("The config file was not applied.") && body.contains("interval"),
            "{page}: {body}"
        );
    }

    // Fixed and signalled: SIGHUP reads it at once; the server keeps running; the banner
    // goes.
    std::fs::write(
        &path,
        format!("server:\n  region: lab\nmonitors:\n{}", web_monitor("20s")),
    )
    .unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for(
        "the fixed file applied",
        Duration::from_secs(30),
        || async {
            let (_, list) = server.get("/api/v1/monitors").await;
            (names(&list) == ["web"]).then_some(())
        },
    )
    .await;
    assert!(
        server
            .logs()
            .contains("SIGHUP: reading the config file again")
    );
    wait_for(
        "the fixed file counted",
        Duration::from_secs(10),
        || async {
            let m = server.metrics().await;
            (metric(&m, "vigilmon_config_valid") == Some(1.0)).then_some(())
        },
    )
    .await;
    let body = ui.get("/").await.body;
    assert!(!body.contains("The config file was not applied."), "{body}");
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);
}
both_backends!(
    a_changed_file_is_applied_while_serving,
    a_changed_file_is_applied_while_serving
);
