//! Incidents and alerting end to end, with local receivers standing in for Slack and
//! PagerDuty (payloads checked against their documented schemas): an outage pages,
//! reminds, is acknowledged through the signed link, and resolves with the same
//! dedup_key; nothing is sent during maintenance; the outbox survives a crash.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Backend, Received, Receiver, Server, StoreFixture, Target, wait_for};

use crate::{bin, both_backends};

/// PagerDuty Events API v2, as documented: what every event must carry.
fn check_pagerduty(r: &Received) -> Value {
    let v = r.json();
    assert!(
        v["routing_key"].as_str().is_some_and(|k| !k.is_empty()),
        "routing_key: {v}"
    );
    let action = v["event_action"].as_str().unwrap_or_default();
    assert!(
        ["trigger", "acknowledge", "resolve"].contains(&action),
        "event_action: {v}"
    );
    let key = v["dedup_key"].as_str().expect("dedup_key");
    assert!(!key.is_empty() && key.len() <= 255, "dedup_key: {v}");
    if action == "trigger" {
        let p = &v["payload"];
        assert!(
            p["summary"]
                .as_str()
                .is_some_and(|s| !s.is_empty() && s.chars().count() <= 1024),
            "summary: {v}"
        );
        assert!(
            p["source"].as_str().is_some_and(|s| !s.is_empty()),
            "source: {v}"
        );
        assert!(
            ["critical", "error", "warning", "info"]
                .contains(&p["severity"].as_str().unwrap_or_default()),
            "severity: {v}"
        );
    }
    v
}

/// Slack incoming webhooks: a `text` fallback and at most 50 blocks of known types.
fn check_slack(r: &Received) -> Value {
    let v = r.json();
    assert!(
        v["text"].as_str().is_some_and(|t| !t.is_empty()),
        "text fallback: {v}"
    );
    let blocks = v["blocks"].as_array().expect("blocks");
    assert!(!blocks.is_empty() && blocks.len() <= 50, "blocks: {v}");
    for b in blocks {
        let t = b["type"].as_str().unwrap_or_default();
        assert!(
            ["section", "context", "actions", "header", "divider"].contains(&t),
            "block type {t}: {v}"
        );
        if let Some(text) = b["text"]["text"].as_str() {
            assert!(text.chars().count() <= 3000);
        }
    }
    v
}

fn config(receiver: &Receiver, target: &Target, extra: &str) -> String {
    format!(
        r#"
channels:
  - {{ name: slack-ops, type: slack, webhook_url: "{r}/slack" }}
  - {{ name: pagerduty-oncall, type: pagerduty, routing_key: "R0UT1NGKEY0000000000000000000000", events_url: "{r}/pd" }}
policies:
  - {{ name: p1-page, priority: P1, channels: [pagerduty-oncall, slack-ops], notify_on: [down, recovered], remind_every: 10s }}
monitors:
  - {{ name: "[redis-primary] cache /health", type: http, url: "{t}/health", interval: 1m, policy: p1-page, tags: [cache] }}
{extra}"#,
        r = receiver.url,
        t = target.url
    )
}

fn write(store: &StoreFixture, text: &str) -> String {
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn monitor_id(server: &Server) -> String {
    let (_, list) = server.get("/api/v1/monitors").await;
    list["monitors"][0]["id"].as_str().unwrap().to_owned()
}

async fn fail_twice(server: &Server, id: &str) {
    for _ in 0..2 {
        let (status, body) = server
            .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

fn events(r: &Receiver, path: &str) -> Vec<Value> {
    r.on(path).iter().map(Received::json).collect()
}

async fn outage_pages_acknowledges_and_resolves(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let receiver = Receiver::start().await;
    let target = Target::start().await;
    let path = write(&store, &config(&receiver, &target, ""));
    let server = Server::start(bin(), &store, &["--config".into(), path]);
    let id = monitor_id(&server).await;

    target.set_status(503);
    fail_twice(&server, &id).await;
    wait_for(
        "Slack and PagerDuty triggers",
        Duration::from_secs(10),
        || async {
            (!receiver.on("/slack").is_empty() && !receiver.on("/pd").is_empty()).then_some(())
        },
    )
    .await;
    let pd = check_pagerduty(&receiver.on("/pd")[0]);
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["payload"]["severity"], "critical", "P1 maps to critical");
    let dedup = pd["dedup_key"].as_str().unwrap().to_owned();
    let slack = check_slack(&receiver.on("/slack")[0]);
    let text = slack.to_string();
    assert!(
        text.contains("[redis-primary] cache /health") && text.contains("status 503"),
        "{text}"
    );

    let (_, list) = server.get("/api/v1/incidents?state=open").await;
    let incident = list["incidents"][0].clone();
    assert_eq!(incident["priority"], "P1");
    assert_eq!(incident["monitor_id"], id);
    assert_eq!(incident["regions_failing"], json!(["local"]));
    let incident_id = incident["id"].as_str().unwrap().to_owned();
    assert_eq!(dedup, format!("vigilmon-{incident_id}"));

    // Still down: more checks open nothing new and trigger nothing twice.
    fail_twice(&server, &id).await;
    let (_, list) = server.get("/api/v1/incidents").await;
    assert_eq!(
        list["incidents"].as_array().unwrap().len(),
        1,
        "one incident per outage"
    );

    // A reminder while unacknowledged (remind_every: 10s).
    wait_for("a reminder", Duration::from_secs(20), || async {
        (events(&receiver, "/slack").len() >= 2).then_some(())
    })
    .await;
    for r in receiver.on("/pd") {
        check_pagerduty(&r);
    }

    // Acknowledge through the signed link in the Slack message.
    let ack = find_ack_link(&text).expect("ack link in the message");
    assert!(ack.contains("?exp=") && ack.contains("&sig="), "{ack}");
    let page = reqwest::get(&ack).await.unwrap().text().await.unwrap();
    assert!(page.contains("Acknowledge this incident?"), "{page}");
    let tampered = ack.replace("sig=", "sig=00");
    let r = reqwest::Client::new().post(&tampered).send().await.unwrap();
    assert_eq!(r.status(), 403, "a changed signature is refused");
    let r = reqwest::Client::new().post(&ack).send().await.unwrap();
    assert_eq!(r.status(), 200);
    wait_for("PagerDuty acknowledge", Duration::from_secs(10), || async {
        events(&receiver, "/pd")
            .iter()
            .any(|e| e["event_action"] == "acknowledge")
            .then_some(())
    })
    .await;
    let acked = events(&receiver, "/pd")
        .into_iter()
        .find(|e| e["event_action"] == "acknowledge")
        .unwrap();
    assert_eq!(acked["dedup_key"], dedup.as_str());
    let (_, detail) = server
        .get(&format!("/api/v1/incidents/{incident_id}"))
        .await;
    assert_eq!(detail["state"], "acknowledged");
    assert_eq!(detail["acknowledged_by"], "signed link");

    // Reminders stop once acknowledged: nothing new arrives over more than a reminder
    // period (waiting is the point of this assertion).
    let slack_count = receiver.on("/slack").len();
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        receiver.on("/slack").len(),
        slack_count,
        "no reminder after acknowledgement"
    );

    // Recovery resolves, with the same dedup_key.
    target.set_status(200);
    let (_, c) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(c["state"], "up");
    wait_for("PagerDuty resolve", Duration::from_secs(10), || async {
        events(&receiver, "/pd")
            .iter()
            .any(|e| e["event_action"] == "resolve")
            .then_some(())
    })
    .await;
    let resolved = events(&receiver, "/pd")
        .into_iter()
        .find(|e| e["event_action"] == "resolve")
        .unwrap();
    assert_eq!(resolved["dedup_key"], dedup.as_str());
    wait_for(
        "Slack recovered message",
        Duration::from_secs(10),
        || async {
            receiver
                .on("/slack")
                .iter()
                .any(|r| r.json().to_string().to_lowercase().contains("resolved"))
                .then_some(())
        },
    )
    .await;
    let triggers = events(&receiver, "/pd")
        .iter()
        .filter(|e| e["event_action"] == "trigger")
        .count();
    assert!(triggers >= 1);
    let (_, detail) = server
        .get(&format!("/api/v1/incidents/{incident_id}"))
        .await;
    assert_eq!(detail["state"], "resolved");
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "opened",
        "notification",
        "delivery_delivered",
        "acknowledged",
        "resolved",
    ] {
        assert!(kinds.contains(&k), "timeline lacks {k}: {kinds:?}");
    }
}
both_backends!(outage_pages, outage_pages_acknowledges_and_resolves);

/// The first signed acknowledge link (`http://127.0.0.1:PORT/ack/…`) in a text.
fn find_ack_link(text: &str) -> Option<String> {
    text.match_indices("http://127.0.0.1:")
        .find_map(|(start, _)| {
            let rest = &text[start..];
            let end = rest.find(['"', '>', '|', ' ', '\\']).unwrap_or(rest.len());
            let link = &rest[..end];
            link.contains("/ack/").then(|| link.to_owned())
        })
}

async fn nothing_is_sent_during_maintenance(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let receiver = Receiver::start().await;
    let target = Target::start().await;
    let path = write(&store, &config(&receiver, &target, ""));
    let server = Server::start(bin(), &store, &["--config".into(), path]);
    let id = monitor_id(&server).await;
    let now = jiff::Timestamp::now();
    let (status, w) = server
        .post(
            "/api/v1/maintenance",
            &json!({"name": "patching", "tags": ["cache"], "starts_at": (now - jiff::SignedDuration::from_mins(1)).to_string(),
                    "ends_at": (now + jiff::SignedDuration::from_hours(1)).to_string()}),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    assert_eq!(w["active"], true);
    target.set_status(503);
    fail_twice(&server, &id).await;
    let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(m["state"], "maintenance");
    assert_eq!(m["check_state"], "down", "checks go on");
    let (_, list) = server.get("/api/v1/incidents").await;
    assert!(
        list["incidents"].as_array().unwrap().is_empty(),
        "no incident during maintenance: {list}"
    );
    assert!(
        receiver.received().is_empty(),
        "nothing sent during maintenance"
    );

    // The window ends early while the target is still down: now it pages.
    let (status, ended) = server
        .post(
            &format!("/api/v1/maintenance/{}/end", w["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["active"], false);
    wait_for(
        "a trigger once maintenance ended",
        Duration::from_secs(10),
        || async { (!receiver.on("/pd").is_empty()).then_some(()) },
    )
    .await;
    assert_eq!(
        check_pagerduty(&receiver.on("/pd")[0])["event_action"],
        "trigger"
    );
}
both_backends!(maintenance_holds_alerts, nothing_is_sent_during_maintenance);

async fn outbox_delivers_once_after_a_crash(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let receiver = Receiver::start().await;
    let target = Target::start().await;
    let path = write(
        &store,
        &config(&receiver, &target, "alerting: { retry_base: 1s }\n"),
    );
    let server = Server::start(bin(), &store, &["--config".into(), path.clone()]);
    let id = monitor_id(&server).await;
    // Slack is down: attempts fail and are retried.
    receiver.answer(500);
    target.set_status(503);
    fail_twice(&server, &id).await;
    wait_for("a failed attempt", Duration::from_secs(10), || async {
        (!receiver.on("/slack").is_empty()).then_some(())
    })
    .await;
    // The server dies between attempts.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let token = server.token.clone();
    drop(server);
    receiver.answer(200);
    let failed_before = receiver.on("/slack").len();
    let server = Server::start_with_token(bin(), &store, &["--config".into(), path], token);
    wait_for(
        "delivery after restart",
        Duration::from_secs(20),
        || async {
            receiver
                .on("/slack")
                .iter()
                .any(|r| r.status == 200)
                .then_some(())
        },
    )
    .await;
    // Give a stray duplicate the chance to show up before counting.
    let (_, d) = wait_for("the delivery recorded", Duration::from_secs(10), || async {
        let (s, d) = server.get("/api/v1/channels/slack-ops/deliveries").await;
        (d["deliveries"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["status"] == "delivered")))
        .then_some((s, d))
    })
    .await;
    let ok = receiver
        .on("/slack")
        .iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(
        ok, 1,
        "delivered exactly once ({failed_before} failed attempts before)"
    );
    let delivered = d["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["event"] == "trigger")
        .unwrap()
        .clone();
    assert_eq!(delivered["status"], "delivered");
    assert!(delivered["attempts"].as_u64().unwrap() >= 2, "{delivered}");
    let log = delivered["attempt_log"].as_array().unwrap();
    assert_eq!(log.last().unwrap()["outcome"], "delivered");
    assert!(log[0]["error"].as_str().unwrap().contains("500"), "{log:?}");
}
both_backends!(outbox_crash, outbox_delivers_once_after_a_crash);

async fn channels_and_policies_api(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let receiver = Receiver::start().await;
    let server = Server::start(bin(), &store, &[]);
    let hook = format!("{}/hooks/secret-part", receiver.url);
    let (status, c) = server
        .post(
            "/api/v1/channels",
            &json!({"name": "chat", "type": "slack", "webhook_url": hook}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["webhook_url"], "********", "secrets are never returned");
    let (_, all) = server.get("/api/v1/channels").await;
    assert!(!all.to_string().contains("secret-part"));
    let (status, t) = server.post("/api/v1/channels/chat/test", &json!({})).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["delivered"], true, "{t}");
    check_slack(&receiver.on("/hooks/secret-part")[0]);

    let (status, e) = server
        .post(
            "/api/v1/policies",
            &json!({"name": "p", "channels": ["nope"]}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(e["error"]["field"], "channels[0]");
    let (status, _) = server
        .post(
            "/api/v1/policies",
            &json!({"name": "p", "priority": "P2", "channels": ["chat"]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, e) = server
        .post("/api/v1/monitors", &json!({"name": "m", "type": "tcp", "host": "127.0.0.1", "port": 9, "policy": "missing"}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(e["error"]["field"], "policy");
    let r = server
        .api(reqwest::Method::DELETE, "/api/v1/channels/chat")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "in use by a policy");
    // Sending the mask back keeps the secret.
    let r = server
        .api(reqwest::Method::PUT, "/api/v1/channels/chat")
        .json(&json!({"name": "chat", "type": "slack", "webhook_url": "********"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, t) = server.post("/api/v1/channels/chat/test", &json!({})).await;
    assert_eq!(t["delivered"], true);
    assert_eq!(receiver.on("/hooks/secret-part").len(), 2);
}
both_backends!(channels_and_policies, channels_and_policies_api);

/// Notifications obey `probe.deny_networks`: with loopback denied, a webhook to a
/// loopback receiver is not sent, and the channel test says why. With it allowed, a
/// receiver's reply never shows in the test's answer (no reading internal services
/// through a channel).
async fn notifications_obey_the_network_guard(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let receiver = Receiver::start().await;
    receiver.answer_with(400, "INTERNAL-ONLY admin_password=hunter2");
    let hook = format!("{}/secret", receiver.url);

    let server = Server::start(bin(), &store, &[]);
    let (status, c) = server
        .post(
            "/api/v1/channels",
            &json!({"name": "hook", "type": "webhook", "url": hook}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let (status, t) = server.post("/api/v1/channels/hook/test", &json!({})).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["delivered"], false, "{t}");
    assert!(!t.to_string().contains("hunter2"), "{t}");
    assert!(
        t.to_string().contains("rejected with 400 (Bad Request)"),
        "{t}"
    );
    assert_eq!(receiver.on("/secret").len(), 1);
    let mut server = server;
    assert_eq!(server.terminate(), Some(0));
    let token = server.token.clone();
    drop(server);

    let path = store.dir.path().join("guard.yaml");
    std::fs::write(
        &path,
        "probe:\n  deny_networks: [127.0.0.0/8, \"::1/128\"]\n",
    )
    .unwrap();
    let server = Server::start_with_token(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
        token,
    );
    let (status, t) = server.post("/api/v1/channels/hook/test", &json!({})).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["delivered"], false, "{t}");
    let text = t.to_string();
    assert!(
        text.contains("refused by the network guard") && text.contains("127.0.0.0/8"),
        "{t}"
    );
    assert_eq!(receiver.on("/secret").len(), 1, "nothing more was sent");
}
both_backends!(notification_guard, notifications_obey_the_network_guard);

/// A resolve by hand while the monitor is still down is refused with the reason; paused,
/// it goes through; resumed and still failing, a new incident opens; uptime counts
/// both outages in full.
async fn a_resolve_by_hand_while_down_is_refused(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let receiver = Receiver::start().await;
    let target = Target::start().await;
    let path = write(&store, &config(&receiver, &target, ""));
    let server = Server::start(bin(), &store, &["--config".into(), path]);
    let id = monitor_id(&server).await;

    target.set_status(503);
    fail_twice(&server, &id).await;
    let first = wait_for("an open incident", Duration::from_secs(10), || async {
        let (_, list) = server.get("/api/v1/incidents?state=open").await;
        list["incidents"][0]["id"].as_str().map(str::to_owned)
    })
    .await;

    let (code, body) = server
        .post(
            &format!("/api/v1/incidents/{first}/resolve"),
            &json!({"by": "ci"}),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"]["code"], "still_failing", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("still failing in local") && message.contains("acknowledge"),
        "{message}"
    );
    let (_, detail) = server.get(&format!("/api/v1/incidents/{first}")).await;
    assert_eq!(detail["state"], "open", "nothing changed: {detail}");

    // Paused, it may be closed by hand.
    let (code, body) = server
        .post(&format!("/api/v1/monitors/{id}/pause"), &json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = server
        .post(
            &format!("/api/v1/incidents/{first}/resolve"),
            &json!({"by": "ci"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (_, detail) = server.get(&format!("/api/v1/incidents/{first}")).await;
    assert_eq!(detail["state"], "resolved", "{detail}");

    // Resumed and still failing: a new incident, as for any failure.
    let (code, body) = server
        .post(&format!("/api/v1/monitors/{id}/resume"), &json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    fail_twice(&server, &id).await;
    let second = wait_for("a new incident", Duration::from_secs(10), || async {
        let (_, list) = server.get("/api/v1/incidents?state=open").await;
        list["incidents"][0]["id"]
            .as_str()
            .filter(|i| *i != first)
            .map(str::to_owned)
    })
    .await;

    // Uptime counts the first outage up to the pause and the second one up to now.
    let (_, one) = server.get(&format!("/api/v1/incidents/{first}")).await;
    let (_, two) = server.get(&format!("/api/v1/incidents/{second}")).await;
    let ms = |v: &Value| {
        v.as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_millisecond())
            .unwrap()
    };
    let before = jiff::Timestamp::now().as_millisecond();
    let (code, up) = server
        .get(&format!("/api/v1/monitors/{id}/uptime?window=24h"))
        .await;
    assert_eq!(code, 200, "{up}");
    let first_down = ms(&one["resolved_at"]) - ms(&one["opened_at"]);
    let second_down = before - ms(&two["opened_at"]);
    let downtime = up["downtime_ms"].as_i64().unwrap();
    assert!(
        downtime >= first_down + second_down,
        "{downtime} < {first_down} + {second_down}: {up}"
    );
    assert_eq!(up["incidents"], 2, "{up}");
}
both_backends!(resolve_by_hand, a_resolve_by_hand_while_down_is_refused);

/// An incident opened on degraded (`incident_on_degraded`) is not resolved by hand while
/// the monitor is still degraded, and the refusal says degraded, not down.
async fn a_resolve_by_hand_while_degraded_is_refused(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let receiver = Receiver::start().await;
    let target = Target::start().await;
    let text = format!(
        r#"
channels:
  - {{ name: slack-ops, type: slack, webhook_url: "{r}/slack" }}
policies:
  - {{ name: p2-slow, priority: P2, channels: [slack-ops], notify_on: [down, degraded, recovered], incident_on_degraded: true }}
monitors:
  - {{ name: slow-api, type: http, url: "{t}/health", interval: 1m, warn: {{ response_time: 150ms }}, policy: p2-slow }}
"#,
        r = receiver.url,
        t = target.url
    );
    let path = write(&store, &text);
    let server = Server::start(bin(), &store, &["--config".into(), path]);
    let id = monitor_id(&server).await;

    target.set_delay(Duration::from_millis(400));
    fail_twice(&server, &id).await;
    let incident = wait_for("an open incident", Duration::from_secs(10), || async {
        let (_, list) = server.get("/api/v1/incidents?state=open").await;
        list["incidents"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(m["state"], "degraded", "{m}");

    let (code, body) = server
        .post(
            &format!("/api/v1/incidents/{incident}/resolve"),
            &json!({"by": "ci"}),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"]["code"], "still_failing", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("still degraded in local") && message.contains("acknowledge"),
        "{message}"
    );
    assert!(!message.contains("down"), "{message}");
    let (_, detail) = server.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(detail["state"], "open", "nothing changed: {detail}");
}
both_backends!(
    resolve_by_hand_degraded,
    a_resolve_by_hand_while_degraded_is_refused
);
