//! MySQL and MariaDB checks: a small client of the MySQL client/server protocol (no
//! database driver, so the agent builds none), enough to log in and run one query.
//!
//! The connection goes through the same resolve / network guard / connect path as
//! every TCP check (`net::open`). After the server's greeting the probe asks for TLS
//! when `ssl-mode` is not `DISABLED` and the server offers it; `VERIFY_IDENTITY`
//! verifies the certificate against the prober's roots, `PREFERRED` and `REQUIRED`
//! accept any (as the MySQL client does), and `PREFERRED` carries on in plain text
//! when the server offers none. Logins: `mysql_native_password`,
//! `caching_sha2_password` (its full login, which sends the password, only over TLS)
//! and `mysql_clear_password` (only over TLS), with the server's requests to switch
//! between them. Before the query the session is made read-only, with a statement
//! time limit equal to the check's timeout (`tx_read_only` / `max_statement_time` on
//! MariaDB, `transaction_read_only` / `max_execution_time` on MySQL).
//!
//! Phases and figures as for PostgreSQL: `dns_ms`, `connect_ms`, `tls_ms`, `ttfb_ms`
//! (the query until the first byte of its answer); `login_ms`, `query_ms`,
//! `server_version`, `tls`, `rows`, `value`.
//!
//! | what happened | kind |
//! |---|---|
//! | DNS, guard, connect, TLS, timeout (as for every probe) | `dns` / `connect` / `tls` / `timeout` |
//! | TLS required (`REQUIRED`, `VERIFY_IDENTITY`) but not offered by the server | `tls` |
//! | the server refuses the connection (too many, host blocked) or the login | `connect` |
//! | the query fails (SQL error) | `assertion` |
//! | the query is stopped by the statement time limit | `timeout` |
//! | malformed or unexpected packets, connection closed | `protocol` |
//!
//! The verdict on the answer is [`vigilmon_core::assert::evaluate_query`].

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};
use vigilmon_core::assert::{QueryExpect, QueryFacts, evaluate_query};
use vigilmon_core::monitor::{MysqlSpec, MysqlSslMode};
use vigilmon_core::{ErrorKind, Verdict};

use crate::certificate::{handshake, server_name};
use crate::classify::{Failure, Phase};
use crate::database::{Failed, Figures, Stream, protocol, timed_out, unreachable};
use crate::net::{self, Target};
use crate::{Inner, Outcome, millis, tls};

/// The largest packet read from the server: 1 MiB.
const MAX_PACKET_BYTES: usize = 1024 * 1024;

const CLIENT_LONG_PASSWORD: u32 = 0x1;
const CLIENT_CONNECT_WITH_DB: u32 = 0x8;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_TRANSACTIONS: u32 = 0x2000;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;
/// utf8mb4_general_ci.
const CHARSET_UTF8MB4: u8 = 45;

/// Runs a MySQL check to its verdict; the figures go into `details`.
pub(crate) async fn run(
    inner: &Inner,
    spec: &MysqlSpec,
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
    spec: &MysqlSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
    figures: &mut Figures,
) -> Result<Verdict, Failed> {
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
    let mut conn = Conn {
        stream: Box::new(conn.stream),
        seq: 0,
    };

    let t0 = Instant::now();
    let greeting = timeout_at(deadline, conn.read())
        .await
        .map_err(|_| timed_out(limit, "waiting for the server's greeting"))?
        .map_err(|e| e.into_failed("waiting for the server's greeting"))?;
    let hello = Greeting::parse(&greeting)?;
    figures.server_version = Some(hello.server_version.clone());

    let tls = match (spec.ssl_mode, hello.capabilities & CLIENT_SSL != 0) {
        (MysqlSslMode::Disabled, _) | (MysqlSslMode::Preferred, false) => false,
        (_, true) => true,
        (mode, false) => {
            return Err(Verdict::down(
                ErrorKind::Tls,
                format!(
                    "the server does not offer TLS, which ssl-mode={} requires",
                    mode.as_str()
                ),
            ));
        }
    };
    let mut caps = CLIENT_LONG_PASSWORD
        | CLIENT_PROTOCOL_41
        | CLIENT_TRANSACTIONS
        | CLIENT_SECURE_CONNECTION
        | CLIENT_PLUGIN_AUTH;
    if spec.database.is_some() {
        caps |= CLIENT_CONNECT_WITH_DB;
    }
    if tls {
        caps |= CLIENT_SSL;
        let t_tls = Instant::now();
        let mut request = Vec::with_capacity(32);
        request.extend_from_slice(&caps.to_le_bytes());
        request.extend_from_slice(&(MAX_PACKET_BYTES as u32).to_le_bytes());
        request.push(CHARSET_UTF8MB4);
        request.extend_from_slice(&[0; 23]);
        timeout_at(deadline, conn.write(&request))
            .await
            .map_err(|_| timed_out(limit, "asking for TLS"))?
            .map_err(|error| {
                unreachable(&Failure::Io {
                    phase: Phase::TlsHandshake,
                    error,
                })
            })?;
        conn.stream = start_tls(inner, spec, conn.stream, deadline, limit, out).await?;
        out.phases.tls_ms = Some(millis(t_tls.elapsed()));
        figures.tls = true;
    }

    timeout_at(deadline, login(&mut conn, spec, &hello, caps, tls))
        .await
        .map_err(|_| timed_out(limit, "logging in"))??;
    // The session: read-only, and no statement longer than the check.
    let session = if hello.server_version.contains("MariaDB") {
        format!(
            "SET SESSION tx_read_only = 1, max_statement_time = {:.3}",
            limit.as_secs_f64()
        )
    } else {
        format!(
            "SET SESSION transaction_read_only = 1, max_execution_time = {}",
            millis(limit)
        )
    };
    timeout_at(deadline, simple(&mut conn, &session))
        .await
        .map_err(|_| timed_out(limit, "preparing the session"))??;
    figures.login_ms = Some(millis(t0.elapsed()));

    let t0 = Instant::now();
    let facts = timeout_at(deadline, query(&mut conn, &spec.query, t0, out))
        .await
        .map_err(|_| timed_out(limit, "waiting for the query's answer"))??;
    figures.query_ms = Some(millis(t0.elapsed()));
    // COM_QUIT, politely; the connection is dropped either way.
    conn.seq = 0;
    let _ = timeout_at(deadline, conn.write(&[0x01])).await;

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

/// The TLS handshake over the connection, after the SSL request.
async fn start_tls(
    inner: &Inner,
    spec: &MysqlSpec,
    stream: Box<dyn Stream>,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
) -> Result<Box<dyn Stream>, Failed> {
    let name = server_name(&spec.host)?;
    let config = if spec.ssl_mode == MysqlSslMode::VerifyIdentity {
        inner.database_tls[0].clone()
    } else {
        inner.database_tls[1].clone()
    };
    let stream = handshake(config, name, stream, deadline, limit).await?;
    out.cert_expires_at = tls::leaf_not_after(stream.get_ref().1);
    Ok(Box::new(stream))
}

/// A connection speaking the protocol: packets with a length and a sequence number.
struct Conn {
    stream: Box<dyn Stream>,
    /// The sequence number of the next packet written.
    seq: u8,
}

/// Why reading a packet failed.
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
            ReadError::Malformed(m) => protocol(format!("malformed packet while {doing}: {m}")),
        }
    }
}

impl Conn {
    async fn write(&mut self, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .min(0xff_ffff);
        let mut packet = Vec::with_capacity(payload.len() + 4);
        packet.extend_from_slice(&len.to_le_bytes()[..3]);
        packet.push(self.seq);
        packet.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.stream.write_all(&packet).await?;
        self.stream.flush().await
    }

    async fn read(&mut self) -> Result<Vec<u8>, ReadError> {
        let mut head = [0u8; 4];
        self.stream
            .read_exact(&mut head)
            .await
            .map_err(ReadError::Io)?;
        let len = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
        if len > MAX_PACKET_BYTES {
            return Err(ReadError::Malformed(format!(
                "a packet of {len} bytes is over the {MAX_PACKET_BYTES} bytes cap"
            )));
        }
        self.seq = head[3].wrapping_add(1);
        let mut body = vec![0; len];
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(ReadError::Io)?;
        Ok(body)
    }
}

/// A cursor over a packet.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    /// A NUL-terminated string, or the rest when the NUL is missing.
    fn cstr(&mut self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        let s = String::from_utf8_lossy(&self.0[..end]).into_owned();
        self.0 = self.0.get(end + 1..).unwrap_or_default();
        s
    }
    /// A length-encoded integer.
    fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            b @ 0..=0xfa => Some(u64::from(b)),
            0xfc => self
                .bytes(2)
                .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]]))),
            0xfd => self
                .bytes(3)
                .map(|b| u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16),
            0xfe => self.bytes(8).map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                u64::from_le_bytes(a)
            }),
            _ => None,
        }
    }
}

/// The server's greeting (protocol 10).
struct Greeting {
    server_version: String,
    capabilities: u32,
    /// The 20 bytes the password's proof is made with.
    scramble: Vec<u8>,
    plugin: String,
}

impl Greeting {
    fn parse(packet: &[u8]) -> Result<Greeting, Failed> {
        if packet.first() == Some(&0xff) {
            let e = ServerError::parse(packet);
            return Err(Verdict::down(
                ErrorKind::Connect,
                format!("the server refuses the connection: {}", e.words()),
            ));
        }
        let mut b = Body(packet);
        let short = || protocol("the server's greeting is too short");
        match b.u8() {
            Some(10) => {}
            Some(v) => {
                return Err(protocol(format!(
                    "the server greets with protocol version {v}, not 10: is this a MySQL server?"
                )));
            }
            None => return Err(short()),
        }
        let server_version = b.cstr();
        b.bytes(4).ok_or_else(short)?;
        let mut scramble = b.bytes(8).ok_or_else(short)?.to_vec();
        b.u8().ok_or_else(short)?;
        let low = b.u16().ok_or_else(short)?;
        let mut capabilities = u32::from(low);
        let mut plugin = "mysql_native_password".to_owned();
        if !b.0.is_empty() {
            b.u8().ok_or_else(short)?;
            b.u16().ok_or_else(short)?;
            let high = b.u16().ok_or_else(short)?;
            capabilities |= u32::from(high) << 16;
            let auth_len = b.u8().ok_or_else(short)?;
            b.bytes(10).ok_or_else(short)?;
            if capabilities & CLIENT_SECURE_CONNECTION != 0 {
                let n = usize::from(auth_len).saturating_sub(8).max(13);
                let part = b.bytes(n.min(b.0.len())).ok_or_else(short)?;
                scramble.extend_from_slice(part);
            }
            if capabilities & CLIENT_PLUGIN_AUTH != 0 {
                let p = b.cstr();
                if !p.is_empty() {
                    plugin = p;
                }
            }
        }
        scramble.truncate(20);
        if capabilities & CLIENT_PROTOCOL_41 == 0 || capabilities & CLIENT_SECURE_CONNECTION == 0 {
            return Err(protocol(format!(
                "the server ({server_version}) does not speak the 4.1 protocol the probe needs"
            )));
        }
        Ok(Greeting {
            server_version,
            capabilities,
            scramble,
            plugin,
        })
    }
}

/// An ERR packet in words: error code, SQLSTATE and message.
struct ServerError {
    code: u16,
    state: String,
    message: String,
}

impl ServerError {
    fn parse(packet: &[u8]) -> Self {
        let mut b = Body(packet.get(1..).unwrap_or_default());
        let code = b.u16().unwrap_or(0);
        let state = if b.0.first() == Some(&b'#') {
            b.bytes(6)
                .map(|s| String::from_utf8_lossy(&s[1..]).into_owned())
                .unwrap_or_default()
        } else {
            String::new()
        };
        let message = String::from_utf8_lossy(b.0).chars().take(300).collect();
        ServerError {
            code,
            state,
            message,
        }
    }

    fn words(&self) -> String {
        if self.state.is_empty() {
            format!("{} (error {})", self.message, self.code)
        } else {
            format!(
                "{} (error {}, SQLSTATE {})",
                self.message, self.code, self.state
            )
        }
    }
}

/// The answer to an authentication plugin's challenge.
fn auth_response(
    plugin: &str,
    password: &str,
    scramble: &[u8],
    tls: bool,
) -> Result<Vec<u8>, Failed> {
    use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY as SHA1, SHA256, digest};
    let scramble = scramble.strip_suffix(&[0]).unwrap_or(scramble);
    match plugin {
        _ if password.is_empty() && plugin != "mysql_clear_password" => Ok(Vec::new()),
        "mysql_native_password" => {
            let h1 = digest(&SHA1, password.as_bytes());
            let h2 = digest(&SHA1, h1.as_ref());
            let mut salted = scramble.to_vec();
            salted.extend_from_slice(h2.as_ref());
            let h3 = digest(&SHA1, &salted);
            Ok(h1
                .as_ref()
                .iter()
                .zip(h3.as_ref())
                .map(|(a, b)| a ^ b)
                .collect())
        }
        "caching_sha2_password" => {
            let h1 = digest(&SHA256, password.as_bytes());
            let h2 = digest(&SHA256, h1.as_ref());
            let mut salted = h2.as_ref().to_vec();
            salted.extend_from_slice(scramble);
            let h3 = digest(&SHA256, &salted);
            Ok(h1
                .as_ref()
                .iter()
                .zip(h3.as_ref())
                .map(|(a, b)| a ^ b)
                .collect())
        }
        "mysql_clear_password" if tls => {
            let mut p = password.as_bytes().to_vec();
            p.push(0);
            Ok(p)
        }
        "mysql_clear_password" => Err(Verdict::down(
            ErrorKind::Connect,
            "the server asks for the password in clear text, which the probe sends only over TLS (ssl-mode=REQUIRED or VERIFY_IDENTITY)",
        )),
        other => Err(Verdict::down(
            ErrorKind::Connect,
            format!(
                "the server asks for the authentication plugin {other}, which the probe does not speak; use mysql_native_password or caching_sha2_password for the monitor's user"
            ),
        )),
    }
}

/// Sends the handshake response and follows the server's authentication requests
/// until it accepts or refuses the login.
async fn login(
    conn: &mut Conn,
    spec: &MysqlSpec,
    hello: &Greeting,
    caps: u32,
    tls: bool,
) -> Result<(), Failed> {
    const DOING: &str = "logging in";
    let password = spec.password.as_deref().unwrap_or("");
    let mut plugin = hello.plugin.clone();
    // A plugin the probe does not speak may still be switched away from by the
    // server: answer it with native's proof, as clients do.
    let first = auth_response(&plugin, password, &hello.scramble, tls).or_else(|_| {
        plugin = "mysql_native_password".to_owned();
        auth_response(&plugin, password, &hello.scramble, tls)
    })?;
    let mut p = Vec::new();
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&(MAX_PACKET_BYTES as u32).to_le_bytes());
    p.push(CHARSET_UTF8MB4);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(spec.user.as_bytes());
    p.push(0);
    p.push(u8::try_from(first.len()).unwrap_or(u8::MAX));
    p.extend_from_slice(&first);
    if let Some(db) = &spec.database {
        p.extend_from_slice(db.as_bytes());
        p.push(0);
    }
    p.extend_from_slice(plugin.as_bytes());
    p.push(0);
    write(conn, &p).await?;

    loop {
        let packet = conn.read().await.map_err(|e| e.into_failed(DOING))?;
        match packet.first() {
            Some(0x00) => return Ok(()),
            Some(0xff) => {
                let e = ServerError::parse(&packet);
                let why = match e.code {
                    1045 | 1044 | 1698 => "login refused",
                    1049 => "no such database",
                    1040 | 1203 => "the server has too many connections",
                    _ => "login failed",
                };
                return Err(Verdict::down(
                    ErrorKind::Connect,
                    format!("{why}: {}", e.words()),
                ));
            }
            Some(0xfe) => {
                let mut b = Body(&packet[1..]);
                plugin = b.cstr();
                let answer = auth_response(&plugin, password, b.0, tls)?;
                write(conn, &answer).await?;
            }
            Some(0x01) if plugin == "caching_sha2_password" => match packet.get(1) {
                // Fast authentication succeeded: the OK packet follows.
                Some(3) => {}
                Some(4) if tls => {
                    let mut p = password.as_bytes().to_vec();
                    p.push(0);
                    write(conn, &p).await?;
                }
                Some(4) => {
                    return Err(Verdict::down(
                        ErrorKind::Connect,
                        "caching_sha2_password asks for a full login, which sends the password and which the probe does only over TLS: use ssl-mode=REQUIRED or VERIFY_IDENTITY",
                    ));
                }
                _ => return Err(protocol("an unexpected caching_sha2_password request")),
            },
            Some(other) => {
                return Err(protocol(format!(
                    "unexpected packet 0x{other:02x} while {DOING}"
                )));
            }
            None => return Err(protocol(format!("an empty packet while {DOING}"))),
        }
    }
}

async fn write(conn: &mut Conn, payload: &[u8]) -> Result<(), Failed> {
    conn.write(payload).await.map_err(|error| {
        unreachable(&Failure::Io {
            phase: Phase::Send,
            error,
        })
    })
}

/// Runs a statement that answers OK (the session settings).
async fn simple(conn: &mut Conn, sql: &str) -> Result<(), Failed> {
    conn.seq = 0;
    let mut p = vec![0x03];
    p.extend_from_slice(sql.as_bytes());
    write(conn, &p).await?;
    let packet = conn
        .read()
        .await
        .map_err(|e| e.into_failed("preparing the session"))?;
    match packet.first() {
        Some(0x00) => Ok(()),
        Some(0xff) => Err(protocol(format!(
            "the server refused to make the session read-only: {}",
            ServerError::parse(&packet).words()
        ))),
        _ => Err(protocol("an unexpected answer while preparing the session")),
    }
}

/// Whether a packet ends a list of columns or rows (an EOF packet).
fn is_eof(packet: &[u8]) -> bool {
    packet.first() == Some(&0xfe) && packet.len() < 9
}

/// Runs the query (COM_QUERY, text protocol) and keeps the first column of the first
/// row and the number of rows.
async fn query(
    conn: &mut Conn,
    sql: &str,
    t0: Instant,
    out: &mut Outcome,
) -> Result<QueryFacts, Failed> {
    const DOING: &str = "waiting for the query's answer";
    conn.seq = 0;
    let mut p = vec![0x03];
    p.extend_from_slice(sql.as_bytes());
    write(conn, &p).await?;
    let mut facts = QueryFacts {
        rows: 0,
        value: None,
        null: false,
    };
    let first = conn.read().await.map_err(|e| e.into_failed(DOING))?;
    out.phases.ttfb_ms = Some(millis(t0.elapsed()));
    let columns = match first.first() {
        Some(0x00) => return Ok(facts),
        Some(0xff) => return Err(query_failed(&ServerError::parse(&first))),
        Some(0xfb) => {
            return Err(protocol(
                "the server asked for a local file, which a monitor never sends",
            ));
        }
        _ => Body(&first)
            .lenenc()
            .ok_or_else(|| protocol("a malformed column count"))?,
    };
    for _ in 0..columns {
        conn.read().await.map_err(|e| e.into_failed(DOING))?;
    }
    let eof = conn.read().await.map_err(|e| e.into_failed(DOING))?;
    if !is_eof(&eof) {
        return Err(protocol(
            "the column definitions do not end where announced",
        ));
    }
    loop {
        let row = conn.read().await.map_err(|e| e.into_failed(DOING))?;
        if is_eof(&row) {
            break;
        }
        if row.first() == Some(&0xff) {
            return Err(query_failed(&ServerError::parse(&row)));
        }
        if facts.rows == 0 && columns > 0 {
            let mut b = Body(&row);
            if b.0.first() == Some(&0xfb) {
                facts.null = true;
            } else {
                let len = b.lenenc().ok_or_else(|| protocol("a malformed row"))?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                let v = b.bytes(len).ok_or_else(|| protocol("a short row"))?;
                facts.value = Some(String::from_utf8_lossy(v).into_owned());
            }
        }
        facts.rows += 1;
    }
    Ok(facts)
}

/// A failed query in words: a statement time limit is a timeout, anything else an
/// assertion.
fn query_failed(e: &ServerError) -> Failed {
    // 1969: MariaDB's max_statement_time; 3024: MySQL's max_execution_time.
    if matches!(e.code, 1969 | 3024) {
        Verdict::down(
            ErrorKind::Timeout,
            format!("the query was stopped: {}", e.words()),
        )
    } else {
        Verdict::down(
            ErrorKind::Assertion,
            format!("the query failed: {}", e.words()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_password_proof_matches_the_documented_formula() {
        use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY as SHA1, digest};
        let scramble: Vec<u8> = (1..=20).collect();
        let got = auth_response("mysql_native_password", "secret", &scramble, false).unwrap();
        let h1 = digest(&SHA1, b"secret");
        let h2 = digest(&SHA1, h1.as_ref());
        let mut s = scramble.clone();
        s.extend_from_slice(h2.as_ref());
        let h3 = digest(&SHA1, &s);
        let want: Vec<u8> = h1
            .as_ref()
            .iter()
            .zip(h3.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(got, want);
        assert_eq!(got.len(), 20);
        // A trailing NUL of the scramble is not part of it.
        let mut with_nul = scramble.clone();
        with_nul.push(0);
        assert_eq!(
            auth_response("mysql_native_password", "secret", &with_nul, false).unwrap(),
            want
        );
        assert!(
            auth_response("mysql_native_password", "", &scramble, false)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            auth_response("caching_sha2_password", "secret", &scramble, false)
                .unwrap()
                .len(),
            32
        );
        assert!(auth_response("mysql_clear_password", "secret", &scramble, false).is_err());
        assert!(auth_response("client_ed25519", "secret", &scramble, false).is_err());
    }

    #[test]
    fn greetings_and_errors_are_read_without_panics() {
        let err = b"\xff\x15\x04#28000Access denied for user 'x'@'h'";
        let e = ServerError::parse(err);
        assert_eq!((e.code, e.state.as_str()), (1045, "28000"));
        assert_eq!(
            e.words(),
            "Access denied for user 'x'@'h' (error 1045, SQLSTATE 28000)"
        );
        let mut hello = vec![10];
        hello.extend_from_slice(b"10.11.6-MariaDB\0");
        hello.extend_from_slice(&[1, 0, 0, 0]);
        hello.extend_from_slice(b"abcdefgh\0");
        let caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_SSL;
        hello.extend_from_slice(&(caps as u16).to_le_bytes());
        hello.push(45);
        hello.extend_from_slice(&[2, 0]);
        hello.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        hello.push(21);
        hello.extend_from_slice(&[0; 10]);
        hello.extend_from_slice(b"ijklmnopqrst\0");
        hello.extend_from_slice(b"mysql_native_password\0");
        let Ok(g) = Greeting::parse(&hello) else {
            panic!("a greeting")
        };
        assert_eq!(g.server_version, "10.11.6-MariaDB");
        assert_eq!(g.scramble, b"abcdefghijklmnopqrst");
        assert_eq!(g.plugin, "mysql_native_password");
        assert!(g.capabilities & CLIENT_SSL != 0);
        for cut in 0..hello.len() {
            let _ = Greeting::parse(&hello[..cut]);
        }
        for cut in 0..err.len() {
            let _ = ServerError::parse(&err[..cut]);
        }
    }
}
