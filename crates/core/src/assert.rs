//! Judging what a probe observed against a monitor's expectations.
//!
//! Probes gather facts (status, body, timings, certificate); these functions turn facts
//! into a [`Verdict`], naming the failed expectation in words. Pure: `now` is passed in.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::duration::HumanDuration;
use crate::monitor::{
    BrokerJudgement, DnsSpec, GrpcSpec, HttpSpec, JsonCondition, SmtpSpec, TcpSpec, TlsSpec,
    TlsVersion, WebsocketSpec,
};
use crate::outcome::{ErrorKind, Verdict};

/// What an HTTP probe observed.
#[derive(Debug, Clone)]
pub struct HttpFacts<'a> {
    pub status: u16,
    /// The body as read (possibly capped).
    pub body: &'a [u8],
    /// True when the body was longer than the probe reads.
    pub body_truncated: bool,
    /// Time from the start of the check to the end of the body.
    pub elapsed: Duration,
    /// The peer certificate's `notAfter`, for TLS checks.
    pub cert_not_after: Option<Timestamp>,
}

/// Judges an HTTP answer: failures first (status, body, JSON, response time), then
/// warnings (slow, certificate expiring).
pub fn evaluate_http(spec: &HttpSpec, facts: &HttpFacts<'_>, now: Timestamp) -> Verdict {
    let e = &spec.expect;
    if !e.status.matches(facts.status) {
        return Verdict::down(
            ErrorKind::Status,
            format!(
                "status {} is not one of the expected ({})",
                facts.status, e.status
            ),
        );
    }
    let text = String::from_utf8_lossy(facts.body);
    let read_note = if facts.body_truncated {
        " (in the part of the body that was read)"
    } else {
        ""
    };
    if let Some(needle) = &e.body_contains
        && !text.contains(needle.as_str())
    {
        return Verdict::down(
            ErrorKind::Assertion,
            format!("body does not contain {needle:?}{read_note}"),
        );
    }
    if let Some(needle) = &e.body_not_contains
        && text.contains(needle.as_str())
    {
        return Verdict::down(ErrorKind::Assertion, format!("body contains {needle:?}"));
    }
    if let Some(re) = &e.body_regex
        && !re.is_match(&text)
    {
        return Verdict::down(
            ErrorKind::Assertion,
            format!("body does not match /{}/{read_note}", re.as_str()),
        );
    }
    if !e.json.is_empty() {
        let doc: Value = match serde_json::from_slice(facts.body) {
            Ok(v) => v,
            Err(err) => {
                let why = if facts.body_truncated {
                    "body is too large to parse as JSON".to_owned()
                } else {
                    format!("body is not valid JSON: {err}")
                };
                return Verdict::down(ErrorKind::Assertion, why);
            }
        };
        for a in &e.json {
            let nodes = a.path.query(&doc);
            let first = nodes.first();
            match (&a.condition, first) {
                (JsonCondition::Exists(true), None) => {
                    return Verdict::down(
                        ErrorKind::Assertion,
                        format!("{} does not exist", a.path_text),
                    );
                }
                (JsonCondition::Exists(false), Some(_)) => {
                    return Verdict::down(
                        ErrorKind::Assertion,
                        format!("{} exists but should not", a.path_text),
                    );
                }
                (JsonCondition::Equals(want), None) => {
                    return Verdict::down(
                        ErrorKind::Assertion,
                        format!("{} does not exist (expected {want})", a.path_text),
                    );
                }
                (JsonCondition::Equals(want), Some(got)) if *got != *want => {
                    return Verdict::down(
                        ErrorKind::Assertion,
                        format!("{} is {got}, expected {want}", a.path_text),
                    );
                }
                _ => {}
            }
        }
    }
    if let Some(limit) = e.response_time
        && facts.elapsed > limit
    {
        return Verdict::down(ErrorKind::Assertion, slower_than(facts.elapsed, limit));
    }
    if let Some(limit) = spec.warn.response_time
        && facts.elapsed > limit
    {
        return Verdict::degraded(slower_than(facts.elapsed, limit));
    }
    if let Some(not_after) = facts.cert_not_after
        && let Some(warning) = cert_expiry_warning(not_after, spec.warn.cert_expiry, now)
    {
        return Verdict::degraded(warning);
    }
    Verdict::Up
}

/// The warning for a certificate of an `http` or `grpc` check (whose handshake
/// already refused an untrusted or expired one, unless `verify_tls: false`) that
/// expires within `horizon`, or has expired.
fn cert_expiry_warning(not_after: Timestamp, horizon: Duration, now: Timestamp) -> Option<String> {
    let left_ms = not_after.as_millisecond() - now.as_millisecond();
    let horizon_ms = i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX);
    if left_ms <= 0 {
        return Some(format!("certificate expired at {not_after}"));
    }
    if left_ms >= horizon_ms {
        return None;
    }
    let left = match left_ms / 86_400_000 {
        0 => "today".to_owned(),
        1 => "in 1 day".to_owned(),
        d => format!("in {d} days"),
    };
    let horizon = if horizon.as_secs().is_multiple_of(86_400) {
        format!("{} days", horizon.as_secs() / 86_400)
    } else {
        HumanDuration(horizon).to_string()
    };
    Some(format!(
        "certificate expires {left} (at {not_after}), within the {horizon} warning"
    ))
}

/// How a gRPC health check was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcAnswer {
    /// The call succeeded (`grpc-status: 0`) and carried this health status (the
    /// number of `grpc.health.v1.HealthCheckResponse.ServingStatus`).
    Health(i32),
    /// The call failed with this gRPC status code and its `grpc-message`.
    Failed { code: u32, message: String },
}

/// What a `grpc` check observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcFacts {
    pub answer: GrpcAnswer,
    /// The peer certificate's `notAfter`, for `grpcs://`.
    pub cert_not_after: Option<Timestamp>,
}

/// The name of a gRPC status code (`UNIMPLEMENTED` for 12), `UNKNOWN_CODE` beyond
/// the codes gRPC defines.
pub fn grpc_code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN_CODE")
}

/// The name of a health status (`SERVING` for 1), when it is one of the four.
pub fn grpc_health_name(status: i32) -> Option<&'static str> {
    match status {
        0 => Some("UNKNOWN"),
        1 => Some("SERVING"),
        2 => Some("NOT_SERVING"),
        3 => Some("SERVICE_UNKNOWN"),
        _ => None,
    }
}

/// Judges a `grpc` health check: `SERVING` or down (another health status, a gRPC
/// error status with its message), then the response time; then the warnings (slow,
/// certificate expiring).
pub fn evaluate_grpc(
    spec: &GrpcSpec,
    facts: &GrpcFacts,
    elapsed: Duration,
    now: Timestamp,
) -> Verdict {
    let what = if spec.service.is_empty() {
        "the server".to_owned()
    } else {
        format!("service {:?}", spec.service)
    };
    match &facts.answer {
        GrpcAnswer::Health(1) => {}
        GrpcAnswer::Health(n) => {
            return match grpc_health_name(*n) {
                Some(name) => Verdict::down(ErrorKind::Assertion, format!("{what} is {name}")),
                None => Verdict::down(
                    ErrorKind::Protocol,
                    format!("{what} answered health status {n}, which is not a known status"),
                ),
            };
        }
        GrpcAnswer::Failed { code, message } => {
            let name = grpc_code_name(*code);
            let mut text = format!("the health check failed: {name} ({code})");
            let shown: String = message.chars().take(300).collect();
            if !shown.trim().is_empty() {
                text.push_str(": ");
                text.push_str(shown.trim());
            }
            match code {
                12 => text.push_str(" (the server offers no grpc.health.v1.Health service)"),
                5 if !spec.service.is_empty() => {
                    text.push_str(&format!(" (the server does not know {what})"));
                }
                _ => {}
            }
            return Verdict::down(ErrorKind::Status, text);
        }
    }
    if let Some(limit) = spec.response_time
        && elapsed > limit
    {
        return Verdict::down(ErrorKind::Assertion, slower_than(elapsed, limit));
    }
    if let Some(limit) = spec.warn_response_time
        && elapsed > limit
    {
        return Verdict::degraded(slower_than(elapsed, limit));
    }
    if let Some(not_after) = facts.cert_not_after
        && let Some(warning) = cert_expiry_warning(not_after, spec.cert_expiry_warn, now)
    {
        return Verdict::degraded(warning);
    }
    Verdict::Up
}

/// Judges a TCP check: the banner (when expected), then the time limits.
pub fn evaluate_tcp(spec: &TcpSpec, received: &[u8], elapsed: Duration) -> Verdict {
    if let Some(want) = &spec.expect_banner {
        let got = String::from_utf8_lossy(received);
        if !got.contains(want.as_str()) {
            let shown: String = got.chars().take(80).collect();
            return Verdict::down(
                ErrorKind::Assertion,
                format!("expected the peer to send {want:?}, got {shown:?}"),
            );
        }
    }
    if let Some(limit) = spec.response_time
        && elapsed > limit
    {
        return Verdict::down(ErrorKind::Assertion, slower_than(elapsed, limit));
    }
    if let Some(limit) = spec.warn_response_time
        && elapsed > limit
    {
        return Verdict::degraded(slower_than(elapsed, limit));
    }
    Verdict::Up
}

/// What a database monitor's query returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFacts {
    /// Rows in the first result.
    pub rows: u64,
    /// The first column of the first row, as text (`None`: no row, or SQL `NULL`).
    pub value: Option<String>,
    /// Whether the first row exists but its first column is `NULL`.
    pub null: bool,
}

/// What a database monitor expects of its query, and its time limits.
#[derive(Debug, Clone, Copy)]
pub struct QueryExpect<'a> {
    pub value: Option<&'a str>,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

/// Judges a database monitor's query: the expected value (when given), then the time
/// limits. A boolean `true` / `false` also matches PostgreSQL's `t` / `f`.
pub fn evaluate_query(expect: QueryExpect<'_>, facts: &QueryFacts, elapsed: Duration) -> Verdict {
    if let Some(want) = expect.value {
        let got = facts.value.as_deref();
        let same = match (want, got) {
            (_, None) => false,
            ("true", Some("t")) | ("false", Some("f")) => true,
            (w, Some(g)) => w == g,
        };
        if !same {
            let shown = match got {
                None if facts.null => "NULL".to_owned(),
                None => "no row".to_owned(),
                Some(g) => format!("{:?}", g.chars().take(80).collect::<String>()),
            };
            return Verdict::down(
                ErrorKind::Assertion,
                format!("the query returned {shown}, expected {want:?}"),
            );
        }
    }
    if let Some(limit) = expect.response_time
        && elapsed > limit
    {
        return Verdict::down(ErrorKind::Assertion, slower_than(elapsed, limit));
    }
    if let Some(limit) = expect.warn_response_time
        && elapsed > limit
    {
        return Verdict::degraded(slower_than(elapsed, limit));
    }
    Verdict::Up
}

/// What a `tls` check saw of the server's certificate and handshake.
#[derive(Debug, Clone)]
pub struct TlsFacts {
    /// Why the chain is not trusted (unknown issuer, expired, revoked…), in words.
    pub chain_error: Option<String>,
    /// Why the certificate is not valid for the host, in words.
    pub name_error: Option<String>,
    /// The leaf's issuer, as a distinguished name.
    pub issuer: String,
    pub not_after: Option<Timestamp>,
    /// The negotiated protocol version.
    pub version: TlsVersion,
}

/// Judges a `tls` check: a trusted chain, the name, the issuer, the protocol version,
/// the failure horizon of expiry and the response time; then the warnings (expiry,
/// slow).
pub fn evaluate_tls(
    spec: &TlsSpec,
    facts: &TlsFacts,
    elapsed: Duration,
    now: Timestamp,
) -> Verdict {
    if let Some(why) = &facts.chain_error {
        return Verdict::down(
            ErrorKind::Tls,
            format!("the certificate is not trusted: {why}"),
        );
    }
    if let Some(why) = &facts.name_error {
        return Verdict::down(
            ErrorKind::Tls,
            format!("the certificate is not valid for {}: {why}", spec.host),
        );
    }
    if let Some(want) = &spec.issuer
        && !facts.issuer.to_lowercase().contains(&want.to_lowercase())
    {
        return Verdict::down(
            ErrorKind::Assertion,
            format!(
                "the certificate is issued by {:?}, not by {want:?}",
                facts.issuer
            ),
        );
    }
    if facts.version < spec.min_version {
        return Verdict::down(
            ErrorKind::Tls,
            format!(
                "the server negotiated TLS {}, below the minimum {}",
                facts.version.as_str(),
                spec.min_version.as_str()
            ),
        );
    }
    let left = facts.not_after.map(|at| {
        Duration::from_secs(u64::try_from(at.as_second() - now.as_second()).unwrap_or(0))
    });
    if let (Some(left), Some(limit)) = (left, spec.cert_expiry_down)
        && left < limit
    {
        return Verdict::down(ErrorKind::Tls, expires_in(left, limit));
    }
    if let Some(limit) = spec.response_time
        && elapsed > limit
    {
        return Verdict::down(ErrorKind::Assertion, slower_than(elapsed, limit));
    }
    if let Some(left) = left
        && left < spec.cert_expiry_warn
    {
        return Verdict::degraded(expires_in(left, spec.cert_expiry_warn));
    }
    if let Some(limit) = spec.warn_response_time
        && elapsed > limit
    {
        return Verdict::degraded(slower_than(elapsed, limit));
    }
    Verdict::Up
}

/// Judges an `smtp` check: the greeting, then the certificate (when there is TLS: its
/// chain and name unless `verify_tls: false`, and its expiry, as for a `tls` monitor),
/// then the response time.
pub fn evaluate_smtp(
    spec: &SmtpSpec,
    greeting: &str,
    certificate: Option<&TlsFacts>,
    elapsed: Duration,
    now: Timestamp,
) -> Verdict {
    if let Some(want) = &spec.expect_banner
        && !greeting.contains(want.as_str())
    {
        let shown: String = greeting.chars().take(120).collect();
        return Verdict::down(
            ErrorKind::Assertion,
            format!("expected the greeting to contain {want:?}, got {shown:?}"),
        );
    }
    secured(
        certificate.map(|f| (&spec.certificate, f)),
        spec.verify_tls,
        (spec.response_time, spec.warn_response_time),
        elapsed,
        now,
    )
}

/// Judges a message broker's connection (`mqtt`, `amqp`): the certificate when there
/// is TLS (its chain and name unless `verify_tls: false`, and its expiry, as for a
/// `tls` monitor), then the response time.
pub fn evaluate_secured(
    judgement: &BrokerJudgement,
    certificate: Option<&TlsFacts>,
    elapsed: Duration,
    now: Timestamp,
) -> Verdict {
    secured(
        judgement.certificate.as_ref().zip(certificate),
        judgement.verify_tls,
        (judgement.response_time, judgement.warn_response_time),
        elapsed,
        now,
    )
}

/// A certificate judged by its spec (failures first, its warning kept), then the
/// response time's limits (failing, then warning).
fn secured(
    certificate: Option<(&TlsSpec, &TlsFacts)>,
    verify_tls: bool,
    (response_time, warn_response_time): (Option<Duration>, Option<Duration>),
    elapsed: Duration,
    now: Timestamp,
) -> Verdict {
    let mut warning = None;
    if let Some((spec, facts)) = certificate {
        let mut facts = facts.clone();
        if !verify_tls {
            facts.chain_error = None;
            facts.name_error = None;
        }
        match evaluate_tls(spec, &facts, Duration::ZERO, now) {
            Verdict::Up => {}
            down @ Verdict::Down { .. } => return down,
            degraded @ Verdict::Degraded { .. } => warning = Some(degraded),
        }
    }
    if let Some(limit) = response_time
        && elapsed > limit
    {
        return Verdict::down(ErrorKind::Assertion, slower_than(elapsed, limit));
    }
    if let Some(w) = warning {
        return w;
    }
    if let Some(limit) = warn_response_time
        && elapsed > limit
    {
        return Verdict::degraded(slower_than(elapsed, limit));
    }
    Verdict::Up
}

/// What a `dns` check was answered: the response code and the values of the records
/// of the type asked for, in canonical form (`crate::monitor::canonical_value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsFacts {
    pub rcode: String,
    pub values: Vec<String>,
}

/// Judges a `dns` answer: the response code, then the values (all expected present;
/// with `exact`, nothing else; without expected values, a `NOERROR` answer must hold
/// at least one record), then the time.
pub fn evaluate_dns(spec: &DnsSpec, facts: &DnsFacts, elapsed: Duration) -> Verdict {
    let kind = spec.record.as_str();
    if facts.rcode != spec.rcode {
        return Verdict::down(
            ErrorKind::Dns,
            format!(
                "{kind} {} answered {}, expected {}",
                spec.query, facts.rcode, spec.rcode
            ),
        );
    }
    let shown = |v: &[String]| {
        if v.is_empty() {
            "nothing".to_owned()
        } else {
            v.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
        }
    };
    if spec.rcode == "NOERROR" && spec.values.is_empty() && facts.values.is_empty() {
        return Verdict::down(
            ErrorKind::Assertion,
            format!("no {kind} record for {}", spec.query),
        );
    }
    let missing: Vec<String> = spec
        .values
        .iter()
        .filter(|v| !facts.values.contains(v))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Verdict::down(
            ErrorKind::Assertion,
            format!(
                "{kind} {} lacks {}; it holds {}",
                spec.query,
                missing.join(", "),
                shown(&facts.values)
            ),
        );
    }
    if spec.exact {
        let extra: Vec<String> = facts
            .values
            .iter()
            .filter(|v| !spec.values.contains(v))
            .cloned()
            .collect();
        if !extra.is_empty() {
            return Verdict::down(
                ErrorKind::Assertion,
                format!(
                    "{kind} {} also holds {}, beyond the expected values",
                    spec.query,
                    extra.join(", ")
                ),
            );
        }
    }
    if let Some(limit) = spec.response_time
        && elapsed > limit
    {
        return Verdict::down(ErrorKind::Assertion, slower_than(elapsed, limit));
    }
    if let Some(limit) = spec.warn_response_time
        && elapsed > limit
    {
        return Verdict::degraded(slower_than(elapsed, limit));
    }
    Verdict::Up
}

/// What a `websocket` check saw, for [`evaluate_websocket`].
#[derive(Debug, Clone, Default)]
pub struct WebsocketFacts {
    /// The certificate of a `wss://` server.
    pub certificate: Option<TlsFacts>,
    /// The first message the server sent (text, or binary read as UTF-8 with
    /// replacements), when one was awaited.
    pub reply: Option<String>,
    /// From the start of the check until the WebSocket was open and the reply, if
    /// awaited, was read.
    pub elapsed: Duration,
}

/// Judges a `websocket` check that opened the WebSocket: the certificate (its chain
/// and name unless `verify_tls: false`, then its expiry), the reply, the response
/// time; then the warnings.
pub fn evaluate_websocket(spec: &WebsocketSpec, facts: &WebsocketFacts, now: Timestamp) -> Verdict {
    let mut warning = None;
    if let Some(cert) = &facts.certificate {
        match evaluate_websocket_certificate(spec, cert, now) {
            Verdict::Up => {}
            down @ Verdict::Down { .. } => return down,
            degraded @ Verdict::Degraded { .. } => warning = Some(degraded),
        }
    }
    if spec.reply.is_set() {
        let got = facts.reply.as_deref().unwrap_or_default();
        let shown: String = got.chars().take(120).collect();
        let r = &spec.reply;
        if let Some(want) = &r.equals
            && got != want
        {
            return Verdict::down(
                ErrorKind::Assertion,
                format!("expected the reply {want:?}, got {shown:?}"),
            );
        }
        if let Some(want) = &r.contains
            && !got.contains(want.as_str())
        {
            return Verdict::down(
                ErrorKind::Assertion,
                format!("expected the reply to contain {want:?}, got {shown:?}"),
            );
        }
        if let Some(re) = &r.regex
            && !re.is_match(got)
        {
            return Verdict::down(
                ErrorKind::Assertion,
                format!(
                    "expected the reply to match /{}/, got {shown:?}",
                    re.as_str()
                ),
            );
        }
    }
    if let Some(limit) = spec.response_time
        && facts.elapsed > limit
    {
        return Verdict::down(ErrorKind::Assertion, slower_than(facts.elapsed, limit));
    }
    if let Some(w) = warning {
        return w;
    }
    if let Some(limit) = spec.warn_response_time
        && facts.elapsed > limit
    {
        return Verdict::degraded(slower_than(facts.elapsed, limit));
    }
    Verdict::Up
}

/// Judges a `wss://` certificate alone, as soon as the TLS handshake is done (so that
/// nothing, headers included, is sent to a server that fails it).
pub fn evaluate_websocket_certificate(
    spec: &WebsocketSpec,
    cert: &TlsFacts,
    now: Timestamp,
) -> Verdict {
    let mut cert = cert.clone();
    if !spec.verify_tls {
        cert.chain_error = None;
        cert.name_error = None;
    }
    evaluate_tls(&spec.certificate, &cert, Duration::ZERO, now)
}

fn expires_in(left: Duration, limit: Duration) -> String {
    let limit = if limit.as_secs().is_multiple_of(86_400) {
        format!("{} days", limit.as_secs() / 86_400)
    } else {
        HumanDuration(limit).to_string()
    };
    format!(
        "the certificate expires in {} days, within {limit}",
        left.as_secs() / 86_400
    )
}

fn slower_than(elapsed: Duration, limit: Duration) -> String {
    format!(
        "response took {} ms, over the {} ms limit",
        elapsed.as_millis(),
        limit.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::{CheckSpec, MonitorConfig};
    use serde_json::json;

    fn http(v: Value) -> HttpSpec {
        let mut base = json!({"name": "t", "type": "http", "url": "http://x"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        let c: MonitorConfig = serde_json::from_value(base).unwrap();
        match c.build().unwrap().check {
            CheckSpec::Http(h) => h,
            _ => unreachable!(),
        }
    }

    fn facts(status: u16, body: &[u8], ms: u64) -> HttpFacts<'_> {
        HttpFacts {
            status,
            body,
            body_truncated: false,
            elapsed: Duration::from_millis(ms),
            cert_not_after: None,
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn status_mismatch_is_status_kind() {
        let v = evaluate_http(&http(json!({})), &facts(503, b"", 5), now());
        assert_eq!(v.error_kind(), Some(ErrorKind::Status));
        assert_eq!(
            v.message().unwrap(),
            "status 503 is not one of the expected (2xx)"
        );
    }

    #[test]
    fn body_expectations() {
        let s = http(
            json!({"expect": {"body_contains": "\"status\":\"ok\"", "body_not_contains": "error"}}),
        );
        assert_eq!(
            evaluate_http(&s, &facts(200, br#"{"status":"ok"}"#, 5), now()),
            Verdict::Up
        );
        let v = evaluate_http(&s, &facts(200, br#"{"status":"down"}"#, 5), now());
        assert_eq!(
            v.message().unwrap(),
            r#"body does not contain "\"status\":\"ok\"""#
        );
        let v = evaluate_http(&s, &facts(200, br#"{"status":"ok","error":1}"#, 5), now());
        assert_eq!(v.error_kind(), Some(ErrorKind::Assertion));
        let s = http(json!({"expect": {"body_regex": "^up \\d+$"}}));
        assert!(evaluate_http(&s, &facts(200, b"up 42", 5), now()).is_ok());
        assert!(!evaluate_http(&s, &facts(200, b"down", 5), now()).is_ok());
    }

    #[test]
    fn json_expectations() {
        let s = http(
            json!({"expect": {"json": [{"path": "$.status", "equals": "ok"}, {"path": "$.db", "exists": true}]}}),
        );
        assert_eq!(
            evaluate_http(&s, &facts(200, br#"{"status":"ok","db":{}}"#, 5), now()),
            Verdict::Up
        );
        let v = evaluate_http(
            &s,
            &facts(200, br#"{"status":"degraded","db":{}}"#, 5),
            now(),
        );
        assert_eq!(
            v.message().unwrap(),
            r#"$.status is "degraded", expected "ok""#
        );
        let v = evaluate_http(&s, &facts(200, br#"{"status":"ok"}"#, 5), now());
        assert_eq!(v.message().unwrap(), "$.db does not exist");
        let v = evaluate_http(&s, &facts(200, b"<html>", 5), now());
        assert!(v.message().unwrap().starts_with("body is not valid JSON"));
    }

    #[test]
    fn tls_facts_are_judged_in_order() {
        let spec = |v: Value| {
            let mut base = json!({"name": "t", "type": "tls", "host": "mail.example.com"});
            base.as_object_mut()
                .unwrap()
                .extend(v.as_object().unwrap().clone());
            match serde_json::from_value::<MonitorConfig>(base)
                .unwrap()
                .build()
                .unwrap()
                .check
            {
                CheckSpec::Tls(t) => t,
                _ => panic!("a tls spec"),
            }
        };
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let days = |d: i64| Some(Timestamp::from_second(1_800_000_000 + d * 86_400).unwrap());
        let facts = TlsFacts {
            chain_error: None,
            name_error: None,
            issuer: "CN=R11, O=Let's Encrypt, C=US".into(),
            not_after: days(60),
            version: TlsVersion::V1_3,
        };
        let fast = Duration::from_millis(20);
        let s = spec(json!({"issuer": "let's encrypt", "min_version": "1.3"}));
        assert_eq!(evaluate_tls(&s, &facts, fast, now), Verdict::Up);
        let soon = TlsFacts {
            not_after: days(10),
            ..facts.clone()
        };
        assert_eq!(
            evaluate_tls(&s, &soon, fast, now),
            Verdict::degraded("the certificate expires in 10 days, within 14 days")
        );
        let s = spec(json!({"expect": {"cert_expiry": "21d"}, "warn": {"cert_expiry": "30d"}}));
        assert_eq!(
            evaluate_tls(&s, &soon, fast, now),
            Verdict::down(
                ErrorKind::Tls,
                "the certificate expires in 10 days, within 21 days"
            )
        );
        let s = spec(json!({"issuer": "DigiCert"}));
        assert!(matches!(
            evaluate_tls(&s, &facts, fast, now),
            Verdict::Down {
                kind: ErrorKind::Assertion,
                ..
            }
        ));
        let old = TlsFacts {
            version: TlsVersion::V1_2,
            ..facts.clone()
        };
        assert_eq!(
            evaluate_tls(&spec(json!({"min_version": "1.3"})), &old, fast, now),
            Verdict::down(
                ErrorKind::Tls,
                "the server negotiated TLS 1.2, below the minimum 1.3"
            )
        );
        let untrusted = TlsFacts {
            chain_error: Some("unknown issuer".into()),
            name_error: Some("not for this name".into()),
            ..facts.clone()
        };
        assert_eq!(
            evaluate_tls(&spec(json!({})), &untrusted, fast, now),
            Verdict::down(
                ErrorKind::Tls,
                "the certificate is not trusted: unknown issuer"
            )
        );
        let wrong_name = TlsFacts {
            name_error: Some("it names other.example".into()),
            ..facts
        };
        assert_eq!(
            evaluate_tls(&spec(json!({})), &wrong_name, fast, now),
            Verdict::down(
                ErrorKind::Tls,
                "the certificate is not valid for mail.example.com: it names other.example"
            )
        );
    }

    #[test]
    fn smtp_greeting_then_certificate_then_time() {
        let spec = |v: Value| {
            let mut base = json!({"name": "mx", "type": "smtp", "host": "mx.example.com"});
            base.as_object_mut()
                .unwrap()
                .extend(v.as_object().unwrap().clone());
            match serde_json::from_value::<MonitorConfig>(base)
                .unwrap()
                .build()
                .unwrap()
                .check
            {
                CheckSpec::Smtp(s) => s,
                _ => panic!("an smtp spec"),
            }
        };
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let facts = TlsFacts {
            chain_error: Some("unknown issuer".into()),
            name_error: None,
            issuer: "CN=internal".into(),
            not_after: Some(Timestamp::from_second(1_800_000_000 + 5 * 86_400).unwrap()),
            version: TlsVersion::V1_3,
        };
        let fast = Duration::from_millis(10);
        let s = spec(json!({"expect": {"banner": "Postfix"}}));
        assert_eq!(
            evaluate_smtp(&s, "mx ESMTP Exim", Some(&facts), fast, now),
            Verdict::down(
                ErrorKind::Assertion,
                "expected the greeting to contain \"Postfix\", got \"mx ESMTP Exim\""
            )
        );
        assert_eq!(
            evaluate_smtp(&s, "mx ESMTP Postfix", Some(&facts), fast, now),
            Verdict::down(
                ErrorKind::Tls,
                "the certificate is not trusted: unknown issuer"
            )
        );
        let lax = spec(json!({"verify_tls": false}));
        assert_eq!(
            evaluate_smtp(&lax, "mx", Some(&facts), fast, now),
            Verdict::degraded("the certificate expires in 5 days, within 14 days")
        );
        let plain = spec(json!({"tls": "none", "expect": {"response_time": "1s"}}));
        assert_eq!(evaluate_smtp(&plain, "mx", None, fast, now), Verdict::Up);
        assert!(matches!(
            evaluate_smtp(&plain, "mx", None, Duration::from_secs(2), now),
            Verdict::Down {
                kind: ErrorKind::Assertion,
                ..
            }
        ));
    }

    #[test]
    fn dns_answers_are_judged() {
        let spec = |v: Value| {
            let mut base = json!({"name": "d", "type": "dns", "query": "example.com"});
            base.as_object_mut()
                .unwrap()
                .extend(v.as_object().unwrap().clone());
            match serde_json::from_value::<MonitorConfig>(base)
                .unwrap()
                .build()
                .unwrap()
                .check
            {
                CheckSpec::Dns(d) => d,
                _ => panic!("a dns spec"),
            }
        };
        let facts = |rcode: &str, v: &[&str]| DnsFacts {
            rcode: rcode.into(),
            values: v.iter().map(|s| (*s).to_owned()).collect(),
        };
        let fast = Duration::from_millis(3);
        let any = spec(json!({}));
        assert_eq!(
            evaluate_dns(&any, &facts("NOERROR", &["192.0.2.1"]), fast),
            Verdict::Up
        );
        assert_eq!(
            evaluate_dns(&any, &facts("NOERROR", &[]), fast),
            Verdict::down(ErrorKind::Assertion, "no A record for example.com")
        );
        assert_eq!(
            evaluate_dns(&any, &facts("NXDOMAIN", &[]), fast),
            Verdict::down(
                ErrorKind::Dns,
                "A example.com answered NXDOMAIN, expected NOERROR"
            )
        );
        let gone = spec(json!({"expect": {"rcode": "nxdomain"}}));
        assert_eq!(
            evaluate_dns(&gone, &facts("NXDOMAIN", &[]), fast),
            Verdict::Up
        );
        let two = spec(json!({"expect": {"values": ["192.0.2.1", "192.0.2.2"]}}));
        assert_eq!(
            evaluate_dns(
                &two,
                &facts("NOERROR", &["192.0.2.2", "192.0.2.1", "192.0.2.3"]),
                fast
            ),
            Verdict::Up
        );
        assert_eq!(
            evaluate_dns(&two, &facts("NOERROR", &["192.0.2.1"]), fast),
            Verdict::down(
                ErrorKind::Assertion,
                "A example.com lacks 192.0.2.2; it holds 192.0.2.1"
            )
        );
        let exact = spec(json!({"expect": {"values": ["192.0.2.1"], "exact": true}}));
        assert_eq!(
            evaluate_dns(&exact, &facts("NOERROR", &["192.0.2.1", "192.0.2.9"]), fast),
            Verdict::down(
                ErrorKind::Assertion,
                "A example.com also holds 192.0.2.9, beyond the expected values"
            )
        );
    }

    #[test]
    fn a_query_value_is_compared_as_text() {
        let facts = |v: Option<&str>| QueryFacts {
            rows: u64::from(v.is_some()),
            value: v.map(str::to_owned),
            null: false,
        };
        let want = |v: &'static str| QueryExpect {
            value: Some(v),
            response_time: None,
            warn_response_time: None,
        };
        let fast = Duration::from_millis(5);
        assert_eq!(
            evaluate_query(want("1"), &facts(Some("1")), fast),
            Verdict::Up
        );
        assert_eq!(
            evaluate_query(want("true"), &facts(Some("t")), fast),
            Verdict::Up
        );
        assert_eq!(
            evaluate_query(want("ok"), &facts(Some("degraded")), fast),
            Verdict::down(
                ErrorKind::Assertion,
                "the query returned \"degraded\", expected \"ok\""
            )
        );
        assert_eq!(
            evaluate_query(want("1"), &facts(None), fast),
            Verdict::down(
                ErrorKind::Assertion,
                "the query returned no row, expected \"1\""
            )
        );
        let null = QueryFacts {
            rows: 1,
            value: None,
            null: true,
        };
        assert_eq!(
            evaluate_query(want("1"), &null, fast),
            Verdict::down(
                ErrorKind::Assertion,
                "the query returned NULL, expected \"1\""
            )
        );
        let limits = QueryExpect {
            value: None,
            response_time: Some(Duration::from_millis(100)),
            warn_response_time: Some(Duration::from_millis(50)),
        };
        assert_eq!(evaluate_query(limits, &facts(None), fast), Verdict::Up);
        assert!(matches!(
            evaluate_query(limits, &facts(None), Duration::from_millis(70)),
            Verdict::Degraded { .. }
        ));
        assert!(matches!(
            evaluate_query(limits, &facts(None), Duration::from_millis(170)),
            Verdict::Down {
                kind: ErrorKind::Assertion,
                ..
            }
        ));
    }

    #[test]
    fn response_time_fails_then_warns() {
        let s = http(
            json!({"expect": {"response_time": "1000ms"}, "warn": {"response_time": "500ms"}}),
        );
        assert_eq!(evaluate_http(&s, &facts(200, b"", 100), now()), Verdict::Up);
        assert!(matches!(
            evaluate_http(&s, &facts(200, b"", 700), now()),
            Verdict::Degraded { .. }
        ));
        let v = evaluate_http(&s, &facts(200, b"", 1500), now());
        assert_eq!(
            v.message().unwrap(),
            "response took 1500 ms, over the 1000 ms limit"
        );
    }

    #[test]
    fn certificate_expiry_degrades() {
        let s = http(json!({}));
        let mut f = facts(200, b"", 5);
        f.cert_not_after = Some(now() + jiff::SignedDuration::from_hours(24 * 3));
        let v = evaluate_http(&s, &f, now());
        assert!(matches!(v, Verdict::Degraded { .. }), "{v:?}");
        let m = v.message().unwrap();
        assert!(m.starts_with("certificate expires in 3 days (at "), "{m}");
        assert!(m.ends_with("), within the 14 days warning"), "{m}");
        f.cert_not_after = Some(now() + jiff::SignedDuration::from_hours(30));
        let v = evaluate_http(&s, &f, now());
        assert!(
            v.message()
                .unwrap()
                .starts_with("certificate expires in 1 day (at ")
        );
        f.cert_not_after = Some(now() + jiff::SignedDuration::from_hours(24 * 30));
        assert_eq!(evaluate_http(&s, &f, now()), Verdict::Up);
    }

    fn grpc(v: Value) -> GrpcSpec {
        let mut base = json!({"name": "g", "type": "grpc", "url": "grpcs://api.example"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        let c: MonitorConfig = serde_json::from_value(base).unwrap();
        match c.build().unwrap().check {
            CheckSpec::Grpc(g) => g,
            _ => unreachable!(),
        }
    }

    fn answered(answer: GrpcAnswer) -> GrpcFacts {
        GrpcFacts {
            answer,
            cert_not_after: None,
        }
    }

    #[test]
    fn grpc_health_is_judged() {
        let ms = Duration::from_millis;
        let all = grpc(json!({}));
        let one = grpc(json!({"service": "billing"}));
        let up = answered(GrpcAnswer::Health(1));
        assert_eq!(evaluate_grpc(&all, &up, ms(5), now()), Verdict::Up);
        for (n, words) in [
            (0, "the server is UNKNOWN"),
            (2, "the server is NOT_SERVING"),
            (3, "the server is SERVICE_UNKNOWN"),
        ] {
            let v = evaluate_grpc(&all, &answered(GrpcAnswer::Health(n)), ms(5), now());
            assert_eq!(v, Verdict::down(ErrorKind::Assertion, words));
        }
        let v = evaluate_grpc(&one, &answered(GrpcAnswer::Health(2)), ms(5), now());
        assert_eq!(v.message(), Some("service \"billing\" is NOT_SERVING"));
        let v = evaluate_grpc(&one, &answered(GrpcAnswer::Health(9)), ms(5), now());
        assert_eq!(v.error_kind(), Some(ErrorKind::Protocol));

        let failed = |code, message: &str| {
            answered(GrpcAnswer::Failed {
                code,
                message: message.to_owned(),
            })
        };
        let v = evaluate_grpc(&all, &failed(12, "Method not found!"), ms(5), now());
        assert_eq!(
            v,
            Verdict::down(
                ErrorKind::Status,
                "the health check failed: UNIMPLEMENTED (12): Method not found! \
                 (the server offers no grpc.health.v1.Health service)"
            )
        );
        let v = evaluate_grpc(&one, &failed(5, ""), ms(5), now());
        assert_eq!(
            v.message(),
            Some(
                "the health check failed: NOT_FOUND (5) (the server does not know service \"billing\")"
            )
        );
        let v = evaluate_grpc(&all, &failed(16, "bad token"), ms(5), now());
        assert_eq!(
            v.message(),
            Some("the health check failed: UNAUTHENTICATED (16): bad token")
        );
        assert_eq!(grpc_code_name(17), "UNKNOWN_CODE");
        assert_eq!(grpc_code_name(u32::MAX), "UNKNOWN_CODE");

        // Time, then the certificate.
        let s =
            grpc(json!({"expect": {"response_time": "1s"}, "warn": {"response_time": "500ms"}}));
        assert!(matches!(
            evaluate_grpc(&s, &up, ms(1000), now()),
            Verdict::Degraded { .. }
        ));
        assert_eq!(evaluate_grpc(&s, &up, ms(400), now()), Verdict::Up);
        let v = evaluate_grpc(&s, &up, ms(1001), now());
        assert_eq!(v.error_kind(), Some(ErrorKind::Assertion));
        let mut f = up.clone();
        f.cert_not_after = Some(now() + jiff::SignedDuration::from_hours(24 * 3));
        let v = evaluate_grpc(&all, &f, ms(5), now());
        assert!(
            v.message()
                .unwrap()
                .starts_with("certificate expires in 3 days (at "),
            "{v:?}"
        );
        f.cert_not_after = Some(now() + jiff::SignedDuration::from_hours(24 * 30));
        assert_eq!(evaluate_grpc(&all, &f, ms(5), now()), Verdict::Up);
    }
}
