//! Expectations (`expect`) and warning thresholds (`warn`) of probed monitors: one
//! shape shared by the monitor types, each of which says which parts it accepts (an
//! `http` monitor takes `expect.status`, a `tcp` monitor `expect.banner`, every probed
//! type `expect.response_time`); the rest is refused by name.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::duration::HumanDuration;
use crate::validation::Errors;

/// Expectations on an answer. For `tcp` monitors a bare string is accepted as a
/// shorthand for `{banner: "…"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExpectConfig {
    /// Accepted status codes: a list of codes and classes (`[200, "3xx"]`) or one class
    /// (`"2xx"`). Default `"2xx"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub status: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_not_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_regex: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json: Vec<JsonAssertionConfig>,
    /// Slower than this fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time: Option<HumanDuration>,
    /// Text the TCP peer must send (after `send`, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// What the first column of the first row of a database monitor's query must be
    /// (compared as text: `1`, `"ok"`, `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
    /// A certificate expiring within this horizon fails (`tls` monitors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expiry: Option<HumanDuration>,
    /// Record values a `dns` answer must hold (all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// With `values`, the answer must hold exactly these, nothing more (`dns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<bool>,
    /// The response code a `dns` answer must have (`NOERROR`, `NXDOMAIN`…). Default
    /// `NOERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    /// Text the first message of a `websocket` server must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_contains: Option<String>,
    /// What the first message of a `websocket` server must be, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_equals: Option<String>,
    /// A regular expression the first message of a `websocket` server must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_regex: Option<String>,
    /// The share of echo requests an `icmp` check may lose, in percent; more fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_loss: Option<u32>,
}

/// The object form of [`ExpectConfig`], used to keep `deny_unknown_fields`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectObject {
    #[serde(default)]
    status: Option<Value>,
    #[serde(default)]
    body_contains: Option<String>,
    #[serde(default)]
    body_not_contains: Option<String>,
    #[serde(default)]
    body_regex: Option<String>,
    #[serde(default)]
    json: Vec<JsonAssertionConfig>,
    #[serde(default)]
    response_time: Option<HumanDuration>,
    #[serde(default)]
    banner: Option<String>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    cert_expiry: Option<HumanDuration>,
    #[serde(default)]
    values: Option<Vec<String>>,
    #[serde(default)]
    exact: Option<bool>,
    #[serde(default)]
    rcode: Option<String>,
    #[serde(default)]
    reply_contains: Option<String>,
    #[serde(default)]
    reply_equals: Option<String>,
    #[serde(default)]
    reply_regex: Option<String>,
    #[serde(default)]
    max_loss: Option<u32>,
}

impl<'de> Deserialize<'de> for ExpectConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ExpectConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of expectations, or a banner string for tcp monitors")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ExpectConfig, E> {
                Ok(ExpectConfig {
                    banner: Some(v.to_owned()),
                    ..Default::default()
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ExpectConfig, A::Error> {
                let o =
                    ExpectObject::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ExpectConfig {
                    status: o.status,
                    body_contains: o.body_contains,
                    body_not_contains: o.body_not_contains,
                    body_regex: o.body_regex,
                    json: o.json,
                    response_time: o.response_time,
                    banner: o.banner,
                    value: o.value,
                    cert_expiry: o.cert_expiry,
                    values: o.values,
                    exact: o.exact,
                    rcode: o.rcode,
                    reply_contains: o.reply_contains,
                    reply_equals: o.reply_equals,
                    reply_regex: o.reply_regex,
                    max_loss: o.max_loss,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// One assertion on a JSON response body: the value at `path` (JSONPath, e.g.
/// `$.status` or `$.checks[0].ok`) `equals` a value, or `exists` (true or false).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonAssertionConfig {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub equals: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

/// Warning thresholds: crossing them makes the monitor degraded, not down.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarnConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time: Option<HumanDuration>,
    /// Certificate expiring within this horizon degrades. Default 14 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expiry: Option<HumanDuration>,
    /// The share of echo requests an `icmp` check may lose, in percent; more degrades.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_loss: Option<u32>,
}

impl ExpectConfig {
    /// The parts that are set, by name (`status`, `banner`, …).
    fn set_parts(&self) -> [(&'static str, bool); 16] {
        [
            ("status", self.status.is_some()),
            ("body_contains", self.body_contains.is_some()),
            ("body_not_contains", self.body_not_contains.is_some()),
            ("body_regex", self.body_regex.is_some()),
            ("json", !self.json.is_empty()),
            ("response_time", self.response_time.is_some()),
            ("banner", self.banner.is_some()),
            ("value", self.value.is_some()),
            ("cert_expiry", self.cert_expiry.is_some()),
            ("values", self.values.is_some()),
            ("exact", self.exact.is_some()),
            ("rcode", self.rcode.is_some()),
            ("reply_contains", self.reply_contains.is_some()),
            ("reply_equals", self.reply_equals.is_some()),
            ("reply_regex", self.reply_regex.is_some()),
            ("max_loss", self.max_loss.is_some()),
        ]
    }
}

impl WarnConfig {
    /// The parts that are set, by name.
    fn set_parts(&self) -> [(&'static str, bool); 3] {
        [
            ("response_time", self.response_time.is_some()),
            ("cert_expiry", self.cert_expiry.is_some()),
            ("max_loss", self.max_loss.is_some()),
        ]
    }
}

/// What a monitor type accepts of `expect` and `warn`.
pub(crate) struct Accepts {
    pub expect: &'static [&'static str],
    pub warn: &'static [&'static str],
}

/// Refuses the parts of `expect` and `warn` that `kind` does not accept, by name
/// (`expect.banner: does not apply to http monitors`).
pub(crate) fn refuse_unaccepted(
    expect: Option<&ExpectConfig>,
    warn: Option<&WarnConfig>,
    accepts: &Accepts,
    kind: &str,
    errs: &mut Errors,
) {
    let set = expect
        .map(|e| e.set_parts().to_vec())
        .unwrap_or_default()
        .into_iter()
        .map(|(p, on)| ("expect", p, on, accepts.expect))
        .chain(
            warn.map(|w| w.set_parts().to_vec())
                .unwrap_or_default()
                .into_iter()
                .map(|(p, on)| ("warn", p, on, accepts.warn)),
        );
    for (group, part, on, ok) in set {
        if on && !ok.contains(&part) {
            errs.push(
                format!("{group}.{part}"),
                format!("does not apply to {kind} monitors"),
            );
        }
    }
}

/// `expect.response_time`: slower than this fails.
pub(crate) fn response_time_limit(
    expect: Option<&ExpectConfig>,
    errs: &mut Errors,
) -> Option<Duration> {
    let rt = expect.and_then(|e| e.response_time).map(|d| d.0);
    if rt.is_some_and(|d| d.is_zero()) {
        errs.push("expect.response_time", "must be greater than zero");
    }
    rt
}

/// `warn.response_time`: slower than this degrades; below the failure `limit`.
pub(crate) fn warn_response_time(
    warn: Option<&WarnConfig>,
    errs: &mut Errors,
    limit: Option<Duration>,
) -> Option<Duration> {
    let w = warn.and_then(|w| w.response_time).map(|d| d.0);
    match (w, limit) {
        (Some(w), _) if w.is_zero() => errs.push("warn.response_time", "must be greater than zero"),
        (Some(w), Some(l)) if w >= l => errs.push(
            "warn.response_time",
            format!(
                "must be lower than expect.response_time ({})",
                HumanDuration(l)
            ),
        ),
        _ => {}
    }
    w
}

/// `expect.value` of a database monitor, as the text it is compared with: a string,
/// a number or a boolean (`true` also matches PostgreSQL's `t`).
pub(crate) fn expected_value(expect: Option<&ExpectConfig>, errs: &mut Errors) -> Option<String> {
    match expect.and_then(|e| e.value.as_ref())? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => {
            errs.push(
                "expect.value",
                "must be a string, a number or true/false, compared as text with the first column of the first row",
            );
            None
        }
    }
}
