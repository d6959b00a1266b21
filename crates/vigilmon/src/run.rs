//! `vigilmon run --heartbeat URL -- CMD…`: wraps a cron job or any command.
//!
//! Sends `/start` (with a run id, so overlapping runs pair up), runs the command with
//! its output passed through, then sends the exit status to `/{status}` with the last
//! 10 kB of output as the body. A ping that fails is reported on standard error and
//! never changes the command's own exit status.

use std::process::Stdio;

use clap::Args;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

/// How much of the output tail is sent with the final ping.
const TAIL_BYTES: usize = 10 * 1024;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The monitor's ping URL, e.g. https://vigilmon.example.com/ping/<token>.
    #[arg(long)]
    pub heartbeat: String,
    /// Give up on a ping after this long (the command is never delayed by more).
    #[arg(long, default_value = "10s")]
    pub ping_timeout: String,
    /// The command and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The last bytes written, bounded.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, data: &[u8]) {
        self.0.extend_from_slice(data);
        if self.0.len() > TAIL_BYTES {
            let cut = self.0.len() - TAIL_BYTES;
            self.0.drain(..cut);
        }
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let base = args.heartbeat.trim_end_matches('/').to_owned();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        eprintln!("error: --heartbeat must be an http:// or https:// ping URL");
        return Ok(crate::exit::USAGE);
    }
    let timeout = match vigilmon_core::HumanDuration::parse(&args.ping_timeout) {
        Ok(d) => d.0,
        Err(e) => {
            eprintln!("error: --ping-timeout: {e}");
            return Ok(crate::exit::USAGE);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("vigilmon-run/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let rid = uuid::Uuid::new_v4().to_string();

    send(&client, &format!("{base}/start?rid={rid}"), None).await;

    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let spawned = tokio::process::Command::new(program)
        .args(rest)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("vigilmon run: cannot start {program:?}: {e}");
            eprintln!("{msg}");
            send(
                &client,
                &format!("{base}/fail?rid={rid}"),
                Some(msg.into_bytes()),
            )
            .await;
            // Like a shell: 127 when the command is not found, 126 when it cannot run.
            return Ok(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    let tail = Mutex::new(Tail::default());
    let out = child
        .stdout
        .take()
        .map(|o| pump(o, tokio::io::stdout(), &tail));
    let err = child
        .stderr
        .take()
        .map(|e| pump(e, tokio::io::stderr(), &tail));
    let (status, _, _) = tokio::join!(
        child.wait(),
        async {
            if let Some(f) = out {
                f.await;
            }
        },
        async {
            if let Some(f) = err {
                f.await;
            }
        }
    );
    let status = status?;
    let body = tail.into_inner().0;
    let code: u8 = match status.code() {
        Some(c) => u8::try_from(c).unwrap_or(255),
        None => {
            // Killed by a signal: report a failure, exit like a shell would (128 + n).
            #[cfg(unix)]
            let sig = std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0);
            #[cfg(not(unix))]
            let sig = 0;
            send(&client, &format!("{base}/fail?rid={rid}"), Some(body)).await;
            return Ok(u8::try_from(128 + sig).unwrap_or(255));
        }
    };
    send(&client, &format!("{base}/{code}?rid={rid}"), Some(body)).await;
    Ok(code)
}

/// Copies a child's stream to ours, remembering the tail.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    tail: &Mutex<Tail>,
) {
    let mut buf = vec![0u8; 8192];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let _ = to.write_all(&buf[..n]).await;
                let _ = to.flush().await;
                tail.lock().await.push(&buf[..n]);
            }
        }
    }
}

/// Sends one ping; failures are reported, never fatal.
async fn send(client: &reqwest::Client, url: &str, body: Option<Vec<u8>>) {
    let req = match body {
        Some(b) => client.post(url).body(b),
        None => client.get(url),
    };
    match req.send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => eprintln!("vigilmon run: ping {} answered {}", redact(url), r.status()),
        Err(e) => eprintln!("vigilmon run: ping {} failed: {e}", redact(url)),
    }
}

/// The URL without its query, for messages.
fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_10_kb() {
        let mut t = Tail::default();
        t.push(&vec![b'a'; 8000]);
        t.push(&vec![b'b'; 8000]);
        assert_eq!(t.0.len(), TAIL_BYTES);
        assert!(t.0.ends_with(b"bbbb"));
        assert_eq!(
            t.0.iter().filter(|b| **b == b'a').count(),
            TAIL_BYTES - 8000
        );
    }
}
