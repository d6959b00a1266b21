//! Webhook: a JSON event POSTed to any URL, signed with HMAC-SHA256 when the channel has
//! a secret.
//!
//! Body (`version` 1; fields are only ever added within a version):
//!
//! ```json
//! {"version": 1, "id": "…", "event": "trigger", "at": "2025-01-01T00:00:00Z",
//!  "summary": "[P1] DOWN: api — …",
//!  "incident": {"id": "…", "dedup_key": "…", "priority": "P1", "opened_at": "…",
//!               "duration_seconds": null, "acknowledged_by": null},
//!  "monitor": {"id": "…", "name": "api", "kind": "http", "state": "down"},
//!  "cause": "…", "regions": [{"region": "eu", "ok": false, "error": "…", "checked_at": "…"}],
//!  "links": {"monitor": "…", "incident": "…", "ack": "…"}}
//! ```
//!
//! `id` is the same for every retry of one notification: receivers can drop duplicates.
//!
//! Headers: the channel's own `headers` first, then `Content-Type: application/json`,
//! `X-Vigilmon-Event: <event>` and, with a secret,
//! `X-Vigilmon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! which take precedence over a configured header of the same name. `t` is the time of
//! sending (each retry is signed afresh), so receivers can refuse old replays.
//!
//! Settings: [`WebhookConfig`] (`url`, `secret` for signatures, `headers`).

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vigilmon_core::ValidationError;

use crate::spec::{ChannelSpec, http_url};
use crate::text;
use crate::{Event, Notification};

/// A webhook channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST the JSON event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HMAC-SHA256 signing secret (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

impl WebhookConfig {
    /// Validates the settings, recording every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Vec<ValidationError>) -> Option<ChannelSpec> {
        let mut headers = Vec::new();
        for (k, v) in self.headers.iter().flatten() {
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            {
                errs.push(ValidationError::new(
                    format!("headers.{k}"),
                    "is not a valid header name",
                ));
            } else if v.bytes().any(|b| b == b'\r' || b == b'\n') {
                errs.push(ValidationError::new(
                    format!("headers.{k}"),
                    "must not contain line breaks",
                ));
            } else {
                headers.push((k.clone(), v.clone()));
            }
        }
        if self.secret.as_deref().is_some_and(|s| s.len() < 16) {
            errs.push(ValidationError::new(
                "secret",
                "must be at least 16 characters",
            ));
        }
        http_url(errs, "url", self.url.as_deref(), true).map(|url| ChannelSpec::Webhook {
            url,
            secret: self.secret.clone(),
            headers,
        })
    }
}

/// The version of the body's shape.
pub const VERSION: u32 = 1;
/// The header naming the event.
pub const EVENT_HEADER: &str = "x-vigilmon-event";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-vigilmon-signature";

/// A stable id for one notification: the same on every retry, different for every
/// event of an incident.
fn id(n: &Notification) -> String {
    let mut h = Sha256::new();
    h.update(n.dedup_key.as_bytes());
    h.update(b"\n");
    h.update(n.event.as_str().as_bytes());
    h.update(b"\n");
    h.update(n.at.as_millisecond().to_string().as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The JSON body for `n` (see the module docs for its shape).
pub fn render(n: &Notification) -> Value {
    fn link(u: &Option<String>) -> Option<&str> {
        u.as_deref().filter(|u| text::is_http_url(u))
    }
    let ack = if text::wants_ack(n.event) {
        link(&n.links.ack_url)
    } else {
        None
    };
    json!({
        "version": VERSION,
        "id": id(n),
        "event": n.event,
        "at": n.at.to_string(),
        "summary": n.summary(),
        "incident": {
            "id": n.incident_id,
            "dedup_key": n.dedup_key,
            "priority": n.priority.as_str(),
            "opened_at": n.opened_at.map(|t| t.to_string()),
            "duration_seconds": n.duration.map(|d| d.as_secs()),
            "acknowledged_by": n.acknowledged_by,
        },
        "monitor": {
            "id": n.monitor_id,
            "name": n.monitor_name,
            "kind": n.monitor_kind,
            "state": n.state,
        },
        "cause": n.cause,
        "regions": n.regions.iter().map(|r| json!({
            "region": r.region,
            "ok": r.ok,
            "error": r.error,
            "checked_at": r.checked_at.map(|t| t.to_string()),
        })).collect::<Vec<_>>(),
        "links": {
            "monitor": link(&n.links.monitor_url),
            "incident": link(&n.links.incident_url),
            "ack": ack,
        },
    })
}

/// The `X-Vigilmon-Signature` value for `body` sent at `timestamp` (unix seconds):
/// `t=<timestamp>,v1=<lowercase hex HMAC-SHA256 of "<timestamp>.<body>" keyed by secret>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// The request headers: the channel's, then the event and (with a secret) the
/// signature of `body` at `timestamp`. `Err` names a header that cannot be sent.
pub(crate) fn headers(
    configured: &[(String, String)],
    secret: Option<&str>,
    timestamp: i64,
    event: Event,
    body: &[u8],
) -> Result<HeaderMap, String> {
    let mut h = HeaderMap::new();
    for (k, v) in configured {
        let (k, v) = crate::header_pair(k, v)?;
        h.append(k, v);
    }
    h.insert(
        HeaderName::from_static(EVENT_HEADER),
        HeaderValue::from_static(event.as_str()),
    );
    if let Some(secret) = secret {
        let sig = HeaderValue::from_str(&signature(secret, timestamp, body))
            .map_err(|_| "cannot encode the signature header".to_owned())?;
        h.insert(HeaderName::from_static(SIGNATURE_HEADER), sig);
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Links;
    use std::time::Duration;
    use vigilmon_core::alert::Priority;

    fn n(event: Event) -> Notification {
        Notification {
            event,
            dedup_key: "vigilmon-k".into(),
            incident_id: Some(uuid::Uuid::nil()),
            monitor_id: Some(uuid::Uuid::max()),
            monitor_name: "api".into(),
            monitor_kind: "http".into(),
            state: "up".into(),
            priority: Priority::P3,
            cause: "ok".into(),
            regions: vec![],
            opened_at: None,
            at: "2025-01-01T00:00:00Z".parse().unwrap(),
            duration: Some(Duration::from_secs(61)),
            acknowledged_by: None,
            links: Links {
                ack_url: Some("https://v.example/ack".into()),
                ..Links::default()
            },
        }
    }

    #[test]
    fn body_shape() {
        let v = render(&n(Event::Resolved));
        assert_eq!(v["version"], 1);
        assert_eq!(v["event"], "resolved");
        assert_eq!(v["at"], "2025-01-01T00:00:00Z");
        assert_eq!(v["incident"]["id"], uuid::Uuid::nil().to_string());
        assert_eq!(v["incident"]["dedup_key"], "vigilmon-k");
        assert_eq!(v["incident"]["priority"], "P3");
        assert_eq!(v["incident"]["duration_seconds"], 61);
        assert_eq!(v["monitor"]["kind"], "http");
        assert_eq!(v["links"]["ack"], Value::Null, "no ack link once resolved");
        assert_eq!(
            render(&n(Event::Trigger))["links"]["ack"],
            "https://v.example/ack"
        );
        assert_eq!(
            v["id"],
            render(&n(Event::Resolved))["id"],
            "stable across retries"
        );
        assert_ne!(v["id"], render(&n(Event::Trigger))["id"]);
        assert_eq!(v["id"].as_str().unwrap().len(), 32);
    }

    #[test]
    fn signature_known_answer() {
        // HMAC-SHA256("secret", "1700000000.{}"), computed independently with
        // `printf '1700000000.{}' | openssl dgst -sha256 -hmac secret`.
        assert_eq!(
            signature("secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }

    #[test]
    fn header_precedence() {
        let configured = vec![
            ("X-Vigilmon-Event".to_owned(), "spoofed".to_owned()),
            ("Authorization".to_owned(), "Bearer t".to_owned()),
        ];
        let h = headers(
            &configured,
            Some("0123456789abcdef"),
            5,
            Event::Trigger,
            b"x",
        )
        .unwrap();
        assert_eq!(h.get_all(EVENT_HEADER).iter().count(), 1);
        assert_eq!(h[EVENT_HEADER], "trigger");
        assert_eq!(h["authorization"], "Bearer t");
        assert!(h[SIGNATURE_HEADER].to_str().unwrap().starts_with("t=5,v1="));
        let h = headers(&[], None, 5, Event::Test, b"x").unwrap();
        assert!(h.get(SIGNATURE_HEADER).is_none());
        assert!(
            headers(
                &[("bad name".into(), "v".into())],
                None,
                0,
                Event::Test,
                b""
            )
            .is_err()
        );
    }
}
