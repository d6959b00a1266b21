//! `vigilmon backup` and `vigilmon restore` as an operator runs them: a backup of a
//! server taking heartbeat pings, restored into a fresh data directory and served
//! again with every ping answered `OK` before the backup began; and the refusals
//! (an existing file, PostgreSQL, a running server, a file that is not a backup).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Backend, Server, StoreFixture, run_cli, wait_for};

use crate::bin;

/// Heartbeat monitors pinged at once; each keeps its newest 1,000 pings, so the load
/// is spread over several to keep every ping of the test in the log.
const MONITORS: usize = 8;

fn data_dir(store: &StoreFixture) -> String {
    store.dir.path().join("data").display().to_string()
}

async fn cli(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || run_cli(bin(), &args, None))
        .await
        .expect("vigilmon")
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// The bodies of a heartbeat monitor's logged pings.
async fn logged_bodies(server: &Server, id: &str) -> Vec<String> {
    let (status, log) = server
        .get(&format!("/api/v1/monitors/{id}/pings?limit=1000"))
        .await;
    assert_eq!(status, 200, "{log}");
    log["pings"]
        .as_array()
        .expect("pings")
        .iter()
        .filter_map(|p| p["body"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_ping_load_restores_every_acknowledged_ping() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let config = store.dir.path().join("unlimited.yaml");
    std::fs::write(&config, "server:\n  ping_rate_limit: 0\n").expect("config file");
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), config.display().to_string()],
    );
    let mut monitors = Vec::new();
    for i in 0..MONITORS {
        let (status, m) = server
            .post(
                "/api/v1/monitors",
                &json!({"name": format!("job-{i}"), "type": "heartbeat", "every": "1h"}),
            )
            .await;
        assert_eq!(status, 201, "{m}");
        monitors.push((
            m["id"].as_str().unwrap().to_owned(),
            m["ping_url"].as_str().unwrap().to_owned(),
        ));
    }

    // One client per monitor, each ping with a body of its own; what was answered OK
    // is remembered as (monitor, body).
    let acked: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for (i, (_, url)) in monitors.iter().enumerate() {
        let (acked, stop, url) = (acked.clone(), stop.clone(), url.clone());
        clients.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let body = format!("job-{i} ping {n}");
                let Ok(r) = c.post(&url).body(body.clone()).send().await else {
                    continue;
                };
                if r.status() == 200 && r.text().await.is_ok_and(|t| t == "OK") {
                    acked.lock().unwrap().push((i, body));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    wait_for("pings acknowledged", Duration::from_secs(30), || async {
        (acked.lock().unwrap().len() >= 50 * MONITORS).then_some(())
    })
    .await;

    // Every ping answered OK so far must be in the backup; the pings go on meanwhile.
    let before: Vec<(usize, String)> = acked.lock().unwrap().clone();
    let backup = store.dir.path().join("vigilmon-backup.db");
    let backup_arg = backup.display().to_string();
    let mut backup_args = args(&["backup", "--to", &backup_arg, "--data-dir"]);
    backup_args.push(data_dir(&store));
    let (code, out, err) = cli(backup_args.clone()).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("backed up") && out.contains("schema version"),
        "{out}"
    );
    let during = acked.lock().unwrap().len() - before.len();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        let _ = c.await;
    }
    assert!(
        during > 0,
        "the server answered no ping while the backup ran"
    );

    // An existing file is not replaced unless asked.
    let (code, _, err) = cli(backup_args.clone()).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );

    // A restore into the directory the server holds is refused, naming the server.
    let mut restore_live = args(&["restore", "--from", &backup_arg, "--data-dir"]);
    restore_live.push(data_dir(&store));
    let (code, _, err) = cli(restore_live).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("is using the data directory")
            && err.contains(&format!("process {}", server.pid())),
        "{err}"
    );

    // Restored into a fresh data directory and served: every acknowledged ping is there.
    let fresh = StoreFixture::new(Backend::Sqlite).await;
    let mut restore = args(&["restore", "--from", &backup_arg, "--data-dir"]);
    restore.push(data_dir(&fresh));
    let (code, out, err) = cli(restore).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("restored"), "{out}");
    let restored = Server::start_with_token(bin(), &fresh, &[], server.token.clone());
    for (i, (id, _)) in monitors.iter().enumerate() {
        let m: Value = restored.get(&format!("/api/v1/monitors/{id}")).await.1;
        let total = m["heartbeat"]["pings_total"].as_u64().unwrap_or(0);
        let expected: Vec<&String> = before
            .iter()
            .filter(|(m, _)| *m == i)
            .map(|(_, b)| b)
            .collect();
        assert!(
            total <= 1000,
            "job-{i} has {total} pings, more than its log keeps; the test must ping less"
        );
        assert!(
            total >= expected.len() as u64,
            "job-{i}: {} pings answered OK before the backup, {total} restored",
            expected.len()
        );
        let logged = logged_bodies(&restored, id).await;
        let missing: Vec<&&String> = expected.iter().filter(|b| !logged.contains(b)).collect();
        assert!(
            missing.is_empty(),
            "job-{i}: pings answered OK before the backup are missing: {missing:?}"
        );
    }
    eprintln!(
        "{} pings acknowledged before the backup, {during} while it ran",
        before.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_refuse_what_they_cannot_do_well() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let dir = store.dir.path();

    // PostgreSQL has its own tools (refused before any connection is tried).
    for command in ["backup", "restore"] {
        let flag = if command == "backup" {
            "--to"
        } else {
            "--from"
        };
        let file = dir.join("pg.db").display().to_string();
        let (code, _, err) = cli(args(&[
            command,
            flag,
            &file,
            "--database-url",
            "postgres://vigilmon@127.0.0.1:1/vigilmon",
        ]))
        .await;
        assert_eq!(code, 1, "{command}: {err}");
        assert!(
            err.contains("PostgreSQL") && err.contains("pg_dump") && err.contains("pg_restore"),
            "{command}: {err}"
        );
    }

    // No database in the directory.
    let empty = dir.join("empty").display().to_string();
    let to = dir.join("b.db").display().to_string();
    let (code, _, err) = cli(args(&["backup", "--to", &to, "--data-dir", &empty])).await;
    assert_eq!(code, 1);
    assert!(err.contains("no Vigilmon database at"), "{err}");

    // A file that is not a Vigilmon backup replaces nothing.
    let data = data_dir(&store);
    let (code, out, err) = cli(args(&[
        "token",
        "create",
        "--name",
        "keep",
        "--data-dir",
        &data,
    ]))
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "not a database\n".repeat(500)).unwrap();
    let notes = notes.display().to_string();
    let (code, _, err) = cli(args(&["restore", "--from", &notes, "--data-dir", &data])).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("notes.txt") && err.contains("not a readable SQLite database"),
        "{err}"
    );
    let (code, out, err) = cli(args(&["token", "list", "--data-dir", &data])).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("keep"), "the database is untouched: {out}");

    // A good backup restored over an existing database keeps the old one aside.
    let (code, _, err) = cli(args(&["backup", "--to", &to, "--data-dir", &data])).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(args(&["restore", "--from", &to, "--data-dir", &data])).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("the database it replaced is kept at")
            && out.contains("vigilmon.db.before-restore-"),
        "{out}"
    );
}
