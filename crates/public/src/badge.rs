//! SVG badges (`label | value`, in the familiar flat style) for a monitor's state, its
//! uptime over a window, and its mean response time. Text widths are estimated from a
//! table of Verdana 11px advance widths, so the badge needs no font at render time.

use std::fmt::Write as _;

use crate::html::esc;

/// Badge colours.
pub const GREEN: &str = "#4c1";
pub const LIGHT_GREEN: &str = "#97ca00";
pub const YELLOW: &str = "#dfb317";
pub const ORANGE: &str = "#fe7d37";
pub const RED: &str = "#e05d44";
pub const BLUE: &str = "#007ec6";
pub const GREY: &str = "#9f9f9f";

/// Approximate advance width of `c` in Verdana at 11px, in tenths of a pixel.
fn char_width(c: char) -> u32 {
    match c {
        ' ' => 39,
        'i' | 'l' | '.' | ',' | ':' | ';' | '!' | '|' | '\'' | 'j' => 30,
        'f' | 't' | 'r' | '(' | ')' | '[' | ']' | 'I' | '-' => 43,
        'm' | 'w' | 'M' | 'W' | '%' | '@' => 99,
        'A'..='Z' => 75,
        '0'..='9' => 70,
        c if c.is_ascii() => 62,
        // Wider scripts and symbols: err on the wide side.
        _ => 90,
    }
}

fn text_width(s: &str) -> u32 {
    s.chars().map(char_width).sum::<u32>().div_ceil(10)
}

/// A badge reading `label | value` on `color`.
pub fn svg(label: &str, value: &str, color: &str) -> String {
    let (lw, vw) = (text_width(label) + 10, text_width(value) + 10);
    let w = lw + vw;
    let (label, value) = (esc(label), esc(value));
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"20\" role=\"img\" aria-label=\"{label}: {value}\">\
         <title>{label}: {value}</title>\
         <linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\
         <clipPath id=\"r\"><rect width=\"{w}\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>\
         <g clip-path=\"url(#r)\"><rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{vw}\" height=\"20\" fill=\"{color}\"/><rect width=\"{w}\" height=\"20\" fill=\"url(#s)\"/></g>\
         <g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" font-size=\"11\">\
         <text x=\"{lx}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">{label}</text><text x=\"{lx}\" y=\"14\">{label}</text>\
         <text x=\"{vx}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">{value}</text><text x=\"{vx}\" y=\"14\">{value}</text></g></svg>",
        lx = f64::from(lw) / 2.0,
        vx = f64::from(lw) + f64::from(vw) / 2.0,
        color = esc(color),
    );
    out
}

/// The colour of a public state key.
pub fn state_color(status: &str) -> &'static str {
    match status {
        "operational" => GREEN,
        "degraded" => YELLOW,
        "outage" => RED,
        "maintenance" => BLUE,
        _ => GREY,
    }
}

/// The colour of an uptime figure in thousandths of a percent.
pub fn uptime_color(milli_percent: Option<u32>) -> &'static str {
    match milli_percent {
        None => GREY,
        Some(100_000) => GREEN,
        Some(v) if v >= 99_900 => LIGHT_GREEN,
        Some(v) if v >= 99_000 => YELLOW,
        Some(v) if v >= 95_000 => ORANGE,
        Some(_) => RED,
    }
}

/// The colour of a mean response time.
pub fn response_color(ms: Option<u64>) -> &'static str {
    match ms {
        None => GREY,
        Some(v) if v < 300 => GREEN,
        Some(v) if v < 800 => LIGHT_GREEN,
        Some(v) if v < 2000 => YELLOW,
        Some(_) => ORANGE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badge_is_svg_and_escaped() {
        let s = svg("<b>api</b>", "99.9%", GREEN);
        assert!(s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(s.contains("&lt;b&gt;api&lt;/b&gt;: 99.9%"));
        assert!(!s.contains("<b>"));
        assert!(text_width("uptime 30d") > text_width("up"));
        assert_eq!(uptime_color(Some(99_950)), LIGHT_GREEN);
        assert_eq!(uptime_color(None), GREY);
        assert_eq!(state_color("outage"), RED);
    }
}
