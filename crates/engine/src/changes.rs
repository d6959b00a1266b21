//! The engine's change feed: a generation number that moves whenever something the
//! public surfaces show may have changed (a monitor's state, an incident, a status
//! page, a public update, new rollups).
//!
//! Readers that cache renderings (status pages, badges) remember the generation they
//! built from and rebuild once it moved; readers that want to react at once can
//! [`ChangeFeed::subscribe`] and await the next change. One feed per engine, passed
//! explicitly: nothing process-wide, so two engines in one process (tests) do not
//! disturb each other.

use std::sync::Arc;

use tokio::sync::watch;

/// Cheap to clone; every clone publishes to and reads the same feed.
#[derive(Clone, Debug)]
pub struct ChangeFeed {
    tx: Arc<watch::Sender<u64>>,
    /// Moves only for changes made on this node, which other nodes are told of.
    local: Arc<watch::Sender<u64>>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl ChangeFeed {
    pub fn new() -> Self {
        let (tx, _) = watch::channel(1);
        let (local, _) = watch::channel(0);
        Self {
            tx: Arc::new(tx),
            local: Arc::new(local),
        }
    }

    /// Something public may have changed: every cached rendering is stale.
    pub fn publish(&self) {
        self.tx.send_modify(|g| *g = g.wrapping_add(1));
        self.local.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Another node changed something public: stale here too, and not to be told on.
    pub fn publish_remote(&self) {
        self.tx.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// A receiver that wakes on changes made on this node only.
    pub fn subscribe_local(&self) -> watch::Receiver<u64> {
        self.local.subscribe()
    }

    /// The current generation; it only ever moves forward.
    pub fn generation(&self) -> u64 {
        *self.tx.borrow()
    }

    /// A receiver that wakes on every later change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publishing_moves_the_generation_and_wakes_subscribers() {
        let feed = ChangeFeed::new();
        let mut rx = feed.subscribe();
        let g0 = feed.generation();
        feed.clone().publish();
        assert_eq!(feed.generation(), g0 + 1);
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), g0 + 1);
        // Another feed is independent.
        let other = ChangeFeed::new();
        other.publish();
        assert_eq!(feed.generation(), g0 + 1);
    }
}
