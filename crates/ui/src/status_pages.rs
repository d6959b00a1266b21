//! The status pages of the web UI (`/status-pages`): list the pages with their public
//! address, create and edit one (slug, title, description and the optional settings;
//! sections, each with a name and its monitors chosen by checkbox), delete one after a
//! confirmation.
//!
//! The form works without JavaScript: it shows one block per section plus an empty
//! one, and **Add another section** re-renders it with one more block without saving.
//! Saving goes through the application layer's steps (`app::status_pages::create_page`,
//! `replace_page`, `delete_page`), as the API does, so the validation, the conflicts and
//! the refusal of pages declared in the config file are the API's; problems are shown next to the
//! field they concern. Each chosen monitor has a field for its public name
//! (`public_name`: what the page shows instead of the internal name).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use vigilmon_core::status_page::{PageMonitor, SectionConfig, StatusPageConfig};
use vigilmon_store::{MonitorSource, StatusPageRecord};

use super::session::get_field;
use super::{FieldErrors, Layout, NoticeQuery, Posted, Session, UiError, render, see_other};
use vigilmon_app::AppState;
use vigilmon_app::status_pages::{create_page, delete_page, replace_page};

/// Most section blocks one form takes (a page has few sections; this bounds the work
/// a crafted form can ask for).
const MAX_BLOCKS: usize = 100;

pub(crate) struct PageRow {
    pub slug: String,
    pub title: String,
    pub sections: Vec<String>,
    pub monitors: usize,
    pub file: bool,
}

#[derive(Template)]
#[template(path = "status_pages.html", whitespace = "minimize")]
struct ListPage {
    l: Layout,
    rows: Vec<PageRow>,
}

/// One monitor a section may show.
pub(crate) struct Choice {
    pub name: String,
    pub checked: bool,
    /// The name the public sees, when it differs (kept from the stored page).
    pub public_name: Option<String>,
    /// No monitor has this name (any more): saving fails until it is unticked.
    pub missing: bool,
}

/// One section block of the form.
pub(crate) struct Block {
    /// Its number in the form (`s{i}.name`, `s{i}.monitor`).
    pub i: usize,
    pub name: String,
    pub choices: Vec<Choice>,
    /// Nothing in it yet (the block to add a section with).
    pub empty: bool,
}

/// What the form holds.
#[derive(Default)]
pub(crate) struct PageForm {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub timezone: String,
    pub domain: String,
    pub logo_url: String,
    pub accent_color: String,
    /// Per block: its name and the chosen monitors' names, in order.
    pub sections: Vec<(String, Vec<String>)>,
}

#[derive(Template)]
#[template(path = "status_page_form.html", whitespace = "minimize")]
struct FormPage {
    l: Layout,
    /// `None` for a new page, else the slug being edited.
    editing: Option<String>,
    form: PageForm,
    blocks: Vec<Block>,
    errors: FieldErrors,
    /// Every problem, its field named in words.
    summary: Vec<String>,
    /// Problems that name no shown field.
    general: Vec<String>,
    no_monitors: bool,
}

#[derive(Template)]
#[template(path = "status_page_view.html", whitespace = "minimize")]
struct FilePage {
    l: Layout,
    row: PageRow,
    description: String,
    /// (section, monitors as "name (shown as …)").
    sections: Vec<(String, Vec<String>)>,
    deleting: bool,
}

#[derive(Template)]
#[template(path = "status_page_delete.html", whitespace = "minimize")]
struct DeletePage {
    l: Layout,
    row: PageRow,
}

fn row_of(rec: &StatusPageRecord) -> PageRow {
    PageRow {
        slug: rec.slug.clone(),
        title: rec.config.title.clone(),
        sections: rec.config.sections.iter().map(|s| s.name.clone()).collect(),
        monitors: rec.config.monitors().count(),
        file: rec.source == MonitorSource::File,
    }
}

async fn load(st: &AppState, slug: &str) -> Result<StatusPageRecord, UiError> {
    st.store()
        .get_status_page(slug)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("there is no status page {slug:?}")))
}

pub(crate) async fn list(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    let rows = st
        .store()
        .list_status_pages()
        .await?
        .iter()
        .map(row_of)
        .collect();
    Ok(render(&ListPage {
        l: Layout::new("Status pages", "status-pages", &s).notice(q.ok.as_deref()),
        rows,
    }))
}

impl PageForm {
    fn of(c: &StatusPageConfig) -> Self {
        PageForm {
            slug: c.slug.clone(),
            title: c.title.clone(),
            description: c.description.clone().unwrap_or_default(),
            timezone: c.timezone.clone().unwrap_or_default(),
            domain: c.domain.clone().unwrap_or_default(),
            logo_url: c.logo_url.clone().unwrap_or_default(),
            accent_color: c.accent_color.clone().unwrap_or_default(),
            sections: c
                .sections
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        s.monitors.iter().map(|m| m.name().to_owned()).collect(),
                    )
                })
                .collect(),
        }
    }

    /// Reads the submitted form: the fixed fields, and the section blocks
    /// `s{i}.name` / `s{i}.monitor` (several), in block order.
    fn read(fields: &[(String, String)]) -> Self {
        let get = |k: &str| get_field(fields, k);
        let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
        for (k, v) in fields {
            let Some((i, what)) = block_of(k) else {
                continue;
            };
            if i >= MAX_BLOCKS {
                continue;
            }
            if blocks.len() <= i {
                blocks.resize_with(i + 1, Default::default);
            }
            match what {
                "name" => blocks[i].0 = v.trim().to_owned(),
                "monitor" if !v.trim().is_empty() => {
                    let v = v.trim().to_owned();
                    if !blocks[i].1.contains(&v) {
                        blocks[i].1.push(v);
                    }
                }
                _ => {}
            }
        }
        PageForm {
            slug: get("slug"),
            title: get("title"),
            description: get("description").replace("\r\n", "\n"),
            timezone: get("timezone"),
            domain: get("domain"),
            logo_url: get("logo_url"),
            accent_color: get("accent_color"),
            sections: blocks,
        }
    }

    /// The page this form describes, with `public` names kept from the stored page,
    /// and for each of its sections the number of the block it came from. Blocks
    /// without a name and without monitors are left out (the empty block).
    fn config(&self, public: &HashMap<String, String>) -> (StatusPageConfig, Vec<usize>) {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let mut from = Vec::new();
        let mut sections = Vec::new();
        for (i, (name, monitors)) in self.sections.iter().enumerate() {
            if name.is_empty() && monitors.is_empty() {
                continue;
            }
            from.push(i);
            sections.push(SectionConfig {
                name: name.clone(),
                monitors: monitors
                    .iter()
                    .map(|m| match public.get(m) {
                        Some(p) => PageMonitor::Named {
                            name: m.clone(),
                            public_name: Some(p.clone()),
                        },
                        None => PageMonitor::Name(m.clone()),
                    })
                    .collect(),
            });
        }
        let config = StatusPageConfig {
            slug: self.slug.clone(),
            title: self.title.clone(),
            description: opt(&self.description),
            timezone: opt(&self.timezone),
            domain: opt(&self.domain),
            logo_url: opt(&self.logo_url),
            accent_color: opt(&self.accent_color),
            sections,
        };
        (config, from)
    }
}

/// The public names typed into the form: `pn.{monitor}`, kept when not empty and not
/// the monitor's own name.
fn submitted_public_names(fields: &[(String, String)]) -> HashMap<String, String> {
    fields
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("pn.")?;
            let v = v.trim();
            (!v.is_empty() && v != name).then(|| (name.to_owned(), v.to_owned()))
        })
        .collect()
}

/// The public names a stored page gives its monitors.
fn public_names(c: &StatusPageConfig) -> HashMap<String, String> {
    c.monitors()
        .filter(|m| m.public_name() != m.name())
        .map(|m| (m.name().to_owned(), m.public_name().to_owned()))
        .collect()
}

/// Maps a field of the API's validation (`sections[2].monitors[0].name`) to the form
/// field it concerns (`s{block}.name`, `s{block}.monitor`).
fn field_of(field: &str, from: &[usize]) -> String {
    let Some(rest) = field.strip_prefix("sections[") else {
        return field.to_owned();
    };
    let Some((k, rest)) = rest.split_once(']') else {
        return field.to_owned();
    };
    let Some(&i) = k.parse::<usize>().ok().and_then(|k| from.get(k)) else {
        return "sections".to_owned();
    };
    if rest == ".name" {
        format!("s{i}.name")
    } else {
        format!("s{i}.monitor")
    }
}

/// The form page: every block of `form` plus `extra` empty ones, each offering every
/// monitor (those chosen first, in their order).
async fn form_page(
    st: &AppState,
    s: &Session,
    editing: Option<String>,
    form: PageForm,
    public: &HashMap<String, String>,
    errors: FieldErrors,
    extra: usize,
) -> Result<FormPage, UiError> {
    let mut names: Vec<String> = st
        .store()
        .list_monitors()
        .await?
        .into_iter()
        .map(|m| m.config.name)
        .collect();
    names.sort_by_key(|n| n.to_lowercase());
    let mut sections = form.sections.clone();
    // The blocks with something in them, then `extra` empty ones.
    sections.retain(|(n, m)| !n.is_empty() || !m.is_empty());
    sections.extend(std::iter::repeat_n((String::new(), Vec::new()), extra));
    let blocks = sections
        .into_iter()
        .enumerate()
        .map(|(i, (name, chosen))| {
            let mut choices: Vec<Choice> = chosen
                .iter()
                .map(|c| Choice {
                    name: c.clone(),
                    checked: true,
                    public_name: public.get(c).cloned(),
                    missing: !names.contains(c),
                })
                .collect();
            choices.extend(
                names
                    .iter()
                    .filter(|n| !chosen.contains(n))
                    .map(|n| Choice {
                        name: n.clone(),
                        checked: false,
                        public_name: public.get(n).cloned(),
                        missing: false,
                    }),
            );
            Block {
                i,
                empty: name.is_empty() && chosen.is_empty(),
                name,
                choices,
            }
        })
        .collect();
    // Errors were keyed by the submitted block numbers; the blocks shown are
    // renumbered without the empty ones, so map them once more.
    // Every problem, its field named in words, for the summary at the top; those of
    // no shown field (`sections`, conflicts) also stay above the sections.
    let summary = errors
        .list
        .iter()
        .map(|(f, m)| match label_of(f) {
            Some(label) => format!("{label}: {m}"),
            None => m.clone(),
        })
        .collect();
    let general = errors
        .list
        .iter()
        .filter(|(f, _)| !FIXED_FIELDS.contains(&f.as_str()) && block_of(f).is_none())
        .map(|(f, m)| match label_of(f) {
            Some(label) => format!("{label}: {m}"),
            None => m.clone(),
        })
        .collect();
    let title = match &editing {
        Some(slug) => format!("Edit status page {slug}"),
        None => "New status page".to_owned(),
    };
    Ok(FormPage {
        l: Layout::new(title, "status-pages", s),
        editing,
        no_monitors: names.is_empty(),
        form,
        blocks,
        errors,
        summary,
        general,
    })
}

/// The form's fields outside the section blocks (shown next to their inputs).
const FIXED_FIELDS: [&str; 7] = [
    "slug",
    "title",
    "description",
    "timezone",
    "domain",
    "logo_url",
    "accent_color",
];

/// A form field in words (`s1.monitor` → `Section 2, monitors`); `None` for `""`.
fn label_of(field: &str) -> Option<String> {
    Some(match field {
        "" => return None,
        "slug" => "Slug".into(),
        "title" => "Title".into(),
        "description" => "Description".into(),
        "timezone" => "Time zone".into(),
        "domain" => "Custom domain".into(),
        "logo_url" => "Logo URL".into(),
        "accent_color" => "Accent colour".into(),
        "sections" => "Sections".into(),
        f => match block_of(f) {
            Some((i, "name")) => format!("Section {}, name", i + 1),
            Some((i, _)) => format!("Section {}, monitors", i + 1),
            None => f.to_owned(),
        },
    })
}

/// `(block number, what)` of a block field `s{i}.name` / `s{i}.monitor`.
fn block_of(field: &str) -> Option<(usize, &str)> {
    field
        .strip_prefix('s')
        .and_then(|r| r.split_once('.'))
        .and_then(|(i, what)| Some((i.parse::<usize>().ok()?, what)))
}

/// Renumbers form errors `s{i}.…` from submitted block numbers to shown ones (shown
/// blocks are the non-empty submitted ones, in order).
fn renumber(errors: FieldErrors, form: &PageForm) -> FieldErrors {
    let mut shown = HashMap::new();
    for (i, (n, m)) in form.sections.iter().enumerate() {
        if !n.is_empty() || !m.is_empty() {
            let next = shown.len();
            shown.insert(i, next);
        }
    }
    let mut out = FieldErrors::default();
    for (f, m) in errors.list {
        let f = match block_of(&f) {
            Some((i, what)) => match shown.get(&i) {
                Some(j) => format!("s{j}.{what}"),
                None => f,
            },
            None => f,
        };
        out.push(f, m);
    }
    out
}

/// The form again, with an error status (or 200 when only adding a block).
async fn form_response(
    st: &AppState,
    s: &Session,
    editing: Option<String>,
    form: PageForm,
    public: &HashMap<String, String>,
    errors: FieldErrors,
    extra: usize,
) -> Result<Response, UiError> {
    let bad = !errors.is_empty();
    let errors = renumber(errors, &form);
    let page = form_page(st, s, editing, form, public, errors, extra).await?;
    let mut resp = render(&page);
    if bad {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// Validates and saves the submitted form (create when `editing` is `None`).
async fn submit(st: &AppState, p: Posted, editing: Option<String>) -> Result<Response, UiError> {
    p.session.require_write()?;
    if let Some(slug) = &editing {
        let rec = load(st, slug).await?;
        if rec.source == MonitorSource::File {
            return Err(managed(slug));
        }
    }
    // The public names are the form's: one field per chosen monitor.
    let public = submitted_public_names(&p.fields);
    let mut form = PageForm::read(&p.fields);
    if let Some(slug) = &editing {
        // The slug does not change; the field is read-only.
        form.slug = slug.clone();
    }
    if p.get("action") == "more" {
        return form_response(
            st,
            &p.session,
            editing,
            form,
            &public,
            FieldErrors::default(),
            2,
        )
        .await;
    }
    let (config, from) = form.config(&public);
    let saved = match &editing {
        Some(slug) => replace_page(st, slug, &config).await,
        None => create_page(st, &config).await,
    };
    match saved {
        Ok(rec) => {
            tracing::info!(message = "status page saved in the web UI", slug = %rec.slug, by = %p.session.user.email);
            let ok = if editing.is_some() {
                "page-saved"
            } else {
                "page-created"
            };
            Ok(see_other(&format!("/status-pages?ok={ok}")))
        }
        Err(e) => {
            let errors = FieldErrors::from_api(e, |f| field_of(f, &from))?;
            form_response(st, &p.session, editing, form, &public, errors, 1).await
        }
    }
}

fn managed(slug: &str) -> UiError {
    UiError::Conflict(format!(
        "status page {slug:?} is declared in the config file; change it there"
    ))
}

pub(crate) async fn new_form(State(st): State<AppState>, s: Session) -> Result<Response, UiError> {
    s.require_write()?;
    let page = form_page(
        &st,
        &s,
        None,
        PageForm::default(),
        &HashMap::new(),
        FieldErrors::default(),
        1,
    )
    .await?;
    Ok(render(&page))
}

pub(crate) async fn create(State(st): State<AppState>, p: Posted) -> Result<Response, UiError> {
    submit(&st, p, None).await
}

pub(crate) async fn edit_form(
    State(st): State<AppState>,
    Path(slug): Path<String>,
    s: Session,
) -> Result<Response, UiError> {
    let rec = load(&st, &slug).await?;
    if rec.source == MonitorSource::File || !s.can_write() {
        return Ok(render(&file_page(&rec, &s, false)));
    }
    let public = public_names(&rec.config);
    let page = form_page(
        &st,
        &s,
        Some(rec.slug.clone()),
        PageForm::of(&rec.config),
        &public,
        FieldErrors::default(),
        1,
    )
    .await?;
    Ok(render(&page))
}

/// A read-only view of a page (declared in the config file, or for a viewer).
fn file_page(rec: &StatusPageRecord, s: &Session, deleting: bool) -> FilePage {
    FilePage {
        l: Layout::new(format!("Status page {}", rec.slug), "status-pages", s),
        row: row_of(rec),
        description: rec.config.description.clone().unwrap_or_default(),
        sections: rec
            .config
            .sections
            .iter()
            .map(|sec| {
                (
                    sec.name.clone(),
                    sec.monitors
                        .iter()
                        .map(|m| {
                            if m.public_name() == m.name() {
                                m.name().to_owned()
                            } else {
                                format!("{} (shown as {})", m.name(), m.public_name())
                            }
                        })
                        .collect(),
                )
            })
            .collect(),
        deleting,
    }
}

pub(crate) async fn edit(
    State(st): State<AppState>,
    Path(slug): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    submit(&st, p, Some(slug)).await
}

pub(crate) async fn delete_confirm(
    State(st): State<AppState>,
    Path(slug): Path<String>,
    s: Session,
) -> Result<Response, UiError> {
    s.require_write()?;
    let rec = load(&st, &slug).await?;
    if rec.source == MonitorSource::File {
        return Ok(render(&file_page(&rec, &s, true)));
    }
    Ok(render(&DeletePage {
        l: Layout::new(format!("Delete status page {slug}"), "status-pages", &s),
        row: row_of(&rec),
    }))
}

pub(crate) async fn delete(
    State(st): State<AppState>,
    Path(slug): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    delete_page(&st, &slug).await?;
    tracing::info!(message = "status page deleted in the web UI", slug = %slug, by = %p.session.user.email);
    Ok(see_other("/status-pages?ok=page-deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn blocks_become_sections_and_errors_find_their_block() {
        let form = PageForm::read(&fields(&[
            ("slug", " public "),
            ("title", "Status"),
            ("s0.name", "API"),
            ("s0.monitor", "api"),
            ("s0.monitor", "api"),
            ("s0.monitor", "db"),
            ("s1.name", ""),
            ("s2.name", "Search"),
            ("s2.monitor", "search"),
            ("s999.name", "ignored: too many blocks"),
            ("sx.name", "not a block"),
        ]));
        assert_eq!(form.slug, "public");
        assert_eq!(form.sections.len(), 3);
        let public = HashMap::from([("db".to_owned(), "Database".to_owned())]);
        let (config, from) = form.config(&public);
        assert_eq!(from, [0, 2], "the empty block is left out");
        assert_eq!(
            config.sections[0].monitors,
            [
                PageMonitor::Name("api".into()),
                PageMonitor::Named {
                    name: "db".into(),
                    public_name: Some("Database".into())
                }
            ],
            "a monitor ticked twice counts once; public names are kept"
        );
        assert_eq!(config.description, None);
        assert_eq!(field_of("sections[1].name", &from), "s2.name");
        assert_eq!(field_of("sections[1].monitors", &from), "s2.monitor");
        assert_eq!(
            field_of("sections[0].monitors[1].name", &from),
            "s0.monitor"
        );
        assert_eq!(field_of("sections[7].name", &from), "sections");
        assert_eq!(field_of("slug", &from), "slug");
        // Shown again, the empty block 1 is gone: block 2 is shown second.
        let mut errors = FieldErrors::default();
        errors.push("s2.name", "bad");
        errors.push("title", "bad");
        let errors = renumber(errors, &form);
        assert!(errors.has("s1.name") && errors.has("title"));
        assert_eq!(
            label_of("s1.monitor").as_deref(),
            Some("Section 2, monitors")
        );
        assert_eq!(label_of(""), None);
    }

    #[test]
    fn the_form_of_a_page_round_trips() {
        let c: StatusPageConfig = serde_json::from_value(serde_json::json!({
            "slug": "s", "title": "T", "description": "d", "timezone": "Europe/Berlin",
            "sections": [{"name": "A", "monitors": ["x", {"name": "y", "public_name": "Why"}]}]
        }))
        .unwrap();
        let form = PageForm::of(&c);
        let (back, _) = form.config(&public_names(&c));
        assert_eq!(back, c);
    }
}
