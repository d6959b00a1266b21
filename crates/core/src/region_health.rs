//! Region health: when a region served by agents goes silent, the region itself raises
//! an operational alert (PRODUCT.md, "Consensus and confirmation"), and when it is
//! heard from again the alert is resolved.
//!
//! Pure: the server hands in, per watched region, when one of its agents was last
//! heard from, the liveness timeout, and `now`; [`RegionHealth::evaluate`] says what
//! to send. The memory is plain serialisable data that the server stores, so a restart
//! neither repeats an alert nor forgets to resolve one.
//!
//! # Rules
//!
//! * A region is **unavailable** once nothing was heard from it for longer than the
//!   timeout, counted from its last contact, or from `watching_since` (the server's
//!   start, or when the region became watched) when that is later: agents reconnect
//!   after a server restart, and a restart must not look like an outage.
//! * Becoming unavailable starts an *episode* and sends one [`RegionEvent::Unavailable`]
//!   to every channel of the operational policy (none: the episode is still kept,
//!   logged and shown, and nobody is told).
//! * An unavailable region becomes available when an agent is heard from after the
//!   contact that preceded the silence; [`RegionEvent::Available`] goes to the
//!   channels told. A region that is no longer watched (its tokens revoked, removed
//!   from the config) ends its episode the same way: an alert that was opened is
//!   always closed.
//!
//! Keys: `region:<name>:<episode>:<channel>:unavailable` and `…:available`.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::alert::PolicySpec;

/// Per-region memory, stored as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegionHealth {
    pub regions: BTreeMap<String, RegionWatch>,
}

/// One unavailable region (available regions have no entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionWatch {
    /// When it became unavailable: its last sign of life plus the timeout.
    pub since: Timestamp,
    /// Its last sign of life before the silence (or when watching began).
    pub last_heard: Timestamp,
    pub episode: Uuid,
    /// Channels told it is unavailable.
    #[serde(default)]
    pub notified: Vec<String>,
}

/// What a notification about a region says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionEvent {
    Unavailable,
    Available,
}

/// What the server must do.
#[derive(Debug, Clone, PartialEq)]
pub enum RegionEffect {
    /// The region became unavailable at `since` (for logs and metrics).
    Down { region: String, since: Timestamp },
    /// The region is available again after `after`.
    Up { region: String, after: Duration },
    Notify {
        region: String,
        episode: Uuid,
        channel: String,
        event: RegionEvent,
        key: String,
        /// When the region became unavailable.
        since: Timestamp,
    },
}

/// A watched region as the server sees it now.
#[derive(Debug, Clone, Copy)]
pub struct RegionSighting<'a> {
    pub name: &'a str,
    /// When any of its agents was last heard from (since the server started).
    pub last_heard: Option<Timestamp>,
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

impl RegionHealth {
    /// Brings the memory in line with `regions` (every watched region) at `now`.
    /// `new_id` makes episode ids (called once per episode started). Idempotent:
    /// evaluating again with the same input does nothing.
    pub fn evaluate(
        &mut self,
        regions: &[RegionSighting],
        watching_since: Timestamp,
        timeout: Duration,
        now: Timestamp,
        policy: Option<&PolicySpec>,
        new_id: &mut dyn FnMut() -> Uuid,
    ) -> Vec<RegionEffect> {
        let mut fx = Vec::new();
        // Regions no longer watched end their episode.
        let gone: Vec<String> = self
            .regions
            .keys()
            .filter(|k| !regions.iter().any(|r| r.name == k.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(w) = self.regions.remove(&name) {
                end(&name, w, now, &mut fx);
            }
        }
        for r in regions {
            match self.regions.get(r.name) {
                Some(w) => {
                    if r.last_heard.is_some_and(|h| h > w.last_heard) {
                        let w = self.regions.remove(r.name).expect("present");
                        end(r.name, w, now, &mut fx);
                    }
                }
                None => {
                    let heard = r
                        .last_heard
                        .map_or(watching_since, |h| h.max(watching_since));
                    let since = plus(heard, timeout);
                    if now > since {
                        let episode = new_id();
                        fx.push(RegionEffect::Down {
                            region: r.name.to_owned(),
                            since,
                        });
                        let mut notified = Vec::new();
                        for ch in policy.map(|p| p.channels.as_slice()).unwrap_or_default() {
                            fx.push(RegionEffect::Notify {
                                region: r.name.to_owned(),
                                episode,
                                channel: ch.clone(),
                                event: RegionEvent::Unavailable,
                                key: format!("region:{}:{episode}:{ch}:unavailable", r.name),
                                since,
                            });
                            notified.push(ch.clone());
                        }
                        self.regions.insert(
                            r.name.to_owned(),
                            RegionWatch {
                                since,
                                last_heard: heard,
                                episode,
                                notified,
                            },
                        );
                    }
                }
            }
        }
        fx
    }

    /// When a watched, available region next becomes unavailable if nothing is heard
    /// from it (recoveries are noticed when the server evaluates after a contact).
    pub fn next_deadline(
        &self,
        regions: &[RegionSighting],
        watching_since: Timestamp,
        timeout: Duration,
    ) -> Option<Timestamp> {
        regions
            .iter()
            .filter(|r| !self.regions.contains_key(r.name))
            .map(|r| {
                let heard = r
                    .last_heard
                    .map_or(watching_since, |h| h.max(watching_since));
                plus(heard, timeout)
            })
            .min()
    }

    /// Whether `region` is unavailable.
    pub fn is_unavailable(&self, region: &str) -> bool {
        self.regions.contains_key(region)
    }
}

fn end(name: &str, w: RegionWatch, now: Timestamp, fx: &mut Vec<RegionEffect>) {
    let after = Duration::try_from(now.duration_since(w.since)).unwrap_or_default();
    fx.push(RegionEffect::Up {
        region: name.to_owned(),
        after,
    });
    for ch in w.notified {
        fx.push(RegionEffect::Notify {
            region: name.to_owned(),
            episode: w.episode,
            key: format!("region:{name}:{}:{ch}:available", w.episode),
            channel: ch,
            event: RegionEvent::Available,
            since: w.since,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Priority;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    const TIMEOUT: Duration = Duration::from_secs(45);

    fn ops() -> PolicySpec {
        PolicySpec {
            name: "ops".into(),
            priority: Priority::P2,
            channels: vec!["slack".into(), "pd".into()],
            notify_on: Vec::new(),
            remind_every: None,
            escalate: Vec::new(),
            incident_on_degraded: false,
        }
    }

    fn show(fx: &[RegionEffect]) -> Vec<String> {
        fx.iter()
            .map(|e| match e {
                RegionEffect::Down { region, .. } => format!("down {region}"),
                RegionEffect::Up { region, after } => format!("up {region} {}s", after.as_secs()),
                RegionEffect::Notify {
                    region,
                    channel,
                    event,
                    ..
                } => format!("{event:?} {region} {channel}"),
            })
            .collect()
    }

    struct W {
        h: RegionHealth,
        ids: u128,
        policy: Option<PolicySpec>,
    }

    impl W {
        fn eval(&mut self, regions: &[RegionSighting], now: Timestamp) -> Vec<String> {
            let mut ids = self.ids;
            let fx = self.h.evaluate(
                regions,
                t(0),
                TIMEOUT,
                now,
                self.policy.as_ref(),
                &mut || {
                    ids += 1;
                    Uuid::from_u128(ids)
                },
            );
            self.ids = ids;
            // idempotent
            let mut again = self.h.clone();
            assert!(
                again
                    .evaluate(
                        regions,
                        t(0),
                        TIMEOUT,
                        now,
                        self.policy.as_ref(),
                        &mut || { Uuid::nil() }
                    )
                    .is_empty()
            );
            assert_eq!(again, self.h);
            show(&fx)
        }
    }

    fn eu(last: Option<i64>) -> RegionSighting<'static> {
        RegionSighting {
            name: "eu",
            last_heard: last.map(t),
        }
    }

    #[test]
    fn silence_alerts_once_and_contact_resolves() {
        let mut w = W {
            h: RegionHealth::default(),
            ids: 0,
            policy: Some(ops()),
        };
        assert!(w.eval(&[eu(Some(10))], t(50)).is_empty());
        assert_eq!(
            w.h.next_deadline(&[eu(Some(10))], t(0), TIMEOUT),
            Some(t(55))
        );
        assert!(w.eval(&[eu(Some(10))], t(55)).is_empty(), "not before");
        assert_eq!(
            w.eval(&[eu(Some(10))], t(56)),
            ["down eu", "Unavailable eu slack", "Unavailable eu pd"]
        );
        assert!(w.h.is_unavailable("eu"));
        assert_eq!(w.h.next_deadline(&[eu(Some(10))], t(0), TIMEOUT), None);
        assert!(w.eval(&[eu(Some(10))], t(500)).is_empty(), "once");
        assert_eq!(
            w.eval(&[eu(Some(600))], t(600)),
            ["up eu 545s", "Available eu slack", "Available eu pd"]
        );
        assert!(!w.h.is_unavailable("eu"));
    }

    #[test]
    fn a_restart_gives_agents_time_and_remembered_outages_stay() {
        let mut w = W {
            h: RegionHealth::default(),
            ids: 0,
            policy: None,
        };
        // never heard since watching began at t(0): counted from t(0)
        assert!(w.eval(&[eu(None)], t(45)).is_empty());
        assert_eq!(
            w.eval(&[eu(None)], t(46)),
            ["down eu"],
            "no policy: nobody told"
        );
        // stored and loaded again (a restart): still unavailable, no second alert
        let mut back: RegionHealth =
            serde_json::from_str(&serde_json::to_string(&w.h).unwrap()).unwrap();
        assert_eq!(back, w.h);
        assert!(
            back.evaluate(&[eu(None)], t(1000), TIMEOUT, t(1001), None, &mut Uuid::nil)
                .is_empty()
        );
    }

    #[test]
    fn a_region_no_longer_watched_closes_its_alert() {
        let mut w = W {
            h: RegionHealth::default(),
            ids: 0,
            policy: Some(ops()),
        };
        w.eval(&[eu(Some(0))], t(100));
        assert_eq!(
            w.eval(&[], t(200)),
            ["up eu 155s", "Available eu slack", "Available eu pd"]
        );
        assert!(w.h.regions.is_empty());
    }
}
