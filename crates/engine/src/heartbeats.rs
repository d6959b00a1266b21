//! The heartbeat engine: receives pings, applies core's pure heartbeat state machine,
//! keeps one timer for the earliest deadline, and writes everything through a
//! group-commit writer.
//!
//! One task owns every heartbeat monitor's state, so pings and deadlines for a monitor
//! are applied in order without locks. It hands each change to the writer task, which
//! writes whatever has queued up in one transaction and only then answers the pings:
//! a ping answered `OK` is in the store. While one transaction commits, the next batch
//! gathers, so durability does not cost throughput.
//!
//! Deadlines are timers, not polling: the engine sleeps until the earliest deadline
//! (or the next command), so a missed deadline turns its monitor down within
//! milliseconds of passing.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use uuid::Uuid;
use vigilmon_core::heartbeat::{HeartbeatSpec, HeartbeatState, PingKind};
use vigilmon_core::monitor::CheckSpec;
use vigilmon_core::{KindConfig, MonitorConfig, MonitorId, MonitorSpec, MonitorState};
use vigilmon_store::{Commit, Fence, HeartbeatWrite, MonitorSource, PingRecord, Store, StoreError};

use crate::alerting::AlertingHandle;
use crate::metrics;
use vigilmon_schedule::clock::SharedClock;

/// Pings kept in each monitor's log.
pub const DEFAULT_PING_LOG: u32 = 1000;
/// Longest ping body kept; longer bodies are cut and marked truncated.
pub const MAX_PING_BODY: usize = 100 * 1024;
/// Most writes in one transaction.
const MAX_WRITE_BATCH: usize = 2048;
/// Settings key of the ping key used by slug URLs.
pub const PING_KEY_SETTING: &str = "ping_key";

/// Which monitor a ping is for.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum PingTarget {
    Token(String),
    /// `/ping/{ping_key}/{slug}`; `create` is `?create=1`.
    Slug {
        key: String,
        slug: String,
        create: bool,
    },
}

/// A ping as received by the HTTP layer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ping {
    pub target: PingTarget,
    pub kind: PingKind,
    pub exit_status: Option<u8>,
    pub rid: Option<String>,
    pub method: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub body: Option<String>,
    pub body_truncated: bool,
}

/// The answer to a ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingReply {
    /// Stored.
    Ok,
    /// Stored, and the monitor was created by this ping (`?create=1`).
    Created,
    NotFound,
    /// The slug monitor could not be created (its name is taken, or it is invalid).
    Conflict(String),
    /// `?create=1` was refused: `server.ping_auto_create_limit` monitors created by
    /// pings exist already (the number is the limit; 0: auto-create is off).
    CreateLimit(u32),
    /// Not stored (the store failed or the server is stopping).
    Unavailable(String),
}

/// A ping another node accepted and wrote to the ingest table: its row (deleted with
/// the ping's write) and when it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Ingested {
    pub row: i64,
    pub received_at: Timestamp,
}

enum Cmd {
    Ping(Ping, oneshot::Sender<PingReply>, Option<Ingested>),
    Upsert {
        id: MonitorId,
        spec: Arc<MonitorSpec>,
        token: String,
    },
    Remove(MonitorId),
}

/// The tokens and slugs of the heartbeat monitors, shared by the engine (which keeps
/// them) and the HTTP front (which refuses pings for anything else before keeping any
/// state about them).
#[derive(Default)]
struct Targets {
    by_token: HashMap<String, MonitorId>,
    by_slug: HashMap<String, MonitorId>,
    /// Each monitor's token and slug, to take them out again.
    by_id: HashMap<MonitorId, (String, Option<String>)>,
}

/// What the rate limit of pings counts: one budget per monitor, and one for the
/// monitors pings may create (`?create=1`). Never a client's string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PingBucket {
    Monitor(MonitorId),
    AutoCreate,
}

/// Whether a ping request may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// It names a monitor (or may create one).
    Allowed,
    /// No such monitor (or a malformed token, or a wrong ping key): nothing is kept.
    Unknown,
    /// Over the monitor's rate limit; try again after this long.
    Limited(std::time::Duration),
}

/// Whether `s` could be a ping token or a ping key at all: 16 to 64 characters of
/// letters, digits, `-` and `_`. Anything else is refused before it is looked up.
pub fn is_token_shaped(s: &str) -> bool {
    vigilmon_core::heartbeat::is_valid_token(s)
}

/// Compares a ping key in time that does not depend on how much of it matches.
fn same_key(given: &str, key: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.len() == key.len() && bool::from(given.as_bytes().ct_eq(key.as_bytes()))
}

/// The node's door for pings: the ping key, which tokens and slugs exist, and the
/// rate limit. Every node keeps one, whichever node applies the pings: the heartbeat
/// engine keeps it current where it runs, and monitor changes do on every node.
/// Cheap to clone.
#[derive(Clone)]
pub struct Door {
    ping_key: Arc<str>,
    targets: Arc<std::sync::RwLock<Targets>>,
    limiter: Option<Arc<crate::limit::RateLimiter<PingBucket>>>,
}

impl Door {
    /// The door as the store describes it: the ping key (made on first start) and
    /// every heartbeat monitor among `monitors` that has a token.
    pub async fn open(
        store: &Store,
        config: &HeartbeatConfig,
        monitors: &[(MonitorId, Arc<MonitorSpec>)],
    ) -> Result<Door, StoreError> {
        let ping_key = store
            .setting_or_insert(PING_KEY_SETTING, &generate_ping_token()[..32])
            .await?;
        let door = Door {
            ping_key: ping_key.into(),
            targets: Arc::default(),
            limiter: (config.ping_limit > 0).then(|| {
                Arc::new(crate::limit::RateLimiter::new(
                    config.ping_limit,
                    std::time::Duration::from_secs(60),
                ))
            }),
        };
        let tokens: HashMap<MonitorId, String> = store
            .heartbeats()
            .await?
            .into_iter()
            .map(|r| (r.monitor_id, r.token))
            .collect();
        for (id, spec) in monitors {
            if let Some(token) = tokens.get(id) {
                door.set_spec(*id, spec, token);
            }
        }
        Ok(door)
    }

    /// Admits pings for `spec` (a heartbeat monitor) with `token`; any other kind of
    /// monitor is taken out.
    pub fn set_spec(&self, id: MonitorId, spec: &MonitorSpec, token: &str) {
        match &spec.check {
            CheckSpec::Heartbeat(hb) => self.set(id, token, Some(&hb.slug)),
            _ => self.unset(id),
        }
    }

    fn set(&self, id: MonitorId, token: &str, slug: Option<&str>) {
        let mut t = self.targets.write().unwrap_or_else(|e| e.into_inner());
        Self::take_out(&mut t, id);
        if let Some(slug) = slug {
            t.by_slug.insert(slug.to_owned(), id);
        }
        t.by_token.insert(token.to_owned(), id);
        t.by_id
            .insert(id, (token.to_owned(), slug.map(str::to_owned)));
    }

    /// No more pings for this monitor (deleted, or no longer a heartbeat).
    pub fn unset(&self, id: MonitorId) {
        let mut t = self.targets.write().unwrap_or_else(|e| e.into_inner());
        Self::take_out(&mut t, id);
    }

    fn take_out(t: &mut Targets, id: MonitorId) {
        if let Some((token, slug)) = t.by_id.remove(&id) {
            if t.by_token.get(&token) == Some(&id) {
                t.by_token.remove(&token);
            }
            if let Some(slug) = slug
                && t.by_slug.get(&slug) == Some(&id)
            {
                t.by_slug.remove(&slug);
            }
        }
    }

    fn lookup_token(&self, token: &str) -> Option<MonitorId> {
        let t = self.targets.read().unwrap_or_else(|e| e.into_inner());
        t.by_token.get(token).copied()
    }

    fn lookup_slug(&self, slug: &str) -> Option<MonitorId> {
        let t = self.targets.read().unwrap_or_else(|e| e.into_inner());
        t.by_slug.get(slug).copied()
    }

    /// Decides whether a ping request for `target` goes on, before anything about it is
    /// kept: a malformed token, a wrong ping key or an unknown monitor is
    /// [`Admission::Unknown`]; a known one counts against its monitor's rate limit
    /// (`?create=1` for a new slug against the one budget of creations).
    pub fn admit(&self, target: &PingTarget) -> Admission {
        let bucket = {
            let t = self.targets.read().unwrap_or_else(|e| e.into_inner());
            match target {
                PingTarget::Token(token) => {
                    if !is_token_shaped(token) {
                        return Admission::Unknown;
                    }
                    match t.by_token.get(token) {
                        Some(id) => PingBucket::Monitor(*id),
                        None => return Admission::Unknown,
                    }
                }
                PingTarget::Slug { key, slug, create } => {
                    if !same_key(key, &self.ping_key)
                        || !vigilmon_core::heartbeat::is_valid_slug(slug)
                    {
                        return Admission::Unknown;
                    }
                    match t.by_slug.get(slug) {
                        Some(id) => PingBucket::Monitor(*id),
                        None if *create => PingBucket::AutoCreate,
                        None => return Admission::Unknown,
                    }
                }
            }
        };
        let Some(l) = &self.limiter else {
            return Admission::Allowed;
        };
        let now = std::time::Instant::now();
        if l.allow(bucket, now) {
            Admission::Allowed
        } else {
            Admission::Limited(l.retry_after(&bucket, now))
        }
    }

    /// Whether `s` is the workspace's ping key (compared in constant time).
    pub fn is_ping_key(&self, s: &str) -> bool {
        same_key(s, &self.ping_key)
    }

    /// The key of slug ping URLs.
    pub fn ping_key(&self) -> &str {
        &self.ping_key
    }
}

/// Talks to the heartbeat engine (where this node coordinates). Cheap to clone.
#[derive(Clone)]
pub struct HeartbeatHandle {
    tx: mpsc::Sender<Cmd>,
}

impl HeartbeatHandle {
    /// Delivers a ping; resolves once it is stored (or refused).
    pub async fn ping(&self, ping: Ping) -> PingReply {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Cmd::Ping(ping, reply, None)).await.is_err() {
            return PingReply::Unavailable("the server is shutting down".into());
        }
        rx.await
            .unwrap_or_else(|_| PingReply::Unavailable("the server is shutting down".into()))
    }

    /// Queues a ping another node accepted (`ingested`); nobody waits for its answer.
    pub async fn queue_ingested(&self, ping: Ping, ingested: Ingested) {
        let (reply, _) = oneshot::channel();
        let _ = self.tx.send(Cmd::Ping(ping, reply, Some(ingested))).await;
    }

    /// A heartbeat monitor was created or changed (or a monitor changed into or out of
    /// being one: non-heartbeat specs remove it).
    pub async fn upsert(&self, id: MonitorId, spec: Arc<MonitorSpec>, token: String) {
        let _ = self.tx.send(Cmd::Upsert { id, spec, token }).await;
    }

    pub async fn remove(&self, id: MonitorId) {
        let _ = self.tx.send(Cmd::Remove(id)).await;
    }
}

/// A new ping token: 160 random bits, hex.
pub fn generate_ping_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 20];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

struct Entry {
    name: String,
    spec: Arc<MonitorSpec>,
    state: HeartbeatState,
    deadline: Option<i64>,
}

impl Entry {
    fn hb(&self) -> Option<&HeartbeatSpec> {
        match &self.spec.check {
            CheckSpec::Heartbeat(h) => Some(h),
            _ => None,
        }
    }

    fn monitor_state(&self) -> MonitorState {
        if self.spec.paused {
            MonitorState::Paused
        } else {
            self.state.state
        }
    }
}

/// Settings of the engine.
#[derive(Clone)]
pub struct HeartbeatConfig {
    pub keep_pings: u32,
    /// Most ping requests one check takes per minute (0: no limit).
    pub ping_limit: u32,
    /// Most monitors `?create=1` may have made and that still exist (0: auto-create
    /// is off).
    pub auto_create_limit: u32,
}

/// Ping requests one check takes per minute, unless configured.
pub const DEFAULT_PING_LIMIT: u32 = 100;

/// Monitors created by pings that may exist at once, unless configured.
pub const DEFAULT_AUTO_CREATE_LIMIT: u32 = 1000;

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            keep_pings: DEFAULT_PING_LOG,
            ping_limit: DEFAULT_PING_LIMIT,
            auto_create_limit: DEFAULT_AUTO_CREATE_LIMIT,
        }
    }
}

/// Starts the engine: loads every heartbeat monitor (creating missing tokens), grants
/// one grace period to deadlines that passed while the server was down, and serves
/// until `shutdown`. The returned task ends once the last write is committed.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    store: Store,
    clock: SharedClock,
    config: HeartbeatConfig,
    door: Door,
    alerting: Option<AlertingHandle>,
    fence: Option<Fence>,
    shutdown: CancellationToken,
) -> Result<(HeartbeatHandle, tokio::task::JoinHandle<()>), StoreError> {
    let rows: HashMap<MonitorId, _> = store
        .heartbeats()
        .await?
        .into_iter()
        .map(|r| (r.monitor_id, r))
        .collect();
    let now = whole_ms(clock.now());
    let mut engine = Engine {
        store: store.clone(),
        clock,
        entries: HashMap::new(),
        door,
        deadlines: BTreeSet::new(),
        auto_create_limit: config.auto_create_limit,
        alerting,
    };
    let mut restored = 0;
    let mut granted = Vec::new();
    for rec in store.list_monitors().await? {
        let Ok(spec) = rec.config.build() else {
            continue;
        };
        let CheckSpec::Heartbeat(hb) = &spec.check else {
            continue;
        };
        let (token, mut state) = match rows.get(&rec.id) {
            Some(r) => (r.token.clone(), r.state.clone()),
            None => (
                store
                    .ensure_heartbeat(rec.id, &generate_ping_token(), now)
                    .await?,
                HeartbeatState::default(),
            ),
        };
        let before = state.clone();
        state.after_restart(hb, now);
        let spec = Arc::new(spec);
        if state != before {
            granted.push(HeartbeatWrite {
                monitor_id: rec.id,
                ping: None,
                state: state.clone(),
                monitor_state: if spec.paused {
                    MonitorState::Paused
                } else {
                    state.state
                },
                at: now,
            });
        }
        engine.insert(rec.id, rec.config.name.clone(), spec, token, state);
        restored += 1;
    }
    // Deadlines that passed while the server was down restart from now + grace; the
    // store says so too, so the API shows the deadline in force.
    store
        .record_heartbeats_under(&granted, config.keep_pings, &Commit::fenced(fence))
        .await?;
    if !granted.is_empty() {
        info!(
            message = "deadlines missed while the server was down get one grace period",
            count = granted.len()
        );
    }
    info!(message = "heartbeat monitors loaded", count = restored);
    let (writer_tx, writer_rx) = mpsc::channel(65_536);
    let writer = tokio::spawn(write_loop(store, writer_rx, config.keep_pings, fence));
    let (tx, rx) = mpsc::channel(65_536);
    let task = tokio::spawn(async move {
        engine.run(rx, writer_tx, shutdown).await;
        // The engine dropped its writer sender: the writer drains and ends.
        let _ = writer.await;
    });
    Ok((HeartbeatHandle { tx }, task))
}

type Reply = Option<(oneshot::Sender<PingReply>, PingReply)>;

/// One job of the writer: a write (none for an ingested ping that changes nothing),
/// who waits for it, and the ingest row it consumes.
struct Job {
    write: Option<HeartbeatWrite>,
    reply: Reply,
    consumed: Option<i64>,
}

impl Job {
    fn write(write: HeartbeatWrite, reply: Reply, consumed: Option<i64>) -> Self {
        Self {
            write: Some(write),
            reply,
            consumed,
        }
    }
}

struct Engine {
    store: Store,
    clock: SharedClock,
    entries: HashMap<MonitorId, Entry>,
    door: Door,
    deadlines: BTreeSet<(i64, MonitorId)>,
    auto_create_limit: u32,
    alerting: Option<AlertingHandle>,
}

impl Engine {
    fn insert(
        &mut self,
        id: MonitorId,
        name: String,
        spec: Arc<MonitorSpec>,
        token: String,
        state: HeartbeatState,
    ) {
        self.remove(id);
        let mut entry = Entry {
            name,
            spec,
            state,
            deadline: None,
        };
        self.door
            .set(id, &token, entry.hb().map(|hb| hb.slug.as_str()));
        entry.deadline = next_deadline(&entry);
        if let Some(d) = entry.deadline {
            self.deadlines.insert((d, id));
        }
        self.entries.insert(id, entry);
    }

    fn remove(&mut self, id: MonitorId) {
        if let Some(old) = self.entries.remove(&id) {
            self.door.unset(id);
            if let Some(d) = old.deadline {
                self.deadlines.remove(&(d, id));
            }
        }
    }

    fn reschedule(&mut self, id: MonitorId) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        if let Some(d) = e.deadline.take() {
            self.deadlines.remove(&(d, id));
        }
        e.deadline = next_deadline(e);
        if let Some(d) = e.deadline {
            self.deadlines.insert((d, id));
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Cmd>,
        writer: mpsc::Sender<Job>,
        shutdown: CancellationToken,
    ) {
        loop {
            let sleep_for = self.deadlines.first().map(|(d, _)| {
                let now = self.clock.now().as_millisecond();
                Duration::from_millis(u64::try_from(d - now).unwrap_or(0))
            });
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                cmd = rx.recv() => match cmd {
                    None => break,
                    Some(Cmd::Ping(ping, reply, ingested)) => {
                        self.on_ping(ping, reply, ingested, &writer).await;
                    }
                    Some(Cmd::Upsert { id, spec, token }) => self.on_upsert(id, spec, token),
                    Some(Cmd::Remove(id)) => self.remove(id),
                },
                () = sleep_or_forever(sleep_for) => self.on_deadlines(&writer).await,
            }
        }
        // Pings already queued are answered: stored if they arrived before shutdown.
        rx.close();
        while let Ok(cmd) = rx.try_recv() {
            if let Cmd::Ping(ping, reply, ingested) = cmd {
                self.on_ping(ping, reply, ingested, &writer).await;
            }
        }
    }

    fn on_upsert(&mut self, id: MonitorId, spec: Arc<MonitorSpec>, token: String) {
        if !matches!(spec.check, CheckSpec::Heartbeat(_)) {
            self.remove(id);
            return;
        }
        let state = self
            .entries
            .get(&id)
            .map(|e| e.state.clone())
            .unwrap_or_default();
        let name = spec.name.clone();
        self.insert(id, name, spec, token, state);
    }

    async fn on_deadlines(&mut self, writer: &mpsc::Sender<Job>) {
        let now = whole_ms(self.clock.now());
        // Take the due deadlines first: whatever they reschedule is looked at in the
        // next turn of the loop, never in this one (no spinning on a deadline that a
        // step did not move).
        let mut due = Vec::new();
        while let Some(&(d, id)) = self.deadlines.first() {
            if d > now.as_millisecond() {
                break;
            }
            self.deadlines.pop_first();
            due.push((d, id));
        }
        for (d, id) in due {
            let Some(e) = self.entries.get_mut(&id) else {
                continue;
            };
            e.deadline = None;
            let Some(hb) = e.hb().cloned() else { continue };
            if e.spec.paused {
                continue;
            }
            if let Some(reason) = e.state.on_deadline(&hb, now) {
                warn!(message = "heartbeat missed its deadline", monitor_id = %id, name = %e.name, %reason);
                metrics::heartbeat_deadline_missed(now.as_millisecond() - d);
                let write = HeartbeatWrite {
                    monitor_id: id,
                    ping: None,
                    state: e.state.clone(),
                    monitor_state: e.monitor_state(),
                    at: now,
                };
                let monitor_state = write.monitor_state;
                let _ = writer.send(Job::write(write, None, None)).await;
                if let Some(a) = &self.alerting {
                    a.state_changed(id, monitor_state, false, reason, Vec::new())
                        .await;
                }
            }
            self.reschedule(id);
        }
    }

    async fn on_ping(
        &mut self,
        ping: Ping,
        reply: oneshot::Sender<PingReply>,
        ingested: Option<Ingested>,
        writer: &mpsc::Sender<Job>,
    ) {
        let consumed = ingested.map(|i| i.row);
        // A ping that changes nothing still consumes its ingest row.
        let refuse = |reply: oneshot::Sender<PingReply>, answer: PingReply| async move {
            match consumed {
                None => {
                    let _ = reply.send(answer);
                }
                Some(row) => {
                    let job = Job {
                        write: None,
                        reply: Some((reply, answer)),
                        consumed: Some(row),
                    };
                    let _ = writer.send(job).await;
                }
            }
        };
        // The state machine runs on this node's clock (its times never go back); the
        // log keeps when the ping arrived at whichever node took it.
        let now = whole_ms(self.clock.now());
        let received_at = ingested.map_or(now, |i| whole_ms(i.received_at).min(now));
        let (id, created) = match &ping.target {
            PingTarget::Token(t) => match self.door.lookup_token(t) {
                Some(id) => (id, false),
                None => {
                    metrics::ping_received("not_found");
                    refuse(reply, PingReply::NotFound).await;
                    return;
                }
            },
            PingTarget::Slug { key, slug, create } => {
                if !self.door.is_ping_key(key) {
                    metrics::ping_received("not_found");
                    refuse(reply, PingReply::NotFound).await;
                    return;
                }
                match self.door.lookup_slug(slug) {
                    Some(id) => (id, false),
                    None if *create => match self.create_for_slug(slug, now).await {
                        Ok(id) => (id, true),
                        Err(r) => {
                            if matches!(r, PingReply::CreateLimit(_)) {
                                metrics::ping_received("create_refused");
                            }
                            refuse(reply, r).await;
                            return;
                        }
                    },
                    None => {
                        metrics::ping_received("not_found");
                        refuse(reply, PingReply::NotFound).await;
                        return;
                    }
                }
            }
        };
        let Some(e) = self.entries.get_mut(&id) else {
            refuse(reply, PingReply::NotFound).await;
            return;
        };
        let Some(hb) = e.hb().cloned() else {
            refuse(reply, PingReply::NotFound).await;
            return;
        };
        // A non-zero exit status is a failure, and is logged as one.
        let logged_kind = match (ping.kind, ping.exit_status) {
            (PingKind::Success, Some(code)) if code != 0 => PingKind::Fail,
            (k, _) => k,
        };
        let mut changed = None;
        let mut record = PingRecord {
            received_at,
            kind: logged_kind.as_str().to_owned(),
            method: ping.method.clone(),
            exit_status: ping.exit_status,
            rid: ping.rid.clone(),
            duration_ms: None,
            source_ip: ping.source_ip,
            user_agent: ping.user_agent,
            body: ping.body,
            body_truncated: ping.body_truncated,
            failure: None,
        };
        if !hb.accepts_method(&ping.method) {
            // Logged, but it does not count (a link preview fetching the URL, say).
            record.kind = "ignored".into();
        } else if e.spec.paused {
            // Logged; a paused monitor's state does not move.
        } else {
            let before = e.state.state;
            let effect =
                e.state
                    .on_ping(&hb, ping.kind, ping.exit_status, ping.rid.as_deref(), now);
            record.duration_ms = effect
                .duration
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            record.failure = effect.failure;
            if e.state.state != before {
                info!(message = "heartbeat state changed", monitor_id = %id, name = %e.name, from = before.as_str(), to = e.state.state.as_str());
                changed = Some((
                    e.state.state,
                    e.state
                        .reason
                        .clone()
                        .unwrap_or_else(|| "a successful ping arrived".into()),
                ));
            }
        }
        metrics::ping_received(&record.kind);
        let write = HeartbeatWrite {
            monitor_id: id,
            ping: Some(record),
            state: e.state.clone(),
            monitor_state: e.monitor_state(),
            at: now,
        };
        self.reschedule(id);
        let answer = if created {
            PingReply::Created
        } else {
            PingReply::Ok
        };
        if let Err(mpsc::error::SendError(Job {
            reply: Some((reply, _)),
            ..
        })) = writer
            .send(Job::write(write, Some((reply, answer)), consumed))
            .await
        {
            let _ = reply.send(PingReply::Unavailable("the server is shutting down".into()));
        }
        if let (Some(a), Some((state, cause))) = (&self.alerting, changed) {
            a.state_changed(id, state, false, cause, Vec::new()).await;
        }
    }

    /// `?create=1`: a heartbeat monitor named after the slug, with default schedule,
    /// unless `auto_create_limit` monitors made this way exist already. Counted in the
    /// store, so a deleted one frees its place and a restart forgets nothing; creations
    /// go one at a time through this task, so the count cannot be raced past.
    async fn create_for_slug(
        &mut self,
        slug: &str,
        now: Timestamp,
    ) -> Result<MonitorId, PingReply> {
        let made = self
            .store
            .count_monitors_from(MonitorSource::Ping)
            .await
            .map_err(|e| PingReply::Unavailable(e.to_string()))?;
        if made >= u64::from(self.auto_create_limit) {
            warn!(
                message = "a ping asked to create a monitor over the limit",
                slug,
                limit = self.auto_create_limit
            );
            return Err(PingReply::CreateLimit(self.auto_create_limit));
        }
        let config = MonitorConfig::new(
            slug,
            KindConfig::Heartbeat(vigilmon_core::monitor::HeartbeatConfig {
                slug: Some(slug.to_owned()),
                ..vigilmon_core::monitor::HeartbeatConfig::default()
            }),
        );
        let spec = config.build().map_err(|e| {
            PingReply::Conflict(e.first().map(ToString::to_string).unwrap_or_default())
        })?;
        let id = MonitorId::from_uuid(Uuid::now_v7());
        match self
            .store
            .create_monitor(id, &config, MonitorSource::Ping, now)
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict { message, .. }) => return Err(PingReply::Conflict(message)),
            Err(e) => return Err(PingReply::Unavailable(e.to_string())),
        }
        let token = self
            .store
            .ensure_heartbeat(id, &generate_ping_token(), now)
            .await
            .map_err(|e| PingReply::Unavailable(e.to_string()))?;
        info!(message = "heartbeat monitor created by its first ping", monitor_id = %id, slug);
        // Every node admits pings for it from now on.
        if let Err(e) = self
            .store
            .notify(vigilmon_store::CHANGED_CHANNEL, &format!("-:{id}"))
            .await
        {
            warn!(message = "could not tell the other nodes of a new monitor", error = %e);
        }
        self.insert(
            id,
            slug.to_owned(),
            Arc::new(spec),
            token,
            HeartbeatState::default(),
        );
        Ok(id)
    }
}

/// Times are kept to the millisecond, as the store keeps them.
fn whole_ms(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

fn next_deadline(e: &Entry) -> Option<i64> {
    if e.spec.paused {
        return None;
    }
    // Rounded up: a deadline is due only once the whole millisecond has passed, so
    // a sub-millisecond deadline never fires "early", finds nothing to do, and spins.
    e.state.deadline(e.hb()?).map(|t| {
        let ms = t.as_millisecond();
        if Timestamp::from_millisecond(ms).is_ok_and(|floor| floor < t) {
            ms + 1
        } else {
            ms
        }
    })
}

async fn sleep_or_forever(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// The group-commit writer: takes everything queued, writes it in one transaction,
/// then answers the pings in it.
async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<Job>,
    keep_pings: u32,
    fence: Option<Fence>,
) {
    let mut buf = Vec::with_capacity(MAX_WRITE_BATCH);
    while rx.recv_many(&mut buf, MAX_WRITE_BATCH).await > 0 {
        let mut writes = Vec::with_capacity(buf.len());
        let mut replies = Vec::with_capacity(buf.len());
        let mut commit = Commit::fenced(fence);
        for job in buf.drain(..) {
            writes.extend(job.write);
            replies.push(job.reply);
            commit.consumed.extend(job.consumed);
        }
        let result = store
            .record_heartbeats_under(&writes, keep_pings, &commit)
            .await;
        metrics::ping_batch(writes.len());
        if let Err(e) = &result {
            metrics::write_refused(e);
            error!(message = "could not store pings", error = %e, count = writes.len());
        }
        for (reply, answer) in replies.into_iter().flatten() {
            let _ = reply.send(match &result {
                Ok(()) => answer,
                Err(e) => PingReply::Unavailable(format!("could not store the ping: {e}")),
            });
        }
    }
}
