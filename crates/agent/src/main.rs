//! `vigilmon-agent`: the remote probe on its own, for hosts that run only an agent. It
//! takes the same flags as `vigilmon agent` and builds only what an agent runs (no
//! server, store, web framework or templates).

use std::process::ExitCode;

use clap::Parser;
use vigilmon_agent::cli::{AgentArgs, EXIT_FAILED, run};

/// A Vigilmon agent: checks the monitors of one region and reports to the server.
#[derive(Parser)]
#[command(name = "vigilmon-agent", version)]
struct Cli {
    #[command(flatten)]
    args: AgentArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    vigilmon_schedule::process::init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    ExitCode::from(runtime.block_on(run(cli.args)))
}
