//! `vigilmon export` and `vigilmon apply`: the configuration as a file in the config
//! file's form, and a file applied to a running server through the API.
//!
//! `export` reads a running server (`--server` and `--token`, or `VIGILMON_URL` and
//! `VIGILMON_TOKEN`; secrets always as `${NAME}` placeholders) or the store directly
//! (the flags `serve` takes; `--reveal-secrets` writes the secrets themselves).
//! `apply` expands `${NAME}` inside the file's values — a placeholder of a secret whose
//! variable is unset keeps the server's stored secret, any other unset variable is an
//! error — prints the plan the server answers (create, update field by field, delete
//! with `--prune`) and then, unless `--dry-run`, has the server make it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use vigilmon_app::as_code::{Document, Exported, Secrets};
use vigilmon_core::secret::{MASK, Secrets as _};

use crate::StoreArgs;

/// Where a running server is.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "VIGILMON_URL")]
    pub server: Option<String>,
    /// An API token (read scope for export, write scope for apply).
    #[arg(long, env = "VIGILMON_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,
    #[command(flatten)]
    pub remote: ServerArgs,
    /// Without --server: read the store these flags point at (as `serve` does).
    #[command(flatten)]
    pub store: StoreArgs,
    /// With the store read directly: write the secrets themselves, not placeholders.
    #[arg(long)]
    pub reveal_secrets: bool,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The file to apply (YAML or JSON): monitors, channels, policies, maintenance,
    /// status_pages.
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Print the plan only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete what the file does not name (never what the server's own config file
    /// declares).
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub remote: ServerArgs,
}

fn client() -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .user_agent(concat!("vigilmon/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

fn endpoint(remote: &ServerArgs) -> anyhow::Result<(String, String)> {
    let Some(server) = remote.server.as_deref() else {
        bail!("--server (or VIGILMON_URL) is needed: the base URL of a running server");
    };
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        bail!("--server must be an http:// or https:// URL, not {server:?}");
    }
    let Some(token) = remote.token.clone() else {
        bail!("--token (or VIGILMON_TOKEN) is needed: an API token of the server");
    };
    Ok((server.trim_end_matches('/').to_owned(), token))
}

/// The error a server answered, in words (every field problem on a line).
async fn refused(r: reqwest::Response) -> anyhow::Error {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let e = &body["error"];
    let mut text = format!(
        "the server refused ({status}): {}",
        e["message"].as_str().unwrap_or("no reason given")
    );
    for d in e["details"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "\n  {}: {}",
            d["field"].as_str().unwrap_or("?"),
            d["message"].as_str().unwrap_or("")
        ));
    }
    anyhow::anyhow!(text)
}

pub async fn export(args: ExportArgs) -> anyhow::Result<u8> {
    let exported: Exported = if args.remote.server.is_some() {
        if args.reveal_secrets {
            bail!(
                "--reveal-secrets works only when reading the store directly (--data-dir or \
                 --database-url): the API never sends secrets"
            );
        }
        let (server, token) = endpoint(&args.remote)?;
        let r = client()?
            .get(format!("{server}/api/v1/config"))
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("cannot reach {server}"))?;
        if !r.status().is_success() {
            return Err(refused(r).await);
        }
        r.json()
            .await
            .context("the server's answer is not a document")?
    } else {
        let (url, dir) = crate::admin::store_location(&args.store)?;
        if url.is_none() && !dir.join("vigilmon.db").exists() {
            bail!(
                "no database in {} (give --data-dir, --database-url, or --server for a running server)",
                dir.display()
            );
        }
        let store = crate::admin::open_store(url.as_deref(), &dir).await?;
        let secrets = if args.reveal_secrets {
            Secrets::Reveal
        } else {
            Secrets::Placeholders
        };
        vigilmon_app::as_code::export(&store, secrets)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the configuration: {e}"))?
    };
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&exported.document)? + "\n",
        Format::Yaml => {
            let mut head = String::from(
                "# Vigilmon configuration, exported: `vigilmon apply -f FILE` applies it;\n\
                 # its sections also fit serve's config file.\n",
            );
            if !exported.variables.is_empty() {
                head.push_str(
                    "# Secrets are ${NAME} placeholders: set these variables before applying\n\
                     # (left unset, a secret keeps what the server has):\n",
                );
                for v in &exported.variables {
                    head.push_str(&format!("#   {v}\n"));
                }
            }
            head + &yaml_serde::to_string(&exported.document)?
        }
    };
    print!("{text}");
    if matches!(args.format, Format::Json) && !exported.variables.is_empty() {
        eprintln!(
            "secrets are ${{NAME}} placeholders; variables: {}",
            exported.variables.join(", ")
        );
    }
    Ok(crate::exit::OK)
}

/// `${NAME}` expanded inside every string of the file (`$$` is a literal `$`); an unset
/// variable becomes the mask, and its name is recorded.
fn expand(v: &mut Value, unset: &mut BTreeSet<String>) -> Result<(), String> {
    match v {
        Value::String(s) if s.contains('$') => *s = expand_str(s, unset)?,
        Value::Array(items) => {
            for i in items {
                expand(i, unset)?;
            }
        }
        Value::Object(map) => {
            for (_, v) in map.iter_mut() {
                expand(v, unset)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand_str(s: &str, unset: &mut BTreeSet<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or("unclosed ${ in a value")?;
            let name = &body[..end];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("${{{name}}} is not a valid variable name"));
            }
            match std::env::var(name) {
                Ok(value) => out.push_str(&value),
                Err(_) => {
                    unset.insert(name.to_owned());
                    out.push_str(MASK);
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads and expands the file into a document; unset variables are allowed only in
/// secret fields.
fn read_document(path: &std::path::Path) -> anyhow::Result<Document> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let yaml: yaml_serde::Value =
        yaml_serde::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut value =
        serde_json::to_value(&yaml).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Value::Object(map) = &value {
        let known = crate::config::RELOADED_SECTIONS;
        let other: Vec<&String> = map
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        if !other.is_empty() {
            bail!(
                "{}: apply takes only {}; {} belong{} to serve's own config file",
                path.display(),
                known.join(", "),
                other
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if other.len() == 1 { "s" } else { "" }
            );
        }
    }
    let mut unset = BTreeSet::new();
    expand(&mut value, &mut unset).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let doc: Document = serde_path_to_error::deserialize(value)
        .map_err(|e| anyhow::anyhow!("{}: {}: {}", path.display(), e.path(), e.inner()))?;
    if !unset.is_empty() {
        // The mask may stand only where a secret is: elsewhere the variable is missing.
        let mut outside = doc.clone();
        for m in &mut outside.monitors {
            m.visit_secrets(&mut |_, _, v| v.clear());
        }
        for c in &mut outside.channels {
            c.visit_secrets(&mut |_, _, v| v.clear());
        }
        if serde_json::to_string(&outside)?.contains(MASK) {
            bail!(
                "{}: environment variable{} {} not set (only a secret's variable may be left \
                 unset, to keep the server's stored secret)",
                path.display(),
                if unset.len() == 1 { "" } else { "s" },
                unset.iter().cloned().collect::<Vec<_>>().join(", ")
                    + if unset.len() == 1 { " is" } else { " are" }
            );
        }
        eprintln!(
            "unset, so the server's stored secret is kept: {}",
            unset.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(doc)
}

fn print_plan(plan: &Value) {
    let changes = plan["changes"].as_array().cloned().unwrap_or_default();
    for c in &changes {
        let sign = match c["action"].as_str() {
            Some("create") => "+",
            Some("delete") => "-",
            _ => "~",
        };
        println!(
            "{sign} {} {} ({})",
            c["kind"].as_str().unwrap_or("?"),
            c["name"],
            c["action"].as_str().unwrap_or("?")
        );
        for f in c["fields"].as_array().into_iter().flatten() {
            let shown = |v: &Value| {
                if v.is_null() {
                    "(none)".to_owned()
                } else {
                    v.to_string()
                }
            };
            println!(
                "    {}: {} → {}",
                f["field"].as_str().unwrap_or("?"),
                shown(&f["from"]),
                shown(&f["to"])
            );
        }
    }
    let unchanged = plan["unchanged"].as_u64().unwrap_or(0);
    if changes.is_empty() {
        println!("no changes ({unchanged} unchanged)");
    } else {
        println!("{} change(s), {unchanged} unchanged", changes.len());
    }
}

pub async fn apply(args: ApplyArgs) -> anyhow::Result<u8> {
    let (server, token) = endpoint(&args.remote)?;
    let doc = read_document(&args.file)?;
    let client = client()?;
    let send = |dry_run: bool| {
        client
            .post(format!("{server}/api/v1/config/apply"))
            .bearer_auth(&token)
            .json(&json!({"document": doc, "dry_run": dry_run, "prune": args.prune}))
            .send()
    };
    let r = send(true)
        .await
        .with_context(|| format!("cannot reach {server}"))?;
    if !r.status().is_success() {
        return Err(refused(r).await);
    }
    let plan: Value = r.json().await?;
    print_plan(&plan);
    let nothing = plan["changes"].as_array().is_none_or(Vec::is_empty);
    if args.dry_run || nothing {
        if args.dry_run && !nothing {
            println!("dry run: nothing changed");
        }
        return Ok(crate::exit::OK);
    }
    let r = send(false)
        .await
        .with_context(|| format!("cannot reach {server}"))?;
    if !r.status().is_success() {
        return Err(refused(r).await);
    }
    let done: Value = r.json().await?;
    if done["changes"] != plan["changes"] {
        println!("the server changed meanwhile; applied instead:");
        print_plan(&done);
    }
    println!("applied");
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_expand_and_unset_variables_become_the_mask() {
        let mut unset = BTreeSet::new();
        // A variable this test alone names, never set.
        let v = expand_str("a $$ b ${VIGILMON_TEST_SURELY_UNSET_1} c", &mut unset).unwrap();
        assert_eq!(v, format!("a $ b {MASK} c"));
        assert_eq!(
            unset.into_iter().collect::<Vec<_>>(),
            ["VIGILMON_TEST_SURELY_UNSET_1"]
        );
        let mut unset = BTreeSet::new();
        assert!(expand_str("${bad-name}", &mut unset).is_err());
        assert!(expand_str("${OPEN", &mut unset).is_err());
        assert_eq!(expand_str("cost: $5", &mut unset).unwrap(), "cost: $5");
    }
}
