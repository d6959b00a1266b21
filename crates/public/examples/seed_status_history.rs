//! Seeds a store with a status page of N monitors and D days of synthetic history,
//! written directly through the store (as `vigilmon serve` would have over D days):
//! monitors first seen D+1 days ago, incidents (a few per monitor, 1-60 minutes,
//! some with public updates), hourly and daily rollups, a recurring maintenance
//! window, and the page itself (slug `bench`, five sections). For
//! `scripts/bench-status-page.sh`.
//!
//! ```text
//! cargo run --release -p vigilmon-public --example seed_status_history -- \
//!     --data-dir DIR [--monitors 50] [--days 90] [--port 8080]
//! ```
//!
//! `--port` is where the server will listen: the monitors check its `/healthz`, so the
//! page shows live states once it runs. `--database-url postgres://…` seeds PostgreSQL.

use std::time::Instant;

use jiff::Timestamp;
use serde_json::json;
use uuid::Uuid;
use vigilmon_core::rollup::{Accumulator, Outcome, Rollup};
use vigilmon_core::state::RegionStatus;
use vigilmon_core::status_page::StatusPageConfig;
use vigilmon_core::{CheckResult, MonitorConfig, MonitorId, MonitorState, RegionName, Verdict};
use vigilmon_store::{
    ALL_REGIONS, AlertingWrite, IncidentChange, IncidentRecord, MonitorSource, NewIncidentUpdate,
    RecordedCheck, RollupPeriod, RollupRow, Store,
};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A small deterministic generator (the figures are the same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).expect("timestamp")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let monitors: usize = arg(&args, "--monitors").map_or(Ok(50), |v| v.parse())?;
    let days: i64 = arg(&args, "--days").map_or(Ok(90), |v| v.parse())?;
    let port: u16 = arg(&args, "--port").map_or(Ok(8080), |v| v.parse())?;
    let store = match (arg(&args, "--data-dir"), arg(&args, "--database-url")) {
        (_, Some(url)) => Store::open_postgres(&url).await?,
        (Some(dir), None) => Store::open_sqlite(std::path::Path::new(&dir)).await?,
        (None, None) => return Err("give --data-dir DIR or --database-url URL".into()),
    };
    let started = Instant::now();
    let now = Timestamp::now();
    let now_ms = now.as_millisecond();
    let hour_now = now_ms - now_ms.rem_euclid(HOUR_MS);
    let born = now_ms - (days + 1) * DAY_MS;
    let mut rng = Lcg(8);

    // Monitors, each first seen D+1 days ago.
    let mut ids = Vec::with_capacity(monitors);
    for i in 0..monitors {
        let id = MonitorId(Uuid::now_v7());
        let config = MonitorConfig {
            name: format!("svc-{i:03}"),
            tags: vec![if i.is_multiple_of(5) { "db" } else { "app" }.into()],
            kind: vigilmon_core::KindConfig::Http(vigilmon_core::monitor::HttpConfig {
                url: Some(format!("http://127.0.0.1:{port}/healthz")),
                ..Default::default()
            }),
            ..MonitorConfig::default()
        };
        store
            .create_monitor(id, &config, MonitorSource::Api, ts(born))
            .await?;
        ids.push(id);
    }
    let first: Vec<RecordedCheck> = ids
        .iter()
        .map(|id| RecordedCheck {
            monitor_id: *id,
            result: CheckResult {
                status_code: Some(200),
                ..CheckResult::new(RegionName::local(), ts(born), 40, Verdict::Up)
            },
            region_status: RegionStatus {
                state: MonitorState::Up,
                consecutive_failures: 0,
            },
            monitor_state: MonitorState::Up,
            history_only: false,
        })
        .collect();
    store.record_results(&first).await?;
    store.record_first_seen().await?;

    // Incidents: about one every ten days per monitor, 1-60 minutes long.
    let mut incidents = 0;
    let mut updates = 0;
    for (i, id) in ids.iter().enumerate() {
        let mut write = AlertingWrite::default();
        let mut mine = Vec::new();
        for _ in 0..(days / 10).max(1) {
            let opened =
                now_ms - days * DAY_MS + i64::try_from(rng.below(u64::try_from(days * DAY_MS)?))?;
            let length = (1 + i64::try_from(rng.below(60))?) * 60_000;
            let resolved = (opened + length).min(now_ms - 1);
            let iid = Uuid::now_v7();
            write
                .incidents
                .push(IncidentChange::Open(Box::new(IncidentRecord {
                    id: iid,
                    monitor_id: *id,
                    monitor_name: format!("svc-{i:03}"),
                    state: "open".into(),
                    priority: "P2".into(),
                    cause: "status 503 is not one of the expected (200)".into(),
                    regions: json!([{"region": "local", "ok": false}]),
                    parent_id: None,
                    opened_at: ts(opened),
                    acknowledged_at: None,
                    acknowledged_by: None,
                    resolved_at: None,
                    resolved_by: None,
                })));
            write.incidents.push(IncidentChange::Resolve {
                id: iid,
                at: ts(resolved),
                by: None,
            });
            mine.push((iid, opened));
            incidents += 1;
        }
        store.apply_alerting(&write, now).await?;
        for (iid, opened) in mine.iter().step_by(3) {
            for (k, status) in ["investigating", "resolved"].into_iter().enumerate() {
                store
                    .add_incident_update(&NewIncidentUpdate {
                        incident_id: *iid,
                        at: ts(opened + i64::try_from(k)? * 300_000),
                        status: status.into(),
                        text: format!("We are looking into errors of service {i}."),
                        title: None,
                        author: None,
                    })
                    .await?;
                updates += 1;
            }
        }
    }

    // Hourly rollups (all regions and `local`), 60 checks an hour; daily ones merged.
    let mut hourly = Vec::new();
    let mut daily = Vec::new();
    let mut rows = 0usize;
    for id in &ids {
        let mut day: Option<(i64, Rollup)> = None;
        let mut hour = hour_now - days * DAY_MS;
        while hour < hour_now {
            let mut acc = Accumulator::default();
            let base = 30 + rng.below(40);
            for _ in 0..60 {
                let outcome = if rng.below(2000) == 0 {
                    Outcome::Down
                } else {
                    Outcome::Up
                };
                acc.add(outcome, base + rng.below(base));
            }
            let r = acc.finish();
            let day_start = hour - hour.rem_euclid(DAY_MS);
            match &mut day {
                Some((d, acc)) if *d == day_start => acc.merge(&r),
                _ => {
                    if let Some((d, acc)) = day.take() {
                        for region in [ALL_REGIONS, "local"] {
                            daily.push(RollupRow {
                                monitor_id: *id,
                                region: region.into(),
                                bucket_start: ts(d),
                                rollup: acc.clone(),
                            });
                        }
                    }
                    let mut fresh = Rollup::default();
                    fresh.merge(&r);
                    day = Some((day_start, fresh));
                }
            }
            for region in [ALL_REGIONS, "local"] {
                hourly.push(RollupRow {
                    monitor_id: *id,
                    region: region.into(),
                    bucket_start: ts(hour),
                    rollup: r.clone(),
                });
            }
            if hourly.len() >= 4000 {
                rows += hourly.len();
                store.upsert_rollups(RollupPeriod::Hour, &hourly).await?;
                hourly.clear();
            }
            hour += HOUR_MS;
        }
        if let Some((d, acc)) = day {
            for region in [ALL_REGIONS, "local"] {
                daily.push(RollupRow {
                    monitor_id: *id,
                    region: region.into(),
                    bucket_start: ts(d),
                    rollup: acc.clone(),
                });
            }
        }
    }
    rows += hourly.len() + daily.len();
    store.upsert_rollups(RollupPeriod::Hour, &hourly).await?;
    store.upsert_rollups(RollupPeriod::Day, &daily).await?;
    store.set_rollup_watermark(ts(hour_now)).await?;

    // A weekly maintenance window of the `db` monitors, for as long as the history.
    store
        .upsert_maintenance(
            Uuid::now_v7(),
            "weekly-db-patching",
            &json!({"name": "weekly-db-patching", "tags": ["db"], "cron": "0 3 * * SUN", "duration": "30m", "tz": "Europe/Berlin"}),
            MonitorSource::Api,
            ts(born),
        )
        .await?;

    // The page: five sections, every other monitor under a public name.
    let per = monitors.div_ceil(5).max(1);
    let sections: Vec<serde_json::Value> = ids
        .chunks(per)
        .enumerate()
        .map(|(s, chunk)| {
            let list: Vec<serde_json::Value> = (0..chunk.len())
                .map(|k| {
                    let i = s * per + k;
                    if i.is_multiple_of(2) {
                        json!(format!("svc-{i:03}"))
                    } else {
                        json!({"name": format!("svc-{i:03}"), "public_name": format!("Service {i}")})
                    }
                })
                .collect();
            json!({"name": format!("Section {}", s + 1), "monitors": list})
        })
        .collect();
    let page: StatusPageConfig = serde_json::from_value(json!({
        "slug": "bench", "title": "Benchmark status", "description": "Synthetic history.",
        "timezone": "Europe/Berlin", "sections": sections,
    }))?;
    store
        .upsert_status_page(&page, MonitorSource::Api, now)
        .await?;
    store.close().await;
    println!(
        "seeded {monitors} monitors, {days} days: {incidents} incidents, {updates} public updates, {rows} rollup rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
