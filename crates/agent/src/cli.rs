//! The agent's command line, shared by `vigilmon agent` and the standalone
//! `vigilmon-agent` binary: the flags (or their `VIGILMON_*` environment variables),
//! one start line, and the run until SIGINT or SIGTERM — then scheduling stops, checks
//! in flight finish, their results are sent or written to the disk buffer, and the
//! process exits 0. A refused token (wrong, revoked, not an agent token) or a token of
//! another region exits 1 with the reason; bad flags exit 2.

use std::path::PathBuf;

use clap::Args;
use tokio_util::sync::CancellationToken;
use tracing::info;
use vigilmon_core::RegionName;
use vigilmon_probe::{IpNet, read_ca_file};
use vigilmon_schedule::process::stop_signal;

use crate::AgentOptions;

// No `Debug`: the token must not end up in a log by accident.
#[derive(Args)]
pub struct AgentArgs {
    /// The Vigilmon server's URL, e.g. https://vigilmon.example.com.
    #[arg(long, env = "VIGILMON_SERVER")]
    pub server: String,
    /// This agent's region; must be the region of its token.
    #[arg(long, env = "VIGILMON_REGION")]
    pub region: String,
    /// The agent token (vigilmon token create --scope agent --region …). Prefer the
    /// environment variable: a flag is visible in the process list.
    #[arg(long, env = "VIGILMON_AGENT_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Directory for the result buffer and the last assignment.
    #[arg(
        long,
        env = "VIGILMON_AGENT_DATA_DIR",
        default_value = "./vigilmon-agent"
    )]
    pub data_dir: PathBuf,
    /// Most checks in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Most results kept on disk while the server is unreachable; beyond, the oldest
    /// are dropped (and counted).
    #[arg(long, default_value_t = 100_000)]
    pub buffer_max: usize,
    /// PEM file of extra trusted CA certificates, for probing internal HTTPS (also
    /// trusted for the connection to the server). Repeatable.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Vec<PathBuf>,
    /// Allow probing link-local addresses (169.254.0.0/16, fe80::/10), refused by
    /// default: cloud metadata services live there.
    #[arg(long)]
    pub allow_link_local: bool,
    /// A network the probe must never connect to, e.g. 10.0.0.0/8. Repeatable.
    #[arg(long = "deny-network", value_name = "CIDR")]
    pub deny_networks: Vec<String>,
    /// A Unix socket (or a directory of them) `unix://` Redis monitors may reach;
    /// none by default. Repeatable.
    #[arg(long = "allow-unix-socket", value_name = "PATH")]
    pub allow_unix_sockets: Vec<PathBuf>,
}

/// Exit status: stopped as asked.
pub const EXIT_OK: u8 = 0;
/// Exit status: the agent stopped with an error (a refused token, another region).
pub const EXIT_FAILED: u8 = 1;
/// Exit status: bad flags.
pub const EXIT_USAGE: u8 = 2;

/// Runs the agent from its flags until SIGINT or SIGTERM and returns the exit status.
pub async fn run(args: AgentArgs) -> u8 {
    let opts = match options(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("error: {msg}");
            return EXIT_USAGE;
        }
    };
    println!(
        "Vigilmon agent {} for region {} → {}",
        crate::VERSION,
        opts.region,
        opts.server.as_str().trim_end_matches('/')
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    match crate::run(opts, shutdown).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILED
        }
    }
}

/// The agent's options from the flags, or what is wrong with them.
fn options(args: &AgentArgs) -> Result<AgentOptions, String> {
    let server = url::Url::parse(args.server.trim())
        .map_err(|e| format!("--server {:?}: {e}", args.server))?;
    if !matches!(server.scheme(), "http" | "https") || server.host_str().is_none() {
        return Err(format!(
            "--server {:?} must be an http:// or https:// URL",
            args.server
        ));
    }
    let region = RegionName::parse(args.region.trim()).map_err(|e| format!("--region: {e}"))?;
    let token = args.token.trim();
    if token.is_empty() {
        return Err("--token (or VIGILMON_AGENT_TOKEN) is empty".into());
    }
    if args.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    let mut opts = AgentOptions::new(server, region, token);
    opts.data_dir = args.data_dir.clone();
    opts.concurrency = args.concurrency;
    opts.buffer_max = args.buffer_max;
    opts.probe.guard.allow_link_local = args.allow_link_local;
    opts.probe.guard.allow_unix_sockets = args.allow_unix_sockets.clone();
    for n in &args.deny_networks {
        opts.probe.guard.deny_networks.push(
            n.parse::<IpNet>()
                .map_err(|e| format!("--deny-network: {e}"))?,
        );
    }
    for f in &args.ca_file {
        let roots = read_ca_file(f).map_err(|e| format!("--ca-file: {e}"))?;
        opts.probe.extra_roots.extend(roots);
    }
    Ok(opts)
}

async fn wait_for_signal(shutdown: CancellationToken) {
    stop_signal().await;
    info!(message = "signal received: finishing the checks in flight, then stopping");
    shutdown.cancel();
}
