//! A monitor's life as an operator sees it: created through the API, checked on its
//! schedule, down when the target fails, up again when it recovers; and a clean
//! shutdown that keeps what was written.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Backend, Server, StoreFixture, Target, wait_for};

use crate::{bin, both_backends};

async fn monitor_state(server: &Server, id: &str) -> Value {
    let (status, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(status, 200, "{m}");
    m
}

async fn scheduled_checks_follow_the_target(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let target = Target::start().await;

    let (status, created) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "target health", "type": "http", "url": format!("{}/health", target.url),
                    "interval": "10s", "timeout": "2s", "expect": {"status": [200], "body_contains": "\"status\":\"ok\""}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    // Pending until its first check lands, which against a local target may already
    // have happened when the answer is read back from the store.
    match created["state"].as_str() {
        Some("pending") => assert!(created["last_checked_at"].is_null(), "{created}"),
        Some("up") => assert!(created["last_checked_at"].is_string(), "{created}"),
        _ => panic!("a new monitor is pending, or up after its first check: {created}"),
    }
    let id = created["id"].as_str().unwrap().to_owned();

    // Up within one interval, from the scheduler alone.
    let m = wait_for("monitor up", Duration::from_secs(25), || async {
        let m = monitor_state(&server, &id).await;
        (m["state"] == "up").then_some(m)
    })
    .await;
    assert_eq!(m["regions"][0]["region"], "local");
    assert_eq!(m["regions"][0]["state"], "up");
    assert!(m["last_checked_at"].is_string());
    assert_eq!(
        target.last_header("x-vigilmon-region").as_deref(),
        Some("local")
    );
    assert!(
        target
            .last_header("user-agent")
            .unwrap()
            .starts_with("vigilmon/")
    );

    // Down within two intervals of the target failing (two confirmations, one region).
    target.set_status(503);
    let m = wait_for("monitor down", Duration::from_secs(35), || async {
        let m = monitor_state(&server, &id).await;
        (m["state"] == "down").then_some(m)
    })
    .await;
    assert_eq!(m["regions"][0]["error_kind"], "status");
    assert_eq!(
        m["regions"][0]["error"],
        "status 503 is not one of the expected (200)"
    );

    let (_, results) = server
        .get(&format!("/api/v1/monitors/{id}/results?limit=10"))
        .await;
    let results = results["results"].as_array().unwrap();
    assert!(results.len() >= 3, "{results:?}");
    let newest = &results[0];
    assert_eq!(newest["ok"], false);
    assert_eq!(newest["status_code"], 503);
    assert_eq!(newest["error_kind"], "status");
    assert_eq!(newest["body_excerpt"], "{\"status\":\"failing\"}");
    assert!(newest["phases"]["connect_ms"].is_u64());
    assert!(newest["phases"]["ttfb_ms"].is_u64());

    // Up again at the next check after recovery.
    target.set_status(200);
    wait_for("monitor up again", Duration::from_secs(25), || async {
        (monitor_state(&server, &id).await["state"] == "up").then_some(())
    })
    .await;
}
both_backends!(
    scheduled_checks_follow_the_target,
    scheduled_checks_follow_the_target
);

async fn pause_resume_and_delete_take_effect_without_restart(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let target = Target::start().await;
    let (_, created) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "p", "type": "http", "url": target.url, "interval": "10s"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, paused) = server
        .post(&format!("/api/v1/monitors/{id}/pause"), &json!({}))
        .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["paused"], true);
    // The scheduler has dropped it (the scheduler's own tests show that an unscheduled
    // monitor is not checked).
    wait_for(
        "paused monitor unscheduled",
        Duration::from_secs(5),
        || async {
            let text = server
                .api(reqwest::Method::GET, "/metrics")
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.lines()
                .any(|l| l == "vigilmon_scheduled_monitors 0")
                .then_some(())
        },
    )
    .await;

    let (_, resumed) = server
        .post(&format!("/api/v1/monitors/{id}/resume"), &json!({}))
        .await;
    assert_eq!(resumed["state"], "pending");
    wait_for("checked after resume", Duration::from_secs(25), || async {
        (monitor_state(&server, &id).await["state"] == "up").then_some(())
    })
    .await;

    let r = server
        .api(reqwest::Method::DELETE, &format!("/api/v1/monitors/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, _) = server.get(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(status, 404);
}
both_backends!(
    pause_resume_and_delete,
    pause_resume_and_delete_take_effect_without_restart
);

async fn graceful_shutdown_keeps_results(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let mut server = Server::start(bin(), &store, &[]);
    let target = Target::start().await;
    let (_, created) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "g", "type": "http", "url": target.url, "interval": "10s"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let (status, body) = server
            .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let code = server.terminate();
    assert_eq!(
        code,
        Some(0),
        "exit code after SIGTERM; log:\n{}",
        server.logs()
    );
    assert!(server.logs().contains("stopped"), "{}", server.logs());

    let token = server.token.clone();
    drop(server);
    let server = Server::start_with_token(bin(), &store, &[], token);
    let (_, results) = server.get(&format!("/api/v1/monitors/{id}/results")).await;
    assert!(
        results["results"].as_array().unwrap().len() >= 3,
        "{results}"
    );
    assert_eq!(monitor_state(&server, &id).await["state"], "up");
}
both_backends!(graceful_shutdown, graceful_shutdown_keeps_results);
