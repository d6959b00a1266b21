//! The native Redis check against real `redis-server` processes: each test spawns its
//! own servers on free ports (`--save "" --appendonly no`, a temp dir), waits for
//! them with a deadline (polling `PING`, never fixed sleeps) and kills them on drop.
//! Commands that set a server up go through `redis-cli`, which ships with
//! `redis-server`. The shared Redis on 6379 is never touched.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------
// a redis-server of the test's own

struct Redis {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    /// Arguments for redis-cli to reach this server (port and credentials).
    cli: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    /// Starts `redis-server` on a free port with `extra` arguments and waits until
    /// it answers.
    fn start(extra: &[&str]) -> Redis {
        Self::start_in(tempfile::tempdir().unwrap(), extra, true)
    }

    fn start_in(dir: tempfile::TempDir, extra: &[&str], wait: bool) -> Redis {
        let port = free_port();
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir.path().display().to_string(),
            "--logfile",
            &dir.path().join("redis.log").display().to_string(),
            "--repl-diskless-sync-delay",
            "0",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let r = Redis {
            child,
            port,
            dir,
            cli: vec!["-p".into(), port.to_string()],
        };
        if wait {
            r.wait_ready();
        }
        r
    }

    /// Polls `PING` on the plain port until the server answers (`+PONG`, or an auth
    /// error: it is up either way).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 64];
                if s.write_all(b"PING\r\n").is_ok()
                    && let Ok(n) = s.read(&mut buf)
                    && (buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not start; log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command with redis-cli and returns its output, trimmed.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(&self.cli)
            .arg("--no-auth-warning")
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Sends `count` `SET` commands with `value_bytes`-byte values through
    /// `redis-cli --pipe` (one connection, pipelined).
    fn fill(&self, prefix: &str, count: usize, value_bytes: usize) {
        let value = "x".repeat(value_bytes);
        let mut input = Vec::new();
        for i in 0..count {
            let key = format!("{prefix}:{i}");
            write!(
                input,
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            )
            .unwrap();
        }
        let mut child = Command::new("redis-cli")
            .args(&self.cli)
            .arg("--no-auth-warning")
            .arg("--pipe")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli");
        child.stdin.take().unwrap().write_all(&input).unwrap();
        child.wait().unwrap();
    }

    /// A field of `INFO`.
    fn info_field(&self, field: &str) -> Option<String> {
        self.cli(&["INFO"]).lines().find_map(|l| {
            l.trim_end()
                .strip_prefix(field)
                .and_then(|r| r.strip_prefix(':'))
                .map(str::to_owned)
        })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `cond` until it holds, or panics with `what` after 15 s.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------
// helpers: specs and assertions

fn redis(url: &str, extra: Value) -> CheckSpec {
    let mut v = json!({"name": "r", "type": "redis", "url": url});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let cfg: MonitorConfig = serde_json::from_value(v).unwrap();
    cfg.build().unwrap().check
}

fn prober() -> Prober {
    Prober::new(ProbeOptions::new(RegionName::parse("eu-test").unwrap())).unwrap()
}

fn details(r: &CheckResult) -> &Value {
    r.details.as_ref().expect("redis checks carry figures")
}

#[track_caller]
fn assert_down(r: &CheckResult, kind: ErrorKind, reason: &str, words: &str) {
    match &r.verdict {
        Verdict::Down { kind: k, message } => {
            assert_eq!(*k, kind, "wrong kind; message: {message}");
            assert!(message.contains(words), "{message:?} lacks {words:?}");
        }
        other => panic!("expected down ({reason}), got {other:?}; {:?}", r.details),
    }
    assert_eq!(details(r)["reason"], reason, "{}", details(r));
}

#[track_caller]
fn assert_up(r: &CheckResult) {
    assert_eq!(r.verdict, Verdict::Up, "{:?}", r.details);
}

// ---------------------------------------------------------------------------------

#[tokio::test]
async fn healthy_standalone_is_up_with_figures_and_phases() {
    let r = Redis::start(&["--maxmemory", "64mb"]);
    let p = prober();
    let res = p
        .check(&redis(&r.url(), json!({"write_probe": true})), TIMEOUT)
        .await;
    assert_up(&res);
    let d = details(&res);
    assert_eq!(d["pong"], "PONG");
    assert_eq!(d["role"], "primary");
    assert_eq!(d["reason"], Value::Null);
    assert_eq!(d["max_bytes"], 64 * 1024 * 1024);
    assert!(d["used_bytes"].as_u64().unwrap() > 0);
    assert!(d["memory_ratio"].as_f64().unwrap() < 0.5);
    assert_eq!(d["policy"], "noeviction");
    assert_eq!(d["write_probe"], "ok");
    assert_eq!(d["connected_replicas"], 0);
    assert!(res.phases.connect_ms.is_some());
    assert!(res.phases.ttfb_ms.is_some());
    assert_eq!(res.phases.tls_ms, None);
    assert_eq!(
        res.remote_addr.as_deref(),
        Some(format!("127.0.0.1:{}", r.port).as_str())
    );
    // the write probe's key carries a TTL
    let ttl: i64 = r.cli(&["TTL", "vigilmon:probe"]).parse().unwrap();
    assert!((1..=10).contains(&ttl), "ttl {ttl}");
    // a database other than 0 is selected
    let res = p
        .check(&redis(&format!("{}/3", r.url()), json!({})), TIMEOUT)
        .await;
    assert_up(&res);
    let res = p
        .check(&redis(&format!("{}/99", r.url()), json!({})), TIMEOUT)
        .await;
    assert_down(
        &res,
        ErrorKind::Assertion,
        "unreachable",
        "SELECT 99 was refused",
    );
}

#[tokio::test]
async fn memory_pressure_under_noeviction_is_down_and_writes_are_refused() {
    let r = Redis::start(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]);
    // fill until writes are refused (more than maxmemory's worth)
    r.fill("fill", 3000, 1024);
    let p = prober();
    let res = p.check(&redis(&r.url(), json!({})), TIMEOUT).await;
    assert_down(
        &res,
        ErrorKind::Assertion,
        "memory_pressure",
        "of maxmemory (2.0 MB), over the 95% critical threshold",
    );
    let d = details(&res);
    assert_eq!(d["max_bytes"], 2 * 1024 * 1024);
    assert!(d["memory_ratio"].as_f64().unwrap() > 0.95, "{d}");
    assert_eq!(d["policy"], "noeviction");

    let res = p
        .check(&redis(&r.url(), json!({"write_probe": true})), TIMEOUT)
        .await;
    // memory pressure is the cause and names the verdict; the refused write is listed
    assert_down(
        &res,
        ErrorKind::Assertion,
        "memory_pressure",
        "over the 95% critical threshold",
    );
    let d = details(&res);
    assert_eq!(d["write_probe"], "refused");
    assert!(
        d["write_error"]
            .as_str()
            .unwrap()
            .starts_with("OOM command not allowed"),
        "{d}"
    );
    assert_eq!(d["reasons"], json!(["memory_pressure", "writes_refused"]));
}

#[tokio::test]
async fn an_eviction_storm_between_two_checks_degrades() {
    let r = Redis::start(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let p = prober();
    let spec = redis(&r.url(), json!({}));
    let first = p.check(&spec, TIMEOUT).await;
    assert_up(&first);
    assert_eq!(details(&first)["evictions_per_min"], Value::Null);
    // twice maxmemory's worth of writes: thousands of keys evicted
    r.fill("storm", 8000, 1024);
    // the storm is over and memory is back down, but it happened since the last check
    r.cli(&["FLUSHALL"]);
    let second = p.check(&spec, TIMEOUT).await;
    match &second.verdict {
        Verdict::Degraded { reason } => assert!(reason.contains("per minute"), "{reason}"),
        other => panic!("expected degraded, got {other:?}; {:?}", second.details),
    }
    let d = details(&second);
    assert_eq!(d["reason"], "eviction_storm");
    assert!(d["evictions_per_min"].as_f64().unwrap() > 1000.0, "{d}");
    assert_eq!(d["policy"], "allkeys-lru");
    // with no new evictions, the next check is up again: the total does not count
    let third = p.check(&spec, TIMEOUT).await;
    assert_up(&third);
    assert!(details(&third)["evicted_keys"].as_u64().unwrap() > 1000);
}

#[tokio::test]
async fn replica_link_role_and_failover() {
    let mut primary = Redis::start(&[]);
    let port = primary.port.to_string();
    let replica = Redis::start(&["--replicaof", "127.0.0.1", &port]);
    wait_until("the replica's link to come up", || {
        replica.info_field("master_link_status").as_deref() == Some("up")
    });
    let p = prober();
    primary.cli(&["SET", "k", "v"]);

    let res = p
        .check(
            &redis(
                &replica.url(),
                json!({"expect_role": "replica", "max_lag": "10s", "write_probe": true}),
            ),
            TIMEOUT,
        )
        .await;
    assert_up(&res);
    let d = details(&res);
    assert_eq!(d["role"], "replica");
    assert_eq!(d["master_link_status"], "up");
    assert_eq!(d["master"], format!("127.0.0.1:{port}"));
    assert_eq!(d["write_probe"], "skipped");

    // the primary sees its replica
    let res = p
        .check(
            &redis(
                &primary.url(),
                json!({"expect_role": "primary", "expect_replicas": 1}),
            ),
            TIMEOUT,
        )
        .await;
    assert_up(&res);
    let d = details(&res);
    assert_eq!(d["connected_replicas"], 1);
    assert_eq!(
        d["replicas"][0]["addr"],
        format!("127.0.0.1:{}", replica.port)
    );
    let res = p
        .check(
            &redis(&primary.url(), json!({"expect_replicas": 2})),
            TIMEOUT,
        )
        .await;
    assert_eq!(details(&res)["reason"], "missing_replicas");

    // a replica checked as a primary: an unintended failover
    let res = p
        .check(
            &redis(&replica.url(), json!({"expect_role": "primary"})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &res,
        ErrorKind::Assertion,
        "role_mismatch",
        "role is replica, expected primary",
    );

    // writes to a replica are refused
    let res = p
        .check(
            &redis(&replica.url(), json!({"write_probe": true})),
            TIMEOUT,
        )
        .await;
    assert_down(&res, ErrorKind::Assertion, "writes_refused", "READONLY");

    // the primary dies: the replica's link goes down
    primary.stop();
    let spec = redis(&replica.url(), json!({"expect_role": "replica"}));
    let deadline = Instant::now() + Duration::from_secs(15);
    let res = loop {
        let res = p.check(&spec, TIMEOUT).await;
        if !res.verdict.is_ok() || Instant::now() > deadline {
            break res;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_down(
        &res,
        ErrorKind::Assertion,
        "replica_disconnected",
        &format!("replica link to 127.0.0.1:{port} is down"),
    );

    // promoted: now it is a primary, and a monitor expecting a replica fails
    assert_eq!(replica.cli(&["REPLICAOF", "NO", "ONE"]), "OK");
    let res = p.check(&spec, TIMEOUT).await;
    assert_down(
        &res,
        ErrorKind::Assertion,
        "role_mismatch",
        "role is primary, expected replica",
    );
}

#[tokio::test]
async fn passwords_and_a_least_privilege_acl_user() {
    let mut r = Redis::start(&["--requirepass", "s3cret"]);
    r.cli = vec![
        "-p".into(),
        r.port.to_string(),
        "-a".into(),
        "s3cret".into(),
    ];
    let p = prober();
    let url = format!("redis://:s3cret@127.0.0.1:{}", r.port);
    assert_up(
        &p.check(&redis(&url, json!({"write_probe": true})), TIMEOUT)
            .await,
    );

    // the ACL from docs/redis.md
    let acl = [
        "ACL",
        "SETUSER",
        "vigilmon",
        "reset",
        "on",
        ">probe-pass",
        "+ping",
        "+info",
        "+select",
        "+set",
        "resetkeys",
        "~vigilmon:probe*",
    ];
    assert_eq!(r.cli(&acl), "OK");
    let url = format!("redis://vigilmon:probe-pass@127.0.0.1:{}/2", r.port);
    let res = p
        .check(&redis(&url, json!({"write_probe": true})), TIMEOUT)
        .await;
    assert_up(&res);
    assert_eq!(details(&res)["write_probe"], "ok");
    // the same user may not write any other key
    let res = p
        .check(
            &redis(
                &url,
                json!({"write_probe": true, "write_probe_key": "app:data"}),
            ),
            TIMEOUT,
        )
        .await;
    assert_down(&res, ErrorKind::Assertion, "writes_refused", "NOPERM");

    // without +set, the read-only checks still pass
    assert_eq!(
        r.cli(&[
            "ACL", "SETUSER", "reader", "reset", "on", ">rpass", "+ping", "+info"
        ]),
        "OK"
    );
    let url = format!("redis://reader:rpass@127.0.0.1:{}", r.port);
    assert_up(&p.check(&redis(&url, json!({})), TIMEOUT).await);

    // wrong password, unknown user, no password at all
    for url in [
        format!("redis://:wrong@127.0.0.1:{}", r.port),
        format!("redis://nobody:x@127.0.0.1:{}", r.port),
    ] {
        let res = p.check(&redis(&url, json!({})), TIMEOUT).await;
        assert_down(
            &res,
            ErrorKind::Connect,
            "auth_failed",
            "authentication failed (AUTH): WRONGPASS",
        );
    }
    let res = p.check(&redis(&r.url(), json!({})), TIMEOUT).await;
    assert_down(&res, ErrorKind::Connect, "auth_failed", "NOAUTH");
}

#[tokio::test]
async fn a_stopped_server_is_a_connect_error() {
    let mut r = Redis::start(&[]);
    let url = r.url();
    r.stop();
    let res = prober().check(&redis(&url, json!({})), TIMEOUT).await;
    assert_down(
        &res,
        ErrorKind::Connect,
        "unreachable",
        "connection refused",
    );
}

#[tokio::test]
async fn unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock: PathBuf = dir.path().join("redis.sock");
    let sock_text = sock.display().to_string();
    let r = Redis::start_in(
        dir,
        &["--unixsocket", &sock_text, "--unixsocketperm", "700"],
        true,
    );
    wait_until("the unix socket", || Path::new(&sock_text).exists());
    // Not under probe.allow_unix_sockets: refused before connecting.
    let res = prober()
        .check(&redis(&format!("unix://{sock_text}"), json!({})), TIMEOUT)
        .await;
    assert_down(
        &res,
        ErrorKind::Connect,
        "unreachable",
        "allow_unix_sockets",
    );
    let mut opts = ProbeOptions::new(RegionName::parse("eu-test").unwrap());
    opts.guard.allow_unix_sockets = vec![sock.parent().unwrap().to_path_buf()];
    let p = Prober::new(opts).unwrap();
    let res = p
        .check(
            &redis(&format!("unix://{sock_text}?db=1"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_up(&res);
    assert!(res.phases.connect_ms.is_some());
    assert_eq!(details(&res)["pong"], "PONG");
    drop(r);
    let res = p
        .check(&redis(&format!("unix://{sock_text}"), json!({})), TIMEOUT)
        .await;
    assert_down(&res, ErrorKind::Connect, "unreachable", "unix socket");
}

#[tokio::test]
async fn tls_with_a_trusted_certificate() {
    let version = Command::new("redis-server").arg("--version").output();
    let Ok(version) = version else {
        panic!("redis-server is not installed");
    };
    let dir = tempfile::tempdir().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    params.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let tls_port = free_port();
    let (cert_s, key_s, tls_s) = (
        cert_path.display().to_string(),
        key_path.display().to_string(),
        tls_port.to_string(),
    );
    let r = Redis::start_in(
        dir,
        &[
            "--tls-port",
            &tls_s,
            "--tls-cert-file",
            &cert_s,
            "--tls-key-file",
            &key_s,
            "--tls-ca-cert-file",
            &cert_s,
            "--tls-auth-clients",
            "no",
        ],
        false,
    );
    // A build without TLS refuses the options and exits.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect(("127.0.0.1", tls_port)).is_ok() {
            break;
        }
        let log = r.log();
        if log.contains("Bad directive") || log.contains("not built with TLS") {
            eprintln!(
                "skipping: this redis-server ({}) was built without TLS",
                String::from_utf8_lossy(&version.stdout).trim()
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "TLS port never opened; log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    r.wait_ready();

    let url = format!("rediss://localhost:{tls_port}");
    // not trusted: a TLS failure
    let res = prober().check(&redis(&url, json!({})), TIMEOUT).await;
    assert_down(&res, ErrorKind::Tls, "unreachable", "TLS handshake failed");
    // trusted through extra_roots
    let mut opts = ProbeOptions::new(RegionName::parse("eu-test").unwrap());
    opts.extra_roots = vec![cert.der().to_vec()];
    let p = Prober::new(opts).unwrap();
    let res = p
        .check(&redis(&url, json!({"write_probe": true})), TIMEOUT)
        .await;
    assert_up(&res);
    assert!(res.phases.tls_ms.is_some(), "{:?}", res.phases);
    assert!(res.cert_expires_at.is_some());
    assert_eq!(details(&res)["write_probe"], "ok");
    // plain RESP to the TLS port gets no answer it understands
    let res = p
        .check(
            &redis(&format!("redis://127.0.0.1:{tls_port}"), json!({})),
            Duration::from_secs(1),
        )
        .await;
    assert!(!res.verdict.is_ok());
}

#[tokio::test]
async fn a_server_that_does_not_speak_resp_is_a_protocol_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let res = prober()
        .check(
            &redis(&format!("redis://127.0.0.1:{port}"), json!({})),
            TIMEOUT,
        )
        .await;
    assert_down(&res, ErrorKind::Protocol, "unreachable", "malformed reply");
}
