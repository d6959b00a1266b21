//! Tests of the incident engine: one scenario per rule, then random sequences of events
//! checked against a reference model.

use super::*;
use crate::alert::EscalationStep;
use MonitorState::{Degraded, Down, Paused, Pending, Up};

fn t0() -> Timestamp {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

fn closes(ch: &str) -> bool {
    ch == "pd"
}

fn policy(channels: &[&str], notify_on: &[NotifyOn]) -> PolicySpec {
    PolicySpec {
        name: "p".into(),
        priority: Priority::P1,
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        notify_on: notify_on.to_vec(),
        remind_every: None,
        escalate: Vec::new(),
        incident_on_degraded: false,
    }
}

fn page() -> PolicySpec {
    policy(&["pd", "slack"], &[NotifyOn::Down, NotifyOn::Recovered])
}

/// A monitor's alerting memory with a controllable world around it.
struct World {
    m: MonitorAlerting,
    policy: Option<PolicySpec>,
    now: Timestamp,
    maint: bool,
    parent: Option<Uuid>,
    ids: u128,
    /// The next states reported are regional failures (when degraded).
    regional: bool,
}

impl World {
    fn new(policy: Option<PolicySpec>) -> Self {
        Self {
            m: MonitorAlerting::default(),
            policy,
            now: t0(),
            maint: false,
            parent: None,
            ids: 0,
            regional: false,
        }
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            now: self.now,
            policy: self.policy.as_ref(),
            in_maintenance: self.maint,
            parent_incident: self.parent,
            closes_alerts: &closes,
            regional: self.regional,
            regional_notice_after: DEFAULT_REGIONAL_NOTICE_AFTER,
        }
    }

    /// Runs `f` on the memory with the world's context.
    fn with<R>(&mut self, f: impl FnOnce(&mut MonitorAlerting, &Context) -> R) -> R {
        let ctx = Context {
            now: self.now,
            policy: self.policy.as_ref(),
            in_maintenance: self.maint,
            parent_incident: self.parent,
            closes_alerts: &closes,
            regional: self.regional,
            regional_notice_after: DEFAULT_REGIONAL_NOTICE_AFTER,
        };
        f(&mut self.m, &ctx)
    }

    fn state(&mut self, to: MonitorState, cause: &str) -> Vec<String> {
        self.ids += 1;
        let id = Uuid::from_u128(self.ids);
        show(&self.with(|m, ctx| m.on_state(to, cause, id, ctx)))
    }

    fn at(&mut self, minutes: u64) -> Vec<String> {
        self.now = t0() + mins(minutes);
        self.tick()
    }

    fn tick(&mut self) -> Vec<String> {
        show(&self.with(|m, ctx| m.on_tick(ctx)))
    }

    fn ack(&mut self) -> Vec<String> {
        show(&self.with(|m, ctx| m.on_acknowledge("alice", ctx)))
    }

    fn resolve(&mut self) -> Vec<String> {
        show(&self.with(|m, ctx| m.on_resolve(ctx)))
    }

    fn incident(&self) -> &OpenIncident {
        self.m.incident.as_ref().expect("an open incident")
    }
}

fn show(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .map(|e| match e {
            Effect::Open { held, cause, .. } => {
                format!("open{} {cause}", if *held { " held" } else { "" })
            }
            Effect::Notify { channel, event, .. } => format!("{event:?} {channel}"),
            Effect::Acknowledge { by, .. } => format!("ack {by}"),
            Effect::Resolve { duration_ms, .. } => format!("resolve {duration_ms}"),
            Effect::Note { text, .. } => format!("note {text}"),
        })
        .collect()
}

fn keys(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Notify { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn down_opens_one_incident_and_triggers_each_channel_once() {
    let mut w = World::new(Some(page()));
    assert!(w.state(Up, "ok").is_empty());
    assert_eq!(
        w.state(Down, "timeout"),
        ["open timeout", "Trigger pd", "Trigger slack"]
    );
    let id = w.incident().id;
    assert_eq!(id, Uuid::from_u128(2), "opened with the id of the call");
    assert_eq!(w.incident().priority, Priority::P1);
    assert!(
        w.state(Down, "timeout").is_empty(),
        "one incident per outage"
    );
    assert!(w.at(60).is_empty(), "no reminders configured");
    assert_eq!(w.incident().triggered, ["pd", "slack"]);
}

/// A policy that pages and also notifies on degradation, with a degraded
/// incident rule: the strictest case for regional failures.
fn loud() -> PolicySpec {
    PolicySpec {
        incident_on_degraded: true,
        ..policy(
            &["pd", "slack", "mail"],
            &[NotifyOn::Down, NotifyOn::Degraded, NotifyOn::Recovered],
        )
    }
}

#[test]
fn a_regional_failure_pages_nobody_and_notices_once_after_its_delay() {
    let mut w = World::new(Some(loud()));
    w.state(Up, "ok");
    w.regional = true;
    assert!(
        w.state(Degraded, "timeout").is_empty(),
        "no incident, no degradation notice, even with incident_on_degraded"
    );
    assert!(w.m.incident.is_none());
    assert_eq!(w.m.regional_since, Some(t0()));
    assert_eq!(w.m.next_wakeup(&w.ctx()), Some(t0() + mins(5)));
    assert!(w.at(4).is_empty());
    // the same regional failure reported again changes nothing
    assert!(w.state(Degraded, "timeout").is_empty());
    assert_eq!(
        w.at(5),
        ["Regional slack", "Regional mail"],
        "to the non-paging channels only"
    );
    let episode = w.m.regional_episode.expect("an episode");
    assert_eq!(w.m.next_wakeup(&w.ctx()), None);
    assert!(w.at(60).is_empty(), "one notice per episode");
    // recovery ends the episode quietly
    w.regional = false;
    assert!(w.state(Up, "recovered").is_empty());
    assert_eq!(w.m.regional_episode, None);
    // a new episode has a new key
    w.regional = true;
    w.now = t0() + mins(100);
    w.state(Degraded, "timeout");
    let ctx = w.ctx();
    let fx = w.m.clone().on_tick(&Context {
        now: t0() + mins(105),
        ..ctx
    });
    let new_episode = w.m.regional_episode.expect("a new episode");
    assert_ne!(new_episode, episode);
    assert_eq!(
        keys(&fx),
        [
            format!("regional:{new_episode}:slack"),
            format!("regional:{new_episode}:mail")
        ]
    );
}

#[test]
fn a_regional_failure_that_ends_early_sends_nothing() {
    let mut w = World::new(Some(loud()));
    w.regional = true;
    w.state(Degraded, "timeout");
    w.now = t0() + mins(3);
    w.regional = false;
    assert!(w.state(Up, "ok").is_empty());
    assert!(w.at(30).is_empty());
    assert_eq!(w.m.next_wakeup(&w.ctx()), None);
}

#[test]
fn a_regional_failure_is_not_a_warning_and_a_warning_is_not_regional() {
    // slow (degraded, not regional) with incident_on_degraded: an incident
    let mut w = World::new(Some(loud()));
    assert_eq!(
        w.state(Degraded, "slow"),
        ["open slow", "Trigger pd", "Trigger slack", "Trigger mail"]
    );
    // the same state, now regional: below quorum resolves the incident
    w.regional = true;
    w.now = t0() + mins(1);
    assert_eq!(
        w.state(Degraded, "timeout"),
        [
            "resolve 60000",
            "Resolved pd",
            "Resolved slack",
            "Resolved mail"
        ]
    );
    assert!(w.m.incident.is_none());
    assert!(w.m.regional_episode.is_some());
}

#[test]
fn quorum_reached_opens_the_incident_and_ends_the_regional_episode() {
    let mut w = World::new(Some(page()));
    w.regional = true;
    w.state(Degraded, "timeout");
    w.now = t0() + mins(2);
    w.regional = false;
    assert_eq!(
        w.state(Down, "timeout"),
        ["open timeout", "Trigger pd", "Trigger slack"]
    );
    assert_eq!(w.m.regional_episode, None);
    // back below quorum: resolved, a new episode, its notice 5 minutes later
    w.now = t0() + mins(10);
    w.regional = true;
    assert_eq!(
        w.state(Degraded, "timeout"),
        ["resolve 480000", "Resolved pd", "Resolved slack"]
    );
    assert_eq!(w.at(15), ["Regional slack"]);
}

#[test]
fn regional_notices_wait_for_maintenance_and_parents_and_pending_is_transparent() {
    let mut w = World::new(Some(page()));
    w.regional = true;
    w.maint = true;
    w.state(Degraded, "timeout");
    assert!(w.at(10).is_empty(), "nothing during maintenance");
    assert_eq!(w.m.next_wakeup(&w.ctx()), None);
    w.maint = false;
    w.parent = Some(Uuid::from_u128(999));
    assert!(w.at(11).is_empty(), "held while a parent incident is open");
    w.parent = None;
    // a restart in between (pending) neither ends the episode nor sends for it
    w.regional = false;
    assert!(w.state(Pending, "").is_empty());
    assert!(w.at(12).is_empty());
    assert!(w.m.regional_episode.is_some());
    w.regional = true;
    assert_eq!(w.state(Degraded, "timeout"), ["Regional slack"]);
    // without a policy: nothing, ever
    let mut quiet = World::new(None);
    quiet.regional = true;
    quiet.state(Degraded, "timeout");
    assert!(quiet.at(60).is_empty());
    assert!(quiet.m.incident.is_none());
}

#[test]
fn trigger_keys_are_stable_per_incident_and_channel() {
    let mut w = World::new(Some(page()));
    w.ids = 41;
    let ctx = w.ctx();
    let fx = w.m.clone().on_state(Down, "x", Uuid::from_u128(42), &ctx);
    let id = Uuid::from_u128(42);
    assert_eq!(
        keys(&fx),
        [format!("{id}:pd:trigger"), format!("{id}:slack:trigger")]
    );
    assert!(
        matches!(fx[1], Effect::Notify { incident: Some(i), event: NotifyEvent::Trigger, .. } if i == id)
    );
}

#[test]
fn a_different_cause_adds_a_note() {
    let mut w = World::new(Some(page()));
    w.state(Down, "timeout");
    assert_eq!(
        w.state(Down, "connection refused"),
        ["note now down: connection refused"]
    );
    assert!(w.state(Down, "connection refused").is_empty());
    assert_eq!(w.incident().cause, "connection refused");
}

#[test]
fn recovery_resolves_and_tells_the_triggered_channels() {
    let mut w = World::new(Some(page()));
    w.state(Down, "timeout");
    w.now = t0() + mins(7);
    assert_eq!(
        w.state(Up, "ok"),
        ["resolve 420000", "Resolved pd", "Resolved slack"]
    );
    assert!(w.m.incident.is_none());
    assert_eq!(w.state(Down, "again")[0], "open again", "a new outage");
}

#[test]
fn channels_that_close_alerts_always_get_resolved_and_acknowledged() {
    // notify_on: [down] only: slack hears nothing more, PagerDuty's alert is closed.
    let mut w = World::new(Some(policy(&["pd", "slack"], &[NotifyOn::Down])));
    w.state(Down, "x");
    assert_eq!(w.ack(), ["ack alice", "Acknowledged pd"]);
    assert!(w.ack().is_empty(), "acknowledging twice does nothing");
    assert_eq!(w.state(Up, "ok"), ["resolve 0", "Resolved pd"]);
    assert!(w.ack().is_empty(), "nothing open");
}

#[test]
fn acknowledged_is_sent_when_asked_for() {
    let p = policy(&["pd", "slack"], &[NotifyOn::Down, NotifyOn::Acknowledged]);
    let mut w = World::new(Some(p));
    w.state(Down, "x");
    assert_eq!(
        w.ack(),
        ["ack alice", "Acknowledged pd", "Acknowledged slack"]
    );
    assert_eq!(w.incident().acknowledged_by.as_deref(), Some("alice"));
}

#[test]
fn without_a_policy_incidents_are_recorded_and_nothing_is_sent() {
    let mut w = World::new(None);
    assert_eq!(w.state(Down, "x"), ["open x"]);
    assert_eq!(w.incident().priority, DEFAULT_PRIORITY);
    assert_eq!(w.ack(), ["ack alice"]);
    assert!(w.state(Degraded, "slow")[0].starts_with("resolve"));
    assert!(w.state(Up, "ok").is_empty());
    assert_eq!(w.m.next_wakeup(&w.ctx()), None);
}

#[test]
fn reminders_repeat_until_acknowledged() {
    let mut p = page();
    p.remind_every = Some(mins(30));
    let mut w = World::new(Some(p));
    w.state(Down, "x");
    assert_eq!(w.m.next_wakeup(&w.ctx()), Some(t0() + mins(30)));
    assert!(w.at(29).is_empty());
    assert_eq!(w.at(30), ["Reminder pd", "Reminder slack"]);
    assert_eq!(w.m.next_wakeup(&w.ctx()), Some(t0() + mins(60)));
    // a late tick sends one reminder, and the next counts from it
    assert_eq!(w.at(100), ["Reminder pd", "Reminder slack"]);
    assert_eq!(w.m.next_wakeup(&w.ctx()), Some(t0() + mins(130)));
    assert_eq!(w.incident().reminders_sent, 2);
    let id = w.incident().id;
    let ctx = w.ctx();
    let fx = w.m.clone().on_tick(&Context {
        now: t0() + mins(130),
        ..ctx
    });
    assert_eq!(keys(&fx)[0], format!("{id}:pd:reminder:3"));
    w.ack();
    assert_eq!(w.m.next_wakeup(&w.ctx()), None);
    assert!(
        w.at(500).is_empty(),
        "no reminders after an acknowledgement"
    );
}

/// A policy that does not page — `notify_on` without `down`, or with `degraded` but
/// without `incident_on_degraded` — opens the incident silently and never reminds nor
/// escalates, however long it stays open; the same policy with `down` does both.
#[test]
fn a_policy_that_does_not_page_never_reminds_nor_escalates() {
    let quiet_then_loud = |notify_on: &[NotifyOn]| {
        let mut p = policy(&["slack"], notify_on);
        p.remind_every = Some(mins(10));
        p.escalate = vec![EscalationStep {
            after: mins(15),
            channels: vec!["pd".into()],
        }];
        let mut w = World::new(Some(p));
        w.state(Up, "ok");
        let opened = w.state(Down, "timeout");
        let later: Vec<Vec<String>> = [10, 15, 20, 60].into_iter().map(|m| w.at(m)).collect();
        (opened, later)
    };
    for quiet in [
        vec![NotifyOn::Recovered],
        vec![NotifyOn::Degraded, NotifyOn::Recovered],
    ] {
        let (opened, later) = quiet_then_loud(&quiet);
        assert_eq!(opened, ["open timeout"], "{quiet:?}");
        assert!(later.iter().all(Vec::is_empty), "{quiet:?}: {later:?}");
    }
    let (opened, later) = quiet_then_loud(&[NotifyOn::Down, NotifyOn::Recovered]);
    assert_eq!(opened, ["open timeout", "Trigger slack"]);
    assert_eq!(
        later,
        [
            vec!["Reminder slack"],
            vec!["Escalation pd"],
            vec![],
            vec!["Reminder slack", "Reminder pd"]
        ]
    );
}

#[test]
fn escalation_steps_fire_once_in_order_and_skip_triggered_channels() {
    let mut p = policy(&["slack"], &[NotifyOn::Down, NotifyOn::Recovered]);
    p.escalate = vec![
        EscalationStep {
            after: mins(15),
            channels: vec!["pd".into(), "slack".into()],
        },
        EscalationStep {
            after: mins(45),
            channels: vec!["mail".into()],
        },
    ];
    let mut w = World::new(Some(p));
    w.state(Down, "x");
    assert_eq!(w.m.next_wakeup(&w.ctx()), Some(t0() + mins(15)));
    assert_eq!(w.at(16), ["Escalation pd"], "slack was triggered already");
    assert!(w.at(20).is_empty());
    assert_eq!(w.m.next_wakeup(&w.ctx()), Some(t0() + mins(45)));
    assert_eq!(w.at(45), ["Escalation mail"]);
    assert_eq!(w.incident().escalations_fired, 2);
    assert_eq!(w.m.next_wakeup(&w.ctx()), None);
    assert_eq!(
        w.state(Up, "ok"),
        [
            "resolve 2700000",
            "Resolved slack",
            "Resolved pd",
            "Resolved mail"
        ],
        "escalated channels count as triggered"
    );
}

#[test]
fn late_tick_fires_every_due_step() {
    let mut p = policy(&["slack"], &[NotifyOn::Down]);
    p.escalate = vec![
        EscalationStep {
            after: mins(15),
            channels: vec!["pd".into()],
        },
        EscalationStep {
            after: mins(30),
            channels: vec!["mail".into()],
        },
    ];
    let mut w = World::new(Some(p));
    w.state(Down, "x");
    assert_eq!(w.at(90), ["Escalation pd", "Escalation mail"]);
}

#[test]
fn no_escalation_after_acknowledgement() {
    let mut p = page();
    p.escalate = vec![EscalationStep {
        after: mins(15),
        channels: vec!["mail".into()],
    }];
    let mut w = World::new(Some(p));
    w.state(Down, "x");
    w.now = t0() + mins(5);
    w.ack();
    assert!(w.at(60).is_empty());
}

#[test]
fn degradation_is_one_notice_per_episode_and_clears() {
    let p = policy(&["pd", "slack"], &[NotifyOn::Degraded, NotifyOn::Recovered]);
    let mut w = World::new(Some(p));
    w.state(Up, "ok");
    assert_eq!(w.state(Degraded, "slow"), ["Degraded pd", "Degraded slack"]);
    assert_eq!(w.m.degraded_since, Some(t0()));
    assert!(w.state(Degraded, "slower").is_empty());
    assert!(w.at(600).is_empty());
    assert_eq!(
        w.state(Up, "ok"),
        ["DegradedCleared pd", "DegradedCleared slack"]
    );
    assert_eq!(w.m.degraded_since, None);
    let fx = w.state(Degraded, "slow");
    assert_eq!(fx, ["Degraded pd", "Degraded slack"], "a new episode");
}

#[test]
fn degraded_keys_are_unique_per_episode() {
    let p = policy(&["slack"], &[NotifyOn::Degraded, NotifyOn::Recovered]);
    let mut w = World::new(Some(p));
    let a = w.with(|m, ctx| m.on_state(Degraded, "slow", Uuid::from_u128(7), ctx));
    let b = w.with(|m, ctx| m.on_state(Up, "ok", Uuid::from_u128(8), ctx));
    let c = w.with(|m, ctx| m.on_state(Degraded, "slow", Uuid::from_u128(9), ctx));
    let (e7, e9) = (Uuid::from_u128(7), Uuid::from_u128(9));
    assert_eq!(keys(&a), [format!("degraded:{e7}:slack")]);
    assert_eq!(keys(&b), [format!("degraded:{e7}:slack:cleared")]);
    assert_eq!(
        keys(&c),
        [format!("degraded:{e9}:slack")],
        "same instant, new key"
    );
}

#[test]
fn degraded_then_down_opens_an_incident_and_closes_the_warning_alert() {
    let p = policy(
        &["pd", "slack"],
        &[NotifyOn::Down, NotifyOn::Degraded, NotifyOn::Recovered],
    );
    let mut w = World::new(Some(p));
    w.state(Degraded, "slow");
    assert_eq!(
        w.state(Down, "timeout"),
        [
            "DegradedCleared pd",
            "open timeout",
            "Trigger pd",
            "Trigger slack"
        ]
    );
    // back to degraded: the incident resolves, a new degradation episode starts
    assert_eq!(
        w.state(Degraded, "slow"),
        [
            "resolve 0",
            "Resolved pd",
            "Resolved slack",
            "Degraded pd",
            "Degraded slack"
        ]
    );
}

#[test]
fn incident_on_degraded_opens_incidents_for_degradation() {
    let mut p = policy(&["slack"], &[NotifyOn::Degraded, NotifyOn::Recovered]);
    p.incident_on_degraded = true;
    let mut w = World::new(Some(p));
    assert_eq!(w.state(Degraded, "slow"), ["open slow", "Trigger slack"]);
    assert_eq!(w.state(Down, "timeout"), ["note now down: timeout"]);
    assert_eq!(w.state(Up, "ok"), ["resolve 0", "Resolved slack"]);
}

#[test]
fn pending_and_paused_neither_open_nor_resolve() {
    let mut p = page();
    p.remind_every = Some(mins(10));
    let mut w = World::new(Some(p));
    assert!(w.state(Pending, "").is_empty());
    w.state(Down, "x");
    assert!(w.state(Pending, "").is_empty());
    assert!(w.at(30).is_empty(), "unknown state: no reminders");
    assert!(w.state(Paused, "paused").is_empty());
    assert_eq!(w.m.next_wakeup(&w.ctx()), None);
    assert!(w.at(300).is_empty(), "paused: quiet, still open");
    assert!(w.m.incident.is_some());
    assert_eq!(w.state(Down, "x"), ["Reminder pd", "Reminder slack"]);
    assert!(w.state(Paused, "").is_empty());
    assert_eq!(w.state(Up, "ok")[0], "resolve 18000000");
}

#[test]
fn down_inside_maintenance_opens_nothing_and_opens_when_it_ends() {
    let mut w = World::new(Some(page()));
    w.state(Up, "ok");
    w.maint = true;
    assert!(w.tick().is_empty());
    assert!(w.state(Down, "x").is_empty());
    assert!(w.at(30).is_empty());
    assert!(w.m.incident.is_none());
    w.maint = false;
    assert_eq!(w.at(31), ["open x", "Trigger pd", "Trigger slack"]);
    assert_eq!(
        w.incident().id,
        Uuid::from_u128(1),
        "an id handed in earlier and never used"
    );
    assert_eq!(w.incident().opened_at, t0() + mins(31));
}

#[test]
fn outage_entirely_inside_maintenance_leaves_no_incident() {
    let mut w = World::new(Some(page()));
    w.maint = true;
    w.state(Down, "x");
    w.at(10);
    assert!(w.state(Up, "ok").is_empty());
    w.maint = false;
    assert!(w.at(40).is_empty());
    assert!(w.m.incident.is_none());
}

#[test]
fn maintenance_silences_an_open_incident_except_closing_alerts() {
    let mut p = page();
    p.remind_every = Some(mins(10));
    p.escalate = vec![EscalationStep {
        after: mins(20),
        channels: vec!["mail".into()],
    }];
    let mut w = World::new(Some(p));
    w.state(Down, "x");
    w.maint = true;
    assert!(w.at(5).is_empty());
    assert_eq!(w.m.next_wakeup(&w.ctx()), None);
    assert!(w.at(60).is_empty(), "no reminders, no escalation");
    assert_eq!(w.ack(), ["ack alice", "Acknowledged pd"]);
    assert_eq!(w.state(Up, "ok"), ["resolve 3600000", "Resolved pd"]);
}

#[test]
fn reminders_and_escalations_resume_after_maintenance() {
    let mut p = page();
    p.remind_every = Some(mins(10));
    p.escalate = vec![EscalationStep {
        after: mins(20),
        channels: vec!["mail".into()],
    }];
    let mut w = World::new(Some(p));
    w.state(Down, "x");
    w.maint = true;
    w.at(5);
    w.maint = false;
    assert_eq!(
        w.at(60),
        ["Reminder pd", "Reminder slack", "Escalation mail"]
    );
}

#[test]
fn parent_incident_holds_alerts_then_releases_them() {
    let mut p = page();
    p.escalate = vec![EscalationStep {
        after: mins(15),
        channels: vec!["mail".into()],
    }];
    let mut w = World::new(Some(p));
    let parent = Uuid::from_u128(999);
    w.parent = Some(parent);
    assert_eq!(w.state(Down, "x"), ["open held x"]);
    assert_eq!(w.incident().parent, Some(parent));
    assert_eq!(w.m.next_wakeup(&w.ctx()), None);
    assert!(w.at(60).is_empty());
    w.parent = None;
    assert_eq!(w.at(61), ["Trigger pd", "Trigger slack"]);
    assert!(!w.incident().held);
    // escalation counts from the release, not from the opening
    assert_eq!(w.m.next_wakeup(&w.ctx()), Some(t0() + mins(76)));
}

#[test]
fn held_incident_that_recovers_sends_nothing() {
    let mut w = World::new(Some(page()));
    w.parent = Some(Uuid::from_u128(999));
    w.state(Down, "x");
    assert_eq!(w.state(Up, "ok"), ["resolve 0"]);
}

#[test]
fn held_incident_acknowledged_before_release_stays_silent() {
    let mut w = World::new(Some(page()));
    w.parent = Some(Uuid::from_u128(999));
    w.state(Down, "x");
    assert_eq!(w.ack(), ["ack alice"]);
    w.parent = None;
    assert!(w.at(5).is_empty());
    assert_eq!(w.state(Up, "ok"), ["resolve 300000"]);
}

#[test]
fn parent_going_down_later_quiets_reminders_without_relinking() {
    let mut p = page();
    p.remind_every = Some(mins(10));
    let mut w = World::new(Some(p));
    w.state(Down, "x");
    w.parent = Some(Uuid::from_u128(999));
    assert!(w.at(30).is_empty());
    assert_eq!(w.incident().parent, None);
    w.parent = None;
    assert_eq!(w.at(31), ["Reminder pd", "Reminder slack"]);
}

#[test]
fn manual_resolve_is_refused_while_failing() {
    let mut w = World::new(Some(page()));
    w.state(Down, "x");
    assert!(w.resolve().is_empty());
    assert!(w.incident().acknowledged_at.is_none());
    assert_eq!(w.ack(), ["ack alice", "Acknowledged pd"]);
    assert!(w.resolve().is_empty(), "acknowledged or not");
    assert_eq!(
        w.state(Up, "ok"),
        ["resolve 0", "Resolved pd", "Resolved slack"]
    );
}

#[test]
fn manual_resolve_while_paused_then_failing_opens_a_new_incident() {
    let mut w = World::new(Some(page()));
    w.state(Down, "x");
    assert!(w.state(Paused, "").is_empty());
    assert_eq!(w.resolve(), ["resolve 0", "Resolved pd", "Resolved slack"]);
    assert!(w.resolve().is_empty());
    assert!(w.at(120).is_empty(), "nothing reopens by itself");
    assert!(w.state(Pending, "").is_empty());
    assert_eq!(
        w.state(Down, "x"),
        ["open x", "Trigger pd", "Trigger slack"],
        "resumed and still failing: a new incident"
    );
}

#[test]
fn manual_resolve_while_degraded_then_down_opens_a_new_incident() {
    let mut p = page();
    p.incident_on_degraded = true;
    let mut w = World::new(Some(p));
    w.state(Down, "x");
    // Degraded is failing with incident_on_degraded: refused.
    assert!(
        w.state(Degraded, "slow")
            .iter()
            .all(|e| !e.starts_with("resolve"))
    );
    assert!(w.resolve().is_empty());
    let mut w = World::new(Some(page()));
    w.state(Down, "x");
    w.state(Degraded, "slow");
    assert!(w.resolve().is_empty(), "merely degraded: already resolved");
    assert_eq!(w.state(Down, "x")[0], "open x");
}

#[test]
fn policy_channel_added_mid_incident_is_triggered() {
    let mut w = World::new(Some(policy(&["slack"], &[NotifyOn::Down])));
    w.state(Down, "x");
    w.policy.as_mut().unwrap().channels.push("mail".into());
    assert_eq!(w.tick(), ["Trigger mail"]);
}

#[test]
fn memory_round_trips_through_json() {
    let mut p = page();
    p.escalate = vec![EscalationStep {
        after: mins(15),
        channels: vec!["mail".into()],
    }];
    let mut w = World::new(Some(p));
    w.state(Down, "x");
    w.at(20);
    w.ack();
    let json = serde_json::to_value(&w.m).unwrap();
    assert_eq!(json["last_state"], "down");
    assert_eq!(
        json["incident"]["triggered"],
        serde_json::json!(["pd", "slack", "mail"])
    );
    let back: MonitorAlerting = serde_json::from_value(json).unwrap();
    assert_eq!(back, w.m);
    let old: MonitorAlerting = serde_json::from_str(r#"{"last_state":"up"}"#).unwrap();
    assert_eq!(old.last_state, Some(Up));
    assert_eq!(
        serde_json::to_value(NotifyEvent::DegradedCleared).unwrap(),
        "degraded_cleared"
    );
}

#[test]
fn a_repeated_state_changes_nothing() {
    let mut w = World::new(Some(page()));
    w.state(Down, "x");
    w.state(Down, "x");
    let before = w.m.clone();
    assert!(w.state(Down, "x").is_empty());
    assert_eq!(w.m, before, "nothing to store");
    w.state(Up, "ok");
    let before = w.m.clone();
    assert!(w.state(Up, "ok").is_empty());
    assert_eq!(w.m, before);
}

#[test]
fn settling_is_idempotent() {
    let mut p = page();
    p.remind_every = Some(mins(10));
    let mut w = World::new(Some(p));
    w.state(Down, "x");
    let before = w.m.clone();
    assert!(w.tick().is_empty());
    assert_eq!(w.m, before);
}

/// Property tests: random sequences of events against a reference model.
mod props {
    use std::collections::{HashMap, HashSet};

    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    use super::*;

    const CHANNELS: [&str; 3] = ["pd", "slack", "mail"];
    const CAUSES: [&str; 3] = ["timeout", "connection refused", "status 503"];

    #[derive(Debug, Clone)]
    enum Step {
        State(MonitorState, usize),
        /// `degraded` because fewer than `quorum` regions fail.
        Regional(usize),
        Ack,
        Resolve,
        Tick(u64),
        MaintenanceOn,
        MaintenanceOff,
        ParentOn,
        ParentOff,
    }

    fn step() -> impl Strategy<Value = Step> {
        let state = prop_oneof![
            Just(Up),
            Just(Degraded),
            Just(Down),
            Just(Pending),
            Just(Paused)
        ];
        prop_oneof![
            8 => (state, 0..CAUSES.len()).prop_map(|(s, c)| Step::State(s, c)),
            2 => (0..CAUSES.len()).prop_map(Step::Regional),
            1 => Just(Step::Ack),
            1 => Just(Step::Resolve),
            5 => (0u64..7200).prop_map(Step::Tick),
            1 => Just(Step::MaintenanceOn),
            1 => Just(Step::MaintenanceOff),
            1 => Just(Step::ParentOn),
            1 => Just(Step::ParentOff),
        ]
    }

    fn channels() -> impl Strategy<Value = Vec<String>> {
        proptest::sample::subsequence(CHANNELS.to_vec(), 0..=CHANNELS.len())
            .prop_map(|v| v.into_iter().map(String::from).collect())
    }

    fn policy() -> impl Strategy<Value = Option<PolicySpec>> {
        let notify = proptest::sample::subsequence(
            vec![
                NotifyOn::Down,
                NotifyOn::Degraded,
                NotifyOn::Recovered,
                NotifyOn::Acknowledged,
            ],
            0..=4,
        );
        let spec = (
            channels(),
            notify,
            proptest::option::of(1u64..90),
            proptest::collection::vec((1u64..60, channels()), 0..=2),
            any::<bool>(),
        )
            .prop_map(
                |(channels, notify_on, remind, steps, incident_on_degraded)| {
                    let mut after = 0;
                    let escalate = steps
                        .into_iter()
                        .map(|(gap, channels)| {
                            after += gap;
                            EscalationStep {
                                after: mins(after),
                                channels,
                            }
                        })
                        .collect();
                    PolicySpec {
                        name: "p".into(),
                        priority: Priority::P2,
                        channels,
                        notify_on,
                        remind_every: remind.map(mins),
                        escalate,
                        incident_on_degraded,
                    }
                },
            );
        prop_oneof![1 => Just(None), 5 => spec.prop_map(Some)]
    }

    /// What the model knows of one incident, from the effects alone.
    struct Inc {
        opened_at: Timestamp,
        triggered: Vec<String>,
        acked: bool,
        last_notified: Option<Timestamp>,
        /// The first step end at which it could alert (failing, not in
        /// maintenance, no parent incident): its opening, or its release.
        alerting_since: Option<Timestamp>,
    }

    struct Episode {
        id: Option<Uuid>,
        noticed: Vec<String>,
    }

    /// A regional episode: a maximal run of steps whose condition is a regional
    /// failure.
    struct RegionalEpisode {
        since: Timestamp,
        id: Option<Uuid>,
        noticed: Vec<String>,
    }

    /// The reference model. The monitor's condition is its last *informative*
    /// state (up, degraded or down; pending and paused change nothing). An
    /// outage is a maximal run of steps whose condition is failing (down, or
    /// degraded with `incident_on_degraded`). Each outage opens exactly one
    /// incident, at its first step outside maintenance at which the last state
    /// itself is failing (not pending or paused), or none if it has no such step
    /// (for instance when it lay entirely inside maintenance); the incident
    /// resolves at the step the outage ends, or at a manual resolve, and then
    /// nothing reopens in that outage. A degradation episode is a maximal run of
    /// steps whose condition is degraded without `incident_on_degraded`.
    struct Model {
        policy: Option<PolicySpec>,
        /// The last state of all: alerts go out only while it is failing.
        last: Option<MonitorState>,
        condition: Option<MonitorState>,
        outage_opened: bool,
        current: Option<Uuid>,
        incidents: HashMap<Uuid, Inc>,
        keys: HashSet<String>,
        episode: Option<Episode>,
        /// The last state was a regional failure.
        last_regional: bool,
        /// The condition is a regional failure.
        cond_regional: bool,
        /// The last informative state that was not a regional failure: degradation
        /// episodes ignore regional failures.
        deg_cond: Option<MonitorState>,
        regional: Option<RegionalEpisode>,
    }

    struct World {
        now: Timestamp,
        maint: bool,
        parent: Option<Uuid>,
    }

    impl Model {
        /// Whether a state, regional or not, is failing.
        fn failing_r(&self, s: Option<MonitorState>, regional: bool) -> bool {
            s == Some(Down)
                || (s == Some(Degraded)
                    && !regional
                    && self.policy.as_ref().is_some_and(|p| p.incident_on_degraded))
        }

        fn failing(&self, s: Option<MonitorState>) -> bool {
            self.failing_r(s, false)
        }

        fn notice(&self, s: Option<MonitorState>) -> bool {
            s == Some(Degraded) && !self.failing(s)
        }

        fn notifies(&self, on: NotifyOn) -> bool {
            self.policy.as_ref().is_some_and(|p| p.notifies(on))
        }

        fn check(
            &mut self,
            step: &Step,
            w: &World,
            fx: &[Effect],
            engine: &MonitorAlerting,
        ) -> Result<(), TestCaseError> {
            let (prev, prev_regional, prev_deg) =
                (self.condition, self.cond_regional, self.deg_cond);
            if let Step::State(s, _) = step {
                self.last = Some(*s);
                self.last_regional = false;
                if matches!(s, Up | Degraded | Down) {
                    self.condition = Some(*s);
                    self.cond_regional = false;
                    self.deg_cond = Some(*s);
                }
            }
            if let Step::Regional(_) = step {
                self.last = Some(Degraded);
                self.last_regional = true;
                self.condition = Some(Degraded);
                self.cond_regional = true;
            }
            let alerting =
                self.failing_r(self.last, self.last_regional) && !w.maint && w.parent.is_none();
            let (was_failing, is_failing) = (
                self.failing_r(prev, prev_regional),
                self.failing_r(self.condition, self.cond_regional),
            );
            // Regional episodes follow the condition.
            if self.cond_regional && !(prev == Some(Degraded) && prev_regional) {
                self.regional = Some(RegionalEpisode {
                    since: w.now,
                    id: None,
                    noticed: Vec::new(),
                });
            }
            if !self.cond_regional {
                self.regional = None;
            }

            // A state reported after a manual resolve ends what the resolve closed: a
            // failing one opens a new incident.
            if matches!(step, Step::State(..) | Step::Regional(_)) && self.current.is_none() {
                self.outage_opened = false;
            }
            // (1), (2): the incident lifecycle the model expects at this step
            let mut expect_open = false;
            let mut expect_resolve = None;
            if is_failing {
                if !was_failing {
                    self.outage_opened = false;
                }
                if !self.outage_opened && may_open(self, w) {
                    expect_open = true;
                    self.outage_opened = true;
                }
                // A manual resolve goes through unless the last state is failing.
                if matches!(step, Step::Resolve) && !self.failing_r(self.last, self.last_regional) {
                    expect_resolve = self.current;
                }
            } else if was_failing {
                expect_resolve = self.current;
            }

            let (was_notice, is_notice) = (self.notice(prev_deg), self.notice(self.deg_cond));
            let mut ended = None;
            if was_notice && !is_notice {
                ended = self.episode.take();
            }
            if is_notice && !was_notice {
                self.episode = Some(Episode {
                    id: None,
                    noticed: Vec::new(),
                });
            }

            let last_notified_before: HashMap<Uuid, Option<Timestamp>> = self
                .incidents
                .iter()
                .map(|(id, i)| (*id, i.last_notified))
                .collect();
            let mut opened = 0;
            let mut resolved = None;
            let mut acked_now = None;
            let mut paged = HashSet::new();
            let mut resolved_to = Vec::new();
            let mut acked_to = Vec::new();
            let mut cleared_to = Vec::new();

            for e in fx {
                match e {
                    Effect::Open {
                        incident,
                        parent,
                        held,
                        ..
                    } => {
                        prop_assert!(expect_open && opened == 0, "unexpected open");
                        opened += 1;
                        prop_assert!(self.current.is_none(), "two incidents open");
                        prop_assert_eq!(*parent, w.parent);
                        prop_assert_eq!(*held, w.parent.is_some());
                        prop_assert!(!self.incidents.contains_key(incident), "id reused");
                        self.current = Some(*incident);
                        self.incidents.insert(
                            *incident,
                            Inc {
                                opened_at: w.now,
                                triggered: Vec::new(),
                                acked: false,
                                last_notified: None,
                                alerting_since: None,
                            },
                        );
                    }
                    Effect::Resolve {
                        incident,
                        duration_ms,
                    } => {
                        prop_assert_eq!(Some(*incident), expect_resolve, "unexpected resolve");
                        prop_assert!(resolved.is_none());
                        prop_assert_eq!(self.current, Some(*incident));
                        let inc = &self.incidents[incident];
                        let expected = w.now.duration_since(inc.opened_at).as_millis();
                        prop_assert_eq!(i128::from(*duration_ms), expected);
                        self.current = None;
                        resolved = Some(*incident);
                    }
                    Effect::Acknowledge { incident, .. } => {
                        prop_assert!(matches!(step, Step::Ack));
                        prop_assert_eq!(self.current, Some(*incident));
                        let inc = self.incidents.get_mut(incident).unwrap();
                        prop_assert!(!inc.acked, "acknowledged twice");
                        inc.acked = true;
                        acked_now = Some(*incident);
                    }
                    Effect::Note { incident, .. } => {
                        prop_assert!(matches!(step, Step::State(..)));
                        prop_assert_eq!(self.current, Some(*incident));
                    }
                    Effect::Notify {
                        incident,
                        channel,
                        event,
                        key,
                    } => {
                        use NotifyEvent as E;
                        // (7) nothing is sent without a policy
                        let Some(p) = self.policy.as_ref() else {
                            return Err(TestCaseError::fail(format!("{e:?} without a policy")));
                        };
                        // (3) no key twice, ever
                        prop_assert!(self.keys.insert(key.clone()), "key {} twice", key);
                        // (5) maintenance: closing notices to closing channels only
                        if w.maint {
                            prop_assert!(
                                matches!(event, E::Resolved | E::Acknowledged | E::DegradedCleared)
                                    && closes(channel),
                                "{:?} during maintenance",
                                e
                            );
                        }
                        // held back while a parent incident is open
                        if w.parent.is_some() {
                            prop_assert!(
                                !matches!(
                                    event,
                                    E::Trigger | E::Reminder | E::Escalation | E::Degraded
                                ),
                                "{:?} while a parent incident is open",
                                e
                            );
                        }
                        match (incident, event) {
                            (Some(id), E::Trigger | E::Reminder | E::Escalation) => {
                                prop_assert_eq!(self.current, Some(*id));
                                let inc = self.incidents.get_mut(id).unwrap();
                                // (6) nothing new after an acknowledgement
                                prop_assert!(!inc.acked, "{:?} after ack", e);
                                prop_assert!(pages(p));
                                match event {
                                    E::Trigger => {
                                        prop_assert!(p.channels.contains(channel));
                                        // (3) one trigger per incident and channel
                                        prop_assert!(!inc.triggered.contains(channel));
                                        prop_assert_eq!(key, &format!("{id}:{channel}:trigger"));
                                        inc.triggered.push(channel.clone());
                                    }
                                    E::Escalation => {
                                        let n: usize = key
                                            .strip_prefix(&format!("{id}:{channel}:escalation:"))
                                            .and_then(|n| n.parse().ok())
                                            .unwrap();
                                        let step = &p.escalate[n - 1];
                                        prop_assert!(step.channels.contains(channel));
                                        prop_assert!(!inc.triggered.contains(channel));
                                        let since = inc.alerting_since.unwrap();
                                        prop_assert!(
                                            since + step.after <= w.now,
                                            "escalation early"
                                        );
                                        inc.triggered.push(channel.clone());
                                    }
                                    _ => {
                                        prop_assert!(inc.triggered.contains(channel));
                                        let every = p.remind_every.unwrap();
                                        let last = last_notified_before[id].unwrap();
                                        prop_assert!(last + every <= w.now, "reminder early");
                                    }
                                }
                                paged.insert(*id);
                            }
                            (Some(id), E::Resolved) => {
                                prop_assert_eq!(resolved, Some(*id));
                                // (4) only to channels that were triggered
                                prop_assert!(self.incidents[id].triggered.contains(channel));
                                prop_assert_eq!(key, &format!("{id}:{channel}:resolve"));
                                resolved_to.push(channel.clone());
                            }
                            (Some(id), E::Acknowledged) => {
                                prop_assert_eq!(acked_now, Some(*id));
                                prop_assert!(self.incidents[id].triggered.contains(channel));
                                acked_to.push(channel.clone());
                            }
                            (None, E::Regional) => {
                                // one notice per channel, to non-paging channels, when
                                // the regional failure has lasted 5 minutes and is
                                // the last state
                                prop_assert!(self.last == Some(Degraded) && self.last_regional);
                                prop_assert!(p.channels.contains(channel) && !closes(channel));
                                let ep = self.regional.as_mut().unwrap();
                                prop_assert!(
                                    ep.since + DEFAULT_REGIONAL_NOTICE_AFTER <= w.now,
                                    "regional notice early"
                                );
                                let id: Uuid = key
                                    .strip_prefix("regional:")
                                    .and_then(|k| k.strip_suffix(&format!(":{channel}")))
                                    .and_then(|k| k.parse().ok())
                                    .unwrap();
                                prop_assert_eq!(*ep.id.get_or_insert(id), id);
                                prop_assert!(!ep.noticed.contains(channel));
                                ep.noticed.push(channel.clone());
                            }
                            (None, E::Degraded) => {
                                prop_assert!(
                                    self.last == Some(Degraded)
                                        && !self.last_regional
                                        && self.notice(self.deg_cond)
                                );
                                prop_assert!(p.notifies(NotifyOn::Degraded));
                                prop_assert!(p.channels.contains(channel));
                                let ep = self.episode.as_mut().unwrap();
                                let id: Uuid = key
                                    .strip_prefix("degraded:")
                                    .and_then(|k| k.strip_suffix(&format!(":{channel}")))
                                    .and_then(|k| k.parse().ok())
                                    .unwrap();
                                prop_assert_eq!(*ep.id.get_or_insert(id), id);
                                prop_assert!(!ep.noticed.contains(channel));
                                ep.noticed.push(channel.clone());
                            }
                            (None, E::DegradedCleared) => {
                                let ep = ended.as_ref().unwrap();
                                prop_assert!(ep.noticed.contains(channel));
                                prop_assert_eq!(
                                    key,
                                    &format!("degraded:{}:{channel}:cleared", ep.id.unwrap())
                                );
                                cleared_to.push(channel.clone());
                            }
                            _ => return Err(TestCaseError::fail(format!("malformed {e:?}"))),
                        }
                    }
                }
            }
            prop_assert_eq!(opened == 1, expect_open, "expected an open");
            prop_assert_eq!(resolved, expect_resolve, "expected a resolve");
            for id in paged {
                self.incidents.get_mut(&id).unwrap().last_notified = Some(w.now);
            }

            // (4) closing notices go exactly where they must
            let closing = |triggered: &[String], on: NotifyOn, healthy: bool| -> Vec<String> {
                triggered
                    .iter()
                    .filter(|c| closes(c) || (healthy && self.notifies(on) && !w.maint))
                    .cloned()
                    .collect()
            };
            if let Some(id) = resolved {
                let want = closing(&self.incidents[&id].triggered, NotifyOn::Recovered, true);
                prop_assert_eq!(&resolved_to, &want, "resolved notices");
            }
            if let Some(id) = acked_now {
                let want = closing(&self.incidents[&id].triggered, NotifyOn::Acknowledged, true);
                prop_assert_eq!(&acked_to, &want, "acknowledged notices");
            }
            if let Some(ep) = &ended {
                let healthy = self.condition == Some(Up);
                let want = closing(&ep.noticed, NotifyOn::Recovered, healthy);
                prop_assert_eq!(&cleared_to, &want, "degraded-cleared notices");
            }

            // the engine agrees with the model
            prop_assert_eq!(engine.incident.as_ref().map(|i| i.id), self.current);
            prop_assert_eq!(engine.degraded_since.is_some(), self.episode.is_some());
            if let Some(id) = self.current {
                prop_assert!(is_failing, "incident open while not failing");
                let inc = self.incidents.get_mut(&id).unwrap();
                if inc.alerting_since.is_none() && alerting {
                    inc.alerting_since = Some(w.now);
                }
                let eng = engine.incident.as_ref().unwrap();
                prop_assert_eq!(eng.alerting_since, inc.alerting_since);
                prop_assert_eq!(&eng.triggered, &inc.triggered);
                // liveness: an incident that may alert has sent everything due
                if let Some(p) = &self.policy
                    && pages(p)
                    && !inc.acked
                    && alerting
                {
                    let since = inc.alerting_since.unwrap();
                    for c in &p.channels {
                        prop_assert!(inc.triggered.contains(c), "{} not triggered", c);
                    }
                    for s in &p.escalate {
                        if since + s.after <= w.now {
                            for c in &s.channels {
                                prop_assert!(inc.triggered.contains(c), "{} not escalated", c);
                            }
                        }
                    }
                    if let Some(every) = p.remind_every
                        && !inc.triggered.is_empty()
                    {
                        prop_assert!(
                            inc.last_notified.unwrap() + every > w.now,
                            "reminder overdue"
                        );
                    }
                }
            }
            // regional episodes: the engine agrees, and a due notice went out
            prop_assert_eq!(
                engine.regional_since,
                self.regional.as_ref().map(|e| e.since)
            );
            if let (Some(ep), Some(p)) = (&self.regional, &self.policy)
                && self.last_regional
                && !w.maint
                && w.parent.is_none()
                && ep.since + DEFAULT_REGIONAL_NOTICE_AFTER <= w.now
            {
                for c in p.channels.iter().filter(|c| !closes(c)) {
                    prop_assert!(
                        ep.noticed.contains(c),
                        "{} not told of the regional failure",
                        c
                    );
                }
            }
            if let (Some(ep), Some(p)) = (&self.episode, &self.policy)
                && p.notifies(NotifyOn::Degraded)
                && self.last == Some(Degraded)
                && !self.last_regional
                && !w.maint
                && w.parent.is_none()
            {
                for c in &p.channels {
                    prop_assert!(ep.noticed.contains(c), "{} not told of the degradation", c);
                }
            }
            Ok(())
        }
    }

    /// Whether the engine may open an incident at this step: outside maintenance,
    /// the monitor seen failing.
    fn may_open(m: &Model, w: &World) -> bool {
        !w.maint && m.failing_r(m.last, m.last_regional)
    }

    fn run(policy: Option<PolicySpec>, steps: &[Step]) -> Result<(), TestCaseError> {
        let mut m = MonitorAlerting::default();
        let mut model = Model {
            policy: policy.clone(),
            last: None,
            condition: None,
            outage_opened: false,
            current: None,
            incidents: HashMap::new(),
            keys: HashSet::new(),
            episode: None,
            last_regional: false,
            cond_regional: false,
            deg_cond: None,
            regional: None,
        };
        let mut w = World {
            now: t0(),
            maint: false,
            parent: None,
        };
        let mut ids = 0u128;
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Tick(s) => w.now += Duration::from_secs(*s),
                Step::MaintenanceOn => w.maint = true,
                Step::MaintenanceOff => w.maint = false,
                Step::ParentOn => {
                    ids += 1;
                    w.parent = Some(Uuid::from_u128((1 << 100) | ids));
                }
                Step::ParentOff => w.parent = None,
                Step::State(..) | Step::Regional(_) | Step::Ack | Step::Resolve => {}
            }
            let ctx = Context {
                now: w.now,
                policy: policy.as_ref(),
                in_maintenance: w.maint,
                parent_incident: w.parent,
                closes_alerts: &closes,
                regional: matches!(step, Step::Regional(_)),
                regional_notice_after: DEFAULT_REGIONAL_NOTICE_AFTER,
            };
            let fx = match step {
                Step::State(s, c) => {
                    ids += 1;
                    m.on_state(*s, CAUSES[*c], Uuid::from_u128(ids), &ctx)
                }
                Step::Regional(c) => {
                    ids += 1;
                    m.on_state(Degraded, CAUSES[*c], Uuid::from_u128(ids), &ctx)
                }
                Step::Ack => m.on_acknowledge("bob", &ctx),
                Step::Resolve => m.on_resolve(&ctx),
                _ => m.on_tick(&ctx),
            };
            model
                .check(step, &w, &fx, &m)
                .map_err(|e| TestCaseError::fail(format!("step {i} {step:?} -> {fx:?}: {e}")))?;

            // settled: another tick with the same context does nothing
            let mut again = m.clone();
            prop_assert!(again.on_tick(&ctx).is_empty(), "step {}: not settled", i);
            prop_assert_eq!(&again, &m);
            // next_wakeup: nothing to do before it, something to do at it
            match m.next_wakeup(&ctx) {
                Some(t) => {
                    prop_assert!(t > w.now);
                    let just_before = t - Duration::from_millis(1);
                    if just_before > w.now {
                        let mut c = m.clone();
                        let early = c.on_tick(&Context {
                            now: just_before,
                            ..ctx
                        });
                        prop_assert!(early.is_empty(), "step {}: early {:?}", i, early);
                        prop_assert_eq!(&c, &m);
                    }
                    let mut c = m.clone();
                    let fx = c.on_tick(&Context { now: t, ..ctx });
                    prop_assert!(!fx.is_empty() || c != m, "step {}: idle wakeup", i);
                }
                None => {
                    let mut c = m.clone();
                    let later = w.now + Duration::from_secs(30 * 86_400);
                    let late = c.on_tick(&Context { now: later, ..ctx });
                    prop_assert!(late.is_empty(), "step {}: unannounced {:?}", i, late);
                    prop_assert_eq!(&c, &m);
                }
            }
            // the memory survives storage
            let back: MonitorAlerting =
                serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            prop_assert_eq!(&back, &m);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            // keep failures in the output, not in files beside the sources
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn engine_matches_the_reference_model(
            policy in policy(),
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            run(policy, &steps)?;
        }
    }
}
