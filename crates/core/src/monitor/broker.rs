//! What the message-broker monitors (`mqtt`, `amqp`) share: a URL whose scheme says
//! whether TLS is used (`mqtt://` / `mqtts://`, `amqp://` / `amqps://`), `verify_tls`,
//! the certificate horizons (`expect.cert_expiry`, `warn.cert_expiry`) and the
//! response-time limits. The certificate is judged as a `tls` monitor's is
//! (`crate::assert::evaluate_secured`).

use std::time::Duration;

use super::DEFAULT_CERT_EXPIRY_WARN;
use super::expect::{
    Accepts, ExpectConfig, WarnConfig, refuse_unaccepted, response_time_limit, warn_response_time,
};
use super::tls::{TlsSpec, TlsVersion};
use crate::validation::Errors;

/// What a broker monitor takes of `expect` and `warn`.
pub(crate) const ACCEPTS: Accepts = Accepts {
    expect: &["cert_expiry", "response_time"],
    warn: &["cert_expiry", "response_time"],
};

/// How a broker's certificate and answer time are judged.
#[derive(Debug, Clone)]
pub struct BrokerJudgement {
    /// Whether the chain and name must be valid (only with TLS).
    pub verify_tls: bool,
    /// The certificate's name and expiry horizons, as for a `tls` monitor; `None`
    /// without TLS.
    pub certificate: Option<TlsSpec>,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

/// Decodes a percent-encoded URL part.
pub(crate) fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A broker URL's parts every broker type has: host, port, TLS and the credentials.
pub(crate) struct BrokerUrl {
    pub url: url::Url,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// Parses `plain://` or `secure://` `[user[:password]@]host[:port]…`; the port
/// defaults by scheme. `example` is a URL shown in errors.
pub(crate) fn parse_broker_url(
    raw: &str,
    (plain, secure): (&str, &str),
    (plain_port, secure_port): (u16, u16),
    example: &str,
) -> Result<BrokerUrl, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("is not a valid URL: {e}"))?;
    let tls = if url.scheme() == plain {
        false
    } else if url.scheme() == secure {
        true
    } else {
        return Err(format!(
            "scheme {:?} is not allowed; use {plain}:// or {secure}:// (TLS)",
            url.scheme()
        ));
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("must include a host, as in {example}"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let user = Some(url.username()).filter(|u| !u.is_empty()).map(decode);
    let password = url.password().map(decode);
    if url.fragment().is_some() {
        return Err("must not have a fragment (#…)".into());
    }
    let port = url
        .port()
        .unwrap_or(if tls { secure_port } else { plain_port });
    if port == 0 {
        return Err("the port must be between 1 and 65535".into());
    }
    Ok(BrokerUrl {
        host,
        port,
        tls,
        user,
        password,
        url,
    })
}

/// Checks `verify_tls`, the certificate horizons and the response times of a broker
/// monitor of `kind`, connecting to `host`:`port` with TLS or not.
pub(crate) fn judgement(
    kind: &str,
    verify_tls: Option<bool>,
    expect: Option<&ExpectConfig>,
    warn: Option<&WarnConfig>,
    target: Option<(&str, u16, bool)>,
    errs: &mut Errors,
) -> BrokerJudgement {
    refuse_unaccepted(expect, warn, &ACCEPTS, kind, errs);
    let cert_expiry_down = expect.and_then(|e| e.cert_expiry).map(|d| d.0);
    let warn_cert = warn.and_then(|w| w.cert_expiry).map(|d| d.0);
    if let Some((_, _, false)) = target {
        for (field, set) in [
            ("expect.cert_expiry", cert_expiry_down.is_some()),
            ("warn.cert_expiry", warn_cert.is_some()),
            ("verify_tls", verify_tls.is_some()),
        ] {
            if set {
                errs.push(
                    field,
                    format!(
                        "applies only to {kind}s:// URLs (without TLS there is no certificate)"
                    ),
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
    let response_time = response_time_limit(expect, errs);
    let warn_response_time = warn_response_time(warn, errs, response_time);
    let cert_expiry_warn = warn_cert.unwrap_or(DEFAULT_CERT_EXPIRY_WARN);
    let certificate = match target {
        Some((host, port, true)) => Some(TlsSpec {
            host: host.to_owned(),
            port,
            starttls: None,
            min_version: TlsVersion::V1_2,
            issuer: None,
            cert_expiry_down,
            cert_expiry_warn: cert_expiry_warn.max(cert_expiry_down.unwrap_or_default()),
            response_time: None,
            warn_response_time: None,
        }),
        _ => None,
    };
    BrokerJudgement {
        verify_tls: verify_tls.unwrap_or(true),
        certificate,
        response_time,
        warn_response_time,
    }
}

/// Whether `text` holds a control character (NUL included).
pub(crate) fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}
