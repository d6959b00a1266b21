//! Scheduling lag of the real scheduler under load: how late checks start.
//!
//! Starts `scheduler::start` with N monitors (default 10,000) at a fixed interval
//! (default 10 s, so 1,000 checks/s), random UUIDv4 ids, the production
//! `SystemClock` and the default concurrency, and a no-op executor. The executor
//! records, for each call, the lag: `SystemClock.now()` minus the slot the monitor was
//! due at (the latest `stable_offset(id, interval) + k·interval` at or before now,
//! in epoch milliseconds, exactly as the scheduler computes slots). The lag therefore
//! covers the scheduler's timer wake-up, its loop over the due monitors, the task
//! spawn, the semaphore and the runtime picking the task up — everything before the
//! probe would start.
//!
//! After a bounded wall time (default 30 s) it stops the scheduler and prints the
//! checks run (and how many slots fell due in the window), checks/s, lag
//! p50 / p99 / p99.9 / max, the process's CPU time over the window (utime + stime from
//! `/proc/self/stat`, 100 ticks/s) and its RSS.
//!
//! `cargo bench -p vigilmon-schedule --bench scheduler_lag`; knobs:
//! `VIGILMON_BENCH_MONITORS` (default 10000), `VIGILMON_BENCH_INTERVAL` (seconds,
//! default 10, at least 10), `VIGILMON_BENCH_SECS` (default 30). Run without
//! `--bench` (as `cargo test --all-targets` does) it is a 2-second smoke run with
//! 1,000 monitors unless the knobs say otherwise.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vigilmon_core::schedule::{next_due, stable_offset};
use vigilmon_core::{MonitorConfig, MonitorId, MonitorSpec};
use vigilmon_schedule::clock::{Clock, SharedClock, SystemClock};
use vigilmon_schedule::scheduler::{self, CheckExecutor, SchedulerConfig};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// User and system CPU time of this process so far, in clock ticks (1/100 s), from
/// `/proc/self/stat` fields 14 and 15.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // rest starts at field 3
    let utime = fields.next()?.parse().ok()?;
    let stime = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// Resident set size of this process in KiB, from `/proc/self/status`.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Records the lag of every call; does nothing else.
struct LagRecorder {
    clock: SystemClock,
    /// Lag of each call in microseconds, with the slot it belonged to (epoch ms).
    lags: Mutex<Vec<(i64, i64)>>,
}

impl CheckExecutor for LagRecorder {
    fn execute(
        &self,
        id: MonitorId,
        spec: Arc<MonitorSpec>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let now = self.clock.now();
        let interval_ms = i64::try_from(spec.interval.as_millis()).unwrap_or(i64::MAX);
        // The latest slot at or before now: `next_due` gives the first one strictly
        // after now.
        let slot_ms = next_due(now, spec.interval, stable_offset(id, spec.interval))
            .as_millisecond()
            - interval_ms;
        let lag_us = now.as_microsecond() - slot_ms * 1000;
        self.lags
            .lock()
            .expect("lag recorder lock")
            .push((slot_ms, lag_us));
        Box::pin(async {})
    }
}

fn spec(interval_s: u64) -> Arc<MonitorSpec> {
    let config: MonitorConfig = serde_json::from_value(serde_json::json!({
        "name": "bench", "type": "tcp", "host": "127.0.0.1", "port": 9,
        "interval": format!("{interval_s}s"),
    }))
    .expect("bench monitor config parses");
    Arc::new(config.build().expect("bench monitor config is valid"))
}

/// How many slots of these monitors fall in `(from_ms, to_ms]`.
fn slots_due(ids: &[MonitorId], interval: Duration, from_ms: i64, to_ms: i64) -> u64 {
    let iv = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    ids.iter()
        .map(|&id| {
            let off = i64::try_from(stable_offset(id, interval).as_millis()).unwrap_or(0);
            // slots k·iv + off; count k with from < k·iv + off <= to
            let last = (to_ms - off).div_euclid(iv);
            let before = (from_ms - off).div_euclid(iv);
            u64::try_from(last - before).unwrap_or(0)
        })
        .sum()
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(us: i64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let monitors = env_u64(
        "VIGILMON_BENCH_MONITORS",
        if bench_mode { 10_000 } else { 1_000 },
    );
    let interval_s = env_u64("VIGILMON_BENCH_INTERVAL", 10).max(10);
    let secs = env_u64("VIGILMON_BENCH_SECS", if bench_mode { 30 } else { 2 });
    let interval = Duration::from_secs(interval_s);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let workers = runtime.metrics().num_workers();

    let spec = spec(interval_s);
    let ids: Vec<MonitorId> = (0..monitors)
        .map(|_| MonitorId::from_uuid(Uuid::new_v4()))
        .collect();
    let initial: Vec<(MonitorId, Arc<MonitorSpec>)> =
        ids.iter().map(|&id| (id, spec.clone())).collect();
    let recorder = Arc::new(LagRecorder {
        clock: SystemClock,
        // Room for the whole run, so that recording never reallocates mid-run.
        lags: Mutex::new(Vec::with_capacity(
            usize::try_from(monitors * (secs / interval_s + 2)).unwrap_or(0),
        )),
    });
    let clock: SharedClock = Arc::new(SystemClock);
    let config = SchedulerConfig::default();
    let concurrency = config.concurrency;

    println!(
        "scheduler_lag: {monitors} monitors, interval {interval_s} s ({:.0} checks/s expected), \
         {secs} s, {workers} tokio workers, concurrency {concurrency}",
        monitors as f64 / interval_s as f64
    );

    let (start_ms, end_ms, wall, cpu0, cpu1) = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let cpu0 = cpu_ticks();
        let started = Instant::now();
        let start_ms = clock.now().as_millisecond();
        let (_handle, task) = scheduler::start(
            initial,
            recorder.clone(),
            clock.clone(),
            config,
            shutdown.clone(),
        );
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let end_ms = clock.now().as_millisecond();
        shutdown.cancel();
        task.await.expect("scheduler task");
        let wall = started.elapsed();
        (start_ms, end_ms, wall, cpu0, cpu_ticks())
    });

    let mut lags = std::mem::take(&mut *recorder.lags.lock().expect("lag recorder lock"));
    // Only slots inside the window, less its first second and its last 50 ms: a slot
    // that passed while the scheduler was still taking in the initial monitors is not
    // due yet when the monitor is added (its first run is the next slot), and a slot
    // due a millisecond before the shutdown may not have fired yet; neither is a miss.
    let first_ms = start_ms + 1_000;
    let last_ms = end_ms - 50;
    lags.retain(|&(slot, _)| slot > first_ms && slot <= last_ms);
    let due = slots_due(&ids, interval, first_ms, last_ms);
    let mut lag_us: Vec<i64> = lags.iter().map(|&(_, l)| l).collect();
    lag_us.sort_unstable();
    let run = lag_us.len();
    let window_s = (last_ms - first_ms) as f64 / 1000.0;

    println!(
        "checks run: {run} of {due} slots due in the window ({:.1} checks/s over {window_s:.1} s)",
        run as f64 / window_s
    );
    println!(
        "lag: p50 {}  p99 {}  p99.9 {}  max {}  (min {})",
        ms(percentile(&lag_us, 50.0)),
        ms(percentile(&lag_us, 99.0)),
        ms(percentile(&lag_us, 99.9)),
        ms(lag_us.last().copied().unwrap_or(0)),
        ms(lag_us.first().copied().unwrap_or(0)),
    );
    let over = |t_us: i64| lag_us.iter().filter(|&&l| l > t_us).count();
    println!(
        "lag over 5 ms: {}  over 10 ms: {}  over 50 ms: {}",
        over(5_000),
        over(10_000),
        over(50_000)
    );
    if let (Some((u0, s0)), Some((u1, s1))) = (cpu0, cpu1) {
        let (u, s) = ((u1 - u0) as f64 / 100.0, (s1 - s0) as f64 / 100.0);
        let total = u + s;
        println!(
            "CPU: {u:.2} s user + {s:.2} s system = {total:.2} s over {:.1} s wall \
             ({:.1} % of one core; {:.1} µs per check)",
            wall.as_secs_f64(),
            100.0 * total / wall.as_secs_f64(),
            if run > 0 {
                total * 1e6 / run as f64
            } else {
                0.0
            }
        );
    }
    if let Some(rss) = rss_kib() {
        println!("RSS at end: {:.1} MiB", rss as f64 / 1024.0);
    }
}
