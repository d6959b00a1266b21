//! The agents of remote regions: who is live, which monitors each one runs, and the
//! confirmation checks waiting for them.
//!
//! Liveness is kept in memory: an agent is live while it has contacted the server
//! within [`LIVENESS_POLLS`] poll intervals. With several nodes, each node shares what
//! it heard through the store ([`share`]) and learns what the others heard, so every
//! node splits a region's work among the same agents, whichever node they poll; a
//! confirmation request for an agent polling another node goes there as a
//! notification. A region's monitors are split among its live agents by
//! rendezvous hashing (each monitor goes to the agent with the highest hash of agent
//! id and monitor id), so agents share the work without coordinating, and when one
//! disappears only its monitors move.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use uuid::Uuid;
use vigilmon_core::{MonitorId, RegionName};

/// How often agents poll their assignment, by default.
pub const POLL_INTERVAL: Duration = Duration::from_secs(15);
/// An agent silent for longer than this many poll intervals is not live.
pub const LIVENESS_POLLS: u32 = 3;

/// What the server knows of one agent.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    pub id: Uuid,
    pub name: String,
    pub region: RegionName,
    pub version: Option<String>,
    pub last_seen: Timestamp,
    /// Results received since the server started.
    pub results: u64,
    /// Whether its latest contact was with this node (it polls here).
    pub local: bool,
}

#[derive(Default)]
struct State {
    agents: HashMap<Uuid, AgentInfo>,
    /// Confirmation checks waiting for each agent.
    pending: HashMap<Uuid, Vec<MonitorId>>,
}

/// Wakes an agent's long poll, and tells an older poll of the same agent that a newer
/// one took its place.
#[derive(Default)]
struct Waker {
    notify: Notify,
    /// The number of the agent's newest poll.
    generation: std::sync::atomic::AtomicU64,
}

/// Sends a confirmation request to the node an agent polls: (agent, monitor).
pub type RemoteCheck = Box<dyn Fn(Uuid, MonitorId) + Send + Sync>;

/// The registry of agents. Shared by the agent API and the confirmation cascade.
pub struct Agents {
    state: Mutex<State>,
    wakers: Mutex<HashMap<Uuid, std::sync::Arc<Waker>>>,
    poll: Duration,
    /// Agents heard from here since the store was last told.
    heard: Mutex<std::collections::HashSet<Uuid>>,
    remote: std::sync::OnceLock<RemoteCheck>,
}

impl Default for Agents {
    fn default() -> Self {
        Self::new(POLL_INTERVAL)
    }
}

/// Rendezvous hash of an agent and a monitor (FNV-1a over both ids).
fn score(agent: Uuid, monitor: MonitorId) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in agent.as_bytes().iter().chain(monitor.as_uuid().as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Mix the bits so that close ids do not give close scores.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// The agent among `agents` that owns `monitor`.
pub fn owner(agents: &[Uuid], monitor: MonitorId) -> Option<Uuid> {
    agents
        .iter()
        .copied()
        .max_by_key(|a| (score(*a, monitor), *a))
}

impl Agents {
    /// A registry whose agents poll every `poll`.
    pub fn new(poll: Duration) -> Self {
        Self {
            state: Mutex::default(),
            wakers: Mutex::default(),
            poll,
            heard: Mutex::default(),
            remote: std::sync::OnceLock::new(),
        }
    }

    /// How a confirmation request reaches an agent polling another node.
    pub fn set_remote(&self, remote: RemoteCheck) {
        let _ = self.remote.set(remote);
    }

    /// The agents heard from here since the last call, as they stand.
    pub fn take_heard(&self) -> Vec<AgentInfo> {
        let ids: Vec<Uuid> = std::mem::take(
            &mut *self
                .heard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_iter()
        .collect();
        let st = self.lock();
        ids.iter()
            .filter_map(|id| st.agents.get(id).cloned())
            .collect()
    }

    /// Takes in what other nodes heard: an agent heard more recently elsewhere now
    /// polls there.
    pub fn merge(&self, others: Vec<AgentInfo>) {
        let mut st = self.lock();
        for o in others {
            match st.agents.get_mut(&o.id) {
                Some(e) if e.last_seen >= o.last_seen => {}
                Some(e) => {
                    e.last_seen = o.last_seen;
                    e.name = o.name;
                    e.region = o.region;
                    if o.version.is_some() {
                        e.version = o.version;
                    }
                    e.local = false;
                }
                None => {
                    st.agents.insert(
                        o.id,
                        AgentInfo {
                            local: false,
                            results: 0,
                            ..o
                        },
                    );
                }
            }
        }
    }

    /// A confirmation request from another node for an agent polling this one.
    pub fn deliver(&self, agent: Uuid, monitor: MonitorId) {
        if !self.lock().agents.get(&agent).is_some_and(|a| a.local) {
            return;
        }
        self.enqueue(agent, monitor);
    }

    fn enqueue(&self, agent: Uuid, monitor: MonitorId) {
        {
            let mut st = self.lock();
            let q = st.pending.entry(agent).or_default();
            if !q.contains(&monitor) {
                q.push(monitor);
            }
        }
        self.waker(agent).notify.notify_one();
    }

    /// How often agents are told to poll.
    pub fn poll_interval(&self) -> Duration {
        self.poll
    }

    /// How long an agent may be silent and still count as live.
    pub fn liveness(&self) -> Duration {
        self.poll * LIVENESS_POLLS
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records contact from an agent.
    pub fn touch(
        &self,
        id: Uuid,
        name: &str,
        region: &RegionName,
        version: Option<&str>,
        now: Timestamp,
    ) {
        let mut st = self.lock();
        let e = st.agents.entry(id).or_insert_with(|| AgentInfo {
            id,
            name: name.to_owned(),
            region: region.clone(),
            version: None,
            last_seen: now,
            results: 0,
            local: true,
        });
        e.last_seen = e.last_seen.max(now);
        e.local = true;
        e.name = name.to_owned();
        e.region = region.clone();
        if let Some(v) = version {
            e.version = Some(v.to_owned());
        }
        drop(st);
        self.heard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id);
    }

    /// Counts results received from an agent.
    pub fn received(&self, id: Uuid, n: usize) {
        if let Some(a) = self.lock().agents.get_mut(&id) {
            a.results += n as u64;
        }
    }

    fn is_live(&self, a: &AgentInfo, now: Timestamp) -> bool {
        now.as_millisecond() - a.last_seen.as_millisecond()
            <= i64::try_from(self.liveness().as_millis()).unwrap_or(i64::MAX)
    }

    /// The live agents of a region, by id.
    pub fn live(&self, region: &RegionName, now: Timestamp) -> Vec<Uuid> {
        let mut v: Vec<Uuid> = self
            .lock()
            .agents
            .values()
            .filter(|a| &a.region == region && self.is_live(a, now))
            .map(|a| a.id)
            .collect();
        v.sort();
        v
    }

    /// Every agent known since start, live or not.
    pub fn all(&self) -> Vec<AgentInfo> {
        let mut v: Vec<AgentInfo> = self.lock().agents.values().cloned().collect();
        v.sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
        v
    }

    /// Regions that have a live agent.
    pub fn live_regions(&self, now: Timestamp) -> Vec<RegionName> {
        let mut v: Vec<RegionName> = self
            .lock()
            .agents
            .values()
            .filter(|a| self.is_live(a, now))
            .map(|a| a.region.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Asks the agent of `region` that owns `monitor` to check it now.
    pub fn request_check(&self, region: &RegionName, monitor: MonitorId, now: Timestamp) {
        let live = self.live(region, now);
        let Some(agent) = owner(&live, monitor) else {
            return;
        };
        let local = self.lock().agents.get(&agent).is_none_or(|a| a.local);
        match self.remote.get() {
            Some(remote) if !local => remote(agent, monitor),
            _ => self.enqueue(agent, monitor),
        }
    }

    fn waker(&self, agent: Uuid) -> std::sync::Arc<Waker> {
        self.wakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(agent)
            .or_default()
            .clone()
    }

    /// Waits up to `timeout` for confirmation checks for `agent`; returns them (empty
    /// on timeout). An agent has one poll at a time: a newer poll of the same agent
    /// ends this one at once, empty (an agent only ever waits on one, and a token
    /// cannot hold thousands of requests open this way).
    pub async fn wait(&self, agent: Uuid, timeout: Duration) -> Vec<MonitorId> {
        use std::sync::atomic::Ordering;
        let waker = self.waker(agent);
        let deadline = tokio::time::Instant::now() + timeout;
        let mine = waker.generation.fetch_add(1, Ordering::SeqCst) + 1;
        waker.notify.notify_waiters();
        loop {
            let notified = waker.notify.notified();
            if waker.generation.load(Ordering::SeqCst) != mine {
                // Superseded. A wake-up meant for the agent goes on to the newer poll.
                waker.notify.notify_one();
                return Vec::new();
            }
            let taken = self.lock().pending.remove(&agent).unwrap_or_default();
            if !taken.is_empty() {
                return taken;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Vec::new();
            }
        }
    }
}

/// Shares what this node heard of agents through the store and takes in what the
/// other nodes heard, every `every` (PostgreSQL; one node needs none of it).
pub(crate) async fn share(
    store: vigilmon_store::Store,
    agents: std::sync::Arc<Agents>,
    node: Uuid,
    clock: vigilmon_schedule::clock::SharedClock,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    if !store.is_shared() {
        return;
    }
    loop {
        let heard: Vec<vigilmon_store::AgentPresence> = agents
            .take_heard()
            .into_iter()
            .map(|a| vigilmon_store::AgentPresence {
                id: a.id,
                name: a.name,
                region: a.region.to_string(),
                version: a.version,
                last_seen: a.last_seen,
                node,
            })
            .collect();
        if let Err(e) = store.record_agent_presence(&heard).await {
            tracing::warn!(message = "could not share which agents this node hears", error = %e);
        }
        let since =
            clock.now() - jiff::SignedDuration::try_from(agents.liveness() * 2).unwrap_or_default();
        match store.agent_presence(since).await {
            Ok(rows) => agents.merge(
                rows.into_iter()
                    .filter(|r| r.node != node)
                    .filter_map(|r| {
                        Some(AgentInfo {
                            id: r.id,
                            name: r.name,
                            region: RegionName::parse(&r.region).ok()?,
                            version: r.version,
                            last_seen: r.last_seen,
                            results: 0,
                            local: false,
                        })
                    })
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(message = "could not read which agents the other nodes hear", error = %e)
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(n: u128) -> MonitorId {
        MonitorId::from_uuid(Uuid::from_u128(
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834),
        ))
    }

    #[test]
    fn rendezvous_spreads_and_moves_only_what_it_must() {
        let agents: Vec<Uuid> = (1..=3u128).map(|i| Uuid::from_u128(i * 7919)).collect();
        let monitors: Vec<MonitorId> = (0..3000).map(m).collect();
        let mut counts = HashMap::new();
        for mon in &monitors {
            *counts.entry(owner(&agents, *mon).unwrap()).or_insert(0) += 1;
        }
        for c in counts.values() {
            assert!((800..1200).contains(c), "uneven split: {counts:?}");
        }
        // Agent 3 leaves: only its monitors move.
        let remaining = &agents[..2];
        for mon in &monitors {
            let before = owner(&agents, *mon).unwrap();
            let after = owner(remaining, *mon).unwrap();
            if before != agents[2] {
                assert_eq!(before, after, "a monitor moved although its agent stayed");
            }
        }
        assert_eq!(owner(&[], m(1)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn confirmation_requests_reach_the_owning_agent() {
        let agents = Agents::default();
        let region = RegionName::parse("eu").unwrap();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let a = Uuid::from_u128(1);
        agents.touch(a, "eu-1", &region, Some("0.1.0"), now);
        assert!(agents.wait(a, Duration::from_millis(10)).await.is_empty());
        agents.request_check(&region, m(5), now);
        agents.request_check(&region, m(5), now);
        assert_eq!(
            agents.wait(a, Duration::from_secs(1)).await,
            vec![m(5)],
            "once, not twice"
        );
        // A newer poll of the same agent ends the older one at once; a confirmation
        // request then reaches the newer.
        let agents = std::sync::Arc::new(agents);
        let older = tokio::spawn({
            let agents = agents.clone();
            async move { agents.wait(a, Duration::from_secs(25)).await }
        });
        tokio::task::yield_now().await;
        let newer = tokio::spawn({
            let agents = agents.clone();
            async move { agents.wait(a, Duration::from_secs(25)).await }
        });
        tokio::task::yield_now().await;
        let started = tokio::time::Instant::now();
        assert!(older.await.unwrap().is_empty());
        assert_eq!(started.elapsed(), Duration::ZERO, "superseded at once");
        agents.request_check(&region, m(7), now);
        assert_eq!(newer.await.unwrap(), vec![m(7)]);
        assert!(started.elapsed() < Duration::from_secs(1));
        // Silent for longer than the liveness timeout: no longer live.
        let later = now + jiff::SignedDuration::from_secs(46);
        assert!(agents.live(&region, later).is_empty());
        assert_eq!(agents.live_regions(now), vec![region]);
    }
}
