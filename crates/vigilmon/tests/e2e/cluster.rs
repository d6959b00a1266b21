//! Several nodes on one PostgreSQL database: each registers itself, exactly one holds
//! the coordinator lease, and when it dies another takes over within the lease TTL.

use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::{Backend, Server, StoreFixture, wait_for};

use crate::bin;

/// Starts a node on `store` with a 3 s lease.
fn node(store: &StoreFixture) -> Server {
    let path = store.dir.path().join("cluster.yaml");
    std::fs::write(&path, "cluster:\n  lease_ttl: 3s\n").unwrap();
    Server::start(
        bin(),
        store,
        &["--config".into(), path.display().to_string()],
    )
}

async fn nodes(server: &Server) -> Value {
    let (status, v) = server.get("/api/v1/nodes").await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The id of the coordinator in a node list, if any.
fn coordinator(v: &Value) -> Option<String> {
    v["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["coordinator"] == true)
        .and_then(|n| n["id"].as_str())
        .map(str::to_owned)
}

fn this_node(v: &Value) -> String {
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["this_node"] == true)
        .and_then(|n| n["id"].as_str())
        .unwrap_or_else(|| panic!("no this_node in {v}"))
        .to_owned()
}

/// The node list as `server` gives it, once it lists two nodes (each registers as it
/// starts, just after printing its address).
async fn both_listed(server: &Server) -> Value {
    wait_for("both nodes are listed", Duration::from_secs(10), || async {
        let v = nodes(server).await;
        (v["nodes"].as_array().map(Vec::len) == Some(2)).then_some(v)
    })
    .await
}

/// The node list as `server` gives it, once it names `id` as the coordinator.
async fn coordinates(server: &Server, id: &str) -> Value {
    wait_for("the node coordinates", Duration::from_secs(10), || async {
        let v = nodes(server).await;
        (coordinator(&v).as_deref() == Some(id)).then_some(v)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_coordinator_and_a_takeover_within_the_lease() {
    let store = StoreFixture::new(Backend::Postgres).await;
    let mut first = node(&store);
    let second = node(&store);

    // Both nodes are listed (once both have started), alive, by either; the first one
    // coordinates.
    let seen_by_first = both_listed(&first).await;
    let seen_by_second = both_listed(&second).await;
    let first_id = this_node(&seen_by_first);
    let second_id = this_node(&seen_by_second);
    assert_ne!(first_id, second_id);
    for v in [&seen_by_first, &seen_by_second] {
        let list = v["nodes"].as_array().unwrap();
        assert_eq!(list.len(), 2, "{v}");
        assert!(list.iter().all(|n| n["alive"] == true), "{v}");
        assert_eq!(
            list.iter().filter(|n| n["coordinator"] == true).count(),
            1,
            "{v}"
        );
        assert_eq!(coordinator(v).as_deref(), Some(first_id.as_str()), "{v}");
        assert_eq!(list[0]["version"], env!("CARGO_PKG_VERSION"));
    }
    let term = seen_by_first["term"].as_i64().unwrap();
    let metrics = |server: &Server| {
        let url = format!("{}/metrics", server.url);
        let (client, token) = (server.client.clone(), server.token.clone());
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(metrics(&first).await.contains("vigilmon_coordinator 1"));
    assert!(!metrics(&second).await.contains("vigilmon_coordinator 1"));

    // The coordinator dies without a word: the other takes the lease over within the
    // lease (3 s) and two seconds, with the next term.
    let killed = Instant::now();
    first.kill();
    let v = coordinates(&second, &second_id).await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(5), "took over after {took:?}");
    assert_eq!(v["term"].as_i64().unwrap(), term + 1, "{v}");
    assert!(metrics(&second).await.contains("vigilmon_coordinator 1"));
    // The dead node is still listed, no longer alive once its TTL has passed.
    let v = wait_for(
        "the dead node is not alive",
        Duration::from_secs(10),
        || async {
            let v = nodes(&second).await;
            v["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["id"] == first_id.as_str() && n["alive"] == false)
                .then_some(v)
        },
    )
    .await;
    assert_eq!(v["nodes"].as_array().unwrap().len(), 2, "{v}");
}

/// A node that stops cleanly hands the lease over at once and leaves the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_hands_the_lease_over_at_once() {
    let store = StoreFixture::new(Backend::Postgres).await;
    let mut first = node(&store);
    let second = node(&store);
    let second_id = this_node(&both_listed(&second).await);
    let stopped = Instant::now();
    assert_eq!(first.terminate(), Some(0));
    let v = coordinates(&second, &second_id).await;
    // The next renewal round (a third of the TTL) takes the released lease.
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopped.elapsed()
    );
    assert_eq!(
        v["nodes"].as_array().unwrap().len(),
        1,
        "the stopped node left: {v}"
    );
}

/// Sign-in and CSRF work whichever node answers: sessions and their form tokens live
/// in the database, not in a node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_on_one_node_works_on_another() {
    let store = StoreFixture::new(Backend::Postgres).await;
    let first = node(&store);
    let second = node(&store);
    let (status, m) = first
        .post(
            "/api/v1/monitors",
            &serde_json::json!({"name": "api", "type": "tcp", "host": "127.0.0.1", "port": 9, "interval": "1h"}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();

    // Every node asks for the same first-run setup code, whichever printed it.
    assert!(first.setup_code.is_some());
    assert_eq!(first.setup_code, second.setup_code);
    let mut web = crate::ui::Web::new(&first);
    let csrf = web
        .sign_in("owner@example.com", "a long enough password")
        .await;
    assert!(!csrf.is_empty());
    // The same browser, now answered by the other node.
    web.base = second.url.clone();
    let page = web.get(&format!("/monitors/{id}")).await;
    assert_eq!(
        page.status, 200,
        "signed in on the other node: {}",
        page.location
    );
    let r = web
        .post(
            &format!("/monitors/{id}/pause"),
            &[("_csrf", csrf.as_str())],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (_, m) = first.get(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(m["state"], "paused", "{m}");
    // A form token that is not the session's is refused there too.
    let r = web
        .post(
            &format!("/monitors/{id}/resume"),
            &[("_csrf", "forged")],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

/// Starts a node with `config` (YAML) added to a 3 s lease.
fn node_with(store: &StoreFixture, config: &str) -> Server {
    let path = store.dir.path().join("cluster-config.yaml");
    std::fs::write(&path, format!("cluster:\n  lease_ttl: 3s\n{config}")).unwrap();
    Server::start(
        bin(),
        store,
        &["--config".into(), path.display().to_string()],
    )
}

/// Starts `n` nodes with `config` and waits until the first lists them all.
async fn start_nodes(store: &StoreFixture, config: &str, n: usize) -> Vec<Server> {
    let nodes: Vec<Server> = (0..n).map(|_| node_with(store, config)).collect();
    wait_for("every node listed", Duration::from_secs(10), || async {
        let v = self::nodes(&nodes[0]).await;
        (v["nodes"].as_array().map(Vec::len) == Some(n)).then_some(())
    })
    .await;
    nodes
}

/// The nodes that do not coordinate, as `nodes[0]` sees the cluster.
async fn followers(nodes: &[Server]) -> Vec<&Server> {
    let coordinator_id = wait_for("a coordinator", Duration::from_secs(10), || async {
        coordinator(&self::nodes(&nodes[0]).await)
    })
    .await;
    let mut followers = Vec::new();
    for n in nodes {
        if this_node(&self::nodes(n).await) != coordinator_id {
            followers.push(n);
        }
    }
    followers
}

async fn check_now(server: &Server, id: &str) -> Value {
    let (status, body) = server
        .post(
            &format!("/api/v1/monitors/{id}/check-now"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Three nodes on one database behave as one monitor: the probe's checks are split
/// (not run three times), one outage opens one incident and sends one trigger and one
/// recovery, and checks, pings and acknowledgements taken by any node reach the
/// coordinator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_outage_one_incident_one_trigger() {
    let store = StoreFixture::new(Backend::Postgres).await;
    let receiver = test_support::Receiver::start().await;
    let target = test_support::Target::start().await;
    let config = format!(
        r#"channels:
  - {{ name: hook, type: webhook, url: "{r}/hook" }}
policies:
  - {{ name: page, channels: [hook], notify_on: [down, recovered] }}
monitors:
  - {{ name: api, type: http, url: "{t}/health", interval: 10s, timeout: 2s, policy: page }}
"#,
        r = receiver.url,
        t = target.url
    );
    let nodes = start_nodes(&store, &config, 3).await;
    let followers = followers(&nodes).await;
    assert_eq!(followers.len(), 2);
    let (_, list) = nodes[0].get("/api/v1/monitors").await;
    let id = list["monitors"][0]["id"].as_str().unwrap().to_owned();

    // One node checks the monitor: about one check per interval, not three. (Each
    // node takes the split up once it sees the others, within a third of the TTL.)
    wait_for("the monitor is up", Duration::from_secs(20), || async {
        let (_, m) = nodes[2].get(&format!("/api/v1/monitors/{id}")).await;
        (m["state"] == "up").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = target.hits();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let checks = target.hits() - before;
    assert!(
        (1..=3).contains(&checks),
        "{checks} checks in 20 s at a 10 s interval on 3 nodes"
    );

    // The outage, checked now on a node that does not coordinate: its results reach
    // the coordinator, which answers with the states they led to.
    target.set_status(503);
    check_now(followers[0], &id).await;
    let second = check_now(followers[0], &id).await;
    assert_eq!(second["state"], "down", "{second}");
    wait_for("the trigger", Duration::from_secs(10), || async {
        (!receiver.on("/hook").is_empty()).then_some(())
    })
    .await;
    // More failing checks (a scheduled one, and one on the other follower) open
    // nothing new and send nothing again.
    check_now(followers[1], &id).await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    let sent: Vec<Value> = receiver
        .on("/hook")
        .iter()
        .map(test_support::Received::json)
        .collect();
    assert_eq!(sent.len(), 1, "one trigger: {sent:?}");
    for n in &nodes {
        let (_, list) = n.get("/api/v1/incidents").await;
        assert_eq!(
            list["incidents"].as_array().unwrap().len(),
            1,
            "one incident, as every node sees it: {list}"
        );
    }
    let (_, list) = nodes[1].get("/api/v1/incidents").await;
    let incident = list["incidents"][0]["id"].as_str().unwrap().to_owned();

    // Acknowledged on a node that does not coordinate: the coordinator applies it.
    let (status, body) = followers[1]
        .post(
            &format!("/api/v1/incidents/{incident}/acknowledge"),
            &serde_json::json!({}),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    wait_for("acknowledged", Duration::from_secs(10), || async {
        let (_, i) = nodes[0].get(&format!("/api/v1/incidents/{incident}")).await;
        (i["state"] == "acknowledged").then_some(())
    })
    .await;

    // Recovery: one recovery notice.
    target.set_status(200);
    check_now(followers[1], &id).await;
    wait_for("the recovery", Duration::from_secs(20), || async {
        (receiver.on("/hook").len() >= 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.on("/hook").len(), 2, "one trigger, one recovery");

    // A heartbeat made on one follower and pinged on the other: the ping reaches the
    // coordinator's heartbeat engine.
    let (status, hb) = followers[0]
        .post(
            "/api/v1/monitors",
            &serde_json::json!({"name": "nightly", "type": "heartbeat", "every": "1h", "grace": "5m"}),
        )
        .await;
    assert_eq!(status, 201, "{hb}");
    let hb_id = hb["id"].as_str().unwrap().to_owned();
    let ping_url = hb["ping_url"].as_str().unwrap().to_owned();
    let path = ping_url.split_once("/ping/").unwrap().1;
    let url = format!("{}/ping/{path}", followers[1].url);
    let answer = wait_for("the ping is taken", Duration::from_secs(10), || async {
        let r = reqwest::get(&url).await.unwrap();
        (r.status() == 200).then_some(r.text().await.unwrap())
    })
    .await;
    assert_eq!(answer.trim(), "OK");
    wait_for("the heartbeat is up", Duration::from_secs(10), || async {
        let (_, m) = nodes[0].get(&format!("/api/v1/monitors/{hb_id}")).await;
        (m["state"] == "up").then_some(())
    })
    .await;
    let (_, pings) = nodes[2]
        .get(&format!("/api/v1/monitors/{hb_id}/pings"))
        .await;
    assert_eq!(pings["pings"].as_array().unwrap().len(), 1, "{pings}");
}

/// Sends a signal to a process (`STOP`, `CONT`).
fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// The node (index) that coordinates, as `nodes[from]` sees it.
async fn coordinator_index(nodes: &[Server], from: usize) -> usize {
    let id = wait_for("a coordinator", Duration::from_secs(10), || async {
        coordinator(&self::nodes(&nodes[from]).await)
    })
    .await;
    for (i, n) in nodes.iter().enumerate() {
        if this_node(&self::nodes(n).await) == id {
            return i;
        }
    }
    panic!("no node is {id}");
}

/// Creates a heartbeat monitor through `server` and waits until every node in `nodes`
/// takes its pings; returns its id and the ping path (`/ping/<token>`).
async fn heartbeat_on_every_node(
    server: &Server,
    nodes: &[&Server],
    spec: Value,
) -> (String, String) {
    let (status, hb) = server.post("/api/v1/monitors", &spec).await;
    assert_eq!(status, 201, "{hb}");
    let id = hb["id"].as_str().unwrap().to_owned();
    let path = format!(
        "/ping/{}",
        hb["ping_url"]
            .as_str()
            .unwrap()
            .split_once("/ping/")
            .unwrap()
            .1
    );
    for n in nodes {
        let url = format!("{}{path}", n.url);
        wait_for("the node takes pings", Duration::from_secs(10), || async {
            (reqwest::get(&url).await.unwrap().status() == 200).then_some(())
        })
        .await;
    }
    (id, path)
}

/// The coordinator dies while a monitor is failing and pings arrive at every node:
/// another takes over within the lease and two seconds, every ping answered `OK` is
/// stored, the outage stays one incident with one trigger, and it resolves once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_coordinator_loses_no_ping_and_pages_once() {
    let store = StoreFixture::new(Backend::Postgres).await;
    let receiver = test_support::Receiver::start().await;
    let target = test_support::Target::start().await;
    target.set_status(503);
    let config = format!(
        r#"channels:
  - {{ name: hook, type: webhook, url: "{r}/hook" }}
policies:
  - {{ name: page, channels: [hook], notify_on: [down, recovered] }}
monitors:
  - {{ name: api, type: http, url: "{t}/health", interval: 10s, timeout: 2s, policy: page }}
"#,
        r = receiver.url,
        t = target.url
    );
    let mut nodes = start_nodes(&store, &config, 3).await;
    let (_, list) = nodes[0].get("/api/v1/monitors").await;
    let id = list["monitors"][0]["id"].as_str().unwrap().to_owned();
    let all: Vec<&Server> = nodes.iter().collect();
    let (hb_id, ping_path) = heartbeat_on_every_node(
        &nodes[1],
        &all,
        serde_json::json!({"name": "worker", "type": "heartbeat", "every": "1h", "grace": "5m"}),
    )
    .await;
    // The heartbeat's pings so far (one per node, to see it was taken).
    let warmup = all.len();

    // The outage opens its incident and pages once.
    wait_for("the trigger", Duration::from_secs(30), || async {
        (!receiver.on("/hook").is_empty()).then_some(())
    })
    .await;

    // Pings at every node, round robin, counting the `OK`s.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}{ping_path}", n.url))
        .collect();
    let pinger = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let mut ok = 0usize;
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let url = &urls[i % urls.len()];
                i += 1;
                if let Ok(r) = client.get(url).send().await
                    && r.status() == 200
                    && r.text().await.is_ok_and(|t| t.trim() == "OK")
                {
                    ok += 1;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            ok
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    let dead = coordinator_index(&nodes, 0).await;
    let term = self::nodes(&nodes[dead]).await["term"].as_i64().unwrap();
    let killed = Instant::now();
    nodes[dead].kill();
    let survivor = (dead + 1) % 3;
    wait_for("a new coordinator", Duration::from_secs(10), || async {
        let v = self::nodes(&nodes[survivor]).await;
        (v["term"].as_i64() > Some(term) && coordinator(&v).is_some()).then_some(())
    })
    .await;
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "a new coordinator after {took:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered_ok = pinger.await.unwrap();
    assert!(answered_ok > 50, "{answered_ok} pings answered OK");

    // Every ping answered OK is stored (applied by whichever coordinator).
    let (_, pings) = nodes[survivor]
        .get(&format!("/api/v1/monitors/{hb_id}/pings?limit=1000"))
        .await;
    let stored = pings["pings"].as_array().unwrap().len();
    let (_, backlog) = nodes[survivor].get("/api/v1/nodes").await;
    assert_eq!(
        stored,
        answered_ok + warmup,
        "every ping answered OK is stored ({backlog})"
    );

    // Recovery: one recovery, and the outage stayed one incident with one trigger.
    target.set_status(200);
    check_now(&nodes[survivor], &id).await;
    wait_for("the recovery", Duration::from_secs(20), || async {
        (receiver.on("/hook").len() >= 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.on("/hook").len(), 2, "one trigger, one recovery");
    let (_, list) = nodes[survivor].get("/api/v1/incidents").await;
    let incidents = list["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{list}");
    assert_eq!(incidents[0]["state"], "resolved", "{list}");

    // No gap in the monitor's checks longer than the lease and an interval (and a
    // second of slack for the check's own time).
    let (_, results) = nodes[survivor]
        .get(&format!("/api/v1/monitors/{id}/results?limit=1000"))
        .await;
    let mut times: Vec<jiff::Timestamp> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["checked_at"].as_str().unwrap().parse().unwrap())
        .collect();
    times.sort();
    let longest = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap();
    assert!(
        longest <= jiff::SignedDuration::from_secs(14),
        "longest gap between checks {longest:?}"
    );
}

/// A coordinator paused past its lease (SIGSTOP) while another takes over writes
/// nothing when it wakes (SIGCONT): its heartbeat engine still believes no ping came,
/// but the deadline it sees pass is fenced off, and the monitor never goes down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_coordinator_wakes_up_fenced_off() {
    let store = StoreFixture::new(Backend::Postgres).await;
    let receiver = test_support::Receiver::start().await;
    let config = format!(
        r#"channels:
  - {{ name: hook, type: webhook, url: "{r}/hook" }}
policies:
  - {{ name: page, channels: [hook], notify_on: [down, recovered] }}
"#,
        r = receiver.url
    );
    let nodes = start_nodes(&store, &config, 2).await;
    let paused = coordinator_index(&nodes, 0).await;
    let other = 1 - paused;
    let all: Vec<&Server> = nodes.iter().collect();
    let (hb_id, ping_path) = heartbeat_on_every_node(
        &nodes[other],
        &all,
        serde_json::json!({"name": "worker", "type": "heartbeat", "every": "2s", "grace": "1s", "policy": "page"}),
    )
    .await;
    let ping = format!("{}{ping_path}", nodes[other].url);
    let ping_once = || async {
        let r = reqwest::get(&ping).await.unwrap();
        assert_eq!(r.status(), 200);
    };
    ping_once().await;
    let term = self::nodes(&nodes[other]).await["term"].as_i64().unwrap();

    // Paused past its 3 s lease; the other node takes over and keeps getting pings.
    signal(nodes[paused].pid(), "STOP");
    let stopped = Instant::now();
    while stopped.elapsed() < Duration::from_secs(7) {
        ping_once().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let v = self::nodes(&nodes[other]).await;
    assert_eq!(v["term"].as_i64(), Some(term + 1), "{v}");
    assert_eq!(coordinator(&v), Some(this_node(&v)), "{v}");

    // It wakes: its own deadline for the heartbeat has passed (it saw no ping while
    // paused), and it must not write that down.
    signal(nodes[paused].pid(), "CONT");
    for _ in 0..8 {
        ping_once().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let v = self::nodes(&nodes[paused]).await;
    assert_eq!(
        coordinator(&v).as_deref(),
        Some(this_node(&self::nodes(&nodes[other]).await).as_str()),
        "{v}"
    );
    let (_, m) = nodes[other].get(&format!("/api/v1/monitors/{hb_id}")).await;
    assert_eq!(m["state"], "up", "{m}");
    let (_, list) = nodes[other].get("/api/v1/incidents").await;
    assert!(list["incidents"].as_array().unwrap().is_empty(), "{list}");
    assert!(receiver.on("/hook").is_empty(), "nothing was sent");
    let logs = nodes[paused].logs();
    assert!(
        logs.contains("this node no longer coordinates"),
        "the paused node stepped down: {logs}"
    );
}

/// A node that dies is announced through the operational policy, once, naming the
/// takeover when it was the coordinator; it is announced back when it restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_node_is_announced_and_its_return_too() {
    let store = StoreFixture::new(Backend::Postgres).await;
    let receiver = test_support::Receiver::start().await;
    let config = format!(
        r#"alerting:
  region_policy: ops
channels:
  - {{ name: hook, type: webhook, url: "{r}/hook" }}
policies:
  - {{ name: ops, priority: P2, channels: [hook] }}
"#,
        r = receiver.url
    );
    let mut nodes = start_nodes(&store, &config, 3).await;
    // The coordinator dies: the node that takes over announces it, naming the takeover.
    let dead = coordinator_index(&nodes, 0).await;
    let dead_address = nodes[dead].url.clone();
    nodes[dead].kill();
    let sent = wait_for(
        "the node is announced gone",
        Duration::from_secs(15),
        || async {
            let r = receiver.on("/hook");
            (!r.is_empty()).then_some(r)
        },
    )
    .await;
    let gone = sent[0].json();
    let text = gone.to_string();
    assert!(
        text.contains(&dead_address) && text.contains("took over (term"),
        "{text}"
    );
    assert_eq!(gone["event"], "trigger", "{gone}");

    // Restarted at the same address: announced back, and its old row is gone.
    let path = store.dir.path().join("cluster-config.yaml");
    nodes[dead].restart(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let sent = wait_for(
        "the node is announced back",
        Duration::from_secs(15),
        || async {
            let r = receiver.on("/hook");
            (r.len() >= 2).then_some(r)
        },
    )
    .await;
    let back = sent[1].json();
    assert_eq!(back["event"], "resolved", "{back}");
    assert_eq!(
        back["incident"]["dedup_key"], gone["incident"]["dedup_key"],
        "{back}"
    );
    let survivor = (dead + 1) % 3;
    let v = wait_for("three nodes again", Duration::from_secs(10), || async {
        let v = self::nodes(&nodes[survivor]).await;
        (v["nodes"].as_array().map(Vec::len) == Some(3)).then_some(v)
    })
    .await;
    assert!(
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["alive"] == true),
        "{v}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.on("/hook").len(), 2, "announced once each way");
}

/// Two agents of one region polling different nodes split the region's monitors
/// between them as if they polled one: every node knows every live agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_polling_different_nodes_split_their_region() {
    let store = StoreFixture::new(Backend::Postgres).await;
    let target = test_support::Target::start().await;
    let mut config = String::from(
        "regions:\n  - { name: local, enabled: false }\n  - { name: eu }\nagents: { poll_interval: 1s }\nmonitors:\n",
    );
    for i in 0..8 {
        config.push_str(&format!(
            "  - {{ name: api-{i}, type: http, url: \"{}/health\", interval: 1h }}\n",
            target.url
        ));
    }
    let nodes: Vec<Server> = (0..2).map(|_| node_with(&store, &config)).collect();
    let (_, list) = nodes[0].get("/api/v1/monitors").await;
    let mut all: Vec<String> = list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    all.sort();
    assert_eq!(all.len(), 8);
    let agents: Vec<test_support::Agent> = (0..2)
        .map(|i| {
            let (_, token) =
                test_support::create_agent_token(bin(), &store, &format!("eu-{i}"), "eu");
            test_support::Agent::start(
                bin(),
                &nodes[i].url,
                "eu",
                &token,
                &store.dir.path().join(format!("agent-{i}")),
                &[],
            )
        })
        .collect();
    let (a, b) = wait_for(
        "the region's monitors split between its agents",
        Duration::from_secs(30),
        || async {
            let (a, b) = (agents[0].assigned(), agents[1].assigned());
            let mut union: Vec<String> = a.iter().chain(&b).cloned().collect();
            union.sort();
            (!a.is_empty() && !b.is_empty() && union == all).then_some((a, b))
        },
    )
    .await;
    assert!(
        a.iter().all(|m| !b.contains(m)),
        "each monitor has one agent: {a:?} {b:?}"
    );
    // Both nodes list both agents.
    for n in &nodes {
        let (_, regions) = n.get("/api/v1/regions").await;
        let eu = regions["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "eu")
            .cloned()
            .unwrap();
        assert_eq!(eu["agents"].as_array().map(Vec::len), Some(2), "{eu}");
    }
}

/// The whole cluster stops for longer than a heartbeat's deadline and starts again:
/// the deadline gets its grace period as on a single node's restart, the next ping
/// arrives within it, and nobody is paged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_cluster_restart_raises_no_false_alert() {
    let store = StoreFixture::new(Backend::Postgres).await;
    let receiver = test_support::Receiver::start().await;
    let config = format!(
        r#"channels:
  - {{ name: hook, type: webhook, url: "{r}/hook" }}
policies:
  - {{ name: page, channels: [hook], notify_on: [down, recovered] }}
"#,
        r = receiver.url
    );
    let mut nodes: Vec<Server> = (0..2).map(|_| node_with(&store, &config)).collect();
    let all: Vec<&Server> = nodes.iter().collect();
    let (hb_id, ping_path) = heartbeat_on_every_node(
        &nodes[0],
        &all,
        serde_json::json!({"name": "worker", "type": "heartbeat", "every": "2s", "grace": "5s", "policy": "page"}),
    )
    .await;
    for n in &mut nodes {
        assert_eq!(n.terminate(), Some(0));
    }
    // Down for longer than every + grace (7 s): the deadline passes with no node up.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let nodes: Vec<Server> = (0..2).map(|_| node_with(&store, &config)).collect();
    let r = reqwest::get(format!("{}{ping_path}", nodes[1].url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Longer than the grace: a wrong deadline would have fired by now.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let r = reqwest::get(format!("{}{ping_path}", nodes[0].url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, m) = nodes[0].get(&format!("/api/v1/monitors/{hb_id}")).await;
    assert_eq!(m["state"], "up", "{m}");
    let (_, list) = nodes[1].get("/api/v1/incidents").await;
    assert!(list["incidents"].as_array().unwrap().is_empty(), "{list}");
    assert!(receiver.on("/hook").is_empty(), "nobody was paged");
}
