//! What the pages of channels, policies and maintenance windows share: their forms'
//! one section, the edit page (`config_edit.html`) and the fields of its form, the
//! refusal to edit what the config file declares, and the answer to a form that
//! needs fixing.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::form::{FieldDef, SectionDef, SectionView};
use super::{Layout, UiError};

/// The one section of the channel, policy and maintenance forms.
pub(super) const ONE: &[SectionDef] = &[SectionDef {
    title: "Settings",
    collapsed: false,
}];

/// A form shown again with its problems: 422.
pub(super) fn unprocessable(mut resp: Response) -> Response {
    *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    resp
}

/// One escalation row of the policy form.
pub(crate) struct StepRow {
    pub n: usize,
    pub after: String,
    /// The channels to tick: every channel, and those the step names that no longer
    /// exist; with whether the step adds it.
    pub options: Vec<(String, bool)>,
    pub after_err: Option<String>,
    pub channels_err: Option<String>,
}

/// The edit page of a channel, policy or maintenance window.
#[derive(Template)]
#[template(path = "config_edit.html", whitespace = "minimize")]
pub(super) struct EditPage {
    pub l: Layout,
    /// What is edited, in words ("channel", "policy", "maintenance window").
    pub what: &'static str,
    pub name: String,
    /// Where Cancel leads: the item's page, or the list.
    pub back: String,
    /// The list of such items, and its name.
    pub list: &'static str,
    pub back_label: &'static str,
    pub action: String,
    /// Declared in the config file: read-only here.
    pub file: bool,
    /// Over (ended early, or a one-off whose end has passed): read-only here.
    pub ended: bool,
    pub sections: Vec<SectionView>,
    pub general: Vec<String>,
    /// Escalation rows (policies only).
    pub steps: Vec<StepRow>,
    /// Whether to offer "remove the stored signing secret" (webhooks with one).
    pub offer_clear: bool,
    pub channels: Vec<String>,
}

impl EditPage {
    pub fn new(l: Layout, what: &'static str, name: String, back: String, action: String) -> Self {
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

/// The fields of an edit form: the create form's without the name (names are keys:
/// they do not change), and `keep_empty` not required (an empty input leaves them as
/// they are).
pub(super) fn edit_fields(fields: &[FieldDef], keep_empty: &[&str]) -> Vec<FieldDef> {
    fields
        .iter()
        .filter(|d| d.key != "name")
        .map(|d| {
            let mut d = *d;
            if keep_empty.contains(&d.key) {
                d.required = false;
            }
            d
        })
        .collect()
}

/// Why an item from the config file cannot be changed here.
pub(super) fn file_refusal(what: &str, name: &str) -> UiError {
    UiError::Conflict(format!(
        "The {what} {name:?} is declared in the config file: change it there."
    ))
}
