//! `websocket` monitors: open a WebSocket at a `ws://` or `wss://` URL — the HTTP
//! upgrade answered with 101 and the right `Sec-WebSocket-Accept` — optionally with
//! request headers and a subprotocol, optionally send one text message and expect a
//! reply (`expect.reply_contains`, `reply_equals`, `reply_regex`), then close. Over
//! `wss://` the certificate is judged as a `tls` monitor's is (chain and name unless
//! `verify_tls: false`, expiry horizons). The judging is
//! `crate::assert::evaluate_websocket`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::DEFAULT_CERT_EXPIRY_WARN;
use super::MAX_REQUEST_BODY_BYTES;
use super::expect::{
    Accepts, ExpectConfig, WarnConfig, refuse_unaccepted, response_time_limit, warn_response_time,
};
use super::http::is_tchar;
use super::tls::{TlsSpec, TlsVersion};
use crate::validation::Errors;

/// A `websocket` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebsocketConfig {
    /// `ws://` or `wss://`; a password in it is a secret (sent as Basic
    /// authentication, never shown back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Headers of the upgrade request. Their values are secrets (never shown after
    /// saving).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// The subprotocol asked for (`Sec-WebSocket-Protocol`); the server must agree
    /// to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprotocol: Option<String>,
    /// A text message sent once the WebSocket is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// Whether a `wss://` certificate must be trusted and valid for the host.
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// What a `websocket` monitor takes of `expect` and `warn`.
const ACCEPTS: Accepts = Accepts {
    expect: &[
        "reply_contains",
        "reply_equals",
        "reply_regex",
        "cert_expiry",
        "response_time",
    ],
    warn: &["cert_expiry", "response_time"],
};

/// Headers the probe writes itself for the upgrade.
const HANDSHAKE_HEADERS: [&str; 7] = [
    "host",
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
];

/// A validated `websocket` monitor.
#[derive(Debug, Clone)]
pub struct WebsocketSpec {
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub subprotocol: Option<String>,
    pub send: Option<String>,
    pub verify_tls: bool,
    pub reply: ReplyExpect,
    /// How a `wss://` certificate is judged (name, expiry horizons), as for a `tls`
    /// monitor.
    pub certificate: TlsSpec,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

/// What the first message from the server must be; each part that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct ReplyExpect {
    pub contains: Option<String>,
    pub equals: Option<String>,
    pub regex: Option<regex::Regex>,
}

impl ReplyExpect {
    /// Whether a reply is awaited at all.
    pub fn is_set(&self) -> bool {
        self.contains.is_some() || self.equals.is_some() || self.regex.is_some()
    }
}

impl WebsocketConfig {
    /// Validates the fields into a [`WebsocketSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<WebsocketSpec> {
        refuse_unaccepted(
            self.expect.as_ref(),
            self.warn.as_ref(),
            &ACCEPTS,
            "websocket",
            errs,
        );
        let url = match self.url.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push("url", "is required for websocket monitors");
                None
            }
            Some(u) => match url::Url::parse(u) {
                Ok(url) if url.scheme() != "ws" && url.scheme() != "wss" => {
                    errs.push(
                        "url",
                        format!("scheme {:?} is not allowed; use ws or wss", url.scheme()),
                    );
                    None
                }
                Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                    errs.push("url", "must include a host");
                    None
                }
                Ok(url) if url.fragment().is_some() => {
                    errs.push("url", "must not have a #fragment");
                    None
                }
                Ok(url) => Some(url),
                Err(e) => {
                    errs.push("url", format!("is not a valid URL: {e}"));
                    None
                }
            },
        };
        let tls = url.as_ref().is_some_and(|u| u.scheme() == "wss");
        let mut headers = Vec::new();
        for (k, v) in self.headers.iter().flatten() {
            let field = format!("headers.{k}");
            if k.is_empty() || !k.bytes().all(is_tchar) {
                errs.push(field, "is not a valid header name");
            } else if v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                errs.push(field, "header values must not contain line breaks");
            } else if HANDSHAKE_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                errs.push(
                    field,
                    "is set by the probe for the handshake and cannot be overridden (use subprotocol for Sec-WebSocket-Protocol)",
                );
            } else {
                headers.push((k.clone(), v.clone()));
            }
        }
        let subprotocol = match self.subprotocol.as_deref().map(str::trim) {
            None => None,
            Some(p) if p.is_empty() || !p.bytes().all(is_tchar) => {
                errs.push(
                    "subprotocol",
                    "must be one protocol name (letters, digits and !#$%&'*+-.^_`|~)",
                );
                None
            }
            Some(p) => Some(p.to_owned()),
        };
        match &self.send {
            Some(s) if s.is_empty() => errs.push("send", "must not be empty when given"),
            Some(s) if s.len() > MAX_REQUEST_BODY_BYTES => errs.push(
                "send",
                format!("must be at most {} kB", MAX_REQUEST_BODY_BYTES / 1024),
            ),
            _ => {}
        }
        let e = self.expect.clone().unwrap_or_default();
        for (field, val) in [
            ("expect.reply_contains", &e.reply_contains),
            ("expect.reply_equals", &e.reply_equals),
        ] {
            if val.as_deref() == Some("") {
                errs.push(field, "must not be empty when given");
            }
        }
        let regex = e.reply_regex.as_ref().and_then(|r| {
            match regex::RegexBuilder::new(r).size_limit(1 << 20).build() {
                Ok(re) => Some(re),
                Err(err) => {
                    errs.push(
                        "expect.reply_regex",
                        format!("is not a valid regular expression: {err}"),
                    );
                    None
                }
            }
        });
        let cert_expiry_down = e.cert_expiry.map(|d| d.0);
        let warn_cert = self.warn.as_ref().and_then(|w| w.cert_expiry).map(|d| d.0);
        if url.is_some() && !tls {
            for (field, set) in [
                ("expect.cert_expiry", cert_expiry_down.is_some()),
                ("warn.cert_expiry", warn_cert.is_some()),
                ("verify_tls", self.verify_tls.is_some()),
            ] {
                if set {
                    errs.push(
                        field,
                        "applies to wss:// URLs only (ws:// has no certificate)",
                    );
                }
            }
        }
        match (cert_expiry_down, warn_cert) {
            (Some(d), _) if d.is_zero() => {
                errs.push("expect.cert_expiry", "must be greater than zero");
            }
            (_, Some(w)) if w.is_zero() => {
                errs.push("warn.cert_expiry", "must be greater than zero");
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
        let url = url?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        Some(WebsocketSpec {
            certificate: TlsSpec {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port,
                starttls: None,
                min_version: TlsVersion::V1_2,
                issuer: None,
                cert_expiry_down,
                cert_expiry_warn: cert_expiry_warn.max(cert_expiry_down.unwrap_or_default()),
                response_time: None,
                warn_response_time: None,
            },
            url,
            headers,
            subprotocol,
            send: self.send.clone(),
            verify_tls: self.verify_tls.unwrap_or(true),
            reply: ReplyExpect {
                contains: e.reply_contains,
                equals: e.reply_equals,
                regex,
            },
            response_time,
            warn_response_time,
        })
    }
}
