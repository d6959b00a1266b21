//! Signed, expiring acknowledge links: the one action that works without a login.
//!
//! A link is `{public_url}/ack/{incident}?exp={unix seconds}&sig={hex}` where `sig` is
//! HMAC-SHA256 over `ack:{incident}:{exp}` with a server secret: it binds the incident
//! and the action, and stops working at `exp`. Opening the link shows a page with a
//! button; only the POST it sends acknowledges (link previews and mail scanners that
//! fetch URLs must not acknowledge anything).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::Deserialize;
use sha2::Sha256;
use uuid::Uuid;

use crate::AppState;
use crate::alerting::{ActError, AlertingConfig};

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], incident: Uuid, exp: i64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(format!("ack:{incident}:{exp}").as_bytes());
    m
}

/// The signature of an acknowledge link.
pub fn sign(secret: &[u8], incident: Uuid, exp: i64) -> String {
    hex::encode(mac(secret, incident, exp).finalize().into_bytes())
}

/// A signed acknowledge link valid for the configured time from `now`.
pub fn ack_url(config: &AlertingConfig, incident: Uuid, now: Timestamp) -> String {
    let exp = now.as_second() + i64::try_from(config.link_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    format!(
        "{}/ack/{incident}?exp={exp}&sig={}",
        config.public_url,
        sign(&config.link_secret, incident, exp)
    )
}

/// Checks a link's signature (in constant time) and expiry.
pub fn verify(
    secret: &[u8],
    incident: Uuid,
    exp: i64,
    sig: &str,
    now: Timestamp,
) -> Result<(), &'static str> {
    let bytes = hex::decode(sig).map_err(|_| "the link is damaged")?;
    mac(secret, incident, exp)
        .verify_slice(&bytes)
        .map_err(|_| "the link is not valid")?;
    if now.as_second() > exp {
        return Err("the link has expired; acknowledge from the API or the UI instead");
    }
    Ok(())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/ack/{incident}", get(show).post(act))
}

#[derive(Deserialize)]
struct LinkQuery {
    exp: Option<i64>,
    sig: Option<String>,
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} · Vigilmon</title></head><body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem\">\
         <h1>{title}</h1>{body}</body></html>"
    );
    (status, Html(html)).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn check(st: &AppState, raw: &str, q: &LinkQuery) -> Result<(Uuid, i64, String), Response> {
    let bad = |m: &str| {
        page(
            StatusCode::FORBIDDEN,
            "Link not valid",
            &format!("<p>{}</p>", escape(m)),
        )
    };
    let incident = Uuid::parse_str(raw).map_err(|_| bad("the link is damaged"))?;
    let (Some(exp), Some(sig)) = (q.exp, q.sig.as_deref()) else {
        return Err(bad("the link is damaged"));
    };
    verify(st.link_secret(), incident, exp, sig, st.now()).map_err(bad)?;
    Ok((incident, exp, sig.to_owned()))
}

async fn show(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let (incident, exp, sig) = match check(&st, &raw, &q).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Ok(Some(i)) = st.store().get_incident(incident).await else {
        return page(
            StatusCode::NOT_FOUND,
            "No such incident",
            "<p>It may have been deleted with its monitor.</p>",
        );
    };
    let what = format!(
        "<p><strong>{}</strong> — {} ({})</p><p>Opened {}; state: {}.</p>",
        escape(&i.monitor_name),
        escape(&i.cause),
        escape(&i.priority),
        i.opened_at,
        escape(&i.state)
    );
    if i.state != "open" {
        return page(
            StatusCode::OK,
            "Nothing to acknowledge",
            &format!(
                "{what}<p>This incident is already {}.</p>",
                escape(&i.state)
            ),
        );
    }
    page(
        StatusCode::OK,
        "Acknowledge this incident?",
        &format!(
            "{what}<form method=\"post\" action=\"/ack/{incident}?exp={exp}&amp;sig={sig}\">\
             <button type=\"submit\" style=\"font-size:1.2rem;padding:.5rem 1rem\">Acknowledge</button></form>\
             <p>Reminders and escalation stop once it is acknowledged.</p>"
        ),
    )
}

async fn act(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let (incident, _, _) = match check(&st, &raw, &q).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match st
        .alerting()
        .acknowledge(incident, "signed link".into())
        .await
    {
        Ok(()) => page(
            StatusCode::OK,
            "Acknowledged",
            "<p>The incident is acknowledged. Reminders and escalation have stopped.</p>",
        ),
        Err(ActError::AlreadyResolved) => page(
            StatusCode::OK,
            "Already resolved",
            "<p>The incident is resolved; nothing to acknowledge.</p>",
        ),
        Err(ActError::NotFound) => page(
            StatusCode::NOT_FOUND,
            "No such incident",
            "<p>It may have been deleted with its monitor.</p>",
        ),
        Err(ActError::Unavailable(m)) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            &format!("<p>{}</p>", escape(&m)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_bind_incident_action_and_expiry() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let i = Uuid::now_v7();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let exp = now.as_second() + 60;
        let sig = sign(secret, i, exp);
        assert_eq!(verify(secret, i, exp, &sig, now), Ok(()));
        assert!(
            verify(secret, Uuid::now_v7(), exp, &sig, now).is_err(),
            "another incident"
        );
        assert!(
            verify(secret, i, exp + 1, &sig, now).is_err(),
            "another expiry"
        );
        assert!(verify(b"another secret..................", i, exp, &sig, now).is_err());
        assert!(verify(secret, i, exp, "zz", now).is_err());
        let later = Timestamp::from_second(exp + 1).unwrap();
        assert_eq!(
            verify(secret, i, exp, &sig, later),
            Err("the link has expired; acknowledge from the API or the UI instead")
        );
    }
}
