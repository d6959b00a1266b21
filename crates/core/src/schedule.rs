//! Schedule arithmetic: when each monitor is next due; and reading the cron expressions
//! of heartbeat schedules and maintenance windows ([`parse_cron`]).
//!
//! Each monitor runs at a stable offset inside its interval, derived from its id, so
//! that a thousand monitors with a one-minute interval spread over the minute instead
//! of all firing at :00, and keep their slot across restarts. Regions are spread too:
//! of the `n` regions a monitor runs in, the `k`-th (by name) checks `k/n` of an
//! interval after the first, so that a failure is seen by some region within
//! `interval / n` and the confirmation cascade settles it in seconds.

use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;

use crate::ids::{MonitorId, RegionName};

/// A stable offset in `[0, interval)` for this monitor (FNV-1a over the id's bytes).
pub fn stable_offset(id: MonitorId, interval: Duration) -> Duration {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_uuid().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let ms = interval_ms(interval);
    Duration::from_millis(h % ms)
}

/// The offset at which `region` checks the monitor: its stable offset, shifted by
/// `k/n` of the interval when `region` is the `k`-th of the `n` regions in `regions`
/// (sorted by name; a region missing from the list is counted in). Every region
/// computes the same answer from the same list, so the server (for its agents) and
/// its own probe agree.
pub fn region_offset(
    id: MonitorId,
    interval: Duration,
    region: &RegionName,
    regions: &[RegionName],
) -> Duration {
    let mut all: Vec<&RegionName> = regions.iter().collect();
    if !all.contains(&region) {
        all.push(region);
    }
    all.sort();
    all.dedup();
    let n = all.len() as u64;
    let k = all.iter().position(|r| *r == region).unwrap_or(0) as u64;
    let ms = interval_ms(interval);
    let base = stable_offset(id, interval).as_millis() as u64;
    Duration::from_millis((base + ms / n * k) % ms)
}

fn interval_ms(interval: Duration) -> u64 {
    u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The first slot strictly after `after`: the smallest `t > after` such that
/// `t ≡ offset (mod interval)` in epoch milliseconds.
pub fn next_due(after: Timestamp, interval: Duration, offset: Duration) -> Timestamp {
    let iv = i64::try_from(interval_ms(interval)).unwrap_or(i64::MAX);
    let off = i64::try_from(offset.as_millis())
        .unwrap_or(0)
        .rem_euclid(iv);
    let a = after.as_millisecond();
    // slot index k such that k*iv + off > a
    let k = (a - off).div_euclid(iv) + 1;
    let t = k.saturating_mul(iv).saturating_add(off);
    Timestamp::from_millisecond(t).unwrap_or(Timestamp::MAX)
}

/// Reads a five-field cron expression (minute hour day month weekday), as heartbeat
/// schedules and recurring maintenance windows take it. Refused, in words: another
/// number of fields, what croner cannot read, and an expression that matches no time
/// at all, such as `0 0 31 2 *`, or `, 3 * * *` (croner skips empty list items, which
/// leaves a field of nothing but commas matching nothing): every search for its next
/// time would walk croner's calendar to the year 5000 (up to a fifth of a second each,
/// on the one task that keeps every heartbeat's deadline) and find nothing.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    if expr.split_whitespace().count() != 5 {
        return Err(format!(
            "{expr:?} must have 5 fields (minute hour day month weekday)"
        ));
    }
    let cron = croner::Cron::from_str(expr)
        .map_err(|e| format!("{expr:?} is not a valid cron expression: {e}"))?;
    if !fires(&cron.pattern) {
        return Err(format!(
            "{expr:?} matches no time at all (no minute, hour or date fits every field)"
        ));
    }
    Ok(cron)
}

/// Whether a five-field pattern matches some minute, some hour and some day. Days are
/// tried over the 28 years from 2000, which hold every kind of month there is (each
/// month of common and leap years, starting on each day of the week), with croner's
/// own matching; the first match ends the search.
fn fires(p: &croner::CronPattern) -> bool {
    let any_minute = (0..60).any(|m| p.minute_match(m).unwrap_or(false));
    let any_hour = (0..24).any(|h| p.hour_match(h).unwrap_or(false));
    any_minute
        && any_hour
        && (2000i16..2028).any(|year| {
            (1i8..=12)
                .filter(|m| p.month_match(m.unsigned_abs().into()).unwrap_or(false))
                .any(|month| {
                    let first = jiff::civil::date(year, month, 1);
                    (1..=first.days_in_month()).any(|day| {
                        let date = jiff::civil::date(year, month, day);
                        let weekday = croner::Weekday::from_days_from_sunday(u32::from(
                            date.weekday().to_sunday_zero_offset().unsigned_abs(),
                        ));
                        p.day_match(
                            year.into(),
                            month.unsigned_abs().into(),
                            u32::from(day.unsigned_abs()),
                            weekday,
                        )
                        .unwrap_or(false)
                    })
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_monitors_offset_is_the_same_in_every_release() {
        // Servers and agents of different versions must agree on when a monitor runs:
        // the offset is a fixed function of the id, pinned here.
        let id = MonitorId::from_uuid(uuid::Uuid::from_u128(
            0x0192_3456_789a_7bcd_8ef0_1234_5678_9abc,
        ));
        assert_eq!(
            stable_offset(id, Duration::from_secs(60)),
            Duration::from_millis(17_338)
        );
    }

    use uuid::Uuid;

    #[test]
    fn regions_spread_over_the_interval() {
        let id = MonitorId::from_uuid(Uuid::from_u128(7));
        let iv = Duration::from_secs(60);
        let r = |s: &str| RegionName::parse(s).unwrap();
        let all = [r("us"), r("eu"), r("ap")];
        let base = stable_offset(id, iv).as_millis() as u64;
        let at = |name: &str| region_offset(id, iv, &r(name), &all).as_millis() as u64;
        // sorted: ap, eu, us — 0, 20 and 40 seconds after the stable offset
        assert_eq!(at("ap"), base);
        assert_eq!(at("eu"), (base + 20_000) % 60_000);
        assert_eq!(at("us"), (base + 40_000) % 60_000);
        // a region missing from the list is counted in
        assert_eq!(
            region_offset(id, iv, &r("zz"), &[r("aa")]).as_millis() as u64,
            (base + 30_000) % 60_000
        );
        // one region: the stable offset
        assert_eq!(region_offset(id, iv, &r("eu"), &[]), stable_offset(id, iv));
    }

    #[test]
    fn offsets_spread_over_the_interval() {
        let iv = Duration::from_secs(60);
        let mut buckets = [0u32; 6];
        for i in 0..6000u128 {
            let id = MonitorId::from_uuid(Uuid::from_u128(
                i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834),
            ));
            let o = stable_offset(id, iv);
            buckets[(o.as_secs() / 10) as usize] += 1;
        }
        for b in buckets {
            assert!((800..1200).contains(&b), "uneven spread: {buckets:?}");
        }
    }

    #[test]
    fn a_cron_expression_that_matches_no_time_is_refused() {
        for never in [
            ", 3 * * SUN",
            "0 , * * *",
            "0 0 31 2 *",
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
        ] {
            let e = parse_cron(never).unwrap_err();
            assert!(e.contains("matches no time"), "{never}: {e}");
        }
        assert!(parse_cron("* * * *").unwrap_err().contains("5 fields"));
        assert!(
            parse_cron("61 * * * *")
                .unwrap_err()
                .contains("not a valid")
        );
        // Rare but real: leap days, a fifth Friday in February, the last weekday, the
        // last Sunday (whose 02:30 Berlin skips in March: croner then fires at 03:00).
        for rare in [
            "0 0 29 2 *",
            "0 0 * 2 5#5",
            "0 0 31 2 5#5",
            "0 9 LW * *",
            "30 2 * 3 0L",
            "0,30 9-17 * 1-11 MON-FRI",
        ] {
            assert!(parse_cron(rare).is_ok(), "{rare}");
        }
    }

    #[test]
    fn next_due_examples() {
        let t = |ms| Timestamp::from_millisecond(ms).unwrap();
        let iv = Duration::from_secs(60);
        let off = Duration::from_secs(15);
        assert_eq!(next_due(t(0), iv, off), t(15_000));
        assert_eq!(next_due(t(15_000), iv, off), t(75_000));
        assert_eq!(next_due(t(14_999), iv, off), t(15_000));
        assert_eq!(next_due(t(16_000), iv, off), t(75_000));
    }

    proptest! {
        #[test]
        fn next_due_is_the_next_slot(after in 0i64..10_000_000_000_000, iv_s in 10u64..86_400, off_frac in 0.0f64..1.0) {
            let iv = Duration::from_secs(iv_s);
            let off = Duration::from_millis((iv_s as f64 * 1000.0 * off_frac) as u64);
            let a = Timestamp::from_millisecond(after).unwrap();
            let n = next_due(a, iv, off).as_millisecond();
            let ivm = (iv_s * 1000) as i64;
            prop_assert!(n > after);
            prop_assert!(n - after <= ivm);
            prop_assert_eq!((n - off.as_millis() as i64).rem_euclid(ivm), 0);
        }
    }
}
