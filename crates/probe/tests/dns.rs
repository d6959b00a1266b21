//! The `dns` check against a real DNS server the test starts on a free port: a small
//! authoritative responder built on hickory-proto, on UDP and TCP, with a zone of
//! every record type a monitor may ask for, a name whose UDP answer is truncated (the
//! check asks again over TCP), and NXDOMAIN for the rest.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CAA, CNAME, MX, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use vigilmon_core::monitor::{CheckSpec, MonitorConfig};
use vigilmon_core::{CheckResult, ErrorKind, RegionName, Verdict};
use vigilmon_probe::{ProbeOptions, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// The zone's records for a question; `None` for a name that does not exist.
fn zone(q: &Name, t: RecordType) -> Option<Vec<RData>> {
    let q = q.to_ascii().to_ascii_lowercase();
    let all: Vec<RData> = match q.as_str() {
        "example.test." => vec![
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            RData::A(A(Ipv4Addr::new(192, 0, 2, 2))),
            RData::AAAA(AAAA("2001:db8::1".parse::<Ipv6Addr>().unwrap())),
            RData::MX(MX::new(10, name("mail.example.test."))),
            RData::TXT(TXT::new(vec!["v=spf1 -all".into()])),
            RData::NS(NS(name("ns1.example.test."))),
            RData::SOA(SOA::new(
                name("ns1.example.test."),
                name("hostmaster.example.test."),
                2024010101,
                7200,
                3600,
                1209600,
                300,
            )),
            RData::CAA(CAA::new_issue(false, Some(name("letsencrypt.org")), vec![])),
        ],
        "www.example.test." => vec![RData::CNAME(CNAME(name("example.test.")))],
        "big.example.test." => vec![RData::A(A(Ipv4Addr::new(192, 0, 2, 9)))],
        _ => return None,
    };
    Some(all.into_iter().filter(|r| r.record_type() == t).collect())
}

fn answer(question: &[u8], udp: bool) -> Option<Vec<u8>> {
    let q = Message::from_vec(question).ok()?;
    let query = q.queries.first()?.clone();
    let mut m = Message::response(q.metadata.id, q.metadata.op_code);
    m.metadata.authoritative = true;
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    m.add_query(query.clone());
    if udp && query.name().to_ascii() == "big.example.test." {
        m.metadata.truncation = true;
        return m.to_vec().ok();
    }
    match zone(query.name(), query.query_type()) {
        None => m.metadata.response_code = ResponseCode::NXDomain,
        Some(records) => {
            for r in records {
                m.add_answer(Record::from_rdata(query.name().clone(), 300, r));
            }
        }
    }
    m.to_vec().ok()
}

/// Starts the responder on UDP and TCP of one free port.
async fn dns_server() -> SocketAddr {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let udp = UdpSocket::bind(addr).await.unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            if let Some(a) = answer(&buf[..n], true) {
                let _ = udp.send_to(&a, from).await;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let Ok(n) = s.read_u16().await else { return };
                let mut q = vec![0u8; usize::from(n)];
                if s.read_exact(&mut q).await.is_err() {
                    return;
                }
                if let Some(a) = answer(&q, false) {
                    let mut framed = (a.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&a);
                    let _ = s.write_all(&framed).await;
                }
            });
        }
    });
    addr
}

fn spec(resolver: SocketAddr, v: Value) -> CheckSpec {
    let mut base = json!({"name": "d", "type": "dns", "resolver": resolver.to_string()});
    base.as_object_mut()
        .unwrap()
        .extend(v.as_object().unwrap().clone());
    let cfg: MonitorConfig = serde_json::from_value(base).unwrap();
    cfg.build().unwrap().check
}

fn prober() -> Prober {
    Prober::new(ProbeOptions::new(RegionName::parse("eu-test").unwrap())).unwrap()
}

#[track_caller]
fn assert_down(r: &CheckResult, kind: ErrorKind, words: &str) {
    match &r.verdict {
        Verdict::Down { kind: k, message } => {
            assert_eq!(*k, kind, "wrong kind; message: {message}");
            assert!(message.contains(words), "{message:?} lacks {words:?}");
        }
        other => panic!("expected down ({kind:?}), got {other:?}"),
    }
}

#[tokio::test]
async fn every_record_type_is_asked_and_compared() {
    let server = dns_server().await;
    let p = prober();
    for (record, value) in [
        ("A", "192.0.2.2"),
        ("AAAA", "2001:DB8::1"),
        ("MX", "10 mail.example.test"),
        ("TXT", "v=spf1 -all"),
        ("NS", "ns1.example.test."),
        (
            "SOA",
            "ns1.example.test hostmaster.example.test 2024010101 7200 3600 1209600 300",
        ),
        ("CAA", "0 issue \"letsencrypt.org\""),
    ] {
        let r = p
            .check(
                &spec(server, json!({"query": "example.test", "record": record, "expect": {"values": [value]}})),
                TIMEOUT,
            )
            .await;
        assert_eq!(r.verdict, Verdict::Up, "{record}: {r:?}");
    }
    let r = p
        .check(
            &spec(server, json!({"query": "www.example.test", "record": "CNAME", "expect": {"values": ["example.test"]}})),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    let d = r.details.as_ref().unwrap();
    assert_eq!(d["rcode"], "NOERROR");
    assert_eq!(d["transport"], "udp");
    assert_eq!(d["authoritative"], true);
    assert_eq!(d["values"], json!(["example.test"]));
    assert!(r.phases.ttfb_ms.is_some());
}

#[tokio::test]
async fn values_exactness_rcodes_and_truncation() {
    let server = dns_server().await;
    let p = prober();
    let r = p
        .check(
            &spec(
                server,
                json!({"query": "example.test", "expect": {"values": ["192.0.2.1", "192.0.2.3"]}}),
            ),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Assertion,
        "lacks 192.0.2.3; it holds 192.0.2.1, 192.0.2.2",
    );
    let r = p
        .check(
            &spec(server, json!({"query": "example.test", "expect": {"values": ["192.0.2.1"], "exact": true}})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Assertion, "also holds 192.0.2.2");
    let r = p
        .check(
            &spec(server, json!({"query": "nope.example.test"})),
            TIMEOUT,
        )
        .await;
    assert_down(&r, ErrorKind::Dns, "answered NXDOMAIN, expected NOERROR");
    let r = p
        .check(
            &spec(
                server,
                json!({"query": "nope.example.test", "expect": {"rcode": "NXDOMAIN"}}),
            ),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    let r = p
        .check(
            &spec(server, json!({"query": "www.example.test", "record": "MX"})),
            TIMEOUT,
        )
        .await;
    assert_down(
        &r,
        ErrorKind::Assertion,
        "no MX record for www.example.test",
    );
    // Truncated over UDP: asked again over TCP.
    let r = p
        .check(
            &spec(
                server,
                json!({"query": "big.example.test", "expect": {"values": ["192.0.2.9"]}}),
            ),
            TIMEOUT,
        )
        .await;
    assert_eq!(r.verdict, Verdict::Up, "{r:?}");
    assert_eq!(r.details.as_ref().unwrap()["transport"], "tcp");
    assert!(r.phases.connect_ms.is_some());
}

#[tokio::test]
async fn silence_and_guarded_resolvers() {
    // A UDP socket that never answers.
    let quiet = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = quiet.local_addr().unwrap();
    let r = prober()
        .check(
            &spec(addr, json!({"query": "example.test"})),
            Duration::from_millis(500),
        )
        .await;
    assert_down(&r, ErrorKind::Timeout, "over UDP");
    drop(quiet);

    let mut opts = ProbeOptions::new(RegionName::parse("eu-test").unwrap());
    opts.guard.deny_networks = vec!["127.0.0.0/8".parse().unwrap()];
    let server = dns_server().await;
    let r = Prober::new(opts)
        .unwrap()
        .check(&spec(server, json!({"query": "example.test"})), TIMEOUT)
        .await;
    assert_down(&r, ErrorKind::Dns, "may not use");
}
