//! Prometheus metrics: names, labels, the recorder and the body of `GET /metrics`.
//!
//! Naming rule: `vigilmon_` prefix, counters end in `_total`, durations in seconds;
//! labels have few distinct values (region, type, result, channel), never free text —
//! except the monitor's name, which only `vigilmon_monitor_up` carries. Series per
//! monitor are few (state, latest duration, failures) and live in a table of their own
//! ([`render`] writes them after the exporter's).

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use vigilmon_core::{CheckResult, MonitorId, MonitorState};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Drains histogram samples into their buckets every few seconds. Without it, samples
/// pile up in memory until something scrapes `/metrics` (the exporter's upkeep).
pub async fn upkeep(handle: PrometheusHandle, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(5)) => handle.run_upkeep(),
        }
    }
}

/// Installs the process-wide metrics recorder (once) and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    ],
                )
                .expect("static bucket list is not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests that build several
            // servers in one process): the handle still renders this one's data only
            // when it is the installed one, which is what production needs.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "vigilmon_checks_total",
        "Checks run, by region, monitor type and result"
    );
    metrics::describe_histogram!(
        "vigilmon_check_duration_seconds",
        "Wall time of each check, by region and monitor type"
    );
    metrics::describe_histogram!(
        "vigilmon_scheduler_lag_seconds",
        "How late checks started compared with their due time"
    );
    metrics::describe_gauge!(
        "vigilmon_region_available",
        "1 while a region served by agents is available, 0 while it is unavailable"
    );
    metrics::describe_gauge!(
        "vigilmon_scheduled_monitors",
        "Monitors the scheduler is running"
    );
    metrics::describe_counter!("vigilmon_results_written_total", "Check results stored");
    metrics::describe_counter!(
        "vigilmon_result_write_errors_total",
        "Check results that could not be stored"
    );
    metrics::describe_counter!(
        "vigilmon_results_expired_total",
        "Raw check results deleted by retention"
    );
    metrics::describe_counter!(
        "vigilmon_result_partitions_created_total",
        "Day partitions of raw check results created ahead (PostgreSQL)"
    );
    metrics::describe_counter!(
        "vigilmon_result_partitions_dropped_total",
        "Day partitions of raw check results dropped by retention (PostgreSQL)"
    );
    metrics::describe_gauge!(
        "vigilmon_coordinator",
        "1 while this node holds the coordinator lease, 0 otherwise"
    );
    metrics::describe_counter!(
        "vigilmon_lease_changes_total",
        "Times this node took or lost the coordinator lease"
    );
    metrics::describe_counter!(
        "vigilmon_fenced_writes_total",
        "Writes refused because this node no longer held the coordinator lease under their term"
    );
    metrics::describe_counter!(
        "vigilmon_ingest_rows_total",
        "Pings, results and incident actions this node passed on to the coordinator"
    );
    metrics::describe_counter!(
        "vigilmon_results_history_only_total",
        "Agent results kept as history only (taken while the agent was cut off, or buffered)"
    );
    metrics::describe_counter!("vigilmon_pings_total", "Heartbeat pings received, by kind");
    metrics::describe_histogram!(
        "vigilmon_ping_batch_size",
        "Pings written to the store in one batch"
    );
    metrics::describe_histogram!(
        "vigilmon_heartbeat_deadline_delay_seconds",
        "How late a heartbeat's missed deadline was acted on"
    );
    metrics::describe_counter!(
        "vigilmon_notification_attempts_total",
        "Notification sends tried, by channel and outcome"
    );
    metrics::describe_gauge!(
        "vigilmon_outbox_depth",
        "Notifications waiting in the outbox to be sent"
    );
    metrics::describe_counter!(
        "vigilmon_config_reloads_total",
        "Reloads of the config file while serving, by result (applied, invalid, failed)"
    );
    metrics::describe_gauge!(
        "vigilmon_config_valid",
        "1 while the config file as last read is applied, 0 while it is invalid and the last good one still runs"
    );
}

/// A reload of the config file: `applied`, `invalid` (refused: the file has errors or
/// cannot be read) or `failed` (valid, but the store refused it).
pub fn config_reloaded(result: &'static str) {
    counter!("vigilmon_config_reloads_total", "result" => result).increment(1);
    gauge!("vigilmon_config_valid").set(if result == "applied" { 1.0 } else { 0.0 });
}

/// A coordinator's write failed; counted when it was refused by the fence (this
/// node no longer held the lease under its term).
pub(crate) fn write_refused(e: &vigilmon_store::StoreError) {
    if matches!(e, vigilmon_store::StoreError::Fenced { .. }) {
        counter!("vigilmon_fenced_writes_total").increment(1);
    }
}

pub(crate) fn ingest_written(n: usize) {
    counter!("vigilmon_ingest_rows_total").increment(n as u64);
}

pub(crate) fn coordinator(holds: bool) {
    gauge!("vigilmon_coordinator").set(if holds { 1.0 } else { 0.0 });
}

pub(crate) fn lease_change() {
    counter!("vigilmon_lease_changes_total").increment(1);
}

/// One monitor's series in one region.
struct MonitorSeries {
    name: Arc<str>,
    up: f64,
    last_seconds: f64,
    /// Failed checks; the series is written from the first failure on.
    failures: u64,
}

/// The per-monitor series, kept apart from the exporter's registry: 30,000 series of
/// the `metrics` crate at 10,000 monitors cost memory per label set and most of a
/// scrape's time, where this table holds one small entry per monitor and region and
/// writes its lines straight into the body.
static MONITORS: LazyLock<Mutex<BTreeMap<(MonitorId, String), MonitorSeries>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// One check's series. Per monitor and region only what operators alert on — the
/// state, the last check's duration and the failed checks; checks by result and
/// durations (a histogram) per region and monitor type. A histogram and a counter per
/// monitor made `/metrics` of 10,000 monitors 22.7 MB. The monitor's name is on
/// `vigilmon_monitor_up` only; the other series join it on `monitor_id`.
pub(crate) fn record_check(
    id: MonitorId,
    name: &str,
    kind: &'static str,
    result: &CheckResult,
    region_state: MonitorState,
) {
    let region = result.region.to_string();
    let res = match &result.verdict {
        vigilmon_core::Verdict::Up => "up",
        vigilmon_core::Verdict::Degraded { .. } => "degraded",
        vigilmon_core::Verdict::Down { .. } => "down",
    };
    let seconds = result.duration_ms as f64 / 1000.0;
    counter!("vigilmon_checks_total", "region" => region.clone(), "type" => kind, "result" => res)
        .increment(1);
    histogram!("vigilmon_check_duration_seconds", "region" => region.clone(), "type" => kind)
        .record(seconds);
    let up = match region_state {
        MonitorState::Up | MonitorState::Degraded => 1.0,
        MonitorState::Down => 0.0,
        _ => -1.0,
    };
    let mut table = MONITORS.lock().unwrap_or_else(PoisonError::into_inner);
    let entry = table.entry((id, region)).or_insert_with(|| MonitorSeries {
        name: Arc::from(name),
        up,
        last_seconds: seconds,
        failures: 0,
    });
    if &*entry.name != name {
        entry.name = Arc::from(name);
    }
    entry.up = up;
    entry.last_seconds = seconds;
    if res == "down" {
        entry.failures += 1;
    }
}

/// Forgets a deleted monitor's series.
pub(crate) fn forget_monitor(id: MonitorId) {
    let mut table = MONITORS.lock().unwrap_or_else(PoisonError::into_inner);
    table.retain(|(m, _), _| *m != id);
}

/// A label value in the text format: `\`, `"` and line feeds escaped.
fn label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The whole `/metrics` body: the exporter's metrics, then the per-monitor series.
pub fn render(handle: &PrometheusHandle) -> String {
    use std::fmt::Write;
    let mut out = handle.render();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    // Copied out under the lock, written without it: checks are not held up by a scrape.
    let rows: Vec<(MonitorId, String, Arc<str>, f64, f64, u64)> = {
        let table = MONITORS.lock().unwrap_or_else(PoisonError::into_inner);
        table
            .iter()
            .map(|((id, region), s)| {
                (
                    *id,
                    region.clone(),
                    s.name.clone(),
                    s.up,
                    s.last_seconds,
                    s.failures,
                )
            })
            .collect()
    };
    out.reserve(rows.len() * 240);
    let _ = writeln!(
        out,
        "\n# HELP vigilmon_monitor_up 1 when the monitor is up or degraded in the region, 0 when down, -1 while pending; carries the monitor's name\n# TYPE vigilmon_monitor_up gauge"
    );
    for (id, region, name, up, _, _) in &rows {
        let _ = write!(out, "vigilmon_monitor_up{{monitor_id=\"{id}\",monitor=\"");
        label(&mut out, name);
        out.push_str("\",region=\"");
        label(&mut out, region);
        let _ = writeln!(out, "\"}} {up}");
    }
    let _ = writeln!(
        out,
        "\n# HELP vigilmon_check_last_duration_seconds Wall time of the latest check, by monitor (monitor_id) and region\n# TYPE vigilmon_check_last_duration_seconds gauge"
    );
    for (id, region, _, _, seconds, _) in &rows {
        let _ = write!(
            out,
            "vigilmon_check_last_duration_seconds{{monitor_id=\"{id}\",region=\""
        );
        label(&mut out, region);
        let _ = writeln!(out, "\"}} {seconds}");
    }
    let _ = writeln!(
        out,
        "\n# HELP vigilmon_check_failures_total Failed (down) checks, by monitor (monitor_id) and region; from the first failure\n# TYPE vigilmon_check_failures_total counter"
    );
    for (id, region, _, _, _, failures) in rows.iter().filter(|r| r.5 > 0) {
        let _ = write!(
            out,
            "vigilmon_check_failures_total{{monitor_id=\"{id}\",region=\""
        );
        label(&mut out, region);
        let _ = writeln!(out, "\"}} {failures}");
    }
    out
}

pub(crate) fn results_written(n: usize) {
    counter!("vigilmon_results_written_total").increment(n as u64);
}

pub(crate) fn result_history_only() {
    counter!("vigilmon_results_history_only_total").increment(1);
}

pub(crate) fn result_write_failed(n: usize) {
    counter!("vigilmon_result_write_errors_total").increment(n as u64);
}

pub(crate) fn results_expired(n: u64) {
    counter!("vigilmon_results_expired_total").increment(n);
}

pub(crate) fn result_partitions(created: usize, dropped: usize) {
    counter!("vigilmon_result_partitions_created_total").increment(created as u64);
    counter!("vigilmon_result_partitions_dropped_total").increment(dropped as u64);
}

pub(crate) fn ping_received(kind: &str) {
    counter!("vigilmon_pings_total", "kind" => kind.to_owned()).increment(1);
}

pub(crate) fn ping_batch(n: usize) {
    histogram!("vigilmon_ping_batch_size").record(n as f64);
}

pub(crate) fn heartbeat_deadline_missed(delay_ms: i64) {
    histogram!("vigilmon_heartbeat_deadline_delay_seconds").record(delay_ms.max(0) as f64 / 1000.0);
}

pub(crate) fn notification_attempt(channel: &str, outcome: &'static str) {
    counter!("vigilmon_notification_attempts_total", "channel" => channel.to_owned(), "outcome" => outcome).increment(1);
}

pub(crate) fn region_available(region: &str, available: bool) {
    gauge!("vigilmon_region_available", "region" => region.to_owned()).set(if available {
        1.0
    } else {
        0.0
    });
}

pub(crate) fn outbox_depth(n: u64) {
    gauge!("vigilmon_outbox_depth").set(n as f64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigilmon_core::{ErrorKind, RegionName, Verdict};

    #[test]
    fn a_monitor_has_few_series_and_failures_appear_with_the_first() {
        let handle = install();
        let id = MonitorId::from_uuid(uuid::Uuid::from_u128(0x5eed));
        let region = RegionName::parse("metrics-test").unwrap();
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let ok = CheckResult::new(region.clone(), at, 42, Verdict::Up);
        record_check(id, "shop \"api\"", "http", &ok, MonitorState::Up);
        let text = render(&handle);
        let mine: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&id.to_string()))
            .collect();
        assert_eq!(mine.len(), 2, "{mine:?}");
        assert!(
            text.contains(&format!(
                "vigilmon_monitor_up{{monitor_id=\"{id}\",monitor=\"shop \\\"api\\\"\",region=\"metrics-test\"}} 1"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "vigilmon_check_last_duration_seconds{{monitor_id=\"{id}\",region=\"metrics-test\"}} 0.042"
        )));
        assert!(!text.contains("vigilmon_check_failures_total{"), "{text}");
        let failed = CheckResult::new(
            region,
            at,
            7,
            Verdict::down(ErrorKind::Status, "status 500"),
        );
        record_check(id, "shop \"api\"", "http", &failed, MonitorState::Down);
        let text = render(&handle);
        assert!(text.contains(&format!(
            "vigilmon_check_failures_total{{monitor_id=\"{id}\",region=\"metrics-test\"}} 1"
        )));
        assert!(text.contains(&format!(
            "vigilmon_monitor_up{{monitor_id=\"{id}\",monitor=\"shop \\\"api\\\"\",region=\"metrics-test\"}} 0"
        )));
        for result in ["up", "down"] {
            assert!(
                text.contains(&format!(
                    "vigilmon_checks_total{{region=\"metrics-test\",type=\"http\",result=\"{result}\"}} 1"
                )),
                "{text}"
            );
        }
    }
}
