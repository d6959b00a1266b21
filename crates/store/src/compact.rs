//! How a check is kept in `check_results` (migration 0018): small integers instead of
//! text, and bytes instead of the peer address's text, so that a stored check costs
//! tens of bytes (docs/BENCHMARKS.md, "Storage per check").
//!
//! - The monitor is its `monitors.result_key`, the region its `result_regions.key`
//!   (numbers the database gives; region names are never deleted, so a number once read
//!   stays right and [`RegionKeys`] keeps them in memory).
//! - The verdict is [`verdict_code`]; the region's state and the error kind are the codes
//!   of `MonitorState` and `ErrorKind` (vigilmon-core).
//! - The peer address is [`peer_bytes`]: 6 bytes for IPv4 and port, 18 for IPv6 (but
//!   not ff00::/8, whose first byte is the marker), or 0xFF and the text as given
//!   otherwise (an agent may send anything).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::RwLock;

use vigilmon_core::Verdict;

/// The byte that starts a peer kept as text.
const TEXT_PEER: u8 = 0xFF;

/// The stored number of a verdict: 0 up, 1 degraded, 2 down. Checks with a verdict
/// under 2 passed (degraded counts as ok), which the SQL reads as `verdict < 2`.
pub(crate) fn verdict_code(v: &Verdict) -> i16 {
    match v {
        Verdict::Up => 0,
        Verdict::Degraded { .. } => 1,
        Verdict::Down { .. } => 2,
    }
}

/// The name of a stored verdict number, if it is one.
pub(crate) fn verdict_name(code: i64) -> Option<&'static str> {
    match code {
        0 => Some("up"),
        1 => Some("degraded"),
        2 => Some("down"),
        _ => None,
    }
}

/// The stored form of a peer address.
pub(crate) fn peer_bytes(peer: &str) -> Vec<u8> {
    let plain = |addr: &SocketAddr| match addr {
        SocketAddr::V4(_) => true,
        // A scope id or flow label has no place in the 18 bytes, and an address whose
        // first byte is the text marker (ff00::/8, multicast: no peer of a check, but
        // an agent may send anything) would read back as text.
        SocketAddr::V6(v6) => {
            v6.scope_id() == 0 && v6.flowinfo() == 0 && v6.ip().octets()[0] != TEXT_PEER
        }
    };
    match peer.parse::<SocketAddr>() {
        // Only when the address prints back exactly as given.
        Ok(addr) if plain(&addr) && addr.to_string() == peer => {
            let mut out = match addr.ip() {
                IpAddr::V4(ip) => ip.octets().to_vec(),
                IpAddr::V6(ip) => ip.octets().to_vec(),
            };
            out.extend_from_slice(&addr.port().to_be_bytes());
            out
        }
        _ => {
            let mut out = Vec::with_capacity(peer.len() + 1);
            out.push(TEXT_PEER);
            out.extend_from_slice(peer.as_bytes());
            out
        }
    }
}

/// A stored peer address back as text, or `None` when the bytes are none of the forms
/// [`peer_bytes`] writes.
pub(crate) fn peer_text(bytes: &[u8]) -> Option<String> {
    let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    match bytes {
        [TEXT_PEER, text @ ..] => String::from_utf8(text.to_vec()).ok(),
        [a, b, c, d, p0, p1] => Some(
            SocketAddr::new(Ipv4Addr::new(*a, *b, *c, *d).into(), port(&[*p0, *p1])).to_string(),
        ),
        _ if bytes.len() == 18 => {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&bytes[..16]);
            Some(SocketAddr::new(Ipv6Addr::from(ip).into(), port(&bytes[16..])).to_string())
        }
        _ => None,
    }
}

/// Region names' numbers in `result_regions`, as far as this process has met them.
#[derive(Debug, Default)]
pub(crate) struct RegionKeys {
    known: RwLock<HashMap<String, i64>>,
}

impl RegionKeys {
    /// The number of `name`, if known here.
    pub(crate) fn get(&self, name: &str) -> Option<i64> {
        self.known
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
    }

    /// Remembers numbers read or written by a transaction that committed.
    pub(crate) fn learn(&self, found: impl IntoIterator<Item = (String, i64)>) {
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        known.extend(found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_round_trip_in_their_shortest_form() {
        for (peer, len) in [
            ("127.0.0.1:8080", 6),
            ("10.1.2.3:0", 6),
            ("[::1]:443", 18),
            ("[2001:db8::5]:6379", 18),
        ] {
            let b = peer_bytes(peer);
            assert_eq!(b.len(), len, "{peer}");
            assert_eq!(peer_text(&b).as_deref(), Some(peer));
        }
        // Whatever else an agent sends is kept as given.
        for peer in [
            "db.internal:5432",
            "",
            "[fe80::1%2]:80",
            "[ff02::1]:80",
            "127.0.0.1",
            "ünïcode",
        ] {
            let b = peer_bytes(peer);
            assert_eq!(b[0], TEXT_PEER);
            assert_eq!(peer_text(&b).as_deref(), Some(peer));
        }
    }

    #[test]
    fn unknown_peer_bytes_are_refused() {
        assert_eq!(peer_text(&[]), None);
        assert_eq!(peer_text(&[1, 2, 3]), None);
        assert_eq!(peer_text(&[TEXT_PEER, 0xC3]), None, "not UTF-8");
    }

    #[test]
    fn verdict_codes_match_names() {
        use vigilmon_core::ErrorKind;
        assert_eq!(verdict_code(&Verdict::Up), 0);
        assert_eq!(
            verdict_code(&Verdict::Degraded {
                reason: "slow".into()
            }),
            1
        );
        assert_eq!(verdict_code(&Verdict::down(ErrorKind::Dns, "no")), 2);
        let names: Vec<_> = (0..4).map(verdict_name).collect();
        assert_eq!(names, [Some("up"), Some("degraded"), Some("down"), None]);
    }
}
