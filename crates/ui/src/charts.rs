//! Charts drawn on the server: the dashboard's beat bar (a bar per minute of checks)
//! and the monitor page's response-time chart with its phases. No chart library and
//! no script: the geometry is computed here, the templates only place shapes. Numbers
//! only ever go into attributes; labels are escaped by the templates like any other
//! text.

use jiff::Timestamp;

use super::format;

/// One bar of a beat bar: a minute of checks, coloured by how they went, as tall as
/// their mean response time against the slowest minute shown.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Beat {
    /// `ok`, `fail` or `none` (nothing checked in that minute).
    pub class: &'static str,
    /// Height, 1 to 4 quarters of the bar (a fast check still shows), a CSS class: the
    /// pages' style sheet allows no inline styles.
    pub level: u8,
    /// `08:41 UTC · passed · 42 ms`, for the tooltip.
    pub title: String,
}

/// `HH:MM` of `n` consecutive minutes from `since`: computed once for a page's beat bars.
pub(crate) fn minute_labels(since: Timestamp, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format::hhmm(since + jiff::SignedDuration::from_mins(i as i64)))
        .collect()
}

/// One minute of checks: their mean duration in ms, whether they all passed, and the
/// last failed one's error.
pub(crate) type Minute = (u64, bool, Option<String>);

/// The beats of consecutive one-minute slots, labelled by `minutes` (one `HH:MM` per
/// slot, from [`minute_labels`]): each slot its [`Minute`], or `None` when nothing was
/// checked. `None` when no slot has a check. Each bar says its time, verdict, response
/// time and error on hover.
pub(crate) fn beats(slots: &[Option<Minute>], minutes: &[String]) -> Option<Vec<Beat>> {
    let max = slots.iter().flatten().map(|c| c.0).max()?.max(1);
    Some(
        slots
            .iter()
            .zip(minutes)
            .map(|(slot, minute)| match slot {
                None => Beat {
                    class: "none",
                    level: 1,
                    title: format!("{minute} UTC · no check"),
                },
                Some((ms, ok, error)) => {
                    let mut title = format!(
                        "{minute} UTC · {} · {}",
                        if *ok { "passed" } else { "failed" },
                        format::ms(*ms)
                    );
                    if let Some(e) = error {
                        title.push_str(" · ");
                        title.push_str(e);
                    }
                    Beat {
                        class: if *ok { "ok" } else { "fail" },
                        level: (1 + ms * 3 / max).min(4) as u8,
                        title,
                    }
                }
            })
            .collect(),
    )
}

/// A beat bar of single checks, oldest first: (time, region, verdict name, duration,
/// what went wrong). Each bar says all of it on hover; a degraded check is amber.
pub(crate) fn check_beats(
    checks: &[(Timestamp, String, &'static str, u64, Option<String>)],
) -> Vec<Beat> {
    let max = checks.iter().map(|c| c.3).max().unwrap_or(1).max(1);
    checks
        .iter()
        .map(|(at, region, verdict, ms, error)| {
            let (class, word) = match *verdict {
                "up" => ("ok", "up"),
                "degraded" => ("warn", "degraded"),
                _ => ("fail", "down"),
            };
            let mut title = format!(
                "{} UTC · {region} · {word} · {}",
                format::utc(*at),
                format::ms(*ms)
            );
            if let Some(e) = error {
                title.push_str(" · ");
                title.push_str(e);
            }
            Beat {
                class,
                level: (1 + ms * 3 / max).min(4) as u8,
                title,
            }
        })
        .collect()
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v`.
pub(crate) fn nice_ceiling(v: u64) -> u64 {
    let mut base = 1u64;
    loop {
        for m in [1, 2, 5] {
            if let Some(c) = base.checked_mul(m)
                && c >= v
            {
                return c;
            }
        }
        match base.checked_mul(10) {
            Some(b) => base = b,
            None => return u64::MAX,
        }
    }
}

/// One check for the phase chart.
#[derive(Debug, Clone)]
pub(crate) struct PhasePoint {
    pub at: Timestamp,
    pub dns: u64,
    pub connect: u64,
    pub tls: u64,
    pub ttfb: u64,
    pub total: u64,
    pub ok: bool,
    pub region: String,
}

/// The response-time chart: a stacked bar per check (DNS, connect, TLS, first byte,
/// the rest), oldest left, with a millisecond axis and time labels.
#[derive(Debug, Clone)]
pub(crate) struct PhaseChart {
    pub w: u32,
    pub h: u32,
    /// Left and bottom of the plot area.
    pub left: u32,
    pub bottom: u32,
    pub right: u32,
    pub bars: Vec<Bar>,
    pub yticks: Vec<Tick>,
    pub xticks: Vec<Tick>,
    /// What the chart shows, for screen readers.
    pub summary: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub x: String,
    pub w: String,
    pub segs: Vec<Seg>,
    /// Shown on hover: time, phases and total.
    pub title: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Seg {
    pub y: String,
    pub h: String,
    /// `dns`, `connect`, `tls`, `ttfb` or `rest` (the CSS colour).
    pub class: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct Tick {
    pub pos: String,
    pub label: String,
}

/// The phase names in stacking order, with their legend text.
pub(crate) const PHASES: [(&str, &str); 5] = [
    ("dns", "DNS"),
    ("connect", "Connect"),
    ("tls", "TLS"),
    ("ttfb", "First byte"),
    ("rest", "Body and the rest"),
];

/// Width of the response-time charts' drawing (they scale to their card).
const CHART_W: u32 = 1000;

/// What both response-time charts share: the drawing's size, the plot area inside it,
/// and a millisecond axis of whole, round steps (about four, the top one at or above
/// the slowest value).
struct Frame {
    left: u32,
    right: u32,
    top: u32,
    bottom: u32,
    step: u64,
    ticks: u64,
}

impl Frame {
    const H: u32 = 220;

    fn new(max: u64) -> Frame {
        let step = nice_ceiling(max.max(1).div_ceil(4)).max(1);
        Frame {
            left: 56,
            right: 8,
            top: 10,
            bottom: 190,
            step,
            ticks: max.max(1).div_ceil(step).max(1),
        }
    }

    fn plot_w(&self) -> f64 {
        f64::from(CHART_W - self.left - self.right)
    }

    /// Where `v` milliseconds sit on the axis.
    fn y_of(&self, v: f64) -> f64 {
        let scale = (self.step * self.ticks) as f64;
        f64::from(self.bottom) - v / scale * f64::from(self.bottom - self.top)
    }

    fn chart(self, bars: Vec<Bar>, xticks: Vec<Tick>, summary: String) -> PhaseChart {
        let yticks = (0..=self.ticks)
            .map(|i| Tick {
                pos: format!("{:.1}", self.y_of((i * self.step) as f64)),
                label: format::ms(i * self.step),
            })
            .collect();
        PhaseChart {
            w: CHART_W,
            h: Self::H,
            left: self.left,
            bottom: self.bottom,
            right: CHART_W - self.right,
            bars,
            yticks,
            xticks,
            summary,
        }
    }
}

/// One bucket of rolled-up checks: its start and what it holds.
pub(crate) struct RollupPoint {
    pub start: Timestamp,
    pub checks: u64,
    pub failures: u64,
    pub mean: u64,
    pub p95: Option<u64>,
    pub max: Option<u64>,
}

/// The response-time chart over an hour (a bucket per `minute` of raw results), hours
/// or days (an `hour` or `day` of the rollups): a bar per bucket (`slots` of them from
/// `start`, `slot` wide) as tall as its mean response time, red when a check in it
/// failed; buckets without checks are gaps. `None` when no bucket has a check.
pub(crate) fn rollup_chart(
    points: &[RollupPoint],
    start: Timestamp,
    slot: jiff::SignedDuration,
    slots: usize,
    unit: &'static str,
) -> Option<PhaseChart> {
    let daily = unit == "day";
    let points: Vec<&RollupPoint> = points.iter().filter(|p| p.checks > 0).collect();
    if points.is_empty() || slots == 0 {
        return None;
    }
    let max = points.iter().map(|p| p.mean).max().unwrap_or(1).max(1);
    let frame = Frame::new(max);
    let (left, bottom) = (frame.left, frame.bottom);
    let slot_w = frame.plot_w() / slots as f64;
    let bar_w = (slot_w * 0.75).max(1.0);
    let slot_ms = slot.as_millis().max(1);
    let index =
        |t: Timestamp| ((t.as_millisecond() - start.as_millisecond()) as i128 / slot_ms) as i64;
    let label = |t: Timestamp| {
        if daily {
            t.strftime("%b %-d").to_string()
        } else {
            format!("{} {}", t.strftime("%b %-d"), format::hhmm(t))
        }
    };
    let mut bars = Vec::with_capacity(points.len());
    for p in &points {
        let i = index(p.start);
        if i < 0 || i >= slots as i64 {
            continue;
        }
        let x = f64::from(left) + i as f64 * slot_w + (slot_w - bar_w) / 2.0;
        let y = frame.y_of(p.mean as f64);
        let failed = p.failures > 0;
        let mut title = format!(
            "{} UTC ({unit}): mean {}",
            label(p.start),
            format::ms(p.mean)
        );
        if let Some(v) = p.p95 {
            title.push_str(&format!(", p95 {}", format::ms(v)));
        }
        if let Some(v) = p.max {
            title.push_str(&format!(", max {}", format::ms(v)));
        }
        title.push_str(&format!(" — {} of {} checks failed", p.failures, p.checks));
        bars.push(Bar {
            x: format!("{x:.1}"),
            w: format!("{bar_w:.1}"),
            segs: vec![Seg {
                y: format!("{y:.1}"),
                h: format!("{:.1}", (f64::from(bottom) - y).max(0.5)),
                class: if failed { "failed" } else { "mean" },
            }],
            title,
        });
    }
    let end = start + slot * (slots as i32);
    let xticks = [(0usize, start), (slots, end)]
        .into_iter()
        .map(|(i, t)| Tick {
            pos: format!("{:.1}", f64::from(left) + i as f64 * slot_w),
            label: label(t),
        })
        .collect();
    let failed = points.iter().filter(|p| p.failures > 0).count();
    let summary = format!(
        "Mean response time per {unit} from {} to {} UTC: slowest {}; {} with a failed check.",
        label(start),
        label(end),
        format::ms(max),
        failed
    );
    Some(frame.chart(bars, xticks, summary))
}

/// Lays out the chart for `points` (oldest first).
pub(crate) fn phase_chart(points: &[PhasePoint]) -> Option<PhaseChart> {
    if points.is_empty() {
        return None;
    }
    let max = points.iter().map(|p| p.total).max().unwrap_or(1).max(1);
    let frame = Frame::new(max);
    let (left, bottom) = (frame.left, frame.bottom);
    let slots = points.len().max(20) as f64;
    let slot = frame.plot_w() / slots;
    let bar_w = (slot * 0.7).max(1.0);
    let y_of = |v: f64| frame.y_of(v);
    let mut bars = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        let x = f64::from(left) + i as f64 * slot + (slot - bar_w) / 2.0;
        let known = p.dns + p.connect + p.tls + p.ttfb;
        let rest = p.total.saturating_sub(known);
        let mut acc = 0.0;
        let mut segs = Vec::new();
        for (class, v) in [
            ("dns", p.dns),
            ("connect", p.connect),
            ("tls", p.tls),
            ("ttfb", p.ttfb),
            ("rest", rest),
        ] {
            if v == 0 {
                continue;
            }
            let y0 = y_of(acc);
            acc += v as f64;
            let y1 = y_of(acc);
            segs.push(Seg {
                y: format!("{y1:.1}"),
                h: format!("{:.1}", (y0 - y1).max(0.5)),
                class,
            });
        }
        if segs.is_empty() {
            segs.push(Seg {
                y: format!("{:.1}", f64::from(bottom) - 0.5),
                h: "0.5".into(),
                class: "rest",
            });
        }
        if !p.ok {
            // A failed check is red, whatever its phases.
            for seg in &mut segs {
                seg.class = "failed";
            }
        }
        let title = format!(
            "{} ({}): {}{} — DNS {}, connect {}, TLS {}, first byte {}",
            format::utc(p.at),
            p.region,
            format::ms(p.total),
            if p.ok { "" } else { ", failed" },
            format::ms(p.dns),
            format::ms(p.connect),
            format::ms(p.tls),
            format::ms(p.ttfb),
        );
        bars.push(Bar {
            x: format!("{x:.1}"),
            w: format!("{bar_w:.1}"),
            segs,
            title,
        });
    }
    // Time labels at the first, middle and last check, left out where they would
    // crowd the one before (or say the same).
    let mut xticks: Vec<Tick> = Vec::new();
    let mut last_x = f64::NEG_INFINITY;
    let n = points.len();
    for i in [0, n / 2, n - 1] {
        let x = f64::from(left) + i as f64 * slot + slot / 2.0;
        let label = format::hhmm(points[i].at);
        if x - last_x < 48.0 || xticks.last().is_some_and(|t| t.label == label) {
            continue;
        }
        last_x = x;
        xticks.push(Tick {
            pos: format!("{x:.1}"),
            label,
        });
    }
    let failed = points.iter().filter(|p| !p.ok).count();
    let summary = format!(
        "Response time of the last {} checks, from {} to {} UTC: slowest {}, {} failed.",
        points.len(),
        format::hhmm(points[0].at),
        format::hhmm(points[points.len() - 1].at),
        format::ms(max),
        failed
    );
    Some(frame.chart(bars, xticks, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(120), 200);
        assert_eq!(nice_ceiling(500), 500);
        assert_eq!(nice_ceiling(501), 1000);
    }

    #[test]
    fn beats_show_each_minute_and_how_it_went() {
        let since = Timestamp::from_second(1_700_000_040).unwrap(); // 22:14 UTC
        let b = beats(
            &[
                Some((10, true, None)),
                None,
                Some((40, false, Some("status 503".into()))),
            ],
            &minute_labels(since, 3),
        )
        .unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].class, b[1].class, b[2].class), ("ok", "none", "fail"));
        assert_eq!(b[0].title, "22:14 UTC · passed · 10 ms");
        assert_eq!(b[1].title, "22:15 UTC · no check");
        assert_eq!(b[2].title, "22:16 UTC · failed · 40 ms · status 503");
        assert_eq!((b[0].level, b[2].level), (1, 4), "tall as slow, never flat");
        assert!(beats(&[None, None], &minute_labels(since, 2)).is_none());
    }

    #[test]
    fn rollup_chart_places_buckets_and_reddens_failures() {
        let start = Timestamp::from_second(1_700_000_000 - 1_700_000_000 % 3600).unwrap();
        let hour = jiff::SignedDuration::from_hours(1);
        let p = |h: i32, mean, failures| RollupPoint {
            start: start + hour * h,
            checks: 60,
            failures,
            mean,
            p95: Some(mean * 2),
            max: Some(mean * 3),
        };
        let c = rollup_chart(
            &[p(0, 40, 0), p(5, 80, 2), p(30, 10, 0)],
            start,
            hour,
            24,
            "hour",
        )
        .unwrap();
        assert_eq!(c.bars.len(), 2, "a bucket outside the range is left out");
        assert_eq!(c.bars[0].segs[0].class, "mean");
        assert_eq!(c.bars[1].segs[0].class, "failed");
        assert!(
            c.bars[1]
                .title
                .ends_with("mean 80 ms, p95 160 ms, max 240 ms — 2 of 60 checks failed"),
            "{}",
            c.bars[1].title
        );
        let x0: f64 = c.bars[0].x.parse().unwrap();
        let x5: f64 = c.bars[1].x.parse().unwrap();
        assert!(
            (x5 - x0 - 5.0 * (1000.0 - 64.0) / 24.0).abs() < 0.2,
            "{x0} {x5}"
        );
        assert!(rollup_chart(&[], start, hour, 24, "hour").is_none());
    }

    #[test]
    fn check_beats_say_everything_on_hover() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let b = check_beats(&[
            (t, "eu".into(), "up", 20, None),
            (t, "us".into(), "degraded", 40, Some("slow".into())),
            (t, "us".into(), "down", 0, Some("connection refused".into())),
        ]);
        assert_eq!(
            b.iter().map(|x| x.class).collect::<Vec<_>>(),
            ["ok", "warn", "fail"]
        );
        assert_eq!(
            b[2].title,
            format!(
                "{} UTC · us · down · 0 ms · connection refused",
                format::utc(t)
            )
        );
        assert_eq!((b[0].level, b[1].level, b[2].level), (2, 4, 1));
    }

    #[test]
    fn phase_chart_stacks_and_labels() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let p = |total, ok| PhasePoint {
            at: t,
            dns: 5,
            connect: 10,
            tls: 0,
            ttfb: 60,
            total,
            ok,
            region: "local".into(),
        };
        let c = phase_chart(&[p(100, true), p(180, false)]).unwrap();
        assert_eq!(c.bars.len(), 2);
        let classes: Vec<_> = c.bars[0].segs.iter().map(|s| s.class).collect();
        assert_eq!(
            classes,
            ["dns", "connect", "ttfb", "rest"],
            "no empty TLS segment"
        );
        assert!(
            c.bars[1].segs.iter().all(|s| s.class == "failed")
                && c.bars[1].title.contains("failed")
        );
        assert_eq!(c.yticks.last().unwrap().label, "200 ms");
        let labels: Vec<_> = c.yticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0 ms", "50 ms", "100 ms", "150 ms", "200 ms"]);
        let small = phase_chart(&[p(5, true)]).unwrap();
        let labels: Vec<_> = small.yticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0 ms", "2 ms", "4 ms", "6 ms"], "whole steps only");
        assert_eq!(c.yticks[0].label, "0 ms");
        assert!(c.summary.contains("1 failed"));
        assert!(phase_chart(&[]).is_none());
    }
}
