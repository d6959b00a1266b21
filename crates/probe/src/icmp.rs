//! `icmp` checks: ping. Resolve the host (timed) and keep the first address the
//! network guard permits; open an ICMP socket — an unprivileged one (`SOCK_DGRAM`,
//! which Linux allows to the groups in `net.ipv4.ping_group_range`, IPv6 included), else
//! a raw one (which needs `CAP_NET_RAW`), else fail with what to change; send `count`
//! echo requests 200 ms apart and read the replies until all are in or the check's
//! time is up. The verdict is [`IcmpSpec::judge`].
//!
//! Each check has an identifier of its own, and replies are matched by source address,
//! identifier (raw sockets see every echo reply of the host; with unprivileged sockets
//! the kernel delivers only this socket's), sequence number and payload.
//!
//! Phases: `dns_ms` (names only) and `ttfb_ms` (the first reply's round trip).
//! Figures: `address`, `socket` (`unprivileged` or `raw`), `sent`, `received`,
//! `loss_percent`, `rtt_min_ms`, `rtt_avg_ms`, `rtt_max_ms`.
//!
//! | what happened | kind |
//! |---|---|
//! | the name does not resolve, or only to addresses the guard refuses | `dns` |
//! | no ICMP socket may be opened (the message says what to change), a send refused (no route) | `connect` |
//! | no reply at all | `timeout` |
//! | more loss than `expect.max_loss`, a slower average round trip | `assertion` |

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use serde_json::json;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::{Instant, sleep_until};
use vigilmon_core::monitor::{IcmpFacts, IcmpSpec};
use vigilmon_core::{ErrorKind, Verdict};

use crate::net::{self, Target};
use crate::{Inner, Outcome, millis};

/// Time between two echo requests of one check.
const SPACING: Duration = Duration::from_millis(200);
/// What each echo request carries, and each reply must carry back.
const PAYLOAD: &[u8; 16] = b"vigilmon-probe:)";

/// How the ICMP socket was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `SOCK_DGRAM`: allowed by `net.ipv4.ping_group_range`; the kernel sets the
    /// identifier and keeps other sockets' replies away.
    Unprivileged,
    /// `SOCK_RAW`: needs `CAP_NET_RAW`; sees every ICMP message of the host.
    Raw,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Unprivileged => "unprivileged",
            Mode::Raw => "raw",
        }
    }
}

/// Runs an `icmp` check to its verdict; the figures go into `details`.
pub(crate) async fn run(
    inner: &Inner,
    spec: &IcmpSpec,
    _start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    out.verdict = match check(inner, spec, deadline, limit, &mut out).await {
        Ok(v) | Err(v) => v,
    };
    out
}

async fn check(
    inner: &Inner,
    spec: &IcmpSpec,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
) -> Result<Verdict, Verdict> {
    let target = Target::from_host_text(&spec.host);
    let addrs = net::resolve(
        &target,
        0,
        &inner.opts.guard,
        deadline,
        limit,
        &mut out.phases,
    )
    .await
    .map_err(|f| {
        let (kind, message) = crate::classify::classify(&f);
        Verdict::down(kind, message)
    })?;
    // `resolve` never returns an empty list.
    let Some(addr) = addrs.first().map(SocketAddr::ip) else {
        return Err(Verdict::down(
            ErrorKind::Dns,
            format!("{} resolves to no address", spec.host),
        ));
    };
    out.remote_addr = Some(SocketAddr::new(addr, 0));
    let (socket, mode) = open(addr.is_ipv6()).map_err(|e| Verdict::down(ErrorKind::Connect, e))?;
    let facts = ping(&socket, mode, addr, spec.count, deadline).await?;
    if let Some(first) = facts.first {
        out.phases.ttfb_ms = Some(millis(first));
    }
    let rtts = &facts.facts.round_trips;
    let ms = |d: Option<&Duration>| d.map(|d| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0);
    out.details = Some(json!({
        "address": addr.to_string(),
        "socket": mode.as_str(),
        "sent": facts.facts.sent,
        "received": facts.facts.received(),
        "loss_percent": (facts.facts.loss_percent() * 10.0).round() / 10.0,
        "rtt_min_ms": ms(rtts.iter().min()),
        "rtt_avg_ms": ms(facts.facts.average().as_ref()),
        "rtt_max_ms": ms(rtts.iter().max()),
    }));
    Ok(spec.judge(&facts.facts))
}

/// Opens an ICMP socket for the address family: unprivileged if the kernel allows it,
/// raw otherwise; when neither may be opened, what to change, in words.
pub(crate) fn open(v6: bool) -> Result<(UdpSocket, Mode), String> {
    let (domain, protocol) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let opened = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(s) => Ok((s, Mode::Unprivileged)),
        Err(dgram) => match Socket::new(domain, Type::RAW, Some(protocol)) {
            Ok(s) => Ok((s, Mode::Raw)),
            Err(raw) => Err(refusal(&dgram, &raw, &ping_group_range(), own_gid())),
        },
    }?;
    let (socket, mode) = opened;
    let prepared = socket
        .set_nonblocking(true)
        .and_then(|()| UdpSocket::from_std(std::net::UdpSocket::from(socket)));
    match prepared {
        Ok(s) => Ok((s, mode)),
        Err(e) => Err(format!("could not use the ICMP socket: {e}")),
    }
}

/// Why no ICMP socket could be opened, and what to change. `range` is the content of
/// `net.ipv4.ping_group_range`, `gid` the probe's group.
pub(crate) fn refusal(dgram: &io::Error, raw: &io::Error, range: &str, gid: Option<u32>) -> String {
    let denied = |e: &io::Error| e.kind() == io::ErrorKind::PermissionDenied;
    if !(denied(dgram) && denied(raw)) {
        return format!("could not open an ICMP socket: {dgram} (unprivileged), {raw} (raw)");
    }
    let group = gid.map_or_else(|| "its group".to_owned(), |g| format!("its group ({g})"));
    let range = range.split_whitespace().collect::<Vec<_>>().join(" ");
    let range = if range.is_empty() {
        String::new()
    } else {
        format!(" is \"{range}\"")
    };
    format!(
        "the probe may not send ping requests: the kernel allows unprivileged ICMP sockets \
         only to the groups in net.ipv4.ping_group_range, which{range} and leaves out {group}, \
         and a raw socket needs CAP_NET_RAW, which the probe lacks. Change one of them: \
         sysctl net.ipv4.ping_group_range=\"0 2147483647\" (kept in /etc/sysctl.d/), or \
         setcap cap_net_raw+ep on the vigilmon binary, or AmbientCapabilities=CAP_NET_RAW \
         in its systemd unit"
    )
}

/// `net.ipv4.ping_group_range`, as the kernel shows it (empty when unreadable).
fn ping_group_range() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default()
}

/// The process's effective group, from `/proc/self/status`.
fn own_gid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Gid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// What the echoes of one check came to.
struct Pinged {
    facts: IcmpFacts,
    /// The round trip of the first reply.
    first: Option<Duration>,
}

/// A fresh identifier per check: replies to another check are not this one's.
fn identifier() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // The low bits of the process id keep two probes on one host apart.
    (std::process::id() as u16).rotate_left(8) ^ n
}

/// Sends `count` echo requests to `addr`, `SPACING` apart, and reads the replies
/// until every one is in or `deadline` passes.
async fn ping(
    socket: &UdpSocket,
    mode: Mode,
    addr: IpAddr,
    count: u32,
    deadline: Instant,
) -> Result<Pinged, Verdict> {
    let id = identifier();
    let v6 = addr.is_ipv6();
    let to = SocketAddr::new(addr, 0);
    let count = u16::try_from(count).unwrap_or(u16::MAX);
    let mut sent_at: Vec<Instant> = Vec::with_capacity(usize::from(count));
    let mut round_trips: Vec<Option<Duration>> = vec![None; usize::from(count)];
    let mut answered = 0u16;
    let mut first = None;
    let mut next = Instant::now();
    let mut buf = [0u8; 1500];
    while answered < count {
        let sent = u16::try_from(sent_at.len()).unwrap_or(u16::MAX);
        let sending = sent < count;
        tokio::select! {
            () = sleep_until(next), if sending => {
                let packet = echo_request(v6, id, sent);
                if let Err(e) = socket.send_to(&packet, to).await {
                    return Err(Verdict::down(
                        ErrorKind::Connect,
                        format!("could not send an echo request to {addr}: {e}"),
                    ));
                }
                sent_at.push(Instant::now());
                next += SPACING;
            }
            received = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = received else { continue };
                if from.ip() != addr {
                    continue;
                }
                let Some(seq) = echo_reply(&buf[..n], v6, mode, id) else { continue };
                let (Some(at), Some(slot)) = (sent_at.get(usize::from(seq)), round_trips.get_mut(usize::from(seq))) else {
                    continue;
                };
                if slot.is_none() {
                    let rtt = at.elapsed();
                    *slot = Some(rtt);
                    first.get_or_insert(rtt);
                    answered += 1;
                }
            }
            () = sleep_until(deadline) => break,
        }
    }
    Ok(Pinged {
        facts: IcmpFacts {
            sent: u32::try_from(sent_at.len()).unwrap_or(u32::MAX),
            round_trips: round_trips.into_iter().flatten().collect(),
        },
        first,
    })
}

/// An echo request: type 8 (ICMPv4) or 128 (ICMPv6), the identifier, the sequence
/// number and [`PAYLOAD`]. The ICMPv4 checksum is computed here; the kernel computes
/// ICMPv6's (it covers a pseudo-header of addresses only it knows for sure).
pub(crate) fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The sequence number of an echo reply to this check, or `None` for anything else.
/// A raw IPv4 socket reads the IP header too; unprivileged sockets carry the
/// identifier the kernel chose, and only their own replies.
pub(crate) fn echo_reply(packet: &[u8], v6: bool, mode: Mode, id: u16) -> Option<u16> {
    let icmp = if !v6 && mode == Mode::Raw {
        let header = usize::from(packet.first()? & 0x0f) * 4;
        packet.get(header..)?
    } else {
        packet
    };
    let reply_type = if v6 { 129 } else { 0 };
    if icmp.len() < 8 || icmp[0] != reply_type || icmp[1] != 0 {
        return None;
    }
    if mode == Mode::Raw && u16::from_be_bytes([icmp[4], icmp[5]]) != id {
        return None;
    }
    if icmp.get(8..)? != PAYLOAD {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

/// The Internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_requests_and_their_replies() {
        let req = echo_request(false, 0x1234, 7);
        assert_eq!(&req[..8], &[8, 0, req[2], req[3], 0x12, 0x34, 0, 7]);
        // A correct checksum sums to zero with itself.
        assert_eq!(checksum(&req), 0);
        // The reply of a raw IPv4 socket comes after a 20-byte IP header.
        let mut reply = vec![0x45; 1];
        reply.extend_from_slice(&[0; 19]);
        let mut icmp = req.clone();
        icmp[0] = 0;
        reply.extend_from_slice(&icmp);
        assert_eq!(echo_reply(&reply, false, Mode::Raw, 0x1234), Some(7));
        assert_eq!(echo_reply(&reply, false, Mode::Raw, 0x4321), None);
        // Our own request, seen by a raw socket on loopback, is no reply.
        let mut own = vec![0x45; 1];
        own.extend_from_slice(&[0; 19]);
        own.extend_from_slice(&req);
        assert_eq!(echo_reply(&own, false, Mode::Raw, 0x1234), None);
        // Unprivileged: no IP header, the kernel's identifier.
        icmp[4] = 0x99;
        assert_eq!(
            echo_reply(&icmp, false, Mode::Unprivileged, 0x1234),
            Some(7)
        );
        let mut v6 = echo_request(true, 1, 2);
        assert_eq!(v6[0], 128);
        v6[0] = 129;
        assert_eq!(echo_reply(&v6, true, Mode::Raw, 1), Some(2));
        assert_eq!(echo_reply(&v6[..10], true, Mode::Raw, 1), None);
    }

    #[test]
    fn a_refused_socket_says_what_to_change() {
        let eacces = io::Error::from(io::ErrorKind::PermissionDenied);
        let msg = refusal(&eacces, &eacces, "1\t0\n", Some(1000));
        assert!(
            msg.contains(
                "net.ipv4.ping_group_range, which is \"1 0\" and leaves out its group (1000)"
            ),
            "{msg}"
        );
        for fix in [
            "sysctl net.ipv4.ping_group_range=\"0 2147483647\"",
            "setcap cap_net_raw+ep",
            "AmbientCapabilities=CAP_NET_RAW",
            "CAP_NET_RAW, which the probe lacks",
        ] {
            assert!(msg.contains(fix), "{msg} lacks {fix}");
        }
        let other = io::Error::from(io::ErrorKind::Unsupported);
        let msg = refusal(&other, &eacces, "", None);
        assert!(msg.starts_with("could not open an ICMP socket"), "{msg}");
    }
}
