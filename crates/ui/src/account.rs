//! First-run setup, sign-in, sign-out and the account page (password change).

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::session::{PublicPosted, SESSION_COOKIE, clear_cookie, is_local_path, public_csrf};
use super::{
    FieldErrors, Layout, NoticeQuery, Posted, Session, UiError, UiState, render, see_other,
};
use vigilmon_app::AppState;
use vigilmon_app::auth::{hash_password, verify_password};

#[derive(Template)]
#[template(path = "setup.html", whitespace = "minimize")]
struct SetupPage {
    l: Layout,
    csrf: String,
    email: String,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "login.html", whitespace = "minimize")]
struct LoginPage {
    l: Layout,
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html", whitespace = "minimize")]
struct AccountPage {
    l: Layout,
    email: String,
    role: String,
    since: String,
    errors: FieldErrors,
}

/// A page shown before sign-in, setting the pre-login CSRF cookie if needed.
fn public_page(page: Response, cookie: Option<axum::http::HeaderValue>) -> Response {
    let mut resp = page;
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// Hashes a password off the async threads (Argon2id is slow on purpose). Refuses
/// passwords shorter than 10 characters (the rule of setup, the users page and
/// `vigilmon user create`).
pub(super) async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash_password(&password).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

/// Whether `email` (trimmed) looks like an address: what setup and the users page accept.
pub(super) fn valid_email(email: &str) -> bool {
    email.contains('@') && email.len() <= 254 && !email.chars().any(char::is_whitespace)
}

async fn verify(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .unwrap_or(false)
}

pub(crate) async fn setup_form(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    if st.store().count_users().await? > 0 {
        return Ok(see_other("/login"));
    }
    let (csrf, cookie) = public_csrf(&st, &headers);
    let page = SetupPage {
        l: Layout::public("Set up"),
        csrf,
        email: String::new(),
        errors: FieldErrors::default(),
    };
    Ok(public_page(render(&page), cookie))
}

pub(crate) async fn setup(
    State(st): State<AppState>,
    Extension(ui): Extension<Arc<UiState>>,
    headers: HeaderMap,
    form: PublicPosted,
) -> Result<Response, UiError> {
    if !ui.limiter.allow(form.ip, Instant::now()) {
        return Err(UiError::TooMany(
            "too many attempts from your address; wait a minute".into(),
        ));
    }
    if st.store().count_users().await? > 0 {
        return Ok(see_other("/login"));
    }
    let email = form.get("email");
    let password = form.raw("password");
    let mut errors = FieldErrors::default();
    if !st.front().setup_code.accepts(&form.raw("code")) {
        errors.push(
            "code",
            "Setup code: not the code vigilmon serve printed on its console (restart it to print it again).",
        );
    }
    if !valid_email(&email) {
        errors.push("email", "Email: give an address such as ops@example.com.");
    }
    if password != form.raw("confirm") {
        errors.push("confirm", "Password again: the two passwords differ.");
    }
    let hashed = if errors.is_empty() {
        match hash(password).await {
            Ok(h) => Some(h),
            Err(e) => {
                errors.push("password", format!("Password: {e}."));
                None
            }
        }
    } else {
        None
    };
    let Some(hashed) = hashed else {
        let (csrf, cookie) = public_csrf(&st, &headers);
        let page = SetupPage {
            l: Layout::public("Set up"),
            csrf,
            email,
            errors,
        };
        let mut resp = public_page(render(&page), cookie);
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(resp);
    };
    let Some(user) = st
        .store()
        .create_first_owner(&email, &hashed, st.now())
        .await?
    else {
        // Another setup (here or on another server of this database) won.
        return Ok(see_other("/login"));
    };
    tracing::info!(message = "owner account created in the web UI", email = %user.email);
    let cookie = Session::start(&st, &user).await?;
    let mut resp = see_other("/?ok=welcome");
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}

#[derive(Deserialize, Default)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

pub(crate) async fn login_form(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, UiError> {
    if st.store().count_users().await? == 0 {
        return Ok(see_other("/setup"));
    }
    let (csrf, cookie) = public_csrf(&st, &headers);
    let page = LoginPage {
        l: Layout::public("Sign in"),
        csrf,
        next: q.next.filter(|n| is_local_path(n)).unwrap_or_default(),
        email: String::new(),
        error: None,
    };
    Ok(public_page(render(&page), cookie))
}

pub(crate) async fn login(
    State(st): State<AppState>,
    Extension(ui): Extension<Arc<UiState>>,
    headers: HeaderMap,
    form: PublicPosted,
) -> Result<Response, UiError> {
    if !ui.limiter.allow(form.ip, Instant::now()) {
        tracing::warn!(message = "login rate limit hit", ip = %form.ip);
        return Err(UiError::TooMany(
            "too many sign-in attempts from your address; wait a minute and try again".into(),
        ));
    }
    let email = form.get("email");
    let password = form.raw("password");
    let next = Some(form.get("next"))
        .filter(|n| is_local_path(n))
        .unwrap_or_else(|| "/".to_owned());
    let found = st.store().user_by_email(&email).await?;
    let ok = match &found {
        Some((_, stored)) => verify(password, stored.clone()).await,
        None => {
            // Same work for an unknown email, so timing does not tell them apart.
            let _ = verify(password, ui.dummy_hash()).await;
            false
        }
    };
    match found {
        Some((user, _)) if ok => {
            let cookie = Session::start(&st, &user).await?;
            let mut resp = see_other(&next);
            resp.headers_mut().append(header::SET_COOKIE, cookie);
            Ok(resp)
        }
        _ => {
            let (csrf, cookie) = public_csrf(&st, &headers);
            let page = LoginPage {
                l: Layout::public("Sign in"),
                csrf,
                next: if next == "/" { String::new() } else { next },
                email,
                error: Some("That email and password do not match an account.".into()),
            };
            let mut resp = public_page(render(&page), cookie);
            *resp.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            Ok(resp)
        }
    }
}

pub(crate) async fn logout(State(st): State<AppState>, p: Posted) -> Result<Response, UiError> {
    st.store().delete_session(&p.session.id_hash).await?;
    let mut resp = see_other("/login");
    resp.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(&st, SESSION_COOKIE));
    Ok(resp)
}

pub(crate) async fn page(s: Session, Query(q): Query<NoticeQuery>) -> Result<Response, UiError> {
    Ok(render(&account_page(
        &s,
        q.ok.as_deref(),
        FieldErrors::default(),
    )))
}

fn account_page(s: &Session, notice: Option<&str>, errors: FieldErrors) -> AccountPage {
    AccountPage {
        l: Layout::new("Account", "account", s).notice(notice),
        email: s.user.email.clone(),
        role: s.user.role.clone(),
        since: super::format::utc(s.user.created_at),
        errors,
    }
}

pub(crate) async fn change_password(
    State(st): State<AppState>,
    Extension(ui): Extension<Arc<UiState>>,
    p: Posted,
) -> Result<Response, UiError> {
    let (current, new, confirm) = (p.raw("current"), p.raw("new"), p.raw("confirm"));
    let mut errors = FieldErrors::default();
    let stored = st
        .store()
        .user_by_email(&p.session.user.email)
        .await?
        .map(|(_, h)| h)
        .unwrap_or_else(|| ui.dummy_hash());
    if !verify(current, stored).await {
        errors.push("current", "The current password is not right.");
    } else if new != confirm {
        errors.push("new", "The two new passwords differ.");
    }
    let hashed = if errors.is_empty() {
        match hash(new).await {
            Ok(h) => Some(h),
            Err(e) => {
                errors.push("new", format!("New password: {e}."));
                None
            }
        }
    } else {
        None
    };
    let Some(hashed) = hashed else {
        let mut resp = render(&account_page(&p.session, None, errors));
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(resp);
    };
    // Ends every session of this user (this one too) in the same transaction.
    st.store().set_password(p.session.user.id, &hashed).await?;
    let cookie = Session::start(&st, &p.session.user).await?;
    let mut resp = see_other("/account?ok=password");
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp.into_response())
}
