//! The scheduler: runs each active monitor once per interval, at its stable offset.
//!
//! Deadline-driven: one task keeps the due times in an ordered set, sleeps until the
//! earliest, and is woken early by commands when monitors are created, changed,
//! paused or deleted. Checks run on their own tasks, at most `concurrency` at once
//! (a semaphore), so a slow target delays nothing else.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::debug;
use vigilmon_core::schedule::{next_due, region_offset, stable_offset};
use vigilmon_core::{MonitorId, MonitorSpec};

use crate::clock::SharedClock;

/// The scheduler's metrics (described with the others by the engine's exporter).
mod metrics {
    use std::time::Duration;

    pub(super) fn scheduler_lag(lag: Duration) {
        ::metrics::histogram!("vigilmon_scheduler_lag_seconds").record(lag.as_secs_f64());
    }

    pub(super) fn scheduled_monitors(n: usize) {
        ::metrics::gauge!("vigilmon_scheduled_monitors").set(n as f64);
    }
}

/// Runs one check of one monitor (probe + record in production; a recorder of calls in
/// tests).
pub trait CheckExecutor: Send + Sync + 'static {
    fn execute(
        &self,
        id: MonitorId,
        spec: Arc<MonitorSpec>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

enum Command {
    /// Schedule (or reschedule) a monitor. Paused monitors are removed instead.
    Upsert(MonitorId, Arc<MonitorSpec>),
    Remove(MonitorId),
    /// Check now, outside the schedule (a confirmation).
    RunNow(MonitorId),
}

/// Tells the scheduler about changed monitors. Cheap to clone.
#[derive(Clone)]
pub struct SchedulerHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl SchedulerHandle {
    /// The monitor was created or changed (a paused monitor is unscheduled).
    pub fn upsert(&self, id: MonitorId, spec: Arc<MonitorSpec>) {
        let _ = self.tx.send(Command::Upsert(id, spec));
    }

    /// The monitor was deleted.
    pub fn remove(&self, id: MonitorId) {
        let _ = self.tx.send(Command::Remove(id));
    }

    /// Checks a scheduled monitor now, outside its schedule (its slot is unchanged).
    pub fn run_now(&self, id: MonitorId) {
        let _ = self.tx.send(Command::RunNow(id));
    }
}

struct Entry {
    spec: Arc<MonitorSpec>,
    due_ms: i64,
}

/// Scheduler settings.
#[derive(Clone)]
pub struct SchedulerConfig {
    /// Most checks in flight at once.
    pub concurrency: usize,
    /// When false, nothing is scheduled (a server whose built-in probe is disabled).
    pub enabled: bool,
    /// The region this scheduler's probe serves: monitors limited to other regions
    /// are not scheduled here. `None` schedules every monitor.
    pub region: Option<vigilmon_core::RegionName>,
    /// Every region the server knows (declared, and its own): each region checks a
    /// monitor at its share of the interval (`core::schedule::region_offset`), over the
    /// monitor's own `regions` when it lists them, else over these.
    pub regions: Vec<vigilmon_core::RegionName>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            concurrency: 256,
            enabled: true,
            region: None,
            regions: Vec::new(),
        }
    }
}

/// Starts the scheduler with an initial set of monitors. It stops when `shutdown` is
/// cancelled; the returned task ends once checks in flight have finished.
pub fn start(
    initial: Vec<(MonitorId, Arc<MonitorSpec>)>,
    executor: Arc<dyn CheckExecutor>,
    clock: SharedClock,
    config: SchedulerConfig,
    shutdown: CancellationToken,
) -> (SchedulerHandle, tokio::task::JoinHandle<()>) {
    let (handle, inbox) = channel();
    let task = inbox.spawn(initial, executor, clock, config, shutdown);
    (handle, task)
}

/// A handle and the inbox it sends to, before the scheduler runs: whoever must hold a
/// handle before the scheduler can be built (the recorder asks for confirmation
/// checks, and the scheduler's executor records into the recorder) takes the handle
/// now; [`Inbox::spawn`] starts the scheduler later. Commands sent in between wait in
/// the inbox.
pub fn channel() -> (SchedulerHandle, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    (SchedulerHandle { tx }, Inbox { rx })
}

/// The receiving end of [`channel`].
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Command>,
}

impl Inbox {
    /// Starts the scheduler on this inbox (see [`start`]).
    pub fn spawn(
        self,
        initial: Vec<(MonitorId, Arc<MonitorSpec>)>,
        executor: Arc<dyn CheckExecutor>,
        clock: SharedClock,
        config: SchedulerConfig,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let sched = Scheduler {
            entries: HashMap::new(),
            queue: BTreeSet::new(),
            executor,
            clock,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            concurrency: config.concurrency.max(1),
            enabled: config.enabled,
            region: config.region,
            regions: config.regions,
        };
        tokio::spawn(sched.run(initial, self.rx, shutdown))
    }
}

struct Scheduler {
    entries: HashMap<MonitorId, Entry>,
    queue: BTreeSet<(i64, MonitorId)>,
    executor: Arc<dyn CheckExecutor>,
    clock: SharedClock,
    permits: Arc<Semaphore>,
    concurrency: usize,
    enabled: bool,
    region: Option<vigilmon_core::RegionName>,
    regions: Vec<vigilmon_core::RegionName>,
}

impl Scheduler {
    async fn run(
        mut self,
        initial: Vec<(MonitorId, Arc<MonitorSpec>)>,
        mut rx: mpsc::UnboundedReceiver<Command>,
        shutdown: CancellationToken,
    ) {
        for (id, spec) in initial {
            self.upsert(id, spec);
        }
        loop {
            let sleep_for = self.queue.first().map(|(due, _)| {
                let now = self.clock.now().as_millisecond();
                Duration::from_millis(u64::try_from(due - now).unwrap_or(0))
            });
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                cmd = rx.recv() => match cmd {
                    Some(Command::Upsert(id, spec)) => self.upsert(id, spec),
                    Some(Command::Remove(id)) => self.remove(id),
                    Some(Command::RunNow(id)) => self.run_now(id),
                    None => break,
                },
                () = sleep_or_forever(sleep_for) => self.run_due(),
            }
        }
        // Wait for checks in flight: each holds a permit until it has been recorded.
        let all = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        let _ = self.permits.acquire_many(all).await;
        debug!(message = "scheduler stopped");
    }

    fn upsert(&mut self, id: MonitorId, spec: Arc<MonitorSpec>) {
        let previous = self.entries.remove(&id);
        if let Some(prev) = &previous {
            self.queue.remove(&(prev.due_ms, id));
        }
        let elsewhere = self.region.as_ref().is_some_and(|r| !spec.runs_in(r));
        if spec.paused || !spec.is_probed() || !self.enabled || elsewhere {
            metrics::scheduled_monitors(self.entries.len());
            return;
        }
        let now = self.clock.now();
        // A changed interval takes effect from now; an unchanged one keeps its slot.
        let due = next_due(now, spec.interval, self.offset(id, &spec)).as_millisecond();
        self.queue.insert((due, id));
        self.entries.insert(id, Entry { spec, due_ms: due });
        metrics::scheduled_monitors(self.entries.len());
    }

    /// Where in its interval this scheduler checks the monitor.
    fn offset(&self, id: MonitorId, spec: &MonitorSpec) -> Duration {
        if let Some(o) = spec.offset {
            return o;
        }
        match &self.region {
            Some(r) => region_offset(
                id,
                spec.interval,
                r,
                spec.regions.as_deref().unwrap_or(&self.regions),
            ),
            None => stable_offset(id, spec.interval),
        }
    }

    fn remove(&mut self, id: MonitorId) {
        if let Some(prev) = self.entries.remove(&id) {
            self.queue.remove(&(prev.due_ms, id));
        }
        metrics::scheduled_monitors(self.entries.len());
    }

    fn run_now(&mut self, id: MonitorId) {
        let Some(entry) = self.entries.get(&id) else {
            return;
        };
        self.spawn_check(id, entry.spec.clone());
    }

    fn spawn_check(&self, id: MonitorId, spec: Arc<MonitorSpec>) {
        let permits = self.permits.clone();
        let executor = self.executor.clone();
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            executor.execute(id, spec).await;
        });
    }

    fn run_due(&mut self) {
        let now = self.clock.now();
        let now_ms = now.as_millisecond();
        while let Some(&(due, id)) = self.queue.first() {
            if due > now_ms {
                break;
            }
            self.queue.pop_first();
            let Some(spec) = self.entries.get(&id).map(|e| e.spec.clone()) else {
                continue;
            };
            let lag_ms = now_ms - due;
            metrics::scheduler_lag(Duration::from_millis(u64::try_from(lag_ms).unwrap_or(0)));
            // Next slot strictly after now: a check that could not run on time is not
            // run twice to catch up.
            let next = next_due(now, spec.interval, self.offset(id, &spec)).as_millisecond();
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.due_ms = next;
            }
            self.queue.insert((next, id));
            self.spawn_check(id, spec);
        }
    }
}

async fn sleep_or_forever(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;
    use jiff::Timestamp;
    use std::sync::Mutex;
    use vigilmon_core::MonitorConfig;

    #[derive(Default)]
    struct Calls(Mutex<Vec<(MonitorId, i64)>>);

    struct Recording {
        calls: Arc<Calls>,
        clock: SharedClock,
    }

    impl CheckExecutor for Recording {
        fn execute(
            &self,
            id: MonitorId,
            _spec: Arc<MonitorSpec>,
        ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
            let t = self.clock.now().as_millisecond();
            self.calls.0.lock().unwrap().push((id, t));
            Box::pin(async {})
        }
    }

    fn spec(interval: &str, paused: bool) -> Arc<MonitorSpec> {
        let c: MonitorConfig = serde_json::from_value(serde_json::json!({
            "name": "m", "type": "tcp", "host": "127.0.0.1", "port": 1, "interval": interval, "paused": paused
        }))
        .unwrap();
        Arc::new(c.build().unwrap())
    }

    fn id(n: u128) -> MonitorId {
        MonitorId::from_uuid(uuid::Uuid::from_u128(
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834),
        ))
    }

    const T0: i64 = 1_800_000_000_000; // a whole minute

    fn setup(
        initial: Vec<(MonitorId, Arc<MonitorSpec>)>,
    ) -> (SchedulerHandle, Arc<Calls>, CancellationToken, SharedClock) {
        setup_with(initial, SchedulerConfig::default())
    }

    fn setup_with(
        initial: Vec<(MonitorId, Arc<MonitorSpec>)>,
        config: SchedulerConfig,
    ) -> (SchedulerHandle, Arc<Calls>, CancellationToken, SharedClock) {
        let clock: SharedClock = Arc::new(TokioClock::starting_at(
            Timestamp::from_millisecond(T0).unwrap(),
        ));
        let calls = Arc::new(Calls::default());
        let exec = Arc::new(Recording {
            calls: calls.clone(),
            clock: clock.clone(),
        });
        let token = CancellationToken::new();
        let (h, _task) = start(initial, exec, clock.clone(), config, token.clone());
        (h, calls, token, clock)
    }

    async fn advance(d: Duration) {
        // Advance in small steps so every timer that falls due fires at its time.
        let step = Duration::from_millis(100);
        let mut left = d;
        while !left.is_zero() {
            let s = left.min(step);
            tokio::time::advance(s).await;
            left -= s;
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn runs_each_monitor_at_its_offset_once_per_interval() {
        let ids: Vec<MonitorId> = (1..=5).map(id).collect();
        let (_h, calls, _t, _c) = setup(ids.iter().map(|i| (*i, spec("10s", false))).collect());
        advance(Duration::from_secs(30)).await;
        let calls = calls.0.lock().unwrap().clone();
        for i in &ids {
            let times: Vec<i64> = calls
                .iter()
                .filter(|(c, _)| c == i)
                .map(|(_, t)| *t)
                .collect();
            let off = stable_offset(*i, Duration::from_secs(10)).as_millis() as i64;
            assert_eq!(times.len(), 3, "{i}: {times:?}");
            for (k, t) in times.iter().enumerate() {
                // fires at its slot, within the 100 ms advance step
                let slot = T0 + off + if off == 0 { 10_000 } else { 0 } + 10_000 * k as i64;
                assert!((slot..slot + 100).contains(t), "{i}: {t} vs slot {slot}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn regions_take_their_share_of_the_interval_and_agents_get_told() {
        let r = |s: &str| vigilmon_core::RegionName::parse(s).unwrap();
        let first_call = |region: &str, spec: Arc<MonitorSpec>| {
            let config = SchedulerConfig {
                region: Some(r(region)),
                regions: vec![r("ap"), r("eu"), r("us")],
                ..SchedulerConfig::default()
            };
            async move {
                // The handle is kept: the scheduler stops when every handle is gone.
                let (_handle, calls, token, _clock) = setup_with(vec![(id(1), spec)], config);
                advance(Duration::from_secs(31)).await;
                token.cancel();
                let t = calls.0.lock().unwrap().first().map(|(_, t)| *t);
                t.expect("a check") - T0
            }
        };
        let off = stable_offset(id(1), Duration::from_secs(30)).as_millis() as i64;
        let slot = |share: i64| {
            let o = (off + share) % 30_000;
            if o == 0 { 30_000 } else { o }
        };
        // ap, eu, us: 0, 10 and 20 seconds after the monitor's stable offset
        for (region, share) in [("ap", 0), ("eu", 10_000), ("us", 20_000)] {
            let at = first_call(region, spec("30s", false)).await;
            assert!(
                (slot(share)..slot(share) + 100).contains(&at),
                "{region}: {at} vs {}",
                slot(share)
            );
        }
        // an offset decided by the server (an agent's assignment) wins
        let mut told = (*spec("30s", false)).clone();
        told.offset = Some(Duration::from_millis(5_000));
        let at = first_call("eu", Arc::new(told)).await;
        assert!((5_000..5_100).contains(&at), "{at}");
    }

    #[tokio::test(start_paused = true)]
    async fn picks_up_created_paused_and_deleted_monitors() {
        let (h, calls, _t, _c) = setup(vec![]);
        advance(Duration::from_secs(15)).await;
        assert!(calls.0.lock().unwrap().is_empty());

        h.upsert(id(1), spec("10s", false));
        h.upsert(id(2), spec("10s", false));
        advance(Duration::from_secs(10)).await;
        assert_eq!(calls.0.lock().unwrap().len(), 2);

        h.upsert(id(1), spec("10s", true)); // paused
        h.remove(id(2));
        advance(Duration::from_secs(30)).await;
        assert_eq!(
            calls.0.lock().unwrap().len(),
            2,
            "paused and deleted monitors must not run"
        );

        h.upsert(id(1), spec("20s", false)); // resumed with a new interval
        advance(Duration::from_secs(40)).await;
        assert_eq!(
            calls
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|(c, _)| *c == id(1))
                .count(),
            1 + 2
        );
    }

    #[tokio::test(start_paused = true)]
    async fn spreads_many_monitors_over_the_interval() {
        let n = 600;
        let (_h, calls, _t, _c) = setup((0..n).map(|i| (id(i + 10), spec("1m", false))).collect());
        // One second more than the interval: timers fire on whole milliseconds, so a
        // slot at the very end of the minute may land just past it.
        advance(Duration::from_secs(61)).await;
        let calls = calls.0.lock().unwrap().clone();
        let ran: std::collections::HashSet<MonitorId> = calls.iter().map(|(i, _)| *i).collect();
        assert_eq!(
            ran.len(),
            n as usize,
            "every monitor runs once per interval"
        );
        let mut per_10s = [0usize; 6];
        for (_, t) in calls.iter().filter(|(_, t)| *t <= T0 + 60_000) {
            per_10s[(((t - T0 - 1) / 10_000).clamp(0, 5)) as usize] += 1;
        }
        for b in per_10s {
            assert!(
                (60..140).contains(&b),
                "burst instead of spread: {per_10s:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stops_on_shutdown() {
        let (_h, calls, token, _c) = setup(vec![(id(1), spec("10s", false))]);
        token.cancel();
        advance(Duration::from_secs(30)).await;
        assert!(calls.0.lock().unwrap().is_empty());
    }
}
