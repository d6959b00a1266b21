//! `mqtt` monitors: connect to an MQTT broker (`mqtt://`, or `mqtts://` over TLS) as
//! an MQTT 3.1.1 client with a clean session, judge its `CONNACK`, and optionally
//! make a round trip — subscribe to `publish.topic`, publish `publish.message` there
//! and expect it back within the timeout — before a clean `DISCONNECT`. The judging
//! is `crate::assert::evaluate_secured` (certificate, then response time).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::broker::{BrokerJudgement, has_control, judgement, parse_broker_url};
use super::expect::{ExpectConfig, WarnConfig};
use crate::duration::HumanDuration;
use crate::validation::Errors;

/// An `mqtt` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://[user[:password]@]host[:port]` (port 1883) or `mqtts://…` (TLS, port
    /// 8883). The password is a secret, never shown back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The user name, when it is not in the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password, when it is not in the URL. A secret, never shown back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The client identifier. Default: `vigilmon-` and a random suffix, new for
    /// every check (a fixed one makes the broker drop a check still connected with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The keep-alive announced in `CONNECT`, in whole seconds. Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<HumanDuration>,
    /// A round trip: subscribe to the topic, publish the message there, and expect it
    /// back within the timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<MqttPublishConfig>,
    /// With `mqtts://`: whether the certificate must be trusted and valid for the
    /// host. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// The round trip of an `mqtt` monitor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttPublishConfig {
    /// The topic subscribed to and published on (no wildcards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The message's text; the probe adds a space and a unique token to it, so that
    /// concurrent checks each wait for their own. Default `vigilmon probe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The port of `mqtt://` URLs that name none.
pub const DEFAULT_MQTT_PORT: u16 = 1883;
/// The port of `mqtts://` URLs that name none.
pub const DEFAULT_MQTTS_PORT: u16 = 8883;
/// The keep-alive announced when none is given.
pub const DEFAULT_MQTT_KEEP_ALIVE: Duration = Duration::from_secs(30);
/// The message published when none is given (before its unique token).
pub const DEFAULT_MQTT_MESSAGE: &str = "vigilmon probe";
/// The longest client identifier, topic or message accepted, in bytes.
const MAX_TEXT_BYTES: usize = 1024;

/// A validated `mqtt` monitor.
#[derive(Debug, Clone)]
pub struct MqttSpec {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `None`: a fresh random one per check.
    pub client_id: Option<String>,
    /// Seconds.
    pub keep_alive: u16,
    /// The round trip's topic and message.
    pub publish: Option<(String, String)>,
    pub judgement: BrokerJudgement,
}

/// An MQTT URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTarget {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Parses `mqtt://[user[:password]@]host[:port]` or `mqtts://…`.
pub fn parse_mqtt_url(raw: &str) -> Result<MqttTarget, String> {
    let u = parse_broker_url(
        raw,
        ("mqtt", "mqtts"),
        (DEFAULT_MQTT_PORT, DEFAULT_MQTTS_PORT),
        "mqtt://broker.internal:1883",
    )?;
    if !matches!(u.url.path(), "" | "/") || u.url.query().is_some() {
        return Err(
            "must not have a path or parameters: mqtt://[user[:password]@]host[:port]".into(),
        );
    }
    if u.password.is_some() && u.user.is_none() {
        return Err(
            "has a password but no user name (MQTT sends a password only with a user name)".into(),
        );
    }
    Ok(MqttTarget {
        host: u.host,
        port: u.port,
        tls: u.tls,
        username: u.user,
        password: u.password,
    })
}

/// Checks a text field: not empty, printable, at most [`MAX_TEXT_BYTES`].
fn checked_text(field: &str, value: &str, errs: &mut Errors) -> bool {
    if value.is_empty() {
        errs.push(field, "must not be empty when given");
    } else if has_control(value) {
        errs.push(field, "must not contain control characters");
    } else if value.len() > MAX_TEXT_BYTES {
        errs.push(field, format!("must be at most {MAX_TEXT_BYTES} bytes"));
    } else {
        return true;
    }
    false
}

impl MqttConfig {
    /// Validates the fields into an [`MqttSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<MqttSpec> {
        let target = match self.url.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(
                    "url",
                    "is required for mqtt monitors, as in mqtt://broker.internal:1883 or mqtts://broker.internal:8883",
                );
                None
            }
            Some(u) => match parse_mqtt_url(u) {
                Ok(t) => Some(t),
                Err(m) => {
                    errs.push("url", m);
                    None
                }
            },
        };
        let judgement = judgement(
            "mqtt",
            self.verify_tls,
            self.expect.as_ref(),
            self.warn.as_ref(),
            target.as_ref().map(|t| (t.host.as_str(), t.port, t.tls)),
            errs,
        );
        let mut username = target.as_ref().and_then(|t| t.username.clone());
        let mut password = target.as_ref().and_then(|t| t.password.clone());
        if let Some(u) = &self.username {
            if username.is_some() {
                errs.push(
                    "username",
                    "is also given in the URL; give the user in one place",
                );
            } else if checked_text("username", u, errs) {
                username = Some(u.clone());
            }
        }
        if let Some(p) = &self.password {
            if password.is_some() {
                errs.push(
                    "password",
                    "is also given in the URL; give the password in one place",
                );
            } else if p.len() > MAX_TEXT_BYTES {
                errs.push(
                    "password",
                    format!("must be at most {MAX_TEXT_BYTES} bytes"),
                );
            } else {
                password = Some(p.clone());
            }
        }
        if password.is_some() && username.is_none() && target.is_some() {
            errs.push(
                "password",
                "needs a user name (MQTT sends a password only with one): set username",
            );
        }
        let client_id = match &self.client_id {
            Some(id) if checked_text("client_id", id, errs) => Some(id.clone()),
            _ => None,
        };
        let keep_alive = match self.keep_alive {
            None => DEFAULT_MQTT_KEEP_ALIVE.as_secs() as u16,
            Some(d) if d.0.subsec_nanos() != 0 => {
                errs.push("keep_alive", "must be whole seconds");
                0
            }
            Some(d) => match u16::try_from(d.0.as_secs()) {
                Ok(s) => s,
                Err(_) => {
                    errs.push("keep_alive", "must be at most 65535s (18h12m15s)");
                    0
                }
            },
        };
        let publish = match &self.publish {
            None => None,
            Some(p) => {
                let topic = match p.topic.as_deref() {
                    None | Some("") => {
                        errs.push(
                            "publish.topic",
                            "is required for a round trip, as in vigilmon/probe",
                        );
                        None
                    }
                    Some(t) if t.contains(['+', '#']) => {
                        errs.push(
                            "publish.topic",
                            "must not contain the wildcards + or #: it is published on",
                        );
                        None
                    }
                    Some(t) if checked_text("publish.topic", t, errs) => Some(t.to_owned()),
                    Some(_) => None,
                };
                let message = match p.message.as_deref() {
                    None => Some(DEFAULT_MQTT_MESSAGE.to_owned()),
                    Some(m) if checked_text("publish.message", m, errs) => Some(m.to_owned()),
                    Some(_) => None,
                };
                topic.zip(message)
            }
        };
        let t = target?;
        Some(MqttSpec {
            host: t.host,
            port: t.port,
            tls: t.tls,
            username,
            password,
            client_id,
            keep_alive,
            publish,
            judgement,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::monitor::{CheckSpec, MonitorConfig, MonitorSpec};
    use crate::validation::ValidationError;

    fn build(v: Value) -> Result<MonitorSpec, Vec<ValidationError>> {
        let mut base = json!({"name": "broker", "type": "mqtt"});
        if let (Value::Object(b), Value::Object(extra)) = (&mut base, v) {
            b.extend(extra);
        }
        serde_json::from_value::<MonitorConfig>(base)
            .unwrap()
            .build()
    }

    fn mqtt(v: Value) -> super::MqttSpec {
        match build(v).unwrap().check {
            CheckSpec::Mqtt(m) => m,
            other => panic!("an mqtt spec, not {other:?}"),
        }
    }

    fn errors(v: Value) -> Vec<(String, String)> {
        let mut e: Vec<_> = build(v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect();
        e.sort();
        e
    }

    #[test]
    fn urls_give_host_port_tls_and_credentials() {
        let m = mqtt(json!({"url": "mqtt://broker.internal"}));
        assert_eq!(
            (m.host.as_str(), m.port, m.tls),
            ("broker.internal", 1883, false)
        );
        assert_eq!((m.username, m.password, m.keep_alive), (None, None, 30));
        assert!(m.judgement.certificate.is_none() && m.publish.is_none());
        let m = mqtt(
            json!({"url": "mqtts://mon:p%40ss@[::1]", "keep_alive": "1m",
            "client_id": "probe-1", "expect": {"cert_expiry": "3d"}}),
        );
        assert_eq!((m.host.as_str(), m.port, m.tls), ("::1", 8883, true));
        assert_eq!(m.username.as_deref(), Some("mon"));
        assert_eq!(m.password.as_deref(), Some("p@ss"));
        assert_eq!(
            (m.keep_alive, m.client_id.as_deref()),
            (60, Some("probe-1"))
        );
        let cert = m.judgement.certificate.unwrap();
        assert_eq!(
            cert.cert_expiry_down,
            Some(std::time::Duration::from_secs(3 * 86_400))
        );
        let m = mqtt(
            json!({"url": "mqtt://b:1884", "username": "mon", "password": "pw",
            "publish": {"topic": "vigilmon/probe"}}),
        );
        assert_eq!(
            (m.username.as_deref(), m.password.as_deref()),
            (Some("mon"), Some("pw"))
        );
        assert_eq!(
            m.publish,
            Some(("vigilmon/probe".to_owned(), "vigilmon probe".to_owned()))
        );
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(errors(json!({}))[0].0, "url");
        let e = errors(json!({"url": "amqp://b"}));
        assert_eq!(e[0].0, "url");
        assert!(e[0].1.contains("use mqtt:// or mqtts://"), "{e:?}");
        assert_eq!(errors(json!({"url": "mqtt://b/topic"}))[0].0, "url");
        assert_eq!(errors(json!({"url": "mqtt://:pw@b"}))[0].0, "url");
        let e = errors(json!({"url": "mqtt://b", "verify_tls": false,
            "warn": {"cert_expiry": "20d"}, "expect": {"status": 200}}));
        let fields: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["expect.status", "verify_tls", "warn.cert_expiry"]);
        assert!(e[1].1.contains("mqtts://"), "{e:?}");
        let e = errors(json!({"url": "mqtt://u:p@b", "username": "v", "password": "q"}));
        let fields: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["password", "username"]);
        assert_eq!(
            errors(json!({"url": "mqtt://b", "password": "q"}))[0].0,
            "password"
        );
        let e = errors(
            json!({"url": "mqtt://b", "keep_alive": "1500ms", "client_id": "",
            "publish": {"topic": "a/#", "message": "x\u{0}"}}),
        );
        let fields: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "client_id",
                "keep_alive",
                "publish.message",
                "publish.topic"
            ]
        );
        assert_eq!(
            errors(json!({"url": "mqtt://b", "keep_alive": "19h"}))[0].0,
            "keep_alive"
        );
        assert_eq!(
            errors(json!({"url": "mqtt://b", "publish": {}}))[0].0,
            "publish.topic"
        );
    }

    #[test]
    fn passwords_are_secrets_and_the_target_is_masked() {
        use crate::secret::{MASK, Secrets, masked};
        let mut c: MonitorConfig = serde_json::from_value(json!({"name": "b", "type": "mqtt",
            "url": "mqtts://mon:hunter2@b:8883", "password": "other"}))
        .unwrap();
        let mut seen = Vec::new();
        c.visit_secrets(&mut |path, _, v| seen.push((path.to_owned(), v.clone())));
        assert_eq!(seen.len(), 2, "{seen:?}");
        let shown = masked(&c);
        let m = shown.kind.as_mqtt().unwrap();
        assert_eq!(m.url.as_deref(), Some("mqtts://mon:********@b:8883"));
        assert_eq!(m.password.as_deref(), Some(MASK));
        assert_eq!(c.target_words(), "mqtts://mon:********@b:8883");
    }
}
