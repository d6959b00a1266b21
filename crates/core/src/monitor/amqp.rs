//! `amqp` monitors: connect to an AMQP 0-9-1 broker such as RabbitMQ (`amqp://`, or
//! `amqps://` over TLS), log in to a virtual host, open a channel and close both
//! cleanly. The judging is `crate::assert::evaluate_secured` (certificate, then
//! response time).

use serde::{Deserialize, Serialize};

use super::broker::{BrokerJudgement, decode, has_control, judgement, parse_broker_url};
use super::expect::{ExpectConfig, WarnConfig};
use crate::validation::Errors;

/// An `amqp` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// `amqp://[user[:password]@]host[:port][/vhost]` (port 5672) or `amqps://…`
    /// (TLS, port 5671); the virtual host percent-encoded (`%2F` for `/`, the
    /// default). The password is a secret, never shown back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// With `amqps://`: whether the certificate must be trusted and valid for the
    /// host. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// The port of `amqp://` URLs that name none.
pub const DEFAULT_AMQP_PORT: u16 = 5672;
/// The port of `amqps://` URLs that name none.
pub const DEFAULT_AMQPS_PORT: u16 = 5671;

/// A validated `amqp` monitor.
#[derive(Debug, Clone)]
pub struct AmqpSpec {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub user: String,
    pub password: String,
    pub vhost: String,
    pub judgement: BrokerJudgement,
}

/// An AMQP URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpTarget {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// `guest` when the URL names none.
    pub user: String,
    /// `guest` when the URL names none.
    pub password: String,
    /// `/` when the URL has no path (or only `/`).
    pub vhost: String,
}

/// Parses `amqp://[user[:password]@]host[:port][/vhost]` or `amqps://…`.
pub fn parse_amqp_url(raw: &str) -> Result<AmqpTarget, String> {
    let u = parse_broker_url(
        raw,
        ("amqp", "amqps"),
        (DEFAULT_AMQP_PORT, DEFAULT_AMQPS_PORT),
        "amqp://monitor@rabbit.internal:5672/%2F",
    )?;
    if u.url.query().is_some() {
        return Err(
            "must not have parameters (?…): amqp://[user[:password]@]host[:port][/vhost]".into(),
        );
    }
    let path = u.url.path().strip_prefix('/').unwrap_or(u.url.path());
    if path.contains('/') {
        return Err(format!(
            "the path {path:?} must be one virtual host, with / written %2F, as in amqp://rabbit.internal/%2Fprod"
        ));
    }
    let vhost = if path.is_empty() {
        "/".to_owned()
    } else {
        decode(path)
    };
    let user = u.user.unwrap_or_else(|| "guest".to_owned());
    let password = u.password.unwrap_or_else(|| "guest".to_owned());
    for (what, v) in [("user", &user), ("virtual host", &vhost)] {
        if has_control(v) {
            return Err(format!("the {what} must not contain control characters"));
        }
        if v.len() > 255 {
            return Err(format!("the {what} must be at most 255 bytes"));
        }
    }
    if password.contains('\0') {
        return Err("the password must not contain a NUL byte".into());
    }
    Ok(AmqpTarget {
        host: u.host,
        port: u.port,
        tls: u.tls,
        user,
        password,
        vhost,
    })
}

impl AmqpConfig {
    /// Validates the fields into an [`AmqpSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<AmqpSpec> {
        let target = match self.url.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(
                    "url",
                    "is required for amqp monitors, as in amqp://monitor@rabbit.internal:5672/%2F",
                );
                None
            }
            Some(u) => match parse_amqp_url(u) {
                Ok(t) => Some(t),
                Err(m) => {
                    errs.push("url", m);
                    None
                }
            },
        };
        let judgement = judgement(
            "amqp",
            self.verify_tls,
            self.expect.as_ref(),
            self.warn.as_ref(),
            target.as_ref().map(|t| (t.host.as_str(), t.port, t.tls)),
            errs,
        );
        let t = target?;
        Some(AmqpSpec {
            host: t.host,
            port: t.port,
            tls: t.tls,
            user: t.user,
            password: t.password,
            vhost: t.vhost,
            judgement,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::parse_amqp_url;
    use crate::monitor::{CheckSpec, MonitorConfig, MonitorSpec};
    use crate::validation::ValidationError;

    fn build(v: Value) -> Result<MonitorSpec, Vec<ValidationError>> {
        let mut base = json!({"name": "rabbit", "type": "amqp"});
        if let (Value::Object(b), Value::Object(extra)) = (&mut base, v) {
            b.extend(extra);
        }
        serde_json::from_value::<MonitorConfig>(base)
            .unwrap()
            .build()
    }

    #[test]
    fn urls_give_host_port_tls_credentials_and_vhost() {
        let t = parse_amqp_url("amqp://rabbit.internal").unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.tls,
                t.user.as_str(),
                t.password.as_str(),
                t.vhost.as_str()
            ),
            ("rabbit.internal", 5672, false, "guest", "guest", "/")
        );
        let t = parse_amqp_url("amqps://mon:p%40ss@[::1]/%2Fprod").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("::1", 5671, true));
        assert_eq!((t.user.as_str(), t.password.as_str()), ("mon", "p@ss"));
        assert_eq!(t.vhost, "/prod");
        assert_eq!(parse_amqp_url("amqp://h:5673/").unwrap().vhost, "/");
        assert_eq!(parse_amqp_url("amqp://h/orders").unwrap().vhost, "orders");
        for bad in [
            "mqtt://h",
            "amqp://h/a/b",
            "amqp://h/?heartbeat=10",
            "amqp:///vhost",
            "amqp://h/%00",
        ] {
            assert!(parse_amqp_url(bad).is_err(), "{bad}");
        }
        let CheckSpec::Amqp(s) =
            build(json!({"url": "amqps://h", "expect": {"cert_expiry": "3d"}}))
                .unwrap()
                .check
        else {
            panic!("an amqp spec")
        };
        assert!(s.judgement.verify_tls && s.judgement.certificate.is_some());
    }

    #[test]
    fn bad_fields_are_named() {
        let fields = |v| -> Vec<String> {
            let mut f: Vec<String> = build(v).unwrap_err().into_iter().map(|e| e.field).collect();
            f.sort();
            f
        };
        assert_eq!(fields(json!({})), ["url"]);
        assert_eq!(
            fields(
                json!({"url": "amqp://h", "verify_tls": true, "expect": {"banner": "x"},
                "warn": {"cert_expiry": "3d"}})
            ),
            ["expect.banner", "verify_tls", "warn.cert_expiry"]
        );
        assert_eq!(
            fields(json!({"url": "amqp://h", "client_id": "x"})),
            ["client_id"]
        );
    }

    #[test]
    fn the_password_is_a_secret() {
        use crate::secret::masked;
        let c: MonitorConfig = serde_json::from_value(
            json!({"name": "r", "type": "amqp", "url": "amqps://mon:hunter2@h/%2F"}),
        )
        .unwrap();
        assert_eq!(masked(&c).kind.url(), Some("amqps://mon:********@h/%2F"));
        assert_eq!(c.target_words(), "amqps://mon:********@h/%2F");
    }
}
