//! The incident and alerting engine: a pure state machine that turns a monitor's state
//! changes, acknowledgements, manual resolves and the passing of time into effects
//! (open / acknowledge / resolve an incident, add a timeline note, notify a channel).
//!
//! It performs no I/O, never reads the clock (`now` comes in [`Context`]) and makes no
//! ids (a fresh one comes with every [`MonitorAlerting::on_state`]). Its memory per
//! monitor, [`MonitorAlerting`], is plain serialisable data that the server stores as
//! JSON; the server carries the effects out (incident rows, timeline, the notification
//! outbox keyed by [`Effect::Notify`]'s `key`) and sleeps until
//! [`MonitorAlerting::next_wakeup`] before calling [`MonitorAlerting::on_tick`].
//!
//! Every entry point except `on_acknowledge` / `on_resolve` ends by *settling*: it
//! brings the memory in line with the current state and context (resolve what has
//! recovered, open what is failing, release held alerts, send due triggers, reminders
//! and escalations). Settling is idempotent, so calling `on_tick` again with the same
//! context does nothing.
//!
//! # What counts as what
//!
//! The engine classifies the monitor's last state with the current policy:
//!
//! * **failing**: `down`, and `degraded` when the policy has `incident_on_degraded`.
//!   A failing monitor has an incident (outside maintenance, see below).
//! * **degraded notice**: `degraded` otherwise. An open incident resolves (the monitor
//!   works again, if slowly: an incident stays one condition, "down", and the
//!   degradation that follows is reported as such), and a *degradation episode* starts.
//! * **healthy**: `up`. Resolves the incident, ends a degradation episode.
//! * **unknown**: `pending` (no data, e.g. after a restart or an edit), `paused`, and
//!   `maintenance` if the server passes it (the [`Context::in_maintenance`] flag is
//!   what counts). Unknown states are *transparent*: they neither open nor resolve,
//!   start nor end anything. An outage interrupted by `pending` is still one outage.
//!   While the state is unknown nothing is sent for the open incident (no reminders,
//!   no escalations): a paused monitor keeps its open incident, quietly, until it is
//!   resumed and recovers (or goes on failing, when reminders resume).
//!
//! An *outage* is a maximal run of failing states (unknown states in between do not
//! break it). Each outage has at most one incident, and exactly one unless the outage
//! lay entirely inside maintenance.
//!
//! # Rules
//!
//! * **Open**: failing, no incident open, not in maintenance, and the outage was not
//!   resolved by hand → [`Effect::Open`], recorded even without a policy (priority P3
//!   then). If a monitor this one `depends_on` has an open incident
//!   ([`Context::parent_incident`]), the incident is linked to it and *held*: nothing is
//!   sent for it until the parent's incident is gone, the monitor is still failing and
//!   no maintenance covers it; then it is *released* and its triggers go out. A held
//!   incident that recovers first resolves silently.
//! * **Trigger**: one [`NotifyEvent::Trigger`] per policy channel per incident, when the
//!   policy pages: `notify_on` contains `down`, or `degraded` when the policy has
//!   `incident_on_degraded` (so `notify_on: [degraded]` still pages for degraded
//!   incidents). Triggers go to any policy channel not yet triggered whenever the
//!   incident may alert, so a channel added to the policy mid-incident is told too.
//! * **Repeated failure** while open sends nothing. A different cause in words adds an
//!   [`Effect::Note`] for the timeline (and becomes the incident's `cause`).
//! * **Resolve** (healthy, degraded notice, or by hand) → [`Effect::Resolve`] and
//!   [`NotifyEvent::Resolved`] to every channel that was triggered (by trigger or
//!   escalation) when `notify_on` contains `recovered`, and *always* to the triggered
//!   channels that close alerts ([`Context::closes_alerts`], PagerDuty): an alert that
//!   was opened is always closed.
//! * **Acknowledge** → [`Effect::Acknowledge`] and [`NotifyEvent::Acknowledged`] to the
//!   triggered channels when `notify_on` contains `acknowledged`, always to the
//!   triggered channels that close alerts. After an acknowledgement nothing new is sent
//!   for the incident: no reminders, no escalations, and no triggers (a held incident
//!   acknowledged before its release stays silent: somebody is on it already).
//!   Acknowledging twice, or with nothing open, does nothing.
//! * **Reminders**: while the incident may alert (see below) and `remind_every` has
//!   passed since the incident last paged anyone (trigger, reminder or escalation), a
//!   [`NotifyEvent::Reminder`] to every triggered channel, numbered in the key. A tick
//!   that comes late sends one reminder, not a burst.
//! * **Escalation**: step *i* fires once, in order, when the incident has alerted for
//!   `after` (counted from `opened_at`, or from the release of a held incident: a step
//!   means "unacknowledged for that long after people were told") → a
//!   [`NotifyEvent::Escalation`] to each of the step's channels not already triggered;
//!   those channels count as triggered from then on (reminders, ack, resolve).
//! * An incident **may alert** while: a policy exists and pages, the incident is not
//!   held and not acknowledged, the monitor is failing (not unknown), no maintenance
//!   window covers it and no parent incident is open ("while one of them is down, this
//!   one's alerts are held back"; an incident opened before its parent went down keeps
//!   its triggers but sends no reminders or escalations meanwhile; it is not re-linked).
//!
//! # Maintenance
//!
//! Windows "keep checking but send nothing, show maintenance, and do not count as
//! downtime", so a failure inside a window opens **no** incident. The engine remembers
//! the state; if the monitor is still failing when the window ends, the next
//! `on_tick` (or `on_state`) opens the incident then, with triggers. An outage wholly
//! inside a window leaves no incident. An incident opened before a window began stays
//! open through it, silently. During a window the only notifications ever sent are
//! the closing ones to channels that close alerts: `Resolved`, `Acknowledged` and
//! `DegradedCleared`. Other channels miss the recovery of an incident they were told
//! about if it recovers inside the window (the rule is "send nothing"); the timeline
//! still shows it.
//!
//! # Manual resolve
//!
//! [`MonitorAlerting::on_resolve`] closes the incident only while the monitor is not
//! failing — paused, pending, merely degraded or regional: closing the record of an
//! outage that goes on would hide it, so a resolve while failing is refused
//! ([`MonitorAlerting::resolve_refused`]) and the operator is told to acknowledge or
//! pause instead. Once resolved by hand nothing reopens until the next state is
//! reported: a failing one (a resumed monitor that still fails) opens a new incident,
//! as any failure does.
//!
//! # Degradation notices
//!
//! A degradation episode (degraded without `incident_on_degraded`) sends one
//! [`NotifyEvent::Degraded`] per policy channel when `notify_on` contains `degraded`
//! (held back, like alerts, during maintenance and while a parent incident is open).
//! It ends when the monitor is up, with [`NotifyEvent::DegradedCleared`] to the
//! channels told when `notify_on` contains `recovered` (always to channels that close
//! alerts), or when it goes down, which opens an incident; then only channels that
//! close alerts get `DegradedCleared` (their warning alert is superseded by the
//! incident's). Episode keys carry an episode id (taken from the `new_id` of the
//! `on_state` call that started it), so they are unique across monitors.
//!
//! # Regional failures
//!
//! With several regions, a failure seen by fewer than `quorum` of them leaves the
//! monitor `degraded`, and the server says so with [`Context::regional`] on the
//! `on_state` call. Such a state is a *regional failure*, not a warning:
//!
//! * it never opens an incident, even with `incident_on_degraded` (no page without
//!   consensus), and it resolves an open one (recovery is "fewer than `quorum`
//!   regions fail");
//! * it sends no degradation notice at once; a *regional episode* starts, and when it
//!   has lasted [`Context::regional_notice_after`] (5 minutes by default) one
//!   [`NotifyEvent::Regional`] goes to each policy channel that does not page people
//!   (channels that close alerts, PagerDuty, are the paging ones), whatever
//!   `notify_on` says: a red tile never sits silent. Held back, like everything,
//!   during maintenance and while a parent incident is open, and sent when they end
//!   if the episode goes on;
//! * the episode ends when the monitor is up, merely degraded, or down (then the
//!   incident speaks for it). Its end is not announced: the notice paged nobody and
//!   said it was regional; the monitor's page shows the rest. Unknown states are
//!   transparent, as everywhere: they neither end the episode nor send its notice
//!   (it goes out when the regional failure is reported again, if due).
//!
//! Keys: `regional:<episode>:<channel>`.
//!
//! # Ids and keys
//!
//! `on_tick` has no `new_id`: an incident opened when a window ends uses an id that
//! came with an earlier `on_state` and was not used, kept as
//! [`MonitorAlerting::spare_id`]. (Should there be none, which the engine itself
//! never leaves, the incident opens at the next `on_state`.)
//! Keys are `<incident>:<channel>:trigger`, `…:reminder:<n>`, `…:escalation:<step>`
//! (1-based), `…:ack`, `…:resolve`, and `degraded:<episode>:<channel>` /
//! `degraded:<episode>:<channel>:cleared`. No key is ever produced twice.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::alert::{NotifyOn, PolicySpec, Priority};
use crate::state::MonitorState;

/// The priority of incidents of monitors without a policy (the policy default).
pub const DEFAULT_PRIORITY: Priority = Priority::P3;

/// Per-monitor alerting memory; serialisable (the server stores it as JSON per
/// monitor). Fields missing from stored JSON take their defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonitorAlerting {
    /// The monitor state last seen.
    pub last_state: Option<MonitorState>,
    pub last_cause: Option<String>,
    /// Boxed: most monitors have none, and the driver keeps this memory for every
    /// monitor (≈ 230 bytes saved per monitor without one).
    pub incident: Option<Box<OpenIncident>>,
    /// Start of the current degradation episode (degraded, no incident).
    pub degraded_since: Option<Timestamp>,
    /// Channels told about the current degradation episode.
    pub degraded_notified: Vec<String>,
    /// Id of the current degradation episode, used in its notification keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded_episode: Option<Uuid>,
    /// The incident was resolved by hand: nothing reopens until the next state is
    /// reported.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resolved_by_hand: bool,
    /// Start of the current regional episode (a failure seen by fewer than `quorum`
    /// regions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regional_since: Option<Timestamp>,
    /// Id of the current regional episode, used in its notification key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regional_episode: Option<Uuid>,
    /// The current regional episode's notice was sent (or was due with no channel).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub regional_notified: bool,
    /// The last state was a regional failure (see [`Context::regional`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub last_regional: bool,
    /// A fresh id handed in by an earlier `on_state` and never used; `on_tick` opens
    /// with it (it has no id of its own). Kept, not replaced, by later calls, so that
    /// a repeated identical `on_state` leaves the memory unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spare_id: Option<Uuid>,
}

/// The open incident of a monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenIncident {
    pub id: Uuid,
    pub opened_at: Timestamp,
    pub priority: Priority,
    /// The latest cause in words ([`Effect::Open`] carried the first).
    pub cause: String,
    #[serde(default)]
    pub acknowledged_at: Option<Timestamp>,
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    /// Channels that were sent a trigger or an escalation (in order, no duplicates).
    #[serde(default)]
    pub triggered: Vec<String>,
    #[serde(default)]
    pub reminders_sent: u32,
    /// When this incident last paged anyone (trigger, reminder or escalation).
    #[serde(default)]
    pub last_notified_at: Option<Timestamp>,
    /// How many escalate steps have fired.
    #[serde(default)]
    pub escalations_fired: u32,
    /// Incident of a monitor this one depends on, if linked.
    #[serde(default)]
    pub parent: Option<Uuid>,
    /// Alerts held: opened while a parent incident was open, not released yet.
    #[serde(default)]
    pub held: bool,
    /// When alerting began: `opened_at`, or the release of a held incident; `None`
    /// while held. Escalation steps count from here.
    #[serde(default)]
    pub alerting_since: Option<Timestamp>,
}

/// What the engine is told besides the event.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub now: Timestamp,
    /// `None`: incidents are recorded, nothing is sent.
    pub policy: Option<&'a PolicySpec>,
    /// An active maintenance window covers the monitor.
    pub in_maintenance: bool,
    /// An open incident of a monitor this one `depends_on`.
    pub parent_incident: Option<Uuid>,
    /// Channels whose alerts must be acknowledged/resolved (PagerDuty): they always get
    /// `Acknowledged`/`Resolved` for incidents they were triggered on, whatever
    /// `notify_on` says, even during maintenance.
    pub closes_alerts: &'a dyn Fn(&str) -> bool,
    /// Read by `on_state` only: the `degraded` state it reports is a failure seen by
    /// fewer than `quorum` regions, not a warning (see "Regional failures").
    pub regional: bool,
    /// How long a regional failure lasts before its one notice goes out.
    pub regional_notice_after: Duration,
}

pub use crate::monitor::DEFAULT_REGIONAL_NOTICE_AFTER;

impl<'a> Context<'a> {
    /// A context outside maintenance, without a parent incident.
    pub fn new(
        now: Timestamp,
        policy: Option<&'a PolicySpec>,
        closes_alerts: &'a dyn Fn(&str) -> bool,
    ) -> Self {
        Self {
            now,
            policy,
            in_maintenance: false,
            parent_incident: None,
            closes_alerts,
            regional: false,
            regional_notice_after: DEFAULT_REGIONAL_NOTICE_AFTER,
        }
    }

    fn notifies(&self, on: NotifyOn) -> bool {
        self.policy.is_some_and(|p| p.notifies(on))
    }

    /// Whether `channel` gets a closing notification (`Resolved`, `Acknowledged`,
    /// `DegradedCleared`) that `notify_on` may ask for with `on`.
    fn closing_goes_to(&self, channel: &str, on: NotifyOn) -> bool {
        (self.closes_alerts)(channel) || (self.notifies(on) && !self.in_maintenance)
    }
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    Trigger,
    Reminder,
    Escalation,
    Acknowledged,
    Resolved,
    Degraded,
    DegradedCleared,
    /// A failure seen by fewer than `quorum` regions has lasted
    /// `regional_notice_after`.
    Regional,
}

/// What the server must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Open {
        incident: Uuid,
        priority: Priority,
        cause: String,
        parent: Option<Uuid>,
        held: bool,
    },
    /// `key` is an idempotency key unique per (incident or degradation episode, channel,
    /// event, sequence); see the module docs for its forms.
    Notify {
        incident: Option<Uuid>,
        channel: String,
        event: NotifyEvent,
        key: String,
    },
    Acknowledge {
        incident: Uuid,
        by: String,
    },
    Resolve {
        incident: Uuid,
        duration_ms: i64,
    },
    /// The cause in words changed while open (e.g. a different failure): for the
    /// timeline only.
    Note {
        incident: Uuid,
        text: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Failing,
    /// Degraded because fewer than `quorum` regions fail.
    Regional,
    DegradedNotice,
    Healthy,
    Unknown,
}

fn classify(state: Option<MonitorState>, regional: bool, policy: Option<&PolicySpec>) -> Class {
    match state {
        Some(MonitorState::Down) => Class::Failing,
        Some(MonitorState::Degraded) if regional => Class::Regional,
        Some(MonitorState::Degraded) if policy.is_some_and(|p| p.incident_on_degraded) => {
            Class::Failing
        }
        Some(MonitorState::Degraded) => Class::DegradedNotice,
        Some(MonitorState::Up) => Class::Healthy,
        None | Some(MonitorState::Pending | MonitorState::Paused | MonitorState::Maintenance) => {
            Class::Unknown
        }
    }
}

/// Whether the policy pages for incidents at all.
fn pages(p: &PolicySpec) -> bool {
    p.notifies(NotifyOn::Down) || (p.incident_on_degraded && p.notifies(NotifyOn::Degraded))
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn notify(incident: Uuid, channel: &str, event: NotifyEvent, suffix: &str) -> Effect {
    Effect::Notify {
        incident: Some(incident),
        channel: channel.to_owned(),
        event,
        key: format!("{incident}:{channel}:{suffix}"),
    }
}

impl OpenIncident {
    /// Whether this incident may send new alerts now (see the module docs).
    fn may_alert(&self, class: Class, ctx: &Context) -> bool {
        ctx.policy.is_some_and(pages)
            && !self.held
            && self.acknowledged_at.is_none()
            && class == Class::Failing
            && !ctx.in_maintenance
            && ctx.parent_incident.is_none()
    }

    fn since(&self) -> Timestamp {
        self.alerting_since.unwrap_or(self.opened_at)
    }
}

impl MonitorAlerting {
    fn class(&self, ctx: &Context) -> Class {
        classify(self.last_state, self.last_regional, ctx.policy)
    }

    /// The monitor's (aggregate) state is now `to`, for reason `cause`. `new_id` is a
    /// fresh id the engine uses if it opens an incident (or starts a degradation
    /// episode); an unused one is kept for `on_tick` unless one is kept already.
    /// Calling it again with the same state and cause changes nothing.
    pub fn on_state(
        &mut self,
        to: MonitorState,
        cause: &str,
        new_id: Uuid,
        ctx: &Context,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.last_state = Some(to);
        self.last_regional = ctx.regional && to == MonitorState::Degraded;
        self.resolved_by_hand = false;
        self.last_cause = Some(cause.to_owned());
        if classify(Some(to), self.last_regional, ctx.policy) == Class::Failing
            && let Some(inc) = &mut self.incident
            && inc.cause != cause
        {
            inc.cause = cause.to_owned();
            fx.push(Effect::Note {
                incident: inc.id,
                text: format!("now {}: {cause}", to.as_str()),
            });
        }
        let mut fresh = Some(new_id);
        self.settle(ctx, &mut fx, &mut fresh);
        if self.spare_id.is_none() {
            self.spare_id = fresh;
        }
        fx
    }

    /// Acknowledges the open incident by `by`. Does nothing when nothing is open or it
    /// was acknowledged already.
    pub fn on_acknowledge(&mut self, by: &str, ctx: &Context) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(inc) = &mut self.incident else {
            return fx;
        };
        if inc.acknowledged_at.is_some() {
            return fx;
        }
        inc.acknowledged_at = Some(ctx.now);
        inc.acknowledged_by = Some(by.to_owned());
        fx.push(Effect::Acknowledge {
            incident: inc.id,
            by: by.to_owned(),
        });
        for ch in &inc.triggered {
            if ctx.closing_goes_to(ch, NotifyOn::Acknowledged) {
                fx.push(notify(inc.id, ch, NotifyEvent::Acknowledged, "ack"));
            }
        }
        fx
    }

    /// Manual resolve (from the API or the UI): the incident closes, unless the monitor
    /// is failing ([`MonitorAlerting::resolve_refused`]). Nothing reopens until the next
    /// state is reported. Does nothing when nothing is open, or when refused.
    pub fn on_resolve(&mut self, ctx: &Context) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.incident.is_some() && !self.resolve_refused(ctx) {
            self.resolve(ctx, &mut fx);
            self.resolved_by_hand = true;
        }
        fx
    }

    /// Whether a manual resolve is refused now: an incident is open and the monitor is
    /// failing (see "Manual resolve").
    pub fn resolve_refused(&self, ctx: &Context) -> bool {
        self.incident.is_some() && self.class(ctx) == Class::Failing
    }

    /// Time passes, or the context changed (maintenance began or ended, a parent
    /// incident opened or closed, the policy changed): reminders, escalations,
    /// releasing held alerts, opening the incident of a monitor that stayed down
    /// through a maintenance window that has now ended.
    pub fn on_tick(&mut self, ctx: &Context) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.settle(ctx, &mut fx, &mut None);
        fx
    }

    /// When `on_tick` next has something to do with this context (a reminder or an
    /// escalation due), if ever. Changes of context (maintenance, parent incidents)
    /// are the server's to push through `on_tick`.
    pub fn next_wakeup(&self, ctx: &Context) -> Option<Timestamp> {
        let regional = self.regional_notice_due(ctx);
        match (self.incident_wakeup(ctx), regional) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the regional notice is due, while one is still to be sent and may be.
    fn regional_notice_due(&self, ctx: &Context) -> Option<Timestamp> {
        let since = self.regional_since?;
        if self.regional_notified
            || ctx.policy.is_none()
            || ctx.in_maintenance
            || ctx.parent_incident.is_some()
            || self.class(ctx) != Class::Regional
        {
            return None;
        }
        Some(plus(since, ctx.regional_notice_after))
    }

    fn incident_wakeup(&self, ctx: &Context) -> Option<Timestamp> {
        let inc = self.incident.as_ref()?;
        let policy = ctx.policy?;
        if !inc.may_alert(self.class(ctx), ctx) {
            return None;
        }
        let since = inc.since();
        let reminder = policy
            .remind_every
            .filter(|_| !inc.triggered.is_empty())
            .map(|every| plus(inc.last_notified_at.unwrap_or(since), every));
        let escalation = usize::try_from(inc.escalations_fired)
            .ok()
            .and_then(|i| policy.escalate.get(i))
            .map(|step| plus(since, step.after));
        match (reminder, escalation) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Brings the memory in line with the last state and `ctx`. Idempotent. A new
    /// incident or degradation episode takes `fresh` if given, else the spare id.
    fn settle(&mut self, ctx: &Context, fx: &mut Vec<Effect>, fresh: &mut Option<Uuid>) {
        let class = self.class(ctx);
        if matches!(
            class,
            Class::Healthy | Class::DegradedNotice | Class::Regional
        ) {
            self.resolve(ctx, fx);
            self.resolved_by_hand = false;
        }
        match class {
            Class::Regional => {
                if self.regional_episode.is_none()
                    && let Some(id) = fresh.take().or_else(|| self.spare_id.take())
                {
                    self.regional_episode = Some(id);
                    self.regional_since = Some(ctx.now);
                    self.regional_notified = false;
                }
                self.notify_regional(ctx, fx);
            }
            Class::Healthy | Class::DegradedNotice | Class::Failing => {
                self.regional_episode = None;
                self.regional_since = None;
                self.regional_notified = false;
            }
            Class::Unknown => {}
        }
        match class {
            Class::Healthy | Class::Failing => self.end_degradation(class, ctx, fx),
            Class::DegradedNotice => {
                if self.degraded_episode.is_none()
                    && let Some(id) = fresh.take().or_else(|| self.spare_id.take())
                {
                    self.degraded_episode = Some(id);
                    self.degraded_since = Some(ctx.now);
                    self.degraded_notified.clear();
                }
                self.notify_degradation(ctx, fx);
            }
            Class::Unknown | Class::Regional => {}
        }
        if class == Class::Failing
            && self.incident.is_none()
            && !self.resolved_by_hand
            && !ctx.in_maintenance
            && let Some(id) = fresh.take().or_else(|| self.spare_id.take())
        {
            self.open(id, ctx, fx);
        }
        if let Some(inc) = &mut self.incident {
            alert(inc, class, ctx, fx);
        }
    }

    fn open(&mut self, id: Uuid, ctx: &Context, fx: &mut Vec<Effect>) {
        let parent = ctx.parent_incident;
        let held = parent.is_some();
        let priority = ctx.policy.map_or(DEFAULT_PRIORITY, |p| p.priority);
        let cause = self.last_cause.clone().unwrap_or_default();
        fx.push(Effect::Open {
            incident: id,
            priority,
            cause: cause.clone(),
            parent,
            held,
        });
        self.incident = Some(Box::new(OpenIncident {
            id,
            opened_at: ctx.now,
            priority,
            cause,
            acknowledged_at: None,
            acknowledged_by: None,
            triggered: Vec::new(),
            reminders_sent: 0,
            last_notified_at: None,
            escalations_fired: 0,
            parent,
            held,
            alerting_since: (!held).then_some(ctx.now),
        }));
    }

    fn resolve(&mut self, ctx: &Context, fx: &mut Vec<Effect>) {
        let Some(inc) = self.incident.take() else {
            return;
        };
        fx.push(Effect::Resolve {
            incident: inc.id,
            duration_ms: i64::try_from(ctx.now.duration_since(inc.opened_at).as_millis().max(0))
                .unwrap_or(i64::MAX),
        });
        for ch in &inc.triggered {
            if ctx.closing_goes_to(ch, NotifyOn::Recovered) {
                fx.push(notify(inc.id, ch, NotifyEvent::Resolved, "resolve"));
            }
        }
    }

    fn notify_regional(&mut self, ctx: &Context, fx: &mut Vec<Effect>) {
        let (Some(episode), Some(due), Some(policy)) = (
            self.regional_episode,
            self.regional_notice_due(ctx),
            ctx.policy,
        ) else {
            return;
        };
        if due > ctx.now {
            return;
        }
        for ch in &policy.channels {
            if !(ctx.closes_alerts)(ch) {
                fx.push(Effect::Notify {
                    incident: None,
                    channel: ch.clone(),
                    event: NotifyEvent::Regional,
                    key: format!("regional:{episode}:{ch}"),
                });
            }
        }
        self.regional_notified = true;
    }

    fn notify_degradation(&mut self, ctx: &Context, fx: &mut Vec<Effect>) {
        let (Some(episode), Some(policy)) = (self.degraded_episode, ctx.policy) else {
            return;
        };
        if !policy.notifies(NotifyOn::Degraded)
            || ctx.in_maintenance
            || ctx.parent_incident.is_some()
        {
            return;
        }
        for ch in &policy.channels {
            if !self.degraded_notified.contains(ch) {
                fx.push(Effect::Notify {
                    incident: None,
                    channel: ch.clone(),
                    event: NotifyEvent::Degraded,
                    key: format!("degraded:{episode}:{ch}"),
                });
                self.degraded_notified.push(ch.clone());
            }
        }
    }

    fn end_degradation(&mut self, class: Class, ctx: &Context, fx: &mut Vec<Effect>) {
        let Some(episode) = self.degraded_episode.take() else {
            return;
        };
        self.degraded_since = None;
        for ch in std::mem::take(&mut self.degraded_notified) {
            let cleared = if class == Class::Healthy {
                ctx.closing_goes_to(&ch, NotifyOn::Recovered)
            } else {
                (ctx.closes_alerts)(&ch)
            };
            if cleared {
                fx.push(Effect::Notify {
                    incident: None,
                    key: format!("degraded:{episode}:{ch}:cleared"),
                    channel: ch,
                    event: NotifyEvent::DegradedCleared,
                });
            }
        }
    }
}

/// Releases a held incident when it may, then sends what is due: reminders to the
/// channels already triggered, triggers to policy channels not yet triggered,
/// escalation steps whose time has come.
fn alert(inc: &mut OpenIncident, class: Class, ctx: &Context, fx: &mut Vec<Effect>) {
    if inc.held && class == Class::Failing && !ctx.in_maintenance && ctx.parent_incident.is_none() {
        inc.held = false;
        inc.alerting_since = Some(ctx.now);
    }
    let Some(policy) = ctx.policy else {
        return;
    };
    if !inc.may_alert(class, ctx) {
        return;
    }
    let now = ctx.now;
    let since = inc.since();
    let mut sent = false;

    if let Some(every) = policy.remind_every
        && !inc.triggered.is_empty()
        && plus(inc.last_notified_at.unwrap_or(since), every) <= now
    {
        inc.reminders_sent += 1;
        let suffix = format!("reminder:{}", inc.reminders_sent);
        for ch in &inc.triggered {
            fx.push(notify(inc.id, ch, NotifyEvent::Reminder, &suffix));
        }
        sent = true;
    }

    for ch in &policy.channels {
        if !inc.triggered.contains(ch) {
            fx.push(notify(inc.id, ch, NotifyEvent::Trigger, "trigger"));
            inc.triggered.push(ch.clone());
            sent = true;
        }
    }

    while let Some(step) = usize::try_from(inc.escalations_fired)
        .ok()
        .and_then(|i| policy.escalate.get(i))
        && plus(since, step.after) <= now
    {
        inc.escalations_fired += 1;
        let suffix = format!("escalation:{}", inc.escalations_fired);
        for ch in &step.channels {
            if !inc.triggered.contains(ch) {
                fx.push(notify(inc.id, ch, NotifyEvent::Escalation, &suffix));
                inc.triggered.push(ch.clone());
                sent = true;
            }
        }
    }

    if sent {
        inc.last_notified_at = Some(now);
    }
}

#[cfg(test)]
mod tests;
