//! `grpc` monitors: the standard health check of a gRPC server
//! (`grpc.health.v1.Health/Check`), over plain HTTP/2 (`grpc://`) or TLS (`grpcs://`),
//! for the server as a whole or one named `service`, with optional metadata (request
//! headers such as an authorization token: secrets, never shown back). `SERVING` is
//! up; the judging is `crate::assert::evaluate_grpc`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::DEFAULT_CERT_EXPIRY_WARN;
use super::expect::{
    Accepts, ExpectConfig, WarnConfig, refuse_unaccepted, response_time_limit, warn_response_time,
};
use crate::validation::Errors;

/// A `grpc` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// `grpc://host[:port]` (plain HTTP/2) or `grpcs://host[:port]` (TLS). Default
    /// ports 80 and 443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The service whose health is asked for. Default: empty, the server's overall
    /// health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Metadata sent with the call (gRPC request headers), e.g. `authorization`. The
    /// values are secrets, never shown back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// `grpcs://` only: whether the certificate must be trusted and valid for the
    /// host. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// What a `grpc` monitor takes of `expect` and `warn`.
const ACCEPTS: Accepts = Accepts {
    expect: &["response_time"],
    warn: &["response_time", "cert_expiry"],
};

/// The port of a `grpc://` URL that names none.
pub const DEFAULT_GRPC_PORT: u16 = 80;
/// The port of a `grpcs://` URL that names none.
pub const DEFAULT_GRPCS_PORT: u16 = 443;
/// The longest service name accepted, in bytes.
pub const MAX_SERVICE_BYTES: usize = 1024;

/// Metadata names the probe sets itself (or HTTP/2 forbids).
const RESERVED_METADATA: [&str; 7] = [
    "content-type",
    "te",
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "user-agent",
];

/// A validated `grpc` monitor.
#[derive(Debug, Clone)]
pub struct GrpcSpec {
    /// The host as written in the URL (an IP address without brackets, or a name).
    pub host: String,
    pub port: u16,
    /// `grpcs://`: TLS with ALPN `h2`.
    pub tls: bool,
    pub service: String,
    /// Metadata names in lower case, with their values.
    pub metadata: Vec<(String, String)>,
    pub verify_tls: bool,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
    /// A certificate expiring within this horizon degrades.
    pub cert_expiry_warn: Duration,
}

impl GrpcSpec {
    /// `grpc://host:port` or `grpcs://host:port`, brackets around an IPv6 address.
    pub fn target(&self) -> String {
        let scheme = if self.tls { "grpcs" } else { "grpc" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// A `grpc://` or `grpcs://` URL taken apart: host, port, TLS.
pub fn parse_grpc_url(raw: &str) -> Result<(String, u16, bool), String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("is not a valid URL: {e}"))?;
    let tls = match url.scheme() {
        "grpc" => false,
        "grpcs" => true,
        other => {
            return Err(format!(
                "scheme {other:?} is not allowed; use grpc:// (plain) or grpcs:// (TLS)"
            ));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("must include a host, as in grpcs://api.internal:443")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not carry a user or password; send credentials as metadata (e.g. authorization)"
                .into(),
        );
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(
            "must be only grpc[s]://host[:port]: the health service's path is fixed".into(),
        );
    }
    let port = url.port().unwrap_or(if tls {
        DEFAULT_GRPCS_PORT
    } else {
        DEFAULT_GRPC_PORT
    });
    if port == 0 {
        return Err("the port must be between 1 and 65535".into());
    }
    Ok((host, port, tls))
}

/// Whether `b` may appear in a metadata name: lower-case letters, digits, `-`, `_`
/// and `.` (gRPC's rule; upper case is accepted and lowered).
fn metadata_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

impl GrpcConfig {
    /// Validates the fields into a [`GrpcSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<GrpcSpec> {
        refuse_unaccepted(
            self.expect.as_ref(),
            self.warn.as_ref(),
            &ACCEPTS,
            "grpc",
            errs,
        );
        let target = match self.url.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(
                    "url",
                    "is required for grpc monitors, as in grpc://api.internal:50051 or grpcs://api.example.com",
                );
                None
            }
            Some(u) => match parse_grpc_url(u) {
                Ok(t) => Some(t),
                Err(m) => {
                    errs.push("url", m);
                    None
                }
            },
        };
        let service = self.service.clone().unwrap_or_default();
        if service.len() > MAX_SERVICE_BYTES {
            errs.push(
                "service",
                format!("must be at most {MAX_SERVICE_BYTES} bytes"),
            );
        } else if service.chars().any(char::is_control) {
            errs.push("service", "must not contain control characters");
        }
        let mut metadata = Vec::new();
        for (name, value) in self.metadata.iter().flatten() {
            let field = format!("metadata.{name}");
            let lower = name.to_ascii_lowercase();
            if lower.is_empty() || !lower.bytes().all(metadata_name_byte) {
                errs.push(
                    field,
                    "is not a valid metadata name (letters, digits, -, _ and .)",
                );
            } else if lower.starts_with("grpc-") || RESERVED_METADATA.contains(&lower.as_str()) {
                errs.push(field, "is set by the probe and cannot be given");
            } else if lower.ends_with("-bin") {
                errs.push(field, "binary (-bin) metadata is not supported");
            } else if !value
                .bytes()
                .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
            {
                errs.push(
                    field,
                    "must be printable ASCII (no line breaks or control characters)",
                );
            } else {
                metadata.push((lower, value.clone()));
            }
        }
        let tls = target.as_ref().is_some_and(|t| t.2);
        let warn_cert = self.warn.as_ref().and_then(|w| w.cert_expiry).map(|d| d.0);
        if target.is_some() && !tls {
            for (field, set) in [
                ("verify_tls", self.verify_tls.is_some()),
                ("warn.cert_expiry", warn_cert.is_some()),
            ] {
                if set {
                    errs.push(
                        field,
                        "applies to grpcs:// only (grpc:// has no certificate)",
                    );
                }
            }
        }
        if warn_cert.is_some_and(|d| d.is_zero()) {
            errs.push("warn.cert_expiry", "must be greater than zero");
        }
        let response_time = response_time_limit(self.expect.as_ref(), errs);
        let warn_response_time = warn_response_time(self.warn.as_ref(), errs, response_time);
        let (host, port, tls) = target?;
        Some(GrpcSpec {
            host,
            port,
            tls,
            service,
            metadata,
            verify_tls: self.verify_tls.unwrap_or(true),
            response_time,
            warn_response_time,
            cert_expiry_warn: warn_cert.unwrap_or(DEFAULT_CERT_EXPIRY_WARN),
        })
    }
}
