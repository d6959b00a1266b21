//! `smtp` checks: a mail server's conversation up to where mail would start. Connect
//! (guarded and timed); with `tls: implicit` shake hands first; read the greeting
//! (`ttfb_ms`), say `EHLO`; with `tls: starttls` (the default) require `STARTTLS`
//! among the extensions, ask for it, shake hands and say `EHLO` again over TLS; then
//! `QUIT`. The certificate is taken whatever it is and judged afterwards, as by `tls`
//! checks (`certificate::examine`); the verdict is
//! [`vigilmon_core::assert::evaluate_smtp`].
//!
//! Figures: `greeting`, `extensions` (what `EHLO` lists, the last time it was said),
//! and with TLS the certificate's (`subject`, `issuer`, `names`, `not_after`,
//! `days_left`, `protocol`, `cipher`, `chain`, `trusted`).
//!
//! | what happened | kind |
//! |---|---|
//! | DNS, guard, connect, handshake, timeout (as for every probe) | `dns` / `connect` / `tls` / `timeout` |
//! | no greeting, a greeting other than 220 (e.g. 554), `EHLO` refused, no `STARTTLS` offered, malformed replies | `protocol` |
//! | untrusted chain or wrong name (unless `verify_tls: false`), expiring within `expect.cert_expiry` | `tls` |
//! | another greeting than `expect.banner`, too slow | `assertion` |

use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use vigilmon_core::assert::{TlsFacts, evaluate_smtp};
use vigilmon_core::monitor::{SmtpSpec, SmtpTls};
use vigilmon_core::{ErrorKind, HumanDuration, Verdict};

use crate::certificate::{examine, send, server_name, smtp_reply, smtp_starttls};
use crate::classify::{Failure, Phase};
use crate::net::{self, Target};
use crate::{Inner, Outcome, millis};

/// The `EHLO` sent: a name that is clearly no real host (RFC 2606).
const EHLO: &[u8] = b"EHLO vigilmon.invalid\r\n";

/// Runs an `smtp` check to its verdict; the figures go into `details`.
pub(crate) async fn run(
    inner: &Inner,
    spec: &SmtpSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    let verdict = match timeout_at(
        deadline,
        check(inner, spec, start, deadline, limit, &mut out),
    )
    .await
    {
        Ok(Ok(v) | Err(v)) => v,
        Err(_) => Verdict::down(
            ErrorKind::Timeout,
            format!(
                "no answer within {} (while speaking SMTP)",
                HumanDuration(limit)
            ),
        ),
    };
    out.verdict = verdict;
    out
}

fn unreachable(f: &Failure) -> Verdict {
    let (kind, message) = crate::classify::classify(f);
    Verdict::down(kind, message)
}

async fn check(
    inner: &Inner,
    spec: &SmtpSpec,
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
    let name = server_name(&spec.host)?;
    let now = Timestamp::now();
    let mut figures = json!({});
    let connector = TlsConnector::from(inner.database_tls[1].clone());
    let handshake_failed = |error| {
        unreachable(&Failure::Io {
            phase: Phase::TlsHandshake,
            error,
        })
    };

    let (greeting, extensions, certificate) = match spec.tls {
        SmtpTls::None => {
            let t0 = Instant::now();
            let (greeting, extensions) = converse(conn.stream, t0, out).await?;
            (greeting, extensions, None)
        }
        SmtpTls::Implicit => {
            let t0 = Instant::now();
            let tls = connector
                .connect(name.clone(), conn.stream)
                .await
                .map_err(handshake_failed)?;
            out.phases.tls_ms = Some(millis(t0.elapsed()));
            let (facts, f) = examine(inner, &name, tls.get_ref().1, now)?;
            figures = f;
            let t0 = Instant::now();
            let (greeting, extensions) = converse(tls, t0, out).await?;
            (greeting, extensions, Some(facts))
        }
        SmtpTls::StartTls => {
            let t0 = Instant::now();
            let (stream, greeting) = smtp_starttls(conn.stream, t0, out).await?;
            let t1 = Instant::now();
            let tls = connector
                .connect(name.clone(), stream)
                .await
                .map_err(handshake_failed)?;
            out.phases.tls_ms = Some(millis(t1.elapsed()));
            let (facts, f) = examine(inner, &name, tls.get_ref().1, now)?;
            figures = f;
            let mut r = BufReader::new(tls);
            send(r.get_mut(), EHLO).await?;
            let extensions = ehlo_answer(&mut r, "waiting for the answer to EHLO over TLS").await?;
            send(r.get_mut(), b"QUIT\r\n").await.ok();
            (greeting, extensions, Some(facts))
        }
    };
    out.cert_expires_at = certificate.as_ref().and_then(|c: &TlsFacts| c.not_after);
    figures["greeting"] = json!(greeting.chars().take(200).collect::<String>());
    figures["extensions"] = json!(extensions);
    out.details = Some(figures);
    Ok(evaluate_smtp(
        spec,
        &greeting,
        certificate.as_ref(),
        start.elapsed(),
        now,
    ))
}

/// The greeting (its time is `ttfb_ms`), `EHLO` and `QUIT` over a stream.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    t0: Instant,
    out: &mut Outcome,
) -> Result<(String, Vec<String>), Verdict> {
    let mut r = BufReader::new(stream);
    let (code, lines) = smtp_reply(&mut r, "waiting for the greeting").await?;
    out.phases.ttfb_ms = Some(millis(t0.elapsed()));
    if code != 220 {
        return Err(Verdict::down(
            ErrorKind::Protocol,
            format!("the server greets with {code} {}", lines.join(" ")),
        ));
    }
    send(r.get_mut(), EHLO).await?;
    let extensions = ehlo_answer(&mut r, "waiting for the answer to EHLO").await?;
    send(r.get_mut(), b"QUIT\r\n").await.ok();
    Ok((lines.join(" "), extensions))
}

/// Reads the answer to `EHLO`: 250, and the extensions it lists (the first line is
/// the server's name).
async fn ehlo_answer<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    doing: &str,
) -> Result<Vec<String>, Verdict> {
    let (code, lines) = smtp_reply(r, doing).await?;
    if code != 250 {
        return Err(Verdict::down(
            ErrorKind::Protocol,
            format!("the server refuses EHLO: {code} {}", lines.join(" ")),
        ));
    }
    Ok(lines
        .iter()
        .skip(1)
        .map(|l| l.trim().chars().take(100).collect())
        .take(50)
        .collect())
}
