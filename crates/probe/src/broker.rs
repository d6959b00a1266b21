//! What the message-broker checks (`mqtt`, `amqp`) share: reaching the broker
//! (resolve, guard and connect through `net`, then TLS for `mqtts://` and `amqps://`
//! with the prober's configuration, the certificate taken, judged and its expiry
//! recorded), the step under way when the check's time runs out, and the random
//! token that tells one check's traffic from another's.
//!
//! The TLS handshake takes whatever certificate is presented, so that a failed check
//! still says whose it is; with `verify_tls` (the default) an untrusted or misnamed
//! certificate ends the check right after the handshake, before any credential is
//! sent.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use tokio::time::Instant;
use vigilmon_core::assert::{TlsFacts, evaluate_secured};
use vigilmon_core::monitor::BrokerJudgement;
use vigilmon_core::{ErrorKind, HumanDuration, Verdict};

use crate::certificate::{examine, handshake, server_name};
use crate::classify::{Failure, Phase};
use crate::database::{Stream, unreachable};
use crate::net::{self, Target};
use crate::{Inner, Outcome, millis};

/// A connection to a broker, ready for its protocol.
pub(crate) struct Opened {
    pub stream: Box<dyn Stream>,
    /// The certificate's facts, with TLS.
    pub certificate: Option<TlsFacts>,
    /// The figures so far: `tls`, and the certificate's with TLS.
    pub figures: serde_json::Value,
}

/// Connects to `host`:`port` (guarded and timed) and, with `tls`, shakes hands and
/// examines the certificate. Credentials must not follow a certificate that
/// `verify_tls` refuses: that is the check's verdict at once.
pub(crate) async fn open(
    inner: &Inner,
    (host, port, tls): (&str, u16, bool),
    judgement: &BrokerJudgement,
    (start, deadline, limit): (Instant, Instant, Duration),
    out: &mut Outcome,
) -> Result<Opened, Verdict> {
    let conn = net::open(
        &Target::from_host_text(host),
        port,
        &inner.opts.guard,
        deadline,
        limit,
        &mut out.phases,
    )
    .await
    .map_err(|f| unreachable(&f))?;
    out.remote_addr = Some(conn.peer);
    if !tls {
        return Ok(Opened {
            stream: Box::new(conn.stream),
            certificate: None,
            figures: json!({"tls": false}),
        });
    }
    let name = server_name(host)?;
    let t0 = Instant::now();
    // Any certificate is taken; it is judged below.
    let stream = handshake(
        inner.database_tls[1].clone(),
        name.clone(),
        conn.stream,
        deadline,
        limit,
    )
    .await?;
    out.phases.tls_ms = Some(millis(t0.elapsed()));
    let now = Timestamp::now();
    let (facts, mut figures) = examine(inner, &name, stream.get_ref().1, now)?;
    figures["tls"] = json!(true);
    out.cert_expires_at = facts.not_after;
    if judgement.verify_tls && (facts.chain_error.is_some() || facts.name_error.is_some()) {
        out.details = Some(figures);
        return Err(evaluate_secured(
            judgement,
            Some(&facts),
            start.elapsed(),
            now,
        ));
    }
    Ok(Opened {
        stream: Box::new(stream),
        certificate: Some(facts),
        figures,
    })
}

/// A read or write on an open connection failed while `doing` something.
pub(crate) fn io_failed(doing: &'static str, error: std::io::Error) -> Verdict {
    unreachable(&Failure::Io {
        phase: Phase::Exchange(doing),
        error,
    })
}

/// The check's time ran out while `doing` something.
pub(crate) fn timed_out(limit: Duration, doing: &str) -> Verdict {
    Verdict::down(
        ErrorKind::Timeout,
        format!("no answer within {} (while {doing})", HumanDuration(limit)),
    )
}

/// The broker broke its protocol.
pub(crate) fn protocol(message: impl Into<String>) -> Verdict {
    Verdict::down(ErrorKind::Protocol, message)
}

/// A random token of 16 hexadecimal digits, from the system's generator.
pub(crate) fn token() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // No system randomness: the clock still keeps concurrent checks apart.
        bytes = (Timestamp::now().as_nanosecond() as u64).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
