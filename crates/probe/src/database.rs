//! What the database checks (`postgres`, `mysql`) share: their TLS configurations
//! (no ALPN: both protocols upgrade a plain connection in place), the verdicts of
//! their common failures, and the figures a check reports beside its verdict.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use vigilmon_core::assert::QueryFacts;
use vigilmon_core::{ErrorKind, HumanDuration, Verdict};

use crate::classify::Failure;
use crate::tls;

/// Anything the protocols run over (TCP or TLS).
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A failed check: its verdict.
pub(crate) type Failed = Verdict;

/// The connection could not be made: its failure classified.
pub(crate) fn unreachable(f: &Failure) -> Failed {
    let (kind, message) = crate::classify::classify(f);
    Verdict::down(kind, message)
}

/// No answer within the check's time while `doing` something.
pub(crate) fn timed_out(limit: Duration, doing: &str) -> Failed {
    Verdict::down(
        ErrorKind::Timeout,
        format!("no answer within {} (while {doing})", HumanDuration(limit)),
    )
}

/// The server spoke the protocol wrongly.
pub(crate) fn protocol(message: impl Into<String>) -> Failed {
    Verdict::down(ErrorKind::Protocol, message)
}

/// The most characters of the first value kept in the figures.
const MAX_VALUE_CHARS: usize = 200;

/// The two TLS configurations of database connections, without ALPN: verifying
/// (index 0), then accepting any certificate (index 1).
pub(crate) fn tls_configs(configs: &tls::TlsConfigs) -> [Arc<ClientConfig>; 2] {
    [&configs.verified, &configs.unverified].map(|c| {
        let mut cfg = (**c).clone();
        cfg.alpn_protocols.clear();
        Arc::new(cfg)
    })
}

/// What a database check learnt, for the figures: `tls`, `server_version`,
/// `login_ms`, `query_ms`, `rows`, `value`.
#[derive(Default)]
pub(crate) struct Figures {
    pub tls: bool,
    pub server_version: Option<String>,
    pub login_ms: Option<u64>,
    pub query_ms: Option<u64>,
    pub facts: Option<QueryFacts>,
}

impl Figures {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let mut v = json!({"tls": self.tls});
        if let Some(s) = &self.server_version {
            v["server_version"] = json!(s.chars().take(100).collect::<String>());
        }
        if let Some(ms) = self.login_ms {
            v["login_ms"] = json!(ms);
        }
        if let Some(ms) = self.query_ms {
            v["query_ms"] = json!(ms);
        }
        if let Some(f) = &self.facts {
            v["rows"] = json!(f.rows);
            v["value"] = match &f.value {
                Some(s) => json!(s.chars().take(MAX_VALUE_CHARS).collect::<String>()),
                None => serde_json::Value::Null,
            };
        }
        v
    }
}
