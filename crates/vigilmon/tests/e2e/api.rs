//! The REST API as scripts use it: authentication and scopes, the documented shapes,
//! and bad input refused with a clear error that changes nothing.

use serde_json::{Value, json};
use test_support::{Backend, Server, StoreFixture, Target, run_cli};

use crate::{bin, both_backends};

async fn monitor_count(server: &Server) -> usize {
    let (status, list) = server.get("/api/v1/monitors").await;
    assert_eq!(status, 200, "{list}");
    list["monitors"].as_array().unwrap().len()
}

async fn authentication_and_scopes(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let url = &server.url;
    let c = reqwest::Client::new();

    // Public: health only.
    let r = c.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h: Value = r.json().await.unwrap();
    assert_eq!(h["status"], "ok");

    for path in ["/api/v1/monitors", "/api/v1/openapi.json", "/metrics"] {
        let r = c.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert!(r.headers().contains_key("www-authenticate"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{path}");
        let r = c
            .get(format!("{url}{path}"))
            .bearer_auth("vgm_not-a-real-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }

    // A read token reads but cannot write.
    let mut args: Vec<String> = ["token", "create", "--name", "reader", "--scope", "read"]
        .map(String::from)
        .to_vec();
    args.extend(store.args());
    let (code, out, err) = run_cli(bin(), &args, None);
    assert_eq!(code, 0, "{out}{err}");
    let read_token = out.lines().last().unwrap().trim().to_owned();
    let r = c
        .get(format!("{url}/api/v1/monitors"))
        .bearer_auth(&read_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{url}/api/v1/monitors"))
        .bearer_auth(&read_token)
        .json(&json!({"name": "x", "type": "tcp", "host": "127.0.0.1", "port": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(monitor_count(&server).await, 0);

    // A revoked token stops working at once.
    let mut args: Vec<String> = ["token", "list"].map(String::from).to_vec();
    args.extend(store.args());
    let (_, listing, _) = run_cli(bin(), &args, None);
    let reader_id = listing
        .lines()
        .find(|l| l.contains("reader"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let mut args: Vec<String> = vec!["token".into(), "revoke".into(), reader_id];
    args.extend(store.args());
    let (code, _, err) = run_cli(bin(), &args, None);
    assert_eq!(code, 0, "{err}");
    let r = c
        .get(format!("{url}/api/v1/monitors"))
        .bearer_auth(&read_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The OpenAPI document describes the monitor endpoints.
    let (status, doc) = server.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/monitors",
        "/api/v1/monitors/{id}",
        "/api/v1/monitors/{id}/results",
        "/api/v1/monitors/{id}/check-now",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing from OpenAPI");
    }
}
both_backends!(authentication_and_scopes, authentication_and_scopes);

async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let post_raw = |body: String, ctype: &'static str| {
        server
            .api(reqwest::Method::POST, "/api/v1/monitors")
            .header("content-type", ctype)
            .body(body)
            .send()
    };

    // A query string that does not parse: the API's JSON error, naming the parameter.
    for path in [
        "/api/v1/incidents?limit=lots",
        "/api/v1/incidents?limit=null&limit=null",
    ] {
        let r = server.api(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["field"], "limit", "{path}: {body}");
    }

    let cases: Vec<(String, u16, Option<&str>)> = vec![
        ("{not json".into(), 400, None),
        (
            r#"{"name":"a","type":"http","url":"http://x","interval":"5s"}"#.into(),
            422,
            Some("interval"),
        ),
        (
            r#"{"name":"a","type":"http","url":"http://x","interval":"48h"}"#.into(),
            422,
            Some("interval"),
        ),
        (
            r#"{"name":"a","type":"http","url":"file:///etc/passwd"}"#.into(),
            422,
            Some("url"),
        ),
        (
            r#"{"name":"a","type":"tcp","host":"h","port":70000}"#.into(),
            422,
            Some("port"),
        ),
        (
            r#"{"name":"a","type":"http","url":"http://x","expect":{"status":[200,999]}}"#.into(),
            422,
            Some("expect.status[1]"),
        ),
        (
            r#"{"name":"a","type":"http","url":"http://x","interval":30}"#.into(),
            400,
            Some("interval"),
        ),
        (
            r#"{"name":"a","type":"http","url":"http://x","expect":{"statu":[200]}}"#.into(),
            400,
            Some("expect"),
        ),
        (
            r#"{"name":"","type":"http","url":"http://x"}"#.into(),
            422,
            Some("name"),
        ),
        (r#"{"name":"a","type":"gopher"}"#.into(), 422, Some("type")),
        (r#"[1,2,3]"#.into(), 400, None),
    ];
    for (body, want, field) in cases {
        let r = post_raw(body.clone(), "application/json").await.unwrap();
        assert_eq!(r.status().as_u16(), want, "{body}");
        let err: Value = r.json().await.unwrap();
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}: {err}"
        );
        if let Some(f) = field {
            let got = err["error"]["field"].as_str().unwrap_or_default();
            assert!(
                got.starts_with(f),
                "{body}: field {got:?}, wanted {f:?}: {err}"
            );
        }
    }
    // Unknown top-level field is named.
    let r = post_raw(
        r#"{"name":"a","type":"http","urll":"http://x"}"#.into(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert!(
        err["error"]["message"].as_str().unwrap().contains("urll"),
        "{err}"
    );

    // Not JSON at all.
    let r = post_raw("name=a".into(), "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A huge body. The server answers before reading it all and closes that
    // connection, so this request gets a client of its own.
    let huge = format!(
        r#"{{"name":"a","type":"http","url":"http://x","body":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/monitors", server.url))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "payload_too_large");

    assert_eq!(
        monitor_count(&server).await,
        0,
        "nothing may be stored after bad input"
    );

    // Duplicate names conflict.
    let m = json!({"name": "dup", "type": "tcp", "host": "127.0.0.1", "port": 9});
    assert_eq!(server.post("/api/v1/monitors", &m).await.0, 201);
    let (status, err) = server.post("/api/v1/monitors", &m).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["field"], "name");
    assert_eq!(monitor_count(&server).await, 1);

    // Bad query parameters and ids.
    let (_, list) = server.get("/api/v1/monitors").await;
    let id = list["monitors"][0]["id"].as_str().unwrap().to_owned();
    let (status, err) = server
        .get(&format!("/api/v1/monitors/{id}/results?since=yesterday"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["field"], "since");
    let (status, err) = server
        .get(&format!("/api/v1/monitors/{id}/results?limit=5000"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["field"], "limit");
    let (status, _) = server.get("/api/v1/monitors/not-a-uuid").await;
    assert_eq!(status, 404);
    let (status, _) = server.get("/api/v1/nothing-here").await;
    assert_eq!(status, 404);

    // A PATCH that would make the monitor invalid changes nothing.
    let r = server
        .api(reqwest::Method::PATCH, &format!("/api/v1/monitors/{id}"))
        .json(&json!({"interval": "1s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
    assert!(m.get("interval").is_none(), "{m}");
}
both_backends!(bad_input, bad_input_is_refused_and_changes_nothing);

async fn crud_shapes_and_secrets(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let target = Target::start().await;

    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "  api  ", "type": "http", "url": target.url, "method": "post", "body": "{}",
                    "headers": {"Authorization": "Bearer hunter2", "X-Trace": "1"}, "public_headers": ["X-Trace"], "tags": ["app"],
                    "expect": {"status": "2xx", "json": [{"path": "$.status", "equals": "ok"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    assert_eq!(m["name"], "api");
    assert_eq!(m["type"], "http");
    assert_eq!(m["source"], "api");
    assert_eq!(
        m["headers"]["Authorization"], "********",
        "secrets are never echoed"
    );
    assert_eq!(m["headers"]["X-Trace"], "1");
    assert!(!m.to_string().contains("hunter2"));

    // check-now returns the result, and the secret header was really sent.
    let (status, c) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["result"]["ok"], true, "{c}");
    assert_eq!(c["result"]["region"], "local");
    assert_eq!(c["result"]["status_code"], 200);
    assert_eq!(
        target.last_header("authorization").as_deref(),
        Some("Bearer hunter2")
    );

    // PATCH that sends the mask back keeps the secret; other fields change.
    let r = server
        .api(reqwest::Method::PATCH, &format!("/api/v1/monitors/{id}"))
        .json(
            &json!({"headers": {"Authorization": "********", "X-Trace": null}, "interval": "30s"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["interval"], "30s");
    assert!(m["headers"].get("X-Trace").is_none());
    server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(
        target.last_header("authorization").as_deref(),
        Some("Bearer hunter2")
    );

    // The list shape of PRODUCT.md section 8.
    let (_, list) = server.get("/api/v1/monitors").await;
    let item = &list["monitors"][0];
    for key in ["id", "name", "type", "state", "regions", "last_checked_at"] {
        assert!(item.get(key).is_some(), "list item lacks {key}: {item}");
    }
    let region = &item["regions"][0];
    for key in ["region", "state", "checked_at", "duration_ms", "error"] {
        assert!(region.get(key).is_some(), "region lacks {key}: {region}");
    }

    // Results shape and filters.
    let (_, res) = server
        .get(&format!(
            "/api/v1/monitors/{id}/results?region=local&limit=1"
        ))
        .await;
    let rs = res["results"].as_array().unwrap();
    assert_eq!(rs.len(), 1);
    for key in [
        "region",
        "checked_at",
        "ok",
        "state",
        "duration_ms",
        "phases",
        "status_code",
        "error_kind",
        "error",
    ] {
        assert!(rs[0].get(key).is_some(), "result lacks {key}: {}", rs[0]);
    }
    for key in ["dns_ms", "connect_ms", "tls_ms", "ttfb_ms"] {
        assert!(rs[0]["phases"].get(key).is_some(), "phases lack {key}");
    }
    let (_, res) = server
        .get(&format!("/api/v1/monitors/{id}/results?region=eu-central"))
        .await;
    assert_eq!(res["results"].as_array().unwrap().len(), 0);
    let (_, res) = server
        .get(&format!(
            "/api/v1/monitors/{id}/results?since=2999-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(res["results"].as_array().unwrap().len(), 0);

    // Metrics count the checks per monitor and region.
    let text = server.metrics().await;
    // Per monitor and region: the latest duration, the state (which carries the name)
    // and, from the first failure, the failed checks; checks by result and durations
    // per region and type.
    let of_monitor = |metric: &str| {
        text.lines().any(|l| {
            l.starts_with(&format!("{metric}{{"))
                && l.contains(&format!("monitor_id=\"{id}\""))
                && l.contains("region=\"local\"")
        })
    };
    assert!(of_monitor("vigilmon_check_last_duration_seconds"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("vigilmon_checks_total{")
            && l.contains("type=\"http\"")
            && l.contains("result=\"up\"")
            && !l.contains("monitor_id")),
        "{text}"
    );
    // No failure yet, so no failure series for it.
    assert!(!of_monitor("vigilmon_check_failures_total"), "{text}");
    assert!(of_monitor("vigilmon_monitor_up"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("vigilmon_monitor_up{") && l.contains("monitor=\"api\"")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("vigilmon_check_duration_seconds_bucket{")
                && l.contains("type=\"http\"")
                && l.contains("region=\"local\"")
                && !l.contains("monitor_id")),
        "{text}"
    );
    // The exposition is valid Prometheus text, by Prometheus's own checker.
    promtool_accepts(&text);

    // A deleted monitor's series go with it.
    let r = server
        .api(reqwest::Method::DELETE, &format!("/api/v1/monitors/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let text = server.metrics().await;
    assert!(!text.contains(&id), "{text}");
    promtool_accepts(&text);
}

/// `promtool check metrics` (Debian package `prometheus`) accepts `text`: the format,
/// and its lint (names, units, help texts).
fn promtool_accepts(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool could not be started ({e}): install it (apt-get install prometheus)")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
both_backends!(crud_shapes_and_secrets, crud_shapes_and_secrets);

/// Tokens through the API: a read token reads and cannot write, an agent token
/// declares its region, secrets are shown once and never listed, bad input names its
/// field, revoked tokens are refused.
async fn tokens_through_the_api(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let (status, read) = server
        .post(
            "/api/v1/tokens",
            &json!({"name": "dashboards", "scope": "read"}),
        )
        .await;
    assert_eq!(status, 201, "{read}");
    let secret = read["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("vgm_"), "{read}");
    assert_eq!(read["scope"], "read");
    let as_reader = |method: reqwest::Method, path: &str| {
        server
            .client
            .request(method, format!("{}{path}", server.url))
            .bearer_auth(&secret)
    };
    let r = as_reader(reqwest::Method::GET, "/api/v1/monitors")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = as_reader(reqwest::Method::POST, "/api/v1/tokens")
        .json(&json!({"name": "escalate", "scope": "write"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a read token manages no tokens");

    // An agent token declares its region.
    let (status, agent) = server
        .post(
            "/api/v1/tokens",
            &json!({"name": "us-1", "scope": "agent", "region": "us-west"}),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    assert_eq!(agent["region"], "us-west");
    let (_, regions) = server.get("/api/v1/regions").await;
    let names: Vec<&str> = regions["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"us-west"), "{regions}");

    // Bad input: which field, why; nothing created.
    let (_, before) = server.get("/api/v1/tokens").await;
    for (body, field) in [
        (json!({"name": "x", "scope": "admin"}), "scope"),
        (json!({"name": "x", "scope": "agent"}), "region"),
        (
            json!({"name": "x", "scope": "agent", "region": "Not A Region"}),
            "region",
        ),
        (
            json!({"name": "x", "scope": "read", "region": "eu"}),
            "region",
        ),
        (json!({"name": "", "scope": "read"}), "name"),
    ] {
        let (status, e) = server.post("/api/v1/tokens", &body).await;
        assert_eq!(status, 422, "{body} → {e}");
        assert_eq!(e["error"]["field"], field, "{body} → {e}");
    }
    let (status, e) = server
        .post(
            "/api/v1/tokens",
            &json!({"name": "x", "scope": "read", "roles": []}),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused: {e}");
    let (_, after) = server.get("/api/v1/tokens").await;
    assert_eq!(before, after, "nothing created");

    // Listed without secrets.
    let listed = after.to_string();
    assert!(!listed.contains(&secret), "no secret in the list");
    assert!(
        !listed.contains(agent["token"].as_str().unwrap()),
        "no secret in the list"
    );

    // Revoked: refused at once; revoking twice is a 404.
    let id = read["id"].as_str().unwrap();
    let r = server
        .api(reqwest::Method::DELETE, &format!("/api/v1/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = as_reader(reqwest::Method::GET, "/api/v1/monitors")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = server
        .api(reqwest::Method::DELETE, &format!("/api/v1/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

both_backends!(tokens_through_the_api, tokens_through_the_api);
