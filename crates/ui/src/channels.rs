//! Notification channels: the list with its create form (one set of fields per type,
//! one tab per entry of notify's `CHANNELS`), a channel's page (its settings, a test
//! notification, its delivery log), its edit form, and deleting it. Validation and
//! effects are the API's shared steps (`create_channel_config`,
//! `update_channel_config`, …). Secrets (webhook URLs, routing keys, API keys and
//! tokens, signing secrets: each type's own, from `CHANNELS`) are shown masked, as
//! the API shows them, and never written into a form: their inputs start empty, and
//! an empty input keeps the stored value.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::Value;
use vigilmon_notify::{CHANNELS, ChannelConfig, ChannelKind, secrets_of};

use super::alerting_common::{EditPage, ONE, edit_fields, file_refusal, unprocessable};
use super::form::{
    self, FieldDef, Input, SectionView, Values, decode, field, no_dynamic, required,
};
use super::format::{self, When};
use super::{FieldErrors, Layout, NoticeQuery, Posted, Session, UiError, render, see_other};
use vigilmon_app::AppState;
use vigilmon_app::channels::{
    create_channel_config, delete_channel_named, delivery_views, list_channel_views, send_test,
    stored_channel, update_channel_config,
};
use vigilmon_app::views::REDACTED;

/// The channel types, with their tab labels: notify's list of channels.
fn channel_types() -> Vec<(&'static str, &'static str)> {
    CHANNELS.iter().map(|c| (c.name, c.label)).collect()
}

const CHANNEL_FIELDS: &[FieldDef] = &[
    required(field(
        "name",
        "Name",
        Input::Text,
        &[],
        "slack-ops",
        "How policies refer to it.",
        0,
    )),
    required(field(
        "url",
        "Webhook URL",
        Input::Url,
        &["webhook"],
        "https://hooks.example.com/vigilmon",
        "Receives a JSON event per notification.",
        0,
    )),
    field(
        "secret",
        "Signing secret",
        Input::Text,
        &["webhook"],
        "",
        "At least 16 characters. When set, each request carries an HMAC-SHA256 signature. Not shown again after saving.",
        0,
    ),
    field(
        "headers",
        "Extra headers",
        Input::Headers,
        &["webhook"],
        "X-Team: ops",
        "One per line, Name: value.",
        0,
    ),
    required(field(
        "webhook_url",
        "Slack incoming-webhook URL",
        Input::Url,
        &["slack"],
        "https://hooks.slack.com/services/…",
        "Not shown again after saving.",
        0,
    )),
    required(field(
        "routing_key",
        "Routing key",
        Input::Text,
        &["pagerduty"],
        "",
        "The Events API v2 integration key. Not shown again after saving.",
        0,
    )),
    field(
        "events_url",
        "Events URL",
        Input::Url,
        &["pagerduty"],
        "https://events.pagerduty.com/v2/enqueue",
        "",
        0,
    ),
    required(field(
        "to",
        "Recipients",
        Input::Csv,
        &["email"],
        "ops@example.com, leads@example.com",
        "Comma-separated. Sent through the server's SMTP settings.",
        0,
    )),
    required(field(
        "webhook_url",
        "Discord webhook URL",
        Input::Url,
        &["discord"],
        "https://discord.com/api/webhooks/…",
        "The channel's webhook (channel settings, Integrations, Webhooks). Not shown again after saving.",
        0,
    )),
    required(field(
        "webhook_url",
        "Teams Workflows webhook URL",
        Input::Url,
        &["teams"],
        "https://…/workflows/…/triggers/manual/paths/invoke?…",
        "From the Workflows app: \"Post to a channel when a webhook request is received\". Not shown again after saving.",
        0,
    )),
    required(field(
        "bot_token",
        "Bot token",
        Input::Text,
        &["telegram"],
        "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11",
        "The token @BotFather gave the bot. Not shown again after saving.",
        0,
    )),
    required(field(
        "chat_id",
        "Chat id",
        Input::Text,
        &["telegram"],
        "-1001234567890",
        "A numeric chat id, or a public channel's @username. The bot must be a member of the chat.",
        0,
    )),
    field(
        "api_url",
        "Bot API URL",
        Input::Url,
        &["telegram"],
        "https://api.telegram.org",
        "Only for a self-hosted Bot API server or a proxy.",
        0,
    ),
    required(field(
        "api_key",
        "API key",
        Input::Text,
        &["opsgenie"],
        "",
        "The key of an Opsgenie API integration. Not shown again after saving.",
        0,
    )),
    field(
        "api_url",
        "API URL",
        Input::Url,
        &["opsgenie"],
        "https://api.opsgenie.com",
        "https://api.eu.opsgenie.com for accounts in the EU.",
        0,
    ),
    required(field(
        "url",
        "Topic URL",
        Input::Url,
        &["ntfy"],
        "https://ntfy.sh/my-alerts",
        "The server and the topic. Kept secret: on a public server a topic's name is its password.",
        0,
    )),
    field(
        "token",
        "Access token",
        Input::Text,
        &["ntfy"],
        "",
        "For a protected topic. Not shown again after saving.",
        0,
    ),
    required(field(
        "token",
        "Application API token",
        Input::Text,
        &["pushover"],
        "",
        "30 letters and digits, from your Pushover application. Not shown again after saving.",
        0,
    )),
    required(field(
        "user",
        "User or group key",
        Input::Text,
        &["pushover"],
        "",
        "30 letters and digits. P1 outages arrive as emergencies, repeated until acknowledged in Pushover.",
        0,
    )),
    field(
        "api_url",
        "API URL",
        Input::Url,
        &["pushover"],
        "https://api.pushover.net",
        "",
        0,
    ),
    required(field(
        "url",
        "Server URL",
        Input::Url,
        &["gotify"],
        "https://gotify.example.com",
        "Your Gotify server.",
        0,
    )),
    required(field(
        "token",
        "Application token",
        Input::Text,
        &["gotify"],
        "",
        "The token of a Gotify application. Not shown again after saving.",
        0,
    )),
    required(field(
        "homeserver",
        "Homeserver URL",
        Input::Url,
        &["matrix"],
        "https://matrix.example.org",
        "The homeserver of the account that posts.",
        0,
    )),
    required(field(
        "access_token",
        "Access token",
        Input::Text,
        &["matrix"],
        "",
        "Of the account that posts. Not shown again after saving.",
        0,
    )),
    required(field(
        "room_id",
        "Room id",
        Input::Text,
        &["matrix"],
        "!abcdefg:example.org",
        "In the room's advanced settings; not an alias. The account must have joined the room.",
        0,
    )),
    required(field(
        "webhook_url",
        "Incoming-webhook URL",
        Input::Url,
        &["mattermost"],
        "https://mattermost.example.com/hooks/…",
        "A Mattermost or Rocket.Chat incoming webhook. Not shown again after saving.",
        0,
    )),
    required(field(
        "webhook_url",
        "Google Chat webhook URL",
        Input::Url,
        &["google_chat"],
        "https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=…",
        "The space's incoming webhook (Apps and integrations, Webhooks). Not shown again after saving.",
        0,
    )),
];

// --- List and create ----------------------------------------------------------------

pub(crate) struct ChannelRow {
    pub name: String,
    pub href: String,
    pub kind: String,
    pub target: String,
    pub file: bool,
    /// Written by `vigilmon apply`.
    pub applied: bool,
}

#[derive(Template)]
#[template(path = "channels.html", whitespace = "minimize")]
struct ChannelsPage {
    l: Layout,
    rows: Vec<ChannelRow>,
    kind: String,
    types: Vec<(&'static str, &'static str)>,
    sections: Vec<SectionView>,
    general: Vec<String>,
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct ChannelsQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    ok: Option<String>,
}

fn channel_kind(k: &str) -> &'static str {
    CHANNELS
        .iter()
        .map(|c| c.name)
        .find(|t| *t == k)
        .unwrap_or("webhook")
}

async fn channels_page(
    st: &AppState,
    s: &Session,
    kind: &'static str,
    values: &Values,
    errors: &FieldErrors,
    notice: Option<&str>,
) -> Result<ChannelsPage, UiError> {
    let rows = list_channel_views(st)
        .await?
        .into_iter()
        .map(|c| {
            let target = match &c.config.kind {
                ChannelKind::Webhook(_) => "URL ********".into(),
                ChannelKind::Email(e) => e.to.join(", "),
                ChannelKind::PagerDuty(_) => "routing key ********".into(),
                ChannelKind::Slack(_)
                | ChannelKind::Discord(_)
                | ChannelKind::Teams(_)
                | ChannelKind::Mattermost(_)
                | ChannelKind::GoogleChat(_) => "webhook ********".into(),
                ChannelKind::Telegram(t) => {
                    format!("chat {}", t.chat_id.as_deref().unwrap_or_default())
                }
                ChannelKind::Opsgenie(_) => "API key ********".into(),
                ChannelKind::Ntfy(_) => "topic URL ********".into(),
                ChannelKind::Pushover(p) => {
                    format!("user {}", p.user.as_deref().unwrap_or_default())
                }
                ChannelKind::Gotify(g) => g.url.clone().unwrap_or_default(),
                ChannelKind::Matrix(m) => m.room_id.clone().unwrap_or_default(),
                ChannelKind::Unknown(_) => String::new(),
            };
            ChannelRow {
                href: format!("/channels/{}", format::segment(&c.config.name)),
                kind: c.config.kind_name().to_owned(),
                name: c.config.name,
                target,
                file: c.source == "file",
                applied: c.source == "apply",
            }
        })
        .collect();
    let shown: Vec<&str> = CHANNEL_FIELDS
        .iter()
        .filter(|d| d.applies(kind))
        .map(|d| d.key)
        .collect();
    Ok(ChannelsPage {
        l: Layout::new("Channels", "channels", s).notice(notice),
        rows,
        kind: kind.to_owned(),
        types: channel_types(),
        sections: form::view(CHANNEL_FIELDS, ONE, kind, values, errors, &no_dynamic),
        general: errors.general(&shown),
    })
}

pub(crate) async fn list(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<ChannelsQuery>,
) -> Result<Response, UiError> {
    let kind = channel_kind(q.kind.as_deref().unwrap_or("webhook"));
    let page = channels_page(
        &st,
        &s,
        kind,
        &Values::default(),
        &FieldErrors::default(),
        q.ok.as_deref(),
    )
    .await?;
    Ok(render(&page))
}

pub(crate) async fn create(State(st): State<AppState>, p: Posted) -> Result<Response, UiError> {
    p.session.require_write()?;
    let kind = channel_kind(&p.get("type"));
    let values = form::submitted(CHANNEL_FIELDS, kind, &p.fields);
    let mut errors = FieldErrors::default();
    let mut doc = form::to_json(CHANNEL_FIELDS, kind, &values, &mut errors);
    if let Value::Object(m) = &mut doc {
        m.insert("type".into(), Value::String(kind.to_owned()));
    }
    if errors.is_empty()
        && let Some(config) = decode::<ChannelConfig>(doc, CHANNEL_FIELDS, kind, &mut errors)
    {
        match create_channel_config(&st, config).await {
            Ok(()) => return Ok(see_other("/channels?ok=channel")),
            Err(e) => {
                errors = FieldErrors::from_api(e, |f| form::field_of(CHANNEL_FIELDS, kind, f))?
            }
        }
    }
    let page = channels_page(&st, &p.session, kind, &values, &errors, None).await?;
    Ok(unprocessable(render(&page)))
}

// --- A channel's page: settings, test, deliveries -----------------------------------

pub(crate) struct DeliveryRow {
    pub event: String,
    pub status: String,
    pub css: &'static str,
    pub created: When,
    pub attempts: u32,
    pub incident: Option<String>,
    /// The last error: plain words, and the technical account folded away.
    pub last_error: Option<(String, Option<String>)>,
    /// Each attempt: when, outcome, how long, error in words, technical account.
    pub log: Vec<(String, String, String, String, Option<String>)>,
}

pub(crate) struct TestOutcome {
    pub delivered: bool,
    pub text: String,
    /// The technical account of a failure, folded away under `text`.
    pub detail: Option<String>,
}

/// One setting of a channel, labelled as in its form; an object (headers) as a table.
pub(crate) struct Fact {
    pub label: String,
    pub value: String,
    pub table: Vec<(String, String)>,
}

/// A channel's settings in words: the form's labels (those of its type), the type by
/// its name, headers as a table.
fn facts_of(kind: &str, doc: &serde_json::Value) -> Vec<Fact> {
    let Some(m) = doc.as_object() else {
        return Vec::new();
    };
    m.iter()
        .filter(|(k, _)| k.as_str() != "name")
        .map(|(k, v)| {
            let label = match k.as_str() {
                "type" => "Type".to_owned(),
                key => CHANNEL_FIELDS
                    .iter()
                    .find(|f| f.key == key && f.applies(kind))
                    .map_or_else(|| key.replace('_', " "), |f| f.label.to_owned()),
            };
            let value = match (k.as_str(), v.as_str()) {
                ("type", Some(t)) => CHANNELS
                    .iter()
                    .find(|c| c.name == t)
                    .map_or_else(|| t.to_owned(), |c| c.label.to_owned()),
                _ => format::json_text(v),
            };
            let table = v
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(h, x)| (h.clone(), format::json_text(x)))
                        .collect()
                })
                .unwrap_or_default();
            Fact {
                label,
                value,
                table,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "channel.html", whitespace = "minimize")]
struct ChannelPage {
    l: Layout,
    name: String,
    href: String,
    kind: String,
    facts: Vec<Fact>,
    file: bool,
    test: Option<TestOutcome>,
    deliveries: Vec<DeliveryRow>,
}

async fn channel_page(
    st: &AppState,
    s: &Session,
    name: &str,
    test: Option<TestOutcome>,
    notice: Option<&str>,
) -> Result<ChannelPage, UiError> {
    let c = list_channel_views(st)
        .await?
        .into_iter()
        .find(|c| c.config.name == name)
        .ok_or_else(|| UiError::NotFound(format!("there is no channel named {name:?}")))?;
    let now = st.now();
    let doc = serde_json::to_value(&c.config).map_err(|e| UiError::Internal(e.to_string()))?;
    let facts = facts_of(c.config.kind_name(), &doc);
    let deliveries = delivery_views(st, name)
        .await?
        .into_iter()
        .map(|d| DeliveryRow {
            css: match d.status.as_str() {
                "delivered" => "up",
                "failed" => "down",
                _ => "pending",
            },
            event: d.event,
            status: d.status,
            created: When::new(d.created_at, now),
            attempts: d.attempts,
            incident: d.incident_id.map(|i| i.to_string()),
            last_error: d.last_error.as_deref().map(format::plain_and_detail),
            log: d
                .attempt_log
                .into_iter()
                .map(|a| {
                    let (plain, detail) =
                        format::plain_and_detail(a.error.as_deref().unwrap_or_default());
                    (
                        format::utc(a.at),
                        a.outcome,
                        format::ms(a.duration_ms),
                        plain,
                        detail,
                    )
                })
                .collect(),
        })
        .collect();
    Ok(ChannelPage {
        l: Layout::new(format!("Channel {name}"), "channels", s).notice(notice),
        name: c.config.name.clone(),
        href: format!("/channels/{}", format::segment(&c.config.name)),
        kind: c.config.kind_name().to_owned(),
        facts,
        file: c.source == "file",
        test,
        deliveries,
    })
}

pub(crate) async fn page(
    State(st): State<AppState>,
    s: Session,
    Path(name): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    Ok(render(
        &channel_page(&st, &s, &name, None, q.ok.as_deref()).await?,
    ))
}

pub(crate) async fn test(
    State(st): State<AppState>,
    Path(name): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let r = send_test(&st, &name).await?;
    let (text, detail) = match (r.outcome, r.error) {
        ("delivered", _) => ("The test notification was delivered.".into(), None),
        (_, Some(e)) => {
            let (plain, detail) = format::plain_and_detail(&e);
            (
                format!("The test notification was not delivered: {plain}."),
                detail,
            )
        }
        (outcome, None) => (
            format!("The test notification was not delivered ({outcome})."),
            None,
        ),
    };
    let test = TestOutcome {
        delivered: r.delivered,
        text,
        detail,
    };
    Ok(render(
        &channel_page(&st, &p.session, &name, Some(test), None).await?,
    ))
}

pub(crate) async fn delete(
    State(st): State<AppState>,
    Path(name): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    delete_channel_named(&st, &name).await?;
    Ok(see_other("/channels?ok=channel-deleted"))
}

// --- Edit ---------------------------------------------------------------------------

/// The fields of the edit form of a `kind` channel: its secrets are not required
/// (empty keeps them) and their hints say so.
fn channel_edit_fields(kind: &str) -> Vec<FieldDef> {
    let secrets = secrets_of(kind);
    let mut fields = edit_fields(CHANNEL_FIELDS, secrets);
    for d in &mut fields {
        if d.applies(kind)
            && secrets.contains(&d.key)
            && let Some(hint) = secret_hint(d.key)
        {
            d.hint = hint;
        }
    }
    fields
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
        "url" => {
            "A secret (such URLs often carry a token), so not shown. Leave empty to keep the stored URL; type a new one to replace it."
        }
        "bot_token" | "api_key" | "token" | "access_token" => {
            "A secret, so not shown. Leave empty to keep the stored one; type a new one to replace it."
        }
        _ => return None,
    })
}

/// Empties the secrets of a `kind` channel's form values, so they are never written
/// into the page.
fn blank_secrets(kind: &str, values: &mut Values) {
    for (k, v) in &mut values.0 {
        if secrets_of(kind).contains(&k.as_str()) {
            v.clear();
        }
    }
}

async fn channel_form(
    st: &AppState,
    s: &Session,
    name: &str,
    values: Option<Values>,
    errors: &FieldErrors,
) -> Result<EditPage, UiError> {
    let (stored, file) = stored_channel(st, name).await?;
    let kind = stored.kind_name().to_owned();
    let fields = channel_edit_fields(&kind);
    let mut values = match values {
        Some(v) => v,
        None => {
            // Header values show as the mask; whole secrets are blanked below.
            let doc = serde_json::to_value(vigilmon_core::secret::masked(&stored))
                .map_err(|e| UiError::Internal(e.to_string()))?;
            form::from_json(&fields, &kind, &doc)
        }
    };
    blank_secrets(&kind, &mut values);
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
    page.offer_clear = matches!(&stored.kind, ChannelKind::Webhook(w) if w.secret.is_some());
    Ok(page)
}

pub(crate) async fn edit_form(
    State(st): State<AppState>,
    s: Session,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    s.require_write()?;
    let page = channel_form(&st, &s, &name, None, &FieldErrors::default()).await?;
    Ok(render(&page))
}

pub(crate) async fn save(
    State(st): State<AppState>,
    Path(name): Path<String>,
    p: Posted,
) -> Result<Response, UiError> {
    p.session.require_write()?;
    let (stored, file) = stored_channel(&st, &name).await?;
    if file {
        return Err(file_refusal("channel", &name));
    }
    let kind = stored.kind_name();
    let fields = channel_edit_fields(kind);
    let values = form::submitted(&fields, kind, &p.fields);
    let mut errors = FieldErrors::default();
    let mut doc = form::to_json(&fields, kind, &values, &mut errors);
    if let Value::Object(m) = &mut doc {
        m.insert("name".into(), Value::String(name.clone()));
        m.insert("type".into(), Value::String(kind.to_owned()));
        let clear = p.get("clear_secret") == "on";
        let stored_shown = serde_json::to_value(vigilmon_core::secret::masked(&stored))
            .map_err(|e| UiError::Internal(e.to_string()))?;
        for &key in secrets_of(kind) {
            let applies = fields.iter().any(|d| d.key == key && d.applies(kind));
            if applies
                && values.get(key).is_empty()
                && !(key == "secret" && clear)
                && stored_shown.get(key).is_some()
            {
                // The mask: the update step keeps the stored value.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_prefilled() {
        let mut v = Values(vec![
            ("url".into(), "https://example.com/hook?token=t".into()),
            ("secret".into(), "s3cr3t".into()),
            ("headers".into(), "X-A: 1".into()),
        ]);
        blank_secrets("webhook", &mut v);
        assert_eq!(v.get("url"), "");
        assert_eq!(v.get("secret"), "");
        assert_eq!(v.get("headers"), "X-A: 1");
        // Each type's own secrets: a Gotify server's URL is shown, an ntfy topic's not.
        let mut g = Values(vec![
            ("url".into(), "https://gotify.example".into()),
            ("token".into(), "AbC".into()),
        ]);
        blank_secrets("gotify", &mut g);
        assert_eq!(g.get("url"), "https://gotify.example");
        assert_eq!(g.get("token"), "");
        let mut n = Values(vec![("url".into(), "https://ntfy.sh/topic".into())]);
        blank_secrets("ntfy", &mut n);
        assert_eq!(n.get("url"), "");
        for c in CHANNELS {
            let fields = channel_edit_fields(c.name);
            let mine: Vec<_> = fields.iter().filter(|d| d.applies(c.name)).collect();
            for s in c.secrets {
                let d = mine.iter().find(|d| d.key == *s).unwrap();
                assert!(
                    !d.required && d.hint.contains("Leave empty"),
                    "{}: {s}",
                    c.name
                );
            }
            let gotify_url = channel_edit_fields("gotify")
                .into_iter()
                .find(|d| d.key == "url" && d.applies("gotify"))
                .unwrap();
            assert!(gotify_url.required);
        }
    }

    #[test]
    fn each_type_labels_its_own_settings() {
        use std::collections::BTreeSet;
        for c in CHANNELS {
            let keys: Vec<&str> = CHANNEL_FIELDS
                .iter()
                .filter(|d| d.applies(c.name))
                .map(|d| d.key)
                .collect();
            let unique: BTreeSet<&str> = keys.iter().copied().collect();
            assert_eq!(
                keys.len(),
                unique.len(),
                "{}: one field per setting",
                c.name
            );
        }
        let doc = serde_json::json!({"name": "n", "type": "ntfy", "url": "********"});
        let facts = facts_of("ntfy", &doc);
        assert_eq!(facts[1].label, "Topic URL");
        assert_eq!(facts[0].value, "ntfy");
    }

    #[test]
    fn the_form_offers_each_channel_exactly_the_settings_it_takes() {
        use std::collections::BTreeSet;
        for c in CHANNELS {
            let offered: BTreeSet<&str> = CHANNEL_FIELDS
                .iter()
                .filter(|d| d.applies(c.name) && d.key != "name")
                .map(|d| d.key)
                .collect();
            let takes: BTreeSet<&str> = c.fields().iter().copied().collect();
            assert_eq!(offered, takes, "{} channels", c.name);
        }
    }
}
