//! Editing in the web UI, live incident pages and uptime figures, end to end: the
//! real binary driven over HTTP like a browser without JavaScript (cookies, forms,
//! CSRF tokens), on both backends. Channels (a webhook's new URL takes effect, its
//! secret never reaches the page), policies with escalation steps, maintenance
//! windows; bad input is shown next to its field and changes nothing; items from the
//! config file stay read-only. The incident page's live endpoint answers 204 until
//! something happens; the monitor page shows uptime over 24 h, 7, 30 and 90 days.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Backend, Receiver, Server, StoreFixture, Target, wait_for};

use crate::ui::{OWNER, PASSWORD, Web};
use crate::{bin, both_backends};

const SECRET: &str = "whsec-do-not-show-7d1f0c";

/// The value of `data-live` on a page (its live endpoint).
fn live_of(html: &str) -> String {
    html.split("data-live=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no data-live on the page: {html}"))
        .replace("&#38;", "&")
}

/// The text of the element with `id` (up to its first tag), to look at one field's
/// error.
fn text_of_id(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')? + start;
    Some(rest[start..end].to_owned())
}

async fn api_channel(server: &Server, name: &str) -> Value {
    let (code, c) = server.get(&format!("/api/v1/channels/{name}")).await;
    assert_eq!(code, 200, "{c}");
    c
}

async fn api_policy(server: &Server, name: &str) -> Value {
    let (code, list) = server.get("/api/v1/policies").await;
    assert_eq!(code, 200, "{list}");
    list["policies"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no policy {name}: {list}"))
}

async fn api_window(server: &Server, name: &str) -> Value {
    let (code, list) = server.get("/api/v1/maintenance").await;
    assert_eq!(code, 200, "{list}");
    list["maintenance"]
        .as_array()
        .and_then(|a| a.iter().find(|w| w["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no window {name}: {list}"))
}

fn write_config(store: &StoreFixture, receiver: &Receiver) -> String {
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(
        &path,
        format!(
            r#"
channels:
  - {{ name: file-hook, type: webhook, url: "{r}/file" }}
policies:
  - {{ name: file-policy, channels: [file-hook] }}
"#,
            r = receiver.url
        ),
    )
    .unwrap();
    path.display().to_string()
}

async fn edit_channels_policies_and_windows(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let old = Receiver::start().await;
    let new = Receiver::start().await;
    let config = write_config(&store, &old);
    let server = Server::start(bin(), &store, &["--config".into(), config]);
    let (code, body) = server
        .post(
            "/api/v1/channels",
            &json!({"name": "ops-hook", "type": "webhook", "url": format!("{}/old", old.url), "secret": SECRET}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;

    // The channel's form is prefilled, but its secrets (the URL, which often carries
    // a token, and the signing secret) are not in the page.
    let old_url = format!("{}/old", old.url);
    let form = web.get("/channels/ops-hook/edit").await;
    assert_eq!(form.status, 200, "{}", form.body);
    // The signing secret's 16-character minimum is said before submitting, tied to
    // its input.
    let new_form = web.get("/channels?type=webhook").await;
    let hint = new_form
        .body
        .split("<span class=\"hint\" id=\"secret-hint\">")
        .nth(1)
        .unwrap_or_default();
    assert!(
        hint.starts_with("At least 16 characters."),
        "{}",
        new_form.body
    );
    assert!(
        new_form.body.contains("aria-describedby=\"secret-hint"),
        "{}",
        new_form.body
    );
    for secret in [SECRET, old_url.as_str()] {
        assert!(
            !form.body.contains(secret),
            "{secret} was written into the page"
        );
    }
    assert!(form.body.contains("Leave empty to keep"), "{}", form.body);
    let page = web.get("/channels/ops-hook").await;
    assert!(page.body.contains("href=\"/channels/ops-hook/edit\""));
    assert!(!page.body.contains(SECRET) && !page.body.contains(&old_url));

    // Bad input: an error next to the URL field, nothing changed.
    let r = web
        .post(
            "/channels/ops-hook/edit",
            &[("_csrf", &csrf), ("url", "not a url"), ("secret", "")],
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let err = text_of_id(&r.body, "url-err").expect("an error next to the URL");
    assert!(err.contains("http"), "{err}");
    assert!(!r.body.contains(SECRET));

    // The URL and the secret left empty, a header added: both kept, the header saved
    // (and itself a secret from now on).
    let r = web
        .post(
            "/channels/ops-hook/edit",
            &[
                ("_csrf", &csrf),
                ("url", ""),
                ("secret", ""),
                ("headers", "X-Team: ops"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/channels/ops-hook?ok=channel-saved"),
        "{}",
        r.body
    );
    let c = api_channel(&server, "ops-hook").await;
    assert_eq!(c["url"], "********", "{c}");
    assert_eq!(c["secret"], "********", "the stored secret is kept: {c}");
    assert_eq!(c["headers"]["X-Team"], "********", "{c}");
    let r = web
        .post("/channels/ops-hook/test", &[("_csrf", &csrf)], None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("was delivered"), "{}", r.body);
    let got = old.on("/old");
    assert_eq!(got.len(), 1, "the test reached the stored URL");
    assert_eq!(got[0].header("x-team"), Some("ops"));
    assert!(
        got[0]
            .header("x-vigilmon-signature")
            .is_some_and(|s| s.contains("v1=")),
        "signed with the kept secret"
    );

    // A new URL with the secret left empty: the stored secret is not sent to a new
    // place; the form asks for it again, and nothing changes.
    let new_url = format!("{}/new", new.url);
    let edit = web.get("/channels/ops-hook/edit").await;
    assert!(edit.body.contains("X-Team: ********"), "{}", edit.body);
    let r = web
        .post(
            "/channels/ops-hook/edit",
            &[
                ("_csrf", &csrf),
                ("url", &new_url),
                ("secret", ""),
                ("headers", "X-Team: ops"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let err = text_of_id(&r.body, "secret-err").expect("an error next to the secret");
    assert!(err.contains("type the secret again"), "{err}");
    assert!(!r.body.contains(SECRET));
    // Typed again: saved, and the test reaches the new URL only, signed.
    let r = web
        .post(
            "/channels/ops-hook/edit",
            &[
                ("_csrf", &csrf),
                ("url", &new_url),
                ("secret", SECRET),
                ("headers", "X-Team: ops"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = web
        .post("/channels/ops-hook/test", &[("_csrf", &csrf)], None)
        .await;
    assert!(r.body.contains("was delivered"), "{}", r.body);
    let got = new.on("/new");
    assert_eq!(got.len(), 1, "the test reached the new URL");
    assert_eq!(got[0].header("x-team"), Some("ops"));
    assert!(
        got[0]
            .header("x-vigilmon-signature")
            .is_some_and(|s| s.contains("v1=")),
        "signed with the secret typed again"
    );
    assert_eq!(old.on("/old").len(), 1, "nothing more went to the old URL");

    // The channel's page in words: the form's labels, the headers as a table.
    let page = web.get("/channels/ops-hook").await.body;
    assert!(page.contains("<dt>Type</dt><dd>Webhook</dd>"), "{page}");
    assert!(page.contains("<dt>Webhook URL</dt>"), "{page}");
    assert!(
        page.contains("<dt>Extra headers</dt><dd><table class=\"headers\"><tbody><tr><th scope=\"row\">X-Team</th><td>********</td></tr>"),
        "{page}"
    );
    // A test that cannot connect says so in plain words, the rest folded away.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, body) = server
        .post(
            "/api/v1/channels",
            &json!({"name": "dead-hook", "type": "webhook", "url": format!("http://{closed}/hook")}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let r = web
        .post("/channels/dead-hook/test", &[("_csrf", &csrf)], None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(&format!(
            "<p>The test notification was not delivered: connection refused by {closed}.</p><details><summary>Technical details</summary><code class=\"raw\">"
        )),
        "{}",
        r.body
    );

    // A policy: priority, channels, reminders, degraded, and an escalation step.
    let (code, body) = server
        .post(
            "/api/v1/channels",
            &json!({"name": "pager", "type": "webhook", "url": format!("{}/pager", new.url)}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = server
        .post(
            "/api/v1/policies",
            &json!({"name": "ops", "channels": ["ops-hook"]}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let form = web.get("/policies/ops/edit").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("name=\"escalate.0.after\""));
    assert!(form.body.contains("<label for=\"escalate-0-after\">"));
    assert!(
        web.get("/policies")
            .await
            .body
            .contains("/policies/ops/edit")
    );

    // Bad input: an unknown channel in the step, an unreadable reminder.
    let r = web
        .post(
            "/policies/ops/edit",
            &[
                ("_csrf", &csrf),
                ("priority", "P1"),
                ("channels", "ops-hook"),
                ("remind_every", "30m"),
                ("escalate.0.after", "15m"),
                ("escalate.0.channels", "no-such-channel"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let err = text_of_id(&r.body, "escalate-0-channels-err").expect("error at the step");
    assert!(err.contains("no channel named"), "{err}");
    // What was ticked stays ticked, the unknown name too, so it can be unticked.
    assert!(
        r.body
            .contains("name=\"escalate.0.channels\" value=\"no-such-channel\" checked"),
        "{}",
        r.body
    );
    let r = web
        .post(
            "/policies/ops/edit",
            &[
                ("_csrf", &csrf),
                ("channels", "ops-hook"),
                ("remind_every", "soon"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        text_of_id(&r.body, "remind-every-err").is_some(),
        "{}",
        r.body
    );
    let p = api_policy(&server, "ops").await;
    assert!(
        p.get("priority").is_none() && p.get("escalate").is_none(),
        "{p}"
    );

    let r = web
        .post(
            "/policies/ops/edit",
            &[
                ("_csrf", &csrf),
                ("priority", "P1"),
                ("channels", "ops-hook"),
                ("notify_on", "down"),
                ("notify_on", "recovered"),
                ("notify_on", "acknowledged"),
                ("remind_every", "30m"),
                ("incident_on_degraded", "on"),
                ("escalate.0.after", "15m"),
                ("escalate.0.channels", "pager"),
                ("escalate.0.channels", "ops-hook"),
                ("escalate.1.after", ""),
            ],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/policies?ok=policy-saved"),
        "{}",
        r.body
    );
    let p = api_policy(&server, "ops").await;
    assert_eq!(p["priority"], "P1", "{p}");
    assert_eq!(p["remind_every"], "30m", "{p}");
    assert_eq!(p["incident_on_degraded"], true, "{p}");
    assert_eq!(
        p["notify_on"],
        json!(["down", "recovered", "acknowledged"]),
        "{p}"
    );
    assert_eq!(
        p["escalate"],
        json!([{"after": "15m", "channels": ["pager", "ops-hook"]}]),
        "{p}"
    );
    let form = web.get("/policies/ops/edit").await;
    assert!(form.body.contains("value=\"15m\""), "the step is prefilled");
    // An escalation step's channels are ticked too: every channel offered per step.
    for (step, channel, ticked) in [
        (0, "pager", true),
        (0, "ops-hook", true),
        (1, "pager", false),
        (1, "ops-hook", false),
    ] {
        let tag = format!(
            "name=\"escalate.{step}.channels\" value=\"{channel}\"{}",
            if ticked { " checked>" } else { ">" }
        );
        assert!(form.body.contains(&tag), "{tag}: {}", form.body);
    }
    assert!(
        !form.body.contains("id=\"escalate-0-channels\" name="),
        "no text input"
    );
    // Channels and events are ticked, not typed.
    assert!(
        form.body
            .contains("name=\"channels\" value=\"ops-hook\" checked"),
        "{}",
        form.body
    );
    assert!(
        form.body
            .contains("name=\"notify_on\" value=\"acknowledged\" checked")
    );
    assert!(form.body.contains("name=\"notify_on\" value=\"degraded\">"));
    assert!(web.get("/policies").await.body.contains("after 15m: pager"));

    // A maintenance window that has not ended.
    let now = jiff::Timestamp::now();
    let at = |h: i64| (now + jiff::SignedDuration::from_hours(h)).to_string();
    let (code, body) = server
        .post(
            "/api/v1/maintenance",
            &json!({"name": "patching", "tags": ["cache"], "starts_at": at(1), "ends_at": at(2)}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let form = web.get(&format!("/maintenance/{id}/edit")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    // Shown in a date-time picker, in the viewer's zone: UTC without the script's
    // cookie.
    let local = |h: i64, tz: &str| {
        (now + jiff::SignedDuration::from_hours(h))
            .to_zoned(jiff::tz::TimeZone::get(tz).unwrap())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string()
    };
    assert!(
        form.body.contains(&format!(
            "type=\"datetime-local\" id=\"ends-at\" name=\"ends_at\" value=\"{}\"",
            local(2, "UTC")
        )),
        "prefilled: {}",
        form.body
    );
    // The browser says Berlin: the form shows Berlin time.
    web.cookies
        .push(("vigilmon_tz".into(), "Europe/Berlin".into()));
    let form = web.get(&format!("/maintenance/{id}/edit")).await;
    assert!(
        form.body.contains(&format!(
            "name=\"ends_at\" value=\"{}\"",
            local(2, "Europe/Berlin")
        )),
        "{}",
        form.body
    );
    assert!(
        web.get("/maintenance")
            .await
            .body
            .contains(&format!("/maintenance/{id}/edit"))
    );
    let r = web
        .post(
            &format!("/maintenance/{id}/edit"),
            &[
                ("_csrf", &csrf),
                ("tags", "cache"),
                ("starts_at", &at(1)),
                ("ends_at", "tomorrow"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(text_of_id(&r.body, "ends-at-err").is_some(), "{}", r.body);
    assert_eq!(api_window(&server, "patching").await["ends_at"], at(2));
    let r = web
        .post(
            &format!("/maintenance/{id}/edit"),
            &[
                ("_csrf", &csrf),
                ("tags", "cache"),
                ("tags", "db"),
                ("starts_at", &at(1)),
                ("ends_at", &at(3)),
            ],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/maintenance?ok=window-saved"),
        "{}",
        r.body
    );
    let w = api_window(&server, "patching").await;
    assert_eq!(w["ends_at"], at(3), "{w}");
    assert_eq!(w["tags"], json!(["cache", "db"]), "{w}");
    assert_eq!(w["id"], id.as_str(), "the same window");
    // Typed as people type it, in their zone: "YYYY-MM-DD HH:MM" Berlin time.
    let berlin = |h: i64| {
        (now + jiff::SignedDuration::from_hours(h))
            .to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    };
    let r = web
        .post(
            &format!("/maintenance/{id}/edit"),
            &[
                ("_csrf", &csrf),
                ("tags", "cache"),
                ("starts_at", &berlin(1)),
                ("ends_at", &berlin(5)),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let w = api_window(&server, "patching").await;
    let minute = |h: i64| {
        let t = now + jiff::SignedDuration::from_hours(h);
        jiff::Timestamp::from_second(t.as_second() - t.as_second().rem_euclid(60))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        w["ends_at"],
        minute(5),
        "Berlin time, stored as the instant: {w}"
    );
    assert_eq!(w["starts_at"], minute(1), "{w}");

    // Once ended, it is read-only.
    let (code, body) = server
        .post(&format!("/api/v1/maintenance/{id}/end"), &json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    let form = web.get(&format!("/maintenance/{id}/edit")).await;
    assert!(form.body.contains("id=\"ended\""), "{}", form.body);
    assert!(
        !form
            .body
            .contains(&format!("action=\"/maintenance/{id}/edit\""))
    );
    let r = web
        .post(
            &format!("/maintenance/{id}/edit"),
            &[
                ("_csrf", &csrf),
                ("tags", "x"),
                ("starts_at", &at(1)),
                ("ends_at", &at(4)),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("has ended"), "{}", r.body);
    assert_eq!(api_window(&server, "patching").await["ends_at"], minute(5));

    // Items from the config file stay read-only, with a note.
    let page = web.get("/channels/file-hook").await;
    assert!(
        page.body.contains("declared in the config file"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("/channels/file-hook/edit"));
    let form = web.get("/channels/file-hook/edit").await;
    assert!(form.body.contains("id=\"managed\""), "{}", form.body);
    let before = api_channel(&server, "file-hook").await;
    let r = web
        .post(
            "/channels/file-hook/edit",
            &[("_csrf", &csrf), ("url", "http://127.0.0.1:9/x")],
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(api_channel(&server, "file-hook").await, before);
    let form = web.get("/policies/file-policy/edit").await;
    assert!(form.body.contains("id=\"managed\""), "{}", form.body);
    let r = web
        .post(
            "/policies/file-policy/edit",
            &[("_csrf", &csrf), ("channels", "ops-hook")],
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("config file"), "{}", r.body);
    assert_eq!(
        api_policy(&server, "file-policy").await["channels"],
        json!(["file-hook"])
    );

    // Without the CSRF token nothing changes.
    let before = api_channel(&server, "ops-hook").await;
    let r = web
        .post(
            "/channels/ops-hook/edit",
            &[("url", "http://127.0.0.1:9/evil")],
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(api_channel(&server, "ops-hook").await, before);
}

both_backends!(ui_edit_alerting, edit_channels_policies_and_windows);

async fn live_incident_and_uptime(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let server = Server::start(bin(), &store, &[]);
    let (code, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "checkout", "type": "http", "url": format!("{}/health", target.url),
                    "interval": "1h", "confirmations": 1}),
        )
        .await;
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let (code, body) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;

    // Uptime over the four windows, in words, the same figure as the API's.
    let page = web.get(&format!("/monitors/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for w in ["24 hours", "7 days", "30 days", "90 days"] {
        assert!(page.body.contains(w), "{w} missing");
    }
    let (_, u) = server
        .get(&format!("/api/v1/monitors/{id}/uptime?window=7d"))
        .await;
    assert_eq!(u["uptime_percent"], "100%", "{u}");
    assert!(page.body.contains("<strong>100%</strong>"), "{}", page.body);
    assert!(page.body.contains("no downtime"));
    // Beside the state, the same 24-hour uptime; the share of checks that passed only
    // under the table, labelled as the different figure it is.
    assert!(
        page.body
            .contains("uptime, 24 hours: <strong id=\"uptime-24h\">100%</strong>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("counted one by one over every region: <span id=\"checks-passed\">1 of 1 checks, 100 %</span>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("checks ok, 24h"));
    // The dashboard shows the same 24-hour figure.
    let dash = web.get("/").await;
    assert!(
        dash.body
            .contains("title=\"last 24 hours: no downtime; 1 of 1 checks ok\">100%<"),
        "{}",
        dash.body
    );

    // Down: an incident opens.
    target.set_status(503);
    let (code, body) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    // The dashboard's beat bar says on hover what failed, besides time, verdict and
    // response time.
    let error = body["result"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("503"), "{body}");
    let dash = web.get("/").await.body;
    // Addresses may break after their separators; the latency column says what it
    // holds.
    assert!(
        dash.contains("http://<wbr>127.0.0.1:") && dash.contains("/<wbr>health<wbr>"),
        "{dash}"
    );
    assert!(
        dash.contains("<th scope=\"col\" class=\"num\">Latest check</th>"),
        "{dash}"
    );
    let failed = dash
        .split("<i class=\"fail h")
        .nth(1)
        .and_then(|b| b.split("title=\"").nth(1))
        .and_then(|t| t.split('"').next())
        .unwrap_or_default();
    assert!(
        failed.contains(" UTC · failed · ")
            && failed.contains(" ms · ")
            && failed.ends_with(&error),
        "{failed} / {error}: {dash}"
    );
    let incident = wait_for("the incident", Duration::from_secs(10), || async {
        let (_, list) = server.get("/api/v1/incidents").await;
        list["incidents"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let page = web.get(&format!("/monitors/{id}")).await;
    assert!(page.body.contains("in 1 incident"), "{}", page.body);
    // At the top of the monitor page: the open incident, with Acknowledge.
    assert!(
        page.body
            .contains("id=\"open-incident\"><div><p><strong>Open incident</strong> since"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!(
            "<form method=\"post\" action=\"/incidents/{incident}/acknowledge\"><input type=\"hidden\" name=\"_csrf\" value=\"{csrf}\"><button class=\"primary\" type=\"submit\" id=\"banner-ack\">"
        )),
        "{}",
        page.body
    );
    // The chart: a failed check is a red bar; other ranges come from the rollups (none
    // yet for a new monitor) and the page keeps its range when it updates itself.
    assert!(
        page.body.contains("<rect class=\"failed\""),
        "{}",
        page.body
    );
    let week = web.get(&format!("/monitors/{id}?range=7d")).await.body;
    assert!(week.contains("aria-current=\"page\">7 days</a>"), "{week}");
    assert!(
        week.contains("Nothing rolled up in this range yet"),
        "{week}"
    );
    assert!(live_of(&week).ends_with("&range=7d"), "{}", live_of(&week));
    // The ranges: latest checks, 1 hour, 24 hours, 7 days, 30 days; the hour is drawn
    // from the raw results at once, a bar per minute, the failed one red.
    for (range, label) in [
        ("checks", "Latest checks"),
        ("1h", "1 hour"),
        ("24h", "24 hours"),
        ("7d", "7 days"),
        ("30d", "30 days"),
    ] {
        assert!(
            week.contains(&format!("<a href=\"?range={range}#chart-h\""))
                && week.contains(&format!(">{label}</a>")),
            "{range}: {week}"
        );
    }
    let hour = web.get(&format!("/monitors/{id}?range=1h")).await.body;
    assert!(hour.contains("aria-current=\"page\">1 hour</a>"), "{hour}");
    assert!(hour.contains("A bar per minute"), "{hour}");
    let chart = hour.split("id=\"chart-h\"").nth(1).unwrap_or_default();
    assert!(
        chart.contains("(minute): mean ") && chart.contains("<rect class=\"failed\""),
        "{chart}"
    );
    assert!(
        chart.contains("Mean response time per minute from "),
        "{chart}"
    );
    assert!(live_of(&hour).ends_with("&range=1h"), "{}", live_of(&hour));
    // The incident page: the duration ticks (from when it opened), the opening
    // evidence keeps its line breaks.
    let inc_page = web.get(&format!("/incidents/{incident}")).await.body;
    assert!(
        inc_page.contains("so far <span id=\"duration\" data-since=\""),
        "{inc_page}"
    );
    assert!(inc_page.contains("<span class=\"text\">"), "{inc_page}");
    assert!(
        inc_page.contains(".timeline .text{white-space:pre-line")
            || web
                .get("/assets/app.css")
                .await
                .body
                .contains(".timeline .text{white-space:pre-line"),
        "timeline text keeps its line breaks"
    );
    let dash = web.get("/").await;
    assert!(
        dash.body.contains("title=\"last 24 hours: down "),
        "the dashboard counts the downtime: {}",
        dash.body
    );
    assert!(
        dash.body.contains(" in 1 incident; 1 of 2 checks ok\">"),
        "{}",
        dash.body
    );

    // The incident page polls; nothing changed → 204.
    let page = web.get(&format!("/incidents/{incident}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let live = live_of(&page.body);
    assert!(
        live.starts_with(&format!("/incidents/{incident}/live?v=")),
        "{live}"
    );
    assert_eq!(web.get(&live).await.status, 204);
    let list = web.get("/incidents").await;
    let list_live = live_of(&list.body);
    assert!(list_live.starts_with("/incidents/live?v="), "{list_live}");
    assert_eq!(web.get(&list_live).await.status, 204);

    // Acknowledged (through the UI): the live endpoint answers the new parts.
    let r = web
        .post(
            &format!("/incidents/{incident}/acknowledge"),
            &[("_csrf", &csrf)],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = web.get(&live).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("live JSON");
    let head = v["parts"]["head"].as_str().unwrap_or_default();
    assert!(head.contains(">acknowledged</span>"), "{head}");
    assert!(head.contains(OWNER), "{head}");
    assert!(
        !head.contains("id=\"ack\""),
        "no Acknowledge button any more"
    );
    assert!(
        head.contains(&format!("value=\"{csrf}\"")),
        "forms keep the token"
    );
    let timeline = v["parts"]["timeline"].as_str().unwrap_or_default();
    assert!(timeline.contains("acknowledged"), "{timeline}");
    assert_eq!(
        timeline.matches(OWNER).count(),
        1,
        "who acknowledged is written once: {timeline}"
    );
    // The monitor page's banner says so, without the button.
    let page = web.get(&format!("/monitors/{id}")).await.body;
    assert!(
        page.contains("<strong>Acknowledged incident</strong>"),
        "{page}"
    );
    assert!(!page.contains("id=\"banner-ack\""));
    let next = v["next"].as_str().unwrap().to_owned();
    assert_ne!(next, live);
    assert_eq!(web.get(&next).await.status, 204, "unchanged since");

    // The list follows too.
    let r = web.get(&list_live).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("live JSON");
    assert!(
        v["parts"]["rows"]
            .as_str()
            .is_some_and(|rows| rows.contains(">acknowledged</span>")),
        "{v}"
    );

    // A note, then resolved: new entries again.
    let r = web
        .post(
            &format!("/incidents/{incident}/notes"),
            &[("_csrf", &csrf), ("text", "<b>rolling back</b>")],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = web.get(&next).await;
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_str(&r.body).expect("live JSON");
    let timeline = v["parts"]["timeline"].as_str().unwrap_or_default();
    assert!(
        timeline.contains("&#60;b&#62;rolling back"),
        "escaped: {timeline}"
    );
    let next = v["next"].as_str().unwrap().to_owned();
    // Still down: resolving by hand is refused, with the way out.
    let r = web
        .post(
            &format!("/incidents/{incident}/resolve"),
            &[("_csrf", &csrf)],
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("still failing in local") && r.body.contains("pause the monitor"),
        "{}",
        r.body
    );
    // Paused, it may be resolved.
    let (code, body) = server
        .post(&format!("/api/v1/monitors/{id}/pause"), &json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    let r = web
        .post(
            &format!("/incidents/{incident}/resolve"),
            &[("_csrf", &csrf)],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = web.get(&next).await;
    let v: Value = serde_json::from_str(&r.body).expect("live JSON");
    let head = v["parts"]["head"].as_str().unwrap_or_default();
    assert!(head.contains(">resolved</span>"), "{head}");
    assert!(head.contains("id=\"resolved\""), "{head}");
    assert!(!head.contains("/resolve\""), "no Resolve button any more");
}

both_backends!(ui_live_incident_and_uptime, live_incident_and_uptime);

/// Certificates in words: the dashboard row and the monitor page say when the
/// certificate expires (highlighted within the warning horizon), "Test now" shows it
/// too, and a monitor that does not verify TLS says so.
async fn certificates_are_shown(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let soon =
        test_support::TlsTarget::start(today.checked_add(jiff::Span::new().days(10)).unwrap())
            .await;
    let later =
        test_support::TlsTarget::start(today.checked_add(jiff::Span::new().days(90)).unwrap())
            .await;
    let config = format!(
        r#"
probe: {{ ca_files: ["{soon_ca}", "{later_ca}"] }}
monitors:
  - {{ name: shop, type: http, url: "{soon}/", interval: 1h }}
  - {{ name: docs, type: http, url: "{later}/", interval: 1h }}
  - {{ name: legacy, type: http, url: "{later}/", interval: 1h, verify_tls: false }}
"#,
        soon_ca = soon.ca_file.display(),
        later_ca = later.ca_file.display(),
        soon = soon.url,
        later = later.url,
    );
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, config).unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    let id_of = |name: &str| {
        list["monitors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["id"].as_str())
            .unwrap()
            .to_owned()
    };
    // Within 14 days of expiry a monitor is degraded (warn.cert_expiry).
    for (name, state) in [("shop", "degraded"), ("docs", "up"), ("legacy", "up")] {
        let (code, body) = server
            .post(
                &format!("/api/v1/monitors/{}/check-now", id_of(name)),
                &json!({}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["state"], state, "{name}: {body}");
    }
    let (_, shop) = server
        .get(&format!("/api/v1/monitors/{}", id_of("shop")))
        .await;
    assert!(shop["regions"][0]["cert_expires_at"].is_string(), "{shop}");

    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    // 10 days from the start of today: 9 days and some hours left.
    let in_days = |d: &str| format!("certificate expires in {d} days");
    let dash = web.get("/").await.body;
    let row = |id: String| {
        dash.split(&format!("data-m=\"{id}\""))
            .nth(1)
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or_default()
            .to_owned()
    };
    let shop_row = row(id_of("shop"));
    assert!(
        shop_row.contains(&format!(
            "<span class=\"cert warn\">{}</span>",
            in_days("9")
        )) || shop_row.contains(&format!(
            "<span class=\"cert warn\">{}</span>",
            in_days("10")
        )),
        "highlighted within 14 days: {shop_row}"
    );
    let docs_row = row(id_of("docs"));
    assert!(
        docs_row.contains("<span class=\"cert\">certificate expires in 89 days</span>")
            || docs_row.contains("<span class=\"cert\">certificate expires in 90 days</span>"),
        "{docs_row}"
    );

    let page = web.get(&format!("/monitors/{}", id_of("shop"))).await.body;
    assert!(
        page.contains("<p class=\"cert warn\" id=\"cert\">certificate expires in"),
        "{page}"
    );
    assert!(!page.contains("id=\"tls-off\""));
    let page = web
        .get(&format!("/monitors/{}", id_of("legacy")))
        .await
        .body;
    assert!(
        page.contains("id=\"tls-off\">TLS verification is off"),
        "{page}"
    );

    // The latest checks as a beat bar, what each was on hover.
    assert!(page.contains("id=\"beats\">"), "{page}");
    assert!(page.contains("<i class=\"ok h"), "{page}");
    assert!(page.contains(" UTC · local · up · "), "{page}");
    // A long failure folds behind "more" (phones would scroll forever).
    let expected = "a phrase the page will never hold, ".repeat(6);
    let (code, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "picky", "type": "http", "url": format!("{}/", later.url),
                    "confirmations": 1, "expect": {"body_contains": expected}}),
        )
        .await;
    assert_eq!(code, 201, "{m}");
    let picky = m["id"].as_str().unwrap().to_owned();
    let (_, body) = server
        .post(&format!("/api/v1/monitors/{picky}/check-now"), &json!({}))
        .await;
    assert_eq!(body["state"], "down", "{body}");
    let page = web.get(&format!("/monitors/{picky}")).await.body;
    assert!(
        page.contains("<details class=\"errors more\" id=\"reason\"><summary>"),
        "{page}"
    );
    assert!(page.contains("<i class=\"fail h"), "{page}");
    // So do the region's error, the open incident's cause in the banner, and the
    // cause in the monitor's incidents, the incidents list and the incident's page.
    assert!(
        page.contains("<details class=\"more\"><summary><small>"),
        "region error: {page}"
    );
    let incident = wait_for("picky's incident", Duration::from_secs(10), || async {
        let (_, list) = server.get("/api/v1/incidents?state=open").await;
        list["incidents"]
            .as_array()?
            .iter()
            .find(|i| i["monitor_id"] == picky.as_str())
            .and_then(|i| i["id"].as_str())
            .map(str::to_owned)
    })
    .await;
    let page = web.get(&format!("/monitors/{picky}")).await.body;
    let banner = page
        .split("id=\"open-incident\">")
        .nth(1)
        .and_then(|b| b.split("class=\"actions\"").next())
        .unwrap_or_default();
    assert!(
        banner.contains("</p><details class=\"more\"><summary>")
            && banner.contains("<span class=\"muted\">more</span></summary>"),
        "banner: {page}"
    );
    let incidents = page.split("id=\"incidents-h\"").nth(1).unwrap_or_default();
    assert!(
        incidents.contains("<td><details class=\"more\"><summary>"),
        "monitor's incidents: {page}"
    );
    let list = web.get("/incidents").await.body;
    assert!(
        list.contains("<td class=\"hide-sm\"><details class=\"more\"><summary>"),
        "incidents list: {list}"
    );
    let one = web.get(&format!("/incidents/{incident}")).await.body;
    let h1 = one.split("<h1>").nth(1).unwrap_or_default();
    let h1 = h1.split("</h1>").next().unwrap_or_default();
    assert!(h1.ends_with('…') && h1.len() < 160, "{h1}");
    assert!(
        one.contains("<details class=\"more\" id=\"cause\"><summary>"),
        "incident page: {one}"
    );

    // "Test now" shows the certificate too.
    let form = [
        ("_csrf", csrf.as_str()),
        ("type", "http"),
        ("name", "shop test"),
        ("url", &format!("{}/", soon.url)),
        ("action", "test"),
    ];
    let r = web.post("/monitors/new", &form, Some(&server.url)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("<dd id=\"test-cert\">certificate expires in"),
        "{}",
        r.body
    );
    // Verification unticked: the result says so; ticked, it does not.
    assert!(
        r.body.contains(
            "<p class=\"tls-off\">TLS verification is off: the certificate was not checked"
        ),
        "{}",
        r.body
    );
    let mut verified = form.to_vec();
    verified.push(("verify_tls", "on"));
    let r = web
        .post("/monitors/new", &verified, Some(&server.url))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("<h2 id=\"test-h\">Test result: "),
        "{}",
        r.body
    );
    assert!(!r.body.contains("class=\"tls-off\""), "{}", r.body);
}

both_backends!(ui_certificates, certificates_are_shown);
