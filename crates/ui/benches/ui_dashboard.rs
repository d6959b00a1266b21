//! How long the web UI's dashboard takes on the server, and how big it is.
//!
//! 1. Template: builds one page of the dashboard (default 250 rows, a full page; HTTP
//!    monitors in 8 tags, each with its 24-hour counts and its last 30 minutes for the
//!    beat bar) from in-memory data and renders it with the compiled template, many
//!    times; prints the median, p95 and max, and the page's size raw and gzipped.
//! 2. Server: N monitors (default 1,000) on SQLite, checked every minute for a day —
//!    the last hour as raw results (N × 60 rows), the 23 hours before as hourly
//!    rollups (N × 23 rows, as the rollup task leaves them); 1 in 100 down, 1 in 200
//!    degraded, 1 in 100 paused, the rest up; 8 tags. The real engine (no probe) and
//!    the UI's routes answer requests signed in as an owner, asking for gzip as a
//!    browser does: the dashboard's first answer, a search that matches one monitor,
//!    one group's first page, the down monitors, and a live poll. The time is from the
//!    request to the last byte of the body (no network): the server's time.
//!
//! `cargo bench -p vigilmon-ui --bench ui_dashboard`; knobs: `VIGILMON_BENCH_MONITORS`
//! (default 1000), `VIGILMON_BENCH_ROWS` (default 250), `VIGILMON_BENCH_ITERS`
//! (default 100). Run without `--bench` (as `cargo test --all-targets` does) it is a
//! quick smoke run of 300 monitors (more than a page, so the first answer summarises).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use jiff::{SignedDuration, Timestamp};
use tower::ServiceExt;
use uuid::Uuid;
use vigilmon_core::rollup::Rollup;
use vigilmon_core::state::RegionStatus;
use vigilmon_core::{CheckResult, MonitorConfig, MonitorId, MonitorState, RegionName, Verdict};
use vigilmon_store::{ALL_REGIONS, MonitorSource, RecordedCheck, RollupPeriod, RollupRow, Store};
use vigilmon_ui::dashboard::bench_support;

/// The `data-live` URL of a page, as the browser reads it (entities decoded).
fn live_of(page: &str) -> String {
    page.split("data-live=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page polls")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

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

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    let _ = flate2::read::GzDecoder::new(bytes).read_to_string(&mut out);
    out
}

/// The state of monitor `i` in the fixture.
fn state_of(i: usize) -> MonitorState {
    if i % 100 == 7 {
        MonitorState::Down
    } else if i % 200 == 13 {
        MonitorState::Degraded
    } else if i % 100 == 42 {
        MonitorState::Paused
    } else {
        MonitorState::Up
    }
}

/// One request through the UI's routes: (time to the last byte, status, body as sent).
async fn get(app: &axum::Router, cookie: &str, path: &str) -> (Duration, u16, Vec<u8>) {
    let req = Request::builder()
        .uri(path)
        .header(header::HOST, "127.0.0.1")
        .header(header::COOKIE, cookie)
        .header(header::ACCEPT_ENCODING, "gzip")
        .header(header::ORIGIN, "http://127.0.0.1")
        .body(Body::empty())
        .expect("request");
    let t = Instant::now();
    let res = app.clone().oneshot(req).await.expect("response");
    let status = res.status().as_u16();
    let gzipped = res
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip");
    let body = res.into_body().collect().await.expect("body").to_bytes();
    let took = t.elapsed();
    assert!(gzipped || body.len() < 1024, "{path}: not gzipped");
    (took, status, body.to_vec())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = knob("VIGILMON_BENCH_MONITORS", if full { 1000 } else { 300 });
    let rows = knob("VIGILMON_BENCH_ROWS", 250);
    let iters = knob("VIGILMON_BENCH_ITERS", if full { 100 } else { 3 });

    // 1. Template.
    let fixture = bench_support::fixture(rows);
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
    println!("a page of {rows} rows, build + render: {}", summary(times));
    println!(
        "  size: {:.1} kB raw, {:.1} kB gzipped",
        html.len() as f64 / 1024.0,
        gzip_len(html.as_bytes()) as f64 / 1024.0
    );

    // 2. The server, on SQLite.
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
        let load = Instant::now();
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let id = MonitorId::from_uuid(Uuid::now_v7());
            let config = MonitorConfig {
                name: format!("[service-{i:05}] api /health"),
                tags: vec![format!("team-{}", i % 8)],
                paused: state_of(i) == MonitorState::Paused,
                kind: vigilmon_core::KindConfig::Http(vigilmon_core::monitor::HttpConfig {
                    url: Some(format!("https://service-{i:05}.example.com/health")),
                    ..Default::default()
                }),
                ..Default::default()
            };
            store
                .create_monitor(
                    id,
                    &config,
                    MonitorSource::Api,
                    now - SignedDuration::from_hours(48),
                )
                .await
                .expect("monitor");
            ids.push(id);
        }
        for minute in (0..60).rev() {
            let at = now - SignedDuration::from_mins(minute);
            let batch: Vec<RecordedCheck> = ids
                .iter()
                .enumerate()
                .filter(|(i, _)| state_of(*i) != MonitorState::Paused)
                .map(|(i, id)| {
                    let state = state_of(i);
                    let ok =
                        state != MonitorState::Down && !(i + minute as usize).is_multiple_of(97);
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
                            state,
                            consecutive_failures: 0,
                        },
                        monitor_state: state,
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
        for chunk in rollups.chunks(10_000) {
            store
                .upsert_rollups(RollupPeriod::Hour, chunk)
                .await
                .expect("rollups");
        }
        store
            .set_rollup_watermark(this_hour)
            .await
            .expect("watermark");
        store.record_first_seen().await.expect("first seen");
        println!(
            "server: {n} monitors, {} raw results and {} hourly rollups loaded in {}",
            n * 60,
            rollups.len(),
            ms(load.elapsed())
        );

        // The engine without a probe (nothing is checked while measuring), the UI's
        // routes, and an owner's session.
        let region_name = RegionName::parse("local").expect("region");
        let opts = vigilmon_engine::EngineOptions {
            public_url: "http://127.0.0.1".into(),
            probe: vigilmon_probe::ProbeOptions::new(region_name.clone()),
            concurrency: 16,
            retention_raw: Duration::from_secs(30 * 24 * 3600),
            retention_every: Duration::from_secs(3600),
            heartbeats: vigilmon_engine::heartbeats::HeartbeatConfig::default(),
            alerting: vigilmon_engine::AlertingOptions::default(),
            local_probe: false,
            regions: vec![region_name],
            agent_poll: Duration::from_secs(10),
            clock: Arc::new(vigilmon_schedule::clock::SystemClock),
            node: vigilmon_engine::node::NodeOptions::default(),
        };
        let (engine, tasks) = vigilmon_engine::Engine::start(store.clone(), opts)
            .await
            .expect("engine");
        let state =
            vigilmon_app::AppState::new(engine.clone(), vigilmon_app::front::Front::default());
        let owner = store
            .create_user("owner@example.com", "x", "owner", now)
            .await
            .expect("owner");
        let cookie = bench_support::session_cookie(&state, &owner)
            .await
            .expect("session");
        let app = bench_support::router(state);

        let (_, status, body) = get(&app, &cookie, "/").await;
        let page = gunzip(&body);
        assert_eq!(status, 200, "{page}");
        let live = live_of(&page);
        // A group's page polled from before its monitors' latest checks: every row
        // moved, so each comes with its figures again (the worst case; at a 2-second
        // poll and a 1-minute interval about one row in 30 moves).
        let (_, _, body) = get(&app, &cookie, "/?group=team-3").await;
        let group_live = live_of(&gunzip(&body));
        let since = group_live
            .split("since=")
            .nth(1)
            .and_then(|s| s.split('&').next())
            .expect("since")
            .to_owned();
        let every_row_moved = group_live.replace(
            &format!("since={since}"),
            &format!(
                "since={}",
                (now - SignedDuration::from_mins(1)).as_millisecond()
            ),
        );
        let requests = [
            ("first answer", "/".to_owned()),
            ("search matching one", "/?q=service-00042".to_owned()),
            ("one group, first page", "/?group=team-3".to_owned()),
            ("down monitors", "/?state=down".to_owned()),
            ("live poll, nothing moved", live),
            (
                "live poll, a group's page, every row moved",
                every_row_moved,
            ),
        ];
        for (what, path) in requests {
            let mut times = Vec::new();
            let mut last = Vec::new();
            for _ in 0..iters.clamp(3, 30) {
                let (t, status, body) = get(&app, &cookie, &path).await;
                assert_eq!(status, 200, "{path}");
                times.push(t);
                last = body;
            }
            let raw = gunzip(&last);
            println!(
                "  {what} ({path}): {}; {:.1} kB raw, {:.1} kB gzipped",
                summary(times),
                raw.len() as f64 / 1024.0,
                last.len() as f64 / 1024.0
            );
            if what == "search matching one" {
                assert_eq!(raw.matches("<tr data-m=").count(), 1, "one match");
            }
            if what.ends_with("every row moved") {
                assert!(raw.contains("\"beats\":\"<span class="), "figures again");
            }
        }
        tasks.shutdown(engine).await;
        store.close().await;
    });
}
