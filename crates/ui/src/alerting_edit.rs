//! Editing channels, policies (with their escalation steps) and maintenance windows.
//!
//! Each edit form is the create form of `alerting.rs` prefilled from the stored
//! config, without the name (names are keys: they do not change). Saving goes through
//! the API's update steps (`update_channel_config`, `update_policy_config`,
//! `update_window`), so validation, the refusal of config-file items and the reload of
//! the alerting driver are the API's. Secrets (Slack webhook URLs, PagerDuty routing
//! keys, webhook signing secrets) are never written into the page: their inputs start
//! empty, and an empty input keeps the stored value.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::Value;
use vigilmon_core::HumanDuration;
use vigilmon_core::alert::{ChannelConfig, PolicyConfig};
use vigilmon_core::maintenance::MaintenanceConfig;

use super::alerting::{
    CHANNEL_FIELDS, ONE, POLICY_FIELDS, WINDOW_FIELDS, decode, no_dynamic, unprocessable, window_id,
};
use super::form::{self, FieldDef, SectionView, Values};
use super::format;
use super::{FieldErrors, Layout, Posted, Session, UiError, render, see_other};
use vigilmon_app::AppState;
use vigilmon_app::channels::{
    list_policy_views, stored_channel, update_channel_config, update_policy_config,
};
use vigilmon_app::maintenance::{has_ended, update_window, view as window_view};
use vigilmon_app::views::REDACTED;

/// Escalation rows offered beyond the policy's own steps.
const SPARE_STEPS: usize = 2;
/// Most escalation rows read from a form.
const MAX_STEPS: usize = 20;

/// One escalation row of the policy form.
pub(crate) struct StepRow {
    pub n: usize,
    pub after: String,
    pub channels: String,
    pub after_err: Option<String>,
    pub channels_err: Option<String>,
}

/// The edit page of a channel, policy or maintenance window.
#[derive(Template)]
#[template(path = "config_edit.html", whitespace = "minimize")]
struct EditPage {
    l: Layout,
    /// What is edited, in words ("channel", "policy", "maintenance window").
    what: &'static str,
    name: String,
    /// Where Cancel leads: the item's page, or the list.
    back: String,
    /// The list of such items, and its name.
    list: &'static str,
    back_label: &'static str,
    action: String,
    /// Declared in the config file: read-only here.
    file: bool,
    /// Over (ended early, or a one-off whose end has passed): read-only here.
    ended: bool,
    sections: Vec<SectionView>,
    general: Vec<String>,
    /// Escalation rows (policies only).
    steps: Vec<StepRow>,
    /// Whether to offer "remove the stored signing secret" (webhooks with one).
    offer_clear: bool,
    channels: Vec<String>,
}

impl EditPage {
    fn new(l: Layout, what: &'static str, name: String, back: String, action: String) -> Self {
        EditPage {
            l,
            what,
            name,
            back,
            list: "",
            back_label: "",
            action,
            file: false,
            ended: false,
            sections: Vec::new(),
            general: Vec::new(),
            steps: Vec::new(),
            offer_clear: false,
            channels: Vec::new(),
        }
    }
}

/// The fields of an edit form: the create form's without the name, nothing required
/// that an empty input may legitimately leave as it is.
fn edit_fields(fields: &[FieldDef], keep_empty: &[&str]) -> Vec<FieldDef> {
    fields
        .iter()
        .filter(|d| d.key != "name")
        .map(|d| {
            let mut d = *d;
            if keep_empty.contains(&d.key) || d.key == "channels" {
                d.required = false;
            }
            if let Some(hint) = secret_hint(d.key) {
                d.hint = hint;
            }
            d
        })
        .collect()
}

/// The hint of a secret's input on the edit form.
fn secret_hint(key: &str) -> Option<&'static str> {
    Some(match key {
        "webhook_url" => {
            "A secret, so not shown. Leave empty to keep the stored URL; type a new one to replace it."
        }
        "routing_key" => {
            "A secret, so not shown. Leave empty to keep the stored key; type a new one to replace it."
        }
        "secret" => {
            "A secret, so not shown. Leave empty to keep the stored one (if any); type a new one to replace it."
        }
        _ => return None,
    })
}

/// Empties the secrets of a form's values, so they are never written into the page.
fn blank_secrets(values: &mut Values) {
    for (k, v) in &mut values.0 {
        if ChannelConfig::SECRET_FIELDS.contains(&k.as_str()) {
            v.clear();
        }
    }
}

fn file_refusal(what: &str, name: &str) -> UiError {
    UiError::Conflict(format!(
        "The {what} {name:?} is declared in the config file: change it there."
    ))
}

// --- Channels -----------------------------------------------------------------------

async fn channel_form(
    st: &AppState,
    s: &Session,
    name: &str,
    values: Option<Values>,
    errors: &FieldErrors,
) -> Result<EditPage, UiError> {
    let (stored, file) = stored_channel(st, name).await?;
    let kind = stored.kind.clone();
    let fields = edit_fields(CHANNEL_FIELDS, &ChannelConfig::SECRET_FIELDS);
    let mut values = match values {
        Some(v) => v,
        None => {
            let doc =
                serde_json::to_value(&stored).map_err(|e| UiError::Internal(e.to_string()))?;
            form::from_json(&fields, &kind, &doc)
        }
    };
    blank_secrets(&mut values);
    let href = format!("/channels/{}", format::segment(name));
    let mut page = EditPage::new(
        Layout::new(format!("Edit channel {name}"), "channels", s),
        "channel",
        name.to_owned(),
        href.clone(),
        format!("{href}/edit"),
    );
    page.back_label = "Channels";
    page.list = "/channels";
    page.file = file;
    let shown: Vec<&str> = fields
        .iter()
        .filter(|d| d.applies(&kind))
        .map(|d| d.key)
        .collect();
    page.sections = form::view(&fields, ONE, &kind, &values, errors, &no_dynamic);
    page.general = errors.general(&shown);
    page.offer_clear = kind == "webhook" && stored.secret.is_some();
    Ok(page)
}

pub(crate) async fn edit_channel(
    State(st): State<AppState>,
    s: Session,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    s.require_write()?;
    let page = channel_form(&st, &s, &name, None, &FieldErrors::default()).await?;
    Ok(render(&page))
}

pub(crate) async fn save_channel(
    State(st): State<AppState>,
    Path(name): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let (stored, file) = stored_channel(&st, &name).await?;
    if file {
        return Err(file_refusal("channel", &name));
    }
    let kind = stored.kind.as_str();
    let fields = edit_fields(CHANNEL_FIELDS, &ChannelConfig::SECRET_FIELDS);
    let values = form::submitted(&fields, kind, &p.fields);
    let mut errors = FieldErrors::default();
    let mut doc = form::to_json(&fields, kind, &values, &mut errors);
    if let Value::Object(m) = &mut doc {
        m.insert("name".into(), Value::String(name.clone()));
        m.insert("type".into(), Value::String(kind.to_owned()));
        let clear = p.get("clear_secret") == "on";
        for key in ChannelConfig::SECRET_FIELDS {
            let applies = fields.iter().any(|d| d.key == key && d.applies(kind));
            if applies && values.get(key).is_empty() && !(key == "secret" && clear) {
                // The mask: the update step keeps the stored value (or none).
                m.insert(key.into(), Value::String(REDACTED.to_owned()));
            }
        }
    }
    if errors.is_empty()
        && let Some(config) = decode::<ChannelConfig>(doc, &fields, kind, &mut errors)
    {
        match update_channel_config(&st, &name, config).await {
            Ok(()) => {
                return Ok(see_other(&format!(
                    "/channels/{}?ok=channel-saved",
                    format::segment(&name)
                )));
            }
            Err(e) => errors = FieldErrors::from_api(e, |f| form::field_of(&fields, kind, f))?,
        }
    }
    let page = channel_form(&st, &p.session, &name, Some(values), &errors).await?;
    Ok(unprocessable(render(&page)))
}

// --- Policies -----------------------------------------------------------------------

/// The escalation rows of a form: `escalate.N.after` and `escalate.N.channels`.
fn submitted_steps(posted: &[(String, String)]) -> Vec<(String, String)> {
    let field = |k: String| super::session::get_field(posted, &k);
    (0..MAX_STEPS)
        .map(|i| {
            (
                field(format!("escalate.{i}.after")),
                field(format!("escalate.{i}.channels")),
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
                "name at least one channel to add",
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

fn step_rows(rows: &[(String, String)], errors: &FieldErrors) -> Vec<StepRow> {
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
            StepRow {
                n: i,
                after,
                channels,
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
    let fields = edit_fields(POLICY_FIELDS, &[]);
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
    page.sections = form::view(&fields, ONE, "", &values, errors, &no_dynamic);
    let mut general: Vec<String> = errors
        .general(&fields.iter().map(|d| d.key).collect::<Vec<_>>())
        .into_iter()
        .filter(|e| !e.starts_with("escalate."))
        .collect();
    general.dedup();
    page.general = general;
    page.steps = step_rows(&rows, errors);
    page.channels = st
        .store()
        .list_channels()
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    Ok(page)
}

pub(crate) async fn edit_policy(
    State(st): State<AppState>,
    s: Session,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    s.require_write()?;
    let page = policy_form(&st, &s, &name, None, &FieldErrors::default()).await?;
    Ok(render(&page))
}

pub(crate) async fn save_policy(
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
    let fields = edit_fields(POLICY_FIELDS, &[]);
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

// --- Maintenance windows ------------------------------------------------------------

async fn window_form(
    st: &AppState,
    s: &Session,
    raw_id: &str,
    values: Option<Values>,
    errors: &FieldErrors,
) -> Result<EditPage, UiError> {
    let id = window_id(raw_id)?;
    let now = st.now();
    let rec = st
        .store()
        .list_maintenance()
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| UiError::NotFound(format!("there is no maintenance window {raw_id:?}")))?;
    let v = window_view(rec.clone(), now)?;
    let fields = edit_fields(WINDOW_FIELDS, &[]);
    let values = match values {
        Some(v) => v,
        None => {
            let doc =
                serde_json::to_value(&v.config).map_err(|e| UiError::Internal(e.to_string()))?;
            form::from_json(&fields, "", &doc)
        }
    };
    let mut page = EditPage::new(
        Layout::new(
            format!("Edit maintenance window {}", v.config.name),
            "maintenance",
            s,
        ),
        "maintenance window",
        v.config.name.clone(),
        "/maintenance".to_owned(),
        format!("/maintenance/{id}/edit"),
    );
    page.back_label = "Maintenance";
    page.list = "/maintenance";
    page.file = v.source == "file";
    page.ended = has_ended(&rec, &v.config, now);
    page.sections = form::view(&fields, ONE, "", &values, errors, &no_dynamic);
    page.general = errors.general(&fields.iter().map(|d| d.key).collect::<Vec<_>>());
    Ok(page)
}

pub(crate) async fn edit_maintenance(
    State(st): State<AppState>,
    s: Session,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    s.require_write()?;
    let page = window_form(&st, &s, &id, None, &FieldErrors::default()).await?;
    Ok(render(&page))
}

pub(crate) async fn save_maintenance(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let id = window_id(&raw)?;
    let name = st
        .store()
        .list_maintenance()
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .map(|w| w.name)
        .ok_or_else(|| UiError::NotFound(format!("there is no maintenance window {raw:?}")))?;
    let fields = edit_fields(WINDOW_FIELDS, &[]);
    let values = form::submitted(&fields, "", &p.fields);
    let mut errors = FieldErrors::default();
    let mut doc = form::to_json(&fields, "", &values, &mut errors);
    if let Value::Object(m) = &mut doc {
        m.insert("name".into(), Value::String(name));
    }
    if errors.is_empty()
        && let Some(config) = decode::<MaintenanceConfig>(doc, &fields, "", &mut errors)
    {
        match update_window(&st, id, config).await {
            Ok(()) => return Ok(see_other("/maintenance?ok=window-saved")),
            Err(e) => errors = FieldErrors::from_api(e, |f| form::field_of(&fields, "", f))?,
        }
    }
    let page = window_form(&st, &p.session, &raw, Some(values), &errors).await?;
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
        let fields = edit_fields(POLICY_FIELDS, &[]);
        assert_eq!(
            policy_field(&fields, &from_row, "escalate[0].channels[1]"),
            "escalate.1.channels"
        );
        assert_eq!(
            policy_field(&fields, &from_row, "notify_on[0]"),
            "notify_on"
        );
        assert!(!fields.iter().any(|d| d.key == "name"));
        let shown = step_rows(&rows, &errors);
        assert_eq!(shown.len(), 5, "three rows and two spare");
        assert!(shown[2].after_err.is_some());
    }

    #[test]
    fn secrets_are_never_prefilled() {
        let mut v = Values(vec![
            ("url".into(), "https://example.com/hook".into()),
            ("secret".into(), "s3cr3t".into()),
            ("webhook_url".into(), "https://hooks.slack.com/x".into()),
        ]);
        blank_secrets(&mut v);
        assert_eq!(v.get("url"), "https://example.com/hook");
        assert_eq!(v.get("secret"), "");
        assert_eq!(v.get("webhook_url"), "");
        let fields = edit_fields(CHANNEL_FIELDS, &ChannelConfig::SECRET_FIELDS);
        assert!(
            fields
                .iter()
                .filter(|d| ChannelConfig::SECRET_FIELDS.contains(&d.key))
                .all(|d| !d.required && d.hint.contains("Leave empty"))
        );
    }
}
