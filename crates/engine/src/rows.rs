//! What one step of the incident engine writes: the pure mapping from the engine's
//! effects (open, notify, acknowledge, resolve, note) to the rows of one
//! [`AlertingWrite`] — the incident, its timeline, the notifications for the outbox
//! (each the [`Notification`] itself) and the engine's memory — so that a step is
//! decided, mapped and then written in one transaction.

use std::time::Duration;

use jiff::Timestamp;
use uuid::Uuid;
use vigilmon_core::alert::{PolicySpec, Priority};
use vigilmon_core::incident::{DEFAULT_PRIORITY, Effect, MonitorAlerting, NotifyEvent};
use vigilmon_core::{MonitorId, MonitorState};
use vigilmon_notify::{Event, Links, Notification, RegionEvidence};
use vigilmon_store::{
    AlertingWrite, IncidentChange, IncidentRecord, NewIncidentEvent, NewNotification,
};

use crate::links::LinkSigner;

/// The monitor a step is about, as the alerting driver knows it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub id: MonitorId,
    pub name: &'a str,
    pub kind: &'a str,
    pub state: MonitorState,
    /// Why it is in that state, in words.
    pub cause: &'a str,
    /// What each region saw last.
    pub evidence: &'a [RegionEvidence],
}

/// The rows of one step: the engine's `memory` after it and `before` it, and the
/// `effects` it decided at `now`.
pub fn effects_to_write(
    m: &Subject,
    policy: Option<&PolicySpec>,
    links: &LinkSigner,
    memory: &MonitorAlerting,
    before: &MonitorAlerting,
    effects: Vec<Effect>,
    now: Timestamp,
) -> AlertingWrite {
    let mut w = AlertingWrite {
        states: vec![(m.id, serde_json::to_value(memory).unwrap_or_default())],
        ..AlertingWrite::default()
    };
    let priority = policy.map_or(DEFAULT_PRIORITY, |p| p.priority);
    // The incident the effects are about: open now, or just resolved.
    let current = memory.incident.as_ref().or(before.incident.as_ref());
    let event = |incident: Uuid,
                 kind: &str,
                 text: String,
                 actor: Option<String>,
                 channel: Option<String>| NewIncidentEvent {
        incident_id: incident,
        at: now,
        kind: kind.to_owned(),
        text,
        actor,
        channel,
    };
    for effect in effects {
        match effect {
            Effect::Open {
                incident,
                priority,
                cause,
                parent,
                held,
            } => {
                w.incidents
                    .push(IncidentChange::Open(Box::new(IncidentRecord {
                        id: incident,
                        monitor_id: m.id,
                        monitor_name: m.name.to_owned(),
                        state: "open".into(),
                        priority: priority.as_str().into(),
                        cause: cause.clone(),
                        regions: serde_json::to_value(m.evidence).unwrap_or_default(),
                        parent_id: parent,
                        opened_at: now,
                        acknowledged_at: None,
                        acknowledged_by: None,
                        resolved_at: None,
                        resolved_by: None,
                    })));
                let mut text = format!("{} is {}: {cause}", m.name, m.state.as_str());
                for e in m.evidence {
                    text.push_str(&format!(
                        "\n{}: {}",
                        e.region,
                        if e.ok {
                            "ok".to_owned()
                        } else {
                            e.error.clone().unwrap_or_else(|| "failing".into())
                        }
                    ));
                }
                if held {
                    text.push_str("\nalerts held: a monitor it depends on has an open incident, or a maintenance window is active");
                }
                if policy.is_none() {
                    text.push_str("\nno alert policy: nobody is notified");
                }
                w.events.push(event(incident, "opened", text, None, None));
            }
            Effect::Notify {
                incident,
                channel,
                event: ev,
                key,
            } => {
                let opened = current.filter(|i| Some(i.id) == incident);
                let event_kind = Event::from(ev);
                let notification = Notification {
                    event: event_kind,
                    dedup_key: format!(
                        "vigilmon-{}",
                        incident.map_or_else(|| key.clone(), |i| i.to_string())
                    ),
                    incident_id: incident,
                    monitor_id: Some(m.id.as_uuid()),
                    monitor_name: m.name.to_owned(),
                    monitor_kind: m.kind.to_owned(),
                    state: m.state.as_str().to_owned(),
                    // The regional notice is low priority whatever the policy's.
                    priority: if ev == NotifyEvent::Regional {
                        Priority::P4
                    } else {
                        opened.map_or(priority, |i| i.priority)
                    },
                    cause: m.cause.to_owned(),
                    regions: m.evidence.to_vec(),
                    opened_at: opened.map(|i| i.opened_at),
                    at: now,
                    duration: opened
                        .filter(|_| ev == NotifyEvent::Resolved)
                        .and_then(|i| {
                            u64::try_from(now.as_millisecond() - i.opened_at.as_millisecond()).ok()
                        })
                        .map(Duration::from_millis),
                    acknowledged_by: opened.and_then(|i| i.acknowledged_by.clone()),
                    // Links into the web UI (pages a person can open).
                    links: Links {
                        monitor_url: Some(format!("{}/monitors/{}", links.public_url, m.id)),
                        incident_url: incident
                            .map(|i| format!("{}/incidents/{i}", links.public_url)),
                        ack_url: incident
                            .filter(|_| {
                                matches!(
                                    ev,
                                    NotifyEvent::Trigger
                                        | NotifyEvent::Reminder
                                        | NotifyEvent::Escalation
                                )
                            })
                            .map(|i| links.ack_url(i, now)),
                    },
                };
                if let Some(i) = incident {
                    w.events.push(event(
                        i,
                        "notification",
                        format!("{event_kind} notification queued for {channel}"),
                        None,
                        Some(channel.clone()),
                    ));
                }
                w.notifications.push(NewNotification {
                    key,
                    incident_id: incident,
                    monitor_id: Some(m.id),
                    channel,
                    event: event_kind.as_str().to_owned(),
                    payload: notification.to_stored(),
                    not_before: now,
                });
            }
            Effect::Acknowledge { incident, by } => {
                w.incidents.push(IncidentChange::Acknowledge {
                    id: incident,
                    at: now,
                    by: by.clone(),
                });
                w.events.push(event(
                    incident,
                    "acknowledged",
                    format!("acknowledged by {by}"),
                    Some(by),
                    None,
                ));
            }
            Effect::Resolve {
                incident,
                duration_ms,
            } => {
                w.incidents.push(IncidentChange::Resolve {
                    id: incident,
                    at: now,
                    by: None,
                });
                let d = vigilmon_core::HumanDuration(Duration::from_secs(
                    u64::try_from(duration_ms / 1000).unwrap_or(0),
                ));
                w.events.push(event(
                    incident,
                    "resolved",
                    format!("resolved after {d}"),
                    None,
                    None,
                ));
            }
            Effect::Note { incident, text } => {
                w.events.push(event(incident, "note", text, None, None));
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigilmon_core::incident::OpenIncident;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn links() -> LinkSigner {
        LinkSigner {
            public_url: "https://vm.example".into(),
            secret: b"0123456789abcdef0123456789abcdef".to_vec(),
            ttl: Duration::from_secs(3600),
        }
    }

    fn evidence() -> Vec<RegionEvidence> {
        vec![
            RegionEvidence {
                region: "eu".into(),
                ok: false,
                error: Some("connection refused".into()),
                checked_at: Some(at(-5)),
            },
            RegionEvidence {
                region: "us".into(),
                ok: true,
                error: None,
                checked_at: Some(at(-3)),
            },
        ]
    }

    fn subject(evidence: &[RegionEvidence]) -> Subject<'_> {
        Subject {
            id: MonitorId::from_uuid(Uuid::from_u128(1)),
            name: "api",
            kind: "http",
            state: MonitorState::Down,
            cause: "connection refused",
            evidence,
        }
    }

    fn open(id: Uuid, opened: Timestamp) -> MonitorAlerting {
        MonitorAlerting {
            incident: Some(Box::new(OpenIncident {
                id,
                opened_at: opened,
                priority: Priority::P1,
                cause: "connection refused".into(),
                acknowledged_at: None,
                acknowledged_by: Some("ann".into()),
                triggered: Vec::new(),
                reminders_sent: 0,
                last_notified_at: None,
                escalations_fired: 0,
                parent: None,
                held: false,
                alerting_since: None,
            })),
            ..MonitorAlerting::default()
        }
    }

    #[test]
    fn an_opened_incident_is_a_row_and_a_timeline_entry_naming_every_region() {
        let ev = evidence();
        let inc = Uuid::from_u128(9);
        let memory = open(inc, at(0));
        let w = effects_to_write(
            &subject(&ev),
            None,
            &links(),
            &memory,
            &MonitorAlerting::default(),
            vec![Effect::Open {
                incident: inc,
                priority: Priority::P1,
                cause: "connection refused".into(),
                parent: None,
                held: true,
            }],
            at(0),
        );
        assert_eq!(w.states.len(), 1, "the engine's memory is written with it");
        let [IncidentChange::Open(row)] = &w.incidents[..] else {
            panic!("one incident row: {:?}", w.incidents);
        };
        assert_eq!(
            (row.id, row.state.as_str(), row.priority.as_str()),
            (inc, "open", "P1")
        );
        assert_eq!(row.regions, serde_json::to_value(&ev).unwrap());
        assert_eq!(w.events.len(), 1);
        assert_eq!(w.events[0].kind, "opened");
        assert_eq!(
            w.events[0].text,
            "api is down: connection refused\neu: connection refused\nus: ok\n\
             alerts held: a monitor it depends on has an open incident, or a maintenance window is active\n\
             no alert policy: nobody is notified"
        );
        assert!(w.notifications.is_empty());
    }

    #[test]
    fn a_trigger_carries_the_notification_itself_with_a_signed_ack_link() {
        let ev = evidence();
        let inc = Uuid::from_u128(9);
        let memory = open(inc, at(0));
        let w = effects_to_write(
            &subject(&ev),
            None,
            &links(),
            &memory,
            &memory,
            vec![Effect::Notify {
                incident: Some(inc),
                channel: "pager".into(),
                event: NotifyEvent::Trigger,
                key: format!("{inc}:pager:trigger"),
            }],
            at(10),
        );
        let [n] = &w.notifications[..] else {
            panic!("one notification");
        };
        assert_eq!((n.channel.as_str(), n.event.as_str()), ("pager", "trigger"));
        assert_eq!(n.key, format!("{inc}:pager:trigger"));
        let sent = Notification::from_stored(&n.payload).unwrap();
        assert_eq!(sent.event, Event::Trigger);
        assert_eq!(sent.dedup_key, format!("vigilmon-{inc}"));
        assert_eq!(sent.priority, Priority::P1, "the incident's priority");
        assert_eq!(sent.regions, ev);
        assert_eq!(sent.opened_at, Some(at(0)));
        assert_eq!(sent.duration, None);
        assert_eq!(
            sent.links.monitor_url.as_deref(),
            Some("https://vm.example/monitors/00000000-0000-0000-0000-000000000001")
        );
        assert_eq!(
            sent.links.ack_url,
            Some(links().ack_url(inc, at(10))),
            "a signed acknowledge link"
        );
        assert_eq!(w.events[0].kind, "notification");
        assert_eq!(w.events[0].text, "trigger notification queued for pager");
        assert_eq!(w.events[0].channel.as_deref(), Some("pager"));
    }

    #[test]
    fn a_resolve_says_how_long_and_its_notification_has_no_ack_link() {
        let ev = evidence();
        let inc = Uuid::from_u128(9);
        let before = open(inc, at(0));
        let w = effects_to_write(
            &Subject {
                state: MonitorState::Up,
                ..subject(&ev)
            },
            None,
            &links(),
            &MonitorAlerting::default(),
            &before,
            vec![
                Effect::Resolve {
                    incident: inc,
                    duration_ms: 125_000,
                },
                Effect::Notify {
                    incident: Some(inc),
                    channel: "pager".into(),
                    event: NotifyEvent::Resolved,
                    key: format!("{inc}:pager:resolve"),
                },
            ],
            at(125),
        );
        assert!(matches!(
            w.incidents[..],
            [IncidentChange::Resolve { id, by: None, .. }] if id == inc
        ));
        assert_eq!(w.events[0].text, "resolved after 2m 5s");
        let sent = Notification::from_stored(&w.notifications[0].payload).unwrap();
        assert_eq!(sent.event, Event::Resolved);
        assert_eq!(sent.duration, Some(Duration::from_secs(125)));
        assert_eq!(sent.acknowledged_by.as_deref(), Some("ann"));
        assert_eq!(sent.links.ack_url, None);
        assert_eq!(sent.state, "up");
    }

    #[test]
    fn a_regional_notice_is_low_priority_keyed_by_its_episode_and_has_no_incident() {
        let ev = evidence();
        let w = effects_to_write(
            &Subject {
                state: MonitorState::Degraded,
                ..subject(&ev)
            },
            Some(&PolicySpec {
                name: "p".into(),
                priority: Priority::P1,
                channels: vec!["chat".into()],
                notify_on: Vec::new(),
                remind_every: None,
                escalate: Vec::new(),
                incident_on_degraded: false,
            }),
            &links(),
            &MonitorAlerting::default(),
            &MonitorAlerting::default(),
            vec![Effect::Notify {
                incident: None,
                channel: "chat".into(),
                event: NotifyEvent::Regional,
                key: "regional:e1:chat".into(),
            }],
            at(0),
        );
        let sent = Notification::from_stored(&w.notifications[0].payload).unwrap();
        assert_eq!(sent.event, Event::RegionalNotice);
        assert_eq!(
            sent.priority,
            Priority::P4,
            "whatever the policy's priority"
        );
        assert_eq!(sent.dedup_key, "vigilmon-regional:e1:chat");
        assert_eq!((sent.incident_id, sent.links.incident_url), (None, None));
        assert!(w.events.is_empty(), "no incident, no timeline");
    }

    #[test]
    fn acknowledgements_and_notes_go_to_the_timeline() {
        let ev = evidence();
        let inc = Uuid::from_u128(9);
        let memory = open(inc, at(0));
        let w = effects_to_write(
            &subject(&ev),
            None,
            &links(),
            &memory,
            &memory,
            vec![
                Effect::Acknowledge {
                    incident: inc,
                    by: "ann".into(),
                },
                Effect::Note {
                    incident: inc,
                    text: "held: maintenance".into(),
                },
            ],
            at(30),
        );
        assert!(matches!(
            &w.incidents[..],
            [IncidentChange::Acknowledge { id, by, .. }] if *id == inc && by == "ann"
        ));
        let kinds: Vec<(&str, &str)> = w
            .events
            .iter()
            .map(|e| (e.kind.as_str(), e.text.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("acknowledged", "acknowledged by ann"),
                ("note", "held: maintenance")
            ]
        );
        assert_eq!(w.events[0].actor.as_deref(), Some("ann"));
    }
}
