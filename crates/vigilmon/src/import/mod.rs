//! `vigilmon import`: reads another monitoring tool's configuration and writes a
//! Vigilmon config file to review and apply, with a report of what mapped, what
//! changed on the way (and why), and what did not map (and why).
//!
//! Each source has its module, which turns its input into Vigilmon's own typed config
//! ([`Imported`]: `MonitorConfig`, `ChannelConfig`, `PolicyConfig`) and report lines.
//! The file is serialized from those types, never glued from strings, and is loaded
//! back with the loader `vigilmon validate` and `serve --config` use before anything
//! is written: an import is a valid file or no file. Secrets become `${VARIABLE}`
//! placeholders (the loader expands them), named in the report, unless the operator
//! asks for them verbatim.

pub mod gatus;
pub mod healthchecks;
pub mod uptime_kuma;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vigilmon_core::alert::PolicyConfig;
use vigilmon_core::{MonitorConfig, ValidationError};
use vigilmon_notify::ChannelConfig;

use crate::config::SmtpSection;

/// The tools Vigilmon imports from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// A Gatus YAML configuration.
    Gatus,
    /// A Healthchecks project: its API v3 (a base URL and --api-key) or a saved
    /// `/api/v3/checks/` JSON.
    Healthchecks,
    /// An Uptime Kuma 1.x backup JSON, or a 2.x data folder's kuma.db.
    #[value(name = "uptime-kuma")]
    UptimeKuma,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Gatus => "Gatus",
            Source::Healthchecks => "Healthchecks",
            Source::UptimeKuma => "Uptime Kuma",
        }
    }
}

/// `vigilmon import`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The tool the input comes from.
    #[arg(long, value_enum)]
    pub from: Source,
    /// The input: the tool's configuration file (Uptime Kuma: a backup JSON or
    /// kuma.db); for
    /// Healthchecks, a saved
    /// /api/v3/checks/ JSON or the base URL of its API (https://healthchecks.example).
    pub input: String,
    /// Write the Vigilmon config file here [default: standard output]. An existing
    /// file is not replaced without --force.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Write the report here instead of standard error.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Healthchecks API key, sent as X-Api-Key when INPUT is a URL. Read-only keys list
    /// checks without their UUIDs, so the ping URLs cannot be kept: prefer the full key.
    #[arg(long, env = "HEALTHCHECKS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Write secrets (webhook URLs, keys, passwords) into the file as they are,
    /// instead of ${VARIABLE} placeholders named in the report.
    #[arg(long)]
    pub keep_secrets: bool,
}

/// Runs `vigilmon import`: reads, maps, checks, then writes the file and the report.
/// Nothing is written when the input cannot be read or the result does not load.
pub async fn run(args: ImportArgs) -> anyhow::Result<u8> {
    if let Some(out) = &args.output
        && out.exists()
        && !args.force
    {
        bail!(
            "{} exists; give --force to replace it, or another -o FILE",
            out.display()
        );
    }
    let mut env = Env::new(args.keep_secrets);
    let mut out = Imported::default();
    match args.from {
        Source::Gatus => {
            let text = std::fs::read_to_string(&args.input)
                .with_context(|| format!("cannot read {}", args.input))?;
            gatus::import(&args.input, &text, &mut out, &mut env)?;
        }
        Source::Healthchecks => {
            let text = healthchecks::read(&args.input, args.api_key.as_deref()).await?;
            healthchecks::import(&args.input, &text, &mut out, &env)?;
        }
        Source::UptimeKuma if uptime_kuma::is_database(&args.input) => {
            uptime_kuma::import_database(&args.input, &mut out, &mut env).await?;
        }
        Source::UptimeKuma => {
            let text = std::fs::read_to_string(&args.input)
                .with_context(|| format!("cannot read {}", args.input))?;
            uptime_kuma::import(&args.input, &text, &mut out, &mut env)?;
        }
    }
    out.drop_unused_policies();
    let text = out.render(args.from, &args.input, &env)?;
    let report = out.report.render(&env);
    match &args.output {
        Some(path) => write_file(path, &text)?,
        None => print!("{text}"),
    }
    match &args.report {
        Some(path) => std::fs::write(path, &report)
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        None => eprint!("{report}"),
    }
    Ok(crate::exit::OK)
}

/// Writes `text` to `path` whole: into a temporary file beside it, then renamed.
fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".import-tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// What one object of the source became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Mapped as it was.
    Mapped,
    /// Mapped, with these changes (each says what and why).
    Changed(Vec<String>),
    /// Not mapped, for this reason.
    NotMapped(String),
}

/// One line of the report: an object of the source and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// What it is in the source: `endpoint`, `alert provider`, `check`, …
    pub what: String,
    pub name: String,
    pub outcome: Outcome,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: ", self.what, self.name)?;
        match &self.outcome {
            Outcome::Mapped => f.write_str("mapped"),
            Outcome::Changed(changes) => write!(f, "mapped with changes: {}", changes.join("; ")),
            Outcome::NotMapped(why) => write!(f, "not mapped: {why}"),
        }
    }
}

/// The report: one line per object of the source.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<Line>,
}

impl Report {
    pub fn push(&mut self, what: &str, name: &str, outcome: Outcome) {
        self.lines.push(Line {
            what: what.to_owned(),
            name: name.to_owned(),
            outcome,
        });
    }

    fn outcome(changes: Vec<String>) -> Outcome {
        if changes.is_empty() {
            Outcome::Mapped
        } else {
            Outcome::Changed(changes)
        }
    }

    /// The report as printed: its lines, the variables to set, and the counts.
    fn render(&self, env: &Env) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(&l.to_string());
            s.push('\n');
        }
        let count = |f: fn(&Outcome) -> bool| self.lines.iter().filter(|l| f(&l.outcome)).count();
        let vars = env.placeholders();
        if !vars.is_empty() {
            s.push_str("set these environment variables before using the file:\n");
            for (name, purpose) in vars {
                s.push_str(&format!("  {name}: {purpose}\n"));
            }
        }
        s.push_str(&format!(
            "{} mapped, {} mapped with changes, {} not mapped\n",
            count(|o| matches!(o, Outcome::Mapped)),
            count(|o| matches!(o, Outcome::Changed(_))),
            count(|o| matches!(o, Outcome::NotMapped(_))),
        ));
        s
    }
}

/// Where a placeholder starts and ends while the config is being built; they become
/// `${NAME}` once every other `$` has been escaped.
const MARK_OPEN: &str = "\u{27e6}env:";
const MARK_CLOSE: &str = "\u{27e7}";

/// The environment variables the imported file refers to: placeholders for secrets,
/// and variables the source file itself referred to.
pub struct Env {
    keep_secrets: bool,
    vars: BTreeMap<String, Var>,
}

struct Var {
    purpose: String,
    /// What the variable stands for, to check the file with (never written).
    sample: String,
    /// Whether `sample` is the real value (not one made up for its shape).
    known: bool,
}

/// A made-up value of the shape setting `field` takes, for checking a file whose
/// variable's value is not known here.
fn sample_for(field: &str) -> &'static str {
    if field.contains("url") || field == "homeserver" {
        "https://example.com/placeholder"
    } else if field == "bot_token" {
        "123456:placeholder"
    } else {
        "placeholder-0123456789abcdef"
    }
}

impl Env {
    pub fn new(keep_secrets: bool) -> Env {
        Env {
            keep_secrets,
            vars: BTreeMap::new(),
        }
    }

    /// The text to write for secret `value`: a placeholder named after `var` (made
    /// unique) that the report asks to set, or `value` itself with `--keep-secrets`.
    /// A value that already is a reference to a variable keeps it.
    pub fn secret(&mut self, var: &str, value: &str, purpose: &str) -> String {
        if value.starts_with(MARK_OPEN)
            && value.ends_with(MARK_CLOSE)
            && value.matches(MARK_OPEN).count() == 1
        {
            // The source's own variable: when its value is unknown here, check the
            // file with a value of the field's shape.
            let name = &value[MARK_OPEN.len()..value.len() - MARK_CLOSE.len()];
            if let Some(v) = self.vars.get_mut(name)
                && !v.known
            {
                v.sample = sample_for(var.rsplit(' ').next().unwrap_or(var)).to_owned();
            }
            return value.to_owned();
        }
        if self.keep_secrets {
            return value.to_owned();
        }
        let base = env_name(var);
        let mut name = base.clone();
        let mut n = 1;
        while self.vars.contains_key(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.vars.insert(
            name.clone(),
            Var {
                purpose: purpose.to_owned(),
                sample: value.to_owned(),
                known: true,
            },
        );
        format!("{MARK_OPEN}{name}{MARK_CLOSE}")
    }

    /// Replaces `${NAME}` (and `$NAME`) references of the source's own text with
    /// placeholders of the same variables, recorded as needed by `purpose`.
    pub fn keep_references(&mut self, text: &str, purpose: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (name, tail) = if let Some(body) = after.strip_prefix('{') {
                match body.find('}') {
                    Some(end) if is_env_name(&body[..end]) => (&body[..end], &body[end + 1..]),
                    _ => ("", after),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                if is_env_name(&after[..end]) {
                    (&after[..end], &after[end..])
                } else {
                    ("", after)
                }
            };
            if name.is_empty() {
                out.push('$');
                rest = after;
                continue;
            }
            self.vars.entry(name.to_owned()).or_insert_with(|| {
                let value = std::env::var(name).ok();
                Var {
                    purpose: purpose.to_owned(),
                    known: value.is_some(),
                    sample: value.unwrap_or_else(|| "example".to_owned()),
                }
            });
            out.push_str(&format!("{MARK_OPEN}{name}{MARK_CLOSE}"));
            rest = tail;
        }
        out.push_str(rest);
        out
    }

    /// Every variable and what it is for.
    fn placeholders(&self) -> Vec<(&str, &str)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.purpose.as_str()))
            .collect()
    }

    /// `text` with its placeholders replaced by what they stand for.
    fn resolve(&self, text: &str) -> String {
        self.substitute(text, |name| {
            self.vars
                .get(name)
                .map_or_else(|| "example".to_owned(), |v| v.sample.clone())
        })
    }

    /// `text` with every placeholder replaced by `value(name)`.
    fn substitute(&self, text: &str, value: impl Fn(&str) -> String) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find(MARK_OPEN) {
            out.push_str(&rest[..pos]);
            let body = &rest[pos + MARK_OPEN.len()..];
            match body.find(MARK_CLOSE) {
                Some(end) => {
                    out.push_str(&value(&body[..end]));
                    rest = &body[end + MARK_CLOSE.len()..];
                }
                None => {
                    out.push_str(MARK_OPEN);
                    rest = body;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// A copy of `t` with its placeholders replaced by what they stand for, to be
    /// checked as the loader will check it once the variables are set.
    fn resolved<T: Serialize + DeserializeOwned>(&self, t: &T) -> Option<T> {
        let v = serde_json::to_value(t).ok()?;
        serde_json::from_value(map_strings(v, &|s| self.resolve(s))).ok()
    }
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// An environment variable's name made of `s`: upper case, `_` between words.
pub fn env_name(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("V_{out}")
    } else {
        out
    }
}

/// `s` with every `$` the loader would take for the start of a reference (`${`, `$$`,
/// or a placeholder to come) doubled, so that it reads back as written.
fn escape_dollars(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' && matches!(chars.peek(), Some('$' | '{' | '\u{27e6}')) {
            out.push('$');
        }
    }
    out
}

/// Applies `f` to every string (and key) of a JSON value.
fn map_strings(v: serde_json::Value, f: &impl Fn(&str) -> String) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(f(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| map_strings(x, f)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (f(&k), map_strings(x, f)))
                .collect(),
        ),
        other => other,
    }
}

/// What the import makes: the parts of a Vigilmon config file, and the report.
#[derive(Debug, Default, Serialize)]
pub struct Imported {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpSection>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub monitors: Vec<MonitorConfig>,
    #[serde(skip)]
    pub report: Report,
    #[serde(skip)]
    names: HashSet<String>,
}

/// Validation errors in a sentence: `field: reason; …`.
fn in_words(errs: &[ValidationError]) -> String {
    errs.iter()
        .map(|e| {
            if e.field.is_empty() {
                e.message.clone()
            } else {
                format!("{}: {}", e.field, e.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Imported {
    /// A monitor name no other imported monitor has (`name (2)` otherwise; the change
    /// is added to `changes`).
    pub fn unique_name(&mut self, name: &str, changes: &mut Vec<String>) -> String {
        let base = name.trim().to_owned();
        let mut candidate = base.clone();
        let mut n = 1;
        while self.names.contains(&candidate) {
            n += 1;
            candidate = format!("{base} ({n})");
        }
        if candidate != base {
            changes.push(format!(
                "renamed {candidate:?}: another monitor is named {base:?}"
            ));
        }
        candidate
    }

    /// Adds monitor `m` if it validates, and reports it (`what` and `name` as the
    /// source calls it) as mapped, mapped with `changes`, or not mapped with the
    /// validation's reasons.
    pub fn add_monitor(
        &mut self,
        what: &str,
        name: &str,
        m: MonitorConfig,
        changes: Vec<String>,
        env: &Env,
    ) {
        let checked = env.resolved(&m).map(|r| r.build());
        match checked {
            Some(Ok(_)) => {
                self.names.insert(m.name.clone());
                self.monitors.push(m);
                self.report.push(what, name, Report::outcome(changes));
            }
            Some(Err(errs)) => self.report.push(
                what,
                name,
                Outcome::NotMapped(format!("it would not be valid: {}", in_words(&errs))),
            ),
            None => self.report.push(
                what,
                name,
                Outcome::NotMapped("it could not be written as a monitor".into()),
            ),
        }
    }

    /// Adds channel `c` if it validates; returns whether it was added. Reported like
    /// [`Imported::add_monitor`].
    pub fn add_channel(
        &mut self,
        what: &str,
        name: &str,
        c: ChannelConfig,
        changes: Vec<String>,
        env: &Env,
    ) -> bool {
        match env.resolved(&c).map(|r| r.build()) {
            Some(Ok(_)) => {
                self.channels.push(c);
                self.report.push(what, name, Report::outcome(changes));
                true
            }
            Some(Err(errs)) => {
                self.report.push(
                    what,
                    name,
                    Outcome::NotMapped(format!("it would not be valid: {}", in_words(&errs))),
                );
                false
            }
            None => {
                self.report.push(
                    what,
                    name,
                    Outcome::NotMapped("it could not be written as a channel".into()),
                );
                false
            }
        }
    }

    /// The name of a policy that sends to `channels` with `notify_on`, made once for
    /// each such combination.
    pub fn policy_for(&mut self, channels: &[String], notify_on: &[&str]) -> String {
        let default_events = notify_on == ["down", "recovered"];
        if let Some(p) = self.policies.iter().find(|p| {
            p.channels == channels
                && p.notify_on.as_deref().map_or(default_events, |n| {
                    n.iter().map(String::as_str).eq(notify_on.iter().copied())
                })
        }) {
            return p.name.clone();
        }
        let mut name = format!("to {}", channels.join(", "));
        if !default_events {
            name.push_str(&format!(" ({})", notify_on.join(", ")));
        }
        if name.chars().count() > 100 {
            name = format!("imported policy {}", self.policies.len() + 1);
        }
        self.policies.push(PolicyConfig {
            name: name.clone(),
            priority: None,
            channels: channels.to_vec(),
            notify_on: (!default_events)
                .then(|| notify_on.iter().map(|s| (*s).to_owned()).collect()),
            remind_every: None,
            escalate: Vec::new(),
            incident_on_degraded: None,
        });
        name
    }

    /// Drops the policies no imported monitor names (made for a monitor that then
    /// did not validate).
    pub fn drop_unused_policies(&mut self) {
        let used: HashSet<String> = self
            .monitors
            .iter()
            .filter_map(|m| m.policy.clone())
            .collect();
        self.policies.retain(|p| used.contains(&p.name));
    }

    /// The config file: a header naming the source and the variables to set, then the
    /// YAML of the typed parts, every `$` the loader would expand escaped and every
    /// placeholder written `${NAME}`. Loaded back with the loader before it is
    /// returned.
    fn render(&self, from: Source, input: &str, env: &Env) -> anyhow::Result<String> {
        let value = serde_json::to_value(self).context("cannot serialize the config")?;
        let escaped = map_strings(value, &|s| {
            env.substitute(&escape_dollars(s), |name| format!("${{{name}}}"))
        });
        let yaml = yaml_serde::to_string(&escaped).context("cannot serialize the config")?;
        let mut text = format!(
            "# Vigilmon configuration imported from {} ({}) by `vigilmon import`.\n\
             # Review it, then check it with `vigilmon validate -f FILE`.\n",
            from.label(),
            input.replace('\n', " ")
        );
        let vars = env.placeholders();
        if !vars.is_empty() {
            text.push_str("# It needs these environment variables:\n");
            for (name, purpose) in &vars {
                text.push_str(&format!("#   {name}: {}\n", purpose.replace('\n', " ")));
            }
        }
        text.push_str(&yaml);
        if let Err(errors) = crate::config::parse("the imported file", &text, |name| {
            Some(env.resolve(&format!("{MARK_OPEN}{name}{MARK_CLOSE}")))
        }) {
            let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
            bail!(
                "the imported configuration does not load, so nothing was written:\n{}",
                shown.join("\n")
            );
        }
        Ok(text)
    }
}

/// Reads `text` as `T`, naming the file, the line and the field on failure.
pub fn read_yaml<T: DeserializeOwned>(input: &str, text: &str) -> anyhow::Result<T> {
    let de = yaml_serde::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let line = inner
            .location()
            .map(|l| format!(":{}", l.line()))
            .unwrap_or_default();
        if path == "." || path.is_empty() {
            anyhow::anyhow!("{input}{line}: {inner}")
        } else {
            anyhow::anyhow!("{input}{line}: {path}: {inner}")
        }
    })
}

/// Reads `text` as JSON `T`, naming the file, the line and the field on failure.
pub fn read_json<T: DeserializeOwned>(input: &str, text: &str) -> anyhow::Result<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            anyhow::anyhow!("{input}:{}: {inner}", inner.line())
        } else {
            anyhow::anyhow!("{input}:{}: {path}: {inner}", inner.line())
        }
    })
}

/// A tag Vigilmon accepts made of `s` (1–64 characters), if any.
pub fn tag(s: &str) -> Option<String> {
    let t: String = s.trim().chars().take(64).collect();
    (!t.is_empty()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_no_monitor_names_are_dropped() {
        let mut out = Imported::default();
        let used = out.policy_for(&["slack".to_owned()], &["down", "recovered"]);
        let unused = out.policy_for(&["email".to_owned()], &["down"]);
        assert_eq!(
            out.policy_for(&["slack".to_owned()], &["down", "recovered"]),
            used,
            "one policy per set of channels and events"
        );
        assert_eq!(unused, "to email (down)");
        let mut m = MonitorConfig::new("a", vigilmon_core::monitor::KindConfig::default());
        m.policy = Some(used.clone());
        out.monitors.push(m);
        out.drop_unused_policies();
        let names: Vec<&str> = out.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, [used.as_str()]);
    }

    #[test]
    fn variable_names_are_upper_case_words() {
        assert_eq!(env_name("slack webhook_url"), "SLACK_WEBHOOK_URL");
        assert_eq!(env_name("[ops] pager-duty"), "OPS_PAGER_DUTY");
        assert_eq!(env_name("1password"), "V_1PASSWORD");
    }

    #[test]
    fn references_of_the_source_are_kept_and_other_dollars_escaped() {
        let mut env = Env::new(false);
        let t = env.keep_references("url: https://${HOST}/x?a=$PORT&b=$5", "the source");
        let out = env.substitute(&escape_dollars(&t), |n| format!("${{{n}}}"));
        assert_eq!(out, "url: https://${HOST}/x?a=${PORT}&b=$5");
        assert_eq!(escape_dollars("$.a ${x} $$ $"), "$.a $${x} $$$ $");
        let names: Vec<&str> = env.placeholders().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["HOST", "PORT"]);
    }

    #[test]
    fn secrets_become_unique_placeholders_unless_kept() {
        let mut env = Env::new(false);
        let a = env.secret("slack webhook_url", "https://hooks.slack.com/a", "slack");
        let b = env.secret("slack webhook_url", "https://hooks.slack.com/b", "slack 2");
        assert_ne!(a, b);
        assert_eq!(env.resolve(&b), "https://hooks.slack.com/b");
        assert_eq!(
            env.substitute(&a, |n| format!("${{{n}}}")),
            "${SLACK_WEBHOOK_URL}"
        );
        assert_eq!(
            env.substitute(&b, |n| format!("${{{n}}}")),
            "${SLACK_WEBHOOK_URL_2}"
        );
        let mut kept = Env::new(true);
        assert_eq!(kept.secret("x", "s3cret", "x"), "s3cret");
        assert!(kept.placeholders().is_empty());
    }
}
