//! What the database checks (`postgres`, `mysql`) share: their TLS configurations
//! (no ALPN: both protocols upgrade a plain connection in place) and the figures a
//! check reports beside its verdict.

use std::sync::Arc;

use rustls::ClientConfig;
use serde_json::json;
use vigilmon_core::assert::QueryFacts;

use crate::tls;

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
