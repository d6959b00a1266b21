//! The Atom feed of a status page's incidents (RFC 4287): one entry per incident of the
//! page's monitors over the last 90 days, active ones included, newest first. An entry
//! carries the public title, the affected monitors' public names, the times and the
//! public updates — what the page shows, nothing more.

use std::fmt::Write as _;

use jiff::Timestamp;
use vigilmon_core::uptime::format_duration_ms;

use crate::html::esc;
use vigilmon_app::status_model::{PageModel, PublicIncident};

/// Most entries in a feed.
const MAX_ENTRIES: usize = 50;

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn entry_text(i: &PublicIncident) -> String {
    let mut s = String::new();
    if !i.monitors.is_empty() {
        let _ = writeln!(s, "Affects: {}", i.monitors.join(", "));
    }
    let _ = write!(s, "Started {}", rfc3339(i.started_at));
    match i.resolved_at {
        Some(r) => {
            let _ = writeln!(
                s,
                ", resolved {} after {}.",
                rfc3339(r),
                format_duration_ms(i.duration_ms)
            );
        }
        None => s.push_str(", ongoing.\n"),
    }
    for u in &i.updates {
        let _ = write!(s, "\n{} ({}): {}\n", u.status, rfc3339(u.at), u.text);
    }
    s
}

/// The feed. `base` is the server's public URL (links and ids are absolute).
pub fn atom(m: &PageModel, base: &str, updated_fallback: Timestamp) -> String {
    let page_url = format!("{base}{}", m.page.links.html);
    let mut entries: Vec<&PublicIncident> = m
        .active_incidents
        .iter()
        .chain(m.incident_history.iter())
        .collect();
    entries.sort_by_key(|i| std::cmp::Reverse(i.started_at));
    entries.truncate(MAX_ENTRIES);
    let updated = entries
        .iter()
        .map(|i| i.updated_at)
        .max()
        .unwrap_or(updated_fallback);
    let title = esc(&m.page.title);
    let mut out = String::with_capacity(2048 + entries.len() * 512);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
         <title>{title} incidents</title><id>{id}</id>\
         <link rel=\"alternate\" type=\"text/html\" href=\"{id}\"/>\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{base}{feed}\"/>\
         <updated>{updated}</updated><author><name>{title}</name></author>",
        id = esc(&page_url),
        base = esc(base),
        feed = esc(&m.page.links.feed),
        updated = rfc3339(updated),
    );
    for i in entries {
        let state = if i.resolved_at.is_some() {
            "Resolved"
        } else {
            "Ongoing"
        };
        let _ = write!(
            out,
            "<entry><title>{state}: {title}</title><id>{url}#incident-{id}</id>\
             <link rel=\"alternate\" type=\"text/html\" href=\"{url}#incident-{id}\"/>\
             <published>{published}</published><updated>{updated}</updated>\
             <content type=\"text\">{content}</content></entry>",
            title = esc(&i.title),
            url = esc(&page_url),
            id = i.id,
            published = rfc3339(i.started_at),
            updated = rfc3339(i.updated_at),
            content = esc(&entry_text(i)),
        );
    }
    out.push_str("</feed>\n");
    out
}
