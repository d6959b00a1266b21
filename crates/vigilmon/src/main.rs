//! The `vigilmon` binary: command-line interface, configuration loading, telemetry.
//!
//! Architecture invariant: this is the only crate that decides which store backend is
//! in use (SQLite under `--data-dir`, or PostgreSQL with `--database-url`).

mod admin;
mod as_code;
mod backup;
mod check;
mod completions;
mod config;
mod import;
mod redis_health;
mod reload;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

/// jemalloc instead of glibc's allocator: a long-running server with many threads
/// keeps far less memory with it (docs/BENCHMARKS.md, "Server: scheduling lag and cost
/// per 1,000 monitors").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit codes, documented for scripts.
pub mod exit {
    /// Success (for `check`: the target passed).
    pub const OK: u8 = 0;
    /// Failure (for `check`: the target failed; for `validate`: the file has errors).
    pub const FAILED: u8 = 1;
    /// Usage error: bad flags or arguments.
    pub const USAGE: u8 = 2;
}

/// What `vigilmon --help` and the manual page say the program is.
const ABOUT: &str = "Self-hostable uptime and heartbeat monitoring";

#[derive(Parser)]
#[command(name = "vigilmon", version, about = ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the `check` variant's flags costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server: API, scheduler and built-in probe.
    Serve(serve::ServeArgs),
    /// Run a remote probe for one region: pull its checks from the server, push results.
    Agent(vigilmon_agent::cli::AgentArgs),
    /// Probe a target once from this machine and print what was found.
    Check(check::CheckArgs),
    /// Check a config file; errors name the file, line and field.
    Validate {
        /// The config file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Print the annotated example configuration.
    ExampleConfig,
    /// Write a Vigilmon config file from another tool's configuration, with a report of
    /// what mapped, what changed and what did not (and why).
    Import(import::ImportArgs),
    /// Run a command and report it to a heartbeat monitor (start, exit status, output tail).
    Run(run::RunArgs),
    /// Serve Redis health over HTTP (GET /health/redis) for HTTP-only probes.
    RedisHealth(redis_health::Args),
    /// Manage users.
    User {
        #[command(subcommand)]
        command: admin::UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: admin::TokenCommand,
    },
    /// Print the configuration (monitors, channels, policies, maintenance windows,
    /// status pages) in the config file's form, from a running server or a store.
    Export(as_code::ExportArgs),
    /// Apply a file to a running server: the plan first (create, update field by
    /// field, delete with --prune), then the changes.
    Apply(as_code::ApplyArgs),
    /// Copy the embedded SQLite database to a file, consistently, while `serve` runs.
    Backup(backup::BackupArgs),
    /// Replace the SQLite database of a data directory with a backup (the server
    /// stopped); the previous database is kept beside it.
    Restore(backup::RestoreArgs),
    /// Print shell completions (bash, zsh or fish) to standard output.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: completions::Shell,
    },
    /// Print the manual page, or write one per command into a directory (packaging).
    #[command(hide = true)]
    Manpage {
        /// Write vigilmon.1 and a page per subcommand into this directory.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// Where the store is: the same flags as `serve`, so that admin commands work on the
/// server's data.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// Config file (its `server.data_dir` / `server.database_url` are used).
    #[arg(long, env = "VIGILMON_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of the embedded SQLite database [default: ./vigilmon-data].
    #[arg(long, env = "VIGILMON_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://…); replaces the embedded SQLite database.
    #[arg(long, env = "VIGILMON_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Generated from the command line's own definition; they need no runtime.
    match &cli.command {
        Command::Completions { shell } => {
            let script = completions::script(*shell, &mut public_command());
            return finish(completions::print(&script).map(|()| exit::OK));
        }
        Command::Manpage { out_dir } => {
            return finish(match out_dir {
                Some(dir) => completions::write_pages(Cli::command(), dir).map(|()| exit::OK),
                None => completions::print(&completions::page(Cli::command())).map(|()| exit::OK),
            });
        }
        _ => {}
    }
    vigilmon_schedule::process::init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await.map(|()| exit::OK),
            Command::Agent(args) => Ok(vigilmon_agent::cli::run(args).await),
            Command::Check(args) => check::run(args).await,
            Command::Validate { file } => Ok(validate(&file)),
            Command::ExampleConfig => {
                print!("{}", config::EXAMPLE);
                Ok(exit::OK)
            }
            Command::Import(args) => import::run(args).await,
            Command::Run(args) => run::run(args).await,
            Command::RedisHealth(args) => redis_health::run(args).await,
            Command::User { command } => admin::user(command).await.map(|()| exit::OK),
            Command::Token { command } => admin::token(command).await.map(|()| exit::OK),
            Command::Export(args) => as_code::export(args).await,
            Command::Apply(args) => as_code::apply(args).await,
            Command::Backup(args) => backup::backup(args).await.map(|()| exit::OK),
            Command::Restore(args) => backup::restore(args).await.map(|()| exit::OK),
            Command::Completions { .. } | Command::Manpage { .. } => Ok(exit::OK),
        }
    });
    finish(result)
}

/// The command line as users see it: every subcommand but the hidden ones (the
/// completion generators would offer those too).
fn public_command() -> clap::Command {
    let full = Cli::command();
    let shown: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new("vigilmon")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommands(shown)
}

/// The exit code of a command's outcome; an error is printed with its causes.
fn finish(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::FAILED)
        }
    }
}

fn validate(file: &std::path::Path) -> u8 {
    match config::load(file) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            println!("{}: ok ({} monitors)", file.display(), c.monitors.len());
            exit::OK
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} error(s)", errors.len());
            exit::FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_command_line_is_the_whole_one_but_the_hidden_commands() {
        Cli::command().debug_assert();
        public_command().debug_assert();
        let names = |c: &clap::Command, hidden: bool| {
            c.get_subcommands()
                .filter(|s| hidden || !s.is_hide_set())
                .map(|s| s.get_name().to_owned())
                .collect::<Vec<_>>()
        };
        let full = Cli::command();
        assert_eq!(names(&public_command(), true), names(&full, false));
        assert!(names(&full, true).contains(&"manpage".to_owned()));
        assert!(!names(&public_command(), true).contains(&"manpage".to_owned()));
    }
}
