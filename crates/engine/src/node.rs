//! This process as one node of a cluster: its row in `nodes`, kept fresh, and the
//! coordinator lease, taken when free and renewed while held (ARCHITECTURE.md,
//! "Several nodes on one PostgreSQL").
//!
//! One task per node. Every `lease_ttl / 3` it reads the database's clock, refreshes
//! the node's row and takes or renews the lease, and publishes the node's [`Role`].
//! A coordinator that cannot renew (the database is unreachable, the lease was taken)
//! becomes a follower no later than its lease's end as it last knew it, measured on
//! its own monotonic clock from before the renewal was sent: it never believes it leads
//! after the database has let another node take over. On SQLite the one node takes
//! the lease at once and keeps it.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;
use vigilmon_store::{NodeRecord, Store, StoreError};

/// The lease's length by default (`cluster.lease_ttl`).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);
/// The shortest lease allowed: renewals every third of it must fit a slow database.
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(3);

/// What this node is in the cluster right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not (or no longer) holding the lease.
    Follower,
    /// Holding the lease under `term`.
    Coordinator { term: i64 },
}

/// How this node presents itself and how long its lease lasts.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Where the node listens, for operators (`GET /api/v1/nodes`).
    pub address: String,
    pub lease_ttl: Duration,
    /// This node changed the store before it started (its config file): the other
    /// nodes are told to read monitors and alerting again.
    pub announce_changes: bool,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            address: String::new(),
            lease_ttl: DEFAULT_LEASE_TTL,
            announce_changes: false,
        }
    }
}

/// This node's identity and role, for whoever needs them. Cheap to clone.
#[derive(Clone)]
pub struct NodeHandle {
    id: Uuid,
    lease_ttl: Duration,
    role: watch::Receiver<Role>,
}

impl NodeHandle {
    pub fn id(&self) -> Uuid {
        self.id
    }
    /// The lease's length: a node not seen for this long is gone.
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }
    pub fn role(&self) -> Role {
        *self.role.borrow()
    }
    /// A receiver that sees every change of role.
    pub fn watch(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }
}

/// Registers the node and starts its task; the first attempt at the lease is made
/// before this returns, so a lone node starts as coordinator.
pub async fn start(
    store: Store,
    opts: NodeOptions,
    stop: CancellationToken,
) -> Result<(NodeHandle, tokio::task::JoinHandle<()>), StoreError> {
    let id = Uuid::now_v7();
    let now = store.db_now().await?;
    let record = NodeRecord {
        id,
        address: opts.address.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: now,
        last_seen: now,
    };
    store.register_node(&record).await?;
    let (tx, rx) = watch::channel(Role::Follower);
    let opts_ttl = opts.lease_ttl;
    let mut node = Node {
        store,
        opts,
        record,
        tx,
        deadline: None,
    };
    node.step().await;
    let task = tokio::spawn(node.run(stop));
    Ok((
        NodeHandle {
            id,
            lease_ttl: opts_ttl,
            role: rx,
        },
        task,
    ))
}

struct Node {
    store: Store,
    opts: NodeOptions,
    record: NodeRecord,
    tx: watch::Sender<Role>,
    /// While coordinating: when the lease ends, on this process's clock.
    deadline: Option<Instant>,
}

impl Node {
    async fn run(mut self, stop: CancellationToken) {
        let every = self.opts.lease_ttl / 3;
        loop {
            let next = Instant::now() + every;
            // Wake at the lease's end too, to step down on time when renewals hang.
            let wake = self.deadline.map_or(next, |d| d.min(next));
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep_until(wake) => {}
            }
            if self.deadline.is_some_and(|d| d <= Instant::now()) {
                self.step_down("the lease ran out before it could be renewed");
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.step() => {}
            }
        }
        self.leave().await;
    }

    /// One round: refresh the node's row, take or renew the lease.
    async fn step(&mut self) {
        let sent = Instant::now();
        match self.renew().await {
            Ok(Some(term)) => {
                let was = *self.tx.borrow();
                // The lease runs from the database's now, which is no earlier than
                // `sent`: counting from `sent` ends it here first.
                self.deadline = Some(sent + self.opts.lease_ttl);
                if was != (Role::Coordinator { term }) {
                    info!(message = "this node coordinates the cluster", node = %self.record.id, term);
                    crate::metrics::lease_change();
                    self.tx.send_replace(Role::Coordinator { term });
                    crate::metrics::coordinator(true);
                }
            }
            Ok(None) => self.step_down("another node holds the lease"),
            Err(e) => {
                warn!(message = "cannot reach the database to renew this node's lease", error = %e)
            }
        }
    }

    async fn renew(&mut self) -> Result<Option<i64>, StoreError> {
        let now = self.store.db_now().await?;
        if !self.store.touch_node(self.record.id, now).await? {
            // Removed as dead while it could not reach the database: back again.
            self.record.last_seen = now;
            self.store.register_node(&self.record).await?;
        }
        Ok(self
            .store
            .acquire_lease(self.record.id, self.opts.lease_ttl, now)
            .await?
            .map(|l| l.term))
    }

    fn step_down(&mut self, why: &str) {
        self.deadline = None;
        if *self.tx.borrow() != Role::Follower {
            info!(message = "this node no longer coordinates", node = %self.record.id, reason = why);
            self.tx.send_replace(Role::Follower);
            crate::metrics::coordinator(false);
            crate::metrics::lease_change();
        }
    }

    /// A clean stop: give the lease up (another node takes it at once) and leave the
    /// node list.
    async fn leave(&mut self) {
        let role = *self.tx.borrow();
        if let Role::Coordinator { term } = role {
            let _ = self.store.release_lease(self.record.id, term).await;
        }
        self.step_down("the node is stopping");
        let _ = self.store.remove_node(self.record.id).await;
    }
}
