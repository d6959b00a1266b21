//! Importing a Healthchecks project: its checks as the Management API v3 lists them
//! (`GET /api/v3/checks/`), read from the API itself (a base URL and an API key) or
//! from a saved copy of that JSON. Each check becomes a heartbeat monitor with its
//! schedule (simple: `timeout` + `grace`; cron: `schedule` + `tz` + `grace`), tags,
//! accepted methods, paused state, slug — and its UUID as the monitor's ping token,
//! so a job pinging `…/ping/<uuid>` only has to change the host of its URL.
//!
//! Read-only API keys list checks without their UUID (a `unique_key` instead): those
//! checks get new ping URLs, and the report says so.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use vigilmon_core::heartbeat::{is_valid_slug, is_valid_token};
use vigilmon_core::monitor::{HeartbeatConfig, KindConfig};
use vigilmon_core::{HumanDuration, MonitorConfig};

use super::{Env, Imported, Outcome, read_json, tag};

/// How long the API may take to answer.
const API_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read from the API (a project of thousands of checks is a few
/// MiB).
const MAX_ANSWER_BYTES: usize = 64 << 20;

#[derive(Debug, Deserialize)]
struct ChecksList {
    checks: Vec<Check>,
}

/// One check as API v3 shows it (fields Healthchecks documents; others are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Check {
    name: String,
    slug: String,
    tags: String,
    desc: String,
    grace: Option<u64>,
    status: String,
    manual_resume: bool,
    methods: String,
    filter_subject: bool,
    filter_body: bool,
    filter_http_body: bool,
    uuid: Option<String>,
    unique_key: Option<String>,
    ping_url: Option<String>,
    channels: Option<String>,
    timeout: Option<u64>,
    schedule: Option<String>,
    tz: Option<String>,
}

/// Whether `input` names the API rather than a file.
pub fn is_url(input: &str) -> bool {
    input.starts_with("http://") || input.starts_with("https://")
}

/// The checks' JSON: from the API at base URL `input` with `api_key`, or from the
/// file `input`.
pub async fn read(input: &str, api_key: Option<&str>) -> anyhow::Result<String> {
    if !is_url(input) {
        return std::fs::read_to_string(input).with_context(|| format!("cannot read {input}"));
    }
    let Some(key) = api_key.filter(|k| !k.trim().is_empty()) else {
        bail!(
            "{input}: reading the Healthchecks API needs an API key: give --api-key or set HEALTHCHECKS_API_KEY"
        );
    };
    let base = url::Url::parse(input).with_context(|| format!("{input} is not a URL"))?;
    let url = base
        .join(&format!(
            "{}/api/v3/checks/",
            base.path().trim_end_matches('/')
        ))
        .with_context(|| format!("{input} is not a base URL"))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(API_TIMEOUT)
        .user_agent(concat!("vigilmon-import/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let response = client
        .get(url.clone())
        .header("X-Api-Key", key.trim())
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let why = match status.as_u16() {
            401 => " (the API key is wrong, or belongs to another project)",
            _ => "",
        };
        bail!("GET {url}: the server answered {status}{why}");
    }
    let mut body = Vec::new();
    let mut response = response;
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("GET {url}: the answer could not be read"))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            bail!(
                "GET {url}: the answer is larger than {} MiB",
                MAX_ANSWER_BYTES >> 20
            );
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).with_context(|| format!("GET {url}: the answer is not UTF-8 text"))
}

/// Imports the checks' JSON `text` (read from `input`) into `out`.
pub fn import(input: &str, text: &str, out: &mut Imported, env: &Env) -> anyhow::Result<()> {
    let list: ChecksList = read_json(input, text)?;
    for c in &list.checks {
        import_check(c, out, env);
    }
    Ok(())
}

/// Whether `s` looks like a five-field cron expression (rather than systemd's
/// OnCalendar, which Healthchecks also takes).
fn is_five_field_cron(s: &str) -> bool {
    s.split_whitespace().count() == 5
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " */,-?#LW".contains(c))
}

fn import_check(c: &Check, out: &mut Imported, env: &Env) {
    let id = c
        .uuid
        .clone()
        .or_else(|| c.unique_key.clone())
        .unwrap_or_default();
    let label = if c.name.trim().is_empty() {
        if c.slug.is_empty() {
            id.clone()
        } else {
            c.slug.clone()
        }
    } else {
        c.name.trim().to_owned()
    };
    let mut changes = Vec::new();
    let mut hb = HeartbeatConfig::default();
    match (&c.timeout, &c.schedule) {
        (_, Some(schedule)) => {
            if !is_five_field_cron(schedule) {
                out.report.push(
                    "check",
                    &label,
                    Outcome::NotMapped(format!(
                        "its schedule {schedule:?} is not a five-field cron expression (an OnCalendar schedule?); Vigilmon reads cron"
                    )),
                );
                return;
            }
            hb.cron = Some(schedule.clone());
            hb.tz = c.tz.clone().filter(|t| !t.is_empty() && t != "UTC");
        }
        (Some(secs), None) => hb.every = Some(HumanDuration(Duration::from_secs(*secs))),
        (None, None) => {
            out.report.push(
                "check",
                &label,
                Outcome::NotMapped("it has neither a timeout nor a schedule".into()),
            );
            return;
        }
    }
    hb.grace = c.grace.map(|g| HumanDuration(Duration::from_secs(g)));
    if c.methods.eq_ignore_ascii_case("POST") {
        hb.methods = Some(vec!["POST".into()]);
    }
    match (&c.uuid, &c.unique_key) {
        (Some(uuid), _) if is_valid_token(uuid) => {
            hb.token = Some(uuid.clone());
            let old = c.ping_url.clone().unwrap_or_else(|| format!("…/{uuid}"));
            if !old.contains("/ping/") {
                changes.push(format!(
                    "its ping URL keeps its UUID: {old} becomes <public URL>/ping/{uuid}"
                ));
            }
        }
        (Some(uuid), _) => changes.push(format!(
            "its UUID {uuid:?} cannot be a ping token: it gets a new ping URL"
        )),
        (None, Some(_)) => changes.push(
            "it gets a new ping URL: the listing has no UUID (a read-only API key); import with the project's full API key to keep it"
                .into(),
        ),
        (None, None) => changes.push("it gets a new ping URL: the listing has no UUID".into()),
    }
    if !c.slug.is_empty() {
        if is_valid_slug(&c.slug) {
            hb.slug = Some(c.slug.clone());
            changes.push(format!(
                "its slug URL /ping/<ping key>/{} takes Vigilmon's ping key (shown with the monitor)",
                c.slug
            ));
        } else {
            changes.push(format!(
                "its slug {:?} is not kept: slugs are a-z, 0-9, _ and -",
                c.slug
            ));
        }
    }
    let mut changes_after = Vec::new();
    if !c.desc.trim().is_empty() {
        changes_after.push("its description is not kept: monitors have none".to_owned());
    }
    if c.manual_resume {
        changes_after
            .push("manual resume is not kept: after being down, its next ping brings it up".into());
    }
    if c.filter_subject || c.filter_body || c.filter_http_body {
        changes_after.push(
            "its keyword filters are not kept: every ping counts by its URL (/fail, /start, exit status)"
                .into(),
        );
    }
    let integrations = c
        .channels
        .as_deref()
        .map_or(0, |s| s.split(',').filter(|x| !x.trim().is_empty()).count());
    if integrations > 0 {
        changes_after.push(format!(
            "its {integrations} integration(s) are not imported: the checks API does not give their settings; give it a policy"
        ));
    }
    let name = if c.name.trim().is_empty() {
        changes.push("it had no name: named after its slug or UUID".into());
        label.clone()
    } else {
        c.name.trim().to_owned()
    };
    let name = out.unique_name(&name, &mut changes);
    changes.extend(changes_after);
    let mut m = MonitorConfig::new(name, KindConfig::Heartbeat(hb));
    m.tags = c.tags.split_whitespace().filter_map(tag).collect();
    m.paused = c.status == "paused";
    out.add_monitor("check", &label, m, changes, env);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_and_oncalendar_are_told_apart() {
        assert!(is_five_field_cron("*/5 * * * *"));
        assert!(is_five_field_cron("0 9 * * MON-FRI"));
        assert!(!is_five_field_cron("Mon..Fri 09:00"));
        assert!(!is_five_field_cron("*-*-* 03:00:00"));
    }
}
