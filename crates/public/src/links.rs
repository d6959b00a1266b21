//! The page behind signed acknowledge links (`/ack/{incident}`): opening a link shows
//! the incident and a button; only the POST it sends acknowledges (link previews and
//! mail scanners that fetch URLs must not acknowledge anything). Links are signed and
//! verified by `vigilmon_engine::links`.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use uuid::Uuid;
use vigilmon_engine::alerting::ActError;
use vigilmon_engine::links::verify;

use crate::PublicState;

pub fn router() -> Router<PublicState> {
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

async fn check(
    st: &PublicState,
    raw: &str,
    q: &LinkQuery,
) -> Result<(Uuid, i64, String), Response> {
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
    State(st): State<PublicState>,
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
    State(st): State<PublicState>,
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
        // Only resolves are refused this way; a link acknowledges.
        Err(ActError::StillFailing { .. }) => page(
            StatusCode::CONFLICT,
            "Still failing",
            "<p>The monitor is still down.</p>",
        ),
        Err(ActError::Unavailable(m)) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            &format!("<p>{}</p>", escape(&m)),
        ),
    }
}
