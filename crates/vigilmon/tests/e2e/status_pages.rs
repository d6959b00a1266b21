//! Public status pages end to end, on both stores: the page (banner, 90-day bars with
//! exact figures in hover-and-focus text, incidents appearing as they open, public
//! updates, history), its JSON, feed and badges; nothing private leaks from any public
//! endpoint; every user-supplied string is escaped; ETag / 304; the status-page API with
//! monitors-as-code rules, custom domains, and the uptime and rollup endpoints.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Backend, Server, StoreFixture, Target, wait_for};

use crate::{bin, both_backends};

fn write(store: &StoreFixture, text: &str) -> String {
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// GET a public path (no token): status, headers, body.
async fn public(
    server: &Server,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = server.client.get(format!("{}{path}", server.url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.text().await.unwrap_or_default())
}

async fn public_json(server: &Server, path: &str) -> Value {
    let (status, _, body) = public(server, path, &[]).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

async fn monitor_id(server: &Server, name: &str) -> String {
    let (_, list) = server.get("/api/v1/monitors").await;
    list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no monitor {name}: {list}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn check_now(server: &Server, id: &str, times: usize) {
    for _ in 0..times {
        let (status, body) = server
            .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// The open incident's JSON, once the alerting engine has opened it.
async fn open_incident(server: &Server) -> Value {
    wait_for("an open incident", Duration::from_secs(10), || async {
        let (_, list) = server.get("/api/v1/incidents?state=open").await;
        list["incidents"].get(0).cloned()
    })
    .await
}

/// The `aria-label`s of the day bars of the monitor shown as `public_name`.
fn bar_labels(html: &str, public_name: &str) -> Vec<String> {
    let start = html
        .find(&format!("aria-label=\"{public_name}: daily uptime"))
        .unwrap_or_else(|| panic!("no bar for {public_name}"));
    let bar = &html[start..];
    let bar = &bar[..bar.find("</div>").unwrap()];
    bar.split("<span ")
        .skip(1)
        .map(|s| {
            assert!(s.contains("tabindex=\"0\""), "focusable: {s}");
            assert!(s.contains("role=\"img\""), "named: {s}");
            let a = s.find("aria-label=\"").unwrap() + "aria-label=\"".len();
            s[a..a + s[a..].find('"').unwrap()].to_owned()
        })
        .collect()
}

fn page_config(target: &Target, extra: &str) -> String {
    format!(
        r#"
monitors:
  - {{ name: "[internal] api /health", type: http, url: "{t}/health", interval: 1m }}
  - {{ name: cache, type: http, url: "{t}/cache", interval: 1m }}
status_pages:
  - slug: cache
    title: Cache layer
    description: Redis behind the app.
    timezone: Europe/Berlin
    sections:
      - name: Core
        monitors:
          - {{ name: "[internal] api /health", public_name: API }}
          - cache
{extra}"#,
        t = target.url
    )
}

async fn page_shows_states_bars_and_incidents(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let path = write(&store, &page_config(&target, ""));
    let server = Server::start(bin(), &store, &["--config".into(), path]);
    let api = monitor_id(&server, "[internal] api /health").await;
    let cache = monitor_id(&server, "cache").await;
    check_now(&server, &api, 1).await;
    check_now(&server, &cache, 1).await;

    // Both up: operational banner, today's bar at 100 %.
    let html = wait_for(
        "both monitors operational",
        Duration::from_secs(30),
        || async {
            let (status, _, html) = public(&server, "/status/cache", &[]).await;
            assert_eq!(status, 200);
            (html.matches("s-operational").count() == 2).then_some(html)
        },
    )
    .await;
    assert!(html.contains("All systems operational"), "{html}");
    assert!(html.contains("<h1>Cache layer</h1>"));
    assert!(html.contains("Redis behind the app."));
    let labels = bar_labels(&html, "API");
    assert_eq!(labels.len(), 90);
    assert!(
        labels[..89].iter().all(|l| l.ends_with(": no data")),
        "{labels:?}"
    );
    assert!(
        labels[89].contains("(today so far): 100% uptime"),
        "{}",
        labels[89]
    );
    assert!(html.contains("No incidents in the last 90 days."));
    assert!(
        !html.contains("[internal]"),
        "the public name is shown instead"
    );
    // The tooltip shows on hover and on keyboard focus.
    let (_, _, css) = public(&server, "/status-assets/status.css", &[]).await;
    assert!(
        css.contains(".bars span:hover::after,.bars span:focus::after{content:attr(aria-label)")
    );
    let (_, _, js) = public(&server, "/status-assets/status.js", &[]).await;
    assert!(js.contains("data-json") && js.contains("ArrowLeft"));

    // The API fails: an incident opens, and the page shows it without waiting.
    target.set_status(503);
    check_now(&server, &api, 2).await;
    let incident = open_incident(&server).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let html = wait_for(
        "the incident on the page",
        Duration::from_secs(10),
        || async {
            let (_, _, html) = public(&server, "/status/cache", &[]).await;
            html.contains("Active incidents").then_some(html)
        },
    )
    .await;
    assert!(html.contains("Partial outage"), "{html}");
    assert!(html.contains("<h3>Service disruption</h3>"));
    assert!(html.contains("Affects API"));
    assert!(html.contains("s-outage"));
    // No internal cause: the failing check's reason ("status 503 is not one of the
    // expected (200)") stays off the page. ("503" alone also turns up in times and
    // ids on the page.)
    assert!(
        !html.contains("status 503") && !html.contains("is not one of the expected"),
        "no internal cause: {html}"
    );

    // A public update names and explains it.
    let (status, body) = server
        .post(
            &format!("/api/v1/incidents/{incident}/updates"),
            &json!({"status": "identified", "text": "A cache node is restarting.", "title": "API errors"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["updates"][0]["author"], "token test");
    let public_id = body["public_id"].as_str().unwrap().to_owned();
    let html = wait_for(
        "the update on the page",
        Duration::from_secs(10),
        || async {
            let (_, _, html) = public(&server, "/status/cache", &[]).await;
            html.contains("A cache node is restarting.").then_some(html)
        },
    )
    .await;
    assert!(html.contains("<h3>API errors</h3>"));
    assert!(html.contains("<strong>Identified</strong>"));
    assert!(html.contains(&format!("id=\"incident-{public_id}\"")));
    let j = public_json(&server, "/api/v1/public/status/cache").await;
    assert_eq!(j["status"]["indicator"], "partial_outage");
    assert_eq!(j["active_incidents"][0]["title"], "API errors");
    assert_eq!(j["active_incidents"][0]["status"], "identified");
    assert_eq!(j["active_incidents"][0]["monitors"], json!(["API"]));

    // Recovery: resolved, in the history, and today's bar has an exact figure below 100 %.
    target.set_status(200);
    check_now(&server, &api, 1).await;
    let html = wait_for("the incident resolved", Duration::from_secs(10), || async {
        let (_, _, html) = public(&server, "/status/cache", &[]).await;
        (!html.contains("Active incidents")).then_some(html)
    })
    .await;
    assert!(html.contains("All systems operational"));
    assert!(html.contains("Incident history (90 days)"));
    assert!(html.contains("<h3>API errors</h3>"));
    let today = bar_labels(&html, "API").pop().unwrap();
    assert!(today.contains("% uptime, down "), "{today}");
    assert!(today.contains("; API errors ("), "{today}");
    assert!(!today.contains("100%"), "{today}");

    // The same figures through the API: the page's day and the uptime endpoint agree.
    // Downtime runs from the failing check to the recovering one, as the monitor's
    // state says; the incident, opened and resolved as the engine handled those
    // checks, lies within it, a few milliseconds shorter.
    let (_, inc) = server.get(&format!("/api/v1/incidents/{incident}")).await;
    let (_, up) = server
        .get(&format!("/api/v1/monitors/{api}/uptime?window=24h"))
        .await;
    let downtime = up["downtime_ms"].as_i64().unwrap();
    let incident_ms = inc["duration_ms"].as_i64().unwrap();
    assert!(
        downtime >= incident_ms && downtime - incident_ms < 1000,
        "{up} {inc}"
    );
    assert_eq!(up["incidents"], 1);
    assert!(up["uptime"].as_f64().unwrap() < 1.0);
    let j = public_json(&server, "/api/v1/public/status/cache").await;
    let day = j["sections"][0]["monitors"][0]["days"][89].clone();
    assert_eq!(day["downtime_ms"], up["downtime_ms"], "{day}");
    assert_eq!(
        day["incidents"][0]["duration_ms"], inc["duration_ms"],
        "{day}"
    );
    assert_eq!(j["incident_history"][0]["state"], "resolved");

    // The feed lists it with its public title and update.
    let (status, h, feed) = public(&server, "/status/cache/feed.atom", &[]).await;
    assert_eq!(status, 200);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    assert!(
        feed.contains("<title>Resolved: API errors</title>"),
        "{feed}"
    );
    assert!(feed.contains("A cache node is restarting."));
    assert!(feed.contains(&format!("#incident-{public_id}</id>")));
}
both_backends!(
    page_shows_states_bars_and_incidents,
    page_shows_states_bars_and_incidents
);

/// A target that fails with a secret in its body.
async fn secret_target() -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "SECRET-BODY-5 stack trace at db.internal",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("127.0.0.1:{}", addr.port()), task)
}

async fn nothing_private_leaks(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let (addr, _task) = secret_target().await;
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(30);
    let later = tomorrow + jiff::SignedDuration::from_hours(1);
    let config = format!(
        r#"
server:
  region: zone-secret-7
monitors:
  - name: "[internal] db-primary SECRET-NAME-6"
    type: http
    url: "http://{addr}/private-SECRET-PATH-1?key=SECRET-QUERY-2"
    headers: {{ Authorization: "Bearer SECRET-HEADER-3", X-Secret-Header-4: SECRET-VALUE-4 }}
    expect: {{ status: [200], body_contains: SECRET-EXPECT-10 }}
    tags: [tag-secret-11]
    interval: 1m
maintenance:
  - {{ name: maint-SECRET-9, monitors: ["[internal] db-primary SECRET-NAME-6"], starts_at: "{tomorrow}", ends_at: "{later}" }}
status_pages:
  - slug: public
    title: Public
    domain: status.example.com
    sections:
      - name: Data
        monitors: [{{ name: "[internal] db-primary SECRET-NAME-6", public_name: Database }}]
"#
    );
    let path = write(&store, &config);
    let server = Server::start(bin(), &store, &["--config".into(), path]);
    let id = monitor_id(&server, "[internal] db-primary SECRET-NAME-6").await;
    check_now(&server, &id, 2).await;
    let open = open_incident(&server).await;
    let incident = open["id"].as_str().unwrap().to_owned();
    assert!(
        open["cause"].as_str().unwrap().contains("status 500")
            && open.to_string().contains("zone-secret-7"),
        "the internal view has the cause and regions: {open}"
    );
    let (status, _) = server
        .post(
            &format!("/api/v1/incidents/{incident}/notes"),
            &json!({"text": "internal: SECRET-NOTE-8 password reset"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, results) = server.get(&format!("/api/v1/monitors/{id}/results")).await;
    assert!(
        results.to_string().contains("SECRET-BODY-5"),
        "the body excerpt is stored: {results}"
    );

    let page = wait_for(
        "the outage on the page",
        Duration::from_secs(10),
        || async {
            let j = public_json(&server, "/api/v1/public/status/public").await;
            (j["status"]["indicator"] == "major_outage").then_some(j)
        },
    )
    .await;
    let badge = page["sections"][0]["monitors"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        page["maintenance"][0]["monitors"],
        json!(["Database"]),
        "{page}"
    );
    let (_, rollups) = server.get(&format!("/api/v1/monitors/{id}/rollups")).await;
    assert!(rollups["rollups"].is_array());

    let secrets = [
        "SECRET",
        "secret",
        "private",
        "Bearer",
        "db.internal",
        "[internal]",
        "stack trace",
        "status 500",
        &addr,
        &id,
        &incident,
    ];
    let endpoints: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/status/public".into(), vec![]),
        ("/api/v1/public/status/public".into(), vec![]),
        ("/status/public/feed.atom".into(), vec![]),
        (format!("/badge/{badge}/status.svg"), vec![]),
        (format!("/badge/{badge}/uptime.svg?window=24h"), vec![]),
        (format!("/badge/{badge}/uptime.svg?window=90d"), vec![]),
        (format!("/badge/{badge}/response.svg"), vec![]),
        ("/".into(), vec![("host", "status.example.com")]),
        ("/feed.atom".into(), vec![("host", "status.example.com")]),
    ];
    for (path, headers) in &endpoints {
        let (status, _, body) = public(&server, path, headers).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(!body.is_empty(), "{path}");
        for s in &secrets {
            assert!(
                !body.contains(s),
                "{path} ({headers:?}) shows {s:?}:\n{body}"
            );
        }
    }
    // A monitor checked within its first hour has a response time before any rollup.
    let (_, _, svg) = public(&server, &format!("/badge/{badge}/response.svg"), &[]).await;
    assert!(!svg.contains("no data"), "{svg}");
    assert!(svg.contains(" ms</text>"), "{svg}");
    // What it does show.
    let (_, _, html) = public(&server, "/status/public", &[]).await;
    assert!(html.contains("<h3>Database</h3>"));
    assert!(html.contains("Service disruption"));
    assert!(html.contains("Major outage"));
    assert!(html.contains("Scheduled"));

    // A monitor on no page has no badge; unknown ids are 404.
    let (status, _, _) = public(
        &server,
        "/badge/0123456789abcdef0123456789abcdef/status.svg",
        &[],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = public(
        &server,
        &format!("/badge/{badge}/uptime.svg?window=1y"),
        &[],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = public(&server, "/status/nope", &[]).await;
    assert_eq!(status, 404);
}
both_backends!(nothing_private_leaks, nothing_private_leaks);

async fn user_strings_are_escaped(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let path = write(
        &store,
        &format!(
            "monitors:\n  - {{ name: \"<script>alert('name')</script>\", type: http, url: \"{}/x\", interval: 1m }}\n",
            target.url
        ),
    );
    let server = Server::start(bin(), &store, &["--config".into(), path]);
    let xss = "<script>alert(\"x\")</script>";
    let (status, body) = server
        .post(
            "/api/v1/status-pages",
            &json!({
                "slug": "xss",
                "title": format!("Title {xss}"),
                "description": format!("Desc {xss}\n<img src=x onerror=alert(1)>"),
                "logo_url": "https://example.com/logo.svg?a=\"><script>alert(2)</script>",
                "sections": [{"name": format!("Section {xss}"), "monitors": [
                    {"name": "<script>alert('name')</script>", "public_name": format!("Public {xss}")}
                ]}]
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = monitor_id(&server, "<script>alert('name')</script>").await;
    target.set_status(500);
    check_now(&server, &id, 2).await;
    let incident = open_incident(&server).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = server
        .post(
            &format!("/api/v1/incidents/{incident}/updates"),
            &json!({"status": "investigating", "text": format!("Text {xss} & more"), "title": format!("Incident {xss}")}),
        )
        .await;
    assert_eq!(status, 201);

    let html = wait_for(
        "the update on the page",
        Duration::from_secs(10),
        || async {
            let (_, _, html) = public(&server, "/status/xss", &[]).await;
            html.contains("Text ").then_some(html)
        },
    )
    .await;
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script: {html}"
    );
    assert!(html.contains("<script src=\"/status-assets/status.js"));
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;";
    for shown in [
        "Title ",
        "Desc ",
        "Section ",
        "Public ",
        "Incident ",
        "Text ",
    ] {
        assert!(
            html.contains(&format!("{shown}{escaped}")),
            "{shown}: {html}"
        );
    }
    assert!(html.contains("&amp; more"));
    let (_, h, _) = public(&server, "/status/xss", &[]).await;
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self';"),
        "no inline script may run: {csp}"
    );

    let (_, _, feed) = public(&server, "/status/xss/feed.atom", &[]).await;
    assert!(!feed.contains("<script"), "{feed}");
    assert!(feed.contains("Incident &lt;script&gt;"), "{feed}");
    let j = public_json(&server, "/api/v1/public/status/xss").await;
    let badge = j["sections"][0]["monitors"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, h, svg) = public(&server, &format!("/badge/{badge}/status.svg"), &[]).await;
    assert_eq!(h["content-type"], "image/svg+xml");
    assert!(!svg.contains("<script"), "{svg}");
    assert!(svg.contains("Public &lt;script&gt;"), "{svg}");
    // JSON is data: served as JSON, never sniffed as HTML.
    let (_, h, _) = public(&server, "/api/v1/public/status/xss", &[]).await;
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["x-content-type-options"], "nosniff");
}
both_backends!(user_strings_are_escaped, user_strings_are_escaped);

async fn etags_and_not_modified(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let path = write(&store, &page_config(&target, ""));
    let server = Server::start(bin(), &store, &["--config".into(), path]);
    let api = monitor_id(&server, "[internal] api /health").await;
    check_now(&server, &api, 1).await;
    let j = public_json(&server, "/api/v1/public/status/cache").await;
    let badge = j["sections"][0]["monitors"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/status/cache".to_owned(),
        "/api/v1/public/status/cache".to_owned(),
        "/status/cache/feed.atom".to_owned(),
        format!("/badge/{badge}/status.svg"),
        format!("/badge/{badge}/uptime.svg?window=30d"),
        "/status-assets/status.css".to_owned(),
    ] {
        let (status, h, body) = public(&server, &path, &[]).await;
        assert_eq!(status, 200, "{path}");
        let etag = h["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with("W/\""), "{path}: {etag}");
        assert!(
            h["cache-control"]
                .to_str()
                .unwrap()
                .starts_with("public, max-age="),
            "{path}"
        );
        assert_eq!(h["vary"], "Accept-Encoding");
        let (status, h2, body2) = public(&server, &path, &[("if-none-match", &etag)]).await;
        assert_eq!(status, 304, "{path}");
        assert!(body2.is_empty(), "{path}");
        assert_eq!(h2["etag"].to_str().unwrap(), etag);
        let (status, _, again) = public(&server, &path, &[("if-none-match", "W/\"other\"")]).await;
        assert_eq!((status, again), (200, body), "{path}");
    }
    // Compressed once, for clients that take gzip.
    let (_, h, _) = public(&server, "/status/cache", &[("accept-encoding", "gzip")]).await;
    assert_eq!(h["content-encoding"], "gzip");

    // A change gives a new ETag; the old one gets the new page.
    let (_, h, _) = public(&server, "/status/cache", &[]).await;
    let old = h["etag"].to_str().unwrap().to_owned();
    target.set_status(500);
    check_now(&server, &api, 2).await;
    wait_for("a new ETag", Duration::from_secs(10), || async {
        let (status, _, body) = public(&server, "/status/cache", &[("if-none-match", &old)]).await;
        (status == 200 && body.contains("Active incidents")).then_some(())
    })
    .await;
}
both_backends!(etags_and_not_modified, etags_and_not_modified);

async fn api_pages_domains_and_uptime(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let path = write(&store, &page_config(&target, ""));
    let server = Server::start(bin(), &store, &["--config".into(), path]);
    let cache = monitor_id(&server, "cache").await;

    // The file's page is read-only here.
    let (_, list) = server.get("/api/v1/status-pages").await;
    assert_eq!(list["status_pages"][0]["slug"], "cache");
    assert_eq!(list["status_pages"][0]["source"], "file");
    let put = |slug: &str, body: Value| {
        server
            .api(
                reqwest::Method::PUT,
                &format!("/api/v1/status-pages/{slug}"),
            )
            .json(&body)
            .send()
    };
    let r = put(
        "cache",
        json!({"slug": "cache", "title": "x", "sections": [{"name": "s", "monitors": ["cache"]}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "managed_by_config"
    );
    let r = server
        .api(reqwest::Method::DELETE, "/api/v1/status-pages/cache")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    // API pages: created, validated, replaced, on their own domain, deleted.
    let page = json!({"slug": "ops", "title": "Ops", "domain": "Status.Example.COM",
        "sections": [{"name": "All", "monitors": ["cache", {"name": "[internal] api /health", "public_name": "API"}]}]});
    let (status, body) = server.post("/api/v1/status-pages", &page).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["domain"], "status.example.com");
    assert_eq!(body["monitor_list"][0]["monitor_id"], cache.as_str());
    let (status, body) = server.post("/api/v1/status-pages", &page).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (409, Some("slug")),
        "{body}"
    );
    let mut other = page.clone();
    other["slug"] = json!("ops2");
    let (status, body) = server.post("/api/v1/status-pages", &other).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (409, Some("domain")),
        "{body}"
    );
    other["domain"] = json!(null);
    other["sections"][0]["monitors"] = json!(["cache", "no-such-monitor"]);
    let (status, body) = server.post("/api/v1/status-pages", &other).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "sections[0].monitors[1].name");
    other["sections"] = json!([]);
    other["accent_color"] = json!("url(javascript:x)");
    let (status, body) = server.post("/api/v1/status-pages", &other).await;
    assert_eq!(status, 422, "{body}");

    let (status, _, html) = public(&server, "/", &[("host", "status.example.com:443")]).await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Ops</h1>"), "{html}");
    let (_, _, index) = public(&server, "/", &[]).await;
    assert!(
        !index.contains("<h1>Ops</h1>"),
        "other hosts get the usual page"
    );

    let mut changed = page.clone();
    changed["title"] = json!("Operations");
    let r = put("ops", changed).await.unwrap();
    assert_eq!(r.status(), 200);
    let html = wait_for("the new title", Duration::from_secs(10), || async {
        let (_, _, html) = public(&server, "/status/ops", &[]).await;
        html.contains("<h1>Operations</h1>").then_some(html)
    })
    .await;
    assert!(html.contains("<h3>API</h3>"));
    let r = put(
        "ops",
        json!({"slug": "other", "title": "x", "sections": [{"name": "s", "monitors": ["cache"]}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let r = server
        .api(reqwest::Method::DELETE, "/api/v1/status-pages/ops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    wait_for("the page gone", Duration::from_secs(10), || async {
        let (status, _, _) = public(&server, "/status/ops", &[]).await;
        (status == 404).then_some(())
    })
    .await;

    // Uptime: named windows and custom ranges; bad input is refused.
    check_now(&server, &cache, 1).await;
    let (status, up) = server
        .get(&format!("/api/v1/monitors/{cache}/uptime?window=7d"))
        .await;
    assert_eq!(status, 200, "{up}");
    assert_eq!(up["window"], "7d");
    assert_eq!(up["uptime"], 1.0);
    assert_eq!(up["uptime_percent"], "100%");
    assert_eq!(up["downtime_ms"], 0);
    let from = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2)).to_string();
    let (status, up) = server
        .get(&format!("/api/v1/monitors/{cache}/uptime?from={from}"))
        .await;
    assert_eq!(status, 200, "{up}");
    assert!(up["window"].is_null());
    assert!(up["pending_ms"].as_i64().unwrap() > 3_000_000, "{up}");
    for bad in [
        "window=1y",
        "window=7d&from=2025-01-01T00:00:00Z",
        "from=yesterday",
        "to=2025-01-01T00:00:00Z",
    ] {
        let (status, body) = server
            .get(&format!("/api/v1/monitors/{cache}/uptime?{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = server
        .get("/api/v1/monitors/01900000-0000-7000-8000-000000000000/uptime")
        .await;
    assert_eq!(status, 404);
    let (status, r) = server
        .get(&format!("/api/v1/monitors/{cache}/rollups?period=day"))
        .await;
    assert_eq!((status, r["period"].as_str()), (200, Some("day")), "{r}");
    let (status, _) = server
        .get(&format!("/api/v1/monitors/{cache}/rollups?period=week"))
        .await;
    assert_eq!(status, 400);

    // Public updates are validated, and documented in the OpenAPI description.
    let (status, _) = server
        .post(
            "/api/v1/incidents/01900000-0000-7000-8000-000000000000/updates",
            &json!({"status": "identified", "text": "x"}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, doc) = server.get("/api/v1/openapi.json").await;
    for p in [
        "/api/v1/status-pages",
        "/api/v1/status-pages/{slug}",
        "/api/v1/monitors/{id}/uptime",
        "/api/v1/monitors/{id}/rollups",
        "/api/v1/incidents/{id}/updates",
        "/api/v1/public/status/{slug}",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} in the OpenAPI document");
    }
}
both_backends!(api_pages_domains_and_uptime, api_pages_domains_and_uptime);

both_backends!(
    a_page_domain_is_never_an_ip_nor_the_server_itself,
    page_domain_rules
);

/// A status page's `domain` must be a DNS name, not an address (which would serve the
/// page at `/` of any request by IP) nor the server's own host (which would replace
/// its UI); and should a page from the config file claim the server's host, `/` on
/// that host still serves the UI.
async fn page_domain_rules(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let config = write(&store, &page_config(&target, "    domain: vigilmon.test\n"));
    let server = Server::start(
        bin(),
        &store,
        &[
            "--config".into(),
            config,
            "--public-url".into(),
            "http://vigilmon.test:8080".into(),
        ],
    );
    for (domain, why) in [
        ("127.0.0.1", "not an IP address"),
        ("[::1]", "not an IP address"),
        ("0x7f.1", "not an IP address"),
        ("Vigilmon.Test", "server's own host"),
    ] {
        let page = json!({"slug": "ops", "title": "Ops", "domain": domain,
            "sections": [{"name": "All", "monitors": ["cache"]}]});
        let (status, body) = server.post("/api/v1/status-pages", &page).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some("domain")),
            "{domain}: {body}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{domain}: {body}"
        );
    }
    let (_, pages) = server.get("/api/v1/status-pages").await;
    assert_eq!(
        pages["status_pages"].as_array().unwrap().len(),
        1,
        "{pages}"
    );

    // The file's page claims the server's host: its UI still answers there.
    let (status, _, html) = public(&server, "/", &[("host", "vigilmon.test:8080")]).await;
    assert!(
        !html.contains("<h1>Cache layer</h1>"),
        "the server's own host is never a page's ({status})"
    );
    // The page is still served at its slug.
    let (status, _, html) = public(&server, "/status/cache", &[]).await;
    assert_eq!(status, 200);
    assert!(html.contains("Cache layer"));
}
