//! `dns` checks: one question (name and record type) to one resolver, over UDP, again
//! over TCP when the answer comes back truncated. Messages are written and read with
//! hickory-proto; the sockets are the probe's own, so the resolver's address goes
//! through the network guard like every other address the probe connects to. The
//! resolver is the monitor's `resolver`, else the first `nameserver` of
//! `/etc/resolv.conf`.
//!
//! Phases: `ttfb_ms` from sending the question to the answer (the last one, after a
//! TCP retry), and `connect_ms` for a TCP retry. Figures: `resolver`, `transport`
//! (`udp` or `tcp`), `rcode`, `authoritative` and `values` (the answer's records of the
//! type asked, in the canonical form they are compared in).
//!
//! | what happened | kind |
//! |---|---|
//! | no resolver configured, a resolver the guard refuses, another response code than expected | `dns` |
//! | nothing answered within the timeout | `timeout` |
//! | a malformed answer, or one to another question | `protocol` |
//! | values missing (or extra, with `exact`), no record, too slow | `assertion` |
//!
//! The verdict is [`vigilmon_core::assert::evaluate_dns`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout_at};
use vigilmon_core::assert::{DnsFacts, evaluate_dns};
use vigilmon_core::monitor::{DnsRecord, DnsSpec, canonical_value};
use vigilmon_core::{ErrorKind, HumanDuration, Verdict};

use crate::classify::{Failure, Phase};
use crate::net::{self, Target};
use crate::{Inner, Outcome, millis};

/// The largest UDP answer read.
const MAX_UDP_BYTES: usize = 4096;
/// The most values kept in the figures.
const MAX_VALUES: usize = 50;
/// The file the system's resolver is read from.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Runs a `dns` check to its verdict; the figures go into `details`.
pub(crate) async fn run(
    inner: &Inner,
    spec: &DnsSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    match check(inner, spec, start, deadline, limit, &mut out).await {
        Ok(v) | Err(v) => out.verdict = v,
    }
    out
}

fn unreachable(f: &Failure) -> Verdict {
    let (kind, message) = crate::classify::classify(f);
    Verdict::down(kind, message)
}

fn timed_out(limit: Duration, doing: &str) -> Verdict {
    Verdict::down(
        ErrorKind::Timeout,
        format!("no answer within {} (while {doing})", HumanDuration(limit)),
    )
}

fn record_type(r: DnsRecord) -> RecordType {
    match r {
        DnsRecord::A => RecordType::A,
        DnsRecord::Aaaa => RecordType::AAAA,
        DnsRecord::Cname => RecordType::CNAME,
        DnsRecord::Mx => RecordType::MX,
        DnsRecord::Txt => RecordType::TXT,
        DnsRecord::Ns => RecordType::NS,
        DnsRecord::Soa => RecordType::SOA,
        DnsRecord::Caa => RecordType::CAA,
    }
}

/// A response code as DNS people write it.
fn rcode_text(c: ResponseCode) -> String {
    match c {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// The first `nameserver` of a resolv.conf text, on port 53.
pub(crate) fn system_resolver(conf: &str) -> Option<SocketAddr> {
    conf.lines()
        .map(|l| l.split(['#', ';']).next().unwrap_or_default())
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| {
            // A scoped IPv6 address (fe80::1%eth0) keeps its address part.
            let addr = rest.trim().split('%').next().unwrap_or_default();
            addr.parse::<IpAddr>().ok()
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
}

async fn check(
    inner: &Inner,
    spec: &DnsSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
) -> Result<Verdict, Verdict> {
    let resolver = match spec.resolver {
        Some(r) => r,
        None => {
            let conf = tokio::fs::read_to_string(RESOLV_CONF)
                .await
                .unwrap_or_default();
            system_resolver(&conf).ok_or_else(|| {
                Verdict::down(
                    ErrorKind::Dns,
                    format!("{RESOLV_CONF} names no nameserver: give the monitor a resolver"),
                )
            })?
        }
    };
    net::permitted(
        &Target::Ip(resolver.ip()),
        vec![resolver],
        &inner.opts.guard,
    )
    .map_err(|f| unreachable(&f))?;
    out.remote_addr = Some(resolver);

    let name = Name::from_ascii(format!("{}.", spec.query)).map_err(|e| {
        Verdict::down(
            ErrorKind::Dns,
            format!("{} cannot be asked for: {e}", spec.query),
        )
    })?;
    let mut question = Message::query();
    question.metadata.recursion_desired = true;
    question.add_query(Query::query(name, record_type(spec.record)));
    let id = question.metadata.id;
    let bytes = question.to_vec().map_err(|e| {
        Verdict::down(
            ErrorKind::Dns,
            format!("the question cannot be written: {e}"),
        )
    })?;

    let t0 = Instant::now();
    let mut answer = timeout_at(deadline, ask_udp(resolver, &bytes, id))
        .await
        .map_err(|_| timed_out(limit, "waiting for the answer over UDP"))??;
    let mut transport = "udp";
    if answer.metadata.truncation {
        let t1 = Instant::now();
        answer = timeout_at(
            deadline,
            ask_tcp(inner, resolver, &bytes, id, deadline, limit, out),
        )
        .await
        .map_err(|_| timed_out(limit, "waiting for the answer over TCP"))??;
        transport = "tcp";
        out.phases.ttfb_ms = Some(millis(t1.elapsed()));
    } else {
        out.phases.ttfb_ms = Some(millis(t0.elapsed()));
    }

    let wanted = record_type(spec.record);
    let values: Vec<String> = answer
        .answers
        .iter()
        .filter(|r| r.record_type() == wanted)
        .map(|r| {
            let text = r.data.to_string();
            canonical_value(spec.record, &text).unwrap_or(text)
        })
        .collect();
    let facts = DnsFacts {
        rcode: rcode_text(answer.metadata.response_code),
        values,
    };
    out.details = Some(json!({
        "resolver": resolver.to_string(),
        "transport": transport,
        "rcode": facts.rcode,
        "authoritative": answer.metadata.authoritative,
        "values": facts.values.iter().take(MAX_VALUES).collect::<Vec<_>>(),
    }));
    Ok(evaluate_dns(spec, &facts, start.elapsed()))
}

/// Reads an answer, checking it answers this question.
fn read_answer(raw: &[u8], id: u16) -> Result<Message, Verdict> {
    let m = Message::from_vec(raw)
        .map_err(|e| Verdict::down(ErrorKind::Protocol, format!("a malformed DNS answer: {e}")))?;
    if m.metadata.id != id || m.metadata.message_type != MessageType::Response {
        return Err(Verdict::down(
            ErrorKind::Protocol,
            "the resolver answered another question",
        ));
    }
    Ok(m)
}

/// Asks over UDP and waits for the answer with the question's id (datagrams from
/// elsewhere, or with other ids, are ignored).
async fn ask_udp(resolver: SocketAddr, question: &[u8], id: u16) -> Result<Message, Verdict> {
    let local: SocketAddr = if resolver.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let io = |error| {
        unreachable(&Failure::Io {
            phase: Phase::Send,
            error,
        })
    };
    let socket = UdpSocket::bind(local).await.map_err(io)?;
    socket.send_to(question, resolver).await.map_err(io)?;
    let mut buf = vec![0u8; MAX_UDP_BYTES];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await.map_err(|error| {
            unreachable(&Failure::Io {
                phase: Phase::FirstByte,
                error,
            })
        })?;
        if from != resolver || buf.get(..2) != Some(&id.to_be_bytes()[..]) {
            continue;
        }
        return read_answer(&buf[..n], id);
    }
}

/// Asks over TCP (guarded and timed like every connection): the question and the
/// answer each behind a two-byte length.
async fn ask_tcp(
    inner: &Inner,
    resolver: SocketAddr,
    question: &[u8],
    id: u16,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
) -> Result<Message, Verdict> {
    let conn = net::open(
        &Target::Ip(resolver.ip()),
        resolver.port(),
        &inner.opts.guard,
        deadline,
        limit,
        &mut out.phases,
    )
    .await
    .map_err(|f| unreachable(&f))?;
    let mut s = conn.stream;
    let len = u16::try_from(question.len()).unwrap_or(u16::MAX);
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(question);
    let io = |phase| move |error| unreachable(&Failure::Io { phase, error });
    s.write_all(&framed).await.map_err(io(Phase::Send))?;
    let n = s.read_u16().await.map_err(io(Phase::FirstByte))?;
    let mut buf = vec![0u8; usize::from(n)];
    s.read_exact(&mut buf).await.map_err(io(Phase::ReadBody))?;
    read_answer(&buf, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_resolver_is_the_first_nameserver() {
        let conf =
            "# generated\nsearch example\nnameserver 127.0.0.53 # stub\nnameserver 1.1.1.1\n";
        assert_eq!(
            system_resolver(conf),
            Some("127.0.0.53:53".parse().unwrap())
        );
        assert_eq!(
            system_resolver("nameserver fe80::1%eth0\n"),
            Some("[fe80::1]:53".parse().unwrap())
        );
        assert_eq!(system_resolver("options ndots:2\nnameserver bogus\n"), None);
    }
}
