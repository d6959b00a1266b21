//! Connections are bounded: heads, bodies and idle spells have deadlines, open
//! connections have a cap, and `/healthz` answers while thousands of sockets are held.
//! Raw sockets play the slow and silent clients. These bounds live in the HTTP layer,
//! above any store, so they run on SQLite only.

use std::time::{Duration, Instant};

use test_support::{Backend, Server, StoreFixture};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bin;

/// Starts a server with the `server:` settings given (YAML lines, indented by two).
async fn server_with(settings: &str) -> (StoreFixture, Server) {
    let store = StoreFixture::new(Backend::Sqlite).await;
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, format!("server:\n{settings}")).unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    (store, server)
}

fn addr(server: &Server) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Waits for the server to close `s`, reading (and returning) whatever it sent first.
async fn closed(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(within, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {within:?}"),
        }
    }
}

/// Reads one response (head and a `Content-Length` body) off a kept-alive connection.
async fn response(s: &mut TcpStream) -> (u16, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let within = Duration::from_secs(10);
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + length]).to_string();
                return (status, body);
            }
        }
        let n = tokio::time::timeout(within, s.read(&mut buf))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(n > 0, "connection closed before a whole response");
        got.extend_from_slice(&buf[..n]);
    }
}

async fn healthz(server: &Server) -> u16 {
    server
        .client
        .get(format!("{}/healthz", server.url))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("/healthz answers")
        .status()
        .as_u16()
}

/// 2,000 clients that send half a request line, and 200 that send nothing, are cut at
/// the head's deadline (and not before), while others are served; a head that trickles
/// in is cut just the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_requests_are_cut_at_the_header_deadline() {
    let (_store, server) = server_with("  header_read_timeout: 1s\n").await;
    let addr = addr(&server);
    let opened = Instant::now();
    let mut held = Vec::new();
    for _ in 0..2000 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HT").await.unwrap();
        held.push(s);
    }
    for _ in 0..200 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    let trickler = {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            let began = Instant::now();
            s.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
                .await
                .unwrap();
            // A byte every 100 ms: each read is progress, but the head never ends.
            while s.write_all(b"a").await.is_ok() && began.elapsed() < Duration::from_secs(20) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            began.elapsed()
        })
    };
    assert_eq!(healthz(&server).await, 200);
    for s in &mut held {
        let sent = closed(s, Duration::from_secs(20)).await;
        assert!(sent.is_empty(), "a half or silent request got an answer");
    }
    let waited = opened.elapsed();
    assert!(waited >= Duration::from_secs(1), "cut after {waited:?}");
    let trickled = trickler.await.unwrap();
    assert!(
        trickled >= Duration::from_secs(1) && trickled < Duration::from_secs(10),
        "a trickling head was cut after {trickled:?}"
    );
    assert_eq!(healthz(&server).await, 200);
}

/// A kept-alive connection serves request after request, and is closed once it has
/// been idle for the keep-alive timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keepalive_connections_are_closed() {
    let (_store, server) =
        server_with("  header_read_timeout: 30s\n  keepalive_timeout: 2s\n").await;
    let mut s = TcpStream::connect(addr(&server)).await.unwrap();
    for _ in 0..3 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(response(&mut s).await.0, 200);
    }
    let answered = Instant::now();
    assert!(closed(&mut s, Duration::from_secs(20)).await.is_empty());
    let idle = answered.elapsed();
    // The idle spell is allowed in full, then ends (the head's longer deadline does
    // not apply to an idle connection).
    assert!(
        idle >= Duration::from_millis(1900) && idle < Duration::from_secs(10),
        "closed after {idle:?} idle"
    );
}

/// A connection keeps the read buffer its largest request grew while it is kept
/// alive, so a large request (a 60 KB path, a 250 KB body) is answered with
/// `Connection: close` and its connection closed; 300 such clients that stay connected
/// leave the server's memory where it was. Small requests keep their connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_requests_do_not_keep_their_connection() {
    let (_store, server) = server_with("  keepalive_timeout: 60s\n").await;
    let pid = server.pid();
    let rss_kib = || crate::hostile::rss_kib(pid);
    // Small requests: one connection serves them all.
    let mut s = TcpStream::connect(addr(&server)).await.unwrap();
    for _ in 0..3 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(response(&mut s).await.0, 200);
    }
    for _ in 0..20 {
        assert_eq!(healthz(&server).await, 200);
    }
    let before = rss_kib();
    let path = "a".repeat(60_000);
    let body = "x".repeat(250_000);
    let mut held = Vec::new();
    for i in 0..300 {
        let mut s = TcpStream::connect(addr(&server)).await.unwrap();
        let request = if i % 2 == 0 {
            format!("GET /ping/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        } else {
            format!(
                "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        s.write_all(request.as_bytes()).await.unwrap();
        let answer = String::from_utf8_lossy(&closed(&mut s, Duration::from_secs(10)).await)
            .to_ascii_lowercase();
        assert!(answer.starts_with("http/1.1 "), "{answer}");
        assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
        held.push(s);
    }
    let after = rss_kib();
    // Kept alive, each of them held about 80 KB (paths) to 145 KB (bodies): 33 MB.
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    assert_eq!(healthz(&server).await, 200);
}

/// A body that does not arrive in time is answered 408 and the connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_bodies_are_answered_408() {
    let (_store, server) = server_with("  body_read_timeout: 1s\n").await;
    let mut s = TcpStream::connect(addr(&server)).await.unwrap();
    let sent = Instant::now();
    s.write_all(
        format!(
            "POST /api/v1/monitors HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":",
            server.token
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (status, body) = response(&mut s).await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body, "request body did not arrive within 1s\n");
    assert!(sent.elapsed() >= Duration::from_secs(1));
    assert!(closed(&mut s, Duration::from_secs(10)).await.is_empty());
    // Nothing was made of the half body.
    let (_, list) = server.get("/api/v1/monitors").await;
    assert_eq!(list["monitors"].as_array().unwrap().len(), 0);
}

/// At most `server.max_connections` connections are served at once; one more waits
/// until a held one closes, then is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_for_a_free_slot() {
    let (_store, server) = server_with(
        "  max_connections: 50\n  header_read_timeout: 60s\n  keepalive_timeout: 60s\n",
    )
    .await;
    let addr = addr(&server);
    let mut held = Vec::new();
    for _ in 0..50 {
        // Each served once, so each holds one of the 50 slots.
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(response(&mut s).await.0, 200);
        held.push(s);
    }
    let url = format!("{}/healthz", server.url);
    let mut extra = tokio::spawn(async move {
        reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut extra)
            .await
            .is_err(),
        "the 51st connection was served while 50 were open"
    );
    drop(held.pop());
    let status = tokio::time::timeout(Duration::from_secs(10), extra)
        .await
        .expect("served once a slot is free")
        .unwrap()
        .expect("answered");
    assert_eq!(status, 200);
}

/// 5,000 idle sockets are held open and `/healthz` still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_5000_idle_sockets_are_held() {
    let (_store, server) = server_with("  header_read_timeout: 120s\n").await;
    let addr = addr(&server);
    let mut held = Vec::with_capacity(5000);
    for _ in 0..5000 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    for _ in 0..5 {
        assert_eq!(healthz(&server).await, 200);
    }
    // They were held open by the server all along, not refused: each still takes a
    // request and gets an answer.
    for s in held.iter_mut().step_by(500) {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(response(s).await.0, 200);
    }
}
