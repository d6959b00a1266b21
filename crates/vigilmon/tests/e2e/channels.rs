//! The chat, push and paging channels end to end, through the real binary: declared in
//! a config file, an outage reaches Discord, Telegram, Opsgenie, Matrix and ntfy
//! stand-ins (each request checked against the provider's documented fields), the
//! acknowledgement and the recovery close Opsgenie's alert by its alias; every
//! channel type is created through the API (secrets masked) and through the web UI,
//! and each one's "send test" arrives; `vigilmon validate` names the field of a bad
//! channel setting with its line.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Backend, Received, Receiver, Server, StoreFixture, Target, run_cli, wait_for};

use crate::ui::{OWNER, PASSWORD, Web};
use crate::{bin, both_backends};

const BOT: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";

fn on(r: &Receiver, path: &str) -> Vec<Value> {
    r.on(path).iter().map(Received::json).collect()
}

/// Discord's embed limits.
fn check_discord(v: &Value) {
    let e = &v["embeds"][0];
    assert!(
        e["title"]
            .as_str()
            .is_some_and(|t| t.chars().count() <= 256),
        "{v}"
    );
    assert!(e["color"].as_u64().is_some_and(|c| c <= 0xFF_FF_FF), "{v}");
    for f in e["fields"].as_array().expect("fields") {
        assert!(
            f["value"]
                .as_str()
                .is_some_and(|s| !s.is_empty() && s.chars().count() <= 1024)
        );
    }
    assert_eq!(v["allowed_mentions"]["parse"], json!([]), "{v}");
}

/// Telegram's sendMessage.
fn check_telegram(v: &Value) {
    assert_eq!(v["chat_id"], -1001234567890_i64, "{v}");
    assert_eq!(v["parse_mode"], "HTML");
    assert!(
        v["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty() && t.chars().count() <= 4096)
    );
}

/// Opsgenie's create.
fn check_opsgenie_create(v: &Value) {
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty() && m.chars().count() <= 130),
        "{v}"
    );
    assert!(v["alias"].as_str().is_some_and(|a| a.len() <= 512), "{v}");
    assert!(["P1", "P2", "P3", "P4", "P5"].contains(&v["priority"].as_str().unwrap_or("")));
}

fn config(r: &Receiver, t: &Target) -> String {
    format!(
        r#"
channels:
  - {{ name: discord-ops, type: discord, webhook_url: "{r}/discord/api/webhooks/1/SECRET" }}
  - {{ name: telegram-ops, type: telegram, bot_token: "{BOT}", chat_id: "-1001234567890", api_url: "{r}/tg" }}
  - {{ name: opsgenie-oncall, type: opsgenie, api_key: og-key-1, api_url: "{r}/og" }}
  - {{ name: matrix-ops, type: matrix, homeserver: "{r}/mx", access_token: syt_matrix, room_id: "!ops:m.example" }}
  - {{ name: ntfy-phone, type: ntfy, url: "{r}/ntfy/vigil-ops", token: tk_ntfy }}
policies:
  - name: p1-page
    priority: P1
    channels: [discord-ops, telegram-ops, opsgenie-oncall, matrix-ops, ntfy-phone]
    notify_on: [down, recovered, acknowledged]
monitors:
  - {{ name: checkout, type: http, url: "{t}/health", interval: 1m, policy: p1-page }}
"#,
        r = r.url,
        t = t.url
    )
}

async fn an_outage_reaches_every_channel_and_closes_the_alert(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let receiver = Receiver::start().await;
    let target = Target::start().await;
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, config(&receiver, &target)).unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    let id = list["monitors"][0]["id"].as_str().unwrap().to_owned();
    let (_, channels) = server.get("/api/v1/channels").await;
    let text = channels.to_string();
    for secret in [
        "SECRET",
        BOT,
        "og-key-1",
        "syt_matrix",
        "tk_ntfy",
        "vigil-ops",
    ] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }

    target.set_status(503);
    for _ in 0..2 {
        let (status, body) = server
            .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let tg_path = format!("/tg/bot{BOT}/sendMessage");
    wait_for(
        "a trigger on every channel",
        Duration::from_secs(15),
        || async {
            let got = receiver.received();
            let has = |p: &str| got.iter().any(|r| r.path.starts_with(p));
            (has("/discord/")
                && has(&tg_path)
                && has("/og/v2/alerts")
                && has("/mx/")
                && has("/ntfy/"))
            .then_some(())
        },
    )
    .await;
    let (_, incidents) = server.get("/api/v1/incidents?state=open").await;
    let incident = incidents["incidents"][0]["id"].as_str().unwrap().to_owned();
    let alias = format!("vigilmon-{incident}");

    let discord = on(&receiver, "/discord/api/webhooks/1/SECRET");
    check_discord(&discord[0]);
    assert_eq!(discord[0]["embeds"][0]["color"], 0xD72F2F, "red while down");
    let tg = on(&receiver, &tg_path);
    check_telegram(&tg[0]);
    assert!(
        tg[0]["text"]
            .as_str()
            .unwrap()
            .contains("[P1] DOWN: checkout")
    );
    let og = receiver.on("/og/v2/alerts");
    assert_eq!(og[0].header("authorization"), Some("GenieKey og-key-1"));
    let create = og[0].json();
    check_opsgenie_create(&create);
    assert_eq!(
        create["alias"],
        alias.as_str(),
        "the alias is the incident's dedup key"
    );
    assert_eq!(create["priority"], "P1");
    let mx: Vec<Received> = receiver
        .received()
        .into_iter()
        .filter(|r| r.path.starts_with("/mx/"))
        .collect();
    assert!(
        mx[0].path.starts_with(
            "/mx/_matrix/client/v3/rooms/!ops:m.example/send/m.room.message/vigilmon-"
        ),
        "{}",
        mx[0].path
    );
    assert_eq!(mx[0].header("authorization"), Some("Bearer syt_matrix"));
    assert_eq!(mx[0].json()["msgtype"], "m.text");
    let ntfy = receiver.on("/ntfy/");
    assert_eq!(ntfy[0].header("authorization"), Some("Bearer tk_ntfy"));
    assert_eq!(ntfy[0].json()["topic"], "vigil-ops");
    assert_eq!(ntfy[0].json()["priority"], 5, "P1 is ntfy's max");

    // Acknowledged: Opsgenie's alert is acknowledged by its alias.
    let (status, body) = server
        .post(
            &format!("/api/v1/incidents/{incident}/acknowledge"),
            &json!({"by": "alice"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ack_path = format!("/og/v2/alerts/{alias}/acknowledge");
    wait_for("Opsgenie acknowledge", Duration::from_secs(10), || async {
        (!receiver.on(&ack_path).is_empty()).then_some(())
    })
    .await;
    assert_eq!(on(&receiver, &ack_path)[0]["user"], "alice");

    // Recovered: closed by the same alias; Matrix posts under a new transaction.
    target.set_status(200);
    let (_, c) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(c["state"], "up", "{c}");
    let close_path = format!("/og/v2/alerts/{alias}/close");
    wait_for(
        "Opsgenie close and the others' recovery",
        Duration::from_secs(15),
        || async {
            let discord = on(&receiver, "/discord/api/webhooks/1/SECRET");
            (!receiver.on(&close_path).is_empty()
                && discord.iter().any(|d| d["embeds"][0]["color"] == 0x2EA043))
            .then_some(())
        },
    )
    .await;
    let mx: Vec<String> = receiver
        .received()
        .into_iter()
        .filter(|r| r.path.starts_with("/mx/"))
        .map(|r| r.path)
        .collect();
    let unique: std::collections::BTreeSet<&String> = mx.iter().collect();
    assert_eq!(
        unique.len(),
        mx.len(),
        "each notification has its own transaction"
    );
    let creates = receiver.on("/og/v2/alerts").len();
    assert_eq!(creates, 1, "one alert per incident");
}
both_backends!(
    outage_on_new_channels,
    an_outage_reaches_every_channel_and_closes_the_alert
);

/// Every channel type, created through the API: its secrets come back masked, and its
/// test arrives where it should.
fn every_channel(r: &str) -> Vec<(Value, String, &'static [&'static str])> {
    vec![
        (
            json!({"name": "discord", "type": "discord", "webhook_url": format!("{r}/discord/hook")}),
            "/discord/hook".into(),
            &["webhook_url"],
        ),
        (
            json!({"name": "teams", "type": "teams", "webhook_url": format!("{r}/teams/flow")}),
            "/teams/flow".into(),
            &["webhook_url"],
        ),
        (
            json!({"name": "telegram", "type": "telegram", "bot_token": BOT, "chat_id": "@vigil_ops", "api_url": format!("{r}/tg")}),
            format!("/tg/bot{BOT}/sendMessage"),
            &["bot_token"],
        ),
        (
            json!({"name": "opsgenie", "type": "opsgenie", "api_key": "og-key-1", "api_url": format!("{r}/og")}),
            "/og/v2/alerts".into(),
            &["api_key"],
        ),
        (
            json!({"name": "ntfy", "type": "ntfy", "url": format!("{r}/ntfy/vigil-ops")}),
            "/ntfy/".into(),
            &["url"],
        ),
        (
            json!({"name": "pushover", "type": "pushover", "token": "azGDORePK8gMaC0QOYAMyEEuzJnyUi",
                "user": "uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "api_url": format!("{r}/po")}),
            "/po/1/messages.json".into(),
            &["token"],
        ),
        (
            json!({"name": "gotify", "type": "gotify", "url": format!("{r}/gotify"), "token": "AgotifyTok.1"}),
            "/gotify/message".into(),
            &["token"],
        ),
        (
            json!({"name": "matrix", "type": "matrix", "homeserver": format!("{r}/mx"), "access_token": "syt_matrix", "room_id": "!ops:m.example"}),
            "/mx/_matrix/client/v3/rooms/!ops:m.example/send/m.room.message/".into(),
            &["access_token"],
        ),
        (
            json!({"name": "mattermost", "type": "mattermost", "webhook_url": format!("{r}/mm/hooks/key")}),
            "/mm/hooks/key".into(),
            &["webhook_url"],
        ),
        (
            json!({"name": "google-chat", "type": "google_chat", "webhook_url": format!("{r}/gc/v1/spaces/S/messages?key=k&token=t")}),
            "/gc/v1/spaces/S/messages".into(),
            &["webhook_url"],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_channel_type_through_the_api_and_the_ui() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let receiver = Receiver::start().await;
    let server = Server::start(bin(), &store, &[]);
    for (doc, path, secrets) in every_channel(&receiver.url) {
        let name = doc["name"].as_str().unwrap().to_owned();
        let (status, c) = server.post("/api/v1/channels", &doc).await;
        assert_eq!(status, 201, "{name}: {c}");
        for s in secrets {
            assert_eq!(c[*s], "********", "{name}: {s} is a secret: {c}");
        }
        let (status, t) = server
            .post(&format!("/api/v1/channels/{name}/test"), &json!({}))
            .await;
        assert_eq!(status, 200, "{name}: {t}");
        assert_eq!(t["delivered"], true, "{name}: {t}");
        assert!(
            receiver
                .received()
                .iter()
                .any(|r| r.path.starts_with(&path)),
            "{name}: nothing on {path}"
        );
    }
    // The OpenAPI document describes every type with its settings.
    let (_, doc) = server.get("/api/v1/openapi.json").await;
    let text = doc.to_string();
    for setting in [
        "google_chat",
        "room_id",
        "bot_token",
        "access_token",
        "homeserver",
    ] {
        assert!(
            text.contains(setting),
            "the OpenAPI document lacks {setting}"
        );
    }
    // A bad setting through the API: 422 naming the field.
    let (status, e) = server
        .post(
            "/api/v1/channels",
            &json!({"name": "bad", "type": "matrix", "homeserver": "https://m.example", "access_token": "t", "room_id": "#ops:m.example"}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["field"], "room_id", "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("alias"),
        "{e}"
    );

    // Through the UI: the form of each type, a channel created, its secret never
    // written into a page, its test delivered.
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    for (kind, label) in [
        ("discord", "Discord webhook URL"),
        ("telegram", "Bot token"),
        ("opsgenie", "API key"),
        ("ntfy", "Topic URL"),
        ("pushover", "User or group key"),
        ("gotify", "Application token"),
        ("matrix", "Room id"),
        ("google_chat", "Google Chat webhook URL"),
    ] {
        let page = web.get(&format!("/channels?type={kind}")).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains(label), "{kind}: no {label:?}");
    }
    let gotify_url = format!("{}/gotify", receiver.url);
    let r = web
        .post(
            "/channels",
            &[
                ("_csrf", &csrf),
                ("type", "gotify"),
                ("name", "gotify-ui"),
                ("url", &gotify_url),
                ("token", "AgotifyUiTok.2"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let edit = web.get("/channels/gotify-ui/edit").await;
    assert_eq!(edit.status, 200);
    assert!(
        !edit.body.contains("AgotifyUiTok.2"),
        "the token is never written into a page"
    );
    assert!(edit.body.contains(&gotify_url), "the server's URL is shown");
    let page = web.get("/channels/gotify-ui").await;
    assert!(page.body.contains("Application token") && !page.body.contains("AgotifyUiTok.2"));
    let before = receiver.on("/gotify/message").len();
    let t = web
        .post("/channels/gotify-ui/test", &[("_csrf", &csrf)], None)
        .await;
    assert!(t.body.contains("was delivered"), "{}", t.body);
    let sent = receiver.on("/gotify/message");
    assert_eq!(sent.len(), before + 1);
    assert_eq!(sent[before].header("x-gotify-key"), Some("AgotifyUiTok.2"));
    // Saved again with the token left empty: kept.
    let r = web
        .post(
            "/channels/gotify-ui/edit",
            &[("_csrf", &csrf), ("url", &gotify_url), ("token", "")],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    web.post("/channels/gotify-ui/test", &[("_csrf", &csrf)], None)
        .await;
    let sent = receiver.on("/gotify/message");
    assert_eq!(
        sent.last().unwrap().header("x-gotify-key"),
        Some("AgotifyUiTok.2")
    );
    // A bad setting: shown next to its field.
    let r = web
        .post(
            "/channels",
            &[
                ("_csrf", &csrf),
                ("type", "telegram"),
                ("name", "tg-ui"),
                ("bot_token", BOT),
                ("chat_id", "ops"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("numeric chat id"), "{}", r.body);
}

#[test]
fn validate_names_the_field_of_a_bad_channel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "channels:\n  - name: tg\n    type: telegram\n    bot_token: \"1:x\"\n    chat_id: ops\n  - name: po\n    type: pushover\n    token: short\n    user: uQiRzpo4DXghDmr9QzzfQu27cmVRsG\n  - name: mx\n    type: matrix\n    homeserver: https://m.example\n    access_token: t\n    room_id: \"#ops:m.example\"\n  - name: og\n    type: opsgenie\n    api_key: k\n    api_url: eu\n",
    )
    .unwrap();
    let (code, out, err) = run_cli(
        bin(),
        &["validate".into(), "-f".into(), path.display().to_string()],
        None,
    );
    assert_eq!(code, 1, "{out}{err}");
    let shown = path.display().to_string();
    for want in [
        format!("{shown}:5: channels[0] (\"tg\").chat_id: must be a numeric chat id"),
        format!("{shown}:8: channels[1] (\"po\").token: must be the application's API token"),
        format!("{shown}:14: channels[2] (\"mx\").room_id: is a room alias"),
        format!("{shown}:18: channels[3] (\"og\").api_url: must be an http:// or https:// URL"),
    ] {
        assert!(err.contains(&want), "{want}\nnot in:\n{err}");
    }
}
