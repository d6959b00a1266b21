//! Watches the regions served by agents and raises the operational alert of a region
//! that went silent (core's [`vigilmon_core::region_health`] decides; this task feeds
//! it and writes what it decides).
//!
//! Watched regions: those declared in the config file and those with an agent token
//! that is not revoked — except the built-in probe's own region (available while the server runs; not a
//! region at all when the built-in probe is disabled).
//! The memory is stored in the `settings` table (key `region_health`) in the same
//! transaction as the notifications it decided, so a restart neither repeats nor
//! loses an alert. Notifications go through the policy named by
//! `alerting.region_policy`, into the same durable outbox as incident alerts.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use uuid::Uuid;
use vigilmon_core::RegionName;
use vigilmon_core::alert::Priority;
use vigilmon_core::region_health::{RegionEffect, RegionEvent, RegionHealth, RegionSighting};
use vigilmon_notify::{Event, Links, Notification};
use vigilmon_store::{AlertingWrite, Commit, Fence, NewNotification, Store, StoreError};

use crate::agents::Agents;
use vigilmon_schedule::clock::SharedClock;

/// The settings key of the memory.
pub const SETTINGS_KEY: &str = "region_health";

/// How often the regions are looked at. A region is declared unavailable at most this
/// much after its deadline, and available again this soon after an agent's contact.
const EVERY: Duration = Duration::from_secs(1);
/// How often the list of agent tokens (hence watched regions) is read again.
const TOKENS_EVERY: Duration = Duration::from_secs(10);

/// What the task needs besides the store.
pub struct RegionHealthConfig {
    pub agents: Arc<Agents>,
    pub clock: SharedClock,
    /// Regions declared in the config file.
    pub declared: Vec<RegionName>,
    /// The built-in probe's region: never watched (it is available while the server
    /// runs, and not a region at all when the built-in probe is disabled).
    pub builtin: Option<RegionName>,
    /// Name of the operational policy (`alerting.region_policy`).
    pub policy: Option<String>,
    pub public_url: String,
    /// Wakes the outbox worker.
    pub outbox: Arc<Notify>,
    /// The coordinator's lease: every step is written under it, so a coordinator that
    /// lost the lease neither moves the memory nor queues a notification.
    pub fence: Option<Fence>,
}

/// Runs until `shutdown`.
pub async fn run(store: Store, cfg: RegionHealthConfig, shutdown: CancellationToken) {
    let watching_since = cfg.clock.now();
    let mut memory: RegionHealth = match store.setting(SETTINGS_KEY).await {
        Ok(Some(v)) => serde_json::from_str(&v).unwrap_or_else(|e| {
            warn!(message = "region health memory unreadable; starting afresh", error = %e);
            RegionHealth::default()
        }),
        Ok(None) => RegionHealth::default(),
        Err(e) => {
            error!(message = "could not read the region health memory", error = %e);
            RegionHealth::default()
        }
    };
    let mut token_regions: Vec<RegionName> = Vec::new();
    let mut tokens_read: Option<Timestamp> = None;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = cfg.clock.now();
        if tokens_read.is_none_or(|t| {
            now.as_millisecond() - t.as_millisecond() >= TOKENS_EVERY.as_millis() as i64
        }) {
            match store.list_tokens().await {
                Ok(tokens) => {
                    token_regions = tokens
                        .into_iter()
                        .filter(|t| t.scope == "agent" && t.revoked_at.is_none())
                        .filter_map(|t| t.region.as_deref().and_then(|r| RegionName::parse(r).ok()))
                        .collect();
                    tokens_read = Some(now);
                }
                Err(e) => warn!(message = "could not read agent tokens", error = %e),
            }
        }
        let agents = cfg.agents.all();
        let mut names: Vec<RegionName> = cfg.declared.clone();
        // Not the regions of agents merely heard from: an agent whose token was revoked
        // stops, and decommissioning a region must not raise its alert.
        names.extend(token_regions.iter().cloned());
        names.retain(|n| Some(n) != cfg.builtin.as_ref());
        names.sort();
        names.dedup();
        let sightings: Vec<RegionSighting> = names
            .iter()
            .map(|n| RegionSighting {
                name: n.as_str(),
                last_heard: agents
                    .iter()
                    .filter(|a| &a.region == n)
                    .map(|a| a.last_seen)
                    .max(),
            })
            .collect();
        for n in &names {
            crate::metrics::region_available(n.as_str(), !memory.is_unavailable(n.as_str()));
        }
        // Most seconds nothing happens: find out without reading policies.
        let timeout = cfg.agents.liveness();
        if memory
            .clone()
            .evaluate(
                &sightings,
                watching_since,
                timeout,
                now,
                None,
                &mut Uuid::nil,
            )
            .is_empty()
        {
            continue;
        }
        let policy = match &cfg.policy {
            Some(name) => match crate::alerting::load_policies(&store).await {
                Ok((mut all, _)) => {
                    let p = all.remove(name);
                    if p.is_none() {
                        warn!(message = "the region policy does not exist; region alerts go nowhere", policy = %name);
                    }
                    p
                }
                Err(e) => {
                    warn!(message = "could not read policies", error = %e);
                    continue;
                }
            },
            None => None,
        };
        let mut next = memory.clone();
        let effects = next.evaluate(
            &sightings,
            watching_since,
            timeout,
            now,
            policy.as_ref(),
            &mut Uuid::now_v7,
        );
        let priority = policy.as_ref().map_or(Priority::P3, |p| p.priority);
        let mut write = AlertingWrite {
            settings: vec![(
                SETTINGS_KEY.to_owned(),
                serde_json::to_string(&next).unwrap_or_default(),
            )],
            ..AlertingWrite::default()
        };
        for e in effects {
            match e {
                RegionEffect::Down { region, since } => {
                    warn!(message = "region unavailable: no agent heard from", %region, %since);
                }
                RegionEffect::Up { region, after } => {
                    info!(message = "region available again", %region, after_s = after.as_secs());
                }
                RegionEffect::Notify {
                    region,
                    episode,
                    channel,
                    event,
                    key,
                    since,
                } => {
                    let notification = notification(
                        &cfg.public_url,
                        &region,
                        episode,
                        event,
                        (since, now, timeout),
                        priority,
                    );
                    write.notifications.push(NewNotification {
                        key,
                        incident_id: None,
                        monitor_id: None,
                        channel,
                        event: notification.event.as_str().to_owned(),
                        payload: notification.to_stored(),
                        not_before: now,
                    });
                }
            }
        }
        match store
            .apply_alerting_under(&write, now, &Commit::fenced(cfg.fence))
            .await
        {
            Ok(()) => {
                memory = next;
                for n in &names {
                    crate::metrics::region_available(
                        n.as_str(),
                        !memory.is_unavailable(n.as_str()),
                    );
                }
                if !write.notifications.is_empty() {
                    cfg.outbox.notify_one();
                }
            }
            Err(StoreError::Fenced { term }) => {
                // Another node coordinates now; this task is being stopped.
                warn!(
                    message = "region health step refused: the coordinator's lease moved on",
                    term
                );
            }
            Err(e) => {
                error!(message = "could not write a region health step; it will be retried", error = %e);
            }
        }
    }
}

/// The notification of a region event.
fn notification(
    public_url: &str,
    region: &str,
    episode: Uuid,
    event: RegionEvent,
    (since, now, timeout): (Timestamp, Timestamp, Duration),
    priority: Priority,
) -> Notification {
    let (event, state, cause) = match event {
        RegionEvent::Unavailable => (
            Event::Trigger,
            "unavailable",
            format!(
                "no agent of region {region} has been heard from for over {}; its checks are left out of consensus",
                vigilmon_core::HumanDuration(timeout)
            ),
        ),
        RegionEvent::Available => (
            Event::Resolved,
            "available",
            format!("an agent of region {region} is reporting again"),
        ),
    };
    Notification {
        event,
        dedup_key: format!("vigilmon-region-{region}-{episode}"),
        incident_id: None,
        monitor_id: None,
        monitor_name: format!("region {region}"),
        monitor_kind: "region".to_owned(),
        state: state.to_owned(),
        priority,
        cause,
        regions: Vec::new(),
        opened_at: Some(since),
        at: now,
        duration: (event == Event::Resolved)
            .then(|| u64::try_from(now.as_millisecond() - since.as_millisecond()).ok())
            .flatten()
            .map(Duration::from_millis),
        acknowledged_by: None,
        links: Links {
            monitor_url: Some(format!("{public_url}/regions")),
            incident_url: None,
            ack_url: None,
        },
    }
}
