//! `icmp` monitors through the real binary, on both stores, against this machine's
//! loopback: one from the config file checked on its schedule, one through the API
//! with bad fields refused by name, the form's "Test now", and `vigilmon check
//! icmp://…`. The probe needs an ICMP socket: the tests run where the process may open
//! one (root, or a group in `net.ipv4.ping_group_range`), and say so and pass otherwise.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Backend, Server, StoreFixture, run_cli, wait_for};

use crate::ui::{OWNER, PASSWORD, Web};
use crate::{bin, both_backends};

/// Whether this process may open an ICMP socket, unprivileged or raw (root).
fn may_ping() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let id = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(-1)
    };
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
    let bounds: Vec<i64> = range
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let gid = id("Gid:");
    id("Uid:") == 0 || (bounds.len() == 2 && bounds[0] <= gid && gid <= bounds[1])
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

async fn icmp_monitors_end_to_end(backend: Backend) {
    if !may_ping() {
        eprintln!("skipped: this process may open no ICMP socket");
        return;
    }
    let store = StoreFixture::new(backend).await;
    let config = "server: { region: lab }\nmonitors:\n  - { name: loopback, type: icmp, host: 127.0.0.1, count: 2, interval: 10s, timeout: 3s, expect: { max_loss: 0 } }\n";
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
        .find(|m| m["name"] == "loopback")
        .cloned()
        .expect("the file's monitor");
    assert_eq!(m["type"], "icmp");
    assert_eq!(m["count"], 2);
    let id = m["id"].as_str().unwrap().to_owned();
    let r = latest_result(&server, &id).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["region"], "lab");
    assert_eq!(r["details"]["sent"], 2, "{r}");
    assert_eq!(r["details"]["received"], 2, "{r}");
    assert!(r["phases"]["ttfb_ms"].is_u64(), "{r}");

    // Through the API: IPv6 loopback, checked now.
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "loopback v6", "type": "icmp", "host": "::1",
                "expect": {"response_time": "1s"}, "warn": {"max_loss": 0}}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let (_, c) = server
        .post(
            &format!("/api/v1/monitors/{}/check-now", m["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(c["state"], "up", "{c}");
    assert_eq!(c["result"]["details"]["address"], "::1", "{c}");

    // Bad input names the field.
    let (status, e) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "typo", "type": "icmp", "host": "10.0.0.1", "count": 0,
                "expect": {"max_loss": 100, "banner": "x"}}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    let text = e.to_string();
    for field in ["count", "expect.max_loss", "expect.banner"] {
        assert!(text.contains(field), "{field}: {text}");
    }

    // The form's "Test now".
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    let form = [
        ("_csrf", csrf.as_str()),
        ("type", "icmp"),
        ("name", "from the form"),
        ("host", "127.0.0.1"),
        ("count", "2"),
        ("expect.max_loss", "50"),
        ("action", "test"),
    ];
    let r = web.post("/monitors/new", &form, Some(&server.url)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Test result"), "{}", r.body);
    assert!(r.body.contains("loss percent"), "{}", r.body);
}

both_backends!(icmp_monitors, icmp_monitors_end_to_end);

#[test]
fn check_pings_from_the_terminal() {
    if !may_ping() {
        eprintln!("skipped: this process may open no ICMP socket");
        return;
    }
    let (code, out, err) = run_cli(
        bin(),
        &[
            "check".into(),
            "icmp://127.0.0.1".into(),
            "--count".into(),
            "2".into(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: UP"), "{out}");
    assert!(out.contains("2 sent, 2 received"), "{out}");
    let (code, _, err) = run_cli(
        bin(),
        &[
            "check".into(),
            "tcp://127.0.0.1:1".into(),
            "--count".into(),
            "2".into(),
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--count"), "{err}");
}
