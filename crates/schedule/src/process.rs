//! What a long-running Vigilmon process (the server, an agent, the Redis sidecar)
//! needs around its work: logs set up the one way all of them log, and the signal
//! that asks it to stop.

/// Logs to stderr, filtered by `VIGILMON_LOG` (default `info`, with the chattiest
/// libraries at `warn`), as JSON lines when `VIGILMON_LOG_FORMAT=json`, with colours
/// only on a terminal.
pub fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("VIGILMON_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn,hyper=warn"));
    let json = std::env::var("VIGILMON_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM; Ctrl-C elsewhere).
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
