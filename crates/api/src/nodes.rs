//! `GET /api/v1/nodes`: the nodes serving this database and which one coordinates
//! (ARCHITECTURE.md, "Several nodes on one PostgreSQL").

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use uuid::Uuid;
use vigilmon_app::AppState;
use vigilmon_app::auth::Scope;
use vigilmon_app::error::AppError;
use vigilmon_app::extract::Caller;

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

/// The nodes, oldest first, with the coordinator marked.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "regions",
    responses((status = 200, body = NodeList)), security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, caller: Caller) -> Result<Json<NodeList>, AppError> {
    caller.require(Scope::Read)?;
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
    Ok(Json(NodeList { nodes, term }))
}
