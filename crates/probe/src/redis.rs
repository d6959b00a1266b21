//! Redis checks: a small RESP2 client (no `redis` crate), one pipelined round trip of
//! `AUTH` / `SELECT` / `PING` / `INFO`, the optional write probe, and the verdict
//! from [`vigilmon_core::redis::evaluate`].
//!
//! Connections: `redis://` goes through the same resolve / network guard / connect
//! path as every TCP check (`net::open`); `rediss://` adds a tokio-rustls handshake
//! that verifies the server certificate against the prober's roots (system store
//! plus `extra_roots`), offering no ALPN; `unix://` connects to the socket path (the
//! network guard admits local sockets only under `probe.allow_unix_sockets`).
//!
//! Phases: `dns_ms`, `connect_ms`, `tls_ms` as for HTTP, and `ttfb_ms` from writing
//! the pipelined commands until the first byte of the first reply. The whole check,
//! the write probe included, is bounded by the check's timeout.
//!
//! Failures before a usable `INFO` are classified here and carry the figures
//! `{"reason": "unreachable" | "auth_failed" | "loading"}`:
//!
//! | what happened | kind | reason |
//! |---|---|---|
//! | DNS, guard, connect, TLS, timeout (as for every probe) | `dns` / `connect` / `tls` / `timeout` | `unreachable` |
//! | malformed reply, connection closed, `PING` ≠ `PONG` | `protocol` | `unreachable` |
//! | `AUTH` refused, `NOAUTH`, `WRONGPASS`, `NOPERM` | `connect` | `auth_failed` |
//! | `SELECT` refused (no such database) | `assertion` | `unreachable` |
//! | `LOADING` answered to `PING` / `INFO` | `assertion` | `loading` |
//!
//! Authentication failures are `connect` errors: the probe reached the server but could
//! not open a usable session, which is what an operator looks for under "cannot
//! connect"; the figures' `reason: auth_failed` tells the two apart.
//!
//! Counter baselines: the last sample of each target (address, database, user) is
//! kept in the [`Prober`](crate::Prober), so that `evicted_keys` and
//! `rejected_connections` are judged by their growth between consecutive checks.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use vigilmon_core::monitor::{RedisAddr, RedisRole, RedisSpec};
use vigilmon_core::redis::{
    InfoSample, MAX_INFO_BYTES, WriteProbeOutcome, evaluate, failure_figures, parse_info, reason,
};
use vigilmon_core::{ErrorKind, HumanDuration, Verdict};

use crate::classify::{Failure, Phase};
use crate::net::{self, Target};
use crate::{Inner, Outcome, millis, tls};

/// The largest bulk reply read (the `INFO` text): 1 MiB.
pub(crate) const MAX_BULK_BYTES: usize = MAX_INFO_BYTES;
/// The longest status, error or length line read.
const MAX_LINE_BYTES: usize = 64 * 1024;
/// TTL of the write probe's key, in seconds.
const WRITE_PROBE_TTL_SECS: u32 = 10;
/// How many targets' baselines a prober keeps before starting afresh.
const MAX_BASELINES: usize = 100_000;
/// The `INFO` sections the checks read.
const INFO_SECTIONS: [&str; 6] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
];

/// The last sample of each target, for judging counter growth.
pub(crate) type Baselines = Mutex<HashMap<String, (InfoSample, Timestamp)>>;

/// The TLS configuration for `rediss://`: the verifying configuration without ALPN
/// (Redis does not negotiate one).
pub(crate) fn tls_config(verified: &Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut cfg = (**verified).clone();
    cfg.alpn_protocols.clear();
    Arc::new(cfg)
}

/// Anything a RESP connection can run over (TCP, TLS, a unix socket).
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One RESP2 reply, as far as the probe needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
}

/// Why reading a reply failed.
#[derive(Debug)]
enum RespError {
    Io(io::Error),
    /// The server closed the connection.
    Closed,
    /// The bytes were not RESP2 the probe accepts.
    Malformed(String),
}

/// A buffered RESP2 connection with caps on everything it reads.
struct Conn {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
    pos: usize,
}

impl Conn {
    fn new(stream: Box<dyn Stream>) -> Self {
        Self {
            stream,
            buf: Vec::with_capacity(8192),
            pos: 0,
        }
    }

    /// Writes commands (each a list of arguments) in one go.
    async fn send(&mut self, commands: &[Vec<Vec<u8>>]) -> io::Result<()> {
        let mut out = Vec::new();
        for args in commands {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in args {
                out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                out.extend_from_slice(a);
                out.extend_from_slice(b"\r\n");
            }
        }
        self.stream.write_all(&out).await?;
        self.stream.flush().await
    }

    /// Reads more bytes into the buffer; `Closed` at end of stream.
    async fn fill(&mut self) -> Result<(), RespError> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) => Err(RespError::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => Err(RespError::Io(e)),
        }
    }

    /// Waits until at least one unread byte is buffered.
    async fn wait_readable(&mut self) -> Result<(), RespError> {
        while self.pos >= self.buf.len() {
            self.fill().await?;
        }
        Ok(())
    }

    /// One line without its CRLF.
    async fn line(&mut self) -> Result<Vec<u8>, RespError> {
        let mut searched = self.pos;
        loop {
            if let Some(i) = self.buf[searched..].windows(2).position(|w| w == b"\r\n") {
                let end = searched + i;
                let line = self.buf[self.pos..end].to_vec();
                self.pos = end + 2;
                return Ok(line);
            }
            if self.buf.len() - self.pos > MAX_LINE_BYTES {
                return Err(RespError::Malformed(format!(
                    "a reply line is longer than {MAX_LINE_BYTES} bytes"
                )));
            }
            // The CR of a CRLF may be the last byte buffered.
            searched = self.buf.len().saturating_sub(1).max(self.pos);
            let before = self.pos;
            self.fill().await?;
            // `fill` may have compacted the buffer.
            if self.pos != before {
                searched = self.pos;
            }
        }
    }

    /// Reads exactly `n` bytes followed by CRLF.
    async fn exact(&mut self, n: usize) -> Result<Vec<u8>, RespError> {
        while self.buf.len() - self.pos < n + 2 {
            self.fill().await?;
        }
        let data = self.buf[self.pos..self.pos + n].to_vec();
        if &self.buf[self.pos + n..self.pos + n + 2] != b"\r\n" {
            return Err(RespError::Malformed(
                "a bulk reply does not end with CRLF".into(),
            ));
        }
        self.pos += n + 2;
        Ok(data)
    }

    /// Reads one reply: simple string, error, integer or bulk string (arrays are not
    /// expected from the commands the probe sends, and refused).
    async fn reply(&mut self) -> Result<Reply, RespError> {
        let line = self.line().await?;
        let Some((&kind, rest)) = line.split_first() else {
            return Err(RespError::Malformed("an empty reply line".into()));
        };
        let text = String::from_utf8_lossy(rest).into_owned();
        match kind {
            b'+' => Ok(Reply::Simple(text)),
            b'-' => Ok(Reply::Error(text)),
            b':' => text
                .parse()
                .map(Reply::Integer)
                .map_err(|_| RespError::Malformed(format!("{text:?} is not an integer"))),
            b'$' => {
                let len: i64 = text
                    .parse()
                    .map_err(|_| RespError::Malformed(format!("{text:?} is not a length")))?;
                if len < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > MAX_BULK_BYTES {
                    return Err(RespError::Malformed(format!(
                        "a bulk reply of {len} bytes is over the {MAX_BULK_BYTES} bytes cap"
                    )));
                }
                self.exact(len).await.map(|b| Reply::Bulk(Some(b)))
            }
            other => Err(RespError::Malformed(format!(
                "unexpected reply type {:?}",
                char::from(other)
            ))),
        }
    }
}

/// Arguments of one command.
fn cmd(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

/// The key under which a target's baseline is kept.
fn baseline_key(spec: &RedisSpec) -> String {
    let addr = match &spec.addr {
        RedisAddr::Tcp { host, port, tls } => {
            format!("{}://{host}:{port}", if *tls { "rediss" } else { "redis" })
        }
        RedisAddr::Unix { path } => format!("unix://{path}"),
    };
    format!(
        "{addr}|db={}|user={}",
        spec.db,
        spec.username.as_deref().unwrap_or("")
    )
}

/// An error reply that means the credentials are wrong or lack a permission.
fn is_auth_error(e: &str) -> bool {
    [
        "NOAUTH",
        "WRONGPASS",
        "NOPERM",
        "ERR invalid password",
        "ERR AUTH",
    ]
    .iter()
    .any(|p| e.starts_with(p))
        || e.contains("invalid username-password")
        || e.contains("without any password configured")
}

/// Runs a Redis check to its verdict; the figures go into `details`.
pub(crate) async fn run(
    inner: &Inner,
    spec: &RedisSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    match check(inner, spec, start, deadline, limit, &mut out).await {
        Ok(()) => {}
        Err((verdict, why)) => {
            out.verdict = verdict;
            out.details = Some(failure_figures(why));
        }
    }
    out
}

/// A failed check: the verdict and its reason for the figures.
type Failed = (Verdict, &'static str);

fn unreachable(f: &Failure) -> Failed {
    let (kind, message) = crate::classify::classify(f);
    (Verdict::down(kind, message), reason::UNREACHABLE)
}

fn timed_out(limit: Duration, doing: &str) -> Failed {
    (
        Verdict::down(
            ErrorKind::Timeout,
            format!("no answer within {} (while {doing})", HumanDuration(limit)),
        ),
        reason::UNREACHABLE,
    )
}

fn read_failed(e: RespError, doing: &str) -> Failed {
    let message = match e {
        RespError::Closed => format!("the server closed the connection while {doing}"),
        RespError::Io(error) => {
            return unreachable(&Failure::Io {
                phase: Phase::FirstByte,
                error,
            });
        }
        RespError::Malformed(m) => format!("malformed reply while {doing}: {m}"),
    };
    (
        Verdict::down(ErrorKind::Protocol, message),
        reason::UNREACHABLE,
    )
}

fn auth_failed(command: &str, error: &str) -> Failed {
    (
        Verdict::down(
            ErrorKind::Connect,
            format!("authentication failed ({command}): {error}"),
        ),
        reason::AUTH_FAILED,
    )
}

fn loading(error: &str) -> Failed {
    (
        Verdict::down(
            ErrorKind::Assertion,
            format!("Redis is loading its dataset into memory: {error}"),
        ),
        reason::LOADING,
    )
}

/// Opens the connection to the target: TCP (guarded), TLS on top for `rediss://`,
/// or a unix socket.
async fn connect(
    inner: &Inner,
    spec: &RedisSpec,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
) -> Result<Box<dyn Stream>, Failed> {
    match &spec.addr {
        RedisAddr::Tcp { host, port, tls } => {
            let target = Target::from_host_text(host);
            let conn = net::open(
                &target,
                *port,
                &inner.opts.guard,
                deadline,
                limit,
                &mut out.phases,
            )
            .await
            .map_err(|f| unreachable(&f))?;
            out.remote_addr = Some(conn.peer);
            if !*tls {
                return Ok(Box::new(conn.stream));
            }
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let name = match bare.parse::<IpAddr>() {
                Ok(ip) => ServerName::IpAddress(ip.into()),
                Err(_) => ServerName::try_from(bare.trim_end_matches('.').to_owned())
                    .map_err(|_| unreachable(&Failure::TlsName { host: host.clone() }))?,
            };
            let t0 = Instant::now();
            let stream = timeout_at(
                deadline,
                TlsConnector::from(inner.redis_tls.clone()).connect(name, conn.stream),
            )
            .await
            .map_err(|_| {
                unreachable(&Failure::Timeout {
                    phase: Phase::TlsHandshake,
                    limit,
                })
            })?
            .map_err(|error| {
                unreachable(&Failure::Io {
                    phase: Phase::TlsHandshake,
                    error,
                })
            })?;
            out.phases.tls_ms = Some(millis(t0.elapsed()));
            out.cert_expires_at = tls::leaf_not_after(stream.get_ref().1);
            Ok(Box::new(stream))
        }
        RedisAddr::Unix { path } => {
            inner.opts.guard.permits_unix_socket(path).map_err(|why| {
                (
                    Verdict::down(ErrorKind::Connect, format!("refused: {why}")),
                    reason::UNREACHABLE,
                )
            })?;
            let t0 = Instant::now();
            let stream = timeout_at(deadline, tokio::net::UnixStream::connect(path))
                .await
                .map_err(|_| timed_out(limit, "connecting to the unix socket"))?
                .map_err(|e| {
                    (
                        Verdict::down(
                            ErrorKind::Connect,
                            format!("could not connect to the unix socket {path}: {e}"),
                        ),
                        reason::UNREACHABLE,
                    )
                })?;
            out.phases.connect_ms = Some(millis(t0.elapsed()));
            Ok(Box::new(stream))
        }
    }
}

async fn check(
    inner: &Inner,
    spec: &RedisSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
) -> Result<(), Failed> {
    let stream = connect(inner, spec, deadline, limit, out).await?;
    let mut conn = Conn::new(stream);

    // One write: [AUTH] [SELECT] PING INFO sections…
    let mut commands = Vec::new();
    let auth = match (&spec.username, &spec.password) {
        (Some(u), Some(p)) => Some(cmd(&["AUTH", u, p])),
        (None, Some(p)) => Some(cmd(&["AUTH", p])),
        // A user without a password: fine for `nopass` users.
        (Some(u), None) => Some(cmd(&["AUTH", u, ""])),
        (None, None) => None,
    };
    let has_auth = auth.is_some();
    commands.extend(auth);
    let db = spec.db.to_string();
    if spec.db != 0 {
        commands.push(cmd(&["SELECT", &db]));
    }
    commands.push(cmd(&["PING"]));
    let mut info_cmd = vec!["INFO"];
    info_cmd.extend(INFO_SECTIONS);
    commands.push(cmd(&info_cmd));

    const FIRST: &str = "waiting for the replies to PING and INFO";
    let t0 = Instant::now();
    match timeout_at(deadline, conn.send(&commands)).await {
        Err(_) => return Err(timed_out(limit, "sending the commands")),
        Ok(Err(error)) => {
            return Err(unreachable(&Failure::Io {
                phase: Phase::Send,
                error,
            }));
        }
        Ok(Ok(())) => {}
    }
    match timeout_at(deadline, conn.wait_readable()).await {
        Err(_) => return Err(timed_out(limit, FIRST)),
        Ok(Err(e)) => return Err(read_failed(e, FIRST)),
        Ok(Ok(())) => out.phases.ttfb_ms = Some(millis(t0.elapsed())),
    }

    if has_auth {
        match next_reply(&mut conn, deadline, limit, FIRST).await? {
            Reply::Simple(_) => {}
            Reply::Error(e) => return Err(auth_failed("AUTH", &e)),
            other => return Err(unexpected("AUTH", &other)),
        }
    }
    if spec.db != 0 {
        match next_reply(&mut conn, deadline, limit, FIRST).await? {
            Reply::Simple(_) => {}
            Reply::Error(e) if is_auth_error(&e) => return Err(auth_failed("SELECT", &e)),
            Reply::Error(e) => {
                return Err((
                    Verdict::down(
                        ErrorKind::Assertion,
                        format!("SELECT {db} was refused: {e}"),
                    ),
                    reason::UNREACHABLE,
                ));
            }
            other => return Err(unexpected("SELECT", &other)),
        }
    }
    match next_reply(&mut conn, deadline, limit, FIRST).await? {
        Reply::Simple(s) if s == "PONG" => {}
        Reply::Error(e) if is_auth_error(&e) => return Err(auth_failed("PING", &e)),
        Reply::Error(e) if e.starts_with("LOADING") => return Err(loading(&e)),
        other => return Err(unexpected("PING", &other)),
    }
    let mut info = next_reply(&mut conn, deadline, limit, FIRST).await?;
    if let Reply::Error(e) = &info
        && (e.contains("syntax error") || e.contains("wrong number of arguments"))
    {
        // Before Redis 7, INFO takes one section at most: ask for the default set.
        const AGAIN: &str = "waiting for the reply to INFO";
        match timeout_at(deadline, conn.send(&[cmd(&["INFO"])])).await {
            Err(_) => return Err(timed_out(limit, "sending INFO")),
            Ok(Err(error)) => {
                return Err(unreachable(&Failure::Io {
                    phase: Phase::Send,
                    error,
                }));
            }
            Ok(Ok(())) => {}
        }
        info = next_reply(&mut conn, deadline, limit, AGAIN).await?;
    }
    let text = match info {
        Reply::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        Reply::Error(e) if is_auth_error(&e) => return Err(auth_failed("INFO", &e)),
        Reply::Error(e) if e.starts_with("LOADING") => return Err(loading(&e)),
        other => return Err(unexpected("INFO", &other)),
    };
    let sample = parse_info(&text);

    // The optional write probe.
    let write = if !spec.write_probe {
        None
    } else if spec.expect_role == Some(RedisRole::Replica) {
        Some(WriteProbeOutcome::Skipped(
            "the server is expected to be a replica, which refuses writes".into(),
        ))
    } else {
        const WRITE: &str = "waiting for the reply to the write probe";
        let value = format!("vigilmon {} {}", inner.opts.region, Timestamp::now());
        let ttl = WRITE_PROBE_TTL_SECS.to_string();
        let set = cmd(&["SET", &spec.write_probe_key, &value, "EX", &ttl]);
        match timeout_at(deadline, conn.send(&[set])).await {
            Err(_) => return Err(timed_out(limit, "sending the write probe")),
            Ok(Err(error)) => {
                return Err(unreachable(&Failure::Io {
                    phase: Phase::Send,
                    error,
                }));
            }
            Ok(Ok(())) => {}
        }
        match next_reply(&mut conn, deadline, limit, WRITE).await? {
            Reply::Simple(_) => Some(WriteProbeOutcome::Accepted),
            Reply::Error(e) => Some(WriteProbeOutcome::Refused(e)),
            other => return Err(unexpected("SET", &other)),
        }
    };
    let elapsed = start.elapsed();
    drop(conn);

    // Judge against the previous sample of the same target, then keep this one.
    let now = Timestamp::now();
    let key = baseline_key(spec);
    let previous = {
        let mut map = inner
            .redis_baselines
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_BASELINES && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, (sample.clone(), now))
    };
    let (verdict, mut figures) = evaluate(
        spec,
        &sample,
        previous.as_ref().map(|(s, at)| (s, *at)),
        write,
        elapsed,
        now,
    );
    if let Value::Object(m) = &mut figures {
        m.insert("pong".into(), Value::from("PONG"));
    }
    out.verdict = verdict;
    out.details = Some(figures);
    Ok(())
}

/// The next reply, within the deadline; failures classified as `doing`.
async fn next_reply(
    conn: &mut Conn,
    deadline: Instant,
    limit: Duration,
    doing: &str,
) -> Result<Reply, Failed> {
    match timeout_at(deadline, conn.reply()).await {
        Err(_) => Err(timed_out(limit, doing)),
        Ok(Err(e)) => Err(read_failed(e, doing)),
        Ok(Ok(r)) => Ok(r),
    }
}

fn unexpected(command: &str, reply: &Reply) -> Failed {
    let shown = match reply {
        Reply::Simple(s) => format!("+{}", cut(s)),
        Reply::Error(e) => format!("-{}", cut(e)),
        Reply::Integer(i) => format!(":{i}"),
        Reply::Bulk(None) => "a null bulk string".to_owned(),
        Reply::Bulk(Some(b)) => format!("a bulk string of {} bytes", b.len()),
    };
    let message = if command == "PING" {
        format!("PING answered {shown}, expected PONG")
    } else {
        format!("unexpected reply to {command}: {shown}")
    };
    (
        Verdict::down(ErrorKind::Protocol, message),
        reason::UNREACHABLE,
    )
}

/// At most 200 characters of a reply, for messages.
fn cut(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Reads RESP2 replies from `bytes` as a check reads a server's answer, until the
/// bytes run out or a reply is refused, and judges each as the check would: an error
/// or simple reply as the answer to `PING`, a bulk reply as `INFO` text, parsed and
/// evaluated against `spec` (each sample after the first against the one before it,
/// a minute earlier, before `now`). Returns what each reply came to, in words. For
/// the fuzz targets (`crates/fuzz-targets`), which have no server to talk to; hidden
/// from the docs: not an API.
#[doc(hidden)]
pub fn judge_replies(bytes: &[u8], spec: &RedisSpec, now: Timestamp) -> Vec<String> {
    use std::future::Future as _;
    use std::task::{Context, Poll, Waker};

    let mut conn = Conn::new(Box::new(io::Cursor::new(bytes.to_vec())));
    let mut cx = Context::from_waker(Waker::noop());
    let mut previous: Option<InfoSample> = None;
    let mut out = Vec::new();
    // Bytes in memory are always ready: each reply is read in one poll.
    while let Poll::Ready(read) = std::pin::pin!(conn.reply()).as_mut().poll(&mut cx) {
        let reply = match read {
            Ok(r) => r,
            Err(e) => {
                out.push(format!("{:?}", read_failed(e, "reading")));
                break;
            }
        };
        let judged = match reply {
            Reply::Simple(s) if s == "PONG" => "PONG".to_owned(),
            Reply::Error(e) if is_auth_error(&e) => format!("{:?}", auth_failed("PING", &e)),
            Reply::Error(e) if e.starts_with("LOADING") => format!("{:?}", loading(&e)),
            Reply::Bulk(Some(b)) => {
                let sample = parse_info(&String::from_utf8_lossy(&b));
                let before = now - jiff::SignedDuration::from_secs(60);
                let (verdict, figures) = evaluate(
                    spec,
                    &sample,
                    previous.as_ref().map(|p| (p, before)),
                    None,
                    Duration::from_millis(3),
                    now,
                );
                previous = Some(sample);
                format!("{verdict:?} {figures}")
            }
            other => format!("{:?}", unexpected("PING", &other)),
        };
        out.push(judged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection whose peer sends `bytes` (in small pieces) and then closes.
    fn conn_reading(bytes: &[u8], piece: usize) -> Conn {
        let (client, mut server) = tokio::io::duplex(64);
        let bytes = bytes.to_vec();
        tokio::spawn(async move {
            for chunk in bytes.chunks(piece.max(1)) {
                if server.write_all(chunk).await.is_err() {
                    return;
                }
            }
        });
        Conn::new(Box::new(client))
    }

    #[tokio::test]
    async fn reads_every_reply_type_split_anywhere() {
        let wire = b"+OK\r\n-ERR nope\r\n:42\r\n$5\r\nhe\r\no\r\n$-1\r\n$0\r\n\r\n";
        for piece in [1, 2, 3, 7, 100] {
            let mut c = conn_reading(wire, piece);
            assert_eq!(c.reply().await.unwrap(), Reply::Simple("OK".into()));
            assert_eq!(c.reply().await.unwrap(), Reply::Error("ERR nope".into()));
            assert_eq!(c.reply().await.unwrap(), Reply::Integer(42));
            assert_eq!(
                c.reply().await.unwrap(),
                Reply::Bulk(Some(b"he\r\no".to_vec()))
            );
            assert_eq!(c.reply().await.unwrap(), Reply::Bulk(None));
            assert_eq!(c.reply().await.unwrap(), Reply::Bulk(Some(Vec::new())));
            assert!(matches!(c.reply().await, Err(RespError::Closed)));
        }
    }

    #[tokio::test]
    async fn refuses_what_it_should_not_read() {
        let huge = format!("${}\r\n", MAX_BULK_BYTES + 1);
        let mut c = conn_reading(huge.as_bytes(), 100);
        assert!(matches!(c.reply().await, Err(RespError::Malformed(m)) if m.contains("cap")));
        let mut c = conn_reading(b"*2\r\n$1\r\na\r\n", 100);
        assert!(matches!(c.reply().await, Err(RespError::Malformed(_))));
        let mut c = conn_reading(b"$3\r\nabcX\r\n", 100);
        assert!(matches!(c.reply().await, Err(RespError::Malformed(_))));
        let mut c = conn_reading(b":x\r\n", 100);
        assert!(matches!(c.reply().await, Err(RespError::Malformed(_))));
        let mut c = conn_reading(b"$-7x\r\n", 100);
        assert!(matches!(c.reply().await, Err(RespError::Malformed(_))));
        let endless = vec![b'+'; MAX_LINE_BYTES + 10];
        let mut c = conn_reading(&endless, 4096);
        assert!(matches!(c.reply().await, Err(RespError::Malformed(m)) if m.contains("longer")));
        let mut c = conn_reading(b"$10\r\nabc", 100);
        assert!(matches!(c.reply().await, Err(RespError::Closed)));
    }

    #[tokio::test]
    async fn encodes_commands_as_resp_arrays() {
        let (client, mut server) = tokio::io::duplex(1024);
        let mut c = Conn::new(Box::new(client));
        c.send(&[cmd(&["AUTH", "pässword"]), cmd(&["PING"])])
            .await
            .unwrap();
        drop(c);
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(
            got,
            "*2\r\n$4\r\nAUTH\r\n$9\r\npässword\r\n*1\r\n$4\r\nPING\r\n".as_bytes()
        );
    }

    #[test]
    fn auth_errors_are_recognised() {
        assert!(is_auth_error(
            "WRONGPASS invalid username-password pair or user is disabled."
        ));
        assert!(is_auth_error("NOAUTH Authentication required."));
        assert!(is_auth_error(
            "NOPERM this user has no permissions to run the 'set' command"
        ));
        assert!(is_auth_error(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
        ));
        assert!(!is_auth_error("ERR DB index is out of range"));
    }

    #[test]
    fn baseline_keys_tell_targets_apart() {
        let spec = |url: &str| {
            let cfg: vigilmon_core::MonitorConfig = serde_json::from_value(
                serde_json::json!({"name": "r", "type": "redis", "url": url}),
            )
            .unwrap();
            match cfg.build().unwrap().check {
                vigilmon_core::monitor::CheckSpec::Redis(r) => r,
                _ => unreachable!(),
            }
        };
        assert_eq!(
            baseline_key(&spec("redis://u:p@h:1/2")),
            "redis://h:1|db=2|user=u"
        );
        assert_ne!(
            baseline_key(&spec("redis://h:1")),
            baseline_key(&spec("rediss://h:1"))
        );
        assert_eq!(
            baseline_key(&spec("unix:///tmp/r.sock")),
            "unix:///tmp/r.sock|db=0|user="
        );
    }
}
