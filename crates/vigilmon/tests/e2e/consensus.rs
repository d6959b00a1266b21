//! Multi-region consensus with real processes: a server and three agents in three
//! regions on loopback, a target that fails for some regions only (it tells probes
//! apart by `X-Vigilmon-Region`). One failing region opens nothing; two open an
//! incident within seconds of the first failure (the confirmation cascade), not an
//! interval later; recovery resolves it. The failure in one region sends one
//! low-priority regional notice, to the non-paging channel only, after its delay.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use test_support::{Backend, Receiver, Server, StoreFixture, Target, run_cli, wait_for};

use crate::bin;

/// A `vigilmon agent` process, killed when dropped.
struct AgentProcess(Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent(store: &StoreFixture, server: &Server, region: &str) -> AgentProcess {
    let mut args: Vec<String> = [
        "token",
        "create",
        "--name",
        &format!("agent-{region}"),
        "--scope",
        "agent",
        "--region",
        region,
    ]
    .map(String::from)
    .to_vec();
    args.extend(store.args());
    let (code, out, err) = run_cli(bin(), &args, None);
    assert_eq!(code, 0, "{out}{err}");
    let token = out.lines().last().unwrap().trim().to_owned();
    let dir = store.dir.path().join(format!("agent-{region}"));
    let child = Command::new(bin())
        .args([
            "agent",
            "--server",
            &server.url,
            "--region",
            region,
            "--token",
            &token,
        ])
        .arg("--data-dir")
        .arg(&dir)
        .env("VIGILMON_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agent");
    AgentProcess(child)
}

fn region_state<'a>(m: &'a Value, region: &str) -> Option<&'a str> {
    m["regions"]
        .as_array()?
        .iter()
        .find(|r| r["region"] == region)?["state"]
        .as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blip_in_one_region_pages_nobody_an_outage_in_two_pages_in_seconds() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let receiver = Receiver::start().await;
    let target = Target::start().await;
    let config = format!(
        r#"
regions:
  - {{ name: local, enabled: false }}
  - {{ name: eu }}
  - {{ name: us }}
  - {{ name: ap }}
channels:
  - {{ name: pd, type: pagerduty, routing_key: "R0UT1NGKEY0000000000000000000000", events_url: "{r}/pd" }}
  - {{ name: chat, type: webhook, url: "{r}/chat" }}
policies:
  - {{ name: p1, priority: P1, channels: [pd, chat] }}
monitors:
  - {{ name: api, type: http, url: "{t}/health", interval: 10s, timeout: 2s, policy: p1, regional_notice_after: 3s }}
"#,
        r = receiver.url,
        t = target.url
    );
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, config).unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let _agents: Vec<AgentProcess> = ["eu", "us", "ap"]
        .iter()
        .map(|r| agent(&store, &server, r))
        .collect();
    let (_, list) = server.get("/api/v1/monitors").await;
    let id = list["monitors"][0]["id"].as_str().unwrap().to_owned();

    // Every region reports the monitor up.
    wait_for(
        "results from the three regions",
        Duration::from_secs(40),
        || async {
            let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
            ["eu", "us", "ap"]
                .iter()
                .all(|r| region_state(&m, r) == Some("up"))
                .then_some(())
        },
    )
    .await;
    let (_, regions) = server.get("/api/v1/regions").await;
    let names: Vec<&str> = regions["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["ap", "eu", "us"],
        "the built-in region is disabled: {regions}"
    );

    // One region sees failures: recorded and visible, but no incident, no page.
    target.set_status_for_region("eu", Some(503));
    let m = wait_for("eu down", Duration::from_secs(30), || async {
        let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
        (region_state(&m, "eu") == Some("down")).then_some(m)
    })
    .await;
    assert_eq!(
        m["state"], "degraded",
        "a failure below quorum is visible, not an outage: {m}"
    );
    let (_, inc) = server.get("/api/v1/incidents").await;
    assert!(
        inc["incidents"].as_array().unwrap().is_empty(),
        "no incident without quorum: {inc}"
    );
    assert!(receiver.on("/pd").is_empty(), "nobody paged for one region");
    // After regional_notice_after, one low-priority notice to the non-paging channel.
    let notice = wait_for("a regional notice", Duration::from_secs(20), || async {
        receiver
            .on("/chat")
            .first()
            .map(test_support::Received::json)
    })
    .await;
    assert_eq!(notice["event"], "regional_notice", "{notice}");
    assert_eq!(notice["incident"]["priority"], "P4", "{notice}");
    assert!(
        notice["summary"].as_str().is_some_and(|s| s.contains("eu")),
        "names the failing region: {notice}"
    );
    let (_, inc) = server.get("/api/v1/incidents").await;
    assert!(
        inc["incidents"].as_array().unwrap().is_empty(),
        "still no incident: {inc}"
    );
    assert!(receiver.on("/pd").is_empty(), "PagerDuty is not told");

    // A second region fails: the incident opens within seconds of the first failing
    // result that completed the quorum.
    target.set_status_for_region("us", Some(503));
    let incident = wait_for("an incident", Duration::from_secs(30), || async {
        let (_, inc) = server.get("/api/v1/incidents?state=open").await;
        inc["incidents"].as_array().and_then(|a| a.first().cloned())
    })
    .await;
    let opened: jiff::Timestamp = incident["opened_at"].as_str().unwrap().parse().unwrap();
    let (_, res) = server
        .get(&format!("/api/v1/monitors/{id}/results?region=us&limit=20"))
        .await;
    let first_us_failure = res["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ok"] == false)
        .map(|r| {
            r["checked_at"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
        })
        .min()
        .expect("a failing result from us");
    let detection = opened.as_millisecond() - first_us_failure.as_millisecond();
    assert!(
        detection < 3000,
        "incident {detection} ms after us first failed"
    );
    let mut failing: Vec<&str> = incident["regions_failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    failing.sort_unstable();
    assert_eq!(
        failing,
        ["eu", "us"],
        "the incident's evidence lists each region: {incident}"
    );
    let evidence = incident["evidence"].as_array().unwrap();
    assert_eq!(
        evidence.len(),
        3,
        "every region's latest result: {incident}"
    );
    wait_for("a page", Duration::from_secs(10), || async {
        (!receiver.on("/pd").is_empty()).then_some(())
    })
    .await;

    // One regional notice for the regional episode, none since the incident opened.
    let chat: Vec<String> = receiver
        .on("/chat")
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        chat.iter().filter(|e| *e == "regional_notice").count(),
        1,
        "one regional notice: {chat:?}"
    );

    // All healthy: resolved as soon as fewer than two regions fail, then up once
    // every region has checked again (regions check at different points of the
    // interval).
    target.set_status_for_region("eu", None);
    target.set_status_for_region("us", None);
    wait_for("resolved", Duration::from_secs(30), || async {
        let (_, inc) = server.get("/api/v1/incidents?state=resolved").await;
        (!inc["incidents"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;
    wait_for("up", Duration::from_secs(30), || async {
        let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
        (m["state"] == "up").then_some(())
    })
    .await;
}
