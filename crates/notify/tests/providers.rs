//! The chat and push channels (Discord, Teams, Telegram, Opsgenie, ntfy, Pushover,
//! Gotify, Matrix, Mattermost, Google Chat) against one local receiver standing in
//! for all of them. Each of its routes checks the request against the provider's
//! documented API — method, path, authentication, content type, required fields and
//! their limits — and answers 400 naming the violation, as the provider would refuse
//! it; where the provider removes duplicates (Opsgenie's alias, Matrix's transaction
//! id) the receiver does so too, so the tests see what users would. `/status/<code>`
//! answers every request under it with that status, for the retry classification.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use vigilmon_core::alert::Priority;
use vigilmon_notify::{
    ChannelSpec, Delivery, Event, Links, Notification, Notifier, RegionEvidence,
};

// ---------------------------------------------------------------- notifications

fn notification(event: Event) -> Notification {
    Notification {
        event,
        dedup_key: "vigilmon-0190f1c2-1111-7222-8333-444455556666".into(),
        incident_id: Some(uuid::Uuid::now_v7()),
        monitor_id: Some(uuid::Uuid::now_v7()),
        monitor_name: "<script>alert(1)</script> & @everyone *checkout*".into(),
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
            ack_url: Some("https://vigil.example/ack/1?exp=1&sig=2".into()),
        },
    }
}

/// A notification pushing every limit: huge cause, many regions, long names.
fn oversized(event: Event) -> Notification {
    let mut n = notification(event);
    n.cause = "<&*_> @here ".repeat(2_000);
    n.monitor_name = "n".repeat(3_000);
    n.acknowledged_by = Some("a".repeat(3_000));
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

fn assert_delivered(d: &Delivery, what: &str) {
    assert!(d.is_delivered(), "{what}: {d:?}");
}

const BOT: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";
const PO_TOKEN: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
const PO_USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";

// ---------------------------------------------------------------- the receiver

#[derive(Clone, Debug)]
struct Received {
    /// The provider the route stands in for.
    provider: &'static str,
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

/// What the stand-ins remember: every request, Opsgenie's alerts by alias (status and
/// count), Matrix's events by transaction id.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    alerts: Arc<Mutex<HashMap<String, (String, u32)>>>,
    matrix_events: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    fn take(&self, provider: &str) -> Vec<Received> {
        let mut got = self.got.lock().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = got.drain(..).partition(|r| r.provider == provider);
        *got = rest;
        mine
    }
}

type Check = Result<(StatusCode, Value), String>;

/// A route's check of one request.
type Checker<'a> = Box<dyn Fn(&Receiver, &HeaderMap, &Bytes) -> Check + 'a>;

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn within(v: &Value, what: &str, min: usize, max: usize) -> Result<(), String> {
    let s = v.as_str().ok_or(format!("{what}: not a string"))?;
    let n = s.chars().count();
    if n < min || n > max {
        return Err(format!("{what}: {n} characters, not {min} to {max}"));
    }
    Ok(())
}

fn optional(v: &Value, what: &str, max: usize) -> Result<(), String> {
    if v.is_null() {
        Ok(())
    } else {
        within(v, what, 0, max)
    }
}

fn json_body(h: &HeaderMap, body: &Bytes) -> Result<Value, String> {
    let ct = h
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(format!("content-type {ct:?}, not application/json"));
    }
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))
}

fn is_url(v: &Value) -> bool {
    v.as_str()
        .and_then(|s| url::Url::parse(s).ok())
        .is_some_and(|u| u.scheme() == "http" || u.scheme() == "https")
}

/// Discord's "Execute Webhook": content ≤ 2000, ≤ 10 embeds, embed limits (title
/// 256, description 4096, ≤ 25 fields of name 256 / value 1024, footer 2048, 6000 in
/// all), colour an RGB integer, ISO 8601 timestamp, allowed_mentions kinds.
fn discord(_: &Receiver, h: &HeaderMap, b: &Bytes) -> Check {
    let v = json_body(h, b)?;
    optional(&v["content"], "content", 2000)?;
    optional(&v["username"], "username", 80)?;
    let embeds = v["embeds"].as_array().cloned().unwrap_or_default();
    if embeds.is_empty() && chars(&v["content"]) == 0 {
        return Err("content or embeds: one is required".into());
    }
    if embeds.len() > 10 {
        return Err("embeds: more than 10".into());
    }
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        optional(&e["title"], &format!("embeds[{i}].title"), 256)?;
        optional(&e["description"], &format!("embeds[{i}].description"), 4096)?;
        optional(
            &e["footer"]["text"],
            &format!("embeds[{i}].footer.text"),
            2048,
        )?;
        total += chars(&e["title"]) + chars(&e["description"]) + chars(&e["footer"]["text"]);
        if let Some(c) = e.get("color")
            && c.as_u64().is_none_or(|c| c > 0xFF_FF_FF)
        {
            return Err(format!("embeds[{i}].color: {c}"));
        }
        if let Some(t) = e.get("timestamp") {
            t.as_str()
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                .ok_or(format!("embeds[{i}].timestamp: not ISO 8601"))?;
        }
        if e.get("url").is_some() && !is_url(&e["url"]) {
            return Err(format!("embeds[{i}].url"));
        }
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        if fields.len() > 25 {
            return Err(format!("embeds[{i}].fields: more than 25"));
        }
        for (j, f) in fields.iter().enumerate() {
            within(&f["name"], &format!("embeds[{i}].fields[{j}].name"), 1, 256)?;
            within(
                &f["value"],
                &format!("embeds[{i}].fields[{j}].value"),
                1,
                1024,
            )?;
            total += chars(&f["name"]) + chars(&f["value"]);
        }
    }
    if total > 6000 {
        return Err(format!("embeds: {total} characters in all, over 6000"));
    }
    for p in v["allowed_mentions"]["parse"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if !["roles", "users", "everyone"].contains(&p.as_str().unwrap_or("")) {
            return Err(format!("allowed_mentions.parse: {p}"));
        }
    }
    Ok((StatusCode::NO_CONTENT, Value::Null))
}

/// A Teams Workflows webhook: a `message` whose attachments are Adaptive Cards with a
/// body of known elements; at most about 28 KB.
fn teams(_: &Receiver, h: &HeaderMap, b: &Bytes) -> Check {
    if b.len() > 28_000 {
        return Err(format!("message of {} bytes, over 28 KB", b.len()));
    }
    let v = json_body(h, b)?;
    if v["type"] != "message" {
        return Err("type: must be \"message\"".into());
    }
    let atts = v["attachments"].as_array().ok_or("attachments: required")?;
    if atts.is_empty() {
        return Err("attachments: empty".into());
    }
    for (i, a) in atts.iter().enumerate() {
        if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
            return Err(format!("attachments[{i}].contentType"));
        }
        let card = &a["content"];
        if card["type"] != "AdaptiveCard" || !card["version"].is_string() {
            return Err(format!(
                "attachments[{i}].content: not an AdaptiveCard with a version"
            ));
        }
        let body = card["body"]
            .as_array()
            .ok_or(format!("attachments[{i}].content.body"))?;
        for (j, el) in body.iter().enumerate() {
            match el["type"].as_str().unwrap_or("") {
                "TextBlock" => within(&el["text"], &format!("body[{j}].text"), 1, 20_000)?,
                "FactSet" => {
                    for f in el["facts"].as_array().ok_or(format!("body[{j}].facts"))? {
                        if !f["title"].is_string() || !f["value"].is_string() {
                            return Err(format!("body[{j}].facts: title and value are strings"));
                        }
                    }
                }
                other => return Err(format!("body[{j}].type: {other:?}")),
            }
        }
        for (j, act) in card["actions"].as_array().into_iter().flatten().enumerate() {
            if act["type"] != "Action.OpenUrl" || !act["title"].is_string() || !is_url(&act["url"])
            {
                return Err(format!(
                    "actions[{j}]: an Action.OpenUrl needs a title and a URL"
                ));
            }
        }
    }
    Ok((StatusCode::ACCEPTED, Value::Null))
}

/// Telegram's HTML style: only its tags, and every `<`, `>` and `&` of the text
/// escaped. Returns the text's length after entities are parsed.
fn telegram_html(s: &str) -> Result<usize, String> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "blockquote",
        "span",
        "tg-emoji",
    ];
    let mut len = 0;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or("text: an unescaped <")?;
                let tag = rest[1..end].trim_start_matches('/');
                let name = tag.split([' ', '=']).next().unwrap_or("");
                if !TAGS.contains(&name) {
                    return Err(format!("text: unsupported tag <{name}>"));
                }
                rest = &rest[end + 1..];
            }
            '>' => return Err("text: an unescaped >".into()),
            '&' => {
                let end = rest.find(';').ok_or("text: an unescaped &")?;
                let entity = &rest[1..end];
                if !["lt", "gt", "amp", "quot"].contains(&entity) && !entity.starts_with('#') {
                    return Err(format!("text: unknown entity &{entity};"));
                }
                len += 1;
                rest = &rest[end + 1..];
            }
            c => {
                len += 1;
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    Ok(len)
}

/// The Bot API's `sendMessage`: `/bot<token>/sendMessage`, a chat id (integer or
/// `@username`), 1 to 4096 characters of text after entities, a known parse mode.
fn telegram(path: &str) -> impl Fn(&Receiver, &HeaderMap, &Bytes) -> Check + '_ {
    move |_, h, b| {
        let token = path
            .strip_prefix("/tg/bot")
            .and_then(|p| p.strip_suffix("/sendMessage"))
            .ok_or("not /bot<token>/sendMessage")?;
        if token != BOT {
            return Err(format!("unauthorized token {token:?}"));
        }
        let v = json_body(h, b)?;
        match &v["chat_id"] {
            Value::Number(n) if n.is_i64() => {}
            Value::String(s) if s.starts_with('@') => {}
            other => return Err(format!("chat_id: {other}")),
        }
        let text = v["text"].as_str().ok_or("text: required")?;
        let len = match v["parse_mode"].as_str() {
            Some("HTML") => telegram_html(text)?,
            None => text.chars().count(),
            Some(m) => return Err(format!("parse_mode: {m:?}")),
        };
        if len == 0 || len > 4096 {
            return Err(format!(
                "text: {len} characters after entities, not 1 to 4096"
            ));
        }
        Ok((
            StatusCode::OK,
            json!({"ok": true, "result": {"message_id": 1, "chat": {"id": v["chat_id"]}, "text": text}}),
        ))
    }
}

/// The Opsgenie Alert API v2: `GenieKey` authentication; create (`message` 1–130,
/// `alias` 512, `description` 15000, ≤ 20 `tags` of 50, string `details`, `entity`
/// 512, `source` 100, `priority` P1–P5, `note` 25000); acknowledge and close by
/// identifier and `identifierType` (`user` 100, `source` 100, `note` 25000). Like
/// Opsgenie, a create with the alias of an open alert raises its count.
fn opsgenie<'a>(
    path: &'a str,
    query: &'a str,
) -> impl Fn(&Receiver, &HeaderMap, &Bytes) -> Check + 'a {
    move |r, h, b| {
        if h.get("authorization").and_then(|v| v.to_str().ok()) != Some("GenieKey og-key-1") {
            return Err("authorization: GenieKey <api key> is required".into());
        }
        let v = json_body(h, b)?;
        optional(&v["source"], "source", 100)?;
        optional(&v["note"], "note", 25_000)?;
        optional(&v["user"], "user", 100)?;
        let accepted =
            json!({"result": "Request will be processed", "took": 0.01, "requestId": "r-1"});
        let mut alerts = r.alerts.lock().unwrap();
        if path == "/og/v2/alerts" {
            within(&v["message"], "message", 1, 130)?;
            within(&v["alias"], "alias", 1, 512)?;
            optional(&v["description"], "description", 15_000)?;
            optional(&v["entity"], "entity", 512)?;
            let tags = v["tags"].as_array().cloned().unwrap_or_default();
            if tags.len() > 20 || tags.iter().any(|t| chars(t) == 0 || chars(t) > 50) {
                return Err("tags: at most 20 of at most 50 characters".into());
            }
            if let Some(d) = v.get("details")
                && !d
                    .as_object()
                    .is_some_and(|d| d.values().all(Value::is_string))
            {
                return Err("details: a map of strings".into());
            }
            if !["P1", "P2", "P3", "P4", "P5"].contains(&v["priority"].as_str().unwrap_or("P3")) {
                return Err(format!("priority: {}", v["priority"]));
            }
            let alias = v["alias"].as_str().unwrap_or_default().to_owned();
            let entry = alerts.entry(alias).or_insert(("open".into(), 0));
            if entry.0 == "closed" {
                *entry = ("open".into(), 0);
            }
            entry.1 += 1;
            return Ok((StatusCode::ACCEPTED, accepted));
        }
        let rest = path
            .strip_prefix("/og/v2/alerts/")
            .ok_or("unknown endpoint")?;
        let (id, action) = rest.rsplit_once('/').ok_or("unknown endpoint")?;
        let id = percent_decode(id);
        if query != "identifierType=alias" {
            return Err(format!("identifierType: {query:?}"));
        }
        let status = match action {
            "acknowledge" => "acknowledged",
            "close" => "closed",
            other => return Err(format!("unknown action {other:?}")),
        };
        if let Some(a) = alerts.get_mut(&id) {
            a.0 = status.into();
        }
        Ok((StatusCode::ACCEPTED, accepted))
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// ntfy's JSON publishing at the server's root: a `topic`, a `priority` of 1 to 5,
/// string tags, at most three actions of a known kind, a `click` URL; `Bearer` auth.
fn ntfy(_: &Receiver, h: &HeaderMap, b: &Bytes) -> Check {
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer tk_ntfy") {
        return Err("authorization: 403 forbidden without the token".into());
    }
    let v = json_body(h, b)?;
    let topic = v["topic"].as_str().ok_or("topic: required")?;
    if topic.is_empty()
        || topic.len() > 64
        || !topic
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        return Err(format!("topic: {topic:?}"));
    }
    if v["message"].as_str().is_some_and(|m| m.len() > 4096) {
        return Err("message: over 4096 bytes".into());
    }
    if let Some(p) = v.get("priority")
        && !p.as_u64().is_some_and(|p| (1..=5).contains(&p))
    {
        return Err(format!("priority: {p}"));
    }
    if v.get("tags").is_some()
        && !v["tags"]
            .as_array()
            .is_some_and(|t| t.iter().all(Value::is_string))
    {
        return Err("tags: a list of strings".into());
    }
    if v.get("click").is_some() && !is_url(&v["click"]) {
        return Err("click: a URL".into());
    }
    let actions = v["actions"].as_array().cloned().unwrap_or_default();
    if actions.len() > 3 {
        return Err("actions: at most 3".into());
    }
    for a in &actions {
        if !["view", "http", "broadcast"].contains(&a["action"].as_str().unwrap_or(""))
            || !a["label"].is_string()
            || (a["action"] == "view" && !is_url(&a["url"]))
        {
            return Err(format!("actions: {a}"));
        }
    }
    Ok((
        StatusCode::OK,
        json!({"id": "m1", "event": "message", "topic": topic}),
    ))
}

/// Pushover's messages API, form-encoded: a 30-character `token` and `user`, a
/// `message` of at most 1024 characters, `title` 250, `url` 512, `url_title` 100,
/// `priority` −2 to 2, and with 2 a `retry` of at least 30 and an `expire` of at most
/// 10800; `html=1` allows its few tags. Also `receipts/cancel_by_tag`.
fn pushover(path: &str) -> impl Fn(&Receiver, &HeaderMap, &Bytes) -> Check + '_ {
    move |_, h, b| {
        let ct = h
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if ct != "application/x-www-form-urlencoded" {
            return Err(format!("content-type {ct:?}"));
        }
        let f: HashMap<String, String> = url::form_urlencoded::parse(b).into_owned().collect();
        if f.get("token").map(String::as_str) != Some(PO_TOKEN) {
            return Err("token: application token is invalid".into());
        }
        if let Some(tag) = path
            .strip_prefix("/po/1/receipts/cancel_by_tag/")
            .and_then(|t| t.strip_suffix(".json"))
        {
            if tag.is_empty() {
                return Err("tag: required".into());
            }
            return Ok((
                StatusCode::OK,
                json!({"status": 1, "canceled": 0, "request": "r"}),
            ));
        }
        if path != "/po/1/messages.json" {
            return Err(format!("unknown endpoint {path}"));
        }
        if f.get("user").map(String::as_str) != Some(PO_USER) {
            return Err("user: user identifier is invalid".into());
        }
        let len = |k: &str| f.get(k).map_or(0, |v| v.chars().count());
        let message = f.get("message").ok_or("message: cannot be blank")?;
        if message.is_empty() || len("message") > 1024 {
            return Err(format!("message: {} characters", len("message")));
        }
        for (k, max) in [("title", 250), ("url", 512), ("url_title", 100)] {
            if len(k) > max {
                return Err(format!("{k}: over {max} characters"));
            }
        }
        let p: i8 = f
            .get("priority")
            .map_or(Ok(0), |p| p.parse())
            .map_err(|_| "priority: not a number")?;
        if !(-2..=2).contains(&p) {
            return Err(format!("priority: {p}"));
        }
        if p == 2 {
            let retry: u32 = f
                .get("retry")
                .and_then(|r| r.parse().ok())
                .ok_or("retry: required with priority 2")?;
            let expire: u32 = f
                .get("expire")
                .and_then(|r| r.parse().ok())
                .ok_or("expire: required with priority 2")?;
            if retry < 30 || expire > 10_800 {
                return Err("retry at least 30, expire at most 10800".into());
            }
        }
        if f.get("html").map(String::as_str) == Some("1") {
            pushover_html(message)?;
        }
        let mut answer = json!({"status": 1, "request": "r-1"});
        if p == 2 {
            answer["receipt"] = json!("rcpt-1");
        }
        Ok((StatusCode::OK, answer))
    }
}

/// Pushover's HTML: `b`, `i`, `u`, `font`, `a`, and escaped text around them.
fn pushover_html(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(i) = rest.find(['<', '>', '&']) {
        let c = rest.as_bytes()[i];
        rest = &rest[i..];
        match c {
            b'<' => {
                let end = rest.find('>').ok_or("message: an unescaped <")?;
                let name = rest[1..end]
                    .trim_start_matches('/')
                    .split(' ')
                    .next()
                    .unwrap_or("");
                if !["b", "i", "u", "font", "a"].contains(&name) {
                    return Err(format!("message: unsupported tag <{name}>"));
                }
                rest = &rest[end + 1..];
            }
            b'&' => {
                let end = rest.find(';').ok_or("message: an unescaped &")?;
                rest = &rest[end + 1..];
            }
            _ => return Err("message: an unescaped >".into()),
        }
    }
    Ok(())
}

/// Gotify's `POST /message`: the application token in `X-Gotify-Key`, a `message`,
/// an integer `priority`, `extras` an object.
fn gotify(_: &Receiver, h: &HeaderMap, b: &Bytes) -> Check {
    if h.get("x-gotify-key").and_then(|v| v.to_str().ok()) != Some("AgotifyTok.1") {
        return Err("401: you need to provide a valid access token".into());
    }
    let v = json_body(h, b)?;
    within(&v["message"], "message", 1, 65_535)?;
    optional(&v["title"], "title", 65_535)?;
    if v.get("priority").is_some() && !v["priority"].is_i64() {
        return Err("priority: an integer".into());
    }
    if v.get("extras").is_some() && !v["extras"].is_object() {
        return Err("extras: an object".into());
    }
    Ok((
        StatusCode::OK,
        json!({"id": 1, "appid": 1, "message": v["message"]}),
    ))
}

/// The Matrix client-server API's `PUT /_matrix/client/v3/rooms/{roomId}/send/
/// m.room.message/{txnId}`: `Bearer` auth, the joined room, a `msgtype` and `body`,
/// `formatted_body` with `format: org.matrix.custom.html`. A transaction id already
/// seen answers its event again and posts nothing, as homeservers do.
fn matrix(path: &str) -> impl Fn(&Receiver, &HeaderMap, &Bytes) -> Check + '_ {
    move |r, h, b| {
        if h.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer syt_matrix") {
            return Err("401 M_UNKNOWN_TOKEN".into());
        }
        let rest = path
            .strip_prefix("/mx/_matrix/client/v3/rooms/")
            .ok_or("unknown endpoint")?;
        let (room, rest) = rest.split_once('/').ok_or("unknown endpoint")?;
        if percent_decode(room) != "!ops:m.example" {
            return Err(format!("403 M_FORBIDDEN: not in room {room}"));
        }
        let txn = rest
            .strip_prefix("send/m.room.message/")
            .filter(|t| !t.is_empty() && !t.contains('/'))
            .ok_or("not send/m.room.message/{txnId}")?;
        let v = json_body(h, b)?;
        if !v["msgtype"].is_string() || !v["body"].is_string() {
            return Err("msgtype and body are required".into());
        }
        if v.get("formatted_body").is_some() && v["format"] != "org.matrix.custom.html" {
            return Err("format: org.matrix.custom.html with formatted_body".into());
        }
        if b.len() > 65_536 {
            return Err("event too large".into());
        }
        let mut events = r.matrix_events.lock().unwrap();
        let id = match events.iter().find(|(t, _)| t == txn) {
            Some((_, id)) => id.clone(),
            None => {
                let id = format!("$event{}", events.len());
                events.push((txn.to_owned(), id.clone()));
                id
            }
        };
        Ok((StatusCode::OK, json!({"event_id": id})))
    }
}

/// A Mattermost (Slack-compatible) incoming webhook: `text` or `attachments`, text at
/// most 16383 characters, attachment fields with a title and a value.
fn mattermost(_: &Receiver, h: &HeaderMap, b: &Bytes) -> Check {
    let v = json_body(h, b)?;
    let atts = v["attachments"].as_array().cloned().unwrap_or_default();
    if chars(&v["text"]) == 0 && atts.is_empty() {
        return Err("text or attachments: one is required".into());
    }
    if b.len() > 16_383 * 4 || chars(&v["text"]) > 16_383 {
        return Err("message too long".into());
    }
    for (i, a) in atts.iter().enumerate() {
        for (j, f) in a["fields"].as_array().into_iter().flatten().enumerate() {
            if !f["title"].is_string() || !f["value"].is_string() {
                return Err(format!("attachments[{i}].fields[{j}]"));
            }
        }
        if let Some(c) = a["color"].as_str()
            && !(c.starts_with('#') && c.len() == 7)
        {
            return Err(format!("attachments[{i}].color: {c}"));
        }
    }
    Ok((StatusCode::OK, json!("ok")))
}

/// Google Chat `spaces.messages.create` through a webhook: `cardsV2` items with a
/// `cardId` and a `card` whose sections hold widgets of one known kind each; a
/// `messageReplyOption` of the documented values.
fn google_chat(query: &str) -> impl Fn(&Receiver, &HeaderMap, &Bytes) -> Check + '_ {
    move |_, h, b| {
        let q: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        if q.get("key").map(String::as_str) != Some("k")
            || q.get("token").map(String::as_str) != Some("t")
        {
            return Err("401: the webhook's key and token".into());
        }
        if let Some(o) = q.get("messageReplyOption")
            && ![
                "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
                "REPLY_MESSAGE_OR_FAIL",
            ]
            .contains(&o.as_str())
        {
            return Err(format!("messageReplyOption: {o}"));
        }
        if b.len() > 32_000 {
            return Err("message over 32000 bytes".into());
        }
        let v = json_body(h, b)?;
        let cards = v["cardsV2"].as_array().cloned().unwrap_or_default();
        if cards.is_empty() && chars(&v["text"]) == 0 {
            return Err("text or cardsV2: one is required".into());
        }
        for (i, c) in cards.iter().enumerate() {
            within(&c["cardId"], &format!("cardsV2[{i}].cardId"), 1, 255)?;
            let card = &c["card"];
            if card.get("header").is_some() {
                within(
                    &card["header"]["title"],
                    &format!("cardsV2[{i}].card.header.title"),
                    1,
                    2000,
                )?;
            }
            for (j, s) in card["sections"]
                .as_array()
                .ok_or("sections")?
                .iter()
                .enumerate()
            {
                for (k, w) in s["widgets"].as_array().ok_or("widgets")?.iter().enumerate() {
                    let o = w.as_object().ok_or("widget")?;
                    let at = format!("cardsV2[{i}].sections[{j}].widgets[{k}]");
                    if o.len() != 1 {
                        return Err(format!("{at}: one kind per widget"));
                    }
                    match o.keys().next().map(String::as_str) {
                        Some("textParagraph") => {
                            within(&w["textParagraph"]["text"], &at, 1, 20_000)?
                        }
                        Some("decoratedText") => {
                            within(&w["decoratedText"]["text"], &at, 1, 20_000)?
                        }
                        Some("buttonList") => {
                            for btn in w["buttonList"]["buttons"].as_array().ok_or(at.clone())? {
                                if !btn["text"].is_string()
                                    || !is_url(&btn["onClick"]["openLink"]["url"])
                                {
                                    return Err(format!(
                                        "{at}: a button needs text and an openLink URL"
                                    ));
                                }
                            }
                        }
                        other => return Err(format!("{at}: unknown widget {other:?}")),
                    }
                }
            }
        }
        Ok((StatusCode::OK, json!({"name": "spaces/S/messages/M"})))
    }
}

fn bad_request(violation: String) -> Response {
    // The notifier never shows a reply's body: print the violation for the test log.
    eprintln!("receiver: {violation}");
    (StatusCode::BAD_REQUEST, violation).into_response()
}

/// Answers `/status/<code>/…`: the status, `Retry-After: 7` with 429, a `Location`
/// with 3xx; `hang` never answers; `wait-body` is a 429 saying how long only in its
/// body (each provider's field).
async fn status_route(path: &str) -> Response {
    let code = path
        .trim_start_matches("/status/")
        .split('/')
        .next()
        .unwrap_or("");
    match code {
        "hang" => std::future::pending().await,
        "wait-body" => (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({
                "retry_after": 2.5,
                "parameters": {"retry_after": 3},
                "retry_after_ms": 4000,
                "errcode": "M_LIMIT_EXCEEDED",
            })),
        )
            .into_response(),
        "429" => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "7")],
            "slow down",
        )
            .into_response(),
        "301" => (
            StatusCode::MOVED_PERMANENTLY,
            [("location", "https://elsewhere.example/hook")],
        )
            .into_response(),
        "400-secret" => (
            StatusCode::BAD_REQUEST,
            "INTERNAL-ONLY admin_password=hunter2",
        )
            .into_response(),
        c => (
            StatusCode::from_u16(c.parse().unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "INTERNAL-ONLY admin_password=hunter2",
        )
            .into_response(),
    }
}

async fn handle(
    State(r): State<Receiver>,
    method: Method,
    uri: Uri,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    if path.starts_with("/status/") {
        r.got.lock().unwrap().push(Received {
            provider: "status",
            method,
            path: path.clone(),
            query,
            headers: h,
            body: b,
        });
        return status_route(&path).await;
    }
    let segment = path.split('/').nth(1).unwrap_or("");
    let (provider, want, check): (&'static str, Method, Checker<'_>) = match segment {
        "discord" => ("discord", Method::POST, Box::new(discord)),
        "teams" => ("teams", Method::POST, Box::new(teams)),
        "tg" => ("telegram", Method::POST, Box::new(telegram(&path))),
        "og" => ("opsgenie", Method::POST, Box::new(opsgenie(&path, &query))),
        "ntfy" if path == "/ntfy/" => ("ntfy", Method::POST, Box::new(ntfy)),
        "po" => ("pushover", Method::POST, Box::new(pushover(&path))),
        "gotify" if path == "/gotify/message" => ("gotify", Method::POST, Box::new(gotify)),
        "mx" => ("matrix", Method::PUT, Box::new(matrix(&path))),
        "mm" => ("mattermost", Method::POST, Box::new(mattermost)),
        "gc" => ("google_chat", Method::POST, Box::new(google_chat(&query))),
        _ => return (StatusCode::NOT_FOUND, "no such endpoint").into_response(),
    };
    r.got.lock().unwrap().push(Received {
        provider,
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers: h.clone(),
        body: b.clone(),
    });
    if method != want {
        return (StatusCode::METHOD_NOT_ALLOWED, "method").into_response();
    }
    match check(&r, &h, &b) {
        Ok((status, Value::Null)) => status.into_response(),
        Ok((status, body)) => (status, axum::Json(body)).into_response(),
        Err(violation) => bad_request(format!("{provider}: {violation}")),
    }
}

async fn serve() -> (SocketAddr, Receiver) {
    let r = Receiver::default();
    let app = Router::new().fallback(handle).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, r)
}

/// Every new channel, its base URL at `base` (`http://addr` or `http://addr/status/…`).
fn channels(base: &str) -> Vec<ChannelSpec> {
    vec![
        ChannelSpec::Discord {
            webhook_url: format!("{base}/discord/api/webhooks/1/SECRET"),
        },
        ChannelSpec::Teams {
            webhook_url: format!("{base}/teams/workflows/SECRET"),
        },
        ChannelSpec::Telegram {
            bot_token: BOT.into(),
            chat_id: "-1001234567890".into(),
            api_url: format!("{base}/tg"),
        },
        ChannelSpec::Opsgenie {
            api_key: "og-key-1".into(),
            api_url: format!("{base}/og"),
        },
        ChannelSpec::Ntfy {
            url: format!("{base}/ntfy/vigil-ops"),
            token: Some("tk_ntfy".into()),
        },
        ChannelSpec::Pushover {
            token: PO_TOKEN.into(),
            user: PO_USER.into(),
            api_url: format!("{base}/po"),
        },
        ChannelSpec::Gotify {
            url: format!("{base}/gotify"),
            token: "AgotifyTok.1".into(),
        },
        ChannelSpec::Matrix {
            homeserver: format!("{base}/mx"),
            access_token: "syt_matrix".into(),
            room_id: "!ops:m.example".into(),
        },
        ChannelSpec::Mattermost {
            webhook_url: format!("{base}/mm/hooks/SECRET"),
        },
        ChannelSpec::GoogleChat {
            webhook_url: format!("{base}/gc/v1/spaces/S/messages?key=k&token=t"),
        },
    ]
}

// ---------------------------------------------------------------- the tests

#[tokio::test]
async fn the_receiver_refuses_what_the_providers_would() {
    let (addr, _r) = serve().await;
    let empty = Bytes::from_static(b"{}");
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    let r = Receiver::default();
    assert!(discord(&r, &h, &empty).is_err(), "content or embeds");
    let long = Bytes::from(json!({"embeds": [{"title": "t".repeat(257)}]}).to_string());
    assert!(discord(&r, &h, &long).is_err());
    assert!(
        teams(
            &r,
            &h,
            &Bytes::from(json!({"type": "message", "attachments": []}).to_string())
        )
        .is_err()
    );
    assert!(telegram_html("a < b").is_err());
    assert!(telegram_html("<div>x</div>").is_err());
    assert_eq!(telegram_html("<b>a &amp; b</b>"), Ok(5));
    assert!(pushover_html("<script>").is_err());
    let mut form = HeaderMap::new();
    form.insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    let emergency = format!("token={PO_TOKEN}&user={PO_USER}&message=m&priority=2");
    assert!(pushover("/po/1/messages.json")(&r, &form, &Bytes::from(emergency)).is_err());
    assert!(ntfy(&r, &h, &empty).is_err(), "no token");
    let mut auth = h.clone();
    auth.insert("authorization", "Bearer tk_ntfy".parse().unwrap());
    let bad = Bytes::from(json!({"topic": "t", "priority": 9}).to_string());
    assert!(ntfy(&r, &auth, &bad).is_err());
    assert!(mattermost(&r, &h, &empty).is_err());
    assert!(google_chat("key=k&token=t")(&r, &h, &Bytes::from(json!({"cardsV2": [{"cardId": "c", "card": {"sections": [{"widgets": [{"image": {}}]}]}}]}).to_string())).is_err());
    // Over HTTP a violation is a 400, which the notifier calls permanent.
    let d = notifier(Duration::from_secs(5))
        .deliver(
            &ChannelSpec::Telegram {
                bot_token: "1:wrong".into(),
                chat_id: "1".into(),
                api_url: format!("http://{addr}/tg"),
            },
            &notification(Event::Test),
        )
        .await;
    assert_eq!(
        d,
        Delivery::Permanent {
            error: "rejected with 400 (Bad Request)".into()
        }
    );
}

/// Every event, ordinary and oversized, passes each provider's schema.
#[tokio::test]
async fn every_event_passes_each_providers_schema() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    for ch in channels(&format!("http://{addr}")) {
        for e in Event::ALL {
            for n in [notification(e), oversized(e)] {
                let d = notifier.deliver(&ch, &n).await;
                assert_delivered(&d, &format!("{} {e:?}", ch.kind()));
            }
        }
        let got = r.take(ch.kind());
        let expected = match ch.kind() {
            // Regional notices do not page; a P1 acknowledge and resolve first cancel
            // Pushover's emergency.
            "opsgenie" => 2 * (Event::ALL.len() - 1),
            "pushover" => 2 * (Event::ALL.len() + 2),
            _ => 2 * Event::ALL.len(),
        };
        assert_eq!(got.len(), expected, "{}", ch.kind());
        let ua = got[0].headers["user-agent"].to_str().unwrap();
        assert_eq!(ua, concat!("vigilmon/", env!("CARGO_PKG_VERSION")));
        // Where user text lands in markup, it arrives escaped.
        if ["discord", "teams", "telegram"].contains(&ch.kind()) {
            let raw = String::from_utf8_lossy(&got[0].body).into_owned();
            assert!(!raw.contains("<script>"), "{}: {raw}", ch.kind());
        }
    }
}

#[tokio::test]
async fn discord_embeds_are_coloured_by_event_and_mention_nobody() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    let ch = &channels(&format!("http://{addr}"))[0];
    for e in [
        Event::Trigger,
        Event::Acknowledged,
        Event::Resolved,
        Event::Degraded,
    ] {
        assert_delivered(&notifier.deliver(ch, &notification(e)).await, e.as_str());
    }
    let got: Vec<Value> = r.take("discord").iter().map(Received::json).collect();
    let colours: Vec<u64> = got
        .iter()
        .map(|v| v["embeds"][0]["color"].as_u64().unwrap())
        .collect();
    assert_eq!(colours, [0xD72F2F, 0x2F6FD7, 0x2EA043, 0xF2B705]);
    assert!(
        got.iter()
            .all(|v| v["allowed_mentions"]["parse"] == json!([]))
    );
    let d = got[0]["embeds"][0]["description"].as_str().unwrap();
    assert!(
        d.contains("[Acknowledge](https://vigil.example/ack/1?exp=1&sig=2)"),
        "{d}"
    );
    assert!(!got[2].to_string().contains("Acknowledge"));
}

#[tokio::test]
async fn telegram_sends_html_to_the_chat() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    let ch = &channels(&format!("http://{addr}"))[2];
    assert_delivered(
        &notifier.deliver(ch, &notification(Event::Trigger)).await,
        "trigger",
    );
    let got = r.take("telegram").pop().unwrap();
    assert_eq!(got.path, format!("/tg/bot{BOT}/sendMessage"));
    let v = got.json();
    assert_eq!(v["chat_id"], -1001234567890_i64);
    let t = v["text"].as_str().unwrap();
    assert!(
        t.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp;"),
        "{t}"
    );
    assert!(t.contains("<a href=\"https://vigil.example/ack/1?exp=1&amp;sig=2\">Acknowledge</a>"));
}

/// One Opsgenie alert per incident: triggers, reminders and escalations fold into it,
/// the acknowledgement and the resolve reach it by alias; degraded warnings have
/// their own alert.
#[tokio::test]
async fn opsgenie_keeps_one_alert_per_incident() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    let ch = &channels(&format!("http://{addr}"))[3];
    let key = notification(Event::Trigger).dedup_key;
    for e in [
        Event::Trigger,
        Event::Reminder,
        Event::Escalation,
        Event::Trigger,
    ] {
        assert_delivered(&notifier.deliver(ch, &notification(e)).await, e.as_str());
    }
    assert_eq!(r.alerts.lock().unwrap()[&key], ("open".to_owned(), 4));
    assert_delivered(
        &notifier
            .deliver(ch, &notification(Event::Acknowledged))
            .await,
        "ack",
    );
    assert_eq!(r.alerts.lock().unwrap()[&key].0, "acknowledged");
    assert_delivered(
        &notifier.deliver(ch, &notification(Event::Resolved)).await,
        "resolve",
    );
    assert_eq!(r.alerts.lock().unwrap()[&key].0, "closed");
    assert_delivered(
        &notifier.deliver(ch, &notification(Event::Degraded)).await,
        "degraded",
    );
    assert_delivered(
        &notifier
            .deliver(ch, &notification(Event::DegradedCleared))
            .await,
        "cleared",
    );
    assert_eq!(
        r.alerts.lock().unwrap()[&format!("{key}-degraded")].0,
        "closed"
    );
    assert_eq!(r.alerts.lock().unwrap().len(), 2);
    let got = r.take("opsgenie");
    let ack = &got[4];
    assert_eq!(ack.query, "identifierType=alias");
    assert_eq!(ack.json()["user"], "alice@example.com");
    assert_eq!(got[0].json()["priority"], "P1");
    let skipped = notifier
        .deliver(ch, &notification(Event::RegionalNotice))
        .await;
    assert!(
        matches!(&skipped, Delivery::Delivered { detail: Some(d) } if d.starts_with("skipped")),
        "{skipped:?}"
    );
    assert!(r.take("opsgenie").is_empty());
}

#[tokio::test]
async fn ntfy_and_gotify_prioritise_by_incident_priority() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    let all = channels(&format!("http://{addr}"));
    for p in [Priority::P1, Priority::P2, Priority::P3, Priority::P4] {
        let mut n = notification(Event::Trigger);
        n.priority = p;
        assert_delivered(&notifier.deliver(&all[4], &n).await, "ntfy");
        assert_delivered(&notifier.deliver(&all[6], &n).await, "gotify");
    }
    let ntfy: Vec<Value> = r.take("ntfy").iter().map(Received::json).collect();
    let levels: Vec<u64> = ntfy
        .iter()
        .map(|v| v["priority"].as_u64().unwrap())
        .collect();
    assert_eq!(levels, [5, 4, 3, 2]);
    assert_eq!(ntfy[0]["topic"], "vigil-ops");
    assert_eq!(ntfy[0]["tags"], json!(["red_circle", "vigilmon", "p1"]));
    let gotify: Vec<Value> = r.take("gotify").iter().map(Received::json).collect();
    let levels: Vec<u64> = gotify
        .iter()
        .map(|v| v["priority"].as_u64().unwrap())
        .collect();
    assert_eq!(levels, [10, 8, 5, 2]);
}

/// P1 is an emergency with retry and expire, tagged with the incident; its
/// acknowledgement cancels the repeats before saying so.
#[tokio::test]
async fn pushover_pages_p1_as_an_emergency_and_cancels_it() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    let ch = &channels(&format!("http://{addr}"))[5];
    assert_delivered(
        &notifier.deliver(ch, &notification(Event::Trigger)).await,
        "trigger",
    );
    assert_delivered(
        &notifier
            .deliver(ch, &notification(Event::Acknowledged))
            .await,
        "ack",
    );
    let got = r.take("pushover");
    let paths: Vec<&str> = got.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/po/1/messages.json",
            "/po/1/receipts/cancel_by_tag/vigilmon-0190f1c2-1111-7222-8333-444455556666.json",
            "/po/1/messages.json"
        ]
    );
    let f = got[0].form();
    assert_eq!(f["priority"], "2");
    assert_eq!(f["retry"], "60");
    assert_eq!(f["expire"], "3600");
    assert_eq!(f["tags"], "vigilmon-0190f1c2-1111-7222-8333-444455556666");
    assert_eq!(got[2].form()["priority"], "0");
}

/// A retry of one notification reuses its transaction id: the homeserver posts once.
#[tokio::test]
async fn matrix_retries_never_post_twice() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    let ch = &channels(&format!("http://{addr}"))[7];
    let n = notification(Event::Trigger);
    for _ in 0..3 {
        assert_delivered(&notifier.deliver(ch, &n).await, "trigger");
    }
    assert_delivered(
        &notifier.deliver(ch, &notification(Event::Resolved)).await,
        "resolved",
    );
    let got = r.take("matrix");
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|g| g.method == Method::PUT));
    assert_eq!(got[0].path, got[2].path, "the same transaction");
    assert_ne!(got[0].path, got[3].path);
    assert_eq!(
        r.matrix_events.lock().unwrap().len(),
        2,
        "posted once per notification"
    );
    assert_eq!(got[0].json()["format"], "org.matrix.custom.html");
}

#[tokio::test]
async fn mattermost_and_google_chat_cards() {
    let (addr, r) = serve().await;
    let notifier = notifier(Duration::from_secs(5));
    let all = channels(&format!("http://{addr}"));
    let n = notification(Event::Trigger);
    assert_delivered(&notifier.deliver(&all[8], &n).await, "mattermost");
    assert_delivered(&notifier.deliver(&all[9], &n).await, "google chat");
    let mm = r.take("mattermost").pop().unwrap().json();
    assert!(!mm.to_string().contains("@everyone"), "{mm}");
    assert_eq!(mm["attachments"][0]["color"], "#d72f2f");
    let gc = r.take("google_chat").pop().unwrap();
    assert!(
        gc.query.contains(&format!("threadKey={}", n.dedup_key)),
        "{}",
        gc.query
    );
    let card = &gc.json()["cardsV2"][0]["card"];
    assert!(
        card["header"]["title"]
            .as_str()
            .unwrap()
            .contains("[P1] DOWN")
    );
}

#[tokio::test]
async fn http_failures_are_classified_for_every_channel() {
    let (addr, r) = serve().await;
    let timeout = Duration::from_millis(500);
    let notifier = notifier(timeout);
    let n = notification(Event::Trigger);
    let base = |code: &str| format!("http://{addr}/status/{code}");
    for ch in channels(&base("500")) {
        assert_eq!(
            notifier.deliver(&ch, &n).await,
            Delivery::Retry {
                after: None,
                error: "server error 500 (Internal Server Error)".into()
            },
            "{}",
            ch.kind()
        );
    }
    for ch in channels(&base("429")) {
        let d = notifier.deliver(&ch, &n).await;
        assert!(
            matches!(&d, Delivery::Retry { after: Some(a), .. } if *a == Duration::from_secs(7)),
            "{}: {d:?}",
            ch.kind()
        );
    }
    for ch in channels(&base("wait-body")) {
        let d = notifier.deliver(&ch, &n).await;
        let Delivery::Retry { after, error } = &d else {
            panic!("{}: {d:?}", ch.kind())
        };
        assert_eq!(error, "rate limited with 429 (Too Many Requests)");
        let want = match ch.kind() {
            "discord" => Some(Duration::from_millis(2500)),
            "telegram" => Some(Duration::from_secs(3)),
            "matrix" => Some(Duration::from_secs(4)),
            _ => None,
        };
        assert_eq!(*after, want, "{}", ch.kind());
    }
    for code in ["400", "401", "403", "404", "410", "422"] {
        for ch in channels(&base(code)) {
            let d = notifier.deliver(&ch, &n).await;
            assert!(
                matches!(&d, Delivery::Permanent { error } if error.starts_with(&format!("rejected with {code}"))),
                "{} {code}: {d:?}",
                ch.kind()
            );
            assert!(!format!("{d:?}").contains("hunter2"), "{d:?}");
        }
    }
    for ch in channels(&base("301")) {
        let d = notifier.deliver(&ch, &n).await;
        assert!(
            matches!(&d, Delivery::Permanent { error } if error.contains("301 to https://elsewhere.example;")),
            "{}: {d:?}",
            ch.kind()
        );
    }
    for ch in channels(&base("hang")) {
        let started = Instant::now();
        let d = notifier.deliver(&ch, &n).await;
        assert_eq!(
            d,
            Delivery::Retry {
                after: None,
                error: "no response within 500ms".into()
            },
            "{}",
            ch.kind()
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    // Nothing listening: a transient failure that never shows the URL's secrets.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    for ch in channels(&format!("http://{closed}")) {
        let d = notifier.deliver(&ch, &n).await;
        let Delivery::Retry { error, .. } = &d else {
            panic!("{}: {d:?}", ch.kind())
        };
        assert!(
            error.starts_with(&format!("connection refused by {closed}")),
            "{error}"
        );
        for secret in [
            "SECRET",
            BOT,
            "og-key",
            "tk_ntfy",
            PO_TOKEN,
            "AgotifyTok",
            "syt_matrix",
            "token=t",
        ] {
            assert!(!error.contains(secret), "{}: {error}", ch.kind());
        }
    }
    assert!(!r.take("status").is_empty());
}

/// With loopback denied nothing reaches the receiver, whatever the channel.
#[tokio::test]
async fn every_channel_obeys_the_network_guard() {
    let (addr, r) = serve().await;
    let guard = vigilmon_core::guard::NetworkGuard {
        deny_networks: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        ..Default::default()
    };
    let notifier = Notifier::with_guard(None, Duration::from_secs(5), guard).unwrap();
    for host in [addr.to_string(), format!("localhost:{}", addr.port())] {
        for ch in channels(&format!("http://{host}")) {
            let d = notifier.deliver(&ch, &notification(Event::Trigger)).await;
            assert!(
                matches!(&d, Delivery::Permanent { error } if error.starts_with("not sent: ") && error.contains("refused by the network guard")),
                "{host} {}: {d:?}",
                ch.kind()
            );
        }
    }
    assert!(r.got.lock().unwrap().is_empty(), "nothing was sent");
    let d = notifier
        .deliver(
            &ChannelSpec::Gotify {
                url: "http://169.254.169.254/".into(),
                token: "t".into(),
            },
            &notification(Event::Trigger),
        )
        .await;
    assert!(
        matches!(&d, Delivery::Permanent { error } if error.contains("link-local")),
        "{d:?}"
    );
}
