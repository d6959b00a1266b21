//! `http` monitors: a request (method, headers, body) to an `http://` or `https://`
//! URL, judged by status, body, JSON and response time, with a certificate-expiry
//! warning for HTTPS.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::expect::{
    Accepts, ExpectConfig, WarnConfig, refuse_unaccepted, response_time_limit, warn_response_time,
};
use super::{DEFAULT_CERT_EXPIRY_WARN, MAX_REQUEST_BODY_BYTES};
use crate::validation::Errors;

/// An `http` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Request headers. Their values are secrets (never shown after saving) unless
    /// the header is named in `public_headers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Header names whose values anyone who may read the monitor may see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_headers: Option<Vec<String>>,
    /// Request body: a secret unless `public_body` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether anyone who may read the monitor may see its body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_body: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// What an `http` monitor takes of `expect` and `warn`.
const ACCEPTS: Accepts = Accepts {
    expect: &[
        "status",
        "body_contains",
        "body_not_contains",
        "body_regex",
        "json",
        "response_time",
    ],
    warn: &["response_time", "cert_expiry"],
};

#[derive(Debug, Clone)]
pub struct HttpSpec {
    pub url: url::Url,
    /// Upper-case method name.
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub follow_redirects: bool,
    pub verify_tls: bool,
    pub expect: HttpExpect,
    pub warn: HttpWarn,
}

#[derive(Debug, Clone)]
pub struct HttpExpect {
    pub status: StatusMatcher,
    pub body_contains: Option<String>,
    pub body_not_contains: Option<String>,
    pub body_regex: Option<regex::Regex>,
    pub json: Vec<JsonAssertion>,
    pub response_time: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct HttpWarn {
    pub response_time: Option<Duration>,
    pub cert_expiry: Duration,
}

/// A parsed JSON assertion.
#[derive(Debug, Clone)]
pub struct JsonAssertion {
    /// The path as the user wrote it, for messages.
    pub path_text: String,
    pub path: serde_json_path::JsonPath,
    pub condition: JsonCondition,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JsonCondition {
    Equals(Value),
    Exists(bool),
}

/// Which status codes pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMatcher(pub Vec<StatusPattern>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Exact(u16),
    /// A class such as 2xx, stored as its first digit.
    Class(u8),
}

impl StatusMatcher {
    pub fn default_2xx() -> Self {
        Self(vec![StatusPattern::Class(2)])
    }

    pub fn matches(&self, code: u16) -> bool {
        self.0.iter().any(|p| match *p {
            StatusPattern::Exact(c) => c == code,
            StatusPattern::Class(d) => code / 100 == u16::from(d),
        })
    }
}

impl fmt::Display for StatusMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|p| match p {
                StatusPattern::Exact(c) => c.to_string(),
                StatusPattern::Class(d) => format!("{d}xx"),
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

impl HttpConfig {
    /// Validates the fields into an [`HttpSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<HttpSpec> {
        refuse_unaccepted(
            self.expect.as_ref(),
            self.warn.as_ref(),
            &ACCEPTS,
            "http",
            errs,
        );
        let url = match self.url.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push("url", "is required for http monitors");
                None
            }
            Some(u) => match url::Url::parse(u) {
                Ok(url) if url.scheme() != "http" && url.scheme() != "https" => {
                    errs.push(
                        "url",
                        format!(
                            "scheme {:?} is not allowed; use http or https",
                            url.scheme()
                        ),
                    );
                    None
                }
                Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                    errs.push("url", "must include a host");
                    None
                }
                Ok(url) => Some(url),
                Err(e) => {
                    errs.push("url", format!("is not a valid URL: {e}"));
                    None
                }
            },
        };
        let method = self
            .method
            .as_deref()
            .unwrap_or("GET")
            .trim()
            .to_ascii_uppercase();
        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        if !METHODS.contains(&method.as_str()) {
            errs.push("method", format!("must be one of {}", METHODS.join(", ")));
        }
        let mut headers = Vec::new();
        for (k, v) in self.headers.iter().flatten() {
            let field = format!("headers.{k}");
            if k.is_empty() || !k.bytes().all(is_tchar) {
                errs.push(field, "is not a valid header name");
            } else if v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                errs.push(field, "header values must not contain line breaks");
            } else if k.eq_ignore_ascii_case("host")
                || k.eq_ignore_ascii_case("content-length")
                || k.eq_ignore_ascii_case("transfer-encoding")
            {
                errs.push(field, "is set by the probe and cannot be overridden");
            } else {
                headers.push((k.clone(), v.clone()));
            }
        }
        if let Some(b) = &self.body
            && b.len() > MAX_REQUEST_BODY_BYTES
        {
            errs.push(
                "body",
                format!("must be at most {} kB", MAX_REQUEST_BODY_BYTES / 1024),
            );
        }
        let default_expect = ExpectConfig::default();
        let e = self.expect.as_ref().unwrap_or(&default_expect);
        let status = match &e.status {
            None => StatusMatcher::default_2xx(),
            Some(v) => parse_status(v, errs),
        };
        let body_regex = e.body_regex.as_ref().and_then(|r| {
            match regex::RegexBuilder::new(r).size_limit(1 << 20).build() {
                Ok(re) => Some(re),
                Err(err) => {
                    errs.push(
                        "expect.body_regex",
                        format!("is not a valid regular expression: {err}"),
                    );
                    None
                }
            }
        });
        for (field, val) in [
            ("expect.body_contains", &e.body_contains),
            ("expect.body_not_contains", &e.body_not_contains),
        ] {
            if val.as_deref() == Some("") {
                errs.push(field, "must not be empty when given");
            }
        }
        let mut json = Vec::new();
        for (i, a) in e.json.iter().enumerate() {
            let field = format!("expect.json[{i}]");
            let path = match parse_json_path(&a.path) {
                Ok(p) => Some(p),
                Err(err) => {
                    errs.push(
                        format!("{field}.path"),
                        format!("is not a valid JSONPath (like $.status): {err}"),
                    );
                    None
                }
            };
            let condition = match (&a.equals, a.exists) {
                (Some(v), None) => Some(JsonCondition::Equals(v.clone())),
                (None, Some(b)) => Some(JsonCondition::Exists(b)),
                _ => {
                    errs.push(field, "needs exactly one of `equals` or `exists`");
                    None
                }
            };
            if let (Some(path), Some(condition)) = (path, condition) {
                json.push(JsonAssertion {
                    path_text: a.path.clone(),
                    path,
                    condition,
                });
            }
        }
        let response_time = response_time_limit(self.expect.as_ref(), errs);
        let warn_rt = warn_response_time(self.warn.as_ref(), errs, response_time);
        let cert_expiry = match self.warn.as_ref().and_then(|w| w.cert_expiry) {
            Some(d) if d.0.is_zero() => {
                errs.push("warn.cert_expiry", "must be greater than zero");
                DEFAULT_CERT_EXPIRY_WARN
            }
            Some(d) => d.0,
            None => DEFAULT_CERT_EXPIRY_WARN,
        };
        Some(HttpSpec {
            url: url?,
            method,
            headers,
            body: self.body.clone(),
            follow_redirects: self.follow_redirects.unwrap_or(true),
            verify_tls: self.verify_tls.unwrap_or(true),
            expect: HttpExpect {
                status,
                body_contains: e.body_contains.clone(),
                body_not_contains: e.body_not_contains.clone(),
                body_regex,
                json,
                response_time,
            },
            warn: HttpWarn {
                response_time: warn_rt,
                cert_expiry,
            },
        })
    }
}

pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_status(v: &Value, errs: &mut Errors) -> StatusMatcher {
    fn one(v: &Value) -> Result<StatusPattern, String> {
        match v {
            Value::Number(n) => match n.as_u64() {
                Some(c @ 100..=599) => Ok(StatusPattern::Exact(c as u16)),
                _ => Err(format!("{n} is not a status code between 100 and 599")),
            },
            Value::String(s) => {
                let t = s.trim().to_ascii_lowercase();
                if let Ok(c) = t.parse::<u16>() {
                    return one(&Value::from(c));
                }
                match t.as_bytes() {
                    [d @ b'1'..=b'5', b'x', b'x'] => Ok(StatusPattern::Class(d - b'0')),
                    _ => Err(format!(
                        "{s:?} is neither a status code nor a class like \"2xx\""
                    )),
                }
            }
            other => Err(format!(
                "{other} is neither a status code nor a class like \"2xx\""
            )),
        }
    }
    let items: Vec<(String, &Value)> = match v {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("expect.status[{i}]"), v))
            .collect(),
        other => vec![("expect.status".to_owned(), other)],
    };
    if items.is_empty() {
        errs.push(
            "expect.status",
            "must list at least one status code or class",
        );
    }
    let mut out = Vec::new();
    for (field, v) in items {
        match one(v) {
            Ok(p) => out.push(p),
            Err(m) => errs.push(field, m),
        }
    }
    StatusMatcher(out)
}

/// How deep a JSONPath may nest brackets and parentheses (see [`parse_json_path`]).
pub const MAX_JSON_PATH_NESTING: usize = 4;
/// How long a JSONPath may be, in characters.
pub const MAX_JSON_PATH_CHARS: usize = 1024;

/// Parses a JSONPath expression. The parser (serde_json_path 0.7) panics, with an
/// `unreachable!`, when the input ends inside an escape of a quoted name (`$['a\u`);
/// such paths are refused before it sees them (a quoted name or string must be
/// closed), and a panic that would still come is caught and the path refused like any
/// invalid one, so no config file, API body or agent assignment can bring the process
/// down with it (found by fuzzing, docs/fuzzing.md).
///
/// The library's parser also backtracks exponentially on brackets and parentheses
/// nested without end (`$.a[?@.b[?@[?@.c[?…`: ten seconds for 170 characters), so a
/// path may nest them at most [`MAX_JSON_PATH_NESTING`] deep and be at most
/// [`MAX_JSON_PATH_CHARS`] long — far beyond what a health check needs.
fn parse_json_path(s: &str) -> Result<serde_json_path::JsonPath, String> {
    if s.chars().count() > MAX_JSON_PATH_CHARS {
        return Err(format!("is longer than {MAX_JSON_PATH_CHARS} characters"));
    }
    let mut open: Option<char> = None;
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (open, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => open = None,
            (None, '\'' | '"') => open = Some(c),
            (None, '[' | '(') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (None, ']' | ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if let Some(q) = open {
        return Err(format!("a name or string opened with {q} is not closed"));
    }
    if deepest > MAX_JSON_PATH_NESTING {
        return Err(format!(
            "nests brackets and parentheses {deepest} deep; at most {MAX_JSON_PATH_NESTING}"
        ));
    }
    match std::panic::catch_unwind(|| serde_json_path::JsonPath::parse(s)) {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("it ends inside an escape or a quoted name".into()),
    }
}
