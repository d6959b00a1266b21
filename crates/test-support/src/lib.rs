//! Helpers for Vigilmon's integration tests: run the real `vigilmon` binary on a free
//! port, a fresh PostgreSQL database per test, a local HTTP target whose answer the
//! test controls, and waiting for conditions with a deadline (never fixed sleeps).

pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Installs rustls' ring provider for this test process (reqwest is built without a
/// default provider, so one must be chosen before any client is built). Idempotent.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Base URL of the PostgreSQL server used by tests (`VIGILMON_TEST_PG_URL` overrides).
pub fn pg_admin_url() -> String {
    std::env::var("VIGILMON_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A PostgreSQL database created for one test and dropped afterwards.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    /// Creates a fresh, empty database. Panics with a clear message when PostgreSQL
    /// cannot be reached: the tests need it (`.ci/run` starts it).
    pub async fn create() -> PgDatabase {
        use sqlx::Connection;
        let admin = pg_admin_url();
        let name = format!("vigilmon_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is needed for this test at {admin}: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(b, _)| b)
            .to_owned();
        PgDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any async context guarantee: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            });
        })
        .join();
    }
}

/// Which store a server under test uses.
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a server's data lives; keeps the temp dir or database alive.
pub struct StoreFixture {
    pub dir: tempfile::TempDir,
    pub pg: Option<PgDatabase>,
}

impl StoreFixture {
    pub async fn new(backend: Backend) -> StoreFixture {
        install_crypto();
        let dir = tempfile::tempdir().expect("temp dir");
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDatabase::create().await),
        };
        StoreFixture { dir, pg }
    }

    /// The flags that point `vigilmon` at this store.
    pub fn args(&self) -> Vec<String> {
        match &self.pg {
            Some(pg) => vec!["--database-url".into(), pg.url.clone()],
            None => vec![
                "--data-dir".into(),
                self.dir.path().join("data").display().to_string(),
            ],
        }
    }
}

/// Runs `vigilmon` with arguments and returns (status code, stdout, stderr).
pub fn run_cli(bin: &Path, args: &[String], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("VIGILMON_LOG", "warn")
        .spawn()
        .expect("spawn vigilmon");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait vigilmon");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `vigilmon serve`, killed when dropped.
pub struct Server {
    pub url: String,
    pub token: String,
    /// The first-run setup code the server printed (while no user existed).
    pub setup_code: Option<String>,
    child: Child,
    pub log: PathBuf,
    pub client: reqwest::Client,
}

impl Server {
    /// Creates a write token, starts `vigilmon serve` on a free port with `extra` flags,
    /// and waits until it prints its URL.
    pub fn start(bin: &Path, store: &StoreFixture, extra: &[String]) -> Server {
        let mut args = vec![
            "token".into(),
            "create".into(),
            "--name".into(),
            "test".into(),
            "--scope".into(),
            "write".into(),
        ];
        args.extend(store.args());
        let (code, out, err) = run_cli(bin, &args, None);
        assert_eq!(code, 0, "token create failed: {out}{err}");
        let token = out.lines().last().expect("token line").trim().to_owned();
        Self::start_with_token(bin, store, extra, token)
    }

    /// Starts `vigilmon serve` with an existing token.
    pub fn start_with_token(
        bin: &Path,
        store: &StoreFixture,
        extra: &[String],
        token: String,
    ) -> Server {
        let log = store
            .dir
            .path()
            .join(format!("server-{}.log", uuid::Uuid::new_v4().simple()));
        let (child, url, setup_code) = spawn_serve(bin, store, "127.0.0.1:0", extra, &log);
        Server {
            url,
            token,
            setup_code,
            child,
            log,
            // A server that stops answering fails the test instead of hanging it.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A request to the API with the server's token.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    /// The `/metrics` text (read with the server's token).
    pub async fn metrics(&self) -> String {
        self.api(reqwest::Method::GET, "/metrics")
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("metrics body")
    }

    /// GET an API path and return (status, JSON body).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .api(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POST JSON to an API path and return (status, JSON body).
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .api(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var("TEST_LOG").is_ok() {
            eprintln!("--- server log ---\n{}", self.logs());
        }
    }
}

/// A local HTTPS target: answers `200 ok` to every request, with a self-signed
/// certificate for `localhost` and `127.0.0.1` that expires at the end of `not_after`
/// (a UTC date). Its PEM is in `ca_file`, for the server's `probe.ca_files`.
pub struct TlsTarget {
    pub url: String,
    pub ca_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _task: tokio::task::JoinHandle<()>,
}

impl TlsTarget {
    pub async fn start(not_after: jiff::civil::Date) -> TlsTarget {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        install_crypto();
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("certificate parameters");
        params.not_after = rcgen::date_time_ymd(
            i32::from(not_after.year()),
            not_after.month().unsigned_abs(),
            not_after.day().unsigned_abs(),
        );
        let key = rcgen::KeyPair::generate().expect("key pair");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("target-ca.pem");
        std::fs::write(&ca_file, cert.pem()).expect("write the CA file");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(
                    rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()),
                ),
            )
            .expect("TLS server configuration");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("local address").port();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    // Read the request head, then answer and close.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsTarget {
            url: format!("https://localhost:{port}"),
            ca_file,
            _dir: dir,
            _task: task,
        }
    }
}

/// A local HTTP target whose status code and delay the test sets. It counts requests
/// and remembers the last request's headers.
pub struct Target {
    pub url: String,
    by_region: Arc<std::sync::Mutex<Vec<(String, u16)>>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    hits: Arc<AtomicU64>,
    last_headers: Arc<std::sync::Mutex<Vec<(String, String)>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Target {
    /// Starts the target on 127.0.0.1 (answers 200 `{"status":"ok"}` at first).
    pub async fn start() -> Target {
        install_crypto();
        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode};
        #[derive(Clone)]
        struct St {
            status: Arc<AtomicU16>,
            delay_ms: Arc<AtomicU64>,
            hits: Arc<AtomicU64>,
            last_headers: Arc<std::sync::Mutex<Vec<(String, String)>>>,
            by_region: Arc<std::sync::Mutex<Vec<(String, u16)>>>,
        }
        async fn handle(State(st): State<St>, headers: HeaderMap) -> (StatusCode, String) {
            st.hits.fetch_add(1, Ordering::SeqCst);
            *st.last_headers.lock().unwrap() = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let delay = st.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let region = headers
                .get("x-vigilmon-region")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let code = st
                .by_region
                .lock()
                .unwrap()
                .iter()
                .find(|(r, _)| *r == region)
                .map_or_else(|| st.status.load(Ordering::SeqCst), |(_, c)| *c);
            let body = if code == 200 {
                r#"{"status":"ok"}"#
            } else {
                r#"{"status":"failing"}"#
            };
            (
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                body.to_owned(),
            )
        }
        let st = St {
            status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::new(AtomicU64::new(0)),
            hits: Arc::new(AtomicU64::new(0)),
            last_headers: Arc::default(),
            by_region: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind target");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new().fallback(handle).with_state(st.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Target {
            url: format!("http://{addr}"),
            by_region: st.by_region,
            status: st.status,
            delay_ms: st.delay_ms,
            hits: st.hits,
            last_headers: st.last_headers,
            _task: task,
        }
    }

    pub fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    /// Answers probes of one region (told apart by `X-Vigilmon-Region`) with `code`;
    /// `None` returns that region to the common status.
    pub fn set_status_for_region(&self, region: &str, code: Option<u16>) {
        let mut v = self.by_region.lock().unwrap();
        v.retain(|(r, _)| r != region);
        if let Some(c) = code {
            v.push((region.to_owned(), c));
        }
    }

    pub fn set_delay(&self, d: Duration) {
        self.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    /// The value of a header in the last request received.
    pub fn last_header(&self, name: &str) -> Option<String> {
        self.last_headers
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// Reads the piped stdout of a process just spawned until a line `pick` makes
/// something of, and returns that. A process that prints no such line within `within`
/// (or exits first) is killed and `None` returned, so the caller can fail with its log.
pub fn wait_for_line(
    child: &mut Child,
    within: Duration,
    pick: impl Fn(&str) -> Option<String> + Send + 'static,
) -> Option<String> {
    let stdout = child.stdout.take().expect("the process's stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(found) = pick(&line) {
                let _ = tx.send(found);
            }
        }
    });
    let found = rx.recv_timeout(within).ok();
    if found.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    found
}

/// The URL a server prints once it serves (`… listening on http://…`), read from its
/// piped stdout as [`wait_for_line`] does: `None` (and the process killed) when it
/// says nothing of the kind within `within`.
pub fn listening_url(child: &mut Child, within: Duration) -> Option<String> {
    wait_for_line(child, within, |line| {
        line.split("listening on ")
            .nth(1)
            .map(|url| url.trim().to_owned())
    })
}

/// What `vigilmon serve` prints when it starts: its URL, and the setup code when no
/// user exists yet (on the `web UI:` line, the banner's last).
pub fn serve_banner(child: &mut Child, within: Duration) -> Option<(String, Option<String>)> {
    let url = Arc::new(std::sync::Mutex::new(None::<String>));
    let found = wait_for_line(child, within, move |line| {
        let mut url = url.lock().unwrap();
        if let Some(u) = line.split("listening on ").nth(1) {
            *url = Some(u.trim().to_owned());
            return None;
        }
        if line.trim_start().starts_with("web UI:") {
            let code = line
                .split("setup code: ")
                .nth(1)
                .map(|c| c.trim().to_owned())
                .unwrap_or_default();
            return url.clone().map(|u| format!("{u}\t{code}"));
        }
        None
    })?;
    let (url, code) = found.split_once('\t')?;
    Some((url.to_owned(), (!code.is_empty()).then(|| code.to_owned())))
}

/// Polls `probe` until it returns `Some`, or panics after `within` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `redis-server` of the test's own on a free port (`--save "" --appendonly no`,
/// a temp dir, no replication delay), killed when dropped. Commands that set it up go
/// through `redis-cli`, which ships with `redis-server`.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    pub dir: tempfile::TempDir,
    /// Extra `redis-cli` arguments (credentials) for [`RedisServer::cli`].
    pub cli_auth: Vec<String>,
}

impl RedisServer {
    /// Starts `redis-server` with `extra` arguments and waits (polling `PING`, up to
    /// 10 s) until it answers.
    pub fn start(extra: &[&str]) -> RedisServer {
        use std::io::{Read, Write};
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.path().display().to_string(),
            "--logfile".into(),
            dir.path().join("redis.log").display().to_string(),
            "--repl-diskless-sync-delay".into(),
            "0".into(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let server = RedisServer {
            port,
            child,
            dir,
            cli_auth: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 64];
                if s.write_all(b"PING\r\n").is_ok()
                    && let Ok(n) = s.read(&mut buf)
                    && (buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
                {
                    return server;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "redis-server on port {port} did not start; log:\n{}",
                    std::fs::read_to_string(server.dir.path().join("redis.log"))
                        .unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command with `redis-cli` and returns its output, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .arg("-p")
            .arg(self.port.to_string())
            .args(&self.cli_auth)
            .arg("--no-auth-warning")
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Writes `count` keys of `value_bytes` bytes, pipelined (`redis-cli --pipe`);
    /// refused writes are ignored.
    pub fn fill(&self, prefix: &str, count: usize, value_bytes: usize) {
        use std::io::Write;
        let value = "x".repeat(value_bytes);
        let mut input = Vec::new();
        for i in 0..count {
            let key = format!("{prefix}:{i}");
            let _ = write!(
                input,
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            );
        }
        let mut child = Command::new("redis-cli")
            .arg("-p")
            .arg(self.port.to_string())
            .args(&self.cli_auth)
            .arg("--no-auth-warning")
            .arg("--pipe")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&input);
        }
        let _ = child.wait();
    }

    /// One field of `INFO`, if present.
    pub fn info_field(&self, field: &str) -> Option<String> {
        self.cli(&["INFO"]).lines().find_map(|l| {
            l.trim_end()
                .strip_prefix(field)
                .and_then(|r| r.strip_prefix(':'))
                .map(str::to_owned)
        })
    }

    /// Kills the server now (it is gone before this returns).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A local HTTP receiver standing in for Slack, PagerDuty or a webhook: it records
/// every request and answers with the status and body the test sets (200 `ok` at
/// first).
pub struct Receiver {
    pub url: String,
    status: Arc<AtomicU16>,
    reply: Arc<std::sync::Mutex<String>>,
    got: Arc<std::sync::Mutex<Vec<Received>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        use axum::body::Bytes;
        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode, Uri};
        type St = (
            Arc<AtomicU16>,
            Arc<std::sync::Mutex<String>>,
            Arc<std::sync::Mutex<Vec<Received>>>,
        );
        async fn handle(
            State((status, reply, got)): State<St>,
            uri: Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> (StatusCode, [(&'static str, &'static str); 1], String) {
            let code = status.load(Ordering::SeqCst);
            got.lock().unwrap().push(Received {
                path: uri.path().to_owned(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
                body: body.to_vec(),
                status: code,
                at: Instant::now(),
            });
            (
                StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
                [("retry-after", "1")],
                reply.lock().unwrap().clone(),
            )
        }
        install_crypto();
        let status = Arc::new(AtomicU16::new(200));
        let reply = Arc::new(std::sync::Mutex::new("ok".to_owned()));
        let got: Arc<std::sync::Mutex<Vec<Received>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new().fallback(handle).with_state((
            status.clone(),
            reply.clone(),
            got.clone(),
        ));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}"),
            status,
            reply,
            got,
            _task: task,
        }
    }

    /// Answer further requests with `code`.
    pub fn answer(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    /// Answer further requests with `code` and `body`.
    pub fn answer_with(&self, code: u16, body: &str) {
        *self.reply.lock().unwrap() = body.to_owned();
        self.answer(code);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// What was received on `path`.
    pub fn on(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

// --- Agents (`vigilmon agent`) -------------------------------------------------------

/// Creates an agent token for `region` (`vigilmon token create --scope agent`);
/// returns (token id, token).
pub fn create_agent_token(
    bin: &Path,
    store: &StoreFixture,
    name: &str,
    region: &str,
) -> (String, String) {
    let mut args: Vec<String> = [
        "token", "create", "--name", name, "--scope", "agent", "--region", region,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(store.args());
    let (code, out, err) = run_cli(bin, &args, None);
    assert_eq!(code, 0, "agent token create failed: {out}{err}");
    let token = out.lines().last().expect("token line").trim().to_owned();
    let id = out
        .split("(id ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .expect("token id in the output")
        .to_owned();
    (id, token)
}

/// Spawns `vigilmon serve` on `listen` with its stderr in `log`; returns the child
/// and the URL it printed.
fn spawn_serve(
    bin: &Path,
    store: &StoreFixture,
    listen: &str,
    extra: &[String],
    log: &Path,
) -> (Child, String, Option<String>) {
    let log_file = std::fs::File::create(log).expect("log file");
    let mut args: Vec<String> = vec!["serve".into(), "--listen".into(), listen.to_owned()];
    args.extend(store.args());
    args.extend(extra.iter().cloned());
    let mut child = Command::new(bin)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(log_file)
        .env(
            "VIGILMON_LOG",
            std::env::var("VIGILMON_LOG").unwrap_or_else(|_| "info".into()),
        )
        .spawn()
        .expect("spawn vigilmon serve");
    match serve_banner(&mut child, Duration::from_secs(60)) {
        Some((url, code)) => (child, url, code),
        None => panic!(
            "server did not start on {listen}; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        ),
    }
}

impl Server {
    /// The `host:port` the server listens on.
    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server (if it still runs) and starts it again on the same address,
    /// store and token, with `extra` flags: clients that know its URL find it again.
    pub fn restart(&mut self, bin: &Path, store: &StoreFixture, extra: &[String]) {
        self.kill();
        let addr = self.addr();
        let log = store
            .dir
            .path()
            .join(format!("server-{}.log", uuid::Uuid::new_v4().simple()));
        // The port was just released; retry briefly should it still be held.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpListener::bind(&addr).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let (child, url, setup_code) = spawn_serve(bin, store, &addr, extra, &log);
        self.child = child;
        self.url = url;
        self.setup_code = setup_code;
        self.log = log;
    }
}

/// A running `vigilmon agent`, killed when dropped. Its token travels in the
/// environment (`VIGILMON_AGENT_TOKEN`), its stderr goes to a log file.
pub struct Agent {
    child: Child,
    /// The agent's `--data-dir` (result buffer, `assignment.json`).
    pub data_dir: PathBuf,
    pub log: PathBuf,
    /// What it printed on start.
    pub start_line: String,
}

impl Agent {
    /// Starts `vigilmon agent --server URL --region R --data-dir D` plus `extra`, and
    /// waits for its start line.
    pub fn start(
        bin: &Path,
        server_url: &str,
        region: &str,
        token: &str,
        data_dir: &Path,
        extra: &[String],
    ) -> Agent {
        std::fs::create_dir_all(data_dir).expect("agent data dir");
        let log = data_dir.with_extension(format!("{}.log", uuid::Uuid::new_v4().simple()));
        let log_file = std::fs::File::create(&log).expect("agent log file");
        let mut child = Command::new(bin)
            .arg("agent")
            .arg("--server")
            .arg(server_url)
            .arg("--region")
            .arg(region)
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("VIGILMON_AGENT_TOKEN", token)
            .env(
                "VIGILMON_LOG",
                std::env::var("VIGILMON_LOG")
                    .unwrap_or_else(|_| "info,vigilmon_agent=debug".into()),
            )
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn vigilmon agent");
        let start_line = wait_for_line(&mut child, Duration::from_secs(30), |line| {
            line.starts_with("Vigilmon agent ").then(|| line.to_owned())
        })
        .unwrap_or_else(|| {
            panic!(
                "agent did not start; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        Agent {
            child,
            data_dir: data_dir.to_owned(),
            log,
            start_line,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for the agent to exit; its exit code, or `None` if it
    /// still runs (or died of a signal).
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits (up to 30 s) for the agent to exit; its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let code = self.wait_exit(Duration::from_secs(30));
        if code.is_none() {
            self.kill();
        }
        code
    }

    /// Kills the agent at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The ids of the monitors in the agent's last saved assignment.
    pub fn assigned(&self) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(self.data_dir.join("assignment.json")) else {
            return Vec::new();
        };
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut ids: Vec<String> = v["assignments"]["monitors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Results waiting in the agent's disk buffer.
    pub fn buffered(&self) -> usize {
        let Ok(dir) = std::fs::read_dir(self.data_dir.join("buffer")) else {
            return 0;
        };
        dir.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".jsonl"))
            .map(|e| {
                std::fs::read_to_string(e.path())
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .count()
            })
            .sum()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
        if std::env::var("TEST_LOG").is_ok() {
            eprintln!("--- agent log ({}) ---\n{}", self.start_line, self.logs());
        }
    }
}

/// A real SMTP server for the tests: aiosmtpd, run by the script the notification
/// tests use (`crates/notify/tests/smtp_sink.py`), on a free port. With `starttls`,
/// it offers (and requires) STARTTLS with a self-signed certificate for `localhost`
/// and 127.0.0.1, whose PEM is in `ca_file` (for the server's `probe.ca_files`).
/// Killed and reaped on drop.
pub struct SmtpServer {
    pub port: u16,
    pub ca_file: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start(starttls: bool) -> SmtpServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("certificate parameters");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Vigilmon test mail server");
        let key = rcgen::KeyPair::generate().expect("key pair");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        let ca_file = dir.path().join("mail-ca.pem");
        let key_file = dir.path().join("mail.key");
        std::fs::write(&ca_file, cert.pem()).expect("write the certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write the key");
        let out = dir.path().join("messages");
        std::fs::create_dir(&out).expect("messages dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../notify/tests/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg(port.to_string())
            .arg(&out)
            .arg("accept")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if starttls {
            cmd.arg("starttls").arg(&ca_file).arg(&key_file);
        }
        let mut child = cmd.spawn().expect("python3 is needed for the SMTP tests");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the SMTP server exited ({status}); is aiosmtpd installed? (python3 -m pip install aiosmtpd)"
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "the SMTP server never listened");
            std::thread::sleep(Duration::from_millis(25));
        }
        SmtpServer {
            port,
            ca_file,
            child,
            _dir: dir,
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real DNS server for the tests: a small authoritative responder built on
/// hickory-proto, on UDP of a free port of 127.0.0.1. Its zone: `shop.test` A
/// 192.0.2.10 and 192.0.2.11, MX `10 mx1.shop.test`, TXT `v=spf1 -all`; every other
/// name is NXDOMAIN. Stops with the test's runtime.
pub struct DnsServer {
    /// `127.0.0.1:port`, for a monitor's `resolver`.
    pub addr: std::net::SocketAddr,
    _task: tokio::task::JoinHandle<()>,
}

impl DnsServer {
    pub async fn start() -> DnsServer {
        use hickory_proto::op::{Message, ResponseCode};
        use hickory_proto::rr::rdata::{A, MX, TXT};
        use hickory_proto::rr::{Name, RData, Record};
        use std::net::Ipv4Addr;
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind a UDP port");
        let addr = socket.local_addr().expect("local address");
        let answer = |raw: &[u8]| -> Option<Vec<u8>> {
            let q = Message::from_vec(raw).ok()?;
            let query = q.queries.first()?.clone();
            let mut m = Message::response(q.metadata.id, q.metadata.op_code);
            m.metadata.authoritative = true;
            m.add_query(query.clone());
            if query.name().to_ascii().eq_ignore_ascii_case("shop.test.") {
                let mx = Name::from_ascii("mx1.shop.test.").ok()?;
                let all = [
                    RData::A(A(Ipv4Addr::new(192, 0, 2, 10))),
                    RData::A(A(Ipv4Addr::new(192, 0, 2, 11))),
                    RData::MX(MX::new(10, mx)),
                    RData::TXT(TXT::new(vec!["v=spf1 -all".into()])),
                ];
                for r in all {
                    if r.record_type() == query.query_type() {
                        m.add_answer(Record::from_rdata(query.name().clone(), 60, r));
                    }
                }
            } else {
                m.metadata.response_code = ResponseCode::NXDomain;
            }
            m.to_vec().ok()
        };
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                if let Some(a) = answer(&buf[..n]) {
                    let _ = socket.send_to(&a, from).await;
                }
            }
        });
        DnsServer { addr, _task: task }
    }
}

/// A real gRPC server for the tests: grpcio with the standard health service, run by
/// `grpc_health_server.py` beside this crate on a port of its choosing. The server as
/// a whole and `vigilmon.test.Up` are SERVING, `vigilmon.test.Down` NOT_SERVING. With
/// `tls`, it serves over TLS with a self-signed certificate for `localhost` and
/// 127.0.0.1, whose PEM is in `ca_file` (for the server's `probe.ca_files`). Stopped
/// and reaped on drop.
pub struct GrpcServer {
    pub port: u16,
    pub ca_file: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl GrpcServer {
    pub fn start(tls: bool) -> GrpcServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("certificate parameters");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Vigilmon test gRPC server");
        let key = rcgen::KeyPair::generate().expect("key pair");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        let ca_file = dir.path().join("grpc-ca.pem");
        let key_file = dir.path().join("grpc.key");
        std::fs::write(&ca_file, cert.pem()).expect("write the certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write the key");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("grpc_health_server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if tls {
            cmd.arg("--tls").arg(&ca_file).arg(&key_file);
        }
        let mut child = cmd.spawn().expect("python3 is needed for the gRPC tests");
        let port = wait_for_line(&mut child, Duration::from_secs(20), |line| {
            line.strip_prefix("listening ").map(str::to_owned)
        })
        .and_then(|p| p.parse().ok())
        .expect(
            "the gRPC server did not start; are grpcio and grpcio-health-checking installed? \
             (python3 -m pip install grpcio grpcio-health-checking)",
        );
        GrpcServer {
            port,
            ca_file,
            child,
            _dir: dir,
        }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real WebSocket server for the tests, on tokio-tungstenite's server side, on a
/// free port of 127.0.0.1: it answers each text message with `echo: <message>`, and
/// agrees to the subprotocol `chat.v1` when asked for it. With `tls`, it speaks
/// `wss://` with a self-signed certificate for `localhost` and 127.0.0.1, whose PEM is
/// in `ca_file` (for the server's `probe.ca_files`). Stops with the test's runtime.
pub struct WsServer {
    pub port: u16,
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
    _task: tokio::task::JoinHandle<()>,
}

impl WsServer {
    pub async fn start(tls: bool) -> WsServer {
        install_crypto();
        let dir = tempfile::tempdir().expect("temp dir");
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("certificate parameters");
        let key = rcgen::KeyPair::generate().expect("key pair");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        let ca_file = dir.path().join("ws-ca.pem");
        std::fs::write(&ca_file, cert.pem()).expect("write the CA file");
        let acceptor = tls.then(|| {
            let config = rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(
                    vec![cert.der().clone()],
                    rustls::pki_types::PrivateKeyDer::Pkcs8(
                        rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()),
                    ),
                )
                .expect("TLS server configuration");
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("local address").port();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(a) => {
                            if let Ok(s) = a.accept(tcp).await {
                                echo_websocket(s).await;
                            }
                        }
                        None => echo_websocket(tcp).await,
                    }
                });
            }
        });
        WsServer {
            port,
            ca_file,
            _dir: dir,
            _task: task,
        }
    }
}

/// The upgrade's answer of [`WsServer`]: the subprotocol `chat.v1` when asked for.
// The signature is tokio-tungstenite's callback, whose error is a whole response.
#[allow(clippy::result_large_err)]
fn agree_to_chat(
    req: &tokio_tungstenite::tungstenite::handshake::server::Request,
    mut resp: tokio_tungstenite::tungstenite::handshake::server::Response,
) -> Result<
    tokio_tungstenite::tungstenite::handshake::server::Response,
    tokio_tungstenite::tungstenite::handshake::server::ErrorResponse,
> {
    let asked = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == "chat.v1"));
    if asked {
        resp.headers_mut().insert(
            "sec-websocket-protocol",
            tokio_tungstenite::tungstenite::http::HeaderValue::from_static("chat.v1"),
        );
    }
    Ok(resp)
}

/// One WebSocket connection of [`WsServer`]: the upgrade, then echoes until closed.
async fn echo_websocket<S>(stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, agree_to_chat).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg
            && ws
                .send(Message::text(format!("echo: {}", t.as_str())))
                .await
                .is_err()
        {
            return;
        }
    }
}
