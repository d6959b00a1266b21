//! `tls` checks: the certificate alone. Connect (guarded and timed), optionally speak
//! SMTP up to `STARTTLS`, complete a TLS handshake that accepts whatever certificate
//! is presented, then judge that certificate with the prober's verifier (chain and
//! name, against the system roots and `extra_roots`), and read its issuer, names and
//! expiry. The verdict is [`vigilmon_core::assert::evaluate_tls`].
//!
//! Taking the certificate first and judging it afterwards is what lets a failed check
//! still say who issued the certificate, for which names and until when.
//!
//! Phases: `dns_ms`, `connect_ms`, `tls_ms` (the handshake), and with STARTTLS
//! `ttfb_ms` (the server's greeting). Figures: `subject`, `issuer`, `names`,
//! `not_after`, `days_left`, `protocol`, `cipher`, `chain` (certificates presented)
//! and `trusted`.
//!
//! | what happened | kind |
//! |---|---|
//! | DNS, guard, connect, handshake, timeout (as for every probe) | `dns` / `connect` / `tls` / `timeout` |
//! | an SMTP server that does not greet, or does not offer `STARTTLS` | `protocol` |
//! | untrusted chain, expired, wrong name, too old a protocol, expiring within `expect.cert_expiry` | `tls` |
//! | another issuer, too slow | `assertion` |

use std::net::IpAddr;
use std::time::Duration;

use jiff::Timestamp;
use rustls::CertificateError;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{ServerName, UnixTime};
use serde_json::json;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use vigilmon_core::assert::{TlsFacts, evaluate_tls};
use vigilmon_core::monitor::{StartTls, TlsSpec, TlsVersion};
use vigilmon_core::{ErrorKind, HumanDuration, Verdict};

use crate::classify::{Failure, Phase, tls_words};
use crate::net::{self, Target};
use crate::{Inner, Outcome, millis, tls};

/// The longest SMTP reply line read.
const MAX_LINE_BYTES: usize = 4096;
/// The most lines of one SMTP reply read.
const MAX_REPLY_LINES: usize = 100;
/// The most names of the certificate kept in the figures.
const MAX_NAMES: usize = 20;

/// Runs a `tls` check to its verdict; the certificate's figures go into `details`.
pub(crate) async fn run(
    inner: &Inner,
    spec: &TlsSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    match check(inner, spec, start, deadline, limit, &mut out).await {
        Ok(v) | Err(v) => out.verdict = v,
    }
    out
}

fn unreachable(f: &Failure) -> Verdict {
    let (kind, message) = crate::classify::classify(f);
    Verdict::down(kind, message)
}

async fn check(
    inner: &Inner,
    spec: &TlsSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
) -> Result<Verdict, Verdict> {
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
    if spec.starttls == Some(StartTls::Smtp) {
        let t0 = Instant::now();
        (stream, _) = timeout_at(deadline, smtp_starttls(stream, t0, out))
            .await
            .map_err(|_| {
                Verdict::down(
                    ErrorKind::Timeout,
                    format!(
                        "no answer within {} (while speaking SMTP up to STARTTLS)",
                        HumanDuration(limit)
                    ),
                )
            })??;
    }

    let name = server_name(&spec.host)?;
    let t0 = Instant::now();
    // Any certificate is taken; it is judged below.
    let tls = handshake(
        inner.database_tls[1].clone(),
        name.clone(),
        stream,
        deadline,
        limit,
    )
    .await?;
    out.phases.tls_ms = Some(millis(t0.elapsed()));
    let now = Timestamp::now();
    let (facts, figures) = examine(inner, &name, tls.get_ref().1, now)?;
    out.cert_expires_at = facts.not_after;
    out.details = Some(figures);
    Ok(evaluate_tls(spec, &facts, start.elapsed(), now))
}

/// What a finished handshake shows of the server's certificate: the facts to judge
/// (the chain and name checked with the prober's verifier) and the figures.
pub(crate) fn examine(
    inner: &Inner,
    name: &ServerName<'static>,
    session: &rustls::ClientConnection,
    now: Timestamp,
) -> Result<(TlsFacts, serde_json::Value), Verdict> {
    let chain = session.peer_certificates().unwrap_or_default();
    let Some(leaf) = chain.first() else {
        return Err(Verdict::down(
            ErrorKind::Tls,
            "the server presented no certificate",
        ));
    };
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => TlsVersion::V1_3,
        _ => TlsVersion::V1_2,
    };
    let cipher = session
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_default();
    let (chain_error, name_error) =
        match inner
            .tls
            .verifier
            .verify_server_cert(leaf, &chain[1..], name, &[], UnixTime::now())
        {
            Ok(_) => (None, None),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => (None, Some(name_words(leaf))),
            Err(e) => (Some(tls_words(&e)), None),
        };
    let parsed = x509_parser::parse_x509_certificate(leaf)
        .ok()
        .map(|(_, c)| c);
    let issuer = parsed
        .as_ref()
        .map(|c| c.issuer().to_string())
        .unwrap_or_default();
    let not_after = tls::not_after(leaf);
    let mut figures = json!({
        "subject": parsed.as_ref().map(|c| c.subject().to_string()),
        "issuer": issuer,
        "names": parsed.as_ref().map(names).unwrap_or_default(),
        "protocol": format!("TLS {}", version.as_str()),
        "cipher": cipher,
        "chain": chain.len(),
        "trusted": chain_error.is_none() && name_error.is_none(),
    });
    if let Some(at) = not_after {
        figures["not_after"] = json!(at.to_string());
        figures["days_left"] = json!((at.as_second() - now.as_second()).div_euclid(86_400));
    }
    let facts = TlsFacts {
        chain_error,
        name_error,
        issuer,
        not_after,
        version,
    };
    Ok((facts, figures))
}

/// A TLS handshake over `stream` with `config`, within the check's time: a timeout or a
/// failed handshake is the check's verdict.
pub(crate) async fn handshake<S>(
    config: std::sync::Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
    stream: S,
    deadline: Instant,
    limit: Duration,
) -> Result<tokio_rustls::client::TlsStream<S>, Verdict>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    timeout_at(deadline, TlsConnector::from(config).connect(name, stream))
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
        })
}

/// The server name the certificate must be valid for.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Verdict> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
        Err(_) => ServerName::try_from(bare.trim_end_matches('.').to_owned()).map_err(|_| {
            unreachable(&Failure::TlsName {
                host: host.to_owned(),
            })
        }),
    }
}

/// The names a certificate is valid for (its subject alternative names).
fn names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some((*d).to_owned()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .take(MAX_NAMES)
        .collect()
}

/// Which names a certificate that does not match is valid for, in words.
fn name_words(leaf: &[u8]) -> String {
    let listed = x509_parser::parse_x509_certificate(leaf)
        .ok()
        .map(|(_, c)| names(&c))
        .unwrap_or_default();
    if listed.is_empty() {
        "it names no host".to_owned()
    } else {
        format!("it is valid for {}", listed.join(", "))
    }
}

/// Speaks SMTP up to `STARTTLS`: the greeting (its time is `ttfb_ms`), `EHLO`, which
/// must list `STARTTLS`, and `STARTTLS` itself. Returns the greeting's text too.
pub(crate) async fn smtp_starttls(
    stream: TcpStream,
    t0: Instant,
    out: &mut Outcome,
) -> Result<(TcpStream, String), Verdict> {
    let mut r = BufReader::new(stream);
    let greeting = smtp_reply(&mut r, "waiting for the greeting").await?;
    out.phases.ttfb_ms = Some(millis(t0.elapsed()));
    if greeting.0 != 220 {
        return Err(Verdict::down(
            ErrorKind::Protocol,
            format!(
                "the server greets with {} {}",
                greeting.0,
                greeting.1.join(" ")
            ),
        ));
    }
    send(r.get_mut(), b"EHLO vigilmon.invalid\r\n").await?;
    let (code, lines) = smtp_reply(&mut r, "waiting for the answer to EHLO").await?;
    if code != 250 {
        return Err(Verdict::down(
            ErrorKind::Protocol,
            format!("the server refuses EHLO: {code} {}", lines.join(" ")),
        ));
    }
    if !lines
        .iter()
        .any(|l| l.trim().eq_ignore_ascii_case("STARTTLS"))
    {
        return Err(Verdict::down(
            ErrorKind::Protocol,
            "the server does not offer STARTTLS",
        ));
    }
    send(r.get_mut(), b"STARTTLS\r\n").await?;
    let (code, lines) = smtp_reply(&mut r, "waiting for the answer to STARTTLS").await?;
    if code != 220 {
        return Err(Verdict::down(
            ErrorKind::Protocol,
            format!("the server refuses STARTTLS: {code} {}", lines.join(" ")),
        ));
    }
    if !r.buffer().is_empty() {
        // Bytes sent before the handshake could be injected by anyone on the path.
        return Err(Verdict::down(
            ErrorKind::Protocol,
            "the server sent data after agreeing to STARTTLS, before the handshake",
        ));
    }
    Ok((r.into_inner(), greeting.1.join(" ")))
}

/// Writes one command line.
pub(crate) async fn send<W: AsyncWrite + Unpin>(s: &mut W, line: &[u8]) -> Result<(), Verdict> {
    let sent = async {
        s.write_all(line).await?;
        s.flush().await
    }
    .await;
    sent.map_err(|error| {
        unreachable(&Failure::Io {
            phase: Phase::Send,
            error,
        })
    })
}

/// Reads one SMTP reply: its code and the text of its lines.
pub(crate) async fn smtp_reply<R: AsyncBufRead + Unpin>(
    r: &mut R,
    doing: &str,
) -> Result<(u16, Vec<String>), Verdict> {
    let mut lines = Vec::new();
    loop {
        let mut raw = Vec::new();
        let n = (&mut *r)
            .take(MAX_LINE_BYTES as u64)
            .read_until(b'\n', &mut raw)
            .await
            .map_err(|error| {
                unreachable(&Failure::Io {
                    phase: Phase::Banner,
                    error,
                })
            })?;
        if n == 0 {
            return Err(Verdict::down(
                ErrorKind::Protocol,
                format!("the server closed the connection while {doing}"),
            ));
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\r', '\n']);
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|_| line.len() == 3 || matches!(line.as_bytes()[3], b' ' | b'-'))
            .ok_or_else(|| {
                let shown: String = line.chars().take(80).collect();
                Verdict::down(
                    ErrorKind::Protocol,
                    format!("not an SMTP reply while {doing}: {shown:?}"),
                )
            })?;
        lines.push(line.get(4..).unwrap_or("").to_owned());
        let last = line.as_bytes().get(3) != Some(&b'-');
        if last {
            return Ok((code, lines));
        }
        if lines.len() >= MAX_REPLY_LINES {
            return Err(Verdict::down(
                ErrorKind::Protocol,
                format!("an SMTP reply of more than {MAX_REPLY_LINES} lines while {doing}"),
            ));
        }
    }
}
