//! API and agent tokens: create one (its secret is shown once, on the page that
//! created it), list them with their last use, revoke one. Only the SHA-256 digest is
//! stored. An agent token (scope `agent`) is bound to one region, like
//! `vigilmon token create --scope agent --region R`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use uuid::Uuid;
use vigilmon_core::RegionName;

use super::format::{self, When};
use super::{FieldErrors, Layout, NoticeQuery, Posted, Session, UiError, render, see_other};
use vigilmon_app::AppState;
use vigilmon_app::auth::Scope;
use vigilmon_app::auth::role_allows;
use vigilmon_app::tokens::{Manager, TokenScope, issue, visible_to};

/// Whose tokens the signed-in user manages: everyone's (owners, admins) or their own.
fn manager(s: &Session) -> Manager {
    Manager::user(s.user.id, &s.user.role)
}

pub(crate) struct TokenRow {
    pub id: String,
    pub name: String,
    /// Whose it is: a user's email, or `service` (made with the CLI).
    pub owner: String,
    pub scope: String,
    /// The region of an agent token.
    pub region: Option<String>,
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
    created: Option<Created>,
    errors: FieldErrors,
    form: TokenForm,
}

/// A token just created, with its secret (shown this once).
pub(crate) struct Created {
    pub name: String,
    pub token: String,
    /// The region of an agent token.
    pub region: Option<String>,
    /// The server's address, for the agent command.
    pub server: String,
}

/// What the new-token form holds.
#[derive(Default)]
pub(crate) struct TokenForm {
    pub name: String,
    pub scope: String,
    pub region: String,
}

async fn tokens_page(
    st: &AppState,
    s: &Session,
    created: Option<Created>,
    errors: FieldErrors,
    form: TokenForm,
    notice: Option<&str>,
) -> Result<TokensPage, UiError> {
    let now = st.now();
    let mut rows: Vec<TokenRow> = visible_to(st, &manager(s))
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            name: t.name,
            owner: t.owner.map_or_else(|| "service".to_owned(), |o| o.email),
            scope: t.scope,
            region: t.region,
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
        form,
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
        TokenForm::default(),
        q.ok.as_deref(),
    )
    .await?;
    Ok(render(&page))
}

pub(crate) async fn create(State(st): State<AppState>, p: Posted) -> Result<Response, UiError> {
    p.session.require_write()?;
    let form = TokenForm {
        name: p.get("name"),
        scope: p.get("scope"),
        region: p.get("region"),
    };
    let mut errors = FieldErrors::default();
    let name = &form.name;
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(
            "name",
            "Name: give 1 to 100 printable characters, such as ci-deploy.",
        );
    }
    // `None` for an agent token, which is bound to a region instead.
    let mut scope = None;
    let mut region = None;
    match form.scope.as_str() {
        "agent" => match RegionName::parse(&form.region) {
            Ok(r) => region = Some(r),
            Err(_) => errors.push(
                "region",
                "Region: an agent token serves one region; give 1 to 32 lower-case letters, digits and '-', such as eu-central.",
            ),
        },
        other => match Scope::parse(other) {
            Some(s) => {
                scope = Some(s);
                if !form.region.is_empty() {
                    errors.push(
                        "region",
                        "Region: only agent tokens have a region; leave it empty or choose the scope agent.",
                    );
                }
            }
            None => errors.push("scope", "Scope: choose read, write or agent."),
        },
    }
    if matches!(form.scope.as_str(), "read" | "write" | "agent")
        && !role_allows(&p.session.user.role, &form.scope)
    {
        errors.push(
            "scope",
            format!(
                "Scope: a token is never wider than its user's role, and yours ({}) cannot hold {} tokens.",
                p.session.user.role, form.scope
            ),
        );
    }
    if !errors.is_empty() {
        let page = tokens_page(&st, &p.session, None, errors, form, None).await?;
        let mut resp = render(&page);
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(resp);
    }
    let kind = match &region {
        Some(r) => TokenScope::Agent(r.clone()),
        None => TokenScope::Api(scope.unwrap_or(Scope::Read)),
    };
    let (_, token) = issue(&st, name, &kind, Some(p.session.user.id)).await?;
    tracing::info!(message = "token created in the web UI", name = %name, scope = %form.scope, region = ?region, by = %p.session.user.email);
    let created = Created {
        name: form.name.clone(),
        token,
        region: region.map(|r| r.as_str().to_owned()),
        server: st.public_url().trim_end_matches('/').to_owned(),
    };
    let page = tokens_page(
        &st,
        &p.session,
        Some(created),
        FieldErrors::default(),
        TokenForm::default(),
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
    if !vigilmon_app::tokens::revoke(&st, id, &manager(&p.session)).await? {
        return Err(UiError::NotFound(
            "there is no such token of yours that is not revoked already".into(),
        ));
    }
    Ok(see_other("/tokens?ok=revoked"))
}
