//! The `Host` check: a request naming a host this server does not answer for is
//! refused with `421 Misdirected Request` before any handler runs. A page on another
//! site that rebinds its own name to this server's address (DNS rebinding) makes the
//! browser send that name, so it never reaches setup, sign-in or anything else.
//!
//! Answered: IP addresses, loopback names, the public URL's host, the listen
//! address's, `server.allowed_hosts` ([`vigilmon_app::front::Front::answers_for`]) and
//! status pages' own domains. A request without a host passes (no browser sends one).

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vigilmon_app::front::normalize_host;
use vigilmon_public::PublicState;

pub(crate) async fn guard(State(st): State<PublicState>, req: Request, next: Next) -> Response {
    let host = match req.headers().get(header::HOST) {
        Some(value) => match value.to_str() {
            Ok(h) => Some(normalize_host(h)),
            Err(_) => return refused(),
        },
        None => req.uri().authority().map(|a| normalize_host(a.host())),
    };
    let Some(host) = host else {
        return next.run(req).await;
    };
    if st.front().answers_for(&host, &st.public_host())
        || st.status().is_page_domain(st.store(), &host).await
    {
        next.run(req).await
    } else {
        tracing::debug!(message = "refused a request for a host this server does not answer for", %host);
        refused()
    }
}

fn refused() -> Response {
    (
        StatusCode::MISDIRECTED_REQUEST,
        [(header::CONNECTION, "close")],
        "this server does not answer for the host name this request names; \
         if it is this server's, add it to server.allowed_hosts\n",
    )
        .into_response()
}
