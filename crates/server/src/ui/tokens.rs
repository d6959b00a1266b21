//! API tokens: create one (its secret is shown once, on the page that created it),
//! list them with their last use, revoke one. Only the SHA-256 digest is stored.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use uuid::Uuid;

use super::format::{self, When};
use super::{FieldErrors, Layout, NoticeQuery, Posted, Session, UiError, render, see_other};
use crate::AppState;
use crate::auth::{Scope, generate_token, hash_token};

pub(crate) struct TokenRow {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub created: String,
    pub last_used: Option<When>,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "tokens.html", whitespace = "minimize")]
struct TokensPage {
    l: Layout,
    rows: Vec<TokenRow>,
    /// A token just created: shown this once.
    created: Option<(String, String)>,
    errors: FieldErrors,
    name: String,
}

async fn tokens_page(
    st: &AppState,
    s: &Session,
    created: Option<(String, String)>,
    errors: FieldErrors,
    name: String,
    notice: Option<&str>,
) -> Result<TokensPage, UiError> {
    let now = st.now();
    let mut rows: Vec<TokenRow> = st
        .store()
        .list_tokens()
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            name: t.name,
            scope: t.scope,
            created: format::utc(t.created_at),
            last_used: When::opt(t.last_used_at, now),
            revoked: t.revoked_at.map(format::utc),
        })
        .collect();
    rows.reverse();
    Ok(TokensPage {
        l: Layout::new("API tokens", "tokens", s).notice(notice),
        rows,
        created,
        errors,
        name,
    })
}

pub(crate) async fn page(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    s.require_write()?;
    let page = tokens_page(
        &st,
        &s,
        None,
        FieldErrors::default(),
        String::new(),
        q.ok.as_deref(),
    )
    .await?;
    Ok(render(&page))
}

pub(crate) async fn create(State(st): State<AppState>, p: Posted) -> Result<Response, UiError> {
    p.session.require_write()?;
    let name = p.get("name");
    let mut errors = FieldErrors::default();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(
            "name",
            "Name: give 1 to 100 printable characters, such as ci-deploy.",
        );
    }
    let scope = match Scope::parse(&p.get("scope")) {
        Some(s) => s,
        None => {
            errors.push("scope", "Scope: choose read or write.");
            Scope::Read
        }
    };
    if !errors.is_empty() {
        let page = tokens_page(&st, &p.session, None, errors, name, None).await?;
        let mut resp = render(&page);
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(resp);
    }
    let token = generate_token();
    st.store()
        .create_token(&name, &hash_token(&token), scope.as_str(), st.now())
        .await?;
    tracing::info!(message = "API token created in the web UI", name = %name, scope = scope.as_str(), by = %p.session.user.email);
    let page = tokens_page(
        &st,
        &p.session,
        Some((name, token)),
        FieldErrors::default(),
        String::new(),
        None,
    )
    .await?;
    Ok(render(&page))
}

pub(crate) async fn revoke(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let id =
        Uuid::parse_str(&id).map_err(|_| UiError::NotFound(format!("there is no token {id:?}")))?;
    st.store().revoke_token(id, st.now()).await?;
    Ok(see_other("/tokens?ok=revoked"))
}
