//! Status pages as users write them (YAML `status_pages:` entries, or the API), and
//! their validation.
//!
//! A page lists monitors by name, grouped in sections. A monitor is shown under its
//! own name unless the entry gives a `public_name`:
//!
//! ```yaml
//! status_pages:
//!   - slug: cache
//!     title: Cache layer
//!     sections:
//!       - name: Redis
//!         monitors:
//!           - "[redis-primary] cache /health"
//!           - { name: "[redis-replica-1] cache", public_name: Replica }
//! ```
//!
//! Everything a page shows is chosen here: its texts, the monitors and their public
//! names. Nothing else about a monitor (URL, headers, errors, regions) is ever
//! published. [`StatusPageConfig::validate`] checks the shape; whether the named
//! monitors exist is the caller's business (the config file may name monitors made
//! through the API).

use std::collections::HashSet;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::monitor::MAX_NAME_CHARS;
use crate::validation::ValidationError;

/// Longest slug, in characters.
pub const MAX_SLUG_CHARS: usize = 64;
/// Longest title, section name or public name, in characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// Most monitors on one page.
pub const MAX_MONITORS: usize = 500;
/// Slugs that cannot name a page (they are paths of their own).
pub const RESERVED_SLUGS: &[&str] = &["assets", "api", "badge", "static"];

/// A status page as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusPageConfig {
    /// The page's address: `/status/{slug}`. Lower-case letters, digits and `-`.
    #[schema(max_length = 64, pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")]
    pub slug: String,
    pub title: String,
    /// A paragraph under the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// IANA time zone of the daily bars and the times shown. Default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// A custom domain: a request whose `Host` is this name gets the page at `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// An http(s) URL of a logo image shown beside the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Accent colour: `#rgb` or `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    pub sections: Vec<SectionConfig>,
}

/// A group of monitors on a page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionConfig {
    pub name: String,
    pub monitors: Vec<PageMonitor>,
}

/// A monitor on a page: its name, or its name and the name the public sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PageMonitor {
    /// Shown under its own name.
    Name(String),
    /// Shown under `public_name`.
    Named {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_name: Option<String>,
    },
}

impl PageMonitor {
    /// The monitor's (internal) name, trimmed.
    pub fn name(&self) -> &str {
        match self {
            PageMonitor::Name(n) | PageMonitor::Named { name: n, .. } => n.trim(),
        }
    }

    /// The name shown to the public: `public_name`, else the monitor's name.
    pub fn public_name(&self) -> &str {
        match self {
            PageMonitor::Named {
                public_name: Some(p),
                ..
            } if !p.trim().is_empty() => p.trim(),
            other => other.name(),
        }
    }
}

fn printable(s: &str, max: usize) -> bool {
    let t = s.trim();
    !t.is_empty() && t.chars().count() <= max && !t.chars().any(char::is_control)
}

/// Whether `slug` is a valid page slug.
pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= MAX_SLUG_CHARS
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !RESERVED_SLUGS.contains(&slug)
}

/// Normalises a host name for comparison with a `Host` header: lower case, no port,
/// no trailing dot.
pub fn normalize_host(host: &str) -> String {
    let h = host.trim();
    // Strip a port, but not from a bracketed IPv6 literal's colons.
    let h = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        h.rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(h, |(name, _)| name)
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// A DNS name with at least two labels whose last one (the top-level domain) has a
/// letter: never an IP address, in any of its written forms.
fn valid_domain(d: &str) -> bool {
    let d = d.trim_end_matches('.');
    !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && d.parse::<std::net::IpAddr>().is_err()
        && d.rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_alphabetic()))
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn valid_color(c: &str) -> bool {
    let Some(hex) = c.strip_prefix('#') else {
        return false;
    };
    (hex.len() == 3 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn valid_logo_url(u: &str) -> bool {
    u.len() <= 2_000
        && !u.chars().any(|c| c.is_control() || c.is_whitespace())
        && url::Url::parse(u).is_ok_and(|p| {
            matches!(p.scheme(), "http" | "https") && p.host_str().is_some_and(|h| !h.is_empty())
        })
}

impl StatusPageConfig {
    /// The page's time zone (UTC when none is given or it is unknown; [`Self::validate`]
    /// refuses unknown ones).
    pub fn time_zone(&self) -> TimeZone {
        self.timezone
            .as_deref()
            .and_then(|n| TimeZone::get(n.trim()).ok())
            .unwrap_or(TimeZone::UTC)
    }

    /// The name of the page's time zone, as shown.
    pub fn time_zone_name(&self) -> &str {
        self.timezone
            .as_deref()
            .map(str::trim)
            .filter(|n| TimeZone::get(n).is_ok())
            .unwrap_or("UTC")
    }

    /// Refuses a custom domain that is the server's own host (`public_host`,
    /// normalised): the page would take over the server's `/`.
    pub fn check_domain_against(&self, public_host: &str) -> Result<(), ValidationError> {
        match self.normalized_domain() {
            Some(d) if d == normalize_host(public_host) => Err(ValidationError::new(
                "domain",
                format!("{d} is the server's own host name; give the page a host name of its own"),
            )),
            _ => Ok(()),
        }
    }

    /// The custom domain, normalised, if any.
    pub fn normalized_domain(&self) -> Option<String> {
        self.domain
            .as_deref()
            .map(normalize_host)
            .filter(|d| !d.is_empty())
    }

    /// Every monitor entry of the page, in order.
    pub fn monitors(&self) -> impl Iterator<Item = &PageMonitor> {
        self.sections.iter().flat_map(|s| s.monitors.iter())
    }

    /// Checks the page, or returns every problem found, each naming its field
    /// (`sections[0].monitors[2].public_name`).
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut errs = Vec::new();
        let mut err = |field: String, message: &str| {
            errs.push(ValidationError::new(field, message));
        };
        if !valid_slug(&self.slug) {
            err(
                "slug".into(),
                "must be 1-64 lower-case letters, digits and '-' (not at either end), and not assets, api, badge or static",
            );
        }
        if !printable(&self.title, MAX_TEXT_CHARS) {
            err("title".into(), "must be 1-200 printable characters");
        }
        if let Some(d) = &self.description
            && (d.chars().count() > MAX_DESCRIPTION_CHARS
                || d.chars().any(|c| c.is_control() && c != '\n'))
        {
            err(
                "description".into(),
                "must be at most 2,000 characters, without control characters",
            );
        }
        if let Some(tz) = &self.timezone
            && TimeZone::get(tz.trim()).is_err()
        {
            err(
                "timezone".into(),
                "is not a known IANA time zone, such as Europe/Berlin",
            );
        }
        if let Some(d) = &self.domain
            && !valid_domain(&normalize_host(d))
        {
            err(
                "domain".into(),
                "must be a host name such as status.example.com (no scheme, no path, not an IP address)",
            );
        }
        if let Some(u) = &self.logo_url
            && !valid_logo_url(u)
        {
            err("logo_url".into(), "must be an http:// or https:// URL");
        }
        if let Some(c) = &self.accent_color
            && !valid_color(c)
        {
            err("accent_color".into(), "must be #rgb or #rrggbb");
        }
        if self.sections.is_empty() {
            err("sections".into(), "list at least one section");
        }
        let mut seen = HashSet::new();
        let mut count = 0usize;
        for (i, s) in self.sections.iter().enumerate() {
            if !printable(&s.name, MAX_TEXT_CHARS) {
                err(
                    format!("sections[{i}].name"),
                    "must be 1-200 printable characters",
                );
            }
            if s.monitors.is_empty() {
                err(
                    format!("sections[{i}].monitors"),
                    "list at least one monitor",
                );
            }
            for (j, m) in s.monitors.iter().enumerate() {
                count += 1;
                let at = format!("sections[{i}].monitors[{j}]");
                if !printable(m.name(), MAX_NAME_CHARS) {
                    err(
                        format!("{at}.name"),
                        "must be a monitor name (1-200 printable characters)",
                    );
                } else if !seen.insert(m.name().to_owned()) {
                    err(
                        format!("{at}.name"),
                        "the monitor is already on this page; a monitor appears once per page",
                    );
                }
                if let PageMonitor::Named {
                    public_name: Some(p),
                    ..
                } = m
                    && !printable(p, MAX_TEXT_CHARS)
                {
                    err(
                        format!("{at}.public_name"),
                        "must be 1-200 printable characters",
                    );
                }
            }
        }
        if count > MAX_MONITORS {
            err("sections".into(), "a page shows at most 500 monitors");
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// A copy with surrounding white space trimmed from the names and texts, and the
    /// domain normalised: what is stored.
    pub fn normalized(&self) -> StatusPageConfig {
        let mut c = self.clone();
        c.slug = c.slug.trim().to_owned();
        c.title = c.title.trim().to_owned();
        c.description = c
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        c.timezone = c.timezone.map(|t| t.trim().to_owned());
        c.domain = self.normalized_domain();
        c.logo_url = c.logo_url.map(|u| u.trim().to_owned());
        for s in &mut c.sections {
            s.name = s.name.trim().to_owned();
            for m in &mut s.monitors {
                *m = match m {
                    PageMonitor::Name(n) => PageMonitor::Name(n.trim().to_owned()),
                    PageMonitor::Named { name, public_name } => {
                        match public_name
                            .as_deref()
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                        {
                            Some(p) => PageMonitor::Named {
                                name: name.trim().to_owned(),
                                public_name: Some(p.to_owned()),
                            },
                            None => PageMonitor::Name(name.trim().to_owned()),
                        }
                    }
                };
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(v: serde_json::Value) -> StatusPageConfig {
        serde_json::from_value(v).unwrap()
    }

    fn fields(v: serde_json::Value) -> Vec<String> {
        page(v)
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn both_monitor_forms_parse() {
        let p = page(json!({
            "slug": "cache", "title": "Cache layer",
            "sections": [{"name": "Redis", "monitors": [
                "api", {"name": "api-internal", "public_name": "API"}, {"name": "x"}
            ]}]
        }));
        assert!(p.validate().is_ok());
        let names: Vec<(&str, &str)> = p.monitors().map(|m| (m.name(), m.public_name())).collect();
        assert_eq!(names, [("api", "api"), ("api-internal", "API"), ("x", "x")]);
        // Round trip keeps the short form short.
        let back = serde_json::to_value(&p).unwrap();
        assert_eq!(back["sections"][0]["monitors"][0], "api");
        assert_eq!(back["sections"][0]["monitors"][1]["public_name"], "API");
    }

    #[test]
    fn validation_names_fields() {
        assert_eq!(
            fields(json!({"slug": "Bad Slug", "title": " ", "sections": []})),
            ["slug", "title", "sections"]
        );
        assert_eq!(
            fields(json!({
                "slug": "ok", "title": "t", "timezone": "Mars/Base", "domain": "https://x.com/",
                "logo_url": "javascript:alert(1)", "accent_color": "red",
                "sections": [{"name": "", "monitors": []}, {"name": "s", "monitors": ["a", "a", {"name": "b", "public_name": ""}]}]
            })),
            [
                "timezone",
                "domain",
                "logo_url",
                "accent_color",
                "sections[0].name",
                "sections[0].monitors",
                "sections[1].monitors[1].name",
                "sections[1].monitors[2].public_name"
            ]
        );
        assert_eq!(
            fields(
                json!({"slug": "assets", "title": "t", "sections": [{"name": "s", "monitors": ["a"]}]})
            ),
            ["slug"]
        );
        assert!(
            serde_json::from_value::<StatusPageConfig>(
                json!({"slug": "a", "title": "t", "sections": [], "theme": "dark"})
            )
            .is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn good_optional_fields() {
        let p = page(json!({
            "slug": "status-2", "title": "Status", "description": "Line one\nline two",
            "timezone": "Europe/Berlin", "domain": "Status.Example.com.", "logo_url": "https://example.com/l.svg",
            "accent_color": "#0a7CFF", "sections": [{"name": "s", "monitors": ["a"]}]
        }));
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(p.normalized_domain().as_deref(), Some("status.example.com"));
        assert_eq!(p.time_zone_name(), "Europe/Berlin");
        assert_eq!(
            page(json!({"slug": "a", "title": "t", "sections": []})).time_zone_name(),
            "UTC"
        );
    }

    #[test]
    fn host_normalisation() {
        assert_eq!(
            normalize_host("Status.Example.COM:8443"),
            "status.example.com"
        );
        assert_eq!(normalize_host("status.example.com."), "status.example.com");
        assert_eq!(normalize_host("[::1]:80"), "::1");
        assert_eq!(normalize_host("localhost"), "localhost");
    }

    #[test]
    fn normalized_trims_and_shortens() {
        let p = page(json!({"slug": " a ", "title": " T ", "description": "  ",
            "sections": [{"name": " S ", "monitors": [" m ", {"name": " n ", "public_name": " "}, {"name": "o", "public_name": " P "}]}]}))
        .normalized();
        assert_eq!(p.slug, "a");
        assert_eq!(p.title, "T");
        assert_eq!(p.description, None);
        assert_eq!(
            p.sections[0].monitors,
            [
                PageMonitor::Name("m".into()),
                PageMonitor::Name("n".into()),
                PageMonitor::Named {
                    name: "o".into(),
                    public_name: Some("P".into())
                }
            ]
        );
    }

    #[test]
    fn a_custom_domain_is_a_dns_name_never_an_address_nor_the_server_itself() {
        let with = |d: &str| {
            json!({"slug": "s", "title": "t", "domain": d,
                   "sections": [{"name": "All", "monitors": ["api"]}]})
        };
        for ip in [
            "127.0.0.1",
            "10.0.0.1:8080",
            "[::1]",
            "0x7f.1",
            "2130706433.0",
            "1.2.3.4.",
        ] {
            let r = page(with(ip)).validate();
            assert!(
                r.as_ref()
                    .is_err_and(|e| e.iter().any(|e| e.field == "domain")),
                "{ip}: {r:?}"
            );
        }
        assert!(page(with("status.example.com")).validate().is_ok());
        assert!(page(with("status.example.com:443")).validate().is_ok());
        let p = page(with("Status.Example.com."));
        assert!(p.check_domain_against("vigilmon.example.com").is_ok());
        let e = p
            .check_domain_against("status.example.com:8080")
            .unwrap_err();
        assert_eq!(e.field, "domain");
    }
}
