//! TCP checks: connect (guarded and timed), optionally send bytes, optionally read
//! until the expected banner shows up, then judge with
//! `vigilmon_core::assert::evaluate_tcp`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};
use vigilmon_core::assert::evaluate_tcp;
use vigilmon_core::monitor::TcpSpec;

use crate::classify::{Failure, Phase};
use crate::net::{self, Target};
use crate::{Inner, Outcome, millis};

/// The most bytes read while waiting for a banner.
pub(crate) const MAX_BANNER_BYTES: usize = 4096;

/// Runs a TCP check to its verdict.
///
/// With `expect_banner`, reading stops when the banner appears, the peer closes, 4 KiB
/// have been read, or the deadline passes. A deadline (or a read error) with nothing
/// received at all is a failure of its own (`Timeout`, `Protocol`); with something
/// received, what was received is judged, so the message shows what the peer said.
pub(crate) async fn run(
    inner: &Inner,
    spec: &TcpSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    let target = Target::from_host_text(&spec.host);
    let conn = match net::open(
        &target,
        spec.port,
        &inner.opts.guard,
        deadline,
        limit,
        &mut out.phases,
    )
    .await
    {
        Ok(c) => c,
        Err(f) => return out.fail(&f),
    };
    out.remote_addr = Some(conn.peer);
    let mut stream = conn.stream;

    if let Some(send) = &spec.send {
        let written = timeout_at(deadline, async {
            stream.write_all(send.as_bytes()).await?;
            stream.flush().await
        })
        .await;
        match written {
            Err(_) => {
                return out.fail(&Failure::Timeout {
                    phase: Phase::Send,
                    limit,
                });
            }
            Ok(Err(error)) => {
                return out.fail(&Failure::Io {
                    phase: Phase::Send,
                    error,
                });
            }
            Ok(Ok(())) => {}
        }
    }

    let mut received = Vec::new();
    if let Some(banner) = &spec.expect_banner {
        let t0 = Instant::now();
        let mut buf = [0u8; 1024];
        while received.len() < MAX_BANNER_BYTES {
            let room = buf.len().min(MAX_BANNER_BYTES - received.len());
            let failure = match timeout_at(deadline, stream.read(&mut buf[..room])).await {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => {
                    if out.phases.ttfb_ms.is_none() {
                        out.phases.ttfb_ms = Some(millis(t0.elapsed()));
                    }
                    received.extend_from_slice(&buf[..n]);
                    if contains(&received, banner.as_bytes()) {
                        break;
                    }
                    continue;
                }
                Err(_) => Failure::Timeout {
                    phase: Phase::Banner,
                    limit,
                },
                Ok(Err(error)) => Failure::Io {
                    phase: Phase::Banner,
                    error,
                },
            };
            if received.is_empty() {
                return out.fail(&failure);
            }
            break;
        }
    }

    out.verdict = evaluate_tcp(spec, &received, start.elapsed());
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_search() {
        assert!(contains(b"220 smtp ready\r\n", b"220"));
        assert!(contains(b"abc", b""));
        assert!(!contains(b"ab", b"abc"));
        assert!(!contains(b"+PONG", b"-ERR"));
    }
}
