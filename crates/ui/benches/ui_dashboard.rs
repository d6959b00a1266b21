//! How long the web UI's dashboard takes to render on the server, and how big it is.
//!
//! 1. Template: builds the dashboard of N monitors (default 1,000; HTTP monitors in
//!    12 tags, each with its 24-hour check counts and its last 30 minutes for the
//!    beat bar) from in-memory data and renders it with the compiled template, many
//!    times; prints the median, p95 and max, and the page's size raw and gzipped
//!    (what a browser receives).
//! 2. Store: the dashboard's queries against SQLite holding N monitors checked every
//!    minute for a day: the last hour as raw results (N × 60 rows), the 23 hours before
//!    as hourly rollups (N × 23 rows, as the rollup task leaves them): monitors, region
//!    states, heartbeats, maintenance windows, the 24-hour counts (rollups up to the
//!    watermark, raw results after it), the last 30 minutes of results, and what the
//!    24-hour uptime needs (when each monitor was first seen, the day's incidents and
//!    state changes).
//!
//! `cargo bench -p vigilmon-ui --bench ui_dashboard`; knobs: `VIGILMON_BENCH_MONITORS`
//! (default 1000), `VIGILMON_BENCH_ITERS` (default 100). Run without `--bench` (as
//! `cargo test --all-targets` does) it is a quick smoke run of 50 monitors.

use std::io::Write;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;
use vigilmon_core::rollup::Rollup;
use vigilmon_core::state::RegionStatus;
use vigilmon_core::{CheckResult, MonitorConfig, MonitorId, MonitorState, RegionName, Verdict};
use vigilmon_store::{ALL_REGIONS, MonitorSource, RecordedCheck, RollupPeriod, RollupRow, Store};
use vigilmon_ui::dashboard::bench_support;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    format!(
        "median {}, p95 {}, max {} ({} runs)",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(*times.last().unwrap_or(&Duration::ZERO)),
        times.len()
    )
}

fn gzip_len(bytes: &[u8]) -> usize {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(bytes);
    enc.finish().map(|v| v.len()).unwrap_or(0)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = knob("VIGILMON_BENCH_MONITORS", if full { 1000 } else { 50 });
    let iters = knob("VIGILMON_BENCH_ITERS", if full { 100 } else { 3 });

    // 1. Template.
    let fixture = bench_support::fixture(n);
    for _ in 0..iters.min(10) {
        std::hint::black_box(bench_support::render(&fixture));
    }
    let mut times = Vec::with_capacity(iters);
    let mut html = String::new();
    for _ in 0..iters {
        let t = Instant::now();
        html = std::hint::black_box(bench_support::render(&fixture));
        times.push(t.elapsed());
    }
    assert!(html.contains("Uptime, 24h"), "the dashboard did not render");
    println!(
        "dashboard of {n} monitors, build + render: {}",
        summary(times)
    );
    println!(
        "page size: {:.1} kB raw, {:.1} kB gzipped",
        html.len() as f64 / 1024.0,
        gzip_len(html.as_bytes()) as f64 / 1024.0
    );

    // 2. The store's side, on SQLite.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite(dir.path()).await.expect("store");
        let now = Timestamp::now();
        let hour_ms = 3_600_000;
        let this_hour =
            Timestamp::from_millisecond(now.as_millisecond() / hour_ms * hour_ms).expect("hour");
        let region = RegionName::parse("local").expect("region");
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let id = MonitorId::from_uuid(Uuid::now_v7());
            let config = MonitorConfig {
                name: format!("[service-{i:04}] api /health"),
                tags: vec![format!("team-{}", i % 12)],
                kind: vigilmon_core::KindConfig::Http(vigilmon_core::monitor::HttpConfig {
                    url: Some(format!("https://service-{i:04}.example.com/health")),
                    ..Default::default()
                }),
                ..Default::default()
            };
            store
                .create_monitor(
                    id,
                    &config,
                    MonitorSource::Api,
                    now - SignedDuration::from_hours(2),
                )
                .await
                .expect("monitor");
            ids.push(id);
        }
        let load = Instant::now();
        for minute in (0..60).rev() {
            let at = now - SignedDuration::from_mins(minute);
            let batch: Vec<RecordedCheck> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let ok = !(i + minute as usize).is_multiple_of(97);
                    RecordedCheck {
                        monitor_id: *id,
                        result: CheckResult {
                            status_code: Some(if ok { 200 } else { 503 }),
                            ..CheckResult::new(
                                region.clone(),
                                at,
                                40 + ((i * 7 + minute as usize) % 120) as u64,
                                if ok {
                                    Verdict::Up
                                } else {
                                    Verdict::down(vigilmon_core::ErrorKind::Status, "status 503")
                                },
                            )
                        },
                        region_status: RegionStatus {
                            state: MonitorState::Up,
                            consecutive_failures: 0,
                        },
                        monitor_state: MonitorState::Up,
                        history_only: false,
                    }
                })
                .collect();
            store.record_results(&batch).await.expect("results");
        }
        let mut rollups = Vec::with_capacity(n * 23);
        for (i, id) in ids.iter().enumerate() {
            for h in 1..=23 {
                rollups.push(RollupRow {
                    monitor_id: *id,
                    region: ALL_REGIONS.to_owned(),
                    bucket_start: this_hour - SignedDuration::from_hours(h),
                    rollup: Rollup {
                        checks: 60,
                        failures: (i as u64 + h as u64) % 3,
                        degraded: 0,
                        duration_min: Some(30),
                        duration_max: Some(400),
                        duration_sum: 60 * 80,
                        duration_p95: Some(200),
                        histogram: [(10u16, 50u64), (20, 10)].into_iter().collect(),
                    },
                });
            }
        }
        store
            .upsert_rollups(RollupPeriod::Hour, &rollups)
            .await
            .expect("rollups");
        store
            .set_rollup_watermark(this_hour)
            .await
            .expect("watermark");
        println!(
            "store: {n} monitors, {} raw results and {} hourly rollups loaded in {}",
            n * 60,
            rollups.len(),
            ms(load.elapsed())
        );
        let mut times = Vec::new();
        let mut parts: Vec<Vec<Duration>> = vec![Vec::new(); 6];
        for _ in 0..iters.clamp(3, 20) {
            let t = Instant::now();
            let monitors = store.list_monitors().await.expect("monitors");
            parts[0].push(t.elapsed());
            let lap = Instant::now();
            let regions = store.all_region_states().await.expect("regions");
            let _ = store.heartbeats().await.expect("heartbeats");
            let _ = store.list_maintenance().await.expect("maintenance");
            parts[1].push(lap.elapsed());
            let lap = Instant::now();
            // The 24-hour counts: rollups before the watermark, raw results after.
            let mark = store
                .rollup_watermark()
                .await
                .expect("watermark")
                .expect("set");
            let rolled = store
                .rollup_counts(this_hour - SignedDuration::from_hours(23), mark, None)
                .await
                .expect("rollups");
            parts[2].push(lap.elapsed());
            let lap = Instant::now();
            let raw = store.result_counts(mark, None).await.expect("raw");
            parts[3].push(lap.elapsed());
            let lap = Instant::now();
            let recent = store
                .recent_checks(now - SignedDuration::from_mins(30))
                .await
                .expect("recent");
            parts[4].push(lap.elapsed());
            let lap = Instant::now();
            // The 24-hour uptime: when each monitor was first seen, and the incidents
            // of the day (maintenance windows were read above).
            let ids: Vec<MonitorId> = monitors.iter().map(|m| m.id).collect();
            let seen = store.first_seen(&ids).await.expect("first seen");
            let _ = store
                .incidents_since(&ids, now - SignedDuration::from_hours(24))
                .await
                .expect("incidents");
            let _ = store
                .state_changes_since(&ids, now - SignedDuration::from_hours(24))
                .await
                .expect("state changes");
            parts[5].push(lap.elapsed());
            let _ = seen;
            assert_eq!((monitors.len(), regions.len(), rolled.len()), (n, n, n));
            assert!(raw.len() == n && recent.len() >= n * 29);
            times.push(t.elapsed());
        }
        println!(
            "store: the dashboard's queries (SQLite): {}",
            summary(times)
        );
        for (name, t) in [
            "monitors",
            "region states, heartbeats, maintenance",
            "hourly rollups, 23 h, summed",
            "raw results since the watermark",
            "last 30 minutes, raw",
            "24-hour uptime: first seen, incidents, state changes",
        ]
        .iter()
        .zip(parts)
        {
            println!("  {name}: {}", summary(t));
        }
        store.close().await;
    });
}
