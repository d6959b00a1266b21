//! `icmp` monitors: `count` echo requests (ping) to `host`, judged by the share of
//! them lost (`expect.max_loss`, `warn.max_loss`, in percent) and by their average
//! round trip (`expect.response_time`, `warn.response_time`). Without `max_loss`, only
//! a host that answers none of them fails. The judging is [`IcmpSpec::judge`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::expect::{
    Accepts, ExpectConfig, WarnConfig, refuse_unaccepted, response_time_limit, warn_response_time,
};
use super::tcp::checked_host;
use crate::outcome::{ErrorKind, Verdict};
use crate::validation::Errors;

/// Echo requests sent per check unless `count` says.
pub const DEFAULT_ICMP_COUNT: u32 = 3;
/// The most echo requests one check may send.
pub const MAX_ICMP_COUNT: u32 = 20;

/// An `icmp` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IcmpConfig {
    /// A name or an IP address (IPv4 or IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Echo requests per check, 200 ms apart: 1 to 20. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// What an `icmp` monitor takes of `expect` and `warn`.
const ACCEPTS: Accepts = Accepts {
    expect: &["max_loss", "response_time"],
    warn: &["max_loss", "response_time"],
};

/// A validated `icmp` monitor.
#[derive(Debug, Clone)]
pub struct IcmpSpec {
    pub host: String,
    pub count: u32,
    /// More loss than this, in percent, fails; `None`: only losing every echo does.
    pub max_loss: Option<u32>,
    /// More loss than this, in percent, degrades.
    pub warn_max_loss: Option<u32>,
    /// An average round trip slower than this fails.
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

/// What an `icmp` check saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IcmpFacts {
    pub sent: u32,
    /// The round trip of each echo answered.
    pub round_trips: Vec<Duration>,
}

impl IcmpFacts {
    /// The share of echoes not answered, in percent.
    pub fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        let lost = self.sent.saturating_sub(self.received());
        f64::from(lost) * 100.0 / f64::from(self.sent)
    }

    pub fn received(&self) -> u32 {
        u32::try_from(self.round_trips.len()).unwrap_or(u32::MAX)
    }

    /// The average round trip of the echoes answered.
    pub fn average(&self) -> Option<Duration> {
        let n = u32::try_from(self.round_trips.len())
            .ok()
            .filter(|n| *n > 0)?;
        Some(self.round_trips.iter().sum::<Duration>() / n)
    }
}

/// A loss in words: `33.3 %`, `100 %`.
fn percent(p: f64) -> String {
    let t = format!("{p:.1}");
    format!("{} %", t.strip_suffix(".0").unwrap_or(&t))
}

/// A round trip in milliseconds, to the microsecond.
fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

impl IcmpSpec {
    /// Judges the echoes of one check: none answered, more loss than `max_loss`, a
    /// slower average round trip than `response_time` fail; then the warnings.
    pub fn judge(&self, facts: &IcmpFacts) -> Verdict {
        let loss = facts.loss_percent();
        let lost = facts.sent.saturating_sub(facts.received());
        if facts.received() == 0 {
            return Verdict::down(
                ErrorKind::Timeout,
                format!(
                    "no echo reply from {}: {} of {} lost (100 %)",
                    self.host, lost, facts.sent
                ),
            );
        }
        if let Some(max) = self.max_loss
            && loss > f64::from(max)
        {
            return Verdict::down(
                ErrorKind::Assertion,
                format!(
                    "{} of {} echo requests lost ({}), over the {max} % limit",
                    lost,
                    facts.sent,
                    percent(loss)
                ),
            );
        }
        let average = facts.average().unwrap_or_default();
        if let Some(limit) = self.response_time
            && average > limit
        {
            return Verdict::down(
                ErrorKind::Assertion,
                format!(
                    "average round trip {}, over the {} limit",
                    ms(average),
                    ms(limit)
                ),
            );
        }
        if let Some(max) = self.warn_max_loss
            && loss > f64::from(max)
        {
            return Verdict::degraded(format!(
                "{} of {} echo requests lost ({}), over the {max} % warning",
                lost,
                facts.sent,
                percent(loss)
            ));
        }
        if let Some(limit) = self.warn_response_time
            && average > limit
        {
            return Verdict::degraded(format!(
                "average round trip {}, over the {} warning",
                ms(average),
                ms(limit)
            ));
        }
        Verdict::Up
    }
}

impl IcmpConfig {
    /// Validates the fields into an [`IcmpSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<IcmpSpec> {
        refuse_unaccepted(
            self.expect.as_ref(),
            self.warn.as_ref(),
            &ACCEPTS,
            "icmp",
            errs,
        );
        let host = checked_host(self.host.as_deref(), "icmp", errs);
        let count = self.count.unwrap_or(DEFAULT_ICMP_COUNT);
        if !(1..=MAX_ICMP_COUNT).contains(&count) {
            errs.push("count", format!("must be between 1 and {MAX_ICMP_COUNT}"));
        }
        let max_loss = self.expect.as_ref().and_then(|e| e.max_loss);
        let warn_max_loss = self.warn.as_ref().and_then(|w| w.max_loss);
        for (field, v) in [
            ("expect.max_loss", max_loss),
            ("warn.max_loss", warn_max_loss),
        ] {
            if v.is_some_and(|p| p > 99) {
                errs.push(
                    field,
                    "must be a percentage between 0 and 99 (losing every echo always fails)",
                );
            }
        }
        if let (Some(w), Some(m)) = (warn_max_loss, max_loss)
            && w >= m
        {
            errs.push(
                "warn.max_loss",
                format!("must be lower than expect.max_loss ({m})"),
            );
        }
        let response_time = response_time_limit(self.expect.as_ref(), errs);
        let warn_response_time = warn_response_time(self.warn.as_ref(), errs, response_time);
        Some(IcmpSpec {
            host: host?,
            count,
            max_loss,
            warn_max_loss,
            response_time,
            warn_response_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(max_loss: Option<u32>, warn: Option<u32>) -> IcmpSpec {
        IcmpSpec {
            host: "gw".into(),
            count: 3,
            max_loss,
            warn_max_loss: warn,
            response_time: Some(Duration::from_millis(50)),
            warn_response_time: Some(Duration::from_millis(20)),
        }
    }

    fn facts(sent: u32, rtts_ms: &[u64]) -> IcmpFacts {
        IcmpFacts {
            sent,
            round_trips: rtts_ms.iter().map(|m| Duration::from_millis(*m)).collect(),
        }
    }

    #[test]
    fn loss_then_round_trip_then_warnings() {
        let s = spec(None, None);
        assert_eq!(
            s.judge(&facts(3, &[])),
            Verdict::down(
                ErrorKind::Timeout,
                "no echo reply from gw: 3 of 3 lost (100 %)"
            )
        );
        // Without max_loss, one answer is enough.
        assert_eq!(s.judge(&facts(3, &[1])), Verdict::Up);
        let s = spec(Some(20), Some(0));
        assert_eq!(
            s.judge(&facts(3, &[1, 1])),
            Verdict::down(
                ErrorKind::Assertion,
                "1 of 3 echo requests lost (33.3 %), over the 20 % limit"
            )
        );
        let s = spec(Some(50), Some(0));
        assert_eq!(
            s.judge(&facts(3, &[1, 1])),
            Verdict::degraded("1 of 3 echo requests lost (33.3 %), over the 0 % warning")
        );
        assert_eq!(
            s.judge(&facts(2, &[60, 50])),
            Verdict::down(
                ErrorKind::Assertion,
                "average round trip 55.000 ms, over the 50.000 ms limit"
            )
        );
        assert_eq!(
            s.judge(&facts(2, &[50, 50])),
            Verdict::degraded("average round trip 50.000 ms, over the 20.000 ms warning")
        );
        assert_eq!(
            s.judge(&facts(2, &[30, 20])),
            Verdict::degraded("average round trip 25.000 ms, over the 20.000 ms warning")
        );
        assert_eq!(s.judge(&facts(2, &[20, 20])), Verdict::Up);
        // Exactly at the limit is not over it.
        let s = spec(Some(50), None);
        assert_eq!(s.judge(&facts(2, &[1])), Verdict::Up);
    }
}
