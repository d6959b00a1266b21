//! `mqtt` checks: an MQTT 3.1.1 client for one connection. Connect (guarded and
//! timed; `mqtts://` shakes hands first, `broker::open`), send `CONNECT` with a clean
//! session, the keep-alive and the credentials, and read `CONNACK` (`ttfb_ms`); with
//! `publish`, subscribe to the topic, publish the message with a unique token after
//! it, and wait for that very message to come back (`round_trip_ms`), ignoring any
//! other; then `DISCONNECT`. The packets are rumqttc's MQTT codec (`mqttbytes`),
//! written to and read from the probe's own stream: the crate opens no connection.
//!
//! Figures: `tls`, `client_id`, `session_present`, with a round trip `topic` and
//! `round_trip_ms`, with TLS the certificate's (as for `tls` checks).
//!
//! | what happened | kind |
//! |---|---|
//! | DNS, guard, connect, handshake, timeout (as for every probe) | `dns` / `connect` / `tls` / `timeout` |
//! | an untrusted or misnamed certificate (unless `verify_tls: false`), expiring within `expect.cert_expiry` | `tls` |
//! | `CONNACK` refusing: bad user name or password, not authorized, identifier rejected, server unavailable | `connect` |
//! | `CONNACK` refusing the protocol version, malformed packets, the connection closed | `protocol` |
//! | the subscription refused, the message not back within the timeout | `assertion` / `timeout` |
//! | too slow | `assertion` |

use std::sync::Mutex;
use std::time::Duration;

use bytes::BytesMut;
use jiff::Timestamp;
use rumqttc::mqttbytes::v4::{
    ConnectReturnCode, Disconnect, Packet, Publish, Subscribe, SubscribeReasonCode,
};
use rumqttc::mqttbytes::{Error as CodecError, QoS};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};
use vigilmon_core::assert::evaluate_secured;
use vigilmon_core::monitor::MqttSpec;
use vigilmon_core::{ErrorKind, HumanDuration, Verdict};

use crate::broker::{self, io_failed, protocol, timed_out};
use crate::database::Stream;
use crate::{Inner, Outcome, millis};

/// The largest packet read from the broker: 1 MiB.
const MAX_PACKET_BYTES: usize = 1024 * 1024;
/// The packet identifier of the one subscription.
const SUBSCRIPTION_ID: u16 = 1;

/// What the check was doing, for the message when its time runs out.
#[derive(Clone, Copy)]
enum Step {
    Connecting,
    Connack,
    Suback,
    RoundTrip,
    Disconnecting,
}

/// Runs an `mqtt` check to its verdict; the figures go into `details`.
pub(crate) async fn run(
    inner: &Inner,
    spec: &MqttSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    let step = Mutex::new(Step::Connecting);
    let verdict = match timeout_at(
        deadline,
        check(inner, spec, (start, deadline, limit), &mut out, &step),
    )
    .await
    {
        Ok(Ok(v) | Err(v)) => v,
        Err(_) => {
            let at = step.lock().map_or(Step::Connecting, |s| *s);
            match (at, &spec.publish) {
                (Step::RoundTrip, Some((topic, _))) => Verdict::down(
                    ErrorKind::Timeout,
                    format!(
                        "the message published on {topic:?} did not come back within {}",
                        HumanDuration(limit)
                    ),
                ),
                (Step::Connack, _) => timed_out(limit, "waiting for CONNACK"),
                (Step::Suback, _) => timed_out(limit, "waiting for SUBACK"),
                (Step::Disconnecting, _) => timed_out(limit, "disconnecting"),
                _ => timed_out(limit, "connecting"),
            }
        }
    };
    out.verdict = verdict;
    out
}

/// The words of a refusing `CONNACK` return code, and the kind of failure.
fn refused(code: ConnectReturnCode) -> Option<(ErrorKind, &'static str)> {
    match code {
        ConnectReturnCode::Success => None,
        ConnectReturnCode::RefusedProtocolVersion => Some((
            ErrorKind::Protocol,
            "the broker refused the connection: unacceptable protocol version (it does not speak MQTT 3.1.1)",
        )),
        ConnectReturnCode::BadClientId => Some((
            ErrorKind::Connect,
            "the broker refused the connection: client identifier rejected",
        )),
        ConnectReturnCode::ServiceUnavailable => Some((
            ErrorKind::Connect,
            "the broker refused the connection: server unavailable",
        )),
        ConnectReturnCode::BadUserNamePassword => Some((
            ErrorKind::Connect,
            "the broker refused the login: bad user name or password",
        )),
        ConnectReturnCode::NotAuthorized => Some((
            ErrorKind::Connect,
            "the broker refused the login: not authorized",
        )),
    }
}

fn set(step: &Mutex<Step>, to: Step) {
    if let Ok(mut s) = step.lock() {
        *s = to;
    }
}

async fn check(
    inner: &Inner,
    spec: &MqttSpec,
    (start, deadline, limit): (Instant, Instant, Duration),
    out: &mut Outcome,
    step: &Mutex<Step>,
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
    let mut conn = Conn {
        stream: opened.stream,
        buf: BytesMut::with_capacity(4096),
    };
    let client_id = spec
        .client_id
        .clone()
        .unwrap_or_else(|| format!("vigilmon-{}", broker::token()));
    figures["client_id"] = json!(client_id);
    out.details = Some(figures.clone());

    let mut connect = rumqttc::mqttbytes::v4::Connect::new(client_id);
    connect.keep_alive = spec.keep_alive;
    connect.clean_session = true;
    if let Some(user) = &spec.username {
        connect.set_login(user.as_str(), spec.password.as_deref().unwrap_or(""));
    }
    set(step, Step::Connack);
    let t0 = Instant::now();
    conn.send(Packet::Connect(connect), "sending CONNECT")
        .await?;
    let ack = match conn.read("waiting for CONNACK").await? {
        Packet::ConnAck(ack) => ack,
        other => {
            return Err(protocol(format!(
                "the broker answered CONNECT with {}, not CONNACK",
                name(&other)
            )));
        }
    };
    out.phases.ttfb_ms = Some(millis(t0.elapsed()));
    figures["session_present"] = json!(ack.session_present);
    out.details = Some(figures.clone());
    if let Some((kind, words)) = refused(ack.code) {
        return Err(Verdict::down(kind, words));
    }

    if let Some((topic, message)) = &spec.publish {
        figures["topic"] = json!(topic);
        set(step, Step::Suback);
        let mut subscribe = Subscribe::new(topic.as_str(), QoS::AtMostOnce);
        subscribe.pkid = SUBSCRIPTION_ID;
        conn.send(Packet::Subscribe(subscribe), "subscribing")
            .await?;
        loop {
            match conn.read("waiting for SUBACK").await? {
                Packet::SubAck(ack) if ack.pkid == SUBSCRIPTION_ID => {
                    if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                        out.details = Some(figures);
                        return Err(Verdict::down(
                            ErrorKind::Assertion,
                            format!(
                                "the broker refused the subscription to {topic:?} (not authorized?)"
                            ),
                        ));
                    }
                    break;
                }
                // A retained message may come before the acknowledgement.
                Packet::Publish(_) | Packet::PingResp => {}
                other => {
                    return Err(protocol(format!(
                        "the broker answered SUBSCRIBE with {}, not SUBACK",
                        name(&other)
                    )));
                }
            }
        }
        set(step, Step::RoundTrip);
        let payload = format!("{message} {}", broker::token());
        let t1 = Instant::now();
        let publish = Publish::new(topic.as_str(), QoS::AtMostOnce, payload.as_bytes());
        conn.send(Packet::Publish(publish), "publishing").await?;
        loop {
            match conn.read("waiting for the message to come back").await? {
                Packet::Publish(p) if p.topic == *topic && p.payload == payload.as_bytes() => {
                    break;
                }
                // Other checks' messages, retained ones, answers to nothing asked.
                Packet::Publish(_) | Packet::PingResp => {}
                other => {
                    return Err(protocol(format!(
                        "the broker sent {} while the message was on its way",
                        name(&other)
                    )));
                }
            }
        }
        figures["round_trip_ms"] = json!(millis(t1.elapsed()));
        out.details = Some(figures.clone());
    }

    set(step, Step::Disconnecting);
    let mut buf = BytesMut::new();
    if Disconnect.write(&mut buf).is_ok() {
        conn.stream
            .write_all(&buf)
            .await
            .map_err(|e| io_failed("disconnecting", e))?;
    }
    // The broker closes the connection on DISCONNECT; a TLS close_notify goes first.
    let _ = conn.stream.shutdown().await;
    out.details = Some(figures);
    Ok(evaluate_secured(
        &spec.judgement,
        opened.certificate.as_ref(),
        start.elapsed(),
        Timestamp::now(),
    ))
}

/// A packet's name for messages.
fn name(p: &Packet) -> &'static str {
    match p {
        Packet::Connect(_) => "CONNECT",
        Packet::ConnAck(_) => "CONNACK",
        Packet::Publish(_) => "PUBLISH",
        Packet::PubAck(_) => "PUBACK",
        Packet::PubRec(_) => "PUBREC",
        Packet::PubRel(_) => "PUBREL",
        Packet::PubComp(_) => "PUBCOMP",
        Packet::Subscribe(_) => "SUBSCRIBE",
        Packet::SubAck(_) => "SUBACK",
        Packet::Unsubscribe(_) => "UNSUBSCRIBE",
        Packet::UnsubAck(_) => "UNSUBACK",
        Packet::PingReq => "PINGREQ",
        Packet::PingResp => "PINGRESP",
        Packet::Disconnect => "DISCONNECT",
    }
}

/// An MQTT connection: the stream and what was read of it but not yet decoded.
struct Conn {
    stream: Box<dyn Stream>,
    buf: BytesMut,
}

impl Conn {
    async fn send(&mut self, packet: Packet, doing: &'static str) -> Result<(), Verdict> {
        let mut bytes = BytesMut::new();
        packet
            .write(&mut bytes, MAX_PACKET_BYTES)
            .map_err(|e| protocol(format!("the probe could not encode its packet: {e}")))?;
        self.stream
            .write_all(&bytes)
            .await
            .map_err(|e| io_failed(doing, e))?;
        self.stream.flush().await.map_err(|e| io_failed(doing, e))
    }

    /// Reads the next whole packet.
    async fn read(&mut self, doing: &'static str) -> Result<Packet, Verdict> {
        loop {
            match Packet::read(&mut self.buf, MAX_PACKET_BYTES) {
                Ok(p) => return Ok(p),
                Err(CodecError::InsufficientBytes(_)) => {}
                Err(CodecError::InvalidConnectReturnCode(code)) => {
                    return Err(protocol(format!(
                        "the broker answered CONNECT with the unknown return code {code}"
                    )));
                }
                Err(CodecError::PayloadSizeLimitExceeded(n)) => {
                    return Err(protocol(format!(
                        "the broker sent a packet of {n} bytes while {doing}, over the {} kB the probe reads",
                        MAX_PACKET_BYTES / 1024
                    )));
                }
                Err(e) => {
                    return Err(protocol(format!(
                        "the broker sent a malformed packet while {doing}: {e}"
                    )));
                }
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
