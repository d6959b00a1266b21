//! Heartbeat monitors end to end: the Healthchecks-compatible ping grammar, deadlines
//! that turn a silent monitor down within a second, durability of acknowledged pings
//! across SIGKILL, and real clients (a shell loop with curl, a Python RQ worker).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use test_support::{Backend, Server, StoreFixture, wait_for};

use crate::{bin, both_backends};

async fn create(server: &Server, body: Value) -> Value {
    let (status, m) = server.post("/api/v1/monitors", &body).await;
    assert_eq!(status, 201, "{m}");
    assert!(m["ping_url"].as_str().unwrap().contains("/ping/"), "{m}");
    m
}

async fn get(server: &Server, id: &str) -> Value {
    server.get(&format!("/api/v1/monitors/{id}")).await.1
}

async fn send(method: reqwest::Method, url: &str, body: Option<String>) -> (u16, String) {
    let c = reqwest::Client::new();
    let mut req = c.request(method, url).header("user-agent", "e2e-test/1");
    if let Some(b) = body {
        req = req.body(b);
    }
    let r = req.send().await.expect("ping request");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

async fn ping_protocol(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let m = create(
        &server,
        json!({"name": "worker", "type": "heartbeat", "every": "5m", "grace": "10m"}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let url = m["ping_url"].as_str().unwrap().to_owned();
    assert_eq!(m["state"], "pending");
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert!(token.len() >= 32, "at least 128 bits: {token}");

    // The list shows the ping URL too.
    let (_, list) = server.get("/api/v1/monitors").await;
    assert_eq!(list["monitors"][0]["ping_url"], url);

    assert_eq!(send(Method::GET, &url, None).await, (200, "OK".into()));
    assert_eq!(get(&server, &id).await["state"], "up");
    assert_eq!(
        send(Method::POST, &url, Some("hello".into())).await,
        (200, "OK".into())
    );
    let (status, body) = send(Method::HEAD, &url, None).await;
    assert_eq!((status, body.as_str()), (200, ""), "HEAD has no body");
    assert_eq!(
        send(Method::GET, &format!("{url}/start"), None).await.0,
        200
    );
    assert_eq!(
        send(
            Method::GET,
            &format!("{url}/log"),
            Some("just a note".into())
        )
        .await
        .0,
        200
    );
    assert_eq!(
        get(&server, &id).await["state"],
        "up",
        "start and log change nothing"
    );
    assert_eq!(
        send(Method::POST, &format!("{url}/fail"), None).await.0,
        200
    );
    let m = get(&server, &id).await;
    assert_eq!(m["state"], "down", "fail is down at once");
    assert_eq!(m["heartbeat"]["reason"], "the job reported a failure");
    assert_eq!(send(Method::GET, &format!("{url}/0"), None).await.0, 200);
    assert_eq!(get(&server, &id).await["state"], "up");
    assert_eq!(send(Method::GET, &format!("{url}/7"), None).await.0, 200);
    assert_eq!(
        get(&server, &id).await["heartbeat"]["reason"],
        "the job exited with status 7"
    );
    assert_eq!(send(Method::GET, &format!("{url}/255"), None).await.0, 200);

    // Bad forms.
    assert_eq!(
        send(Method::GET, &format!("{url}/256"), None).await,
        (400, "invalid url format".into())
    );
    assert_eq!(
        send(Method::GET, &format!("{url}?rid=not-a-uuid"), None).await,
        (400, "invalid url format".into())
    );
    let unknown = format!("{}/ping/{}", server.url, "0".repeat(40));
    assert_eq!(
        send(Method::GET, &unknown, None).await,
        (404, "not found".into())
    );
    assert_eq!(
        send(Method::GET, &format!("{unknown}/start"), None).await.0,
        404
    );
    assert_eq!(
        send(Method::GET, &format!("{url}/bogus"), None).await.0,
        404
    );
    assert_eq!(send(Method::DELETE, &url, None).await.0, 405);

    // Run ids pair start and finish; the duration is recorded.
    let rid = "3f1e5a2c-8d4b-4c1e-9a6f-2b7d8e9f0a1b";
    assert_eq!(
        send(Method::GET, &format!("{url}/start?rid={rid}"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        send(Method::GET, &format!("{url}?rid={rid}"), None).await.0,
        200
    );

    // Bodies over 100 kB are kept up to the limit and marked.
    let big = "x".repeat(150 * 1024);
    assert_eq!(send(Method::POST, &url, Some(big)).await.0, 200);

    let (status, log) = server
        .get(&format!("/api/v1/monitors/{id}/pings?limit=3"))
        .await;
    assert_eq!(status, 200, "{log}");
    let pings = log["pings"].as_array().unwrap();
    assert_eq!(pings.len(), 3);
    assert_eq!(pings[0]["body_truncated"], true);
    assert_eq!(pings[0]["body"].as_str().unwrap().len(), 100 * 1024);
    assert_eq!(pings[1]["rid"], rid);
    assert_eq!(pings[1]["kind"], "success");
    assert!(pings[1]["duration_ms"].is_u64(), "{}", pings[1]);
    assert_eq!(pings[1]["source_ip"], "127.0.0.1");
    assert!(pings[1]["user_agent"].is_string());
    let (_, all) = server
        .get(&format!("/api/v1/monitors/{id}/pings?limit=1000"))
        .await;
    let kinds: Vec<&str> = all["pings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"log") && kinds.contains(&"start") && kinds.contains(&"fail"),
        "{kinds:?}"
    );
    let logged = all["pings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "log")
        .unwrap();
    assert_eq!(logged["body"], "just a note");

    // Slug URLs, and creation on first ping.
    let slug_url = get(&server, &id).await["heartbeat"]["slug_ping_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(slug_url.ends_with("/worker"), "{slug_url}");
    assert_eq!(send(Method::GET, &slug_url, None).await, (200, "OK".into()));
    assert_eq!(
        send(Method::GET, &format!("{slug_url}/fail"), None).await.0,
        200
    );
    assert_eq!(get(&server, &id).await["state"], "down");
    let key_base = slug_url.trim_end_matches("/worker").to_owned();
    assert_eq!(
        send(Method::GET, &format!("{key_base}/nightly-backup"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        send(
            Method::GET,
            &format!("{key_base}/nightly-backup?create=1"),
            None
        )
        .await,
        (201, "Created".into())
    );
    assert_eq!(
        send(
            Method::GET,
            &format!("{key_base}/nightly-backup?create=1"),
            None
        )
        .await,
        (200, "OK".into())
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    let created = list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "nightly-backup")
        .expect("auto-created");
    assert_eq!(created["type"], "heartbeat");
    assert_eq!(created["state"], "up");
    assert_eq!(created["source"], "ping", "marked as made by a ping");
    let wrong_key = format!("{}/ping/{}/nightly-backup", server.url, "f".repeat(32));
    assert_eq!(send(Method::GET, &wrong_key, None).await.0, 404);

    // The Uptime Kuma push form.
    let kuma = format!("{}/api/push/{token}", server.url);
    let (status, body) = send(
        Method::GET,
        &format!("{kuma}?status=up&msg=OK&ping=12"),
        None,
    )
    .await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (200, json!({"ok": true}))
    );
    assert_eq!(get(&server, &id).await["state"], "up");
    assert_eq!(
        send(
            Method::GET,
            &format!("{kuma}?status=down&msg=disk%20full"),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(get(&server, &id).await["state"], "down");
    let (status, body) = send(Method::GET, &format!("{}/api/push/nope", server.url), None).await;
    assert_eq!(status, 404);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["ok"], false);
}
both_backends!(ping_protocol, ping_protocol);

async fn post_only_monitors_ignore_get(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let m = create(
        &server,
        json!({"name": "post-only", "type": "heartbeat", "every": "1h", "methods": ["POST"]}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let url = m["ping_url"].as_str().unwrap().to_owned();
    // A link preview GETs the URL: answered, logged, but it does not count.
    assert_eq!(send(reqwest::Method::GET, &url, None).await.0, 200);
    assert_eq!(get(&server, &id).await["state"], "pending");
    assert_eq!(send(reqwest::Method::POST, &url, None).await.0, 200);
    assert_eq!(get(&server, &id).await["state"], "up");
    let (_, log) = server.get(&format!("/api/v1/monitors/{id}/pings")).await;
    let kinds: Vec<&str> = log["pings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["success", "ignored"]);
}
both_backends!(post_only_monitors_ignore_get, post_only_monitors_ignore_get);

async fn missed_deadline_turns_down_within_a_second(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let m = create(
        &server,
        json!({"name": "fast", "type": "heartbeat", "every": "1s", "grace": "1s"}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let url = m["ping_url"].as_str().unwrap().to_owned();
    assert_eq!(send(reqwest::Method::GET, &url, None).await.0, 200);
    let m = get(&server, &id).await;
    let deadline: jiff::Timestamp = m["heartbeat"]["deadline"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let last: jiff::Timestamp = m["heartbeat"]["last_ping_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        deadline.as_millisecond() - last.as_millisecond(),
        2000,
        "every + grace"
    );
    let m = wait_for(
        "down after every + grace",
        Duration::from_secs(10),
        || async {
            let m = get(&server, &id).await;
            (m["state"] == "down").then_some(m)
        },
    )
    .await;
    let changed: jiff::Timestamp = m["state_changed_at"].as_str().unwrap().parse().unwrap();
    let late = changed.as_millisecond() - deadline.as_millisecond();
    assert!(
        (0..1000).contains(&late),
        "turned down {late} ms after its deadline"
    );
    assert!(
        m["heartbeat"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("no ping since"),
        "{m}"
    );
    // In the UI: the cause in words on the monitor's page, in its open-incident banner
    // and on the incident's page, with the time of the last ping.
    let mut web = crate::ui::Web::new(&server);
    web.sign_in(crate::ui::OWNER, crate::ui::PASSWORD).await;
    let incident = wait_for("the incident", Duration::from_secs(10), || async {
        let (_, list) = server.get("/api/v1/incidents?state=open").await;
        list["incidents"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let page = web.get(&format!("/monitors/{id}")).await.body;
    let reason = page
        .split("id=\"reason\">")
        .nth(1)
        .and_then(|r| r.split("</p>").next())
        .unwrap_or_default();
    // The last ping's time without its milliseconds, as the cause names it: in the
    // viewer's zone (UTC until the page script has said which), the date only when it
    // is not today there.
    let last_s = jiff::Timestamp::from_second(last.as_second()).unwrap();
    let local_of = |zone: &str| {
        let tz = jiff::tz::TimeZone::get(zone).unwrap();
        let (at, today) = (
            last_s.to_zoned(tz.clone()),
            jiff::Timestamp::now().to_zoned(tz),
        );
        let pattern = if at.date() == today.date() {
            "%H:%M:%S %Z"
        } else {
            "%Y-%m-%d %H:%M:%S %Z"
        };
        at.strftime(pattern).to_string()
    };
    let time_tag = |local: &str| {
        format!(
            "<time datetime=\"{}\" data-at=\"{local}\" title=\"{}\">{local}, ",
            last_s.strftime("%Y-%m-%dT%H:%M:%SZ"),
            last_s.strftime("%Y-%m-%d %H:%M:%S UTC")
        )
    };
    assert!(
        reason.starts_with(&format!("no ping since {}", time_tag(&local_of("UTC")))),
        "{page}"
    );
    // The page script tells the server the browser's zone in a cookie.
    web.cookies
        .push(("vigilmon_tz".into(), "Asia/Kolkata".into()));
    let page = web.get(&format!("/monitors/{id}")).await.body;
    let local = local_of("Asia/Kolkata");
    assert!(local.ends_with(" IST"), "{local}");
    assert!(page.contains(&time_tag(&local)), "{local}: {page}");
    let banner = page
        .split("id=\"open-incident\">")
        .nth(1)
        .and_then(|b| b.split("</p>").next())
        .unwrap_or_default();
    assert!(banner.contains(": no ping since "), "{page}");
    let one = web.get(&format!("/incidents/{incident}")).await.body;
    assert!(one.contains("<h1>fast: no ping since "), "{one}");
}
both_backends!(missed_deadline, missed_deadline_turns_down_within_a_second);

/// Flags for a server whose ping URLs are not rate limited (a config file with
/// `server.ping_rate_limit: 0`), for tests that hammer one URL on purpose.
fn unlimited_pings(store: &StoreFixture) -> Vec<String> {
    let path = store.dir.path().join("unlimited.yaml");
    std::fs::write(&path, "server:\n  ping_rate_limit: 0\n").expect("config file");
    vec!["--config".into(), path.display().to_string()]
}

async fn sigkill_loses_no_acknowledged_ping(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &unlimited_pings(&store));
    let m = create(
        &server,
        json!({"name": "durable", "type": "heartbeat", "every": "1h"}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let url = m["ping_url"].as_str().unwrap().to_owned();

    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (acked, stop, url) = (acked.clone(), stop.clone(), url.clone());
        clients.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                match c.get(&url).send().await {
                    Ok(r) => {
                        let ok = r.status() == 200;
                        if ok && r.text().await.is_ok_and(|t| t == "OK") {
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    // Let acknowledgements pile up, then kill the server mid-stream.
    wait_for("pings acknowledged", Duration::from_secs(30), || async {
        (acked.load(Ordering::SeqCst) >= 500).then_some(())
    })
    .await;
    let pid = server.pid();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        let _ = c.await;
    }
    let acked = acked.load(Ordering::SeqCst);
    let token = server.token.clone();
    drop(server);

    let server = Server::start_with_token(bin(), &store, &[], token);
    let m = get(&server, &id).await;
    let stored = m["heartbeat"]["pings_total"].as_u64().unwrap();
    assert!(
        stored >= acked,
        "{acked} pings were answered OK but only {stored} are stored"
    );
    eprintln!("acknowledged {acked}, stored {stored}");
}
both_backends!(sigkill_durability, sigkill_loses_no_acknowledged_ping);

/// A runaway client is cut off per check (429 with Retry-After), other checks are
/// not, and what was refused is not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_urls_are_rate_limited_per_check() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let path = store.dir.path().join("limit.yaml");
    std::fs::write(&path, "server:\n  ping_rate_limit: 5\n").expect("config file");
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let a = create(
        &server,
        json!({"name": "a", "type": "heartbeat", "every": "1h"}),
    )
    .await;
    let b = create(
        &server,
        json!({"name": "b", "type": "heartbeat", "every": "1h"}),
    )
    .await;
    let url_a = a["ping_url"].as_str().unwrap().to_owned();
    for i in 0..5 {
        let path = if i % 2 == 0 {
            url_a.clone()
        } else {
            format!("{url_a}/start")
        };
        assert_eq!(
            send(reqwest::Method::GET, &path, None).await,
            (200, "OK".into())
        );
    }
    let r = reqwest::get(&url_a).await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(r.text().await.unwrap(), "rate limited");
    // another check has its own budget
    let url_b = b["ping_url"].as_str().unwrap();
    assert_eq!(
        send(reqwest::Method::GET, url_b, None).await,
        (200, "OK".into())
    );
    // the Uptime Kuma form of the same token shares the check's budget, and says so in JSON
    let token = url_a.rsplit('/').next().unwrap();
    let r = reqwest::get(format!("{}/api/push/{token}?status=up", server.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.json::<Value>().await.unwrap()["ok"], false);
    // five pings stored, not more
    let id = a["id"].as_str().unwrap();
    let m = get(&server, id).await;
    assert_eq!(m["heartbeat"]["pings_total"], 5, "{m}");
}

/// Pings for what cannot exist or does not exist keep nothing: a 60 kB token, a
/// token of the wrong alphabet, an unknown token, a wrong ping key and an unknown slug
/// are all `404` — many times over, never `429` (no budget is kept for them) — and
/// the known monitor's budget is untouched by them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_for_unknown_targets_keep_no_state() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let path = store.dir.path().join("limit.yaml");
    std::fs::write(
        &path,
        "server:
  ping_rate_limit: 3
",
    )
    .expect("config file");
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let m = create(
        &server,
        json!({"name": "known", "type": "heartbeat", "every": "1h"}),
    )
    .await;
    let url = m["ping_url"].as_str().unwrap().to_owned();
    let slug_url = m["heartbeat"]["slug_ping_url"].as_str().unwrap().to_owned();
    let (key_prefix, _) = slug_url.rsplit_once('/').unwrap();
    let (base, _) = key_prefix.rsplit_once('/').unwrap();
    let huge = "x".repeat(60_000);
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let wrong_key = format!("{base}/{}/known", "f".repeat(32));
    for target in [
        format!("{}/ping/{huge}", server.url),
        format!("{}/ping/not%20a%20token%21%21%21%21%21%21", server.url),
        format!("{}/ping/{unknown}", server.url),
        format!("{}/api/push/{unknown}?status=up", server.url),
        wrong_key,
        format!("{key_prefix}/no-such-slug"),
    ] {
        for _ in 0..10 {
            let r = reqwest::get(&target).await.unwrap();
            assert_eq!(r.status(), 404, "{}", &target[..target.len().min(120)]);
        }
    }
    // The known monitor still has its whole budget.
    for _ in 0..3 {
        assert_eq!(
            send(reqwest::Method::GET, &url, None).await,
            (200, "OK".into())
        );
    }
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 429);
    assert_eq!(
        reqwest::get(&slug_url).await.unwrap().status(),
        429,
        "its slug URL shares the monitor's budget"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_style_shell_loop_with_curl() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let server = Server::start(bin(), &store, &[]);
    let m = create(
        &server,
        json!({"name": "cron-job", "type": "heartbeat", "every": "1s", "grace": "1s"}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let url = m["ping_url"].as_str().unwrap().to_owned();
    // What a crontab line does: run the job, then report its exit status.
    let script = format!(
        "for i in 1 2 3; do sh -c 'exit 0'; curl -fsS -m 5 --retry 3 \"{url}/$?\" >/dev/null || exit 1; done"
    );
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let m = get(&server, &id).await;
    assert_eq!(m["state"], "up");
    assert_eq!(m["heartbeat"]["pings_total"], 3);
    // The "cron" stops: down after every + grace.
    wait_for(
        "down after the loop stopped",
        Duration::from_secs(10),
        || async { (get(&server, &id).await["state"] == "down").then_some(()) },
    )
    .await;
}

/// The founding story's worker: an RQ worker (Python, real Redis on 127.0.0.1:6379)
/// pings the monitor after each job through an `on_success` callback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rq_worker_pings_after_each_job() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let server = Server::start(bin(), &store, &[]);
    let m = create(
        &server,
        json!({"name": "redis-queue-worker", "type": "heartbeat", "every": "1s", "grace": "5s"}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let url = m["ping_url"].as_str().unwrap().to_owned();
    let dir = store.dir.path();
    std::fs::write(
        dir.join("vigil_jobs.py"),
        r#"
import os, urllib.request

def add(a, b):
    return a + b

def ping_vigilmon(job, connection, result, *args, **kwargs):
    urllib.request.urlopen(os.environ["VIGILMON_PING_URL"], timeout=5).read()
"#,
    )
    .unwrap();
    let queue = format!("vigilmon-test-{}", uuid::Uuid::new_v4().simple());
    let script = format!(
        r#"
import sys
from redis import Redis
from rq import Queue, Callback, Worker
import vigil_jobs
conn = Redis(host="127.0.0.1", port=6379)
q = Queue("{queue}", connection=conn)
for i in range(3):
    q.enqueue(vigil_jobs.add, i, 1, on_success=Callback(vigil_jobs.ping_vigilmon))
w = Worker([q], connection=conn)
w.work(burst=True)
q.delete(delete_jobs=True)
"#
    );
    let worker = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env("PYTHONPATH", dir)
        .env("VIGILMON_PING_URL", &url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    // Up once the three jobs have pinged — seen while it is so, not after the worker's
    // own shutdown (which may outlast the grace on a busy machine).
    wait_for("three pings, up", Duration::from_secs(60), || async {
        let m = get(&server, &id).await;
        (m["heartbeat"]["pings_total"] == 3 && m["state"] == "up").then_some(())
    })
    .await;
    let out = worker.wait_with_output().await.expect("python3");
    assert!(
        out.status.success(),
        "rq worker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = get(&server, &id).await;
    assert_eq!(m["heartbeat"]["pings_total"], 3, "one ping per job");
    // The worker has stopped: silence past every + grace turns the monitor down.
    wait_for(
        "down after the worker stopped",
        Duration::from_secs(20),
        || async { (get(&server, &id).await["state"] == "down").then_some(()) },
    )
    .await;
}

async fn restart_grants_one_grace_period(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let mut server = Server::start(bin(), &store, &[]);
    let m = create(
        &server,
        json!({"name": "nightly", "type": "heartbeat", "every": "1s", "grace": "3s"}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let url = m["ping_url"].as_str().unwrap().to_owned();
    assert_eq!(send(reqwest::Method::GET, &url, None).await.0, 200);
    assert_eq!(server.terminate(), Some(0));
    let token = server.token.clone();
    drop(server);
    // Stay down past the deadline (every + grace = 4 s after the ping).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let started = jiff::Timestamp::now();
    let server = Server::start_with_token(bin(), &store, &[], token);
    let m = get(&server, &id).await;
    assert_eq!(m["state"], "up", "our outage is not theirs: {m}");
    let deadline: jiff::Timestamp = m["heartbeat"]["deadline"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        deadline > started,
        "a fresh grace period from the restart: {deadline} vs {started}"
    );
    wait_for(
        "down one grace period after restart",
        Duration::from_secs(10),
        || async { (get(&server, &id).await["state"] == "down").then_some(()) },
    )
    .await;
}
both_backends!(restart_grace, restart_grants_one_grace_period);

/// The workspace's ping key pings (and with `?create=1` creates) any monitor: a read
/// token never sees it, a write token does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_tokens_never_see_the_ping_key() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let server = Server::start(bin(), &store, &[]);
    let m = create(
        &server,
        json!({"name": "nightly", "type": "heartbeat", "every": "1d"}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_owned();
    let slug_url = m["heartbeat"]["slug_ping_url"]
        .as_str()
        .expect("a write token sees the slug URL")
        .to_owned();
    let key = slug_url.rsplit('/').nth(1).unwrap().to_owned();
    let (status, read) = server
        .post(
            "/api/v1/tokens",
            &json!({"name": "reader", "scope": "read"}),
        )
        .await;
    assert_eq!(status, 201, "{read}");
    let read_token = read["token"].as_str().unwrap();
    for path in [
        format!("/api/v1/monitors/{id}"),
        "/api/v1/monitors".to_owned(),
    ] {
        let r = server
            .client
            .get(format!("{}{path}", server.url))
            .bearer_auth(read_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        assert!(
            !text.contains(&key),
            "{path} shows the ping key to a read token: {text}"
        );
        assert!(!text.contains("slug_ping_url"), "{text}");
        assert!(
            text.contains("\"ping_url\""),
            "the monitor's own ping URL stays: {text}"
        );
    }
}

/// `?create=1` makes at most `server.ping_auto_create_limit` monitors: past it a new
/// slug is refused with `403` and nothing is created, existing slugs still ping, a
/// monitor made through the API never counts, deleting an auto-created one frees its
/// place, and a restart forgets nothing (the count is the store's).
async fn auto_create_is_capped(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let path = store.dir.path().join("cap.yaml");
    std::fs::write(&path, "server:\n  ping_auto_create_limit: 2\n").expect("config file");
    let flags = vec!["--config".into(), path.display().to_string()];
    let mut server = Server::start(bin(), &store, &flags);
    let manual = create(
        &server,
        json!({"name": "manual", "type": "heartbeat", "every": "1d"}),
    )
    .await;
    assert_eq!(manual["source"], "api");
    let slug_url = manual["heartbeat"]["slug_ping_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = slug_url.rsplit('/').nth(1).unwrap().to_owned();
    let ping = |server: &Server, slug: &str| format!("{}/ping/{key}/{slug}?create=1", server.url);
    assert_eq!(
        send(Method::POST, &ping(&server, "job-a"), None).await.0,
        201
    );
    assert_eq!(
        send(Method::POST, &ping(&server, "job-b"), None).await.0,
        201
    );
    assert_eq!(
        send(Method::POST, &ping(&server, "job-c"), None).await,
        (403, "auto-create limit reached".into())
    );
    assert_eq!(
        send(Method::POST, &ping(&server, "job-a"), None).await,
        (200, "OK".into()),
        "a monitor that exists still pings"
    );
    let names = |list: Value| -> Vec<(String, String)> {
        list["monitors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    m["source"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (_, list) = server.get("/api/v1/monitors").await;
    let pair = |n: &str, s: &str| (n.to_owned(), s.to_owned());
    assert_eq!(
        names(list.clone()),
        vec![
            pair("job-a", "ping"),
            pair("job-b", "ping"),
            pair("manual", "api")
        ],
        "the refused slug created nothing"
    );

    // Deleting an auto-created monitor frees its place.
    let job_a = list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "job-a")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = server
        .api(Method::DELETE, &format!("/api/v1/monitors/{job_a}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        send(Method::POST, &ping(&server, "job-c"), None).await.0,
        201
    );

    // The count survives a restart.
    assert_eq!(server.terminate(), Some(0));
    let token = server.token.clone();
    drop(server);
    let server = Server::start_with_token(bin(), &store, &flags, token);
    assert_eq!(
        send(Method::POST, &ping(&server, "job-d"), None).await.0,
        403
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    assert_eq!(
        names(list),
        vec![
            pair("job-b", "ping"),
            pair("job-c", "ping"),
            pair("manual", "api")
        ]
    );
}
both_backends!(auto_create_cap, auto_create_is_capped);

/// `server.ping_auto_create_limit: 0` turns auto-create off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_create_can_be_turned_off() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let path = store.dir.path().join("off.yaml");
    std::fs::write(&path, "server:\n  ping_auto_create_limit: 0\n").expect("config file");
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let m = create(
        &server,
        json!({"name": "manual", "type": "heartbeat", "every": "1d"}),
    )
    .await;
    let slug_url = m["heartbeat"]["slug_ping_url"].as_str().unwrap().to_owned();
    assert_eq!(send(Method::GET, &slug_url, None).await, (200, "OK".into()));
    let new = slug_url.replace("/manual", "/other?create=1");
    assert_eq!(
        send(Method::GET, &new, None).await,
        (403, "auto-create limit reached".into())
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    assert_eq!(list["monitors"].as_array().unwrap().len(), 1, "{list}");
}

/// A heartbeat given a ping token through the API answers at it; a token another
/// monitor has is refused by name, on create and on change, and nothing is stored.
async fn a_given_token_is_the_ping_url(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let uuid = "6c1e2d3f-4a5b-4c6d-8e7f-8091a2b3c4d5";
    let m = create(
        &server,
        json!({"name": "moved", "type": "heartbeat", "every": "1h", "token": uuid}),
    )
    .await;
    assert_eq!(
        m["ping_url"].as_str().unwrap(),
        format!("{}/ping/{uuid}", server.url)
    );
    assert_eq!(
        send(Method::GET, &format!("{}/ping/{uuid}", server.url), None).await,
        (200, "OK".into())
    );
    let (status, body) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "copy", "type": "heartbeat", "token": uuid}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["field"], "token");
    assert_eq!(
        body["error"]["message"],
        "another heartbeat monitor has this ping token"
    );
    let other = create(&server, json!({"name": "other", "type": "heartbeat"})).await;
    let id = other["id"].as_str().unwrap();
    let r = server
        .api(Method::PATCH, &format!("/api/v1/monitors/{id}"))
        .json(&json!({"token": uuid}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let (_, list) = server.get("/api/v1/monitors").await;
    assert_eq!(list["monitors"].as_array().unwrap().len(), 2, "{list}");
    let (_, kept) = server.get(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(
        kept["ping_url"], other["ping_url"],
        "the refused change changed nothing"
    );
    // A token that cannot be one is refused by field.
    let (status, body) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "short", "type": "heartbeat", "token": "short"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "token");
}
both_backends!(given_token, a_given_token_is_the_ping_url);
