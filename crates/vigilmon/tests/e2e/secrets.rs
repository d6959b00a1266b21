//! Secrets are decided by field and never returned after saving, to any reader: URL
//! passwords, header values and bodies of monitors (unless marked public), webhook URLs
//! and headers of channels. Writers keep a secret by sending the mask back, but only
//! for the origin it was given for.

use serde_json::{Value, json};
use test_support::{Backend, Server, StoreFixture, Target, run_cli};

use crate::ui::Web;
use crate::{bin, both_backends};

/// Every secret the test stores; none may appear in anything a reader gets.
const SECRETS: &[&str] = &[
    "S3cretRedisPW",
    "tok-A-secret",
    "pt-B-secret",
    "body-C-secret",
    "wh-D-secret",
    "wh-E-secret",
];

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows {s}: {text}");
    }
}

async fn text_as(server: &Server, token: &str, path: &str) -> (u16, String) {
    let r = server
        .client
        .get(format!("{}{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn patch(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let r = server
        .api(reqwest::Method::PATCH, path)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn secrets_by_field(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let server = Server::start(bin(), &store, &[]);
    let (status, read) = server
        .post(
            "/api/v1/tokens",
            &json!({"name": "reader", "scope": "read"}),
        )
        .await;
    assert_eq!(status, 201, "{read}");
    let read = read["token"].as_str().unwrap().to_owned();

    let (status, redis) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "cache", "type": "redis", "url": "redis://app:S3cretRedisPW@127.0.0.1:9/0"}),
        )
        .await;
    assert_eq!(status, 201, "{redis}");
    let (status, web) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "web", "type": "http", "url": format!("{}/health", target.url), "method": "POST",
                "headers": {"Authorization": "Bearer tok-A-secret", "Private-Token": "pt-B-secret", "Accept": "application/json"},
                "public_headers": ["accept"],
                "body": "{\"password\": \"body-C-secret\"}"}),
        )
        .await;
    assert_eq!(status, 201, "{web}");
    let web_id = web["id"].as_str().unwrap().to_owned();
    let (status, hook) = server
        .post(
            "/api/v1/channels",
            &json!({"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook?token=wh-D-secret",
                "headers": {"Authorization": "Basic wh-E-secret"}}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");

    // The reproduction: a read token lists monitors and channels. Write tokens see the
    // same: a secret is never returned after saving.
    for token in [&read, &server.token] {
        for path in [
            "/api/v1/monitors".to_owned(),
            format!("/api/v1/monitors/{web_id}"),
            "/api/v1/channels".to_owned(),
            "/api/v1/channels/hook".to_owned(),
        ] {
            let (status, text) = text_as(&server, token, &path).await;
            assert_eq!(status, 200, "{path}");
            assert_no_secret(&path, &text);
        }
    }
    let (_, list) = text_as(&server, &read, "/api/v1/monitors").await;
    let list: Value = serde_json::from_str(&list).unwrap();
    let by_name = |n: &str| {
        list["monitors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_name("cache")["url"],
        "redis://app:********@127.0.0.1:9/0"
    );
    let w = by_name("web");
    assert_eq!(w["headers"]["Authorization"], "********");
    assert_eq!(w["headers"]["Private-Token"], "********");
    assert_eq!(w["headers"]["Accept"], "application/json", "marked public");
    assert_eq!(w["body"], "********");
    let (_, c) = text_as(&server, &read, "/api/v1/channels/hook").await;
    let c: Value = serde_json::from_str(&c).unwrap();
    assert_eq!(c["url"], "********");
    assert_eq!(c["headers"]["Authorization"], "********");

    // A viewer's pages show none either.
    let mut args: Vec<String> = [
        "user",
        "create",
        "--email",
        "viewer@example.com",
        "--role",
        "viewer",
        "--password-stdin",
    ]
    .map(String::from)
    .to_vec();
    args.extend(store.args());
    let (code, out, err) = run_cli(bin(), &args, Some("viewer password 1\n"));
    assert_eq!(code, 0, "{out}{err}");
    let mut viewer = Web::new(&server);
    viewer
        .sign_in("viewer@example.com", "viewer password 1")
        .await;
    for path in [
        "/".to_owned(),
        format!("/monitors/{web_id}"),
        format!("/monitors/{}", redis["id"].as_str().unwrap()),
        "/channels".to_owned(),
        "/channels/hook".to_owned(),
    ] {
        let page = viewer.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_no_secret(&path, &page.body);
    }

    // Editing keeps the secrets the edit leaves masked: a PATCH of another field…
    let (status, m) = patch(
        &server,
        &format!("/api/v1/monitors/{web_id}"),
        json!({"interval": "30s"}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_no_secret("patched monitor", &m.to_string());
    let (status, c) = server
        .post(&format!("/api/v1/monitors/{web_id}/check-now"), &json!({}))
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        target.last_header("authorization").as_deref(),
        Some("Bearer tok-A-secret")
    );
    assert_eq!(
        target.last_header("private-token").as_deref(),
        Some("pt-B-secret")
    );
    // … but not for another server: pointing the monitor elsewhere with its secrets
    // still masked is refused by field, and nothing changes.
    let (status, body) = patch(
        &server,
        &format!("/api/v1/monitors/{web_id}"),
        json!({"url": "http://127.0.0.2:9/collect"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["headers.Authorization", "headers.Private-Token", "body"],
        "{body}"
    );
    assert_no_secret("refusal", &body.to_string());
    let (_, m) = server.get(&format!("/api/v1/monitors/{web_id}")).await;
    assert_eq!(m["url"], format!("{}/health", target.url));
    // Typing them again (or removing them) is what moving a monitor takes.
    let (status, m) = patch(
        &server,
        &format!("/api/v1/monitors/{web_id}"),
        json!({"url": "http://127.0.0.2:9/collect", "headers": {"Authorization": "Bearer new", "Private-Token": null}, "body": null}),
    )
    .await;
    assert_eq!(status, 200, "{m}");

    // Channels: the mask keeps, a new URL with masked headers is refused.
    let put = |body: Value| {
        server
            .api(reqwest::Method::PUT, "/api/v1/channels/hook")
            .json(&body)
            .send()
    };
    let r = put(json!({"name": "hook", "type": "webhook", "url": "********",
        "headers": {"Authorization": "********", "X-Team": "ops"}}))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = put(
        json!({"name": "hook", "type": "webhook", "url": "https://elsewhere.example/in",
        "headers": {"Authorization": "********"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["field"], "headers.Authorization", "{body}");
}

both_backends!(secrets_are_never_returned, secrets_by_field);
