//! Remote agents end to end: the real `vigilmon agent` against the real server. An
//! agent gets its region's assignment and its results arrive; a refused token (wrong,
//! not an agent token, another region, revoked while running) stops it with a clear
//! message; a server outage is bridged by the disk buffer, replayed in order without
//! opening an incident; two agents of one region split the monitors and one takes
//! over the other's when it dies.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{
    Agent, Backend, Server, StoreFixture, Target, create_agent_token, run_cli, wait_for,
};

use crate::{bin, both_backends};

/// Starts a server that runs no checks itself (its built-in probe is off) and knows
/// region `eu`, served by agents.
fn agents_only_server(store: &StoreFixture) -> Server {
    let config = store.dir.path().join("agents.yaml");
    std::fs::write(
        &config,
        "regions:\n  - {name: local, enabled: false}\n  - {name: eu}\n",
    )
    .expect("config file");
    Server::start(
        bin(),
        store,
        &["--config".into(), config.display().to_string()],
    )
}

/// The flags of [`agents_only_server`], to restart it.
fn agents_only_flags(store: &StoreFixture) -> Vec<String> {
    vec![
        "--config".into(),
        store.dir.path().join("agents.yaml").display().to_string(),
    ]
}

/// An HTTP monitor checked every 10 s from region `eu` only.
async fn create_monitor(server: &Server, name: &str, url: &str) -> String {
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": name, "type": "http", "url": url, "interval": "10s", "regions": ["eu"]}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    m["id"].as_str().expect("id").to_owned()
}

/// A monitor's results from one region, newest first.
async fn results(server: &Server, id: &str, region: &str) -> Vec<Value> {
    let (status, v) = server
        .get(&format!(
            "/api/v1/monitors/{id}/results?region={region}&limit=1000"
        ))
        .await;
    assert_eq!(status, 200, "{v}");
    v["results"].as_array().cloned().unwrap_or_default()
}

/// The agent's exit code once it has exited (within `within`), polling without
/// blocking the runtime that serves the test's targets.
async fn exit_code(agent: &mut Agent, within: Duration) -> Option<i32> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(code) = agent.wait_exit(Duration::ZERO) {
            return Some(code);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn epoch_ms(v: &Value) -> i64 {
    v["checked_at"]
        .as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
        .unwrap_or_else(|| panic!("checked_at in {v}"))
}

both_backends!(an_agent_checks_its_region, assignment_and_results);

/// (a) An agent of region `eu` gets its assignment, probes as `eu`, and its results
/// arrive; SIGTERM stops it cleanly.
async fn assignment_and_results(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = agents_only_server(&store);
    let target = Target::start().await;
    let id = create_monitor(&server, "api", &format!("{}/health", target.url)).await;
    let (_, token) = create_agent_token(bin(), &store, "eu-1", "eu");
    let data = store.dir.path().join("agent-eu-1");
    let mut agent = Agent::start(bin(), &server.url, "eu", &token, &data, &[]);
    assert!(
        agent.start_line.starts_with(&format!(
            "Vigilmon agent {} for region eu",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        agent.start_line
    );

    let view = wait_for(
        "the monitor's state in region eu",
        Duration::from_secs(40),
        || async {
            let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
            m["regions"]
                .as_array()?
                .iter()
                .any(|r| r["region"] == "eu" && r["state"] == "up")
                .then_some(m)
        },
    )
    .await;
    assert!(
        view["regions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["region"] == "eu"),
        "only eu checks this monitor: {view}"
    );
    // The configured list and the per-region states, each under a name of its own (one
    // `regions` key in the object, not two).
    assert_eq!(view["configured_regions"], json!(["eu"]), "{view}");
    let raw = server
        .api(reqwest::Method::GET, &format!("/api/v1/monitors/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(raw.matches("\"regions\":").count(), 1, "{raw}");
    assert_eq!(
        target.last_header("x-vigilmon-region").as_deref(),
        Some("eu")
    );
    let rs = results(&server, &id, "eu").await;
    assert!(!rs.is_empty());
    assert_eq!(rs[0]["status_code"], 200, "{}", rs[0]);
    assert_eq!(agent.assigned(), vec![id.clone()]);

    let (_, regions) = server.get("/api/v1/regions").await;
    let eu = regions["regions"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == "eu"))
        .unwrap_or_else(|| panic!("region eu listed: {regions}"));
    assert_eq!(eu["status"], "available", "{eu}");
    assert_eq!(eu["agents"][0]["name"], "eu-1", "{eu}");
    assert_eq!(eu["agents"][0]["live"], true, "{eu}");

    assert_eq!(agent.terminate(), Some(0), "{}", agent.logs());
    assert!(agent.logs().contains("agent stopped"), "{}", agent.logs());
}

/// (b) A wrong token, a non-agent token and a token of another region stop the agent
/// at once with a clear message, and nothing of theirs is accepted; revoking the
/// token of a running agent stops it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_stop_the_agent() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let server = agents_only_server(&store);
    let target = Target::start().await;
    let id = create_monitor(&server, "api", &format!("{}/health", target.url)).await;
    let dir = store.dir.path();

    let (_, ap_token) = create_agent_token(bin(), &store, "ap-1", "ap");
    let cases = [
        (
            "wrong",
            "vm_this-is-not-a-token".to_owned(),
            "wrong, unknown or revoked",
        ),
        ("write", server.token.clone(), "not an agent token"),
        ("region", ap_token, "belongs to region \"ap\""),
    ];
    for (name, token, expected) in cases {
        let mut agent = Agent::start(bin(), &server.url, "eu", &token, &dir.join(name), &[]);
        let code = exit_code(&mut agent, Duration::from_secs(15)).await;
        let logs = agent.logs();
        assert_eq!(code, Some(1), "{name}: the agent must stop: {logs}");
        assert!(
            logs.contains(expected),
            "{name}: expected {expected:?} in:\n{logs}"
        );
    }
    assert!(
        results(&server, &id, "eu").await.is_empty(),
        "nothing accepted"
    );
    assert_eq!(target.hits(), 0, "and nothing checked");

    // A running agent whose token is revoked stops at its next request.
    let (token_id, token) = create_agent_token(bin(), &store, "eu-1", "eu");
    let mut agent = Agent::start(bin(), &server.url, "eu", &token, &dir.join("eu-1"), &[]);
    wait_for("a result from eu", Duration::from_secs(40), || async {
        (!results(&server, &id, "eu").await.is_empty()).then_some(())
    })
    .await;
    let mut args = vec!["token".into(), "revoke".into(), token_id];
    args.extend(store.args());
    let (code, out, err) = run_cli(bin(), &args, None);
    assert_eq!(code, 0, "{out}{err}");
    let code = exit_code(&mut agent, Duration::from_secs(40)).await;
    let logs = agent.logs();
    assert_eq!(code, Some(1), "a revoked agent must stop: {logs}");
    assert!(logs.contains("revoked"), "{logs}");
}

/// (c) The server is down for a while: the agent keeps checking into its disk buffer,
/// even across a restart of the agent (which stops cleanly with the server away);
/// when the server is back the buffered results arrive, in order, with no hole and
/// without a false incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_outage_is_bridged_by_the_disk_buffer() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let mut server = agents_only_server(&store);
    let target = Target::start().await;
    let id = create_monitor(&server, "api", &format!("{}/health", target.url)).await;
    let (_, token) = create_agent_token(bin(), &store, "eu-1", "eu");
    let data = store.dir.path().join("eu-1");
    let mut agent = Agent::start(bin(), &server.url, "eu", &token, &data, &[]);
    wait_for(
        "a first result from eu",
        Duration::from_secs(30),
        || async { (!results(&server, &id, "eu").await.is_empty()).then_some(()) },
    )
    .await;
    let before = results(&server, &id, "eu").await.len();

    server.kill();
    wait_for(
        "a result buffered on disk",
        Duration::from_secs(20),
        || async { (agent.buffered() >= 1).then_some(()) },
    )
    .await;
    // Right after a check (the next one is ~10 s away): restart the agent. It stops
    // cleanly although the server is away, and the new one resumes the saved
    // assignment and appends to the same buffer.
    assert_eq!(agent.terminate(), Some(0), "{}", agent.logs());
    let kept = agent.buffered();
    assert!(
        agent.logs().contains("keeping them in the disk buffer"),
        "{}",
        agent.logs()
    );
    let agent = Agent::start(bin(), &server.url, "eu", &token, &data, &[]);
    let hits = target.hits();
    wait_for(
        "more results buffered on disk",
        Duration::from_secs(20),
        || async { (agent.buffered() > kept).then_some(()) },
    )
    .await;
    assert!(
        target.hits() > hits,
        "the new agent checks without the server"
    );
    assert!(
        agent.logs().contains("resuming the last assignment"),
        "{}",
        agent.logs()
    );
    let buffered = agent.buffered();

    server.restart(bin(), &store, &agents_only_flags(&store));
    let all = wait_for("the buffered results", Duration::from_secs(45), || async {
        let rs = results(&server, &id, "eu").await;
        (rs.len() >= before + buffered).then_some(rs)
    })
    .await;
    wait_for("an empty buffer", Duration::from_secs(10), || async {
        (agent.buffered() == 0).then_some(())
    })
    .await;

    // Newest first, each result once, one every interval: the outage left no hole.
    let times: Vec<i64> = all.iter().map(epoch_ms).collect();
    for w in times.windows(2) {
        let gap = w[0] - w[1];
        assert!(
            (8_000..=12_000).contains(&gap),
            "results 10 s apart, in order, without holes or doubles: {times:?}"
        );
    }
    assert!(all.iter().all(|r| r["ok"] == true), "{all:?}");
    let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(m["state"], "up", "{m}");
    let (_, incidents) = server.get(&format!("/api/v1/incidents?monitor={id}")).await;
    assert_eq!(
        incidents["incidents"].as_array().map(Vec::len),
        Some(0),
        "the outage of the server is not an outage of the monitor: {incidents}"
    );
}

/// (d) Two agents of one region split its monitors (each monitor is checked by one of
/// them), and when one dies the other takes its monitors over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_of_a_region_share_the_work_and_take_over() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let server = agents_only_server(&store);
    let target = Target::start().await;
    // Enough monitors that a random split leaves both agents some (1 in 30,000 not).
    let mut ids = BTreeSet::new();
    for i in 0..16 {
        ids.insert(
            create_monitor(&server, &format!("m{i}"), &format!("{}/m{i}", target.url)).await,
        );
    }
    let (_, t1) = create_agent_token(bin(), &store, "eu-1", "eu");
    let (_, t2) = create_agent_token(bin(), &store, "eu-2", "eu");
    let dir = store.dir.path();
    let a = Agent::start(bin(), &server.url, "eu", &t1, &dir.join("eu-1"), &[]);
    wait_for(
        "agent 1 with every monitor",
        Duration::from_secs(20),
        || async { (a.assigned().len() == ids.len()).then_some(()) },
    )
    .await;

    let mut b = Agent::start(bin(), &server.url, "eu", &t2, &dir.join("eu-2"), &[]);
    let (of_a, of_b) = wait_for(
        "the monitors split between the agents",
        Duration::from_secs(40),
        || async {
            let (sa, sb): (BTreeSet<String>, BTreeSet<String>) = (
                a.assigned().into_iter().collect(),
                b.assigned().into_iter().collect(),
            );
            let split = !sa.is_empty()
                && !sb.is_empty()
                && sa.is_disjoint(&sb)
                && sa.union(&sb).cloned().collect::<BTreeSet<_>>() == ids;
            split.then_some((sa, sb))
        },
    )
    .await;
    // Both run their share: every monitor gets results from eu.
    for id in &ids {
        wait_for(
            "a result of every monitor",
            Duration::from_secs(30),
            || async { (!results(&server, id, "eu").await.is_empty()).then_some(()) },
        )
        .await;
    }

    // Agent 2 dies; once the server stops counting it as live, agent 1 gets all.
    b.kill();
    let killed_at = jiff::Timestamp::now().as_millisecond();
    wait_for("agent 1 taking over", Duration::from_secs(90), || async {
        (a.assigned().len() == ids.len()).then_some(())
    })
    .await;
    for id in &of_b {
        wait_for(
            "results of the moved monitors",
            Duration::from_secs(30),
            || async {
                let rs = results(&server, id, "eu").await;
                rs.first()
                    .is_some_and(|r| epoch_ms(r) > killed_at)
                    .then_some(())
            },
        )
        .await;
    }
    assert!(!of_a.is_empty());
}

both_backends!(a_silent_region_raises_an_operational_alert, silent_region);

/// (e) A region whose agents fall silent raises an operational alert through
/// `alerting.region_policy`, once, and resolves it when an agent reports again; the
/// memory survives a server restart (no second alert for the same silence).
async fn silent_region(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let receiver = test_support::Receiver::start().await;
    let config = store.dir.path().join("regions.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
regions:
  - {{ name: local, enabled: false }}
  - {{ name: eu }}
agents: {{ poll_interval: 1s }}
channels:
  - {{ name: ops-hook, type: webhook, url: "{}/hook" }}
policies:
  - {{ name: ops, priority: P2, channels: [ops-hook] }}
alerting: {{ region_policy: ops }}
"#,
            receiver.url
        ),
    )
    .expect("config file");
    let flags = vec!["--config".to_owned(), config.display().to_string()];
    let mut server = Server::start(bin(), &store, &flags);
    let events = || {
        receiver
            .on("/hook")
            .iter()
            .map(|r| {
                let v = r.json();
                (
                    v["event"].as_str().unwrap_or_default().to_owned(),
                    v["monitor"]["state"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    v["monitor"]["name"].as_str().unwrap_or_default().to_owned(),
                    v["incident"]["dedup_key"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };

    // Declared, never heard from: unavailable once the liveness timeout (3 polls) has
    // passed since the server started.
    let first = wait_for("an unavailable alert", Duration::from_secs(20), || async {
        events().first().cloned()
    })
    .await;
    assert_eq!(
        (first.0.as_str(), first.1.as_str(), first.2.as_str()),
        ("trigger", "unavailable", "region eu"),
        "{first:?}"
    );
    let (_, regions) = server.get("/api/v1/regions").await;
    assert_eq!(regions["regions"][0]["status"], "unavailable", "{regions}");
    let body = receiver.on("/hook")[0].json();
    assert!(
        body["cause"]
            .as_str()
            .is_some_and(|c| c.contains("no agent of region eu")),
        "{body}"
    );

    let metrics = server.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"vigilmon_region_available{region="eu"} 0"#),
        "{metrics}"
    );

    // A restart does not alert again for the same silence.
    server.restart(bin(), &store, &flags);
    // An agent reports: the alert is resolved, with the same dedup key.
    let (_, token) = create_agent_token(bin(), &store, "eu-1", "eu");
    let dir = store.dir.path().join("eu-1");
    let mut agent = Agent::start(bin(), &server.url, "eu", &token, &dir, &[]);
    let second = wait_for("a resolved alert", Duration::from_secs(20), || async {
        events().get(1).cloned()
    })
    .await;
    assert_eq!(
        (second.0.as_str(), second.1.as_str()),
        ("resolved", "available"),
        "{:?}",
        events()
    );
    assert_eq!(second.3, first.3, "the same alert is closed");

    // The agent dies: a new alert, with a new key.
    agent.kill();
    let third = wait_for(
        "a second unavailable alert",
        Duration::from_secs(20),
        || async { events().get(2).cloned() },
    )
    .await;
    assert_eq!(
        (third.0.as_str(), third.1.as_str()),
        ("trigger", "unavailable")
    );
    assert_ne!(third.3, first.3, "a new episode");
    assert_eq!(events().len(), 3, "nothing sent twice: {:?}", events());
    server.kill();
}

both_backends!(
    results_dated_out_of_bounds_are_refused_one_by_one,
    results_out_of_bounds
);

/// An agent token posts results dated in 2099, in 1970 and now: the two are refused
/// one by one with the reason, the honest one is stored, nothing opens; a result dated
/// a minute ahead (a fast clock) counts as taken now and holds back none of the honest
/// results after it.
async fn results_out_of_bounds(backend: Backend) {
    use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
    let store = StoreFixture::new(backend).await;
    let server = agents_only_server(&store);
    let id = create_monitor(&server, "api", "http://127.0.0.1:9/health").await;
    let (_, token) = create_agent_token(bin(), &store, "eu-1", "eu");
    let eu = RegionName::parse("eu").unwrap();
    let now = jiff::Timestamp::now();
    let post = |results: Vec<(jiff::Timestamp, Verdict)>| {
        let items: Vec<Value> = results
            .into_iter()
            .map(|(at, v)| {
                json!({"monitor_id": id, "result": CheckResult::new(eu.clone(), at, 3, v)})
            })
            .collect();
        server
            .client
            .post(format!("{}/api/v1/agent/results", server.url))
            .bearer_auth(&token)
            .json(&json!({ "results": items }))
            .send()
    };
    let down = || Verdict::down(ErrorKind::Connect, "connection refused");
    let in_2099 = "2099-01-01T00:00:00Z".parse().unwrap();
    let r = post(vec![
        (in_2099, down()),
        (jiff::Timestamp::UNIX_EPOCH, down()),
        (now, Verdict::Up),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["accepted"], 1, "{answer}");
    let refused = answer["refused"].as_array().expect("refused");
    assert_eq!(refused.len(), 2, "{answer}");
    assert_eq!(
        (refused[0]["index"].as_u64(), refused[1]["index"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(
        refused[0]["error"]
            .as_str()
            .unwrap()
            .contains("ahead of the server's clock"),
        "{answer}"
    );
    assert!(
        refused[1]["error"].as_str().unwrap().contains("older than"),
        "{answer}"
    );
    // Answered once queued; stored by the recorder a moment later.
    let stored = wait_for(
        "the honest result is stored",
        Duration::from_secs(10),
        || async {
            let r = results(&server, &id, "eu").await;
            (!r.is_empty()).then_some(r)
        },
    )
    .await;
    assert_eq!(
        stored.len(),
        1,
        "only the honest result is stored: {stored:?}"
    );
    assert_eq!(stored[0]["verdict"], "up");

    // A clock a minute fast: taken as now, and the honest results after it count.
    let fast = post(vec![(
        now + jiff::SignedDuration::from_secs(60),
        Verdict::Up,
    )])
    .await
    .unwrap();
    let fast: Value = fast.json().await.unwrap();
    assert_eq!(fast["accepted"], 1, "{fast}");
    let stored = wait_for(
        "the fast result is stored",
        Duration::from_secs(10),
        || async {
            let r = results(&server, &id, "eu").await;
            (r.len() == 2).then_some(r)
        },
    )
    .await;
    assert!(
        epoch_ms(&stored[0]) <= jiff::Timestamp::now().as_millisecond(),
        "dated no later than the server's now: {stored:?}"
    );
    let later = jiff::Timestamp::now();
    let r = post(vec![
        (later, down()),
        (later + jiff::SignedDuration::from_millis(1), down()),
    ])
    .await
    .unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["accepted"], 2, "{answer}");
    wait_for(
        "the honest failures change the region's state",
        Duration::from_secs(10),
        || async {
            let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
            let region = m["regions"]
                .as_array()?
                .iter()
                .find(|r| r["region"] == "eu")?
                .clone();
            (region["state"] == "down").then_some(())
        },
    )
    .await;
    let (_, incidents) = server.get("/api/v1/incidents").await;
    let opened: Vec<&Value> = incidents["incidents"].as_array().unwrap().iter().collect();
    assert!(
        opened
            .iter()
            .all(|i| i["opened_at"].as_str().unwrap() < "2099"),
        "nothing dated 2099 opened anything: {incidents}"
    );
}

both_backends!(
    results_of_a_cut_off_agent_are_history_not_evidence,
    cut_off_results
);

/// Three regions served by agents; one (`us`) truly sees a monitor fail. A second
/// region's failures marked `offline` (taken while its agent was cut off from the
/// server, or held back in its disk buffer) are stored in the history but open
/// nothing: an agent cut off from the network sees everything fail. The same failure
/// sent as evidence opens the incident — even from an agent whose clock is behind.
async fn cut_off_results(backend: Backend) {
    use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
    let store = StoreFixture::new(backend).await;
    let config = store.dir.path().join("three.yaml");
    std::fs::write(
        &config,
        "regions:\n  - {name: local, enabled: false}\n  - {name: eu}\n  - {name: us}\n  - {name: ap}\n",
    )
    .expect("config file");
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), config.display().to_string()],
    );
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "api", "type": "http", "url": "http://127.0.0.1:9/health",
                    "interval": "60s", "regions": ["eu", "us", "ap"]}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let mut tokens = std::collections::HashMap::new();
    for region in ["eu", "us", "ap"] {
        let (_, token) = create_agent_token(bin(), &store, &format!("{region}-1"), region);
        tokens.insert(region, token);
    }
    let post = |region: &'static str, at: jiff::Timestamp, verdict: Verdict, offline: bool| {
        let item = json!({"monitor_id": id,
            "result": CheckResult::new(RegionName::parse(region).unwrap(), at, 3, verdict),
            "offline": offline});
        let req = server
            .client
            .post(format!("{}/api/v1/agent/results", server.url))
            .bearer_auth(&tokens[region])
            .json(&json!({ "results": [item] }));
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            let a: Value = r.json().await.unwrap();
            assert_eq!(a["accepted"], 1, "{a}");
        }
    };
    let down = || Verdict::down(ErrorKind::Connect, "connection refused");
    let state = || async {
        let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
        m["state"].as_str().unwrap_or_default().to_owned()
    };
    let now = jiff::Timestamp::now();
    let ago = |s: i64| now - jiff::SignedDuration::from_secs(s);
    // eu and us report on time; ap has not reported yet.
    for region in ["eu", "us"] {
        post(region, ago(3), Verdict::Up, false).await;
    }
    wait_for("the monitor up", Duration::from_secs(10), || async {
        (state().await == "up").then_some(())
    })
    .await;

    // us fails on time: one region of three, degraded.
    post("us", ago(1), down(), false).await;
    // ap fails too, but was cut off when it checked, twice.
    post("ap", ago(20), down(), true).await;
    post("ap", ago(2), down(), true).await;
    let history = wait_for(
        "ap's failures stored in the history",
        Duration::from_secs(10),
        || async {
            let r = results(&server, &id, "ap").await;
            (r.len() == 2).then_some(r)
        },
    )
    .await;
    assert!(
        history.iter().all(|r| r["verdict"] == "down"),
        "{history:?}"
    );
    assert_eq!(state().await, "degraded", "only us counts");
    let (_, regions) = server.get(&format!("/api/v1/monitors/{id}")).await;
    let (_, inc) = server.get("/api/v1/incidents").await;
    assert!(
        inc["incidents"].as_array().unwrap().is_empty(),
        "nothing opens on results of a cut-off agent: {inc} {regions}"
    );

    // A failure of ap as evidence, from a clock 55 s behind (as old as that by the
    // server's clock, yet within one interval of us's): down, one incident.
    post("ap", ago(55), down(), false).await;
    wait_for("the monitor down", Duration::from_secs(10), || async {
        (state().await == "down").then_some(())
    })
    .await;
    let (_, inc) = server.get("/api/v1/incidents").await;
    assert_eq!(inc["incidents"].as_array().unwrap().len(), 1, "{inc}");
}

/// A long poll whose agent went silent (its connection dead, as under a network cut) is
/// not contact when the server ends it: the agent's last contact stays when the wait
/// began, so a cut-off region is not announced back while it is still cut off.
#[tokio::test]
async fn the_end_of_an_abandoned_wait_is_not_contact() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let server = agents_only_server(&store);
    let (_, token) = create_agent_token(bin(), &store, "eu-1", "eu");
    // A wait of 1.5 s on a connection that then falls silent — a peer behind a cut
    // link: no reply is read, no FIN is sent, so the server cannot tell it is gone.
    use tokio::io::AsyncWriteExt;
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    silent
        .write_all(
            format!(
                "GET /api/v1/agent/wait?timeout_ms=1500 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let last_seen = || async {
        let (_, v) = server.get("/api/v1/regions").await;
        v["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "eu")
            .and_then(|r| r["agents"][0]["last_seen"].as_str().map(str::to_owned))
    };
    let first = wait_for("the agent heard", Duration::from_secs(5), last_seen).await;
    // Past the server's end of the wait.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(last_seen().await.as_deref(), Some(first.as_str()));
    drop(silent);
}
