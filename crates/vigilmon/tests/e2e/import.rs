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
    let retired = named(m, "retired");
    assert_eq!(retired["paused"], true);
    assert_eq!(retired["policy"], "to email, custom (down)");
    assert_eq!(
        named(m, "nightly-backup"),
        &json!({"name": "nightly-backup", "type": "heartbeat", "every": "1day",
                "policy": "to slack", "tags": ["jobs"]})
    );
    assert!(
        m.as_array()
            .unwrap()
            .iter()
            .all(|x| x["name"] != "gateway-ping")
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
    has_line(
        &lines,
        "endpoint \"gateway-ping\": not mapped: Vigilmon has no ICMP (ping) monitor type yet",
    );
    has_line(
        &lines,
        "endpoint \"live-feed\": not mapped: Vigilmon has no WebSocket monitor type yet",
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
