//! Check outcomes: what one probe of one monitor from one region found, its verdict, and
//! the kinds of failure ([`ErrorKind`]) every failure is classified into (by the probe's
//! `classify`, the one place that maps errors to kinds).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::RegionName;

/// Why a check failed. Every failure a probe can meet maps to exactly one kind; the
/// names are part of the API (`error_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The name did not resolve, or resolved only to addresses the probe may not use.
    Dns,
    /// No connection could be made (refused, unreachable, reset during connect).
    Connect,
    /// The TLS handshake failed or the certificate was invalid or expired.
    Tls,
    /// The check did not finish within its timeout.
    Timeout,
    /// The HTTP status code was not one of those expected.
    Status,
    /// The response arrived but an expectation on it failed (body, JSON, time, banner).
    Assertion,
    /// The peer spoke the protocol wrongly: malformed response, connection closed early.
    Protocol,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Dns,
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Status,
        ErrorKind::Assertion,
        ErrorKind::Protocol,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Status => "status",
            ErrorKind::Assertion => "assertion",
            ErrorKind::Protocol => "protocol",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The small number the store keeps for this kind in each stored check. Stored data
    /// depends on these values: never renumber one.
    pub fn code(self) -> u8 {
        match self {
            ErrorKind::Dns => 1,
            ErrorKind::Connect => 2,
            ErrorKind::Tls => 3,
            ErrorKind::Timeout => 4,
            ErrorKind::Status => 5,
            ErrorKind::Assertion => 6,
            ErrorKind::Protocol => 7,
        }
    }

    /// The kind stored as `code`, if it is one.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|k| i64::from(k.code()) == code)
    }

    /// Whether the failure may well go away on its own within seconds (network-level
    /// trouble) rather than being a stable property of the answer (a wrong status,
    /// a bad certificate, a failed assertion).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Dns | ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Protocol
        )
    }
}

/// Time spent in each phase of a check, in milliseconds. A phase that did not happen
/// (no DNS for an IP literal, no TLS for plain HTTP) or did not complete is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Phases {
    pub dns_ms: Option<u64>,
    pub connect_ms: Option<u64>,
    pub tls_ms: Option<u64>,
    pub ttfb_ms: Option<u64>,
}

/// The judgement of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Up,
    /// Working, but a warning threshold was crossed (slow, certificate expiring).
    Degraded {
        reason: String,
    },
    /// Failed, with the kind and the reason in words.
    Down {
        kind: ErrorKind,
        message: String,
    },
}

impl Verdict {
    pub fn down(kind: ErrorKind, message: impl Into<String>) -> Self {
        Verdict::Down {
            kind,
            message: message.into(),
        }
    }

    pub fn degraded(reason: impl Into<String>) -> Self {
        Verdict::Degraded {
            reason: reason.into(),
        }
    }

    /// True unless the check failed (degraded counts as ok).
    pub fn is_ok(&self) -> bool {
        !matches!(self, Verdict::Down { .. })
    }

    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            Verdict::Down { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The failure or warning in words.
    pub fn message(&self) -> Option<&str> {
        match self {
            Verdict::Up => None,
            Verdict::Degraded { reason } => Some(reason),
            Verdict::Down { message, .. } => Some(message),
        }
    }
}

/// Everything one check found, as stored and as served by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub region: RegionName,
    pub checked_at: Timestamp,
    /// Wall time of the whole check, in milliseconds.
    pub duration_ms: u64,
    pub phases: Phases,
    pub status_code: Option<u16>,
    pub verdict: Verdict,
    /// The start of the response body, kept only when the check failed.
    pub body_excerpt: Option<String>,
    /// When the server's certificate expires (TLS checks only).
    pub cert_expires_at: Option<Timestamp>,
    /// The address actually connected to.
    pub remote_addr: Option<String>,
    /// Figures the check judged, per monitor type (for Redis: memory, role, lag,
    /// evictions per minute…), for the API and UI to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl CheckResult {
    /// A result with default phases and nothing else observed (no status code, body excerpt,
    /// certificate, address or details): what tests, benchmarks and seeding tools build.
    /// Whatever more a caller needs it sets with struct update syntax:
    /// `CheckResult { status_code: Some(200), ..CheckResult::new(…) }`.
    pub fn new(
        region: RegionName,
        checked_at: Timestamp,
        duration_ms: u64,
        verdict: Verdict,
    ) -> CheckResult {
        CheckResult {
            region,
            checked_at,
            duration_ms,
            phases: Phases::default(),
            status_code: None,
            verdict,
            body_excerpt: None,
            cert_expires_at: None,
            remote_addr: None,
            details: None,
        }
    }
}

/// How many bytes of a body are kept as an excerpt on failure.
pub const BODY_EXCERPT_BYTES: usize = 512;

/// Cuts a body down to an excerpt that is valid UTF-8 (lossy) and at most
/// [`BODY_EXCERPT_BYTES`] long, marking the cut.
pub fn body_excerpt(body: &[u8]) -> String {
    let cut = body.len().min(BODY_EXCERPT_BYTES);
    let mut s = String::from_utf8_lossy(&body[..cut]).into_owned();
    if body.len() > cut {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kind_names_roundtrip() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn error_kind_codes_are_the_stored_ones() {
        let codes: Vec<u8> = ErrorKind::ALL.into_iter().map(ErrorKind::code).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7], "stored data depends on them");
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(i64::from(k.code())), Some(k));
        }
        assert_eq!(ErrorKind::from_code(0), None);
        assert_eq!(ErrorKind::from_code(8), None);
    }

    #[test]
    fn new_result_observed_nothing_but_what_it_was_given() {
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        let r = CheckResult::new(
            RegionName::local(),
            at,
            42,
            Verdict::down(ErrorKind::Timeout, "no answer"),
        );
        assert_eq!(r.region, RegionName::local());
        assert_eq!(r.checked_at, at);
        assert_eq!(r.duration_ms, 42);
        assert_eq!(r.verdict, Verdict::down(ErrorKind::Timeout, "no answer"));
        assert_eq!(r.phases, Phases::default());
        assert_eq!(r.status_code, None);
        assert_eq!(r.body_excerpt, None);
        assert_eq!(r.cert_expires_at, None);
        assert_eq!(r.remote_addr, None);
        assert_eq!(r.details, None);
        // Nothing unobserved reaches the wire either.
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("details").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<CheckResult>(json).unwrap(), r);
    }

    #[test]
    fn excerpt_is_bounded_and_marked() {
        let long = vec![b'a'; 2000];
        let e = body_excerpt(&long);
        assert!(e.ends_with('…'));
        assert_eq!(e.chars().count(), BODY_EXCERPT_BYTES + 1);
        assert_eq!(body_excerpt(b"short"), "short");
        // cutting in the middle of a multi-byte character stays valid UTF-8
        let mut v = vec![b'x'; BODY_EXCERPT_BYTES - 1];
        v.extend("é".as_bytes());
        let _ = body_excerpt(&v);
    }
}
