//! The SSRF guard: which IP addresses the server may connect to. One guard governs
//! every outbound connection: the probes (each monitor type, every redirect hop) and
//! the notifications (Slack, PagerDuty, webhooks, the SMTP server).
//!
//! The guard is applied to the address about to be connected to, after DNS
//! resolution and on every redirect hop, never to the host name the user typed: a name
//! can resolve anywhere, and a redirect can point anywhere. Loopback and private ranges
//! are allowed by default because self-hosters monitor services on their own machine
//! and network; link-local addresses (cloud metadata endpoints such as
//! `169.254.169.254`) are refused unless explicitly allowed, and operators can refuse
//! more networks with [`NetworkGuard::deny_networks`]. Local (Unix) sockets are refused
//! unless they lie under a path listed in [`NetworkGuard::allow_unix_sockets`]: a
//! socket is not an address, so the network rules cannot judge it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Decides which addresses the probe may connect to.
#[derive(Clone, Debug, Default)]
pub struct NetworkGuard {
    /// Permit link-local addresses (`169.254.0.0/16`, `fe80::/10`). Off by default:
    /// that is where cloud metadata services live.
    pub allow_link_local: bool,
    /// Further networks the probe must never connect to.
    pub deny_networks: Vec<IpNet>,
    /// Unix sockets the probe may connect to: a socket at one of these paths, or in a
    /// directory among them. Empty by default: none.
    pub allow_unix_sockets: Vec<std::path::PathBuf>,
}

impl NetworkGuard {
    /// `Ok(())` when the probe may connect to `ip`, otherwise the reason in a few words
    /// (such as `link-local` or `in denied network 10.0.0.0/8`).
    ///
    /// Always refuses the unspecified addresses (`0.0.0.0`, `::`), multicast and the
    /// IPv4 broadcast address. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are judged
    /// as the IPv4 address they carry, so they cannot be used to slip past a rule.
    pub fn permits(&self, ip: IpAddr) -> Result<(), String> {
        let canonical = ip.to_canonical();
        let forms: &[IpAddr] = if canonical == ip {
            &[ip]
        } else {
            &[ip, canonical]
        };
        for &a in forms {
            if a.is_unspecified() {
                return Err("unspecified address".to_owned());
            }
            if a.is_multicast() {
                return Err("multicast".to_owned());
            }
            if a == IpAddr::V4(Ipv4Addr::BROADCAST) {
                return Err("broadcast".to_owned());
            }
            if !self.allow_link_local && is_link_local(a) {
                return Err("link-local".to_owned());
            }
            if let Some(net) = self.deny_networks.iter().find(|n| n.contains(a)) {
                return Err(format!("in denied network {net}"));
            }
        }
        Ok(())
    }
}

/// Resolved addresses sorted by the guard: [`NetworkGuard::sort`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sorted {
    /// The permitted addresses, in the given order, without duplicates.
    pub permitted: Vec<std::net::SocketAddr>,
    /// Each refused address once, with the reason.
    pub refused: Vec<(IpAddr, String)>,
}

impl Sorted {
    /// The refused addresses in words: `127.0.0.1 (in denied network 127.0.0.0/8), …`.
    pub fn refused_text(&self) -> String {
        self.refused
            .iter()
            .map(|(ip, why)| format!("{ip} ({why})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl NetworkGuard {
    /// Splits resolved addresses into those that may be connected to and those that
    /// may not.
    pub fn sort(&self, addrs: impl IntoIterator<Item = std::net::SocketAddr>) -> Sorted {
        let mut out = Sorted::default();
        for addr in addrs {
            match self.permits(addr.ip()) {
                Ok(()) => {
                    if !out.permitted.contains(&addr) {
                        out.permitted.push(addr);
                    }
                }
                Err(why) => {
                    if !out.refused.iter().any(|(ip, _)| *ip == addr.ip()) {
                        out.refused.push((addr.ip(), why));
                    }
                }
            }
        }
        out
    }
}

impl NetworkGuard {
    /// `Ok(())` when the probe may connect to the Unix socket at `path`: an absolute
    /// path without `..`, equal to or under one of [`Self::allow_unix_sockets`].
    pub fn permits_unix_socket(&self, path: &str) -> Result<(), String> {
        use std::path::{Component, Path};
        let p = Path::new(path);
        if !p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
            return Err(format!(
                "the unix socket {path} must be an absolute path without .."
            ));
        }
        if self.allow_unix_sockets.iter().any(|a| p.starts_with(a)) {
            Ok(())
        } else {
            Err(format!(
                "the unix socket {path} is not under probe.allow_unix_sockets"
            ))
        }
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        // fe80::/10
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// An IP network: an address and a prefix length, such as `10.0.0.0/8` or `fd00::/8`.
///
/// Parsing normalises the address to the network address (`10.1.2.3/8` becomes
/// `10.0.0.0/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    /// The network address (host bits are zero after parsing).
    pub addr: IpAddr,
    /// The prefix length: at most 32 for IPv4, 128 for IPv6.
    pub prefix: u8,
}

impl IpNet {
    /// Whether `ip` lies in this network. Addresses of the other family never do (the
    /// guard handles IPv4-mapped IPv6 addresses itself).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = v4_mask(self.prefix);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = v6_mask(self.prefix);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

fn v4_mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

fn v6_mask(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Why a network could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not an IP network: {reason} (write it like 10.0.0.0/8, fd00::/8 or a single address)"
)]
pub struct InvalidIpNet {
    /// The text that was refused.
    pub input: String,
    /// What was wrong with it.
    pub reason: String,
}

impl FromStr for IpNet {
    type Err = InvalidIpNet;

    /// Parses `10.0.0.0/8`, `fd00::/8`, or a bare address (a `/32` or `/128` network).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| InvalidIpNet {
            input: s.to_owned(),
            reason,
        };
        let t = s.trim();
        let (addr_text, prefix_text) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let addr_text = addr_text.trim_start_matches('[').trim_end_matches(']');
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| err(format!("{addr_text:?} is not an IP address")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => {
                let n: u8 = p
                    .parse()
                    .map_err(|_| err(format!("prefix length {p:?} is not a number")))?;
                if n > max {
                    let fam = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
                    return Err(err(format!(
                        "prefix length {n} is too long for an {fam} network (at most {max})"
                    )));
                }
                n
            }
        };
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & v4_mask(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & v6_mask(prefix))),
        };
        Ok(IpNet { addr, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn parses_networks_and_bare_addresses() {
        assert_eq!(
            net("10.0.0.0/8"),
            IpNet {
                addr: ip("10.0.0.0"),
                prefix: 8
            }
        );
        assert_eq!(net("192.168.1.7").prefix, 32);
        assert_eq!(net("::1").prefix, 128);
        assert_eq!(net("fd00::/8").to_string(), "fd00::/8");
        assert_eq!(net("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
    }

    #[test]
    fn refuses_bad_networks_with_words() {
        let e = "10.0.0.0/33".parse::<IpNet>().unwrap_err().to_string();
        assert!(
            e.contains("prefix length 33 is too long for an IPv4 network (at most 32)"),
            "{e}"
        );
        let e = "fd00::/129".parse::<IpNet>().unwrap_err().to_string();
        assert!(e.contains("at most 128"), "{e}");
        let e = "example.com/8".parse::<IpNet>().unwrap_err().to_string();
        assert!(e.contains("\"example.com\" is not an IP address"), "{e}");
        let e = "10.0.0.0/x".parse::<IpNet>().unwrap_err().to_string();
        assert!(e.contains("prefix length \"x\" is not a number"), "{e}");
        assert!("".parse::<IpNet>().is_err());
    }

    #[test]
    fn contains_respects_prefix_and_family() {
        let n = net("10.0.0.0/8");
        assert!(n.contains(ip("10.255.1.2")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(!n.contains(ip("::ffff:10.0.0.1")));
        assert!(net("0.0.0.0/0").contains(ip("8.8.8.8")));
        let n = net("fd00::/8");
        assert!(n.contains(ip("fd12::1")));
        assert!(!n.contains(ip("fe80::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        assert!(net("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!net("127.0.0.1").contains(ip("127.0.0.2")));
    }

    #[test]
    fn default_guard_allows_loopback_and_private_ranges() {
        let g = NetworkGuard::default();
        for a in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "fd00::1",
            "93.184.216.34",
        ] {
            assert_eq!(g.permits(ip(a)), Ok(()), "{a}");
        }
    }

    #[test]
    fn default_guard_refuses_link_local_in_every_form() {
        let g = NetworkGuard::default();
        for a in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "febf::1",
            "::ffff:169.254.169.254",
        ] {
            assert_eq!(g.permits(ip(a)), Err("link-local".to_owned()), "{a}");
        }
        let allow = NetworkGuard {
            allow_link_local: true,
            ..Default::default()
        };
        assert_eq!(allow.permits(ip("169.254.169.254")), Ok(()));
        assert_eq!(allow.permits(ip("fe80::1")), Ok(()));
    }

    #[test]
    fn always_refuses_unspecified_multicast_and_broadcast() {
        let g = NetworkGuard {
            allow_link_local: true,
            ..NetworkGuard::default()
        };
        for a in ["0.0.0.0", "::", "::ffff:0.0.0.0"] {
            assert_eq!(
                g.permits(ip(a)),
                Err("unspecified address".to_owned()),
                "{a}"
            );
        }
        for a in ["224.0.0.1", "ff02::1", "::ffff:239.1.1.1"] {
            assert_eq!(g.permits(ip(a)), Err("multicast".to_owned()), "{a}");
        }
        assert_eq!(
            g.permits(ip("255.255.255.255")),
            Err("broadcast".to_owned())
        );
    }

    #[test]
    fn deny_networks_also_catch_mapped_addresses() {
        let g = NetworkGuard {
            deny_networks: vec![net("127.0.0.0/8"), net("fd00::/8")],
            ..NetworkGuard::default()
        };
        let want = Err("in denied network 127.0.0.0/8".to_owned());
        assert_eq!(g.permits(ip("127.0.0.1")), want);
        assert_eq!(g.permits(ip("::ffff:127.0.0.1")), want);
        assert!(g.permits(ip("fd00::5")).is_err());
        assert_eq!(g.permits(ip("::1")), Ok(()));
        assert_eq!(g.permits(ip("10.0.0.1")), Ok(()));
    }

    fn sock(s: &str) -> std::net::SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_full_length_prefix_is_accepted_and_a_longer_one_refused() {
        assert_eq!(
            net("10.1.2.3/32"),
            IpNet {
                addr: ip("10.1.2.3"),
                prefix: 32
            }
        );
        assert_eq!(
            net("fd00::1/128"),
            IpNet {
                addr: ip("fd00::1"),
                prefix: 128
            }
        );
        assert_eq!(
            "10.1.2.3/33".parse::<IpNet>().unwrap_err().reason,
            "prefix length 33 is too long for an IPv4 network (at most 32)"
        );
        assert_eq!(
            "fd00::1/129".parse::<IpNet>().unwrap_err().reason,
            "prefix length 129 is too long for an IPv6 network (at most 128)"
        );
    }

    #[test]
    fn sort_keeps_each_permitted_address_once_in_the_order_given() {
        let sorted = NetworkGuard::default().sort([
            sock("10.0.0.1:80"),
            sock("127.0.0.1:80"),
            sock("10.0.0.1:80"),
            sock("10.0.0.1:443"),
            sock("[::1]:80"),
            sock("127.0.0.1:80"),
        ]);
        assert_eq!(
            sorted,
            Sorted {
                permitted: vec![
                    sock("10.0.0.1:80"),
                    sock("127.0.0.1:80"),
                    sock("10.0.0.1:443"),
                    sock("[::1]:80"),
                ],
                refused: vec![],
            }
        );
        assert_eq!(sorted.refused_text(), "");
    }

    #[test]
    fn sort_lists_each_refused_address_once_with_its_reason() {
        let sorted = NetworkGuard::default().sort([
            sock("169.254.169.254:80"),
            sock("0.0.0.0:80"),
            sock("10.0.0.1:80"),
            sock("169.254.169.254:443"),
            sock("0.0.0.0:80"),
        ]);
        assert_eq!(
            sorted,
            Sorted {
                permitted: vec![sock("10.0.0.1:80")],
                refused: vec![
                    (ip("169.254.169.254"), "link-local".to_owned()),
                    (ip("0.0.0.0"), "unspecified address".to_owned()),
                ],
            }
        );
        assert_eq!(
            sorted.refused_text(),
            "169.254.169.254 (link-local), 0.0.0.0 (unspecified address)"
        );
    }

    #[test]
    fn unix_sockets_only_under_an_allowed_path() {
        let none = NetworkGuard::default();
        assert!(none.permits_unix_socket("/run/redis/redis.sock").is_err());
        let g = NetworkGuard {
            allow_unix_sockets: vec!["/run/redis".into(), "/tmp/cache.sock".into()],
            ..NetworkGuard::default()
        };
        assert_eq!(g.permits_unix_socket("/run/redis/redis.sock"), Ok(()));
        assert_eq!(g.permits_unix_socket("/tmp/cache.sock"), Ok(()));
        for refused in [
            "/run/redis-other/x.sock",
            "/run/redis/../../var/run/docker.sock",
            "/tmp/cache.sock.evil",
            "run/redis/redis.sock",
            "/var/run/docker.sock",
        ] {
            assert!(g.permits_unix_socket(refused).is_err(), "{refused}");
        }
    }
}
