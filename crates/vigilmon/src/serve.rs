//! `vigilmon serve`: resolves settings (flags, environment, file, defaults), opens the
//! store, applies the file's monitors, binds the socket and runs the server until
//! SIGINT or SIGTERM; the file is applied again on SIGHUP and when it changes
//! ([`crate::reload`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use vigilmon_core::RegionName;
use vigilmon_engine::outbox::OutboxConfig;
use vigilmon_engine::{AlertingOptions, EngineOptions};
use vigilmon_notify::{SmtpSettings, SmtpTls};
use vigilmon_probe::{IpNet, NetworkGuard, ProbeOptions};
use vigilmon_schedule::clock::SystemClock;

use crate::admin::open_store;
use crate::config::{self, FileConfig};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// YAML config file.
    #[arg(long, env = "VIGILMON_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "VIGILMON_LISTEN")]
    pub listen: Option<String>,
    /// Base URL for links and ping URLs [default: http://<listen address>].
    #[arg(long, env = "VIGILMON_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Directory of the embedded SQLite database [default: ./vigilmon-data].
    #[arg(long, env = "VIGILMON_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://…); replaces the embedded SQLite database.
    #[arg(long, env = "VIGILMON_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Region name of the built-in probe [default: local].
    #[arg(long, env = "VIGILMON_REGION")]
    pub region: Option<String>,
    /// A host name requests may name, besides the public URL's (repeat, or separate
    /// with commas); added to server.allowed_hosts.
    #[arg(
        long = "allowed-host",
        env = "VIGILMON_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
}

/// Default retention of raw results.
const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // SIGHUP asks for the config file to be read again; taken from here on, so that one
    // sent while starting is neither fatal (its default action) nor lost.
    let hangup = hangup_signal()?;
    let mut file = match &args.config {
        Some(p) => config::load(p).map_err(|errs| {
            anyhow::anyhow!(
                "the config file has errors:\n{}",
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?,
        None => FileConfig::default(),
    };
    let s = &file.server;
    let listen = args
        .listen
        .clone()
        .or_else(|| s.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let database_url = args.database_url.clone().or_else(|| s.database_url.clone());
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| s.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("./vigilmon-data"));
    let region_name = args
        .region
        .clone()
        .or_else(|| s.region.clone())
        .unwrap_or_else(|| "local".to_owned());
    let region = RegionName::parse(&region_name).context("--region")?;
    // `regions: [{name: local, enabled: false}]` turns the built-in probe off.
    let local_probe = file
        .regions
        .iter()
        .find(|r| r.name == region.as_str())
        .and_then(|r| r.enabled)
        .unwrap_or(true);

    let mut guard = NetworkGuard {
        allow_link_local: file.probe.allow_link_local,
        allow_unix_sockets: file.probe.allow_unix_sockets.clone(),
        ..NetworkGuard::default()
    };
    for n in &file.probe.deny_networks {
        guard.deny_networks.push(
            n.parse::<IpNet>()
                .map_err(|e| anyhow::anyhow!("probe.deny_networks: {e}"))?,
        );
    }
    let mut probe = ProbeOptions::new(region.clone());
    probe.guard = guard;
    for f in &file.probe.ca_files {
        probe.extra_roots.extend(
            vigilmon_probe::read_ca_file(f).map_err(|e| anyhow::anyhow!("probe.ca_files: {e}"))?,
        );
    }

    for w in &file.warnings {
        warn!(message = "config file", warning = %w);
    }
    let smtp = file.smtp.as_ref().map(|s| {
        let tls = match s.tls.as_deref() {
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::None,
            _ => SmtpTls::Starttls,
        };
        let port = s.port.unwrap_or(match tls {
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
        });
        SmtpSettings {
            host: s.host.clone(),
            port,
            tls,
            username: s.username.clone(),
            password: s.password.clone(),
            from: s.from.clone(),
            timeout: Duration::from_secs(10),
            accept_invalid_certs: s.accept_invalid_certs,
        }
    });
    let a = &file.alerting;
    let defaults = AlertingOptions::default();
    let alerting = AlertingOptions {
        smtp,
        outbox: OutboxConfig {
            retry_base: a.retry_base.map_or(defaults.outbox.retry_base, |d| d.0),
            retry_max: a.retry_max.map_or(defaults.outbox.retry_max, |d| d.0),
            max_attempts: a
                .max_attempts
                .unwrap_or(defaults.outbox.max_attempts)
                .max(1),
            lease: defaults.outbox.lease,
        },
        link_ttl: a.ack_link_ttl.map_or(defaults.link_ttl, |d| d.0),
        send_timeout: a.send_timeout.map_or(defaults.send_timeout, |d| d.0),
        region_policy: a
            .region_policy
            .as_ref()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty()),
    };

    // One node per SQLite data directory: held until the process ends.
    let _data_dir_lock = match database_url {
        Some(_) => None,
        None => Some(lock_data_dir(&data_dir)?),
    };
    let store = open_store(database_url.as_deref(), &data_dir).await?;
    let store_desc = match &database_url {
        Some(_) => "PostgreSQL".to_owned(),
        None => format!("SQLite in {}", data_dir.display()),
    };
    let alerting_report = vigilmon_engine::sync::sync_file_alerting(
        &store,
        &vigilmon_engine::sync::FileAlerting {
            channels: file.channels.clone(),
            policies: file.policies.clone(),
            maintenance: file.maintenance.clone(),
        },
        jiff::Timestamp::now(),
    )
    .await
    .context("applying the config file's channels, policies and maintenance windows")?;
    if !alerting_report.removed.is_empty() {
        info!(message = "removed what left the config file", removed = ?alerting_report.removed);
    }
    let pages_report = vigilmon_engine::sync::sync_file_status_pages(
        &store,
        &file.status_pages,
        jiff::Timestamp::now(),
    )
    .await
    .context("applying the config file's status pages")?;
    if !pages_report.removed.is_empty() {
        info!(message = "removed status pages that left the config file", removed = ?pages_report.removed);
    }
    let report =
        vigilmon_engine::sync::sync_file_monitors(&store, &file.monitors, jiff::Timestamp::now())
            .await
            .context("applying the config file's monitors")?;
    // The store holds them now; the engine reads them from there. The file's list is
    // not kept for the life of the server (≈ 1 KiB a monitor, with the vector's slack).
    drop(std::mem::take(&mut file.monitors));
    if args.config.is_some() {
        info!(
            message = "config file monitors applied",
            created = report.created.len(),
            updated = report.updated.len(),
            removed = report.removed.len(),
            unchanged = report.unchanged
        );
    }
    let no_tokens = store
        .list_tokens()
        .await?
        .iter()
        .all(|t| t.revoked_at.is_some());

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let public_url = args
        .public_url
        .clone()
        .or_else(|| s.public_url.clone())
        .unwrap_or_else(|| url.clone())
        .trim_end_matches('/')
        .to_owned();
    println!("Vigilmon {} listening on {url}", env!("CARGO_PKG_VERSION"));
    if local_probe {
        println!("  store: {store_desc}; probe region: {region}; public URL: {public_url}");
    } else {
        println!(
            "  store: {store_desc}; built-in probe disabled (agents only); public URL: {public_url}"
        );
    }
    let mut front = front_settings(&file, &args, &listen)?;
    // One setup code for every node on the database: whichever node the setup page is
    // served by asks for the code any of them printed.
    let shared = store
        .setting_or_insert("setup_code", front.setup_code.stored())
        .await?;
    if let Some(code) = vigilmon_app::front::SetupCode::from_stored(&shared) {
        front.setup_code = code;
    }
    if store.count_users().await? == 0 {
        println!(
            "  web UI: open {public_url}/setup in a browser to create the owner account; \
             setup code: {}",
            front.setup_code.shown()
        );
    } else {
        println!("  web UI: open {url} in a browser");
    }
    if no_tokens {
        println!("  the API needs a token: vigilmon token create --name admin --scope write");
    }

    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    let opts = EngineOptions {
        public_url,
        probe,
        concurrency: file.probe.concurrency.unwrap_or(256),
        retention_raw: file.retention.raw.map_or(DEFAULT_RETENTION, |d| d.0),
        retention_every: Duration::from_secs(3600),
        heartbeats: vigilmon_engine::heartbeats::HeartbeatConfig {
            ping_limit: file
                .server
                .ping_rate_limit
                .unwrap_or(vigilmon_engine::heartbeats::DEFAULT_PING_LIMIT),
            auto_create_limit: file
                .server
                .ping_auto_create_limit
                .unwrap_or(vigilmon_engine::heartbeats::DEFAULT_AUTO_CREATE_LIMIT),
            ..vigilmon_engine::heartbeats::HeartbeatConfig::default()
        },
        alerting,
        local_probe,
        agent_poll: file
            .agents
            .poll_interval
            .map_or(vigilmon_engine::agents::POLL_INTERVAL, |d| {
                d.0.max(Duration::from_secs(1))
            }),
        regions: file
            .regions
            .iter()
            .filter_map(|r| RegionName::parse(&r.name).ok())
            .collect(),
        clock: Arc::new(SystemClock),
        node: vigilmon_engine::node::NodeOptions {
            address: url.clone(),
            lease_ttl: file
                .cluster
                .lease_ttl
                .map_or(vigilmon_engine::node::DEFAULT_LEASE_TTL, |d| d.0),
            announce_changes: [&alerting_report, &pages_report, &report]
                .iter()
                .any(|r| !(r.created.is_empty() && r.updated.is_empty() && r.removed.is_empty())),
        },
    };
    let limits = file.server.limits();
    open_file_room(limits.max_connections);
    let reloader = args.config.clone().map(|path| {
        crate::reload::Reloader::new(path, store.clone(), front.config_status.clone(), &file)
    });
    let reload_stop = shutdown.clone();
    vigilmon_http::run_with(listener, store, opts, front, limits, shutdown, |engine| {
        match reloader {
            Some(r) => {
                tokio::spawn(r.run(engine, hangup, reload_stop));
            }
            None => {
                tokio::spawn(async move {
                    loop {
                        hangup.notified().await;
                        info!(message = "SIGHUP: there is no config file to read again (serve was started without --config)");
                    }
                });
            }
        }
    })
    .await?;
    Ok(())
}

/// Turns SIGHUP into a notification (kept when nobody waits yet).
fn hangup_signal() -> anyhow::Result<Arc<tokio::sync::Notify>> {
    let notify = Arc::new(tokio::sync::Notify::new());
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
        let n = notify.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                n.notify_one();
            }
        });
    }
    Ok(notify)
}

async fn wait_for_signal(shutdown: CancellationToken) {
    vigilmon_schedule::process::stop_signal().await;
    info!(message = "signal received, shutting down");
    shutdown.cancel();
}

/// The front's settings from the file and the flags (already validated by `parse`,
/// so errors here are for flags).
fn front_settings(
    file: &FileConfig,
    args: &ServeArgs,
    listen: &str,
) -> anyhow::Result<vigilmon_http::Front> {
    use vigilmon_app::front::{self, HostPattern};
    let s = &file.server;
    let allowed_hosts = s
        .allowed_hosts
        .iter()
        .chain(&args.allowed_hosts)
        .filter(|h| !h.trim().is_empty())
        .map(|h| HostPattern::parse(h).map_err(|e| anyhow::anyhow!("allowed host: {e}")))
        .collect::<anyhow::Result<_>>()?;
    let trusted_proxies = s
        .trusted_proxies
        .iter()
        .map(|n| {
            n.parse::<IpNet>()
                .map_err(|e| anyhow::anyhow!("server.trusted_proxies: {e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(vigilmon_http::Front {
        allowed_hosts,
        listen_host: front::listen_host(listen),
        trusted_proxies,
        setup_code: front::SetupCode::generate(),
        tracked_clients: s.tracked_clients.unwrap_or(front::DEFAULT_TRACKED_CLIENTS),
        sign_in_window: s
            .sign_in_window
            .map_or(front::DEFAULT_SIGN_IN_WINDOW, |w| w.0),
        status_cache_entries: s
            .status_cache_entries
            .unwrap_or(front::DEFAULT_STATUS_CACHE_ENTRIES),
        config_status: front::ConfigStatus::default(),
    })
}

/// Raises the open-file limit to its ceiling, so that `server.max_connections`
/// sockets fit beside the store's and the probes'; warns when even the ceiling is too
/// low (new connections then wait until descriptors free up, nothing fails).
fn open_file_room(max_connections: usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    // Descriptors the rest of the process may want: the store's pool, probes,
    // notifications, log files.
    const BESIDES_CONNECTIONS: u64 = 512;
    let mut limit = getrlimit(Resource::Nofile);
    if let Some(current) = limit.current
        && limit.maximum.is_none_or(|max| max > current)
    {
        limit.current = limit.maximum;
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit.current = Some(current);
        }
    }
    let wanted = max_connections as u64 + BESIDES_CONNECTIONS;
    if let Some(current) = limit.current
        && current < wanted
    {
        tracing::warn!(
            message = "the open-file limit is below what server.max_connections needs; \
                       raise it (LimitNOFILE=, ulimit -n) or lower server.max_connections",
            open_file_limit = current,
            max_connections,
            wanted
        );
    }
}

/// The lock file that keeps a second `serve` off a SQLite data directory.
const LOCK_FILE: &str = "serve.lock";

/// Takes the data directory's `serve` lock (an exclusive `flock` on
/// `<data-dir>/serve.lock`, released by the kernel when the process ends however it
/// ends), or says which process holds it. Two servers on one SQLite database would each
/// schedule every check and open every incident; several nodes need PostgreSQL. Other
/// commands (`token create`, `user add`, …) do not take the lock: they work beside a
/// running server; `restore` takes it, so that no server starts on a half-restored
/// directory.
fn lock_data_dir(data_dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    match try_lock_data_dir(data_dir)? {
        Ok(file) => Ok(file),
        Err(who) => anyhow::bail!(
            "another {who} is using the data directory {}: one SQLite data directory serves \
             one node. Stop it first, or run several nodes on PostgreSQL (--database-url)",
            data_dir.display()
        ),
    }
}

/// The lock of [`lock_data_dir`] without waiting: `Ok(Ok(file))` holds it (until the
/// file is dropped), `Ok(Err(holder))` names who holds it (`` `vigilmon serve`
/// (process 42) ``), `Err` is a failure to create or lock the file.
pub(crate) fn try_lock_data_dir(
    data_dir: &std::path::Path,
) -> anyhow::Result<Result<std::fs::File, String>> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let path = data_dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "`vigilmon serve` (another process)".to_owned()
            } else {
                format!("`vigilmon serve` (process {holder})")
            };
            return Ok(Err(who));
        }
        Err(e) => {
            return Err(anyhow::Error::new(std::io::Error::from(e))
                .context(format!("cannot lock {}", path.display())));
        }
    }
    // Who holds it, for the message above.
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    file.flush()?;
    Ok(Ok(file))
}
