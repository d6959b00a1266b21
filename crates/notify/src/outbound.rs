//! The network guard on notifications: Slack, PagerDuty, webhook and SMTP connections
//! obey the same [`NetworkGuard`] as the probes, judged on the address actually
//! connected to.
//!
//! * HTTP: names are resolved by [`GuardedResolver`], which hands the client only the
//!   permitted addresses, so there is no window between the check and the connection
//!   for DNS to change its answer. An address written in the URL is never resolved:
//!   [`check_url`] judges it before the request is made. Redirects are not followed
//!   (see `classify_http`), and the client ignores proxy variables, whose proxy would
//!   make the connection the guard cannot see.
//! * SMTP: [`resolve_smtp`] resolves the server's name and the transport connects to
//!   the permitted address it returns, while TLS still verifies the name.

use std::net::{IpAddr, SocketAddr};

use vigilmon_core::guard::NetworkGuard;

/// A connection the guard refused: every address the name resolves to is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} is refused by the network guard: {refused}")]
pub struct Refused {
    /// The host as written in the channel.
    pub host: String,
    /// The refused addresses with the reasons.
    pub refused: String,
}

/// Resolves names for the notification client, keeping the addresses the guard
/// permits; a name with none left fails with [`Refused`].
pub(crate) struct GuardedResolver {
    pub guard: NetworkGuard,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addrs = permitted(&guard, &host, found)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The addresses the guard permits, or [`Refused`] naming every refused one.
fn permitted(
    guard: &NetworkGuard,
    host: &str,
    found: impl IntoIterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>, Refused> {
    let sorted = guard.sort(found);
    if sorted.permitted.is_empty() && !sorted.refused.is_empty() {
        return Err(Refused {
            host: host.to_owned(),
            refused: sorted.refused_text(),
        });
    }
    Ok(sorted.permitted)
}

/// Judges a URL whose host is an IP address (in any form the URL parser reads:
/// `127.1`, `2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]` all become addresses);
/// names are left to [`GuardedResolver`]. An unparsable URL passes: the request
/// itself reports it.
pub(crate) fn check_url(guard: &NetworkGuard, url: &str) -> Result<(), Refused> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(());
    };
    let ip = match parsed.host() {
        Some(url::Host::Ipv4(a)) => IpAddr::V4(a),
        Some(url::Host::Ipv6(a)) => IpAddr::V6(a),
        _ => return Ok(()),
    };
    guard.permits(ip).map_err(|why| Refused {
        host: ip.to_string(),
        refused: format!("{ip} ({why})"),
    })
}

/// Why the SMTP server cannot be reached.
#[derive(Debug)]
pub(crate) enum SmtpAddrError {
    /// Every address is refused by the guard: permanent.
    Refused(Refused),
    /// The name does not resolve now: worth another try.
    Unresolved(String),
}

/// Resolves the SMTP server and returns the addresses the guard permits, in resolver
/// order (the address itself when `host` is one).
pub(crate) async fn resolve_smtp(
    guard: &NetworkGuard,
    host: &str,
    port: u16,
) -> Result<Vec<IpAddr>, SmtpAddrError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let found: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| {
                SmtpAddrError::Unresolved(format!("cannot resolve the SMTP server {host}: {e}"))
            })?
            .collect(),
    };
    let addrs: Vec<IpAddr> = permitted(guard, host, found)
        .map_err(SmtpAddrError::Refused)?
        .iter()
        .map(SocketAddr::ip)
        .collect();
    if addrs.is_empty() {
        return Err(SmtpAddrError::Unresolved(format!(
            "the SMTP server {host} has no address"
        )));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigilmon_core::guard::IpNet;

    fn deny_loopback() -> NetworkGuard {
        NetworkGuard {
            deny_networks: vec![
                "127.0.0.0/8".parse::<IpNet>().unwrap(),
                "::1/128".parse::<IpNet>().unwrap(),
            ],
            ..NetworkGuard::default()
        }
    }

    #[test]
    fn every_written_form_of_an_address_is_judged() {
        let g = deny_loopback();
        for url in [
            "http://127.0.0.1:9/x",
            "http://127.1/x",
            "http://2130706433/x",
            "http://0x7f.0.0.1/x",
            "http://0177.0.0.1/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/x",
            "http://0.0.0.0/x",
        ] {
            assert!(check_url(&g, url).is_err(), "{url} passed");
        }
        for url in ["http://10.0.0.1/x", "https://hooks.slack.com/services/x"] {
            assert_eq!(check_url(&g, url), Ok(()), "{url}");
        }
    }

    #[test]
    fn a_name_keeps_only_its_permitted_addresses() {
        let g = deny_loopback();
        let mixed = ["127.0.0.1:0", "10.1.2.3:0", "127.0.0.2:0"].map(|a| a.parse().unwrap());
        assert_eq!(
            permitted(&g, "mixed.example", mixed),
            Ok(vec!["10.1.2.3:0".parse().unwrap()])
        );
        let only_loopback = ["127.0.0.1:0"].map(|a| a.parse().unwrap());
        let err = permitted(&g, "localhost", only_loopback).unwrap_err();
        assert_eq!(
            err.to_string(),
            "localhost is refused by the network guard: 127.0.0.1 (in denied network 127.0.0.0/8)"
        );
    }

    #[tokio::test]
    async fn the_smtp_server_is_judged_by_address() {
        let g = deny_loopback();
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            assert!(
                matches!(
                    resolve_smtp(&g, host, 25).await,
                    Err(SmtpAddrError::Refused(_))
                ),
                "{host}"
            );
        }
        assert!(matches!(
            resolve_smtp(&g, "no-such-host.invalid", 25).await,
            Err(SmtpAddrError::Unresolved(_))
        ));
        assert_eq!(
            resolve_smtp(&NetworkGuard::default(), "127.0.0.1", 25)
                .await
                .ok(),
            Some(vec!["127.0.0.1".parse().unwrap()])
        );
    }
}
