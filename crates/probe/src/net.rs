//! Reaching a host: name resolution, the network guard, and the TCP connection, each
//! timed and bounded by the check's deadline. Shared by the HTTP, TCP, Redis and PostgreSQL checks.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use vigilmon_core::Phases;

use crate::classify::{Failure, Phase};
use crate::millis;
use vigilmon_core::guard::NetworkGuard;

/// Where to connect: an address given literally, or a name to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Ip(IpAddr),
    Name(String),
}

impl Target {
    /// From a TCP monitor's `host`: an IP address (brackets allowed for IPv6) or a name.
    pub(crate) fn from_host_text(host: &str) -> Self {
        let bare = host.trim().trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => Target::Ip(ip),
            Err(_) => Target::Name(bare.to_owned()),
        }
    }

    /// From a URL's host.
    pub(crate) fn from_url_host(host: &url::Host<&str>) -> Self {
        match host {
            url::Host::Ipv4(a) => Target::Ip(IpAddr::V4(*a)),
            url::Host::Ipv6(a) => Target::Ip(IpAddr::V6(*a)),
            url::Host::Domain(d) => Target::Name((*d).to_owned()),
        }
    }

    fn text(&self) -> String {
        match self {
            Target::Ip(ip) => ip.to_string(),
            Target::Name(n) => n.clone(),
        }
    }
}

/// A connected socket and the address it is connected to.
pub(crate) struct Connected {
    pub stream: TcpStream,
    pub peer: SocketAddr,
}

/// Resolves `target` (timing it into `phases.dns_ms`, skipped for IP addresses), keeps
/// the addresses the guard permits, and connects to them in order until one accepts
/// (timing it into `phases.connect_ms`, from the first attempt).
pub(crate) async fn open(
    target: &Target,
    port: u16,
    guard: &NetworkGuard,
    deadline: Instant,
    limit: std::time::Duration,
    phases: &mut Phases,
) -> Result<Connected, Failure> {
    let addrs = resolve(target, port, guard, deadline, limit, phases).await?;
    connect(target, &addrs, deadline, limit, phases).await
}

/// Resolves `target` (timing it into `phases.dns_ms`, skipped for IP addresses) and
/// keeps the addresses the guard permits, never none (that is a failure).
pub(crate) async fn resolve(
    target: &Target,
    port: u16,
    guard: &NetworkGuard,
    deadline: Instant,
    limit: std::time::Duration,
    phases: &mut Phases,
) -> Result<Vec<SocketAddr>, Failure> {
    let resolved: Vec<SocketAddr> = match target {
        Target::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Target::Name(name) => {
            let t0 = Instant::now();
            let found = timeout_at(deadline, tokio::net::lookup_host((name.as_str(), port)))
                .await
                .map_err(|_| Failure::Timeout {
                    phase: Phase::Resolve,
                    limit,
                })?
                .map_err(|error| Failure::Resolve {
                    host: name.clone(),
                    error,
                })?;
            let addrs = found.collect();
            phases.dns_ms = Some(millis(t0.elapsed()));
            addrs
        }
    };
    permitted(target, resolved, guard)
}

/// Connects to `addrs` in order until one accepts (timing it into
/// `phases.connect_ms`, from the first attempt).
async fn connect(
    target: &Target,
    addrs: &[SocketAddr],
    deadline: Instant,
    limit: std::time::Duration,
    phases: &mut Phases,
) -> Result<Connected, Failure> {
    let t0 = Instant::now();
    let mut last: Option<(SocketAddr, std::io::Error)> = None;
    for &addr in addrs {
        match timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(Failure::Timeout {
                    phase: Phase::Connect,
                    limit,
                });
            }
            Ok(Ok(stream)) => {
                phases.connect_ms = Some(millis(t0.elapsed()));
                // Small requests and immediate reads: do not let Nagle skew timings.
                let _ = stream.set_nodelay(true);
                return Ok(Connected { stream, peer: addr });
            }
            Ok(Err(e)) => {
                tracing::debug!(%addr, error = %e, "connect failed");
                last = Some((addr, e));
            }
        }
    }
    match last {
        Some((peer, error)) => Err(Failure::Connect {
            peer,
            error,
            others: addrs.len().saturating_sub(1),
        }),
        // `permitted` never returns an empty list.
        None => Err(Failure::NoAddresses {
            host: target.text(),
        }),
    }
}

/// The resolved addresses the guard permits, in resolver order without duplicates;
/// an error naming every refused address when none is left.
pub(crate) fn permitted(
    target: &Target,
    resolved: Vec<SocketAddr>,
    guard: &NetworkGuard,
) -> Result<Vec<SocketAddr>, Failure> {
    if resolved.is_empty() {
        return Err(Failure::NoAddresses {
            host: target.text(),
        });
    }
    let sorted = guard.sort(resolved);
    let (ok, refused) = (sorted.permitted, sorted.refused);
    if ok.is_empty() {
        return Err(Failure::Guarded {
            host: target.text(),
            literal: matches!(target, Target::Ip(_)),
            refused,
        });
    }
    if !refused.is_empty() {
        tracing::debug!(host = %target.text(), ?refused, "skipping addresses refused by the network guard");
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;
    use vigilmon_core::ErrorKind;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn targets_from_host_text() {
        assert_eq!(
            Target::from_host_text("127.0.0.1"),
            Target::Ip("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            Target::from_host_text("[::1]"),
            Target::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            Target::from_host_text("db.local"),
            Target::Name("db.local".into())
        );
    }

    #[test]
    fn keeps_permitted_addresses_in_order_without_duplicates() {
        let t = Target::Name("mixed.example".into());
        let got = permitted(
            &t,
            vec![
                sa("169.254.169.254:80"),
                sa("10.0.0.2:80"),
                sa("10.0.0.1:80"),
                sa("10.0.0.2:80"),
            ],
            &NetworkGuard::default(),
        )
        .unwrap();
        assert_eq!(got, vec![sa("10.0.0.2:80"), sa("10.0.0.1:80")]);
    }

    #[test]
    fn a_name_resolving_only_to_refused_addresses_is_a_dns_failure() {
        let t = Target::Name("127.x".into());
        let f = permitted(
            &t,
            vec![
                sa("169.254.169.254:80"),
                sa("[fe80::1]:80"),
                sa("169.254.169.254:80"),
            ],
            &NetworkGuard::default(),
        )
        .unwrap_err();
        let (kind, msg) = classify(&f);
        assert_eq!(kind, ErrorKind::Dns);
        assert_eq!(
            msg,
            "127.x resolves only to addresses the probe may not use: 169.254.169.254 (link-local), fe80::1 (link-local)"
        );
    }

    #[test]
    fn nothing_resolved_is_a_dns_failure() {
        let f = permitted(
            &Target::Name("empty.example".into()),
            vec![],
            &NetworkGuard::default(),
        )
        .unwrap_err();
        assert_eq!(classify(&f).0, ErrorKind::Dns);
    }
}
