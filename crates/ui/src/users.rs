//! The users page (`/users`, owners and admins only): list the accounts with their
//! role, creation and last sign-in; add one (email, role, initial password with the
//! rules of setup); change a role; remove an account.
//!
//! Rules, checked here and (for the last owner) again in the store's transaction:
//! only an owner may create, promote, demote or remove an owner; nobody removes
//! themselves; the last owner can be neither demoted nor removed. A role change or a
//! removal ends every session of that user. A refused change is explained on the
//! page and changes nothing.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use uuid::Uuid;
use vigilmon_store::UserChange;

use super::format::{self, When};
use super::session::{SESSION_COOKIE, clear_cookie};
use super::{FieldErrors, Layout, NoticeQuery, Posted, Session, UiError, render, see_other};
use vigilmon_app::AppState;

/// The roles, most powerful first.
pub(crate) const ROLES: [&str; 4] = ["owner", "admin", "editor", "viewer"];

/// Refuses the page to anyone but owners and admins.
fn require_admin(s: &Session) -> Result<(), UiError> {
    if matches!(s.user.role.as_str(), "owner" | "admin") {
        Ok(())
    } else {
        Err(UiError::Forbidden(format!(
            "only owners and admins manage users (your role is {})",
            s.user.role
        )))
    }
}

pub(crate) struct UserRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub created: String,
    pub last_sign_in: Option<When>,
    pub you: bool,
    /// Whether the signed-in user may change or remove this one.
    pub manageable: bool,
}

/// What the new-user form holds (never the password).
#[derive(Default)]
pub(crate) struct NewUser {
    pub email: String,
    pub role: String,
}

#[derive(Template)]
#[template(path = "users.html", whitespace = "minimize")]
struct UsersPage {
    l: Layout,
    rows: Vec<UserRow>,
    /// The roles the signed-in user may give.
    roles: Vec<&'static str>,
    /// Problems with the new-user form, by field.
    errors: FieldErrors,
    /// Why a change to an existing user was refused.
    refused: Option<String>,
    form: NewUser,
}

/// The roles `s` may give: an owner any, an admin all but owner.
fn grantable(s: &Session) -> Vec<&'static str> {
    ROLES
        .into_iter()
        .filter(|r| s.user.role == "owner" || *r != "owner")
        .collect()
}

async fn users_page(
    st: &AppState,
    s: &Session,
    notice: Option<&str>,
    errors: FieldErrors,
    refused: Option<String>,
    form: NewUser,
) -> Result<UsersPage, UiError> {
    let now = st.now();
    let rows = st
        .store()
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            id: u.user.id.to_string(),
            you: u.user.id == s.user.id,
            manageable: s.user.role == "owner" || u.user.role != "owner",
            email: u.user.email,
            role: u.user.role,
            created: format::utc(u.user.created_at),
            last_sign_in: When::opt(u.last_sign_in, now),
        })
        .collect();
    Ok(UsersPage {
        l: Layout::new("Users", "users", s).notice(notice),
        rows,
        roles: grantable(s),
        errors,
        refused,
        form,
    })
}

/// The page again with a refusal explained (nothing was changed).
async fn refuse(
    st: &AppState,
    s: &Session,
    status: StatusCode,
    why: String,
) -> Result<Response, UiError> {
    let page = users_page(
        st,
        s,
        None,
        FieldErrors::default(),
        Some(why),
        NewUser::default(),
    )
    .await?;
    let mut resp = render(&page);
    *resp.status_mut() = status;
    Ok(resp)
}

pub(crate) async fn page(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    require_admin(&s)?;
    let page = users_page(
        &st,
        &s,
        q.ok.as_deref(),
        FieldErrors::default(),
        None,
        NewUser {
            email: String::new(),
            role: "viewer".into(),
        },
    )
    .await?;
    Ok(render(&page))
}

pub(crate) async fn create(State(st): State<AppState>, p: Posted) -> Result<Response, UiError> {
    require_admin(&p.session)?;
    let form = NewUser {
        email: p.get("email"),
        role: p.get("role"),
    };
    let (password, confirm) = (p.raw("password"), p.raw("confirm"));
    let mut errors = FieldErrors::default();
    if !super::account::valid_email(&form.email) {
        errors.push("email", "Email: give an address such as ops@example.com.");
    }
    if !ROLES.contains(&form.role.as_str()) {
        errors.push("role", "Role: choose owner, admin, editor or viewer.");
    } else if !grantable(&p.session).contains(&form.role.as_str()) {
        errors.push("role", "Role: only an owner may create an owner.");
    }
    if password != confirm {
        errors.push("password", "Password: the two passwords differ.");
    }
    let hashed = if errors.is_empty() {
        match super::account::hash(password).await {
            Ok(h) => Some(h),
            Err(e) => {
                errors.push("password", format!("Password: {e}."));
                None
            }
        }
    } else {
        None
    };
    let created = match hashed {
        Some(h) => match st
            .store()
            .create_user(&form.email, &h, &form.role, st.now())
            .await
        {
            Ok(u) => Some(u),
            Err(vigilmon_store::StoreError::Conflict { message, .. }) => {
                errors.push("email", format!("Email: {message}."));
                None
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let Some(user) = created else {
        let page = users_page(&st, &p.session, None, errors, None, form).await?;
        let mut resp = render(&page);
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(resp);
    };
    tracing::info!(message = "user created in the web UI", email = %user.email, role = %user.role, by = %p.session.user.email);
    Ok(see_other("/users?ok=user-created"))
}

/// The user a row form names, or a 404.
async fn target(st: &AppState, id: &str) -> Result<vigilmon_store::UserRecord, UiError> {
    let missing = || UiError::NotFound("there is no such user (removed already?)".into());
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    st.store().get_user(id).await?.ok_or_else(missing)
}

pub(crate) async fn set_role(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    require_admin(&p.session)?;
    let user = target(&st, &id).await?;
    let role = p.get("role");
    let me = &p.session;
    if !ROLES.contains(&role.as_str()) {
        return refuse(
            &st,
            me,
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "Role of {}: choose owner, admin, editor or viewer.",
                user.email
            ),
        )
        .await;
    }
    if me.user.role != "owner" && (role == "owner" || user.role == "owner") {
        return refuse(
            &st,
            me,
            StatusCode::FORBIDDEN,
            format!(
                "Role of {}: only an owner may make someone an owner or change an owner's role.",
                user.email
            ),
        )
        .await;
    }
    if role == user.role {
        return Ok(see_other("/users"));
    }
    match st.store().set_user_role(user.id, &role).await? {
        UserChange::Done => {}
        UserChange::NotFound => return Err(UiError::NotFound("there is no such user".into())),
        UserChange::LastOwner => {
            return refuse(
                &st,
                me,
                StatusCode::CONFLICT,
                format!(
                    "Role of {}: this is the last owner; make someone else an owner first.",
                    user.email
                ),
            )
            .await;
        }
    }
    tracing::info!(message = "user role changed in the web UI", email = %user.email, from = %user.role, to = %role, by = %me.user.email);
    if user.id == me.user.id {
        // Their sessions ended, this one too: sign in again with the new role.
        let mut resp = see_other("/login");
        resp.headers_mut()
            .append(header::SET_COOKIE, clear_cookie(&st, SESSION_COOKIE));
        return Ok(resp);
    }
    Ok(see_other("/users?ok=role"))
}

pub(crate) async fn delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    require_admin(&p.session)?;
    let user = target(&st, &id).await?;
    let me = &p.session;
    if user.id == me.user.id {
        return refuse(
            &st,
            me,
            StatusCode::CONFLICT,
            "You cannot remove your own account; another owner or admin can.".into(),
        )
        .await;
    }
    if me.user.role != "owner" && user.role == "owner" {
        return refuse(
            &st,
            me,
            StatusCode::FORBIDDEN,
            format!("{}: only an owner may remove an owner.", user.email),
        )
        .await;
    }
    match st.store().delete_user(user.id).await? {
        UserChange::Done => {}
        UserChange::NotFound => return Err(UiError::NotFound("there is no such user".into())),
        UserChange::LastOwner => {
            return refuse(
                &st,
                me,
                StatusCode::CONFLICT,
                format!(
                    "{}: this is the last owner and cannot be removed.",
                    user.email
                ),
            )
            .await;
        }
    }
    tracing::info!(message = "user removed in the web UI", email = %user.email, by = %me.user.email);
    Ok(see_other("/users?ok=user-removed"))
}
