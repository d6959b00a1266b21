//! The web UI end to end. A real browser (headless Chromium over WebDriver) goes
//! through first-run setup, signs in, creates a channel, a policy and an HTTP monitor
//! with the forms, watches it go up and then down without reloading, acknowledges the
//! incident and sees it resolved without reloading, and follows a heartbeat monitor's
//! ping log; screenshots of the main pages are saved on the way. Plain HTTP tests cover escaping, CSRF, origin checks,
//! sessions (logout, password change, cookie flags) and the login rate limit.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use test_support::webdriver::Browser;
use test_support::{Backend, Receiver, Server, StoreFixture, Target, wait_for};

use crate::{bin, both_backends};

pub(crate) const OWNER: &str = "owner@example.com";
pub(crate) const PASSWORD: &str = "correct horse battery";
const SECOND: Duration = Duration::from_secs(1);

/// Where screenshots go: `VIGILMON_SCREENSHOTS`, or a fixed folder in the temp dir
/// (kept after the run, overwritten by the next).
fn screenshot_dir() -> PathBuf {
    std::env::var_os("VIGILMON_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("vigilmon-ui-screenshots"))
}

/// axe-core, the accessibility engine run over the main pages: `VIGILMON_AXE`, or where
/// `.ci/run` installs it (`npm install --prefix ~/.cache/vigilmon-axe axe-core@4`).
fn axe_source() -> String {
    let path = std::env::var_os("VIGILMON_AXE").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/vigilmon-axe/node_modules/axe-core/axe.min.js")
        },
        PathBuf::from,
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is needed at {} ({e}): npm install --prefix ~/.cache/vigilmon-axe axe-core@4, or set VIGILMON_AXE",
            path.display()
        )
    })
}

/// Runs axe-core (WCAG 2 A and AA rules) over the page in the browser and fails with
/// what it reports.
async fn accessible(b: &Browser, axe: &str, page: &str) {
    let _ = b.execute(&format!("{axe}\nreturn true;"), vec![]).await;
    let found = b
        .execute(
            "return axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})\
             .then(function (r) { return r.violations.map(function (v) {\
               return v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map(function (n) {\
                 return n.target.join(' '); }).join(', '); }); });",
            vec![],
        )
        .await;
    let list = found.as_array().cloned().unwrap_or_default();
    assert!(
        found.is_array() && list.is_empty(),
        "accessibility of {page}: {found}"
    );
}

/// Whether the page is still the one marked by [`mark`] (no reload happened).
async fn still_marked(b: &Browser) -> bool {
    b.execute("return window.__vigilmon_test_mark === 42;", vec![])
        .await
        .as_bool()
        .unwrap_or(false)
}

async fn mark(b: &Browser) {
    b.execute("window.__vigilmon_test_mark = 42;", vec![]).await;
}

/// The monitor id at the end of the browser's URL (`/monitors/{id}?…`).
async fn monitor_id(b: &Browser) -> String {
    let url = b.current_url().await;
    url.split("/monitors/")
        .nth(1)
        .and_then(|r| r.split(['?', '/', '#']).next())
        .unwrap_or_else(|| panic!("not a monitor page: {url}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_setup_monitor_incident_and_heartbeat() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let target = Target::start().await;
    let healthy = Target::start().await;
    let receiver = Receiver::start().await;
    let server = Server::start(bin(), &store, &[]);
    // A few more monitors through the API, so the dashboard has groups to show.
    let mut api_ids: Vec<String> = Vec::new();
    let port = healthy
        .url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    for m in [
        json!({"name": "[redis-primary] cache /health", "type": "http", "url": format!("{}/health/redis", healthy.url),
               "interval": "10s", "tags": ["cache"], "expect": {"body_contains": "\"status\":\"ok\""}}),
        json!({"name": "[redis-replica-1] cache", "type": "tcp", "host": "127.0.0.1", "port": port.parse::<u32>().unwrap_or(0),
               "interval": "10s", "tags": ["cache"]}),
        json!({"name": "marketing site", "type": "http", "url": format!("{}/", healthy.url), "interval": "10s", "tags": ["web"]}),
    ] {
        let (code, body) = server.post("/api/v1/monitors", &m).await;
        assert_eq!(code, 201, "{body}");
        api_ids.push(body["id"].as_str().unwrap_or_default().to_owned());
    }
    let shots = screenshot_dir();
    let b = Browser::start().await;
    let url = |p: &str| format!("{}{p}", server.url);
    let axe = axe_source();

    // First run: `/` leads to the setup page, which creates the owner and signs in.
    b.goto(&url("/")).await;
    b.wait("form[action='/setup']", 10 * SECOND).await;
    assert!(b.current_url().await.ends_with("/setup"));
    b.fill(
        "#code",
        server.setup_code.as_deref().expect("setup code printed"),
    )
    .await;
    b.fill("#email", OWNER).await;
    b.fill("#password", PASSWORD).await;
    b.fill("#confirm", PASSWORD).await;
    b.screenshot(&shots.join("setup.png")).await;
    accessible(&b, &axe, "the setup page").await;
    b.click_on("button[type=submit].primary").await;
    b.wait_text("h1", 10 * SECOND, |t| t == "Dashboard").await;
    assert!(b.text_of(".notice").await.contains("Welcome"));

    // Sign out, then in again.
    b.click_on(".who button").await;
    b.wait("form[action='/login']", 10 * SECOND).await;
    b.fill("#email", OWNER).await;
    b.fill("#password", "not the password").await;
    b.click_on("button.primary").await;
    b.wait_text(".errors", 10 * SECOND, |t| t.contains("do not match"))
        .await;
    accessible(&b, &axe, "the sign-in page, with its error").await;
    b.fill("#email", OWNER).await;
    b.fill("#password", PASSWORD).await;
    b.click_on("button.primary").await;
    b.wait_text("h1", 10 * SECOND, |t| t == "Dashboard").await;

    // A webhook channel pointing at the local receiver, and a policy using it.
    b.goto(&url("/channels?type=webhook")).await;
    b.fill("#name", "ops-hook").await;
    b.fill("#url", &format!("{}/hook", receiver.url)).await;
    b.click_on("form[action='/channels'] button.primary").await;
    b.wait_text(".notice", 10 * SECOND, |t| t.contains("Channel created"))
        .await;
    b.screenshot(&shots.join("channels.png")).await;
    b.goto(&url("/policies")).await;
    b.fill("#name", "page-ops").await;
    b.click_on("#channels input[value='ops-hook']").await;
    b.click_on("form[action='/policies'] button.primary").await;
    b.wait_text(".notice", 10 * SECOND, |t| t.contains("Policy created"))
        .await;

    // New HTTP monitor through the form: an inline error first, then "Test now",
    // then save.
    b.goto(&url("/monitors/new")).await;
    b.fill("#name", "checkout API").await;
    b.fill("#url", &format!("{}/health", target.url)).await;
    b.fill("#interval", "5s").await;
    b.fill("#tags", "shop").await;
    b.click_on("#policy option[value='page-ops']").await;
    b.click_on("button[value=save]").await;
    let err = b
        .wait_text("#interval-err", 10 * SECOND, |t| !t.is_empty())
        .await;
    assert!(err.contains("at least 10s"), "{err}");
    b.fill("#interval", "10s").await;
    b.click_on("main details summary").await;
    b.fill("#confirmations", "1").await;
    b.fill("#expect-body-contains", "\"status\":\"ok\"").await;
    b.click_on("button[value=test]").await;
    let verdict = b
        .wait_text(".testresult h2", 10 * SECOND, |t| t.contains("Test result"))
        .await;
    assert!(verdict.contains("Up"), "{verdict}");
    assert!(b.text_of(".testresult").await.contains("First byte"));
    b.screenshot(&shots.join("new-monitor.png")).await;
    b.click_on("button[value=save]").await;
    b.wait_text(".notice", 10 * SECOND, |t| t.contains("Monitor created"))
        .await;
    let id = monitor_id(&b).await;

    // The page follows the monitor without a reload: up, then down.
    mark(&b).await;
    let (code, _) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(code, 200);
    b.wait_text("#state", 15 * SECOND, |t| t == "Up").await;
    target.set_status(500);
    let (code, _) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(code, 200);
    b.wait_text("#state", 15 * SECOND, |t| t == "Down").await;
    b.wait_text("#reason", 10 * SECOND, |t| t.contains("500"))
        .await;
    b.wait("[data-part=incidents] a[href^='/incidents/']", 15 * SECOND)
        .await;
    assert!(still_marked(&b).await, "the page was reloaded");
    b.screenshot_page(&shots.join("monitor.png"), 1800).await;
    accessible(&b, &axe, "the monitor page").await;

    // The dashboard shows it down, in words.
    b.goto(&url("/")).await;
    let row = format!("tr[data-m='{id}'] .st");
    assert_eq!(b.text_of(&row).await, "Down");

    // Acknowledge the incident from its page.
    b.goto(&url(&format!("/monitors/{id}"))).await;
    let incident_link = b
        .wait("[data-part=incidents] a[href^='/incidents/']", 10 * SECOND)
        .await;
    b.click(&incident_link).await;
    b.click_on("#ack").await;
    b.wait_text("#incident-state", 10 * SECOND, |t| t == "acknowledged")
        .await;
    // The open incident's duration ticks on its own ("12 s", then "13 s", …).
    let lasted = b.text_of("#duration").await;
    assert!(lasted.ends_with(" s"), "{lasted}");
    b.wait_text("#duration", 10 * SECOND, |t| t != lasted).await;
    assert!(b.text_of(".timeline").await.contains(OWNER));
    b.screenshot_page(&shots.join("incident.png"), 1400).await;
    accessible(&b, &axe, "the incident page").await;
    wait_for("the trigger on the webhook", 15 * SECOND, || async {
        (!receiver.on("/hook").is_empty()).then_some(())
    })
    .await;
    let (_, list) = server.get("/api/v1/incidents").await;
    assert_eq!(list["incidents"][0]["state"], "acknowledged", "{list}");
    assert_eq!(list["incidents"][0]["acknowledged_by"], OWNER, "{list}");

    // The incident's page follows it without a reload: the monitor paused, then the
    // incident resolved through the API (while it is down a resolve is refused).
    mark(&b).await;
    let incident = list["incidents"][0]["id"].as_str().unwrap().to_owned();
    let (code, body) = server
        .post(
            &format!("/api/v1/incidents/{incident}/resolve"),
            &json!({"by": "ci"}),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    let (code, body) = server
        .post(&format!("/api/v1/monitors/{id}/pause"), &json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = server
        .post(
            &format!("/api/v1/incidents/{incident}/resolve"),
            &json!({"by": "ci"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    b.wait_text("#incident-state", 15 * SECOND, |t| t == "resolved")
        .await;
    assert!(b.text_of(".timeline").await.contains("ci"));
    assert!(still_marked(&b).await, "the incident page was reloaded");

    // A heartbeat monitor: ping it with curl, see the ping in its log.
    b.goto(&url("/monitors/new?type=heartbeat")).await;
    b.fill("#name", "nightly backup").await;
    b.fill("#every", "5m").await;
    b.fill("#grace", "10m").await;
    b.click_on("button[value=save]").await;
    b.wait_text(".notice", 10 * SECOND, |t| t.contains("Monitor created"))
        .await;
    let ping_url = b.text_of("#ping-url").await;
    assert!(ping_url.starts_with(&server.url), "{ping_url}");
    assert!(b.text_of("#curl-ok").await.contains(&ping_url));
    assert!(b.find("#no-pings").await.is_some());
    mark(&b).await;
    let out = std::process::Command::new("curl")
        .args([
            "-fsS",
            "-m",
            "10",
            "--data-raw",
            "backup done: 42 files, 3.1 GB",
        ])
        .arg(&ping_url)
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK");
    b.wait_text(".ping-body", 15 * SECOND, |t| t.contains("42 files"))
        .await;
    b.wait_text("#state", 10 * SECOND, |t| t == "Up").await;
    assert!(still_marked(&b).await, "the page was reloaded");
    b.screenshot_page(&shots.join("heartbeat.png"), 1800).await;

    // The dashboard, now with everything in it.
    b.goto(&url("/")).await;
    b.wait(&format!("tr[data-m='{id}']"), 10 * SECOND).await;
    b.screenshot_page(&shots.join("dashboard.png"), 1400).await;
    accessible(&b, &axe, "the dashboard").await;
    // Live: a state change re-sorts its group (worst first, paused last), and a new
    // monitor appears, without a reload.
    mark(&b).await;
    let first_in_cache = "return document.querySelector(\"tbody[data-group='cache'] tr[data-m]\").getAttribute('data-m');";
    assert_eq!(b.execute(first_in_cache, vec![]).await, json!(api_ids[0]));
    let (code, body) = server
        .post(
            &format!("/api/v1/monitors/{}/pause", api_ids[0]),
            &json!({}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    wait_for("the paused monitor to sort last", 15 * SECOND, || async {
        (b.execute(first_in_cache, vec![]).await == json!(api_ids[1])).then_some(())
    })
    .await;
    let (code, body) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "a late arrival", "type": "heartbeat", "tags": ["cache"]}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let late = body["id"].as_str().unwrap_or_default().to_owned();
    b.wait(&format!("tr[data-m='{late}']"), 15 * SECOND).await;
    assert!(still_marked(&b).await, "the dashboard was reloaded");
    // Each check brings the row's beat bar again: the bar's element is replaced.
    let bar = format!("tr[data-m='{}'] .bt .beats", api_ids[2]);
    b.execute(
        &format!("document.querySelector(\"{bar}\").setAttribute('data-old', '');"),
        vec![],
    )
    .await;
    b.wait(&format!("{bar}:not([data-old])"), 20 * SECOND).await;
    assert!(still_marked(&b).await, "the dashboard was reloaded");
    // Filtering as you type: rows that do not match hide, and when none is left the
    // page says so.
    b.fill("#q", "marketing").await;
    wait_for("the filter to leave one row", 10 * SECOND, || async {
        let shown = b
            .execute(
                "return Array.prototype.filter.call(document.querySelectorAll('tr[data-m]'), \
                 function (r) { return !r.hidden; }).length;",
                vec![],
            )
            .await;
        (shown == json!(1)).then_some(())
    })
    .await;
    b.fill("#q", "no monitor is called this").await;
    b.wait("#no-match:not([hidden])", 10 * SECOND).await;
    for page in [
        "/incidents",
        "/channels",
        "/policies",
        "/maintenance",
        "/status-pages",
        "/regions",
        "/tokens",
        "/monitors/new",
    ] {
        b.goto(&url(page)).await;
        b.wait("h1", 10 * SECOND).await;
        accessible(&b, &axe, page).await;
    }

    // At 1024 px the navigation stays on one line, and the live dot never moves it.
    b.resize(1024, 900).await;
    b.goto(&url("/")).await;
    b.wait(&format!("tr[data-m='{id}']"), 10 * SECOND).await;
    let one_line = "var a = document.querySelectorAll('.top nav.wide a');\
        var top = a[0].getBoundingClientRect().top;\
        for (var i = 0; i < a.length; i++) { if (a[i].getBoundingClientRect().top !== top) return false; }\
        return document.querySelector('.top').getBoundingClientRect().height < 60;";
    assert_eq!(
        b.execute(one_line, vec![]).await,
        json!(true),
        "the header wraps at 1024 px"
    );
    let live_width = "return document.getElementById('live').getBoundingClientRect().width;";
    let before = b.execute(live_width, vec![]).await;
    wait_for("a live update", 10 * SECOND, || async {
        b.execute("return document.getElementById('live').title;", vec![])
            .await
            .as_str()
            .is_some_and(|t| t.starts_with("Live · updated"))
            .then_some(())
    })
    .await;
    assert_eq!(
        b.execute(live_width, vec![]).await,
        before,
        "the dot keeps its width"
    );

    // A public status page of these monitors.
    let (code, body) = server
        .post(
            "/api/v1/status-pages",
            &json!({"slug": "acme", "title": "Acme", "sections": [
                {"name": "Services", "monitors": [
                    {"name": "checkout API", "public_name": "Checkout"},
                    {"name": "marketing site", "public_name": "Website"}]},
                {"name": "Caches", "monitors": [
                    {"name": "[redis-primary] cache /health", "public_name": "Cache"}]}]}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    b.resize(1280, 900).await;
    b.goto(&url("/status/acme")).await;
    b.wait("h1", 10 * SECOND).await;
    b.screenshot_page(&shots.join("status-page.png"), 1600)
        .await;
    accessible(&b, &axe, "a status page").await;

    // On a phone: the compact menu opens and leads on without JavaScript.
    b.resize(390, 844).await;
    b.goto(&url("/")).await;
    b.wait(&format!("tr[data-m='{id}']"), 10 * SECOND).await;
    b.screenshot_page(&shots.join("dashboard-phone.png"), 1800)
        .await;
    accessible(&b, &axe, "the dashboard at phone width").await;
    assert!(
        b.execute(
            "return getComputedStyle(document.querySelector('.top nav.wide')).display === 'none';",
            vec![]
        )
        .await
        .as_bool()
        .unwrap_or(false),
        "the wide navigation is hidden on a phone"
    );
    b.click_on(".top details.compact summary").await;
    b.click_on(".top details.compact a[href='/incidents']")
        .await;
    b.wait_text("h1", 10 * SECOND, |t| t == "Incidents").await;
    b.goto(&url("/status/acme")).await;
    b.wait("h1", 10 * SECOND).await;
    b.screenshot_page(&shots.join("status-page-phone.png"), 1800)
        .await;
    accessible(&b, &axe, "a status page at phone width").await;

    // The same menu with JavaScript off: it is a plain `details`.
    let plain = Browser::start_without_javascript().await;
    plain.resize(390, 844).await;
    plain.goto(&url("/login")).await;
    plain.wait("form[action='/login']", 10 * SECOND).await;
    plain.fill("#email", OWNER).await;
    plain.fill("#password", PASSWORD).await;
    plain.click_on("button[type=submit].primary").await;
    plain
        .wait_text("h1", 10 * SECOND, |t| t == "Dashboard")
        .await;
    // The script is really off: the badges' Copy buttons, which it shows, stay hidden.
    plain.goto(&url(&format!("/monitors/{}", api_ids[2]))).await;
    let copy = plain.wait("button[data-copy]", 10 * SECOND).await;
    assert!(!plain.displayed(&copy).await, "JavaScript ran");
    plain.click_on(".top details.compact summary").await;
    plain
        .click_on(".top details.compact a[href='/incidents']")
        .await;
    plain
        .wait_text("h1", 10 * SECOND, |t| t == "Incidents")
        .await;
    eprintln!("screenshots in {}", shots.display());
}

/// A signed-in (or not yet) browser without JavaScript: cookies, forms, CSRF; it
/// does not follow redirects. Shared with the other UI tests (`ui_admin`, `ui_edit`).
pub(crate) struct Web {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) cookies: Vec<(String, String)>,
    /// The server's first-run setup code (what its operator reads on the console).
    pub(crate) setup_code: String,
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub(crate) fn form_body(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the first `name="_csrf"` input in `html`.
pub(crate) fn csrf_of(html: &str) -> String {
    html.split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: String,
    pub(crate) set_cookies: Vec<String>,
    pub(crate) body: String,
}

impl Web {
    pub(crate) fn new(server: &Server) -> Web {
        Web {
            base: server.url.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: Vec::new(),
            setup_code: server.setup_code.clone().unwrap_or_default(),
        }
    }

    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header("cookie", self.cookie_header())
        };
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let set_cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in &set_cookies {
            if let Some((k, rest)) = c.split_once('=') {
                let v = rest.split(';').next().unwrap_or_default().to_owned();
                self.cookies.retain(|(n, _)| n != k);
                if !v.is_empty() {
                    self.cookies.push((k.to_owned(), v));
                }
            }
        }
        Answer {
            status,
            location,
            set_cookies,
            body: r.text().await.unwrap_or_default(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub(crate) async fn post(
        &mut self,
        path: &str,
        pairs: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Answer {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(pairs));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        self.send(req).await
    }

    /// Signs in (creating the owner on a fresh server); returns the session's CSRF token.
    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> String {
        let page = self.get("/login").await;
        let code = self.setup_code.clone();
        let (path, pairs): (&str, Vec<(&str, &str)>) = if page.location.ends_with("/setup") {
            (
                "/setup",
                vec![
                    ("code", code.as_str()),
                    ("email", email),
                    ("password", password),
                    ("confirm", password),
                ],
            )
        } else {
            ("/login", vec![("email", email), ("password", password)])
        };
        let form = self.get(path).await;
        let token = csrf_of(&form.body);
        let mut all = vec![("_csrf", token.as_str())];
        all.extend(pairs);
        let r = self.post(path, &all, None).await;
        assert_eq!(r.status, 303, "sign-in failed: {}", r.body);
        csrf_of(&self.get("/").await.body)
    }
}

async fn escapes_everything_users_typed(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let evil = "<script>alert(1)</script>";
    let (code, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": evil, "type": "http", "url": "http://127.0.0.1:9/x\"><script>alert(2)</script>",
                    "tags": ["<img src=x onerror=alert(3)>"], "expect": {"body_contains": "</textarea><script>alert(4)</script>"}}),
        )
        .await;
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let (code, hb) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "<b>job</b>", "type": "heartbeat"}),
        )
        .await;
    assert_eq!(code, 201, "{hb}");
    let ping = hb["ping_url"].as_str().unwrap().to_owned();
    let r = server
        .client
        .post(&ping)
        .body("<script>alert(5)</script>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, ch) = server
        .post(
            "/api/v1/channels",
            &json!({"name": "<i>hook</i>", "type": "webhook", "url": "http://127.0.0.1:9/<script>"}),
        )
        .await;
    assert_eq!(code, 201, "{ch}");

    let mut web = Web::new(&server);
    web.sign_in(OWNER, PASSWORD).await;
    let hb_id = hb["id"].as_str().unwrap();
    for path in [
        "/".to_owned(),
        "/?q=%3Cscript%3E".to_owned(),
        format!("/monitors/{id}"),
        format!("/monitors/{id}/edit"),
        format!("/monitors/{id}/delete"),
        format!("/monitors/{hb_id}"),
        "/channels".to_owned(),
        "/channels/%3Ci%3Ehook%3C%2Fi%3E".to_owned(),
        "/incidents".to_owned(),
    ] {
        let page = web.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        for n in 1..=5 {
            assert!(
                !page.body.contains(&format!("<script>alert({n})")),
                "{path} let <script>alert({n}) through"
            );
        }
        assert!(!page.body.contains("<img src=x"), "{path}");
        assert!(!page.body.contains("<i>hook"), "{path}");
    }
    let page = web.get(&format!("/monitors/{id}")).await;
    assert!(
        page.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
    );
    let page = web.get(&format!("/monitors/{hb_id}")).await;
    assert!(
        page.body
            .contains("&#60;script&#62;alert(5)&#60;/script&#62;"),
        "ping bodies are shown, escaped"
    );
    let live = web.get(&format!("/monitors/{id}/live")).await;
    let v: Value = serde_json::from_str(&live.body).expect("live JSON");
    assert!(!v.to_string().contains("<script>alert(1)"));
}

both_backends!(ui_escapes_user_input, escapes_everything_users_typed);

/// The `data-live` URL of a page, as the browser reads it (entities decoded).
fn live_url_of(body: &str) -> String {
    body.split("data-live=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page polls")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// More monitors than a page (250): the first answer lists what needs attention and a
/// line per group; filters, pages and search are answered by the store; the live
/// endpoint sends the totals, and the list again once the monitors it holds change.
async fn a_large_dashboard_is_listed_by_the_store(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    // 260 paused monitors in two tags (every tenth without a tag), and three that
    // need attention (heartbeats never pinged: pending, and they stay so).
    for i in 0..260 {
        let mut m = json!({"name": format!("svc-{i:04}"), "type": "http", "paused": true,
                           "url": format!("http://127.0.0.1:9/svc-{i:04}")});
        if i % 10 != 0 {
            m["tags"] = json!([if i % 2 == 0 { "alpha" } else { "beta" }]);
        }
        let (code, body) = server.post("/api/v1/monitors", &m).await;
        assert_eq!(code, 201, "{body}");
    }
    for i in 0..3 {
        let (code, body) = server
            .post(
                "/api/v1/monitors",
                &json!({"name": format!("broken-{i}"), "type": "heartbeat", "tags": ["alpha"]}),
            )
            .await;
        assert_eq!(code, 201, "{body}");
    }
    let mut web = Web::new(&server);
    web.sign_in(OWNER, PASSWORD).await;

    let first = web.get("/").await;
    assert_eq!(first.status, 200);
    let body = &first.body;
    assert_eq!(
        body.matches("<tr data-m=").count(),
        3,
        "only what needs attention"
    );
    assert!(body.contains("data-group=\"Needs attention\""), "{body}");
    for name in ["broken-0", "broken-1", "broken-2"] {
        assert!(body.contains(&format!(">{name}</a>")), "{name}");
    }
    assert!(
        !body.contains(">svc-0001</a>"),
        "healthy monitors are summarised"
    );
    // A line per group: alpha has 104 paused + 3 pending, beta 130, untagged 26.
    assert!(body.contains("Every monitor, by group"), "{body}");
    for (href, name, n) in [
        ("/?group=alpha", "alpha", 107),
        ("/?group=beta", "beta", 130),
        ("/?group=", "Untagged", 26),
    ] {
        assert!(
            body.contains(&format!(
                "<th scope=\"row\"><a href=\"{href}\">{name}</a></th><td class=\"num\">{n}</td>"
            )),
            "{name}: {body}"
        );
    }
    // The totals count every monitor.
    assert!(
        body.contains("data-count=\"paused\"><span class=\"st paused\">Paused</span> <span class=\"n\">260</span>"),
        "{body}"
    );
    assert!(
        !body.contains("data-complete"),
        "typing does not filter a partial page"
    );

    // A group, a search, a tag: only their monitors.
    let beta = web.get("/?group=beta").await;
    assert_eq!(beta.body.matches("<tr data-m=").count(), 130);
    assert!(beta.body.contains("Group <strong>beta</strong>"));
    let untagged = web.get("/?group=").await;
    assert_eq!(untagged.body.matches("<tr data-m=").count(), 26);
    let one = web.get("/?q=SVC-0123").await;
    assert_eq!(one.body.matches("<tr data-m=").count(), 1, "{}", one.body);
    assert!(one.body.contains(">svc-0123</a>"));
    let by_url = web.get("/?q=127.0.0.1%3A9%2Fsvc-0042").await;
    assert_eq!(by_url.body.matches("<tr data-m=").count(), 1);
    let attention = web.get("/?state=attention").await;
    assert_eq!(attention.body.matches("<tr data-m=").count(), 3);

    // Pages of 250, linked both ways with the same filters.
    let page1 = web.get("/?state=paused").await;
    assert_eq!(page1.body.matches("<tr data-m=").count(), 250);
    assert!(
        page1.body.contains("Showing 1–250 of 260"),
        "{}",
        page1.body
    );
    assert!(
        page1
            .body
            .contains("href=\"/?state=paused&#38;page=2\" rel=\"next\"")
    );
    let page2 = web.get("/?state=paused&page=2").await;
    assert_eq!(page2.body.matches("<tr data-m=").count(), 10);
    assert!(page2.body.contains("Showing 251–260 of 260"));
    assert!(page2.body.contains("href=\"/?state=paused\" rel=\"prev\""));
    // Nonsense pages and states answer, with nothing or the first page.
    assert_eq!(web.get("/?state=paused&page=x").await.status, 200);
    let none = web.get("/?state=nonsense").await;
    assert!(none.body.contains("No monitor matches these filters"));
    assert_eq!(
        none.body.matches("<tr data-m=").count(),
        0,
        "an unknown state lists nothing"
    );

    // Live: nothing changed in the list, so no list again; the totals always.
    let live = live_url_of(body);
    assert!(live.contains("&set="), "{live}");
    let r = web.get(&live).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["totals"]["paused"], 260, "{v}");
    assert!(v.get("parts").is_none(), "{v}");
    // A new monitor that needs attention changes the list: it comes back rendered.
    let (code, body) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "newcomer", "type": "heartbeat", "tags": ["beta"]}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let r = web.get(&live).await;
    let v: Value = serde_json::from_str(&r.body).unwrap();
    let list = v["parts"]["list"].as_str().expect("the list again");
    assert!(list.contains(">newcomer</a>"), "{list}");
    assert_eq!(list.matches("<tr data-m=").count(), 4);
    // Polling on from the answer's next URL: nothing new.
    let next = v["next"].as_str().unwrap().to_owned();
    let v: Value = serde_json::from_str(&web.get(&next).await.body).unwrap();
    assert!(v.get("parts").is_none(), "{v}");
}

both_backends!(ui_large_dashboard, a_large_dashboard_is_listed_by_the_store);

/// The dashboard's live answer carries, for each row checked since the last poll, its
/// 24-hour uptime and its beat bar rendered again (so bars move without a reload); a
/// poll after which nothing was checked carries no row and stays small.
async fn live_rows_carry_their_beats_and_uptime(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let server = Server::start(bin(), &store, &[]);
    let (code, body) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "api", "type": "http", "url": format!("{}/", target.url),
                    "interval": "1h", "paused": true}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let mut web = Web::new(&server);
    web.sign_in(OWNER, PASSWORD).await;
    let page = web.get("/").await.body;
    let row = page
        .split(&format!("<tr data-m=\"{id}\""))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .expect("the row");
    assert!(
        row.contains("<td class=\"hide-sm bt\"><span class=\"muted\">—</span></td>"),
        "no bar before a check: {row}"
    );
    let live = live_url_of(&page);

    let (code, body) = server
        .post(&format!("/api/v1/monitors/{id}/resume"), &json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    // Its first check would come within the hour: "check now" stores one at once.
    let (code, body) = server
        .post(&format!("/api/v1/monitors/{id}/check-now"), &json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    let checked = wait_for("the first check", 10 * SECOND, || async {
        let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
        m["last_checked_at"].as_str().map(str::to_owned)
    })
    .await;
    let v: Value = serde_json::from_str(&web.get(&live).await.body).unwrap();
    assert!(v.get("parts").is_none(), "the same list: {v}");
    let m = &v["monitors"][0];
    assert_eq!(m["id"], id.as_str(), "{v}");
    assert_eq!(m["state"], "up", "{v}");
    let beats = m["beats"].as_str().expect("the beat bar again");
    assert!(
        beats.starts_with("<span class=\"beats\" role=\"img\""),
        "{beats}"
    );
    assert_eq!(beats.matches("<i class=").count(), 30, "{beats}");
    assert_eq!(beats.matches("<i class=\"ok ").count(), 1, "{beats}");
    assert!(beats.contains(" UTC · passed · "), "{beats}");
    assert!(m["uptime"].is_string(), "{v}");
    assert!(
        m["uptime_title"]
            .as_str()
            .is_some_and(|t| t.starts_with("last 24 hours") || t.starts_with("not checked")),
        "{v}"
    );

    // Polled from after that check: nothing moved, so no row and a small answer.
    let after = checked.parse::<jiff::Timestamp>().unwrap().as_millisecond() + 5_000;
    let next = v["next"].as_str().unwrap();
    let since = next
        .split("since=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap();
    let quiet = web
        .get(&next.replace(&format!("since={since}"), &format!("since={after}")))
        .await
        .body;
    let v: Value = serde_json::from_str(&quiet).unwrap();
    assert_eq!(v["monitors"], json!([]), "{v}");
    assert!(quiet.len() < 300, "{} bytes: {quiet}", quiet.len());
}

both_backends!(ui_live_figures, live_rows_carry_their_beats_and_uptime);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_origin_sessions_and_rate_limit() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let server = Server::start(bin(), &store, &[]);
    let mut web = Web::new(&server);

    // Before any user exists, `/` leads to the setup page; pages need a session.
    let r = web.get("/").await;
    assert_eq!((r.status, r.location.as_str()), (303, "/setup"));
    let r = web.get("/incidents").await;
    assert_eq!((r.status, r.location.as_str()), (303, "/setup"));

    // The setup form needs its CSRF cookie and token.
    let setup = web.get("/setup").await;
    let token = csrf_of(&setup.body);
    assert_eq!(token.len(), 32);
    let mut stranger = Web::new(&server);
    let r = stranger
        .post(
            "/setup",
            &[
                ("_csrf", token.as_str()),
                ("email", OWNER),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "a token without its cookie is refused");
    assert_eq!(
        server.get("/api/v1/monitors").await.0,
        200,
        "(the API is unaffected)"
    );

    let csrf = web.sign_in(OWNER, PASSWORD).await;
    let session = web
        .cookies
        .iter()
        .find(|(k, _)| k == "vigilmon_session")
        .map(|(_, v)| v.clone())
        .expect("session cookie");
    assert_eq!(session.len(), 64, "256 random bits");
    let r = web.get("/").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<h1>Dashboard</h1>"));

    // A state-changing form without its token, or with another, is refused.
    let monitor = [
        ("type", "http"),
        ("name", "api"),
        ("url", "http://127.0.0.1:9/health"),
        ("action", "save"),
    ];
    let r = web.post("/monitors/new", &monitor, None).await;
    assert_eq!(r.status, 403, "no token: {}", r.body);
    let mut with_wrong = vec![("_csrf", "0123456789abcdef0123456789abcdef")];
    with_wrong.extend(monitor);
    let r = web.post("/monitors/new", &with_wrong, None).await;
    assert_eq!(r.status, 403, "wrong token");
    let (_, list) = server.get("/api/v1/monitors").await;
    assert_eq!(
        list["monitors"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );

    // With its token, but from another origin: refused too.
    let mut good = vec![("_csrf", csrf.as_str())];
    good.extend(monitor);
    let r = web
        .post("/monitors/new", &good, Some("https://evil.example"))
        .await;
    assert_eq!(r.status, 403, "foreign origin");
    let r = web.post("/monitors/new", &good, Some(&server.url)).await;
    assert_eq!(r.status, 303, "same origin: {}", r.body);

    // "host:port" typed into a TCP monitor's host: a field error that says where the
    // port goes, the form kept as typed, nothing created.
    let tcp = [
        ("_csrf", csrf.as_str()),
        ("type", "tcp"),
        ("name", "cache"),
        ("host", "127.0.0.1:18090"),
        ("port", "80"),
        ("action", "save"),
    ];
    let r = web.post("/monitors/new", &tcp, Some(&server.url)).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains(
            "-err\">must not include the port: write 127.0.0.1 here and 18090 in port</span>"
        ),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("value=\"127.0.0.1:18090\""),
        "kept as typed"
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    assert_eq!(list["monitors"].as_array().unwrap().len(), 1);
    let live = web
        .http
        .get(format!("{}/live/dashboard?since=0", server.url))
        .header("cookie", web.cookie_header())
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 403, "live endpoints check Origin");
    let live = web.get("/live/dashboard?since=0").await;
    assert_eq!(live.status, 200);
    let v: Value = serde_json::from_str(&live.body).unwrap();
    assert_eq!(v["monitors"][0]["state"], "pending", "{v}");

    // A second browser of the same user; a password change ends both sessions and
    // gives the changing browser a new one.
    let mut other = Web::new(&server);
    other.sign_in(OWNER, PASSWORD).await;
    assert_eq!(other.get("/").await.status, 200);
    let new_password = "a much longer passphrase";
    let r = web
        .post(
            "/account/password",
            &[
                ("_csrf", csrf.as_str()),
                ("current", PASSWORD),
                ("new", new_password),
                ("confirm", new_password),
            ],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/account?ok=password")
    );
    assert_eq!(other.get("/").await.status, 303, "the other session ended");
    let r = web.get("/account?ok=password").await;
    assert_eq!(r.status, 200, "this browser has a new session");
    assert!(r.body.contains("Password changed"));
    let csrf = csrf_of(&r.body);

    // Logout ends the session: the old cookie no longer works.
    let old_cookie = web.cookie_header();
    let r = web.post("/logout", &[("_csrf", csrf.as_str())], None).await;
    assert_eq!((r.status, r.location.as_str()), (303, "/login"));
    let again = web
        .http
        .get(format!("{}/", server.url))
        .header("cookie", old_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);

    // Login is rate limited per address: 10 attempts a minute (the sign-ins above
    // came from the same address and count too).
    let mut guesser = Web::new(&server);
    let page = guesser.get("/login").await;
    let token = csrf_of(&page.body);
    let mut codes = Vec::new();
    for _ in 0..11 {
        let r = guesser
            .post(
                "/login",
                &[
                    ("_csrf", token.as_str()),
                    ("email", OWNER),
                    ("password", "wrong guess!"),
                ],
                None,
            )
            .await;
        codes.push(r.status);
    }
    let first_refused = codes.iter().position(|c| *c == 429).expect("a 429");
    assert!((5..=10).contains(&first_refused), "{codes:?}");
    assert!(
        codes[..first_refused].iter().all(|c| *c == 401),
        "{codes:?}"
    );
    assert!(
        codes[first_refused..].iter().all(|c| *c == 429),
        "{codes:?}"
    );
    let r = guesser
        .post(
            "/login",
            &[
                ("_csrf", token.as_str()),
                ("email", OWNER),
                ("password", new_password),
            ],
            None,
        )
        .await;
    assert_eq!(
        r.status, 429,
        "even the right password waits for the window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_behind_https() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let server = Server::start(
        bin(),
        &store,
        &["--public-url".into(), "https://vigilmon.example".into()],
    );
    let mut web = Web::new(&server);
    let setup = web.get("/setup").await;
    let csrf_cookie = setup.set_cookies.join("\n");
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("Secure"),
        "{csrf_cookie}"
    );
    let token = csrf_of(&setup.body);
    let r = web
        .post(
            "/setup",
            &[
                ("_csrf", token.as_str()),
                ("code", server.setup_code.as_deref().unwrap()),
                ("email", OWNER),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
            Some("https://vigilmon.example"),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let session = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with("vigilmon_session="))
        .expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    let page = web.get("/").await;
    assert_eq!(page.status, 200);
    let dashboard = page.body;
    assert!(dashboard.contains("/assets/app.js"));
    let csp = web
        .http
        .get(format!("{}/login", server.url))
        .send()
        .await
        .unwrap();
    let policy = csp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(policy.contains("script-src 'self'"), "{policy}");
}
