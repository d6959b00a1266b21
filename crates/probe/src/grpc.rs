//! `grpc` checks: one call of the standard health service,
//! `grpc.health.v1.Health/Check`, over a fresh HTTP/2 connection (hyper's HTTP/2
//! client on the stream the probe connected itself: plain with prior knowledge for
//! `grpc://`, TLS with ALPN `h2` for `grpcs://`). The two protobuf messages are a
//! request with one string (field 1, the service) and an answer with one enum (field
//! 1, the status): they are written and read here, with the gRPC framing (a flag byte
//! and a 4-byte length before each message) and the `grpc-status` / `grpc-message`
//! trailers. The verdict is [`vigilmon_core::assert::evaluate_grpc`].
//!
//! Phases: `dns_ms`, `connect_ms`, `tls_ms` (`grpcs://`), and `ttfb_ms` from handing
//! the call to the connection until the answer's headers arrive. The check's timeout
//! is also sent as `grpc-timeout`. Figures: `status` (the health status in words) or
//! `grpc_status`, `grpc_code` and `grpc_message`, and `protocol` (`h2`).
//!
//! | what happened | kind |
//! |---|---|
//! | DNS, guard, connect, handshake, timeout (as for every probe) | `dns` / `connect` / `tls` / `timeout` |
//! | not an HTTP/2 or gRPC answer, malformed framing or message, no `grpc-status` | `protocol` |
//! | a gRPC error status (`UNIMPLEMENTED`: no health service; `NOT_FOUND`: unknown service) | `status` |
//! | `NOT_SERVING`, `UNKNOWN`, `SERVICE_UNKNOWN`, too slow | `assertion` |

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use jiff::Timestamp;
use rustls::ClientConfig;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, timeout_at};
use vigilmon_core::assert::{
    GrpcAnswer, GrpcFacts, evaluate_grpc, grpc_code_name, grpc_health_name,
};
use vigilmon_core::monitor::GrpcSpec;
use vigilmon_core::{ErrorKind, Verdict};

use crate::certificate::{handshake, server_name};
use crate::classify::{Failure, Phase, classify};
use crate::http::drive;
use crate::net::{self, Target};
use crate::{Inner, Outcome, millis, tls};

/// The method called.
const PATH: &str = "/grpc.health.v1.Health/Check";
/// The most bytes of messages read from an answer (a health answer takes a few).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The most bytes of headers accepted from the server.
const MAX_HEADER_BYTES: u32 = 64 * 1024;

/// The two TLS configurations of `grpcs://` checks, offering ALPN `h2` only:
/// verifying (index 0), then accepting any certificate (index 1).
pub(crate) fn tls_configs(configs: &tls::TlsConfigs) -> [Arc<ClientConfig>; 2] {
    [&configs.verified, &configs.unverified].map(|c| {
        let mut cfg = (**c).clone();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Arc::new(cfg)
    })
}

/// Runs a `grpc` check to its verdict; the figures go into `details`.
pub(crate) async fn run(
    inner: &Inner,
    spec: &GrpcSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    out.verdict = match call(inner, spec, deadline, limit, &mut out).await {
        Err(v) => v,
        Ok(answer) => {
            out.details = Some(figures(&answer));
            let facts = GrpcFacts {
                answer,
                cert_not_after: out.cert_expires_at,
            };
            evaluate_grpc(spec, &facts, start.elapsed(), Timestamp::now())
        }
    };
    out
}

fn failed(f: &Failure) -> Verdict {
    let (kind, message) = classify(f);
    Verdict::down(kind, message)
}

/// The answer in figures.
fn figures(answer: &GrpcAnswer) -> serde_json::Value {
    match answer {
        GrpcAnswer::Health(n) => json!({
            "protocol": "h2",
            "status": grpc_health_name(*n).map_or_else(|| n.to_string(), str::to_owned),
        }),
        GrpcAnswer::Failed { code, message } => json!({
            "protocol": "h2",
            "grpc_status": code,
            "grpc_code": grpc_code_name(*code),
            "grpc_message": message.chars().take(300).collect::<String>(),
        }),
    }
}

/// Connects (guarded), shakes hands for `grpcs://`, and makes the call.
async fn call(
    inner: &Inner,
    spec: &GrpcSpec,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
) -> Result<GrpcAnswer, Verdict> {
    let target = Target::from_host_text(&spec.host);
    let conn = net::open(
        &target,
        spec.port,
        &inner.opts.guard,
        deadline,
        limit,
        &mut out.phases,
    )
    .await
    .map_err(|f| failed(&f))?;
    out.remote_addr = Some(conn.peer);
    let request = build_request(inner, spec, deadline)?;
    if spec.tls {
        let name = server_name(&spec.host)?;
        let config = inner.grpc_tls[usize::from(!spec.verify_tls)].clone();
        let t0 = Instant::now();
        let stream = handshake(config, name, conn.stream, deadline, limit).await?;
        out.phases.tls_ms = Some(millis(t0.elapsed()));
        out.cert_expires_at = tls::leaf_not_after(stream.get_ref().1);
        exchange(stream, request, deadline, limit, out).await
    } else {
        exchange(conn.stream, request, deadline, limit, out).await
    }
}

/// The call: `POST /grpc.health.v1.Health/Check` with the gRPC headers, the time
/// left as `grpc-timeout`, the probe's own headers, the monitor's metadata, and the
/// framed request.
fn build_request(
    inner: &Inner,
    spec: &GrpcSpec,
    deadline: Instant,
) -> Result<Request<Full<Bytes>>, Verdict> {
    let authority = spec.target();
    let authority = authority
        .split_once("://")
        .map_or(authority.as_str(), |(_, a)| a);
    let uri = Uri::builder()
        .scheme(if spec.tls { "https" } else { "http" })
        .authority(authority)
        .path_and_query(PATH)
        .build()
        .map_err(|e| {
            Verdict::down(
                ErrorKind::Protocol,
                format!("{authority:?} cannot be sent as the call's authority: {e}"),
            )
        })?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    headers.insert(header::USER_AGENT, inner.user_agent.clone());
    headers.insert(
        HeaderName::from_static("x-vigilmon-region"),
        inner.region_header.clone(),
    );
    let left = deadline.saturating_duration_since(Instant::now());
    if let Ok(v) = HeaderValue::from_str(&grpc_timeout(left)) {
        headers.insert(HeaderName::from_static("grpc-timeout"), v);
    }
    for (name, value) in &spec.metadata {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(Verdict::down(
                ErrorKind::Protocol,
                format!("the metadata {name} cannot be sent"),
            ));
        };
        headers.append(name, value);
    }
    let mut request = Request::new(Full::new(health_request(&spec.service)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    *request.version_mut() = http::Version::HTTP_2;
    *request.headers_mut() = headers;
    Ok(request)
}

/// `grpc-timeout` for the time left: whole milliseconds (at least 1), or seconds
/// when the milliseconds take more than the 8 digits allowed.
fn grpc_timeout(left: Duration) -> String {
    let ms = left.as_millis().max(1);
    if ms <= 99_999_999 {
        format!("{ms}m")
    } else {
        format!("{}S", left.as_secs().min(99_999_999))
    }
}

/// A `HealthCheckRequest` (field 1: the service name, left out when empty), framed:
/// not compressed, its length in 4 bytes big-endian, the message.
fn health_request(service: &str) -> Bytes {
    let mut message = Vec::with_capacity(service.len() + 3);
    if !service.is_empty() {
        message.push(0x0a); // field 1, length-delimited
        let mut n = service.len();
        while n >= 0x80 {
            message.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        message.push(n as u8);
        message.extend_from_slice(service.as_bytes());
    }
    let mut framed = Vec::with_capacity(message.len() + 5);
    framed.push(0);
    framed.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    framed.extend_from_slice(&message);
    Bytes::from(framed)
}

/// Sends the call and reads the answer to its trailers on an established connection.
/// The connection is driven in this same task, so nothing outlives the check.
async fn exchange<S>(
    io: S,
    request: Request<Full<Bytes>>,
    deadline: Instant,
    limit: Duration,
    out: &mut Outcome,
) -> Result<GrpcAnswer, Verdict>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let timeout = |phase| failed(&Failure::Timeout { phase, limit });
    let http = |phase| move |error| failed(&Failure::Http { phase, error });
    let (mut sender, conn) = timeout_at(
        deadline,
        hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .max_header_list_size(MAX_HEADER_BYTES)
            .handshake::<_, Full<Bytes>>(TokioIo::new(io)),
    )
    .await
    .map_err(|_| timeout(Phase::FirstByte))?
    .map_err(http(Phase::FirstByte))?;
    let mut conn = pin!(conn);
    let mut conn_done = false;

    let t0 = Instant::now();
    let send = async {
        sender.ready().await?;
        sender.send_request(request).await
    };
    let response = timeout_at(deadline, drive(conn.as_mut(), &mut conn_done, send))
        .await
        .map_err(|_| timeout(Phase::FirstByte))?
        .map_err(http(Phase::FirstByte))?;
    out.phases.ttfb_ms = Some(millis(t0.elapsed()));
    let (head, mut body) = response.into_parts();
    let mut data = Vec::new();
    let mut trailers = None;
    loop {
        let frame = timeout_at(deadline, drive(conn.as_mut(), &mut conn_done, body.frame()))
            .await
            .map_err(|_| timeout(Phase::ReadBody))?;
        match frame {
            None => break,
            Some(Err(error)) => return Err(http(Phase::ReadBody)(error)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(chunk) => {
                    if data.len() + chunk.len() > MAX_ANSWER_BYTES {
                        return Err(Verdict::down(
                            ErrorKind::Protocol,
                            format!(
                                "the answer is longer than {} kB, far more than a health status",
                                MAX_ANSWER_BYTES / 1024
                            ),
                        ));
                    }
                    data.extend_from_slice(&chunk);
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailers = Some(t);
                    }
                }
            },
        }
    }
    read_answer(
        head.status.as_u16(),
        &head.headers,
        &data,
        trailers.as_ref(),
    )
    .map_err(|m| Verdict::down(ErrorKind::Protocol, m))
}

/// Reads a gRPC answer: its status (from the trailers, or from the headers of a
/// trailers-only answer), and when it is OK the one `HealthCheckResponse` it carries.
/// Whatever the server sent, this returns: an error says in words what is wrong.
pub(crate) fn read_answer(
    status: u16,
    headers: &HeaderMap,
    data: &[u8],
    trailers: Option<&HeaderMap>,
) -> Result<GrpcAnswer, String> {
    let grpc = trailers
        .and_then(|t| t.get("grpc-status").map(|s| (t, s)))
        .or_else(|| headers.get("grpc-status").map(|s| (headers, s)));
    let Some((source, code)) = grpc else {
        let kind = headers.get(header::CONTENT_TYPE).map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(100)
                .collect::<String>()
        });
        return Err(match (status, kind) {
            (200, Some(k)) if k.starts_with("application/grpc") => {
                "the call ended without a grpc-status".to_owned()
            }
            (200, Some(k)) => format!("the server answered {k:?}, not gRPC"),
            (200, None) => {
                "the server answered without a content type or grpc-status, not gRPC".to_owned()
            }
            (s, _) => format!("the server answered HTTP status {s}, not gRPC"),
        });
    };
    let code = std::str::from_utf8(code.as_bytes())
        .ok()
        .and_then(|c| c.trim().parse::<u32>().ok())
        .ok_or_else(|| {
            let shown: String = String::from_utf8_lossy(code.as_bytes())
                .chars()
                .take(40)
                .collect();
            format!("grpc-status {shown:?} is not a status code")
        })?;
    if code != 0 {
        let message = source
            .get("grpc-message")
            .map(|m| percent_decoded(m.as_bytes()))
            .unwrap_or_default();
        return Ok(GrpcAnswer::Failed { code, message });
    }
    let messages = messages(data)?;
    match messages.as_slice() {
        [one] => health_status(one).map(GrpcAnswer::Health),
        [] => Err("the call succeeded but carried no HealthCheckResponse".to_owned()),
        many => Err(format!(
            "the call carried {} messages, where one HealthCheckResponse was expected",
            many.len()
        )),
    }
}

/// The messages of a gRPC body: each a flag byte (0: not compressed), a 4-byte
/// big-endian length and that many bytes.
fn messages(mut data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut found = Vec::new();
    while !data.is_empty() {
        let Some((prefix, rest)) = data.split_first_chunk::<5>() else {
            return Err(format!(
                "a gRPC message is cut short: {} bytes of its 5-byte prefix",
                data.len()
            ));
        };
        let [flag, len @ ..] = *prefix;
        match flag {
            0 => {}
            1 => {
                return Err(
                    "the answer is compressed, though the probe accepts no compression".to_owned(),
                );
            }
            other => {
                return Err(format!(
                    "a gRPC message starts with flag {other}, not 0 or 1"
                ));
            }
        }
        let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
        let Some((message, rest)) = rest.split_at_checked(len) else {
            return Err(format!(
                "a gRPC message is cut short: {len} bytes announced, {} received",
                rest.len()
            ));
        };
        found.push(message);
        data = rest;
    }
    Ok(found)
}

/// Reads a protobuf varint at the start of `data`: its value and length.
fn varint(data: &[u8]) -> Result<(u64, usize), String> {
    let mut value = 0u64;
    for (i, b) in data.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err("the HealthCheckResponse is malformed: a number runs past its end".to_owned())
}

/// The `status` (field 1, an enum) of a `HealthCheckResponse`; 0 (`UNKNOWN`) when
/// absent, as protobuf has it. Other fields are skipped; the last field 1 counts.
fn health_status(mut message: &[u8]) -> Result<i32, String> {
    let malformed = |what: &str| format!("the HealthCheckResponse is malformed: {what}");
    let mut status = 0;
    while !message.is_empty() {
        let (key, n) = varint(message)?;
        message = message.get(n..).unwrap_or_default();
        let (field, wire) = (key >> 3, key & 7);
        let skip = match wire {
            0 => {
                let (value, n) = varint(message)?;
                if field == 1 {
                    // An enum is an int32: a negative one is sent as ten bytes.
                    status = value as u32 as i32;
                }
                n
            }
            1 => 8,
            5 => 4,
            2 => {
                let (len, n) = varint(message)?;
                usize::try_from(len)
                    .ok()
                    .and_then(|l| l.checked_add(n))
                    .ok_or_else(|| malformed("a field's length is too large"))?
            }
            other => return Err(malformed(&format!("wire type {other} in field {field}"))),
        };
        if field == 1 && wire != 0 {
            return Err(malformed("the status is not a number"));
        }
        message = message
            .get(skip..)
            .ok_or_else(|| malformed("a field runs past its end"))?;
    }
    Ok(status)
}

/// A `grpc-message` value: percent-encoded UTF-8 (`%XX` for anything outside
/// printable ASCII and `%` itself); malformed escapes are kept as they are.
fn percent_decoded(raw: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An answer written as bytes, as the fuzz target feeds it: the HTTP status on the
/// first line, header lines (`name: value`) up to an empty line, then the body up to
/// a line `--trailers--`, then trailer lines. Read by [`read_answer`] and judged for
/// `spec`. Public for the fuzz targets only.
#[doc(hidden)]
pub fn judge_answer(data: &[u8], spec: &GrpcSpec, now: Timestamp) -> Verdict {
    fn lines_to_map(text: &[u8]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in text.split(|&b| b == b'\n') {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = line.split_at(colon);
            let value = value.get(1..).unwrap_or_default().trim_ascii();
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.trim_ascii()),
                HeaderValue::from_bytes(value),
            ) {
                map.append(n, v);
            }
        }
        map
    }
    fn split<'a>(data: &'a [u8], at: &[u8]) -> (&'a [u8], Option<&'a [u8]>) {
        match data.windows(at.len()).position(|w| w == at) {
            Some(i) => (&data[..i], data.get(i + at.len()..)),
            None => (data, None),
        }
    }
    let (first, rest) = split(data, b"\n");
    let status = std::str::from_utf8(first)
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
        .unwrap_or(200);
    let (head, rest) = split(rest.unwrap_or_default(), b"\n\n");
    let (body, trailers) = split(rest.unwrap_or_default(), b"\n--trailers--\n");
    let headers = lines_to_map(head);
    let trailers = trailers.map(lines_to_map);
    match read_answer(status, &headers, body, trailers.as_ref()) {
        Ok(answer) => {
            let facts = GrpcFacts {
                answer,
                cert_not_after: None,
            };
            evaluate_grpc(spec, &facts, Duration::from_millis(1), now)
        }
        Err(m) => Verdict::down(ErrorKind::Protocol, m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    fn framed(message: &[u8]) -> Vec<u8> {
        let mut v = vec![0];
        v.extend_from_slice(&(message.len() as u32).to_be_bytes());
        v.extend_from_slice(message);
        v
    }

    #[test]
    fn requests_are_framed_protobuf() {
        assert_eq!(&health_request("")[..], [0, 0, 0, 0, 0]);
        assert_eq!(
            &health_request("ab")[..],
            [0, 0, 0, 0, 4, 0x0a, 2, b'a', b'b']
        );
        let long = "x".repeat(300);
        let r = health_request(&long);
        assert_eq!(&r[..8], [0, 0, 0, 0x01, 0x2f, 0x0a, 0xac, 0x02]);
        assert_eq!(r.len(), 5 + 3 + 300);
    }

    #[test]
    fn timeouts_are_written_as_grpc_wants() {
        assert_eq!(grpc_timeout(Duration::from_millis(2500)), "2500m");
        assert_eq!(grpc_timeout(Duration::ZERO), "1m");
        assert_eq!(grpc_timeout(Duration::from_secs(200_000)), "200000S");
    }

    #[test]
    fn answers_are_read() {
        let ok = map(&[("content-type", "application/grpc")]);
        let status = |s| map(&[("grpc-status", s)]);
        let read = |data: &[u8], t: &HeaderMap| read_answer(200, &ok, data, Some(t));
        assert_eq!(
            read(&framed(&[0x08, 1]), &status("0")),
            Ok(GrpcAnswer::Health(1))
        );
        assert_eq!(read(&framed(&[]), &status("0")), Ok(GrpcAnswer::Health(0)));
        // Unknown fields are skipped, the last status counts.
        assert_eq!(
            read(
                &framed(&[
                    0x08, 2, 0x12, 1, b'x', 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 1
                ]),
                &status("0")
            ),
            Ok(GrpcAnswer::Health(1))
        );
        // Trailers-only: the status in the headers.
        let only = map(&[
            ("content-type", "application/grpc"),
            ("grpc-status", "12"),
            ("grpc-message", "Method%20not%20found%21 %E2%9C%93 %zz"),
        ]);
        assert_eq!(
            read_answer(200, &only, b"", None),
            Ok(GrpcAnswer::Failed {
                code: 12,
                message: "Method not found! \u{2713} %zz".into()
            })
        );
        for (data, trailers, words) in [
            (framed(&[0x08, 1]), map(&[]), "without a grpc-status"),
            (vec![0, 0, 0], status("0"), "3 bytes of its 5-byte prefix"),
            (
                vec![0, 0, 0, 0, 9, 8],
                status("0"),
                "9 bytes announced, 1 received",
            ),
            (vec![1, 0, 0, 0, 0], status("0"), "compressed"),
            (vec![7, 0, 0, 0, 0], status("0"), "flag 7"),
            (vec![], status("0"), "no HealthCheckResponse"),
            (
                [framed(&[]), framed(&[])].concat(),
                status("0"),
                "2 messages",
            ),
            (framed(&[0x08]), status("0"), "runs past its end"),
            (
                framed(&[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ]),
                status("0"),
                "runs past its end",
            ),
            (framed(&[0x0a, 1, 1]), status("0"), "not a number"),
            (
                framed(&[0x12, 0xff, 0xff, 0xff, 0x0f]),
                status("0"),
                "runs past its end",
            ),
            (framed(&[0x0b]), status("0"), "wire type 3"),
            (vec![], status("OK"), "\"OK\" is not a status code"),
        ] {
            let e = read(&data, &trailers).unwrap_err();
            assert!(e.contains(words), "{e:?} lacks {words:?}");
        }
        assert_eq!(
            read_answer(404, &map(&[("content-type", "text/html")]), b"", None).unwrap_err(),
            "the server answered HTTP status 404, not gRPC"
        );
        assert_eq!(
            read_answer(200, &map(&[("content-type", "text/html")]), b"", None).unwrap_err(),
            "the server answered \"text/html\", not gRPC"
        );
        // A negative enum, sent as ten bytes.
        assert_eq!(
            read(
                &framed(&[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
                ]),
                &status("0")
            ),
            Ok(GrpcAnswer::Health(-1))
        );
    }

    #[test]
    fn written_answers_are_judged_as_the_fuzz_target_reads_them() {
        let config: vigilmon_core::MonitorConfig =
            serde_json::from_value(json!({"name": "g", "type": "grpc", "url": "grpc://h:1"}))
                .unwrap();
        let vigilmon_core::monitor::CheckSpec::Grpc(spec) = config.build().unwrap().check else {
            panic!("a grpc spec")
        };
        let judge = |data: &[u8]| judge_answer(data, &spec, Timestamp::now());
        assert_eq!(
            judge(b"200\ncontent-type: application/grpc\n\n\0\0\0\0\x02\x08\x01\n--trailers--\ngrpc-status: 0\n"),
            Verdict::Up
        );
        assert_eq!(
            judge(b"200\ngrpc-status: 12\ngrpc-message: Method%20not%20found!\n\n").error_kind(),
            Some(ErrorKind::Status)
        );
        for junk in [
            &b""[..],
            b"\n",
            b"999999\n\n\n--trailers--\n",
            b"\xff\xfe:\n\n",
        ] {
            assert_eq!(judge(junk).error_kind(), Some(ErrorKind::Protocol));
        }
    }
}
