//! The `icmp` check against real hosts: this machine's loopback (127.0.0.1 and ::1)
//! through whichever socket the process may open (a raw one as root where unprivileged
//! ICMP sockets are off), and — in network namespaces made for the test, by a child
//! run of this test binary without `CAP_NET_RAW` — the unprivileged socket
//! (`net.ipv4.ping_group_range` opened in the namespace), a host that answers no echo
//! (`icmp_echo_ignore_all` in the namespace: 100 % loss, bounded by the timeout), and
//! the refusal that says what to change when neither socket may be opened.
//!
//! The namespace tests need root, `ip` (iproute2) and `setpriv` (util-linux); without
//! them they say so and pass.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

/// Set in the child runs of this binary.
const CHILD: &str = "VIGILMON_ICMP_TEST_CHILD";

fn spec(host: &str, extra: Value) -> CheckSpec {
    let mut v = json!({"name": "ping", "type": "icmp", "host": host});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let cfg: MonitorConfig = serde_json::from_value(v).unwrap();
    cfg.build().unwrap().check
}

fn prober() -> Prober {
    Prober::new(ProbeOptions::new(RegionName::parse("eu-test").unwrap())).unwrap()
}

#[track_caller]
fn assert_down(r: &CheckResult, kind: ErrorKind, words: &str) {
    match &r.verdict {
        Verdict::Down { kind: k, message } => {
            assert_eq!(*k, kind, "wrong kind; message: {message}");
            assert!(message.contains(words), "{message:?} lacks {words:?}");
        }
        other => panic!("expected down ({kind:?}), got {other:?}"),
    }
}

/// Whether this group may open unprivileged ICMP sockets here.
fn unprivileged_allowed() -> bool {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
    let mut parts = range
        .split_whitespace()
        .map(|p| p.parse::<i64>().unwrap_or(-1));
    let (Some(lo), Some(hi)) = (parts.next(), parts.next()) else {
        return false;
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let gid = status
        .lines()
        .find(|l| l.starts_with("Gid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|g| g.parse::<i64>().ok())
        .unwrap_or(-1);
    lo <= gid && gid <= hi
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0")
}

#[tokio::test]
async fn loopback_answers_over_ipv4_and_ipv6() {
    if !is_root() && !unprivileged_allowed() {
        eprintln!("skipped: neither root nor allowed unprivileged ICMP sockets");
        return;
    }
    for host in ["127.0.0.1", "::1", "localhost"] {
        let r = prober()
            .check(
                &spec(
                    host,
                    json!({"count": 3, "expect": {"max_loss": 0, "response_time": "1s"}}),
                ),
                Duration::from_secs(5),
            )
            .await;
        assert_eq!(r.verdict, Verdict::Up, "{host}: {r:?}");
        let d = r.details.as_ref().unwrap();
        assert_eq!(
            (d["sent"].as_u64(), d["received"].as_u64()),
            (Some(3), Some(3)),
            "{d}"
        );
        assert_eq!(d["loss_percent"], 0.0, "{d}");
        assert!(d["rtt_avg_ms"].as_f64().unwrap() < 1000.0, "{d}");
        assert!(r.phases.ttfb_ms.is_some());
        // Three echoes 200 ms apart.
        assert!(r.duration_ms >= 400, "{r:?}");
        if is_root() && !unprivileged_allowed() {
            assert_eq!(d["socket"], "raw", "{d}");
        }
        if host == "localhost" {
            assert!(r.phases.dns_ms.is_some());
        }
    }
}

#[tokio::test]
async fn the_network_guard_is_obeyed() {
    let mut opts = ProbeOptions::new(RegionName::parse("eu-test").unwrap());
    opts.guard.deny_networks = vec!["127.0.0.0/8".parse().unwrap()];
    let r = Prober::new(opts)
        .unwrap()
        .check(&spec("127.0.0.1", json!({})), Duration::from_secs(2))
        .await;
    assert_down(&r, ErrorKind::Dns, "may not use");
    let r = prober()
        .check(&spec("169.254.169.254", json!({})), Duration::from_secs(2))
        .await;
    assert_down(&r, ErrorKind::Dns, "link-local");
}

/// A network namespace of this test's own, deleted on drop.
struct Netns(String);

impl Netns {
    /// A fresh namespace with loopback up and `sysctls` written, or `None` (with the
    /// reason printed) where namespaces cannot be made.
    fn new(tag: &str, sysctls: &[(&str, &str)]) -> Option<Netns> {
        if !is_root() {
            eprintln!("skipped: network namespaces need root");
            return None;
        }
        let name = format!("vigilmon-{tag}-{}", std::process::id());
        let made = Command::new("ip").args(["netns", "add", &name]).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: `ip netns add` is not available here");
            return None;
        }
        let ns = Netns(name);
        let mut script = "ip link set lo up".to_owned();
        for (key, value) in sysctls {
            script.push_str(&format!(
                " && echo '{value}' > /proc/sys/{}",
                key.replace('.', "/")
            ));
        }
        let ok = Command::new("ip")
            .args(["netns", "exec", &ns.0, "sh", "-c", &script])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "could not prepare the namespace: {script}");
        Some(ns)
    }

    /// Runs the ignored test `name` of this binary in the namespace, without
    /// `CAP_NET_RAW`, and returns whether it passed, with its output.
    fn run_child(&self, name: &str) -> (bool, String) {
        if Command::new("setpriv").arg("--version").output().is_err() {
            return (
                true,
                "skipped: setpriv (util-linux) is not installed".into(),
            );
        }
        let exe = std::env::current_exe().expect("the test binary");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args([
                "setpriv",
                "--inh-caps=-net_raw",
                "--ambient-caps=-net_raw",
                "--bounding-set=-net_raw",
                "--",
            ])
            .arg(exe)
            .args([
                "--exact",
                name,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .expect("run the child test");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success() && text.contains("1 passed"), text)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn unprivileged_sockets_where_the_group_is_allowed_and_loss_where_nothing_answers() {
    let Some(ns) = Netns::new(
        "icmp-open",
        &[("net.ipv4.ping_group_range", "0 2147483647")],
    ) else {
        return;
    };
    let (ok, out) = ns.run_child("child_pings_unprivileged_then_loses_every_echo");
    assert!(ok, "{out}");
}

#[test]
fn neither_socket_allowed_says_what_to_change() {
    let Some(ns) = Netns::new("icmp-shut", &[("net.ipv4.ping_group_range", "1 0")]) else {
        return;
    };
    let (ok, out) = ns.run_child("child_is_refused_both_sockets");
    assert!(ok, "{out}");
}

/// Run by [`unprivileged_sockets_where_the_group_is_allowed_and_loss_where_nothing_answers`]
/// in its namespace.
#[tokio::test]
#[ignore = "run in a network namespace by another test"]
async fn child_pings_unprivileged_then_loses_every_echo() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    for host in ["127.0.0.1", "::1"] {
        let r = prober()
            .check(&spec(host, json!({"count": 2})), Duration::from_secs(3))
            .await;
        assert_eq!(r.verdict, Verdict::Up, "{host}: {r:?}");
        assert_eq!(r.details.as_ref().unwrap()["socket"], "unprivileged");
    }
    // Now nothing answers an echo in this namespace.
    for (key, path) in [
        ("v4", "/proc/sys/net/ipv4/icmp_echo_ignore_all"),
        ("v6", "/proc/sys/net/ipv6/icmp/echo_ignore_all"),
    ] {
        std::fs::write(path, "1").unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    for host in ["127.0.0.1", "::1"] {
        let t0 = std::time::Instant::now();
        let r = prober()
            .check(
                &spec(host, json!({"count": 3, "expect": {"max_loss": 50}})),
                Duration::from_millis(1500),
            )
            .await;
        assert_down(&r, ErrorKind::Timeout, "no echo reply from");
        assert_down(&r, ErrorKind::Timeout, "3 of 3 lost (100 %)");
        let elapsed = t0.elapsed();
        assert!(
            elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_secs(3),
            "bounded by the timeout: {elapsed:?}"
        );
        assert_eq!(r.details.as_ref().unwrap()["loss_percent"], 100.0);
    }
}

/// Run by [`neither_socket_allowed_says_what_to_change`] in its namespace.
#[tokio::test]
#[ignore = "run in a network namespace by another test"]
async fn child_is_refused_both_sockets() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let r = prober()
        .check(&spec("127.0.0.1", json!({})), Duration::from_secs(2))
        .await;
    assert_down(&r, ErrorKind::Connect, "may not send ping requests");
    for fix in [
        "net.ipv4.ping_group_range, which is \"1 0\"",
        "setcap cap_net_raw+ep",
        "AmbientCapabilities=CAP_NET_RAW",
    ] {
        assert_down(&r, ErrorKind::Connect, fix);
    }
}
