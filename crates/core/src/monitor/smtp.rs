//! `smtp` monitors: a mail server's conversation up to where mail would start — its
//! greeting (`expect.banner`), `EHLO`, and by default `STARTTLS` with the certificate
//! it then presents (trusted chain, name, expiry) — or the same over implicit TLS
//! (port 465). The judging is `crate::assert::evaluate_smtp`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::DEFAULT_CERT_EXPIRY_WARN;
use super::expect::{
    Accepts, ExpectConfig, WarnConfig, refuse_unaccepted, response_time_limit, warn_response_time,
};
use super::tcp::checked_host;
use super::tls::{TlsSpec, TlsVersion};
use crate::validation::Errors;

/// An `smtp` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Default 25, or 465 with `tls: implicit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// `starttls` (default: the server must offer STARTTLS and complete it),
    /// `implicit` (TLS from the first byte, as on port 465) or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// Whether the certificate must be trusted and valid for `host`. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// What an `smtp` monitor takes of `expect` and `warn`.
const ACCEPTS: Accepts = Accepts {
    expect: &["banner", "cert_expiry", "response_time"],
    warn: &["cert_expiry", "response_time"],
};

/// How an SMTP conversation is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Implicit,
    None,
}

/// A validated `smtp` monitor.
#[derive(Debug, Clone)]
pub struct SmtpSpec {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub verify_tls: bool,
    /// Text the greeting must contain.
    pub expect_banner: Option<String>,
    /// How the certificate is judged (name, expiry horizons), as for a `tls` monitor.
    pub certificate: TlsSpec,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

impl SmtpConfig {
    /// Validates the fields into an [`SmtpSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<SmtpSpec> {
        refuse_unaccepted(
            self.expect.as_ref(),
            self.warn.as_ref(),
            &ACCEPTS,
            "smtp",
            errs,
        );
        let host = checked_host(self.host.as_deref(), "smtp", errs);
        let tls = match self.tls.as_deref().map(str::trim) {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("implicit") => SmtpTls::Implicit,
            Some("none") => SmtpTls::None,
            Some(other) => {
                errs.push(
                    "tls",
                    format!("{other:?} must be starttls, implicit or none"),
                );
                SmtpTls::StartTls
            }
        };
        let port = match self.port {
            None if tls == SmtpTls::Implicit => Some(465),
            None => Some(25),
            Some(p) if p == 0 || p > 65535 => {
                errs.push("port", "must be between 1 and 65535");
                None
            }
            Some(p) => u16::try_from(p).ok(),
        };
        let e = self.expect.clone().unwrap_or_default();
        if e.banner.as_deref() == Some("") {
            errs.push("expect.banner", "must not be empty when given");
        }
        let cert_expiry_down = e.cert_expiry.map(|d| d.0);
        let warn_cert = self.warn.as_ref().and_then(|w| w.cert_expiry).map(|d| d.0);
        if tls == SmtpTls::None {
            for (field, set) in [
                ("expect.cert_expiry", cert_expiry_down.is_some()),
                ("warn.cert_expiry", warn_cert.is_some()),
                ("verify_tls", self.verify_tls.is_some()),
            ] {
                if set {
                    errs.push(
                        field,
                        "does not apply with tls: none (there is no certificate)",
                    );
                }
            }
        }
        match (cert_expiry_down, warn_cert) {
            (Some(d), _) if d.is_zero() => {
                errs.push("expect.cert_expiry", "must be greater than zero");
            }
            (Some(d), Some(w)) if d >= w => errs.push(
                "expect.cert_expiry",
                "must be shorter than warn.cert_expiry (it fails, the warning comes first)",
            ),
            _ => {}
        }
        let cert_expiry_warn = warn_cert.unwrap_or(DEFAULT_CERT_EXPIRY_WARN);
        let response_time = response_time_limit(self.expect.as_ref(), errs);
        let warn_response_time = warn_response_time(self.warn.as_ref(), errs, response_time);
        let (host, port) = (host?, port?);
        Some(SmtpSpec {
            certificate: TlsSpec {
                host: host.clone(),
                port,
                starttls: None,
                min_version: TlsVersion::V1_2,
                issuer: None,
                cert_expiry_down,
                cert_expiry_warn: cert_expiry_warn.max(cert_expiry_down.unwrap_or_default()),
                response_time: None,
                warn_response_time: None,
            },
            host,
            port,
            tls,
            verify_tls: self.verify_tls.unwrap_or(true),
            expect_banner: e.banner,
            response_time,
            warn_response_time,
        })
    }
}
