//! How the HTTP front meets its clients: the host names it answers for (so that a
//! page on another site cannot reach it by DNS rebinding), the proxies whose
//! `X-Forwarded-For` it believes, the one-time code first-run setup asks for, the
//! bounds of the state kept per client, and whether the config file as last read is
//! the one running.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use rand::Rng;
use vigilmon_core::guard::IpNet;
pub use vigilmon_core::status_page::normalize_host;

/// Client addresses counted one by one by the sign-in limiter unless configured.
pub const DEFAULT_TRACKED_CLIENTS: usize = 10_000;
/// The sign-in limiter's window unless configured.
pub const DEFAULT_SIGN_IN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// Rendered status pages and badges kept unless configured.
pub const DEFAULT_STATUS_CACHE_ENTRIES: usize = 10_000;
/// Most `X-Forwarded-For` entries looked at, from the right.
const MAX_FORWARDED_HOPS: usize = 32;

/// The front's settings (`server.*`), fixed at start.
#[derive(Debug, Clone)]
pub struct Front {
    /// Host names, besides the public URL's, loopback names and IP addresses, that
    /// requests may name (`server.allowed_hosts`).
    pub allowed_hosts: Vec<HostPattern>,
    /// The host of the listen address, when it is a name.
    pub listen_host: Option<String>,
    /// Peers whose `X-Forwarded-For` is believed (`server.trusted_proxies`).
    pub trusted_proxies: Vec<IpNet>,
    /// The code first-run setup asks for.
    pub setup_code: SetupCode,
    /// Client addresses the sign-in limiter counts one by one per window.
    pub tracked_clients: usize,
    /// The sign-in limiter's window (`server.sign_in_window`).
    pub sign_in_window: std::time::Duration,
    /// Entries of each status-page render cache (pages, badges).
    pub status_cache_entries: usize,
    /// Whether the config file as last read is applied (shown as a banner when not).
    pub config_status: ConfigStatus,
}

/// Whether the config file as last read is the one running: nothing to say while it
/// is, the problem (in words) while a reload found it invalid and the last good file
/// still runs. Shared by the reloader, which sets it, and the pages, which show it.
#[derive(Debug, Clone, Default)]
pub struct ConfigStatus(std::sync::Arc<std::sync::RwLock<Option<String>>>);

impl ConfigStatus {
    /// A reload was refused: `problem` says why.
    pub fn set_problem(&self, problem: String) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(problem);
    }
    /// The file as last read is applied.
    pub fn clear(&self) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
    /// Why the file as last read is not the one running, if it is not.
    pub fn problem(&self) -> Option<String> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Default for Front {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            listen_host: None,
            trusted_proxies: Vec::new(),
            setup_code: SetupCode::generate(),
            tracked_clients: DEFAULT_TRACKED_CLIENTS,
            sign_in_window: DEFAULT_SIGN_IN_WINDOW,
            status_cache_entries: DEFAULT_STATUS_CACHE_ENTRIES,
            config_status: ConfigStatus::default(),
        }
    }
}

impl Front {
    /// Whether a request naming `host` (a `Host` header, normalised: no port, lower
    /// case) is answered, leaving status-page domains aside: IP addresses (a rebinding
    /// page can only name a DNS name), loopback names, the public URL's host, the
    /// listen address's and the allowed hosts.
    pub fn answers_for(&self, host: &str, public_host: &str) -> bool {
        host.parse::<IpAddr>().is_ok()
            || host == "localhost"
            || host.ends_with(".localhost")
            || host == public_host
            || self.listen_host.as_deref() == Some(host)
            || self.allowed_hosts.iter().any(|p| p.matches(host))
    }

    /// The client's address: the connection's peer, or, when the peer is a trusted
    /// proxy, the rightmost `X-Forwarded-For` entry that is not one (entries a client
    /// wrote itself sit to the left of those its proxies added, so they are never
    /// believed past an untrusted hop).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        let mut client = peer;
        for entry in entries.iter().rev().take(MAX_FORWARDED_HOPS) {
            let Some(ip) = forwarded_ip(entry) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(ip))
    }
}

/// One `X-Forwarded-For` entry: an address, bracketed or not, perhaps with a port.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    e.parse::<IpAddr>()
        .ok()
        .or_else(|| e.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            e.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

/// An entry of `server.allowed_hosts`: a host name, or `*.example.com` for every
/// name under `example.com` (not `example.com` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    Under(String),
}

impl HostPattern {
    /// Reads an entry; the error says why it is not one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (under, name) = match t.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(format!(
                "{t:?} is not a host name (a name such as status.example.com, or \
                 *.example.com for every name under it; no scheme, port or path)"
            ));
        }
        Ok(if under {
            Self::Under(name)
        } else {
            Self::Exact(name)
        })
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => host == name,
            Self::Under(name) => host
                .strip_suffix(name.as_str())
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
        }
    }
}

/// The host a listen address names, when it is a name rather than an address.
pub fn listen_host(listen: &str) -> Option<String> {
    let host = normalize_host(listen);
    (host.parse::<IpAddr>().is_err() && !host.is_empty()).then_some(host)
}

/// The one-time code that first-run setup asks for: `serve` prints it on its console
/// while no user exists, so only someone who sees that console can claim the server.
#[derive(Clone)]
pub struct SetupCode(String);

impl std::fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetupCode(…)")
    }
}

/// Letters and digits that cannot be mistaken for one another.
const CODE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

impl SetupCode {
    /// Twelve random characters (about 59 bits), shown in groups of four.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let code = (0..12)
            .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
            .collect();
        Self(code)
    }

    /// The code as stored in the database (`settings.setup_code`), so that every node
    /// of a cluster asks for the same one.
    pub fn stored(&self) -> &str {
        &self.0
    }

    /// A code read back from the database; `None` when it is not one this type makes.
    pub fn from_stored(s: &str) -> Option<Self> {
        (s.len() == 12 && s.bytes().all(|b| CODE_ALPHABET.contains(&b))).then(|| Self(s.to_owned()))
    }

    /// The code as printed: `abcd-efgh-jkmn`.
    pub fn shown(&self) -> String {
        let c = &self.0;
        format!("{}-{}-{}", &c[..4], &c[4..8], &c[8..])
    }

    /// Whether `typed` is the code, ignoring case, spaces and dashes; compared in
    /// time independent of where it differs.
    pub fn accepts(&self, typed: &str) -> bool {
        let typed: Vec<u8> = typed
            .bytes()
            .filter(|b| !matches!(b, b'-' | b' ' | b'\t'))
            .map(|b| b.to_ascii_lowercase())
            .collect();
        let ours = self.0.as_bytes();
        typed.len() == ours.len()
            && typed
                .iter()
                .zip(ours)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn front(proxies: &[&str], hosts: &[&str]) -> Front {
        Front {
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            allowed_hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).unwrap())
                .collect(),
            listen_host: listen_host("vigilmon.internal:8080"),
            ..Front::default()
        }
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let f = front(&["10.0.0.0/8", "::1/128"], &[]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Not from a proxy: the peer, whatever the header says.
        assert_eq!(
            f.client_ip(ip("203.0.113.9"), &xff(&["198.51.100.1"])),
            ip("203.0.113.9")
        );
        // From a proxy: the rightmost entry that is not a proxy; what the client wrote
        // to the left is not believed.
        assert_eq!(
            f.client_ip(ip("10.0.0.2"), &xff(&["1.1.1.1, 198.51.100.7, 10.0.0.3"])),
            ip("198.51.100.7")
        );
        assert_eq!(
            f.client_ip(ip("10.0.0.2"), &xff(&["1.1.1.1", "198.51.100.7:4711"])),
            ip("198.51.100.7")
        );
        assert_eq!(
            f.client_ip(ip("::1"), &xff(&["[2001:db8::5]:80"])),
            ip("2001:db8::5")
        );
        assert_eq!(
            f.client_ip(ip("::ffff:10.0.0.2"), &xff(&["198.51.100.8"])),
            ip("198.51.100.8")
        );
        // Garbage stops the walk at the last good hop; no header: the proxy itself.
        assert_eq!(
            f.client_ip(ip("10.0.0.2"), &xff(&["198.51.100.7, junk, 10.0.0.9"])),
            ip("10.0.0.9")
        );
        assert_eq!(f.client_ip(ip("10.0.0.2"), &xff(&[])), ip("10.0.0.2"));
        // Only proxies: the leftmost.
        assert_eq!(
            f.client_ip(ip("10.0.0.2"), &xff(&["10.1.1.1, 10.0.0.3"])),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn a_stored_setup_code_reads_back() {
        let c = SetupCode::generate();
        let back = SetupCode::from_stored(c.stored()).unwrap();
        assert!(back.accepts(&c.shown()));
        for bad in ["", "short", "ABCDEFGHJKMN", "abcdefghjkm0", "abcdefghjkmnp"] {
            assert!(SetupCode::from_stored(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hosts_answered() {
        let f = front(&[], &["status.example.com", "*.corp.example"]);
        let public = "vigilmon.example.com";
        for ok in [
            "vigilmon.example.com",
            "127.0.0.1",
            "::1",
            "203.0.113.4",
            "localhost",
            "app.localhost",
            "vigilmon.internal",
            "status.example.com",
            "a.corp.example",
            "a.b.corp.example",
        ] {
            assert!(f.answers_for(ok, public), "{ok}");
        }
        for refused in [
            "rebind.attacker.example",
            "corp.example",
            "xcorp.example",
            "example.com",
            "vigilmon.example.com.attacker.example",
            "",
        ] {
            assert!(!f.answers_for(refused, public), "{refused}");
        }
    }

    #[test]
    fn host_patterns_are_checked() {
        assert_eq!(
            HostPattern::parse("Status.Example.COM.").unwrap(),
            HostPattern::Exact("status.example.com".into())
        );
        assert_eq!(
            HostPattern::parse("*.example.com").unwrap(),
            HostPattern::Under("example.com".into())
        );
        for bad in [
            "",
            "*.",
            "https://x.example",
            "x.example:8080",
            "x.example/path",
            "a..b",
            "*x.example",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(listen_host("0.0.0.0:8080"), None);
        assert_eq!(listen_host("[::]:8080"), None);
        assert_eq!(listen_host("Box.lan:80").as_deref(), Some("box.lan"));
    }

    #[test]
    fn setup_codes() {
        let a = SetupCode::generate();
        let b = SetupCode::generate();
        assert_ne!(a.0, b.0);
        let shown = a.shown();
        assert_eq!(shown.len(), 14);
        assert!(a.accepts(&shown));
        assert!(a.accepts(&shown.to_uppercase().replace('-', " ")));
        assert!(!a.accepts(&b.shown()));
        assert!(!a.accepts(""));
        assert!(!a.accepts(&shown[..13]));
        assert!(!format!("{a:?}").contains(&a.0));
    }
}
