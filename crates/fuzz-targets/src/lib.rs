//! Vigilmon's fuzz targets: one function per parser of input from outside (the
//! config file, API bodies, ping URLs, agent payloads, Redis replies and `INFO` text,
//! gRPC answers,
//! cron schedules, durations, JSONPath assertions, web forms). Each
//! `pub fn name(data: &[u8])` feeds arbitrary bytes through the real code, the way
//! the server or the agent reads them.
//!
//! None may panic, whatever the input: a panic is a bug in the code under test, fixed
//! there so that it returns an error. Besides not panicking, what the code accepts
//! must hold together: a monitor that builds is written as JSON (as the store keeps
//! it and the API shows it) and reads back equal and builds again, and an empty merge
//! patch of it changes nothing; a duration prints as text that reads back the same.
//! Those checks are assertions here, so the fuzzer reports a broken one as a crash.
//!
//! `fuzz/` (cargo-fuzz on nightly; `scripts/fuzz.sh` runs every target) calls these
//! functions from its targets, and `tests/corpus.rs` replays the committed seeds
//! (`fuzz/corpus/<name>/`) and every input that once failed
//! (`fuzz/regressions/<name>/`) in `cargo test` on stable. See docs/fuzzing.md.

use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use vigilmon_core::alert::PolicyConfig;
use vigilmon_core::heartbeat::{HeartbeatState, PingKind, Schedule};
use vigilmon_core::maintenance::{MaintenanceConfig, MaintenanceSchedule};
use vigilmon_core::monitor::CheckSpec;
use vigilmon_core::protocol::{
    Assignments, ResultItem, ResultsAnswer, ResultsBatch, WaitAnswer, date_results,
};
use vigilmon_core::status_page::StatusPageConfig;
use vigilmon_core::{HumanDuration, MonitorConfig, MonitorId};
use vigilmon_notify::ChannelConfig;

/// The fixed "now" of every target: 2026-12-04T12:00:00Z.
pub const NOW: Timestamp = Timestamp::constant(1_796_385_600, 0);

/// A second instant, 2026-10-25T00:30:00Z: 02:30 in Berlin, half an hour before the
/// clocks go back there (02:00-03:00 happens twice that night).
pub const BEFORE_FOLD: Timestamp = Timestamp::constant(1_792_888_200, 0);

/// The instants schedules are asked about.
const INSTANTS: [Timestamp; 2] = [NOW, BEFORE_FOLD];

/// How long raw results are kept by default (the horizon of agent results).
const RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// Text of `data`, when it is UTF-8 (the text parsers take nothing else).
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The sections of the config file that hold monitors, channels, policies,
/// maintenance windows and status pages, read by the same derived code as the file
/// (`crates/vigilmon/src/config.rs`, `FileConfig`); the other sections are the
/// binary's own and left out.
#[derive(Debug, Default, Deserialize)]
struct Sections {
    #[serde(default)]
    monitors: Vec<MonitorConfig>,
    #[serde(default)]
    channels: Vec<ChannelConfig>,
    #[serde(default)]
    policies: Vec<PolicyConfig>,
    #[serde(default)]
    maintenance: Vec<MaintenanceConfig>,
    #[serde(default)]
    status_pages: Vec<StatusPageConfig>,
}

/// What every monitor config the code accepts must also do: be written as JSON and
/// read back equal (the store keeps monitors as JSON; the API shows them back), build
/// again, and come out of an empty merge patch (`PATCH {}` through the API, which
/// masks its secrets and restores them) unchanged.
fn accepted_monitor(config: &MonitorConfig) {
    let written = serde_json::to_string(config).expect("a monitor config is written as JSON");
    let read: MonitorConfig = serde_json::from_str(&written)
        .unwrap_or_else(|e| panic!("an accepted monitor does not read back: {e}\n{written}"));
    assert_eq!(&read, config, "an accepted monitor reads back changed");
    if let Err(e) = read.build() {
        panic!("an accepted monitor read back does not build: {e:?}\n{written}");
    }
    match vigilmon_app::monitors::patched_config(config, &json!({})) {
        Ok(patched) => assert_eq!(&patched, config, "an empty patch changed a monitor"),
        Err(e) => panic!("an empty patch of an accepted monitor is refused: {e:?}\n{written}"),
    }
}

/// Validates a monitor config the way saving it does, and checks what is accepted.
fn monitor(config: &MonitorConfig) {
    if let Ok(spec) = config.build() {
        accepted_monitor(config);
        schedule(&spec);
    }
}

/// The schedule arithmetic of a built monitor: its slot in the interval, the next
/// due time, and for heartbeats the next expected ping.
fn schedule(spec: &vigilmon_core::MonitorSpec) {
    let id = MonitorId::from_uuid(uuid::Uuid::from_u128(
        0x0193_0000_0000_7000_8000_0000_0000_0001,
    ));
    let offset = spec
        .offset
        .unwrap_or_else(|| vigilmon_core::schedule::stable_offset(id, spec.interval));
    for at in INSTANTS {
        let due = vigilmon_core::schedule::next_due(at, spec.interval, offset);
        assert!(due > at, "the next due time {due} is not after {at}");
    }
    if let CheckSpec::Heartbeat(hb) = &spec.check {
        heartbeat_runs(hb);
    }
}

/// A heartbeat's life over its schedule: a run started and finished, the deadline
/// that silence sets, and what happens when it passes.
fn heartbeat_runs(hb: &vigilmon_core::heartbeat::HeartbeatSpec) {
    let _ = hb.describe();
    for at in INSTANTS {
        let mut next = at;
        for _ in 0..3 {
            match hb.next_expected(next) {
                Some(t) => {
                    assert!(t > next, "the next expected ping {t} is not after {next}");
                    next = t;
                }
                // A schedule that validates fires: only `every` may run off the calendar.
                None if matches!(hb.schedule, Schedule::Cron { .. }) => {
                    panic!(
                        "the accepted schedule {} has no time after {next}",
                        hb.describe()
                    )
                }
                None => break,
            }
        }
        let mut state = HeartbeatState::default();
        state.on_ping(hb, PingKind::Start, None, Some("r1"), at);
        state.on_ping(hb, PingKind::Success, Some(0), Some("r1"), at);
        if let Some(deadline) = state.deadline(hb) {
            assert!(
                deadline > at,
                "a deadline {deadline} is not after the ping {at}"
            );
            state.on_deadline(hb, deadline);
            state.after_restart(hb, deadline);
        }
    }
}

/// A maintenance window: validated, then asked whether it is active and when that
/// changes, at the fixed instants.
fn maintenance(window: &MaintenanceConfig) {
    let Ok(spec) = window.build() else { return };
    let _ = spec.describe();
    for at in INSTANTS {
        if let Some((start, end)) = spec.active_at(at) {
            assert!(
                start <= at && at < end,
                "window {start}..{end} does not cover {at}"
            );
        }
        match spec.next_change(at) {
            Some(next) => assert!(next > at, "the next change {next} is not after {at}"),
            // A recurring window that validates starts again.
            None if matches!(spec.schedule, MaintenanceSchedule::Recurring { .. }) => {
                panic!(
                    "the accepted window {} never changes after {at}",
                    spec.describe()
                )
            }
            None => {}
        }
    }
}

/// A status page: validated, then normalised and checked against a public host.
fn status_page(page: &StatusPageConfig) {
    if page.validate().is_ok() {
        let _ = page.normalized();
        let _ = page.normalized_domain();
        let _ = page.time_zone();
        let _ = page.check_domain_against("status.example.com");
    }
}

/// `config`: YAML text of the config file's monitors, channels, policies, maintenance
/// windows and status pages, read with `yaml_serde` through the same serde and
/// `vigilmon_core::tagged` code as the file, then validated (`build`, `validate`).
pub fn config(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(sections) = yaml_serde::from_str::<Sections>(text) else {
        return;
    };
    for m in &sections.monitors {
        monitor(m);
    }
    let mut channels = Vec::new();
    for c in &sections.channels {
        if c.build().is_ok() {
            let _ = vigilmon_core::secret::masked(c);
            channels.push(c.name.trim().to_owned());
        }
    }
    for p in &sections.policies {
        let _ = p.build(|c| channels.iter().any(|n| n == c));
    }
    for w in &sections.maintenance {
        maintenance(w);
    }
    for p in &sections.status_pages {
        status_page(p);
    }
}

/// Monitors an API patch is applied to: one of each type, with secrets.
fn stored_monitors() -> Vec<MonitorConfig> {
    [
        json!({"name": "api", "type": "http", "url": "https://user:pw@api.example.com/health",
               "headers": {"Authorization": "Bearer t"}, "expect": {"status": [200, "3xx"]}}),
        json!({"name": "db", "type": "tcp", "host": "db.example.com", "port": 5432}),
        json!({"name": "cache", "type": "redis", "url": "redis://:secret@cache.example.com:6379/1"}),
        json!({"name": "nightly", "type": "heartbeat", "cron": "0 3 * * *", "tz": "Europe/Berlin"}),
    ]
    .into_iter()
    .map(|v| serde_json::from_value(v).expect("the stored monitors read"))
    .collect()
}

/// `api_body`: a JSON body as the API reads it (`vigilmon_app::extract::decode_json`,
/// with `serde_path_to_error`) into a monitor, channel, policy, maintenance window or
/// status page, then validated; and the same body as a JSON merge patch of stored
/// monitors (`vigilmon_app::monitors::patched_config`, through
/// `vigilmon_core::tagged::type_first`), then validated.
pub fn api_body(data: &[u8]) {
    use vigilmon_app::extract::decode_json;
    if let Ok(m) = decode_json::<MonitorConfig>(data) {
        monitor(&m);
    }
    if let Ok(c) = decode_json::<ChannelConfig>(data) {
        let _ = c.build();
    }
    if let Ok(p) = decode_json::<PolicyConfig>(data) {
        let _ = p.build(|c| c == "ops");
    }
    if let Ok(w) = decode_json::<MaintenanceConfig>(data) {
        maintenance(&w);
    }
    if let Ok(p) = decode_json::<StatusPageConfig>(data) {
        status_page(&p);
    }
    let Ok(patch) = decode_json::<Value>(data) else {
        return;
    };
    // The API takes only objects as patches.
    if !patch.is_object() {
        return;
    }
    for old in stored_monitors() {
        if let Ok(patched) = vigilmon_app::monitors::patched_config(&old, &patch) {
            monitor(&patched);
        }
    }
}

/// The workspace's ping key in the `ping_path` target.
const PING_KEY: &str = "pk_0123456789abcdefghij";

/// `ping_path`: a request's path and query (`/ping/{token}/start?rid=…`,
/// `/ping/{ping_key}/{slug}?create=1`, `/api/push/{token}?status=down&msg=…`), read
/// by the ping endpoints' own functions (`vigilmon_public::ping::fuzzing::read`);
/// the slug, when there is one, also goes through `slugify`.
pub fn ping_path(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let _ = vigilmon_public::ping::fuzzing::read(text, PING_KEY);
    let slug = vigilmon_core::heartbeat::slugify(text);
    assert!(
        slug.is_empty() || vigilmon_core::heartbeat::is_valid_slug(&slug),
        "slugify made an invalid slug {slug:?}"
    );
}

/// `agent_payload`: JSON as the server reads an agent's results batch (dated with
/// `date_results` against a fixed now) and as the agent reads its assignments (each
/// monitor config validated as the agent does, then scheduled at its offset), the
/// answers to results and waits, and the agent's disk buffer (one result per line).
pub fn agent_payload(data: &[u8]) {
    use vigilmon_app::extract::decode_json;
    if let Ok(batch) = decode_json::<ResultsBatch>(data) {
        let times: Vec<Timestamp> = batch.results.iter().map(|i| i.result.checked_at).collect();
        for horizon in [RETENTION, Duration::from_secs(3600), Duration::MAX] {
            let dated = date_results(&times, NOW, horizon);
            assert_eq!(dated.len(), times.len());
            let ok: Vec<Timestamp> = dated.iter().filter_map(|d| d.clone().ok()).collect();
            for t in &ok {
                assert!(*t <= NOW, "a result was dated {t}, after now");
            }
        }
    }
    if let Ok(a) = serde_json::from_slice::<Assignments>(data) {
        for m in &a.monitors {
            // As the agent validates an assignment (`assignments::build_spec`).
            let Ok(config) = serde_json::from_value::<MonitorConfig>(m.config.clone()) else {
                continue;
            };
            if let Ok(mut spec) = config.build() {
                spec.offset = m.offset_ms.map(Duration::from_millis);
                schedule(&spec);
            }
        }
    }
    let _ = serde_json::from_slice::<ResultsAnswer>(data);
    let _ = serde_json::from_slice::<WaitAnswer>(data);
    for line in data.split(|b| *b == b'\n') {
        let _ = serde_json::from_slice::<ResultItem>(line);
    }
}

/// Redis monitors the `redis_info` target judges samples against.
fn redis_specs() -> Vec<vigilmon_core::monitor::RedisSpec> {
    [
        json!({"name": "r", "type": "redis", "url": "redis://cache:6379"}),
        json!({"name": "r", "type": "redis", "url": "redis://cache:6379", "expect_role": "replica",
               "max_lag": "5s", "max_lag_bytes": 1000, "memory": {"warn": 0.5, "critical": 0.9},
               "evictions_per_min": 10, "expect": {"response_time": "1ms"}}),
        json!({"name": "r", "type": "redis", "url": "redis://cache:6379", "expect_role": "primary",
               "expect_replicas": 2, "write_probe": true, "memory": {"limit_bytes": 1_000_000},
               "warn": {"response_time": "1ms"}}),
    ]
    .into_iter()
    .filter_map(|v| {
        let c: MonitorConfig = serde_json::from_value(v).ok()?;
        match c.build().ok()?.check {
            CheckSpec::Redis(r) => Some(r),
            _ => None,
        }
    })
    .collect()
}

/// `redis_info`: `INFO` text as the Redis check reads it (`parse_info`), samples
/// separated by lines of `---` judged in turn (`evaluate`, each against the one
/// before for counter growth) and mapped to the sidecar's status; and the same bytes
/// as RESP2 replies, read by the probe's own RESP reader and judged as the check
/// judges them (`vigilmon_probe::judge_replies`).
pub fn redis_info(data: &[u8]) {
    use vigilmon_core::redis::{evaluate, health_status, parse_info};
    let specs = redis_specs();
    assert_eq!(specs.len(), 3, "every Redis spec of the target builds");
    let text = String::from_utf8_lossy(data);
    let samples: Vec<_> = text.split("\n---\n").map(parse_info).collect();
    for spec in &specs {
        let mut previous = None;
        for (i, sample) in samples.iter().enumerate() {
            let now = NOW + jiff::SignedDuration::from_secs(60 * i as i64);
            let (verdict, figures) = evaluate(
                spec,
                sample,
                previous.map(|p| (p, now - jiff::SignedDuration::from_secs(60))),
                None,
                Duration::from_millis(2),
                now,
            );
            let reason = figures.get("reason").and_then(Value::as_str);
            let _ = health_status(&verdict, reason);
            previous = Some(sample);
        }
        let _ = vigilmon_probe::judge_replies(data, spec, NOW);
    }
}

/// `grpc_answer`: a gRPC health check's answer as the probe reads it (the HTTP status
/// on the first line, header lines up to an empty line, the body, then trailer lines
/// after a `--trailers--` line): its status, framing and `HealthCheckResponse` read by
/// the probe's own parser and judged for a monitor of the whole server and one of a
/// named service (`vigilmon_probe::judge_grpc_answer`).
pub fn grpc_answer(data: &[u8]) {
    let specs: Vec<_> = [
        json!({"name": "g", "type": "grpc", "url": "grpc://api:50051"}),
        json!({"name": "g", "type": "grpc", "url": "grpcs://api", "service": "billing.v1.Billing",
               "expect": {"response_time": "1ms"}, "warn": {"response_time": "1us"}}),
    ]
    .into_iter()
    .filter_map(|v| {
        let c: MonitorConfig = serde_json::from_value(v).ok()?;
        match c.build().ok()?.check {
            CheckSpec::Grpc(g) => Some(g),
            _ => None,
        }
    })
    .collect();
    assert_eq!(specs.len(), 2, "every gRPC spec of the target builds");
    for spec in &specs {
        let _ = vigilmon_probe::judge_grpc_answer(data, spec, NOW);
    }
}

/// `cron`: a cron expression on the first line and a time zone on the second, as a
/// heartbeat monitor's schedule (the next expected pings and the deadlines they set
/// from fixed instants) and as a recurring maintenance window's (whether it is
/// active, when that changes).
pub fn cron(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let mut lines = text.lines();
    let expr = lines.next().unwrap_or_default();
    let tz = lines.next();
    let mut hb = json!({"name": "job", "type": "heartbeat", "cron": expr, "grace": "5m"});
    let mut window = json!({"name": "w", "tags": ["db"], "cron": expr, "duration": "1h"});
    if let Some(tz) = tz {
        hb["tz"] = json!(tz);
        window["tz"] = json!(tz);
    }
    if let Ok(c) = serde_json::from_value::<MonitorConfig>(hb) {
        monitor(&c);
    }
    if let Ok(w) = serde_json::from_value::<MaintenanceConfig>(window) {
        maintenance(&w);
    }
}

/// `duration`: a duration as written in configs (`HumanDuration::parse`); one that
/// reads must print as text that reads back the same, and serves as a monitor's
/// interval, a heartbeat's period and grace, and a maintenance window's length.
pub fn duration(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(d) = HumanDuration::parse(text) else {
        return;
    };
    let printed = d.to_string();
    match HumanDuration::parse(&printed) {
        Ok(again) => assert_eq!(
            again, d,
            "{text:?} printed as {printed:?} reads back changed"
        ),
        Err(e) => panic!("{text:?} printed as {printed:?} does not read back: {e}"),
    }
    let _ = d.as_millis();
    let from_json: HumanDuration =
        serde_json::from_value(json!(text)).expect("a duration that parses reads from JSON");
    assert_eq!(from_json, d);
    for c in [
        json!({"name": "d", "type": "http", "url": "http://example.com", "interval": text, "timeout": text}),
        json!({"name": "d", "type": "heartbeat", "every": text, "grace": text}),
        json!({"name": "d", "type": "heartbeat", "min_duration": text, "max_duration": text}),
    ] {
        if let Ok(c) = serde_json::from_value::<MonitorConfig>(c) {
            monitor(&c);
        }
    }
    let window = json!({"name": "w", "monitors": ["api"], "cron": "0 3 * * SUN", "duration": text});
    if let Ok(w) = serde_json::from_value::<MaintenanceConfig>(window) {
        maintenance(&w);
    }
}

/// `jsonpath`: a JSONPath expression on the first line, the value it should equal
/// (JSON) on the second, and a response body after them; the path is validated as an
/// HTTP monitor's `expect.json` assertion (`exists` and `equals`) and the body judged
/// against it (`vigilmon_core::assert::evaluate_http`).
pub fn jsonpath(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let (path, rest) = text.split_once('\n').unwrap_or((text, ""));
    let (equals, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let equals = serde_json::from_str::<Value>(equals).unwrap_or_else(|_| json!(equals));
    let c = json!({"name": "j", "type": "http", "url": "http://example.com/health",
                   "expect": {"json": [{"path": path, "exists": true},
                                       {"path": path, "equals": equals}]}});
    let Ok(config) = serde_json::from_value::<MonitorConfig>(c) else {
        return;
    };
    let Ok(spec) = config.build() else { return };
    accepted_monitor(&config);
    let CheckSpec::Http(http) = &spec.check else {
        panic!("an http monitor built into another kind");
    };
    for truncated in [false, true] {
        let facts = vigilmon_core::assert::HttpFacts {
            status: 200,
            body: body.as_bytes(),
            body_truncated: truncated,
            elapsed: Duration::from_millis(20),
            cert_not_after: None,
        };
        let _ = vigilmon_core::assert::evaluate_http(http, &facts, NOW);
    }
}

/// `form`: a urlencoded form body, decoded as axum's `Form` decodes it, submitted to
/// the web UI's monitor form (`vigilmon_ui::fuzzing::monitor_form`: the fields of the
/// kind named by `type`, headers and JSON assertions read from their textareas, the
/// config decoded and validated as a save does, and its edit page submitted again),
/// new and as an edit of a stored monitor of each type.
pub fn form(data: &[u8]) {
    let Ok(posted) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data) else {
        return;
    };
    if let Ok(config) = vigilmon_ui::fuzzing::monitor_form(&posted, None) {
        monitor(&config);
    }
    for old in stored_monitors() {
        if let Ok(config) = vigilmon_ui::fuzzing::monitor_form(&posted, Some(&old)) {
            monitor(&config);
        }
    }
}
