//! The command line as an operator uses it: `vigilmon check` against real local
//! targets, and `vigilmon user create`.

use serde_json::Value;
use test_support::{Backend, StoreFixture, Target, run_cli};

fn check(args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["check".to_owned()];
    a.extend(args.iter().map(|s| (*s).to_owned()));
    run_cli(crate::bin(), &a, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_phases_and_verdict() {
    let target = Target::start().await;
    let url = format!("{}/health", target.url);
    let (code, out, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || check(&[&url, "--body-contains", "\"status\":\"ok\""])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    for line in [
        "dns",
        "connect",
        "tls",
        "first byte",
        "total",
        "status      200",
        "verdict: UP",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }

    target.set_status(503);
    let (code, out, _) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || check(&[&url])
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("verdict: DOWN (status) — status 503 is not one of the expected (2xx)"),
        "{out}"
    );

    let (code, out, _) =
        tokio::task::spawn_blocking(move || check(&[&url, "--expect-status", "503", "--json"]))
            .await
            .unwrap();
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["status_code"], 503);
    assert!(v["phases"]["connect_ms"].is_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_tcp_and_failures() {
    let target = Target::start().await;
    let port = target.url.rsplit(':').next().unwrap().to_owned();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || check(&[&format!("tcp://127.0.0.1:{port}")]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: UP"), "{out}");

    // Nothing listens on a port we just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, out, _) = check(&[&format!("http://127.0.0.1:{free}/")]);
    assert_eq!(code, 1);
    assert!(out.contains("verdict: DOWN (connect)"), "{out}");

    let (code, out, _) = check(&["http://nosuch.invalid/"]);
    assert_eq!(code, 1);
    assert!(out.contains("verdict: DOWN (dns)"), "{out}");
}

#[test]
fn check_usage_errors_exit_2() {
    for args in [
        vec!["ftp://example.com"],
        vec!["tcp://nohost"],
        vec!["https://example.com", "--max-time", "soon"],
        vec!["https://example.com", "--expect-status", "999"],
        vec!["--json"],
    ] {
        let (code, out, err) = check(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_create_reads_the_password_from_stdin() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let mut args: Vec<String> = [
        "user",
        "create",
        "--email",
        "ops@example.com",
        "--password-stdin",
    ]
    .map(String::from)
    .to_vec();
    args.extend(store.args());
    let (code, out, err) = run_cli(crate::bin(), &args, Some("correct horse battery staple\n"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("created user ops@example.com with role owner"),
        "{out}"
    );
    let (code, _, err) = run_cli(crate::bin(), &args, Some("correct horse battery staple\n"));
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = run_cli(crate::bin(), &args, Some("short\n"));
    assert_eq!(code, 1);
    assert!(err.contains("at least 10 characters"), "{err}");
}

/// A second `serve` on a SQLite data directory that a server is using refuses to start,
/// naming the process and the way to several nodes; other commands work beside the
/// server; once it has stopped, a new one starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_one_sqlite_directory_refuses_to_start() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let mut server = test_support::Server::start(crate::bin(), &store, &[]);
    let mut args: Vec<String> = vec!["serve".into(), "--listen".into(), "127.0.0.1:0".into()];
    args.extend(store.args());
    let (code, out, err) = tokio::task::spawn_blocking(move || run_cli(crate::bin(), &args, None))
        .await
        .unwrap();
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("another `vigilmon serve`")
            && err.contains(&format!("process {}", server.pid()))
            && err.contains("--database-url"),
        "{err}"
    );
    // Commands beside the running server still work.
    let mut token: Vec<String> = ["token", "create", "--name", "beside", "--scope", "read"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    token.extend(store.args());
    let (code, out, err) = run_cli(crate::bin(), &token, None);
    assert_eq!(code, 0, "{out}{err}");
    // The first server is unharmed, and after it stops another takes its place.
    let (status, _) = server.get("/api/v1/monitors").await;
    assert_eq!(status, 200);
    assert_eq!(server.terminate(), Some(0));
    let next = test_support::Server::start(crate::bin(), &store, &[]);
    let (status, _) = next.get("/api/v1/monitors").await;
    assert_eq!(status, 200);
}
