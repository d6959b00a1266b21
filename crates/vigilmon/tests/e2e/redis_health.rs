//! Redis from the operator's side: the real `vigilmon redis-health` sidecar and
//! `vigilmon check redis://…`, against `redis-server` processes spawned per test
//! (never the shared one), read with a plain HTTP client.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::{RedisServer, listening_url, run_cli};

/// A running `vigilmon redis-health`, killed when dropped.
struct Sidecar {
    url: String,
    child: Child,
}

impl Sidecar {
    fn start(redis_url: &str, extra: &[&str]) -> Sidecar {
        let mut child = Command::new(crate::bin())
            .args([
                "redis-health",
                "--redis-url",
                redis_url,
                "--listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("VIGILMON_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn vigilmon redis-health");
        let url =
            listening_url(&mut child, Duration::from_secs(30)).expect("redis-health did not start");
        Sidecar { url, child }
    }

    /// A plain HTTP/1.1 GET (`Connection: close`): status code, body text, body JSON.
    async fn get(&self, path: &str) -> (u16, String, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.url.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut raw))
            .await
            .expect("answer in time")
            .expect("read");
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, text) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("a status code");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let json = serde_json::from_str(text).unwrap_or(Value::Null);
        (code, text.to_owned(), json)
    }

    /// SIGTERM, then the exit code.
    fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let a: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    run_cli(crate::bin(), &a, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_ok_then_critical_under_memory_pressure() {
    let redis = RedisServer::start(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]);
    let mut sidecar = Sidecar::start(&redis.url(), &["--write-probe"]);

    let (code, text, body) = sidecar.get("/health/redis").await;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains(r#""status":"ok""#), "{text}");
    assert_eq!(body["pong"], "PONG");
    assert_eq!(body["role"], "primary");
    assert_eq!(body["max_bytes"], 2 * 1024 * 1024);
    assert_eq!(body["write_probe"], "ok");

    // the founding story's HTTP monitor, unchanged, passes against the sidecar
    let health = format!("{}/health/redis", sidecar.url);
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        cli(&[
            "check",
            &health,
            "--expect-status",
            "200",
            "--body-contains",
            r#""status":"ok""#,
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");

    redis.fill("fill", 3000, 1024);
    let (code, text, body) = sidecar.get("/health/redis").await;
    assert_eq!(code, 503, "{text}");
    assert_eq!(body["status"], "critical");
    assert_eq!(body["reason"], "memory_pressure");
    assert!(body["used_bytes"].as_u64().unwrap() > body["max_bytes"].as_u64().unwrap() * 95 / 100);
    assert_eq!(body["max_bytes"], 2 * 1024 * 1024);
    assert!(
        body["write_error"].as_str().unwrap().starts_with("OOM"),
        "{text}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("critical threshold")
    );

    // memory trouble is not a replication problem
    let (code, text, body) = sidecar.get("/health/redis/replication").await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(body["role"], "primary");
    assert_eq!(body["connected_replicas"], 0);

    // graceful shutdown on SIGTERM
    let exit = tokio::task::spawn_blocking(move || sidecar.terminate())
        .await
        .unwrap();
    assert_eq!(exit, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_on_a_replica_whose_primary_died() {
    let mut primary = RedisServer::start(&[]);
    let port = primary.port.to_string();
    let replica = RedisServer::start(&["--replicaof", "127.0.0.1", &port]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while replica.info_field("master_link_status").as_deref() != Some("up") {
        assert!(Instant::now() < deadline, "replica never linked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sidecar = Sidecar::start(&replica.url(), &["--expect-role", "replica"]);
    let (code, text, body) = sidecar.get("/health/redis/replication").await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["role"], "replica");
    assert_eq!(body["master_link_status"], "up");
    assert_eq!(body["master"], format!("127.0.0.1:{port}"));

    primary.stop();
    let deadline = Instant::now() + Duration::from_secs(15);
    let (code, text, body) = loop {
        let got = sidecar.get("/health/redis").await;
        if got.0 != 200 || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(code, 503, "{text}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["reason"], "replica_disconnected");
    let (code, _, body) = sidecar.get("/health/redis/replication").await;
    assert_eq!(code, 503);
    assert_eq!(body["reason"], "replica_disconnected");
    assert_eq!(body["master_link_status"], "down");

    // promoted by hand: a monitor expecting a replica sees a role mismatch
    assert_eq!(replica.cli(&["REPLICAOF", "NO", "ONE"]), "OK");
    let (code, _, body) = sidecar.get("/health/redis").await;
    assert_eq!(code, 503);
    assert_eq!(body["status"], "critical");
    assert_eq!(body["reason"], "role_mismatch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_down_when_unreachable_or_refused() {
    let mut redis = RedisServer::start(&["--requirepass", "s3cret"]);
    let good = format!("redis://:s3cret@127.0.0.1:{}", redis.port);
    let sidecar = Sidecar::start(&good, &[]);
    let (code, text, _) = sidecar.get("/health/redis").await;
    assert_eq!(code, 200, "{text}");

    let wrong = Sidecar::start(&format!("redis://:nope@127.0.0.1:{}", redis.port), &[]);
    let (code, text, body) = wrong.get("/health/redis").await;
    assert_eq!(code, 503, "{text}");
    assert_eq!(body["status"], "down");
    assert_eq!(body["reason"], "auth_failed");
    assert!(
        body["error"].as_str().unwrap().contains("WRONGPASS"),
        "{text}"
    );

    redis.stop();
    let (code, text, body) = sidecar.get("/health/redis").await;
    assert_eq!(code, 503, "{text}");
    assert_eq!(body["status"], "down");
    assert_eq!(body["reason"], "unreachable");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{text}"
    );
    let (code, _, body) = sidecar.get("/health/redis/replication").await;
    assert_eq!(code, 503);
    assert_eq!(body["status"], "down");

    // usage errors exit 2 without serving
    let (code, _, err) = tokio::task::spawn_blocking(|| {
        cli(&[
            "redis-health",
            "--redis-url",
            "http://x",
            "--listen",
            "127.0.0.1:0",
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("redis://"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_command_on_redis_targets() {
    let redis = RedisServer::start(&["--maxmemory", "64mb"]);
    let url = redis.url();
    let (code, out, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || cli(&["check", &url, "--write-probe", "--expect-role", "primary"])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    for line in [
        &format!("REDIS redis://127.0.0.1:{}/0", redis.port) as &str,
        "connect",
        "first byte",
        "role        primary",
        "of maxmemory, 64.0 MB",
        "policy noeviction",
        "write probe ok",
        "verdict: UP",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }

    let (code, out, _) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || cli(&["check", &url, "--expect-role", "replica"])
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("verdict: DOWN (assertion) — role is primary, expected replica"),
        "{out}"
    );

    let (code, out, _) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || cli(&["check", &url, "--json"])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["details"]["pong"], "PONG");
    assert_eq!(v["details"]["role"], "primary");

    // usage errors
    for args in [
        vec![
            "check".to_owned(),
            url.clone(),
            "--memory-warn".into(),
            "2".into(),
        ],
        vec![
            "check".to_owned(),
            "tcp://127.0.0.1:1".into(),
            "--write-probe".into(),
        ],
        vec![
            "check".to_owned(),
            url.clone(),
            "--body-contains".into(),
            "x".into(),
        ],
    ] {
        let (code, out, err) =
            tokio::task::spawn_blocking(move || run_cli(crate::bin(), &args, None))
                .await
                .unwrap();
        assert_eq!(code, 2, "{out}{err}");
    }

    // nothing listening
    let (code, out, _) = tokio::task::spawn_blocking(|| cli(&["check", "redis://127.0.0.1:1"]))
        .await
        .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("verdict: DOWN (connect)"), "{out}");
}

/// A primary lists its replicas, and one API call adds a monitor per replica named
/// after the primary's convention, expecting the replica role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_of_a_primary_become_monitors_in_one_action() {
    let primary = RedisServer::start(&[]);
    let port = primary.port.to_string();
    let replica = RedisServer::start(&["--replicaof", "127.0.0.1", &port]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while replica.info_field("master_link_status").as_deref() != Some("up") {
        assert!(Instant::now() < deadline, "replica never linked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let store = test_support::StoreFixture::new(test_support::Backend::Sqlite).await;
    let server = test_support::Server::start(crate::bin(), &store, &[]);
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &serde_json::json!({"name": "[redis-primary] cache", "type": "redis", "url": primary.url(), "expect_role": "primary", "tags": ["cache"]}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let (status, list) = server
        .get(&format!("/api/v1/monitors/{id}/redis-replicas"))
        .await;
    assert_eq!(status, 200, "{list}");
    let r = &list["replicas"][0];
    assert_eq!(r["addr"], format!("127.0.0.1:{}", replica.port));
    assert_eq!(r["monitor_name"], "[redis-replica-1] cache");
    assert_eq!(r["monitored"], false);
    let (status, made) = server
        .post(
            &format!("/api/v1/monitors/{id}/redis-replicas"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let created = &made["created"][0];
    assert_eq!(created["name"], "[redis-replica-1] cache");
    assert_eq!(created["expect_role"], "replica");
    assert_eq!(created["tags"], serde_json::json!(["cache"]));
    // The new monitor checks out against the real replica.
    let new_id = created["id"].as_str().unwrap();
    let (_, c) = server
        .post(
            &format!("/api/v1/monitors/{new_id}/check-now"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(c["result"]["ok"], true, "{c}");
    assert_eq!(c["result"]["details"]["role"], "replica");
    // A second call adds nothing.
    let (_, again) = server
        .post(
            &format!("/api/v1/monitors/{id}/redis-replicas"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(again["created"].as_array().unwrap().len(), 0);
}
