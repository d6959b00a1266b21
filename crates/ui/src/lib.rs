//! The web UI: server-rendered pages (askama templates compiled into the binary),
//! readable without JavaScript, with a small script that keeps pages live by polling
//! small endpoints.
//!
//! Security model (see `docs/ui.md`): a session cookie (HttpOnly, SameSite=Lax,
//! Secure behind https) whose SHA-256 digest is stored; a per-session CSRF token in
//! every state-changing form, checked before any handler runs; `Origin` /
//! `Sec-Fetch-Site` checked on every POST and live endpoint; login rate-limited per
//! IP; every value users typed is escaped by the templates (nothing user-typed is ever
//! marked safe); a strict Content-Security-Policy (scripts and styles only from
//! `/assets`).
//!
//! The pages call the application layer's steps (`app::monitors::create_monitor`,
//! `after_monitor_change`, `app::channels::create_channel_config`, …), as the API
//! does, so a change made in the UI has exactly the effects of the same change made
//! through the API.

mod account;
mod alerting_common;
mod assets;
mod channels;
pub(crate) mod charts;
pub mod dashboard;
mod form;
pub(crate) mod format;
/// The form decoders reached without a server, for the fuzz targets: they are
/// private to this crate otherwise.
#[doc(hidden)]
pub mod fuzzing;
mod incidents;
mod maintenance;
mod monitor_form;
mod monitor_page;
mod policies;
mod regions;
mod session;
mod status_pages;
mod tokens;
mod users;

use std::sync::Arc;

use askama::Template;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use vigilmon_app::AppError;
use vigilmon_app::AppState;

pub(crate) use session::{Posted, Session, UiState};

/// `?v=` of a live endpoint: the version of the parts the page shows.
#[derive(serde::Deserialize)]
pub(crate) struct LiveQuery {
    pub v: Option<String>,
}

/// A live endpoint's answer when something changed: the URL to poll next and the
/// page's parts rendered again (the script swaps them in by name).
pub(crate) fn live_parts(
    next: String,
    parts: std::collections::BTreeMap<&'static str, String>,
) -> Response {
    #[derive(serde::Serialize)]
    struct LiveParts {
        next: String,
        parts: std::collections::BTreeMap<&'static str, String>,
    }
    axum::Json(LiveParts { next, parts }).into_response()
}

/// The UI's routes, with their own state (rate limiter), security headers and gzip.
pub fn router(front: &vigilmon_app::front::Front) -> Router<AppState> {
    let ui = Arc::new(UiState::new(front.tracked_clients, front.sign_in_window));
    Router::new()
        .route("/", get(dashboard::index))
        .route("/live/dashboard", get(dashboard::live))
        .route("/setup", get(account::setup_form).post(account::setup))
        .route("/login", get(account::login_form).post(account::login))
        .route("/logout", post(account::logout))
        .route("/account", get(account::page))
        .route("/account/password", post(account::change_password))
        .route(
            "/monitors/new",
            get(monitor_form::new_form).post(monitor_form::new_submit),
        )
        .route("/monitors/{id}", get(monitor_page::page))
        .route("/monitors/{id}/live", get(monitor_page::live))
        .route(
            "/monitors/{id}/edit",
            get(monitor_form::edit_form).post(monitor_form::edit_submit),
        )
        .route("/monitors/{id}/pause", post(monitor_page::pause))
        .route("/monitors/{id}/resume", post(monitor_page::resume))
        .route("/monitors/{id}/check", post(monitor_page::check_now))
        .route(
            "/monitors/{id}/delete",
            get(monitor_page::delete_confirm).post(monitor_page::delete),
        )
        .route("/incidents", get(incidents::list))
        .route("/incidents/live", get(incidents::list_live))
        .route("/incidents/{id}", get(incidents::page))
        .route("/incidents/{id}/live", get(incidents::live))
        .route("/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/incidents/{id}/resolve", post(incidents::resolve))
        .route("/incidents/{id}/notes", post(incidents::note))
        .route("/channels", get(channels::list).post(channels::create))
        .route("/channels/{name}", get(channels::page))
        .route(
            "/channels/{name}/edit",
            get(channels::edit_form).post(channels::save),
        )
        .route("/channels/{name}/test", post(channels::test))
        .route("/channels/{name}/delete", post(channels::delete))
        .route("/policies", get(policies::list).post(policies::create))
        .route(
            "/policies/{name}/edit",
            get(policies::edit_form).post(policies::save),
        )
        .route("/policies/{name}/delete", post(policies::delete))
        .route(
            "/maintenance",
            get(maintenance::list).post(maintenance::create),
        )
        .route(
            "/maintenance/{id}/edit",
            get(maintenance::edit_form).post(maintenance::save),
        )
        .route("/maintenance/{id}/end", post(maintenance::end))
        .route("/maintenance/{id}/delete", post(maintenance::delete))
        .route("/tokens", get(tokens::page).post(tokens::create))
        .route("/regions", get(regions::page))
        .route("/users", get(users::page).post(users::create))
        .route("/users/{id}/role", post(users::set_role))
        .route("/users/{id}/delete", post(users::delete))
        .route("/status-pages", get(status_pages::list))
        .route(
            "/status-pages/new",
            get(status_pages::new_form).post(status_pages::create),
        )
        .route(
            "/status-pages/{slug}/edit",
            get(status_pages::edit_form).post(status_pages::edit),
        )
        .route(
            "/status-pages/{slug}/delete",
            get(status_pages::delete_confirm).post(status_pages::delete),
        )
        .route("/tokens/{id}/revoke", post(tokens::revoke))
        .route("/assets/{file}", get(assets::serve))
        .layer(middleware::from_fn(security_headers))
        .layer(Extension(ui))
        .layer(tower_http::compression::CompressionLayer::new())
}

/// Headers on every UI response: a strict CSP, no framing, no sniffing, no caching of
/// signed-in pages (assets set their own caching).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        if !h.contains_key(&k) {
            h.insert(k, HeaderValue::from_static(v));
        }
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::CACHE_CONTROL, "no-store");
    resp
}

/// What the page layout needs: title, navigation, who is signed in, the CSRF token
/// for the logout form, and a notice to show.
pub(crate) struct Layout {
    pub title: String,
    /// Which navigation entry is current.
    pub nav: &'static str,
    pub user: Option<String>,
    pub csrf: String,
    /// A fixed notice chosen by code (never user text from the URL).
    pub notice: Option<&'static str>,
    /// Why the config file as last read is not the one running, when it is not.
    pub config_problem: Option<String>,
    /// URL the page script polls for live updates, if any.
    pub live: Option<String>,
    pub can_write: bool,
    /// Whether the users page is open to this user (owners and admins).
    pub can_manage_users: bool,
    /// Cache-busting suffix of the asset URLs.
    pub v: &'static str,
}

impl Layout {
    /// The main navigation: (href, key compared with `nav`, label), the users page only
    /// for those who may manage users.
    pub fn nav_items(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        let mut items = vec![
            ("/", "dashboard", "Dashboard"),
            ("/incidents", "incidents", "Incidents"),
            ("/channels", "channels", "Channels"),
            ("/policies", "policies", "Policies"),
            ("/maintenance", "maintenance", "Maintenance"),
            ("/status-pages", "status-pages", "Status pages"),
            ("/regions", "regions", "Regions"),
            ("/tokens", "tokens", "API tokens"),
        ];
        if self.can_manage_users {
            items.push(("/users", "users", "Users"));
        }
        items
    }

    pub fn new(title: impl Into<String>, nav: &'static str, s: &Session) -> Self {
        Self {
            title: title.into(),
            nav,
            user: Some(s.user.email.clone()),
            csrf: s.csrf.clone(),
            notice: None,
            config_problem: s.config_problem.clone(),
            live: None,
            can_write: s.can_write(),
            can_manage_users: matches!(s.user.role.as_str(), "owner" | "admin"),
            v: assets::VERSION,
        }
    }

    /// The layout of pages shown before signing in.
    pub fn public(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            nav: "",
            user: None,
            csrf: String::new(),
            notice: None,
            config_problem: None,
            live: None,
            can_write: false,
            can_manage_users: false,
            v: assets::VERSION,
        }
    }

    pub fn notice(mut self, code: Option<&str>) -> Self {
        self.notice = code.and_then(notice_text);
        self
    }

    pub fn live(mut self, url: String) -> Self {
        self.live = Some(url);
        self
    }
}

/// The notices a redirect may ask for with `?ok=<code>`.
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "Monitor created.",
        "saved" => "Changes saved.",
        "deleted" => "Monitor deleted.",
        "paused" => "Monitor paused: it is not checked and sends no alerts.",
        "resumed" => "Monitor resumed: it is pending until its next result.",
        "checked" => "Checked just now.",
        "acknowledged" => "Incident acknowledged.",
        "resolved" => "Incident resolved.",
        "noted" => "Note added.",
        "channel" => "Channel created.",
        "channel-deleted" => "Channel deleted.",
        "channel-saved" => "Channel saved.",
        "policy-saved" => "Policy saved.",
        "window-saved" => "Maintenance window saved.",
        "policy" => "Policy created.",
        "policy-deleted" => "Policy deleted.",
        "window" => "Maintenance window created.",
        "window-ended" => "Maintenance window ended.",
        "window-deleted" => "Maintenance window deleted.",
        "revoked" => "Token revoked.",
        "user-created" => "User added. They can sign in with the password you gave.",
        "role" => "Role changed. That user was signed out everywhere.",
        "user-removed" => "User removed and signed out everywhere.",
        "page-created" => "Status page created.",
        "page-saved" => "Status page saved.",
        "page-deleted" => "Status page deleted.",
        "password" => "Password changed. Every other session was signed out.",
        "welcome" => "Welcome to Vigilmon. Create your first monitor to start watching.",
        _ => return None,
    })
}

/// Query string of pages that show a notice after a redirect.
#[derive(serde::Deserialize, Default)]
pub(crate) struct NoticeQuery {
    pub ok: Option<String>,
}

/// Renders a template into an HTML response (a 500 page if rendering fails).
pub(crate) fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => UiError::Internal(format!("rendering failed: {e}")).into_response(),
    }
}

/// A 303 redirect (after a POST, the browser GETs the new page).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Why a UI request failed; rendered as a small error page.
#[derive(Debug)]
pub(crate) enum UiError {
    NotFound(String),
    Forbidden(String),
    BadRequest(String),
    Conflict(String),
    TooMany(String),
    Internal(String),
}

#[derive(Template)]
#[template(path = "error.html", whitespace = "minimize")]
struct ErrorPage {
    l: Layout,
    status: u16,
    heading: &'static str,
    message: String,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            UiError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            UiError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            UiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m),
            UiError::Conflict(m) => (StatusCode::CONFLICT, "Not possible", m),
            UiError::TooMany(m) => (StatusCode::TOO_MANY_REQUESTS, "Too many attempts", m),
            UiError::Internal(m) => {
                tracing::error!(message = "UI request failed", error = %m);
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not complete this request; the details are in its log."
                        .to_owned(),
                )
            }
        };
        let page = ErrorPage {
            l: Layout::public(heading),
            status: status.as_u16(),
            heading,
            message,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {heading}", status.as_u16()));
        (status, Html(body)).into_response()
    }
}

impl From<AppError> for UiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Unauthorized(m) => UiError::Forbidden(m.to_owned()),
            AppError::Forbidden(m) => UiError::Forbidden(m),
            AppError::NotFound(m) => UiError::NotFound(m),
            AppError::BadRequest { message, .. } => UiError::BadRequest(message),
            AppError::Invalid(errs) => UiError::BadRequest(
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            AppError::Conflict { message, .. } => UiError::Conflict(message),
            AppError::PayloadTooLarge(m) => UiError::BadRequest(m),
            AppError::Unavailable(m) | AppError::Internal(m) => UiError::Internal(m),
        }
    }
}

impl From<vigilmon_store::StoreError> for UiError {
    fn from(e: vigilmon_store::StoreError) -> Self {
        UiError::from(AppError::from(e))
    }
}

/// Problems with a submitted form, by field, to show next to the inputs.
#[derive(Debug, Default, Clone)]
pub(crate) struct FieldErrors {
    /// (form field, message); the field is `""` for problems that name no field.
    pub list: Vec<(String, String)>,
}

impl FieldErrors {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.list.push((field.into(), message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The messages for one field, joined.
    pub fn get(&self, field: &str) -> Option<String> {
        let msgs: Vec<&str> = self
            .list
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .collect();
        (!msgs.is_empty()).then(|| msgs.join("; "))
    }

    /// Whether a field has a problem.
    pub fn has(&self, field: &str) -> bool {
        self.list.iter().any(|(f, _)| f == field)
    }

    /// Every problem, in words.
    pub fn all(&self) -> Vec<String> {
        self.general(&[])
    }

    /// Problems that belong to no shown field.
    pub fn general(&self, shown: &[&str]) -> Vec<String> {
        self.list
            .iter()
            .filter(|(f, _)| !shown.contains(&f.as_str()))
            .map(|(f, m)| {
                if f.is_empty() {
                    m.clone()
                } else {
                    format!("{f}: {m}")
                }
            })
            .collect()
    }

    /// Maps an API error from a shared step: validation problems go next to their
    /// fields (through `field_of`), a conflict on a field next to it, anything else
    /// becomes an error page.
    pub fn from_api(e: AppError, field_of: impl Fn(&str) -> String) -> Result<Self, UiError> {
        let mut out = FieldErrors::default();
        match e {
            AppError::Invalid(errs) => {
                for v in errs {
                    out.push(field_of(&v.field), v.message);
                }
            }
            AppError::Conflict {
                message,
                field: Some(f),
                ..
            } => out.push(field_of(&f), message),
            AppError::Conflict { message, .. } => out.push("", message),
            AppError::BadRequest { message, field } => {
                out.push(field.map(|f| field_of(&f)).unwrap_or_default(), message);
            }
            other => return Err(other.into()),
        }
        Ok(out)
    }
}
