//! Alert policies: the list (with how many monitors use each) and its create form, the
//! edit form with its escalation steps, and deleting a policy. Validation and effects
//! are the API's shared steps (`create_policy_config`, `update_policy_config`, …).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::Value;
use vigilmon_core::HumanDuration;
use vigilmon_core::alert::PolicyConfig;

use super::alerting_common::{EditPage, ONE, StepRow, edit_fields, file_refusal, unprocessable};
use super::form::{self, FieldDef, Input, SectionView, Values, decode, field, required};
use super::format;
use super::{FieldErrors, Layout, NoticeQuery, Posted, Session, UiError, render, see_other};
use vigilmon_app::AppState;
use vigilmon_app::channels::{
    create_policy_config, delete_policy_named, list_policy_views, update_policy_config,
};

const PRIORITIES: &[(&str, &str)] = &[
    ("", "P3 (default)"),
    ("P1", "P1: page (PagerDuty critical)"),
    ("P2", "P2 (PagerDuty error)"),
    ("P3", "P3 (PagerDuty warning)"),
    ("P4", "P4: informational"),
];

/// The events a policy may notify on, as the form offers them.
const NOTIFY_ON: &[(&str, &str)] = &[
    ("down", "Down (the incident opens)"),
    ("recovered", "Recovered"),
    ("degraded", "Degraded"),
    ("acknowledged", "Acknowledged"),
];

const POLICY_FIELDS: &[FieldDef] = &[
    required(field(
        "name",
        "Name",
        Input::Text,
        &[],
        "p1-page",
        "How monitors refer to it.",
        0,
    )),
    field(
        "priority",
        "Priority",
        Input::Select(PRIORITIES),
        &[],
        "",
        "",
        0,
    ),
    required(field(
        "channels",
        "Channels",
        Input::ManyDynamic,
        &[],
        "",
        "Where its notifications go.",
        0,
    )),
    field(
        "notify_on",
        "Notify on",
        Input::Many(NOTIFY_ON),
        &[],
        "",
        "None ticked: down and recovered.",
        0,
    ),
    field(
        "remind_every",
        "Remind every",
        Input::Duration,
        &[],
        "never",
        "While down and not acknowledged, e.g. 30m.",
        0,
    ),
    field(
        "incident_on_degraded",
        "Degraded opens an incident too",
        Input::Bool(false),
        &[],
        "",
        "By default degraded only sends a warning.",
        0,
    ),
];

/// Escalation rows offered beyond the policy's own steps.
const SPARE_STEPS: usize = 2;
/// Most escalation rows read from a form.
const MAX_STEPS: usize = 20;

// --- List and create ----------------------------------------------------------------

pub(crate) struct PolicyRow {
    pub name: String,
    pub href: String,
    pub priority: String,
    pub channels: String,
    pub notify_on: String,
    pub remind: String,
    /// The escalation steps in words ("after 15m: pager").
    pub escalate: String,
    pub used_by: usize,
    pub file: bool,
}

#[derive(Template)]
#[template(path = "policies.html", whitespace = "minimize")]
struct PoliciesPage {
    l: Layout,
    rows: Vec<PolicyRow>,
    sections: Vec<SectionView>,
    general: Vec<String>,
    channels: Vec<String>,
}

async fn policies_page(
    st: &AppState,
    s: &Session,
    values: &Values,
    errors: &FieldErrors,
    notice: Option<&str>,
) -> Result<PoliciesPage, UiError> {
    let monitors = st.store().list_monitors().await?;
    let channels = channel_names(st).await?;
    let rows = list_policy_views(st)
        .await?
        .into_iter()
        .map(|p| PolicyRow {
            used_by: monitors
                .iter()
                .filter(|m| m.config.policy.as_deref() == Some(p.config.name.as_str()))
                .count(),
            priority: p.config.priority.clone().unwrap_or_else(|| "P3".into()),
            channels: p.config.channels.join(", "),
            notify_on: p
                .config
                .notify_on
                .clone()
                .map_or_else(|| "down, recovered".into(), |n| n.join(", ")),
            remind: p
                .config
                .remind_every
                .map_or_else(|| "never".into(), |d| d.to_string()),
            escalate: if p.config.escalate.is_empty() {
                "none".into()
            } else {
                p.config
                    .escalate
                    .iter()
                    .map(|e| format!("after {}: {}", e.after, e.channels.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            },
            file: p.source == "file",
            href: format!("/policies/{}", format::segment(&p.config.name)),
            name: p.config.name,
        })
        .collect();
    Ok(PoliciesPage {
        l: Layout::new("Policies", "policies", s).notice(notice),
        rows,
        sections: form::view(POLICY_FIELDS, ONE, "", values, errors, &|key| {
            channel_choices(key, &channels)
        }),
        general: errors.general(&POLICY_FIELDS.iter().map(|d| d.key).collect::<Vec<_>>()),
        channels,
    })
}

/// The choices of the policy form's `channels` field.
fn channel_choices(key: &str, channels: &[String]) -> Vec<(String, String)> {
    if key == "channels" {
        channels.iter().map(|c| (c.clone(), c.clone())).collect()
    } else {
        Vec::new()
    }
}

/// The names of every channel, offered when choosing a policy's channels.
async fn channel_names(st: &AppState) -> Result<Vec<String>, UiError> {
    Ok(st
        .store()
        .list_channels()
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect())
}

pub(crate) async fn list(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    let page = policies_page(
        &st,
        &s,
        &Values::default(),
        &FieldErrors::default(),
        q.ok.as_deref(),
    )
    .await?;
    Ok(render(&page))
}

pub(crate) async fn create(State(st): State<AppState>, p: Posted) -> Result<Response, UiError> {
    p.session.require_write()?;
    let values = form::submitted(POLICY_FIELDS, "", &p.fields);
    let mut errors = FieldErrors::default();
    let mut doc = form::to_json(POLICY_FIELDS, "", &values, &mut errors);
    if let Value::Object(m) = &mut doc {
        m.entry("channels")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
    if errors.is_empty()
        && let Some(config) = decode::<PolicyConfig>(doc, POLICY_FIELDS, "", &mut errors)
    {
        match create_policy_config(&st, config).await {
            Ok(()) => return Ok(see_other("/policies?ok=policy")),
            Err(e) => errors = FieldErrors::from_api(e, |f| form::field_of(POLICY_FIELDS, "", f))?,
        }
    }
    let page = policies_page(&st, &p.session, &values, &errors, None).await?;
    Ok(unprocessable(render(&page)))
}

pub(crate) async fn delete(
    State(st): State<AppState>,
    Path(name): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    delete_policy_named(&st, &name).await?;
    Ok(see_other("/policies?ok=policy-deleted"))
}

// --- Edit, with escalation steps ----------------------------------------------------

/// The fields of the edit form. The channels may be left empty there: a policy may
/// notify through its escalation steps alone.
fn policy_edit_fields() -> Vec<FieldDef> {
    edit_fields(POLICY_FIELDS, &["channels"])
}

/// The escalation rows of a form: `escalate.N.after` and `escalate.N.channels` (one
/// value per ticked channel, or names separated by commas), the channels joined by
/// commas.
fn submitted_steps(posted: &[(String, String)]) -> Vec<(String, String)> {
    (0..MAX_STEPS)
        .map(|i| {
            let key = format!("escalate.{i}.channels");
            let channels: Vec<&str> = posted
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty())
                .collect();
            (
                super::session::get_field(posted, &format!("escalate.{i}.after")),
                channels.join(", "),
            )
        })
        .collect()
}

/// Turns escalation rows into the policy document's `escalate` list; blank rows are
/// skipped. Returns the list and, per step, the row it came from.
fn steps_to_json(rows: &[(String, String)], errors: &mut FieldErrors) -> (Value, Vec<usize>) {
    let mut list = Vec::new();
    let mut from_row = Vec::new();
    for (i, (after, channels)) in rows.iter().enumerate() {
        if after.is_empty() && channels.is_empty() {
            continue;
        }
        let chans: Vec<Value> = channels
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| Value::String(c.to_owned()))
            .collect();
        if after.is_empty() {
            errors.push(
                format!("escalate.{i}.after"),
                "say after how long, such as 15m",
            );
            continue;
        }
        if let Err(e) = HumanDuration::parse(after) {
            errors.push(format!("escalate.{i}.after"), e);
            continue;
        }
        if chans.is_empty() {
            errors.push(
                format!("escalate.{i}.channels"),
                "tick at least one channel to add",
            );
            continue;
        }
        list.push(serde_json::json!({"after": after, "channels": chans}));
        from_row.push(i);
    }
    (Value::Array(list), from_row)
}

/// Where a policy validation error goes: `escalate[k].after` → that step's row.
fn policy_field(fields: &[FieldDef], from_row: &[usize], path: &str) -> String {
    if let Some(rest) = path.strip_prefix("escalate[")
        && let Some((k, tail)) = rest.split_once(']')
        && let Ok(k) = k.parse::<usize>()
    {
        let row = from_row.get(k).copied().unwrap_or(k);
        let part = if tail.starts_with(".after") {
            "after"
        } else {
            "channels"
        };
        return format!("escalate.{row}.{part}");
    }
    form::field_of(fields, "", path)
}

fn step_rows(rows: &[(String, String)], errors: &FieldErrors, all: &[String]) -> Vec<StepRow> {
    let used = rows
        .iter()
        .rposition(|(a, c)| !a.is_empty() || !c.is_empty())
        .map_or(0, |i| i + 1);
    let with_errors = (0..MAX_STEPS)
        .filter(|i| {
            errors.has(&format!("escalate.{i}.after"))
                || errors.has(&format!("escalate.{i}.channels"))
        })
        .max()
        .map_or(0, |i| i + 1);
    let n = (used.max(with_errors) + SPARE_STEPS).min(MAX_STEPS);
    (0..n)
        .map(|i| {
            let (after, channels) = rows.get(i).cloned().unwrap_or_default();
            let chosen: Vec<&str> = channels
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            let mut options: Vec<(String, bool)> = all
                .iter()
                .map(|c| (c.clone(), chosen.contains(&c.as_str())))
                .collect();
            for c in chosen {
                if !all.iter().any(|a| a == c) {
                    options.push((c.to_owned(), true));
                }
            }
            StepRow {
                n: i,
                after,
                options,
                after_err: errors.get(&format!("escalate.{i}.after")),
                channels_err: errors.get(&format!("escalate.{i}.channels")),
            }
        })
        .collect()
}

async fn policy_form(
    st: &AppState,
    s: &Session,
    name: &str,
    submitted: Option<(Values, Vec<(String, String)>)>,
    errors: &FieldErrors,
) -> Result<EditPage, UiError> {
    let stored = list_policy_views(st)
        .await?
        .into_iter()
        .find(|p| p.config.name == name)
        .ok_or_else(|| UiError::NotFound(format!("there is no policy named {name:?}")))?;
    let fields = policy_edit_fields();
    let (values, rows) = match submitted {
        Some(v) => v,
        None => {
            let doc = serde_json::to_value(&stored.config)
                .map_err(|e| UiError::Internal(e.to_string()))?;
            let rows = stored
                .config
                .escalate
                .iter()
                .map(|e| (e.after.to_string(), e.channels.join(", ")))
                .collect();
            (form::from_json(&fields, "", &doc), rows)
        }
    };
    let href = format!("/policies/{}/edit", format::segment(name));
    let mut page = EditPage::new(
        Layout::new(format!("Edit policy {name}"), "policies", s),
        "policy",
        name.to_owned(),
        "/policies".to_owned(),
        href,
    );
    page.back_label = "Policies";
    page.list = "/policies";
    page.file = stored.source == "file";
    let channels = channel_names(st).await?;
    page.sections = form::view(&fields, ONE, "", &values, errors, &|key| {
        channel_choices(key, &channels)
    });
    let mut general: Vec<String> = errors
        .general(&fields.iter().map(|d| d.key).collect::<Vec<_>>())
        .into_iter()
        .filter(|e| !e.starts_with("escalate."))
        .collect();
    general.dedup();
    page.general = general;
    page.steps = step_rows(&rows, errors, &channels);
    page.channels = channels;
    Ok(page)
}

pub(crate) async fn edit_form(
    State(st): State<AppState>,
    s: Session,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    s.require_write()?;
    let page = policy_form(&st, &s, &name, None, &FieldErrors::default()).await?;
    Ok(render(&page))
}

pub(crate) async fn save(
    State(st): State<AppState>,
    Path(name): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    if list_policy_views(&st)
        .await?
        .iter()
        .any(|v| v.config.name == name && v.source == "file")
    {
        return Err(file_refusal("policy", &name));
    }
    let fields = policy_edit_fields();
    let values = form::submitted(&fields, "", &p.fields);
    let rows = submitted_steps(&p.fields);
    let mut errors = FieldErrors::default();
    let mut doc = form::to_json(&fields, "", &values, &mut errors);
    let (steps, from_row) = steps_to_json(&rows, &mut errors);
    if let Value::Object(m) = &mut doc {
        m.insert("name".into(), Value::String(name.clone()));
        m.entry("channels")
            .or_insert_with(|| Value::Array(Vec::new()));
        if steps.as_array().is_some_and(|a| !a.is_empty()) {
            m.insert("escalate".into(), steps);
        }
    }
    if errors.is_empty() {
        match serde_path_to_error::deserialize::<_, PolicyConfig>(doc) {
            Ok(config) => match update_policy_config(&st, &name, config).await {
                Ok(()) => return Ok(see_other("/policies?ok=policy-saved")),
                Err(e) => {
                    errors = FieldErrors::from_api(e, |f| policy_field(&fields, &from_row, f))?;
                }
            },
            Err(e) => {
                let path = e.path().to_string();
                errors.push(
                    policy_field(&fields, &from_row, &path),
                    e.inner().to_string(),
                );
            }
        }
    }
    let page = policy_form(&st, &p.session, &name, Some((values, rows)), &errors).await?;
    Ok(unprocessable(render(&page)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_rows_become_steps_and_errors_find_their_row() {
        let rows = vec![
            ("".to_owned(), "".to_owned()),
            ("10m".to_owned(), "pager, phone".to_owned()),
            ("soon".to_owned(), "x".to_owned()),
        ];
        let mut errors = FieldErrors::default();
        let (steps, from_row) = steps_to_json(&rows, &mut errors);
        assert_eq!(
            steps,
            serde_json::json!([{"after": "10m", "channels": ["pager", "phone"]}])
        );
        assert_eq!(from_row, vec![1]);
        assert!(errors.has("escalate.2.after"), "{errors:?}");
        let fields = policy_edit_fields();
        assert_eq!(
            policy_field(&fields, &from_row, "escalate[0].channels[1]"),
            "escalate.1.channels"
        );
        assert_eq!(
            policy_field(&fields, &from_row, "notify_on[0]"),
            "notify_on"
        );
        assert!(!fields.iter().any(|d| d.key == "name"));
        let shown = step_rows(&rows, &errors, &["pager".to_owned(), "mail".to_owned()]);
        assert_eq!(shown.len(), 5, "three rows and two spare");
        assert!(shown[2].after_err.is_some());
        // Every channel to tick, the step's own ticked; a name that is gone stays shown.
        assert_eq!(
            shown[1].options,
            vec![
                ("pager".to_owned(), true),
                ("mail".to_owned(), false),
                ("phone".to_owned(), true)
            ]
        );
        assert!(shown[3].options.iter().all(|o| !o.1));
        // Ticked boxes post one value each.
        let posted: Vec<(String, String)> = [
            ("escalate.0.after", "5m"),
            ("escalate.0.channels", "pager"),
            ("escalate.0.channels", "mail"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(
            submitted_steps(&posted)[0],
            ("5m".to_owned(), "pager, mail".to_owned())
        );
    }
}
