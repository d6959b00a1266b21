//! Monitors as code both ways through the real binary: `vigilmon export` prints what a
//! server holds in the config file's form (secrets as placeholders; revealed only from
//! the store itself), `vigilmon apply` of that output changes nothing, a changed file
//! is planned field by field, applied (the engine checks what it created) and pruned,
//! objects of the server's own config file are refused and kept, and bad files change
//! nothing.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Backend, Server, StoreFixture, Target, run_cli, wait_for};

use crate::{bin, both_backends};

/// `vigilmon` with `args` and extra environment: (exit code, stdout, stderr).
fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .env("VIGILMON_LOG", "warn")
        .env_remove("VIGILMON_URL")
        .env_remove("VIGILMON_TOKEN")
        .output()
        .expect("run vigilmon");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn monitor<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
}

async fn export_then_apply_both_ways(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let port = target.url.rsplit(':').next().unwrap().to_owned();
    let config = store.dir.path().join("vigilmon.yaml");
    std::fs::write(
        &config,
        format!("monitors:\n  - name: from-file\n    type: tcp\n    host: 127.0.0.1\n    port: {port}\n    interval: 1m\n"),
    )
    .unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), config.display().to_string()],
    );
    let url = server.url.clone();
    let token = server.token.clone();
    let remote = ["--server", url.as_str(), "--token", token.as_str()];

    // Made through the API, with secrets.
    let (status, body) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "web", "type": "http", "url": format!("http://app:s3cret-pw@127.0.0.1:{port}/"),
                    "interval": "10s", "headers": {"Authorization": "Bearer tok-123"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server
        .post(
            "/api/v1/channels",
            &json!({"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "sign-me-0123456789"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Export from the server: the config file's form, secrets as placeholders.
    let (code, exported, err) = cli(&[&["export"], &remote[..]].concat(), &[]);
    assert_eq!(code, 0, "{err}");
    for secret in ["s3cret-pw", "tok-123", "sign-me", "127.0.0.1:9/hook"] {
        assert!(!exported.contains(secret), "{secret} leaked: {exported}");
    }
    assert!(
        exported.contains("url: http://app:${VIGILMON_MONITOR_WEB_URL}@127.0.0.1:"),
        "{exported}"
    );
    assert!(exported.contains("Authorization: ${VIGILMON_MONITOR_WEB_HEADERS_AUTHORIZATION}"));
    assert!(exported.contains("${VIGILMON_CHANNEL_OPS_SECRET}"));
    assert!(
        exported.contains("- name: from-file"),
        "the whole configuration"
    );
    let file = store.dir.path().join("exported.yaml");
    std::fs::write(&file, &exported).unwrap();
    let file_arg = file.display().to_string();

    // Applying the export changes nothing (the unset placeholders keep the secrets).
    let (code, out, err) = cli(&[&["apply", "-f", &file_arg], &remote[..]].concat(), &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no changes (3 unchanged)"), "{out}");

    // A changed file: planned field by field, nothing changed by a dry run.
    let changed = exported.replace("interval: 10s", "interval: 20s")
        + "policies:\n- name: main\n  channels: [ops]\n";
    let changed = changed.replace(
        "monitors:\n",
        &format!("monitors:\n- name: api\n  type: tcp\n  host: 127.0.0.1\n  port: {port}\n  interval: 10s\n  policy: main\n"),
    );
    std::fs::write(&file, &changed).unwrap();
    let (code, out, err) = cli(
        &[&["apply", "-f", &file_arg, "--dry-run"], &remote[..]].concat(),
        &[("VIGILMON_MONITOR_WEB_URL", "new-pw")],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("+ policy \"main\" (create)"), "{out}");
    assert!(out.contains("+ monitor \"api\" (create)"), "{out}");
    assert!(out.contains("~ monitor \"web\" (update)"), "{out}");
    assert!(out.contains("    interval: \"10s\" → \"20s\""), "{out}");
    assert!(
        out.contains("(changed)") && !out.contains("new-pw"),
        "{out}"
    );
    assert!(out.contains("dry run: nothing changed"), "{out}");
    let (_, list) = server.get("/api/v1/monitors").await;
    assert!(monitor(&list, "api").is_none());
    assert_eq!(monitor(&list, "web").unwrap()["interval"], "10s");

    // Applied: created and changed objects say where they come from, the engine checks
    // the new monitor, and the secret set through the environment is in use.
    let (code, out, err) = cli(
        &[&["apply", "-f", &file_arg], &remote[..]].concat(),
        &[("VIGILMON_MONITOR_WEB_URL", "new-pw")],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with("applied\n"), "{out}");
    let (_, list) = server.get("/api/v1/monitors").await;
    let web = monitor(&list, "web").unwrap();
    assert_eq!(web["interval"], "20s");
    assert_eq!(web["source"], "apply");
    let mut ui = crate::ui::Web::new(&server);
    ui.sign_in("owner@example.com", "correct horse battery")
        .await;
    let page = ui
        .get(&format!("/monitors/{}", web["id"].as_str().unwrap()))
        .await
        .body;
    assert!(
        page.contains("This monitor was written by <code>vigilmon apply</code>"),
        "{page}"
    );
    // The unchanged channel keeps where it was made.
    let channels = ui.get("/channels").await.body;
    assert!(
        channels.contains("UI or API") && !channels.contains("vigilmon apply"),
        "{channels}"
    );
    let api_id = monitor(&list, "api").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(
        "the applied monitor checked",
        Duration::from_secs(30),
        || async {
            let (_, m) = server.get(&format!("/api/v1/monitors/{api_id}")).await;
            (m["state"] == "up").then_some(())
        },
    )
    .await;
    let (code, revealed, err) = cli(
        &[
            &["export", "--reveal-secrets"][..],
            &store.args().iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        revealed.contains("http://app:new-pw@127.0.0.1:"),
        "{revealed}"
    );
    assert!(revealed.contains("Bearer tok-123") && revealed.contains("sign-me-0123456789"));
    // Applying the same file again: nothing to do.
    let (code, out, _) = cli(
        &[&["apply", "-f", &file_arg], &remote[..]].concat(),
        &[("VIGILMON_MONITOR_WEB_URL", "new-pw")],
    );
    assert_eq!(code, 0);
    assert!(out.contains("no changes (5 unchanged)"), "{out}");

    // The server's own config file owns its objects: a changed one is refused, by field,
    // and nothing else is applied either.
    let refused = changed
        .replace("interval: 20s", "interval: 30s")
        .replace("interval: 1m", "interval: 2m");
    std::fs::write(&file, &refused).unwrap();
    let (code, out, err) = cli(&[&["apply", "-f", &file_arg], &remote[..]].concat(), &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("monitors[\"from-file\"]: is declared in the server's config file"),
        "{err}"
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    assert_eq!(
        monitor(&list, "web").unwrap()["interval"],
        "20s",
        "nothing applied"
    );

    // Pruned: what the file no longer names goes, the config file's monitor stays.
    std::fs::write(
        &file,
        changed.replace(
            &format!("- name: api\n  type: tcp\n  host: 127.0.0.1\n  port: {port}\n  interval: 10s\n  policy: main\n"),
            "",
        ),
    )
    .unwrap();
    let (code, out, err) = cli(
        &[&["apply", "-f", &file_arg, "--prune"], &remote[..]].concat(),
        &[("VIGILMON_MONITOR_WEB_URL", "new-pw")],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("- monitor \"api\" (delete)"), "{out}");
    let (_, list) = server.get("/api/v1/monitors").await;
    assert!(monitor(&list, "api").is_none());
    assert!(monitor(&list, "from-file").is_some());

    // Bad files change nothing and say why.
    std::fs::write(&file, "server:\n  listen: 127.0.0.1:1\nmonitors: []\n").unwrap();
    let (code, _, err) = cli(&[&["apply", "-f", &file_arg], &remote[..]].concat(), &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("`server` belongs to serve's own config file"),
        "{err}"
    );
    std::fs::write(
        &file,
        "monitors:\n- name: ${VIGILMON_TEST_UNSET_NAME}\n  type: tcp\n  host: 127.0.0.1\n  port: 9\n",
    )
    .unwrap();
    let (code, _, err) = cli(&[&["apply", "-f", &file_arg], &remote[..]].concat(), &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("environment variable VIGILMON_TEST_UNSET_NAME is not set"),
        "{err}"
    );
    std::fs::write(
        &file,
        "monitors:\n- name: new\n  type: http\n  url: http://127.0.0.1:9/\n  interval: 5s\n",
    )
    .unwrap();
    let (code, _, err) = cli(&[&["apply", "-f", &file_arg], &remote[..]].concat(), &[]);
    assert_eq!(code, 1);
    assert!(err.contains("monitors[\"new\"].interval"), "{err}");
    let (_, list) = server.get("/api/v1/monitors").await;
    assert!(monitor(&list, "new").is_none());
    // A ping token another monitor holds is refused before anything is written.
    let (status, body) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "nightly", "type": "heartbeat", "every": "1d", "token": "kept-token-0123456789"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    std::fs::write(
        &file,
        "monitors:\n- name: other\n  type: heartbeat\n  every: 1h\n  token: kept-token-0123456789\n- name: also-new\n  type: tcp\n  host: 127.0.0.1\n  port: 9\n",
    )
    .unwrap();
    let (code, _, err) = cli(&[&["apply", "-f", &file_arg], &remote[..]].concat(), &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("monitors[\"other\"].token: another heartbeat monitor has this ping token"),
        "{err}"
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    assert!(monitor(&list, "also-new").is_none(), "nothing applied");
    // Without a server to talk to, apply says what it needs.
    let (code, _, err) = run_cli(
        bin(),
        &["apply".into(), "-f".into(), file_arg.clone()],
        None,
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("--server (or VIGILMON_URL) is needed"),
        "{err}"
    );
}
both_backends!(export_then_apply_both_ways, export_then_apply_both_ways);
