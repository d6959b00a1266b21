//! The standalone `vigilmon-agent` binary, run as an operator would: its flags, its
//! exit statuses, and that a refused token stops it with the reason.

use std::process::{Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;

const BIN: &str = env!("CARGO_BIN_EXE_vigilmon-agent");

fn agent(args: &[&str], data_dir: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("VIGILMON_AGENT_TOKEN")
        .env_remove("VIGILMON_SERVER")
        .env_remove("VIGILMON_REGION")
        .env("VIGILMON_AGENT_DATA_DIR", data_dir)
        .stdin(Stdio::null())
        .output()
        .expect("the agent binary runs")
}

#[test]
fn it_prints_its_version_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(&["--version"], dir.path());
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("vigilmon-agent {}", vigilmon_agent::VERSION)
    );
    let out = agent(&["--help"], dir.path());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--server",
        "--region",
        "--token",
        "--data-dir",
        "--deny-network",
    ] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
}

#[test]
fn bad_flags_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(
        &["--server", "ftp://x", "--region", "eu", "--token", "t"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--server \"ftp://x\" must be an http"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = agent(
        &[
            "--server",
            "http://127.0.0.1:9",
            "--region",
            "Not A Region",
            "--token",
            "t",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--region"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_it_with_status_1() {
    // A server that refuses every token, as a real one does a revoked token.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(any(|| async {
        (
            StatusCode::UNAUTHORIZED,
            r#"{"error":{"code":"unauthorized","message":"unknown or revoked agent token"}}"#,
        )
    }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let server = format!("http://{addr}");
    let data = dir.path().to_path_buf();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            agent(
                &["--server", &server, "--region", "eu", "--token", "vgm_nope"],
                &data,
            )
        }),
    )
    .await
    .expect("the agent stops by itself")
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused the agent token (401: unknown or revoked agent token)"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("Vigilmon agent "),
        "one start line"
    );
}
