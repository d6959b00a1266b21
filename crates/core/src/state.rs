//! Monitor state: the pure function that turns a region's verdicts into its state
//! ([`RegionStatus::observe`]), and the consensus of the regions' states into the
//! monitor's state ([`consensus`]): which regions still count ([`is_available`]), how
//! many must be down for the monitor to be down, when a first failure asks the other
//! regions to check at once ([`asks_for_confirmation`]), and when a failure is only
//! regional ([`regional_failure`]).

use serde::{Deserialize, Serialize};

use crate::outcome::Verdict;

/// The state of a monitor, or of a monitor in one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonitorState {
    /// No result yet.
    Pending,
    Up,
    /// Working but over a warning threshold.
    Degraded,
    Down,
    /// Not checked, not alerted.
    Paused,
    /// Inside a maintenance window.
    Maintenance,
}

impl MonitorState {
    pub const ALL: [MonitorState; 6] = [
        MonitorState::Pending,
        MonitorState::Up,
        MonitorState::Degraded,
        MonitorState::Down,
        MonitorState::Paused,
        MonitorState::Maintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MonitorState::Pending => "pending",
            MonitorState::Up => "up",
            MonitorState::Degraded => "degraded",
            MonitorState::Down => "down",
            MonitorState::Paused => "paused",
            MonitorState::Maintenance => "maintenance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The small number the store keeps for this state in each stored check (0 and 1
    /// cost no bytes on SQLite, so the common states have them). Stored data depends on
    /// these values: never renumber one.
    pub fn code(self) -> u8 {
        match self {
            MonitorState::Up => 0,
            MonitorState::Degraded => 1,
            MonitorState::Down => 2,
            MonitorState::Pending => 3,
            MonitorState::Paused => 4,
            MonitorState::Maintenance => 5,
        }
    }

    /// The state stored as `code`, if it is one.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| i64::from(s.code()) == code)
    }
}

/// Consecutive failures needed before a monitor is down, when the config does not say:
/// 2 with a single region (one region alone cannot tell a blip from an outage), else 1
/// (other regions confirm instead).
pub fn default_confirmations(region_count: usize) -> u32 {
    if region_count <= 1 { 2 } else { 1 }
}

/// Failing regions needed for down, when the config does not say: a majority.
pub fn default_quorum(region_count: usize) -> usize {
    region_count / 2 + 1
}

/// What one region knows about one monitor: its state and the failure streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionStatus {
    pub state: MonitorState,
    pub consecutive_failures: u32,
}

impl Default for RegionStatus {
    fn default() -> Self {
        Self {
            state: MonitorState::Pending,
            consecutive_failures: 0,
        }
    }
}

impl RegionStatus {
    /// The status after one more verdict. A success is up at once (degraded when a
    /// warning threshold was crossed); a failure is down only once `confirmations`
    /// failures came in a row; until then the previous state holds.
    pub fn observe(self, verdict: &Verdict, confirmations: u32) -> RegionStatus {
        match verdict {
            Verdict::Up => RegionStatus {
                state: MonitorState::Up,
                consecutive_failures: 0,
            },
            Verdict::Degraded { .. } => RegionStatus {
                state: MonitorState::Degraded,
                consecutive_failures: 0,
            },
            Verdict::Down { .. } => {
                let failures = self.consecutive_failures.saturating_add(1);
                let state = if failures >= confirmations.max(1) {
                    MonitorState::Down
                } else {
                    match self.state {
                        // a paused/maintenance region that resumes starts over
                        MonitorState::Paused | MonitorState::Maintenance => MonitorState::Pending,
                        s => s,
                    }
                };
                RegionStatus {
                    state,
                    consecutive_failures: failures,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ErrorKind;
    use proptest::prelude::*;

    /// Every state reads back from its name (how the store decodes a stored state), and
    /// nothing else reads as a state.
    #[test]
    fn state_names_read_back_and_nothing_else_does() {
        for s in MonitorState::ALL {
            assert_eq!(MonitorState::parse(s.as_str()), Some(s));
        }
        for other in ["", "UP", "Down", "unknown", "up ", "maintenance\n"] {
            assert_eq!(MonitorState::parse(other), None, "{other:?}");
        }
    }

    fn fail() -> Verdict {
        Verdict::down(ErrorKind::Connect, "refused")
    }

    #[test]
    fn one_region_needs_two_failures() {
        let c = default_confirmations(1);
        let s = RegionStatus::default().observe(&Verdict::Up, c);
        assert_eq!(s.state, MonitorState::Up);
        let s = s.observe(&fail(), c);
        assert_eq!(s.state, MonitorState::Up, "a single failure is a blip");
        let s = s.observe(&fail(), c);
        assert_eq!(s.state, MonitorState::Down);
        let s = s.observe(&Verdict::Up, c);
        assert_eq!(s.state, MonitorState::Up, "one success recovers");
        assert_eq!(s.consecutive_failures, 0);
    }

    #[test]
    fn pending_stays_pending_until_confirmed() {
        let s = RegionStatus::default().observe(&fail(), 2);
        assert_eq!(s.state, MonitorState::Pending);
        assert_eq!(s.observe(&fail(), 2).state, MonitorState::Down);
    }

    #[test]
    fn degraded_is_immediate() {
        let s = RegionStatus::default().observe(&Verdict::degraded("slow"), 2);
        assert_eq!(s.state, MonitorState::Degraded);
    }

    proptest! {
        /// Down exactly when the last `c` verdicts failed (and at least `c` were seen).
        #[test]
        fn down_iff_last_c_failed(oks in proptest::collection::vec(any::<bool>(), 1..40), c in 1u32..5) {
            let v = |ok: bool| if ok { Verdict::Up } else { Verdict::down(ErrorKind::Timeout, "") };
            let mut s = RegionStatus::default();
            for ok in &oks {
                s = s.observe(&v(*ok), c);
            }
            let trailing_failures = oks.iter().rev().take_while(|ok| !**ok).count() as u32;
            prop_assert_eq!(s.consecutive_failures, trailing_failures);
            if trailing_failures >= c {
                prop_assert_eq!(s.state, MonitorState::Down);
            } else {
                prop_assert_ne!(s.state, MonitorState::Down);
                // the state before the streak began is kept
                let before: Vec<bool> = oks[..oks.len() - trailing_failures as usize].to_vec();
                let expected = if before.is_empty() { MonitorState::Pending } else {
                    // last success before the streak, or down if an older streak reached c
                    let mut e = RegionStatus::default();
                    for ok in &before { e = e.observe(&v(*ok), c); }
                    e.state
                };
                prop_assert_eq!(s.state, expected);
            }
        }
    }
}

/// One region's view of a monitor, for consensus: its state and when its latest
/// result was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionView {
    pub state: MonitorState,
    pub checked_at: jiff::Timestamp,
}

/// A region whose latest result is older than this many intervals is unavailable: it
/// is left out of the count.
pub const UNAVAILABLE_AFTER_INTERVALS: i64 = 3;

/// An interval in milliseconds for the window arithmetic: at least 1, and at most an
/// eighth of `i64::MAX`, so that three intervals and a timestamp still add up without
/// overflow (an interval too long for that is as good as forever).
fn interval_ms(interval: std::time::Duration) -> i64 {
    i64::try_from(interval.as_millis())
        .unwrap_or(i64::MAX)
        .clamp(1, i64::MAX / 8)
}

/// Whether a region whose latest result was taken at `latest` still counts at `now`
/// for a monitor checked every `interval`: heard from within
/// [`UNAVAILABLE_AFTER_INTERVALS`] intervals. The one definition used by consensus,
/// by [`regional_failure`] and by the recorder's count of regions for confirmations.
pub fn is_available(
    latest: jiff::Timestamp,
    now: jiff::Timestamp,
    interval: std::time::Duration,
) -> bool {
    let iv = interval_ms(interval);
    now.as_millisecond() - latest.as_millisecond() <= UNAVAILABLE_AFTER_INTERVALS * iv
}

/// Whether a result should ask the monitor's other regions to check now (the
/// confirmation cascade): it is the region's first failure (`before` had no failure
/// streak) and the monitor is not already down, so the others confirm or refute the
/// failure within seconds instead of at their next turn.
pub fn asks_for_confirmation(
    verdict: &Verdict,
    before: RegionStatus,
    monitor_after: MonitorState,
) -> bool {
    !verdict.is_ok() && before.consecutive_failures == 0 && monitor_after != MonitorState::Down
}

/// The monitor's state from several regions (PRODUCT.md, "Consensus and
/// confirmation"), as of `now`:
///
/// - regions whose latest result is older than 3 intervals are unavailable and left
///   out entirely;
/// - the quorum is `quorum`, or a majority of the available regions;
/// - the monitor is down when at least `quorum` regions are down with their latest
///   results all taken within one interval of the newest down result;
/// - a failure seen by fewer regions (or by regions whose results are too far apart)
///   is degraded: visible, but it opens nothing;
/// - otherwise degraded if any region is degraded, pending while no region has a
///   result, up.
pub fn consensus(
    paused: bool,
    regions: &[RegionView],
    now: jiff::Timestamp,
    interval: std::time::Duration,
    quorum: Option<u32>,
) -> MonitorState {
    if paused {
        return MonitorState::Paused;
    }
    let iv = interval_ms(interval);
    let available: Vec<&RegionView> = regions
        .iter()
        .filter(|r| is_available(r.checked_at, now, interval))
        .collect();
    let quorum = quorum
        .map_or_else(|| default_quorum(available.len()), |q| q as usize)
        .max(1);
    let mut down: Vec<i64> = available
        .iter()
        .filter(|r| r.state == MonitorState::Down)
        .map(|r| r.checked_at.as_millisecond())
        .collect();
    down.sort_unstable();
    // The largest group of down results taken within one interval of each other.
    let mut best = 0;
    let mut start = 0;
    for end in 0..down.len() {
        while down[end] - down[start] > iv {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    if best >= quorum {
        return MonitorState::Down;
    }
    if !down.is_empty() || available.iter().any(|r| r.state == MonitorState::Degraded) {
        return MonitorState::Degraded;
    }
    if available.iter().all(|r| r.state == MonitorState::Pending) {
        return MonitorState::Pending;
    }
    MonitorState::Up
}

/// Whether some available region (one heard from within 3 intervals) is down: with
/// [`consensus`] saying `degraded`, the failure is *regional* (fewer than `quorum`
/// regions see it), which the incident engine treats differently from a warning.
pub fn regional_failure(
    regions: &[RegionView],
    now: jiff::Timestamp,
    interval: std::time::Duration,
) -> bool {
    regions
        .iter()
        .any(|r| r.state == MonitorState::Down && is_available(r.checked_at, now, interval))
}

#[cfg(test)]
mod code_tests {
    use super::MonitorState;

    #[test]
    fn state_codes_are_the_stored_ones() {
        let codes: Vec<(MonitorState, u8)> = MonitorState::ALL
            .into_iter()
            .map(|s| (s, s.code()))
            .collect();
        assert_eq!(
            codes,
            [
                (MonitorState::Pending, 3),
                (MonitorState::Up, 0),
                (MonitorState::Degraded, 1),
                (MonitorState::Down, 2),
                (MonitorState::Paused, 4),
                (MonitorState::Maintenance, 5),
            ],
            "stored data depends on them"
        );
        for s in MonitorState::ALL {
            assert_eq!(MonitorState::from_code(i64::from(s.code())), Some(s));
        }
        assert_eq!(MonitorState::from_code(6), None);
        assert_eq!(MonitorState::from_code(-1), None);
    }
}

#[cfg(test)]
mod consensus_tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn r(state: MonitorState, s: i64) -> RegionView {
        RegionView {
            state,
            checked_at: at(s),
        }
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn a_region_is_available_for_three_intervals_after_its_latest_result() {
        assert!(is_available(at(0), at(0), MIN));
        assert!(is_available(at(0), at(180), MIN), "exactly three intervals");
        assert!(!is_available(at(0), at(181), MIN));
        assert!(
            is_available(at(10), at(0), MIN),
            "a result from ahead counts"
        );
    }

    #[test]
    fn only_a_first_failure_of_a_monitor_not_down_asks_for_confirmation() {
        let fail = Verdict::down(crate::ErrorKind::Connect, "refused");
        let fresh = RegionStatus::default();
        let failing = RegionStatus {
            state: MonitorState::Up,
            consecutive_failures: 1,
        };
        assert!(asks_for_confirmation(&fail, fresh, MonitorState::Up));
        assert!(asks_for_confirmation(&fail, fresh, MonitorState::Degraded));
        assert!(
            !asks_for_confirmation(&fail, failing, MonitorState::Up),
            "not the first"
        );
        assert!(
            !asks_for_confirmation(&fail, fresh, MonitorState::Down),
            "already down"
        );
        assert!(!asks_for_confirmation(
            &Verdict::Up,
            fresh,
            MonitorState::Up
        ));
        assert!(!asks_for_confirmation(
            &Verdict::degraded("slow"),
            fresh,
            MonitorState::Up
        ));
    }

    /// "Within one interval of each other" includes exactly one interval apart.
    #[test]
    fn failures_exactly_one_interval_apart_agree() {
        use MonitorState::*;
        let two_down = |apart: i64| {
            consensus(
                false,
                &[r(Down, 0), r(Down, apart), r(Up, apart)],
                at(apart + 1),
                MIN,
                None,
            )
        };
        assert_eq!(two_down(60), Down);
        assert_eq!(two_down(61), Degraded);
    }

    /// An interval too long for milliseconds in an `i64` is as good as forever: a
    /// region heard from a year ago still counts, and nothing overflows.
    #[test]
    fn an_endless_interval_never_ages_a_region_out() {
        use MonitorState::*;
        let year = 365 * 86_400;
        assert!(is_available(at(0), at(year), Duration::MAX));
        assert!(regional_failure(&[r(Down, 0)], at(year), Duration::MAX));
        assert_eq!(
            consensus(
                false,
                &[r(Down, 0), r(Down, year)],
                at(year),
                Duration::MAX,
                None
            ),
            Down
        );
        assert!(!is_available(at(0), at(year), MIN));
    }

    #[test]
    fn regional_failures() {
        use MonitorState::*;
        assert!(regional_failure(&[r(Down, 0), r(Up, 1)], at(3), MIN));
        assert!(!regional_failure(&[r(Degraded, 0), r(Up, 1)], at(3), MIN));
        // a region silent for more than 3 intervals does not count
        assert!(!regional_failure(&[r(Down, 0), r(Up, 300)], at(301), MIN));
    }

    #[test]
    fn examples() {
        use MonitorState::*;
        // one of three regions failing: a regional problem, not an outage
        assert_eq!(
            consensus(false, &[r(Down, 0), r(Up, 1), r(Up, 2)], at(3), MIN, None),
            Degraded
        );
        // two of three within an interval: down
        assert_eq!(
            consensus(false, &[r(Down, 0), r(Down, 2), r(Up, 2)], at(3), MIN, None),
            Down
        );
        // two failures too far apart do not agree
        assert_eq!(
            consensus(
                false,
                &[r(Down, 0), r(Down, 100), r(Up, 100)],
                at(101),
                MIN,
                None
            ),
            Degraded
        );
        // a silent region is left out: the remaining two decide (majority of 2 is 2)
        assert_eq!(
            consensus(
                false,
                &[r(Down, 300), r(Down, 301), r(Up, 0)],
                at(302),
                MIN,
                None
            ),
            Down
        );
        assert_eq!(
            consensus(
                false,
                &[r(Down, 300), r(Up, 301), r(Down, 0)],
                at(302),
                MIN,
                None
            ),
            Degraded
        );
        // an explicit quorum
        assert_eq!(
            consensus(
                false,
                &[r(Down, 0), r(Up, 1), r(Up, 2)],
                at(3),
                MIN,
                Some(1)
            ),
            Down
        );
        // one region alone
        assert_eq!(consensus(false, &[r(Down, 0)], at(1), MIN, None), Down);
        assert_eq!(consensus(false, &[r(Up, 0)], at(1), MIN, None), Up);
        assert_eq!(consensus(true, &[r(Down, 0)], at(1), MIN, None), Paused);
        assert_eq!(consensus(false, &[], at(1), MIN, None), Pending);
    }

    proptest! {
        /// Against a brute-force model: down iff some set of at least `quorum` down
        /// results of available regions lies within one interval.
        #[test]
        fn matches_a_reference_model(
            views in proptest::collection::vec((0u8..4, 0i64..400), 0..6),
            quorum in proptest::option::of(1u32..4),
        ) {
            let states = [MonitorState::Up, MonitorState::Down, MonitorState::Degraded, MonitorState::Pending];
            let regions: Vec<RegionView> = views.iter().map(|(s, t)| r(states[*s as usize], *t)).collect();
            let now = at(400);
            let got = consensus(false, &regions, now, MIN, quorum);
            let avail: Vec<&RegionView> = regions.iter().filter(|v| 400 - (v.checked_at.as_second() - 1_800_000_000) <= 180).collect();
            let q = quorum.map_or(avail.len() / 2 + 1, |q| q as usize);
            let downs: Vec<i64> = avail.iter().filter(|v| v.state == MonitorState::Down).map(|v| v.checked_at.as_second()).collect();
            let agree = downs.iter().any(|a| downs.iter().filter(|b| **b >= *a && **b - *a <= 60).count() >= q);
            prop_assert_eq!(got == MonitorState::Down, agree, "{:?} q={:?}", regions, quorum);
            if !agree && !downs.is_empty() {
                prop_assert_eq!(got, MonitorState::Degraded, "a failure below quorum is visible");
            }
        }
    }
}
