//! `vigilmon import`: each source's fixture (in the peer's documented format, under
//! `tests/fixtures/import/`) imported through the real binary, the file it writes
//! checked by `vigilmon validate` and field by field, the report's lines, and bad
//! input refused with a clear error and nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::bin;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

/// Runs the binary with `args` and the environment `env`: exit code, stdout, stderr.
fn vigilmon(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .env_remove("HEALTHCHECKS_API_KEY")
        .output()
        .expect("run vigilmon");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Imports `input` from `from` into a file of a fresh directory: the file's text, its
/// YAML as JSON, the report's lines, and the directory (kept alive).
fn import(
    from: &str,
    input: &str,
    extra: &[&str],
) -> (String, Value, Vec<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vigilmon.yaml");
    let report = dir.path().join("report.txt");
    let mut args = vec![
        "import",
        "--from",
        from,
        input,
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = vigilmon(&args, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    let yaml: Value = yaml_serde::from_str(&text).unwrap();
    let lines = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (text, yaml, lines, dir)
}

fn validate(path: &Path, env: &[(&str, &str)]) {
    let (code, out, err) = vigilmon(&["validate", "-f", path.to_str().unwrap()], env);
    assert_eq!(code, 0, "{out}{err}");
}

fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no {name:?} in {list:#}"))
}

fn has_line(lines: &[String], line: &str) {
    assert!(
        lines.iter().any(|l| l == line),
        "no line {line:?} in the report:\n{}",
        lines.join("\n")
    );
}

fn has_line_starting(lines: &[String], start: &str) -> String {
    lines
        .iter()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{}", lines.join("\n")))
        .clone()
}

#[test]
fn gatus_endpoints_alerts_and_conditions_become_monitors_channels_and_policies() {
    let input = fixture("gatus.yaml");
    let (text, c, lines, dir) = import("gatus", input.to_str().unwrap(), &[]);

    // The file loads with the loader serve uses, once its variables are set.
    validate(
        &dir.path().join("vigilmon.yaml"),
        &[
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/X",
            ),
            ("PAGERDUTY_ROUTING_KEY", "0123456789abcdef0123456789abcdef"),
            (
                "DISCORD_WEBHOOK_URL",
                "https://discord.com/api/webhooks/1/x",
            ),
            ("EMAIL_SMTP_PASSWORD", "pw"),
            ("CUSTOM_URL", "https://hooks.example.com/gatus"),
            ("CUSTOM_HEADER_AUTHORIZATION", "Bearer x"),
            ("FRONTEND_AUTHORIZATION", "Bearer y"),
        ],
    );
    // Secrets are placeholders, never the values.
    for secret in [
        "XXXXXXXX",
        "0123456789abcdef",
        "hunter2",
        "s3cr3t-token",
        "abcdef\"",
    ] {
        assert!(!text.contains(secret), "{secret} is in the file:\n{text}");
    }
    assert!(
        text.contains("#   SLACK_WEBHOOK_URL: channel \"slack\": webhook_url"),
        "{text}"
    );

    // Channels, with their secrets as placeholders.
    let ch = &c["channels"];
    assert_eq!(
        named(ch, "slack"),
        &json!({"name": "slack", "type": "slack", "webhook_url": "${SLACK_WEBHOOK_URL}"})
    );
    assert_eq!(
        named(ch, "pagerduty"),
        &json!({"name": "pagerduty", "type": "pagerduty", "routing_key": "${PAGERDUTY_ROUTING_KEY}"})
    );
    assert_eq!(
        named(ch, "discord")["webhook_url"],
        "${DISCORD_WEBHOOK_URL}"
    );
    assert_eq!(
        named(ch, "email"),
        &json!({"name": "email", "type": "email", "to": ["ops@example.com", "oncall@example.com"]})
    );
    assert_eq!(
        named(ch, "custom"),
        &json!({"name": "custom", "type": "webhook", "url": "${CUSTOM_URL}",
                "headers": {"Authorization": "${CUSTOM_HEADER_AUTHORIZATION}"}})
    );
    assert_eq!(
        c["smtp"],
        json!({"host": "mail.example.com", "port": 587, "username": "gatus@example.com",
               "password": "${EMAIL_SMTP_PASSWORD}", "from": "gatus@example.com"})
    );

    // Policies, one per set of channels and events.
    let pol = &c["policies"];
    assert_eq!(
        named(pol, "to slack, pagerduty")["channels"],
        json!(["slack", "pagerduty"])
    );
    assert_eq!(
        named(pol, "to discord (down)")["notify_on"],
        json!(["down"])
    );

    // Monitors, field by field.
    let m = &c["monitors"];
    assert_eq!(
        named(m, "frontend"),
        &json!({
            "name": "frontend", "type": "http", "url": "https://example.org/health",
            "headers": {"Accept": "application/json", "Authorization": "${FRONTEND_AUTHORIZATION}"},
            "public_headers": ["Accept"],
            "expect": {"status": [200], "json": [
                {"path": "$.status", "equals": "UP"}, {"path": "$.checks.db", "equals": 1}],
                "response_time": "300ms"},
            "warn": {"cert_expiry": "2days"},
            "interval": "30s", "timeout": "5s", "confirmations": 2,
            "policy": "to slack, pagerduty", "tags": ["core"]
        })
    );
    let backend = named(m, "backend");
    assert_eq!(backend["interval"], "10s");
    assert_eq!(backend["method"], "POST");
    assert_eq!(backend["body"], "{\"ping\": true}");
    assert_eq!(
        backend["expect"],
        json!({"status": [200, 201], "body_contains": "pong"})
    );
    assert!(backend.get("policy").is_none());
    let classes = named(m, "status-classes");
    assert_eq!(classes["expect"], json!({"status": ["2xx", "3xx"]}));
    assert_eq!(classes["verify_tls"], false);
    assert_eq!(classes["follow_redirects"], false);
    assert_eq!(
        named(m, "postgres-port"),
        &json!({"name": "postgres-port", "type": "tcp", "host": "db.internal", "port": 5432,
                "interval": "1m", "confirmations": 5, "policy": "to discord (down)", "tags": ["db"]})
    );
    assert_eq!(
        named(m, "certificate"),
        &json!({"name": "certificate", "type": "tls", "host": "example.org", "port": 443,
                "expect": {"cert_expiry": "7days"}})
    );
    assert_eq!(named(m, "mail")["starttls"], "smtp");
    assert_eq!(
        named(m, "dns-apex"),
        &json!({"name": "dns-apex", "type": "dns", "query": "example.org", "record": "A",
                "resolver": "8.8.8.8", "expect": {"values": ["93.184.216.34"], "rcode": "NOERROR"}})
    );
    assert_eq!(
        named(m, "grpc-health"),
        &json!({"name": "grpc-health", "type": "grpc", "url": "grpcs://grpc.example.org:443",
                "expect": {"response_time": "500ms"}})
    );
    assert_eq!(
        named(m, "gateway-ping"),
        &json!({"name": "gateway-ping", "type": "icmp", "host": "192.168.1.1"})
    );
    assert_eq!(
        named(m, "live-feed"),
        &json!({"name": "live-feed", "type": "websocket", "url": "wss://example.org/feed",
                "send": "ping", "expect": {"reply_contains": "pong"}})
    );
    let retired = named(m, "retired");
    assert_eq!(retired["paused"], true);
    assert_eq!(retired["policy"], "to email, custom (down)");
    assert_eq!(
        named(m, "nightly-backup"),
        &json!({"name": "nightly-backup", "type": "heartbeat", "every": "1day",
                "policy": "to slack", "tags": ["jobs"]})
    );
    assert!(
        m.as_array().unwrap().iter().all(|x| x["name"] != "bastion"),
        "what is not mapped is not in the file"
    );

    // The report: one line per object.
    has_line(
        &lines,
        "section \"storage\": not mapped: a setting of Gatus itself, with no monitor or alert in it",
    );
    has_line(&lines, "alert provider \"slack\": mapped");
    has_line(
        &lines,
        "alert provider \"twilio\": not mapped: Vigilmon has no twilio channel",
    );
    has_line(
        &lines,
        "alert provider \"custom\": mapped with changes: Vigilmon's webhook POSTs its own JSON body, not the template",
    );
    has_line(&lines, "endpoint \"certificate\": mapped");
    has_line(&lines, "endpoint \"dns-apex\": mapped");
    has_line(&lines, "endpoint \"grpc-health\": mapped");
    has_line(&lines, "endpoint \"gateway-ping\": mapped");
    has_line(&lines, "endpoint \"live-feed\": mapped");
    has_line(
        &lines,
        "endpoint \"bastion\": not mapped: Vigilmon has no SSH monitor type",
    );
    let frontend = has_line_starting(&lines, "endpoint \"core/frontend\": mapped with changes: ");
    assert!(
        frontend.contains("condition \"[IP] == 127.0.0.1\" dropped: Vigilmon does not judge the address a name resolves to"),
        "{frontend}"
    );
    assert!(
        frontend
            .contains("its alerts' failure thresholds differ: the lowest, 2, is its confirmations"),
        "{frontend}"
    );
    let backend = has_line_starting(&lines, "endpoint \"core/backend\": mapped with changes: ");
    for part in [
        "interval 5s raised to 10s (Vigilmon's shortest)",
        "condition \"len([BODY].items) > 0\" dropped: Vigilmon does not compare lengths",
        "its twilio alert is dropped: that provider was not imported",
    ] {
        assert!(backend.contains(part), "{part} not in {backend}");
    }
    has_line_starting(
        &lines,
        "external endpoint \"jobs/nightly-backup\": mapped with changes: its results are now pings",
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "set these environment variables before using the file:")
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "  DISCORD_WEBHOOK_URL: referred to by the Gatus file")
    );
}

#[test]
fn gatus_secrets_are_kept_verbatim_only_when_asked() {
    let input = fixture("gatus.yaml");
    let (text, c, _, dir) = import("gatus", input.to_str().unwrap(), &["--keep-secrets"]);
    assert_eq!(
        named(&c["channels"], "slack")["webhook_url"],
        "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
    );
    // A variable the Gatus file itself referred to stays a variable.
    assert!(text.contains("${DISCORD_WEBHOOK_URL}"));
    validate(
        &dir.path().join("vigilmon.yaml"),
        &[(
            "DISCORD_WEBHOOK_URL",
            "https://discord.com/api/webhooks/1/x",
        )],
    );
}

#[test]
fn bad_input_is_refused_naming_the_input_and_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.yaml");
    let out_s = out.to_str().unwrap();

    let (code, _, err) = vigilmon(
        &[
            "import",
            "--from",
            "gatus",
            "/nonexistent/gatus.yaml",
            "-o",
            out_s,
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("cannot read /nonexistent/gatus.yaml"), "{err}");
    assert!(!out.exists());

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "endpoints:\n  - name: a\n    url: https://a\n    conditions: 5\n",
    )
    .unwrap();
    let (code, _, err) = vigilmon(
        &[
            "import",
            "--from",
            "gatus",
            bad.to_str().unwrap(),
            "-o",
            out_s,
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{}:4: endpoints[0].conditions: ", bad.display())),
        "{err}"
    );
    assert!(!out.exists());

    // An existing output is not replaced without --force.
    std::fs::write(&out, "keep me").unwrap();
    let input = fixture("gatus.yaml");
    let (code, _, err) = vigilmon(
        &[
            "import",
            "--from",
            "gatus",
            input.to_str().unwrap(),
            "-o",
            out_s,
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("exists; give --force to replace it"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    let (code, _, err) = vigilmon(
        &[
            "import",
            "--from",
            "gatus",
            input.to_str().unwrap(),
            "-o",
            out_s,
            "--force",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&out).unwrap().contains("monitors:"));
    // Without -o the file goes to standard output and the report to standard error.
    let (code, stdout, err) =
        vigilmon(&["import", "--from", "gatus", input.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.starts_with("# Vigilmon configuration imported from Gatus"),
        "{stdout}"
    );
    assert!(err.contains("endpoint \"dns-apex\": mapped\n"), "{err}");
}

const BACKUPS_UUID: &str = "0e3b1c9a-5a4d-4f0e-9b61-3c2d1e0f9a8b";

#[test]
fn healthchecks_checks_become_heartbeats_that_keep_their_uuid_and_slug() {
    let input = fixture("healthchecks.json");
    let (text, c, lines, dir) = import("healthchecks", input.to_str().unwrap(), &[]);
    validate(&dir.path().join("vigilmon.yaml"), &[]);
    assert!(!text.contains("set these"), "no variables needed:\n{text}");
    let m = &c["monitors"];
    assert_eq!(
        named(m, "Backups"),
        &json!({"name": "Backups", "type": "heartbeat", "every": "1day", "grace": "15m",
                "slug": "backups", "token": BACKUPS_UUID, "tags": ["prod", "www"]})
    );
    assert_eq!(
        named(m, "Invoice run"),
        &json!({"name": "Invoice run", "type": "heartbeat", "cron": "15 2 * * 1-5",
                "tz": "Europe/Berlin", "grace": "1h", "methods": ["POST"],
                "slug": "invoice-run", "token": "7d3f9b2e-1c4a-4e8b-a6d5-0f9e8d7c6b5a",
                "tags": ["billing"], "paused": true})
    );
    assert_eq!(
        named(m, "Mail relay digest"),
        &json!({"name": "Mail relay digest", "type": "heartbeat", "every": "1h", "grace": "5m",
                "token": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "tags": ["mail"]})
    );
    assert_eq!(m.as_array().unwrap().len(), 3);

    has_line(
        &lines,
        "check \"Backups\": mapped with changes: its slug URL /ping/<ping key>/backups takes Vigilmon's ping key (shown with the monitor); its description is not kept: monitors have none; its 2 integration(s) are not imported: the checks API does not give their settings; give it a policy",
    );
    let invoice = has_line_starting(&lines, "check \"Invoice run\": mapped with changes: ");
    assert!(
        invoice.contains("its ping URL keeps its UUID: https://hc-ping.com/7d3f9b2e-1c4a-4e8b-a6d5-0f9e8d7c6b5a becomes <public URL>/ping/7d3f9b2e-1c4a-4e8b-a6d5-0f9e8d7c6b5a"),
        "{invoice}"
    );
    assert!(invoice.contains("manual resume is not kept"), "{invoice}");
    has_line(
        &lines,
        "check \"Weekly report\": not mapped: its schedule \"Mon 08:00\" is not a five-field cron expression (an OnCalendar schedule?); Vigilmon reads cron",
    );
    has_line(
        &lines,
        "check \"Mail relay digest\": mapped with changes: its keyword filters are not kept: every ping counts by its URL (/fail, /start, exit status)",
    );
    has_line(&lines, "0 mapped, 3 mapped with changes, 1 not mapped");
}

#[test]
fn healthchecks_read_only_listings_have_no_uuid_to_keep() {
    let input = fixture("healthchecks-readonly.json");
    let (_, c, lines, _dir) = import("healthchecks", input.to_str().unwrap(), &[]);
    let b = named(&c["monitors"], "Backups");
    assert!(b.get("token").is_none(), "{b}");
    assert_eq!(b["slug"], "backups");
    let line = has_line_starting(&lines, "check \"Backups\": mapped with changes: ");
    assert!(
        line.contains("it gets a new ping URL: the listing has no UUID (a read-only API key); import with the project's full API key to keep it"),
        "{line}"
    );
}

/// A stand-in for a Healthchecks server: `GET /api/v3/checks/` answers the fixture to
/// the right `X-Api-Key`, 401 otherwise. Returns its base URL.
async fn healthchecks_api(key: &'static str) -> String {
    use axum::http::{HeaderMap, StatusCode};
    let body = std::fs::read_to_string(fixture("healthchecks.json")).unwrap();
    let app = axum::Router::new().route(
        "/api/v3/checks/",
        axum::routing::get(move |headers: HeaderMap| {
            let body = body.clone();
            async move {
                if headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(key) {
                    (StatusCode::OK, body)
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        "{\"error\": \"missing api key\"}".to_owned(),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthchecks_are_read_from_the_api_with_the_key() {
    let base = healthchecks_api("hc-key-123").await;
    let (text, c, lines, _dir) = tokio::task::spawn_blocking({
        let base = base.clone();
        move || import("healthchecks", &base, &["--api-key", "hc-key-123"])
    })
    .await
    .unwrap();
    assert!(
        text.contains(&format!("imported from Healthchecks ({base})")),
        "{text}"
    );
    assert_eq!(named(&c["monitors"], "Backups")["token"], BACKUPS_UUID);
    has_line(&lines, "0 mapped, 3 mapped with changes, 1 not mapped");

    // The key may come from the environment; a wrong or missing one is a clear error.
    let (code, out, err) = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            let out = Command::new(bin())
                .args(["import", "--from", "healthchecks", &base])
                .env("HEALTHCHECKS_API_KEY", "hc-key-123")
                .output()
                .unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(BACKUPS_UUID));
    let (code, _, err) = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            vigilmon(
                &[
                    "import",
                    "--from",
                    "healthchecks",
                    &base,
                    "--api-key",
                    "wrong",
                ],
                &[],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("GET {base}/api/v3/checks/: the server answered 401 Unauthorized (the API key is wrong, or belongs to another project)")),
        "{err}"
    );
    let (code, _, err) = tokio::task::spawn_blocking({
        let base = base.clone();
        move || vigilmon(&["import", "--from", "healthchecks", &base], &[])
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(
        err.contains("needs an API key: give --api-key or set HEALTHCHECKS_API_KEY"),
        "{err}"
    );
}

#[test]
fn healthchecks_bad_json_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("checks.json");
    std::fs::write(
        &bad,
        "{\"checks\": [{\"name\": \"a\", \"timeout\": \"soon\"}]}",
    )
    .unwrap();
    let (code, out, err) = vigilmon(
        &["import", "--from", "healthchecks", bad.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains(&format!(
            "{}:1: checks[0].timeout: invalid type",
            bad.display()
        )),
        "{err}"
    );
}

/// The imported file served: a cron job's ping at its Healthchecks UUID, and at its
/// slug, reaches the imported heartbeat.
async fn an_imported_heartbeat_takes_pings_at_its_old_uuid(backend: test_support::Backend) {
    let store = test_support::StoreFixture::new(backend).await;
    let path = store.dir.path().join("vigilmon.yaml");
    let input = fixture("healthchecks.json");
    let (code, out, err) = tokio::task::spawn_blocking({
        let path = path.clone();
        move || {
            vigilmon(
                &[
                    "import",
                    "--from",
                    "healthchecks",
                    input.to_str().unwrap(),
                    "-o",
                    path.to_str().unwrap(),
                ],
                &[],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let server = test_support::Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    let backups = named(&list["monitors"], "Backups").clone();
    assert_eq!(
        backups["ping_url"].as_str().unwrap(),
        format!("{}/ping/{BACKUPS_UUID}", server.url)
    );
    let r = reqwest::get(format!("{}/ping/{BACKUPS_UUID}", server.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "OK");
    let id = backups["id"].as_str().unwrap().to_owned();
    test_support::wait_for(
        "the heartbeat to be up",
        std::time::Duration::from_secs(10),
        || {
            let server = &server;
            let id = id.clone();
            async move {
                let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
                (m["state"] == "up").then_some(())
            }
        },
    )
    .await;
    // The slug URL works with this server's ping key.
    let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
    let slug_url = m["heartbeat"]["slug_ping_url"].as_str().unwrap().to_owned();
    assert!(slug_url.ends_with("/backups"), "{slug_url}");
    let r = reqwest::get(format!("{slug_url}/start")).await.unwrap();
    assert_eq!(r.status(), 200);
    let (_, pings) = server.get(&format!("/api/v1/monitors/{id}/pings")).await;
    let kinds: Vec<&str> = pings["pings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"start") && kinds.contains(&"success"),
        "{pings}"
    );

    // A token changed in the file is taken up when the server reads it again.
    let moved = "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b";
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(BACKUPS_UUID, moved);
    std::fs::write(&path, text).unwrap();
    let new_url = format!("{}/ping/{moved}", server.url);
    test_support::wait_for(
        "the new token to take pings",
        std::time::Duration::from_secs(20),
        || {
            let url = new_url.clone();
            async move { (reqwest::get(&url).await.ok()?.status() == 200).then_some(()) }
        },
    )
    .await;
    let r = reqwest::get(format!("{}/ping/{BACKUPS_UUID}", server.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the old token no longer pings");
}

crate::both_backends!(
    imported_heartbeat_keeps_its_uuid,
    an_imported_heartbeat_takes_pings_at_its_old_uuid
);

#[test]
fn uptime_kuma_backup_monitors_and_notifications_are_imported() {
    let input = fixture("uptime-kuma-backup.json");
    let (text, c, lines, dir) = import("uptime-kuma", input.to_str().unwrap(), &[]);
    validate(
        &dir.path().join("vigilmon.yaml"),
        &[
            (
                "OPS_SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/X",
            ),
            (
                "PAGERDUTY_ON_CALL_ROUTING_KEY",
                "fedcba9876543210fedcba9876543210",
            ),
            ("MAIL_THE_TEAM_SMTP_PASSWORD", "pw"),
            ("WEBSITE_X_API_KEY", "k"),
            ("API_HEALTH_KEYWORD_AUTHORIZATION", "Basic eDp5"),
            (
                "ORDERS_DB_URL",
                "postgres://monitor:pw@db.internal:5432/orders",
            ),
        ],
    );
    for secret in [
        "kumakumakuma",
        "fedcba98",
        "mail-pass",
        "kuma-header-secret",
        "pg-secret",
        "czNjcmV0",
    ] {
        assert!(!text.contains(secret), "{secret} is in the file:\n{text}");
    }
    let ch = &c["channels"];
    assert_eq!(
        named(ch, "Ops Slack"),
        &json!({"name": "Ops Slack", "type": "slack", "webhook_url": "${OPS_SLACK_WEBHOOK_URL}"})
    );
    assert_eq!(
        named(ch, "PagerDuty on-call"),
        &json!({"name": "PagerDuty on-call", "type": "pagerduty",
                "routing_key": "${PAGERDUTY_ON_CALL_ROUTING_KEY}",
                "events_url": "https://events.pagerduty.com/v2/enqueue"})
    );
    assert_eq!(
        named(ch, "Mail the team"),
        &json!({"name": "Mail the team", "type": "email", "to": ["team@example.com", "lead@example.com"]})
    );
    assert_eq!(
        c["smtp"],
        json!({"host": "smtp.example.com", "port": 587, "username": "kuma",
               "password": "${MAIL_THE_TEAM_SMTP_PASSWORD}", "from": "kuma@example.com"})
    );
    let m = &c["monitors"];
    assert_eq!(
        named(m, "Website"),
        &json!({"name": "Website", "type": "http", "url": "https://www.example.com/",
                "headers": {"Accept": "text/html", "X-Api-Key": "${WEBSITE_X_API_KEY}"},
                "public_headers": ["Accept"],
                "expect": {"status": ["2xx", 301]},
                "interval": "30s", "timeout": "24s", "confirmations": 3,
                "policy": "to Ops Slack, PagerDuty on-call", "tags": ["prod", "region:eu"]})
    );
    assert_eq!(
        named(m, "API health keyword"),
        &json!({"name": "API health keyword", "type": "http", "url": "https://api.example.com/health",
                "headers": {"Authorization": "${API_HEALTH_KEYWORD_AUTHORIZATION}"},
                "follow_redirects": false, "verify_tls": false,
                "expect": {"body_contains": "healthy"}, "confirmations": 1,
                "policy": "to Ops Slack", "tags": ["API"]})
    );
    let no_errors = named(m, "API no errors");
    assert_eq!(no_errors["expect"], json!({"body_not_contains": "ERROR"}));
    assert_eq!(no_errors["interval"], "10s");
    assert_eq!(no_errors["confirmations"], 2);
    assert_eq!(
        named(m, "API JSON status")["expect"],
        json!({"json": [{"path": "$.data.status", "equals": "ok"}]})
    );
    assert_eq!(
        named(m, "Nightly export"),
        &json!({"name": "Nightly export", "type": "heartbeat", "every": "1day", "grace": "1h",
                "token": "Xa9kQ2mN7pR4sT6vW8yZ1bC3dE5fG7hJ", "policy": "to Mail the team"})
    );
    let old = named(m, "Old push");
    assert!(old.get("token").is_none());
    assert_eq!(old["paused"], true);
    assert_eq!(old["grace"], "5m");
    assert_eq!(
        named(m, "Database port"),
        &json!({"name": "Database port", "type": "tcp", "host": "db.internal", "port": 5432,
                "interval": "2m", "confirmations": 1})
    );
    assert_eq!(
        named(m, "Resolver"),
        &json!({"name": "Resolver", "type": "dns", "query": "example.com", "record": "MX",
                "resolver": "1.1.1.1", "interval": "5m", "confirmations": 1})
    );
    assert_eq!(
        named(m, "Orders DB"),
        &json!({"name": "Orders DB", "type": "postgres", "url": "${ORDERS_DB_URL}",
                "query": "SELECT 1", "confirmations": 1, "policy": "to PagerDuty on-call"})
    );

    has_line(&lines, "notification \"Ops Slack\": mapped");
    has_line(
        &lines,
        "notification \"SMS\": not mapped: Vigilmon has no twilio channel",
    );
    has_line(
        &lines,
        "notification \"Mail the team\": mapped with changes: its CC and BCC are added to the recipients",
    );
    has_line(
        &lines,
        "monitor \"API\": not mapped: a group, not a check: its monitors are tagged with its name",
    );
    has_line(&lines, "monitor \"Router\": mapped");
    assert_eq!(named(m, "Router")["type"], "icmp");
    assert_eq!(named(m, "Router")["host"], "192.168.1.1");
    has_line(
        &lines,
        "monitor \"Inverted\": not mapped: upside-down mode (up when the check fails) has no equivalent",
    );
    has_line(
        &lines,
        "monitor \"Docker app\": not mapped: Vigilmon has no docker monitor type",
    );
    has_line(&lines, "monitor \"API health keyword\": mapped");
    let website = has_line_starting(&lines, "monitor \"Website\": mapped with changes: ");
    assert!(
        website.contains(
            "2 retries become 3 confirmations, checked at once rather than every retry interval"
        ) && website.contains("its description is not kept"),
        "{website}"
    );
    has_line(
        &lines,
        "monitor \"API JSON status\": mapped with changes: its notification 4 is dropped: it was not imported",
    );
    let old = has_line_starting(&lines, "monitor \"Old push\": mapped with changes: ");
    assert!(
        old.contains("its push token is shorter than 16 characters: it gets a new push URL"),
        "{old}"
    );
}

#[test]
fn uptime_kuma_bad_backup_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("backup.json");
    std::fs::write(
        &bad,
        "{\"monitorList\": [{\"name\": \"a\", \"type\": \"http\", \"tags\": 3}]}",
    )
    .unwrap();
    let (code, _, err) = vigilmon(
        &["import", "--from", "uptime-kuma", bad.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "{}:1: monitorList[0].tags: invalid type",
            bad.display()
        )),
        "{err}"
    );
}

/// Builds an Uptime Kuma 2.x `kuma.db` from the fixture's SQL script.
async fn kuma_db(dir: &Path) -> PathBuf {
    use sqlx::ConnectOptions;
    let path = dir.join("kuma.db");
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(include_str!("../fixtures/import/uptime-kuma-2.sql"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::Connection::close(conn).await.unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uptime_kuma_2_database_is_read_like_a_backup() {
    let db_dir = tempfile::tempdir().unwrap();
    let db = kuma_db(db_dir.path()).await;
    let before = std::fs::read(&db).unwrap();
    let (text, c, lines, dir) = tokio::task::spawn_blocking({
        let db = db.clone();
        move || import("uptime-kuma", db.to_str().unwrap(), &[])
    })
    .await
    .unwrap();
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database is only read"
    );
    validate(
        &dir.path().join("vigilmon.yaml"),
        &[
            (
                "TEAM_DISCORD_WEBHOOK_URL",
                "https://discord.com/api/webhooks/1/x",
            ),
            ("GOTIFY_TOKEN", "AbCdEf123456"),
            ("CACHE_URL", "redis://cache.internal:6379"),
        ],
    );
    for secret in ["kuma-discord-secret", "AbCdEf123456", "redis-secret"] {
        assert!(!text.contains(secret), "{secret} is in the file:\n{text}");
    }
    let ch = &c["channels"];
    assert_eq!(
        named(ch, "Team Discord"),
        &json!({"name": "Team Discord", "type": "discord", "webhook_url": "${TEAM_DISCORD_WEBHOOK_URL}"})
    );
    assert_eq!(
        named(ch, "Gotify"),
        &json!({"name": "Gotify", "type": "gotify", "url": "https://gotify.example.com", "token": "${GOTIFY_TOKEN}"})
    );
    let m = &c["monitors"];
    assert_eq!(
        named(m, "Shop"),
        &json!({"name": "Shop", "type": "http", "url": "https://shop.example.com/",
                "expect": {"status": ["2xx", 418]}, "timeout": "48s", "confirmations": 4,
                "policy": "to Team Discord, Gotify", "tags": ["prod", "team:web"]})
    );
    assert_eq!(
        named(m, "Backend ready"),
        &json!({"name": "Backend ready", "type": "http", "url": "https://backend.example.com/ready",
                "verify_tls": false, "expect": {"body_contains": "READY"}, "interval": "45s",
                "confirmations": 1, "policy": "to Team Discord", "tags": ["Backend"]})
    );
    assert_eq!(
        named(m, "Hourly sync"),
        &json!({"name": "Hourly sync", "type": "heartbeat", "every": "1h", "grace": "10m",
                "token": "k2m4p6r8t0v2x4z6B8D0F2H4J6L8N0P2", "policy": "to Gotify",
                "tags": ["team:data"]})
    );
    let queue = named(m, "Queue depth");
    assert_eq!(queue["paused"], true);
    assert!(queue.get("expect").is_none(), "{queue}");
    assert_eq!(
        named(m, "Cache"),
        &json!({"name": "Cache", "type": "redis", "url": "${CACHE_URL}", "interval": "30s", "confirmations": 1})
    );
    has_line(
        &lines,
        "notification \"Signal\": not mapped: Vigilmon has no signal channel",
    );
    has_line(
        &lines,
        "monitor \"Backend\": not mapped: a group, not a check: its monitors are tagged with its name",
    );
    has_line(
        &lines,
        "monitor \"Sensors\": not mapped: Vigilmon has no mqtt monitor type",
    );
    has_line(&lines, "monitor \"Backend ready\": mapped");
    has_line(
        &lines,
        "monitor \"Queue depth\": mapped with changes: its JSON query \"$count(items)\" == \"0\" is dropped: only a plain path compared with == maps",
    );
    has_line(
        &lines,
        "monitor \"Cache\": mapped with changes: its notification 3 is dropped: it was not imported",
    );

    // A file that is not a database of Uptime Kuma's is refused by name.
    let other = db_dir.path().join("other.db");
    {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&other)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql("CREATE TABLE t (x INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::Connection::close(conn).await.unwrap();
    }
    let (code, _, err) = tokio::task::spawn_blocking({
        let other = other.clone();
        move || {
            vigilmon(
                &["import", "--from", "uptime-kuma", other.to_str().unwrap()],
                &[],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{}: table notification", other.display())),
        "{err}"
    );
}

/// An imported Uptime Kuma push monitor takes pushes at its old push URL.
async fn an_imported_push_monitor_keeps_its_push_url(backend: test_support::Backend) {
    let store = test_support::StoreFixture::new(backend).await;
    let backup = store.dir.path().join("backup.json");
    let token = "Xa9kQ2mN7pR4sT6vW8yZ1bC3dE5fG7hJ";
    std::fs::write(
        &backup,
        json!({"version": "1.23.16", "notificationList": [], "monitorList": [
            {"id": 1, "name": "Nightly export", "type": "push", "active": true,
             "interval": 86400, "maxretries": 0, "pushToken": token,
             "notificationIDList": {}, "tags": []}]})
        .to_string(),
    )
    .unwrap();
    let path = store.dir.path().join("vigilmon.yaml");
    let (code, out, err) = tokio::task::spawn_blocking({
        let (backup, path) = (backup.clone(), path.clone());
        move || {
            vigilmon(
                &[
                    "import",
                    "--from",
                    "uptime-kuma",
                    backup.to_str().unwrap(),
                    "-o",
                    path.to_str().unwrap(),
                ],
                &[],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let server = test_support::Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let r = reqwest::get(format!(
        "{}/api/push/{token}?status=up&msg=OK&ping=",
        server.url
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "{\"ok\":true}");
    let (_, list) = server.get("/api/v1/monitors").await;
    let id = named(&list["monitors"], "Nightly export")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    test_support::wait_for(
        "the push to count",
        std::time::Duration::from_secs(10),
        || {
            let server = &server;
            let id = id.clone();
            async move {
                let (_, m) = server.get(&format!("/api/v1/monitors/{id}")).await;
                (m["state"] == "up").then_some(())
            }
        },
    )
    .await;
}

crate::both_backends!(
    imported_push_monitor_keeps_its_url,
    an_imported_push_monitor_keeps_its_push_url
);
