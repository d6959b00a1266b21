//! `amqp` checks: an AMQP 0-9-1 client for one connection. Connect (guarded and
//! timed; `amqps://` shakes hands first, `broker::open`), send the protocol header and
//! read `Connection.Start` (`ttfb_ms`), log in with `PLAIN` (`Start-Ok`), agree on the
//! limits (`Tune` / `Tune-Ok`, heartbeats off), open the virtual host (`Open` /
//! `Open-Ok`), open channel 1, then close the channel and the connection, each waiting
//! for its `Close-Ok`. The frames are amq-protocol's codec, written to and read from
//! the probe's own stream: the crate opens no connection.
//!
//! The probe announces the `authentication_failure_close` capability, so a broker
//! that refuses the login says so with `Connection.Close` (`ACCESS_REFUSED`) rather
//! than by dropping the connection.
//!
//! Figures: `tls`, `server` (product and version), `platform`, `mechanisms`, `vhost`,
//! `channel_max`, `frame_max`, `heartbeat` (what the broker proposed), `handshake_ms`
//! (protocol header to `Open-Ok`), `channel_ms`, with TLS the certificate's.
//!
//! | what happened | kind |
//! |---|---|
//! | DNS, guard, connect, handshake, timeout (as for every probe) | `dns` / `connect` / `tls` / `timeout` |
//! | an untrusted or misnamed certificate (unless `verify_tls: false`), expiring within `expect.cert_expiry` | `tls` |
//! | login refused (`ACCESS_REFUSED`), virtual host not allowed (`NOT_ALLOWED`), closed by the broker (`CONNECTION_FORCED`, resource limits) | `connect` |
//! | another protocol version, no `PLAIN` login, malformed or unexpected frames, the connection closed | `protocol` |
//! | too slow | `assertion` |

use std::time::Duration;

use amq_protocol::frame::{AMQPFrame, ProtocolVersion, WriteContext, gen_frame, parse_frame};
use amq_protocol::protocol::{AMQPClass, channel, connection};
use amq_protocol::types::{AMQPValue, FieldTable, LongString, ShortString};
use jiff::Timestamp;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};
use vigilmon_core::assert::evaluate_secured;
use vigilmon_core::monitor::AmqpSpec;
use vigilmon_core::{ErrorKind, Verdict};

use crate::broker::{self, io_failed, protocol, timed_out};
use crate::database::Stream;
use crate::{Inner, Outcome, millis};

/// The largest frame the probe agrees to, and reads: 128 KiB.
const FRAME_MAX: u32 = 128 * 1024;
/// The channel the probe opens.
const CHANNEL: u16 = 1;
/// `reply-success`, the code of a clean close.
const REPLY_SUCCESS: u16 = 200;

/// Runs an `amqp` check to its verdict; the figures go into `details`.
pub(crate) async fn run(
    inner: &Inner,
    spec: &AmqpSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    let mut doing = "connecting";
    let verdict = match timeout_at(
        deadline,
        check(inner, spec, (start, deadline, limit), &mut out, &mut doing),
    )
    .await
    {
        Ok(Ok(v) | Err(v)) => v,
        Err(_) => timed_out(limit, doing),
    };
    out.verdict = verdict;
    out
}

async fn check(
    inner: &Inner,
    spec: &AmqpSpec,
    (start, deadline, limit): (Instant, Instant, Duration),
    out: &mut Outcome,
    doing: &mut &'static str,
) -> Result<Verdict, Verdict> {
    let opened = broker::open(
        inner,
        (&spec.host, spec.port, spec.tls),
        &spec.judgement,
        (start, deadline, limit),
        out,
    )
    .await?;
    let mut figures = opened.figures;
    figures["vhost"] = json!(spec.vhost);
    let mut conn = Conn {
        stream: opened.stream,
        buf: Vec::with_capacity(4096),
    };

    *doing = "waiting for Connection.Start";
    let t0 = Instant::now();
    conn.send(
        &AMQPFrame::ProtocolHeader(ProtocolVersion::amqp_0_9_1()),
        "sending the protocol header",
    )
    .await?;
    let started = match conn.read("waiting for Connection.Start").await? {
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Start(s))) => s,
        AMQPFrame::ProtocolHeader(v) => {
            return Err(protocol(format!(
                "the broker speaks AMQP {}-{}-{}, not 0-9-1",
                v.major, v.minor, v.revision
            )));
        }
        other => {
            return Err(unexpected(
                &other,
                "the protocol header",
                "Connection.Start",
            ));
        }
    };
    out.phases.ttfb_ms = Some(millis(t0.elapsed()));
    let text = |key: &str| match started.server_properties.inner().get(key) {
        Some(AMQPValue::LongString(s)) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Some(AMQPValue::ShortString(s)) => Some(s.as_str().to_owned()),
        _ => None,
    };
    let server = [text("product"), text("version")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    figures["server"] = json!(server.chars().take(100).collect::<String>());
    if let Some(p) = text("platform") {
        figures["platform"] = json!(p.chars().take(100).collect::<String>());
    }
    let mechanisms = String::from_utf8_lossy(started.mechanisms.as_bytes()).into_owned();
    figures["mechanisms"] = json!(mechanisms.chars().take(200).collect::<String>());
    out.details = Some(figures.clone());
    if !mechanisms.split_whitespace().any(|m| m == "PLAIN") {
        return Err(protocol(format!(
            "the broker does not offer the PLAIN login (it offers {})",
            mechanisms.trim()
        )));
    }

    *doing = "logging in";
    let mut capabilities = FieldTable::default();
    capabilities.insert(
        ShortString::from("authentication_failure_close"),
        AMQPValue::Boolean(true),
    );
    let mut properties = FieldTable::default();
    properties
        .insert(
            ShortString::from("product"),
            AMQPValue::LongString(LongString::from("vigilmon")),
        )
        .insert(
            ShortString::from("version"),
            AMQPValue::LongString(LongString::from(env!("CARGO_PKG_VERSION"))),
        )
        .insert(
            ShortString::from("connection_name"),
            AMQPValue::LongString(LongString::from("vigilmon probe")),
        )
        .insert(
            ShortString::from("capabilities"),
            AMQPValue::FieldTable(capabilities),
        );
    let response = format!("\0{}\0{}", spec.user, spec.password);
    conn.send(
        &connection_method(connection::AMQPMethod::StartOk(connection::StartOk {
            client_properties: properties,
            mechanism: ShortString::from("PLAIN"),
            response: LongString::from(response.into_bytes()),
            locale: ShortString::from("en_US"),
        })),
        "logging in",
    )
    .await?;
    let tune = match conn.read("waiting for the answer to the login").await? {
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Tune(t))) => t,
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Close(c))) => {
            return Err(closed(&c, spec));
        }
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Secure(_))) => {
            return Err(protocol(
                "the broker asked for a login challenge (Connection.Secure), which PLAIN has none of",
            ));
        }
        other => return Err(unexpected(&other, "the login", "Connection.Tune")),
    };
    figures["channel_max"] = json!(tune.channel_max);
    figures["frame_max"] = json!(tune.frame_max);
    figures["heartbeat"] = json!(tune.heartbeat);
    out.details = Some(figures.clone());
    let frame_max = match tune.frame_max {
        0 => FRAME_MAX,
        n => n.min(FRAME_MAX),
    };
    conn.send(
        &connection_method(connection::AMQPMethod::TuneOk(connection::TuneOk {
            channel_max: tune.channel_max,
            frame_max,
            heartbeat: 0,
        })),
        "agreeing on limits",
    )
    .await?;

    *doing = "opening the virtual host";
    conn.send(
        &connection_method(connection::AMQPMethod::Open(connection::Open {
            virtual_host: ShortString::from(spec.vhost.as_str()),
        })),
        "opening the virtual host",
    )
    .await?;
    match conn.read("opening the virtual host").await? {
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))) => {}
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Close(c))) => {
            return Err(closed(&c, spec));
        }
        other => return Err(unexpected(&other, "Connection.Open", "Connection.Open-Ok")),
    }
    figures["handshake_ms"] = json!(millis(t0.elapsed()));

    *doing = "opening a channel";
    let t1 = Instant::now();
    conn.send(
        &AMQPFrame::Method(
            CHANNEL,
            AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
        ),
        "opening a channel",
    )
    .await?;
    match conn.read("opening a channel").await? {
        AMQPFrame::Method(CHANNEL, AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))) => {}
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Close(c))) => {
            return Err(closed(&c, spec));
        }
        AMQPFrame::Method(_, AMQPClass::Channel(channel::AMQPMethod::Close(c))) => {
            return Err(Verdict::down(
                ErrorKind::Connect,
                format!(
                    "the broker refused to open a channel: {} {}",
                    c.reply_code,
                    c.reply_text.as_str()
                ),
            ));
        }
        other => return Err(unexpected(&other, "Channel.Open", "Channel.Open-Ok")),
    }
    figures["channel_ms"] = json!(millis(t1.elapsed()));
    out.details = Some(figures.clone());

    *doing = "closing the channel";
    conn.send(
        &AMQPFrame::Method(
            CHANNEL,
            AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
                reply_code: REPLY_SUCCESS,
                reply_text: ShortString::from("checked"),
                class_id: 0,
                method_id: 0,
            })),
        ),
        "closing the channel",
    )
    .await?;
    match conn.read("closing the channel").await? {
        AMQPFrame::Method(CHANNEL, AMQPClass::Channel(channel::AMQPMethod::CloseOk(_))) => {}
        other => return Err(unexpected(&other, "Channel.Close", "Channel.Close-Ok")),
    }
    *doing = "closing the connection";
    conn.send(
        &connection_method(connection::AMQPMethod::Close(connection::Close {
            reply_code: REPLY_SUCCESS,
            reply_text: ShortString::from("checked"),
            class_id: 0,
            method_id: 0,
        })),
        "closing the connection",
    )
    .await?;
    match conn.read("closing the connection").await? {
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::CloseOk(_))) => {}
        other => {
            return Err(unexpected(
                &other,
                "Connection.Close",
                "Connection.Close-Ok",
            ));
        }
    }
    // A TLS close_notify, then the socket goes.
    let _ = conn.stream.shutdown().await;
    out.details = Some(figures);
    Ok(evaluate_secured(
        &spec.judgement,
        opened.certificate.as_ref(),
        start.elapsed(),
        Timestamp::now(),
    ))
}

fn connection_method(m: connection::AMQPMethod) -> AMQPFrame {
    AMQPFrame::Method(0, AMQPClass::Connection(m))
}

/// The broker closed the connection (`Connection.Close`): its reply code in words.
fn closed(c: &connection::Close, spec: &AmqpSpec) -> Verdict {
    let text = c.reply_text.as_str();
    match c.reply_code {
        403 => Verdict::down(
            ErrorKind::Connect,
            format!("login refused for {:?}: {text}", spec.user),
        ),
        530 => Verdict::down(
            ErrorKind::Connect,
            format!("virtual host {:?} not allowed: {text}", spec.vhost),
        ),
        320 => Verdict::down(
            ErrorKind::Connect,
            format!("the broker closed the connection: {text}"),
        ),
        506 => Verdict::down(
            ErrorKind::Connect,
            format!("the broker is out of resources: {text}"),
        ),
        code => protocol(format!(
            "the broker closed the connection with {code}: {text}"
        )),
    }
}

/// A frame that is not the answer expected to `asked`.
fn unexpected(frame: &AMQPFrame, asked: &str, wanted: &str) -> Verdict {
    let got = match frame {
        AMQPFrame::ProtocolHeader(_) => "a protocol header".to_owned(),
        AMQPFrame::Method(ch, class) => format!(
            "method {}.{} on channel {ch}",
            class.get_amqp_class_id(),
            class.get_amqp_method_id()
        ),
        AMQPFrame::Header(..) => "a content header".to_owned(),
        AMQPFrame::Body(..) => "a content body".to_owned(),
        AMQPFrame::Heartbeat | AMQPFrame::InvalidHeartbeat(_) => "a heartbeat".to_owned(),
    };
    protocol(format!(
        "the broker answered {asked} with {got}, not {wanted}"
    ))
}

/// An AMQP connection: the stream and what was read of it but not yet decoded.
struct Conn {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
}

impl Conn {
    async fn send(&mut self, frame: &AMQPFrame, doing: &'static str) -> Result<(), Verdict> {
        let bytes = gen_frame(frame)(WriteContext::from(Vec::new()))
            .map_err(|e| protocol(format!("the probe could not encode its frame: {e}")))?
            .write;
        self.stream
            .write_all(&bytes)
            .await
            .map_err(|e| io_failed(doing, e))?;
        self.stream.flush().await.map_err(|e| io_failed(doing, e))
    }

    /// Reads the next whole frame, heartbeats skipped.
    async fn read(&mut self, doing: &'static str) -> Result<AMQPFrame, Verdict> {
        loop {
            match parse_frame(self.buf.as_slice()) {
                Ok((rest, AMQPFrame::Heartbeat)) => {
                    let used = self.buf.len() - rest.len();
                    self.buf.drain(..used);
                    continue;
                }
                Ok((rest, frame)) => {
                    let used = self.buf.len() - rest.len();
                    self.buf.drain(..used);
                    return Ok(frame);
                }
                Err(e) if e.is_incomplete() => {}
                Err(_) => {
                    return Err(protocol(format!(
                        "the broker sent a malformed frame while {doing}"
                    )));
                }
            }
            if self.buf.len() > FRAME_MAX as usize + 8 {
                return Err(protocol(format!(
                    "the broker sent a frame over {} kB while {doing}",
                    FRAME_MAX / 1024
                )));
            }
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| io_failed(doing, e))?;
            if n == 0 {
                return Err(protocol(format!(
                    "the broker closed the connection while {doing}"
                )));
            }
        }
    }
}
