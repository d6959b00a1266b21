//! `tcp` monitors: connect to `host`:`port`, optionally send bytes, and expect a
//! banner within the response time.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::MAX_REQUEST_BODY_BYTES;
use super::expect::{
    Accepts, ExpectConfig, WarnConfig, refuse_unaccepted, response_time_limit, warn_response_time,
};
use crate::validation::Errors;

/// A `tcp` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Bytes to send after connecting (tcp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// What a `tcp` monitor takes of `expect` and `warn`.
const ACCEPTS: Accepts = Accepts {
    expect: &["banner", "response_time"],
    warn: &["response_time"],
};

#[derive(Debug, Clone)]
pub struct TcpSpec {
    pub host: String,
    pub port: u16,
    pub send: Option<String>,
    pub expect_banner: Option<String>,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

impl TcpConfig {
    /// Validates the fields into a [`TcpSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<TcpSpec> {
        refuse_unaccepted(
            self.expect.as_ref(),
            self.warn.as_ref(),
            &ACCEPTS,
            "tcp",
            errs,
        );
        let e = self.expect.clone().unwrap_or_default();
        let host = checked_host(self.host.as_deref(), "tcp", errs);
        let port = match self.port {
            None => {
                errs.push("port", "is required for tcp monitors");
                None
            }
            Some(p) if p == 0 || p > 65535 => {
                errs.push("port", "must be between 1 and 65535");
                None
            }
            Some(p) => u16::try_from(p).ok(),
        };
        if self
            .send
            .as_ref()
            .is_some_and(|s| s.len() > MAX_REQUEST_BODY_BYTES)
        {
            errs.push(
                "send",
                format!("must be at most {} kB", MAX_REQUEST_BODY_BYTES / 1024),
            );
        }
        if e.banner.as_deref() == Some("") {
            errs.push("expect.banner", "must not be empty when given");
        }
        let response_time = response_time_limit(self.expect.as_ref(), errs);
        let warn_response_time = warn_response_time(self.warn.as_ref(), errs, response_time);
        Some(TcpSpec {
            host: host?,
            port: port?,
            send: self.send.clone(),
            expect_banner: e.banner,
            response_time,
            warn_response_time,
        })
    }
}

/// `host:port` (or `[v6]:port`) typed where a host alone belongs: the host and the
/// port, split. An IPv6 address on its own (`::1`, `[::1]`) is not one.
fn with_port(h: &str) -> Option<(&str, &str)> {
    let (host, port) = match h.strip_prefix('[') {
        Some(rest) => {
            let (inside, after) = rest.split_once(']')?;
            (inside, after.strip_prefix(':')?)
        }
        None => {
            if h.parse::<std::net::Ipv6Addr>().is_ok() {
                return None;
            }
            h.rsplit_once(':')?
        }
    };
    (!host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .then_some((host, port))
}

/// Checks a `host` field: a name or an IP address (brackets allowed for IPv6),
/// without scheme, path or port. Shared by the types that take `host` and `port`.
pub(crate) fn checked_host(host: Option<&str>, kind: &str, errs: &mut Errors) -> Option<String> {
    match host.map(str::trim) {
        None | Some("") => {
            errs.push("host", format!("is required for {kind} monitors"));
            None
        }
        Some(h) if h.contains("://") || h.contains('/') || h.chars().any(char::is_whitespace) => {
            errs.push(
                "host",
                "must be a host name or IP address, without scheme or path",
            );
            None
        }
        Some(h) if with_port(h).is_some() => {
            let (name, port) = with_port(h).unwrap_or_default();
            errs.push(
                "host",
                format!("must not include the port: write {name} here and {port} in port"),
            );
            None
        }
        Some(h) => Some(h.trim_start_matches('[').trim_end_matches(']').to_owned()),
    }
}
