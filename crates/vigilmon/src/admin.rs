//! `vigilmon user …` and `vigilmon token …`: bootstrap credentials from the shell,
//! working directly on the same store as `serve`.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use vigilmon_app::auth::{Scope, generate_token, hash_password, hash_token};
use vigilmon_store::Store;

use crate::StoreArgs;
use crate::config;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// owner, admin, editor or viewer [default: owner for the first user, else admin].
        #[arg(long)]
        role: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token; it is printed once, alone on the last line.
    Create {
        #[arg(long)]
        name: String,
        /// read, write, or agent (an agent token for one region, with --region).
        #[arg(long, default_value = "read")]
        scope: String,
        /// The region of an agent token.
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens (never their values).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token by id.
    Revoke {
        id: uuid::Uuid,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the store is, from flags / environment first, then the config file.
pub fn store_location(args: &StoreArgs) -> anyhow::Result<(Option<String>, PathBuf)> {
    let file = match &args.config {
        Some(p) => Some(config::load(p).map_err(|errs| {
            anyhow::anyhow!(
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?),
        None => None,
    };
    let server = file.as_ref().map(|f| &f.server);
    let database_url = args
        .database_url
        .clone()
        .or_else(|| server.and_then(|s| s.database_url.clone()));
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| server.and_then(|s| s.data_dir.clone()))
        .unwrap_or_else(|| PathBuf::from("./vigilmon-data"));
    Ok((database_url, data_dir))
}

/// Opens the store the flags point at.
pub async fn open_store(
    database_url: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<Store> {
    match database_url {
        Some(url) => {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                bail!("--database-url must be a postgres:// URL");
            }
            Store::open_postgres(url)
                .await
                .context("cannot open the PostgreSQL database")
        }
        None => Store::open_sqlite(data_dir)
            .await
            .with_context(|| format!("cannot open the SQLite database in {}", data_dir.display())),
    }
}

async fn open(args: &StoreArgs) -> anyhow::Result<Store> {
    let (url, dir) = store_location(args)?;
    open_store(url.as_deref(), &dir).await
}

pub async fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            email,
            password_stdin: _,
            role,
            store,
        } => {
            let email = email.trim().to_owned();
            if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
                bail!("--email: {email:?} is not an email address");
            }
            if let Some(r) = &role
                && !["owner", "admin", "editor", "viewer"].contains(&r.as_str())
            {
                bail!("--role: must be owner, admin, editor or viewer");
            }
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let hash = hash_password(password).map_err(|e| anyhow::anyhow!("password: {e}"))?;
            let store = open(&store).await?;
            let role = match role {
                Some(r) => r,
                None if store.count_users().await? == 0 => "owner".to_owned(),
                None => "admin".to_owned(),
            };
            let user = store
                .create_user(&email, &hash, &role, jiff::Timestamp::now())
                .await?;
            store.close().await;
            println!("created user {} with role {}", user.email, user.role);
            Ok(())
        }
    }
}

pub async fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            name,
            scope,
            region,
            store,
        } => {
            let name = name.trim().to_owned();
            if name.is_empty() || name.len() > 100 {
                bail!("--name: must be 1 to 100 characters");
            }
            if scope == "agent" {
                let region =
                    region.context("--region: an agent token serves one region; name it")?;
                let region = vigilmon_core::RegionName::parse(&region)
                    .map_err(|e| anyhow::anyhow!("--region: {e}"))?;
                let store = open(&store).await?;
                let token = generate_token();
                let rec = store
                    .create_agent_token(
                        &name,
                        &hash_token(&token),
                        region.as_str(),
                        None,
                        jiff::Timestamp::now(),
                    )
                    .await?;
                store.close().await;
                println!(
                    "Created agent service token {:?} for region {region} (id {}). It is shown once; store it now:",
                    rec.name, rec.id
                );
                println!("{token}");
                return Ok(());
            }
            if region.is_some() {
                bail!("--region applies to agent tokens only (--scope agent)");
            }
            let scope = Scope::parse(&scope)
                .with_context(|| format!("--scope: {scope:?} must be read, write or agent"))?;
            let store = open(&store).await?;
            let token = generate_token();
            let rec = store
                .create_token(
                    &name,
                    &hash_token(&token),
                    scope.as_str(),
                    None,
                    jiff::Timestamp::now(),
                )
                .await?;
            store.close().await;
            println!(
                "Created {} service token {:?} (id {}). It is shown once; store it now:",
                scope.as_str(),
                rec.name,
                rec.id
            );
            println!("{token}");
            Ok(())
        }
        TokenCommand::List { store } => {
            let store = open(&store).await?;
            for t in store.list_tokens().await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let used = t
                    .last_used_at
                    .map_or_else(|| "never used".to_owned(), |u| format!("last used {u}"));
                let region = t
                    .region
                    .as_deref()
                    .map(|r| format!(" region {r}"))
                    .unwrap_or_default();
                let owner = t.owner.as_ref().map_or("service", |o| o.email.as_str());
                println!(
                    "{}  {:<6} {:<8} {}{region}  owner {owner}  ({used})",
                    t.id, t.scope, state, t.name
                );
            }
            store.close().await;
            Ok(())
        }
        TokenCommand::Revoke { id, store } => {
            let store = open(&store).await?;
            let done = store.revoke_token(id, jiff::Timestamp::now()).await?;
            store.close().await;
            if !done {
                bail!("no token with id {id}");
            }
            println!("revoked token {id}");
            Ok(())
        }
    }
}
