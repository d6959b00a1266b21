//! `tls` monitors: the certificate a server presents on `host`:`port` (optionally
//! after `STARTTLS` on an SMTP server), judged on its own — trusted chain, name,
//! issuer, negotiated protocol version and days to expiry — without speaking the
//! protocol behind it. The judging is `crate::assert::evaluate_tls`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::DEFAULT_CERT_EXPIRY_WARN;
use super::expect::{
    Accepts, ExpectConfig, WarnConfig, refuse_unaccepted, response_time_limit, warn_response_time,
};
use super::tcp::checked_host;
use crate::validation::Errors;

/// A `tls` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's name or IP address; the certificate must be valid for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Default 443, or 25 with `starttls: smtp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// `smtp`: speak SMTP up to `STARTTLS` first (mail servers on 25 or 587).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starttls: Option<String>,
    /// The lowest protocol version accepted: `"1.2"` (default) or `"1.3"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// Text the certificate's issuer must contain (e.g. `Let's Encrypt`), any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// What a `tls` monitor takes of `expect` and `warn`.
const ACCEPTS: Accepts = Accepts {
    expect: &["cert_expiry", "response_time"],
    warn: &["cert_expiry", "response_time"],
};

/// The protocol spoken before the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    Smtp,
}

/// A TLS protocol version a monitor may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

impl TlsVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::V1_2 => "1.2",
            TlsVersion::V1_3 => "1.3",
        }
    }
}

/// A validated `tls` monitor.
#[derive(Debug, Clone)]
pub struct TlsSpec {
    pub host: String,
    pub port: u16,
    pub starttls: Option<StartTls>,
    pub min_version: TlsVersion,
    pub issuer: Option<String>,
    /// A certificate expiring within this fails.
    pub cert_expiry_down: Option<Duration>,
    /// A certificate expiring within this is degraded.
    pub cert_expiry_warn: Duration,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

impl TlsConfig {
    /// Validates the fields into a [`TlsSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<TlsSpec> {
        refuse_unaccepted(
            self.expect.as_ref(),
            self.warn.as_ref(),
            &ACCEPTS,
            "tls",
            errs,
        );
        let host = checked_host(self.host.as_deref(), "tls", errs);
        let starttls = match self.starttls.as_deref().map(str::trim) {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("smtp") => Some(StartTls::Smtp),
            Some(other) => {
                errs.push(
                    "starttls",
                    format!("{other:?} is not supported; the one value is smtp"),
                );
                None
            }
        };
        let default_port = if starttls.is_some() { 25 } else { 443 };
        let port = match self.port {
            None => Some(default_port),
            Some(p) if p == 0 || p > 65535 => {
                errs.push("port", "must be between 1 and 65535");
                None
            }
            Some(p) => u16::try_from(p).ok(),
        };
        let min_version = match self.min_version.as_deref().map(str::trim) {
            None | Some("1.2") => TlsVersion::V1_2,
            Some("1.3") => TlsVersion::V1_3,
            Some(other) => {
                errs.push(
                    "min_version",
                    format!(
                        "{other:?} must be \"1.2\" or \"1.3\" (older versions are never accepted)"
                    ),
                );
                TlsVersion::V1_2
            }
        };
        let issuer = match self.issuer.as_deref().map(str::trim) {
            Some("") => {
                errs.push("issuer", "must not be empty when given");
                None
            }
            other => other.map(str::to_owned),
        };
        let cert_expiry_down = self
            .expect
            .as_ref()
            .and_then(|e| e.cert_expiry)
            .map(|d| d.0);
        let cert_expiry_warn = self
            .warn
            .as_ref()
            .and_then(|w| w.cert_expiry)
            .map_or(DEFAULT_CERT_EXPIRY_WARN, |d| d.0);
        if let Some(down) = cert_expiry_down {
            if down.is_zero() {
                errs.push("expect.cert_expiry", "must be greater than zero");
            } else if self.warn.as_ref().and_then(|w| w.cert_expiry).is_some()
                && down >= cert_expiry_warn
            {
                errs.push(
                    "expect.cert_expiry",
                    "must be shorter than warn.cert_expiry (it fails, the warning comes first)",
                );
            }
        }
        let response_time = response_time_limit(self.expect.as_ref(), errs);
        let warn_response_time = warn_response_time(self.warn.as_ref(), errs, response_time);
        Some(TlsSpec {
            host: host?,
            port: port?,
            starttls,
            min_version,
            issuer,
            cert_expiry_down,
            // A warning horizon shorter than the failure's would never show.
            cert_expiry_warn: cert_expiry_warn.max(cert_expiry_down.unwrap_or_default()),
            response_time,
            warn_response_time,
        })
    }
}
