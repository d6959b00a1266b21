//! The configuration file: YAML with `${ENV}` expansion, parsed into typed sections,
//! validated with errors that name the line and the field.
//!
//! Layers, lowest first: built-in defaults, the file, `VIGILMON_*` environment
//! variables, command-line flags. The last two are merged by clap; [`Settings`] then
//! takes a value from the file only where neither was given.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vigilmon_core::alert::PolicyConfig;
use vigilmon_core::maintenance::MaintenanceConfig;
use vigilmon_core::status_page::StatusPageConfig;
use vigilmon_core::{HumanDuration, MonitorConfig, RegionName, ValidationError};
use vigilmon_notify::{ChannelConfig, ChannelKind};

/// The annotated example configuration, shipped in the binary.
pub const EXAMPLE: &str = include_str!("../../../vigilmon.example.yaml");

/// The whole file. Top-level keys are part of the contract (PRODUCT.md appendix).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub regions: Vec<RegionEntry>,
    #[serde(default)]
    pub probe: ProbeSection,
    #[serde(default)]
    pub retention: RetentionSection,
    #[serde(default)]
    pub monitors: Vec<MonitorConfig>,
    #[serde(default)]
    pub smtp: Option<SmtpSection>,
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
    #[serde(default)]
    pub maintenance: Vec<MaintenanceConfig>,
    #[serde(default)]
    pub alerting: AlertingSection,
    #[serde(default)]
    pub agents: AgentsSection,
    /// Several nodes on one PostgreSQL database (docs/SCALING.md).
    #[serde(default)]
    pub cluster: ClusterSection,
    /// Public status pages (docs/status-pages.md).
    #[serde(default)]
    pub status_pages: Vec<StatusPageConfig>,
    /// Problems that do not stop the file from loading (a status page naming a
    /// monitor the file does not declare, which may be made through the API).
    #[serde(skip)]
    pub warnings: Vec<ConfigError>,
    /// The top-level sections a reload does not apply (they take effect at the next
    /// start: `server`, `probe`, `regions`, ...), as written, to tell a reload which of
    /// them changed.
    #[serde(skip)]
    pub restart_only: std::collections::BTreeMap<String, yaml_serde::Value>,
}

/// The top-level sections a running server applies again when the file changes; every
/// other section is read at start only.
pub const RELOADED_SECTIONS: &[&str] = &[
    "monitors",
    "channels",
    "policies",
    "maintenance",
    "status_pages",
];

fn restart_only_sections(text: &str) -> std::collections::BTreeMap<String, yaml_serde::Value> {
    let Ok(yaml_serde::Value::Mapping(map)) = yaml_serde::from_str::<yaml_serde::Value>(text)
    else {
        return Default::default();
    };
    map.into_iter()
        .filter_map(|(k, v)| {
            let k = k.as_str()?.to_owned();
            (!RELOADED_SECTIONS.contains(&k.as_str())).then_some((k, v))
        })
        .collect()
}

/// `smtp:` — the mail server for email channels.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    pub host: String,
    /// Default 587 with starttls, 465 with tls, 25 with none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub from: String,
    /// `starttls` (default), `tls` or `none` (plain, for local relays).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// Accept a certificate that does not verify (a relay with a self-signed one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept_invalid_certs: bool,
}

/// `agents:` — how remote agents are driven.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsSection {
    /// How often agents poll their assignment (default 15s); an agent silent for 3
    /// polls is no longer live and its monitors move to the region's other agents.
    pub poll_interval: Option<HumanDuration>,
}

/// `cluster:` — how nodes on one database agree which one coordinates.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// How long the coordinator lease lasts without renewal (default 10s, 3s to 5m):
    /// when the coordinator dies, another node takes over within it.
    pub lease_ttl: Option<HumanDuration>,
}

/// `alerting:` — delivery settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingSection {
    /// First retry delay after a failed delivery; doubles per attempt (default 30s).
    pub retry_base: Option<HumanDuration>,
    /// Longest delay between attempts (default 1h).
    pub retry_max: Option<HumanDuration>,
    /// Attempts before a notification is given up (default 20).
    pub max_attempts: Option<u32>,
    /// Timeout of one delivery attempt (default 10s).
    pub send_timeout: Option<HumanDuration>,
    /// How long signed acknowledge links work (default 7d).
    pub ack_link_ttl: Option<HumanDuration>,
    /// The policy whose channels are told when a region served by agents becomes
    /// unavailable, and when it is back (default: nobody is told; it is logged and
    /// shown under regions).
    pub region_policy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    /// Region name of the built-in probe (default `local`).
    pub region: Option<String>,
    /// Most ping requests one heartbeat check takes per minute (default 100; 0: no
    /// limit). More get `429 rate limited`.
    pub ping_rate_limit: Option<u32>,
    /// Most monitors `?create=1` pings may have made and that still exist (default
    /// 1000; 0: auto-create is off). Over it, `403 auto-create limit reached`.
    pub ping_auto_create_limit: Option<u32>,
    /// A request's head must arrive whole within this time of the connection opening
    /// (or of its first byte on a kept-alive connection). Default 10s.
    pub header_read_timeout: Option<HumanDuration>,
    /// A request's body must arrive whole within this time of its head. Default 30s.
    pub body_read_timeout: Option<HumanDuration>,
    /// A connection with no request in flight is closed after this time. Default 60s.
    pub keepalive_timeout: Option<HumanDuration>,
    /// Most connections open at once (default 10000); more wait to be accepted.
    pub max_connections: Option<usize>,
    /// Host names requests may name besides the public URL's, the listen address's,
    /// loopback names and IP addresses; `*.example.com` for every name under one.
    /// Others are refused with 421.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Networks of reverse proxies whose `X-Forwarded-For` names the client (for the
    /// sign-in limit); none by default.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Client addresses the sign-in limiter counts one by one per minute (default
    /// 10000); more share one budget.
    pub tracked_clients: Option<usize>,
    /// The sign-in limiter's window: a client gets 10 wrong passwords per window
    /// (default 1m; 1m to 24h).
    pub sign_in_window: Option<HumanDuration>,
    /// Rendered status pages and badges kept in memory, each (default 10000).
    pub status_cache_entries: Option<usize>,
}

impl ServerSection {
    /// The connection bounds, defaults filled in.
    pub fn limits(&self) -> vigilmon_http::Limits {
        let d = vigilmon_http::Limits::default();
        vigilmon_http::Limits {
            header_read_timeout: self
                .header_read_timeout
                .map_or(d.header_read_timeout, |t| t.0),
            body_read_timeout: self.body_read_timeout.map_or(d.body_read_timeout, |t| t.0),
            keepalive_timeout: self.keepalive_timeout.map_or(d.keepalive_timeout, |t| t.0),
            max_connections: self.max_connections.unwrap_or(d.max_connections),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionEntry {
    pub name: String,
    /// For the built-in probe's region: `false` makes a server that only
    /// coordinates agents and runs no checks itself.
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    /// Most checks in flight at once (default 256).
    pub concurrency: Option<usize>,
    /// Allow probes to reach link-local addresses such as 169.254.169.254.
    #[serde(default)]
    pub allow_link_local: bool,
    /// Networks probes may never connect to, such as `10.0.0.0/8`.
    #[serde(default)]
    pub deny_networks: Vec<String>,
    /// Unix sockets `unix://` Redis monitors may reach (a socket, or a directory of
    /// them); none by default.
    #[serde(default)]
    pub allow_unix_sockets: Vec<PathBuf>,
    /// Extra CA certificates (PEM files) trusted for HTTPS checks.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// How long raw check results are kept (default 30 days).
    pub raw: Option<HumanDuration>,
}

/// A problem in a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Reads, expands, parses and validates a config file; returns every problem found.
pub fn load(path: &Path) -> Result<FileConfig, Vec<ConfigError>> {
    let file = path.display().to_string();
    let raw = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError {
            file: file.clone(),
            line: None,
            field: None,
            message: format!("cannot read the file: {e}"),
        }]
    })?;
    parse(&file, &raw, |name| std::env::var(name).ok())
}

/// Parses config text; `env` looks up variables for `${NAME}` expansion.
pub fn parse(
    file: &str,
    raw: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<FileConfig, Vec<ConfigError>> {
    let err = |line: Option<usize>, field: Option<String>, message: String| ConfigError {
        file: file.to_owned(),
        line,
        field,
        message,
    };
    let text =
        expand_env(raw, &env).map_err(|(line, message)| vec![err(Some(line), None, message)])?;
    let mut config: FileConfig = yaml_serde::from_str(&text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        vec![err(line, None, e.to_string())]
    })?;
    config.restart_only = restart_only_sections(&text);
    let mut errors = Vec::new();
    let mut names = HashSet::new();
    let mut tokens = HashSet::new();
    for (i, m) in config.monitors.iter().enumerate() {
        let label = format!("monitors[{i}]");
        if let Err(errs) = m.build() {
            for ValidationError { field, message } in errs {
                let line = locate(&text, "monitors", i, &field);
                errors.push(err(
                    line,
                    Some(format!("{label} ({:?}).{field}", m.name)),
                    message,
                ));
            }
        }
        if !names.insert(m.name.trim().to_owned()) {
            errors.push(err(
                locate(&text, "monitors", i, "name"),
                Some(format!("{label}.name")),
                format!("a monitor named {:?} is declared twice", m.name),
            ));
        }
        if let Some(token) = m.kind.as_heartbeat().and_then(|h| h.token.as_deref())
            && !tokens.insert(token.trim().to_owned())
        {
            errors.push(err(
                locate(&text, "monitors", i, "token"),
                Some(format!("{label} ({:?}).token", m.name)),
                "another heartbeat monitor in this file has this ping token".into(),
            ));
        }
    }
    let mut channel_names = HashSet::new();
    for (i, c) in config.channels.iter().enumerate() {
        if let Err(errs) = c.build() {
            for ValidationError { field, message } in errs {
                errors.push(err(
                    locate(&text, "channels", i, &field),
                    Some(format!("channels[{i}] ({:?}).{field}", c.name)),
                    message,
                ));
            }
        }
        if !channel_names.insert(c.name.trim().to_owned()) {
            errors.push(err(
                locate(&text, "channels", i, "name"),
                Some(format!("channels[{i}].name")),
                format!("a channel named {:?} is declared twice", c.name),
            ));
        }
        if matches!(c.kind, ChannelKind::Email(_)) && config.smtp.is_none() {
            errors.push(err(
                locate(&text, "channels", i, "type"),
                Some(format!("channels[{i}] ({:?})", c.name)),
                "email channels need an smtp: section".into(),
            ));
        }
    }
    let mut policy_names = HashSet::new();
    for (i, p) in config.policies.iter().enumerate() {
        if let Err(errs) = p.build(|c| channel_names.contains(c)) {
            for ValidationError { field, message } in errs {
                errors.push(err(
                    locate(&text, "policies", i, &field),
                    Some(format!("policies[{i}] ({:?}).{field}", p.name)),
                    message,
                ));
            }
        }
        if !policy_names.insert(p.name.trim().to_owned()) {
            errors.push(err(
                locate(&text, "policies", i, "name"),
                Some(format!("policies[{i}].name")),
                format!("a policy named {:?} is declared twice", p.name),
            ));
        }
    }
    for (i, m) in config.monitors.iter().enumerate() {
        if let Some(p) = &m.policy
            && !config.policies.is_empty()
            && !policy_names.contains(p.as_str())
        {
            errors.push(err(
                locate(&text, "monitors", i, "policy"),
                Some(format!("monitors[{i}] ({:?}).policy", m.name)),
                format!("no policy named {p:?} in this file"),
            ));
        }
    }
    if let Some(p) = &config.alerting.region_policy
        && !config.policies.is_empty()
        && !policy_names.contains(p.trim())
    {
        errors.push(err(
            None,
            Some("alerting.region_policy".into()),
            format!("no policy named {p:?} in this file"),
        ));
    }
    for (i, w) in config.maintenance.iter().enumerate() {
        if let Err(errs) = w.build() {
            for ValidationError { field, message } in errs {
                errors.push(err(
                    locate(&text, "maintenance", i, &field),
                    Some(format!("maintenance[{i}] ({:?}).{field}", w.name)),
                    message,
                ));
            }
        }
    }
    if let Some(smtp) = &config.smtp
        && !matches!(
            smtp.tls.as_deref(),
            None | Some("starttls" | "tls" | "none")
        )
    {
        errors.push(err(
            None,
            Some("smtp.tls".into()),
            "must be starttls, tls or none".into(),
        ));
    }
    for (i, r) in config.regions.iter().enumerate() {
        if let Err(e) = RegionName::parse(&r.name) {
            errors.push(err(
                locate(&text, "regions", i, "name"),
                Some(format!("regions[{i}].name")),
                e.to_string(),
            ));
        }
    }
    if let Some(r) = &config.server.region
        && let Err(e) = RegionName::parse(r)
    {
        errors.push(err(None, Some("server.region".into()), e.to_string()));
    }
    for (i, n) in config.probe.deny_networks.iter().enumerate() {
        if let Err(e) = n.parse::<vigilmon_probe::IpNet>() {
            errors.push(err(
                None,
                Some(format!("probe.deny_networks[{i}]")),
                e.to_string(),
            ));
        }
    }
    for (field, value) in [
        ("header_read_timeout", config.server.header_read_timeout),
        ("body_read_timeout", config.server.body_read_timeout),
        ("keepalive_timeout", config.server.keepalive_timeout),
    ] {
        if value.is_some_and(|d| d.0 < std::time::Duration::from_millis(100)) {
            errors.push(err(
                None,
                Some(format!("server.{field}")),
                "must be at least 100ms".into(),
            ));
        }
    }
    for (field, value) in [
        ("max_connections", config.server.max_connections),
        ("tracked_clients", config.server.tracked_clients),
        ("status_cache_entries", config.server.status_cache_entries),
    ] {
        if value == Some(0) {
            errors.push(err(
                None,
                Some(format!("server.{field}")),
                "must be at least 1".into(),
            ));
        }
    }
    if let Some(w) = config.server.sign_in_window
        && !(std::time::Duration::from_secs(60)..=std::time::Duration::from_secs(24 * 3600))
            .contains(&w.0)
    {
        errors.push(err(
            None,
            Some("server.sign_in_window".into()),
            "must be from 1m to 24h: shorter would allow more guesses than 10 a minute".into(),
        ));
    }
    if let Some(ttl) = config.cluster.lease_ttl
        && !(vigilmon_engine::node::MIN_LEASE_TTL..=std::time::Duration::from_secs(300))
            .contains(&ttl.0)
    {
        errors.push(err(
            None,
            Some("cluster.lease_ttl".into()),
            format!(
                "must be from {}s to 5m: renewals every third of it must fit, and a \
                 coordinator that dies is replaced within it",
                vigilmon_engine::node::MIN_LEASE_TTL.as_secs()
            ),
        ));
    }
    for (i, h) in config.server.allowed_hosts.iter().enumerate() {
        if let Err(e) = vigilmon_app::front::HostPattern::parse(h) {
            errors.push(err(None, Some(format!("server.allowed_hosts[{i}]")), e));
        }
    }
    for (i, n) in config.server.trusted_proxies.iter().enumerate() {
        if let Err(e) = n.parse::<vigilmon_probe::IpNet>() {
            errors.push(err(
                None,
                Some(format!("server.trusted_proxies[{i}]")),
                e.to_string(),
            ));
        }
    }
    if config.server.data_dir.is_some() && config.server.database_url.is_some() {
        errors.push(err(
            None,
            Some("server".into()),
            "set either data_dir (SQLite) or database_url (PostgreSQL), not both".into(),
        ));
    }
    let warnings = check_status_pages(&config, &text, &mut errors, &err);
    if errors.is_empty() {
        let mut config = config;
        config.warnings = warnings;
        Ok(config)
    } else {
        Err(errors)
    }
}

/// Validates the `status_pages:` section: each page's fields, unique slugs and
/// domains. A monitor name the file does not declare is a warning (returned), not an
/// error: it may name a monitor made through the API.
fn check_status_pages(
    config: &FileConfig,
    text: &str,
    errors: &mut Vec<ConfigError>,
    err: &impl Fn(Option<usize>, Option<String>, String) -> ConfigError,
) -> Vec<ConfigError> {
    let mut warnings = Vec::new();
    let monitor_names: HashSet<&str> = config.monitors.iter().map(|m| m.name.trim()).collect();
    let mut slugs = HashSet::new();
    let mut domains = HashSet::new();
    for (i, p) in config.status_pages.iter().enumerate() {
        let label = format!("status_pages[{i}] ({:?})", p.slug);
        if let Err(errs) = p.validate() {
            for ValidationError { field, message } in errs {
                errors.push(err(
                    locate(text, "status_pages", i, &field),
                    Some(format!("{label}.{field}")),
                    message,
                ));
            }
        }
        if !slugs.insert(p.slug.trim()) {
            errors.push(err(
                locate(text, "status_pages", i, "slug"),
                Some(format!("status_pages[{i}].slug")),
                format!("a status page with slug {:?} is declared twice", p.slug),
            ));
        }
        if let Some(public_url) = &config.server.public_url
            && let Ok(url) = url::Url::parse(public_url)
            && let Some(host) = url.host_str()
            && let Err(e) = p.check_domain_against(host)
        {
            errors.push(err(
                locate(text, "status_pages", i, "domain"),
                Some(format!("{label}.domain")),
                e.message,
            ));
        }
        if let Some(d) = p.normalized_domain()
            && !domains.insert(d.clone())
        {
            errors.push(err(
                locate(text, "status_pages", i, "domain"),
                Some(format!("status_pages[{i}].domain")),
                format!("two status pages answer on {d:?}"),
            ));
        }
        for (j, s) in p.sections.iter().enumerate() {
            for (k, m) in s.monitors.iter().enumerate() {
                if !m.name().is_empty() && !monitor_names.contains(m.name()) {
                    let field = format!("sections[{j}].monitors[{k}]");
                    warnings.push(err(
                        locate(text, "status_pages", i, &field),
                        Some(format!("{label}.{field}")),
                        format!(
                            "no monitor named {:?} in this file; the page shows it only if one is made through the API",
                            m.name()
                        ),
                    ));
                }
            }
        }
    }
    warnings
}

/// Replaces `${NAME}` with the variable's value; `$$` is a literal `$`. An unset
/// variable is an error naming it and its line (a silently empty secret is worse).
fn expand_env(raw: &str, env: &impl Fn(&str) -> Option<String>) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(raw.len());
    for (n, line) in raw.split_inclusive('\n').enumerate() {
        // Comments are left as they are, so documentation may mention ${VARS}.
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(stripped) = after.strip_prefix('$') {
                out.push('$');
                rest = stripped;
            } else if let Some(body) = after.strip_prefix('{') {
                let end = body
                    .find('}')
                    .ok_or((n + 1, "unclosed ${ in the file".to_owned()))?;
                let name = &body[..end];
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    return Err((n + 1, format!("${{{name}}} is not a valid variable name")));
                }
                let value =
                    env(name).ok_or((n + 1, format!("environment variable {name} is not set")))?;
                out.push_str(&value);
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
    }
    Ok(out)
}

/// Finds the line of `field` inside item `index` of the top-level list `section`, for
/// error messages. Best effort over block-style YAML; `None` when it cannot tell.
fn locate(text: &str, section: &str, index: usize, field: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == format!("{section}:"))?;
    let mut item_indent = None;
    let mut count = 0usize;
    let mut item_start = None;
    let mut item_end = lines.len();
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = l.len() - t.len();
        if indent == 0 {
            item_end = i;
            break;
        }
        if t.starts_with("- ") || t == "-" {
            let ind = *item_indent.get_or_insert(indent);
            if indent == ind {
                if item_start.is_some() {
                    item_end = i;
                    break;
                }
                if count == index {
                    item_start = Some(i);
                }
                count += 1;
            }
        }
    }
    let item_start = item_start?;
    // Walk the field's path (`expect.status[1]` → `expect`, then `status` nested
    // deeper), keeping the deepest line found.
    let mut line = item_start;
    let mut min_indent = 0;
    for seg in field.split('.') {
        let key = seg.split('[').next().unwrap_or(seg);
        let needle = format!("{key}:");
        let found = lines
            .iter()
            .enumerate()
            .take(item_end)
            .skip(line)
            .find(|(_, l)| {
                let t = l.trim_start();
                let indent = l.len() - t.len();
                let t = t.trim_start_matches("- ");
                indent >= min_indent
                    && (t.starts_with(&needle)
                        || t.contains(&format!("{{ {needle}"))
                        || t.contains(&format!(", {needle}")))
            });
        match found {
            Some((i, l)) => {
                line = i;
                min_indent = l.len() - l.trim_start().len() + 1;
            }
            None => break,
        }
    }
    Some(line + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn example_config_parses() {
        let env = |n: &str| Some(format!("<{n}>"));
        let c = parse("vigilmon.example.yaml", EXAMPLE, env).unwrap_or_else(|e| {
            panic!(
                "{}",
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert!(!c.monitors.is_empty());
    }

    #[test]
    fn env_expansion() {
        let env = |n: &str| (n == "TOKEN").then(|| "s3cret".to_owned());
        assert_eq!(
            expand_env("a: ${TOKEN}\nb: $$x $y\n", &env).unwrap(),
            "a: s3cret\nb: $x $y\n"
        );
        assert_eq!(expand_env("# ${NOPE}\n", &env).unwrap(), "# ${NOPE}\n");
        let e = expand_env("a: 1\nb: ${MISSING}\n", &env).unwrap_err();
        assert_eq!(e, (2, "environment variable MISSING is not set".to_owned()));
    }

    #[test]
    fn validation_errors_name_line_and_field() {
        let text = "monitors:\n  - name: ok\n    type: http\n    url: http://a\n  - name: fast\n    type: http\n    url: http://b\n    interval: 5s\n";
        let errs = parse("c.yaml", text, no_env).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "c.yaml:8: monitors[1] (\"fast\").interval: must be at least 10s (got 5s)"
        );
    }

    #[test]
    fn region_policy_and_regional_notice_are_checked() {
        let text = "channels:\n  - {name: hook, type: webhook, url: http://h}\npolicies:\n  - {name: ops, channels: [hook]}\nalerting: {region_policy: opps}\nmonitors:\n  - {name: a, type: http, url: http://a, regional_notice_after: 8d}\n";
        let errs = parse("c.yaml", text, no_env).unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown
                .iter()
                .any(|e| e.contains("alerting.region_policy")
                    && e.contains("no policy named \"opps\"")),
            "{shown:?}"
        );
        assert!(
            shown
                .iter()
                .any(|e| e.contains("regional_notice_after") && e.contains("at most 7d")),
            "{shown:?}"
        );
        let ok = text
            .replace("opps", "ops")
            .replace("regional_notice_after: 8d", "regional_notice_after: 2m");
        let c = parse("c.yaml", &ok, no_env).expect("valid");
        assert_eq!(c.alerting.region_policy.as_deref(), Some("ops"));
    }

    #[test]
    fn connection_limits_are_read_and_checked() {
        let c = parse(
            "c.yaml",
            "server:\n  header_read_timeout: 2s\n  max_connections: 50\n",
            no_env,
        )
        .unwrap();
        let limits = c.server.limits();
        assert_eq!(
            limits.header_read_timeout,
            std::time::Duration::from_secs(2)
        );
        assert_eq!(limits.max_connections, 50);
        assert_eq!(
            limits.keepalive_timeout,
            vigilmon_http::Limits::default().keepalive_timeout
        );
        let errs = parse(
            "c.yaml",
            "server:\n  keepalive_timeout: 10ms\n  max_connections: 0\n",
            no_env,
        )
        .unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "c.yaml: server.keepalive_timeout: must be at least 100ms",
                "c.yaml: server.max_connections: must be at least 1"
            ],
        );
    }

    #[test]
    fn the_sign_in_window_is_bounded() {
        let c = parse("c.yaml", "server:\n  sign_in_window: 1h\n", no_env).unwrap();
        assert_eq!(
            c.server.sign_in_window.map(|d| d.0),
            Some(std::time::Duration::from_secs(3600))
        );
        for bad in ["30s", "2d"] {
            let errs = parse(
                "c.yaml",
                &format!("server:\n  sign_in_window: {bad}\n"),
                no_env,
            )
            .unwrap_err();
            assert_eq!(errs.len(), 1, "{bad}");
            assert_eq!(errs[0].field.as_deref(), Some("server.sign_in_window"));
            assert!(
                errs[0].message.starts_with("must be from 1m to 24h"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_lease_ttl_is_bounded() {
        let c = parse("c.yaml", "cluster:\n  lease_ttl: 6s\n", no_env).unwrap();
        assert_eq!(
            c.cluster.lease_ttl.map(|d| d.0),
            Some(std::time::Duration::from_secs(6))
        );
        for bad in ["1s", "10m"] {
            let errs =
                parse("c.yaml", &format!("cluster:\n  lease_ttl: {bad}\n"), no_env).unwrap_err();
            assert!(
                errs[0]
                    .to_string()
                    .starts_with("c.yaml: cluster.lease_ttl: must be from 3s to 5m"),
                "{bad}: {}",
                errs[0]
            );
        }
    }

    #[test]
    fn front_settings_are_checked_by_field() {
        let c = parse(
            "c.yaml",
            "server:\n  allowed_hosts: [vigilmon.lan, \"*.corp.example\"]\n  trusted_proxies: [10.0.0.0/8]\n",
            no_env,
        )
        .unwrap();
        assert_eq!(c.server.allowed_hosts.len(), 2);
        let errs = parse(
            "c.yaml",
            "server:\n  allowed_hosts: [ok.example, \"https://x.example\"]\n  trusted_proxies: [10.0.0.0/33]\n  tracked_clients: 0\n",
            no_env,
        )
        .unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(
            shown[0].starts_with("c.yaml: server.tracked_clients: must be at least 1"),
            "{shown:?}"
        );
        assert!(
            shown[1].contains("server.allowed_hosts[1]") && shown[1].contains("not a host name"),
            "{shown:?}"
        );
        assert!(shown[2].contains("server.trusted_proxies[0]"), "{shown:?}");
    }

    #[test]
    fn yaml_errors_have_lines() {
        let errs = parse("c.yaml", "server:\n  listen: 1\n  lisen: x\n", no_env).unwrap_err();
        assert_eq!(errs[0].line, Some(3), "{}", errs[0]);
        assert!(errs[0].message.contains("lisen"), "{}", errs[0]);
        let errs = parse(
            "c.yaml",
            "monitors:\n  - name: a\n    type: http\n    urll: http://x\n",
            no_env,
        )
        .unwrap_err();
        assert!(errs[0].message.contains("urll"), "{}", errs[0]);
        assert!(errs[0].line.is_some());
    }

    #[test]
    fn status_pages_are_checked_with_lines_and_warnings() {
        let text = "monitors:\n  - {name: a, type: tcp, host: h, port: 1}\nstatus_pages:\n  - slug: ok\n    title: T\n    sections:\n      - name: S\n        monitors: [a, {name: made-by-api, public_name: API}]\n";
        let c = parse("c.yaml", text, no_env).unwrap();
        assert_eq!(c.status_pages.len(), 1);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        let w = c.warnings[0].to_string();
        assert!(
            w.starts_with("c.yaml:8: status_pages[0] (\"ok\").sections[0].monitors[1]"),
            "{w}"
        );
        assert!(w.contains("made-by-api"), "{w}");

        let text = "status_pages:\n  - slug: Bad Slug\n    title: T\n    accent_color: red\n    sections:\n      - name: S\n        monitors: [a]\n  - slug: two\n    title: T\n    domain: s.example.com\n    sections: [{name: S, monitors: [a]}]\n  - slug: two\n    title: T\n    domain: S.example.com\n    sections: [{name: S, monitors: [a]}]\n";
        let errs = parse("c.yaml", text, no_env).unwrap_err();
        let got: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            got[0].starts_with("c.yaml:2: status_pages[0] (\"Bad Slug\").slug:"),
            "{got:?}"
        );
        assert!(
            got[1].starts_with("c.yaml:4: status_pages[0] (\"Bad Slug\").accent_color:"),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|e| e.contains("status_pages[2].slug") && e.contains("declared twice")),
            "{got:?}"
        );
        assert!(
            got.iter().any(|e| e.contains("status_pages[2].domain")),
            "{got:?}"
        );
        assert!(
            parse(
                "c.yaml",
                "status_pages:\n  - {slug: a, title: t, sections: [], colour: x}\n",
                no_env
            )
            .is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn a_ping_token_is_given_to_one_heartbeat_only() {
        let text = "monitors:\n  - name: a\n    type: heartbeat\n    token: 5b1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n  - name: b\n    type: heartbeat\n    token: 5b1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n";
        let errs = parse("c.yaml", text, no_env).unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "c.yaml:7: monitors[1] (\"b\").token: another heartbeat monitor in this file has this ping token"
        );
    }

    #[test]
    fn duplicate_names_are_refused() {
        let text = "monitors:\n  - {name: a, type: tcp, host: h, port: 1}\n  - {name: a, type: tcp, host: h, port: 2}\n";
        let errs = parse("c.yaml", text, no_env).unwrap_err();
        assert_eq!(errs[0].line, Some(3));
    }
}
