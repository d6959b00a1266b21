//! PostgreSQL checks: a small client of the frontend/backend protocol 3.0 (no database
//! driver, so the agent builds none), enough to log in and run one simple query.
//!
//! The connection goes through the same resolve / network guard / connect path as
//! every TCP check (`net::open`). With `sslmode` other than `disable` the probe asks
//! for TLS (`SSLRequest`); `verify-full` verifies the certificate against the prober's
//! roots, `prefer` and `require` accept any (as libpq does), and `prefer` carries on in
//! plain text when the server declines. Logins: trust, cleartext password, MD5 and
//! SCRAM-SHA-256 (its server signature verified). The session is opened with
//! `default_transaction_read_only=on` and a `statement_timeout` equal to the check's
//! timeout, so a monitor's query cannot write and does not outlive the check.
//!
//! Phases: `dns_ms`, `connect_ms`, `tls_ms` as for every probe, and `ttfb_ms` from
//! sending the query until the first byte of its answer. The figures (`details`) add
//! `login_ms`, `query_ms`, `server_version`, `tls`, `rows` and `value`.
//!
//! | what happened | kind |
//! |---|---|
//! | DNS, guard, connect, TLS, timeout (as for every probe) | `dns` / `connect` / `tls` / `timeout` |
//! | TLS required (`require`, `verify-full`) but declined by the server | `tls` |
//! | login refused (wrong password, no such role or database, `pg_hba.conf`) | `connect` |
//! | the server is starting up, shutting down or in recovery and refuses logins | `connect` |
//! | the query fails (SQL error) | `assertion` |
//! | the query is cancelled by `statement_timeout` | `timeout` |
//! | malformed or unexpected messages, connection closed | `protocol` |
//!
//! The verdict on the answer is [`vigilmon_core::assert::evaluate_query`].

use std::io;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::{Instant, timeout_at};
use vigilmon_core::assert::{QueryExpect, QueryFacts, evaluate_query};
use vigilmon_core::monitor::{PgSslMode, PostgresSpec};
use vigilmon_core::{ErrorKind, Verdict};

use crate::certificate::{handshake, server_name};
use crate::classify::{Failure, Phase};
use crate::database::{Failed, Figures, Stream, protocol, timed_out, unreachable};
use crate::net::{self, Target};
use crate::{Inner, Outcome, millis, tls};

/// The largest message read from the server (a row, an error): 1 MiB.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// The most SCRAM iterations the probe computes (PostgreSQL's default is 4096).
const MAX_SCRAM_ITERATIONS: u32 = 1_000_000;
/// The `SSLRequest` code.
const SSL_REQUEST: i32 = 80_877_103;
/// Protocol version 3.0.
const PROTOCOL_3_0: i32 = 196_608;

/// Runs a PostgreSQL check to its verdict; the figures go into `details`.
pub(crate) async fn run(
    inner: &Inner,
    spec: &PostgresSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    let mut figures = Figures::default();
    let verdict = match check(inner, spec, start, deadline, limit, &mut out, &mut figures).await {
        Ok(v) | Err(v) => v,
    };
    out.verdict = verdict;
    out.details = Some(figures.to_json());
    out
}

async fn check(
    inner: &Inner,
    spec: &PostgresSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
    figures: &mut Figures,
) -> Result<Verdict, Failed> {
    let stream = connect(inner, spec, deadline, limit, out, figures).await?;
    let mut conn = Conn {
        stream: BufReader::new(stream),
    };

    let t0 = Instant::now();
    timeout_at(deadline, login(&mut conn, spec, limit, figures))
        .await
        .map_err(|_| timed_out(limit, "logging in"))??;
    figures.login_ms = Some(millis(t0.elapsed()));

    let t0 = Instant::now();
    let facts = timeout_at(deadline, query(&mut conn, &spec.query, t0, out))
        .await
        .map_err(|_| timed_out(limit, "waiting for the query's answer"))??;
    figures.query_ms = Some(millis(t0.elapsed()));
    // A polite goodbye; the connection is dropped either way.
    let _ = timeout_at(deadline, conn.send(b'X', &[])).await;

    let verdict = evaluate_query(
        QueryExpect {
            value: spec.expect_value.as_deref(),
            response_time: spec.response_time,
            warn_response_time: spec.warn_response_time,
        },
        &facts,
        start.elapsed(),
    );
    figures.facts = Some(facts);
    Ok(verdict)
}

/// Connects (guarded and timed), then negotiates TLS as `sslmode` asks.
async fn connect(
    inner: &Inner,
    spec: &PostgresSpec,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
    figures: &mut Figures,
) -> Result<Box<dyn Stream>, Failed> {
    let target = Target::from_host_text(&spec.host);
    let conn = net::open(
        &target,
        spec.port,
        &inner.opts.guard,
        deadline,
        limit,
        &mut out.phases,
    )
    .await
    .map_err(|f| unreachable(&f))?;
    out.remote_addr = Some(conn.peer);
    let mut stream = conn.stream;
    if spec.sslmode == PgSslMode::Disable {
        return Ok(Box::new(stream));
    }

    let t0 = Instant::now();
    let mut request = Vec::with_capacity(8);
    request.extend_from_slice(&8i32.to_be_bytes());
    request.extend_from_slice(&SSL_REQUEST.to_be_bytes());
    let answer = timeout_at(deadline, async {
        stream.write_all(&request).await?;
        stream.read_u8().await
    })
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
    match (answer, spec.sslmode) {
        (b'S', _) => {}
        (b'N', PgSslMode::Prefer) => return Ok(Box::new(stream)),
        (b'N', mode) => {
            return Err(Verdict::down(
                ErrorKind::Tls,
                format!(
                    "the server does not offer TLS, which sslmode={} requires",
                    mode.as_str()
                ),
            ));
        }
        (other, _) => {
            return Err(protocol(format!(
                "the server answered the TLS request with {:?}, not S or N",
                char::from(other)
            )));
        }
    }
    let name = server_name(&spec.host)?;
    let config = if spec.sslmode == PgSslMode::VerifyFull {
        inner.database_tls[0].clone()
    } else {
        inner.database_tls[1].clone()
    };
    let stream = handshake(config, name, stream, deadline, limit).await?;
    out.phases.tls_ms = Some(millis(t0.elapsed()));
    out.cert_expires_at = tls::leaf_not_after(stream.get_ref().1);
    figures.tls = true;
    Ok(Box::new(stream))
}

/// A connection speaking the protocol: typed messages with a length.
struct Conn {
    stream: BufReader<Box<dyn Stream>>,
}

/// Why reading a message failed.
enum ReadError {
    Io(io::Error),
    Malformed(String),
}

impl ReadError {
    fn into_failed(self, doing: &str) -> Failed {
        match self {
            ReadError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                protocol(format!("the server closed the connection while {doing}"))
            }
            ReadError::Io(error) => unreachable(&Failure::Io {
                phase: Phase::FirstByte,
                error,
            }),
            ReadError::Malformed(m) => protocol(format!("malformed message while {doing}: {m}")),
        }
    }
}

impl Conn {
    /// Writes one message: its type, its length, its body.
    async fn send(&mut self, kind: u8, body: &[u8]) -> io::Result<()> {
        let mut msg = Vec::with_capacity(body.len() + 5);
        msg.push(kind);
        let len = i32::try_from(body.len() + 4).unwrap_or(i32::MAX);
        msg.extend_from_slice(&len.to_be_bytes());
        msg.extend_from_slice(body);
        let s = self.stream.get_mut();
        s.write_all(&msg).await?;
        s.flush().await
    }

    /// Reads one message: its type and body.
    async fn read(&mut self) -> Result<(u8, Vec<u8>), ReadError> {
        let kind = self.stream.read_u8().await.map_err(ReadError::Io)?;
        let len = self.stream.read_i32().await.map_err(ReadError::Io)?;
        let len = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_sub(4))
            .ok_or_else(|| ReadError::Malformed(format!("a length of {len}")))?;
        if len > MAX_MESSAGE_BYTES {
            return Err(ReadError::Malformed(format!(
                "a message of {len} bytes is over the {MAX_MESSAGE_BYTES} bytes cap"
            )));
        }
        let mut body = vec![0; len];
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(ReadError::Io)?;
        Ok((kind, body))
    }
}

/// A cursor over a message body.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn i32(&mut self) -> Option<i32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(i32::from_be_bytes(*head))
    }
    fn i16(&mut self) -> Option<i16> {
        let (head, rest) = self.0.split_first_chunk::<2>()?;
        self.0 = rest;
        Some(i16::from_be_bytes(*head))
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn cstr(&mut self) -> Option<String> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let s = String::from_utf8_lossy(&self.0[..end]).into_owned();
        self.0 = &self.0[end + 1..];
        Some(s)
    }
}

/// An `ErrorResponse` in words: SQLSTATE and message.
struct ServerError {
    code: String,
    message: String,
}

impl ServerError {
    fn parse(body: &[u8]) -> Self {
        let mut b = Body(body);
        let (mut code, mut message, mut severity) = (String::new(), String::new(), String::new());
        while let Some(&field) = b.0.first() {
            if field == 0 {
                break;
            }
            b.0 = &b.0[1..];
            let Some(value) = b.cstr() else { break };
            match field {
                b'C' => code = value,
                b'M' => message = value,
                b'V' => severity = value,
                b'S' if severity.is_empty() => severity = value,
                _ => {}
            }
        }
        let message: String = message.chars().take(300).collect();
        let message = if severity.is_empty() {
            message
        } else {
            format!("{severity}: {message}")
        };
        ServerError { code, message }
    }

    fn words(&self) -> String {
        format!("{} (SQLSTATE {})", self.message, self.code)
    }
}

/// A refused login in words, classified: the server answered, but no session.
fn login_refused(e: &ServerError) -> Failed {
    let why = match e.code.get(..2) {
        Some("28") => "login refused",
        _ if e.code == "3D000" => "no such database",
        _ if e.code.starts_with("57P") => "the server is not accepting logins",
        Some("53") => "the server is out of resources",
        _ => "login failed",
    };
    Verdict::down(ErrorKind::Connect, format!("{why}: {}", e.words()))
}

/// Sends the startup message and answers the server's authentication requests until
/// it is ready for a query.
async fn login(
    conn: &mut Conn,
    spec: &PostgresSpec,
    limit: Duration,
    figures: &mut Figures,
) -> Result<(), Failed> {
    const DOING: &str = "logging in";
    let statement_timeout = millis(limit).to_string();
    let mut body = Vec::new();
    body.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
    for (k, v) in [
        ("user", spec.user.as_str()),
        ("database", spec.database.as_str()),
        ("application_name", "vigilmon"),
        ("client_encoding", "UTF8"),
        ("default_transaction_read_only", "on"),
        ("statement_timeout", statement_timeout.as_str()),
    ] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut startup = Vec::with_capacity(body.len() + 4);
    let len = i32::try_from(body.len() + 4).unwrap_or(i32::MAX);
    startup.extend_from_slice(&len.to_be_bytes());
    startup.extend_from_slice(&body);
    let s = conn.stream.get_mut();
    let sent = async {
        s.write_all(&startup).await?;
        s.flush().await
    }
    .await;
    sent.map_err(|error| {
        unreachable(&Failure::Io {
            phase: Phase::Send,
            error,
        })
    })?;

    let mut scram: Option<Scram> = None;
    loop {
        let (kind, body) = conn.read().await.map_err(|e| e.into_failed(DOING))?;
        match kind {
            b'R' => {
                let mut b = Body(&body);
                let code = b
                    .i32()
                    .ok_or_else(|| protocol("a short authentication request"))?;
                match code {
                    0 => {}
                    3 => {
                        let password = password(spec)?;
                        let mut p = password.as_bytes().to_vec();
                        p.push(0);
                        send(conn, b'p', &p).await?;
                    }
                    5 => {
                        let salt = b
                            .bytes(4)
                            .ok_or_else(|| protocol("an MD5 request without its salt"))?;
                        let mut p = md5_password(&spec.user, password(spec)?, salt).into_bytes();
                        p.push(0);
                        send(conn, b'p', &p).await?;
                    }
                    10 => {
                        let mut offered = Vec::new();
                        while let Some(m) = b.cstr().filter(|m| !m.is_empty()) {
                            offered.push(m);
                        }
                        if !offered.iter().any(|m| m == "SCRAM-SHA-256") {
                            return Err(Verdict::down(
                                ErrorKind::Connect,
                                format!(
                                    "the server offers only SASL mechanisms the probe does not speak: {}",
                                    offered.join(", ")
                                ),
                            ));
                        }
                        let s = Scram::new(password(spec)?)?;
                        let first = s.client_first();
                        let mut p = b"SCRAM-SHA-256\0".to_vec();
                        let len = i32::try_from(first.len()).unwrap_or(i32::MAX);
                        p.extend_from_slice(&len.to_be_bytes());
                        p.extend_from_slice(first.as_bytes());
                        send(conn, b'p', &p).await?;
                        scram = Some(s);
                    }
                    11 => {
                        let s = scram
                            .as_mut()
                            .ok_or_else(|| protocol("a SASL challenge before SASL was chosen"))?;
                        let server_first = String::from_utf8_lossy(b.0).into_owned();
                        let reply = s.client_final(&server_first).await?;
                        send(conn, b'p', reply.as_bytes()).await?;
                    }
                    12 => {
                        let s = scram
                            .as_ref()
                            .ok_or_else(|| protocol("a SASL outcome before SASL was chosen"))?;
                        s.verify_server(&String::from_utf8_lossy(b.0))?;
                    }
                    other => {
                        return Err(Verdict::down(
                            ErrorKind::Connect,
                            format!(
                                "the server asks for an authentication method the probe does not speak (code {other}); use password, md5 or scram-sha-256 for the monitor's role"
                            ),
                        ));
                    }
                }
            }
            b'E' => return Err(login_refused(&ServerError::parse(&body))),
            b'S' => {
                let mut b = Body(&body);
                if let (Some(k), Some(v)) = (b.cstr(), b.cstr())
                    && k == "server_version"
                {
                    figures.server_version = Some(v.chars().take(100).collect());
                }
            }
            b'K' | b'N' | b'v' => {}
            b'Z' => return Ok(()),
            other => {
                return Err(protocol(format!(
                    "unexpected message {:?} while {DOING}",
                    char::from(other)
                )));
            }
        }
    }
}

async fn send(conn: &mut Conn, kind: u8, body: &[u8]) -> Result<(), Failed> {
    conn.send(kind, body).await.map_err(|error| {
        unreachable(&Failure::Io {
            phase: Phase::Send,
            error,
        })
    })
}

fn password(spec: &PostgresSpec) -> Result<&str, Failed> {
    spec.password.as_deref().ok_or_else(|| {
        Verdict::down(
            ErrorKind::Connect,
            "login refused: the server asks for a password and the URL gives none",
        )
    })
}

/// The MD5 answer: `"md5" + md5hex(md5hex(password + user) + salt)`.
fn md5_password(user: &str, password: &str, salt: &[u8]) -> String {
    use md5::{Digest, Md5};
    let inner = hex(&Md5::digest(format!("{password}{user}").as_bytes()));
    let mut h = Md5::new();
    h.update(inner.as_bytes());
    h.update(salt);
    format!("md5{}", hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the query with the simple query protocol and keeps the first column of the
/// first row of the first result, and its row count.
async fn query(
    conn: &mut Conn,
    sql: &str,
    t0: Instant,
    out: &mut Outcome,
) -> Result<QueryFacts, Failed> {
    const DOING: &str = "waiting for the query's answer";
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    send(conn, b'Q', &body).await?;
    let mut facts = QueryFacts {
        rows: 0,
        value: None,
        null: false,
    };
    let mut first_result_done = false;
    let mut error: Option<ServerError> = None;
    loop {
        let (kind, body) = conn.read().await.map_err(|e| e.into_failed(DOING))?;
        if out.phases.ttfb_ms.is_none() {
            out.phases.ttfb_ms = Some(millis(t0.elapsed()));
        }
        match kind {
            b'D' if !first_result_done => {
                if facts.rows == 0 {
                    let mut b = Body(&body);
                    let columns = b.i16().ok_or_else(|| protocol("a short data row"))?;
                    if columns > 0 {
                        let len = b.i32().ok_or_else(|| protocol("a short data row"))?;
                        if len < 0 {
                            facts.null = true;
                        } else {
                            let len = usize::try_from(len).unwrap_or(usize::MAX);
                            let v = b.bytes(len).ok_or_else(|| protocol("a short data row"))?;
                            facts.value = Some(String::from_utf8_lossy(v).into_owned());
                        }
                    }
                }
                facts.rows += 1;
            }
            b'C' | b'I' => first_result_done = true,
            b'E' => {
                // The server follows an error with ReadyForQuery; keep the first.
                error.get_or_insert(ServerError::parse(&body));
            }
            b'T' | b'D' | b'N' | b'S' | b'A' => {}
            b'Z' => break,
            b'G' | b'H' => {
                return Err(protocol(
                    "the query started a COPY, which a monitor's query may not do",
                ));
            }
            other => {
                return Err(protocol(format!(
                    "unexpected message {:?} while {DOING}",
                    char::from(other)
                )));
            }
        }
    }
    match error {
        Some(e) if e.code == "57014" => Err(Verdict::down(
            ErrorKind::Timeout,
            format!("the query was cancelled: {}", e.words()),
        )),
        Some(e) => Err(Verdict::down(
            ErrorKind::Assertion,
            format!("the query failed: {}", e.words()),
        )),
        None => Ok(facts),
    }
}

/// A SCRAM-SHA-256 exchange (RFC 5802, RFC 7677), without channel binding.
struct Scram {
    password: String,
    client_nonce: String,
    /// Kept after the server's first message: the salted password and the
    /// authentication message, for checking the server's signature.
    proof: Option<(Vec<u8>, String)>,
}

impl Scram {
    fn new(password: &str) -> Result<Self, Failed> {
        use ring::rand::SecureRandom;
        let mut nonce = [0u8; 18];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| protocol("no random numbers for the SCRAM nonce"))?;
        Ok(Scram {
            password: password.to_owned(),
            client_nonce: B64.encode(nonce),
            proof: None,
        })
    }

    /// `client-first-message-bare` (PostgreSQL takes the user from the startup
    /// message, so the name is left empty).
    fn first_bare(&self) -> String {
        format!("n=,r={}", self.client_nonce)
    }

    fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare())
    }

    /// The `client-final-message` for the server's first message.
    async fn client_final(&mut self, server_first: &str) -> Result<String, Failed> {
        let attr = |name: &str| {
            server_first
                .split(',')
                .find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        };
        let bad = |what: &str| protocol(format!("a SCRAM challenge {what}"));
        let nonce = attr("r").ok_or_else(|| bad("without a nonce"))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(bad("whose nonce does not extend the probe's"));
        }
        let salt = attr("s")
            .and_then(|s| B64.decode(s).ok())
            .ok_or_else(|| bad("without a usable salt"))?;
        let iterations: u32 = attr("i")
            .and_then(|i| i.parse().ok())
            .filter(|&i| i > 0)
            .ok_or_else(|| bad("without a usable iteration count"))?;
        if iterations > MAX_SCRAM_ITERATIONS {
            return Err(bad(&format!(
                "asking for {iterations} iterations, over the probe's {MAX_SCRAM_ITERATIONS}"
            )));
        }
        let password = self.password.clone();
        let salted =
            tokio::task::spawn_blocking(move || salt_password(&password, &salt, iterations))
                .await
                .map_err(|_| protocol("the SCRAM computation failed"))?;
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare());
        let proof = client_proof(&salted, &auth_message);
        self.proof = Some((salted, auth_message));
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks the server's final message: its signature proves it knows the password.
    fn verify_server(&self, server_final: &str) -> Result<(), Failed> {
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(Verdict::down(
                ErrorKind::Connect,
                format!("login refused: SCRAM error {e}"),
            ));
        }
        let (salted, auth_message) = self
            .proof
            .as_ref()
            .ok_or_else(|| protocol("a SCRAM outcome before its challenge"))?;
        let got = server_final
            .strip_prefix("v=")
            .and_then(|v| B64.decode(v.trim()).ok())
            .ok_or_else(|| protocol("a SCRAM outcome without a server signature"))?;
        if got != server_signature(salted, auth_message) {
            return Err(Verdict::down(
                ErrorKind::Connect,
                "the server's SCRAM signature is wrong: it does not know the password",
            ));
        }
        Ok(())
    }
}

/// `Hi(password, salt, i)`: PBKDF2 with HMAC-SHA-256.
fn salt_password(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut out = [0u8; 32];
    let n = std::num::NonZeroU32::new(iterations).unwrap_or(std::num::NonZeroU32::MIN);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        salt,
        password.as_bytes(),
        &mut out,
    );
    out.to_vec()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&k, data).as_ref().to_vec()
}

fn client_proof(salted: &[u8], auth_message: &str) -> Vec<u8> {
    let client_key = hmac(salted, b"Client Key");
    let stored_key = ring::digest::digest(&ring::digest::SHA256, &client_key);
    let signature = hmac(stored_key.as_ref(), auth_message.as_bytes());
    client_key
        .iter()
        .zip(signature)
        .map(|(k, s)| k ^ s)
        .collect()
}

fn server_signature(salted: &[u8], auth_message: &str) -> Vec<u8> {
    let server_key = hmac(salted, b"Server Key");
    hmac(&server_key, auth_message.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3: the example exchange of user "user", password "pencil".
    #[test]
    fn scram_sha_256_matches_the_rfc_example() {
        let first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let without_proof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = salt_password("pencil", &salt, 4096);
        let auth = format!("{first_bare},{server_first},{without_proof}");
        assert_eq!(
            B64.encode(client_proof(&salted, &auth)),
            "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            B64.encode(server_signature(&salted, &auth)),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn md5_answers_as_libpq_does() {
        // md5(md5("secret" + "mon") + salt) for the salt 01 02 03 04.
        let got = md5_password("mon", "secret", &[1, 2, 3, 4]);
        assert!(got.starts_with("md5") && got.len() == 35, "{got}");
        use md5::{Digest, Md5};
        let inner = hex(&Md5::digest(b"secretmon"));
        let mut outer = inner.into_bytes();
        outer.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(got, format!("md5{}", hex(&Md5::digest(&outer))));
    }

    #[test]
    fn server_errors_read_in_words() {
        let body = b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \"mon\"\0\0";
        let e = ServerError::parse(body);
        assert_eq!(e.code, "28P01");
        let Verdict::Down { kind, message } = login_refused(&e) else {
            panic!()
        };
        assert_eq!(kind, ErrorKind::Connect);
        assert_eq!(
            message,
            "login refused: FATAL: password authentication failed for user \"mon\" (SQLSTATE 28P01)"
        );
        // A body cut anywhere is read as far as it goes, never a panic.
        for cut in 0..body.len() {
            let _ = ServerError::parse(&body[..cut]);
        }
    }
}
