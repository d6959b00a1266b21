//! Throughput of the probe engine: how many HTTP checks per second one process runs.
//!
//! Starts a minimal HTTP/1.1 server on 127.0.0.1 (raw tokio: read the request head,
//! write a canned 200, close), then runs N checks through `Prober::check` with a fixed
//! concurrency, each on a fresh connection, and prints checks/second, the p50/p99/max
//! check duration, and the process's CPU time (client and server together) read from
//! `/proc/self/stat`.
//!
//! `cargo bench -p vigilmon-probe --bench throughput`; tune with
//! `VIGILMON_BENCH_CHECKS` (default 20000) and `VIGILMON_BENCH_CONCURRENCY` (default 64).
//! `VIGILMON_BENCH_TLS=1` serves HTTPS instead (an rcgen certificate trusted through
//! `extra_roots`, verified on every check: a full handshake each time).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use vigilmon_core::RegionName;
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_probe::{ProbeOptions, Prober};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"status\":\"ok\"}";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// User and system CPU time of this process so far, from `/proc/self/stat` (fields 14
/// and 15, in clock ticks; Linux's USER_HZ is 100 on every common platform).
fn cpu_time() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // rest starts at field 3
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let tick = |t: u64| Duration::from_millis(t * 10);
    Some((tick(utime), tick(stime)))
}

async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>) {
    while let Ok((sock, _)) = listener.accept().await {
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => answer(sock).await,
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(sock).await {
                        answer(stream).await;
                    }
                }
            }
        });
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut sock: S) {
    let mut buf = [0u8; 2048];
    let mut seen = Vec::with_capacity(512);
    loop {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        if seen.windows(4).any(|w| w == b"\r\n\r\n") || seen.len() > 16 * 1024 {
            break;
        }
    }
    let _ = sock.write_all(RESPONSE).await;
    let _ = sock.shutdown().await;
}

/// A TLS acceptor with a fresh self-signed certificate for 127.0.0.1, and that
/// certificate (DER) for the prober to trust.
fn tls_setup() -> (TlsAcceptor, Vec<u8>) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let der: CertificateDer<'static> = cert.der().clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    (TlsAcceptor::from(Arc::new(config)), der.to_vec())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let checks = env_usize("VIGILMON_BENCH_CHECKS", 20_000);
    let concurrency = env_usize("VIGILMON_BENCH_CONCURRENCY", 64);
    let use_tls = std::env::var("VIGILMON_BENCH_TLS").is_ok_and(|v| v == "1");
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let mut opts = ProbeOptions::new(RegionName::local());
        let acceptor = if use_tls {
            let (acceptor, root) = tls_setup();
            opts.extra_roots.push(root);
            Some(acceptor)
        } else {
            None
        };
        tokio::spawn(serve(listener, acceptor));
        let scheme = if use_tls { "https" } else { "http" };

        let prober = Prober::new(opts).expect("prober");
        let cfg: MonitorConfig = serde_json::from_value(serde_json::json!({
            "name": "bench", "type": "http", "url": format!("{scheme}://{addr}/health"),
            "expect": {"json": [{"path": "$.status", "equals": "ok"}]}
        }))
        .expect("config");
        let spec: Arc<CheckSpec> = Arc::new(cfg.build().expect("spec").check);
        let timeout = Duration::from_secs(10);

        // warm-up (connection paths, allocator, lazy statics)
        for _ in 0..200 {
            let r = prober.check(&spec, timeout).await;
            assert!(r.verdict.is_ok(), "warm-up check failed: {:?}", r.verdict);
        }

        let next = Arc::new(AtomicUsize::new(0));
        let cpu0 = cpu_time();
        let t0 = Instant::now();
        let mut tasks = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            let (prober, spec, next) = (prober.clone(), spec.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut durations = Vec::new();
                let mut failures = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < checks {
                    let started = Instant::now();
                    let r = prober.check(&spec, timeout).await;
                    durations.push(started.elapsed());
                    if !r.verdict.is_ok() {
                        failures.push(format!("{:?}", r.verdict));
                    }
                }
                (durations, failures)
            }));
        }
        let mut durations = Vec::with_capacity(checks);
        let mut failures = Vec::new();
        for t in tasks {
            let (d, f) = t.await.expect("worker");
            durations.extend(d);
            failures.extend(f);
        }
        let wall = t0.elapsed();
        let cpu1 = cpu_time();
        durations.sort_unstable();

        let what = if use_tls { "HTTPS (TLS verified, full handshake)" } else { "HTTP" };
        println!("probe throughput: {checks} {what} checks, concurrency {concurrency}, fresh connection each");
        println!("  runtime           tokio multi-thread, {workers} worker threads (server in the same process)");
        println!("  wall time         {:.2} s", wall.as_secs_f64());
        println!("  checks/second     {:.0}", checks as f64 / wall.as_secs_f64());
        println!(
            "  check duration    p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(percentile(&durations, 0.50)),
            ms(percentile(&durations, 0.99)),
            ms(durations.last().copied().unwrap_or_default()),
        );
        match (cpu0, cpu1) {
            (Some((u0, s0)), Some((u1, s1))) => {
                let (u, s) = (u1.saturating_sub(u0), s1.saturating_sub(s0));
                let total = u + s;
                println!(
                    "  CPU time          user {:.2} s + system {:.2} s = {:.2} s ({:.0}% of one core; {:.0} us per check)",
                    u.as_secs_f64(),
                    s.as_secs_f64(),
                    total.as_secs_f64(),
                    100.0 * total.as_secs_f64() / wall.as_secs_f64(),
                    total.as_secs_f64() * 1e6 / checks as f64,
                );
            }
            _ => println!("  CPU time          unavailable (no /proc/self/stat)"),
        }
        println!("  failed checks     {}", failures.len());
        for f in failures.iter().take(5) {
            println!("    e.g. {f}");
        }
    });
}
