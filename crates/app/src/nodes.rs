//! The nodes serving this database and which one coordinates (ARCHITECTURE.md,
//! "Several nodes on one PostgreSQL"), for `GET /api/v1/nodes` and the regions page.

use serde::Serialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::AppError;

/// One node.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NodeView {
    pub id: Uuid,
    /// Where the node listens, as it sees itself.
    pub address: String,
    /// Its version of Vigilmon.
    pub version: String,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: jiff::Timestamp,
    /// When it last renewed its row (every third of the lease TTL).
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: jiff::Timestamp,
    /// Whether it has been seen within the lease TTL (a node that stopped cleanly
    /// leaves the list; one that died stays, not alive).
    pub alive: bool,
    /// Whether it holds the coordinator lease now.
    pub coordinator: bool,
    /// Whether this is the node that answered.
    pub this_node: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NodeList {
    pub nodes: Vec<NodeView>,
    /// The lease's term: it grows by one each time the coordinator changes.
    pub term: i64,
}

/// The nodes, oldest first, with the coordinator and this node marked.
pub async fn node_list(st: &AppState) -> Result<NodeList, AppError> {
    let store = st.store();
    let now = store.db_now().await?;
    let (holder, term, expires_at) = store.lease().await?;
    let coordinator = holder.filter(|_| expires_at > now);
    let me = st.engine().node().id();
    let ttl = jiff::SignedDuration::try_from(st.engine().node().lease_ttl())
        .unwrap_or(jiff::SignedDuration::from_secs(10));
    let nodes = store
        .list_nodes()
        .await?
        .into_iter()
        .map(|n| NodeView {
            alive: n.last_seen + ttl >= now,
            coordinator: Some(n.id) == coordinator,
            this_node: n.id == me,
            id: n.id,
            address: n.address,
            version: n.version,
            started_at: n.started_at,
            last_seen: n.last_seen,
        })
        .collect();
    Ok(NodeList { nodes, term })
}
