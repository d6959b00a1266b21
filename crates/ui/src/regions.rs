//! The regions and agents page (`/regions`): every region with its kind and status in
//! words, how many monitors run there, and each agent's version, last contact, lag,
//! assignment and results — the same data as `GET /api/v1/regions`
//! ([`vigilmon_app::regions::region_list`]) — the nodes serving the database and which
//! one coordinates ([`vigilmon_app::nodes::node_list`]), and how to add an agent.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::format::{self, When};
use super::{Layout, Session, UiError, render};
use vigilmon_app::AppState;

pub(crate) struct AgentRow {
    pub name: String,
    pub version: String,
    pub last_seen: When,
    pub live: bool,
    pub assigned: usize,
    /// How long ago it was heard from, in words.
    pub lag: String,
    pub results: u64,
}

pub(crate) struct NodeRow {
    pub address: String,
    pub version: String,
    pub started: When,
    pub last_seen: When,
    pub alive: bool,
    pub coordinator: bool,
    pub this_node: bool,
}

pub(crate) struct RegionRow {
    pub name: String,
    /// `built-in` or `agents`.
    pub kind: &'static str,
    pub available: bool,
    /// Monitors checked from here, and those of them paused.
    pub monitors: usize,
    pub paused: usize,
    pub agents: Vec<AgentRow>,
}

#[derive(Template)]
#[template(path = "regions.html", whitespace = "minimize")]
struct RegionsPage {
    l: Layout,
    regions: Vec<RegionRow>,
    nodes: Vec<NodeRow>,
    /// The server's address, for the agent command.
    server: String,
}

pub(crate) async fn page(State(st): State<AppState>, s: Session) -> Result<Response, UiError> {
    let now = st.now();
    let list = vigilmon_app::regions::region_list(&st).await?;
    let regions = list
        .regions
        .into_iter()
        .map(|r| RegionRow {
            kind: if r.kind == "builtin" {
                "built-in"
            } else {
                "agents"
            },
            available: r.status == "available",
            monitors: r.monitors,
            paused: r.paused,
            agents: r
                .agents
                .into_iter()
                .map(|a| AgentRow {
                    name: a.name,
                    version: a.version.unwrap_or_else(|| "unknown".into()),
                    last_seen: When::new(a.last_seen, now),
                    live: a.live,
                    assigned: a.assigned,
                    lag: format::span(a.lag_ms.max(0) / 1000),
                    results: a.results,
                })
                .collect(),
            name: r.name,
        })
        .collect();
    let nodes = vigilmon_app::nodes::node_list(&st)
        .await?
        .nodes
        .into_iter()
        .map(|n| NodeRow {
            address: n.address,
            version: n.version,
            started: When::new(n.started_at, now),
            last_seen: When::new(n.last_seen, now),
            alive: n.alive,
            coordinator: n.coordinator,
            this_node: n.this_node,
        })
        .collect();
    Ok(render(&RegionsPage {
        l: Layout::new("Regions and agents", "regions", &s),
        regions,
        nodes,
        server: st.public_url().trim_end_matches('/').to_owned(),
    }))
}
