//! Every channel against a real receiver on loopback: axum servers standing in for Slack,
//! PagerDuty and a webhook receiver (they validate each payload against the channel's
//! documented schema and answer 400 with the violation), and aiosmtpd as the SMTP
//! server (`python3 -m pip install aiosmtpd`). No mocks of our own code.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use vigilmon_core::alert::Priority;
use vigilmon_notify::{
    ChannelSpec, Delivery, Event, Links, Notification, Notifier, RegionEvidence, SmtpSettings,
    SmtpTls,
};

// ---------------------------------------------------------------- notifications

fn notification(event: Event) -> Notification {
    Notification {
        event,
        dedup_key: "vigilmon-0190f1c2-1111-7222-8333-444455556666".into(),
        incident_id: Some(uuid::Uuid::now_v7()),
        monitor_id: Some(uuid::Uuid::now_v7()),
        monitor_name: "<script>alert(1)</script> & <!channel> checkout".into(),
        monitor_kind: "http".into(),
        state: match event {
            Event::Resolved | Event::DegradedCleared => "up",
            Event::Degraded => "degraded",
            _ => "down",
        }
        .into(),
        priority: Priority::P1,
        cause: "status 503 is not one of the expected (200)".into(),
        regions: vec![
            RegionEvidence {
                region: "eu-west".into(),
                ok: false,
                error: Some("status 503 <html>".into()),
                checked_at: Some(jiff::Timestamp::now()),
            },
            RegionEvidence {
                region: "us-east".into(),
                ok: true,
                error: None,
                checked_at: None,
            },
        ],
        opened_at: Some(jiff::Timestamp::now() - jiff::SignedDuration::from_mins(20)),
        at: jiff::Timestamp::now(),
        duration: (event == Event::Resolved).then_some(Duration::from_secs(1_205)),
        acknowledged_by: (event == Event::Acknowledged).then(|| "alice@example.com".into()),
        links: Links {
            monitor_url: Some("https://vigil.example/monitors/1".into()),
            incident_url: Some("https://vigil.example/incidents/1".into()),
            ack_url: Some("https://vigil.example/ack?token=abc&sig=def".into()),
        },
    }
}

/// A notification pushing every limit: huge cause, many regions, long names.
fn oversized(event: Event) -> Notification {
    let mut n = notification(event);
    n.cause = "<&> ".repeat(3_000);
    n.monitor_name = "n".repeat(2_000);
    n.regions = (0..300)
        .map(|i| RegionEvidence {
            region: format!("region-{i}"),
            ok: i % 3 == 0,
            error: Some("connection reset by peer & <more>".into()),
            checked_at: Some(jiff::Timestamp::now()),
        })
        .collect();
    n
}

fn notifier(timeout: Duration) -> Notifier {
    Notifier::new(None, timeout).expect("notifier")
}

// ---------------------------------------------------------------- HTTP receivers

#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn record(&self, path: &str, headers: &HeaderMap, body: &Bytes) {
        self.got.lock().unwrap().push(Received {
            path: path.into(),
            headers: headers.clone(),
            body: body.clone(),
        });
    }

    fn take(&self, path: &str) -> Vec<Received> {
        let mut got = self.got.lock().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = got.drain(..).partition(|r| r.path == path);
        *got = rest;
        mine
    }
}

/// Slack's documented limits for incoming-webhook Block Kit messages.
fn validate_slack(v: &Value) -> Result<(), String> {
    let text = v["text"].as_str().ok_or("text: missing")?;
    if text.is_empty() {
        return Err("text: empty".into());
    }
    let blocks = v["blocks"].as_array().ok_or("blocks: not an array")?;
    if blocks.len() > 50 {
        return Err(format!("blocks: {} > 50", blocks.len()));
    }
    let chars = |v: &Value| v.as_str().map(|s| s.chars().count());
    for (i, b) in blocks.iter().enumerate() {
        let ty = b["type"].as_str().unwrap_or("");
        match ty {
            "section" => {
                if b.get("text").is_none() && b.get("fields").is_none() {
                    return Err(format!("blocks[{i}]: section without text or fields"));
                }
                if let Some(t) = b.get("text") {
                    if !matches!(t["type"].as_str(), Some("mrkdwn" | "plain_text")) {
                        return Err(format!("blocks[{i}].text.type"));
                    }
                    let n = chars(&t["text"]).ok_or(format!("blocks[{i}].text.text"))?;
                    if n == 0 || n > 3000 {
                        return Err(format!("blocks[{i}].text.text: {n} characters"));
                    }
                }
                if let Some(f) = b.get("fields") {
                    let f = f.as_array().ok_or(format!("blocks[{i}].fields"))?;
                    if f.is_empty() || f.len() > 10 {
                        return Err(format!("blocks[{i}].fields: {} fields", f.len()));
                    }
                    for (j, x) in f.iter().enumerate() {
                        let n = chars(&x["text"]).unwrap_or(0);
                        if n == 0 || n > 2000 {
                            return Err(format!("blocks[{i}].fields[{j}]: {n} characters"));
                        }
                    }
                }
            }
            "context" => {
                let e = b["elements"]
                    .as_array()
                    .ok_or(format!("blocks[{i}].elements"))?;
                if e.is_empty() || e.len() > 10 {
                    return Err(format!("blocks[{i}].elements: {}", e.len()));
                }
            }
            "actions" => {
                let e = b["elements"]
                    .as_array()
                    .ok_or(format!("blocks[{i}].elements"))?;
                if e.is_empty() || e.len() > 25 {
                    return Err(format!("blocks[{i}].elements: {}", e.len()));
                }
                for (j, x) in e.iter().enumerate() {
                    let label = chars(&x["text"]["text"]).unwrap_or(0);
                    let url = chars(&x["url"]).unwrap_or(0);
                    if x["type"] != "button" || label == 0 || label > 75 || url > 3000 {
                        return Err(format!("blocks[{i}].elements[{j}]: bad button"));
                    }
                }
            }
            "header" | "divider" => {}
            other => return Err(format!("blocks[{i}].type: {other:?}")),
        }
    }
    Ok(())
}

/// PagerDuty Events API v2's documented schema.
fn validate_pagerduty(v: &Value) -> Result<(), String> {
    match v["routing_key"].as_str() {
        Some(k) if !k.is_empty() => {}
        _ => return Err("routing_key: must be a non-empty string".into()),
    }
    let action = v["event_action"].as_str().unwrap_or("");
    if !["trigger", "acknowledge", "resolve"].contains(&action) {
        return Err(format!("event_action: {action:?}"));
    }
    match v.get("dedup_key") {
        None => {}
        Some(Value::String(k)) if !k.is_empty() && k.chars().count() <= 255 => {}
        Some(k) => return Err(format!("dedup_key: {k}")),
    }
    if action != "trigger" {
        if v.get("dedup_key").is_none() {
            return Err(format!("dedup_key: required to {action}"));
        }
        return Ok(());
    }
    let p = &v["payload"];
    match p["summary"].as_str() {
        Some(s) if !s.is_empty() && s.chars().count() <= 1024 => {}
        _ => return Err("payload.summary: 1 to 1024 characters".into()),
    }
    match p["source"].as_str() {
        Some(s) if !s.is_empty() => {}
        _ => return Err("payload.source: required".into()),
    }
    let sev = p["severity"].as_str().unwrap_or("");
    if !["critical", "error", "warning", "info"].contains(&sev) {
        return Err(format!("payload.severity: {sev:?}"));
    }
    if let Some(ts) = p.get("timestamp") {
        ts.as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .ok_or("payload.timestamp: not ISO 8601")?;
    }
    if let Some(cd) = p.get("custom_details") {
        cd.as_object()
            .ok_or("payload.custom_details: not an object")?;
    }
    for (i, l) in v["links"].as_array().into_iter().flatten().enumerate() {
        if l["href"].as_str().is_none() {
            return Err(format!("links[{i}].href"));
        }
    }
    Ok(())
}

/// Records the request and checks it: JSON content type, valid JSON, `check`. `Err` is
/// the violation, answered with 400.
fn schema_checked(
    r: &Receiver,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
    check: fn(&Value) -> Result<(), String>,
) -> Result<Value, String> {
    r.record(path, headers, body);
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return Err("content-type must be application/json".into());
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    check(&v).map_err(|e| format!("invalid_payload: {e}"))?;
    Ok(v)
}

fn bad_request(violation: String) -> Response {
    // The notifier never shows a reply's body: print the violation for the test log.
    eprintln!("receiver: {violation}");
    (StatusCode::BAD_REQUEST, violation).into_response()
}

async fn serve() -> (SocketAddr, Receiver) {
    let r = Receiver::default();
    let app = Router::new()
        .route(
            "/slack/services/T0/B0/SECRET",
            post(
                |State(r): State<Receiver>, h: HeaderMap, b: Bytes| async move {
                    match schema_checked(&r, "/slack", &h, &b, validate_slack) {
                        Ok(_) => (StatusCode::OK, "ok").into_response(),
                        Err(violation) => bad_request(violation),
                    }
                },
            ),
        )
        .route(
            "/v2/enqueue",
            post(
                |State(r): State<Receiver>, h: HeaderMap, b: Bytes| async move {
                    match schema_checked(&r, "/pd", &h, &b, validate_pagerduty) {
                        Ok(v) => (
                            StatusCode::ACCEPTED,
                            axum::Json(json!({
                                "status": "success",
                                "message": "Event processed",
                                "dedup_key": v["dedup_key"],
                            })),
                        )
                            .into_response(),
                        Err(violation) => bad_request(violation),
                    }
                },
            ),
        )
        .route(
            "/hook",
            post(
                |State(r): State<Receiver>, h: HeaderMap, b: Bytes| async move {
                    r.record("/hook", &h, &b);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/500",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "rollup_error") }),
        )
        .route(
            "/429",
            post(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "7")],
                    "rate_limited",
                )
            }),
        )
        .route(
            "/400",
            post(|| async { (StatusCode::BAD_REQUEST, "invalid_payload") }),
        )
        .route(
            "/301",
            post(|| async {
                (
                    StatusCode::MOVED_PERMANENTLY,
                    [("location", "https://elsewhere.example/hook")],
                )
            }),
        )
        .route("/hang", post(std::future::pending::<StatusCode>))
        .route(
            "/internal",
            post(
                |State(r): State<Receiver>, h: HeaderMap, b: Bytes| async move {
                    r.record("/internal", &h, &b);
                    (
                        StatusCode::BAD_REQUEST,
                        "INTERNAL-ONLY admin_password=hunter2",
                    )
                },
            ),
        )
        .route(
            "/internal-ok",
            post(|| async { (StatusCode::OK, "INTERNAL-ONLY admin_password=hunter2") }),
        )
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, r)
}

fn slack(addr: SocketAddr, path: &str) -> ChannelSpec {
    ChannelSpec::Slack {
        webhook_url: format!("http://{addr}{path}"),
    }
}

fn pagerduty(addr: SocketAddr, path: &str) -> ChannelSpec {
    ChannelSpec::PagerDuty {
        routing_key: "R0UT1NGKEY0123456789".into(),
        events_url: format!("http://{addr}{path}"),
    }
}

fn webhook(addr: SocketAddr, path: &str, secret: Option<&str>) -> ChannelSpec {
    ChannelSpec::Webhook {
        url: format!("http://{addr}{path}"),
        secret: secret.map(str::to_owned),
        headers: vec![("X-Team".into(), "ops".into())],
    }
}

fn assert_delivered(d: &Delivery, what: &str) {
    assert!(d.is_delivered(), "{what}: {d:?}");
}

// ---------------------------------------------------------------- HTTP channels

#[tokio::test]
async fn receivers_reject_what_the_real_services_would() {
    assert!(
        validate_slack(&json!({"blocks": []})).is_err(),
        "text is required"
    );
    let too_long = json!({"text": "x", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}
    ]});
    assert!(validate_slack(&too_long).is_err());
    let many = json!({"text": "x", "blocks": vec![json!({"type": "divider"}); 51]});
    assert!(validate_slack(&many).is_err());
    assert!(validate_slack(&json!({"text": "x", "blocks": [{"type": "table"}]})).is_err());
    let pd = |v: Value| validate_pagerduty(&v);
    assert!(pd(json!({"routing_key": "", "event_action": "trigger"})).is_err());
    assert!(pd(json!({"routing_key": "k", "event_action": "snooze"})).is_err());
    assert!(pd(json!({"routing_key": "k", "event_action": "resolve"})).is_err());
    assert!(
        pd(json!({"routing_key": "k", "event_action": "resolve", "dedup_key": "d".repeat(256)}))
            .is_err()
    );
    let trigger = |sev: &str, summary: String| {
        json!({
            "routing_key": "k", "event_action": "trigger",
            "payload": {"summary": summary, "source": "s", "severity": sev}
        })
    };
    assert!(pd(trigger("critical", "ok".into())).is_ok());
    assert!(pd(trigger("fatal", "ok".into())).is_err());
    assert!(pd(trigger("info", "x".repeat(1025))).is_err());

    // Over HTTP, the violation comes back as a 400 that the Notifier would call permanent.
    let (addr, _r) = serve().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/v2/enqueue"))
        .header("content-type", "application/json")
        .body(r#"{"routing_key": "k", "event_action": "snooze"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("event_action"));
}

#[tokio::test]
async fn slack_messages_pass_slacks_schema_for_every_event() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    let channel = slack(addr, "/slack/services/T0/B0/SECRET");
    for e in Event::ALL {
        for n in [notification(e), oversized(e)] {
            assert_delivered(&notifier.deliver(&channel, &n).await, e.as_str());
        }
    }
    let got = r.take("/slack");
    assert_eq!(got.len(), 2 * Event::ALL.len());
    let ua = got[0].headers["user-agent"].to_str().unwrap();
    assert_eq!(ua, concat!("vigilmon/", env!("CARGO_PKG_VERSION")));
    let first: Value = serde_json::from_slice(&got[0].body).unwrap();
    let raw = first.to_string();
    assert!(
        !raw.contains("<script>") && !raw.contains("<!channel>"),
        "{raw}"
    );
    assert!(raw.contains("&lt;script&gt;"));
    assert!(raw.contains("https://vigil.example/ack?token=abc&sig=def"));
}

#[tokio::test]
async fn pagerduty_incident_shares_one_dedup_key() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    let channel = pagerduty(addr, "/v2/enqueue");
    let lifecycle = [
        Event::Trigger,
        Event::Reminder,
        Event::Escalation,
        Event::Acknowledged,
        Event::Resolved,
    ];
    for e in lifecycle {
        let d = notifier.deliver(&channel, &notification(e)).await;
        assert_delivered(&d, e.as_str());
        assert_eq!(
            d,
            Delivery::Delivered { detail: None },
            "the reply's body is not repeated"
        );
    }
    let got: Vec<Value> = r
        .take("/pd")
        .iter()
        .map(|g| serde_json::from_slice(&g.body).unwrap())
        .collect();
    let actions: Vec<&str> = got
        .iter()
        .map(|v| v["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["trigger", "trigger", "trigger", "acknowledge", "resolve"]
    );
    let key = &notification(Event::Trigger).dedup_key;
    assert!(got.iter().all(|v| &v["dedup_key"] == key), "{got:#?}");
    assert_eq!(got[0]["payload"]["severity"], "critical");

    // The other events: valid too, under their own keys; regional notices stay home.
    for e in [Event::Degraded, Event::DegradedCleared, Event::Test] {
        assert_delivered(&notifier.deliver(&channel, &oversized(e)).await, e.as_str());
    }
    let skipped = notifier
        .deliver(&channel, &notification(Event::RegionalNotice))
        .await;
    assert!(
        matches!(&skipped, Delivery::Delivered { detail: Some(d) } if d.starts_with("skipped")),
        "{skipped:?}"
    );
    let got: Vec<Value> = r
        .take("/pd")
        .iter()
        .map(|g| serde_json::from_slice(&g.body).unwrap())
        .collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0]["dedup_key"], format!("{key}-degraded"));
    assert_eq!(got[0]["payload"]["severity"], "warning");
    assert_eq!(got[1]["dedup_key"], got[0]["dedup_key"]);
    assert_eq!(got[1]["event_action"], "resolve");
    assert!(
        got[2]["dedup_key"]
            .as_str()
            .unwrap()
            .starts_with("vigilmon-test-")
    );
    assert_eq!(got[2]["payload"]["severity"], "info");
}

#[tokio::test]
async fn http_failures_are_classified() {
    let (addr, _r) = serve().await;
    let timeout = Duration::from_millis(500);
    let notifier = notifier(timeout);
    let n = notification(Event::Trigger);
    let channels = |path: &str| {
        [
            slack(addr, path),
            pagerduty(addr, path),
            webhook(addr, path, Some("0123456789abcdef")),
        ]
    };
    for ch in channels("/500") {
        let d = notifier.deliver(&ch, &n).await;
        assert_eq!(
            d,
            Delivery::Retry {
                after: None,
                error: "server error 500 (Internal Server Error)".into()
            },
            "{}",
            ch.kind()
        );
    }
    for ch in channels("/429") {
        let d = notifier.deliver(&ch, &n).await;
        assert!(
            matches!(&d, Delivery::Retry { after: Some(a), .. } if *a == Duration::from_secs(7)),
            "{}: {d:?}",
            ch.kind()
        );
    }
    for ch in channels("/400") {
        let d = notifier.deliver(&ch, &n).await;
        assert_eq!(
            d,
            Delivery::Permanent {
                error: "rejected with 400 (Bad Request)".into()
            },
            "{}",
            ch.kind()
        );
    }
    for ch in channels("/301") {
        let d = notifier.deliver(&ch, &n).await;
        assert!(
            matches!(&d, Delivery::Permanent { error } if error.contains("301 to https://elsewhere.example;")),
            "{}: {d:?}",
            ch.kind()
        );
    }
    for ch in channels("/hang") {
        let started = Instant::now();
        let d = notifier.deliver(&ch, &n).await;
        let took = started.elapsed();
        assert_eq!(
            d,
            Delivery::Retry {
                after: None,
                error: "no response within 500ms".into()
            },
            "{}",
            ch.kind()
        );
        assert!(took >= timeout && took < Duration::from_secs(3), "{took:?}");
    }

    // Nothing listening: a transient failure that never shows the (secret) URL.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let d = notifier
        .deliver(&slack(closed, "/services/T0/B0/SECRET"), &n)
        .await;
    let Delivery::Retry { after: None, error } = &d else {
        panic!("{d:?}")
    };
    assert!(
        error.starts_with(&format!("connection refused by {closed} — ")),
        "{error}"
    );
    assert!(
        !error.contains("SECRET") && !error.contains("/services"),
        "{error}"
    );

    // Not a URL at all: permanent.
    let d = notifier
        .deliver(
            &ChannelSpec::Slack {
                webhook_url: "not a url".into(),
            },
            &n,
        )
        .await;
    assert!(matches!(d, Delivery::Permanent { .. }), "{d:?}");
}

fn hmac_hex(secret: &str, signed: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signed);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn webhook_is_signed_when_a_secret_is_set() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    let secret = "s3cr3t-s3cr3t-s3cr3t";
    let before = jiff::Timestamp::now().as_second();
    let n = notification(Event::Acknowledged);
    let d = notifier
        .deliver(&webhook(addr, "/hook", Some(secret)), &n)
        .await;
    assert_eq!(d, Delivery::Delivered { detail: None });
    let got = r.take("/hook").pop().expect("the receiver got the event");

    // The receiver's side of the recipe in docs/notifications.md, with its own HMAC.
    let sig = got.headers["x-vigilmon-signature"].to_str().unwrap();
    let (t, v1) = sig
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .expect("t=<unix>,v1=<hex>");
    let t: i64 = t.parse().unwrap();
    assert!(
        (before..=before + 5).contains(&t),
        "t={t} is the time of sending"
    );
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&got.body);
    assert_eq!(v1, hmac_hex(secret, &signed));
    assert_ne!(v1, hmac_hex("another secret!!", &signed));

    assert_eq!(got.headers["x-vigilmon-event"], "acknowledged");
    assert_eq!(got.headers["x-team"], "ops");
    assert_eq!(got.headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["version"], 1);
    assert_eq!(body["event"], "acknowledged");
    assert_eq!(body["incident"]["dedup_key"], n.dedup_key);
    assert_eq!(body["incident"]["acknowledged_by"], "alice@example.com");
    assert_eq!(body["monitor"]["name"], n.monitor_name);
    assert_eq!(body["regions"].as_array().unwrap().len(), 2);
    assert_eq!(body["links"]["ack"], Value::Null);

    // No secret, no signature.
    let d = notifier
        .deliver(&webhook(addr, "/hook", None), &notification(Event::Trigger))
        .await;
    assert_delivered(&d, "unsigned");
    let got = r.take("/hook").pop().unwrap();
    assert!(got.headers.get("x-vigilmon-signature").is_none());
    assert_eq!(got.headers["x-vigilmon-event"], "trigger");
}

// ---------------------------------------------------------------- email

/// aiosmtpd running `tests/smtp_sink.py`; killed and reaped on drop.
struct SmtpSink {
    child: Child,
    port: u16,
    out: tempfile::TempDir,
}

impl SmtpSink {
    fn start(mode: &str, tls: Option<(&str, &Path, &Path)>) -> SmtpSink {
        let out = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg(port.to_string())
            .arg(out.path())
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((tls_mode, cert, key)) = tls {
            cmd.arg(tls_mode).arg(cert).arg(key);
        }
        let mut child = cmd.spawn().expect("python3 is needed for the SMTP tests");
        // Ready when the port accepts connections; give up after a deadline.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!(
                    "the SMTP sink exited ({status}); is aiosmtpd installed? \
                     (python3 -m pip install aiosmtpd)\n{err}"
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "the SMTP sink never listened");
            std::thread::sleep(Duration::from_millis(25));
        }
        SmtpSink { child, port, out }
    }

    fn settings(&self, tls: SmtpTls, accept_invalid_certs: bool) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: self.port,
            tls,
            username: None,
            password: None,
            from: "Vigilmon <alerts@vigilmon.example>".into(),
            timeout: Duration::from_secs(10),
            accept_invalid_certs,
        }
    }

    /// The messages received so far, in order.
    fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.out.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort_by_key(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u32>().ok())
        });
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn email_channel() -> ChannelSpec {
    ChannelSpec::Email {
        to: vec!["oncall@example.com".into(), "lead@example.com".into()],
    }
}

fn part<'a>(msg: &'a Value, content_type: &str) -> &'a str {
    msg["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == content_type)
        .unwrap_or_else(|| panic!("no {content_type} part in {msg:#}"))["content"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn email_arrives_over_plain_smtp() {
    let sink = SmtpSink::start("accept", None);
    let notifier = Notifier::new(
        Some(sink.settings(SmtpTls::None, false)),
        Duration::from_secs(5),
    )
    .unwrap();
    let n = notification(Event::Trigger);
    let d = notifier.deliver(&email_channel(), &n).await;
    let Delivery::Delivered {
        detail: Some(detail),
    } = &d
    else {
        panic!("{d:?}")
    };
    assert!(detail.contains("queued as test-1"), "{detail}");
    let resolved = notifier
        .deliver(&email_channel(), &notification(Event::Resolved))
        .await;
    assert_delivered(&resolved, "resolved");

    let msgs = sink.messages();
    assert_eq!(msgs.len(), 2);
    let m = &msgs[0];
    assert_eq!(m["mail_from"], "alerts@vigilmon.example");
    assert_eq!(
        m["rcpt_tos"],
        json!(["oncall@example.com", "lead@example.com"])
    );
    assert_eq!(m["from"], "Vigilmon <alerts@vigilmon.example>");
    assert_eq!(m["to"], "oncall@example.com, lead@example.com");
    assert_eq!(
        m["subject"],
        "[P1] DOWN: <script>alert(1)</script> & <!channel> checkout — status 503 is not one of the expected (200)"
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    let text = part(m, "text/plain");
    assert!(text.contains("Cause:"), "{text}");
    assert!(text.contains("https://vigil.example/ack?token=abc&sig=def"));
    let html = part(m, "text/html");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"));
    assert!(html.contains("href=\"https://vigil.example/ack?token=abc&amp;sig=def\""));
    // The resolve email threads under the trigger.
    assert_eq!(msgs[1]["in_reply_to"], m["message_id"]);
    assert!(msgs[1]["subject"].as_str().unwrap().contains("RESOLVED"));
}

#[tokio::test]
async fn smtp_failures_are_classified() {
    let n = notification(Event::Trigger);
    let no_smtp = notifier(Duration::from_secs(1))
        .deliver(&email_channel(), &n)
        .await;
    assert_eq!(
        no_smtp,
        Delivery::Permanent {
            error: "email needs smtp: settings".into()
        }
    );

    let transient = SmtpSink::start("transient", None);
    let notifier = Notifier::new(
        Some(transient.settings(SmtpTls::None, false)),
        Duration::from_secs(5),
    )
    .unwrap();
    let d = notifier.deliver(&email_channel(), &n).await;
    assert!(
        matches!(&d, Delivery::Retry { error, .. } if error.contains("451")),
        "{d:?}"
    );

    let permanent = SmtpSink::start("permanent", None);
    let settings = permanent.settings(SmtpTls::None, false);
    let notifier = Notifier::new(Some(settings.clone()), Duration::from_secs(5)).unwrap();
    let d = notifier.deliver(&email_channel(), &n).await;
    assert!(
        matches!(&d, Delivery::Permanent { error } if error.contains("550")),
        "{d:?}"
    );
    assert!(permanent.messages().is_empty());

    // A bad recipient never reaches the server.
    let d = notifier
        .deliver(
            &ChannelSpec::Email {
                to: vec!["not an address".into()],
            },
            &n,
        )
        .await;
    assert!(matches!(&d, Delivery::Permanent { .. }), "{d:?}");

    // Nobody listening: retry.
    drop(permanent);
    let gone = Notifier::new(Some(settings), Duration::from_secs(5)).unwrap();
    let d = gone.deliver(&email_channel(), &n).await;
    assert!(matches!(&d, Delivery::Retry { .. }), "{d:?}");
}

fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[tokio::test]
async fn email_over_starttls_and_implicit_tls() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    let n = notification(Event::Escalation);
    for (mode, tls) in [("starttls", SmtpTls::Starttls), ("tls", SmtpTls::Tls)] {
        let sink = SmtpSink::start("accept", Some((mode, &cert, &key)));

        // The self-signed certificate is refused by default ...
        let strict =
            Notifier::new(Some(sink.settings(tls, false)), Duration::from_secs(5)).unwrap();
        let d = strict.deliver(&email_channel(), &n).await;
        assert!(
            matches!(&d, Delivery::Retry { error, .. } if error.to_lowercase().contains("certificate")),
            "{mode}: {d:?}"
        );

        // ... and accepted when told to.
        let lax = Notifier::new(Some(sink.settings(tls, true)), Duration::from_secs(5)).unwrap();
        let d = lax.deliver(&email_channel(), &n).await;
        assert_delivered(&d, mode);
        let msgs = sink.messages();
        assert_eq!(msgs.len(), 1, "{mode}");
        assert_eq!(msgs[0]["tls"], true, "{mode}");
        assert!(msgs[0]["subject"].as_str().unwrap().contains("(ESCALATED)"));
    }
}

// ---------------------------------------------------------------- the network guard

fn loopback_denied() -> vigilmon_core::guard::NetworkGuard {
    vigilmon_core::guard::NetworkGuard {
        deny_networks: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        ..Default::default()
    }
}

/// A channel pointed at an internal service cannot read it: the reply's body (on
/// success or failure) never reaches the outcome a channel test shows.
#[tokio::test]
async fn a_reply_body_never_reaches_the_outcome() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    let n = notification(Event::Trigger);
    for ch in [
        slack(addr, "/internal"),
        pagerduty(addr, "/internal"),
        webhook(addr, "/internal", None),
        webhook(addr, "/internal-ok", None),
    ] {
        let d = notifier.deliver(&ch, &n).await;
        assert!(
            !format!("{d:?}").contains("hunter2"),
            "{}: {d:?}",
            ch.kind()
        );
    }
    assert_eq!(r.take("/internal").len(), 3, "the requests were made");
}

/// With loopback denied, nothing is sent to a loopback receiver, whether the URL
/// names it by address (in any written form) or by a name that resolves there; the
/// outcome is permanent and says why.
#[tokio::test]
async fn http_channels_obey_the_network_guard() {
    let (addr, r) = serve().await;
    let notifier = Notifier::with_guard(None, Duration::from_secs(5), loopback_denied()).unwrap();
    let n = notification(Event::Trigger);
    let port = addr.port();
    let hosts = [
        "127.0.0.1".to_owned(),
        "2130706433".to_owned(),
        "127.1".to_owned(),
        "[::ffff:127.0.0.1]".to_owned(),
        "localhost".to_owned(),
    ];
    for host in &hosts {
        let url = format!("http://{host}:{port}/internal");
        for ch in [
            ChannelSpec::Slack {
                webhook_url: url.clone(),
            },
            ChannelSpec::PagerDuty {
                routing_key: "R0UT1NGKEY".into(),
                events_url: url.clone(),
            },
            ChannelSpec::Webhook {
                url: url.clone(),
                secret: None,
                headers: Vec::new(),
            },
        ] {
            let d = notifier.deliver(&ch, &n).await;
            let Delivery::Permanent { error } = &d else {
                panic!("{host} {}: {d:?}", ch.kind())
            };
            assert!(
                error.starts_with("not sent: ") && error.contains("refused by the network guard"),
                "{host} {}: {error}",
                ch.kind()
            );
            assert!(error.contains("in denied network"), "{error}");
        }
    }
    assert!(
        r.take("/internal").is_empty(),
        "no request reached the receiver"
    );
    // The default guard lets the same receiver through (self-hosters alert to their
    // own network).
    let open = notifier_with_default_guard();
    let d = open
        .deliver(&webhook(addr, "/hook", None), &notification(Event::Trigger))
        .await;
    assert_delivered(&d, "default guard");
}

fn notifier_with_default_guard() -> Notifier {
    Notifier::new(None, Duration::from_secs(5)).unwrap()
}

/// Link-local addresses (cloud metadata) are refused by default, without a connection.
#[tokio::test]
async fn metadata_addresses_are_refused_by_default() {
    let notifier = notifier_with_default_guard();
    let d = notifier
        .deliver(
            &ChannelSpec::Webhook {
                url: "http://169.254.169.254/latest/meta-data/".into(),
                secret: None,
                headers: Vec::new(),
            },
            &notification(Event::Trigger),
        )
        .await;
    assert_eq!(
        d,
        Delivery::Permanent {
            error: "not sent: 169.254.169.254 is refused by the network guard: 169.254.169.254 (link-local)".into()
        }
    );
}

/// The SMTP server is judged by the address connected to, named or literal.
#[tokio::test]
async fn email_obeys_the_network_guard() {
    let sink = SmtpSink::start("accept", None);
    for host in ["127.0.0.1", "localhost"] {
        let mut settings = sink.settings(SmtpTls::None, false);
        settings.host = host.into();
        let notifier =
            Notifier::with_guard(Some(settings), Duration::from_secs(5), loopback_denied())
                .unwrap();
        let d = notifier
            .deliver(&email_channel(), &notification(Event::Trigger))
            .await;
        assert!(
            matches!(&d, Delivery::Permanent { error } if error.contains("refused by the network guard")),
            "{host}: {d:?}"
        );
    }
    assert!(
        sink.messages().is_empty(),
        "nothing reached the SMTP server"
    );
    // By name, allowed: delivered to the resolved address, the name kept for TLS.
    let mut settings = sink.settings(SmtpTls::None, false);
    settings.host = "localhost".into();
    let notifier = Notifier::new(Some(settings), Duration::from_secs(5)).unwrap();
    let d = notifier
        .deliver(&email_channel(), &notification(Event::Trigger))
        .await;
    assert_delivered(&d, "localhost");
    assert_eq!(sink.messages().len(), 1);
}
