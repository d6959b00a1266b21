//! The public status page as HTML: hand-built from the [`PageModel`], with one escaping
//! function ([`esc`]) through which every user-supplied string passes.
//!
//! The page is readable without JavaScript: banner, incidents, maintenance, each
//! monitor's state, its 90-day bar and its uptime figure, the incident history. Each
//! day of a bar is a focusable element whose `aria-label` says the day's exact figure,
//! downtime, maintenance and incidents; the stylesheet shows that same text as a
//! tooltip on hover *and* on keyboard focus. The small script (an external file, so
//! the page can forbid inline scripts) adds arrow-key movement within a bar and polls
//! the page's JSON: when its version changes, it fetches the page again and swaps the
//! main content, so the page updates without a reload.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use vigilmon_core::uptime::format_duration_ms;

use vigilmon_app::status_model::{PageModel, PublicDay, PublicIncident, PublicMonitor};

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The stylesheet of public pages.
pub const CSS: &str = include_str!("assets/status.css");
/// The script of public pages.
pub const JS: &str = include_str!("assets/status.js");

/// A short digest of the assets, appended to their URLs so browsers can keep them
/// long and still see a new version at once.
pub fn asset_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest([CSS, JS].concat())[..6])
    })
}

fn when(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

fn day_label(date: &str) -> String {
    date.parse::<jiff::civil::Date>()
        .map(|d| d.strftime("%a %-d %b %Y").to_string())
        .unwrap_or_else(|_| date.to_owned())
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The text of one day of a bar (tooltip and accessible name).
fn day_text(d: &PublicDay, today: bool) -> String {
    let mut s = day_label(&d.date);
    if today {
        s.push_str(" (today so far)");
    }
    match &d.uptime_text {
        None => s.push_str(": no data"),
        Some(p) => {
            let _ = write!(s, ": {p} uptime");
        }
    }
    if d.downtime_ms > 0 {
        let _ = write!(s, ", down {}", format_duration_ms(d.downtime_ms));
    }
    if d.maintenance_ms > 0 {
        let _ = write!(s, ", maintenance {}", format_duration_ms(d.maintenance_ms));
    }
    for i in d.incidents.iter().take(3) {
        let _ = write!(s, "; {} ({})", i.title, format_duration_ms(i.duration_ms));
    }
    if d.incidents.len() > 3 {
        let _ = write!(s, "; and {} more incidents", d.incidents.len() - 3);
    }
    s
}

fn day_class(d: &PublicDay) -> &'static str {
    match &d.uptime {
        None => "n",
        Some(_) if d.downtime_ms > 0 => {
            let ok = d
                .uptime_text
                .as_deref()
                .and_then(|t| t.trim_end_matches('%').parse::<f64>().ok())
                .is_some_and(|p| p >= 99.0);
            if ok { "y" } else { "r" }
        }
        Some(_) if d.maintenance_ms > 0 => "b",
        Some(_) => "g",
    }
}

fn monitor(out: &mut String, m: &PublicMonitor) {
    let name = esc(&m.name);
    let _ = write!(
        out,
        "<div class=\"mon\"><div class=\"mh\"><h3>{name}</h3><span class=\"st s-{}\">{}</span></div>",
        m.status, m.status_label
    );
    let _ = write!(
        out,
        "<div class=\"bars\" role=\"group\" aria-label=\"{name}: daily uptime, last {} days\">",
        m.days.len()
    );
    let last = m.days.len().saturating_sub(1);
    for (i, d) in m.days.iter().enumerate() {
        let _ = write!(
            out,
            "<span class=\"{}\" tabindex=\"0\" role=\"img\" aria-label=\"{}\"></span>",
            day_class(d),
            esc(&day_text(d, i == last))
        );
    }
    out.push_str("</div><div class=\"mf\"><span>");
    let _ = write!(out, "{} days ago</span><span>", m.days.len());
    match &m.uptime_90d_text {
        Some(p) => {
            let _ = write!(out, "<strong>{p}</strong> uptime");
        }
        None => out.push_str("no data yet"),
    }
    if let Some(ms) = m.response_time_ms {
        let _ = write!(out, " · {ms} ms avg. response (24h)");
    }
    out.push_str("</span><span>Today</span></div></div>");
}

fn incident(out: &mut String, i: &PublicIncident, tz: &TimeZone) {
    let _ = write!(
        out,
        "<article class=\"inc\" id=\"incident-{}\"><h3>{}</h3><p class=\"meta\">",
        i.id,
        esc(&i.title)
    );
    if !i.monitors.is_empty() {
        out.push_str("Affects ");
        let names: Vec<String> = i.monitors.iter().map(|n| esc(n).into_owned()).collect();
        out.push_str(&names.join(", "));
        out.push_str(" · ");
    }
    let _ = write!(
        out,
        "<time datetime=\"{}\">{}</time>",
        i.started_at,
        when(i.started_at, tz)
    );
    match i.resolved_at {
        Some(r) => {
            let _ = write!(
                out,
                " – <time datetime=\"{r}\">{}</time> ({})",
                when(r, tz),
                format_duration_ms(i.duration_ms)
            );
        }
        None => {
            let _ = write!(out, ", ongoing for {}", format_duration_ms(i.duration_ms));
        }
    }
    out.push_str("</p>");
    if !i.updates.is_empty() {
        out.push_str("<ol class=\"updates\">");
        for u in &i.updates {
            let _ = write!(
                out,
                "<li><strong>{}</strong> <time datetime=\"{}\">{}</time><p>{}</p></li>",
                esc(&capitalized(&u.status)),
                u.at,
                when(u.at, tz),
                esc(&u.text).replace('\n', "<br>")
            );
        }
        out.push_str("</ol>");
    }
    out.push_str("</article>");
}

/// The whole page. `version` is the JSON's version, which the script compares with
/// what it polls.
pub fn page(m: &PageModel, version: &str) -> String {
    let p = &m.page;
    let tz = &m.tz;
    let title = esc(&p.title);
    // "Acme status", but "Acme Status" as it is: never "Acme Status status".
    let tab_title = if p.title.to_lowercase().contains("status") {
        title.to_string()
    } else {
        format!("{title} status")
    };
    let mut out = String::with_capacity(16 * 1024 + m.sections.len() * 12 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{tab_title}</title>\
         <link rel=\"stylesheet\" href=\"/status-assets/status.css?v={v}\">\
         <link rel=\"alternate\" type=\"application/atom+xml\" title=\"{title} incidents\" href=\"{feed}\">\
         <script src=\"/status-assets/status.js?v={v}\" defer></script>",
        v = asset_version(),
        feed = esc(&p.links.feed)
    );
    if let Some(c) = &p.accent_color {
        // Validated as #rgb / #rrggbb; escaped all the same.
        let _ = write!(out, "<style>:root{{--accent:{}}}</style>", esc(c));
    }
    let _ = write!(
        out,
        "</head><body data-json=\"{}\" data-version=\"{}\"><header class=\"top\">",
        esc(&p.links.json),
        esc(version)
    );
    if let Some(logo) = &p.logo_url {
        let _ = write!(out, "<img class=\"logo\" src=\"{}\" alt=\"\">", esc(logo));
    }
    let _ = write!(out, "<div><h1>{title}</h1>");
    if let Some(d) = &p.description {
        let _ = write!(
            out,
            "<p class=\"desc\">{}</p>",
            esc(d).replace('\n', "<br>")
        );
    }
    out.push_str("</div></header><main id=\"main\">");
    let _ = write!(
        out,
        "<section class=\"banner b-{}\" role=\"status\"><h2>{}</h2></section>",
        m.status.indicator, m.status.description
    );
    if !m.active_incidents.is_empty() {
        out.push_str("<section class=\"active\"><h2>Active incidents</h2>");
        for i in &m.active_incidents {
            incident(&mut out, i, tz);
        }
        out.push_str("</section>");
    }
    if !m.maintenance.is_empty() {
        out.push_str("<section class=\"maint\"><h2>Maintenance</h2><ul>");
        for w in &m.maintenance {
            let names: Vec<String> = w.monitors.iter().map(|n| esc(n).into_owned()).collect();
            let _ = write!(
                out,
                "<li><strong>{}</strong> <time datetime=\"{}\">{}</time> – <time datetime=\"{}\">{}</time>: {}</li>",
                if w.active { "In progress" } else { "Scheduled" },
                w.starts_at,
                when(w.starts_at, tz),
                w.ends_at,
                when(w.ends_at, tz),
                names.join(", ")
            );
        }
        out.push_str("</ul></section>");
    }
    for s in &m.sections {
        let _ = write!(out, "<section class=\"sec\"><h2>{}</h2>", esc(&s.name));
        for mon in &s.monitors {
            monitor(&mut out, mon);
        }
        out.push_str("</section>");
    }
    out.push_str("<section class=\"history\"><h2>Incident history (90 days)</h2>");
    if m.incident_history.is_empty() {
        out.push_str("<p>No incidents in the last 90 days.</p>");
    }
    for i in &m.incident_history {
        incident(&mut out, i, tz);
    }
    let _ = write!(
        out,
        "</section></main><footer><p>Times are in {}. <a href=\"{}\">Atom feed</a> · <a href=\"{}\">JSON</a> · \
         Powered by Vigilmon</p></footer></body></html>",
        esc(&p.timezone),
        esc(&p.links.feed),
        esc(&p.links.json)
    );
    out
}

/// A minimal page for "no such status page".
pub fn not_found() -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title>\
         <link rel=\"stylesheet\" href=\"/status-assets/status.css?v={}\"></head>\
         <body><main id=\"main\"><h1>No such status page</h1></main></body></html>",
        asset_version()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("plain"), "plain");
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn day_texts() {
        let d = PublicDay {
            date: "2025-06-03".into(),
            uptime: Some(0.99),
            uptime_text: Some("99%".into()),
            downtime_ms: 864_000,
            maintenance_ms: 0,
            incidents: vec![vigilmon_app::status_model::DayIncident {
                id: "x".into(),
                title: "Service disruption".into(),
                duration_ms: 864_000,
            }],
        };
        assert_eq!(
            day_text(&d, false),
            "Tue 3 Jun 2025: 99% uptime, down 14m 24s; Service disruption (14m 24s)"
        );
        assert_eq!(day_class(&d), "y");
        let none = PublicDay {
            uptime: None,
            uptime_text: None,
            incidents: vec![],
            downtime_ms: 0,
            ..d
        };
        assert_eq!(
            day_text(&none, true),
            "Tue 3 Jun 2025 (today so far): no data"
        );
        assert_eq!(day_class(&none), "n");
    }
}
