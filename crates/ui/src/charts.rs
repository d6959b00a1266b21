//! SVG charts drawn on the server: the dashboard's latency sparkline and the monitor
//! page's response-time chart with its phases. No chart library and no script: the
//! geometry is computed here, the templates only place shapes. Numbers only ever go
//! into attributes; labels are escaped by the templates like any other text.

use jiff::Timestamp;

use super::format;

/// A small line of latency over recent minutes, with failures marked.
#[derive(Debug, Clone)]
pub(crate) struct Spark {
    /// SVG path data in a 96×24 box.
    pub d: String,
    /// Where failed checks are (x, y), drawn as red dots.
    pub fails: Vec<(String, String)>,
    /// `last 30 minutes, max 120 ms` — the scale, in words.
    pub label: String,
}

/// Width and height of the sparkline box.
pub(crate) const SPARK_W: f64 = 96.0;
pub(crate) const SPARK_H: f64 = 24.0;

/// A sparkline over time slots: each slot the mean duration of its checks and whether
/// they all passed, or `None` when nothing was checked (the line joins the slots
/// around it; a lone value is a dot). Slots with a failed check get a red dot.
pub(crate) fn sparkline(slots: &[Option<(u64, bool)>]) -> Option<Spark> {
    let max = slots.iter().flatten().map(|c| c.0).max()?;
    let n = slots.len().max(2);
    // 2 px of padding each side, so a dot at either end is drawn whole.
    let step = (SPARK_W - 4.0) / (n - 1) as f64;
    let scale = nice_ceiling(max.max(1));
    let mut d = String::new();
    let mut fails = Vec::new();
    let mut points = 0;
    for (i, slot) in slots.iter().enumerate() {
        let Some((v, ok)) = slot else { continue };
        let x = 2.0 + i as f64 * step;
        let y = SPARK_H - 2.0 - (*v as f64 / scale as f64) * (SPARK_H - 4.0);
        d.push_str(&format!(
            "{}{x:.0} {y:.0}",
            if points == 0 { "M" } else { "L" }
        ));
        if !ok {
            fails.push((format!("{x:.0}"), format!("{y:.0}")));
        }
        points += 1;
    }
    if points == 1 {
        d.push_str("h.1");
    }
    let failed = fails.len();
    Some(Spark {
        d,
        label: format!(
            "last 30 minutes, max {}{}",
            format::ms(max),
            if failed > 0 {
                format!(", failures in {failed} of them")
            } else {
                String::new()
            }
        ),
        fails,
    })
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
    pub failed: bool,
    /// Where the failure mark goes (under the axis).
    pub mark_y: String,
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

/// Lays out the chart for `points` (oldest first).
pub(crate) fn phase_chart(points: &[PhasePoint]) -> Option<PhaseChart> {
    if points.is_empty() {
        return None;
    }
    let (w, h, left, right, top, bottom) = (720u32, 220u32, 56u32, 8u32, 10u32, 190u32);
    let plot_w = f64::from(w - left - right);
    let plot_h = f64::from(bottom - top);
    let slots = points.len().max(20) as f64;
    let slot = plot_w / slots;
    let bar_w = (slot * 0.7).max(1.0);
    let max = points.iter().map(|p| p.total).max().unwrap_or(1).max(1);
    // Whole, round steps: about four of them, the top one at or above the slowest.
    let step = nice_ceiling(max.div_ceil(4)).max(1);
    let ticks = max.div_ceil(step).max(1);
    let scale = (step * ticks) as f64;
    let y_of = |v: f64| f64::from(bottom) - v / scale * plot_h;
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
            failed: !p.ok,
            mark_y: format!("{}", bottom + 3),
        });
    }
    let yticks = (0..=ticks)
        .map(|i| Tick {
            pos: format!("{:.1}", y_of((i * step) as f64)),
            label: format::ms(i * step),
        })
        .collect();
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
    Some(PhaseChart {
        w,
        h,
        left,
        bottom,
        right: w - right,
        bars,
        yticks,
        xticks,
        summary,
    })
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
    fn sparkline_marks_failures_and_joins_gaps() {
        let s = sparkline(&[Some((10, true)), None, Some((20, false)), Some((5, true))]).unwrap();
        assert!(s.d.starts_with("M2 "), "{}", s.d);
        assert_eq!(s.d.matches('L').count(), 2, "{}", s.d);
        assert_eq!(s.fails.len(), 1);
        assert_eq!(s.label, "last 30 minutes, max 20 ms, failures in 1 of them");
        let dot = sparkline(&[None, Some((7, true)), None]).unwrap();
        assert!(dot.d.ends_with("h.1"), "a lone value is a dot: {}", dot.d);
        assert!(sparkline(&[None, None]).is_none());
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
        assert!(c.bars[1].failed && c.bars[1].title.contains("failed"));
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
