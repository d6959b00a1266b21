//! Monitors as code against a running server: the configuration as a [`Document`] in
//! exactly the config file's form ([`export`]), and a document applied to the store
//! ([`apply`]) — first a [`Plan`] (what is created, changed field by field, deleted),
//! then, unless it is a dry run, the changes.
//!
//! Keys are names (slugs for status pages), as in the config file. Objects the
//! server's own config file declares belong to that file: a document may name them
//! only as they are, and `prune` never deletes them. Objects an apply creates or
//! changes are marked as written by `vigilmon apply` (`source: apply`); they stay
//! editable in the UI and the API, and the next apply of the file writes them again.
//!
//! Secrets: an export never carries them; each becomes a `${NAME}` placeholder whose
//! name says where it belongs ([`placeholder_name`]), unless the caller reads the store
//! itself and asks for them ([`Secrets::Reveal`]). A document sent to [`apply`] may
//! hold the mask (`********`) in a secret field: the stored secret is kept, as the API
//! keeps it on an update.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use vigilmon_core::alert::PolicyConfig;
use vigilmon_core::maintenance::MaintenanceConfig;
use vigilmon_core::secret::{self, MASK, SecretKind};
use vigilmon_core::status_page::StatusPageConfig;
use vigilmon_core::{MonitorConfig, MonitorId, ValidationError};
use vigilmon_notify::ChannelConfig;
use vigilmon_store::{MonitorSource, Store};

use crate::AppState;
use crate::error::AppError;
use crate::monitors::{MonitorChange, after_monitor_change};

/// The objects of a configuration, as the config file's sections hold them.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitors: Vec<MonitorConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<MaintenanceConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_pages: Vec<StatusPageConfig>,
}

/// What an export does with secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// `${NAME}` in their place (the API's only form).
    Placeholders,
    /// The values themselves (only for whoever reads the store directly).
    Reveal,
}

/// An export: the document, and the variables its placeholders name.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Exported {
    pub document: Document,
    /// Every `${NAME}` the document holds, in order: set them before applying it
    /// elsewhere (left unset, a secret keeps what the server has).
    pub variables: Vec<String>,
}

/// The environment variable a secret's placeholder names:
/// `VIGILMON_<KIND>_<OBJECT>_<FIELD>` in upper case, every other character as `_`
/// (`channel` `ops-slack` `webhook_url` → `VIGILMON_CHANNEL_OPS_SLACK_WEBHOOK_URL`).
pub fn placeholder_name(kind: &str, object: &str, path: &str) -> String {
    let mut out = String::from("VIGILMON");
    for part in [kind, object, path] {
        out.push('_');
        let mut last_underscore = true;
        for c in part.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_uppercase());
                last_underscore = false;
            } else if !last_underscore {
                out.push('_');
                last_underscore = true;
            }
        }
        while out.ends_with('_') && !out.ends_with("VIGILMON_") {
            out.pop();
        }
    }
    out
}

/// Every object in the store as a document, sorted by name (slug for pages).
pub async fn export(store: &Store, secrets: Secrets) -> Result<Exported, AppError> {
    let mut doc = Document::default();
    let mut monitors = store.list_monitors().await?;
    monitors.sort_by(|a, b| a.config.name.cmp(&b.config.name));
    doc.monitors = monitors.into_iter().map(|m| m.config).collect();
    for c in store.list_channels().await? {
        doc.channels.push(decode(&c.config, "channel", &c.name)?);
    }
    for p in store.list_policies().await? {
        doc.policies.push(decode(&p.config, "policy", &p.name)?);
    }
    for w in store.list_maintenance().await? {
        doc.maintenance
            .push(decode(&w.config, "maintenance window", &w.name)?);
    }
    doc.status_pages = store
        .list_status_pages()
        .await?
        .into_iter()
        .map(|p| p.config)
        .collect();
    doc.channels.sort_by(|a, b| a.name.cmp(&b.name));
    doc.policies.sort_by(|a, b| a.name.cmp(&b.name));
    doc.maintenance.sort_by(|a, b| a.name.cmp(&b.name));
    doc.status_pages.sort_by(|a, b| a.slug.cmp(&b.slug));
    let mut variables = Vec::new();
    if secrets == Secrets::Placeholders {
        let mut taken = BTreeSet::new();
        let mut name_for = |kind: &str, object: &str, path: &str, vars: &mut Vec<String>| {
            let base = placeholder_name(kind, object, path);
            let mut name = base.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            vars.push(name.clone());
            name
        };
        for m in &mut doc.monitors {
            let object = m.name.clone();
            *m = secret::placeholders(m, &mut |path| {
                name_for("monitor", &object, path, &mut variables)
            })
            .0;
        }
        for c in &mut doc.channels {
            let object = c.name.clone();
            *c = secret::placeholders(c, &mut |path| {
                name_for("channel", &object, path, &mut variables)
            })
            .0;
        }
    }
    Ok(Exported {
        document: doc,
        variables,
    })
}

fn decode<T: serde::de::DeserializeOwned>(
    v: &Value,
    kind: &str,
    name: &str,
) -> Result<T, AppError> {
    serde_json::from_value(v.clone())
        .map_err(|e| AppError::Internal(format!("stored {kind} {name:?} is unreadable: {e}")))
}

/// An apply request: the document, whether to only plan, whether to delete what the
/// document does not name.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    pub document: Document,
    /// Plan only: change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Delete the objects the document does not name (never those of the server's
    /// config file).
    #[serde(default)]
    pub prune: bool,
}

/// What an apply changes (or changed).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Plan {
    /// Creations, updates and deletions, in the order they are made.
    pub changes: Vec<Change>,
    /// Objects the document names that are already as it says.
    pub unchanged: usize,
    /// Whether the changes were made (false for a dry run).
    pub applied: bool,
}

/// One object's change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Change {
    /// `monitor`, `channel`, `policy`, `maintenance` or `status_page`.
    pub kind: &'static str,
    /// Its name (a status page's slug).
    pub name: String,
    /// `create`, `update` or `delete`.
    pub action: &'static str,
    /// For an update, each field that changes (secrets as the mask).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

/// One field's change; `from` or `to` is absent where the field is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// Dotted path, e.g. `expect.status`.
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

/// What one declared object becomes.
enum Step<T> {
    Create(T),
    Update { old_source: MonitorSource, new: T },
    Same,
}

/// Plans `req.document` against the store and, unless a dry run, applies it. Every
/// problem is found before anything is written: an invalid object, a reference to
/// something that will not exist, an object of the server's config file the document
/// would change, a mask with no stored secret to keep.
pub async fn apply(st: &AppState, req: ApplyRequest) -> Result<Plan, AppError> {
    let store = st.store();
    let doc = req.document;
    let mut errors: Vec<ValidationError> = Vec::new();
    let mut plan = Plan::default();

    // What the store holds now.
    let monitors = store.list_monitors().await?;
    let channels = store.list_channels().await?;
    let policies = store.list_policies().await?;
    let windows = store.list_maintenance().await?;
    let pages = store.list_status_pages().await?;

    // Names declared twice.
    duplicates(&doc.monitors, |m| m.name.trim(), "monitors", &mut errors);
    duplicates(&doc.channels, |c| c.name.trim(), "channels", &mut errors);
    duplicates(&doc.policies, |p| p.name.trim(), "policies", &mut errors);
    duplicates(
        &doc.maintenance,
        |w| w.name.trim(),
        "maintenance",
        &mut errors,
    );
    duplicates(
        &doc.status_pages,
        |p| p.slug.trim(),
        "status_pages",
        &mut errors,
    );

    // The names that exist once applied: the document's, and the store's that stay.
    let stays = |source: MonitorSource, declared: bool| {
        declared || !req.prune || source == MonitorSource::File
    };
    let final_channels: BTreeSet<String> = doc
        .channels
        .iter()
        .map(|c| c.name.trim().to_owned())
        .chain(
            channels
                .iter()
                .filter(|c| stays(c.source, false))
                .map(|c| c.name.clone()),
        )
        .collect();
    let final_policies: BTreeSet<String> = doc
        .policies
        .iter()
        .map(|p| p.name.trim().to_owned())
        .chain(
            policies
                .iter()
                .filter(|p| stays(p.source, false))
                .map(|p| p.name.clone()),
        )
        .collect();
    let final_monitors: BTreeSet<String> = doc
        .monitors
        .iter()
        .map(|m| m.name.trim().to_owned())
        .chain(
            monitors
                .iter()
                .filter(|m| stays(m.source, false))
                .map(|m| m.config.name.clone()),
        )
        .collect();

    // Channels.
    let mut channel_steps = Vec::new();
    for c in &doc.channels {
        let mut c = c.clone();
        c.name = c.name.trim().to_owned();
        let at = format!("channels[{:?}]", c.name);
        let old = channels.iter().find(|x| x.name == c.name);
        let old_config: Option<ChannelConfig> = match old {
            Some(o) => Some(decode(&o.config, "channel", &o.name)?),
            None => None,
        };
        keep_secrets(&mut c, old_config.as_ref(), &at, &mut errors);
        if let Err(errs) = c.build() {
            prefixed(&at, errs, &mut errors);
        }
        channel_steps.push(step(
            "channel",
            c,
            old.map(|o| o.source).zip(old_config),
            &at,
            &mut errors,
            &mut plan,
        ));
    }
    // Policies.
    let mut policy_steps = Vec::new();
    for p in &doc.policies {
        let mut p = p.clone();
        p.name = p.name.trim().to_owned();
        let at = format!("policies[{:?}]", p.name);
        if let Err(errs) = p.build(|c| final_channels.contains(c)) {
            prefixed(&at, errs, &mut errors);
        }
        let old = policies.iter().find(|x| x.name == p.name);
        let old_config: Option<PolicyConfig> = match old {
            Some(o) => Some(decode(&o.config, "policy", &o.name)?),
            None => None,
        };
        policy_steps.push(step(
            "policy",
            p,
            old.map(|o| o.source).zip(old_config),
            &at,
            &mut errors,
            &mut plan,
        ));
    }
    // Maintenance windows.
    let mut window_steps = Vec::new();
    for w in &doc.maintenance {
        let mut w = w.clone();
        w.name = w.name.trim().to_owned();
        let at = format!("maintenance[{:?}]", w.name);
        if let Err(errs) = w.build() {
            prefixed(&at, errs, &mut errors);
        }
        let old = windows.iter().find(|x| x.name == w.name);
        let old_config: Option<MaintenanceConfig> = match old {
            Some(o) => Some(decode(&o.config, "maintenance window", &o.name)?),
            None => None,
        };
        window_steps.push(step(
            "maintenance",
            w,
            old.map(|o| o.source).zip(old_config),
            &at,
            &mut errors,
            &mut plan,
        ));
    }
    // Monitors. Ping tokens a heartbeat is given must be free: held by no other
    // monitor, given once.
    let held: Vec<(MonitorId, String)> = store
        .heartbeats()
        .await?
        .into_iter()
        .map(|h| (h.monitor_id, h.token))
        .collect();
    let mut given: BTreeSet<String> = BTreeSet::new();
    let mut monitor_steps = Vec::new();
    for m in &doc.monitors {
        let mut m = m.clone();
        m.name = m.name.trim().to_owned();
        let at = format!("monitors[{:?}]", m.name);
        let old = monitors.iter().find(|x| x.config.name == m.name);
        keep_secrets(&mut m, old.map(|o| &o.config), &at, &mut errors);
        match m.build() {
            Err(errs) => prefixed(&at, errs, &mut errors),
            Ok(spec) => {
                if let vigilmon_core::monitor::CheckSpec::Heartbeat(hb) = &spec.check
                    && let Some(token) = &hb.token
                {
                    let this = old.map(|o| o.id);
                    if held.iter().any(|(id, t)| t == token && Some(*id) != this) {
                        errors.push(ValidationError::new(
                            format!("{at}.token"),
                            "another heartbeat monitor has this ping token",
                        ));
                    } else if !given.insert(token.clone()) {
                        errors.push(ValidationError::new(
                            format!("{at}.token"),
                            "is given to another monitor of the document too",
                        ));
                    }
                }
            }
        }
        if let Some(p) = &m.policy
            && !final_policies.contains(p)
        {
            errors.push(ValidationError::new(
                format!("{at}.policy"),
                format!("no policy named {p:?}"),
            ));
        }
        let id = old.map(|o| o.id);
        monitor_steps.push((
            id,
            step(
                "monitor",
                m,
                old.map(|o| (o.source, o.config.clone())),
                &at,
                &mut errors,
                &mut plan,
            ),
        ));
    }
    // Status pages.
    let mut page_steps = Vec::new();
    for p in &doc.status_pages {
        let at = format!("status_pages[{:?}]", p.slug.trim());
        if let Err(errs) = p.validate() {
            prefixed(&at, errs, &mut errors);
        }
        let p = p.normalized();
        if let Err(e) = p.check_domain_against(&st.public_host()) {
            prefixed(&at, vec![e], &mut errors);
        }
        for (i, s) in p.sections.iter().enumerate() {
            for (j, e) in s.monitors.iter().enumerate() {
                if !final_monitors.contains(e.name()) {
                    errors.push(ValidationError::new(
                        format!("{at}.sections[{i}].monitors[{j}].name"),
                        format!("no monitor named {:?}", e.name()),
                    ));
                }
            }
        }
        let old = pages.iter().find(|x| x.slug == p.slug);
        page_steps.push(step(
            "status_page",
            p,
            old.map(|o| (o.source, o.config.clone())),
            &at,
            &mut errors,
            &mut plan,
        ));
    }

    // Deletions (prune): what the document does not name, but never the config file's;
    // and nothing that something staying still uses.
    let mut deletions: Vec<(&'static str, String)> = Vec::new();
    if req.prune {
        let named = |list: &[String], n: &str| list.iter().any(|x| x == n);
        let doc_pages: Vec<String> = doc
            .status_pages
            .iter()
            .map(|p| p.slug.trim().to_owned())
            .collect();
        let doc_monitors: Vec<String> = doc
            .monitors
            .iter()
            .map(|m| m.name.trim().to_owned())
            .collect();
        let doc_policies: Vec<String> = doc
            .policies
            .iter()
            .map(|p| p.name.trim().to_owned())
            .collect();
        let doc_windows: Vec<String> = doc
            .maintenance
            .iter()
            .map(|w| w.name.trim().to_owned())
            .collect();
        let doc_channels: Vec<String> = doc
            .channels
            .iter()
            .map(|c| c.name.trim().to_owned())
            .collect();
        for p in &pages {
            if p.source != MonitorSource::File && !named(&doc_pages, &p.slug) {
                deletions.push(("status_page", p.slug.clone()));
            }
        }
        for m in &monitors {
            if m.source != MonitorSource::File && !named(&doc_monitors, &m.config.name) {
                deletions.push(("monitor", m.config.name.clone()));
            }
        }
        for p in &policies {
            if p.source != MonitorSource::File && !named(&doc_policies, &p.name) {
                deletions.push(("policy", p.name.clone()));
            }
        }
        for w in &windows {
            if w.source != MonitorSource::File && !named(&doc_windows, &w.name) {
                deletions.push(("maintenance", w.name.clone()));
            }
        }
        for c in &channels {
            if c.source != MonitorSource::File && !named(&doc_channels, &c.name) {
                deletions.push(("channel", c.name.clone()));
            }
        }
        // What the config file keeps must still find what it uses.
        for m in monitors.iter().filter(|m| m.source == MonitorSource::File) {
            if let Some(p) = &m.config.policy
                && !final_policies.contains(p)
            {
                errors.push(ValidationError::new(
                    format!("policies[{p:?}]"),
                    format!(
                        "cannot be pruned: monitor {:?} of the server's config file uses it",
                        m.config.name
                    ),
                ));
            }
        }
        for p in policies.iter().filter(|p| p.source == MonitorSource::File) {
            let config: PolicyConfig = decode(&p.config, "policy", &p.name)?;
            for c in config
                .channels
                .iter()
                .chain(config.escalate.iter().flat_map(|e| e.channels.iter()))
            {
                if !final_channels.contains(c) {
                    errors.push(ValidationError::new(
                        format!("channels[{c:?}]"),
                        format!(
                            "cannot be pruned: policy {:?} of the server's config file uses it",
                            p.name
                        ),
                    ));
                }
            }
        }
        for p in pages.iter().filter(|p| p.source == MonitorSource::File) {
            for s in &p.config.sections {
                for e in &s.monitors {
                    if !final_monitors.contains(e.name()) {
                        errors.push(ValidationError::new(
                            format!("monitors[{:?}]", e.name()),
                            format!("cannot be pruned: status page {:?} of the server's config file shows it", p.slug),
                        ));
                    }
                }
            }
        }
        for (kind, name) in &deletions {
            plan.changes.push(Change {
                kind,
                name: name.clone(),
                action: "delete",
                fields: Vec::new(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    if req.dry_run {
        return Ok(plan);
    }

    // Writes: what others use first, deletions last (users before what they use).
    let now = st.now();
    let mut alerting_changed = false;
    for s in channel_steps {
        let (c, source) = match s {
            Step::Create(c) => (c, MonitorSource::Apply),
            Step::Update { new, .. } => (new, MonitorSource::Apply),
            Step::Same => continue,
        };
        let value = to_json(&c)?;
        store
            .upsert_channel(&c.name, c.kind_name(), &value, source, now)
            .await?;
        alerting_changed = true;
    }
    for s in policy_steps {
        let p = match s {
            Step::Create(p) | Step::Update { new: p, .. } => p,
            Step::Same => continue,
        };
        store
            .upsert_policy(&p.name, &to_json(&p)?, MonitorSource::Apply, now)
            .await?;
        alerting_changed = true;
    }
    for s in window_steps {
        let w = match s {
            Step::Create(w) | Step::Update { new: w, .. } => w,
            Step::Same => continue,
        };
        store
            .upsert_maintenance(
                Uuid::now_v7(),
                &w.name,
                &to_json(&w)?,
                MonitorSource::Apply,
                now,
            )
            .await?;
        alerting_changed = true;
    }
    if alerting_changed {
        st.alerting().config_changed().await;
    }
    for (id, s) in monitor_steps {
        match (s, id) {
            (Step::Create(m), _) => {
                let spec = m.build().map_err(AppError::Invalid)?;
                let id = MonitorId::from_uuid(Uuid::now_v7());
                store
                    .create_monitor(id, &m, MonitorSource::Apply, now)
                    .await?;
                after_monitor_change(st, id, MonitorChange::Created(Arc::new(spec))).await?;
            }
            (Step::Update { old_source, new }, Some(id)) => {
                let spec = new.build().map_err(AppError::Invalid)?;
                store.update_monitor(id, &new, now).await?;
                if old_source != MonitorSource::Apply {
                    store.set_monitor_source(id, MonitorSource::Apply).await?;
                }
                after_monitor_change(st, id, MonitorChange::Updated(Arc::new(spec))).await?;
            }
            _ => {}
        }
    }
    let mut pages_changed = false;
    for s in page_steps {
        let p = match s {
            Step::Create(p) | Step::Update { new: p, .. } => p,
            Step::Same => continue,
        };
        store
            .upsert_status_page(&p, MonitorSource::Apply, now)
            .await?;
        pages_changed = true;
    }
    let by_name: HashMap<&str, MonitorId> = monitors
        .iter()
        .map(|m| (m.config.name.as_str(), m.id))
        .collect();
    for (kind, name) in &deletions {
        match *kind {
            "status_page" => {
                store.delete_status_page(name).await?;
                pages_changed = true;
            }
            "monitor" => {
                if let Some(id) = by_name.get(name.as_str()) {
                    store.delete_monitor(*id).await?;
                    after_monitor_change(st, *id, MonitorChange::Deleted).await?;
                }
            }
            _ => {}
        }
    }
    for (kind, name) in &deletions {
        match *kind {
            "policy" => {
                store.delete_policy(name).await?;
            }
            "maintenance" => {
                if let Some(w) = windows.iter().find(|w| &w.name == name) {
                    store.delete_maintenance(w.id).await?;
                }
            }
            _ => continue,
        }
        alerting_changed = true;
    }
    for (kind, name) in &deletions {
        if *kind == "channel" {
            store.delete_channel(name).await?;
            alerting_changed = true;
        }
    }
    if alerting_changed {
        st.alerting().config_changed().await;
    }
    if pages_changed {
        st.changes().publish();
    }
    plan.applied = true;
    Ok(plan)
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, AppError> {
    serde_json::to_value(v).map_err(|e| AppError::Internal(e.to_string()))
}

fn duplicates<T>(
    list: &[T],
    key: impl Fn(&T) -> &str,
    section: &str,
    errors: &mut Vec<ValidationError>,
) {
    let mut seen = BTreeSet::new();
    for item in list {
        let k = key(item);
        if !seen.insert(k.to_owned()) {
            errors.push(ValidationError::new(
                format!("{section}[{k:?}]"),
                "is declared twice",
            ));
        }
    }
}

fn prefixed(at: &str, errs: Vec<ValidationError>, errors: &mut Vec<ValidationError>) {
    for e in errs {
        errors.push(ValidationError::new(format!("{at}.{}", e.field), e.message));
    }
}

/// Masks in secret fields take the stored secrets (refused by field where none is
/// stored, or where the target moved).
fn keep_secrets<T: vigilmon_core::secret::Secrets + Clone>(
    new: &mut T,
    old: Option<&T>,
    at: &str,
    errors: &mut Vec<ValidationError>,
) {
    let result = match old {
        Some(old) => secret::restore(new, old),
        None => {
            let mut errs = Vec::new();
            new.clone().visit_secrets(&mut |path, kind, value| {
                let masked = match kind {
                    SecretKind::Whole => value == MASK,
                    SecretKind::UrlPassword => secret::url_password(value) == Some(MASK),
                };
                if masked {
                    errs.push(ValidationError::new(
                        path,
                        "is the mask of a secret, but the server has none to keep here: set its variable",
                    ));
                }
            });
            if errs.is_empty() { Ok(()) } else { Err(errs) }
        }
    };
    if let Err(errs) = result {
        prefixed(at, errs, errors);
    }
}

/// Decides what a declared object becomes against what is stored, and records it in
/// the plan (an object of the config file may only be named as it is).
fn step<T: Serialize + PartialEq + Clone + MaybeSecrets>(
    kind: &'static str,
    new: T,
    old: Option<(MonitorSource, T)>,
    at: &str,
    errors: &mut Vec<ValidationError>,
    plan: &mut Plan,
) -> Step<T> {
    let name = at
        .split_once('[')
        .map(|(_, n)| n.trim_end_matches(']').trim_matches('"').to_owned())
        .unwrap_or_default();
    match old {
        None => {
            plan.changes.push(Change {
                kind,
                name,
                action: "create",
                fields: Vec::new(),
            });
            Step::Create(new)
        }
        Some((_, old)) if old == new => {
            plan.unchanged += 1;
            Step::Same
        }
        Some((MonitorSource::File, _)) => {
            errors.push(ValidationError::new(
                at,
                "is declared in the server's config file; change it there (a document may name it only as it is)",
            ));
            Step::Same
        }
        Some((source, old)) => {
            plan.changes.push(Change {
                kind,
                name,
                action: "update",
                fields: field_changes(&old, &new),
            });
            Step::Update {
                old_source: source,
                new,
            }
        }
    }
}

/// Secrets where a type has them, for showing field changes without them.
pub trait MaybeSecrets {
    /// A copy with every secret masked.
    fn shown(&self) -> Self;
}

impl MaybeSecrets for MonitorConfig {
    fn shown(&self) -> Self {
        secret::masked(self)
    }
}
impl MaybeSecrets for ChannelConfig {
    fn shown(&self) -> Self {
        secret::masked(self)
    }
}
impl MaybeSecrets for PolicyConfig {
    fn shown(&self) -> Self {
        self.clone()
    }
}
impl MaybeSecrets for MaintenanceConfig {
    fn shown(&self) -> Self {
        self.clone()
    }
}
impl MaybeSecrets for StatusPageConfig {
    fn shown(&self) -> Self {
        self.clone()
    }
}

/// The fields that differ, by dotted path; secrets shown as the mask (a changed
/// secret reads `******** → ******** (changed)`).
fn field_changes<T: Serialize + MaybeSecrets>(old: &T, new: &T) -> Vec<FieldChange> {
    let (raw_old, raw_new) = (leaves(old), leaves(new));
    let (shown_old, shown_new) = (leaves(&old.shown()), leaves(&new.shown()));
    let paths: BTreeSet<&String> = raw_old.keys().chain(raw_new.keys()).collect();
    let mut out = Vec::new();
    for p in paths {
        if raw_old.get(p) == raw_new.get(p) {
            continue;
        }
        let from = shown_old.get(p).cloned();
        let mut to = shown_new.get(p).cloned();
        if from.is_some() && from == to {
            let shown = match &to {
                Some(Value::String(s)) => s.clone(),
                _ => MASK.to_owned(),
            };
            to = Some(Value::String(format!("{shown} (changed)")));
        }
        out.push(FieldChange {
            field: p.clone(),
            from,
            to,
        });
    }
    out
}

/// A value's leaves by dotted path (arrays are leaves: they change as a whole).
fn leaves<T: Serialize>(v: &T) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, v, out);
                }
            }
            Value::Null => {}
            other => {
                out.insert(prefix.to_owned(), other.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(v) = serde_json::to_value(v) {
        walk("", &v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_names_say_where_a_secret_belongs() {
        assert_eq!(
            placeholder_name("channel", "ops-slack", "webhook_url"),
            "VIGILMON_CHANNEL_OPS_SLACK_WEBHOOK_URL"
        );
        assert_eq!(
            placeholder_name("monitor", "Payments API (eu)", "headers.Authorization"),
            "VIGILMON_MONITOR_PAYMENTS_API_EU_HEADERS_AUTHORIZATION"
        );
        assert_eq!(
            placeholder_name("monitor", "--", "url"),
            "VIGILMON_MONITOR_URL"
        );
    }

    #[test]
    fn field_changes_name_paths_and_hide_secrets() {
        let old: MonitorConfig = serde_json::from_value(serde_json::json!({
            "name": "web", "type": "http", "url": "https://u:old@example.com/",
            "interval": "10s", "expect": {"status": [200]}
        }))
        .unwrap();
        let mut new = old.clone();
        new.interval = Some(serde_json::from_value(serde_json::json!("20s")).unwrap());
        let changes = field_changes(&old, &new);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "interval");
        assert_eq!(changes[0].from, Some(Value::from("10s")));
        assert_eq!(changes[0].to, Some(Value::from("20s")));

        let new: MonitorConfig = serde_json::from_value(serde_json::json!({
            "name": "web", "type": "http", "url": "https://u:new@example.com/",
            "interval": "10s", "expect": {"status": [200]}
        }))
        .unwrap();
        let changes = field_changes(&old, &new);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "url");
        let shown = serde_json::to_string(&changes).unwrap();
        assert!(!shown.contains("old") && !shown.contains("new@"), "{shown}");
        assert!(shown.contains("(changed)"), "{shown}");
    }
}
